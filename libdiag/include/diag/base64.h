// RFC 4648 base64: SASL payloads (AUTH PLAIN, LOGIN, XOAUTH2), RFC 2047
// encoded words. Shared by the SMTP engine and the OAuth module.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace diag {

std::string base64_encode(std::string_view data);
// nullopt for a character outside the alphabet; trailing '=' is optional.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace diag
