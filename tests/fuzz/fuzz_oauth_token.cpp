// libFuzzer target: the token endpoint's answer (diag::oauth::parse_token_response).
// The first byte picks the HTTP status, so error replies are read too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/oauth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr long statuses[] = {200, 400, 401, 403, 500, 302, 0, 204};
  const long status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto token = diag::oauth::parse_token_response(status, body);
  if (token) {
    if (status != 200) __builtin_trap();  // only a 200 carries a token
    if (token->access_token.empty() || token->access_token.size() > 64 * 1024) __builtin_trap();
    for (char c : token->access_token)
      if (c <= ' ' || c >= 0x7f) __builtin_trap();  // it goes into an SMTP line
    if (token->expires_in < 0) __builtin_trap();
  } else {
    for (char c : token.error().message)
      if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();  // one printable line
  }
  return 0;
}
