// SPF (RFC 7208): the record parser with positioned syntax errors, macro
// expansion, a conformant check_host() engine whose lookups run in parallel
// rounds, the validation of a published include tree, and record
// suggestions that authorize new device IPs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/dns.h"
#include "diag/ip.h"
#include "diag/mx.h"
#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/result.h"
#include "diag/tool_common.h"

namespace diag::spf {

// RFC 7208 2.6: the results of check_host().
enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view to_string(SpfResult result);
std::optional<SpfResult> spf_result_from_string(std::string_view text);

// RFC 7208 4.6.2: a qualifier gives the result of a matching mechanism.
enum class Qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };
SpfResult result_for(Qualifier qualifier);

enum class MechanismKind { all, include, a, mx, ptr, ip4, ip6, exists };
enum class ModifierKind { redirect, explanation, unknown };
std::string_view to_string(MechanismKind kind);

// One term of a record, as written, with what the parser made of it.
struct Term {
  std::string text;           // exactly as in the record
  std::size_t position = 0;   // 0-based offset of the term in the record
  bool is_mechanism = true;
  // Mechanisms.
  Qualifier qualifier = Qualifier::pass;
  MechanismKind mechanism = MechanismKind::all;
  std::string domain_spec;      // include/a/mx/ptr/exists target; empty: the current domain
  IpAddress network;            // ip4/ip6
  int cidr4 = 32, cidr6 = 128;  // a/mx dual CIDR; ip4/ip6 prefix in the matching one
  // Modifiers.
  ModifierKind modifier = ModifierKind::unknown;
  std::string name;   // modifier name, lower case
  std::string value;  // modifier value (a macro-string)

  // RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect query the DNS.
  bool queries_dns() const;
};

struct SyntaxError {
  std::size_t position = 0;  // 0-based offset in the record text
  std::string term;          // the offending term ("" when the record as a whole is wrong)
  std::string message;
  std::string to_string() const;  // "column 17, term "ip4:1.2.3": ..."
};

struct ParsedRecord {
  std::vector<Term> terms;        // in record order, mechanisms and modifiers
  std::optional<SyntaxError> error;
  std::optional<std::size_t> redirect, explanation;  // indexes into terms
  bool ok() const { return !error.has_value(); }
};

// RFC 7208 4.5: a record starts with "v=spf1" followed by a space or its end
// (case-insensitive).
bool is_spf_record(std::string_view text);
// Parses a whole record (with "v=spf1"). RFC 7208 4.6: any syntax error
// makes the record a permerror, wherever it is.
ParsedRecord parse_record(std::string_view text);

// RFC 7208 7: what the macros expand to.
struct MacroContext {
  std::string sender;       // s: local-part@domain
  std::string local_part;   // l
  std::string sender_domain;  // o
  std::string domain;       // d: the domain whose record is being evaluated
  IpAddress ip;             // i, c, v
  std::string helo;         // h
  std::string receiver = "unknown";  // r
  std::int64_t timestamp = 0;        // t
  // p: computed on demand (it needs DNS); nullopt when not yet known.
  std::optional<std::string> validated_name;
};

enum class MacroUse { domain_spec, explanation };
// Checks a macro-string without expanding it (RFC 7208 7.1); the error
// says where. In a domain-spec, c, r and t are not allowed.
std::optional<SyntaxError> check_macro_string(std::string_view text, MacroUse use, std::size_t base_position = 0);
// Whether a macro-string expands the macro letter (either case): %{p} needs
// answers, %{h} makes the result the HELO name's.
bool uses_macro(std::string_view text, char letter);
// Whether a domain-spec ends in the client's own choice: %{h} (its HELO
// name) or %{p} (its validated reverse name) as the rightmost labels, so
// that any client can make "a:", "mx:", "exists:" or "include:" match
// itself (RFC 7208 7.3, 11.5.2).
bool client_chooses_name(std::string_view domain_spec);
// A term of a record ("a:%{h}", "redirect=%{h}") that passes, or leads to a
// record, by a name the client chooses.
bool names_client_chosen_record(std::string_view term_text);
// A domain-spec whose only macro is %{d} (in any form: %{d2}, %{dr}, %{D})
// names the same host for every sender: its expansion for the record at
// `domain`. nullopt when it uses any other macro, or is not valid.
std::optional<std::string> expand_sender_independent(std::string_view domain_spec, std::string_view domain);
// Expands a macro-string. Precondition: check_macro_string passed; when it
// uses %{p}, context.validated_name is set.
std::string expand_macros(std::string_view text, const MacroContext& context, MacroUse use);
// RFC 7208 5: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4
// address a.b.c.d; any other address is returned as is.
IpAddress unmapped(const IpAddress& ip);
// RFC 7208 7.3: the i macro of an IPv6 address is its nibbles, dotted.
std::string dotted_address(const IpAddress& ip);
// RFC 7208 4.3: a domain name check_host() can start from (multi-label, no
// empty or over-long labels, not a literal).
bool is_valid_check_domain(std::string_view domain);

// Where the engine's questions go: the network resolver, or recorded
// answers. Answers arrive from inside run(), as with dns::Resolver.
class SpfResolver {
 public:
  using Callback = std::function<void(const dns::Answer&)>;
  virtual ~SpfResolver() = default;
  virtual void query(const std::string& name, dns::RrType type, Callback callback) = 0;
  virtual void run() = 0;
  // Returns once done() holds, the deadline has passed or nothing is left
  // to answer; questions still open stay open (their answers come with a
  // later run). Unless overridden: run(), answering everything.
  virtual void run_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline) {
    (void)done, (void)deadline;
    run();
  }
  // Runs task from inside run() after the answers in hand (dns::Resolver::defer).
  // Unless overridden: at once.
  virtual void defer(std::function<void()> task) { task(); }
};

// Over the shared asynchronous resolver: every question of a round goes out
// together.
class NetworkSpfResolver final : public SpfResolver {
 public:
  explicit NetworkSpfResolver(dns::Resolver& resolver) : resolver_(resolver) {}
  void query(const std::string& name, dns::RrType type, Callback callback) override;
  void run() override;
  void run_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline) override;
  void defer(std::function<void()> task) override;
  dns::Resolver& resolver() { return resolver_; }

 private:
  dns::Resolver& resolver_;
};

// Answers kept by (canonical name, type): what a run learned, so that a
// second evaluation (another IP, a suggested record) asks nothing twice.
class AnswerCache {
 public:
  const dns::Answer* find(std::string_view name, dns::RrType type) const;
  void store(const std::string& name, dns::RrType type, dns::Answer answer);
  std::size_t size() const { return answers_.size(); }

 private:
  std::map<std::pair<std::string, dns::RrType>, dns::Answer> answers_;
};

// Answers only from a cache: what is not in it is a timeout ("not known
// offline"). Used to verify a suggested record without the network.
class OfflineSpfResolver final : public SpfResolver {
 public:
  explicit OfflineSpfResolver(const AnswerCache& cache) : cache_(cache) {}
  void query(const std::string& name, dns::RrType type, Callback callback) override;
  void run() override;
  void defer(std::function<void()> task) override;

 private:
  const AnswerCache& cache_;
  std::vector<std::pair<dns::Answer, Callback>> pending_;
};

struct CheckHostInput {
  IpAddress ip;
  std::string sender;  // MAIL FROM; empty: postmaster@helo (RFC 7208 2.4)
  std::string helo;
  std::string domain;  // empty: the domain of sender, else helo
  std::string default_explanation = "not authorized by the sender's SPF record";
  std::string receiver = "unknown";
  std::int64_t timestamp = 0;  // 0: now
  // Evaluate this text in place of the domain's published record (what-if).
  std::optional<std::string> record_override;
};

// Which RFC 7208 4.6.4 limit ended an evaluation in permerror, if one did:
// the fix differs (fewer DNS-querying terms, or no names that find nothing).
enum class LimitReached { none, lookups, void_lookups };

struct SpfEvaluation {
  SpfResult result = SpfResult::none;
  std::string explanation;  // for fail: the exp= text, else the default
  std::string reason;       // for none/permerror/temperror: why, in words
  LimitReached limit_reached = LimitReached::none;
  std::string matched;      // the term that decided ("ip4:40.92.0.0/15", "-all", "redirect=...")
  std::vector<std::string> path;  // "contoso.com", "include:spf.protection.outlook.com", ...
  int lookups = 0;          // RFC 7208 4.6.4 DNS-querying terms used
  int void_lookups = 0;
  int rounds = 0;           // DNS round trips the evaluation waited for
  // A term evaluated on the way to the result expanded %{h}: the result is
  // that of the HELO name given, and may differ for another client's.
  bool helo_used = false;
};

struct EngineOptions {
  // Fetch what the records will need anyway in the same round as what the
  // evaluation is waiting for. Off: strictly one question at a time.
  bool prefetch = true;
  int lookup_limit = 10;  // RFC 7208 4.6.4
  int void_limit = 2;     // RFC 7208 4.6.4
};

// check_host() (RFC 7208 4) over a resolver, keeping its answers in cache.
// The evaluation is sequential and left to right; it is replayed over the
// cache whenever an answer comes, so results and counts are those of a
// purely sequential evaluation whatever was fetched ahead, and it returns
// as soon as it has the answers it needs (questions still open stay so).
SpfEvaluation check_host(SpfResolver& resolver, AnswerCache& cache, const CheckHostInput& input,
                         const EngineOptions& options = {});
// The same evaluation in the caller's loop: its questions go into resolver,
// and on_done gets the result from inside the caller's run() (replayed
// once per batch of answers, so counts and rounds are check_host's).
void start_check_host(SpfResolver& resolver, std::shared_ptr<AnswerCache> cache, const CheckHostInput& input,
                      const EngineOptions& options, std::function<void(SpfEvaluation)> on_done);

// ---------------------------------------------------------------------------
// The published tree, independent of any IP.

struct Network {
  IpAddress address;
  int prefix = 32;
  std::string to_string() const;  // "40.92.0.0/15"
  friend bool operator==(const Network&, const Network&) = default;
};
// Sorts, drops networks inside others and merges adjacent siblings.
std::vector<Network> merge_networks(std::vector<Network> networks);
std::optional<Network> parse_network(std::string_view text);  // "192.0.2.0/24", "2001:db8::/32", "192.0.2.1"

struct TreeNode {
  std::string domain;
  std::string via;       // "include:x", "redirect=x" or "" for the root
  std::string record;    // the selected record text
  std::vector<std::string> other_records;  // "multiple": the records after the first
  dns::Outcome txt_outcome = dns::Outcome::records;
  std::string status;    // "ok", "none", "multiple", "syntax-error", "temperror", "loop", "over-limit"
  std::string detail;
  int lookups = 0;        // this record's own DNS-querying terms
  int lookups_total = 0;  // including everything below it
  int void_lookups = 0;   // this record's own void lookups
  std::vector<Network> networks;  // what this record authorizes directly (ip4/ip6/a/mx)
  std::vector<std::string> void_terms;     // terms whose names have no data at all
  // The void lookups an IPv4 (A asked) and an IPv6 sender (AAAA asked) meet
  // here (RFC 7208 4.6.4, 5.3): one host without AAAA is void for IPv6.
  std::vector<std::string> void_terms_v4, void_terms_v6;
  std::vector<std::string> ignored_terms;  // after all, or a redirect beside all: never evaluated
  std::vector<std::string> unresolved_terms;  // could not find out (timeouts)
  std::vector<TreeNode> children;
  std::vector<std::string> terms;  // the terms as written
  std::string all_term;            // "-all", "~all", "?all", "+all" or ""
  bool uses_ptr = false;
};

// The first, a middle and the last address of each range
// spf.protection.outlook.com authorizes and Exchange Online (worldwide)
// sends customers' mail from: a record is right for Exchange Online's mail
// only when each of them passes.
const std::vector<IpAddress>& exchange_online_outbound_samples();
// Whether the address is in one of those ranges: one of Exchange Online's
// shared outbound servers, not a customer's own.
bool is_exchange_online_outbound(const IpAddress& address);

// What a node and everything it includes (with a pass qualifier) authorizes, merged.
std::vector<Network> authorized_networks(const TreeNode& node);
// A child reached by a passing include or a redirect: its matches are its
// parent's (RFC 7208 5.2, 6.1).
bool passes_through(const TreeNode& child);
// Wider than a /8 (IPv4) or a /16 (IPv6): no one organization's mail
// servers, as open as "+all" (spf.open-networks). A /8 is the largest block
// ever assigned to one holder; RIRs receive IPv6 in /12 blocks to share.
bool is_open_prefix(int prefix, bool v4);
inline bool is_open_network(const Network& network) { return is_open_prefix(network.prefix, network.address.is_v4()); }

// The name an include or redirect child meant when its target is the
// appended-zone mistake ("spf.protection.outlook.com.contoso.com" meant
// "spf.protection.outlook.com"); nullopt otherwise.
std::optional<std::string> appended_zone_target(const TreeNode& child, std::string_view domain);
// A term that is two terms run together where a record's TXT strings meet
// without a space (RFC 7208 3.3 joins them with nothing between):
// "include:a.example.cominclude:b.example.com" -> "include:a.example.com
// include:b.example.com". nullopt when the term does not look like that.
std::optional<std::string> joined_terms(std::string_view term);

// Addresses that can never be the sender Microsoft 365 sees: what kind
// ("private (RFC 1918)", "carrier-grade NAT (RFC 6598)", "loopback",
// "link-local", "unique local (RFC 4193)", "unspecified", "multicast",
// "reserved"), or "" for a public address. Such an address never goes into
// a suggested record.
std::string_view non_public_kind(const IpAddress& address);
// RFC 5737 and RFC 3849 documentation ranges: a warning, since they are what
// examples use.
bool is_documentation(const IpAddress& address);

struct TreeValidation {
  std::string domain;
  TreeNode root;
  int lookups = 0, void_lookups = 0;
  int void_lookups_v4 = 0, void_lookups_v6 = 0;  // as IPv4 and IPv6 senders meet them
  std::vector<Network> networks;  // every network the tree authorizes, merged
  bool complete = true;           // false when some part could not be resolved
  bool spf_rr_type_published = false;  // RFC 7208 3.1: the obsolete SPF type
  bool spf_rr_type_known = true;       // false: its lookup failed (timeout, SERVFAIL)
  // The Microsoft include the domain's MX calls for (its cloud's); empty
  // when the MX is not Exchange Online or was not read.
  std::string microsoft_include;
  std::vector<Check> checks;
};

struct TreeOptions {
  bool look_up_mx_for_m365 = true;  // "Microsoft 365 MX without the Microsoft include"
  bool look_up_spf_rr_type = true;
  // Questions still open then are not waited for: their parts of the tree
  // are reported unresolved. Default: wait for every answer.
  std::chrono::steady_clock::time_point stop_waiting_at = std::chrono::steady_clock::time_point::max();
};
// Walks the whole published tree (or record_override at the root), all of
// a level's lookups in one round, and reports findings with remedies.
TreeValidation validate_tree(SpfResolver& resolver, AnswerCache& cache, const std::string& domain,
                             const std::optional<std::string>& record_override, const TreeOptions& options = {});
// The same walk in the caller's loop, each round asked when the last one's
// answers are in; options.stop_waiting_at is not used (every answer is awaited).
void start_validate_tree(SpfResolver& resolver, std::shared_ptr<AnswerCache> cache, const std::string& domain,
                         const std::optional<std::string>& record_override, const TreeOptions& options,
                         std::function<void(TreeValidation)> on_done);

// ---------------------------------------------------------------------------
// Suggestions: a record that also authorizes the device IPs.

struct Suggestion {
  // The record to publish. Set only when verified; empty when none can be
  // made, and then reason says why.
  std::string record;
  std::string reason;
  int lookups = 0, void_lookups = 0;
  bool verified = false;
  bool changed = false;    // false with a record: the published one already does everything
  bool flattened = false;  // some terms replaced by the addresses they had today
  std::vector<std::string> verification;  // what was checked, one line each
  std::vector<std::string> notes;         // what changed and why, and advice to show with it
  // Of the notes, those whoever publishes the record must know wherever it
  // is shown (flattened: run again monthly; long: publish as several strings).
  std::vector<std::string> publishing;
  std::vector<IpAddress> not_public;      // device addresses left out (never put in a record)
  // Terms left out whose senders no sample can stand for (ptr, a replaced
  // include): "every sender the current records authorize" excludes theirs.
  std::vector<std::string> senders_not_kept;
};

// The Microsoft include a domain's SPF needs for its MX hosts (worldwide,
// GCC High/DoD or 21Vianet), the appended-zone mistake read as the host that
// was meant; nullopt when no MX host is Exchange Online.
std::optional<std::string> microsoft_include_for(const std::vector<std::string>& mx_hosts, std::string_view domain);

// Builds the one record that fixes every failure at once (duplicates merged,
// the device's public addresses added, Microsoft's include kept or added,
// appended-zone and wrong includes replaced, ptr and +all dropped, flattened
// when over 10 lookups) and verifies it offline before returning it: pass for
// every device address and for addresses sampled from every network the old
// records authorized, at most 10 lookups and 2 void lookups. Answers the
// suggestion needs beyond the tree's (a second record's includes, the
// Microsoft include) are fetched through resolver into cache first.
// exchange_online_sends: Exchange Online sends mail as the domain (relay,
// SMTP AUTH), so the record includes Microsoft's servers whatever the MX.
// device: the sender and EHLO name the devices use, for records whose
// macros (%{l}, %{h}) depend on them; empty: postmaster@domain and the domain.
struct DeviceIdentity {
  std::string sender, helo;
};
Suggestion suggest_record(SpfResolver& resolver, AnswerCache& cache, const TreeValidation& tree,
                          const std::vector<IpAddress>& ips, const std::string& today /* YYYY-MM-DD */,
                          bool exchange_online_sends = false, const DeviceIdentity& device = {});

// ---------------------------------------------------------------------------
// sendcheck-spf: what the tool asks, and its report.

struct SpfCheckRequest {
  std::string domain;  // empty: from --sender, else --helo (RFC 7208 2.4)
  std::vector<std::string> ips;
  std::string sender, helo;
  std::optional<std::string> record;  // --record: evaluated in place of the published one
  std::string default_explanation = "not authorized by the sender's SPF record";
  bool suggest = false;
  bool exchange_online_sends = false;  // the suggestion includes Microsoft's servers (see suggest_record)
};

// Validated input: the domain to check and the parsed IPs. Errors are
// bad_input with one line naming what is wrong.
struct SpfCheckPlan {
  std::string domain;
  std::vector<IpAddress> ips;
  CheckHostInput base;  // sender, helo, default explanation, record override
  bool helo_given = false;  // --helo given (else base.helo is the domain)
  bool suggest = false;
  bool exchange_online_sends = false;
  // Once every IP's result is known, how long the tree validation may still
  // wait for parts no result needed; nullopt: as long as the resolver does.
  std::optional<std::chrono::milliseconds> tree_wait_after_results;
};
Result<SpfCheckPlan> plan_check(const SpfCheckRequest& request);

struct SpfCheckOutcome {
  TreeValidation tree;
  std::vector<std::pair<IpAddress, SpfEvaluation>> results;
  std::optional<Suggestion> suggestion;
  std::string today;
};
// Validates the tree, evaluates every IP (all through one cache), and
// suggests a record when asked.
SpfCheckOutcome run_check(SpfResolver& resolver, const SpfCheckPlan& plan);
// run_check in the caller's loop: every address evaluated at once, then
// the tree, then the suggestion (from answers mostly in hand; what it still
// needs is asked by driving the same loop from inside the callback).
// plan.tree_wait_after_results is not used. on_done runs inside run().
void start_check(SpfResolver& resolver, const SpfCheckPlan& plan, std::function<void(SpfCheckOutcome)> on_done);

// Domain health: given the devices' own check_host results, a tree finding
// that does not change any device's result becomes a WARN with the field
// "group": "domain health", keeping its id (the same fact has the same id
// in every tool) and its remedy; a finding that explains a device's permerror or temperror keeps
// its id and status. Without results nothing changes.
// The finding a pass rests on when the matched term lets anyone pass:
// "spf.all" (+all in the record), "spf.include-all" (+all reached through an
// include), "spf.open-networks", "spf.client-chosen-name"; empty otherwise.
std::string_view open_pass_finding(const SpfEvaluation& evaluation);
// The same, and "spf.any-address-passes" when the term is one that
// unused_address_probe passed.
std::string_view open_pass_finding(const SpfEvaluation& evaluation, const std::vector<Check>& tree_checks);
// The pass-qualified terms of the tree that look up a name built from the
// sender (%{i}, %{l}, ... ) or any exists: term: what they answer no static
// reading shows. A wildcard under "exists:%{i}._spf.example.com" answers
// for every address.
std::vector<std::string> lookup_terms_to_probe(const TreeValidation& tree);
// The address those terms are tried with: 240.0.0.0/4 is reserved (RFC
// 1112 4; RFC 6890), so no mail server has it, and a pass for it through
// one of them is a pass for every address.
IpAddress unused_address_probe();
// The terms the spf.any-address-passes findings among tree_checks name.
std::vector<std::string> any_address_terms(const std::vector<Check>& tree_checks);
// spf.any-address-passes from the probe's evaluation, when it passed
// through one of those terms; nullopt otherwise.
std::optional<Check> unused_address_finding(const TreeValidation& tree, const SpfEvaluation& probe);
// spf.m365-include says mail Exchange Online sends as the domain fails SPF;
// when a term that passes every address is in the tree (+all, an include's
// +all, spf.any-address-passes), it passes through that term instead, and
// the row says so. Call once the tree's findings are complete.
void note_open_terms_pass_microsoft(TreeValidation& tree);
// The addresses sampled from Exchange Online's ranges that the Microsoft
// include in the tree authorizes as published, in the samples' order (none
// when the tree has no such include, or it authorizes none of them).
std::vector<IpAddress> exchange_online_addresses_in_tree(const TreeValidation& tree);
// A tree that includes Microsoft's but whose evaluation ends before the
// include for those addresses (the lookup or void-lookup limit, a term that
// denies them first): spf.m365-include says so instead of passing.
void note_exchange_online_results(TreeValidation& tree, const std::vector<std::pair<IpAddress, SpfEvaluation>>& results);
// The tree findings (spf.void-lookups, spf.lookups, ...) whose cause the
// evaluation's permerror, temperror or none names.
std::vector<std::string_view> findings_named_by(const SpfEvaluation& evaluation);
void separate_domain_health(std::vector<Check>& tree_checks,
                            const std::vector<std::pair<IpAddress, SpfEvaluation>>& results);

// The JSON contract (with text non-null: the text rendering instead).
Report make_report(SpfCheckOutcome& outcome, const SpfCheckPlan& plan, std::string* text, const TextStyle& style);
nlohmann::json tree_to_json(const TreeNode& node);

// ---------------------------------------------------------------------------
// Microsoft includes (libdiag/data/spf_microsoft_includes.inc).

struct KnownInclude {
  std::string_view domain;
  std::string_view kind;  // "m365", "m365-gcc-high", "wrong", "legacy"
  std::string_view advice;
  std::string_view source;
};
const KnownInclude* find_known_include(std::string_view domain);
// Microsoft 365's own include for a cloud (spf.protection.outlook.com,
// spf.protection.office365.us, spf.protection.partner.outlook.cn).
bool is_microsoft_include(std::string_view domain);
// The Microsoft include a name is a misspelling of (one or two edits away:
// spf.protection.outlook.con), or nullopt.
std::optional<std::string> misspelled_microsoft_include(std::string_view target);
// "include:x" with or without a qualifier ("~include:x"), any case.
bool is_include_term(std::string_view term);
// The gateway whose include a child reached with a non-pass qualifier is
// ("~include:eu._netblocks.mimecast.com"), when that gateway also takes the
// domain's mail (one of mx_hosts is its); else nullopt.
std::optional<mx::MailGateway> qualified_gateway_include(const TreeNode& child, const std::vector<std::string>& mx_hosts);
// The same for an a: term that names the gateway's servers with a non-pass
// qualifier ("~a:dispatch-us.ppe-hosted.com" beside a Proofpoint Essentials MX).
std::optional<mx::MailGateway> qualified_gateway_a_term(std::string_view term, const std::vector<std::string>& mx_hosts);
// A sending service's include (libdiag/data/spf_vendor_includes.inc).
struct ServiceInclude {
  std::string_view include;  // "sendgrid.net"
  std::string_view service;  // "Twilio SendGrid"
  std::string_view source;   // a page that gives the include
};
// The service include a name misspells: the one entry one or two edits
// away when no other entry is as near (zoho.eu and zoho.in are both real),
// or nullopt. Only meaningful for a name with no SPF record.
std::optional<ServiceInclude> misspelled_service_include(std::string_view target);
// Whether a Microsoft include that resolved is anywhere in the walked tree
// (a redirect target or a nested include counts). With `cloud_include`
// (microsoft_include_for's answer) only that cloud's include counts: the
// worldwide one does not cover a GCC High or 21Vianet tenant's servers.
bool includes_microsoft(const TreeNode& node, std::string_view cloud_include = {});
// Microsoft's include written after an all term somewhere in the tree (never
// evaluated, RFC 7208 4.6.2), as written; empty when there is none.
std::string microsoft_include_after_all(const TreeNode& node, std::string_view cloud_include = {});

// sendcheck-spf from parsed options to exit code.
struct ToolOptions {
  cli::CommonOptions common;
  SpfCheckRequest request;  // DOMAIN, --ip, --sender, --helo, --default-explanation, --suggest
  std::string record;       // --record: evaluate this instead of the published one
};
int run_tool(const ToolOptions& options);

}  // namespace diag::spf
