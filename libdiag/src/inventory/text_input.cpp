#include "text_input.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include "diag/strings.h"

namespace diag::inventory::detail {
namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

constexpr std::uint32_t replacement_character = 0xFFFD;

}  // namespace

Result<Utf8TextSource> Utf8TextSource::open_file(const std::string& path, const InputLimits& limits) {
  Utf8TextSource source(path, limits);
  source.file_.reset(std::fopen(path.c_str(), "rb"));
  if (!source.file_) return bad_input("cannot read " + path + ": " + std::strerror(errno));
  return source;
}

Utf8TextSource Utf8TextSource::from_text(std::string_view text, std::string name, const InputLimits& limits) {
  Utf8TextSource source(std::move(name), limits);
  source.text_ = text;
  return source;
}

Result<std::size_t> Utf8TextSource::read_raw(char* buffer, std::size_t size) {
  std::size_t got = 0;
  if (file_) {
    got = std::fread(buffer, 1, size, file_.get());
    if (got < size && std::ferror(file_.get())) return bad_input("cannot read " + name_ + ": read error");
  } else {
    got = std::min(size, text_.size());
    std::memcpy(buffer, text_.data(), got);
    text_.remove_prefix(got);
  }
  raw_bytes_ += got;
  if (raw_bytes_ > limits_.max_file_bytes)
    return bad_input(name_ + ": larger than " + std::to_string(limits_.max_file_bytes) + " bytes; split the export");
  return got;
}

void Utf8TextSource::decode(std::string_view raw, std::string& out, bool at_end) {
  std::string bytes = std::move(pending_);
  pending_.clear();
  bytes.append(raw);
  std::size_t start = 0;
  if (encoding_ == Encoding::unknown) {
    if (bytes.size() < 3 && !at_end) {  // a BOM may still be arriving
      pending_ = std::move(bytes);
      return;
    }
    const auto byte = [&](std::size_t i) { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0x100u; };
    if (byte(0) == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF) {
      encoding_ = Encoding::utf8, start = 3;
    } else if (byte(0) == 0xFF && byte(1) == 0xFE) {
      encoding_ = Encoding::utf16le, start = 2;
    } else if (byte(0) == 0xFE && byte(1) == 0xFF) {
      encoding_ = Encoding::utf16be, start = 2;
    } else if (bytes.size() >= 2 && byte(0) != 0 && byte(1) == 0) {
      encoding_ = Encoding::utf16le;  // UTF-16LE without a BOM: ASCII text with every other byte zero
    } else if (bytes.size() >= 2 && byte(0) == 0 && byte(1) != 0) {
      encoding_ = Encoding::utf16be;
    } else {
      encoding_ = Encoding::utf8;
    }
  }
  if (encoding_ == Encoding::utf8) {
    out.append(bytes, start, std::string::npos);
    return;
  }
  const bool little = encoding_ == Encoding::utf16le;
  std::size_t i = start;
  for (; i + 1 < bytes.size(); i += 2) {
    const auto b0 = static_cast<unsigned char>(bytes[i]), b1 = static_cast<unsigned char>(bytes[i + 1]);
    const std::uint32_t unit = little ? (b0 | (b1 << 8)) : ((b0 << 8) | b1);
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (high_surrogate_) append_utf8(out, replacement_character);
      high_surrogate_ = unit;
      continue;
    }
    if (unit >= 0xDC00 && unit <= 0xDFFF) {
      if (high_surrogate_) {
        append_utf8(out, 0x10000 + ((high_surrogate_ - 0xD800) << 10) + (unit - 0xDC00));
        high_surrogate_ = 0;
      } else {
        append_utf8(out, replacement_character);
      }
      continue;
    }
    if (high_surrogate_) append_utf8(out, replacement_character), high_surrogate_ = 0;
    append_utf8(out, unit);
  }
  if (i < bytes.size()) pending_.assign(bytes, i, std::string::npos);
  if (at_end && (!pending_.empty() || high_surrogate_)) {
    append_utf8(out, replacement_character);
    pending_.clear();
    high_surrogate_ = 0;
  }
}

Result<bool> Utf8TextSource::next(std::string& out) {
  if (!pushed_back_.empty()) {
    out += pushed_back_;
    pushed_back_.clear();
    return true;
  }
  char buffer[chunk_bytes];
  auto got = read_raw(buffer, sizeof buffer);
  if (!got) return got.error();
  const bool at_end = *got == 0;
  if (at_end && pending_.empty() && !high_surrogate_) return false;
  const std::size_t before = out.size();
  decode(std::string_view(buffer, *got), out, at_end);
  if (encoding_ == Encoding::utf8 && std::memchr(out.data() + before, '\0', out.size() - before))
    return bad_input(name_ + ": holds NUL bytes: not a text export (save it as CSV, JSON or text)");
  return !at_end || out.size() > before;
}

Result<std::string> read_all(Utf8TextSource& source, std::size_t limit) {
  std::string text;
  while (true) {
    auto more = source.next(text);
    if (!more) return more.error();
    if (text.size() > limit) return bad_input(source.name() + ": larger than " + std::to_string(limit) + " bytes");
    if (!*more) return text;
  }
}

Result<bool> CsvReader::fill() {
  if (at_end_) return false;
  buffer_.erase(0, position_);
  position_ = 0;
  auto more = source_.next(buffer_);
  if (!more) return more.error();
  if (!*more) at_end_ = true;
  return *more;
}

Result<std::optional<std::vector<std::string>>> CsvReader::next() {
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, after_quote = false, any = false;
  std::size_t record_bytes = 0;
  record_line_ = line_;
  if (!separator_) {
    if (position_ >= buffer_.size()) {
      auto more = fill();
      if (!more) return more.error();
    }
    separator_ = strings::csv_separator(std::string_view(buffer_).substr(position_));
  }
  const auto error = [&](const std::string& what) {
    return bad_input(source_.name() + ": line " + std::to_string(record_line_) + ": " + what);
  };
  while (true) {
    if (position_ >= buffer_.size()) {
      auto more = fill();
      if (!more) return more.error();
      if (!*more) {
        if (quoted) return error("a quoted field is never closed");
        if (!any) return std::optional<std::vector<std::string>>();
        record.push_back(std::move(field));
        return std::optional<std::vector<std::string>>(std::move(record));
      }
    }
    const char c = buffer_[position_++];
    any = true;
    if (++record_bytes > limits_.max_record_bytes)
      return error("a record longer than " + std::to_string(limits_.max_record_bytes) + " bytes");
    if (quoted) {
      if (c == '"') {
        quoted = false, after_quote = true;
      } else {
        if (c == '\n') ++line_;
        field.push_back(c);
      }
    } else if (c == '"') {
      // RFC 4180 2.7: "" inside a quoted field is one quote; a quote in the
      // middle of an unquoted field is kept as it is (tolerated).
      if (after_quote) field.push_back('"');
      if (field.empty() || after_quote) quoted = true, after_quote = false;
      else field.push_back('"');
    } else if (c == separator_) {
      record.push_back(std::move(field));
      field.clear();
      after_quote = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r') {
        if (position_ >= buffer_.size()) {
          auto more = fill();
          if (!more) return more.error();
        }
        if (position_ < buffer_.size() && buffer_[position_] == '\n') ++position_;
      }
      ++line_;
      record.push_back(std::move(field));
      return std::optional<std::vector<std::string>>(std::move(record));
    } else {
      field.push_back(c);
      after_quote = false;
    }
    if (field.size() > limits_.max_field_bytes)
      return error("a field longer than " + std::to_string(limits_.max_field_bytes) + " bytes");
  }
}

std::string normalize_column_name(std::string_view name) {
  // A UTF-8 BOM that a tool wrote in front of every file it concatenated.
  if (name.substr(0, 3) == "\xEF\xBB\xBF") name.remove_prefix(3);
  const auto trimmed = to_lower(trim(name));
  std::string normalized;
  for (const char c : trimmed) {
    if (c == ' ' && !normalized.empty() && normalized.back() == ' ') continue;
    normalized.push_back(c);
  }
  return normalized;
}

CsvColumns::CsvColumns(const std::vector<std::string>& header) : original_(header) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    auto name = normalize_column_name(header[i]);
    if (!find(name)) columns_.emplace_back(std::move(name), i);  // the first of duplicates
  }
}

std::optional<std::size_t> CsvColumns::find(std::string_view name) const {
  const auto wanted = normalize_column_name(name);
  for (const auto& [column, index] : columns_)
    if (column == wanted) return index;
  return std::nullopt;
}

std::string_view CsvColumns::get(const std::vector<std::string>& record, std::string_view name) const {
  const auto index = find(name);
  if (!index || *index >= record.size()) return {};
  return record[*index];
}

std::string CsvColumns::found_list(std::size_t limit) const {
  std::string list;
  for (std::size_t i = 0; i < original_.size() && i < limit; ++i)
    list += (i ? ", \"" : "\"") + std::string(trim(original_[i])) + "\"";
  if (original_.size() > limit) list += ", ... (" + std::to_string(original_.size()) + " columns)";
  if (original_.empty()) list = "none";
  return list;
}

Result<std::optional<std::vector<std::string>>> read_header(CsvReader& reader) {
  while (true) {
    auto record = reader.next();
    if (!record || !*record) return record;
    const auto& fields = **record;
    if (fields.size() == 1 && trim(fields[0]).empty()) continue;  // blank line
    if (!fields.empty() && fields[0].rfind("#TYPE", 0) == 0) continue;
    return record;
  }
}

Error missing_columns_error(const std::string& name, std::string_view what, const CsvColumns& columns,
                            const std::vector<std::string>& expected) {
  std::string missing, wanted;
  for (const auto& column : expected) {
    wanted += (wanted.empty() ? "\"" : ", \"") + column + "\"";
    if (!columns.has(column)) missing += (missing.empty() ? "\"" : ", \"") + column + "\"";
  }
  return bad_input(name + ": not " + std::string(what) + ": missing column(s) " + missing + "; expected " + wanted +
                   "; found " + columns.found_list() +
                   " (only the English column names are read: export with the portal or PowerShell in English)");
}

PsBool parse_ps_bool(std::string_view text) {
  const auto value = to_lower(trim(text));
  if (value.empty()) return PsBool::empty;
  if (value == "true" || value == "$true") return PsBool::is_true;
  if (value == "false" || value == "$false") return PsBool::is_false;
  return PsBool::invalid;
}

std::optional<std::chrono::sys_seconds> parse_time(std::string_view text) {
  text = trim(text);
  const auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-') return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  std::chrono::sys_seconds time = std::chrono::sys_days(date);
  if (text.size() == 10) return time;
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  const auto hour = digits(11, 2), minute = digits(14, 2);
  if (!hour || !minute || text[13] != ':' || *hour > 23 || *minute > 59) return std::nullopt;
  int second = 0;
  std::size_t at = 16;
  if (at < text.size() && text[at] == ':') {
    const auto s = digits(17, 2);
    if (!s || *s > 60) return std::nullopt;
    second = std::min(*s, 59);
    at = 19;
  }
  if (at < text.size() && text[at] == '.') {
    ++at;
    if (at >= text.size() || text[at] < '0' || text[at] > '9') return std::nullopt;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  }
  time += std::chrono::hours(*hour) + std::chrono::minutes(*minute) + std::chrono::seconds(second);
  if (at == text.size()) return time;  // no zone: the exports' times are UTC
  if ((text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) return time;
  if ((text[at] == '+' || text[at] == '-') && at + 6 == text.size() && text[at + 3] == ':') {
    const auto offset_hours = digits(at + 1, 2), offset_minutes = digits(at + 4, 2);
    if (!offset_hours || !offset_minutes) return std::nullopt;
    const auto offset = std::chrono::hours(*offset_hours) + std::chrono::minutes(*offset_minutes);
    return text[at] == '+' ? time - offset : time + offset;
  }
  return std::nullopt;
}

std::string format_time(std::chrono::sys_seconds time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::hh_mm_ss clock{time - day};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%sT%02d:%02d:%02dZ", format_date(day).c_str(),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return buffer;
}

std::string format_date(std::chrono::sys_days day) {
  const std::chrono::year_month_day date{day};
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buffer;
}

}  // namespace diag::inventory::detail
