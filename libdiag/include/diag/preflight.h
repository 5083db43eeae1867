// sendcheck-preflight: will this device's mail get into Microsoft 365 by the
// chosen path? Runs the other tools' checks (MX, SPF with a suggested
// record, DMARC, blocklists, the SMTP session up to RCPT TO) at once, then
// decides the verdict from the steps the method depends on (each tested and
// passed, failed, or not tested) and only then renders it: the verdict
// first, the checklist, and the next steps in order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/dns.h"
#include "diag/ip.h"
#include "diag/mx.h"
#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/result.h"
#include "diag/smtp.h"
#include "diag/tool_common.h"

namespace diag::preflight {

// The name the single run and --batch put in messages and the JSON envelope.
inline constexpr const char* tool_name = "sendcheck-preflight";

// The submission paths of m365-facts.md section 3.
enum class Method { direct_send, relay, smtp_auth, hve, acs };
std::optional<Method> parse_method(std::string_view text);  // "direct-send", "relay", "smtp-auth", "hve", "acs"
std::string_view to_string(Method method);
std::string_view describe(Method method);  // "Direct send", "SMTP relay (inbound connector)", ...

struct Endpoint {
  std::string host;  // empty: the tenant MX (direct send, relay)
  std::uint16_t port = 25;
};
Endpoint default_endpoint(Method method);

// What the command line asks (sendcheck-preflight's options).
struct ToolOptions {
  cli::CommonOptions common;
  std::string domain;                 // DOMAIN: the tenant's accepted domain
  std::string method = "direct-send";
  std::string ip;                     // --ip: the device's public address
  bool egress = false;                // --egress: this machine's public address instead
  std::vector<std::string> egress_dns;
  std::string from;                   // --from
  std::vector<std::string> to;        // --to (repeatable)
  std::vector<std::string> accepted_domains;  // --accepted-domain: more of the tenant's domains
  std::string reject_direct_send;     // --reject-direct-send on|off: the tenant's RejectDirectSend, as the admin read it
  std::string recipient_kind;         // --recipient-kind mailbox|open-group|group: what the internal --to are
  std::string smtp_host;              // --smtp-host: instead of the MX / the method's endpoint
  int smtp_port = 0;                  // --smtp-port; 0: the method's
  std::string helo;
  std::string ca_file;                // --ca
  std::string client_cert_file, client_key_file;  // --client-cert, --client-key: relay through a certificate connector
  std::vector<std::string> blocklist_tables;  // --blocklist-zones FILE (sendcheck-blocklist's --zones)
  std::vector<std::string> lists;             // --list ID
  // Submission methods (smtp-auth, hve, acs): secrets only from files or the environment.
  std::string user, password_file, token_file;
  std::string tenant, client_id, client_secret_file, token_endpoint;
  // --method auto: what the device can do.
  std::string device_tls;   // --device-tls none|1.0|1.1|1.2|1.3
  std::string device_auth;  // --device-auth none|basic|oauth
  std::string recipients;   // --recipients internal|external (default: from --to)
  bool markdown = false;    // --markdown: the report for a ticket
  std::string batch_file;   // --batch FILE.csv
  bool list_passed = false; // list the PASS rows without -v's query log (the demo shows its whole story)
};

// ---------------------------------------------------------------------------
// --method auto: which submission paths a device can use (m365-facts.md 3).

enum class DeviceTls { none, tls1_0, tls1_1, tls1_2, tls1_3 };  // the best the device speaks, in order
enum class DeviceAuth { none, basic, oauth };  // oauth: XOAUTH2 (and, like every such client, user/password)

struct DeviceProfile {
  DeviceTls tls = DeviceTls::none;
  DeviceAuth auth = DeviceAuth::none;
  bool external = false;  // some recipients are outside the tenant
};
// From --device-tls, --device-auth and --recipients ("internal"/"external").
Result<DeviceProfile> parse_device(std::string_view tls, std::string_view auth, std::string_view recipients);
std::string describe(const DeviceProfile& device);  // "TLS 1.2, OAuth, external recipients"

// One method's verdict for a device: fits, or the reasons it does not.
struct MethodFit {
  Method method = Method::direct_send;
  bool fits = false;
  std::vector<std::string> reasons;  // why it does not fit; empty when it fits
  std::string needs;                 // what the admin must still set up when it fits
};

struct Recommendation {
  DeviceProfile device;
  std::optional<Method> method;   // nullopt: no method fits
  std::string why;                // why the recommended one (its rank note)
  std::vector<MethodFit> methods;  // every method, in order of preference
};
// A method the tenant rules out whatever the device can do (a gateway MX
// rules out direct send), and why.
struct RuledOut {
  Method method;
  std::string reason;
};
// Every method against the requirements table, the first that fits recommended.
Recommendation recommend(const DeviceProfile& device, const std::vector<RuledOut>& ruled_out = {});
nlohmann::json to_json(const Recommendation& recommendation);

// The client certificate for a certificate connector (--client-cert), read
// and checked against its key when planning, before anything connects.
struct ClientCertificate {
  std::string file;
  tls::CertificateInfo info;
  std::string common_name;
  tls::Validity validity;
  std::optional<bool> public_chain;  // verifies against the default (public) roots; nullopt: could not tell
};
// Loads --client-cert and --client-key; unreadable files or a key that does
// not match are bad input naming the file. The key is not kept.
Result<ClientCertificate> read_client_certificate(const std::string& certificate_file, const std::string& key_file);
// m365-facts.md 3.6: the certificate's CN or one of its SAN DNS names must
// contain an accepted domain of the tenant (be it, or a name below it), and
// its dates must hold: "connector.certificate-name" and
// "connector.certificate-validity", each with its remedy.
std::vector<Check> client_certificate_checks(const ClientCertificate& certificate, const std::vector<std::string>& accepted_domains);

// One step the method depends on (the MX being Exchange Online, the SMTP
// session, AUTH, the device's SPF result, ...), as far as this run saw it.
enum class StepState { passed, failed, untested };
std::string_view to_string(StepState state);  // "passed", "failed", "untested"

struct Step {
  std::string id;       // "recipients", "mx", "smtp", "auth", "token", "envelope", "spf", "dmarc", "blocklist", "connector", "acs-domain"
  StepState state = StepState::untested;
  std::string why;      // failed: the cause; untested: why it could not be tested; passed: what showed it (short)
  std::string to_test;  // untested: what to give or do to test it ("--oauth-token-file FILE, or ...")
};

// Validated input.
struct Plan {
  Method method = Method::direct_send;
  std::string domain;
  std::vector<std::string> accepted_domains;  // domain first
  std::optional<IpAddress> ip;                // nullopt: not given (egress may find it)
  bool egress = false;                        // find this machine's public address (with --ip: to compare)
  // Whether the SMTP session comes from the device's address: --egress
  // alone, or --ip that --egress found to be this machine's. Set by
  // PreflightRun::prepare; a result that depends on the source address is
  // the device's only when it is true.
  bool session_from_device = false;
  std::vector<IpAddress> egress_found;  // every public address --egress found for this machine
  std::vector<dns::ServerAddress> egress_dns;
  std::string from, from_domain;
  std::vector<std::string> to;
  std::vector<std::string> external;  // recipients outside the accepted domains
  Endpoint endpoint;                  // host empty: the MX
  bool endpoint_overridden = false;
  std::string helo = "sendcheck-preflight.invalid";
  bool helo_given = false;  // --helo: the device's own EHLO name, not this machine's
  std::string ca_file;
  std::string client_cert_file, client_key_file;
  std::optional<ClientCertificate> client_certificate;  // relay with --client-cert
  std::vector<std::string> blocklist_tables, lists;
  // Submission.
  std::string user, password_file, token_file, tenant, client_id, client_secret_file, token_endpoint;
  smtp::AuthMechanism auth = smtp::AuthMechanism::none;
  std::chrono::milliseconds timeout{5000};
  std::optional<Recommendation> recommendation;  // --method auto: method is the recommended one
  std::optional<DeviceTls> device_tls;           // --device-tls: probe with the device's best TLS
  std::optional<DeviceAuth> device_auth;         // --device-auth: how the device signs in (nullopt: not said)
  bool device_app_only = false;                  // --device-auth oauth-app: with an application's client credentials
  std::optional<bool> reject_direct_send;        // --reject-direct-send: true on, false off, nullopt not said
  // --recipient-kind: the internal recipients are mailboxes or groups that
  // take mail from outside the organization, groups that take it only from
  // authenticated senders (the default for a new group), or mailboxes set so
  // (RequireSenderAuthenticationEnabled); nullopt not said.
  enum class RecipientKind { mailbox, open_group, group, restricted_mailbox };
  std::optional<RecipientKind> recipient_kind;
  // A sovereign cloud's submission endpoints (find_sovereign_cloud).
  std::string oauth_scope;                       // empty: oauth::smtp_scope
  std::string cloud_endpoint_host;               // the cloud's SMTP AUTH host, when --smtp-host stands in for it
  std::vector<Check> cloud_checks;               // shown under Input
  std::vector<Step> cloud_steps;                 // what the cloud leaves untested
};
Result<Plan> make_plan(const ToolOptions& options);
// --method auto planned again without the methods the first run found the
// tenant rules out: run_tool does this when the MX is a gateway.
Result<Plan> make_auto_plan(const ToolOptions& options, const std::vector<RuledOut>& ruled_out);

// The cloud a tenant's MX names: GCC High/DoD (mail.protection.office365.us)
// or 21Vianet (partner.outlook.cn); nullopt for the worldwide service.
enum class SovereignCloud { us_government, china_21vianet };
std::optional<SovereignCloud> sovereign_cloud_of(std::string_view mx_host);
// --smtp-host given as an address or localhost stands in for the method's
// real host (a test server, a tunnel); a name is the host the admin was given.
bool is_stand_in_host(std::string_view host);
// Submission methods without --smtp-host: the cloud's SMTP AUTH host, token
// endpoint and scope where they are known, and a row (and an untested step)
// saying what is not confirmed.
void apply_sovereign_cloud(Plan& plan, SovereignCloud cloud, std::string_view mx_host);
// Asks the domain's MX (one question) and applies its cloud.
void find_sovereign_cloud(Plan& plan, const dns::ResolverConfig& resolver_config);

// Whether an address's domain is one of the accepted domains (or below one).
bool is_internal(std::string_view address, const std::vector<std::string>& accepted_domains);

// ---------------------------------------------------------------------------
// DMARC (RFC 7489): just what the verdict needs.

struct DmarcRecord {
  std::string record;
  std::string policy;            // "none", "quarantine", "reject"; empty when p= is missing or invalid
  std::string subdomain_policy;  // sp=
  std::string invalid_policy;    // the first p= or sp= that is none of the three, as written ("p=rejct")
  int pct = 100;
};
// What receivers do to mail that fails DMARC under this policy and pct=, in
// words ("rejected"); empty when nothing: RFC 7489 6.6.4 gives the messages
// pct= leaves out the next weaker policy.
std::string dmarc_effect(const std::string& policy, int pct);
// The DMARC record among a TXT answer's strings: nullopt when none starts
// with "v=DMARC1"; more than one is reported by dmarc_check.
std::optional<DmarcRecord> parse_dmarc(std::string_view text);
// The check for the From domain's _dmarc answer, knowing whether the
// device passes SPF (aligned: MAIL FROM and From are the same address).
Check dmarc_check(const std::string& from_domain, const dns::Answer& answer, bool spf_passes);

// Policy discovery (RFC 7489 6.6.3; DMARCbis's DNS tree walk): the names
// whose _dmarc record may apply to mail from from_domain, the From domain
// first, then its parents nearest first (at most 7 labels, never the
// top-level domain alone). All are asked at once.
std::vector<std::string> dmarc_policy_domains(std::string_view from_domain);
struct DmarcLookup {
  std::string domain;  // the name whose _dmarc was asked
  dns::Answer answer;
};
// The check from the From domain's answer and its parents' (in the order of
// dmarc_policy_domains): without a record of its own, the nearest parent's
// record applies, its sp= (or, without sp=, its p=). The row's fields name
// the domain whose record applies ("policy_domain").
Check dmarc_check(const std::string& from_domain, const std::vector<DmarcLookup>& lookups, bool spf_passes);
// Queues the questions of dmarc_policy_domains on resolver (the caller runs
// it); lookups is resized now and filled as the answers come.
void query_dmarc(dns::Work& work, std::string_view from_domain, std::vector<DmarcLookup>& lookups);

// ---------------------------------------------------------------------------
// Filtering gateways in front of Exchange Online

// The gateway an MX host belongs to (the mx module's table).
using mx::MailGateway;
using mx::classify_gateway;

// ---------------------------------------------------------------------------
// The run

struct Section {
  std::string id;     // "input", "mx", "spf", "dmarc", "blocklist", "smtp", "auth"
  std::string title;  // "MX (contoso.com)"
  std::vector<Check> checks;
};

// ---------------------------------------------------------------------------
// The verdict, computed from typed facts before anything is rendered.

enum class VerdictKind { will_work, will_not_work, not_verified };
std::string_view to_string(VerdictKind kind);  // "will-work", "will-not-work", "not-verified"
std::string_view label(VerdictKind kind);      // "WILL WORK", "WILL NOT WORK", "NOT VERIFIED"

struct Verdict {
  VerdictKind kind = VerdictKind::not_verified;
  std::string summary;          // about 120 characters: the method, the verdict, the few causes
  std::vector<Step> causes;     // the failed steps
  std::vector<Step> untested;   // the steps that could not be tested
  // 0 will work, 1 will not work, 3 not verified: a definite finding outranks an untested step.
  int exit_code() const;
};
// WILL NOT WORK when a step failed; otherwise NOT VERIFIED when a step could
// not be tested (a skipped step never yields WILL WORK); otherwise WILL WORK.
// An empty list is NOT VERIFIED: nothing was shown to work.
Verdict decide(const std::string& method_text, const std::vector<Step>& steps);
// The steps with every FAIL row the run shows: a FAIL row is a finding about
// the device's path, so a section whose FAIL rows no failed step speaks for
// adds them as failed steps (id: the row's). "health" rows never fail. The
// verdict is decided from what this returns: a FAIL row never sits under
// WILL WORK, and a definite finding outranks an untested step (1 beats 3).
std::vector<Step> with_failed_rows(std::vector<Step> steps, const std::vector<Section>& sections);

// What to do, in order: the remedies of failed rows, then of rows that could
// not complete, then of warnings; blocking parts first.
struct NextStep {
  std::string id;       // the row's id
  std::string section;  // the row's section id
  std::string remedy;
};

struct Outcome {
  std::vector<Section> sections;
  std::optional<IpAddress> ip;          // as given or found by --egress
  std::string smtp_target;              // "host [address]:port"
  std::string smtp_host, smtp_port;     // where the session went
  std::string mx_host;                  // the domain's Exchange Online MX host (direct send, relay); empty: none
  std::vector<Step> steps;              // every step the method depends on
  Verdict verdict;                      // decided from steps
  std::vector<NextStep> next_steps;     // in order
  std::optional<std::string> spf_record;  // the exact record to publish, when SPF does not pass
  std::vector<std::string> spf_record_notes;  // what to know when publishing it (flattened: run again monthly; over 255 characters)
  std::string device_helo;              // the EHLO name the device must send: the SPF result rests on it (%{h})
  nlohmann::json fields = nlohmann::json::object();  // "mx", "spf", "dmarc", "blocklist", "smtp", "egress"
  std::vector<dns::QueryLogEntry> log;
};
std::vector<NextStep> next_steps_for(const std::vector<Section>& sections);

// Runs SMTP sessions beside the DNS loop, at most `threads` at once, on
// threads started as needed (never one per batch row).
class SessionPool {
 public:
  explicit SessionPool(std::size_t threads);
  ~SessionPool();  // runs what was submitted, then joins
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  std::future<void> submit(std::function<void()> job);

 private:
  void work();
  std::size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

// One preflight run on a caller's loop (ARCHITECTURE.md, "The DNS loop").
// prepare() reads the secret, checks the input and finds the address
// (--egress); start() puts every DNS part into the caller's resolver and
// hands the SMTP session to the pool, and on_dns_done runs from inside the
// caller's run() once the DNS parts have their answers; finish() waits for
// the session and decides. The plan must outlive the run.
class PreflightRun {
 public:
  static Result<std::unique_ptr<PreflightRun>> prepare(const Plan& plan, const dns::ResolverConfig& resolver_config);
  ~PreflightRun();
  // A resolver with the run's settings, its -v hook serialized with the SMTP session's.
  Result<std::unique_ptr<dns::Resolver>> make_resolver() const;
  void start(dns::Resolver& resolver, SessionPool& sessions, std::function<void()> on_dns_done);
  // Whether the SMTP session (if any) is over: finish() will not wait.
  bool session_done() const;
  // log: the questions to report with the outcome (the run's resolver's log).
  Outcome finish(const std::vector<dns::QueryLogEntry>& log);

 private:
  struct State;
  explicit PreflightRun(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Runs every part the method needs on one resolver and one loop, the SMTP
// session beside them. Secrets are read here, never printed.
Result<Outcome> run_preflight(const Plan& plan, const dns::ResolverConfig& resolver_config);

// --method auto's rows (info): the recommended method, the others that fit,
// and why each other one does not.
Section recommendation_section(const Recommendation& recommendation);

// A row that did not run: info with "skipped": true (rendered SKIP).
Check skipped(std::string id, std::string message);
bool is_skipped(const Check& check);

// How the text form is laid out.
struct TextLayout {
  TextStyle style;
  std::size_t width = 0;  // wrap lines to this many columns with a hanging indent; 0: never wrap
  bool verbose = false;   // -v: list the PASS and INFO rows too
};
// The terminal's width for stdout, 0 when stdout is not a terminal.
std::size_t terminal_width();
// Text wrapped at width with every line after the first indented by
// `indent` spaces; width 0 leaves it as it is.
std::string wrap(std::string_view text, std::size_t width, std::size_t indent);

// The report: every section's checks, the verdict and next steps, and the
// parts' JSON under one envelope; with text non-null, the text form. Reads
// the outcome only: the verdict was decided before.
Report make_report(const Outcome& outcome, const Plan& plan, std::string* text, const TextLayout& layout);

// WILL WORK's "configure the device" block: server, port, TLS, authentication, From.
std::vector<std::pair<std::string, std::string>> device_configuration(const Outcome& outcome, const Plan& plan);

// The same report as Markdown for a ticket: a header (date, version,
// inputs), the verdict, the rows that need action first, the next steps,
// and the SPF record in a code block.
std::string render_markdown(const Outcome& outcome, const Plan& plan);
// Text for Markdown: '<' and '>' escaped so that "<mailbox>" survives,
// records, commands and addresses in code spans.
std::string markdown_text(std::string_view text);
// Text for one Markdown table cell: '|' escaped, line breaks as <br>.
std::string markdown_cell(std::string_view text);

// ---------------------------------------------------------------------------
// --batch FILE.csv

// RFC 4180 records: comma-separated, fields optionally in double quotes
// ("" inside for a quote; commas and line breaks allowed inside quotes).
struct CsvRecord {
  int line = 0;  // where the record starts, 1-based
  std::vector<std::string> fields;
};
// The records of text; a malformed record is bad input naming NAME:LINE.
// separator: ',' (RFC 4180), or ';' as spreadsheets write in locales where
// ',' is the decimal mark.
Result<std::vector<CsvRecord>> parse_csv(std::string_view text, const std::string& name, char separator = ',');

struct BatchRow {
  int line = 0;
  ToolOptions options;  // the command line's options with this row's domain, method, ip, from, to, ...
  Plan plan;
};
struct Batch {
  std::vector<BatchRow> rows;
  std::vector<std::string> notes;  // "column \"site\" ignored", "';' separators"
};
// The rows of a batch file (header domain,method,ip,from,to in any order,
// optionally smtp_host, smtp_port, user, password_file; "to" may hold
// several addresses separated by ';' or, in a ';'-separated file, by ','),
// each planned with the command line's other options. Unknown columns are
// ignored with a note. Any bad row is bad input naming FILE:LINE.
Result<Batch> read_batch(const std::string& path, const ToolOptions& base);

// One SPF record for every device of a batch that sends as one domain.
struct TenantSpf {
  std::string domain;                 // the sender (From) domain
  std::vector<std::string> ips;       // the devices' public addresses
  std::optional<std::string> record;  // verified for every one of them and every sender authorized today
  std::string note;                   // why there is no record
};

struct BatchResult {
  int line = 0;
  std::optional<TenantSpf> tenant_spf;  // set by merge_tenant_spf
  int exit_code = 0;
  std::string domain, method, from, ip;
  Status status = Status::info;
  std::optional<VerdictKind> verdict;  // nullopt: the row did not run
  std::string reason;                  // the verdict's summary, or why the row did not run
  std::vector<Step> causes, untested;  // the verdict's, whole (the summary shortens them)
  nlohmann::json document;             // the row's report
};
// Rows in one resolver's loop at once (ARCHITECTURE.md, "The DNS loop").
inline constexpr std::size_t batch_rows_at_once = 64;
// Runs the rows, batch_rows_at_once of them on one loop and at most
// `concurrency` SMTP sessions at once, calling progress(done, total) after
// each; results in row order.
std::vector<BatchResult> run_batch(const std::vector<BatchRow>& rows, const dns::ResolverConfig& resolver_config, std::size_t concurrency,
                                   const std::function<void(std::size_t, std::size_t)>& progress);
// run_batch calls it on its own resolver once the rows are done (their
// answers are in its cache): for each sender domain of the direct-send rows where a
// device needs a new SPF record, one record verified for every device of
// the batch that sends as it; each such row's "spf_record" and remedy then
// name that record (never a record with only its own address, which would
// undo another row's), and its report gets "tenant_spf".
void merge_tenant_spf(const std::vector<BatchRow>& rows, std::vector<BatchResult>& results, dns::Resolver& resolver);

// The summary: a columns line, one line per row (device, IP, domain, method,
// verdict, reason), the totals, and a section per tenant; text or Markdown.
std::string render_batch_summary(const std::vector<BatchResult>& results, bool markdown, const std::vector<std::string>& notes = {});

// sendcheck-preflight --batch from parsed options to exit code: the worst
// row's, ranked 2 (bad input) > 1 (will not work) > 3 (not verified) > 0.
int run_batch_tool(const ToolOptions& options);

// sendcheck-preflight from parsed options to exit code.
int run_tool(const ToolOptions& options);

// ---------------------------------------------------------------------------
// sendcheck demo: preflight on a bundled setup, with no network.

// The demo's story (fixtures/demo/README.md): Northwind Traders' new scanner
// at 203.0.113.40, missing from the SPF record, sends as
// scanner@northwind-traders.example to frontdesk@northwind-traders.example.
struct DemoOptions {
  cli::CommonOptions common;  // --json, --no-color, -v pass through; --dns/--zone are not used
  std::string data_dir;       // --data DIR; empty: found with find_demo_dir
};

// Where demo.zone and blocklists.zone are: next to a build tree's bin/
// (bin/../../fixtures/demo) or an installed one (bin/../share/sendcheck/demo).
std::optional<std::string> find_demo_dir(const std::string& executable_dir);

// Starts the exo-mx profile of the SMTP server on 127.0.0.1 port 0 with a
// certificate from a CA made for the run, then runs preflight direct-send
// against it with the demo zones. Returns preflight's exit code (1: the
// scanner fails SPF).
int run_demo(const DemoOptions& options);

}  // namespace diag::preflight
