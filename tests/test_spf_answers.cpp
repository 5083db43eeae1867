// SPF results that depend on the answers alone: not on the order an RRset
// comes in, not on which answer arrives first, not on prefetched questions
// the evaluation never needed. Served by the loopback DNS server with
// timeouts injected on one of several names, both orders, delays, repeated.
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "diag/resolver.h"
#include "diag/spf.h"
#include "diag/zone.h"
#include "dns_test_server.h"

using namespace std::chrono_literals;
using namespace diag::spf;
using diag::IpAddress;
using diag::dns::RrType;
using sendcheck::testing::any_type;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;

namespace {

constexpr const char* soa = "@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\n";

// A zone below answers.test; the reverse zone of 192.0.2.0/24 and of
// 2001:db8::/64 come with it, so that ptr has somewhere to ask.
std::unique_ptr<DnsTestServer> serve(const std::string& records, const std::string& reverse_records = "",
                                     const std::string& reverse6_records = "") {
  DnsTestServerConfig config;
  auto add = [&](const std::string& origin, const std::string& body) {
    auto zone = diag::dns::parse_zone_text("$ORIGIN " + origin + ".\n$TTL 300\n" + soa + body, origin);
    REQUIRE(zone);
    config.zones.add(std::move(zone.value()));
  };
  add("answers.test", records);
  add("2.0.192.in-addr.arpa", reverse_records);
  add("0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", reverse6_records);
  auto server = DnsTestServer::start(std::move(config));
  REQUIRE(server);
  return std::move(server.value());
}

IpAddress ip(const char* text) {
  auto parsed = IpAddress::parse(text);
  REQUIRE(parsed);
  return *parsed;
}

struct Timed {
  SpfEvaluation evaluation;
  std::chrono::milliseconds elapsed{0};
};

Timed check(const DnsTestServer& server, const char* address, const std::string& domain, bool prefetch = true,
            std::chrono::milliseconds attempt = 300ms) {
  diag::dns::ResolverConfig config;
  config.servers.push_back(*diag::dns::parse_server_address(server.endpoint_v4()));
  config.attempt_timeout = attempt;
  config.tries = 1;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  REQUIRE(resolver);
  NetworkSpfResolver spf_resolver(**resolver);
  AnswerCache cache;
  CheckHostInput input;
  input.ip = ip(address);
  input.sender = "someone@" + domain;
  input.helo = "helo.answers.test";
  input.timestamp = 1;
  EngineOptions options;
  options.prefetch = prefetch;
  const auto start = std::chrono::steady_clock::now();
  Timed out;
  out.evaluation = check_host(spf_resolver, cache, input, options);
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return out;
}

// Every combination of: prefetch on and off, no delay or a delay on each
// named host, two runs each: one result, the one expected. One attempt of
// 300 ms against answers delayed 40 ms: a margin for a busy machine, since
// a delayed answer that timed out would change the result.
void expect_one_result(DnsTestServer& server, const char* address, const std::string& domain,
                       const std::vector<std::string>& delayed, SpfResult expected) {
  std::vector<std::string> delay_plans{""};
  delay_plans.insert(delay_plans.end(), delayed.begin(), delayed.end());
  for (const auto& slow : delay_plans) {
    server.clear_faults();
    server.add_fault("gone.answers.test", any_type, Fault{FaultAction::drop});
    if (!slow.empty()) server.add_fault(slow, any_type, Fault::delayed_by(40ms));
    for (bool prefetch : {true, false})
      for (int run = 0; run < 2; ++run) {
        INFO(domain << " from " << address << ", delayed: " << (slow.empty() ? "none" : slow) << ", prefetch " << prefetch
                    << ", run " << run);
        const auto result = check(server, address, domain, prefetch).evaluation;
        INFO(result.reason);
        CHECK(to_string(result.result) == to_string(expected));
      }
  }
}

}  // namespace

TEST_CASE("mx: one host timing out while another matches is temperror, in either order", "[spf][answers]") {
  // RFC 7208 5.4 looks up every MX name; section 5 makes a lookup that
  // times out temperror. The matching host listed first or second, answered
  // first or last: the same result.
  auto server = serve(
      "match-first MX 10 hit\nmatch-first MX 20 gone\nmatch-first TXT \"v=spf1 mx -all\"\n"
      "match-last MX 10 gone\nmatch-last MX 20 hit\nmatch-last TXT \"v=spf1 mx -all\"\n"
      "same-pref MX 10 hit\nsame-pref MX 10 gone\nsame-pref TXT \"v=spf1 mx -all\"\n"
      "hit A 192.0.2.10\nhit AAAA 2001:db8::10\ngone A 192.0.2.99\n"
      "both-fine MX 10 hit\nboth-fine MX 20 other\nboth-fine TXT \"v=spf1 mx -all\"\nother A 192.0.2.11\n");
  for (const char* domain : {"match-first.answers.test", "match-last.answers.test", "same-pref.answers.test"})
    expect_one_result(*server, "192.0.2.10", domain, {"hit.answers.test"}, SpfResult::temperror);
  // Without the timeout every host answers and the match decides.
  expect_one_result(*server, "192.0.2.11", "both-fine.answers.test", {"hit.answers.test", "other.answers.test"},
                    SpfResult::pass);
  expect_one_result(*server, "192.0.2.12", "both-fine.answers.test", {"hit.answers.test"}, SpfResult::fail);
  // IPv6: the AAAA of the same hosts.
  expect_one_result(*server, "2001:db8::10", "match-last.answers.test", {"hit.answers.test"}, SpfResult::temperror);
}

TEST_CASE("a and exists: the first term that decides, whatever answers first", "[spf][answers]") {
  // Terms are evaluated left to right (RFC 7208 4.6.2): a match before the
  // term whose lookup times out decides; the timeout before a match is
  // temperror. Prefetching both at once must not change either.
  auto server = serve(
      "a-then-gone TXT \"v=spf1 a:hit.answers.test a:gone.answers.test -all\"\n"
      "gone-then-a TXT \"v=spf1 a:gone.answers.test a:hit.answers.test -all\"\n"
      "exists-then-gone TXT \"v=spf1 exists:%{i}.list.answers.test exists:gone.answers.test -all\"\n"
      "gone-then-exists TXT \"v=spf1 exists:gone.answers.test exists:%{i}.list.answers.test -all\"\n"
      "hit A 192.0.2.10\nhit A 192.0.2.20\ngone A 192.0.2.99\n192.0.2.10.list A 127.0.0.2\n");
  expect_one_result(*server, "192.0.2.10", "a-then-gone.answers.test", {"hit.answers.test"}, SpfResult::pass);
  expect_one_result(*server, "192.0.2.10", "gone-then-a.answers.test", {"hit.answers.test"}, SpfResult::temperror);
  expect_one_result(*server, "192.0.2.10", "exists-then-gone.answers.test", {"192.0.2.10.list.answers.test"},
                    SpfResult::pass);
  expect_one_result(*server, "192.0.2.10", "gone-then-exists.answers.test", {"192.0.2.10.list.answers.test"},
                    SpfResult::temperror);
}

TEST_CASE("ptr: a validated name matches whichever other name times out, in either order", "[spf][answers]") {
  // RFC 7208 5.5: a failed address lookup of one PTR name skips that name;
  // a validated name at or below the target matches. Both PTR orders, the
  // match or the timeout answered first; %{p} picks the same name every run.
  auto server = serve(
      "ptr-rec TXT \"v=spf1 ptr:answers.test -all\"\np-macro TXT \"v=spf1 exists:%{p}.seen.answers.test -all\"\n"
      "hit A 192.0.2.10\ngone A 192.0.2.10\nhit.answers.test.seen A 127.0.0.2\n"
      "z-hit A 192.0.2.20\nm-hit A 192.0.2.20\nm-hit.answers.test.seen A 127.0.0.2\n",
      "10 PTR hit.answers.test.\n10 PTR gone.answers.test.\n"
      "20 PTR z-hit.answers.test.\n20 PTR m-hit.answers.test.\n");
  expect_one_result(*server, "192.0.2.10", "ptr-rec.answers.test", {"hit.answers.test"}, SpfResult::pass);
  expect_one_result(*server, "192.0.2.10", "p-macro.answers.test", {"hit.answers.test"}, SpfResult::pass);
  // Two names validate: %{p} is the same one (in name order) on every run.
  expect_one_result(*server, "192.0.2.20", "p-macro.answers.test", {"m-hit.answers.test", "z-hit.answers.test"},
                    SpfResult::pass);
}

TEST_CASE("ptr: a void PTR lookup counts toward the two void lookups", "[spf][answers][limits]") {
  // RFC 7208 4.6.4: "void lookups" are any lookup with no answer; with the
  // PTR and two a: terms finding nothing, the third void is a permerror.
  auto server = serve("three-voids TXT \"v=spf1 ptr a:none1.answers.test a:none2.answers.test -all\"\n"
                      "two-voids TXT \"v=spf1 ptr a:none1.answers.test -all\"\n");
  const auto three = check(*server, "192.0.2.77", "three-voids.answers.test").evaluation;
  CHECK(three.result == SpfResult::permerror);
  CHECK(three.void_lookups == 3);
  CHECK_THAT(three.reason, Catch::Contains("void lookups"));
  const auto two = check(*server, "192.0.2.77", "two-voids.answers.test").evaluation;
  CHECK(two.result == SpfResult::fail);
  CHECK(two.void_lookups == 2);
}

TEST_CASE("prefetch: an unreached include that times out neither delays nor changes the result", "[spf][answers][prefetch]") {
  // The include after the matching a: term is prefetched in the round that
  // asks for a:'s host; its server never answers. The result is there as
  // soon as the host's address is: far below one attempt of the resolver.
  auto server = serve(
      "root TXT \"v=spf1 a:hit.answers.test include:gone.answers.test -all\"\nhit A 192.0.2.10\n"
      "deep TXT \"v=spf1 include:mid.answers.test -all\"\n"
      "mid TXT \"v=spf1 a:hit.answers.test include:gone.answers.test a:gone.answers.test mx:gone.answers.test\"\n");
  server->add_fault("gone.answers.test", any_type, Fault{FaultAction::drop});
  constexpr auto attempt = 4000ms;
  for (const char* domain : {"root.answers.test", "deep.answers.test"})
    for (int run = 0; run < 3; ++run) {
      INFO(domain << " run " << run);
      const auto timed = check(*server, "192.0.2.10", domain, true, attempt);
      CHECK(timed.evaluation.result == SpfResult::pass);
      CHECK(timed.elapsed < attempt / 2);
      // A later address reaching the include still gets its temperror.
      const auto reached = check(*server, "192.0.2.11", domain, true, 200ms);
      CHECK(reached.evaluation.result == SpfResult::temperror);
    }
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST_CASE("sendcheck-spf: a definite result next to an unreached branch that times out exits by the result, quickly",
          "[spf][tool][answers]") {
  const std::string tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-spf";
  REQUIRE(std::filesystem::exists(tool));  // unit_tests depends on every tool
  auto server = serve("root TXT \"v=spf1 a:hit.answers.test include:gone.answers.test ~all\"\nhit A 192.0.2.10\n");
  server->add_fault("gone.answers.test", any_type, Fault{FaultAction::drop});
  // --timeout 14 with 3 tries: one attempt is 2 s; the whole wait would be 14 s.
  constexpr auto timeout = 14s;
  const std::string out = std::filesystem::temp_directory_path() / ("spf-answers-" + std::to_string(::getpid()) + ".json");
  for (const char* address : {"192.0.2.10", "192.0.2.11"}) {
    INFO(address);
    const auto start = std::chrono::steady_clock::now();
    const std::string command = tool + " root.answers.test --ip " + address + " --json --dns " + server->endpoint_v4() +
                                " --timeout " + (std::string(address) == "192.0.2.10" ? std::to_string(timeout.count()) : "1") +
                                " >" + out;
    const int status = std::system(command.c_str());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto doc = nlohmann::json::parse(slurp(out));
    REQUIRE(WIFEXITED(status));
    if (std::string(address) == "192.0.2.10") {
      // pass; the include nobody needed is a warning about the record.
      CHECK(WEXITSTATUS(status) == 0);
      CHECK(doc["results"][0]["result"] == "pass");
      CHECK(doc["status"] == "warn");
      bool unresolved_warning = false;
      for (const auto& check : doc["checks"])
        unresolved_warning = unresolved_warning || (check["id"] == "spf.include-unresolved" &&
                                                    check["status"] == "warn");
      CHECK(unresolved_warning);
      CHECK(elapsed < timeout / 2);
    } else {
      // No match before the include: it is needed, and it times out (here
      // with --timeout 1, to keep the test short).
      CHECK(WEXITSTATUS(status) == 3);
      CHECK(doc["results"][0]["result"] == "temperror");
    }
  }
  std::filesystem::remove(out);
}

TEST_CASE("sendcheck-spf: an unreached broken include answered near the wait's end never changes the exit code",
          "[spf][tool][answers]") {
  const std::string tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-spf";
  REQUIRE(std::filesystem::exists(tool));  // unit_tests depends on every tool
  // The device matches before the include; the include's record is broken
  // and arrives about when the tree stops waiting (--timeout 7: one attempt
  // is 1 s). Arriving or not, it is domain health: exit 0 every time.
  auto server = serve("root TXT \"v=spf1 ip4:198.51.100.62 include:late.answers.test -all\"\nlate TXT \"v=spf1 ip4:85.62.0.0/16 bogus -all\"\n");
  for (const int delay : {950, 1000, 1050}) {
    server->add_fault("late.answers.test", any_type, Fault::delayed_by(std::chrono::milliseconds(delay)));
    const std::string out = std::filesystem::temp_directory_path() / ("spf-late-" + std::to_string(::getpid()) + ".json");
    const std::string command = tool + " root.answers.test --ip 198.51.100.62 --json --timeout 7 --dns " + server->endpoint_v4() + " >" + out;
    const int status = std::system(command.c_str());
    INFO("delay " << delay);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const auto doc = nlohmann::json::parse(slurp(out));
    CHECK(doc["results"][0]["result"] == "pass");
    CHECK(doc["status"] == "warn");
    std::filesystem::remove(out);
  }
}
