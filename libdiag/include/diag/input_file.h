// Files a person writes for a tool: a list (one entry a line, for --file;
// a blocklist key file is one too, its first entry the key, so that it may
// hold comments) and a secret (--password-file, --client-secret-file,
// --oauth-token-file). One reader each, so that every list and every secret
// follows the same rules, whichever editor saved it: Notepad and PowerShell
// start UTF-8 files with a byte-order mark and end lines with CRLF.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "diag/result.h"

namespace diag {

// A file a person named, opened for reading (binary: the readers handle
// CRLF themselves). Bad input names the file, WHAT it was to be and the
// system's reason: "FILE: cannot read the batch file: No such file or
// directory"; a directory says "Is a directory", which opening alone does
// not tell (an ifstream opens a directory and then reads nothing).
Result<std::ifstream> open_input_file(const std::string& path, std::string_view what);
// For a read that failed after the file opened: the same message.
Error input_read_error(const std::string& path, std::string_view what);

struct ListLine {
  std::size_t number = 0;  // 1-based, for "FILE:LINE: message"
  std::string text;        // trimmed, never empty
};

inline constexpr std::size_t max_list_line = 1024;

// The entries of a list file: a UTF-8 byte-order mark and line ends (LF or
// CRLF) are dropped, '#' starts a comment, blanks and tabs around an entry
// are trimmed, blank lines skipped. A line over max_list_line bytes is bad
// input ("FILE:N: line too long"), as is an unreadable file
// ("FILE: cannot read the WHAT: reason"). An empty list is not an error
// here: the caller knows whether one is.
Result<std::vector<ListLine>> read_list_lines(const std::string& path, std::string_view what);

inline constexpr std::size_t max_secret_bytes = 64 * 1024;

// A secret from a file: the first line, without its line end (LF or CRLF)
// and without a UTF-8 byte-order mark; nothing else is trimmed, since a
// password may start or end with a blank. More than max_secret_bytes before
// the line end, an empty first line or an unreadable file is bad input, and
// the error names the file and WHAT ("password", "Spamhaus DQS key"), never
// the content.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace diag
