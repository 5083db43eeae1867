// Small text helpers shared by the explain module: ASCII case folding,
// enhanced status codes, SMTP step names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "diag/ascii.h"

namespace diag::explain::text {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
using ascii::iequals;
using ascii::lower;
using ascii::to_lower;
using ascii::trim;

bool istarts_with(std::string_view text, std::string_view prefix);
bool iends_with(std::string_view text, std::string_view suffix);
std::size_t ifind(std::string_view text, std::string_view needle, std::size_t from = 0);

// '*' in the pattern matches any run; the pattern may occur anywhere in the
// text. Both are already lower case.
bool glob_contains(std::string_view lower_text, std::string_view lower_pattern);

// RFC 3463 2: class "." subject "." detail; class 2, 4 or 5, subject and
// detail 1 to 3 digits.
struct EnhancedCode {
  int status_class = 0, subject = 0, detail = 0;
};
std::optional<EnhancedCode> parse_enhanced(std::string_view text);
// Length of an enhanced code at the start of text, 0 when there is none.
// The code must end the text or be followed by a character that cannot
// continue it (so "5.7.1.2" and "2.0.0a" are not codes).
std::size_t enhanced_code_length(std::string_view text);

// "rcpt to:<a@b>" -> "RCPT TO", "end of data" -> "end of DATA", "." ->
// "end of DATA", "initial connection" -> "greeting"; "" when not a step.
std::string normalize_step(std::string_view command);

}  // namespace diag::explain::text

namespace diag::explain {
struct ReplyDetails;
// extract_details without deciding the sender: the explainer decides it
// once per distinct reply, not once per line of a large log.
std::string extract_details_unclassified(std::string_view text, ReplyDetails& details);
}  // namespace diag::explain
