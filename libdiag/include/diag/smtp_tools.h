// sendcheck-probe and sendcheck-listen from parsed options to exit code.
// The executables only parse the command line into these structs; the
// checks on the options (ports, TLS versions, names, addresses) are here,
// where tests reach them, and give the one-line message a usage error
// prints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "diag/result.h"
#include "diag/smtp.h"
#include "diag/tool_common.h"

namespace diag::smtp {

// ---------------------------------------------------------------------------
// sendcheck-probe

struct ProbeToolOptions {
  cli::CommonOptions common;
  std::string target;                     // HOST|DOMAIN
  bool mx = false;                        // --mx: TARGET is a domain
  bool ipv4_only = false, ipv6_only = false;  // -4, -6
  int port = 25;                          // --port
  bool implicit_tls = false;              // --implicit-tls (the default on 465)
  std::string helo;                       // --helo (default: this machine's FQDN)
  std::string starttls = "try";           // --starttls require|try|never
  bool insecure_auth = false;             // --insecure-auth: AUTH despite a certificate that failed verification
  std::string ca_file, client_cert, client_key;  // --ca, --client-cert, --client-key
  std::string tls_min, tls_max;           // --tls-min, --tls-max
  std::string auth, user;                 // --auth login|plain|xoauth2, --user
  std::string password_file, token_file;  // --password-file, --oauth-token-file
  std::string tenant, client_id, client_secret_file, token_endpoint;
  std::string from;                       // --from
  std::vector<std::string> rcpt;          // --rcpt (repeatable)
  bool send = false;                      // --send
  std::string subject = "sendcheck-probe test message", body_file;
};

// The probe the options describe, every option checked; the secret is not
// read yet (it is needed only once there is a target to send it to). Bad
// options are bad_input with the message the tool prints.
Result<ProbeOptions> probe_options(const ProbeToolOptions& options);

int run_probe_tool(const ProbeToolOptions& options);

// ---------------------------------------------------------------------------
// sendcheck-listen

struct ListenToolOptions {
  cli::CommonOptions common;              // --timeout: each command and the TLS handshake
  std::string bind = "127.0.0.1";         // --bind
  int port = 2525;                        // --port (0: a free one)
  std::string profile = "accept-all";     // --profile exo-submission|exo-mx|accept-all
  std::string basic_auth = "disabled";    // --basic-auth disabled|retired|accept
  std::vector<std::string> accept_domains, send_as;  // --accept-domain, --send-as
  bool reject_direct_send = false;        // --reject-direct-send
  std::string cert, key, tls_min;         // --cert, --key, --tls-min
  bool implicit_tls = false, request_client_cert = false;
  std::size_t max_sessions = 16;          // --max-sessions
  double session_timeout_seconds = 600;   // --session-timeout
  std::size_t sessions = 0;               // --sessions N: exit after N (0: run until a signal)
  std::string save_dir;                   // --save-dir
};

// The server the options describe, every option checked. Credentials are
// loaded from --cert/--key here; without them the caller generates a
// certificate (listen_tool.cpp), which takes a moment.
Result<ServerConfig> listen_server_config(const ListenToolOptions& options);

int run_listen_tool(const ListenToolOptions& options);

}  // namespace diag::smtp
