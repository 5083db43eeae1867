// The tenant's SMTP AUTH switches through the Exchange admin API that the
// EXO PowerShell module (V3) uses: POST <exo>/adminapi/beta/<tenant>/InvokeCommand
// with a CmdletInput envelope. Microsoft does not document it; the shapes are
// those third-party clients use (see graph.h, UNCONFIRMED).
#include <functional>
#include <unordered_set>

#include "diag/ascii.h"
#include "diag/graph.h"
#include "diag/http.h"
#include "graph_internal.h"

namespace diag::graph {

namespace {

constexpr std::string_view exchange_permissions =
    " Exchange.ManageAsApp (Office 365 Exchange Online) and an Exchange role such as View-Only Organization Management "
    "(app-only), or an Exchange administrator role for a delegated sign-in";

// true / false / null as the cmdlets return them; "True"/"False" strings
// from serializers that stringify. Anything else: unknown.
std::optional<bool> tri_state(const nlohmann::json& row, const char* name) {
  const auto field = row.find(name);
  if (field == row.end() || field->is_null()) return std::nullopt;
  if (field->is_boolean()) return field->get<bool>();
  if (field->is_string()) {
    const std::string text = field->get<std::string>();
    if (ascii::iequals(text, "true")) return true;
    if (ascii::iequals(text, "false")) return false;
  }
  return std::nullopt;
}

std::string text_field(const nlohmann::json& row, const char* name) {
  const auto field = row.find(name);
  return field != row.end() && field->is_string() ? bounded_text(field->get<std::string>(), 320) : std::string();
}

}  // namespace

Outcome<std::size_t> Client::invoke_exchange_cmdlet(const std::string& cmdlet, const nlohmann::json& parameters,
                                                    const std::function<void(const nlohmann::json& row)>& on_row) {
  const std::string what = cmdlet + " through the Exchange admin API (undocumented)";
  std::string url = settings_.endpoints.exo + "/adminapi/beta/" + http::percent_encode(settings_.tenant) + "/InvokeCommand";
  const std::string exo_origin = http::origin_of(settings_.endpoints.exo);
  std::unordered_set<std::size_t> pages_read;
  nlohmann::json input = {{"CmdletName", cmdlet}};
  if (parameters.is_object() && !parameters.empty()) input["Parameters"] = parameters;
  const std::string body = nlohmann::json{{"CmdletInput", input}}.dump();
  const std::string anchor = !settings_.exo_anchor_mailbox.empty()
                                 ? settings_.exo_anchor_mailbox
                                 : "UPN:SystemMailbox{8cc370d3-822a-4ab8-a926-bb94bd0641a9}@" + settings_.tenant;
  const std::vector<std::string> headers = {"Content-Type: application/json; charset=utf-8", "X-AnchorMailbox: " + anchor,
                                            "Prefer: odata.maxpagesize=1000", "X-CmdletName: " + cmdlet,
                                            "X-ClientApplication: ExoManagementModule", "X-ResponseFormat: json"};
  std::size_t rows = 0, pages = 0;
  int retries = 0;
  while (true) {
    if (pages >= settings_.max_pages) return malformed(what, "too many pages (a paging loop?)");
    // A nextLink back to a page already read is a loop: ended at once.
    if (!pages_read.insert(std::hash<std::string>{}(url)).second)
      return malformed(what, "@odata.nextLink leads back to a page already read (a paging loop); stopped");
    auto answer = authorized("POST", url, exo_scope(settings_.endpoints), headers, body, settings_.max_page_bytes, retries);
    if (!answer) {
      Failure failure = answer.failure();
      failure.message = what + ": " + failure.message;
      return failure;
    }
    if (answer->status != 200) return status_failure(answer->status, answer->body, what, exchange_permissions);
    const auto page = nlohmann::json::parse(answer->body, nullptr, false);
    if (!page.is_object()) return malformed(what, "the answer is not a JSON object (truncated?)");
    const auto value = page.find("value");
    if (value == page.end() || !value->is_array()) return malformed(what, "the answer has no \"value\" array");
    for (const auto& row : *value) {
      if (!row.is_object()) return malformed(what, "a row is not a JSON object");
      ++rows;
      if (on_row) on_row(row);
    }
    ++pages;
    const auto link = page.find("@odata.nextLink");
    if (link == page.end() || link->is_null()) return rows;
    if (!link->is_string()) return malformed(what, "@odata.nextLink is not a string");
    const std::string next = link->get<std::string>();
    if (http::origin_of(next) != exo_origin || exo_origin.empty())
      return Failure{FailureKind::refused_redirect, 0, "", what + ": @odata.nextLink points away from " + settings_.endpoints.exo};
    url = next;  // the next page is asked for with the same POST body, as the module does
  }
}

Outcome<inventory::TenantSettings> Client::exchange_settings() {
  inventory::TenantSettings settings;
  settings.source = inventory::SourceKind::exo_admin_api;
  std::size_t transport_rows = 0;
  auto transport = invoke_exchange_cmdlet("Get-TransportConfig", nlohmann::json::object(), [&](const nlohmann::json& row) {
    if (transport_rows++ == 0) settings.smtp_client_authentication_disabled = tri_state(row, "SmtpClientAuthenticationDisabled");
  });
  if (!transport) return transport.failure();
  if (transport_rows == 0) return malformed("Get-TransportConfig through the Exchange admin API", "no rows");

  auto mailboxes = invoke_exchange_cmdlet("Get-CASMailbox", {{"ResultSize", "Unlimited"}}, [&](const nlohmann::json& row) {
    inventory::MailboxSetting mailbox;
    mailbox.user = text_field(row, "PrimarySmtpAddress");
    if (mailbox.user.empty()) mailbox.user = text_field(row, "UserPrincipalName");
    if (mailbox.user.empty()) mailbox.user = text_field(row, "Name");
    // Blank ($null) means "follow the organization": kept as unknown, never as false.
    mailbox.smtp_client_authentication_disabled = tri_state(row, "SmtpClientAuthenticationDisabled");
    settings.mailboxes.push_back(std::move(mailbox));
  });
  if (!mailboxes) return mailboxes.failure();

  auto policies = invoke_exchange_cmdlet("Get-AuthenticationPolicy", nlohmann::json::object(), [&](const nlohmann::json& row) {
    settings.authentication_policies.emplace_back(text_field(row, "Name"), tri_state(row, "AllowBasicAuthSmtp"));
  });
  if (!policies) return policies.failure();
  return settings;
}

}  // namespace diag::graph
