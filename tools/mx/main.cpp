// sendcheck-mx DOMAIN... : the tenant MX, derived and verified.
#include <diag/cli.h>
#include <diag/mx.h>
#include <diag/version.h>

namespace {

constexpr const char* tool = "sendcheck-mx";

struct Options {
  diag::cli::CommonOptions common;
  std::vector<std::string> domains;
  std::string domain_file;
};

int run(const Options& options) {
  std::vector<std::string> domains;
  for (const auto& text : options.domains) {
    auto domain = diag::mx::parse_domain(text);
    if (!domain) return diag::cli::print_error(tool, domain.error().message), diag::exit_usage;
    domains.push_back(std::move(domain.value()));
  }
  if (!options.domain_file.empty()) {
    auto listed = diag::mx::read_domain_list(options.domain_file);
    if (!listed) return diag::cli::print_error(tool, listed.error().message), diag::exit_usage;
    domains.insert(domains.end(), listed->begin(), listed->end());
  }
  if (domains.empty()) return diag::cli::print_error(tool, "no domain given (DOMAIN... or --file LIST)"), diag::exit_usage;

  auto config = diag::cli::resolver_config(options.common, tool);
  if (!config) return diag::cli::print_error(tool, config.error().message), diag::cli::exit_code_for(config.error());
  auto resolver = diag::dns::Resolver::create(std::move(config.value()));
  if (!resolver) return diag::cli::print_error(tool, resolver.error().message), diag::cli::exit_code_for(resolver.error());

  auto results = diag::mx::check_domains(**resolver, domains);
  std::string text;
  diag::Report report = diag::mx::make_report(results, options.common.json ? nullptr : &text,
                                              diag::TextStyle::for_stream(stdout, options.common.no_color));
  diag::cli::exit_without_teardown(diag::cli::finish(tool, report, text, options.common, &(*resolver)->log()));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Find a domain's Microsoft 365 MX, verify it, and name the direct-send host", tool};
  diag::cli::add_common_options(app, options.common);
  app.add_option("domains", options.domains, "Domains to check")->type_name("DOMAIN...");
  app.add_option("--file", options.domain_file, "Read domains from FILE, one a line ('#' comments)")->type_name("FILE");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(options); });
}
