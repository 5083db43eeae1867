// One SPF record that fixes every failure at once: duplicate records merged
// (RFC 7208 3.2, 4.5), the device's public addresses added, Microsoft's
// include kept or added when the MX is Exchange Online, appended-zone and
// wrong includes replaced, +all dropped (ptr kept: its senders cannot be listed), one all qualifier (the
// strictest the domain had), and the whole flattened (dated) when it would
// exceed 10 lookups. The record is shown only after it has been re-evaluated
// offline for the device and for addresses sampled from every network the old
// records authorized; when that fails, the suggestion says why and has no
// record.
#include <algorithm>
#include <cstdint>
#include <bit>
#include <array>
#include <set>

#include "diag/ascii.h"
#include "diag/mx.h"
#include "diag/spf.h"
#include "diag/strings.h"

namespace diag::spf {
namespace {

using diag::strings::join;

constexpr int lookup_limit = 10;  // RFC 7208 4.6.4
constexpr int void_limit = 2;     // RFC 7208 4.6.4
constexpr int lookup_target = 8;  // a flattened record's lookups: spf.lookups warns from 9
// Two addresses a network: enough to find a network the new record lost,
// bounded so that a flattened vendor tree stays quick to verify.
constexpr std::size_t max_samples = 2000;

std::string network_term(const Network& network) {
  std::string out = std::string(network.address.is_v4() ? "ip4:" : "ip6:") + network.address.to_string();
  if (network.prefix != network.address.max_prefix()) out += "/" + std::to_string(network.prefix);
  return out;
}

Network term_network(const Term& term) {
  return Network{term.network, term.mechanism == MechanismKind::ip4 ? term.cidr4 : term.cidr6};
}

bool has_macros(std::string_view text) { return text.find('%') != std::string_view::npos; }

// One term of the record being built: pass-qualified networks (rendered as
// ip4:/ip6:), or a term kept as written.
struct DraftTerm {
  std::vector<Network> networks;
  std::string text;
  bool is_networks() const { return text.empty(); }
};

// The Microsoft include a draft term is ("spf.protection.outlook.com", a
// sovereign cloud's), or "".
std::string microsoft_include_of(const DraftTerm& t) {
  if (t.is_networks()) return {};
  const ParsedRecord one = parse_record("v=spf1 " + t.text);
  if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism || one.terms[0].mechanism != MechanismKind::include ||
      !is_microsoft_include(one.terms[0].domain_spec))
    return {};
  return dns::canonical_name(one.terms[0].domain_spec);
}

// Whether the record's own terms include the worldwide cloud's
// spf.protection.outlook.com, whose servers' addresses are known here.
bool includes_worldwide_microsoft(const std::string& record) {
  const ParsedRecord parsed = parse_record(record);
  return parsed.ok() && std::any_of(parsed.terms.begin(), parsed.terms.end(), [](const Term& t) {
           return t.is_mechanism && t.mechanism == MechanismKind::include && is_microsoft_include(t.domain_spec) &&
                  dns::canonical_name(t.domain_spec) == "spf.protection.outlook.com";
         });
}

// Exchange Online's sample addresses checked against a record: those that
// do not pass (at most five named), and how many were checked (0: the
// record has no worldwide Microsoft include, or its addresses could not be
// read here, so nothing is known).
struct ExchangeOnlineCheck {
  std::vector<std::string> failures;
  bool permerror = false;  // a failure was a limit, not a deciding term
  std::size_t sampled = 0;
  // The record's own terms, other than all, that decided a failure
  // ("-ip4:40.92.0.0/24"): written to refuse those servers, or by mistake.
  std::vector<std::string> deciding_terms;
};

struct Draft {
  std::vector<DraftTerm> terms;
  std::string all;          // "-all", "~all" or "?all"
  std::string explanation;  // "exp=..." or ""
  // A mechanism other than all with a non-pass qualifier: terms keep their
  // order, since moving a pass term before it would change its result.
  bool has_non_pass = false;
  std::string flattened_on;  // the date, when some terms were flattened

  bool contains(const std::string& text) const {
    const std::string key = ascii::to_lower(text);
    return std::any_of(terms.begin(), terms.end(), [&](const DraftTerm& t) { return !t.is_networks() && ascii::to_lower(t.text) == key; });
  }

  std::string render() const {
    std::string out = "v=spf1";
    if (!has_non_pass) {
      // Every pass network first, merged: they cost no lookup.
      std::vector<Network> networks;
      for (const auto& term : terms) networks.insert(networks.end(), term.networks.begin(), term.networks.end());
      for (const auto& network : merge_networks(networks)) out += " " + network_term(network);
      for (const auto& term : terms)
        if (!term.is_networks()) out += " " + term.text;
    } else {
      for (const auto& term : terms) {
        if (!term.is_networks()) out += " " + term.text;
        else
          for (const auto& network : merge_networks(term.networks)) out += " " + network_term(network);
      }
    }
    out += " " + all;
    if (!explanation.empty()) out += " " + explanation;
    // RFC 7208 6: receivers ignore unknown modifiers, so the date travels with the record.
    if (!flattened_on.empty()) out += " flattened=" + flattened_on;
    return out;
  }
};

struct OldRecord {
  std::string text;
  TreeValidation tree;
};

TreeValidation walk(SpfResolver& resolver, AnswerCache& cache, const std::string& domain, const std::string& record) {
  TreeOptions options;
  options.look_up_mx_for_m365 = false;
  options.look_up_spf_rr_type = false;
  return validate_tree(resolver, cache, domain, record, options);
}

// A check of `record` as the domain's own for mail from `ip`.
CheckHostInput record_check(const std::string& domain, const std::string& record, const IpAddress& ip) {
  CheckHostInput input;
  input.ip = ip;
  input.sender = "postmaster@" + domain;
  input.helo = domain;
  input.domain = domain;
  input.record_override = record;
  input.timestamp = 1;
  return input;
}

SpfEvaluation evaluate_offline(AnswerCache& cache, const std::string& domain, const std::string& record, const IpAddress& ip) {
  OfflineSpfResolver offline(cache);
  return check_host(offline, cache, record_check(domain, record, ip));
}

const TreeNode* child_for(const TreeNode& root, const std::string& via, std::set<const TreeNode*>& used) {
  for (const auto& child : root.children)
    if (child.via == via && used.insert(&child).second) return &child;
  return nullptr;
}

std::vector<std::string> mx_hosts_of(const AnswerCache& cache, const std::string& domain) {
  std::vector<std::string> hosts;
  if (const dns::Answer* mx = cache.find(domain, dns::RrType::MX); mx && mx->is_definitive())
    for (const auto& host : mx->mx()) hosts.push_back(host.exchange);
  return hosts;
}

// Everything a node authorizes can be written as addresses only when the
// whole subtree is known and uses no exists, ptr, macros or non-pass
// mechanisms (whose effect depends on the order of evaluation).
bool flattenable(const TreeNode& node, std::string& why) {
  if (node.status != "ok") return why = node.via + " (" + node.status + ")", false;
  if (!node.unresolved_terms.empty()) return why = node.unresolved_terms.front() + " (could not be resolved)", false;
  for (const auto& text : node.terms) {
    const ParsedRecord one = parse_record("v=spf1 " + text);
    if (!one.ok() || one.terms.empty()) continue;
    const Term& term = one.terms.front();
    if (!term.is_mechanism) {
      if (term.modifier == ModifierKind::redirect && has_macros(term.value)) return why = text + " in " + node.domain + " (a macro)", false;
      continue;
    }
    if (term.mechanism == MechanismKind::all) continue;
    if (term.mechanism == MechanismKind::exists) return why = text + " in " + node.domain + " (exists depends on each sender)", false;
    if (term.mechanism == MechanismKind::ptr) return why = text + " in " + node.domain + " (ptr depends on each sender)", false;
    if (has_macros(term.domain_spec)) return why = text + " in " + node.domain + " (a macro depends on each sender)", false;
    if (term.qualifier != Qualifier::pass) return why = text + " in " + node.domain + " (a non-pass term)", false;
  }
  for (const auto& child : node.children)
    if (!flattenable(child, why)) return false;
  return true;
}

// Why a record that an include reaches lets every sender pass: "+all" in it,
// or a network wider than any organization's, in it or in a record it
// includes with a pass qualifier; empty when it does not.
// open_terms: the terms the check found passing an address no server has
// (spf.any-address-passes).
std::string open_reason(const TreeNode& node, const std::vector<std::string>& open_terms) {
  if (node.all_term == "+all" || node.all_term == "all") return node.domain + " ends in \"" + node.all_term + "\"";
  for (const auto& network : node.networks)
    if (is_open_network(network)) return node.domain + " lists " + network.to_string();
  for (const auto& term : node.terms) {
    if (std::find(open_terms.begin(), open_terms.end(), term) != open_terms.end())
      return node.domain + " has \"" + term + "\", which passes any address";
    if (names_client_chosen_record(term)) return node.domain + " has \"" + term + "\", which the client names";
  }
  for (const auto& child : node.children) {
    if (child.status != "ok" || !passes_through(child)) continue;
    if (std::string reason = open_reason(child, open_terms); !reason.empty()) return reason;
  }
  return {};
}

// The first include or redirect below node that leads back to a record
// being evaluated, or null.
const TreeNode* loop_below(const TreeNode& node) {
  for (const auto& child : node.children) {
    if (child.status == "loop") return &child;
    if (const TreeNode* found = loop_below(child)) return found;
  }
  return nullptr;
}

// The addresses an a or mx term names today, with its CIDR lengths.
std::optional<std::vector<Network>> host_term_networks(const AnswerCache& cache, const Term& term, const std::string& domain) {
  const std::string target = term.domain_spec.empty() ? domain : term.domain_spec;
  std::vector<std::string> hosts;
  if (term.mechanism == MechanismKind::mx) {
    const dns::Answer* mx = cache.find(target, dns::RrType::MX);
    if (!mx || !mx->is_definitive()) return std::nullopt;
    for (const auto& host : mx->mx()) hosts.push_back(host.exchange);
  } else {
    hosts.push_back(target);
  }
  std::vector<Network> out;
  for (const auto& host : hosts)
    for (const auto type : {dns::RrType::A, dns::RrType::AAAA}) {
      const dns::Answer* answer = cache.find(host, type);
      if (!answer || !answer->is_definitive()) return std::nullopt;
      for (const auto& address : answer->addresses())
        out.push_back(Network{address, address.is_v4() ? term.cidr4 : term.cidr6});
    }
  return out;
}

// Addresses the old tree authorizes: the first and last of every network
// of every node reached through pass-qualified include and redirect terms,
// except the subtrees replaced on purpose.
void collect_samples(const TreeNode& node, const std::set<std::string>& replaced, std::vector<IpAddress>& out) {
  for (const auto& network : node.networks) {
    // A network wider than any organization's is dropped on purpose, with
    // a note: its addresses are not senders to keep.
    if (is_open_network(network)) continue;
    std::array<std::uint8_t, 16> first{}, last{};
    std::copy(network.address.data(), network.address.data() + network.address.size(), first.begin());
    last = first;
    for (int bit = network.prefix; bit < network.address.max_prefix(); ++bit) {
      first[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
      last[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
    }
    for (const auto& bytes : {first, last}) {
      const IpAddress address = network.address.is_v4() ? IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]}) : IpAddress::v6(bytes);
      if (non_public_kind(address).empty() && std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
    }
  }
  for (const auto& child : node.children) {
    if (passes_through(child) && !replaced.count(child.domain)) collect_samples(child, replaced, out);
  }
}

// The networks named by non-pass ip4/ip6 terms anywhere in the tree (a
// provider's "-ip4:x" inside an include): where a flattening or a merge
// could turn an excluded address into a pass.
void collect_negative_samples(const TreeNode& node, std::vector<IpAddress>& out) {
  TreeNode named;
  for (const auto& text : node.terms) {
    const ParsedRecord one = parse_record("v=spf1 " + text);
    if (!one.ok() || one.terms.empty()) continue;
    const Term& term = one.terms.front();
    if (term.is_mechanism && term.qualifier != Qualifier::pass &&
        (term.mechanism == MechanismKind::ip4 || term.mechanism == MechanismKind::ip6))
      named.networks.push_back(term_network(term));
  }
  collect_samples(named, {}, out);
  for (const auto& child : node.children) collect_negative_samples(child, out);
}

// The void lookups a subtree costs the senders of one family (4 or 6).
int subtree_voids(const TreeNode& node, int family) {
  int total = static_cast<int>((family == 4 ? node.void_terms_v4 : node.void_terms_v6).size());
  for (const auto& child : node.children) total += subtree_voids(child, family);
  return total;
}

int strictness(char qualifier) {
  switch (qualifier) {
    case '-': return 3;
    case '~': return 2;
    case '?': return 1;
    default: return 0;  // '+': never kept
  }
}

class SuggestionBuilder {
 public:
  SuggestionBuilder(SpfResolver& resolver, AnswerCache& cache, const TreeValidation& tree, const std::string& today, bool exchange_online_sends,
                    DeviceIdentity device)
      : resolver_(resolver), cache_(cache), tree_(tree), domain_(tree.domain), today_(today), exchange_online_sends_(exchange_online_sends),
        device_(std::move(device)) {}

  Suggestion build(const std::vector<IpAddress>& ips) {
    for (const auto& given : ips) {
      const IpAddress ip = unmapped(given);  // RFC 7208 5
      const std::string_view kind = non_public_kind(ip);
      if (!kind.empty()) {
        s_.not_public.push_back(ip);
        s_.notes.push_back(ip.to_string() + " is a " + std::string(kind) +
                           " address: Microsoft 365 never sees it as the sender, it sees the public address the device's "
                           "network sends from. Find that address with `sendcheck blocklist --egress` run from the device's "
                           "network, then run this again with --ip set to it. Nothing is suggested for " + ip.to_string() + ".");
        continue;
      }
      if (is_documentation(ip))
        s_.notes.push_back("Warning: " + ip.to_string() + " is in a documentation range (RFC 5737/3849), used by examples; "
                           "publish your device's real public address instead.");
      devices_.push_back(unmapped(ip));
    }
    input_notes_ = s_.notes.size();
    // No --ip at all: the record is fixed for the senders it already has
    // (Exchange Online among them), with no device added.
    if (devices_.empty() && !s_.not_public.empty()) return none("no public address to authorize: " + join(addresses(s_.not_public)) +
                                      (s_.not_public.size() == 1 ? " is not" : " are not") +
                                      " what Microsoft 365 sees (see the note)");
    if (!read_old_records()) return std::move(s_);
    if (no_change_needed()) return std::move(s_);
    return build_and_verify();
  }

 private:
  static std::vector<std::string> addresses(const std::vector<IpAddress>& ips) {
    std::vector<std::string> out;
    for (const auto& ip : ips) out.push_back(ip.to_string());
    return out;
  }

  // No record: the suggestion says why (callers that go on return s_ later).
  Suggestion none(std::string reason) {
    // Notes on how the record was drafted ("Kept", "Added", "Flattened")
    // describe a record that is not shown; those on the inputs stay.
    if (s_.notes.size() > input_notes_) s_.notes.resize(input_notes_);
    s_.record.clear();
    s_.verification.clear();  // lines that verified a record not shown
    s_.verified = false;
    s_.changed = false;
    s_.reason = "No record suggested: " + std::move(reason) + ".";
    return s_;
  }

  bool read_old_records() {
    const TreeNode& root = tree_.root;
    std::vector<std::string> texts;
    if (root.status == "ok") {
      texts.push_back(root.record);
    } else if (root.status == "multiple") {
      // RFC 7208 4.5: two records are a permerror for every message; the merge keeps what each authorized.
      if (const dns::Answer* answer = cache_.find(domain_, dns::RrType::TXT))
        for (const auto& txt : answer->txt())
          if (is_spf_record(txt.joined())) texts.push_back(txt.joined());
      s_.notes.push_back(domain_ + " publishes " + std::to_string(texts.size()) +
                         " SPF records, a permerror for every message (RFC 7208 4.5): this one record replaces all of them; delete the others.");
    } else if (root.status == "none") {
      s_.notes.push_back(domain_ + " has no SPF record: publish this one as a TXT record at " + domain_ + ".");
    } else if (root.status == "syntax-error") {
      none("the published record has a syntax error (" + root.detail + "); correct it first, or give the corrected text with --record, then --suggest adds the device");
      return false;
    } else {
      none("the SPF record of " + domain_ + " could not be read (" + root.status + (root.detail.empty() ? "" : ": " + root.detail) +
           "); a record that keeps every current sender cannot be written without it");
      return false;
    }
    for (const auto& text : texts) {
      OldRecord old{text, walk(resolver_, cache_, domain_, text)};
      if (old.tree.root.status == "syntax-error") {
        none("one of the published records has a syntax error (" + old.tree.root.detail + "); correct or delete it first");
        return false;
      }
      old_.push_back(std::move(old));
    }
    return true;
  }

  // A pass include: or a: term that names the servers of the gateway one of
  // the domain's MX hosts is ("include:eu._netblocks.mimecast.com" beside
  // eu-smtp-inbound-1.mimecast.com); nullopt otherwise.
  static std::optional<mx::MailGateway> gateway_named_by(const Term& term, const std::vector<std::string>& mx_hosts) {
    if (!term.is_mechanism || term.qualifier != Qualifier::pass || has_macros(term.domain_spec) ||
        (term.mechanism != MechanismKind::include && term.mechanism != MechanismKind::a) || term.domain_spec.empty())
      return std::nullopt;
    const auto named = mx::classify_gateway(dns::canonical_name(term.domain_spec));
    if (!named) return std::nullopt;
    for (const auto& host : mx_hosts)
      if (auto gateway = mx::classify_gateway(host); gateway && gateway->suffix == named->suffix) return gateway;
    return std::nullopt;
  }

  // "No change needed" only when the device already passes, nothing failed,
  // no qualifier fails the servers of the domain's own gateway, and its
  // include is not written where it is never evaluated.
  bool no_change_needed() {
    if (tree_.root.status != "ok" || !s_.not_public.empty()) return false;
    for (const auto& text : tree_.root.ignored_terms) {
      const ParsedRecord one = parse_record("v=spf1 " + text);
      if (one.ok() && !one.terms.empty() && gateway_named_by(one.terms.front(), mx_hosts_of(cache_, domain_))) return false;
    }
    if (std::any_of(tree_.checks.begin(), tree_.checks.end(),
                    [&](const Check& c) {
                      // Only a qualifier in the domain's own record is this record's to drop.
                      return c.status == Status::fail || c.status == Status::error ||
                             (c.id == "spf.gateway-include-qualified" && c.fields.value("record_of", std::string()) == tree_.domain);
                    }))
      return false;
    // Mail Exchange Online sends as the domain needs Microsoft's servers in the record.
    if (exchange_online_sends_ && !includes_microsoft(tree_.root)) return false;
    AnswerCache copy = cache_;
    for (const auto& ip : devices_)
      if (evaluate_device(copy, tree_.root.record, ip).result != SpfResult::pass) return false;
    // Exchange Online's own servers must pass too (terms before Microsoft's
    // include can end their check in permerror): else a record is built.
    const ExchangeOnlineCheck microsoft = check_exchange_online(tree_.root.record);
    if (!microsoft.failures.empty()) return false;
    s_.record = tree_.root.record;
    s_.changed = false;
    s_.verified = true;
    s_.lookups = tree_.lookups;
    s_.void_lookups = std::max(tree_.void_lookups_v4, tree_.void_lookups_v6);  // the worse family's
    for (const auto& ip : devices_) s_.verification.push_back(ip.to_string() + ": pass");
    add_verification(microsoft);
    // A warning about a record the domain's includes (a qualifier on the
    // gateway's include there) is fixed in that record, not in this one.
    std::vector<std::string> elsewhere;
    for (const auto& c : tree_.checks)
      if (c.id == "spf.gateway-include-qualified" && c.fields.value("record_of", std::string()) != tree_.domain)
        elsewhere.push_back("remove the \"" + c.fields.value("term", std::string()).substr(0, 1) + "\" in front of \"" +
                            c.fields.value("term", std::string()).substr(1) + "\" in the SPF record of " + c.fields.value("record_of", std::string()));
    const std::string verdict = elsewhere.empty() ? std::string("no change needed")
                                                  : "no change needed in this record; but " + join(elsewhere, "; ") + " (the TXT record at that name)";
    s_.notes.push_back(devices_.empty() ? "No SPF check failed: " + verdict + "."
                                        : "The published record already authorizes " + join(addresses(devices_)) +
                                              " and no SPF check failed: " + verdict + ".");
    return true;
  }

  void add_term(Draft& draft, const std::string& text) {
    if (!draft.contains(text)) draft.terms.push_back(DraftTerm{{}, text});
  }

  // What the old records' terms become in the new record.
  Draft merge_old_records(std::vector<char>& all_qualifiers) {
    Draft draft;
    draft.terms.push_back(DraftTerm{});  // the device's addresses go first (they cost no lookup)
    // exists:%{i}... over a wildcard: the probe with an unused address passed through it.
    const auto open_terms = any_address_terms(tree_.checks);
    auto microsoft = microsoft_include_for(mx_hosts_of(cache_, domain_), domain_);
    const bool by_mx = microsoft.has_value();
    if (!microsoft && exchange_online_sends_) microsoft = "spf.protection.outlook.com";
    for (const auto& old : old_) {
      const ParsedRecord record = parse_record(old.text);
      std::set<const TreeNode*> used;
      const bool has_all = std::any_of(record.terms.begin(), record.terms.end(),
                                       [](const Term& t) { return t.is_mechanism && t.mechanism == MechanismKind::all; });
      bool after_all = false;
      for (const auto& term : record.terms) {
        // RFC 7208 4.6.2: terms after all are never evaluated; keeping them
        // before the new all would authorize what the record never did.
        if (after_all && term.is_mechanism) {
          // The include of the gateway that takes the domain's mail was meant
          // to count: its outbound servers send the domain's mail.
          if (const auto gateway = gateway_named_by(term, mx_hosts_of(cache_, domain_))) {
            add_term(draft, term.text);
            notes_.push_back("Moved \"" + term.text + "\" before the all term: it names the servers of " + gateway->name + ", which takes mail for " +
                             domain_ + " (its MX), and after the all term it was never evaluated (RFC 7208 4.6.2), so mail that leaves through " +
                             gateway->name + " failed SPF.");
            continue;
          }
          notes_.push_back("Dropped \"" + term.text + "\": it came after the all term, so it was never evaluated (RFC 7208 4.6.2).");
          continue;
        }
        if (term.is_mechanism && term.mechanism == MechanismKind::all) after_all = true;
        // a:%{h} and the like match whatever name the client gives itself.
        if (names_client_chosen_record(term.text)) {
          s_.senders_not_kept.push_back(term.text);
          notes_.push_back("Dropped \"" + term.text + "\": it looks up a name the sending client chooses, so any server could pass "
                           "SPF as " + domain_ + " by naming itself. Servers that passed through it fail with this record: list them "
                           "by address (DMARC aggregate reports name them) before you publish it.");
          continue;
        }
        if (std::find(open_terms.begin(), open_terms.end(), term.text) != open_terms.end()) {
          s_.senders_not_kept.push_back(term.text);
          notes_.push_back("Dropped \"" + term.text + "\": it passes any address, even one no mail server has. Servers that "
                           "passed through it fail with this record: list them by address (DMARC aggregate reports name "
                           "them) before you publish it.");
          continue;
        }
        if (!term.is_mechanism) {
          if (term.modifier == ModifierKind::redirect) {
            const TreeNode* child = child_for(old.tree.root, term.text, used);
            // RFC 7208 6.1: redirect is ignored when the record has an all term.
            if (has_all) {
              notes_.push_back("Dropped \"" + term.text + "\": with an all term in the same record it was never used (RFC 7208 6.1).");
              continue;
            }
            // The redirect's own all decides for everyone else: it joins the qualifiers.
            if (child && !child->all_term.empty()) all_qualifiers.push_back(child->all_term.size() == 3 ? '+' : child->all_term.front());
            include_term(draft, "include:" + term.value, term.value, Qualifier::pass, child);
            notes_.push_back("\"" + term.text + "\" became \"include:" + term.value + "\" so that one all term ends the merged record.");
          } else if (term.modifier == ModifierKind::explanation) {
            if (draft.explanation.empty()) draft.explanation = term.text;
          } else if (term.name != "flattened") {
            notes_.push_back("Dropped the unknown modifier \"" + term.text + "\" (receivers ignore it, RFC 7208 6).");
          }
          continue;
        }
        switch (term.mechanism) {
          case MechanismKind::all: all_qualifiers.push_back(static_cast<char>(term.qualifier)); break;
          case MechanismKind::ptr:
            // Which servers ptr passes today no check can list: dropping it
            // would fail them, so it stays, and the admin replaces it.
            notes_.push_back("Kept \"" + term.text + "\": RFC 7208 5.5 says ptr SHOULD NOT be used (slow, and some receivers skip "
                             "it), but it may authorize servers no check can list; replace it with their ip4:/ip6: terms once you know them.");
            if (term.qualifier != Qualifier::pass) draft.has_non_pass = true;
            add_term(draft, term.text);
            break;
          case MechanismKind::ip4:
          case MechanismKind::ip6: {
            if (term.qualifier != Qualifier::pass) {
              // A term that fails a device this record is to authorize:
              // keeping it beside the device's own ip4:/ip6: would leave a
              // record that passes and fails the same address by term order.
              const Network denied = term_network(term);
              std::vector<IpAddress> hit;
              for (const auto& device : devices_)
                if (device.in_prefix(denied.address, denied.prefix)) hit.push_back(device);
              if (!hit.empty()) {
                notes_.push_back("Dropped \"" + term.text + "\": it " + (term.qualifier == Qualifier::softfail ? "soft-failed " : term.qualifier == Qualifier::neutral ? "made neutral " : "failed ") +
                                 join(addresses(hit)) + " explicitly, and this record is to authorize " +
                                 (hit.size() == 1 ? "it" : "them") + "; if it was denied on purpose (a former or untrusted sender), do not publish this record.");
                break;
              }
              draft.has_non_pass = true;
              add_term(draft, term.text);
              break;
            }
            const Network network = term_network(term);
            // Wider than any one organization's servers (as spf.open-networks
            // judges it): whoever passed through it cannot be listed.
            if (is_open_network(network)) {
              s_.senders_not_kept.push_back(term.text);
              notes_.push_back("Dropped \"" + term.text + "\": it lets " + (network.prefix == 0 ? "every address" : "a large part of the internet") +
                               " pass SPF as " + domain_ + ". Servers that passed only through it fail with this record: before you "
                               "publish it, find the servers that send as " + domain_ + " (DMARC aggregate reports) and add them.");
              break;
            }
            if (const auto kind = non_public_kind(network.address); !kind.empty()) {
              notes_.push_back("Dropped \"" + term.text + "\": " + (std::string("aeiou").find(kind.front()) != std::string::npos ? "an " : "a ") +
                               std::string(kind) + " network is never the sender Microsoft 365 or any receiver on the internet sees.");
              break;
            }
            draft.terms.push_back(DraftTerm{{network}, ""});
            break;
          }
          case MechanismKind::include: {
            // An include whose only macro is %{d} is walked like any other.
            const bool per_sender = has_macros(term.domain_spec) && !expand_sender_independent(term.domain_spec, domain_);
            const TreeNode* child = per_sender ? nullptr : child_for(old.tree.root, term.text, used);
            include_term(draft, term.text, term.domain_spec, term.qualifier, child, microsoft);
            break;
          }
          case MechanismKind::a:
          case MechanismKind::mx:
          case MechanismKind::exists: {
            const auto& voids = old.tree.root.void_terms;
            if (std::find(voids.begin(), voids.end(), term.text) != voids.end()) {
              notes_.push_back("Dropped \"" + term.text + "\": its name has no DNS data, so it authorized nothing and cost a void lookup (RFC 7208 4.6.4).");
              break;
            }
            // a:host/0, mx/1: every address of the host widened past any
            // organization's network. The host itself is kept, by address.
            if (term.qualifier == Qualifier::pass && term.mechanism != MechanismKind::exists &&
                (is_open_prefix(term.cidr4, true) || is_open_prefix(term.cidr6, false))) {
              Term narrow = term;
              narrow.cidr4 = 32;
              narrow.cidr6 = 128;
              const auto hosts = host_term_networks(cache_, narrow, domain_);
              if (hosts && !hosts->empty()) draft.terms.push_back(DraftTerm{*hosts, ""});
              s_.senders_not_kept.push_back(term.text);
              notes_.push_back("Replaced \"" + term.text + "\"" + (hosts && !hosts->empty() ? " with its host's addresses" : std::string()) +
                               ": its prefix length widens each address to a large part of the internet, which then passed SPF as " +
                               domain_ + ". Servers that passed only through it fail with this record: before you publish it, find "
                               "the servers that send as " + domain_ + " (DMARC aggregate reports) and add them.");
              break;
            }
            // A qualifier on the a: term that names the servers of the
            // gateway taking the domain's mail fails the mail leaving through it.
            if (const auto gateway = qualified_gateway_a_term(term.text, mx_hosts_of(cache_, domain_))) {
              add_term(draft, term.text.substr(1));
              notes_.push_back("Removed the \"" + term.text.substr(0, 1) + "\" in front of \"" + term.text.substr(1) + "\": it names the servers of " +
                               gateway->name + ", which takes mail for " + domain_ + ", and its qualifier " +
                               (term.qualifier == Qualifier::fail ? "failed" : term.qualifier == Qualifier::softfail ? "soft-failed" : "withheld a pass from") +
                               " the mail that leaves through " + gateway->name + ".");
              break;
            }
            if (term.qualifier != Qualifier::pass) draft.has_non_pass = true;
            add_term(draft, term.text);
            break;
          }
        }
      }
    }
    // The MX names the tenant's cloud: another cloud's include authorizes
    // none of its servers (m365-facts 1.3, 2). The right one is added; the
    // other is kept, since a worldwide service (Azure Communication Services,
    // another tenant) may still send as the domain through it.
    std::string other_cloud;
    if (by_mx)
      for (const auto& term : draft.terms)
        if (const std::string domain = microsoft_include_of(term); !domain.empty() && domain != *microsoft) other_cloud = term.text;
    const std::string cloud = by_mx ? *microsoft : std::string();
    // Any Microsoft include counts, or, when the MX names the cloud, its own.
    auto counts = [&](const std::string& domain) { return !domain.empty() && (cloud.empty() || domain == cloud); };
    const bool has_microsoft =
        std::any_of(draft.terms.begin(), draft.terms.end(), [&](const DraftTerm& t) { return counts(microsoft_include_of(t)); }) ||
        std::any_of(old_.begin(), old_.end(), [&](const OldRecord& old) { return includes_microsoft(old.tree.root, cloud); });
    if (microsoft && !has_microsoft && !other_cloud.empty()) {
      add_term(draft, "include:" + *microsoft);
      notes_.push_back("Added \"include:" + *microsoft + "\": the MX of " + domain_ + " is Exchange Online in the cloud whose servers "
                       "that include lists, and \"" + other_cloud + "\" (another Microsoft cloud's) authorizes none of them. \"" +
                       other_cloud + "\" is kept: remove it unless a service of that cloud (Azure Communication Services, "
                       "another tenant) sends as " + domain_ + ".");
    } else if (microsoft && !has_microsoft) {
      add_term(draft, "include:" + *microsoft);
      // It was written after the all term: say it moved, not dropped and added.
      const std::string dropped = "Dropped \"include:" + *microsoft + "\": it came after the all term";
      const auto was = std::find_if(notes_.begin(), notes_.end(), [&](const std::string& n) { return n.starts_with(dropped); });
      const bool moved = was != notes_.end();
      if (moved) notes_.erase(was);
      notes_.push_back(std::string(moved ? "Moved" : "Added") + " \"include:" + *microsoft + "\"" +
                       (moved ? " before the all term (after it, it was never evaluated)" : "") + ": " +
                       (by_mx ? "the MX of " + domain_ + " is Exchange Online, and mail" : std::string("mail")) +
                       " Microsoft 365 sends as " + domain_ + " needs it to pass SPF.");
    } else if (!microsoft && old_.empty()) {
      notes_.push_back("The MX of " + domain_ + " is not Exchange Online, so Microsoft's include was not added; if the domain's "
                       "mailboxes are in Microsoft 365, add include:spf.protection.outlook.com as well.");
    }
    return draft;
  }

  // An include whose records cannot stay (open to anyone, or looping)
  // replaced by the networks they list, open ones left out.
  struct Replacement {
    std::string opening;   // "Replaced \"include:x\" with the addresses its records list (...)"
    std::string not_kept;  // "; TERM cannot be written as addresses and is not kept", or empty
  };
  // What an open include's records authorize, to keep: their own networks by
  // address, and each include in them that is not open itself as that
  // include (Microsoft's above all: its owner changes what it lists, and a
  // copy of today's addresses would fail tomorrow's servers).
  // unlisted: the first part that can be neither (ptr, exists:, a record
  // that failed), which is not kept.
  void kept_parts(const TreeNode& node, const std::vector<std::string>& open_terms, std::vector<Network>& networks,
                  std::vector<std::string>& includes, std::string& unlisted) {
    if (node.status == "loop") return;  // the records before it are walked already
    if (node.status != "ok") {
      if (unlisted.empty()) unlisted = node.via + " (" + node.status + ")";
      return;
    }
    TreeNode own = node;
    own.children.clear();
    if (std::string why; !flattenable(own, why) && unlisted.empty()) unlisted = why;
    for (const auto& network : node.networks)
      if (!is_open_network(network)) networks.push_back(network);
    for (const auto& child : node.children) {
      if (!passes_through(child)) continue;
      const bool include = child.via.starts_with("include:") || child.via.starts_with("+include:");
      if (include && child.status == "ok" && !loop_below(child) && open_reason(child, open_terms).empty()) {
        includes.push_back("include:" + child.domain);
        continue;
      }
      kept_parts(child, open_terms, networks, includes, unlisted);
    }
  }

  Replacement replace_with_networks(Draft& draft, const std::string& text, const TreeNode& child) {
    std::vector<Network> networks;
    std::vector<std::string> includes;
    std::string unlisted;
    kept_parts(child, any_address_terms(tree_.checks), networks, includes, unlisted);
    networks = merge_networks(std::move(networks));
    if (!networks.empty()) draft.terms.push_back(DraftTerm{networks, ""});
    for (const auto& include : includes) add_term(draft, include);
    std::vector<std::string> listed;
    for (const auto& network : networks) listed.push_back(network.to_string());
    std::string opening = "Replaced \"" + text + "\"";
    if (!listed.empty()) opening += " with the addresses its records list (" + join(listed) + ")";
    if (!includes.empty())
      opening += std::string(listed.empty() ? " with the includes its records hold (" : " and the includes in them (") + join(includes) + ")";
    return {opening, unlisted.empty() ? "" : "; " + unlisted + " cannot be written as addresses and is not kept"};
  }

  void include_term(Draft& draft, const std::string& text, const std::string& target, Qualifier qualifier, const TreeNode* child,
                    const std::optional<std::string>& microsoft = std::nullopt) {
    const std::string prefix = qualifier == Qualifier::pass ? "" : std::string(1, static_cast<char>(qualifier));
    // A qualifier on Microsoft's include applies to every address it
    // authorizes (RFC 7208 5.2): with Exchange Online sending the domain's
    // mail, it fails exactly those servers. The same for the include of the
    // gateway that takes the domain's mail: mail that leaves through it is
    // sent by the servers it authorizes.
    const bool microsoft_qualified = qualifier != Qualifier::pass && microsoft && is_microsoft_include(target);
    const auto gateway = microsoft_qualified || !child ? std::nullopt : qualified_gateway_include(*child, mx_hosts_of(cache_, domain_));
    if (microsoft_qualified || gateway) {
      add_term(draft, "include:" + dns::canonical_name(target));
      const std::string did = qualifier == Qualifier::fail ? "failed" : qualifier == Qualifier::softfail ? "soft-failed" : "withheld a pass from";
      notes_.push_back("Removed the \"" + prefix + "\" in front of \"" + text.substr(1) + "\": " +
                       (microsoft_qualified
                            ? "a qualifier on an include applies to every address the include authorizes, so it " + did +
                                  " Exchange Online's servers."
                            : "it is the include of " + gateway->name + ", which takes mail for " + domain_ +
                                  ", and a qualifier on an include applies to every address it authorizes, so it " + did +
                                  " the mail that leaves through " + gateway->name + "."));
      return;
    }
    if (qualifier != Qualifier::pass) draft.has_non_pass = true;
    if (child) {
      if (const auto meant = appended_zone_target(*child, domain_)) {
        add_term(draft, prefix + "include:" + *meant);
        notes_.push_back("\"" + text + "\" is " + *meant + " with " + child->domain.substr(meant->size() + 1) +
                         " appended (typed without its final dot): replaced by \"include:" + *meant + "\".");
        return;
      }
      if (const KnownInclude* known = find_known_include(target); known && (known->kind == "wrong" || known->kind == "legacy")) {
        const std::string right = microsoft.value_or("spf.protection.outlook.com");
        add_term(draft, prefix + "include:" + right);
        replaced_.insert(child->domain);
        s_.senders_not_kept.push_back(text);
        notes_.push_back("\"" + text + "\" replaced by \"include:" + right + "\": " + std::string(known->advice) +
                         ". The addresses it authorized are not Exchange Online's and are not kept.");
        return;
      }
      if (const auto split = joined_terms(text); split && child->status == "none") {
        notes_.push_back("Dropped \"" + text + "\": it is two terms run together where the record's TXT strings meet without "
                         "a space, so it authorized nobody (permerror). Put the space back (\"" + *split +
                         "\") and check the record with sendcheck spf " + domain_ + " --record \"NEW RECORD\" before you publish it: "
                         "the senders those terms were meant for are not in this record.");
        return;
      }
      // A record that lets anyone pass ("+all", or a network wider than any
      // organization's) makes the include match everyone: keep what it lists
      // by address, without the open part.
      if (const std::string open = open_reason(*child, any_address_terms(tree_.checks));
          !open.empty() && child->status == "ok" && qualifier == Qualifier::pass) {
        const Replacement replaced = replace_with_networks(draft, text, *child);
        s_.senders_not_kept.push_back(text);
        notes_.push_back(replaced.opening + ": " + open + ", so through it every address on the internet passed SPF as " + domain_ +
                         replaced.not_kept +
                         ". Servers that passed only through it fail with this record: before you publish it, find the servers that "
                         "send as " + domain_ + " (DMARC aggregate reports) and add them; and ask the owner of " + child->domain +
                         " to close its record.");
        return;
      }
      // Records that include each other: the senders they list before the
      // loop pass, every other sender that reaches them gets permerror. Keep
      // the senders by address, and drop the loop.
      if (const TreeNode* loop = loop_below(*child); loop && child->status == "ok") {
        const Replacement replaced = replace_with_networks(draft, text, *child);
        if (!replaced.not_kept.empty()) s_.senders_not_kept.push_back(text);
        notes_.push_back(replaced.opening + ": its records include each other (" + loop->detail +
                         "), so every sender they do not list got permerror" + replaced.not_kept +
                         (dns::name_is_at_or_below(child->domain, domain_)
                              ? ". The loop is in your own records: remove the include that leads back (" + loop->detail + ")."
                              : ". Ask the owner of " + child->domain + " to remove the loop."));
        return;
      }
      // A name with no SPF record a letter or two from Microsoft's include
      // is a typo of it: what was meant is known.
      if (child->status == "none")
        if (const auto meant = misspelled_microsoft_include(target)) {
          add_term(draft, prefix + "include:" + *meant);
          notes_.push_back("\"" + text + "\" names no SPF record and is a misspelling of " + *meant +
                           ", Microsoft's include: replaced by \"include:" + *meant + "\".");
          return;
        }
      // A sending service's include, misspelled: what was meant is known,
      // and whether the service is still used is the admin's to say.
      if (child->status == "none")
        if (const auto service = misspelled_service_include(target)) {
          const std::string meant = prefix + "include:" + std::string(service->include);
          add_term(draft, meant);
          notes_.push_back("\"" + text + "\" names no SPF record and looks like a misspelling of " + std::string(service->include) +
                           ", the include of " + std::string(service->service) + ": replaced by \"" + meant + "\". If you no longer send through " +
                           std::string(service->service) + ", remove it.");
          return;
        }
      if (child->status == "none" || child->status == "multiple" || child->status == "syntax-error" || child->status == "loop") {
        notes_.push_back("Dropped \"" + text + "\": it does not lead to one valid SPF record (" + child->status +
                         (child->detail.empty() ? "" : ": " + child->detail) +
                         "), so it authorized nobody and made every check that reached it a permerror. If you still send through that "
                         "service, check the include against its setup guide (a misspelled name finds nothing), and check the record "
                         "with the right one added (sendcheck spf " + domain_ + " --record \"NEW RECORD\") before you publish it: it "
                         "costs DNS lookups too.");
        return;
      }
    }
    add_term(draft, text);
  }

  // Include, a and mx terms written as addresses: when the record needs over
  // 10 lookups, until it needs lookup_target (or, failing that, 10); when a
  // family was over 2 void lookups, every term that finds nothing for it.
  bool flatten(Draft& draft, TreeValidation& candidate, std::vector<std::string>& kept_reasons) {
    struct Option {
      std::size_t index;
      int cost;
      std::vector<Network> networks;
      int voids4 = 0, voids6 = 0;  // void lookups it removes for IPv4 and IPv6 senders
      long growth = 0;             // networks it adds to those the record lists
    };
    std::vector<Option> options;
    std::set<const TreeNode*> used;
    for (std::size_t k = 0; k < draft.terms.size(); ++k) {
      const DraftTerm& term = draft.terms[k];
      if (term.is_networks()) continue;
      const ParsedRecord one = parse_record("v=spf1 " + term.text);
      if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism) continue;
      const Term& t = one.terms[0];
      if (!t.queries_dns()) continue;
      std::string why;
      if (t.qualifier != Qualifier::pass) why = term.text + " (a non-pass term)";
      else if (has_macros(t.domain_spec)) why = term.text + " (a macro depends on each sender)";
      else if (t.mechanism == MechanismKind::exists) why = term.text + " (exists depends on each sender)";
      else if (t.mechanism == MechanismKind::include && is_microsoft_include(t.domain_spec)) why = term.text + " (Microsoft changes its addresses; keep the include)";
      else if (const auto gateway = gateway_named_by(t, mx_hosts_of(cache_, domain_)))
        // The gateway that takes the domain's mail often sends it out too,
        // and adds servers without notice: its include stays an include.
        why = term.text + " (" + gateway->name + ", the domain's MX, changes its addresses; keep the include)";
      if (!why.empty()) {
        kept_reasons.push_back(why);
        continue;
      }
      if (t.mechanism == MechanismKind::include) {
        const TreeNode* child = child_for(candidate.root, term.text, used);
        if (!child || !flattenable(*child, why)) {
          kept_reasons.push_back(why.empty() ? term.text + " (not resolved)" : why);
          continue;
        }
        options.push_back(Option{k, 1 + child->lookups_total, authorized_networks(*child), subtree_voids(*child, 4), subtree_voids(*child, 6)});
      } else if (t.mechanism == MechanismKind::a || t.mechanism == MechanismKind::mx) {
        auto networks = host_term_networks(cache_, t, domain_);
        if (!networks) {
          kept_reasons.push_back(term.text + " (its addresses could not be resolved)");
          continue;
        }
        const bool has4 = std::any_of(networks->begin(), networks->end(), [](const Network& n) { return n.address.is_v4(); });
        const bool has6 = std::any_of(networks->begin(), networks->end(), [](const Network& n) { return !n.address.is_v4(); });
        const bool a_term = t.mechanism == MechanismKind::a;
        options.push_back(Option{k, 1, std::move(*networks), a_term && !has4 ? 1 : 0, a_term && !has6 ? 1 : 0});
      }
    }
    // An a term naming a device whose address the record now lists adds
    // nothing when written as addresses.
    std::vector<Network> listed;
    for (const auto& term : draft.terms)
      if (term.is_networks()) listed.insert(listed.end(), term.networks.begin(), term.networks.end());
    const long listed_count = static_cast<long>(merge_networks(listed).size());
    for (auto& option : options) {
      std::vector<Network> with = listed;
      with.insert(with.end(), option.networks.begin(), option.networks.end());
      option.growth = static_cast<long>(merge_networks(std::move(with)).size()) - listed_count;
    }
    std::stable_sort(options.begin(), options.end(), [](const Option& a, const Option& b) { return a.cost > b.cost; });
    int lookups = candidate.lookups, voids4 = candidate.void_lookups_v4, voids6 = candidate.void_lookups_v6;
    const bool over_voids = voids4 > void_limit || voids6 > void_limit;
    // Over the limit, flattening leaves room: at 9 or 10 the check warns,
    // since one include a provider nests later pushes the record over.
    int target = lookups > lookup_limit ? lookup_target : lookup_limit;
    // The terms that bring the lookups within the target while adding the
    // fewest networks go first: every network makes the record longer, and
    // RFC 7208 3.4 wants the answer within 512 octets. Few terms are ever
    // candidates, so every combination is tried (at most 2^16).
    if (lookups > lookup_limit && !over_voids && options.size() <= 16) {
      auto cheapest = [&](int excess) {
        std::uint32_t best = 0;
        long best_growth = 0;
        for (std::uint32_t set = 1; set < (1u << options.size()); ++set) {
          int saved = 0;
          long growth = 0;
          for (std::size_t k = 0; k < options.size(); ++k)
            if (set & (1u << k)) saved += options[k].cost, growth += options[k].growth;
          if (saved < excess) continue;
          if (!best || growth < best_growth || (growth == best_growth && std::popcount(set) < std::popcount(best)))
            best = set, best_growth = growth;
        }
        return best;
      };
      std::uint32_t best = cheapest(lookups - target);
      if (!best) target = lookup_limit, best = cheapest(lookups - lookup_limit);
      if (best) {
        std::vector<Option> chosen, rest;
        for (std::size_t k = 0; k < options.size(); ++k) (best & (1u << k) ? chosen : rest).push_back(std::move(options[k]));
        options = std::move(chosen);
        options.insert(options.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
      }
    }
    std::vector<std::string> flattened;
    for (auto& option : options) {
      // Over the target anything helps; over 2 void lookups for one family,
      // what removes any: a record at 2 fails at the next name that goes.
      if (lookups <= target && !(over_voids && (option.voids4 > 0 || option.voids6 > 0))) continue;
      DraftTerm& term = draft.terms[option.index];
      flattened.push_back(term.text + " (" + std::to_string(option.cost) + (option.cost == 1 ? " lookup" : " lookups") + ")");
      // A private network in a provider's record, or a host's LAN address,
      // is never a sender a receiver sees: written into the domain's own
      // record it only tells the world about a LAN.
      std::vector<std::string> left_out;
      std::erase_if(option.networks, [&](const Network& network) {
        const auto kind = non_public_kind(network.address);
        if (!kind.empty()) left_out.push_back(network.to_string() + ", a " + std::string(kind) + " network");
        return !kind.empty();
      });
      if (!left_out.empty())
        notes_.push_back("Left out of the addresses of \"" + term.text + "\": " + join(left_out, "; ") +
                         (left_out.size() == 1 ? ": it is" : ": they are") +
                         " never the sender Microsoft 365 or any receiver on the internet sees.");
      term.text.clear();
      term.networks = std::move(option.networks);
      lookups -= option.cost;
      voids4 -= option.voids4;
      voids6 -= option.voids6;
    }
    if (flattened.empty()) return false;
    draft.flattened_on = today_;
    s_.flattened = true;
    std::vector<std::string> aims;
    if (target < candidate.lookups)
      aims.push_back(target == lookup_target ? "need at most " + std::to_string(lookup_target) +
                                                   " of the 10 DNS lookups RFC 7208 4.6.4 allows (room for an include a provider adds later)"
                                             : "stay within the 10 DNS lookups RFC 7208 4.6.4 allows");
    if (over_voids)
      aims.push_back(std::string("remove the void lookups (names that find nothing; RFC 7208 4.6.4 allows 2) for ") +
                     (candidate.void_lookups_v4 > 0 && candidate.void_lookups_v6 > 0 ? "IPv4 and IPv6"
                      : candidate.void_lookups_v4 > 0                                 ? "IPv4"
                                                                                      : "IPv6") +
                     " senders");
    // Whoever publishes the record must know both, wherever it is shown.
    for (const std::string& note :
         {"Flattened on " + today_ + ": " + join(flattened) + " replaced by the addresses they published that day, to " +
              join(aims, ", and to ") + ".",
          std::string("Warning: the addresses written in change without notice (a provider's, or a host's when its records "
                      "change). Run --suggest again at least monthly (the flattened= date in the record says when it was made), "
                      "or mail from the new addresses will fail SPF.")}) {
      notes_.push_back(note);
      publishing_.push_back(note);
    }
    return true;
  }

  // Moves Microsoft's include to the first place after the record's own
  // addresses when no term before it can decide for an address the include
  // authorizes: pass terms (the result stays pass), and fail, softfail or
  // neutral ip4/ip6 terms and includes whose addresses lie outside it
  // (~include:sendgrid.net). Any other non-pass term ("-ip4:40.92.0.0/24",
  // "~a", "-exists:...") keeps the order: it is then part of what the record
  // says. Returns the include moved, or "".
  static std::string move_microsoft_first(Draft& draft, const TreeValidation& candidate) {
    const auto first_lookup = std::find_if(draft.terms.begin() + 1, draft.terms.end(), [](const DraftTerm& t) { return !t.is_networks(); });
    const auto include = std::find_if(first_lookup, draft.terms.end(), [](const DraftTerm& t) { return !microsoft_include_of(t).empty(); });
    if (include == draft.terms.end() || include == first_lookup) return {};
    const auto child_for = [&](const std::string& domain) -> const TreeNode* {
      for (const auto& child : candidate.root.children)
        if (dns::canonical_name(child.domain) == domain) return &child;
      return nullptr;
    };
    const TreeNode* microsoft = child_for(microsoft_include_of(*include));
    if (!microsoft || microsoft->status != "ok") return {};
    const auto microsoft_networks = authorized_networks(*microsoft);
    const auto overlaps_microsoft = [&](const std::vector<Network>& networks) {
      for (const auto& a : networks)
        for (const auto& b : microsoft_networks)
          if (a.address.is_v4() == b.address.is_v4() &&
              (a.address.in_prefix(b.address, b.prefix) || b.address.in_prefix(a.address, a.prefix)))
            return true;
      return false;
    };
    for (auto term = first_lookup; term != include; ++term) {
      if (term->is_networks()) continue;
      const ParsedRecord one = parse_record("v=spf1 " + term->text);
      if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism) return {};
      const auto& mechanism = one.terms[0];
      if (mechanism.qualifier == Qualifier::pass) continue;
      std::vector<Network> decides;
      if (mechanism.mechanism == MechanismKind::ip4 || mechanism.mechanism == MechanismKind::ip6) {
        decides.push_back(Network{mechanism.network, mechanism.mechanism == MechanismKind::ip4 ? mechanism.cidr4 : mechanism.cidr6});
      } else if (mechanism.mechanism == MechanismKind::include) {
        const TreeNode* child = child_for(dns::canonical_name(mechanism.domain_spec));
        // What it matches must be known: a record that could not be read,
        // or one with lookups of its own (a, mx, exists), may match anything.
        if (!child || child->status != "ok" || child->lookups_total > 0) return {};
        decides = authorized_networks(*child);
      } else {
        return {};
      }
      if (overlaps_microsoft(decides)) return {};
    }
    const std::string text = include->text;
    DraftTerm moved = std::move(*include);
    const std::ptrdiff_t at = first_lookup - draft.terms.begin();
    draft.terms.erase(include);
    draft.terms.insert(draft.terms.begin() + at, std::move(moved));
    return text;
  }

  Suggestion build_and_verify() {
    std::vector<char> all_qualifiers;
    Draft draft = merge_old_records(all_qualifiers);

    // One all qualifier: the strictest the domain had, never +all.
    char all = 0;
    for (char q : all_qualifiers)
      if (strictness(q) > strictness(all)) all = q;
    const bool had_plus = std::find(all_qualifiers.begin(), all_qualifiers.end(), '+') != all_qualifiers.end();
    if (!all) {
      all = '~';
      // Whoever sent only through +all fails from now on, and no check can list them.
      if (had_plus) {
        s_.senders_not_kept.push_back("+all");
        notes_.push_back("Every server that passed only through \"+all\" fails with this record: before you publish it, find the "
                         "servers that send as " + domain_ + " (DMARC aggregate reports, rua=, list them) and add their addresses.");
      }
      notes_.push_back(std::string(had_plus ? "Replaced \"+all\", which lets every address on the internet pass as " + domain_ + "," : "Ended the record") +
                       " with \"~all\", Microsoft's recommendation for domains that devices send as (by direct send or a connector); move to \"-all\" once DKIM and DMARC are in place.");
    } else if (all == '?') {
      // The check's own advice for "?all" (spf.all): neutral is for testing.
      all = '~';
      notes_.push_back("Replaced \"?all\" (neutral, for testing only) with \"~all\", Microsoft's recommendation for domains "
                       "that devices send as (by direct send or a connector); mail from servers the record does not list now "
                       "gets softfail instead of neutral. Move to \"-all\" once DKIM and DMARC are in place.");
    } else {
      std::set<char> distinct(all_qualifiers.begin(), all_qualifiers.end());
      if (distinct.size() > 1)
        notes_.push_back("Kept \"" + std::string(1, all) + "all\", the strictest all term of the published records" +
                         (had_plus ? "; \"+all\" would let every address on the internet pass" : "") + ".");
    }
    draft.all = std::string(1, all) + "all";

    // The device's addresses, unless the merged record already passes them.
    TreeValidation candidate = walk(resolver_, cache_, domain_, draft.render());
    {
      AnswerCache copy = cache_;
      for (const auto& ip : devices_) {
        if (evaluate_device(copy, draft.render(), ip).result == SpfResult::pass) continue;
        // One of Exchange Online's own servers: Microsoft's include is what
        // authorizes it, and the verification below checks that it passes.
        if (is_exchange_online_outbound(ip) && includes_worldwide_microsoft(draft.render())) {
          notes_.push_back("Not added \"" + network_term(Network{ip, ip.max_prefix()}) + "\": " + ip.to_string() +
                           " is one of Exchange Online's servers, which include:spf.protection.outlook.com authorizes.");
          continue;
        }
        draft.terms.front().networks.push_back(Network{ip, ip.max_prefix()});
        notes_.push_back("Added \"" + network_term(Network{ip, ip.max_prefix()}) + "\": anyone who can send from " + ip.to_string() +
                         " passes SPF as " + domain_ + ", so it must be your own static public address" +
                         (ip.is_v4() ? std::string(".")
                                     : std::string(": set it on the device by hand, with temporary (privacy) addresses off, since an "
                                                   "address the device forms itself can change, and its mail then fails SPF.")));
      }
    }
    candidate = walk(resolver_, cache_, domain_, draft.render());

    // RFC 7208 4.6.4: over 10 lookups, flatten.
    std::vector<std::string> kept_reasons;
    const bool too_many_voids = std::max(candidate.void_lookups_v4, candidate.void_lookups_v6) > void_limit;
    if ((candidate.lookups > lookup_limit || too_many_voids) && flatten(draft, candidate, kept_reasons))
      candidate = walk(resolver_, cache_, domain_, draft.render());
    // Exchange Online's servers must reach Microsoft's include within the
    // limits: terms before it that find nothing for them (exists:%{i}...)
    // are void lookups for every one of its addresses, and a third is a
    // permerror (RFC 7208 4.6.4). Moved first, it is reached at once.
    ExchangeOnlineCheck microsoft = check_exchange_online(draft.render());
    if (!microsoft.failures.empty()) {
      const auto include = std::find_if(draft.terms.begin() + 1, draft.terms.end(),
                                        [](const DraftTerm& t) { return microsoft_include_of(t) == "spf.protection.outlook.com"; });
      if (include != draft.terms.end() && include != draft.terms.begin() + 1) {
        DraftTerm moved = *include;
        draft.terms.erase(include);
        draft.terms.insert(draft.terms.begin() + 1, std::move(moved));
        const bool ended_in_permerror = microsoft.permerror;
        const std::vector<std::string> overridden = microsoft.deciding_terms;
        candidate = walk(resolver_, cache_, domain_, draft.render());
        microsoft = check_exchange_online(draft.render());
        if (microsoft.failures.empty())
          notes_.push_back(ended_in_permerror
                               ? "Moved \"include:spf.protection.outlook.com\" before the terms that find nothing for Exchange Online's "
                                 "servers: behind them, their void lookups ended the check of those servers in permerror (RFC 7208 4.6.4)."
                           : overridden.empty()
                               ? "Moved \"include:spf.protection.outlook.com\" before the terms that decided for Exchange Online's "
                                 "servers first: behind them, those servers did not pass."
                               // A term the admin wrote to refuse those servers no longer
                               // does: say so, in case that was meant.
                               : "Moved \"include:spf.protection.outlook.com\" before \"" + join(overridden) + "\", which " +
                                     (overridden.size() == 1 ? "gave" : "give") + " Exchange Online's servers a result other than "
                                     "pass: with Microsoft's include first, " + (overridden.size() == 1 ? "that term no longer applies" : "those terms no longer apply") +
                                     " to the addresses the include authorizes. If " + (overridden.size() == 1 ? "it was" : "they were") +
                                     " written to refuse mail from those servers, this record undoes that; keeping " + (overridden.size() == 1 ? "it" : "them") +
                                     " means that mail Exchange Online sends as " + domain_ + " fails SPF, and passes DMARC only through DKIM.");
      }
    }
    // At 9 or 10 lookups, one include a provider nests later pushes the
    // record over, and the senders evaluated last get permerror first:
    // Exchange Online's servers go before the other lookups. Only past
    // pass terms, where the order changes no sender's result.
    if (candidate.lookups > lookup_target && candidate.lookups <= lookup_limit)
      if (const std::string moved = move_microsoft_first(draft, candidate); !moved.empty()) {
        candidate = walk(resolver_, cache_, domain_, draft.render());
        notes_.push_back("Moved \"" + moved + "\" before the other includes: the record needs " +
                         std::to_string(candidate.lookups) + " of the 10 DNS lookups RFC 7208 4.6.4 allows, and when a provider's "
                         "include grows, the senders checked last fail first; Exchange Online's servers are now checked first.");
      }
    const std::string record = draft.render();
    s_.lookups = candidate.lookups;
    s_.void_lookups = std::max(candidate.void_lookups_v4, candidate.void_lookups_v6);  // the worse family's
    s_.notes.insert(s_.notes.end(), notes_.begin(), notes_.end());
    if (candidate.lookups > lookup_limit)
      return none("even with every include, a and mx term that can be written as addresses replaced, the record would need " +
                  std::to_string(candidate.lookups) + " DNS lookups and RFC 7208 4.6.4 allows 10" +
                  (kept_reasons.empty() ? "" : "; these cannot be replaced: " + join(kept_reasons)) +
                  ". Remove senders you no longer use, or send some mail from a subdomain with its own SPF record");
    if (candidate.void_lookups > void_limit)
      return none("the record would need " + std::to_string(candidate.void_lookups) +
                  " void lookups and RFC 7208 4.6.4 allows 2: " + join(candidate.root.void_terms));
    if (std::max(candidate.void_lookups_v4, candidate.void_lookups_v6) > void_limit)
      return none("the record would need " + std::to_string(std::max(candidate.void_lookups_v4, candidate.void_lookups_v6)) +
                  " void lookups for " + (candidate.void_lookups_v6 > void_limit ? "IPv6" : "IPv4") +
                  " senders (a/mx terms whose hosts have no " + (candidate.void_lookups_v6 > void_limit ? "AAAA" : "A") +
                  " records) and RFC 7208 4.6.4 allows 2" + (kept_reasons.empty() ? "" : "; these cannot be replaced by addresses: " + join(kept_reasons)) +
                  ". Replace those terms with the hosts' addresses, or publish the missing records");
    if (!candidate.complete)
      return none("parts of the record's tree could not be resolved (timeouts or server failures), so it cannot be verified; try again");
    if (!microsoft.failures.empty())
      return none("Exchange Online's servers would not pass SPF with the merged record: " + join(microsoft.failures, "; ") +
                  ". Review the terms before include:spf.protection.outlook.com by hand");
    if (!verify(record)) return std::move(s_);
    add_verification(microsoft);
    s_.record = record;
    s_.verified = true;
    s_.changed = true;
    // RFC 7208 3.4: an answer over 512 octets may be dropped or truncated
    // on the way, and the receiver's check ends in temperror or none.
    if (record.size() > 450)
      publishing_.push_back("Warning: the record is " + std::to_string(record.size()) +
                            " characters; RFC 7208 3.4 asks to keep the DNS answer within 512 octets (a record of about 450 "
                            "characters at most), since a longer one can be lost between some receivers and their DNS. Remove "
                            "senders you no longer use, or send some mail from a subdomain with its own SPF record.");
    if (record.size() > 255)
      publishing_.push_back("The record is " + std::to_string(record.size()) +
                            " characters: a TXT string holds 255, so publish it as several quoted strings in one TXT record (most "
                            "DNS hosts split it for you); receivers join the strings with nothing between them, so a string that "
                            "ends between two terms must end with a space.");
    for (const auto& note : publishing_)
      if (std::find(s_.notes.begin(), s_.notes.end(), note) == s_.notes.end()) s_.notes.push_back(note);
    s_.publishing = std::move(publishing_);
    return std::move(s_);
  }

  // The record checked with Exchange Online's sample addresses, when it
  // carries the worldwide Microsoft include (a sovereign cloud's addresses
  // are not known here).
  ExchangeOnlineCheck check_exchange_online(const std::string& record) {
    ExchangeOnlineCheck check;
    if (!includes_worldwide_microsoft(record)) return check;
    AnswerCache copy = cache_;
    const auto& samples = exchange_online_outbound_samples();
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const auto& address = samples[i];
      // Only what Microsoft's include itself authorizes today: its addresses
      // change, and the samples are a reference's.
      if (!microsoft_include_passes(copy, address)) continue;
      SpfEvaluation result = evaluate_offline(copy, domain_, record, address);
      // A macro term (exists:%{i}...) names a host per address, which the
      // walk did not ask: asked now, for the first address of each range.
      if (result.result == SpfResult::temperror) {
        if (i % 3 != 0) continue;
        result = evaluate_online(address, record);
      }
      // Microsoft's own records could not be read here: nothing is known.
      if (result.result == SpfResult::temperror) return {};
      ++check.sampled;
      if (result.result == SpfResult::permerror) check.permerror = true;
      if (result.result != SpfResult::pass && result.result != SpfResult::permerror && result.path.size() > 1) {
        const std::string& term = result.path[1];
        if (!term.ends_with("all") && std::find(check.deciding_terms.begin(), check.deciding_terms.end(), term) == check.deciding_terms.end())
          check.deciding_terms.push_back(term);
      }
      if (result.result != SpfResult::pass && check.failures.size() < 5)
        check.failures.push_back(address.to_string() + " gets " + std::string(to_string(result.result)) +
                                 (result.reason.empty() ? std::string() : " (" + result.reason + ")"));
    }
    return check;
  }

  void add_verification(const ExchangeOnlineCheck& microsoft) {
    if (microsoft.sampled)
      s_.verification.push_back(std::to_string(microsoft.sampled) + " of " + std::to_string(microsoft.sampled) +
                                " addresses sampled from Exchange Online's outbound ranges pass");
  }

  bool microsoft_include_passes(AnswerCache& copy, const IpAddress& address) const {
    return evaluate_offline(copy, domain_, "v=spf1 include:spf.protection.outlook.com -all", address).result == SpfResult::pass;
  }

  SpfEvaluation evaluate_online(const IpAddress& ip, const std::string& record) {
    return check_host(resolver_, cache_, record_check(domain_, record, ip));
  }

  // A device's address checked as the device sends: its sender and EHLO
  // name fill the record's macros (%{l}, %{h}), so a name the walk did not
  // ask is asked now rather than read as a temperror.
  SpfEvaluation evaluate_device(AnswerCache& copy, const std::string& record, const IpAddress& ip) {
    CheckHostInput input = record_check(domain_, record, ip);
    if (!device_.sender.empty()) input.sender = device_.sender;
    if (!device_.helo.empty()) input.helo = device_.helo;
    OfflineSpfResolver offline(copy);
    SpfEvaluation result = check_host(offline, copy, input);
    if (result.result != SpfResult::temperror) return result;
    result = check_host(resolver_, cache_, input);
    copy = cache_;
    return result;
  }

  bool verify(const std::string& record) {
    AnswerCache copy = cache_;
    std::vector<std::string> failures;
    for (const auto& ip : devices_) {
      const SpfEvaluation result = evaluate_device(copy, record, ip);
      s_.verification.push_back(ip.to_string() + ": " + std::string(to_string(result.result)));
      if (result.result != SpfResult::pass)
        failures.push_back(ip.to_string() + (is_exchange_online_outbound(ip) ? " (one of Exchange Online's servers, given with --ip)" : " (the device)") +
                           " gets " + std::string(to_string(result.result)));
    }
    // One sample set for all records: an address one record authorizes and
    // another names in a non-pass term is where a merge can go wrong.
    std::vector<IpAddress> samples;
    for (const auto& old : old_) {
      collect_samples(old.tree.root, replaced_, samples);
      collect_negative_samples(old.tree.root, samples);
    }
    std::size_t sampled = 0, authorized = 0, kept = 0, widened = 0;
    // An address every old record refused (a provider's -ip4:x, say) must
    // not pass now unless it is a device. A permerror (over 10 lookups) is
    // what the new record repairs, not a refusal.
    for (const auto& address : samples) {
      if (sampled >= max_samples) break;
      if (std::find(devices_.begin(), devices_.end(), address) != devices_.end()) continue;
      if (std::any_of(old_.begin(), old_.end(), [&](const OldRecord& old) {
            const SpfResult result = evaluate_offline(copy, domain_, old.text, address).result;
            return result == SpfResult::pass || result == SpfResult::permerror || result == SpfResult::temperror;
          }))
        continue;
      if (evaluate_offline(copy, domain_, record, address).result != SpfResult::pass) continue;
      // Exchange Online's servers passing where a term before Microsoft's
      // include refused them is the repair, not a widening.
      if (includes_worldwide_microsoft(record) && microsoft_include_passes(copy, address)) continue;
      if (++widened <= 5) failures.push_back(address.to_string() + ", which the published record did not authorize, would pass");
    }
    for (std::size_t r = 0; r < old_.size(); ++r) {
      for (const auto& address : samples) {
        if (sampled >= max_samples) break;
        ++sampled;
        if (evaluate_offline(copy, domain_, old_[r].text, address).result != SpfResult::pass) continue;
        ++authorized;
        const SpfEvaluation now = evaluate_offline(copy, domain_, record, address);
        if (now.result == SpfResult::pass) ++kept;
        else if (failures.size() < 5)
          failures.push_back(address.to_string() + ", which " + (old_.size() > 1 ? "record " + std::to_string(r + 1) : std::string("the published record")) +
                             " authorized, gets " + std::string(to_string(now.result)));
      }
    }
    const std::string published = old_.size() > 1 ? std::to_string(old_.size()) + " published records" : std::string("published record");
    if (!old_.empty() && authorized == 0)
      // "0 of 0" reads as a check that was skipped: say what was found.
      s_.verification.push_back(sampled == 0 ? "the " + published + (old_.size() > 1 ? " list" : " lists") +
                                                   " no network to sample, so no old sender was there to keep"
                                             : "none of the " + std::to_string(sampled) + " addresses sampled from the networks the " +
                                                   published + (old_.size() > 1 ? " list passed them" : " lists passed it") +
                                                   " (it ended in an error or a fail for each), so no old sender was there to keep");
    else if (!old_.empty())
      s_.verification.push_back(std::to_string(kept) + " of " + std::to_string(authorized) + " addresses sampled from the networks the " +
                                (old_.size() > 1 ? std::to_string(old_.size()) + " published records" : std::string("published record")) +
                                " authorized still pass" + (sampled >= max_samples ? " (first " + std::to_string(max_samples) + " samples)" : ""));
    s_.verification.push_back(std::to_string(s_.lookups) + " of 10 DNS lookups, " + std::to_string(s_.void_lookups) + " of 2 void lookups");
    if (failures.empty()) return true;
    none("the record that merges these changes does not keep every sender: " + join(failures, "; ") +
         ". Review the published records by hand (a non-pass term in one may contradict another)");
    return false;
  }

  SpfResolver& resolver_;
  AnswerCache& cache_;
  const TreeValidation& tree_;
  const std::string domain_;
  const std::string today_;
  const bool exchange_online_sends_;
  std::vector<std::string> publishing_;  // see Suggestion::publishing
  const DeviceIdentity device_;
  Suggestion s_;
  std::vector<IpAddress> devices_;
  std::vector<OldRecord> old_;
  std::set<std::string> replaced_;  // include targets replaced on purpose (their senders are not kept)
  std::vector<std::string> notes_;
  std::size_t input_notes_ = SIZE_MAX;  // s_.notes about the given addresses come first
};

}  // namespace

Suggestion suggest_record(SpfResolver& resolver, AnswerCache& cache, const TreeValidation& tree, const std::vector<IpAddress>& ips,
                          const std::string& today, bool exchange_online_sends, const DeviceIdentity& device) {
  return SuggestionBuilder(resolver, cache, tree, today, exchange_online_sends, device).build(ips);
}

}  // namespace diag::spf
