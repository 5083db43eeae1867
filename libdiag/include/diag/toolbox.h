// The `sendcheck TOOL ARGS...` front command: finding the tool executables
// (next to the front command first, then on PATH), listing them, and the
// versions of the libraries they run with.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diag::toolbox {

struct ToolEntry {
  std::string name;     // "mx"
  std::string path;     // "/usr/bin/sendcheck-mx"
  std::string summary;  // from the compiled-in table; empty for unknown tools
};

// Tool names are lower-case letters, digits and '-': anything else is not
// looked up, so "sendcheck ../x" cannot run an arbitrary file.
bool is_valid_tool_name(std::string_view name);

// The directory holding the running executable (/proc/self/exe).
std::string own_directory();

// Where sendcheck-NAME lives: in self_dir first, then in each PATH entry.
std::optional<std::string> find_tool(std::string_view name, const std::string& self_dir, std::string_view path_env);

// Every sendcheck-* executable found the same way, each name once (the
// first found wins), known tools in table order, then others by name.
std::vector<ToolEntry> list_tools(const std::string& self_dir, std::string_view path_env);

struct LibraryVersion {
  std::string name;     // "c-ares"
  std::string version;  // "1.18.1", or why the library is not there
};

// c-ares, OpenSSL and libcurl as loaded by this process, not as built
// against: an installed package takes them from the system, so a bug report
// needs these. libcurl is loaded here if it was not yet (diag/curl_runtime.h);
// when it cannot be, its entry says so and what it is needed for.
std::vector<LibraryVersion> library_versions();

// The front command from argv to exit code: --help lists the tools found,
// --version the libraries, anything else runs sendcheck-TOOL (execv) or
// says why it cannot (exit 2 for an unknown tool, 3 when it cannot run).
int run_front(int argc, char** argv);

}  // namespace diag::toolbox
