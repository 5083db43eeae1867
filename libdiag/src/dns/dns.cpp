#include "diag/dns.h"
#include "diag/ascii.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

namespace diag::dns {
namespace {

constexpr std::array<std::pair<RrType, std::string_view>, 10> rr_type_names{{
    {RrType::A, "A"},
    {RrType::NS, "NS"},
    {RrType::CNAME, "CNAME"},
    {RrType::SOA, "SOA"},
    {RrType::PTR, "PTR"},
    {RrType::MX, "MX"},
    {RrType::TXT, "TXT"},
    {RrType::AAAA, "AAAA"},
    {RrType::OPT, "OPT"},
    {RrType::SPF, "SPF"},
}};

std::string absolute(const std::string& name) { return name.empty() || name == "." ? "." : name + "."; }

// RFC 1035 5.1: a character-string in quotes, with " and \ escaped and
// bytes outside printable ASCII as \DDD.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c > 0x7e) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\%03u", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::string_view to_string(RrType type) {
  for (const auto& [known, name] : rr_type_names)
    if (known == type) return name;
  return "TYPE?";
}

std::optional<RrType> rr_type_from_string(std::string_view text) {
  for (const auto& [known, name] : rr_type_names)
    if (ascii::iequals(name, text)) return known;
  return std::nullopt;
}

std::string TxtData::joined() const {
  std::string all;
  for (const auto& part : strings) all += part;
  return all;
}

std::string Record::data_text() const {
  struct Printer {
    std::string operator()(const AddressData& d) const { return d.address.to_string(); }
    std::string operator()(const NameData& d) const { return absolute(d.target); }
    std::string operator()(const MxData& d) const {
      return std::to_string(d.preference) + " " + absolute(d.exchange);
    }
    std::string operator()(const TxtData& d) const {
      std::string out;
      for (const auto& part : d.strings) out += (out.empty() ? "" : " ") + quoted(part);
      return out;
    }
    std::string operator()(const SoaData& d) const {
      return absolute(d.mname) + " " + absolute(d.rname) + " " + std::to_string(d.serial) + " " +
             std::to_string(d.refresh) + " " + std::to_string(d.retry) + " " +
             std::to_string(d.expire) + " " + std::to_string(d.minimum);
    }
  };
  return std::visit(Printer{}, data);
}

namespace {

constexpr std::size_t max_label_octets = 63;  // RFC 1035 2.3.4
constexpr std::size_t max_name_octets = 255;  // RFC 1035 2.3.4, wire form with its length octets

struct SplitName {
  std::vector<std::string> labels;
  std::string problem;  // empty: a name
};

// RFC 1035 5.1 escapes; every other octet belongs to its label as it is.
// With check_limits, also the RFC 1035 2.3.4 sizes.
SplitName split_name(std::string_view name, bool check_limits) {
  SplitName out;
  if (name.empty() || name == ".") return out;
  std::string label;
  bool label_open = false;
  std::size_t wire_octets = 1;  // the root label's length octet
  const auto close_label = [&]() {
    if (label.empty()) {
      out.problem = "name has an empty label";
      return false;
    }
    if (check_limits && label.size() > max_label_octets) {
      out.problem = "label longer than 63 octets";
      return false;
    }
    wire_octets += label.size() + 1;
    if (check_limits && wire_octets > max_name_octets) {
      out.problem = "name longer than 255 octets on the wire (253 characters without escapes)";
      return false;
    }
    out.labels.push_back(std::move(label));
    label.clear();
    label_open = false;
    return true;
  };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (!close_label()) return out;
      continue;
    }
    label_open = true;
    if (c != '\\') {
      label.push_back(c);
      continue;
    }
    if (i + 1 >= name.size()) {
      out.problem = "name ends in a lone backslash";
      return out;
    }
    if (!is_digit(name[i + 1])) {
      label.push_back(name[i + 1]);
      ++i;
      continue;
    }
    const bool three_digits = i + 3 < name.size() && is_digit(name[i + 2]) && is_digit(name[i + 3]);
    const int value = three_digits ? (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0') : 256;
    if (value > 255) {
      out.problem = "bad escape \"" + std::string(name.substr(i, 4)) + "\" (use \\X or \\DDD with DDD 000-255)";
      return out;
    }
    label.push_back(static_cast<char>(value));
    i += 3;
  }
  if (label_open) close_label();
  return out;
}

// Text needing no escape work: canonical_name is then what it always was.
bool is_plain_text(std::string_view name) {
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto octet = static_cast<unsigned char>(c);
    return c == '\\' || octet <= 0x20 || octet >= 0x7f;
  });
}

std::string lower_without_trailing_dot(std::string_view name) {
  std::string out = ascii::to_lower(name);
  // A single trailing dot marks an absolute name; an escaped dot ("\.") at
  // the end is part of the last label and must stay.
  if (!out.empty() && out.back() == '.') {
    std::size_t backslashes = 0;
    for (std::size_t i = out.size() - 1; i > 0 && out[i - 1] == '\\'; --i) ++backslashes;
    if (backslashes % 2 == 0) out.pop_back();
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> name_labels(std::string_view name) {
  SplitName split = split_name(name, true);
  if (!split.problem.empty()) return bad_input(std::move(split.problem));
  return std::move(split.labels);
}

std::string label_text(std::string_view octets) {
  std::string out;
  for (const char c : octets) {
    const auto octet = static_cast<unsigned char>(c);
    if (c == '.' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (octet <= 0x20 || octet >= 0x7f) {
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + octet / 100));
      out.push_back(static_cast<char>('0' + octet / 10 % 10));
      out.push_back(static_cast<char>('0' + octet % 10));
    } else {
      out.push_back(ascii::lower(c));
    }
  }
  return out;
}

std::string canonical_name(std::string_view name) {
  if (is_plain_text(name)) return lower_without_trailing_dot(name);
  const SplitName split = split_name(name, false);
  if (!split.problem.empty()) return lower_without_trailing_dot(name);
  std::string out;
  for (const std::string& label : split.labels) {
    if (!out.empty()) out.push_back('.');
    out += label_text(label);
  }
  return out;
}

bool name_is_at_or_below(std::string_view name, std::string_view zone) {
  if (zone.empty()) return true;  // everything is below the root
  if (name.size() < zone.size()) return false;
  if (!ascii::iequals(name.substr(name.size() - zone.size()), zone)) return false;
  if (name.size() == zone.size()) return true;
  // The match must end at a label boundary: "notexample.com" is not below
  // "example.com", nor is "a\.example.com" (one label "a.example") below it.
  const std::size_t dot = name.size() - zone.size() - 1;
  if (name[dot] != '.') return false;
  std::size_t backslashes = 0;
  for (std::size_t i = dot; i > 0 && name[i - 1] == '\\'; --i) ++backslashes;
  return backslashes % 2 == 0;
}

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::records: return "records";
    case Outcome::nodata: return "nodata";
    case Outcome::nxdomain: return "nxdomain";
    case Outcome::servfail: return "servfail";
    case Outcome::refused: return "refused";
    case Outcome::timeout: return "timeout";
    case Outcome::malformed: return "malformed";
    case Outcome::network_error: return "network-error";
  }
  return "unknown";
}

std::vector<IpAddress> Answer::addresses() const {
  std::vector<IpAddress> out;
  for (const auto& record : records)
    if (const auto* data = std::get_if<AddressData>(&record.data)) out.push_back(data->address);
  return out;
}

std::vector<MxData> Answer::mx() const {
  std::vector<MxData> out;
  for (const auto& record : records)
    if (const auto* data = std::get_if<MxData>(&record.data)) out.push_back(*data);
  return out;
}

std::vector<TxtData> Answer::txt() const {
  std::vector<TxtData> out;
  for (const auto& record : records)
    if (const auto* data = std::get_if<TxtData>(&record.data)) out.push_back(*data);
  return out;
}

std::vector<std::string> Answer::targets() const {
  std::vector<std::string> out;
  for (const auto& record : records)
    if (const auto* data = std::get_if<NameData>(&record.data)) out.push_back(data->target);
  return out;
}

}  // namespace diag::dns
