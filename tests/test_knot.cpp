// The resolver and the fixture zones against a DNS server we did not
// write: Knot DNS (Debian package knot) on a loopback port, serving every
// file in fixtures/zones unchanged. Proves that our wire handling and our
// fixtures agree with a real implementation, and that the zone overlay
// answers like an authoritative server does.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "diag/mx.h"
#include "diag/resolver.h"
#include "fixture_zones.h"

namespace {

using namespace diag::dns;

// A port free for both UDP and TCP on 127.0.0.1 right now. Knot cannot be
// told to take port 0, so we probe one; the race with other processes is
// acceptable for a test.
std::uint16_t free_loopback_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(udp, reinterpret_cast<sockaddr*>(&address), &length);
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    const bool tcp_free = ::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(tcp);
    ::close(udp);
    if (tcp_free) return ntohs(address.sin_port);
  }
  throw std::runtime_error("no free loopback port");
}

std::string find_knotd() {
  for (const char* path : {"/usr/sbin/knotd", "/usr/local/sbin/knotd"})
    if (::access(path, X_OK) == 0) return path;
  return "";
}

class KnotServer {
 public:
  KnotServer() {
    const std::string knotd = find_knotd();
    if (knotd.empty()) throw std::runtime_error("knotd not installed: apt-get install knot (CI installs it)");
    directory_ = std::filesystem::temp_directory_path() / ("sendcheck-knot-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory_);
    port_ = free_loopback_port();
    std::ofstream config(directory_ / "knot.conf");
    config << "server:\n  rundir: " << directory_.string() << "\n  listen: 127.0.0.1@" << port_ << "\n"
           << "  listen: ::1@" << port_ << "\n"
           << "log:\n  - target: " << (directory_ / "knot.log").string() << "\n    any: info\n"
           << "database:\n  storage: " << directory_.string() << "\n"
           << "control:\n  listen: " << (directory_ / "knot.sock").string() << "\n"
           << "template:\n  - id: default\n    storage: " << fixtures::source_path("fixtures/zones") << "\n"
           << "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
           << "zone:\n";
    for (const auto& file : fixtures::zone_files())
      config << "  - domain: " << fixtures::apex_of(file) << "\n    file: " << file << "\n";
    config.close();

    pid_ = ::fork();
    if (pid_ == 0) {
      // knotd must not hold the test's stdout/stderr open (it logs to its file).
      const int null_fd = ::open("/dev/null", O_RDWR);
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      const std::string conf = (directory_ / "knot.conf").string();
      ::execl(knotd.c_str(), "knotd", "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    wait_until_serving();
  }
  ~KnotServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  KnotServer(const KnotServer&) = delete;
  KnotServer& operator=(const KnotServer&) = delete;

  ResolverConfig resolver_config() const {
    ResolverConfig config;
    config.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), port_});
    config.attempt_timeout = std::chrono::milliseconds(500);
    if (std::getenv("DEBUG_DNS")) config.on_log = [](const QueryLogEntry& e) { fprintf(stderr, "%s\n", format_log_entry(e).c_str()); };
    return config;
  }

 private:
  void wait_until_serving() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto resolver = Resolver::create(resolver_config());
      // Knot answers SERVFAIL or REFUSED until every zone is loaded.
      bool all_loaded = true;
      for (const auto& file : fixtures::zone_files())
        all_loaded = all_loaded && (*resolver)->resolve(fixtures::apex_of(file), RrType::SOA).ok();
      if (all_loaded) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("knotd exited; see its log in " + directory_.string());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("knotd did not serve the fixture zones within 10 s");
  }

  std::filesystem::path directory_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

KnotServer& knot() {
  static KnotServer server;  // one knotd for every test in this file
  return server;
}

}  // namespace

TEST_CASE("Knot serves the fixtures and the resolver reads every outcome", "[knot][integration]") {
  auto resolver = Resolver::create(knot().resolver_config());
  REQUIRE(resolver);
  Resolver& r = **resolver;

  const Answer mx = r.resolve("contoso.sendcheck.test", RrType::MX);
  REQUIRE(mx.outcome == Outcome::records);
  REQUIRE(mx.mx().size() == 1);
  CHECK(mx.mx()[0].exchange == "contoso-sendcheck-test.mail.protection.outlook.com");
  CHECK(mx.source == knot().resolver_config().servers[0].to_string());
  CHECK_FALSE(mx.authenticated_data);  // an authoritative server does not validate

  CHECK(r.resolve("does-not-exist.sendcheck.test", RrType::MX).outcome == Outcome::nxdomain);
  CHECK(r.resolve("contoso.sendcheck.test", RrType::AAAA).outcome == Outcome::nodata);
  // Outside every zone Knot serves: it refuses, and that is not an absence.
  const Answer outside = r.resolve("example.org", RrType::A);
  CHECK(outside.outcome == Outcome::refused);
  CHECK_FALSE(outside.is_definitive());
}

TEST_CASE("Knot keeps the strings of a multi-string TXT apart", "[knot][integration]") {
  auto resolver = Resolver::create(knot().resolver_config());
  const Answer txt = (*resolver)->resolve("guen-transporte.sendcheck.test", RrType::TXT);
  REQUIRE(txt.ok());
  const auto records = txt.txt();
  const auto split = std::find_if(records.begin(), records.end(), [](const TxtData& t) { return t.strings.size() == 2; });
  REQUIRE(split != records.end());
  CHECK(split->strings[0] == "v=spf1 include:spf.protection.outlook.com");
  CHECK(split->strings[1] == " -all");
  CHECK(split->joined() == "v=spf1 include:spf.protection.outlook.com -all");
}

TEST_CASE("The zone overlay answers every fixture question as Knot does", "[knot][integration]") {
  auto network = Resolver::create(knot().resolver_config());
  ResolverConfig offline;
  offline.zones = fixtures::overlay();
  offline.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), 9});  // never asked
  auto overlay = Resolver::create(offline);
  REQUIRE(network);
  REQUIRE(overlay);

  // Every owner name in the fixtures, every type we model, plus a missing name per zone.
  std::vector<std::string> names;
  for (const auto& file : fixtures::zone_files()) {
    auto zone = parse_zone_file(file);
    REQUIRE(zone);
    for (const auto& record : zone->records) names.push_back(record.owner);
    names.push_back("no-such-name." + fixtures::apex_of(file));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  std::size_t compared = 0;
  for (const auto& name : names) {
    for (auto type : {RrType::A, RrType::AAAA, RrType::MX, RrType::TXT, RrType::CNAME, RrType::NS, RrType::SOA,
                      RrType::PTR}) {
      const Answer from_knot = (*network)->resolve(name, type);
      const Answer from_zone = (*overlay)->resolve(name, type);
      INFO(name << " " << to_string(type) << ": knot " << to_string(from_knot.outcome) << ", overlay "
                << to_string(from_zone.outcome));
      REQUIRE(from_knot.is_definitive());
      CHECK(from_zone.outcome == from_knot.outcome);
      auto sorted = [](std::vector<Record> records) {
        for (auto& record : records) record.ttl = 0;
        std::sort(records.begin(), records.end(),
                  [](const Record& a, const Record& b) { return a.data_text() < b.data_text(); });
        return records;
      };
      CHECK(sorted(from_zone.records) == sorted(from_knot.records));
      ++compared;
    }
  }
  CHECK(compared > 100);
}

TEST_CASE("sendcheck-mx gives the same verdicts from Knot as from --zone", "[knot][integration]") {
  auto network = Resolver::create(knot().resolver_config());
  ResolverConfig offline;
  offline.zones = fixtures::overlay();
  offline.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), 9});
  auto overlay = Resolver::create(offline);

  std::vector<std::string> domains;
  auto zone = parse_zone_file(fixtures::source_path("fixtures/zones/sendcheck.test.zone"));
  REQUIRE(zone);
  for (const auto& record : zone->records)
    if (record.type == RrType::MX) domains.push_back(record.owner);
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  REQUIRE(domains.size() >= 10);

  const auto via_knot = diag::mx::check_domains(**network, domains);
  const auto via_zone = diag::mx::check_domains(**overlay, domains);
  REQUIRE(via_knot.size() == via_zone.size());
  for (std::size_t i = 0; i < via_knot.size(); ++i) {
    INFO(domains[i]);
    CHECK(via_knot[i].match == via_zone[i].match);
    CHECK(via_knot[i].direct_send_host == via_zone[i].direct_send_host);
    REQUIRE(via_knot[i].hosts.size() == via_zone[i].hosts.size());
    for (std::size_t h = 0; h < via_knot[i].hosts.size(); ++h) {
      CHECK(via_knot[i].hosts[h].host == via_zone[i].hosts[h].host);
      CHECK(via_knot[i].hosts[h].addresses == via_zone[i].hosts[h].addresses);
    }
    REQUIRE(via_knot[i].checks.size() == via_zone[i].checks.size());
    for (std::size_t c = 0; c < via_knot[i].checks.size(); ++c) {
      CHECK(via_knot[i].checks[c].id == via_zone[i].checks[c].id);
      // mx.dnssec differs on purpose: zone answers say DNSSEC does not apply.
      if (via_knot[i].checks[c].id != "mx.dnssec") CHECK(via_knot[i].checks[c].status == via_zone[i].checks[c].status);
    }
  }
}
