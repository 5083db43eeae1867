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
#include <iterator>
#include <thread>
#include <tuple>

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

// A zone Knot serves: its name and its file.
struct ServedZone {
  std::string domain, file;
};

std::vector<ServedZone> fixture_zones() {
  std::vector<ServedZone> out;
  for (const auto& file : fixtures::zone_files()) out.push_back({fixtures::apex_of(file), file});
  return out;
}

class KnotServer {
 public:
  explicit KnotServer(std::vector<ServedZone> zones, const std::string& name = "fixtures") : zones_(std::move(zones)) {
    const std::string knotd = find_knotd();
    if (knotd.empty()) throw std::runtime_error("knotd not installed: apt-get install knot (CI installs it)");
    directory_ = std::filesystem::temp_directory_path() / ("sendcheck-knot-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory_);
    // free_loopback_port() finds a port free at that moment; a test running
    // beside this one can take it before knotd binds it, and knotd then
    // exits. Another port is tried then.
    for (int attempt = 1;; ++attempt) {
      port_ = free_loopback_port();
      start(knotd);
      if (wait_until_serving()) return;
      if (attempt == 3) throw std::runtime_error("knotd exited three times; see its log in " + directory_.string());
    }
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
  void start(const std::string& knotd) {
    std::ofstream config(directory_ / "knot.conf");
    config << "server:\n  rundir: " << directory_.string() << "\n  listen: 127.0.0.1@" << port_ << "\n"
           << "  listen: ::1@" << port_ << "\n"
           << "log:\n  - target: " << (directory_ / "knot.log").string() << "\n    any: info\n"
           << "database:\n  storage: " << directory_.string() << "\n"
           << "control:\n  listen: " << (directory_ / "knot.sock").string() << "\n"
           << "template:\n  - id: default\n    storage: " << fixtures::source_path("fixtures/zones") << "\n"
           << "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
           << "zone:\n";
    for (const auto& zone : zones_) config << "  - domain: " << zone.domain << "\n    file: " << zone.file << "\n";
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
  }

  // True once every zone answers; false when knotd exited (its port taken).
  bool wait_until_serving() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto resolver = Resolver::create(resolver_config());
      // Knot answers SERVFAIL or REFUSED until every zone is loaded.
      bool all_loaded = true;
      for (const auto& zone : zones_) all_loaded = all_loaded && (*resolver)->resolve(zone.domain, RrType::SOA).ok();
      if (all_loaded) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("knotd did not serve its zones within 10 s; see its log in " + directory_.string());
  }

  std::vector<ServedZone> zones_;
  std::filesystem::path directory_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

KnotServer& knot() {
  static KnotServer server(fixture_zones());  // one knotd for the fixture tests in this file
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

namespace {

// The provider exports Knot accepts (test_zone_exports.cpp checks which),
// copied with LF line ends: Knot refuses CRLF, which Windows DNS writes and
// we read. The overlay reads the original files.
struct ExportCopies {
  std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("sendcheck-knot-export-files-" + std::to_string(::getpid()));
  std::vector<ServedZone> copies, originals;
  ExportCopies() {
    std::filesystem::create_directories(directory);
    const std::vector<ServedZone> served{{"azure-export.example", "azure-export.example.zone"},
                                         {"godaddy-export.example", "godaddy-export.example.txt"},
                                         {"bind-export.example", "db.bind-export.example"},
                                         {"100.51.198.in-addr.arpa", "db.100.51.198"},
                                         {"windows-static.example", "windows-static.example.dns"}};
    for (const auto& zone : served) {
      const std::string original = fixtures::source_path("fixtures/zones/exports/" + zone.file);
      std::ifstream in(original, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
      const auto copy = directory / zone.file;
      std::ofstream(copy, std::ios::binary) << text;
      copies.push_back({zone.domain, copy.string()});
      originals.push_back({zone.domain, original});
    }
  }
  ~ExportCopies() {
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }
};

ExportCopies& export_copies() {
  static ExportCopies copies;
  return copies;
}

KnotServer& knot_exports() {
  static KnotServer server(export_copies().copies, "exports");
  return server;
}

std::vector<Record> without_ttls(std::vector<Record> records) {
  for (auto& record : records) record.ttl = 0;
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
    return std::tie(a.owner, a.type) < std::tie(b.owner, b.type) ||
           (std::tie(a.owner, a.type) == std::tie(b.owner, b.type) && a.data_text() < b.data_text());
  });
  return records;
}

}  // namespace

TEST_CASE("The zone overlay answers the provider exports as Knot serves them", "[knot][integration][exports]") {
  auto network = Resolver::create(knot_exports().resolver_config());
  REQUIRE(network);
  auto zones = std::make_shared<ZoneOverlay>();
  std::vector<std::string> names;
  for (const auto& zone : export_copies().originals) {
    auto parsed = parse_zone_file(zone.file, zone.domain);
    REQUIRE(parsed);
    for (const auto& record : parsed->records) names.push_back(record.owner);
    for (const auto& skipped : parsed->skipped) names.push_back(skipped.owner);
    names.push_back("no-such-name." + zone.domain);
    zones->add(std::move(parsed).value());
  }
  // Wildcards (RFC 4592), an empty non-terminal, a delegation with glue.
  for (const char* name : {"printer.hosts.bind-export.example", "scanner.hosts.bind-export.example",
                           "a.b.hosts.bind-export.example", "x.printer.hosts.bind-export.example",
                           "hosts.bind-export.example", "deep.mail.bind-export.example", "x.deep.mail.bind-export.example",
                           "branch.bind-export.example", "www.branch.bind-export.example", "ns.branch.bind-export.example",
                           "_tcp.bind-export.example", "dc01._msdcs.windows-static.example"})
    names.push_back(name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  ResolverConfig offline;
  offline.zones = zones;
  offline.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), 9});  // only delegated names get here
  offline.attempt_timeout = std::chrono::milliseconds(500);
  auto overlay = Resolver::create(offline);
  REQUIRE(overlay);

  std::size_t compared = 0, delegated = 0, synthesized = 0;
  for (const auto& name : names) {
    for (auto type : {RrType::A, RrType::AAAA, RrType::MX, RrType::TXT, RrType::CNAME, RrType::PTR}) {
      const Answer from_knot = (*network)->resolve(name, type);
      const Answer from_zone = (*overlay)->resolve(name, type);
      INFO(name << " " << to_string(type) << ": knot " << to_string(from_knot.outcome) << " (" << from_knot.detail
                << "), overlay " << to_string(from_zone.outcome) << " (" << from_zone.detail << ")");
      if (!zones->covers(name)) {
        // Knot refers the question to the delegated zone's servers; the
        // overlay must not answer it in their place.
        CHECK(from_knot.records.empty());
        CHECK_FALSE(from_zone.is_definitive());
        ++delegated;
        continue;
      }
      CHECK(without_ttls(from_zone.cname_chain) == without_ttls(from_knot.cname_chain));
      if (!from_knot.is_definitive()) {
        // A CNAME out of every served zone: Knot refuses the target, the
        // overlay leaves it to the network; neither is an answer.
        CHECK_FALSE(from_zone.cname_chain.empty());
        CHECK_FALSE(from_zone.is_definitive());
        continue;
      }
      CHECK(from_zone.outcome == from_knot.outcome);
      CHECK(without_ttls(from_zone.records) == without_ttls(from_knot.records));
      if (name.find(".hosts.") != std::string::npos && from_knot.ok()) ++synthesized;
      ++compared;
    }
  }
  CHECK(compared > 200);
  // branch, www.branch and ns.branch; _msdcs, dc01._msdcs and _ldap._tcp.dc._msdcs: 6 types each
  CHECK(delegated == 6 * 6);
  CHECK(synthesized >= 4);
}
