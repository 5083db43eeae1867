// sendcheck-inventory --preflight: the direct-send and relay way of every
// sender that will break, per source IP, checked as sendcheck-preflight
// checks it, and each verdict put on its way forward.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "json_schema.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

using namespace std::chrono_literals;

namespace {

const std::string inventory_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-inventory";
const std::string signins =
    std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/inventory/InteractiveSignIns_2026-11-01_2026-12-01.csv";
const std::string outlook_zone = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/zones/outlook.com.zone";

const nlohmann::json* way(const nlohmann::json& document, const std::string& user, const std::string& method,
                          const std::string& ip) {
  for (const auto& sender : document["senders"])
    if (sender["user"] == user)
      for (const auto& one : sender["way_forward"])
        if (one["method"] == method && one.value("ip", "") == ip) return &one;
  return nullptr;
}

}  // namespace

TEST_CASE("inventory --preflight: each direct-send and relay way of a sender that will break gets its verdict",
          "[inventory][tools]") {
  fixtures::TemporaryDirectory dir("inventory-preflight");
  // contoso.com receives at Exchange Online; its SPF has one of the
  // scanner's two addresses. The MX host is loopback, where nothing takes
  // port 25: the SMTP step is not tested, so nothing can be WILL WORK.
  const auto contoso = dir.write("contoso.zone",
                                 "$ORIGIN contoso.com.\n$TTL 300\n"
                                 "@ SOA ns.contoso.com. hostmaster.contoso.com. 1 3600 600 86400 300\n"
                                 "@ MX 0 contoso-com.mail.protection.outlook.com.\n"
                                 "@ TXT \"v=spf1 ip4:203.0.113.7 include:spf.protection.outlook.com -all\"\n"
                                 "_dmarc TXT \"v=DMARC1; p=none\"\n");
  const auto mx = dir.write("mx.zone",
                            "$ORIGIN mail.protection.outlook.com.\n$TTL 300\n"
                            "@ SOA ns.outlook.com. hostmaster.outlook.com. 1 3600 600 86400 300\n"
                            "contoso-com A 127.0.0.1\n");
  const std::vector<std::string> base = {inventory_tool, "--signins", signins,  "--zone",     contoso,
                                         "--zone",       mx,          "--zone", outlook_zone, "--dns",
                                         "127.0.0.1:9",  "--timeout", "1",      "--json"};
  auto argv = base;
  argv.push_back("--preflight");
  const auto run = smtp_testing::run_program(argv, 120s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);  // senders will break, whatever the checks found
  json_schema::check_valid("sendcheck-inventory", run.out);
  const auto document = nlohmann::json::parse(run.out);

  // Every direct-send and relay way of every sender that will break ran;
  // the ways that need credentials did not.
  std::size_t ran = 0;
  for (const auto& sender : document["senders"])
    for (const auto& one : sender["way_forward"]) {
      INFO(sender["user"] << " " << one["method"]);
      // Senders already refused need a way forward as much as those that will break.
      const bool runnable = (sender["verdict"] == "will-break" || sender["verdict"] == "refused") &&
                            (one["method"] == "direct-send" || one["method"] == "relay") && one.contains("ip");
      CHECK(one.contains("preflight") == runnable);
      ran += runnable;
    }
  // Will break: app one IP, scanner two; each direct send and relay. The
  // refused sender's sign-ins all failed: its address is not known to be
  // the device's (password spraying), so nothing is checked for it.
  CHECK(ran == 6);

  // In the SPF record, but the SMTP step was never tested: not verified.
  const auto* authorized = way(document, "scanner@contoso.com", "direct-send", "203.0.113.7");
  REQUIRE(authorized);
  CHECK((*authorized)["preflight"]["verdict"] == "not-verified");
  CHECK((*authorized)["preflight"]["exit_code"] == 3);
  // Not in it: a definite finding, whatever else could not be tested.
  const auto* missing = way(document, "scanner@contoso.com", "direct-send", "198.51.100.20");
  REQUIRE(missing);
  CHECK((*missing)["preflight"]["verdict"] == "will-not-work");
  CHECK_THAT((*missing)["preflight"]["summary"].get<std::string>(), Catch::Contains("SPF"));
  // The causes whole, not the one-line summary's shortened form.
  REQUIRE_FALSE((*missing)["preflight"]["causes"].empty());
  for (const auto& cause : (*missing)["preflight"]["causes"]) CHECK_FALSE(cause.get<std::string>().ends_with("..."));
  // Relay is checked from this machine with --ip: a connector here is not the device's.
  const auto* relay = way(document, "scanner@contoso.com", "relay", "203.0.113.7");
  REQUIRE(relay);
  CHECK((*relay)["preflight"]["verdict"] != "will-work");

  bool counted = false;
  for (const auto& check : document["checks"])
    if (check["id"] == "inventory.preflight") {
      counted = true;
      CHECK(check["run"] == 6);
      CHECK(check["will_work"] == 0);
    }
  CHECK(counted);

  // Without --preflight nothing is run and nothing claims to be checked.
  const auto plain = smtp_testing::run_program(base, 60s);
  INFO(plain.err);
  const auto unchecked = nlohmann::json::parse(plain.out);
  for (const auto& sender : unchecked["senders"])
    for (const auto& one : sender["way_forward"]) CHECK_FALSE(one.contains("preflight"));

  // The text says each verdict under its way.
  argv.pop_back();  // --preflight
  argv.pop_back();  // --json
  argv.push_back("--preflight");
  argv.push_back("--no-color");
  const auto text = smtp_testing::run_program(argv, 120s);
  CHECK_THAT(text.out, Catch::Contains("--preflight: WILL NOT WORK:\n           - "));
  CHECK_THAT(text.out, Catch::Contains("--preflight: NOT VERIFIED:\n           - "));
}

TEST_CASE("inventory --preflight with no public source address says it had nothing to check", "[inventory][tools]") {
  fixtures::TemporaryDirectory dir("inventory-preflight-none");
  // The fixture's header and first row, the address made private.
  std::ifstream in(signins);
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  const auto at = row.find(",203.0.113.7,");
  REQUIRE(at != std::string::npos);
  row.replace(at, 13, ",10.1.2.3,");
  const auto file = dir.write("private.csv", header + "\n" + row + "\n");
  const auto run = smtp_testing::run_program(
      {inventory_tool, "--signins", file, "--preflight", "--dns", "127.0.0.1:9", "--timeout", "1", "--json"}, 60s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);  // the sender still breaks
  const auto document = nlohmann::json::parse(run.out);
  bool said = false;
  for (const auto& check : document["checks"])
    if (check["id"] == "inventory.preflight") {
      said = true;
      CHECK(check["run"] == 0);
      CHECK_THAT(check["message"].get<std::string>(), Catch::Contains("nothing to check"));
      CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("sendcheck blocklist --egress"));
    }
  CHECK(said);
  // The way that needs the address says how to find it, and is not run.
  const auto& ways = document["senders"][0]["way_forward"];
  REQUIRE_FALSE(ways.empty());
  CHECK(ways.back()["method"] == "direct-send");
  CHECK_FALSE(ways.back().contains("preflight"));
  CHECK_THAT(ways.back()["why"].get<std::string>(), Catch::Contains("10.1.2.3, which is a private address"));
}
