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
