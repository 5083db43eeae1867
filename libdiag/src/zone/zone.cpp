// RFC 1035 section 5 master files, parsed by hand so that every error can
// say FILE:LINE:COLUMN, and answered from as an overlay in front of the
// network.
//
// The parser reads one entry at a time: the tokenizer turns the text into
// entries (one logical line each, parentheses joined), the parser turns an
// entry into a directive or a record. Columns count bytes from 1; a tab is
// one column.
#include "diag/zone.h"
#include "diag/ascii.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <span>
#include <system_error>
#include <utility>

namespace diag::dns {
namespace {

// A what-if zone is a few hundred lines; anything this large is a mistake
// (a binary, a whole TLD dump) that we would rather refuse than load.
constexpr std::size_t max_zone_bytes = 64u * 1024 * 1024;

// RFC 1035 2.3.4: labels are 63 octets or less, names 255 octets or less
// in wire form (length octets and the root label included).
constexpr std::size_t max_label_octets = 63;
constexpr std::size_t max_name_octets = 255;
// RFC 1035 3.3: a <character-string> is one length octet and that many bytes.
constexpr std::size_t max_character_string_octets = 255;
// RFC 2181 8 asks for TTLs below 2^31, but the field is 32 bits and Knot
// and BIND read up to 2^32-1 from a master file; so do we.
constexpr std::uint64_t max_uint32 = 4294967295;
constexpr std::uint64_t max_ttl = max_uint32;
// RFC 1035 3.2.1: RDLENGTH is 16 bits, so RDATA (a TXT record's strings
// with their length octets, or an RFC 3597 "\#" blob) is at most 65,535 octets.
constexpr std::size_t max_rdata_octets = 65535;

// How many CNAME links the overlay follows before giving up. Resolvers use
// similar small limits (BIND: 16); 8 is plenty for a what-if file and
// keeps a mistaken chain from looking like an answer.
constexpr std::size_t max_cname_links = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The record types of the IANA registry that may appear in a master file
// (https://www.iana.org/assignments/dns-parameters/dns-parameters.xhtml#dns-parameters-4),
// Microsoft's WINS and WINSR, which Windows DNS writes into its zone files
// (MS-DNSP, https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-dnsp/),
// and PowerDNS's ALIAS (https://doc.powerdns.com/authoritative/guides/alias.html).
// Meta types (OPT, TSIG, AXFR, ANY, ...) are not data and are left out:
// they are an error in a zone file.
struct RegisteredType {
  std::string_view name;
  std::uint16_t code;
};
constexpr std::array<RegisteredType, 89> registered_types{{
    {"A", 1},          {"NS", 2},        {"MD", 3},          {"MF", 4},          {"CNAME", 5},
    {"SOA", 6},        {"MB", 7},        {"MG", 8},          {"MR", 9},          {"NULL", 10},
    {"WKS", 11},       {"PTR", 12},      {"HINFO", 13},      {"MINFO", 14},      {"MX", 15},
    {"TXT", 16},       {"RP", 17},       {"AFSDB", 18},      {"X25", 19},        {"ISDN", 20},
    {"RT", 21},        {"NSAP", 22},     {"NSAP-PTR", 23},   {"SIG", 24},        {"KEY", 25},
    {"PX", 26},        {"GPOS", 27},     {"AAAA", 28},       {"LOC", 29},        {"NXT", 30},
    {"EID", 31},       {"NIMLOC", 32},   {"SRV", 33},        {"ATMA", 34},       {"NAPTR", 35},
    {"KX", 36},        {"CERT", 37},     {"A6", 38},         {"DNAME", 39},      {"SINK", 40},
    {"APL", 42},       {"DS", 43},       {"SSHFP", 44},      {"IPSECKEY", 45},   {"RRSIG", 46},
    {"NSEC", 47},      {"DNSKEY", 48},   {"DHCID", 49},      {"NSEC3", 50},      {"NSEC3PARAM", 51},
    {"TLSA", 52},      {"SMIMEA", 53},   {"HIP", 55},        {"NINFO", 56},      {"RKEY", 57},
    {"TALINK", 58},    {"CDS", 59},      {"CDNSKEY", 60},    {"OPENPGPKEY", 61}, {"CSYNC", 62},
    {"ZONEMD", 63},    {"SVCB", 64},     {"HTTPS", 65},      {"DSYNC", 66},      {"SPF", 99},
    {"UINFO", 100},    {"UID", 101},     {"GID", 102},       {"UNSPEC", 103},    {"NID", 104},
    {"L32", 105},      {"L64", 106},     {"LP", 107},        {"EUI48", 108},     {"EUI64", 109},
    {"URI", 256},      {"CAA", 257},     {"AVC", 258},       {"DOA", 259},
    {"AMTRELAY", 260}, {"RESINFO", 261}, {"WALLET", 262},    {"CLA", 263},       {"IPN", 264},
    {"TA", 32768},     {"DLV", 32769},   {"WINS", 65281},    {"WINSR", 65282},   {"ALIAS", 65401},
}};
// RFC 6895 3.1: OPT and the range 128-255 (AXFR, ANY, TSIG, ...) are
// questions and meta-types, not record data.
bool is_meta_type(std::uint64_t code) { return code == 41 || (code >= 128 && code <= 255); }
constexpr std::array<RegisteredType, 8> meta_types{{
    {"OPT", 41}, {"TKEY", 249}, {"TSIG", 250}, {"IXFR", 251}, {"AXFR", 252}, {"MAILB", 253}, {"MAILA", 254}, {"ANY", 255},
}};

// RFC 4035 2.5 and RFC 2181 10.1: DNSSEC's RRSIG and NSEC (and the old
// KEY) may sit beside a CNAME; nothing else may.
bool may_sit_beside_cname(std::string_view type) {
  return type == "RRSIG" || type == "NSEC" || type == "KEY";
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// A run of decimal digits no larger than max; no sign, no spaces.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (char c : text)
    if (!is_digit(c)) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// A TTL or SOA time: plain seconds, or BIND's units (s m h d w, any case,
// combinable as in "1h30m"). Every number after the first unit needs a unit.
std::optional<std::uint64_t> parse_duration(std::string_view text, std::uint64_t max) {
  if (auto plain = parse_decimal(text, max)) return plain;
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t number = 0;
    std::size_t digits = 0;
    for (; i < text.size() && is_digit(text[i]); ++i, ++digits) {
      number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
      if (number > max) return std::nullopt;
    }
    if (digits == 0 || i == text.size()) return std::nullopt;
    std::uint64_t unit = 0;
    switch (ascii::lower(text[i])) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 604800; break;
      default: return std::nullopt;
    }
    ++i;
    total += number * unit;  // number <= max < 2^32 and unit < 2^20: no overflow
    if (total > max) return std::nullopt;
  }
  return total;
}

// RFC 1035 5.1: "\X" is X, "\DDD" is the byte with decimal value DDD.
// Returns the unescaped bytes, or the offending escape.
struct Unescaped {
  std::string bytes;
  std::optional<std::string> bad_escape;
};

Unescaped unescape(std::string_view raw) {
  Unescaped out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out.bytes += raw[i];
      continue;
    }
    if (i + 1 >= raw.size()) {
      out.bad_escape = "\\";
      return out;
    }
    if (!is_digit(raw[i + 1])) {
      out.bytes += raw[i + 1];
      ++i;
      continue;
    }
    const std::string_view digits = raw.substr(i + 1, 3);
    const auto value = parse_decimal(digits, 255);
    if (digits.size() != 3 || !value) {
      out.bad_escape = "\\" + std::string(digits);
      return out;
    }
    out.bytes += static_cast<char>(*value);
    i += 3;
  }
  return out;
}

// The presentation form of one label inside a canonical name: dots and
// backslashes in the label are escaped so that the name still splits into
// the same labels; bytes outside printable ASCII become \DDD.
std::string escape_label(std::string_view label) {
  std::string out;
  for (unsigned char c : label) {
    if (c == '.' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c <= 0x20 || c > 0x7e) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\%03u", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tokenizer

struct Token {
  std::string text;  // raw: escapes are kept, quotes are removed
  bool quoted = false;
  int line = 0;
  int column = 0;
};

// One logical line of the master file (RFC 1035 5.1: parentheses let an
// entry continue over line ends).
struct Entry {
  std::vector<Token> tokens;
  // RFC 1035 5.1: a line that starts with a blank reuses the previous owner.
  bool inherits_owner = false;
};

class MasterFileTokenizer {
 public:
  MasterFileTokenizer(std::string_view text, const std::string& display_name)
      : text_(text), display_name_(display_name) {}

  Error error_at(int line, int column, std::string_view message) const {
    return bad_input(display_name_ + ":" + std::to_string(line) + ":" + std::to_string(column) +
                     ": " + std::string(message));
  }

  // The next entry that holds at least one token; an empty optional at the
  // end of the text.
  Result<std::optional<Entry>> next_entry() {
    while (!at_end()) {
      Entry entry;
      entry.inherits_owner = (peek() == ' ' || peek() == '\t');
      if (auto error = read_entry(entry)) return *error;
      if (!entry.tokens.empty()) return std::optional<Entry>(std::move(entry));
    }
    return std::optional<Entry>();
  }

 private:
  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return text_[position_]; }
  void advance() {
    if (text_[position_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++position_;
  }

  // Reads from the start of a line to the newline that ends the entry
  // (outside parentheses) or to the end of the text.
  std::optional<Error> read_entry(Entry& entry) {
    int open_parenthesis_line = 0, open_parenthesis_column = 0;
    bool inside_parentheses = false;
    while (!at_end()) {
      const char c = peek();
      if (c == '\n') {
        advance();
        if (!inside_parentheses) return std::nullopt;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        advance();
      } else if (c == ';') {
        while (!at_end() && peek() != '\n') advance();
      } else if (c == '(') {
        // RFC 1035 5.1 groups with one pair of parentheses; BIND and Knot
        // refuse nesting too.
        if (inside_parentheses)
          return error_at(line_, column_,
                          "nested \"(\": parentheses are already open at line " +
                              std::to_string(open_parenthesis_line) + ":" +
                              std::to_string(open_parenthesis_column));
        inside_parentheses = true;
        open_parenthesis_line = line_;
        open_parenthesis_column = column_;
        advance();
      } else if (c == ')') {
        if (!inside_parentheses) return error_at(line_, column_, "\")\" without a matching \"(\"");
        inside_parentheses = false;
        advance();
      } else if (c == '"') {
        if (auto error = read_quoted(entry)) return error;
      } else {
        if (auto error = read_word(entry)) return error;
      }
    }
    if (inside_parentheses)
      return error_at(open_parenthesis_line, open_parenthesis_column, "\"(\" is never closed");
    return std::nullopt;
  }

  // A quoted character-string ends at the next unescaped quote on the
  // same line.
  std::optional<Error> read_quoted(Entry& entry) {
    Token token{"", true, line_, column_};
    advance();  // the opening quote
    while (true) {
      if (at_end() || peek() == '\n')
        return error_at(token.line, token.column, "quoted string is never closed");
      const char c = peek();
      if (c == '"') {
        advance();
        break;
      }
      if (c == '\\') {
        token.text += c;
        advance();
        if (at_end() || peek() == '\n')
          return error_at(token.line, token.column, "quoted string is never closed");
      }
      token.text += peek();
      advance();
    }
    entry.tokens.push_back(std::move(token));
    return std::nullopt;
  }

  // An unquoted word ends at a blank, a line end, a comment, a quote or a
  // parenthesis; a backslash protects the next character from all of them.
  std::optional<Error> read_word(Entry& entry) {
    Token token{"", false, line_, column_};
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' || c == ')' ||
          c == '"')
        break;
      if (c == '\\') {
        const int escape_line = line_, escape_column = column_;
        token.text += c;
        advance();
        if (at_end() || peek() == '\n' || peek() == '\r')
          return error_at(escape_line, escape_column, "backslash at the end of a line");
      }
      token.text += peek();
      advance();
    }
    entry.tokens.push_back(std::move(token));
    return std::nullopt;
  }

  std::string_view text_;
  const std::string& display_name_;
  std::size_t position_ = 0;
  int line_ = 1;
  int column_ = 1;
};

// ---------------------------------------------------------------------------
// Parser

// The fields each supported type takes after its type token, named as in
// RFC 1035 3.3 so that errors can say which one is wrong. TXT and SPF take
// one or more character-strings instead and are not listed.
const std::vector<std::string_view>& fields_of(RrType type) {
  static const std::vector<std::string_view> address{"address"};
  static const std::vector<std::string_view> mx{"preference", "exchange"};
  static const std::vector<std::string_view> ns{"nsdname"};
  static const std::vector<std::string_view> cname{"target"};
  static const std::vector<std::string_view> ptr{"ptrdname"};
  static const std::vector<std::string_view> soa{"mname", "rname",  "serial", "refresh",
                                                 "retry", "expire", "minimum"};
  static const std::vector<std::string_view> none{};
  switch (type) {
    case RrType::A:
    case RrType::AAAA: return address;
    case RrType::MX: return mx;
    case RrType::NS: return ns;
    case RrType::CNAME: return cname;
    case RrType::PTR: return ptr;
    case RrType::SOA: return soa;
    default: return none;
  }
}

std::string field_list(const std::vector<std::string_view>& fields) {
  std::string out;
  for (auto field : fields) out += (out.empty() ? "" : " ") + std::string(field);
  return out;
}

class MasterFileParser {
 public:
  MasterFileParser(std::string_view text, const std::string& display_name,
                   std::string_view initial_origin)
      : tokenizer_(text, display_name) {
    zone_.path = display_name;
    if (!initial_origin.empty()) {
      // Given from outside (--zone-origin), the origin names the zone, as
      // the zone name does for named-checkzone and Knot: it is always
      // absolute, with or without its final dot.
      Token token{std::string(initial_origin), false, 0, 0};
      if (token.text != "." && token.text.back() != '.') token.text += '.';
      auto origin = resolve_name(token, "origin");
      if (!origin) {
        // resolve_name speaks of a position in the file; this name is not
        // in it, so keep only what is wrong with it.
        const auto& message = origin.error().message;
        const std::string described = quote(token.text);
        const auto at = message.find(described);
        origin_error_ = bad_input(display_name + ": the zone origin " + quote(initial_origin) +
                                  (at == std::string::npos ? std::string(" is not a domain name")
                                                           : message.substr(at + described.size())));
        return;
      }
      origin_ = *origin;
      outside_origin_ = *origin;
    }
  }

  Result<ZoneFile> parse() {
    if (origin_error_) return *origin_error_;
    while (true) {
      auto entry = tokenizer_.next_entry();
      if (!entry) return entry.error();
      if (!entry->has_value()) break;
      const Entry& current = **entry;
      const Token& first = current.tokens.front();
      const bool is_directive = !current.inherits_owner && !first.quoted && first.text.size() > 1 &&
                                first.text.front() == '$';
      if (auto error = is_directive ? directive(current) : record(current)) return *error;
    }
    if (zone_.records.empty() && zone_.skipped.empty())
      return bad_input(zone_.path + ": holds no records (only comments and directives)");
    if (auto error = check_cnames()) return *error;
    finish_apexes();
    warn_about_unanswerable_records();
    return std::move(zone_);
  }

 private:
  Error error_at(const Token& token, std::string_view message) const {
    return tokenizer_.error_at(token.line, token.column, message);
  }

  // RFC 1035 5.1 $ORIGIN and $INCLUDE; RFC 2308 4 $TTL.
  std::optional<Error> directive(const Entry& entry) {
    const Token& name = entry.tokens.front();
    const auto arguments = entry.tokens.size() - 1;
    if (ascii::iequals(name.text, "$INCLUDE"))
      // A what-if file must be self-contained: what it answers should be
      // visible in the one file the user passed.
      return error_at(name, "$INCLUDE is not supported");
    if (ascii::iequals(name.text, "$ORIGIN")) {
      if (arguments != 1) return error_at(name, "$ORIGIN takes exactly one name");
      auto origin = resolve_name(entry.tokens[1], "$ORIGIN");
      if (!origin) return origin.error();
      origin_ = *origin;
      origins_set_.push_back(*origin);
      if (zone_.records.empty() && zone_.skipped.empty()) zone_.names_its_zone = true;
      return std::nullopt;
    }
    if (ascii::iequals(name.text, "$TTL")) {
      if (arguments != 1) return error_at(name, "$TTL takes exactly one TTL");
      const Token& value = entry.tokens[1];
      const auto ttl = parse_duration(value.text, max_ttl);
      if (value.quoted || !ttl)
        return error_at(value, "$TTL " + quote(value.text) +
                                   " is not seconds 0-4294967295 or a duration like 1h30m");
      default_ttl_ = static_cast<std::uint32_t>(*ttl);
      return std::nullopt;
    }
    return error_at(name, "unknown directive " + name.text + " (supported: $ORIGIN $TTL)");
  }

  // RFC 1035 5.1: <domain-name> [<TTL>] [<class>] <type> <RDATA>, where
  // TTL and class may come in either order.
  std::optional<Error> record(const Entry& entry) {
    const auto& tokens = entry.tokens;
    std::size_t next = 0;
    Record record;
    if (entry.inherits_owner) {
      if (!previous_owner_)
        return error_at(tokens.front(),
                        "line starts with a blank but there is no previous owner to reuse");
      record.owner = *previous_owner_;
    } else {
      const Token& written = tokens[next++];
      auto owner = resolve_name(written, "owner");
      if (!owner) return owner.error();
      record.owner = *owner;
      previous_owner_absolute_ = written.text.size() > 1 && written.text.back() == '.';
    }
    previous_owner_ = record.owner;

    std::optional<std::uint32_t> ttl;
    bool class_seen = false;
    while (next < tokens.size() && !tokens[next].quoted) {
      const Token& token = tokens[next];
      if (is_digit(token.text.front())) {
        if (ttl) return error_at(token, "TTL given twice");
        const auto value = parse_duration(token.text, max_ttl);
        if (!value)
          return error_at(token, "TTL " + quote(token.text) +
                                     " is not seconds 0-4294967295 or a duration like 1h30m");
        ttl = static_cast<std::uint32_t>(*value);
      } else if (is_class(token.text)) {
        if (class_seen) return error_at(token, "class given twice");
        // RFC 1035 3.2.4: other classes exist, but nothing we check lives
        // there. RFC 3597 5: CLASS1 is IN.
        if (!ascii::iequals(token.text, "IN") && !ascii::iequals(token.text, "CLASS1"))
          return error_at(token, "class " + token.text + " is not supported (only IN)");
        class_seen = true;
      } else if (is_windows_aging_stamp(token.text)) {
        // Windows DNS writes "[AGE:3632743]" (hours since 1601) before the
        // TTL of a dynamically registered record; it is not DNS data.
      } else {
        break;
      }
      ++next;
    }

    if (next >= tokens.size())
      return error_at(tokens.back(), "record has no type after " + quote(tokens.back().text));
    if (!tokens[next].quoted && ascii::iequals(tokens[next].text, "AWS") && next + 1 < tokens.size()) {
      // cli53 (https://github.com/barnybug/cli53) writes Route 53's alias
      // and routed records with the made-up class AWS: "www 300 AWS ALIAS A
      // TARGET ZONEID false". No DNS server reads them; we skip them.
      zone_.skipped.push_back({record.owner, "AWS " + ascii::to_upper(tokens[next + 1].text),
                               tokens.front().line, tokens.front().column});
      return std::nullopt;
    }
    const Token& type_token = tokens[next++];
    auto type = record_type(type_token);
    if (!type) return type.error();
    const std::span<const Token> fields(tokens.begin() + static_cast<std::ptrdiff_t>(next),
                                        tokens.end());
    if (!type->kept) {
      // A type no tool asks for: skipped, but its owner exists. Its RDATA
      // is not read, except the RFC 3597 form, whose length we can check.
      if (!fields.empty() && is_generic_marker(fields[0])) {
        auto bytes = generic_rdata(type_token, fields, type->name);
        if (!bytes) return bytes.error();
      }
      if (!ttl && !default_ttl_ && !soa_minimum_)
        return error_at(tokens.front(), "record has no TTL and no $TTL came before it");
      zone_.skipped.push_back({record.owner, type->name, tokens.front().line, tokens.front().column});
      return std::nullopt;
    }
    record.type = *type->kept;

    if (!fields.empty() && is_generic_marker(fields[0])) {
      auto bytes = generic_rdata(type_token, fields, type->name);
      if (!bytes) return bytes.error();
      if (auto error = decode_wire_rdata(record, type_token, *bytes)) return error;
    } else if (auto error = parse_rdata(record, type_token, fields)) {
      return error;
    }

    if (ttl) {
      record.ttl = *ttl;
    } else if (default_ttl_) {
      record.ttl = *default_ttl_;
    } else if (soa_minimum_) {
      // RFC 1035 5.1 reused the last stated TTL; RFC 2308 4 replaced that
      // with $TTL. For files without $TTL we fall back, as BIND does, to
      // the MINIMUM of the SOA seen before.
      record.ttl = *soa_minimum_;
    } else if (record.type == RrType::SOA) {
      // An SOA without TTL is the first record of most hand-written zones;
      // like BIND, give it its own MINIMUM.
      record.ttl = std::get<SoaData>(record.data).minimum;
    } else {
      return error_at(tokens.front(), "record has no TTL and no $TTL came before it");
    }

    if (record.type == RrType::SOA) {
      // The first SOA's owner written absolute names the zone; Cloudflare
      // writes it without the final dot and needs the name from outside.
      if (soa_owners_.empty() && previous_owner_absolute_) zone_.names_its_zone = true;
      soa_minimum_ = std::get<SoaData>(record.data).minimum;
      if (std::find(soa_owners_.begin(), soa_owners_.end(), record.owner) == soa_owners_.end())
        soa_owners_.push_back(record.owner);
    }
    // RFC 2181 5: an RRset holds no duplicates; a record written twice is
    // one record (Knot and BIND merge them the same way).
    const std::string key = record.owner + ' ' + std::to_string(static_cast<int>(record.type)) + ' ' +
                            record.data_text();
    if (!seen_records_.insert(key).second) return std::nullopt;
    zone_.records.push_back(std::move(record));
    zone_.lines.push_back(tokens.front().line);
    columns_.push_back(tokens.front().column);
    return std::nullopt;
  }

  static bool is_class(std::string_view text) {
    if (text.size() > 5 && ascii::iequals(text.substr(0, 5), "CLASS") &&
        parse_decimal(text.substr(5), 65535))
      return true;
    return ascii::iequals(text, "IN") || ascii::iequals(text, "CH") || ascii::iequals(text, "HS") ||
           ascii::iequals(text, "CS");
  }

  static bool is_windows_aging_stamp(std::string_view text) {
    return text.size() > 6 && ascii::iequals(text.substr(0, 5), "[AGE:") && text.back() == ']' &&
           parse_decimal(text.substr(5, text.size() - 6), max_uint32);
  }

  static bool is_generic_marker(const Token& token) { return !token.quoted && token.text == "\\#"; }

  struct RecordType {
    std::optional<RrType> kept;  // a type the tools use, or nothing: skip it
    std::string name;            // the registry's mnemonic, or TYPEnnn
  };

  // A type mnemonic from the registry, or RFC 3597 5's TYPEnnn.
  Result<RecordType> record_type(const Token& token) const {
    const auto refuse = [&](std::string_view why) {
      return error_at(token, "record type " + quote(token.text) + " " + std::string(why));
    };
    if (token.quoted) return refuse("is quoted; a type is written without quotes");
    std::optional<std::uint64_t> code;
    if (token.text.size() > 4 && ascii::iequals(std::string_view(token.text).substr(0, 4), "TYPE"))
      code = parse_decimal(std::string_view(token.text).substr(4), 65535);
    for (const auto& known : registered_types) {
      if ((code && known.code == *code) || (!code && ascii::iequals(known.name, token.text))) {
        code = known.code;
        RecordType out{std::nullopt, std::string(known.name)};
        if (auto kept = rr_type_from_string(known.name); kept && *kept != RrType::OPT) out.kept = kept;
        return out;
      }
    }
    for (const auto& meta : meta_types)
      if (!code && ascii::iequals(meta.name, token.text)) code = meta.code;
    if (!code) return refuse("is not a DNS record type (see https://www.iana.org/assignments/dns-parameters)");
    if (is_meta_type(*code)) return refuse("is a query or meta type, not record data (RFC 6895 3.1)");
    return RecordType{std::nullopt, "TYPE" + std::to_string(*code)};
  }

  // RFC 3597 5: "\# LENGTH HEX...", the hex in one or more words.
  Result<std::string> generic_rdata(const Token& type_token, std::span<const Token> fields,
                                    const std::string& type_name) const {
    if (fields.size() < 2)
      return error_at(type_token, type_name + " record in the RFC 3597 form needs a length after \\#");
    const auto length = fields[1].quoted ? std::nullopt : parse_decimal(fields[1].text, max_rdata_octets);
    if (!length)
      return error_at(fields[1], "RFC 3597 length " + quote(fields[1].text) + " is not a number 0-65535");
    std::string hex;
    for (const auto& field : fields.subspan(2)) {
      for (char c : field.text)
        if (field.quoted || !std::isxdigit(static_cast<unsigned char>(c)))
          return error_at(field, "RFC 3597 data " + quote(field.text) + " is not hexadecimal");
      hex += field.text;
    }
    if (hex.size() % 2 != 0 || hex.size() / 2 != *length)
      return error_at(fields[1], "RFC 3597 length is " + std::to_string(*length) + " but the data holds " +
                                     (hex.size() % 2 != 0 ? "an odd number of hex digits"
                                                          : std::to_string(hex.size() / 2) + " octets"));
    std::string bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2)
      bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return bytes;
  }

  // RFC 3597 5: RDATA of a known type written as wire octets is read into
  // that type, exactly as if it had arrived in an answer (names uncompressed).
  std::optional<Error> decode_wire_rdata(Record& record, const Token& type_token, std::string_view wire) {
    const std::string type_name(to_string(record.type));
    std::size_t at = 0;
    const auto bad = [&](std::string_view why) {
      return error_at(type_token, type_name + " record in the RFC 3597 form: " + std::string(why));
    };
    const auto take_name = [&]() -> std::optional<std::string> {
      std::string name;
      std::size_t octets = 1;
      while (true) {
        if (at >= wire.size()) return std::nullopt;
        const auto length = static_cast<unsigned char>(wire[at++]);
        if (length == 0) break;
        if (length > max_label_octets || at + length > wire.size()) return std::nullopt;
        octets += 1 + length;
        if (octets > max_name_octets) return std::nullopt;
        name += (name.empty() ? "" : ".") + escape_label(wire.substr(at, length));
        at += length;
      }
      return name.empty() ? std::string(".") : canonical_name(name);
    };
    const auto take_u16 = [&]() -> std::optional<std::uint32_t> {
      if (at + 2 > wire.size()) return std::nullopt;
      const auto value = static_cast<std::uint32_t>(static_cast<unsigned char>(wire[at]) << 8 |
                                                    static_cast<unsigned char>(wire[at + 1]));
      at += 2;
      return value;
    };
    const auto take_u32 = [&]() -> std::optional<std::uint32_t> {
      const auto high = take_u16();
      const auto low = high ? take_u16() : std::nullopt;
      if (!low) return std::nullopt;
      return *high << 16 | *low;
    };
    switch (record.type) {
      case RrType::A:
      case RrType::AAAA: {
        const std::size_t size = record.type == RrType::A ? 4 : 16;
        if (wire.size() != size) return bad("an address is " + std::to_string(size) + " octets");
        std::array<std::uint8_t, 16> octets{};
        std::copy(wire.begin(), wire.end(), octets.begin());
        const auto address = size == 4 ? IpAddress::v4({octets[0], octets[1], octets[2], octets[3]})
                                       : IpAddress::v6(octets);
        record.data = AddressData{address};
        return std::nullopt;
      }
      case RrType::MX: {
        const auto preference = take_u16();
        const auto exchange = preference ? take_name() : std::nullopt;
        if (!exchange || at != wire.size()) return bad("not a preference and a name");
        record.data = MxData{static_cast<std::uint16_t>(*preference), *exchange};
        return std::nullopt;
      }
      case RrType::NS:
      case RrType::CNAME:
      case RrType::PTR: {
        const auto target = take_name();
        if (!target || at != wire.size()) return bad("not one name in wire form");
        record.data = NameData{*target};
        return std::nullopt;
      }
      case RrType::TXT:
      case RrType::SPF: {
        // RFC 1035 3.3.14: one or more <character-string>s, each a length
        // octet and that many octets.
        TxtData data;
        while (at < wire.size()) {
          const auto length = static_cast<unsigned char>(wire[at++]);
          if (at + length > wire.size()) return bad("a character-string runs past the end");
          data.strings.emplace_back(wire.substr(at, length));
          at += length;
        }
        if (data.strings.empty()) return bad("no character-string");
        record.data = std::move(data);
        return std::nullopt;
      }
      case RrType::SOA: {
        SoaData soa;
        auto mname = take_name();
        auto rname = mname ? take_name() : std::nullopt;
        std::array<std::uint32_t*, 5> numbers{&soa.serial, &soa.refresh, &soa.retry, &soa.expire, &soa.minimum};
        bool complete = rname.has_value();
        for (auto* slot : numbers) {
          const auto value = complete ? take_u32() : std::nullopt;
          if (!value) complete = false;
          else *slot = *value;
        }
        if (!complete || at != wire.size()) return bad("not two names and five 32-bit numbers");
        soa.mname = *mname;
        soa.rname = *rname;
        record.data = std::move(soa);
        return std::nullopt;
      }
      default: break;
    }
    return bad("this type is not read");
  }

  std::optional<Error> parse_rdata(Record& record, const Token& type_token,
                                   std::span<const Token> fields) {
    const std::string type_name(to_string(record.type));
    if (record.type == RrType::TXT || record.type == RrType::SPF)
      return parse_txt(record, type_token, fields);

    const auto& expected = fields_of(record.type);
    if (fields.size() < expected.size())
      return error_at(type_token, type_name + " record is missing its " +
                                      std::string(expected[fields.size()]) +
                                      " (expected: " + field_list(expected) + ")");
    if (fields.size() > expected.size())
      return error_at(fields[expected.size()], type_name + " record has an extra field " +
                                                   quote(fields[expected.size()].text) +
                                                   " (expected: " + field_list(expected) + ")");

    switch (record.type) {
      case RrType::A:
      case RrType::AAAA: {
        const bool want_v4 = record.type == RrType::A;
        const auto address = fields[0].quoted ? std::nullopt : IpAddress::parse(fields[0].text);
        if (!address || address->is_v4() != want_v4)
          return error_at(fields[0], type_name + " address " + quote(fields[0].text) +
                                         " is not an " + (want_v4 ? "IPv4" : "IPv6") + " address");
        record.data = AddressData{*address};
        return std::nullopt;
      }
      case RrType::MX: {
        const auto preference =
            fields[0].quoted ? std::nullopt : parse_decimal(fields[0].text, 65535);
        if (!preference)
          return error_at(fields[0],
                          "MX preference " + quote(fields[0].text) + " is not a number 0-65535");
        auto exchange = resolve_target(fields[1], "MX exchange");
        if (!exchange) return exchange.error();
        record.data = MxData{static_cast<std::uint16_t>(*preference), *exchange};
        return std::nullopt;
      }
      case RrType::NS:
      case RrType::CNAME:
      case RrType::PTR: {
        auto target = resolve_target(fields[0], type_name + " " + std::string(expected[0]));
        if (!target) return target.error();
        record.data = NameData{*target};
        return std::nullopt;
      }
      case RrType::SOA: return parse_soa(record, fields);
      default: break;
    }
    return error_at(type_token, "record type " + type_name + " is not supported");
  }

  // RFC 1035 3.3.14: TXT-DATA is one or more <character-string>s, each at
  // most 255 octets; RFC 7208 3.3 says SPF records are the same shape.
  std::optional<Error> parse_txt(Record& record, const Token& type_token,
                                 std::span<const Token> fields) {
    const std::string type_name(to_string(record.type));
    if (fields.empty())
      return error_at(type_token, type_name + " record needs at least one character-string");
    TxtData data;
    std::size_t rdata_octets = 0;
    for (const auto& field : fields) {
      auto text = unescape(field.text);
      if (text.bad_escape)
        return error_at(field, type_name + " string has a bad escape " + quote(*text.bad_escape) +
                                   " (use \\X or \\DDD with DDD 000-255)");
      if (text.bytes.size() > max_character_string_octets)
        return error_at(field, type_name + " string is " + std::to_string(text.bytes.size()) +
                                   " octets; a character-string holds at most 255 (split it "
                                   "into several quoted strings)");
      rdata_octets += 1 + text.bytes.size();
      if (rdata_octets > max_rdata_octets)
        return error_at(field, type_name + " record is longer than 65535 octets of RDATA "
                                           "(RFC 1035 3.2.1: RDLENGTH is 16 bits)");
      data.strings.push_back(std::move(text.bytes));
    }
    record.data = std::move(data);
    return std::nullopt;
  }

  std::optional<Error> parse_soa(Record& record, std::span<const Token> fields) {
    SoaData soa;
    auto mname = resolve_target(fields[0], "SOA mname");
    if (!mname) return mname.error();
    auto rname = resolve_target(fields[1], "SOA rname");
    if (!rname) return rname.error();
    soa.mname = *mname;
    soa.rname = *rname;
    // RFC 1982: the serial is a plain 32-bit number, no units.
    const auto serial = fields[2].quoted ? std::nullopt : parse_decimal(fields[2].text, max_uint32);
    if (!serial)
      return error_at(fields[2],
                      "SOA serial " + quote(fields[2].text) + " is not a number 0-4294967295");
    soa.serial = static_cast<std::uint32_t>(*serial);
    const std::array<std::pair<std::uint32_t*, std::size_t>, 4> times{
        {{&soa.refresh, 3}, {&soa.retry, 4}, {&soa.expire, 5}, {&soa.minimum, 6}}};
    for (const auto& [slot, index] : times) {
      const Token& field = fields[index];
      const auto value = field.quoted ? std::nullopt : parse_duration(field.text, max_uint32);
      if (!value)
        return error_at(field, "SOA " + std::string(fields_of(RrType::SOA)[index]) + " " +
                                   quote(field.text) +
                                   " is not seconds 0-4294967295 or a duration like 1h30m");
      *slot = static_cast<std::uint32_t>(*value);
    }
    record.data = std::move(soa);
    return std::nullopt;
  }

  // A name in RDATA: like an owner, but the root stays "." (RFC 7505 null
  // MX "0 ." must not turn into an empty string).
  Result<std::string> resolve_target(const Token& token, std::string_view what) {
    auto name = resolve_name(token, what);
    if (name && name->empty()) return std::string(".");
    return name;
  }

  // RFC 1035 5.1: "@" is the origin, a name ending in an unescaped dot is
  // absolute, any other name is relative to the origin. Returns the
  // canonical form (lower case, no trailing dot, "" for the root).
  Result<std::string> resolve_name(const Token& token, std::string_view what) {
    const std::string described = std::string(what) + " " + quote(token.text);
    if (token.quoted)
      return error_at(token, described + " is quoted; a name is written without quotes");
    if (token.text == "@") {
      if (!origin_)
        return error_at(token, described +
                                   " needs an origin, and none is known yet "
                                   "(set $ORIGIN, or give the zone's name with --zone-origin NAME)");
      return *origin_;
    }

    // Split into labels at unescaped dots, unescaping each label so that
    // its length is counted in octets.
    std::vector<std::string> labels;
    bool absolute = false;
    if (token.text == ".") {
      absolute = true;
    } else {
      std::string raw_label;
      const std::string_view text = token.text;
      for (std::size_t i = 0; i <= text.size(); ++i) {
        const bool at_end = i == text.size();
        if (!at_end && text[i] == '\\') {
          raw_label += text[i];
          if (i + 1 < text.size()) raw_label += text[++i];
          continue;
        }
        if (!at_end && text[i] != '.') {
          raw_label += text[i];
          continue;
        }
        if (at_end && raw_label.empty() && !labels.empty()) {
          absolute = true;  // the name ended in a dot
          break;
        }
        if (raw_label.empty()) return error_at(token, described + " has an empty label");
        auto label = unescape(raw_label);
        if (label.bad_escape)
          return error_at(token, described + " has a bad escape " + quote(*label.bad_escape) +
                                     " (use \\X or \\DDD with DDD 000-255)");
        if (label.bytes.size() > max_label_octets)
          return error_at(token, described + " has a label of " +
                                     std::to_string(label.bytes.size()) +
                                     " octets; the limit is 63 (RFC 1035 2.3.4)");
        labels.push_back(std::move(label.bytes));
        raw_label.clear();
      }
    }

    std::string name;
    std::size_t wire_octets = 1;  // the root label
    for (const auto& label : labels) {
      name += (name.empty() ? "" : ".") + escape_label(label);
      wire_octets += 1 + label.size();
    }
    if (!absolute) {
      if (!origin_)
        return error_at(token, described +
                                   " is relative and no origin is known yet "
                                   "(end it with \".\", set $ORIGIN, or give the zone's name "
                                   "with --zone-origin NAME)");
      if (!origin_->empty()) {
        name += "." + *origin_;
        wire_octets += wire_length(*origin_) - 1;
      }
    }
    if (wire_octets > max_name_octets)
      return error_at(token, described + " is " + std::to_string(wire_octets) +
                                 " octets long; the limit is 255 (RFC 1035 2.3.4)");
    return canonical_name(name);
  }

  // Wire length of a canonical name we built ourselves (labels already
  // checked), counting escapes as the one byte they stand for.
  static std::size_t wire_length(std::string_view canonical) {
    if (canonical.empty()) return 1;
    std::size_t octets = 2;  // first length octet and the root label
    for (std::size_t i = 0; i < canonical.size(); ++i) {
      if (canonical[i] == '\\') {
        i += is_digit(canonical[i + 1]) ? 3 : 1;
        ++octets;
      } else {
        ++octets;  // a byte, or a dot that becomes the next length octet
      }
    }
    return octets;
  }

  // RFC 1034 3.6.2 and RFC 2181 10.1: a name with a CNAME has no other
  // data and one CNAME only. Knot and BIND refuse such a file; so do we,
  // naming both lines.
  std::optional<Error> check_cnames() const {
    std::map<std::string, std::size_t> first_cname;  // owner -> index in records
    for (std::size_t i = 0; i < zone_.records.size(); ++i) {
      const Record& record = zone_.records[i];
      if (record.type != RrType::CNAME) continue;
      const auto [it, inserted] = first_cname.emplace(record.owner, i);
      if (!inserted)
        return tokenizer_.error_at(zone_.lines[i], columns_[i],
                                   "a second CNAME at " + record.owner + " (the first is at line " +
                                       std::to_string(zone_.lines[it->second]) +
                                       "); a name has at most one CNAME (RFC 2181 10.1)");
    }
    // Reported at the later of the two lines, naming the earlier one.
    const auto conflict = [&](const std::string& owner, std::string_view type, int line,
                              int column) -> std::optional<Error> {
      const auto cname = first_cname.find(owner);
      if (cname == first_cname.end() || may_sit_beside_cname(type)) return std::nullopt;
      const int cname_line = zone_.lines[cname->second];
      const bool cname_first = cname_line <= line;
      std::string hint;
      if (std::find(soa_owners_.begin(), soa_owners_.end(), owner) != soa_owners_.end() ||
          outside_origin_ == owner)
        hint = "; Cloudflare exports its flattened apex CNAME this way: delete the CNAME line, or "
               "write the A and AAAA records it stands for";
      const std::string message =
          "CNAME at " + owner + " beside other data (" +
          (cname_first ? "the CNAME is at line " + std::to_string(cname_line) + ", " + std::string(type) + " here"
                       : std::string(type) + " at line " + std::to_string(line) + ", the CNAME here") +
          "): a name with a CNAME has no other records (RFC 1034 3.6.2)" + hint;
      return cname_first ? tokenizer_.error_at(line, column, message)
                         : tokenizer_.error_at(cname_line, columns_[cname->second], message);
    };
    for (std::size_t i = 0; i < zone_.records.size(); ++i) {
      const Record& record = zone_.records[i];
      if (record.type == RrType::CNAME) continue;
      if (auto error = conflict(record.owner, to_string(record.type), zone_.lines[i], columns_[i])) return error;
    }
    for (const auto& skipped : zone_.skipped)
      if (auto error = conflict(skipped.owner, skipped.type, skipped.line, skipped.column)) return error;
    return std::nullopt;
  }

  void finish_apexes() {
    std::vector<std::string> source;
    if (outside_origin_)
      source = {*outside_origin_};
    else
      source = soa_owners_.empty() ? origins_set_ : soa_owners_;
    for (const auto& apex : source)
      if (std::find(zone_.apexes.begin(), zone_.apexes.end(), apex) == zone_.apexes.end())
        zone_.apexes.push_back(apex);
  }

  // A file that loads but cannot answer what it seems to hold says so: the
  // overlay answers only names inside an apex.
  void warn_about_unanswerable_records() {
    if (zone_.apexes.empty()) {
      zone_.warnings.push_back(zone_.path +
                               ": has no SOA record and no $ORIGIN, so it names no zone and answers "
                               "nothing; give the zone's name with --zone-origin NAME");
      return;
    }
    std::size_t outside = 0;
    std::optional<std::size_t> first;
    for (std::size_t i = 0; i < zone_.records.size(); ++i) {
      const auto& owner = zone_.records[i].owner;
      const bool inside = std::any_of(zone_.apexes.begin(), zone_.apexes.end(),
                                      [&owner](const std::string& apex) { return name_is_at_or_below(owner, apex); });
      if (inside) continue;
      ++outside;
      if (!first) first = i;
    }
    if (outside == 0) return;
    std::string zones;
    for (const auto& apex : zone_.apexes) zones += (zones.empty() ? "" : ", ") + (apex.empty() ? "." : apex);
    const bool all = outside == zone_.records.size();
    zone_.warnings.push_back(
        zone_.path + ": " + (all ? "all " : "") + std::to_string(outside) + " record" + (outside == 1 ? "" : "s") +
        " (the first: " + zone_.records[*first].owner + " at line " + std::to_string(zone_.lines[*first]) +
        ") lie outside the zone " + zones + " and are not answered" +
        (outside_origin_ ? "; check --zone-origin" : "; give the zone's name with --zone-origin NAME"));
  }

  MasterFileTokenizer tokenizer_;
  ZoneFile zone_;
  std::optional<std::string> origin_;
  std::optional<std::string> previous_owner_;
  std::optional<std::uint32_t> default_ttl_;
  std::optional<std::uint32_t> soa_minimum_;
  std::vector<std::string> soa_owners_;
  bool previous_owner_absolute_ = false;  // the owner was written with its final dot
  std::vector<std::string> origins_set_;
  std::optional<std::string> outside_origin_;
  std::optional<Error> origin_error_;
  std::set<std::string> seen_records_;
  std::vector<int> columns_;  // parallel to zone_.records
};

std::string too_large_message() { return "larger than 64 MiB; refusing to read it as a zone file"; }

// UTF-16 text (what Windows calls "Unicode", and what PowerShell's ">"
// writes) has a byte order mark or, for ASCII text, a NUL in every other
// byte. Neither Knot nor BIND reads it; we name it so the admin can save
// the file again as UTF-8.
bool looks_like_utf16(std::string_view text) {
  if (text.size() >= 2 && ((text[0] == '\xff' && text[1] == '\xfe') || (text[0] == '\xfe' && text[1] == '\xff')))
    return true;
  const std::size_t sample = std::min<std::size_t>(text.size(), 64);
  if (sample < 4) return false;
  std::size_t nul_even = 0, nul_odd = 0;
  for (std::size_t i = 0; i < sample; ++i)
    if (text[i] == '\0') ++(i % 2 == 0 ? nul_even : nul_odd);
  return nul_even >= sample / 2 - 1 || nul_odd >= sample / 2 - 1;
}

}  // namespace

std::string ZoneFile::skipped_summary() const {
  std::map<std::string, std::size_t> counts;
  for (const auto& record : skipped) ++counts[record.type];
  std::string out;
  for (const auto& [type, count] : counts) out += (out.empty() ? "" : ", ") + type + " " + std::to_string(count);
  return out;
}

Result<ZoneFile> parse_zone_text(std::string_view text, const std::string& display_name,
                                 std::string_view initial_origin) {
  if (text.size() > max_zone_bytes) return bad_input(display_name + ": " + too_large_message());
  if (looks_like_utf16(text))
    return bad_input(display_name + ": is UTF-16 text (Windows \"Unicode\"); save it as UTF-8 and try again");
  // A UTF-8 byte order mark (Notepad writes one) is not part of the text.
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return bad_input(display_name + ": is empty; a zone file holds at least one record");
  return MasterFileParser(text, display_name, initial_origin).parse();
}

Result<ZoneFile> parse_zone_file(const std::string& path, std::string_view initial_origin) {
  const auto cannot_read = [&path](int error_number) {
    return bad_input(path + ": cannot read: " + std::generic_category().message(error_number));
  };
  // Checked before reading: a directory says so, and a file over the limit
  // is refused from its size, not after 64 MiB went into memory.
  std::error_code status_error;
  const auto status = std::filesystem::status(path, status_error);
  if (status_error) return cannot_read(status_error.value());
  if (std::filesystem::is_directory(status)) return bad_input(path + ": is a directory, not a zone file");
  if (std::filesystem::is_regular_file(status)) {
    const auto size = std::filesystem::file_size(path, status_error);
    if (!status_error && size > max_zone_bytes) return bad_input(path + ": " + too_large_message());
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return cannot_read(errno);
  std::string text;
  std::array<char, 65536> buffer;
  while (true) {
    // Still bounded while reading: a pipe or device has no size to check.
    const std::size_t got = std::fread(buffer.data(), 1, buffer.size(), file.get());
    text.append(buffer.data(), got);
    if (text.size() > max_zone_bytes) return bad_input(path + ": " + too_large_message());
    if (got < buffer.size()) {
      if (std::ferror(file.get())) return cannot_read(errno);
      break;
    }
  }
  return parse_zone_text(text, path, initial_origin);
}

// ---------------------------------------------------------------------------
// Overlay

namespace {

// The name one label up ("" above a single label: the root). Dots inside a
// label are escaped in canonical names, so the first unescaped dot ends the
// first label.
std::string parent_of(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\') {
      ++i;
    } else if (name[i] == '.') {
      return std::string(name.substr(i + 1));
    }
  }
  return "";
}

// The deepest of apexes at or above name, if any.
std::optional<std::string> enclosing_apex(const std::vector<std::string>& apexes, std::string_view name) {
  std::optional<std::string> best;
  for (const auto& apex : apexes)
    if (name_is_at_or_below(name, apex) && (!best || apex.size() > best->size())) best = apex;
  return best;
}

}  // namespace

void ZoneOverlay::add(ZoneFile zone) {
  auto loaded = std::make_unique<LoadedZone>();
  loaded->file = std::move(zone);
  const auto& apexes = loaded->file.apexes;
  for (const auto& apex : apexes) loaded->existing.insert(apex);
  // Every owner exists, and so does every name between it and its apex
  // (RFC 4592 2.2.2 empty non-terminals). Owners outside every apex are
  // never answered; the parser warned about them.
  const auto note_owner = [&](const std::string& owner) {
    const auto apex = enclosing_apex(apexes, owner);
    if (!apex) return false;
    for (std::string name = owner; name != *apex && loaded->existing.insert(name).second;)
      name = parent_of(name);
    return owner != *apex;
  };
  // The records no longer move: the LoadedZone lives on the heap and its
  // vector is not touched again, so pointers into it stay valid.
  for (const auto& record : loaded->file.records) {
    loaded->by_owner.emplace(record.owner, &record);
    const bool below_apex = note_owner(record.owner);
    // RFC 1034 4.2.1: NS records below the apex mark a zone cut.
    if (below_apex && record.type == RrType::NS) loaded->cuts.push_back(record.owner);
  }
  for (const auto& skipped : loaded->file.skipped) {
    note_owner(skipped.owner);
    // RFC 6672 2.3: DNAME redirects every name below its owner.
    if (skipped.type == "DNAME" && enclosing_apex(apexes, skipped.owner)) loaded->dnames.push_back(skipped.owner);
  }
  zones_.push_back(std::move(loaded));
}

// The zone with the deepest apex at or above name, as a resolver would find
// the closest enclosing zone; on a tie, the file added first. None when that
// zone delegates the name (at or below a cut) or a DNAME redirects it: the
// overlay does not know what the delegated zone holds, and a resolver
// would follow the referral.
const ZoneOverlay::LoadedZone* ZoneOverlay::authority_for(std::string_view name) const {
  const std::string question = canonical_name(name);
  const LoadedZone* best = nullptr;
  std::string best_apex;
  for (const auto& zone : zones_) {
    for (const auto& apex : zone->file.apexes) {
      if (!name_is_at_or_below(question, apex)) continue;
      if (best == nullptr || apex.size() > best_apex.size()) {
        best = zone.get();
        best_apex = apex;
      }
    }
  }
  if (best == nullptr) return nullptr;
  const auto inside_this_apex = [&](const std::string& owner) {
    return owner != best_apex && name_is_at_or_below(owner, best_apex);
  };
  for (const auto& cut : best->cuts)
    if (inside_this_apex(cut) && name_is_at_or_below(question, cut)) return nullptr;
  for (const auto& dname : best->dnames)
    if (question != dname && name_is_at_or_below(question, dname) &&
        (dname == best_apex || inside_this_apex(dname)))
      return nullptr;
  return best;
}

bool ZoneOverlay::covers(std::string_view name) const { return authority_for(name) != nullptr; }

// Answers like an authoritative server holding every loaded file:
//  - records of the asked type at the name: records;
//  - a name that does not exist, below a closest encloser that has a "*"
//    child: RFC 4592 3.3.1, the wildcard's records, owned by the name;
//  - a CNAME at the name (and CNAME was not asked): RFC 1034 3.6.2, follow
//    it while the target stays inside the overlay, at most 8 links; a name
//    seen twice is a loop and ends in servfail "CNAME loop";
//  - a CNAME whose target is outside every apex (or delegated): the overlay
//    cannot say what the target holds, so the outcome is nodata with detail
//    "CNAME target outside the zone overlay" and the chain in cname_chain;
//    the caller may ask the network for the last target;
//  - the name exists (owns records, also only of skipped types, or is an
//    empty non-terminal, RFC 8020 / RFC 4592 2.2.2): nodata;
//  - otherwise nxdomain.
Answer ZoneOverlay::answer(std::string_view name, RrType type) const {
  Answer answer;
  answer.name = canonical_name(name);
  answer.type = type;
  answer.authenticated_data = false;
  answer.elapsed_ms = 0;

  std::string current = answer.name;
  std::set<std::string> visited{current};
  while (true) {
    const LoadedZone* zone = authority_for(current);
    if (zone == nullptr) {
      // Only reachable when the caller broke the precondition covers(name).
      answer.outcome = Outcome::servfail;
      answer.detail = "name not covered by the zone overlay";
      return answer;
    }
    answer.source = "zone:" + zone->file.path;

    // RFC 4592 3.3.1: for a name that does not exist, the source of
    // synthesis is "*" below its closest encloser, if that exists.
    std::string node = current;
    if (zone->existing.count(current) == 0) {
      std::string encloser = parent_of(current);
      while (zone->existing.count(encloser) == 0 && !encloser.empty()) encloser = parent_of(encloser);
      const std::string wildcard = encloser.empty() ? "*" : "*." + encloser;
      if (zone->existing.count(wildcard) == 0) {
        answer.outcome = Outcome::nxdomain;
        return answer;
      }
      node = wildcard;
    }

    const auto [first, last] = zone->by_owner.equal_range(node);
    std::optional<Record> cname;
    for (auto it = first; it != last; ++it) {
      Record record = *it->second;
      record.owner = current;  // a wildcard's records are owned by the name asked
      if (record.type == type)
        answer.records.push_back(std::move(record));
      else if (record.type == RrType::CNAME && !cname)
        cname = std::move(record);
    }
    if (!answer.records.empty()) {
      answer.outcome = Outcome::records;
      return answer;
    }

    if (cname && type != RrType::CNAME) {
      answer.cname_chain.push_back(*cname);
      const std::string target = std::get<NameData>(cname->data).target;
      if (visited.count(target) != 0) {
        answer.outcome = Outcome::servfail;
        answer.detail = "CNAME loop";
        return answer;
      }
      if (answer.cname_chain.size() > max_cname_links) {
        answer.outcome = Outcome::servfail;
        answer.detail = "CNAME chain longer than " + std::to_string(max_cname_links) + " links";
        return answer;
      }
      if (!covers(target)) {
        answer.outcome = Outcome::nodata;
        answer.detail = "CNAME target outside the zone overlay";
        return answer;
      }
      visited.insert(target);
      current = target;
      continue;
    }

    answer.outcome = Outcome::nodata;
    return answer;
  }
}

}  // namespace diag::dns
