// sendcheck-mx DOMAIN... : the tenant MX, derived and verified.
#include <diag/cli.h>
#include <diag/mx.h>

namespace {
constexpr const char* tool = "sendcheck-mx";
}

int main(int argc, char** argv) {
  diag::mx::ToolOptions options;
  CLI::App app{"Find a domain's Microsoft 365 MX, verify it, and name the direct-send host", tool};
  diag::cli::add_common_options(app, options.common);
  app.add_option("domains", options.domains, "Domains to check")->type_name("DOMAIN...");
  app.add_option("--file", options.domain_file,
                 "Read domains from FILE, one a line ('#' comments; Notepad's BOM and CRLF are fine)")->type_name("FILE");
  diag::cli::describe(app, {"sendcheck-mx contoso.com", "sendcheck-mx contoso.com fabrikam.com --json",
                            "sendcheck-mx --file tenants.txt --dns 192.0.2.53"});
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::mx::run_tool(options); });
}
