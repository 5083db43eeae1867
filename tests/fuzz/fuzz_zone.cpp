// libFuzzer target: zone file text (diag::dns::parse_zone_text), the format
// of --zone files and every fixture the offline tools read.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto zone = diag::dns::parse_zone_text(text, "fuzz.zone");
  if (!zone) {
    // Outcomes are data: a rejected zone always says why.
    if (zone.error().message.empty()) __builtin_trap();
    return 0;
  }
  // Presentation of every accepted record must not fail either.
  for (const auto& record : zone->records) (void)record.data_text();
  // Parsing again with an explicit origin exercises the relative-name paths.
  (void)diag::dns::parse_zone_text(text, "fuzz.zone", "fuzz.example");
  return 0;
}
