// sendcheck-probe HOST|DOMAIN : can a device get mail into this server, and
// what would it meet (banner, EHLO, STARTTLS, TLS, AUTH, the envelope)?
#include <diag/cli.h>
#include <diag/smtp_tools.h>

namespace {
constexpr const char* tool = "sendcheck-probe";
}

int main(int argc, char** argv) {
  diag::smtp::ProbeToolOptions o;
  CLI::App app{"Probe an SMTP server the way a device would: banner, EHLO, STARTTLS, TLS, AUTH, MAIL/RCPT", tool};
  diag::cli::add_common_options(app, o.common);
  app.add_option("target", o.target, "Host, address, or with --mx a domain")->required()->type_name("HOST|DOMAIN");
  app.add_flag("--mx", o.mx, "TARGET is a domain: probe each of its MX hosts");
  app.add_option("--port", o.port, "TCP port: 25 (MX), 587 (submission) or 465 (implicit TLS); default 25");
  app.add_flag("-4", o.ipv4_only, "IPv4 addresses only");
  app.add_flag("-6", o.ipv6_only, "IPv6 addresses only");
  app.add_option("--helo", o.helo, "Name sent with EHLO (default: this machine's FQDN)")->type_name("NAME");
  app.add_option("--starttls", o.starttls, "require, try or never (default try)")->type_name("POLICY");
  app.add_flag("--insecure-auth", o.insecure_auth, "Send credentials even when the server's certificate failed verification (a test server)");
  app.add_flag("--implicit-tls", o.implicit_tls, "TLS from the first byte (the default on port 465)");
  app.add_option("--ca", o.ca_file, "Trust the CA certificates in FILE instead of the system store")->type_name("FILE");
  app.add_option("--client-cert", o.client_cert, "Present this client certificate (PEM, chain after it) when the server asks")->type_name("FILE");
  app.add_option("--client-key", o.client_key, "The client certificate's private key (PEM, unencrypted)")->type_name("FILE");
  app.add_option("--tls-min", o.tls_min, "Lowest TLS version offered: 1.0, 1.1, 1.2, 1.3 (default: the system's)")->type_name("VERSION");
  app.add_option("--tls-max", o.tls_max, "Highest TLS version offered (1.0 tests what a legacy device meets; default 1.3)")->type_name("VERSION");
  app.add_option("--auth", o.auth, "Authenticate: login, plain or xoauth2 (default: no AUTH)")->type_name("MECHANISM");
  app.add_option("--user", o.user, "User name for --auth")->type_name("USER");
  app.add_option("--password-file", o.password_file, "Read the password from the first line of FILE (or set SENDCHECK_PASSWORD)")->type_name("FILE");
  app.add_option("--oauth-token-file", o.token_file, "Read the XOAUTH2 access token from the first line of FILE")->type_name("FILE");
  app.add_option("--tenant", o.tenant, "Tenant (ID or domain) for the client-credentials token")->type_name("TENANT");
  app.add_option("--client-id", o.client_id, "Application (client) ID for the client-credentials token")->type_name("ID");
  app.add_option("--client-secret-file", o.client_secret_file, "Read the client secret from the first line of FILE")->type_name("FILE");
  app.add_option("--token-endpoint", o.token_endpoint, "Token endpoint URL (default: the Microsoft identity platform's)")->type_name("URL");
  app.add_option("--from", o.from, "MAIL FROM address (default: stop after AUTH)")->type_name("ADDR");
  app.add_option("--rcpt", o.rcpt, "RCPT TO address (repeatable)")->type_name("ADDR")->expected(1)->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--send", o.send, "Really send a test message (default: RSET after RCPT, nothing is sent)");
  app.add_option("--subject", o.subject, "Subject of the --send message (default \"sendcheck-probe test message\")")->type_name("TEXT");
  app.add_option("--body-file", o.body_file, "Body of the --send message, at most 10 MB (default: one line)")->type_name("FILE");
  diag::cli::describe(app, {"sendcheck-probe smtp.office365.com --port 587 --auth login --user printer@contoso.com --password-file pw.txt",
                            "sendcheck-probe contoso.com --mx --from scanner@contoso.com --rcpt frontdesk@contoso.com",
                            "sendcheck-probe 192.0.2.10 --port 25 --tls-max 1.0"});
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::smtp::run_probe_tool(o); });
}
