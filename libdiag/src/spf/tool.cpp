// sendcheck-spf's run: the request checked into a plan, the check run on
// the resolver from the common options, and the report written.
#include "diag/spf.h"
#include "diag/version.h"

namespace diag::spf {
namespace {

constexpr const char* tool = "sendcheck-spf";

}  // namespace

int run_tool(const ToolOptions& options) {
  SpfCheckRequest request = options.request;
  if (!options.record.empty()) request.record = options.record;
  auto plan = plan_check(request);
  if (!plan) return cli::print_error(tool, plan.error().message), exit_usage;

  auto config = cli::resolver_config(options.common, tool);
  if (!config) return cli::print_error(tool, config.error().message), cli::exit_code_for(config.error());
  const auto attempt_timeout = config->attempt_timeout;
  auto resolver = dns::Resolver::create(std::move(config.value()));
  if (!resolver) return cli::print_error(tool, resolver.error().message), cli::exit_code_for(resolver.error());

  // Once every --ip has its result, the tree walk waits at most one more
  // attempt for parts no result needed: a server that does not answer
  // within an attempt is reported, not waited out for the whole --timeout.
  plan->tree_wait_after_results = attempt_timeout;
  NetworkSpfResolver spf_resolver(**resolver);
  auto outcome = run_check(spf_resolver, *plan);
  std::string text;
  Report report = make_report(outcome, *plan, options.common.json ? nullptr : &text,
                                               TextStyle::for_stream(stdout, options.common.no_color));
  return cli::finish(tool, report, text, options.common, &(*resolver)->log());
}

}  // namespace diag::spf
