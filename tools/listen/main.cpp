// sendcheck-listen : an SMTP server that answers like Exchange Online and
// reports what a device does (TLS, AUTH, envelope), never relaying mail.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include <diag/ascii.h>
#include <diag/cli.h>
#include <diag/idna.h>
#include <diag/smtp.h>
#include <diag/version.h>

namespace {

constexpr const char* tool = "sendcheck-listen";

struct Options {
  diag::cli::CommonOptions common;
  std::string bind = "127.0.0.1", profile = "accept-all", basic_auth = "disabled", cert, key, save_dir, tls_min;
  int port = 2525;
  std::vector<std::string> accept_domains, send_as;
  bool reject_direct_send = false, implicit_tls = false, request_client_cert = false;
  std::size_t max_sessions = 16, sessions = 0;
  double session_timeout_seconds = 600;
};

int usage_error(const std::string& message) {
  diag::cli::print_error(tool, message);
  return diag::exit_usage;
}

int run(const Options& o) {
  using namespace diag::smtp;
  auto profile = profile_by_name(o.profile);
  if (!profile) return usage_error("unknown --profile " + o.profile + " (exo-submission, exo-mx, accept-all)");
  if (o.basic_auth != "disabled" && o.basic_auth != "retired" && o.basic_auth != "accept")
    return usage_error("--basic-auth must be disabled, retired or accept");
  if (o.profile == "exo-submission")
    profile = exo_submission_profile(o.basic_auth == "retired" ? BasicAuthAnswer::retired_30
                                     : o.basic_auth == "accept" ? BasicAuthAnswer::accept
                                                                : BasicAuthAnswer::disabled_139);
  else if (o.profile == "exo-mx") {
    std::vector<std::string> accept_domains;  // a Unicode domain as its A-labels, as RCPT TO carries it
    for (const auto& domain : o.accept_domains) {
      auto ascii_form = diag::idna::to_ascii(domain);
      if (!ascii_form) return usage_error("--accept-domain: " + ascii_form.error().message);
      accept_domains.push_back(diag::ascii::to_lower(*ascii_form));
    }
    profile = exo_mx_profile(accept_domains, o.reject_direct_send);
  }
  else if (!o.accept_domains.empty() || o.reject_direct_send)
    return usage_error("--accept-domain and --reject-direct-send belong to --profile exo-mx");
  if (!o.send_as.empty() && o.profile != "exo-submission") return usage_error("--send-as belongs to --profile exo-submission");
  for (const auto& address : o.send_as) {
    if (address.find('@') == std::string::npos) return usage_error("--send-as needs an email address: " + address);
    profile->send_as.push_back(diag::ascii::to_lower(address));
  }
  if (!o.tls_min.empty()) {
    auto version = diag::tls::parse_version(o.tls_min);
    if (!version) return usage_error("unknown TLS version " + o.tls_min);
    profile->tls_versions.min = *version;
  }
  auto address = diag::IpAddress::parse(o.bind);
  if (!address) return usage_error("--bind needs an IP address: " + o.bind);
  if (o.port < 0 || o.port > 65535) return usage_error("--port must be 0-65535");
  if (o.cert.empty() != o.key.empty()) return usage_error("--cert and --key go together");
  if (o.max_sessions == 0) return usage_error("--max-sessions must be at least 1");
  if (!(o.session_timeout_seconds > 0 && o.session_timeout_seconds <= 86400))
    return usage_error("--session-timeout must be more than 0 and at most 86400 seconds");

  ServerConfig config;
  config.profile = std::move(*profile);
  config.bind_address = *address;
  config.port = static_cast<std::uint16_t>(o.port);
  config.implicit_tls = o.implicit_tls;
  config.request_client_certificate = o.request_client_cert;
  config.max_sessions = o.max_sessions;
  config.save_dir = o.save_dir;
  config.command_timeout = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
  config.tls_timeout = config.command_timeout;
  config.session_timeout = std::chrono::milliseconds(static_cast<long long>(o.session_timeout_seconds * 1000));
  if (!o.cert.empty()) {
    auto credentials = diag::tls::load_credentials(o.cert, o.key);
    if (!credentials) return usage_error(credentials.error().message);
    config.credentials = std::make_shared<diag::tls::Credentials>(std::move(credentials.value()));
  } else {
    // RSA first, as Exchange Online presents; ECDSA beside it for clients that prefer it.
    diag::tls::CertificateSpec spec;
    spec.common_name = config.profile.host_name;
    spec.dns_names = {config.profile.host_name, "localhost"};
    spec.ip_addresses = {o.bind};
    for (auto key : {diag::tls::KeyType::rsa2048, diag::tls::KeyType::ec_p256}) {
      spec.key_type = key;
      auto credentials = diag::tls::generate_certificate(spec);
      if (!credentials) return diag::cli::print_error(tool, credentials.error().message), diag::exit_incomplete;
      auto shared = std::make_shared<diag::tls::Credentials>(std::move(credentials.value()));
      if (!config.credentials) config.credentials = shared;
      else config.additional_credentials.push_back(shared);
    }
  }
  std::mutex output;
  bool write_failed = false;
  const bool json = o.common.json;
  config.on_session = [&](const SessionReport& report) {
    std::string text;
    if (json) {
      // Run until interrupted: JSON Lines, one envelope a session as it ends.
      if (o.sessions != 0) return;
      text = listen_report(tool, diag::version, {&report}, nullptr).to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      text = render_text(report) + "\n";
    }
    std::lock_guard lock(output);
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) write_failed = true;
  };

  // Signals go to one thread that stops the server; sessions never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = SmtpServer::start(std::move(config));
  if (!server) return diag::cli::print_error(tool, server.error().message), diag::cli::exit_code_for(server.error());
  std::fprintf(stderr, "%s: listening on %s port %u, profile %s\n", tool, o.bind.c_str(), (*server)->port(), o.profile.c_str());
  std::fflush(stderr);
  SmtpServer* running = server->get();
  std::thread([signals, running]() mutable {
    int received = 0;
    sigwait(&signals, &received);
    running->stop();
  }).detach();
  running->wait(o.sessions);
  const auto reports = running->reports();
  server->reset();
  // What it saw, when it stops; the exit code follows the devices.
  const auto summary = summarize(reports);
  std::string text;
  if (json) {
    // With --sessions N the one document holds every session; otherwise
    // they went out as they ended and the last line closes with every
    // session's check and the summary.
    std::vector<const SessionReport*> sessions;
    for (const auto& report : reports) sessions.push_back(&report);
    auto closing = listen_report(tool, diag::version, sessions, &summary);
    if (o.sessions == 0) closing.fields().erase("sessions");
    text = closing.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    text = render_text(summary);
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) write_failed = true;
  if (write_failed) return diag::cli::print_error(tool, "cannot write to standard output"), diag::exit_incomplete;
  return summary.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.common.timeout_seconds = 60;  // a person typing, or a slow device: RFC 5321 4.5.3.2 allows minutes
  CLI::App app{"Listen like Exchange Online and report what a device does: TLS, AUTH, envelope", tool};
  diag::cli::add_common_options(app, o.common, false);
  app.get_option("--timeout")->description("Seconds to wait for each command and for the TLS handshake (default 60)");
  app.add_option("--bind", o.bind, "Address to listen on (default 127.0.0.1)")->type_name("ADDR");
  app.add_option("--port", o.port, "Port (default 2525; 0 picks a free one)");
  app.add_option("--profile", o.profile, "exo-submission, exo-mx or accept-all (default)")->type_name("NAME");
  app.add_option("--basic-auth", o.basic_auth, "exo-submission: answer basic AUTH disabled (535 5.7.139), retired (550 5.7.30) or accept")
      ->type_name("ANSWER");
  app.add_option("--accept-domain", o.accept_domains, "exo-mx: a recipient domain of the tenant (repeatable)")
      ->type_name("DOMAIN")->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--reject-direct-send", o.reject_direct_send, "exo-mx: answer 550 5.7.68 as RejectDirectSend does");
  app.add_option("--send-as", o.send_as,
                 "exo-submission: an address the signed-in user may send as (repeatable); any other MAIL FROM gets 550 5.7.60")
      ->type_name("ADDRESS")->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--cert", o.cert, "TLS certificate (PEM, chain after it); default: a generated self-signed one")->type_name("FILE");
  app.add_option("--key", o.key, "TLS private key (PEM)")->type_name("FILE");
  app.add_option("--tls-min", o.tls_min, "Lowest TLS version accepted")->type_name("VERSION");
  app.add_flag("--implicit-tls", o.implicit_tls, "TLS from the first byte (port 465 style)");
  app.add_flag("--request-client-cert", o.request_client_cert,
               "Ask each client for a TLS certificate (any is taken) and report its subject and names");
  app.add_option("--max-sessions", o.max_sessions, "Concurrent sessions (default 16)");
  app.add_option("--session-timeout", o.session_timeout_seconds,
                 "Longest a session may last, however busy the client keeps it (default 600): then 421 4.4.2")
      ->type_name("SECONDS");
  app.add_option("--sessions", o.sessions, "Exit after N sessions (default: run until interrupted)");
  app.add_option("--save-dir", o.save_dir, "Keep received messages in DIR (default: never stored)")->type_name("DIR");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(o); });
}
