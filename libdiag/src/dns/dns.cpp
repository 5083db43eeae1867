#include "diag/dns.h"
#include "diag/ascii.h"

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

std::string canonical_name(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = ascii::lower(c);
  // A single trailing dot marks an absolute name; an escaped dot ("\.") at
  // the end is part of the last label and must stay.
  if (!out.empty() && out.back() == '.') {
    std::size_t backslashes = 0;
    for (std::size_t i = out.size() - 1; i > 0 && out[i - 1] == '\\'; --i) ++backslashes;
    if (backslashes % 2 == 0) out.pop_back();
  }
  return out;
}

bool name_is_at_or_below(std::string_view name, std::string_view zone) {
  if (zone.empty()) return true;  // everything is below the root
  if (name.size() < zone.size()) return false;
  if (!ascii::iequals(name.substr(name.size() - zone.size()), zone)) return false;
  if (name.size() == zone.size()) return true;
  // The match must end at a label boundary: "notexample.com" is not below
  // "example.com".
  return name[name.size() - zone.size() - 1] == '.';
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
