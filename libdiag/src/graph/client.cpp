// Endpoints per cloud, failures, and the one authorized request every Graph
// and admin-API call goes through: bearer token, bounded answer, Retry-After,
// one token refresh on 401.
#include <charconv>
#include <ctime>
#include <thread>

#include "diag/ascii.h"
#include "diag/graph.h"
#include "diag/http.h"
#include "graph_internal.h"

namespace diag::graph {

std::optional<Cloud> parse_cloud(std::string_view name) {
  if (name == "global") return Cloud::global;
  if (name == "usgov") return Cloud::usgov;
  if (name == "usgov-dod") return Cloud::usgov_dod;
  if (name == "china") return Cloud::china;
  return std::nullopt;
}

std::string_view to_string(Cloud cloud) {
  switch (cloud) {
    case Cloud::global: return "global";
    case Cloud::usgov: return "usgov";
    case Cloud::usgov_dod: return "usgov-dod";
    case Cloud::china: return "china";
  }
  return "global";
}

Endpoints endpoints_for(Cloud cloud) {
  // Login and Graph hosts: https://learn.microsoft.com/graph/deployments
  // ("App registration and token service root endpoints", "Microsoft Graph
  // and Graph Explorer service root endpoints"): GCC High and DoD share
  // login.microsoftonline.us; DoD has its own Graph host.
  // Exchange: https://learn.microsoft.com/exchange/reference/admin-api-get-started
  switch (cloud) {
    case Cloud::global: return {"https://login.microsoftonline.com", "https://graph.microsoft.com", "https://outlook.office365.com"};
    case Cloud::usgov: return {"https://login.microsoftonline.us", "https://graph.microsoft.us", "https://outlook.office365.us"};
    case Cloud::usgov_dod:
      return {"https://login.microsoftonline.us", "https://dod-graph.microsoft.us", "https://outlook-dod.office365.us"};
    case Cloud::china:
      return {"https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", "https://outlook.office365.cn"};
  }
  return endpoints_for(Cloud::global);
}

std::string graph_scope(const Endpoints& endpoints) { return endpoints.graph + "/.default"; }
std::string exo_scope(const Endpoints& endpoints) { return endpoints.exo + "/.default"; }

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::licence_required: return "license-required";
    case FailureKind::permission_denied: return "permission-denied";
    case FailureKind::invalid_client_secret: return "invalid-client-secret";
    case FailureKind::credentials_refused: return "credentials-refused";
    case FailureKind::sign_in_declined: return "sign-in-declined";
    case FailureKind::sign_in_expired: return "sign-in-expired";
    case FailureKind::unauthorized: return "unauthorized";
    case FailureKind::throttled: return "throttled";
    case FailureKind::not_found: return "not-found";
    case FailureKind::http_error: return "http-error";
    case FailureKind::malformed_response: return "malformed-response";
    case FailureKind::too_large: return "too-large";
    case FailureKind::refused_redirect: return "refused-redirect";
    case FailureKind::timed_out: return "timed-out";
    case FailureKind::network: return "network";
    case FailureKind::bad_input: return "bad-input";
  }
  return "http-error";
}

ErrorKind Failure::error_kind() const {
  switch (kind) {
    case FailureKind::invalid_client_secret:
    case FailureKind::credentials_refused:
    case FailureKind::bad_input: return ErrorKind::bad_input;
    default: return ErrorKind::unavailable;
  }
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = ascii::trim(value);
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) return std::chrono::seconds(seconds < 0 ? 0 : seconds);
  // RFC 9110 5.6.7: IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm parts{};
  const std::string text(value);
  const char* parsed = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (!parsed || *parsed != '\0') return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(::timegm(&parts));
  const auto delay = std::chrono::duration_cast<std::chrono::seconds>(when - now);
  return delay.count() < 0 ? std::chrono::seconds(0) : delay;
}

std::pair<std::string, std::string> service_error(std::string_view body) {
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (!document.is_object()) return {};
  const auto error = document.find("error");
  if (error == document.end()) return {};
  if (error->is_string()) {  // the identity platform's form
    const auto description = document.find("error_description");
    return {bounded_text(error->get<std::string>(), 100),
            description != document.end() && description->is_string() ? bounded_text(description->get<std::string>(), 300) : ""};
  }
  if (!error->is_object()) return {};
  std::string code, message;
  if (const auto c = error->find("code"); c != error->end() && c->is_string()) code = bounded_text(c->get<std::string>(), 100);
  // The admin API puts its useful text in error.details[].message, then
  // error.message, then error.innererror.internalException.message (as
  // third-party clients read it: UNCONFIRMED).
  if (const auto details = error->find("details"); details != error->end()) {
    const nlohmann::json* detail = details->is_array() && !details->empty() ? &details->front() : &*details;
    if (detail->is_object())
      if (const auto m = detail->find("message"); m != detail->end() && m->is_string()) message = m->get<std::string>();
  }
  if (message.empty())
    if (const auto m = error->find("message"); m != error->end() && m->is_string()) message = m->get<std::string>();
  if (message.empty())
    if (const auto inner = error->find("innererror"); inner != error->end() && inner->is_object())
      if (const auto exception = inner->find("internalException"); exception != inner->end() && exception->is_object())
        if (const auto m = exception->find("message"); m != exception->end() && m->is_string()) message = m->get<std::string>();
  return {code, bounded_text(message, 300)};
}

std::string bounded_text(std::string text, std::size_t limit) {
  text = text.substr(0, text.find_first_of("\r\n"));
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  return ascii::mask_controls(std::move(text));
}

Failure transport_failure(const http::Exchange& exchange, std::string_view what) {
  Failure failure;
  failure.message = std::string(what) + ": " + bounded_text(exchange.error, 300);
  switch (exchange.failure) {
    case http::TransportFailure::refused_url: failure.kind = FailureKind::bad_input; break;
    case http::TransportFailure::timed_out: failure.kind = FailureKind::timed_out; break;
    case http::TransportFailure::body_too_large: failure.kind = FailureKind::too_large; break;
    case http::TransportFailure::connect_failed:
    case http::TransportFailure::tls_failed:
    case http::TransportFailure::unavailable: failure.kind = FailureKind::network; break;
  }
  return failure;
}

Failure status_failure(long status, std::string_view body, std::string_view what, std::string_view permissions) {
  Failure failure;
  failure.http_status = status;
  auto [code, message] = service_error(body);
  failure.code = code;
  std::string text = std::string(what) + " answered HTTP " + std::to_string(status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message;
  if (status == 403 && code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant") {
    failure.kind = FailureKind::licence_required;
    text += " (reading sign-in logs through Graph needs a Microsoft Entra ID P1 or P2 license; "
            "the usage report works without one but cannot tell basic authentication from OAuth)";
  } else if (status == 403) {
    failure.kind = FailureKind::permission_denied;
    text += " (the app needs the permission";
    text += permissions;
    text += " with admin consent)";
  } else if (status == 401) {
    failure.kind = FailureKind::unauthorized;
  } else if (status == 404) {
    failure.kind = FailureKind::not_found;
  } else if (status == 429 || status == 503 || status == 504) {
    failure.kind = FailureKind::throttled;
    text += " (throttled on every try; run again later)";
  } else {
    failure.kind = FailureKind::http_error;
  }
  failure.message = std::move(text);
  return failure;
}

std::string url_for_message(std::string_view url) {
  // Origin and path: a nextLink's skiptoken is long and tells the admin nothing.
  return bounded_text(std::string(url.substr(0, url.find('?'))), 200);
}

Failure malformed(std::string_view what, std::string_view why) {
  return Failure{FailureKind::malformed_response, 0, "", std::string(what) + ": " + std::string(why)};
}

void wait_for(const Settings& settings, std::chrono::milliseconds delay) {
  if (settings.sleep) settings.sleep(delay);
  else std::this_thread::sleep_for(delay);
}

Client::Client(Settings settings, TokenSource& tokens) : settings_(std::move(settings)), tokens_(tokens) {}

Outcome<Client::Answer> Client::authorized(const std::string& method, const std::string& url, const std::string& scope,
                                           const std::vector<std::string>& extra_headers, const std::string& body,
                                           std::size_t max_bytes, int& retries) {
  bool refreshed = false;
  for (int attempt = 1;; ++attempt) {
    auto token = tokens_.bearer(scope, false);  // after a refresh: the new one
    if (!token) return token.failure();
    http::Request request;
    request.method = method;
    request.url = url;
    request.headers = {"Authorization: Bearer " + token.value(), "Accept: application/json"};
    request.headers.insert(request.headers.end(), extra_headers.begin(), extra_headers.end());
    request.body = body;
    request.ca_file = settings_.ca_file;
    request.timeout = settings_.timeout;
    request.max_body_bytes = max_bytes;
    const http::Exchange exchange = http::perform(request);
    if (!exchange.response) return transport_failure(exchange, "cannot fetch " + url_for_message(url));
    const http::Response& response = *exchange.response;
    if (response.status == 401 && !refreshed) {
      // An expired token mid-run: one new token, then the same request again.
      refreshed = true;
      ++retries;
      auto fresh = tokens_.bearer(scope, true);
      if (!fresh) return fresh.failure();
      --attempt;  // the refresh is not a throttling try
      continue;
    }
    const bool throttled = response.status == 429 || response.status == 503 || response.status == 504;
    if (throttled && attempt < settings_.max_attempts) {
      // https://learn.microsoft.com/graph/throttling: wait as Retry-After says.
      auto delay = parse_retry_after(response.retry_after, std::chrono::system_clock::now())
                       .value_or(std::chrono::seconds(1LL << std::min(attempt, 6)));
      if (delay > settings_.max_retry_wait) delay = settings_.max_retry_wait;
      ++retries;
      wait_for(settings_, std::chrono::duration_cast<std::chrono::milliseconds>(delay));
      continue;
    }
    Answer answer{response.status, response.body, response.location, response.content_type};
    // An error answer is shown to the admin: a peer that echoes our request
    // must not get the token printed.
    if (answer.status >= 400 && !token.value().empty())
      for (auto at = answer.body.find(token.value()); at != std::string::npos; at = answer.body.find(token.value(), at))
        answer.body.replace(at, token.value().size(), "***");
    return answer;
  }
}

}  // namespace diag::graph
