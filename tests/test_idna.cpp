// Internationalized domains as admins type them (diag/idna.h): converted to
// their A-labels by libidn2 (IDNA 2008, UTS #46 non-transitional) wherever
// a domain is read from the user, refused in one line when IDNA 2008 does
// not allow them, and shown in both forms in the text output.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/idna.h"
#include "diag/mx.h"
#include "json_schema.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

using namespace smtp_testing;

TEST_CASE("idna: a Unicode domain becomes its A-label form, ASCII stays as it is", "[idna]") {
  CHECK(diag::idna::to_ascii("bücher.example").value() == "xn--bcher-kva.example");
  // UTS #46 maps case first: what a person types in capitals is one name.
  CHECK(diag::idna::to_ascii("BÜCHER.example").value() == "xn--bcher-kva.example");
  // Non-transitional: "ß" is a letter of its own (IDNA 2008), not "ss".
  CHECK(diag::idna::to_ascii("faß.de").value() == "xn--fa-hia.de");
  // NFC first: "u" + COMBINING DIAERESIS is "ü".
  CHECK(diag::idna::to_ascii("bu\xCC\x88" "cher.example").value() == "xn--bcher-kva.example");
  CHECK(diag::idna::to_ascii("münchen.de.").value() == "xn--mnchen-3ya.de.");
  CHECK(diag::idna::to_ascii("Contoso.COM").value() == "Contoso.COM");  // ASCII: the caller's own checks apply
}

TEST_CASE("idna: what IDNA 2008 refuses is bad input with the reason", "[idna]") {
  for (const std::string bad : {"\xE2\x98\x83.example",            // SNOWMAN: disallowed
                                "\xCC\x81" "abc.example",          // a label that starts with a combining mark
                                "b\xC3\xBC" "cher\xFF.example"}) {  // not UTF-8
    const auto converted = diag::idna::to_ascii(bad);
    INFO(bad);
    REQUIRE_FALSE(converted);
    CHECK(converted.error().kind == diag::ErrorKind::bad_input);
    CHECK_THAT(converted.error().message, Catch::StartsWith("domain \"" + bad + "\" is not a valid internationalized domain name: "));
    CHECK(converted.error().message.find('\n') == std::string::npos);
  }
}

TEST_CASE("idna: display shows an A-label domain in both forms", "[idna]") {
  CHECK(diag::idna::display("xn--bcher-kva.example") == "xn--bcher-kva.example (bücher.example)");
  CHECK(diag::idna::display("mail.xn--mnchen-3ya.de") == "mail.xn--mnchen-3ya.de (mail.münchen.de)");
  CHECK(diag::idna::display("contoso.com") == "contoso.com");
  CHECK(diag::idna::display("xn--.example") == "xn--.example");  // not a valid A-label: as it is
}

TEST_CASE("idna: to_unicode gives the form an admin typed", "[idna]") {
  CHECK(diag::idna::to_unicode("xn--bcher-kva.example") == "bücher.example");
  CHECK(diag::idna::to_unicode("mail.xn--mnchen-3ya.de") == "mail.münchen.de");
  CHECK(diag::idna::to_unicode("contoso.com") == "contoso.com");
  CHECK(diag::idna::to_unicode("xn--.example") == "xn--.example");
}

TEST_CASE("idna: mx::parse_domain, and so every domain argument, takes a Unicode domain", "[idna]") {
  CHECK(diag::mx::parse_domain("bücher.example").value() == "xn--bcher-kva.example");
  CHECK(diag::mx::parse_domain("Bücher.Example.").value() == "xn--bcher-kva.example");
  const auto bad = diag::mx::parse_domain("\xE2\x98\x83.example");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == diag::ErrorKind::bad_input);
  CHECK(diag::mx::parse_domain("xn--bcher-kva.example").value() == "xn--bcher-kva.example");
  const auto not_a_label = diag::mx::parse_domain("xn--zz.example");
  REQUIRE_FALSE(not_a_label);
  CHECK(not_a_label.error().message == "domain \"xn--zz.example\" has \"xn--zz\", which is not a valid A-label (RFC 5890)");
}

TEST_CASE("idna: sendcheck-mx and sendcheck-spf ask the A-labels and show both forms", "[idna][tools]") {
  const fixtures::TemporaryDirectory directory("idna");
  const auto zone = directory.write("buecher.zone",
                                    "$ORIGIN xn--bcher-kva.example.\n$TTL 300\n"
                                    "@ SOA ns.xn--bcher-kva.example. hostmaster.xn--bcher-kva.example. 1 3600 600 86400 300\n"
                                    "@ MX 0 xn--bcher-kva-example.mail.protection.outlook.com.\n"
                                    "@ TXT \"v=spf1 ip4:192.0.2.25 include:spf.protection.outlook.com -all\"\n");
  const std::vector<std::string> offline = {"--zone", zone, "--dns", "127.0.0.1:9", "--timeout", "1"};
  auto mx_argv = std::vector<std::string>{bin_dir + "/sendcheck-mx", "bücher.example", "--no-color"};
  mx_argv.insert(mx_argv.end(), offline.begin(), offline.end());
  const auto text = run_program(mx_argv);
  INFO(text.out << text.err);
  CHECK_THAT(text.out, Catch::StartsWith("xn--bcher-kva.example (bücher.example)\n"));
  mx_argv.push_back("--json");
  const auto json = run_program(mx_argv);
  INFO(json.out << json.err);
  json_schema::check_valid("sendcheck-mx", json.out);
  CHECK(nlohmann::json::parse(json.out)["domains"][0]["domain"] == "xn--bcher-kva.example");
  CHECK(nlohmann::json::parse(json.out)["domains"][0]["mx"][0]["host"] == "xn--bcher-kva-example.mail.protection.outlook.com");

  auto spf_argv = std::vector<std::string>{bin_dir + "/sendcheck-spf", "BÜCHER.example", "--ip", "192.0.2.25", "--no-color"};
  spf_argv.insert(spf_argv.end(), offline.begin(), offline.end());
  const auto spf = run_program(spf_argv);
  INFO(spf.out << spf.err);
  CHECK(spf.exit_code == 0);
  CHECK_THAT(spf.out, Catch::Contains("xn--bcher-kva.example (bücher.example)"));

  // preflight: both forms once, the sections by the name the admin typed,
  // the rows by the A-labels that DNS holds.
  auto preflight_argv = std::vector<std::string>{bin_dir + "/sendcheck-preflight", "bücher.example", "--ip", "192.0.2.25",
                                                 "--from", "scan@bücher.example", "--to", "desk@bücher.example",
                                                 "--smtp-host", "127.0.0.1", "--smtp-port", "9", "--list", "spamhaus-zen",
                                                 "--no-color", "-v"};
  preflight_argv.insert(preflight_argv.end(), offline.begin(), offline.end());
  const auto preflight = run_program(preflight_argv);
  INFO(preflight.out << preflight.err);
  CHECK_THAT(preflight.out, Catch::Contains("Domain: xn--bcher-kva.example (bücher.example)\n"));
  CHECK_THAT(preflight.out, Catch::Contains("\n  MX (bücher.example)\n"));
  CHECK_THAT(preflight.out, Catch::Contains("\n  SPF (bücher.example)\n"));
  CHECK_THAT(preflight.out, Catch::Contains("SPF passes for 192.0.2.25 as xn--bcher-kva.example"));
}

TEST_CASE("idna: an invalid internationalized domain is exit 2 with a one-line error", "[idna][tools]") {
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {bin_dir + "/sendcheck-mx", "\xE2\x98\x83.example", "--dns", "127.0.0.1:9"},
           {bin_dir + "/sendcheck-spf", "\xE2\x98\x83.example", "--dns", "127.0.0.1:9"},
           {bin_dir + "/sendcheck-preflight", "contoso.example", "--method", "direct-send", "--ip", "192.0.2.25", "--from",
            "scanner@\xE2\x98\x83.example", "--dns", "127.0.0.1:9"}}) {
    const auto run = run_program(argv);
    INFO(argv[0] << " exit " << run.exit_code << "\n" << run.out << run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.out.empty());
    CHECK_THAT(run.err, Catch::Contains("is not a valid internationalized domain name"));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}

TEST_CASE("idna: a --file list of domains takes Unicode lines", "[idna][tools]") {
  const fixtures::TemporaryDirectory directory("idna-list");
  const auto list = directory.write("domains.list", "# Unicode and ASCII\nbücher.example\ncontoso.example\n");
  const auto domains = diag::mx::read_domain_list(list);
  REQUIRE(domains);
  CHECK(*domains == std::vector<std::string>{"xn--bcher-kva.example", "contoso.example"});
  const auto bad = directory.write("bad.list", "contoso.example\n\xE2\x98\x83.example\n");
  const auto refused = diag::mx::read_domain_list(bad);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::StartsWith(bad + ":2: domain"));
}
