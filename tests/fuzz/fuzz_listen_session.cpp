// libFuzzer target: sendcheck-listen's command parser. The input is what a
// client sends; one session of the exo-mx or exo-submission profile reads it
// over a socket pair (the first byte picks the profile) and must end with a
// report whose fields stay within their bounds.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/smtp.h"

namespace {

constexpr std::size_t max_input = 64 * 1024;

diag::smtp::ServerConfig config_for(std::uint8_t selector) {
  diag::smtp::ServerConfig config;
  switch (selector % 3) {
    case 0: config.profile = diag::smtp::exo_mx_profile({"contoso.com"}, true); break;
    case 1:
      config.profile = diag::smtp::exo_submission_profile();
      config.profile.auth_requires_tls = false;  // no TLS here: let AUTH be parsed
      break;
    default: config.profile = diag::smtp::accept_all_profile(); break;
  }
  config.max_line = 512;
  config.max_commands = 50;
  config.command_timeout = diag::smtp::Milliseconds(200);
  config.session_timeout = diag::smtp::Milliseconds(2000);
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > max_input) return 0;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 0;
  diag::smtp::RawSocket client(pair[0]);
  diag::smtp::RawSocket server(pair[1]);
  // Room for the whole input one way and every reply the other, so one thread does.
  const int buffer = 4 * 1024 * 1024;
  ::setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  ::setsockopt(server.fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  std::size_t sent = 1;
  while (sent < size) {
    const ssize_t n = ::send(client.fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) return 0;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(client.fd, SHUT_WR);

  const auto config = config_for(data[0]);
  diag::smtp::Connection connection(std::move(server), config.max_line);
  const auto report = diag::smtp::serve_session(config, std::move(connection), "127.0.0.1:1");
  if (report.end_reason.empty()) __builtin_trap();
  if (report.commands.size() > 200 || report.rcpt_to.size() > 100 || report.refused_rcpt.size() > 100) __builtin_trap();
  for (const auto& command : report.commands)
    if (command.size() > 200) __builtin_trap();
  if (report.ehlo.size() > 255 || report.auth_user.size() > 320) __builtin_trap();
  (void)diag::smtp::to_json(report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)diag::smtp::render_text(report);
  return 0;
}
