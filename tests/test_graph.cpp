// The online half of the sender inventory against a mock Microsoft tenant on
// loopback HTTPS (tests/support/graph_mock.h): tokens (secret, certificate,
// device code), both sign-in logs with paging, throttling and an expired
// token, the licence and permission errors, broken and oversized pages, the
// usage report's redirect, and the Exchange admin API.
#include <catch2/catch.hpp>

#include <thread>

#include "diag/graph.h"
#include "diag/http.h"
#include "graph_mock.h"

using namespace diag;
using namespace graph_testing;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds since = std::chrono::sys_days(std::chrono::year(2026) / 11 / 2);

struct Collected {
  std::vector<inventory::SignIn> rows;
  inventory::SignInSink sink() {
    return [this](const inventory::SignIn& signin) { rows.push_back(signin); };
  }
};

graph::SignInQuery query() {
  graph::SignInQuery query;
  query.since = since;
  return query;
}

// The interactive log from a one-off server that plays login, Graph and Exchange at once.
graph::Outcome<graph::SignInPassSummary> signins_from(const HttpsMockServer& server, graph::Settings settings) {
  settings.endpoints = {server.base_url(), server.base_url(), server.base_url()};
  settings.ca_file = server.ca_file();
  auto tokens = graph::client_secret_tokens(settings, "id", "secret");
  graph::Client client(settings, *tokens);
  return client.signins(graph::SignInLog::interactive, query(), {});
}

std::shared_ptr<tls::Credentials> rsa_certificate(tls::KeyType key = tls::KeyType::rsa2048) {
  tls::CertificateSpec spec;
  spec.common_name = "sendcheck inventory app";
  spec.key_type = key;
  auto credentials = tls::generate_certificate(spec);
  REQUIRE(credentials);
  return std::make_shared<tls::Credentials>(std::move(credentials).value());
}

}  // namespace

TEST_CASE("graph: endpoints of each cloud", "[graph]") {
  CHECK(graph::parse_cloud("usgov-dod") == graph::Cloud::usgov_dod);
  CHECK_FALSE(graph::parse_cloud("germany"));
  const auto global = graph::endpoints_for(graph::Cloud::global);
  CHECK(global.login == "https://login.microsoftonline.com");
  CHECK(global.graph == "https://graph.microsoft.com");
  CHECK(graph::graph_scope(global) == "https://graph.microsoft.com/.default");
  CHECK(graph::exo_scope(global) == "https://outlook.office365.com/.default");
  const auto gcc_high = graph::endpoints_for(graph::Cloud::usgov);
  CHECK(gcc_high.login == "https://login.microsoftonline.us");
  CHECK(gcc_high.graph == "https://graph.microsoft.us");
  CHECK(gcc_high.exo == "https://outlook.office365.us");
  const auto dod = graph::endpoints_for(graph::Cloud::usgov_dod);
  CHECK(dod.graph == "https://dod-graph.microsoft.us");
  CHECK(dod.exo == "https://outlook-dod.office365.us");
  const auto china = graph::endpoints_for(graph::Cloud::china);
  CHECK(china.login == "https://login.chinacloudapi.cn");
  CHECK(china.graph == "https://microsoftgraph.chinacloudapi.cn");
  graph::Settings settings;
  settings.tenant = "contoso.onmicrosoft.com";
  CHECK(graph::token_endpoint(settings) == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  CHECK(graph::device_code_endpoint(settings) ==
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode");
}

TEST_CASE("graph: the sign-in filters, exactly, and their encoding", "[graph]") {
  auto q = query();
  CHECK(graph::signins_filter(graph::SignInLog::interactive, q) ==
        "clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge 2026-11-02T00:00:00Z");
  CHECK(graph::signins_filter(graph::SignInLog::non_interactive, q) ==
        "clientAppUsed eq 'Authenticated SMTP' and signInEventTypes/any(t: t eq 'nonInteractiveUser') and createdDateTime ge "
        "2026-11-02T00:00:00Z");
  q.until = since + std::chrono::days(7) + 3723s;
  CHECK(graph::signins_filter(graph::SignInLog::interactive, q).ends_with("and createdDateTime le 2026-11-09T01:02:03Z"));
  const std::string url = graph::signins_url(graph::endpoints_for(graph::Cloud::global), graph::SignInLog::non_interactive, q);
  CHECK(url.starts_with("https://graph.microsoft.com/beta/auditLogs/signIns?$filter=clientAppUsed%20eq%20%27Authenticated%20SMTP%27"));
  CHECK(url.find(' ') == std::string::npos);
  CHECK(url.find('\'') == std::string::npos);
  CHECK(url.ends_with("&$top=1000"));
  CHECK(http::percent_decode(url.substr(url.find("=") + 1, url.find("&$top") - url.find("=") - 1)) ==
        graph::signins_filter(graph::SignInLog::non_interactive, q));
}

TEST_CASE("graph: Retry-After, Graph times, origins", "[graph]") {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(graph::parse_retry_after("1", now) == 1s);
  CHECK(graph::parse_retry_after(" 120 ", now) == 120s);
  CHECK(graph::parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now) == 30s);
  CHECK(graph::parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0s);
  CHECK_FALSE(graph::parse_retry_after("soon", now));
  CHECK_FALSE(graph::parse_retry_after("", now));
  CHECK(graph::parse_graph_time("2020-03-13T19:15:41.6195833Z") ==
        std::chrono::sys_days(std::chrono::year(2020) / 3 / 13) + 19h + 15min + 41s);
  CHECK(graph::parse_graph_time("2020-03-13T19:15:41+01:00") ==
        std::chrono::sys_days(std::chrono::year(2020) / 3 / 13) + 18h + 15min + 41s);
  CHECK_FALSE(graph::parse_graph_time("2020-02-30T00:00:00Z"));
  CHECK_FALSE(graph::parse_graph_time("2020-03-13T19:15:41"));
  CHECK_FALSE(graph::parse_graph_time("2020-03-13T19:15:41.Z"));
  CHECK(graph::format_graph_time(since) == "2026-11-02T00:00:00Z");
  CHECK(http::origin_of("https://Graph.Microsoft.com/v1.0/x?y") == "https://graph.microsoft.com");
  CHECK(http::origin_of("https://graph.microsoft.com@evil.example/v1.0") == "");
  CHECK(http::origin_of("/v1.0/relative") == "");
  CHECK_FALSE(http::url_allowed("http://graph.microsoft.com/v1.0"));
  CHECK(http::url_allowed("http://127.0.0.1:8080/x"));
  CHECK(graph::period_for_window(std::chrono::days(7)) == graph::ReportPeriod::d7);
  CHECK(graph::period_for_window(std::chrono::days(8)) == graph::ReportPeriod::d30);
  CHECK(graph::period_for_window(std::chrono::days(400)) == graph::ReportPeriod::d180);
}

TEST_CASE("graph: both sign-in logs, every page, one 429 honoured", "[graph]") {
  MockTenantConfig config;
  config.throttle_second_page_once = true;
  MockMicrosoft mock(config);
  auto settings = mock.settings();
  auto tokens = graph::client_secret_tokens(settings, config.client_id, config.client_secret);
  graph::Client client(settings, *tokens);
  Collected interactive, non_interactive;
  std::vector<std::size_t> progress;
  auto v1 = client.signins(graph::SignInLog::interactive, query(), interactive.sink(),
                           [&](graph::SignInLog, std::size_t pages, std::size_t) { progress.push_back(pages); });
  REQUIRE(v1.ok());
  CHECK(v1->pages == 2);
  CHECK(v1->rows == 6);
  CHECK(v1->retries == 1);
  CHECK(progress == std::vector<std::size_t>{1, 2});
  REQUIRE(interactive.rows.size() == 6);
  CHECK(interactive.rows[0].user == "printer0@contoso.example");
  CHECK(interactive.rows[0].ip == "203.0.113.1");
  CHECK(interactive.rows[0].client_app == "Authenticated SMTP");
  CHECK(interactive.rows[0].interactivity == inventory::Interactivity::interactive);
  CHECK(interactive.rows[0].source == inventory::SourceKind::graph_signins_v1);
  CHECK(interactive.rows[0].time == graph::parse_graph_time("2026-11-02T00:00:01Z"));
  // The 429's Retry-After: 1 was waited, once.
  CHECK(mock.waits() == std::vector<std::chrono::milliseconds>{1000ms});

  auto beta = client.signins(graph::SignInLog::non_interactive, query(), non_interactive.sink());
  REQUIRE(beta.ok());
  CHECK(beta->rows == 2);
  REQUIRE(non_interactive.rows.size() == 2);
  CHECK(non_interactive.rows[1].user == "scanner1@contoso.example");
  CHECK(non_interactive.rows[1].user_agent == "BAV2ROPC");
  CHECK(non_interactive.rows[1].interactivity == inventory::Interactivity::non_interactive);
  CHECK(non_interactive.rows[1].source == inventory::SourceKind::graph_signins_beta);

  // Both logs were asked, each with exactly the filter Microsoft documents
  // (the nextLink request carries it back re-encoded).
  const auto v1_filters = mock.filters("v1.0");
  REQUIRE(v1_filters.size() == 3);  // page 1, the 429, page 2
  for (const auto& filter : v1_filters)
    CHECK(filter == "clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge 2026-11-02T00:00:00Z");
  REQUIRE(mock.filters("beta").size() == 1);
  CHECK(mock.filters("beta")[0] ==
        "clientAppUsed eq 'Authenticated SMTP' and signInEventTypes/any(t: t eq 'nonInteractiveUser') and createdDateTime ge "
        "2026-11-02T00:00:00Z");
  CHECK(mock.token_grants() == std::vector<std::string>{"client_credentials"});  // cached across pages and logs
}

TEST_CASE("graph: a 429 on every try ends as throttled, with bounded tries", "[graph]") {
  MockTenantConfig config;
  MockMicrosoft mock(config);
  auto settings = mock.settings();
  settings.max_attempts = 3;
  settings.max_retry_wait = 5s;
  // Every page answers 429 with a long HTTP-date Retry-After: cut to 5 s.
  HttpsMockServer always_429([](const MockRequest& request) {
    if (request.path.ends_with("/token")) {
      MockResponse token;
      token.body = R"({"token_type":"Bearer","expires_in":3599,"access_token":"t"})";
      return token;
    }
    MockResponse response;
    response.status = 429;
    response.headers.push_back({"Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT"});
    return response;
  });
  auto result = signins_from(always_429, settings);
  REQUIRE_FALSE(result.ok());
  CHECK(result.failure().kind == graph::FailureKind::throttled);
  CHECK(result.failure().http_status == 429);
  CHECK(mock.waits() == std::vector<std::chrono::milliseconds>{5000ms, 5000ms});
  CHECK(always_429.requests().size() == 4);  // one token, three tries
}

TEST_CASE("graph: the licence 403 and the permission 403 are typed", "[graph]") {
  MockTenantConfig config;
  config.licence_missing = true;
  MockMicrosoft mock(config);
  auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, config.client_secret);
  graph::Client client(mock.settings(), *tokens);
  Collected rows;
  auto licence = client.signins(graph::SignInLog::interactive, query(), rows.sink());
  REQUIRE_FALSE(licence.ok());
  CHECK(licence.failure().kind == graph::FailureKind::licence_required);
  CHECK(licence.failure().http_status == 403);
  CHECK(licence.failure().code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
  CHECK_THAT(licence.failure().message, Catch::Contains("P1 or P2"));
  CHECK(rows.rows.empty());

  mock.config().licence_missing = false;
  mock.config().permission_missing = true;
  auto denied = client.signins(graph::SignInLog::non_interactive, query(), rows.sink());
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.failure().kind == graph::FailureKind::permission_denied);
  CHECK(denied.failure().code == "Authorization_RequestDenied");
  CHECK_THAT(denied.failure().message, Catch::Contains("AuditLog.Read.All") && Catch::Contains("Directory.Read.All"));
  CHECK(denied.failure().error_kind() == ErrorKind::unavailable);
}

TEST_CASE("graph: a bad client secret (AADSTS7000215) is explained", "[graph]") {
  MockTenantConfig config;
  MockMicrosoft mock(config);
  auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, "Wrong~Secret-Value");
  graph::Client client(mock.settings(), *tokens);
  auto result = client.signins(graph::SignInLog::interactive, query(), {});
  REQUIRE_FALSE(result.ok());
  CHECK(result.failure().kind == graph::FailureKind::invalid_client_secret);
  CHECK(result.failure().code == "AADSTS7000215");
  CHECK(result.failure().http_status == 401);
  CHECK_THAT(result.failure().message, Catch::Contains("AADSTS7000215") && Catch::Contains("Value, not its Secret ID"));
  CHECK(result.failure().message.find("Wrong~Secret-Value") == std::string::npos);
  CHECK(result.failure().message.find('\r') == std::string::npos);  // one line
  CHECK(result.failure().error_kind() == ErrorKind::bad_input);
  CHECK(mock.filters("v1.0").empty());  // Graph was never asked without a token
}

TEST_CASE("graph: an expired token mid-run is fetched again, once", "[graph]") {
  MockTenantConfig config;
  config.expire_first_token_after = 1;  // page 1 with token 1; page 2 gets 401
  MockMicrosoft mock(config);
  auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, config.client_secret);
  graph::Client client(mock.settings(), *tokens);
  Collected rows;
  auto result = client.signins(graph::SignInLog::interactive, query(), rows.sink());
  REQUIRE(result.ok());
  CHECK(result->rows == 6);
  CHECK(rows.rows.size() == 6);
  CHECK(mock.unauthorized_answers() == 1);
  CHECK(mock.token_grants().size() == 2);

  // A token that is refused even when fresh: unauthorized, not a loop.
  HttpsMockServer refuses([](const MockRequest& request) {
    MockResponse response;
    if (request.path.ends_with("/token")) {
      response.body = R"({"token_type":"Bearer","expires_in":3599,"access_token":"t"})";
    } else {
      response.status = 401;
      response.body = R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}})";
    }
    return response;
  });
  auto refused = signins_from(refuses, mock.settings());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.failure().kind == graph::FailureKind::unauthorized);
  CHECK(refuses.requests().size() == 4);  // token, page, token, page
}

TEST_CASE("graph: malformed, truncated and cut-short pages are errors, never 'no rows'", "[graph]") {
  const std::vector<std::pair<PageFault, graph::FailureKind>> faults = {
      {PageFault::not_json, graph::FailureKind::malformed_response},
      {PageFault::truncated_json, graph::FailureKind::malformed_response},
      {PageFault::no_value, graph::FailureKind::malformed_response},
      {PageFault::short_body, graph::FailureKind::network},
      {PageFault::foreign_next_link, graph::FailureKind::refused_redirect},
      {PageFault::repeated_next_link, graph::FailureKind::malformed_response},
  };
  for (const auto& [fault, kind] : faults) {
    MockTenantConfig config;
    config.second_page_fault = fault;
    if (fault == PageFault::repeated_next_link) config.interactive_pages = 3;  // page 2 has a link
    MockMicrosoft mock(config);
    auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, config.client_secret);
    graph::Client client(mock.settings(), *tokens);
    Collected rows;
    auto result = client.signins(graph::SignInLog::interactive, query(), rows.sink());
    INFO("fault " << static_cast<int>(fault));
    REQUIRE_FALSE(result.ok());
    CHECK(result.failure().kind == kind);
    // Page 1's rows were handed over; the failure says the rest is missing. A
    // page that links to itself is read once, and asked for no more.
    CHECK(rows.rows.size() == (fault == PageFault::repeated_next_link ? 6u : 3u));
    if (fault == PageFault::repeated_next_link) CHECK(mock.filters("v1.0").size() == 2);
    if (fault == PageFault::foreign_next_link) CHECK(mock.filters("v1.0").size() == 1);  // graph.example.net never asked
  }
}

TEST_CASE("graph: a huge page is refused by the bound, not read", "[graph]") {
  MockTenantConfig config;
  config.second_page_fault = PageFault::huge;
  MockMicrosoft mock(config);
  auto settings = mock.settings();
  settings.max_page_bytes = 2 * 1024 * 1024;
  auto tokens = graph::client_secret_tokens(settings, config.client_id, config.client_secret);
  graph::Client client(settings, *tokens);
  Collected rows;
  auto result = client.signins(graph::SignInLog::interactive, query(), rows.sink());
  REQUIRE_FALSE(result.ok());
  CHECK(result.failure().kind == graph::FailureKind::too_large);
  CHECK_THAT(result.failure().message, Catch::Contains("2097152 bytes"));
  CHECK(rows.rows.size() == 3);
}

TEST_CASE("graph: a server that never answers is bounded by the timeout", "[graph]") {
  HttpsMockServer silent([](const MockRequest&) {
    std::this_thread::sleep_for(1500ms);
    return MockResponse{};
  });
  graph::Settings settings;
  settings.tenant = "contoso.onmicrosoft.com";
  settings.timeout = 300ms;
  auto result = signins_from(silent, settings);
  REQUIRE_FALSE(result.ok());
  CHECK(result.failure().kind == graph::FailureKind::timed_out);
}

TEST_CASE("graph: the usage report's 302 is followed without the bearer token", "[graph]") {
  const std::string& csv = usage_report_csv;
  HttpsMockServer download(file_download(csv));
  MockTenantConfig config;
  config.report_location = download.base_url() + "/download/EmailAppUsageUserDetail.csv?sv=2026&sig=presigned";
  MockMicrosoft mock(config);
  auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, config.client_secret);
  graph::Client client(mock.settings(), *tokens);
  auto report = client.usage_report(graph::ReportPeriod::d30);
  REQUIRE(report.ok());
  CHECK(report->csv == csv);
  CHECK(report->period == graph::ReportPeriod::d30);
  const auto requests = download.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/download/EmailAppUsageUserDetail.csv?sv=2026&sig=presigned");
  CHECK(requests[0].headers.count("authorization") == 0);  // the token stayed with Graph
  const auto graph_requests = mock.server().requests();
  CHECK(std::any_of(graph_requests.begin(), graph_requests.end(), [](const MockRequest& request) {
    return request.path == "/graph/v1.0/reports/getEmailAppUsageUserDetail(period='D30')" &&
           request.header("authorization").starts_with("Bearer ");
  }));

  auto concealed = client.report_settings();
  REQUIRE(concealed.ok());
  CHECK(concealed->display_concealed_names == true);

  // A report too large for its bound is refused.
  auto small = mock.settings();
  small.max_report_bytes = 100;
  graph::Client bounded(small, *tokens);
  auto refused = bounded.usage_report(graph::ReportPeriod::d30);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.failure().kind == graph::FailureKind::too_large);

  // A download link over plain http elsewhere is not followed.
  mock.config().report_location = "http://reports.example.net/x.csv";
  auto insecure = client.usage_report(graph::ReportPeriod::d30);
  REQUIRE_FALSE(insecure.ok());
  CHECK(insecure.failure().kind == graph::FailureKind::refused_redirect);
  CHECK(download.requests().size() == 2);
}

TEST_CASE("graph: a certificate's client assertion, verified by the mock with the public key", "[graph]") {
  const auto certificate = rsa_certificate();
  MockTenantConfig config;
  config.assertion_certificate = certificate->certificate.get();
  MockMicrosoft mock(config);
  for (const auto algorithm : {oauth::AssertionAlgorithm::rs256, oauth::AssertionAlgorithm::ps256}) {
    auto tokens = graph::client_certificate_tokens(mock.settings(), config.client_id, certificate, algorithm);
    graph::Client client(mock.settings(), *tokens);
    auto result = client.signins(graph::SignInLog::interactive, query(), {});
    REQUIRE(result.ok());
    CHECK(result->rows == 6);
  }
  const auto checks = mock.assertions();
  REQUIRE(checks.size() == 2);
  for (const auto& check : checks) {
    CHECK(check.signature_valid);
    CHECK(check.x5t_matches);
    CHECK(check.x5t_s256_matches);
    CHECK(check.aud == mock.base() + "/login/contoso.onmicrosoft.com/oauth2/v2.0/token");
    CHECK(check.iss == config.client_id);
    CHECK(check.sub == config.client_id);
    CHECK(check.exp > check.now);
    CHECK(check.exp - check.nbf == 600);
    CHECK(check.assertion_type == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    CHECK(check.jti.size() == 36);
  }
  CHECK(checks[0].alg == "RS256");
  CHECK(checks[1].alg == "PS256");
  CHECK(checks[0].jti != checks[1].jti);

  // Another certificate's key: the mock's verification fails, the client says so.
  const auto stranger = rsa_certificate();
  auto wrong = graph::client_certificate_tokens(mock.settings(), config.client_id, stranger);
  graph::Client refused(mock.settings(), *wrong);
  auto result = refused.signins(graph::SignInLog::interactive, query(), {});
  REQUIRE_FALSE(result.ok());
  CHECK(result.failure().kind == graph::FailureKind::credentials_refused);
  CHECK(result.failure().code == "AADSTS700027");
  CHECK_FALSE(mock.assertions().back().signature_valid);

  // An EC key cannot sign RS256: bad input, nothing sent.
  const auto ec = rsa_certificate(tls::KeyType::ec_p256);
  auto ec_tokens = graph::client_certificate_tokens(mock.settings(), config.client_id, ec);
  auto ec_result = graph::Client(mock.settings(), *ec_tokens).signins(graph::SignInLog::interactive, query(), {});
  REQUIRE_FALSE(ec_result.ok());
  CHECK(ec_result.failure().kind == graph::FailureKind::bad_input);
  CHECK(mock.assertions().size() == 3);
}

TEST_CASE("graph: device code, authorization_pending then slow_down then a token", "[graph]") {
  MockTenantConfig config;
  config.device_pending_polls = 1;
  config.device_slow_down = true;
  MockMicrosoft mock(config);
  std::vector<std::string> shown;
  auto tokens = graph::device_code_tokens(mock.settings(), config.client_id,
                                          [&](const oauth::DeviceCode& code) { shown.push_back(code.message); });
  graph::Client client(mock.settings(), *tokens);
  auto result = client.signins(graph::SignInLog::interactive, query(), {});
  REQUIRE(result.ok());
  CHECK(result->rows == 6);
  REQUIRE(shown.size() == 1);
  CHECK_THAT(shown[0], Catch::Contains("MOCK-CODE") && Catch::Contains("https://microsoft.com/devicelogin"));
  CHECK(shown[0].find("mock-device-code-secret") == std::string::npos);
  // interval 1 s; pending: again after 1 s; slow_down: 1 + 5 = 6 s from then on.
  CHECK(mock.waits() == std::vector<std::chrono::milliseconds>{1000ms, 1000ms, 6000ms});
  // The Exchange scope comes from the refresh token, without a second prompt.
  auto exchange = client.exchange_settings();
  REQUIRE(exchange.ok());
  CHECK(shown.size() == 1);
  const auto grants = mock.token_grants();
  REQUIRE(grants.size() == 4);
  CHECK(grants[0] == "urn:ietf:params:oauth:grant-type:device_code");
  CHECK(grants[2] == "urn:ietf:params:oauth:grant-type:device_code");
  CHECK(grants[3] == "refresh_token");
  CHECK(mock.unauthorized_answers() == 0);
}

TEST_CASE("graph: device code parsing and poll classes", "[graph]") {
  auto code = oauth::parse_device_code_response(200, R"({"device_code":"d","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","interval":0,"expires_in":"900"})");
  REQUIRE(code);
  CHECK(code->interval == 1);  // bounded below: never a busy loop
  CHECK(code->expires_in == 900);
  CHECK_THAT(code->message, Catch::Contains("https://microsoft.com/devicelogin") && Catch::Contains("U"));
  CHECK_FALSE(oauth::parse_device_code_response(200, R"({"user_code":"U"})"));
  CHECK_FALSE(oauth::parse_device_code_response(200, R"({"device_code":"d","user_code":"U")"));
  CHECK(oauth::classify_device_poll(oauth::parse_token_error(400, R"({"error":"authorization_declined"})")) ==
        oauth::DevicePoll::declined);
  CHECK(oauth::classify_device_poll(oauth::parse_token_error(400, R"({"error":"expired_token"})")) == oauth::DevicePoll::expired);
  CHECK(oauth::classify_device_poll(oauth::parse_token_error(400, R"({"error":"bad_verification_code"})")) ==
        oauth::DevicePoll::failed);
  const auto error = oauth::parse_token_error(401, R"({"error":"invalid_client","error_description":"AADSTS7000222: expired\r\nTrace"})");
  CHECK(error.aadsts == "AADSTS7000222");
  CHECK(error.description == "AADSTS7000222: expired");
}

TEST_CASE("graph: tenant settings through the Exchange admin API", "[graph]") {
  MockTenantConfig config;
  MockMicrosoft mock(config);
  auto tokens = graph::client_secret_tokens(mock.settings(), config.client_id, config.client_secret);
  graph::Client client(mock.settings(), *tokens);
  auto settings = client.exchange_settings();
  REQUIRE(settings.ok());
  CHECK(settings->source == inventory::SourceKind::exo_admin_api);
  CHECK(settings->smtp_client_authentication_disabled == true);
  REQUIRE(settings->mailboxes.size() == 3);  // both pages
  CHECK(settings->mailboxes[0].user == "alice@contoso.example");
  CHECK(settings->mailboxes[0].smtp_client_authentication_disabled == true);
  CHECK(settings->mailboxes[1].smtp_client_authentication_disabled == false);
  CHECK(settings->mailboxes[2].user == "carol@contoso.example");
  CHECK_FALSE(settings->mailboxes[2].smtp_client_authentication_disabled.has_value());  // follows the org
  REQUIRE(settings->authentication_policies.size() == 2);
  CHECK(settings->authentication_policies[0] == std::pair<std::string, std::optional<bool>>{"Block Basic SMTP", false});
  CHECK(mock.cmdlets() == std::vector<std::string>{"Get-TransportConfig", R"(Get-CASMailbox {"ResultSize":"Unlimited"})",
                                                   R"(Get-CASMailbox {"ResultSize":"Unlimited"})", "Get-AuthenticationPolicy"});
  // The Exchange scope, not Graph's: the mock refuses a Graph token there.
  CHECK(mock.unauthorized_answers() == 0);
  const auto requests = mock.server().requests();
  const auto admin = std::find_if(requests.begin(), requests.end(),
                                  [](const MockRequest& request) { return request.path.find("InvokeCommand") != std::string::npos; });
  REQUIRE(admin != requests.end());
  CHECK(admin->header("x-anchormailbox") == "UPN:SystemMailbox{8cc370d3-822a-4ab8-a926-bb94bd0641a9}@contoso.onmicrosoft.com");
  CHECK(admin->header("content-type") == "application/json; charset=utf-8");

  // Org switch unset: null stays unknown, not "enabled".
  mock.config().org_smtp_auth_disabled = nullptr;
  auto unset = client.exchange_settings();
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->smtp_client_authentication_disabled.has_value());

  // The admin API's error text is read from error.details[].message.
  auto unknown = client.invoke_exchange_cmdlet("Get-Nothing", nlohmann::json::object(), {});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.failure().kind == graph::FailureKind::http_error);
  CHECK_THAT(unknown.failure().message, Catch::Contains("The term 'Get-Nothing' is not recognized"));
}

TEST_CASE("graph: service error bodies", "[graph]") {
  CHECK(graph::service_error(R"({"error":{"code":"X","message":"outer","innererror":{"internalException":{"message":"inner"}}}})") ==
        std::pair<std::string, std::string>{"X", "outer"});
  CHECK(graph::service_error(R"({"error":{"code":"X","innererror":{"internalException":{"message":"inner"}}}})").second == "inner");
  CHECK(graph::service_error(R"({"error":{"code":"X","details":{"message":"detail"},"message":"outer"}})").second == "detail");
  CHECK(graph::service_error(R"({"error":{"code":"X","message":"line1\r\nline2\u001b[31m"}})").second == "line1");
  CHECK(graph::service_error("not json") == std::pair<std::string, std::string>{});
}
