// The server side of the engine: one thread per session (bounded), each a
// small state machine that answers from a profile copied from the real
// Exchange Online endpoints (m365-facts.md 5), and a report of what the
// client did. Secrets the client sends are decoded only to find the
// username, then dropped.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "diag/smtp.h"
#include "diag/ascii.h"
#include "diag/dns.h"
#include "diag/strings.h"
#include "diag/unique_fd.h"

namespace diag::smtp {

namespace {

std::string rfc5322_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buffer;
}

std::string session_id() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%016llX", static_cast<unsigned long long>(random()));
  return buffer;
}

std::string expand(std::string text, const std::string& host) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{host}", host}, {"{date}", rfc5322_date()},
                            {"{session}", session_id()}}) {
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  }
  return text;
}

// "<addr>" out of "FROM:<addr> SIZE=..." (RFC 5321 4.1.2), bounded.
std::string path_argument(std::string_view rest) {
  const auto open = rest.find('<');
  const auto close = rest.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) {
    auto colon = rest.find(':');
    std::string_view tail = colon == std::string_view::npos ? rest : rest.substr(colon + 1);
    while (!tail.empty() && tail.front() == ' ') tail.remove_prefix(1);
    return std::string(tail.substr(0, std::min<std::size_t>(tail.find(' '), 320)));
  }
  return std::string(rest.substr(open + 1, std::min<std::size_t>(close - open - 1, 320)));
}

std::string domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return ascii::to_lower(address.substr(at + 1));
}

const std::vector<std::string> exo_ehlo_before_tls = {"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
                                                      "STARTTLS", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"};

}  // namespace

ServerProfile exo_submission_profile(BasicAuthAnswer basic_auth) {
  // smtp.office365.com:587, m365-facts.md 5.1: no AUTH before STARTTLS,
  // "AUTH LOGIN XOAUTH2" and no STARTTLS after it.
  ServerProfile profile;
  profile.name = "exo-submission";
  profile.kind = ProfileKind::submission;
  profile.host_name = "SY5P282CA0097.outlook.office365.com";
  profile.banner = "220 {host} Microsoft ESMTP MAIL Service ready at {date} [{session}]";
  profile.ehlo_before_tls = exo_ehlo_before_tls;
  profile.ehlo_after_tls = {"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH LOGIN XOAUTH2",
                            "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"};
  profile.auth_requires_tls = true;
  profile.mail_requires_auth = true;
  // 501 5.5.4 "Invalid domain name" for a bare host name (m365-facts.md 4).
  profile.require_ehlo_domain = true;
  profile.enforce_send_as = true;
  // The legacy endpoint story (3.7): the handshake happens, then 421 4.7.66.
  profile.require_tls_1_2 = true;
  profile.tls_versions = {tls::Version::tls1_0, std::nullopt};
  profile.basic_auth = basic_auth;
  return profile;
}

ServerProfile exo_mx_profile(std::vector<std::string> accept_domains, bool reject_direct_send) {
  // Tenant MX on port 25, m365-facts.md 5.2. The post-STARTTLS list is
  // UNCONFIRMED (7.3); we answer the expected "same minus STARTTLS, no AUTH".
  ServerProfile profile;
  profile.name = "exo-mx";
  profile.kind = ProfileKind::mx;
  profile.host_name = "VE1EUR01FT034.mail.protection.outlook.com";
  profile.banner = "220 {host} Microsoft ESMTP MAIL Service ready at {date} [{session}]";
  profile.ehlo_before_tls = exo_ehlo_before_tls;
  profile.ehlo_after_tls = {"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
                            "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"};
  profile.auth_requires_tls = true;
  profile.accept_domains = std::move(accept_domains);
  for (auto& domain : profile.accept_domains) domain = ascii::to_lower(domain);
  profile.reject_direct_send = reject_direct_send;
  profile.tls_versions = {tls::Version::tls1_2, std::nullopt};  // 3.7: TLS 1.2 minimum inbound
  return profile;
}

ServerProfile accept_all_profile() {
  ServerProfile profile;
  profile.name = "accept-all";
  profile.kind = ProfileKind::accept_all;
  profile.host_name = "localhost";
  profile.banner = "220 {host} ESMTP sendcheck-listen ready";
  profile.ehlo_before_tls = {"SIZE 157286400", "PIPELINING", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME",
                             "AUTH PLAIN LOGIN XOAUTH2", "SMTPUTF8"};
  profile.ehlo_after_tls = {"SIZE 157286400", "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME",
                            "AUTH PLAIN LOGIN XOAUTH2", "SMTPUTF8"};
  // Learn what a device does, even sending credentials in clear text.
  profile.auth_requires_tls = false;
  profile.tls_versions = {tls::Version::tls1_0, std::nullopt};
  return profile;
}

std::optional<ServerProfile> profile_by_name(std::string_view name) {
  if (name == "exo-submission") return exo_submission_profile();
  if (name == "exo-mx") return exo_mx_profile({});
  if (name == "accept-all") return accept_all_profile();
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// One session

namespace {

// A message as it arrives, from DATA (lines already un-stuffed) or BDAT
// chunks (RFC 3030: raw octets): its size against the limit, the From, To
// and Subject headers for the report, and the octets when --save-dir keeps them.
class MessageCollector {
 public:
  MessageCollector(SessionReport& report, std::size_t max_bytes, bool keep)
      : report_(report), max_bytes_(max_bytes), keep_(keep) {}

  void add(std::string_view octets) {
    size_ += octets.size();
    if (size_ > max_bytes_) too_big_ = true;
    if (keep_ && !too_big_) kept_.append(octets);
    for (const char c : octets) {
      if (!in_headers_) break;
      if (c != '\n') {
        if (line_.size() < 8192) line_ += c;
        continue;
      }
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      header_line(line_);
      line_.clear();
    }
  }
  std::size_t size() const { return size_; }
  bool too_big() const { return too_big_; }
  const std::string& kept() const { return kept_; }

 private:
  void header_line(const std::string& line) {
    if (line.empty()) {
      in_headers_ = false;  // RFC 5322 2.1: the blank line ends the header section
      return;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !last_header_.empty()) return header(last_header_, line, true);
    // RFC 5322 4.5: the obsolete syntax allows blanks before the colon.
    std::string name = line.substr(0, line.find(':'));
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    last_header_ = ascii::to_upper(name);
    header(last_header_, line.find(':') == std::string::npos ? "" : line.substr(line.find(':') + 1), false);
  }

  void header(const std::string& name, std::string value, bool continuation) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    std::string* target = name == "FROM" ? &report_.header_from : name == "TO" ? &report_.header_to
                        : name == "SUBJECT" ? &report_.header_subject : name == "SENDER" ? &report_.header_sender : nullptr;
    if (!target || target->size() > 998) return;
    // A second From field is a second author: kept as a list, as Exchange
    // Online judges it (one From address only, 550 5.1.20).
    if (!target->empty()) *target += !continuation && name == "FROM" ? ", " : " ";
    *target += value.substr(0, 998);
  }

  SessionReport& report_;
  std::size_t max_bytes_;
  bool keep_;
  std::size_t size_ = 0;
  bool too_big_ = false, in_headers_ = true;
  std::string line_, last_header_, kept_;
};

// The first octets of a TLS handshake record (RFC 8446 5.1: type 22,
// legacy version 3.x), or of the SSL 2.0-format ClientHello old stacks
// still send (RFC 6101 E.2: a two-byte length with the high bit set, type 1,
// then the version): a client that started TLS where a command was due.
bool looks_like_tls_hello(std::string_view head) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 3 && byte(0) == 0x16 && byte(1) == 0x03 && byte(2) <= 0x04) return true;
  return head.size() >= 5 && (byte(0) & 0x80) != 0 && byte(2) == 0x01 && (byte(3) == 0x00 || byte(3) == 0x03) && byte(4) <= 0x04;
}

class ServerSession {
 public:
  ServerSession(const ServerConfig& config, SSL_CTX* tls_context, Connection connection, std::string client,
                const std::atomic<bool>& stopping)
      : config_(config), profile_(config.profile), tls_context_(tls_context), connection_(std::move(connection)),
        stopping_(stopping) {
    report_.client = std::move(client);
    host_ = profile_.host_name.empty() ? "localhost" : profile_.host_name;
  }

  SessionReport run() {
    const auto started = started_ = Clock::now();
    trace("NET", "connected");
    session_deadline_ = started + config_.session_timeout;
    serve();
    // Clients that check the certificate after the handshake (GnuTLS-based
    // ones) just close when they do not trust it.
    report_.silent_after_tls = (report_.starttls || report_.implicit_tls) && report_.end_reason == "closed" &&
                               report_.commands.size() == commands_at_tls_;
    connection_.close();
    report_.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    decide_verdict(report_, profile_);
    return std::move(report_);
  }

 private:
  // Each command has its own limit and the session one in all, so a client
  // that sends a byte now and then (slowloris) is still let go.
  Clock::time_point command_deadline() const {
    return std::min(Clock::now() + config_.command_timeout, session_deadline_);
  }

  bool say(const std::string& lines) {
    for (std::size_t start = 0; start <= lines.size();) {
      const auto end_of_line = lines.find("\r\n", start);
      trace("S", lines.substr(start, end_of_line == std::string::npos ? std::string::npos : end_of_line - start));
      if (end_of_line == std::string::npos) break;
      start = end_of_line + 2;
    }
    return connection_.write_all(lines + "\r\n", command_deadline()) == IoStatus::ok;
  }

  // -v: each line as it passes, the client's secrets already masked.
  void trace(const char* direction, const std::string& line) {
    if (!config_.on_transcript) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    config_.on_transcript(report_.client, TranscriptEntry{direction, printable(line, 512), ms});
  }

  std::string client_ip() const {
    auto text = report_.client;
    const auto colon = text.rfind(':');
    text = text.substr(0, colon);
    if (text.starts_with("[")) text = text.substr(1, text.size() - 2);
    return text;
  }

  void serve() {
    if (config_.implicit_tls) {
      report_.implicit_tls = true;
      if (!handshake()) return;
    }
    if (profile_.banner_delay.count() > 0) {
      const auto until = Clock::now() + profile_.banner_delay;
      while (Clock::now() < until && !stopping_) std::this_thread::sleep_for(Milliseconds(10));
    }
    if (profile_.speak_http) {
      auto read = connection_.read_line(command_deadline());
      if (read.status == IoStatus::ok)
        connection_.write_all("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                              command_deadline());
      report_.end_reason = "spoke HTTP";
      return;
    }
    if (!profile_.raw_greeting.empty()) {
      connection_.write_all(profile_.raw_greeting, command_deadline());
      connection_.wait_readable(command_deadline());
      report_.end_reason = "raw greeting sent";
      return;
    }
    if (!say(expand(profile_.banner, host_))) return end("closed");
    int commands = 0;
    for (;;) {
      if (stopping_) return end("server stopping");
      const auto deadline = command_deadline();
      if (!connection_.tls_active() && looks_like_tls_hello(connection_.peek(5, deadline))) {
        report_.tls_hello_in_clear = true;
        return end("a TLS ClientHello instead of an SMTP command");
      }
      ReadResult read = connection_.read_line(deadline);
      if (read.status == IoStatus::too_long) {
        say("500 5.5.6 Line too long");
        return end("line too long");
      }
      // (poll's milliseconds may wake a moment before the deadline itself)
      if (read.status == IoStatus::timeout && deadline == session_deadline_) {
        // The write has a fresh second: the session's own deadline is spent.
        connection_.write_all("421 4.4.2 " + host_ + " Session time limit exceeded, closing transmission channel\r\n",
                              Clock::now() + Milliseconds(1000));
        return end("session time limit");
      }
      if (read.status != IoStatus::ok) return end(std::string(to_string(read.status)));
      ++commands;
      if (profile_.close_after_commands >= 0 && commands > profile_.close_after_commands)
        return end("closed by the profile");
      if (static_cast<std::size_t>(commands) > config_.max_commands) {
        say("421 4.7.0 Too many commands, closing transmission channel");
        return end("too many commands");
      }
      if (!handle(read.line)) return;
    }
  }

  void end(std::string reason) {
    if (!report_.end_reason.empty()) return;
    trace("NET", "session ended: " + reason);
    report_.end_reason = std::move(reason);
  }

  void record(const std::string& line) {
    if (report_.commands.size() < 200) report_.commands.push_back(line.substr(0, 200));
  }

  // Returns false when the session ends.
  bool handle(const std::string& line) {
    const std::string verb = ascii::to_upper(line.substr(0, line.find(' ')));
    const std::string rest = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
    // A client out of step after AUTH (it ignored a 504, or pipelined its
    // answers to 334 prompts that never came) sends its user name, password
    // or token as lines of their own: whatever follows AUTH and is no SMTP
    // verb is a secret, never recorded or traced as it is.
    const bool stray_secret = stray_sasl_lines_ > 0 && !is_smtp_verb(verb);
    stray_sasl_lines_ = verb == "AUTH" ? 2 : stray_secret ? stray_sasl_lines_ - 1 : 0;
    if (stray_secret && !connection_.tls_active()) report_.auth_secret_in_clear = true;
    const std::string masked = stray_secret    ? std::string("***")
                               : verb == "AUTH" ? "AUTH " + ascii::to_upper(rest.substr(0, rest.find(' '))) +
                                                      (rest.find(' ') != std::string::npos ? " ***" : "")
                                                : line;
    record(masked);
    trace("C", masked);
    if (profile_.override_reply) {
      if (auto reply = profile_.override_reply(line)) {
        if (!say(*reply)) return false;
        if (reply->starts_with("221") || reply->starts_with("421")) return end("closed by the profile"), false;
        return true;
      }
    }
    if (legacy_tls_) {
      // m365-facts.md 3.7 [3P]: what smtp.office365.com answers a TLS 1.0/1.1 client.
      say("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. "
          "Visit https://aka.ms/smtp_auth_tls");
      return end("TLS 1.0/1.1 refused"), false;
    }
    if (verb == "EHLO" || verb == "HELO") return greet(verb == "EHLO", rest);
    if (verb == "STARTTLS") return starttls();
    if (verb == "AUTH") return auth(rest);
    if (verb == "MAIL") return mail(rest);
    if (verb == "RCPT") return rcpt(rest);
    if (verb == "DATA") return data();
    if (verb == "BDAT") return bdat(rest);
    if (verb == "RSET") {
      reset_transaction();
      return say("250 2.0.0 Resetting");
    }
    if (verb == "NOOP") return say("250 2.0.0 OK");
    if (verb == "QUIT") {
      say("221 2.0.0 Service closing transmission channel");
      return end("QUIT"), false;
    }
    return say("500 5.3.3 Unrecognized command");
  }

  static bool is_smtp_verb(const std::string& verb) {
    for (std::string_view known : {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT",
                                   "VRFY", "EXPN", "HELP"})
      if (verb == known) return true;
    return false;
  }

  void reset_transaction() {
    in_transaction_ = false;
    binary_body_ = false;
    rcpt_count_ = 0;
    message_.reset();
  }

  bool greet(bool extended, const std::string& argument) {
    report_.ehlo = argument.substr(0, 255);
    report_.used_ehlo = extended;
    if (profile_.require_ehlo_domain && !is_valid_ehlo_name(argument)) {
      report_.ehlo_refusal = "501 5.5.4 Invalid domain name [" + host_ + "]";
      return say(report_.ehlo_refusal);
    }
    report_.ehlo_refusal.clear();  // it corrected itself
    greeted_ = true;
    reset_transaction();
    const std::string first = host_ + " Hello [" + (config_.ehlo_seen_address.empty() ? client_ip() : config_.ehlo_seen_address) + "]";
    if (!extended) return say("250 " + first);
    std::vector<std::string> keywords = connection_.tls_active() ? profile_.ehlo_after_tls : profile_.ehlo_before_tls;
    if (!tls_context_ || !profile_.offer_starttls)
      keywords.erase(std::remove(keywords.begin(), keywords.end(), "STARTTLS"), keywords.end());
    std::string reply = "250" + std::string(keywords.empty() ? " " : "-") + first;
    for (std::size_t i = 0; i < keywords.size(); ++i)
      reply += "\r\n250" + std::string(i + 1 < keywords.size() ? "-" : " ") + keywords[i];
    return say(reply);
  }

  bool handshake() {
    std::string detail;
    // --timeout bounds the handshake as it bounds a command: a busy machine
    // must not turn a slow handshake into a TLS verdict.
    const auto deadline = std::min(Clock::now() + config_.tls_timeout, session_deadline_);
    const auto status = connection_.start_tls_server(tls_context_, deadline, &detail);
    report_.tls_offered_max = tls::client_offered_version(connection_.ssl());
    if (status != IoStatus::ok) {
      report_.tls_failure = status == IoStatus::timeout ? tls::HandshakeFailure::timed_out : connection_.handshake_failure();
      if (report_.tls_failure == tls::HandshakeFailure::none) report_.tls_failure = tls::HandshakeFailure::other;
      report_.tls_error = detail.empty() ? std::string(to_string(status)) : detail;
      trace("TLS", "handshake failed: " + report_.tls_error);
      end(report_.tls_failure == tls::HandshakeFailure::timed_out ? "timeout during the TLS handshake"
                                                                  : "TLS handshake failed: " + report_.tls_error);
      return false;
    }
    SSL* ssl = connection_.ssl();
    report_.tls_version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) report_.tls_cipher = SSL_CIPHER_get_name(cipher);
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) report_.sni = sni;
    if (tls::X509Ptr presented{SSL_get1_peer_certificate(ssl)}) report_.client_certificate = tls::describe_certificate(presented.get());
    const auto version = tls::version_from_openssl_name(report_.tls_version);
    if (profile_.require_tls_1_2 && version && *version < tls::Version::tls1_2) legacy_tls_ = true;
    commands_at_tls_ = report_.commands.size();
    trace("TLS", report_.tls_version + " " + report_.tls_cipher + (report_.sni.empty() ? "" : ", SNI " + report_.sni));
    return true;
  }

  bool starttls() {
    if (!greeted_) return say("503 5.5.2 Send hello first [" + host_ + "]");
    if (connection_.tls_active()) return say("503 5.5.1 Bad sequence of commands");
    if (!tls_context_ || !profile_.offer_starttls) return say("454 4.7.0 TLS not available");
    note_pipelined_before_tls(connection_.buffered_bytes());
    if (!say("220 2.0.0 SMTP server ready")) return false;
    if (!handshake()) return false;
    report_.starttls = true;
    // RFC 3207 4.2: forget what was learned before TLS.
    greeted_ = false;
    reset_transaction();
    return true;
  }

  // What came with STARTTLS in one write is dropped unread at the
  // handshake; an AUTH among it sent its secret in clear all the same. The
  // lines after an AUTH are its secret: only their presence is kept.
  void note_pipelined_before_tls(std::string_view ahead) {
    bool in_auth = false;
    for (std::size_t at = 0; at < ahead.size() && report_.pipelined_before_tls.size() < 20;) {
      const std::size_t newline = ahead.find('\n', at);
      std::string_view line = ahead.substr(at, newline == std::string_view::npos ? std::string_view::npos : newline - at);
      at = newline == std::string_view::npos ? ahead.size() : newline + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (in_auth && line != "*") {
        report_.pipelined_secret = true;
        continue;
      }
      const auto words = strings::split_words(line);
      if (words.empty()) continue;
      const std::string verb = ascii::to_upper(printable(words[0], 16));
      if (verb != "AUTH") {
        in_auth = false;
        report_.pipelined_before_tls.push_back(verb);
        continue;
      }
      const std::string mechanism = words.size() > 1 ? ascii::to_upper(printable(words[1], 20)) : std::string();
      report_.pipelined_before_tls.push_back("AUTH " + mechanism);
      report_.pipelined_auth = mechanism;
      if (words.size() > 2 && words[2] != "=") report_.pipelined_secret = true;
      // LOGIN's password, or any mechanism's response, follows on its own line.
      in_auth = words.size() <= 2 || mechanism == "LOGIN";
    }
  }

  std::optional<std::string> read_auth_line() {
    ReadResult read = connection_.read_line(command_deadline());
    if (read.status != IoStatus::ok) {
      end(std::string(to_string(read.status)));
      return std::nullopt;
    }
    trace("C", "***");  // an AUTH continuation: the username or the secret, in base64
    return read.line;
  }

  bool auth(const std::string& argument) {
    const auto space = argument.find(' ');
    const std::string mechanism = ascii::to_upper(argument.substr(0, space));
    std::string initial = space == std::string::npos ? "" : argument.substr(space + 1);
    const std::string unrecognized = "504 5.7.4 Unrecognized authentication type [" + host_ + "]";
    if (!greeted_) return say("503 5.5.2 Send hello first [" + host_ + "]");
    if (profile_.auth_requires_tls && !connection_.tls_active()) {
      report_.auth_before_starttls = true;
      report_.auth_mechanism = mechanism.substr(0, 20);
      report_.auth_accepted = false;
      report_.auth_reply = unrecognized;
      // RFC 4954 4: an initial response carries the secret (all of it for
      // PLAIN and XOAUTH2): refused or not, it has crossed in clear text.
      report_.auth_secret_in_clear = !initial.empty() && initial != "=";
      return say(unrecognized);
    }
    const auto& offered = connection_.tls_active() ? profile_.ehlo_after_tls : profile_.ehlo_before_tls;
    bool listed = false;
    for (const auto& keyword : offered) {
      const std::string upper_keyword = ascii::to_upper(keyword);
      if (upper_keyword.starts_with("AUTH ") && (upper_keyword + " ").find(" " + mechanism + " ") != std::string::npos)
        listed = true;
    }
    if (!listed) {
      if (report_.auth_not_offered.empty()) report_.auth_not_offered = mechanism.substr(0, 20);
      return say(unrecognized);
    }
    report_.auth_mechanism = mechanism;
    std::string user;
    bool basic = true;
    std::string token;
    if (mechanism == "LOGIN") {
      // Microsoft's prompts: "Username:" and "Password:" in base64.
      if (initial.empty()) {
        if (!say("334 VXNlcm5hbWU6")) return false;
        auto line = read_auth_line();
        if (!line) return false;
        initial = *line;
      }
      if (initial == "*") return say("501 5.0.0 Authentication canceled");
      user = base64_decode(initial).value_or("");
      if (!say("334 UGFzc3dvcmQ6")) return false;
      auto secret_line = read_auth_line();  // read and dropped
      if (!secret_line) return false;
      if (*secret_line == "*") return say("501 5.0.0 Authentication canceled");
    } else if (mechanism == "PLAIN" || mechanism == "XOAUTH2") {
      if (initial.empty()) {
        if (!say("334 ")) return false;
        auto line = read_auth_line();
        if (!line) return false;
        initial = *line;
      }
      if (initial == "*") return say("501 5.0.0 Authentication canceled");
      const std::string decoded = base64_decode(initial).value_or("");
      if (mechanism == "PLAIN") {
        // RFC 4616: authzid NUL authcid NUL passwd
        const auto first = decoded.find('\0');
        const auto second = first == std::string::npos ? first : decoded.find('\0', first + 1);
        if (second != std::string::npos) user = decoded.substr(first + 1, second - first - 1);
      } else {
        basic = false;
        // "user=" USER ^A "auth=Bearer " TOKEN ^A ^A
        if (decoded.starts_with("user=")) user = decoded.substr(5, decoded.find('\x01') - 5);
        const auto bearer = decoded.find("auth=Bearer ");
        if (bearer != std::string::npos) token = decoded.substr(bearer + 12, decoded.find('\x01', bearer) - bearer - 12);
      }
    } else {
      return say(unrecognized);
    }
    report_.auth_user = user.substr(0, 320);
    std::string reply;
    if (!basic) {
      bool good = !token.empty();
      if (!profile_.oauth_token.empty()) {
        // The profile knows the good token: its answer is the check.
        good = good && token == profile_.oauth_token;
        report_.oauth_token_verified = good;
      } else {
        report_.oauth_token = inspect_oauth_token(token, user, static_cast<std::int64_t>(std::time(nullptr)));
        // Exchange Online refuses a token that cannot be its access token.
        if (profile_.kind == ProfileKind::submission) good = good && report_.oauth_token->problem.empty();
      }
      reply = good ? "235 2.7.0 Authentication successful" : "535 5.7.3 Authentication unsuccessful [" + host_ + "]";
      if (!profile_.oauth_refusal.empty()) reply = profile_.oauth_refusal + " [" + host_ + "]";
    } else {
      switch (profile_.basic_auth) {
        case BasicAuthAnswer::accept: reply = "235 2.7.0 Authentication successful"; break;
        case BasicAuthAnswer::disabled_139:
          reply = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
                  "Visit https://aka.ms/smtp_auth_disabled for more information. [" + host_ + "]";
          break;
        case BasicAuthAnswer::blocked_by_policy_139:
          reply = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [" + host_ + "]";
          break;
        case BasicAuthAnswer::retired_30: reply = "550 5.7.30 Basic authentication is not supported for Client Submission."; break;
      }
    }
    token.assign(token.size(), '\0');
    authenticated_ = reply.starts_with("235");
    report_.auth_accepted = authenticated_;
    report_.auth_reply = reply;
    return say(reply);
  }

  bool may_send_as(const std::string& sender) const {
    const std::string lower = ascii::to_lower(sender);
    if (lower == ascii::to_lower(report_.auth_user)) return true;
    return std::find(profile_.send_as.begin(), profile_.send_as.end(), lower) != profile_.send_as.end();
  }

  bool mail(const std::string& argument) {
    if (!greeted_) return say("503 5.5.2 Send hello first [" + host_ + "]");
    if (in_transaction_) return say("503 5.5.1 Bad sequence of commands");
    // Recorded before it is judged: the refused sender is the finding.
    report_.mail_from = path_argument(argument);
    report_.mail_given = true;
    mail_refused_ = true;
    if (profile_.mail_requires_auth && !authenticated_) {
      report_.mail_refusal = "530 5.7.57 Client not authenticated to send mail. [" + host_ + "]";
      return say(report_.mail_refusal);
    }
    if (authenticated_ && profile_.enforce_send_as && !may_send_as(report_.mail_from)) {
      report_.mail_refusal = "550 5.7.60 SMTP; Client does not have permissions to send as this sender [" + host_ + "]";
      return say(report_.mail_refusal);
    }
    mail_refused_ = false;
    report_.mail_refusal.clear();
    // RFC 3030 3: BODY=BINARYMIME must come in BDAT chunks.
    binary_body_ = ascii::to_upper(argument).find("BODY=BINARYMIME") != std::string::npos;
    in_transaction_ = true;
    return say("250 2.1.0 Sender OK");
  }

  bool rcpt(const std::string& argument) {
    const std::string recipient = path_argument(argument);
    auto refuse = [&](const std::string& reply) {
      if (report_.refused_rcpt.size() < 100) report_.refused_rcpt.push_back(recipient);
      if (report_.rcpt_refusal.empty()) report_.rcpt_refusal = reply;
      return say(reply);
    };
    if (!in_transaction_) {
      // A pipelining client sends RCPT after a refused MAIL: keep whom it meant.
      if (mail_refused_ && report_.refused_rcpt.size() < 100) report_.refused_rcpt.push_back(recipient);
      return say("503 5.5.1 Bad sequence of commands");
    }
    const std::string domain = domain_of(recipient);
    const bool connector_matched = config_.relay_for_client_certificate && report_.client_certificate;
    if (!profile_.accept_domains.empty() && !authenticated_ && !connector_matched) {
      const auto& accepted = profile_.accept_domains;
      if (std::find(accepted.begin(), accepted.end(), domain) == accepted.end())
        return refuse("550 5.7.64 TenantAttribution; Relay Access Denied");
      // RejectDirectSend (3.5): an anonymous sender in an accepted domain. At
      // which step Exchange refuses is UNCONFIRMED (7.9); RCPT is the first
      // step that knows both ends.
      const std::string sender_domain = domain_of(report_.mail_from);
      if (profile_.reject_direct_send &&
          std::find(accepted.begin(), accepted.end(), sender_domain) != accepted.end())
        return refuse("550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources");
    }
    if (report_.rcpt_to.size() < 100) report_.rcpt_to.push_back(recipient);
    ++rcpt_count_;
    return say("250 2.1.5 Recipient OK");
  }

  bool data() {
    if (!in_transaction_ || rcpt_count_ == 0 || message_) return say("503 5.5.1 Bad sequence of commands");
    if (binary_body_) return say("503 5.5.1 BODY=BINARYMIME requires BDAT");
    if (!say("354 Start mail input; end with <CRLF>.<CRLF>")) return false;
    MessageCollector message(report_, profile_.max_message_bytes, !config_.save_dir.empty());
    for (;;) {
      ReadResult read = connection_.read_line(command_deadline());
      if (read.status != IoStatus::ok) return end("during DATA: " + std::string(to_string(read.status))), false;
      if (read.line == ".") break;
      // RFC 5321 4.5.2: a leading dot was doubled by the client.
      message.add(std::string_view(read.line).substr(read.line.starts_with(".") ? 1 : 0));
      message.add("\r\n");
    }
    return finish_message(message);
  }

  // RFC 3030 2: "BDAT <size> [LAST]", then exactly <size> octets.
  bool bdat(const std::string& argument) {
    const auto space = argument.find(' ');
    const std::string size_text = argument.substr(0, space);
    const std::string last = space == std::string::npos ? "" : ascii::to_upper(argument.substr(space + 1));
    if (size_text.empty() || size_text.size() > 12 ||
        !std::all_of(size_text.begin(), size_text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        (!last.empty() && last != "LAST")) {
      // Without a size the chunk cannot be skipped: the session cannot go on.
      say("501 5.5.4 Invalid BDAT arguments");
      return end("bad BDAT arguments"), false;
    }
    const std::size_t size = std::stoull(size_text);
    const std::size_t so_far = message_ ? message_->size() : 0;
    if (so_far + size > profile_.max_message_bytes) {
      say("552 5.3.4 Message size exceeds fixed maximum message size");
      return end("BDAT over the size limit"), false;
    }
    report_.used_bdat = true;
    const bool accepted = in_transaction_ && rcpt_count_ > 0;
    if (accepted && !message_) message_.emplace(report_, profile_.max_message_bytes, !config_.save_dir.empty());
    // The chunk is read even when refused (RFC 3030 2), so the next command is found.
    std::string piece;
    for (std::size_t left = size; left > 0;) {
      const std::size_t take = std::min<std::size_t>(left, 65536);
      if (connection_.read_bytes(take, piece, command_deadline()) != IoStatus::ok)
        return end("during BDAT: the chunk ended early"), false;
      if (accepted) message_->add(piece);
      left -= take;
    }
    if (!accepted) return say("503 5.5.1 Bad sequence of commands");
    if (last.empty()) return say("250 2.0.0 " + size_text + " octets received");
    MessageCollector message = std::move(*message_);
    message_.reset();
    return finish_message(message);
  }

  bool finish_message(const MessageCollector& message) {
    report_.message_bytes = message.size();
    reset_transaction();
    if (message.too_big()) return say("552 5.3.4 Message size exceeds fixed maximum message size");
    if (!config_.save_dir.empty()) save(message.kept());
    const FromHeader from = parse_from_header(report_.header_from);
    // Exchange Online takes more than one author only with a Sender header
    // naming who sent it (RFC 5322 3.6.2).
    if ((profile_.kind == ProfileKind::mx || profile_.kind == ProfileKind::submission) && report_.header_sender.empty() &&
        from.addresses.size() > 1) {
      report_.message_refusal = "550 5.1.20 Multiple From addresses are not allowed without Sender address";
      return say(report_.message_refusal);
    }
    // Exchange Online checks the From header against the signed-in mailbox
    // once the message is in, as it checks MAIL FROM (5.7.60) before it.
    if (authenticated_ && profile_.enforce_send_as)
      for (const auto& address : from.addresses)
        if (!may_send_as(address)) {
          report_.message_refusal = "554 5.2.252 SendAsDenied; " + report_.auth_user + " not allowed to send as " + address +
                                    "; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                                    "Failed to process message due to a permanent exception with message Cannot submit message.";
          return say(report_.message_refusal);
        }
    report_.message_accepted = true;
    return say("250 2.6.0 <" + session_id() + "@" + host_ + "> Queued mail for delivery");
  }

  void save(const std::string& message) {
    static std::atomic<unsigned> counter{0};
    const auto path = std::filesystem::path(config_.save_dir) /
                      ("message-" + std::to_string(std::time(nullptr)) + "-" + std::to_string(++counter) + ".eml");
    // The messages a device sends are its users' mail: readable by the
    // owner only (0600), created new, never through an existing name.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    const UniqueFd file(fd);
    std::size_t written = 0;
    while (written < message.size()) {
      const ssize_t n = ::write(file.get(), message.data() + written, message.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
    report_.saved_as = path.string();
  }

  const ServerConfig& config_;
  const ServerProfile& profile_;
  SSL_CTX* tls_context_;
  Connection connection_;
  const std::atomic<bool>& stopping_;
  SessionReport report_;
  Clock::time_point session_deadline_{}, started_{};
  std::string host_;
  bool greeted_ = false, authenticated_ = false, in_transaction_ = false, legacy_tls_ = false;
  bool mail_refused_ = false, binary_body_ = false;
  std::size_t rcpt_count_ = 0, commands_at_tls_ = 0;
  std::optional<MessageCollector> message_;  // between BDAT chunks
  int stray_sasl_lines_ = 0;  // lines after AUTH that may be its secret (see handle)
};

}  // namespace

// ---------------------------------------------------------------------------
// The server

struct SmtpServer::Impl {
  ServerConfig config;
  tls::SslCtxPtr tls_context;
  RawSocket listener;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::set<int> active_fds;
  std::size_t active = 0, started = 0, finished = 0;
  std::vector<SessionReport> reports;

  void accept_loop() {
    while (!stopping) {
      pollfd entry{listener.fd, POLLIN, 0};
      if (::poll(&entry, 1, 100) <= 0) continue;
      RawSocket client(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (client.fd < 0) continue;
      std::unique_lock lock(mutex);
      if (active >= config.max_sessions) {
        lock.unlock();
        Connection refused(std::move(client));
        refused.write_all("421 4.3.2 Too many connections, try again later\r\n", Clock::now() + Milliseconds(1000));
        continue;
      }
      ++active;
      ++started;
      active_fds.insert(client.fd);
      lock.unlock();
      std::thread([this, socket = std::move(client)]() mutable { serve(std::move(socket)); }).detach();
    }
  }

  void serve(RawSocket socket) {
    const int fd = socket.fd;
    SessionReport report;
    try {
      const std::string client = peer_address(fd);
      Connection connection(std::move(socket), config.max_line);
      report = ServerSession(config, tls_context.get(), std::move(connection), client, stopping).run();
    } catch (const std::exception& e) {
      report.end_reason = std::string("internal error: ") + e.what();
    }
    if (config.on_session) {
      try {
        config.on_session(report);
      } catch (...) {
      }
    }
    std::lock_guard lock(mutex);
    active_fds.erase(fd);
    if (reports.size() < 10000) reports.push_back(std::move(report));
    --active;
    ++finished;
    changed.notify_all();
  }
};

SessionReport serve_session(const ServerConfig& config, Connection connection, std::string client) {
  const std::atomic<bool> never_stopping{false};
  return ServerSession(config, nullptr, std::move(connection), std::move(client), never_stopping).run();
}

SmtpServer::SmtpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<SmtpServer>> SmtpServer::start(ServerConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  if (impl->config.credentials) {
    auto context = tls::make_server_context(*impl->config.credentials, impl->config.profile.tls_versions);
    if (!context) return context.error();
    impl->tls_context = std::move(context.value());
    for (const auto& extra : impl->config.additional_credentials)
      if (extra) {
        auto added = tls::add_server_credentials(impl->tls_context.get(), *extra);
        if (!added) return added.error();
      }
    if (impl->config.request_client_certificate) tls::request_client_certificate(impl->tls_context.get());
    tls::record_handshake_facts(impl->tls_context.get());
  } else if (impl->config.implicit_tls) {
    return bad_input("implicit TLS needs a certificate");
  }
  auto listener = listen_tcp(impl->config.bind_address, impl->config.port);
  if (!listener) return listener.error();
  impl->listener = std::move(listener.value());
  impl->port = local_port(impl->listener.fd);
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<SmtpServer>(new SmtpServer(std::move(impl)));
}

SmtpServer::~SmtpServer() { finish(); }

std::vector<SessionReport> SmtpServer::finish() {
  stop();
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [&] { return impl_->active == 0; });
  return impl_->reports;
}

void SmtpServer::stop() {
  impl_->stopping = true;
  std::lock_guard lock(impl_->mutex);
  // Sessions blocked in a read see the end of the stream at once.
  for (int fd : impl_->active_fds) ::shutdown(fd, SHUT_RDWR);
  impl_->changed.notify_all();
}

std::uint16_t SmtpServer::port() const { return impl_->port; }

std::vector<SessionReport> SmtpServer::reports() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reports;
}

std::size_t SmtpServer::sessions_started() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->started;
}

void SmtpServer::wait(std::size_t sessions) {
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [&] { return impl_->stopping.load() || (sessions > 0 && impl_->finished >= sessions); });
}

// ---------------------------------------------------------------------------
// XOAUTH2 tokens: what can be read without the network

namespace {

// RFC 7515 2: base64url without padding.
std::optional<nlohmann::json> base64url_json(std::string_view part) {
  if (part.empty() || part.size() > 16384) return std::nullopt;
  std::string text(part);
  for (char& c : text) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/') return std::nullopt;
  }
  const auto decoded = base64_decode(text);
  if (!decoded) return std::nullopt;
  auto document = nlohmann::json::parse(*decoded, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  return document;
}

std::string utc_time(std::int64_t seconds) {
  const std::time_t at = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&at, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", &tm);
  return buffer;
}

std::string claim_text(const nlohmann::json& claims, const char* name) {
  const auto found = claims.find(name);
  return found != claims.end() && found->is_string() ? found->get<std::string>().substr(0, 320) : std::string();
}

std::optional<std::int64_t> claim_seconds(const nlohmann::json& claims, const char* name) {
  const auto found = claims.find(name);
  if (found == claims.end() || !found->is_number()) return std::nullopt;
  return static_cast<std::int64_t>(found->get<double>());
}

// Exchange Online as a token audience: the resource URIs its scopes name
// (https://outlook.office.com/SMTP.Send for a user, https://outlook.office365.com/.default
// for an application), the sovereign clouds' equivalents, and its application ID.
bool is_exchange_online_audience(std::string audience) {
  audience = ascii::to_lower(audience);
  while (!audience.empty() && audience.back() == '/') audience.pop_back();
  for (const char* known : {"https://outlook.office.com", "https://outlook.office365.com", "https://outlook.office365.us",
                            "https://outlook-dod.office365.us", "https://partner.outlook.cn",
                            "00000002-0000-0ff1-ce00-000000000000"})
    if (audience == known) return true;
  return false;
}

bool is_graph_audience(std::string audience) {
  audience = ascii::to_lower(audience);
  while (!audience.empty() && audience.back() == '/') audience.pop_back();
  return audience == "https://graph.microsoft.com" || audience == "00000003-0000-0000-c000-000000000000";
}

bool contains_ignoring_case(const std::vector<std::string>& items, std::string_view wanted) {
  return std::any_of(items.begin(), items.end(),
                     [&](const std::string& item) { return ascii::to_lower(item) == ascii::to_lower(wanted); });
}

}  // namespace

OAuthTokenFacts inspect_oauth_token(std::string_view token, std::string_view user, std::int64_t now_seconds, TokenAccount account) {
  OAuthTokenFacts facts;
  const std::string user_name(user.substr(0, 320));
  if (token.empty()) {
    facts.problem = "it sent no token after \"auth=Bearer \": configure the device's OAuth sign-in again";
    return facts;
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos || parts.size() > 5) break;
    start = dot + 1;
  }
  const std::string not_jwt =
      "Microsoft Entra ID issues Exchange Online access tokens as JWTs (three base64url parts, JSON inside); "
      "the device may be sending a refresh token, a client secret or a password where the access token belongs: "
      "set it up again with the access token it gets from login.microsoftonline.com";
  if (parts.size() == 5) {
    // RFC 7516 7.1: an encrypted token; its claims are for the resource alone.
    facts.jwt = true;
    facts.encrypted = true;
    facts.notes.push_back("the token is encrypted (JWE): its audience, permission and expiry could not be read");
    return facts;
  }
  std::optional<nlohmann::json> header, claims;
  if (parts.size() == 3) {
    header = base64url_json(parts[0]);
    claims = base64url_json(parts[1]);
  }
  if (!header || !claims || !header->contains("alg")) {
    facts.problem = "its token is not a JWT: " + not_jwt;
    return facts;
  }
  // RFC 7519 6: an unsecured JWT ("alg":"none", no signature) is a JWT,
  // but never one Microsoft Entra ID issued.
  const auto alg = header->find("alg");
  if (parts[2].empty() || (alg->is_string() && ascii::to_lower(alg->get<std::string>()) == "none")) {
    facts.jwt = true;
    facts.problem =
        "its token is an unsigned JWT (alg none, no signature): Microsoft Entra ID signs every access token, so this one "
        "was made by hand or by a test tool, and Exchange Online refuses it (535 5.7.3): use the access token the device "
        "gets from login.microsoftonline.com";
    return facts;
  }
  facts.jwt = true;
  const nlohmann::json& c = *claims;
  if (const auto aud = c.find("aud"); aud != c.end()) {
    if (aud->is_string()) facts.audience = aud->get<std::string>().substr(0, 320);
    else if (aud->is_array())
      for (const auto& one : *aud)
        if (one.is_string() && (facts.audience.empty() || is_exchange_online_audience(one.get<std::string>())))
          facts.audience = one.get<std::string>().substr(0, 320);
  }
  if (const auto scp = c.find("scp"); scp != c.end() && scp->is_string()) {
    const std::string text = scp->get<std::string>();
    for (std::size_t start = 0; start < text.size() && facts.scopes.size() < 64;) {
      const auto space = text.find(' ', start);
      const std::string scope = text.substr(start, space == std::string::npos ? std::string::npos : space - start);
      if (!scope.empty()) facts.scopes.push_back(scope.substr(0, 100));
      if (space == std::string::npos) break;
      start = space + 1;
    }
  }
  if (const auto roles = c.find("roles"); roles != c.end() && roles->is_array())
    for (const auto& role : *roles)
      if (role.is_string() && facts.roles.size() < 64) facts.roles.push_back(role.get<std::string>().substr(0, 100));
  facts.app_only = c.find("scp") == c.end();
  facts.expires = claim_seconds(c, "exp");
  facts.not_before = claim_seconds(c, "nbf");
  for (const char* name : {"upn", "unique_name", "preferred_username"})
    if (facts.token_user.empty()) facts.token_user = claim_text(c, name);
  facts.object_id = claim_text(c, "oid");
  facts.app_id = claim_text(c, "appid");
  if (facts.app_id.empty()) facts.app_id = claim_text(c, "azp");
  facts.tenant_id = claim_text(c, "tid");

  // The checks, most basic first: the first that fails is the problem.
  if (facts.audience.empty() || !is_exchange_online_audience(facts.audience)) {
    const std::string scope_remedy =
        "request the token for Exchange Online: the scope https://outlook.office.com/SMTP.Send for a user's sign-in, "
        "https://outlook.office365.com/.default for an application's (client credentials)";
    if (facts.audience.empty())
      facts.problem = "its token names no audience (aud): it is not an access token for Exchange Online: " + scope_remedy;
    else if (is_graph_audience(facts.audience))
      facts.problem = "its token is for Microsoft Graph (aud " + facts.audience +
                      "), not Exchange Online, which refuses it (535 5.7.3): " + scope_remedy;
    else
      facts.problem = "its token is for " + facts.audience +
                      ", not Exchange Online (https://outlook.office.com or https://outlook.office365.com), which refuses "
                      "it (535 5.7.3): " + scope_remedy;
    return facts;
  }
  if (!facts.expires) {
    facts.problem = "its token has no expiry (exp): Microsoft Entra ID access tokens always carry one: " + not_jwt;
    return facts;
  }
  if (*facts.expires <= now_seconds) {
    const std::int64_t minutes = (now_seconds - *facts.expires) / 60;
    const std::string ago = minutes == 0 ? "less than a minute" : minutes == 1 ? "1 minute" : std::to_string(minutes) + " minutes";
    facts.problem = "its token expired at " + utc_time(*facts.expires) + ", " + ago +
                    " before this session: access tokens last about an hour; the device must fetch a new one "
                    "(with its refresh token, or by the client-credentials flow) before each session";
    return facts;
  }
  // Five minutes for clocks that differ a little.
  if (facts.not_before && *facts.not_before > now_seconds + 300) {
    facts.problem = "its token is not valid before " + utc_time(*facts.not_before) +
                    ": the clock of this machine or of the device is wrong; set both by NTP";
    return facts;
  }
  if (!facts.app_only && !contains_ignoring_case(facts.scopes, "SMTP.Send")) {
    std::string scopes;
    for (const auto& scope : facts.scopes) scopes += (scopes.empty() ? "" : " ") + scope;
    facts.problem = "its token, a user's, lacks the SMTP.Send permission (scp: " + (scopes.empty() ? "none" : scopes) +
                    "): add the delegated permission SMTP.Send (Office 365 Exchange Online) to the app registration, "
                    "and request the scope https://outlook.office.com/SMTP.Send";
    return facts;
  }
  if (user_name.empty()) {
    facts.problem = "its XOAUTH2 string names no user (user=): set the mailbox address as the device's user name";
    return facts;
  }
  // What only Microsoft can check, said so that the admin can check it first.
  if (facts.app_only) {
    const std::string app = facts.app_id.empty() ? "<application ID>" : facts.app_id;
    const std::string object = facts.object_id.empty() ? "<enterprise application object ID>" : facts.object_id;
    if (!contains_ignoring_case(facts.roles, "SMTP.SendAsApp"))
      facts.notes.push_back(
          "the application's token carries no SMTP.SendAsApp role: it works only when the app holds the role "
          "'Application SMTP.SendAsApp' in Exchange Online (RBAC for Applications, New-ManagementRoleAssignment); "
          "else add the application permission SMTP.SendAsApp (Office 365 Exchange Online) with admin consent");
    if (account == TokenAccount::hve_account)
      // An HVE account is a mail user without a mailbox: Full Access does not
      // apply; the account keeps its own list of allowed apps.
      facts.notes.push_back("the application must be allowed to send as the HVE account " + user_name + " (Add-HVEAppAccess -Identity " +
                            user_name + " -AppIds " + app + "; up to ten apps per account, and a change takes up to 5 minutes)");
    else
      facts.notes.push_back("the application must be registered in Exchange Online (New-ServicePrincipal -AppId " + app +
                            " -ObjectId " + object + ") and have access to " + user_name + " (Add-MailboxPermission -Identity " +
                            user_name + " -User " + (facts.object_id.empty() ? "<its service principal>" : facts.object_id) +
                            " -AccessRights FullAccess)");
  } else if (!facts.token_user.empty() && ascii::to_lower(facts.token_user) != ascii::to_lower(user_name)) {
    facts.notes.push_back("the token is " + facts.token_user + "'s, and user= names " + user_name +
                          ": that works only when " + facts.token_user + " has Full Access to " + user_name +
                          " (a shared mailbox)");
  }
  return facts;
}

// ---------------------------------------------------------------------------
// Reports

std::string_view to_string(DeviceVerdict verdict) {
  switch (verdict) {
    case DeviceVerdict::incomplete: return "incomplete";
    case DeviceVerdict::timed_out: return "timed-out";
    case DeviceVerdict::ready_for_oauth: return "ready-for-oauth";
    case DeviceVerdict::direct_send_works: return "direct-send-works";
    case DeviceVerdict::sends_without_auth: return "sends-without-auth";
    case DeviceVerdict::basic_auth: return "basic-auth";
    case DeviceVerdict::oauth_refused: return "oauth-refused";
    case DeviceVerdict::oauth_in_clear_text: return "oauth-in-clear-text";
    case DeviceVerdict::oauth_token_invalid: return "oauth-token-invalid";
    case DeviceVerdict::oauth_token_unchecked: return "oauth-token-unchecked";
    case DeviceVerdict::no_common_auth_mechanism: return "no-common-auth-mechanism";
    case DeviceVerdict::auth_before_starttls: return "auth-before-starttls";
    case DeviceVerdict::implicit_tls: return "implicit-tls";
    case DeviceVerdict::no_implicit_tls: return "no-implicit-tls";
    case DeviceVerdict::legacy_tls: return "cannot-do-tls-1.2";
    case DeviceVerdict::certificate_not_trusted: return "certificate-not-trusted";
    case DeviceVerdict::no_shared_cipher: return "no-shared-cipher";
    case DeviceVerdict::tls_failed: return "tls-failed";
    case DeviceVerdict::invalid_ehlo: return "invalid-ehlo";
    case DeviceVerdict::sender_not_permitted: return "sender-not-permitted";
    case DeviceVerdict::needs_partner_connector: return "needs-partner-connector";
    case DeviceVerdict::relay_denied: return "relay-denied";
    case DeviceVerdict::sender_outside_tenant: return "sender-outside-tenant";
    case DeviceVerdict::null_sender: return "null-sender";
    case DeviceVerdict::header_from_outside_tenant: return "header-from-outside-tenant";
    case DeviceVerdict::envelope_refused: return "envelope-refused";
  }
  return "incomplete";
}

bool is_valid_ehlo_name(std::string_view name) {
  if (name.size() > 255 || name.empty()) return false;
  // RFC 5321 4.1.3: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
  if (name.front() == '[' && name.back() == ']') {
    std::string_view inside = name.substr(1, name.size() - 2);
    if (inside.size() > 5 && ascii::to_lower(inside.substr(0, 5)) == "ipv6:") inside.remove_prefix(5);
    return IpAddress::parse(std::string(inside)).has_value();
  }
  std::size_t labels = 0;
  std::size_t start = 0;
  for (;;) {
    const auto dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

namespace {

// What a device on each endpoint can do instead, in the reference's terms
// (m365-facts.md 3, 3.5, 3.6, 3.7).
std::string no_auth_remedy(ProfileKind kind) {
  const std::string direct_send =
      "point it at the tenant MX (<tenant>.mail.protection.outlook.com) on port 25 as direct send (only the tenant's own "
      "mailboxes; From in an accepted domain), or set up an inbound connector (by the site's fixed public IP or a "
      "certificate) to reach external recipients";
  if (kind == ProfileKind::submission) return "smtp.office365.com refuses anonymous mail (530 5.7.57): " + direct_send;
  return "at Microsoft 365 that works only as direct send or through a connector: " + direct_send;
}

std::string legacy_tls_remedy(ProfileKind kind) {
  switch (kind) {
    case ProfileKind::mx:
      return "the MX accepts TLS 1.2 or later, but TLS is optional there: turn TLS off on the device and send plain SMTP "
             "to the tenant MX on port 25 (direct send, the tenant's own mailboxes), or send through a local relay that "
             "speaks TLS 1.2; better, update the device's firmware";
    case ProfileKind::submission:
      return "smtp.office365.com answers 421 4.7.66 after a TLS 1.0/1.1 handshake: update the device's firmware; "
             "smtp-legacy.office365.com (Set-TransportConfig -AllowLegacyTLSClients $true) is a stopgap; or send plain "
             "SMTP to the tenant MX on port 25 (direct send), or through a local relay";
    default:
      return "Exchange Online needs TLS 1.2 for SMTP AUTH: update the device's firmware, send plain SMTP to the tenant "
             "MX on port 25 (direct send, TLS is optional there), or send through a local relay";
  }
}

std::string certificate_remedy() {
  return "give sendcheck-listen --cert and --key for a certificate the device trusts (for the name it connects to), or "
         "turn certificate validation off on the device for this test; at Microsoft 365 it must trust DigiCert Global "
         "Root G2";
}

std::string version_name(std::optional<tls::Version> version) {
  return version ? std::string(tls::to_string(*version)) : std::string("an unknown version");
}

}  // namespace

namespace {

// The command line that proves an OAuth setup against the real endpoint
// (sendcheck-probe(1)); the token is read from a file, never typed.
std::string probe_oauth_command(const std::string& user) {
  const std::string mailbox = user.empty() ? "MAILBOX" : user;
  return "`sendcheck probe smtp.office365.com --port 587 --starttls require --auth xoauth2 --user " + mailbox +
         " --oauth-token-file TOKEN-FILE --from " + mailbox + " --rcpt RECIPIENT`";
}

// m365-facts 3.1: the tenant and mailbox switch blocks OAuth too (MailKit#700).
std::string smtp_auth_switch(const std::string& user) {
  return "SMTP AUTH must also be enabled for the mailbox, with OAuth too (Set-CASMailbox -Identity " +
         (user.empty() ? std::string("MAILBOX") : user) +
         " -SmtpClientAuthenticationDisabled $false), else Microsoft answers 535 5.7.139";
}

std::string token_summary(const OAuthTokenFacts& facts) {
  if (facts.encrypted) return "an encrypted token";
  std::string out = "a token for " + facts.audience;
  if (!facts.app_only) out += " with SMTP.Send";
  else if (contains_ignoring_case(facts.roles, "SMTP.SendAsApp")) out += ", an application's with SMTP.SendAsApp";
  else out += ", an application's";
  if (facts.expires) out += ", valid until " + utc_time(*facts.expires);
  return out;
}

}  // namespace

FromHeader parse_from_header(std::string_view header) {
  FromHeader out;
  // Comments removed, quoted strings kept whole (RFC 5322 3.2.2-3.2.4), then
  // split into mailboxes at top-level commas. From is a mailbox-list (RFC
  // 5322 3.6.2): a group ("name: a@b;") is malformed there.
  std::vector<std::string> mailboxes(1);
  int comment = 0, angle = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const char c = header[i];
    if (c == '\\' && (quoted || comment) && i + 1 < header.size()) {
      if (quoted) mailboxes.back() += header.substr(i, 2);
      ++i;
      continue;
    }
    if (comment) {
      comment += c == '(' ? 1 : c == ')' ? -1 : 0;
      continue;
    }
    if (quoted) {
      mailboxes.back() += c;
      if (c == '"') quoted = false;
      continue;
    }
    if (c == '(') { ++comment; mailboxes.back() += ' '; continue; }
    if (c == '"') quoted = true;
    if (c == '<') ++angle;
    if (c == '>') --angle;
    if (angle == 0 && (c == ':' || c == ';')) {
      out.malformed = true;
      return out;
    }
    if (angle == 0 && c == ',') { mailboxes.emplace_back(); continue; }
    mailboxes.back() += c;
  }
  if (quoted || comment || angle) {
    out.malformed = true;
    return out;
  }
  const auto trim = [](std::string text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return std::string();
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
  };
  for (auto& mailbox : mailboxes) {
    mailbox = trim(mailbox);
    if (mailbox.empty()) continue;
    std::string address = mailbox;
    if (const auto open = mailbox.find('<'); open != std::string::npos) {
      const auto close = mailbox.find('>', open);
      // Nothing may follow the angle-addr (RFC 5322 3.4).
      if (close == std::string::npos || !trim(mailbox.substr(close + 1)).empty() || mailbox.find('<', open + 1) != std::string::npos) {
        out.malformed = true;
        continue;
      }
      address = trim(mailbox.substr(open + 1, close - open - 1));
    }
    // addr-spec: local-part "@" domain, with no blanks outside quotes.
    bool in_quotes = false;
    std::size_t at = std::string::npos;
    bool blank = false;
    for (std::size_t i = 0; i < address.size(); ++i) {
      if (address[i] == '"') in_quotes = !in_quotes;
      else if (!in_quotes && address[i] == '@') at = i;
      else if (!in_quotes && (address[i] == ' ' || address[i] == '\t')) blank = true;
    }
    const std::string domain = at == std::string::npos ? std::string() : address.substr(at + 1);
    if (blank || at == std::string::npos || at == 0 || domain.empty() || domain.back() == '.' || domain.front() == '.' ||
        domain.find_first_of("@\"<>[] ") != std::string::npos) {
      out.malformed = true;
      continue;
    }
    out.addresses.push_back(address);
    out.domains.push_back(ascii::to_lower(domain));
  }
  return out;
}

namespace {

// The client read the EHLO reply (over TLS, when `over_tls`) and left
// without AUTH or MAIL: what it looked for was not among the extensions.
bool left_after_ehlo(const SessionReport& report, bool over_tls) {
  bool tls = report.implicit_tls, greeted = false;
  for (const auto& command : report.commands) {
    const std::string verb = ascii::to_upper(command.substr(0, command.find(' ')));
    if (verb == "AUTH" || verb == "MAIL") return false;
    if (verb == "STARTTLS") tls = true;
    if ((tls || !over_tls) && verb == "EHLO") greeted = true;
  }
  return greeted && (report.end_reason == "QUIT" || report.end_reason == "closed");
}

int severity(DeviceOutcome outcome) {
  return outcome == DeviceOutcome::breaks ? 0 : outcome == DeviceOutcome::unknown ? 1 : 2;
}

}  // namespace

void decide_verdict(SessionReport& report, const ServerProfile& profile) {
  std::vector<DeviceFinding> findings;
  auto add = [&](DeviceVerdict verdict, DeviceOutcome outcome, std::string reason) {
    findings.push_back(DeviceFinding{verdict, outcome, std::move(reason)});
  };
  // The worst finding is the verdict; the others follow it, each still to fix.
  auto conclude = [&] {
    std::stable_sort(findings.begin(), findings.end(), [](const DeviceFinding& a, const DeviceFinding& b) {
      return severity(a.outcome) < severity(b.outcome);
    });
    report.findings = findings;
    report.verdict = findings.front().verdict;
    report.outcome = findings.front().outcome;
    report.verdict_reason = findings.front().reason;
    for (std::size_t i = 1; i < findings.size(); ++i)
      report.verdict_reason += ". Also " + std::string(to_string(findings[i].verdict)) + " (" +
                               std::string(to_string(findings[i].outcome)) + "): " + findings[i].reason;
  };
  const ProfileKind kind = profile.kind;
  const auto negotiated = tls::version_from_openssl_name(report.tls_version);
  const bool tls = report.starttls || report.implicit_tls;
  const bool offered_legacy_only = report.tls_offered_max && *report.tls_offered_max < tls::Version::tls1_2;
  const std::string implicit_reason =
      "Microsoft 365 has no implicit-TLS (port 465) submission: \"a device that needs 465 cannot use SMTP AUTH client "
      "submission\"; set it to STARTTLS on port 587, or to port 25 for direct send or a connector, or use a local relay";

  // TLS first: a handshake that failed ends the session, nothing after it is known.
  if (report.tls_hello_in_clear) {
    // A device that asked for STARTTLS and went on to TLS after a refusal
    // speaks STARTTLS: the refusal is the finding, not port 465.
    const bool asked_starttls = std::any_of(report.commands.begin(), report.commands.end(), [](const std::string& command) {
      return ascii::to_upper(command).starts_with("STARTTLS");
    });
    if (asked_starttls && !report.ehlo_refusal.empty())
      add(DeviceVerdict::invalid_ehlo, DeviceOutcome::breaks,
          "its EHLO name \"" + report.ehlo + "\" is not a fully qualified domain name (" + report.ehlo_refusal +
              "), so its STARTTLS was refused as well, and it began TLS anyway: give the device a host name with its "
              "domain (printer.contoso.com)");
    else if (asked_starttls)
      add(DeviceVerdict::implicit_tls, DeviceOutcome::breaks,
          "its STARTTLS was refused and it began a TLS handshake anyway, where an SMTP command was due: read the refusal "
          "in the transcript (-v) and fix what caused it");
    else
      add(DeviceVerdict::implicit_tls, DeviceOutcome::breaks,
          "the device uses implicit TLS (465 style): it began a TLS handshake where an SMTP command was due; " +
              implicit_reason);
    return conclude();
  }
  // On an implicit-TLS listener the device's first bytes must be a
  // ClientHello. SMTP text there, or silence (a client waiting for the
  // greeting a STARTTLS or plain port would send), is a device set for
  // STARTTLS or no encryption: a setting to learn, not a TLS fault.
  const std::string not_implicit_reason =
      "test it on a listener without --implicit-tls to see how it sends; Microsoft 365 takes STARTTLS (required on 587 for "
      "SMTP AUTH, optional on 25 for direct send or a connector), never implicit TLS";
  if (report.implicit_tls && !report.tls_offered_max) {
    if (report.tls_failure == tls::HandshakeFailure::not_tls) {
      add(DeviceVerdict::no_implicit_tls, DeviceOutcome::unknown,
          "it sent plain text where a TLS handshake was due (" + report.tls_error +
              "): it is set for STARTTLS or no encryption, not implicit TLS (SSL/TLS, port 465); " + not_implicit_reason);
      return conclude();
    }
    if (report.tls_failure == tls::HandshakeFailure::timed_out) {
      add(DeviceVerdict::no_implicit_tls, DeviceOutcome::unknown,
          "it sent no TLS ClientHello within --timeout: a device set for STARTTLS or no encryption waits for a "
          "greeting, which an implicit-TLS listener does not send; " + not_implicit_reason);
      return conclude();
    }
  }
  switch (report.tls_failure) {
    case tls::HandshakeFailure::none: break;
    case tls::HandshakeFailure::timed_out:
      add(DeviceVerdict::timed_out, DeviceOutcome::unknown,
          "timed out: the TLS handshake did not finish within --timeout; nothing is known of its TLS: test again, "
          "or with a longer --timeout");
      return conclude();
    case tls::HandshakeFailure::certificate_rejected:
      add(DeviceVerdict::certificate_not_trusted, DeviceOutcome::unknown,
          "it refused this listener's certificate (" + report.tls_error +
              "): it checks certificates, and does not trust the test one; " + certificate_remedy());
      return conclude();
    default:
      if (offered_legacy_only || report.tls_failure == tls::HandshakeFailure::protocol_version)
        add(DeviceVerdict::legacy_tls, DeviceOutcome::breaks,
            "it offered at most " + version_name(report.tls_offered_max) + " (" + report.tls_error +
                "); Exchange Online needs TLS 1.2 or later: " + legacy_tls_remedy(kind));
      else if (report.tls_failure == tls::HandshakeFailure::no_shared_cipher)
        add(DeviceVerdict::no_shared_cipher, DeviceOutcome::breaks,
            "it offered " + version_name(report.tls_offered_max) +
                " but no cipher suite, group or signature algorithm in common with this listener's RSA and ECDSA "
                "certificates (" + report.tls_error +
                "); Exchange Online uses ECDHE with AES-GCM: update the device's firmware, or use a local relay");
      else if (report.tls_failure == tls::HandshakeFailure::closed)
        add(DeviceVerdict::tls_failed, DeviceOutcome::unknown,
            "it closed the connection during the TLS handshake without an alert, as many devices do when they "
            "do not trust the certificate: " + certificate_remedy());
      else
        add(DeviceVerdict::tls_failed, DeviceOutcome::unknown,
            "its TLS handshake failed (" + report.tls_error + "); run again with -v, or test with --cert and --key");
      return conclude();
  }
  if (report.implicit_tls)
    add(DeviceVerdict::implicit_tls, DeviceOutcome::breaks,
        "the device uses implicit TLS (465 style, " + report.tls_version + "); " + implicit_reason);
  if (report.silent_after_tls) {
    add(DeviceVerdict::certificate_not_trusted, DeviceOutcome::unknown,
        "it closed the connection right after the TLS handshake (" + report.tls_version +
            ") without a command, as clients do that check the certificate after the handshake and do not "
            "trust it: " + certificate_remedy());
    return conclude();
  }
  if (negotiated && *negotiated < tls::Version::tls1_2) {
    // 421 4.7.66 ends the session here.
    add(DeviceVerdict::legacy_tls, DeviceOutcome::breaks,
        "it negotiated " + report.tls_version + "; Exchange Online refuses TLS 1.0/1.1: " + legacy_tls_remedy(kind));
    return conclude();
  }

  // Authentication.
  const bool authenticated = report.auth_accepted.value_or(false);
  // At the MX a device that tries AUTH, is refused and goes on anonymously
  // does what direct send needs: only one that stops there breaks.
  const bool not_offered_matters =
      !report.auth_not_offered.empty() && !(kind == ProfileKind::mx && report.mail_given);
  const std::string& user = report.auth_user;
  // A refused AUTH the device answered anyway: its secret went out in clear.
  if (!report.auth_before_starttls && report.auth_secret_in_clear && !report.auth_not_offered.empty()) {
    const bool token = report.auth_not_offered == "XOAUTH2";
    add(token ? DeviceVerdict::oauth_in_clear_text : DeviceVerdict::basic_auth, DeviceOutcome::breaks,
        "after AUTH " + report.auth_not_offered + ", which is not offered here, it sent its " +
            (token ? std::string("token") : std::string("user name and password")) +
            " anyway, in clear text, before TLS: " +
            (token ? "revoke that token" : "change that password") + ", and set the device to STARTTLS on port 587");
  }
  // AUTH sent in one write with STARTTLS: the handshake dropped it unread,
  // but it had crossed the network in clear (RFC 3207 4: the client waits
  // for the 220 and the handshake).
  if (report.pipelined_secret) {
    const bool token = report.pipelined_auth == "XOAUTH2";
    add(token ? DeviceVerdict::oauth_in_clear_text : DeviceVerdict::basic_auth, DeviceOutcome::breaks,
        "it sent AUTH " + report.pipelined_auth + " with its " + (token ? std::string("token") : std::string("user name and password")) +
            " in the same write as STARTTLS, before the TLS handshake, so it crossed the network in clear text (this listener "
            "dropped it unread, as RFC 3207 asks): " +
            (token ? "revoke that token" : "change that password") +
            ", and update the device's firmware: a client must wait for the TLS handshake before it sends AUTH");
  }
  if (report.auth_before_starttls) {
    add(DeviceVerdict::auth_before_starttls, DeviceOutcome::breaks,
        "it sent AUTH " + report.auth_mechanism + " before STARTTLS (" + report.auth_reply +
            (kind == ProfileKind::mx
                 ? "): the tenant MX takes no AUTH, before STARTTLS or after it: for direct send turn authentication off "
                   "on the device (port 25, the tenant's own recipients), or point it at smtp.office365.com:587 with "
                   "STARTTLS and OAuth (XOAUTH2)"
                 : "): Exchange Online offers AUTH only after STARTTLS: set the device's encryption to STARTTLS "
                   "(sometimes called TLS) on port 587"));
    if (report.auth_secret_in_clear && report.auth_mechanism == "XOAUTH2")
      add(DeviceVerdict::oauth_in_clear_text, DeviceOutcome::breaks,
          "its AUTH XOAUTH2 line carried the OAuth token in clear text, before TLS: anyone on the path can use that "
          "token until it expires: revoke it (revoke the user's sessions, or rotate the application's secret) and "
          "set the device to STARTTLS on port 587");
    else if (report.auth_secret_in_clear)
      add(DeviceVerdict::basic_auth, DeviceOutcome::breaks,
          "its AUTH " + report.auth_mechanism + " carried the password in clear text, before TLS: change that password; it "
          "also uses basic authentication, which Exchange Online disables by default at the end of December 2026: switch "
          "it to OAuth (XOAUTH2) if it can, else to direct send or an SMTP relay connector");
  } else if (report.auth_mechanism == "XOAUTH2") {
    const auto& token = report.oauth_token;
    if (!tls)
      add(DeviceVerdict::oauth_in_clear_text, DeviceOutcome::breaks,
          "it sent its OAuth token without TLS; Exchange Online takes AUTH only after STARTTLS: set the device to "
          "STARTTLS on port 587, and revoke that token");
    if (token && !token->problem.empty())
      add(DeviceVerdict::oauth_token_invalid, DeviceOutcome::breaks,
          "its XOAUTH2 token cannot be a Microsoft access token for Exchange Online: " + token->problem);
    else if (!authenticated)
      add(DeviceVerdict::oauth_refused, DeviceOutcome::breaks,
          "its XOAUTH2 login was refused (" + report.auth_reply +
              "): check the token's audience (https://outlook.office365.com), the SMTP.Send or SMTP.SendAsApp "
              "permission, the service principal and its mailbox permission; see `sendcheck explain 5.7.3`");
    else if (report.oauth_token_verified && tls)
      add(DeviceVerdict::ready_for_oauth, DeviceOutcome::works,
          "it authenticated with XOAUTH2 over " + report.tls_version + " with the token this listener was given: it "
          "keeps working with smtp.office365.com:587 after basic authentication ends" +
              (report.message_accepted ? "" : " (it sent no message in this session)"));
    else if (tls) {
      std::string reason = "it sends XOAUTH2 correctly over " + report.tls_version;
      if (token) reason += " (" + token_summary(*token) + ")";
      reason += "; Microsoft will check the token, this listener cannot: prove it with " + probe_oauth_command(user) +
                "; " + smtp_auth_switch(user);
      if (token)
        for (const auto& note : token->notes) reason += "; " + note;
      add(DeviceVerdict::oauth_token_unchecked, DeviceOutcome::unknown, std::move(reason));
    }
  } else if (!report.auth_mechanism.empty()) {
    add(DeviceVerdict::basic_auth, DeviceOutcome::breaks,
        "it uses basic authentication (AUTH " + report.auth_mechanism + ", " +
            (authenticated ? "accepted here" : "refused: " + report.auth_reply) +
            "), which Exchange Online disables by default at the end of December 2026: switch it to OAuth "
            "(XOAUTH2) if it can, else to direct send (tenant MX, port 25, internal recipients) or an SMTP relay "
            "connector" + std::string(tls ? "" : "; it also sent its password without TLS, where anyone on the path could read it: change that password"));
  } else if (not_offered_matters) {
    std::string offered;
    for (const auto& keyword : tls ? profile.ehlo_after_tls : profile.ehlo_before_tls)
      if (ascii::to_upper(keyword).starts_with("AUTH ")) offered = keyword.substr(5);
    add(DeviceVerdict::no_common_auth_mechanism, DeviceOutcome::breaks,
        "it asked for AUTH " + report.auth_not_offered + ", which is not offered here (" +
            (offered.empty() ? std::string("no AUTH") : offered) +
            (kind == ProfileKind::mx
                 ? "): the tenant MX takes no AUTH, direct send is anonymous: turn authentication off on the device for "
                   "direct send, or point it at smtp.office365.com:587 and sign in with OAuth (XOAUTH2)"
                 : "; Exchange Online offers only LOGIN and XOAUTH2, after STARTTLS): set the device to OAuth (XOAUTH2) "
                   "if it can, else to direct send or an SMTP relay connector"));
    // PLAIN or LOGIN, refused for want of the mechanism, is still a device
    // set to a password: it breaks with basic authentication whatever the
    // mechanism.
    const std::string wanted = ascii::to_upper(report.auth_not_offered);
    if (wanted == "PLAIN" || wanted == "LOGIN" || wanted == "CRAM-MD5" || wanted == "DIGEST-MD5" || wanted == "NTLM")
      add(DeviceVerdict::basic_auth, DeviceOutcome::breaks,
          "it signs in with a password (AUTH " + wanted + "), basic authentication, which Exchange Online disables by "
          "default at the end of December 2026: switch it to OAuth (XOAUTH2) if it can, else to direct send (tenant MX, "
          "port 25, internal recipients) or an SMTP relay connector");
  }

  if (!report.ehlo_refusal.empty())
    add(DeviceVerdict::invalid_ehlo, DeviceOutcome::breaks,
        "its EHLO name \"" + report.ehlo + "\" is not a fully qualified domain name (" + report.ehlo_refusal +
            "): give the device a host name with its domain (printer.contoso.com)");

  // The envelope.
  const std::string envelope = "MAIL FROM " + (report.mail_from.empty() ? std::string("<>") : "<" + report.mail_from + ">") +
                               [&] {
                                 std::string out;
                                 for (const auto& r : report.rcpt_to) out += ", RCPT TO <" + r + ">";
                                 for (const auto& r : report.refused_rcpt) out += ", RCPT TO <" + r + "> (refused)";
                                 return out;
                               }();
  const bool tried_auth = !report.auth_mechanism.empty() || not_offered_matters;
  if (!report.mail_refusal.empty()) {
    if (report.mail_refusal.find("5.7.57") != std::string::npos) {
      // After a failed AUTH the 5.7.57 follows from it: the AUTH finding says what to fix.
      if (!tried_auth)
        add(DeviceVerdict::sends_without_auth, DeviceOutcome::breaks,
            "sends without authenticating: needs direct send or a connector (" + envelope + "); " + no_auth_remedy(kind));
    } else if (report.mail_refusal.find("5.7.60") != std::string::npos) {
      add(DeviceVerdict::sender_not_permitted, DeviceOutcome::breaks,
          "its MAIL FROM <" + report.mail_from + "> is not the mailbox it signed in as (" + user +
              "): 550 5.7.60; set the device's sender address to " + user +
              ", or grant that mailbox Send As on the sender (Add-RecipientPermission)");
    } else {
      add(DeviceVerdict::envelope_refused, DeviceOutcome::breaks, "its sender was refused: " + report.mail_refusal);
    }
  }
  if (report.message_refusal.find("5.1.20") != std::string::npos) {
    add(DeviceVerdict::header_from_outside_tenant, DeviceOutcome::breaks,
        "its From header (" + printable(report.header_from, 200) + ") names more than one address and the message has no "
        "Sender header: Exchange Online refuses it (550 5.1.20): set the device's From to one address");
  } else if (!report.message_refusal.empty()) {
    const FromHeader from = parse_from_header(report.header_from);
    add(DeviceVerdict::sender_not_permitted, DeviceOutcome::breaks,
        "its From header (" + printable(report.header_from, 200) + ") is not the mailbox it signed in as (" + user +
            "): Exchange Online refuses the message after DATA with 554 5.2.252 SendAsDenied; set the device's From "
            "address to " + user + ", or grant that mailbox Send As on " +
            (from.addresses.empty() ? std::string("the From address") : from.addresses.front()) +
            " (Add-RecipientPermission)");
  }
  if (!report.rcpt_refusal.empty()) {
    if (report.rcpt_refusal.find("5.7.68") != std::string::npos)
      add(DeviceVerdict::needs_partner_connector, DeviceOutcome::breaks,
          "direct send is refused (550 5.7.68, RejectDirectSend) for " + envelope +
              ": create a partner inbound connector that matches the device's public IP or certificate, or "
              "authenticate with OAuth on smtp.office365.com:587");
    else if (report.rcpt_refusal.find("5.7.64") != std::string::npos)
      add(DeviceVerdict::relay_denied, DeviceOutcome::breaks,
          "a recipient is outside the tenant (550 5.7.64 Relay Access Denied, " + envelope +
              "): direct send reaches only the tenant's own mailboxes; for external recipients use an inbound "
              "connector (fixed public IP or certificate) or SMTP AUTH with OAuth");
    else
      add(DeviceVerdict::envelope_refused, DeviceOutcome::breaks,
          "a recipient was refused (" + report.rcpt_refusal + ", " + envelope + ")");
  }
  if (report.mail_given && report.mail_refusal.empty() && !tried_auth && !report.auth_before_starttls) {
    // A MAIL FROM without '@' is taken whole, as its domain.
    const std::string sender_domain = report.mail_from.find('@') == std::string::npos ? ascii::to_lower(report.mail_from)
                                                                                       : domain_of(report.mail_from);
    const auto& accepted = profile.accept_domains;
    // Accepted domains are exact names: a subdomain is another domain, with
    // its own SPF record, and Reject Direct Send does not cover it.
    const auto is_accepted = [&](const std::string& domain) {
      return std::find(accepted.begin(), accepted.end(), ascii::to_lower(domain)) != accepted.end();
    };
    const bool sender_accepted = accepted.empty() || is_accepted(sender_domain);
    const auto parent = std::find_if(accepted.begin(), accepted.end(),
                                     [&](const std::string& domain) { return dns::name_is_at_or_below(sender_domain, domain); });
    if (kind == ProfileKind::mx && report.message_accepted && report.mail_from.empty()) {
      // RFC 5321 4.5.5: <> is the sender of bounces. SPF then checks the
      // EHLO name (RFC 7208 2.4) and DMARC aligns the From header with it
      // (RFC 7489 3.1.2), which a device's own name does not match.
      add(DeviceVerdict::null_sender, DeviceOutcome::breaks,
          "the MX took it (" + envelope + "), but with the null sender <>, which is for bounces: with no sender domain, SPF is "
          "checked for the EHLO name and DMARC fails for the From header, so Microsoft 365 treats it as spoofed (Junk or "
          "quarantine; refused where the From domain publishes DMARC p=reject): set the device's sender address to one in an "
          "accepted domain" + (accepted.empty() ? std::string() : " (device@" + accepted.front() + ")") +
          " and put its public IP in that domain's SPF record");
    } else if (kind == ProfileKind::mx && report.message_accepted && !sender_accepted) {
      // Anonymous mail from another domain is what any internet sender
      // sends: the MX takes it, and SPF of that domain decides, which never
      // lists the device.
      if (parent != accepted.end())
        add(DeviceVerdict::sender_outside_tenant, DeviceOutcome::breaks,
            "the MX took it (" + envelope + "), but its sender's domain " + sender_domain + " is below " + *parent +
                " without being an accepted domain itself (--accept-domain): Exchange Online treats it as another domain, "
                "so this is not direct send, and SPF is checked for " + sender_domain + " (its own record; " + *parent +
                "'s is not inherited), which does not list the device unless you add it there: if " + sender_domain +
                " is an accepted domain of the tenant, run again with --accept-domain " + sender_domain +
                "; otherwise set the device's sender to device@" + *parent + " and keep its public IP in " + *parent +
                "'s SPF record");
      else
        add(DeviceVerdict::sender_outside_tenant, DeviceOutcome::breaks,
            "the MX took it (" + envelope + "), but its sender " + report.mail_from + " is not in the tenant's domains (" +
                strings::join(accepted, ", ") + "): that is ordinary internet mail, not direct send, and " + sender_domain +
                "'s SPF does not list the device, so Microsoft 365 treats it as spoofed (Junk or quarantine; refused where " +
                sender_domain + " publishes DMARC p=reject): set the device's sender to an address in an accepted domain (device@" +
                accepted.front() + ") and put its public IP in that domain's SPF record");
    } else if (kind == ProfileKind::mx && accepted.empty()) {
      // Without the tenant's domains, anonymous mail to anyone is taken
      // here; Exchange Online takes it only for its own recipients.
      if (report.message_accepted || !report.rcpt_to.empty())
        add(DeviceVerdict::sends_without_auth, DeviceOutcome::unknown,
            "it sends anonymously (" + envelope + "), as direct send does; whether the tenant MX takes it depends on the "
            "tenant's accepted domains, which this listener was not given (it took every recipient): run it again with "
            "--accept-domain for each of the tenant's domains (direct send reaches only the tenant's own recipients, from "
            "a sender in its domains)");
    } else if (kind == ProfileKind::mx) {
      // DMARC and Microsoft 365's spoofing checks judge the From header
      // (RFC 7489 3.1), not the envelope.
      const FromHeader from = parse_from_header(report.header_from);
      const std::string shown = printable(report.header_from, 200);
      const std::string fix = ": set the device's From address to one address in " + sender_domain + ", the same as its sender";
      if (report.message_accepted && report.header_from.empty())
        add(DeviceVerdict::header_from_outside_tenant, DeviceOutcome::breaks,
            "its envelope is direct send (" + envelope + "), but the message has no From header, which RFC 5322 3.6 requires "
            "and which DMARC and Microsoft 365's spoofing checks judge" + fix);
      else if (report.message_accepted && (from.malformed || from.addresses.empty()))
        add(DeviceVerdict::header_from_outside_tenant, DeviceOutcome::breaks,
            "its envelope is direct send (" + envelope + "), but its From header (" + shown +
                ") is not one well-formed address (RFC 5322 3.4), so DMARC cannot find the domain it judges" + fix);
      else if (report.message_accepted && from.addresses.size() > 1)
        // With a Sender header Exchange Online takes it (without one it was
        // refused, 5.1.20); what DMARC makes of several authors is the receiver's
        // choice (RFC 7489 6.6.1).
        add(DeviceVerdict::header_from_outside_tenant, DeviceOutcome::unknown,
            "its envelope is direct send (" + envelope + "), and the MX took the message, but its From header (" + shown +
                ") names " + std::to_string(from.addresses.size()) +
                " addresses: DMARC has no single domain to judge (RFC 7489 6.6.1), so Microsoft 365 may treat it as spoofed" +
                fix);
      else if (report.message_accepted && !is_accepted(from.domains.front()))
        add(DeviceVerdict::header_from_outside_tenant, DeviceOutcome::breaks,
            "its envelope is direct send (" + envelope + "), but its From header (" + shown + ") is in " + from.domains.front() +
                ", not an accepted domain: DMARC and Microsoft 365's spoofing checks judge the From header, so the message is "
                "treated as spoofed (Junk or quarantine; refused where that domain publishes DMARC p=reject)" + fix);
      else if (report.message_accepted)
        add(DeviceVerdict::direct_send_works, DeviceOutcome::works,
            "it sends as direct send (" + envelope + ", " + (tls ? report.tls_version : std::string("no TLS")) +
                ") and the tenant MX took the message: this works as long as the device's public IP is in the SPF record of " +
                sender_domain + ", which this listener cannot see (check it: sendcheck spf " + sender_domain +
                " --ip <the device's public IP>)");
    } else {
      // accept-all takes anything: how Microsoft 365 answers depends on
      // the path the device is moved to, which this session cannot show.
      add(DeviceVerdict::sends_without_auth, DeviceOutcome::unknown,
          "sends without authenticating (" + envelope + "); " + no_auth_remedy(kind));
    }
  }
  if (!findings.empty()) return conclude();

  if (kind == ProfileKind::mx && left_after_ehlo(report, false)) {
    // Clients set to sign in stop here (swaks: "Host did not advertise
    // authentication"; msmtp, curl alike): the tenant MX never offers AUTH.
    add(DeviceVerdict::no_common_auth_mechanism, DeviceOutcome::unknown,
        "it left after EHLO" + std::string(tls ? " over " + report.tls_version : "") +
            " without MAIL FROM: a device set to sign in (SMTP AUTH) gives up here, because the tenant MX offers no "
            "AUTH, or it only tested the connection: for direct send turn authentication off on the device (port 25, "
            "the tenant's own recipients), or point it at smtp.office365.com:587 with STARTTLS and OAuth (XOAUTH2)");
  } else if (kind == ProfileKind::submission && left_after_ehlo(report, true)) {
    std::string offered;
    for (const auto& keyword : profile.ehlo_after_tls)
      if (ascii::to_upper(keyword).starts_with("AUTH ")) offered = keyword.substr(5);
    add(DeviceVerdict::no_common_auth_mechanism, DeviceOutcome::unknown,
        "it left after EHLO over TLS without AUTH or MAIL FROM: it found no AUTH mechanism it supports among " +
            (offered.empty() ? std::string("those offered") : offered) +
            " (all Exchange Online offers: a device set to PLAIN or CRAM-MD5 cannot sign in there), or it only tested "
            "the connection: set it to OAuth (XOAUTH2) if it can, else to direct send or an SMTP relay connector");
  } else if (report.end_reason == "timeout" || report.end_reason == "session time limit") {
    add(DeviceVerdict::timed_out, DeviceOutcome::unknown,
        "timed out: the device went quiet (" + report.end_reason + ") before it showed how it sends");
  } else {
    add(DeviceVerdict::incomplete, DeviceOutcome::unknown,
        "the session ended (" + (report.end_reason.empty() ? std::string("closed") : report.end_reason) +
            ") before the device showed how it sends");
  }
  conclude();
}

// No command and no ClientHello: a port check, or a client that left at
// once, shows nothing about a device. One that stayed silent until --timeout
// does (timed-out; on an implicit-TLS listener, a device awaiting a
// greeting), and so does SMTP text where a ClientHello was due.
namespace {
bool shows_device(const SessionReport& report) {
  return !report.commands.empty() || report.tls_hello_in_clear || report.tls_offered_max ||
         report.verdict == DeviceVerdict::timed_out || report.verdict == DeviceVerdict::no_implicit_tls;
}
}  // namespace

ListenSummary summarize(const std::vector<SessionReport>& reports) {
  ListenSummary summary;
  summary.sessions = reports.size();
  std::vector<std::size_t> counts(static_cast<std::size_t>(DeviceVerdict::envelope_refused) + 1, 0);
  bool any_works = false, any_breaks = false, any_unknown = false;
  for (const auto& report : reports) {
    if (!shows_device(report)) {
      ++summary.without_commands;
      continue;
    }
    ++counts[static_cast<std::size_t>(report.verdict)];
    any_works = any_works || report.outcome == DeviceOutcome::works;
    any_unknown = any_unknown || report.outcome == DeviceOutcome::unknown;
    if (report.outcome == DeviceOutcome::breaks) {
      any_breaks = true;
      summary.breaking.push_back(&report);
    }
  }
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (counts[i]) summary.by_verdict.emplace_back(static_cast<DeviceVerdict>(i), counts[i]);
  // 0 only when every device seen works: one left unknown beside a working
  // one is still a device nobody can vouch for.
  summary.exit_code = any_breaks ? 1 : any_works && !any_unknown ? 0 : 3;
  return summary;
}

nlohmann::json to_json(const ListenSummary& summary) {
  nlohmann::json verdicts = nlohmann::json::object();
  for (const auto& [verdict, count] : summary.by_verdict) verdicts[std::string(to_string(verdict))] = count;
  nlohmann::json breaking = nlohmann::json::array();
  for (const auto* report : summary.breaking)
    breaking.push_back({{"client", report->client}, {"ehlo", report->ehlo},
                        {"verdict", verdict_json(to_string(report->verdict), report->outcome, report->verdict_reason)}});
  return {{"sessions", summary.sessions},
          {"without_commands", summary.without_commands},
          {"verdicts", verdicts},
          {"breaking", breaking},
          {"exit_code", summary.exit_code}};
}

std::string render_text(const ListenSummary& summary) {
  std::string out = "summary: " + std::to_string(summary.sessions) + " session" + (summary.sessions == 1 ? "" : "s");
  if (summary.without_commands)
    out += " (" + std::to_string(summary.without_commands) + " closed without a command)";
  out += "\n";
  for (const auto& [verdict, count] : summary.by_verdict)
    out += "  " + std::to_string(count) + " x " + std::string(to_string(verdict)) + "\n";
  for (const auto* report : summary.breaking) {
    std::string verdicts;
    for (const auto& finding : report->findings)
      if (finding.outcome == DeviceOutcome::breaks) verdicts += (verdicts.empty() ? "" : ", ") + std::string(to_string(finding.verdict));
    if (verdicts.empty()) verdicts = std::string(to_string(report->verdict));
    out += "  to change: " + report->client + " (EHLO " + (report->ehlo.empty() ? "-" : printable(report->ehlo, 255)) + "): " + verdicts + "\n";
  }
  if (summary.by_verdict.empty()) out += "  no device showed how it sends\n";
  return out;
}

nlohmann::json to_json(const SessionReport& report) {
  auto optional = [](const std::string& text) { return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text); };
  return {{"client", report.client},
          {"ehlo", optional(report.ehlo)},
          {"used_ehlo", report.used_ehlo},
          {"starttls", report.starttls},
          {"implicit_tls", report.implicit_tls},
          {"tls", {{"version", optional(report.tls_version)}, {"cipher", optional(report.tls_cipher)},
                   {"sni", optional(report.sni)}, {"error", optional(report.tls_error)},
                   {"failure", report.tls_failure == tls::HandshakeFailure::none ? nlohmann::json(nullptr)
                                                                                   : nlohmann::json(tls::to_string(report.tls_failure))},
                   {"offered_max", report.tls_offered_max ? nlohmann::json(tls::to_string(*report.tls_offered_max)) : nlohmann::json(nullptr)},
                   {"hello_in_clear", report.tls_hello_in_clear},
                   {"pipelined_before_tls", report.pipelined_before_tls},
                   {"client_certificate", report.client_certificate ? tls::to_json(*report.client_certificate) : nlohmann::json(nullptr)}}},
          {"auth", {{"mechanism", optional(report.auth_mechanism)}, {"user", optional(report.auth_user)},
                    {"accepted", report.auth_accepted ? nlohmann::json(*report.auth_accepted) : nlohmann::json(nullptr)},
                    {"reply", optional(report.auth_reply)}}},
          {"mail_from", report.mail_given ? nlohmann::json(report.mail_from) : nlohmann::json(nullptr)},
          {"rcpt_to", report.rcpt_to},
          {"refused_rcpt", report.refused_rcpt},
          {"message", report.message_bytes
                          ? nlohmann::json{{"bytes", *report.message_bytes}, {"from", optional(report.header_from)},
                                           {"to", optional(report.header_to)}, {"subject", optional(report.header_subject)},
                                           {"saved_as", optional(report.saved_as)}}
                          : nlohmann::json(nullptr)},
          {"commands", report.commands},
          {"end", report.end_reason},
          {"duration_ms", report.duration_ms},
          {"bdat", report.used_bdat},
          {"refusals", {{"ehlo", optional(report.ehlo_refusal)}, {"mail", optional(report.mail_refusal)},
                        {"rcpt", optional(report.rcpt_refusal)},
                        {"message", optional(report.message_refusal)}}},
          {"verdict", verdict_json(to_string(report.verdict), report.outcome, report.verdict_reason)}};
}

Check device_check(const SessionReport& report) {
  Check check;
  check.id = "listen.device";
  check.status = report.outcome == DeviceOutcome::works ? Status::pass : report.outcome == DeviceOutcome::breaks ? Status::fail : Status::info;
  check.message = report.client + " (EHLO " + (report.ehlo.empty() ? "-" : report.ehlo) + "): " +
                  std::string(to_string(report.verdict)) + (report.verdict_reason.empty() ? "" : ": " + report.verdict_reason);
  // The reason says what to change (or what to learn); a device that works needs nothing.
  if (report.outcome != DeviceOutcome::works) check.remedy = report.verdict_reason;
  check.fields = {{"client", report.client}, {"verdict", to_string(report.verdict)}};
  return check;
}

Report listen_report(std::string_view tool, std::string_view version, const std::vector<const SessionReport*>& sessions,
                     const ListenSummary* summary) {
  Report out{std::string(tool), std::string(version)};
  nlohmann::json documents = nlohmann::json::array();
  for (const auto* session : sessions) {
    documents.push_back(to_json(*session));
    if (shows_device(*session)) out.add(device_check(*session));
  }
  if (!sessions.empty()) out.fields()["sessions"] = std::move(documents);
  if (summary) {
    // The exit rule of listen: 3 when no session showed how a device sends.
    if (summary->exit_code == exit_incomplete)
      out.add(Check{"listen.sessions", Status::error,
                    summary->sessions == 0                            ? "no session came in"
                    : summary->sessions == summary->without_commands ? "no session showed how a device sends (each ended before it said enough)"
                                                                      : "no session showed a device that works or breaks at Microsoft 365: each "
                                                                        "device row says what is still unknown",
                    summary->sessions == summary->without_commands || summary->sessions == 0
                        ? "Send from the device again, with this listener as its SMTP server, and let it finish."
                        : "Do what the device rows say (another profile, --accept-domain), then send from the device again.",
                    {}});
    out.fields()["summary"] = to_json(*summary);
  }
  return out;
}

std::string render_text(const SessionReport& report) {
  std::string out = "session from " + report.client + "\n";
  auto line = [&](const std::string& label, const std::string& value) {
    out += "  " + label + ": " + (value.empty() ? "-" : printable(value)) + "\n";
  };
  line(report.used_ehlo ? "EHLO" : "HELO", report.ehlo);
  line("TLS", report.starttls ? "STARTTLS, " + report.tls_version + " " + report.tls_cipher +
                                     (report.sni.empty() ? "" : ", SNI " + report.sni)
              : report.implicit_tls && !report.tls_version.empty() ? "implicit, " + report.tls_version + " " + report.tls_cipher
              : report.tls_error.empty() ? "none" : "failed: " + report.tls_error);
  if (!report.pipelined_before_tls.empty())
    line("sent with STARTTLS", strings::join(report.pipelined_before_tls, ", ") + " (in clear, before the handshake; dropped unread)");
  if (report.client_certificate) {
    std::string names;
    for (const auto& name : report.client_certificate->san) names += (names.empty() ? ", " : " ") + name;
    line("client certificate", report.client_certificate->subject + names);
  }
  // What a session did not show stays out of the line: no "as " without a
  // user, no "refused: " without a reply (the client left mid-exchange).
  std::string auth;
  if (!report.auth_mechanism.empty()) {
    auth = report.auth_mechanism + (report.auth_user.empty() ? std::string(" (no user name given)") : " as " + report.auth_user);
    if (report.auth_accepted && *report.auth_accepted) auth += " (accepted)";
    else if (!report.auth_reply.empty()) auth += " (refused: " + report.auth_reply + ")";
    else auth += " (not finished)";
  }
  line("AUTH", auth);
  const std::string mail_from = report.mail_from.empty() && report.mail_given ? std::string("<>") : report.mail_from;
  line("MAIL FROM", mail_from + (report.mail_refusal.empty() ? "" : " (refused: " + report.mail_refusal + ")"));
  std::string rcpts;
  for (const auto& r : report.rcpt_to) rcpts += (rcpts.empty() ? "" : ", ") + r;
  for (const auto& r : report.refused_rcpt) rcpts += (rcpts.empty() ? "" : ", ") + r + " (refused)";
  line("RCPT TO", rcpts);
  if (report.message_bytes) {
    // Only the headers it has: a message without From says so, not "From: ,".
    std::string message = std::to_string(*report.message_bytes) + " bytes";
    for (const auto& [name, value] : {std::pair<const char*, const std::string&>{"From", report.header_from},
                                      {"To", report.header_to}, {"Subject", report.header_subject}})
      if (!value.empty()) message += std::string(", ") + name + ": " + value;
    if (report.header_from.empty() && report.header_to.empty() && report.header_subject.empty())
      message += ", no From, To or Subject header";
    if (!report.message_refusal.empty()) message += " (refused: " + report.message_refusal + ")";
    line("message", message);
  }
  line("ended", report.end_reason);
  if (report.findings.empty()) {
    line("verdict", std::string(to_string(report.verdict)) + " (" + std::string(to_string(report.outcome)) + "): " +
                       report.verdict_reason);
    return out;
  }
  // Every finding on its own line: the device is fixed one after the other.
  for (std::size_t i = 0; i < report.findings.size(); ++i) {
    const auto& finding = report.findings[i];
    line(i == 0 ? "verdict" : "also", std::string(to_string(finding.verdict)) + " (" +
                                          std::string(to_string(finding.outcome)) + "): " + finding.reason);
  }
  return out;
}

}  // namespace diag::smtp
