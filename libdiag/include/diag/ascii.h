// ASCII case handling for protocol text (DNS names, SMTP keywords): never
// locale-dependent, which std::tolower on a char is.
#pragma once

#include <string>
#include <string_view>

namespace diag::ascii {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
inline char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

inline std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower(c);
  return out;
}

inline std::string to_upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = upper(c);
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// What std::isspace accepts in the "C" locale.
inline constexpr std::string_view c_locale_space = " \t\n\v\f\r";

// text without the given characters at either end (by default the
// whitespace of protocol lines).
inline std::string_view trim(std::string_view text, std::string_view chars = " \t\r\n") {
  const auto first = text.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(chars) - first + 1);
}

// Text from a peer shown to a person: control characters (and DEL) could
// drive the terminal, so each becomes '?', except those in `keep`.
inline std::string mask_controls(std::string text, std::string_view keep = {}) {
  for (char& c : text)
    if ((static_cast<unsigned char>(c) < 0x20 || c == 0x7f) && keep.find(c) == std::string_view::npos) c = '?';
  return text;
}

}  // namespace diag::ascii
