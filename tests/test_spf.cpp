// SPF: the parser's positioned errors, each macro (RFC 7208 7.4's own
// examples), each processing limit, the parallel prefetch against the
// loopback DNS server (identical results and counts, fewer round trips),
// and tree validation findings (suggestions: test_spf_suggest.cpp).
#include <chrono>

#include <catch2/catch.hpp>

#include "diag/resolver.h"
#include "diag/spf.h"
#include "diag/zone.h"
#include "dns_test_server.h"

using namespace std::chrono_literals;
using namespace diag::spf;
using diag::IpAddress;
using diag::dns::Answer;
using diag::dns::Outcome;
using diag::dns::Record;
using diag::dns::RrType;

namespace {

IpAddress ip(const char* text) {
  auto parsed = IpAddress::parse(text);
  REQUIRE(parsed);
  return *parsed;
}

// Answers by hand: a cache filled with records; anything else times out.
class Zone {
 public:
  Zone& txt(const std::string& name, std::vector<std::string> strings) {
    return add(name, RrType::TXT, diag::dns::TxtData{std::move(strings)});
  }
  Zone& spf(const std::string& name, const std::string& record) { return txt(name, {record}); }
  Zone& a(const std::string& name, const char* address) { return add(name, address_type(address), diag::dns::AddressData{ip(address)}); }
  Zone& mx(const std::string& name, std::uint16_t preference, const std::string& host) {
    return add(name, RrType::MX, diag::dns::MxData{preference, host});
  }
  Zone& ptr(const std::string& name, const std::string& target) { return add(name, RrType::PTR, diag::dns::NameData{target}); }
  Zone& none(const std::string& name, RrType type, Outcome outcome = Outcome::nxdomain) {
    Answer answer;
    answer.name = name;
    answer.type = type;
    answer.outcome = outcome;
    cache.store(name, type, answer);
    return *this;
  }
  AnswerCache cache;

 private:
  static RrType address_type(const char* address) { return ip(address).is_v4() ? RrType::A : RrType::AAAA; }
  Zone& add(const std::string& name, RrType type, diag::dns::Rdata data) {
    Answer answer = cache.find(name, type) ? *cache.find(name, type) : Answer{};
    answer.name = name;
    answer.type = type;
    answer.outcome = Outcome::records;
    answer.records.push_back(Record{name, type, 300, std::move(data)});
    cache.store(name, type, answer);
    return *this;
  }
};

SpfEvaluation evaluate(Zone& zone, const char* address, const std::string& sender, const std::string& helo = "mail.example.org") {
  OfflineSpfResolver resolver(zone.cache);
  CheckHostInput input;
  input.ip = ip(address);
  input.sender = sender;
  input.helo = helo;
  input.default_explanation = "DEFAULT";
  input.timestamp = 1;
  return check_host(resolver, zone.cache, input);
}

}  // namespace

TEST_CASE("parser: syntax errors name the term and its position", "[spf][parser]") {
  struct Case {
    std::string record;
    std::size_t position;
    std::string term;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"v=spf1 ip4:192.0.2.1 moo -all", 21, "moo", "unknown mechanism"},
      {"v=spf1 ip4:1.2.3 -all", 7, "ip4:1.2.3", "not an IPv4 address"},
      {"v=spf1 ip4:192.0.2.0/33", 7, "ip4:192.0.2.0/33", "prefix length"},
      {"v=spf1 ip4:192.0.2.0/024", 7, "ip4:192.0.2.0/024", "leading zeros"},
      {"v=spf1 a/24//129", 7, "a/24//129", "IPv6 prefix"},
      {"v=spf1 include: -all", 7, "include:", "needs a domain"},
      {"v=spf1 a:museum -all", 9, "museum", "top-level label"},
      {"v=spf1 exists:%{x}.example.com", 14, "%{x}.example.com", "unknown macro letter"},
      {"v=spf1 -all exp=%{r}.example.com", 16, "%{r}.example.com", "only allowed in explanation"},
      {"v=spf1 a:foo%.example.com", 12, "foo%.example.com", "is not a macro"},
      {"v=spf1 redirect=a.example.com redirect=b.example.com", 30, "redirect=b.example.com", "more than once"},
      {"v=spf1 1up=foo", 7, "1up=foo", "start with a letter"},
      {"v=spf1 -all/8", 7, "-all/8", "no argument"},
      {"v=spf1 exists:%{d0}", 14, "%{d0}", "nonzero"},
  };
  for (const auto& c : cases) {
    INFO(c.record);
    const ParsedRecord record = parse_record(c.record);
    REQUIRE_FALSE(record.ok());
    CHECK(record.error->position == c.position);
    CHECK(record.error->term == c.term);
    CHECK_THAT(record.error->message, Catch::Contains(c.message_part));
  }
  CHECK(parse_record("v=spf1 moo -all").error->to_string() == "column 8, term \"moo\": unknown mechanism \"moo\" (RFC 7208 5: all include a mx ptr ip4 ip6 exists)");
}

TEST_CASE("parser: valid records, dual CIDR, colons in domains, unknown modifiers", "[spf][parser]") {
  const auto record = parse_record("v=spf1 +a:foo:bar/baz.example.com mx/24//64 ip6:2001:db8::/32 ~include:_spf.%{d2} x-note=%{l} ?all");
  REQUIRE(record.ok());
  REQUIRE(record.terms.size() == 6);
  CHECK(record.terms[0].domain_spec == "foo:bar/baz.example.com");
  CHECK(record.terms[1].cidr4 == 24);
  CHECK(record.terms[1].cidr6 == 64);
  CHECK(record.terms[2].cidr6 == 32);
  CHECK(record.terms[3].qualifier == Qualifier::softfail);
  CHECK_FALSE(record.terms[4].is_mechanism);
  CHECK(record.terms[4].name == "x-note");
  CHECK(record.terms[5].position == 94);
  CHECK(is_spf_record("V=SPF1 -all"));
  CHECK_FALSE(is_spf_record("v=spf10"));
  CHECK(is_spf_record("v=spf1"));
}

TEST_CASE("macros: the examples of RFC 7208 7.4", "[spf][macro]") {
  MacroContext context;
  context.sender = "strong-bad@email.example.com";
  context.local_part = "strong-bad";
  context.sender_domain = "email.example.com";
  context.domain = "email.example.com";
  context.ip = ip("192.0.2.3");
  context.helo = "mx.example.org";
  context.receiver = "receiver.example.net";
  context.timestamp = 1234567890;
  const auto use = MacroUse::domain_spec;
  CHECK(expand_macros("%{s}", context, use) == "strong-bad@email.example.com");
  CHECK(expand_macros("%{o}", context, use) == "email.example.com");
  CHECK(expand_macros("%{d}", context, use) == "email.example.com");
  CHECK(expand_macros("%{d4}", context, use) == "email.example.com");
  CHECK(expand_macros("%{d3}", context, use) == "email.example.com");
  CHECK(expand_macros("%{d2}", context, use) == "example.com");
  CHECK(expand_macros("%{d1}", context, use) == "com");
  CHECK(expand_macros("%{dr}", context, use) == "com.example.email");
  CHECK(expand_macros("%{d2r}", context, use) == "example.email");
  CHECK(expand_macros("%{l}", context, use) == "strong-bad");
  CHECK(expand_macros("%{l-}", context, use) == "strong.bad");
  CHECK(expand_macros("%{lr}", context, use) == "strong-bad");
  CHECK(expand_macros("%{lr-}", context, use) == "bad.strong");
  CHECK(expand_macros("%{l1r-}", context, use) == "strong");
  CHECK(expand_macros("%{ir}.%{v}._spf.%{d2}", context, use) == "3.2.0.192.in-addr._spf.example.com");
  CHECK(expand_macros("%{lr-}.lp._spf.%{d2}", context, use) == "bad.strong.lp._spf.example.com");
  CHECK(expand_macros("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", context, use) == "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  CHECK(expand_macros("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", context, use) == "3.2.0.192.in-addr.strong.lp._spf.example.com");
  CHECK(expand_macros("%{d2}.trusted-domains.example.net", context, use) == "example.com.trusted-domains.example.net");
  CHECK(expand_macros("%{h}", context, use) == "mx.example.org");
  CHECK(expand_macros("%%%_%-", context, use) == "% %20");
  // Explanation-only letters, and URL escaping of upper-case letters.
  CHECK(expand_macros("%{c} %{r} %{t}", context, MacroUse::explanation) == "192.0.2.3 receiver.example.net 1234567890");
  CHECK(expand_macros("%{S}", context, use) == "strong-bad%40email.example.com");
  context.ip = ip("2001:db8::cb01");
  CHECK(expand_macros("%{ir}.%{v}._spf.%{d2}", context, use) ==
        "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
  CHECK(expand_macros("%{c}", context, MacroUse::explanation) == "2001:db8::cb01");
  // p needs DNS: it comes from the context once validated.
  context.validated_name = "mx.example.org";
  CHECK(expand_macros("%{p}", context, use) == "mx.example.org");
  CHECK(uses_macro("exists:%{p}.x", 'p'));
  CHECK(uses_macro("exists:%{H}.x", 'h'));
  CHECK_FALSE(uses_macro("exists:%{i}.%%{h}.x", 'h'));
}

TEST_CASE("limits: 10 DNS-querying terms, counted through includes", "[spf][limits]") {
  Zone zone;
  zone.spf("ten.example", "v=spf1 a a a a a include:five.example -all").a("ten.example", "192.0.2.1");
  zone.spf("five.example", "v=spf1 a a a a ip4:198.51.100.1").a("five.example", "192.0.2.2");
  auto at_limit = evaluate(zone, "198.51.100.1", "x@ten.example");
  CHECK(at_limit.result == SpfResult::pass);
  CHECK(at_limit.lookups == 10);
  CHECK(at_limit.path == std::vector<std::string>{"ten.example", "include:five.example", "ip4:198.51.100.1"});
  CHECK(at_limit.matched == "ip4:198.51.100.1");

  zone.spf("eleven.example", "v=spf1 a a a a a a include:five.example -all").a("eleven.example", "192.0.2.1");
  auto over = evaluate(zone, "198.51.100.1", "x@eleven.example");
  CHECK(over.result == SpfResult::permerror);
  CHECK(over.lookups == 11);
  CHECK_THAT(over.reason, Catch::Contains("4.6.4"));
}

TEST_CASE("limits: void lookups, MX names and PTR names", "[spf][limits]") {
  Zone zone;
  zone.spf("void.example", "v=spf1 a:n1.example a:n2.example a:n3.example ?all")
      .none("n1.example", RrType::A)
      .none("n2.example", RrType::A, Outcome::nodata)
      .none("n3.example", RrType::A);
  auto voids = evaluate(zone, "192.0.2.9", "x@void.example");
  CHECK(voids.result == SpfResult::permerror);
  CHECK(voids.void_lookups == 3);

  zone.spf("mx11.example", "v=spf1 mx -all");
  for (int k = 0; k < 11; ++k) zone.mx("mx11.example", static_cast<std::uint16_t>(k), "h" + std::to_string(k) + ".example");
  CHECK(evaluate(zone, "192.0.2.9", "x@mx11.example").result == SpfResult::permerror);

  // RFC 7208 4.6.4: PTR names beyond the tenth are ignored, not an error.
  zone.spf("ptr.example", "v=spf1 ptr -all");
  for (int k = 0; k < 11; ++k) zone.ptr("9.2.0.192.in-addr.arpa", "h" + std::to_string(k) + ".other.example");
  zone.ptr("9.2.0.192.in-addr.arpa", "mail.ptr.example");
  zone.a("mail.ptr.example", "192.0.2.9");
  CHECK(evaluate(zone, "192.0.2.9", "x@ptr.example").result == SpfResult::fail);
}

TEST_CASE("a result that rests on the HELO name says so", "[spf][macro]") {
  Zone zone;
  zone.spf("helo.example", "v=spf1 ip4:198.51.100.7 exists:%{h}.allow.helo.example -all").a("scanner.helo.example.allow.helo.example", "127.0.0.2");
  // Passes for the device's name, fails for another: the result is the name's.
  auto passes = evaluate(zone, "192.0.2.9", "x@helo.example", "scanner.helo.example");
  CHECK(passes.result == SpfResult::pass);
  CHECK(passes.helo_used);
  zone.none("tester.example.org.allow.helo.example", RrType::A);
  auto fails = evaluate(zone, "192.0.2.9", "x@helo.example", "tester.example.org");
  CHECK(fails.result == SpfResult::fail);
  CHECK(fails.helo_used);
  // Decided before the macro term: the HELO name plays no part.
  auto before = evaluate(zone, "198.51.100.7", "x@helo.example", "tester.example.org");
  CHECK(before.result == SpfResult::pass);
  CHECK_FALSE(before.helo_used);
}

TEST_CASE("timeouts are temperror, never absence", "[spf]") {
  Zone zone;  // nothing known: every lookup times out
  auto result = evaluate(zone, "192.0.2.1", "x@nowhere.example");
  CHECK(result.result == SpfResult::temperror);
  CHECK_THAT(result.reason, Catch::Contains("timeout"));
}

TEST_CASE("fail explanations: exp=, macros, and the default", "[spf]") {
  Zone zone;
  zone.spf("exp.example", "v=spf1 -all exp=why.%{d}").txt("why.exp.example", {"%{i} may not send ", "as %{d}"});
  auto with_exp = evaluate(zone, "192.0.2.5", "x@exp.example");
  CHECK(with_exp.result == SpfResult::fail);
  CHECK(with_exp.explanation == "192.0.2.5 may not send as exp.example");
  zone.spf("plain.example", "v=spf1 -all");
  CHECK(evaluate(zone, "192.0.2.5", "x@plain.example").explanation == "DEFAULT");
}

namespace {

// A deep tree on the loopback server: root -> 3 includes -> 2 each -> leaf
// records with an ip4 term, the last one also a:host (10 lookups in all);
// every answer delayed.
std::string deep_tree_zone() {
  std::string zone =
      "$ORIGIN deep.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.53\n"
      "@ TXT \"v=spf1 include:l1a.deep.test include:l1b.deep.test include:l1c.deep.test -all\"\n";
  for (const char* first : {"l1a", "l1b", "l1c"}) {
    std::string record = "v=spf1";
    for (int k = 0; k < 2; ++k) record += std::string(" include:") + first + "-" + std::to_string(k) + ".deep.test";
    zone += std::string(first) + " TXT \"" + record + "\"\n";
    for (int k = 0; k < 2; ++k)
      zone += std::string(first) + "-" + std::to_string(k) + " TXT \"v=spf1 " +
              (std::string(first) == "l1c" && k == 1 ? "a:host.deep.test " : "") + "ip4:198.51.100." +
              std::to_string((first[2] - 'a') * 10 + k) + "\"\n";
  }
  zone += "host A 203.0.113.9\n";
  return zone;
}

}  // namespace

TEST_CASE("prefetch: a deep tree costs its depth in round trips, with sequential results and counts", "[spf][prefetch]") {
  using sendcheck::testing::DnsTestServer;
  using sendcheck::testing::DnsTestServerConfig;
  auto zone = diag::dns::parse_zone_text(deep_tree_zone(), "deep.test");
  REQUIRE(zone);
  DnsTestServerConfig server_config;
  server_config.zones.add(std::move(zone.value()));
  auto server = DnsTestServer::start(std::move(server_config));
  REQUIRE(server);
  constexpr auto delay = 40ms;
  for (const char* name : {"deep.test", "l1a.deep.test", "l1b.deep.test", "l1c.deep.test", "l1a-0.deep.test", "l1a-1.deep.test",
                           "l1b-0.deep.test", "l1b-1.deep.test", "l1c-0.deep.test", "l1c-1.deep.test", "host.deep.test"})
    (*server)->add_fault(name, sendcheck::testing::any_type, sendcheck::testing::Fault::delayed_by(delay));

  auto run = [&](bool prefetch, const char* address) {
    diag::dns::ResolverConfig config;
    config.servers.push_back(*diag::dns::parse_server_address((*server)->endpoint_v4()));
    config.attempt_timeout = 2000ms;
    auto resolver = diag::dns::Resolver::create(std::move(config));
    REQUIRE(resolver);
    NetworkSpfResolver spf_resolver(**resolver);
    AnswerCache cache;
    CheckHostInput input;
    input.ip = ip(address);
    input.sender = "x@deep.test";
    input.helo = "deep.test";
    EngineOptions options;
    options.prefetch = prefetch;
    const auto start = std::chrono::steady_clock::now();
    auto evaluation = check_host(spf_resolver, cache, input, options);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    return std::make_pair(evaluation, std::chrono::duration_cast<std::chrono::milliseconds>(elapsed));
  };
  // The last leaf: a sequential evaluation walks the whole tree first.
  for (const char* address : {"198.51.100.21", "192.0.2.200", "203.0.113.9"}) {
    INFO(address);
    const auto [parallel, parallel_time] = run(true, address);
    const auto [sequential, sequential_time] = run(false, address);
    CHECK(parallel.result == sequential.result);
    CHECK(parallel.lookups == sequential.lookups);
    CHECK(parallel.void_lookups == sequential.void_lookups);
    CHECK(parallel.path == sequential.path);
    CHECK(parallel.matched == sequential.matched);
    // Depth 4 (root, level 1, level 2, the a: host): about 4 round trips.
    CHECK(parallel.rounds <= 5);
    CHECK(sequential.rounds >= 10);
    CHECK(parallel_time < sequential_time);
    CHECK(parallel_time < delay * 5 * 3 / 2 + 100ms);
  }
  const auto [last, unused] = run(true, "198.51.100.21");
  CHECK(last.result == SpfResult::pass);
  CHECK(last.path == std::vector<std::string>{"deep.test", "include:l1c.deep.test", "include:l1c-1.deep.test", "ip4:198.51.100.21"});
  (void)unused;
}

namespace {

TreeValidation validate(Zone& zone, const std::string& domain, std::optional<std::string> record = std::nullopt) {
  OfflineSpfResolver resolver(zone.cache);
  return validate_tree(resolver, zone.cache, domain, record);
}

const diag::Check* find_check(const TreeValidation& tree, const std::string& id) {
  for (const auto& check : tree.checks)
    if (check.id == id) return &check;
  return nullptr;
}

}  // namespace

TEST_CASE("tree: findings with remedies", "[spf][tree]") {
  Zone zone;
  zone.spf("spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 ip6:2a01:111:f400::/48 -all");
  zone.spf("outlook.com", "v=spf1 ip4:40.92.0.0/15 -all");
  zone.spf("wrong.example", "v=spf1 include:outlook.com ip4:10.1.2.3 ptr +all");
  zone.mx("wrong.example", 0, "wrong-example.mail.protection.outlook.com");
  zone.none("wrong.example", RrType::SPF, Outcome::nodata);
  const auto tree = validate(zone, "wrong.example");
  CHECK(tree.lookups == 2);
  REQUIRE(find_check(tree, "spf.microsoft-include"));
  CHECK(find_check(tree, "spf.microsoft-include")->status == diag::Status::fail);
  CHECK(find_check(tree, "spf.all")->status == diag::Status::fail);
  CHECK(find_check(tree, "spf.ptr")->status == diag::Status::warn);
  CHECK(find_check(tree, "spf.private-networks")->status == diag::Status::warn);
  CHECK(find_check(tree, "spf.m365-include")->status == diag::Status::fail);  // outlook.com is not the right include

  zone.spf("loop.example", "v=spf1 include:loop2.example -all").spf("loop2.example", "v=spf1 include:loop.example");
  const auto loop = validate(zone, "loop.example");
  REQUIRE(find_check(loop, "spf.include-loop"));
  zone.txt("two.example", {"v=spf1 -all"}).txt("two.example", {"v=spf1 ~all"});
  CHECK(find_check(validate(zone, "two.example"), "spf.record")->status == diag::Status::fail);
  const auto unresolved = validate(zone, "timeout.example");
  CHECK(find_check(unresolved, "spf.record")->status == diag::Status::error);
}
