// One rule for a test whose outside peer (a program, a package, root, a
// built tool, a data file) is missing: under CI=true that is a broken setup
// and the test fails; elsewhere it is skipped with a warning that says what
// is missing.
#pragma once

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

namespace testing_support {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Fails the test under CI=true (FAIL throws); otherwise warns and returns,
// and the caller returns (or continues with the next section).
inline void skip_or_fail(const std::string& missing) {
  if (in_ci()) FAIL("CI=true but " << missing);
  WARN("skipped: " << missing);
}

// A name for DYNAMIC_SECTION. Catch2 v2's console reporter indents the
// wrapped lines of a section header past its first ": "; when that is near
// the 79-column edge, no text fits and the reporter prints "-" forever (CI
// died of std::bad_alloc in ctest collecting it). Data-driven names keep
// their words with the colons made dashes.
inline std::string section_title(std::string name) {
  for (std::size_t at = name.find(": "); at != std::string::npos; at = name.find(": ", at)) name.replace(at, 2, " - ");
  return name;
}

}  // namespace testing_support
