// sendcheck-blocklist IP... : DNSBL status of the sending IP, and the IP we really send from.
#include <diag/blocklist.h>
#include <diag/cli.h>

namespace {
constexpr const char* tool = "sendcheck-blocklist";
}

int main(int argc, char** argv) {
  diag::blocklist::ToolOptions options;
  CLI::App app{"Check sending IPs against DNS blocklists, each list verified alive (RFC 5782), and find the IP this "
               "machine sends from",
               tool};
  diag::cli::add_common_options(app, options.common);
  app.add_option("ips", options.ips, "IPv4 or IPv6 addresses to check")->type_name("IP...");
  app.add_option("--file", options.ip_file, "Read addresses from FILE, one a line ('#' comments)")->type_name("FILE");
  app.add_flag("--egress", options.egress, "Find the public address this machine sends from, and check it");
  app.add_option("--egress-dns", options.egress_dns, "Ask this server instead of OpenDNS and Google (repeatable)")
      ->type_name("HOST[:PORT]")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--egress-url", options.egress_url, "HTTPS fallback that answers the address as text, or none (default: " + std::string(diag::blocklist::default_egress_url) + ")")
      ->type_name("URL");
  app.add_option("--zones", options.zone_tables, "Add or replace lists from a zone table FILE (repeatable)")
      ->type_name("FILE")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--list", options.lists, "Query only this list, by ID or zone (repeatable)")
      ->type_name("ID")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--list-zones", options.list_zones, "Print the lists (with --zones applied) and exit");
  app.add_flag("--dump-zones", options.dump_zones, "Print the built-in zone table in --zones format and exit");
  app.add_option("--spamhaus-key-file", options.spamhaus_key_file,
                 "Spamhaus DQS key from the first line of FILE (else $SENDCHECK_SPAMHAUS_KEY); never on the command line")
      ->type_name("FILE");
  app.add_option("--abusix-key-file", options.abusix_key_file,
                 "Abusix key from the first line of FILE (else $SENDCHECK_ABUSIX_KEY); never on the command line")
      ->type_name("FILE");
  diag::cli::describe(app, {"sendcheck-blocklist 203.0.113.25", "sendcheck-blocklist --egress",
                            "sendcheck-blocklist --file printers.txt --spamhaus-key-file dqs.key --json"});
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::blocklist::run_tool(options); });
}
