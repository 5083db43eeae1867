// libFuzzer target: the sendcheck-preflight --batch CSV reader
// (diag::preflight::parse_csv, RFC 4180).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/preflight.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto records = diag::preflight::parse_csv(text, "fuzz.csv");
  if (!records) {
    // Documented contract: a malformed record is bad input naming NAME:LINE.
    if (!records.error().message.starts_with("fuzz.csv:")) __builtin_trap();
    return 0;
  }
  int previous_line = 0;
  for (const auto& record : *records) {
    if (record.line <= previous_line) __builtin_trap();  // records start on increasing lines
    previous_line = record.line;
  }
  return 0;
}
