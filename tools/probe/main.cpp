// sendcheck-probe HOST|DOMAIN : can a device get mail into this server, and
// what would it meet (banner, EHLO, STARTTLS, TLS, AUTH, the envelope)?
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <diag/cli.h>
#include <diag/oauth.h>
#include <diag/smtp.h>
#include <diag/version.h>

namespace {

constexpr const char* tool = "sendcheck-probe";

struct Options {
  diag::cli::CommonOptions common;
  std::string target;
  bool mx = false, ipv4_only = false, ipv6_only = false, implicit_tls = false, send = false;
  int port = 25;
  std::string helo, starttls = "try", auth, user, password_file, token_file;
  std::string tenant, client_id, client_secret_file, token_endpoint;
  std::string from, subject = "sendcheck-probe test message", body_file;
  std::vector<std::string> rcpt;
  std::string ca_file, tls_min, tls_max;
  std::string client_cert, client_key;
};

int usage_error(const std::string& message) {
  diag::cli::print_error(tool, message);
  return diag::exit_usage;
}

std::optional<std::string> read_body(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string body;
  char chunk[65536];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    body.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (body.size() > 10 * 1024 * 1024) return std::nullopt;
  }
  return body;
}

// The secret for --auth, from where it may come: never the command line.
diag::Result<std::string> auth_secret(const Options& o, diag::smtp::AuthMechanism mechanism) {
  using diag::smtp::AuthMechanism;
  if (mechanism == AuthMechanism::xoauth2) {
    if (!o.token_file.empty()) return diag::oauth::read_secret_file(o.token_file, "OAuth token");
    if (o.client_id.empty() || o.client_secret_file.empty() || (o.tenant.empty() && o.token_endpoint.empty()))
      return diag::bad_input("--auth xoauth2 needs --oauth-token-file, or --client-id, --client-secret-file and --tenant (or --token-endpoint)");
    auto secret = diag::oauth::read_secret_file(o.client_secret_file, "client secret");
    if (!secret) return secret.error();
    diag::oauth::ClientCredentials credentials;
    credentials.endpoint = o.token_endpoint.empty() ? diag::oauth::token_endpoint_for(o.tenant) : o.token_endpoint;
    credentials.client_id = o.client_id;
    credentials.client_secret = *secret;
    credentials.timeout = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
    auto token = diag::oauth::fetch_client_credentials_token(credentials);
    if (!token) return token.error();
    return token->access_token;
  }
  if (!o.password_file.empty()) return diag::oauth::read_secret_file(o.password_file, "password");
  if (const char* password = std::getenv("SENDCHECK_PASSWORD"); password && *password) return std::string(password);
  return diag::bad_input("--auth " + o.auth + " needs a password: --password-file FILE or SENDCHECK_PASSWORD");
}

int run(const Options& o) {
  using namespace diag::smtp;
  if (o.port < 1 || o.port > 65535) return usage_error("--port must be 1-65535");
  if (o.ipv4_only && o.ipv6_only) return usage_error("-4 and -6 exclude each other");
  ProbeOptions probe;
  probe.port = static_cast<std::uint16_t>(o.port);
  SessionConfig& session = probe.session;
  session.helo = o.helo.empty() ? default_helo_name() : o.helo;
  if (session.helo.find_first_of(" \r\n\t") != std::string::npos) return usage_error("--helo must be one word");
  const auto policy = parse_starttls_policy(o.starttls);
  if (!policy) return usage_error("--starttls must be require, try or never");
  session.starttls = *policy;
  session.tls_mode = (o.implicit_tls || o.port == 465) ? TlsMode::implicit
                     : *policy == StarttlsPolicy::never ? TlsMode::plain : TlsMode::starttls;
  session.tls.ca_file = o.ca_file;
  for (auto [text, slot] : {std::pair{&o.tls_min, &session.tls.versions.min}, std::pair{&o.tls_max, &session.tls.versions.max}}) {
    if (text->empty()) continue;
    auto version = diag::tls::parse_version(*text);
    if (!version) return usage_error("unknown TLS version " + *text + " (1.0, 1.1, 1.2 or 1.3)");
    *slot = *version;
  }
  if (session.tls.versions.min && session.tls.versions.max && *session.tls.versions.min > *session.tls.versions.max)
    return usage_error("--tls-min is above --tls-max");
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file)) return usage_error("cannot read the CA file " + o.ca_file);
  if (o.client_cert.empty() != o.client_key.empty()) return usage_error("--client-cert and --client-key go together");
  if (!o.client_cert.empty()) {
    // Read before connecting, so a bad file is bad input and not a TLS failure.
    if (auto loaded = diag::tls::load_credentials(o.client_cert, o.client_key); !loaded) return usage_error(loaded.error().message);
    session.tls.client_certificate_file = o.client_cert;
    session.tls.client_key_file = o.client_key;
  }
  for (const auto& address : o.rcpt)
    if (address.find_first_of("<>\r\n ") != std::string::npos) return usage_error("bad --rcpt address: " + address);
  if (o.from.find_first_of("<>\r\n ") != std::string::npos) return usage_error("bad --from address: " + o.from);
  if (!o.rcpt.empty() && o.from.empty()) return usage_error("--rcpt needs --from");
  if (o.send && (o.from.empty() || o.rcpt.empty())) return usage_error("--send needs --from and --rcpt");
  if (!o.send && !o.body_file.empty()) return usage_error("--body-file needs --send");
  session.mail_from = o.from;
  session.rcpt_to = o.rcpt;
  session.send = o.send;
  if (o.send) {
    std::string body = "This is a test message sent by sendcheck-probe " + std::string(diag::version) + ".\r\n";
    if (!o.body_file.empty()) {
      auto read = read_body(o.body_file);
      if (!read) return usage_error("cannot read --body-file " + o.body_file + " (or it is over 10 MB)");
      body = *read;
    }
    session.message = build_test_message(o.from, o.rcpt, o.subject, body);
  }
  if (!o.auth.empty()) {
    auto mechanism = parse_auth_mechanism(o.auth);
    if (!mechanism) return usage_error("--auth must be login, plain or xoauth2");
    if (o.user.empty()) return usage_error("--auth needs --user");
    session.auth = *mechanism;
    session.user = o.user;
  } else if (!o.user.empty()) {
    return usage_error("--user needs --auth");
  }
  const auto budget = std::chrono::milliseconds(static_cast<long long>(o.common.timeout_seconds * 1000));
  session.timeouts = Timeouts::uniform(budget);
  session.slow_banner_after = std::min(std::chrono::milliseconds(5000), budget / 2);
  if (o.common.verbose)
    session.on_transcript = [](const TranscriptEntry& entry) {
      std::fprintf(stderr, "%s\n", format_transcript_entry(entry).c_str());
    };

  auto config = diag::cli::resolver_config(o.common, tool);
  if (!config) return diag::cli::print_error(tool, config.error().message), diag::cli::exit_code_for(config.error());
  auto resolver = diag::dns::Resolver::create(std::move(config.value()));
  if (!resolver) return diag::cli::print_error(tool, resolver.error().message), diag::cli::exit_code_for(resolver.error());

  diag::Report report(tool, diag::version);
  std::vector<diag::Check> target_checks;
  auto targets = resolve_targets(**resolver, o.target, o.mx, !o.ipv6_only, !o.ipv4_only, target_checks);
  if (!targets) return diag::cli::print_error(tool, targets.error().message), diag::cli::exit_code_for(targets.error());
  const auto style = diag::TextStyle::for_stream(stdout, o.common.no_color);
  std::string text = diag::render_checks_text(target_checks, style);
  for (auto& check : target_checks) report.add(std::move(check));

  if (session.auth != AuthMechanism::none && !targets->empty()) {
    auto secret = auth_secret(o, session.auth);
    if (!secret) return diag::cli::print_error(tool, secret.error().message), diag::cli::exit_code_for(secret.error());
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
  return diag::cli::finish(tool, report, text, o.common, &(*resolver)->log());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Probe an SMTP server the way a device would: banner, EHLO, STARTTLS, TLS, AUTH, MAIL/RCPT", tool};
  diag::cli::add_common_options(app, o.common);
  app.add_option("target", o.target, "Host, address, or with --mx a domain")->required()->type_name("HOST|DOMAIN");
  app.add_flag("--mx", o.mx, "TARGET is a domain: probe each of its MX hosts");
  app.add_option("--port", o.port, "Port: 25 (MX), 587 (submission) or 465 (implicit TLS); default 25");
  app.add_flag("-4", o.ipv4_only, "IPv4 addresses only");
  app.add_flag("-6", o.ipv6_only, "IPv6 addresses only");
  app.add_option("--helo", o.helo, "Name sent with EHLO (default: this machine's FQDN)")->type_name("NAME");
  app.add_option("--starttls", o.starttls, "require, try (default) or never")->type_name("POLICY");
  app.add_flag("--implicit-tls", o.implicit_tls, "TLS from the first byte (the default on port 465)");
  app.add_option("--ca", o.ca_file, "Trust the CA certificates in FILE instead of the system store")->type_name("FILE");
  app.add_option("--client-cert", o.client_cert, "Present this client certificate (PEM, chain after it) when the server asks")->type_name("FILE");
  app.add_option("--client-key", o.client_key, "The client certificate's private key (PEM, unencrypted)")->type_name("FILE");
  app.add_option("--tls-min", o.tls_min, "Lowest TLS version offered: 1.0, 1.1, 1.2, 1.3")->type_name("VERSION");
  app.add_option("--tls-max", o.tls_max, "Highest TLS version offered (1.0 tests what a legacy device meets)")->type_name("VERSION");
  app.add_option("--auth", o.auth, "Authenticate: login, plain or xoauth2")->type_name("MECHANISM");
  app.add_option("--user", o.user, "User name for --auth")->type_name("USER");
  app.add_option("--password-file", o.password_file, "Read the password from FILE (or set SENDCHECK_PASSWORD)")->type_name("FILE");
  app.add_option("--oauth-token-file", o.token_file, "Read the XOAUTH2 access token from FILE")->type_name("FILE");
  app.add_option("--tenant", o.tenant, "Tenant (ID or domain) for the client-credentials token")->type_name("TENANT");
  app.add_option("--client-id", o.client_id, "Application (client) ID for the client-credentials token")->type_name("ID");
  app.add_option("--client-secret-file", o.client_secret_file, "Read the client secret from FILE")->type_name("FILE");
  app.add_option("--token-endpoint", o.token_endpoint, "Token endpoint URL (default: the Microsoft identity platform's)")->type_name("URL");
  app.add_option("--from", o.from, "MAIL FROM address")->type_name("ADDR");
  app.add_option("--rcpt", o.rcpt, "RCPT TO address (repeatable)")->type_name("ADDR")->expected(1)->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--send", o.send, "Really send a test message (default: RSET after RCPT)");
  app.add_option("--subject", o.subject, "Subject of the --send message")->type_name("TEXT");
  app.add_option("--body-file", o.body_file, "Body of the --send message")->type_name("FILE");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(o); });
}
