// sendcheck-mx's run: the domains checked (arguments and --file), the MX
// check on the resolver from the common options, the report written.
#include "diag/input_file.h"
#include "diag/mx.h"

namespace diag::mx {
namespace {

constexpr const char* tool = "sendcheck-mx";

int usage_error(const std::string& message) {
  cli::print_error(tool, message);
  return exit_usage;
}

}  // namespace

int run_tool(const ToolOptions& options) {
  std::vector<std::string> domains;
  for (const auto& text : options.domains) {
    auto domain = parse_domain(text);
    if (!domain) return usage_error(domain.error().message);
    domains.push_back(std::move(domain.value()));
  }
  if (!options.domain_file.empty()) {
    auto lines = read_list_lines(options.domain_file, "domain list");
    if (!lines) return usage_error(lines.error().message);
    for (const auto& line : *lines) {
      auto domain = parse_domain(line.text);
      if (!domain) return usage_error(options.domain_file + ":" + std::to_string(line.number) + ": " + domain.error().message);
      domains.push_back(std::move(domain.value()));
    }
  }
  if (domains.empty()) return usage_error("no domain given (DOMAIN... or --file LIST)");

  auto config = cli::resolver_config(options.common, tool);
  if (!config) return cli::print_error(tool, config.error().message), cli::exit_code_for(config.error());
  auto resolver = dns::Resolver::create(std::move(config.value()));
  if (!resolver) return cli::print_error(tool, resolver.error().message), cli::exit_code_for(resolver.error());

  auto results = check_domains(**resolver, domains);
  std::string text;
  Report report = make_report(results, options.common.json ? nullptr : &text, TextStyle::for_stream(stdout, options.common.no_color));
  cli::exit_without_teardown(cli::finish(tool, report, text, options.common, &(*resolver)->log()));
}

}  // namespace diag::mx
