// Joining words and list items for messages and remedies; the separator of
// a CSV file a spreadsheet wrote.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace diag::strings {

// The items with separator between them; an empty item at the start adds
// no separator, so optional leading parts need no special case.
inline std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// The first `limit` items, comma-separated, and ", ..." when there are more:
// a list cut for one line of a report.
inline std::string join_first(const std::vector<std::string>& items, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ...";
  return out;
}

// The column separator of a CSV file from its first line: ';' when it has
// more semicolons than commas outside quotes (a spreadsheet saved in a
// locale whose decimal mark is the comma: German, French, ...), else ','.
inline char csv_separator(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::size_t commas = 0, semicolons = 0;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    else if (!quoted && (c == '\n' || c == '\r')) break;
    else if (!quoted && c == ',') ++commas;
    else if (!quoted && c == ';') ++semicolons;
  }
  return semicolons > commas ? ';' : ',';
}

// The length of the well-formed UTF-8 sequence that text starts with
// (RFC 3629 4: no overlong forms, no surrogates, nothing above U+10FFFF),
// and its code point in *code; 0 when text does not start with one.
std::size_t utf8_sequence(std::string_view text, char32_t* code = nullptr);

// Text a peer sent, fit for a terminal: C0 and C1 control characters
// (ESC, BEL, CSI 0x9b), DEL, bidirectional overrides (U+202E) and bytes
// that are not UTF-8 escaped as \xNN or \u{NNNN}, so that a banner or an
// EHLO name cannot move the cursor, retitle the window or reorder a line.
// Newlines are kept when keep_newlines (a report's own line breaks).
std::string terminal_safe(std::string_view text, bool keep_newlines = false);

// A value taken from input (a user name from a sign-in log) as one word of a
// printed command: as it is when it holds only characters no shell treats
// specially, else in single quotes (POSIX sh, with ' as '\''), so that the
// command runs as shown and nothing in the value runs with it.
std::string shell_word(std::string_view value);
// The same for PowerShell: single quotes, with ' doubled.
std::string powershell_word(std::string_view value);

// The words of a line, separated by blanks (spaces or tabs).
std::vector<std::string_view> split_words(std::string_view text);

// A C1 control (U+0080-U+009F) or a bidirectional mark or override: code
// points that move or reorder what a terminal shows.
bool moves_terminal(char32_t code);

// Optimal string alignment distance (Damerau-Levenshtein without reuse):
// the swapped neighbors of "prefligth" cost one edit, not two.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace diag::strings
