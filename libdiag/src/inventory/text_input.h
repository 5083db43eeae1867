// Reading the files admins export: any of the encodings Windows tools write
// (UTF-8 with or without a BOM, UTF-16 with a BOM as PowerShell 5.1's
// Export-Csv and Out-File write it), decoded to UTF-8 in bounded chunks, and
// RFC 4180 CSV on top of it, one record at a time.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/ascii.h"
#include "diag/inventory.h"
#include "diag/result.h"

namespace diag::inventory::detail {

class Utf8TextSource {
 public:
  static Result<Utf8TextSource> open_file(const std::string& path, const InputLimits& limits);
  static Utf8TextSource from_text(std::string_view text, std::string name, const InputLimits& limits);

  // Appends the next decoded chunk to out; false at the end of the input.
  Result<bool> next(std::string& out);
  const std::string& name() const { return name_; }
  // Decoded text that next() returns first (what a caller read to look at
  // the format before handing the source on).
  void push_back(std::string decoded) { pushed_back_ = std::move(decoded); }

 private:
  enum class Encoding { unknown, utf8, utf16le, utf16be };
  Utf8TextSource(std::string name, const InputLimits& limits) : name_(std::move(name)), limits_(limits) {}
  Result<std::size_t> read_raw(char* buffer, std::size_t size);
  void decode(std::string_view raw, std::string& out, bool at_end);

  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string name_;
  InputLimits limits_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string_view text_;  // from_text: the rest of the text
  Encoding encoding_ = Encoding::unknown;
  std::string pushed_back_;
  std::string pending_;    // bytes of an incomplete UTF-16 unit or BOM
  std::uint32_t high_surrogate_ = 0;
  std::uint64_t raw_bytes_ = 0;
};

// RFC 4180: quoted fields may hold commas, quotes ("") and line breaks;
// records end with CRLF, LF or CR. Lines starting with "#TYPE" before the
// header (PowerShell 5.1's Export-Csv without -NoTypeInformation) are skipped
// by the callers.
class CsvReader {
 public:
  CsvReader(Utf8TextSource& source, const InputLimits& limits) : source_(source), limits_(limits) {}
  // The next record; nullopt at the end of the input.
  Result<std::optional<std::vector<std::string>>> next();
  // The line on which the last record returned started (1-based).
  std::uint64_t record_line() const { return record_line_; }

 private:
  Result<bool> fill();
  Utf8TextSource& source_;
  InputLimits limits_;
  std::string buffer_;
  std::size_t position_ = 0;
  bool at_end_ = false;
  // From the header line: ',' as Entra and PowerShell write it, ';' when a
  // spreadsheet in a German or French locale saved the file again.
  char separator_ = 0;
  std::uint64_t line_ = 1, record_line_ = 0;
};

// The header as a name -> index map, names compared after trimming,
// lower-casing and collapsing runs of spaces ("Application ID " and
// "Autonomous system  number" appear so in real exports).
class CsvColumns {
 public:
  explicit CsvColumns(const std::vector<std::string>& header);
  std::optional<std::size_t> find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name).has_value(); }
  // The field of this column, or empty when the column is absent or the
  // record is short.
  std::string_view get(const std::vector<std::string>& record, std::string_view name) const;
  // '"Date (UTC)", "Request ID", ...' (at most limit names), for errors.
  std::string found_list(std::size_t limit = 12) const;

 private:
  std::vector<std::pair<std::string, std::size_t>> columns_;
  std::vector<std::string> original_;
};
std::string normalize_column_name(std::string_view name);

// Reads the first non-comment record of a CSV (the header).
Result<std::optional<std::vector<std::string>>> read_header(CsvReader& reader);

// Missing columns as a one-line error naming the found and expected ones,
// and saying that only the English names are read.
Error missing_columns_error(const std::string& name, std::string_view what, const CsvColumns& columns,
                            const std::vector<std::string>& expected);

using ascii::to_lower;
using ascii::trim;
// "True"/"False" as PowerShell writes them (any case); empty = unset ($null).
enum class PsBool { is_true, is_false, empty, invalid };
PsBool parse_ps_bool(std::string_view text);
// ISO 8601 / RFC 3339 time ("2026-11-30T08:19:41Z", fractions, offsets, a
// space instead of T, no zone meaning UTC); nullopt otherwise.
std::optional<std::chrono::sys_seconds> parse_time(std::string_view text);
std::string format_time(std::chrono::sys_seconds time);  // RFC 3339 UTC
std::string format_date(std::chrono::sys_days day);

// Whole decoded text of a small input (bounded by limit bytes).
Result<std::string> read_all(Utf8TextSource& source, std::size_t limit);

}  // namespace diag::inventory::detail
