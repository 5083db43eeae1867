#include "text.h"

#include <algorithm>

namespace diag::explain::text {

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && iequals(text.substr(text.size() - suffix.size()), suffix);
}

std::size_t ifind(std::string_view text, std::string_view needle, std::size_t from) {
  if (needle.empty()) return from <= text.size() ? from : std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= text.size(); ++i)
    if (lower(text[i]) == lower(needle[0]) && iequals(text.substr(i, needle.size()), needle)) return i;
  return std::string_view::npos;
}

bool glob_contains(std::string_view lower_text, std::string_view lower_pattern) {
  std::size_t at = 0;
  while (!lower_pattern.empty()) {
    const auto star = lower_pattern.find('*');
    const auto piece = lower_pattern.substr(0, star);
    if (!piece.empty()) {
      const auto found = lower_text.find(piece, at);
      if (found == std::string_view::npos) return false;
      at = found + piece.size();
    }
    if (star == std::string_view::npos) break;
    lower_pattern.remove_prefix(star + 1);
  }
  return true;
}

namespace {

// Reads 1 to 3 digits; returns the count read.
std::size_t read_number(std::string_view text, std::size_t at, int& value) {
  std::size_t n = 0;
  value = 0;
  while (at + n < text.size() && n < 4 && is_digit(text[at + n])) value = value * 10 + (text[at + n++] - '0');
  return (n >= 1 && n <= 3) ? n : 0;
}

}  // namespace

std::size_t enhanced_code_length(std::string_view text) {
  if (text.size() < 5) return 0;
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') return 0;
  if (text[1] != '.') return 0;
  int value = 0;
  const auto subject = read_number(text, 2, value);
  if (!subject || 2 + subject >= text.size() || text[2 + subject] != '.') return 0;
  const auto detail = read_number(text, 3 + subject, value);
  if (!detail) return 0;
  const auto end = 3 + subject + detail;
  if (end == text.size()) return end;
  const char next = text[end];
  if (is_digit(next) || is_alpha(next) || next == '_' || next == '-') return 0;
  if (next == '.' && end + 1 < text.size() && is_digit(text[end + 1])) return 0;
  return end;
}

std::optional<EnhancedCode> parse_enhanced(std::string_view text) {
  if (enhanced_code_length(text) != text.size()) return std::nullopt;
  EnhancedCode code;
  code.status_class = text[0] - '0';
  std::size_t at = 2;
  at += read_number(text, at, code.subject) + 1;
  read_number(text, at, code.detail);
  return code;
}

std::string normalize_step(std::string_view command) {
  command = trim(command);
  struct StepName {
    std::string_view prefix, step;
  };
  // Longer prefixes first: "end of data" before "data".
  static constexpr StepName steps[] = {
      {"end of data", "end of DATA"}, {"pipelined end of data", "end of DATA"},
      {"data end", "end of DATA"},    // PHPMailer's "DATA END command failed"
      {"mail from", "MAIL FROM"},     {"mail", "MAIL FROM"},
      {"rcpt", "RCPT TO"},            {"pipelined rcpt", "RCPT TO"}, {"pipelined mail", "MAIL FROM"},
      {"pipelined data", "DATA"},     {"data", "DATA"},           {"bdat", "BDAT"},
      {"ehlo", "EHLO"},               {"helo", "HELO"},           {"lhlo", "LHLO"},
      {"starttls", "STARTTLS"},       {"auth", "AUTH"},           {"quit", "QUIT"},
      {"rset", "RSET"},               {"noop", "NOOP"},           {"vrfy", "VRFY"},
      {"initial greeting", "greeting"}, {"initial connection", "greeting"}, {"greeting", "greeting"},
  };
  if (command == ".") return "end of DATA";
  for (const auto& [prefix, step] : steps) {
    if (!istarts_with(command, prefix)) continue;
    // A whole word: "database" is not DATA, "authorized" is not AUTH.
    if (command.size() > prefix.size() && is_alpha(command[prefix.size()])) continue;
    return std::string(step);
  }
  return {};
}

}  // namespace diag::explain::text
