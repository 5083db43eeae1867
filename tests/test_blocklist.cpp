// sendcheck-blocklist's library (libdiag/src/blocklist): the zone table and
// its text form, query names (RFC 5782 2.1, 2.4), secrets and their masking,
// the four outcomes per list, the RFC 5782 section 5 liveness probes, the
// public-resolver refusal, timeouts, IPv6, one round trip, and egress
// discovery by DNS and by HTTP; against the loopback DnsTestServer serving
// fixtures/blocklist/*.zone. Nothing here leaves loopback.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "diag/blocklist.h"
#include "dns_test_server.h"
#include "temporary_directory.h"
#include "fixture_zones.h"

using namespace std::chrono_literals;
using namespace diag::blocklist;
using diag::IpAddress;
using diag::Status;
using diag::dns::Answer;
using diag::dns::Outcome;
using diag::dns::RrType;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;

namespace {

// One attempt's wait: long enough that a loopback answer under ASan on a
// busy 2-core machine is never taken for a timeout (150 ms was not, in CI
// run 15), short enough that a dropped query costs a second.
constexpr auto attempt = 1000ms;
const std::string test_dqs_key = "abcdefghijklmnopqrstuvwxyz";  // the fixture's DQS zone

IpAddress ip(const char* text) {
  const auto address = IpAddress::parse(text);
  if (!address) FAIL("bad address in test: " << text);
  return *address;
}

diag::dns::ZoneFile fixture(const std::string& name) {
  auto zone = diag::dns::parse_zone_file(fixtures::source_path("fixtures/blocklist/" + name));
  if (!zone) FAIL("fixture " << name << ": " << zone.error().message);
  return std::move(zone).value();
}

diag::dns::ZoneFile zone_text(const std::string& text, const std::string& name) {
  auto zone = diag::dns::parse_zone_text(text, name);
  if (!zone) FAIL("zone " << name << ": " << zone.error().message);
  return std::move(zone).value();
}

std::unique_ptr<DnsTestServer> start_server(std::vector<diag::dns::ZoneFile> zones) {
  DnsTestServerConfig config;
  for (auto& zone : zones) config.zones.add(std::move(zone));
  auto server = DnsTestServer::start(std::move(config));
  if (!server) FAIL("test server: " << server.error().message);
  return std::move(server).value();
}

std::unique_ptr<DnsTestServer> start_lists_server() { return start_server({fixture("lists.zone")}); }

std::unique_ptr<diag::dns::Resolver> resolver_for(const DnsTestServer& server, std::chrono::milliseconds timeout = attempt,
                                                  int tries = 1) {
  diag::dns::ResolverConfig config;
  config.servers.push_back(*diag::dns::parse_server_address(server.endpoint_v4()));
  config.attempt_timeout = timeout;
  config.tries = tries;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  if (!resolver) FAIL("resolver: " << resolver.error().message);
  return std::move(resolver).value();
}

std::vector<SelectedList> lists_by_id(const std::vector<std::string>& ids, const Secrets& secrets = {}) {
  auto selected = select_lists(builtin_lists(), ids, secrets);
  if (!selected) FAIL(selected.error().message);
  return std::move(selected).value();
}

std::vector<SelectedList> default_lists(const Secrets& secrets = {}) { return lists_by_id({}, secrets); }

const Listing& listing_for(const IpReport& report, const std::string& id) {
  for (const auto& listing : report.listings)
    if (listing.list.spec->id == id) return listing;
  FAIL("no listing for " << id);
  throw std::logic_error("unreachable");
}

std::vector<IpReport> check(diag::dns::Resolver& resolver, const std::vector<const char*>& addresses,
                            const std::vector<SelectedList>& lists) {
  std::vector<std::pair<IpAddress, std::string>> ips;
  for (const char* text : addresses) ips.emplace_back(ip(text), "argument");
  return check_ips(resolver, ips, lists);
}

Answer answer_with(Outcome outcome, const std::vector<const char*>& addresses = {}) {
  Answer answer;
  answer.outcome = outcome;
  answer.source = "test";
  for (const char* text : addresses)
    answer.records.push_back({"x", RrType::A, 300, diag::dns::AddressData{ip(text)}});
  return answer;
}

// A DQS-style list for evaluate_listing tests: ZEN's codes.
const SelectedList& zen() {
  static const std::vector<SelectedList> lists = lists_by_id({"spamhaus-zen"});
  return lists.front();
}

}  // namespace

// ---------------------------------------------------------------------------
// Query names

TEST_CASE("IPv4 query names reverse the octets (RFC 5782 2.1)", "[blocklist]") {
  CHECK(reversed_name(ip("203.0.113.79")) == "79.113.0.203");
  CHECK(query_name(ip("203.0.113.79"), "zen.spamhaus.org") == "79.113.0.203.zen.spamhaus.org");
  CHECK(query_name(positive_test_address(IpAddress::Family::v4), "bl.example") == "2.0.0.127.bl.example");
  CHECK(query_name(negative_test_address(IpAddress::Family::v4), "bl.example") == "1.0.0.127.bl.example");
}

TEST_CASE("IPv6 query names are 32 reversed nibbles (RFC 5782 2.4), Spamhaus's own example", "[blocklist]") {
  // dnsbl-facts §1: 2001:db8:7ca6:22::45 -> 5.4.0.0 ... 2.2.0.0.6.a.c.7.8.b.d.0.1.0.0.2
  CHECK(reversed_name(ip("2001:db8:7ca6:22::45")) ==
        "5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.0.0.6.a.c.7.8.b.d.0.1.0.0.2");
  // dnsbl-facts §2: the IPv6 test entries ::FFFF:7F00:2 and :1.
  CHECK(reversed_name(positive_test_address(IpAddress::Family::v6)) ==
        "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0");
  CHECK(reversed_name(negative_test_address(IpAddress::Family::v6)) ==
        "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0");
}

TEST_CASE("Addresses: IPv4-mapped IPv6 is asked as IPv4, private ranges are recognised, bad input named",
          "[blocklist]") {
  auto mapped = parse_ip("::ffff:192.0.2.9");
  REQUIRE(mapped);
  CHECK(mapped->is_v4());
  CHECK(mapped->to_string() == "192.0.2.9");
  auto bad = parse_ip("192.0.2.300");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == diag::ErrorKind::bad_input);
  CHECK(bad.error().message.find("192.0.2.300") != std::string::npos);
  for (const char* text : {"10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "169.254.1.1", "::1",
                           "fe80::1", "fd00::1"})
    CHECK(diag::is_non_public(diag::address_scope(ip(text))));
  for (const char* text : {"192.0.2.1", "203.0.113.7", "8.8.8.8", "2001:db8::1", "172.32.0.1"})
    CHECK_FALSE(diag::is_non_public(diag::address_scope(ip(text))));
}

// ---------------------------------------------------------------------------
// The table

TEST_CASE("The built-in table: live lists only, each with its source, terms, delisting and codes", "[blocklist]") {
  const auto& lists = builtin_lists();
  std::map<std::string, const ListSpec*> by_id;
  for (const auto& spec : lists) by_id[spec.id] = &spec;
  for (const char* id : {"spamhaus-zen", "spamhaus-dqs", "spamcop", "barracuda", "uceprotect-1", "uceprotect-2",
                         "uceprotect-3", "psbl", "mailspike-z", "mailspike-rep", "s5h", "spamrats", "abusix"})
    CHECK(by_id.count(id) == 1);
  for (const auto& spec : lists) {
    INFO(spec.id);
    CHECK_FALSE(spec.sources.empty());
    CHECK_FALSE(spec.terms.empty());
    CHECK_FALSE(spec.delist.empty());
    CHECK_FALSE(spec.m365.empty());
    CHECK_FALSE(spec.remedy.empty());
    // dnsbl-facts §3: SORBS was shut down on 5 June 2024.
    CHECK(spec.zone.find("sorbs") == std::string::npos);
    for (const auto& code : spec.codes) CHECK(code.first.in_prefix(ip("127.0.0.0"), 8));
  }
  const ListSpec& zen_spec = *by_id["spamhaus-zen"];
  CHECK(zen_spec.ipv6);
  CHECK(zen_spec.public_resolvers == PublicResolvers::refused);
  CHECK(zen_spec.code_for(ip("127.0.0.2"))->kind == CodeKind::listed);
  CHECK(zen_spec.code_for(ip("127.0.0.10"))->meaning.find("PBL") != std::string::npos);
  CHECK(zen_spec.code_for(ip("127.0.0.10"))->severity == Status::fail);
  CHECK(zen_spec.code_for(ip("127.0.0.6"))->meaning.find("XBL") != std::string::npos);  // 127.0.0.4-8 XBL
  CHECK(zen_spec.code_for(ip("127.255.255.254"))->kind == CodeKind::resolver_refused);
  CHECK(zen_spec.code_for(ip("127.255.255.252"))->kind == CodeKind::error);
  CHECK(zen_spec.code_for(ip("127.255.255.255"))->kind == CodeKind::error);
  CHECK(zen_spec.code_for(ip("127.0.0.1")) == nullptr);
  CHECK(by_id["spamhaus-dqs"]->key == SecretKind::spamhaus);
  CHECK(by_id["abusix"]->key == SecretKind::abusix);
  CHECK(by_id["s5h"]->ipv6);
  CHECK_FALSE(by_id["spamcop"]->ipv6);
  // dnsbl-facts §3 Mailspike: rep's .15-.20 are neutral or good, not listings.
  const ListSpec& rep = *by_id["mailspike-rep"];
  CHECK(rep.code_for(ip("127.0.0.10"))->kind == CodeKind::listed);
  for (const char* level : {"127.0.0.15", "127.0.0.17", "127.0.0.20"}) CHECK(rep.code_for(ip(level))->kind == CodeKind::not_listed);
  // UCEPROTECT 2/3 mostly mean the neighbors: informational.
  CHECK(by_id["uceprotect-2"]->codes.front().severity == Status::info);
  CHECK(by_id["uceprotect-3"]->codes.front().severity == Status::info);
  CHECK(by_id["uceprotect-1"]->codes.front().severity == Status::warn);
}

TEST_CASE("The text form round-trips: --dump-zones output parses to the built-in table", "[blocklist]") {
  auto parsed = parse_list_table(builtin_table_text(), "dump");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == builtin_lists().size());
  for (std::size_t i = 0; i < parsed->size(); ++i) {
    CHECK((*parsed)[i].id == builtin_lists()[i].id);
    CHECK((*parsed)[i].codes.size() == builtin_lists()[i].codes.size());
  }
}

TEST_CASE("Zone table errors name the file and line", "[blocklist]") {
  const auto error_of = [](const std::string& text) {
    auto parsed = parse_list_table(text, "my.zones");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().kind == diag::ErrorKind::bad_input);
    return parsed.error().message;
  };
  CHECK(error_of("zone x.example\n") == "my.zones:1: \"zone\" before the first \"list ID\" line");
  CHECK(error_of("list a\n  zone x.example\n  colour blue\n") == "my.zones:3: unknown keyword \"colour\"");
  CHECK(error_of("list a\n zone x.example\n code 10.0.0.2 listed fail x\n") ==
        "my.zones:3: code \"10.0.0.2\" is outside 127.0.0.0/8");
  CHECK(error_of("list a\n zone x.example\n code 127.0.0.2 listed loud x\n") ==
        "my.zones:3: a listed code needs a severity: fail, warn or info");
  CHECK(error_of("list a\n zone x.example\n code 127.0.0.2-127.0.0.5 listed fail x\n code 127.0.0.4 listed warn y\n") ==
        "my.zones:4: code 127.0.0.4 overlaps an earlier code of this list");
  CHECK(error_of("list a\n zone x..example\n") == "my.zones:2: zone \"x..example\" is not a valid DNS name");
  CHECK(error_of("list a\n zone x.example\n") ==
        "my.zones:1: list \"a\" has no \"code ... listed\" line: without one no answer could count as a listing");
  CHECK(error_of("list a\n zone {key}.x.example\n code 127.0.0.2 listed fail x\n").find("needs \"key spamhaus|abusix\"") !=
        std::string::npos);
  CHECK(error_of("list a\n zone x.example\n code 127.0.0.2 listed fail x\nlist a\n") == "my.zones:4: list \"a\" appears twice");
}

TEST_CASE("blocklist --zones: entries replace lists by ID and add new ones", "[blocklist]") {
  auto lists = builtin_lists();
  const auto count = lists.size();
  auto extra = parse_list_table(
      "list spamcop\n zone bl.spamcop.example\n name Local SpamCop mirror\n code 127.0.0.2 listed fail mirror hit\n"
      "list local\n zone bl.local.example\n code 127.0.0.2-127.0.0.3 listed warn local list # not a comment\n",
      "extra");
  REQUIRE(extra);
  merge_lists(lists, std::move(extra.value()));
  REQUIRE(lists.size() == count + 1);
  auto spamcop = std::find_if(lists.begin(), lists.end(), [](const ListSpec& l) { return l.id == "spamcop"; });
  CHECK(spamcop->zone == "bl.spamcop.example");
  CHECK(spamcop->codes.front().severity == Status::fail);
  CHECK(lists.back().id == "local");
  CHECK(lists.back().query == QueryPolicy::by_default);
  CHECK(lists.back().codes.front().meaning == "local list # not a comment");
}

// ---------------------------------------------------------------------------
// Secrets and selection

TEST_CASE("Keys come from a file or the environment, are checked without being quoted, and are masked",
          "[blocklist]") {
  const auto env = [](std::map<std::string, std::string> values) {
    return [values](const char* name) -> const char* {
      auto found = values.find(name);
      return found == values.end() ? nullptr : found->second.c_str();
    };
  };
  auto none = load_secrets("", "", env({}));
  REQUIRE(none);
  CHECK_FALSE(none->has(SecretKind::spamhaus));

  auto from_env = load_secrets("", "", env({{spamhaus_key_variable, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                                            {abusix_key_variable, "abusix-key-123"}}));
  REQUIRE(from_env);
  CHECK(from_env->spamhaus == test_dqs_key);  // lower case, as query names are
  CHECK(from_env->mask("2.0.0.127.ABCDEFGHIJKLMNOPqrstuvwxyz.zen.dq.spamhaus.net") == "2.0.0.127.***.zen.dq.spamhaus.net");
  CHECK(from_env->mask("x.abusix-key-123.combined.mail.abusix.zone") == "x.***.combined.mail.abusix.zone");

  auto short_key = load_secrets("", "", env({{spamhaus_key_variable, "tooshort123"}}));
  REQUIRE_FALSE(short_key);
  CHECK(short_key.error().message.find("26 characters") != std::string::npos);
  CHECK(short_key.error().message.find("tooshort123") == std::string::npos);

  auto dotted = load_secrets("", "", env({{abusix_key_variable, "evil.example.com"}}));
  REQUIRE_FALSE(dotted);
  CHECK(dotted.error().message.find("evil") == std::string::npos);

  const std::string path = "/tmp/sendcheck-test-blocklist-key-" + std::to_string(::getpid());
  {
    std::FILE* file = std::fopen(path.c_str(), "w");
    std::fputs("# my DQS key\n\n  abcdefghijklmnopqrstuvwxyz  \n", file);
    std::fclose(file);
  }
  auto from_file = load_secrets(path, "", env({{spamhaus_key_variable, "ignored-because-file-wins-xx"}}));
  ::unlink(path.c_str());
  REQUIRE(from_file);
  CHECK(from_file->spamhaus == test_dqs_key);
  auto missing = load_secrets("/nonexistent/key", "", env({}));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == diag::ErrorKind::bad_input);

  diag::dns::QueryLogEntry entry{"2.2.0.192.abcdefghijklmnopqrstuvwxyz.zen.dq.spamhaus.net", RrType::A, "s", Outcome::nxdomain,
                                 "CNAME to abcdefghijklmnopqrstuvwxyz.x", false, 1.0};
  std::vector<diag::dns::QueryLogEntry> seen;
  auto hook = masked_log_hook([&](const diag::dns::QueryLogEntry& e) { seen.push_back(e); }, *from_env);
  hook(entry);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].name == "2.2.0.192.***.zen.dq.spamhaus.net");
  CHECK(seen[0].detail == "CNAME to ***.x");
}

TEST_CASE("List selection: defaults, a DQS key replacing ZEN, --list by ID or zone, keys required", "[blocklist]") {
  const auto ids = [](const std::vector<SelectedList>& lists) {
    std::vector<std::string> out;
    for (const auto& l : lists) out.push_back(l.spec->id);
    return out;
  };
  const auto defaults = ids(default_lists());
  CHECK(std::count(defaults.begin(), defaults.end(), "spamhaus-zen") == 1);
  CHECK(std::count(defaults.begin(), defaults.end(), "spamhaus-dqs") == 0);
  CHECK(std::count(defaults.begin(), defaults.end(), "spamhaus-sbl") == 0);  // on request: ZEN covers it
  CHECK(std::count(defaults.begin(), defaults.end(), "abusix") == 0);

  Secrets secrets;
  secrets.spamhaus = test_dqs_key;
  const auto keyed = default_lists(secrets);
  const auto keyed_ids = ids(keyed);
  CHECK(std::count(keyed_ids.begin(), keyed_ids.end(), "spamhaus-zen") == 0);
  auto dqs = std::find_if(keyed.begin(), keyed.end(), [](const SelectedList& l) { return l.spec->id == "spamhaus-dqs"; });
  REQUIRE(dqs != keyed.end());
  CHECK(dqs->zone == test_dqs_key + ".zen.dq.spamhaus.net");
  CHECK(dqs->shown_zone == "***.zen.dq.spamhaus.net");

  CHECK(ids(lists_by_id({"bl.spamcop.net", "psbl"})) == std::vector<std::string>{"spamcop", "psbl"});
  auto unknown = select_lists(builtin_lists(), {"nope"}, {});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "unknown list \"nope\" (see --list-zones)");
  auto keyless = select_lists(builtin_lists(), {"abusix"}, {});
  REQUIRE_FALSE(keyless);
  CHECK(keyless.error().message.find("--abusix-key-file") != std::string::npos);
}

// ---------------------------------------------------------------------------
// The verdict, answer by answer

TEST_CASE("evaluate_listing keeps listed, not listed, error and unusable apart", "[blocklist]") {
  const auto v4 = IpAddress::Family::v4;
  const Answer alive = answer_with(Outcome::records, {"127.0.0.2"});
  const Answer absent = answer_with(Outcome::nxdomain);
  const Answer no_txt = answer_with(Outcome::nxdomain);

  SECTION("NXDOMAIN after healthy probes: not listed") {
    const auto l = evaluate_listing(zen(), v4, alive, absent, absent, no_txt);
    CHECK(l.status == ListingStatus::not_listed);
    CHECK(l.severity == Status::pass);
  }
  SECTION("a documented code: listed, with meaning, severity and the TXT verbatim") {
    Answer txt;
    txt.outcome = Outcome::records;
    txt.records.push_back({"x", RrType::TXT, 300, diag::dns::TxtData{{"see ", "https://example/"}}});
    const auto l = evaluate_listing(zen(), v4, alive, absent, answer_with(Outcome::records, {"127.0.0.11"}), txt);
    CHECK(l.status == ListingStatus::listed);
    CHECK(l.severity == Status::fail);
    CHECK(l.meaning.find("127.0.0.11 PBL") == 0);
    REQUIRE(l.txt);
    CHECK(*l.txt == "see https://example/");
  }
  SECTION("timeout, SERVFAIL and REFUSED are errors, never \"not listed\"") {
    for (const auto outcome : {Outcome::timeout, Outcome::servfail, Outcome::refused, Outcome::network_error}) {
      const auto l = evaluate_listing(zen(), v4, alive, absent, answer_with(outcome), no_txt);
      CHECK(l.status == ListingStatus::error);
      CHECK(l.severity == Status::error);
    }
  }
  SECTION("a failed probe makes a clean answer unprovable: error") {
    const auto l = evaluate_listing(zen(), v4, answer_with(Outcome::timeout), absent, absent, no_txt);
    CHECK(l.status == ListingStatus::error);
    CHECK(l.meaning.find("127.0.0.2") != std::string::npos);
  }
  SECTION("127.0.0.2 missing: the list is unusable and its NXDOMAIN is not counted") {
    const auto l = evaluate_listing(zen(), v4, absent, absent, absent, no_txt);
    CHECK(l.status == ListingStatus::unusable);
    CHECK(l.severity == Status::warn);
  }
  SECTION("127.0.0.1 listed: the list lists the world; its \"listed\" is not counted") {
    const auto l = evaluate_listing(zen(), v4, alive, answer_with(Outcome::records, {"127.0.0.2"}),
                                    answer_with(Outcome::records, {"127.0.0.2"}), no_txt);
    CHECK(l.status == ListingStatus::unusable);
  }
  SECTION("Spamhaus error codes are errors, not listings") {
    for (const char* code : {"127.255.255.252", "127.255.255.255", "127.0.1.255"}) {
      const auto l = evaluate_listing(zen(), v4, alive, absent, answer_with(Outcome::records, {code}), no_txt);
      CHECK(l.status == ListingStatus::error);
      CHECK_FALSE(l.resolver_refused);
    }
  }
  SECTION("127.255.255.254 anywhere is the resolver being refused") {
    const Answer refused = answer_with(Outcome::records, {"127.255.255.254"});
    const auto l = evaluate_listing(zen(), v4, refused, refused, refused, no_txt);
    CHECK(l.status == ListingStatus::error);
    CHECK(l.resolver_refused);
  }
  SECTION("URIBL-style 127.0.0.1, undocumented codes and answers outside 127/8 are errors") {
    for (const char* code : {"127.0.0.1", "127.0.0.99", "198.51.100.7"}) {
      const auto l = evaluate_listing(zen(), v4, alive, absent, answer_with(Outcome::records, {code}), no_txt);
      CHECK(l.status == ListingStatus::error);
    }
  }
  SECTION("a parked zone answers its probes with a web address: unusable") {
    const Answer parked = answer_with(Outcome::records, {"198.51.100.7"});
    CHECK(evaluate_listing(zen(), v4, parked, parked, parked, no_txt).status == ListingStatus::unusable);
  }
  SECTION("NOERROR without an address is neither listed nor not listed") {
    CHECK(evaluate_listing(zen(), v4, alive, absent, answer_with(Outcome::nodata), no_txt).status == ListingStatus::error);
  }
}

// ---------------------------------------------------------------------------
// Against the test DNS server

TEST_CASE("Each list's codes, decoded from the fixture zones", "[blocklist]") {
  auto server = start_lists_server();
  auto resolver = resolver_for(*server);
  const auto reports = check(*resolver, {"192.0.2.1", "192.0.2.2", "192.0.2.3"}, default_lists());
  REQUIRE(reports.size() == 3);

  for (const auto& listing : reports[0].listings) {
    INFO(listing.list.spec->id << ": " << listing.meaning);
    CHECK(listing.status == ListingStatus::not_listed);
  }
  const std::map<std::string, std::pair<Status, std::string>> expected = {
      {"spamhaus-zen", {Status::fail, "127.0.0.2 SBL"}},
      {"spamcop", {Status::warn, "127.0.0.2 SpamCop"}},
      {"barracuda", {Status::warn, "127.0.0.2 Barracuda"}},
      {"uceprotect-1", {Status::warn, "127.0.0.2 UCEPROTECT Level 1"}},
      {"uceprotect-2", {Status::info, "127.0.0.2 UCEPROTECT Level 2"}},
      {"uceprotect-3", {Status::info, "127.0.0.2 UCEPROTECT Level 3"}},
      {"psbl", {Status::warn, "127.0.0.2 PSBL"}},
      {"mailspike-z", {Status::warn, "127.0.0.2 Mailspike Z"}},
      {"mailspike-rep", {Status::warn, "127.0.0.10 Mailspike reputation L5"}},
      {"s5h", {Status::warn, "127.0.0.2 s5h"}},
      {"spamrats", {Status::warn, "127.0.0.37 SpamRATS NoPtr"}},
  };
  for (const auto& [id, want] : expected) {
    const Listing& listing = listing_for(reports[1], id);
    INFO(id << ": " << listing.meaning);
    CHECK(listing.status == ListingStatus::listed);
    CHECK(listing.severity == want.first);
    CHECK(listing.meaning.rfind(want.second, 0) == 0);
  }
  const Listing& zen_hit = listing_for(reports[1], "spamhaus-zen");
  CHECK(zen_hit.answers.size() == 2);  // SBL and PBL
  CHECK(zen_hit.meaning.find("127.0.0.10 PBL") != std::string::npos);
  REQUIRE(listing_for(reports[1], "spamcop").txt);
  CHECK(*listing_for(reports[1], "spamcop").txt == "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.2");
  // Mailspike rep H2 is a reputation level, not a listing.
  CHECK(listing_for(reports[2], "mailspike-rep").status == ListingStatus::not_listed);
  CHECK(listing_for(reports[2], "mailspike-rep").meaning.find("good") != std::string::npos);
  CHECK(listing_for(reports[0], "mailspike-rep").meaning.find("neutral") != std::string::npos);
}

TEST_CASE("IPv6: nibble names on lists that document IPv6, the IPv6 test entries, the rest not asked",
          "[blocklist]") {
  auto server = start_lists_server();
  auto resolver = resolver_for(*server);
  const auto reports = check(*resolver, {"2001:db8::2", "2001:db8::1"}, default_lists());
  REQUIRE(reports[0].listings.size() == 2);  // ZEN and s5h
  CHECK(listing_for(reports[0], "spamhaus-zen").status == ListingStatus::listed);
  CHECK(listing_for(reports[0], "spamhaus-zen").meaning.rfind("127.0.0.3 CSS", 0) == 0);
  CHECK(listing_for(reports[0], "s5h").status == ListingStatus::listed);
  CHECK(listing_for(reports[1], "spamhaus-zen").status == ListingStatus::not_listed);
  CHECK(reports[0].skipped_ipv4_only.size() == default_lists().size() - 2);
  CHECK(server->queries_received("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.zen.spamhaus.org",
                                 RrType::A) == 1);
  CHECK(server->queries_received("2.0.0.127.zen.spamhaus.org", RrType::A) == 0);
}

TEST_CASE("A dead list (no 127.0.0.2) and a list that lists the world are unusable, their answers not counted",
          "[blocklist]") {
  auto server = start_server({fixture("lists.zone"), zone_text(R"(
$TTL 300
$ORIGIN dead.example.
; the zone exists, but its test entry is gone: a lapsed or renamed list
$ORIGIN world.example.
2.0.0.127 IN A 127.0.0.2
1.0.0.127 IN A 127.0.0.2
2.2.0.192 IN A 127.0.0.2
)", "dead-and-world.zone")});
  auto lists = builtin_lists();
  auto extra = parse_list_table("list dead\n zone dead.example\n code 127.0.0.2 listed fail dead hit\n"
                                "list world\n zone world.example\n code 127.0.0.2 listed fail world hit\n",
                                "extra");
  REQUIRE(extra);
  merge_lists(lists, std::move(extra.value()));
  auto selected = select_lists(lists, {"dead", "world"}, {});
  REQUIRE(selected);
  auto resolver = resolver_for(*server);
  std::vector<std::pair<IpAddress, std::string>> ips = {{ip("192.0.2.2"), "argument"}};
  const auto reports = check_ips(*resolver, ips, *selected);
  CHECK(listing_for(reports[0], "dead").status == ListingStatus::unusable);
  CHECK(listing_for(reports[0], "dead").meaning.find("does not list its test entry 127.0.0.2") != std::string::npos);
  CHECK(listing_for(reports[0], "world").status == ListingStatus::unusable);
  CHECK(listing_for(reports[0], "world").meaning.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("A public-resolver refusal (127.255.255.254) is one resolver finding, never \"not listed\"", "[blocklist]") {
  auto server = start_server({fixture("refused-zen.zone")});
  auto resolver = resolver_for(*server);
  RunSummary run;
  run.ips = check(*resolver, {"192.0.2.1", "192.0.2.2"}, lists_by_id({"spamhaus-zen"}));
  run.servers = resolver->servers();
  for (const auto& report : run.ips) {
    CHECK(listing_for(report, "spamhaus-zen").status == ListingStatus::error);
    CHECK(listing_for(report, "spamhaus-zen").resolver_refused);
  }
  const diag::Report report = make_report(run, {}, nullptr, {});
  const auto json = report.to_json();
  CHECK(json["status"] == "error");
  CHECK(report.exit_code() == diag::exit_incomplete);
  std::size_t resolver_checks = 0, list_errors = 0, clean = 0;
  for (const auto& check : report.checks()) {
    if (check.id == "blocklist.resolver") {
      ++resolver_checks;
      CHECK(check.status == Status::error);
      CHECK(check.message.find("Spamhaus ZEN") != std::string::npos);
      CHECK(check.remedy.find("--dns") != std::string::npos);
      CHECK(check.remedy.find("DQS") != std::string::npos);
      CHECK(check.remedy.find("Barracuda") == std::string::npos);  // only the lists asked are named
    }
    if (check.id == "blocklist.list-error") ++list_errors;
    if (check.id == "blocklist.clean") ++clean;
  }
  CHECK(resolver_checks == 1);
  CHECK(list_errors == 0);
  CHECK(clean == 0);
  CHECK(json["resolver"]["refused_by"] == nlohmann::json::array({"spamhaus-zen"}));
}

TEST_CASE("A known public resolver is named even when every answer looks fine", "[blocklist]") {
  RunSummary run;
  run.servers = {*diag::dns::parse_server_address("8.8.8.8")};
  const diag::Report report = make_report(run, {}, nullptr, {});
  const auto& first = report.checks().front();
  CHECK(first.id == "blocklist.resolver");
  CHECK(first.status == Status::warn);
  CHECK(first.message.find("Google Public DNS") != std::string::npos);
}

TEST_CASE("Timeouts, SERVFAIL and REFUSED from the server: errors per list, the run cannot claim clean",
          "[blocklist]") {
  auto server = start_lists_server();
  server->add_fault("1.2.0.192.bl.spamcop.net", RrType::A, Fault{FaultAction::drop});
  server->add_fault("1.2.0.192.psbl.surriel.com", RrType::A, Fault{FaultAction::servfail});
  server->add_fault("1.2.0.192.all.s5h.net", RrType::A, Fault{FaultAction::refused});
  server->add_fault("2.0.0.127.z.mailspike.net", RrType::A, Fault{FaultAction::drop});  // the probe
  auto resolver = resolver_for(*server, attempt, 1);
  RunSummary run;
  run.ips = check(*resolver, {"192.0.2.1"}, default_lists());
  run.servers = resolver->servers();
  const auto& report = run.ips[0];
  CHECK(listing_for(report, "spamcop").status == ListingStatus::error);
  CHECK(listing_for(report, "spamcop").outcome == Outcome::timeout);
  CHECK(listing_for(report, "psbl").status == ListingStatus::error);
  CHECK(listing_for(report, "s5h").status == ListingStatus::error);
  CHECK(listing_for(report, "mailspike-z").status == ListingStatus::error);  // clean, but the probe timed out
  CHECK(listing_for(report, "spamhaus-zen").status == ListingStatus::not_listed);
  const diag::Report out = make_report(run, {}, nullptr, {});
  CHECK(out.status() == Status::error);
  const auto json = out.to_json();
  std::size_t errors = 0;
  for (const auto& check : json["checks"])
    if (check["id"] == "blocklist.list-error") ++errors;
  CHECK(errors == 4);
  const auto& clean = std::find_if(json["checks"].begin(), json["checks"].end(),
                                   [](const nlohmann::json& c) { return c["id"] == "blocklist.clean"; });
  REQUIRE(clean != json["checks"].end());
  CHECK((*clean)["message"].get<std::string>().find("4 could not be used") != std::string::npos);
}

TEST_CASE("No list answered at all: no pass row for the resolver, whose answers were never checked", "[blocklist]") {
  auto server = start_lists_server();
  for (const auto& list : default_lists()) server->add_fault("1.2.0.192." + list.zone, RrType::A, Fault{FaultAction::drop});
  auto resolver = resolver_for(*server, attempt, 1);
  RunSummary run;
  run.ips = check(*resolver, {"192.0.2.1"}, default_lists());
  run.servers = resolver->servers();
  const diag::Report out = make_report(run, {}, nullptr, {});
  CHECK(out.status() == Status::error);
  for (const auto& check : out.checks()) {
    INFO(check.id << ": " << check.message);
    CHECK(check.status != Status::pass);
  }
}

TEST_CASE("Every zone in one round trip: 150 ms per answer costs about 150 ms, not 150 ms per list",
          "[blocklist]") {
  auto server = start_lists_server();
  const auto lists = default_lists();
  const IpAddress target = ip("192.0.2.2");
  for (const auto& list : lists) {
    for (const auto& name : {query_name(target, list.zone), query_name(positive_test_address(target.family()), list.zone),
                             query_name(negative_test_address(target.family()), list.zone)})
      server->add_fault(name, sendcheck::testing::any_type, Fault::delayed_by(150ms));
  }
  auto resolver = resolver_for(*server, 1000ms, 1);
  const auto started = std::chrono::steady_clock::now();
  const auto reports = check(*resolver, {"192.0.2.2"}, lists);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed >= 150ms);
  // One round trip, counted at the server rather than timed (a busy machine
  // under ASan stretches the clock): every question arrived before the first
  // delayed answer left.
  const auto received = server->received_queries();
  REQUIRE(received.size() == lists.size() * 4);  // A, TXT, 127.0.0.2, 127.0.0.1 per list
  for (const auto& query : received) {
    INFO(query.name);
    CHECK(query.delayed_replies_sent_before == 0);
  }
  CHECK(listing_for(reports[0], "spamhaus-zen").status == ListingStatus::listed);
}

TEST_CASE("A DQS key goes into the query name and nowhere we print", "[blocklist]") {
  auto server = start_lists_server();
  diag::dns::ResolverConfig config;
  config.servers.push_back(*diag::dns::parse_server_address(server->endpoint_v4()));
  config.attempt_timeout = attempt;
  config.tries = 1;
  config.keep_log = true;
  std::vector<std::string> printed;
  Secrets secrets;
  secrets.spamhaus = test_dqs_key;
  config.on_log = masked_log_hook([&](const diag::dns::QueryLogEntry& e) { printed.push_back(format_log_entry(e)); },
                                  secrets);
  auto resolver = diag::dns::Resolver::create(std::move(config));
  REQUIRE(resolver);
  RunSummary run;
  run.ips = check(**resolver, {"192.0.2.2"}, default_lists(secrets));
  run.servers = (*resolver)->servers();
  CHECK(listing_for(run.ips[0], "spamhaus-dqs").status == ListingStatus::listed);
  CHECK(server->queries_received("2.2.0.192." + test_dqs_key + ".zen.dq.spamhaus.net", RrType::A) == 1);
  REQUIRE_FALSE(printed.empty());
  for (const auto& line : printed) CHECK(line.find(test_dqs_key) == std::string::npos);
  CHECK(std::any_of(printed.begin(), printed.end(), [](const std::string& l) { return l.find("***.zen.dq") != std::string::npos; }));
  const diag::Report report = make_report(run, secrets, nullptr, {});
  const std::string json = report.to_json_text();
  CHECK(json.find(test_dqs_key) == std::string::npos);
  CHECK(json.find("***.zen.dq.spamhaus.net") != std::string::npos);
  std::string text;
  make_report(run, secrets, &text, {});
  CHECK(text.find(test_dqs_key) == std::string::npos);
}

TEST_CASE("JSON: ips[].listings[] carry zone, list, status, answers, meaning, txt and delist", "[blocklist]") {
  auto server = start_lists_server();
  auto resolver = resolver_for(*server);
  RunSummary run;
  run.ips = check(*resolver, {"192.0.2.2", "10.0.0.1"}, lists_by_id({"spamcop", "spamhaus-zen"}));
  run.servers = resolver->servers();
  run.lists_selected = 2;
  const auto json = make_report(run, {}, nullptr, {}).to_json();
  CHECK(json["tool"] == "sendcheck-blocklist");
  CHECK(json["status"] == "fail");
  const auto& first = json["ips"][0];
  CHECK(first["ip"] == "192.0.2.2");
  const auto& spamcop = first["listings"][0];
  CHECK(spamcop["zone"] == "bl.spamcop.net");
  CHECK(spamcop["list"] == "SpamCop SCBL");
  CHECK(spamcop["status"] == "listed");
  CHECK(spamcop["answers"] == nlohmann::json::array({"127.0.0.2"}));
  CHECK(spamcop["txt"] == "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.2");
  CHECK(spamcop["delist"] == "https://www.spamcop.net/bl.shtml?192.0.2.2");
  CHECK(json["ips"][1]["skipped"] == "private");
  CHECK(json["resolver"]["servers"].size() == 1);
  bool microsoft = false;
  for (const auto& check : json["checks"]) {
    const bool finding = check["status"] == "fail" || check["status"] == "warn" || check["status"] == "error";
    if (finding) CHECK_FALSE(check["remedy"].get<std::string>().empty());
    if (check["id"] == "blocklist.microsoft") {
      microsoft = true;
      CHECK(check["remedy"].get<std::string>().find("sender.office.com") != std::string::npos);
      CHECK(check["remedy"].get<std::string>().find("delist@messaging.microsoft.com") != std::string::npos);
    }
  }
  CHECK(microsoft);
}

// ---------------------------------------------------------------------------
// Egress

namespace {

// A one-shot HTTP server on 127.0.0.1 for the HTTPS fallback's plain-HTTP
// path: answers every connection with the given status and body.
class TinyHttpServer {
 public:
  TinyHttpServer(int status, std::string body) : status_(status), body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 8) != 0)
      throw std::runtime_error("tiny http server: bind/listen failed");
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttpServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stopping_) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      char buffer[2048];
      std::string request;
      while (request.find("\r\n\r\n") == std::string::npos) {
        const auto got = ::read(client, buffer, sizeof buffer);
        if (got <= 0) break;
        request.append(buffer, static_cast<std::size_t>(got));
      }
      ++requests_;
      const std::string reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Type: text/plain\r\nContent-Length: " +
                                std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
      [[maybe_unused]] const auto written = ::write(client, reply.data(), reply.size());
      ::close(client);
    }
  }
  int status_;
  std::string body_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

EgressOptions egress_options(std::vector<EgressDnsProbe> probes, std::string url) {
  EgressOptions options;
  options.dns_probes = std::move(probes);
  options.url = std::move(url);
  options.attempt_timeout = attempt;
  options.tries = 1;
  options.http_timeout = 2000ms;
  options.keep_log = true;
  return options;
}

}  // namespace

TEST_CASE("Egress by DNS: myip.opendns.com and o-o.myaddr.l.google.com, both families", "[blocklist]") {
  auto server = start_lists_server();
  TinyHttpServer http(200, "198.51.100.1\n");
  auto result = discover_egress(
      egress_options(egress_probes_at({*diag::dns::parse_server_address(server->endpoint_v4())}), http.url()));
  REQUIRE(result.addresses.size() == 2);
  CHECK(result.addresses[0] == ip("203.0.113.7"));
  CHECK(result.addresses[1] == ip("2001:db8::7"));
  CHECK(http.requests() == 0);  // DNS told both families: no HTTPS
  const auto google = std::find_if(result.attempts.begin(), result.attempts.end(),
                                   [](const EgressAttempt& a) { return a.method == "google"; });
  REQUIRE(google != result.attempts.end());
  CHECK(google->found);
  CHECK(google->addresses == std::vector<IpAddress>{ip("203.0.113.7")});  // the edns0-client-subnet string skipped
  CHECK(result.log.size() == 3);
}

TEST_CASE("Egress falls back to HTTP(S) when DNS cannot tell, and says why when nothing works", "[blocklist]") {
  // Nothing listens on port 9: the DNS probes fail at once.
  const auto nowhere = *diag::dns::parse_server_address("127.0.0.1:9");
  SECTION("the URL answers the address") {
    TinyHttpServer http(200, " 198.51.100.1\r\n");
    auto result = discover_egress(egress_options(egress_probes_at({nowhere}), http.url()));
    REQUIRE(result.addresses.size() == 1);
    CHECK(result.addresses[0] == ip("198.51.100.1"));
    const auto https = std::find_if(result.attempts.begin(), result.attempts.end(),
                                    [](const EgressAttempt& a) { return a.method == "https-ipv4"; });
    REQUIRE(https != result.attempts.end());
    CHECK(https->found);
    RunSummary run;
    run.egress = result;
    const auto report = make_report(run, {}, nullptr, {});
    CHECK(report.checks().front().id == "blocklist.egress");
    CHECK(report.checks().front().status == Status::pass);
  }
  SECTION("nothing works: an error finding with every attempt's reason") {
    TinyHttpServer http(500, "oops");
    auto result = discover_egress(egress_options(egress_probes_at({nowhere}), http.url()));
    CHECK(result.addresses.empty());
    RunSummary run;
    run.egress = result;
    const auto report = make_report(run, {}, nullptr, {});
    CHECK(report.checks().front().id == "blocklist.egress");
    CHECK(report.checks().front().status == Status::error);
    CHECK(report.checks().front().message.find("HTTP status 500") != std::string::npos);
    CHECK_FALSE(report.checks().front().remedy.empty());
  }
}

TEST_CASE("fetch_egress_address accepts only a plain address of the asked family", "[blocklist]") {
  {
    TinyHttpServer http(200, "<html>hello</html>");
    auto got = fetch_egress_address(http.url(), IpAddress::Family::v4, 2000ms);
    REQUIRE_FALSE(got);
    CHECK(got.error().message.find("not an address") != std::string::npos);
  }
  {
    TinyHttpServer http(200, "2001:db8::5");
    auto got = fetch_egress_address(http.url(), IpAddress::Family::v4, 2000ms);
    REQUIRE_FALSE(got);
    CHECK(got.error().message.find("asked over IPv4") != std::string::npos);
  }
  {
    TinyHttpServer http(200, std::string(1000, '1'));
    auto got = fetch_egress_address(http.url(), IpAddress::Family::v4, 2000ms);
    REQUIRE_FALSE(got);
    CHECK(got.error().message.find("longer than an address") != std::string::npos);
  }
  auto refused = fetch_egress_address("ftp://127.0.0.1:9/", IpAddress::Family::v4, 2000ms);
  CHECK_FALSE(refused);
}

TEST_CASE("Egress probes ask each its own server at once: a silent one neither delays nor replaces another", "[blocklist]") {
  auto silent = start_lists_server();
  auto answering = start_lists_server();
  for (const auto& [name, type] : std::vector<std::pair<std::string, diag::dns::RrType>>{
           {"myip.opendns.com", diag::dns::RrType::A},
           {"myip.opendns.com", diag::dns::RrType::AAAA},
           {"o-o.myaddr.l.google.com", diag::dns::RrType::TXT}})
    silent->add_fault(name, type, sendcheck::testing::Fault{sendcheck::testing::FaultAction::drop});
  const auto at = [](const auto& server) { return *diag::dns::parse_server_address(server->endpoint_v4()); };
  const auto started = std::chrono::steady_clock::now();
  auto result = discover_egress(egress_options(egress_probes_at({at(silent), at(answering)}), ""));
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(result.attempts.size() == 6);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(result.attempts[i].via << ": " << result.attempts[i].detail);
    CHECK_FALSE(result.attempts[i].found);  // the silent server's own answer: a timeout
    CHECK(result.attempts[i].detail.starts_with("timeout"));
    CHECK(result.attempts[i + 3].found);
  }
  CHECK(result.addresses == std::vector<IpAddress>{ip("203.0.113.7"), ip("2001:db8::7")});
  // Each question went to its own server once: no fail-over, no coalescing across servers.
  CHECK(answering->queries_received("myip.opendns.com", diag::dns::RrType::A) == 1);
  CHECK(silent->queries_received("myip.opendns.com", diag::dns::RrType::A) == 1);
  CHECK(result.log.size() == 6);
  CHECK(took < attempt + 1500ms);  // the timeouts ran side by side, not one after another
}

TEST_CASE("read_ip_list: a list saved by Notepad (BOM, CRLF, comments) reads from line 1", "[blocklist]") {
  fixtures::TemporaryDirectory directory("ip-list");
  const auto path = directory.file("ips.txt", "\xEF\xBB\xBF" "192.0.2.2\r\n# the scanner\r\n  2001:db8::25  # v6\r\n\r\n");
  auto ips = diag::blocklist::read_ip_list(path);
  REQUIRE(ips.ok());
  REQUIRE(ips->size() == 2);
  CHECK(ips->at(0).to_string() == "192.0.2.2");
  CHECK(ips->at(1).to_string() == "2001:db8::25");
  auto bad = diag::blocklist::read_ip_list(directory.file("bad.txt", "192.0.2.2\r\nnot-an-ip\r\n"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains(":2:"));
}
