// The tenant MX: a domain's real MX set, where each host's mail goes, the
// name Microsoft would derive for it, and the host a device must use for
// direct send.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/dns.h"
#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/tool_common.h"

namespace diag::mx {

enum class Provider { m365, m365_dnssec, m365_gcc_high, m365_21vianet, m365_germany, google, other };
std::string_view to_string(Provider provider);  // "m365", "m365-dnssec", ...
std::string_view describe(Provider provider);   // "Microsoft 365 (DNSSEC, mx.microsoft)"
bool is_microsoft(Provider provider);

struct HostClass {
  Provider provider = Provider::other;
  bool legacy = false;        // a retired Microsoft target
  std::string_view suffix;    // the table entry that matched; empty for other
};
HostClass classify_host(std::string_view host);

// The filtering gateway a host belongs to (an MX in front of Exchange
// Online): the vendors of libdiag/data/mail_gateways.inc, and Google from the
// provider table. nullopt for Microsoft and for hosts no table knows. Its
// suffix also names the vendor's other hosts (an SPF include under it).
struct MailGateway {
  std::string name;    // "Proofpoint", "Mimecast", "Google Workspace"
  std::string suffix;  // the table entry that matched ("mimecast.com")
  std::string source;  // a public page showing the vendor's MX names
};
std::optional<MailGateway> classify_gateway(std::string_view host);

// The classic name: "<domain with dots as hyphens>.mail.protection.outlook.com".
// Microsoft assigns the real token; this is only what it usually is.
std::string classic_tenant_mx(std::string_view domain);

// The tenant's name when domain is a tenant's initial domain
// (<tenant>.onmicrosoft.com, GCC High/DoD <tenant>.onmicrosoft.us), whose
// DNS Microsoft manages: its SPF and DMARC cannot be changed by the admin,
// and its MX is named after the tenant.
std::optional<std::string> initial_domain_tenant(std::string_view domain);

// How a published MX host relates to the derived name.
enum class MatchKind { exact, variant, dnssec, other, none };
std::string_view to_string(MatchKind kind);
// exact: host is the classic name; variant: a Microsoft token that is the
// classic token or the domain with its own hyphens dropped, optionally
// followed by the observed suffix form digit-digit-letter
// ("guentransporte-de01b", "akshayainc-com01i");
// dnssec: a *.mx.microsoft host; other: anything else.
MatchKind match_host(std::string_view domain, std::string_view host);

// The appended-zone mistake: a name typed into a DNS host's form without its
// final dot, so the DNS host appended the zone ("contoso-com.mail.protection.
// outlook.com.contoso.com", "include:spf.protection.outlook.com.contoso.com").
// Returns the name that was meant and the zone that was appended, or nullopt.
// `zone` is the domain the record belongs to; its parent domains (down to
// two labels) are tried too, since a DNS host appends its zone's origin.
// A name is taken for the mistake when, after removing the zone, it is a
// known mail host (the provider table), repeats the zone, or ends in a
// common top-level domain; one ending in another two-letter label counts
// only when the published name has no data (`name_has_data` false).
struct AppendedZone {
  std::string intended;  // "contoso-com.mail.protection.outlook.com"
  std::string zone;      // "contoso.com"
};
std::optional<AppendedZone> appended_zone(std::string_view name, std::string_view zone, bool name_has_data = true);

struct MxHost {
  std::uint16_t preference = 0;
  std::string host;
  HostClass host_class;
  std::vector<IpAddress> addresses;
  bool ip_literal = false;        // the MX names an address, not a host
  std::string cname_target;       // set when the host is an alias
  std::optional<AppendedZone> appended_zone;  // the host is a name typed without its final dot
  dns::Outcome a_outcome = dns::Outcome::timeout, aaaa_outcome = dns::Outcome::timeout;
  std::string a_detail, aaaa_detail;
};

struct DomainReport {
  std::string domain;
  dns::Answer mx_answer;
  bool null_mx = false;  // a "0 ." record (RFC 7505), alone or, wrongly, among others
  std::vector<MxHost> hosts;  // sorted by preference, then name
  std::string classic;
  std::optional<bool> classic_resolves;  // nullopt: could not find out
  std::optional<MatchKind> match;        // nullopt: could not find out
  std::string direct_send_host;          // empty: none usable
  std::vector<Check> checks;
};

// Puts every domain's questions into the caller's resolver; on_done gets
// the reports, in the order of domains, from inside the caller's run() once
// the last answer is in. Domains must be canonical and valid (see parse_domain).
void start_domains(dns::Resolver& resolver, const std::vector<std::string>& domains,
                   std::function<void(std::vector<DomainReport>)> on_done);
// start_domains and run(): every domain, all questions in flight together.
std::vector<DomainReport> check_domains(dns::Resolver& resolver, const std::vector<std::string>& domains);

// Validates one domain given on the command line or in a --file list.
// Returns the canonical name or a bad_input error naming the input.
Result<std::string> parse_domain(std::string_view text);
// Reads a --file list: one domain a line, '#' comments and blank lines skipped.
Result<std::vector<std::string>> read_domain_list(const std::string& path);

nlohmann::json to_json(const DomainReport& report);
// The tool's report: every domain's checks (moved out of results) and the
// "domains" array; with text non-null, the text rendering instead of JSON.
Report make_report(std::vector<DomainReport>& results, std::string* text, const TextStyle& style);
std::string render_text(const DomainReport& report, const TextStyle& style);

// sendcheck-mx from parsed options to exit code (src/mx/tool.cpp).
struct ToolOptions {
  cli::CommonOptions common;
  std::vector<std::string> domains;  // DOMAIN...
  std::string domain_file;           // --file LIST
};
int run_tool(const ToolOptions& options);

}  // namespace diag::mx
