// The inventory as the shared report envelope plus "senders", and as text,
// CSV (a spreadsheet) and Markdown (a change ticket).
#include "diag/inventory.h"
#include "diag/ip.h"
#include "diag/strings.h"
#include "diag/version.h"
#include "text_input.h"

namespace diag::inventory {
using namespace detail;
namespace {

// A guest has no mailbox here, so no mailbox setting: its own line says so.
std::string setting_words(const SenderFinding& sender) {
  return sender.guest ? "guest account: no mailbox in this tenant, so no SMTP AUTH setting here (Conditional Access or "
                        "removing the guest are the controls)"
                      : sender.setting.describe();
}

constexpr const char* timeline_url =
    "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-"
    "deprecation-timeline/4489835";
constexpr const char* concealed_url = "https://learn.microsoft.com/microsoft-365/admin/activity-reports/activity-reports";
constexpr const char* powershell_lines =
    "Get-TransportConfig | Select SmtpClientAuthenticationDisabled | Export-Csv transport.csv -NoTypeInformation; "
    "Get-CASMailbox -ResultSize Unlimited | Select PrimarySmtpAddress,SmtpClientAuthenticationDisabled | Export-Csv "
    "mailboxes.csv -NoTypeInformation";

std::string setting_value(const EffectiveSetting& setting) {
  if (!setting.disabled) return "unknown";
  return *setting.disabled ? "disabled" : "enabled";
}

std::string scope_of(const std::string& ip) {
  const auto address = IpAddress::parse(ip);
  if (!address) return ip.empty() ? "not logged" : "not an IP address";
  switch (address_scope(*address)) {
    case AddressScope::public_internet: return "public";
    case AddressScope::documentation: return "documentation";
    default: return std::string(describe(address_scope(*address)));
  }
}

std::string auth_name(AuthEvidence auth) {
  switch (auth) {
    case AuthEvidence::basic: return "basic";
    case AuthEvidence::oauth: return "oauth";
    case AuthEvidence::unknown: return "unknown";
    case AuthEvidence::none: return "none";
  }
  return "none";
}

nlohmann::json optional_time(const std::optional<std::chrono::sys_seconds>& time) {
  return time ? nlohmann::json(format_time(*time)) : nlohmann::json();
}

nlohmann::json sender_json(const SenderFinding& sender) {
  nlohmann::json ips = nlohmann::json::array();
  for (const auto& ip : sender.ips) {
    nlohmann::json codes = nlohmann::json::array();
    for (const auto& [code, count] : ip.error_codes) {
      const auto meaning = explain_error_code(code);
      codes.push_back({{"code", code}, {"count", count}, {"meaning", meaning.text}, {"confirmed", meaning.confirmed}});
    }
    ips.push_back({{"ip", ip.ip}, {"scope", scope_of(ip.ip)}, {"signins", ip.signins}, {"successes", ip.successes},
                   {"failures", ip.failures}, {"first_seen", format_time(ip.first_seen)},
                   {"last_seen", format_time(ip.last_seen)}, {"error_codes", codes}, {"user_agents", ip.user_agents}});
    if (ip.history_before_since) ips.back()["history_before_since"] = true;
  }
  nlohmann::json ways = nlohmann::json::array();
  for (const auto& way : sender.way_forward) {
    nlohmann::json one = {{"method", way.method}, {"why", way.why}, {"command", way.command}};
    if (!way.ip.empty()) one["ip"] = way.ip;
    if (way.checked)
      one["preflight"] = {{"verdict", way.checked->verdict}, {"summary", way.checked->summary},
                          {"causes", way.checked->causes}, {"exit_code", way.checked->exit_code}};
    ways.push_back(std::move(one));
  }
  nlohmann::json json = {{"user", sender.user},
                         {"ips", ips},
                         {"signins", sender.signins},
                         {"successes", sender.successes},
                         {"failures", sender.failures},
                         {"first_seen", optional_time(sender.first_seen)},
                         {"last_seen", optional_time(sender.last_seen)},
                         {"setting", setting_value(sender.setting)},
                         {"setting_detail", setting_words(sender)},
                         {"verdict", std::string(to_string(sender.verdict))},
                         {"auth", auth_name(sender.auth)},
                         {"reason", sender.reason},
                         {"concealed", sender.concealed},
                         {"guest", sender.guest},
                         {"only_in_history", sender.only_in_history},
                         {"way_forward", ways}};
  if (sender.previous_verdict) json["previous_verdict"] = *sender.previous_verdict;
  if (sender.smtp_auth_report) {
    const auto& row = *sender.smtp_auth_report;
    json["smtp_auth_report"] = {{"messages", row.messages},
                                {"tls10_percent", row.tls10_percent},
                                {"tls11_percent", row.tls11_percent},
                                {"tls12_percent", row.tls12_percent},
                                {"authentication_protocol", row.authentication_protocol
                                                                ? nlohmann::json(*row.authentication_protocol)
                                                                : nlohmann::json()}};
    if (sender.smtp_auth_report_read_on) json["smtp_auth_report"]["read_on"] = *sender.smtp_auth_report_read_on;
  }
  if (sender.usage)
    json["usage_report"] = {{"last_activity_date", sender.usage->last_activity_date},
                            {"report_period", sender.usage->report_period},
                            {"basic_or_oauth", "cannot tell basic from OAuth"}};
  if (sender.usage && sender.usage_read_on) json["usage_report"]["read_on"] = *sender.usage_read_on;
  return json;
}

std::size_t count(const InventoryResult& result, Verdict verdict) {
  std::size_t n = 0;
  for (const auto& sender : result.senders) n += sender.verdict == verdict;
  return n;
}

constexpr std::string_view both_logs_remedy =
    "In the Entra admin center > Sign-in logs, set the filter Client app to \"Authenticated SMTP\" and download both "
    "tabs, User sign-ins (interactive) and User sign-ins (non-interactive); give both files with --signins.";

constexpr std::string_view stale_remedy =
    "Download the sign-in logs again for the last 30 days (and export the usage report again), and run again before you "
    "act on what is not in them: disabling SMTP AUTH for a mailbox that started sending since stops it.";

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string day_of(const std::optional<std::chrono::sys_seconds>& time) {
  return time ? format_time(*time).substr(0, 10) : "-";
}

std::string csv_field(const std::string& raw) {
  // A cell that starts like a formula is one to a spreadsheet (a user name
  // typed by whoever tried the password): a leading ' keeps it text.
  const std::string value =
      !raw.empty() && (raw[0] == '=' || raw[0] == '+' || raw[0] == '-' || raw[0] == '@' || raw[0] == '\t' || raw[0] == '\r')
          ? "'" + raw
          : raw;
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (const char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// An address every sign-in from failed need not be the device's (password
// spraying tries SMTP AUTH from anywhere): it is marked in a table, and in
// the CSV it has a column of its own, so that a filter for the device's
// addresses never picks an attacker's.
enum class IpColumn { marked, device, failed_only };
std::string ip_list(const SenderFinding& sender, IpColumn column = IpColumn::marked) {
  std::string list;
  for (const auto& ip : sender.ips) {
    const bool failed_only = !ip.ip.empty() && ip.successes == 0 && ip.failures > 0;
    if ((column == IpColumn::device && failed_only) || (column == IpColumn::failed_only && !failed_only)) continue;
    list += (list.empty() ? "" : " ") + (ip.ip.empty() ? std::string("(no IP)") : ip.ip) +
            (column == IpColumn::marked && failed_only ? " (failed only)" : "");
  }
  return list;
}

std::string tls_shares(const SmtpAuthReportRow& row) {
  char tls[96];
  std::snprintf(tls, sizeof tls, "TLS 1.0 %.0f%%, 1.1 %.0f%%, 1.2 %.0f%%", row.tls10_percent, row.tls11_percent,
                row.tls12_percent);
  return tls;
}

// What each source saw the sender do, in a few words: a sender that only
// the EAC or usage report shows did send mail, and "0 sign-ins" alone would
// read as unused.
std::string activity_summary(const SenderFinding& sender) {
  std::string summary;
  if (sender.signins || (!sender.smtp_auth_report && !sender.usage))
    summary = plural(sender.signins, "sign-in", "sign-ins");
  if (sender.smtp_auth_report)
    summary += (summary.empty() ? "" : "; ") + std::string("EAC report: ") +
               plural(static_cast<std::size_t>(sender.smtp_auth_report->messages), "message", "messages") + ", " +
               tls_shares(*sender.smtp_auth_report) +
               (sender.smtp_auth_report->authentication_protocol ? ", " + *sender.smtp_auth_report->authentication_protocol : std::string());
  if (sender.usage)
    summary += (summary.empty() ? "" : "; ") + std::string("usage report: last activity in any email app ") +
               (sender.usage->last_activity_date.empty() ? std::string("-") : sender.usage->last_activity_date);
  return summary;
}

// Markdown text outside code spans: '<' and '>' would be read as HTML tags
// and dropped by GitHub and Azure DevOps, '|' would end a table cell, and
// '*' and '_' in a user name would turn part of it into emphasis.
std::string markdown_text(std::string_view value) {
  std::string out;
  bool in_code = false;
  for (const char c : value) {
    if (c == '`') in_code = !in_code;
    if (!in_code && c == '<') out += "&lt;";
    else if (!in_code && c == '>') out += "&gt;";
    else if (c == '|') out += "\\|";
    else if (!in_code && (c == '*' || c == '_')) (out += '\\') += c;
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// The text output's sections and the Markdown's, in the same order.
struct VerdictSection {
  Verdict verdict;
  const char* title;    // text: "WILL BREAK"
  const char* heading;  // Markdown: "Will break"
};
constexpr VerdictSection verdict_sections[] = {
    {Verdict::will_break, "WILL BREAK", "Will break"},
    {Verdict::refused, "ALREADY REFUSED", "Already refused"},
    {Verdict::exposed_unused, "EXPOSED BUT UNUSED (harden)", "Exposed but unused (harden)"},
    {Verdict::oauth, "USES OAUTH", "Uses OAuth"},
};

// "WILL WORK" for "will-work": the words preflight itself prints.
std::string check_label(const WayCheck& check) {
  std::string label = check.verdict;
  for (char& c : label) c = c == '-' ? ' ' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return label;
}

// What --preflight found, counted; nothing when it did not run.
void add_preflight_check(Report& report, const InventoryResult& result) {
  std::size_t run = 0, works = 0, breaks = 0, unverified = 0;
  for (const auto& sender : result.senders)
    for (const auto& way : sender.way_forward) {
      if (!way.checked) continue;
      ++run;
      works += way.checked->verdict == "will-work";
      breaks += way.checked->verdict == "will-not-work";
    }
  if (!run) {
    if (result.preflight_ran)
      report.add({"inventory.preflight", Status::info,
                  "--preflight had nothing to check: no sender that will break or is refused has a public source "
                  "address logged (direct send and a connector are checked per public address)",
                  "Find a device's public address with sendcheck blocklist --egress on its network, then run its "
                  "sendcheck preflight command.",
                  {{"run", 0}, {"will_work", 0}, {"will_not_work", 0}, {"not_verified", 0}}});
    return;
  }
  unverified = run - works - breaks;
  report.add({"inventory.preflight", Status::info,
              "--preflight ran " + plural(run, "way forward", "ways forward") + ": " + std::to_string(works) +
                  " will work, " + std::to_string(breaks) + " will not work, " + std::to_string(unverified) +
                  " not verified (each one's verdict is under its sender)",
              unverified ? "A way that is not verified needs what its verdict names (often port 25 from the device's "
                           "own network): run its command there."
                         : "",
              {{"run", run}, {"will_work", works}, {"will_not_work", breaks}, {"not_verified", unverified}}});
}

void add_checks(Report& report, const InventoryResult& result) {
  const int days = days_until_cutover(result.today);
  const auto will_break = count(result, Verdict::will_break), refused = count(result, Verdict::refused),
             exposed = count(result, Verdict::exposed_unused), oauth = count(result, Verdict::oauth);
  const auto& coverage = result.coverage;
  // "Nobody breaks" is a pass only from inputs that list every SMTP AUTH
  // sender: one sign-in log alone looks exactly like it.
  // Inputs that ended weeks ago show no sender that started since.
  const std::string stale = coverage.stale_inputs(result.today);
  const bool all_senders_seen = coverage.lists_every_sender() && stale.empty();
  // A concealed name in a report may be a sender the logs name too: counted
  // apart, never added to the named ones as if they were others.
  const auto concealed_breaking = static_cast<std::size_t>(std::count_if(
      result.senders.begin(), result.senders.end(), [](const SenderFinding& s) { return s.verdict == Verdict::will_break && s.concealed; }));
  const auto named_breaking = will_break - concealed_breaking;
  const std::string days_left = days > 0 ? plural(static_cast<std::size_t>(days), "day", "days") + " left"
                                         : std::string("off by default since the end of December 2026; the final removal follows");
  report.add({"inventory.will-break", will_break ? Status::fail : all_senders_seen ? Status::pass : Status::warn,
              will_break ? (named_breaking ? plural(named_breaking, "sender", "senders") + " will break at the cutover (" + days_left + ")" +
                                                 (concealed_breaking ? ", and " + plural(concealed_breaking, "name", "names") +
                                                                           " the report conceals, which may be " +
                                                                           (concealed_breaking == 1 ? "one" : "some") + " of them"
                                                                     : std::string())
                                           : plural(concealed_breaking, "sender", "senders") + " whose name the report conceals will break at the cutover (" +
                                                 days_left + ")")
              : all_senders_seen
                  ? "No sender was seen that will break at the cutover, in the periods the inputs cover: a device that "
                    "sends less often is not in them" +
                        std::string(coverage.smtp_auth_report
                                        ? " (the EAC SMTP AUTH clients report covers 7 days unless a longer period, up to 90, "
                                          "was chosen when it was exported)"
                                        : "")
              : !stale.empty() && coverage.lists_every_sender()
                  ? "No sender was seen that will break at the cutover, but " + stale +
                        ": a device that started sending since is not in them"
              : coverage.complete()
                  ? "No sender was seen that will break at the cutover in the EAC SMTP AUTH clients report, but its export "
                    "does not say its period (7 days unless up to 90 was chosen): a device that sends once a month may "
                    "not be in it"
                  : "No sender was seen that will break at the cutover, but the inputs cannot show every sender that "
                    "uses SMTP AUTH",
              will_break ? "Move each to the way forward listed for it, and verify that way with its sendcheck "
                           "preflight command before the end of December 2026."
              : all_senders_seen ? ""
              : !stale.empty() && coverage.lists_every_sender() ? std::string(stale_remedy)
              : coverage.complete()
                  ? std::string(both_logs_remedy) + " Choose the last 30 days for both."
                  : std::string(both_logs_remedy) + " Or add the EAC SMTP AUTH clients report "
                    "(--smtp-auth-report), which lists every sender of its period.",
              {{"url", timeline_url}, {"count", will_break}, {"concealed_count", concealed_breaking}, {"days_left", days}}});
  if (!stale.empty())
    report.add({"inventory.inputs-old", Status::warn,
                "T" + stale.substr(1) + ": a device that started sending since, or that sends only now and then, is not in them, so no "
                        "mailbox is known to be unused from them",
                std::string(stale_remedy),
                {{"inputs_end", format_date(*coverage.inputs_end())}}});
  if (coverage.signin_sources && !coverage.both_logs_whole()) {
    const std::string which = !coverage.logs_disjoint.empty()
                                  ? "the interactive and the non-interactive files cover different days (" + coverage.logs_disjoint +
                                        "): each log is missing for the days only the other covers"
                              : coverage.interactive_log && coverage.non_interactive_log
                                  ? "the interactive and the non-interactive files share " +
                                        plural(static_cast<std::size_t>(coverage.rows_in_both_logs), "sign-in", "sign-ins") +
                                        " (the same request ID), which the two logs never do: one file is probably the "
                                        "other log's under another name, so one log was not given"
                              : coverage.interactive_log     ? "only the interactive sign-in log was given whole"
                              : coverage.non_interactive_log ? "only the non-interactive sign-in log was given whole"
                              : !coverage.unfiltered.empty() && coverage.unfiltered.size() == coverage.signin_sources
                                  ? "no sign-in log was given whole (each file was downloaded without the Client app filter)"
                                  : "the sign-in files do not say which log they come from (the portal names them "
                                    "InteractiveSignIns_... and NonInteractiveSignIns_...)";
    report.add({"inventory.signin-logs", Status::warn,
                "Devices may be missing: " + which + ", and a device's SMTP AUTH sign-ins can be in either log",
                std::string(both_logs_remedy), {}});
  }
  if (coverage.usage_report && !coverage.usage_covers_signins())
    report.add({"inventory.usage-period", Status::warn,
                "The usage report does not cover the sign-in logs' days (" + coverage.usage_and_signin_periods() +
                    "): an application that sent with OAuth only on the other days is in neither (the sign-in logs list "
                    "only sign-ins with a password), so no mailbox is called unused from them",
                "Export the usage report for a period at least as long as the sign-in logs' (Microsoft 365 admin center > "
                "Reports > Usage > Email apps usage: 30, 90 or 180 days) and give it with --usage-report.",
                {{"usage_from", coverage.usage_from ? format_date(*coverage.usage_from) : std::string()},
                 {"usage_to", coverage.usage_to ? format_date(*coverage.usage_to) : std::string()},
                 {"signins_from", coverage.signins_from ? format_date(*coverage.signins_from) : std::string()},
                 {"signins_to", coverage.signins_to ? format_date(*coverage.signins_to) : std::string()}}});
  for (const auto& file : coverage.unfiltered)
    report.add({"inventory.signin-unfiltered", Status::warn,
                file + ": it was downloaded without the Client app filter, and a download stops at a record limit, so "
                       "SMTP AUTH sign-ins may be among those left out",
                "Download it again with the filter Client app \"Authenticated SMTP\" (Add filters > Client app), on "
                "both the interactive and the non-interactive tab.",
                {}});
  if (refused)
    report.add({"inventory.refused", Status::warn,
                plural(refused, "sender is", "senders are") + " already refused (SMTP AUTH disabled, or every basic "
                                                              "sign-in failed)",
                "Check whether these devices still need to send mail; if they do, they need a way forward now: each "
                "one's ways are listed under it.",
                {{"count", refused}}});
  if (exposed)
    report.add({"inventory.exposed-unused", Status::warn,
                plural(exposed, "mailbox has", "mailboxes have") + " SMTP AUTH enabled but no use was seen",
                std::string(result.unmatched_senders.empty()
                                ? ""
                                : "First match the senders in use that no mailbox row matched to their mailboxes (each "
                                  "one's name is under WILL BREAK or ALREADY REFUSED): any of these mailboxes may be one "
                                  "of them. ") +
                    (!stale.empty() ? "T" + stale.substr(1) + ": download the sign-in logs and the usage report again for the last "
                                                              "30 days, and run again before you disable any."
                     : !result.coverage.lists_every_smtp_user()
                         ? std::string(result.coverage.lists_every_sender()
                                           ? "The sign-in logs list only sign-ins with a password, never an application that "
                                             "sends with OAuth, and disabling SMTP AUTH refuses OAuth too: "
                                           : "The inputs do not list every SMTP AUTH sender, so a mailbox not seen here may be in use: ") +
                               "give the usage report (--usage-report), or the EAC SMTP AUTH clients report with both sign-in "
                               "logs, before you disable any."
                         : std::string("Check the longest history you have first (the EAC SMTP AUTH clients report covers up "
                                       "to 90 days, 7 by default); then disable it where nothing uses it: Set-CASMailbox "
                                       "-Identity MAILBOX -SmtpClientAuthenticationDisabled $true.")),
                {{"count", exposed}}});
  if (oauth) report.add({"inventory.oauth", Status::pass, plural(oauth, "sender uses", "senders use") + " OAuth", "", {}});

  std::size_t unknown_auth = 0;
  for (const auto& sender : result.senders) unknown_auth += sender.auth == AuthEvidence::unknown;
  if (unknown_auth)
    report.add({"inventory.basic-or-oauth-unknown", Status::warn,
                plural(unknown_auth, "sender is", "senders are") +
                    " known only from a source that cannot tell basic from OAuth (the usage report, or the EAC report "
                    "without its Authentication Protocol column or with a value there that is neither Basic nor OAuth)",
                result.coverage.both_logs_whole()
                    // The logs are here: a sender in neither sends with OAuth
                    // if they cover its days; the EAC report says for sure.
                    ? std::string("The sign-in logs given hold no password sign-in of them: if the logs cover the days "
                                  "they sent, they use OAuth. Confirm in the EAC SMTP AUTH clients report's Authentication "
                                  "Protocol column (Exchange admin center > Reports > Mail flow > SMTP AUTH clients) and run "
                                  "again with --smtp-auth-report.")
                    : std::string("Download the Entra sign-in logs (client app \"Authenticated SMTP\", interactive and "
                                  "non-interactive) or a recent EAC SMTP AUTH clients report and run again with --signins / "
                                  "--smtp-auth-report."),
                {{"count", unknown_auth}}});
  if (!result.org_known || !result.mailboxes_known)
    report.add({"inventory.settings-unknown", Status::warn,
                std::string("The SMTP AUTH settings were not all given (") +
                    (result.org_known ? "" : "organization") + (!result.org_known && !result.mailboxes_known ? ", " : "") +
                    (result.mailboxes_known ? "" : "mailboxes") +
                    "): a sender's verdict assumes nothing blocks it, and mailboxes that could use SMTP AUTH without "
                    "using it cannot be listed",
                std::string("In Exchange Online PowerShell: ") + powershell_lines +
                    "; then run again with --transport-config transport.csv --mailboxes mailboxes.csv.",
                {}});
  if (result.tenant.smtp_client_authentication_disabled == false) {
    // Senders that follow the organization stop the moment it is disabled:
    // their own setting comes first.
    std::vector<std::string> named, maybe_named;
    std::size_t concealed_count = 0;
    for (const auto& sender : result.senders)
      // OAuth needs the switch as much as a password does, for good.
      if ((sender.verdict == Verdict::will_break || sender.verdict == Verdict::oauth) && !sender.setting.mailbox && !sender.guest) {
        if (sender.concealed) {
          ++concealed_count;
          continue;
        }
        // Pinned on, a password under attack or shared stays usable after the
        // organization is disabled: its check comes first.
        const AddressPattern pattern = address_pattern(sender);
        const std::string flagged =
            pattern.sprayed() && sender.successes
                ? " (check its successes first, and reset its password if one came from an address that is not the device's: see the password-spraying warning)"
            : pattern.sprayed()        ? " (someone is trying its password: give it a strong one; see the password-spraying warning)"
            : pattern.used_elsewhere() ? " (find who else uses its password first: see the password-used-elsewhere warning)"
                                       : "";
        // Without its mailbox row, its own setting is not known: it may follow.
        (sender.setting.mailbox_row_found ? named : maybe_named).push_back(sender.user + flagged);
      }
    std::string following = strings::join_first(named, 10);
    if (!maybe_named.empty())
      following += std::string(following.empty() ? "perhaps " : "; and perhaps ") +
                   (maybe_named.size() == 1 ? "this one, whose own setting was not given: "
                                            : "these, whose own setting was not given: ") +
                   strings::join_first(maybe_named, 10);
    // A concealed name cannot be given to Set-CASMailbox: the sender must be found first.
    if (concealed_count)
      following += std::string(following.empty() ? "" : "; and ") + plural(concealed_count, "sender", "senders") +
                   " whose name the report conceals: turn concealment off and export again to find " +
                   (concealed_count == 1 ? "it" : "them");
    report.add({"inventory.org-enabled", Status::warn,
                "SMTP AUTH is enabled for the organization: every mailbox without its own setting can use it",
                (following.empty()
                     ? std::string("Disable it for the organization (Set-TransportConfig -SmtpClientAuthenticationDisabled "
                                   "$true) and enable it only for the mailboxes that need it: those that send with a "
                                   "password until they move, and those that send with OAuth for good.")
                     : "First enable it on each mailbox that sends through SMTP AUTH (with a password or OAuth) and follows "
                       "the organization, or it stops at once (" + following + "): Set-CASMailbox -Identity MAILBOX "
                       "-SmtpClientAuthenticationDisabled $false. Then disable it for the organization "
                       "(Set-TransportConfig -SmtpClientAuthenticationDisabled $true).") +
                    // A sender the inputs do not show stops too.
                    (!stale.empty() ? " T" + stale.substr(1) + ": download them again for the last 30 days first, or a sender "
                                                               "that started since stops too."
                     : !result.coverage.lists_every_sender()
                         ? std::string(" The inputs do not list every SMTP AUTH sender: give both sign-in logs or the "
                                       "usage report first, or a sender not seen here stops too.")
                     : !result.coverage.lists_oauth_senders() && result.coverage.smtp_auth_report
                         ? " The sign-in logs show no sender that uses OAuth, which needs SMTP AUTH enabled as much as a "
                           "password does, and the EAC SMTP AUTH clients report does not say its period (7 days by default), "
                           "shorter than the logs' " + result.coverage.signin_period() + ": give the usage report "
                           "(--usage-report) first, or an OAuth application not seen here stops too."
                     : !result.coverage.lists_oauth_senders()
                         ? std::string(" The sign-in logs show no sender that uses OAuth, which needs SMTP AUTH enabled as "
                                       "much as a password does: give the usage report (--usage-report) or the EAC SMTP AUTH "
                                       "clients report first, or an OAuth application not seen here stops too.")
                         : std::string()),
                {}});
  }
  for (const auto& [name, allow] : result.tenant.authentication_policies)
    if (allow == false)
      report.add({"inventory.authentication-policy", Status::info,
                  "Authentication policy " + name + " blocks basic authentication for SMTP (AllowBasicAuthSmtp False) "
                  "for the users it is assigned to; the assignments were not given, so the verdicts do not count on it",
                  "", {{"policy", name}}});
  // Failed sign-ins from many addresses are someone trying the password;
  // successes from many are a password used by more than a device.
  std::vector<std::string> sprayed, sprayed_in_use, sprayed_guests, shared;
  for (const auto& sender : result.senders) {
    const AddressPattern pattern = address_pattern(sender);
    // A guest has no SMTP AUTH switch here: its controls are Entra's.
    if (sender.guest && pattern.sprayed()) {
      sprayed_guests.push_back(sender.user + " (" + std::to_string(pattern.failed_only) + " addresses)");
      continue;
    }
    // One that also signs in successfully is a device in use: turning SMTP
    // AUTH off for it stops it now.
    // One that sends with OAuth is in use too: the switch refuses OAuth.
    if (pattern.sprayed())
      (sender.successes || sender.auth == AuthEvidence::oauth || sender.verdict == Verdict::will_break || sender.verdict == Verdict::oauth
           ? sprayed_in_use
           : sprayed)
          .push_back(sender.user + " (" + std::to_string(pattern.failed_only) + " addresses)");
    if (pattern.used_elsewhere())
      shared.push_back(sender.user + " (" + std::to_string(pattern.succeeded_public) + " addresses)");
  }
  if (!sprayed.empty() || !sprayed_in_use.empty() || !sprayed_guests.empty())
    report.add({"inventory.password-spraying", Status::warn,
                "Sign-ins failed from many addresses, someone trying the password over SMTP AUTH: " +
                    strings::join_first(sprayed, 10) +
                    (sprayed_in_use.empty() ? std::string()
                                            : std::string(sprayed.empty() ? "" : "; and ") +
                                                  "of mailboxes in use (a successful sign-in, a report showing mail sent, or a device locked out): " +
                                                  strings::join_first(sprayed_in_use, 10)) +
                    (sprayed_guests.empty() ? std::string()
                                            : std::string(sprayed.empty() && sprayed_in_use.empty() ? "" : "; and ") +
                                                  "of guest accounts: " + strings::join_first(sprayed_guests, 10)),
                (sprayed.empty() || stale.empty() ? std::string()
                                                  : "T" + stale.substr(1) + ": check these mailboxes' newer sign-ins before "
                                                    "you act on what follows. ") +
                std::string(sprayed.empty() ? ""
                            // Any of them may be a concealed SMTP user that sends with OAuth.
                            : result.any_concealed
                                ? "The usage report hides user names (concealed) and shows SMTP users in use that match no "
                                  "mailbox: any of these may be one of them, sending with OAuth, which the SMTP AUTH switch "
                                  "stops too. Turn concealment off (Microsoft 365 admin center > Settings > Org settings > "
                                  "Services > Reports), export the report again and run again before you turn SMTP AUTH off "
                                  "for any of them. "
                                : "For each mailbox that nothing legitimate signs in to over SMTP AUTH, turn it "
                                  "off: Set-CASMailbox -Identity MAILBOX -SmtpClientAuthenticationDisabled $true" +
                                      std::string(result.coverage.lists_oauth_senders() ? ". "
                                                  : result.coverage.usage_report || result.coverage.smtp_auth_report
                                                      // The report given is too short to clear them.
                                                      ? " (first check a usage report that covers the sign-in logs' days, " +
                                                            result.coverage.signin_period() +
                                                            " (30 days or more): the report given does not cover them, and "
                                                            "the sign-in logs never show an application that sends with "
                                                            "OAuth, which the switch stops too). "
                                                      : " (first check the usage report or the EAC SMTP AUTH clients "
                                                        "report for it: the sign-in logs never show an application "
                                                        "that sends with OAuth, which the switch stops too). ")) +
                    (sprayed_in_use.empty() ? ""
                                            : "Do not turn SMTP AUTH off for a mailbox a device uses before the device has "
                                              "moved to its way forward (that stops it now); check that its successes come "
                                              "only from the device's addresses, else reset the password. ") +
                    (sprayed_guests.empty() ? ""
                                            : "A guest account has no mailbox here and its password is its home "
                                              "organization's: block it with Conditional Access or remove the guest, and "
                                              "tell the partner. ") +
                    "Review the sign-ins in Microsoft Entra (Sign-in logs), and give the accounts strong passwords.",
                {}});
  if (!shared.empty())
    report.add({"inventory.password-used-elsewhere", Status::warn,
                "Sign-ins succeeded from more public addresses than a device uses: the password is used elsewhere too "
                "(shared by several devices or people, or known to an attacker): " + strings::join_first(shared, 10),
                "Find which devices use each; if an address is not yours, reset the password and review the account's "
                "sign-ins. Add no address to SPF or a connector before you know it is the device's.",
                {}});
  if (result.any_concealed)
    report.add({"inventory.concealed-names", Status::warn,
                "User names in the report are concealed (32 hexadecimal digits instead of the name): the senders cannot "
                "be told apart from their names",
                "In the Microsoft 365 admin center > Settings > Org settings > Reports, clear \"Display concealed user, "
                "group, and site names in all reports\", then export again.",
                {{"url", concealed_url}}});
  if (result.rows_read_twice)
    report.add({"inventory.signins-read-twice", Status::info,
                plural(result.rows_read_twice, "sign-in was", "sign-ins were") +
                    " in the input more than once (the same request ID, time, user, address and result: overlapping "
                    "downloads, or one file given twice) and counted once",
                "", {}});
  if (result.rows_before_since)
    report.add({"inventory.since", Status::info,
                plural(result.rows_before_since, "sign-in was", "sign-ins were") + " before --since and not counted",
                "", {}});
  std::string inputs;
  for (const auto& input : result.inputs) inputs += (inputs.empty() ? "" : "; ") + input;
  report.add({"inventory.inputs", Status::info, inputs.empty() ? "No input files" : inputs, "", {}});
  add_preflight_check(report, result);
}

// When the cutover is: days left before it; after it, what a sender that
// still signs in with a password waits for (an admin turned it back on).
std::string cutover_words(const InventoryResult& result) {
  const int days = days_until_cutover(result.today);
  if (days > 0)
    return plural(static_cast<std::size_t>(days), "day", "days") +
           " left until Microsoft turns basic authentication for SMTP AUTH off by default (end of December 2026)";
  return "Microsoft turned basic authentication for SMTP AUTH off by default at the end of December 2026; a sender that "
         "still signs in with a password does so because it was turned back on, and breaks at the final removal, whose "
         "date Microsoft announces in the second half of 2027";
}

void render_text(const InventoryResult& result, const Report& report, const TextStyle& style, std::string& text) {
  const auto will_break = count(result, Verdict::will_break);
  text += style.bold("sendcheck inventory: ") +
          (will_break ? style.colored(Status::fail, plural(will_break, "sender", "senders") + " will break")
                      : result.coverage.lists_every_sender()
                          ? style.colored(Status::pass, "no sender will break")
                          // Inputs that miss senders show none breaking, not that none will.
                          : style.colored(Status::warn, "no sender seen that will break (the inputs do not list every sender)")) +
          " at the cutover; " + cutover_words(result) + "\n";
  for (const auto& [verdict, title, unused_heading] : verdict_sections) {
    const auto n = count(result, verdict);
    if (!n) continue;
    text += "\n" + style.bold(std::string(title) + " (" + std::to_string(n) + ")") + "\n";
    for (const auto& sender : result.senders) {
      if (sender.verdict != verdict) continue;
      text += "  " + style.bold(strings::terminal_safe(sender.user)) + "\n";
      if (sender.signins)
        text += "    " + plural(sender.signins, "basic sign-in", "basic sign-ins") + " (" +
                std::to_string(sender.successes) + " succeeded, " + std::to_string(sender.failures) + " failed), " +
                day_of(sender.first_seen) + " to " + day_of(sender.last_seen) +
                (sender.only_in_history ? " (from the history only)" : "") + "\n";
      for (const auto& ip : sender.ips) {
        text += "    from " + (ip.ip.empty() ? std::string("an address not logged") : ip.ip + " (" + scope_of(ip.ip) + ")") + ": " +
                plural(ip.signins, "sign-in", "sign-ins") + ", last " + format_time(ip.last_seen) +
                (ip.history_before_since ? " (the history's totals, since " + format_time(ip.first_seen) +
                                               ": the database keeps totals, not each sign-in, so they cannot be cut at --since)"
                                         : std::string());
        for (const auto& [code, n_code] : ip.error_codes) {
          const auto meaning = explain_error_code(code);
          text += "; error " + std::to_string(code) + " x" + std::to_string(n_code) + " " + meaning.text +
                  (meaning.confirmed ? "" : " (unconfirmed)");
        }
        if (!ip.user_agents.empty()) {
          text += "; agent";
          for (const auto& agent : ip.user_agents) text += " " + strings::terminal_safe(agent);
        }
        text += "\n";
      }
      if (sender.smtp_auth_report) {
        const auto& row = *sender.smtp_auth_report;
        text += "    EAC report: " + std::to_string(row.messages) + " messages, " + tls_shares(row) +
                (row.authentication_protocol ? ", " + *row.authentication_protocol : std::string()) +
                (sender.smtp_auth_report_read_on ? " (from the history: the report read on " + *sender.smtp_auth_report_read_on + ")"
                                                 : std::string()) +
                "\n";
      }
      if (sender.usage)
        text += "    usage report: SMTP used in its period, last activity in any email app " +
                (sender.usage->last_activity_date.empty() ? std::string("-") : sender.usage->last_activity_date) +
                " (cannot tell basic from OAuth)" +
                (sender.usage_read_on ? " (from the history: the report read on " + *sender.usage_read_on + ")" : std::string()) +
                "\n";
      text += "    setting: " + setting_words(sender) + "\n";
      text += "    " + style.dim(strings::terminal_safe(sender.reason)) + "\n";
      if (sender.previous_verdict && *sender.previous_verdict != to_string(sender.verdict))
        text += "    was " + *sender.previous_verdict + " in the last run\n";
      int index = 0;
      for (const auto& way : sender.way_forward) {
        if (index == 0) text += "    Way forward (verify each with its command, or all at once with --preflight):\n";
        text += "      " + std::to_string(++index) + ". " + way.method + ": " + strings::terminal_safe(way.why) + "\n";
        text += "         " + strings::terminal_safe(way.command) + "\n";
        if (!way.checked) continue;
        // The causes whole, one per line: the cut summary hid the very
        // value to fix (an MX typed without its final dot, say).
        text += "         " + style.bold("--preflight: " + check_label(*way.checked)) + ":";
        if (way.checked->causes.empty()) text += " " + way.checked->summary + "\n";
        else text += "\n";
        for (const auto& cause : way.checked->causes) text += "           - " + cause + "\n";
      }
    }
  }
  if (result.changes) {
    const auto& changes = *result.changes;
    text += "\n" + style.bold("CHANGED SINCE THE LAST RUN") +
            (changes.have_previous_run ? " (" + changes.previous_run_time + ")" : std::string()) + "\n";
    if (!changes.have_previous_run) text += "  first run with this database\n";
    for (const auto& user : changes.new_senders) text += "  new: " + strings::terminal_safe(user) + "\n";
    for (const auto& user : changes.gone_quiet) text += "  gone quiet: " + strings::terminal_safe(user) + "\n";
    for (const auto& user : changes.not_in_inputs)
      text += "  not in this run's inputs (a source not given this time, or a shorter period; its verdict is from the "
              "history): " + strings::terminal_safe(user) + "\n";
    for (const auto& [user, before, now] : changes.verdict_changes)
      text += "  " + strings::terminal_safe(user) + ": " + before + " -> " + now + "\n";
    if (changes.settings_missing)
      text += "  (the SMTP AUTH settings were not all given this time: a verdict change may be only that)\n";
    if (changes.have_previous_run && changes.new_senders.empty() && changes.gone_quiet.empty() &&
        changes.not_in_inputs.empty() && changes.verdict_changes.empty())
      text += "  nothing changed\n";
  }
  text += "\n" + render_checks_text(report.checks(), style);
}

void render_csv(const InventoryResult& result, std::string& text) {
  // New columns go last, so that a spreadsheet built on the old ones still reads them.
  text += "user,verdict,auth,setting,signins,successes,failures,first_seen,last_seen,ips,way_forward,first_command,preflight,"
          "eac_messages,eac_tls10_percent,eac_tls11_percent,eac_tls12_percent,eac_protocol,usage_last_activity,failed_only_ips\n";
  for (const auto& sender : result.senders) {
    std::string methods, checked;
    for (const auto& way : sender.way_forward) {
      methods += (methods.empty() ? "" : ";") + way.method;
      // Direct send's WILL WORK holds for the organization's own mailboxes
      // only: the cell keeps that condition, as the text does.
      if (way.checked)
        checked += (checked.empty() ? "" : ";") + way.method + " " + way.ip +
                   (way.method == "direct-send" ? " (own organization's mailboxes only)" : "") + ": " + way.checked->verdict;
    }
    std::vector<std::string> fields = {
        sender.user, std::string(to_string(sender.verdict)), auth_name(sender.auth), setting_value(sender.setting),
        std::to_string(sender.signins), std::to_string(sender.successes), std::to_string(sender.failures),
        sender.first_seen ? format_time(*sender.first_seen) : "", sender.last_seen ? format_time(*sender.last_seen) : "",
        ip_list(sender, IpColumn::device), methods, sender.way_forward.empty() ? "" : sender.way_forward.front().command, checked};
    std::vector<std::string> reported(6);
    if (const auto& row = sender.smtp_auth_report) {
      const auto percent = [](double value) {
        char number[16];
        std::snprintf(number, sizeof number, "%.0f", value);
        return std::string(number);
      };
      reported = {std::to_string(row->messages), percent(row->tls10_percent), percent(row->tls11_percent),
                  percent(row->tls12_percent), row->authentication_protocol.value_or(""), ""};
    }
    if (sender.usage) reported[5] = sender.usage->last_activity_date.empty() ? "-" : sender.usage->last_activity_date;
    fields.insert(fields.end(), reported.begin(), reported.end());
    fields.push_back(ip_list(sender, IpColumn::failed_only));
    for (std::size_t i = 0; i < fields.size(); ++i) text += (i ? "," : "") + csv_field(fields[i]);
    text += "\r\n";
  }
}

void render_markdown(const InventoryResult& result, const Report& report, std::string& text) {
  text += "# SMTP AUTH basic authentication: who breaks at the cutover (report of " + format_date(result.today) + ")\n\n";
  text += "**" + plural(count(result, Verdict::will_break), "sender", "senders") + " will break**; " + cutover_words(result) +
          " (" + timeline_url + ").\n\n";
  text += "| Sender | Verdict | Activity | Last seen | IPs | Setting | Way forward |\n|---|---|---|---|---|---|---|\n";
  for (const auto& sender : result.senders) {
    std::string methods;
    for (const auto& way : sender.way_forward) methods += (methods.empty() ? "" : ", ") + way.method;
    text += "| " + markdown_text(sender.user) + " | " + std::string(to_string(sender.verdict)) + " | " +
            markdown_text(activity_summary(sender)) + " | " + day_of(sender.last_seen) + " | " +
            markdown_text(ip_list(sender)) + " | " + markdown_text(setting_words(sender)) + " | " +
            markdown_text(methods) + " |\n";
  }
  // Every sender the text output explains, in the same sections: a change
  // ticket carries the refused, the unused and the OAuth ones too.
  for (const auto& [verdict, unused_title, heading] : verdict_sections) {
    const auto n = count(result, verdict);
    if (!n) continue;
    text += "\n## " + std::string(heading) + " (" + std::to_string(n) + ")\n";
    for (const auto& sender : result.senders) {
      if (sender.verdict != verdict) continue;
      text += "\n### " + markdown_text(sender.user) + "\n\n" + markdown_text(sender.reason) + "\n\n";
      text += "- Activity: " + markdown_text(activity_summary(sender)) + "\n";
      text += "- Setting: " + markdown_text(setting_words(sender)) + "\n";
      if (sender.previous_verdict && *sender.previous_verdict != to_string(sender.verdict))
        text += "- Was " + *sender.previous_verdict + " in the last run\n";
      if (!sender.way_forward.empty()) text += "\nWay forward (verify each with its command):\n\n";
      for (const auto& way : sender.way_forward) {
        text += "- **" + way.method + "**: " + markdown_text(way.why) + "\n\n  ```\n  " + way.command + "\n  ```\n";
        if (!way.checked) continue;
        text += "\n  --preflight: **" + check_label(*way.checked) + "**:";
        if (way.checked->causes.empty()) text += " " + markdown_text(way.checked->summary) + "\n";
        else text += "\n\n";
        for (const auto& cause : way.checked->causes) text += "  - " + markdown_text(cause) + "\n";
      }
    }
  }
  text += "\n## Checks\n\n";
  for (const auto& check : report.checks())
    text += "- **" + std::string(diag::to_string(check.status)) + "** " + markdown_text(check.message) +
            (check.remedy.empty() ? "" : ". " + markdown_text(check.remedy)) + "\n";
}

}  // namespace

Report make_report(const InventoryResult& result, OutputFormat format, std::string* text, const TextStyle& style) {
  Report report("sendcheck-inventory", diag::version);
  add_checks(report, result);
  auto& fields = report.fields();
  fields["cutover"] = "2026-12-31";
  fields["days_left"] = days_until_cutover(result.today);
  nlohmann::json senders = nlohmann::json::array();
  for (const auto& sender : result.senders) senders.push_back(sender_json(sender));
  fields["senders"] = std::move(senders);
  fields["preflight_commands"] = preflight_commands(result);
  if (result.changes) {
    nlohmann::json changed = nlohmann::json::array();
    for (const auto& [user, before, now] : result.changes->verdict_changes)
      changed.push_back({{"user", user}, {"before", before}, {"now", now}});
    fields["changes"] = {{"previous_run", result.changes->have_previous_run
                                              ? nlohmann::json(result.changes->previous_run_time)
                                              : nlohmann::json()},
                         {"new_senders", result.changes->new_senders},
                         {"gone_quiet", result.changes->gone_quiet},
                         {"not_in_inputs", result.changes->not_in_inputs},
                         {"settings_missing", result.changes->settings_missing},
                         {"verdict_changes", changed}};
  }
  if (text) {
    switch (format) {
      case OutputFormat::text: render_text(result, report, style, *text); break;
      case OutputFormat::csv: render_csv(result, *text); break;
      case OutputFormat::markdown: render_markdown(result, report, *text); break;
      case OutputFormat::json: break;
    }
  }
  return report;
}

}  // namespace diag::inventory
