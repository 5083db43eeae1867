// Hostile peers (issue 8): the resolver against a loopback DNS server that
// lies, loops, floods and stays silent. Every question must end in a
// classified outcome within its budget: no crash, no hang, no records that
// answer another question. What tests/test_resolver.cpp already covers (one
// wrong ID, TC then a whole TCP answer, a two-name CNAME loop across
// servers, a dropped question with one try) is not repeated here.
//
// Timing: every attempt timeout is far longer than a loopback answer takes
// on a loaded two-core machine, and elapsed times are only checked against
// "budget + slack", the slack at least a second.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "diag/resolver.h"
#include "diag/zone.h"
#include "dns_test_server.h"

using namespace std::chrono_literals;
using namespace diag::dns;
using namespace sendcheck::testing;
using Milliseconds = std::chrono::milliseconds;

namespace {

constexpr Milliseconds slack = 1500ms;

// The names every test here asks about.
const char* const hostile_zone_body = R"(
victim IN A     192.0.2.1
alias  IN CNAME victim
bank   IN A     192.0.2.99
)";

// A zone: SOA and NS at the apex, then body (names relative to the apex).
std::string zone_text(const std::string& apex, const std::string& body) {
  return "$ORIGIN " + apex + ".\n$TTL 300\n@ IN SOA ns1." + apex + ". hostmaster." + apex +
         ". 1 3600 600 86400 300\n  IN NS ns1." + apex + ".\nns1 IN A 192.0.2.53\n" + body;
}

// A server holding one zone per (apex, body).
std::unique_ptr<DnsTestServer> serve(const std::vector<std::pair<std::string, std::string>>& zones) {
  DnsTestServerConfig config;
  for (const auto& [apex, body] : zones) {
    auto zone = parse_zone_text(zone_text(apex, body), apex + ".zone");
    if (!zone) FAIL("zone " << apex << ": " << zone.error().message);
    config.zones.add(std::move(zone).value());
  }
  auto server = DnsTestServer::start(std::move(config));
  if (!server) FAIL("test server: " << server.error().message);
  return std::move(server).value();
}

std::unique_ptr<DnsTestServer> serve_hostile_zone() { return serve({{"hostile.test", hostile_zone_body}}); }

// Asks the servers in order, each `tries` times from `attempt` on; keeps the log.
std::unique_ptr<Resolver> resolver_for(const std::vector<const DnsTestServer*>& servers, Milliseconds attempt,
                                       int tries) {
  ResolverConfig config;
  for (const DnsTestServer* server : servers) {
    auto address = parse_server_address(server->endpoint_v4());
    if (!address) FAIL(address.error().message);
    config.servers.push_back(address.value());
  }
  config.attempt_timeout = attempt;
  config.tries = tries;
  config.keep_log = true;
  auto resolver = Resolver::create(std::move(config));
  if (!resolver) FAIL("resolver: " << resolver.error().message);
  return std::move(resolver).value();
}

// What one server may take: c-ares doubles each wait, attempt * (2^tries - 1).
Milliseconds budget_of(Milliseconds attempt, int tries) { return attempt * ((1 << tries) - 1); }

struct TimedAnswer {
  Answer answer;
  Milliseconds elapsed;
};

TimedAnswer resolve_timed(Resolver& resolver, std::string_view name, RrType type) {
  const auto start = std::chrono::steady_clock::now();
  Answer answer = resolver.resolve(name, type);
  return {std::move(answer),
          std::chrono::duration_cast<Milliseconds>(std::chrono::steady_clock::now() - start)};
}

std::string described(const Answer& answer) {
  return std::string(to_string(answer.outcome)) + " (" + answer.detail + ") from " + answer.source;
}

std::vector<std::string> addresses_of(const Answer& answer) {
  std::vector<std::string> out;
  for (const auto& address : answer.addresses()) out.push_back(address.to_string());
  return out;
}

constexpr std::string_view victim = "victim.hostile.test";

// The hostile zone on a server that meets a question for victim's address with fault.
std::unique_ptr<DnsTestServer> serve_with_victim_fault(Fault fault) {
  auto server = serve_hostile_zone();
  server->add_fault(victim, RrType::A, std::move(fault));
  return server;
}

// Asks for victim's address, which the first server is made to fail on:
// the answer must be the expected failure, without records, within the
// servers' budget and the slack.
TimedAnswer check_victim_fails_in_budget(Resolver& resolver, Outcome expected, Milliseconds budget) {
  TimedAnswer timed = resolve_timed(resolver, victim, RrType::A);
  INFO(described(timed.answer) << " after " << timed.elapsed.count() << " ms");
  CHECK(timed.answer.outcome == expected);
  CHECK_FALSE(timed.answer.is_definitive());
  CHECK(timed.answer.records.empty());
  CHECK(timed.elapsed < budget + slack);
  return timed;
}

// The same question, answered truly by `server` after the first one failed.
TimedAnswer check_victim_answered_by(Resolver& resolver, const DnsTestServer& server) {
  TimedAnswer timed = resolve_timed(resolver, victim, RrType::A);
  INFO(described(timed.answer) << " after " << timed.elapsed.count() << " ms");
  CHECK(timed.answer.outcome == Outcome::records);
  CHECK(addresses_of(timed.answer) == std::vector<std::string>{"192.0.2.1"});
  CHECK(timed.answer.source == server.endpoint_v4());
  return timed;
}

}  // namespace

// ---------------------------------------------------------------------------
// 1. Truncation without end

TEST_CASE("TC over UDP and over TCP alike ends in a failure within the budget, never NODATA", "[hostile-dns]") {
  const auto server = serve_with_victim_fault(Fault{FaultAction::truncate_always});
  constexpr int tries = 2;
  constexpr Milliseconds attempt = 500ms;

  SECTION("one server: malformed, each transport asked a bounded number of times") {
    auto resolver = resolver_for({server.get()}, attempt, tries);
    const auto [answer, elapsed] =
        check_victim_fails_in_budget(*resolver, Outcome::malformed, budget_of(attempt, tries));
    CHECK_THAT(answer.detail, Catch::Contains("TC"));
    const std::size_t over_udp = server->queries_received(victim, RrType::A, Transport::udp);
    const std::size_t over_tcp = server->queries_received(victim, RrType::A, Transport::tcp);
    CHECK(over_udp >= 1);
    CHECK(over_udp <= tries);
    CHECK(over_tcp >= 1);  // TC over UDP was followed to TCP ...
    CHECK(over_tcp <= tries);  // ... and TC over TCP did not start a loop
    CHECK(resolver->log().size() == 1);
  }
  SECTION("a second server that answers whole is asked next") {
    const auto second = serve_hostile_zone();
    auto resolver = resolver_for({server.get(), second.get()}, attempt, tries);
    check_victim_answered_by(*resolver, *second);
    REQUIRE(resolver->log().size() == 2);
    CHECK(resolver->log()[0].outcome == Outcome::malformed);
  }
}

// ---------------------------------------------------------------------------
// 2. Answers for other names and other questions

TEST_CASE("Records of another name in the answer are never taken for the asked name's", "[hostile-dns]") {
  const auto server = serve_hostile_zone();
  auto resolver = resolver_for({server.get()}, 1000ms, 2);

  SECTION("beside the name's own records: only those are the answer") {
    server->add_fault(victim, RrType::A, Fault::records_of(FaultAction::extra_name, "bank.hostile.test"));
    const Answer answer = resolver->resolve(victim, RrType::A);
    INFO(described(answer));
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(addresses_of(answer) == std::vector<std::string>{"192.0.2.1"});
    for (const Record& record : answer.records) CHECK(record.owner == "victim.hostile.test");
    // Nor are they kept as the other name's answer: asking it goes to the server.
    const Answer bank = resolver->resolve("bank.hostile.test", RrType::A);
    CHECK(addresses_of(bank) == std::vector<std::string>{"192.0.2.99"});
    CHECK(server->queries_received("bank.hostile.test", RrType::A) == 1);
  }
  SECTION("beside a CNAME chain: only the chain's end is the answer") {
    server->add_fault("alias.hostile.test", RrType::A, Fault::records_of(FaultAction::extra_name, "bank.hostile.test"));
    const Answer answer = resolver->resolve("alias.hostile.test", RrType::A);
    INFO(described(answer));
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(addresses_of(answer) == std::vector<std::string>{"192.0.2.1"});
    REQUIRE(answer.cname_chain.size() == 1);
    CHECK(answer.cname_chain[0].owner == "alias.hostile.test");
  }
  SECTION("in place of the name's records: not records, and not NODATA either") {
    // The name has an address; a server answering for another name must
    // not make it look like it has none.
    server->add_fault(victim, RrType::A, Fault::records_of(FaultAction::other_name, "bank.hostile.test"));
    const Answer answer = resolver->resolve(victim, RrType::A);
    INFO(described(answer));
    CHECK(answer.outcome == Outcome::malformed);
    CHECK_FALSE(answer.is_definitive());
    CHECK(answer.records.empty());
    CHECK_THAT(answer.detail, Catch::Contains("other names") && Catch::Contains("bank.hostile.test"));
  }
}

TEST_CASE("An answer to another question is ignored: timeout within the budget, then the next server",
          "[hostile-dns]") {
  const auto server = serve_with_victim_fault(Fault{FaultAction::other_question});
  constexpr int tries = 2;
  constexpr Milliseconds attempt = 200ms;

  SECTION("one server") {
    auto resolver = resolver_for({server.get()}, attempt, tries);
    check_victim_fails_in_budget(*resolver, Outcome::timeout, budget_of(attempt, tries));
    // The server answered every attempt; the resolver discarded each answer.
    CHECK(server->queries_received(victim, RrType::A) == tries);
  }
  SECTION("fail-over to a server that answers the question asked") {
    const auto second = serve_hostile_zone();
    auto resolver = resolver_for({server.get(), second.get()}, attempt, tries);
    const auto timed = check_victim_answered_by(*resolver, *second);
    CHECK(timed.elapsed < budget_of(attempt, tries) + slack);
  }
}

// ---------------------------------------------------------------------------
// 3. Compression loops

TEST_CASE("A compression pointer loop in the answer is malformed at once", "[hostile-dns]") {
  const auto server = serve_hostile_zone();
  // One long attempt: ending before it runs out shows that nothing waited.
  constexpr Milliseconds attempt = 4000ms;
  auto resolver = resolver_for({server.get()}, attempt, 1);
  const auto check_malformed_fast = [&](FaultAction action) {
    server->add_fault(victim, RrType::A, Fault{action});
    const auto [answer, elapsed] = resolve_timed(*resolver, victim, RrType::A);
    INFO(described(answer));
    CHECK(answer.outcome == Outcome::malformed);
    CHECK(answer.records.empty());
    CHECK_THAT(answer.detail, Catch::Contains("compression pointer") && Catch::Contains("does not point backwards"));
    CHECK(elapsed < attempt);
    CHECK(server->queries_received(victim, RrType::A) == 1);
  };

  SECTION("a pointer to itself, as the owner name") { check_malformed_fast(FaultAction::compression_loop); }
  SECTION("two pointers pointing at each other, in CNAME rdata") {
    check_malformed_fast(FaultAction::compression_pair);
  }
}

// ---------------------------------------------------------------------------
// 4. A 4 KB TXT record

TEST_CASE("A 4 KB TXT record of 255-octet strings arrives whole over TCP and joins as sent", "[hostile-dns]") {
  // An SPF record as a large tenant publishes it: one record, split into
  // character-strings of at most 255 octets (RFC 1035 3.3.14), which SPF
  // joins without separators (RFC 7208 3.3). 4 KB is over three times the
  // 1232 octets the query offers for UDP.
  std::string spf = "v=spf1";
  for (int i = 0; spf.size() < 4096; ++i)
    spf += " ip4:198.51." + std::to_string(100 + i / 256) + "." + std::to_string(i % 256);
  spf += " -all";
  std::vector<std::string> chunks;
  for (std::size_t at = 0; at < spf.size(); at += 255) chunks.push_back(spf.substr(at, 255));
  std::string line = "big IN TXT";
  for (const std::string& chunk : chunks) line += " \"" + chunk + "\"";
  const auto server = serve({{"hostile.test", line + "\n"}});
  auto resolver = resolver_for({server.get()}, 1000ms, 2);

  const Answer answer = resolver->resolve("big.hostile.test", RrType::TXT);
  INFO(described(answer));
  REQUIRE(answer.outcome == Outcome::records);
  const auto txt = answer.txt();
  REQUIRE(txt.size() == 1);
  CHECK(txt[0].strings == chunks);
  CHECK(txt[0].joined() == spf);
  CHECK(server->queries_received("big.hostile.test", RrType::TXT, Transport::udp) == 1);
  CHECK(server->queries_received("big.hostile.test", RrType::TXT, Transport::tcp) == 1);
}

// ---------------------------------------------------------------------------
// 5. CNAME chains

namespace {

// The resolver follows at most this many CNAME links (resolver.cpp,
// max_cname_links), in one answer or across questions alike.
constexpr int resolver_cname_limit = 16;

// A CNAME chain of `links` links, hop i to hop i + 1, and an A record
// 192.0.2.LINKS at the last hop; or a ring of `links` names, the last
// pointing back at hop 0. hop(i) names hop i; add(i, line) files the line.
enum class ChainShape : std::uint8_t { chain, ring };
template <typename HopName, typename AddLine>
void write_chain(int links, ChainShape shape, HopName hop, AddLine add) {
  for (int i = 0; i < links; ++i) {
    const int next = shape == ChainShape::ring ? (i + 1) % links : i + 1;
    add(i, hop(i) + " IN CNAME " + hop(next) + "\n");
  }
  if (shape == ChainShape::chain) add(links, hop(links) + " IN A 192.0.2." + std::to_string(links) + "\n");
}

// A chain of exactly resolver_cname_limit links, followed to the end.
void check_chain_at_limit(const Answer& answer) {
  INFO(described(answer));
  CHECK(answer.outcome == Outcome::records);
  CHECK(answer.cname_chain.size() == resolver_cname_limit);
  CHECK(addresses_of(answer) == std::vector<std::string>{"192.0.2." + std::to_string(resolver_cname_limit)});
}

// "PREFIX-h0" .. "PREFIX-hN", all in one zone.
std::string chain_body(const std::string& prefix, int links, ChainShape shape = ChainShape::chain) {
  std::string body;
  write_chain(
      links, shape, [&](int i) { return prefix + "-h" + std::to_string(i); },
      [&](int, const std::string& line) { body += line; });
  return body;
}

// The same shapes split over two zones on two servers, hop i in a.test when
// i is even, in b.test when odd: no server sees more than one link, so the
// resolver chases the chain one question per link.
struct SplitChains {
  std::unique_ptr<DnsTestServer> a, b;

  explicit SplitChains(const std::vector<std::tuple<std::string, int, ChainShape>>& chains) {
    std::string a_body, b_body;
    for (const auto& [prefix, links, shape] : chains) {
      write_chain(
          links, shape,
          [&](int i) { return prefix + "-h" + std::to_string(i) + (i % 2 == 0 ? ".a.test." : ".b.test."); },
          [&](int i, const std::string& line) { (i % 2 == 0 ? a_body : b_body) += line; });
    }
    a = serve({{"a.test", a_body}});
    b = serve({{"b.test", b_body}});
  }
};

}  // namespace

TEST_CASE("A CNAME chain in one answer: 16 links are followed, more are a failure, a loop ends",
          "[hostile-dns]") {
  // long-chain: the server sends the whole chain in one answer, past its
  // zone overlay's own 8 links.
  const auto server = serve({{"one.test", chain_body("l16", 16) + chain_body("l17", 17) + chain_body("l20", 20) +
                                              chain_body("ring3", 3, ChainShape::ring) +
                                              chain_body("ring30", 30, ChainShape::ring)}});
  for (const char* head : {"l16-h0", "l17-h0", "l20-h0", "ring3-h0", "ring30-h0"})
    server->add_fault(std::string(head) + ".one.test", any_type, Fault{FaultAction::long_chain});
  auto resolver = resolver_for({server.get()}, 1000ms, 2);

  SECTION("at the limit: the records, the whole chain, one question") {
    const Answer answer = resolver->resolve("l16-h0.one.test", RrType::A);
    check_chain_at_limit(answer);
    CHECK(answer.records.at(0).owner == "l16-h16.one.test");
    CHECK(server->total_queries() == 1);
  }
  SECTION("past it, or looping: SERVFAIL, no records, not asked again") {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"l17-h0.one.test", "longer than 16 links"},  // one link past the limit
        {"l20-h0.one.test", "longer than 16 links"},
        {"ring3-h0.one.test", "CNAME loop"},
        {"ring30-h0.one.test", "longer than 16 links"},  // a loop the limit ends first
    };
    for (const auto& [name, why] : cases) {
      server->reset_counts();
      const Answer answer = resolver->resolve(name, RrType::A);
      INFO(name << ": " << described(answer));
      CHECK(answer.outcome == Outcome::servfail);
      CHECK(answer.records.empty());
      CHECK_THAT(answer.detail, Catch::Contains(why));
      CHECK(answer.cname_chain.size() <= resolver_cname_limit + 1);
      CHECK(server->total_queries() == 1);
    }
  }
}

TEST_CASE("A CNAME chain chased across questions: 16 links are followed, more are a failure, a loop ends",
          "[hostile-dns]") {
  const SplitChains split({{"l16", 16, ChainShape::chain},
                           {"l17", 17, ChainShape::chain},
                           {"l20", 20, ChainShape::chain},
                           {"ring", 30, ChainShape::ring},
                           {"ring3", 3, ChainShape::ring}});
  auto resolver = resolver_for({split.a.get(), split.b.get()}, 1000ms, 2);
  const auto queries = [&] { return split.a->total_queries() + split.b->total_queries(); };
  // Each link costs one question to a.test's server, and one more to
  // b.test's when a.test's refuses the name.
  constexpr std::size_t most_queries = 2 * (resolver_cname_limit + 1);

  SECTION("at the limit: the records and the whole chain, as in one answer") {
    check_chain_at_limit(resolver->resolve("l16-h0.a.test", RrType::A));
    CHECK(queries() <= most_queries);
  }
  SECTION("past it: SERVFAIL after the 17th link, the rest never asked") {
    for (const std::string prefix : {"l17", "l20"}) {
      split.a->reset_counts();
      split.b->reset_counts();
      const Answer answer = resolver->resolve(prefix + "-h0.a.test", RrType::A);
      INFO(prefix << ": " << described(answer));
      CHECK(answer.outcome == Outcome::servfail);
      CHECK(answer.records.empty());
      CHECK_THAT(answer.detail, Catch::Contains("longer than 16 links"));
      CHECK(answer.cname_chain.size() == resolver_cname_limit + 1);
      CHECK(queries() <= most_queries);
      CHECK(split.a->queries_received(prefix + "-h18.a.test", RrType::A) == 0);
      // The 17th link came from a.test's server, the first one: a verdict
      // on the chain is not a server failure, so b.test's (which would
      // refuse the name) is not asked the same question.
      CHECK(answer.source == split.a->endpoint_v4());
      CHECK(split.b->queries_received(prefix + "-h16.a.test", RrType::A) == 0);
    }
  }
  SECTION("a loop found in the first server's answer: SERVFAIL, not asked of the next server") {
    // ring3-h2.a.test CNAME ring3-h0.a.test closes the loop: a.test's server
    // answers for h2 with both links it holds, h2 -> h0 -> h1.b.test.
    const Answer answer = resolver->resolve("ring3-h0.a.test", RrType::A);
    INFO(described(answer));
    CHECK(answer.outcome == Outcome::servfail);
    CHECK_THAT(answer.detail, Catch::Contains("CNAME loop"));
    CHECK(answer.source == split.a->endpoint_v4());
    CHECK(split.b->queries_received("ring3-h2.a.test", RrType::A) == 0);
  }
  SECTION("a ring of 30 names ends at the limit; the log stays as bounded as the questions") {
    const Answer answer = resolver->resolve("ring-h0.a.test", RrType::A);
    INFO(described(answer));
    CHECK(answer.outcome == Outcome::servfail);
    CHECK_FALSE(answer.is_definitive());
    CHECK(queries() <= most_queries);
    CHECK(resolver->log().size() <= most_queries);
  }
}

// ---------------------------------------------------------------------------
// 6. A flood of wrong IDs

TEST_CASE("A flood of 1,000 wrong-ID replies is ignored: the real answer or a timeout, never theirs",
          "[hostile-dns]") {
  // Each spoofed reply repeats the question and says NXDOMAIN: taking any
  // one of them would make an existing name look absent.
  const auto server = serve_with_victim_fault(Fault{FaultAction::wrong_id_flood});

  SECTION("before the real answer") {
    // The real answer comes 300 ms after the flood: a socket buffer the
    // flood filled has long been drained by then. Should it still be lost,
    // the next attempt brings another flood and another answer.
    server->add_fault(victim, RrType::A, Fault::delayed_by(300ms));
    auto resolver = resolver_for({server.get()}, 2000ms, 3);
    const Answer answer = resolver->resolve(victim, RrType::A);
    INFO(described(answer));
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(addresses_of(answer) == std::vector<std::string>{"192.0.2.1"});
    CHECK(resolver->log().size() == 1);  // one entry per question, whatever the replies
  }
  SECTION("instead of the real answer") {
    server->add_fault(victim, RrType::A, Fault{FaultAction::drop});
    constexpr int tries = 2;
    constexpr Milliseconds attempt = 300ms;
    auto resolver = resolver_for({server.get()}, attempt, tries);
    check_victim_fails_in_budget(*resolver, Outcome::timeout, budget_of(attempt, tries));
    CHECK(server->queries_received(victim, RrType::A) == tries);  // a flood for each
    CHECK(resolver->log().size() == 1);
    // Asked again, the kept failure answers: nothing more goes out, nothing grows.
    CHECK(resolver->resolve(victim, RrType::A).outcome == Outcome::timeout);
    CHECK(server->queries_received(victim, RrType::A) == tries);
  }
}

// ---------------------------------------------------------------------------
// 7. Silence

TEST_CASE("A server that never answers times out within the configured budget, and the next one answers",
          "[hostile-dns]") {
  const auto silent = serve_hostile_zone();
  constexpr int tries = 3;
  const Milliseconds budget = 1400ms;
  const Milliseconds attempt = attempt_timeout_for_budget(budget, tries);
  REQUIRE(budget_of(attempt, tries) <= budget);
  // c-ares' timers never fire early; a little room for millisecond rounding.
  const Milliseconds at_least = budget - 50ms;

  SECTION("one question") {
    silent->add_fault(victim, any_type, Fault{FaultAction::drop});
    auto resolver = resolver_for({silent.get()}, attempt, tries);
    CHECK(check_victim_fails_in_budget(*resolver, Outcome::timeout, budget).elapsed >= at_least);
    CHECK(silent->queries_received(victim, RrType::A) == tries);
  }
  SECTION("fifty questions at once wait out one budget together, not fifty") {
    auto resolver = resolver_for({silent.get()}, attempt, tries);
    std::vector<Answer> answers;
    for (int i = 0; i < 50; ++i) {
      const std::string name = "n" + std::to_string(i) + ".hostile.test";
      silent->add_fault(name, any_type, Fault{FaultAction::drop});
      resolver->query(name, RrType::A, [&answers](const Answer& answer) { answers.push_back(answer); });
    }
    const auto start = std::chrono::steady_clock::now();
    resolver->run();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE(answers.size() == 50);
    for (const Answer& answer : answers) CHECK(answer.outcome == Outcome::timeout);
    CHECK(elapsed < budget + slack);
  }
  SECTION("fail-over: the second server's answer after the first one's budget") {
    silent->add_fault(victim, any_type, Fault{FaultAction::drop});
    const auto second = serve_hostile_zone();
    auto resolver = resolver_for({silent.get(), second.get()}, attempt, tries);
    const auto timed = check_victim_answered_by(*resolver, *second);
    CHECK(timed.elapsed >= at_least);
    CHECK(timed.elapsed < budget + slack);
    CHECK(silent->queries_received(victim, RrType::A) == tries);
    CHECK(second->queries_received(victim, RrType::A) == 1);
    REQUIRE(resolver->log().size() == 2);
    CHECK(resolver->log()[0].outcome == Outcome::timeout);
  }
}
