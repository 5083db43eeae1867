// sendcheck-listen : an SMTP server that answers like Exchange Online and
// reports what a device does (TLS, AUTH, envelope), never relaying mail.
#include <diag/cli.h>
#include <diag/smtp_tools.h>

namespace {
constexpr const char* tool = "sendcheck-listen";
}

int main(int argc, char** argv) {
  diag::smtp::ListenToolOptions o;
  o.common.timeout_seconds = 60;  // a person typing, or a slow device: RFC 5321 4.5.3.2 allows minutes
  CLI::App app{"Listen like Exchange Online and report what a device does: TLS, AUTH, envelope", tool};
  diag::cli::add_common_options(app, o.common, false);
  app.get_option("--timeout")->description("Seconds to wait for each command and for the TLS handshake (default 60)");
  app.add_option("--bind", o.bind, "Address or host name to listen on (default 127.0.0.1; 0.0.0.0 for devices on the network)")->type_name("HOST");
  app.add_option("--port", o.port, "TCP port (default 2525; 0 picks a free one)");
  app.add_option("--profile", o.profile, "exo-submission, exo-mx or accept-all (default accept-all)")->type_name("NAME");
  app.add_option("--basic-auth", o.basic_auth,
                 "exo-submission: answer basic AUTH disabled (535 5.7.139, the default), retired (550 5.7.30) or accept")
      ->type_name("ANSWER");
  app.add_option("--accept-domain", o.accept_domains, "exo-mx: a recipient domain of the tenant (repeatable)")
      ->type_name("DOMAIN")->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--reject-direct-send", o.reject_direct_send, "exo-mx: answer 550 5.7.68 as RejectDirectSend does");
  app.add_option("--send-as", o.send_as,
                 "exo-submission: an address the signed-in user may send as (repeatable); any other MAIL FROM gets 550 5.7.60")
      ->type_name("ADDRESS")->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--cert", o.cert, "TLS certificate (PEM, chain after it); default: a generated self-signed one")->type_name("FILE");
  app.add_option("--key", o.key, "TLS private key (PEM)")->type_name("FILE");
  app.add_option("--tls-min", o.tls_min, "Lowest TLS version accepted: 1.0, 1.1, 1.2, 1.3 (default: the profile's)")->type_name("VERSION");
  app.add_flag("--implicit-tls", o.implicit_tls, "TLS from the first byte (port 465 style)");
  app.add_flag("--request-client-cert", o.request_client_cert,
               "Ask each client for a TLS certificate (any is taken) and report its subject and names");
  app.add_option("--max-sessions", o.max_sessions, "Sessions at the same time (default 16)");
  app.add_option("--session-timeout", o.session_timeout_seconds,
                 "Longest a session may last in seconds, however busy the client keeps it (default 600): then 421 4.4.2")
      ->type_name("SECONDS");
  app.add_option("--sessions", o.sessions, "Exit after N sessions (default: run until Ctrl-C or SIGTERM)");
  app.add_option("--save-dir", o.save_dir, "Keep received messages in DIR (default: never stored)")->type_name("DIR");
  diag::cli::describe(app,
                      {"sendcheck-listen --bind 0.0.0.0 --port 587 --profile exo-submission --basic-auth retired",
                       "sendcheck-listen --bind 0.0.0.0 --port 25 --profile exo-mx --accept-domain contoso.com --sessions 1",
                       "sendcheck-listen --port 2525 --json --sessions 3 > devices.json"},
                      "Exit codes:\n"
                      "  0  every device seen will keep working\n"
                      "  1  a device seen will break or fails now (basic AUTH, no TLS, old TLS): the report says what to change\n"
                      "  2  usage error or bad input (an option, a certificate file): nothing was started\n"
                      "  3  could not complete: the port could not be opened, or no device got far enough to show how it sends\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::smtp::run_listen_tool(o); });
}
