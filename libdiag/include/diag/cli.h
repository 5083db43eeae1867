// The command line of every tool: the common options added to a CLI11 app
// and parsing with the shared exit codes. The rest of what tools share is
// in diag/tool_common.h, which needs no CLI11.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "diag/tool_common.h"

namespace diag::cli {

// Adds --json, --dns, --zone, --zone-origin, --timeout, -v, --no-color and --version.
void add_common_options(CLI::App& app, CommonOptions& options, bool with_dns = true);

// The end of --help: the examples, one command a line, and what each exit
// code means, in the words every tool's man page uses. `exit_codes`
// replaces the shared meanings for a tool whose codes say more (listen).
void describe(CLI::App& app, const std::vector<std::string>& examples, const std::string& exit_codes = {});

// Parses argv. Returns an exit code when the run ends here: 0 after --help
// or --version, 2 (with a one-line error on stderr) for a usage error.
// Options named in may_be_empty take "--option=" as an empty value.
std::optional<int> parse(CLI::App& app, int argc, char** argv, const std::vector<std::string>& may_be_empty = {});

}  // namespace diag::cli
