// sendcheck-inventory --signins FILE... [--mailboxes FILE] [--transport-config FILE] ... :
// who still signs in to SMTP AUTH with a password, from where, and what each
// of them should move to before the end of December 2026.
#include <diag/cli.h>
#include <diag/inventory.h>
#include <diag/version.h>

#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

constexpr const char* tool = "sendcheck-inventory";

struct Options {
  diag::cli::CommonOptions common;
  diag::inventory::InventoryRequest request;
  diag::inventory::OnlineOptions online;
  std::string since;
  bool csv = false, markdown = false;
};

int run(Options& options) {
  auto& request = options.request;
  if (auto checked = diag::inventory::check_online_options(options.online); !checked)
    return diag::cli::print_error(tool, checked.error().message), diag::exit_usage;
  if (request.signin_files.empty() && request.usage_report_file.empty() && request.smtp_auth_report_file.empty() &&
      request.mailboxes_file.empty() && request.db_file.empty() && options.online.tenant.empty())
    return diag::cli::print_error(tool, "nothing to read: give --tenant (with --client-id and a way to sign in), "
                                        "--signins, --smtp-auth-report, --usage-report, --mailboxes or --db (see sendcheck inventory --help)"),
           diag::exit_usage;
  if (!options.since.empty()) {
    request.since = diag::inventory::parse_date(options.since);
    if (!request.since)
      return diag::cli::print_error(tool, "--since: \"" + options.since + "\" is not a date (YYYY-MM-DD)"),
             diag::exit_usage;
  }
  request.today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  // A date after today counts nothing: a typo, never "nobody signs in".
  if (request.since && *request.since > request.today)
    return diag::cli::print_error(tool, "--since " + options.since + " is after today: nothing could be counted"),
           diag::exit_usage;
  options.online.timeout = std::chrono::milliseconds(static_cast<long long>(options.common.timeout_seconds * 1000));
  options.online.progress = !options.common.json && isatty(fileno(stderr));
  auto result = diag::inventory::run_inventory_online(request, options.online);
  if (!result) return diag::cli::print_error(tool, result.error().message), diag::cli::exit_code_for(result.error());
  const auto format = options.csv        ? diag::inventory::OutputFormat::csv
                      : options.markdown ? diag::inventory::OutputFormat::markdown
                                         : diag::inventory::OutputFormat::text;
  std::string text;
  const auto report = diag::inventory::make_report(*result, format, options.common.json ? nullptr : &text,
                                                   diag::TextStyle::for_stream(stdout, options.common.no_color));
  return diag::cli::finish(tool, report, text, options.common);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Who still signs in to SMTP AUTH with a password, from where, and what each should move to", tool};
  diag::cli::add_common_options(app, options.common, false);
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
       "sendcheck-inventory --tenant contoso.onmicrosoft.com --client-id 00000000-0000-0000-0000-000000000000 "
       "--client-secret-file secret.txt --json"},
      "Exit codes:\n"
      "  0  no sender will break at the cutover (warnings allowed)\n"
      "  1  a sender will break: it still signs in to SMTP AUTH with a password; the report says what it should move to\n"
      "  2  usage error or bad input (an option, an unreadable file, a file of the wrong layout): nothing was read\n"
      "  3  could not complete: Microsoft Graph or the sign-in could not be reached or read, the --db database stayed "
      "locked, or standard output could not be written\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(options); });
}
