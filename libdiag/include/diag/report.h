// What every tool reports: a list of checks, each with a status, a message
// and a remedy, rendered as text for people or as the JSON contract
// {"tool","version","status","checks":[...], ...tool fields}.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace diag {

// Ordered from best to worst; a report's status is the worst of its checks.
// info (a fact, no verdict) ranks below pass, so a run of passes and facts
// is a pass. error (could not complete) ranks above fail: a partial run
// cannot claim to have found everything.
enum class Status { info, pass, warn, fail, error };
std::string_view to_string(Status status);

// Exit codes shared by every tool (documented in each man page).
enum ExitCode : int {
  exit_ok = 0,          // all checks passed (warnings allowed)
  exit_finding = 1,     // a check failed: a real finding
  exit_usage = 2,       // usage error or bad input
  exit_incomplete = 3,  // could not complete: timeout, resolver or network failure
};
ExitCode exit_code_for(Status status);

// When this run started, as RFC 3339 UTC ("2026-12-02T12:06:34Z"): the
// "time" member of every tool's JSON envelope.
std::string run_started_rfc3339();

// The one shape of a verdict in every tool's JSON (preflight's "verdict",
// each listen session's "verdict"): {"verdict": KIND, "outcome": "works" |
// "breaks" | "unknown", "summary": one sentence, "exit_code": 0 | 1 | 3}.
// KIND is the tool's own word ("will-work", "basic-auth"); outcome is the
// same three words everywhere, so a script can act on any tool's verdict.
enum class VerdictOutcome { works, breaks, unknown };
std::string_view to_string(VerdictOutcome outcome);  // "works", "breaks", "unknown"
nlohmann::json verdict_json(std::string_view kind, VerdictOutcome outcome, std::string_view summary);

struct Check {
  std::string id;       // stable, dotted: "mx.host-resolves"
  Status status = Status::info;
  std::string message;  // what we found, one sentence
  std::string remedy;   // what to do about it, in an admin's words; empty for pass/info
  nlohmann::json fields = nlohmann::json::object();  // extra JSON members ("domain", "host", ...)
};

class Report {
 public:
  Report(std::string tool, std::string version) : tool_(std::move(tool)), version_(std::move(version)) {}

  Check& add(Check check);
  void reserve(std::size_t checks) { checks_.reserve(checks); }
  const std::vector<Check>& checks() const { return checks_; }
  // The worst status of all checks; info when there are none or all are info.
  Status status() const;
  // A definite finding outranks a check that could not complete: 1 when any
  // check failed, else 3 when any could not complete, else 0. A listed IP is
  // acted on whatever another blocklist's timeout says.
  ExitCode exit_code() const;
  // The tool's own top-level JSON members ("domains", "queries", ...).
  nlohmann::json& fields() { return fields_; }
  const nlohmann::json& fields() const { return fields_; }

  nlohmann::json to_json() const;
  // The same document as text, one check or array element a line, built
  // element by element so that a run over 10,000 domains never holds a
  // second copy of everything as a JSON tree. Invalid UTF-8 from hostile
  // peers is replaced, never thrown.
  // extra_fields (an object) are written as if they were fields() and win
  // over them: the query log is added without copying the whole report.
  std::string to_json_text(const nlohmann::json& extra_fields = nlohmann::json()) const;

 private:
  std::string tool_, version_;
  std::vector<Check> checks_;
  nlohmann::json fields_ = nlohmann::json::object();
};

// A JSON value as one line of text, as every tool prints it: invalid UTF-8
// replaced, and control characters, C1 controls and bidirectional overrides
// escaped (\uXXXX), so that a peer's text cannot act on a terminal.
std::string json_text(const nlohmann::json& value);

// Terminal styling: on only for a terminal, and never with NO_COLOR set
// (https://no-color.org) or --no-color.
struct TextStyle {
  bool color = false;
  static TextStyle for_stream(std::FILE* stream, bool no_color_option);
  std::string status_label(Status status) const;  // "PASS", "FAIL", ... padded, colored
  std::string colored(Status status, std::string_view text) const;  // text in the status's color
  std::string bold(std::string_view text) const;
  std::string dim(std::string_view text) const;
};

// The checks as text, one line each with its remedy below it.
std::string render_checks_text(const std::vector<Check>& checks, const TextStyle& style, std::string_view indent = "");

}  // namespace diag
