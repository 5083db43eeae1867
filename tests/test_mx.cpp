// sendcheck-mx's logic in libdiag: provider classes, the derived tenant MX
// and how a real MX matches it, domain input, every fixture case checked end
// to end through the resolver, and the rule that a DNS failure is never
// reported as an absence.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "diag/mx.h"
#include "diag/resolver.h"
#include "diag/version.h"
#include "dns_test_server.h"
#include "fixture_zones.h"
#include "temporary_directory.h"

using namespace std::chrono_literals;
using namespace diag::mx;
using diag::Status;
using diag::dns::Outcome;
using diag::dns::RrType;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;

namespace {

const std::string extra_zone = fixtures::source_path("fixtures/mx/mx-extra.test.zone");

// ---------------------------------------------------------------------------
// Helpers over a DomainReport

std::vector<const diag::Check*> checks_with_id(const DomainReport& report, std::string_view id) {
  std::vector<const diag::Check*> found;
  for (const auto& check : report.checks)
    if (check.id == id) found.push_back(&check);
  return found;
}

bool has_check(const DomainReport& report, std::string_view id) { return !checks_with_id(report, id).empty(); }

// The one check with this id; fails the test when there is none or several.
const diag::Check& the_check(const DomainReport& report, std::string_view id) {
  const auto found = checks_with_id(report, id);
  INFO("check " << id);
  REQUIRE(found.size() == 1);
  return *found.front();
}

bool any_status(const DomainReport& report, Status status) {
  return std::any_of(report.checks.begin(), report.checks.end(),
                     [status](const diag::Check& check) { return check.status == status; });
}

std::vector<std::string> check_ids(const DomainReport& report) {
  std::vector<std::string> ids;
  for (const auto& check : report.checks) ids.push_back(check.id + "=" + std::string(diag::to_string(check.status)));
  return ids;
}

std::string match_text(const std::optional<MatchKind>& match) {
  return match ? std::string(to_string(*match)) : std::string("nullopt");
}

// match_host as text, so that a failure shows "variant" == "other".
std::string match(std::string_view domain, std::string_view host) {
  return std::string(to_string(match_host(domain, host)));
}

// A resolver that answers from the fixture zones (and fixtures/mx) and
// sends anything else to port 9 on loopback, where nothing listens: a
// quick "connection refused", never a packet off the machine.
std::unique_ptr<diag::dns::Resolver> offline_resolver() {
  diag::dns::ResolverConfig config;
  auto zones = fixtures::overlay();
  auto extra = diag::dns::parse_zone_file(extra_zone);
  if (!extra) throw std::runtime_error(extra.error().message);
  zones->add(std::move(extra).value());
  config.zones = std::move(zones);
  config.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), 9});
  config.attempt_timeout = 200ms;
  config.tries = 1;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  if (!resolver) throw std::runtime_error(resolver.error().message);
  return std::move(resolver).value();
}

// Every fixture domain checked once, together, as sendcheck-mx does.
const std::vector<std::string>& fixture_labels() {
  static const std::vector<std::string> labels = {
      "contoso", "guen-transporte", "big-caps",   "dnssec",      "gcch",        "vianet",     "germany",
      "google",  "other",           "two-mx",     "two-m365",    "legacy",      "legacy-eo",  "legacy-fope",
      "null-mx", "mx-cname",        "ip-literal", "mx-nxdomain", "dangling",    "no-mx",      "other-token",
      "nosuch"};
  return labels;
}

const DomainReport& fixture_report(const std::string& label) {
  static const std::map<std::string, DomainReport> reports = [] {
    std::vector<std::string> domains;
    for (const auto& name : fixture_labels()) domains.push_back(name + ".sendcheck.test");
    for (const auto& name : {"unsorted", "backup-first", "mixed-null", "legacy-and-new", "offnet"})
      domains.push_back(std::string(name) + ".mx-extra.test");
    auto resolver = offline_resolver();
    auto results = check_domains(*resolver, domains);
    std::map<std::string, DomainReport> by_name;
    for (auto& report : results) by_name.emplace(report.domain, std::move(report));
    return by_name;
  }();
  const std::string domain = label.find('.') == std::string::npos ? label + ".sendcheck.test" : label;
  const auto found = reports.find(domain);
  INFO(domain);
  REQUIRE(found != reports.end());
  return found->second;
}

// The check ids that are findings about the MX set: each must be present
// exactly when a case expects it.
const std::vector<std::string> finding_ids = {"mx.null", "mx.ip-literal", "mx.legacy-target", "mx.cname", "mx.single"};

struct ExpectedHost {
  std::string host;
  Provider provider;
  bool legacy = false;
};

struct FixtureCase {
  std::string label;
  Outcome lookup;
  std::optional<MatchKind> match;
  std::vector<ExpectedHost> hosts;  // in preference order
  std::string direct_send_host;     // "" for none
  // Every check with this id has this status (and there is at least one).
  std::vector<std::pair<std::string, Status>> checks;
};

std::vector<FixtureCase> fixture_cases() {
  const Provider m365 = Provider::m365;
  return {
      {"contoso", Outcome::records, MatchKind::exact,
       {{"contoso-sendcheck-test.mail.protection.outlook.com", m365}},
       "contoso-sendcheck-test.mail.protection.outlook.com",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.dnssec", Status::info}, {"mx.direct-send", Status::pass}}},
      {"guen-transporte", Outcome::records, MatchKind::variant,
       {{"guentransporte-sendcheck-test01b.mail.protection.outlook.com", m365}},
       "guentransporte-sendcheck-test01b.mail.protection.outlook.com",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.direct-send", Status::pass}}},
      {"big-caps", Outcome::records, MatchKind::variant,
       {{"bigcaps-sendcheck-test01c.mail.protection.outlook.com", m365}},
       "bigcaps-sendcheck-test01c.mail.protection.outlook.com",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.direct-send", Status::pass}}},
      {"dnssec", Outcome::records, MatchKind::dnssec,
       {{"dnssec-sendcheck-test.o-v1.mx.microsoft", Provider::m365_dnssec}},
       "dnssec-sendcheck-test.o-v1.mx.microsoft",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.dnssec", Status::info}, {"mx.direct-send", Status::pass}}},
      {"gcch", Outcome::records, MatchKind::other,
       {{"contosogov.mail.protection.office365.us", Provider::m365_gcc_high}},
       "contosogov.mail.protection.office365.us",
       // Named after the tenant, as GCC High does: information, not a warning.
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.direct-send", Status::pass}}},
      {"vianet", Outcome::records, MatchKind::variant,
       {{"vianet-sendcheck-test.mail.protection.partner.outlook.cn", Provider::m365_21vianet}},
       "vianet-sendcheck-test.mail.protection.partner.outlook.cn",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.direct-send", Status::pass}}},
      {"germany", Outcome::records, MatchKind::variant,
       {{"germany-sendcheck-test.mail.protection.outlook.de", Provider::m365_germany, true}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.legacy-target", Status::fail}, {"mx.host-resolves", Status::pass},
        {"mx.direct-send", Status::fail}}},
      {"google", Outcome::records, MatchKind::other,
       {{"aspmx.l.google.com", Provider::google}, {"alt1.aspmx.l.google.com", Provider::google}},
       "",
       // Two MX are fine for a domain that is not on Microsoft 365: no mx.single.
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::info},
        {"mx.direct-send", Status::warn}}},
      {"other", Outcome::records, MatchKind::other,
       {{"mx1.mailhost.example", Provider::other}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.direct-send", Status::warn}}},
      {"two-mx", Outcome::records, MatchKind::exact,
       {{"two-mx-sendcheck-test.mail.protection.outlook.com", m365}, {"mx1.mailhost.example", Provider::other}},
       "two-mx-sendcheck-test.mail.protection.outlook.com",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.single", Status::warn},
        {"mx.direct-send", Status::pass}}},
      {"two-m365", Outcome::records, MatchKind::dnssec,
       {{"two-m365-sendcheck-test.o-v1.mx.microsoft", Provider::m365_dnssec},
        {"two-m365-sendcheck-test.mail.protection.outlook.com", m365}},
       "two-m365-sendcheck-test.o-v1.mx.microsoft",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.single", Status::warn},
        {"mx.direct-send", Status::pass}}},
      {"legacy", Outcome::records, MatchKind::other,
       {{"mail.outlook.com", m365, true}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.legacy-target", Status::fail}, {"mx.host-resolves", Status::pass},
        {"mx.direct-send", Status::fail}}},
      {"legacy-eo", Outcome::records, MatchKind::other,
       {{"legacy-eo-sendcheck-test.mail.eo.outlook.com", m365, true}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.legacy-target", Status::fail}, {"mx.direct-send", Status::fail}}},
      {"legacy-fope", Outcome::records, MatchKind::other,
       {{"mail.messaging.microsoft.com", m365, true}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.legacy-target", Status::fail}, {"mx.direct-send", Status::fail}}},
      {"null-mx", Outcome::records, MatchKind::none, {}, "",
       {{"mx.null", Status::fail}, {"mx.direct-send", Status::fail}}},
      // An alias is judged by its target: mail to it reaches Microsoft 365,
      // so direct send works through it, with the device set to Microsoft's
      // name (its certificate names no alias); mx.cname says the alias is wrong.
      {"mx-cname", Outcome::records, MatchKind::other,
       {{"mxalias.sendcheck.test", Provider::m365}},
       "contoso-sendcheck-test.mail.protection.outlook.com",
       {{"mx.lookup", Status::pass}, {"mx.cname", Status::warn}, {"mx.host-resolves", Status::pass},
        {"mx.direct-send", Status::pass}}},
      {"ip-literal", Outcome::records, MatchKind::other,
       {{"192.0.2.25", Provider::other}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.ip-literal", Status::fail}}},
      {"mx-nxdomain", Outcome::records, MatchKind::other,
       {{"nowhere.sendcheck.test", Provider::other}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::fail}}},
      {"dangling", Outcome::records, MatchKind::exact,
       {{"dangling-sendcheck-test.mail.protection.outlook.com", m365}},
       "",
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::fail}, {"mx.direct-send", Status::fail}}},
      {"no-mx", Outcome::nodata, MatchKind::none, {}, "",
       {{"mx.lookup", Status::fail}, {"mx.direct-send", Status::fail}}},
      {"other-token", Outcome::records, MatchKind::other,
       {{"somethingelse-com.mail.protection.outlook.com", m365}},
       "somethingelse-com.mail.protection.outlook.com",
       // A worldwide token that is not derived from the domain: worth a warning.
       {{"mx.lookup", Status::pass}, {"mx.host-resolves", Status::pass}, {"mx.tenant-match", Status::warn},
        {"mx.direct-send", Status::pass}}},
      {"nosuch", Outcome::nxdomain, MatchKind::none, {}, "",
       {{"mx.lookup", Status::fail}, {"mx.direct-send", Status::fail}}},
  };
}

// ---------------------------------------------------------------------------
// The loopback test server with the fixture zones, for the fault tests.

std::unique_ptr<DnsTestServer> start_fixture_server() {
  std::vector<std::string> files = fixtures::zone_files();
  files.push_back(extra_zone);
  auto zones = sendcheck::testing::load_zones(files);
  if (!zones) FAIL("fixture zones: " << zones.error().message);
  DnsTestServerConfig config;
  config.zones = std::move(zones).value();
  auto server = DnsTestServer::start(std::move(config));
  if (!server) FAIL("test server: " << server.error().message);
  return std::move(server).value();
}

// Network only (no overlay), short waits: a dropped question times out in
// about 2 x 150 ms.
std::unique_ptr<diag::dns::Resolver> resolver_for(const DnsTestServer& server) {
  diag::dns::ResolverConfig config;
  config.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), server.port()});
  config.attempt_timeout = 150ms;
  config.tries = 2;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  if (!resolver) FAIL("resolver: " << resolver.error().message);
  return std::move(resolver).value();
}

DomainReport check_one(const DnsTestServer& server, const std::string& domain) {
  auto resolver = resolver_for(server);
  auto reports = check_domains(*resolver, {domain});
  REQUIRE(reports.size() == 1);
  return std::move(reports.front());
}

// ---------------------------------------------------------------------------

}  // namespace

// ===========================================================================
// classify_host

TEST_CASE("classify_host: every provider class", "[mx]") {
  struct Case {
    const char* host;
    Provider provider;
  };
  const Case cases[] = {
      {"contoso-com.mail.protection.outlook.com", Provider::m365},
      {"guentransporte-de01b.mail.protection.outlook.com", Provider::m365},
      {"contoso-com.o-v1.mx.microsoft", Provider::m365_dnssec},
      {"contoso-com.e-v1.mx.microsoft", Provider::m365_dnssec},
      {"contoso.mail.protection.office365.us", Provider::m365_gcc_high},
      {"contoso-com.mail.protection.partner.outlook.cn", Provider::m365_21vianet},
      {"contoso-com.mail.protection.outlook.de", Provider::m365_germany},
      {"aspmx.l.google.com", Provider::google},
      {"alt1.aspmx.l.google.com", Provider::google},
      {"alt4.aspmx.l.google.com", Provider::google},
      {"aspmx2.googlemail.com", Provider::google},
      {"aspmx3.googlemail.com", Provider::google},
      {"smtp.google.com", Provider::google},
      {"mx1.mailhost.example", Provider::other},
      {"mx.contoso.com", Provider::other},
  };
  for (const auto& c : cases) {
    INFO(c.host);
    const HostClass host_class = classify_host(c.host);
    CHECK(host_class.provider == c.provider);
    CHECK(host_class.suffix.empty() == (c.provider == Provider::other));
  }
  // Only Germany is retired among the provider clouds.
  CHECK_FALSE(classify_host("contoso-com.mail.protection.outlook.com").legacy);
  CHECK_FALSE(classify_host("contoso-com.o-v1.mx.microsoft").legacy);
  CHECK_FALSE(classify_host("contoso.mail.protection.office365.us").legacy);
  CHECK_FALSE(classify_host("contoso-com.mail.protection.partner.outlook.cn").legacy);
  CHECK(classify_host("contoso-com.mail.protection.outlook.de").legacy);
  CHECK_FALSE(classify_host("aspmx.l.google.com").legacy);
  CHECK_FALSE(classify_host("mx1.mailhost.example").legacy);
}

TEST_CASE("classify_host: every legacy Microsoft target is m365 and legacy", "[mx]") {
  for (const char* host : {"mail.outlook.com", "contoso-com.mail.eo.outlook.com", "mail.eo.outlook.com",
                           "mail.messaging.microsoft.com", "mail.global.frontbridge.com", "mail.global.bigfish.com"}) {
    INFO(host);
    const HostClass host_class = classify_host(host);
    CHECK(host_class.provider == Provider::m365);
    CHECK(host_class.legacy);
  }
  CHECK(classify_host("contoso-com.mail.eo.outlook.com").suffix == "mail.eo.outlook.com");
}

TEST_CASE("classify_host: case-insensitive, trailing dot ignored", "[mx]") {
  CHECK(classify_host("CONTOSO-COM.MAIL.PROTECTION.OUTLOOK.COM").provider == Provider::m365);
  CHECK(classify_host("Contoso-Com.Mail.Protection.Outlook.Com.").provider == Provider::m365);
  CHECK(classify_host("contoso-com.O-V1.MX.MICROSOFT.").provider == Provider::m365_dnssec);
  CHECK(classify_host("ASPMX.L.GOOGLE.COM.").provider == Provider::google);
  CHECK(classify_host("Mail.Outlook.Com.").legacy);
  CHECK(classify_host("contosogov.MAIL.protection.OFFICE365.us.").provider == Provider::m365_gcc_high);
}

TEST_CASE("classify_host: look-alikes across label boundaries are other", "[mx]") {
  for (const char* host : {
           "mail.protection.outlook.com.evil.example",     // suffix in the middle
           "contoso-com.mail.protection.outlook.com.evil.example",
           "xmail.protection.outlook.com",                // not a subdomain: one label "xmail"
           "contoso-commail.protection.outlook.com",      // hyphen instead of a dot
           "contoso-com-mail.protection.outlook.com",
           "protection.outlook.com",                      // a parent of the suffix
           "outlook.com",
           "eo.outlook.com",
           "contoso.mail-protection-outlook.com",
           "contoso-com.mail.protection.outlook.co",      // another TLD
           "contoso-com.mail.protection.outlook.com.de",
           "evilmx.microsoft",                            // not below mx.microsoft
           "contoso-com.o-v1.mx.microsoft.com",           // .microsoft.com is not .microsoft
           "contoso-com.o-v1.mx-microsoft",
           "notmail.outlook.com",
           "mail.outlook.community",
           "xmail.messaging.microsoft.com",
           "mail.global.frontbridge.com.evil.example",
           "fakeaspmx.l.google.com",
           "notgooglemail.com",
           "smtp.google.com.evil.example",
           "gmail-smtp-in.l.google.com",  // Gmail, not Google Workspace's MX
           "google.com",
           "contosogov.mail.protection.office365.us.example",
           "contoso.mail.protection.partner.outlook.cn.example",
           "contoso-com.mail.protection.outlook.de.example",
       }) {
    INFO(host);
    const HostClass host_class = classify_host(host);
    CHECK(host_class.provider == Provider::other);
    CHECK_FALSE(host_class.legacy);
    CHECK(host_class.suffix.empty());
  }
}

TEST_CASE("classify_host: the longest suffix wins", "[mx]") {
  // mail.eo.outlook.com and mail.outlook.com are different entries; a host
  // under mail.protection.outlook.com is not under mail.outlook.com.
  CHECK(classify_host("x.mail.protection.outlook.com").suffix == "mail.protection.outlook.com");
  CHECK_FALSE(classify_host("x.mail.protection.outlook.com").legacy);
  CHECK(classify_host("x.mail.outlook.com").suffix == "mail.outlook.com");
  CHECK(classify_host("alt1.aspmx.l.google.com").suffix == "aspmx.l.google.com");
}

TEST_CASE("provider names and descriptions", "[mx]") {
  const std::pair<Provider, const char*> names[] = {
      {Provider::m365, "m365"},
      {Provider::m365_dnssec, "m365-dnssec"},
      {Provider::m365_gcc_high, "m365-gcc-high"},
      {Provider::m365_21vianet, "m365-21vianet"},
      {Provider::m365_germany, "m365-germany"},
      {Provider::google, "google"},
      {Provider::other, "other"},
  };
  for (const auto& [provider, name] : names) {
    INFO(name);
    CHECK(to_string(provider) == name);
    CHECK_FALSE(describe(provider).empty());
  }
  CHECK(is_microsoft(Provider::m365));
  CHECK(is_microsoft(Provider::m365_dnssec));
  CHECK(is_microsoft(Provider::m365_gcc_high));
  CHECK(is_microsoft(Provider::m365_21vianet));
  CHECK(is_microsoft(Provider::m365_germany));
  CHECK_FALSE(is_microsoft(Provider::google));
  CHECK_FALSE(is_microsoft(Provider::other));

  CHECK(to_string(MatchKind::exact) == "exact");
  CHECK(to_string(MatchKind::variant) == "variant");
  CHECK(to_string(MatchKind::dnssec) == "dnssec");
  CHECK(to_string(MatchKind::other) == "other");
  CHECK(to_string(MatchKind::none) == "none");
}

// ===========================================================================
// classic_tenant_mx and match_host

TEST_CASE("classic_tenant_mx: dots become hyphens", "[mx]") {
  CHECK(classic_tenant_mx("schulenburg.co") == "schulenburg-co.mail.protection.outlook.com");
  CHECK(classic_tenant_mx("contoso.com") == "contoso-com.mail.protection.outlook.com");
  CHECK(classic_tenant_mx("guen-transporte.de") == "guen-transporte-de.mail.protection.outlook.com");
  CHECK(classic_tenant_mx("mail.contoso.co.uk") == "mail-contoso-co-uk.mail.protection.outlook.com");
  CHECK(classic_tenant_mx("contoso.sendcheck.test") == "contoso-sendcheck-test.mail.protection.outlook.com");
  // Trailing dot and case do not matter.
  CHECK(classic_tenant_mx("Schulenburg.CO.") == "schulenburg-co.mail.protection.outlook.com");
}

TEST_CASE("match_host: exact", "[mx]") {
  CHECK(match("schulenburg.co", "schulenburg-co.mail.protection.outlook.com") == "exact");
  CHECK(match("contoso.com", "CONTOSO-COM.MAIL.PROTECTION.OUTLOOK.COM.") == "exact");
  CHECK(match("Contoso.Com.", "contoso-com.mail.protection.outlook.com") == "exact");
  CHECK(match("sub.contoso.com", "sub-contoso-com.mail.protection.outlook.com") == "exact");
  // Hyphens kept, as older tenants have them.
  CHECK(match("guen-transporte.de", "guen-transporte-de.mail.protection.outlook.com") == "exact");
}

TEST_CASE("match_host: variants observed for newer tenants (m365-facts 1.1)", "[mx]") {
  CHECK(match("guen-transporte.de", "guentransporte-de01b.mail.protection.outlook.com") == "variant");
  CHECK(match("svra-tech.com", "SVRATECH-COM01b.mail.protection.outlook.com") == "variant");
  CHECK(match("akshaya-inc.com", "akshayainc-com01i.mail.protection.outlook.com") == "variant");
  CHECK(match("heig-vd.ch", "heigvd-ch01b.mail.protection.outlook.com") == "variant");
  CHECK(match("maxx-express.com", "maxxexpress-com01b.mail.protection.outlook.com") == "variant");
  CHECK(match("rose-hulman.edu", "rosehulman-edu01b.mail.protection.outlook.com") == "variant");
  // A suffix on a token that kept its hyphens, and hyphens dropped without a suffix.
  CHECK(match("contoso.com", "contoso-com01b.mail.protection.outlook.com") == "variant");
  CHECK(match("guen-transporte.de", "guentransporte-de.mail.protection.outlook.com") == "variant");
}

TEST_CASE("match_host: DNSSEC hosts under mx.microsoft", "[mx]") {
  CHECK(match("contoso.com", "contoso-com.o-v1.mx.microsoft") == "dnssec");
  CHECK(match("contoso.com", "contoso-com.e-v1.mx.microsoft") == "dnssec");
  // The token cannot be derived, so any mx.microsoft host is "dnssec".
  CHECK(match("contoso.com", "fabrikam-com.r-v1.mx.microsoft") == "dnssec");
  CHECK(match("contoso.com", "CONTOSO-COM.O-V1.MX.MICROSOFT.") == "dnssec");
}

TEST_CASE("match_host: other", "[mx]") {
  // A token for another domain.
  CHECK(match("contoso.com", "fabrikam-com.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.com", "somethingelse-com.mail.protection.outlook.com") == "other");
  // A token that is a prefix of the expected one.
  CHECK(match("contoso.com", "contoso.mail.protection.outlook.com") == "other");
  // A suffix much longer than the observed three characters.
  CHECK(match("contoso.com", "contoso-com01babcd.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.com", "contoso-com-backup-server.mail.protection.outlook.com") == "other");
  // Dots kept instead of hyphens, or extra labels: not a token Microsoft issues.
  CHECK(match("contoso.com", "contoso.com.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.com", "x.contoso-com.mail.protection.outlook.com") == "other");
  // The bare suffix has no token.
  CHECK(match("contoso.com", "mail.protection.outlook.com") == "other");
  // GCC High names the MX after the tenant: never derived from the domain.
  CHECK(match("contoso.com", "contoso.mail.protection.office365.us") == "other");
  CHECK(match("contoso.com", "contoso-com.mail.protection.office365.us") == "other");
  // Legacy targets, Google and third parties.
  CHECK(match("contoso.com", "mail.outlook.com") == "other");
  CHECK(match("contoso.com", "contoso-com.mail.eo.outlook.com") == "other");
  CHECK(match("contoso.com", "mail.messaging.microsoft.com") == "other");
  CHECK(match("contoso.com", "aspmx.l.google.com") == "other");
  CHECK(match("contoso.com", "mx1.mailhost.example") == "other");
  // A look-alike that only contains the classic name.
  CHECK(match("contoso.com", "contoso-com.mail.protection.outlook.com.evil.example") == "other");
}

TEST_CASE("match_host: a token belonging to another domain that shares a prefix is other", "[mx]") {
  // BUG (libdiag/src/mx/mx.cpp, match_host): the variant rule drops every
  // hyphen and accepts any 1-4 alphanumerics after the domain, so the
  // classic token of a *different* domain reads as a variant:
  // schulenburg.com's MX for schulenburg.co, contoso.com.au's for contoso.com.
  CHECK(match("schulenburg.co", "schulenburg-com.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.com", "contoso-com-au.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.co", "contoso-co-uk.mail.protection.outlook.com") == "other");
  CHECK(match("contoso.com", "contoso-comx.mail.protection.outlook.com") == "other");
}

TEST_CASE("match_host: 21Vianet and Germany tokens are named after the domain", "[mx]") {
  CHECK(match("contoso.com", "contoso-com.mail.protection.partner.outlook.cn") == "variant");
  CHECK(match("contoso.com", "fabrikam-com.mail.protection.partner.outlook.cn") == "other");
  CHECK(match("contoso.com", "contoso-com.mail.protection.outlook.de") == "variant");
  CHECK(match("contoso.com", "fabrikam-com.mail.protection.outlook.de") == "other");
  // "exact" means the worldwide classic name only.
  CHECK(match("contoso.com", "contoso-com.mail.protection.partner.outlook.cn") != "exact");
}

// ===========================================================================
// parse_domain and read_domain_list

TEST_CASE("parse_domain: valid domains come back canonical", "[mx]") {
  const std::pair<const char*, const char*> cases[] = {
      {"contoso.com", "contoso.com"},
      {"Contoso.COM", "contoso.com"},
      {"contoso.com.", "contoso.com"},
      {"sub.guen-transporte.de", "sub.guen-transporte.de"},
      {"xn--mller-kva.de", "xn--mller-kva.de"},  // punycode
      {"123.example", "123.example"},
  };
  for (const auto& [text, canonical] : cases) {
    INFO(text);
    auto domain = parse_domain(text);
    REQUIRE(domain.ok());
    CHECK(*domain == canonical);
  }
  // Limits: a 63-octet label and a 253-character name are allowed.
  const std::string label63(63, 'a');
  CHECK(parse_domain(label63 + ".com").ok());
  std::string name253;
  while (name253.size() + 64 <= 253) name253 += label63 + ".";
  name253 += std::string(253 - name253.size() - 4, 'b') + ".com";
  REQUIRE(name253.size() == 253);
  CHECK(parse_domain(name253).ok());
}

TEST_CASE("parse_domain: bad input is a bad_input error naming it", "[mx]") {
  const std::string label64(64, 'a');
  std::string name254;
  while (name254.size() < 254) name254 += "abcdefghi.";
  name254 = name254.substr(0, 250) + ".com";  // 254 characters
  REQUIRE(name254.size() == 254);
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {".", "empty"},
      {"a..b", "empty label"},
      {".contoso.com", "empty label"},
      {label64 + ".com", "longer than 63"},
      {name254, "longer than 253"},
      // A Unicode domain is its A-label now (IDNA 2008); what IDNA refuses is bad input.
      {"bad\xff.de", "not a valid internationalized domain name"},
      {"192.0.2.1", "IP address"},
      {"192.0.2.1.", "IP address"},
      {"2001:db8::1", "\":\""},
      {"localhost", "no dot"},
      {"contoso", "no dot"},
      {"conto so.com", "\" \""},
      {"user@contoso.com", "\"@\""},
      {"contoso.com/x", "\"/\""},
      {"*.contoso.com", "\"*\""},
      {"contoso.com:25", "\":\""},
  };
  for (const auto& [text, fragment] : cases) {
    INFO("input: \"" << text << "\"");
    auto domain = parse_domain(text);
    REQUIRE_FALSE(domain.ok());
    CHECK(domain.error().kind == diag::ErrorKind::bad_input);
    CHECK_THAT(domain.error().message, Catch::Contains(fragment));
    if (!text.empty() && text.size() < 100) CHECK_THAT(domain.error().message, Catch::Contains(text));
  }
}

TEST_CASE("parse_domain: a name ending in an empty label is refused", "[mx]") {
  // BUG (libdiag/src/mx/mx.cpp, parse_domain): canonical_name removes one
  // trailing dot, and the loop never checks that the last label is not
  // empty, so "contoso.com.." is accepted as "contoso.com." (not canonical).
  auto domain = parse_domain("contoso.com..");
  CHECK_FALSE(domain.ok());
  if (domain.ok()) CHECK(*domain == "contoso.com");
}

TEST_CASE("read_domain_list: comments, blanks, case and trailing dots", "[mx]") {
  const auto list = read_domain_list(fixtures::source_path("fixtures/mx/domains.list"));
  INFO((list ? std::string() : list.error().message));
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"contoso.sendcheck.test", "guen-transporte.sendcheck.test",
                                          "dnssec.sendcheck.test", "gcch.sendcheck.test"});
}

TEST_CASE("read_domain_list: CRLF line ends and a missing final newline", "[mx]") {
  fixtures::TemporaryDirectory directory{"mx"};
  const auto path = directory.write("crlf.list", "# saved on Windows\r\ncontoso.com\r\n\r\n  fabrikam.com  \r\nlast.example");
  const auto list = read_domain_list(path);
  INFO((list ? std::string() : list.error().message));
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"contoso.com", "fabrikam.com", "last.example"});
}

TEST_CASE("read_domain_list: an empty list and a list of comments give no domains", "[mx]") {
  fixtures::TemporaryDirectory directory{"mx"};
  for (const std::string contents : {"", "\n\n", "# nothing here\n   # nor here\n"}) {
    const auto list = read_domain_list(directory.write("empty.list", contents));
    REQUIRE(list.ok());
    CHECK(list->empty());
  }
}

TEST_CASE("read_domain_list: a bad line is an error naming FILE:LINE", "[mx]") {
  const std::string path = fixtures::source_path("fixtures/mx/bad-line.list");
  const auto list = read_domain_list(path);
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().kind == diag::ErrorKind::bad_input);
  CHECK_THAT(list.error().message, Catch::StartsWith(path + ":3: "));
  CHECK_THAT(list.error().message, Catch::Contains("bad..sendcheck.test"));

  fixtures::TemporaryDirectory directory{"mx"};
  const auto crlf = directory.write("crlf-bad.list", "contoso.com\r\n\r\nnot a domain\r\n");
  const auto crlf_list = read_domain_list(crlf);
  REQUIRE_FALSE(crlf_list.ok());
  CHECK_THAT(crlf_list.error().message, Catch::StartsWith(crlf + ":3: "));

  const auto long_line = directory.write("long.list", "contoso.com\n" + std::string(5000, 'a') + ".com\n");
  const auto long_list = read_domain_list(long_line);
  REQUIRE_FALSE(long_list.ok());
  CHECK_THAT(long_list.error().message, Catch::StartsWith(long_line + ":2: "));
}

TEST_CASE("read_domain_list: a missing file is an error naming it", "[mx]") {
  fixtures::TemporaryDirectory directory{"mx"};
  const std::string path = directory.path("does-not-exist.list");
  const auto list = read_domain_list(path);
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().kind == diag::ErrorKind::bad_input);
  CHECK_THAT(list.error().message, Catch::StartsWith(path + ":"));
}

// ===========================================================================
// check_domains over the fixture zones

TEST_CASE("check_domains: the cases below cover every MX in sendcheck.test.zone", "[mx]") {
  auto zone = diag::dns::parse_zone_file(fixtures::source_path("fixtures/zones/sendcheck.test.zone"));
  REQUIRE(zone.ok());
  std::set<std::string> covered;
  for (const auto& expected : fixture_cases()) covered.insert(expected.label + ".sendcheck.test");
  for (const auto& record : zone->records) {
    if (record.type != RrType::MX) continue;
    INFO("a fixture domain without a case in fixture_cases(): " << record.owner);
    CHECK(covered.count(record.owner) == 1);
  }
}

TEST_CASE("check_domains: every fixture domain in sendcheck.test", "[mx]") {
  for (const auto& expected : fixture_cases()) {
    const std::string domain = expected.label + ".sendcheck.test";
    INFO(domain);
    const DomainReport& report = fixture_report(expected.label);
    INFO("checks: " << Catch::Detail::stringify(check_ids(report)));

    CHECK(report.domain == domain);
    CHECK(report.mx_answer.outcome == expected.lookup);
    CHECK(report.classic == classic_tenant_mx(domain));
    CHECK(match_text(report.match) == match_text(expected.match));
    CHECK(report.direct_send_host == expected.direct_send_host);

    REQUIRE(report.hosts.size() == expected.hosts.size());
    for (std::size_t i = 0; i < expected.hosts.size(); ++i) {
      INFO("MX " << expected.hosts[i].host);
      CHECK(report.hosts[i].host == expected.hosts[i].host);
      CHECK(report.hosts[i].host_class.provider == expected.hosts[i].provider);
      CHECK(report.hosts[i].host_class.legacy == expected.hosts[i].legacy);
    }

    for (const auto& [id, status] : expected.checks) {
      INFO("check " << id << " should be " << diag::to_string(status));
      const auto found = checks_with_id(report, id);
      REQUIRE_FALSE(found.empty());
      for (const auto* check : found) CHECK(check->status == status);
    }
    // Findings about the MX set appear exactly when the case is about them.
    for (const auto& id : finding_ids) {
      const bool expected_here = std::any_of(expected.checks.begin(), expected.checks.end(),
                                             [&](const auto& entry) { return entry.first == id; });
      INFO("finding " << id);
      CHECK(has_check(report, id) == expected_here);
    }
    // Every check names its domain; every failing or warning check says what to do.
    for (const auto& check : report.checks) {
      INFO("check " << check.id);
      CHECK(check.fields.value("domain", "") == domain);
      CHECK_FALSE(check.message.empty());
      if (check.status == Status::fail || check.status == Status::warn) CHECK_FALSE(check.remedy.empty());
    }
    // A fixture answer is a fact: nothing here is "could not find out".
    CHECK_FALSE(any_status(report, Status::error));
  }
}

TEST_CASE("check_domains: addresses, aliases and the derived name", "[mx]") {
  const auto addresses_of = [](const MxHost& host) {
    std::vector<std::string> out;
    for (const auto& address : host.addresses) out.push_back(address.to_string());
    return out;
  };
  SECTION("contoso: two A records in answer order, the derived name resolves") {
    const auto& report = fixture_report("contoso");
    CHECK(addresses_of(report.hosts.at(0)) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    CHECK(report.hosts.at(0).a_outcome == Outcome::records);
    CHECK(report.hosts.at(0).aaaa_outcome == Outcome::nodata);
    CHECK(report.classic_resolves == std::optional<bool>(true));
  }
  SECTION("dnssec: IPv4 before IPv6") {
    CHECK(addresses_of(fixture_report("dnssec").hosts.at(0)) ==
          std::vector<std::string>{"192.0.2.20", "2001:db8:20::1"});
  }
  SECTION("guen-transporte: the classic name is not published") {
    CHECK(fixture_report("guen-transporte").classic_resolves == std::optional<bool>(false));
  }
  SECTION("mx-cname: the alias is followed and reported") {
    const auto& host = fixture_report("mx-cname").hosts.at(0);
    CHECK(host.cname_target == "contoso-sendcheck-test.mail.protection.outlook.com");
    CHECK(addresses_of(host) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    CHECK_THAT(the_check(fixture_report("mx-cname"), "mx.cname").message,
               Catch::Contains("contoso-sendcheck-test.mail.protection.outlook.com"));
  }
  SECTION("ip-literal: flagged, never looked up") {
    const auto& host = fixture_report("ip-literal").hosts.at(0);
    CHECK(host.ip_literal);
    CHECK(host.addresses.empty());
    CHECK_FALSE(has_check(fixture_report("ip-literal"), "mx.host-resolves"));
  }
  SECTION("mx-nxdomain and dangling: the host does not exist") {
    CHECK(fixture_report("mx-nxdomain").hosts.at(0).a_outcome == Outcome::nxdomain);
    CHECK_THAT(the_check(fixture_report("dangling"), "mx.host-resolves").message, Catch::Contains("NXDOMAIN"));
    // The MX is the classic name and does not resolve.
    CHECK(fixture_report("dangling").classic_resolves == std::optional<bool>(false));
  }
  SECTION("null-mx: recognised, nothing looked up") {
    const auto& report = fixture_report("null-mx");
    CHECK(report.null_mx);
    CHECK(report.hosts.empty());
  }
  SECTION("two-m365: the remedy describes the mx.microsoft cut-over") {
    CHECK_THAT(the_check(fixture_report("two-m365"), "mx.single").remedy, Catch::Contains("mx.microsoft"));
    // A host beside Microsoft's may be the tenant's gateway: the fix names
    // both ways and never only "delete the other one".
    const std::string split = the_check(fixture_report("two-mx"), "mx.single").remedy;
    CHECK_THAT(split, Catch::Contains("split between Exchange Online and mx1.mailhost.example"));
    CHECK_THAT(split, Catch::Contains("point every MX record at it and remove the Exchange Online one"));
    CHECK_THAT(split, Catch::Contains("admin center"));
  }
  SECTION("the match message says plainly that Microsoft assigns the token") {
    for (const char* label : {"contoso", "guen-transporte", "dnssec"}) {
      INFO(label);
      const auto& message = the_check(fixture_report(label), "mx.tenant-match").message;
      CHECK_THAT(message, Catch::Contains("Microsoft assigns the token"));
      CHECK_THAT(message, Catch::Contains("mx.microsoft"));
      CHECK_THAT(message, Catch::Contains("July 2026"));
    }
  }
  SECTION("direct send names the host and port 25") {
    const auto& check = the_check(fixture_report("contoso"), "mx.direct-send");
    CHECK(check.fields.value("host", "") == "contoso-sendcheck-test.mail.protection.outlook.com");
    CHECK(check.fields.value("port", 0) == 25);
    CHECK_THAT(check.message, Catch::Contains("port 25"));
  }
  SECTION("legacy-target names the 451 4.4.62 symptom") {
    CHECK_THAT(the_check(fixture_report("legacy"), "mx.legacy-target").message, Catch::Contains("4.4.62"));
  }
}

TEST_CASE("check_domains: MX sets beyond the fixtures (fixtures/mx)", "[mx]") {
  SECTION("sorted by preference, then name") {
    const auto& report = fixture_report("unsorted.mx-extra.test");
    REQUIRE(report.hosts.size() == 3);
    CHECK(report.hosts[0].host == "a.mx-extra.test");
    CHECK(report.hosts[1].host == "z.mx-extra.test");
    CHECK(report.hosts[2].host == "b.mx-extra.test");
    CHECK(report.hosts[0].preference == 10);
    CHECK(report.hosts[2].preference == 20);
    // Not Microsoft 365: more than one MX is no finding.
    CHECK_FALSE(has_check(report, "mx.single"));
  }
  SECTION("a third-party host preferred over Microsoft 365: the Microsoft host decides") {
    const auto& report = fixture_report("backup-first.mx-extra.test");
    CHECK(report.direct_send_host == "contoso-sendcheck-test.mail.protection.outlook.com");
    CHECK(the_check(report, "mx.single").status == Status::warn);
    // contoso's token on another domain: "other", with the Microsoft host named.
    CHECK(match_text(report.match) == "other");
    CHECK(the_check(report, "mx.tenant-match").status == Status::warn);
    CHECK_THAT(the_check(report, "mx.tenant-match").message,
               Catch::Contains("contoso-sendcheck-test.mail.protection.outlook.com"));
  }
  SECTION("a retired target preferred over the real MX") {
    const auto& report = fixture_report("legacy-and-new.mx-extra.test");
    CHECK(the_check(report, "mx.legacy-target").status == Status::fail);
    CHECK(the_check(report, "mx.legacy-target").fields.value("host", "") == "mail.outlook.com");
    CHECK(report.direct_send_host == "contoso-sendcheck-test.mail.protection.outlook.com");
  }
  SECTION("an MX host the network cannot resolve is an error, not a finding") {
    const auto& report = fixture_report("offnet.mx-extra.test");
    CHECK(the_check(report, "mx.host-resolves").status == Status::error);
    CHECK(the_check(report, "mx.direct-send").status == Status::error);
    CHECK_FALSE(any_status(report, Status::fail));
  }
}

TEST_CASE("check_domains: a null MX next to other MX records is a finding, not an error", "[mx]") {
  // BUG (libdiag/src/mx/mx.cpp, check_domains): null_mx is recognised only
  // when "." is the single record. With "0 ." next to "10 a.mx-extra.test."
  // the "." target becomes a host, its A query is answered "malformed
  // (empty name)", and the report says mx.host-resolves=error and
  // mx.direct-send=error: "could not complete" (exit 3) for a domain whose
  // DNS answered fully and is simply misconfigured (RFC 7505 3).
  const auto& report = fixture_report("mixed-null.mx-extra.test");
  INFO("checks: " << Catch::Detail::stringify(check_ids(report)));
  CHECK_FALSE(any_status(report, Status::error));
  CHECK(has_check(report, "mx.null"));
  for (const auto* check : checks_with_id(report, "mx.null")) CHECK(check->status == Status::fail);
}

TEST_CASE("check_domains: domains given in any case or with a trailing dot are checked", "[mx]") {
  // check_domains wants canonical names; parse_domain makes them so.
  auto domain = parse_domain("CONTOSO.SendCheck.Test.");
  REQUIRE(domain.ok());
  auto resolver = offline_resolver();
  const auto reports = check_domains(*resolver, {*domain, "null-mx.sendcheck.test", *domain});
  REQUIRE(reports.size() == 3);
  CHECK(reports[0].domain == "contoso.sendcheck.test");
  CHECK(match_text(reports[0].match) == "exact");
  CHECK(reports[1].domain == "null-mx.sendcheck.test");
  CHECK(reports[2].direct_send_host == reports[0].direct_send_host);
  CHECK(check_domains(*resolver, {}).empty());
}

// ===========================================================================
// Temporary failures are never absence

TEST_CASE("a failed MX lookup is an error, never a missing MX", "[mx]") {
  const auto server = start_fixture_server();
  const std::string domain = "contoso.sendcheck.test";
  Outcome expected = Outcome::servfail;
  SECTION("SERVFAIL") {
    server->add_fault(domain, RrType::MX, Fault{FaultAction::servfail});
    expected = Outcome::servfail;
  }
  SECTION("REFUSED") {
    server->add_fault(domain, RrType::MX, Fault{FaultAction::refused});
    expected = Outcome::refused;
  }
  SECTION("no answer (timeout)") {
    server->add_fault(domain, RrType::MX, Fault{FaultAction::drop});
    expected = Outcome::timeout;
  }
  SECTION("a malformed answer") {
    server->add_fault(domain, RrType::MX, Fault{FaultAction::malformed});
    expected = Outcome::malformed;
  }
  const auto started = std::chrono::steady_clock::now();
  const DomainReport report = check_one(*server, domain);
  INFO("checks: " << Catch::Detail::stringify(check_ids(report)));
  CHECK(std::chrono::steady_clock::now() - started < 5s);

  CHECK(report.mx_answer.outcome == expected);
  CHECK(the_check(report, "mx.lookup").status == Status::error);
  CHECK_THAT(the_check(report, "mx.lookup").message, Catch::Contains(std::string(diag::dns::to_string(expected))));
  CHECK_FALSE(report.match.has_value());
  CHECK(report.hosts.empty());
  CHECK_FALSE(report.null_mx);
  CHECK(report.direct_send_host.empty());
  // No check may claim the MX is missing or that mail cannot be delivered.
  CHECK_FALSE(any_status(report, Status::fail));
  CHECK_FALSE(has_check(report, "mx.direct-send"));
  CHECK_FALSE(has_check(report, "mx.tenant-match"));
  const auto json = to_json(report);
  CHECK(json["match"].is_null());
  CHECK(json["lookup"] == std::string(diag::dns::to_string(expected)));
  CHECK(json["direct_send_host"].is_null());
  CHECK(json["mx"].empty());
}

TEST_CASE("a failed address lookup of the MX host is an error, never a missing host", "[mx]") {
  const auto server = start_fixture_server();
  const std::string host = "contoso-sendcheck-test.mail.protection.outlook.com";
  SECTION("SERVFAIL for A and AAAA") {
    server->add_fault(host, sendcheck::testing::any_type, Fault{FaultAction::servfail});
  }
  SECTION("A times out, AAAA has no data") { server->add_fault(host, RrType::A, Fault{FaultAction::drop}); }
  SECTION("A refused, AAAA has no data") { server->add_fault(host, RrType::A, Fault{FaultAction::refused}); }
  const DomainReport report = check_one(*server, "contoso.sendcheck.test");
  INFO("checks: " << Catch::Detail::stringify(check_ids(report)));
  CHECK(the_check(report, "mx.lookup").status == Status::pass);
  REQUIRE(report.hosts.size() == 1);
  CHECK(report.hosts[0].addresses.empty());
  CHECK(the_check(report, "mx.host-resolves").status == Status::error);
  CHECK(the_check(report, "mx.direct-send").status == Status::error);
  CHECK_FALSE(any_status(report, Status::fail));
  CHECK(report.direct_send_host.empty());
  // The MX itself was read: the match is known.
  CHECK(match_text(report.match) == "exact");
}

TEST_CASE("a host with an address of one family resolves even when the other lookup fails", "[mx]") {
  const auto server = start_fixture_server();
  server->add_fault("contoso-sendcheck-test.mail.protection.outlook.com", RrType::AAAA, Fault{FaultAction::servfail});
  const DomainReport report = check_one(*server, "contoso.sendcheck.test");
  CHECK(the_check(report, "mx.host-resolves").status == Status::pass);
  CHECK(report.direct_send_host == "contoso-sendcheck-test.mail.protection.outlook.com");
}

TEST_CASE("a failed lookup of a nonexistent host's AAAA is an error, not NXDOMAIN", "[mx]") {
  const auto server = start_fixture_server();
  server->add_fault("nowhere.sendcheck.test", RrType::AAAA, Fault{FaultAction::servfail});
  const DomainReport report = check_one(*server, "mx-nxdomain.sendcheck.test");
  CHECK(the_check(report, "mx.host-resolves").status == Status::error);
  CHECK_FALSE(any_status(report, Status::fail));
}

TEST_CASE("a failed lookup of the derived name is 'could not be checked'", "[mx]") {
  const auto server = start_fixture_server();
  server->add_fault("google-sendcheck-test.mail.protection.outlook.com", RrType::A, Fault{FaultAction::servfail});
  const DomainReport report = check_one(*server, "google.sendcheck.test");
  CHECK_FALSE(report.classic_resolves.has_value());
  CHECK_THAT(the_check(report, "mx.tenant-match").message, Catch::Contains("could not be checked"));
  CHECK(to_json(report)["derived"]["resolves"].is_null());
  // The MX answer itself was fine: the verdict stands.
  CHECK(match_text(report.match) == "other");
  CHECK(the_check(report, "mx.direct-send").status == Status::warn);
}

TEST_CASE("fixture verdicts over the network equal those from the zone overlay", "[mx]") {
  const auto server = start_fixture_server();
  std::vector<std::string> domains;
  for (const auto& label : fixture_labels()) domains.push_back(label + ".sendcheck.test");
  auto resolver = resolver_for(*server);
  const auto reports = check_domains(*resolver, domains);
  REQUIRE(reports.size() == domains.size());
  for (const auto& report : reports) {
    INFO(report.domain);
    const DomainReport& offline = fixture_report(report.domain);
    CHECK(match_text(report.match) == match_text(offline.match));
    CHECK(report.direct_send_host == offline.direct_send_host);
    REQUIRE(report.checks.size() == offline.checks.size());
    for (std::size_t i = 0; i < report.checks.size(); ++i) {
      CHECK(report.checks[i].id == offline.checks[i].id);
      if (report.checks[i].id != "mx.dnssec") CHECK(report.checks[i].status == offline.checks[i].status);
    }
  }
}

TEST_CASE("DNSSEC: the AD bit of the MX answer", "[mx]") {
  const auto server = start_fixture_server();
  SECTION("AD set: pass") {
    server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::ad});
    const DomainReport report = check_one(*server, "contoso.sendcheck.test");
    CHECK(report.mx_answer.authenticated_data);
    CHECK(the_check(report, "mx.dnssec").status == Status::pass);
    CHECK(to_json(report)["dnssec_ad"] == true);
  }
  SECTION("AD clear: information, with a DANE remedy only for mx.microsoft hosts") {
    const DomainReport plain = check_one(*server, "contoso.sendcheck.test");
    CHECK(the_check(plain, "mx.dnssec").status == Status::info);
    CHECK(the_check(plain, "mx.dnssec").remedy.empty());
    CHECK(to_json(plain)["dnssec_ad"] == false);
    const DomainReport dnssec = check_one(*server, "dnssec.sendcheck.test");
    CHECK(the_check(dnssec, "mx.dnssec").status == Status::info);
    CHECK_THAT(the_check(dnssec, "mx.dnssec").remedy, Catch::Contains("Enable-SmtpDaneInbound"));
  }
  SECTION("from a --zone file: DNSSEC does not apply") {
    CHECK_THAT(the_check(fixture_report("contoso"), "mx.dnssec").message, Catch::Contains("--zone"));
  }
}

// ===========================================================================
// JSON

TEST_CASE("to_json: the keys of the JSON contract, values from the allowed sets", "[mx]") {
  const std::set<std::string> domain_keys = {"domain",   "lookup",    "null_mx",          "mx",
                                             "derived",  "match",     "dnssec_ad",        "direct_send_host",
                                             "direct_send_port"};
  const std::set<std::string> mx_keys = {"preference", "host", "addresses", "provider", "legacy", "ip_literal", "cname", "appended_zone"};
  const std::set<std::string> providers = {"m365",          "m365-dnssec",  "m365-gcc-high", "m365-21vianet",
                                           "m365-germany",  "google",       "other"};
  const std::set<std::string> matches = {"exact", "variant", "dnssec", "other", "none"};
  const auto keys_of = [](const nlohmann::json& object) {
    std::set<std::string> keys;
    for (const auto& item : object.items()) keys.insert(item.key());
    return keys;
  };
  for (const auto& label : fixture_labels()) {
    INFO(label);
    const DomainReport& report = fixture_report(label);
    const auto json = to_json(report);
    REQUIRE(json.is_object());
    CHECK(keys_of(json) == domain_keys);
    CHECK(json["domain"] == report.domain);
    CHECK(json["derived"].is_object());
    CHECK(keys_of(json["derived"]) == std::set<std::string>{"classic", "resolves"});
    CHECK(json["derived"]["classic"] == report.classic);
    REQUIRE(json["match"].is_string());
    CHECK(matches.count(json["match"].get<std::string>()) == 1);
    CHECK(json["match"] == match_text(report.match));
    CHECK(json["null_mx"].is_boolean());
    CHECK(json["dnssec_ad"].is_boolean());
    if (report.direct_send_host.empty()) {
      CHECK(json["direct_send_host"].is_null());
      CHECK(json["direct_send_port"].is_null());
    } else {
      CHECK(json["direct_send_host"] == report.direct_send_host);
      CHECK(json["direct_send_port"] == 25);
    }
    REQUIRE(json["mx"].is_array());
    REQUIRE(json["mx"].size() == report.hosts.size());
    for (std::size_t i = 0; i < report.hosts.size(); ++i) {
      const auto& mx = json["mx"][i];
      CHECK(keys_of(mx) == mx_keys);
      CHECK(mx["preference"].is_number_unsigned());
      CHECK(mx["preference"] == report.hosts[i].preference);
      CHECK(mx["host"] == report.hosts[i].host);
      REQUIRE(mx["addresses"].is_array());
      CHECK(mx["addresses"].size() == report.hosts[i].addresses.size());
      for (const auto& address : mx["addresses"]) CHECK(diag::IpAddress::parse(address.get<std::string>()));
      REQUIRE(mx["provider"].is_string());
      CHECK(providers.count(mx["provider"].get<std::string>()) == 1);
      CHECK(mx["legacy"].is_boolean());
      CHECK(mx["ip_literal"].is_boolean());
      CHECK((mx["cname"].is_null() || mx["cname"].is_string()));
    }
  }
  const auto contoso = to_json(fixture_report("contoso"));
  CHECK(contoso["mx"][0]["addresses"] == nlohmann::json::array({"192.0.2.10", "192.0.2.11"}));
  CHECK(contoso["mx"][0]["provider"] == "m365");
  CHECK(contoso["mx"][0]["preference"] == 0);
  CHECK(contoso["derived"]["resolves"] == true);
  CHECK(to_json(fixture_report("mx-cname"))["mx"][0]["cname"] == "contoso-sendcheck-test.mail.protection.outlook.com");
  CHECK(to_json(fixture_report("ip-literal"))["mx"][0]["ip_literal"] == true);
  CHECK(to_json(fixture_report("null-mx"))["null_mx"] == true);
  CHECK(to_json(fixture_report("no-mx"))["lookup"] == "nodata");
  CHECK(to_json(fixture_report("nosuch"))["lookup"] == "nxdomain");
  CHECK(to_json(fixture_report("germany"))["mx"][0]["legacy"] == true);
}

TEST_CASE("render_text: the MX set, the derived name, the direct-send host", "[mx]") {
  const DomainReport& report = fixture_report("contoso");
  const std::string plain = render_text(report, diag::TextStyle{});
  CHECK_THAT(plain, Catch::StartsWith("contoso.sendcheck.test\n"));
  CHECK_THAT(plain, Catch::Contains("MX 0 contoso-sendcheck-test.mail.protection.outlook.com  [m365]"));
  CHECK_THAT(plain, Catch::Contains("192.0.2.10, 192.0.2.11"));
  CHECK_THAT(plain, Catch::Contains("(match: exact)"));
  CHECK_THAT(plain, Catch::Contains("direct send: contoso-sendcheck-test.mail.protection.outlook.com port 25"));
  CHECK(plain.find('\x1b') == std::string::npos);

  diag::TextStyle color;
  color.color = true;
  CHECK(render_text(report, color).find('\x1b') != std::string::npos);

  CHECK_THAT(render_text(fixture_report("legacy"), diag::TextStyle{}), Catch::Contains("[m365, legacy]"));
  CHECK(render_text(fixture_report("legacy"), diag::TextStyle{}).find("direct send:") == std::string::npos);
}

TEST_CASE("make_report: every domain's checks and the domains array", "[mx]") {
  std::vector<DomainReport> results = {fixture_report("contoso"), fixture_report("legacy"), fixture_report("google")};
  std::size_t check_count = 0;
  auto domains = nlohmann::json::array();
  std::string expected_text;
  for (const auto& result : results) {
    check_count += result.checks.size();
    domains.push_back(to_json(result));
    expected_text += render_text(result, diag::TextStyle{}) + "\n";
  }
  SECTION("JSON") {
    auto copy = results;
    const diag::Report report = make_report(copy, nullptr, diag::TextStyle{});
    const auto json = report.to_json();
    CHECK(json["tool"] == "sendcheck-mx");
    CHECK(json["version"] == diag::version);
    CHECK(json["status"] == "fail");  // legacy's retired target
    CHECK(report.exit_code() == diag::exit_finding);
    CHECK(report.checks().size() == check_count);
    CHECK(json["domains"] == domains);
    CHECK(nlohmann::json::parse(report.to_json_text()) == json);
    // Checks in domain order, each naming its domain.
    CHECK(report.checks().front().fields.value("domain", "") == "contoso.sendcheck.test");
    CHECK(report.checks().back().fields.value("domain", "") == "google.sendcheck.test");
  }
  SECTION("text") {
    auto copy = results;
    std::string text;
    const diag::Report report = make_report(copy, &text, diag::TextStyle{});
    CHECK(text == expected_text);
    CHECK(report.checks().size() == check_count);
    CHECK_FALSE(report.to_json().contains("domains"));
  }
  SECTION("no domains") {
    std::vector<DomainReport> none;
    const diag::Report report = make_report(none, nullptr, diag::TextStyle{});
    CHECK(report.checks().empty());
    CHECK(report.to_json()["domains"] == nlohmann::json::array());
  }
}

// ===========================================================================
// The appended-zone mistake: an MX typed without its final dot

TEST_CASE("appended_zone: which names are the mistake, and what was meant", "[mx]") {
  const auto meant = [](std::string_view name, std::string_view zone, bool has_data = true) {
    const auto found = appended_zone(name, zone, has_data);
    return found ? found->intended + " + " + found->zone : std::string("none");
  };
  CHECK(meant("contoso-com.mail.protection.outlook.com.contoso.com", "contoso.com") ==
        "contoso-com.mail.protection.outlook.com + contoso.com");
  CHECK(meant("Contoso-com.Mail.Protection.Outlook.com.contoso.com.", "contoso.com") ==
        "contoso-com.mail.protection.outlook.com + contoso.com");
  // The DNS host appends its zone's origin, which may be a parent of the domain.
  CHECK(meant("contoso-com.mail.protection.outlook.com.contoso.com", "sales.contoso.com") ==
        "contoso-com.mail.protection.outlook.com + contoso.com");
  CHECK(meant("mail.contoso.com.contoso.com", "contoso.com") == "mail.contoso.com + contoso.com");
  CHECK(meant("mx1.mailhost.net.contoso.com", "contoso.com") == "mx1.mailhost.net + contoso.com");
  // A two-letter last label counts only when the published name has no data.
  CHECK(meant("mx.provider.fr.contoso.com", "contoso.com", true) == "none");
  CHECK(meant("mx.provider.fr.contoso.com", "contoso.com", false) == "mx.provider.fr + contoso.com");
  // The domain's own hosts are not the mistake.
  CHECK(meant("mail.contoso.com", "contoso.com") == "none");
  CHECK(meant("mx.office.contoso.com", "contoso.com") == "none");
  CHECK(meant("contoso-com.mail.protection.outlook.com", "contoso.com") == "none");
  CHECK(meant("mail.fabrikam.com", "contoso.com") == "none");
}

TEST_CASE("check_domains: the appended-zone MX is named as that mistake, with the value to type", "[mx]") {
  auto zones = fixtures::overlay();
  auto zone = diag::dns::parse_zone_text(R"(
$ORIGIN appended.test.
@               SOA ns hostmaster 1 3600 600 86400 300
typo            MX  0 typo-appended-test.mail.protection.outlook.com.typo.appended.test.
origin          MX  0 origin-appended-test.mail.protection.outlook.com.appended.test.
; a wildcard-style record for the website makes the mistaken name resolve
wild            MX  0 wild-appended-test.mail.protection.outlook.com.wild.appended.test.
wild-appended-test.mail.protection.outlook.com.wild A 192.0.2.80
gateway         MX  10 mx1.mailhost.com.gateway.appended.test.
own             MX  10 mx.office.own.appended.test.
mx.office.own   A   192.0.2.25
)",
                                         "appended.test");
  REQUIRE(zone.ok());
  zones->add(std::move(zone).value());
  diag::dns::ResolverConfig config;
  config.zones = std::move(zones);
  config.servers.push_back({*diag::IpAddress::parse("127.0.0.1"), 9});
  config.attempt_timeout = 200ms;
  config.tries = 1;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  REQUIRE(resolver.ok());
  const auto reports = check_domains(**resolver, {"typo.appended.test", "origin.appended.test", "wild.appended.test",
                                                  "gateway.appended.test", "own.appended.test"});
  REQUIRE(reports.size() == 5);
  const auto no_third_party = [](const DomainReport& report) {
    for (const auto& check : report.checks) {
      INFO(check.id << ": " << check.message);
      CHECK(check.message.find("third-party") == std::string::npos);
    }
  };
  for (std::size_t k = 0; k < 3; ++k) {
    const DomainReport& report = reports[k];
    INFO(report.domain << ": " << Catch::Detail::stringify(check_ids(report)));
    const std::string meant = report.domain.substr(0, report.domain.find('.')) + "-appended-test.mail.protection.outlook.com";
    const auto& appended = the_check(report, "mx.appended-zone");
    CHECK(appended.status == Status::fail);
    CHECK_THAT(appended.message, Catch::Contains(meant + " with "));
    CHECK_THAT(appended.message, Catch::Contains("Microsoft 365"));
    CHECK_THAT(appended.remedy, Catch::Contains("\"" + meant + ".\""));
    CHECK(appended.fields.value("intended", "") == meant);
    CHECK(the_check(report, "mx.direct-send").status == Status::fail);
    CHECK_THAT(the_check(report, "mx.direct-send").remedy, Catch::Contains(meant + " port 25"));
    CHECK(to_json(report)["mx"][0]["appended_zone"]["intended"] == meant);
    no_third_party(report);
  }
  CHECK_THAT(the_check(reports[0], "mx.appended-zone").message, Catch::Contains("with typo.appended.test appended"));
  CHECK_THAT(the_check(reports[1], "mx.appended-zone").message, Catch::Contains("with appended.test appended"));
  CHECK(the_check(reports[2], "mx.host-resolves").status == Status::pass);  // resolving does not hide the mistake

  // Another provider's host with the zone appended: named, not a third-party host.
  const DomainReport& gateway = reports[3];
  CHECK(the_check(gateway, "mx.appended-zone").fields.value("intended", "") == "mx1.mailhost.com");
  CHECK_THAT(the_check(gateway, "mx.provider").message, Catch::Contains("mx1.mailhost.com with gateway.appended.test appended"));
  no_third_party(gateway);

  // The domain's own host under a subdomain is no mistake.
  CHECK_FALSE(has_check(reports[4], "mx.appended-zone"));
  CHECK(to_json(reports[4])["mx"][0]["appended_zone"].is_null());
}
