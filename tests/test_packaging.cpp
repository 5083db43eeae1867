// Packaging: the bash completion (packaging/bash-completion/sendcheck) run in
// a real bash against the built tools, and the Debian package that `cpack -G
// DEB` makes from this build tree, read back with dpkg-deb. The package test
// takes about half a minute, so it is hidden from the ordinary run and has a
// ctest test of its own with the label "package" (tests/CMakeLists.txt).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "diag/version.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

using namespace std::chrono_literals;

namespace {

const std::string source_dir = SENDCHECK_SOURCE_DIR;
const std::string completion_script = source_dir + "/packaging/bash-completion/sendcheck";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// The tools in a bin directory, as "mx", "spf", ... (sendcheck-* files).
std::vector<std::string> tool_names_in(const std::string& bin) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(bin)) {
    const auto file = entry.path().filename().string();
    if (file.rfind("sendcheck-", 0) == 0) names.push_back(file.substr(std::string("sendcheck-").size()));
  }
  return names;
}

// COMPREPLY after sourcing `script` in bash with `bin` first on PATH and the
// command line `words` (the last one is the word being completed), as bash
// calls a completion function when Tab is pressed.
std::vector<std::string> complete(const std::string& bin, const std::string& script,
                                  const std::vector<std::string>& words) {
  std::vector<std::string> argv = {"bash", "--norc", "--noprofile", "-c",
                                   "PATH=\"$1:$PATH\"; source \"$2\" || exit 3; shift 2\n"
                                   "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}\n"
                                   "_sendcheck || exit 4\n"
                                   "printf '%s\\n' \"${COMPREPLY[@]}\"",
                                   "bash", bin, script};
  argv.insert(argv.end(), words.begin(), words.end());
  const auto result = smtp_testing::run_program(argv);
  INFO("bash completion of \"" << words.back() << "\" exit " << result.exit_code << "\n" << result.out << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  auto replies = lines_of(result.out);
  replies.erase(std::remove(replies.begin(), replies.end(), ""), replies.end());
  return replies;
}

// The checks a user of the completion relies on, against the tools in `bin`.
void check_completion(const std::string& bin, const std::string& script) {
  const auto tools = complete(bin, script, {"sendcheck", ""});
  INFO("sendcheck <TAB>: " << Catch::Detail::stringify(tools));
  CHECK(contains(tools, "mx"));
  CHECK(contains(tools, "preflight"));
  for (const auto& name : tool_names_in(bin)) CHECK(contains(tools, name));
  CHECK(complete(bin, script, {"sendcheck", "pre"}) == std::vector<std::string>{"preflight"});

  CHECK(complete(bin, script, {"sendcheck-mx", "--j"}) == std::vector<std::string>{"--json"});
  CHECK(complete(bin, script, {"sendcheck", "mx", "--j"}) == std::vector<std::string>{"--json"});
  // Options come from the tool's own --help: preflight has its own.
  CHECK(complete(bin, script, {"sendcheck", "preflight", "--meth"}) == std::vector<std::string>{"--method"});
  CHECK(complete(bin, script, {"sendcheck-preflight", "--meth"}) == std::vector<std::string>{"--method"});
  CHECK(contains(complete(bin, script, {"sendcheck-spf", "--"}), "--suggest"));
}

}  // namespace

TEST_CASE("bash completion: tool names after sendcheck, each tool's long options after it", "[packaging]") {
  check_completion(smtp_testing::bin_dir, completion_script);
}

TEST_CASE("bash completion: an option whose value is a FILE completes file names", "[packaging]") {
  const fixtures::TemporaryDirectory directory("completion");
  const auto zone = directory.write("what-if.zone", "");
  CHECK(complete(smtp_testing::bin_dir, completion_script, {"sendcheck-mx", "--zone", directory.path("what")}) ==
        std::vector<std::string>{zone});
  CHECK(complete(smtp_testing::bin_dir, completion_script, {"sendcheck", "mx", "--zone", directory.path("what")}) ==
        std::vector<std::string>{zone});
  // A value that is not a file (SECONDS) gets no suggestions at all.
  CHECK(complete(smtp_testing::bin_dir, completion_script, {"sendcheck-mx", "--timeout", ""}).empty());
}

TEST_CASE("bash completion: the script registers sendcheck and every sendcheck-TOOL on PATH", "[packaging]") {
  const auto result = smtp_testing::run_program(
      {"bash", "--norc", "--noprofile", "-c", "PATH=\"$1:$PATH\"; source \"$2\" && complete -p", "bash",
       smtp_testing::bin_dir, completion_script});
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  const auto registered = lines_of(result.out);
  CHECK(contains(registered, "complete -F _sendcheck sendcheck"));
  for (const auto& name : tool_names_in(smtp_testing::bin_dir))
    CHECK(contains(registered, "complete -F _sendcheck sendcheck-" + name));
}

TEST_CASE("cmake --install into a DESTDIR: the demo runs from any directory, the schemas are there", "[packaging]") {
  const fixtures::TemporaryDirectory out("install");
  const auto install = smtp_testing::run_program(
      {SENDCHECK_CMAKE_COMMAND, "--install", SENDCHECK_BINARY_DIR, "--prefix", "/usr"}, 120s, {"DESTDIR=" + out.path()});
  INFO("cmake --install exit " << install.exit_code << "\n" << install.out << install.err);
  REQUIRE(install.exit_code == 0);
  const std::string usr = out.path("usr");
  for (const auto& schema : std::filesystem::directory_iterator(source_dir + "/schema"))
    CHECK(std::filesystem::is_regular_file(usr + "/share/sendcheck/schema/" + schema.path().filename().string()));
  CHECK(std::filesystem::is_regular_file(usr + "/share/sendcheck/demo/demo.zone"));
  // From the root directory, far from the source and build trees: the
  // demo finds its data relative to the program (../share/sendcheck/demo).
  const auto demo = smtp_testing::run_program({"sh", "-c", "cd / && exec \"$0\" demo --no-color", usr + "/bin/sendcheck"}, 60s);
  INFO("sendcheck demo exit " << demo.exit_code << "\n" << demo.out << demo.err);
  CHECK(demo.exit_code == 1);  // the demo's scanner is missing from SPF: a finding
  CHECK_THAT(demo.out, Catch::Contains("WILL NOT WORK"));
  CHECK_THAT(demo.out, Catch::Contains("northwind-traders.example"));
  CHECK(demo.err.empty());
  // The installed schema validates what the installed tool prints.
  const auto json = smtp_testing::run_program({"sh", "-c", "cd / && exec \"$0\" --json", usr + "/bin/sendcheck-demo"}, 60s);
  INFO(json.out << json.err);
  CHECK(json.exit_code == 1);
  if (smtp_testing::have_program("python3")) {
    const auto valid = smtp_testing::run_program({"python3", source_dir + "/tests/validate_json.py", usr + "/share/sendcheck/schema",
                                                  "sendcheck-demo"}, 60s, {}, json.out);
    INFO(valid.err);
    if (valid.exit_code == 4 && !testing_support::in_ci()) WARN("python3-jsonschema is not installed: the installed schema is not checked");
    else CHECK(valid.exit_code == 0);
  }
}

TEST_CASE("cpack -G DEB: the package installs tools, man pages and completions, and depends on its libraries",
          "[.][package]") {
  if (auto missing = smtp_testing::peer_missing({"dpkg-deb", "dpkg-shlibdeps", "file"}))
    return smtp_testing::skip_or_fail(*missing + ": it installs with dpkg-dev and file");
  const fixtures::TemporaryDirectory out("deb");
  const auto cpack = smtp_testing::run_program(
      {SENDCHECK_CPACK_COMMAND, "-G", "DEB", "--config", std::string(SENDCHECK_BINARY_DIR) + "/CPackConfig.cmake", "-B",
       out.path()},
      300s);
  INFO("cpack exit " << cpack.exit_code << "\n" << cpack.out << cpack.err);
  REQUIRE(cpack.exit_code == 0);
  std::vector<std::string> packages;  // sendcheck_0.1.0_amd64.deb, named by the architecture
  for (const auto& entry : std::filesystem::directory_iterator(out.path()))
    if (entry.path().extension() == ".deb") packages.push_back(entry.path().string());
  REQUIRE(packages.size() == 1);
  const std::string package = packages.front();
  const auto architecture = lines_of(smtp_testing::run_program({"dpkg", "--print-architecture"}).out).at(0);
  CHECK_THAT(package, Catch::EndsWith("/sendcheck_" + std::string(diag::version) + "_" + architecture + ".deb"));

  const auto control = smtp_testing::run_program({"dpkg-deb", "-f", package});
  INFO("control:\n" << control.out << control.err);
  REQUIRE(control.exit_code == 0);
  const auto fields = lines_of(control.out);
  CHECK(contains(fields, "Package: sendcheck"));
  CHECK(contains(fields, "Version: " + std::string(diag::version)));
  CHECK(contains(fields, "Section: net"));
  const auto depends = std::find_if(fields.begin(), fields.end(),
                                    [](const std::string& field) { return field.rfind("Depends: ", 0) == 0; });
  REQUIRE(depends != fields.end());
  // libc-ares2, libssl3 (and libc6, libstdc++6) computed by dpkg-shlibdeps;
  // libcurl4 named because it is dlopen'd.
  for (const char* library : {"libc-ares2", "libssl3", "libcurl4", "libidn2-0", "libc6", "libstdc++6"})
    CHECK_THAT(*depends, Catch::Contains(library));

  const auto listing = smtp_testing::run_program({"dpkg-deb", "-c", package});
  INFO("contents:\n" << listing.out << listing.err);
  REQUIRE(listing.exit_code == 0);
  // "-rwxr-xr-x root/root 123 2024-01-01 00:00 ./usr/bin/sendcheck-mx"
  std::vector<std::string> paths;
  for (const auto& line : lines_of(listing.out)) {
    const auto start = line.find(" ./");
    if (start != std::string::npos) paths.push_back(line.substr(start + 3));
  }
  CHECK(contains(paths, "usr/bin/sendcheck"));
  CHECK(contains(paths, "usr/bin/sendcheck-mx"));
  for (const auto& name : tool_names_in(smtp_testing::bin_dir)) CHECK(contains(paths, "usr/bin/sendcheck-" + name));
  CHECK(contains(paths, "usr/share/man/man1/sendcheck-mx.1.gz"));
  for (const auto& page : std::filesystem::directory_iterator(source_dir + "/man"))
    if (page.path().extension() == ".1")
      CHECK(contains(paths, "usr/share/man/man1/" + page.path().filename().string() + ".gz"));
  CHECK(contains(paths, "usr/share/bash-completion/completions/sendcheck"));
  CHECK(contains(paths, "usr/share/sendcheck/schema/sendcheck-envelope.schema.json"));
  CHECK(contains(paths, "usr/share/sendcheck/schema/sendcheck-mx.schema.json"));
  CHECK(contains(paths, "usr/share/sendcheck/demo/demo.zone"));
  CHECK(contains(paths, "usr/share/bash-completion/completions/sendcheck-mx -> sendcheck"));

  // What the package installs works as installed: the tools find each other
  // in usr/bin, and the completion (loaded under a tool's name, through the
  // link) completes from them.
  const auto root = out.path("root");
  REQUIRE(smtp_testing::run_program({"dpkg-deb", "-x", package, root}).exit_code == 0);
  CHECK(smtp_testing::run_program({"gzip", "-t", root + "/usr/share/man/man1/sendcheck-mx.1.gz"}).exit_code == 0);
  check_completion(root + "/usr/bin", root + "/usr/share/bash-completion/completions/sendcheck-mx");
}
