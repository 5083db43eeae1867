// sendcheck-probe against a real Postfix on loopback (STARTTLS with a
// certificate generated here), compared with what `openssl s_client
// -starttls smtp` reports for the same server. Debian's Postfix runs without
// systemd: main.cf from /usr/share/postfix/main.cf.debian, our own config
// directory and queue, one loopback listener, `postfix -c DIR start`.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixture_zones.h"
#include "preflight_test_support.h"
#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag::smtp;

namespace {

std::string field(const std::string& text, const std::string& label) {
  std::smatch match;
  if (std::regex_search(text, match, std::regex(label + ": ([^\n]+)"))) return match[1];
  return {};
}

}  // namespace

TEST_CASE("sendcheck-probe against a real Postfix agrees with openssl s_client", "[probe][postfix]") {
  if (auto missing = peer_missing({"postfix", "openssl"}, true)) return skip_or_fail(*missing);
  Postfix postfix;
  const std::string port = std::to_string(postfix.port());
  const auto probe = run_program({bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", port, "--json", "--ca",
                                  postfix.ca_file(), "--starttls", "require", "--from", "device@sendcheck.test", "--rcpt",
                                  "postmaster@sendcheck.test", "--rcpt", "someone@fabrikam.example", "--helo",
                                  "probe.sendcheck.test", "--timeout", "5", "--dns", "127.0.0.1:9"},
                                 30s);
  INFO(probe.out << probe.err);
  const auto doc = nlohmann::json::parse(probe.out);
  const auto& target = doc["targets"][0];
  CHECK(target["banner"]["code"] == 220);
  CHECK(target["banner"]["text"].get<std::string>().starts_with(postfix_host + " ESMTP"));
  CHECK(target["starttls"]["offered"] == true);
  CHECK(target["starttls"]["completed"] == true);
  const auto before = target["ehlo"]["before_tls"].dump();
  for (const char* keyword : {"PIPELINING", "SIZE 10240000", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"})
    CHECK_THAT(before, Catch::Contains(std::string("\"") + keyword + "\""));
  CHECK(target["ehlo"]["after_tls"].dump().find("STARTTLS") == std::string::npos);
  CHECK(target["envelope"][0]["reply"]["code"] == 250);
  CHECK(target["envelope"][1]["reply"]["code"] == 250);
  CHECK(target["envelope"][2]["reply"]["code"] == 554);  // Postfix: reject_unauth_destination
  CHECK_THAT(target["envelope"][2]["reply"]["text"].get<std::string>(), Catch::Contains("Relay access denied"));
  CHECK(target["envelope"][3]["command"] == "RSET");
  CHECK(doc["status"] == "fail");
  CHECK(probe.exit_code == 1);

  // What OpenSSL's own client sees on the same server.
  const auto s_client = run_program({"sh", "-c",
                                     "openssl s_client -starttls smtp -connect 127.0.0.1:" + port + " -servername " + postfix_host +
                                         " -CAfile " + postfix.ca_file() + " -brief </dev/null 2>&1"},
                                    20s);
  INFO(s_client.out);
  const auto& tls = target["tls"];
  CHECK(tls["version"] == field(s_client.out, "Protocol version"));
  CHECK(tls["cipher"] == field(s_client.out, "Ciphersuite"));
  CHECK(field(s_client.out, "Verification") == "OK");
  CHECK(tls["certificate"]["chain_trusted"] == true);
  CHECK(tls["certificate"]["subject"] == "CN=" + postfix_host);
  CHECK(tls["certificate"]["key_type"] == "RSA");
  CHECK(tls["certificate"]["key_bits"] == 2048);
  const auto fingerprint = run_program({"sh", "-c",
                                        "openssl s_client -starttls smtp -connect 127.0.0.1:" + port +
                                            " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"},
                                       20s);
  CHECK("sha256 Fingerprint=" + tls["certificate"]["sha256_fingerprint"].get<std::string>() + "\n" == fingerprint.out);

  // With the name as an address the name check passes on the IP SAN; without --ca the chain is not trusted.
  const auto untrusted = run_program({bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", port, "--json", "--timeout", "5",
                                      "--dns", "127.0.0.1:9"},
                                     30s);
  const auto untrusted_doc = nlohmann::json::parse(untrusted.out);
  CHECK(untrusted_doc["targets"][0]["tls"]["certificate"]["chain_trusted"] == false);
  CHECK(untrusted_doc["targets"][0]["tls"]["certificate"]["verify_error"] == "unable to get local issuer certificate");
  CHECK(untrusted.exit_code == 1);
}

TEST_CASE("sendcheck-preflight direct-send against a real Postfix: the envelope rows as Postfix answers them", "[preflight][postfix]") {
  if (auto missing = peer_missing({"postfix"}, true)) return skip_or_fail(*missing);
  Postfix postfix;
  // sendcheck.test is Postfix's mydestination (it takes local mail for it
  // and relays nothing); its DNS as a Microsoft 365 tenant would publish it.
  TempDir dir;
  const std::string zone = dir.file("sendcheck.zone",
                                    "$TTL 3600\n"
                                    "$ORIGIN sendcheck.test.\n"
                                    "@       MX   0 sendcheck-test.mail.protection.outlook.com.\n"
                                    "@       TXT  \"v=spf1 ip4:203.0.113.25 include:spf.protection.outlook.com -all\"\n"
                                    "_dmarc  TXT  \"v=DMARC1; p=reject\"\n"
                                    "$ORIGIN mail.protection.outlook.com.\n"
                                    "sendcheck-test  A  192.0.2.160\n"
                                    "$ORIGIN spf.protection.outlook.com.\n"
                                    "@       TXT  \"v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 -all\"\n");
  // Run "on the device's network": this machine is seen from --ip.
  const auto egress = preflight_testing::serve_egress({"203.0.113.25"});
  auto preflight = [&](std::vector<std::string> to) {
    std::vector<std::string> argv = {bin_dir + "/sendcheck-preflight", "sendcheck.test", "--zone", zone, "--ip", "203.0.113.25",
                                     "--egress", "--egress-dns", egress->endpoint_v4(), "--reject-direct-send", "off", "--recipient-kind", "mailbox",
                                     "--from", "scanner@sendcheck.test", "--smtp-host", "127.0.0.1", "--smtp-port",
                                     std::to_string(postfix.port()), "--ca", postfix.ca_file(), "--helo", "preflight.sendcheck.test",
                                     "--zone", fixtures::source_path("fixtures/demo/blocklists.zone"), "--json", "--timeout", "5"};
    for (const auto& address : to) argv.insert(argv.end(), {"--to", address});
    return run_program(argv, 30s);
  };
  auto check_of = [](const nlohmann::json& document, const std::string& id) {
    for (const auto& check : document["checks"])
      if (check["id"] == id) return check;
    FAIL("no check " << id << " in " << document.dump(1));
    return nlohmann::json();
  };

  {  // A local recipient: MAIL and RCPT accepted, but Postfix is not Exchange
     // Online: what it accepted says nothing of Exchange Online's answer (exit 3).
    const auto run = preflight({"postmaster@sendcheck.test"});
    INFO(run.out << run.err);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "smtp.mail")["status"] == "pass");
    CHECK(check_of(document, "smtp.rcpt")["status"] == "pass");
    const auto& envelope = document["smtp"]["target"]["envelope"];
    CHECK(envelope[0]["reply"]["code"] == 250);
    CHECK(envelope[1]["reply"]["code"] == 250);
    CHECK(document["smtp"]["target"]["starttls"]["completed"] == true);
    CHECK(document["smtp"]["target"]["tls"]["certificate"]["chain_trusted"] == true);
    CHECK(document["verdict"]["verdict"] == "not-verified");
    REQUIRE(document["verdict"]["untested"].size() == 1);
    CHECK(document["verdict"]["untested"][0]["id"] == "endpoint");
    CHECK_THAT(check_of(document, "smtp.not-exchange-online")["message"].get<std::string>(), Catch::Contains("ESMTP Postfix"));
    CHECK(run.exit_code == 3);
  }
  {  // A recipient Postfix does not relay for: 554 5.7.1 Relay access denied is the external
     // recipient's finding seen (direct send reaches only the tenant), so the run fails (exit 1).
    const auto run = preflight({"postmaster@sendcheck.test", "someone@fabrikam.example"});
    INFO(run.out << run.err);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "smtp.rcpt")["status"] == "pass");
    const auto* rcpt = preflight_testing::find_rcpt_check(document, "someone@fabrikam.example");
    REQUIRE(rcpt);
    CHECK((*rcpt)["status"] == "info");
    CHECK_THAT((*rcpt)["message"].get<std::string>(), Catch::Contains("as expected"));
    const auto& envelope = document["smtp"]["target"]["envelope"];
    CHECK(envelope[2]["reply"]["code"] == 554);
    CHECK(envelope[2]["reply"]["enhanced"] == "5.7.1");
    CHECK_THAT(envelope[2]["reply"]["text"].get<std::string>(), Catch::Contains("Relay access denied"));
    CHECK(check_of(document, "input.external-recipients")["status"] == "fail");
    CHECK(document["verdict"]["verdict"] == "will-not-work");
    CHECK(run.exit_code == 1);
  }
}
