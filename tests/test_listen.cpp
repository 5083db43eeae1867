// sendcheck-listen as a process: a real client from Debian (swaks) doing
// STARTTLS and AUTH LOGIN, and our own probe against each profile.
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "json_schema.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

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
  json_schema::check_valid("sendcheck-listen", run.out);
  const auto reports = listen_sessions(run.out);
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
  CHECK((*session)["verdict"]["verdict"] == "basic-auth");
  CHECK((*session)["verdict"]["outcome"] == "breaks");
  CHECK((*session)["verdict"]["exit_code"] == 1);
  // The envelope every tool shares, with one check for the device.
  const auto document = nlohmann::json::parse(run.out);
  CHECK(document["tool"] == "sendcheck-listen");
  CHECK(document["status"] == "fail");
  bool device_check = false;
  for (const auto& check : document["checks"])
    device_check = device_check || (check["id"] == "listen.device" && check["status"] == "fail" && check["verdict"] == "basic-auth");
  CHECK(device_check);
  for (const auto& secret : {std::string("Sw4ks-Secret-Pw"), base64_encode("Sw4ks-Secret-Pw")}) {
    CHECK(run.out.find(secret) == std::string::npos);
    CHECK(run.err.find(secret) == std::string::npos);
  }
}

TEST_CASE("sendcheck-listen --json without --sessions: JSON Lines, an envelope a session as it ends, then the summary",
          "[listen][probe]") {
  const auto port = free_port();
  const fixtures::TemporaryDirectory directory("listen-lines");
  const std::string pid_file = directory.path("pid");
  RunResult run;
  // exec keeps the shell's PID, written first: the listener is stopped as an admin stops it.
  std::thread listener([&] {
    run = run_program({"sh", "-c", "echo $$ > \"$0\"; exec \"$1\" --port \"$2\" --json --timeout 5", pid_file, listen_tool,
                       std::to_string(port)},
                      60s);
  });
  const bool listening = wait_for_port(port);
  if (listening) {
    const auto probe = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(port), "--starttls", "never", "--from",
                                    "scanner@contoso.example", "--rcpt", "staff@contoso.example", "--helo",
                                    "scanner.contoso.example", "--timeout", "3", "--dns", "127.0.0.1:9"});
    INFO(probe.out << probe.err);
    CHECK(probe.exit_code == 0);
    std::ifstream in(pid_file);
    pid_t pid = 0;
    in >> pid;
    REQUIRE(pid > 0);
    ::kill(pid, SIGTERM);
  }
  listener.join();
  REQUIRE(listening);
  INFO(run.out << run.err);
  const auto lines = json_lines(run.out);
  REQUIRE(lines.size() == 3);  // the readiness check's session, the probe's, the summary
  json_schema::check_valid("sendcheck-listen", run.out);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    CHECK(lines[i]["tool"] == "sendcheck-listen");
    CHECK(lines[i]["sessions"].size() == 1);
    CHECK_FALSE(lines[i].contains("summary"));
  }
  CHECK(lines[1]["sessions"][0]["ehlo"] == "scanner.contoso.example");
  CHECK(lines[1]["checks"][0]["id"] == "listen.device");
  const auto& closing = lines.back();
  CHECK_FALSE(closing.contains("sessions"));
  REQUIRE(closing.contains("summary"));
  CHECK(closing["summary"]["sessions"] == 2);
  CHECK(closing["checks"][0] == lines[1]["checks"][0]);  // every session's check again, for the status
  CHECK(run.exit_code == closing["summary"]["exit_code"]);
}

TEST_CASE("sendcheck-listen text report and the probe against exo-submission", "[listen][probe]") {
  Listener listener({"--profile", "exo-submission", "--basic-auth", "retired", "--no-color"}, 1);
  const auto probe = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(listener.port), "--auth", "login",
                                  "--user", "dev@contoso.example", "--helo", "device.contoso.example", "--timeout", "3", "--insecure-auth",
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

TEST_CASE("sendcheck-listen --bind takes a host name of this machine", "[listen]") {
  Listener listener({"--bind", "localhost", "--profile", "accept-all"}, 1);
  SessionConfig config = client_config(listener.port);
  config.starttls = StarttlsPolicy::never;
  config.tls_mode = TlsMode::plain;
  config.mail_from = "scanner@contoso.example";
  config.rcpt_to = {"staff@contoso.example"};
  const auto session = run_session(config);
  CHECK_FALSE(session.failure);
  const auto run = listener.finish();
  INFO(run.out << run.err);
  CHECK(run.exit_code != 2);
  CHECK_THAT(run.err, Catch::Contains("listening on localhost port"));
}

TEST_CASE("sendcheck-listen usage errors", "[listen]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--profile", "gmail"}, {"--bind", "no-such-host.invalid"}, {"--cert", "x.pem"}, {"--basic-auth", "maybe"},
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

TEST_CASE("sendcheck-listen --save-dir: a missing directory is bad input, a saved message is the owner's only", "[listen]") {
  const auto missing = run_program({listen_tool, "--port", std::to_string(free_port()), "--save-dir", "/nonexistent/sendcheck-saved"}, 10s);
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("--save-dir"));

  TempDir dir;
  const std::string saved = dir.path() + "/saved";
  std::filesystem::create_directory(saved);
  Listener listener({"--save-dir", saved, "--no-color"}, 1);
  const auto probe = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(listener.port), "--starttls", "never", "--from",
                                  "scanner@contoso.example", "--rcpt", "staff@contoso.example", "--send", "--timeout", "3", "--dns",
                                  "127.0.0.1:9"});
  INFO(probe.out << probe.err);
  const auto run = listener.finish();
  INFO(run.out << run.err);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(saved)) {
    ++files;
    CHECK((entry.status().permissions() & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
  }
  CHECK(files == 1);
}
