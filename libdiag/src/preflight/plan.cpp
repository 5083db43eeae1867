// sendcheck-preflight's input: methods, endpoints, the validated plan, and
// the DMARC record as far as the verdict needs it.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "diag/ascii.h"
#include "diag/blocklist.h"
#include "diag/input_file.h"
#include "diag/mx.h"
#include "diag/preflight.h"

namespace diag::preflight {
namespace {

bool password_in_environment() {
  const char* password = std::getenv("SENDCHECK_PASSWORD");
  return password && *password;
}

std::string domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : ascii::to_lower(std::string(address.substr(at + 1)));
}

// A bare mailbox as devices put it in MAIL FROM / RCPT TO: local@domain,
// nothing that would break the SMTP command line.
Result<std::string> parse_address(const std::string& text, std::string_view option) {
  const auto at = text.rfind('@');
  // An "@" in the local part only inside a quoted string (RFC 5321 4.1.2).
  const std::string local = at == std::string::npos ? text : text.substr(0, at);
  const bool quoted_local = local.size() >= 2 && local.front() == '"' && local.back() == '"';
  if (text.empty() || at == std::string::npos || at == 0 || at + 1 == text.size() ||
      text.find_first_of("<> \t\r\n") != std::string::npos || (!quoted_local && local.find('@') != std::string::npos))
    return bad_input(std::string(option) + " \"" + text + "\" is not a mail address (local@domain)");
  auto domain = mx::parse_domain(text.substr(at + 1));
  if (!domain) return bad_input(std::string(option) + " \"" + text + "\": " + domain.error().message);
  return text.substr(0, at + 1) + *domain;
}

}  // namespace

std::optional<Method> parse_method(std::string_view text) {
  const std::string name = ascii::to_lower(std::string(text));
  if (name == "direct-send" || name == "direct") return Method::direct_send;
  if (name == "relay" || name == "connector") return Method::relay;
  if (name == "smtp-auth") return Method::smtp_auth;
  if (name == "hve") return Method::hve;
  if (name == "acs") return Method::acs;
  return std::nullopt;
}

std::string_view to_string(Method method) {
  switch (method) {
    case Method::direct_send: return "direct-send";
    case Method::relay: return "relay";
    case Method::smtp_auth: return "smtp-auth";
    case Method::hve: return "hve";
    case Method::acs: return "acs";
  }
  return "direct-send";
}

std::string_view describe(Method method) {
  switch (method) {
    case Method::direct_send: return "Direct send";
    case Method::relay: return "SMTP relay through an inbound connector";
    case Method::smtp_auth: return "SMTP AUTH client submission";
    case Method::hve: return "High Volume Email submission";
    case Method::acs: return "Azure Communication Services SMTP submission";
  }
  return "Direct send";
}

// The submission paths: https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365
Endpoint default_endpoint(Method method) {
  switch (method) {
    case Method::direct_send:
    case Method::relay: return {"", 25};
    case Method::smtp_auth: return {"smtp.office365.com", 587};
    case Method::hve: return {"smtp.hve.mx.microsoft", 587};
    case Method::acs: return {"smtp.azurecomm.net", 587};
  }
  return {"", 25};
}

// An accepted domain covers itself only: Exchange Online matches subdomains
// only for an internal relay domain set to, which is not the default, and
// sub.contoso.com is often another system's.
bool is_internal(std::string_view address, const std::vector<std::string>& accepted_domains) {
  const std::string domain = ascii::to_lower(domain_of(address));
  return std::any_of(accepted_domains.begin(), accepted_domains.end(),
                     [&](const std::string& accepted) { return domain == ascii::to_lower(accepted); });
}

// --method auto: describe the device, pick the method from the table, then
// plan that method as if it had been asked for.
Result<Plan> make_auto_plan(const ToolOptions& o, const std::vector<RuledOut>& ruled_out) {
  if (o.device_tls.empty() || o.device_auth.empty())
    return bad_input("--method auto needs --device-tls none|1.0|1.1|1.2|1.3 and --device-auth none|basic|oauth");
  std::string recipients = ascii::to_lower(o.recipients);
  if (recipients.empty()) {
    if (o.to.empty()) return bad_input("--method auto needs --recipients internal|external (or --to ADDR...)");
    std::vector<std::string> accepted;
    for (const auto& domain : o.accepted_domains) accepted.push_back(ascii::to_lower(domain));
    accepted.push_back(ascii::to_lower(o.domain.empty() ? domain_of(o.from) : o.domain));
    const bool external = std::any_of(o.to.begin(), o.to.end(), [&](const std::string& to) { return !is_internal(to, accepted); });
    recipients = external ? "external" : "internal";
  }
  const std::string device_auth = ascii::to_lower(o.device_auth) == "oauth-app" ? "oauth" : ascii::to_lower(o.device_auth);
  auto device = parse_device(ascii::to_lower(o.device_tls), device_auth, recipients);
  if (!device) return device.error();
  Recommendation recommendation = recommend(*device, ruled_out);
  if (!recommendation.method) return bad_input("no submission path fits a device with " + describe(*device));
  ToolOptions chosen = o;
  chosen.method = to_string(*recommendation.method);
  chosen.recipients.clear();
  // The tenant's Reject Direct Send, given in case auto picks direct send.
  if (*recommendation.method != Method::direct_send) chosen.reject_direct_send.clear(), chosen.recipient_kind.clear();
  auto plan = make_plan(chosen);
  if (!plan) return Error{plan.error().kind, "--method auto chose " + chosen.method + ": " + plan.error().message};
  plan->recommendation = std::move(recommendation);
  return plan;
}

Result<Plan> make_plan(const ToolOptions& o) {
  if (ascii::to_lower(o.method) == "auto") return make_auto_plan(o, {});
  if (!o.recipients.empty()) return bad_input("--recipients describes the device for --method auto");
  Plan plan;
  auto method = parse_method(o.method);
  if (!method) return bad_input("--method must be direct-send, relay, smtp-auth, hve, acs or auto (not \"" + o.method + "\")");
  plan.method = *method;
  const bool submission = plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs;

  if (!o.domain.empty()) {
    auto domain = mx::parse_domain(o.domain);
    if (!domain) return domain.error();
    plan.domain = *domain;
  }
  if (!o.from.empty()) {
    auto from = parse_address(o.from, "--from");
    if (!from) return from.error();
    plan.from = *from;
    plan.from_domain = domain_of(plan.from);
  }
  if (plan.domain.empty()) plan.domain = plan.from_domain;
  if (plan.domain.empty()) return bad_input("no domain given (DOMAIN or --from ADDR)");
  if (!submission && plan.from.empty()) return bad_input("--method " + std::string(to_string(plan.method)) + " needs --from ADDR (the device's sender address)");
  plan.accepted_domains.push_back(plan.domain);
  for (const auto& text : o.accepted_domains) {
    auto domain = mx::parse_domain(text);
    if (!domain) return bad_input("--accepted-domain: " + domain.error().message);
    plan.accepted_domains.push_back(*domain);
  }
  for (const auto& text : o.to) {
    auto to = parse_address(text, "--to");
    if (!to) return to.error();
    plan.to.push_back(*to);
    if (!is_internal(*to, plan.accepted_domains)) plan.external.push_back(*to);
  }
  if (!submission && plan.to.empty()) return bad_input("--method " + std::string(to_string(plan.method)) + " needs at least one --to ADDR");

  if (!o.ip.empty()) {
    auto ip = blocklist::parse_ip(o.ip);
    if (!ip) return bad_input("--ip: " + ip.error().message);
    // Microsoft 365 sees the address the device's mail leaves the network
    // from; a LAN address would end up in SPF records and blocklist queries.
    if (const AddressScope scope = address_scope(*ip); is_non_public(scope))
      return bad_input("--ip " + ip->to_string() + " is " + std::string(describe(scope)) +
                       ", not what Microsoft 365 sees: give the device's public address (run sendcheck blocklist --egress from the "
                       "device's network to find it)");
    plan.ip = *ip;
  }
  plan.egress = o.egress;
  for (const auto& text : o.egress_dns) {
    auto servers = cli::dns_servers_from(text);
    if (!servers) return bad_input("--egress-dns: " + servers.error().message);
    plan.egress_dns.insert(plan.egress_dns.end(), servers->begin(), servers->end());
  }
  if (!plan.egress_dns.empty() && !plan.egress) return bad_input("--egress-dns needs --egress");
  if (!submission && !plan.ip && !plan.egress)
    return bad_input("--method " + std::string(to_string(plan.method)) + " needs the device's public address: --ip IP or --egress");

  plan.endpoint = default_endpoint(plan.method);
  if (o.smtp_port < 0 || o.smtp_port > 65535) return bad_input("--smtp-port must be 1-65535");
  if (!o.smtp_host.empty()) {
    const std::string host = o.smtp_host.starts_with("[") && o.smtp_host.ends_with("]") ? o.smtp_host.substr(1, o.smtp_host.size() - 2)
                                                                                         : o.smtp_host;
    if (!IpAddress::parse(host)) {
      auto name = smtp::parse_host_name(host);
      if (!name) return bad_input("--smtp-host: " + name.error().message);
    }
    plan.endpoint.host = o.smtp_host;
    plan.endpoint_overridden = true;
  }
  if (o.smtp_port > 0) {
    plan.endpoint.port = static_cast<std::uint16_t>(o.smtp_port);
    plan.endpoint_overridden = true;
  }
  if (!o.helo.empty()) {
    if (o.helo.find_first_of(" \t\r\n") != std::string::npos) return bad_input("--helo must be one word");
    plan.helo = o.helo;
    plan.helo_given = true;
  } else {
    plan.helo = smtp::default_helo_name();
  }
  if (!o.ca_file.empty())
    if (auto ca = open_input_file(o.ca_file, "CA file"); !ca) return ca.error();
  plan.ca_file = o.ca_file;
  if (o.client_cert_file.empty() != o.client_key_file.empty()) return bad_input("--client-cert and --client-key go together");
  if (!o.client_cert_file.empty()) {
    if (plan.method != Method::relay)
      return bad_input("--client-cert and --client-key belong to --method relay (a certificate-based inbound connector)");
    auto certificate = read_client_certificate(o.client_cert_file, o.client_key_file);
    if (!certificate) return certificate.error();
    plan.client_cert_file = o.client_cert_file;
    plan.client_key_file = o.client_key_file;
    plan.client_certificate = std::move(certificate.value());
  }
  if (!o.device_tls.empty()) {
    auto device = parse_device(ascii::to_lower(o.device_tls), "none", "internal");
    if (!device) return device.error();
    plan.device_tls = device->tls;
    // A certificate is presented inside TLS: a device without it can only
    // match a connector by its address.
    if (plan.device_tls == DeviceTls::none && plan.client_certificate)
      return bad_input("--client-cert needs TLS, and --device-tls none has none: a connector for this device must be identified by "
                       "its static public IP address (drop --client-cert)");
  }
  if (!o.reject_direct_send.empty()) {
    const std::string value = ascii::to_lower(o.reject_direct_send);
    if (value != "on" && value != "off" && value != "true" && value != "false")
      return bad_input("--reject-direct-send must be on or off (what Get-OrganizationConfig | Format-List RejectDirectSend shows: True or False)");
    if (plan.method != Method::direct_send)
      return bad_input("--reject-direct-send belongs to --method direct-send (a connector's mail is not direct send)");
    plan.reject_direct_send = value == "on" || value == "true";
  }
  if (!o.recipient_kind.empty()) {
    const std::string value = ascii::to_lower(o.recipient_kind);
    if (value == "mailbox") plan.recipient_kind = Plan::RecipientKind::mailbox;
    else if (value == "open-group") plan.recipient_kind = Plan::RecipientKind::open_group;
    else if (value == "group") plan.recipient_kind = Plan::RecipientKind::group;
    else if (value == "restricted-mailbox") plan.recipient_kind = Plan::RecipientKind::restricted_mailbox;
    else return bad_input("--recipient-kind must be mailbox, open-group, group or restricted-mailbox");
    if (plan.method != Method::direct_send)
      return bad_input("--recipient-kind belongs to --method direct-send (only anonymous mail meets a group's sender restriction)");
  }
  if (!o.device_auth.empty()) {
    const std::string auth = ascii::to_lower(o.device_auth);
    plan.device_app_only = auth == "oauth-app";
    auto device = parse_device("none", plan.device_app_only ? "oauth" : auth, "internal");
    if (!device) return Error{device.error().kind, device.error().message + " (or oauth-app: an application's client credentials)"};
    plan.device_auth = device->auth;
  }
  plan.blocklist_tables = o.blocklist_tables;
  plan.lists = o.lists;

  plan.user = o.user;
  plan.password_file = o.password_file;
  plan.token_file = o.token_file;
  plan.tenant = o.tenant;
  plan.client_id = o.client_id;
  plan.client_secret_file = o.client_secret_file;
  plan.token_endpoint = o.token_endpoint;
  const bool oauth = !o.token_file.empty() || !o.client_id.empty() || !o.client_secret_file.empty();
  if (!submission && (oauth || !o.user.empty() || !o.password_file.empty()))
    return bad_input("--user, --password-file and the OAuth options belong to --method smtp-auth, hve or acs");
  if (oauth && !o.password_file.empty()) return bad_input("give either a password (--password-file) or an OAuth token, not both");
  if (oauth && plan.method == Method::acs) return bad_input("ACS SMTP takes the Entra app's client secret as the password (--password-file), not an OAuth token");
  if (oauth) {
    if (o.token_file.empty() && (o.client_id.empty() || o.client_secret_file.empty() || (o.tenant.empty() && o.token_endpoint.empty())))
      return bad_input("XOAUTH2 needs --oauth-token-file, or --client-id, --client-secret-file and --tenant (or --token-endpoint)");
    plan.auth = smtp::AuthMechanism::xoauth2;
  } else if (!o.password_file.empty() || (submission && (!o.user.empty() || password_in_environment()))) {
    // --user defaults to --from, so a password in the environment alone
    // is a sign-in to test, as --password-file alone is.
    plan.auth = smtp::AuthMechanism::login;
  }
  if (plan.auth != smtp::AuthMechanism::none && plan.user.empty()) {
    if (plan.from.empty()) return bad_input("authentication needs --user (or --from, used as the user name)");
    plan.user = plan.from;
  }
  plan.timeout = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
  return plan;
}

// ---------------------------------------------------------------------------
// DMARC

std::optional<DmarcRecord> parse_dmarc(std::string_view text) {
  const std::string record = std::string(ascii::trim(text, ascii::c_locale_space));
  // RFC 7489 6.4: "v=DMARC1" first, case-sensitive tag names, ';' separated.
  if (!record.starts_with("v=DMARC1")) return std::nullopt;
  const std::string_view rest = std::string_view(record).substr(8);
  if (!rest.empty() && rest.front() != ';' && !std::isspace(static_cast<unsigned char>(rest.front()))) return std::nullopt;
  DmarcRecord out;
  out.record = record;
  std::size_t start = 0;
  while (start <= record.size()) {
    std::size_t end = record.find(';', start);
    if (end == std::string::npos) end = record.size();
    const std::string tag = std::string(ascii::trim(std::string_view(record).substr(start, end - start), ascii::c_locale_space));
    start = end + 1;
    const auto equals = tag.find('=');
    if (equals == std::string::npos) continue;
    const std::string name = std::string(ascii::trim(std::string_view(tag).substr(0, equals), ascii::c_locale_space));
    const std::string value = ascii::to_lower(std::string(ascii::trim(std::string_view(tag).substr(equals + 1), ascii::c_locale_space)));
    const bool policy_value = value == "none" || value == "quarantine" || value == "reject";
    if ((name == "p" || name == "sp") && !policy_value) {
      if (out.invalid_policy.empty()) out.invalid_policy = name + "=" + value;
    } else if (name == "p") out.policy = value;
    else if (name == "sp") out.subdomain_policy = value;
    else if (name == "pct") {
      try {
        out.pct = std::clamp(std::stoi(value), 0, 100);
      } catch (const std::exception&) {
      }
    }
  }
  return out;
}

std::string dmarc_effect(const std::string& policy, int pct) {
  const std::string quarantined = "quarantined (delivered to Junk or held in quarantine)";
  const std::string sampled = "pct=" + std::to_string(pct);
  if (policy == "reject") {
    if (pct >= 100) return "rejected";
    if (pct <= 0) return quarantined + ": with pct=0 receivers apply the next weaker policy, quarantine, to all of it (RFC 7489 6.6.4)";
    return "rejected for " + std::to_string(pct) + "% of messages (" + sampled + ") and quarantined for the rest (RFC 7489 6.6.4)";
  }
  if (policy == "quarantine") {
    if (pct >= 100) return quarantined;
    if (pct <= 0) return {};
    return quarantined + " for " + std::to_string(pct) + "% of messages (" + sampled + "; the rest is delivered, RFC 7489 6.6.4)";
  }
  return {};
}

Check dmarc_check(const std::string& from_domain, const dns::Answer& answer, bool spf_passes) {
  Check check;
  check.id = "dmarc.policy";
  check.fields = {{"domain", from_domain}, {"outcome", dns::to_string(answer.outcome)}};
  const std::string name = "_dmarc." + from_domain;
  if (!answer.is_definitive()) {
    check.status = Status::error;
    check.message = "Could not look up the DMARC record " + name + " (" + std::string(dns::to_string(answer.outcome)) +
                    (answer.detail.empty() ? "" : ": " + answer.detail) + ")";
    check.remedy = "Try again, or ask another resolver with --dns; a lookup that failed says nothing about the record.";
    return check;
  }
  std::vector<DmarcRecord> records;
  for (const auto& txt : answer.txt())
    if (auto record = parse_dmarc(txt.joined())) records.push_back(*record);
  if (records.empty()) {
    check.status = Status::warn;
    check.message = from_domain + " publishes no DMARC record (" + name + "): receivers apply their own judgment to mail that fails SPF";
    check.remedy = "Publish a DMARC record, starting with monitoring: " + name + " TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@" +
                   from_domain + "\", and tighten it once every sender passes SPF or DKIM.";
    return check;
  }
  if (records.size() > 1) {
    // Receivers apply no policy then: nothing stops the mail for it, and
    // nothing protects the domain either.
    check.status = Status::warn;
    check.fields["records"] = records.size();
    check.message = name + " has " + std::to_string(records.size()) + " DMARC records: RFC 7489 6.6.3 says receivers then apply none of them";
    check.remedy = "Keep exactly one v=DMARC1 TXT record at " + name + ".";
    return check;
  }
  const DmarcRecord& record = records.front();
  check.fields["record"] = record.record;
  check.fields["policy"] = record.policy;
  if (record.pct < 100) check.fields["pct"] = record.pct;
  const std::string policy = record.policy.empty() ? "none" : record.policy;
  const std::string quoted = "\"" + record.record + "\"";
  if (!record.invalid_policy.empty()) {
    // RFC 7489 6.6.3: an invalid p= is read as p=none (with rua=) or the
    // record is ignored; a typo is likely meant as the policy it resembles.
    const std::string tag = record.invalid_policy.substr(0, record.invalid_policy.find('='));
    const std::string value = record.invalid_policy.substr(tag.size() + 1);
    const char first = value.empty() ? '\0' : value.front();
    const std::string meant = first == 'r' ? "reject" : first == 'q' ? "quarantine" : first == 'n' ? "none" : "";
    check.status = Status::warn;
    check.fields["policy"] = "none";
    check.fields["invalid_policy"] = record.invalid_policy;
    check.message = "DMARC for " + from_domain + " has an invalid policy " + record.invalid_policy +
                    ": receivers read the record as p=none or ignore it (RFC 7489 6.6.3), so it protects nothing: " + quoted;
    const std::string correct = "correct " + tag + "= at " + name + " to none, quarantine or reject" +
                                (meant.empty() ? std::string() : " (\"" + value + "\" is probably " + meant + ")");
    check.remedy = spf_passes ? "Correct it: " + correct + "."
                              : "First make the mail pass SPF or DKIM (a stricter policy would then block it), then " + correct + ".";
    return check;
  }
  if (dmarc_effect(policy, record.pct).empty() && policy != "none") {
    check.status = spf_passes ? Status::pass : Status::warn;
    check.message = "DMARC for " + from_domain + " is p=" + policy + " with pct=0: receivers apply no policy to any message (RFC 7489 "
                    "6.6.4): " + quoted;
    if (!spf_passes) check.remedy = "DMARC does not stop the device's mail today, but fix SPF before pct= is raised.";
    return check;
  }
  if (policy == "none") {
    check.status = spf_passes ? Status::pass : Status::warn;
    check.message = "DMARC for " + from_domain + " is p=none (monitoring only): " + quoted;
    if (!spf_passes)
      check.remedy = "DMARC does not stop the device's mail today, but fix SPF before tightening DMARC to quarantine or reject.";
    return check;
  }
  const std::string effect = dmarc_effect(policy, record.pct);
  if (spf_passes) {
    check.status = Status::pass;
    check.message = "DMARC for " + from_domain + " is p=" + policy + "; the device passes SPF with an aligned MAIL FROM, so DMARC passes: " + quoted;
    return check;
  }
  check.status = Status::fail;
  check.message = "DMARC for " + from_domain + " is p=" + policy + ": a device that fails SPF and does not sign with DKIM (printers and scanners never do) has its mail " + effect;
  check.remedy = "Make the device pass SPF (publish the SPF record below); do not weaken DMARC to make a device work.";
  return check;
}

// ---------------------------------------------------------------------------
// The client certificate of a certificate connector (the same guide, option 3)

Result<ClientCertificate> read_client_certificate(const std::string& certificate_file, const std::string& key_file) {
  auto credentials = tls::load_credentials(certificate_file, key_file);
  if (!credentials) return credentials.error();
  ClientCertificate out;
  out.file = certificate_file;
  out.info = tls::describe_certificate(credentials->certificate.get());
  out.common_name = tls::common_name(credentials->certificate.get());
  out.validity = tls::validity(credentials->certificate.get());
  if (auto verified = tls::chains_to_default_roots(*credentials)) out.public_chain = *verified;
  return out;
}

std::vector<Check> client_certificate_checks(const ClientCertificate& certificate, const std::vector<std::string>& accepted_domains) {
  std::vector<Check> checks;
  // The names a connector can match: the CN and the SAN DNS entries; a
  // wildcard's base name counts as the name it sits below.
  std::vector<std::string> names;
  if (!certificate.common_name.empty()) names.push_back(certificate.common_name);
  for (const auto& san : certificate.info.san)
    if (san.starts_with("DNS:")) names.push_back(san.substr(4));
  std::string matched_name, matched_domain;
  for (const auto& name : names) {
    std::string candidate = ascii::to_lower(name);
    if (candidate.starts_with("*.")) candidate.erase(0, 2);
    while (candidate.ends_with(".")) candidate.pop_back();
    for (const auto& domain : accepted_domains)
      if (!candidate.empty() && dns::name_is_at_or_below(candidate, ascii::to_lower(domain))) {
        matched_name = name;
        matched_domain = domain;
        break;
      }
    if (!matched_name.empty()) break;
  }
  std::string shown = certificate.info.subject;
  for (const auto& san : certificate.info.san) shown += (shown.empty() ? "" : ", ") + san;
  std::string domains;
  for (const auto& domain : accepted_domains) domains += (domains.empty() ? "" : ", ") + domain;
  Check name{"connector.certificate-name", Status::pass, "", "",
             {{"file", certificate.file}, {"subject", certificate.info.subject}, {"common_name", certificate.common_name},
              {"san", certificate.info.san}, {"accepted_domains", accepted_domains}}};
  if (!matched_name.empty()) {
    name.message = "The client certificate (" + shown + ") names " + matched_name + ", in the accepted domain " + matched_domain +
                   ": a certificate-based inbound connector for " + matched_domain + " can match it";
    name.fields["matched_name"] = matched_name;
    name.fields["matched_domain"] = matched_domain;
  } else {
    name.status = Status::fail;
    name.message = "The client certificate (" + shown + ") has no CN or SAN DNS name in an accepted domain (" + domains +
                   "): no certificate-based inbound connector can match it, so the device's mail is not attributed to the tenant";
    name.remedy = "Give the device a certificate whose CN or a SAN DNS name is in an accepted, verified domain of the tenant (for example "
                  "smtp." + (accepted_domains.empty() ? std::string("contoso.com") : accepted_domains.front()) +
                  "), and an inbound connector (from \"Your organization's email server\") that identifies it by that name.";
  }
  checks.push_back(std::move(name));
  const auto& dates = certificate.validity;
  Check validity{"connector.certificate-validity", Status::pass, "", "",
                 {{"not_before", certificate.info.not_before}, {"not_after", certificate.info.not_after},
                  {"expires_in_days", dates.expires_in_days ? nlohmann::json(*dates.expires_in_days) : nlohmann::json(nullptr)}}};
  const std::string period = certificate.info.not_before + " to " + certificate.info.not_after;
  if (dates.expired) {
    validity.status = Status::fail;
    validity.message = "The client certificate expired (valid " + period + "): the connector no longer matches it";
    validity.remedy = "Renew the device's certificate (same CN/SAN) and install it on the device.";
  } else if (dates.not_yet_valid) {
    validity.status = Status::fail;
    validity.message = "The client certificate is not valid yet (valid " + period + ")";
    validity.remedy = "Check the device's and the issuer's clocks, or wait until " + certificate.info.not_before + ".";
  } else if (dates.expires_in_days && *dates.expires_in_days < 30) {
    validity.status = Status::warn;
    validity.message = "The client certificate expires in " + std::to_string(*dates.expires_in_days) + " days (" + certificate.info.not_after + ")";
    validity.remedy = "Renew the device's certificate before " + certificate.info.not_after + ", keeping the same CN/SAN.";
  } else {
    validity.message = "The client certificate is valid (" + period + ")";
  }
  checks.push_back(std::move(validity));
  // Exchange Online validates the certificate a connector matches against
  // public certification authorities, as it does for hybrid mail flow.
  if (certificate.info.self_signed)
    checks.push_back(Check{"connector.certificate-issuer", Status::fail,
                           "The client certificate (" + shown + ") is self-signed: Exchange Online matches certificate-based connectors only "
                           "with a certificate from a public certification authority",
                           "Get the device a certificate for the same name from a public certification authority (the device or the server "
                           "in front of it presents it), or use a connector that matches the device's static public IP address.",
                           {{"subject", certificate.info.subject}}});
  else if (certificate.public_chain == false)
    checks.push_back(Check{"connector.certificate-issuer", Status::fail,
                           "The client certificate (" + shown + ") is issued by " + certificate.info.issuer +
                               ", which does not lead to a public root this machine trusts (a private or internal CA, or the "
                               "intermediate certificates are missing after it in the file): Exchange Online matches certificate-based "
                               "connectors only with a certificate from a public certification authority",
                           "Get the device a certificate for the same name from a public certification authority; if it is one, put its "
                           "intermediate certificates after it in the file (the device must send them too). Or use a connector that "
                           "matches the device's static public IP address.",
                           {{"subject", certificate.info.subject}, {"issuer", certificate.info.issuer}}});
  return checks;
}

Check skipped(std::string id, std::string message) {
  Check check;
  check.id = std::move(id);
  check.status = Status::info;
  check.message = "skipped: " + std::move(message);
  check.fields["skipped"] = true;
  return check;
}

bool is_skipped(const Check& check) {
  const auto it = check.fields.find("skipped");
  return it != check.fields.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace diag::preflight
