// Reading the input in bounded pieces, recognising a sendcheck JSON document,
// and collecting the replies into distinct explanations.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "diag/explain.h"
#include "text.h"

namespace diag::explain {
namespace {

constexpr std::size_t max_kept_reply_bytes = 2048;  // of each distinct reply's text, for the report
constexpr std::size_t max_listed_values = 16;       // IPs and steps listed per explanation
constexpr int max_json_depth = 64;
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

void add_distinct(std::vector<std::string>& values, const std::string& value) {
  if (value.empty() || values.size() >= max_listed_values) return;
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

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
  return !reply.enhanced.empty() && reply.enhanced[0] == '5';
}

Status Explanation::status() const {
  const int status_class = reply.code ? reply.code / 100 : (reply.enhanced.empty() ? 0 : reply.enhanced[0] - '0');
  if (status_class == 5) return Status::fail;
  if (status_class == 4) return Status::warn;
  return Status::info;
}

struct Explainer::State {
  enum class Mode { detecting, json_document, lines };

  ExplainResult result;
  ReplyScanner scanner{[this](SmtpReply&& reply) { add(std::move(reply)); }};
  Mode mode = Mode::detecting;
  std::string carry;          // the start of a line that continues in the next piece
  bool in_long_line = false;  // the current line passed max_line_bytes
  std::string json_document;  // the input while it may be one JSON document
  std::unordered_map<std::string, std::size_t> by_reply;    // dedupe key -> explanation
  std::unordered_map<std::string, std::size_t> by_meaning;  // meaning id -> first explanation
  std::string key;                                          // reused for every reply

  void add(SmtpReply&& reply) {
    ++result.replies;
    ReplyDetails details;
    const std::string reply_text = extract_details(reply.text, details);
    key.assign(std::to_string(reply.code)).append("|").append(reply.enhanced).append("|");
    append_dedupe_key(key, reply_text);
    if (auto found = by_reply.find(key); found != by_reply.end()) {
      count(result.explanations[found->second], details, reply.step);
      return;
    }
    Meaning meaning = explain_reply(reply.code, reply.enhanced, reply_text, details);
    if (result.explanations.size() >= max_distinct_replies) {
      // Past the bound, count the reply under an explanation with the same
      // meaning, so memory stays bounded whatever the input holds.
      if (auto same = by_meaning.find(meaning.id); same != by_meaning.end()) {
        ++result.aggregated_by_meaning;
        count(result.explanations[same->second], details, reply.step);
        return;
      }
    }
    Explanation explanation;
    explanation.reply.code = reply.code;
    explanation.reply.enhanced = std::move(reply.enhanced);
    explanation.reply.text = printable(reply_text);
    explanation.reply.raw = printable(reply.raw);
    explanation.reply.step = reply.step;
    explanation.details = details;
    explanation.meaning = std::move(meaning);
    count(explanation, details, reply.step);
    by_meaning.emplace(explanation.meaning.id, result.explanations.size());
    if (result.explanations.size() < max_distinct_replies) by_reply.emplace(key, result.explanations.size());
    result.explanations.push_back(std::move(explanation));
  }

  static void count(Explanation& explanation, const ReplyDetails& details, const std::string& step) {
    ++explanation.count;
    add_distinct(explanation.ips, details.ip);
    add_distinct(explanation.steps, step);
  }

  void line(std::string_view text_line) {
    ++result.lines;
    const auto trimmed = text::trim(text_line);
    // JSON Lines (one document a line, as some mail systems log).
    if (!trimmed.empty() && trimmed.front() == '{' && trimmed.back() == '}') {
      auto document = nlohmann::json::parse(trimmed, nullptr, false);
      if (!document.is_discarded()) {
        scanner.finish();
        walk_json(document, 0);
        return;
      }
    }
    scanner.feed_line(text_line);
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
    if (depth > max_json_depth) return;
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
    while (!bytes.empty()) {
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
    result.bytes += bytes.size();
    if (!result.binary && std::memchr(bytes.data(), '\0', bytes.size())) result.binary = true;
    if (mode == Mode::detecting) {
      // A sendcheck JSON document starts with '{' (a UTF-8 BOM aside).
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
    scanner.finish();
  }
};

Explainer::Explainer() : state_(std::make_unique<State>()) {}
Explainer::~Explainer() = default;

void Explainer::feed(std::string_view bytes) { state_->feed(bytes); }

Result<ExplainResult> Explainer::finish() {
  state_->end();
  auto& result = state_->result;
  if (result.explanations.empty()) {
    std::string why = result.bytes == 0 ? "the input is empty"
                      : result.binary   ? "the input looks like binary data"
                                        : "expected a reply such as '550 5.7.30 Basic authentication is not "
                                          "supported for Client Submission.'";
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
  for (;;) {
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
    if (explanation.meaning.generic() && explanation.status() != Status::info) return exit_finding;
  return exit_ok;
}

}  // namespace diag::explain
