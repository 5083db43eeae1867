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

}  // namespace testing_support
