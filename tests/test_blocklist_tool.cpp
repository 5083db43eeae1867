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
#include "json_schema.h"

extern char** environ;

using namespace std::chrono_literals;

namespace {

const std::string blocklist_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-blocklist";
const std::string dqs_key = "abcdefghijklmnopqrstuvwxyz";  // the fixture's DQS zone label

struct Run {
  int exit_code = -1;
  std::string out, err;
};

class ScratchDirectory {
 public:
  ScratchDirectory() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("sendcheck-test-blocklist-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the tool with stdout and stderr in files, the environment without
// NO_COLOR and the key variables plus `extra_env`, killed after 20 s.
Run run_tool(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  ScratchDirectory scratch;
  const std::string out_path = scratch.path("out"), err_path = scratch.path("err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv_strings = {blocklist_tool};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (entry.rfind("NO_COLOR=", 0) == 0 || entry.rfind("SENDCHECK_", 0) == 0) continue;
    env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, blocklist_tool.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) FAIL("cannot run " << blocklist_tool);
  Run result;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("sendcheck-blocklist did not finish in 20 s");
    }
    std::this_thread::sleep_for(5ms);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
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
  const auto key_file = scratch.write("dqs.key", "# Spamhaus DQS\n" + dqs_key + "\n");
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
