// The SPF record grammar (RFC 7208 4.6 and 12) and macro expansion (7).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "diag/spf.h"

namespace diag::spf {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}
std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

// RFC 7208 7.1: delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
bool is_delimiter(char c) { return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '='; }
// RFC 7208 7.1: macro-literal = %x21-24 / %x26-7E
bool is_macro_literal(char c) { return c >= 0x21 && c <= 0x7e && c != '%'; }

SyntaxError error_at(std::size_t position, std::string_view term, std::string message) {
  return SyntaxError{position, std::string(term), std::move(message)};
}

// RFC 7208 7.1: toplabel = ( *alphanum ALPHA *alphanum ) /
//                          ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
  if (label.empty()) return false;
  if (std::all_of(label.begin(), label.end(), is_alnum)) return std::any_of(label.begin(), label.end(), is_alpha);
  if (!is_alnum(label.front()) || !is_alnum(label.back())) return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// One piece of a macro-string: literal text or one macro-expand.
struct MacroPiece {
  bool is_macro = false;
  std::string literal;  // for literals, and for %% %_ %- their expansion
  char letter = 0;      // for %{...}: the letter as written (upper case: URL-escape)
  int digits = 0;       // 0: all parts
  bool reverse = false;
  std::string delimiters;
};

// Splits a macro-string into pieces; reports the first syntax error.
std::optional<SyntaxError> split_macro_string(std::string_view text, MacroUse use, std::size_t base,
                                              std::vector<MacroPiece>* pieces) {
  std::size_t i = 0;
  auto add_literal = [&](std::string_view s, bool from_macro) {
    if (!pieces) return;
    if (!pieces->empty() && !pieces->back().is_macro && !from_macro) {
      pieces->back().literal += s;
    } else {
      MacroPiece piece;
      piece.is_macro = from_macro;  // %% %_ %- end a domain-spec like a macro does
      piece.literal = std::string(s);
      pieces->push_back(std::move(piece));
    }
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c != '%') {
      // RFC 7208 7.1: explain-string = *( macro-string / SP )
      const bool allowed = is_macro_literal(c) || (use == MacroUse::explanation && c == ' ');
      if (!allowed) {
        char shown[8];
        std::snprintf(shown, sizeof shown, "0x%02X", static_cast<unsigned char>(c));
        return error_at(base + i, text, std::string("character ") + shown + " is not allowed here (RFC 7208 7.1 allows visible ASCII only)");
      }
      add_literal(text.substr(i, 1), false);
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return error_at(base + i, text, "'%' at the end: write '%%' for a literal percent sign (RFC 7208 7.1)");
    const char next = text[i + 1];
    if (next == '%') { add_literal("%", true); i += 2; continue; }
    if (next == '_') { add_literal(" ", true); i += 2; continue; }
    if (next == '-') { add_literal("%20", true); i += 2; continue; }
    if (next != '{')
      return error_at(base + i, text, std::string("'%") + next + "' is not a macro: '%' must be followed by '{', '%', '_' or '-' (RFC 7208 7.1)");
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return error_at(base + i, text, "macro '%{' is not closed with '}'");
    const std::string_view body = text.substr(i + 2, close - i - 2);
    if (body.empty()) return error_at(base + i, text, "empty macro '%{}'");
    MacroPiece piece;
    piece.is_macro = true;
    piece.letter = body[0];
    const char letter = lower(body[0]);
    const bool everywhere = std::string_view("slodipvh").find(letter) != std::string_view::npos;
    const bool exp_only = std::string_view("crt").find(letter) != std::string_view::npos;
    if (!everywhere && !exp_only)
      return error_at(base + i, text, std::string("unknown macro letter '") + body[0] + "' (RFC 7208 7.2: s l o d i p v h, and c r t in explanations)");
    if (exp_only && use != MacroUse::explanation)
      return error_at(base + i, text, std::string("macro letter '") + body[0] + "' is only allowed in explanation text (RFC 7208 7.2)");
    std::size_t j = 1;
    std::size_t digit_start = j;
    while (j < body.size() && is_digit(body[j])) ++j;
    if (j > digit_start) {
      const std::string_view digits = body.substr(digit_start, j - digit_start);
      // RFC 7208 7.3: the value MUST be nonzero; at least 128 parts must be supported.
      int value = 0;
      for (char d : digits) value = std::min(value * 10 + (d - '0'), 1000);
      if (value == 0) return error_at(base + i, text, "macro transformer digit must be nonzero (RFC 7208 7.3)");
      piece.digits = value;
    }
    if (j < body.size() && lower(body[j]) == 'r') { piece.reverse = true; ++j; }
    for (; j < body.size(); ++j) {
      if (!is_delimiter(body[j]))
        return error_at(base + i, text, std::string("'") + body[j] + "' is not a macro delimiter (RFC 7208 7.1: . - + , / _ =)");
      piece.delimiters += body[j];
    }
    if (pieces) pieces->push_back(std::move(piece));
    i = close + 1;
  }
  return std::nullopt;
}

// RFC 7208 7.3: URL-escape everything outside RFC 3986 "unreserved".
std::string url_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", static_cast<unsigned char>(c));
      out += buffer;
    }
  }
  return out;
}

std::string macro_value(char letter, const MacroContext& context) {
  switch (lower(letter)) {
    case 's': return context.sender;
    case 'l': return context.local_part;
    case 'o': return context.sender_domain;
    case 'd': return context.domain;
    case 'i': return dotted_address(context.ip);
    case 'p': return context.validated_name.value_or("unknown");
    case 'v': return context.ip.is_v4() ? "in-addr" : "ip6";
    case 'h': return context.helo;
    case 'c': return context.ip.to_string();
    case 'r': return context.receiver;
    case 't': return std::to_string(context.timestamp);
  }
  return "";
}

// RFC 7208 7.3: split on the delimiters, reverse if asked, keep the
// right-hand parts, join with dots.
std::string transform(const std::string& value, const MacroPiece& piece) {
  const std::string delimiters = piece.delimiters.empty() ? "." : piece.delimiters;
  std::vector<std::string> parts;
  std::string current;
  for (char c : value) {
    if (delimiters.find(c) != std::string::npos) {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(std::move(current));
  if (piece.reverse) std::reverse(parts.begin(), parts.end());
  if (piece.digits > 0 && static_cast<std::size_t>(piece.digits) < parts.size())
    parts.erase(parts.begin(), parts.end() - piece.digits);
  std::string out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (k) out += '.';
    out += parts[k];
  }
  return out;
}

// RFC 7208 7.1 domain-end = ( "." toplabel [ "." ] ) / macro-expand
std::optional<SyntaxError> check_domain_end(std::string_view spec, std::size_t base) {
  std::vector<MacroPiece> pieces;
  if (auto error = split_macro_string(spec, MacroUse::domain_spec, base, &pieces)) return error;
  if (pieces.empty()) return error_at(base, spec, "empty domain");
  if (pieces.back().is_macro) return std::nullopt;
  std::string_view tail = pieces.back().literal;
  if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
  const std::size_t dot = tail.rfind('.');
  const std::string_view top = dot == std::string_view::npos ? tail : tail.substr(dot + 1);
  const bool preceded_by_dot = dot != std::string_view::npos;
  if (!preceded_by_dot || !is_toplabel(top))
    return error_at(base, spec, "\"" + std::string(spec) + "\" does not end in a valid top-level label (RFC 7208 7.1 domain-end)");
  return std::nullopt;
}

bool parse_cidr_value(std::string_view digits, int max, int* out) {
  if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), is_digit)) return false;
  if (digits.size() > 1 && digits[0] == '0') return false;  // RFC 7208 5.6: no leading zeros
  int value = 0;
  for (char d : digits) value = value * 10 + (d - '0');
  if (value > max) return false;
  *out = value;
  return true;
}

// Splits "domain/24//64" into the domain-spec and the dual CIDR lengths
// (RFC 7208 5.6). A '/' that is not followed by digits belongs to the
// domain ("a:foo:bar/baz.example.com" is one domain).
struct DualCidr {
  std::string_view rest;
  std::optional<std::string_view> v4, v6;
};
DualCidr split_dual_cidr(std::string_view arg) {
  DualCidr out{arg, std::nullopt, std::nullopt};
  auto trailing_digits = [](std::string_view s) -> std::optional<std::size_t> {
    const std::size_t slash = s.rfind('/');
    if (slash == std::string_view::npos || slash + 1 == s.size()) return std::nullopt;
    for (std::size_t k = slash + 1; k < s.size(); ++k)
      if (!is_digit(s[k])) return std::nullopt;
    return slash;
  };
  if (auto slash = trailing_digits(out.rest)) {
    if (*slash > 0 && out.rest[*slash - 1] == '/') {
      out.v6 = out.rest.substr(*slash + 1);
      out.rest = out.rest.substr(0, *slash - 1);
      if (auto slash4 = trailing_digits(out.rest)) {
        if (!(*slash4 > 0 && out.rest[*slash4 - 1] == '/')) {
          out.v4 = out.rest.substr(*slash4 + 1);
          out.rest = out.rest.substr(0, *slash4);
        }
      }
    } else {
      out.v4 = out.rest.substr(*slash + 1);
      out.rest = out.rest.substr(0, *slash);
    }
  }
  return out;
}

std::optional<SyntaxError> parse_mechanism(Term& term, std::string_view body, std::size_t body_pos) {
  // body: the term without its qualifier. Name up to ':' or '/' or end.
  std::size_t name_end = 0;
  while (name_end < body.size() && body[name_end] != ':' && body[name_end] != '/') ++name_end;
  const std::string name = to_lower(body.substr(0, name_end));
  const std::string_view rest = body.substr(name_end);
  const std::string_view text = term.text;
  static const std::pair<std::string_view, MechanismKind> names[] = {
      {"all", MechanismKind::all}, {"include", MechanismKind::include}, {"a", MechanismKind::a},
      {"mx", MechanismKind::mx},   {"ptr", MechanismKind::ptr},         {"ip4", MechanismKind::ip4},
      {"ip6", MechanismKind::ip6}, {"exists", MechanismKind::exists}};
  const auto known = std::find_if(std::begin(names), std::end(names), [&](const auto& entry) { return entry.first == name; });
  if (known == std::end(names)) {
    if (rest.empty() && name.empty()) return error_at(term.position, text, "empty term");
    return error_at(term.position, text, "unknown mechanism \"" + name + "\" (RFC 7208 5: all include a mx ptr ip4 ip6 exists)");
  }
  term.mechanism = known->second;
  const std::size_t arg_pos = body_pos + name_end + 1;
  switch (term.mechanism) {
    case MechanismKind::all:
      if (!rest.empty()) return error_at(term.position, text, "\"all\" takes no argument or prefix length");
      return std::nullopt;
    case MechanismKind::include:
    case MechanismKind::exists: {
      if (rest.empty() || rest[0] != ':' || rest.size() == 1)
        return error_at(term.position, text, "\"" + name + "\" needs a domain: " + name + ":example.com");
      term.domain_spec = std::string(rest.substr(1));
      return check_domain_end(term.domain_spec, arg_pos);
    }
    case MechanismKind::ptr: {
      if (rest.empty()) return std::nullopt;
      if (rest[0] != ':' || rest.size() == 1) return error_at(term.position, text, "\"ptr\" takes an optional domain (ptr:example.com) and no prefix length");
      term.domain_spec = std::string(rest.substr(1));
      return check_domain_end(term.domain_spec, arg_pos);
    }
    case MechanismKind::a:
    case MechanismKind::mx: {
      std::string_view arg = rest;
      const bool has_domain = !arg.empty() && arg[0] == ':';
      if (has_domain) arg.remove_prefix(1);
      const DualCidr split = split_dual_cidr(arg);
      if (split.v4 && !parse_cidr_value(*split.v4, 32, &term.cidr4))
        return error_at(term.position, text, "IPv4 prefix length \"/" + std::string(*split.v4) + "\" must be 0 to 32 without leading zeros");
      if (split.v6 && !parse_cidr_value(*split.v6, 128, &term.cidr6))
        return error_at(term.position, text, "IPv6 prefix length \"//" + std::string(*split.v6) + "\" must be 0 to 128 without leading zeros");
      if (has_domain) {
        if (split.rest.empty()) return error_at(term.position, text, "\"" + name + ":\" needs a domain after the colon");
        term.domain_spec = std::string(split.rest);
        return check_domain_end(term.domain_spec, arg_pos);
      }
      if (!split.rest.empty()) return error_at(term.position, text, "unexpected \"" + std::string(split.rest) + "\" after \"" + name + "\"");
      return std::nullopt;
    }
    case MechanismKind::ip4:
    case MechanismKind::ip6: {
      const bool v4 = term.mechanism == MechanismKind::ip4;
      if (rest.empty() || rest[0] != ':' || rest.size() == 1)
        return error_at(term.position, text, "\"" + name + "\" needs a network: " + (v4 ? "ip4:192.0.2.0/24" : "ip6:2001:db8::/32"));
      std::string_view arg = rest.substr(1);
      std::optional<std::string_view> prefix;
      if (const std::size_t slash = arg.find('/'); slash != std::string_view::npos) {
        prefix = arg.substr(slash + 1);
        arg = arg.substr(0, slash);
      }
      const auto address = IpAddress::parse(arg);
      if (!address || address->is_v4() != v4)
        return error_at(term.position, text, "\"" + std::string(arg) + "\" is not an " + (v4 ? "IPv4" : "IPv6") + " address");
      term.network = *address;
      int length = v4 ? 32 : 128;
      if (prefix && !parse_cidr_value(*prefix, v4 ? 32 : 128, &length))
        return error_at(term.position, text, "prefix length \"/" + std::string(*prefix) + "\" must be 0 to " + (v4 ? "32" : "128") + " without leading zeros");
      (v4 ? term.cidr4 : term.cidr6) = length;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(SpfResult result) {
  switch (result) {
    case SpfResult::none: return "none";
    case SpfResult::neutral: return "neutral";
    case SpfResult::pass: return "pass";
    case SpfResult::fail: return "fail";
    case SpfResult::softfail: return "softfail";
    case SpfResult::temperror: return "temperror";
    case SpfResult::permerror: return "permerror";
  }
  return "none";
}

std::optional<SpfResult> spf_result_from_string(std::string_view text) {
  for (auto r : {SpfResult::none, SpfResult::neutral, SpfResult::pass, SpfResult::fail, SpfResult::softfail,
                 SpfResult::temperror, SpfResult::permerror})
    if (iequals(to_string(r), text)) return r;
  return std::nullopt;
}

SpfResult result_for(Qualifier qualifier) {
  switch (qualifier) {
    case Qualifier::pass: return SpfResult::pass;
    case Qualifier::fail: return SpfResult::fail;
    case Qualifier::softfail: return SpfResult::softfail;
    case Qualifier::neutral: return SpfResult::neutral;
  }
  return SpfResult::neutral;
}

std::string_view to_string(MechanismKind kind) {
  switch (kind) {
    case MechanismKind::all: return "all";
    case MechanismKind::include: return "include";
    case MechanismKind::a: return "a";
    case MechanismKind::mx: return "mx";
    case MechanismKind::ptr: return "ptr";
    case MechanismKind::ip4: return "ip4";
    case MechanismKind::ip6: return "ip6";
    case MechanismKind::exists: return "exists";
  }
  return "all";
}

bool Term::queries_dns() const {
  if (!is_mechanism) return modifier == ModifierKind::redirect;
  switch (mechanism) {
    case MechanismKind::include:
    case MechanismKind::a:
    case MechanismKind::mx:
    case MechanismKind::ptr:
    case MechanismKind::exists: return true;
    default: return false;
  }
}

std::string SyntaxError::to_string() const {
  std::string out = "column " + std::to_string(position + 1);
  if (!term.empty()) out += ", term \"" + term + "\"";
  return out + ": " + message;
}

bool is_spf_record(std::string_view text) {
  return text.size() >= 6 && iequals(text.substr(0, 6), "v=spf1") && (text.size() == 6 || text[6] == ' ');
}

ParsedRecord parse_record(std::string_view text) {
  ParsedRecord record;
  if (!is_spf_record(text)) {
    record.error = error_at(0, "", "the record does not start with \"v=spf1\" followed by a space");
    return record;
  }
  // RFC 7208 4.6.1: terms are separated by one or more spaces (SP only).
  std::size_t i = 6;
  while (i < text.size()) {
    if (text[i] == ' ') { ++i; continue; }
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    Term term;
    term.text = std::string(text.substr(start, i - start));
    term.position = start;
    const std::string_view body = term.text;
    // Modifier: name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    std::size_t name_end = 0;
    while (name_end < body.size() && (is_alnum(body[name_end]) || body[name_end] == '-' || body[name_end] == '_' || body[name_end] == '.')) ++name_end;
    if (name_end < body.size() && body[name_end] == '=') {
      if (name_end == 0 || !is_alpha(body[0])) {
        record.error = error_at(start, body, "a modifier name must start with a letter (RFC 7208 6)");
        return record;
      }
      term.is_mechanism = false;
      term.name = to_lower(body.substr(0, name_end));
      term.value = std::string(body.substr(name_end + 1));
      const std::size_t value_pos = start + name_end + 1;
      if (term.name == "redirect" || term.name == "exp") {
        term.modifier = term.name == "redirect" ? ModifierKind::redirect : ModifierKind::explanation;
        auto& slot = term.modifier == ModifierKind::redirect ? record.redirect : record.explanation;
        // RFC 7208 6: each of these modifiers may appear at most once.
        if (slot) {
          record.error = error_at(start, body, "\"" + term.name + "=\" appears more than once (RFC 7208 6)");
          return record;
        }
        if (term.value.empty()) {
          record.error = error_at(start, body, "\"" + term.name + "=\" needs a domain");
          return record;
        }
        if (auto error = check_domain_end(term.value, value_pos)) {
          record.error = std::move(error);
          return record;
        }
        term.domain_spec = term.value;
        slot = record.terms.size();
      } else if (auto error = check_macro_string(term.value, MacroUse::domain_spec, value_pos)) {
        record.error = std::move(error);
        return record;
      }
      record.terms.push_back(std::move(term));
      continue;
    }
    std::string_view mechanism = body;
    std::size_t mechanism_pos = start;
    if (!mechanism.empty() && (mechanism[0] == '+' || mechanism[0] == '-' || mechanism[0] == '~' || mechanism[0] == '?')) {
      term.qualifier = static_cast<Qualifier>(mechanism[0]);
      mechanism.remove_prefix(1);
      ++mechanism_pos;
    }
    if (auto error = parse_mechanism(term, mechanism, mechanism_pos)) {
      record.error = std::move(error);
      return record;
    }
    record.terms.push_back(std::move(term));
  }
  return record;
}

std::optional<SyntaxError> check_macro_string(std::string_view text, MacroUse use, std::size_t base_position) {
  return split_macro_string(text, use, base_position, nullptr);
}

bool uses_macro(std::string_view text, char letter) {
  std::vector<MacroPiece> pieces;
  if (split_macro_string(text, MacroUse::explanation, 0, &pieces)) return false;
  return std::any_of(pieces.begin(), pieces.end(), [letter](const MacroPiece& p) { return p.letter && lower(p.letter) == lower(letter); });
}

bool client_chooses_name(std::string_view domain_spec) {
  std::vector<MacroPiece> pieces;
  if (split_macro_string(domain_spec, MacroUse::domain_spec, 0, &pieces)) return false;
  // A trailing "." does not change whose name it is.
  while (!pieces.empty() && !pieces.back().letter && (pieces.back().literal.empty() || pieces.back().literal == ".")) pieces.pop_back();
  return !pieces.empty() && pieces.back().letter && (lower(pieces.back().letter) == 'h' || lower(pieces.back().letter) == 'p');
}

std::string expand_macros(std::string_view text, const MacroContext& context, MacroUse use) {
  std::vector<MacroPiece> pieces;
  if (split_macro_string(text, use, 0, &pieces)) return std::string(text);
  std::string out;
  for (const auto& piece : pieces) {
    if (!piece.letter) {
      out += piece.literal;
      continue;
    }
    std::string value = transform(macro_value(piece.letter, context), piece);
    // RFC 7208 7.3: upper-case macro letters are URL-escaped.
    if (piece.letter >= 'A' && piece.letter <= 'Z') value = url_escape(value);
    out += value;
  }
  return out;
}

std::optional<std::string> expand_sender_independent(std::string_view domain_spec, std::string_view domain) {
  std::vector<MacroPiece> pieces;
  if (split_macro_string(domain_spec, MacroUse::domain_spec, 0, &pieces)) return std::nullopt;
  for (const auto& piece : pieces)
    if (piece.letter && lower(piece.letter) != 'd') return std::nullopt;
  MacroContext context;
  context.domain = std::string(domain);
  std::string name = expand_macros(domain_spec, context, MacroUse::domain_spec);
  // RFC 7208 7.3: a name longer than 253 characters loses labels on the left.
  while (name.size() > 253 && name.find('.') != std::string::npos) name.erase(0, name.find('.') + 1);
  return name;
}

std::string dotted_address(const IpAddress& ip) {
  if (ip.is_v4()) return ip.to_string();
  // RFC 7208 7.3: "dot-format" of IPv6: 32 nibbles, upper case as in its example.
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t k = 0; k < 16; ++k) {
    if (k) out += '.';
    out += hex[ip.data()[k] >> 4];
    out += '.';
    out += hex[ip.data()[k] & 0xf];
  }
  return out;
}

bool is_valid_check_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return false;
  // RFC 7208 2.3, 4.3: an IP literal HELO ("192.0.2.1", bracketed or not) is no domain.
  if (IpAddress::parse(domain)) return false;
  int labels = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = domain.find('.', start);
    const std::string_view label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '[' || c == ']') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

}  // namespace diag::spf
