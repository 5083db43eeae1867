// Finding SMTP replies in a line of any kind of text, and the details an
// Exchange Online reply carries in its text.
#include <algorithm>
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
    case '<': case '>': case ',': case '|': case '`': case '{': case '#': case '*':
      return true;
    default:
      return false;
  }
}

// Whether a reply may start at `at`: at the start of the line, after a
// boundary character, after an opening quote of another script (German
// „ and “, French «), or after the "550-" of an outer reply that quotes
// it (Exim's callout: "550-Callout verification failed: 550-550 5.1.10 ...").
bool starts_after_boundary(std::string_view line, std::size_t at) {
  if (at == 0 || is_boundary(line[at - 1])) return true;
  // Right after text in another script ("...投递失败550 5.7.25 ..."): the last
  // byte of a UTF-8 sequence.
  // „ “ « and a no-break space end in such a byte too.
  if (static_cast<unsigned char>(line[at - 1]) >= 0x80) return true;
  return at >= 4 && line[at - 1] == '-' && text::is_digit(line[at - 2]) && text::is_digit(line[at - 3]) &&
         text::is_digit(line[at - 4]) && (at == 4 || is_boundary(line[at - 5]));
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
    "msg:",               // node-sendmail: "Error: SMTP code:530 msg:530 ..."
    "login: ",            // nodemailer: "Error: Invalid login: 535 ..."
    "response: '",        // nodemailer's error object
    "server response: ",  // Outlook, Windows Live Mail: "Server Response: 550 ..."
    "replied: ",          // hMailServer: "Remote server replied: 550 ..."
    "talk to me: ",       // Postfix: "refused to talk to me: 554 ..."
    "hat '",              // German Exchange NDR: "Remoteserver hat '550 ...' zurückgegeben"
    "retourn\xC3\xA9 '",   // French Exchange NDR: "Le serveur distant a retourné '550 ...'"
    "smtp< ",             // Claws Mail's log: "SMTP< 530 ..."
    "smtp<< ",            // Exim's debug output: "SMTP<< 550 ..." (a reply it received)
    "smtp>> ",            // Exim's debug output as a server: "SMTP>> 550 relay not permitted" (a reply it sent)
    "response: ",         // "Response: 535 authentication failed (#5.7.1)"
    "<<< ",               // OpenSMTPD's and Exchange's protocol logs
    "<<<recv: ",          // smtp-validate-email's log: "<<<recv: 554 ..."
    "stat=",              // OpenSMTPD: "relay: PermFail for ...: ..., stat=550 Invalid recipient"
    "stat=\"",
    " => ",               // OpenSMTPD's smtp-in: "Failed command on session x: "RCPT TO:<a@b>" => 550 ..."
    "recv: ",             // Roundcube's smtp_log: "Recv: 550-Message rejected ..."
    "failed: '",          // "Error: MAIL FROM failed: '550 Authentication is required for relay'"
    "failed: \"",
    "with message \"",    // SwiftMailer: "Expected response code 250 but got code "550", with message "550 ...""
    "permanent: ",        // mox's DSN: "permanent: 550 Unauthenticated mail not allowed from this range"
    "temporary: ",
    "`",                  // a reply quoted as code in Markdown
};

bool preceded_by_marker(std::string_view line, std::size_t at) {
  const auto before = line.substr(0, at);
  for (auto marker : reply_markers)
    if (text::iends_with(before, marker)) return true;
  // Exim: "SMTP error from remote mail server after RCPT TO:<a@b>: 550 ...";
  // a library's error that names what it was doing: Go's "Error closing the
  // WriteCloser: 554 Transaction failed".
  // (Not PHPMailer's "SMTP code: 530" after its own reply: a field, not a reply.)
  if (!text::iends_with(before, ": ") || text::iends_with(before, "code: ")) return false;
  // A bounce's recipient line: "<a@b>: 550 SC-001 ...".
  if (before.size() >= 3 && before[before.size() - 3] == '>' && before.rfind('@') != std::string_view::npos &&
      before.rfind('<') != std::string_view::npos && before.rfind('<') < before.rfind('@'))
    return true;
  // gomail's "could not send email 1: Mail: 501 ...", Go's "... failed to send: 550 ...",
  // Ruby's exception classes ("Net::SMTPServerBusy: 451 <a@b> ...").
  for (std::string_view words : {"error", "could not send", "failed to send", "net::smtp"})
    if (text::ifind(before, words) != std::string_view::npos) return true;
  return false;
}

struct Candidate {
  std::size_t at = 0;  // where the reply code (or the enhanced code) starts
  int code = 0;        // 0: an enhanced code alone (.NET, MailKit, PHPMailer)
  bool continued = false;
  std::size_t enhanced_at = 0, enhanced_length = 0;
  std::size_t text_at = 0;  // where the reply text starts
  bool chained = false;     // after " -> " in a reply's text: the next server's reply, quoted in it
};

// Words that put a version number, not a reply, before "4.4.1" and the like.
bool preceded_by_version_word(std::string_view before) {
  before = text::trim(before);
  for (std::string_view word : {"version", "v", "ver", "release", "build", "rfc", "section", "version:"})
    if (text::iends_with(before, word) &&
        (before.size() == word.size() || !text::is_alpha(before[before.size() - word.size() - 1])))
      return true;
  return false;
}

// An enhanced code without a reply code ("5.7.3 Authentication unsuccessful"
// in MailKit's exception, "Detail: 5.7.60 SMTP; ..." in PHPMailer's): it
// must be alone on its line or followed by text, name a class-4 or -5 failure of an RFC 3463
// subject, and not be a version number.
std::size_t lone_enhanced_length(std::string_view line, std::size_t at) {
  const auto length = text::enhanced_code_length(line.substr(at));
  if (!length) return 0;
  const auto code = text::parse_enhanced(line.substr(at, length));
  if (!code || code->status_class == 2 || code->subject > 7) return 0;
  // A line that is the code and nothing else: what an admin types to look
  // one up (`sendcheck explain 5.7.30`, the cross-references in remedies).
  if (text::trim(line.substr(0, at)).empty() && text::trim(line.substr(at + length)).empty()) return length;
  if (at + length + 1 >= line.size() || line[at + length] != ' ') return 0;
  const char next = line[at + length + 1];
  if (!(text::is_alpha(next) || next == ' ' || next == '[' || next == '<' || next == '#' || next == '*' ||
        static_cast<unsigned char>(next) >= 0x80))
    return 0;
  if (preceded_by_version_word(line.substr(0, at))) return 0;
  // Only where a reply is introduced: at the start of the line, or after
  // ':', a quote, a bracket or markup ("Exception: 5.7.3", "'5.7.60",
  // "`5.7.1"), not after a word ("nodemailer 4.7.0") or a number ("x550 5.7.1").
  const auto before = text::trim(line.substr(0, at));
  if (before.empty()) return length;
  // The opening quotes an editor or a mail program puts (Thunderbird's
  // “...”, German „...“, French «...»).
  for (std::string_view quote : {"\xE2\x80\x9C", "\xE2\x80\x98", "\xE2\x80\x9E", "\xC2\xAB"})
    if (before.ends_with(quote)) return length;
  switch (before.back()) {
    case ':': case '\'': case '"': case '`': case '(': case '[': case '*': case '=': case '>': case '|':
      return length;
    default:
      break;
  }
  // A library's own words for a refusal: "Error: smtp error 5.7.1 Mail from
  // IP ... was rejected" (check-if-email-exists), "SMTP error 5.7.1 ...".
  for (std::string_view word : {"error", "smtp error", "error code"})
    if (text::iends_with(before, word) &&
        (before.size() == word.size() || !text::is_alpha(before[before.size() - word.size() - 1])))
      return length;
  return 0;
}

// Python's smtplib: "(535, b'5.7.3 Authentication unsuccessful')", also
// "(550, '...')": the code, a comma, the text in quotes. Returns where the
// text starts, 0 when the line has no such tuple at `at`.
std::size_t tuple_text_at(std::string_view line, std::size_t at) {
  if (at == 0 || line[at - 1] != '(' || at + 5 >= line.size() || line[at + 3] != ',') return 0;
  std::size_t text_at = at + 4;
  while (text_at < line.size() && line[text_at] == ' ') ++text_at;
  if (text_at < line.size() && line[text_at] == 'b') ++text_at;
  if (text_at >= line.size()) return 0;
  if (line[text_at] == '\'' || line[text_at] == '"') return text_at + 1;
  // The quotes an editor or a web page puts instead (GitHub, Word,
  // Outlook): U+2018, U+2019, U+201C, U+201D in UTF-8.
  const auto quote = line.substr(text_at, 3);
  for (std::string_view curly : {"\xE2\x80\x98", "\xE2\x80\x99", "\xE2\x80\x9C", "\xE2\x80\x9D"})
    if (quote == curly) return text_at + 3;
  return 0;
}

// Every reply that starts in the line.
std::vector<Candidate> find_candidates(std::string_view line) {
  std::vector<Candidate> found;
  const std::size_t size = line.size();
  for (std::size_t at = 0; at + 3 <= size; ++at) {
    const char c = line[at];
    if (c < '2' || c > '5') continue;
    if (!starts_after_boundary(line, at)) continue;
    if (line[at + 1] == '.') {
      // Not inside the text of a reply already found on this line ("451
      // 5.7.3 STARTTLS is required, 5.7.0 Must issue ...").
      const auto length = found.empty() ? lone_enhanced_length(line, at) : 0;
      if (!length) continue;
      found.push_back({at, 0, false, at, length, at + length});
      at += length - 1;
      continue;
    }
    Candidate candidate;
    candidate.at = at;
    if (const auto text_at = tuple_text_at(line, at)) {
      if (!text::is_digit(line[at + 1]) || !text::is_digit(line[at + 2])) continue;
      candidate.code = (c - '0') * 100 + (line[at + 1] - '0') * 10 + (line[at + 2] - '0');
      candidate.enhanced_at = text_at;
      candidate.enhanced_length = text::enhanced_code_length(line.substr(text_at));
      candidate.text_at = text_at + candidate.enhanced_length;
      if (!candidate.enhanced_length && !is_defined_basic_code(candidate.code)) continue;
      found.push_back(candidate);
      at = candidate.text_at - 1;
      continue;
    }
    // MailKit's "535: 5.7.3 Authentication unsuccessful": a colon after the
    // code, then the enhanced code.
    if (at + 5 < size && line[at + 3] == ':' && line[at + 4] == ' ' && text::is_digit(line[at + 1]) &&
        text::is_digit(line[at + 2])) {
      if (const auto length = text::enhanced_code_length(line.substr(at + 5))) {
        candidate.code = (c - '0') * 100 + (line[at + 1] - '0') * 10 + (line[at + 2] - '0');
        candidate.enhanced_at = at + 5;
        candidate.enhanced_length = length;
        candidate.text_at = at + 5 + length;
        found.push_back(candidate);
        at = candidate.text_at - 1;
        continue;
      }
    }
    if (!is_reply_code_at(line, at)) continue;
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
    // Exchange quotes the next server's reply inside its own: "550 5.7.367
    // Remote server returned not permitted to relay -> 554 5.7.1 Relaying
    // denied", "5.4.300 Message expired -> 451 4.4.316 Connection refused".
    // The outer reply keeps the chain whole; each quoted one is a reply too,
    // since it often names the cause.
    candidate.chained = !found.empty() && found.back().code >= 400 &&
                        (found.back().enhanced_length || found.back().chained) && text::iends_with(line.substr(0, at), " -> ");
    candidate.text_at = has_enhanced ? candidate.enhanced_at + candidate.enhanced_length : std::min(at + 4, size);
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
  // nodemailer's EAUTH error: "Error: Invalid login: 535 5.7.3 ...".
  if (before.find("Invalid login: ") != std::string_view::npos) return "AUTH";
  // Postfix: "host mx.example[192.0.2.1] refused to talk to me: 421 ...".
  if (before.find("refused to talk to me") != std::string_view::npos) return "greeting";
  // What a library names its error after, and Postfix's own refusal log.
  struct Named {
    std::string_view words, step;
  };
  // Each of these names holds one of a few words: most contexts have none.
  if (before.find("Authentication") == std::string_view::npos && before.find("Refused") == std::string_view::npos &&
      before.find("Exception") == std::string_view::npos && before.find("recipient") == std::string_view::npos &&
      before.find("NOQUEUE") == std::string_view::npos && before.find(" failed") == std::string_view::npos)
    return {};
  static constexpr Named named[] = {
      {"SMTPAuthenticationError", "AUTH"},              // Python smtplib
      {"AuthenticationException", "AUTH"},              // MailKit
      {"AuthenticationFailedException", "AUTH"},        // JavaMail
      {"SMTPSenderRefused", "MAIL FROM"},               // Python smtplib
      {"SMTPRecipientsRefused", "RCPT TO"},             // Python smtplib
      {"SMTPAddressFailedException", "RCPT TO"},        // JavaMail
      {"Failed to add recipient", "RCPT TO"},           // PEAR Mail
      {"NOQUEUE: reject: RCPT from", "RCPT TO"},        // Postfix smtpd
  };
  for (const auto& [words, step] : named)
    if (before.find(words) != std::string_view::npos) return std::string(step);
  // PHPMailer names the command that failed: "SMTP ERROR: AUTH command
  // failed: 504 ...", "DATA END command failed", "Password command failed";
  // mailsend "MAIL FROM failed: '503 ...'".
  if (const auto failed = before.rfind(" failed"); failed != std::string_view::npos) {
    auto words = before.substr(0, failed);
    if (words.ends_with(" command")) words.remove_suffix(8);
    if (const auto colon = words.rfind(": "); colon != std::string_view::npos) words = words.substr(colon + 2);
    words = text::trim(words);
    if (text::iequals(words, "Password") || text::iequals(words, "Username")) return "AUTH";
    // Only a command named whole ("Connection failed" is none).
    if (auto step = text::normalize_step(words); !step.empty() && words.size() <= 16) return step;
  }
  return {};
}

// The command a client library's error object names beside its reply:
// nodemailer's "command: 'AUTH LOGIN'" (console.log), "command:\"AUTH
// PLAIN\"" (a browser console) or "\"command\":\"AUTH PLAIN\"" (JSON).
std::string command_field_step(std::string_view line) {
  for (std::string_view label : {"command: '", "command:\"", "command: \"", "\"command\":\"", "\"command\": \""}) {
    const auto at = line.find(label);
    if (at == std::string_view::npos || (at > 0 && text::is_alpha(line[at - 1]))) continue;
    auto value = line.substr(at + label.size());
    value = value.substr(0, value.find_first_of("'\""));
    if (auto step = text::normalize_step(value); !step.empty()) return step;
  }
  return {};
}

// An error message printed on one line with its stack trace: the reply
// ends where the first frame starts (" at SMTPConnection._formatError (",
// .NET " at Registration.frmRegistration.SendEmail("). Searched from `from`,
// the reply's text.
std::string_view before_stack_frame(std::string_view segment, std::size_t from) {
  for (auto at = segment.find(" at ", from); at != std::string_view::npos; at = segment.find(" at ", at + 1)) {
    std::size_t end = at + 4;
    bool dotted = false;
    while (end < segment.size() && (text::is_alpha(segment[end]) || text::is_digit(segment[end]) ||
                                    segment[end] == '_' || segment[end] == '$' || segment[end] == '.' ||
                                    segment[end] == '<' || segment[end] == '>'))
      dotted |= segment[end++] == '.';
    if (!dotted || end - at < 8) continue;
    if (end < segment.size() && segment[end] == ' ') ++end;
    if (end < segment.size() && segment[end] == '(') return segment.substr(0, at);
  }
  return segment;
}

// Whether the reply at `at` is the value of nodemailer's "response" field,
// which repeats the reply its error message already quoted.
bool is_response_field_at(std::string_view line, std::size_t at) {
  const auto before = line.substr(0, at);
  for (std::string_view label : {"response: '", "response: \"", "response:\"", "\"response\":\"", "\"response\": \""})
    if (before.ends_with(label)) return true;
  return false;
}

// A line of nodemailer's error object that is not its reply ("code:
// 'EAUTH',", "responseCode: 535,", "command: 'AUTH LOGIN'"): the reply
// above is still open across it.
bool is_error_object_field(std::string_view line) {
  line = text::trim(line);
  if (!line.empty() && line.front() == '"') line.remove_prefix(1);
  for (std::string_view name : {"code", "responseCode", "command", "errno", "syscall"})
    if (line.starts_with(name) && line.size() > name.size() &&
        (line[name.size()] == ':' || (line[name.size()] == '"' && line.size() > name.size() + 1 && line[name.size() + 1] == ':')))
      return true;
  return false;
}

// The server a log names before its reply: Postfix "host mx.example[192.0.2.1]
// said:", Exim "host mx.example [192.0.2.1]:", Postfix "relay=mx.example[...]".
std::string host_from_context(std::string_view before) {
  std::size_t at = std::string_view::npos;
  std::size_t skip = 0;
  if (const auto host = before.rfind("host "); host != std::string_view::npos) at = host, skip = 5;
  else if (const auto relay = before.rfind("relay="); relay != std::string_view::npos) at = relay, skip = 6;
  if (at == std::string_view::npos) return {};
  auto name = before.substr(at + skip);
  name = name.substr(0, name.find_first_of("[ (:,"));
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.find('.') == std::string_view::npos) return {};
  for (char c : name)
    if (!text::is_alpha(c) && !text::is_digit(c) && c != '.' && c != '-') return {};
  return text::to_lower(name);
}

// The address in brackets after the host a log names: Postfix "host
// mx.example[192.0.2.1] said:". Empty when there is none.
std::string host_ip_from_context(std::string_view before) {
  const auto host = before.rfind("host ");
  if (host == std::string_view::npos) return {};
  const auto open = before.find('[', host);
  const auto close = open == std::string_view::npos ? open : before.find(']', open);
  if (close == std::string_view::npos || before.substr(host, open - host).find(' ', 5) != std::string_view::npos) return {};
  const auto address = IpAddress::parse(before.substr(open + 1, close - open - 1));
  return address ? address->to_string() : std::string();
}

// qmail puts the enhanced code last: "553 sorry, that domain isn't in my
// list of allowed rcpthosts (#5.7.1)". Returns the code, cut off the text.
std::string take_trailing_enhanced(std::string_view& reply_text) {
  const auto open = reply_text.rfind("(#");
  if (open == std::string_view::npos) return {};
  const auto inside = reply_text.substr(open + 2);
  const auto length = text::enhanced_code_length(inside);
  if (!length || inside.size() <= length || inside[length] != ')') return {};
  std::string code(inside.substr(0, length));
  reply_text = text::trim(reply_text.substr(0, open));
  return code;
}

// PHPMailer ends its message with the reply code: "... Detail: 5.7.60 SMTP;
// Client does not have ... SMTP code: 550". Returns the code, 0 when absent.
// nodemailer's error object names it too: "responseCode: 550" (printed by
// console.log) or "\"responseCode\":550" (JSON), see
// https://nodemailer.com/errors/ (the error object's responseCode).
// Rust's lettre prints a reply's code as its three parts: "Response { code:
// Code { severity: PermanentNegativeCompletion, category: MailSystem,
// detail: Four }, message: [...] }". Returns the code, 0 when absent.
int lettre_code_in(std::string_view text) {
  const auto at = text.find("Code { severity: ");
  if (at == std::string_view::npos) return 0;
  const auto part = [&](std::string_view field, std::initializer_list<std::string_view> names) -> int {
    const auto from = text.find(field, at);
    if (from == std::string_view::npos) return -1;
    const auto value = text.substr(from + field.size());
    int digit = 0;
    for (auto name : names) {
      if (value.starts_with(name) && (value.size() == name.size() || !text::is_alpha(value[name.size()]))) return digit;
      ++digit;
    }
    return -1;
  };
  const int severity = part("severity: ", {"Zero", "One", "PositiveCompletion", "PositiveIntermediate",
                                           "TransientNegativeCompletion", "PermanentNegativeCompletion"});
  const int category = part("category: ", {"Syntax", "Information", "Connections", "Unspecified3", "Unspecified4", "MailSystem"});
  const int detail = part("detail: ", {"Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"});
  if (severity < 2 || category < 0 || detail < 0) return 0;
  return severity * 100 + category * 10 + detail;
}

int smtp_code_in(std::string_view text) {
  for (std::string_view label : {"SMTP code: ", "responseCode: ", "\"responseCode\": ", "\"responseCode\":"}) {
    const auto at = text::ifind(text, label);
    if (at == std::string_view::npos || at + label.size() + 3 > text.size()) continue;
    const auto digits = text.substr(at + label.size(), 3);
    if (!text::is_digit(digits[0]) || !text::is_digit(digits[1]) || !text::is_digit(digits[2])) continue;
    return (digits[0] - '0') * 100 + (digits[1] - '0') * 10 + (digits[2] - '0');
  }
  return 0;
}

// PHPMailer 6 prints the server's words without their codes and the codes
// after them: "SMTP server error: MAIL FROM command failed Detail:
// Authentication Required. ... SMTP code: 530 Additional SMTP info: 5.5.1"
// (its SMTP::getError(), whose detail is the reply text after the codes).
struct DetailReply {
  int code = 0;
  std::string_view enhanced, text;
  std::size_t at = 0;  // where "Detail: " starts
};
std::vector<DetailReply> phpmailer_detail_replies(std::string_view line) {
  std::vector<DetailReply> found;
  for (auto detail = line.find("Detail: "); detail != std::string_view::npos; detail = line.find("Detail: ", detail + 8)) {
    const auto text_at = detail + 8;
    const auto label = line.find(" SMTP code: ", text_at);
    if (label == std::string_view::npos || label + 15 > line.size()) break;
    const auto digits = line.substr(label + 12, 3);
    if ((digits[0] != '4' && digits[0] != '5') || !text::is_digit(digits[1]) || !text::is_digit(digits[2])) continue;
    DetailReply reply;
    reply.code = (digits[0] - '0') * 100 + (digits[1] - '0') * 10 + (digits[2] - '0');
    static constexpr std::string_view info = " Additional SMTP info: ";
    if (line.substr(label + 15).starts_with(info)) {
      const auto enhanced = line.substr(label + 15 + info.size());
      if (const auto length = text::enhanced_code_length(enhanced); length && enhanced[0] == digits[0])
        reply.enhanced = enhanced.substr(0, length);
      else if (!enhanced.empty() && enhanced[0] == digits[0]) {
        // "5.5.1SMTP server error: ...": the next message follows unspaced.
        std::size_t end = 0;
        while (end < enhanced.size() && (text::is_digit(enhanced[end]) || enhanced[end] == '.')) ++end;
        if (text::enhanced_code_length(enhanced.substr(0, end)) == end) reply.enhanced = enhanced.substr(0, end);
      }
    }
    reply.text = text::trim(line.substr(text_at, label - text_at));
    reply.at = detail;
    // The older form keeps the codes in the detail ("Detail: 5.7.60 ..."):
    // that reply is found where it stands.
    if (reply.text.empty() || text::enhanced_code_length(reply.text) || text::is_digit(reply.text[0])) continue;
    found.push_back(reply);
  }
  return found;
}

// A library that reports a refused command by the server's words alone:
// nodemailer's "Invalid login: <reply>" (its EAUTH; some pastes keep the
// words but lose the codes: "Invalid login: Authentication unsuccessful,
// the request did not meet the criteria ..."), and Delphi Indy's
// "EIdSMTPReplyError with message '<reply text>'", whose message is the
// text without its codes.
// Postfix's own reason for a deferral or a bounce when no server reply came
// with it (TLS required but not offered, a connection that timed out, a
// name that does not resolve): "dsn=4.7.4, status=deferred (TLS is
// required, but was not offered by host x[192.0.2.1])". The enhanced code
// is the one Postfix gave; there is no reply code.
struct PostfixStatus {
  std::string_view enhanced;
  std::string_view text;
};

std::optional<PostfixStatus> postfix_status_without_reply(std::string_view line) {
  const auto dsn = line.find("dsn=");
  if (dsn == std::string_view::npos) return std::nullopt;
  const auto code = line.substr(dsn + 4);
  const auto length = text::enhanced_code_length(code);
  if (!length || code[0] == '2') return std::nullopt;
  for (std::string_view marker : {"status=deferred (", "status=bounced ("}) {
    const auto at = line.find(marker, dsn);
    if (at == std::string_view::npos) continue;
    auto words = line.substr(at + marker.size());
    if (const auto close = words.rfind(')'); close != std::string_view::npos) words = words.substr(0, close);
    words = text::trim(words);
    if (words.empty() || !text::is_alpha(words[0])) return std::nullopt;
    return PostfixStatus{code.substr(0, length), words};
  }
  return std::nullopt;
}

// A multi-line reply that a program printed with its line breaks escaped
// (Go's %q and logfmt: "554 Transaction failed\nReject due to policy
// restrictions.\nFor explanation visit ..."): one line of text.
std::string without_escaped_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 'n' || text[i + 1] == 'r')) {
      const bool newline = text[i + 1] == 'n';
      ++i;
      if (newline && !out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += text[i];
  }
  return out;
}

// A DSN's "Status: 5.4.4" field (RFC 3464 2.3.4), possibly quoted ("> "):
// the enhanced code of the Diagnostic-Code that follows it.
std::string_view dsn_status_field(std::string_view line) {
  line = text::trim(line);
  while (!line.empty() && line.front() == '>') line = text::trim(line.substr(1));
  if (!text::istarts_with(line, "Status:")) return {};
  line = text::trim(line.substr(7));
  const auto length = text::enhanced_code_length(line);
  if (!length || !text::trim(line.substr(length)).empty()) return {};
  return line.substr(0, length);
}

// The sending MTA's own words for a delivery that got no reply to explain
// it (no connection, no DNS answer, a TLS handshake that failed, a loop),
// as Postfix writes them in a bounce ("<a@b>: Cannot start TLS: handshake
// failure", "Diagnostic-Code: X-Postfix; Host or domain name not found")
// and Exim in its log ("... T=remote_smtp defer (113): No route to host").
// The enhanced codes are the ones Postfix gives these reasons.
struct SendingMtaReason {
  std::string_view enhanced;
  std::size_t text_at = std::string_view::npos;
};

SendingMtaReason sending_mta_reason_at(std::string_view line) {
  static constexpr struct {
    std::string_view words;
    std::string_view enhanced;
  } reasons[] = {
      {"Cannot start TLS: handshake failure", "4.7.5"},
      {"Host or domain name not found", "5.4.4"},
      {"loops back to myself", "5.4.6"},
      {"No route to host", "4.4.1"},
      {"Connection timed out", "4.4.1"},
      {"Connection refused", "4.4.1"},
      {"Network is unreachable", "4.4.1"},
      {"Operation timed out", "4.4.1"},  // musl's words (Alpine)
      {"retry time not reached", "4.4.1"},
      {"wasn't able to establish an SMTP connection", "4.4.1"},  // qmail-remote
  };
  // Where the MTA's words start: after the DSN's "X-Postfix;", after the
  // recipient of a Postfix bounce ("<a@b>: "), after Exim's "defer (113): ".
  std::size_t text_at = std::string_view::npos;
  bool client_wrapper = false;  // the words themselves say the program could not connect
  if (const auto at = text::ifind(line, "X-Postfix;"); at != std::string_view::npos) {
    text_at = at + 10;
  } else if (const auto close = line.find(">: "); close != std::string_view::npos && line.find('@') < close &&
                                                   text::trim(line.substr(0, close)).starts_with('<')) {
    text_at = close + 3;
  } else if (const auto at = line.find("stat=Deferred: "); at != std::string_view::npos) {
    text_at = at + 15;  // sendmail
  } else if (const auto at = line.find("(Deferred: "); at != std::string_view::npos) {
    text_at = at + 11;  // sendmail's mailq
  } else if (const auto at = line.find("Sorry, I wasn't able to establish an SMTP connection"); at != std::string_view::npos) {
    text_at = at;  // qmail-remote's own words
  } else if (const auto at = text::ifind(line, "Could not connect to SMTP host:"); at != std::string_view::npos) {
    text_at = at;  // JavaMail's MessagingException (its cause often on the next line)
    client_wrapper = true;
  } else if (const auto at = text::ifind(line, "failed to connect to "); at != std::string_view::npos &&
                                                                       line.find("(port ", at) != std::string_view::npos) {
    text_at = at;  // Android's libcore ("failed to connect to HOST/ADDRESS (port 465) after 90000ms: ...")
    client_wrapper = true;
  } else if (line.find(" T=") != std::string_view::npos) {
    for (std::string_view verb : {" defer (", " ** "})
      if (const auto at = line.find(verb); at != std::string_view::npos) {
        const auto colon = line.find(": ", at);
        if (colon != std::string_view::npos) text_at = colon + 2;
      }
  }
  if (text_at == std::string_view::npos) return {};
  while (text_at < line.size() && line[text_at] == ' ') ++text_at;
  const auto words = line.substr(text_at);
  for (const auto& [reason, enhanced] : reasons)
    if (text::ifind(words, reason) != std::string_view::npos) {
      // "Host or domain name not found. Name service error ...: Host not
      // found, try again" is a temporary DNS failure (Postfix: 4.4.3).
      if (reason.starts_with("Host or domain") && text::ifind(words, "try again") != std::string_view::npos) return {"4.4.3", text_at};
      return {enhanced, text_at};
    }
  if (client_wrapper) return {"4.4.1", text_at};
  return {};
}

// Postfix's smtpd logs the reply it sent to a client it refused:
// "postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 ...".
bool is_refusing_server_log(std::string_view before) {
  return before.find("NOQUEUE: reject: ") != std::string_view::npos ||
         before.find("smtp-in: Failed command") != std::string_view::npos ||  // OpenSMTPD's smtpd
         before.find(": milter-reject: ") != std::string_view::npos ||         // Postfix's cleanup for a milter
         (before.find("/smtpd[") != std::string_view::npos && before.find(": reject: ") != std::string_view::npos);
}

// Postfix's smtpd logs the envelope after the reply it sent: "NOQUEUE:
// reject: RCPT from x[192.0.2.1]: 554 5.7.1 ...; from=<a@b> to=<c@d>
// proto=ESMTP helo=<x>". It is not part of the reply.
void drop_postfix_envelope(std::string_view& reply_text) {
  const auto from = reply_text.find("; from=");
  if (from == std::string_view::npos) return;
  const auto tail = reply_text.substr(from);
  if (tail.find(" to=<") == std::string_view::npos || tail.find(" proto=") == std::string_view::npos) return;
  reply_text = text::trim(reply_text.substr(0, from));
}

// "< #5.3.0 smtp;" (or "smtp; "): the text of Exchange's wrapper reply
// before the reply it wraps.
bool is_exchange_dsn_wrapper(std::string_view between) {
  between = text::trim(between);
  if (!between.starts_with("< #")) return false;
  between.remove_prefix(3);
  const auto code_length = text::enhanced_code_length(between);
  if (!code_length) return false;
  between = text::trim(between.substr(code_length));
  return text::iequals(between, "smtp;");
}

struct CodelessReply {
  std::size_t wrapper_at = std::string_view::npos;  // where the wrapper's words start
  std::size_t text_at = std::string_view::npos;     // where the server's words start
  std::string_view step;                            // the command it answered, when the wrapper shows it
  bool quoted = false;                              // the words end at a closing quote
};

CodelessReply codeless_reply_at(std::string_view line) {
  static constexpr struct {
    std::string_view wrapper;
    std::string_view step;
    bool address_first;  // "ADDRESS: " comes between the wrapper and the server's words
  } wrappers[] = {
      {"Invalid login: ", "AUTH", false},
      {"EIdSMTPReplyError with message '", "", false},
      // PHPMailer drops the code of a multi-line refusal: "SMTP Error: The
      // following recipients failed: a@b.example: Verification failed for ..."
      {"The following recipients failed: ", "RCPT TO", true},
  };
  for (const auto& [wrapper, step, address_first] : wrappers) {
    const auto at = line.find(wrapper);
    if (at == std::string_view::npos) continue;
    auto text_at = at + wrapper.size();
    if (address_first) {
      const auto colon = line.find(": ", text_at);
      const auto address = colon == std::string_view::npos ? std::string_view() : line.substr(text_at, colon - text_at);
      if (address.find('@') == std::string_view::npos || address.find(' ') != std::string_view::npos) continue;
      text_at = colon + 2;
    }
    if (text_at >= line.size() || !text::is_alpha(line[text_at])) continue;
    return {at, text_at, step, wrapper.ends_with('\'')};
  }
  return {};
}

// A program that prints the server's code apart from its words:
// Roundcube's "SMTP Error (451): Failed to add recipient "a@b" (Temporary
// local problem - please try later)." and "SMTP Error: [550] Incorrect
// sender header" (its labels smtptoerror and smtperror, program/localization),
// a printer's "SMTPC: received error code. [550]". The code must be a
// defined one and the line must call it an SMTP error or an error code.
struct WrappedCodeReply {
  int code = 0;
  std::size_t wrapper_at = std::string_view::npos;  // where the wrapper's words start
  std::string_view text;                            // the server's words (may be empty)
  std::string_view step;
};

int defined_code_at(std::string_view line, std::size_t at) {
  if (at + 3 > line.size() || !text::is_digit(line[at]) || !text::is_digit(line[at + 1]) || !text::is_digit(line[at + 2])) return 0;
  const int code = (line[at] - '0') * 100 + (line[at + 1] - '0') * 10 + (line[at + 2] - '0');
  return code >= 400 && is_defined_basic_code(code) ? code : 0;
}

WrappedCodeReply wrapped_code_reply_at(std::string_view line) {
  // Roundcube: "SMTP Error (CODE): " then its own words, the server's in the
  // last parentheses when it names what failed.
  if (const auto at = text::ifind(line, "smtp error ("); at != std::string_view::npos) {
    const auto code_at = at + 12;
    const int code = defined_code_at(line, code_at);
    if (code && line.substr(code_at + 3).starts_with("): ")) {
      WrappedCodeReply reply{code, at, text::trim(line.substr(code_at + 6)), {}};
      static constexpr std::pair<std::string_view, std::string_view> named[] = {
          {"Failed to add recipient ", "RCPT TO"}, {"Failed to set sender ", "MAIL FROM"}, {"Failed to send data", "DATA"},
          {"Authentication failed", "AUTH"}};
      for (const auto& [words, step] : named) {
        if (!reply.text.starts_with(words)) continue;
        reply.step = step;
        auto words_end = reply.text;
        if (words_end.ends_with('.')) words_end.remove_suffix(1);
        if (words_end.ends_with(')'))
          if (const auto open = words_end.find(" (", words.size() - 1); open != std::string_view::npos)
            reply.text = words_end.substr(open + 2, words_end.size() - open - 3);
        break;
      }
      return reply;
    }
  }
  // Barracuda's bounce: "(host 'x.ess.barracudanetworks.com' rejected
  // command 'DATA' with code 550 (0.0.0) 'Service unavailable; ...')".
  if (const auto at = line.find(" with code "); at != std::string_view::npos && line.substr(0, at).find("rejected command '") != std::string_view::npos) {
    const int code = defined_code_at(line, at + 11);
    const auto open = code ? line.find('\'', at + 14) : std::string_view::npos;
    if (open != std::string_view::npos) {
      auto words = line.substr(open + 1);
      if (const auto close = words.rfind('\''); close != std::string_view::npos) words = words.substr(0, close);
      const auto command_at = line.find("rejected command '");
      auto command = line.substr(command_at + 18);
      command = command.substr(0, command.find('\''));
      std::string_view step;
      for (std::string_view named : {"DATA", "RCPT TO", "MAIL FROM", "EHLO", "HELO", "STARTTLS", "AUTH"})
        if (text::normalize_step(command) == text::normalize_step(named)) step = named;
      return {code, line.rfind('(', command_at) == std::string_view::npos ? command_at : line.rfind('(', command_at) + 1, words, step};
    }
  }
  // "[CODE]" after words that call it an SMTP error or an error code.
  for (auto open = line.find('['); open != std::string_view::npos; open = line.find('[', open + 1)) {
    const int code = defined_code_at(line, open + 1);
    if (!code || open + 4 >= line.size() || line[open + 4] != ']') continue;
    const auto before = line.substr(0, open);
    if (text::ifind(before, "smtp") == std::string_view::npos && text::ifind(before, "error code") == std::string_view::npos) continue;
    std::size_t wrapper_at = 0;
    if (const auto colon = before.rfind(": "); colon != std::string_view::npos) wrapper_at = colon + 2;
    return {code, wrapper_at, text::trim(line.substr(open + 5)), {}};
  }
  return {};
}

// maddy logs a reply as fields of the JSON object after its message:
// "submission: RCPT error\t{...,"smtp_code":550,"smtp_enchcode":"5.1.1",
// "smtp_msg":"..."}" (its exterrors fields, https://github.com/foxcpp/maddy).
struct FieldsReply {
  int code = 0;
  std::string_view enhanced, text, host;
  std::size_t object_at = std::string_view::npos;
};

// The value of a string field "name":"value" (escapes left as they are).
std::string_view json_string_field(std::string_view object, std::string_view name) {
  const std::string label = "\"" + std::string(name) + "\":\"";
  const auto at = object.find(label);
  if (at == std::string_view::npos) return {};
  const auto from = at + label.size();
  for (auto end = from; end < object.size(); ++end) {
    if (object[end] == '\\') ++end;
    else if (object[end] == '"') return object.substr(from, end - from);
  }
  return {};
}

FieldsReply fields_reply_at(std::string_view line) {
  const auto code_label = line.find("\"smtp_code\":");
  if (code_label == std::string_view::npos) return {};
  const auto object_at = line.rfind('{', code_label);
  if (object_at == std::string_view::npos) return {};
  auto value_at = code_label + 12;
  while (value_at < line.size() && line[value_at] == ' ') ++value_at;
  const int code = defined_code_at(line, value_at);
  const auto object = line.substr(object_at);
  const auto words = json_string_field(object, "smtp_msg");
  if (!code || words.empty()) return {};
  auto enhanced = json_string_field(object, "smtp_enchcode");
  if (!text::enhanced_code_length(enhanced) || text::enhanced_code_length(enhanced) != enhanced.size()) enhanced = {};
  return {code, enhanced, words, json_string_field(object, "remote_server"), object_at};
}

// .NET's SmtpException names the reply code in words before "The server
// response was: " (System.Net.Mail's SmtpStatusCode messages) when the
// server's text carries no code of its own. Returns the code and where the
// server's text starts; {0, npos} when the line has none of them.
std::pair<int, std::size_t> dotnet_status_reply_at(std::string_view line) {
  static constexpr std::string_view marker = " The server response was: ";
  const auto at = line.find(marker);
  if (at == std::string_view::npos) return {0, std::string_view::npos};
  static constexpr std::pair<std::string_view, int> statuses[] = {
      {"Mailbox unavailable.", 550},
      {"Transaction failed.", 554},
      {"Service not available, closing transmission channel.", 421},
      {"Insufficient system storage.", 452},
      {"Exceeded storage allocation.", 552},
      {"Mailbox name not allowed.", 553},
      {"User not local; please try a different path.", 551},
      {"Syntax error, command unrecognized.", 500},
      {"Command not implemented.", 502},
      {"Bad sequence of commands.", 503},
      {"Command parameter not implemented.", 504},
      {"The SMTP server requires a secure connection or the client was not authenticated.", 530},
  };
  const auto before = line.substr(0, at);
  for (const auto& [words, code] : statuses)
    if (before.ends_with(words)) return {code, at + marker.size()};
  return {0, std::string_view::npos};
}

// The words of nodemailer's "response: ..." field, up to the field's end.
std::string_view response_field(std::string_view line) {
  auto at = line.find("response: ");
  if (at == std::string_view::npos) return {};
  auto value = line.substr(at + 10);
  if (!value.empty() && (value[0] == '\'' || value[0] == '"')) value.remove_prefix(1);
  for (std::string_view end : {"', ", "\", ", "', ", ", responseCode"})
    if (const auto found = value.find(end); found != std::string_view::npos) value = value.substr(0, found);
  return text::trim(value);
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
  // The closing quote of a sentence that quoted the reply (Thunderbird's
  // “...”., German „...“, French «...»), and the sentence's period.
  static constexpr struct {
    std::string_view close, open;
  } curly[] = {{"\xE2\x80\x9D", "\xE2\x80\x9C"}, {"\xE2\x80\x99", "\xE2\x80\x98"}, {"\xC2\xBB", "\xC2\xAB"},
               {"\xE2\x80\x9C", "\xE2\x80\x9E"}};
  for (const auto& [close, open] : curly) {
    auto core = reply_text;
    if (core.ends_with('.')) core.remove_suffix(1);
    if (core.ends_with(close) && core.find(open) == std::string_view::npos) {
      reply_text = text::trim(core.substr(0, core.size() - close.size()));
      break;
    }
  }
  if (reply_text.empty()) return reply_text;
  switch (reply_text.back()) {
    case ')': case ']': case '}': case '>': case '\'': case '"': case '`': case ',': case ';': case '\\': break;
    default: return reply_text;  // the common case: nothing to count
  }
  // Openers minus closers, counted once; quotes by parity.
  int parens = 0, brackets = 0, braces = 0, angles = 0, quotes = 0, double_quotes = 0, backticks = 0;
  for (char c : reply_text) {
    switch (c) {
      case '(': ++parens; break;
      case ')': --parens; break;
      case '{': ++braces; break;
      case '}': --braces; break;
      case '[': ++brackets; break;
      case ']': --brackets; break;
      case '<': ++angles; break;
      case '>': --angles; break;
      case '\'': ++quotes; break;
      case '"': ++double_quotes; break;
      case '`': ++backticks; break;
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
      case '}': balance = &braces, drop = braces < 0; break;
      // The escape of a quote a program's debug print closed the reply with
      // (Rust's {:?}: message: [\"5.7.1 ...\"] }).
      case '\\': drop = true; break;
      case '>': balance = &angles, drop = angles < 0; break;
      case '\'': balance = &quotes, drop = quotes % 2 == 1; break;
      case '"': balance = &double_quotes, drop = double_quotes % 2 == 1; break;
      case '`': balance = &backticks, drop = backticks % 2 == 1; break;
      case ',': case ';': case ' ': case '\t': drop = true; break;
      default: break;
    }
    if (!drop) return reply_text;
    if (balance) *balance += (reply_text.back() == '\'' || reply_text.back() == '"' || reply_text.back() == '`') ? -1 : 1;
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
  // PHPMailer before 5.2 (still pasted in forums): "SMTP -> FROM SERVER:250 OK".
  if (const auto at = rest.find("SMTP -> FROM SERVER:"); at != std::string_view::npos)
    return {LineKind::server, text::trim(rest.substr(at + 20))};
  // A log prefix in brackets, then "< " for what the server sent and "> " for
  // what the client sent (Dart's mailer: "[... | Connection | FINE] < 535 ...").
  for (auto at = rest.find("] "); at != std::string_view::npos && at + 3 < rest.size(); at = rest.find("] ", at + 1)) {
    if ((rest[at + 2] != '<' && rest[at + 2] != '>') || rest[at + 3] != ' ' || rest.rfind('[', at) == std::string_view::npos) continue;
    return {rest[at + 2] == '<' ? LineKind::server : LineKind::client, rest.substr(at + 4)};
  }
  // nodemailer's logger: "[2019-...] DEBUG [pUzDNyFoiLg] C: AUTH PLAIN ..."
  // and "... S: 503 ...", after the connection's id in brackets.
  for (auto at = rest.find(']'); at != std::string_view::npos && at + 4 < rest.size(); at = rest.find(']', at + 1)) {
    if (rest[at + 1] != ' ' || (rest[at + 2] != 'C' && rest[at + 2] != 'S') || rest[at + 3] != ':' || rest[at + 4] != ' ')
      continue;
    const auto open = rest.rfind('[', at);
    if (open == std::string_view::npos || rest.substr(open, at - open).find(' ') != std::string_view::npos) continue;
    return {rest[at + 2] == 'C' ? LineKind::client : LineKind::server, rest.substr(at + 5)};
  }
  // A plug-in's debug log (DokuWiki's smtp): "Sent: STARTTLS", "Got: 500
  // 5.3.3 ...". An e-mail header "Sent: Monday, ..." names no command.
  if (rest.starts_with("Sent: ") && !text::normalize_step(rest.substr(6)).empty())
    return {LineKind::client, rest.substr(6)};
  if (rest.starts_with("Got: ") && rest.size() >= 8 && text::is_digit(rest[5]) && text::is_digit(rest[6]) &&
      text::is_digit(rest[7]))
    return {LineKind::server, rest.substr(5)};
  // Python's smtplib at set_debuglevel(1): "send: b'mail FROM:<a@b>\r\n'"
  // and "reply: b'550-5.7.1 ...\r\n'", each the repr() of one line
  // (debuglevel 2 puts a time first).
  for (const auto& [marker, kind] : {std::pair{std::string_view("send: "), LineKind::client},
                                    std::pair{std::string_view("reply: "), LineKind::server}}) {
    const auto at = rest.find(marker);
    if (at == std::string_view::npos || (at > 0 && rest[at - 1] != ' ')) continue;
    auto quoted = rest.substr(at + marker.size());
    if (!quoted.empty() && quoted.front() == 'b') quoted.remove_prefix(1);
    if (quoted.size() < 2 || (quoted.front() != '\'' && quoted.front() != '"') || quoted.back() != quoted.front()) continue;
    quoted = quoted.substr(1, quoted.size() - 2);
    while (quoted.ends_with("\\r") || quoted.ends_with("\\n")) quoted.remove_suffix(2);
    return {kind, quoted};
  }
  return {LineKind::plain, rest};
}

// RFC 5321 3.1 and 4.2: a server greets with 220, or refuses the session
// with 554 (or 421 when closing, 521 when it never takes mail, RFC 7504).
// Any other reply before the client spoke is a transcript cut at its start.
bool is_greeting_code(int code) { return code == 220 || code == 421 || code == 554 || code == 521; }

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
  // prod.exchangelabs.com: Exchange Online's mailbox servers in older NDRs.
  static constexpr std::string_view suffixes[] = {".outlook.com", ".office365.com", ".outlook.cn", ".office365.us",
                                                  ".outlook.de", ".prod.exchangelabs.com"};
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

bool contains_any(std::string_view lower_text, std::initializer_list<std::string_view> needles) {
  for (auto needle : needles)
    if (lower_text.find(needle) != std::string_view::npos) return true;
  return false;
}

// Outlook.com's consumer service tags its rejections "(S3140)", "(S3113)"
// and its unknown-recipient replies "(S2017062302)": an 'S' right after the
// parenthesis. "(AS3130)" is not one of them: Exchange Online writes its AS
// codes the same way ("(AS16012611)", "(AS3130)"), and Outlook.com's own
// "(AS3150)" comes with its wording or hosts (outlook_com_evidence below).
// "(S77714)" is shared by both services.
bool has_outlook_com_code(std::string_view text) {
  for (std::size_t open = text.find("(S"); open != std::string_view::npos; open = text.find("(S", open + 1)) {
    std::size_t at = open + 2;
    const std::size_t digits_at = at;
    while (at < text.size() && text::is_digit(text[at])) ++at;
    if (at >= text.size() || text[at] != ')') continue;
    const auto digits = text.substr(digits_at, at - digits_at);
    if (digits.size() == 4 && digits[0] == '3') return true;                // S3140
    if (digits.size() == 10 && digits.substr(0, 2) == "20") return true;   // S2017062302
  }
  return false;
}

// What shows a reply to be Outlook.com's whatever its codes: its S-codes,
// its sites (mail.live.com, postmaster.live.com, the olc.protection hosts)
// and the wording of its block-list rejection.
bool outlook_com_evidence(std::string_view text) {
  if (has_outlook_com_code(text)) return true;
  const std::string lower = text::to_lower(text);
  return contains_any(lower, {"mail.live.com", "postmaster.live.com", "olc.protection.outlook.com",
                              "part of their network is on our block list"});
}

// An IP the reply names outside brackets: in a delisting link
// ("...reputation/?r=1&ip=5.60.96.9", "spamhaus.org/query/ip/50.31.49.41")
// or in words ("Mail from IP 3.93.33.11", "IP: 192.0.2.1").
std::string ip_named_in(std::string_view text) {
  for (std::size_t at = text::ifind(text, "ip"); at != std::string_view::npos; at = text::ifind(text, "ip", at + 2)) {
    if (at > 0 && (text::is_alpha(text[at - 1]) || text::is_digit(text[at - 1]))) continue;  // "zip", "skip"
    std::size_t start = at + 2;
    while (start < text.size() && (text[start] == '=' || text[start] == '/' || text[start] == ':' ||
                                   text[start] == ' ' || text[start] == '['))
      ++start;
    if (start == at + 2 || start - at > 6) continue;
    std::size_t end = start;
    while (end < text.size() && (text::is_digit(text[end]) || text::is_alpha(text[end]) || text[end] == '.' ||
                                 text[end] == ':'))
      ++end;
    auto candidate = text.substr(start, end - start);
    while (!candidate.empty() && (candidate.back() == '.' || candidate.back() == ':')) candidate.remove_suffix(1);
    if (auto address = IpAddress::parse(candidate)) return address->to_string();
  }
  // Yahoo's "[TSS04] Messages from 192.0.2.1 temporarily deferred".
  if (const auto at = text::ifind(text, "messages from "); at != std::string_view::npos) {
    auto rest = text.substr(at + 14);
    const auto end = rest.find_first_of(" ;,");
    if (auto address = IpAddress::parse(rest.substr(0, end))) return address->to_string();
  }
  return {};
}

// The domain whose SPF the receiving server checked: Gmail's "SPF
// [example.com] with ip: [192.0.2.1] = did not pass", and its older "SPF
// check for [example.com] does not pass with ip: [192.0.2.1]".
std::string spf_domain_named_in(std::string_view text) {
  std::size_t open = std::string_view::npos;
  for (std::string_view lead : {"SPF [", "SPF check for ["})
    if (const auto at = text::ifind(text, lead); at != std::string_view::npos) {
      open = at + lead.size();
      break;
    }
  if (open == std::string_view::npos) return {};
  const auto close = text.find(']', open);
  if (close == std::string_view::npos) return {};
  const auto name = text.substr(open, close - open);
  if (!is_host_name(name) || IpAddress::parse(name)) return {};
  return text::to_lower(name);
}

// Exchange Online's SendAsDenied: "printer@contoso.com not allowed to send
// as ceo@contoso.com;". Both must look like addresses.
void send_as_addresses_named_in(std::string_view text, ReplyDetails& details) {
  static constexpr std::string_view phrase = " not allowed to send as ";
  const auto at = text::ifind(text, phrase);
  if (at == std::string_view::npos) return;
  const auto is_address = [](std::string_view word) {
    const auto sign = word.find('@');
    return sign != std::string_view::npos && sign > 0 && sign + 1 < word.size() && word.find('@', sign + 1) == std::string_view::npos &&
           is_host_name(word.substr(sign + 1));
  };
  const auto word_start = text.rfind(' ', at == 0 ? 0 : at - 1);
  auto login = text.substr(word_start == std::string_view::npos ? 0 : word_start + 1, at - (word_start == std::string_view::npos ? 0 : word_start + 1));
  auto from = text.substr(at + phrase.size());
  from = from.substr(0, from.find_first_of("; ,"));
  while (!from.empty() && (from.back() == '.' || from.back() == '>')) from.remove_suffix(1);
  if (!from.empty() && from.front() == '<') from.remove_prefix(1);
  if (!login.empty() && login.front() == '<') login.remove_prefix(1);
  if (!login.empty() && login.back() == '>') login.remove_suffix(1);
  if (!is_address(login) || !is_address(from)) return;
  details.login = std::string(login);
  details.from_address = std::string(from);
}

}  // namespace

namespace {
// A personal Microsoft account's address (outlook.com, hotmail.co.uk,
// live.de, msn.com): no organization can own these domains, so a login with
// one signed in to Outlook.com, not to a Microsoft 365 tenant.
bool is_consumer_microsoft_address(std::string_view address) {
  const auto sign = address.rfind('@');
  if (sign == std::string_view::npos) return false;
  const std::string domain = text::to_lower(address.substr(sign + 1));
  const auto dot = domain.find('.');
  if (dot == std::string::npos) return false;
  const std::string_view brand = std::string_view(domain).substr(0, dot);
  if (brand != "outlook" && brand != "hotmail" && brand != "live" && brand != "msn" && brand != "windowslive" &&
      brand != "passport")
    return false;
  // The rest is a public suffix such as "com", "co.uk" or "com.au".
  const auto suffix = std::string_view(domain).substr(dot + 1);
  const auto labels = std::count(suffix.begin(), suffix.end(), '.') + 1;
  return labels <= 2 && suffix.size() <= 6;
}
}  // namespace

bool names_consumer_microsoft_login(std::string_view line) {
  // Every line of a log passes here: no copy unless a personal Microsoft
  // domain follows an '@'.
  if (line.find("smtp-mail.outlook.com") != std::string_view::npos || line.find("smtp.live.com") != std::string_view::npos)
    return true;
  for (std::size_t sign = line.find('@'); sign != std::string_view::npos; sign = line.find('@', sign + 1)) {
    const auto domain_start = line.substr(sign + 1);
    if (domain_start.empty()) break;
    switch (text::lower(domain_start[0])) {
      case 'o': case 'h': case 'l': case 'm': case 'w': case 'p': break;
      default: continue;
    }
    std::size_t start = sign;
    while (start > 0 && (text::is_alpha(line[start - 1]) || text::is_digit(line[start - 1]) ||
                         std::string_view("._+-").find(line[start - 1]) != std::string_view::npos))
      --start;
    std::size_t end = sign + 1;
    while (end < line.size() && (text::is_alpha(line[end]) || text::is_digit(line[end]) || line[end] == '.' || line[end] == '-'))
      ++end;
    auto address = line.substr(start, end - start);
    while (!address.empty() && address.back() == '.') address.remove_suffix(1);
    if (!is_consumer_microsoft_address(address)) continue;
    // The account that signs in, not a recipient: "username: a@hotmail.com",
    // "user=a@outlook.com", "auth.user", "login".
    const std::string before = text::to_lower(line.substr(start > 24 ? start - 24 : 0, start > 24 ? 24 : start));
    if (contains_any(before, {"user", "login", "account"})) return true;
  }
  return false;
}

Sender classify_sender(std::string_view reply_text, std::string_view host, const ReplyDetails& details) {
  std::string lower = text::to_lower(reply_text);
  // Postfix's smtpd log appends the client's envelope to its reject line
  // ("; from=<...> to=<...> proto=ESMTP helo=<...>"): the client's names
  // there (an Exchange Online outbound host) say nothing of who answered.
  if (const auto envelope = lower.find("; from=<"); envelope != std::string::npos && lower.find(" proto=", envelope) != std::string::npos)
    lower.erase(envelope);
  const std::string lower_host = text::to_lower(host);
  // Outlook.com first: its MX hosts are protection.outlook.com front ends
  // too, but its block lists and delisting are its own.
  if (outlook_com_evidence(reply_text) || is_consumer_microsoft_address(details.login) ||
      contains_any(lower_host, {"olc.protection.outlook.com", "hotmail.com", "outlook-com.", "hotmail-com."}))
    return Sender::outlook_com;
  if ((!details.front_end_host.empty() && is_microsoft_front_end(details.front_end_host)) ||
      !details.as_code.empty() || is_microsoft_front_end(lower_host) || lower_host.ends_with(".office365.com") ||
      contains_any(lower, {"aka.ms/", "go.microsoft.com", "smtpclientauthentication", "tenantattribution",
                           "tenantinboundattribution", ".prod.outlook.com", ".protection.outlook.com", ".prod.exchangelabs.com",
                           // Security defaults are Microsoft Entra's: only Exchange Online applies them.
                           "security defaults", ".outlook.office365.com",
                           // 5.7.367: only Exchange Online has a relay pool.
                           "remote server returned not permitted to relay"}))
    return Sender::exchange_online;
  // Gmail appends "gsmtp" to every error (support.google.com/a/answer/3726730).
  if (contains_any(lower, {"gsmtp", "support.google.com/mail", "gmail has detected",
                           "our system has detected that this message is likely unsolicited",
                           "our system has detected an unusual rate of unsolicited mail",
                           "your email has been blocked because the sender is unauthenticated",
                           // Google's sign-in wording and links (534 5.7.14, 5.7.9).
                           "accounts.google.com", "please log in via your web browser", "please log in with your web browser"}) ||
      contains_any(lower_host, {".google.com", ".googlemail.com"}))
    return Sender::gmail;
  if (contains_any(lower, {"storedrv.", "resolver.adr.", "resolver.rst.", "smtpsend.", "sendasdenied",
                           "authentication unsuccessful", "client does not have permissions to send as",
                           "client not authenticated to send",
                           "microsoft esmtp", "exrecipnotfound", "unable to relay",
                           "sender policy framework violation", "to send anonymous mail", "unifiedgroupagent", "multiple from addresses are not allowed without sender",
                           // Exchange's wording for its 5.7.12 and 5.4.14 (codes other servers use too).
                           "sender was not authenticated by organization", "hop count exceeded - possible mail loop",
                           // Exchange's queue status for a failed next hop.
                           "primary target ip address responded with"}))
    return Sender::exchange;
  return Sender::unknown;
}

std::string extract_details(std::string_view reply_text, ReplyDetails& details) {
  auto without_suffix = extract_details_unclassified(reply_text, details);
  details.sender = classify_sender(reply_text, {}, details);
  return without_suffix;
}

std::string extract_details_unclassified(std::string_view reply_text, ReplyDetails& details) {
  std::size_t suffix_open = std::string_view::npos, suffix_end = 0;
  // A private address in brackets is a client's own name for itself (an
  // EHLO literal, "Suspicious HELO [[192.168.1.4]]"), not what a receiver
  // on the internet saw: a public one comes first.
  std::string private_ip;
  for (std::size_t open = reply_text.find('['); open != std::string_view::npos;
       open = reply_text.find('[', open + 1)) {
    const auto close = reply_text.find(']', open);
    if (close == std::string_view::npos) break;
    const auto inside = reply_text.substr(open + 1, close - open - 1);
    if (details.ip.empty()) {
      auto candidate = inside.substr(0, inside.find(' '));  // Gmail: "[192.0.2.1      12]"
      if (text::istarts_with(candidate, "IPv6:")) candidate.remove_prefix(5);
      if (auto address = IpAddress::parse(candidate)) {
        if (!is_non_public(address_scope(*address))) details.ip = address->to_string();
        else if (private_ip.empty()) private_ip = address->to_string();
      }
    }
    if (suffix_open == std::string_view::npos && read_suffix(inside, details)) suffix_open = open, suffix_end = close + 1;
  }
  if (details.ip.empty()) details.ip = ip_named_in(reply_text);
  if (details.ip.empty()) details.ip = private_ip;
  if (details.domain.empty()) details.domain = spf_domain_named_in(reply_text);
  if (details.login.empty() && details.from_address.empty()) send_as_addresses_named_in(reply_text, details);
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
  // Outlook.com's "(AS3150)" is its block-list code, not Exchange Online's AS code.
  if (details.as_code.size() == 6 && outlook_com_evidence(reply_text)) details.as_code.clear();
  return without_suffix;
}

struct ReplyScanner::State {
  std::function<void(SmtpReply&&)> on_reply;
  // The last reply, held until the next line shows whether it goes on: a
  // "NNN-" line, a line that repeats its enhanced code (Gmail through
  // smtplib), or PHPMailer's "SMTP code: 550" after an enhanced code alone.
  std::optional<SmtpReply> pending;
  // The earlier parts of a multi-line reply whose lines carry different
  // enhanced codes: each part is a reply of its own, and what the whole
  // block shows of its sender (Gmail's "gsmtp" on the last line) holds for
  // every part.
  std::vector<SmtpReply> block;
  bool pending_open = false;         // its last line ended in "NNN-"
  // Lines without a code after an open "NNN-" line: an MTA's own wrapping
  // of a long reply line (Exim bounces). They join the reply only when the
  // next line goes on with the same code, so stray text never does.
  std::vector<std::string> wrapped;
  std::string pending_prefix;        // what came before its code on its line ("mta: 0x..: <<< ")
  std::string step;                  // the last client command seen in a transcript
  std::string context_step;          // from a "step" member in JSON
  // A step named on a line before its reply: Exim's "SMTP error from remote
  // mail server after end of data:" above "host ...: 550 ...", nodemailer's
  // "command:" field above its "message:". It holds for a few lines.
  std::string carried_step;
  std::size_t carried_lines = 0;
  // PHPMailer's "... Detail: Invalid Sender[515]" whose "SMTP code: 550
  // Additional SMTP info: 5.1.0" a console or a log put on the next line.
  std::string detail_without_codes;
  // A DSN's Status field, for the X-Postfix Diagnostic-Code below it.
  std::string dsn_status;
  std::size_t dsn_status_lines = 0;
  bool transcript = false;           // a server or client prefix was seen
  std::size_t segment = 0;           // lines fed so far: the replies of one line share it

  int last_code = 0;                 // of the last reply emitted

  void emit_pending() {
    wrapped.clear();
    if (!pending) return;
    last_code = pending->code;
    if (!block.empty()) {
      std::string evidence;
      for (const auto& part : block) evidence.append(part.text).append(" ");
      evidence.append(pending->text);
      for (auto& part : block) {
        part.evidence = evidence;
        on_reply(std::move(part));
      }
      block.clear();
      pending->evidence = std::move(evidence);
    }
    on_reply(std::move(*pending));
    pending.reset();
    pending_open = false;
  }

  void start(SmtpReply&& reply, bool open, std::string_view prefix) {
    emit_pending();
    pending_prefix.assign(prefix);
    if (reply.step.empty() && !carried_step.empty()) reply.step = carried_step;
    // A transcript that shows no command yet implies the greeting, unless
    // the code cannot be one.
    const bool implied_greeting = step == "greeting" && is_greeting_code(reply.code);
    if (reply.step.empty()) reply.step = !step.empty() && (step != "greeting" || implied_greeting) ? step : context_step;
    pending = std::move(reply);
    pending_open = open;
  }

  // The MTA's wrapped lines join the held reply.
  void join_wrapped() {
    for (const auto& line : wrapped) {
      if (!pending->text.empty()) pending->text += ' ';
      pending->text.append(line);
      pending->raw.append("\n").append(line);
    }
    wrapped.clear();
  }

  // The wrapped lines end the held reply, which ends at Postfix's "(in
  // reply to ... command)" and takes its step.
  void join_wrapped_and_emit() {
    join_wrapped();
    std::string_view joined = pending->text;
    if (auto step = take_postfix_step(joined); !step.empty()) {
      pending->text = std::string(trim_reply_end(joined));
      pending->step = std::move(step);
    }
    emit_pending();
  }

  // A line that carries on the held reply without a code of its own.
  bool continues_pending(std::string_view rest) {
    if (!pending) return false;
    if (pending->code == 0) {
      const int code = smtp_code_in(rest);
      const bool fits = pending->enhanced.empty() ? code / 100 == 4 || code / 100 == 5
                                                  : code / 100 == pending->enhanced[0] - '0';
      if (code && fits) {
        pending->code = code;
        // nodemailer's object repeats the reply in "response:", often with
        // what the message cut (the server's bracketed host).
        if (pending->codes_missing) {
          const auto response = trim_reply_end(response_field(rest));
          if (response.size() > pending->text.size() && text::istarts_with(response, pending->text)) {
            pending->text.assign(response);
            pending->raw.append("\n").append(trim_reply_end(rest));
          }
        }
        return true;
      }
    }
    if (pending->enhanced.empty() || !text::istarts_with(rest, pending->enhanced)) return false;
    const auto after = rest.substr(pending->enhanced.size());
    if (!after.empty() && after[0] != ' ') return false;
    const auto more = trim_reply_end(text::trim(after));
    if (!more.empty()) pending->text.append(pending->text.empty() ? "" : " ").append(more);
    pending->raw.append("\n").append(trim_reply_end(rest));
    return true;
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
  state_->carried_step.clear();
  state_->detail_without_codes.clear();
  state_->transcript = false;
}

void ReplyScanner::feed_line(std::string_view line) {
  auto& state = *state_;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (!state.detail_without_codes.empty()) {
    std::string held;
    held.swap(state.detail_without_codes);
    if (const auto codes = text::trim(line); codes.starts_with("SMTP code: ")) {
      held.append(" ").append(codes);
      feed_line(held);
      return;
    }
  }
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
    // A server line with nothing on it after 354: the message went, and no
    // reply came back (PHPMailer's "SMTP -> FROM SERVER:" then "DATA not
    // accepted"). That is a failure, not a transcript of successes.
    if (text::trim(rest).empty()) {
      state.emit_pending();
      if (state.last_code == 354) {
        SmtpReply missing;
        missing.text = std::string(no_reply_text);
        missing.raw = "(no reply)";
        missing.step = "end of DATA";
        missing.codes_missing = true;
        missing.segment = ++state.segment;
        state.last_code = 0;
        state.on_reply(std::move(missing));
      }
      return;
    }
    if (state.step.empty()) state.step = "greeting";  // nothing sent yet: the banner
  } else if (auto step = unprefixed_command_step(rest); !step.empty()) {
    // A transcript without prefixes: "EHLO host" on its own line.
    state.emit_pending();
    state.step = step;
    return;
  } else if (const auto arrow = rest.find(" -> "); arrow != std::string_view::npos) {
    // "MAIL FROM -> 250 2.1.0 Sender OK"
    if (auto named = text::normalize_step(rest.substr(0, arrow)); !named.empty()) {
      state.emit_pending();
      state.step = named;
    }
  }

  const auto candidates = find_candidates(rest);
  ++state.segment;
  static constexpr std::size_t max_carried_lines = 3;
  if (!state.carried_step.empty() && ++state.carried_lines > max_carried_lines) state.carried_step.clear();
  // Most lines of a log name no step: each test only where it can match.
  const std::string field_step = rest.find("command") != std::string_view::npos ? command_field_step(rest) : std::string();
  if (candidates.empty()) {
    // A step named above its reply ends its line with ':' ("SMTP error from
    // remote mail server after end of data:", "smtplib.SMTPAuthenticationError:").
    const auto trimmed = text::trim(rest);
    const bool names_next = !trimmed.empty() && trimmed.back() == ':';
    if (auto named = !field_step.empty() ? field_step : names_next ? step_from_context(rest) : std::string(); !named.empty()) {
      state.carried_step = named;
      state.carried_lines = 0;
    }
    // nodemailer's error object goes on below its reply: the reply stays
    // open across its fields, and takes the step its "command:" names.
    if (state.pending && is_error_object_field(rest)) {
      if (!field_step.empty()) state.pending->step = field_step;
      if (state.pending->code == 0) state.continues_pending(rest);  // "responseCode: 535"
      return;
    }
  }
  // A continuation line repeats the code after the same prefix as the
  // line it continues (usually none; a log's own prefix otherwise).
  const bool joins_open = state.pending && state.pending_open && !candidates.empty() &&
                          candidates.front().code == state.pending->code &&
                          (candidates.front().at == 0 || rest.substr(0, candidates.front().at) == state.pending_prefix);
  // nodemailer prints its error object over several lines, blank ones too:
  // a reply still waiting for its code waits past them.
  if (state.pending && state.pending->codes_missing && state.pending->code == 0 && text::trim(rest).empty()) return;
  static constexpr std::size_t max_wrapped_lines = 3;
  if (state.pending && state.pending_open && candidates.empty() && classified.kind == LineKind::plain &&
      !text::trim(rest).empty() && state.wrapped.size() < max_wrapped_lines) {
    state.wrapped.emplace_back(trim_reply_end(text::trim(rest)));
    // Postfix's bounce wraps a long reply the same way and ends it with
    // "(in reply to RCPT TO command)": the reply is complete there.
    if (rest.find("(in reply to ") != std::string_view::npos) state.join_wrapped_and_emit();
    return;
  }
  if (!joins_open) {
    if (state.continues_pending(rest)) return;
    state.emit_pending();
  }
  if (candidates.empty()) {
    if (const auto status = dsn_status_field(rest); !status.empty()) {
      state.dsn_status.assign(status);
      state.dsn_status_lines = 0;
      return;
    }
    if (!state.dsn_status.empty()) ++state.dsn_status_lines;
    if (const auto detail = rest.find("Detail: "); detail != std::string_view::npos &&
        rest.find(" SMTP code: ", detail) == std::string_view::npos && rest.size() < 4096)
      state.detail_without_codes.assign(rest);
    if (const auto details = phpmailer_detail_replies(rest); !details.empty()) {
      for (const auto& detail : details) {
        SmtpReply reply;
        reply.code = detail.code;
        reply.enhanced = std::string(detail.enhanced);
        reply.text = trim_reply_end(detail.text);
        // As the server sent it: the codes in front of the words.
        reply.raw = std::to_string(detail.code) + (detail.enhanced.empty() ? "" : " ") + std::string(detail.enhanced) +
                    " " + reply.text;
        reply.step = step_from_context(rest.substr(0, detail.at));
        reply.segment = state.segment;
        state.start(std::move(reply), false, {});
      }
      return;
    }
    if (const auto fields = fields_reply_at(rest); fields.code) {
      SmtpReply reply;
      reply.code = fields.code;
      reply.enhanced = std::string(fields.enhanced);
      reply.text = without_escaped_newlines(fields.text);
      reply.raw = std::to_string(fields.code) + (fields.enhanced.empty() ? "" : " ") + reply.enhanced + " " + reply.text;
      reply.host = text::to_lower(fields.host);
      // The message before the object names the step ("RCPT error") and
      // the module: an endpoint's (smtp, submission) is maddy refusing a client.
      const auto message = text::trim(rest.substr(0, fields.object_at));
      if (const auto error = message.rfind(" error"); error != std::string_view::npos) {
        const auto word = message.substr(0, error);
        const auto space = word.find_last_of(" :");
        reply.step = text::normalize_step(space == std::string_view::npos ? word : word.substr(space + 1));
      }
      reply.from_refusing_server = fields.host.empty() && (message.starts_with("submission") || message.starts_with("smtp"));
      reply.segment = state.segment;
      state.start(std::move(reply), false, {});
      return;
    }
    if (const auto wrapped = wrapped_code_reply_at(rest); wrapped.code) {
      SmtpReply reply;
      reply.code = wrapped.code;
      auto words = wrapped.text;
      // The server's enhanced code in front of its words ("[550] 5.7.1 ...").
      if (const auto length = text::enhanced_code_length(words); length && (length == words.size() || words[length] == ' ')) {
        reply.enhanced = std::string(words.substr(0, length));
        words = text::trim(words.substr(length));
      }
      reply.text = trim_reply_end(words);
      reply.raw = trim_reply_end(rest.substr(wrapped.wrapper_at));
      reply.step = wrapped.step;
      if (reply.step.empty()) reply.step = step_from_context(rest);
      reply.segment = state.segment;
      state.start(std::move(reply), false, rest.substr(0, wrapped.wrapper_at));
      return;
    }
    if (const auto codeless = codeless_reply_at(rest); codeless.text_at != std::string_view::npos) {
      SmtpReply reply;
      reply.code = smtp_code_in(rest);
      if (reply.code / 100 != 4 && reply.code / 100 != 5) reply.code = 0;
      auto words = rest.substr(codeless.text_at);
      words = words.substr(0, std::min(words.find("', "), words.find(", responseCode")));
      if (codeless.quoted) {
        // Delphi ends the message "...'." and an error dialog quotes the
        // line ("... - gsmtp""); the server's words may hold apostrophes.
        words = text::trim(words);
        for (std::string_view tail : {"\"", ".", "'"})
          if (words.ends_with(tail)) words = text::trim(words.substr(0, words.size() - tail.size()));
      }
      reply.text = trim_reply_end(words);
      reply.raw = trim_reply_end(rest.substr(codeless.wrapper_at, codeless.text_at - codeless.wrapper_at + words.size()));
      reply.step = codeless.step;
      reply.codes_missing = true;
      reply.segment = state.segment;
      state.start(std::move(reply), false, rest.substr(0, codeless.wrapper_at));
    } else if (const auto status = postfix_status_without_reply(rest)) {
      SmtpReply reply;
      reply.enhanced = std::string(status->enhanced);
      reply.text = std::string(status->text);
      reply.raw = reply.text;
      reply.host = host_from_context(rest);
      reply.from_sending_mta = true;
      reply.segment = state.segment;
      state.start(std::move(reply), false, {});
    } else if (const auto own = sending_mta_reason_at(rest); own.text_at != std::string_view::npos) {
      SmtpReply reply;
      // The DSN's own Status field, when it came with one, is the code it gave.
      reply.enhanced = std::string(!state.dsn_status.empty() && state.dsn_status_lines <= 8 ? std::string_view(state.dsn_status) : own.enhanced);
      auto words = rest.substr(own.text_at);
      if (const auto exim_host = words.find(" H="); exim_host != std::string_view::npos) {
        reply.host = std::string(text::trim(words.substr(exim_host + 3)));
        if (const auto space = reply.host.find(' '); space != std::string::npos) reply.host.resize(space);
        words = words.substr(0, exim_host);
      }
      reply.text = trim_reply_end(words);
      reply.raw = trim_reply_end(rest);
      reply.from_sending_mta = true;
      reply.segment = state.segment;
      state.dsn_status.clear();
      state.start(std::move(reply), false, {});
    } else if (const auto [code, text_at] = dotnet_status_reply_at(rest); code) {
      SmtpReply reply;
      reply.code = code;
      auto words = rest.substr(text_at);
      // PowerShell goes on after the message: "... At C:\\x.ps1:3 char:1".
      if (const auto quote = words.find('"'); quote != std::string_view::npos) words = words.substr(0, quote);
      reply.text = trim_reply_end(words);
      reply.raw = trim_reply_end(rest);
      reply.codes_missing = true;  // the server's own codes are not in the text: its words may name them
      reply.segment = state.segment;
      state.start(std::move(reply), false, {});
    }
    return;
  }

  const auto context = rest.substr(0, candidates.front().at);
  std::string context_step = step_from_context(context);
  if (context_step.empty()) context_step = field_step;
  const std::string host = host_from_context(context);
  const std::string host_ip = host.empty() ? std::string() : host_ip_from_context(context);

  std::size_t head = 0;  // the first reply of the chain the candidate is in
  bool wrapped = false;  // the last reply was inside Exchange's "< #5.3.0 smtp;...>"
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& candidate = candidates[i];
    // Exchange's DSN wrapper around the next server's reply, "554 5.3.0 <
    // #5.3.0 smtp;550 ...>": only the reply inside says what happened.
    const bool wraps_next = i + 1 < candidates.size() &&
                            is_exchange_dsn_wrapper(rest.substr(candidate.text_at, candidates[i + 1].at - candidate.text_at));
    if (wraps_next) {
      wrapped = true;
      continue;
    }
    if (!candidate.chained) head = i;
    // A chain's head runs to the end of its chain; a quoted reply to the next arrow.
    std::size_t next = i + 1;
    if (!candidate.chained)
      while (next < candidates.size() && candidates[next].chained) ++next;
    // 5.7.367's own explanation is that of the relay refusal it quotes.
    const auto& first = candidates[head];
    if (candidate.chained && first.enhanced_length && rest.substr(first.enhanced_at, first.enhanced_length) == "5.7.367")
      continue;
    const auto end = next < candidates.size() ? candidates[next].at : rest.size();
    auto segment = rest.substr(candidate.at, end - candidate.at);
    // (Not inside one multi-line reply joined on a line: Gmail's "550-5.7.26
    // Authentication results: 550-5.7.26 DKIM = did not pass".)
    const bool next_line_of_same_reply =
        i + 1 < candidates.size() && candidate.continued && candidates[i + 1].code == candidate.code;
    if (i + 1 < candidates.size() && !next_line_of_same_reply) {
      // The words that introduce the next reply are not this one's: ".NET:
      // "5.7.57 Client not authenticated to send mail. Error: 535 5.7.3 ...".
      auto own = text::trim(segment);
      if (!own.empty() && own.back() == ':') {
        const auto word = own.find_last_of(' ');
        const auto last = word == std::string_view::npos ? std::string_view() : own.substr(word + 1, own.size() - word - 2);
        if (word != std::string_view::npos && word > candidate.text_at - candidate.at && !last.empty() &&
            std::all_of(last.begin(), last.end(), [](char c) { return text::is_alpha(c); }))
          segment = segment.substr(0, word);
      }
    }
    // A reply quoted inside a sentence ends at its closing quote when only a
    // few words follow it: "Remoteserver hat '550 ...' zurückgegeben".
    if (candidate.at > 0 && (rest[candidate.at - 1] == '\'' || rest[candidate.at - 1] == '"')) {
      const auto close = segment.rfind(rest[candidate.at - 1]);
      if (close != std::string_view::npos && close > candidate.text_at - candidate.at &&
          segment.size() - close <= 32 &&
          std::none_of(segment.begin() + close, segment.end(), [](char c) { return text::is_digit(c); }))
        segment = segment.substr(0, close);
    } else if (count_of(rest.substr(0, candidate.at), '"') % 2 == 1) {
      // Inside a quoted message that goes on after the reply (PowerShell:
      // "Mailbox unavailable. The server response was: 5.7.1 ... sender" At
      // C:\Scripts\x.ps1:783 char:3): the reply ends at the closing quote.
      const auto close = segment.find('"', candidate.text_at - candidate.at);
      if (close != std::string_view::npos) segment = segment.substr(0, close);
    }
    segment = before_stack_frame(segment, candidate.text_at - candidate.at);
    drop_postfix_envelope(segment);
    if (wrapped) {
      // The wrapper's closing '>' (and the NDR's quote after it).
      const auto close = segment.rfind('>');
      if (close != std::string_view::npos && close > candidate.text_at - candidate.at &&
          text::trim(segment.substr(close + 1)).find_first_not_of("'\"") == std::string_view::npos)
        segment = segment.substr(0, close);
      wrapped = false;
    }
    std::string enhanced;
    if (candidate.enhanced_length) enhanced = rest.substr(candidate.enhanced_at, candidate.enhanced_length);
    const std::size_t text_at = std::min(candidate.text_at - candidate.at, segment.size());
    auto reply_text = text::trim(segment.substr(text_at));
    int code = candidate.code;
    if (code == 0) {
      if (const int named = smtp_code_in(reply_text); named && named / 100 == enhanced[0] - '0') {
        code = named;
        reply_text = text::trim(reply_text.substr(0, text::ifind(reply_text, "SMTP code: ")));
      } else if (const auto [status_code, status_text_at] = dotnet_status_reply_at(rest);
                 status_code && status_text_at == candidate.at && status_code / 100 == enhanced[0] - '0') {
        code = status_code;  // .NET named it in words: "Mailbox unavailable. The server response was: 5.7.1 ..."
      } else if (const int parts = lettre_code_in(rest.substr(0, candidate.at)); parts && parts / 100 == enhanced[0] - '0') {
        code = parts;
      } else if (const auto wrapper = wrapped_code_reply_at(rest.substr(0, candidate.at)); wrapper.code / 100 == enhanced[0] - '0') {
        code = wrapper.code;  // Roundcube: "SMTP Error (550): Failed to add recipient "a@b" (5.7.1 ...)"
      }
    }
    std::string step = take_postfix_step(reply_text);
    reply_text = trim_reply_end(reply_text);
    if (enhanced.empty()) enhanced = take_trailing_enhanced(reply_text);
    const auto raw = trim_reply_end(segment);
    if (step.empty()) step = context_step;

    auto* pending = state.pending ? &*state.pending : nullptr;
    if (pending && state.pending_open && pending->code == code) state.join_wrapped();
    const bool same_reply = pending && state.pending_open && pending->code == code &&
                            (enhanced.empty() || pending->enhanced.empty() || enhanced == pending->enhanced);
    if (same_reply) {
      // The next line of a multi-line reply (RFC 5321 4.2.1). A line with
      // another enhanced code is a reply of its own and reported as such.
      if (!reply_text.empty()) {
        if (!pending->text.empty()) pending->text += ' ';
        pending->text.append(reply_text);
      }
      pending->raw.append("\n").append(raw);
      if (pending->enhanced.empty()) pending->enhanced = enhanced;
      if (!step.empty()) pending->step = step;
      state.pending_open = candidate.continued;
    } else if (pending && state.pending_open && pending->code == code) {
      // Same code, another enhanced code: a part of its own in the block.
      SmtpReply reply;
      reply.code = code;
      reply.enhanced = std::move(enhanced);
      reply.text = reply_text;
      reply.raw = raw;
      reply.step = !step.empty() ? step : pending->step;
      reply.host = pending->host;
      reply.segment = pending->segment;
      state.block.push_back(std::move(*state.pending));
      state.pending = std::move(reply);
      state.pending_open = candidate.continued;
    } else {
      SmtpReply reply;
      reply.code = code;
      reply.enhanced = std::move(enhanced);
      reply.text = without_escaped_newlines(reply_text);
      reply.raw = without_escaped_newlines(raw);
      reply.step = step;
      reply.host = host;
      reply.host_ip = host_ip;
      reply.segment = state.segment;
      reply.repeats_message = is_response_field_at(rest, candidate.at);
      reply.from_refusing_server = is_refusing_server_log(rest.substr(0, candidate.at));
      state.start(std::move(reply), candidate.continued, rest.substr(0, candidate.at));
    }
  }
}

}  // namespace diag::explain
