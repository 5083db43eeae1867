// The fixture zones (fixtures/zones/APEX.zone), shared by the tests.
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diag/zone.h"

namespace fixtures {

inline std::string source_path(const std::string& relative) { return std::string(SENDCHECK_SOURCE_DIR) + "/" + relative; }

// Every fixture zone file, sorted; each is named after its apex.
inline std::vector<std::string> zone_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(source_path("fixtures/zones")))
    if (entry.path().extension() == ".zone") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

inline std::string apex_of(const std::string& zone_file) {
  const auto name = std::filesystem::path(zone_file).filename().string();
  return name.substr(0, name.size() - std::string(".zone").size());
}

// All fixture zones as one overlay. A fixture that does not parse is a
// broken test setup, not a test result: throw.
inline std::shared_ptr<diag::dns::ZoneOverlay> overlay() {
  auto zones = std::make_shared<diag::dns::ZoneOverlay>();
  for (const auto& file : zone_files()) {
    auto zone = diag::dns::parse_zone_file(file);
    if (!zone) throw std::runtime_error(zone.error().message);
    zones->add(std::move(zone.value()));
  }
  return zones;
}

}  // namespace fixtures
