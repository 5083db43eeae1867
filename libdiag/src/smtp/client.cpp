// The SMTP client as an explicit state machine, after OpenSMTPD's
// smtp_client.c: each state sends at most one command, reads its reply and
// names the next state. Every failure is classified where it happens
// (connect, tls, protocol, policy, internal) and never thrown.
#include <cerrno>
#include <cstdio>

#include "diag/smtp.h"
#include "diag/strings.h"
#include "diag/oauth.h"

namespace diag::smtp {

std::string printable(std::string_view line, std::size_t max) {
  std::string out = strings::terminal_safe(line.substr(0, max));
  if (line.size() > max) out += "...";
  return out;
}

namespace {

// What a first line that is not SMTP says about the service on the port.
std::string sniff_service(std::string_view line) {
  if (line.starts_with("HTTP/") || line.starts_with("<!DOCTYPE") || line.starts_with("<html")) return "HTTP";
  if (line.starts_with("SSH-")) return "SSH";
  if (line.starts_with("+OK")) return "POP3";
  if (line.starts_with("* OK")) return "IMAP";
  if (!line.empty() && (line[0] == '\x15' || line[0] == '\x16')) return "TLS";
  return "";
}

class ClientSession {
 public:
  explicit ClientSession(const SessionConfig& config) : config_(config), start_(Clock::now()) {}

  SessionResult run() {
    ClientState state = ClientState::connect;
    while (state != ClientState::done) {
      result_.last_state = state;
      state = step(state);
    }
    connection_.close();
    note("NET", "connection closed");
    return std::move(result_);
  }

 private:
  ClientState step(ClientState state) {
    switch (state) {
      case ClientState::connect: return do_connect();
      case ClientState::tls_handshake_implicit: return do_tls(ClientState::banner);
      case ClientState::banner: return do_banner();
      case ClientState::ehlo: return do_ehlo(false);
      case ClientState::helo: return do_helo();
      case ClientState::starttls: return do_starttls();
      case ClientState::tls_handshake: return do_tls(ClientState::ehlo_after_tls);
      case ClientState::ehlo_after_tls: return do_ehlo(true);
      case ClientState::auth: return do_auth();
      case ClientState::auth_continue: return do_auth_continue();
      case ClientState::mail: return do_mail();
      case ClientState::rcpt: return do_rcpt();
      case ClientState::data: return do_data();
      case ClientState::message: return do_message();
      case ClientState::rset: return do_rset();
      case ClientState::quit: return do_quit();
      case ClientState::done: return ClientState::done;
    }
    return ClientState::done;
  }

  double elapsed_ms() const { return std::chrono::duration<double, std::milli>(Clock::now() - start_).count(); }
  Clock::time_point deadline(Milliseconds budget) const { return Clock::now() + budget; }

  void note(const std::string& dir, const std::string& line) {
    TranscriptEntry entry{dir, printable(line), elapsed_ms()};
    if (config_.on_transcript) config_.on_transcript(entry);
    if (result_.transcript.size() < 2000) result_.transcript.push_back(std::move(entry));
  }

  void fail(FailureClass failure_class, std::string kind, std::string message, std::optional<Reply> reply = {}) {
    Failure failure{failure_class, std::move(kind), std::string(to_string(result_.last_state)), std::move(message),
                    std::move(reply)};
    if (failure.failure_class == FailureClass::policy) result_.policy_replies.push_back(failure);
    if (!result_.failure) result_.failure = std::move(failure);
  }

  void fail_policy(std::string kind, const Reply& reply) {
    fail(FailureClass::policy, std::move(kind), reply.raw(), reply);
  }

  // Sends one command line; `shown` is what the transcript may say.
  bool send(const std::string& line, const std::string& shown) {
    note("C", shown);
    std::string detail;
    const IoStatus status = connection_.write_all(line + "\r\n", deadline(config_.timeouts.command), &detail);
    if (status == IoStatus::ok) return true;
    io_failure(status, detail, "sending " + first_word(shown));
    return false;
  }
  bool send(const std::string& line) { return send(line, line); }

  static std::string first_word(const std::string& text) { return text.substr(0, text.find(' ')); }

  void io_failure(IoStatus status, const std::string& detail, const std::string& while_doing) {
    switch (status) {
      case IoStatus::timeout:
        fail(FailureClass::protocol, "timeout", "no answer from the server while " + while_doing);
        break;
      case IoStatus::closed:
        fail(FailureClass::protocol, "closed", "the server closed the connection while " + while_doing);
        break;
      case IoStatus::too_long:
        fail(FailureClass::protocol, "line-too-long", "the server sent " + detail + " while " + while_doing);
        break;
      case IoStatus::tls_error:
        result_.tls.failure = connection_.handshake_failure();
        fail(FailureClass::tls, "tls-error", "TLS failed while " + while_doing + ": " + detail);
        break;
      default:
        fail(FailureClass::protocol, "error", "network error while " + while_doing + (detail.empty() ? "" : ": " + detail));
        break;
    }
    note("NET", std::string(to_string(status)) + (detail.empty() ? "" : ": " + detail));
  }

  // Reads one whole reply within the deadline; nullopt after a failure.
  std::optional<Reply> read_reply(Clock::time_point until, const std::string& while_doing) {
    ReplyAssembler assembler(config_.max_reply_lines);
    const auto started = Clock::now();
    for (;;) {
      ReadResult read = connection_.read_line(until);
      if (read.status != IoStatus::ok) {
        if (!read.line.empty()) note("S", read.line);
        io_failure(read.status, read.detail, while_doing);
        return std::nullopt;
      }
      note("S", read.line);
      switch (assembler.feed(read.line)) {
        case ReplyAssembler::Step::more: continue;
        case ReplyAssembler::Step::complete: {
          Reply reply = assembler.take();
          last_reply_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
          return reply;
        }
        case ReplyAssembler::Step::error: {
          const std::string service = sniff_service(read.line);
          if (!service.empty()) {
            result_.peer_hint = service;
            fail(FailureClass::protocol, "not-smtp", "the service on this port speaks " + service + ", not SMTP");
          } else {
            fail(FailureClass::protocol, "bad-reply", "the server's answer is not SMTP (" + assembler.error() + ")");
          }
          return std::nullopt;
        }
      }
    }
  }

  // A reply that ends the session: 421 (RFC 5321 3.8, the server is closing).
  bool closing(const Reply& reply) { return reply.code == 421; }

  ClientState do_connect() {
    const std::string where = config_.address.is_v4() ? config_.address.to_string() : "[" + config_.address.to_string() + "]";
    note("NET", "connecting to " + where + ":" + std::to_string(config_.port));
    const auto started = Clock::now();
    ConnectResult connected = connection_.connect(config_.address, config_.port, deadline(config_.timeouts.connect));
    result_.connect_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (connected.status == IoStatus::timeout) {
      fail(FailureClass::connect, "timeout",
           "no answer to the connection attempt: the port is filtered on the way (a firewall drops it) or the host is down");
      note("NET", "connect timed out");
      return ClientState::done;
    }
    if (connected.status != IoStatus::ok) {
      const int error = connected.error_number;
      if (error == ECONNREFUSED)
        fail(FailureClass::connect, "refused", "connection refused: the host answered, but nothing listens on this port");
      else if (error == ENETUNREACH || error == EHOSTUNREACH || error == EADDRNOTAVAIL || error == EAFNOSUPPORT)
        fail(FailureClass::connect, "unreachable", "no route to the host: " + connected.detail);
      else
        fail(FailureClass::connect, "error", "cannot connect: " + connected.detail);
      note("NET", "connect failed: " + connected.detail);
      return ClientState::done;
    }
    result_.connected = true;
    connection_.set_max_line(config_.max_line);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", result_.connect_ms);
    note("NET", std::string("connected in ") + ms + " ms");
    return config_.tls_mode == TlsMode::implicit ? ClientState::tls_handshake_implicit : ClientState::banner;
  }

  ClientState do_tls(ClientState next) {
    result_.tls_attempted = true;
    if (!tls_context_) {
      tls::ClientConfig tls_config = config_.tls;
      tls_config.server_name = config_.host;
      auto context = tls::make_client_context(tls_config);
      if (!context) {
        fail(FailureClass::internal, "internal", context.error().message);
        return ClientState::done;
      }
      tls_context_ = std::move(context.value());
    }
    std::string detail;
    const IoStatus status =
        connection_.start_tls_client(tls_context_.get(), config_.host, deadline(config_.timeouts.tls), &detail);
    if (connection_.dropped_before_tls() > 0) {
      fail(FailureClass::protocol, "plaintext-after-starttls",
           "the server sent data after its STARTTLS reply, before the handshake (a STARTTLS injection risk)");
    }
    if (status != IoStatus::ok) {
      result_.tls.error = detail.empty() ? std::string(to_string(status)) : detail;
      result_.tls.server_name = config_.host;
      result_.tls.failure = connection_.handshake_failure();
      // The ServerHello's version stays known when we refused it (a TLS 1.0-only server).
      if (connection_.ssl() && tls::version_from_openssl_name(SSL_get_version(connection_.ssl())))
        result_.tls.server_version = SSL_get_version(connection_.ssl());
      // Plain text where the ServerHello was due: a STARTTLS or plain port
      // probed with --implicit-tls shows its greeting on a plain connection.
      if (next == ClientState::banner && result_.tls.failure == tls::HandshakeFailure::not_tls) {
        if (auto greeting = plain_greeting()) {
          result_.peer_hint = "SMTP";
          result_.plain_greeting = printable(*greeting, 200);
        }
      }
      fail(FailureClass::tls, "handshake", "the TLS handshake failed: " + result_.tls.error);
      note("TLS", "handshake failed: " + result_.tls.error +
                      (result_.tls.server_version.empty() ? "" : " (the server chose " + result_.tls.server_version + ")"));
      return ClientState::done;
    }
    result_.tls = tls::collect_facts(connection_.ssl(), config_.host);
    result_.tls.handshake_completed = true;
    result_.tls.server_version = result_.tls.version;
    if (next == ClientState::ehlo_after_tls) result_.starttls_completed = true;
    std::string summary = result_.tls.version + " " + result_.tls.cipher;
    if (!result_.tls.chain.empty()) summary += ", certificate " + result_.tls.chain.front().subject;
    summary += result_.tls.chain_trusted ? ", chain trusted" : ", chain not trusted (" + result_.tls.verify_error + ")";
    if (result_.tls.name_matches) summary += *result_.tls.name_matches ? ", name matches" : ", name does not match";
    if (result_.tls.expires_in_days) summary += ", expires in " + std::to_string(*result_.tls.expires_in_days) + " days";
    note("TLS", summary);
    return next;
  }

  ClientState do_banner() {
    const auto started = Clock::now();
    const auto until = deadline(config_.timeouts.banner);
    if (!connection_.wait_readable(until)) {
      result_.banner_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      return silent_banner();
    }
    auto reply = read_reply(until, "waiting for the banner");
    result_.banner_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (!reply) {
      if (result_.failure.kind == "timeout") result_.failure.kind = "banner-timeout";
      if (result_.failure.kind == "closed")
        result_.failure.message = "the server closed the connection without a greeting";
      return ClientState::done;
    }
    result_.banner = *reply;
    if (result_.banner_ms > static_cast<double>(config_.slow_banner_after.count())) result_.slow_banner = true;
    if (reply->code != 220) {
      // RFC 5321 3.1: 554 instead of 220 means "no service here"; 421 closes.
      fail_policy("banner", *reply);
      return closing(*reply) ? ClientState::done : ClientState::quit;
    }
    return ClientState::ehlo;
  }

  // Nothing within the banner timeout: a tarpit, or a service that waits for
  // the client to speak first (HTTP). Saying something tells them apart.
  ClientState silent_banner() {
    note("NET", "no banner within the banner timeout; sending a command to see who listens");
    if (connection_.write_all("EHLO " + config_.helo + "\r\n", deadline(config_.timeouts.command)) == IoStatus::ok) {
      note("C", "EHLO " + config_.helo);
      const auto until = deadline(std::min(config_.timeouts.command, Milliseconds(2000)));
      ReadResult read = connection_.read_line(until);
      if (read.status == IoStatus::ok || !read.line.empty()) {
        note("S", read.line);
        const std::string service = sniff_service(read.line);
        if (!service.empty()) {
          result_.peer_hint = service;
          fail(FailureClass::protocol, "not-smtp",
               "the service on this port speaks " + service + ", not SMTP: it sent no greeting and answered " +
                   printable(read.line, 60));
          return ClientState::done;
        }
      }
    }
    if (config_.tls_mode != TlsMode::implicit && answers_tls_hello()) {
      result_.peer_hint = "TLS";
      fail(FailureClass::protocol, "not-smtp",
           "the port expects TLS from the first byte (implicit TLS, port 465 style): it sent no greeting, and answered a "
           "TLS ClientHello on a second connection");
      return ClientState::done;
    }
    fail(FailureClass::protocol, "banner-timeout",
         "connected, but no SMTP greeting arrived in time: a tarpit, an overloaded server, or a middlebox holding the connection");
    return ClientState::done;
  }

  // The first line a port sends on a plain connection when it is an SMTP
  // greeting (220): one more connection, bounded by the connect and banner
  // timeouts.
  std::optional<std::string> plain_greeting() {
    note("NET", "reading the greeting on a plain connection");
    Connection second;
    if (second.connect(config_.address, config_.port, deadline(config_.timeouts.connect)).status != IoStatus::ok) return std::nullopt;
    ReadResult read = second.read_line(deadline(config_.timeouts.banner));
    second.close();
    if (read.status != IoStatus::ok || !read.line.starts_with("220")) return std::nullopt;
    note("NET", "the port greets in plain text: " + printable(read.line, 100));
    return read.line;
  }

  // A silent port may be waiting for a TLS ClientHello: one more connection,
  // one handshake attempt, bounded by the connect and TLS timeouts.
  bool answers_tls_hello() {
    note("NET", "trying a TLS ClientHello on a new connection");
    Connection second;
    if (second.connect(config_.address, config_.port, deadline(config_.timeouts.connect)).status != IoStatus::ok) return false;
    tls::ClientConfig tls_config = config_.tls;
    tls_config.server_name = config_.host;
    auto context = tls::make_client_context(tls_config);
    if (!context) return false;
    std::string detail;
    const IoStatus status = second.start_tls_client(context->get(), config_.host, deadline(config_.timeouts.tls), &detail);
    const auto failure = second.handshake_failure();
    second.close();
    const bool tls = status == IoStatus::ok ||
                     (failure != tls::HandshakeFailure::timed_out && failure != tls::HandshakeFailure::closed &&
                      failure != tls::HandshakeFailure::not_tls && failure != tls::HandshakeFailure::none);
    note("NET", tls ? "the port answered the ClientHello: it speaks TLS" : "no TLS answer either" + (detail.empty() ? "" : ": " + detail));
    return tls;
  }

  ClientState do_ehlo(bool after_tls) {
    if (!send("EHLO " + config_.helo)) return ClientState::done;
    auto reply = read_reply(deadline(config_.timeouts.command), "waiting for the EHLO reply");
    if (!reply) return ClientState::done;
    if (reply->code == 250) {
      auto extensions = parse_ehlo(*reply);
      if (after_tls || connection_.tls_active()) {
        result_.ehlo_after_tls = *reply;
        result_.after_tls = std::move(extensions);
      } else {
        result_.ehlo = *reply;
        result_.before_tls = std::move(extensions);
      }
      return after_greeting();
    }
    if (closing(*reply)) {
      fail_policy("ehlo", *reply);
      return ClientState::done;
    }
    // RFC 5321 4.1.4: a server that does not know EHLO gets HELO.
    if (!after_tls && (reply->code == 500 || reply->code == 502)) return ClientState::helo;
    fail_policy("ehlo", *reply);
    return ClientState::quit;
  }

  ClientState do_helo() {
    if (!send("HELO " + config_.helo)) return ClientState::done;
    auto reply = read_reply(deadline(config_.timeouts.command), "waiting for the HELO reply");
    if (!reply) return ClientState::done;
    if (reply->code != 250) {
      fail_policy("ehlo", *reply);
      return closing(*reply) ? ClientState::done : ClientState::quit;
    }
    result_.used_helo = true;
    result_.ehlo = *reply;
    return after_greeting();
  }

  // After a greeting: STARTTLS when wanted and possible, else what was asked.
  ClientState after_greeting() {
    if (!connection_.tls_active() && config_.tls_mode == TlsMode::starttls && config_.starttls != StarttlsPolicy::never) {
      result_.starttls_offered = result_.before_tls.starttls;
      if (result_.starttls_offered) return ClientState::starttls;
      if (config_.starttls == StarttlsPolicy::require) {
        fail(FailureClass::tls, "starttls-missing", "the server does not offer STARTTLS");
        return ClientState::quit;
      }
    } else if (!connection_.tls_active()) {
      result_.starttls_offered = result_.before_tls.starttls;
    }
    return after_tls_ready();
  }

  ClientState after_tls_ready() {
    if (config_.auth != AuthMechanism::none) return ClientState::auth;
    if (!config_.mail_from.empty() || !config_.rcpt_to.empty()) return ClientState::mail;
    return ClientState::quit;
  }

  ClientState do_starttls() {
    result_.starttls_attempted = true;
    if (!send("STARTTLS")) return ClientState::done;
    auto reply = read_reply(deadline(config_.timeouts.command), "waiting for the STARTTLS reply");
    if (!reply) return ClientState::done;
    result_.starttls_reply = *reply;
    if (reply->code == 220) return ClientState::tls_handshake;
    fail(FailureClass::tls, "starttls-refused", "the server refused STARTTLS: " + reply->raw(), *reply);
    if (reply->code >= 400) result_.policy_replies.push_back(Failure{FailureClass::policy, "starttls", "starttls", reply->raw(), *reply});
    if (closing(*reply)) return ClientState::done;
    return config_.starttls == StarttlsPolicy::require ? ClientState::quit : after_tls_ready();
  }

  ClientState do_auth() {
    if (!connection_.tls_active() && !config_.allow_plaintext_auth) {
      fail(FailureClass::tls, "auth-without-tls",
           "AUTH not attempted: the connection is not encrypted, and credentials are never sent in clear text");
      return ClientState::quit;
    }
    // A certificate that failed verification may be a TLS-intercepting
    // firewall's or an attacker's: the credentials would be theirs.
    // An expired certificate fails verification as well (RFC 5280 6.1.3):
    // its key may have been retired, or taken.
    const bool out_of_date = result_.tls.expired || result_.tls.not_yet_valid;
    if (connection_.tls_active() && !config_.allow_unverified_auth &&
        (!result_.tls.chain_trusted || result_.tls.name_matches == false || out_of_date)) {
      const std::string why = !result_.tls.chain_trusted     ? result_.tls.verify_error
                              : result_.tls.name_matches == false ? "it does not name " + config_.host
                              : result_.tls.expired              ? std::string("it has expired")
                                                                 : std::string("it is not valid yet");
      fail(FailureClass::tls, "auth-unverified-tls",
           "AUTH not attempted: the server's certificate failed verification (" + why +
               "), so the credentials could go to whoever holds it (a TLS-intercepting firewall, a man in the middle)");
      return ClientState::quit;
    }
    auth_payloads_.clear();
    switch (config_.auth) {
      case AuthMechanism::plain: {
        // RFC 4616: [authzid] NUL authcid NUL passwd, sent as the initial response (RFC 4954 4).
        const std::string payload = base64_encode(std::string(1, '\0') + config_.user + '\0' + config_.secret);
        if (!send("AUTH PLAIN " + payload, "AUTH PLAIN ***")) return ClientState::done;
        auth_command_ = "AUTH PLAIN ***";
        break;
      }
      case AuthMechanism::login:
        auth_payloads_ = {base64_encode(config_.user), base64_encode(config_.secret)};
        if (!send("AUTH LOGIN")) return ClientState::done;
        auth_command_ = "AUTH LOGIN";
        break;
      case AuthMechanism::xoauth2: {
        auth_payloads_ = {oauth::xoauth2_initial_response(config_.user, config_.secret)};
        if (!send("AUTH XOAUTH2")) return ClientState::done;
        auth_command_ = "AUTH XOAUTH2";
        break;
      }
      case AuthMechanism::none: return after_tls_ready();
    }
    auth_started_ = Clock::now();
    return ClientState::auth_continue;
  }

  ClientState do_auth_continue() {
    auto reply = read_reply(deadline(config_.timeouts.command), "waiting for the AUTH reply");
    if (!reply) return ClientState::done;
    if (reply->code == 334) {
      if (!auth_payloads_.empty()) {
        const std::string payload = auth_payloads_.front();
        auth_payloads_.erase(auth_payloads_.begin());
        if (!send(payload, "***")) return ClientState::done;
        return ClientState::auth_continue;
      }
      // RFC 7628 3.2.3 style error challenge (XOAUTH2): an empty line asks for the final reply.
      if (!sent_empty_response_) {
        sent_empty_response_ = true;
        if (!send("", "")) return ClientState::done;
        return ClientState::auth_continue;
      }
      // RFC 4954 4: "*" cancels an exchange that does not end.
      if (!send("*")) return ClientState::done;
      return ClientState::auth_continue;
    }
    result_.auth = Exchange{auth_command_, *reply,
                            std::chrono::duration<double, std::milli>(Clock::now() - auth_started_).count()};
    if (reply->code == 235) {
      if (!config_.mail_from.empty() || !config_.rcpt_to.empty()) return ClientState::mail;
      return ClientState::quit;
    }
    fail_policy("auth", *reply);
    return closing(*reply) ? ClientState::done : ClientState::quit;
  }

  bool exchange(const std::string& command, const std::string& while_doing, Milliseconds budget, Reply& reply) {
    if (!send(command)) return false;
    auto got = read_reply(deadline(budget), while_doing);
    if (!got) return false;
    reply = *got;
    result_.envelope.push_back(Exchange{command, reply, last_reply_ms_});
    return true;
  }

  ClientState do_mail() {
    Reply reply;
    if (!exchange("MAIL FROM:<" + config_.mail_from + ">", "waiting for the MAIL FROM reply", config_.timeouts.command,
                  reply))
      return ClientState::done;
    if (reply.code == 250) return ClientState::rcpt;
    fail_policy("mail", reply);
    return closing(reply) ? ClientState::done : ClientState::rset;
  }

  ClientState do_rcpt() {
    if (next_rcpt_ >= config_.rcpt_to.size()) {
      if (config_.send && accepted_rcpts_ > 0) return ClientState::data;
      return ClientState::rset;
    }
    Reply reply;
    if (!exchange("RCPT TO:<" + config_.rcpt_to[next_rcpt_++] + ">", "waiting for the RCPT TO reply",
                  config_.timeouts.command, reply))
      return ClientState::done;
    if (reply.code == 250 || reply.code == 251) ++accepted_rcpts_;
    else fail_policy("rcpt", reply);
    return closing(reply) ? ClientState::done : ClientState::rcpt;
  }

  ClientState do_data() {
    Reply reply;
    if (!exchange("DATA", "waiting for the DATA reply", config_.timeouts.command, reply)) return ClientState::done;
    if (reply.code == 354) return ClientState::message;
    fail_policy("data", reply);
    return closing(reply) ? ClientState::done : ClientState::rset;
  }

  ClientState do_message() {
    const std::string stuffed = dot_stuff(config_.message);
    note("C", "<message, " + std::to_string(stuffed.size()) + " bytes>");
    note("C", ".");
    std::string detail;
    const IoStatus status = connection_.write_all(stuffed, deadline(config_.timeouts.data), &detail);
    if (status != IoStatus::ok) {
      io_failure(status, detail, "sending the message");
      return ClientState::done;
    }
    const auto started = Clock::now();
    auto reply = read_reply(deadline(config_.timeouts.data), "waiting for the reply to the message");
    if (!reply) return ClientState::done;
    result_.envelope.push_back(
        Exchange{"<end of message>", *reply, std::chrono::duration<double, std::milli>(Clock::now() - started).count()});
    if (reply->code != 250) fail_policy("message", *reply);
    return closing(*reply) ? ClientState::done : ClientState::quit;
  }

  ClientState do_rset() {
    Reply reply;
    if (!exchange("RSET", "waiting for the RSET reply", config_.timeouts.command, reply)) return ClientState::done;
    return closing(reply) ? ClientState::done : ClientState::quit;
  }

  ClientState do_quit() {
    note("C", "QUIT");
    if (connection_.write_all("QUIT\r\n", deadline(config_.timeouts.command)) != IoStatus::ok) return ClientState::done;
    // The session's verdict is in; a server that closes without 221 changes nothing.
    ReplyAssembler assembler(config_.max_reply_lines);
    const auto until = deadline(config_.timeouts.command);
    const auto started = Clock::now();
    for (;;) {
      ReadResult read = connection_.read_line(until);
      if (read.status != IoStatus::ok) break;
      note("S", read.line);
      const auto step = assembler.feed(read.line);
      if (step == ReplyAssembler::Step::more) continue;
      if (step == ReplyAssembler::Step::complete)
        result_.quit = Exchange{"QUIT", assembler.take(),
                                std::chrono::duration<double, std::milli>(Clock::now() - started).count()};
      break;
    }
    return ClientState::done;
  }

  const SessionConfig& config_;
  Clock::time_point start_;
  SessionResult result_;
  Connection connection_;
  tls::SslCtxPtr tls_context_;
  std::vector<std::string> auth_payloads_;
  std::string auth_command_;
  bool sent_empty_response_ = false;
  Clock::time_point auth_started_;
  std::size_t next_rcpt_ = 0, accepted_rcpts_ = 0;
  double last_reply_ms_ = 0;
};

}  // namespace

SessionResult run_session(const SessionConfig& config) {
  try {
    return ClientSession(config).run();
  } catch (const std::exception& e) {
    SessionResult result;
    result.failure = Failure{FailureClass::internal, "internal", "", e.what(), std::nullopt};
    return result;
  }
}

}  // namespace diag::smtp
