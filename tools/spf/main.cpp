// sendcheck-spf [DOMAIN] --ip IP... : SPF results per IP, the published
// tree validated, and a record that authorizes the devices.
#include <diag/cli.h>
#include <diag/spf.h>

namespace {
constexpr const char* tool = "sendcheck-spf";
}

int main(int argc, char** argv) {
  diag::spf::ToolOptions options;
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
  diag::cli::describe(app, {"sendcheck-spf contoso.com --ip 203.0.113.25",
                            "sendcheck-spf contoso.com --ip 203.0.113.25 --ip 198.51.100.7 --suggest",
                            "sendcheck-spf contoso.com --ip 203.0.113.25 --record \"v=spf1 ip4:203.0.113.0/24 include:spf.protection.outlook.com -all\""});
  if (auto exit_code = diag::cli::parse(app, argc, argv, {"--sender", "--helo"})) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::spf::run_tool(options); });
}
