// `sendcheck TOOL ARGS...`: the list of tools, the versions, and running
// sendcheck-TOOL in place of the front command, as git runs git-TOOL.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "diag/report.h"
#include "diag/tool_common.h"
#include "diag/toolbox.h"
#include "diag/version.h"

namespace diag::toolbox {
namespace {

constexpr const char* tool = "sendcheck";

const char* path_env() {
  const char* path = std::getenv("PATH");
  return path ? path : "";
}

// A full disk or a closed pipe is exit 3, not a silent success.
int exit_after_output() {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return exit_ok;
  cli::print_error(tool, "cannot write to standard output");
  return exit_incomplete;
}

int print_usage() {
  std::printf("usage: sendcheck TOOL [ARGS...]\n       sendcheck --help | --version\n\n");
  const auto tools = list_tools(own_directory(), path_env());
  if (tools.empty()) {
    std::printf("No sendcheck tools found next to this program or on PATH.\n");
  } else {
    std::printf("Tools:\n");
    for (const auto& entry : tools)
      std::printf("  %-10s %s\n", entry.name.c_str(), entry.summary.empty() ? "" : entry.summary.c_str());
  }
  std::printf("\n'sendcheck TOOL --help' and 'man sendcheck-TOOL' describe each tool.\n\n"
              "Examples:\n"
              "  sendcheck demo\n"
              "  sendcheck preflight contoso.com --method direct-send --ip 203.0.113.25 --from scanner@contoso.com --to staff@contoso.com\n"
              "  sendcheck explain '550 5.7.30 Basic authentication is not supported for Client Submission.'\n\n"
              "%s  sendcheck TOOL exits with TOOL's code; sendcheck itself exits 2 for an unknown tool and 3 when it cannot run one.\n",
              cli::exit_code_help().c_str());
  return exit_after_output();
}

// Our version, then the libraries' as loaded now: the package takes them
// from the system, so a bug report needs both.
int print_version() {
  std::printf("sendcheck %s\n", version);
  for (const auto& library : library_versions())
    std::printf("%-8s %s\n", library.name.c_str(), library.version.c_str());
  return exit_after_output();
}

int dispatch(int argc, char** argv) {
  const std::string name = argv[1];
  if (!is_valid_tool_name(name)) {
    cli::print_error(tool, "\"" + name + "\" is not a tool name; see sendcheck --help");
    return exit_usage;
  }
  const auto path = find_tool(name, own_directory(), path_env());
  if (!path) {
    std::vector<std::string> names;
    for (const auto& entry : list_tools(own_directory(), path_env()))
      names.push_back(entry.name);
    const auto match = cli::closest_match(name, names);
    cli::print_error(tool, "no tool \"" + name + "\" (sendcheck-" + name + " not found)" +
                                     (match ? "; did you mean \"" + *match + "\"?" : "") + " See sendcheck --help");
    return exit_usage;
  }
  std::vector<char*> tool_argv;
  std::string program = "sendcheck-" + name;
  tool_argv.push_back(program.data());
  for (int i = 2; i < argc; ++i) tool_argv.push_back(argv[i]);
  tool_argv.push_back(nullptr);
  ::execv(path->c_str(), tool_argv.data());
  cli::print_error(tool, "cannot run " + *path + ": " + std::strerror(errno));
  return exit_incomplete;
}

}  // namespace

int run_front(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error (exit 3), not a silent death
  cli::errors_as_json_when_asked(argc, argv);
  if (argc < 2) {
    cli::print_error(tool, "no tool given; usage: sendcheck TOOL [ARGS...], or sendcheck --help for the list");
    return exit_usage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") return print_usage();
  if (first == "--version") return print_version();
  return dispatch(argc, argv);
}

}  // namespace diag::toolbox
