// The resolver (libdiag/src/dns/resolver.cpp) against our loopback DNS
// server: every outcome kept apart, fail-over between servers, coalescing,
// CNAME chasing, the zone overlay, the query log and many questions in one
// poll loop. Short timeouts (c-ares' own tests use ~250 ms) keep the file
// at a few seconds; every wait is bounded by the resolver's timeouts.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "diag/resolver.h"
#include "diag/zone.h"
#include "dns_test_server.h"
#include "fixture_zones.h"

using namespace std::chrono_literals;
using namespace diag::dns;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;
using sendcheck::testing::Transport;

namespace {

// Long enough for an answer on loopback, even with four copies of the suite
// running at once; short enough that a timeout costs little.
constexpr auto attempt = 150ms;

// What the fixtures do not have: a reverse zone, and names only these tests use.
const char* const resolver_zone_text = R"(
$ORIGIN resolver.test.
$TTL 300
@        IN SOA  ns1.resolver.test. hostmaster.resolver.test. 7 3600 600 86400 300
         IN NS   ns1.resolver.test.
ns1      IN A    192.0.2.53
mail     IN A    192.0.2.25
         IN AAAA 2001:db8::25
www      IN CNAME web
web      IN CNAME mail
only-b   IN A    192.0.2.66
)";

const char* const reverse_zone_text = R"(
$ORIGIN 2.0.192.in-addr.arpa.
$TTL 300
@        IN SOA  ns1.resolver.test. hostmaster.resolver.test. 1 3600 600 86400 300
         IN NS   ns1.resolver.test.
25       IN PTR  mail.resolver.test.
)";

ZoneFile zone_from_text(const std::string& text, const std::string& display_name) {
  auto zone = parse_zone_text(text, display_name);
  if (!zone) FAIL("test zone " << display_name << ": " << zone.error().message);
  return std::move(zone).value();
}

ZoneFile fixture_zone(const std::string& apex) {
  auto zone = parse_zone_file(fixtures::source_path("fixtures/zones/" + apex + ".zone"));
  if (!zone) FAIL("fixture " << apex << ": " << zone.error().message);
  return std::move(zone).value();
}

std::unique_ptr<DnsTestServer> start_server(DnsTestServerConfig config) {
  auto server = DnsTestServer::start(std::move(config));
  if (!server) FAIL("test server: " << server.error().message);
  return std::move(server).value();
}

// Every fixture zone plus the two above.
std::unique_ptr<DnsTestServer> start_full_server() {
  DnsTestServerConfig config;
  for (const auto& file : fixtures::zone_files()) config.zones.add(fixture_zone(fixtures::apex_of(file)));
  config.zones.add(zone_from_text(resolver_zone_text, "resolver.test.zone"));
  config.zones.add(zone_from_text(reverse_zone_text, "2.0.192.in-addr.arpa.zone"));
  return start_server(std::move(config));
}

// A server holding only the given zones.
std::unique_ptr<DnsTestServer> start_server_with(std::vector<ZoneFile> zones) {
  DnsTestServerConfig config;
  for (auto& zone : zones) config.zones.add(std::move(zone));
  return start_server(std::move(config));
}

ServerAddress address_of(const std::string& endpoint) {
  auto server = parse_server_address(endpoint);
  if (!server) FAIL(server.error().message);
  return server.value();
}

ResolverConfig config_for(const std::vector<const DnsTestServer*>& servers, std::chrono::milliseconds timeout = attempt,
                          int tries = 1) {
  ResolverConfig config;
  for (const DnsTestServer* server : servers) config.servers.push_back(address_of(server->endpoint_v4()));
  config.attempt_timeout = timeout;
  config.tries = tries;
  return config;
}

std::unique_ptr<Resolver> make_resolver(ResolverConfig config) {
  auto resolver = Resolver::create(std::move(config));
  if (!resolver) FAIL("resolver: " << resolver.error().message);
  return std::move(resolver).value();
}

diag::IpAddress ip(const char* text) {
  const auto address = diag::IpAddress::parse(text);
  if (!address) FAIL("bad address in test: " << text);
  return *address;
}

std::vector<std::string> sorted_addresses(const Answer& answer) {
  std::vector<std::string> out;
  for (const auto& address : answer.addresses()) out.push_back(address.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

// A loopback UDP port with nothing bound to it: bound, read back, closed.
// Another process could take it in between; on a test machine it does not.
std::uint16_t unused_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  REQUIRE(bound);
  return ntohs(address.sin_port);
}

std::string outcome_text(const Answer& answer) {
  return std::string(to_string(answer.outcome)) + (answer.detail.empty() ? "" : " (" + answer.detail + ")");
}

}  // namespace

// ---------------------------------------------------------------------------
// Server addresses and timeouts

TEST_CASE("parse_server_address accepts IPv4, IPv6, brackets and ports", "[resolver]") {
  struct Case {
    const char* text;
    const char* address;
    std::uint16_t port;
    const char* shown;
  };
  for (const Case& c : {Case{"192.0.2.1", "192.0.2.1", 53, "192.0.2.1:53"},
                        Case{"192.0.2.1:5353", "192.0.2.1", 5353, "192.0.2.1:5353"},
                        Case{"[2001:db8::1]:53", "2001:db8::1", 53, "[2001:db8::1]:53"},
                        Case{"[2001:db8::1]:65535", "2001:db8::1", 65535, "[2001:db8::1]:65535"},
                        Case{"2001:db8::1", "2001:db8::1", 53, "[2001:db8::1]:53"},
                        Case{"[::1]", "::1", 53, "[::1]:53"},
                        Case{"127.0.0.1:1", "127.0.0.1", 1, "127.0.0.1:1"}}) {
    INFO(c.text);
    const auto server = parse_server_address(c.text);
    REQUIRE(server.ok());
    CHECK(server->address == ip(c.address));
    CHECK(server->port == c.port);
    CHECK(server->to_string() == c.shown);
  }
  CHECK(parse_server_address("[2001:db8::1]:53")->address.family() == diag::IpAddress::Family::v6);
  CHECK(parse_server_address("192.0.2.1")->address.family() == diag::IpAddress::Family::v4);
}

TEST_CASE("parse_server_address rejects what is not IP[:PORT], naming the input", "[resolver]") {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"host.example", "not an IP address"}, Case{"host.example:53", "not an IP address"},
                        Case{"1.2.3.4:0", "port must be 1-65535"}, Case{"1.2.3.4:99999", "port must be 1-65535"},
                        Case{"1.2.3.4:", "port must be 1-65535"}, Case{"1.2.3.4:53x", "port must be 1-65535"},
                        Case{"[::1", "missing ']'"}, Case{"[::1]x", "expected ':PORT' after ']'"},
                        Case{"[::1]:0", "port must be 1-65535"}, Case{"[192.0.2.1", "missing ']'"},
                        Case{"", "not an IP address"}, Case{"256.1.1.1", "not an IP address"}}) {
    INFO("input \"" << c.text << "\"");
    const auto server = parse_server_address(c.text);
    REQUIRE_FALSE(server.ok());
    CHECK(server.error().kind == diag::ErrorKind::bad_input);
    CHECK_THAT(server.error().message, Catch::Contains("\"" + std::string(c.text) + "\""));
    CHECK_THAT(server.error().message, Catch::Contains(c.says));
  }
}

TEST_CASE("ServerAddress::to_string brackets IPv6 and always shows the port", "[resolver]") {
  CHECK(ServerAddress{ip("192.0.2.53"), 53}.to_string() == "192.0.2.53:53");
  CHECK(ServerAddress{ip("192.0.2.53"), 5300}.to_string() == "192.0.2.53:5300");
  CHECK(ServerAddress{ip("2001:db8::53"), 53}.to_string() == "[2001:db8::53]:53");
  CHECK(ServerAddress{ip("::1"), 5353}.to_string() == "[::1]:5353");
}

TEST_CASE("attempt_timeout_for_budget splits a budget over c-ares' doubling attempts", "[resolver]") {
  // tries attempts take attempt * (1 + 2 + ... + 2^(tries-1)) = attempt * (2^tries - 1).
  CHECK(attempt_timeout_for_budget(3000ms, 2) == 1000ms);
  CHECK(attempt_timeout_for_budget(3000ms, 1) == 3000ms);
  CHECK(attempt_timeout_for_budget(7000ms, 3) == 1000ms);
  CHECK(attempt_timeout_for_budget(5000ms, 2) == 1666ms);
  // Never zero: c-ares would take 0 as "use the default".
  CHECK(attempt_timeout_for_budget(1ms, 4) == 1ms);
}

// ---------------------------------------------------------------------------
// Outcomes

TEST_CASE("Records of every modelled type arrive with their typed data", "[resolver]") {
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));
  const std::string source = server->endpoint_v4();

  SECTION("A") {
    const Answer a = resolver->resolve("contoso-sendcheck-test.mail.protection.outlook.com", RrType::A);
    REQUIRE(a.outcome == Outcome::records);
    CHECK(a.name == "contoso-sendcheck-test.mail.protection.outlook.com");
    CHECK(a.type == RrType::A);
    CHECK(sorted_addresses(a) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    for (const auto& record : a.records) {
      CHECK(record.owner == "contoso-sendcheck-test.mail.protection.outlook.com");
      CHECK(record.type == RrType::A);
      CHECK(record.ttl == 3600);
    }
    CHECK(a.cname_chain.empty());
    CHECK(a.source == source);
    CHECK(a.detail.empty());
    CHECK(a.ok());
    CHECK(a.is_definitive());
  }
  SECTION("AAAA") {
    const Answer aaaa = resolver->resolve("mx1.mailhost.example", RrType::AAAA);
    REQUIRE(aaaa.outcome == Outcome::records);
    REQUIRE(aaaa.addresses().size() == 1);
    CHECK(aaaa.addresses()[0].family() == diag::IpAddress::Family::v6);
    CHECK(aaaa.addresses()[0] == ip("2001:db8:40::30"));
    CHECK(aaaa.records[0].data_text() == "2001:db8:40::30");
    const Answer ns1 = resolver->resolve("ns1.sendcheck.test", RrType::AAAA);
    REQUIRE(ns1.outcome == Outcome::records);
    CHECK(ns1.addresses() == std::vector<diag::IpAddress>{ip("2001:db8::53")});
  }
  SECTION("MX, in the order and with the preferences of the zone") {
    const Answer mx = resolver->resolve("google.sendcheck.test", RrType::MX);
    REQUIRE(mx.outcome == Outcome::records);
    auto exchanges = mx.mx();
    std::sort(exchanges.begin(), exchanges.end(),
              [](const MxData& a, const MxData& b) { return a.preference < b.preference; });
    CHECK(exchanges == std::vector<MxData>{{1, "aspmx.l.google.com"}, {5, "alt1.aspmx.l.google.com"}});
    // Upper case in the zone, canonical in the answer (RFC 4343).
    const Answer caps = resolver->resolve("BIG-CAPS.sendcheck.test.", RrType::MX);
    REQUIRE(caps.outcome == Outcome::records);
    CHECK(caps.name == "big-caps.sendcheck.test");
    CHECK(caps.mx() == std::vector<MxData>{{0, "bigcaps-sendcheck-test01c.mail.protection.outlook.com"}});
    // RFC 7505 null MX: the root as exchange.
    const Answer null_mx = resolver->resolve("null-mx.sendcheck.test", RrType::MX);
    REQUIRE(null_mx.outcome == Outcome::records);
    CHECK(null_mx.mx() == std::vector<MxData>{{0, "."}});
  }
  SECTION("TXT keeps the character-strings of one record apart") {
    const Answer txt = resolver->resolve("guen-transporte.sendcheck.test", RrType::TXT);
    REQUIRE(txt.outcome == Outcome::records);
    REQUIRE(txt.txt().size() == 1);
    CHECK(txt.txt()[0].strings ==
          std::vector<std::string>{"v=spf1 include:spf.protection.outlook.com", " -all"});
    CHECK(txt.txt()[0].joined() == "v=spf1 include:spf.protection.outlook.com -all");
    // Two records of one string each stay two records.
    const Answer two = resolver->resolve("contoso.sendcheck.test", RrType::TXT);
    REQUIRE(two.outcome == Outcome::records);
    std::vector<std::vector<std::string>> strings;
    for (const auto& record : two.txt()) strings.push_back(record.strings);
    std::sort(strings.begin(), strings.end());
    CHECK(strings == std::vector<std::vector<std::string>>{{"MS=ms12345678"},
                                                           {"v=spf1 include:spf.protection.outlook.com -all"}});
    // A ";" inside quotes is data.
    const Answer dmarc = resolver->resolve("_dmarc.contoso.sendcheck.test", RrType::TXT);
    REQUIRE(dmarc.txt().size() == 1);
    CHECK(dmarc.txt()[0].joined() == "v=DMARC1; p=reject; rua=mailto:dmarc@contoso.sendcheck.test");
  }
  SECTION("PTR") {
    const Answer ptr = resolver->resolve("25.2.0.192.in-addr.arpa", RrType::PTR);
    REQUIRE(ptr.outcome == Outcome::records);
    CHECK(ptr.targets() == std::vector<std::string>{"mail.resolver.test"});
    CHECK(ptr.records[0].type == RrType::PTR);
  }
  SECTION("CNAME asked for is the answer, not followed") {
    const Answer cname = resolver->resolve("mxalias.sendcheck.test", RrType::CNAME);
    REQUIRE(cname.outcome == Outcome::records);
    CHECK(cname.targets() == std::vector<std::string>{"contoso-sendcheck-test.mail.protection.outlook.com"});
    CHECK(cname.cname_chain.empty());
  }
  SECTION("NS") {
    const Answer ns = resolver->resolve("sendcheck.test", RrType::NS);
    REQUIRE(ns.outcome == Outcome::records);
    CHECK(ns.targets() == std::vector<std::string>{"ns1.sendcheck.test"});
  }
  SECTION("SOA, with the units of the zone file turned into seconds") {
    const Answer soa = resolver->resolve("sendcheck.test", RrType::SOA);
    REQUIRE(soa.outcome == Outcome::records);
    REQUIRE(soa.records.size() == 1);
    CHECK(std::get<SoaData>(soa.records[0].data) ==
          SoaData{"ns1.sendcheck.test", "hostmaster.sendcheck.test", 2024060101, 3600, 900, 604800, 300});
  }
}

TEST_CASE("NODATA and NXDOMAIN are facts about the name", "[resolver]") {
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer nodata = resolver->resolve("no-mx.sendcheck.test", RrType::MX);
  CHECK(nodata.outcome == Outcome::nodata);
  CHECK(nodata.records.empty());
  CHECK(nodata.is_definitive());
  CHECK_FALSE(nodata.ok());
  CHECK(nodata.source == server->endpoint_v4());

  // An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
  CHECK(resolver->resolve("o-v1.mx.microsoft", RrType::A).outcome == Outcome::nodata);

  const Answer nxdomain = resolver->resolve("nowhere.sendcheck.test", RrType::A);
  CHECK(nxdomain.outcome == Outcome::nxdomain);
  CHECK(nxdomain.records.empty());
  CHECK(nxdomain.is_definitive());
  CHECK(nxdomain.source == server->endpoint_v4());

  const Answer dangling = resolver->resolve("dangling-sendcheck-test.mail.protection.outlook.com", RrType::A);
  CHECK(dangling.outcome == Outcome::nxdomain);
}

TEST_CASE("SERVFAIL, REFUSED, timeouts and garbage are failures, never absences", "[resolver]") {
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));
  const std::string source = server->endpoint_v4();

  SECTION("servfail") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::servfail});
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::servfail);
    CHECK(answer.records.empty());
    CHECK_FALSE(answer.is_definitive());
    CHECK(answer.source == source);
    CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX) == 1);
  }
  SECTION("refused by fault, and for a name outside every zone the server has") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::refused});
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::refused);
    CHECK_FALSE(answer.is_definitive());
    CHECK(answer.source == source);
    const Answer outside = resolver->resolve("example.org", RrType::A);
    CHECK(outside.outcome == Outcome::refused);
    CHECK_FALSE(outside.is_definitive());
  }
  SECTION("timeout when the server drops the question") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::drop});
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::timeout);
    CHECK(answer.records.empty());
    CHECK_FALSE(answer.is_definitive());
    CHECK(answer.source == source);
    CHECK(answer.elapsed_ms >= 149.0);
    CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX) == 1);  // tries = 1
  }
  SECTION("malformed: a record whose rdata runs past the end of the message") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::malformed});
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::malformed);
    CHECK_FALSE(answer.is_definitive());
    CHECK(answer.records.empty());
    CHECK_THAT(answer.detail, Catch::Contains("rdata length"));
    CHECK(answer.source == source);
  }
}

TEST_CASE("A server port with nothing listening is a network error, at once", "[resolver]") {
  // The question's UDP socket is connected, so Linux reports the ICMP port
  // unreachable as ECONNREFUSED on the next read, and the exchange with
  // that server ends there. No timeout is waited.
  const std::uint16_t port = unused_udp_port();
  ResolverConfig config;
  config.servers.push_back({ip("127.0.0.1"), port});
  config.attempt_timeout = 1000ms;
  config.tries = 2;
  auto resolver = make_resolver(config);

  const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  INFO(outcome_text(answer));
  CHECK(answer.outcome == Outcome::network_error);
  CHECK(answer.detail == "connection refused");
  CHECK_FALSE(answer.is_definitive());
  CHECK(answer.source == "127.0.0.1:" + std::to_string(port));
  CHECK(answer.elapsed_ms < 1000.0);  // well before the first attempt's timeout
}

TEST_CASE("is_definitive holds for records, nodata and nxdomain only", "[resolver]") {
  const std::map<Outcome, bool> expected{
      {Outcome::records, true},   {Outcome::nodata, true},    {Outcome::nxdomain, true},
      {Outcome::servfail, false}, {Outcome::refused, false},  {Outcome::timeout, false},
      {Outcome::malformed, false}, {Outcome::network_error, false}};
  for (const auto& [outcome, definitive] : expected) {
    INFO(to_string(outcome));
    CHECK(is_definitive(outcome) == definitive);
    Answer answer;
    answer.outcome = outcome;
    CHECK(answer.is_definitive() == definitive);
    CHECK(answer.ok() == (outcome == Outcome::records));
  }
}

TEST_CASE("An answer with the wrong query ID is ignored: timeout, not a wrong answer", "[resolver]") {
  const auto server = start_full_server();
  server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::wrong_id});
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  CHECK(answer.outcome == Outcome::timeout);
  CHECK(answer.records.empty());
  // The server did answer, unlike a drop: the resolver heard it and threw it away.
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::udp) == 1);
  // The same question without the fault, from a new resolver: the ID was the only problem.
  server->clear_faults();
  auto fresh = make_resolver(config_for({server.get()}));
  CHECK(fresh->resolve("contoso.sendcheck.test", RrType::MX).outcome == Outcome::records);
}

TEST_CASE("A truncated UDP answer is asked again over TCP and arrives whole", "[resolver]") {
  const auto server = start_full_server();
  server->add_fault("google.sendcheck.test", RrType::MX, Fault{FaultAction::truncate});
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer answer = resolver->resolve("google.sendcheck.test", RrType::MX);
  REQUIRE(answer.outcome == Outcome::records);
  CHECK(answer.mx().size() == 2);
  CHECK(server->queries_received("google.sendcheck.test", RrType::MX, Transport::udp) == 1);
  CHECK(server->queries_received("google.sendcheck.test", RrType::MX, Transport::tcp) == 1);
  // Untouched names stay on UDP.
  CHECK(resolver->resolve("contoso.sendcheck.test", RrType::MX).ok());
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::tcp) == 0);
}

TEST_CASE("An answer larger than the UDP limit arrives whole over TCP", "[resolver]") {
  // Twelve different TXT records of 151 octets (a record written twice is
  // one, RFC 2181 5): about 2 KB, more than the 1232 octets the query
  // advertises, so the server truncates over UDP.
  std::string text = resolver_zone_text;
  for (int i = 10; i < 22; ++i) text += "big IN TXT \"" + std::to_string(i) + std::string(149, 'x') + "\"\n";
  const auto server = start_server_with({zone_from_text(text, "resolver.test.zone")});
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer answer = resolver->resolve("big.resolver.test", RrType::TXT);
  REQUIRE(answer.outcome == Outcome::records);
  REQUIRE(answer.txt().size() == 12);
  for (const auto& record : answer.txt()) {
    REQUIRE(record.strings.size() == 1);
    CHECK(record.strings[0].size() == 151);
  }
  CHECK(server->queries_received("big.resolver.test", RrType::TXT, Transport::udp) == 1);
  CHECK(server->queries_received("big.resolver.test", RrType::TXT, Transport::tcp) == 1);
}

TEST_CASE("A delay within the timeout is an answer, beyond it a timeout", "[resolver]") {
  const auto server = start_full_server();

  SECTION("within") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault::delayed_by(60ms));
    auto resolver = make_resolver(config_for({server.get()}, 400ms, 1));
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(answer.elapsed_ms >= 60.0);
    CHECK(answer.elapsed_ms < 400.0);
  }
  SECTION("beyond, with one try") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault::delayed_by(1000ms));
    auto resolver = make_resolver(config_for({server.get()}, 150ms, 1));
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::timeout);
    CHECK(answer.elapsed_ms >= 149.0);
    CHECK(answer.elapsed_ms < 600.0);
  }
  SECTION("beyond, with two tries: the second wait is twice the first") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault::delayed_by(2000ms));
    auto resolver = make_resolver(config_for({server.get()}, 100ms, 2));
    const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::timeout);
    CHECK(answer.elapsed_ms >= 299.0);  // 100 + 200
    CHECK(answer.elapsed_ms < 900.0);
    CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX) == 2);
  }
}

TEST_CASE("The AD bit of the answer is reported as is", "[resolver]") {
  const auto server = start_full_server();
  server->add_fault("dnssec.sendcheck.test", RrType::MX, Fault{FaultAction::ad});
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer signed_answer = resolver->resolve("dnssec.sendcheck.test", RrType::MX);
  REQUIRE(signed_answer.outcome == Outcome::records);
  CHECK(signed_answer.authenticated_data);
  CHECK(signed_answer.mx() == std::vector<MxData>{{0, "dnssec-sendcheck-test.o-v1.mx.microsoft"}});

  const Answer plain = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  REQUIRE(plain.outcome == Outcome::records);
  CHECK_FALSE(plain.authenticated_data);
}

// ---------------------------------------------------------------------------
// Fail-over

TEST_CASE("A failing first server hands the question to the second", "[resolver]") {
  const auto first = start_full_server();
  const auto second = start_full_server();
  auto config = config_for({first.get(), second.get()});
  config.keep_log = true;
  auto resolver = make_resolver(config);
  const std::string name = "contoso.sendcheck.test";

  const auto check_failed_over = [&](Outcome first_outcome) {
    const Answer answer = resolver->resolve(name, RrType::MX);
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(answer.mx() == std::vector<MxData>{{0, "contoso-sendcheck-test.mail.protection.outlook.com"}});
    CHECK(answer.source == second->endpoint_v4());
    CHECK(answer.name == name);
    CHECK(first->queries_received(name, RrType::MX) == 1);
    CHECK(second->queries_received(name, RrType::MX) == 1);
    const auto& log = resolver->log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].server == first->endpoint_v4());
    CHECK(log[0].outcome == first_outcome);
    CHECK(log[0].name == name);
    CHECK(log[1].server == second->endpoint_v4());
    CHECK(log[1].outcome == Outcome::records);
    CHECK(log[1].name == name);
  };

  SECTION("drop") {
    first->add_fault(name, RrType::MX, Fault{FaultAction::drop});
    check_failed_over(Outcome::timeout);
    CHECK(resolver->log()[0].elapsed_ms >= 149.0);
  }
  SECTION("servfail") {
    first->add_fault(name, RrType::MX, Fault{FaultAction::servfail});
    check_failed_over(Outcome::servfail);
  }
  SECTION("refused") {
    first->add_fault(name, RrType::MX, Fault{FaultAction::refused});
    check_failed_over(Outcome::refused);
  }
  SECTION("malformed") {
    first->add_fault(name, RrType::MX, Fault{FaultAction::malformed});
    check_failed_over(Outcome::malformed);
  }
}

TEST_CASE("Fail-over ends with the last server's failure when every server fails", "[resolver]") {
  const auto first = start_full_server();
  const auto second = start_full_server();
  first->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::refused});
  second->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::servfail});
  auto config = config_for({first.get(), second.get()});
  config.keep_log = true;
  auto resolver = make_resolver(config);

  const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  CHECK(answer.outcome == Outcome::servfail);
  CHECK(answer.source == second->endpoint_v4());
  REQUIRE(resolver->log().size() == 2);
  CHECK(resolver->log()[0].outcome == Outcome::refused);
  CHECK(resolver->log()[1].outcome == Outcome::servfail);
}

TEST_CASE("A definitive answer from the first server is not asked again elsewhere", "[resolver]") {
  // The first server says the name does not exist; the second would know it.
  const auto first = start_server_with({zone_from_text(R"(
$ORIGIN resolver.test.
$TTL 300
@ IN SOA ns1.resolver.test. hostmaster.resolver.test. 1 3600 600 86400 300
  IN NS  ns1.resolver.test.
ns1 IN A 192.0.2.53
)",
                                                       "first.zone")});
  const auto second = start_server_with({zone_from_text(resolver_zone_text, "second.zone")});
  auto resolver = make_resolver(config_for({first.get(), second.get()}));

  const Answer nxdomain = resolver->resolve("only-b.resolver.test", RrType::A);
  CHECK(nxdomain.outcome == Outcome::nxdomain);
  CHECK(nxdomain.source == first->endpoint_v4());
  const Answer nodata = resolver->resolve("ns1.resolver.test", RrType::AAAA);
  CHECK(nodata.outcome == Outcome::nodata);
  CHECK(nodata.source == first->endpoint_v4());
  CHECK(second->total_queries() == 0);
}

// ---------------------------------------------------------------------------
// Many questions in one run()

namespace {

constexpr int bulk_names = 1100;

std::string bulk_address(int i) {
  char text[40];
  std::snprintf(text, sizeof text, "2001:db8::1:%x", static_cast<unsigned>(i));
  return text;
}

// h0..h1099 with one AAAA each; d0..d199 MX to m0..m199, each with an A
// whose PTR points back at the domain; s0..s29 a TXT chain to "end".
std::vector<ZoneFile> bulk_zones() {
  std::string forward = R"(
$ORIGIN bulk.test.
$TTL 300
@ IN SOA ns1.bulk.test. hostmaster.bulk.test. 1 3600 600 86400 300
  IN NS  ns1.bulk.test.
ns1 IN A 192.0.2.53
)";
  std::string reverse = R"(
$ORIGIN 100.51.198.in-addr.arpa.
$TTL 300
@ IN SOA ns1.bulk.test. hostmaster.bulk.test. 1 3600 600 86400 300
  IN NS  ns1.bulk.test.
)";
  for (int i = 0; i < bulk_names; ++i) forward += "h" + std::to_string(i) + " IN AAAA " + bulk_address(i) + "\n";
  for (int i = 0; i < 200; ++i) {
    const std::string n = std::to_string(i);
    forward += "d" + n + " IN MX 10 m" + n + ".bulk.test.\n";
    forward += "m" + n + " IN A 198.51." + std::to_string(100 + i / 256) + "." + std::to_string(i % 256) + "\n";
    reverse += n + " IN PTR d" + n + ".bulk.test.\n";
  }
  for (int i = 0; i < 30; ++i)
    forward += "s" + std::to_string(i) + " IN TXT \"s" + std::to_string(i + 1) + "\"\n";
  forward += "s30 IN TXT \"end\"\n";
  std::vector<ZoneFile> zones;
  zones.push_back(zone_from_text(forward, "bulk.test.zone"));
  zones.push_back(zone_from_text(reverse, "100.51.198.in-addr.arpa.zone"));
  return zones;
}

}  // namespace

TEST_CASE("Over a thousand questions in flight are all answered in one run()", "[resolver]") {
  const auto server = start_server_with(bulk_zones());
  // Every answer waits 5 ms at the server: at most max_outstanding on the
  // wire at once means at least bulk_names / max_outstanding rounds of 5 ms.
  for (int i = 0; i < bulk_names; ++i)
    server->add_fault("h" + std::to_string(i) + ".bulk.test", RrType::AAAA, Fault::delayed_by(5ms));

  for (const std::size_t window : {std::size_t{16}, std::size_t{256}}) {
    INFO("max_outstanding " << window);
    server->reset_counts();
    auto config = config_for({server.get()}, 2000ms, 1);
    config.max_outstanding = window;
    auto resolver = make_resolver(config);

    std::vector<Answer> answers(bulk_names);
    std::vector<int> calls(bulk_names, 0);
    for (int i = 0; i < bulk_names; ++i) {
      resolver->query("h" + std::to_string(i) + ".bulk.test", RrType::AAAA, [&, i](const Answer& answer) {
        ++calls[i];
        answers[i] = answer;
      });
    }
    CHECK(server->total_queries() == 0);  // query() only queues; run() sends
    const auto started = std::chrono::steady_clock::now();
    resolver->run();
    const auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();

    int correct = 0;
    std::string first_wrong;
    for (int i = 0; i < bulk_names; ++i) {
      const std::string name = "h" + std::to_string(i) + ".bulk.test";
      const Answer& answer = answers[i];
      if (calls[i] == 1 && answer.outcome == Outcome::records && answer.name == name &&
          answer.addresses() == std::vector<diag::IpAddress>{ip(bulk_address(i).c_str())}) {
        ++correct;
      } else if (first_wrong.empty()) {
        first_wrong = name + ": " + std::to_string(calls[i]) + " calls, " + outcome_text(answer);
      }
    }
    INFO("first wrong answer: " << first_wrong);
    CHECK(correct == bulk_names);
    CHECK(server->total_queries() == static_cast<std::size_t>(bulk_names));
    const double rounds = static_cast<double>(bulk_names) / static_cast<double>(window);
    CHECK(took >= 5.0 * std::floor(rounds));
  }
}

TEST_CASE("Questions asked from callbacks are answered in the same run()", "[resolver]") {
  const auto server = start_server_with(bulk_zones());
  auto config = config_for({server.get()}, 1000ms, 1);
  config.max_outstanding = 16;
  auto resolver = make_resolver(config);

  // MX -> A of the exchange -> PTR of the address, for 200 domains at once.
  std::map<int, std::string> back;  // domain index -> PTR target
  for (int i = 0; i < 200; ++i) {
    resolver->query("d" + std::to_string(i) + ".bulk.test", RrType::MX, [&, i](const Answer& mx) {
      REQUIRE(mx.mx().size() == 1);
      resolver->query(mx.mx()[0].exchange, RrType::A, [&, i](const Answer& a) {
        REQUIRE(a.addresses().size() == 1);
        const std::string text = a.addresses()[0].to_string();  // 198.51.100.N
        const std::string last = text.substr(text.rfind('.') + 1);
        resolver->query(last + ".100.51.198.in-addr.arpa", RrType::PTR,
                        [&, i](const Answer& ptr) { back[i] = ptr.targets().empty() ? "" : ptr.targets()[0]; });
      });
    });
  }
  // And one strictly sequential walk of 31 hops: s0 -> s1 -> ... -> "end".
  std::vector<std::string> walk;
  std::function<void(const Answer&)> step = [&](const Answer& txt) {
    REQUIRE(txt.txt().size() == 1);
    const std::string next = txt.txt()[0].joined();
    walk.push_back(next);
    if (next != "end") resolver->query(next + ".bulk.test", RrType::TXT, step);
  };
  resolver->query("s0.bulk.test", RrType::TXT, step);

  resolver->run();

  REQUIRE(back.size() == 200);
  for (const auto& [i, target] : back) {
    INFO("d" << i);
    CHECK(target == "d" + std::to_string(i) + ".bulk.test");
  }
  REQUIRE(walk.size() == 31);
  CHECK(walk.front() == "s1");
  CHECK(walk.back() == "end");
  CHECK(server->total_queries() == 200 * 3 + 31);
}

TEST_CASE("The same question asked twice goes on the wire once", "[resolver]") {
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));

  std::vector<Answer> answers;
  const auto keep = [&](const Answer& answer) { answers.push_back(answer); };
  resolver->query("contoso.sendcheck.test", RrType::MX, keep);
  resolver->query("Contoso.SendCheck.Test.", RrType::MX, keep);  // the same question, canonically
  resolver->query("contoso.sendcheck.test", RrType::TXT, keep);   // another type: another question
  resolver->run();

  REQUIRE(answers.size() == 3);
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX) == 1);
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::TXT) == 1);
  int mx_answers = 0;
  for (const auto& answer : answers) {
    if (answer.type != RrType::MX) continue;
    ++mx_answers;
    CHECK(answer.outcome == Outcome::records);
    CHECK(answer.name == "contoso.sendcheck.test");
    CHECK(answer.mx() == std::vector<MxData>{{0, "contoso-sendcheck-test.mail.protection.outlook.com"}});
  }
  CHECK(mx_answers == 2);

  // Asked again after the answer came, in a later run(): still not re-sent.
  const Answer again = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  CHECK(again.outcome == Outcome::records);
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX) == 1);
}

// ---------------------------------------------------------------------------
// CNAME

TEST_CASE("A CNAME chain inside one answer is followed to its records", "[resolver]") {
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));

  SECTION("one link, across zones the server both holds") {
    const Answer answer = resolver->resolve("mxalias.sendcheck.test", RrType::A);
    REQUIRE(answer.outcome == Outcome::records);
    CHECK(answer.name == "mxalias.sendcheck.test");
    REQUIRE(answer.cname_chain.size() == 1);
    CHECK(answer.cname_chain[0].owner == "mxalias.sendcheck.test");
    const std::string target = "contoso-sendcheck-test.mail.protection.outlook.com";
    CHECK(std::get<NameData>(answer.cname_chain[0].data).target == target);
    CHECK(sorted_addresses(answer) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    for (const auto& record : answer.records) CHECK(record.owner == target);
    // The server followed the chain itself: the target was never asked.
    CHECK(server->queries_received(target, RrType::A) == 0);
  }
  SECTION("two links") {
    const Answer answer = resolver->resolve("www.resolver.test", RrType::AAAA);
    REQUIRE(answer.outcome == Outcome::records);
    REQUIRE(answer.cname_chain.size() == 2);
    CHECK(answer.cname_chain[0].owner == "www.resolver.test");
    CHECK(answer.cname_chain[1].owner == "web.resolver.test");
    CHECK(answer.addresses() == std::vector<diag::IpAddress>{ip("2001:db8::25")});
    CHECK(answer.records[0].owner == "mail.resolver.test");
  }
  SECTION("a chain to a name without the type is NODATA, chain kept") {
    const Answer answer = resolver->resolve("mxalias.sendcheck.test", RrType::MX);
    CHECK(answer.outcome == Outcome::nodata);
    CHECK(answer.cname_chain.size() == 1);
  }
}

TEST_CASE("A CNAME answered alone is chased to its target", "[resolver]") {
  // The first server holds sendcheck.test only, so it answers mxalias with
  // the CNAME alone; the target's zone is on the second server.
  const auto first = start_server_with({fixture_zone("sendcheck.test")});
  const auto second = start_server_with({fixture_zone("mail.protection.outlook.com")});
  auto config = config_for({first.get(), second.get()});
  config.keep_log = true;
  auto resolver = make_resolver(config);
  const std::string target = "contoso-sendcheck-test.mail.protection.outlook.com";

  const Answer answer = resolver->resolve("mxalias.sendcheck.test", RrType::A);
  INFO(outcome_text(answer));
  REQUIRE(answer.outcome == Outcome::records);
  CHECK(answer.name == "mxalias.sendcheck.test");
  REQUIRE(answer.cname_chain.size() == 1);
  CHECK(answer.cname_chain[0].owner == "mxalias.sendcheck.test");
  CHECK(std::get<NameData>(answer.cname_chain[0].data).target == target);
  CHECK(sorted_addresses(answer) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
  CHECK(answer.source == second->endpoint_v4());

  CHECK(first->queries_received("mxalias.sendcheck.test", RrType::A) == 1);
  CHECK(first->queries_received(target, RrType::A) == 1);  // refused: not its zone
  CHECK(second->queries_received(target, RrType::A) == 1);
  CHECK(second->queries_received("mxalias.sendcheck.test", RrType::A) == 0);

  const auto& log = resolver->log();
  REQUIRE(log.size() == 3);
  CHECK(log[0].name == "mxalias.sendcheck.test");
  CHECK(log[0].outcome == Outcome::nodata);
  CHECK_THAT(log[0].detail, Catch::Contains(target));
  CHECK(log[1].name == target);
  CHECK(log[1].server == first->endpoint_v4());
  CHECK(log[1].outcome == Outcome::refused);
  CHECK(log[2].name == target);
  CHECK(log[2].server == second->endpoint_v4());
  CHECK(log[2].outcome == Outcome::records);
}

namespace {

// loop.a.test -> loop.b.test -> loop.a.test, each CNAME in a zone of its
// own on a server of its own, so that no server sees the loop.
struct CnameLoop {
  std::unique_ptr<DnsTestServer> a, b;
  CnameLoop() {
    a = start_server_with({zone_from_text(R"(
$ORIGIN a.test.
$TTL 300
@    IN SOA ns1.a.test. hostmaster.a.test. 1 3600 600 86400 300
     IN NS  ns1.a.test.
ns1  IN A   192.0.2.53
loop IN CNAME loop.b.test.
)",
                                          "a.test.zone")});
    b = start_server_with({zone_from_text(R"(
$ORIGIN b.test.
$TTL 300
@    IN SOA ns1.b.test. hostmaster.b.test. 1 3600 600 86400 300
     IN NS  ns1.b.test.
ns1  IN A   192.0.2.53
loop IN CNAME loop.a.test.
)",
                                          "b.test.zone")});
  }
};

}  // namespace

TEST_CASE("A CNAME loop across servers ends", "[resolver]") {
  const CnameLoop loop;
  auto resolver = make_resolver(config_for({loop.a.get(), loop.b.get()}));

  const Answer answer = resolver->resolve("loop.a.test", RrType::A);
  INFO(outcome_text(answer));
  CHECK_FALSE(answer.ok());
  CHECK(answer.records.empty());
  REQUIRE(answer.cname_chain.size() == 2);
  CHECK(answer.cname_chain[0].owner == "loop.a.test");
  CHECK(answer.cname_chain[1].owner == "loop.b.test");
  // Each name asked once per server at most: no going round.
  CHECK(loop.a->queries_received("loop.a.test", RrType::A) == 1);
  CHECK(loop.a->queries_received("loop.b.test", RrType::A) == 1);
  CHECK(loop.b->queries_received("loop.b.test", RrType::A) == 1);
  CHECK(loop.b->queries_received("loop.a.test", RrType::A) == 0);
}

// ---------------------------------------------------------------------------
// Zone overlay

TEST_CASE("Names the zone overlay covers are answered offline", "[resolver]") {
  const auto server = start_full_server();
  const std::string path = fixtures::source_path("fixtures/zones/sendcheck.test.zone");
  auto overlay = std::make_shared<ZoneOverlay>();
  overlay->add(fixture_zone("sendcheck.test"));
  auto config = config_for({server.get()});
  config.zones = overlay;
  config.keep_log = true;
  auto resolver = make_resolver(config);

  const Answer mx = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  REQUIRE(mx.outcome == Outcome::records);
  CHECK(mx.mx() == std::vector<MxData>{{0, "contoso-sendcheck-test.mail.protection.outlook.com"}});
  CHECK(mx.source == "zone:" + path);
  CHECK_FALSE(mx.authenticated_data);

  const Answer nxdomain = resolver->resolve("nowhere.sendcheck.test", RrType::A);
  CHECK(nxdomain.outcome == Outcome::nxdomain);
  CHECK(nxdomain.source == "zone:" + path);
  const Answer nodata = resolver->resolve("no-mx.sendcheck.test", RrType::MX);
  CHECK(nodata.outcome == Outcome::nodata);
  CHECK(nodata.source == "zone:" + path);
  // Even a fault the server would inject does not matter: it is not asked.
  server->add_fault("guen-transporte.sendcheck.test", sendcheck::testing::any_type, Fault{FaultAction::servfail});
  CHECK(resolver->resolve("guen-transporte.sendcheck.test", RrType::TXT).ok());
  CHECK(server->total_queries() == 0);

  // Outside the overlay: the network.
  const Answer outside = resolver->resolve("contoso-sendcheck-test.mail.protection.outlook.com", RrType::A);
  REQUIRE(outside.outcome == Outcome::records);
  CHECK(outside.source == server->endpoint_v4());
  CHECK(server->total_queries() == 1);

  // Zone answers are logged like network ones.
  const auto& log = resolver->log();
  REQUIRE(log.size() == 5);
  CHECK(log[0].server == "zone:" + path);
  CHECK(log[0].outcome == Outcome::records);
  CHECK(log[1].outcome == Outcome::nxdomain);
  CHECK(log[4].server == server->endpoint_v4());
}

// ---------------------------------------------------------------------------
// Invalid names

TEST_CASE("Invalid query names are malformed locally, nothing is sent", "[resolver]") {
  const auto server = start_full_server();
  auto config = config_for({server.get()});
  config.keep_log = true;
  auto resolver = make_resolver(config);

  struct Case {
    std::string name;
    const char* reason;
  };
  const std::string label63(63, 'a');
  const std::vector<Case> cases{
      {"a..b", "empty label"},
      {".a.test", "empty label"},
      {std::string(64, 'a') + ".test", "label longer than 63"},
      {label63 + "." + label63 + "." + label63 + "." + std::string(62, 'a'), "longer than 255 octets"},  // 254
      // RFC 1035 5.1: a "\DDD" escape is one octet, so it counts as one.
      {std::string(60, 'a') + "\\255\\000\\032\\046.test", "label longer than 63"},
      {"a\\256.test", "bad escape"},
      {"a\\", "lone backslash"},
      {"", "empty name"},
  };
  for (const Case& c : cases) {
    INFO("name \"" << c.name << "\" (" << c.name.size() << " characters)");
    const Answer answer = resolver->resolve(c.name, RrType::A);
    CHECK(answer.outcome == Outcome::malformed);
    CHECK_FALSE(answer.is_definitive());
    CHECK_THAT(answer.detail, Catch::Contains(c.reason));
    CHECK_THAT(answer.detail, Catch::Contains("\"" + c.name + "\""));
    CHECK(answer.source == "local");
  }
  CHECK(server->total_queries() == 0);
  CHECK(resolver->log().size() == cases.size());

  // The limits themselves are fine: they go out (and the server refuses them).
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'a');  // 253
  REQUIRE(longest.size() == 253);
  CHECK(resolver->resolve(longest, RrType::A).outcome == Outcome::refused);
  CHECK(resolver->resolve(label63 + ".test", RrType::A).outcome == Outcome::refused);
  CHECK(server->total_queries() == 2);
}

// ---------------------------------------------------------------------------
// The query log

TEST_CASE("The query log has one entry per finished question", "[resolver]") {
  const auto server = start_full_server();
  server->add_fault("dnssec.sendcheck.test", RrType::MX, Fault{FaultAction::ad});
  std::vector<QueryLogEntry> seen;
  auto config = config_for({server.get()});
  config.on_log = [&](const QueryLogEntry& entry) { seen.push_back(entry); };

  SECTION("kept for log() when keep_log is set") {
    config.keep_log = true;
    auto resolver = make_resolver(config);
    resolver->query("contoso.sendcheck.test", RrType::MX, nullptr);
    resolver->query("dnssec.sendcheck.test", RrType::MX, nullptr);
    resolver->query("nowhere.sendcheck.test", RrType::AAAA, nullptr);
    resolver->run();

    const auto& log = resolver->log();
    REQUIRE(log.size() == 3);
    REQUIRE(seen.size() == 3);
    std::map<std::string, QueryLogEntry> by_name;
    for (const auto& entry : log) by_name[entry.name] = entry;
    REQUIRE(by_name.size() == 3);
    const auto& contoso = by_name["contoso.sendcheck.test"];
    CHECK(contoso.type == RrType::MX);
    CHECK(contoso.server == server->endpoint_v4());
    CHECK(contoso.outcome == Outcome::records);
    CHECK_FALSE(contoso.authenticated_data);
    CHECK(contoso.elapsed_ms > 0.0);
    CHECK(contoso.elapsed_ms < 150.0);
    CHECK(by_name["dnssec.sendcheck.test"].authenticated_data);
    CHECK(by_name["nowhere.sendcheck.test"].type == RrType::AAAA);
    CHECK(by_name["nowhere.sendcheck.test"].outcome == Outcome::nxdomain);
    // on_log saw the same entries, in the same order.
    for (std::size_t i = 0; i < log.size(); ++i) {
      CHECK(seen[i].name == log[i].name);
      CHECK(seen[i].outcome == log[i].outcome);
    }
  }
  SECTION("only passed to on_log without keep_log") {
    auto resolver = make_resolver(config);
    resolver->resolve("contoso.sendcheck.test", RrType::MX);
    resolver->resolve("contoso.sendcheck.test", RrType::TXT);
    CHECK(resolver->log().empty());
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].type == RrType::MX);
    CHECK(seen[1].type == RrType::TXT);
  }
}

TEST_CASE("format_log_entry puts name, type, server and outcome on one line", "[resolver]") {
  QueryLogEntry entry;
  entry.name = "contoso.sendcheck.test";
  entry.type = RrType::MX;
  entry.server = "192.0.2.53:53";
  entry.outcome = Outcome::records;
  entry.elapsed_ms = 12.34;
  CHECK(format_log_entry(entry) == "dns: contoso.sendcheck.test MX @192.0.2.53:53 -> records 12.3 ms");

  entry.outcome = Outcome::network_error;
  entry.detail = "connection refused";
  entry.server = "[2001:db8::53]:5353";
  entry.elapsed_ms = 0.04;
  CHECK(format_log_entry(entry) ==
        "dns: contoso.sendcheck.test MX @[2001:db8::53]:5353 -> network-error (connection refused) 0.0 ms");

  entry.outcome = Outcome::records;
  entry.detail.clear();
  entry.authenticated_data = true;
  entry.type = RrType::AAAA;
  const std::string line = format_log_entry(entry);
  CHECK_THAT(line, Catch::Contains(" AAAA ") && Catch::Contains(" -> records ad "));
}

// ---------------------------------------------------------------------------
// IPv6

TEST_CASE("The resolver talks to a server on the IPv6 loopback", "[resolver]") {
  const auto server = start_full_server();
  if (!server->has_ipv6()) {
    WARN("no ::1 on this host: IPv6 transport not tested");
    return;
  }
  ResolverConfig config;
  config.servers.push_back(address_of(server->endpoint_v6()));
  config.attempt_timeout = attempt;
  config.tries = 1;
  auto resolver = make_resolver(config);

  const Answer answer = resolver->resolve("contoso.sendcheck.test", RrType::MX);
  REQUIRE(answer.outcome == Outcome::records);
  CHECK(answer.source == "[::1]:" + std::to_string(server->port()));
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::udp) == 1);

  // And over TCP on IPv6.
  server->add_fault("google.sendcheck.test", RrType::MX, Fault{FaultAction::truncate});
  const Answer truncated = resolver->resolve("google.sendcheck.test", RrType::MX);
  REQUIRE(truncated.outcome == Outcome::records);
  CHECK(truncated.mx().size() == 2);
  CHECK(server->queries_received("google.sendcheck.test", RrType::MX, Transport::tcp) == 1);
}

// ---------------------------------------------------------------------------
// Regressions: each of these once failed (the resolver reported an absence
// or dropped a good answer) and says what a passing run needs.

TEST_CASE("An overlay CNAME whose target lies outside the overlay is followed on the network",
          "[resolver]") {
  // --zone sendcheck.test.zone: mxalias is a CNAME to a Microsoft host the
  // overlay does not cover. The overlay alone stops there ("CNAME target
  // outside the zone overlay", NODATA), and the resolver hands that NODATA
  // to the caller: a definitive "no address" for a host that has two,
  // without asking the network that the overlay is supposed to sit in front of.
  const auto server = start_server_with({fixture_zone("mail.protection.outlook.com")});
  auto overlay = std::make_shared<ZoneOverlay>();
  overlay->add(fixture_zone("sendcheck.test"));
  auto config = config_for({server.get()});
  config.zones = overlay;
  auto resolver = make_resolver(config);

  const Answer answer = resolver->resolve("mxalias.sendcheck.test", RrType::A);
  INFO(outcome_text(answer) << " from " << answer.source);
  CHECK(answer.outcome == Outcome::records);
  CHECK(sorted_addresses(answer) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
  REQUIRE(answer.cname_chain.size() == 1);
  CHECK(answer.cname_chain[0].owner == "mxalias.sendcheck.test");
  CHECK(server->queries_received("contoso-sendcheck-test.mail.protection.outlook.com", RrType::A) == 1);
}

TEST_CASE("An answer that fits the advertised EDNS size is taken from UDP", "[resolver]") {
  // Four TXT records of 151 octets: about 700 octets, more than 512 and less
  // than the 1232 the query advertises (ResolverConfig::edns_udp_size), so
  // the server sends it whole over UDP. c-ares 1.18 only knows of our OPT
  // record through ARES_FLAG_EDNS/ARES_OPT_EDNSPSZ, which the resolver does
  // not set; it then treats every UDP answer over 512 octets as truncated
  // and asks again over TCP. Where TCP/53 is blocked (here: the server
  // closes every TCP connection at once) a complete answer becomes a failure.
  std::string text = resolver_zone_text;
  for (int i = 0; i < 4; ++i) text += "mid IN TXT \"" + std::to_string(i) + std::string(150, 'x') + "\"\n";
  DnsTestServerConfig server_config;
  server_config.zones.add(zone_from_text(text, "resolver.test.zone"));
  server_config.max_tcp_connections = 0;
  const auto server = start_server(std::move(server_config));
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer answer = resolver->resolve("mid.resolver.test", RrType::TXT);
  INFO(outcome_text(answer));
  CHECK(answer.outcome == Outcome::records);
  CHECK(answer.txt().size() == 4);
  CHECK(server->queries_received("mid.resolver.test", RrType::TXT, Transport::udp) == 1);
  CHECK(server->queries_received("mid.resolver.test", RrType::TXT, Transport::tcp) == 0);
}

TEST_CASE("A name ending in an empty label is malformed, not NODATA", "[resolver]") {
  // canonical_name() drops one trailing dot; invalid_name_reason() never
  // looks at the label after the last dot, so "mail.resolver.test.." passes
  // as "mail.resolver.test.". The wire encoder sends "mail.resolver.test",
  // and the answer's records (owner "mail.resolver.test") do not match the
  // asked name: a definitive NODATA for a name that has an address.
  const auto server = start_full_server();
  auto resolver = make_resolver(config_for({server.get()}));

  const Answer answer = resolver->resolve("mail.resolver.test..", RrType::A);
  INFO(outcome_text(answer) << ", name \"" << answer.name << "\"");
  CHECK(answer.outcome == Outcome::malformed);
  CHECK_THAT(answer.detail, Catch::Contains("empty label"));
  CHECK(server->total_queries() == 0);
}

TEST_CASE("A CNAME loop over the network fails like one in the overlay", "[resolver]") {
  // ZoneOverlay::answer reports a loop as SERVFAIL "CNAME loop"; over the
  // network the resolver stops chasing (good) but reports NODATA, a
  // definitive absence, for the same data. sendcheck-mx would then say "the
  // MX host has no address" instead of "its DNS is broken".
  const CnameLoop loop;
  auto resolver = make_resolver(config_for({loop.a.get(), loop.b.get()}));

  const Answer answer = resolver->resolve("loop.a.test", RrType::A);
  INFO(outcome_text(answer));
  CHECK_FALSE(answer.is_definitive());
  CHECK(answer.outcome == Outcome::servfail);
  CHECK_THAT(answer.detail, Catch::Contains("CNAME loop"));
}

TEST_CASE("query_at asks the chosen server only: its own answer, no fail-over, no overlay", "[resolver]") {
  // Two servers that disagree about ns1's address, as two egress services
  // report different askers' addresses.
  const auto first = start_server_with({zone_from_text(resolver_zone_text, "first.zone")});
  const auto second = start_server_with({zone_from_text(std::string(resolver_zone_text) + "\nns1 IN A 192.0.2.99\n", "second.zone")});
  auto config = config_for({first.get(), second.get()});
  config.keep_log = true;
  auto overlay = std::make_shared<ZoneOverlay>();
  overlay->add(zone_from_text(resolver_zone_text, "overlay.zone"));
  config.zones = overlay;  // covers the name, yet query_at goes to the network
  auto resolver = make_resolver(config);

  std::vector<Answer> answers(4);
  resolver->query_at(0, "ns1.resolver.test", RrType::A, [&](const Answer& answer) { answers[0] = answer; });
  resolver->query_at(1, "ns1.resolver.test", RrType::A, [&](const Answer& answer) { answers[1] = answer; });
  resolver->query_at(1, "NS1.resolver.test.", RrType::A, [&](const Answer& answer) { answers[2] = answer; });  // coalesced
  resolver->query("ns1.resolver.test", RrType::A, [&](const Answer& answer) { answers[3] = answer; });
  resolver->run();
  CHECK(answers[0].source == first->endpoint_v4());
  CHECK(answers[1].source == second->endpoint_v4());
  CHECK(answers[1].addresses().size() == 2);  // the second server's extra address
  CHECK(answers[0].addresses().size() == 1);
  CHECK(answers[2].addresses() == answers[1].addresses());
  CHECK_THAT(answers[3].source, Catch::StartsWith("zone:"));  // the plain question is the overlay's
  CHECK(first->queries_received("ns1.resolver.test", RrType::A) == 1);
  CHECK(second->queries_received("ns1.resolver.test", RrType::A) == 1);

  // A failing chosen server is the answer: the other server is not asked.
  first->add_fault("www.resolver.test", RrType::A, Fault{FaultAction::refused});
  Answer refused;
  resolver->query_at(0, "www.resolver.test", RrType::A, [&](const Answer& answer) { refused = answer; });
  resolver->run();
  CHECK(refused.outcome == Outcome::refused);
  CHECK(second->queries_received("www.resolver.test", RrType::A) == 0);

  // A server number past the list is a local failure, nothing is sent.
  Answer nowhere;
  resolver->query_at(2, "ns1.resolver.test", RrType::A, [&](const Answer& answer) { nowhere = answer; });
  resolver->run();
  CHECK(nowhere.outcome == Outcome::network_error);
  CHECK_THAT(nowhere.detail, Catch::Contains("no DNS server number 3"));
}

// ---------------------------------------------------------------------------
// Names with any octet (RFC 2181 11)

TEST_CASE("A name holding a space or another octet is asked and answered", "[resolver]") {
  // SPF's %_ and local-part macros (RFC 7208 7.3) build such names.
  const std::string zone = std::string(resolver_zone_text) +
                           "a\\032b  IN TXT \"v=spf1 -all\"\n"
                           "tab\\009\\255 IN A 192.0.2.9\n";
  const auto server = start_server_with({zone_from_text(zone, "resolver.test.zone")});
  auto config = config_for({server.get()});
  config.keep_log = true;
  auto resolver = make_resolver(config);

  const Answer spaced = resolver->resolve("a b.resolver.test.", RrType::TXT);
  INFO(outcome_text(spaced));
  REQUIRE(spaced.outcome == Outcome::records);
  CHECK(spaced.name == "a\\032b.resolver.test");  // one text per wire name
  REQUIRE(spaced.txt().size() == 1);
  CHECK(spaced.txt()[0].joined() == "v=spf1 -all");
  CHECK(server->queries_received("a b.resolver.test", RrType::TXT, Transport::udp) == 1);
  // The escaped spelling, upper case, is the same question: coalesced, not sent again.
  CHECK(resolver->resolve("A\\032B.resolver.test", RrType::TXT).ok());
  CHECK(server->queries_received("a b.resolver.test", RrType::TXT) == 1);

  const Answer raw_octets = resolver->resolve(std::string("tab\t\xff.resolver.test"), RrType::A);
  INFO(outcome_text(raw_octets));
  REQUIRE(raw_octets.outcome == Outcome::records);
  CHECK(raw_octets.addresses() == std::vector<diag::IpAddress>{ip("192.0.2.9")});
  // A name with such an octet that the zone lacks: a definitive NXDOMAIN from the server, not a local failure.
  const Answer absent = resolver->resolve("c d.resolver.test", RrType::TXT);
  CHECK(absent.outcome == Outcome::nxdomain);
  CHECK(absent.source == server->endpoint_v4());
}

TEST_CASE("The zone overlay answers a name holding a space", "[resolver]") {
  ResolverConfig config;
  auto overlay = std::make_shared<ZoneOverlay>();
  overlay->add(zone_from_text(std::string(resolver_zone_text) + "a\\032b IN TXT \"v=spf1 -all\"\n", "overlay.zone"));
  config.zones = overlay;
  auto resolver = make_resolver(config);
  const Answer answer = resolver->resolve("a b.resolver.test", RrType::TXT);
  INFO(outcome_text(answer));
  REQUIRE(answer.outcome == Outcome::records);
  CHECK_THAT(answer.source, Catch::StartsWith("zone:"));
}

// ---------------------------------------------------------------------------
// Questions that cannot be forged (RFC 5452)

TEST_CASE("Each question goes out under a random ID, from a source port of its own", "[resolver]") {
  const auto server = start_server_with(bulk_zones());
  auto config = config_for({server.get()}, 2000ms, 1);
  config.max_outstanding = 32;  // several windows: ports are reused by the kernel, not by us
  auto resolver = make_resolver(config);
  constexpr int questions = 200;
  int answered = 0;
  for (int i = 0; i < questions; ++i)
    resolver->query("h" + std::to_string(i) + ".bulk.test", RrType::AAAA, [&](const Answer& answer) {
      if (answer.ok()) ++answered;
    });
  resolver->run();
  REQUIRE(answered == questions);

  const auto received = server->received_queries();
  REQUIRE(received.size() == static_cast<std::size_t>(questions));
  std::set<std::uint16_t> ids, ports;
  int sequential_ids = 0, sequential_ports = 0;
  for (std::size_t i = 0; i < received.size(); ++i) {
    CHECK(received[i].transport == Transport::udp);
    ids.insert(received[i].id);
    ports.insert(received[i].source_port);
    if (i == 0) continue;
    if (received[i].id == static_cast<std::uint16_t>(received[i - 1].id + 1)) ++sequential_ids;
    if (received[i].source_port == static_cast<std::uint16_t>(received[i - 1].source_port + 1)) ++sequential_ports;
  }
  // 200 draws from 65,536 IDs collide about 0.3 times on average, from
  // Linux's ~28,000 ephemeral ports about 0.7 times: "nearly all" distinct.
  CHECK(ids.size() >= questions - 5);
  CHECK(ports.size() >= questions - 5);
  CHECK(sequential_ids <= 2);
  CHECK(sequential_ports <= 2);
  // Spread over the whole range, not a window of it.
  CHECK(*ids.rbegin() - *ids.begin() > 30000);
}

TEST_CASE("A forged answer is never taken: wrong ID, other question, other port", "[resolver]") {
  // The test server sends, before the real answer, a forgery with the wrong
  // ID, one with the right ID for another name, one for another type, and
  // one from another port, each saying 203.0.113.66 / "v=spf1 +all".
  const auto server = start_full_server();
  server->add_fault("mail.resolver.test", RrType::A, Fault{FaultAction::forgeries});
  server->add_fault("contoso.sendcheck.test", RrType::TXT, Fault{FaultAction::forgeries});
  auto resolver = make_resolver(config_for({server.get()}, 1000ms, 1));

  const Answer address = resolver->resolve("mail.resolver.test", RrType::A);
  INFO(outcome_text(address));
  REQUIRE(address.outcome == Outcome::records);
  CHECK(address.addresses() == std::vector<diag::IpAddress>{ip("192.0.2.25")});

  const Answer txt = resolver->resolve("contoso.sendcheck.test", RrType::TXT);
  INFO(outcome_text(txt));
  REQUIRE(txt.outcome == Outcome::records);
  for (const auto& record : txt.txt()) CHECK(record.joined() != "v=spf1 +all");

  SECTION("when only forgeries come, the question times out") {
    server->add_fault("ns1.resolver.test", RrType::A, Fault{FaultAction::forgeries});
    server->add_fault("ns1.resolver.test", RrType::A, Fault{FaultAction::drop});
    auto fresh = make_resolver(config_for({server.get()}, attempt, 2));
    const Answer forged = fresh->resolve("ns1.resolver.test", RrType::A);
    INFO(outcome_text(forged));
    CHECK(forged.outcome == Outcome::timeout);
    CHECK(forged.records.empty());
    CHECK(server->queries_received("ns1.resolver.test", RrType::A, Transport::udp) == 2);
  }
}
