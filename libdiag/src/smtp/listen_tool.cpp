// sendcheck-listen's run: options checked into a server configuration, a
// certificate made when none is given, the server run until --sessions or
// a signal, each session's report as it ends and the summary at the end.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <mutex>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/smtp_tools.h"
#include "diag/stop_on_signal.h"
#include "diag/version.h"

namespace diag::smtp {
namespace {

constexpr const char* listen_tool_name = "sendcheck-listen";

Result<ServerProfile> listen_profile(const ListenToolOptions& o) {
  auto profile = profile_by_name(o.profile);
  if (!profile) return bad_input("unknown --profile " + o.profile + " (exo-submission, exo-mx, accept-all)");
  if (o.basic_auth != "disabled" && o.basic_auth != "retired" && o.basic_auth != "accept")
    return bad_input("--basic-auth must be disabled, retired or accept");
  if (o.profile == "exo-submission")
    profile = exo_submission_profile(o.basic_auth == "retired"  ? BasicAuthAnswer::retired_30
                                     : o.basic_auth == "accept" ? BasicAuthAnswer::accept
                                                                : BasicAuthAnswer::disabled_139);
  else if (o.profile == "exo-mx") {
    std::vector<std::string> accept_domains;  // a Unicode domain as its A-labels, as RCPT TO carries it
    for (const auto& domain : o.accept_domains) {
      auto ascii_form = idna::to_ascii(domain);
      if (!ascii_form) return bad_input("--accept-domain: " + ascii_form.error().message);
      accept_domains.push_back(ascii::to_lower(*ascii_form));
    }
    profile = exo_mx_profile(accept_domains, o.reject_direct_send);
  }
  else if (!o.accept_domains.empty() || o.reject_direct_send)
    return bad_input("--accept-domain and --reject-direct-send belong to --profile exo-mx");
  if (!o.send_as.empty() && o.profile != "exo-submission") return bad_input("--send-as belongs to --profile exo-submission");
  for (const auto& address : o.send_as) {
    if (address.find('@') == std::string::npos) return bad_input("--send-as needs an email address: " + address);
    profile->send_as.push_back(ascii::to_lower(address));
  }
  if (!o.tls_min.empty()) {
    auto version = tls::parse_version(o.tls_min);
    if (!version) return bad_input("unknown TLS version " + o.tls_min);
    profile->tls_versions.min = *version;
  }
  return std::move(*profile);
}

// RSA first, as Exchange Online presents; ECDSA beside it for clients that prefer it.
Result<bool> generate_credentials(ServerConfig& config, const std::string& bind) {
  tls::CertificateSpec spec;
  spec.common_name = config.profile.host_name;
  spec.dns_names = {config.profile.host_name, "localhost"};
  spec.ip_addresses = {bind};
  for (auto key : {tls::KeyType::rsa2048, tls::KeyType::ec_p256}) {
    spec.key_type = key;
    auto credentials = tls::generate_certificate(spec);
    if (!credentials) return credentials.error();
    auto shared = std::make_shared<tls::Credentials>(std::move(credentials.value()));
    if (!config.credentials) config.credentials = shared;
    else config.additional_credentials.push_back(shared);
  }
  return true;
}

bool write_stdout(const std::string& text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
}

// Run until interrupted (no --sessions): JSON Lines, one envelope a session
// as it ends. With --sessions N the one closing document holds them all.
std::string render_session(const SessionReport& report, bool json, bool lines) {
  if (!json) return render_text(report) + "\n";
  if (!lines) return {};
  return json_text(listen_report(listen_tool_name, version, {&report}, nullptr).to_json()) + "\n";
}

// With --sessions N the one document holds every session; otherwise they
// went out as they ended and the last line closes with every session's
// check and the summary.
std::string render_summary(const std::vector<SessionReport>& reports, const ListenSummary& summary, bool json, bool lines) {
  if (!json) return render_text(summary);
  std::vector<const SessionReport*> sessions;
  for (const auto& report : reports) sessions.push_back(&report);
  auto closing = listen_report(listen_tool_name, version, sessions, &summary);
  if (lines) closing.fields().erase("sessions");
  return json_text(closing.to_json()) + "\n";
}

}  // namespace

Result<ServerConfig> listen_server_config(const ListenToolOptions& o) {
  auto profile = listen_profile(o);
  if (!profile) return profile.error();
  auto address = IpAddress::parse(o.bind);
  if (!address) {
    // A name this machine has ("localhost", its own host name): the first
    // address the system resolver gives for it, IPv4 first, since most
    // devices that are to connect have nothing else.
    auto found = system_addresses(o.bind, true, false);
    if (found.empty()) found = system_addresses(o.bind, false, true);
    if (found.empty())
      return bad_input("--bind " + o.bind + ": not an IP address, and the system resolver has no address for it");
    address = found.front();
  }
  if (o.port < 0 || o.port > 65535) return bad_input("--port must be 0-65535");
  if (o.cert.empty() != o.key.empty()) return bad_input("--cert and --key go together");
  if (o.max_sessions == 0) return bad_input("--max-sessions must be at least 1");
  if (!(o.session_timeout_seconds > 0 && o.session_timeout_seconds <= 86400))
    return bad_input("--session-timeout must be more than 0 and at most 86400 seconds");

  ServerConfig config;
  config.profile = std::move(profile.value());
  config.bind_address = *address;
  config.port = static_cast<std::uint16_t>(o.port);
  config.implicit_tls = o.implicit_tls;
  config.request_client_certificate = o.request_client_cert;
  config.max_sessions = o.max_sessions;
  if (!o.save_dir.empty()) {
    std::error_code error;
    if (!std::filesystem::is_directory(o.save_dir, error))
      return bad_input("--save-dir " + o.save_dir + ": not a directory (create it first)");
  }
  config.save_dir = o.save_dir;
  config.command_timeout = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
  config.tls_timeout = config.command_timeout;
  config.session_timeout = std::chrono::milliseconds(static_cast<long long>(o.session_timeout_seconds * 1000));
  if (!o.cert.empty()) {
    auto credentials = tls::load_credentials(o.cert, o.key);
    if (!credentials) return credentials.error();
    config.credentials = std::make_shared<tls::Credentials>(std::move(credentials.value()));
  }
  return config;
}

int run_listen_tool(const ListenToolOptions& o) {
  auto fail = [](const Error& error) { return cli::print_error(listen_tool_name, error.message), cli::exit_code_for(error); };
  auto config = listen_server_config(o);
  if (!config) return fail(config.error());
  if (!config->credentials) {
    if (auto made = generate_credentials(*config, config->bind_address.to_string()); !made)
      return cli::print_error(listen_tool_name, made.error().message), exit_incomplete;
  }
  std::mutex output;
  bool write_failed = false;
  // -v: every line of every session on stderr as it passes, the client's
  // secrets (AUTH payloads, tokens) already masked by the server.
  if (o.common.verbose)
    config->on_transcript = [&output](const std::string& client, const TranscriptEntry& entry) {
      const std::string line = client + " " + format_transcript_entry(entry) + "\n";
      std::lock_guard lock(output);
      std::fwrite(line.data(), 1, line.size(), stderr);
    };
  config->on_session = [&](const SessionReport& report) {
    const std::string text = render_session(report, o.common.json, o.sessions == 0);
    std::lock_guard lock(output);
    if (!write_stdout(text)) write_failed = true;
  };

  // Signals go to one thread that stops the server; sessions never see them.
  // That thread is owned and joined before the server goes, so a signal that
  // comes after it reaches nothing.
  StopOnSignal::block();
  signal(SIGPIPE, SIG_IGN);
  auto server = SmtpServer::start(std::move(config.value()));
  if (!server) return fail(server.error());
  std::fprintf(stderr, "%s: listening on %s port %u, profile %s\n", listen_tool_name, o.bind.c_str(), (*server)->port(), o.profile.c_str());
  std::fflush(stderr);
  std::vector<SessionReport> reports;
  {
    StopOnSignal stop_on_signal([running = server->get()] { running->stop(); });
    (*server)->wait(o.sessions);
    // Every session that printed its report is in the summary: one that was
    // ending when the signal came is waited for, not left out.
    reports = (*server)->finish();
  }
  server->reset();
  // What it saw, when it stops; the exit code follows the devices.
  const auto summary = summarize(reports);
  if (!write_stdout(render_summary(reports, summary, o.common.json, o.sessions == 0)) || write_failed)
    return cli::print_error(listen_tool_name, "cannot write to standard output"), exit_incomplete;
  return summary.exit_code;
}

}  // namespace diag::smtp
