// DNS blocklist status of a sending IP, done right: every list's answer is
// one of four outcomes (listed, not listed, error, list unusable), each list
// proves it is alive with the RFC 5782 section 5 test entries in the same
// round trip, refusals by public resolvers are told apart from "not listed",
// and the public IP this machine really sends from can be found first.
// Facts: ../shared/reference/dnsbl-facts.md; the table: data/dnsbl_zones.inc.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/dns.h"
#include "diag/ip.h"
#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/result.h"
#include "diag/tool_common.h"

namespace diag::blocklist {

// ---------------------------------------------------------------------------
// The zone table

enum class QueryPolicy : std::uint8_t {
  by_default,  // queried unless --list says otherwise
  on_request,  // queried only when named with --list (ZEN's parts, combined zones)
  with_key,    // queried when its secret key is given (and replaces the keyless zone of the same data)
};
enum class Liveness : std::uint8_t {
  rfc5782,        // 127.0.0.2 listed and 127.0.0.1 not (RFC 5782 5)
  positive_only,  // only 127.0.0.2: for lists known to answer 127.0.0.1
  none,           // no test entries: answers cannot be verified
};
enum class SecretKind : std::uint8_t { none, spamhaus, abusix };
enum class PublicResolvers : std::uint8_t { refused, allowed, unknown };

// What an A answer means on a given list.
enum class CodeKind : std::uint8_t {
  listed,            // a listing (with a severity)
  not_listed,        // an answer that is not a listing (Mailspike rep's neutral and good levels)
  error,             // the list could not answer (Spamhaus 127.255.255.252/255, 127.0.1.255)
  resolver_refused,  // refused because of the resolver asking (Spamhaus 127.255.255.254)
};

struct ReturnCode {
  IpAddress first, last;  // inclusive IPv4 range
  CodeKind kind = CodeKind::listed;
  Status severity = Status::fail;  // listed only: fail, warn or info
  std::string meaning;
  std::string remedy;  // empty: the list's remedy
};

struct ListSpec {
  std::string id;    // "spamhaus-zen"
  std::string name;  // "Spamhaus ZEN"
  std::string zone;  // "zen.spamhaus.org", or "{key}.zen.dq.spamhaus.net"
  QueryPolicy query = QueryPolicy::by_default;
  bool ipv6 = false;  // documented IPv6 (nibble) support
  Liveness liveness = Liveness::rfc5782;
  SecretKind key = SecretKind::none;
  PublicResolvers public_resolvers = PublicResolvers::unknown;
  std::string terms, resolvers, m365, delist, remedy;
  std::vector<std::string> sources;
  std::vector<ReturnCode> codes;

  // The table entry for an IPv4 answer, or null when the list does not document it.
  const ReturnCode* code_for(const IpAddress& answer) const;
};

// The text form (documented in sendcheck-blocklist(1), ZONE FILE). Errors
// are bad_input "NAME:LINE: what".
Result<std::vector<ListSpec>> parse_list_table(std::string_view text, const std::string& display_name);
Result<std::vector<ListSpec>> read_list_file(const std::string& path);
// The compiled-in table, parsed once.
const std::vector<ListSpec>& builtin_lists();
std::string_view builtin_table_text();
// --zones: an entry with a known id replaces it, a new one is added.
void merge_lists(std::vector<ListSpec>& lists, std::vector<ListSpec> overrides);

std::string_view to_string(QueryPolicy policy);
std::string_view to_string(CodeKind kind);

// ---------------------------------------------------------------------------
// Query names

// RFC 5782 2.1: IPv4 octets reversed ("4.3.2.1"); 2.4: IPv6 as 32 reversed
// nibbles ("1.0.0.0...8.b.d.0.1.0.0.2"), as in ip6.arpa.
std::string reversed_name(const IpAddress& address);
std::string query_name(const IpAddress& address, std::string_view zone);
// RFC 5782 5: 127.0.0.2 (listed) / 127.0.0.1 (not), as ::FFFF:7F00:2 / :1 on IPv6 lists.
IpAddress positive_test_address(IpAddress::Family family);
IpAddress negative_test_address(IpAddress::Family family);

// ---------------------------------------------------------------------------
// Secrets

// Keys that sit inside query names (Spamhaus DQS, Abusix). They come from a
// file or the environment, never from argv, and are masked ("***") in
// everything we print: the -v query log, JSON "queries", zones, messages.
struct Secrets {
  std::string spamhaus;  // lower case: query names are canonical
  std::string abusix;
  bool has(SecretKind kind) const;
  const std::string& get(SecretKind kind) const;
  std::string mask(std::string text) const;  // every key, case-insensitively, as "***"
  dns::QueryLogEntry mask(dns::QueryLogEntry entry) const;
};

inline constexpr const char* spamhaus_key_variable = "SENDCHECK_SPAMHAUS_KEY";
inline constexpr const char* abusix_key_variable = "SENDCHECK_ABUSIX_KEY";

// A key file holds the key on its first non-blank line ('#' comments allowed).
// An empty path reads the environment variable instead. Errors never quote the key.
Result<Secrets> load_secrets(const std::string& spamhaus_key_file, const std::string& abusix_key_file,
                             const std::function<const char*(const char*)>& getenv);

// A resolver log hook that masks the keys before handing the entry on.
std::function<void(const dns::QueryLogEntry&)> masked_log_hook(std::function<void(const dns::QueryLogEntry&)> inner,
                                                               const Secrets& secrets);

// ---------------------------------------------------------------------------
// Which lists to query

struct SelectedList {
  const ListSpec* spec = nullptr;
  std::string zone;        // the zone queried (may hold a key: never print it)
  std::string shown_zone;  // the zone as printed ("***.zen.dq.spamhaus.net")
};

// By default every by_default list, and every with_key list whose key is
// given (a Spamhaus key replaces the public ZEN mirror: same data, and
// DQS works through any resolver). `requested` (--list) names ids or zones
// and selects exactly those; naming a with_key list without its key is bad input.
Result<std::vector<SelectedList>> select_lists(const std::vector<ListSpec>& lists,
                                               const std::vector<std::string>& requested, const Secrets& secrets);

// ---------------------------------------------------------------------------
// The check

enum class ListingStatus : std::uint8_t { listed, not_listed, error, unusable };
std::string_view to_string(ListingStatus status);  // "listed", "not_listed", "error", "unusable"

struct Listing {
  SelectedList list;  // its spec points into the table passed to select_lists: keep that alive
  ListingStatus status = ListingStatus::error;
  Status severity = Status::error;     // listed: the worst code's; not_listed: pass; error: error; unusable: warn
  std::vector<IpAddress> answers;      // the A records of the IP's question, as answered
  std::string meaning;                 // decoded answer(s), or what went wrong
  std::string remedy;                  // what to do about it
  std::optional<std::string> txt;      // listed only: the TXT reason, verbatim (RFC 5782 2.1)
  bool resolver_refused = false;       // error caused by the resolver asking (public/open resolver)
  dns::Outcome outcome = dns::Outcome::timeout;  // of the IP's A question
};

struct IpReport {
  IpAddress ip;
  std::string origin;                 // "argument", "file", "egress"
  bool skipped_private = false;       // not queried: is_non_public(address_scope(ip)), never on a DNSBL
  std::vector<Listing> listings;      // one per list queried, in table order
  std::vector<SelectedList> skipped_ipv4_only;  // IPv6 address, list without IPv6 support
};

// Asks every list about every IP, with each list's test entries, all at
// once on the caller's resolver: A for the IP, TXT for its reason, A for
// 127.0.0.2 and 127.0.0.1 per zone. The whole check costs one round trip.
// on_done gets the reports, in the order of ips, from inside the caller's
// run() once the last answer is in.
void start_ips(dns::Resolver& resolver, const std::vector<std::pair<IpAddress, std::string>>& ips,
               const std::vector<SelectedList>& lists, std::function<void(std::vector<IpReport>)> on_done);
// start_ips and run().
std::vector<IpReport> check_ips(dns::Resolver& resolver, const std::vector<std::pair<IpAddress, std::string>>& ips,
                                const std::vector<SelectedList>& lists);

// The verdict for one list and one IP from the four answers; exposed for tests.
// family: of the IP asked about, which picks the test entries (127.0.0.2 or ::FFFF:7F00:2).
Listing evaluate_listing(const SelectedList& list, IpAddress::Family family, const dns::Answer& positive_probe,
                         const dns::Answer& negative_probe, const dns::Answer& ip_a, const dns::Answer& ip_txt);

// Parses an IP given on the command line or in --file (IPv4-mapped IPv6
// becomes IPv4, as DNSBLs list it). Bad input names the text.
Result<IpAddress> parse_ip(std::string_view text);
// --file: one address a line, '#' comments and blank lines skipped.
Result<std::vector<IpAddress>> read_ip_list(const std::string& path);

// ---------------------------------------------------------------------------
// Egress: the public IP this machine sends from

// One DNS way to ask "what is my address": OpenDNS answers myip.opendns.com
// (A, AAAA) with the asker's address; Google's authoritative servers
// answer o-o.myaddr.l.google.com TXT with it.
struct EgressDnsProbe {
  std::string method;  // "opendns", "google"
  dns::ServerAddress server;
  std::string name;
  dns::RrType type = dns::RrType::A;
};
// The public services: OpenDNS resolver1 (IPv4 A, IPv6 AAAA) and ns1.google.com (TXT over IPv4 and IPv6).
std::vector<EgressDnsProbe> default_egress_probes();
// --egress-dns SERVER...: every method asked at every given server (tests, private mirrors).
std::vector<EgressDnsProbe> egress_probes_at(const std::vector<dns::ServerAddress>& servers);

inline constexpr const char* default_egress_url = "https://api64.ipify.org";

struct EgressOptions {
  std::vector<EgressDnsProbe> dns_probes;
  std::string url = default_egress_url;  // empty: no HTTPS fallback
  std::chrono::milliseconds attempt_timeout{2000};
  int tries = 2;
  std::chrono::milliseconds http_timeout{5000};
  // Called as each probe's question finishes, from the calling thread.
  std::function<void(const dns::QueryLogEntry&)> on_log;
  bool keep_log = false;
  bool verbose_http = false;  // one stderr line per HTTP fetch
};

struct EgressAttempt {
  std::string method;  // "opendns", "google", "https-ipv4", "https-ipv6"
  std::string via;     // server or URL
  bool found = false;
  std::vector<IpAddress> addresses;
  std::string detail;  // outcome, or why nothing usable came back
};

struct EgressResult {
  std::vector<IpAddress> addresses;  // distinct, IPv4 first
  std::vector<EgressAttempt> attempts;
  std::vector<dns::QueryLogEntry> log;  // with keep_log
  bool has(IpAddress::Family family) const;
};

// The DNS probes run at once (one resolver each, as each asks its own
// server); for a family none of them found, the URL is fetched with libcurl
// restricted to that family. Never fails: what was not found is in attempts.
EgressResult discover_egress(const EgressOptions& options);

// Fetches URL (http or https only, no redirects, small body) over the given
// family and returns the body's address; exposed for tests.
Result<IpAddress> fetch_egress_address(const std::string& url, IpAddress::Family family,
                                       std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------
// The report

struct RunSummary {
  std::vector<IpReport> ips;
  std::vector<dns::ServerAddress> servers;  // the resolver's
  bool zone_overlay = false;                // answers came from --zone files
  std::optional<EgressResult> egress;       // with --egress
  std::size_t lists_selected = 0;
};

// Builds the checks (resolver, per-IP findings, Microsoft's own list,
// egress) and the JSON members "ips", "resolver" and "egress"; with text
// non-null, renders the text form into it instead. Everything printed is
// masked with secrets.
Report make_report(const RunSummary& run, const Secrets& secrets, std::string* text, const TextStyle& style);

// --list-zones: the table as text (or JSON with json=true).
std::string render_zone_list(const std::vector<ListSpec>& lists, const Secrets& secrets, bool json);

// ---------------------------------------------------------------------------
// The tool

struct ToolOptions {
  cli::CommonOptions common;
  std::vector<std::string> ips;           // IP...
  std::string ip_file;                    // --file
  std::vector<std::string> zone_tables;   // --zones FILE
  std::vector<std::string> lists;         // --list ID
  bool list_zones = false;                // --list-zones
  bool dump_zones = false;                // --dump-zones
  bool egress = false;                    // --egress
  std::vector<std::string> egress_dns;    // --egress-dns HOST[:PORT]
  std::string egress_url = default_egress_url;  // --egress-url URL ("none": no HTTPS fallback)
  std::string spamhaus_key_file, abusix_key_file;
};

// sendcheck-blocklist from parsed options to exit code: bad input is one
// line on stderr and exit 2, the report goes to stdout.
int run_tool(const ToolOptions& options);

}  // namespace diag::blocklist
