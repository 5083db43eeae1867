// Reading the input in bounded pieces, recognizing a sendcheck JSON document,
// and collecting the replies into distinct explanations.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "diag/explain.h"
#include "text.h"

namespace diag::explain {
namespace {

constexpr std::size_t max_kept_reply_bytes = 2048;  // of each distinct reply's text, for the report
constexpr std::size_t max_listed_values = 16;       // IPs and steps listed per explanation
constexpr std::size_t read_chunk_bytes = 1 << 20;

// A reply as kept for display: capped, its control characters masked.
std::string printable(std::string_view text) {
  return ascii::mask_controls(std::string(text.substr(0, max_kept_reply_bytes)), "\n");
}

// Replies that differ only in addresses, IDs, IPs or counters explain the
// same thing: any word holding a digit or '@' becomes '#'. The Exchange
// Online suffix is already gone.
void append_dedupe_key(std::string& key, std::string_view reply_text) {
  bool in_word = false, word_masked = false;
  for (char c : reply_text) {
    if (c == ' ' || c == '\t' || c == '\n') {
      in_word = false;
      continue;
    }
    if (!in_word) {
      key += ' ';
      in_word = true;
      word_masked = false;
    }
    if (word_masked) continue;
    if (text::is_digit(c) || c == '@') {
      // Drop what the word had so far: the whole word is one '#'.
      while (!key.empty() && key.back() != ' ') key.pop_back();
      key += '#';
      word_masked = true;
      continue;
    }
    key += text::lower(c);
  }
}

// Keeps the first max_listed_values distinct values and counts the distinct
// ones past them (a bounded set of their hashes), for "(+N more)".
constexpr std::size_t max_counted_values = 4096;
void add_distinct(std::vector<std::string>& values, std::unordered_set<std::size_t>& more_seen, std::size_t& more,
                  const std::string& value) {
  if (value.empty()) return;
  if (std::find(values.begin(), values.end(), value) != values.end()) return;
  if (values.size() < max_listed_values) {
    values.push_back(value);
    return;
  }
  if (more_seen.size() < max_counted_values && more_seen.insert(std::hash<std::string>{}(value)).second) ++more;
}

int severity(const Explanation& explanation) {
  switch (explanation.status()) {
    case Status::fail: return 0;
    case Status::warn: return 1;
    default: return 2;
  }
}

// Where in an SMTP session a reply came: a later reply is often the
// consequence of an earlier one (a refused AUTH, then "530 5.7.57 Client not
// authenticated" to MAIL FROM). The step comes from the input, or else from
// the basic code: 535, 534, 538 answer AUTH (RFC 4954 6); 530 and 5.7.57
// answer MAIL FROM sent without a login. Unknown steps rank last, in the
// order they came (an NDR's own reply before the remote reply it quotes).
int step_rank(const Explanation& explanation) {
  const std::string_view step = explanation.steps.empty() ? std::string_view() : explanation.steps.front();
  static constexpr std::string_view order[] = {"greeting", "EHLO", "HELO", "LHLO", "STARTTLS", "AUTH", "MAIL FROM",
                                               "RCPT TO", "DATA", "BDAT", "end of DATA"};
  for (std::size_t i = 0; i < std::size(order); ++i)
    if (step == order[i]) return static_cast<int>(i);
  const int code = explanation.reply.code;
  if (code == 535 || code == 534 || code == 538) return 5;
  if (code == 530 || explanation.reply.enhanced == "5.7.57") return 6;
  return static_cast<int>(std::size(order));
}

// Decodes UTF-16 (PowerShell 5.1 writes it with `>`) to UTF-8, in pieces:
// a code unit or a surrogate pair may be split between pieces.
class Utf16Decoder {
 public:
  explicit Utf16Decoder(bool little_endian) : little_endian_(little_endian) {}
  void decode(std::string_view bytes, std::string& out) {
    for (char byte : bytes) {
      if (!have_half_) {
        half_ = static_cast<unsigned char>(byte);
        have_half_ = true;
        continue;
      }
      have_half_ = false;
      const unsigned char second = static_cast<unsigned char>(byte);
      const unsigned unit = little_endian_ ? (half_ | (second << 8)) : ((half_ << 8) | second);
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        high_ = unit;
        continue;
      }
      unsigned code_point = unit;
      if (unit >= 0xDC00 && unit <= 0xDFFF) {
        if (!high_) continue;  // a lone low surrogate: dropped
        code_point = 0x10000 + ((high_ - 0xD800) << 10) + (unit - 0xDC00);
      }
      high_ = 0;
      append_utf8(code_point, out);
    }
  }

 private:
  static void append_utf8(unsigned code_point, std::string& out) {
    if (code_point < 0x80) {
      out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
      out += static_cast<char>(0xC0 | (code_point >> 6));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
      out += static_cast<char>(0xE0 | (code_point >> 12));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code_point >> 18));
      out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
  }
  bool little_endian_;
  bool have_half_ = false;
  unsigned char half_ = 0;
  unsigned high_ = 0;
};

// UTF-16 without a BOM: ASCII text has a NUL in every other byte.
// How much of the input the UTF-16 guess reads.
constexpr std::size_t utf16_sniff_bytes = 256;

bool looks_like_utf16le(std::string_view start) {
  if (start.size() < 16) return false;
  std::size_t pairs = 0, nul_high = 0;
  for (std::size_t i = 0; i + 1 < start.size() && i < utf16_sniff_bytes; i += 2, ++pairs)
    nul_high += start[i] != '\0' && start[i + 1] == '\0';
  return nul_high * 10 >= pairs * 9;
}

// Postfix wraps a bounce's remote reply over indented lines:
//   <a@b.example>: host mx.b.example[192.0.2.1] said: 550-5.7.1 Our system
//       has detected ... 550 5.7.1 ... (in reply to end of DATA command)
// A record starts at "said:" (or at "<address>: host" with "said:" on a
// later line) and ends at "(in reply to ... command)".
bool starts_bounce_record(std::string_view line) {
  const auto trimmed = text::trim(line);
  if (trimmed.empty()) return false;
  // Searched by their rarer first letters: most lines of a log are neither.
  const auto said = trimmed.find("said:");
  if (said != std::string_view::npos && (said == 0 || trimmed[said - 1] == ' '))
    return trimmed.find("(in reply to ", said) == std::string_view::npos;
  return text::iends_with(trimmed, ": host") ||
         (trimmed.front() == '<' && trimmed.find(": host ") != std::string_view::npos &&
          trimmed.find("(in reply to ") == std::string_view::npos);
}

// A line that starts a log record of its own (syslog "Mar  2 10:16:05",
// ISO 8601 "2026-03-02T10:16:05"): it never continues a reply that a line
// above left open (a SASL failure has no "(in reply to ...)" to end it).
bool starts_log_record(std::string_view line) {
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (line.size() >= 6 && line[3] == ' ' && (text::is_digit(line[4]) || line[4] == ' '))
    for (const auto month : months)
      if (line.substr(0, 3) == month) return true;
  return line.size() >= 10 && text::is_digit(line[0]) && text::is_digit(line[1]) && text::is_digit(line[2]) &&
         text::is_digit(line[3]) && line[4] == '-' && text::is_digit(line[5]) && text::is_digit(line[6]) && line[7] == '-';
}

bool ends_bounce_record(std::string_view joined) {
  const auto in_reply = joined.find("(in reply to ");
  return in_reply != std::string_view::npos && joined.find(')', in_reply) != std::string_view::npos;
}

constexpr std::size_t max_bounce_lines = 24;

// A file descriptor we opened, closed when it goes out of scope.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool Explanation::permanent() const {
  if (reply.code) return reply.code / 100 == 5;
  if (reply.enhanced.empty()) return reply.codes_missing;
  return reply.enhanced[0] == '5';
}

Status Explanation::status() const {
  // A refusal whose codes the input lost is still a failure.
  if (!reply.code && reply.enhanced.empty() && reply.codes_missing) return Status::fail;
  const int status_class = reply.code ? reply.code / 100 : (reply.enhanced.empty() ? 0 : reply.enhanced[0] - '0');
  if (status_class == 5) return Status::fail;
  if (status_class == 4) return Status::warn;
  return Status::info;
}

struct Explainer::State {
  enum class Mode { detecting, json_document, lines };
  enum class Encoding { unknown, utf8, utf16 };

  ExplainResult result;
  ReplyScanner scanner{[this](SmtpReply&& reply) { add(std::move(reply)); }};
  Mode mode = Mode::detecting;
  Encoding encoding = Encoding::unknown;
  std::optional<Utf16Decoder> utf16;
  std::string decoded;        // a piece converted from UTF-16
  std::string start_bytes;    // the first bytes, until the encoding is known
  bool stopped = false;
  std::string carry;          // the start of a line that continues in the next piece
  bool in_long_line = false;  // the current line passed max_line_bytes
  std::string json_document;  // the input while it may be one JSON document
  std::string bounce;         // a Postfix bounce record or a folded DSN field being joined
  std::size_t bounce_lines = 0;
  bool folded_field = false;  // the record is a DSN field: it goes on while lines are indented
  std::unordered_map<std::string, std::size_t> by_reply;    // dedupe key -> explanation
  std::unordered_map<std::string, std::size_t> by_meaning;  // code|enhanced|meaning id -> explanation
  std::vector<std::unordered_set<std::size_t>> more_ips, more_steps;  // per explanation
  std::string key;                                          // reused for every reply
  // The input shows a sign-in to a personal Microsoft account (the host
  // smtp-mail.outlook.com, a hotmail.* login) around its replies: Outlook.com
  // runs on Exchange Online's servers, so its refusals carry Exchange
  // Online's suffix, but no tenant setting applies to it.
  bool after_concatenation = false;  // the last line ended with "\n' +" (Node's inspect of a string)
  bool consumer_login_seen = false;
  std::string dangling;          // a line cut inside a reply's codes, held for the next
  std::size_t dangling_code = 0;  // where its basic code starts

  void add(SmtpReply&& reply) {
    // nodemailer's "response:" repeats the reply its message quoted: when
    // that reply was counted, this is no other refusal.
    const bool one_more = !reply.repeats_message || result.explanations.empty();
    if (one_more) ++result.replies;
    ReplyDetails details;
    const std::string reply_text = extract_details_unclassified(reply.text, details);
    if (reply.from_sending_mta) details.ip.clear();  // the receiver's, in the sender's own words
    if (reply.codes_missing && reply.enhanced.empty()) {
      ReplyDetails shown = details;
      shown.sender = classify_sender(reply.text, reply.host, details);
      if (const auto codes = codes_from_wording(reply_text, shown);
          codes && (reply.code == 0 || codes->code == 0 || codes->code / 100 == reply.code / 100)) {
        if (reply.code == 0) reply.code = codes->code;
        reply.enhanced = codes->enhanced;
        reply.codes_inferred = true;
      }
    }
    key.assign(std::to_string(reply.code)).append("|").append(reply.enhanced).append("|").append(reply.host).append("|");
    key.append(details.front_end_host.empty() && details.as_code.empty() ? "" : "ms|");
    append_dedupe_key(key, reply_text);
    if (auto found = by_reply.find(key); found != by_reply.end()) {
      count(found->second, details, reply.step, one_more);
      return;
    }
    details.sender =
        classify_sender(reply.evidence.empty() ? std::string_view(reply.text) : reply.evidence, reply.host, details);
    if (reply.from_sending_mta) details.sender = Sender::unknown;
    if (reply.from_refusing_server) details.sender = Sender::your_server;
    Meaning meaning = explain_reply(reply.code, reply.enhanced, reply_text, details);
    // The reader's own server refused or deferred a client: the generic
    // "ask its administrator" is the reader; its log and settings say why.
    if (details.sender == Sender::your_server && meaning.generic())
      meaning.remedy = {"This is your own server's reply to a client it refused or deferred: the reason is in its configuration "
                        "(a restriction, a milter or policy service, a lookup it depends on) and in the lines its log wrote "
                        "just before this one. Fix it there if the refusal is not meant" +
                        std::string(reply.code / 100 == 4 || (!reply.enhanced.empty() && reply.enhanced[0] == '4')
                                        ? "; a client with a real message retries a 4xx by itself."
                                        : ".")};
    // A server that names its own address as the one listed quotes a refusal
    // it got further on (a forwarder relaying to the recipient's provider):
    // the listing is its operator's to clear, not the reader's.
    if (meaning.category == Category::ip_reputation && !reply.host_ip.empty() && details.ip == reply.host_ip &&
        details.sender != Sender::your_server)
      meaning.remedy = {"The listed address " + details.ip + " is that of " + reply.host + ", the server that sent this reply: it "
                        "forwards or relays the mail and quotes the refusal it got itself further on. Clearing that listing is " +
                        reply.host + "'s operator's job, not yours: tell them, or send to the recipient's own address instead of "
                        "through " + reply.host + "."};
    // One finding per distinct reply: the same code with the same meaning
    // is counted under the first, whatever its text held besides.
    const std::string meaning_key =
        std::to_string(reply.code) + "|" + reply.enhanced + "|" + meaning.id + "|" + std::string(to_string(details.sender));
    if (auto same = by_meaning.find(meaning_key); same != by_meaning.end()) {
      if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, same->second);
      count(same->second, details, reply.step, one_more);
      return;
    }
    // The same enhanced code and meaning once with its basic code and once
    // without (a wrapper's "5.7.0 Must issue a STARTTLS command first (530
    // 5.7.0 ...)"): one reply, with the basic code.
    if (!reply.enhanced.empty()) {
      const std::string tail = "|" + reply.enhanced + "|" + meaning.id + "|" + std::string(to_string(details.sender));
      for (const auto& [other_key, index] : by_meaning) {
        if (!other_key.ends_with(tail) || other_key.size() == tail.size()) continue;
        const bool other_codeless = other_key.starts_with("0|");
        if ((reply.code == 0) == other_codeless) continue;
        if (other_codeless) {
          // The full reply came second: it takes the finding's place.
          Explanation& first = result.explanations[index];
          first.reply.code = reply.code;
          first.reply.text = printable(reply_text);
          first.reply.raw = printable(reply.raw);
          const std::size_t kept = index;
          by_meaning.erase(other_key);
          by_meaning.emplace(meaning_key, kept);
          if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, kept);
          count(kept, details, reply.step, one_more);
          return;
        }
        if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, index);
        count(index, details, reply.step, one_more);
        return;
      }
    }
    // The same code and meaning, once without a sign of who sent it and once
    // with one (an NDR's "Status code: 550 5.7.193" above its full reply):
    // one reply, from the sender the evidence names.
    const std::string meaning_prefix = std::to_string(reply.code) + "|" + reply.enhanced + "|" + meaning.id + "|";
    const std::string unknown_key = meaning_prefix + std::string(to_string(Sender::unknown));
    if (details.sender != Sender::unknown)
      if (auto vague = by_meaning.find(unknown_key); vague != by_meaning.end()) {
        const std::size_t index = vague->second;
        Explanation& first = result.explanations[index];
        first.details.sender = details.sender;
        if (first.reply.text.size() < reply_text.size()) first.reply.text = printable(reply_text);
        by_meaning.erase(vague);
        by_meaning.emplace(meaning_key, index);
        if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, index);
        count(index, details, reply.step, one_more);
        return;
      }
    if (details.sender == Sender::unknown) {
      for (const auto& [other_key, index] : by_meaning)
        if (other_key.starts_with(meaning_prefix)) {
          if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, index);
          count(index, details, reply.step, one_more);
          return;
        }
    }
    if (const auto part = part_of_the_same_reply(reply.code, reply.enhanced, reply_text, meaning); part) {
      const std::size_t index = *part;
      Explanation& other = result.explanations[index];
      if (other.meaning.generic() && !meaning.generic()) {
        // The reply found earlier was a cut-off line of this one.
        std::erase_if(by_meaning, [index](const auto& item) { return item.second == index; });
        by_meaning.emplace(meaning_key, index);
        other.meaning = std::move(meaning);
        other.reply.text = printable(reply_text);
        other.reply.raw = printable(reply.raw);
        other.details = details;
      }
      if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, index);
      count(index, details, reply.step, one_more);
      return;
    }
    if (result.explanations.size() >= max_distinct_replies) {
      // Past the bound, count the reply under an explanation with the same
      // meaning, so memory stays bounded whatever the input holds.
      for (std::size_t i = 0; i < result.explanations.size(); ++i)
        if (result.explanations[i].meaning.id == meaning.id) {
          ++result.aggregated_by_meaning;
          count(i, details, reply.step, one_more);
          return;
        }
    }
    Explanation explanation;
    explanation.reply.code = reply.code;
    explanation.reply.enhanced = std::move(reply.enhanced);
    explanation.reply.text = printable(reply_text);
    explanation.reply.raw = printable(reply.raw);
    explanation.reply.step = reply.step;
    explanation.reply.host = reply.host;
    explanation.reply.codes_missing = reply.codes_missing;
    explanation.reply.codes_inferred = reply.codes_inferred;
    explanation.reply.segment = reply.segment;
    explanation.details = details;
    explanation.meaning = std::move(meaning);
    const std::size_t index = result.explanations.size();
    result.explanations.push_back(std::move(explanation));
    more_ips.emplace_back();
    more_steps.emplace_back();
    by_meaning.emplace(meaning_key, index);
    if (by_reply.size() < max_distinct_replies) by_reply.emplace(key, index);
    if (!one_more) ++result.replies;  // a reply of its own after all
    count(index, details, reply.step);
  }

  // A reply with only a generic meaning whose words are all inside a reply
  // with the same codes and a specific meaning is a piece of it: a log or a
  // paste that kept only the last line ("550 5.7.1 https://... - gsmtp")
  // beside the whole reply. Returns the explanation both belong to.
  std::optional<std::size_t> part_of_the_same_reply(int code, std::string_view enhanced, std::string_view reply_text,
                                                    const Meaning& meaning) const {
    static constexpr std::size_t min_piece_chars = 12;  // "550 5.7.1" alone is a status line, not a piece
    std::optional<std::string> words;  // made only when a reply with the same codes is there to compare
    for (std::size_t i = 0; i < result.explanations.size(); ++i) {
      const auto& other = result.explanations[i];
      if (other.reply.code != code || other.reply.enhanced != enhanced || other.meaning.generic() == meaning.generic())
        continue;
      if (!words) words = collapsed_lower(reply_text);
      const std::string other_words = collapsed_lower(other.reply.text);
      const auto& piece = meaning.generic() ? *words : other_words;
      const auto& whole = meaning.generic() ? other_words : *words;
      if (piece.size() >= min_piece_chars && whole.find(piece) != std::string::npos) return i;
      // A copy a stack trace or a log cut short ("'550 5.4.6 Unusu...'"):
      // the start of the whole reply's words.
      for (std::string_view ellipsis : {"...", "\xE2\x80\xA6"})
        if (std::string_view start(piece); start.ends_with(ellipsis)) {
          start.remove_suffix(ellipsis.size());
          if (!start.empty() && std::string_view(whole).starts_with(start)) return i;
        }
    }
    return std::nullopt;
  }

  static std::string collapsed_lower(std::string_view text_in) {
    std::string out;
    for (char c : text::trim(text_in)) {
      if (c == ' ' || c == '\t') {
        if (!out.empty() && out.back() != ' ') out += ' ';
      } else {
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    return out;
  }

  // A refused sign-in of a personal account has Outlook.com's meaning
  // where the table has one (5.7.139, 5.7.3: only OAuth works, nothing to
  // turn on), whatever server the reply itself shows.
  void explain_as_consumer_logins() {
    for (auto& explanation : result.explanations) {
      if (explanation.meaning.category != Category::authentication) continue;
      const Sender sender = explanation.details.sender;
      if (sender == Sender::outlook_com || sender == Sender::gmail) continue;
      ReplyDetails consumer = explanation.details;
      consumer.sender = Sender::outlook_com;
      Meaning meaning = explain_reply(explanation.reply.code, explanation.reply.enhanced, explanation.reply.text, consumer);
      if (!meaning.id.starts_with("outlook.")) continue;
      explanation.meaning = std::move(meaning);
      explanation.details.sender = Sender::outlook_com;
    }
  }

  void count(std::size_t index, const ReplyDetails& details, const std::string& step, bool one_more = true) {
    auto& explanation = result.explanations[index];
    if (one_more) ++explanation.count;
    // The first occurrence hid the IP ("banned sending IP [****]") that a
    // later one names (the DSN's Diagnostic-Code): the remedy takes it.
    if (explanation.details.ip.empty() && !details.ip.empty()) {
      explanation.details.ip = details.ip;
      Meaning with_ip = explain_reply(explanation.reply.code, explanation.reply.enhanced, explanation.reply.text,
                                      explanation.details);
      if (with_ip.id == explanation.meaning.id) explanation.meaning = std::move(with_ip);
    }
    add_distinct(explanation.ips, more_ips[index], explanation.more_ips, details.ip);
    add_distinct(explanation.steps, more_steps[index], explanation.more_steps, step);
  }

  // A console wraps a long line at its width wherever that falls, even
  // inside a reply's codes: "550 5.7." / "606 Access denied ...", "Remote
  // Server returned '550" / " 5.7.708 Service unavailable", "'55" / "0 5.7.708
  // ...". A line that ends inside "NNN X.Y.Z" waits for the next; the two are
  // read as one when together they hold the whole of it across the break,
  // the basic and the enhanced code of one class (RFC 3463 2).
  void line(std::string_view text_line) {
    if (!dangling.empty()) {
      std::string joined = dangling;
      const std::size_t boundary = joined.size();
      // "'550" / "5.7.708 ...": the space the console wrapped at was lost.
      if (boundary == dangling_code + 3 && !text_line.empty() && text::is_digit(text_line.front())) joined += ' ';
      joined.append(text_line);
      dangling.clear();
      if (completes_codes(joined, dangling_code, boundary)) {
        ++result.lines;  // two physical lines
        physical_line(joined);
        return;
      }
      std::string held;
      held.swap(joined);
      held.resize(boundary);
      physical_line(held);
    }
    if (const auto at = dangling_code_at(text_line); at != std::string_view::npos && text_line.size() < max_line_bytes) {
      dangling.assign(text_line);
      while (!dangling.empty() && (dangling.back() == ' ' || dangling.back() == '\r')) dangling.pop_back();
      dangling_code = at;
      return;
    }
    physical_line(text_line);
  }

  // Where the basic code starts when the line ends inside "NNN X.Y.Z": in
  // the basic code ("... returned '55"), after it ("'550"), or in the
  // enhanced code ("550 5.7.", "550 5.7.7"); npos otherwise.
  static std::size_t dangling_code_at(std::string_view text_line) {
    while (!text_line.empty() && (text_line.back() == ' ' || text_line.back() == '\r')) text_line.remove_suffix(1);
    const std::size_t end = text_line.size();
    if (end == 0 || (!text::is_digit(text_line.back()) && text_line.back() != '.')) return std::string_view::npos;
    static constexpr std::size_t longest = 13;  // "NNN X.YYY.ZZZ"
    for (std::size_t at = end > longest ? end - longest : 0; at < end; ++at) {
      if (at > 0 && (text::is_alpha(text_line[at - 1]) || text::is_digit(text_line[at - 1]) || text_line[at - 1] == '.'))
        continue;
      const auto tail = text_line.substr(at);
      // An enhanced code alone shows at least "5.7", not a bare "5.".
      if (is_codes_prefix(tail) || (tail.size() > 2 && is_enhanced_prefix(tail))) return at;
    }
    return std::string_view::npos;
  }

  // "5.", "5.7", "5.7.", "5.7.6": the start of an enhanced code, cut. Alone
  // it is one without a basic code (.NET's "The server response was: 5.7.6" /
  // "0 SMTP; ...").
  static bool is_enhanced_prefix(std::string_view tail) {
    if (tail.size() < 2 || (tail[0] != '2' && tail[0] != '4' && tail[0] != '5') || tail[1] != '.') return false;
    int dots = 1;
    std::size_t digits = 0;
    for (std::size_t i = 2; i < tail.size(); ++i) {
      if (tail[i] == '.') {
        if (++dots > 2 || digits == 0) return false;
        digits = 0;
      } else if (!text::is_digit(tail[i]) || ++digits > 3) {
        return false;
      }
    }
    return true;
  }

  // "5", "55", "550", "550 ", "550 5", "550 5.", "550 5.7", "550 5.7.",
  // "550 5.7.7": the start of a reply's codes, cut.
  static bool is_codes_prefix(std::string_view tail) {
    if (tail.empty() || (tail[0] != '4' && tail[0] != '5')) return false;
    std::size_t at = 1;
    while (at < tail.size() && at < 3 && text::is_digit(tail[at])) ++at;
    if (at == tail.size()) return true;  // inside or right after the basic code
    if (at != 3 || tail[3] != ' ') return false;
    const auto enhanced = tail.substr(4);
    if (enhanced.empty()) return true;
    if (enhanced[0] != tail[0]) return false;  // another class: not this reply's
    return enhanced.size() == 1 || is_enhanced_prefix(enhanced);
  }

  // Whether the joined line holds "NNN X.Y.Z" at `code_at`, of one class,
  // that the break cut: it ends past the break, and a word ends after it.
  static bool completes_codes(std::string_view joined, std::size_t code_at, std::size_t boundary) {
    // An enhanced code alone, continued by the next line's digits.
    if (code_at + 1 < joined.size() && joined[code_at + 1] == '.') {
      const auto length = text::enhanced_code_length(joined.substr(code_at));
      return length && code_at + length > boundary && text::is_digit(joined[boundary]);
    }
    if (code_at + 4 >= joined.size() || joined[code_at + 3] != ' ') return false;
    for (std::size_t i = 0; i < 3; ++i)
      if (!text::is_digit(joined[code_at + i])) return false;
    const auto enhanced = joined.substr(code_at + 4);
    const auto length = text::enhanced_code_length(enhanced);
    return length && enhanced[0] == joined[code_at] && code_at + 4 + length > boundary;
  }

  // One physical line of text: joins a Postfix bounce record, splits
  // smtplib's escaped "\n", and turns IIS's '+' back into spaces.
  void physical_line(std::string_view text_line) {
    if (++result.lines >= max_input_lines) stopped = result.stopped_at_limit = true;
    if (!consumer_login_seen) consumer_login_seen = names_consumer_microsoft_login(text_line);
    if (!bounce.empty()) {
      const auto trimmed = text::trim(text_line);
      const bool indented = !text_line.empty() && (text_line[0] == ' ' || text_line[0] == '\t');
      if (trimmed.empty() || (folded_field && !indented) || (!indented && starts_log_record(text_line))) {
        flush_bounce();  // this line is read below, once
      } else {
        bounce.append(" ").append(trimmed);
        ++bounce_lines;
        if (ends_bounce_record(bounce) || bounce_lines >= max_bounce_lines || bounce.size() >= max_line_bytes)
          flush_bounce();
        return;
      }
    }
    line_unjoined(text_line);
  }

  void line_unjoined(std::string_view text_line) {
    // RFC 3464 2.3.6: a Diagnostic-Code field folds over indented lines.
    const bool field = text::istarts_with(text::trim(text_line), "Diagnostic-Code:");
    // A log record that ends in ':' goes on below, on indented lines, as a
    // syslog line pasted from a narrow terminal does ("postfix/smtpd[1]:"
    // then "    NOQUEUE: reject: RCPT from ...").
    const bool announces_more = starts_log_record(text_line) && text::trim(text_line).ends_with(':');
    if (field || announces_more || starts_bounce_record(text_line)) {
      bounce.assign(text::trim(text_line));
      bounce_lines = 1;
      folded_field = field || announces_more;
      return;
    }
    logical_line(text_line);
  }

  void flush_bounce() {
    if (bounce.empty()) return;
    std::string joined;
    joined.swap(bounce);
    bounce_lines = 0;
    logical_line(joined);
  }

  void logical_line(std::string_view text_line) {
    // Node prints a multi-line string of an error object as pieces joined by
    // '+' ("response: '535-5.7.8 ... at\n' +", then "'535 5.7.8 ...',"): each
    // piece is one line of the reply, without its quotes.
    const bool continues_literal = after_concatenation;
    after_concatenation = false;
    for (std::string_view joint : {"\\n' +", "\\n\" +"})
      if (text::trim(text_line).ends_with(joint)) {
        const auto end = text_line.rfind(joint);
        after_concatenation = true;
        scanner.feed_line(text_line.substr(0, end));
        return;
      }
    if (continues_literal) {
      auto piece = text::trim(text_line);
      if (piece.size() > 1 && (piece.front() == '\'' || piece.front() == '"')) {
        const char quote = piece.front();
        piece.remove_prefix(1);
        if (const auto close = piece.rfind(quote); close != std::string_view::npos) piece = piece.substr(0, close);
        scanner.feed_line(piece);
        return;
      }
    }
    const auto trimmed = text::trim(text_line);
    // JSON Lines (one document a line, as some mail systems log); maddy's
    // reply fields (smtp_code, smtp_msg) are read by the scanner as one reply.
    if (!trimmed.empty() && trimmed.front() == '{' && trimmed.back() == '}' && trimmed.find("\"smtp_code\":") == std::string_view::npos) {
      auto document = nlohmann::json::parse(trimmed, nullptr, false);
      if (!document.is_discarded()) {
        scanner.finish();
        walk_json(document, 0);
        return;
      }
    }
    // smtplib's debug output then repeats the whole reply as "reply: retcode
    // (550); Msg: b'...'": read as its error tuple, "(550, b'...')".
    if (const auto at = text_line.find("reply: retcode ("); at != std::string_view::npos) {
      const auto close = text_line.find("); Msg: ", at);
      const auto code = text_line.substr(at + 16, close == std::string_view::npos ? 0 : close - at - 16);
      if (code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return text::is_digit(c); })) {
        const std::string tuple = "(" + std::string(code) + ", " + std::string(text_line.substr(close + 8)) + ")";
        logical_line(tuple);
        return;
      }
    }
    // smtplib prints a multi-line reply as one bytes literal with "\n"
    // between the lines: b'5.7.8 Username and ...\n5.7.8  https://...';
    // a JavaScript string has "\r\n" ('554-Service ...\r\n554 http://...\r\n').
    for (std::size_t at = text_line.find("\\n"); at != std::string_view::npos; at = text_line.find("\\n", at + 2)) {
      if (at + 2 < text_line.size() && text::is_digit(text_line[at + 2])) {
        auto first = text_line.substr(0, at);
        if (first.ends_with("\\r")) first.remove_suffix(2);
        // The literal's opening quote before the reply's code.
        if (first.size() > 1 && (first.front() == '\'' || first.front() == '"') && text::is_digit(first[1])) first.remove_prefix(1);
        logical_line(first);
        auto rest = text_line.substr(at + 2);
        // The literal's end: "\r\n'" after the last line.
        for (bool trimmed = true; trimmed;) {
          trimmed = false;
          for (std::string_view tail : {"\\r", "\\n", "'", "\""})
            if (rest.ends_with(tail) && rest.size() > tail.size()) rest.remove_suffix(tail.size()), trimmed = true;
        }
        logical_line(rest);
        return;
      }
    }
    // IIS SMTP logs write spaces as '+': "550+5.7.60+SMTP;+Client+does+not...".
    if (const auto plus = iis_reply_at(text_line); plus != std::string_view::npos) {
      std::string spaced(text_line);
      for (std::size_t i = plus; i < spaced.size() && spaced[i] != ' '; ++i)
        if (spaced[i] == '+') spaced[i] = ' ';
      scanner.feed_line(spaced);
      return;
    }
    scanner.feed_line(text_line);
  }

  static std::size_t iis_reply_at(std::string_view text_line) {
    for (std::size_t at = text_line.find('+'); at != std::string_view::npos && at >= 3;
         at = text_line.find('+', at + 1)) {
      if (at + 3 > text_line.size()) break;
      const auto code = text_line.substr(at - 3, 3);
      if (code[0] >= '2' && code[0] <= '5' && text::is_digit(code[1]) && text::is_digit(code[2]) &&
          (at == 3 || text_line[at - 4] == ' ') && text::is_digit(text_line[at + 1]) && text_line[at + 2] == '.')
        return at - 3;
    }
    return std::string_view::npos;
  }

  // A string from JSON may hold several lines (a transcript, an NDR).
  void scan_string(std::string_view value, std::string_view step) {
    scanner.finish();
    scanner.set_context_step(step);
    while (!value.empty()) {
      const auto newline = value.find('\n');
      scanner.feed_line(value.substr(0, std::min(newline, max_line_bytes)));
      if (newline == std::string_view::npos) break;
      value.remove_prefix(newline + 1);
    }
    scanner.finish();
  }

  // Every string in the document is searched; a "step" or "command" member
  // names the SMTP step of the replies in the same object. An array of
  // strings is one text, a line per element (a transcript).
  void walk_json(const nlohmann::json& value, int depth, std::string_view step = {}) {
    if (depth > max_json_depth) {
      result.json_too_deep = true;
      return;
    }
    if (value.is_string()) {
      scan_string(value.get_ref<const std::string&>(), step);
    } else if (value.is_object()) {
      std::string own_step(step);
      for (const char* name : {"step", "command", "smtp_step"})
        if (auto member = value.find(name); member != value.end() && member->is_string())
          own_step = member->get<std::string>();
      for (const auto& [name, member] : value.items())
        if (name != "step" && name != "command" && name != "smtp_step") walk_json(member, depth + 1, own_step);
    } else if (value.is_array()) {
      const bool all_strings = std::all_of(value.begin(), value.end(), [](const auto& item) { return item.is_string(); });
      if (all_strings && !value.empty()) {
        scanner.finish();
        scanner.set_context_step(step);
        for (const auto& item : value) {
          const auto& line_text = item.get_ref<const std::string&>();
          scanner.feed_line(std::string_view(line_text).substr(0, max_line_bytes));
        }
        scanner.finish();
      } else {
        for (const auto& item : value) walk_json(item, depth + 1, step);
      }
    }
  }

  // Splits into lines; a line longer than the bound is handled in pieces
  // of max_line_bytes, so memory stays bounded and no reply is read twice.
  void lines(std::string_view bytes) {
    while (!bytes.empty() && !stopped) {
      const auto newline = bytes.find('\n');
      const auto piece = bytes.substr(0, newline);
      const auto room = max_line_bytes - carry.size();
      if (piece.size() > room) {
        carry.append(piece.substr(0, room));
        if (!in_long_line) ++result.long_lines;
        in_long_line = true;
        line(carry);
        carry.clear();
        bytes.remove_prefix(room);
        continue;
      }
      if (newline == std::string_view::npos) {
        carry.append(piece);
        return;
      }
      if (carry.empty()) {
        line(piece);
      } else {
        carry.append(piece);
        line(carry);
        carry.clear();
      }
      in_long_line = false;
      bytes.remove_prefix(newline + 1);
    }
  }

  void feed(std::string_view bytes) {
    if (stopped || bytes.empty()) return;
    if (result.bytes + bytes.size() >= max_input_bytes) {
      bytes = bytes.substr(0, max_input_bytes - result.bytes);
      stopped = result.stopped_at_limit = true;
    }
    result.bytes += bytes.size();
    if (encoding == Encoding::unknown) {
      // The encoding shows in the first bytes: a BOM, or UTF-16's NULs. It
      // is decided on the same window (utf16_sniff_bytes, or all of a
      // shorter input) however the input is cut into calls.
      start_bytes.append(bytes);
      if (start_bytes.size() < utf16_sniff_bytes && !stopped) return;
      std::string start;
      start.swap(start_bytes);
      choose_encoding(start);
      feed_decoded(start);
      return;
    }
    feed_decoded(bytes);
  }

  void choose_encoding(std::string& start) {
    encoding = Encoding::utf8;
    if (start.compare(0, 3, "\xEF\xBB\xBF") == 0) {
      start.erase(0, 3);
    } else if (start.compare(0, 2, "\xFF\xFE") == 0 || start.compare(0, 2, "\xFE\xFF") == 0) {
      const bool little = start[0] == '\xFF';
      start.erase(0, 2);
      utf16.emplace(little);
      encoding = Encoding::utf16;
      result.encoding = little ? "utf-16le" : "utf-16be";
    } else if (looks_like_utf16le(start)) {
      utf16.emplace(true);
      encoding = Encoding::utf16;
      result.encoding = "utf-16le";
    }
  }

  void feed_decoded(std::string_view bytes) {
    if (utf16) {
      decoded.clear();
      utf16->decode(bytes, decoded);
      bytes = decoded;
    }
    if (!result.binary && std::memchr(bytes.data(), '\0', bytes.size())) result.binary = true;
    if (mode == Mode::detecting) {
      // A sendcheck JSON document starts with '{'.
      std::size_t first = 0;
      while (first < bytes.size() && (bytes[first] == ' ' || bytes[first] == '\t' || bytes[first] == '\r' ||
                                      bytes[first] == '\n'))
        ++first;
      if (first == bytes.size()) {
        lines(bytes);  // only blank so far
        return;
      }
      mode = (bytes[first] == '{' || bytes[first] == '[') ? Mode::json_document : Mode::lines;
    }
    if (mode == Mode::json_document) {
      if (json_document.size() + bytes.size() <= max_json_document_bytes) {
        json_document.append(bytes);
        return;
      }
      // Too big for one document: treat what we have as text.
      mode = Mode::lines;
      lines(json_document);
      std::string().swap(json_document);
    }
    lines(bytes);
  }

  void end() {
    if (encoding == Encoding::unknown) {
      std::string start;
      start.swap(start_bytes);
      choose_encoding(start);
      feed_decoded(start);
    }
    if (mode == Mode::json_document) {
      auto document = nlohmann::json::parse(json_document, nullptr, false);
      if (!document.is_discarded()) {
        walk_json(document, 0);
      } else {
        mode = Mode::lines;
        lines(json_document);
      }
      std::string().swap(json_document);
    }
    if (!carry.empty()) {
      line(carry);
      carry.clear();
    }
    if (!dangling.empty()) {
      std::string held;
      held.swap(dangling);
      physical_line(held);
    }
    flush_bounce();
    scanner.finish();
    if (consumer_login_seen) explain_as_consumer_logins();
    // Failures first, then transient failures, then the rest; within each,
    // replies with a meaning of their own before those with only their
    // code's, then the order of first appearance, except that replies found on one line
    // (one wrapper: "... 5.7.57 Client not authenticated ... Error: 535
    // 5.7.3 ...") go in the order of their SMTP steps, the cause before its
    // consequence. A stable sort keeps the rest as it came.
    std::stable_sort(result.explanations.begin(), result.explanations.end(),
                     [](const Explanation& a, const Explanation& b) {
                       // Lines are numbered in the order they came, so
                       // (severity, line, step) is first appearance but
                       // within a line.
                       if (severity(a) != severity(b)) return severity(a) < severity(b);
                       // A reply with a meaning of its own before one with only
                       // its code's (a forwarder's "550 Error for ..." quoting
                       // the refusal that says why).
                       if (a.meaning.generic() != b.meaning.generic()) return b.meaning.generic();
                       if (a.reply.segment != b.reply.segment) return a.reply.segment < b.reply.segment;
                       return step_rank(a) < step_rank(b);
                     });
  }
};

Explainer::Explainer() : state_(std::make_unique<State>()) {}
Explainer::~Explainer() = default;

void Explainer::feed(std::string_view bytes) { state_->feed(bytes); }

bool Explainer::stopped() const { return state_->stopped; }

Result<ExplainResult> Explainer::finish() {
  state_->end();
  auto& result = state_->result;
  if (result.explanations.empty()) {
    std::string why = result.bytes == 0          ? "the input is empty"
                      : result.json_too_deep    ? "the JSON document nests deeper than " +
                                                   std::to_string(max_json_depth) +
                                                   " levels; sendcheck-explain reads that deep and no further"
                      : result.binary           ? "the input looks like binary data"
                                                : "expected a reply such as '550 5.7.30 Basic authentication is not "
                                                  "supported for Client Submission.'";
    if (result.stopped_at_limit)
      why += "; reading stopped at the input limit (" + std::to_string(max_input_bytes / (1024 * 1024)) + " MiB or " +
             std::to_string(max_input_lines / (1024 * 1024)) + "Mi lines)";
    return bad_input("no SMTP reply found in the input (" + why + ")");
  }
  return std::move(result);
}

Result<ExplainResult> explain_text(std::string_view input) {
  Explainer explainer;
  explainer.feed(input);
  return explainer.finish();
}

std::string join_arguments(const std::vector<std::string>& arguments) {
  std::string joined;
  for (const auto& argument : arguments) {
    const bool starts_reply = argument.size() >= 4 && text::is_digit(argument[0]) && text::is_digit(argument[1]) &&
                              text::is_digit(argument[2]) && (argument[3] == ' ' || argument[3] == '-');
    if (!joined.empty()) joined += starts_reply ? '\n' : ' ';
    joined += argument;
  }
  return joined;
}

Result<ExplainResult> explain_fd(int fd, std::string_view name) {
  Explainer explainer;
  std::vector<char> buffer(read_chunk_bytes);
  while (!explainer.stopped()) {
    const auto n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return unavailable("cannot read " + std::string(name) + ": " + std::strerror(errno));
    }
    explainer.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  return explainer.finish();
}

Result<ExplainResult> explain_file(const std::string& path) {
  if (path == "-") return explain_fd(STDIN_FILENO, "standard input");
  OwnedFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return bad_input("cannot open " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(file.get(), &info) == 0 && S_ISDIR(info.st_mode)) return bad_input(path + " is a directory, not a file");
  // A large log is read once, front to back.
  ::posix_fadvise(file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return explain_fd(file.get(), path);
}

ExitCode exit_code_for(const ExplainResult& result) {
  for (const auto& explanation : result.explanations)
    if (explanation.status() != Status::info) return exit_finding;
  return exit_ok;
}

}  // namespace diag::explain
