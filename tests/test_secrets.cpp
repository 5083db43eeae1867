// Secrets never reach stdout, stderr, JSON, transcripts or listen's reports
// (issue 8). Every tool runs with marker secrets, from files and from the
// environment, through every output mode it has: text, -v, --json, -v --json
// (and preflight's --markdown); probe and preflight authenticate against our
// server with each mechanism, and sendcheck-listen reports what it received.
// A marker found anywhere, plain or in any base64 form a protocol would
// carry it in, fails the test.
#include <catch2/catch.hpp>

#include <thread>

#include "diag/graph.h"
#include "diag/smtp.h"
#include "dns_test_server.h"
#include "fixture_zones.h"
#include "https_mock_server.h"
#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag;

namespace {

const std::string password = "Pw-MaRkEr-4711-password";
const std::string client_secret = "Cs-MaRkEr-0815~secret&x=y";
const std::string access_token = "eyJ0eXAi.Tk-MaRkEr-2342.token";
const std::string dqs_key = "abcdefghijklmnopqrstuvwxyz";  // the blocklist fixture's DQS zone label
const std::string user = "printer@contoso.example";

// Each secret as it travels: plain, URL-escaped in the token request, and
// in the base64 of AUTH LOGIN, AUTH PLAIN and XOAUTH2.
std::vector<std::string> forms_of_secrets() {
  std::vector<std::string> forms = {password, client_secret, "Cs-MaRkEr-0815", access_token, "Tk-MaRkEr-2342", dqs_key};
  forms.push_back(smtp::base64_encode(password));
  forms.push_back(smtp::base64_encode(std::string("\0", 1) + user + std::string("\0", 1) + password));
  forms.push_back(smtp::base64_encode("user=" + user + "\x01" + "auth=Bearer " + access_token + "\x01\x01"));
  return forms;
}

void require_no_secret(const std::string& where, const std::string& text) {
  for (const auto& secret : forms_of_secrets()) {
    INFO(where << " holds a secret (" << secret << "):\n" << text);
    CHECK(text.find(secret) == std::string::npos);
  }
}

void require_no_secret(const std::string& label, const RunResult& run) {
  INFO(label << ": exit " << run.exit_code);
  CHECK(run.exit_code >= 0);  // finished, not killed at the time limit
  require_no_secret(label + " stdout", run.out);
  require_no_secret(label + " stderr", run.err);
}

const std::vector<std::vector<std::string>> output_modes = {{}, {"-v"}, {"--json"}, {"--json", "-v"}};

std::vector<std::string> joined(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string mode_name(const std::vector<std::string>& mode) {
  std::string out;
  for (const auto& part : mode) out += part + " ";
  return out.empty() ? "text" : out;
}

struct SubmissionServer {
  std::unique_ptr<smtp::SmtpServer> server;
  TempDir dir;
  std::string ca_file;
  explicit SubmissionServer(smtp::BasicAuthAnswer basic) {
    smtp::ServerConfig config;
    config.profile = smtp::exo_submission_profile(basic);
    config.profile.oauth_token = access_token;
    // Offer PLAIN as well (Exchange Online does not), so every mechanism carries its secret.
    for (auto& keyword : config.profile.ehlo_after_tls)
      if (keyword == "AUTH LOGIN XOAUTH2") keyword = "AUTH LOGIN PLAIN XOAUTH2";
    config.credentials = server_credentials("mail.sendcheck.test");
    config.command_timeout = 3000ms;
    server = start_server(std::move(config));
    ca_file = dir.file("ca.pem", pki().ca_pem);
  }
  std::string port() const { return std::to_string(server->port()); }
};

}  // namespace

TEST_CASE("secrets: sendcheck-probe with every mechanism and output mode", "[secrets][probe]") {
  SubmissionServer submission(smtp::BasicAuthAnswer::accept);
  HttpServer identity(200, R"({"token_type":"Bearer","expires_in":3599,"access_token":")" + access_token + R"("})");
  TempDir dir;
  const auto password_file = dir.file("password", password + "\n");
  const auto token_file = dir.file("token", access_token + "\n");
  const auto secret_file = dir.file("client-secret", client_secret + "\n");
  const std::vector<std::string> base = {bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", submission.port(), "--ca",
                                         submission.ca_file, "--user", user, "--from", user, "--rcpt", "alice@contoso.example",
                                         "--timeout", "3", "--dns", "127.0.0.1:9", "--no-color"};
  const std::vector<std::pair<std::string, std::vector<std::string>>> ways = {
      {"LOGIN, password file", {"--auth", "login", "--password-file", password_file}},
      {"PLAIN, password file", {"--auth", "plain", "--password-file", password_file}},
      {"LOGIN, SENDCHECK_PASSWORD", {"--auth", "login"}},
      {"XOAUTH2, token file", {"--auth", "xoauth2", "--oauth-token-file", token_file}},
      {"XOAUTH2, client credentials",
       {"--auth", "xoauth2", "--tenant", "contoso.example", "--client-id", "11111111-2222-3333-4444-555555555555",
        "--client-secret-file", secret_file, "--token-endpoint", identity.url()}},
  };
  for (const auto& [way, args] : ways) {
    for (const auto& mode : output_modes) {
      const auto run = run_program(joined(joined(base, args), mode), 20s, {"SENDCHECK_PASSWORD=" + password});
      INFO(way << ", " << mode_name(mode) << "\n" << run.out << run.err);
      CHECK(run.exit_code == 0);  // authenticated: the secret was used, just never shown
      require_no_secret("probe " + way + " " + mode_name(mode), run);
    }
  }
  CHECK(identity.requests().size() == output_modes.size());
}

TEST_CASE("secrets: a token endpoint that echoes the client secret", "[secrets][probe]") {
  HttpServer echo(400, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: )" +
                           client_secret + R"("})");
  TempDir dir;
  const auto secret_file = dir.file("client-secret", client_secret + "\n");
  for (const auto& mode : output_modes) {
    const auto run = run_program(joined({bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", "9", "--auth", "xoauth2", "--user",
                                         user, "--tenant", "contoso.example", "--client-id", "1", "--client-secret-file",
                                         secret_file, "--token-endpoint", echo.url(), "--dns", "127.0.0.1:9"},
                                        mode),
                                 20s);
    CHECK(run.exit_code == 1);  // the endpoint refusing the secret is a finding, with its fix
    CHECK_THAT(run.err + run.out, Catch::Contains("AADSTS7000215"));
    require_no_secret("probe, echoing endpoint, " + mode_name(mode), run);
  }
}

TEST_CASE("secrets: sendcheck-preflight smtp-auth and hve in every output mode", "[secrets][preflight]") {
  SubmissionServer retired(smtp::BasicAuthAnswer::retired_30);
  HttpServer identity(200, R"({"token_type":"Bearer","expires_in":3599,"access_token":")" + access_token + R"("})");
  TempDir dir;
  const auto password_file = dir.file("password", password + "\n");
  const auto token_file = dir.file("token", access_token + "\n");
  const auto secret_file = dir.file("client-secret", client_secret + "\n");
  const std::string zone = fixtures::source_path("fixtures/preflight/preflight.zone");
  const std::vector<std::string> base = {bin_dir + "/sendcheck-preflight", "contoso.example", "--smtp-host", "127.0.0.1",
                                         "--smtp-port", retired.port(), "--ca", retired.ca_file, "--zone", zone, "--user", user,
                                         "--from", user, "--to", "alice@contoso.example", "--timeout", "3", "--no-color"};
  const std::vector<std::pair<std::string, std::vector<std::string>>> ways = {
      {"smtp-auth, password file", {"--method", "smtp-auth", "--password-file", password_file}},
      {"smtp-auth, SENDCHECK_PASSWORD", {"--method", "smtp-auth"}},
      {"smtp-auth, token file", {"--method", "smtp-auth", "--oauth-token-file", token_file, "--device-auth", "oauth"}},
      {"smtp-auth, client credentials",
       {"--method", "smtp-auth", "--tenant", "contoso.example", "--client-id", "1", "--client-secret-file", secret_file,
        "--token-endpoint", identity.url(), "--device-auth", "oauth-app"}},
      {"hve, password file", {"--method", "hve", "--password-file", password_file}},
  };
  auto modes = output_modes;
  modes.push_back({"--markdown"});
  modes.push_back({"--markdown", "-v"});
  for (const auto& [way, args] : ways) {
    for (const auto& mode : modes) {
      const auto run = run_program(joined(joined(base, args), mode), 30s, {"SENDCHECK_PASSWORD=" + password});
      INFO(way << ", " << mode_name(mode) << "\n" << run.out << run.err);
      // 1: basic auth answered 5.7.30, by design; 3: the marker token is no
      // JWT, which Exchange Online refuses, so the server's yes proves nothing.
      CHECK((run.exit_code == 0 || run.exit_code == 1 || run.exit_code == 3));
      require_no_secret("preflight " + way + " " + mode_name(mode), run);
    }
  }
}

TEST_CASE("secrets: sendcheck-blocklist's DQS key in every output mode", "[secrets][blocklist]") {
  sendcheck::testing::DnsTestServerConfig config;
  auto zone = dns::parse_zone_file(fixtures::source_path("fixtures/blocklist/lists.zone"));
  REQUIRE(zone);
  config.zones.add(std::move(zone).value());
  auto server = sendcheck::testing::DnsTestServer::start(std::move(config));
  REQUIRE(server);
  TempDir dir;
  const auto key_file = dir.file("dqs.key", dqs_key + "\n");
  for (const bool from_file : {true, false}) {
    for (const auto& mode : output_modes) {
      std::vector<std::string> args = {bin_dir + "/sendcheck-blocklist", "--dns", (*server)->endpoint_v4(), "--no-color", "192.0.2.2"};
      std::vector<std::string> env;
      if (from_file) args = joined(args, {"--spamhaus-key-file", key_file});
      else env.push_back("SENDCHECK_SPAMHAUS_KEY=" + dqs_key);
      const auto run = run_program(joined(args, mode), 20s, env);
      CHECK(run.exit_code == 1);  // listed: the key was used
      require_no_secret(std::string("blocklist ") + (from_file ? "key file " : "key env ") + mode_name(mode), run);
    }
  }
  CHECK((*server)->queries_received("2.2.0.192." + dqs_key + ".zen.dq.spamhaus.net", dns::RrType::A) ==
        2 * output_modes.size());
}

TEST_CASE("secrets: sendcheck-listen's reports of a client's AUTH", "[secrets][listen]") {
  for (const bool json : {false, true}) {
    const std::uint16_t port_number = free_port();
    const std::string port = std::to_string(port_number);
    std::vector<std::string> args = {bin_dir + "/sendcheck-listen", "--port", port, "--profile", "exo-submission",
                                     "--basic-auth", "accept", "--sessions", "4", "--timeout", "5", "-v"};
    if (json) args.push_back("--json");
    RunResult listen;
    std::thread listener([&] { listen = run_program(args, 30s); });
    REQUIRE(wait_for_port(port_number));  // session 1
    TempDir dir;
    const auto token_file = dir.file("token", access_token + "\n");
    // Sessions 2-4: LOGIN and PLAIN with the password, XOAUTH2 with the token.
    for (const auto& way : std::vector<std::vector<std::string>>{{"--auth", "login"}, {"--auth", "plain"},
                                                                 {"--auth", "xoauth2", "--oauth-token-file", token_file}}) {
      const auto run = run_program(joined({bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", port, "--user", user,
                                           "--starttls", "require", "--timeout", "5", "--dns", "127.0.0.1:9", "--insecure-auth"},
                                          way),
                                   20s, {"SENDCHECK_PASSWORD=" + password});
      require_no_secret("probe against listen " + way[1], run);
    }
    listener.join();
    INFO(listen.out << listen.err);
    CHECK(listen.exit_code == 1);  // basic authentication seen: a device that will break
    CHECK_THAT(listen.out, Catch::Contains(user));  // the user name is reported, the secret is not
    CHECK_THAT(listen.out, Catch::Contains("XOAUTH2"));
    require_no_secret(std::string("listen ") + (json ? "--json" : "text"), listen);
  }
}

TEST_CASE("secrets: the other tools, with the secrets in their environment and input", "[secrets]") {
  const std::vector<std::string> env = {"SENDCHECK_PASSWORD=" + password, "SENDCHECK_SPAMHAUS_KEY=" + dqs_key};
  const std::string zone = fixtures::source_path("fixtures/preflight/preflight.zone");
  // A device log as an admin pastes it into explain: the AUTH lines carry
  // the base64 of the secrets; explain must not repeat them.
  TempDir dir;
  const std::string log = dir.file(
      "device.log", "C: EHLO printer\nS: 250 AUTH LOGIN PLAIN XOAUTH2\nC: AUTH PLAIN " +
                        smtp::base64_encode(std::string("\0", 1) + user + std::string("\0", 1) + password) +
                        "\nS: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.\n"
                        "C: AUTH XOAUTH2 " + smtp::base64_encode("user=" + user + "\x01" + "auth=Bearer " + access_token + "\x01\x01") +
                        "\nS: 535 5.7.3 Authentication unsuccessful\n");
  for (const auto& mode : output_modes) {
    for (const auto& command : std::vector<std::vector<std::string>>{
             {bin_dir + "/sendcheck-mx", "--zone", zone, "contoso.example"},
             {bin_dir + "/sendcheck-spf", "--zone", zone, "--ip", "192.0.2.10", "contoso.example"},
             {bin_dir + "/sendcheck-explain", "--file", log},
             {bin_dir + "/sendcheck", "demo"}}) {
      const auto run = run_program(joined(command, mode), 20s, env);
      INFO(command[0] << " " << mode_name(mode) << "\n" << run.out << run.err);
      CHECK(run.exit_code >= 0);
      CHECK(run.exit_code <= 1);
      require_no_secret(command[0] + " " + mode_name(mode), run);
    }
  }
}

// The Graph client (sendcheck-inventory's online half) against peers that
// echo every byte they were sent (form, headers) into their error answers:
// no failure message may carry the client secret, the access token, a
// refresh token, the device code or the client assertion.
TEST_CASE("secrets: the Graph client's failures, against echoing peers", "[secrets][graph]") {
  const std::string device_code = "Dc-MaRkEr-9911-device";
  const std::string refresh_token = "Rt-MaRkEr-5150-refresh";
  std::vector<std::string> assertions;
  graph_testing::HttpsMockServer echo([&](const graph_testing::MockRequest& request) {
    graph_testing::MockResponse response;
    std::string everything = request.target + " " + request.body;
    for (const auto& [name, value] : request.headers) everything += " " + name + ": " + value;
    const auto form = request.form();
    if (form.count("client_assertion")) assertions.push_back(form.at("client_assertion"));
    if (request.path.ends_with("/devicecode")) {
      response.body = R"({"device_code":")" + device_code + R"(","user_code":"U-1","verification_uri":"https://microsoft.com/devicelogin","interval":1})";
    } else if (request.path.ends_with("/token") && form.count("grant_type") && form.at("grant_type") == "client_credentials" &&
               !form.count("client_assertion") && request.target.find("good") != std::string::npos) {
      response.body = R"({"token_type":"Bearer","expires_in":3599,"access_token":")" + access_token + R"(","refresh_token":")" +
                      refresh_token + R"("})";
    } else if (request.path.ends_with("/token")) {
      response.status = 401;
      response.body = nlohmann::json{{"error", "invalid_client"}, {"error_description", "AADSTS7000215: echo " + everything}}.dump();
    } else {
      response.status = 403;
      response.body = nlohmann::json{{"error", {{"code", "Authorization_RequestDenied"}, {"message", "echo " + everything}}}}.dump();
    }
    return response;
  });
  graph::Settings settings;
  settings.endpoints = {echo.base_url(), echo.base_url(), echo.base_url()};
  settings.tenant = "contoso.example";
  settings.ca_file = echo.ca_file();
  settings.sleep = [](std::chrono::milliseconds) {};
  graph::SignInQuery query;
  std::vector<std::string> messages;
  const auto run = [&](graph::TokenSource& tokens, graph::Settings use) {
    graph::Client client(use, tokens);
    auto signins = client.signins(graph::SignInLog::interactive, query, {});
    CHECK_FALSE(signins.ok());
    if (!signins.ok()) messages.push_back(signins.failure().message);
    auto exchange = client.exchange_settings();
    CHECK_FALSE(exchange.ok());
    if (!exchange.ok()) messages.push_back(exchange.failure().message);
  };
  auto secret_tokens = graph::client_secret_tokens(settings, "client-1", client_secret);
  run(*secret_tokens, settings);
  auto good = settings;
  good.tenant = "good.example";  // this tenant gets a token: the Graph and admin-API echo carry it
  auto good_tokens = graph::client_secret_tokens(good, "client-1", client_secret);
  run(*good_tokens, good);
  tls::CertificateSpec spec;
  spec.key_type = tls::KeyType::rsa2048;
  auto certificate = tls::generate_certificate(spec);
  REQUIRE(certificate);
  auto certificate_tokens = graph::client_certificate_tokens(
      settings, "client-1", std::make_shared<tls::Credentials>(std::move(certificate).value()));
  run(*certificate_tokens, settings);
  auto device_tokens = graph::device_code_tokens(settings, "client-1", [](const oauth::DeviceCode&) {});
  run(*device_tokens, settings);

  REQUIRE(messages.size() == 8);
  REQUIRE_FALSE(assertions.empty());
  for (const auto& message : messages) {
    require_no_secret("graph failure", message);
    CHECK(message.find(device_code) == std::string::npos);
    CHECK(message.find(refresh_token) == std::string::npos);
    for (const auto& assertion : assertions) CHECK(message.find(assertion.substr(0, 40)) == std::string::npos);
  }
  CHECK_THAT(messages[0], Catch::Contains("AADSTS7000215"));
  CHECK_THAT(messages[2], Catch::Contains("Authorization_RequestDenied"));
}
