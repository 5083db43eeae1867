// Resolver::run_until: the caller's answer ends the wait, whatever else is
// still open; what is still open never reaches the caller's callbacks once
// the resolver is gone (the destructor cancels it).
#include <chrono>
#include <memory>

#include <catch2/catch.hpp>

#include "diag/resolver.h"
#include "diag/zone.h"
#include "dns_test_server.h"

using namespace std::chrono_literals;
using diag::dns::RrType;
using sendcheck::testing::any_type;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;

TEST_CASE("Resolver::run_until returns once the caller's answer is in, and open questions are cancelled safely", "[resolver][answers]") {
  auto zone = diag::dns::parse_zone_text(
      "$ORIGIN answers.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\n"
      "fast A 192.0.2.1\nslow A 192.0.2.2\n",
      "answers.test");
  REQUIRE(zone);
  DnsTestServerConfig server_config;
  server_config.zones.add(std::move(zone.value()));
  auto started = DnsTestServer::start(std::move(server_config));
  REQUIRE(started);
  auto& server = started.value();
  server->add_fault("slow.answers.test", any_type, Fault{FaultAction::drop});
  diag::dns::ResolverConfig config;
  config.servers.push_back(*diag::dns::parse_server_address(server->endpoint_v4()));
  config.attempt_timeout = 3000ms;
  config.tries = 1;
  auto calls = std::make_shared<int>(0);
  {
    auto resolver = diag::dns::Resolver::create(std::move(config));
    REQUIRE(resolver);
    bool fast_done = false;
    (*resolver)->query("slow.answers.test", RrType::A, [calls](const diag::dns::Answer&) { ++*calls; });
    (*resolver)->query("fast.answers.test", RrType::A, [&fast_done](const diag::dns::Answer& answer) {
      CHECK(answer.outcome == diag::dns::Outcome::records);
      fast_done = true;
    });
    const auto start = std::chrono::steady_clock::now();
    (*resolver)->run_until([&] { return fast_done; });
    CHECK(fast_done);
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);
    // A deadline ends the wait for the slow one as well.
    const auto before_deadline = std::chrono::steady_clock::now();
    (*resolver)->run_until([] { return false; }, before_deadline + 100ms);
    CHECK(std::chrono::steady_clock::now() - before_deadline < 1500ms);
    CHECK(*calls == 0);
  }  // the destructor cancels the slow question: its callback never runs
  CHECK(*calls == 0);
  CHECK(calls.use_count() == 1);
}

