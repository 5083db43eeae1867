// sendcheck TOOL ARGS... : runs sendcheck-TOOL, like git runs git-TOOL.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <diag/cli.h>
#include <diag/toolbox.h>
#include <diag/version.h>

namespace {

constexpr const char* tool = "sendcheck";

const char* path_env() {
  const char* path = std::getenv("PATH");
  return path ? path : "";
}

// A full disk or a closed pipe is exit 3, not a silent success.
int exit_after_output() {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return diag::exit_ok;
  diag::cli::print_error(tool, "cannot write to standard output");
  return diag::exit_incomplete;
}

int print_usage() {
  std::printf("usage: sendcheck TOOL [ARGS...]\n       sendcheck --help | --version\n\n");
  const auto tools = diag::toolbox::list_tools(diag::toolbox::own_directory(), path_env());
  if (tools.empty()) {
    std::printf("No sendcheck tools found next to this program or on PATH.\n");
  } else {
    std::printf("Tools:\n");
    for (const auto& entry : tools)
      std::printf("  %-10s %s\n", entry.name.c_str(), entry.summary.empty() ? "" : entry.summary.c_str());
  }
  std::printf("\n'sendcheck TOOL --help' and 'man sendcheck-TOOL' describe each tool.\n");
  return exit_after_output();
}

// Our version, then the libraries' as loaded now: the package takes them
// from the system, so a bug report needs both.
int print_version() {
  std::printf("sendcheck %s\n", diag::version);
  for (const auto& library : diag::toolbox::library_versions())
    std::printf("%-8s %s\n", library.name.c_str(), library.version.c_str());
  return exit_after_output();
}

int dispatch(int argc, char** argv) {
  const std::string name = argv[1];
  if (!diag::toolbox::is_valid_tool_name(name)) {
    diag::cli::print_error(tool, "\"" + name + "\" is not a tool name; see sendcheck --help");
    return diag::exit_usage;
  }
  const auto path = diag::toolbox::find_tool(name, diag::toolbox::own_directory(), path_env());
  if (!path) {
    std::vector<std::string> names;
    for (const auto& entry : diag::toolbox::list_tools(diag::toolbox::own_directory(), path_env()))
      names.push_back(entry.name);
    const auto match = diag::cli::closest_match(name, names);
    diag::cli::print_error(tool, "no tool \"" + name + "\" (sendcheck-" + name + " not found)" +
                                     (match ? "; did you mean \"" + *match + "\"?" : "") + " See sendcheck --help");
    return diag::exit_usage;
  }
  std::vector<char*> tool_argv;
  std::string program = "sendcheck-" + name;
  tool_argv.push_back(program.data());
  for (int i = 2; i < argc; ++i) tool_argv.push_back(argv[i]);
  tool_argv.push_back(nullptr);
  ::execv(path->c_str(), tool_argv.data());
  diag::cli::print_error(tool, "cannot run " + *path + ": " + std::strerror(errno));
  return diag::exit_incomplete;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error (exit 3), not a silent death
  diag::cli::errors_as_json_when_asked(argc, argv);
  if (argc < 2) {
    diag::cli::print_error(tool, "no tool given; usage: sendcheck TOOL [ARGS...], or sendcheck --help for the list");
    return diag::exit_usage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") return print_usage();
  if (first == "--version") return print_version();
  return dispatch(argc, argv);
}
