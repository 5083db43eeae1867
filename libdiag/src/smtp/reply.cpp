// Replies, enhanced codes, EHLO extensions and dot-stuffing: the
// parts of the engine that only look at text.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "diag/smtp.h"
#include "diag/ascii.h"
#include "diag/strings.h"

namespace diag::smtp {

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string leading_enhanced_code(std::string_view text, int code) {
  // RFC 3463 2: class "." subject "." detail, subject and detail 1-3 digits.
  std::size_t end = text.find(' ');
  std::string_view candidate = text.substr(0, end);
  const auto first = candidate.find('.');
  const auto second = first == std::string_view::npos ? first : candidate.find('.', first + 1);
  if (second == std::string_view::npos) return {};
  const auto cls = candidate.substr(0, first), subject = candidate.substr(first + 1, second - first - 1),
             detail = candidate.substr(second + 1);
  if (cls.size() != 1 || !all_digits(cls) || !all_digits(subject) || !all_digits(detail)) return {};
  if (subject.size() > 3 || detail.size() > 3) return {};
  if (cls[0] != '2' && cls[0] != '4' && cls[0] != '5') return {};
  // RFC 2034 4: the class must agree with the reply code's first digit.
  if (code != 0 && cls[0] - '0' != code / 100) return {};
  return std::string(candidate);
}

std::string Reply::text() const {
  std::string out;
  for (const auto& line : lines) {
    std::string_view rest = line;
    const std::string code_here = leading_enhanced_code(rest, code);
    if (!code_here.empty()) {
      rest.remove_prefix(code_here.size());
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    }
    if (!out.empty() && !rest.empty()) out += ' ';
    out += rest;
  }
  return out;
}

std::string Reply::raw() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += std::to_string(code);
    out += i + 1 < lines.size() ? '-' : ' ';
    out += lines[i];
  }
  return out;
}

ReplyAssembler::Step ReplyAssembler::feed(std::string_view line) {
  // RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
  //                            Reply-code [ SP textstring ] CRLF
  if (line.size() < 3 || !all_digits(line.substr(0, 3)) || line[0] < '2' || line[0] > '5' ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    error_ = "not an SMTP reply line";
    reply_ = Reply{};
    return Step::error;
  }
  int code = 0;
  std::from_chars(line.data(), line.data() + 3, code);
  if (!reply_.lines.empty() && code != reply_.code) {
    error_ = "reply code changed from " + std::to_string(reply_.code) + " to " + std::to_string(code) +
             " inside a multi-line reply";
    reply_ = Reply{};
    return Step::error;
  }
  if (reply_.lines.size() >= max_lines_) {
    error_ = "reply longer than " + std::to_string(max_lines_) + " lines";
    reply_ = Reply{};
    return Step::error;
  }
  reply_.code = code;
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  if (reply_.lines.empty()) reply_.enhanced = leading_enhanced_code(text, code);
  reply_.lines.emplace_back(text);
  return line.size() > 3 && line[3] == '-' ? Step::more : Step::complete;
}

Reply ReplyAssembler::take() {
  Reply out = std::move(reply_);
  reply_ = Reply{};
  return out;
}

Result<Reply> parse_reply(std::string_view text) {
  ReplyAssembler assembler;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    switch (assembler.feed(line)) {
      case ReplyAssembler::Step::more: break;
      case ReplyAssembler::Step::complete: return assembler.take();
      case ReplyAssembler::Step::error: return bad_input(assembler.error());
    }
  }
  return bad_input("incomplete reply");
}

bool Extensions::offers_auth(std::string_view mechanism) const {
  const std::string wanted = ascii::to_upper(mechanism);
  return std::find(auth.begin(), auth.end(), wanted) != auth.end();
}

Extensions parse_ehlo(const Reply& reply) {
  Extensions out;
  if (reply.lines.empty()) return out;
  out.greeting = reply.lines.front();
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const std::string& line = reply.lines[i];
    out.keywords.push_back(line);
    const auto words = strings::split_words(line);
    if (words.empty()) continue;
    std::string keyword = ascii::to_upper(words[0]);
    // Old servers (Exchange 5.5-era, some appliances) still send "AUTH=LOGIN".
    std::vector<std::string_view> parameters(words.begin() + 1, words.end());
    std::string old_auth;
    if (keyword.starts_with("AUTH=")) {
      old_auth = keyword.substr(5);
      keyword = "AUTH";
    }
    if (keyword == "STARTTLS") out.starttls = true;
    else if (keyword == "PIPELINING") out.pipelining = true;
    else if (keyword == "8BITMIME") out.eight_bit_mime = true;
    else if (keyword == "SMTPUTF8") out.smtputf8 = true;
    else if (keyword == "CHUNKING") out.chunking = true;
    else if (keyword == "DSN") out.dsn = true;
    else if (keyword == "ENHANCEDSTATUSCODES") out.enhanced_status_codes = true;
    else if (keyword == "BINARYMIME") out.binary_mime = true;
    else if (keyword == "SIZE") {
      out.size_advertised = true;
      std::uint64_t value = 0;
      if (!parameters.empty()) {
        const auto p = parameters[0];
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (ec == std::errc() && end == p.data() + p.size()) out.size = value;
      }
    } else if (keyword == "AUTH") {
      if (!old_auth.empty()) parameters.insert(parameters.begin(), old_auth);
      for (auto mechanism : parameters) {
        std::string name = ascii::to_upper(mechanism);
        if (name.size() > 40 || out.auth.size() >= 32) continue;
        if (std::find(out.auth.begin(), out.auth.end(), name) == out.auth.end()) out.auth.push_back(name);
      }
    }
  }
  return out;
}

std::string_view to_string(FailureClass value) {
  switch (value) {
    case FailureClass::none: return "none";
    case FailureClass::connect: return "connect";
    case FailureClass::tls: return "tls";
    case FailureClass::protocol: return "protocol";
    case FailureClass::policy: return "policy";
    case FailureClass::internal: return "internal";
  }
  return "internal";
}

std::string_view to_string(IoStatus status) {
  switch (status) {
    case IoStatus::ok: return "ok";
    case IoStatus::timeout: return "timeout";
    case IoStatus::closed: return "closed";
    case IoStatus::too_long: return "line too long";
    case IoStatus::error: return "error";
    case IoStatus::tls_error: return "TLS error";
  }
  return "error";
}

std::optional<StarttlsPolicy> parse_starttls_policy(std::string_view text) {
  if (text == "require") return StarttlsPolicy::require;
  if (text == "try") return StarttlsPolicy::try_;
  if (text == "never") return StarttlsPolicy::never;
  return std::nullopt;
}

std::optional<AuthMechanism> parse_auth_mechanism(std::string_view text) {
  const std::string name = ascii::to_upper(text);
  if (name == "LOGIN") return AuthMechanism::login;
  if (name == "PLAIN") return AuthMechanism::plain;
  if (name == "XOAUTH2") return AuthMechanism::xoauth2;
  return std::nullopt;
}

std::string_view to_string(AuthMechanism mechanism) {
  switch (mechanism) {
    case AuthMechanism::none: return "";
    case AuthMechanism::login: return "LOGIN";
    case AuthMechanism::plain: return "PLAIN";
    case AuthMechanism::xoauth2: return "XOAUTH2";
  }
  return "";
}

std::string_view to_string(ClientState state) {
  switch (state) {
    case ClientState::connect: return "connect";
    case ClientState::tls_handshake_implicit: return "tls";
    case ClientState::banner: return "banner";
    case ClientState::ehlo: return "ehlo";
    case ClientState::helo: return "helo";
    case ClientState::starttls: return "starttls";
    case ClientState::tls_handshake: return "tls";
    case ClientState::ehlo_after_tls: return "ehlo-after-tls";
    case ClientState::auth: return "auth";
    case ClientState::auth_continue: return "auth";
    case ClientState::mail: return "mail";
    case ClientState::rcpt: return "rcpt";
    case ClientState::data: return "data";
    case ClientState::message: return "message";
    case ClientState::rset: return "rset";
    case ClientState::quit: return "quit";
    case ClientState::done: return "done";
  }
  return "?";
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 50 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (line_start && c == '.') out += '.';
    if (c == '\n') {
      if (out.empty() || out.back() != '\r') out += '\r';
      out += '\n';
      line_start = true;
      continue;
    }
    out += c;
    line_start = false;
  }
  if (!out.empty() && !(out.size() >= 2 && out.ends_with("\r\n"))) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace diag::smtp
