// What the sendcheck-preflight tests share: a local stand-in for the MX
// (our SMTP server with the test CA's certificate), the fixtures, and
// reading the tool's JSON.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "diag/zone.h"
#include "dns_test_server.h"
#include "fixture_zones.h"
#include "json_schema.h"
#include "smtp_test_support.h"

namespace preflight_testing {

using namespace smtp_testing;
using namespace std::chrono_literals;

inline const std::string preflight_tool = bin_dir + "/sendcheck-preflight";
inline const std::string zone = fixtures::source_path("fixtures/preflight/preflight.zone");
inline const std::string lists = fixtures::source_path("fixtures/demo/blocklists.zone");

struct Mx {
  std::unique_ptr<diag::smtp::SmtpServer> server;
  TempDir dir;
  std::string ca_file;
};

inline std::unique_ptr<Mx> serve(diag::smtp::ServerConfig config) {
  auto running = std::make_unique<Mx>();
  config.credentials = server_credentials("mail.sendcheck.test");
  config.command_timeout = 3000ms;
  running->server = start_server(std::move(config));
  running->ca_file = running->dir.file("ca.pem", pki().ca_pem);
  return running;
}

inline std::unique_ptr<Mx> serve(diag::smtp::ServerProfile profile) {
  diag::smtp::ServerConfig config;
  config.profile = std::move(profile);
  return serve(std::move(config));
}

// What --egress asks (OpenDNS's myip.opendns.com, Google's
// o-o.myaddr.l.google.com TXT), answered with the addresses this machine
// is to be seen from: a test then runs "on the device's network"
// (--egress --egress-dns endpoint).
inline std::unique_ptr<sendcheck::testing::DnsTestServer> serve_egress(const std::vector<std::string>& addresses) {
  std::string zone_text = "$TTL 60\n$ORIGIN opendns.com.\n";
  for (const auto& address : addresses) zone_text += "myip IN " + std::string(address.find(':') == std::string::npos ? "A " : "AAAA ") + address + "\n";
  zone_text += "$ORIGIN l.google.com.\no-o.myaddr IN TXT \"" + addresses.front() + "\"\n";
  auto parsed = diag::dns::parse_zone_text(zone_text, "egress.zone");
  REQUIRE(parsed);
  sendcheck::testing::DnsTestServerConfig config;
  config.zones.add(std::move(parsed).value());
  auto started = sendcheck::testing::DnsTestServer::start(std::move(config));
  REQUIRE(started);
  return std::move(started).value();
}

inline nlohmann::json parse(const RunResult& run) {
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE_FALSE(run.out.empty());
  json_schema::check_valid(run.out);
  return nlohmann::json::parse(run.out);
}

inline const nlohmann::json* find_check(const nlohmann::json& document, const std::string& id) {
  for (const auto& check : document["checks"])
    if (check["id"] == id) return &check;
  return nullptr;
}

// The RCPT TO check of one recipient: every recipient has the id
// "smtp.rcpt", told apart by "recipient".
inline const nlohmann::json* find_rcpt_check(const nlohmann::json& document, const std::string& recipient) {
  for (const auto& check : document["checks"])
    if (check["id"] == "smtp.rcpt" && check.value("recipient", "") == recipient) return &check;
  return nullptr;
}

// "(missing)" when the run has no such check, so a CHECK on it fails visibly.
inline std::string status_of(const nlohmann::json& document, const std::string& id) {
  const auto* check = find_check(document, id);
  return check ? (*check)["status"].get<std::string>() : "(missing)";
}

}  // namespace preflight_testing
