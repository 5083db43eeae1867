#include "diag/report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace diag {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::pass: return "pass";
    case Status::info: return "info";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::error: return "error";
  }
  return "error";
}

ExitCode exit_code_for(Status status) {
  switch (status) {
    case Status::fail: return exit_finding;
    case Status::error: return exit_incomplete;
    default: return exit_ok;
  }
}

Check& Report::add(Check check) {
  checks_.push_back(std::move(check));
  return checks_.back();
}

Status Report::status() const {
  if (checks_.empty()) return Status::info;
  Status worst = Status::pass;
  for (const auto& check : checks_) worst = std::max(worst, check.status);
  return worst;
}

namespace {

nlohmann::json check_to_json(const Check& check) {
  nlohmann::json item = {{"id", check.id},
                         {"status", to_string(check.status)},
                         {"message", check.message},
                         {"remedy", check.remedy}};
  for (const auto& [key, value] : check.fields.items()) item[key] = value;
  return item;
}

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

nlohmann::json Report::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  out["tool"] = tool_;
  out["version"] = version_;
  out["status"] = to_string(status());
  auto& checks = out["checks"] = nlohmann::json::array();
  for (const auto& check : checks_) checks.push_back(check_to_json(check));
  for (const auto& [key, value] : fields_.items()) out[key] = value;
  return out;
}

std::string Report::to_json_text() const {
  std::string out = "{\"tool\": " + dump(tool_) + ", \"version\": " + dump(version_) +
                    ", \"status\": " + dump(std::string(to_string(status()))) + ",\n\"checks\": [";
  const char* separator = "\n";
  for (const auto& check : checks_) {
    out += separator + dump(check_to_json(check));
    separator = ",\n";
  }
  out += checks_.empty() ? "]" : "\n]";
  for (const auto& [key, value] : fields_.items()) {
    if (key == "tool" || key == "version" || key == "status" || key == "checks") continue;
    out += ",\n" + dump(key) + ": ";
    if (value.is_array() && !value.empty()) {
      separator = "[\n";
      for (const auto& element : value) {
        out += separator + dump(element);
        separator = ",\n";
      }
      out += "\n]";
    } else {
      out += dump(value);
    }
  }
  return out + "}\n";
}

TextStyle TextStyle::for_stream(std::FILE* stream, bool no_color_option) {
  TextStyle style;
  const char* no_color = std::getenv("NO_COLOR");
  style.color = !no_color_option && !(no_color && *no_color) && isatty(fileno(stream));
  return style;
}

std::string TextStyle::status_label(Status status) const {
  std::string label(to_string(status));
  std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return std::toupper(c); });
  label.resize(5, ' ');
  if (!color) return label;
  const char* code = "0";
  switch (status) {
    case Status::pass: code = "32"; break;
    case Status::info: code = "36"; break;
    case Status::warn: code = "33"; break;
    case Status::fail: code = "1;31"; break;
    case Status::error: code = "1;35"; break;
  }
  return std::string("\x1b[") + code + "m" + label + "\x1b[0m";
}

std::string TextStyle::bold(std::string_view text) const {
  return color ? "\x1b[1m" + std::string(text) + "\x1b[0m" : std::string(text);
}

std::string TextStyle::dim(std::string_view text) const {
  return color ? "\x1b[2m" + std::string(text) + "\x1b[0m" : std::string(text);
}

std::string render_checks_text(const std::vector<Check>& checks, const TextStyle& style, std::string_view indent) {
  std::string out;
  for (const auto& check : checks) {
    out += std::string(indent) + style.status_label(check.status) + " " + check.message + "\n";
    if (!check.remedy.empty()) out += std::string(indent) + "      -> " + check.remedy + "\n";
  }
  return out;
}

}  // namespace diag
