// Asking the lists: query names, secrets, which lists, and the four-way
// verdict per list and IP (listed / not listed / error / unusable).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "diag/ascii.h"
#include "diag/blocklist.h"
#include "diag/input_file.h"
#include "diag/strings.h"

namespace diag::blocklist {
namespace {

using diag::strings::join;

constexpr char hex_digits[] = "0123456789abcdef";
constexpr std::string_view key_placeholder = "{key}";

IpAddress address(const char* text) { return *IpAddress::parse(text); }


std::string describe_dns_failure(const dns::Answer& answer) {
  std::string text = std::string(dns::to_string(answer.outcome));
  if (!answer.source.empty()) text += " from " + answer.source;
  if (!answer.detail.empty()) text += " (" + answer.detail + ")";
  return text;
}

// Where a decoded answer's meaning comes from.
enum class AnswerSource : std::uint8_t {
  table,          // a code the list documents
  outside_range,  // not in 127.0.0.0/8
  loopback_one,   // 127.0.0.1
  undocumented,   // in 127.0.0.0/8, not in the list's table
};

// How one A record of a list's answer reads.
struct DecodedAnswer {
  AnswerSource source = AnswerSource::table;
  CodeKind kind = CodeKind::error;
  Status severity = Status::error;
  std::string meaning;
  std::string remedy;
};

DecodedAnswer decode_answer(const ListSpec& spec, const IpAddress& answer) {
  // RFC 5782 2.1: answers are in 127.0.0.0/8; anything else is a lapsed
  // or hijacked zone (a parking page's address), never a listing (dnsbl-facts §2).
  if (!answer.is_v4() || !answer.in_prefix(address("127.0.0.0"), 8))
    return {AnswerSource::outside_range, CodeKind::error, Status::error,
            "answered " + answer.to_string() + ", outside 127.0.0.0/8: not a DNSBL answer (lapsed or hijacked zone?)",
            "Do not trust this list until its zone answers properly; leave it out with --list."};
  if (const ReturnCode* code = spec.code_for(answer))
    return {AnswerSource::table, code->kind, code->severity, answer.to_string() + " " + code->meaning, code->remedy};
  // RFC 5782 5 forbids listing 127.0.0.1; URIBL answers every refused query
  // with it and "listing the world" uses it (dnsbl-facts §2, §4 rule 2).
  if (answer == address("127.0.0.1"))
    return {AnswerSource::loopback_one, CodeKind::error, Status::error,
            "answered 127.0.0.1, which RFC 5782 forbids listing: the list refused the query or lists the world",
            "Query through a recursive resolver you run (--dns); if that does not help, the list is broken."};
  // dnsbl-facts §4 rule 2: listed only inside the documented listing range.
  return {AnswerSource::undocumented, CodeKind::error, Status::error, "answered " + answer.to_string() + ", a code this list does not document",
          "Check the list's documentation for this code; it was not counted as a listing."};
}

struct DecodedSet {
  std::vector<DecodedAnswer> parts;
  bool any(CodeKind kind) const {
    return std::any_of(parts.begin(), parts.end(), [&](const DecodedAnswer& d) { return d.kind == kind; });
  }
  const DecodedAnswer* first(CodeKind kind) const {
    for (const auto& d : parts)
      if (d.kind == kind) return &d;
    return nullptr;
  }
  std::string meanings(CodeKind kind) const {
    std::vector<std::string> out;
    for (const auto& d : parts)
      if (d.kind == kind) out.push_back(d.meaning);
    return join(out, "; ");
  }
};

DecodedSet decode_all(const ListSpec& spec, const dns::Answer& answer) {
  DecodedSet set;
  for (const auto& record : answer.addresses()) set.parts.push_back(decode_answer(spec, record));
  return set;
}

Listing make_listing(const SelectedList& list, ListingStatus status, std::string meaning, std::string remedy) {
  Listing listing;
  listing.list = list;
  listing.status = status;
  listing.severity = status == ListingStatus::not_listed ? Status::pass
                     : status == ListingStatus::unusable ? Status::warn
                                                         : Status::error;
  listing.meaning = std::move(meaning);
  listing.remedy = std::move(remedy);
  return listing;
}

const char* const retry_remedy =
    "This says nothing about the IP. Check that the DNS server answers (or name another with --dns) and run again.";

// RFC 5782 5 and 7: a list whose test entries are wrong must not be used.
// Returns the listing to report instead of the IP's answer, if any.
std::optional<Listing> check_liveness(const SelectedList& list, const dns::Answer& positive, const dns::Answer& negative,
                                      const std::string& positive_name, const std::string& negative_name) {
  const ListSpec& spec = *list.spec;
  if (spec.liveness == Liveness::none) return std::nullopt;
  if (!positive.is_definitive())
    return make_listing(list, ListingStatus::error,
                        "could not check the list's test entry " + positive_name + ": " + describe_dns_failure(positive),
                        retry_remedy);
  // RFC 5782 5 asks only that 127.0.0.2 be listed, with any code: a
  // reputation list may answer it with a level. A documented error code is
  // the list talking to us (rate limit, wrong zone); a parking address or
  // 127.0.0.1 means the list is not really there.
  const DecodedSet positive_codes = decode_all(spec, positive);
  for (const auto& part : positive_codes.parts)
    if (part.source == AnswerSource::table && part.kind == CodeKind::error)
      return make_listing(list, ListingStatus::error, "test entry " + positive_name + " " + part.meaning,
                          part.remedy.empty() ? retry_remedy : part.remedy);
  for (const auto& part : positive_codes.parts)
    if (part.source == AnswerSource::outside_range || part.source == AnswerSource::loopback_one)
      return make_listing(list, ListingStatus::unusable, "test entry " + positive_name + " " + part.meaning,
                          "Its answers were not counted. Leave the list out (--list) until its zone answers "
                          "properly, or query through a resolver you run (--dns).");
  if (!positive.ok())
    return make_listing(list, ListingStatus::unusable,
                        "the list does not list its test entry " + positive_name + " (" +
                            std::string(dns::to_string(positive.outcome)) +
                            "; RFC 5782 5): the zone is dead, renamed, or silently refusing this resolver",
                        "Its answers were not counted. Query through a recursive resolver you run (--dns); if the "
                        "test entry stays missing, leave the list out (--list).");
  if (spec.liveness == Liveness::positive_only) return std::nullopt;
  if (!negative.is_definitive())
    return make_listing(list, ListingStatus::error,
                        "could not check the list's test entry " + negative_name + ": " + describe_dns_failure(negative),
                        retry_remedy);
  if (negative.ok()) {
    const DecodedSet negative_codes = decode_all(spec, negative);
    if (const DecodedAnswer* error = negative_codes.first(CodeKind::error); error && error->source == AnswerSource::table)
      return make_listing(list, ListingStatus::error, "test entry " + negative_name + " " + error->meaning,
                          error->remedy.empty() ? retry_remedy : error->remedy);
    return make_listing(list, ListingStatus::unusable,
                        "the list answers its must-not-list test entry " + negative_name + " with " +
                            join([&] {
                              std::vector<std::string> out;
                              for (const auto& a : negative.addresses()) out.push_back(a.to_string());
                              return out;
                            }(),
                                 ", ") +
                            " (RFC 5782 5): it lists everything, so a \"listed\" from it means nothing",
                        "Its answers were not counted. The list is refusing this resolver or is shutting down; leave "
                        "it out (--list) or query through a resolver you run (--dns).");
  }
  return std::nullopt;
}

std::string txt_reason(const dns::Answer& txt) {
  if (!txt.ok()) return {};
  std::vector<std::string> parts;
  for (const auto& record : txt.txt()) parts.push_back(record.joined());
  return join(parts, " | ");
}

// A name a key is allowed to be: one DNS label of letters, digits and '-'.
bool is_plausible_key(std::string_view key) {
  if (key.size() < 8 || key.size() > 63) return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

Result<std::string> read_key(const std::string& path, const char* variable, const char* what,
                             const std::function<const char*(const char*)>& getenv) {
  std::string key;
  std::string origin;
  if (!path.empty()) {
    // A key file may carry comments (where the key came from): the list
    // reader's rules (byte-order mark, CRLF, '#', blanks), first entry.
    auto lines = read_list_lines(path, std::string(what) + " key file");
    if (!lines) return lines.error();
    if (!lines->empty()) key = lines->front().text;
    origin = path;
    if (key.empty()) return bad_input(path + ": the " + std::string(what) + " key file holds no key");
  } else if (const char* value = getenv(variable); value && *value) {
    key = value;
    origin = std::string("$") + variable;
  } else {
    return std::string();
  }
  // Never quote the key in the error: stderr ends up in tickets.
  if (!is_plausible_key(key))
    return bad_input(origin + ": the " + std::string(what) +
                     " key must be 8 to 63 letters, digits or '-' (one DNS label); the value given is not");
  return ascii::to_lower(key);
}

}  // namespace

// ---------------------------------------------------------------------------
// Query names

std::string reversed_name(const IpAddress& ip) {
  std::string out;
  const std::uint8_t* bytes = ip.data();
  if (ip.is_v4()) {
    for (int i = 3; i >= 0; --i) out += std::to_string(bytes[i]) + (i ? "." : "");
    return out;
  }
  out.reserve(63);
  for (int i = 15; i >= 0; --i) {
    out += hex_digits[bytes[i] & 0xF];
    out += '.';
    out += hex_digits[bytes[i] >> 4];
    if (i) out += '.';
  }
  return out;
}

std::string query_name(const IpAddress& ip, std::string_view zone) { return reversed_name(ip) + "." + std::string(zone); }

IpAddress positive_test_address(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? address("127.0.0.2") : address("::ffff:7f00:2");
}

IpAddress negative_test_address(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? address("127.0.0.1") : address("::ffff:7f00:1");
}

Result<IpAddress> parse_ip(std::string_view text) {
  const std::string shown(text);
  auto ip = IpAddress::parse(text);
  if (!ip) return bad_input("\"" + shown + "\" is not an IPv4 or IPv6 address");
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2) is an IPv4 sender: query it as one.
  if (!ip->is_v4() && ip->in_prefix(address("::ffff:0:0"), 96)) {
    const std::uint8_t* b = ip->data();
    return IpAddress::v4({b[12], b[13], b[14], b[15]});
  }
  return *ip;
}

Result<std::vector<IpAddress>> read_ip_list(const std::string& path) {
  // The one list reader: a list saved by Notepad (BOM, CRLF) reads from line 1.
  auto lines = read_list_lines(path, "address list");
  if (!lines) return lines.error();
  std::vector<IpAddress> ips;
  for (const auto& line : *lines) {
    auto ip = parse_ip(line.text);
    if (!ip) return bad_input(path + ":" + std::to_string(line.number) + ": " + ip.error().message);
    ips.push_back(*ip);
  }
  return ips;
}

// ---------------------------------------------------------------------------
// Secrets

bool Secrets::has(SecretKind kind) const { return !get(kind).empty(); }

const std::string& Secrets::get(SecretKind kind) const {
  static const std::string none;
  switch (kind) {
    case SecretKind::spamhaus: return spamhaus;
    case SecretKind::abusix: return abusix;
    case SecretKind::none: return none;
  }
  return none;
}

std::string Secrets::mask(std::string text) const {
  for (const std::string* key : {&spamhaus, &abusix}) {
    if (key->empty()) continue;
    std::string folded = ascii::to_lower(text);
    for (auto at = folded.find(*key); at != std::string::npos; at = folded.find(*key, at + 3)) {
      text.replace(at, key->size(), "***");
      folded.replace(at, key->size(), "***");
    }
  }
  return text;
}

dns::QueryLogEntry Secrets::mask(dns::QueryLogEntry entry) const {
  entry.name = mask(std::move(entry.name));
  entry.detail = mask(std::move(entry.detail));
  return entry;
}

Result<Secrets> load_secrets(const std::string& spamhaus_key_file, const std::string& abusix_key_file,
                             const std::function<const char*(const char*)>& getenv) {
  Secrets secrets;
  auto spamhaus = read_key(spamhaus_key_file, spamhaus_key_variable, "Spamhaus DQS", getenv);
  if (!spamhaus) return spamhaus.error();
  // DQS keys are 26 characters (dnsbl-facts §3, Spamhaus DQS).
  if (!spamhaus->empty() && spamhaus->size() != 26)
    return bad_input(std::string(spamhaus_key_file.empty() ? std::string("$") + spamhaus_key_variable : spamhaus_key_file) +
                     ": a Spamhaus DQS key has 26 characters; the value given has " +
                     std::to_string(spamhaus->size()));
  secrets.spamhaus = std::move(spamhaus.value());
  auto abusix = read_key(abusix_key_file, abusix_key_variable, "Abusix", getenv);
  if (!abusix) return abusix.error();
  secrets.abusix = std::move(abusix.value());
  return secrets;
}

std::function<void(const dns::QueryLogEntry&)> masked_log_hook(std::function<void(const dns::QueryLogEntry&)> inner,
                                                               const Secrets& secrets) {
  if (!inner) return inner;
  return [inner = std::move(inner), secrets](const dns::QueryLogEntry& entry) { inner(secrets.mask(entry)); };
}

// ---------------------------------------------------------------------------
// Selection

Result<std::vector<SelectedList>> select_lists(const std::vector<ListSpec>& lists,
                                               const std::vector<std::string>& requested, const Secrets& secrets) {
  std::vector<const ListSpec*> chosen;
  if (!requested.empty()) {
    for (const auto& want : requested) {
      const std::string name = dns::canonical_name(want);
      auto found = std::find_if(lists.begin(), lists.end(),
                                [&](const ListSpec& l) { return l.id == name || l.zone == name; });
      if (found == lists.end()) return bad_input("unknown list \"" + want + "\" (see --list-zones)");
      if (found->key != SecretKind::none && !secrets.has(found->key))
        return bad_input("list \"" + found->id + "\" needs its key (" +
                         (found->key == SecretKind::spamhaus ? std::string("--spamhaus-key-file or $") + spamhaus_key_variable
                                                             : std::string("--abusix-key-file or $") + abusix_key_variable) +
                         ")");
      if (std::find(chosen.begin(), chosen.end(), &*found) == chosen.end()) chosen.push_back(&*found);
    }
  } else {
    const bool dqs = secrets.has(SecretKind::spamhaus);
    for (const auto& spec : lists) {
      if (spec.query == QueryPolicy::by_default) {
        // DQS is the same data as the public ZEN mirror and works through
        // any resolver (dnsbl-facts §3): with a key, ask it instead.
        if (dqs && spec.id == "spamhaus-zen") continue;
        chosen.push_back(&spec);
      } else if (spec.query == QueryPolicy::with_key && secrets.has(spec.key)) {
        chosen.push_back(&spec);
      }
    }
  }
  std::vector<SelectedList> selected;
  selected.reserve(chosen.size());
  for (const ListSpec* spec : chosen) {
    SelectedList list;
    list.spec = spec;
    list.zone = list.shown_zone = spec->zone;
    if (const auto at = spec->zone.find(key_placeholder); at != std::string::npos) {
      list.zone.replace(at, key_placeholder.size(), secrets.get(spec->key));
      list.shown_zone.replace(at, key_placeholder.size(), "***");
    }
    selected.push_back(std::move(list));
  }
  return selected;
}

// ---------------------------------------------------------------------------
// The verdict

Listing evaluate_listing(const SelectedList& list, IpAddress::Family family, const dns::Answer& positive_probe,
                         const dns::Answer& negative_probe, const dns::Answer& ip_a, const dns::Answer& ip_txt) {
  const ListSpec& spec = *list.spec;
  const DecodedSet codes = decode_all(spec, ip_a);
  Listing result;

  // 1. A refusal of the resolver shows in any of the answers: one cause,
  //    reported once for the run (dnsbl-facts §3: Spamhaus 127.255.255.254).
  for (const dns::Answer* answer : {&ip_a, &positive_probe, &negative_probe}) {
    const DecodedSet decoded = answer == &ip_a ? codes : decode_all(spec, *answer);
    if (const DecodedAnswer* refused = decoded.first(CodeKind::resolver_refused)) {
      result = make_listing(list, ListingStatus::error, refused->meaning, refused->remedy);
      result.resolver_refused = true;
      result.answers = ip_a.addresses();
      result.outcome = ip_a.outcome;
      return result;
    }
  }
  // 2. The IP's own question failed: could not find out (never "not listed").
  if (!ip_a.is_definitive()) {
    result = make_listing(list, ListingStatus::error, "could not ask: " + describe_dns_failure(ip_a), retry_remedy);
    // dnsbl-facts §3: Abusix and DQS answer REFUSED (often passed on as
    // SERVFAIL) to queries they do not serve.
    if (ip_a.outcome == dns::Outcome::refused || ip_a.outcome == dns::Outcome::servfail) {
      if (spec.key != SecretKind::none)
        result.remedy = "The list refused the query: check that the key is valid and its service is on. " +
                        std::string(retry_remedy);
      else if (spec.public_resolvers == PublicResolvers::refused)
        result.remedy = "The list (or the resolver) refused the query; " + spec.resolvers +
                        ". Query through a recursive resolver you run (--dns).";
    }
    result.outcome = ip_a.outcome;
    return result;
  }
  // 3. RFC 5782 5 test entries, probed in the same round trip.
  if (auto dead = check_liveness(list, positive_probe, negative_probe,
                                 positive_test_address(family).to_string(), negative_test_address(family).to_string())) {
    dead->answers = ip_a.addresses();
    dead->outcome = ip_a.outcome;
    return *dead;
  }
  // 4. The IP's answer. dnsbl-facts §4 rule 1: NXDOMAIN alone is "not listed".
  result.list = list;
  result.outcome = ip_a.outcome;
  result.answers = ip_a.addresses();
  if (ip_a.outcome == dns::Outcome::nxdomain) {
    result.status = ListingStatus::not_listed;
    result.severity = Status::pass;
    result.meaning = "not listed";
    return result;
  }
  if (ip_a.outcome == dns::Outcome::nodata) {
    result = make_listing(list, ListingStatus::error,
                          "the name exists but has no A record; RFC 5782 lists with an A record and says not-listed "
                          "with NXDOMAIN, so this answer means neither",
                          retry_remedy);
    result.outcome = ip_a.outcome;
    return result;
  }
  if (const DecodedAnswer* error = codes.first(CodeKind::error)) {
    result.status = ListingStatus::error;
    result.severity = Status::error;
    result.meaning = codes.meanings(CodeKind::error);
    result.remedy = error->remedy.empty() ? retry_remedy : error->remedy;
    return result;
  }
  if (codes.any(CodeKind::listed)) {
    result.status = ListingStatus::listed;
    result.severity = Status::info;
    std::vector<std::string> remedies;
    for (const auto& part : codes.parts) {
      if (part.kind != CodeKind::listed) continue;
      result.severity = std::max(result.severity, part.severity);
      std::string remedy = part.remedy.empty() ? spec.remedy : part.remedy;
      if (!remedy.empty() && remedy.back() != '.' && remedy.back() != ')') remedy += '.';
      if (!remedy.empty() && std::find(remedies.begin(), remedies.end(), remedy) == remedies.end())
        remedies.push_back(remedy);
    }
    result.meaning = codes.meanings(CodeKind::listed);
    result.remedy = join(remedies, " ");
    // RFC 5782 2.1: the TXT record is the human-readable reason; shown verbatim, never parsed.
    const std::string txt = txt_reason(ip_txt);
    if (!txt.empty()) result.txt = txt;
    return result;
  }
  // Only documented non-listing answers (Mailspike rep's neutral and good levels).
  result.status = ListingStatus::not_listed;
  result.severity = Status::pass;
  result.meaning = codes.meanings(CodeKind::not_listed);
  return result;
}

void start_ips(dns::Resolver& resolver, const std::vector<std::pair<IpAddress, std::string>>& ips,
               const std::vector<SelectedList>& lists, std::function<void(std::vector<IpReport>)> on_done) {
  struct State {
    std::vector<IpReport> reports;
    std::vector<SelectedList> lists;
    // Every answer lands here; the verdicts are made once all are in.
    std::map<std::pair<std::string, dns::RrType>, dns::Answer> answers;
  };
  auto state = std::make_shared<State>();
  state->reports.resize(ips.size());
  state->lists = lists;
  auto work = dns::Work::create(resolver, [state, on_done = std::move(on_done)] {
    const auto answer_for = [&](const std::string& name, dns::RrType type) -> const dns::Answer& {
      static const dns::Answer not_asked;  // liveness none: an empty answer nobody reads
      auto found = state->answers.find({dns::canonical_name(name), type});
      if (found == state->answers.end()) found = state->answers.find({name, type});
      return found == state->answers.end() ? not_asked : found->second;
    };
    for (auto& report : state->reports) {
      if (report.skipped_private) continue;
      const auto family = report.ip.family();
      for (const auto& list : state->lists) {
        if (!report.ip.is_v4() && !list.spec->ipv6) continue;
        const std::string name = query_name(report.ip, list.zone);
        report.listings.push_back(evaluate_listing(list, family,
                                                   answer_for(query_name(positive_test_address(family), list.zone), dns::RrType::A),
                                                   answer_for(query_name(negative_test_address(family), list.zone), dns::RrType::A),
                                                   answer_for(name, dns::RrType::A), answer_for(name, dns::RrType::TXT)));
      }
    }
    on_done(std::move(state->reports));
  });
  const auto ask = [&](const std::string& name, dns::RrType type) {
    // The resolver asks each (name, type) once; probes shared by many IPs cost one query.
    work->query(name, type, [state, key = std::make_pair(name, type)](const dns::Answer& answer) { state->answers[key] = answer; });
  };
  for (std::size_t i = 0; i < ips.size(); ++i) {
    IpReport& report = state->reports[i];
    report.ip = ips[i].first;
    report.origin = ips[i].second;
    // Never on a DNSBL, and not what Microsoft sees; documentation ranges are
    // queried (tests and examples use them).
    if (is_non_public(address_scope(report.ip))) {
      report.skipped_private = true;
      continue;
    }
    const auto family = report.ip.family();
    for (const auto& list : lists) {
      if (!report.ip.is_v4() && !list.spec->ipv6) {
        report.skipped_ipv4_only.push_back(list);
        continue;
      }
      ask(query_name(report.ip, list.zone), dns::RrType::A);
      ask(query_name(report.ip, list.zone), dns::RrType::TXT);
      if (list.spec->liveness != Liveness::none) ask(query_name(positive_test_address(family), list.zone), dns::RrType::A);
      if (list.spec->liveness == Liveness::rfc5782)
        ask(query_name(negative_test_address(family), list.zone), dns::RrType::A);
    }
  }
  work->close();
}

std::vector<IpReport> check_ips(dns::Resolver& resolver, const std::vector<std::pair<IpAddress, std::string>>& ips,
                                const std::vector<SelectedList>& lists) {
  std::vector<IpReport> reports;
  start_ips(resolver, ips, lists, [&reports](std::vector<IpReport> done) { reports = std::move(done); });
  resolver.run();
  return reports;
}

}  // namespace diag::blocklist
