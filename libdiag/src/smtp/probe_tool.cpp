// sendcheck-probe's run: options checked into a probe, the targets
// resolved, the secret read, each target probed and the report written.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "diag/input_file.h"
#include "diag/oauth.h"
#include "diag/smtp_tools.h"
#include "diag/version.h"

namespace diag::smtp {
namespace {

constexpr const char* probe_tool_name = "sendcheck-probe";
constexpr std::size_t max_body_bytes = 10 * 1024 * 1024;

Result<std::string> read_body(const std::string& path) {
  auto in = open_input_file(path, "message body file");
  if (!in) return in.error();
  std::string body;
  char chunk[65536];
  while (in->read(chunk, sizeof chunk) || in->gcount() > 0) {
    body.append(chunk, static_cast<std::size_t>(in->gcount()));
    if (body.size() > max_body_bytes) return bad_input(path + ": the message body file is over 10 MB");
  }
  if (in->bad()) return input_read_error(path, "message body file");
  return body;
}

// The secret for --auth, from where it may come: never the command line.
Result<std::string> auth_secret(const ProbeToolOptions& o, AuthMechanism mechanism) {
  if (mechanism == AuthMechanism::xoauth2) {
    if (!o.token_file.empty()) return read_secret_file(o.token_file, "OAuth token");
    auto secret = read_secret_file(o.client_secret_file, "client secret");
    if (!secret) return secret.error();
    oauth::ClientCredentials credentials;
    credentials.endpoint = o.token_endpoint.empty() ? oauth::token_endpoint_for(o.tenant) : o.token_endpoint;
    credentials.client_id = o.client_id;
    credentials.client_secret = *secret;
    credentials.timeout = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
    auto token = oauth::fetch_client_credentials_token(credentials);
    if (!token) return token.error();
    return token->access_token;
  }
  if (!o.password_file.empty()) return read_secret_file(o.password_file, "password");
  if (const char* password = std::getenv("SENDCHECK_PASSWORD"); password && *password) return std::string(password);
  return bad_input("--auth " + o.auth + " needs a password: --password-file FILE or SENDCHECK_PASSWORD");
}

Result<bool> check_tls_options(const ProbeToolOptions& o, SessionConfig& session) {
  session.tls.ca_file = o.ca_file;
  for (auto [text, slot] : {std::pair{&o.tls_min, &session.tls.versions.min}, std::pair{&o.tls_max, &session.tls.versions.max}}) {
    if (text->empty()) continue;
    auto version = tls::parse_version(*text);
    if (!version) return bad_input("unknown TLS version " + *text + " (1.0, 1.1, 1.2 or 1.3)");
    *slot = *version;
  }
  if (session.tls.versions.min && session.tls.versions.max && *session.tls.versions.min > *session.tls.versions.max)
    return bad_input("--tls-min is above --tls-max");
  if (!o.ca_file.empty())
    if (auto ca = open_input_file(o.ca_file, "CA file"); !ca) return ca.error();
  if (o.client_cert.empty() != o.client_key.empty()) return bad_input("--client-cert and --client-key go together");
  if (!o.client_cert.empty()) {
    // Read before connecting, so a bad file is bad input and not a TLS failure.
    if (auto loaded = tls::load_credentials(o.client_cert, o.client_key); !loaded) return loaded.error();
    session.tls.client_certificate_file = o.client_cert;
    session.tls.client_key_file = o.client_key;
  }
  return true;
}

Result<bool> check_envelope_options(const ProbeToolOptions& o, SessionConfig& session) {
  for (const auto& address : o.rcpt)
    if (address.find_first_of("<>\r\n ") != std::string::npos) return bad_input("bad --rcpt address: " + address);
  if (o.from.find_first_of("<>\r\n ") != std::string::npos) return bad_input("bad --from address: " + o.from);
  if (!o.rcpt.empty() && o.from.empty()) return bad_input("--rcpt needs --from");
  if (o.send && (o.from.empty() || o.rcpt.empty())) return bad_input("--send needs --from and --rcpt");
  if (!o.send && !o.body_file.empty()) return bad_input("--body-file needs --send");
  session.mail_from = o.from;
  session.rcpt_to = o.rcpt;
  session.send = o.send;
  if (o.send) {
    std::string body = "This is a test message sent by sendcheck-probe " + std::string(version) + ".\r\n";
    if (!o.body_file.empty()) {
      auto read = read_body(o.body_file);
      if (!read) return read.error();
      body = *read;
    }
    session.message = build_test_message(o.from, o.rcpt, o.subject, body);
  }
  return true;
}

Result<bool> check_auth_options(const ProbeToolOptions& o, SessionConfig& session) {
  if (o.auth.empty()) {
    if (!o.user.empty()) return bad_input("--user needs --auth");
    return true;
  }
  auto mechanism = parse_auth_mechanism(o.auth);
  if (!mechanism) return bad_input("--auth must be login, plain or xoauth2");
  if (o.user.empty()) return bad_input("--auth needs --user");
  if (*mechanism == AuthMechanism::xoauth2 && o.token_file.empty() &&
      (o.client_id.empty() || o.client_secret_file.empty() || (o.tenant.empty() && o.token_endpoint.empty())))
    return bad_input("--auth xoauth2 needs --oauth-token-file, or --client-id, --client-secret-file and --tenant (or --token-endpoint)");
  session.auth = *mechanism;
  session.user = o.user;
  return true;
}

}  // namespace

Result<ProbeOptions> probe_options(const ProbeToolOptions& o) {
  if (o.port < 1 || o.port > 65535) return bad_input("--port must be 1-65535");
  if (o.ipv4_only && o.ipv6_only) return bad_input("-4 and -6 exclude each other");
  ProbeOptions probe;
  probe.port = static_cast<std::uint16_t>(o.port);
  SessionConfig& session = probe.session;
  session.helo = o.helo.empty() ? default_helo_name() : o.helo;
  if (session.helo.find_first_of(" \r\n\t") != std::string::npos) return bad_input("--helo must be one word");
  const auto policy = parse_starttls_policy(o.starttls);
  if (!policy) return bad_input("--starttls must be require, try or never");
  session.starttls = *policy;
  session.allow_unverified_auth = o.insecure_auth;
  session.tls_mode = (o.implicit_tls || o.port == 465) ? TlsMode::implicit
                     : *policy == StarttlsPolicy::never ? TlsMode::plain
                                                        : TlsMode::starttls;
  for (auto check : {check_tls_options, check_envelope_options, check_auth_options})
    if (auto checked = check(o, session); !checked) return checked.error();
  const auto budget = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
  session.timeouts = Timeouts::uniform(budget);
  session.slow_banner_after = std::min(std::chrono::milliseconds(5000), budget / 2);
  return probe;
}

int run_probe_tool(const ProbeToolOptions& o) {
  auto fail = [](const Error& error) { return cli::print_error(probe_tool_name, error.message), cli::exit_code_for(error); };
  auto checked = probe_options(o);
  if (!checked) return fail(checked.error());
  ProbeOptions probe = std::move(checked.value());
  SessionConfig& session = probe.session;
  if (o.common.verbose)
    session.on_transcript = [](const TranscriptEntry& entry) {
      std::fprintf(stderr, "%s\n", format_transcript_entry(entry).c_str());
    };

  auto config = cli::resolver_config(o.common, probe_tool_name);
  if (!config) return fail(config.error());
  auto resolver = dns::Resolver::create(std::move(config.value()));
  if (!resolver) return fail(resolver.error());

  Report report(probe_tool_name, version);
  std::vector<Check> target_checks;
  auto targets = resolve_targets(**resolver, o.target, o.mx, !o.ipv6_only, !o.ipv4_only, target_checks);
  if (!targets) return fail(targets.error());
  const auto style = TextStyle::for_stream(stdout, o.common.no_color);
  std::string text = render_checks_text(target_checks, style);
  for (auto& check : target_checks) report.add(std::move(check));

  if (session.auth != AuthMechanism::none && !targets->empty()) {
    auto secret = auth_secret(o, session.auth);
    // The token endpoint refusing the app is a finding (exit 1) with its fix,
    // not a run that could not complete.
    const auto refusal = !secret && o.token_file.empty() ? oauth::client_refusal(secret.error().message) : std::nullopt;
    if (refusal && (refusal->secret || secret.error().message.find("unauthorized_client") != std::string::npos)) {
      report.add(Check{"auth.token", Status::fail, "The token endpoint refused the client: " + secret.error().message, refusal->remedy, {}});
      return cli::finish(probe_tool_name, report, text + render_checks_text({report.checks().back()}, style), o.common,
                         &(*resolver)->log());
    }
    if (!secret) return fail(secret.error());
    session.secret = std::move(secret.value());
  }

  auto json_targets = nlohmann::json::array();
  for (const auto& target : *targets) {
    if (o.common.verbose) std::fprintf(stderr, "--- %s [%s]:%d\n", target.host.c_str(), target.address.to_string().c_str(), o.port);
    TargetResult result = probe_target(probe, target);
    if (o.common.json) json_targets.push_back(to_json(result));
    else text += render_text(result, style);
    for (auto& check : result.checks) report.add(std::move(check));
  }
  report.fields()["targets"] = std::move(json_targets);
  session.secret.assign(session.secret.size(), '\0');
  return cli::finish(probe_tool_name, report, text, o.common, &(*resolver)->log());
}

}  // namespace diag::smtp
