// sendcheck-preflight DOMAIN --method METHOD --ip IP --from ADDR --to ADDR... :
// will this device's mail get into Microsoft 365 this way? All checks at once.
#include <diag/cli.h>
#include <diag/preflight.h>

int main(int argc, char** argv) {
  diag::preflight::ToolOptions o;
  CLI::App app{"Will direct send, relay or SMTP submission work for this device? The verdict, the checklist and the next steps",
               "sendcheck-preflight"};
  diag::cli::add_common_options(app, o.common);
  auto many = [](CLI::Option* option) {
    return option->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  app.add_option("domain", o.domain, "The tenant's accepted domain (default: the domain of --from)")->type_name("DOMAIN");
  app.add_option("--method", o.method, "direct-send (default), relay, smtp-auth, hve, acs, or auto (recommend one from --device-*)")->type_name("METHOD");
  app.add_option("--ip", o.ip, "The device's public IP address (what Microsoft 365 sees)")->type_name("IP");
  app.add_flag("--egress", o.egress, "Use the public address this machine sends from (with --ip: check that it is the device's)");
  many(app.add_option("--egress-dns", o.egress_dns, "Ask this server for the egress address (tests, mirrors)")->type_name("HOST[:PORT]"));
  app.add_option("--from", o.from, "The device's sender address (MAIL FROM and From)")->type_name("ADDR");
  many(app.add_option("--to", o.to, "A recipient (repeatable)")->type_name("ADDR"));
  many(app.add_option("--accepted-domain", o.accepted_domains, "Another accepted domain of the tenant (repeatable)")->type_name("DOMAIN"));
  app.add_option("--reject-direct-send", o.reject_direct_send,
                 "direct-send: the tenant's Reject Direct Send as Get-OrganizationConfig shows it: on (True) or off (False)")->type_name("on|off");
  app.add_option("--recipient-kind", o.recipient_kind,
                 "direct-send: what the tenant's --to are: mailbox or open-group (take mail from outside), group or restricted-mailbox (only from authenticated senders)")
      ->type_name("KIND");
  app.add_option("--smtp-host", o.smtp_host, "Connect here instead of the MX or the method's endpoint")->type_name("HOST");
  app.add_option("--smtp-port", o.smtp_port, "TCP port instead of the method's (default: 25, or 587 for smtp-auth, hve and acs)")->type_name("PORT");
  app.add_option("--helo", o.helo, "Name sent with EHLO (default: this machine's FQDN)")->type_name("NAME");
  app.add_option("--ca", o.ca_file, "Trust the CA certificates in FILE instead of the system store")->type_name("FILE");
  app.add_option("--client-cert", o.client_cert_file, "relay: the certificate a certificate connector matches (PEM, chain after it)")->type_name("FILE");
  app.add_option("--client-key", o.client_key_file, "relay: the client certificate's private key (PEM, unencrypted)")->type_name("FILE");
  many(app.add_option("--blocklist-zones", o.blocklist_tables, "Extra or replacement DNSBL table (sendcheck-blocklist --zones)")->type_name("FILE"));
  many(app.add_option("--list", o.lists, "Query only these blocklists (ids or zones; repeatable)")->type_name("ID"));
  app.add_option("--user", o.user, "User name for smtp-auth, hve or acs (default: --from)")->type_name("USER");
  app.add_option("--password-file", o.password_file, "Read the password (ACS: the client secret) from the first line of FILE, or set SENDCHECK_PASSWORD")->type_name("FILE");
  app.add_option("--oauth-token-file", o.token_file, "Read an XOAUTH2 access token from the first line of FILE")->type_name("FILE");
  app.add_option("--tenant", o.tenant, "Tenant (ID or domain) for the client-credentials token")->type_name("TENANT");
  app.add_option("--client-id", o.client_id, "Application (client) ID for the client-credentials token")->type_name("ID");
  app.add_option("--client-secret-file", o.client_secret_file, "Read the client secret from the first line of FILE")->type_name("FILE");
  app.add_option("--token-endpoint", o.token_endpoint, "Token endpoint URL (default: the Microsoft identity platform's)")->type_name("URL");
  app.add_option("--device-tls", o.device_tls, "--method auto: the best TLS the device speaks: none, 1.0, 1.1, 1.2 or 1.3")->type_name("VERSION");
  app.add_option("--device-auth", o.device_auth, "How the device signs in: none, basic, oauth (as a user) or oauth-app (client credentials); --method auto picks by it, smtp-auth, hve and acs check it")->type_name("AUTH");
  app.add_option("--recipients", o.recipients, "--method auto: internal or external (default: from --to)")->type_name("WHO");
  app.add_flag("--markdown", o.markdown, "Write the report as Markdown (for a ticket)");
  app.add_option("--batch", o.batch_file, "Check every row of FILE.csv (domain,method,ip,from,to); the options apply to every row")->type_name("FILE.csv");
  diag::cli::describe(app,
                      {"sendcheck-preflight contoso.com --method direct-send --ip 203.0.113.25 --from scanner@contoso.com --to staff@contoso.com",
                       "sendcheck-preflight contoso.com --method smtp-auth --from printer@contoso.com --password-file pw.txt --to staff@contoso.com",
                       "sendcheck-preflight --batch devices.csv --json > preflight.json"},
                      "Exit codes:\n"
                      "  0  WILL WORK: every step the method depends on was tested and passed (warnings allowed)\n"
                      "  1  WILL NOT WORK: a real finding; the report says what to change\n"
                      "  2  usage error or bad input (an option, a file, a --batch row): nothing was checked\n"
                      "  3  could not tell: a step could not be tested (timeout, DNS or network failure); 1 beats 3\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded("sendcheck-preflight", [&] { return diag::preflight::run_tool(o); });
}
