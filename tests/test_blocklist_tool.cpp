// sendcheck-blocklist as a user runs it: exit codes, the one-line error on
// stderr, JSON on stdout, --zones, --egress wired to local servers, and the
// Spamhaus DQS key never reaching stdout, stderr, JSON or the -v log. The
// DNS server is the in-process DnsTestServer, which the child reaches over
// loopback; nothing leaves the machine.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns_test_server.h"
#include "fixture_zones.h"
#include "smtp_test_support.h"
#include "json_schema.h"

extern char** environ;

using namespace std::chrono_literals;

namespace {

const std::string blocklist_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-blocklist";
const std::string dqs_key = "abcdefghijklmnopqrstuvwxyz";  // the fixture's DQS zone label

using Run = smtp_testing::RunResult;
using ScratchDirectory = fixtures::TemporaryDirectory;
using smtp_testing::read_file;

// Runs the tool with the environment without NO_COLOR and the key variables,
// plus `extra_env`, killed after 20 s.
Run run_tool(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv{blocklist_tool};
  argv.insert(argv.end(), args.begin(), args.end());
  return smtp_testing::run_program(argv, 20s, extra_env, "", {"NO_COLOR=", "SENDCHECK_"});
}

std::unique_ptr<sendcheck::testing::DnsTestServer> start_server() {
  sendcheck::testing::DnsTestServerConfig config;
  auto zone = diag::dns::parse_zone_file(fixtures::source_path("fixtures/blocklist/lists.zone"));
  if (!zone) FAIL(zone.error().message);
  config.zones.add(std::move(zone).value());
  auto server = sendcheck::testing::DnsTestServer::start(std::move(config));
  if (!server) FAIL(server.error().message);
  return std::move(server).value();
}

nlohmann::json parse_json(const std::string& text) {
  try {
    auto document = nlohmann::json::parse(text);
    json_schema::check_valid(text);
    return document;
  } catch (const std::exception& e) {
    FAIL("not JSON (" << e.what() << "): " << text);
  }
  return {};
}

void check_one_error_line(const Run& run) {
  CHECK(run.exit_code == 2);
  CHECK(run.out.empty());
  CHECK(run.err.rfind("sendcheck-blocklist: error: ", 0) == 0);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("sendcheck-blocklist: bad input is one line on stderr and exit 2", "[blocklist]") {
  ScratchDirectory scratch;
  SECTION("not an address") {
    const auto run = run_tool({"192.0.2.300", "--dns", "127.0.0.1:9"});
    check_one_error_line(run);
    CHECK(run.err.find("\"192.0.2.300\" is not an IPv4 or IPv6 address") != std::string::npos);
  }
  SECTION("no address") { check_one_error_line(run_tool({"--dns", "127.0.0.1:9"})); }
  SECTION("a key on the command line is not an option") {
    check_one_error_line(run_tool({"--spamhaus-key", dqs_key, "192.0.2.1"}));
  }
  SECTION("a broken --zones file names file and line") {
    const auto path = scratch.write("bad.zones", "list x\n  zone x.example\n  code 10.0.0.1 listed fail no\n");
    const auto run = run_tool({"--zones", path, "192.0.2.1"});
    check_one_error_line(run);
    CHECK(run.err.find(path + ":3: code \"10.0.0.1\" is outside 127.0.0.0/8") != std::string::npos);
  }
  SECTION("a DQS key of the wrong length, without quoting it") {
    const auto run = run_tool({"192.0.2.1"}, {"SENDCHECK_SPAMHAUS_KEY=secretsecret123"});
    check_one_error_line(run);
    CHECK(run.err.find("secretsecret123") == std::string::npos);
  }
  SECTION("an unknown --list") { check_one_error_line(run_tool({"--list", "sorbs", "192.0.2.1"})); }
}

TEST_CASE("sendcheck-blocklist: exit 1 when listed, 0 when clean, 3 when a list could not be asked", "[blocklist]") {
  auto server = start_server();
  const std::string dns = server->endpoint_v4();
  const auto listed = run_tool({"--json", "--dns", dns, "192.0.2.2"});
  CHECK(listed.exit_code == 1);
  const auto json = parse_json(listed.out);
  CHECK(json["status"] == "fail");
  CHECK(json["ips"][0]["ip"] == "192.0.2.2");
  CHECK(json["lists_queried"] == 11);

  const auto clean = run_tool({"--dns", dns, "--no-color", "192.0.2.1"});
  CHECK(clean.exit_code == 0);
  CHECK(clean.out.find("is not listed on any of the 11 lists that answered") != std::string::npos);
  CHECK(clean.err.empty());

  server->add_fault("1.2.0.192.bl.spamcop.net", diag::dns::RrType::A,
                    sendcheck::testing::Fault{sendcheck::testing::FaultAction::drop});
  const auto timeout = run_tool({"--json", "--timeout", "0.3", "--dns", dns, "192.0.2.1"});
  CHECK(timeout.exit_code == 3);
  CHECK(parse_json(timeout.out)["ips"][0]["listings"][1]["status"] == "error");
}

TEST_CASE("sendcheck-blocklist: the DQS key is asked but never printed, not even by -v", "[blocklist]") {
  auto server = start_server();
  ScratchDirectory scratch;
  // Saved by Notepad: a byte-order mark, CRLF, a comment line first.
  const auto key_file = scratch.write("dqs.key", "\xEF\xBB\xBF# Spamhaus DQS\r\n" + dqs_key + "\r\n");
  for (const bool from_file : {true, false}) {
    std::vector<std::string> args = {"--json", "-v", "--dns", server->endpoint_v4(), "192.0.2.2"};
    std::vector<std::string> env;
    if (from_file) {
      args.push_back("--spamhaus-key-file");
      args.push_back(key_file);
    } else {
      env.push_back("SENDCHECK_SPAMHAUS_KEY=" + dqs_key);
    }
    const auto run = run_tool(args, env);
    CHECK(run.exit_code == 1);
    CHECK(run.out.find(dqs_key) == std::string::npos);
    CHECK(run.err.find(dqs_key) == std::string::npos);
    CHECK(run.err.find("***.zen.dq.spamhaus.net") != std::string::npos);
    const auto json = parse_json(run.out);
    bool dqs_listed = false;
    for (const auto& listing : json["ips"][0]["listings"])
      if (listing["id"] == "spamhaus-dqs") dqs_listed = listing["status"] == "listed" && listing["zone"] == "***.zen.dq.spamhaus.net";
    CHECK(dqs_listed);
    REQUIRE(json.contains("queries"));
    CHECK(json["queries"].dump().find("***.zen.dq.spamhaus.net") != std::string::npos);
  }
  CHECK(server->queries_received("2.2.0.192." + dqs_key + ".zen.dq.spamhaus.net", diag::dns::RrType::A) == 2);  // one per run
}

TEST_CASE("sendcheck-blocklist --egress finds the address at the given DNS server and checks it", "[blocklist]") {
  auto server = start_server();
  const auto run = run_tool({"--json", "--egress", "--egress-dns", server->endpoint_v4(), "--egress-url", "none",
                             "--dns", server->endpoint_v4()});
  CHECK(run.exit_code == 0);
  const auto json = parse_json(run.out);
  CHECK(json["egress"]["addresses"] == nlohmann::json::array({"203.0.113.7", "2001:db8::7"}));
  REQUIRE(json["ips"].size() == 2);
  CHECK(json["ips"][0]["origin"] == "egress");
  CHECK(json["checks"][0]["id"] == "blocklist.egress");
  CHECK(json["checks"][0]["status"] == "pass");
}

TEST_CASE("sendcheck-blocklist --dump-zones is a valid --zones file, --list-zones shows it", "[blocklist]") {
  ScratchDirectory scratch;
  const auto dump = run_tool({"--dump-zones"});
  REQUIRE(dump.exit_code == 0);
  const auto path = scratch.write("all.zones", dump.out);
  const auto listed = run_tool({"--zones", path, "--list-zones", "--json"});
  CHECK(listed.exit_code == 0);
  const auto document = parse_json(listed.out);  // the envelope, the table in "lists"
  CHECK(document["tool"] == "sendcheck-blocklist");
  CHECK(document["status"] == "info");
  const auto& json = document["lists"];
  CHECK(json.size() >= 13);
  CHECK(json[0]["id"] == "spamhaus-zen");
  CHECK_FALSE(json[0]["sources"].empty());
}

namespace {

// "a; b (c; d)" -> {"a", "b (c; d)"}: a source's parts, split outside parentheses.
std::vector<std::string> source_parts(const std::string& source) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '(') ++depth;
    if (source[i] == ')') --depth;
    if (depth == 0 && source.compare(i, 2, "; ") == 0) {
      parts.emplace_back();
      ++i;
      continue;
    }
    parts.back() += source[i];
  }
  return parts;
}

void check_no_internal_citation(const std::string& text) {
  for (const char* internal : {"dnsbl-facts", "../shared", "shared/reference", "\xc2\xa7" /* § */, "man/sendcheck"})
    CHECK_THAT(text, !Catch::Contains(internal));
}

}  // namespace

TEST_CASE("sendcheck-blocklist cites public URLs only: every source a link, no internal document named", "[blocklist]") {
  const auto dump = run_tool({"--dump-zones"});
  REQUIRE(dump.exit_code == 0);
  check_no_internal_citation(dump.out);
  CHECK_THAT(dump.out, Catch::Contains("man sendcheck-blocklist"));
  const auto text = run_tool({"--list-zones"});
  REQUIRE(text.exit_code == 0);
  check_no_internal_citation(text.out);
  const auto listed = run_tool({"--list-zones", "--json"});
  REQUIRE(listed.exit_code == 0);
  check_no_internal_citation(listed.out);
  // Named: a range-for over a member of a temporary reads freed memory (ASan).
  const auto listed_json = parse_json(listed.out);
  for (const auto& list : listed_json["lists"]) {
    REQUIRE_FALSE(list["sources"].empty());
    for (const auto& source : list["sources"])
      for (const auto& part : source_parts(source.get<std::string>())) {
        INFO(list["id"].get<std::string>() << ": " << part);
        CHECK((part.find("https://") != std::string::npos || part.find("http://") != std::string::npos));
      }
  }
}
