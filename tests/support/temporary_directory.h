// A directory under /tmp for one test's files, removed with everything in
// it when the test ends.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace fixtures {

class TemporaryDirectory {
 public:
  // mkdtemp: a fresh name no other process or test can have taken.
  explicit TemporaryDirectory(const std::string& purpose = "test") {
    std::string pattern = (std::filesystem::temp_directory_path() / ("sendcheck-" + purpose + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  // Writes contents (bytes as given) to NAME in the directory; returns its path.
  std::string write(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << contents;
    return file.string();
  }
  std::string file(const std::string& name, const std::string& contents) const { return write(name, contents); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace fixtures
