// libFuzzer target: the explain scanner, which reads any text a user pastes
// (logs, NDRs, transcripts, sendcheck JSON): diag::explain::explain_text and
// the incremental Explainer fed in two pieces.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/explain.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto whole = diag::explain::explain_text(text);
  if (whole) {
    (void)diag::explain::exit_code_for(*whole);
    (void)diag::explain::checks(*whole);
    // The tools serialize with error_handler_t::replace (report.cpp, listen):
    // reply text is raw peer bytes, not necessarily UTF-8.
    (void)diag::explain::matches_json(*whole).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)diag::explain::render_text(*whole, diag::TextStyle{}, true);
  } else if (whole.error().message.empty()) {
    __builtin_trap();
  }

  // "A line may span calls": cut the input at a point chosen by its first byte.
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  diag::explain::Explainer explainer;
  explainer.feed(text.substr(0, cut));
  explainer.feed(text.substr(cut));
  const auto pieces = explainer.finish();
  // Where the input is cut must not change what is found (a reply may
  // straddle the read boundary; UTF-16 may be split in a code unit).
  if (whole.ok() != pieces.ok()) __builtin_trap();
  if (whole && (whole->replies != pieces->replies || whole->explanations.size() != pieces->explanations.size()))
    __builtin_trap();
  return 0;
}
