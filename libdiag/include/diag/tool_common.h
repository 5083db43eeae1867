// What every tool's run shares, without the command-line parser: the
// common options as a plain struct, errors on stderr with the shared exit
// codes, the resolver built from --dns/--zone/--timeout, and writing the
// result with the write to stdout checked. Domain headers (a module's
// ToolOptions) include this one; only tools/ and the cli module include
// diag/cli.h and with it CLI11.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/result.h"

namespace diag::cli {

struct CommonOptions {
  bool json = false;
  std::vector<std::string> dns_servers;  // --dns HOST[:PORT], repeatable; a host name resolved at start
  std::vector<std::string> zone_files;   // --zone FILE[@NAME], repeatable
  std::string zone_origin;               // --zone-origin NAME: for --zone files without @NAME
  double timeout_seconds = 5.0;          // --timeout SECONDS
  bool verbose = false;                  // -v
  bool no_color = false;                 // --no-color (NO_COLOR is honored too)
};

// The candidate closest to what was typed, when it is close enough to be a
// typo (one or two edits, a swap of two neighbors counting as one):
// "prefligth" -> "preflight", "--form" -> "--from". nullopt otherwise.
std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates);

// "sendcheck-mx: error: MESSAGE" on stderr; with --json on the command line
// also one JSON document on stdout (status "error", "error": MESSAGE).
void print_error(std::string_view tool, std::string_view message);
int exit_code_for(const Error& error);

// For a program that parses its own command line (the sendcheck front
// end): --json anywhere in argv makes print_error write the JSON document
// too, as parse() does for the tools.
void errors_as_json_when_asked(int argc, char** argv);

// --dns HOST[:PORT] (and --egress-dns): an address as it is; a host name
// ("localhost", a LAN's "resolver1") resolved once, at start, by the system
// resolver (getaddrinfo), each of its addresses a server as resolv.conf's
// list would be. A name without an address is bad input.
Result<std::vector<dns::ServerAddress>> dns_servers_from(const std::string& text);

// Resolver settings from the common options: --dns parsed, --zone files
// loaded with their origin (a syntax error is bad input: exit 2; a file
// that answers less than it seems to is a warning on stderr; -v counts the
// records of types no check asks for), --timeout split into
// attempts, -v wired to print every query on stderr, and the log kept
// when -v and --json are both given.
Result<dns::ResolverConfig> resolver_config(const CommonOptions& options, std::string_view tool);

// Prints the report (JSON, or the given text) on stdout, adds the query log
// to the JSON when asked, and returns the exit code. A failed write to
// stdout (closed pipe, full disk) is an error: exit 3.
int finish(std::string_view tool, const Report& report, const std::string& text, const CommonOptions& options,
           const std::vector<dns::QueryLogEntry>* query_log = nullptr);

// The shared meanings of the exit codes, as every tool's --help prints them.
std::string exit_code_help();

// Runs a tool's body with the one top-level catch: an unexpected exception
// (a bug, memory exhaustion) becomes "TOOL: error: internal: ..." and exit 3,
// never a stack trace.
int run_guarded(std::string_view tool, const std::function<int()>& body);

// Ends the process with code once the output is written, without running
// destructors: tearing down the results of 10,000 domains took a fifth of
// sendcheck-mx's run time, and the operating system reclaims it anyway
// (clang's -disable-free makes the same trade). Sanitizer builds return
// normally so that LeakSanitizer still checks the tools.
[[noreturn]] void exit_without_teardown(int code);

nlohmann::json query_log_json(const std::vector<dns::QueryLogEntry>& log);

}  // namespace diag::cli
