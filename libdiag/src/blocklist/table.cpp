// The DNSBL zone table: its text form (one parser for the compiled-in table
// and for --zones FILE), lookups of return codes, and merging.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "diag/ascii.h"
#include "diag/blocklist.h"
#include "diag/input_file.h"

namespace diag::blocklist {
namespace {

// Table lines are already split on newlines.
std::string_view trim(std::string_view text) { return ascii::trim(text, " \t\r"); }

constexpr std::string_view builtin_text =
#include "../../data/dnsbl_zones.inc"
    ;


// Splits "WORD REST" at the first blank.
std::pair<std::string_view, std::string_view> split_word(std::string_view text) {
  text = trim(text);
  const auto blank = text.find_first_of(" \t");
  if (blank == std::string_view::npos) return {text, {}};
  return {text.substr(0, blank), trim(text.substr(blank + 1))};
}

std::uint32_t v4_value(const IpAddress& address) {
  const std::uint8_t* b = address.data();
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

bool is_valid_zone(std::string_view zone) {
  if (zone.empty() || zone.size() > 200 || zone.front() == '.' || zone.back() == '.') return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < zone.size(); ++i) {
    const char c = zone[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (zone.substr(i, 5) == "{key}") {  // the key placeholder is one label of its own
      if (label != 0 || (i + 5 < zone.size() && zone[i + 5] != '.')) return false;
      i += 4;
      label = 1;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

class TableParser {
 public:
  TableParser(std::string_view text, const std::string& display_name) : text_(text), display_name_(display_name) {}

  Result<std::vector<ListSpec>> parse() {
    std::size_t line_number = 0;
    std::string_view rest = text_;
    while (!rest.empty()) {
      ++line_number;
      const auto end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      line_ = line_number;
      if (const auto hash = line.find('#'); hash != std::string_view::npos && trim(line.substr(0, hash)).empty())
        line = {};  // a comment line; '#' inside values (URLs) is data
      line = trim(line);
      if (line.empty()) continue;
      if (auto error = parse_line(line)) return *error;
    }
    if (auto error = finish_entry()) return *error;
    return std::move(lists_);
  }

 private:
  std::optional<Error> fail(const std::string& what) const {
    return bad_input(display_name_ + ":" + std::to_string(line_) + ": " + what);
  }

  std::optional<Error> parse_line(std::string_view line) {
    const auto [keyword, value] = split_word(line);
    if (keyword == "list") {
      if (auto error = finish_entry()) return error;
      if (value.empty() || value.find_first_of(" \t") != std::string_view::npos)
        return fail("\"list\" needs one ID (letters, digits and '-')");
      for (char c : value)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return fail("list ID \"" + std::string(value) + "\" may hold only letters, digits and '-'");
      // Captured by name: clang before 16 cannot capture a structured binding.
      if (std::any_of(lists_.begin(), lists_.end(), [&id = value](const ListSpec& l) { return l.id == id; }))
        return fail("list \"" + std::string(value) + "\" appears twice");
      current_ = ListSpec{};
      current_->id = std::string(value);
      entry_line_ = line_;
      return std::nullopt;
    }
    if (!current_) return fail("\"" + std::string(keyword) + "\" before the first \"list ID\" line");
    ListSpec& spec = *current_;
    if (value.empty()) return fail("\"" + std::string(keyword) + "\" needs a value");
    if (keyword == "zone") {
      const std::string zone = dns::canonical_name(value);
      if (!is_valid_zone(zone)) return fail("zone \"" + std::string(value) + "\" is not a valid DNS name");
      spec.zone = zone;
    } else if (keyword == "name") {
      spec.name = std::string(value);
    } else if (keyword == "query") {
      if (value == "default") spec.query = QueryPolicy::by_default;
      else if (value == "on-request") spec.query = QueryPolicy::on_request;
      else if (value == "with-key") spec.query = QueryPolicy::with_key;
      else return fail("query must be default, on-request or with-key, not \"" + std::string(value) + "\"");
    } else if (keyword == "ipv6") {
      if (value != "yes" && value != "no") return fail("ipv6 must be yes or no");
      spec.ipv6 = value == "yes";
    } else if (keyword == "liveness") {
      if (value == "rfc5782") spec.liveness = Liveness::rfc5782;
      else if (value == "positive-only") spec.liveness = Liveness::positive_only;
      else if (value == "none") spec.liveness = Liveness::none;
      else return fail("liveness must be rfc5782, positive-only or none");
    } else if (keyword == "key") {
      if (value == "none") spec.key = SecretKind::none;
      else if (value == "spamhaus") spec.key = SecretKind::spamhaus;
      else if (value == "abusix") spec.key = SecretKind::abusix;
      else return fail("key must be none, spamhaus or abusix");
    } else if (keyword == "public-resolvers") {
      if (value == "refused") spec.public_resolvers = PublicResolvers::refused;
      else if (value == "allowed") spec.public_resolvers = PublicResolvers::allowed;
      else if (value == "unknown") spec.public_resolvers = PublicResolvers::unknown;
      else return fail("public-resolvers must be refused, allowed or unknown");
    } else if (keyword == "terms") {
      spec.terms = std::string(value);
    } else if (keyword == "resolvers") {
      spec.resolvers = std::string(value);
    } else if (keyword == "m365") {
      spec.m365 = std::string(value);
    } else if (keyword == "delist") {
      spec.delist = std::string(value);
    } else if (keyword == "remedy") {
      spec.remedy = std::string(value);
    } else if (keyword == "source") {
      spec.sources.emplace_back(value);
    } else if (keyword == "code") {
      return parse_code(value);
    } else {
      return fail("unknown keyword \"" + std::string(keyword) + "\"");
    }
    return std::nullopt;
  }

  // code FIRST[-LAST] KIND [SEVERITY] MEANING [| REMEDY]
  std::optional<Error> parse_code(std::string_view value) {
    ReturnCode code;
    auto [range, rest] = split_word(value);
    const auto dash = range.find('-');
    const auto first = IpAddress::parse(range.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : IpAddress::parse(range.substr(dash + 1));
    if (!first || !last || !first->is_v4() || !last->is_v4())
      return fail("code \"" + std::string(range) + "\" is not an IPv4 address or FIRST-LAST range");
    // RFC 5782 2.1: DNSBL answers are in 127.0.0.0/8.
    const auto loopback = *IpAddress::parse("127.0.0.0");
    if (!first->in_prefix(loopback, 8) || !last->in_prefix(loopback, 8))
      return fail("code \"" + std::string(range) + "\" is outside 127.0.0.0/8");
    if (v4_value(*first) > v4_value(*last)) return fail("code range \"" + std::string(range) + "\" runs backwards");
    code.first = *first;
    code.last = *last;

    auto [kind, after_kind] = split_word(rest);
    if (kind == "listed") {
      code.kind = CodeKind::listed;
      auto [severity, after_severity] = split_word(after_kind);
      if (severity == "fail") code.severity = Status::fail;
      else if (severity == "warn") code.severity = Status::warn;
      else if (severity == "info") code.severity = Status::info;
      else return fail("a listed code needs a severity: fail, warn or info");
      rest = after_severity;
    } else if (kind == "not-listed" || kind == "error" || kind == "resolver-refused") {
      code.kind = kind == "not-listed" ? CodeKind::not_listed
                  : kind == "error"    ? CodeKind::error
                                       : CodeKind::resolver_refused;
      code.severity = kind == "not-listed" ? Status::pass : Status::error;
      rest = after_kind;
    } else {
      return fail("code kind must be listed, not-listed, error or resolver-refused, not \"" + std::string(kind) + "\"");
    }
    const auto bar = rest.find('|');
    code.meaning = std::string(trim(rest.substr(0, bar)));
    if (bar != std::string_view::npos) code.remedy = std::string(trim(rest.substr(bar + 1)));
    if (code.meaning.empty()) return fail("code " + std::string(range) + " needs a meaning");
    for (const auto& other : current_->codes)
      if (v4_value(code.first) <= v4_value(other.last) && v4_value(other.first) <= v4_value(code.last))
        return fail("code " + std::string(range) + " overlaps an earlier code of this list");
    current_->codes.push_back(std::move(code));
    return std::nullopt;
  }

  std::optional<Error> finish_entry() {
    if (!current_) return std::nullopt;
    ListSpec& spec = *current_;
    const auto missing = [&](const char* what) {
      return bad_input(display_name_ + ":" + std::to_string(entry_line_) + ": list \"" + spec.id + "\" has no " + what);
    };
    if (spec.zone.empty()) return missing("zone");
    if (spec.name.empty()) spec.name = spec.zone;
    const bool has_placeholder = spec.zone.find("{key}") != std::string::npos;
    if (has_placeholder != (spec.key != SecretKind::none))
      return bad_input(display_name_ + ":" + std::to_string(entry_line_) + ": list \"" + spec.id +
                       "\": a zone with {key} needs \"key spamhaus|abusix\", and a key needs {key} in the zone");
    if (!std::any_of(spec.codes.begin(), spec.codes.end(), [](const ReturnCode& c) { return c.kind == CodeKind::listed; }))
      return missing("\"code ... listed\" line: without one no answer could count as a listing");
    lists_.push_back(std::move(spec));
    current_.reset();
    return std::nullopt;
  }

  std::string_view text_;
  const std::string& display_name_;
  std::vector<ListSpec> lists_;
  std::optional<ListSpec> current_;
  std::size_t line_ = 0, entry_line_ = 0;
};

}  // namespace

const ReturnCode* ListSpec::code_for(const IpAddress& answer) const {
  if (!answer.is_v4()) return nullptr;
  const std::uint32_t value = v4_value(answer);
  for (const auto& code : codes)
    if (v4_value(code.first) <= value && value <= v4_value(code.last)) return &code;
  return nullptr;
}

Result<std::vector<ListSpec>> parse_list_table(std::string_view text, const std::string& display_name) {
  return TableParser(text, display_name).parse();
}

Result<std::vector<ListSpec>> read_list_file(const std::string& path) {
  auto file = open_input_file(path, "zone file");
  if (!file) return file.error();
  std::ostringstream contents;
  contents << file->rdbuf();
  if (file->bad()) return input_read_error(path, "zone file");
  auto lists = parse_list_table(contents.str(), path);
  if (lists && lists->empty()) return bad_input(path + ": no \"list ID\" entries");
  return lists;
}

std::string_view builtin_table_text() {
  // The raw string starts with the newline after its opening delimiter.
  return builtin_text.substr(builtin_text.find_first_not_of('\n'));
}

const std::vector<ListSpec>& builtin_lists() {
  static const std::vector<ListSpec> lists = [] {
    auto parsed = parse_list_table(builtin_text, "builtin dnsbl_zones.inc");
    // A broken built-in table is a build defect the tests catch; never half-load it.
    if (!parsed) throw std::logic_error(parsed.error().message);
    return std::move(parsed).value();
  }();
  return lists;
}

void merge_lists(std::vector<ListSpec>& lists, std::vector<ListSpec> overrides) {
  for (auto& entry : overrides) {
    auto same = std::find_if(lists.begin(), lists.end(), [&](const ListSpec& l) { return l.id == entry.id; });
    if (same != lists.end()) *same = std::move(entry);
    else lists.push_back(std::move(entry));
  }
}

std::string_view to_string(QueryPolicy policy) {
  switch (policy) {
    case QueryPolicy::by_default: return "default";
    case QueryPolicy::on_request: return "on-request";
    case QueryPolicy::with_key: return "with-key";
  }
  return "default";
}

std::string_view to_string(CodeKind kind) {
  switch (kind) {
    case CodeKind::listed: return "listed";
    case CodeKind::not_listed: return "not-listed";
    case CodeKind::error: return "error";
    case CodeKind::resolver_refused: return "resolver-refused";
  }
  return "error";
}

std::string_view to_string(ListingStatus status) {
  switch (status) {
    case ListingStatus::listed: return "listed";
    case ListingStatus::not_listed: return "not_listed";
    case ListingStatus::error: return "error";
    case ListingStatus::unusable: return "unusable";
  }
  return "error";
}

}  // namespace diag::blocklist
