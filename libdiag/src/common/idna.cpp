#include "diag/idna.h"

#include "diag/ascii.h"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace diag::idna {

namespace {
// libidn2 allocates its results with malloc.
struct FreeDeleter {
  void operator()(char* text) const { std::free(text); }
};
using Idn2String = std::unique_ptr<char, FreeDeleter>;
}  // namespace

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

Result<std::string> to_ascii(std::string_view domain) {
  if (is_ascii(domain)) return std::string(domain);
  const std::string shown(domain);
  // The input is not NUL-terminated; a NUL inside it is no domain either.
  if (shown.find('\0') != std::string::npos) return bad_input("domain \"" + shown + "\" contains a NUL byte");
  char* raw = nullptr;
  // UTS #46 non-transitional (ß and ς stay as they are, as IDNA 2008 says),
  // after NFC: what a person types on any keyboard maps to one name.
  const int status = idn2_to_ascii_8z(shown.c_str(), &raw, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  Idn2String converted(raw);
  if (status != IDN2_OK)
    return bad_input("domain \"" + shown + "\" is not a valid internationalized domain name: " + idn2_strerror(status));
  return ascii::to_lower(converted.get());
}

std::string to_unicode(std::string_view domain) {
  const std::string ascii(domain);
  const bool has_a_label = ascii.rfind("xn--", 0) == 0 || ascii.find(".xn--") != std::string::npos;
  if (!has_a_label || ascii.find('\0') != std::string::npos) return ascii;
  char* raw = nullptr;
  const int status = idn2_to_unicode_8z8z(ascii.c_str(), &raw, 0);
  Idn2String unicode(raw);
  if (status != IDN2_OK || !unicode) return ascii;
  return unicode.get();
}

std::string display(std::string_view domain) {
  const std::string unicode = to_unicode(domain);
  return unicode == domain ? unicode : std::string(domain) + " (" + unicode + ")";
}

}  // namespace diag::idna
