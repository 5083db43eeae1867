#include "diag/input_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace diag {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

}  // namespace

Error input_read_error(const std::string& path, std::string_view what) {
  const int reason = errno ? errno : EIO;
  return bad_input(path + ": cannot read the " + std::string(what) + ": " + std::strerror(reason));
}

Result<std::ifstream> open_input_file(const std::string& path, std::string_view what) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    errno = EISDIR;
    return input_read_error(path, what);
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return input_read_error(path, what);
  return in;
}

Result<std::vector<ListLine>> read_list_lines(const std::string& path, std::string_view what) {
  auto opened = open_input_file(path, what);
  if (!opened) return opened.error();
  std::ifstream& in = *opened;
  std::vector<ListLine> lines;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (number == 1 && line.starts_with(utf8_bom)) line.erase(0, utf8_bom.size());
    if (line.size() > max_list_line) return bad_input(path + ":" + std::to_string(number) + ": line too long");
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    lines.push_back(ListLine{number, line.substr(first, last - first + 1)});
  }
  if (in.bad()) return input_read_error(path, what);
  return lines;
}

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
  const std::string named = path + ": the " + std::string(what) + " file";
  const std::string file_what = std::string(what) + " file";
  auto opened = open_input_file(path, file_what);
  if (!opened) return opened.error();
  std::ifstream& in = *opened;
  std::string line;
  char c;
  while (in.get(c) && c != '\n') {
    if (line.size() >= max_secret_bytes + utf8_bom.size())
      return bad_input(named + " has a first line over " + std::to_string(max_secret_bytes / 1024) + " KB");
    line += c;
  }
  if (in.bad()) return input_read_error(path, file_what);
  if (line.starts_with(utf8_bom)) line.erase(0, utf8_bom.size());
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > max_secret_bytes)
    return bad_input(named + " has a first line over " + std::to_string(max_secret_bytes / 1024) + " KB");
  if (line.empty()) return bad_input(named + " has nothing on its first line");
  return line;
}

}  // namespace diag
