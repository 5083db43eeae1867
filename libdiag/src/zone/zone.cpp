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
// RFC 2181 8: a TTL is an unsigned 31-bit number.
constexpr std::uint64_t max_ttl = 2147483647;
constexpr std::uint64_t max_uint32 = 4294967295;

// How many CNAME links the overlay follows before giving up. Resolvers use
// similar small limits (BIND: 16); 8 is plenty for a what-if file and
// keeps a mistaken chain from looking like an answer.
constexpr std::size_t max_cname_links = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

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
      origin_ = canonical_name(initial_origin);
      origins_set_.push_back(*origin_);
    }
  }

  Result<ZoneFile> parse() {
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
    finish_apexes();
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
      return std::nullopt;
    }
    if (ascii::iequals(name.text, "$TTL")) {
      if (arguments != 1) return error_at(name, "$TTL takes exactly one TTL");
      const Token& value = entry.tokens[1];
      const auto ttl = parse_duration(value.text, max_ttl);
      if (value.quoted || !ttl)
        return error_at(value, "$TTL " + quote(value.text) +
                                   " is not seconds 0-2147483647 or a duration like 1h30m");
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
      auto owner = resolve_name(tokens[next++], "owner");
      if (!owner) return owner.error();
      record.owner = *owner;
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
                                     " is not seconds 0-2147483647 or a duration like 1h30m");
        ttl = static_cast<std::uint32_t>(*value);
      } else if (is_class(token.text)) {
        if (class_seen) return error_at(token, "class given twice");
        // RFC 1035 3.2.4: other classes exist, but nothing we check lives there.
        if (!ascii::iequals(token.text, "IN"))
          return error_at(token, "class " + token.text + " is not supported (only IN)");
        class_seen = true;
      } else {
        break;
      }
      ++next;
    }

    if (next >= tokens.size())
      return error_at(tokens.back(), "record has no type after " + quote(tokens.back().text));
    const Token& type_token = tokens[next++];
    const auto type = rr_type_from_string(type_token.text);
    if (type_token.quoted || !type || *type == RrType::OPT)
      return error_at(type_token, "record type " + quote(type_token.text) +
                                      " is not supported (supported: A AAAA MX TXT SPF PTR "
                                      "CNAME NS SOA)");
    record.type = *type;

    const std::span<const Token> fields(tokens.begin() + static_cast<std::ptrdiff_t>(next),
                                        tokens.end());
    if (auto error = parse_rdata(record, type_token, fields)) return error;

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
      soa_minimum_ = std::get<SoaData>(record.data).minimum;
      if (std::find(soa_owners_.begin(), soa_owners_.end(), record.owner) == soa_owners_.end())
        soa_owners_.push_back(record.owner);
    }
    zone_.records.push_back(std::move(record));
    return std::nullopt;
  }

  static bool is_class(std::string_view text) {
    return ascii::iequals(text, "IN") || ascii::iequals(text, "CH") || ascii::iequals(text, "HS") || ascii::iequals(text, "CS");
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
    for (const auto& field : fields) {
      auto text = unescape(field.text);
      if (text.bad_escape)
        return error_at(field, type_name + " string has a bad escape " + quote(*text.bad_escape) +
                                   " (use \\X or \\DDD with DDD 000-255)");
      if (text.bytes.size() > max_character_string_octets)
        return error_at(field, type_name + " string is " + std::to_string(text.bytes.size()) +
                                   " octets; a character-string holds at most 255 (split it "
                                   "into several quoted strings)");
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
                                   "(set $ORIGIN or pass an origin)");
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
                                   "(end it with \".\", set $ORIGIN or pass an origin)");
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

  void finish_apexes() {
    const auto& source = soa_owners_.empty() ? origins_set_ : soa_owners_;
    for (const auto& apex : source)
      if (std::find(zone_.apexes.begin(), zone_.apexes.end(), apex) == zone_.apexes.end())
        zone_.apexes.push_back(apex);
  }

  MasterFileTokenizer tokenizer_;
  ZoneFile zone_;
  std::optional<std::string> origin_;
  std::optional<std::string> previous_owner_;
  std::optional<std::uint32_t> default_ttl_;
  std::optional<std::uint32_t> soa_minimum_;
  std::vector<std::string> soa_owners_;
  std::vector<std::string> origins_set_;
};

std::string too_large_message() { return "larger than 64 MiB; refusing to read it as a zone file"; }

}  // namespace

Result<ZoneFile> parse_zone_text(std::string_view text, const std::string& display_name,
                                 std::string_view initial_origin) {
  if (text.size() > max_zone_bytes) return bad_input(display_name + ": " + too_large_message());
  return MasterFileParser(text, display_name, initial_origin).parse();
}

Result<ZoneFile> parse_zone_file(const std::string& path, std::string_view initial_origin) {
  const auto cannot_read = [&path](int error_number) {
    return bad_input(path + ": cannot read: " + std::generic_category().message(error_number));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return cannot_read(errno);
  std::string text;
  std::array<char, 65536> buffer;
  while (true) {
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

void ZoneOverlay::add(ZoneFile zone) {
  auto loaded = std::make_unique<LoadedZone>();
  loaded->file = std::move(zone);
  // The records no longer move: the LoadedZone lives on the heap and its
  // vector is not touched again, so pointers into it stay valid.
  for (const auto& record : loaded->file.records) loaded->by_owner.emplace(record.owner, &record);
  zones_.push_back(std::move(loaded));
}

// The zone with the deepest apex at or above name, as a resolver would find
// the closest enclosing zone; on a tie, the file added first.
const ZoneOverlay::LoadedZone* ZoneOverlay::authority_for(std::string_view name) const {
  const std::string question = canonical_name(name);
  const LoadedZone* best = nullptr;
  std::size_t best_apex_length = 0;
  for (const auto& zone : zones_) {
    for (const auto& apex : zone->file.apexes) {
      if (!name_is_at_or_below(question, apex)) continue;
      if (best == nullptr || apex.size() > best_apex_length) {
        best = zone.get();
        best_apex_length = apex.size();
      }
    }
  }
  return best;
}

bool ZoneOverlay::covers(std::string_view name) const { return authority_for(name) != nullptr; }

// Answers like an authoritative server holding every loaded file, without
// delegations, wildcards or DNAME (a what-if file does not need them):
//  - records of the asked type at the name: records;
//  - a CNAME at the name (and CNAME was not asked): RFC 1034 3.6.2, follow
//    it while the target stays inside the overlay, at most 8 links; a name
//    seen twice is a loop and ends in servfail "CNAME loop";
//  - a CNAME whose target is outside every apex: the overlay cannot say
//    what the target holds, so the outcome is nodata with detail "CNAME
//    target outside the zone overlay" and the chain in cname_chain; the
//    caller may ask the network for the last target;
//  - the name exists (owns records, or is an empty non-terminal with
//    owners below it, RFC 8020 / RFC 4592 2.2.2): nodata;
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

    const auto [first, last] = zone->by_owner.equal_range(current);
    const Record* cname = nullptr;
    for (auto it = first; it != last; ++it) {
      if (it->second->type == type)
        answer.records.push_back(*it->second);
      else if (it->second->type == RrType::CNAME && cname == nullptr)
        cname = it->second;
    }
    if (!answer.records.empty()) {
      answer.outcome = Outcome::records;
      return answer;
    }

    if (cname != nullptr && type != RrType::CNAME) {
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

    const bool owns_records = first != last;
    const bool has_names_below =
        !owns_records &&
        std::any_of(zone->by_owner.begin(), zone->by_owner.end(), [&current](const auto& entry) {
          return entry.first != current && name_is_at_or_below(entry.first, current);
        });
    answer.outcome = (owns_records || has_names_below) ? Outcome::nodata : Outcome::nxdomain;
    return answer;
  }
}

}  // namespace diag::dns
