#include "diag/mx.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/input_file.h"
#include "diag/version.h"

namespace diag::mx {
namespace {

struct ProviderSuffix {
  std::string_view suffix;
  Provider provider;
  bool legacy;
  std::string_view source;
};

constexpr ProviderSuffix provider_suffixes[] = {
#include "../../data/mx_providers.inc"
};

constexpr std::string_view outlook_suffix = ".mail.protection.outlook.com";
constexpr std::uint16_t direct_send_port = 25;

bool ends_with_label(std::string_view host, std::string_view suffix) {
  return dns::name_is_at_or_below(host, suffix);
}

std::string without_hyphens(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c != '-') out += c;
  return out;
}

// The token of a Microsoft host: the labels before ".suffix".
std::string_view token_of(std::string_view host, std::string_view suffix) {
  return host.substr(0, host.size() - suffix.size() - 1);
}

std::string join_addresses(const std::vector<IpAddress>& addresses) {
  std::string out;
  for (const auto& address : addresses) out += (out.empty() ? "" : ", ") + address.to_string();
  return out;
}

std::string describe_failure(const dns::Answer& answer) {
  std::string text = std::string(dns::to_string(answer.outcome)) + " from " + answer.source;
  if (!answer.detail.empty()) text += " (" + answer.detail + ")";
  return text;
}

Check make_check(const std::string& domain, std::string id, Status status, std::string message,
                 std::string remedy = "", nlohmann::json extra = nlohmann::json::object()) {
  Check check{std::move(id), status, std::move(message), std::move(remedy), std::move(extra)};
  check.fields["domain"] = domain;
  return check;
}

std::string admin_center_mx(const std::string& domain) {
  return "the MX value shown in the Microsoft 365 admin center (Settings > Domains > " + domain + " > DNS records)";
}

// What to type instead of a name the DNS host completed with its zone.
std::string appended_zone_remedy(const std::string& record, const AppendedZone& appended) {
  return "Change the " + record + " value to \"" + appended.intended + ".\" (with the final dot, which tells the DNS host the name is complete; "
         "if its form rejects the dot, enter the name as its help says for a host outside your domain), then check that the published " +
         record + " reads " + appended.intended + ".";
}

std::string describe_appended(const MxHost& host) {
  return host.appended_zone->intended + " with " + host.appended_zone->zone + " appended (typed without its final dot)";
}

std::string describe_host(const MxHost& host) {
  if (host.ip_literal) return "an IP address";
  if (host.appended_zone) return "the name " + describe_appended(host);
  if (host.host_class.legacy && host.host_class.provider == Provider::m365) return "a retired Microsoft target";
  return std::string(describe(host.host_class.provider));
}

bool host_has_addresses(const MxHost& host) { return !host.addresses.empty(); }

bool host_lookup_incomplete(const MxHost& host) {
  return !dns::is_definitive(host.a_outcome) || !dns::is_definitive(host.aaaa_outcome);
}

// The MX a device should use: the most preferred supported Microsoft 365
// host that resolves (RFC 5321 5.1: lowest preference first).
const MxHost* direct_send_candidate(const DomainReport& report) {
  for (const auto& host : report.hosts)
    if (is_microsoft(host.host_class.provider) && !host.host_class.legacy && !host.ip_literal &&
        host_has_addresses(host))
      return &host;
  return nullptr;
}

const MxHost* primary_microsoft_host(const DomainReport& report) {
  for (const auto& host : report.hosts)
    if (is_microsoft(host.host_class.provider) && !host.host_class.legacy) return &host;
  return nullptr;
}

// The host whose name decides the match: the one a device would use, else
// the most preferred Microsoft host (retired ones included), else the primary.
const MxHost* deciding_host(const DomainReport& r) {
  if (const MxHost* host = primary_microsoft_host(r)) return host;
  for (const auto& host : r.hosts)
    if (is_microsoft(host.host_class.provider)) return &host;
  return r.hosts.empty() ? nullptr : &r.hosts.front();
}

void check_mx_lookup(DomainReport& r) {
  const auto& d = r.domain;
  switch (r.mx_answer.outcome) {
    case dns::Outcome::records:
      if (r.null_mx && r.hosts.empty()) {
        r.checks.push_back(make_check(d, "mx.null", Status::fail,
                                      d + " publishes a null MX (\"0 .\", RFC 7505): it declares that it accepts no mail",
                                      "Replace the null MX with " + admin_center_mx(d) + "."));
        return;
      }
      r.checks.push_back(make_check(d, "mx.lookup", Status::pass,
                                    d + " has " + std::to_string(r.hosts.size()) + " MX record" +
                                        (r.hosts.size() == 1 ? "" : "s")));
      if (r.null_mx)
        r.checks.push_back(make_check(d, "mx.null", Status::fail,
                                      d + " publishes a null MX (\"0 .\") together with other MX records; RFC 7505 "
                                          "forbids that, and senders may take it to mean the domain accepts no mail",
                                      "Delete the null MX record (the one pointing at \".\")."));
      return;
    case dns::Outcome::nxdomain:
      r.checks.push_back(make_check(d, "mx.lookup", Status::fail, d + " does not exist in DNS (NXDOMAIN)",
                                    "Check the spelling. If the domain is new, register it, add it in the Microsoft "
                                    "365 admin center and publish the records the admin center shows."));
      return;
    case dns::Outcome::nodata:
      r.checks.push_back(make_check(d, "mx.lookup", Status::fail,
                                    d + " has no MX record: neither devices nor the internet can deliver to Microsoft "
                                        "365 for it",
                                    "Publish " + admin_center_mx(d) + "."));
      return;
    default:
      r.checks.push_back(make_check(d, "mx.lookup", Status::error,
                                    "Could not look up the MX of " + d + ": " + describe_failure(r.mx_answer),
                                    "This says nothing about the domain. Check that the DNS server answers (or name "
                                    "another with --dns) and run again."));
  }
}

void check_host(DomainReport& r, const MxHost& host) {
  const auto& d = r.domain;
  const nlohmann::json where = {{"host", host.host}};
  if (host.ip_literal) {
    r.checks.push_back(make_check(d, "mx.ip-literal", Status::fail,
                                  "MX " + host.host + " is an IP address, not a host name (RFC 5321 5.1 needs a name)",
                                  "Microsoft does not support IP addresses for this; publish " + admin_center_mx(d) +
                                      ".",
                                  where));
    return;
  }
  if (host.appended_zone) {
    const bool microsoft = is_microsoft(classify_host(host.appended_zone->intended).provider);
    r.checks.push_back(make_check(d, "mx.appended-zone", Status::fail,
                                  "MX " + host.host + " is " + describe_appended(host) +
                                      ": the DNS host added " + host.appended_zone->zone + " to a name that was complete" +
                                      (microsoft ? ", so mail for " + d + " cannot reach Microsoft 365" : ""),
                                  appended_zone_remedy("MX", *host.appended_zone),
                                  {{"host", host.host}, {"intended", host.appended_zone->intended}}));
  }
  if (host.host_class.provider == Provider::m365_germany) {
    r.checks.push_back(make_check(d, "mx.legacy-target", Status::fail,
                                  "MX " + host.host + " belongs to the retired Microsoft Cloud Deutschland",
                                  "Replace it with " + admin_center_mx(d) + " after the tenant's move to the "
                                  "worldwide service.",
                                  where));
  } else if (host.host_class.legacy) {
    r.checks.push_back(make_check(d, "mx.legacy-target", Status::fail,
                                  "MX " + host.host + " is a retired Microsoft target; Exchange Online answers mail "
                                  "sent there with \"451 4.4.62 Mail sent to the wrong Office 365 region\"",
                                  "Replace it with " + admin_center_mx(d) + ".", where));
  }
  if (!host.cname_target.empty()) {
    r.checks.push_back(make_check(d, "mx.cname", Status::warn,
                                  "MX " + host.host + " is an alias (CNAME) for " + host.cname_target +
                                      "; RFC 2181 10.3 forbids this and some senders refuse it",
                                  "Point the MX record at " + host.cname_target + " itself.", where));
  }
  if (host_has_addresses(host)) {
    r.checks.push_back(make_check(d, "mx.host-resolves", Status::pass,
                                  "MX " + host.host + " resolves to " + join_addresses(host.addresses), "", where));
  } else if (host_lookup_incomplete(host)) {
    const std::string detail = !dns::is_definitive(host.a_outcome)
                                   ? std::string(dns::to_string(host.a_outcome)) + " for A" +
                                         (host.a_detail.empty() ? "" : " (" + host.a_detail + ")")
                                   : std::string(dns::to_string(host.aaaa_outcome)) + " for AAAA" +
                                         (host.aaaa_detail.empty() ? "" : " (" + host.aaaa_detail + ")");
    r.checks.push_back(make_check(d, "mx.host-resolves", Status::error,
                                  "Could not resolve MX " + host.host + ": " + detail,
                                  "Check that the DNS server answers (or name another with --dns) and run again.",
                                  where));
  } else {
    const bool missing = host.a_outcome == dns::Outcome::nxdomain;
    r.checks.push_back(make_check(d, "mx.host-resolves", Status::fail,
                                  "MX " + host.host + (missing ? " does not exist (NXDOMAIN)" : " has no A or AAAA record") +
                                      ": nothing can connect to it",
                                  host.appended_zone ? appended_zone_remedy("MX", *host.appended_zone)
                                                     : "Correct the MX to " + admin_center_mx(d) +
                                                           ". If the admin center shows this very host, open a case with "
                                                           "Microsoft: the domain will not receive internet mail.",
                                  where));
  }
}

void check_mx_count(DomainReport& r) {
  if (r.hosts.size() < 2 || !std::any_of(r.hosts.begin(), r.hosts.end(), [](const MxHost& h) {
        return is_microsoft(h.host_class.provider);
      }))
    return;
  const bool dnssec_cutover =
      std::any_of(r.hosts.begin(), r.hosts.end(),
                  [](const MxHost& h) { return h.host_class.provider == Provider::m365_dnssec; }) &&
      std::any_of(r.hosts.begin(), r.hosts.end(),
                  [](const MxHost& h) { return h.host_class.provider == Provider::m365; });
  // Another host beside Microsoft's may be the tenant's filtering gateway
  // (Mimecast, Proofpoint) or its on-premises server: deleting it would send
  // the mail around the gateway, so the fix names both ways.
  std::vector<std::string> others;
  for (const auto& h : r.hosts)
    if (!is_microsoft(h.host_class.provider)) others.push_back(h.host);
  std::string other_list;
  for (const auto& host : others) other_list += (other_list.empty() ? "" : ", ") + host;
  const std::string remedy =
      dnssec_cutover
          ? "This looks like a DNSSEC cut-over in progress (mx.microsoft next to mail.protection.outlook.com). "
            "Once the mx.microsoft host has the lowest preference and the inbound SMTP test passes, delete the "
            "legacy MX."
      : others.empty()
          ? "Keep only " + admin_center_mx(r.domain) + "; Microsoft does not support more than one MX for a "
            "domain in Exchange Online."
          : "Inbound mail for " + r.domain + " is split between Exchange Online and " + other_list +
                ". If " + other_list + " filters mail for Microsoft 365 (a gateway such as Mimecast or Proofpoint), point "
                "every MX record at it and remove the Exchange Online one "
                "(https://learn.microsoft.com/exchange/mail-flow-best-practices/manage-mail-flow-using-third-party-cloud); "
                "if the domain's mail is in Exchange Online alone, keep only " + admin_center_mx(r.domain) + ".";
  r.checks.push_back(make_check(r.domain, "mx.single", Status::warn,
                                r.domain + " has " + std::to_string(r.hosts.size()) +
                                    " MX records; Microsoft 365 supports exactly one",
                                remedy));
}

// Whether a Microsoft MX host's token is exactly this tenant's name.
bool named_after(const MxHost& host, const std::string& tenant) {
  const std::string name = dns::canonical_name(host.host);
  return name.size() > host.host_class.suffix.size() + 1 && token_of(name, host.host_class.suffix) == tenant;
}

void check_provider_and_match(DomainReport& r) {
  if (r.hosts.empty()) return;
  const auto& d = r.domain;
  const MxHost& primary = r.hosts.front();
  r.checks.push_back(make_check(d, "mx.provider", Status::info,
                                "Primary MX " + primary.host + ": " + describe_host(primary),
                                "", {{"host", primary.host}, {"provider", to_string(primary.host_class.provider)}}));
  if (!r.match) return;
  const std::string assigned =
      " Microsoft assigns the token, and domains added since July 2026 get mx.microsoft hosts, so a device must use "
      "the published MX, not a derived name.";
  const MxHost* decider = deciding_host(r);
  const MxHost* microsoft =
      is_microsoft(decider->host_class.provider) && !decider->host_class.legacy ? decider : nullptr;
  switch (*r.match) {
    case MatchKind::exact:
      r.checks.push_back(make_check(d, "mx.tenant-match", Status::info,
                                    "The MX is the classic derived name " + r.classic + "." + assigned));
      break;
    case MatchKind::variant:
      r.checks.push_back(make_check(d, "mx.tenant-match", Status::info,
                                    "The MX " + decider->host + " is a variant of the derived name " + r.classic +
                                        " (Microsoft dropped hyphens or added a suffix for this tenant)." + assigned));
      break;
    case MatchKind::dnssec:
      r.checks.push_back(make_check(d, "mx.tenant-match", Status::info,
                                    "The MX " + decider->host +
                                        " is on Microsoft's DNSSEC-capable mx.microsoft infrastructure; its token "
                                        "cannot be derived from the domain." + assigned));
      break;
    case MatchKind::other:
      if (const auto tenant = initial_domain_tenant(d); microsoft && tenant && named_after(*microsoft, *tenant)) {
        r.checks.push_back(make_check(d, "mx.tenant-match", Status::info,
                                      "The MX " + microsoft->host + " is named after the tenant " + *tenant + ", as the MX "
                                          "of a tenant's initial " + d.substr(tenant->size() + 1) + " domain is; Microsoft "
                                          "manages this domain's DNS."));
      } else if (microsoft && microsoft->host_class.provider == Provider::m365) {
        r.checks.push_back(make_check(
            d, "mx.tenant-match", Status::warn,
            "The MX token of " + (microsoft->cname_target.empty() ? microsoft->host : microsoft->cname_target) +
                " does not look derived from " + d + " (expected " + r.classic +
                " or a variant of it)",
            "Compare it with " + admin_center_mx(d) +
                ": an MX copied from another domain delivers to that domain's tenant, or nowhere."));
      } else if (microsoft) {
        r.checks.push_back(make_check(d, "mx.tenant-match", Status::info,
                                      "The MX " + microsoft->host + " is named after the tenant, not the domain (" +
                                          std::string(describe(microsoft->host_class.provider)) + ")." + assigned));
      } else {
        std::string message = "No supported Microsoft 365 MX; the classic derived name " + r.classic;
        if (!r.classic_resolves) message += " could not be checked";
        else message += *r.classic_resolves ? " resolves" : " does not resolve";
        r.checks.push_back(make_check(d, "mx.tenant-match", Status::info, message + "." + assigned));
      }
      break;
    case MatchKind::none: break;
  }
}

void check_dnssec(DomainReport& r) {
  if (!r.mx_answer.is_definitive()) return;
  const auto& d = r.domain;
  if (r.mx_answer.source.rfind("zone:", 0) == 0) {
    r.checks.push_back(make_check(d, "mx.dnssec", Status::info,
                                  "The MX came from " + r.mx_answer.source.substr(5) +
                                      " (--zone); DNSSEC validation does not apply"));
  } else if (r.mx_answer.authenticated_data) {
    r.checks.push_back(make_check(d, "mx.dnssec", Status::pass,
                                  "The resolver validated the MX answer with DNSSEC (AD bit set)"));
  } else {
    const bool dnssec_host = std::any_of(r.hosts.begin(), r.hosts.end(), [](const MxHost& h) {
      return h.host_class.provider == Provider::m365_dnssec;
    });
    r.checks.push_back(make_check(
        d, "mx.dnssec", Status::info,
        "The MX answer was not DNSSEC-validated (no AD bit): the zone is unsigned or the resolver does not validate",
        dnssec_host ? "For inbound DANE, sign " + d + " at your DNS host, then run Enable-SmtpDaneInbound." : ""));
  }
}

void check_direct_send(DomainReport& r) {
  const auto& d = r.domain;
  if (!r.mx_answer.is_definitive()) return;  // mx.lookup already says why
  if (const MxHost* host = direct_send_candidate(r)) {
    // An MX that is an alias (CNAME) of Microsoft's host: devices are set to
    // Microsoft's name, which its certificate carries (mx.cname asks to
    // point the MX there too).
    std::string target = host->host;
    if (!host->cname_target.empty() && is_microsoft(classify_host(host->cname_target).provider))
      target = dns::canonical_name(host->cname_target);
    r.direct_send_host = target;
    r.checks.push_back(make_check(d, "mx.direct-send", Status::pass,
                                  "Direct send: devices connect to " + target + " port 25 (anonymous SMTP, "
                                  "STARTTLS optional" + (target == host->host ? std::string() : "; the MX " + host->host + " is an alias for it") +
                                  "); it delivers only to mailboxes of this tenant",
                                  "", {{"host", target}, {"port", direct_send_port}}));
    return;
  }
  const bool incomplete = std::any_of(r.hosts.begin(), r.hosts.end(), [](const MxHost& h) {
    return !host_has_addresses(h) && !h.ip_literal && host_lookup_incomplete(h);
  });
  if (incomplete) {
    r.checks.push_back(make_check(d, "mx.direct-send", Status::error,
                                  "Could not tell which host direct send should use: an MX host did not resolve",
                                  "Run again when the DNS server answers."));
    return;
  }
  if (std::any_of(r.hosts.begin(), r.hosts.end(),
                  [](const MxHost& h) { return is_microsoft(h.host_class.provider); })) {
    r.checks.push_back(make_check(d, "mx.direct-send", Status::fail,
                                  "No usable Microsoft 365 MX host for direct send",
                                  "Fix the MX findings above; devices need the host shown in the admin center, "
                                  "port 25."));
    return;
  }
  for (const auto& host : r.hosts)
    if (host.appended_zone && is_microsoft(classify_host(host.appended_zone->intended).provider)) {
      r.checks.push_back(make_check(d, "mx.direct-send", Status::fail,
                                    "No usable Microsoft 365 MX for direct send: MX " + host.host + " is " + describe_appended(host),
                                    appended_zone_remedy("MX", *host.appended_zone) + " Devices then send to " +
                                        host.appended_zone->intended + " port 25."));
      return;
    }
  if (r.hosts.empty()) {
    r.checks.push_back(make_check(d, "mx.direct-send", Status::fail,
                                  "No MX for direct send: " + d + " does not route mail to Microsoft 365",
                                  "Publish " + admin_center_mx(d) + "."));
    return;
  }
  std::string remedy = "If " + d + "'s mailboxes are in Microsoft 365 behind this gateway, a device can send to the "
                       "tenant's own endpoint instead";
  if (r.classic_resolves.value_or(false))
    remedy += " (" + r.classic + " resolves; confirm the exact host in the admin center, Settings > Domains)";
  else
    remedy += " (its host is in the admin center, Settings > Domains)";
  remedy += "; otherwise direct send to Exchange Online does not apply to this domain.";
  r.checks.push_back(make_check(d, "mx.direct-send", Status::warn,
                                "The MX of " + d + " is not Microsoft 365 (" +
                                    describe_host(r.hosts.front()) +
                                    "): direct send through it does not reach Exchange Online",
                                remedy));
}

std::optional<MatchKind> overall_match(const DomainReport& r) {
  if (!r.mx_answer.is_definitive()) return std::nullopt;
  if (r.hosts.empty()) return MatchKind::none;
  // An alias is matched by the Microsoft host it points at.
  const MxHost* host = deciding_host(r);
  return match_host(r.domain, host->cname_target.empty() ? host->host : host->cname_target);
}

void evaluate(DomainReport& r) {
  r.match = overall_match(r);
  check_mx_lookup(r);
  for (const auto& host : r.hosts) check_host(r, host);
  check_mx_count(r);
  check_provider_and_match(r);
  check_dnssec(r);
  check_direct_send(r);
}

std::optional<bool> resolves(const dns::Answer& answer) {
  if (answer.ok()) return true;
  if (answer.is_definitive()) return false;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Provider provider) {
  switch (provider) {
    case Provider::m365: return "m365";
    case Provider::m365_dnssec: return "m365-dnssec";
    case Provider::m365_gcc_high: return "m365-gcc-high";
    case Provider::m365_21vianet: return "m365-21vianet";
    case Provider::m365_germany: return "m365-germany";
    case Provider::google: return "google";
    case Provider::other: return "other";
  }
  return "other";
}

std::string_view describe(Provider provider) {
  switch (provider) {
    case Provider::m365: return "Microsoft 365 (mail.protection.outlook.com)";
    case Provider::m365_dnssec: return "Microsoft 365 with DNSSEC (mx.microsoft)";
    case Provider::m365_gcc_high: return "Microsoft 365 GCC High/DoD (mail.protection.office365.us)";
    case Provider::m365_21vianet: return "Microsoft 365 operated by 21Vianet (mail.protection.partner.outlook.cn)";
    case Provider::m365_germany: return "retired Microsoft Cloud Deutschland (mail.protection.outlook.de)";
    case Provider::google: return "Google Workspace";
    case Provider::other: return "a third-party mail host";
  }
  return "a third-party mail host";
}

bool is_microsoft(Provider provider) { return provider != Provider::google && provider != Provider::other; }

namespace {
struct GatewaySuffix {
  const char* suffix;
  const char* name;
  const char* source;
};
constexpr GatewaySuffix gateway_suffixes[] = {
#include "../../data/mail_gateways.inc"
};
}  // namespace

std::optional<MailGateway> classify_gateway(std::string_view host_text) {
  const std::string host = dns::canonical_name(host_text);
  // Google's MX hosts and its SPF lists (include:_spf.google.com, which
  // includes _netblocks.google.com) are all under google.com: one gateway,
  // so that the include in a record is known as the MX's
  // (https://support.google.com/a/answer/10685031).
  if (const HostClass google = classify_host(host); google.provider == Provider::google || ends_with_label(host, "google.com"))
    return MailGateway{"Google Workspace", "google.com", "https://support.google.com/a/answer/140034"};
  const GatewaySuffix* best = nullptr;
  for (const auto& entry : gateway_suffixes)
    if (ends_with_label(host, entry.suffix) && (!best || std::string_view(entry.suffix).size() > std::string_view(best->suffix).size()))
      best = &entry;
  if (!best) return std::nullopt;
  return MailGateway{best->name, best->suffix, best->source};
}

HostClass classify_host(std::string_view host_text) {
  const std::string host = dns::canonical_name(host_text);
  const ProviderSuffix* best = nullptr;
  for (const auto& entry : provider_suffixes)
    if (ends_with_label(host, entry.suffix) && (!best || entry.suffix.size() > best->suffix.size())) best = &entry;
  if (!best) return {};
  return {best->provider, best->legacy, best->suffix};
}

std::string classic_tenant_mx(std::string_view domain) {
  std::string token = dns::canonical_name(domain);
  std::replace(token.begin(), token.end(), '.', '-');
  return token + std::string(outlook_suffix);
}

std::optional<std::string> initial_domain_tenant(std::string_view domain_text) {
  const std::string domain = dns::canonical_name(domain_text);
  for (const std::string_view suffix : {".onmicrosoft.com", ".onmicrosoft.us"}) {
    if (domain.size() <= suffix.size() || !domain.ends_with(suffix)) continue;
    const std::string tenant = domain.substr(0, domain.size() - suffix.size());
    // <tenant>.mail.onmicrosoft.com and deeper names are not the initial domain.
    if (tenant.find('.') == std::string::npos) return tenant;
  }
  return std::nullopt;
}

std::string_view to_string(MatchKind kind) {
  switch (kind) {
    case MatchKind::exact: return "exact";
    case MatchKind::variant: return "variant";
    case MatchKind::dnssec: return "dnssec";
    case MatchKind::other: return "other";
    case MatchKind::none: return "none";
  }
  return "none";
}

MatchKind match_host(std::string_view domain_text, std::string_view host_text) {
  const std::string domain = dns::canonical_name(domain_text);
  const std::string host = dns::canonical_name(host_text);
  const HostClass host_class = classify_host(host);
  if (host_class.provider == Provider::m365_dnssec) return MatchKind::dnssec;
  if (host == classic_tenant_mx(domain)) return MatchKind::exact;

  // Tokens are named after the domain in the worldwide, 21Vianet and
  // Germany clouds; GCC High names them after the tenant.
  const bool token_from_domain = host_class.provider == Provider::m365_21vianet ||
                                 host_class.provider == Provider::m365_germany ||
                                 (host_class.provider == Provider::m365 && !host_class.legacy);
  if (!token_from_domain || host.size() <= host_class.suffix.size() + 1) return MatchKind::other;
  const std::string_view token = token_of(host, host_class.suffix);
  // Observed, not documented (m365-facts 1.1): newer tokens drop the
  // domain's own hyphens (the dot-hyphens stay) and may end in a suffix of
  // two digits and a letter ("01b", "01i"). Anything looser would call
  // schulenburg-com (schulenburg.com's token) a variant of schulenburg.co.
  std::string classic_token = domain;
  std::replace(classic_token.begin(), classic_token.end(), '.', '-');
  std::string squeezed_token = without_hyphens(domain);
  std::replace(squeezed_token.begin(), squeezed_token.end(), '.', '-');
  auto is_observed_suffix = [](std::string_view suffix) {
    return suffix.empty() || (suffix.size() == 3 && std::isdigit(static_cast<unsigned char>(suffix[0])) &&
                              std::isdigit(static_cast<unsigned char>(suffix[1])) &&
                              std::isalpha(static_cast<unsigned char>(suffix[2])));
  };
  for (const auto& base : {classic_token, squeezed_token})
    if (token.size() >= base.size() && token.compare(0, base.size(), base) == 0 &&
        is_observed_suffix(token.substr(base.size())))
      return MatchKind::variant;
  return MatchKind::other;
}

std::optional<AppendedZone> appended_zone(std::string_view name_text, std::string_view zone_text, bool name_has_data) {
  const std::string name = dns::canonical_name(name_text);
  std::string zone = dns::canonical_name(zone_text);
  // Top-level domains that no one uses as a label inside their own zone:
  // "mail.com.contoso.com" is "mail.com" with the zone appended.
  static constexpr std::string_view common_tlds[] = {"com", "net", "org", "edu", "gov", "mil", "int", "io", "info", "biz",
                                                     "us", "cn", "de", "uk", "microsoft", "cloud", "email", "online"};
  while (std::count(zone.begin(), zone.end(), '.') >= 1) {
    if (name.size() > zone.size() + 1 && dns::name_is_at_or_below(name, zone)) {
      const std::string intended = name.substr(0, name.size() - zone.size() - 1);
      const std::size_t last_dot = intended.rfind('.');
      if (last_dot != std::string::npos) {
        const std::string_view last_label = std::string_view(intended).substr(last_dot + 1);
        const bool known_host = classify_host(intended).provider != Provider::other;
        const bool repeats_zone = dns::name_is_at_or_below(intended, zone);
        const bool common_tld = std::find(std::begin(common_tlds), std::end(common_tlds), last_label) != std::end(common_tlds);
        const bool country_label = last_label.size() == 2 && std::isalpha(static_cast<unsigned char>(last_label[0])) &&
                                   std::isalpha(static_cast<unsigned char>(last_label[1]));
        if (known_host || repeats_zone || common_tld || (country_label && !name_has_data)) return AppendedZone{intended, zone};
      }
    }
    zone.erase(0, zone.find('.') + 1);
  }
  return std::nullopt;
}

Result<std::string> parse_domain(std::string_view text) {
  const std::string shown(text);
  // A Unicode domain ("bücher.example") is asked as its A-label form
  // (diag/idna.h); one that IDNA 2008 refuses is bad input.
  auto ascii_form = idna::to_ascii(text);
  if (!ascii_form) return ascii_form.error();
  // Checked as typed: canonical_name writes a space or a non-ASCII octet
  // as a \DDD escape (RFC 1035 5.1), which would hide what is wrong.
  // What passes holds no escape, so this is its canonical form too.
  std::string domain = ascii::to_lower(*ascii_form);
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (domain.empty()) return bad_input("domain \"" + shown + "\" is empty");
  if (domain.size() > 253) return bad_input("domain \"" + shown + "\" is longer than 253 characters");
  std::size_t label = 0;
  for (char c : domain) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '.') {
      if (label == 0) return bad_input("domain \"" + shown + "\" has an empty label");
      label = 0;
      continue;
    }
    if (!std::isalnum(byte) && c != '-' && c != '_')
      return bad_input("domain \"" + shown + "\" contains \"" + std::string(1, c) + "\", which is not allowed in a domain name");
    if (++label > 63) return bad_input("domain \"" + shown + "\" has a label longer than 63 characters");
  }
  if (label == 0) return bad_input("domain \"" + shown + "\" has an empty label");
  if (domain.find('.') == std::string::npos)
    return bad_input("domain \"" + shown + "\" has no dot; give the full domain (contoso.com)");
  if (IpAddress::parse(domain)) return bad_input("\"" + shown + "\" is an IP address, not a domain");
  // RFC 1123 2.1: a label neither starts nor ends with a hyphen; RFC 3696 2:
  // a top-level domain is not all-numeric.
  std::size_t start = 0;
  while (start <= domain.size()) {
    const std::size_t end = std::min(domain.find('.', start), domain.size());
    const std::string_view one = std::string_view(domain).substr(start, end - start);
    if (one.front() == '-' || one.back() == '-')
      return bad_input("domain \"" + shown + "\" has a label that starts or ends with \"-\"");
    if (end == domain.size() && std::all_of(one.begin(), one.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return bad_input("domain \"" + shown + "\" ends in an all-numeric label; give a domain name");
    // An A-label that does not decode is no internationalized name: a typo
    // or a cut copy, which DNS would only answer NXDOMAIN for.
    if (one.starts_with("xn--") && idna::to_unicode(one) == one)
      return bad_input("domain \"" + shown + "\" has \"" + std::string(one) + "\", which is not a valid A-label (RFC 5890)");
    start = end + 1;
  }
  return domain;
}

Result<std::vector<std::string>> read_domain_list(const std::string& path) {
  auto lines = read_list_lines(path, "domain list");
  if (!lines) return lines.error();
  std::vector<std::string> domains;
  for (const auto& line : *lines) {
    auto domain = parse_domain(line.text);
    if (!domain) return bad_input(path + ":" + std::to_string(line.number) + ": " + domain.error().message);
    domains.push_back(std::move(domain.value()));
  }
  return domains;
}

namespace {

// What the answers say, once every question of the check has been answered.
void conclude(std::vector<DomainReport>& reports) {
  for (auto& report : reports) {
    for (auto& host : report.hosts) {
      // An alias delivers where its target does: judge a third-party name
      // that points at a Microsoft host by the target (mx.cname says the
      // alias itself is wrong).
      if (!host.cname_target.empty() && host.host_class.provider == Provider::other)
        host.host_class = classify_host(host.cname_target);
    }
    // IPv4 first, then IPv6, each in answer order: stable output.
    for (auto& host : report.hosts)
      std::stable_sort(host.addresses.begin(), host.addresses.end(),
                       [](const IpAddress& a, const IpAddress& b) { return a.is_v4() && !b.is_v4(); });
    for (auto& host : report.hosts)
      if (host.host_class.provider == Provider::other && !host.ip_literal)
        host.appended_zone = appended_zone(host.host, report.domain, host_has_addresses(host) || host_lookup_incomplete(host));
    if (!report.classic_resolves) {
      for (const auto& host : report.hosts)
        if (host.host == report.classic && !host_lookup_incomplete(host)) report.classic_resolves = host_has_addresses(host);
    }
    evaluate(report);
  }
}

using Reports = std::shared_ptr<std::vector<DomainReport>>;

// The MX set is in: ask for each host's addresses and, when the MX is not
// the derived name, for the derived name.
void take_mx_answer(dns::Work& work, const Reports& reports, std::size_t i, const dns::Answer& answer) {
  DomainReport& report = (*reports)[i];
  report.mx_answer = answer;
  auto mx_set = answer.mx();
  std::sort(mx_set.begin(), mx_set.end(), [](const dns::MxData& a, const dns::MxData& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.exchange < b.exchange;
  });
  // RFC 7505 3: a null MX is a single record with an empty target; one
  // next to other MX records is an error of the domain, not a host to
  // look up.
  auto is_null = [](const dns::MxData& mx) { return mx.exchange == "." || mx.exchange.empty(); };
  report.null_mx = std::any_of(mx_set.begin(), mx_set.end(), is_null);
  mx_set.erase(std::remove_if(mx_set.begin(), mx_set.end(), is_null), mx_set.end());
  report.hosts.reserve(mx_set.size());
  for (const auto& mx : mx_set) {
    MxHost host;
    host.preference = mx.preference;
    host.host = mx.exchange;
    host.host_class = classify_host(mx.exchange);
    host.ip_literal = IpAddress::parse(mx.exchange).has_value();
    report.hosts.push_back(std::move(host));
  }
  for (std::size_t h = 0; h < report.hosts.size(); ++h) {
    if (report.hosts[h].ip_literal) continue;
    for (const auto type : {dns::RrType::A, dns::RrType::AAAA}) {
      work.query(report.hosts[h].host, type, [reports, i, h, type](const dns::Answer& address) {
        MxHost& host = (*reports)[i].hosts[h];
        const auto found = address.addresses();
        host.addresses.insert(host.addresses.end(), found.begin(), found.end());
        if (!address.cname_chain.empty())
          host.cname_target = std::get<dns::NameData>(address.cname_chain.back().data).target;
        (type == dns::RrType::A ? host.a_outcome : host.aaaa_outcome) = address.outcome;
        (type == dns::RrType::A ? host.a_detail : host.aaaa_detail) = address.detail;
      });
    }
  }
  // The derived name is worth asking about only when the MX is not it.
  const MxHost* microsoft = primary_microsoft_host(report);
  if (!microsoft || microsoft->host != report.classic)
    work.query(report.classic, dns::RrType::A,
               [reports, i](const dns::Answer& classic) { (*reports)[i].classic_resolves = resolves(classic); });
}

}  // namespace

void start_domains(dns::Resolver& resolver, const std::vector<std::string>& domains,
                   std::function<void(std::vector<DomainReport>)> on_done) {
  auto reports = std::make_shared<std::vector<DomainReport>>(domains.size());
  auto work = dns::Work::create(resolver, [reports, on_done = std::move(on_done)] {
    conclude(*reports);
    on_done(std::move(*reports));
  });
  for (std::size_t i = 0; i < domains.size(); ++i) {
    (*reports)[i].domain = domains[i];
    (*reports)[i].classic = classic_tenant_mx(domains[i]);
    // The Work is held by the callbacks it hands out; this one asks more through it.
    work->query(domains[i], dns::RrType::MX, [weak = std::weak_ptr<dns::Work>(work), reports, i](const dns::Answer& answer) {
      if (const auto self = weak.lock()) take_mx_answer(*self, reports, i, answer);
    });
  }
  work->close();
}

std::vector<DomainReport> check_domains(dns::Resolver& resolver, const std::vector<std::string>& domains) {
  std::vector<DomainReport> reports;
  start_domains(resolver, domains, [&reports](std::vector<DomainReport> done) { reports = std::move(done); });
  resolver.run();
  return reports;
}

nlohmann::json to_json(const DomainReport& r) {
  auto mx = nlohmann::json::array();
  for (const auto& host : r.hosts) {
    auto addresses = nlohmann::json::array();
    for (const auto& address : host.addresses) addresses.push_back(address.to_string());
    mx.push_back({{"preference", host.preference},
                  {"host", host.host},
                  {"addresses", addresses},
                  {"provider", to_string(host.host_class.provider)},
                  {"legacy", host.host_class.legacy},
                  {"ip_literal", host.ip_literal},
                  {"cname", host.cname_target.empty() ? nlohmann::json(nullptr) : nlohmann::json(host.cname_target)},
                  {"appended_zone", host.appended_zone ? nlohmann::json({{"intended", host.appended_zone->intended},
                                                                         {"zone", host.appended_zone->zone}})
                                                       : nlohmann::json(nullptr)}});
  }
  return {{"domain", r.domain},
          {"lookup", dns::to_string(r.mx_answer.outcome)},
          {"null_mx", r.null_mx},
          {"mx", mx},
          {"derived", {{"classic", r.classic},
                       {"resolves", r.classic_resolves ? nlohmann::json(*r.classic_resolves) : nlohmann::json(nullptr)}}},
          {"match", r.match ? nlohmann::json(to_string(*r.match)) : nlohmann::json(nullptr)},
          {"dnssec_ad", r.mx_answer.authenticated_data},
          {"direct_send_host", r.direct_send_host.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.direct_send_host)},
          {"direct_send_port", r.direct_send_host.empty() ? nlohmann::json(nullptr) : nlohmann::json(direct_send_port)}};
}

Report make_report(std::vector<DomainReport>& results, std::string* text, const TextStyle& style) {
  Report report("sendcheck-mx", diag::version);
  auto domains = nlohmann::json::array();
  std::size_t check_count = 0;
  for (const auto& result : results) check_count += result.checks.size();
  report.reserve(check_count);
  for (auto& result : results) {
    if (text) {
      *text += render_text(result, style) + "\n";
    } else {
      domains.push_back(to_json(result));
    }
    for (auto& check : result.checks) report.add(std::move(check));
    result.checks.clear();
  }
  if (!text) report.fields()["domains"] = std::move(domains);
  return report;
}

std::string render_text(const DomainReport& r, const TextStyle& style) {
  std::string out = style.bold(idna::display(r.domain)) + "\n";
  for (const auto& host : r.hosts) {
    out += "  MX " + std::to_string(host.preference) + " " + host.host + "  [" +
           (host.appended_zone ? "appended zone: " + host.appended_zone->intended + "."
                               : std::string(to_string(host.host_class.provider))) +
           (host.host_class.legacy ? ", legacy" : "") + "]";
    if (!host.addresses.empty()) out += "  " + join_addresses(host.addresses);
    out += "\n";
  }
  out += style.dim("  derived: " + r.classic + (r.match ? " (match: " + std::string(to_string(*r.match)) + ")" : "")) +
         "\n";
  if (!r.direct_send_host.empty())
    out += "  direct send: " + style.bold(r.direct_send_host + " port " + std::to_string(direct_send_port)) + "\n";
  out += render_checks_text(r.checks, style, "  ");
  return out;
}

}  // namespace diag::mx
