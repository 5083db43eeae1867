// libFuzzer target: SPF records (diag::spf::parse_record) and macro-strings
// (check_macro_string, expand_macros), as published in DNS by anyone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "diag/ip.h"
#include "diag/spf.h"

namespace {

diag::spf::MacroContext fuzz_context(bool v6) {
  diag::spf::MacroContext context;
  context.sender = "strong-bad@email.example.com";
  context.local_part = "strong-bad";
  context.sender_domain = "email.example.com";
  context.domain = "email.example.com";
  context.ip = *diag::IpAddress::parse(v6 ? "2001:db8::cb01" : "192.0.2.3");
  context.helo = "mx.example.org";
  context.receiver = "receiver.example.net";
  context.timestamp = 1700000000;
  context.validated_name = "mx.example.org";  // expand_macros precondition for %{p}
  return context;
}

// Expands only what check_macro_string accepts: that is the documented
// precondition of expand_macros.
void check_and_expand(std::string_view text, const diag::spf::MacroContext& context) {
  using diag::spf::MacroUse;
  for (const MacroUse use : {MacroUse::domain_spec, MacroUse::explanation}) {
    const auto error = diag::spf::check_macro_string(text, use);
    if (error) {
      (void)error->to_string();
      continue;
    }
    (void)diag::spf::uses_macro(text, 'p');
    (void)diag::spf::expand_macros(text, context, use);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto context = fuzz_context(size % 2 == 1);

  (void)diag::spf::is_spf_record(text);
  const diag::spf::ParsedRecord record = diag::spf::parse_record(text);
  if (record.error) {
    // RFC 7208 4.6: a syntax error is reported with a position in the record.
    if (record.error->position > size) __builtin_trap();
    (void)record.error->to_string();
  }
  if (record.redirect && *record.redirect >= record.terms.size()) __builtin_trap();
  if (record.explanation && *record.explanation >= record.terms.size()) __builtin_trap();
  for (const auto& term : record.terms) {
    (void)term.queries_dns();
    if (!term.domain_spec.empty()) check_and_expand(term.domain_spec, context);
    if (!term.value.empty()) check_and_expand(term.value, context);
  }

  // The input as a bare macro-string (an exp= TXT record is one).
  check_and_expand(text, context);
  (void)diag::spf::parse_network(text);
  (void)diag::spf::is_valid_check_domain(text);
  return 0;
}
