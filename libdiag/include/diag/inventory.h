// The sender inventory: who still signs in to SMTP AUTH with a password,
// from where, and what each of them should move to before Exchange Online
// turns basic authentication for SMTP AUTH off by default (end of December
// 2026). The facts come from Entra sign-in logs (Graph or the portal's
// download), the usage report, and the tenant and mailbox switches
// (Get-TransportConfig, Get-CASMailbox, authentication policies).
//
// Every source turns its rows into the records below and hands them to a
// sink one by one, so that memory grows with the number of senders, never
// with the number of sign-ins.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "diag/resolver.h"
#include "diag/tool_common.h"

namespace diag::inventory {

// Where a record came from; shown to the admin, so a finding can be traced.
enum class SourceKind {
  graph_signins_v1,      // Graph v1.0 auditLogs/signIns (interactive)
  graph_signins_beta,    // Graph beta auditLogs/signIns, nonInteractiveUser
  signin_export_csv,     // Entra admin center download, CSV
  signin_export_json,    // Entra admin center download, JSON
  usage_report,          // getEmailAppUsageUserDetail ("SMTP App"): cannot tell basic from OAuth
  smtp_auth_report_csv,  // EAC "SMTP AUTH clients" report export
  cas_mailbox_csv,       // Get-CASMailbox | Export-Csv
  transport_config,      // Get-TransportConfig output
  exo_admin_api,         // the undocumented Exchange admin API the EXO module uses
  history,               // the local SQLite history of earlier runs
};

enum class Interactivity { interactive, non_interactive, unknown };

// One "Authenticated SMTP" sign-in (basic authentication over SMTP AUTH).
struct SignIn {
  std::string user;        // userPrincipalName as logged
  std::string ip;          // ipAddress as logged (may be empty)
  std::chrono::sys_seconds time{};
  std::int64_t error_code = 0;  // status.errorCode: 0 is success
  std::string failure_reason;   // status.failureReason
  std::string client_app;       // clientAppUsed ("Authenticated SMTP")
  std::string user_agent;       // beta and exports only ("BAV2ROPC")
  std::string request_id;       // "Request ID" (CSV) or id (JSON): with the rest, tells a row read twice
  Interactivity interactivity = Interactivity::unknown;
  SourceKind source = SourceKind::graph_signins_v1;
};
using SignInSink = std::function<void(const SignIn&)>;

// One row of the usage report: this user used an SMTP client in the period,
// with basic authentication or OAuth: the report does not say which.
struct UsageRow {
  std::string user;                  // may be a concealed hash
  std::string last_activity_date;    // YYYY-MM-DD or empty
  bool smtp_app = false;
  std::string report_period;         // "30" etc.
  std::string report_refresh_date;   // YYYY-MM-DD: the last day the period covers
};
using UsageSink = std::function<void(const UsageRow&)>;

// One row of the EAC SMTP AUTH clients report.
struct SmtpAuthReportRow {
  std::string sender;
  std::optional<std::string> authentication_protocol;  // "Basic" / "OAuth" when the column exists
  std::int64_t messages = 0;
  double tls10_percent = 0, tls11_percent = 0, tls12_percent = 0;
  // A sender's rows merged (one per protocol): the messages of each, in the
  // report's order; authentication_protocol then names them all
  // ("OAuth 300 messages, Basic 12 messages"). Empty for a single row.
  std::vector<std::pair<std::string, std::int64_t>> messages_by_protocol;
};

// SmtpClientAuthenticationDisabled: true disabled, false enabled, unset
// (mailbox only) follows the organization.
struct MailboxSetting {
  std::string user;  // PrimarySmtpAddress (or UserPrincipalName when that is what we have)
  std::optional<bool> smtp_client_authentication_disabled;
};

struct TenantSettings {
  std::optional<bool> smtp_client_authentication_disabled;  // Get-TransportConfig; unknown when not read
  // Authentication policies by name: AllowBasicAuthSmtp.
  std::vector<std::pair<std::string, std::optional<bool>>> authentication_policies;
  std::vector<MailboxSetting> mailboxes;
  SourceKind source = SourceKind::transport_config;
};

}  // namespace diag::inventory

// ---------------------------------------------------------------------------
// The offline half: reading the files an admin already has, aggregating
// every source per sender and IP, the verdicts, the way forward, history.
// ---------------------------------------------------------------------------

#include <map>
#include <set>
#include <tuple>
#include <memory>

#include "diag/report.h"
#include "diag/result.h"

namespace diag::inventory {

// Bounds on what one input may make us hold: a hostile or broken file gets a
// one-line error, never unbounded memory.
struct InputLimits {
  std::size_t max_field_bytes = 64 * 1024;
  std::size_t max_record_bytes = 1024 * 1024;
  std::uint64_t max_file_bytes = 4ull * 1024 * 1024 * 1024;
  std::size_t max_json_element_bytes = 1024 * 1024;
};

// Each parser reads a file (or text) by its real English column names and
// hands every row to the sink. A wrong or unknown layout is bad_input naming
// the columns found and the ones expected. name is what the error messages
// call the input (the file name).
// Entra admin center > Sign-in logs > Download, CSV or JSON (detected from
// the content); only "Authenticated SMTP" rows reach the sink.
// What one sign-in download held: a download without the Client app filter
// and without one SMTP sign-in, or of one log only, looks exactly like
// "nobody uses SMTP AUTH".
struct SignInFileCounts {
  std::size_t sign_ins = 0;            // every row, of any client app
  std::size_t authenticated_smtp = 0;  // the ones handed to the sink
  bool interactive = false, non_interactive = false;  // from the file name or the rows
};
Result<SignInFileCounts> read_signin_export(const std::string& path, const SignInSink& sink, const InputLimits& = {});
Result<SignInFileCounts> parse_signin_export_text(std::string_view text, const std::string& name, const SignInSink& sink,
                                                  const InputLimits& = {});
// getEmailAppUsageUserDetail CSV: the Graph client hands the body here.
Result<std::size_t> parse_usage_report_csv(std::string_view text, const std::string& name, const UsageSink& sink,
                                           const InputLimits& = {});
Result<std::size_t> read_usage_report(const std::string& path, const UsageSink& sink, const InputLimits& = {});
using SmtpAuthReportSink = std::function<void(const SmtpAuthReportRow&)>;
// EAC Reports > Mail flow > SMTP AUTH clients > Export.
Result<std::size_t> read_smtp_auth_report(const std::string& path, const SmtpAuthReportSink& sink,
                                          const InputLimits& = {});
Result<std::size_t> parse_smtp_auth_report_text(std::string_view text, const std::string& name,
                                                const SmtpAuthReportSink& sink, const InputLimits& = {});
// Get-CASMailbox ... | Select PrimarySmtpAddress,SmtpClientAuthenticationDisabled | Export-Csv.
Result<std::size_t> read_cas_mailboxes(const std::string& path, std::vector<MailboxSetting>& out,
                                       const InputLimits& = {});
Result<std::size_t> parse_cas_mailboxes_text(std::string_view text, const std::string& name,
                                             std::vector<MailboxSetting>& out, const InputLimits& = {});
// Get-TransportConfig as Export-Csv, Format-List text or ConvertTo-Json.
Result<std::optional<bool>> read_transport_config(const std::string& path, const InputLimits& = {});
Result<std::optional<bool>> parse_transport_config_text(std::string_view text, const std::string& name);
// Get-AuthenticationPolicy | Select Name,AllowBasicAuthSmtp, as Export-Csv,
// Format-List or ConvertTo-Json.
Result<std::vector<std::pair<std::string, std::optional<bool>>>> read_authentication_policies(
    const std::string& path, const InputLimits& = {});
Result<std::vector<std::pair<std::string, std::optional<bool>>>> parse_authentication_policies_text(
    std::string_view text, const std::string& name);

// Reports show a 32-hex-digit hash instead of the name when the tenant
// conceals user names in reports.
bool looks_concealed(std::string_view user);

// What a sign-in error code means, and whether Microsoft documents it.
struct ErrorCodeMeaning {
  std::string text;
  bool confirmed = false;  // false: well known but not confirmed from Microsoft's documentation
};
ErrorCodeMeaning explain_error_code(std::int64_t code);

// Per sender (user, compared case-insensitively) and source IP. Memory grows
// with distinct senders x IPs, never with the number of rows.
struct IpActivity {
  std::string ip;
  // Sign-ins known in total (the history's plus this run's newer ones).
  std::uint64_t signins = 0, successes = 0, failures = 0;
  std::uint64_t new_signins = 0;    // later than what the history had for this sender and IP
  std::uint64_t new_successes = 0;
  std::uint64_t rows_this_run = 0;  // rows in this run's inputs, newer or not
  std::chrono::sys_seconds first_seen{}, last_seen{}, last_success{};
  std::map<std::int64_t, std::uint64_t> error_codes;  // failures by code (bounded)
  std::map<std::int64_t, std::uint64_t> new_error_codes;  // those of new_signins, which the history adds
  std::map<Interactivity, std::chrono::sys_seconds> last_seen_by_log;  // this run's rows: the next run's watermarks
  std::vector<std::string> user_agents;               // distinct, bounded
  bool from_history = false;
  // --since and a history row that began before it: the database keeps
  // totals per address, not each sign-in, so its counts cannot be cut at
  // the date and include earlier sign-ins.
  bool history_before_since = false;
  // Counts failures under their code, or under "other codes" once the
  // bound of distinct codes is reached.
  static void add_code(std::map<std::int64_t, std::uint64_t>& codes, std::int64_t code, std::uint64_t count);
};

struct SenderActivity {
  std::string user;  // as first seen
  std::map<std::string, IpActivity> ips;
  std::optional<SmtpAuthReportRow> smtp_auth_report;
  std::optional<UsageRow> usage;
  // The report rows came from the history (the day of the run that read
  // them), not from this run's files; this run's rows replace them.
  std::optional<std::string> smtp_auth_report_read_on, usage_read_on;
};

class InventoryAggregator {
 public:
  void add(const SignIn& signin);
  void add(const UsageRow& row);
  void add(const SmtpAuthReportRow& row);
  // Watermarks from the history: a sign-in at or before it was counted by an
  // earlier run and is not counted again in the history's totals. Kept per
  // sign-in log, since the interactive and the non-interactive log hold
  // different sign-ins: a log given in a later run is counted whole. A
  // watermark for Interactivity::unknown (a history written before logs were
  // told apart, or a file that does not say) holds for every log.
  void set_watermark(const std::string& user, const std::string& ip, Interactivity log, std::chrono::sys_seconds last_seen);
  // Sign-ins before this time are ignored (--since).
  void set_since(std::optional<std::chrono::sys_seconds> since) { since_ = since; }
  // A sender the history saw only before --since: not counted, but known,
  // so that its mailbox is not called unused.
  struct SeenBeforeSince {
    std::chrono::sys_seconds last_seen{};
    bool succeeded = false;  // a sign-in that worked: it sent with its password then
    std::optional<std::chrono::sys_seconds> last_success;  // when known
    // The addresses it succeeded from (bounded): a password that worked from
    // many is used elsewhere too, whatever --since leaves in the window.
    std::set<std::string> success_ips;
    // And those whose every sign-in failed: a password tried from many is
    // under attack, whatever --since leaves in the window.
    std::set<std::string> failed_ips;
    static constexpr std::size_t max_success_ips = 32;
  };
  void remember_before_since(const std::string& user, std::chrono::sys_seconds last_seen, bool succeeded,
                             std::optional<std::chrono::sys_seconds> last_success = std::nullopt, const std::string& ip = {}) {
    auto& seen = seen_before_since_[user];
    seen.last_seen = std::max(seen.last_seen, last_seen);
    seen.succeeded = seen.succeeded || succeeded;
    if (last_success) seen.last_success = seen.last_success ? std::max(*seen.last_success, *last_success) : *last_success;
    if (ip.empty()) return;
    if (succeeded) {
      seen.failed_ips.erase(ip);
      if (seen.success_ips.size() < SeenBeforeSince::max_success_ips) seen.success_ips.insert(ip);
    } else if (!seen.success_ips.count(ip) && seen.failed_ips.size() < SeenBeforeSince::max_success_ips) {
      seen.failed_ips.insert(ip);
    }
  }
  const std::map<std::string, SeenBeforeSince>& seen_before_since() const { return seen_before_since_; }
  // The user as first written in the inputs ("Printer@Contoso.com"), else the key.
  const std::string& spelling(const std::string& key) const {
    const auto found = first_spelling_.find(key);
    return found == first_spelling_.end() ? key : found->second;
  }

  SignInSink signin_sink() { return [this](const SignIn& s) { add(s); }; }
  UsageSink usage_sink() { return [this](const UsageRow& r) { add(r); }; }
  SmtpAuthReportSink smtp_auth_report_sink() { return [this](const SmtpAuthReportRow& r) { add(r); }; }

  // Keyed by the lower-cased user.
  std::map<std::string, SenderActivity>& senders() { return senders_; }
  const std::map<std::string, SenderActivity>& senders() const { return senders_; }
  std::uint64_t rows_seen() const { return rows_seen_; }
  std::uint64_t rows_before_since() const { return rows_before_since_; }
  std::uint64_t rows_read_twice() const { return rows_read_twice_; }
  std::uint64_t rows_in_both_logs() const { return rows_in_both_logs_; }
  // The earliest sign-in of this run's inputs (after --since): where the
  // period they cover starts, at the latest.
  std::optional<std::chrono::sys_seconds> earliest_signin() const { return earliest_signin_; }
  // The first day this run's usage report covers (Report Refresh Date less
  // Report Period); nullopt when no row carried both.
  std::optional<std::chrono::sys_days> usage_from() const { return usage_from_; }
  std::optional<std::chrono::sys_days> usage_to() const { return usage_to_; }
  std::optional<std::chrono::sys_seconds> latest_signin() const { return latest_signin_; }

 private:
  std::map<std::string, SenderActivity> senders_;
  std::map<std::tuple<std::string, std::string, Interactivity>, std::chrono::sys_seconds> watermarks_;
  std::optional<std::chrono::sys_seconds> since_;
  std::map<std::string, SeenBeforeSince> seen_before_since_;  // keyed by the lower-cased user
  // The first spelling of each sender in the input, --since or not, so
  // that a window does not change how a user name is written.
  std::map<std::string, std::string> first_spelling_;
  std::uint64_t rows_seen_ = 0, rows_before_since_ = 0, rows_read_twice_ = 0, rows_in_both_logs_ = 0;
  std::optional<std::chrono::sys_seconds> earliest_signin_;
  std::optional<std::chrono::sys_days> usage_from_, usage_to_;
  std::optional<std::chrono::sys_seconds> latest_signin_;
  // Sign-ins already counted, by a hash of their request ID, time, user, IP
  // and result, with the log they were read from: overlapping downloads,
  // one file given twice, or one log's file given as both.
  std::unordered_map<std::uint64_t, Interactivity> counted_rows_;
};

enum class Verdict { will_break, refused, oauth, exposed_unused };
std::string_view to_string(Verdict verdict);

// How the sender authenticates, as far as the evidence says.
enum class AuthEvidence {
  basic,    // "Authenticated SMTP" sign-ins, or the EAC report says Basic
  oauth,    // the EAC report says OAuth, and no basic sign-in was seen
  unknown,  // the usage report, or the EAC report without its protocol column
  none,     // no use seen at all
};

// SmtpClientAuthenticationDisabled, effective = mailbox ?? org.
struct EffectiveSetting {
  std::optional<bool> mailbox;  // nullopt: not given, or $null in the export
  bool mailbox_row_found = false;
  std::optional<bool> org;
  std::optional<bool> disabled;  // the effective value; nullopt: unknown
  std::vector<std::string> blocking_policies;  // authentication policies with AllowBasicAuthSmtp false
  std::string describe() const;                // "enabled (mailbox)", "disabled (organization)", "unknown", ...
};

// What --preflight found when it ran a way forward's command.
struct WayCheck {
  std::string verdict;  // "will-work", "will-not-work", "not-verified" (sendcheck-preflight's)
  std::string summary;  // the verdict's summary line, or why the check did not run
  int exit_code = 0;    // sendcheck-preflight's for that command
  // What decided it, whole: the failed steps, or else the untested ones
  // with what would test them. The summary shortens them to one line.
  std::vector<std::string> causes = {};
};

struct WayForward {
  std::string method;   // oauth, direct-send, relay, hve, acs
  std::string why;
  std::string command;  // the sendcheck preflight command that verifies it
  std::string ip = {};  // direct-send and relay: the source IP the command checks
  std::string device_tls = {};  // "1.0" or "1.1" when the EAC report shows the device on it
  std::optional<WayCheck> checked = {};  // --preflight ran the command
};

struct SenderFinding {
  std::string user;
  Verdict verdict = Verdict::will_break;
  AuthEvidence auth = AuthEvidence::none;
  std::string reason;  // why this verdict, in one sentence
  EffectiveSetting setting;
  std::vector<IpActivity> ips;
  std::uint64_t signins = 0, successes = 0, failures = 0;
  std::optional<std::chrono::sys_seconds> first_seen, last_seen;
  std::optional<SmtpAuthReportRow> smtp_auth_report;
  std::optional<UsageRow> usage;
  std::optional<std::string> smtp_auth_report_read_on, usage_read_on;  // from the history: the day they were read
  bool concealed = false;
  // A B2B guest (name@partner.com#EXT#@tenant): no mailbox here, its
  // password checked by its home organization; Set-CASMailbox does not apply.
  bool guest = false;
  // Its last password success before --since, which left those sign-ins out.
  std::optional<std::chrono::sys_seconds> success_before_since;
  std::vector<std::string> success_ips_before_since;  // addresses its password worked from before --since
  std::vector<std::string> failed_ips_before_since;   // and those whose every sign-in failed then
  bool only_in_history = false;
  bool active_this_run = false;  // this run's inputs show use (sign-ins, EAC report or usage report)
  std::optional<std::string> previous_verdict;
  std::vector<WayForward> way_forward;
};

// What a sender's source addresses say about its password: failures from
// many addresses are someone trying it (password spraying); successes from
// more public addresses than a device uses, a password used elsewhere too.
struct AddressPattern {
  static constexpr std::size_t spraying_addresses = 5, device_addresses = 3;
  std::size_t failed_only = 0;       // addresses whose every sign-in failed
  std::size_t succeeded_public = 0;  // public addresses with a sign-in that worked
  bool sprayed() const { return failed_only >= spraying_addresses; }
  bool used_elsewhere() const { return succeeded_public > device_addresses; }
};
AddressPattern address_pattern(const SenderFinding& sender);

struct InventoryChanges {
  bool have_previous_run = false;
  std::string previous_run_time;
  std::vector<std::string> new_senders;
  // Active in the last run and not in this one: gone quiet when this run's
  // inputs list every sender and begin after its last sign-in; else only
  // not in this run's inputs (a source not given this time, a shorter period).
  std::vector<std::string> gone_quiet, not_in_inputs;
  // Verdicts can change because a setting was not given this time.
  bool settings_missing = false;
  std::vector<std::tuple<std::string, std::string, std::string>> verdict_changes;  // user, before, now
};

// Which inputs can show every SMTP AUTH sender of their period. Only then
// may "no sender will break" be a pass.
struct EvidenceCoverage {
  bool interactive_log = false, non_interactive_log = false;  // sign-ins read from each log
  std::size_t signin_sources = 0;                             // sign-in files, or Graph's logs
  bool usage_report = false, smtp_auth_report = false;        // each lists every SMTP sender of its period
  // Files with sign-ins of other client apps: downloaded without the Client
  // app filter, and so cut at the portal's record limit with SMTP rows
  // perhaps among those left out. They show no log whole.
  std::vector<std::string> unfiltered;                        // what the report says of each
  // Sign-ins found in a file of each log: the two logs never share one, so
  // one file is the other log's under another name.
  std::uint64_t rows_in_both_logs = 0;
  // The two logs' files (named by the portal with their period) cover days
  // that do not meet: each log is missing for the other's days.
  std::string logs_disjoint;  // "interactive 2026-11-05 to 2026-12-05, non-interactive 2026-10-06 to 2026-11-04"; empty: they meet
  bool both_logs_whole() const { return interactive_log && non_interactive_log && rows_in_both_logs == 0 && logs_disjoint.empty(); }
  bool complete() const { return usage_report || smtp_auth_report || both_logs_whole(); }
  // The EAC report's export does not carry its period (7 days unless the
  // admin chose up to 90): alone it may miss a device that sends monthly.
  bool only_short_period() const { return smtp_auth_report && !usage_report && !both_logs_whole(); }
  // "No sender will break" holds only from inputs like these.
  bool lists_every_sender() const { return complete() && !only_short_period(); }
  // The sign-in logs' "Authenticated SMTP" rows are sign-ins with a password:
  // one with OAuth is a token's sign-in, and never among them. The usage
  // report and the EAC report list every SMTP sender, OAuth included.
  bool lists_oauth_senders() const { return (usage_report && usage_covers_signins()) || (smtp_auth_report && eac_covers_signins()); }
  // The EAC report's export does not carry its period: taken as its default
  // 7 days, it covers the sign-in logs only when they span no more.
  bool eac_covers_signins() const { return !signins_from || !signins_to || *signins_to - *signins_from <= std::chrono::days(7); }
  // The usage report lists the SMTP users of its own period (7 to 180
  // days, ending on its refresh date): one that begins after the first
  // sign-in the logs hold does not list the OAuth senders of the days
  // between. Unknown dates are taken to cover.
  std::optional<std::chrono::sys_days> usage_from;    // the first day the usage report covers
  std::optional<std::chrono::sys_days> signins_from;  // the day of the first sign-in read
  std::optional<std::chrono::sys_days> usage_to;      // its Report Refresh Date
  std::optional<std::chrono::sys_days> signins_to;    // the day of the last sign-in read
  // The report is refreshed a day or two behind; a report older than that
  // misses the last days of the logs.
  // "the usage report covers 2026-11-24 to 2026-11-30, the sign-in logs 2026-11-03 to 2026-12-01"
  std::string usage_and_signin_periods() const;
  std::string signin_period() const;  // "2026-11-03 to 2026-12-01"
  bool usage_covers_signins() const {
    return (!usage_from || !signins_from || *usage_from <= *signins_from) &&
           (!usage_to || !signins_to || *usage_to + std::chrono::days(3) >= *signins_to);
  }
  // "Disable it" holds only from inputs that list both: the switch refuses OAuth too.
  bool lists_every_smtp_user() const { return lists_every_sender() && lists_oauth_senders(); }
  // The last day the dated inputs cover (the sign-in logs', the usage
  // report's); none when no input is dated (the EAC export carries no date).
  std::optional<std::chrono::sys_days> inputs_end() const;
  // Inputs that end more than a week before today (the usage report runs a
  // few days behind) miss every sender that started since: "unused" and
  // "nobody breaks" are not known from them.
  static constexpr std::chrono::days stale_after{7};
  bool ends_before(std::chrono::sys_days today) const {
    const auto end = inputs_end();
    return end && today - *end > stale_after;
  }
  // "the inputs end on 2026-10-31, 35 days before today (2026-12-05)"; empty when not stale.
  std::string stale_inputs(std::chrono::sys_days today) const;
};

struct InventoryResult {
  std::vector<SenderFinding> senders;  // will-break first
  TenantSettings tenant;
  bool org_known = false, mailboxes_known = false;
  bool any_concealed = false;
  std::uint64_t rows_seen = 0, rows_before_since = 0, rows_read_twice = 0;
  std::optional<std::chrono::sys_seconds> inputs_from;  // the aggregator's earliest_signin()
  std::chrono::sys_days today{};
  std::optional<InventoryChanges> changes;
  std::vector<std::string> inputs;  // what was read, for the report
  EvidenceCoverage coverage;
  // Senders in use that no mailbox row matched (a sign-in name other than
  // the primary SMTP address, a concealed name): any "unused" mailbox may be
  // theirs.
  std::vector<std::string> unmatched_senders;
  bool preflight_ran = false;       // --preflight was asked (verify_ways_forward), whatever it found to check
};

// The verdicts from the aggregated activity and the settings. Senders that
// are in mailboxes with SMTP AUTH effectively enabled but have no use are
// exposed-unused.
// coverage: what the inputs can show ("disable it" needs inputs that list
// every sender, OAuth ones too, since the switch refuses OAuth as well);
// nullopt: inputs that list every sender.
InventoryResult evaluate(const InventoryAggregator& activity, const TenantSettings& tenant,
                         std::chrono::sys_days today, const std::optional<EvidenceCoverage>& coverage = std::nullopt);

// Ways forward for a sender that will break, from what is known (IPs and
// their scope, the device's TLS mix, volume), each with its preflight command.
std::vector<WayForward> ways_forward(const SenderFinding& sender);
// The external recipient of the relay checks: outside every tenant (RFC
// 2606), and nothing reaches it (preflight stops after RCPT TO).
inline constexpr std::string_view relay_test_recipient = "someone@example.org";

// Every preflight command of every will-break sender, one per source IP.
std::vector<std::string> preflight_commands(const InventoryResult& result);

// --preflight: the commands of preflight_commands (direct send and relay,
// which need no credentials) run as sendcheck-preflight --batch runs its
// rows, every one on one DNS loop and a few SMTP sessions at once, each
// verdict put on its way forward. The number of commands run.
std::size_t verify_ways_forward(InventoryResult& result, const dns::ResolverConfig& resolver_config,
                                double timeout_seconds);

// Days from today until the end of December 2026, when Microsoft turns basic
// authentication for SMTP AUTH off by default; 0 after it.
int days_until_cutover(std::chrono::sys_days today);

// ---- History (SQLite) ----
class HistoryDatabase {
 public:
  ~HistoryDatabase();
  HistoryDatabase(HistoryDatabase&&) noexcept;
  HistoryDatabase& operator=(HistoryDatabase&&) noexcept;
  // Opens or creates the database (WAL, busy timeout), creating or checking
  // the schema version.
  static Result<HistoryDatabase> open(const std::string& path, std::chrono::milliseconds busy_timeout =
                                                                   std::chrono::milliseconds(30000));
  // Loads the earlier runs' senders into the aggregator (as history) and
  // their watermarks; since filters out older activity.
  Result<bool> load_into(InventoryAggregator& aggregator, std::optional<std::chrono::sys_seconds> since);
  // Compares with the previous run's verdicts (the "changed since the last
  // run" section) and sets each sender's previous_verdict.
  Result<InventoryChanges> changes_since_last_run(InventoryResult& result);
  // Writes this run in one transaction. in_transaction is called after the
  // first writes, before COMMIT (tests kill the process there).
  Result<bool> record_run(const InventoryResult& result, const std::string& started,
                          const std::function<void()>& in_transaction = {});
  // For tests and the report: how many runs are recorded.
  Result<std::int64_t> run_count();

 private:
  struct Impl;
  explicit HistoryDatabase(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- The whole offline run ----
enum class OutputFormat { text, json, csv, markdown };

struct InventoryRequest {
  std::vector<std::string> signin_files;
  std::string mailboxes_file, transport_config_file, authentication_policy_file, smtp_auth_report_file,
      usage_report_file;
  std::string db_file;
  std::optional<std::chrono::sys_days> since;
  std::chrono::sys_days today{};
  InputLimits limits;
};

// Parses "YYYY-MM-DD" (or an RFC 3339 time, whose date is taken).
std::optional<std::chrono::sys_days> parse_date(std::string_view text);

// Reads every input into one aggregator (more sources, e.g. Graph, can be
// fed through more_sources before the verdicts), evaluates, and keeps the
// history. bad_input for a file that cannot be read as what it claims.
Result<InventoryResult> run_inventory(
    const InventoryRequest& request,
    const std::function<Result<bool>(InventoryAggregator&, TenantSettings&, EvidenceCoverage&)>& more_sources = {});

// The shared envelope plus "senders"; text/csv/markdown rendered into *text.
Report make_report(const InventoryResult& result, OutputFormat format, std::string* text, const TextStyle& style);

}  // namespace diag::inventory

namespace diag::inventory {

// Reading the tenant over Microsoft Graph (and, when asked, the Exchange
// admin API) instead of, or beside, the files: the tool's --tenant options.
struct OnlineOptions {
  std::string tenant;  // "contoso.onmicrosoft.com" or the tenant id; empty: offline
  std::string client_id;
  std::string client_secret_file;            // app-only with a secret
  std::string client_cert_file, client_key_file;  // app-only with a certificate
  bool device_code = false;                  // delegated, an admin at a terminal
  std::string cloud = "global";              // global, usgov, usgov-dod, china
  std::string graph_url, login_url, exo_url, ca_file;  // other endpoints (a test server)
  bool exo_admin_api = false;                // tenant settings through the undocumented API
  std::chrono::milliseconds timeout{30000};  // each HTTP exchange
  bool progress = false;                     // pages fetched, on stderr
};

// The options checked (a client id and exactly one way to sign in; a known
// cloud; URLs): bad_input otherwise.
Result<bool> check_online_options(const OnlineOptions& options);

// run_inventory with Graph as one more source: both sign-in logs (interactive
// on v1.0, non-interactive on beta) from `since` (the request's, else 30 days,
// the P1 retention); without an Entra ID P1 license the usage report
// instead, said to be unable to tell basic from OAuth; concealed report
// names noted; with exo_admin_api the organization, mailbox and policy
// switches. What was read is listed in the result's inputs.
Result<InventoryResult> run_inventory_online(const InventoryRequest& request, const OnlineOptions& online);

// sendcheck-inventory from parsed options to exit code (src/inventory/tool.cpp).
struct ToolOptions {
  cli::CommonOptions common;
  InventoryRequest request;
  OnlineOptions online;
  std::optional<std::string> since;  // --since YYYY-MM-DD, checked by run_tool (given empty: an error)
  bool csv = false, markdown = false;
  bool preflight = false;   // --preflight: verify_ways_forward
};
int run_tool(ToolOptions& options);

}  // namespace diag::inventory
