// sendcheck-blocklist's run: options to lists, secrets, resolver, egress,
// the check and the report. The executable only parses the command line.
#include <cstdio>
#include <cstdlib>

#include "diag/blocklist.h"

namespace diag::blocklist {
namespace {

constexpr const char* tool = "sendcheck-blocklist";

int usage_error(const std::string& message) {
  cli::print_error(tool, message);
  return exit_usage;
}

}  // namespace

int run_tool(const ToolOptions& options) {
  if (options.dump_zones) {
    const auto text = builtin_table_text();
    return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0
               ? exit_ok
               : (cli::print_error(tool, "cannot write to standard output"), exit_incomplete);
  }
  auto secrets = load_secrets(options.spamhaus_key_file, options.abusix_key_file,
                              [](const char* name) { return std::getenv(name); });
  if (!secrets) return usage_error(secrets.error().message);

  std::vector<ListSpec> lists = builtin_lists();
  for (const auto& path : options.zone_tables) {
    auto extra = read_list_file(path);
    if (!extra) return usage_error(extra.error().message);
    merge_lists(lists, std::move(extra.value()));
  }
  if (options.list_zones) {
    const std::string text = render_zone_list(lists, *secrets, options.common.json);
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
      return cli::print_error(tool, "cannot write to standard output"), exit_incomplete;
    return exit_ok;
  }

  std::vector<std::pair<IpAddress, std::string>> ips;
  for (const auto& text : options.ips) {
    auto ip = parse_ip(text);
    if (!ip) return usage_error(ip.error().message);
    ips.emplace_back(*ip, "argument");
  }
  if (!options.ip_file.empty()) {
    auto listed = read_ip_list(options.ip_file);
    if (!listed) return usage_error(listed.error().message);
    for (const auto& ip : *listed) ips.emplace_back(ip, "file");
  }
  if (ips.empty() && !options.egress) return usage_error("no address given (IP..., --file LIST or --egress)");
  std::vector<dns::ServerAddress> egress_servers;
  for (const auto& text : options.egress_dns) {
    auto servers = cli::dns_servers_from(text);
    if (!servers) return usage_error("--egress-dns: " + servers.error().message);
    egress_servers.insert(egress_servers.end(), servers->begin(), servers->end());
  }
  if (options.egress_url != "none" && options.egress_url.rfind("https://", 0) != 0 &&
      options.egress_url.rfind("http://", 0) != 0)
    return usage_error("--egress-url must start with https:// or http:// (or be \"none\")");

  auto selected = select_lists(lists, options.lists, *secrets);
  if (!selected) return usage_error(selected.error().message);

  auto config = cli::resolver_config(options.common, tool);
  if (!config) return cli::print_error(tool, config.error().message), cli::exit_code_for(config.error());
  // DQS and Abusix keys are labels of the query names: the -v log must not show them.
  config->on_log = masked_log_hook(std::move(config->on_log), *secrets);
  const auto on_log = config->on_log;
  const bool keep_log = config->keep_log;
  const auto attempt_timeout = config->attempt_timeout;
  const int tries = config->tries;
  const bool zone_overlay = config->zones && !config->zones->empty();
  auto resolver = dns::Resolver::create(std::move(config.value()));
  if (!resolver) return cli::print_error(tool, resolver.error().message), cli::exit_code_for(resolver.error());

  RunSummary run;
  if (options.egress) {
    EgressOptions egress;
    egress.dns_probes = egress_servers.empty() ? default_egress_probes() : egress_probes_at(egress_servers);
    egress.url = options.egress_url == "none" ? "" : options.egress_url;
    egress.attempt_timeout = attempt_timeout;
    egress.tries = tries;
    egress.http_timeout = std::chrono::milliseconds(static_cast<long long>(options.common.timeout_seconds * 1000));
    egress.on_log = on_log;
    egress.keep_log = keep_log;
    egress.verbose_http = options.common.verbose;
    run.egress = discover_egress(egress);
    for (const auto& address : run.egress->addresses) {
      const bool given = std::any_of(ips.begin(), ips.end(), [&](const auto& ip) { return ip.first == address; });
      if (!given) ips.emplace_back(address, "egress");
    }
  }
  run.ips = check_ips(**resolver, ips, *selected);
  run.servers = (*resolver)->servers();
  run.zone_overlay = zone_overlay;
  run.lists_selected = selected->size();

  std::string text;
  Report report = make_report(run, *secrets, options.common.json ? nullptr : &text,
                              TextStyle::for_stream(stdout, options.common.no_color));
  std::vector<dns::QueryLogEntry> log;
  if (run.egress)
    for (const auto& entry : run.egress->log) log.push_back(secrets->mask(entry));
  for (const auto& entry : (*resolver)->log()) log.push_back(secrets->mask(entry));
  return cli::finish(tool, report, text, options.common, &log);
}

}  // namespace diag::blocklist
