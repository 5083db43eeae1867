// The online half of the sender inventory: Microsoft Graph sign-in logs
// (interactive on v1.0, non-interactive on beta), the usage report when the
// tenant has no Entra ID P1, the report-settings switch that conceals user
// names, and the tenant's SMTP AUTH switches through the Exchange admin API
// the EXO PowerShell module uses. Tokens come from the identity platform:
// client secret, certificate (signed client assertion) or device code.
//
// Every expected failure is a value (Outcome<T> holding a Failure with a
// FailureKind), so the caller can fall back (licence_required -> usage
// report) or explain (permission_denied names the permissions). Messages
// never hold a token, secret, assertion or device code.
//
// What is UNCONFIRMED (built so that it can be wrong):
// - The Exchange admin API at <exo>/adminapi/beta/<tenant>/InvokeCommand is
//   undocumented: its headers (X-AnchorMailbox "UPN:SystemMailbox{8cc370d3-
//   822a-4ab8-a926-bb94bd0641a9}@<tenant>", Prefer: odata.maxpagesize=1000),
//   the answer's shape ({"value":[...]} paged by @odata.nextLink) and its
//   error shape (error.details[].message, error.message,
//   error.innererror.internalException.message) come from third-party
//   clients. Its results are marked SourceKind::exo_admin_api; any failure
//   is a Failure, never "the switch is off". The national-cloud bases for it
//   are those Microsoft lists for the documented v2.0 admin API.
// - GET /admin/reportSettings (displayConcealedNames) and its permission
//   ReportSettings.Read.All: a failure there is only a note for the caller.
// - $top=1000 on beta sign-ins, and which AADSTS codes mean what beyond
//   7000215 (invalid client secret).
// - The client assertion: Microsoft's page now says PS256 with x5t#S256; it
//   long said RS256 with x5t. We send both thumbprints and default to RS256.
// - The Exchange scope in national clouds is taken to be <exo base>/.default.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/inventory.h"
#include "diag/oauth.h"
#include "diag/result.h"
#include "diag/tls.h"

namespace diag::graph {

// --- Clouds and endpoints ----------------------------------------------------

// https://learn.microsoft.com/graph/deployments (login and Graph hosts);
// Exchange bases: https://learn.microsoft.com/exchange/reference/admin-api-get-started
enum class Cloud { global, usgov, usgov_dod, china };
std::optional<Cloud> parse_cloud(std::string_view name);  // "global", "usgov", "usgov-dod", "china"
std::string_view to_string(Cloud cloud);

struct Endpoints {
  std::string login;  // "https://login.microsoftonline.com" (no trailing slash)
  std::string graph;  // "https://graph.microsoft.com"
  std::string exo;    // "https://outlook.office365.com"
};
Endpoints endpoints_for(Cloud cloud);
std::string graph_scope(const Endpoints& endpoints);  // "<graph>/.default"
std::string exo_scope(const Endpoints& endpoints);    // "<exo>/.default"

// Everything a Client and a token source need besides the credentials.
struct Settings {
  Endpoints endpoints = endpoints_for(Cloud::global);
  std::string tenant;   // "contoso.onmicrosoft.com" or the tenant id
  std::string ca_file;  // trust these instead of the system store (tests)
  std::chrono::milliseconds timeout{30000};  // each HTTP exchange, connect to last byte
  int max_attempts = 5;                      // per request: 429/503/504 retries included
  std::chrono::seconds max_retry_wait{120};  // a longer Retry-After is cut to this
  std::size_t max_page_bytes = 64 * 1024 * 1024;    // one Graph or admin-API page
  std::size_t max_report_bytes = 256 * 1024 * 1024;  // the usage report's CSV
  std::size_t max_pages = 100000;                     // per query: a nextLink loop ends
  std::string exo_anchor_mailbox;  // X-AnchorMailbox; empty: the SystemMailbox form above
  // Waits (Retry-After, device-code interval). Tests record instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// --- Failures ---------------------------------------------------------------

enum class FailureKind {
  licence_required,       // 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant: no Entra ID P1/P2: fall back
  permission_denied,      // 403 (Authorization_RequestDenied, RBAC): consent or role missing
  invalid_client_secret,  // AADSTS7000215
  credentials_refused,    // other token refusals: invalid_client, unauthorized_client, expired secret, bad certificate
  sign_in_declined,       // device code: the admin declined
  sign_in_expired,        // device code: nobody signed in before the code expired
  unauthorized,           // 401 even with a fresh token
  throttled,              // 429/503 after every try
  not_found,              // 404 (an endpoint this tenant or cloud lacks)
  http_error,             // any other status
  malformed_response,     // not JSON, truncated, or not the documented shape: never "no rows"
  too_large,              // an answer over its bound: refused, not read
  refused_redirect,       // a nextLink or redirect somewhere we do not send requests (or tokens)
  timed_out,              // a network wait passed its timeout
  network,                // connection, name or TLS failure
  bad_input,              // our configuration (certificate, URL)
};
std::string_view to_string(FailureKind kind);  // "license-required", ...

struct Failure {
  FailureKind kind = FailureKind::http_error;
  long http_status = 0;   // 0: no HTTP answer
  std::string code;       // the service's code: "Authorization_RequestDenied", "AADSTS7000215", ...
  std::string message;    // one line for the admin: what happened and what to do
  // Exit-code class: bad_input (2) for what the admin must fix in the
  // command or the app registration, unavailable (3) for everything else.
  ErrorKind error_kind() const;
  Error to_error() const { return Error{error_kind(), message}; }
};

// Result<T> with a typed Failure instead of a bare Error.
template <typename T>
class Outcome {
 public:
  Outcome(T value) : state_(std::move(value)) {}
  Outcome(Failure failure) : state_(std::move(failure)) {}
  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Failure& failure() const { return std::get<Failure>(state_); }

 private:
  std::variant<T, Failure> state_;
};

// --- Tokens -----------------------------------------------------------------

// Bearer tokens by scope, cached until shortly before they expire.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A token for scope ("<resource>/.default"). refresh: the last one was
  // refused with 401 mid-run: do not hand out the cached one again.
  virtual Outcome<std::string> bearer(const std::string& scope, bool refresh) = 0;
};

// "<login>/<tenant>/oauth2/v2.0/token" and ".../devicecode".
std::string token_endpoint(const Settings& settings);
std::string device_code_endpoint(const Settings& settings);

// App-only, client credentials with a secret.
std::unique_ptr<TokenSource> client_secret_tokens(const Settings& settings, std::string client_id, std::string client_secret);
// App-only, client credentials with a certificate (the key must be RSA).
std::unique_ptr<TokenSource> client_certificate_tokens(const Settings& settings, std::string client_id,
                                                       std::shared_ptr<const tls::Credentials> certificate,
                                                       oauth::AssertionAlgorithm algorithm = oauth::AssertionAlgorithm::rs256);
// Delegated, device code (RFC 8628): prompt shows the code's message to the
// admin (default: on stderr); polls at the interval, honoring slow_down,
// until the code expires. Later scopes are redeemed with the refresh token.
using DeviceCodePrompt = std::function<void(const oauth::DeviceCode&)>;
std::unique_ptr<TokenSource> device_code_tokens(const Settings& settings, std::string client_id, DeviceCodePrompt prompt = {});

// --- Graph sign-in logs -----------------------------------------------------

enum class SignInLog {
  interactive,      // GET <graph>/v1.0/auditLogs/signIns
  non_interactive,  // GET <graph>/beta/auditLogs/signIns with signInEventTypes nonInteractiveUser
};
struct SignInQuery {
  std::chrono::sys_seconds since{};
  std::optional<std::chrono::sys_seconds> until;
  int page_size = 1000;  // $top: Graph's maximum and default
};
// The decoded $filter, e.g. "clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge 2026-11-01T00:00:00Z".
std::string signins_filter(SignInLog log, const SignInQuery& query);
// The first page's URL, $filter percent-encoded.
std::string signins_url(const Endpoints& endpoints, SignInLog log, const SignInQuery& query);

struct SignInPassSummary {
  inventory::SourceKind source = inventory::SourceKind::graph_signins_v1;
  std::size_t pages = 0, rows = 0;
  std::size_t skipped_rows = 0;  // rows without a readable createdDateTime or user
  int retries = 0;               // 429/503 waits and token refreshes
};
// Progress on a terminal while pages are fetched.
using PageProgress = std::function<void(SignInLog log, std::size_t pages, std::size_t rows)>;

// --- Reports ----------------------------------------------------------------

enum class ReportPeriod { d7, d30, d90, d180 };
std::string_view to_string(ReportPeriod period);  // "D7", ...
// The shortest period that covers the window (a window over 180 days: D180).
ReportPeriod period_for_window(std::chrono::days window);

struct UsageReport {
  ReportPeriod period = ReportPeriod::d30;
  std::string csv;  // getEmailAppUsageUserDetail as Microsoft sends it (UTF-8, maybe with a BOM)
};
struct ReportSettings {
  std::optional<bool> display_concealed_names;
};

// --- The client -------------------------------------------------------------

class Client {
 public:
  // tokens must outlive the client.
  Client(Settings settings, TokenSource& tokens);

  // One sign-in log, every page through @odata.nextLink (same origin as the
  // Graph base only), each row handed to sink as it is read; memory holds at
  // most one page. Rows already handed over stay handed over when a later
  // page fails: the failure says the pass is incomplete.
  Outcome<SignInPassSummary> signins(SignInLog log, const SignInQuery& query, const inventory::SignInSink& sink,
                                     const PageProgress& progress = {});

  // getEmailAppUsageUserDetail(period=...): the 302's pre-authenticated CSV,
  // fetched without the bearer token. Needs Reports.Read.All, no P1.
  Outcome<UsageReport> usage_report(ReportPeriod period);
  // GET /v1.0/admin/reportSettings. UNCONFIRMED: a failure is only a note.
  Outcome<ReportSettings> report_settings();

  // Get-TransportConfig, Get-CASMailbox -ResultSize Unlimited (every page),
  // Get-AuthenticationPolicy through the undocumented Exchange admin API.
  // source is SourceKind::exo_admin_api.
  Outcome<inventory::TenantSettings> exchange_settings();
  // One cmdlet through the same API, every page handed to on_row.
  Outcome<std::size_t> invoke_exchange_cmdlet(const std::string& cmdlet, const nlohmann::json& parameters,
                                              const std::function<void(const nlohmann::json& row)>& on_row);

  const Settings& settings() const { return settings_; }

 private:
  struct Answer;
  Outcome<Answer> authorized(const std::string& method, const std::string& url, const std::string& scope,
                             const std::vector<std::string>& extra_headers, const std::string& body,
                             std::size_t max_bytes, int& retries);
  Settings settings_;
  TokenSource& tokens_;
};

// --- Pieces exposed for tests and for the file sources -----------------------

// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; nullopt when neither.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);
// ISO 8601 / RFC 3339 UTC time as Graph writes it ("2026-11-03T07:15:41.6195833Z").
std::optional<std::chrono::sys_seconds> parse_graph_time(std::string_view text);
std::string format_graph_time(std::chrono::sys_seconds time);  // "2026-11-01T00:00:00Z"
// A Graph or admin-API error body's code and message (controls masked, bounded).
std::pair<std::string, std::string> service_error(std::string_view body);

}  // namespace diag::graph
