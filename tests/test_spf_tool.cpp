// sendcheck-spf as an executable: the JSON contract, exit codes, bad input
// as one line on stderr, --record and --default-explanation, all answered
// from the fixture zones (--zone) so that nothing leaves loopback.
#include <filesystem>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "smtp_test_support.h"
#include "json_schema.h"

namespace {

const std::string spf_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-spf";
const std::string fixtures = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/zones/";
// Nothing answers here: what --zone does not cover fails fast.
const std::string offline = " --dns 127.0.0.1:9 --timeout 0.5 --zone " + fixtures + "sendcheck.test.zone --zone " + fixtures +
                            "outlook.com.zone --zone " + fixtures + "google.com.zone --zone " + fixtures +
                            "mail.protection.outlook.com.zone";

using smtp_testing::RunResult;
using Run = RunResult;

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const std::string& path) { return smtp_testing::read_file(path); }

Run run(const std::string& arguments) {
  std::vector<std::string> argv{spf_tool};
  for (auto& word : smtp_testing::shell_words(arguments)) argv.push_back(std::move(word));
  return smtp_testing::run_program(argv, std::chrono::seconds(30), {"NO_COLOR=1"});
}

// ctest builds the tools before the tests; a missing one is a broken build
// under CI=true, not a pass.
bool tool_built() {
  if (std::filesystem::exists(spf_tool)) return true;
  smtp_testing::skip_or_fail(spf_tool + " is not built (cmake --build build --target sendcheck-spf)");
  return false;
}

}  // namespace

TEST_CASE("sendcheck-spf: JSON contract, per-IP path and tree", "[spf][tool]") {
  if (!tool_built()) return;
  const Run r = run("contoso.sendcheck.test --ip 192.0.2.7 --ip 198.51.100.9 --json" + offline);
  INFO(r.err);
  CHECK(r.exit_code == 1);  // 198.51.100.9 fails
  const auto doc = nlohmann::json::parse(r.out);
  json_schema::check_valid("sendcheck-spf", r.out);
  CHECK(doc["tool"] == "sendcheck-spf");
  CHECK(doc["status"] == "fail");
  CHECK(doc["domain"] == "contoso.sendcheck.test");
  CHECK(doc["record"] == "v=spf1 include:spf.protection.outlook.com -all");
  CHECK(doc["tree"]["lookups"] == 1);
  CHECK(doc["tree"]["root"]["children"][0]["via"] == "include:spf.protection.outlook.com");
  REQUIRE(doc["results"].size() == 2);
  CHECK(doc["results"][0]["result"] == "pass");
  CHECK(doc["results"][0]["path"] ==
        nlohmann::json::array({"contoso.sendcheck.test", "include:spf.protection.outlook.com", "ip4:192.0.2.0/24"}));
  CHECK(doc["results"][0]["matched"] == "ip4:192.0.2.0/24");
  CHECK(doc["results"][0]["lookups"] == 1);
  CHECK(doc["results"][1]["result"] == "fail");
  CHECK(doc["results"][1]["matched"] == "-all");
  for (const auto& check : doc["checks"]) {
    CHECK(check.contains("id"));
    if (check["status"] == "fail" || check["status"] == "warn") CHECK_FALSE(check["remedy"].get<std::string>().empty());
  }
}

TEST_CASE("sendcheck-spf: --suggest, --record and --default-explanation", "[spf][tool]") {
  if (!tool_built()) return;
  const Run suggest = run("guen-transporte.sendcheck.test --ip 198.51.100.9 --suggest --json" + offline);
  const auto doc = nlohmann::json::parse(suggest.out);
  json_schema::check_valid("sendcheck-spf", suggest.out);
  CHECK(doc["suggestion"]["record"] == "v=spf1 ip4:198.51.100.9 include:spf.protection.outlook.com -all");
  CHECK(doc["suggestion"]["verified"] == true);
  CHECK(doc["suggestion"]["lookups"] == 1);

  const Run what_if = run("contoso.sendcheck.test --ip 198.51.100.9 --record " + quote("v=spf1 ip4:198.51.100.0/24 -all") + " --json" + offline);
  const auto what_if_doc = nlohmann::json::parse(what_if.out);
  CHECK(what_if_doc["results"][0]["result"] == "pass");
  // The what-if record drops Microsoft's include while the MX is Microsoft 365:
  // domain health, since the device itself passes.
  CHECK(what_if.exit_code == 0);
  bool m365_finding = false;
  for (const auto& check : what_if_doc["checks"])
    m365_finding = m365_finding || (check["id"] == "spf.m365-include" && check["status"] == "warn" &&
                                    check["group"] == "domain health");
  CHECK(m365_finding);
  // Without a device address it is the domain's own finding.
  const Run domain_only = run("contoso.sendcheck.test --record " + quote("v=spf1 ip4:198.51.100.0/24 -all") + " --json" + offline);
  CHECK(domain_only.exit_code == 1);

  const Run explained = run("contoso.sendcheck.test --ip 203.0.113.1 --default-explanation " + quote("%{i} is not ours") + " --json" + offline);
  CHECK(nlohmann::json::parse(explained.out)["results"][0]["explanation"] == "203.0.113.1 is not ours");
}

TEST_CASE("sendcheck-spf: bad input is one line and exit 2, timeouts are exit 3", "[spf][tool]") {
  if (!tool_built()) return;
  for (const std::string& arguments : std::vector<std::string>{"--ip 192.0.2.1", "contoso.sendcheck.test --ip 300.1.1.1", "nodots --ip 192.0.2.1",
                                      "contoso.sendcheck.test --record " + quote("spf1 -all"),
                                      "contoso.sendcheck.test --bogus"}) {
    INFO(arguments);
    const Run r = run(arguments + offline);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("sendcheck-spf: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  // A name nobody answers for: temperror, never "no SPF record".
  const Run unreachable = run("unreachable.example --ip 192.0.2.1 --json --dns 127.0.0.1:9 --timeout 0.5");
  CHECK(unreachable.exit_code == 3);
  const auto doc = nlohmann::json::parse(unreachable.out);
  CHECK(doc["results"][0]["result"] == "temperror");
  CHECK(doc["checks"][0]["status"] == "error");
}

TEST_CASE("sendcheck-spf: a --sender or --helo SPF cannot check is evaluated to none, a typed DOMAIN is refused", "[spf][tool]") {
  if (!tool_built()) return;
  // RFC 7208 4.3 and 2.3: an IP-literal HELO with an empty MAIL FROM, and a
  // MAIL FROM in an address literal, give "none", as a receiver computes it.
  for (const std::string& identity : {std::string("--helo '[192.0.2.1]'"), std::string("--sender 'foo@[192.0.2.1]' --helo OEMCOMPUTER"),
                                      std::string("--helo A2345678"), std::string("--helo 192.0.2.1"),
                                      std::string("--sender '<>' --helo 192.0.2.1")}) {
    INFO(identity);
    const Run r = run(identity + " --ip 192.0.2.1 --json" + offline);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto doc = nlohmann::json::parse(r.out);
    REQUIRE(doc["results"].size() == 1);
    CHECK(doc["results"][0]["result"] == "none");
    CHECK(doc["status"] == "warn");
  }
  const Run typed = run("'[192.0.2.1]' --ip 192.0.2.1" + offline);
  CHECK(typed.exit_code == 2);
}

TEST_CASE("sendcheck-spf: a reverse-path as logged: <> is postmaster@HELO, <user@domain> loses its brackets", "[spf][tool]") {
  if (!tool_built()) return;
  // RFC 7208 2.4: the null reverse-path is checked as postmaster@HELO.
  const Run null_sender = run("--sender '<>' --helo contoso.sendcheck.test --ip 192.0.2.7 --json" + offline);
  INFO(null_sender.err);
  REQUIRE(null_sender.exit_code == 0);
  auto doc = nlohmann::json::parse(null_sender.out);
  CHECK(doc["domain"] == "contoso.sendcheck.test");
  CHECK(doc["results"][0]["result"] == "pass");
  const Run bracketed = run("--sender '<scanner@contoso.sendcheck.test>' --ip 198.51.100.9 --json" + offline);
  INFO(bracketed.err);
  CHECK(bracketed.exit_code == 1);
  doc = nlohmann::json::parse(bracketed.out);
  CHECK(doc["domain"] == "contoso.sendcheck.test");
  CHECK(doc["results"][0]["result"] == "fail");
  // "<>" without a HELO names nothing to check.
  CHECK(run("--sender '<>' --ip 192.0.2.7" + offline).exit_code == 2);
}

TEST_CASE("sendcheck-spf: the man page names no internal file", "[spf][tool]") {
  const std::string page = slurp(std::string(SENDCHECK_SOURCE_DIR) + "/man/sendcheck-spf.1");
  REQUIRE_FALSE(page.empty());
  for (const char* internal : {"libdiag/", "tools/", "spf_microsoft_includes", ".cpp", "tests/"}) {
    INFO(internal);
    CHECK(page.find(internal) == std::string::npos);
  }
}
