// sendcheck-preflight as an admin runs it, against local servers only: the
// zone overlay for DNS (fixtures/preflight, fixtures/demo) and our SMTP
// server in its Exchange Online profiles. Failing cases keep "will not work"
// (exit 1) apart from "could not complete" (exit 3). Then the demo.
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

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
                                   std::to_string(mx.server->port()), "--ca", mx.ca_file, "--json", "--timeout", "2"};
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
  CHECK(preflight::dmarc_check("contoso.example", answer, true).status == Status::fail);  // two records

  dns::Answer timeout;
  timeout.outcome = dns::Outcome::timeout;
  const Check check = preflight::dmarc_check("contoso.example", timeout, true);
  CHECK(check.status == Status::error);
  CHECK_FALSE(check.remedy.empty());

  dns::Answer none;
  none.outcome = dns::Outcome::nxdomain;
  CHECK(preflight::dmarc_check("contoso.example", none, false).status == Status::warn);
}

TEST_CASE("Recipients in the accepted domains and below them are internal", "[preflight]") {
  const std::vector<std::string> accepted = {"contoso.example"};
  CHECK(preflight::is_internal("a@contoso.example", accepted));
  CHECK(preflight::is_internal("a@Sales.Contoso.example", accepted));
  CHECK_FALSE(preflight::is_internal("a@fabrikam.example", accepted));
  CHECK_FALSE(preflight::is_internal("a@notcontoso.example", accepted));
}

// ---------------------------------------------------------------------------
// direct-send against the exo-mx profile

TEST_CASE("direct-send that works: MX, SPF pass, DMARC reject passes, clean IP, envelope accepted (exit 0)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25"));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 0);
  CHECK(document["tool"] == "sendcheck-preflight");
  CHECK(document["verdict"]["verdict"] == "will-work");
  CHECK(document["verdict"]["summary"].get<std::string>().starts_with("Direct send from 203.0.113.25 will work"));
  CHECK(document["verdict"]["untested"].empty());
  CHECK(status_of(document, "spf.result") == "pass");
  CHECK(document["configuration"]["Port"] == std::to_string(mx->server->port()));
  CHECK(document["configuration"]["Authentication"] == "none");
  CHECK(status_of(document, "dmarc.policy") == "pass");
  CHECK(status_of(document, "smtp.rcpt.1") == "pass");
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
  CHECK(status_of(document, "smtp.rcpt.1") == "pass");
  bool step_has_record = false;
  for (const auto& step : document["next_steps"])
    step_has_record = step_has_record || (step["section"] == "spf" && step["remedy"].get<std::string>().find("v=spf1 ip4:203.0.113.40") != std::string::npos);
  CHECK(step_has_record);
}

TEST_CASE("direct-send to a tenant with Reject Direct Send: 5.7.68 explained, partner connector (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}, true));
  const auto run = run_program(direct_send(*mx, "contoso.example", "203.0.113.25"));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(status_of(document, "smtp.rcpt.1") == "fail");
  REQUIRE(find_check(document, "smtp.reject-direct-send"));
  const auto& check = *find_check(document, "smtp.reject-direct-send");
  CHECK(check["status"] == "fail");
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
  CHECK(status_of(document, "smtp.rcpt.1") == "pass");
  CHECK(status_of(document, "smtp.rcpt.2") == "fail");
  CHECK(status_of(document, "smtp.relay-denied") == "fail");
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
       }) {
    const auto run = run_program(argv);
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-preflight: error: "));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK(run.out.empty());
  }
}

TEST_CASE("relay: external recipients allowed by the method, 5.7.64 explained as a connector mismatch (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  auto argv = direct_send(*mx, "contoso.example", "203.0.113.40", {"frontdesk@contoso.example", "partner@fabrikam.example"});
  argv.insert(argv.begin() + 2, {"--method", "relay"});
  const auto run = run_program(argv);
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  CHECK(document["method"] == "relay");
  CHECK(status_of(document, "input.external-recipients") == "info");
  CHECK(status_of(document, "spf.result") == "warn");    // the connector attributes the mail, not SPF
  CHECK(status_of(document, "dmarc.policy") == "warn");
  CHECK(status_of(document, "smtp.rcpt.2") == "fail");
  CHECK((*find_check(document, "smtp.relay-denied"))["remedy"].get<std::string>().find("inbound connector") != std::string::npos);
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
  // The fix first, re-enabling basic authentication last and as a stopgap.
  const std::string remedy = (*find_check(document, "smtp.auth"))["remedy"];
  CHECK(remedy.find("OAuth") < remedy.find("Stopgap"));
  CHECK(run.out.find("Pr1nter-S3cret") == std::string::npos);
  CHECK(run.err.find("Pr1nter-S3cret") == std::string::npos);
}

TEST_CASE("smtp-auth with an XOAUTH2 token: accepted, envelope accepted (exit 0)", "[preflight]") {
  auto profile = smtp::exo_submission_profile();
  profile.oauth_token = "test-access-token";
  auto server = serve(profile);
  TempDir dir;
  const auto token_file = dir.file("token", "test-access-token\n");
  const auto run = run_program({preflight_tool, "contoso.example", "--method", "smtp-auth", "--smtp-host", "127.0.0.1", "--smtp-port",
                                std::to_string(server->server->port()), "--ca", server->ca_file, "--zone", zone, "--user",
                                "printer@contoso.example", "--oauth-token-file", token_file, "--from", "printer@contoso.example",
                                "--to", "someone@fabrikam.example", "--json"});
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 0);
  CHECK(status_of(document, "smtp.auth") == "pass");
  CHECK(status_of(document, "smtp.rcpt.1") == "pass");
  CHECK(status_of(document, "auth.basic-timeline") == "pass");
  CHECK(document["verdict"]["verdict"] == "will-work");
  CHECK(document["configuration"]["Authentication"] == "OAuth (XOAUTH2) as printer@contoso.example");
  CHECK(run.out.find("test-access-token") == std::string::npos);
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
  const auto bad = run_with("printer");
  CHECK(status_of(parse(bad), "auth.acs-username") == "fail");
  CHECK(bad.exit_code == 1);
}

// ---------------------------------------------------------------------------
// The demo

TEST_CASE("sendcheck demo: SPF fails with its fix, the envelope is accepted, offline, under a second", "[preflight]") {
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_program({demo_tool, "--no-color"}, 10s);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.find("WILL NOT WORK") != std::string::npos);
  CHECK(run.out.find("v=spf1 ip4:203.0.113.25 ip4:203.0.113.40 include:spf.protection.outlook.com ~all") != std::string::npos);
  CHECK(run.out.find("RCPT TO:<frontdesk@northwind-traders.example>: 250 2.1.5 Recipient OK") != std::string::npos);
  CHECK(run.err.empty());
  CHECK(elapsed < 1s);

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
