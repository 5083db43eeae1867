// sendcheck-spf [DOMAIN] --ip IP... : SPF results per IP, the published
// tree validated, and a record that authorizes the devices.
#include <diag/cli.h>
#include <diag/spf.h>
#include <diag/version.h>

#include <string>
#include <vector>

namespace {

constexpr const char* tool = "sendcheck-spf";

struct Options {
  diag::cli::CommonOptions common;
  diag::spf::SpfCheckRequest request;
  std::string record;
};

int run(Options& options) {
  if (!options.record.empty()) options.request.record = options.record;
  auto plan = diag::spf::plan_check(options.request);
  if (!plan) return diag::cli::print_error(tool, plan.error().message), diag::exit_usage;

  auto config = diag::cli::resolver_config(options.common, tool);
  if (!config) return diag::cli::print_error(tool, config.error().message), diag::cli::exit_code_for(config.error());
  const auto attempt_timeout = config->attempt_timeout;
  auto resolver = diag::dns::Resolver::create(std::move(config.value()));
  if (!resolver) return diag::cli::print_error(tool, resolver.error().message), diag::cli::exit_code_for(resolver.error());

  // Once every --ip has its result, the tree walk waits at most one more
  // attempt for parts no result needed: a server that does not answer
  // within an attempt is reported, not waited out for the whole --timeout.
  plan->tree_wait_after_results = attempt_timeout;
  diag::spf::NetworkSpfResolver spf_resolver(**resolver);
  auto outcome = diag::spf::run_check(spf_resolver, *plan);
  std::string text;
  diag::Report report = diag::spf::make_report(outcome, *plan, options.common.json ? nullptr : &text,
                                               diag::TextStyle::for_stream(stdout, options.common.no_color));
  return diag::cli::finish(tool, report, text, options.common, &(*resolver)->log());
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Check SPF for device IPs, validate the published include tree, and suggest a record", tool};
  diag::cli::add_common_options(app, options.common);
  app.add_option("domain", options.request.domain, "Domain whose SPF record to check (default: from --sender or --helo)")
      ->type_name("DOMAIN");
  app.add_option("--ip", options.request.ips, "Client IP to evaluate (repeatable)")->type_name("IP")->expected(1)
      ->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--sender", options.request.sender, "MAIL FROM address (its domain is checked)")->type_name("ADDR");
  app.add_option("--helo", options.request.helo, "HELO/EHLO name (checked when the sender is empty)")->type_name("NAME");
  app.add_option("--record", options.record, "Evaluate this record instead of the published one (what-if)")
      ->type_name("\"v=spf1 ...\"");
  app.add_option("--default-explanation", options.request.default_explanation,
                 "Explanation for fail when the record has no exp=")->type_name("TEXT");
  app.add_flag("--suggest", options.request.suggest, "Suggest a record that also authorizes every --ip, verified offline");
  // "--sender=" (an empty MAIL FROM, a bounce) would make CLI11 take the
  // next argument as the sender; "--sender" "" says what was meant.
  std::vector<std::string> arguments(argv, argv + argc);
  std::vector<std::string> expanded;
  for (const auto& argument : arguments) {
    if (argument == "--sender=" || argument == "--helo=") {
      expanded.push_back(argument.substr(0, argument.size() - 1));
      expanded.emplace_back();
    } else {
      expanded.push_back(argument);
    }
  }
  std::vector<char*> pointers;
  for (auto& argument : expanded) pointers.push_back(argument.data());
  if (auto exit_code = diag::cli::parse(app, static_cast<int>(pointers.size()), pointers.data())) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(options); });
}
