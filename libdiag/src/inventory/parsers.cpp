// The files an admin already has, read by their real English column names.
// Sources of the layouts:
// - Entra admin center > Sign-in logs > Download (CSV): the columns as real
//   downloads carry them ("Date (UTC)", "Request ID", "User agent", ...,
//   "Username", ..., "IP address", "Location", "Status", "Sign-in error
//   code", "Failure reason", "Client app", ...), as seen in field copies of
//   InteractiveSignIns_*.csv / NonInteractiveSignIns_*.csv; how to download:
//   https://learn.microsoft.com/entra/identity/monitoring-health/howto-download-logs
// - The JSON download and Graph pages: signIn objects,
//   https://learn.microsoft.com/graph/api/resources/signin
// - getEmailAppUsageUserDetail CSV:
//   https://learn.microsoft.com/graph/api/reportroot-getemailappusageuserdetail
// - EAC SMTP AUTH clients report columns:
//   https://learn.microsoft.com/exchange/monitoring/mail-flow-reports/mfr-smtp-auth-clients-report
// - SmtpClientAuthenticationDisabled (Get-CASMailbox, Get-TransportConfig):
//   https://learn.microsoft.com/powershell/module/exchangepowershell/set-casmailbox
//   https://learn.microsoft.com/powershell/module/exchangepowershell/set-transportconfig
// - AllowBasicAuthSmtp:
//   https://learn.microsoft.com/powershell/module/exchangepowershell/set-authenticationpolicy
#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "diag/inventory.h"
#include "diag/ip.h"
#include "diag/strings.h"
#include "text_input.h"

namespace diag::inventory {
using namespace detail;
namespace {

constexpr std::string_view authenticated_smtp = "Authenticated SMTP";
constexpr std::size_t small_input_limit = 16 * 1024 * 1024;  // settings files

std::string at_line(const std::string& name, std::uint64_t line) { return name + ": line " + std::to_string(line); }

bool is_authenticated_smtp(std::string_view client_app) {
  return to_lower(trim(client_app)) == to_lower(authenticated_smtp);
}

Interactivity interactivity_from_name(const std::string& name) {
  const auto lower = to_lower(name);
  if (lower.find("noninteractive") != std::string::npos) return Interactivity::non_interactive;
  if (lower.find("interactive") != std::string::npos) return Interactivity::interactive;
  return Interactivity::unknown;
}

// A download's counts before its rows: the portal names each after its tab
// (InteractiveSignIns_..., NonInteractiveSignIns_...).
SignInFileCounts counts_named(const std::string& name) {
  SignInFileCounts counts;
  const auto interactivity = interactivity_from_name(name);
  counts.interactive = interactivity == Interactivity::interactive;
  counts.non_interactive = interactivity == Interactivity::non_interactive;
  return counts;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  text = trim(text);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "1,234" and "1 234" as the EAC may format counts.
std::optional<std::int64_t> parse_count(std::string_view text) {
  std::string digits;
  for (const char c : trim(text))
    if (c != ',' && c != ' ' && c != '\xA0') digits.push_back(c);
  if (digits.empty()) return 0;
  return parse_integer(digits);
}

std::optional<double> parse_percent(std::string_view text) {
  std::string number(trim(text));
  if (!number.empty() && number.back() == '%') number.pop_back();
  if (trim(number).empty()) return 0.0;
  try {
    std::size_t used = 0;
    const double value = std::stod(number, &used);
    if (used != number.size() || value < 0 || value > 100.0001) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Reads a CSV export: the header (check_header returns an error for a
// wrong layout), then every non-blank record handed to on_row with its
// "FILE: line N" prefix. Returns how many rows on_row accepted.
template <typename CheckHeader, typename OnRow>
Result<std::size_t> read_csv_rows(Utf8TextSource& source, const InputLimits& limits, std::string_view what,
                                  CheckHeader check_header, OnRow on_row) {
  CsvReader reader(source, limits);
  auto header = read_header(reader);
  if (!header) return header.error();
  if (!*header) return bad_input(source.name() + ": empty file: expected " + std::string(what));
  const CsvColumns columns(**header);
  if (std::optional<Error> wrong = check_header(columns)) return *wrong;
  std::size_t accepted = 0;
  while (true) {
    auto record = reader.next();
    if (!record) return record.error();
    if (!*record) return accepted;
    const auto& fields = **record;
    if (fields.size() == 1 && trim(fields[0]).empty()) continue;
    const auto where = at_line(source.name(), reader.record_line());
    // A cut or damaged row (an interrupted download or copy) would read as
    // a row of another client app, or with shifted columns: refused, so no
    // sender is lost unseen. Empty fields after the last column are a
    // trailing delimiter, harmless.
    const std::size_t width = (**header).size();
    const bool extra_empty = fields.size() > width && std::all_of(fields.begin() + static_cast<std::ptrdiff_t>(width), fields.end(),
                                                                  [](const std::string& field) { return trim(field).empty(); });
    if (fields.size() != width && !extra_empty)
      return bad_input(where + ": " + std::to_string(fields.size()) + (fields.size() == 1 ? " field" : " fields") +
                       " where the header has " + std::to_string(width) + " (a cut or damaged row)");
    Result<bool> taken = on_row(columns, fields, where);
    if (!taken) return taken.error();
    accepted += *taken ? 1 : 0;
  }
}

// ---- sign-in log: CSV ----
Result<SignInFileCounts> parse_signin_csv(Utf8TextSource& source, const SignInSink& sink, const InputLimits& limits) {
  const std::vector<std::string> required = {"Date (UTC)", "Username", "IP address", "Client app", "Sign-in error code"};
  const auto check_header = [&](const CsvColumns& columns) -> std::optional<Error> {
    for (const auto& column : required)
      if (!columns.has(column) && !(column == "Sign-in error code" && columns.has("Status")))
        return missing_columns_error(source.name(), "an Entra sign-in log download (CSV)", columns, required);
    return std::nullopt;
  };
  const auto interactivity = interactivity_from_name(source.name());
  SignInFileCounts counts = counts_named(source.name());
  auto read = read_csv_rows(source, limits, "an Entra sign-in log download", check_header,
                       [&](const CsvColumns& columns, const std::vector<std::string>& fields,
                           const std::string& where) -> Result<bool> {
    const auto field = [&](std::string_view column) { return std::string(trim(columns.get(fields, column))); };
    ++counts.sign_ins;
    if (!is_authenticated_smtp(field("Client app"))) return false;
    SignIn signin;
    signin.source = SourceKind::signin_export_csv;
    signin.interactivity = interactivity;
    signin.client_app = field("Client app");
    // Whatever was typed at the sign-in: control characters would forge
    // report lines, so they are kept escaped (\x0a) from here on.
    signin.user = strings::terminal_safe(field("Username"));
    signin.ip = field("IP address");
    if (!signin.ip.empty() && !IpAddress::parse(signin.ip))
      return bad_input(where + ": \"IP address\" is not an IP address: \"" + signin.ip + "\"");
    signin.user_agent = field("User agent");
    if (columns.has("Request ID")) signin.request_id = field("Request ID");
    signin.failure_reason = field("Failure reason");
    const auto time = parse_time(field("Date (UTC)"));
    if (!time) return bad_input(where + ": \"Date (UTC)\" is not an ISO 8601 time: \"" + field("Date (UTC)") + "\"");
    signin.time = *time;
    if (signin.user.empty()) return bad_input(where + ": \"Username\" is empty");
    const auto code_text = field("Sign-in error code");
    const auto status = to_lower(field("Status"));
    if (!code_text.empty()) {
      const auto code = parse_integer(code_text);
      if (!code) return bad_input(where + ": \"Sign-in error code\" is not a number: \"" + code_text + "\"");
      signin.error_code = *code;
    } else if (status == "success") {
      signin.error_code = 0;
    } else if (status == "failure" || status == "interrupted") {
      signin.error_code = -1;  // failed, code not given
    } else {
      return bad_input(where + ": neither \"Sign-in error code\" nor \"Status\" says whether the sign-in succeeded");
    }
    sink(signin);
    return true;
  });
  if (!read) return read.error();
  counts.authenticated_smtp = *read;
  return counts;
}

// ---- sign-in log: JSON (the portal's download, or a Graph page) ----
Interactivity json_interactivity(const nlohmann::json& object) {
  auto interactivity = Interactivity::unknown;
  if (const auto interactive = object.find("isInteractive"); interactive != object.end() && interactive->is_boolean())
    interactivity = interactive->get<bool>() ? Interactivity::interactive : Interactivity::non_interactive;
  if (const auto types = object.find("signInEventTypes"); types != object.end() && types->is_array()) {
    for (const auto& type : *types)
      if (type == "nonInteractiveUser") interactivity = Interactivity::non_interactive;
      else if (type == "interactiveUser") interactivity = Interactivity::interactive;
  }
  return interactivity;
}

Result<std::optional<SignIn>> signin_from_json(const nlohmann::json& object, const std::string& where) {
  if (!object.is_object()) return bad_input(where + ": not a JSON object");
  if (!object.contains("clientAppUsed") && !object.contains("userPrincipalName"))
    return bad_input(where + ": not a sign-in (no \"clientAppUsed\" or \"userPrincipalName\"): expected signIn objects "
                             "as Graph and the Entra admin center's JSON download write them");
  const auto string_of = [&](const char* key) -> std::string {
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
  };
  if (!is_authenticated_smtp(string_of("clientAppUsed"))) return std::optional<SignIn>();
  SignIn signin;
  signin.interactivity = json_interactivity(object);
  signin.client_app = string_of("clientAppUsed");
  signin.user = strings::terminal_safe(trim(string_of("userPrincipalName")));
  signin.ip = std::string(trim(string_of("ipAddress")));
  if (!signin.ip.empty() && !IpAddress::parse(signin.ip))
    return bad_input(where + ": \"ipAddress\" is not an IP address: \"" + signin.ip + "\"");
  signin.user_agent = string_of("userAgent");
  signin.request_id = string_of("id");
  const auto time = parse_time(string_of("createdDateTime"));
  if (!time) return bad_input(where + ": \"createdDateTime\" is missing or not an ISO 8601 time");
  signin.time = *time;
  if (signin.user.empty()) return bad_input(where + ": \"userPrincipalName\" is empty");
  const auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return bad_input(where + ": no \"status\" object");
  const auto code = status->find("errorCode");
  if (code == status->end() || !code->is_number_integer()) return bad_input(where + ": \"status.errorCode\" is not a number");
  signin.error_code = code->get<std::int64_t>();
  if (const auto reason = status->find("failureReason"); reason != status->end() && reason->is_string())
    signin.failure_reason = reason->get<std::string>();
  return std::optional<SignIn>(std::move(signin));
}

// Counts one sign-in object of any client app, and its log.
void count_json_signin(const nlohmann::json& object, SignInFileCounts& counts) {
  ++counts.sign_ins;
  const auto interactivity = object.is_object() ? json_interactivity(object) : Interactivity::unknown;
  counts.interactive |= interactivity == Interactivity::interactive;
  counts.non_interactive |= interactivity == Interactivity::non_interactive;
}

Result<bool> deliver_json_element(const nlohmann::json& element, const std::string& where, const SignInSink& sink,
                                  SignInFileCounts& counts) {
  auto signin = signin_from_json(element, where);
  if (!signin) return signin.error();
  count_json_signin(element, counts);
  if (!*signin) return false;
  (*signin)->source = SourceKind::signin_export_json;
  sink(**signin);
  ++counts.authenticated_smtp;
  return true;
}

// A top-level array is streamed element by element: one element (bounded)
// in memory at a time. An object (a saved Graph page) is read whole,
// bounded, and its "value" array used.
Result<SignInFileCounts> parse_signin_json(Utf8TextSource& source, std::string buffer, const SignInSink& sink,
                                           const InputLimits& limits) {
  SignInFileCounts counts = counts_named(source.name());
  std::size_t start = buffer.find_first_not_of(" \t\r\n");
  if (buffer[start] == '{') {
    auto rest = read_all(source, small_input_limit * 16);
    if (!rest) return rest.error();
    buffer += *rest;
    nlohmann::json page = nlohmann::json::parse(buffer, nullptr, false);
    if (page.is_discarded()) return bad_input(source.name() + ": malformed JSON");
    const auto value = page.find("value");
    if (value == page.end() || !value->is_array())
      return bad_input(source.name() + ": a JSON object without a \"value\" array: expected the sign-in log download "
                                       "(an array of sign-ins) or a Graph page");
    for (std::size_t i = 0; i < value->size(); ++i) {
      auto delivered = deliver_json_element((*value)[i], source.name() + ": element " + std::to_string(i + 1), sink, counts);
      if (!delivered) return delivered.error();
    }
    return counts;
  }
  std::size_t index = 0, depth = 0, position = start + 1;
  bool in_string = false, escaped = false, closed = false;
  std::string element;
  while (true) {
    for (; position < buffer.size(); ++position) {
      const char c = buffer[position];
      if (closed) {
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
          return bad_input(source.name() + ": text after the closing ']'");
        continue;
      }
      if (depth == 0 && !in_string) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == ',' && !element.empty()) continue;
        if (c == ']') {
          closed = true;
          continue;
        }
        if (c != '{') return bad_input(source.name() + ": element " + std::to_string(index + 1) + ": not a JSON object");
        element.clear();
      }
      element.push_back(c);
      if (element.size() > limits.max_json_element_bytes)
        return bad_input(source.name() + ": element " + std::to_string(index + 1) + " is larger than " +
                         std::to_string(limits.max_json_element_bytes) + " bytes");
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          const auto where = source.name() + ": element " + std::to_string(++index);
          const auto parsed = nlohmann::json::parse(element, nullptr, false);
          if (parsed.is_discarded()) return bad_input(where + ": malformed JSON");
          auto got = deliver_json_element(parsed, where, sink, counts);
          if (!got) return got.error();
          element = ",";  // marks "an element was read", so a following comma is expected
        }
      }
    }
    buffer.clear();
    position = 0;
    auto more = source.next(buffer);
    if (!more) return more.error();
    if (!*more) break;
  }
  if (!closed) return bad_input(source.name() + ": the JSON array is truncated (no closing ']')");
  return counts;
}

Result<SignInFileCounts> parse_signin_source(Utf8TextSource& source, const SignInSink& sink, const InputLimits& limits) {
  // Look at the first non-blank character: [ or { is JSON, anything else CSV.
  std::string buffer;
  while (buffer.find_first_not_of(" \t\r\n") == std::string::npos) {
    auto more = source.next(buffer);
    if (!more) return more.error();
    if (!*more) return bad_input(source.name() + ": empty file: expected an Entra sign-in log download (CSV or JSON)");
  }
  const char first = buffer[buffer.find_first_not_of(" \t\r\n")];
  if (first == '[' || first == '{') return parse_signin_json(source, std::move(buffer), sink, limits);
  source.push_back(std::move(buffer));
  return parse_signin_csv(source, sink, limits);
}


// ---- PowerShell object output: Format-List text or ConvertTo-Json ----
// Format-List writes "Name : Value" lines, objects separated by blank lines.
std::vector<std::map<std::string, std::string>> parse_format_list(std::string_view text) {
  std::vector<std::map<std::string, std::string>> objects(1);
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) {
      if (!objects.back().empty()) objects.emplace_back();
      continue;
    }
    const auto colon = line.find(" :");
    if (colon == std::string_view::npos) continue;  // a wrapped value's continuation
    const auto key = normalize_column_name(line.substr(0, colon));
    if (key.find(' ') != std::string::npos) continue;
    objects.back()[key] = std::string(trim(line.substr(colon + 2)));
  }
  if (objects.back().empty()) objects.pop_back();
  return objects;
}

enum class TextLayout { json, format_list, csv };

TextLayout guess_layout(std::string_view text, std::string_view key) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) return TextLayout::json;
  const auto lower = to_lower(text);
  const auto at = lower.find(to_lower(key));
  if (at != std::string::npos) {
    const auto after = trim(std::string_view(lower).substr(at + key.size(), 3));
    if (!after.empty() && after.front() == ':') return TextLayout::format_list;
  }
  // Without the key, a first line "Name : value" is still Format-List.
  const auto first_line = trim(text.substr(first == std::string_view::npos ? text.size() : first)
                                   .substr(0, text.find('\n', first == std::string_view::npos ? 0 : first) - first));
  if (first_line.find(" : ") != std::string_view::npos && first_line.find(',') == std::string_view::npos)
    return TextLayout::format_list;
  return TextLayout::csv;
}

// JSON objects (one, or an array of them) with their keys lower-cased.
Result<std::vector<std::map<std::string, nlohmann::json>>> json_objects(std::string_view text, const std::string& name) {
  const auto document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded()) return bad_input(name + ": malformed JSON");
  std::vector<std::map<std::string, nlohmann::json>> objects;
  const auto add = [&](const nlohmann::json& object) {
    std::map<std::string, nlohmann::json> lowered;
    for (const auto& [key, value] : object.items()) lowered[to_lower(key)] = value;
    objects.push_back(std::move(lowered));
  };
  if (document.is_object()) {
    if (const auto value = document.find("value"); value != document.end() && value->is_array()) {
      for (const auto& item : *value)
        if (item.is_object()) add(item);
    } else {
      add(document);
    }
  } else if (document.is_array()) {
    for (const auto& item : document)
      if (item.is_object()) add(item);
  } else {
    return bad_input(name + ": JSON that is neither an object nor an array");
  }
  return objects;
}

// A PowerShell boolean from JSON (true/false/null) or text (True/False/empty).
Result<std::optional<bool>> ps_bool_value(const nlohmann::json& value, const std::string& where) {
  if (value.is_null()) return std::optional<bool>();
  if (value.is_boolean()) return std::optional<bool>(value.get<bool>());
  if (value.is_string()) {
    switch (parse_ps_bool(value.get<std::string>())) {
      case PsBool::is_true: return std::optional<bool>(true);
      case PsBool::is_false: return std::optional<bool>(false);
      case PsBool::empty: return std::optional<bool>();
      case PsBool::invalid: break;
    }
  }
  return bad_input(where + ": expected True, False or empty, found " + value.dump());
}

// Rows of a small settings file, whatever the layout, as lower-cased
// key -> value maps.
Result<std::vector<std::map<std::string, nlohmann::json>>> settings_rows(std::string_view text, const std::string& name,
                                                                          std::string_view key) {
  std::vector<std::map<std::string, nlohmann::json>> rows;
  switch (guess_layout(text, key)) {
    case TextLayout::json: return json_objects(text, name);
    case TextLayout::format_list:
      for (const auto& object : parse_format_list(text)) {
        std::map<std::string, nlohmann::json> row;
        for (const auto& [k, v] : object) row[k] = v;
        rows.push_back(std::move(row));
      }
      return rows;
    case TextLayout::csv: {
      auto source = Utf8TextSource::from_text(text, name, InputLimits{});
      CsvReader reader(source, InputLimits{});
      auto header = read_header(reader);
      if (!header) return header.error();
      if (!*header) return rows;
      std::vector<std::string> keys;
      for (const auto& column : **header) keys.push_back(normalize_column_name(column));
      while (true) {
        auto record = reader.next();
        if (!record) return record.error();
        if (!*record) return rows;
        if ((*record)->size() == 1 && trim((**record)[0]).empty()) continue;
        std::map<std::string, nlohmann::json> row;
        for (std::size_t i = 0; i < keys.size() && i < (*record)->size(); ++i) row[keys[i]] = (**record)[i];
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

std::string keys_found(const std::vector<std::map<std::string, nlohmann::json>>& rows) {
  std::string list;
  if (!rows.empty())
    for (const auto& [key, value] : rows.front()) {
      if (list.size() > 200) {
        list += ", ...";
        break;
      }
      list += (list.empty() ? "\"" : ", \"") + key + "\"";
    }
  return list.empty() ? "none" : list;
}

Result<Utf8TextSource> open(const std::string& path, const InputLimits& limits) {
  return Utf8TextSource::open_file(path, limits);
}

}  // namespace

Result<SignInFileCounts> read_signin_export(const std::string& path, const SignInSink& sink, const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  return parse_signin_source(*source, sink, limits);
}

Result<SignInFileCounts> parse_signin_export_text(std::string_view text, const std::string& name, const SignInSink& sink,
                                             const InputLimits& limits) {
  auto source = Utf8TextSource::from_text(text, name, limits);
  return parse_signin_source(source, sink, limits);
}

namespace {
Result<std::size_t> parse_usage(Utf8TextSource& source, const UsageSink& sink, const InputLimits& limits) {
  const auto check_header = [&](const CsvColumns& columns) -> std::optional<Error> {
    if (columns.has("User Principal Name") && columns.has("SMTP App")) return std::nullopt;
    return missing_columns_error(source.name(), "the email apps usage report (getEmailAppUsageUserDetail)", columns,
                                 {"Report Refresh Date", "User Principal Name", "Last Activity Date", "SMTP App",
                                  "Report Period"});
  };
  return read_csv_rows(source, limits, "the email apps usage report", check_header,
                       [&](const CsvColumns& columns, const std::vector<std::string>& fields,
                           const std::string& where) -> Result<bool> {
    const auto field = [&](std::string_view column) { return std::string(trim(columns.get(fields, column))); };
    UsageRow row;
    row.user = field("User Principal Name");
    row.last_activity_date = field("Last Activity Date");
    row.report_period = field("Report Period");
    row.report_refresh_date = field("Report Refresh Date");
    const auto smtp = to_lower(field("SMTP App"));
    if (smtp == "yes" || smtp == "true" || smtp == "1") row.smtp_app = true;
    else if (smtp == "no" || smtp == "false" || smtp == "0" || smtp.empty()) row.smtp_app = false;
    else return bad_input(where + ": \"SMTP App\" is neither Yes nor No: \"" + field("SMTP App") + "\"");
    if (row.user.empty()) return false;
    sink(row);
    return true;
  });
}

Result<std::size_t> parse_smtp_auth_report(Utf8TextSource& source, const SmtpAuthReportSink& sink,
                                           const InputLimits& limits) {
  bool has_protocol = false;
  const auto check_header = [&](const CsvColumns& columns) -> std::optional<Error> {
    has_protocol = columns.has("Authentication Protocol");
    if (columns.has("Sender address") && columns.has("Messages sent")) return std::nullopt;
    return missing_columns_error(source.name(), "the EAC SMTP AUTH clients report export", columns,
                                 {"Sender address", "Domain", "TLS 1.0 %", "TLS 1.1 %", "TLS 1.2 %", "Messages sent"});
  };
  return read_csv_rows(source, limits, "the EAC SMTP AUTH clients report export", check_header,
                       [&](const CsvColumns& columns, const std::vector<std::string>& fields,
                           const std::string& where) -> Result<bool> {
    const auto field = [&](std::string_view column) { return std::string(trim(columns.get(fields, column))); };
    SmtpAuthReportRow row;
    row.sender = field("Sender address");
    if (row.sender.empty()) return false;
    const auto messages = parse_count(field("Messages sent"));
    if (!messages) return bad_input(where + ": \"Messages sent\" is not a number: \"" + field("Messages sent") + "\"");
    row.messages = *messages;
    const std::pair<const char*, double*> percents[] = {
        {"TLS 1.0 %", &row.tls10_percent}, {"TLS 1.1 %", &row.tls11_percent}, {"TLS 1.2 %", &row.tls12_percent}};
    for (const auto& [column, target] : percents) {
      const auto value = parse_percent(field(column));
      if (!value) return bad_input(where + ": \"" + column + "\" is not a percentage: \"" + field(column) + "\"");
      *target = *value;
    }
    if (has_protocol) row.authentication_protocol = field("Authentication Protocol");
    sink(row);
    return true;
  });
}

Result<std::size_t> parse_cas(Utf8TextSource& source, std::vector<MailboxSetting>& out, const InputLimits& limits) {
  const char* user_column = "PrimarySmtpAddress";
  const auto check_header = [&](const CsvColumns& columns) -> std::optional<Error> {
    if (!columns.has(user_column) && columns.has("UserPrincipalName")) user_column = "UserPrincipalName";
    if (columns.has(user_column) && columns.has("SmtpClientAuthenticationDisabled")) return std::nullopt;
    return missing_columns_error(source.name(), "Get-CASMailbox output (Export-Csv)", columns,
                                 {"PrimarySmtpAddress", "SmtpClientAuthenticationDisabled"});
  };
  return read_csv_rows(source, limits, "Get-CASMailbox output (Export-Csv)", check_header,
                       [&](const CsvColumns& columns, const std::vector<std::string>& fields,
                           const std::string& where) -> Result<bool> {
    MailboxSetting setting;
    setting.user = std::string(trim(columns.get(fields, user_column)));
    if (setting.user.empty()) return false;
    const auto value = columns.get(fields, "SmtpClientAuthenticationDisabled");
    switch (parse_ps_bool(value)) {
      case PsBool::is_true: setting.smtp_client_authentication_disabled = true; break;
      case PsBool::is_false: setting.smtp_client_authentication_disabled = false; break;
      case PsBool::empty: break;  // $null: follows the organization's setting
      case PsBool::invalid:
        return bad_input(where + ": \"SmtpClientAuthenticationDisabled\" is not True, False or empty: \"" +
                         std::string(trim(value)) + "\"");
    }
    out.push_back(std::move(setting));
    return true;
  });
}
}  // namespace

Result<std::size_t> parse_usage_report_csv(std::string_view text, const std::string& name, const UsageSink& sink,
                                           const InputLimits& limits) {
  auto source = Utf8TextSource::from_text(text, name, limits);
  return parse_usage(source, sink, limits);
}

Result<std::size_t> read_usage_report(const std::string& path, const UsageSink& sink, const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  return parse_usage(*source, sink, limits);
}

Result<std::size_t> read_smtp_auth_report(const std::string& path, const SmtpAuthReportSink& sink,
                                          const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  return parse_smtp_auth_report(*source, sink, limits);
}

Result<std::size_t> parse_smtp_auth_report_text(std::string_view text, const std::string& name,
                                                const SmtpAuthReportSink& sink, const InputLimits& limits) {
  auto source = Utf8TextSource::from_text(text, name, limits);
  return parse_smtp_auth_report(source, sink, limits);
}

Result<std::size_t> read_cas_mailboxes(const std::string& path, std::vector<MailboxSetting>& out,
                                       const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  return parse_cas(*source, out, limits);
}

Result<std::size_t> parse_cas_mailboxes_text(std::string_view text, const std::string& name,
                                             std::vector<MailboxSetting>& out, const InputLimits& limits) {
  auto source = Utf8TextSource::from_text(text, name, limits);
  return parse_cas(source, out, limits);
}

Result<std::optional<bool>> parse_transport_config_text(std::string_view text, const std::string& name) {
  constexpr std::string_view key = "SmtpClientAuthenticationDisabled";
  auto rows = settings_rows(text, name, key);
  if (!rows) return rows.error();
  // Get-CASMailbox has the same column, one row per mailbox: taken as the
  // organization's, its first mailbox's value would decide every sender.
  for (const auto& row : *rows)
    for (std::string_view mailbox_key : {"primarysmtpaddress", "userprincipalname", "samaccountname", "externaldirectoryobjectid",
                                         "popenabled", "imapenabled", "activesyncenabled", "owaenabled"})
      if (row.count(std::string(mailbox_key)))
        return bad_input(name + ": this is per-mailbox output (it has \"" + std::string(mailbox_key) +
                         "\"), such as Get-CASMailbox, not Get-TransportConfig: give it with --mailboxes, and the organization's "
                         "setting with --transport-config (Get-TransportConfig | Select SmtpClientAuthenticationDisabled | Export-Csv)");
  if (rows->size() > 1)
    return bad_input(name + ": " + std::to_string(rows->size()) +
                     " rows; Get-TransportConfig has one (the organization's): give per-mailbox output with --mailboxes");
  for (const auto& row : *rows) {
    const auto found = row.find(to_lower(key));
    if (found != row.end()) return ps_bool_value(found->second, name + ": SmtpClientAuthenticationDisabled");
  }
  return bad_input(name + ": not Get-TransportConfig output: no \"SmtpClientAuthenticationDisabled\"; found " +
                   keys_found(*rows) +
                   " (use Get-TransportConfig | Select SmtpClientAuthenticationDisabled | Export-Csv, Format-List or "
                   "ConvertTo-Json, in English)");
}

Result<std::optional<bool>> read_transport_config(const std::string& path, const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  auto text = read_all(*source, small_input_limit);
  if (!text) return text.error();
  return parse_transport_config_text(*text, path);
}

Result<std::vector<std::pair<std::string, std::optional<bool>>>> parse_authentication_policies_text(
    std::string_view text, const std::string& name) {
  constexpr std::string_view key = "AllowBasicAuthSmtp";
  auto rows = settings_rows(text, name, key);
  if (!rows) return rows.error();
  std::vector<std::pair<std::string, std::optional<bool>>> policies;
  for (const auto& row : *rows) {
    const auto allow = row.find(to_lower(key));
    if (allow == row.end()) continue;
    auto value = ps_bool_value(allow->second, name + ": AllowBasicAuthSmtp");
    if (!value) return value.error();
    std::string policy_name = "(unnamed)";
    if (const auto n = row.find("name"); n != row.end() && n->second.is_string()) policy_name = n->second.get<std::string>();
    policies.emplace_back(policy_name, *value);
  }
  if (policies.empty() && !rows->empty())
    return bad_input(name + ": not Get-AuthenticationPolicy output: no \"AllowBasicAuthSmtp\"; found " +
                     keys_found(*rows) + " (use Get-AuthenticationPolicy | Select Name,AllowBasicAuthSmtp | Export-Csv)");
  return policies;
}

Result<std::vector<std::pair<std::string, std::optional<bool>>>> read_authentication_policies(
    const std::string& path, const InputLimits& limits) {
  auto source = open(path, limits);
  if (!source) return source.error();
  auto text = read_all(*source, small_input_limit);
  if (!text) return text.error();
  return parse_authentication_policies_text(*text, path);
}

}  // namespace diag::inventory
