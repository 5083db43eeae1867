// What every tool reports: statuses and their order, exit codes, the JSON
// contract {"tool","version","status","checks":[...]}, and when text is
// colored (a terminal only, never with NO_COLOR or --no-color).
#include <pty.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>

#include "diag/report.h"
#include "smtp_test_support.h"

using diag::Check;
using diag::Report;
using diag::Status;
using diag::TextStyle;
using smtp_testing::ScopedEnvironment;

namespace {


// A pseudo-terminal whose slave side is open as a FILE*: isatty() is true.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    int master = -1, slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    master_ = master;
    stream_ = ::fdopen(slave, "w");
    REQUIRE(stream_ != nullptr);
  }
  ~PseudoTerminal() {
    if (stream_) std::fclose(stream_);
    if (master_ >= 0) ::close(master_);
  }
  PseudoTerminal(const PseudoTerminal&) = delete;
  PseudoTerminal& operator=(const PseudoTerminal&) = delete;

  std::FILE* stream() const { return stream_; }

 private:
  int master_ = -1;
  std::FILE* stream_ = nullptr;
};

Check check(std::string id, Status status, std::string remedy = "") {
  return Check{std::move(id), status, "message of " + std::string(diag::to_string(status)), std::move(remedy)};
}

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

}  // namespace

TEST_CASE("status names", "[report]") {
  CHECK(diag::to_string(Status::pass) == "pass");
  CHECK(diag::to_string(Status::info) == "info");
  CHECK(diag::to_string(Status::warn) == "warn");
  CHECK(diag::to_string(Status::fail) == "fail");
  CHECK(diag::to_string(Status::error) == "error");
}

TEST_CASE("a report's status is the worst of its checks: info < pass < warn < fail < error", "[report]") {
  const Status order[] = {Status::info, Status::pass, Status::warn, Status::fail, Status::error};
  for (std::size_t worst = 0; worst < std::size(order); ++worst) {
    INFO("worst " << diag::to_string(order[worst]));
    // Every status up to the worst, in both orders: the order of checks does not matter.
    Report forward("t", "1");
    Report backward("t", "1");
    for (std::size_t i = 0; i <= worst; ++i) {
      forward.add(check("c" + std::to_string(i), order[i]));
      backward.add(check("c" + std::to_string(i), order[worst - i]));
    }
    CHECK(forward.status() == order[worst]);
    CHECK(backward.status() == order[worst]);
  }
  // error outranks fail: a run that could not complete cannot claim to have found everything.
  Report partial("t", "1");
  partial.add(check("a", Status::fail));
  partial.add(check("b", Status::error));
  partial.add(check("c", Status::pass));
  CHECK(partial.status() == Status::error);
  // ...but a definite finding outranks an incomplete check in the exit code: 1 beats 3.
  CHECK(partial.exit_code() == diag::exit_finding);
}

TEST_CASE("a report without checks is info and exits 0", "[report]") {
  Report empty("t", "1");
  CHECK(empty.status() == Status::info);
  CHECK(empty.exit_code() == diag::exit_ok);
  const auto json = empty.to_json();
  CHECK(json["status"] == "info");
  CHECK(json["checks"].is_array());
  CHECK(json["checks"].empty());
}

TEST_CASE("exit codes: 0 ok (warnings allowed), 1 finding, 3 could not complete", "[report]") {
  CHECK(diag::exit_code_for(Status::pass) == 0);
  CHECK(diag::exit_code_for(Status::info) == 0);
  CHECK(diag::exit_code_for(Status::warn) == 0);
  CHECK(diag::exit_code_for(Status::fail) == 1);
  CHECK(diag::exit_code_for(Status::error) == 3);
  CHECK(diag::exit_ok == 0);
  CHECK(diag::exit_finding == 1);
  CHECK(diag::exit_usage == 2);
  CHECK(diag::exit_incomplete == 3);

  Report report("t", "1");
  report.add(check("a", Status::warn));
  CHECK(report.exit_code() == diag::exit_ok);
  report.add(check("b", Status::fail));
  CHECK(report.exit_code() == diag::exit_finding);
}

TEST_CASE("exit codes: a definite finding outranks a check that could not complete", "[report]") {
  Report report("t", "1");
  report.add(check("timed-out", Status::error));
  CHECK(report.exit_code() == diag::exit_incomplete);
  report.add(check("listed", Status::fail));
  // 1 beats 3, in either order; the status stays the worst of the checks.
  CHECK(report.exit_code() == diag::exit_finding);
  CHECK(report.status() == Status::error);
  Report reversed("t", "1");
  reversed.add(check("listed", Status::fail));
  reversed.add(check("timed-out", Status::error));
  CHECK(reversed.exit_code() == diag::exit_finding);
}

TEST_CASE("the JSON envelope's time is when the run started, in RFC 3339 UTC", "[report]") {
  const auto time = diag::run_started_rfc3339();
  REQUIRE(time.size() == 20);
  CHECK(time[4] == '-');
  CHECK(time[10] == 'T');
  CHECK(time.back() == 'Z');
  CHECK(time >= "2026-01-01T00:00:00Z");
  // The same moment every time it is asked: when the run started.
  CHECK(diag::run_started_rfc3339() == time);
  CHECK(Report("t", "1").to_json()["time"] == time);
}

TEST_CASE("Report::to_json: the contract's keys, extra fields after them", "[report]") {
  Report report("sendcheck-test", "9.8.7");
  Check with_fields = check("mx.host-resolves", Status::fail, "Fix it.");
  with_fields.fields["domain"] = "contoso.com";
  with_fields.fields["host"] = "mx.contoso.com";
  report.add(with_fields);
  report.add(check("mx.lookup", Status::pass));
  report.fields()["domains"] = nlohmann::json::array({{{"domain", "contoso.com"}}});

  const auto json = report.to_json();
  CHECK(keys_of(json) == std::set<std::string>{"tool", "version", "time", "status", "checks", "domains"});
  CHECK(json["tool"] == "sendcheck-test");
  CHECK(json["version"] == "9.8.7");
  CHECK(json["status"] == "fail");
  REQUIRE(json["checks"].size() == 2);

  const auto& first = json["checks"][0];
  CHECK(keys_of(first) == std::set<std::string>{"id", "status", "message", "remedy", "domain", "host"});
  CHECK(first["id"] == "mx.host-resolves");
  CHECK(first["status"] == "fail");
  CHECK(first["message"] == "message of fail");
  CHECK(first["remedy"] == "Fix it.");
  CHECK(first["domain"] == "contoso.com");
  CHECK(first["host"] == "mx.contoso.com");

  // Every check carries all four keys; an empty remedy is "", not missing.
  const auto& second = json["checks"][1];
  CHECK(keys_of(second) == std::set<std::string>{"id", "status", "message", "remedy"});
  CHECK(second["remedy"] == "");
  CHECK(json["domains"][0]["domain"] == "contoso.com");

  // Checks keep the order they were added in.
  CHECK(report.checks().at(0).id == "mx.host-resolves");
  CHECK(report.checks().at(1).id == "mx.lookup");
  // The document survives a round trip through text.
  CHECK(nlohmann::json::parse(json.dump()) == json);
}

TEST_CASE("Report::to_json_text is the same document as to_json", "[report]") {
  Report report("sendcheck-test", "1.2.3");
  Check first = check("a.one", Status::warn, "Remedy with \"quotes\", a \\ backslash,\na newline and a\ttab.");
  first.fields["domain"] = "contoso.com";
  first.fields["port"] = 25;
  first.fields["addresses"] = nlohmann::json::array({"192.0.2.1", "2001:db8::1"});
  first.fields["cname"] = nullptr;
  report.add(first);
  report.add(check("a.two", Status::pass));
  Check control = check("a.three", Status::info);
  control.message = std::string("bell \x07, escape \x1b, nul ") + '\0' + " and DEL \x7f";
  report.add(control);
  report.fields()["domains"] = nlohmann::json::array({{{"domain", "contoso.com"}, {"match", "exact"}},
                                                      {{"domain", "fabrikam.com"}, {"match", nullptr}}});
  report.fields()["empty"] = nlohmann::json::array();
  report.fields()["queries"] = nlohmann::json::array({{{"name", "contoso.com"}, {"elapsed_ms", 1.5}}});

  const std::string text = report.to_json_text();
  nlohmann::json parsed;
  REQUIRE_NOTHROW(parsed = nlohmann::json::parse(text));
  CHECK(parsed == report.to_json());
  CHECK(parsed["checks"][2]["message"] == control.message);
  CHECK_THAT(text, Catch::EndsWith("}\n"));
  // One check a line: a long report can be read (and grepped) line by line.
  for (const char* id : {"a.one", "a.two", "a.three"}) {
    const auto at = text.find(std::string("{\"id\": \"") + id + "\"");
    REQUIRE(at != std::string::npos);
    CHECK(text[at - 1] == '\n');
  }
  CHECK(text.find('\t') == std::string::npos);  // escaped, not raw
  CHECK(text.find('\x1b') == std::string::npos);

  Report empty("t", "1");
  CHECK(nlohmann::json::parse(empty.to_json_text()) == empty.to_json());
}

TEST_CASE("Report::to_json_text replaces invalid UTF-8 instead of throwing", "[report]") {
  Report report("t", "1");
  Check hostile = check("smtp.banner", Status::info);
  // A stray continuation byte, an overlong "/", a surrogate, a byte that
  // never appears in UTF-8, a sequence cut short at the end; then valid
  // two-, three- and four-byte characters that must survive.
  hostile.message = "a\x80" "b \xc0\xaf \xed\xa0\x80 \xff \xe2\x82";
  hostile.remedy = "M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x93\xa7";
  hostile.fields["banner"] = "220 \xfe\xff ESMTP";
  report.add(hostile);
  std::string text;
  REQUIRE_NOTHROW(text = report.to_json_text());
  nlohmann::json parsed;
  REQUIRE_NOTHROW(parsed = nlohmann::json::parse(text));
  const std::string replacement = "\xef\xbf\xbd";  // U+FFFD
  const std::string message = parsed["checks"][0]["message"];
  CHECK_THAT(message, Catch::StartsWith("a" + replacement + "b "));
  CHECK_THAT(message, Catch::Contains(replacement));
  CHECK(message.find('\xff') == std::string::npos);
  CHECK(parsed["checks"][0]["remedy"] == hostile.remedy);
  CHECK_THAT(parsed["checks"][0]["banner"].get<std::string>(), Catch::Contains(replacement));
}

TEST_CASE("extra fields cannot overwrite the contract's keys", "[report]") {
  // BUG (libdiag/src/report/report.cpp): to_json_text() skips top-level
  // fields named tool/version/status/checks, but to_json() copies them over
  // the computed values, so the two "same document" renderings disagree;
  // and a check field named id/status/message/remedy replaces the real
  // value in to_json() and becomes a duplicate key in to_json_text().
  Report report("sendcheck-test", "1.0");
  Check clash = check("real.id", Status::fail, "Real remedy.");
  clash.fields["status"] = "pass";
  clash.fields["id"] = "fake.id";
  report.add(clash);
  report.fields()["status"] = "pass";
  report.fields()["tool"] = "other-tool";

  for (const auto& document : {report.to_json(), nlohmann::json::parse(report.to_json_text())}) {
    INFO(document.dump());
    CHECK(document["tool"] == "sendcheck-test");
    CHECK(document["status"] == "fail");
    CHECK(document["checks"][0]["id"] == "real.id");
    CHECK(document["checks"][0]["status"] == "fail");
  }
  const std::string text = report.to_json_text();
  CHECK(text.find("\"fake.id\"") == std::string::npos);
}

TEST_CASE("Report::add returns the stored check for more fields", "[report]") {
  Report report("t", "1");
  report.add(check("a", Status::info)).fields["extra"] = 42;
  CHECK(report.to_json()["checks"][0]["extra"] == 42);
}

TEST_CASE("TextStyle: status labels are padded to one width, plain without color", "[report]") {
  const TextStyle plain;
  CHECK_FALSE(plain.color);
  CHECK(plain.status_label(Status::pass) == "PASS ");
  CHECK(plain.status_label(Status::info) == "INFO ");
  CHECK(plain.status_label(Status::warn) == "WARN ");
  CHECK(plain.status_label(Status::fail) == "FAIL ");
  CHECK(plain.status_label(Status::error) == "ERROR");
  CHECK(plain.bold("x") == "x");
  CHECK(plain.dim("x") == "x");

  TextStyle color;
  color.color = true;
  for (const auto status : {Status::pass, Status::info, Status::warn, Status::fail, Status::error}) {
    const std::string label = color.status_label(status);
    INFO(label);
    CHECK(label.rfind("\x1b[", 0) == 0);
    CHECK_THAT(label, Catch::EndsWith("\x1b[0m"));
    CHECK_THAT(label, Catch::Contains(plain.status_label(status)));
  }
  CHECK(color.bold("x") == "\x1b[1mx\x1b[0m");
  CHECK(color.dim("x") == "\x1b[2mx\x1b[0m");
}

TEST_CASE("render_checks_text: one line a check, the remedy below it", "[report]") {
  const std::vector<Check> checks = {check("a", Status::pass), check("b", Status::fail, "Do this.")};
  CHECK(diag::render_checks_text(checks, TextStyle{}, "  ") ==
        "  PASS  message of pass\n"
        "  FAIL  message of fail\n"
        "        -> Do this.\n");
  CHECK(diag::render_checks_text({}, TextStyle{}).empty());
}

TEST_CASE("TextStyle::for_stream: color only on a terminal, never with NO_COLOR or --no-color", "[report]") {
  SECTION("not a terminal: no color, whatever the environment") {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    {
      ScopedEnvironment unset("NO_COLOR", std::nullopt);
      CHECK_FALSE(TextStyle::for_stream(file, false).color);
      CHECK_FALSE(TextStyle::for_stream(file, true).color);
    }
    {
      ScopedEnvironment set("NO_COLOR", "1");
      CHECK_FALSE(TextStyle::for_stream(file, false).color);
    }
    std::fclose(file);
  }
  SECTION("a terminal") {
    PseudoTerminal terminal;
    REQUIRE(::isatty(::fileno(terminal.stream())));
    {
      ScopedEnvironment unset("NO_COLOR", std::nullopt);
      CHECK(TextStyle::for_stream(terminal.stream(), false).color);
      CHECK_FALSE(TextStyle::for_stream(terminal.stream(), true).color);  // --no-color
    }
    for (const char* value : {"1", "0", "true", "anything"}) {
      INFO("NO_COLOR=" << value);
      ScopedEnvironment set("NO_COLOR", std::string(value));
      CHECK_FALSE(TextStyle::for_stream(terminal.stream(), false).color);
      CHECK_FALSE(TextStyle::for_stream(terminal.stream(), true).color);
    }
    {
      // https://no-color.org: only a non-empty NO_COLOR turns color off.
      ScopedEnvironment empty("NO_COLOR", std::string());
      CHECK(TextStyle::for_stream(terminal.stream(), false).color);
    }
  }
}
