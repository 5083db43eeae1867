// One DNS loop per run (ARCHITECTURE.md, "The DNS loop"): preflight and
// --batch put every part's questions into one resolver, so the loopback DNS
// server hears each (name, type) once, and the conclusions are those the
// zone overlay gives the same run. Also the start_* APIs of mx, blocklist
// and SPF on a caller's resolver.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "diag/blocklist.h"
#include "diag/mx.h"
#include "diag/preflight.h"
#include "diag/spf.h"
#include "dns_test_server.h"
#include "preflight_test_support.h"

using namespace diag;
using namespace preflight_testing;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;

namespace {

std::unique_ptr<DnsTestServer> serve_zones(std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
  auto zones = sendcheck::testing::load_zones({zone, lists});
  REQUIRE(zones);
  DnsTestServerConfig config;
  config.zones = std::move(zones.value());
  config.answer_delay = delay;
  auto server = DnsTestServer::start(std::move(config));
  REQUIRE(server);
  return std::move(server.value());
}

// Every (name, type) the server heard, with how often.
// The tests count the questions the server hears: a retransmission after a
// wait that ran out would be heard twice. The loopback server answers at
// once; this wait keeps an ASan build on a busy 2-core machine (CI run 16
// heard one question twice with 2 s) from ever retrying.
constexpr std::string_view no_retry_timeout = "10";

std::map<std::string, int> questions_heard(const DnsTestServer& server) {
  std::map<std::string, int> heard;
  for (const auto& query : server.received_queries()) ++heard[query.name + " " + std::string(dns::to_string(query.type))];
  return heard;
}

std::vector<std::string> asked_more_than_once(const std::map<std::string, int>& heard) {
  std::vector<std::string> repeated;
  for (const auto& [question, count] : heard)
    if (count != 1) repeated.push_back(question + " x" + std::to_string(count));
  return repeated;
}

// What a run concluded: the verdict and each row's status (messages name
// the server that answered, which differs between the two runs).
std::string conclusions(const nlohmann::json& document) {
  std::string out = document["verdict"]["verdict"].get<std::string>() + "\n";
  for (const auto& check : document["checks"]) out += check["id"].get<std::string>() + " " + check["status"].get<std::string>() + "\n";
  out += document["spf_record"].dump() + "\n";
  return out;
}

std::vector<std::string> device(const Mx& mx, const std::string& domain, const std::string& ip) {
  return {preflight_tool, domain, "--ip", ip, "--from", "scanner@" + domain, "--to", "frontdesk@" + domain, "--smtp-host", "127.0.0.1",
          "--smtp-port", std::to_string(mx.server->port()), "--ca", mx.ca_file, "--json", "--timeout", std::string(no_retry_timeout)};
}

std::vector<std::string> with(std::vector<std::string> argv, std::initializer_list<std::string> more) {
  argv.insert(argv.end(), more);
  return argv;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("preflight asks each question once on one loop, -v shows it once, and concludes what the zones say", "[preflight][loop]") {
  auto server = serve_zones();
  auto mx = serve(smtp::exo_mx_profile({"contoso.example", "fourthcoffee.example"}));
  for (const auto& [domain, ip] : {std::pair{"contoso.example", "203.0.113.25"}, std::pair{"fourthcoffee.example", "203.0.113.40"},
                                   std::pair{"contoso.example", "203.0.113.66"}}) {
    CAPTURE(domain, ip);
    server->reset_counts();
    const auto over_dns = run_program(with(device(*mx, domain, ip), {"--dns", server->endpoint_v4(), "-v"}), 30s);
    const auto heard = questions_heard(*server);
    INFO(over_dns.err);
    // MX, its host, the derived name, SPF's TXT, MX and SPF types, the
    // include, DMARC, every list's four questions: at least a dozen.
    CHECK(heard.size() >= 12);
    CHECK(asked_more_than_once(heard) == std::vector<std::string>{});
    CHECK(heard.count(std::string(domain) + " MX") == 1);
    CHECK(heard.count(std::string(domain) + " TXT") == 1);
    CHECK(heard.count("_dmarc." + std::string(domain) + " TXT") == 1);
    // -v: one line per question, each question once.
    std::set<std::string> shown;
    std::size_t log_lines = 0;
    for (const auto& line : lines(over_dns.err)) {
      if (!line.starts_with("dns: ")) continue;
      ++log_lines;
      shown.insert(line.substr(5, line.find(" @") - 5));
    }
    CHECK(log_lines == heard.size());
    CHECK(shown.size() == heard.size());

    const auto over_zones = run_program(with(device(*mx, domain, ip), {"--zone", zone, "--zone", lists}), 30s);
    CHECK(over_dns.exit_code == over_zones.exit_code);
    CHECK(conclusions(parse(over_dns)) == conclusions(parse(over_zones)));
  }
}

TEST_CASE("batch asks each tenant's names once for all its rows, on one loop, with the rows' verdicts unchanged", "[preflight][loop][batch]") {
  auto server = serve_zones();
  auto mx = serve(smtp::exo_mx_profile({"contoso.example", "fourthcoffee.example"}));
  TempDir dir;
  std::string csv = "domain,method,ip,from,to\n";
  for (const char* ip : {"203.0.113.25", "203.0.113.66", "203.0.113.77", "203.0.113.88"})
    csv += std::string("contoso.example,direct-send,") + ip + ",scanner@contoso.example,frontdesk@contoso.example\n";
  for (const char* ip : {"203.0.113.40", "203.0.113.41"})
    csv += std::string("fourthcoffee.example,direct-send,") + ip + ",scanner@fourthcoffee.example,frontdesk@fourthcoffee.example\n";
  const std::string file = dir.file("devices.csv", csv);
  const std::vector<std::string> common = {preflight_tool, "--batch", file, "--smtp-host", "127.0.0.1", "--smtp-port",
                                           std::to_string(mx->server->port()), "--ca", mx->ca_file, "--json", "--timeout", std::string(no_retry_timeout)};

  const auto over_dns = run_program(with(common, {"--dns", server->endpoint_v4()}), 60s);
  INFO(over_dns.out << over_dns.err);
  const auto heard = questions_heard(*server);
  CHECK(asked_more_than_once(heard) == std::vector<std::string>{});
  for (const char* tenant : {"contoso.example", "fourthcoffee.example"}) {
    CHECK(heard.count(std::string(tenant) + " MX") == 1);
    CHECK(heard.count(std::string(tenant) + " TXT") == 1);
    CHECK(heard.count("_dmarc." + std::string(tenant) + " TXT") == 1);
  }
  CHECK(heard.count("spf.protection.outlook.com TXT") == 1);

  const auto over_zones = run_program(with(common, {"--zone", zone, "--zone", lists}), 60s);
  CHECK(over_dns.exit_code == over_zones.exit_code);
  const auto dns_rows = lines(over_dns.out), zone_rows = lines(over_zones.out);
  REQUIRE(dns_rows.size() == 6);
  REQUIRE(zone_rows.size() == 6);
  for (std::size_t i = 0; i < dns_rows.size(); ++i) {
    CAPTURE(i);
    const auto a = nlohmann::json::parse(dns_rows[i]), b = nlohmann::json::parse(zone_rows[i]);
    CHECK(a["batch"]["row"] == i + 1);
    CHECK(conclusions(a) == conclusions(b));
  }
}

TEST_CASE("mx, blocklist and SPF share one caller's resolver: each reports from its run(), each name asked once", "[mx][blocklist][spf][loop]") {
  auto server = serve_zones();
  dns::ResolverConfig config;
  config.servers = {*dns::parse_server_address(server->endpoint_v4())};
  config.attempt_timeout = std::chrono::milliseconds(500);
  auto resolver = dns::Resolver::create(config);
  REQUIRE(resolver);

  std::optional<std::vector<mx::DomainReport>> domains;
  std::optional<std::vector<blocklist::IpReport>> ips;
  std::optional<spf::SpfCheckOutcome> spf_outcome;
  mx::start_domains(**resolver, {"contoso.example", "fourthcoffee.example"}, [&](std::vector<mx::DomainReport> done) { domains = std::move(done); });
  auto selected = blocklist::select_lists(blocklist::builtin_lists(), {}, blocklist::Secrets{});
  REQUIRE(selected);
  blocklist::start_ips(**resolver, {{*IpAddress::parse("203.0.113.66"), "argument"}}, *selected,
                       [&](std::vector<blocklist::IpReport> done) { ips = std::move(done); });
  spf::SpfCheckRequest request;
  request.domain = "contoso.example";
  request.ips = {"203.0.113.25"};
  request.suggest = true;
  auto plan = spf::plan_check(request);
  REQUIRE(plan);
  spf::NetworkSpfResolver spf_resolver(**resolver);
  spf::start_check(spf_resolver, *plan, [&](spf::SpfCheckOutcome done) { spf_outcome = std::move(done); });
  // Nothing reports from inside start_*: only the loop delivers.
  CHECK_FALSE(domains);
  CHECK_FALSE(ips);
  CHECK_FALSE(spf_outcome);
  (*resolver)->run();
  REQUIRE(domains);
  REQUIRE(ips);
  REQUIRE(spf_outcome);
  CHECK(asked_more_than_once(questions_heard(*server)).empty());

  // The same as each blocking function on a resolver of its own.
  auto fresh = [&] { return std::move(dns::Resolver::create(config).value()); };
  auto alone_mx = mx::check_domains(*fresh(), {"contoso.example", "fourthcoffee.example"});
  REQUIRE(alone_mx.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(mx::to_json((*domains)[i]) == mx::to_json(alone_mx[i]));
    CHECK((*domains)[i].direct_send_host == alone_mx[i].direct_send_host);
  }
  auto alone_ips = blocklist::check_ips(*fresh(), {{*IpAddress::parse("203.0.113.66"), "argument"}}, *selected);
  REQUIRE(ips->size() == 1);
  REQUIRE((*ips)[0].listings.size() == alone_ips[0].listings.size());
  for (std::size_t i = 0; i < alone_ips[0].listings.size(); ++i) CHECK((*ips)[0].listings[i].status == alone_ips[0].listings[i].status);
  auto alone_resolver = fresh();
  spf::NetworkSpfResolver alone_spf(*alone_resolver);
  auto alone = spf::run_check(alone_spf, *plan);
  REQUIRE(spf_outcome->results.size() == 1);
  CHECK(spf_outcome->results[0].second.result == spf::SpfResult::pass);
  CHECK(spf_outcome->results[0].second.result == alone.results[0].second.result);
  CHECK(spf_outcome->results[0].second.lookups == alone.results[0].second.lookups);
  CHECK(spf_outcome->results[0].second.rounds == alone.results[0].second.rounds);
  CHECK(spf::tree_to_json(spf_outcome->tree.root) == spf::tree_to_json(alone.tree.root));
  REQUIRE(spf_outcome->suggestion);
  REQUIRE(alone.suggestion);
  CHECK(spf_outcome->suggestion->record == alone.suggestion->record);
}
