#include "diag/report.h"
#include "diag/strings.h"

#include "diag/ascii.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

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

std::string_view to_string(VerdictOutcome outcome) {
  switch (outcome) {
    case VerdictOutcome::works: return "works";
    case VerdictOutcome::breaks: return "breaks";
    case VerdictOutcome::unknown: return "unknown";
  }
  return "unknown";
}

nlohmann::json verdict_json(std::string_view kind, VerdictOutcome outcome, std::string_view summary) {
  const int exit_code = outcome == VerdictOutcome::works ? exit_ok : outcome == VerdictOutcome::breaks ? exit_finding : exit_incomplete;
  return {{"verdict", kind}, {"outcome", to_string(outcome)}, {"summary", summary}, {"exit_code", exit_code}};
}

namespace {
// Set when libdiag is loaded, before main(): the start of the run.
const std::time_t process_started = std::time(nullptr);
}  // namespace

std::string run_started_rfc3339() {
  std::tm utc{};
  gmtime_r(&process_started, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

ExitCode Report::exit_code() const {
  bool incomplete = false;
  for (const auto& check : checks_) {
    if (check.status == Status::fail) return exit_finding;
    if (check.status == Status::error) incomplete = true;
  }
  return incomplete ? exit_incomplete : exit_ok;
}

Check& Report::add(Check check) {
  checks_.push_back(std::move(check));
  return checks_.back();
}

Status Report::status() const {
  Status worst = Status::info;
  for (const auto& check : checks_) worst = std::max(worst, check.status);
  return worst;
}

namespace {

// Extra members never replace the contract's own.
bool is_check_contract_key(std::string_view key) {
  return key == "id" || key == "status" || key == "message" || key == "remedy";
}
bool is_report_contract_key(std::string_view key) {
  return key == "tool" || key == "version" || key == "time" || key == "status" || key == "checks";
}

nlohmann::json check_to_json(const Check& check) {
  nlohmann::json item = {{"id", check.id},
                         {"status", to_string(check.status)},
                         {"message", check.message},
                         {"remedy", check.remedy}};
  for (const auto& [key, value] : check.fields.items())
    if (!is_check_contract_key(key)) item[key] = value;
  return item;
}

// RFC 8259 7; bytes that are not valid UTF-8 (a hostile peer's banner)
// become U+FFFD, as nlohmann's error_handler_t::replace does.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      switch (byte) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (byte < 0x20 || byte == 0x7F) {
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
          } else {
            out += static_cast<char>(byte);
          }
      }
      ++i;
      continue;
    }
    char32_t code = 0;
    if (const std::size_t length = strings::utf8_sequence(text.substr(i), &code); length != 0) {
      // Valid JSON either way; escaped, a C1 control or a bidi override
      // cannot act on the terminal of someone who reads the document.
      if (strings::moves_terminal(code)) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += hex[(code >> shift) & 0xF];
      } else {
        out.append(text.substr(i, length));
      }
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out += '"';
}

std::string dump(const nlohmann::json& value) {
  if (value.is_string()) {
    std::string out;
    append_json_string(out, value.get_ref<const std::string&>());
    return out;
  }
  if (value.is_object()) {
    std::string out = "{";
    const char* separator = "";
    for (const auto& [key, element] : value.items()) {
      out += separator;
      append_json_string(out, key);
      out += ": ";
      out += dump(element);
      separator = ", ";
    }
    return out + "}";
  }
  if (value.is_array()) {
    std::string out = "[";
    const char* separator = "";
    for (const auto& element : value) {
      out += separator;
      out += dump(element);
      separator = ", ";
    }
    return out + "]";
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

nlohmann::json Report::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  out["tool"] = tool_;
  out["version"] = version_;
  out["time"] = run_started_rfc3339();
  out["status"] = to_string(status());
  auto& checks = out["checks"] = nlohmann::json::array();
  for (const auto& check : checks_) checks.push_back(check_to_json(check));
  for (const auto& [key, value] : fields_.items())
    if (!is_report_contract_key(key)) out[key] = value;
  return out;
}

std::string Report::to_json_text(const nlohmann::json& extra_fields) const {
  std::string out;
  out.reserve(256 + checks_.size() * 320);
  out += "{\"tool\": ";
  append_json_string(out, tool_);
  out += ", \"version\": ";
  append_json_string(out, version_);
  out += ", \"time\": ";
  append_json_string(out, run_started_rfc3339());
  out += ", \"status\": ";
  append_json_string(out, to_string(status()));
  out += ",\n\"checks\": [";
  // Written by hand, not through a JSON tree: this is the hot path of a
  // run over thousands of domains.
  const char* separator = "\n";
  for (const auto& check : checks_) {
    out += separator;
    out += "{\"id\": ";
    append_json_string(out, check.id);
    out += ", \"status\": ";
    append_json_string(out, to_string(check.status));
    out += ", \"message\": ";
    append_json_string(out, check.message);
    out += ", \"remedy\": ";
    append_json_string(out, check.remedy);
    for (const auto& [key, value] : check.fields.items()) {
      if (is_check_contract_key(key)) continue;
      out += ", ";
      append_json_string(out, key);
      out += ": ";
      out += dump(value);
    }
    out += "}";
    separator = ",\n";
  }
  out += checks_.empty() ? "]" : "\n]";
  auto write_field = [&](const std::string& key, const nlohmann::json& value) {
    out += ",\n";
    append_json_string(out, key);
    out += ": ";
    if (value.is_array() && !value.empty()) {
      separator = "[\n";
      for (const auto& element : value) {
        out += separator;
        out += dump(element);
        separator = ",\n";
      }
      out += "\n]";
    } else {
      out += dump(value);
    }
  };
  for (const auto& [key, value] : fields_.items())
    if (!is_report_contract_key(key) && !(extra_fields.is_object() && extra_fields.contains(key))) write_field(key, value);
  if (extra_fields.is_object())
    for (const auto& [key, value] : extra_fields.items())
      if (!is_report_contract_key(key)) write_field(key, value);
  out += "}\n";
  return out;
}

TextStyle TextStyle::for_stream(std::FILE* stream, bool no_color_option) {
  TextStyle style;
  const char* no_color = std::getenv("NO_COLOR");
  style.color = !no_color_option && !(no_color && *no_color) && isatty(fileno(stream));
  return style;
}

std::string TextStyle::status_label(Status status) const {
  std::string label = ascii::to_upper(to_string(status));
  label.resize(5, ' ');
  return colored(status, label);
}

std::string TextStyle::colored(Status status, std::string_view text) const {
  if (!color) return std::string(text);
  const char* code = "0";
  switch (status) {
    case Status::pass: code = "32"; break;
    case Status::info: code = "36"; break;
    case Status::warn: code = "33"; break;
    case Status::fail: code = "1;31"; break;
    case Status::error: code = "1;35"; break;
  }
  return std::string("\x1b[") + code + "m" + std::string(text) + "\x1b[0m";
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
    // Messages quote what peers sent (banners, replies, names): never raw to a terminal.
    out += std::string(indent) + style.status_label(check.status) + " " + strings::terminal_safe(check.message, true) + "\n";
    if (!check.remedy.empty()) out += std::string(indent) + "      -> " + strings::terminal_safe(check.remedy, true) + "\n";
  }
  return out;
}

std::string json_text(const nlohmann::json& value) { return dump(value); }

}  // namespace diag
