#include "diag/cli.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "diag/strings.h"
#include "diag/version.h"
#include "diag/zone.h"

namespace diag::cli {

void add_common_options(CLI::App& app, CommonOptions& options, bool with_dns) {
  app.set_version_flag("--version", std::string(app.get_name()) + " " + diag::version);
  app.add_flag("--json", options.json, "Print one JSON document on stdout");
  if (with_dns) {
    app.add_option("--dns", options.dns_servers, "DNS server HOST[:PORT] or [IPv6]:PORT; a host name is resolved once at start by the system resolver (repeatable; default /etc/resolv.conf)")
        ->type_name("HOST[:PORT]")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    auto* zone = app.add_option("--zone", options.zone_files,
                                "Answer names inside this RFC 1035 zone file from it; FILE@NAME gives "
                                "the zone's name (repeatable)")
        ->type_name("FILE[@NAME]")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--zone-origin", options.zone_origin,
                   "The zone's name for --zone files that do not say it (no $ORIGIN first, no SOA owner "
                   "ending in a dot), as in BIND's db.* files, Windows DNS and Cloudflare exports")
        ->type_name("NAME")
        ->needs(zone);
  }
  app.add_option("--timeout", options.timeout_seconds, "Seconds to wait for each network question (default 5)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            // CLI::Range lets NaN through, and NaN seconds is undefined
            // behavior once converted to milliseconds.
            char* end = nullptr;
            const double value = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || *end != '\0' || !std::isfinite(value) || value < 0.01 || value > 3600.0)
              return "--timeout must be a number of seconds from 0.01 to 3600";
            return "";
          },
          ""))
      ->type_name("SECONDS");
  app.add_flag("-v,--verbose", options.verbose, "Show every DNS question and SMTP line on stderr");
  app.add_flag("--no-color", options.no_color, "No colors in text output (NO_COLOR is honored too)");
}

std::string exit_code_help() {
  return "Exit codes:\n"
         "  0  nothing failed: every check passed (warnings allowed)\n"
         "  1  a check failed: something to fix, the output says what and how\n"
         "  2  usage error or bad input (an option, a file): nothing was checked\n"
         "  3  could not complete: a timeout, a DNS or network failure (a finding still wins: 1 beats 3)\n";
}

void describe(CLI::App& app, const std::vector<std::string>& examples, const std::string& exit_codes) {
  std::string footer = "\nExamples:\n";
  for (const auto& example : examples) footer += "  " + example + "\n";
  footer += "\n" + (exit_codes.empty() ? exit_code_help() : exit_codes);
  app.footer(footer);
}

namespace {

// Set once --json is seen on the command line: from then on an error is one
// JSON document on stdout too, so `... --json | jq -r .status` never reads
// nothing.
bool errors_as_json = false;

bool argv_asks_for_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json") return true;
  }
  return false;
}

// --help and --version print through iostreams; a full disk or closed pipe
// must not pass as success.
int finish_informational(CLI::App& app, const CLI::Error& e) {
  const int code = app.exit(e);
  std::cout.flush();
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    print_error(app.get_name(), "cannot write to standard output");
    return exit_incomplete;
  }
  return code;
}

// " (did you mean --from?)" for each unexpected option that is close to one
// the tool has; empty when none is.
std::string option_suggestions(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) names.push_back("--" + name);
  }
  std::string out;
  for (const auto& extra : app.remaining()) {
    if (extra.size() < 3 || extra.rfind("--", 0) != 0) continue;
    const auto typed = extra.substr(0, extra.find('='));
    if (auto match = closest_match(typed, names)) out += " (did you mean " + *match + "?)";
  }
  return out;
}

}  // namespace

std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates) {
  // Short names are all one or two edits apart: allow one edit below six
  // characters, two from there on.
  const std::size_t allowed = typed.size() < 6 ? 1 : 2;
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const auto& candidate : candidates) {
    const auto distance = strings::edit_distance(typed, candidate);
    if (distance != 0 && distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

void errors_as_json_when_asked(int argc, char** argv) { errors_as_json = argv_asks_for_json(argc, argv); }

std::optional<int> parse(CLI::App& app, int argc, char** argv, const std::vector<std::string>& may_be_empty) {
  if (!may_be_empty.empty()) {
    // "--sender=" (an empty MAIL FROM, a bounce) would make CLI11 take the
    // next argument as the value; "--sender" "" says what was meant.
    std::vector<std::string> expanded;
    for (int i = 0; i < argc; ++i) {
      const std::string argument = argv[i];
      const bool empty_value = argument.ends_with('=') &&
          std::find(may_be_empty.begin(), may_be_empty.end(), argument.substr(0, argument.size() - 1)) != may_be_empty.end();
      expanded.push_back(empty_value ? argument.substr(0, argument.size() - 1) : argument);
      if (empty_value) expanded.emplace_back();
    }
    std::vector<char*> pointers;
    for (auto& argument : expanded) pointers.push_back(argument.data());
    return parse(app, static_cast<int>(pointers.size()), pointers.data());
  }
  // A closed pipe (sendcheck-mx ... | head -1) must end in exit 3 with a
  // message from finish(), not a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  errors_as_json = argv_asks_for_json(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return finish_informational(app, e);
  } catch (const CLI::CallForAllHelp& e) {
    return finish_informational(app, e);
  } catch (const CLI::CallForVersion& e) {
    return finish_informational(app, e);
  } catch (const CLI::ExtrasError& e) {
    print_error(app.get_name(), std::string(e.what()) + option_suggestions(app) + " (see --help)");
    return exit_usage;
  } catch (const CLI::ParseError& e) {
    print_error(app.get_name(), std::string(e.what()) + " (see --help)");
    return exit_usage;
  }
  return std::nullopt;
}

void print_error(std::string_view tool, std::string_view message) {
  if (errors_as_json) {
    // The envelope of a run that ended before any check: status "error".
    nlohmann::json document = Report{std::string(tool), diag::version}.to_json();
    document["status"] = "error";
    document["error"] = message;
    const auto text = json_text(document) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  // The message may quote a peer (a token endpoint's error text).
  const std::string shown = strings::terminal_safe(message);
  std::fprintf(stderr, "%.*s: error: %s\n", static_cast<int>(tool.size()), tool.data(), shown.c_str());
}

int exit_code_for(const Error& error) {
  switch (error.kind) {
    case ErrorKind::bad_input: return exit_usage;
    case ErrorKind::unavailable: return exit_incomplete;
    case ErrorKind::internal: return exit_incomplete;
  }
  return exit_incomplete;
}

Result<std::vector<dns::ServerAddress>> dns_servers_from(const std::string& text) {
  auto server = dns::parse_server_address(text);
  if (server) return std::vector<dns::ServerAddress>{*server};
  const auto colon = text.find(':');
  if (text.empty() || text.front() == '[' || (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos))
    return server.error();
  const std::string host = text.substr(0, colon);
  const bool name_like = !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
  if (!name_like) return server.error();
  const std::string port = colon == std::string::npos ? std::string() : text.substr(colon);
  std::vector<dns::ServerAddress> servers;
  for (const auto& address : system_addresses(host)) {
    auto one = dns::parse_server_address((address.is_v4() ? address.to_string() : "[" + address.to_string() + "]") + port);
    if (!one) return bad_input("DNS server \"" + text + "\": port must be 1-65535");  // the address is one
    servers.push_back(*one);
  }
  if (servers.empty()) return bad_input("DNS server \"" + text + "\": " + host + " has no address (from /etc/hosts or the system's DNS)");
  return servers;
}

Result<dns::ResolverConfig> resolver_config(const CommonOptions& options, std::string_view tool) {
  dns::ResolverConfig config;
  for (const auto& text : options.dns_servers) {
    auto servers = dns_servers_from(text);
    if (!servers) return servers.error();
    config.servers.insert(config.servers.end(), servers->begin(), servers->end());
  }
  if (!options.zone_files.empty()) {
    auto overlay = std::make_shared<dns::ZoneOverlay>();
    for (const auto& argument : options.zone_files) {
      // FILE@NAME, unless a file is named so: the name must be a file's
      // whole name to win, so "db.example@home" still loads if it exists.
      std::string path = argument, origin = options.zone_origin;
      bool origin_of_this_file = false;
      std::error_code ignored;
      if (const auto at = argument.rfind('@'); at != std::string::npos && at > 0 &&
                                                !std::filesystem::exists(argument, ignored)) {
        path = argument.substr(0, at);
        origin = argument.substr(at + 1);
        origin_of_this_file = true;
        if (origin.empty()) return bad_input("--zone " + argument + ": no zone name after \"@\"");
      }
      auto zone = dns::parse_zone_file(path, origin);
      // --zone-origin is for the files that do not name their zone; one
      // that does keeps its own name (FILE@NAME still decides for its file).
      if (zone && !origin_of_this_file && !origin.empty() && zone->names_its_zone)
        zone = dns::parse_zone_file(path);
      if (!zone) return zone.error();
      // Loaded but answering less than it seems to: always said, one line each.
      for (const auto& warning : zone->warnings)
        std::fprintf(stderr, "%.*s: warning: %s\n", static_cast<int>(tool.size()), tool.data(), warning.c_str());
      if (options.verbose && !zone->skipped.empty())
        std::fprintf(stderr, "%.*s: %s: skipped %zu records of types no check asks for: %s\n",
                     static_cast<int>(tool.size()), tool.data(), path.c_str(), zone->skipped.size(),
                     zone->skipped_summary().c_str());
      overlay->add(std::move(zone.value()));
    }
    config.zones = std::move(overlay);
  }
  const auto budget = std::chrono::milliseconds(static_cast<long long>(options.timeout_seconds * 1000));
  config.attempt_timeout = dns::attempt_timeout_for_budget(budget, config.tries);
  if (options.verbose) {
    config.on_log = [](const dns::QueryLogEntry& entry) {
      std::fprintf(stderr, "%s\n", dns::format_log_entry(entry).c_str());
    };
    config.keep_log = options.json;
  }
  return config;
}

int run_guarded(std::string_view tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    print_error(tool, std::string("internal: ") + e.what());
  } catch (...) {
    print_error(tool, "internal: unknown exception");
  }
  return exit_incomplete;
}

void exit_without_teardown(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
  std::exit(code);
#else
  std::_Exit(code);
#endif
}

nlohmann::json query_log_json(const std::vector<dns::QueryLogEntry>& log) {
  auto out = nlohmann::json::array();
  for (const auto& entry : log) {
    out.push_back({{"name", entry.name},
                   {"type", dns::to_string(entry.type)},
                   {"server", entry.server},
                   {"outcome", dns::to_string(entry.outcome)},
                   {"detail", entry.detail},
                   {"ad", entry.authenticated_data},
                   {"elapsed_ms", entry.elapsed_ms}});
  }
  return out;
}

int finish(std::string_view tool, const Report& report, const std::string& text, const CommonOptions& options,
           const std::vector<dns::QueryLogEntry>* query_log) {
  std::string output;
  if (options.json) {
    nlohmann::json extra_fields;
    if (query_log && options.verbose) extra_fields["queries"] = query_log_json(*query_log);
    output = report.to_json_text(extra_fields);
  } else {
    output = text;
  }
  const bool written = std::fwrite(output.data(), 1, output.size(), stdout) == output.size();
  if (!written || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    print_error(tool, "cannot write to standard output");
    return exit_incomplete;
  }
  return report.exit_code();
}

}  // namespace diag::cli
