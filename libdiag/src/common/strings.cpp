#include "diag/strings.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace diag::strings {
namespace {

// U+200E-U+200F, U+202A-U+202E, U+2066-U+2069: marks and overrides that
// reorder what a terminal shows.
bool is_bidi_control(char32_t code) {
  return code == 0x200E || code == 0x200F || (code >= 0x202A && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069);
}

}  // namespace

bool moves_terminal(char32_t code) { return (code >= 0x80 && code <= 0x9F) || is_bidi_control(code); }

std::size_t utf8_sequence(std::string_view text, char32_t* code) {
  if (text.empty()) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  const std::size_t length = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (length == 0 || text.size() < length) return 0;
  char32_t value = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if ((length == 3 && (value < 0x800 || (value >= 0xD800 && value <= 0xDFFF))) || (length == 4 && (value < 0x10000 || value > 0x10FFFF)))
    return 0;
  if (code) *code = value;
  return length;
}

namespace {
bool plain_word(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@' || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '%' || c == ':' || c == '/' || c == ',' || c == '=';
  });
}

std::string single_quoted(std::string_view value, std::string_view quote_inside) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += quote_inside;
    else out += c;
  }
  return out + "'";
}
}  // namespace

std::string shell_word(std::string_view value) {
  return plain_word(value) ? std::string(value) : single_quoted(value, "'\\''");
}

std::string powershell_word(std::string_view value) {
  // PowerShell reads a leading '-' or '@' as syntax too: quote those.
  // A ',' makes an array of an argument.
  if (plain_word(value) && value.front() != '-' && value.front() != '@' && value.find(',') == std::string_view::npos)
    return std::string(value);
  // PowerShell takes the typographic single quotes (U+2018 to U+201B) for
  // ' too: each is doubled as ' is, so none ends the string.
  std::string out = "'";
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\'') {
      out += "''";
    } else if (i + 2 < value.size() && value.compare(i, 2, "\xE2\x80") == 0 &&
               static_cast<unsigned char>(value[i + 2]) >= 0x98 && static_cast<unsigned char>(value[i + 2]) <= 0x9B) {
      out.append(value.substr(i, 3)).append(value.substr(i, 3));
      i += 2;
    } else {
      out += value[i];
    }
  }
  return out + "'";
}

std::string terminal_safe(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  char escaped[16];
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7F) {
        std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
        out += escaped;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    char32_t code = 0;
    const std::size_t length = utf8_sequence(text.substr(i), &code);
    if (length == 0) {
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
      ++i;
    } else if (moves_terminal(code)) {
      std::snprintf(escaped, sizeof escaped, "\\u{%04x}", static_cast<unsigned>(code));
      out += escaped;
      i += length;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

}  // namespace diag::strings
