// Finding SMTP replies in a line of any kind of text, and the details an
// Exchange Online reply carries in its text.
#include <array>

#include "diag/explain.h"
#include "diag/ip.h"
#include "text.h"

namespace diag::explain {
namespace {

// RFC 5321 4.2: "Reply-code SP text" or "Reply-code - text" (continued) or
// the code alone. The first digit is 2 to 5, the second 0 to 5.
bool is_reply_code_at(std::string_view line, std::size_t at) {
  if (at + 3 > line.size()) return false;
  const char first = line[at], second = line[at + 1], third = line[at + 2];
  if (first < '2' || first > '5' || second < '0' || second > '5' || !text::is_digit(third)) return false;
  if (at + 3 == line.size()) return true;
  const char separator = line[at + 3];
  return separator == ' ' || separator == '-' || separator == '\t';
}

// Characters after which a reply may start inside a line. Not digits,
// letters, '.', '-', '/' or '+': those make "10.250.1.2", "a-550", "v1/250".
bool is_boundary(char c) {
  switch (c) {
    case ' ': case '\t': case '(': case '[': case '\'': case '"': case '=': case ';': case ':':
    case '<': case '>': case ',': case '|': case '`': case '{':
      return true;
    default:
      return false;
  }
}

// Basic codes that RFC 5321, 4954, 3207 and 7504 define; a reply without an
// enhanced code must use one of them, which keeps "200 OK" (HTTP) and
// "300 messages" out.
bool is_defined_basic_code(int code) {
  static constexpr int defined[] = {211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432, 450, 451, 452, 454,
                                    455, 500, 501, 502, 503, 504, 521, 530, 534, 535, 538, 550, 551, 552, 553, 554,
                                    555, 556};
  for (int known : defined)
    if (known == code) return true;
  return false;
}

// Text that introduces a reply in a log line, an NDR or a program's error
// message, so that a reply without an enhanced code is trusted there.
constexpr std::string_view reply_markers[] = {
    "said: ",             // Postfix: "host x[1.2.3.4] said: 550 ..."
    "returned '",         // Exchange NDR: "Remote Server returned '550 ...'"
    "returned \"",
    "response was: ",     // .NET SmtpException: "The server response was: 5.7.57 ..."
    "smtp;",              // DSN Diagnostic-Code: "smtp; 550 ...", Exchange "smtp;550 ..."
    "smtp; ",
    "reply=",             // sendmail
    "reject=",            // sendmail
    "deferred: ",         // sendmail "stat=Deferred: 421 ..."
    "-> ",                // "DATA -> 354 ...", PHPMailer "SERVER -> CLIENT: 250 ..."
    "client: ",
    "status=sent (",      // Postfix
    "status=deferred (",
    "status=bounced (",
    "error: ",
    "reply: ",
};

bool preceded_by_marker(std::string_view line, std::size_t at) {
  const auto before = line.substr(0, at);
  for (auto marker : reply_markers)
    if (text::iends_with(before, marker)) return true;
  // Exim: "SMTP error from remote mail server after RCPT TO:<a@b>: 550 ..."
  return text::iends_with(before, ": ") && before.find("error from remote") != std::string_view::npos;
}

struct Candidate {
  std::size_t at = 0;  // where the reply code (or the enhanced code) starts
  int code = 0;        // 0: an enhanced code alone (.NET)
  bool continued = false;
  std::size_t enhanced_at = 0, enhanced_length = 0;
};

// Every reply that starts in the line. `line_start` says whether position 0
// begins the line (a reply there needs no marker).
std::vector<Candidate> find_candidates(std::string_view line) {
  std::vector<Candidate> found;
  const std::size_t size = line.size();
  for (std::size_t at = 0; at + 3 <= size; ++at) {
    const char c = line[at];
    if (c < '2' || c > '5') continue;
    if (at > 0 && !is_boundary(line[at - 1])) continue;
    if (line[at + 1] == '.') {
      // An enhanced code without a reply code, only after a marker
      // (.NET: "The server response was: 5.7.57 ...").
      if (at == 0 || !text::iends_with(line.substr(0, at), "response was: ")) continue;
      const auto length = text::enhanced_code_length(line.substr(at));
      if (!length) continue;
      found.push_back({at, 0, false, at, length});
      at += length - 1;
      continue;
    }
    if (!is_reply_code_at(line, at)) continue;
    Candidate candidate;
    candidate.at = at;
    candidate.code = (c - '0') * 100 + (line[at + 1] - '0') * 10 + (line[at + 2] - '0');
    candidate.continued = at + 3 < size && line[at + 3] == '-';
    if (at + 4 < size) {
      candidate.enhanced_length = text::enhanced_code_length(line.substr(at + 4));
      candidate.enhanced_at = at + 4;
    }
    const bool has_enhanced = candidate.enhanced_length > 0;
    // A reply with an enhanced code is trusted anywhere; one without only at
    // the start of a line or after a marker, and only with a defined code.
    const bool trusted =
        has_enhanced || (is_defined_basic_code(candidate.code) && (at == 0 || preceded_by_marker(line, at)));
    if (!trusted) continue;
    found.push_back(candidate);
    at += 3 + (has_enhanced ? 1 + candidate.enhanced_length : 0) - 1;
  }
  return found;
}

// Postfix ends a reply with "(in reply to RCPT TO command)" or "(in reply
// to initial greeting)"; returns the step and cuts it off the text.
std::string take_postfix_step(std::string_view& reply_text) {
  const auto found = reply_text.find("(in reply to ");
  if (found == std::string_view::npos) return {};
  auto command = reply_text.substr(found + 13);
  const auto close = command.find(')');
  if (close == std::string_view::npos) return {};
  command = command.substr(0, close);
  if (text::iends_with(command, " command")) command.remove_suffix(8);
  reply_text = reply_text.substr(0, found);
  return text::normalize_step(command);
}

// Exim names the step before the reply: "... after RCPT TO:<a@b>: 550 ...".
// Postfix names AUTH in "SASL authentication failed; server x said: ...".
// Both are fixed texts of those programs: a case-sensitive search is enough
// and keeps the scan fast.
std::string step_from_context(std::string_view before) {
  const auto after = before.find("remote mail server after ");
  if (after != std::string_view::npos) return text::normalize_step(before.substr(after + 25));
  if (before.find("SASL authentication failed") != std::string_view::npos) return "AUTH";
  return {};
}

std::size_t count_of(std::string_view text, char c) {
  std::size_t n = 0;
  for (char x : text) n += x == c;
  return n;
}

// Drops what the surrounding log or quote left at the end of a reply: an
// unbalanced ')', ']', '>' or quote, trailing separators.
std::string_view trim_reply_end(std::string_view reply_text) {
  reply_text = text::trim(reply_text);
  if (reply_text.empty()) return reply_text;
  switch (reply_text.back()) {
    case ')': case ']': case '>': case '\'': case '"': case ',': case ';': break;
    default: return reply_text;  // the common case: nothing to count
  }
  // Openers minus closers, counted once; quotes by parity.
  int parens = 0, brackets = 0, angles = 0, quotes = 0, double_quotes = 0;
  for (char c : reply_text) {
    switch (c) {
      case '(': ++parens; break;
      case ')': --parens; break;
      case '[': ++brackets; break;
      case ']': --brackets; break;
      case '<': ++angles; break;
      case '>': --angles; break;
      case '\'': ++quotes; break;
      case '"': ++double_quotes; break;
      default: break;
    }
  }
  for (;;) {
    if (reply_text.empty()) return reply_text;
    int* balance = nullptr;
    bool drop = false;
    switch (reply_text.back()) {
      case ')': balance = &parens, drop = parens < 0; break;
      case ']': balance = &brackets, drop = brackets < 0; break;
      case '>': balance = &angles, drop = angles < 0; break;
      case '\'': balance = &quotes, drop = quotes % 2 == 1; break;
      case '"': balance = &double_quotes, drop = double_quotes % 2 == 1; break;
      case ',': case ';': case ' ': case '\t': drop = true; break;
      default: break;
    }
    if (!drop) return reply_text;
    if (balance) *balance += (reply_text.back() == '\'' || reply_text.back() == '"') ? -1 : 1;
    reply_text.remove_suffix(1);
  }
}

enum class LineKind { plain, server, client };

struct ClassifiedLine {
  LineKind kind = LineKind::plain;
  std::string_view rest;
};

// Transcript prefixes: swaks ("<- ", "<~ ", "<** ", " -> ", " ~> "),
// "S: "/"C: " (RFC examples, Microsoft's docs), "<<< "/">>> ".
// A lone "> " is an e-mail quote, not a client line.
ClassifiedLine classify(std::string_view line) {
  std::string_view rest = line;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::size_t run = 0;
  while (run < rest.size() && (rest[run] == '<' || rest[run] == '>' || rest[run] == '~' || rest[run] == '*' ||
                               rest[run] == '-' || rest[run] == '='))
    ++run;
  if (run > 0 && (run == rest.size() || rest[run] == ' ')) {
    const auto marks = rest.substr(0, run);
    auto after = text::trim(rest.substr(run));
    if (marks.front() == '<') return {LineKind::server, after};
    const bool client_arrow = marks.back() == '>' && (marks.find_first_of("-~*") != std::string_view::npos || run >= 3);
    if (client_arrow) return {LineKind::client, after};
    return {LineKind::plain, after};
  }
  if (rest.size() >= 3 && rest[1] == ':' && rest[2] == ' ') {
    if (rest[0] == 'S') return {LineKind::server, rest.substr(3)};
    if (rest[0] == 'C') return {LineKind::client, rest.substr(3)};
  }
  if (const auto at = rest.find("CLIENT -> SERVER: "); at != std::string_view::npos)  // PHPMailer
    return {LineKind::client, rest.substr(at + 18)};
  return {LineKind::plain, rest};
}

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> tokens;
  while (!text.empty()) {
    const auto start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    const auto end = text.find(' ');
    tokens.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end);
  }
  return tokens;
}

// A client command written without a transcript prefix, in its exact
// syntax, so that prose such as "Mail sent to ..." is not taken for one.
std::string unprefixed_command_step(std::string_view line) {
  line = text::trim(line);
  // Most lines of a log are not commands: reject them cheaply.
  if (line.empty() || line.size() > 600) return {};
  switch (text::lower(line[0])) {
    case 'm': case 'r': case 'd': case 's': case 'q': case 'n': case 'e': case 'h': case 'a': case '.': break;
    default: return {};
  }
  if (text::istarts_with(line, "MAIL FROM:")) return "MAIL FROM";
  if (text::istarts_with(line, "RCPT TO:")) return "RCPT TO";
  static constexpr std::string_view alone[] = {"DATA", "STARTTLS", "QUIT", "RSET", "NOOP", "."};
  for (auto command : alone)
    if (text::iequals(line, command)) return text::normalize_step(command);
  if (!text::istarts_with(line, "EHLO ") && !text::istarts_with(line, "HELO ") && !text::istarts_with(line, "AUTH "))
    return {};
  const auto words = split_spaces(line);
  if (words.size() == 2 && (text::iequals(words[0], "EHLO") || text::iequals(words[0], "HELO")))
    return text::normalize_step(words[0]);
  static constexpr std::string_view mechanisms[] = {"LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5"};
  if (words.size() >= 2 && words.size() <= 3 && text::iequals(words[0], "AUTH"))
    for (auto mechanism : mechanisms)
      if (text::iequals(words[1], mechanism)) return "AUTH";
  return {};
}

bool is_hex(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token)
    if (!text::is_digit(c) && !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

// "2023-09-12T20:59:57.214Z"
bool is_iso_time(std::string_view token) {
  return token.size() >= 20 && token.size() <= 32 && text::is_digit(token[0]) && token[4] == '-' && token[7] == '-' &&
         token[10] == 'T' && token[13] == ':' && token.back() == 'Z';
}

bool is_microsoft_front_end(std::string_view host) {
  static constexpr std::string_view suffixes[] = {".outlook.com", ".office365.com", ".outlook.cn", ".office365.us",
                                                  ".outlook.de"};
  for (auto suffix : suffixes)
    if (text::iends_with(host, suffix)) return true;
  return false;
}

bool is_host_name(std::string_view token) {
  if (token.size() < 3 || count_of(token, '.') < 1) return false;
  bool letter = false;
  for (char c : token) {
    if (text::is_alpha(c)) letter = true;
    else if (!text::is_digit(c) && c != '.' && c != '-') return false;
  }
  return letter;
}

// The bracketed Exchange Online suffix: "[host]", "[host time id]" or "[id]".
bool read_suffix(std::string_view inside, ReplyDetails& details) {
  const auto tokens = split_spaces(inside);
  if (tokens.empty() || tokens.size() > 3) return false;
  if (tokens.size() == 1 && tokens[0].size() == 16 && is_hex(tokens[0])) {
    details.session_id = tokens[0];
    return true;
  }
  if (!is_host_name(tokens[0])) return false;
  const bool timed = tokens.size() >= 2 && is_iso_time(tokens[1]);
  if (tokens.size() >= 2 && !timed) return false;
  if (tokens.size() == 3 && !is_hex(tokens[2])) return false;
  if (!timed && !is_microsoft_front_end(tokens[0])) return false;
  details.front_end_host = tokens[0];
  if (timed) details.time = tokens[1];
  if (tokens.size() == 3) details.session_id = tokens[2];
  // "BN8NAM12FT004.namprd12.prod.outlook.com" -> region "namprd12".
  const auto host = tokens[0];
  if (text::ifind(host, ".prod.") != std::string_view::npos) {
    const auto first_dot = host.find('.');
    const auto second_dot = host.find('.', first_dot + 1);
    details.region = text::to_lower(host.substr(first_dot + 1, second_dot - first_dot - 1));
  }
  return true;
}

}  // namespace

std::string extract_details(std::string_view reply_text, ReplyDetails& details) {
  std::size_t suffix_open = std::string_view::npos, suffix_end = 0;
  for (std::size_t open = reply_text.find('['); open != std::string_view::npos;
       open = reply_text.find('[', open + 1)) {
    const auto close = reply_text.find(']', open);
    if (close == std::string_view::npos) break;
    const auto inside = reply_text.substr(open + 1, close - open - 1);
    if (details.ip.empty()) {
      auto candidate = inside;
      if (text::istarts_with(candidate, "IPv6:")) candidate.remove_prefix(5);
      if (auto address = IpAddress::parse(candidate)) details.ip = address->to_string();
    }
    if (suffix_open == std::string_view::npos && read_suffix(inside, details)) suffix_open = open, suffix_end = close + 1;
  }
  std::string without_suffix(reply_text);
  if (suffix_open != std::string_view::npos) {
    without_suffix = text::trim(reply_text.substr(0, suffix_open));
    const auto after = text::trim(reply_text.substr(suffix_end));
    if (!after.empty() && !without_suffix.empty()) without_suffix += ' ';
    without_suffix.append(after);
  }
  // "AS(201806281)" (Exchange Online) or "(AS16012609)".
  for (std::size_t at = reply_text.find("AS"); at != std::string_view::npos && details.as_code.empty();
       at = reply_text.find("AS", at + 2)) {
    std::size_t digits_at = at + 2;
    if (digits_at < reply_text.size() && reply_text[digits_at] == '(') ++digits_at;
    else if (at == 0 || reply_text[at - 1] != '(') continue;
    std::size_t end = digits_at;
    while (end < reply_text.size() && text::is_digit(reply_text[end])) ++end;
    if (end > digits_at && end < reply_text.size() && reply_text[end] == ')')
      details.as_code = "AS" + std::string(reply_text.substr(digits_at, end - digits_at));
  }
  return without_suffix;
}

struct ReplyScanner::State {
  std::function<void(SmtpReply&&)> on_reply;
  std::optional<SmtpReply> pending;  // a reply whose last line ended in "NNN-"
  std::string step;                  // the last client command seen in a transcript
  std::string context_step;          // from a "step" member in JSON
  bool transcript = false;           // a server or client prefix was seen

  void emit_pending() {
    if (!pending) return;
    if (pending->step.empty()) pending->step = !step.empty() ? step : context_step;
    on_reply(std::move(*pending));
    pending.reset();
  }
};

ReplyScanner::ReplyScanner(std::function<void(SmtpReply&&)> on_reply) : state_(std::make_unique<State>()) {
  state_->on_reply = std::move(on_reply);
}
ReplyScanner::~ReplyScanner() = default;

void ReplyScanner::set_context_step(std::string_view step) { state_->context_step = text::normalize_step(step); }

void ReplyScanner::finish() {
  state_->emit_pending();
  state_->step.clear();
  state_->context_step.clear();
  state_->transcript = false;
}

void ReplyScanner::feed_line(std::string_view line) {
  auto& state = *state_;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  const auto classified = classify(line);
  auto rest = classified.rest;

  if (classified.kind == LineKind::client) {
    // A client line ends any reply still open, and says which step follows;
    // inside DATA only the final "." does (the rest is the message).
    state.emit_pending();
    state.transcript = true;
    if (state.step == "DATA" && text::trim(rest) != ".") return;
    if (auto step = text::normalize_step(rest); !step.empty()) state.step = step;
    return;
  }
  if (classified.kind == LineKind::server) {
    state.transcript = true;
    if (state.step.empty()) state.step = "greeting";  // nothing sent yet: the banner
  } else if (auto step = unprefixed_command_step(rest); !step.empty()) {
    // A transcript without prefixes: "EHLO host" on its own line.
    state.emit_pending();
    state.step = step;
    return;
  } else if (const auto arrow = rest.find(" -> "); arrow != std::string_view::npos) {
    // "MAIL FROM -> 250 2.1.0 Sender OK"
    if (auto named = text::normalize_step(rest.substr(0, arrow)); !named.empty()) state.step = named;
  }

  const auto candidates = find_candidates(rest);
  if (candidates.empty() || candidates.front().at != 0 ||
      (state.pending && candidates.front().code != state.pending->code))
    state.emit_pending();
  if (candidates.empty()) return;

  const auto context = rest.substr(0, candidates.front().at);
  const std::string context_step = step_from_context(context);

  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& candidate = candidates[i];
    const auto end = i + 1 < candidates.size() ? candidates[i + 1].at : rest.size();
    auto segment = rest.substr(candidate.at, end - candidate.at);
    std::string enhanced;
    // The text follows the enhanced code, or the separator after the code.
    std::size_t text_at = std::min<std::size_t>(4, segment.size());
    if (candidate.enhanced_length) {
      enhanced = rest.substr(candidate.enhanced_at, candidate.enhanced_length);
      text_at = candidate.enhanced_at - candidate.at + candidate.enhanced_length;
    }
    auto reply_text = text::trim(segment.substr(text_at));
    std::string step = take_postfix_step(reply_text);
    reply_text = trim_reply_end(reply_text);
    const auto raw = trim_reply_end(segment);
    if (step.empty()) step = context_step;

    if (state.pending && state.pending->code == candidate.code) {
      // The next line of a multi-line reply (RFC 5321 4.2.1).
      auto& pending = *state.pending;
      if (!reply_text.empty()) {
        if (!pending.text.empty()) pending.text += ' ';
        pending.text.append(reply_text);
      }
      pending.raw.append("\n").append(raw);
      if (pending.enhanced.empty()) pending.enhanced = enhanced;
      if (!step.empty()) pending.step = step;
    } else {
      state.emit_pending();
      SmtpReply reply;
      reply.code = candidate.code;
      reply.enhanced = std::move(enhanced);
      reply.text = reply_text;
      reply.raw = raw;
      reply.step = step;
      state.pending = std::move(reply);
    }
    if (!candidate.continued) state.emit_pending();
  }
}

}  // namespace diag::explain
