// sendcheck-inventory's run: the options checked, every source read, the
// ways forward checked when asked (--preflight), and the report written.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "diag/inventory.h"

namespace diag::inventory {
namespace {

constexpr const char* tool = "sendcheck-inventory";

}  // namespace

int run_tool(ToolOptions& options) {
  auto& request = options.request;
  if (auto checked = check_online_options(options.online); !checked)
    return cli::print_error(tool, checked.error().message), exit_usage;
  if (request.signin_files.empty() && request.usage_report_file.empty() && request.smtp_auth_report_file.empty() &&
      request.mailboxes_file.empty() && request.db_file.empty() && options.online.tenant.empty())
    return cli::print_error(
               tool,
               "nothing to read: give --tenant (with --client-id and a way to sign in), "
               "--signins, --smtp-auth-report, --usage-report, --mailboxes or --db (see sendcheck inventory --help)"),
           exit_usage;
  if (options.since) {
    // A day, not a time: a time or offset would be dropped without a word.
    if (options.since->size() == 10) request.since = parse_date(*options.since);
    if (!request.since)
      return cli::print_error(tool, "--since: \"" + *options.since + "\" is not a date (YYYY-MM-DD; it counts whole days, UTC)"), exit_usage;
  }
  request.today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  // A date after today counts nothing: a typo, never "nobody signs in".
  if (request.since && *request.since > request.today)
    return cli::print_error(tool, "--since " + *options.since + " is after today: nothing could be counted"), exit_usage;
  options.online.timeout = std::chrono::milliseconds(static_cast<long long>(options.common.timeout_seconds * 1000));
  options.online.progress = !options.common.json && isatty(fileno(stderr));
  auto result = run_inventory_online(request, options.online);
  if (!result) return cli::print_error(tool, result.error().message), cli::exit_code_for(result.error());
  if (options.preflight) {
    auto config = cli::resolver_config(options.common, tool);
    if (!config) return cli::print_error(tool, config.error().message), cli::exit_code_for(config.error());
    verify_ways_forward(*result, *config, options.common.timeout_seconds);
  }
  const auto format = options.csv ? OutputFormat::csv : options.markdown ? OutputFormat::markdown : OutputFormat::text;
  std::string text;
  const auto report = make_report(*result, format, options.common.json ? nullptr : &text,
                                  TextStyle::for_stream(stdout, options.common.no_color));
  return cli::finish(tool, report, text, options.common);
}

}  // namespace diag::inventory
