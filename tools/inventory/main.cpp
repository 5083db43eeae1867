// sendcheck-inventory --signins FILE... [--mailboxes FILE] [--transport-config FILE] ... :
// who still signs in to SMTP AUTH with a password, from where, and what each
// of them should move to before the end of December 2026.
#include <diag/cli.h>
#include <diag/inventory.h>
#include <diag/version.h>

namespace {
constexpr const char* tool = "sendcheck-inventory";
}  // namespace

int main(int argc, char** argv) {
  diag::inventory::ToolOptions options;
  CLI::App app{"Who still signs in to SMTP AUTH with a password, from where, and what each should move to", tool};
  diag::cli::add_common_options(app, options.common);
  if (auto* verbose = app.get_option_no_throw("--verbose"))
    verbose->description("Accepted as by every sendcheck tool; the inventory shows nothing more with it");
  app.add_option("--signins", options.request.signin_files,
                 "Entra admin center sign-in log download, CSV or JSON (repeatable: interactive and non-interactive)")
      ->type_name("FILE")->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::ExistingFile);
  const auto file_option = [&](const char* name, std::string& target, const char* description) {
    app.add_option(name, target, description)->type_name("FILE")->check(CLI::ExistingFile);
  };
  file_option("--mailboxes", options.request.mailboxes_file,
              "Get-CASMailbox ... | Select PrimarySmtpAddress,SmtpClientAuthenticationDisabled | Export-Csv");
  file_option("--transport-config", options.request.transport_config_file,
              "Get-TransportConfig output (Export-Csv, Format-List or ConvertTo-Json)");
  file_option("--auth-policies", options.request.authentication_policy_file,
              "Get-AuthenticationPolicy | Select Name,AllowBasicAuthSmtp output");
  file_option("--smtp-auth-report", options.request.smtp_auth_report_file,
              "EAC Reports > Mail flow > SMTP AUTH clients, exported to CSV");
  file_option("--usage-report", options.request.usage_report_file,
              "Email apps usage report (getEmailAppUsageUserDetail) CSV: cannot tell basic from OAuth");
  auto& online = options.online;
  app.add_option("--tenant", online.tenant, "Read the tenant over Microsoft Graph: its domain (contoso.onmicrosoft.com) or ID");
  app.add_option("--client-id", online.client_id, "The application (client) ID of the app registration")->type_name("ID");
  file_option("--client-secret-file", online.client_secret_file, "App-only sign-in: the client secret's value, first line of FILE");
  file_option("--client-cert", online.client_cert_file, "App-only sign-in with a certificate (PEM), with --client-key");
  file_option("--client-key", online.client_key_file, "The certificate's private key (PEM)");
  app.add_flag("--device-code", online.device_code, "Delegated sign-in: an admin signs in at microsoft.com/devicelogin");
  app.add_option("--cloud", online.cloud, "global, usgov (GCC High), usgov-dod or china (21Vianet) (default global)");
  app.add_option("--graph-url", online.graph_url, "Another Microsoft Graph endpoint (a test server)")->type_name("URL");
  app.add_option("--login-url", online.login_url, "Another sign-in endpoint (a test server)")->type_name("URL");
  app.add_option("--exo-url", online.exo_url, "Another Exchange admin API endpoint (a test server)")->type_name("URL");
  file_option("--ca", online.ca_file, "Trust the CA certificates in FILE for those endpoints");
  app.add_flag("--exo-admin-api", online.exo_admin_api,
               "Also read SmtpClientAuthenticationDisabled and the policies through the Exchange admin API "
               "(undocumented by Microsoft)");
  app.add_option("--db", options.request.db_file, "Keep the results in this SQLite database and report what changed")
      ->type_name("FILE");
  app.add_flag("--preflight", options.preflight,
               "Run the direct-send and relay check of every sender that will break, per source IP, all on one DNS "
               "loop (--dns, --zone and --timeout apply)");
  app.add_option("--since", options.since, "Count only sign-ins on or after this date")->type_name("YYYY-MM-DD");
  auto* csv = app.add_flag("--csv", options.csv, "Write one CSV row per sender (for a spreadsheet)");
  auto* markdown = app.add_flag("--markdown", options.markdown, "Write the report as Markdown (for a change ticket)");
  csv->excludes(markdown);
  if (auto* json = app.get_option_no_throw("--json")) {
    csv->excludes(json);
    markdown->excludes(json);
  }
  diag::cli::describe(
      app,
      {"sendcheck-inventory --signins InteractiveSignIns.csv --signins NonInteractiveSignIns.csv --mailboxes mailboxes.csv",
       "sendcheck-inventory --signins InteractiveSignIns.csv --smtp-auth-report smtpauth.csv --db inventory.sqlite --markdown",
       "sendcheck-inventory --signins InteractiveSignIns.csv --preflight",
       "sendcheck-inventory --tenant contoso.onmicrosoft.com --client-id 00000000-0000-0000-0000-000000000000 "
       "--client-secret-file secret.txt --json"},
      "Exit codes:\n"
      "  0  no sender will break at the cutover (warnings allowed)\n"
      "  1  a sender will break: it still signs in to SMTP AUTH with a password; the report says what it should move to\n"
      "  2  usage error or bad input (an option, an unreadable file, a file of the wrong layout): nothing was read\n"
      "  3  could not complete: Microsoft Graph or the sign-in could not be reached or read, the --db database stayed "
      "locked, or standard output could not be written\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::inventory::run_tool(options); });
}
