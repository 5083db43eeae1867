// Internationalized domain names as admins type them: "bücher.example" is
// asked in DNS as its A-label form "xn--bcher-kva.example" (RFC 5890 2.3.2.1).
// The conversion is IDNA 2008 (RFC 5891) with the UTS #46 non-transitional
// mapping, as browsers and mail systems apply it, done by libidn2.
#pragma once

#include <string>
#include <string_view>

#include "diag/result.h"

namespace diag::idna {

// Whether text is all ASCII (nothing to convert).
bool is_ascii(std::string_view text);

// The A-label form of a domain typed in Unicode (UTF-8), in lower case;
// ASCII text is returned as it is, for the caller's own checks. A name that
// IDNA 2008 does not allow is bad input with libidn2's reason:
// `domain "☃.example" is not a valid internationalized domain name: ...`.
Result<std::string> to_ascii(std::string_view domain);

// The U-label form of a domain that holds A-labels that decode
// ("bücher.example" for "xn--bcher-kva.example"), else the domain as it is.
std::string to_unicode(std::string_view domain);

// A domain for people to read: "xn--bcher-kva.example (bücher.example)"
// when it holds A-labels that decode, else the domain as it is.
std::string display(std::string_view domain);

}  // namespace diag::idna
