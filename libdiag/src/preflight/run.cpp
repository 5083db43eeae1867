// sendcheck-preflight's run: the parts (MX, SPF, DMARC, blocklists, the SMTP
// session) at once, each DNS part on its own resolver and thread, since every
// part's API drives its resolver's poll loop to the end.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "diag/blocklist.h"
#include "diag/mx.h"
#include "diag/oauth.h"
#include "diag/preflight.h"
#include "diag/spf.h"

namespace diag::preflight {
namespace {

bool is_submission(Method method) { return method == Method::smtp_auth || method == Method::hve || method == Method::acs; }

// Each part's resolver gets the same settings; the -v hook is serialized so
// that lines from the parts' threads do not interleave.
struct ResolverFactory {
  dns::ResolverConfig base;
  std::shared_ptr<std::mutex> log_mutex = std::make_shared<std::mutex>();

  Result<std::unique_ptr<dns::Resolver>> make() const {
    dns::ResolverConfig config = base;
    if (config.on_log) {
      auto inner = config.on_log;
      auto mutex = log_mutex;
      config.on_log = [inner, mutex](const dns::QueryLogEntry& entry) {
        std::lock_guard lock(*mutex);
        inner(entry);
      };
    }
    return dns::Resolver::create(std::move(config));
  }
};

struct MxPart {
  Section section{"mx", "MX", {}};
  nlohmann::json json;
  std::optional<smtp::ProbeTarget> target;  // the direct-send host and its address
};

MxPart run_mx(dns::Resolver& resolver, const Plan& plan) {
  MxPart part;
  part.section.title = "MX (" + plan.domain + ")";
  auto reports = mx::check_domains(resolver, {plan.domain});
  auto& report = reports.front();
  part.json = nlohmann::json::array({mx::to_json(report)});
  part.section.checks = std::move(report.checks);
  if (!report.direct_send_host.empty())
    for (const auto& host : report.hosts) {
      if (host.host != report.direct_send_host || host.addresses.empty()) continue;
      // IPv4 first: most devices and networks still send over IPv4.
      auto it = std::find_if(host.addresses.begin(), host.addresses.end(), [](const IpAddress& a) { return a.is_v4(); });
      part.target = smtp::ProbeTarget{host.host, it != host.addresses.end() ? *it : host.addresses.front()};
      break;
    }
  return part;
}

struct SpfPart {
  Section section{"spf", "SPF", {}};
  nlohmann::json json;
  std::optional<std::string> suggested;
  bool passes = false;
};

// The device's own SPF verdict for this path; the spf.result row it replaces
// says the same without the consequence for the method.
Check device_spf_check(const Plan& plan, const IpAddress& ip, const spf::SpfEvaluation& evaluation,
                       const std::optional<spf::Suggestion>& suggestion) {
  Check check;
  check.id = "spf.device";
  check.fields = {{"ip", ip.to_string()}, {"domain", plan.from_domain}, {"result", spf::to_string(evaluation.result)}};
  const std::string who = ip.to_string() + " as " + plan.from_domain;
  const std::string result(spf::to_string(evaluation.result));
  std::string record;
  if (suggestion && suggestion->changed && !suggestion->record.empty()) record = suggestion->record;
  switch (evaluation.result) {
    case spf::SpfResult::pass:
      check.status = Status::pass;
      check.message = "SPF passes for " + who + " (matched " + evaluation.matched + ")";
      return check;
    case spf::SpfResult::temperror:
      check.status = Status::error;
      check.message = "Could not finish the SPF check for " + who + " (temperror): " + evaluation.reason;
      check.remedy = "Try again or use another resolver (--dns); a failed lookup says nothing about the record.";
      return check;
    default: break;
  }
  // Direct send is anonymous: SPF is what tells Microsoft 365 the device may
  // use the domain. Through a connector the connector attributes the mail,
  // so a failing SPF only hurts when the message leaves again.
  check.status = plan.method == Method::direct_send ? Status::fail : Status::warn;
  check.message = "SPF " + result + " for " + who + (evaluation.matched.empty() ? "" : " (decided by " + evaluation.matched + ")") +
                  (evaluation.reason.empty() ? "" : ": " + evaluation.reason) +
                  (plan.method == Method::direct_send ? "; Microsoft 365 treats the device's mail as spoofed and sends it to Junk or quarantine"
                                                      : "; recipients outside the tenant may junk the device's mail");
  check.remedy = record.empty() ? "Authorize the device's address in the SPF record of " + plan.from_domain + " with ip4:" + ip.to_string() +
                                      " before the all term (m365-facts 2: v=spf1 ip4:<device IP> include:spf.protection.outlook.com ~all)."
                                : "Publish this SPF record for " + plan.from_domain + " (replacing the current one): " + record;
  if (!record.empty()) check.fields["suggested_record"] = record;
  return check;
}

SpfPart run_spf(dns::Resolver& resolver, const Plan& plan, const IpAddress& ip) {
  SpfPart part;
  part.section.title = "SPF (" + plan.from_domain + ")";
  spf::SpfCheckRequest request;
  request.domain = plan.from_domain;
  request.ips = {ip.to_string()};
  request.sender = plan.from;
  request.helo = plan.helo;
  request.suggest = true;
  auto spf_plan = spf::plan_check(request);
  if (!spf_plan) {
    part.section.checks.push_back(skipped("spf.device", spf_plan.error().message));
    return part;
  }
  spf::NetworkSpfResolver spf_resolver(resolver);
  auto outcome = spf::run_check(spf_resolver, *spf_plan);
  Report report = spf::make_report(outcome, *spf_plan, nullptr, TextStyle{});
  const auto& evaluation = outcome.results.front().second;
  part.passes = evaluation.result == spf::SpfResult::pass;
  part.section.checks.push_back(device_spf_check(plan, ip, evaluation, outcome.suggestion));
  if (!part.passes && outcome.suggestion && outcome.suggestion->changed && !outcome.suggestion->record.empty())
    part.suggested = outcome.suggestion->record;
  for (const auto& check : report.checks())
    if (check.id != "spf.result") part.section.checks.push_back(check);
  part.json = report.fields();
  return part;
}

struct ReputationPart {
  Section dmarc{"dmarc", "DMARC", {}};
  Section blocklist{"blocklist", "Blocklists", {}};
  dns::Answer dmarc_answer;
  nlohmann::json dmarc_json, blocklist_json;
};

void run_reputation(dns::Resolver& resolver, const Plan& plan, const std::optional<IpAddress>& ip, ReputationPart& part) {
  const bool want_dmarc = !plan.from_domain.empty() && !is_submission(plan.method);
  // The DMARC question rides in the blocklist check's round trip.
  if (want_dmarc)
    resolver.query("_dmarc." + plan.from_domain, dns::RrType::TXT, [&part](const dns::Answer& answer) { part.dmarc_answer = answer; });
  if (!ip) {
    part.blocklist.checks.push_back(skipped("blocklist.ip", "no device address (--ip or --egress)"));
    resolver.run();
    return;
  }
  if (blocklist::is_private_address(*ip)) {
    part.blocklist.checks.push_back(skipped("blocklist.ip", ip->to_string() + " is a private address; blocklists list public addresses only (give the public address the device's mail leaves from)"));
    resolver.run();
    return;
  }
  std::vector<blocklist::ListSpec> lists = blocklist::builtin_lists();
  for (const auto& path : plan.blocklist_tables) {
    auto extra = blocklist::read_list_file(path);
    if (!extra) {
      part.blocklist.checks.push_back(Check{"blocklist.table", Status::error, extra.error().message, "Fix the --blocklist-zones file.", {}});
      resolver.run();
      return;
    }
    blocklist::merge_lists(lists, std::move(extra.value()));
  }
  auto selected = blocklist::select_lists(lists, plan.lists, blocklist::Secrets{});
  if (!selected) {
    part.blocklist.checks.push_back(Check{"blocklist.lists", Status::error, selected.error().message, "Check --list.", {}});
    resolver.run();
    return;
  }
  blocklist::RunSummary run;
  run.ips = blocklist::check_ips(resolver, {{*ip, "argument"}}, *selected);
  run.servers = resolver.servers();
  run.zone_overlay = true;
  run.lists_selected = selected->size();
  Report report = blocklist::make_report(run, blocklist::Secrets{}, nullptr, TextStyle{});
  part.blocklist.checks = report.checks();
  part.blocklist_json = report.fields();
}

struct SmtpPart {
  Section section{"smtp", "SMTP", {}};
  nlohmann::json json;
  std::string target;
};

// The reference's own words for the replies that decide a method (m365-facts 3.5, 3.6, 4).
void add_reply_findings(const Plan& plan, const smtp::SessionResult& session, std::vector<Check>& checks) {
  bool seen_68 = false, seen_64 = false;
  for (const auto& failure : session.policy_replies) {
    if (!failure.reply) continue;
    const auto& reply = *failure.reply;
    if (reply.enhanced == "5.7.68" && !seen_68) {
      seen_68 = true;
      checks.push_back(Check{"smtp.reject-direct-send", Status::fail,
                             "The tenant has Reject Direct Send on (550 5.7.68 TenantInboundAttribution): anonymous mail from its own domains "
                             "that matches no inbound connector is refused at RCPT, and no message trace shows it",
                             "Create a partner inbound connector for the device (Exchange admin center > Mail flow > Connectors: from "
                             "\"Partner organization\" to \"Office 365\", identified by the device's static IP" +
                                 std::string(plan.ip ? " " + plan.ip->to_string() : "") +
                                 " or its certificate), or switch the device to SMTP AUTH with OAuth. Turning RejectDirectSend off "
                                 "(Set-OrganizationConfig -RejectDirectSend $false) reopens direct send for everyone.",
                             {{"reply", smtp::reply_json(reply)}}});
    } else if (reply.enhanced == "5.7.64" && !seen_64) {
      seen_64 = true;
      checks.push_back(Check{"smtp.relay-denied", Status::fail,
                             "550 5.7.64 TenantAttribution; Relay Access Denied: the MX took the sender for an outsider relaying " +
                                 std::string(plan.method == Method::direct_send ? "(direct send only delivers to the tenant's own mailboxes)"
                                                                                : "(no inbound connector matches this IP or certificate)"),
                             plan.method == Method::direct_send
                                 ? "For recipients outside the tenant use an inbound connector (relay) or SMTP AUTH submission."
                                 : "Update the inbound connector with the device's current public IP or certificate (its CN/SAN must be an accepted domain).",
                             {{"reply", smtp::reply_json(reply)}}});
    } else if (reply.enhanced == "4.4.62") {
      checks.push_back(Check{"smtp.wrong-region", Status::fail, "451 4.4.62 Mail sent to the wrong Office 365 region: this host does not serve the tenant",
                             "Point the device at the tenant's published MX (sendcheck mx " + plan.domain + "), not a legacy or guessed host.",
                             {{"reply", smtp::reply_json(reply)}}});
    }
  }
}

bool is_guid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

// m365-facts 3.4: "<ACS resource>.<Entra app ID>.<Entra tenant ID>" or the
// same with '|', or a custom name from an smtpUsernames resource.
Check acs_username_check(const std::string& user) {
  Check check{"auth.acs-username", Status::pass, "", "", {{"user", user}}};
  for (char separator : {'|', '.'}) {
    const auto last = user.rfind(separator);
    if (last == std::string::npos || last == 0) continue;
    const auto middle = user.rfind(separator, last - 1);
    if (middle == std::string::npos || middle == 0) continue;
    const std::string_view resource(user.data(), middle);
    const std::string_view app(user.data() + middle + 1, last - middle - 1), tenant(user.data() + last + 1, user.size() - last - 1);
    if (is_guid(app) && is_guid(tenant) && !resource.empty()) {
      check.message = "ACS user name has the documented form <ACS resource>" + std::string(1, separator) + "<Entra app ID>" +
                      std::string(1, separator) + "<Entra tenant ID>";
      return check;
    }
  }
  if (user.find('@') != std::string::npos) {
    check.status = Status::warn;
    check.message = "ACS user name " + user + " is not <ACS resource>.<Entra app ID>.<Entra tenant ID>: it works only as a custom SMTP user name defined on the ACS resource";
    check.remedy = "Use <ACS resource name>.<Entra application ID>.<Entra tenant ID> (or with '|'), or create the custom name under the resource's SMTP Usernames.";
    return check;
  }
  check.status = Status::fail;
  check.message = "ACS user name " + user + " is neither <ACS resource>.<Entra app ID>.<Entra tenant ID> nor a custom SMTP user name";
  check.remedy = "Use <ACS resource name>.<Entra application ID>.<Entra tenant ID> (the IDs are GUIDs), with the app's client secret as the password.";
  return check;
}

// The basic-authentication timeline and what the method needs (m365-facts 3.1-3.4).
void submission_checks(const Plan& plan, const smtp::SessionResult& session, std::vector<Check>& checks) {
  (void)session;
  if (plan.method == Method::acs) {
    if (plan.user.empty()) checks.push_back(skipped("auth.acs-username", "no --user to check"));
    else checks.push_back(acs_username_check(plan.user));
  }
  if (plan.method == Method::smtp_auth) {
    const std::string timeline =
        "Microsoft's timeline (MC786329, updated 2026-01-27): basic authentication for SMTP AUTH is unchanged until December 2026; "
        "at the end of December 2026 it is disabled by default for existing tenants (admins can still turn it back on), new tenants "
        "get it unavailable, and the final removal date is to be announced in the second half of 2027. After it, basic AUTH gets "
        "550 5.7.30 Basic authentication is not supported for Client Submission.";
    if (plan.auth == smtp::AuthMechanism::login)
      checks.push_back(Check{"auth.basic-timeline", Status::warn, "The device uses basic authentication (AUTH LOGIN). " + timeline,
                             "Before December 2026: move the device to OAuth (XOAUTH2) if its firmware supports it; otherwise to direct send "
                             "or an inbound connector (relay), or to High Volume Email for internal recipients.",
                             {}});
    else if (plan.auth == smtp::AuthMechanism::xoauth2)
      checks.push_back(Check{"auth.basic-timeline", Status::pass, "The device uses OAuth (XOAUTH2): the basic-authentication retirement does not affect it", "", {}});
    else
      checks.push_back(Check{"auth.basic-timeline", Status::info, "Authentication not tested (no credentials given). " + timeline, "", {}});
  }
  if (plan.method == Method::hve)
    checks.push_back(Check{"auth.hve", Status::info,
                           "High Volume Email delivers to internal recipients only; basic authentication for HVE accounts is supported until September 2028 (third-party report, unconfirmed)",
                           "", {}});
  if (plan.method == Method::hve && !plan.external.empty())
    checks.push_back(Check{"auth.hve-external", Status::fail, "HVE cannot deliver to external recipients (" + plan.external.front() + (plan.external.size() > 1 ? ", ..." : "") + ")",
                           "Use SMTP AUTH submission or Azure Communication Services for external recipients.", {}});
}

SmtpPart run_smtp(const Plan& plan, const ResolverFactory& factory, const std::optional<smtp::ProbeTarget>& mx_target,
                  const std::string& secret) {
  SmtpPart part;
  const bool submission = is_submission(plan.method);
  smtp::ProbeOptions probe;
  probe.port = plan.endpoint.port;
  smtp::SessionConfig& session = probe.session;
  session.helo = plan.helo;
  session.tls.ca_file = plan.ca_file;
  session.tls.client_certificate_file = plan.client_cert_file;
  session.tls.client_key_file = plan.client_key_file;
  session.timeouts = smtp::Timeouts::uniform(plan.timeout);
  session.slow_banner_after = std::min(std::chrono::milliseconds(5000), plan.timeout / 2);
  if (submission) {
    // m365-facts 3: STARTTLS and TLS 1.2 or later are required on 587.
    session.tls_mode = smtp::TlsMode::starttls;
    session.starttls = smtp::StarttlsPolicy::require;
    session.tls.versions.min = tls::Version::tls1_2;
    session.auth = plan.auth;
    session.user = plan.user;
    session.secret = secret;
    // Without AUTH, MAIL FROM only earns 530 5.7.57: test the envelope after AUTH.
    if (plan.auth != smtp::AuthMechanism::none && !plan.from.empty()) {
      session.mail_from = plan.from;
      session.rcpt_to = plan.to;
    }
  } else {
    session.tls_mode = smtp::TlsMode::starttls;
    session.starttls = smtp::StarttlsPolicy::try_;
    session.mail_from = plan.from;
    session.rcpt_to = plan.to;
  }

  std::optional<smtp::ProbeTarget> target = mx_target;
  if (!plan.endpoint.host.empty()) {
    auto resolver = factory.make();
    if (!resolver) {
      part.section.checks.push_back(Check{"smtp.target", Status::error, resolver.error().message, "Check --dns.", {}});
      return part;
    }
    std::vector<Check> checks;
    auto targets = smtp::resolve_targets(**resolver, plan.endpoint.host, false, true, true, checks);
    for (auto& check : checks) part.section.checks.push_back(std::move(check));
    target.reset();
    if (!targets) part.section.checks.push_back(Check{"smtp.target", Status::error, targets.error().message, "Check --smtp-host.", {}});
    else if (!targets->empty()) {
      auto it = std::find_if(targets->begin(), targets->end(), [](const smtp::ProbeTarget& t) { return t.address.is_v4(); });
      target = it != targets->end() ? *it : targets->front();
    }
  }
  if (!target) {
    if (part.section.checks.empty())
      part.section.checks.push_back(skipped("smtp.connect", "no usable MX host to connect to (see the MX rows)"));
    return part;
  }
  part.section.title = "SMTP (" + target->host + " port " + std::to_string(probe.port) + ")";
  const std::string address = target->address.to_string();
  part.target = target->host + " [" + address + "]:" + std::to_string(probe.port);
  smtp::TargetResult result = smtp::probe_target(probe, *target);
  for (auto& check : result.checks) {
    // The Microsoft 365 MX always listens on port 25: a refusal comes from
    // something on the way (a local firewall answering for it), so the
    // envelope test could not run; that is not a finding about the tenant.
    if (check.id == "smtp.connect" && check.status == Status::fail && !submission) {
      check.status = Status::error;
      check.remedy = "Something between here and " + target->host + " refuses port " + std::to_string(probe.port) +
                     " (a firewall, an antivirus, or the ISP): run the check from the device's network, or ask for outbound port " + std::to_string(probe.port) + " to be opened.";
    }
    part.section.checks.push_back(std::move(check));
  }
  add_reply_findings(plan, result.session, part.section.checks);
  if (submission) submission_checks(plan, result.session, part.section.checks);
  part.json = smtp::to_json(result);
  return part;
}

// The secret for AUTH, read only here: from a file or the environment.
Result<std::string> auth_secret(const Plan& plan) {
  if (plan.auth == smtp::AuthMechanism::xoauth2) {
    if (!plan.token_file.empty()) return oauth::read_secret_file(plan.token_file, "OAuth token");
    auto secret = oauth::read_secret_file(plan.client_secret_file, "client secret");
    if (!secret) return secret.error();
    oauth::ClientCredentials credentials;
    credentials.endpoint = plan.token_endpoint.empty() ? oauth::token_endpoint_for(plan.tenant) : plan.token_endpoint;
    credentials.client_id = plan.client_id;
    credentials.client_secret = *secret;
    credentials.timeout = plan.timeout;
    auto token = oauth::fetch_client_credentials_token(credentials);
    if (!token) return token.error();
    return token->access_token;
  }
  if (plan.auth == smtp::AuthMechanism::login) {
    if (!plan.password_file.empty()) return oauth::read_secret_file(plan.password_file, "password");
    if (const char* password = std::getenv("SENDCHECK_PASSWORD"); password && *password) return std::string(password);
    return bad_input("--user needs a password: --password-file FILE or SENDCHECK_PASSWORD");
  }
  return std::string();
}

}  // namespace

Result<Outcome> run_preflight(const Plan& plan, const dns::ResolverConfig& resolver_config) {
  Outcome outcome;
  ResolverFactory factory{resolver_config};
  const bool submission = is_submission(plan.method);

  std::string secret;
  if (plan.auth != smtp::AuthMechanism::none) {
    auto read = auth_secret(plan);
    if (!read) return read.error();
    secret = std::move(read.value());
  }

  // The input as given: who sends, to whom.
  Section input{"input", "Input", {}};
  if (!submission) {
    if (!is_internal(plan.from, plan.accepted_domains))
      input.checks.push_back(Check{"input.from", Status::warn,
                                   "The sender " + plan.from + " is not in " + plan.domain +
                                       ": Microsoft 365 takes direct send and relay only for senders in the tenant's accepted domains",
                                   "Use a sender address in an accepted domain, or name the other accepted domains with --accepted-domain.",
                                   {{"from", plan.from}}});
    if (!plan.external.empty()) {
      std::string list;
      for (const auto& address : plan.external) list += (list.empty() ? "" : ", ") + address;
      if (plan.method == Method::direct_send)
        input.checks.push_back(Check{"input.external-recipients", Status::fail,
                                     "External recipients: " + list + ". Direct send only reaches the tenant's own mailboxes",
                                     "For recipients outside " + plan.domain +
                                         ", use SMTP relay through an inbound connector or SMTP AUTH submission (--method relay or smtp-auth).",
                                     {{"recipients", plan.external}}});
      else
        input.checks.push_back(Check{"input.external-recipients", Status::info, "External recipients: " + list +
                                                                                     " (relay through a connector may send to them)",
                                     "", {{"recipients", plan.external}}});
    } else if (!plan.to.empty()) {
      input.checks.push_back(Check{"input.recipients", Status::pass, "Every recipient is in the tenant's accepted domains", "", {}});
    }
  }

  // The device's address: as given, or this machine's public one.
  outcome.ip = plan.ip;
  if (plan.egress) {
    blocklist::EgressOptions egress;
    egress.dns_probes = plan.egress_dns.empty() ? blocklist::default_egress_probes() : blocklist::egress_probes_at(plan.egress_dns);
    egress.attempt_timeout = resolver_config.attempt_timeout;
    egress.tries = resolver_config.tries;
    egress.http_timeout = plan.timeout;
    egress.on_log = resolver_config.on_log;
    egress.keep_log = resolver_config.keep_log;
    auto found = blocklist::discover_egress(egress);
    for (const auto& address : found.addresses)
      if (!outcome.ip || (!outcome.ip->is_v4() && address.is_v4())) outcome.ip = address;
    if (outcome.ip)
      input.checks.push_back(Check{"input.egress", Status::info, "This machine sends from " + outcome.ip->to_string() + " (--egress)", "", {}});
    else
      input.checks.push_back(Check{"input.egress", Status::error, "Could not find the public address this machine sends from (--egress)",
                                   "Give the device's public address with --ip.", {}});
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& attempt : found.attempts)
      attempts.push_back({{"method", attempt.method}, {"via", attempt.via}, {"found", attempt.found}, {"detail", attempt.detail}});
    outcome.fields["egress"] = {{"addresses", nlohmann::json::array()}, {"attempts", attempts}};
    for (const auto& address : found.addresses) outcome.fields["egress"]["addresses"].push_back(address.to_string());
    outcome.log.insert(outcome.log.end(), found.log.begin(), found.log.end());
  }

  std::vector<std::unique_ptr<dns::Resolver>> resolvers;
  auto make_resolver = [&]() -> Result<dns::Resolver*> {
    auto resolver = factory.make();
    if (!resolver) return resolver.error();
    resolvers.push_back(std::move(resolver.value()));
    return resolvers.back().get();
  };
  auto mx_resolver = make_resolver();
  if (!mx_resolver) return mx_resolver.error();
  auto spf_resolver = make_resolver();
  if (!spf_resolver) return spf_resolver.error();
  auto reputation_resolver = make_resolver();
  if (!reputation_resolver) return reputation_resolver.error();

  // The parts, at once.
  SpfPart spf_part;
  ReputationPart reputation;
  std::thread spf_thread([&] {
    if (submission) spf_part.section.checks.push_back(skipped("spf.device", "the submission service sends from Microsoft's addresses, so the device's address needs no SPF entry"));
    else if (!outcome.ip) spf_part.section.checks.push_back(skipped("spf.device", "no device address (--ip or --egress)"));
    else spf_part = run_spf(**spf_resolver, plan, *outcome.ip);
  });
  std::thread reputation_thread([&] {
    if (submission) {
      reputation.blocklist.checks.push_back(skipped("blocklist.ip", "the submission service sends from Microsoft's addresses"));
      return;
    }
    run_reputation(**reputation_resolver, plan, outcome.ip, reputation);
  });
  SmtpPart smtp_part;
  std::thread smtp_thread;
  const bool smtp_up_front = !plan.endpoint.host.empty();
  if (smtp_up_front) smtp_thread = std::thread([&] { smtp_part = run_smtp(plan, factory, std::nullopt, secret); });

  MxPart mx_part;
  if (submission) mx_part.section.checks.push_back(skipped("mx.domains", "submission does not go through the MX"));
  else mx_part = run_mx(**mx_resolver, plan);
  if (!smtp_up_front) smtp_part = run_smtp(plan, factory, mx_part.target, secret);
  if (smtp_thread.joinable()) smtp_thread.join();
  spf_thread.join();
  reputation_thread.join();
  secret.assign(secret.size(), '\0');

  Section dmarc = std::move(reputation.dmarc);
  if (!submission && !plan.from_domain.empty()) {
    dmarc.title = "DMARC (" + plan.from_domain + ")";
    const bool spf_skipped = !spf_part.section.checks.empty() && is_skipped(spf_part.section.checks.front());
    Check check = dmarc_check(plan.from_domain, reputation.dmarc_answer, spf_part.passes || spf_skipped);
    if (plan.method == Method::relay && check.status == Status::fail) check.status = Status::warn;
    dmarc.checks.push_back(std::move(check));
    outcome.fields["dmarc"] = {{"domain", plan.from_domain},
                               {"outcome", dns::to_string(reputation.dmarc_answer.outcome)},
                               {"record", dmarc.checks.back().fields.value("record", "")},
                               {"policy", dmarc.checks.back().fields.value("policy", "")}};
  } else {
    dmarc.checks.push_back(skipped("dmarc.policy", "Microsoft 365 signs and sends submitted mail itself"));
  }
  if (outcome.ip) reputation.blocklist.title = "Blocklists (" + outcome.ip->to_string() + ")";

  if (plan.recommendation) {
    outcome.sections.push_back(recommendation_section(*plan.recommendation));
    outcome.fields["recommendation"] = to_json(*plan.recommendation);
  }
  if (!input.checks.empty()) outcome.sections.push_back(std::move(input));
  outcome.sections.push_back(std::move(mx_part.section));
  outcome.sections.push_back(std::move(spf_part.section));
  outcome.sections.push_back(std::move(dmarc));
  outcome.sections.push_back(std::move(reputation.blocklist));
  outcome.sections.push_back(std::move(smtp_part.section));
  if (plan.client_certificate) {
    // Checked from the file before anything connected; the accepted domains
    // here are DOMAIN, --accepted-domain and the From domain.
    std::vector<std::string> accepted = plan.accepted_domains;
    if (!plan.from_domain.empty() && std::find(accepted.begin(), accepted.end(), plan.from_domain) == accepted.end())
      accepted.push_back(plan.from_domain);
    Section connector{"connector", "Client certificate (" + plan.client_certificate->file + ")",
                      client_certificate_checks(*plan.client_certificate, accepted)};
    outcome.sections.push_back(std::move(connector));
    outcome.fields["client_certificate"] = tls::to_json(plan.client_certificate->info);
    outcome.fields["client_certificate"]["file"] = plan.client_certificate->file;
  }
  outcome.spf_record = spf_part.suggested;
  outcome.smtp_target = smtp_part.target;
  if (!mx_part.json.is_null()) outcome.fields["mx"] = {{"domains", mx_part.json}};
  if (!spf_part.json.is_null()) outcome.fields["spf"] = spf_part.json;
  if (!reputation.blocklist_json.is_null()) outcome.fields["blocklist"] = reputation.blocklist_json;
  outcome.fields["smtp"] = {{"target", smtp_part.json}};
  for (const auto& resolver : resolvers) outcome.log.insert(outcome.log.end(), resolver->log().begin(), resolver->log().end());
  return outcome;
}

}  // namespace diag::preflight
