#include "diag/toolbox.h"

#include <ares.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "diag/curl_runtime.h"

namespace diag::toolbox {
namespace {

struct KnownTool {
  std::string_view name;
  std::string_view summary;
};

constexpr KnownTool known_tools[] = {
#include "../../data/tools.inc"
};

constexpr std::string_view prefix = "sendcheck-";

bool is_executable_file(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

std::vector<std::string> search_directories(const std::string& self_dir, std::string_view path_env) {
  std::vector<std::string> directories;
  if (!self_dir.empty()) directories.push_back(self_dir);
  std::size_t start = 0;
  while (start <= path_env.size()) {
    const auto end = std::min(path_env.find(':', start), path_env.size());
    // POSIX: an empty PATH entry means the current directory; we skip it
    // rather than run tools from wherever the user happens to be.
    if (end > start) directories.emplace_back(path_env.substr(start, end - start));
    start = end + 1;
  }
  return directories;
}

std::string_view summary_for(std::string_view name) {
  for (const auto& tool : known_tools)
    if (tool.name == name) return tool.summary;
  return "";
}

// libcurl's version, or nullopt when it cannot be loaded.
std::optional<std::string> loaded_curl_version() {
  const curl::Library& library = curl::library();
  if (!library.loaded()) return std::nullopt;
  const curl_version_info_data* info = library.version_info(CURLVERSION_NOW);
  if (!info || !info->version) return std::nullopt;
  return std::string(info->version);
}

// "OpenSSL 3.0.17 1 Jul 2025" -> "3.0.17 1 Jul 2025": the name is a column of its own.
std::string without_prefix(std::string text, std::string_view prefix_text) {
  if (text.rfind(prefix_text, 0) == 0) text.erase(0, prefix_text.size());
  return text;
}

}  // namespace

bool is_valid_tool_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name.front() != '-' &&
         std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string own_directory() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string() : self.parent_path().string();
}

std::optional<std::string> find_tool(std::string_view name, const std::string& self_dir, std::string_view path_env) {
  if (!is_valid_tool_name(name)) return std::nullopt;
  const std::string file = std::string(prefix) + std::string(name);
  for (const auto& directory : search_directories(self_dir, path_env)) {
    const auto candidate = std::filesystem::path(directory) / file;
    if (is_executable_file(candidate)) return candidate.string();
  }
  return std::nullopt;
}

std::vector<ToolEntry> list_tools(const std::string& self_dir, std::string_view path_env) {
  std::vector<ToolEntry> found;
  for (const auto& directory : search_directories(self_dir, path_env)) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind(prefix, 0) != 0) continue;
      const std::string name = file.substr(prefix.size());
      if (!is_valid_tool_name(name) || !is_executable_file(entry.path())) continue;
      if (std::any_of(found.begin(), found.end(), [&](const ToolEntry& t) { return t.name == name; })) continue;
      found.push_back({name, entry.path().string(), std::string(summary_for(name))});
    }
  }
  auto rank = [](const ToolEntry& tool) {
    for (std::size_t i = 0; i < std::size(known_tools); ++i)
      if (known_tools[i].name == tool.name) return i;
    return std::size(known_tools);
  };
  std::sort(found.begin(), found.end(), [&](const ToolEntry& a, const ToolEntry& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a.name < b.name;
  });
  return found;
}

std::vector<LibraryVersion> library_versions() {
  std::vector<LibraryVersion> versions;
  versions.push_back({"c-ares", ares_version(nullptr)});
  versions.push_back({"OpenSSL", without_prefix(OpenSSL_version(OPENSSL_VERSION), "OpenSSL ")});
  // libcurl is not a link dependency (see curl_runtime.h): a system without
  // it runs every check but the two that fetch over HTTPS.
  versions.push_back({"libcurl", loaded_curl_version().value_or(
                                     "not found (needed only for OAuth tokens and the HTTPS egress check)")});
  return versions;
}

}  // namespace diag::toolbox
