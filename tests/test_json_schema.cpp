// The JSON contract written down: schema/ holds a JSON Schema per tool
// (sendcheck-TOOL.schema.json, the envelope shared through $ref), the
// package installs it, and the tool tests validate their output against it
// (tests/support/json_schema.h). Here: every tool has one, every tool's
// --json usage error fits it, and the validator refuses documents that
// break the contract, so a passing validation means something.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "json_schema.h"
#include "smtp_test_support.h"

using namespace smtp_testing;

namespace {

const std::string schema_dir = std::string(SENDCHECK_SOURCE_DIR) + "/schema";

std::vector<std::string> tool_binaries() {
  std::vector<std::string> tools;
  for (const auto& entry : std::filesystem::directory_iterator(bin_dir)) {
    const auto name = entry.path().filename().string();
    if (name == "sendcheck" || name.rfind("sendcheck-", 0) == 0) tools.push_back(name);
  }
  return tools;
}

// A document valid for sendcheck-preflight, to break one member at a time.
nlohmann::json preflight_document() {
  return nlohmann::json::parse(R"({"tool": "sendcheck-preflight", "version": "0.1.0", "time": "2026-12-02T12:06:34Z",
    "status": "fail", "checks": [{"id": "spf.result", "status": "fail", "message": "Mail from 203.0.113.40 fails SPF.",
    "remedy": "Add ip4:203.0.113.40 to the SPF record.", "section": "spf"}],
    "method": "direct-send", "domain": "contoso.example", "ip": "203.0.113.40", "from": "scanner@contoso.example",
    "to": ["frontdesk@contoso.example"], "external_recipients": [],
    "verdict": {"verdict": "will-not-work", "outcome": "breaks", "summary": "Direct send will not work: SPF fail",
                "exit_code": 1, "causes": [{"id": "spf", "state": "failed", "why": "SPF fail"}], "untested": [],
                "steps": [{"id": "spf", "state": "failed", "why": "SPF fail"}]},
    "next_steps": [{"id": "spf.result", "section": "spf", "remedy": "Add ip4:203.0.113.40 to the SPF record."}],
    "spf_record": "v=spf1 ip4:203.0.113.40 -all", "smtp": {"target": null}})");
}

}  // namespace

TEST_CASE("schema: every tool has a JSON Schema, each a valid draft 2020-12 schema", "[schema]") {
  for (const auto& tool : tool_binaries()) {
    INFO(tool);
    CHECK(std::filesystem::is_regular_file(schema_dir + "/" + tool + ".schema.json"));
  }
  CHECK(std::filesystem::is_regular_file(schema_dir + "/sendcheck-envelope.schema.json"));
  // validate_json.py checks the schema itself first (check_schema).
  const auto document = preflight_document().dump();
  const auto validation = json_schema::validate("sendcheck-preflight", document);
  if (!json_schema::validator_runs(validation)) return;
  INFO(validation.errors);
  CHECK(validation.valid);
}

TEST_CASE("schema: every tool's --json usage error is the envelope with status error", "[schema]") {
  for (const auto& tool : tool_binaries()) {
    if (tool == "sendcheck-testdns") continue;
    const auto run = run_program({bin_dir + "/" + tool, "--json", "--no-such-option"});
    INFO(tool << " exit " << run.exit_code << "\n" << run.out << run.err);
    CHECK(run.exit_code == 2);
    REQUIRE_FALSE(run.out.empty());
    CHECK(nlohmann::json::parse(run.out)["status"] == "error");
    json_schema::check_valid(tool, run.out);
  }
  // The front end's own error: an unknown tool.
  const auto unknown = run_program({bin_dir + "/sendcheck", "prefligth", "--json"});
  INFO(unknown.out << unknown.err);
  CHECK(unknown.exit_code == 2);
  json_schema::check_valid("sendcheck", unknown.out);
}

TEST_CASE("schema: the validator refuses what breaks the contract", "[schema]") {
  if (!json_schema::validator_runs(json_schema::validate("sendcheck-preflight", preflight_document().dump()))) return;
  struct Broken {
    std::string what;
    std::function<void(nlohmann::json&)> change;
  };
  const std::vector<Broken> cases = {
      {"no time", [](nlohmann::json& d) { d.erase("time"); }},
      {"a time that is not RFC 3339", [](nlohmann::json& d) { d["time"] = "Wed Dec  2 12:06:34 2026"; }},
      {"an unknown status", [](nlohmann::json& d) { d["status"] = "ok"; }},
      {"a check without remedy", [](nlohmann::json& d) { d["checks"][0].erase("remedy"); }},
      {"a check id that is not dotted lower case", [](nlohmann::json& d) { d["checks"][0]["id"] = "SPF result"; }},
      {"a check id of another tool's family", [](nlohmann::json& d) { d["checks"][0]["id"] = "listen.device"; }},
      {"a url that is not a web address", [](nlohmann::json& d) { d["checks"][0]["url"] = "m365-facts 3.7"; }},
      {"next_steps as strings", [](nlohmann::json& d) { d["next_steps"] = {"Add ip4:203.0.113.40"}; }},
      {"a verdict whose outcome and exit code disagree", [](nlohmann::json& d) { d["verdict"]["exit_code"] = 0; }},
      {"a verdict without outcome", [](nlohmann::json& d) { d["verdict"].erase("outcome"); }},
      {"a member the schema does not name", [](nlohmann::json& d) { d["verdict_text"] = "WILL NOT WORK"; }},
      {"an error document with checks", [](nlohmann::json& d) { d["error"] = "bad input"; d["status"] = "error"; }},
      {"the wrong tool", [](nlohmann::json& d) { d["tool"] = "sendcheck-mx"; }},
  };
  for (const auto& broken : cases) {
    auto document = preflight_document();
    broken.change(document);
    const auto validation = json_schema::validate("sendcheck-preflight", document.dump());
    INFO(broken.what << ": " << validation.errors);
    CHECK(validation.ran);
    CHECK_FALSE(validation.valid);
  }
}
