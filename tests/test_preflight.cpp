// sendcheck-preflight as an admin runs it, against local servers only: the
// zone overlay for DNS (fixtures/preflight, fixtures/demo) and our SMTP
// server in its Exchange Online profiles. Failing cases keep "will not work"
// (exit 1) apart from "could not complete" (exit 3). Then the demo.
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

#include "diag/ascii.h"
#include "diag/oauth.h"
#include "diag/preflight.h"
#include "fixture_zones.h"
#include "preflight_test_support.h"

using namespace diag;
using namespace smtp_testing;
using namespace preflight_testing;

namespace {

const std::string demo_tool = bin_dir + "/sendcheck-demo";
const std::string demo_zone = fixtures::source_path("fixtures/demo/demo.zone");

std::vector<std::string> direct_send(const Mx& mx, const std::string& domain, const std::string& ip, std::vector<std::string> to = {}) {
  std::vector<std::string> argv = {preflight_tool, domain,         "--zone", zone,           "--zone", lists, "--ip", ip,
                                   "--from",       "scanner@" + domain, "--smtp-host", "127.0.0.1", "--smtp-port",
                                   std::to_string(mx.server->port()), "--ca", mx.ca_file, "--json", "--timeout", "2",
                                   "--reject-direct-send", "off", "--recipient-kind", "mailbox"};
  if (to.empty()) to = {"frontdesk@" + domain};
  for (const auto& address : to) argv.insert(argv.end(), {"--to", address});
  return argv;
}


}  // namespace

// ---------------------------------------------------------------------------
// DMARC, unit by unit

TEST_CASE("DMARC record parsing takes p=, sp= and pct=", "[preflight]") {
  auto record = preflight::parse_dmarc("v=DMARC1; p=Quarantine; sp=reject; pct=50; rua=mailto:x@example.com");
  REQUIRE(record);
  CHECK(record->policy == "quarantine");
  CHECK(record->subdomain_policy == "reject");
  CHECK(record->pct == 50);
  CHECK_FALSE(preflight::parse_dmarc("v=spf1 -all"));
  CHECK_FALSE(preflight::parse_dmarc("v=DMARC10; p=reject"));
  CHECK(preflight::parse_dmarc("v=DMARC1")->policy.empty());
}

TEST_CASE("DMARC check: quarantine fails a device without SPF, a timeout is never an absence", "[preflight]") {
  dns::Answer answer;
  answer.name = "_dmarc.contoso.example";
  answer.type = dns::RrType::TXT;
  answer.outcome = dns::Outcome::records;
  answer.records.push_back(dns::Record{"_dmarc.contoso.example", dns::RrType::TXT, 300, dns::TxtData{{"v=DMARC1; p=quarantine"}}});
  CHECK(preflight::dmarc_check("contoso.example", answer, false).status == Status::fail);
  CHECK(preflight::dmarc_check("contoso.example", answer, true).status == Status::pass);
  answer.records.push_back(answer.records.front());
  // Two records: receivers apply neither (RFC 7489 6.6.3), a finding that stops nothing.
  CHECK(preflight::dmarc_check("contoso.example", answer, true).status == Status::warn);
  CHECK(preflight::dmarc_check("contoso.example", answer, false).status == Status::warn);

  dns::Answer timeout;
  timeout.outcome = dns::Outcome::timeout;
  const Check check = preflight::dmarc_check("contoso.example", timeout, true);
  CHECK(check.status == Status::error);
  CHECK_FALSE(check.remedy.empty());

  dns::Answer none;
  none.outcome = dns::Outcome::nxdomain;
  CHECK(preflight::dmarc_check("contoso.example", none, false).status == Status::warn);
}

TEST_CASE("DMARC check: pct= and an invalid p= change what receivers do", "[preflight]") {
  const auto check_of = [](const char* record, bool spf_passes) {
    dns::Answer answer;
    answer.name = "_dmarc.contoso.example";
    answer.type = dns::RrType::TXT;
    answer.outcome = dns::Outcome::records;
    answer.records.push_back(dns::Record{"_dmarc.contoso.example", dns::RrType::TXT, 300, dns::TxtData{{record}}});
    return preflight::dmarc_check("contoso.example", answer, spf_passes);
  };
  // RFC 7489 6.6.4: messages pct= leaves out get the next weaker policy.
  const Check reject_none_sampled = check_of("v=DMARC1; p=reject; pct=0", false);
  CHECK(reject_none_sampled.status == Status::fail);
  CHECK_THAT(reject_none_sampled.message, Catch::Contains("quarantined") && !Catch::Contains("has its mail rejected"));
  CHECK(reject_none_sampled.fields["pct"] == 0);
  const Check quarantine_none_sampled = check_of("v=DMARC1; p=quarantine; pct=0", false);
  CHECK(quarantine_none_sampled.status == Status::warn);
  CHECK_THAT(quarantine_none_sampled.message, Catch::Contains("apply no policy"));
  CHECK_THAT(check_of("v=DMARC1; p=reject; pct=30", false).message, Catch::Contains("rejected for 30% of messages"));
  // RFC 7489 6.6.3: an invalid p= protects nothing; the fix names the typo.
  REQUIRE(preflight::parse_dmarc("v=DMARC1; p=rejct"));
  CHECK(preflight::parse_dmarc("v=DMARC1; p=rejct")->invalid_policy == "p=rejct");
  CHECK(preflight::parse_dmarc("v=DMARC1; p=quarantine; sp=rejct")->invalid_policy == "sp=rejct");
  CHECK_THAT(check_of("v=DMARC1; p=quarantine; sp=rejct", false).message, Catch::Contains("invalid policy sp=rejct"));
  const Check typo = check_of("v=DMARC1; p=rejct", false);
  CHECK(typo.status == Status::warn);
  CHECK_THAT(typo.message, Catch::Contains("invalid policy p=rejct"));
  CHECK_THAT(typo.remedy, Catch::StartsWith("First make the mail pass SPF or DKIM") && Catch::Contains("probably reject"));
}

TEST_CASE("DMARC for a subdomain without its own record: the organizational domain's policy applies, never a weaker suggestion", "[preflight]") {
  CHECK(preflight::dmarc_policy_domains("scan.northwind-traders.com") ==
        std::vector<std::string>{"scan.northwind-traders.com", "northwind-traders.com"});
  CHECK(preflight::dmarc_policy_domains("example.com") == std::vector<std::string>{"example.com"});
  // DMARCbis's walk starts at most 7 labels long.
  CHECK(preflight::dmarc_policy_domains("a.b.c.d.e.f.g.h.example.com").at(1) == "d.e.f.g.h.example.com");
  CHECK(preflight::dmarc_policy_domains("a.b.c.d.e.f.g.h.example.com").back() == "example.com");

  auto txt = [](const std::string& name, const std::string& text) {
    dns::Answer answer;
    answer.name = "_dmarc." + name;
    answer.type = dns::RrType::TXT;
    answer.outcome = dns::Outcome::records;
    answer.records.push_back(dns::Record{answer.name, dns::RrType::TXT, 300, dns::TxtData{{text}}});
    return answer;
  };
  dns::Answer none;
  none.outcome = dns::Outcome::nxdomain;
  std::vector<preflight::DmarcLookup> lookups{{"scan.northwind-traders.com", none},
                                              {"northwind-traders.com", txt("northwind-traders.com", "v=DMARC1; p=reject")}};
  Check check = preflight::dmarc_check("scan.northwind-traders.com", lookups, false);
  CHECK(check.status == Status::fail);
  CHECK(check.fields["policy"] == "reject");  // no sp=: p applies to subdomains
  CHECK(check.fields["policy_domain"] == "northwind-traders.com");
  CHECK_THAT(check.message, Catch::Contains("RFC 7489 6.6.3"));
  CHECK_THAT(check.remedy, Catch::Contains("Do not publish a weaker DMARC record"));
  CHECK(check.remedy.find("p=none") == std::string::npos);
  CHECK(preflight::dmarc_check("scan.northwind-traders.com", lookups, true).status == Status::pass);
  // sp= wins over p= for a subdomain.
  lookups[1].answer = txt("northwind-traders.com", "v=DMARC1; p=reject; sp=none");
  check = preflight::dmarc_check("scan.northwind-traders.com", lookups, false);
  CHECK(check.status == Status::warn);
  CHECK(check.fields["policy"] == "none");
  // The parent's lookup failed: not an absence.
  lookups[1].answer = dns::Answer{};
  lookups[1].answer.outcome = dns::Outcome::timeout;
  CHECK(preflight::dmarc_check("scan.northwind-traders.com", lookups, false).status == Status::error);
  // The subdomain's own record decides over the parent's.
  lookups[0].answer = txt("scan.northwind-traders.com", "v=DMARC1; p=quarantine");
  check = preflight::dmarc_check("scan.northwind-traders.com", lookups, false);
  CHECK(check.fields["policy"] == "quarantine");
  CHECK_FALSE(check.fields.contains("policy_domain"));
}

TEST_CASE("sovereign clouds: a GCC High MX moves SMTP AUTH, the token host and scope to office365.us, and says what is unconfirmed", "[preflight]") {
  CHECK(preflight::sovereign_cloud_of("tailwindgov.mail.protection.office365.us") == preflight::SovereignCloud::us_government);
  CHECK(preflight::sovereign_cloud_of("contoso-com.mail.protection.partner.outlook.cn") == preflight::SovereignCloud::china_21vianet);
  CHECK_FALSE(preflight::sovereign_cloud_of("contoso-com.mail.protection.outlook.com"));
  preflight::ToolOptions options;
  options.domain = "tailwind-gov.us";
  options.method = "smtp-auth";
  options.user = "scanner@tailwind-gov.us";
  options.client_id = "11111111-2222-3333-4444-555555555555";
  options.client_secret_file = "/nonexistent/secret";
  options.tenant = "tailwind-gov.us";
  auto plan = preflight::make_plan(options);
  REQUIRE(plan);
  CHECK(plan->endpoint.host == "smtp.office365.com");
  preflight::apply_sovereign_cloud(*plan, preflight::SovereignCloud::us_government, "tailwindgov.mail.protection.office365.us");
  CHECK(plan->endpoint.host == "smtp.office365.us");
  CHECK(plan->token_endpoint == "https://login.microsoftonline.us/tailwind-gov.us/oauth2/v2.0/token");
  CHECK(plan->oauth_scope == "https://outlook.office365.us/.default");
  REQUIRE(plan->cloud_checks.size() == 1);
  CHECK_THAT(plan->cloud_checks[0].message, Catch::Contains("not confirmed"));
  CHECK_THAT(plan->cloud_checks[0].remedy, Catch::Contains("DoD"));
  // HVE there: not confirmed, so never WILL WORK.
  options.method = "hve";
  options.client_id.clear();
  options.client_secret_file.clear();
  options.tenant.clear();
  auto hve = preflight::make_plan(options);
  REQUIRE(hve);
  preflight::apply_sovereign_cloud(*hve, preflight::SovereignCloud::us_government, "tailwindgov.mail.protection.office365.us");
  REQUIRE(hve->cloud_steps.size() == 1);
  CHECK(hve->cloud_steps[0].state == preflight::StepState::untested);
  // --smtp-host is tested in the cloud host's place: the device is still
  // configured with the cloud's host, its token is the cloud's, and the
  // unconfirmed host stays untested.
  options.method = "smtp-auth";
  options.smtp_host = "smtp.example.net";
  auto given = preflight::make_plan(options);
  REQUIRE(given);
  preflight::apply_sovereign_cloud(*given, preflight::SovereignCloud::us_government, "tailwindgov.mail.protection.office365.us");
  CHECK(given->endpoint.host == "smtp.example.net");
  CHECK(given->cloud_endpoint_host == "smtp.office365.us");
  CHECK(given->oauth_scope == "https://outlook.office365.us/.default");
  REQUIRE(given->cloud_checks.size() == 1);
  CHECK_THAT(given->cloud_checks[0].message, Catch::Contains("this run tests --smtp-host smtp.example.net"));
  REQUIRE(given->cloud_steps.size() == 1);
  CHECK(given->cloud_steps[0].id == "cloud");
}

TEST_CASE("Recipients in the accepted domains are internal, subdomains only when accepted too", "[preflight]") {
  const std::vector<std::string> accepted = {"contoso.example"};
  CHECK(preflight::is_internal("a@contoso.example", accepted));
  CHECK(preflight::is_internal("a@Contoso.Example", accepted));
  CHECK_FALSE(preflight::is_internal("a@Sales.Contoso.example", accepted));
  CHECK(preflight::is_internal("a@sales.contoso.example", {"contoso.example", "sales.contoso.example"}));
  CHECK_FALSE(preflight::is_internal("a@fabrikam.example", accepted));
  CHECK_FALSE(preflight::is_internal("a@notcontoso.example", accepted));
}

// ---------------------------------------------------------------------------
// direct-send against the exo-mx profile

TEST_CASE("direct-send from --ip: MX, SPF, DMARC, IP and envelope pass, but only from this machine (exit 3)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25"));
  const auto document = parse(run);
  INFO(document.dump(1));
  // Every step passed, but the session was this machine's: port 25 on the
  // device's network and the MX's answer to its address stay untested.
  CHECK(run.exit_code == 3);
  CHECK(document["tool"] == "sendcheck-preflight");
  CHECK(document["verdict"]["verdict"] == "not-verified");
  CHECK(document["verdict"]["summary"].get<std::string>().starts_with("Direct send from 203.0.113.25 is not verified: tested from this machine"));
  REQUIRE(document["verdict"]["untested"].size() == 1);
  CHECK(document["verdict"]["untested"][0]["id"] == "source");
  CHECK(document["verdict"]["causes"].empty());
  CHECK(status_of(document, "spf.result") == "pass");
  CHECK_FALSE(document.contains("configuration"));  // only under WILL WORK
  CHECK(status_of(document, "dmarc.policy") == "pass");
  CHECK(status_of(document, "smtp.rcpt") == "pass");
  CHECK(document["spf_record"].is_null());
  // The parts' own JSON under the one envelope.
  CHECK(document["mx"]["domains"][0]["domain"] == "contoso.example");
  CHECK(document["spf"]["results"][0]["result"] == "pass");
  CHECK(document["blocklist"]["ips"][0]["ip"] == "203.0.113.25");
  CHECK(document["smtp"]["target"]["envelope"].size() >= 2);
  CHECK(document["dmarc"]["policy"] == "reject");
}

TEST_CASE("direct-send with the IP missing from SPF: fail with the record to publish, DMARC consequence (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"fourthcoffee.example"}));
  const auto run = run_program(direct_send(*mx, "fourthcoffee.example", "203.0.113.40"));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(document["verdict"]["verdict"] == "will-not-work");
  CHECK(document["verdict"]["summary"].get<std::string>().find("will not work: SPF fail for 203.0.113.40") != std::string::npos);
  CHECK(status_of(document, "spf.result") == "fail");
  CHECK(document["spf_record"] == "v=spf1 ip4:203.0.113.40 include:spf.protection.outlook.com -all");
  CHECK(status_of(document, "dmarc.policy") == "warn");  // no DMARC record
  CHECK(status_of(document, "smtp.rcpt") == "pass");
  bool step_has_record = false;
  for (const auto& step : document["next_steps"])
    step_has_record = step_has_record || (step["section"] == "spf" && step["remedy"].get<std::string>().find("v=spf1 ip4:203.0.113.40") != std::string::npos);
  CHECK(step_has_record);
}

TEST_CASE("direct-send with --ip: Reject Direct Send (5.7.68) from here explained, not the device's verdict (exit 3)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}, true));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25"));
  const auto document = parse(run);
  INFO(document.dump(1));
  // The session came from this machine, not from 203.0.113.25: a partner
  // connector for the device's address cannot match it here.
  CHECK(run.exit_code == 3);
  // The RCPT row is the finding's evidence: one row needs attention.
  CHECK(status_of(document, "smtp.rcpt") == "info");
  CHECK(find_check(document, "smtp.rcpt")->value("remedy", std::string()).empty());
  REQUIRE(find_check(document, "smtp.reject-direct-send"));
  const auto& check = *find_check(document, "smtp.reject-direct-send");
  CHECK(check["status"] == "warn");
  CHECK_THAT(check["message"].get<std::string>(), Catch::Contains("came from this machine, not from the device's 203.0.113.25"));
  CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("with --egress added on a computer in the device's network (the session then comes from 203.0.113.25)"));
  CHECK(check["remedy"].get<std::string>().find("partner inbound connector") != std::string::npos);
  CHECK(check["remedy"].get<std::string>().find("203.0.113.25") != std::string::npos);
}

TEST_CASE("direct-send to an external recipient is flagged, and the MX answers 5.7.64 (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25", {"frontdesk@contoso.example", "partner@fabrikam.example"}));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(status_of(document, "input.external-recipients") == "fail");
  CHECK(document["external_recipients"] == nlohmann::json::array({"partner@fabrikam.example"}));
  CHECK(status_of(document, "smtp.rcpt") == "pass");
  // The refusal is the external-recipients finding seen: evidence, not a second fix.
  CHECK((*find_rcpt_check(document, "partner@fabrikam.example"))["status"] == "info");
  CHECK(status_of(document, "smtp.relay-denied") == "info");
  CHECK(document["verdict"]["verdict"] == "will-not-work");
}

TEST_CASE("preflight: direct send refused for an external recipient is the input finding seen, not a second finding with another fix", "[preflight]") {
  // Exchange Server's words for the same refusal (5.7.54), and Exchange
  // Online's (5.7.64, its own finding): either way one row needs attention.
  for (const std::string& refusal : {std::string("550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"), std::string()}) {
    INFO(refusal);
    smtp::ServerConfig config;
    config.profile = smtp::exo_mx_profile({"contoso.example"});
    if (!refusal.empty())
      config.profile.override_reply = [refusal](std::string_view command) -> std::optional<std::string> {
        if (diag::ascii::to_lower(command).find("fabrikam.example") != std::string::npos) return refusal;
        return std::nullopt;
      };
    auto mx = serve(std::move(config));
    const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25", {"frontdesk@contoso.example", "partner@fabrikam.example"}));
    const auto document = parse(run);
    INFO(document.dump(1));
    CHECK(run.exit_code == 1);
    REQUIRE(find_check(document, "input.external-recipients"));
    CHECK((*find_check(document, "input.external-recipients"))["status"] == "fail");
    std::size_t refusals = 0;
    for (const auto& check : document["checks"]) {
      if (check["id"] != "smtp.rcpt" && check["id"] != "smtp.relay-denied") continue;
      if (check["id"] == "smtp.rcpt" && check.value("recipient", "") == "frontdesk@contoso.example") continue;
      ++refusals;
      CHECK(check["status"] == "info");
      CHECK(check["remedy"] == "");
    }
    CHECK(refusals >= 1);
    // One cause in the verdict: the recipients, not a refused envelope too.
    for (const auto& cause : document["verdict"]["causes"]) CHECK(cause["id"] != "envelope");
  }
}

TEST_CASE("relay: Exchange Online's addresses are those Microsoft's include publishes, or the outbound check is not verified", "[preflight]") {
  // A Microsoft include that lists none of the addresses the check knows (its
  // ranges moved, or a stand-in zone): the domain that includes it is not
  // told that Exchange Online fails its SPF.
  std::string zone_text = read_file(zone);
  const auto spf_line = zone_text.find("$ORIGIN spf.protection.outlook.com.");
  REQUIRE(spf_line != std::string::npos);
  zone_text = zone_text.substr(0, spf_line) + "$ORIGIN spf.protection.outlook.com.\n@ TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n";
  TempDir dir;
  const std::string moved = dir.file("moved.zone", zone_text);
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  auto argv = direct_send(*mx, "contoso.example", "203.0.113.25", {"partner@fabrikam.example"});
  argv.insert(argv.begin() + 2, {"--method", "relay"});
  argv.erase(std::find(argv.begin(), argv.end(), "--reject-direct-send"), std::find(argv.begin(), argv.end(), "--reject-direct-send") + 4);
  *std::find(argv.begin(), argv.end(), zone) = moved;
  const auto run = run_program(argv);
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(status_of(document, "dmarc.policy") == "error");
  CHECK_THAT((*find_check(document, "dmarc.policy"))["message"].get<std::string>(),
             Catch::Contains("authorizes none of the Exchange Online addresses"));
  CHECK(document["verdict"]["verdict"] != "will-not-work");
}

TEST_CASE("direct-send from a blocklisted IP: the listing fails the run (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.66"));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(status_of(document, "spf.result") == "pass");
  bool listed = false;
  for (const auto& check : document["checks"])
    listed = listed || (check["status"] == "fail" && check["message"].get<std::string>().find("listed on Spamhaus ZEN") != std::string::npos);
  CHECK(listed);
  CHECK(document["verdict"]["verdict"] == "will-not-work");
  CHECK(document["verdict"]["causes"][0]["id"] == "blocklist");
  CHECK(document["verdict"]["summary"].get<std::string>().find("Spamhaus") != std::string::npos);
}

TEST_CASE("direct-send with the port closed could not complete (exit 3), not a finding", "[preflight]") {
  std::uint16_t port = 0;
  {
    auto listener = smtp::listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
    REQUIRE(listener);
    port = smtp::local_port(listener->fd);
  }  // closed: nothing listens there now
  Mx fake;
  std::vector<std::string> argv = {preflight_tool, "contoso.example", "--zone", zone, "--zone", lists, "--ip", "203.0.113.25",
                                   "--from", "scanner@contoso.example", "--to", "frontdesk@contoso.example", "--smtp-host",
                                   "127.0.0.1", "--smtp-port", std::to_string(port), "--json"};
  const auto run = run_program(argv);
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 3);
  CHECK(document["status"] == "error");
  CHECK(document["verdict"]["verdict"] == "not-verified");
  CHECK(document["verdict"]["untested"][0]["id"] == "smtp");
  CHECK_FALSE(document["verdict"]["untested"][0]["to_test"].get<std::string>().empty());
  CHECK(status_of(document, "smtp.connect") == "error");
}

TEST_CASE("a DNS server that does not answer is could-not-complete, never an absence (exit 3)", "[preflight]") {
  std::uint16_t port = 0;
  {
    auto listener = smtp::listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
    REQUIRE(listener);
    port = smtp::local_port(listener->fd);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_program({preflight_tool, "contoso.example", "--dns", "127.0.0.1:" + std::to_string(port), "--timeout", "0.3",
                                "--ip", "203.0.113.25", "--from", "scanner@contoso.example", "--to", "a@contoso.example", "--list",
                                "spamhaus-zen", "--json"});
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 3);
  CHECK(status_of(document, "dmarc.policy") == "error");
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("bad input is one line and exit 2", "[preflight]") {
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {preflight_tool, "contoso.example", "--ip", "203.0.113.25", "--to", "a@contoso.example"},            // no --from
           {preflight_tool, "contoso.example", "--from", "s@contoso.example", "--to", "a@contoso.example"},     // no --ip
           {preflight_tool, "contoso.example", "--ip", "nope", "--from", "s@contoso.example", "--to", "a@contoso.example"},
           {preflight_tool, "contoso.example", "--method", "fax", "--from", "s@contoso.example"},
           {preflight_tool, "contoso.example", "--ip", "203.0.113.25", "--from", "not-an-address", "--to", "a@contoso.example"},
           // An unquoted "@" in the local part (RFC 5321 4.1.2).
           {preflight_tool, "contoso.example", "--ip", "203.0.113.25", "--from", "s@contoso.example", "--to", "a@@contoso.example"},
       }) {
    const auto run = run_program(argv);
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-preflight: error: "));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK(run.out.empty());
  }
}

TEST_CASE("relay: external recipients allowed by the method, 5.7.64 from here: create the connector, test from the device (exit 3)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  auto argv = direct_send(*mx, "contoso.example", "203.0.113.40", {"frontdesk@contoso.example", "partner@fabrikam.example"});
  argv.insert(argv.begin() + 2, {"--method", "relay"});
  // The tenant's Reject Direct Send concerns direct send only.
  argv.erase(std::find(argv.begin(), argv.end(), "--reject-direct-send"), std::find(argv.begin(), argv.end(), "--reject-direct-send") + 4);
  const auto run = run_program(argv);
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 3);
  CHECK(document["method"] == "relay");
  CHECK(status_of(document, "input.external-recipients") == "info");
  CHECK(status_of(document, "spf.result") == "warn");    // the connector attributes the mail, not SPF
  // Relayed mail reaches other organizations from Exchange Online's servers,
  // which contoso.example's SPF includes: the device's address does not decide DMARC.
  CHECK(status_of(document, "dmarc.policy") == "pass");
  CHECK((*find_rcpt_check(document, "partner@fabrikam.example"))["status"] == "info");
  CHECK((*find_check(document, "smtp.relay-denied"))["status"] == "warn");
  const std::string remedy = (*find_check(document, "smtp.relay-denied"))["remedy"];
  CHECK_THAT(remedy, Catch::Contains("If no inbound connector exists for the device, create one"));
  CHECK_THAT(remedy, Catch::Contains("\"Your organization's email server\" to \"Microsoft 365\""));
  CHECK_THAT(remedy, Catch::Contains("203.0.113.40"));
  CHECK(document.dump().find("the IP the sending IP address") == std::string::npos);
  CHECK(document.dump().find("meaning_id") == std::string::npos);
}

// ---------------------------------------------------------------------------
// Submission methods against the exo-submission profile

TEST_CASE("smtp-auth without credentials: STARTTLS, TLS 1.2+, AUTH offered, 5.7.57 before AUTH, not verified (exit 3)", "[preflight]") {
  auto server = serve(smtp::exo_submission_profile());
  const auto run = run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                                std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--json"});
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 3);
  CHECK(document["verdict"]["verdict"] == "not-verified");
  REQUIRE(document["verdict"]["untested"].size() == 1);
  CHECK(document["verdict"]["untested"][0]["id"] == "auth");
  CHECK_THAT(document["verdict"]["untested"][0]["to_test"].get<std::string>(), Catch::Contains("--oauth-token-file"));
  CHECK(status_of(document, "smtp.mail") == "pass");  // 530 5.7.57 without AUTH, as a submission endpoint must
  CHECK(status_of(document, "smtp.starttls") == "pass");
  CHECK(status_of(document, "tls.version") == "pass");
  CHECK(find_check(document, "smtp.auth.mechanisms"));
  CHECK((*find_check(document, "smtp.auth.mechanisms"))["after_tls"] == nlohmann::json::array({"LOGIN", "XOAUTH2"}));
  CHECK(status_of(document, "auth.basic-timeline") == "info");
  const std::string timeline = (*find_check(document, "auth.basic-timeline"))["message"];
  CHECK_THAT(timeline, Catch::Contains("at the end of December 2026"));
  CHECK_THAT(timeline, Catch::Contains("second half of 2027"));
  CHECK_THAT(timeline, Catch::Contains("SMTP AUTH clients"));
}

TEST_CASE("smtp-auth with basic auth after the retirement: 5.7.30 (exit 1), the password never printed", "[preflight]") {
  auto server = serve(smtp::exo_submission_profile(smtp::BasicAuthAnswer::retired_30));
  TempDir dir;
  const auto password_file = dir.file("password", "Pr1nter-S3cret\n");
  const auto run = run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                                std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--user",
                                "printer@contoso.example", "--password-file", password_file, "--from", "printer@contoso.example",
                                "--to", "someone@fabrikam.example", "--json", "-v"});
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(status_of(document, "smtp.auth") == "fail");
  CHECK(status_of(document, "auth.basic-timeline") == "warn");
  CHECK(document["verdict"]["causes"][0]["id"] == "auth");
  // The fix, and no "re-enable basic authentication" stopgap: 5.7.30 is the
  // refusal of basic authentication itself, which the switch does not undo.
  const std::string remedy = (*find_check(document, "smtp.auth"))["remedy"];
  CHECK(remedy.find("OAuth") != std::string::npos);
  CHECK(remedy.find("does not help") != std::string::npos);
  CHECK(document.dump().find("SmtpClientAuthenticationDisabled $false") == std::string::npos);
  CHECK((*find_check(document, "auth.basic-timeline"))["message"].get<std::string>().find("already refused") != std::string::npos);
  CHECK(run.out.find("Pr1nter-S3cret") == std::string::npos);
  CHECK(run.err.find("Pr1nter-S3cret") == std::string::npos);
}

TEST_CASE("smtp-auth with the password in SENDCHECK_PASSWORD and no --user: --from signs in", "[preflight]") {
  auto server = serve(smtp::exo_submission_profile(smtp::BasicAuthAnswer::retired_30));
  const auto run = run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                                std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--from",
                                "printer@contoso.example", "--to", "someone@fabrikam.example", "--json"},
                               20s, {"SENDCHECK_PASSWORD=Env-Pr1nter-S3cret"});
  const auto document = parse(run);
  INFO(document.dump(1));
  // The AUTH step ran (and met 5.7.30), instead of "no credentials given".
  CHECK(run.exit_code == 1);
  CHECK(status_of(document, "smtp.auth") == "fail");
  CHECK(document["verdict"]["verdict"] == "will-not-work");
  CHECK(run.out.find("Env-Pr1nter-S3cret") == std::string::npos);
  CHECK(run.err.find("Env-Pr1nter-S3cret") == std::string::npos);
}

TEST_CASE("smtp-auth with an XOAUTH2 token: accepted, envelope accepted (exit 0), and a token Exchange Online refuses proves nothing",
          "[preflight]") {
  // A token Exchange Online could take: a user's, for outlook.office.com, with SMTP.Send.
  const std::string good_token = test_jwt(exchange_user_claims("printer@contoso.example"));
  for (const std::string& token : {good_token, std::string("test-access-token")}) {
    const bool plausible = token == good_token;
    auto profile = smtp::exo_submission_profile();
    profile.oauth_token = token;  // the test server takes it either way
    auto server = serve(profile);
    TempDir dir;
    const auto token_file = dir.file("token", token + "\n");
    const auto run = run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                                  std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--user",
                                  "printer@contoso.example", "--oauth-token-file", token_file, "--from", "printer@contoso.example",
                                  "--to", "someone@fabrikam.example", "--device-auth", "oauth", "--json"});
    const auto document = parse(run);
    INFO(document.dump(1));
    CHECK(status_of(document, "smtp.auth") == "pass");
    CHECK(status_of(document, "auth.device") == "pass");
    CHECK(status_of(document, "smtp.rcpt") == "pass");
    CHECK(status_of(document, "auth.basic-timeline") == "pass");
    CHECK(run.out.find(token) == std::string::npos);
    if (plausible) {
      CHECK(run.exit_code == 0);
      CHECK(document["verdict"]["verdict"] == "will-work");
      CHECK(document.value("/configuration/Authentication"_json_pointer, std::string()) ==
            "OAuth (XOAUTH2) as printer@contoso.example");
    } else {
      // Exchange Online answers a token that is not a JWT 535 5.7.3: a server
      // that took it is not answering as Exchange Online.
      CHECK(status_of(document, "auth.token-file") == "warn");
      CHECK(run.out.find("is not a JWT") != std::string::npos);
      CHECK(run.exit_code == 3);
      CHECK(document["verdict"]["verdict"] == "not-verified");
      bool token_step = false;
      for (const auto& step : document["verdict"]["steps"])
        token_step = token_step || (step["id"] == "token" && step["state"] == "untested");
      CHECK(token_step);
    }
  }
}

TEST_CASE("smtp-auth with an application's token: a device that signs in as a user is not verified by it", "[preflight]") {
  // An app-only access token (roles, no scp), as the client-credentials grant gives.
  const auto part = [](const nlohmann::json& json) { return diag::oauth::base64url(json.dump()); };
  const auto expires = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + 3600;
  const std::string token = part({{"typ", "JWT"}, {"alg", "RS256"}}) + "." +
                            part({{"aud", "https://outlook.office365.com"}, {"roles", {"SMTP.SendAsApp"}}, {"exp", expires},
                                  {"appid", "11111111-2222-3333-4444-555555555555"}}) + ".c2ln";
  auto profile = smtp::exo_submission_profile();
  profile.oauth_token = token;
  auto server = serve(profile);
  TempDir dir;
  const auto token_file = dir.file("token", token + "\n");
  auto run_as = [&](const std::string& device_auth) {
    return run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                        std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--user", "printer@contoso.example",
                        "--oauth-token-file", token_file, "--from", "printer@contoso.example", "--to", "frontdesk@contoso.example",
                        "--device-auth", device_auth, "--json"});
  };
  const auto user = run_as("oauth");
  const auto document = parse(user);
  INFO(document.dump(1));
  CHECK(user.exit_code == 3);
  REQUIRE(document["verdict"]["untested"].size() == 1);
  CHECK(document["verdict"]["untested"][0]["id"] == "device-auth");
  CHECK(user.out.find("as this run did") == std::string::npos);
  const auto app = run_as("oauth-app");
  INFO(app.out);
  CHECK(app.exit_code == 0);
  CHECK(parse(app)["verdict"]["verdict"] == "will-work");
}

TEST_CASE("acs: the user name format is checked", "[preflight]") {
  auto server = serve(smtp::accept_all_profile());
  TempDir dir;
  const auto secret_file = dir.file("secret", "client-secret\n");
  auto run_with = [&](const std::string& user) {
    return run_program({preflight_tool, "contoso.example", "--method", "acs", "--smtp-host", "127.0.0.1", "--smtp-port",
                        std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--user", user,
                        "--password-file", secret_file, "--json"});
  };
  const auto good = run_with("myacs.01234567-89ab-cdef-0123-456789abcdef.fedcba98-7654-3210-fedc-ba9876543210");
  CHECK(status_of(parse(good), "auth.acs-username") == "pass");
  const auto piped = run_with("myacs|01234567-89ab-cdef-0123-456789abcdef|fedcba98-7654-3210-fedc-ba9876543210");
  CHECK(status_of(parse(piped), "auth.acs-username") == "pass");
  // Any other name can only be a custom SMTP user name (the resource's SMTP
  // Usernames): the AUTH step decides, and this server accepted it.
  const auto custom = run_with("mfp-sender");
  const auto custom_document = parse(custom);
  CHECK(status_of(custom_document, "auth.acs-username") == "pass");
  CHECK(custom_document["checks"].dump().find("custom SMTP user name") != std::string::npos);
  CHECK(custom.exit_code != 1);
}

// ---------------------------------------------------------------------------
// The demo

TEST_CASE("sendcheck demo: SPF fails with its fix, the envelope is accepted, offline, without waiting on any timeout", "[preflight]") {
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_program({demo_tool, "--no-color"}, 10s);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.find("WILL NOT WORK") != std::string::npos);
  CHECK(run.out.find("v=spf1 ip4:203.0.113.25 ip4:203.0.113.40 include:spf.protection.outlook.com ~all") != std::string::npos);
  CHECK(run.out.find("RCPT TO:<frontdesk@northwind-traders.example>: 250 2.1.5 Recipient OK") != std::string::npos);
  CHECK(run.err.empty());
  // Its shortest wait is the SMTP server's 5 s command timeout: well under
  // it, nothing waited (a second or so is the run itself, more under ASan
  // on a busy machine).
  CHECK(elapsed < 3s);

  const auto json = run_program({demo_tool, "--json"}, 10s);
  const auto document = parse(json);
  CHECK(document["verdict"]["verdict"] == "will-not-work");
  CHECK(document["spf_record"] == "v=spf1 ip4:203.0.113.25 ip4:203.0.113.40 include:spf.protection.outlook.com ~all");
}

TEST_CASE("the demo zone still answers the README's sendcheck mx command", "[preflight]") {
  const auto run = run_program({bin_dir + "/sendcheck-mx", "--zone", demo_zone, "northwind-traders.example", "fabrikam.example",
                                "tailspin-toys.example", "--json"});
  const auto document = parse(run);
  CHECK(document["domains"].size() == 3);
  CHECK(run.exit_code != 3);
}

// ---------------------------------------------------------------------------
// The SPF remedy is the SPF module's verified record (RFC 7208 4.5: two
// records are a permerror, so one record must replace both and keep every
// sender either authorized; 4.6.4: the lookup limit is hit before a term
// placed after eleven includes).

namespace {

const std::string tenants_zone = fixtures::source_path("tests/scenarios/zones/tenants.zone");

std::vector<std::string> tenant_direct_send(const Mx& mx, const std::string& domain, const std::string& format) {
  std::vector<std::string> argv = {preflight_tool, domain, "--zone", tenants_zone, "--zone", lists, "--ip", "203.0.113.25",
                                   "--from", "scanner@" + domain, "--to", "frontdesk@" + domain, "--smtp-host", "127.0.0.1",
                                   "--smtp-port", std::to_string(mx.server->port()), "--ca", mx.ca_file, "--timeout", "2",
                                   "--dns", "127.0.0.1:" + std::to_string(free_port())};
  argv.push_back(format);
  return argv;
}

// check_host() for ip with record in place of the published one, by sendcheck-spf.
std::string spf_result_with(const std::string& domain, const std::string& record, const std::string& ip) {
  const auto run = run_program({bin_dir + "/sendcheck-spf", domain, "--zone", tenants_zone, "--dns", "127.0.0.1:" + std::to_string(free_port()),
                                "--timeout", "2", "--record", record, "--ip", ip, "--json"});
  const auto document = parse(run);
  return document["results"][0]["result"];
}

// Runs preflight for the device 203.0.113.25 and checks its SPF fix: a
// record in spf_record that passes for the device and for every sender
// given, and the spf.result remedy that carries it, with no hand-made
// "add ... before its all term". Returns the spf.result remedy.
std::string check_spf_fix(const Mx& mx, const std::string& domain, const std::vector<std::string>& senders, std::string& record) {
  const auto run = run_program(tenant_direct_send(mx, domain, "--json"));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  REQUIRE(document["spf_record"].is_string());
  record = document["spf_record"];
  CHECK(spf_result_with(domain, record, "203.0.113.25") == "pass");
  for (const auto& sender : senders) {
    INFO("sender " << sender);
    CHECK(spf_result_with(domain, record, sender) == "pass");
  }
  const auto* row = find_check(document, "spf.result");
  REQUIRE(row);
  const std::string remedy = (*row)["remedy"];
  CHECK(remedy.find(record) != std::string::npos);
  CHECK(remedy.find("before its all term") == std::string::npos);
  return remedy;
}

}  // namespace

TEST_CASE("preflight's SPF fix for two records is the one merged, verified record, never a hand-made example", "[preflight][spf-remedy]") {
  const std::string domain = "twospf-mixed.example";
  auto mx = serve(smtp::exo_mx_profile({domain}));
  // Both senders of the two published records stay authorized (the l1
  // include's and Microsoft's), and the device passes.
  std::string record;
  const std::string remedy = check_spf_fix(*mx, domain, {"198.51.100.1", "40.107.1.1"}, record);
  CHECK(remedy.find("delete the others") != std::string::npos);

  // Markdown: the record is one code span, and no prose is inside one.
  const auto markdown = run_program(tenant_direct_send(*mx, domain, "--markdown"));
  INFO(markdown.out);
  CHECK(markdown.out.find("`" + record + "`") != std::string::npos);
  CHECK(markdown.out.find("`v=spf1 and") == std::string::npos);
  for (auto at = markdown.out.find("`v=spf1"); at != std::string::npos; at = markdown.out.find("`v=spf1", at + 1)) {
    const auto end = markdown.out.find('`', at + 1);
    REQUIRE(end != std::string::npos);
    const std::string span = markdown.out.substr(at + 1, end - at - 1);
    CHECK(span.find(" (") == std::string::npos);
    CHECK(span.find(" the ") == std::string::npos);
  }
  const auto text = run_program(tenant_direct_send(*mx, domain, "--no-color"));
  CHECK(text.out.find("SPF record to publish for " + domain + "\n  " + record) != std::string::npos);
}

TEST_CASE("preflight's SPF fix when the lookup limit is hit before the device: a verified record within 10 lookups", "[preflight][spf-remedy]") {
  const std::string domain = "spf-before.example";
  auto mx = serve(smtp::exo_mx_profile({domain}));
  std::string record;
  check_spf_fix(*mx, domain, {"198.51.100.1", "198.51.100.11"}, record);
  // Flattened or not, the whole record is one code span in Markdown.
  const auto markdown = run_program(tenant_direct_send(*mx, domain, "--markdown"));
  CHECK(markdown.out.find("`" + record + "`") != std::string::npos);
}

TEST_CASE("preflight's --smtp-host takes a host name without a dot (a relay on the LAN, localhost), and still refuses what is no host name", "[preflight]") {
  auto options = [](const std::string& host) {
    preflight::ToolOptions o;
    o.domain = "contoso.example";
    o.method = "relay";
    o.ip = "203.0.113.25";
    o.from = "scanner@contoso.example";
    o.to = {"frontdesk@contoso.example"};
    o.smtp_host = host;
    return o;
  };
  for (const char* host : {"smtprelay", "localhost", "relay-01", "smtp.contoso.example", "[192.0.2.1]"}) {
    INFO(host);
    auto plan = preflight::make_plan(options(host));
    REQUIRE(plan);
    CHECK(plan->endpoint.host == host);
  }
  for (const char* host : {"smtp relay", "-relay", "relay..contoso.example", "r@lay"}) {
    INFO(host);
    auto plan = preflight::make_plan(options(host));
    REQUIRE_FALSE(plan);
    CHECK(plan.error().kind == ErrorKind::bad_input);
  }
  // End to end: localhost is what /etc/hosts says, 127.0.0.1 (or ::1).
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  const auto run = run_program({preflight_tool, "contoso.example", "--zone", zone, "--zone", lists, "--ip", "203.0.113.25", "--from",
                                "scanner@contoso.example", "--to", "frontdesk@contoso.example", "--smtp-host", "localhost", "--smtp-port",
                                std::to_string(mx->server->port()), "--ca", mx->ca_file, "--json", "--timeout", "2"});
  INFO(run.out << run.err);
  CHECK(run.exit_code != 2);
  const auto document = parse(run);
  CHECK(document["smtp"]["target"]["host"] == "localhost");
}
