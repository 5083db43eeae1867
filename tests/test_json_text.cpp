// Report::to_json_text writes JSON by hand for speed; it must stay valid
// JSON whatever a peer put into a message, and equal to the tree form.
#include <catch2/catch.hpp>

#include "diag/report.h"

TEST_CASE("Hand-written JSON parses and equals the tree form", "[report][json]") {
  diag::Report report("sendcheck-test", "9.9");
  report.add({"a.one", diag::Status::pass, "plain", "", {{"domain", "contoso.com"}, {"port", 25}}});
  report.add({"a.two", diag::Status::warn, "quote \" backslash \\ newline \n tab \t bell \x07", "do \"this\"", {}});
  report.add({"a.three", diag::Status::info, "UTF-8: Zürich, 東京, 🙂", "", {}});
  report.fields()["domains"] = nlohmann::json::array({{{"domain", "a"}}, {{"domain", "b"}}});
  report.fields()["empty"] = nlohmann::json::array();
  report.fields()["count"] = 2;

  const auto parsed = nlohmann::json::parse(report.to_json_text());
  CHECK(parsed == report.to_json());
  CHECK(parsed["status"] == "warn");
  CHECK(parsed["checks"][1]["message"] == "quote \" backslash \\ newline \n tab \t bell \x07");
  CHECK(parsed["checks"][0]["port"] == 25);
  CHECK(parsed["empty"].is_array());
}

TEST_CASE("Invalid UTF-8 from a peer becomes U+FFFD, never an exception", "[report][json]") {
  const std::string replacement = "\xEF\xBF\xBD";
  struct Case {
    std::string input, expected;
  };
  const Case cases[] = {
      {"\xff", replacement},                                    // never valid
      {"a\xc3", "a" + replacement},                             // truncated 2-byte sequence
      {"\xc0\xaf", replacement + replacement},                  // overlong "/"
      {"\xe0\x80\xaf", replacement + replacement + replacement},  // overlong 3-byte
      {"\xed\xa0\x80", replacement + replacement + replacement},  // UTF-16 surrogate
      {"\xf4\x90\x80\x80", replacement + replacement + replacement + replacement},  // above U+10FFFF
      {"ok \xe2\x82\xac", "ok \xe2\x82\xac"},                   // the euro sign stays
  };
  for (const auto& test : cases) {
    diag::Report report("t", "1");
    report.add({"x", diag::Status::info, test.input, "", {}});
    INFO(test.expected);
    const auto parsed = nlohmann::json::parse(report.to_json_text());
    CHECK(parsed["checks"][0]["message"] == test.expected);
  }
}

TEST_CASE("JSON text escapes what would act on a terminal, and still means the same", "[report][json]") {
  // ESC, DEL, C1 CSI (U+009B) and RIGHT-TO-LEFT OVERRIDE (U+202E), as a hostile banner sends them.
  const std::string hostile = "220 \x1b]0;title\x07 x\x7f y\xc2\x9b" "2J z\xe2\x80\xae" "gnp.exe";
  diag::Report report("t", "1");
  report.add({"x", diag::Status::info, hostile, "", {{"banner", hostile}, {"nested", {{"lines", {hostile}}}}}});
  report.fields()["sessions"] = nlohmann::json::array({{{"ehlo", hostile}}});
  for (const std::string& text : {report.to_json_text(), diag::json_text(report.to_json())}) {
    INFO(text);
    for (const std::string raw : {"\x1b", "\x07", "\x7f", "\xc2\x9b", "\xe2\x80\xae"}) CHECK(text.find(raw) == std::string::npos);
    CHECK(text.find("\\u009b") != std::string::npos);
    CHECK(text.find("\\u202e") != std::string::npos);
    const auto parsed = nlohmann::json::parse(text);
    CHECK(parsed["checks"][0]["message"] == hostile);
    CHECK(parsed["checks"][0]["nested"]["lines"][0] == hostile);
    CHECK(parsed["sessions"][0]["ehlo"] == hostile);
  }
}
