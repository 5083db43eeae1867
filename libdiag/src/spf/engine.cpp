// check_host() (RFC 7208 4-6), evaluated sequentially over an answer cache
// and replayed after each round of lookups. A replay that meets an answer it
// does not have stops there ("suspends") and names that question; it also
// names what the records it has seen will need anyway (their include and
// redirect targets, a/mx/exists hosts), and the driver asks all of them in
// one round. Because the decision is always taken by the sequential replay,
// results and counts are those of a sequential evaluation; prefetching only
// changes how many round trips it takes.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <set>
#include <tuple>
#include <variant>

#include "diag/spf.h"

namespace diag::spf {
namespace {

using dns::Answer;
using dns::Outcome;
using dns::RrType;

std::string lower_copy(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string cache_key(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return lower_copy(name);
}

bool is_failure(Outcome outcome) { return !dns::is_definitive(outcome); }
bool is_void(Outcome outcome) { return outcome == Outcome::nodata || outcome == Outcome::nxdomain; }

// RFC 7208 7.3: over-long expansions lose labels on the left until they fit.
std::string fit_domain(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  while (name.size() > 253) {
    const std::size_t dot = name.find('.');
    if (dot == std::string::npos) return "";
    name.erase(0, dot + 1);
  }
  return name;
}

// RFC 1035 2.3.4: a name we can ask about has labels of 1..63 octets.
bool is_queryable(std::string_view name) {
  if (name.empty()) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::size_t length = (dot == std::string_view::npos ? name.size() : dot) - start;
    if (length == 0 || length > 63) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string reverse_name(const IpAddress& ip) {
  std::string out;
  if (ip.is_v4()) {
    for (int k = 3; k >= 0; --k) out += std::to_string(ip.data()[k]) + ".";
    return out + "in-addr.arpa";
  }
  static const char hex[] = "0123456789abcdef";
  for (int k = 15; k >= 0; --k) {
    out += hex[ip.data()[k] & 0xf];
    out += '.';
    out += hex[ip.data()[k] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}


bool name_at_or_below(std::string_view name, std::string_view domain) {
  const std::string n = cache_key(name), d = cache_key(domain);
  return n == d || (n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0 && n[n.size() - d.size() - 1] == '.');
}

struct Question {
  std::string name;
  RrType type;
  friend bool operator<(const Question& a, const Question& b) {
    return std::tie(a.name, a.type) < std::tie(b.name, b.type);
  }
};

// What evaluating one mechanism came to.
enum class Match { yes, no, error };

struct Decision {
  SpfResult result = SpfResult::neutral;
  std::string explanation, reason, matched;
  LimitReached limit_reached = LimitReached::none;
  std::vector<std::string> path;
};

class Evaluator {
 public:
  Evaluator(const AnswerCache& cache, const CheckHostInput& input, const EngineOptions& options)
      : cache_(cache), input_(input), options_(options) {}

  SpfEvaluation run() {
    SpfEvaluation evaluation;
    // RFC 7208 4.1 and 2.4: the sender and the domain.
    std::string sender = input_.sender;
    std::string domain;
    if (sender.empty()) sender = "postmaster@" + input_.helo;
    const std::size_t at = sender.rfind('@');
    if (at == std::string::npos) {
      context_.local_part = "postmaster";
      context_.sender_domain = sender;
    } else {
      context_.local_part = sender.substr(0, at);
      context_.sender_domain = sender.substr(at + 1);
      // RFC 7208 4.3: no local-part means "postmaster".
      if (context_.local_part.empty()) context_.local_part = "postmaster";
    }
    context_.sender = context_.local_part + "@" + context_.sender_domain;
    domain = input_.domain.empty() ? context_.sender_domain : input_.domain;
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    context_.helo = input_.helo;
    context_.ip = ip_;
    context_.receiver = input_.receiver;
    context_.timestamp = input_.timestamp ? input_.timestamp : static_cast<std::int64_t>(std::time(nullptr));

    Decision out;
    if (!is_valid_check_domain(domain)) {
      // RFC 7208 4.3: a malformed or single-label domain gives "none".
      out.result = SpfResult::none;
      out.reason = "\"" + domain + "\" is not a valid domain name to check (RFC 7208 4.3)";
      out.path = {domain};
    } else {
      out = check_domain(domain, 0);
    }
    evaluation.result = out.result;
    evaluation.explanation = out.explanation;
    evaluation.reason = out.reason;
    evaluation.limit_reached = out.limit_reached;
    evaluation.matched = out.matched;
    evaluation.path = out.path;
    evaluation.lookups = lookups_;
    evaluation.void_lookups = voids_;
    evaluation.helo_used = helo_used_;
    return evaluation;
  }

  bool suspended() const { return missing_.has_value(); }
  const std::optional<Question>& missing() const { return missing_; }
  const std::set<Question>& wanted() const { return wanted_; }

 private:
  // The answer, or null after noting it as missing: the replay stops.
  const Answer* lookup(const std::string& name, RrType type) {
    if (missing_) return nullptr;
    if (const Answer* answer = cache_.find(name, type)) return answer;
    missing_ = Question{cache_key(name), type};
    return nullptr;
  }
  void want(const std::string& name, RrType type) {
    if (!options_.prefetch || name.empty() || wanted_.size() >= 256) return;
    if (!cache_.find(name, type)) wanted_.insert(Question{cache_key(name), type});
  }
  RrType address_type() const { return ip_.is_v4() ? RrType::A : RrType::AAAA; }

  static std::vector<std::string> sorted_unique(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  // RFC 7208 4.6.4: of a PTR answer "all records other than the first 10
  // MUST be ignored". An RRset has no order (RFC 2181 5) and servers
  // rotate it, so "first" is taken in name order: the same 10 every run.
  static std::vector<std::string> first_ptr_names(const Answer& ptr) {
    std::vector<std::string> names;
    for (const auto& name : ptr.targets())
      if (is_queryable(name)) names.push_back(cache_key(name));
    names = sorted_unique(std::move(names));
    if (names.size() > 10) names.resize(10);
    return names;
  }

  // Every answer of a set of questions, or nullopt (suspended) while any is
  // missing; the rest of the set is asked in the same round.
  std::optional<std::vector<std::pair<std::string, const Answer*>>> lookup_all(const std::vector<std::string>& names,
                                                                                RrType type) {
    std::vector<std::pair<std::string, const Answer*>> answers;
    for (const auto& name : names) {
      const Answer* answer = lookup(name, type);
      if (!answer) {
        for (const auto& other : names) want(other, type);
        return std::nullopt;
      }
      answers.emplace_back(name, answer);
    }
    return answers;
  }

  Decision make(SpfResult result, std::string reason = "") {
    Decision out;
    out.result = result;
    out.reason = std::move(reason);
    return out;
  }

  // The selected record of a domain (RFC 7208 4.4, 4.5), or the result that
  // ends the evaluation of this domain.
  std::variant<std::string, Decision> select_record(const std::string& domain, int depth) {
    if (depth == 0 && input_.record_override) return *input_.record_override;
    const Answer* answer = lookup(domain, RrType::TXT);
    if (!answer) return make(SpfResult::temperror, "suspended");
    if (is_failure(answer->outcome))
      return make(SpfResult::temperror, "TXT lookup for " + domain + ": " + std::string(dns::to_string(answer->outcome)) +
                                             (answer->detail.empty() ? "" : " (" + answer->detail + ")"));
    std::vector<std::string> records;
    for (const auto& txt : answer->txt()) {
      std::string joined = txt.joined();
      if (is_spf_record(joined)) records.push_back(std::move(joined));
    }
    if (records.empty()) return make(SpfResult::none, "no SPF record at " + domain);
    if (records.size() > 1)
      return make(SpfResult::permerror, std::to_string(records.size()) + " SPF records at " + domain + " (RFC 7208 4.5 allows one)");
    return records.front();
  }

  // The domain of a term's domain-spec, expanded and fit for a query.
  // nullopt: suspended (the p macro needs answers we do not have yet).
  std::optional<std::string> target_of(const std::string& domain_spec, const std::string& domain) {
    if (domain_spec.empty()) return domain;
    if (uses_macro(domain_spec, 'h')) helo_used_ = true;
    MacroContext context = context_;
    context.domain = domain;
    if (uses_macro(domain_spec, 'p')) {
      auto name = validated_name(domain);
      if (!name) return std::nullopt;
      context.validated_name = *name;
    }
    return fit_domain(expand_macros(domain_spec, context, MacroUse::domain_spec));
  }

  // RFC 7208 7.3 (p macro): a validated name of the client, preferring the
  // domain itself, then a name below it. nullopt: suspended.
  std::optional<std::string> validated_name(const std::string& domain) {
    const Answer* ptr = lookup(reverse_name(ip_), RrType::PTR);
    if (!ptr) return std::nullopt;
    if (!ptr->ok()) return std::string("unknown");
    const auto addresses = lookup_all(first_ptr_names(*ptr), address_type());
    if (!addresses) return std::nullopt;
    std::vector<std::string> validated;
    for (const auto& [name, found] : *addresses)
      for (const auto& address : found->addresses())
        if (address == ip_) {
          validated.push_back(name);
          break;
        }
    for (const auto& name : validated)
      if (cache_key(name) == cache_key(domain)) return name;
    for (const auto& name : validated)
      if (name_at_or_below(name, domain)) return name;
    if (!validated.empty()) return validated.front();
    return std::string("unknown");
  }

  // Lookups the record will need if evaluation gets there: the targets of
  // its first 10 DNS-querying terms, and, for includes and redirects whose
  // record is already known, the same for those records, so that a whole
  // level of the tree is asked in one round.
  void prefetch_record(const ParsedRecord& record, const std::string& domain, int depth = 0) {
    if (!options_.prefetch || depth > options_.lookup_limit) return;
    if (!prefetched_.insert(cache_key(domain)).second && depth > 0) return;
    int dns_terms = 0;
    for (const auto& term : record.terms) {
      if (!term.queries_dns()) continue;
      if (++dns_terms > options_.lookup_limit) break;
      const std::string& spec = term.is_mechanism ? term.domain_spec : term.value;
      if (uses_macro(spec, 'p')) continue;
      MacroContext context = context_;
      context.domain = domain;
      const std::string target = spec.empty() ? domain : fit_domain(expand_macros(spec, context, MacroUse::domain_spec));
      if (!is_queryable(target)) continue;
      if (!term.is_mechanism || term.mechanism == MechanismKind::include) {
        prefetch_target(target, depth);
        continue;
      }
      switch (term.mechanism) {
        case MechanismKind::a: want(target, address_type()); break;
        case MechanismKind::exists: want(target, RrType::A); break;
        case MechanismKind::mx:
          if (const Answer* mx = cache_.find(target, RrType::MX)) {
            const auto hosts = mx->mx();
            for (std::size_t k = 0; k < hosts.size() && k < 10; ++k)
              if (is_queryable(hosts[k].exchange)) want(hosts[k].exchange, address_type());
          } else {
            want(target, RrType::MX);
          }
          break;
        case MechanismKind::ptr: want(reverse_name(ip_), RrType::PTR); break;
        default: break;
      }
    }
  }

  void prefetch_target(const std::string& target, int depth) {
    const Answer* answer = cache_.find(target, RrType::TXT);
    if (!answer) {
      want(target, RrType::TXT);
      return;
    }
    std::vector<std::string> records;
    for (const auto& txt : answer->txt())
      if (is_spf_record(txt.joined())) records.push_back(txt.joined());
    if (records.size() != 1) return;
    const ParsedRecord record = parse_record(records.front());
    if (record.ok()) prefetch_record(record, target, depth + 1);
  }

  bool count_lookup(Decision& error) {
    // RFC 7208 4.6.4: at most 10 terms that query the DNS.
    if (++lookups_ > options_.lookup_limit) {
      error = make(SpfResult::permerror, "more than " + std::to_string(options_.lookup_limit) +
                                             " DNS-querying terms (RFC 7208 4.6.4)");
      error.limit_reached = LimitReached::lookups;
      return false;
    }
    return true;
  }
  bool count_void(Decision& error, const std::string& name) {
    // RFC 7208 4.6.4: at most 2 lookups that find nothing.
    if (++voids_ > options_.void_limit) {
      error = make(SpfResult::permerror, "more than " + std::to_string(options_.void_limit) +
                                             " void lookups (the last: " + name + ") (RFC 7208 4.6.4)");
      error.limit_reached = LimitReached::void_lookups;
      return false;
    }
    return true;
  }

  Decision dns_error(const std::string& name, RrType type, const Answer& answer) {
    return make(SpfResult::temperror, std::string(dns::to_string(type)) + " lookup for " + name + ": " +
                                          std::string(dns::to_string(answer.outcome)) +
                                          (answer.detail.empty() ? "" : " (" + answer.detail + ")"));
  }

  // Evaluates one mechanism (RFC 7208 5). On Match::error, error holds the result.
  Match evaluate(const Term& term, const std::string& domain, int depth, Decision& error, Decision& inner) {
    switch (term.mechanism) {
      case MechanismKind::all: return Match::yes;
      case MechanismKind::ip4:
        return ip_.is_v4() && ip_.in_prefix(term.network, term.cidr4) ? Match::yes : Match::no;
      case MechanismKind::ip6:
        return !ip_.is_v4() && ip_.in_prefix(term.network, term.cidr6) ? Match::yes : Match::no;
      default: break;
    }
    if (!count_lookup(error)) return Match::error;
    auto target = target_of(term.domain_spec, domain);
    if (!target) return suspend(error);
    switch (term.mechanism) {
      case MechanismKind::include: {
        // RFC 7208 5.2: the included domain's result decides whether this matches.
        if (!is_queryable(*target)) {
          error = make(SpfResult::permerror, "include target \"" + *target + "\" is not a valid domain name");
          return Match::error;
        }
        inner = check_domain(*target, depth + 1);
        if (missing_) return suspend(error);
        switch (inner.result) {
          case SpfResult::pass: return Match::yes;
          case SpfResult::fail:
          case SpfResult::softfail:
          case SpfResult::neutral: return Match::no;
          case SpfResult::temperror: error = inner; return Match::error;
          case SpfResult::permerror: error = inner; return Match::error;
          case SpfResult::none:
            error = make(SpfResult::permerror, "include:" + *target + " has no SPF record (" + inner.reason + ")");
            return Match::error;
        }
        return Match::no;
      }
      case MechanismKind::a:
      case MechanismKind::exists: {
        if (!is_queryable(*target)) return Match::no;
        const RrType type = term.mechanism == MechanismKind::exists ? RrType::A : address_type();
        const Answer* answer = lookup(*target, type);
        if (!answer) return suspend(error);
        if (is_failure(answer->outcome)) { error = dns_error(*target, type, *answer); return Match::error; }
        if (is_void(answer->outcome)) return count_void(error, *target) ? Match::no : Match::error;
        if (term.mechanism == MechanismKind::exists) return Match::yes;
        return matches_any(answer->addresses(), term) ? Match::yes : Match::no;
      }
      case MechanismKind::mx: {
        if (!is_queryable(*target)) return Match::no;
        const Answer* answer = lookup(*target, RrType::MX);
        if (!answer) return suspend(error);
        if (is_failure(answer->outcome)) { error = dns_error(*target, RrType::MX, *answer); return Match::error; }
        if (is_void(answer->outcome)) return count_void(error, *target) ? Match::no : Match::error;
        const auto hosts = answer->mx();
        // RFC 7208 4.6.4: an MX set may not make us look up more than 10 hosts.
        if (hosts.size() > 10) {
          error = make(SpfResult::permerror, "mx:" + *target + " has " + std::to_string(hosts.size()) +
                                                 " MX records; more than 10 is a permerror (RFC 7208 4.6.4)");
          return Match::error;
        }
        std::vector<std::string> names;
        for (const auto& host : hosts)
          if (is_queryable(host.exchange) && host.exchange != ".") names.push_back(cache_key(host.exchange));
        // RFC 7208 5.4 looks up the address of every MX name, and section 5
        // makes any of those lookups that times out or fails temperror. The
        // decision is taken from the complete set, never at the first match
        // or failure met in the order the RRset came in (an RRset has no
        // order, RFC 2181 5, and servers rotate it): one host matching while
        // another times out is temperror on every run.
        const auto addresses = lookup_all(sorted_unique(std::move(names)), address_type());
        if (!addresses) return suspend(error);
        for (const auto& [name, found] : *addresses)
          if (is_failure(found->outcome)) { error = dns_error(name, address_type(), *found); return Match::error; }
        for (const auto& [name, found] : *addresses)
          if (matches_any(found->addresses(), term)) return Match::yes;
        return Match::no;
      }
      case MechanismKind::ptr: {
        const std::string reverse = reverse_name(ip_);
        const Answer* ptr = lookup(reverse, RrType::PTR);
        if (!ptr) return suspend(error);
        // RFC 7208 4.6.4: a PTR lookup that finds nothing is a void lookup
        // like any other.
        if (is_void(ptr->outcome)) return count_void(error, reverse) ? Match::no : Match::error;
        // RFC 7208 5.5: "If a DNS error occurs while doing the PTR RR lookup,
        // then this mechanism fails to match", the exception section 5's
        // "except where noted" makes to temperror.
        if (!ptr->ok()) return Match::no;
        // RFC 7208 5.5: of the validated names, those at or below the target
        // match; validating the others changes nothing. An address lookup
        // that fails skips that name ("that domain name is skipped and the
        // search continues", 5.5), so a match anywhere is a match whatever
        // the order: the set is asked whole and decided whole.
        std::vector<std::string> candidates;
        for (const auto& name : first_ptr_names(*ptr))
          if (name_at_or_below(name, *target)) candidates.push_back(name);
        const auto addresses = lookup_all(candidates, address_type());
        if (!addresses) return suspend(error);
        for (const auto& [name, found] : *addresses)
          for (const auto& address : found->addresses())
            if (address == ip_) return Match::yes;
        return Match::no;
      }
      default: return Match::no;
    }
  }

  Match suspend(Decision& error) {
    error = make(SpfResult::temperror, "suspended");
    return Match::error;
  }

  bool matches_any(const std::vector<IpAddress>& addresses, const Term& term) const {
    for (const auto& address : addresses) {
      if (address.is_v4() != ip_.is_v4()) continue;
      if (ip_.in_prefix(address, ip_.is_v4() ? term.cidr4 : term.cidr6)) return true;
    }
    return false;
  }

  // RFC 7208 6.2: the explanation of a fail; any problem means the default.
  std::string explanation(const ParsedRecord& record, const std::string& domain) {
    MacroContext context = context_;
    context.domain = domain;
    auto fallback = [&]() -> std::string {
      if (check_macro_string(input_.default_explanation, MacroUse::explanation)) return input_.default_explanation;
      if (uses_macro(input_.default_explanation, 'p')) {
        auto name = validated_name(domain);
        if (!name) return "";
        context.validated_name = *name;
      }
      return expand_macros(input_.default_explanation, context, MacroUse::explanation);
    };
    if (!record.explanation) return fallback();
    const Term& exp = record.terms[*record.explanation];
    auto target = target_of(exp.domain_spec, domain);
    if (!target) return "";
    if (!is_queryable(*target)) return fallback();
    const Answer* answer = lookup(*target, RrType::TXT);
    if (!answer) return "";
    const auto texts = answer->txt();
    if (!answer->ok() || texts.size() != 1) return fallback();
    const std::string text = texts.front().joined();
    if (check_macro_string(text, MacroUse::explanation)) return fallback();
    if (uses_macro(text, 'p')) {
      auto name = validated_name(domain);
      if (!name) return "";
      context.validated_name = *name;
    }
    return expand_macros(text, context, MacroUse::explanation);
  }

  Decision check_domain(const std::string& domain, int depth) {
    auto selected = select_record(domain, depth);
    if (auto* ended = std::get_if<Decision>(&selected)) {
      ended->path = {domain};
      return *ended;
    }
    const std::string& text = std::get<std::string>(selected);
    const ParsedRecord record = parse_record(text);
    if (!record.ok()) {
      Decision out = make(SpfResult::permerror, "syntax error in the SPF record of " + domain + ": " + record.error->to_string());
      out.path = {domain};
      return out;
    }
    prefetch_record(record, domain);
    for (const auto& term : record.terms) {
      if (!term.is_mechanism) continue;
      Decision error, inner;
      const Match match = evaluate(term, domain, depth, error, inner);
      if (match == Match::error) {
        if (error.path.empty()) error.path = {domain, term.text};
        else error.path.insert(error.path.begin(), domain), error.path[1] = term.text;
        return error;
      }
      if (match == Match::no) continue;
      Decision out = make(result_for(term.qualifier));
      if (term.mechanism == MechanismKind::include && !inner.path.empty()) {
        out.path = inner.path;
        out.path[0] = term.text;
        out.path.insert(out.path.begin(), domain);
        out.matched = inner.matched;
      } else {
        out.path = {domain, term.text};
        out.matched = term.text;
      }
      if (out.result == SpfResult::fail) out.explanation = explanation(record, domain);
      return out;
    }
    // RFC 7208 6.1: redirect applies only when no mechanism matched.
    if (record.redirect) {
      const Term& redirect = record.terms[*record.redirect];
      Decision error;
      if (!count_lookup(error)) {
        error.path = {domain, redirect.text};
        return error;
      }
      auto target = target_of(redirect.domain_spec, domain);
      if (!target) return make(SpfResult::temperror, "suspended");
      Decision inner;
      if (!is_queryable(*target)) {
        inner = make(SpfResult::none, "\"" + *target + "\" is not a valid domain name");
        inner.path = {*target};
      } else {
        inner = check_domain(*target, depth + 1);
      }
      if (inner.result == SpfResult::none) {
        // RFC 7208 6.1: a redirect to a domain without a record is a permerror.
        inner.result = SpfResult::permerror;
        inner.reason = "redirect=" + *target + " has no SPF record (" + inner.reason + ")";
      }
      if (inner.path.empty()) inner.path = {*target};
      inner.path[0] = redirect.text;
      inner.path.insert(inner.path.begin(), domain);
      if (inner.matched.empty() && inner.result != SpfResult::permerror && inner.result != SpfResult::temperror)
        inner.matched = redirect.text;
      return inner;
    }
    // RFC 7208 4.7: no match and no redirect: neutral.
    Decision out = make(SpfResult::neutral, "no term matched and there is no redirect (RFC 7208 4.7)");
    out.path = {domain};
    return out;
  }

  const AnswerCache& cache_;
  const CheckHostInput& input_;
  const EngineOptions& options_;
  IpAddress ip_ = unmapped(input_.ip);
  MacroContext context_;
  int lookups_ = 0, voids_ = 0;
  bool helo_used_ = false;
  std::optional<Question> missing_;
  std::set<Question> wanted_;
  std::set<std::string> prefetched_;  // domains whose records were already scanned for prefetching
};

dns::Answer timeout_answer(const std::string& name, RrType type, std::string detail) {
  dns::Answer answer;
  answer.name = name;
  answer.type = type;
  answer.outcome = Outcome::timeout;
  answer.detail = std::move(detail);
  return answer;
}

}  // namespace

const dns::Answer* AnswerCache::find(std::string_view name, dns::RrType type) const {
  const auto it = answers_.find({cache_key(name), type});
  return it == answers_.end() ? nullptr : &it->second;
}

void AnswerCache::store(const std::string& name, dns::RrType type, dns::Answer answer) {
  answers_[{cache_key(name), type}] = std::move(answer);
}

void NetworkSpfResolver::query(const std::string& name, dns::RrType type, Callback callback) {
  // Every name is asked as it is, a space from %_ included: DNS labels may
  // hold any octet (RFC 2181 11), and RFC 7208 7.3 looks the expansion up.
  resolver_.query(name, type, std::move(callback));
}

void NetworkSpfResolver::run() { run_until(nullptr, std::chrono::steady_clock::time_point::max()); }

void NetworkSpfResolver::run_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline) {
  resolver_.run_until(done, deadline);
}

void OfflineSpfResolver::query(const std::string& name, dns::RrType type, Callback callback) {
  if (const dns::Answer* answer = cache_.find(name, type)) {
    pending_.push_back({*answer, std::move(callback)});
  } else {
    pending_.push_back({timeout_answer(cache_key(name), type, "not known offline"), std::move(callback)});
  }
}

void OfflineSpfResolver::run() {
  while (!pending_.empty()) {
    auto batch = std::move(pending_);
    pending_.clear();
    for (auto& [answer, callback] : batch) callback(answer);
  }
}

namespace {

// The questions a suspended replay asks: the one it stopped at, then what
// the records it has seen will need anyway.
std::vector<Question> questions_of(const Evaluator& evaluator) {
  std::vector<Question> questions{*evaluator.missing()};
  for (const auto& question : evaluator.wanted())
    if (!(question.name == questions.front().name && question.type == questions.front().type)) questions.push_back(question);
  return questions;
}

// start_check_host's evaluation between answers. Held by the callbacks of
// its questions: answers to prefetches it never needed may come after it
// reported, and are then dropped.
struct HostCheck : std::enable_shared_from_this<HostCheck> {
  SpfResolver& resolver;
  std::shared_ptr<AnswerCache> cache;
  CheckHostInput input;
  EngineOptions options;
  std::function<void(SpfEvaluation)> on_done;
  std::set<Question> asked;
  std::size_t open = 0;         // questions asked and not answered yet
  int depth = 0;                // round trips behind the deepest answer so far
  bool replay_due = false;      // a replay is deferred until the answers in hand are stored
  bool reported = false;

  HostCheck(SpfResolver& r, std::shared_ptr<AnswerCache> c, CheckHostInput i, EngineOptions o, std::function<void(SpfEvaluation)> d)
      : resolver(r), cache(std::move(c)), input(std::move(i)), options(o), on_done(std::move(d)) {}

  void replay() {
    replay_due = false;
    Evaluator evaluator(*cache, input, options);
    SpfEvaluation evaluation = evaluator.run();
    if (!evaluator.suspended()) {
      evaluation.rounds = depth;
      reported = true;
      auto done = std::move(on_done);
      done(std::move(evaluation));
      return;
    }
    const int next_depth = depth + 1;
    bool asked_any = false;
    for (const auto& question : questions_of(evaluator)) {
      if (cache->find(question.name, question.type) || !asked.insert(question).second) continue;
      asked_any = true;
      ++open;
      resolver.query(question.name, question.type, [self = shared_from_this(), question, next_depth](const dns::Answer& answer) {
        --self->open;
        if (self->reported) return;
        self->cache->store(question.name, question.type, answer);
        self->depth = std::max(self->depth, next_depth);
        self->schedule_replay();
      });
    }
    // A resolver with nothing left to answer must not leave us waiting.
    const Question& missing = *evaluator.missing();
    if (!asked_any && open == 0 && !cache->find(missing.name, missing.type)) {
      cache->store(missing.name, missing.type, timeout_answer(missing.name, missing.type, "no answer"));
      schedule_replay();
    }
  }

  // Replayed once the answers that came together are all stored, as the
  // blocking check_host does after each run_until.
  void schedule_replay() {
    if (replay_due) return;
    replay_due = true;
    resolver.defer([self = shared_from_this()] { self->replay(); });
  }
};

}  // namespace

void NetworkSpfResolver::defer(std::function<void()> task) { resolver_.defer(std::move(task)); }

void OfflineSpfResolver::defer(std::function<void()> task) {
  pending_.push_back({dns::Answer{}, [task = std::move(task)](const dns::Answer&) { task(); }});
}

void start_check_host(SpfResolver& resolver, std::shared_ptr<AnswerCache> cache, const CheckHostInput& input,
                      const EngineOptions& options, std::function<void(SpfEvaluation)> on_done) {
  auto check = std::make_shared<HostCheck>(resolver, std::move(cache), input, options, std::move(on_done));
  check->schedule_replay();
}

SpfEvaluation check_host(SpfResolver& resolver, AnswerCache& cache, const CheckHostInput& input,
                         const EngineOptions& options) {
  // Where answers go. Answers to questions still open when the evaluation
  // returns (prefetches it never needed) may come during a later run of the
  // same resolver, after this cache is gone: they reach it only through a
  // weak reference to this.
  struct Sink {
    AnswerCache* cache = nullptr;
    bool fresh = false;  // an answer came since the last replay
    int depth = 0;       // round trips behind the deepest answer so far
  };
  const auto sink = std::make_shared<Sink>(Sink{&cache});
  std::set<Question> asked;
  while (true) {
    Evaluator evaluator(cache, input, options);
    SpfEvaluation evaluation = evaluator.run();
    if (!evaluator.suspended()) {
      evaluation.rounds = sink->depth;
      return evaluation;
    }
    // A question asked now waits one round trip more than the answers the
    // replay that asked it had.
    const int depth = sink->depth + 1;
    for (const auto& question : questions_of(evaluator)) {
      if (cache.find(question.name, question.type) || !asked.insert(question).second) continue;
      resolver.query(question.name, question.type, [weak = std::weak_ptr<Sink>(sink), question, depth](const dns::Answer& answer) {
        const auto target = weak.lock();
        if (!target) return;
        target->cache->store(question.name, question.type, answer);
        target->fresh = true;
        target->depth = std::max(target->depth, depth);
      });
    }
    // Replayed whenever an answer comes: the replay stops at the question
    // it needs (and returns once it has all it needs), and asks at once
    // what a record that just came in will need. Prefetched questions still
    // open never hold the result up, nor, since the replay decides, change it.
    sink->fresh = false;
    resolver.run_until([&sink] { return sink->fresh; }, std::chrono::steady_clock::time_point::max());
    // A resolver with nothing left to answer must not make us spin.
    const Question& missing = *evaluator.missing();
    if (!sink->fresh && !cache.find(missing.name, missing.type))
      cache.store(missing.name, missing.type, timeout_answer(missing.name, missing.type, "no answer"));
  }
}

IpAddress unmapped(const IpAddress& ip) {
  if (ip.is_v4()) return ip;
  const std::uint8_t* b = ip.data();
  for (int k = 0; k < 10; ++k)
    if (b[k] != 0) return ip;
  if (b[10] != 0xff || b[11] != 0xff) return ip;
  return IpAddress::v4({b[12], b[13], b[14], b[15]});
}

}  // namespace diag::spf
