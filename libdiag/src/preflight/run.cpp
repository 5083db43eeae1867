// sendcheck-preflight's run: the DNS parts (MX, SPF, DMARC, blocklists, PTR,
// the ACS records) on the caller's one resolver and loop, the SMTP session
// beside them in a thread of the session pool (ARCHITECTURE.md, "The DNS loop").
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "diag/ascii.h"
#include "diag/blocklist.h"
#include "diag/idna.h"
#include "diag/mx.h"
#include "diag/oauth.h"
#include "diag/preflight.h"
#include "diag/spf.h"
#include "diag/strings.h"

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
  std::optional<Step> step;                 // the MX being Exchange Online
  std::vector<Step> extra_steps;            // what the MX's setup adds (a gateway's lock-down)
  bool target_has_ipv6 = false;             // the direct-send host has an AAAA record
};

// Where the tenant's own Exchange Online host is known from: a Microsoft
// host published in the MX set, or the classic derived name when it resolves.
std::string tenant_exo_host(const mx::DomainReport& report) {
  for (const auto& host : report.hosts)
    if (mx::is_microsoft(host.host_class.provider) && !host.host_class.legacy) return host.host;
  if (report.classic_resolves.value_or(false)) return report.classic;
  return {};
}

// Direct send and relay go to the tenant's Exchange Online host. When the MX
// is a filtering gateway, direct send to "the MX" reaches the gateway, not
// Exchange Online; the two ways that work are the gateway's outbound relay
// and the tenant's own Exchange Online host.
void classify_mx(const Plan& plan, const mx::DomainReport& report, MxPart& part) {
  Step step{"mx", StepState::untested, "", ""};
  if (!report.mx_answer.is_definitive()) {
    step.why = "the MX lookup failed (" + std::string(dns::to_string(report.mx_answer.outcome)) + ")";
    step.to_test = "run again, or ask another resolver with --dns";
    part.step = step;
    return;
  }
  if (report.hosts.empty()) {
    step.state = StepState::failed;
    step.why = plan.domain + " has no MX for Exchange Online";
    part.step = step;
    return;
  }
  const mx::MxHost& primary = report.hosts.front();
  if (primary.appended_zone) {
    // The mx module names the mistake and the value to type (mx.appended-zone):
    // the published MX is not a host at all, whatever --smtp-host tests.
    step.state = StepState::failed;
    step.why = "the MX " + primary.host + " is " + primary.appended_zone->intended + " typed without its final dot";
    part.target.reset();
    part.step = step;
    return;
  }
  if (mx::is_microsoft(primary.host_class.provider) && !primary.host_class.legacy) {
    if (!report.direct_send_host.empty()) {
      step.state = StepState::passed;
      step.why = "the MX " + report.direct_send_host + " is Exchange Online";
    } else if (std::any_of(report.hosts.begin(), report.hosts.end(), [](const mx::MxHost& h) {
                 return h.addresses.empty() && (!dns::is_definitive(h.a_outcome) || !dns::is_definitive(h.aaaa_outcome));
               })) {
      step.why = "the MX host " + primary.host + " did not resolve (lookup failed)";
      step.to_test = "run again, or ask another resolver with --dns";
    } else {
      step.state = StepState::failed;
      step.why = "no usable Exchange Online MX host";
    }
    part.step = step;
    return;
  }
  if (primary.host_class.legacy) {
    step.state = StepState::failed;
    step.why = "the MX " + primary.host + " is a retired Microsoft target";
    part.step = step;
    return;
  }
  // A gateway, or a mail service no table knows.
  const auto gateway = classify_gateway(primary.host);
  // "the Proofpoint MX", or "the MX mail.contoso.com (not Exchange Online)".
  const std::string the_mx = gateway ? "the " + gateway->name + " MX" : "the MX " + primary.host + " (not Exchange Online)";
  const std::string exo = tenant_exo_host(report);
  const std::string exo_text = exo.empty() ? "the tenant's own Exchange Online host (shown in the Microsoft 365 admin center, Settings > Domains > " +
                                                 plan.domain + ")"
                                           : "the tenant's own Exchange Online host " + exo;
  const std::string what = gateway ? "a " + gateway->name + " gateway" : "another mail service";
  Check row{"mx.gateway", Status::fail, "", "", {{"host", primary.host}, {"gateway", gateway ? gateway->name : ""}, {"exo_host", exo}}};
  if (gateway) row.fields["source"] = gateway->source;
  const std::string two_ways =
      "Two ways work: relay the device's mail through " + (gateway ? gateway->name + "'s outbound service" : std::string("that service's outbound relay")) +
      " (authorize the device's address or account there), or send to " + exo_text +
      (exo.empty() ? "" : " (test it with --smtp-host " + exo + ")") +
      "; a connector that only accepts mail from the gateway, or Enhanced Filtering for connectors, often refuses mail that bypasses it.";
  if (plan.endpoint_overridden) {
    row.status = Status::warn;
    row.message = "The MX of " + plan.domain + " is " + primary.host + " (" + what + "); this run tests --smtp-host " + plan.endpoint.host +
                  " instead of the MX";
    // A gateway's lock-down is often a mail flow rule that rejects mail not
    // from the gateway's addresses; rules act on the message, after DATA,
    // which this test never sends: an accepted RCPT TO is not delivery
    // (https://vircomhelp.freshdesk.com/support/solutions/articles/48000859489-step-6-locking-down-o365-connections).
    row.remedy = "A connector that only accepts mail from the gateway, or Enhanced Filtering for connectors, may refuse the device's mail on "
                 "the Exchange Online host, and a mail flow rule that locks the tenant to the gateway acts only on the message itself (after "
                 "DATA), which this test does not send: send one real message from the device and look it up in the Exchange admin "
                 "center > Mail flow > Message trace.";
    step.state = StepState::passed;
    step.why = "testing --smtp-host instead of " + the_mx;
    part.extra_steps.push_back(Step{"delivery", StepState::untested,
                                    "behind " + the_mx + ", an accepted RCPT TO is not delivery: a lock-down rule acts after DATA",
                                    "send one real message from the device and find it in the message trace"});
  } else if (plan.method == Method::direct_send) {
    row.message = "The MX of " + plan.domain + " is " + primary.host + " (" + what + "), not Exchange Online: direct send to the MX reaches " +
                  (gateway ? gateway->name : std::string("that service")) + ", which relays or refuses the device's mail, not Exchange Online";
    row.remedy = two_ways;
    step.state = StepState::failed;
    step.why = "the MX " + primary.host + " is " + (gateway ? gateway->name : std::string("not Exchange Online"));
    part.target.reset();
  } else {
    row.status = Status::warn;
    row.message = "The MX of " + plan.domain + " is " + primary.host + " (" + what + "): the inbound connector is on " + exo_text;
    row.remedy = exo.empty() ? "Find the tenant's Exchange Online host in the admin center and test it with --smtp-host."
                             : "Test the connector on the Exchange Online host: --smtp-host " + exo + ".";
    step.why = "the MX is " + (gateway ? gateway->name : std::string("not Exchange Online")) + "; the connector was not tested";
    step.to_test = exo.empty() ? "--smtp-host with the tenant's Exchange Online host" : "--smtp-host " + exo;
    part.target.reset();
  }
  part.section.checks.push_back(std::move(row));
  part.step = step;
}

// The MX host direct send goes to, or the MX that is an alias for it (the
// device is then set to the Microsoft name, mx.direct-send).
bool is_direct_send_host(const mx::MxHost& host, const mx::DomainReport& report) {
  return host.host == report.direct_send_host ||
         (!host.cname_target.empty() && dns::canonical_name(host.cname_target) == report.direct_send_host);
}

// Exchange Online takes anonymous mail over IPv6 only for an accepted
// domain with IPv6 inbound on, and then its MX host has AAAA records
// (MC835648); otherwise a device's IPv6 session gets 550 5.2.1 and a
// dual-stack device sends from its IPv4 address instead.
void ipv6_reach(const Plan& plan, const mx::DomainReport& report, MxPart& part) {
  for (const auto& host : report.hosts) {
    if (!is_direct_send_host(host, report)) continue;
    if (std::any_of(host.addresses.begin(), host.addresses.end(), [](const IpAddress& a) { return !a.is_v4(); })) return;
    const std::string doc = "https://learn.microsoft.com/microsoft-365/security/office-365-security/mail-flow-inbound-ipv6-support-about";
    if (host.aaaa_outcome == dns::Outcome::nodata || host.aaaa_outcome == dns::Outcome::nxdomain) {
      part.section.checks.push_back(Check{
          "mx.ipv6", Status::fail,
          "The MX " + host.host + " has no IPv6 address (AAAA): IPv6 inbound is off for " + plan.domain +
              ", so mail from " + plan.ip->to_string() + " cannot arrive over IPv6 (550 5.2.1 does not accept email over IPv6)",
          "A device with IPv4 as well sends from its public IPv4 address: run the check with that address (--ip), which must be in "
          "SPF. To take mail over IPv6, turn IPv6 inbound on for the domain (Enable-IPv6ForAcceptedDomain -Domain " + plan.domain +
              "); the device then needs reverse DNS and to pass SPF or DKIM (" + doc + ").",
          {{"host", host.host}, {"ip", plan.ip->to_string()}}});
      part.extra_steps.push_back(Step{"mx-ipv6", StepState::failed, "the MX takes no IPv6 (no AAAA): " + plan.ip->to_string() + " cannot reach it", ""});
    } else {
      part.section.checks.push_back(Check{"mx.ipv6", Status::error,
                                          "Could not look up the IPv6 address of the MX " + host.host + " (" +
                                              std::string(dns::to_string(host.aaaa_outcome)) + "): whether it takes mail over IPv6 is unknown",
                                          "Run again, or ask another resolver with --dns.", {{"host", host.host}}});
      part.extra_steps.push_back(Step{"mx-ipv6", StepState::untested, "the AAAA lookup of the MX failed", "run again, or --dns"});
    }
    return;
  }
}

void fill_mx_part(const Plan& plan, mx::DomainReport& report, MxPart& part) {
  part.json = nlohmann::json::array({mx::to_json(report)});
  if (!report.direct_send_host.empty())
    for (const auto& host : report.hosts) {
      if (!is_direct_send_host(host, report) || host.addresses.empty()) continue;
      // The device's address family first (IPv4 for most devices): the MX
      // answers an IPv6 sender by other rules (5.2.1, 4.7.25, 4.7.26).
      const bool v6_device = plan.ip && !plan.ip->is_v4();
      auto it = std::find_if(host.addresses.begin(), host.addresses.end(), [v6_device](const IpAddress& a) { return a.is_v4() != v6_device; });
      part.target = smtp::ProbeTarget{report.direct_send_host, it != host.addresses.end() ? *it : host.addresses.front()};
      part.target_has_ipv6 = std::any_of(host.addresses.begin(), host.addresses.end(), [](const IpAddress& a) { return !a.is_v4(); });
      break;
    }
  classify_mx(plan, report, part);
  const bool gateway_row = !part.section.checks.empty();
  for (auto& check : report.checks)
    // mx.gateway says the same as mx.direct-send's warning, with both ways out.
    if (!(gateway_row && check.id == "mx.direct-send")) part.section.checks.push_back(std::move(check));
  if (plan.ip && !plan.ip->is_v4()) ipv6_reach(plan, report, part);
}

// Direct send to a recipient in another accepted domain goes through the
// tenant's MX as well, but that domain's own MX says whether its mail is
// meant to come through a gateway: a lock-down rule for its mailboxes (mail
// only from the gateway) acts on the message after DATA, which the test
// never sends.
void judge_recipient_domain(const mx::DomainReport& report, MxPart& part) {
  const std::string& domain = report.domain;
  if (!report.mx_answer.is_definitive()) {
    part.section.checks.push_back(Check{"mx.recipient-domain", Status::error,
                                        "Could not look up the MX of " + domain + ", a recipient's domain (" +
                                            std::string(dns::to_string(report.mx_answer.outcome)) + ")",
                                        "Run again, or ask another resolver with --dns.", {{"domain", domain}}});
    part.extra_steps.push_back(Step{"recipient-mx", StepState::untested, "the MX lookup of " + domain + " failed", "run again, or --dns"});
    return;
  }
  const auto outside = std::find_if(report.hosts.begin(), report.hosts.end(), [](const mx::MxHost& host) {
    return !mx::is_microsoft(host.host_class.provider) || host.host_class.legacy;
  });
  if (!report.hosts.empty() && outside == report.hosts.end()) {
    part.section.checks.push_back(Check{"mx.recipient-domain", Status::pass, "The MX of " + domain + ", a recipient's domain, is Exchange Online",
                                        "", {{"domain", domain}}});
    return;
  }
  const std::string host = report.hosts.empty() ? std::string("none") : outside->host;
  const auto gateway = report.hosts.empty() ? std::nullopt : classify_gateway(host);
  const std::string what = report.hosts.empty() ? "publishes no MX" : "has its MX at " + host + (gateway ? " (" + gateway->name + ")" : std::string());
  part.section.checks.push_back(Check{"mx.recipient-domain", Status::warn,
                                      domain + ", a recipient's domain, " + what + ": its mail is meant to reach Exchange Online another "
                                      "way, and a rule that takes its mail only from there (a gateway lock-down) acts after DATA, which "
                                      "this test does not send",
                                      "Send one real message from the device to a mailbox in " + domain + " and find it in the Exchange admin "
                                      "center > Mail flow > Message trace; or check the tenant's mail flow rules and connectors for " + domain + ".",
                                      {{"domain", domain}, {"host", host}}});
  part.extra_steps.push_back(Step{"recipient-mx", StepState::untested,
                                  domain + " " + what + ": a lock-down for its mailboxes would refuse the message after DATA",
                                  "send one real message from the device to " + domain + " and find it in the message trace"});
}

void start_mx(dns::Resolver& resolver, const Plan& plan, MxPart& part, std::function<void()> done) {
  part.section.title = "MX (" + idna::to_unicode(plan.domain) + ")";
  std::vector<std::string> domains = {plan.domain};
  if (plan.method == Method::direct_send)
    for (const auto& to : plan.to) {
      if (!is_internal(to, plan.accepted_domains)) continue;  // recipients.* says it
      const auto domain = mx::parse_domain(ascii::to_lower(to.substr(to.rfind('@') + 1)));
      if (domain && std::find(domains.begin(), domains.end(), *domain) == domains.end()) domains.push_back(*domain);
    }
  mx::start_domains(resolver, domains, [&plan, &part, done = std::move(done)](std::vector<mx::DomainReport> reports) {
    fill_mx_part(plan, reports.front(), part);
    for (std::size_t i = 1; i < reports.size(); ++i) judge_recipient_domain(reports[i], part);
    done();
  });
}

struct SpfPart {
  Section section{"spf", "SPF", {}};
  Section health{"health", "Domain health", {}};
  nlohmann::json json;
  std::optional<std::string> suggested;
  std::optional<std::string> candidate;  // the verified record, also when the device passes (relay's DMARC may still need it)
  std::vector<std::string> candidate_publishing;  // what whoever publishes it must know (spf::Suggestion::publishing)
  bool passes = false;
  std::optional<Step> step;  // direct send: the device's own SPF result
  std::optional<bool> microsoft_included;  // the record includes Exchange Online's outbound servers; nullopt: unknown
  std::string microsoft_after_all;  // Microsoft's include as written after an all term, where it is never evaluated
  std::string microsoft_include = "spf.protection.outlook.com";  // the include of the MX's cloud
  bool helo_checked = false;  // the result rests on --helo (%{h}): the device must send that name
  std::vector<Check> tree_checks;  // the SPF tree's findings, which say which terms pass any address
  std::string published;           // the record as published
  std::vector<std::string> pass_terms;  // every pass term of the tree ("include:eu._netblocks.mimecast.com"), as written
  std::vector<std::string> after_all_terms;  // terms written after an all term, never evaluated
  std::string qualified_gateway_term;   // "~include:eu._netblocks.mimecast.com" beside that gateway's MX; empty: none
  std::string qualified_gateway_record;  // the domain whose record holds it (an include's, when nested)
  // Mail that leaves through a gateway (an outbound connector to Mimecast)
  // is judged at the receiver by the gateway's servers: for each gateway's
  // include in the tree, the record evaluated for one address it authorizes.
  // A broken term before the include, or a broken include, fails those
  // servers too, and only this evaluation shows it.
  struct GatewayRoute {
    std::string include;  // the include's domain, lower case ("eu._netblocks.mimecast.com")
    std::string a_host;   // or the host of an a: term (Proofpoint Essentials' "a:dispatch-us.ppe-hosted.com"), lower case
    std::string problem;  // why the term authorizes no address (no SPF record, ...); empty: it does
    std::optional<IpAddress> sample;
    std::optional<spf::SpfEvaluation> evaluation;
  };
  std::vector<GatewayRoute> gateway_routes;
  // The record evaluated for the addresses of the From domain's gateway MX
  // hosts: an include of the right vendor but another region (Mimecast's
  // us._netblocks for an eu-smtp-inbound MX) passes its own addresses and
  // not this tenant's gateway.
  struct GatewayHost {
    std::string host;
    IpAddress address;
    std::optional<spf::SpfEvaluation> evaluation;
  };
  std::vector<GatewayHost> gateway_hosts;
  std::vector<std::string> gateway_mx_hosts;  // the From domain's gateway MX hosts, lower case: inbound, not the outbound route
  bool gateway_routes_started = false;        // both SPF evaluations reach start_gateway_routes: it runs once
};

// The tree's spf.gateway-include-qualified finding, kept in part.
void note_qualified_gateway(const std::vector<Check>& tree_checks, SpfPart& part) {
  if (!part.qualified_gateway_term.empty()) return;
  for (const auto& check : tree_checks)
    if (check.id == "spf.gateway-include-qualified") {
      part.qualified_gateway_term = check.fields.value("term", std::string());
      part.qualified_gateway_record = check.fields.value("record_of", std::string());
      return;
    }
}

void collect_pass_terms(const spf::TreeNode& node, std::vector<std::string>& out) {
  for (const auto& term : node.terms)
    if (!term.empty() && term.front() != '-' && term.front() != '~' && term.front() != '?') out.push_back(term);
  for (const auto& child : node.children) collect_pass_terms(child, out);
}

std::string a_term_host(std::string_view term);

// The pass term of the From domain's SPF tree that names the gateway's own
// domain (Mimecast's include:eu._netblocks.mimecast.com, Proofpoint
// Essentials' a:dispatch-us.ppe-hosted.com); empty: none. An a: term that
// names one of the domain's own MX hosts authorizes the gateway's inbound
// server, which is not where its outbound mail leaves from.
// Whether a term names a host or list under the gateway's domain.
bool names_gateway(const std::string& term, const MailGateway& gateway) {
  const std::string name = dns::canonical_name(term);
  for (const std::string& marker : {"." + gateway.suffix, ":" + gateway.suffix})
    if (const auto at = name.find(marker); at != std::string::npos && (at + marker.size() == name.size() || name[at + marker.size()] == '/'))
      return true;
  return false;
}

std::string gateway_pass_term(const SpfPart& part, const MailGateway& gateway) {
  for (const auto& term : part.pass_terms) {
    if (const std::string host = a_term_host(term);
        !host.empty() && std::find(part.gateway_mx_hosts.begin(), part.gateway_mx_hosts.end(), host) != part.gateway_mx_hosts.end())
      continue;
    if (names_gateway(term, gateway)) return term;
  }
  return {};
}

// "exists:..." with or without a qualifier, any case.
bool is_exists_term(std::string_view term) {
  if (!term.empty() && (term.front() == '+' || term.front() == '-' || term.front() == '~' || term.front() == '?')) term.remove_prefix(1);
  return ascii::to_lower(std::string(term.substr(0, 7))) == "exists:";
}

// Proofpoint Essentials' region in one of its host names: "us" in
// mx1-us1.ppe-hosted.com (kind "mx") or dispatch-us.ppe-hosted.com (kind
// "dispatch"), the names its setup guide gives per region
// (http://support.proofpointessentials.com/index.php?/Knowledgebase/Article/View/127/11/email-spoofing).
std::string ppe_region(std::string_view host, std::string_view kind) {
  if (!host.ends_with(".ppe-hosted.com")) return {};
  std::string_view label = host.substr(0, host.find('.'));
  if (!label.starts_with(kind)) return {};
  const auto dash = label.find('-');
  if (dash == std::string_view::npos) return {};
  label.remove_prefix(dash + 1);
  while (!label.empty() && label.back() >= '0' && label.back() <= '9') label.remove_suffix(1);
  if (label.empty() || !std::all_of(label.begin(), label.end(), [](char c) { return c >= 'a' && c <= 'z'; })) return {};
  return std::string(label);
}

// The host of an "a:host" or "+a:host/24" term, lower case, when it names
// one without macros; empty otherwise (mx: terms, "a" alone).
std::string a_term_host(std::string_view term) {
  if (!term.empty() && term.front() == '+') term.remove_prefix(1);
  if (term.size() < 3 || ascii::to_lower(std::string(term.substr(0, 2))) != "a:") return {};
  term.remove_prefix(2);
  term = term.substr(0, term.find('/'));
  if (term.empty() || term.find('%') != std::string_view::npos) return {};
  return dns::canonical_name(term);
}

// The gateway route of a pass term ("include:eu._netblocks.mimecast.com",
// "a:dispatch-us.ppe-hosted.com"): null when the term is neither an include
// the tree followed nor an a: term (mx: terms).
const SpfPart::GatewayRoute* gateway_route(const SpfPart& part, const std::string& term) {
  const std::string include = spf::is_include_term(term) ? dns::canonical_name(term.substr(term.find(':') + 1)) : std::string();
  const std::string a_host = a_term_host(term);
  if (include.empty() && a_host.empty()) return nullptr;
  for (const auto& route : part.gateway_routes)
    if ((!include.empty() && route.include == include) || (!a_host.empty() && route.a_host == a_host)) return &route;
  return nullptr;
}

// One address of what a gateway's include authorizes (IPv4 first: the
// gateways' outbound servers are IPv4 first too).
std::optional<IpAddress> gateway_sample(const spf::TreeNode& node) {
  const auto networks = spf::authorized_networks(node);
  for (const auto& network : networks)
    if (network.address.is_v4()) return network.address;
  if (!networks.empty()) return networks.front().address;
  return std::nullopt;
}

void find_gateway_includes(const spf::TreeNode& node, std::vector<SpfPart::GatewayRoute>& out) {
  for (const auto& term : node.terms)
    if (const std::string host = a_term_host(term); !host.empty() && classify_gateway(host)) {
      SpfPart::GatewayRoute route;
      route.a_host = host;
      out.push_back(std::move(route));
    }
  for (const auto& child : node.children) {
    if (!spf::passes_through(child)) continue;
    if (spf::is_include_term(child.via) && classify_gateway(child.domain)) {
      SpfPart::GatewayRoute route;
      route.include = dns::canonical_name(child.domain);
      if (child.status != "ok")
        route.problem = child.status == "none" ? "it has no SPF record" : "its record cannot be used (" + child.status + ")";
      else if (!(route.sample = gateway_sample(child)))
        route.problem = "it authorizes no address";
      out.push_back(std::move(route));
      continue;
    }
    find_gateway_includes(child, out);
  }
}

bool needs_outbound_dmarc(const Plan& plan);

std::string gateway_pass_term(const SpfPart& part, const MailGateway& gateway);

// The route of the gateway's pass term, with its sample address; null when
// the record has none or the term is not one the tree followed.
const SpfPart::GatewayRoute* gateway_route_of(const SpfPart& part, const MailGateway& gateway) {
  const std::string term = gateway_pass_term(part, gateway);
  return term.empty() ? nullptr : gateway_route(part, term);
}

// Evaluates the From domain's record for an address of each gateway's
// include in the tree (mail Exchange Online sends on may leave through the
// gateway), then calls done.
void start_gateway_routes(spf::SpfResolver& resolver, const Plan& plan, const spf::TreeNode& root, SpfPart& part, std::function<void()> done) {
  if (!needs_outbound_dmarc(plan) || part.gateway_routes_started) return done();
  part.gateway_routes_started = true;
  find_gateway_includes(root, part.gateway_routes);
  // One count for every evaluation and lookup still out; done at zero.
  auto pending = std::make_shared<std::size_t>(1);
  auto finish = [pending, done, &part] {
    if (--*pending != 0) return;
    // The hosts in MX preference order, whatever order their answers came in.
    const auto rank = [&part](const SpfPart::GatewayHost& host) {
      return std::find(part.gateway_mx_hosts.begin(), part.gateway_mx_hosts.end(), host.host) - part.gateway_mx_hosts.begin();
    };
    std::stable_sort(part.gateway_hosts.begin(), part.gateway_hosts.end(),
                     [&rank](const SpfPart::GatewayHost& a, const SpfPart::GatewayHost& b) { return rank(a) < rank(b); });
    done();
  };
  const auto evaluate = [&resolver, &plan, pending, finish](const IpAddress& address, std::optional<spf::SpfEvaluation>& out) {
    ++*pending;
    spf::CheckHostInput input;
    input.ip = address;
    input.sender = plan.from;
    input.domain = plan.from_domain;
    input.helo = plan.from_domain;
    spf::start_check_host(resolver, std::make_shared<spf::AnswerCache>(), input, {}, [&out, finish](spf::SpfEvaluation evaluation) {
      out = std::move(evaluation);
      finish();
    });
  };
  for (auto& route : part.gateway_routes) {
    if (route.sample) evaluate(*route.sample, route.evaluation);
    if (route.a_host.empty()) continue;
    // An a: term's host: one of its addresses stands for the gateway's servers.
    ++*pending;
    resolver.query(route.a_host, dns::RrType::A, [&route, evaluate, finish](const dns::Answer& a) {
      const auto addresses = a.addresses();
      if (!addresses.empty()) {
        route.sample = addresses.front();
        evaluate(*route.sample, route.evaluation);
      } else if (a.outcome == dns::Outcome::nodata || a.outcome == dns::Outcome::nxdomain)
        route.problem = "its name has no address";
      finish();
    });
  }
  // The gateway MX hosts' own addresses: one of each gateway host, in
  // preference order (mail for the domain may reach any of them, and a
  // list of the vendor's that covers one may miss another).
  static constexpr std::size_t max_gateway_hosts = 4;
  ++*pending;
  resolver.query(plan.from_domain, dns::RrType::MX, [&resolver, &part, evaluate, finish, pending](const dns::Answer& mx) {
    auto hosts = mx.mx();
    std::stable_sort(hosts.begin(), hosts.end(), [](const dns::MxData& a, const dns::MxData& b) { return a.preference < b.preference; });
    for (const auto& mx_host : hosts) {
      const std::string host = dns::canonical_name(mx_host.exchange);
      if (!classify_gateway(host) || part.gateway_mx_hosts.size() == max_gateway_hosts ||
          std::find(part.gateway_mx_hosts.begin(), part.gateway_mx_hosts.end(), host) != part.gateway_mx_hosts.end())
        continue;
      part.gateway_mx_hosts.push_back(host);
    }
    // Room for every host's address before any evaluation keeps a reference to one.
    part.gateway_hosts.reserve(part.gateway_mx_hosts.size());
    for (const auto& host : part.gateway_mx_hosts) {
      ++*pending;
      resolver.query(host, dns::RrType::A, [&part, host, evaluate, finish](const dns::Answer& a) {
        const auto addresses = a.addresses();
        if (!addresses.empty()) {
          part.gateway_hosts.push_back({host, addresses.front(), std::nullopt});
          evaluate(part.gateway_hosts.back().address, part.gateway_hosts.back().evaluation);
        }
        finish();
      });
    }
    finish();
  });
  finish();
}

// The device's own check_host() result for this path. Only it decides the
// verdict: a domain-wide problem that leaves it unchanged is domain health.
// The SPF module's texts name sendcheck-spf's own options (--suggest,
// --record): in preflight they become the whole command.
std::string spf_tool_words(std::string text, const std::string& domain, const std::optional<IpAddress>& ip = std::nullopt) {
  const std::string command = "sendcheck spf " + domain + (ip ? " --ip " + ip->to_string() : std::string()) + " --suggest";
  for (auto at = text.find("--suggest with the device's --ip"); at != std::string::npos; at = text.find("--suggest with the device's --ip"))
    text.replace(at, 32, "--suggest");
  // A text that names the whole command already gets the device's --ip in it.
  const std::string bare = "sendcheck spf " + domain + " --suggest";
  for (auto at = text.find(bare); at != std::string::npos; at = text.find(bare, at + 1)) text.replace(at, bare.size(), "--suggest");
  for (auto at = text.find("--suggest"); at != std::string::npos; at = text.find("--suggest", at + 1)) {
    if (at + 9 >= command.size() && text.compare(at + 9 - command.size(), command.size(), command) == 0) continue;
    text.replace(at, 9, command);
    at += command.size() - 9;
  }
  for (auto at = text.find("with --record"); at != std::string::npos; at = text.find("with --record", at + 1))
    text.replace(at, 13, "with sendcheck spf " + domain + " --record");
  return text;
}

// The remedy is the SPF module's verified suggestion (duplicates merged, the
// device added before anything that could exhaust the lookup limit,
// flattened when needed), or the reason it could not make one: never a
// hand-made example that could drop another sender's include.
Check device_spf_check(const Plan& plan, const IpAddress& ip, const spf::SpfEvaluation& evaluation, const std::optional<spf::Suggestion>& suggestion,
                       const std::optional<std::string>& record) {
  Check check;
  check.id = "spf.result";
  check.fields = {{"ip", ip.to_string()}, {"domain", plan.from_domain}, {"result", spf::to_string(evaluation.result)}};
  const std::string who = ip.to_string() + " as " + plan.from_domain;
  const std::string result(spf::to_string(evaluation.result));
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
                  (plan.method == Method::direct_send ? "; Microsoft 365 treats the device's mail as spoofed: Junk or quarantine, or, where the domain's DMARC policy rejects (p=reject, pct=100), a refusal"
                                                      : "; this does not stop relayed mail (the connector admits it, and other "
                                                        "organizations see Exchange Online's servers, not the device)");
  if (const auto tenant = mx::initial_domain_tenant(plan.from_domain)) {
    // Microsoft publishes this record; no admin can add the device to it.
    check.remedy = plan.from_domain + " is the tenant's initial domain, whose SPF record Microsoft manages: " + ip.to_string() +
                   " cannot be added to it. " +
                   (plan.method == Method::direct_send
                        ? "Give the device a From address in one of your own domains and add " + ip.to_string() +
                              " to that domain's SPF record (check it with sendcheck preflight YOUR-DOMAIN --method direct-send --ip " +
                              ip.to_string() + "), or send through a connector or with SMTP AUTH (OAuth) instead."
                        : std::string("Relayed mail leaves from Exchange Online, which that record authorizes."));
  } else if (record) {
    check.remedy = "Publish this SPF record for " + plan.from_domain +
                   (evaluation.result == spf::SpfResult::none ? " (it has none today): " : ", replacing the current one: ") + *record +
                   " (verified: it passes for " + ip.to_string() + " and for every sender the current records authorize" +
                   (suggestion->senders_not_kept.empty()
                        ? std::string()
                        : ", except servers only " + strings::join(suggestion->senders_not_kept, " or ") +
                              " authorized, which no check can list: add them with ip4:/ip6: before you publish it") +
                   ").";
    for (const auto& note : suggestion->notes) check.remedy += " " + spf_tool_words(note, plan.from_domain, ip);
  } else {
    const std::string term = (ip.is_v4() ? "ip4:" : "ip6:") + ip.to_string();
    check.remedy = (suggestion && !suggestion->reason.empty() ? spf_tool_words(suggestion->reason, plan.from_domain, ip) + " " : std::string()) +
                   "Fix the SPF record of " + plan.from_domain + " so that " + term +
                   " matches before the lookup limit and the all term, then check it with sendcheck spf " + plan.from_domain + " --ip " +
                   ip.to_string() + " --suggest.";
  }
  if (record) check.fields["suggested_record"] = *record;
  return check;
}

// spf::separate_domain_health's "This does not change the result for IP."
// on a row that, in preflight, does change what the device's mail meets.
void drop_unchanged_note(Check& check) {
  if (const auto at = check.message.find(" This does not change the result for "); at != std::string::npos) check.message.erase(at);
}

// Moves the Domain health row `id` into the SPF section: it decides what
// the mail meets after all. Returns the moved row; null when health has none.
Check* move_health_row_to_section(SpfPart& part, std::string_view id) {
  auto& health = part.health.checks;
  const auto row = std::find_if(health.begin(), health.end(), [&](const Check& c) { return c.id == id; });
  if (row == health.end()) return nullptr;
  Check moved = std::move(*row);
  health.erase(row);
  drop_unchanged_note(moved);
  moved.fields.erase("group");
  part.section.checks.push_back(std::move(moved));
  return &part.section.checks.back();
}

void fill_spf_part(const Plan& plan, const IpAddress& ip, const spf::SpfCheckPlan& spf_plan, spf::SpfCheckOutcome& outcome, SpfPart& part) {
  Report report = spf::make_report(outcome, spf_plan, nullptr, TextStyle{});
  const auto& evaluation = outcome.results.front().second;
  part.passes = evaluation.result == spf::SpfResult::pass;
  part.tree_checks = outcome.tree.checks;
  note_qualified_gateway(outcome.tree.checks, part);
  part.published = report.fields().value("record", std::string());
  collect_pass_terms(outcome.tree.root, part.pass_terms);
  if (outcome.tree.root.status == "ok") {
    // The MX's cloud's include: the worldwide one covers no GCC High server.
    const std::string& cloud_include = outcome.tree.microsoft_include;
    if (!cloud_include.empty()) part.microsoft_include = cloud_include;
    part.microsoft_included = spf::includes_microsoft(outcome.tree.root, cloud_include);
    if (!*part.microsoft_included) part.microsoft_after_all = spf::microsoft_include_after_all(outcome.tree.root, cloud_include);
  }
  // A record that looks up the client's EHLO name (%{h}) gives the result
  // of the name this run sent: without --helo that is this machine's name,
  // not the device's, and the result says nothing about the device.
  // Without --helo even a failed lookup (this machine's own name, which
  // nothing need answer for) is this machine's result, not the device's.
  const bool rests_on_helo = evaluation.helo_used && evaluation.result != spf::SpfResult::temperror;
  const bool helo_unknown = evaluation.helo_used && !plan.helo_given;
  part.helo_checked = rests_on_helo && plan.helo_given;
  if (helo_unknown) {
    part.section.checks.push_back(Check{
        "spf.helo-name", Status::warn,
        "The SPF record of " + plan.from_domain + " looks up the sender's EHLO name (%{h}): this run sent " + plan.helo +
            ", not the device's, so SPF " + std::string(spf::to_string(evaluation.result)) + " is this machine's result, not the device's",
        "Run again with --helo set to the name the device sends with EHLO (in its SMTP settings, or in what sendcheck listen "
        "shows when the device connects to it). To authorize the device whatever its name, add its address instead: "
        "sendcheck spf " + plan.from_domain + " --ip " + ip.to_string() + " --suggest writes the record.",
        {{"helo", plan.helo}}});
    part.step = Step{"spf", StepState::untested, "the SPF result rests on the EHLO name, and the device's was not given",
                     "--helo with the device's EHLO name"};
  } else {
    // Only a record the SPF module verified for the device and every sender
    // the old records authorized is ever printed.
    if (outcome.suggestion && outcome.suggestion->changed && outcome.suggestion->verified && !outcome.suggestion->record.empty() &&
        !mx::initial_domain_tenant(plan.from_domain)) {
      part.candidate = outcome.suggestion->record;
      part.candidate_publishing = outcome.suggestion->publishing;
      if (!part.passes) part.suggested = part.candidate;
    }
    part.section.checks.push_back(device_spf_check(plan, ip, evaluation, outcome.suggestion, part.suggested));
    Step step{"spf", StepState::failed, "SPF " + std::string(spf::to_string(evaluation.result)) + " for " + ip.to_string(), ""};
    if (part.passes) step = Step{"spf", StepState::passed, "SPF passes for " + ip.to_string(), ""};
    else if (evaluation.result == spf::SpfResult::temperror)
      step = Step{"spf", StepState::untested, "the SPF lookups failed (temperror)", "run again, or ask another resolver with --dns"};
    part.step = step;
  }
  // A pass through an all term ("+all", in the record or an include) lets
  // every address pass: the device's mail works today, and ending the record
  // with ~all or -all, the fix for that, fails it unless the device is added.
  // Also +all reached through an include, a network wider than any
  // organization's, and a name the client chooses (a:%{h}): anyone passes.
  const std::string_view open_finding =
      part.passes && !helo_unknown ? spf::open_pass_finding(evaluation, outcome.tree.checks) : std::string_view();
  const bool passes_by_all = !open_finding.empty();
  std::string by_all_remedy;
  if (passes_by_all) {
    const std::string term = (ip.is_v4() ? "ip4:" : "ip6:") + ip.to_string();
    // A candidate that is the published record again would keep the open term.
    const bool fresh_candidate = part.candidate && *part.candidate != part.published;
    const std::string matched = evaluation.matched;
    if (fresh_candidate && !part.suggested) part.suggested = part.candidate;  // the record the remedy names, also in JSON
    by_all_remedy = fresh_candidate ? "Publish this SPF record for " + plan.from_domain + ", which authorizes " + ip.to_string() +
                                          " by address and no longer lets every address pass: " + *part.candidate +
                                          " (verified for the device and the networks the current record names; servers that passed only "
                                          "through \"" + matched + "\" fail with it: find them in your DMARC aggregate reports and add them first)."
                                    : "Add \"" + term + "\" before the all term in the same change that removes \"" + matched +
                                          "\" (or, for +all, ends the record with ~all or -all); find the other servers that send as " +
                                          plan.from_domain + " (DMARC aggregate reports) and add them too.";
    part.section.checks.push_back(Check{"spf.device-by-all", Status::warn,
                                        ip.to_string() + " passes SPF as " + plan.from_domain + " only through \"" + matched + "\"" +
                                            (evaluation.path.size() > 2 ? " (reached through " + evaluation.path[1] + ")" : std::string()) +
                                            ", which lets every address on the internet pass: closing it, the fix for that, fails the "
                                            "device unless it is added by address",
                                        by_all_remedy, {{"matched", matched}}});
  }
  // The rest of the SPF tree is the domain's health: when the device's own
  // result is unchanged by it, a failure there is a warning with its fix
  // (spf::separate_domain_health put it in the group "domain health"). A finding that
  // explains the device's own permerror keeps its id and status: it is the
  // verdict's cause, so it stays in the SPF section.
  for (auto check : report.checks()) {
    // spf.suggestion's reason is in spf.result's remedy already.
    if (check.id == "spf.result" || check.id == "spf.suggestion") continue;
    check.remedy = spf_tool_words(check.remedy, plan.from_domain, ip);
    // Another open term that the record the device's row names no longer
    // has: publishing that record closes it, one step, not two.
    if (passes_by_all && part.suggested && check.id == "spf.any-address-passes" && check.fields.contains("term") &&
        check.fields["term"].is_string()) {
      const std::string term = check.fields["term"].get<std::string>();
      const auto terms = spf::parse_record(*part.suggested).terms;
      if (std::none_of(terms.begin(), terms.end(), [&](const spf::Term& t) { return ascii::to_lower(t.text) == ascii::to_lower(term); }))
        check.remedy = by_all_remedy;
    }
    // "End the record with ~all": with the device added, or it breaks.
    // The device's pass rests on it: the device's finding, beside spf.device-by-all.
    if (passes_by_all && check.id == open_finding) {
      drop_unchanged_note(check);
      check.remedy = by_all_remedy;
      check.fields.erase("group");
      // The device passes today: a warning, as spf.device-by-all is.
      if (check.status == Status::fail) check.status = Status::warn;
      part.section.checks.push_back(std::move(check));
      continue;
    }
    // Only direct send's verdict rests on the device's SPF: through a
    // connector a failing SPF is a warning (every FAIL row is a cause).
    if (check.status == Status::fail && !part.passes && !helo_unknown && check.fields.value("group", "") != "domain health" &&
        plan.method == Method::direct_send) {
      // It explains the device's result, which the one verified record
      // fixes: a second, different record here would contradict it.
      const auto causes = spf::findings_named_by(evaluation);
      if (part.suggested && (check.remedy.find("v=spf1") != std::string::npos || check.remedy.find("--suggest") != std::string::npos ||
                             std::find(causes.begin(), causes.end(), check.id) != causes.end()))
        check.remedy = "The SPF record suggested for the device fixes this as well: publish that one record.";
      part.section.checks.push_back(std::move(check));
      continue;
    }
    // Exchange Online's servers stopped by the limit that stops the device:
    // one cause, which the device's record fixes.
    if (check.id == "spf.m365-include" && check.fields.contains("cause") && check.fields.value("group", "") != "domain health" &&
        check.status != Status::pass) {
      check.status = Status::warn;
      if (part.suggested) check.remedy = "The SPF record suggested for the device fixes this as well: publish that one record.";
      part.section.checks.push_back(std::move(check));
      continue;
    }
    if (check.status == Status::fail) check.status = Status::warn;
    // Mail relayed to other organizations leaves from Exchange Online's
    // servers: whether SPF authorizes them is that mail's result, not the
    // domain's health (the DMARC row judges it).
    if (check.id == "spf.m365-include" && plan.method == Method::relay && !plan.external.empty()) {
      drop_unchanged_note(check);
      if (check.status != Status::pass)
        check.message += " Mail relayed to " + plan.external.front() + (plan.external.size() > 1 ? " and others" : "") + " is that mail.";
      check.fields.erase("group");
      part.section.checks.push_back(std::move(check));
      continue;
    }
    // The device's result stopped at a failed lookup: the findings that
    // explain it, or that may decide it once the lookup answers, are its own.
    if (evaluation.result == spf::SpfResult::temperror && check.fields.value("group", "") != "domain health" &&
        check.status != Status::pass && check.status != Status::info) {
      part.section.checks.push_back(std::move(check));
      continue;
    }
    part.health.checks.push_back(std::move(check));
  }
  part.json = report.fields();
}

void start_spf(spf::SpfResolver& resolver, const Plan& plan, const IpAddress& ip, SpfPart& part, std::function<void()> done) {
  part.section.title = "SPF (" + idna::to_unicode(plan.from_domain) + ")";
  part.health.title = "Domain health (" + idna::to_unicode(plan.from_domain) + ")";
  spf::SpfCheckRequest request;
  request.domain = plan.from_domain;
  request.ips = {ip.to_string()};
  request.sender = plan.from;
  request.helo = plan.helo;
  request.suggest = true;
  // Relay to other organizations: Exchange Online sends the mail on, so the
  // record must authorize its servers whatever the From domain's MX is.
  request.exchange_online_sends = plan.method == Method::relay && !plan.external.empty();
  auto spf_plan = spf::plan_check(request);
  if (!spf_plan) {
    part.section.checks.push_back(skipped("spf.result", spf_plan.error().message));
    part.step = Step{"spf", StepState::untested, "SPF not checked: " + spf_plan.error().message, "--from in the tenant's domain"};
    return done();
  }
  spf::start_check(resolver, *spf_plan, [&resolver, &plan, ip, spf_plan = *spf_plan, &part, done = std::move(done)](spf::SpfCheckOutcome outcome) {
    fill_spf_part(plan, ip, spf_plan, outcome, part);
    start_gateway_routes(resolver, plan, outcome.tree.root, part, done);
  });
}

struct ReputationPart {
  Section dmarc{"dmarc", "DMARC", {}};
  Section blocklist{"blocklist", "Blocklists", {}};
  Section reverse{"reverse", "Reverse DNS", {}};
  std::vector<DmarcLookup> dmarc_lookups;  // the From domain's _dmarc, then its parents'
  nlohmann::json dmarc_json, blocklist_json;
  std::optional<Step> reverse_step;
};

// "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa" (RFC 3596 2.5).
std::string reverse_name_v6(const IpAddress& ip) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = ip.size(); i-- > 0;) {
    const std::uint8_t byte = ip.data()[i];
    out += hex[byte & 0x0F];
    out += '.';
    out += hex[byte >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

// Microsoft 365 refuses mail from an IPv6 address without reverse DNS
// (450 4.7.25 / 550 5.7.25): the PTR must exist and its name must resolve
// back to the address (forward-confirmed reverse DNS).
void judge_reverse_v6(const IpAddress& ip, const std::string& name, const dns::Answer& ptr, const std::vector<dns::Answer>& forward,
                      ReputationPart& part) {
  Check row{"reverse.ptr", Status::pass, "", "", {{"ip", ip.to_string()}, {"name", name}, {"outcome", dns::to_string(ptr.outcome)}}};
  const std::string remedy = "Ask whoever runs the address (the ISP or the network team) for a PTR record for " + ip.to_string() +
                             " whose name resolves back to it (AAAA), or send over IPv4: Microsoft 365 refuses IPv6 senders "
                             "without reverse DNS (5.7.25).";
  if (!ptr.is_definitive()) {
    row.status = Status::error;
    row.message = "Could not look up the reverse DNS of " + ip.to_string() + " (" + std::string(dns::to_string(ptr.outcome)) + ")";
    row.remedy = "Run again, or ask another resolver with --dns.";
    part.reverse_step = Step{"reverse-dns", StepState::untested, "the reverse DNS lookup for " + ip.to_string() + " failed", "run again, or --dns"};
    part.reverse.checks.push_back(std::move(row));
    return;
  }
  const auto targets = ptr.targets();
  if (targets.empty()) {
    row.status = Status::fail;
    row.message = ip.to_string() + " has no reverse DNS (PTR): Microsoft 365 refuses mail from IPv6 senders without it (5.7.25)";
    row.remedy = remedy;
    part.reverse_step = Step{"reverse-dns", StepState::failed, "no reverse DNS for the IPv6 address (5.7.25)", ""};
    part.reverse.checks.push_back(std::move(row));
    return;
  }
  bool confirmed = false, incomplete = false;
  for (const auto& answer : forward) {
    if (!answer.is_definitive()) incomplete = true;
    for (const auto& address : answer.addresses()) confirmed = confirmed || address == ip;
  }
  row.fields["ptr"] = targets;
  if (confirmed) {
    row.message = ip.to_string() + " has reverse DNS " + targets.front() + ", which resolves back to it";
    part.reverse_step = Step{"reverse-dns", StepState::passed, "forward-confirmed reverse DNS", ""};
  } else if (incomplete) {
    row.status = Status::error;
    row.message = "Could not check that " + targets.front() + " (the PTR of " + ip.to_string() + ") resolves back to it";
    row.remedy = "Run again, or ask another resolver with --dns.";
    part.reverse_step = Step{"reverse-dns", StepState::untested, "the forward lookup of the PTR name failed", "run again, or --dns"};
  } else {
    row.status = Status::fail;
    row.message = "The PTR of " + ip.to_string() + " is " + targets.front() + ", which does not resolve back to it (no matching AAAA)";
    row.remedy = remedy;
    part.reverse_step = Step{"reverse-dns", StepState::failed, "the IPv6 PTR does not resolve back (5.7.25)", ""};
  }
  part.reverse.checks.push_back(std::move(row));
}

// The PTR, then the AAAA of each name it gives, on the caller's loop.
void start_reverse_v6(dns::Resolver& resolver, const IpAddress& ip, ReputationPart& part, std::function<void()> done) {
  struct Answers {
    dns::Answer ptr;
    std::vector<dns::Answer> forward;
  };
  auto answers = std::make_shared<Answers>();
  const std::string name = reverse_name_v6(ip);
  auto work = dns::Work::create(resolver, [answers, ip, name, &part, done = std::move(done)] {
    judge_reverse_v6(ip, name, answers->ptr, answers->forward, part);
    done();
  });
  work->query(name, dns::RrType::PTR, [answers, weak = std::weak_ptr<dns::Work>(work)](const dns::Answer& answer) {
    answers->ptr = answer;
    const auto self = weak.lock();
    if (!self || !answer.is_definitive()) return;
    const auto targets = answer.targets();
    answers->forward.resize(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i)
      self->query(targets[i], dns::RrType::AAAA, [answers, i](const dns::Answer& forward) { answers->forward[i] = forward; });
  });
  work->close();
}

// An Azure Communication Services custom domain: verified with its TXT,
// SPF through Microsoft's include, DKIM through the two azurecomm CNAMEs
// (https://learn.microsoft.com/azure/communication-services/quickstarts/email/add-custom-verified-domains).
struct AcsDomainPart {
  Section section{"acs-domain", "ACS custom domain", {}};
  std::optional<Step> step;
  bool dkim = false;
};

void judge_acs_domain(const std::string& domain, const dns::Answer& txt, const dns::Answer (&selector)[2], AcsDomainPart& part) {
  std::vector<std::string> failed, untested;
  if (!txt.is_definitive()) {
    untested.push_back("the TXT lookup of " + domain + " failed");
  } else {
    bool verification = false, spf = false, has_spf = false;
    for (const auto& record : txt.txt()) {
      const std::string text = record.joined();
      verification = verification || text.starts_with("ms-domain-verification=");
      if (ascii::to_lower(text).starts_with("v=spf1")) {
        has_spf = true;
        spf = spf || ascii::to_lower(text).find("include:spf.protection.outlook.com") != std::string::npos;
      }
    }
    Check row{"acs.domain-verification", verification ? Status::pass : Status::fail, "", "", {{"domain", domain}}};
    row.message = verification ? domain + " publishes its ACS domain-verification TXT record"
                               : domain + " publishes no ms-domain-verification TXT record: ACS sends from a custom domain only once it is verified";
    if (!verification) {
      row.remedy = "Publish the TXT record ms-domain-verification=... that the Email Communication Service shows for " + domain +
                   " (Provision domains > the domain > Configure), then verify it there.";
      failed.push_back("the ACS domain is not verified (no ms-domain-verification TXT)");
    }
    part.section.checks.push_back(std::move(row));
    Check spf_row{"acs.spf", spf ? Status::pass : Status::warn, "", "", {{"domain", domain}}};
    spf_row.message = spf ? "The SPF record of " + domain + " includes spf.protection.outlook.com, which ACS sends from"
                          : has_spf ? "The SPF record of " + domain + " does not include spf.protection.outlook.com directly: ACS mail may fail SPF"
                                    : domain + " publishes no SPF record: ACS mail fails SPF";
    // A record to replace the published one would drop the domain's other
    // senders: only a domain without one gets a whole record.
    if (!spf)
      spf_row.remedy = has_spf ? "Add include:spf.protection.outlook.com to the one SPF record of " + domain + ", keeping its other terms (sendcheck spf " +
                                     domain + " --record \"NEW RECORD\" checks the new record for your other senders before you publish it)."
                               : "Publish the SPF record v=spf1 include:spf.protection.outlook.com -all for " + domain + ".";
    part.section.checks.push_back(std::move(spf_row));
  }
  part.dkim = true;
  for (int i = 0; i < 2; ++i) {
    const std::string name = "selector" + std::to_string(i + 1) + "-azurecomm-prod-net._domainkey." + domain;
    const std::string expected = "selector" + std::to_string(i + 1) + "-azurecomm-prod-net._domainkey.azurecomm.net";
    Check row{"acs.dkim" + std::to_string(i + 1), Status::pass, "", "", {{"name", name}, {"expected", expected}}};
    if (!selector[i].is_definitive()) {
      row.status = Status::error;
      row.message = "Could not look up " + name + " (" + std::string(dns::to_string(selector[i].outcome)) + ")";
      row.remedy = "Run again, or ask another resolver with --dns.";
      untested.push_back("the DKIM CNAME lookup failed");
      part.dkim = false;
    } else {
      // The CNAME itself: in the records of a CNAME question, or first in the chain.
      std::string target;
      dns::Answer chain;
      chain.records = selector[i].cname_chain;
      for (const auto& t : chain.targets()) if (target.empty()) target = ascii::to_lower(t);
      for (const auto& t : selector[i].targets()) if (target.empty()) target = ascii::to_lower(t);
      while (target.ends_with(".")) target.pop_back();
      if (target == expected) {
        row.message = name + " points at " + expected;
      } else {
        row.status = Status::fail;
        row.message = target.empty() ? name + " does not exist: ACS cannot sign the domain's mail with DKIM"
                                     : name + " points at " + target + ", not " + expected;
        row.remedy = "Publish the CNAME " + name + " -> " + expected + ".";
        failed.push_back("DKIM CNAME selector" + std::to_string(i + 1) + " missing");
        part.dkim = false;
      }
    }
    part.section.checks.push_back(std::move(row));
  }
  if (!failed.empty()) part.step = Step{"acs-domain", StepState::failed, failed.front(), ""};
  else if (!untested.empty()) part.step = Step{"acs-domain", StepState::untested, untested.front(), "run again, or --dns"};
  else part.step = Step{"acs-domain", StepState::passed, "the ACS custom domain is verified with DKIM", ""};
}

void start_acs_domain(dns::Resolver& resolver, const std::string& domain, AcsDomainPart& part, std::function<void()> done) {
  part.section.title = "ACS custom domain (" + domain + ")";
  struct Answers {
    dns::Answer txt, selector[2];
  };
  auto answers = std::make_shared<Answers>();
  auto work = dns::Work::create(resolver, [answers, domain, &part, done = std::move(done)] {
    judge_acs_domain(domain, answers->txt, answers->selector, part);
    done();
  });
  work->query(domain, dns::RrType::TXT, [answers](const dns::Answer& answer) { answers->txt = answer; });
  for (int i = 0; i < 2; ++i)
    work->query("selector" + std::to_string(i + 1) + "-azurecomm-prod-net._domainkey." + domain, dns::RrType::CNAME,
                [answers, i](const dns::Answer& answer) { answers->selector[i] = answer; });
  work->close();
}

// Mail that Exchange Online sends on to other organizations (relay, SMTP
// AUTH) leaves from Microsoft's servers with the device's MAIL FROM: the
// receivers' DMARC passes through SPF only when the From domain authorizes
// those servers, else only through DKIM signing for the domain in
// Microsoft 365 (its selector1/selector2._domainkey CNAMEs).
struct OutboundPart {
  bool asked = false;
  // Exchange Online's outbound ranges, one address each, against the From
  // domain's SPF; spf is the one that decides (the first that does not pass).
  std::vector<std::optional<spf::SpfEvaluation>> each;
  // The same addresses against Microsoft's include alone: a sample that the
  // include does not authorize today is not Exchange Online's (the samples
  // are a reference's, the record is Microsoft's), and is not judged.
  std::vector<std::optional<spf::SpfEvaluation>> microsoft_own;
  std::optional<spf::SpfEvaluation> spf;
  std::string spf_address;  // the address spf is for
  std::string undecided;    // why spf is empty, when not a failed lookup
  dns::Answer dkim[2];      // selector1, selector2 ._domainkey CNAMEs
};

// Whether the From domain takes mail (RFC 5321 5.1): receivers refuse a
// sender domain that says it takes none (RFC 7505 4.2) or cannot.
struct SenderDomainPart {
  bool asked = false;
  dns::Answer mx, a, aaaa;
};

void start_sender_domain(dns::Work& work, const std::string& domain, SenderDomainPart& part) {
  part.asked = true;
  work.query(domain, dns::RrType::MX, [&part](const dns::Answer& answer) { part.mx = answer; });
  work.query(domain, dns::RrType::A, [&part](const dns::Answer& answer) { part.a = answer; });
  work.query(domain, dns::RrType::AAAA, [&part](const dns::Answer& answer) { part.aaaa = answer; });
}

bool needs_outbound_dmarc(const Plan& plan) {
  return (plan.method == Method::relay || plan.method == Method::smtp_auth) && !plan.external.empty() && !plan.from_domain.empty();
}

void start_outbound(dns::Resolver& resolver, spf::SpfResolver& spf_resolver, const Plan& plan, OutboundPart& part, std::function<void()> done) {
  part.asked = true;
  auto work = dns::Work::create(resolver, [&part, done = std::move(done)] {
    // The first of Exchange Online's addresses that does not pass decides;
    // else they all passed.
    bool judged = false;
    for (std::size_t i = 0; i < part.each.size(); ++i) {
      const auto& own = part.microsoft_own[i];
      if (own && own->result != spf::SpfResult::pass && own->result != spf::SpfResult::temperror) continue;
      if (!part.each[i] || !own || own->result == spf::SpfResult::temperror) {
        part.spf.reset();
        part.spf_address = spf::exchange_online_outbound_samples()[i].to_string();
        judged = true;
        break;
      }
      judged = true;
      part.spf = part.each[i];
      part.spf_address = spf::exchange_online_outbound_samples()[i].to_string();
      if (part.each[i]->result != spf::SpfResult::pass) break;
    }
    if (!judged)
      part.undecided = "include:spf.protection.outlook.com, as published today, authorizes none of the Exchange Online addresses "
                       "this check knows (40.92.0.1, 40.107.0.1, 52.100.0.1, ...), so which addresses Exchange Online sends from "
                       "could not be told";
    done();
  });
  for (int i = 0; i < 2; ++i)
    work->query("selector" + std::to_string(i + 1) + "._domainkey." + plan.from_domain, dns::RrType::CNAME,
                [&part, i](const dns::Answer& answer) { part.dkim[i] = answer; });
  part.each.assign(spf::exchange_online_outbound_samples().size(), std::nullopt);
  part.microsoft_own.assign(spf::exchange_online_outbound_samples().size(), std::nullopt);
  for (std::size_t i = 0; i < spf::exchange_online_outbound_samples().size(); ++i) {
    spf::CheckHostInput input;
    input.ip = spf::exchange_online_outbound_samples()[i];
    input.sender = plan.from;
    input.domain = plan.from_domain;
    input.helo = "outbound.protection.outlook.com";
    spf::start_check_host(spf_resolver, std::make_shared<spf::AnswerCache>(), input, {},
                          [&part, i, hold = work->hold()](spf::SpfEvaluation evaluation) {
                            part.each[i] = std::move(evaluation);
                            hold();
                          });
    input.record_override = "v=spf1 include:spf.protection.outlook.com -all";
    spf::start_check_host(spf_resolver, std::make_shared<spf::AnswerCache>(), input, {},
                          [&part, i, hold = work->hold()](spf::SpfEvaluation evaluation) {
                            part.microsoft_own[i] = std::move(evaluation);
                            hold();
                          });
  }
  work->close();
}

// The verified record that lets Exchange Online's servers pass the From
// domain's SPF, for mail it sends on when no device address is checked
// (SMTP AUTH, relay without --ip): the device-less suggestion, the one
// sendcheck spf DOMAIN --suggest prints. The tree's pass terms come along
// (which gateway the record authorizes).
void start_outbound_record(spf::SpfResolver& resolver, const Plan& plan, SpfPart& part, std::function<void()> done) {
  spf::SpfCheckRequest request;
  request.domain = plan.from_domain;
  request.sender = plan.from;
  request.suggest = true;
  request.exchange_online_sends = true;
  auto spf_plan = spf::plan_check(request);
  if (!spf_plan || mx::initial_domain_tenant(plan.from_domain)) return done();
  spf::start_check(resolver, *spf_plan, [&resolver, &plan, &part, done = std::move(done)](spf::SpfCheckOutcome outcome) {
    if (part.pass_terms.empty()) {
      collect_pass_terms(outcome.tree.root, part.pass_terms);
      // Terms after an all term are never evaluated: they authorize nothing.
      for (const auto& check : outcome.tree.checks)
        if (check.id == "spf.after-all" && check.fields.contains("terms"))
          for (const auto& term : check.fields["terms"]) {
            if (!term.is_string()) continue;
            part.after_all_terms.push_back(term.get<std::string>());
            std::erase(part.pass_terms, term.get<std::string>());
          }
    }
    note_qualified_gateway(outcome.tree.checks, part);
    // The MX's cloud's include, and whether the record has it (a GCC High or
    // 21Vianet tenant's record needs its own cloud's).
    if (outcome.tree.root.status == "ok" && !part.microsoft_included) {
      if (!outcome.tree.microsoft_include.empty()) part.microsoft_include = outcome.tree.microsoft_include;
      part.microsoft_included = spf::includes_microsoft(outcome.tree.root, outcome.tree.microsoft_include);
    }
    if (outcome.suggestion && outcome.suggestion->changed && outcome.suggestion->verified && !outcome.suggestion->record.empty()) {
      part.candidate = outcome.suggestion->record;
      part.candidate_publishing = outcome.suggestion->publishing;
    }
    start_gateway_routes(resolver, plan, outcome.tree.root, part, done);
  });
}

// Whether the receivers take mail from the From domain at all: one that
// publishes a null MX says it neither sends nor receives mail (RFC 7505 4.2:
// receivers SHOULD refuse it, 550 5.7.27), and one that does not exist or has
// neither MX nor address cannot take a bounce (receivers that check the
// sender domain, such as Postfix's reject_unknown_sender_domain, refuse it).
// A lookup that failed says nothing. Direct send's receiver is Exchange
// Online itself, whose handling of a null-MX sender is not documented; for
// a domain that does not exist no SPF record can be published.
void judge_sender_domain(const Plan& plan, const SenderDomainPart& part, const std::string& exo_host, Section& section, std::optional<Step>& step) {
  const std::string& domain = plan.from_domain;
  const bool direct_send = plan.method == Method::direct_send;
  // Each domain has an MX host of its own: the tenant domain's is that
  // domain's, not the From domain's.
  const std::string tenant_host = !exo_host.empty() && domain == plan.domain
                                      ? exo_host
                                      : "Exchange Online (the MX value the Microsoft 365 admin center shows under Settings > Domains > " + domain + ")";
  const auto failed = [&](const dns::Answer& answer) { return !answer.is_definitive(); };
  if (failed(part.mx) || (part.mx.outcome != dns::Outcome::nxdomain && part.mx.mx().empty() && (failed(part.a) || failed(part.aaaa)))) {
    section.checks.push_back(Check{"dmarc.sender-domain", Status::error,
                                   "Could not find out whether " + domain + ", the sender's domain, takes mail (the MX or address lookup failed)",
                                   "Run again, or ask another resolver with --dns.", {{"domain", domain}}});
    step = Step{"sender-domain", StepState::untested, "the lookup of the sender's domain " + domain + " failed", "run again, or --dns"};
    return;
  }
  const auto mx = part.mx.mx();
  const bool null_mx = mx.size() == 1 && mx.front().exchange == ".";
  const bool no_domain = part.mx.outcome == dns::Outcome::nxdomain;
  const bool no_route = !no_domain && mx.empty() && part.a.addresses().empty() && part.aaaa.addresses().empty();
  if (!null_mx && !no_domain && !no_route) {
    section.checks.push_back(Check{"dmarc.sender-domain", Status::pass,
                                   domain + ", the sender's domain, takes mail (" + (mx.empty() ? "by its address record" : "MX") + ")" +
                                       (direct_send ? std::string() : ", so other organizations can accept mail from it and return bounces"),
                                   "", {{"domain", domain}}});
    return;
  }
  const std::string send_as = "Send as an address in a domain that takes mail (such as " + plan.domain + ")";
  // No name, no record to publish: the fix is the address.
  if (no_domain) {
    section.checks.push_back(Check{"dmarc.sender-domain", Status::fail,
                                   domain + ", the sender's domain, does not exist in DNS (NXDOMAIN): no SPF record can be published "
                                   "for it, so the device's mail cannot pass SPF as it" +
                                       std::string(direct_send ? "" : ", and receivers refuse mail from a domain that does not exist"),
                                   "Give the device a From address in one of the tenant's accepted domains (such as scanner@" + plan.domain +
                                       "); check the spelling of the address in the device's settings." +
                                       // Declared as the tenant's: the other fix is to create it in DNS.
                                       (std::find(plan.accepted_domains.begin(), plan.accepted_domains.end(), domain) != plan.accepted_domains.end()
                                            ? " Or, if " + domain + " is meant to be an accepted domain of the tenant, create it in DNS: an MX that "
                                              "points at " + tenant_host + " and an SPF record " +
                                                  (direct_send ? std::string("that authorizes the device's public address")
                                                               : std::string("with include:spf.protection.outlook.com")) +
                                                  ", then verify it in the Microsoft 365 admin center and run this again."
                                            : std::string()),
                                   {{"domain", domain}, {"null_mx", false}}});
    step = Step{"sender-domain", StepState::failed, "the sender's domain " + domain + " does not exist", ""};
    return;
  }
  if (direct_send) {
    if (null_mx) {
      section.checks.push_back(Check{"dmarc.sender-domain", Status::warn,
                                     domain + ", the sender's domain, publishes a null MX (\"0 .\", RFC 7505): it says it takes no mail. "
                                     "Receivers that follow RFC 7505 refuse mail from it (550 5.7.27); whether Exchange Online does for "
                                     "direct send is not documented, and replies to the device's address cannot be delivered",
                                     send_as + ", or replace the null MX of " + domain + " with an MX that points at " + tenant_host + ".",
                                     {{"domain", domain}, {"null_mx", true}}});
      step = Step{"sender-domain", StepState::untested,
                  "the sender's domain " + domain + " publishes a null MX, and whether Exchange Online takes mail from it is not documented",
                  "a From address in a domain that takes mail"};
    } else {
      section.checks.push_back(Check{"dmarc.sender-domain", Status::warn,
                                     domain + ", the sender's domain, has neither an MX nor an address record: replies to the device's "
                                     "address cannot be delivered",
                                     send_as + ", or publish an MX for " + domain + " that points at " + tenant_host + ".",
                                     {{"domain", domain}, {"null_mx", false}}});
    }
    return;
  }
  const std::string what = null_mx ? "publishes a null MX (\"0 .\", RFC 7505): it says it takes no mail, and receivers that follow "
                                     "RFC 7505 refuse mail from it (550 5.7.27)"
                                   : "has neither an MX nor an address record: it cannot take a bounce, and receivers that check the "
                                         "sender's domain (such as Postfix's reject_unknown_sender_domain, 450 by default) may refuse mail from it";
  // Without an MX or address the refusal is a receiver's choice (Postfix's
  // check answers 450 by default, and large providers do not make it): a
  // risk to fix, not a certain refusal. A null MX or NXDOMAIN is one.
  if (no_route) {
    section.checks.push_back(Check{"dmarc.sender-domain", Status::warn, domain + ", the sender's domain, " + what,
                                   send_as + ", or publish an MX for " + domain + " that points at " + tenant_host +
                                       ", so that bounces come back and strict receivers take it.",
                                   {{"domain", domain}, {"null_mx", false}}});
    return;
  }
  section.checks.push_back(Check{"dmarc.sender-domain", Status::fail, domain + ", the sender's domain, " + what,
                                 send_as + ", or replace the null MX of " + domain + " with an MX that points at " + tenant_host +
                                     " and add " + domain + " as an accepted domain.",
                                 {{"domain", domain}, {"null_mx", true}}});
  step = Step{"sender-domain", StepState::failed, "other organizations refuse mail from " + domain + " (null MX)", ""};
}

// The DMARC row and step for mail Exchange Online sends on to other
// organizations, from the policy (check, made with the outbound SPF result
// as alignment), the outbound SPF result and the DKIM CNAMEs.
// The targets Microsoft 365's DKIM setup publishes: the initial domain's
// (contoso.onmicrosoft.com, .onmicrosoft.us in GCC High, .partner.onmschina.cn
// in 21Vianet) or, since 2025, *.dkim.mail.microsoft.
bool is_microsoft_dkim_target(std::string_view target) {
  const std::string name = dns::canonical_name(target);
  for (std::string_view suffix : {".onmicrosoft.com", ".onmicrosoft.us", ".onmschina.cn", ".dkim.mail.microsoft"})
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  return false;
}


// Exchange Online's servers passing the From domain's SPF only through a
// term that lets every address pass (+all, an include's +all, a wildcard
// exists:): relayed mail's DMARC rests on that term, and closing it without
// adding Microsoft's include breaks the mail.
struct OpenPass {
  std::string id;    // the finding that names the term ("spf.all", ...); empty: none
  std::string term;  // "+all", "exists:%{i}.wild.contoso.example"
  std::string via;   // the include it is reached through, if any
};

OpenPass outbound_open_pass(const OutboundPart& part, const SpfPart& spf_part) {
  // With Microsoft's include in the record too, closing the term leaves
  // Exchange Online's servers passing.
  if (spf_part.microsoft_included.value_or(false)) return {};
  for (const auto& evaluation : part.each) {
    if (!evaluation) continue;
    const std::string_view id = spf::open_pass_finding(*evaluation, spf_part.tree_checks);
    if (id.empty() || id == "spf.client-chosen-name") continue;
    return {std::string(id), evaluation->matched, evaluation->path.size() > 2 ? evaluation->path[1] : std::string()};
  }
  return {};
}

// The gateway the From domain's MX points to: one among its most preferred
// hosts (a gateway beside Exchange Online at the same preference takes
// mail too, as in a move to the gateway, whose outbound often goes first).
std::optional<MailGateway> sender_domain_gateway(const SenderDomainPart& part) {
  if (!part.asked || !part.mx.is_definitive()) return std::nullopt;
  const auto hosts = part.mx.mx();
  const auto primary = std::min_element(hosts.begin(), hosts.end(), [](const dns::MxData& a, const dns::MxData& b) { return a.preference < b.preference; });
  if (primary == hosts.end()) return std::nullopt;
  for (const auto& host : hosts)
    if (host.preference == primary->preference)
      if (auto gateway = classify_gateway(host.exchange)) return gateway;
  return std::nullopt;
}

// The outbound connectors, as the fix (with Enabled) and a step (without) list them.
constexpr std::string_view outbound_connectors = "Get-OutboundConnector | Format-List Name,Enabled,SmartHosts,RecipientDomains";
constexpr std::string_view outbound_connector_step = "check the outbound connector (Get-OutboundConnector | Format-List Name,SmartHosts,RecipientDomains)";

void judge_outbound(const Plan& plan, const OutboundPart& part, const SpfPart& spf_part, const OpenPass& open_pass, bool sovereign,
                    const std::optional<MailGateway>& from_gateway, Check& check, std::optional<Step>& step) {
  const std::optional<std::string>& record = spf_part.candidate;
  const std::string& domain = plan.from_domain;
  const std::string policy = check.fields.value("policy", std::string());
  // "sp=reject" when a parent's record applies through its sp= tag.
  const std::string policy_shown = check.fields.value("policy_tag", std::string("p")) + "=" + policy;
  if (check.status == Status::error) {
    step = Step{"dmarc", StepState::untested, "the DMARC lookup failed", "run again, or --dns"};
    return;
  }
  const int pct = check.fields.value("pct", 100);
  // What happens to mail that fails DMARC (pct= may leave it all out).
  const std::string effect = dmarc_effect(policy, pct);
  const bool enforced = !policy.empty() && policy != "none" && !effect.empty();
  const std::string sent_on = "mail that Exchange Online sends on to other organizations (" + plan.external.front() +
                              (plan.external.size() > 1 ? ", ..." : "") + ") comes from Microsoft's servers";
  const bool spf_pass = part.spf && part.spf->result == spf::SpfResult::pass;
  const bool spf_undecided = !part.spf || part.spf->result == spf::SpfResult::temperror;
  bool dkim = false, dkim_unknown = false;
  std::string other_dkim;  // a selector CNAME to someone else's key (a mail service's)
  for (const auto& answer : part.dkim) {
    if (!answer.is_definitive()) dkim_unknown = true;
    for (const auto& target : answer.targets()) {
      if (is_microsoft_dkim_target(target)) dkim = true;
      else if (other_dkim.empty()) other_dkim = target;
    }
  }
  check.fields["outbound_spf"] = part.spf ? std::string(spf::to_string(part.spf->result)) : std::string("not evaluated");
  check.fields["dkim_cnames"] = dkim;
  // Microsoft 365 signs only with the keys its own CNAME targets publish.
  const std::string no_dkim = other_dkim.empty()
                                  ? " has no DKIM in Microsoft 365 (no selector1._domainkey CNAME)"
                                  : " has no DKIM in Microsoft 365 (its selector1/selector2._domainkey CNAMEs point to " +
                                        dns::canonical_name(other_dkim) + ", another service's keys, which Microsoft 365 cannot sign with)";
  const std::string moved_dkim =
      other_dkim.empty() ? "" : ", in place of today's CNAMEs to " + dns::canonical_name(other_dkim) +
                                    ": Microsoft 365's selectors have these fixed names, so that service needs selectors of its own";
  // Another cloud's outbound addresses (GCC High/DoD, 21Vianet) are not the
  // worldwide ranges tested here; a record without the cloud's include and a
  // domain without DKIM fail DMARC whatever those addresses are.
  if (sovereign) {
    if (!enforced) {
      step = Step{"dmarc", StepState::passed, "DMARC does not stop mail sent on from Exchange Online", ""};
      return;
    }
    const std::string& include = spf_part.microsoft_include;
    // The cloud's include is known when the From domain's MX named the cloud.
    const bool cloud_known = include != "spf.protection.outlook.com";
    if (cloud_known && spf_part.microsoft_included == false && !dkim && !dkim_unknown) {
      check.status = Status::fail;
      check.message = "DMARC for " + domain + " is " + policy_shown + "; the SPF record of " + domain + " does not include " + include +
                      ", the include of this tenant's cloud, and " + domain + no_dkim + ": mail that Exchange Online sends on to other "
                      "organizations fails DMARC, and is " + effect;
      check.remedy = "Add include:" + include + " to the SPF record of " + domain + ", or set up DKIM for " + domain +
                     " (Microsoft Defender portal > Email authentication settings > DKIM" + moved_dkim + ").";
      step = Step{"dmarc", StepState::failed, "DMARC " + policy_shown + " at other organizations: " + include + " is not in the SPF of " + domain +
                                                  ", and no DKIM", ""};
      return;
    }
    check.status = Status::warn;
    check.message = "DMARC for " + domain + " is " + policy_shown + "; this tenant is in a sovereign cloud, whose outbound addresses this check does "
                    "not know, so whether its SPF authorizes them was not tested";
    check.remedy = "Check that the SPF record of " + domain + " includes the cloud's include (" + include + "), or set up DKIM for " + domain + ".";
    step = Step{"dmarc", StepState::untested, "the sovereign cloud's outbound addresses are not known here",
                "check the SPF record of " + domain + " for the cloud's include (" + include + ")"};
    return;
  }
  // Two records: receivers apply neither (RFC 7489 6.6.3), as with none.
  const int records = check.fields.value("records", 1);
  // A subdomain without a record of its own takes its parent's (sp=, else p=).
  const std::string policy_domain = check.fields.value("policy_domain", domain);
  const std::string inherited =
      policy_domain == domain ? std::string() : " (" + domain + " has no DMARC record of its own: the record of " + policy_domain + " applies, RFC 7489 6.6.3)";
  const std::string head = (enforced             ? "DMARC for " + domain + " is " + policy_shown + inherited
                            : records > 1        ? "_dmarc." + policy_domain + " has " + std::to_string(records) +
                                                       " DMARC records, which receivers ignore (RFC 7489 6.6.3)"
                            : policy.empty()     ? domain + " publishes no DMARC policy"
                            : policy != "none"   ? "DMARC for " + domain + " is " + policy_shown + inherited + " with pct=0, which applies it to no message (RFC 7489 6.6.4)"
                                                 : "DMARC for " + domain + " is p=none" + inherited) +
                           "; " + sent_on;
  // The From domain's SPF term that authorizes its MX gateway's servers.
  std::string gateway_term = from_gateway ? gateway_pass_term(spf_part, *from_gateway) : std::string();
  // Whether the gateway's servers pass, tested with an address its include
  // authorizes: when they do not, the gateway's route fails as Exchange
  // Online's does, and the record's fix is the fix on both routes.
  std::string gateway_fails;  // "; the servers of Mimecast fail it too (...)"; empty: they pass or were not tested
  std::string gateway_tested;  // " (tested: SPF pass for ADDRESS, ...)"
  bool gateway_include_broken = false;  // the gateway's include itself authorizes nothing
  // "; the servers of Mimecast fail it too (SPF permerror for ADDRESS, WHOSE: WHY), so ..."
  // The same, said alone (when Exchange Online's servers pass): "its servers get SPF permerror (for ADDRESS, ...)".
  std::string gateway_problem;
  const auto fails_too = [&](const std::string& result, const IpAddress& address, const std::string& whose, const std::string& why) {
    const std::string detail = " (SPF " + result + " for " + address.to_string() + ", " + whose + (why.empty() ? std::string() : ": " + why) + ")";
    gateway_problem = "its servers fail it" + detail;
    return "; the servers of " + from_gateway->name + " fail it too" + detail + ", so mail sent through " + from_gateway->name + " fails as well";
  };
  if (const auto* route = gateway_term.empty() ? nullptr : gateway_route(spf_part, gateway_term)) {
    const std::string& gateway = from_gateway->name;
    gateway_include_broken = !route->problem.empty();
    if (gateway_include_broken) {
      gateway_problem = "\"" + gateway_term + "\" " + (route->a_host.empty() ? "is its include" : "names its servers") + ", but " + route->problem;
      gateway_fails = "; the servers of " + gateway + " are not authorized either: " + gateway_problem + " (check its name against the setup guide of " +
                      gateway + ")";
    }
    else if (route->evaluation && route->evaluation->result == spf::SpfResult::pass)
      gateway_tested = " (tested: SPF pass for " + route->sample->to_string() + ", an address \"" + gateway_term + "\" authorizes)";
    else if (route->evaluation && route->evaluation->result != spf::SpfResult::temperror)
      gateway_fails = fails_too(std::string(spf::to_string(route->evaluation->result)), *route->sample,
                                "an address \"" + gateway_term + "\" authorizes",
                                !route->evaluation->reason.empty() && part.spf && part.spf->reason == route->evaluation->reason
                                    ? std::string("the same cause")
                                    : route->evaluation->reason);
    if (!gateway_fails.empty()) gateway_term.clear();
  }
  // The tenant's own gateway hosts: a permerror there fails the route as
  // above; a fail with the include's own addresses passing is an include
  // of another part of the vendor's network (another region), which may
  // not be what this tenant's mail leaves from: not tested, never fine.
  std::string gateway_hosts_fail;  // " (...)": the tenant's gateway MX hosts fail the record
  std::optional<IpAddress> failing_gateway_host;  // the address of the first that fails
  if (from_gateway && gateway_fails.empty())
    for (const auto& host : spf_part.gateway_hosts) {
      if (!host.evaluation || host.evaluation->result == spf::SpfResult::pass || host.evaluation->result == spf::SpfResult::temperror) continue;
      const std::string result = std::string(spf::to_string(host.evaluation->result));
      if (host.evaluation->result == spf::SpfResult::permerror && !gateway_term.empty()) {
        gateway_fails = fails_too(result, host.address, "the address of " + host.host + ", which takes mail for " + domain, host.evaluation->reason);
        gateway_term.clear();
        gateway_tested.clear();
      } else if (host.evaluation->result != spf::SpfResult::permerror && !gateway_term.empty() &&
                 (spf::is_include_term(gateway_term) || is_exists_term(gateway_term))) {
        // Only an include (or an exists: lookup per address, Cisco's
        // exists:%{i}.spf.hcNNNN-NN.iphmx.com) is a list of the vendor's
        // network that can be another region's or customer's; an a: term
        // names outbound hosts, which differ from the inbound ones
        // (Proofpoint Essentials' dispatch hosts).
        gateway_hosts_fail = host.host + " (" + host.address.to_string() + "), the " + from_gateway->name + " server that takes mail for " + domain +
                             ", gets SPF " + result;
        failing_gateway_host = host.address;
        gateway_tested.clear();
      }
      break;
    }
  // An exists: term is tested by the gateway's own hosts: every one passed.
  if (from_gateway && is_exists_term(gateway_term) && gateway_tested.empty() && gateway_hosts_fail.empty() && gateway_fails.empty())
    for (const auto& host : spf_part.gateway_hosts)
      if (host.evaluation && host.evaluation->result == spf::SpfResult::pass) {
        gateway_tested = " (tested: SPF pass for " + host.address.to_string() + ", the address of " + host.host + ")";
        break;
      }
  // Proofpoint Essentials' a: term names the dispatch hosts of one region;
  // the MX names the tenant's (mx1-us1 sends from dispatch-us).
  std::string gateway_replacement;  // the term to write instead, when known
  if (from_gateway && gateway_hosts_fail.empty() && gateway_fails.empty() && !spf_part.gateway_mx_hosts.empty())
    if (const std::string host = a_term_host(gateway_term); !host.empty()) {
      const std::string term_region = ppe_region(host, "dispatch"), mx_region = ppe_region(spf_part.gateway_mx_hosts.front(), "mx");
      if (!term_region.empty() && !mx_region.empty() && term_region != mx_region) {
        gateway_replacement = "a:dispatch-" + mx_region + ".ppe-hosted.com";
        gateway_hosts_fail = "the MX (" + spf_part.gateway_mx_hosts.front() + ") is in its " + mx_region + " region, whose outbound servers are " +
                             gateway_replacement.substr(2) + ", not " + host;
        gateway_tested.clear();
      }
    }
  if (spf_pass && !open_pass.id.empty()) {
    const std::string through = "\"" + open_pass.term + "\"" + (open_pass.via.empty() ? std::string() : " (reached through " + open_pass.via + ")");
    const bool fresh_record = record && *record != spf_part.published;
    check.status = Status::warn;
    check.message = head + ", which the SPF record of " + domain + " lets pass only through " + through +
                    ", a term that lets every address on the internet pass: " + (enforced ? "DMARC passes" : "SPF passes") +
                    " today, but closing that term, its fix, fails this mail unless Exchange Online's servers are added in the same change";
    check.remedy = fresh_record ? "Publish the SPF record below (verified): it authorizes Exchange Online's servers by include and no "
                                  "longer lets every address pass. Servers that passed only through \"" + open_pass.term +
                                      "\" fail with it: find them in your DMARC aggregate reports and add them first."
                                : "Add include:spf.protection.outlook.com before the all term of " + domain + " in the same change that closes \"" +
                                      open_pass.term + "\"; find the other servers that send as " + domain +
                                      " (DMARC aggregate reports) and add them too.";
    check.fields["passes_through"] = open_pass.term;
    step = Step{"dmarc", StepState::passed, "the SPF record of " + domain + " lets Exchange Online pass, but only through " + through, ""};
    return;
  }
  // Exchange Online's servers pass, but the record's gateway include does
  // not cover this tenant's own gateway: mail that leaves through it fails.
  if (spf_pass && !gateway_term.empty() && !gateway_hosts_fail.empty()) {
    const std::string& gateway = from_gateway->name;
    check.status = Status::warn;
    check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                    " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + " and the record names its " +
                    (spf::is_include_term(gateway_term) ? "include" : "servers") + " (\"" +
                    gateway_term + "\"), but " + gateway_hosts_fail + ": if Exchange Online sends its outbound mail through " + gateway +
                    ", receivers see servers that record may not authorize (\"" + gateway_term + "\" may be another region's or another customer's list)";
    check.remedy = "Check the outbound route: " + std::string(outbound_connectors) + ". If mail to "
                   "other organizations goes through " + gateway + ", replace \"" + gateway_term + "\" with " +
                   (!gateway_replacement.empty() ? "\"" + gateway_replacement + "\""
                                                 : "the include the setup guide of " + gateway + " (or its console) names for this tenant") +
                   (failing_gateway_host ? ", and check the record with sendcheck spf " + domain + " --ip " + failing_gateway_host->to_string()
                                         : std::string(" (sendcheck spf ") + domain + " --record \"NEW RECORD\" checks it)") + ".";
    check.fields["gateway"] = gateway;
    step = Step{"dmarc", StepState::untested,
                "mail sent on through " + gateway + " meets an SPF record that does not authorize this tenant's " + gateway + " server",
                std::string(outbound_connector_step) + "; if it routes through " + gateway + ", the include " + gateway + " names for this tenant"};
    return;
  }
  // Exchange Online's servers pass, but a qualifier on the gateway's own
  // include fails the gateway's servers: mail that leaves through it fails.
  if (spf_pass && from_gateway && gateway_term.empty() && !spf_part.qualified_gateway_term.empty()) {
    const std::string& gateway = from_gateway->name;
    const std::string& term = spf_part.qualified_gateway_term;
    const std::string qualifier = term.substr(0, 1);
    const std::string result(spf::to_string(spf::result_for(static_cast<spf::Qualifier>(term.front()))));
    check.status = Status::warn;
    check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                    " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + ", and the record names its " +
                    (spf::is_include_term(term) ? "include" : "servers") + " with \"" + qualifier + "\" in front (\"" + term + "\"): if Exchange Online sends its outbound mail through " + gateway +
                    ", receivers see servers that get SPF " + result + " from it, not pass" +
                    (!enforced ? std::string() : dkim ? std::string(", and DMARC passes only through DKIM") : ", and " + domain + no_dkim + ": DMARC fails");
    // A nested include's record is its owner's to change, not this one's.
    const std::string& holder = spf_part.qualified_gateway_record;
    const bool nested = !holder.empty() && holder != domain;
    check.remedy = "Check the outbound route: " + std::string(outbound_connectors) + ". Either way, "
                   "remove the \"" + qualifier + "\" in front of \"" + term.substr(1) + "\"" +
                   (nested   ? " in the SPF record of " + holder + " (the TXT record at that name, which the record of " + domain + " includes)"
                    : record ? std::string(": publish the SPF record below (verified)")
                             : " (sendcheck spf " + domain + " --suggest writes the record)") +
                   ": as it is, it gives the servers of " + gateway + " SPF " + result + ".";
    check.fields["gateway"] = gateway;
    step = Step{"dmarc", StepState::untested,
                "mail sent on through " + gateway + " meets \"" + term + "\", which gives its servers SPF " + result,
                std::string(outbound_connector_step) + ", and remove the \"" +
                    qualifier + "\" in front of \"" + term.substr(1) + "\""};
    return;
  }
  // Exchange Online's servers pass, but the gateway's do not (its include
  // past the lookup limit, after names that find nothing, or broken), or the
  // record names no outbound server of the gateway at all: mail that leaves
  // through the gateway, as it does for many tenants whose MX it is, fails.
  // Which route the tenant takes does not show in DNS: not tested.
  const bool route_untested = spf_pass && !gateway_term.empty() && gateway_tested.empty() && gateway_fails.empty();
  if (route_untested) gateway_problem = "whether its servers pass \"" + gateway_term + "\" was not tested (no address of it could be evaluated)";
  if (spf_pass && from_gateway && (!gateway_fails.empty() || route_untested || (gateway_term.empty() && spf_part.qualified_gateway_term.empty()))) {
    const std::string& gateway = from_gateway->name;
    const std::string via_gateway = "if Exchange Online sends its outbound mail through " + gateway + " (an outbound connector with " + gateway +
                                    " as its smart host), receivers see the servers of " + gateway;
    const std::string outcome = !enforced ? std::string(" and SPF fails")
                                : dkim    ? std::string(" and DMARC passes only through DKIM")
                                          : ", and " + domain + no_dkim + ": DMARC fails";
    check.status = Status::warn;
    if (route_untested) {
      check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                      " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + ", and " + gateway_problem + ": " + via_gateway;
      check.remedy = "Check the outbound route: " + std::string(outbound_connectors) + ". If mail to other organizations goes through " + gateway +
                     ", check the SPF record of " + domain + " with sendcheck spf " + domain + " --ip followed by one of its outbound addresses.";
    } else if (!gateway_fails.empty()) {
      check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                      " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + ", but " + gateway_problem + ": " + via_gateway + outcome;
      const auto* route = gateway_route_of(spf_part, *from_gateway);
      check.remedy = "Check the outbound route: " + std::string(outbound_connectors) + ". If mail to other organizations goes through " + gateway +
                     ", fix the SPF record of " + domain + " for its servers" +
                     (route && route->sample ? " (sendcheck spf " + domain + " --ip " + route->sample->to_string() + " --suggest writes a verified record)"
                                             : " (check the include's name against the setup guide of " + gateway + ")") + ".";
    } else if (const auto after_all = std::find_if(spf_part.after_all_terms.begin(), spf_part.after_all_terms.end(),
                                                   [&](const std::string& term) { return names_gateway(term, *from_gateway); });
               after_all != spf_part.after_all_terms.end()) {
      check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                      " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + ", and the record names \"" + *after_all +
                      "\" only after its all term, where it is never evaluated: " + via_gateway + outcome;
      check.remedy = "Move \"" + *after_all + "\" before the all term in the SPF record of " + domain +
                     " (sendcheck spf " + domain + " --record \"NEW RECORD\" checks it before you publish it); then mail that leaves through " +
                     gateway + " (Get-OutboundConnector shows whether it does) passes too.";
    } else {
      check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes") +
                      " when Exchange Online sends directly. " + domain + "'s MX is " + gateway + ", and the record authorizes none of its outbound "
                      "servers (it names no include of " + gateway + "'s; the MX hosts take mail in, not out): " + via_gateway + outcome;
      check.remedy = "Check the outbound route: " + std::string(outbound_connectors) + ". If mail to other organizations goes through " + gateway +
                     ", add the include that the setup guide of " + gateway + " (or its console) names for its outbound servers to the SPF record of " +
                     domain + " (sendcheck spf " + domain + " --record \"NEW RECORD\" checks it before you publish it); if it goes directly, nothing "
                     "needs to change.";
    }
    check.fields["gateway"] = gateway;
    const bool named_after_all = std::any_of(spf_part.after_all_terms.begin(), spf_part.after_all_terms.end(),
                                             [&](const std::string& term) { return names_gateway(term, *from_gateway); });
    step = Step{"dmarc", StepState::untested,
                "mail sent on through " + gateway + " meets an SPF record that " +
                    (route_untested          ? std::string("was not tested for its servers")
                     : named_after_all       ? std::string("names its include only after the all term")
                     : !gateway_fails.empty() ? std::string("fails its servers")
                                              : "authorizes none of its outbound servers"),
                std::string(outbound_connector_step) + "; if it routes through " + gateway + ", " +
                    (route_untested || !gateway_fails.empty() ? std::string("check the SPF record for its servers")
                     : named_after_all                         ? std::string("move its include before the all term")
                                                               : "add the include " + gateway + " names for its outbound servers")};
    return;
  }
  if (spf_pass) {
    check.status = Status::pass;
    check.message = head + ", which the SPF record of " + domain + " authorizes: " + (enforced ? "DMARC passes through SPF" : "SPF passes");
    check.remedy.clear();
    step = Step{"dmarc", StepState::passed, "the SPF record of " + domain + " authorizes Exchange Online", ""};
    return;
  }
  // A permerror (the lookup limit reached before Microsoft's include, a
  // broken include) is not fixed by adding an include that may be there.
  const bool spf_broken = part.spf && part.spf->result == spf::SpfResult::permerror;
  // The term of the domain's record that decided for Exchange Online's
  // server; a qualifier on Microsoft's include itself ("~include:...") shows
  // the include is there.
  const std::string deciding = part.spf && part.spf->path.size() > 1 ? part.spf->path[1] : std::string();
  const bool on_include = !deciding.empty() && (deciding.front() == '-' || deciding.front() == '~' || deciding.front() == '?') &&
                          deciding.find("include:") == 1 && spf::is_microsoft_include(deciding.substr(9));
  // What to change in the record, in words; with a verified record, that
  // record is how (it is shown below the rows).
  const std::string publish = "publish the SPF record below (verified; it authorizes Exchange Online's servers)";
  const std::string check_new = " (sendcheck spf " + domain + " --record \"NEW RECORD\" checks it before you publish it)";
  std::string fix_spf;
  if (spf_broken) {
    // The limit that was reached says what to change: a void lookup is a
    // name that finds nothing, not one lookup too many.
    const std::string within =
        part.spf->limit_reached == spf::LimitReached::void_lookups
            ? "so that no more than 2 of the names it looks up find nothing for Exchange Online's servers (RFC 7208 4.6.4: put "
              "include:spf.protection.outlook.com before the terms that find nothing for them, such as exists:%{i}... or a/mx "
              "hosts without records)"
        : part.spf->limit_reached == spf::LimitReached::lookups
            ? "so that include:spf.protection.outlook.com is reached within 10 DNS lookups"
            : "so that it evaluates without error";
    fix_spf = record ? publish
                     : "fix the SPF record of " + domain + ", which ends in permerror for Exchange Online's addresses (" + part.spf->reason +
                           "), " + within + " (sendcheck spf " + domain + (plan.ip ? " --ip " + plan.ip->to_string() : std::string()) +
                           " --suggest writes a verified record)";
  } else if (part.spf && !deciding.empty() && (on_include || spf_part.microsoft_included.value_or(false))) {
    // The include is there: a term before it decides for Exchange Online's
    // servers first (-ip4:40.0.0.0/8), or a qualifier on the include itself.
    fix_spf = (on_include ? "remove the \"" + std::string(1, deciding.front()) + "\" in front of \"" + deciding + "\" in the SPF record of " + domain
                          : "put include:spf.protection.outlook.com before \"" + deciding + "\" in the SPF record of " + domain +
                                ", which decides for Exchange Online's servers first") +
              (record ? ": " + publish : check_new);
  } else if (!spf_part.microsoft_after_all.empty())
    fix_spf = "move \"" + spf_part.microsoft_after_all + "\" before the all term in the SPF record of " + domain +
              " (terms after it are never evaluated)" + (record ? ": " + publish : check_new);
  else
    fix_spf = record ? publish : "add include:spf.protection.outlook.com to the one SPF record of " + domain + check_new;
  // Behind a gateway the mail may leave through it instead: then its own
  // servers are what the record must authorize.
  // (An include of the gateway's that works, behind a broken term, needs
  // no other include: the record's fix is the fix for its servers too.)
  // A qualifier on the gateway's own include ("~include:...") is the fault
  // on that route: adding the include again would not change the result.
  if (const std::string& term = spf_part.qualified_gateway_term; from_gateway && gateway_term.empty() && !term.empty()) {
    // The record removes it only from the domain's own record, not from an included one.
    const std::string& holder = spf_part.qualified_gateway_record;
    const bool in_own_record = holder.empty() || holder == domain;
    fix_spf += record && in_own_record ? " (the record also removes the \"" + term.substr(0, 1) + "\" in front of \"" + term.substr(1) + "\", which fails the servers of " +
                            from_gateway->name + " if Exchange Online sends its outbound mail through them)"
                      : " (if Exchange Online sends its outbound mail through " + from_gateway->name + " (Get-OutboundConnector), remove the \"" +
                            term.substr(0, 1) + "\" in front of \"" + term.substr(1) + "\"" +
                            (in_own_record ? std::string() : " in the SPF record of " + holder) + " as well: it fails the servers of " +
                            from_gateway->name + ")";
  } else if (from_gateway && gateway_term.empty() && gateway_include_broken)
    // The gateway's include is there but authorizes nothing: its name is the fault.
    fix_spf += " (if Exchange Online sends its outbound mail through " + from_gateway->name + " (Get-OutboundConnector), " + gateway_problem +
               ": check it against the setup guide of " + from_gateway->name + ")";
  else if (from_gateway && gateway_term.empty() && gateway_fails.empty())
    fix_spf += " (if Exchange Online sends its outbound mail through " + from_gateway->name + " (Get-OutboundConnector), add the "
               "include that the setup guide of " + from_gateway->name + " names for its outbound servers instead)";
  // The record keeps the gateway term that misses this tenant's own server.
  if (record && !gateway_hosts_fail.empty() && !gateway_term.empty())
    fix_spf += " (it keeps \"" + gateway_term + "\", which does not cover this tenant's " + from_gateway->name +
               " server: replace that too if any mail leaves through " + from_gateway->name + ")";
  // Mail that comes in through a gateway often goes out through it too (an
  // outbound connector with the gateway as smart host): receivers then see
  // the gateway's servers, which the record authorizes. Which route this
  // tenant takes does not show in DNS, so the failure is not a fact.
  const std::string connector_check =
      from_gateway ? std::string(outbound_connectors) + " (or Exchange admin center > "
                     "Mail flow > Connectors: a connector from Office 365 to your organization's email server or partner "
                     "organization whose smart host is " + from_gateway->name + ")"
                   : std::string();
  // A record in permerror for Exchange Online's servers whose gateway route
  // could not be evaluated: "nothing needs to change" is not known.
  const bool untested_route = (spf_broken && gateway_tested.empty()) || !gateway_hosts_fail.empty();
  const std::string gateway_name = from_gateway ? from_gateway->name : std::string();
  const std::string untested_judge =
      !gateway_hosts_fail.empty()
          ? "judge them by that record, which does not authorize this tenant's own " + gateway_name + " server: " + gateway_hosts_fail +
                " (\"" + gateway_term + "\" passes its own addresses: it may be another region's or another customer's list than this tenant's)"
          : std::string("judge them by that record (whether it evaluates for them without error was not tested)");
  const std::string untested_check =
      !gateway_replacement.empty()
          ? ", replace \"" + gateway_term + "\" with \"" + gateway_replacement + "\" (" + gateway_hosts_fail + ")"
      : !gateway_hosts_fail.empty()
          ? ", check that \"" + gateway_term + "\" is the include the setup guide of " + gateway_name + " (or its console) names for this tenant (" +
                gateway_hosts_fail + " with it)"
          : ", check that the SPF record of " + domain + " evaluates without error for the servers of " + gateway_name +
                " (sendcheck spf " + domain + " --ip followed by one of its outbound addresses)";
  if (dkim && !gateway_term.empty()) {
    const std::string& gateway = from_gateway->name;
    check.status = Status::warn;
    check.message = head + ". The SPF record of " + domain + " authorizes the servers of " + gateway + " (\"" + gateway_term +
                    "\") and not Exchange Online's (SPF " + std::string(spf::to_string(part.spf->result)) + " for " + part.spf_address +
                    (spf_broken ? ": " + part.spf->reason : std::string()) + "), and " + domain + "'s MX is " + gateway +
                    ": if Exchange Online sends its outbound mail through " + gateway + ", receivers see the servers of " + gateway +
                    (untested_route ? " and " + untested_judge
                                    : (enforced ? std::string(" and DMARC passes through SPF") : std::string(" and SPF passes")) + gateway_tested) +
                    "; if it sends directly, " + (enforced ? "DMARC passes only through DKIM" : "the mail is authenticated only through DKIM") +
                    ". " + domain + " publishes Microsoft 365's DKIM CNAMEs; whether signing is on, and which route the tenant uses, "
                    "do not show in DNS";
    check.remedy = "Check the outbound route: " + connector_check + ". If mail to other organizations goes through " + gateway +
                   (untested_route ? untested_check
                                   : std::string(", nothing needs to change")) + "; if not, check that DKIM signing is on for " + domain + " (Get-DkimSigningConfig -Identity " +
                   domain + " | Format-List Enabled, or Microsoft Defender portal > Email authentication settings > DKIM), or " + fix_spf + ".";
    check.fields["gateway"] = gateway;
    step = Step{"dmarc", StepState::untested,
                std::string(enforced ? "DMARC" : "SPF or DKIM") + " at other organizations depends on the outbound route through " + gateway +
                    " or on DKIM signing for " + domain + " being on",
                std::string(outbound_connector_step) + "; if it does not route through " + gateway + ": Get-DkimSigningConfig -Identity " + domain + " | Format-List Enabled; or " + fix_spf};
    return;
  }
  if (dkim) {
    check.status = Status::warn;
    check.message = head + ", which the SPF record of " + domain + " does not authorize" + gateway_fails + ": " +
                    (enforced ? "DMARC passes only through DKIM. " : "the mail is authenticated only through DKIM. ") + domain +
                    " publishes Microsoft 365's DKIM CNAMEs; whether signing is on does not show in DNS";
    check.remedy = "Check that DKIM signing is on for " + domain + " (Get-DkimSigningConfig -Identity " + domain +
                   " | Format-List Enabled, or Microsoft Defender portal > Email authentication settings > DKIM), or " + fix_spf + ".";
    step = Step{"dmarc", StepState::untested, std::string(enforced ? "DMARC" : "SPF or DKIM") + " at other organizations depends on DKIM signing for " + domain + " being on",
                "Get-DkimSigningConfig -Identity " + domain + " | Format-List Enabled; or " + fix_spf};
    return;
  }
  if (spf_undecided && !part.undecided.empty() && !dkim_unknown) {
    check.status = Status::error;
    check.message = head + "; " + part.undecided;
    check.remedy = "Check that the SPF record of " + domain + " includes spf.protection.outlook.com, or set up DKIM for " + domain +
                   "; then run again (Microsoft publishes its outbound ranges in that record).";
    step = Step{"dmarc", StepState::untested, "Exchange Online's outbound addresses could not be told from Microsoft's SPF record",
                "run again"};
    return;
  }
  if (spf_undecided || dkim_unknown) {
    check.status = Status::error;
    check.message = head + "; whether the SPF record of " + domain + " authorizes them, or " + domain + " has DKIM, could not be looked up";
    check.remedy = "Run again, or ask another resolver with --dns.";
    step = Step{"dmarc", StepState::untested, "the SPF or DKIM lookups for " + domain + " failed", "run again, or --dns"};
    return;
  }
  if (!gateway_term.empty()) {
    const std::string& gateway = from_gateway->name;
    check.status = Status::warn;
    check.message = head + ". The SPF record of " + domain + " authorizes the servers of " + gateway + " (\"" + gateway_term +
                    "\") and not Exchange Online's (SPF " + std::string(spf::to_string(part.spf->result)) + " for " + part.spf_address +
                    (spf_broken ? ": " + part.spf->reason : std::string()) + "), and " + domain + "'s MX is " + gateway +
                    ": if Exchange Online sends its outbound mail through " + gateway + ", receivers see the servers of " + gateway + " and " +
                    (untested_route ? untested_judge
                                    : (enforced ? std::string("DMARC passes through SPF") : std::string("SPF passes")) + gateway_tested) +
                    "; if it sends directly, " + (enforced ? "DMARC fails, and the mail is " + effect : "it gets SPF " + std::string(spf::to_string(part.spf->result))) +
                    ". Which route the tenant uses does not show in DNS";
    check.remedy = "Check the outbound route: " + connector_check + ". If mail to other organizations goes through " + gateway +
                   (untested_route ? untested_check
                                   : std::string(", nothing needs to change")) + "; if not, " + fix_spf + ", or set up DKIM for " + domain +
                   ": Microsoft Defender portal > Email authentication settings > DKIM, publish the two CNAME records it shows "
                   "(selector1._domainkey and selector2._domainkey" + moved_dkim + "), then turn signing on.";
    check.fields["gateway"] = gateway;
    step = Step{"dmarc", StepState::untested,
                "mail sent on to other organizations passes SPF only if Exchange Online sends it through " + gateway +
                    ", which the SPF record of " + domain + " authorizes",
                std::string(outbound_connector_step) + "; if it does not route through " + gateway + ": " + fix_spf};
    return;
  }
  if (!enforced) {
    // No DMARC policy to apply, but receivers still judge SPF and DKIM:
    // RFC 7208 8.4 lets them refuse an SPF fail, and Gmail refuses mail that
    // passes neither (550 5.7.26, https://support.google.com/mail/answer/81126).
    const bool hard_fail = part.spf->result == spf::SpfResult::fail;
    check.status = hard_fail ? Status::fail : Status::warn;
    check.message = head + ", which the SPF record of " + domain + " does not authorize (SPF " + std::string(spf::to_string(part.spf->result)) +
                    " for " + part.spf_address + (spf_broken ? ": " + part.spf->reason : std::string()) + ")" + gateway_fails + ", and " + domain +
                    no_dkim + ": " +
                    (hard_fail ? "receivers that act on SPF refuse mail that fails it (RFC 7208 8.4), and Gmail refuses mail that passes "
                                 "neither SPF nor DKIM (550 5.7.26)"
                               : "receivers that require SPF or DKIM to pass (Gmail: 550 5.7.26) refuse it, and others may send it to Junk");
    check.remedy = "Either " + fix_spf + ", or set up DKIM for " + domain +
                   ": Microsoft Defender portal > Email authentication settings > DKIM, publish the two CNAME records it shows "
                   "(selector1._domainkey and selector2._domainkey" + moved_dkim + "), then turn signing on.";
    if (hard_fail)
      step = Step{"dmarc", StepState::failed, "Exchange Online fails the SPF of " + domain + " (-all), and no DKIM: receivers refuse it", ""};
    else
      step = Step{"dmarc", StepState::untested,
                  "mail from Exchange Online passes neither SPF nor DKIM for " + domain + ": whether receivers take it is up to them",
                  fix_spf + ", or set up DKIM for " + domain};
    return;
  }
  check.status = Status::fail;
  check.message = head + ", which the SPF record of " + domain + " does not authorize (SPF " + std::string(spf::to_string(part.spf->result)) +
                  " for " + part.spf_address + (spf_broken ? ": " + part.spf->reason : std::string()) + ")" + gateway_fails + ", and " + domain +
                  no_dkim + ": DMARC fails, and the mail is " + effect;
  check.remedy = "Either " + fix_spf + ", or set up DKIM for " + domain +
                 ": Microsoft Defender portal > Email authentication settings > DKIM, publish the two CNAME records it shows "
                 "(selector1._domainkey and selector2._domainkey" + moved_dkim + "), then turn signing on.";
  step = Step{"dmarc", StepState::failed,
              "DMARC " + policy_shown + " at other organizations: " +
                  (spf_broken ? "the SPF of " + domain + " ends in permerror for Exchange Online"
                   : on_include ? "a qualifier on Microsoft's include in the SPF of " + domain + " fails Exchange Online"
                   : spf_part.microsoft_included.value_or(false)
                       ? "a term of the SPF of " + domain + " fails Exchange Online before Microsoft's include"
                       : "Exchange Online is not in the SPF of " + domain) +
                  (gateway_fails.empty() ? std::string() : " (and " + from_gateway->name + "'s servers fail it too)") + ", and no DKIM",
              ""};
}

// A listing whose every answer is a Spamhaus PBL code (127.0.0.10 by the
// ISP, 127.0.0.11 by Spamhaus: https://docs.spamhaus.com/datasets/docs/source/10-data-type-documentation/datasets/040-zones.html).
bool pbl_only(const Check& check) {
  if (!check.fields.contains("answers") || !check.fields["answers"].is_array() || check.fields["answers"].empty()) return false;
  if (check.fields.value("list", std::string()).find("spamhaus") == std::string::npos) return false;
  for (const auto& answer : check.fields["answers"])
    if (!answer.is_string() || (answer != "127.0.0.10" && answer != "127.0.0.11")) return false;
  return true;
}

// DMARC, the blocklists and the IPv6 reverse DNS, on the caller's loop;
// done runs once all three are.
void start_reputation(dns::Resolver& resolver, const Plan& plan, const std::optional<IpAddress>& ip, ReputationPart& part,
                      std::function<void()> done) {
  auto work = dns::Work::create(resolver, std::move(done));
  if (ip && !ip->is_v4()) start_reverse_v6(resolver, *ip, part, work->hold());
  const bool want_dmarc = !plan.from_domain.empty() && !is_submission(plan.method);
  // The DMARC questions (the From domain's, then its parents') ride in the blocklist check's round trip.
  if (want_dmarc) query_dmarc(*work, plan.from_domain, part.dmarc_lookups);
  work->close();
  if (!ip) {
    part.blocklist.checks.push_back(skipped("blocklist.ip", "no device address (--ip or --egress)"));
    return;
  }
  if (is_non_public(address_scope(*ip))) {
    part.blocklist.checks.push_back(skipped("blocklist.private-address", ip->to_string() + " is " + std::string(describe(address_scope(*ip))) + "; blocklists list public addresses only"));
    return;
  }
  std::vector<blocklist::ListSpec> lists = blocklist::builtin_lists();
  for (const auto& path : plan.blocklist_tables) {
    auto extra = blocklist::read_list_file(path);
    if (!extra) {
      part.blocklist.checks.push_back(Check{"blocklist.table", Status::error, extra.error().message, "Fix the --blocklist-zones file.", {}});
      return;
    }
    blocklist::merge_lists(lists, std::move(extra.value()));
  }
  // The selected lists point into the table: it lives as long as the check.
  auto table = std::make_shared<std::vector<blocklist::ListSpec>>(std::move(lists));
  auto selected = blocklist::select_lists(*table, plan.lists, blocklist::Secrets{});
  if (!selected) {
    part.blocklist.checks.push_back(Check{"blocklist.lists", Status::error, selected.error().message, "Check --list.", {}});
    return;
  }
  blocklist::start_ips(resolver, {{*ip, "argument"}}, *selected,
                       [table, count = selected->size(), servers = resolver.servers(), &part, done = work->hold()](std::vector<blocklist::IpReport> ips) {
                         blocklist::RunSummary run;
                         run.ips = std::move(ips);
                         run.servers = servers;
                         run.zone_overlay = true;
                         run.lists_selected = count;
                         Report report = blocklist::make_report(run, blocklist::Secrets{}, nullptr, TextStyle{});
                         part.blocklist.checks = report.checks();
                         for (auto& check : part.blocklist.checks)
                           if (check.id == "blocklist.listed" && check.status == Status::fail && pbl_only(check)) {
                             // The Spamhaus PBL lists end-user ranges, not abuse. Microsoft does not
                             // document that Exchange Online refuses PBL-listed senders (it keeps its
                             // own lists; EOP refusals "blocked using Spamhaus" are reported in the
                             // wild without saying which list: https://smtpfieldmanual.com/spamfilter/exchangeonline),
                             // so a PBL listing is a warning here (sendcheck-blocklist, which judges
                             // sending to any receiver, fails it), and leaves the verdict NOT VERIFIED.
                             check.status = Status::warn;
                             check.message += ". Microsoft does not document whether Exchange Online refuses PBL-listed addresses (it has "
                                              "refused senders \"blocked using Spamhaus\"), and many other receivers do";
                             check.remedy = "If this is the device's static business address, ask for its removal from the PBL at https://check.spamhaus.org/ "
                                            "(the ISP for a range it listed itself); mail sent on through SMTP AUTH leaves from Microsoft's addresses instead.";
                           }
                         part.blocklist_json = report.fields();
                         done();
                       });
}

// What a second session without the client certificate showed about the
// connector that accepted an external recipient.
enum class CertificateEvidence { not_compared, certificate_decides, accepted_without };

struct SmtpPart {
  Section section{"smtp", "SMTP", {}};
  Section auth{"auth", "Authentication", {}};
  nlohmann::json json;
  std::string target, host;
  std::vector<Step> steps;  // smtp, auth, envelope, connector
};

bool is_microsoft_endpoint(std::string_view host) {
  if (mx::is_microsoft(mx::classify_host(host).provider)) return true;
  for (std::string_view suffix : {"office365.com", "mx.microsoft", "azurecomm.net", "outlook.com", "office365.us", "outlook.cn", "exchangelabs.com"})
    if (host == suffix || host.ends_with("." + std::string(suffix))) return true;
  return false;
}

// Text for the verdict line, cut at a word boundary near `limit` so that
// no URL or host name is cut in the middle.
std::string shorten(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  auto cut = text.rfind(' ', limit);
  if (cut == std::string::npos || cut < limit / 2) {
    cut = text.find(' ', limit);
    if (cut == std::string::npos) return text;
  }
  std::string out = text.substr(0, cut);
  while (!out.empty() && (out.back() == ',' || out.back() == ';' || out.back() == ':')) out.pop_back();
  return out + " ...";
}

std::string short_reply(const smtp::Reply& reply) {
  std::string text = std::to_string(reply.code) + (reply.enhanced.empty() ? "" : " " + reply.enhanced);
  const std::string body = shorten(reply.text(), 60);
  return text + " " + body;
}

// What to give to test AUTH, by method.
std::string credentials_to_give(Method method) {
  switch (method) {
    case Method::hve: return "--user with the HVE account and --password-file (or --oauth-token-file)";
    case Method::acs:
      return "--user <ACS resource>.<Entra app ID>.<Entra tenant ID> and --password-file with the Entra app's client secret";
    default: return "--user and --oauth-token-file, or --client-id, --client-secret-file and --tenant (a password with --password-file)";
  }
}

// 5.7.139 from Microsoft Entra (security defaults, Conditional Access, MFA,
// an authentication policy), not the SMTP AUTH switch: no Exchange switch
// lifts it, so re-enabling basic authentication is no stopgap.
// 5.7.139 that names Exchange's SMTP AUTH switch, which Set-CASMailbox lifts
// for one mailbox ("SmtpClientAuthentication is disabled for the Tenant").
bool names_smtp_auth_switch(const smtp::Reply& reply) {
  return reply.enhanced == "5.7.139" && ascii::to_lower(reply.text()).find("smtpclientauthentication is disabled") != std::string::npos;
}

bool blocked_by_entra(const smtp::Reply& reply) {
  if (reply.enhanced != "5.7.139") return false;
  const std::string text = ascii::to_lower(reply.text());
  return text.find("basic authentication is disabled") != std::string::npos || text.find("security defaults") != std::string::npos ||
         text.find("did not meet the criteria") != std::string::npos;
}

// The remedy for a refused AUTH, by method and reply: the fix first, a
// stopgap last and only where it can help.
std::string auth_remedy(const Plan& plan, const smtp::Reply& reply) {
  if (plan.method == Method::hve)
    return "HVE accounts are managed in the Exchange admin center > Mail flow > High volume email (not with Set-CASMailbox): check that "
           "the account exists and reset its password there; for OAuth, allow the app with Add-HVEAppAccess.";
  if (plan.method == Method::acs)
    return "ACS authenticates the Entra application: the user name is <ACS resource>.<Entra app ID>.<Entra tenant ID> (or with '|'), "
           "the password is a current client secret's Value (not its Secret ID), and the app needs a role on the Communication "
           "Services resource that allows sending "
           "(https://learn.microsoft.com/azure/communication-services/quickstarts/email/send-email-smtp/smtp-authentication).";
  const std::string mailbox = plan.user.empty() ? "<mailbox>" : plan.user;
  const bool basic = plan.auth == smtp::AuthMechanism::login;
  const std::string move = "Move the device to OAuth (XOAUTH2) if its firmware supports it, or to a method without basic authentication "
                           "(direct send or an inbound connector; High Volume Email for internal recipients).";
  const std::string enable = "Set-CASMailbox -Identity " + mailbox + " -SmtpClientAuthenticationDisabled $false";
  // A device already on OAuth has no password to check and nothing to move
  // to: its token and its app are what to check.
  const bool oauth = plan.auth == smtp::AuthMechanism::xoauth2;
  const std::string check_token =
      "Check the token: its audience must be " +
      std::string(plan.oauth_scope.find("office365.us") != std::string::npos
                      ? "https://outlook.office365.us (the U.S. Government cloud)"
                      : "https://outlook.office.com (a user's token, with SMTP.Send) or https://outlook.office365.com (an application's)") +
      ", it must not have expired, and the user= of the XOAUTH2 string must be " + mailbox +
      "; an application needs SMTP.SendAsApp (or an RBAC role assignment) and its service principal registered in Exchange "
      "(New-ServicePrincipal) with rights on " + mailbox + ".";
  const std::string next = oauth ? check_token : move;
  if (reply.enhanced == "5.7.30")
    // The refusal of basic authentication itself: turning SMTP AUTH on for
    // the mailbox does not bring it back.
    return move + " 5.7.30 is Exchange Online refusing basic authentication for this submission, so re-enabling SMTP AUTH for the "
                  "mailbox does not help (sendcheck explain 5.7.30).";
  if (reply.enhanced == "5.7.139") {
    // 5.7.139 has several causes, each named in its text; only the SMTP AUTH
    // switch is lifted by Set-CASMailbox (sendcheck explain lists them).
    const std::string text = ascii::to_lower(reply.text());
    if (text.find("credentials were incorrect") != std::string::npos)
      return (oauth ? "Microsoft Entra refused the token's sign-in as " + mailbox + ". " + check_token +
                          " The failed sign-in in the Entra sign-in logs names the reason"
                    : "Check the user name (the full address of " + mailbox + ") and its password. " + move) +
             " (sendcheck explain 5.7.139)";
    if (blocked_by_entra(reply) && oauth)
      // Security defaults and Exchange authentication policies block basic
      // authentication, not tokens: for OAuth it is Conditional Access.
      return "Whatever the SMTP AUTH switches say, Microsoft Entra blocked this token's sign-in as " + mailbox +
             ": for OAuth that is a Conditional Access policy (security defaults and Exchange authentication policies block "
             "only password logins); the failed sign-in in the Entra sign-in logs names the policy. " + check_token +
             " Set-CASMailbox does not lift it (sendcheck explain 5.7.139).";
    if (blocked_by_entra(reply))
      return move + " Whatever the SMTP AUTH switches say, this sign-in is blocked by Microsoft Entra: security defaults (which "
                    "cannot exempt one account), a Conditional Access policy or multifactor authentication, or an Exchange "
                    "authentication policy; the failed sign-in in the Entra sign-in logs names which. Set-CASMailbox does not "
                    "lift it (sendcheck explain 5.7.139).";
    // The SMTP AUTH switch (organization or mailbox) blocks OAuth as well.
    // Another cause the reply names (a locked account, the organization's
    // configuration): the sign-in log says which; the switch is one of them.
    if (!names_smtp_auth_switch(reply))
      return "Look up this failed sign-in of " + mailbox + " in the Microsoft Entra sign-in logs: its failure reason names the cause "
             "(a locked or disabled account, a policy, the SMTP AUTH switch). If it is the switch, " + enable +
             " turns SMTP AUTH on for just this mailbox. " + next + " (sendcheck explain 5.7.139)";
    // The switch comes first: OAuth is refused with it off as well.
    return basic ? "SMTP AUTH is off for " + mailbox + " (the organization's or the mailbox's switch), which blocks OAuth too: " + enable +
                       " turns it on for just this mailbox. Then " + ascii::to_lower(move.substr(0, 1)) + move.substr(1) +
                       " With basic authentication the device works only until it is disabled by default at the end of December 2026 "
                       "(an admin can re-enable it until the final removal, whose date Microsoft will announce in the second half of 2027) "
                       "(sendcheck explain 5.7.139)."
                 : "SMTP AUTH must be on for " + mailbox + " (the switch blocks OAuth too): " + enable +
                       " turns it on for just this mailbox (sendcheck explain 5.7.139).";
  }
  if (oauth) return check_token;
  if (basic)
    return "Check the user name (the full address of " + mailbox + ") and its password. " + move +
           " Basic authentication for SMTP AUTH is disabled by default at the end of December 2026.";
  return move;
}

// Days from today to the end of December 2026, when basic authentication
// for SMTP AUTH is disabled by default (MC786329, updated 2026-01-27).
long basic_auth_days_left() {
  using namespace std::chrono;
  const auto today = floor<days>(system_clock::now());
  return static_cast<long>((sys_days{year{2026} / December / 31} - today).count());
}

// "in 29 days", "now", "already": for the verdict line.
std::string basic_auth_days() {
  const long left = basic_auth_days_left();
  if (left > 1) return "in " + std::to_string(left) + " days";
  return left >= 0 ? "now" : "already disabled by default";
}

// The basic-authentication timeline as a countdown from today (MC786329,
// updated 2026-01-27): disabled by default at the end of December 2026.
std::string basic_auth_countdown() {
  const long left = basic_auth_days_left();
  std::string when;
  if (left > 1) when = "is disabled by default in " + std::to_string(left) + " days, at the end of December 2026";
  else if (left >= 0) when = "is disabled by default at the end of December 2026, now";
  else when = "has been disabled by default since the end of December 2026";
  return "Basic authentication for SMTP AUTH " + when +
         "; admins can re-enable it until the final removal, whose date Microsoft will announce in the second half of 2027. Every device still using it is listed in "
         "the Exchange admin center > Reports > Mail flow > SMTP AUTH clients (Authentication Protocol column).";
}

// Replies that depend on the address the session came from: an IP-matched
// connector (5.7.64), Reject Direct Send's connector check (5.7.68), and
// Microsoft's IP bans and reputation (5.7.606-649, 5.7.511, 5.7.708).
bool source_dependent(const smtp::Reply& reply) {
  const std::string& code = reply.enhanced;
  if (code == "5.7.64" || code == "5.7.68" || code == "5.7.511" || code == "5.7.708") return true;
  if (code.starts_with("5.7.6") && code.size() == 7) {
    const int detail = std::atoi(code.c_str() + 4);
    return detail >= 606 && detail <= 649;
  }
  return false;
}

// The session runs from this machine. With --ip, unless --egress found that
// address to be this machine's, the session is not known to be the device's,
// so a result that depends on the source address says nothing about the
// device (issue 14, "Inputs and vantage point").
bool tested_from_elsewhere(const Plan& plan) { return plan.ip.has_value() && !plan.session_from_device; }

// A reply that would be the device's only if the device had sent it. Direct
// send's 5.7.64 for an external recipient is not: direct send never relays.
bool depends_on_source(const Plan& plan, const smtp::Reply& reply) {
  return tested_from_elsewhere(plan) && source_dependent(reply) && !(reply.enhanced == "5.7.64" && plan.method == Method::direct_send);
}

std::string vantage_note(const Plan& plan) {
  return "This session came from this machine, not from the device's " + plan.ip->to_string() +
         ": a connector that matches the device's address cannot match it here. ";
}

// What to test from the device's network instead. --egress beside --ip
// confirms that the session comes from that address.
std::string from_device_network(const Plan& plan) {
  return std::string(plan.egress ? "run the same command on a computer in the device's network"
                                 : "run the same command with --egress added on a computer in the device's network") +
         " (the session then comes from " + plan.ip->to_string() + ")";
}

// The findings the replies that decide a method carry (5.7.68, 5.7.64, 4.4.62).
void add_reply_findings(const Plan& plan, const smtp::SessionResult& session, std::vector<Check>& checks) {
  const std::size_t first_finding = checks.size();
  bool seen_68 = false, seen_64 = false;
  const std::string ip_text = plan.ip ? "the device's IP address " + plan.ip->to_string() : std::string("the device's static public IP address");
  // Microsoft's guide, option 3 (https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365).
  const std::string create_connector =
      "If no inbound connector exists for the device, create one: Exchange admin center > Mail flow > Connectors > Add a connector, from "
      "\"Your organization's email server\" to \"Microsoft 365\", identified by " + ip_text +
      " (static and used only by your organization), or by a certificate whose CN or SAN is an accepted domain. If one exists, compare its "
      "addresses with the device's current public IP (Get-InboundConnector | Format-List Name,SenderIPAddresses,TlsSenderCertificateName) "
      "and update them (https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365).";
  for (const auto& failure : session.policy_replies) {
    if (!failure.reply) continue;
    const auto& reply = *failure.reply;
    const bool elsewhere = depends_on_source(plan, reply);
    if (reply.enhanced == "5.7.68" && !seen_68) {
      seen_68 = true;
      // The admin's reading of the setting and the server's answer disagree:
      // a stale reading (a change takes up to 30 minutes), or another tenant.
      const std::string contradicts =
          plan.reject_direct_send == false
              ? ", although --reject-direct-send off says it is off: the setting was read before a change applied (up to 30 minutes) "
                "or from another tenant than the one this MX belongs to"
              : std::string();
      checks.push_back(Check{"smtp.reject-direct-send", elsewhere ? Status::warn : Status::fail,
                             (elsewhere ? vantage_note(plan) : std::string()) +
                                 "The tenant has Reject Direct Send on (550 5.7.68 TenantInboundAttribution): anonymous mail from its own domains "
                                 "that matches no inbound connector is refused at RCPT, and no message trace shows it" + contradicts,
                             (contradicts.empty() ? std::string() : "Read it again in this tenant: Get-OrganizationConfig | Format-List RejectDirectSend. ") +
                             "Create a partner inbound connector for the device (Exchange admin center > Mail flow > Connectors: from "
                             "\"Partner organization\" to \"Office 365\", identified by the device's static IP" +
                                 std::string(plan.ip ? " " + plan.ip->to_string() : "") +
                                 " or its certificate), or switch the device to SMTP AUTH with OAuth. Turning RejectDirectSend off "
                                 "(Set-OrganizationConfig -RejectDirectSend $false) reopens direct send for everyone." +
                                 (elsewhere ? " If such a connector exists, " + from_device_network(plan) + "." : std::string()),
                             {{"reply", smtp::reply_json(reply)}}});
    } else if (reply.enhanced == "5.7.64" && !seen_64) {
      seen_64 = true;
      checks.push_back(Check{"smtp.relay-denied", elsewhere ? Status::warn : Status::fail,
                             (elsewhere ? vantage_note(plan) : std::string()) +
                                 "550 5.7.64 TenantAttribution; Relay Access Denied: the MX took the sender for an outsider relaying " +
                                 std::string(plan.method == Method::direct_send ? "(direct send only delivers to the tenant's own mailboxes)"
                                                                                : "(no inbound connector matches this IP or certificate)"),
                             plan.method == Method::direct_send
                                 ? "For recipients outside the tenant use an inbound connector (relay) or SMTP AUTH submission."
                                 : create_connector + (elsewhere ? " Then " + from_device_network(plan) + "." : std::string()),
                             {{"reply", smtp::reply_json(reply)}}});
    } else if (reply.enhanced == "4.4.62") {
      checks.push_back(Check{"smtp.wrong-region", Status::fail, "451 4.4.62 Mail sent to the wrong Office 365 region: this host does not serve the tenant",
                             "Point the device at the tenant's published MX (sendcheck mx " + plan.domain + "), not a legacy or guessed host.",
                             {{"reply", smtp::reply_json(reply)}}});
    }
  }
  // The MAIL or RCPT row that shows the same reply is the finding's
  // evidence: one cause, one row that needs attention, one next step. With
  // the finding as severe as the row, the row stays as what was seen (info);
  // otherwise it takes the finding's fix.
  const auto same_reply = [](const Check& a, const Check& b) {
    const auto& x = a.fields, &y = b.fields;
    return x.contains("reply") && y.contains("reply") && x["reply"].value("code", 0) == y["reply"].value("code", 0) &&
           x["reply"].value("text", std::string()) == y["reply"].value("text", std::string());
  };
  for (std::size_t i = first_finding; i < checks.size(); ++i)
    for (std::size_t j = 0; j < first_finding; ++j) {
      if ((checks[j].id != "smtp.mail" && checks[j].id != "smtp.rcpt") || !same_reply(checks[j], checks[i])) continue;
      if (checks[j].status == checks[i].status) {
        checks[j].status = Status::info;
        checks[j].remedy.clear();
      } else {
        checks[j].remedy = checks[i].remedy;
      }
    }
}

// A permanent refusal to relay, in any server's words: Exchange Online's
// 5.7.64, Exchange Server's 5.7.54, "Unable to relay", Postfix's "Relay
// access denied".
bool is_relay_refusal(int code, std::string_view enhanced, std::string_view text) {
  if (code / 100 != 5) return false;
  if (enhanced == "5.7.54" || enhanced == "5.7.64") return true;
  return ascii::to_lower(text).find("relay") != std::string::npos;
}
bool is_relay_refusal(const nlohmann::json& reply) {
  if (!reply.is_object()) return false;
  return is_relay_refusal(reply.value("code", 0), reply["enhanced"].is_string() ? reply["enhanced"].get<std::string>() : std::string(),
                          reply.value("text", std::string()));
}

bool is_external_recipient(const Plan& plan, std::string_view recipient) {
  return std::any_of(plan.external.begin(), plan.external.end(),
                     [&](const std::string& address) { return ascii::iequals(address, recipient); });
}

// Direct send refused for a recipient outside the tenant: what
// input.external-recipients already says, not a second cause.
bool expected_external_refusal(const Plan& plan, const smtp::Exchange& rcpt) {
  if (plan.method != Method::direct_send) return false;
  const auto open = rcpt.command.find('<'), close = rcpt.command.find('>', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return false;
  return is_external_recipient(plan, std::string_view(rcpt.command).substr(open + 1, close - open - 1)) &&
         is_relay_refusal(rcpt.reply.code, rcpt.reply.enhanced, rcpt.reply.text());
}

// Direct send to a recipient outside the tenant fails by design, which the
// input.external-recipients row says with its fix. The server refusing that
// recipient is the same finding seen, not a second one with another fix
// (an on-premises receive connector, a relay connector): shown as evidence.
void external_refusals_as_evidence(const Plan& plan, std::vector<Check>& checks) {
  const auto external = [&](const std::string& recipient) { return is_external_recipient(plan, recipient); };
  std::vector<nlohmann::json> refused;  // the replies refused only for external recipients
  bool refused_internal = false;
  for (auto& check : checks) {
    // Info already when a finding of its own (5.7.64) shows the same reply.
    if (check.id != "smtp.rcpt" || (check.status != Status::fail && check.status != Status::info) ||
        check.fields.value("skipped", false) || !check.fields.contains("reply") || !is_relay_refusal(check.fields["reply"]))
      continue;
    if (!external(check.fields.value("recipient", std::string()))) {
      refused_internal = true;
      continue;
    }
    check.status = Status::info;
    check.message += " (as expected: direct send reaches only the tenant's own mailboxes, see External recipients)";
    check.remedy.clear();
    refused.push_back(check.fields["reply"]);
  }
  if (refused_internal || refused.empty()) return;
  for (auto& check : checks)
    if (check.id == "smtp.relay-denied" && check.status == Status::fail && check.fields.contains("reply") &&
        std::any_of(refused.begin(), refused.end(), [&](const nlohmann::json& reply) {
          return reply.value("code", 0) == check.fields["reply"].value("code", 0) &&
                 reply.value("text", std::string()) == check.fields["reply"].value("text", std::string());
        })) {
      check.status = Status::info;
      check.remedy.clear();
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

// "<ACS resource>.<Entra app ID>.<Entra tenant ID>" or the same with '|', or
// a custom name from an smtpUsernames resource.
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
  // Anything else can only be a custom name from the resource's SMTP
  // Usernames (any text the admin chose): the AUTH step decides whether the
  // server knows it.
  check.status = Status::warn;
  check.message = "ACS user name " + user + " is not <ACS resource>.<Entra app ID>.<Entra tenant ID>: it works only as a custom SMTP user name defined on the ACS resource";
  check.remedy = "Use <ACS resource name>.<Entra application ID>.<Entra tenant ID> (or with '|'), or create the custom name under the resource's SMTP Usernames.";
  return check;
}

// How the device signs in (--device-auth), against what the method takes and
// what this run signed in with. The run's own token or password shows the
// tenant side; whether the device can send the same is a step of its own.
void device_auth_facts(const Plan& plan, smtp::AuthMechanism run_auth, bool run_app_only, std::vector<Check>& checks,
                       std::vector<Step>& steps) {
  const bool oauth_run = run_auth == smtp::AuthMechanism::xoauth2;
  const std::string method(describe(plan.method));
  const std::string watch = "point the device at sendcheck listen --profile exo-submission to see how it signs in";
  Check row{"auth.device", Status::pass, "", "", {}};
  if (plan.device_auth)
    row.fields["device_auth"] = *plan.device_auth == DeviceAuth::none ? "none" : *plan.device_auth == DeviceAuth::basic ? "basic" : "oauth";
  auto untested = [&](const std::string& message, const std::string& remedy, const std::string& why, const std::string& give) {
    row.status = Status::warn;
    row.message = message;
    row.remedy = remedy;
    steps.push_back(Step{"device-auth", StepState::untested, why, give});
  };
  if (!plan.device_auth) {
    if (!oauth_run) return;  // a password, or no sign-in tested: every device that signs in sends a user name and password
    untested("This run signed in with its own OAuth token; the device must sign in with OAuth (XOAUTH2) as well, which nothing here shows",
             "Check that the device's SMTP settings offer OAuth (often called Modern authentication or Microsoft 365 sign-in), then run "
             "again with --device-auth oauth; or " + watch + ".",
             "whether the device signs in with OAuth (XOAUTH2) is not known: this run used its own token",
             "--device-auth oauth once the device's settings offer OAuth, or " + watch);
    checks.push_back(std::move(row));
    return;
  }
  switch (*plan.device_auth) {
    case DeviceAuth::none:
      row.status = Status::fail;
      row.message = "The device does not sign in (--device-auth none): " + method + " takes only mail from a signed-in client";
      row.remedy = "Use direct send (recipients in the tenant only) or an inbound connector (relay) for a device that cannot sign in; "
                   "sendcheck preflight --method auto --device-tls VERSION --device-auth none --recipients internal|external recommends one.";
      steps.push_back(Step{"device-auth", StepState::failed, "the device does not sign in, and " + method + " needs it to", ""});
      break;
    case DeviceAuth::basic:
      if (plan.method == Method::smtp_auth) {
        // This run's own password already makes the timeline row say it.
        if (run_auth == smtp::AuthMechanism::login) return;
        row.status = Status::fail;
        row.message = "The device signs in only with a password (--device-auth basic): Exchange Online turns basic authentication "
                      "for SMTP AUTH off by default at the end of December 2026, and then the device's mail is refused (5.7.139 or 5.7.30)" +
                      std::string(oauth_run ? "; this run's OAuth token is not what the device will send" : "");
        row.remedy = "Move the device to OAuth (XOAUTH2) if a firmware update offers it; otherwise to direct send or an inbound "
                     "connector (relay), or to High Volume Email for internal recipients (sendcheck preflight --method auto recommends one).";
        steps.push_back(Step{"device-auth", StepState::failed, "the device signs in only with basic authentication, off by default " +
                                                                   basic_auth_days() + " (end of December 2026)", ""});
      } else if (oauth_run) {
        untested("The device signs in with a password (--device-auth basic), and this run signed in with an OAuth token: the password "
                 "the device will send was not tested",
                 "Run again with --user and --password-file holding what the device will send" +
                     std::string(plan.method == Method::hve ? " (the HVE account's password)." : " (the Entra application's client secret)."),
                 "the device signs in with a password; this run tested a token", "--password-file with the device's password");
      } else {
        row.message = "The device signs in with a password (--device-auth basic), as this run did" +
                      std::string(plan.method == Method::hve ? ": HVE accounts keep basic authentication until September 2028" : "");
      }
      break;
    case DeviceAuth::oauth:
      if (run_auth == smtp::AuthMechanism::login && plan.method == Method::smtp_auth) {
        untested("The device signs in with OAuth (--device-auth oauth), and this run signed in with a password: the OAuth sign-in the "
                 "device will make was not tested",
                 "Run again with --user and --oauth-token-file, or with --client-id, --client-secret-file and --tenant.",
                 "the device signs in with OAuth; this run tested a password", credentials_to_give(plan.method));
      } else if (oauth_run && plan.method == Method::smtp_auth && run_app_only != plan.device_app_only) {
        // An application's token (client credentials) and a user's
        // (delegated, through the device vendor's app) meet different
        // consent and Conditional Access: one does not show the other.
        const std::string run = run_app_only ? "an application's token (client credentials)" : "a user's token (delegated)";
        const std::string device = plan.device_app_only ? "with an application's client credentials (--device-auth oauth-app)"
                                                        : "as a user (--device-auth oauth: delegated, as printers do through their vendor's app)";
        untested("The device signs in " + device + ", and this run used " + run + ": the device's own sign-in (its consent, Conditional "
                 "Access, and the mailbox it acts for) was not tested",
                 plan.device_app_only ? "Run again with the application's client credentials (--client-id, --client-secret-file, --tenant)."
                                      : "Run again with --oauth-token-file holding a user's token (scope https://outlook.office.com/SMTP.Send) "
                                        "as the device gets it; if the device uses an application's client credentials, say --device-auth oauth-app.",
                 "the device's kind of OAuth sign-in was not the one tested",
                 plan.device_app_only ? "--client-id, --client-secret-file and --tenant" : "--oauth-token-file with a user's token, or --device-auth oauth-app");
      } else {
        row.message = "The device signs in with OAuth (XOAUTH2) (--device-auth " + std::string(plan.device_app_only ? "oauth-app" : "oauth") + ")" +
                      std::string(oauth_run ? ", as this run did" : "");
      }
      break;
  }
  checks.push_back(std::move(row));
}

// What the method needs beyond the session (the timeline, HVE's and ACS's rules).
void submission_checks(const Plan& plan, smtp::AuthMechanism auth, const smtp::SessionResult& session, std::vector<Check>& checks,
                       std::vector<Step>& steps) {
  if (plan.method == Method::acs) {
    if (plan.user.empty()) checks.push_back(skipped("auth.acs-username", "no --user to check"));
    else {
      checks.push_back(acs_username_check(plan.user));
      if (checks.back().status == Status::warn && session.auth && session.auth->reply.positive()) {
        checks.back().status = Status::pass;
        checks.back().message = "ACS user name " + plan.user + " is a custom SMTP user name, and the server accepted it";
        checks.back().remedy.clear();
      }
    }
  }
  // A device that signs in with OAuth is not judged by this run's password:
  // device_auth_facts says what is untested.
  if (plan.method == Method::smtp_auth && !(plan.device_auth == DeviceAuth::oauth && auth == smtp::AuthMechanism::login)) {
    const std::string move = "Move the device to OAuth (XOAUTH2) if its firmware supports it; otherwise to direct send or an inbound "
                             "connector (relay), or to High Volume Email for internal recipients.";
    if (auth == smtp::AuthMechanism::login && session.auth && session.auth->reply.enhanced == "5.7.30")
      // Already refused: the timeline's "can re-enable" no longer applies to this device.
      checks.push_back(Check{"auth.basic-timeline", Status::warn,
                             "The device uses basic authentication (AUTH LOGIN), which Exchange Online already refused here (550 5.7.30): "
                             "it must move off basic authentication now, not at the end of December 2026",
                             move, {}});
    else if (auth == smtp::AuthMechanism::login && session.auth && blocked_by_entra(session.auth->reply))
      // Refused by Entra already: no Exchange switch brings it back, so the
      // timeline's re-enabling is no stopgap for this device.
      checks.push_back(Check{"auth.basic-timeline", Status::warn,
                             "The device uses basic authentication (AUTH LOGIN), which Microsoft Entra already blocks for this account "
                             "(535 5.7.139): it must move off basic authentication now, not at the end of December 2026, and "
                             "re-enabling SMTP AUTH in Exchange does not lift the block",
                             move, {}});
    else if (auth == smtp::AuthMechanism::login && session.auth && names_smtp_auth_switch(session.auth->reply))
      // Refused today by the SMTP AUTH switch (the AUTH row's cause and fix):
      // turned on, basic authentication still ends with the default change.
      checks.push_back(Check{"auth.basic-timeline", Status::warn,
                             "The device uses basic authentication (AUTH LOGIN), which this tenant refuses today (535 5.7.139); once "
                             "SMTP AUTH is turned on for the mailbox it still stops working when basic authentication is disabled. " +
                                 basic_auth_countdown(),
                             move, {{"until", "2026-12-31"}}});
    else if (auth == smtp::AuthMechanism::login) {
      // Accepted today is not "will work": basic authentication is disabled
      // by default at the end of December 2026 (MC786329,
      // https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835),
      // so a device set up with it now breaks then.
      checks.push_back(Check{"auth.basic-timeline", Status::fail,
                             "The device uses basic authentication (AUTH LOGIN): what works today stops working when basic authentication is "
                             "disabled. " + basic_auth_countdown(),
                             move + " Stopgap only, clearly temporary: after the default change an admin can re-enable basic "
                                    "authentication until the final removal (Microsoft will announce its date in the second half of 2027) "
                                    "(https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835).",
                             {{"until", "2026-12-31"}}});
      // A refused AUTH is the cause already; otherwise the date is.
      if (!(session.auth && !session.auth->reply.positive()))
        steps.push_back(Step{"basic-auth", StepState::failed, "basic authentication, off by default " + basic_auth_days() + " (end of December 2026)", ""});
    }
    else if (auth == smtp::AuthMechanism::xoauth2)
      checks.push_back(Check{"auth.basic-timeline", Status::pass,
                             "This run signed in with OAuth (XOAUTH2), which the basic-authentication retirement does not affect", "", {}});
    else
      checks.push_back(Check{"auth.basic-timeline", Status::info, basic_auth_countdown(), "", {}});
  }
  if (plan.method == Method::hve) {
    checks.push_back(Check{"auth.hve", Status::info,
                           "High Volume Email delivers to recipients in the tenant only; its accounts are managed in the Exchange admin center > "
                           "Mail flow > High volume email",
                           "", {}});
    if (!plan.external.empty()) {
      checks.push_back(Check{"auth.hve-external", Status::fail, "HVE cannot deliver to external recipients (" + plan.external.front() + (plan.external.size() > 1 ? ", ..." : "") + ")",
                             "Use SMTP AUTH submission or Azure Communication Services for external recipients.", {}});
      steps.push_back(Step{"recipients", StepState::failed, "HVE reaches only the tenant's mailboxes (" + plan.external.front() + " is external)", ""});
    }
  }
}

std::optional<tls::Version> device_tls_max(DeviceTls tls) {
  switch (tls) {
    case DeviceTls::tls1_0: return tls::Version::tls1_0;
    case DeviceTls::tls1_1: return tls::Version::tls1_1;
    case DeviceTls::tls1_2: return tls::Version::tls1_2;
    case DeviceTls::tls1_3: return tls::Version::tls1_3;
    case DeviceTls::none: return std::nullopt;
  }
  return std::nullopt;
}

// "TLS 1.0", as admins and Microsoft's pages write it (OpenSSL says "TLSv1").
std::string device_tls_text(DeviceTls tls) {
  switch (tls) {
    case DeviceTls::tls1_0: return "TLS 1.0";
    case DeviceTls::tls1_1: return "TLS 1.1";
    case DeviceTls::tls1_2: return "TLS 1.2";
    case DeviceTls::tls1_3: return "TLS 1.3";
    case DeviceTls::none: return "no TLS";
  }
  return "no TLS";
}

// A device limited to TLS 1.0/1.1 sending to the MX (direct send, or relay
// through an IP-matched connector) sends without TLS.
bool legacy_tls_without_tls(const Plan& plan) {
  if (!plan.device_tls || is_submission(plan.method) || plan.client_certificate) return false;
  const auto max = device_tls_max(*plan.device_tls);
  return max && *max < tls::Version::tls1_2;
}

// Exchange Online greets as "<front end> Microsoft ESMTP MAIL Service ready
// at <date>", the front end a host of Microsoft's cloud
// (VE1EUR01FT034.mail.protection.outlook.com, SY5P282CA0097.outlook.office365.com;
// m365-facts 5.2). On-premises Exchange says the same words under its own
// name, so the name decides.
// The host a greeting names first ("SY5P282CA0097.outlook.office365.com"), lower case.
std::string greeting_host(const smtp::Reply& banner) {
  if (banner.lines.empty()) return {};
  const std::string& line = banner.lines.front();
  return dns::canonical_name(line.substr(0, line.find(' ')));
}

bool exchange_online_greeting(const smtp::Reply& banner) {
  if (banner.lines.empty() || banner.lines.front().find("Microsoft ESMTP MAIL Service") == std::string::npos) return false;
  return is_microsoft_endpoint(greeting_host(banner));
}

// A session that reached a server other than Exchange Online (a smart host
// given as --smtp-host, a firewall's SMTP inspection answering in its place)
// tested that server: its accepted envelope says nothing of Exchange
// Online's answer to the device. HVE's and ACS's greetings are not
// documented: their own endpoints are not judged, but a stand-in given as
// --smtp-host must at least greet with a Microsoft host name.
// ACS's must be one of Azure Communication Services' (azurecomm.net), HVE's
// one under HVE's own mx.microsoft: an Exchange Online front end
// (*.outlook.office365.com) taking a mailbox's password is SMTP AUTH client
// submission, whose basic authentication ends, not HVE.
bool stand_in_greeting(const smtp::Reply& banner, Method method) {
  const std::string host = greeting_host(banner);
  if (method == Method::acs) return dns::name_is_at_or_below(host, "azurecomm.net");
  if (method == Method::hve) return dns::name_is_at_or_below(host, "mx.microsoft");
  return !host.empty() && is_microsoft_endpoint(host);
}

void endpoint_identity(const Plan& plan, const smtp::SessionResult& session, const std::string& endpoint, const std::string& real_host,
                       std::vector<Check>& checks, std::vector<Step>& steps) {
  if (!session.banner || !session.banner->positive()) return;
  const bool greeting_unknown = plan.method == Method::hve || plan.method == Method::acs;
  if (greeting_unknown && (!plan.endpoint_overridden || stand_in_greeting(*session.banner, plan.method))) return;
  if (!greeting_unknown && exchange_online_greeting(*session.banner)) return;
  const std::string greeting = shorten(session.banner->lines.empty() ? std::string() : session.banner->lines.front(), 80);
  const std::string exo = real_host.empty() ? "MX-HOST (sendcheck mx " + plan.domain + " shows it)" : real_host;
  Check row{"smtp.not-exchange-online", Status::warn, "", "", {{"greeting", greeting}}};
  if (plan.endpoint_overridden) {
    const std::string service = plan.method == Method::acs   ? "Azure Communication Services"
                                : plan.method == Method::hve ? "High Volume Email"
                                                             : "Exchange Online";
    row.message = endpoint + " greets as \"" + greeting + "\", not as " + service + ": this run tested that server, not " + service +
                  "'s answer to the device";
    row.remedy = "Test " + service + " itself: --smtp-host " + exo + " (or no --smtp-host). A smart host or relay in between is tested only "
                 "up to itself; what " + service + " does with the mail it passes on shows in its logs (Exchange Online: the message trace).";
    steps.push_back(Step{"endpoint", StepState::untested, endpoint + " is not " + service + " (it greets as \"" + shorten(greeting, 40) + "\")",
                         "no --smtp-host, or --smtp-host " + exo});
  } else {
    row.message = endpoint + " greets as \"" + greeting + "\", not as Exchange Online: something between here and Exchange Online answers "
                  "in its place (a firewall's SMTP inspection, an antivirus, a proxy)";
    row.remedy = "Run the check where nothing intercepts the port, or turn off SMTP inspection on the firewall (it can hide the greeting and "
                 "strip STARTTLS); then run it again.";
    steps.push_back(Step{"endpoint", StepState::untested, "the server that answered is not Exchange Online (it greets as \"" + shorten(greeting, 40) + "\")",
                         "run it where nothing intercepts the port"});
  }
  checks.push_back(std::move(row));
}

// Reject Direct Send (Set-OrganizationConfig -RejectDirectSend) refuses
// anonymous mail from the tenant's own domains with 550 5.7.68; Microsoft
// does not document whether at RCPT TO or only after DATA, which this test
// never sends. An accepted envelope does not show it off: the admin's
// reading of the setting (--reject-direct-send) does.
void reject_direct_send_step(const Plan& plan, bool envelope_passed, std::vector<Check>& checks, std::vector<Step>& steps) {
  const std::string read = "Get-OrganizationConfig | Format-List RejectDirectSend";
  // It acts on a MAIL FROM in any of the tenant's accepted domains
  // (Set-OrganizationConfig -RejectDirectSend), and only the admin knows
  // them all: a --from outside DOMAIN and --accepted-domain may still be one.
  if (plan.reject_direct_send == true && !plan.from.empty() && !is_internal(plan.from, plan.accepted_domains)) {
    checks.push_back(Check{"smtp.reject-direct-send", Status::warn,
                           "Reject Direct Send is on (--reject-direct-send on): it refuses anonymous mail whose MAIL FROM is in any of "
                           "the tenant's accepted domains (550 5.7.68), and whether " + plan.from_domain +
                               " is one of them is not known here (it is not DOMAIN or an --accepted-domain)",
                           "Look for " + plan.from_domain + " in Get-AcceptedDomain (or Microsoft 365 admin center > Settings > "
                           "Domains). If it is there, run again with --accepted-domain " + plan.from_domain +
                               " (the device then needs a partner inbound connector); if it is not, Reject Direct Send does not "
                               "refuse this device's mail.",
                           {}});
    steps.push_back(Step{"reject-direct-send", StepState::untested,
                         "Reject Direct Send is on, and whether " + plan.from_domain + " is one of the tenant's accepted domains is not known",
                         "--accepted-domain " + plan.from_domain + " if Get-AcceptedDomain lists it"});
    return;
  }
  if (plan.reject_direct_send == true) {
    checks.push_back(Check{"smtp.reject-direct-send", Status::fail,
                           "Reject Direct Send is on for the tenant (--reject-direct-send on): Exchange Online refuses direct send from "
                           "its own domains that matches no inbound connector (550 5.7.68 TenantInboundAttribution)",
                           "Create a partner inbound connector for the device (Exchange admin center > Mail flow > Connectors: from "
                           "\"Partner organization\" to \"Office 365\", identified by the device's static IP" +
                               std::string(plan.ip ? " " + plan.ip->to_string() : "") +
                               " or its certificate), or switch the device to SMTP AUTH with OAuth. Turning RejectDirectSend off "
                               "(Set-OrganizationConfig -RejectDirectSend $false) reopens direct send for everyone.",
                           {}});
    steps.push_back(Step{"reject-direct-send", StepState::failed, "Reject Direct Send is on (550 5.7.68)", ""});
    return;
  }
  if (plan.reject_direct_send == false) {
    checks.push_back(Check{"smtp.reject-direct-send", Status::pass, "Reject Direct Send is off for the tenant (--reject-direct-send off)", "", {}});
    steps.push_back(Step{"reject-direct-send", StepState::passed, "Reject Direct Send is off (as read from the tenant)", ""});
    return;
  }
  if (!envelope_passed) return;  // the session's own failure is the cause
  checks.push_back(Check{"smtp.reject-direct-send-unseen", Status::warn,
                         "RCPT TO was accepted, so Reject Direct Send looks off; Microsoft does not document whether it refuses "
                         "(550 5.7.68) at RCPT TO or only after DATA, which this test does not send",
                         "Read it: " + read + " (False: run again with --reject-direct-send off; True: the device needs a partner inbound "
                         "connector).",
                         {}});
  steps.push_back(Step{"reject-direct-send", StepState::untested,
                       "Reject Direct Send may refuse the message after DATA, which this test does not send",
                       "--reject-direct-send off once " + read + " shows False"});
}

// Direct send is anonymous, and a recipient that takes mail only from
// authenticated senders (RequireSenderAuthenticationEnabled, True for a new
// distribution or Microsoft 365 group, settable on a mailbox) or only from
// listed senders (AcceptMessagesOnlyFrom) refuses it after DATA (550 5.7.133,
// 5.7.134, or a refusal of its own for a list), which this test never sends: what the recipient accepts
// comes from the admin.
void recipient_kind_step(const Plan& plan, std::vector<Check>& checks, std::vector<Step>& steps) {
  std::vector<std::string> internal;
  for (const auto& to : plan.to)
    if (is_internal(to, plan.accepted_domains)) internal.push_back(to);
  if (internal.empty()) return;
  const std::string& first = internal.front();
  const std::string read = "Get-Recipient " + first + " | Format-List RecipientTypeDetails, then Get-Mailbox " + first +
                           " | Format-List RequireSenderAuthenticationEnabled, AcceptMessagesOnlyFrom* (a group: Get-DistributionGroup, "
                           "a Microsoft 365 group: Get-UnifiedGroup, with the same properties)";
  const std::string opened_to_all =
      " This lets anyone on the internet mail it, not only the device: where that is not wanted, send the device's mail to a "
      "mailbox that takes outside mail instead, or have the device sign in (--method smtp-auth with OAuth).";
  using Kind = Plan::RecipientKind;
  if (plan.recipient_kind == Kind::group || plan.recipient_kind == Kind::restricted_mailbox) {
    const bool group = plan.recipient_kind == Kind::group;
    checks.push_back(Check{
        group ? "smtp.recipient-group" : "smtp.recipient-mailbox", Status::fail,
        group ? "the recipient is a group that takes mail only from authenticated senders (--recipient-kind group): it "
                "refuses direct send, which is anonymous, after DATA (550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; "
                "a Microsoft 365 group: 550 5.7.193 UnifiedGroupAgent)"
              : "the recipient is a mailbox that takes mail only from authenticated senders (--recipient-kind restricted-mailbox): "
                "it refuses direct send, which is anonymous, after DATA (550 5.7.134 RESOLVER.RST.SenderNotAuthenticatedForMailbox)",
        (group ? "Let the group take mail from outside the organization (Set-DistributionGroup " + first +
                     " -RequireSenderAuthenticationEnabled $false; a Microsoft 365 group: Set-UnifiedGroup " + first +
                     " -RequireSenderAuthenticationEnabled $false)."
               : "Let the mailbox take mail from outside the organization (Set-Mailbox " + first +
                     " -RequireSenderAuthenticationEnabled $false).") +
            opened_to_all,
        {}});
    steps.push_back(Step{"recipient-kind", StepState::failed,
                         group ? "the recipient group refuses anonymous senders (550 5.7.133, or 5.7.193 for a Microsoft 365 group)"
                               : "the recipient mailbox refuses anonymous senders (550 5.7.134)",
                         ""});
    return;
  }
  if (plan.recipient_kind) {
    const bool mailbox = plan.recipient_kind == Kind::mailbox;
    checks.push_back(Check{"smtp.recipient-kind", Status::pass,
                           mailbox ? "the recipients are mailboxes that take mail from outside the organization (--recipient-kind mailbox)"
                                   : "the recipient group takes mail from outside the organization (--recipient-kind open-group)",
                           "", {}});
    steps.push_back(Step{"recipient-kind", StepState::passed,
                         mailbox ? "the recipients are mailboxes that take anonymous mail (as said)" : "the recipient group takes anonymous mail (as said)", ""});
    return;
  }
  checks.push_back(Check{"smtp.recipient-kind-unseen", Status::warn,
                         "whether " + first + (internal.size() > 1 ? " (and the other recipients)" : std::string()) +
                             " takes mail from outside the organization is not known here: a group or mailbox that takes mail only "
                             "from authenticated senders (the default for a new distribution or Microsoft 365 group) refuses "
                             "direct send after DATA (550 5.7.133 or 5.7.193 for a group, 5.7.134 for a mailbox), as does one with a list of allowed senders, which this test "
                             "does not send",
                         "Read it: " + read +
                             ". Then run again with --recipient-kind mailbox or open-group (RequireSenderAuthenticationEnabled False and "
                             "no AcceptMessagesOnlyFrom list), group or restricted-mailbox (True).",
                         {}});
  steps.push_back(Step{"recipient-kind", StepState::untested,
                       "the recipient may refuse anonymous senders after DATA (550 5.7.133 or 5.7.193 for a group, 5.7.134 for a mailbox), which this test does not send",
                       "--recipient-kind mailbox (or open-group) once " + read + " shows it takes outside mail"});
}

bool external_rcpt_accepted(const Plan& plan, const smtp::SessionResult& session) {
  for (const auto& exchange : session.envelope) {
    if (!exchange.command.starts_with("RCPT") || !exchange.reply.positive()) continue;
    for (const auto& address : plan.external)
      if (ascii::to_lower(exchange.command).find(ascii::to_lower(address)) != std::string::npos) return true;
  }
  return false;
}

// The steps one session shows, from its typed result: the connection and
// TLS (smtp), AUTH (auth), MAIL FROM and RCPT TO (envelope), and for relay
// the connector (an external RCPT TO accepted).
void session_steps(const Plan& plan, smtp::AuthMechanism auth, const smtp::SessionResult& session, const std::string& endpoint,
                   CertificateEvidence certificate, std::vector<Step>& steps) {
  const bool submission = plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs;
  const smtp::Failure& failure = session.failure;
  auto step = [&](std::string id, StepState state, std::string why, std::string to_test = {}) {
    steps.push_back(Step{std::move(id), state, std::move(why), std::move(to_test)});
  };
  // A session that stopped before AUTH or RCPT TO leaves what they decide
  // untested too: named, so that fixing the port is not the last thing missing.
  const auto later_steps = [&] {
    if (submission && auth == smtp::AuthMechanism::none && plan.auth == smtp::AuthMechanism::none)
      step("auth", StepState::untested, "AUTH not tested: no credentials given", credentials_to_give(plan.method));
    if (plan.method == Method::relay && !plan.external.empty())
      step("connector", StepState::untested, "the connector was not tested: the session did not reach RCPT TO",
           tested_from_elsewhere(plan) ? from_device_network(plan) : "run it from the device's network");
  };
  if (!session.connected) {
    step("smtp", StepState::untested, "could not connect to " + endpoint + " (" + failure.kind + ")",
         "run it from the device's network; something on the way blocks the port here");
    return later_steps();
  }
  if (!session.banner || session.banner->code != 220) {
    if (session.banner) step("smtp", StepState::failed, "the server refused the session: " + short_reply(*session.banner));
    else step("smtp", StepState::untested, "no SMTP greeting from " + endpoint + " (" + failure.kind + ")", "run it from the device's network");
    return later_steps();
  }
  if (!session.ehlo) {
    step("smtp", StepState::failed, "EHLO refused by " + endpoint);
    return;
  }
  // TLS: required for submission (TLS 1.2 or later), optional at the MX.
  if (submission) {
    if (!session.starttls_offered) return step("smtp", StepState::failed, endpoint + " offers no STARTTLS");
    if (!session.starttls_completed || !session.tls.handshake_completed) {
      if (failure.reply && failure.reply->enhanced == "4.7.66")
        return step("smtp", StepState::failed, "TLS 1.0/1.1 refused (421 4.7.66)");
      return step("smtp", StepState::failed, "STARTTLS failed: " + (session.tls.error.empty() ? failure.message : session.tls.error));
    }
  } else if (session.starttls_attempted && !session.tls.handshake_completed && !failure.reply) {
    return step("smtp", StepState::untested, "STARTTLS failed here: " + session.tls.error,
                "run it from the device's network (TLS interception or a filter may be in the way)");
  }
  if (failure.failure_class == smtp::FailureClass::tls && failure.kind == "starttls-refused")
    // TLS is optional at the MX: the envelope was not reached, and a 4xx is
    // the server's "not now".
    return step("smtp", StepState::untested, "STARTTLS refused: " + (failure.reply ? short_reply(*failure.reply) : failure.message),
                "run again later; a device that sends without TLS is tested with --device-tls none");
  if (failure.kind == "auth-unverified-tls")
    // The credentials were kept back from a certificate nobody vouches for.
    return step("auth", StepState::untested, "sign-in not tried: the server's certificate failed verification",
                "--ca FILE for your own test server's CA, or run it where nothing intercepts TLS");
  if (failure.failure_class == smtp::FailureClass::protocol || failure.failure_class == smtp::FailureClass::internal ||
      (failure.failure_class == smtp::FailureClass::tls && failure.kind != "handshake")) {
    return step("smtp", StepState::untested, "the session broke off in " + failure.phase + ": " + failure.message,
                "run again with a longer --timeout, or from the device's network");
  }
  if (failure.failure_class == smtp::FailureClass::policy && (failure.kind == "ehlo" || failure.kind == "starttls" || failure.kind == "banner"))
    return step("smtp", StepState::failed,
                std::string(failure.kind == "ehlo" ? "EHLO" : failure.kind == "starttls" ? "STARTTLS" : "the greeting") + " refused: " +
                    (failure.reply ? short_reply(*failure.reply) : failure.message));
  step("smtp", StepState::passed, submission ? "STARTTLS with " + session.tls.version + " on " + endpoint : "SMTP session with " + endpoint);

  if (submission) {
    const smtp::Extensions& after = session.ehlo_after_tls ? session.after_tls : session.before_tls;
    if (auth == smtp::AuthMechanism::none) {
      if (after.auth.empty()) return step("auth", StepState::failed, endpoint + " offers no AUTH after STARTTLS");
      if (plan.auth != smtp::AuthMechanism::none)
        step("auth", StepState::untested, "AUTH not tested: the token request failed (see the Authentication rows)",
             "--oauth-token-file FILE with a token, or run again");
      else
        step("auth", StepState::untested, "AUTH not tested: no credentials given", credentials_to_give(plan.method));
      return;
    }
    if (!after.offers_auth(smtp::to_string(auth)))
      return step("auth", StepState::failed, "AUTH " + std::string(smtp::to_string(auth)) + " is not offered after STARTTLS");
    if (!session.auth) return step("auth", StepState::untested, "the session ended before AUTH: " + failure.message, "run again");
    // A 4xx defers the sign-in for now: it says nothing of the credentials.
    if (session.auth->reply.transient())
      return step("auth", StepState::untested, "AUTH deferred for now: " + short_reply(session.auth->reply),
                  "run again later (sendcheck explain " +
                      (session.auth->reply.enhanced.empty() ? std::to_string(session.auth->reply.code) : session.auth->reply.enhanced) + ")");
    if (!session.auth->reply.positive()) return step("auth", StepState::failed, "AUTH refused: " + short_reply(session.auth->reply));
    step("auth", StepState::passed, "AUTH " + std::string(smtp::to_string(auth)) + " accepted");
  }
  // The envelope: MAIL FROM and every RCPT TO.
  const smtp::Exchange* mail = nullptr;
  std::vector<const smtp::Exchange*> rcpts;
  for (const auto& exchange : session.envelope) {
    if (exchange.command.starts_with("MAIL")) mail = &exchange;
    else if (exchange.command.starts_with("RCPT")) rcpts.push_back(&exchange);
  }
  if (plan.from.empty() || plan.to.empty()) {
    step("envelope", StepState::untested, "MAIL FROM and RCPT TO after AUTH not tested", "--from ADDR and --to ADDR");
    return;
  }
  if (!mail) return step("envelope", StepState::untested, "MAIL FROM was not reached (" + failure.message + ")", "run again");
  auto refused = [&](const smtp::Exchange& exchange, const std::string& what) {
    const smtp::Reply& reply = exchange.reply;
    if (reply.transient() && reply.enhanced != "4.4.62")
      return step("envelope", StepState::untested, what + " deferred: " + short_reply(reply), "run again later");
    if (depends_on_source(plan, reply))
      return step("envelope", StepState::untested,
                  what + " refused from this machine (" + std::to_string(reply.code) + " " + reply.enhanced + "), not from " + plan.ip->to_string(),
                  from_device_network(plan));
    std::string why = what + " refused: " + short_reply(reply);
    if (reply.enhanced == "5.7.68") why = "Reject Direct Send is on (550 5.7.68)";
    else if (reply.enhanced == "5.7.64") why = "relay denied (550 5.7.64): no connector matches";
    else if (reply.enhanced == "4.4.62") why = "wrong Office 365 region (451 4.4.62)";
    step("envelope", StepState::failed, why);
  };
  if (!mail->reply.positive()) return refused(*mail, "MAIL FROM");
  std::size_t expected_refusals = 0;
  for (const auto* rcpt : rcpts) {
    if (rcpt->reply.positive()) continue;
    if (expected_external_refusal(plan, *rcpt)) {
      ++expected_refusals;
      continue;
    }
    return refused(*rcpt, "RCPT TO");
  }
  if (rcpts.size() < plan.to.size()) return step("envelope", StepState::untested, "not every RCPT TO was sent (" + failure.message + ")", "run again");
  step("envelope", StepState::passed,
       "MAIL FROM and " + std::to_string(rcpts.size() - expected_refusals) + " RCPT TO accepted" +
           (expected_refusals ? ", " + std::to_string(expected_refusals) + " external refused as direct send does" : std::string()));
  if (plan.method == Method::smtp_auth && auth != smtp::AuthMechanism::none && !plan.user.empty() &&
      ascii::to_lower(plan.from) != ascii::to_lower(plan.user))
    // Exchange Online checks Send As after DATA (554 5.2.252 SendAsDenied),
    // which the test never sends: an accepted MAIL FROM does not show it.
    step("send-as", StepState::untested, "Send As for " + plan.from + " as " + plan.user + " (checked after DATA)",
         "give " + plan.user + " Send As on " + plan.from + " (Add-RecipientPermission -Identity " + plan.from + " -Trustee " + plan.user +
             " -AccessRights SendAs), then send one message from the device and look for 554 5.2.252; or use --from " + plan.user);
  if (plan.method == Method::hve && !plan.user.empty() && ascii::to_lower(plan.from) != ascii::to_lower(plan.user))
    // Whether an HVE account may send as another address is not documented,
    // and a refusal would come after DATA, which the test never sends.
    step("send-as", StepState::untested, "sending as " + plan.from + " with the HVE account " + plan.user + " (checked after DATA, if at all)",
         "send one message from the device and check that it arrives (a refusal after DATA, such as 554 5.2.252, shows that " + plan.user +
             " may not send as " + plan.from + "); or use --from " + plan.user);
  if (plan.method == Method::direct_send && tested_from_elsewhere(plan))
    // What the MX does with this machine's session is not what it does with
    // the device's: port 25 may be blocked on the device's network, and
    // Microsoft's connection filtering judges the device's address.
    step("source", StepState::untested, "tested from this machine, not from " + plan.ip->to_string(),
         "port 25 on the device's network and the MX's answer to its address are untested: " + from_device_network(plan));
  if (plan.method == Method::relay) {
    // An internal recipient is accepted from anyone (direct send): only an
    // accepted external one shows that a connector matched.
    if (plan.external.empty())
      step("connector", StepState::untested, "the connector was not tested (no external recipient)",
           "--to an address outside the tenant, run from the device's network");
    else if (certificate == CertificateEvidence::certificate_decides)
      step("connector", StepState::passed,
           "an external RCPT TO was accepted with the device's certificate and refused without it: the certificate connector matched");
    else if (certificate == CertificateEvidence::accepted_without && !plan.session_from_device)
      // A connector for this machine's address matched, whatever the
      // certificate: the device elsewhere is matched by neither.
      step("connector", StepState::untested,
           "an external RCPT TO was accepted without the device's certificate as well: a connector for this machine's address matched, "
           "not the certificate",
           "run it from the device's network (--egress), or from a machine no connector knows");
    else if (certificate == CertificateEvidence::accepted_without)
      step("connector", StepState::passed, "an external RCPT TO was accepted: a connector for the device's address matched (also without the certificate)");
    else if (!plan.client_cert_file.empty() && session.tls.certificate_requested && certificate == CertificateEvidence::not_compared &&
             !plan.session_from_device)
      step("connector", StepState::untested,
           "the external RCPT TO accepted with the device's certificate could not be compared with one without it: a connector for this "
           "machine's address may have matched",
           "run again, or from the device's network (--egress)");
    else if (tested_from_elsewhere(plan) && (plan.client_cert_file.empty() || !session.tls.certificate_requested))
      // A connector that matched this machine's address says nothing about
      // one for the device's: the acceptance is the device's only from its
      // network. A certificate connector matched the device's certificate,
      // which was presented here only if the server asked for one.
      step("connector", StepState::untested,
           "an external RCPT TO was accepted from this machine, which is not known to be " + plan.ip->to_string() +
               ": a connector matched this machine, not necessarily the device",
           from_device_network(plan));
    else
      step("connector", StepState::passed, "an external RCPT TO was accepted: a connector matched this machine");
  }
}

SmtpPart run_smtp(const Plan& plan, const ResolverFactory& factory, const std::optional<smtp::ProbeTarget>& mx_target, smtp::AuthMechanism auth,
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
    // STARTTLS and TLS 1.2 or later are required on 587.
    session.tls_mode = smtp::TlsMode::starttls;
    session.starttls = smtp::StarttlsPolicy::require;
    session.tls.versions.min = tls::Version::tls1_2;
    session.auth = auth;
    session.user = plan.user;
    session.secret = secret;
    if (auth != smtp::AuthMechanism::none && !plan.from.empty()) {
      session.mail_from = plan.from;
      session.rcpt_to = plan.to;
    } else if (auth == smtp::AuthMechanism::none) {
      // Without AUTH the endpoint must refuse MAIL FROM (530 5.7.57): a
      // test that it is a submission endpoint, and nothing is sent.
      session.mail_from = plan.from.empty() ? "postmaster@" + plan.domain : plan.from;
    }
  } else {
    session.tls_mode = smtp::TlsMode::starttls;
    session.starttls = smtp::StarttlsPolicy::try_;
    session.mail_from = plan.from;
    session.rcpt_to = plan.to;
  }
  if (plan.device_tls) {
    // Probe with what the device can do, not with what this machine can.
    const auto max = device_tls_max(*plan.device_tls);
    if (legacy_tls_without_tls(plan)) {
      // Exchange Online refuses TLS 1.0/1.1 everywhere, but its inbound TLS
      // at the MX is opportunistic: such a device sends to the MX without
      // STARTTLS, so that is what is tested (https://techcommunity.microsoft.com/blog/exchange/understanding-email-scenarios-if-tls-versions-cannot-be-agreed-on-with-exchange-/2065089).
      session.tls_mode = smtp::TlsMode::plain;
      session.starttls = smtp::StarttlsPolicy::never;
    } else if (max) {
      session.tls.versions.max = *max;
      if (*max < tls::Version::tls1_2) session.tls.versions.min = tls::Version::tls1_0;
    } else {
      session.tls_mode = smtp::TlsMode::plain;
      session.starttls = smtp::StarttlsPolicy::never;
    }
  }

  std::optional<smtp::ProbeTarget> target = mx_target;
  if (!plan.endpoint.host.empty()) {
    auto resolver = factory.make();
    if (!resolver) {
      part.section.checks.push_back(Check{"smtp.target", Status::error, resolver.error().message, "Check --dns.", {}});
      part.steps.push_back(Step{"smtp", StepState::untested, "no resolver: " + resolver.error().message, "--dns"});
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
  const std::string endpoint_text = (plan.endpoint.host.empty() ? std::string("the MX") : plan.endpoint.host) + " port " + std::to_string(probe.port);
  if (!target) {
    if (part.section.checks.empty())
      part.section.checks.push_back(skipped("smtp.connect", submission ? "no address for " + plan.endpoint.host : "no usable MX host to connect to (see the MX rows)"));
    if (submission) {
      // The submission endpoint is a fixed name: its lookup failed here.
      part.steps.push_back(Step{"smtp", StepState::untested, "could not resolve " + plan.endpoint.host,
                                "run again, or ask another resolver with --dns"});
      if (auth == smtp::AuthMechanism::none && plan.auth == smtp::AuthMechanism::none)
        part.steps.push_back(Step{"auth", StepState::untested, "AUTH not tested: no credentials given", credentials_to_give(plan.method)});
    } else {
      part.steps.push_back(Step{"smtp", StepState::untested, "no host to connect to (" + endpoint_text + ")", "see the MX rows, or --smtp-host"});
    }
    return part;
  }
  part.section.title = "SMTP (" + target->host + " port " + std::to_string(probe.port) + ")";
  part.host = target->host;
  const std::string address = target->address.to_string();
  part.target = target->host + " [" + address + "]:" + std::to_string(probe.port);
  smtp::TargetResult result = smtp::probe_target(probe, *target);
  // A certificate connector is credited only when the certificate made the
  // difference: an external RCPT TO accepted with it and refused without it
  // in a second session. Accepted both ways, a connector for this machine's
  // address matched (Exchange Online takes either, m365-facts 3.6).
  CertificateEvidence certificate = CertificateEvidence::not_compared;
  if (plan.method == Method::relay && plan.client_certificate && result.session.tls.certificate_requested &&
      external_rcpt_accepted(plan, result.session)) {
    smtp::ProbeOptions bare = probe;
    bare.session.tls.client_certificate_file.clear();
    bare.session.tls.client_key_file.clear();
    const smtp::TargetResult without = smtp::probe_target(bare, *target);
    const bool reached_rcpt = std::any_of(without.session.envelope.begin(), without.session.envelope.end(),
                                          [](const smtp::Exchange& e) { return e.command.starts_with("RCPT"); });
    if (external_rcpt_accepted(plan, without.session)) certificate = CertificateEvidence::accepted_without;
    else if (reached_rcpt) certificate = CertificateEvidence::certificate_decides;
  }
  const bool microsoft = is_microsoft_endpoint(ascii::to_lower(target->host));
  for (auto& check : result.checks) {
    // Microsoft 365 always listens on 25 and 587: a refusal comes from
    // something on the way (a local firewall answering for it), so the
    // session could not be tested; that is not a finding about the tenant.
    if (check.id == "smtp.connect" && check.status == Status::fail) {
      check.status = Status::error;
      check.remedy = "Something between here and " + target->host + " refuses port " + std::to_string(probe.port) +
                     " (a firewall, an antivirus, or the ISP): run the check from the device's network, or ask for outbound port " + std::to_string(probe.port) + " to be opened.";
    }
    // Microsoft's chains are public: an untrusted one here is a proxy that
    // intercepts TLS, or a CA store too old for Microsoft's current roots.
    if (check.id == "tls.chain-trusted" && check.status == Status::fail && microsoft && plan.ca_file.empty()) {
      check.status = Status::warn;
      check.remedy = "Microsoft's certificate chains lead to public roots (DigiCert Global Root G2): on this network something intercepts "
                     "TLS (a proxy or antivirus), or this machine's CA store is out of date. Check the chain from the device's network and "
                     "update the CA store; the device itself must trust DigiCert Global Root G2.";
    }
    // Microsoft's own hosts present certificates that name them: a name that
    // does not match here is something on this network answering for the
    // host (TLS interception), not a certificate the admin could change.
    if (check.id == "tls.name-matches" && check.status == Status::fail && microsoft) {
      check.status = Status::warn;
      check.remedy = "Microsoft's servers present certificates that name them: on this network something answers for " + target->host +
                     " or intercepts TLS (a proxy or antivirus). Check from the device's network; a device that verifies the name "
                     "refuses such a server.";
    }
    // A Microsoft host that does not greet in SMTP is something on the way
    // (a proxy or filter answering for it): the session was not tested.
    if (check.id == "smtp.banner" && check.status == Status::fail && microsoft) {
      check.status = Status::error;
      check.remedy = "Something between here and " + target->host + " answers on port " + std::to_string(probe.port) +
                     " instead of Microsoft 365 (a proxy or filter): run the check from the device's network.";
    }
    // At the MX, TLS is opportunistic: an untrusted certificate does not stop
    // the mail, only a device that insists on checking it.
    if (check.id == "tls.chain-trusted" && check.status == Status::fail && !submission) {
      check.status = Status::warn;
      check.remedy = "TLS is optional for direct send and relay, so the mail still goes through; a device set to verify the server's "
                     "certificate would refuse this one. " + check.remedy;
    }
    // A month's notice for a certificate a device pins or checks.
    if (check.id == "tls.expiry" && check.status == Status::pass && result.session.tls.expires_in_days && *result.session.tls.expires_in_days < 30) {
      check.status = Status::warn;
      check.remedy = microsoft ? "Microsoft renews its certificates itself; a device that pins the old one needs the new chain."
                               : "Renew the server certificate before it expires.";
    }
    // Without credentials, MAIL FROM is expected to be refused.
    if (check.id == "smtp.mail" && submission && auth == smtp::AuthMechanism::none) {
      const bool reached = std::any_of(result.session.envelope.begin(), result.session.envelope.end(),
                                       [](const smtp::Exchange& e) { return e.command.starts_with("MAIL"); });
      if (!reached) {
        // The session ended before MAIL FROM: nothing was shown either way.
        part.section.checks.push_back(skipped("smtp.mail", "MAIL FROM without AUTH was not tried: the session ended before it"));
        continue;
      }
      const bool expected = std::any_of(result.session.envelope.begin(), result.session.envelope.end(), [](const smtp::Exchange& e) {
        return e.command.starts_with("MAIL") && e.reply.code == 530;
      });
      check.status = expected ? Status::pass : Status::warn;
      check.message = expected ? "MAIL FROM without AUTH is refused with 530 5.7.57, as a submission endpoint must: it takes mail only after AUTH"
                               : "MAIL FROM without AUTH was not refused: " + check.message + " (this is not a submission endpoint that requires AUTH)";
      check.remedy = expected ? "" : "Check --smtp-host: Microsoft 365 submission refuses MAIL FROM before AUTH.";
    }
    // --device-tls made the session use the device's old TLS on purpose: the
    // smtp.device-tls row says what that means for the device.
    if (check.id == "tls.version" && check.status == Status::warn && plan.device_tls) {
      check.status = Status::info;
      check.message = "negotiated " + result.session.tls.version + ", the device's best TLS (--device-tls)";
      check.remedy.clear();
    }
    // The probe's own options are not preflight's: --device-tls says what the device speaks.
    if (check.remedy.find("--tls-min") != std::string::npos)
      check.remedy = "Exchange Online needs TLS 1.2 or later. Check the session from the device's network (something here may intercept "
                     "TLS), and give the device's best TLS version with --device-tls.";
    // ACS takes MAIL FROM only in its provisioned domains: 5.7.60 is not an
    // Exchange send-as permission there.
    if (plan.method == Method::acs && check.id == "smtp.mail" && check.status == Status::fail &&
        check.message.find("5.7.60") != std::string::npos)
      check.remedy = "ACS sends only from the domains connected to the Communication Services resource: use a MAIL FROM in the "
                     "Azure-managed domain (DoNotReply@<guid>.azurecomm.net) or in a verified custom domain connected to it "
                     "(https://learn.microsoft.com/azure/communication-services/quickstarts/email/send-email-smtp/smtp-authentication).";
    // A 4xx defers the sign-in for now: not verified, and no word on the
    // credentials (the probe's remedy says to try again).
    if (check.id == "smtp.auth" && check.status == Status::fail && result.session.auth && result.session.auth->reply.transient())
      check.status = Status::warn;
    else if (check.id == "smtp.auth" && check.status == Status::fail && result.session.auth)
      check.remedy = auth_remedy(plan, result.session.auth->reply);
    part.section.checks.push_back(std::move(check));
  }
  if (plan.device_tls) {
    const bool plain = !device_tls_max(*plan.device_tls).has_value();
    const bool old = !plain && *device_tls_max(*plan.device_tls) < tls::Version::tls1_2;
    Check device{"smtp.device-tls", Status::pass, "", "", {{"device_tls", plain ? "none" : std::string(tls::to_string(*device_tls_max(*plan.device_tls)))}}};
    const std::string device_tls_name = device_tls_text(*plan.device_tls);
    if (submission && (plain || old)) {
      device.status = Status::fail;
      device.message = std::string("The device speaks ") + (plain ? "no TLS" : device_tls_name) +
                       ": " + plan.endpoint.host + " requires TLS 1.2 or later (TLS 1.0/1.1 get 421 4.7.66)";
      device.remedy = plan.method == Method::smtp_auth && !plain
                          ? "Update the device's firmware for TLS 1.2; or opt in to the legacy endpoint smtp-legacy.office365.com "
                            "(Set-TransportConfig -AllowLegacyTLSClients $true; not in GCC, GCC High or DoD); or send by direct send or an "
                            "inbound connector to the MX on port 25, which accepts plain SMTP."
                          : "Update the device's firmware for TLS 1.2, or send by direct send or an inbound connector to the MX on port 25, "
                            "which accepts plain SMTP.";
      part.steps.push_back(Step{"device-tls", StepState::failed, std::string("the device's ") + (plain ? "missing TLS" : "TLS") + " is refused on " + plan.endpoint.host, ""});
    } else if (legacy_tls_without_tls(plan)) {
      device.status = Status::warn;
      device.message = "The device speaks at most " + device_tls_name +
                       ", which Exchange Online refuses; its MX accepts mail without TLS (inbound TLS is opportunistic), so this run "
                       "tested plain SMTP on port " + std::to_string(probe.port) + ", as the device must send";
      device.remedy = "Turn TLS (STARTTLS) off on the device: its mail then crosses the internet unencrypted. A firmware update with TLS 1.2 "
                      "lets it encrypt again.";
    } else if (!submission && old) {
      // A certificate connector identifies the device by its certificate, in TLS.
      device.status = Status::fail;
      device.message = "The device speaks at most " + device_tls_name +
                       ": a certificate-based connector needs TLS 1.2 or later, which Exchange Online requires";
      device.remedy = "Update the device's firmware for TLS 1.2, or use a connector that matches the device's static public IP address "
                      "instead of its certificate (the device can then send without TLS).";
      part.steps.push_back(Step{"device-tls", StepState::failed, "a certificate connector needs TLS 1.2; the device has " +
                                                                        device_tls_name, ""});
    } else {
      device.message = plain ? "The device sends without TLS: the MX accepts plain SMTP on port 25"
                             : "The session ran with the device's TLS (" + device_tls_name + " at most)";
    }
    part.section.checks.push_back(std::move(device));
  }
  if (tested_from_elsewhere(plan))
    for (auto& check : part.section.checks)
      if (check.status == Status::fail && (check.id == "smtp.mail" || check.id == "smtp.rcpt") && check.fields.contains("reply") &&
          check.fields["reply"].is_object()) {
        smtp::Reply reply;
        if (check.fields["reply"]["enhanced"].is_string()) reply.enhanced = check.fields["reply"]["enhanced"].get<std::string>();
        if (!depends_on_source(plan, reply)) continue;
        check.status = Status::warn;
        check.message = "From this machine, not from " + plan.ip->to_string() + ": " + check.message;
        check.remedy = "The result depends on the address the session comes from: " + from_device_network(plan) + ".";
      }
  // A step skipped after an earlier refusal is that refusal's consequence:
  // shown as what happened, with the refusal the one row to act on.
  for (auto& check : part.section.checks)
    if ((check.id == "smtp.mail" || check.id == "smtp.rcpt") && check.status == Status::fail && check.fields.value("skipped", false))
      check.status = Status::info;
  add_reply_findings(plan, result.session, part.section.checks);
  if (plan.method == Method::direct_send) external_refusals_as_evidence(plan, part.section.checks);
  session_steps(plan, auth, result.session, target->host + " port " + std::to_string(probe.port), certificate, part.steps);
  if (std::any_of(part.steps.begin(), part.steps.end(), [](const Step& step) { return step.id == "smtp" && step.state == StepState::passed; }))
    endpoint_identity(plan, result.session, target->host + " port " + std::to_string(probe.port),
                      submission ? default_endpoint(plan.method).host : std::string(), part.section.checks, part.steps);
  // Microsoft does not document at which SMTP stage Reject Direct Send
  // answers 5.7.68; an accepted envelope suggests it is off, and no more.
  const bool rejected_68 = std::any_of(result.session.policy_replies.begin(), result.session.policy_replies.end(),
                                       [](const auto& failure) { return failure.reply && failure.reply->enhanced == "5.7.68"; });
  if (plan.method == Method::direct_send && !rejected_68)
    reject_direct_send_step(plan, std::any_of(part.steps.begin(), part.steps.end(), [](const Step& step) {
                              return step.id == "envelope" && step.state == StepState::passed;
                            }),
                            part.section.checks, part.steps);
  if (plan.method == Method::direct_send) recipient_kind_step(plan, part.section.checks, part.steps);
  // Exchange Online's EHLO reply names the address it sees ("Hello
  // [198.51.100.99]"): a public one other than the device's says the
  // session did not come from the device, whatever --egress found.
  if (!submission && plan.ip && plan.session_from_device && result.session.ehlo && !result.session.ehlo->lines.empty()) {
    const std::string& greeting = result.session.ehlo->lines.front();
    const auto open = greeting.find('['), close = greeting.find(']', open == std::string::npos ? 0 : open);
    if (open != std::string::npos && close != std::string::npos) {
      const auto seen = IpAddress::parse(greeting.substr(open + 1, close - open - 1));
      if (seen && !is_non_public(address_scope(*seen)) && *seen != *plan.ip) {
        part.section.checks.push_back(Check{"smtp.seen-address", Status::warn,
                                            "The server saw this session come from " + seen->to_string() + " (EHLO reply: \"" + greeting +
                                                "\"), not from the device's " + plan.ip->to_string(),
                                            "Port 25 leaves this network from " + seen->to_string() +
                                                ": run the check with --ip " + seen->to_string() + " (and add it to SPF), or have the firewall "
                                                "send the device's port 25 traffic from " + plan.ip->to_string() + ".",
                                            {{"seen", seen->to_string()}}});
        part.steps.push_back(Step{"source", StepState::untested, "the server saw " + seen->to_string() + ", not " + plan.ip->to_string(),
                                  "--ip " + seen->to_string() + ", or one fixed address for the device's port 25 traffic"});
      }
    }
  }
  const bool has_source_step = std::any_of(part.steps.begin(), part.steps.end(), [](const Step& step) { return step.id == "source"; });
  const bool envelope_passed = std::any_of(part.steps.begin(), part.steps.end(), [](const Step& step) {
    return step.id == "envelope" && step.state == StepState::passed;
  });
  if (!submission && plan.ip && !plan.ip->is_v4() && target->address.is_v4() && envelope_passed && !has_source_step)
    part.steps.push_back(Step{"source", StepState::untested, "the session ran over IPv4; the device sends from " + plan.ip->to_string(),
                              "run it where this machine reaches the MX over IPv6: Exchange Online answers IPv6 senders by other rules "
                              "(550 5.2.1, 450 4.7.25, 450 4.7.26)"});
  if (submission) submission_checks(plan, auth, result.session, part.auth.checks, part.steps);
  part.json = smtp::to_json(result);
  if (certificate != CertificateEvidence::not_compared)
    part.json["connector_match"] = certificate == CertificateEvidence::certificate_decides ? "certificate" : "address";
  return part;
}

struct Secret {
  std::string value;
  smtp::AuthMechanism auth = smtp::AuthMechanism::none;  // what the session can try with it
  bool missing_secret = false;                           // --user without a password or token
  std::optional<Check> row;                              // a token endpoint's refusal
  std::optional<Step> step;
};

// A token endpoint's refusal of the client is a finding with its fix; a
// network failure on the way to it is an untested step.
Secret token_failure(const Error& error) {
  Secret out;
  const std::string& text = error.message;
  const auto refusal = oauth::client_refusal(text);
  Check row{"auth.token", Status::fail, "The token endpoint refused the client: " + text, refusal ? refusal->remedy : "", {}};
  if (refusal) {
    out.row = row;
    out.step = Step{"token", StepState::failed,
                    refusal->secret ? "the token endpoint refused the client secret" : "the token endpoint refused the client", ""};
  } else {
    row.status = Status::error;
    row.message = "Could not get a token: " + text;
    row.remedy = "Check the network path to the token endpoint (a proxy?), or give a token with --oauth-token-file.";
    out.row = row;
    out.step = Step{"token", StepState::untested, "no token (" + shorten(text, 60) + ")", "--oauth-token-file FILE"};
  }
  return out;
}

// The secret for AUTH, read only here: from a file or the environment.
Result<Secret> auth_secret(const Plan& plan) {
  Secret out;
  out.auth = plan.auth;
  if (plan.auth == smtp::AuthMechanism::xoauth2) {
    if (!plan.token_file.empty()) {
      auto token = oauth::read_secret_file(plan.token_file, "OAuth token");
      if (!token) return token.error();
      out.value = std::move(token.value());
      return out;
    }
    auto secret = oauth::read_secret_file(plan.client_secret_file, "client secret");
    if (!secret) return secret.error();
    oauth::ClientCredentials credentials;
    credentials.endpoint = plan.token_endpoint.empty() ? oauth::token_endpoint_for(plan.tenant) : plan.token_endpoint;
    credentials.client_id = plan.client_id;
    credentials.client_secret = *secret;
    if (!plan.oauth_scope.empty()) credentials.scope = plan.oauth_scope;  // a sovereign cloud's resource
    credentials.timeout = plan.timeout;
    auto token = oauth::fetch_client_credentials_token(credentials);
    if (!token) {
      if (token.error().kind == ErrorKind::bad_input) return token.error();
      Secret failed = token_failure(token.error());
      failed.auth = smtp::AuthMechanism::none;  // still test what can be tested without it
      return failed;
    }
    out.value = token->access_token;
    out.step = Step{"token", StepState::passed, "the token endpoint issued a token", ""};
    return out;
  }
  if (plan.auth == smtp::AuthMechanism::login) {
    if (!plan.password_file.empty()) {
      auto password = oauth::read_secret_file(plan.password_file, "password");
      if (!password) return password.error();
      out.value = std::move(password.value());
      return out;
    }
    if (const char* password = std::getenv("SENDCHECK_PASSWORD"); password && *password) {
      out.value = password;
      return out;
    }
    // A user name alone: test what can be tested without AUTH (NOT VERIFIED).
    out.auth = smtp::AuthMechanism::none;
    out.missing_secret = true;
    return out;
  }
  return out;
}


// The method's name in the verdict line: short, with the device's address.
std::string method_text(const Plan& plan, const std::optional<IpAddress>& ip) {
  switch (plan.method) {
    case Method::direct_send: return "Direct send" + (ip ? " from " + ip->to_string() : std::string());
    case Method::relay: return "SMTP relay" + (ip ? " from " + ip->to_string() : std::string());
    case Method::smtp_auth: return "SMTP AUTH submission";
    case Method::hve: return "High Volume Email";
    case Method::acs: return "ACS SMTP";
  }
  return "Direct send";
}

// The blocklist step from its rows: a listing is a finding; a list that
// could not be asked (an error or a timeout) leaves the step untested, since
// "not listed" was shown only for the lists that answered.
std::optional<Step> blocklist_step(const Section& section) {
  if (section.checks.empty() || is_skipped(section.checks.front())) return std::nullopt;
  // A listing is definite whatever else could not be asked.
  for (const auto& check : section.checks)
    if (check.status == Status::fail) return Step{"blocklist", StepState::failed, shorten(check.message, 70), ""};
  // Exchange Online has refused senders "blocked using Spamhaus" without
  // saying which of its lists count: a PBL listing is neither a refusal
  // seen nor a clean address.
  for (const auto& check : section.checks)
    if (check.id == "blocklist.listed" && check.status == Status::warn && pbl_only(check))
      return Step{"blocklist", StepState::untested,
                  "the address is in the Spamhaus PBL, and Exchange Online has refused Spamhaus-listed senders without saying which lists count",
                  "remove a static business address from the PBL (https://check.spamhaus.org/), then run again"};
  bool clean = false;
  std::vector<std::string> unanswered;
  for (const auto& check : section.checks) {
    if (check.status == Status::error && check.id != "blocklist.list-error")  // the resolver, the table, --list
      return Step{"blocklist", StepState::untested, "the blocklist check could not complete: " + shorten(check.message, 60),
                  "run again, or ask another resolver with --dns"};
    if (check.status == Status::error) unanswered.push_back(check.fields.value("list", std::string("a list")));
    // A listing that does not block (a PBL warning, a UCEPROTECT level 2/3
    // network listing for information) is an answer too.
    if (check.id == "blocklist.clean" || check.id == "blocklist.listed") clean = true;
  }
  if (!unanswered.empty() || !clean) {
    const std::string lists = strings::join_first(unanswered, 3);
    return Step{"blocklist", StepState::untested,
                unanswered.empty() ? "no blocklist answered"
                                   : std::to_string(unanswered.size()) + (unanswered.size() == 1 ? " blocklist" : " blocklists") +
                                         " could not be checked (" + lists + ")",
                "run again, or ask another resolver with --dns"};
  }
  return Step{"blocklist", StepState::passed, "not listed", ""};
}

}  // namespace

// One run's state between prepare() and finish(): what was known before
// the DNS parts, the parts as they come in, and the SMTP session.
struct PreflightRun::State {
  State(const Plan& p, const dns::ResolverConfig& config) : plan(p), factory{config} {}
  Plan plan;  // a copy: prepare() learns where the session comes from
  ResolverFactory factory;
  Secret secret;
  Outcome outcome;
  std::vector<Step> steps;
  Section auth_section{"auth", "Authentication", {}};
  Section input{"input", "Input", {}};
  MxPart mx_part;
  SpfPart spf_part;
  ReputationPart reputation;
  AcsDomainPart acs_domain;
  SmtpPart smtp_part;
  OutboundPart outbound;
  SenderDomainPart sender_domain;
  std::optional<spf::NetworkSpfResolver> spf_resolver, outbound_spf_resolver;
  std::future<void> smtp_done;
};

PreflightRun::PreflightRun(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreflightRun::~PreflightRun() {
  // A session still running refers to this state: wait for it.
  if (state_ && state_->smtp_done.valid()) state_->smtp_done.wait();
}

SessionPool::SessionPool(std::size_t threads) : max_threads_(std::max<std::size_t>(threads, 1)) {}

SessionPool::~SessionPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

std::future<void> SessionPool::submit(std::function<void()> job) {
  std::packaged_task<void()> task(std::move(job));
  auto future = task.get_future();
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(task));
    if (threads_.size() < max_threads_ && idle_ == 0) threads_.emplace_back([this] { work(); });
  }
  wake_.notify_one();
  return future;
}

void SessionPool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) return;  // stopping, nothing left
    auto task = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

Result<std::unique_ptr<PreflightRun>> PreflightRun::prepare(const Plan& plan, const dns::ResolverConfig& resolver_config) {
  auto secret = auth_secret(plan);
  if (!secret) return secret.error();
  std::unique_ptr<PreflightRun> run(new PreflightRun(std::make_unique<State>(plan, resolver_config)));
  State& state = *run->state_;
  state.secret = std::move(secret.value());
  if (state.secret.missing_secret) {
    state.plan.auth = smtp::AuthMechanism::none;
    state.input.checks.push_back(Check{"input.credentials", Status::warn,
                                       "--user " + plan.user + " was given without a password or token: AUTH is not tested",
                                       "Give " + credentials_to_give(plan.method) + ".", {}});
  }
  Outcome& outcome = state.outcome;
  std::vector<Step>& steps = state.steps;
  Section& auth_section = state.auth_section;
  Section& input = state.input;
  const bool submission = is_submission(plan.method);
  if (state.secret.row) auth_section.checks.push_back(*state.secret.row);
  if (state.secret.step) steps.push_back(*state.secret.step);
  // What the token file's token shows offline (never the token): a stand-in
  // server may take what Exchange Online refuses.
  std::optional<smtp::OAuthTokenFacts> token;
  if (submission && !plan.token_file.empty() && state.secret.auth == smtp::AuthMechanism::xoauth2) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    token = smtp::inspect_oauth_token(state.secret.value, plan.user.empty() ? plan.from : plan.user, now,
                                      plan.method == Method::hve ? smtp::TokenAccount::hve_account : smtp::TokenAccount::mailbox);
  }
  // An application's token: client credentials, or a token file without scp.
  const bool run_app_only = token ? token->app_only : !plan.client_id.empty();
  if (submission) device_auth_facts(plan, state.plan.auth, run_app_only, auth_section.checks, steps);
  if (token) {
    std::string notes;
    for (const auto& note : token->notes) notes += (notes.empty() ? "" : "; ") + note;
    // A U.S. Government tenant's token is for outlook.office365.us.
    const bool worldwide_token = plan.oauth_scope.find("office365.us") != std::string::npos && token->jwt && !token->encrypted &&
                                 token->audience.find("office365.us") == std::string::npos;
    if (!token->problem.empty()) {
      auth_section.checks.push_back(Check{"auth.token-file", Status::warn, "The token in " + plan.token_file + ": " + token->problem,
                                          "Get a new access token for Exchange Online and run again.", {}});
      // Exchange Online answers such a token 535 5.7.3: a server that took
      // it is not answering as Exchange Online, and its AUTH proves nothing.
      steps.push_back(Step{"token", StepState::untested,
                           "the token is one Exchange Online refuses (" + shorten(token->problem, 60) +
                               "), so a server that accepts it does not answer as Exchange Online",
                           "--oauth-token-file with a valid access token for Exchange Online"});
    }
    else if (worldwide_token)
      auth_section.checks.push_back(Check{"auth.token-file", Status::warn,
                                          "The token in " + plan.token_file + " is for " + token->audience + ", the worldwide cloud; this tenant is in "
                                          "the U.S. Government cloud, whose Exchange Online takes tokens for https://outlook.office365.us",
                                          "Get the token from login.microsoftonline.us with the scope https://outlook.office365.us/.default (or "
                                          "https://outlook.office365.us/SMTP.Send for a user).", {}});
    else if (!notes.empty())
      auth_section.checks.push_back(Check{"auth.token-file", Status::warn, "The token in " + plan.token_file + ": " + notes,
                                          "Check it before the device depends on it: Exchange Online refuses it otherwise (535 5.7.3).", {}});
    if (worldwide_token)
      steps.push_back(Step{"token", StepState::untested, "the token is for the worldwide cloud, not the U.S. Government cloud's Exchange Online",
                           "--oauth-token-file with a token from login.microsoftonline.us"});
  }

  // The input as given: who sends, to whom.
  input.checks.insert(input.checks.end(), plan.cloud_checks.begin(), plan.cloud_checks.end());
  // The device's own EHLO name (--helo): Exchange Online has answered bare
  // or malformed names 501 5.5.4 (and taken some bare ones), so a name
  // that is not a domain is a risk the session here may not show.
  if (plan.helo_given && !smtp::is_valid_ehlo_name(plan.helo))
    input.checks.push_back(Check{"input.helo", Status::warn,
                                 "The EHLO name " + smtp::printable(plan.helo, 100) +
                                     " is not a fully qualified domain name: Exchange Online has refused such names with 501 5.5.4 "
                                     "Invalid domain name",
                                 "Give the device a host name with its domain (scanner." + plan.domain +
                                     ") in its network settings; it sends that name with EHLO.",
                                 {{"helo", plan.helo}}});
  steps.insert(steps.end(), plan.cloud_steps.begin(), plan.cloud_steps.end());
  if (!submission) {
    if (!is_internal(plan.from, plan.accepted_domains)) {
      const std::string from_domain = plan.from.substr(plan.from.rfind('@') + 1);
      if (plan.method == Method::relay) {
        // A connector relays mail from the tenant's accepted domains; mail
        // from others is refused (5.7.750) unless a certificate connector
        // vouches for it. Which domains are accepted is not visible here.
        input.checks.push_back(Check{"input.from", Status::warn,
                                     "The sender " + plan.from + " is not in " + plan.domain +
                                         " or a domain given with --accepted-domain: a connector relays mail only from the tenant's accepted "
                                         "domains (else 550 5.7.750 Client blocked from sending from unregistered domains)",
                                     "If " + from_domain + " is an accepted domain of the tenant, give --accepted-domain " + from_domain +
                                         "; otherwise use a sender address in an accepted domain (or add " + from_domain + " to the tenant).",
                                     {{"from", plan.from}}});
        steps.push_back(Step{"sender", StepState::untested, plan.from + " is not known to be in an accepted domain",
                             "--accepted-domain " + from_domain + " if the tenant has it"});
      } else {
        input.checks.push_back(Check{"input.from", Status::info,
                                     "The sender " + plan.from + " is not in " + plan.domain +
                                         ": to the tenant's mailboxes this is ordinary inbound mail from " + from_domain +
                                         ", judged by its SPF and DMARC (the rows below), not direct send from your own domain",
                                     "", {{"from", plan.from}}});
      }
    }
    if (!plan.external.empty()) {
      std::string list;
      for (const auto& address : plan.external) list += (list.empty() ? "" : ", ") + address;
      if (plan.method == Method::direct_send) {
        input.checks.push_back(Check{"input.external-recipients", Status::fail,
                                     "External recipients: " + list + ". Direct send only reaches the tenant's own mailboxes",
                                     "For recipients outside " + plan.domain +
                                         ", use SMTP relay through an inbound connector or SMTP AUTH submission (--method relay or smtp-auth).",
                                     {{"recipients", plan.external}}});
        steps.push_back(Step{"recipients", StepState::failed, "direct send reaches only the tenant's mailboxes (" + plan.external.front() + " is external)", ""});
      } else {
        input.checks.push_back(Check{"input.external-recipients", Status::info, "External recipients: " + list +
                                                                                     " (relay through a connector may send to them)",
                                     "", {{"recipients", plan.external}}});
      }
    } else if (!plan.to.empty()) {
      input.checks.push_back(Check{"input.recipients", Status::pass, "Every recipient is in the tenant's accepted domains", "", {}});
    }
    if (plan.ip && address_scope(*plan.ip) == AddressScope::documentation)
      input.checks.push_back(Check{"input.ip", Status::warn,
                                   plan.ip->to_string() + " is " + std::string(describe(AddressScope::documentation)) +
                                       ": no device sends from it on the internet",
                                   "Give the device's real public address (run sendcheck blocklist --egress from the device's network).",
                                   {{"ip", plan.ip->to_string()}}});
  }

  // The device's address: as given, or this machine's public one.
  outcome.ip = plan.ip;
  if (plan.egress) {
    blocklist::EgressOptions egress;
    egress.dns_probes = plan.egress_dns.empty() ? blocklist::default_egress_probes() : blocklist::egress_probes_at(plan.egress_dns);
    // A server given with --egress-dns (a test, a private mirror) is the only one asked.
    if (!plan.egress_dns.empty()) egress.url.clear();
    egress.attempt_timeout = resolver_config.attempt_timeout;
    egress.tries = resolver_config.tries;
    egress.http_timeout = plan.timeout;
    egress.on_log = resolver_config.on_log;
    egress.keep_log = resolver_config.keep_log;
    auto found = blocklist::discover_egress(egress);
    state.plan.egress_found = found.addresses;
    if (plan.ip) {
      // --ip with --egress: the device's address is given; this machine's
      // tells whether the session is the device's.
      const bool same = std::find(found.addresses.begin(), found.addresses.end(), *plan.ip) != found.addresses.end();
      state.plan.session_from_device = same;
      std::string seen;
      for (const auto& address : found.addresses) seen += (seen.empty() ? "" : ", ") + address.to_string();
      if (same)
        input.checks.push_back(Check{"blocklist.egress", Status::info,
                                     "This machine sends from " + plan.ip->to_string() + ", the device's address: the session is the device's (--egress)", "", {}});
      else if (!found.addresses.empty())
        input.checks.push_back(Check{"blocklist.egress", Status::warn,
                                     "This machine sends from " + seen + ", not from the device's " + plan.ip->to_string() +
                                         ": results that depend on the source address (port 25 on the way, connectors, Microsoft's IP reputation) are this machine's",
                                     "Run the command on a computer in the device's network (behind the same public address).", {}});
      else
        input.checks.push_back(Check{"blocklist.egress", Status::error,
                                     "Could not find the public address this machine sends from (--egress): the session is not known to come from " +
                                         plan.ip->to_string(),
                                     "Run it again; if this network blocks the OpenDNS and Google lookups, give --egress-dns.", {}});
    } else {
      for (const auto& address : found.addresses)
        if (!outcome.ip || (!outcome.ip->is_v4() && address.is_v4())) outcome.ip = address;
      // The address found is the device's from here on (connector advice names it).
      state.plan.session_from_device = outcome.ip.has_value();
      state.plan.ip = outcome.ip;
      if (outcome.ip)
        input.checks.push_back(Check{"blocklist.egress", Status::info, "This machine sends from " + outcome.ip->to_string() + " (--egress)", "", {}});
      else
        input.checks.push_back(Check{"blocklist.egress", Status::error, "Could not find the public address this machine sends from (--egress)",
                                     "Give the device's public address with --ip.", {}});
    }
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& attempt : found.attempts)
      attempts.push_back({{"method", attempt.method}, {"via", attempt.via}, {"found", attempt.found}, {"detail", attempt.detail}});
    outcome.fields["egress"] = {{"addresses", nlohmann::json::array()}, {"attempts", attempts}};
    for (const auto& address : found.addresses) outcome.fields["egress"]["addresses"].push_back(address.to_string());
    outcome.log.insert(outcome.log.end(), found.log.begin(), found.log.end());
  }
  if (!submission && !outcome.ip) steps.push_back(Step{"address", StepState::untested, "the device's public address is unknown", "--ip IP"});
  return run;
}

void PreflightRun::start(dns::Resolver& resolver, SessionPool& sessions, std::function<void()> on_dns_done) {
  State& state = *state_;
  const Plan& plan = state.plan;
  const bool submission = is_submission(plan.method);
  auto work = dns::Work::create(resolver, std::move(on_dns_done));
  // The SMTP session is not DNS: it runs in the pool, at once when its host
  // is known up front, else once the MX part has found it.
  const bool smtp_up_front = !plan.endpoint.host.empty();
  auto run_smtp_in_pool = [&state, &sessions](std::optional<smtp::ProbeTarget> target) {
    state.smtp_done = sessions.submit([&state, target] {
      state.smtp_part = run_smtp(state.plan, state.factory, target, state.secret.auth, state.secret.value);
    });
  };
  if (smtp_up_front) run_smtp_in_pool(std::nullopt);

  if (submission) {
    state.mx_part.section.checks.push_back(skipped("mx.domains", "submission does not go through the MX"));
  } else {
    start_mx(resolver, plan, state.mx_part, [&state, smtp_up_front, run_smtp_in_pool, done = work->hold()] {
      if (!smtp_up_front) {
        const MxPart& mx_part = state.mx_part;
        const bool mx_failed = mx_part.step && mx_part.step->state != StepState::passed;
        if (mx_failed && !mx_part.target)
          state.smtp_part.section.checks.push_back(skipped("smtp.connect", "no Exchange Online host to connect to (see the MX rows)"));
        else
          run_smtp_in_pool(mx_part.target);
      }
      done();
    });
  }
  if (submission && !smtp_up_front) run_smtp_in_pool(std::nullopt);

  if (submission) state.spf_part.section.checks.push_back(skipped("spf.result", "the submission service sends from Microsoft's addresses, so the device's address needs no SPF entry"));
  else if (!state.outcome.ip) state.spf_part.section.checks.push_back(skipped("spf.result", "no device address (--ip or --egress)"));
  else start_spf(state.spf_resolver.emplace(resolver), plan, *state.outcome.ip, state.spf_part, work->hold());

  if (submission) {
    state.reputation.blocklist.checks.push_back(skipped("blocklist.ip", "the submission service sends from Microsoft's addresses"));
    if (plan.method == Method::acs) {
      // ACS sends as the From domain: its DMARC still applies, and a custom
      // domain needs its verification, SPF and DKIM records.
      if (!plan.from_domain.empty())
        query_dmarc(*work, plan.from_domain, state.reputation.dmarc_lookups);
      if (!plan.from_domain.empty() && !dns::name_is_at_or_below(plan.from_domain, "azurecomm.net"))
        start_acs_domain(resolver, plan.from_domain, state.acs_domain, work->hold());
    }
  } else {
    start_reputation(resolver, plan, state.outcome.ip, state.reputation, work->hold());
  }
  if (needs_outbound_dmarc(plan)) {
    // Relay asked the DMARC questions with the reputation part.
    if (submission) query_dmarc(*work, plan.from_domain, state.reputation.dmarc_lookups);
    start_outbound(resolver, state.outbound_spf_resolver.emplace(resolver), plan, state.outbound, work->hold());
    if (submission || !state.outcome.ip) start_outbound_record(*state.outbound_spf_resolver, plan, state.spf_part, work->hold());
  }
  if (needs_outbound_dmarc(plan) || (plan.method == Method::direct_send && !plan.from_domain.empty()))
    start_sender_domain(*work, plan.from_domain, state.sender_domain);
  work->close();
}

Outcome PreflightRun::finish(const std::vector<dns::QueryLogEntry>& log) {
  State& state = *state_;
  if (state.smtp_done.valid()) state.smtp_done.get();
  state.secret.value.assign(state.secret.value.size(), '\0');
  const Plan& plan = state.plan;
  const bool submission = is_submission(plan.method);
  Outcome& outcome = state.outcome;
  std::vector<Step>& steps = state.steps;
  Section& auth_section = state.auth_section;
  Section& input = state.input;
  MxPart& mx_part = state.mx_part;
  SpfPart& spf_part = state.spf_part;
  ReputationPart& reputation = state.reputation;
  AcsDomainPart& acs_domain = state.acs_domain;
  SmtpPart& smtp_part = state.smtp_part;

  Section dmarc = std::move(reputation.dmarc);
  std::optional<Step> dmarc_step, sender_domain_step;
  const OutboundPart& outbound = state.outbound;
  const bool want_dmarc = !plan.from_domain.empty() && (!submission || plan.method == Method::acs || outbound.asked);
  if (want_dmarc) {
    dmarc.title = "DMARC (" + idna::to_unicode(plan.from_domain) + ")";
    const bool spf_skipped = !spf_part.section.checks.empty() && is_skipped(spf_part.section.checks.front());
    // ACS signs with DKIM for its domain; the device's SPF is not what aligns.
    // ACS signs with DKIM for a custom domain whose CNAMEs are in place.
    const bool aligned = outbound.asked ? outbound.spf && outbound.spf->result == spf::SpfResult::pass
                         : plan.method == Method::acs ? acs_domain.dkim || acs_domain.section.checks.empty()
                                                      : spf_part.passes || spf_skipped;
    Check check = dmarc_check(plan.from_domain, reputation.dmarc_lookups, aligned);
    const std::string policy = check.fields.value("policy", std::string());
    const std::string policy_shown = check.fields.value("policy_tag", std::string("p")) + "=" + policy;
    // ACS aligns through its own DKIM signature, not the device's SPF.
    if (plan.method == Method::acs && check.status == Status::pass && !policy.empty() && policy != "none")
      check.message = "DMARC for " + plan.from_domain + " is " + policy_shown + "; ACS signs the mail with DKIM for " + plan.from_domain +
                      (acs_domain.section.checks.empty() ? std::string() : " (its selector1/selector2-azurecomm-prod-net CNAMEs are in place)") +
                      ", so DMARC passes: \"" +
                      check.fields.value("record", std::string()) + "\"";
    if (outbound.asked) {
      // The verified record is the fix when it makes Exchange Online pass.
      // The cloud shows in the MX: the tenant's (direct send, relay) or, for
      // the submission methods, which do not look it up, the From domain's.
      const auto from_mx = state.sender_domain.mx.mx();
      const bool sovereign = !plan.oauth_scope.empty() || (mx_part.target && sovereign_cloud_of(mx_part.target->host)) ||
                             std::any_of(from_mx.begin(), from_mx.end(), [](const dns::MxData& mx) { return sovereign_cloud_of(mx.exchange).has_value(); });
      const OpenPass open_pass = outbound_open_pass(outbound, spf_part);
      const std::string invalid_policy = check.fields.value("invalid_policy", std::string());
      const std::string invalid_policy_fix = check.remedy;
      const std::string records_fix = check.fields.value("records", 1) > 1 ? check.remedy : std::string();
      judge_outbound(plan, outbound, spf_part, open_pass, sovereign, sender_domain_gateway(state.sender_domain), check, dmarc_step);
      if (!records_fix.empty()) {
        if (check.status == Status::pass) check.status = Status::warn;
        check.remedy = check.remedy.empty() ? records_fix : check.remedy + " " + records_fix;
      }
      // Judged as none, which is how receivers read it; the typo stays a finding.
      if (!invalid_policy.empty()) {
        check.message += " (the record's " + invalid_policy + " is invalid: receivers read it as p=none or ignore it, RFC 7489 6.6.3)";
        if (check.status == Status::pass) check.status = Status::warn;
        check.remedy = check.remedy.empty() ? invalid_policy_fix : check.remedy + " " + invalid_policy_fix;
      }
      // The open term is relayed mail's own finding, with the same fix, when
      // the DMARC pass rests on it.
      if (!open_pass.id.empty() && check.fields.contains("passes_through")) {
        move_health_row_to_section(spf_part, open_pass.id);
        // Moved now, or already the device's own finding (its pass rests on it too): one fix.
        for (auto& row : spf_part.section.checks)
          if (row.id == open_pass.id || row.id == "spf.device-by-all") row.remedy = check.remedy;
        // Microsoft's missing include has the same one fix.
        for (auto& row : spf_part.section.checks)
          if (row.id == "spf.m365-include" && row.status != Status::pass) row.remedy = check.remedy;
      }
      // What ends Exchange Online's servers' evaluation in permerror (void
      // lookups, the lookup limit) decides relayed mail's DMARC: it is that
      // mail's finding, not domain health, with the DMARC row's fix.
      if (outbound.spf && outbound.spf->result != spf::SpfResult::pass && check.status != Status::pass)
        for (const std::string_view id : spf::findings_named_by(*outbound.spf))
          if (Check* moved = move_health_row_to_section(spf_part, id)) {
            moved->message += " Exchange Online's servers (" + outbound.spf_address + ") get " +
                              std::string(spf::to_string(outbound.spf->result)) +
                              " from it, so mail relayed to other organizations fails SPF.";
            moved->remedy = check.remedy;
          }
      if (check.status != Status::pass && check.status != Status::error && spf_part.candidate && !spf_part.suggested)
        spf_part.suggested = spf_part.candidate;
      // Microsoft's missing include is this row's cause: one fix for both.
      if (spf_part.suggested && check.status != Status::pass)
        for (auto& row : spf_part.section.checks)
          if (row.id == "spf.m365-include" && row.status != Status::pass) row.remedy = check.remedy;
    } else if (plan.method == Method::relay && check.status == Status::fail) {
      // Relayed mail reaches other organizations from Exchange Online's
      // outbound servers, not from the device: DMARC there depends on the
      // domain authorizing those servers (or on DKIM signing in Microsoft 365).
      if (spf_part.microsoft_included.value_or(false)) {
        check.status = Status::pass;
        check.message = "DMARC for " + plan.from_domain + " is " + policy_shown + "; relayed mail leaves Exchange Online from Microsoft's servers, "
                        "which the SPF record of " + plan.from_domain + " authorizes, so the device's own address does not decide DMARC";
        check.remedy.clear();
      } else {
        check.status = Status::warn;
        check.message = "DMARC for " + plan.from_domain + " is " + policy_shown + ", and the SPF record of " + plan.from_domain +
                        " does not authorize Exchange Online's outbound servers: relayed mail to other organizations passes DMARC only "
                        "when Microsoft 365 signs it with DKIM for " + plan.from_domain;
        check.remedy = "Add include:" + spf_part.microsoft_include + " to the SPF record of " + plan.from_domain +
                       ", or turn on DKIM signing for it (Microsoft Defender portal > Email authentication settings > DKIM).";
      }
    }
    if (plan.method == Method::acs && check.status == Status::fail) {
      // ACS mail aligns through ACS's DKIM signature for the custom domain.
      check.message = "DMARC for " + plan.from_domain + " is " + policy_shown + ": ACS mail from " + plan.from_domain +
                      " passes DMARC through ACS's DKIM signature, which needs the domain verified with its two DKIM CNAMEs";
      check.remedy = "Publish the DKIM CNAMEs selector1-azurecomm-prod-net._domainkey." + plan.from_domain +
                     " -> selector1-azurecomm-prod-net._domainkey.azurecomm.net and selector2-azurecomm-prod-net._domainkey." + plan.from_domain +
                     " -> selector2-azurecomm-prod-net._domainkey.azurecomm.net, then verify the domain in the Email Communication Service "
                     "(Provision domains > " + plan.from_domain + " > Configure).";
    }
    // DMARC's verdict for the device follows its SPF result: when that could
    // not be decided (temperror), neither can DMARC's, and a "fails SPF"
    // would be a finding made of a failed lookup.
    const bool spf_undecided = plan.method == Method::direct_send && spf_part.step && spf_part.step->state == StepState::untested;
    if (spf_undecided && check.status == Status::fail) {
      check.status = Status::warn;
      check.message = "SPF could not be decided for the device, so DMARC cannot be either. If it fails SPF: " + check.message;
      dmarc_step = Step{"dmarc", StepState::untested, "DMARC depends on the SPF result, which could not be decided", spf_part.step->to_test};
    } else if (plan.method == Method::direct_send) {
      if (check.status == Status::fail)
        dmarc_step = Step{"dmarc", StepState::failed,
                          "DMARC " + policy_shown +
                              (check.fields.contains("pct") ? " (pct=" + std::to_string(check.fields["pct"].get<int>()) + ")" : std::string()) +
                              " applies",
                          ""};
      else if (check.status == Status::error) dmarc_step = Step{"dmarc", StepState::untested, "the DMARC lookup failed", "run again, or --dns"};
      else dmarc_step = Step{"dmarc", StepState::passed, "DMARC does not stop the device", ""};
    } else if (plan.method == Method::acs && check.status == Status::error) {
      dmarc_step = Step{"dmarc", StepState::untested, "the DMARC lookup failed", "run again, or --dns"};
    } else if (plan.method == Method::acs && check.status == Status::fail) {
      dmarc_step = Step{"dmarc", StepState::failed,
                        "DMARC " + policy_shown + " without DKIM", ""};
    }
    if (!spf_part.suggested)  // no verified record is shown below
      for (auto at = check.remedy.find("publish the SPF record below"); at != std::string::npos; at = check.remedy.find("publish the SPF record below"))
        check.remedy.replace(at, 28, "see the SPF rows");
    dmarc.checks.push_back(std::move(check));
    outcome.fields["dmarc"] = {{"domain", plan.from_domain},
                               {"outcome", reputation.dmarc_lookups.empty() ? "" : dns::to_string(reputation.dmarc_lookups.front().answer.outcome)},
                               {"policy_domain", dmarc.checks.back().fields.value("policy_domain", plan.from_domain)},
                               {"record", dmarc.checks.back().fields.value("record", "")},
                               {"policy", dmarc.checks.back().fields.value("policy", "")}};
    if (state.sender_domain.asked) {
      judge_sender_domain(plan, state.sender_domain, mx_part.target ? mx_part.target->host : std::string(), dmarc, sender_domain_step);
      // A domain that does not exist takes no SPF record: every SPF and
      // DMARC row's fix is the sender address instead, and no record is offered.
      if (state.sender_domain.mx.outcome == dns::Outcome::nxdomain) {
        spf_part.suggested.reset();
        spf_part.candidate.reset();
        const std::string remedy = dmarc.checks.back().remedy;
        for (auto* rows : {&spf_part.section.checks, &spf_part.health.checks, &dmarc.checks})
          for (auto& row : *rows)
            if ((row.status == Status::fail || row.status == Status::warn) && !row.remedy.empty()) {
              row.remedy = remedy;
              row.fields.erase("suggested_record");
            }
      }
    }
  } else {
    dmarc.checks.push_back(skipped("dmarc.policy", submission ? "Microsoft 365 signs and sends submitted mail itself" : "no From domain"));
  }
  if (outcome.ip) reputation.blocklist.title = "Blocklists (" + outcome.ip->to_string() + ")";

  // Another public address --egress found for this network, of the given
  // family: the device's mail may leave from it, and this run did not check it.
  auto other_egress = [&](bool v4) -> std::optional<IpAddress> {
    if (submission || !outcome.ip || !plan.session_from_device) return std::nullopt;
    for (const auto& address : plan.egress_found)
      if (address != *outcome.ip && address.is_v4() == v4 && !is_non_public(address_scope(address))) return address;
    return std::nullopt;
  };
  // A network behind several addresses of the device's family (load-balanced NAT).
  if (const auto address = outcome.ip ? other_egress(outcome.ip->is_v4()) : std::nullopt) {
    input.checks.push_back(Check{"input.other-egress", Status::warn,
                                 "This network also sends from " + address->to_string() + ": the device's mail may leave from it, which this run "
                                 "did not check (SPF, blocklists)",
                                 "Run the check again with --ip " + address->to_string() + " (and add it to SPF), or have the firewall send the "
                                 "device's port 25 traffic from " + outcome.ip->to_string() + " only.",
                                 {{"ip", address->to_string()}}});
    steps.push_back(Step{"other-egress", StepState::untested, "this network also sends from " + address->to_string(),
                         "--ip " + address->to_string() + ", or one fixed address for the device"});
  }
  // A dual-stack network: the device may send from the network's address of
  // the other family, which this run did not check. An IPv4 device prefers
  // IPv6 when the MX has it; an IPv6 device falls back to IPv4 when its IPv6
  // path fails, and many prefer IPv4 whatever the MX has.
  auto other_family_path = [&](const IpAddress& address, bool v4, const std::string& why, const std::string& unchecked) {
    const std::string family = v4 ? "IPv4" : "IPv6", id = v4 ? "ipv4-path" : "ipv6-path";
    input.checks.push_back(Check{"input." + id, Status::warn,
                                 "This network also sends from the " + family + " address " + address.to_string() + why +
                                     ": a dual-stack device may send from " + address.to_string() + unchecked,
                                 "Run the check again with --ip " + address.to_string() + " (and --egress) on the device's network, or turn " +
                                     family + " off on the device so that it sends from " + outcome.ip->to_string() + ".",
                                 {{"ip", address.to_string()}}});
    steps.push_back(Step{id, StepState::untested, "the device may send from this network's " + family + " address " + address.to_string(),
                         "--ip " + address.to_string() + ", or " + family + " off on the device"});
  };
  if (const auto address = outcome.ip && outcome.ip->is_v4() && mx_part.target_has_ipv6 ? other_egress(false) : std::nullopt)
    other_family_path(*address, false, ", and the MX " + mx_part.target->host + " takes IPv6",
                      ", which this run did not check (reverse DNS, SPF, blocklists)");
  if (const auto address = outcome.ip && !outcome.ip->is_v4() ? other_egress(true) : std::nullopt)
    other_family_path(*address, true, "", " (its IPv6 path failing, or IPv4 preferred), which this run did not check (SPF, blocklists)");
  // The steps, in the order a message takes them.
  if (mx_part.step) steps.push_back(*mx_part.step);
  steps.insert(steps.end(), mx_part.extra_steps.begin(), mx_part.extra_steps.end());
  for (const auto& step : smtp_part.steps) steps.push_back(step);
  if (auto step = blocklist_step(reputation.blocklist); step && !submission) steps.push_back(*step);
  if (reputation.reverse_step && !submission) steps.push_back(*reputation.reverse_step);
  if (spf_part.step && plan.method == Method::direct_send) steps.push_back(*spf_part.step);
  if (dmarc_step) steps.push_back(*dmarc_step);
  if (sender_domain_step) steps.push_back(*sender_domain_step);

  if (plan.recommendation) {
    Section method_section = recommendation_section(*plan.recommendation);
    // The table reads the device only; the tenant's MX may rule its choice
    // out, whatever --smtp-host this run tested instead (the recommendation
    // must not change with a test option).
    if (plan.method == Method::direct_send)
      for (const auto& check : mx_part.section.checks)
        if (check.id == "mx.gateway") {
          const std::string gateway = check.fields.value("gateway", std::string());
          const std::string reason = "the MX of " + plan.domain + " is " +
                                     (gateway.empty() ? std::string("not Exchange Online") : gateway) +
                                     ": direct send to it does not reach Exchange Online";
          // run_tool plans again without direct send when another method fits.
          method_section.checks.push_back(Check{"method.mx-gateway", Status::warn, "Direct send fits the device, but " + reason,
                                                check.remedy,  // the MX row's two ways out: one next step for both
                                                {{"gateway", gateway}, {"reason", reason}}});
        }
    outcome.sections.push_back(std::move(method_section));
    outcome.fields["recommendation"] = to_json(*plan.recommendation);
  }
  if (!input.checks.empty()) outcome.sections.push_back(std::move(input));
  outcome.sections.push_back(std::move(mx_part.section));
  outcome.sections.push_back(std::move(smtp_part.section));
  for (auto& check : smtp_part.auth.checks) auth_section.checks.push_back(std::move(check));
  if (!auth_section.checks.empty()) outcome.sections.push_back(std::move(auth_section));
  outcome.sections.push_back(std::move(spf_part.section));
  outcome.sections.push_back(std::move(dmarc));
  outcome.sections.push_back(std::move(reputation.blocklist));
  if (!reputation.reverse.checks.empty()) outcome.sections.push_back(std::move(reputation.reverse));
  if (acs_domain.step) steps.push_back(*acs_domain.step);
  if (!acs_domain.section.checks.empty()) outcome.sections.push_back(std::move(acs_domain.section));
  if (!spf_part.health.checks.empty()) outcome.sections.push_back(std::move(spf_part.health));
  if (plan.client_certificate) {
    // Checked from the file before anything connected; the accepted domains
    // here are DOMAIN, --accepted-domain and the From domain.
    std::vector<std::string> accepted = plan.accepted_domains;
    if (!plan.from_domain.empty() && std::find(accepted.begin(), accepted.end(), plan.from_domain) == accepted.end())
      accepted.push_back(plan.from_domain);
    Section connector{"connector", "Client certificate (" + plan.client_certificate->file + ")",
                      client_certificate_checks(*plan.client_certificate, accepted)};
    for (const auto& check : connector.checks)
      if (check.status == Status::fail) {
        steps.push_back(Step{"connector-certificate", StepState::failed, "the client certificate cannot match a connector", ""});
        break;
      }
    outcome.sections.push_back(std::move(connector));
    outcome.fields["client_certificate"] = tls::to_json(plan.client_certificate->info);
    outcome.fields["client_certificate"]["file"] = plan.client_certificate->file;
  }
  outcome.spf_record = spf_part.suggested;
  if (outcome.spf_record && outcome.spf_record == spf_part.candidate)
    for (const auto& note : spf_part.candidate_publishing)
      outcome.spf_record_notes.push_back(spf_tool_words(note, plan.from_domain, outcome.ip));
  if (spf_part.helo_checked) outcome.device_helo = plan.helo;
  outcome.smtp_target = smtp_part.target;
  outcome.smtp_host = smtp_part.host;
  outcome.smtp_port = std::to_string(plan.endpoint.port);
  if (mx_part.target) outcome.mx_host = mx_part.target->host;
  if (!mx_part.json.is_null()) outcome.fields["mx"] = {{"domains", mx_part.json}};
  if (!spf_part.json.is_null()) outcome.fields["spf"] = spf_part.json;
  if (!reputation.blocklist_json.is_null()) outcome.fields["blocklist"] = reputation.blocklist_json;
  outcome.fields["smtp"] = {{"target", smtp_part.json}};
  outcome.log.insert(outcome.log.end(), log.begin(), log.end());

  // The verdict, from the steps alone; then what to do, from the rows.
  outcome.steps = with_failed_rows(std::move(steps), outcome.sections);
  outcome.verdict = decide(method_text(plan, outcome.ip), outcome.steps);
  outcome.next_steps = next_steps_for(outcome.sections);
  return std::move(outcome);
}


Result<Outcome> run_preflight(const Plan& plan, const dns::ResolverConfig& resolver_config) {
  auto run = PreflightRun::prepare(plan, resolver_config);
  if (!run) return run.error();
  // One resolver, one thread for every DNS part; the -v hook is the
  // factory's, which the SMTP session's own resolver (--smtp-host) shares.
  auto resolver = (*run)->make_resolver();
  if (!resolver) return resolver.error();
  SessionPool sessions(1);
  (*run)->start(**resolver, sessions, [] {});
  (*resolver)->run();
  return (*run)->finish((*resolver)->log());
}

Result<std::unique_ptr<dns::Resolver>> PreflightRun::make_resolver() const { return state_->factory.make(); }

bool PreflightRun::session_done() const {
  const auto& session = state_->smtp_done;
  return !session.valid() || session.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace diag::preflight
