// `sendcheck --version`: our version, then c-ares, OpenSSL and libcurl as
// the process loaded them. The expected versions come from the same
// libraries loaded into this test, not from the headers built against, since
// the point of the listing is what runs (an installed package takes them
// from the system).
#include <ares.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "diag/version.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

namespace {

const std::string front_tool = smtp_testing::bin_dir + "/sendcheck";

struct VersionListing {
  std::string first_line;
  std::map<std::string, std::string> libraries;  // "c-ares" -> "1.18.1"
};

// "sendcheck 0.1.0" then one "NAME   VERSION" line a library.
VersionListing parse_listing(const std::string& out) {
  VersionListing listing;
  std::istringstream lines(out);
  std::getline(lines, listing.first_line);
  for (std::string line; std::getline(lines, line);) {
    const auto name_end = line.find(' ');
    const auto version_start = line.find_first_not_of(' ', name_end);
    if (name_end == std::string::npos || version_start == std::string::npos) continue;
    listing.libraries[line.substr(0, name_end)] = line.substr(version_start);
  }
  return listing;
}

std::string openssl_version_loaded() {
  const std::string full = OpenSSL_version(OPENSSL_VERSION);  // "OpenSSL 3.0.17 1 Jul 2025"
  REQUIRE(full.rfind("OpenSSL ", 0) == 0);
  return full.substr(std::string("OpenSSL ").size());
}

}  // namespace

TEST_CASE("sendcheck --version lists c-ares, OpenSSL and libcurl as loaded at run time", "[version]") {
  const auto result = smtp_testing::run_program({front_tool, "--version"});
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.err.empty());
  const auto listing = parse_listing(result.out);
  CHECK(listing.first_line == "sendcheck " + std::string(diag::version));
  CHECK(listing.libraries.size() == 3);
  CHECK(listing.libraries.count("c-ares") == 1);
  CHECK(listing.libraries.count("OpenSSL") == 1);
  CHECK(listing.libraries.count("libcurl") == 1);
  CHECK(listing.libraries.at("c-ares") == ares_version(nullptr));
  CHECK(listing.libraries.at("OpenSSL") == openssl_version_loaded());
  CHECK(listing.libraries.at("libcurl") == curl_version_info(CURLVERSION_NOW)->version);
}

TEST_CASE("sendcheck --version without a loadable libcurl says what it is needed for and exits 0", "[version]") {
  // An invalid libcurl.so.4 found first on LD_LIBRARY_PATH makes dlopen fail
  // as on a system without libcurl4; the tools link the others directly.
  const fixtures::TemporaryDirectory libraries("no-curl");
  libraries.write("libcurl.so.4", "not a shared object\n");
  const auto result =
      smtp_testing::run_program({"env", "LD_LIBRARY_PATH=" + libraries.path(), front_tool, "--version"});
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.err.empty());
  const auto listing = parse_listing(result.out);
  CHECK(listing.first_line == "sendcheck " + std::string(diag::version));
  REQUIRE(listing.libraries.count("libcurl") == 1);
  CHECK_THAT(listing.libraries.at("libcurl"), Catch::StartsWith("not found (needed only for OAuth tokens"));
  CHECK(listing.libraries.at("c-ares") == ares_version(nullptr));
}
