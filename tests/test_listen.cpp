// sendcheck-listen as a process: a real client from Debian (swaks) doing
// STARTTLS and AUTH LOGIN, and our own probe against each profile.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag::smtp;

namespace {

const std::string probe_tool = bin_dir + "/sendcheck-probe";

}  // namespace

TEST_CASE("sendcheck-listen reports swaks doing STARTTLS and AUTH LOGIN", "[listen][swaks]") {
  if (auto missing = peer_missing({"swaks"})) return skip_or_fail(*missing);
  Listener listener({"--profile", "accept-all", "--json"}, 1);
  const auto swaks = run_program({"swaks", "--server", "127.0.0.1:" + std::to_string(listener.port), "--tls", "--auth",
                                  "LOGIN", "--auth-user", "printer@contoso.example", "--auth-password", "Sw4ks-Secret-Pw",
                                  "--from", "printer@contoso.example", "--to", "staff@contoso.example", "--header",
                                  "Subject: scan from the 3rd floor", "--helo", "printer.contoso.example"},
                                 20s);
  INFO(swaks.out << swaks.err);
  CHECK(swaks.exit_code == 0);
  const auto run = listener.finish();
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);  // basic authentication: a device that will break
  const auto reports = json_lines(run.out);
  const nlohmann::json* session = nullptr;
  for (const auto& report : reports)
    if (report.value("ehlo", nlohmann::json()) == "printer.contoso.example") session = &report;
  REQUIRE(session);
  CHECK((*session)["starttls"] == true);
  CHECK((*session)["tls"]["version"] == "TLSv1.3");
  CHECK((*session)["auth"]["mechanism"] == "LOGIN");
  CHECK((*session)["auth"]["user"] == "printer@contoso.example");
  CHECK((*session)["mail_from"] == "printer@contoso.example");
  CHECK((*session)["rcpt_to"][0] == "staff@contoso.example");
  CHECK((*session)["message"]["subject"] == "scan from the 3rd floor");
  CHECK((*session)["verdict"] == "basic-auth");
  for (const auto& secret : {std::string("Sw4ks-Secret-Pw"), base64_encode("Sw4ks-Secret-Pw")}) {
    CHECK(run.out.find(secret) == std::string::npos);
    CHECK(run.err.find(secret) == std::string::npos);
  }
}

TEST_CASE("sendcheck-listen text report and the probe against exo-submission", "[listen][probe]") {
  Listener listener({"--profile", "exo-submission", "--basic-auth", "retired", "--no-color"}, 1);
  const auto probe = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(listener.port), "--auth", "login",
                                  "--user", "dev@contoso.example", "--helo", "device.contoso.example", "--timeout", "3",
                                  "--dns", "127.0.0.1:9", "--json"},
                                 20s, {"SENDCHECK_PASSWORD=Pr0be-Secret"});
  INFO(probe.out << probe.err);
  CHECK(probe.exit_code == 1);
  const auto doc = nlohmann::json::parse(probe.out);
  CHECK(doc["targets"][0]["auth"]["attempt"]["reply"]["enhanced"] == "5.7.30");
  CHECK(doc["targets"][0]["tls"]["certificate"]["chain_trusted"] == false);  // generated self-signed
  const auto run = listener.finish();
  INFO(run.out << run.err);
  CHECK_THAT(run.out, Catch::Contains("session from 127.0.0.1:"));
  CHECK_THAT(run.out, Catch::Contains("EHLO: device.contoso.example"));
  CHECK_THAT(run.out, Catch::Contains("AUTH: LOGIN as dev@contoso.example (refused: 550 5.7.30"));
  CHECK_THAT(run.out, Catch::Contains("verdict: basic-auth (breaks)"));
  CHECK(run.out.find("Pr0be-Secret") == std::string::npos);
  CHECK_THAT(run.err, Catch::Contains("listening on 127.0.0.1 port"));
}

TEST_CASE("sendcheck-listen usage errors", "[listen]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--profile", "gmail"}, {"--bind", "localhost"}, {"--cert", "x.pem"}, {"--basic-auth", "maybe"},
           {"--profile", "accept-all", "--accept-domain", "x.example"}, {"--session-timeout", "0"},
           {"--session-timeout", "-5"}, {"--session-timeout", "soon"}, {"--session-timeout", "1e9"}}) {
    std::vector<std::string> argv{listen_tool};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto run = run_program(argv, 10s);
    INFO(args[0] << ": " << run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-listen: error: "));
  }
}
