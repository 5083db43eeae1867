// Every tool test checks its JSON against the schema the package installs
// (schema/sendcheck-TOOL.schema.json), with tests/validate_json.py and
// python3-jsonschema. Without the validator the check is skipped with a
// warning, except under CI=true, where a missing validator is a broken
// setup and fails the test.
#pragma once

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "smtp_test_support.h"

namespace json_schema {

struct Validation {
  bool ran = false;    // false: no validator here (why in `errors`)
  bool valid = false;
  std::string errors;  // the validator's messages
};

// `text` (one JSON document, or JSON Lines) against schema/TOOL.schema.json.
inline Validation validate(const std::string& tool, const std::string& text) {
  using namespace std::chrono_literals;
  static const bool have_python = smtp_testing::have_program("python3");
  if (!have_python) return {false, false, "python3 is not installed (scripts/install-deps --test)"};
  const std::string source = SENDCHECK_SOURCE_DIR;
  const auto run =
      smtp_testing::run_program({"python3", source + "/tests/validate_json.py", source + "/schema", tool}, 60s, {}, text);
  if (run.exit_code == 4) return {false, false, run.err};  // python3-jsonschema is missing
  return {true, run.exit_code == 0, run.err};
}

// Whether the validator can run; when it cannot, false after a warning, or
// a failed test under CI=true.
inline bool validator_runs(const Validation& validation) {
  if (validation.ran) return true;
  if (smtp_testing::in_ci()) FAIL("CI=true but the JSON Schema validator cannot run: " << validation.errors);
  WARN("JSON Schema validation skipped: " << validation.errors);
  return false;
}

// A CHECK that `text` is valid for `tool` ("sendcheck-mx").
inline void check_valid(const std::string& tool, const std::string& text) {
  const auto validation = validate(tool, text);
  if (!validator_runs(validation)) return;
  INFO(tool << " JSON against schema/" << tool << ".schema.json:\n" << validation.errors << "\ndocument:\n" << text.substr(0, 4000));
  CHECK(validation.valid);
}

// The same, for the tool the output names in its "tool" member (of its
// first document, for JSON Lines).
inline void check_valid(const std::string& text) {
  const auto first = text.substr(0, text.find('\n'));
  std::string tool;
  try {
    tool = nlohmann::json::parse(first.empty() ? text : first).value("tool", "");
  } catch (const nlohmann::json::exception&) {
    tool = nlohmann::json::parse(text).value("tool", "");  // one document over several lines
  }
  REQUIRE_FALSE(tool.empty());
  check_valid(tool, text);
}

}  // namespace json_schema
