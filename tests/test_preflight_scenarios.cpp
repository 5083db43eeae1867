// The scenario table (tests/scenarios/scenarios.json): tenants an admin
// meets, each a zone, a server profile, a command and what preflight must
// conclude. The expectations were written from Microsoft's documented
// behavior (direct send needs an Exchange Online MX, a step not tested is
// never "will work", a token endpoint's refusal is a finding), not from
// what the code prints. Every run also goes through the text form, which
// must name no internal document and leave no placeholder unfilled.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "diag/ip.h"
#include "diag/preflight.h"
#include "diag/zone.h"
#include "dns_test_server.h"
#include "fixture_zones.h"
#include "json_schema.h"
#include "preflight_test_support.h"
#include "test_environment.h"

using namespace diag;
using namespace smtp_testing;
using namespace preflight_testing;

namespace {

const std::string scenario_dir = fixtures::source_path("tests/scenarios");

nlohmann::json load_scenarios() {
  std::ifstream in(scenario_dir + "/scenarios.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// The token the OAuth scenarios' files hold ({oauth_token}) and their
// server takes: one Exchange Online could take (audience, SMTP.Send, not
// expired), so that only what a scenario is about decides its verdict.
const std::string scenario_token = test_jwt({{"aud", "https://outlook.office.com"}, {"scp", "SMTP.Send"},
                                             {"upn", "printer@relecloud.example"}, {"exp", unix_now() + 86400},
                                             {"nbf", unix_now() - 60}, {"tid", "11111111-2222-3333-4444-555555555555"}});

std::optional<smtp::ServerProfile> profile_named(const std::string& name, const std::vector<std::string>& domains) {
  if (name == "exo-mx") return smtp::exo_mx_profile(domains);
  if (name == "exo-mx-reject") return smtp::exo_mx_profile(domains, true);
  if (name == "exo-submission-139") return smtp::exo_submission_profile(smtp::BasicAuthAnswer::disabled_139);
  if (name == "exo-submission-139-policy") return smtp::exo_submission_profile(smtp::BasicAuthAnswer::blocked_by_policy_139);
  if (name == "exo-submission-30") return smtp::exo_submission_profile(smtp::BasicAuthAnswer::retired_30);
  if (name == "exo-submission-accept") return smtp::exo_submission_profile(smtp::BasicAuthAnswer::accept);
  if (name == "exo-submission-oauth") {
    auto profile = smtp::exo_submission_profile();
    profile.oauth_token = scenario_token;
    return profile;
  }
  // Exchange Online deferring the sign-in for now (4.7.500): no verdict on the token.
  if (name == "exo-submission-oauth-deferred") {
    auto profile = smtp::exo_submission_profile();
    profile.oauth_token = scenario_token;
    profile.oauth_refusal = "451 4.7.500 Server busy. Please try again later from [203.0.113.25]. (S77714)";
    return profile;
  }
  // Microsoft Entra refusing an OAuth sign-in: the device is on OAuth already.
  if (name == "exo-submission-oauth-139-credentials" || name == "exo-submission-oauth-139-security-defaults") {
    auto profile = smtp::exo_submission_profile();
    profile.oauth_token = scenario_token;
    profile.oauth_refusal = name.ends_with("credentials")
                                ? "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."
                                : "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. "
                                  "Contact your administrator.";
    return profile;
  }
  if (name == "exo-submission-oauth-send-as") {
    // The mailbox may send as noreply@contoso.example (Send As granted).
    auto profile = smtp::exo_submission_profile();
    profile.oauth_token = scenario_token;
    profile.send_as = {"noreply@contoso.example"};
    return profile;
  }
  if (name == "exo-submission-legacy-tls") {
    // smtp.office365.com: a TLS 1.0/1.1 client gets 421 4.7.66 after the handshake.
    auto profile = smtp::exo_submission_profile();
    profile.require_tls_1_2 = true;
    profile.tls_versions.min = tls::Version::tls1_0;
    return profile;
  }
  if (name == "accept-all") return smtp::accept_all_profile();
  if (name == "hve-stand-in") {
    // A server in HVE's place that takes the HVE account's password. HVE's
    // greeting is not documented: a stand-in counts as HVE only when it
    // greets with a name under HVE's endpoint, never as the SMTP AUTH front end.
    auto profile = smtp::exo_submission_profile(smtp::BasicAuthAnswer::accept);
    profile.host_name = "smtp.hve.mx.microsoft";
    return profile;
  }
  if (name == "hve-stand-in-any-from") {
    // The same, taking any MAIL FROM: whether HVE checks the sender at MAIL
    // FROM, after DATA or not at all is not documented.
    auto profile = smtp::exo_submission_profile(smtp::BasicAuthAnswer::accept);
    profile.host_name = "smtp.hve.mx.microsoft";
    profile.enforce_send_as = false;
    return profile;
  }
  if (name == "acs-stand-in") {
    // A server in ACS's place (any user name and secret taken). ACS's
    // greeting is not documented; a stand-in must greet with a Microsoft
    // host name, or preflight says it tested another server.
    auto profile = smtp::accept_all_profile();
    profile.host_name = "smtp.azurecomm.net";
    return profile;
  }
  return std::nullopt;
}

std::string expand(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values)
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size())) text.replace(at, key.size(), value);
  return text;
}

}  // namespace

TEST_CASE("scenarios: every class of tenant and method gets the verdict, exit code and advice the reference calls for", "[preflight][scenarios]") {
  const auto table = load_scenarios();
  const auto& scenarios = table["scenarios"];
  REQUIRE(scenarios.size() >= 30);
  const std::uint16_t dead_dns = free_port();
  for (const auto& scenario : scenarios) {
    const std::string name = scenario["name"];
    DYNAMIC_SECTION(testing_support::section_title(name)) {
      TempDir dir;
      std::map<std::string, std::string> values{{"{dir}", dir.path()}, {"{oauth_token}", scenario_token}};
      const nlohmann::json files = scenario.value("files", nlohmann::json::object());
      for (const auto& [file, content] : files.items()) dir.file(file, expand(content.get<std::string>(), values) + "\n");
      std::unique_ptr<HttpServer> token;
      if (scenario.contains("token")) {
        token = std::make_unique<HttpServer>(scenario["token"]["status"].get<int>(), scenario["token"]["body"].get<std::string>());
        values["{token_url}"] = token->url("/contoso.example/oauth2/v2.0/token");
      }
      // "egress": the addresses this machine is seen from, as the OpenDNS
      // and Google probes of --egress answer them; the scenario runs on the
      // device's own network (--egress --egress-dns), so the session is the
      // device's.
      std::unique_ptr<sendcheck::testing::DnsTestServer> egress_dns;
      if (scenario.contains("egress")) {
        egress_dns = serve_egress(scenario["egress"].get<std::vector<std::string>>());
        values["{egress_dns}"] = egress_dns->endpoint_v4();
      }
      const std::string server = scenario["server"];
      std::unique_ptr<Mx> mx;
      std::vector<std::string> argv = {preflight_tool};
      for (const auto& arg : scenario["args"]) argv.push_back(expand(arg.get<std::string>(), values));
      if (!scenario["zone"].get<std::string>().empty()) argv.insert(argv.end(), {"--zone", scenario_dir + "/" + scenario["zone"].get<std::string>()});
      // Every name outside the zones goes to a port where nothing answers:
      // a scenario never reaches the internet.
      argv.insert(argv.end(), {"--zone", lists, "--dns", "127.0.0.1:" + std::to_string(dead_dns), "--timeout", "2"});
      if (server == "closed") {
        argv.insert(argv.end(), {"--smtp-host", "127.0.0.1", "--smtp-port", std::to_string(free_port())});
      } else if (server != "none") {
        auto profile = profile_named(server, scenario.value("domains", std::vector<std::string>{}));
        REQUIRE(profile);
        mx = serve(*profile);
        argv.insert(argv.end(), {"--smtp-host", "127.0.0.1", "--smtp-port", std::to_string(mx->server->port())});
        // "no_ca": the server's certificate as a device without our test CA sees it.
        if (!scenario.value("no_ca", false)) argv.insert(argv.end(), {"--ca", mx->ca_file});
      }

      auto json_argv = argv;
      json_argv.push_back("--json");
      const auto run = run_program(json_argv, 30s);
      INFO("command: " << [&] { std::string s; for (const auto& a : json_argv) s += a + " "; return s; }());
      INFO("stdout: " << run.out << "\nstderr: " << run.err);
      CHECK(run.exit_code == scenario["exit"].get<int>());
      std::string everything = run.err;
      if (scenario["exit"] == 2) {
        // --json: the error is also the one JSON document on stdout.
        const auto document = nlohmann::json::parse(run.out);
        CHECK(document["status"] == "error");
        CHECK(run.err.find(document["error"].get<std::string>()) != std::string::npos);
        CHECK(run.err.starts_with("sendcheck-preflight: error: "));
      } else {
        const auto document = nlohmann::json::parse(run.out);
        everything += document.dump();
        // Every scenario's document keeps the published contract (an IPv6
        // device's reverse.ptr row once broke it).
        json_schema::check_valid("sendcheck-preflight", run.out);
        CHECK(document["verdict"]["verdict"] == scenario["verdict"]);
        CHECK(document["verdict"]["exit_code"] == scenario["exit"]);
        if (scenario.contains("decides")) {
          const auto& list = scenario["verdict"] == "will-not-work" ? document["verdict"]["causes"] : document["verdict"]["untested"];
          bool found = false;
          for (const auto& step : list) found = found || step["id"] == scenario["decides"];
          CHECK(found);
        }
        // WILL WORK only when every step was tested and passed.
        if (scenario["verdict"] == "will-work") {
          CHECK(document["verdict"]["untested"].empty());
          for (const auto& step : document["verdict"]["steps"]) CHECK(step["state"] == "passed");
        }
        for (const auto& step : document["next_steps"]) {
          CHECK(step.contains("id"));
          CHECK(step.contains("section"));
          CHECK_FALSE(step["remedy"].get<std::string>().empty());
        }
      }
      for (const auto& text : scenario.value("advice", std::vector<std::string>{})) {
        INFO("advice: " << text);
        CHECK(everything.find(text) != std::string::npos);
      }

      // The text form: the verdict line first, no internal references, no unfilled placeholder.
      auto text_argv = argv;
      text_argv.push_back("--no-color");
      const auto text = run_program(text_argv, 30s);
      CHECK(text.exit_code == scenario["exit"].get<int>());
      const std::string shown = text.out + text.err;
      for (const char* internal : {"m365-facts", "[3P]", "[MS]", "m365.", "dnsbl-facts", "index id"}) {
        INFO("internal reference: " << internal);
        CHECK(shown.find(internal) == std::string::npos);
      }
      // A check id as a cross-reference ("see spf.lookups"): output names commands, not ids.
      CHECK_FALSE(std::regex_search(shown, std::regex(R"(\(see [a-z0-9]+\.[a-z0-9.-]+\))")));
      CHECK(shown.find("<IP>") == std::string::npos);
      CHECK(shown.find("<device IP>") == std::string::npos);
      // Each section once under "Needs attention", its rows together.
      if (const auto attention = text.out.find("\nNeeds attention\n"); attention != std::string::npos) {
        std::set<std::string> titles;
        std::istringstream rows(text.out.substr(attention + 17, text.out.find("\n\n", attention + 17) - attention - 17));
        for (std::string row; std::getline(rows, row);)
          if (row.starts_with("  ") && !row.starts_with("   ")) {
            INFO("section shown twice: " << row);
            CHECK(titles.insert(row).second);
          }
      }
      if (scenario["exit"] != 2) {
        const std::string label = scenario["verdict"] == "will-work" ? "WILL WORK" : scenario["verdict"] == "will-not-work" ? "WILL NOT WORK" : "NOT VERIFIED";
        // --method auto: the recommendation comes first, the verdict after a blank line.
        const std::size_t verdict_at = text.out.starts_with("RECOMMENDED") ? text.out.find("\n\n") + 2 : 0;
        CHECK(text.out.compare(verdict_at, label.size() + 2, label + "  ") == 0);
        CHECK(text.out.substr(verdict_at, text.out.find('\n', verdict_at) - verdict_at).size() <= 200);
      }
      for (const auto& absent : scenario.value("absent", std::vector<std::string>{})) {
        const std::string secret = expand(absent, values);
        CHECK(everything.find(secret) == std::string::npos);
        CHECK(shown.find(secret) == std::string::npos);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The pieces the verdict is made of, unit by unit.

TEST_CASE("preflight: an EHLO reply naming another public address than the device's leaves the session not verified", "[preflight]") {
  // Exchange Online's EHLO reply names the address it sees; --egress found
  // the device's, but port 25 leaves from another (a second NAT address).
  const auto egress = serve_egress({"203.0.113.25"});
  smtp::ServerConfig config;
  config.profile = smtp::exo_mx_profile({"contoso.example"});
  config.ehlo_seen_address = "198.51.100.99";
  auto mx = serve(std::move(config));
  const auto run = run_program({preflight_tool, "contoso.example", "--ip", "203.0.113.25", "--egress", "--egress-dns", egress->endpoint_v4(),
                                "--from", "scanner@contoso.example", "--to", "frontdesk@contoso.example", "--zone",
                                scenario_dir + "/zones/tenants.zone", "--zone", lists, "--dns", "127.0.0.1:" + std::to_string(free_port()),
                                "--timeout", "2", "--smtp-host", "127.0.0.1", "--smtp-port", std::to_string(mx->server->port()), "--ca",
                                mx->ca_file, "--json"},
                               30s);
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 3);
  bool source = false;
  for (const auto& step : document["verdict"]["untested"]) source = source || step["id"] == "source";
  CHECK(source);
  REQUIRE(find_check(document, "smtp.seen-address"));
  CHECK_THAT((*find_check(document, "smtp.seen-address"))["remedy"].get<std::string>(), Catch::Contains("--ip 198.51.100.99"));
}

TEST_CASE("verdict: a failed step decides, then an untested one, and nothing tested is never WILL WORK", "[preflight]") {
  using preflight::Step;
  using preflight::StepState;
  const Step passed{"smtp", StepState::passed, "session", ""};
  const Step failed{"mx", StepState::failed, "the MX is Proofpoint", ""};
  const Step untested{"auth", StepState::untested, "AUTH not tested", "--oauth-token-file FILE"};
  auto will_work = preflight::decide("Direct send", {passed});
  CHECK(will_work.kind == preflight::VerdictKind::will_work);
  CHECK(will_work.exit_code() == 0);
  auto not_verified = preflight::decide("SMTP AUTH submission", {passed, untested});
  CHECK(not_verified.kind == preflight::VerdictKind::not_verified);
  CHECK(not_verified.exit_code() == 3);
  CHECK(not_verified.untested.size() == 1);
  CHECK_THAT(not_verified.summary, Catch::Contains("AUTH not tested"));
  // A definite finding outranks an untested step: 1 beats 3.
  auto will_not = preflight::decide("Direct send", {untested, failed, passed});
  CHECK(will_not.kind == preflight::VerdictKind::will_not_work);
  CHECK(will_not.exit_code() == 1);
  CHECK(will_not.summary == "Direct send will not work: the MX is Proofpoint");
  CHECK(preflight::decide("Direct send", {}).kind == preflight::VerdictKind::not_verified);
}

TEST_CASE("verdict: every FAIL row reaches the verdict, and a finding outranks an untested step", "[preflight]") {
  using preflight::Section;
  using preflight::Step;
  using preflight::StepState;
  const Step smtp_passed{"smtp", StepState::passed, "STARTTLS with TLSv1.3", ""};
  const Step auth_untested{"auth", StepState::untested, "AUTH not tested: no credentials given", "--oauth-token-file FILE"};
  // A submission run whose session passed but whose certificate a device refuses.
  std::vector<Section> sections{{"smtp", "SMTP", {Check{"tls.chain-trusted", Status::fail, "the certificate chain is not trusted", "Install ...", {}}}},
                                {"health", "Domain health", {Check{"spf.domain.lookups", Status::warn, "11 lookups", "Flatten", {}}}}};
  auto steps = preflight::with_failed_rows({smtp_passed}, sections);
  REQUIRE(steps.size() == 2);
  CHECK(steps.back().id == "tls.chain-trusted");
  auto verdict = preflight::decide("SMTP AUTH submission", steps);
  CHECK(verdict.kind == preflight::VerdictKind::will_not_work);
  CHECK(verdict.exit_code() == 1);
  // 1 beats 3: the FAIL row outranks AUTH not tested.
  verdict = preflight::decide("SMTP AUTH submission", preflight::with_failed_rows({smtp_passed, auth_untested}, sections));
  CHECK(verdict.exit_code() == 1);
  CHECK_THAT(verdict.summary, Catch::Contains("not trusted"));
  // A section whose failure a failed step already speaks for adds nothing.
  const Step envelope_failed{"envelope", StepState::failed, "Reject Direct Send is on (550 5.7.68)", ""};
  sections[0].checks.push_back(Check{"smtp.reject-direct-send", Status::fail, "550 5.7.68", "connector", {}});
  CHECK(preflight::with_failed_rows({smtp_passed, envelope_failed}, sections).size() == 2);
  // Warnings, domain health and skipped rows never fail the verdict.
  std::vector<Section> warnings{{"smtp", "SMTP", {Check{"tls.expiry", Status::warn, "expires in 20 days", "", {}}}}};
  CHECK(preflight::decide("Direct send", preflight::with_failed_rows({smtp_passed}, warnings)).kind == preflight::VerdictKind::will_work);
}

TEST_CASE("gateways: the vendors' MX names, Google from the MX table, Exchange Online is none", "[preflight]") {
  CHECK(preflight::classify_gateway("mx0a-00123401.pphosted.com")->name == "Proofpoint");
  CHECK(preflight::classify_gateway("MX1-US1.PPE-HOSTED.COM.")->name == "Proofpoint Essentials");
  CHECK(preflight::classify_gateway("eu-smtp-inbound-1.mimecast.com")->name == "Mimecast");
  CHECK(preflight::classify_gateway("d123.ess.barracudanetworks.com")->name == "Barracuda Email Gateway Defense");
  CHECK(preflight::classify_gateway("mx1.contoso.iphmx.com")->name == "Cisco Secure Email");
  CHECK(preflight::classify_gateway("mx-01-eu-west-1.prod.hydra.sophos.com")->name == "Sophos Email");
  CHECK(preflight::classify_gateway("mx01.hornetsecurity.com")->name == "Hornetsecurity");
  CHECK(preflight::classify_gateway("cluster1.eu.messagelabs.com")->name == "Broadcom Email Security.cloud (Symantec)");
  CHECK(preflight::classify_gateway("aspmx.l.google.com")->name == "Google Workspace");
  CHECK_FALSE(preflight::classify_gateway("contoso-com.mail.protection.outlook.com"));
  CHECK_FALSE(preflight::classify_gateway("contoso-com.o-v1.mx.microsoft"));
  CHECK_FALSE(preflight::classify_gateway("notpphosted.com"));  // a label boundary, not a suffix
  for (const char* host : {"a.pphosted.com", "a.mimecast.com", "a.iphmx.com"})
    CHECK(preflight::classify_gateway(host)->source.starts_with("https://"));
}

TEST_CASE("address scope: private, CGNAT, loopback, link-local and ULA are not public, documentation ranges are their own", "[preflight]") {
  auto scope = [](const char* text) { return address_scope(*IpAddress::parse(text)); };
  CHECK(scope("10.1.2.3") == AddressScope::private_use);
  CHECK(scope("172.31.255.1") == AddressScope::private_use);
  CHECK(scope("172.32.0.1") == AddressScope::public_internet);
  CHECK(scope("100.64.0.1") == AddressScope::shared_cgnat);
  CHECK(scope("100.128.0.1") == AddressScope::public_internet);
  CHECK(scope("127.0.0.1") == AddressScope::loopback);
  CHECK(scope("169.254.10.1") == AddressScope::link_local);
  CHECK(scope("fe80::1") == AddressScope::link_local);
  CHECK(scope("fd00::1") == AddressScope::unique_local);
  CHECK(scope("::ffff:192.168.1.1") == AddressScope::private_use);
  CHECK(scope("203.0.113.7") == AddressScope::documentation);
  CHECK(scope("2001:db8::1") == AddressScope::documentation);
  CHECK(scope("40.107.1.1") == AddressScope::public_internet);
  // Special-purpose (RFC 6890), NAT64 (RFC 6052, 8215) and 6to4 of a
  // private address: Microsoft 365 never sees such a sender either.
  CHECK(scope("198.18.0.5") == AddressScope::special_purpose);
  CHECK(scope("198.19.255.1") == AddressScope::special_purpose);
  CHECK(scope("198.20.0.1") == AddressScope::public_internet);
  CHECK(scope("192.0.0.8") == AddressScope::special_purpose);
  CHECK(scope("64:ff9b::c0a8:114") == AddressScope::translated);
  CHECK(scope("64:ff9b:1::1") == AddressScope::translated);
  CHECK(scope("2002:c0a8:114::1") == AddressScope::private_use);
  CHECK(scope("2002:2a6b:1::1") == AddressScope::public_internet);  // 6to4 of 42.107.0.1
  for (const char* text : {"198.18.0.5", "192.0.0.8", "64:ff9b::c0a8:114", "2002:c0a8:114::1", "100::1"})
    CHECK(is_non_public(scope(text)));
  CHECK(is_non_public(AddressScope::private_use));
  CHECK_FALSE(is_non_public(AddressScope::documentation));
  CHECK_FALSE(is_non_public(AddressScope::public_internet));
}

TEST_CASE("text wraps at the width with a hanging indent, and not at all without a terminal", "[preflight]") {
  const std::string text = "    FAIL  The MX of contoso.example is mx1.pphosted.com, a Proofpoint gateway in front of the mailboxes";
  CHECK(preflight::wrap(text, 0, 10) == text);
  const std::string wrapped = preflight::wrap(text, 40, 10);
  INFO(wrapped);
  std::size_t start = 0;
  bool first = true;
  while (start < wrapped.size()) {
    std::size_t end = wrapped.find('\n', start);
    if (end == std::string::npos) end = wrapped.size();
    const std::string line = wrapped.substr(start, end - start);
    CHECK(line.size() <= 40);
    if (!first) CHECK(line.starts_with(std::string(10, ' ')));
    first = false;
    start = end + 1;
  }
  // Nothing is lost: the words are the same.
  auto words = [](const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
  };
  CHECK(words(wrapped) == words(text));
  // The two spaces after a label stay two.
  CHECK(preflight::wrap("WILL WORK  Direct send", 80, 11) == "WILL WORK  Direct send");
  CHECK(preflight::wrap(text, 40, 10).starts_with("    FAIL  The MX"));
}
