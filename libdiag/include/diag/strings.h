// Joining words and list items for messages and remedies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace diag::strings {

// The items with separator between them; an empty item at the start adds
// no separator, so optional leading parts need no special case.
inline std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace diag::strings
