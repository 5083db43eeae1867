// libFuzzer target: DNS messages as our code reads them
// (diag::dns::wire::decode_message). What decodes must encode again and
// decode to the same questions and answers: the decoder never produces a
// name or record the encoder refuses (the same invariant as the
// deterministic fuzz loop in tests/test_wire.cpp).
#include <cstddef>
#include <cstdint>
#include <span>

#include "diag/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace wire = diag::dns::wire;
  const auto decoded = wire::decode_message(std::span<const std::uint8_t>(data, size));
  if (!decoded) {
    if (decoded.error().message.empty()) __builtin_trap();
    return 0;
  }
  const auto again = wire::encode_message(*decoded);
  if (again.empty()) __builtin_trap();
  const auto redecoded = wire::decode_message(again);
  if (!redecoded) __builtin_trap();
  if (redecoded->answers != decoded->answers) __builtin_trap();
  if (redecoded->questions.size() != decoded->questions.size()) __builtin_trap();
  // Truncation to a small UDP size must not crash either (TC path).
  (void)wire::encode_message(*decoded, 512);
  return 0;
}
