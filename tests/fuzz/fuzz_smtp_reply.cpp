// libFuzzer target: SMTP replies from a peer (diag::smtp::ReplyAssembler,
// parse_reply) and the EHLO extension list (parse_ehlo). Lines are split on
// CR LF as the connection does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/smtp.h"

namespace {

void use_reply(const diag::smtp::Reply& reply) {
  (void)reply.text();
  (void)reply.raw();
  const auto extensions = diag::smtp::parse_ehlo(reply);
  (void)extensions.offers_auth("XOAUTH2");
  for (const auto& line : reply.lines) (void)diag::smtp::leading_enhanced_code(line, reply.code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Small max_lines so the bound is reached by short inputs too.
  diag::smtp::ReplyAssembler assembler(8);
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find("\r\n", start);
    const std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    switch (assembler.feed(line)) {
      case diag::smtp::ReplyAssembler::Step::more:
        break;
      case diag::smtp::ReplyAssembler::Step::complete: {
        const auto reply = assembler.take();
        if (reply.code < 100 || reply.code > 999) __builtin_trap();  // "ddd" is three digits
        if (reply.lines.empty()) __builtin_trap();
        use_reply(reply);
        break;
      }
      case diag::smtp::ReplyAssembler::Step::error:
        // A protocol violation always says what it was; the connection is
        // dropped after one, so the fuzzer starts over too.
        if (assembler.error().empty()) __builtin_trap();
        return 0;
    }
    if (end == std::string_view::npos) break;
    start = end + 2;
  }

  const auto whole = diag::smtp::parse_reply(text);
  if (whole) use_reply(*whole);
  return 0;
}
