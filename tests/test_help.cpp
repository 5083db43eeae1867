// Every tool's --help: examples and the meaning of each exit code, and the
// man page documents every option --help lists.
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "fixture_zones.h"
#include "smtp_test_support.h"

using namespace smtp_testing;

namespace {

const std::vector<std::string> tools{"sendcheck-mx",        "sendcheck-spf",    "sendcheck-explain",   "sendcheck-blocklist",
                                     "sendcheck-probe",     "sendcheck-listen", "sendcheck-preflight", "sendcheck-demo",
                                     "sendcheck-inventory"};

// The options in CLI11's help: "  -v,--verbose", "  --port INT", "  -4".
std::set<std::string> options_in_help(const std::string& help) {
  std::set<std::string> options;
  static const std::regex option_line(R"(^\s+((?:-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*)(?:,\s*(?:-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*))*))");
  static const std::regex option(R"(--?[a-z0-9][a-z0-9-]*)", std::regex::icase);
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (!std::regex_search(line, match, option_line)) continue;
    const std::string names = match[1];
    for (std::sregex_iterator it(names.begin(), names.end(), option), end; it != end; ++it) options.insert(it->str());
  }
  return options;
}

// A man page writes "--port" as "\-\-port" and "-4" as "\-4", and may
// switch fonts right before an option ("\fP\-\-zone").
std::string unescaped_man_page(const std::string& tool) {
  std::string text = read_file(fixtures::source_path("man/" + tool + ".1"));
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '-') continue;
    if (text[i] == '\\' && i + 2 < text.size() && text[i + 1] == 'f') {
      out += ' ';
      i += 2;
      continue;
    }
    out += text[i];
  }
  return out;
}

}  // namespace

TEST_CASE("every tool's --help: examples and what exit codes 0 to 3 mean", "[help]") {
  for (const auto& tool : tools) {
    const auto run = run_program({bin_dir + "/" + tool, "--help"});
    INFO(tool << "\n" << run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("Examples:\n  " + tool));
    CHECK_THAT(run.out, Catch::Contains("Exit codes:\n"));
    for (const char* code : {"  1  ", "  2  ", "  3  "}) CHECK_THAT(run.out, Catch::Contains(code));
    if (tool != "sendcheck-demo") CHECK_THAT(run.out, Catch::Contains("  0  "));  // the demo always finds something
  }
  const auto front = run_program({bin_dir + "/sendcheck", "--help"});
  CHECK(front.exit_code == 0);
  CHECK_THAT(front.out, Catch::Contains("Examples:\n  sendcheck "));
  CHECK_THAT(front.out, Catch::Contains("Exit codes:\n  0  "));
}

TEST_CASE("the man page of every tool documents every option its --help lists", "[help]") {
  for (const auto& tool : tools) {
    const auto run = run_program({bin_dir + "/" + tool, "--help"});
    REQUIRE(run.exit_code == 0);
    const auto options = options_in_help(run.out);
    INFO(tool);
    CHECK(options.count("--help") == 1);  // the parse found the option lines
    CHECK(options.size() > 3);
    const std::string man = unescaped_man_page(tool);
    for (const auto& option : options) {
      if (option == "-h" || option == "--help") continue;
      INFO(option);
      // As the word itself: "--zone" does not count for "--zone-origin".
      const std::regex word("(^|[^A-Za-z0-9-])" + option + "($|[^A-Za-z0-9-])");
      CHECK(std::regex_search(man, word));
    }
  }
}
