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
#include <vector>

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
};
using UsageSink = std::function<void(const UsageRow&)>;

// One row of the EAC SMTP AUTH clients report.
struct SmtpAuthReportRow {
  std::string sender;
  std::optional<std::string> authentication_protocol;  // "Basic" / "OAuth" when the column exists
  std::int64_t messages = 0;
  double tls10_percent = 0, tls11_percent = 0, tls12_percent = 0;
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
