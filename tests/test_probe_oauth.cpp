// The client-credentials token (libcurl) against a local HTTP server that
// plays the Microsoft identity platform, its error replies, and the XOAUTH2
// string; then sendcheck-probe fetching a token and using it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "diag/oauth.h"
#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag;

namespace {

const std::string token_body = R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QifQ.test-access-token"})";

oauth::ClientCredentials credentials_for(const HttpServer& server) {
  oauth::ClientCredentials credentials;
  credentials.endpoint = server.url("/contoso.onmicrosoft.com/oauth2/v2.0/token");
  credentials.client_id = "11111111-2222-3333-4444-555555555555";
  credentials.client_secret = "s3cr3t~value&with=specials";
  credentials.timeout = 3000ms;
  return credentials;
}

}  // namespace

TEST_CASE("the token endpoint for a tenant", "[probe][oauth]") {
  CHECK(oauth::token_endpoint_for("contoso.onmicrosoft.com") ==
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
}

TEST_CASE("a client-credentials token is fetched with the SMTP scope", "[probe][oauth]") {
  HttpServer server(200, token_body);
  auto token = oauth::fetch_client_credentials_token(credentials_for(server));
  REQUIRE(token);
  CHECK(token->access_token == "eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QifQ.test-access-token");
  CHECK(token->token_type == "Bearer");
  CHECK(token->expires_in == 3599);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].request_line == "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1");
  CHECK(requests[0].headers.at("content-type") == "application/x-www-form-urlencoded");
  const std::string& body = requests[0].body;
  CHECK_THAT(body, Catch::Contains("grant_type=client_credentials"));
  CHECK_THAT(body, Catch::Contains("client_id=11111111-2222-3333-4444-555555555555"));
  CHECK_THAT(body, Catch::Contains("client_secret=s3cr3t~value%26with%3Dspecials"));
  CHECK_THAT(body, Catch::Contains("scope=https%3A%2F%2Foutlook.office365.com%2F.default"));
}

TEST_CASE("the token endpoint's error replies", "[probe][oauth]") {
  HttpServer expired(401, R"({"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app '1111' are expired.\r\nTrace ID: abc\r\nCorrelation ID: def","error_codes":[7000222]})");
  auto result = oauth::fetch_client_credentials_token(credentials_for(expired));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::unavailable);
  CHECK(result.error().message == "the token endpoint answered HTTP 401: invalid_client: AADSTS7000222: The provided client secret keys for app '1111' are expired.");
  CHECK(result.error().message.find("s3cr3t") == std::string::npos);

  HttpServer broken(500, "<html>oops</html>", "text/html");
  result = oauth::fetch_client_credentials_token(credentials_for(broken));
  REQUIRE_FALSE(result);
  CHECK(result.error().message == "the token endpoint answered HTTP 500");

  HttpServer no_token(200, R"({"token_type":"Bearer"})");
  result = oauth::fetch_client_credentials_token(credentials_for(no_token));
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error().message, Catch::Contains("no access_token"));

  auto nowhere = credentials_for(no_token);
  nowhere.endpoint = "http://127.0.0.1:1/token";
  result = oauth::fetch_client_credentials_token(nowhere);
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::unavailable);

  nowhere.endpoint = "http://login.example/token";  // a secret never goes out in clear text
  result = oauth::fetch_client_credentials_token(nowhere);
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::bad_input);
}

TEST_CASE("the XOAUTH2 string as Microsoft documents it", "[probe][oauth]") {
  CHECK(oauth::xoauth2_initial_response("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA") ==
        "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==");
}

TEST_CASE("sendcheck-probe fetches a token and authenticates with it", "[probe][oauth]") {
  HttpServer identity(200, token_body);
  auto profile = smtp::exo_submission_profile();
  profile.oauth_token = "eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QifQ.test-access-token";
  smtp::ServerConfig config;
  config.profile = profile;
  config.credentials = server_credentials("127.0.0.1");
  auto server = start_server(std::move(config));
  TempDir dir;
  const auto secret_file = dir.file("secret", "s3cr3t~value\n");
  std::vector<std::string> argv{bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", std::to_string(server->port()),
                                "--auth", "xoauth2", "--user", "app@contoso.example", "--client-id", "1111",
                                "--client-secret-file", secret_file, "--token-endpoint", identity.url(), "-v", "--json",
                                "--timeout", "3", "--dns", "127.0.0.1:9", "--insecure-auth"};
  auto run = run_program(argv);
  INFO(run.out << run.err);
  const auto doc = nlohmann::json::parse(run.out);
  CHECK(doc["targets"][0]["auth"]["attempt"]["reply"]["code"] == 235);
  for (const std::string secret : {"s3cr3t~value", "test-access-token"}) {
    CHECK(run.out.find(secret) == std::string::npos);
    CHECK(run.err.find(secret) == std::string::npos);
  }

  HttpServer refusing(400, R"({"error":"invalid_scope","error_description":"AADSTS70011: The provided value for the input parameter 'scope' is not valid."})");
  argv[13] = refusing.url();
  run = run_program(argv);
  CHECK(run.exit_code == 3);
  // --json: the error is also the one JSON document on stdout.
  CHECK(nlohmann::json::parse(run.out)["status"] == "error");
  CHECK(run.err == "sendcheck-probe: error: the token endpoint answered HTTP 400: invalid_scope: AADSTS70011: The provided value for the input parameter 'scope' is not valid.\n");

  // The endpoint refusing the app's secret is a finding with its fix (exit 1), not "could not complete".
  HttpServer expired(401, R"({"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app '1111' are expired."})");
  argv[13] = expired.url();
  run = run_program(argv);
  INFO(run.out);
  CHECK(run.exit_code == 1);
  const auto refused = nlohmann::json::parse(run.out);
  bool token_row = false;
  for (const auto& check : refused["checks"])
    if (check["id"] == "auth.token") {
      token_row = true;
      CHECK(check["status"] == "fail");
      CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("The client secret has expired"));
    }
  CHECK(token_row);
  CHECK(run.out.find("s3cr3t~value") == std::string::npos);
}

TEST_CASE("the token endpoint's answer is read as untrusted", "[probe][oauth]") {
  auto token = oauth::parse_token_response(200, R"({"token_type":"Bearer","expires_in":"3599","access_token":"eyJ0eXAi.abc.def"})");
  REQUIRE(token);
  CHECK(token->access_token == "eyJ0eXAi.abc.def");
  CHECK(token->expires_in == 3599);  // a string, as some gateways send it

  token = oauth::parse_token_response(200, R"({"access_token":"a b"})");
  REQUIRE_FALSE(token);  // would break the SASL line
  CHECK_THAT(token.error().message, Catch::Contains("not usable"));
  CHECK(token.error().message.find("a b") == std::string::npos);
  CHECK_FALSE(oauth::parse_token_response(200, "[1,2]"));
  CHECK_FALSE(oauth::parse_token_response(200, std::string("{\"access_token\":\"x\0y\"}", 23)));
  CHECK_FALSE(oauth::parse_token_response(200, std::string(70 * 1024, '{')));

  const auto denied = oauth::parse_token_response(400, "{\"error\":\"invalid_client\\u001b[31m\",\"error_description\":[1]}");
  REQUIRE_FALSE(denied);
  CHECK(denied.error().message == "the token endpoint answered HTTP 400: invalid_client?[31m");
}

TEST_CASE("an endpoint that echoes the client secret does not get it printed", "[probe][oauth][secrets]") {
  HttpServer echo(400, R"({"error":"invalid_request","error_description":"client_secret=s3cr3t-value is not valid"})");
  auto credentials = credentials_for(echo);
  credentials.client_secret = "s3cr3t-value";
  const auto result = oauth::fetch_client_credentials_token(credentials);
  REQUIRE_FALSE(result);
  CHECK(result.error().message == "the token endpoint answered HTTP 400: invalid_request: client_secret=*** is not valid");
}
