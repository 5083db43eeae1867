// Graph sign-in logs (v1.0 interactive, beta non-interactive) and the usage
// report fallback, page by page into the inventory's sinks.
#include <charconv>
#include <cstdio>
#include <functional>
#include <unordered_set>

#include "diag/graph.h"
#include "diag/http.h"
#include "graph_internal.h"

namespace diag::graph {

namespace {

// https://learn.microsoft.com/graph/api/signin-list: both permissions
// ("This API has a known issue and currently requires consent to both").
constexpr std::string_view signin_permissions =
    "s AuditLog.Read.All and Directory.Read.All (application), or for a delegated sign-in those two and a role such "
    "as Reports Reader or Security Reader";
constexpr std::string_view report_permissions = " Reports.Read.All";
constexpr std::string_view report_settings_permissions = " ReportSettings.Read.All";

std::string string_field(const nlohmann::json& object, const char* name, std::size_t limit = 1024) {
  const auto field = object.find(name);
  if (field == object.end() || !field->is_string()) return {};
  return bounded_text(field->get<std::string>(), limit);
}

std::string_view log_name(SignInLog log) {
  return log == SignInLog::interactive ? "the interactive sign-in log (Graph v1.0)"
                                       : "the non-interactive sign-in log (Graph beta)";
}

}  // namespace

std::optional<std::chrono::sys_seconds> parse_graph_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':')
    return std::nullopt;
  const auto number = [&](std::size_t at, std::size_t length) -> int {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + length, value);
    return ec == std::errc() && end == text.data() + at + length ? value : -1;
  };
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
    return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t digits = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == digits) return std::nullopt;
  }
  std::chrono::seconds offset{0};
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    const int hours = number(at + 1, 2), minutes = number(at + 4, 2);
    if (hours < 0 || minutes < 0) return std::nullopt;
    offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
    if (text[at] == '-') offset = -offset;
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) - offset;
}

std::string format_graph_time(std::chrono::sys_seconds time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date(day);
  const std::chrono::hh_mm_ss clock(time - day);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<long>(clock.hours().count()), static_cast<long>(clock.minutes().count()),
                static_cast<long long>(clock.seconds().count()));
  return text;
}

std::string signins_filter(SignInLog log, const SignInQuery& query) {
  // "Authenticated SMTP" is the client-app name the logs use for SMTP AUTH
  // with basic authentication ('SMTP' matches nothing).
  std::string filter = "clientAppUsed eq 'Authenticated SMTP'";
  if (log == SignInLog::non_interactive) filter += " and signInEventTypes/any(t: t eq 'nonInteractiveUser')";
  filter += " and createdDateTime ge " + format_graph_time(query.since);
  if (query.until) filter += " and createdDateTime le " + format_graph_time(*query.until);
  return filter;
}

std::string signins_url(const Endpoints& endpoints, SignInLog log, const SignInQuery& query) {
  const std::string version = log == SignInLog::interactive ? "/v1.0" : "/beta";
  return endpoints.graph + version + "/auditLogs/signIns?$filter=" + http::percent_encode(signins_filter(log, query)) +
         "&$top=" + std::to_string(query.page_size);
}

Outcome<SignInPassSummary> Client::signins(SignInLog log, const SignInQuery& query, const inventory::SignInSink& sink,
                                           const PageProgress& progress) {
  SignInPassSummary summary;
  summary.source = log == SignInLog::interactive ? inventory::SourceKind::graph_signins_v1
                                                 : inventory::SourceKind::graph_signins_beta;
  const std::string graph_origin = http::origin_of(settings_.endpoints.graph);
  const std::string what = std::string(log_name(log));
  std::string url = signins_url(settings_.endpoints, log, query);
  const std::string scope = graph_scope(settings_.endpoints);
  // A nextLink back to a page already read is a loop: ended at once, not
  // after max_pages requests against a throttled API.
  std::unordered_set<std::size_t> pages_read;
  while (true) {
    if (!pages_read.insert(std::hash<std::string>{}(url)).second)
      return Failure{FailureKind::malformed_response, 0, "", what + ": @odata.nextLink leads back to a page already read (a paging loop); stopped"};
    if (summary.pages >= settings_.max_pages)
      return Failure{FailureKind::malformed_response, 0, "",
                     what + ": more than " + std::to_string(settings_.max_pages) + " pages (a paging loop?)"};
    auto answer = authorized("GET", url, scope, {}, "", settings_.max_page_bytes, summary.retries);
    if (!answer) {
      Failure failure = answer.failure();
      if (failure.kind == FailureKind::too_large)
        failure.message = what + ": a page is larger than " + std::to_string(settings_.max_page_bytes) + " bytes; refused";
      return failure;
    }
    if (answer->status != 200) return status_failure(answer->status, answer->body, what, signin_permissions);
    // One page at a time: parsed, handed to the sink, dropped.
    auto page = nlohmann::json::parse(answer->body, nullptr, false);
    answer->body.clear();
    answer->body.shrink_to_fit();
    if (page.is_discarded()) return malformed(what, "page " + std::to_string(summary.pages + 1) + " is not JSON (truncated?)");
    if (!page.is_object()) return malformed(what, "page " + std::to_string(summary.pages + 1) + " is not a JSON object");
    const auto rows = page.find("value");
    // A page without "value" is not an empty page: reading it as "nobody
    // signed in" is the classic bug (a null where rows were expected).
    if (rows == page.end() || !rows->is_array())
      return malformed(what, "page " + std::to_string(summary.pages + 1) + " has no \"value\" array");
    std::optional<std::string> next;
    if (const auto link = page.find("@odata.nextLink"); link != page.end() && !link->is_null()) {
      if (!link->is_string()) return malformed(what, "@odata.nextLink is not a string");
      next = link->get<std::string>();
    }
    for (const auto& row : *rows) {
      if (!row.is_object()) return malformed(what, "a row is not a JSON object");
      inventory::SignIn signin;
      signin.source = summary.source;
      signin.user = string_field(row, "userPrincipalName", 320);
      signin.ip = string_field(row, "ipAddress", 64);
      signin.client_app = string_field(row, "clientAppUsed", 100);
      signin.user_agent = string_field(row, "userAgent", 500);
      const auto time = parse_graph_time(string_field(row, "createdDateTime", 64));
      if (!time || signin.user.empty()) {
        ++summary.skipped_rows;
        continue;
      }
      signin.time = *time;
      if (const auto status = row.find("status"); status != row.end() && status->is_object()) {
        if (const auto code = status->find("errorCode"); code != status->end() && code->is_number_integer())
          signin.error_code = code->get<std::int64_t>();
        signin.failure_reason = string_field(*status, "failureReason", 500);
      }
      if (log == SignInLog::non_interactive) {
        signin.interactivity = inventory::Interactivity::non_interactive;
      } else if (const auto interactive = row.find("isInteractive"); interactive != row.end() && interactive->is_boolean()) {
        signin.interactivity = interactive->get<bool>() ? inventory::Interactivity::interactive
                                                        : inventory::Interactivity::non_interactive;
      } else {
        signin.interactivity = inventory::Interactivity::interactive;
      }
      ++summary.rows;
      if (sink) sink(signin);
    }
    ++summary.pages;
    if (progress) progress(log, summary.pages, summary.rows);
    if (!next) return summary;
    // "Follow @odata.nextLink verbatim", but only back to the Graph host the
    // token is for: a link elsewhere would carry the bearer token there.
    if (http::origin_of(*next) != graph_origin || graph_origin.empty())
      return Failure{FailureKind::refused_redirect, 0, "",
                     what + ": @odata.nextLink points away from " + settings_.endpoints.graph + "; not followed"};
    url = std::move(*next);
  }
}

std::string_view to_string(ReportPeriod period) {
  switch (period) {
    case ReportPeriod::d7: return "D7";
    case ReportPeriod::d30: return "D30";
    case ReportPeriod::d90: return "D90";
    case ReportPeriod::d180: return "D180";
  }
  return "D30";
}

ReportPeriod period_for_window(std::chrono::days window) {
  if (window <= std::chrono::days(7)) return ReportPeriod::d7;
  if (window <= std::chrono::days(30)) return ReportPeriod::d30;
  if (window <= std::chrono::days(90)) return ReportPeriod::d90;
  return ReportPeriod::d180;
}

Outcome<UsageReport> Client::usage_report(ReportPeriod period) {
  const std::string what = "the email app usage report (Graph)";
  const std::string url = settings_.endpoints.graph + "/v1.0/reports/getEmailAppUsageUserDetail(period='" +
                          std::string(to_string(period)) + "')";
  int retries = 0;
  auto answer = authorized("GET", url, graph_scope(settings_.endpoints), {}, "", settings_.max_report_bytes, retries);
  if (!answer) return answer.failure();
  UsageReport report;
  report.period = period;
  if (answer->status == 200) {  // the CSV itself, without the redirect
    report.csv = std::move(answer->body);
    return report;
  }
  if (answer->status != 302 && answer->status != 303 && answer->status != 307)
    return status_failure(answer->status, answer->body, what, report_permissions);
  // https://learn.microsoft.com/graph/api/reportroot-getemailappusageuserdetail:
  // a 302 to a pre-authenticated download URL. It needs no token and must
  // not get ours: the request to it carries no Authorization header.
  const std::string& location = answer->location;
  if (location.empty() || http::origin_of(location).empty())
    return Failure{FailureKind::malformed_response, answer->status, "", what + ": a redirect without an absolute Location"};
  if (!http::url_allowed(location))
    return Failure{FailureKind::refused_redirect, answer->status, "", what + ": the download link is not https; not followed"};
  http::Request download;
  download.url = location;
  download.headers = {"Accept: text/csv, */*"};
  download.ca_file = settings_.ca_file;
  download.timeout = settings_.timeout;
  download.max_body_bytes = settings_.max_report_bytes;
  const http::Exchange exchange = http::perform(download);
  if (!exchange.response) {
    Failure failure = transport_failure(exchange, "cannot download the email app usage report");
    if (failure.kind == FailureKind::too_large)
      failure.message = what + ": larger than " + std::to_string(settings_.max_report_bytes) + " bytes; refused";
    return failure;
  }
  if (exchange.response->status != 200)
    return status_failure(exchange.response->status, exchange.response->body, "the usage report's download link", "");
  report.csv = exchange.response->body;
  return report;
}

Outcome<ReportSettings> Client::report_settings() {
  const std::string what = "the report settings (Graph admin/reportSettings)";
  int retries = 0;
  auto answer = authorized("GET", settings_.endpoints.graph + "/v1.0/admin/reportSettings", graph_scope(settings_.endpoints),
                           {}, "", 1024 * 1024, retries);
  if (!answer) return answer.failure();
  if (answer->status != 200) return status_failure(answer->status, answer->body, what, report_settings_permissions);
  const auto document = nlohmann::json::parse(answer->body, nullptr, false);
  if (!document.is_object()) return malformed(what, "not a JSON object");
  ReportSettings settings;
  if (const auto concealed = document.find("displayConcealedNames"); concealed != document.end() && concealed->is_boolean())
    settings.display_concealed_names = concealed->get<bool>();
  return settings;
}

}  // namespace diag::graph
