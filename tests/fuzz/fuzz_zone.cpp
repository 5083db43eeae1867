// libFuzzer target: zone file text (diag::dns::parse_zone_text), the format
// of --zone files and every fixture the offline tools read, and the overlay
// answering from what was accepted (wildcards, cuts, CNAME chains).
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
  } else {
    // Presentation of every accepted record must not fail either.
    for (const auto& record : zone->records) (void)record.data_text();
    (void)zone->skipped_summary();
  }
  // Parsing again with an explicit origin exercises the relative-name paths,
  // and the overlay answers for every owner and a name below each.
  const auto rooted = diag::dns::parse_zone_text(text, "fuzz.zone", "fuzz.example");
  if (!rooted) return 0;
  diag::dns::ZoneOverlay overlay;
  overlay.add(*rooted);
  for (const auto& record : rooted->records) {
    for (const auto& name : {record.owner, "x." + record.owner}) {
      if (!overlay.covers(name)) continue;
      (void)overlay.answer(name, diag::dns::RrType::TXT);
      (void)overlay.answer(name, diag::dns::RrType::A);
    }
  }
  return 0;
}
