// The published SPF tree of a domain, independent of any IP: every include
// and redirect resolved (a level per round, all of it in flight together),
// lookup and void counts per term, the networks it authorizes, and the
// findings an admin must act on.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "diag/ascii.h"
#include "diag/mx.h"
#include "diag/spf.h"
#include "diag/strings.h"

namespace diag::spf {
namespace {
// The end of spf.m365-include's message; note_open_terms_pass_microsoft
// replaces it when a term that passes anyone lets Microsoft's servers pass.
constexpr std::string_view microsoft_mail_fails = "mail Exchange Online sends as ";

using dns::Answer;
using dns::Outcome;
using dns::RrType;

constexpr KnownInclude known_includes[] = {
#include "../../data/spf_microsoft_includes.inc"
};

std::string canonical(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool definitive(const Answer& answer) { return answer.is_definitive(); }
bool is_void(const Answer& answer) { return answer.outcome == Outcome::nodata || answer.outcome == Outcome::nxdomain; }

Network host_network(const IpAddress& address, int cidr4, int cidr6) {
  return Network{address, address.is_v4() ? cidr4 : cidr6};
}

// Walks the tree over the cache; what is missing is collected for the next
// round instead of stopping, since no decision depends on order here.
class TreeWalker {
 public:
  TreeWalker(const AnswerCache& cache, const std::optional<std::string>& record_override)
      : cache_(cache), record_override_(record_override) {}

  TreeNode walk(const std::string& domain) {
    std::vector<std::string> stack;
    return walk_node(domain, "", 0, stack);
  }
  const std::set<std::pair<std::string, RrType>>& missing() const { return missing_; }
  bool complete() const { return complete_; }

 private:
  const Answer* lookup(const std::string& name, RrType type) {
    if (const Answer* answer = cache_.find(name, type)) return answer;
    missing_.insert({canonical(name), type});
    return nullptr;
  }

  // Addresses of a host for the network list; nullopt while not all known.
  void add_host(TreeNode& node, const std::string& term, const std::string& host, int cidr4, int cidr6, bool authorizes,
                bool count_void) {
    const Answer* a = lookup(host, RrType::A);
    const Answer* aaaa = lookup(host, RrType::AAAA);
    if (!a || !aaaa) return;
    if (!definitive(*a) || !definitive(*aaaa)) {
      node.unresolved_terms.push_back(term + " (" + host + ": " + std::string(dns::to_string(definitive(*a) ? aaaa->outcome : a->outcome)) + ")");
      complete_ = false;
    }
    if (count_void && is_void(*a) && is_void(*aaaa)) {
      ++node.void_lookups;
      node.void_terms.push_back(term);
    }
    // RFC 7208 5.3: an IPv4 sender asks only A, an IPv6 sender only AAAA;
    // each view has its own void lookups.
    if (count_void && is_void(*a)) node.void_terms_v4.push_back(term);
    if (count_void && is_void(*aaaa)) node.void_terms_v6.push_back(term);
    if (!authorizes) return;
    for (const auto* answer : {a, aaaa})
      for (const auto& address : answer->addresses()) node.networks.push_back(host_network(address, cidr4, cidr6));
  }

  TreeNode walk_node(const std::string& domain, const std::string& via, int depth, std::vector<std::string>& stack) {
    TreeNode node;
    node.domain = domain;
    node.via = via;
    if (std::find(stack.begin(), stack.end(), canonical(domain)) != stack.end()) {
      node.status = "loop";
      // stack.back() is the record whose term leads back.
      node.detail = stack.back() == canonical(domain) ? domain + " includes itself through " + via
                                                      : stack.back() + " leads back to " + domain + " through " + via;
      return node;
    }
    if (depth > 10) {
      node.status = "over-limit";
      node.detail = "nested more than 10 deep";
      return node;
    }
    std::string text;
    if (depth == 0 && record_override_) {
      text = *record_override_;
    } else {
      const Answer* answer = lookup(domain, RrType::TXT);
      if (!answer) {
        node.status = "pending";
        return node;
      }
      node.txt_outcome = answer->outcome;
      if (!definitive(*answer)) {
        node.status = "temperror";
        node.detail = "TXT lookup: " + std::string(dns::to_string(answer->outcome)) + (answer->detail.empty() ? "" : " (" + answer->detail + ")");
        complete_ = false;
        return node;
      }
      std::vector<std::string> records;
      for (const auto& txt : answer->txt())
        if (is_spf_record(txt.joined())) records.push_back(txt.joined());
      if (records.empty()) {
        node.status = "none";
        node.detail = answer->outcome == Outcome::nxdomain ? "the name does not exist" : "no TXT record starting with v=spf1";
        return node;
      }
      if (records.size() > 1) {
        node.status = "multiple";
        node.detail = std::to_string(records.size()) + " SPF records";
        node.record = records.front();
        node.other_records.assign(records.begin() + 1, records.end());
        return node;
      }
      text = records.front();
    }
    node.record = text;
    const ParsedRecord record = parse_record(text);
    if (!record.ok()) {
      node.status = "syntax-error";
      node.detail = record.error->to_string();
      return node;
    }
    node.status = "ok";
    stack.push_back(canonical(domain));
    MacroContext context;
    context.domain = domain;
    // RFC 7208 4.6.2 and 6.1: terms after all are never evaluated, and a
    // redirect is ignored when the record has an all term: they cost no
    // lookup and authorize nobody.
    const bool has_all = std::any_of(record.terms.begin(), record.terms.end(),
                                     [](const Term& t) { return t.is_mechanism && t.mechanism == MechanismKind::all; });
    bool after_all = false;
    for (const auto& term : record.terms) {
      node.terms.push_back(term.text);
      if (after_all || (has_all && !term.is_mechanism && term.modifier == ModifierKind::redirect)) {
        if (term.is_mechanism || term.modifier == ModifierKind::redirect) node.ignored_terms.push_back(term.text);
        continue;
      }
      if (term.queries_dns()) ++node.lookups;
      if (!term.is_mechanism) {
        if (term.modifier == ModifierKind::redirect) {
          const auto target = fixed_name(term.value, domain);
          if (!target) continue;
          node.children.push_back(walk_node(canonical(*target), term.text, depth + 1, stack));
        }
        continue;
      }
      const bool authorizes = term.qualifier == Qualifier::pass;
      switch (term.mechanism) {
        case MechanismKind::all:
          node.all_term = term.text;
          after_all = true;
          break;
        case MechanismKind::ip4:
        case MechanismKind::ip6:
          if (authorizes) node.networks.push_back(Network{term.network, term.mechanism == MechanismKind::ip4 ? term.cidr4 : term.cidr6});
          break;
        case MechanismKind::ptr: node.uses_ptr = true; break;
        case MechanismKind::include: {
          const auto target = fixed_name(term.domain_spec, domain);
          if (!target) break;  // depends on the sender: nothing to walk
          node.children.push_back(walk_node(canonical(*target), term.text, depth + 1, stack));
          break;
        }
        case MechanismKind::a: {
          const auto host = fixed_name(term.domain_spec.empty() ? domain : term.domain_spec, domain);
          if (!host) break;
          add_host(node, term.text, canonical(*host), term.cidr4, term.cidr6, authorizes, true);
          break;
        }
        case MechanismKind::mx: {
          const auto target = fixed_name(term.domain_spec.empty() ? domain : term.domain_spec, domain);
          if (!target) break;
          const Answer* mx = lookup(canonical(*target), RrType::MX);
          if (!mx) break;
          if (!definitive(*mx)) {
            node.unresolved_terms.push_back(term.text + " (MX: " + std::string(dns::to_string(mx->outcome)) + ")");
            complete_ = false;
            break;
          }
          if (is_void(*mx)) {
            ++node.void_lookups;
            node.void_terms.push_back(term.text);
            node.void_terms_v4.push_back(term.text);
            node.void_terms_v6.push_back(term.text);
            break;
          }
          const auto hosts = mx->mx();
          for (std::size_t k = 0; k < hosts.size() && k < 10; ++k)
            if (hosts[k].exchange != ".") add_host(node, term.text, hosts[k].exchange, term.cidr4, term.cidr6, authorizes, false);
          break;
        }
        case MechanismKind::exists: {
          const auto target = fixed_name(term.domain_spec, domain);
          if (!target) break;
          const Answer* a = lookup(canonical(*target), RrType::A);
          if (a && is_void(*a)) {
            ++node.void_lookups;
            node.void_terms.push_back(term.text);
            node.void_terms_v4.push_back(term.text);
            node.void_terms_v6.push_back(term.text);
          }
          break;
        }
      }
    }
    stack.pop_back();
    return node;
  }

  static bool has_macros(std::string_view spec) { return spec.find('%') != std::string_view::npos; }
  // The name a domain-spec gives whoever sends: itself, or its expansion
  // when its only macro is %{d}; nullopt when it depends on the sender.
  static std::optional<std::string> fixed_name(std::string_view spec, std::string_view domain) {
    if (!has_macros(spec)) return std::string(spec);
    return expand_sender_independent(spec, domain);
  }

  const AnswerCache& cache_;
  const std::optional<std::string>& record_override_;
  std::set<std::pair<std::string, RrType>> missing_;
  bool complete_ = true;
};

int total_lookups(TreeNode& node) {
  int total = node.lookups;
  for (auto& child : node.children) total += total_lookups(child);
  node.lookups_total = total;
  return total;
}

int total_voids(const TreeNode& node, int view = 0) {
  int total = view == 4 ? static_cast<int>(node.void_terms_v4.size()) : view == 6 ? static_cast<int>(node.void_terms_v6.size()) : node.void_lookups;
  for (const auto& child : node.children) total += total_voids(child, view);
  return total;
}

void collect_networks(const TreeNode& node, std::vector<Network>& out) {
  out.insert(out.end(), node.networks.begin(), node.networks.end());
  for (const auto& child : node.children)
    if (passes_through(child)) collect_networks(child, out);
}

template <typename F>
void for_each_node(const TreeNode& node, const F& f) {
  f(node);
  for (const auto& child : node.children) for_each_node(child, f);
}

// The name an include or redirect meant when its target is the appended-zone
// mistake: a Microsoft include always, another name only when it has no SPF
// record (a working include under the domain is the domain's own).
std::optional<std::string> appended_include(const TreeNode& child, const std::string& domain) {
  const bool no_record = child.status == "none";
  const auto appended = mx::appended_zone(child.domain, domain, !no_record || child.txt_outcome == Outcome::records);
  if (appended && (no_record || find_known_include(appended->intended))) return appended->intended;
  return std::nullopt;
}

std::string branch_costs(const TreeNode& root) {
  std::string out;
  for (const auto& child : root.children) {
    if (!out.empty()) out += ", ";
    out += child.via + " " + std::to_string(1 + child.lookups_total);
  }
  const int direct = root.lookups - static_cast<int>(root.children.size());
  if (direct > 0) out += (out.empty() ? "" : ", ") + std::string("a/mx/ptr/exists terms ") + std::to_string(direct);
  return out;
}

// A tree node's via's qualifier ("~" of "~include:x"), or "".
std::string qualifier_of(std::string_view via) {
  return !via.empty() && (via.front() == '+' || via.front() == '-' || via.front() == '~' || via.front() == '?') ? std::string(1, via.front()) : std::string();
}

// mx_failure / spf_type_failure: why the MX or type-SPF lookup gave no
// answer ("" when it did or was not asked).
bool misspelled_include(const std::vector<Check>& checks) {
  return std::any_of(checks.begin(), checks.end(), [](const Check& c) { return c.id == "spf.include-broken" && c.fields.contains("misspelling_of"); });
}

void add_checks(TreeValidation& tree, const std::vector<std::string>& mx_hosts, bool mx_known, const std::string& mx_failure,
                const std::string& spf_type_failure) {
  auto add = [&](std::string id, Status status, std::string message, std::string remedy) {
    Check check{std::move(id), status, std::move(message), std::move(remedy), nlohmann::json::object()};
    check.fields["domain"] = tree.domain;
    tree.checks.push_back(std::move(check));
  };
  auto join = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& s : list) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  const TreeNode& root = tree.root;
  const std::string& d = tree.domain;
  if (root.status == "temperror") {
    add("spf.record", Status::error, "Could not read the TXT records of " + d + ": " + root.detail + ".",
        "Check that the domain's name servers answer (try again, or use --dns with another resolver); a timeout is not the same as having no SPF record.");
    return;
  }
  if (root.status == "none") {
    add("spf.record", Status::fail, d + " publishes no SPF record (" + root.detail + "): receivers get SPF \"none\" and Microsoft 365 treats its mail as unauthenticated.",
        "Publish one TXT record at " + d + ": \"v=spf1 include:spf.protection.outlook.com ~all\", adding ip4:/ip6: for each device or server that sends as " + d +
            " directly (--suggest with the device's --ip writes it); move to \"-all\" once DKIM and DMARC are in place.");
    return;
  }
  if (root.status == "multiple") {
    std::string quoted;
    for (const auto* text : {&root.record}) quoted += "\"" + *text + "\"";
    for (const auto& text : root.other_records) quoted += (&text == &root.other_records.back() ? " and \"" : ", \"") + text + "\"";
    add("spf.record", Status::fail, d + " publishes " + root.detail + " (" + quoted + "); RFC 7208 4.5 makes that a permerror for every message.",
        "Merge them into one TXT record that starts with v=spf1 and delete the others; --suggest with the device's --ip writes the merged record, verified.");
    return;
  }
  if (root.status == "syntax-error") {
    add("spf.record", Status::fail, "The SPF record of " + d + " has a syntax error at " + root.detail + "; every check of it is a permerror.",
        "Correct the term named above (RFC 7208 section 12 gives the grammar) and publish the record again.");
    return;
  }
  add("spf.record", Status::pass, d + " publishes one SPF record: " + root.record, "");

  // The appended-zone mistake: "include:spf.protection.outlook.com.contoso.com".
  std::set<const TreeNode*> appended;
  for_each_node(root, [&](const TreeNode& node) {
    for (const auto& child : node.children) {
      const auto meant = appended_include(child, d);
      if (!meant) continue;
      appended.insert(&child);
      const std::string term = child.via.substr(0, child.via.find_first_of(":=") + 1) + *meant;
      add("spf.appended-zone", Status::fail,
          "\"" + child.via + "\" in the record of " + node.domain + " is " + *meant + " with " +
              child.domain.substr(meant->size() + 1) + " appended (the name was typed without its final dot and " +
              d + " was added to it)" +
              (child.status == "ok" ? "" : ": it finds no SPF record, so it authorizes nothing and every check that reaches it ends in permerror") + ".",
          "Write \"" + term + "\" in the record instead (the name alone, no " + d + " after it); --suggest writes the whole corrected record.");
    }
  });

  // A qualifier on the include of the gateway that takes the domain's mail
  // ("~include:eu._netblocks.mimecast.com" beside a Mimecast MX) applies to
  // every address the include authorizes (RFC 7208 5.2): mail that leaves
  // through the gateway, as it often does, gets that result, not pass.
  if (mx_known)
    for_each_node(root, [&](const TreeNode& node) {
      for (const auto& child : node.children)
        if (const auto gateway = qualified_gateway_include(child, mx_hosts)) {
          add("spf.gateway-include-qualified", Status::warn,
              "\"" + child.via + "\" in the record of " + node.domain + " is the include of " + gateway->name + ", which takes mail for " + d +
                  " (its MX), but the \"" + qualifier_of(child.via) + "\" in front of it gives every address it authorizes SPF " +
                  std::string(to_string(result_for(static_cast<Qualifier>(child.via.front())))) + ", not pass: mail that leaves through " + gateway->name +
                  " fails SPF.",
              "Remove the \"" + qualifier_of(child.via) + "\": write \"" + child.via.substr(1) + "\"" +
                  // An included record is edited where it is published; --suggest writes only the domain's own.
                  (node.domain == d ? " (sendcheck spf " + d + " --suggest writes the corrected record)."
                                    : " in the SPF record of " + node.domain + " (the TXT record at that name, which the record of " + d +
                                          " includes)."));
          tree.checks.back().fields["term"] = child.via;
          tree.checks.back().fields["record_of"] = node.domain;  // the record to edit (an include's own, when nested)
          tree.checks.back().fields["gateway"] = gateway->name;
        }
      // The same qualifier on an a: term that names the gateway's outbound servers.
      for (const auto& term : node.terms)
        if (const auto gateway = qualified_gateway_a_term(term, mx_hosts)) {
          add("spf.gateway-include-qualified", Status::warn,
              "\"" + term + "\" in the record of " + node.domain + " names the servers of " + gateway->name + ", which takes mail for " + d +
                  " (its MX), but the \"" + qualifier_of(term) + "\" in front of it gives them SPF " +
                  std::string(to_string(result_for(static_cast<Qualifier>(term.front())))) + ", not pass: mail that leaves through " + gateway->name +
                  " fails SPF.",
              "Remove the \"" + qualifier_of(term) + "\": write \"" + term.substr(1) + "\"" +
                  (node.domain == d ? " (sendcheck spf " + d + " --suggest writes the corrected record)."
                                    : " in the SPF record of " + node.domain + " (the TXT record at that name, which the record of " + d +
                                          " includes)."));
          tree.checks.back().fields["term"] = term;
          tree.checks.back().fields["record_of"] = node.domain;
          tree.checks.back().fields["gateway"] = gateway->name;
        }
    });

  // Problems below the root.
  for_each_node(root, [&](const TreeNode& node) {
    if (&node == &root || appended.count(&node)) return;
    if (node.status == "loop")
      add("spf.include-loop", Status::fail, "Include loop: " + node.detail + "; evaluation ends in permerror.",
          "Remove the include or redirect that points back to a record already being evaluated.");
    else if (const auto split = joined_terms(node.via); split && node.status == "none")
      add("spf.joined-strings", Status::fail,
          "\"" + node.via + "\" is two terms run together: the record is published as several TXT strings, and receivers join them with "
              "nothing between (RFC 7208 3.3), so a string that ends without a space glues its last term to the next one. "
              "It names no domain with an SPF record: any evaluation reaching it is a permerror, and neither part authorizes anyone.",
          "Split the TXT record's strings so that one ends with a space (or the next starts with one): \"" + *split +
              "\"; check the result with sendcheck spf " + d + " --record \"NEW RECORD\".");
    else if (const auto meant = node.status == "none" && is_include_term(node.via) ? misspelled_microsoft_include(node.domain) : std::nullopt) {
      // What was meant is known: one fix, which Exchange Online's mail needs too.
      add("spf.include-broken", Status::fail, node.via + " names no SPF record (" + node.detail + "): it is a misspelling of " + *meant +
              ", Microsoft's include, so any evaluation reaching it is a permerror" +
              (mx_known && microsoft_include_for(mx_hosts, d) ? ", the mail Exchange Online sends as " + d + " included." : "."),
          "Replace \"" + node.via + "\" with \"" + qualifier_of(node.via) + "include:" + *meant + "\" (sendcheck spf " + d + " --suggest writes the corrected record).");
      tree.checks.back().fields["misspelling_of"] = *meant;
    } else if (const auto service = node.status == "none" && is_include_term(node.via) ? misspelled_service_include(node.domain) : std::nullopt) {
      add("spf.include-broken", Status::fail, node.via + " names no SPF record (" + node.detail + "): it looks like a misspelling of " +
              std::string(service->include) + ", the include of " + std::string(service->service) + ", so any evaluation reaching it is a permerror.",
          "Replace \"" + node.via + "\" with \"" + qualifier_of(node.via) + "include:" + std::string(service->include) + "\" if you send through " + std::string(service->service) +
              ", or remove it if you do not (sendcheck spf " + d + " --suggest writes the corrected record).");
      tree.checks.back().fields["service_include"] = std::string(service->include);
      tree.checks.back().fields["url"] = std::string(service->source);
    } else if (node.status == "none" || node.status == "multiple" || node.status == "syntax-error")
      add("spf.include-broken", Status::fail, node.via + " does not lead to one valid SPF record (" + node.status + ": " + node.detail + "); any evaluation reaching it is a permerror.",
          "Fix or remove " + node.via + "; an include must name a domain with exactly one valid SPF record.");
    else if (node.status == "temperror")
      add("spf.include-unresolved", Status::error, "Could not read " + node.via + ": " + node.detail + ".",
          "Try again or use another resolver with --dns; until it answers, receivers get temperror for mail that reaches this include.");
  });

  // RFC 7208 4.6.4: 10 DNS-querying terms.
  if (root.lookups_total > 10)
    add("spf.lookups", Status::fail, "The tree needs " + std::to_string(root.lookups_total) + " DNS lookups; RFC 7208 4.6.4 allows 10, so checks that reach the 11th give permerror. Branches: " + branch_costs(root) + ".",
        "Remove includes you no longer send through, replace a/mx terms with ip4:/ip6:, or flatten the costliest include (see --suggest).");
  else if (root.lookups_total >= 9)
    add("spf.lookups", Status::warn, "The tree needs " + std::to_string(root.lookups_total) + " of the 10 DNS lookups RFC 7208 4.6.4 allows. Branches: " + branch_costs(root) + ".",
        "Leave room: a provider that adds one nested include would push the record over the limit.");
  else
    add("spf.lookups", Status::pass, "The tree needs " + std::to_string(root.lookups_total) + " of 10 DNS lookups.", "");

  // One family's view can exceed the limit where the other does not:
  // a/mx terms naming hosts without AAAA records are void lookups for every
  // IPv6 sender (Exchange Online sends over IPv6 too), and vice versa.
  std::vector<std::string> v4_terms, v6_terms;
  for_each_node(root, [&](const TreeNode& node) {
    v4_terms.insert(v4_terms.end(), node.void_terms_v4.begin(), node.void_terms_v4.end());
    v6_terms.insert(v6_terms.end(), node.void_terms_v6.begin(), node.void_terms_v6.end());
  });
  if (tree.void_lookups <= 2 && (tree.void_lookups_v6 > 2 || tree.void_lookups_v4 > 2)) {
    const bool v6 = tree.void_lookups_v6 > 2;
    const auto& terms = v6 ? v6_terms : v4_terms;
    add("spf.void-lookups", Status::fail,
        std::string(v6 ? "IPv6 senders (Exchange Online sends over IPv6 too)" : "IPv4 senders") + " get permerror: " +
            std::to_string(terms.size()) + " terms find no " + (v6 ? "AAAA" : "A") + " records (" + join(terms) +
            "), and RFC 7208 4.6.4 gives permerror after 2 void lookups.",
        std::string("Replace those a/mx terms with ") + (v6 ? "ip4:" : "ip6:") + " terms for the hosts' addresses, or publish " +
            (v6 ? "AAAA" : "A") + " records for the hosts, so that at most 2 terms find nothing for any sender.");
  } else if (tree.void_lookups > 2)
    add("spf.void-lookups", Status::fail, std::to_string(tree.void_lookups) + " terms find no DNS data; RFC 7208 4.6.4 gives permerror after 2 void lookups.",
        "Remove the terms that name nothing; see the tree for which.");
  else if (tree.void_lookups > 0)
    add("spf.void-lookups", Status::warn, std::to_string(tree.void_lookups) + " term(s) find no DNS data (void lookups; 2 are allowed).",
        "Remove terms that point at names without records: they cost lookups and authorize nothing.");
  else if (tree.void_lookups_v6 > 0 || tree.void_lookups_v4 > 0) {
    // Within the limit, but one more host without records for that family
    // puts every sender of it in permerror, Exchange Online's included.
    const bool v6 = tree.void_lookups_v6 >= tree.void_lookups_v4;
    const auto& terms = v6 ? v6_terms : v4_terms;
    add("spf.void-lookups", Status::warn,
        std::string(v6 ? "IPv6 senders" : "IPv4 senders") + " make " + std::to_string(terms.size()) + " void lookup" +
            (terms.size() == 1 ? "" : "s") + ": " + join(terms) + " find" + (terms.size() == 1 ? "s" : "") + " no " +
            (v6 ? "AAAA" : "A") + " records (2 are allowed; a third makes every " + (v6 ? "IPv6" : "IPv4") +
            " sender, Exchange Online's among them, get permerror).",
        std::string("Replace those a/mx terms with ") + (v6 ? "ip4:" : "ip6:") + " terms for the hosts' addresses, or publish " +
            (v6 ? "AAAA" : "A") + " records for the hosts.");
  }

  // The all term decides what happens to everyone else.
  if (root.all_term == "+all" || root.all_term == "all")
    add("spf.all", Status::fail, "The record ends in \"" + root.all_term + "\": it authorizes every IP address on the internet to send as " + d + ".",
        "End the record with \"~all\" (Microsoft's recommendation for domains that devices send as, by direct send or a connector, until DKIM and DMARC are in place) or \"-all\".");
  else if (root.all_term == "?all")
  {
    add("spf.all", Status::warn, "The record ends in \"?all\" (neutral): mail from anywhere is neither passed nor failed; Microsoft recommends ?all for testing only.",
        "Use \"~all\" while setting up direct send, then \"-all\" once DKIM and DMARC are in place.");
    tree.checks.back().fields["neutral_by"] = "?all";
  }
  // A redirect whose target holds a macro has no child node, but it is the
  // record's end all the same (RFC 7208 6.1): an all term would cancel it.
  else if (root.all_term.empty() && !std::any_of(root.terms.begin(), root.terms.end(), [](const std::string& t) {
             return t.size() > 9 && ascii::to_lower(t.substr(0, 9)) == "redirect=";
           }))
  {
    add("spf.all", Status::warn, "The record has no \"all\" term and no redirect: mail from unlisted IPs gets neutral.",
        "End the record with \"~all\" or \"-all\".");
    tree.checks.back().fields["neutral_by"] = "no all term";
  }
  else if (!root.all_term.empty())
    add("spf.all", Status::pass, "The record's all term is \"" + root.all_term + "\".", "");

  // "+all" in a record reached by a passing include or a redirect matches
  // every sender there, so the domain is as open as with "+all" of its own,
  // whatever its own all term says (RFC 7208 5.2: the include matches on pass).
  std::vector<std::string> open_includes;
  const auto find_open = [&](const auto& self, const TreeNode& node) -> void {
    for (const auto& child : node.children) {
      if (!passes_through(child) || child.status != "ok") continue;
      if (child.all_term == "+all" || child.all_term == "all") open_includes.push_back(child.via);
      self(self, child);
    }
  };
  find_open(find_open, root);
  if (!open_includes.empty())
    add("spf.include-all", Status::fail,
        join(open_includes) + (open_includes.size() == 1 ? " leads to a record that ends" : " lead to records that end") +
            " in \"+all\": it matches every IP address, so every address on the internet passes SPF as " + d +
            ", whatever " + d + "'s own all term says.",
        std::string("Ask the owner of ") + (open_includes.size() == 1 ? "that record" : "those records") +
            " to end it with ~all or -all; until then, replace the include with the ip4:/ip6: terms of the servers that really send "
            "for you (find them in your DMARC aggregate reports).");

  // ip4:0.0.0.0/0, 0.0.0.0/1 with 128.0.0.0/1, ::/0 and the like: as open as
  // +all whatever the all term says. Wider than a /8 (IPv4) or a /16 (IPv6)
  // is no one organization's mail servers: a /8 is the largest block ever
  // assigned to one holder, and RIRs receive IPv6 in /12 blocks to share.
  std::vector<std::string> open_nets;
  for (const auto& network : tree.networks)
    if (is_open_network(network)) open_nets.push_back(network.to_string());
  if (!open_nets.empty())
    add("spf.open-networks", Status::fail,
        "The tree authorizes " + join(open_nets) + ": " +
            (std::any_of(tree.networks.begin(), tree.networks.end(), [](const Network& n) { return n.prefix == 0; })
                 ? "every address of that family on the internet, as open as \"+all\""
                 : "a network wider than any one organization's mail servers, nearly as open as \"+all\"") +
            ", whatever the all term says: anyone there passes SPF as " + d + ".",
        "Replace the wide ip4:/ip6: terms with the addresses of the servers that really send as " + d + ".");
  // A /8 to /12 (IPv4) or a /16 to /24 (IPv6) can be one holder's own (Apple
  // lists ip4:17.0.0.0/8), but a cloud provider's block of that size is
  // shared with all its customers: worth a look, not a failure.
  std::vector<std::string> wide_nets;
  for (const auto& network : tree.networks)
    if (!is_open_network(network) && network.prefix <= (network.address.is_v4() ? 12 : 24) &&
        non_public_kind(network.address).empty())
      wide_nets.push_back(network.to_string());
  if (!wide_nets.empty())
    add("spf.wide-networks", Status::warn,
        "The tree authorizes very wide networks (" + join(wide_nets) +
            ", a million addresses or more each): anyone who can send from an address in them passes SPF as " + d +
            ". A cloud or hosting provider's block is shared with all its customers.",
        "Keep a wide network only if your organization holds all of it (check its owner with whois); otherwise list "
        "the addresses of the servers that really send as " + d + ", or the provider's own SPF include.");
  // a:%{h}, exists:%{h}, include:%{p}...: the name looked up is the client's
  // own choice, so any client can make the term match itself.
  std::vector<std::string> client_named;
  for_each_node(root, [&](const TreeNode& node) {
    for (const auto& text : node.terms) {
      if (names_client_chosen_record(text))
        client_named.push_back("\"" + text + "\"" + (node.via.empty() ? std::string() : " in " + node.domain));
    }
  });
  if (!client_named.empty())
    add("spf.client-chosen-name", Status::fail,
        join(client_named) + (client_named.size() == 1 ? " looks up" : " look up") +
            " a name the sending client chooses (%{h} is its EHLO name, %{p} its own reverse DNS): any server on the internet "
            "can pass SPF as " + d + " by giving a name that points at itself (RFC 7208 7.3, 11.5.2).",
        "Remove " + std::string(client_named.size() == 1 ? "that term" : "those terms") +
            " and list the servers that send as " + d + " by address (ip4:/ip6:).");
  const auto after_all_message = [&join](const std::string& domain, const std::vector<std::string>& terms) {
    const bool one = terms.size() == 1;
    return "In the record of " + domain + ", " + join(terms) + (one ? " is" : " are") +
           " never evaluated: terms after the all term, and a redirect beside one, are ignored (RFC 7208 4.6.2, 6.1), so " +
           (one ? "it authorizes" : "they authorize") + " nobody.";
  };
  for_each_node(root, [&](const TreeNode& node) {
    if (!node.ignored_terms.empty()) {
      add("spf.after-all", Status::warn, after_all_message(node.domain, node.ignored_terms),
          "Move the terms you need before the all term, and delete the rest.");
      tree.checks.back().fields["terms"] = node.ignored_terms;
      tree.checks.back().fields["domain"] = node.domain;
    }
  });

  bool ptr = false;
  for_each_node(root, [&](const TreeNode& node) { ptr = ptr || node.uses_ptr; });
  if (ptr)
    add("spf.ptr", Status::warn, "The tree uses the \"ptr\" mechanism, which RFC 7208 5.5 says SHOULD NOT be used: it is slow, unreliable, and some receivers ignore it.",
        "Replace ptr with ip4:/ip6: terms for the servers it was meant to cover.");

  if (tree.spf_rr_type_published)
    add("spf.rr-type", Status::warn, d + " still publishes the SPF resource record type (99), which RFC 7208 3.1 removed; no receiver reads it.",
        "Delete the type-SPF record and keep only the TXT record; keep them from drifting apart meanwhile.");

  // An include whose name depends on the sender (%{i}, %{h}, %{s}, ... as
  // Valimail's include:%{i}._ip.%{h}._ehlo.%{d}._spf.vali.email): what it
  // authorizes cannot be read from the records, Microsoft's servers included.
  std::string sender_dependent;
  for_each_node(root, [&](const TreeNode& node) {
    for (const auto& term : node.terms) {
      if (!sender_dependent.empty()) return;
      if (std::find(node.ignored_terms.begin(), node.ignored_terms.end(), term) != node.ignored_terms.end()) continue;
      const ParsedRecord one = parse_record("v=spf1 " + term);
      if (!one.ok() || one.terms.empty()) continue;
      const Term& first = one.terms[0];
      // An include or redirect can hand on to Microsoft's record; an
      // exists: term only matches or not (its open form is judged apart).
      const bool names_domain = first.is_mechanism ? first.mechanism == MechanismKind::include
                                                   : first.modifier == ModifierKind::redirect;
      if (!names_domain) continue;
      const std::string spec = first.is_mechanism ? first.domain_spec : first.value;
      for (char letter : std::string_view("islohpcrtv"))
        if (uses_macro(spec, letter)) {
          sender_dependent = term;
          break;
        }
    }
  });

  // Microsoft includes.
  bool microsoft_include = false;
  std::vector<std::string> microsoft_includes;  // each Microsoft include evaluated, as its domain
  for_each_node(root, [&](const TreeNode& node) {
    for (const auto& term : node.terms) {
      const ParsedRecord one = parse_record("v=spf1 " + term);
      if (!one.ok() || one.terms.empty()) continue;
      // redirect=spf.protection.outlook.com hands the evaluation to Microsoft's
      // record (RFC 7208 6.1): it authorizes Exchange Online as an include does.
      if (!one.terms[0].is_mechanism && one.terms[0].modifier == ModifierKind::redirect && is_microsoft_include(one.terms[0].value)) {
        if (std::find(node.ignored_terms.begin(), node.ignored_terms.end(), term) == node.ignored_terms.end()) {
          microsoft_include = true;
          microsoft_includes.push_back(canonical(one.terms[0].value));
        }
        continue;
      }
      if (!one.terms[0].is_mechanism || one.terms[0].mechanism != MechanismKind::include) continue;
      const KnownInclude* known = find_known_include(one.terms[0].domain_spec);
      if (!known) continue;
      const bool ignored = std::find(node.ignored_terms.begin(), node.ignored_terms.end(), term) != node.ignored_terms.end();
      if (is_microsoft_include(one.terms[0].domain_spec)) {
        microsoft_include = microsoft_include || !ignored;
        if (!ignored) microsoft_includes.push_back(canonical(one.terms[0].domain_spec));
        continue;
      }
      if (ignored) continue;  // spf.after-all says it
      add("spf.microsoft-include", known->kind == "legacy" ? Status::warn : Status::fail,
          "\"" + term + "\" in the record of " + node.domain + ": " + std::string(known->advice) + ".",
          "Replace it with include:spf.protection.outlook.com (include:spf.protection.office365.us for GCC High/DoD).");
    }
  });
  // Microsoft's include, but after the all term: never evaluated.
  std::string microsoft_ignored = microsoft_include ? std::string() : microsoft_include_after_all(root);
  if (mx_known) {
    const auto wanted = microsoft_include_for(mx_hosts, d);
    const bool m365_mx = wanted.has_value();
    if (wanted) tree.microsoft_include = *wanted;
    // Another cloud's include covers none of this tenant's servers (m365-facts 1.3, 2).
    std::string other_cloud;
    if (m365_mx && microsoft_include &&
        std::find(microsoft_includes.begin(), microsoft_includes.end(), canonical(*wanted)) == microsoft_includes.end()) {
      other_cloud = microsoft_includes.front();
      microsoft_include = false;
      microsoft_ignored = microsoft_include_after_all(root, *wanted);
    }
    if (!other_cloud.empty() && microsoft_ignored.empty())
      add("spf.m365-include", Status::fail, d + " receives mail at Microsoft 365 in the cloud whose include is " + *wanted +
              " (its MX), but its SPF tree includes only " + other_cloud +
              ", another Microsoft cloud's servers: " + std::string(microsoft_mail_fails) + d + " fails SPF.",
          "Add \"include:" + *wanted + "\" before the all term; keep \"include:" + other_cloud +
              "\" only if a service of that cloud (Azure Communication Services, another tenant) sends as " + d + ".");
    else if (m365_mx && !microsoft_include && !microsoft_ignored.empty()) {
      add("spf.m365-include", Status::fail, d + " receives mail at Microsoft 365 (its MX), and its SPF tree has \"" + microsoft_ignored +
              "\" only after the all term, where it is never evaluated: " + std::string(microsoft_mail_fails) + d + " fails SPF.",
          "Move \"" + microsoft_ignored + "\" before the all term.");
      // One cause, one row: the after-all finding keeps only the other terms.
      for (auto at = tree.checks.begin(); at != tree.checks.end(); ++at) {
        if (at->id != "spf.after-all") continue;
        std::vector<std::string> others;
        for (const auto& term : at->fields["terms"])
          if (term.get<std::string>() != microsoft_ignored) others.push_back(term.get<std::string>());
        if (others.size() == at->fields["terms"].size()) continue;
        if (others.empty()) {
          tree.checks.erase(at);
        } else {
          at->message = after_all_message(at->fields["domain"].get<std::string>(), others);
          at->fields["terms"] = others;
        }
        break;
      }
    } else if (m365_mx && !microsoft_include && !sender_dependent.empty()) {
      add("spf.m365-include", Status::warn, d + " receives mail at Microsoft 365 (its MX), and its SPF tree names no Microsoft include "
              "itself, but \"" + sender_dependent + "\" looks up a name built from each sender (SPF macros): whether Exchange "
              "Online's servers pass depends on what that service answers for them, which the records do not show.",
          "Check one of Exchange Online's addresses: sendcheck spf " + d + " --ip 40.107.0.1 --helo outbound.protection.outlook.com; "
          "if it does not pass, add \"include:" + *wanted + "\" before the all term.");
      tree.checks.back().fields["depends_on_sender"] = sender_dependent;
    } else if (m365_mx && !microsoft_include && misspelled_include(tree.checks)) {
      // The misspelled include's row says it, with the one fix.
    } else if (m365_mx && !microsoft_include)
      add("spf.m365-include", Status::fail, d + " receives mail at Microsoft 365 (its MX) but its SPF tree does not include Microsoft's: " + std::string(microsoft_mail_fails) + d + " fails SPF.",
          "Add \"include:" + *wanted + "\" before the all term.");
    else if (m365_mx)
      add("spf.m365-include", Status::pass, d + " receives mail at Microsoft 365 and its SPF tree includes Microsoft's.", "");
  } else if (!mx_failure.empty() && !microsoft_include) {
    // A timeout is not an absence: say that this check could not be made.
    add("spf.m365-include", Status::warn, "Could not read the MX records of " + d + " (" + mx_failure +
            "), so whether its SPF needs Microsoft's include could not be told.",
        "Try again, or use --dns with another resolver; if " + d + "'s mailboxes are in Microsoft 365, its SPF needs include:spf.protection.outlook.com.");
  }
  if (!spf_type_failure.empty())
    add("spf.rr-type", Status::info, "Could not tell whether " + d + " still publishes the obsolete SPF record type (99): the lookup gave " +
            spf_type_failure + ".", "Try again later; only the TXT record matters to receivers.");

  // Networks that cannot be a public sender.
  std::vector<std::string> private_nets, doc_nets;
  for (const auto& network : tree.networks) {
    if (is_open_network(network)) continue;  // spf.open-networks
    if (!non_public_kind(network.address).empty()) private_nets.push_back(network.to_string());
    else if (is_documentation(network.address)) doc_nets.push_back(network.to_string());
  }
  if (!private_nets.empty())
    add("spf.private-networks", Status::warn, "The tree authorizes private or loopback networks (" + join(private_nets) + "); receivers on the internet never see these as the sender.",
        "List the public IP your devices' mail leaves from (your firewall's outside address), not the device's internal address.");
  if (!doc_nets.empty())
    add("spf.documentation-networks", Status::warn, "The tree authorizes documentation-only networks (" + join(doc_nets) + ", RFC 5737/3849); they are examples, not real senders.",
        "Replace them with the real public addresses of your senders.");
  if (!tree.complete)
    add("spf.tree-complete", Status::error, "Parts of the tree could not be resolved (timeouts or server failures); the counts and networks above are incomplete.",
        "Try again, or use --dns with another resolver.");
}

}  // namespace

std::optional<std::string> joined_terms(std::string_view term) {
  const std::string lower = ascii::to_lower(term);
  // The keywords that start a term and hardly end a host name; "a:" and
  // "mx:" would split too many real names.
  for (std::string_view keyword : {"include:", "ip4:", "ip6:", "exists:", "redirect=", "exp=", "-all", "~all", "?all"}) {
    for (auto at = lower.find(keyword, 1); at != std::string::npos; at = lower.find(keyword, at + 1)) {
      const std::string_view left(lower.data(), at);
      // The first part ends a domain name ("... .com") or an address.
      const char before = left.back();
      const bool ends_name = left.find('.') != std::string_view::npos && std::isalnum(static_cast<unsigned char>(before));
      if (!ends_name) continue;
      const std::string rest(term.substr(at));
      if (keyword.ends_with("all") && rest.size() != keyword.size()) continue;
      return std::string(term.substr(0, at)) + " " + rest;
    }
  }
  return std::nullopt;
}

std::optional<std::string> appended_zone_target(const TreeNode& child, std::string_view domain) {
  return appended_include(child, std::string(domain));
}

// One classifier (diag/ip.h) for every module; these are its words for
// SPF's messages ("is a private (RFC 1918) address").
std::string_view non_public_kind(const IpAddress& address) {
  switch (address_scope(address)) {
    case AddressScope::public_internet:
    case AddressScope::documentation: return "";
    case AddressScope::private_use: return "private (RFC 1918)";
    case AddressScope::shared_cgnat: return "carrier-grade NAT (RFC 6598)";
    case AddressScope::loopback: return "loopback";
    case AddressScope::link_local: return "link-local";
    case AddressScope::unique_local: return "unique local (RFC 4193)";
    case AddressScope::unspecified: return "unspecified";
    case AddressScope::multicast: return "multicast";
    case AddressScope::reserved: return "reserved";
    case AddressScope::special_purpose: return "special-purpose (RFC 6890)";
    case AddressScope::translated: return "NAT64 (RFC 6052)";
  }
  return "";
}

bool is_documentation(const IpAddress& address) { return address_scope(address) == AddressScope::documentation; }

std::optional<std::string> microsoft_include_for(const std::vector<std::string>& mx_hosts, std::string_view domain) {
  for (const auto& host : mx_hosts) {
    std::string meant = host;
    if (mx::classify_host(host).provider == mx::Provider::other)
      if (const auto appended = mx::appended_zone(host, domain)) meant = appended->intended;
    const auto host_class = mx::classify_host(meant);
    switch (host_class.provider) {
      // m365-facts 1.3 and 2: the include of each cloud.
      case mx::Provider::m365:
      case mx::Provider::m365_dnssec: return "spf.protection.outlook.com";
      case mx::Provider::m365_gcc_high: return "spf.protection.office365.us";
      case mx::Provider::m365_21vianet: return "spf.protection.partner.outlook.cn";
      default: break;  // Cloud Deutschland is retired; Google and others need no Microsoft include
    }
  }
  return std::nullopt;
}

bool passes_through(const TreeNode& child) {
  const std::string_view via = child.via;
  return via.starts_with("include:") || via.starts_with("+include:") || via.starts_with("redirect=");
}

namespace {
// The reference's 2025-2026 value of spf.protection.outlook.com (m365-facts 2):
// the ranges Exchange Online (worldwide) sends customers' mail from.
const std::vector<Network>& exchange_online_outbound_ranges() {
  static const std::vector<Network> ranges = [] {
    std::vector<Network> parsed;
    for (const auto text : {"40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/15", "52.102.0.0/16", "52.103.0.0/17", "104.47.0.0/17",
                            "2a01:111:f400::/48", "2a01:111:f403::/49", "2a01:111:f403:8000::/51", "2a01:111:f403:c000::/51",
                            "2a01:111:f403:f000::/52"})
      parsed.push_back(*parse_network(text));
    return parsed;
  }();
  return ranges;
}

// An address of the range: its host bits all zero but the last (the
// first address), the top one set too (the middle), or all set but the
// last (the last but one, never a broadcast address).
enum class Within { first, middle, last };
IpAddress address_within(const Network& range, Within where) {
  std::array<std::uint8_t, 16> bytes{};
  const IpAddress& network = range.address;
  std::copy(network.data(), network.data() + network.size(), bytes.begin());
  const int bits = network.max_prefix();
  for (int bit = range.prefix; bit < bits; ++bit) {
    const bool one = where == Within::last ? bit != bits - 1 : bit == bits - 1 || (where == Within::middle && bit == range.prefix);
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    bytes[bit / 8] = one ? bytes[bit / 8] | mask : bytes[bit / 8] & ~mask;
  }
  if (network.is_v4()) return IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return IpAddress::v6(bytes);
}
}  // namespace

const std::vector<IpAddress>& exchange_online_outbound_samples() {
  static const std::vector<IpAddress> samples = [] {
    std::vector<IpAddress> taken;
    for (const auto& range : exchange_online_outbound_ranges())
      for (const Within where : {Within::first, Within::middle, Within::last}) taken.push_back(address_within(range, where));
    return taken;
  }();
  return samples;
}

bool is_exchange_online_outbound(const IpAddress& address) {
  const auto& ranges = exchange_online_outbound_ranges();
  return std::any_of(ranges.begin(), ranges.end(), [&](const Network& range) { return address.in_prefix(range.address, range.prefix); });
}

bool is_open_prefix(int prefix, bool v4) { return prefix < (v4 ? 8 : 16); }

std::vector<Network> authorized_networks(const TreeNode& node) {
  std::vector<Network> networks;
  collect_networks(node, networks);
  return merge_networks(std::move(networks));
}

bool is_microsoft_include(std::string_view domain) {
  const KnownInclude* known = find_known_include(domain);
  return known && (known->kind == "m365" || known->kind == "m365-gcc-high" || known->kind == "m365-21vianet");
}

std::optional<std::string> misspelled_microsoft_include(std::string_view target) {
  for (std::string_view include : {"spf.protection.outlook.com", "spf.protection.office365.us", "spf.protection.partner.outlook.cn"}) {
    const std::size_t distance = diag::strings::edit_distance(dns::canonical_name(target), include);
    if (distance > 0 && distance <= 2) return std::string(include);
  }
  return std::nullopt;
}

namespace {
constexpr ServiceInclude service_includes[] = {
#include "../../data/spf_vendor_includes.inc"
};
}  // namespace

bool is_include_term(std::string_view term) {
  if (!term.empty() && (term.front() == '+' || term.front() == '-' || term.front() == '~' || term.front() == '?')) term.remove_prefix(1);
  return ascii::to_lower(term).starts_with("include:");
}

std::optional<mx::MailGateway> qualified_gateway_a_term(std::string_view term, const std::vector<std::string>& mx_hosts) {
  if (term.size() < 4 || qualifier_of(term).empty() || ascii::to_lower(std::string(term.substr(1, 2))) != "a:") return std::nullopt;
  std::string_view host = term.substr(3);
  host = host.substr(0, host.find('/'));
  if (host.empty() || host.find('%') != std::string_view::npos) return std::nullopt;
  const auto named = mx::classify_gateway(canonical(host));
  if (!named) return std::nullopt;
  for (const auto& mx_host : mx_hosts)
    if (auto gateway = mx::classify_gateway(mx_host); gateway && gateway->suffix == named->suffix) return gateway;
  return std::nullopt;
}

std::optional<mx::MailGateway> qualified_gateway_include(const TreeNode& child, const std::vector<std::string>& mx_hosts) {
  if (child.via.empty() || child.via.front() == '+' || qualifier_of(child.via).empty() || !is_include_term(child.via)) return std::nullopt;
  const std::string include = canonical(child.domain);
  for (const auto& host : mx_hosts)
    if (auto gateway = mx::classify_gateway(host);
        gateway && (include == gateway->suffix || include.ends_with("." + gateway->suffix)))
      return gateway;
  return std::nullopt;
}

std::optional<ServiceInclude> misspelled_service_include(std::string_view target) {
  const std::string name = canonical(target);
  std::optional<ServiceInclude> nearest;
  std::size_t best = 3;
  bool tie = false;
  // A name that differs from an entry only in its first label is another of
  // the service's own names (uk._netblocks.mimecast.com is a real region the
  // table does not list), not a typo of the listed one.
  const auto rest = [](std::string_view host) {
    const std::size_t dot = host.find('.');
    return dot == std::string_view::npos ? std::string_view() : host.substr(dot);
  };
  for (const auto& entry : service_includes) {
    const std::size_t distance = diag::strings::edit_distance(name, entry.include);
    if (distance == 0) return std::nullopt;
    if (std::count(name.begin(), name.end(), '.') >= 3 && rest(name) == rest(entry.include)) return std::nullopt;
    if (distance < best) best = distance, nearest = entry, tie = false;
    else if (distance == best) tie = true;
  }
  if (tie) return std::nullopt;
  return nearest;
}

namespace {
bool is_cloud_include(std::string_view domain, std::string_view cloud_include) {
  return cloud_include.empty() ? is_microsoft_include(domain) : canonical(domain) == canonical(cloud_include);
}
}  // namespace

bool includes_microsoft(const TreeNode& node, std::string_view cloud_include) {
  for (const auto& child : node.children)
    if ((child.status == "ok" && is_cloud_include(child.domain, cloud_include)) || includes_microsoft(child, cloud_include))
      return true;
  return false;
}

std::string microsoft_include_after_all(const TreeNode& node, std::string_view cloud_include) {
  for (const auto& term : node.ignored_terms) {
    const ParsedRecord one = parse_record("v=spf1 " + term);
    if (one.ok() && !one.terms.empty() && one.terms[0].is_mechanism && one.terms[0].mechanism == MechanismKind::include &&
        is_cloud_include(one.terms[0].domain_spec, cloud_include))
      return term;
  }
  for (const auto& child : node.children)
    if (auto found = microsoft_include_after_all(child, cloud_include); !found.empty()) return found;
  return {};
}

const KnownInclude* find_known_include(std::string_view domain) {
  const std::string name = canonical(domain);
  for (const auto& entry : known_includes)
    if (entry.domain == name) return &entry;
  return nullptr;
}

std::string Network::to_string() const { return address.to_string() + "/" + std::to_string(prefix); }

std::optional<Network> parse_network(std::string_view text) {
  std::string_view address_text = text;
  std::optional<int> prefix;
  if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
    address_text = text.substr(0, slash);
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    int value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    prefix = value;
  }
  const auto address = IpAddress::parse(address_text);
  if (!address) return std::nullopt;
  const int max = address->max_prefix();
  if (prefix && *prefix > max) return std::nullopt;
  return Network{*address, prefix.value_or(max)};
}

namespace {
IpAddress masked(const IpAddress& address, int prefix) {
  std::array<std::uint8_t, 16> bytes{};
  std::copy(address.data(), address.data() + address.size(), bytes.begin());
  for (int bit = prefix; bit < address.max_prefix(); ++bit) bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  if (address.is_v4()) return IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return IpAddress::v6(bytes);
}
bool less(const Network& a, const Network& b) {
  if (a.address.is_v4() != b.address.is_v4()) return a.address.is_v4();
  const int order = std::memcmp(a.address.data(), b.address.data(), a.address.size());
  if (order != 0) return order < 0;
  return a.prefix < b.prefix;
}
}  // namespace

std::vector<Network> merge_networks(std::vector<Network> networks) {
  for (auto& network : networks) network.address = masked(network.address, network.prefix);
  bool changed = true;
  while (changed) {
    changed = false;
    std::sort(networks.begin(), networks.end(), less);
    std::vector<Network> out;
    for (const auto& network : networks) {
      // Drop networks inside the previous one.
      if (!out.empty() && out.back().address.is_v4() == network.address.is_v4() && out.back().prefix <= network.prefix &&
          network.address.in_prefix(out.back().address, out.back().prefix))
        continue;
      // Merge two halves of the same parent.
      if (!out.empty() && out.back().address.is_v4() == network.address.is_v4() && out.back().prefix == network.prefix &&
          network.prefix > 0 && masked(out.back().address, network.prefix - 1) == masked(network.address, network.prefix - 1)) {
        out.back() = Network{masked(network.address, network.prefix - 1), network.prefix - 1};
        changed = true;
        continue;
      }
      out.push_back(network);
    }
    networks = std::move(out);
  }
  return networks;
}

namespace {

using TreeQuestion = std::pair<std::string, RrType>;

// validate_tree's rounds over the cache, for the blocking and the loop
// form alike: each round walks the tree as far as the answers go and names
// the questions to ask before the next.
class TreeRounds {
 public:
  TreeRounds(AnswerCache& cache, const std::string& domain, std::optional<std::string> record_override, const TreeOptions& options)
      : cache_(cache), record_override_(std::move(record_override)), options_(options) {
    tree_.domain = canonical(domain);
    // The MX and the obsolete SPF type are asked in the first round with the TXT.
    if (options.look_up_mx_for_m365) extra_.push_back({tree_.domain, RrType::MX});
    if (options.look_up_spf_rr_type) extra_.push_back({tree_.domain, RrType::SPF});
  }

  // The questions of the next round; none when the walk is over.
  std::vector<TreeQuestion> next() {
    while (round_++ < 40) {
      TreeWalker walker(cache_, record_override_);
      tree_.root = walker.walk(tree_.domain);
      missing_ = walker.missing();
      for (const auto& question : extra_)
        if (!cache_.find(question.first, question.second)) missing_.insert(question);
      std::vector<TreeQuestion> to_ask;
      for (const auto& question : missing_)
        if (asked_.insert(question).second) to_ask.push_back(question);
      if (!to_ask.empty()) return to_ask;
      if (missing_.empty()) {
        tree_.complete = walker.complete();
        return {};
      }
      // Asked, and not answered by options.stop_waiting_at: reported as
      // what it is, a question we stopped waiting for (not an absence).
      for (const auto& question : missing_) {
        dns::Answer answer;
        answer.name = question.first;
        answer.type = question.second;
        answer.outcome = Outcome::timeout;
        answer.detail = std::chrono::steady_clock::now() >= options_.stop_waiting_at
                            ? "not waited for: every address checked was decided without it"
                            : "no answer";
        cache_.store(question.first, question.second, std::move(answer));
      }
    }
    return {};
  }

  bool answered() const {
    return std::all_of(missing_.begin(), missing_.end(), [&](const auto& q) { return cache_.find(q.first, q.second); });
  }

  TreeValidation finish();

 private:
  AnswerCache& cache_;
  std::optional<std::string> record_override_;
  TreeOptions options_;
  TreeValidation tree_;
  std::vector<TreeQuestion> extra_;
  std::set<TreeQuestion> asked_, missing_;
  int round_ = 0;
};

TreeValidation TreeRounds::finish() {
  TreeValidation& tree = tree_;
  AnswerCache& cache = cache_;
  tree.lookups = total_lookups(tree.root);
  tree.void_lookups = total_voids(tree.root);
  tree.void_lookups_v4 = total_voids(tree.root, 4);
  tree.void_lookups_v6 = total_voids(tree.root, 6);
  std::vector<Network> networks;
  collect_networks(tree.root, networks);
  tree.networks = merge_networks(std::move(networks));
  std::vector<std::string> mx_hosts;
  bool mx_known = false;
  std::string mx_failure, spf_type_failure;
  if (const Answer* mx = cache.find(tree.domain, RrType::MX); mx && !mx->is_definitive())
    mx_failure = std::string(dns::to_string(mx->outcome)) + (mx->detail.empty() ? "" : ": " + mx->detail);
  if (const Answer* spf = cache.find(tree.domain, RrType::SPF); spf && !spf->is_definitive()) {
    spf_type_failure = std::string(dns::to_string(spf->outcome)) + (spf->detail.empty() ? "" : ": " + spf->detail);
    tree.spf_rr_type_known = false;
  }
  if (const Answer* mx = cache.find(tree.domain, RrType::MX); mx && mx->is_definitive()) {
    mx_known = true;
    for (const auto& host : mx->mx()) mx_hosts.push_back(host.exchange);
  }
  if (const Answer* spf = cache.find(tree.domain, RrType::SPF); spf && spf->ok())
    for (const auto& txt : spf->txt())
      if (is_spf_record(txt.joined())) tree.spf_rr_type_published = true;
  add_checks(tree, mx_hosts, mx_known, mx_failure, spf_type_failure);
  return tree;
}

}  // namespace

TreeValidation validate_tree(SpfResolver& resolver, AnswerCache& cache, const std::string& domain,
                             const std::optional<std::string>& record_override, const TreeOptions& options) {
  TreeRounds rounds(cache, domain, record_override, options);
  // Answers that come after validate_tree returned (it stopped waiting) must
  // not reach a cache that may be gone: they go through this token.
  const auto sink = std::make_shared<AnswerCache*>(&cache);
  for (auto questions = rounds.next(); !questions.empty(); questions = rounds.next()) {
    for (const auto& question : questions)
      resolver.query(question.first, question.second, [weak = std::weak_ptr<AnswerCache*>(sink), question](const dns::Answer& answer) {
        if (const auto target = weak.lock()) (*target)->store(question.first, question.second, answer);
      });
    resolver.run_until([&rounds] { return rounds.answered(); }, options.stop_waiting_at);
  }
  return rounds.finish();
}

void start_validate_tree(SpfResolver& resolver, std::shared_ptr<AnswerCache> cache, const std::string& domain,
                         const std::optional<std::string>& record_override, const TreeOptions& options,
                         std::function<void(TreeValidation)> on_done) {
  struct Walk {
    SpfResolver& resolver;
    std::shared_ptr<AnswerCache> cache;
    TreeRounds rounds;
    std::function<void(TreeValidation)> on_done;
    std::size_t open = 0;

    static void ask_round(const std::shared_ptr<Walk>& walk) {
      const auto questions = walk->rounds.next();
      if (questions.empty()) {
        auto done = std::move(walk->on_done);
        done(walk->rounds.finish());
        return;
      }
      walk->open = questions.size();
      for (const auto& question : questions)
        walk->resolver.query(question.first, question.second, [walk, question](const dns::Answer& answer) {
          walk->cache->store(question.first, question.second, answer);
          if (--walk->open == 0) ask_round(walk);
        });
    }
  };
  TreeOptions waiting = options;
  waiting.stop_waiting_at = std::chrono::steady_clock::time_point::max();
  auto walk = std::make_shared<Walk>(Walk{resolver, cache, TreeRounds(*cache, domain, record_override, waiting), std::move(on_done), 0});
  resolver.defer([walk] { Walk::ask_round(walk); });
}

}  // namespace diag::spf

namespace diag::spf {

bool names_client_chosen_record(std::string_view text) {
  const ParsedRecord one = parse_record("v=spf1 " + std::string(text));
  if (!one.ok() || one.terms.empty()) return false;
  const Term& term = one.terms[0];
  // ip4, ip6 and all have no domain-spec: only terms that look up a name are left.
  if (term.is_mechanism) return term.qualifier == Qualifier::pass && client_chooses_name(term.domain_spec);
  return term.modifier == ModifierKind::redirect && client_chooses_name(term.value);
}

namespace {
// The open ip4:/ip6: terms (wider than any one organization's, see
// is_open_prefix) that between them let every sample of Exchange Online's
// outbound addresses pass, as "ip4:0.0.0.0/1"; "" when some sample is left
// out, and then Microsoft's mail does fail.
void collect_open_terms(const TreeNode& node, std::vector<Term>& out) {
  const ParsedRecord record = parse_record(node.record);
  if (record.ok())
    for (const auto& term : record.terms) {
      if (!term.is_mechanism || term.qualifier != Qualifier::pass) continue;
      if (std::find(node.ignored_terms.begin(), node.ignored_terms.end(), term.text) != node.ignored_terms.end()) continue;
      const bool v4 = term.mechanism == MechanismKind::ip4;
      if ((v4 || term.mechanism == MechanismKind::ip6) && is_open_prefix(v4 ? term.cidr4 : term.cidr6, v4)) out.push_back(term);
    }
  for (const auto& child : node.children)
    if (passes_through(child)) collect_open_terms(child, out);
}

// The open terms Exchange Online's addresses pass through, as
// "ip4:0.0.0.0/1", "ip6:::/0", and whether they hold every sample of each
// family: one family may pass through them while the other fails.
struct OpenPassage {
  std::string terms;
  bool every_v4 = true, every_v6 = true;
};
OpenPassage open_terms_passing_microsoft(const TreeNode& root) {
  std::vector<Term> open;
  collect_open_terms(root, open);
  OpenPassage passage;
  std::vector<std::string> used;
  for (const auto& sample : exchange_online_outbound_samples()) {
    const auto covering = std::find_if(open.begin(), open.end(), [&](const Term& term) {
      return sample.is_v4() == (term.mechanism == MechanismKind::ip4) &&
             sample.in_prefix(term.network, sample.is_v4() ? term.cidr4 : term.cidr6);
    });
    if (covering == open.end()) {
      (sample.is_v4() ? passage.every_v4 : passage.every_v6) = false;
      continue;
    }
    if (std::find(used.begin(), used.end(), covering->text) == used.end()) used.push_back(covering->text);
  }
  passage.terms = strings::join(used, "\", \"");
  return passage;
}
}  // namespace

void note_open_terms_pass_microsoft(TreeValidation& tree) {
  // Terms that pass every address, or open networks that between them hold
  // every sample of Microsoft's ranges: a narrower open network may leave
  // them out, and a client-chosen name is the client's to pick.
  std::string term;
  for (const auto& check : tree.checks) {
    if (check.status != Status::fail) continue;
    if (check.id == "spf.any-address-passes") term = check.fields.value("term", std::string());
    else if (check.id == "spf.all") term = tree.root.all_term;
    else if (check.id == "spf.include-all") term = "+all";
    if (!term.empty()) break;
  }
  // Which of Exchange Online's servers pass through the open terms: all, or
  // one family (the other fails, as the row says, and the fix closes both).
  std::string passing = "Exchange Online's servers", failing;
  if (term.empty()) {
    const OpenPassage passage = open_terms_passing_microsoft(tree.root);
    term = passage.terms;
    if (!passage.every_v4 && !passage.every_v6) term.clear();  // some addresses of each family fail: the row stands
    else if (!passage.every_v4) passing = "Exchange Online's IPv6 servers", failing = "its IPv4 servers";
    else if (!passage.every_v6) passing = "Exchange Online's IPv4 servers", failing = "its IPv6 servers";
  }
  if (term.empty()) return;
  for (auto& check : tree.checks) {
    if (check.id != "spf.m365-include" || check.status != Status::fail) continue;
    const auto at = check.message.find(microsoft_mail_fails);
    if (at == std::string::npos) continue;
    const bool several = term.find("\", \"") != std::string::npos;
    check.message = check.message.substr(0, at) + passing + " pass SPF as " + tree.domain + " only through \"" + term +
                    (several ? "\", which between them let" : "\", which lets") + " every address on the internet pass" +
                    (failing.empty() ? std::string() : ", and " + failing + " fail it") + ": closing " +
                    (several ? "those terms" : "that term") + ", the fix for that, fails " +
                    (failing.empty() ? std::string("the mail Exchange Online sends as ") + tree.domain : std::string("the rest as well")) +
                    " unless Microsoft's include is added in the same change.";
    check.remedy += " Do it in the same change that closes \"" + term + "\".";
    check.fields["passes_through"] = term;
  }
}

std::vector<IpAddress> exchange_online_addresses_in_tree(const TreeValidation& tree) {
  std::vector<Network> microsoft;
  for_each_node(tree.root, [&](const TreeNode& node) {
    if (!node.via.empty() && is_microsoft_include(node.domain)) {
      const auto networks = authorized_networks(node);
      microsoft.insert(microsoft.end(), networks.begin(), networks.end());
    }
  });
  // Every range: a term before the include may deny one of them only
  // (-ip4:104.47.0.0/16), and the others would hide it.
  std::vector<IpAddress> chosen;
  for (const auto& sample : exchange_online_outbound_samples())
    if (std::any_of(microsoft.begin(), microsoft.end(), [&](const Network& network) {
          return network.address.is_v4() == sample.is_v4() && sample.in_prefix(network.address, network.prefix);
        }))
      chosen.push_back(sample);
  return chosen;
}

void note_exchange_online_results(TreeValidation& tree, const std::vector<std::pair<IpAddress, SpfEvaluation>>& results) {
  const auto fails = [](const auto& result) {
    const SpfResult r = result.second.result;
    return r == SpfResult::permerror || r == SpfResult::fail || r == SpfResult::softfail || r == SpfResult::neutral;
  };
  const auto failing = std::find_if(results.begin(), results.end(), fails);
  if (failing == results.end()) return;
  const auto failures = static_cast<std::size_t>(std::count_if(results.begin(), results.end(), fails));
  // A term that denies some of them while the limit stops others: moving
  // the include before the term alone, or removing it, does not reach it.
  const auto limit_stopped = std::find_if(results.begin(), results.end(), [](const auto& result) {
    return result.second.result == SpfResult::permerror && result.second.limit_reached != LimitReached::none;
  });
  const auto term_decided = std::find_if(results.begin(), results.end(), [&](const auto& result) {
    return fails(result) && result.second.result != SpfResult::permerror;
  });
  const bool both = limit_stopped != results.end() && term_decided != results.end();
  const auto& [address, evaluation] = both ? *term_decided : *failing;
  for (auto& check : tree.checks) {
    if (check.id != "spf.m365-include" || check.status != Status::pass) continue;
    const std::string d = tree.domain;
    const std::string who = "Exchange Online's servers (" + address.to_string() +
                            (failures < results.size() ? "; " + std::to_string(failures) + " of the " + std::to_string(results.size()) +
                                                             " addresses sampled from its ranges"
                                                       : std::string()) +
                            ")";
    check.status = Status::fail;
    if (evaluation.result == SpfResult::permerror) {
      check.message = d + " receives mail at Microsoft 365 and its SPF tree includes Microsoft's, but " + who +
                      " get permerror before the include is reached: " + evaluation.reason +
                      ". Mail Exchange Online sends as " + d + " fails SPF.";
      check.remedy =
          evaluation.limit_reached == LimitReached::void_lookups
              ? "Put include:spf.protection.outlook.com before the terms whose names find nothing for those servers (exists:%{i}... "
                "and a:/mx: terms without records for them), or remove those terms; --suggest writes a verified record."
          : evaluation.limit_reached == LimitReached::lookups
              ? "Put include:spf.protection.outlook.com earlier, within the first 10 DNS lookups, or remove includes you no longer send "
                "through; --suggest writes a verified record."
              : "Fix what ends the check in permerror (" + evaluation.reason + "), or put include:spf.protection.outlook.com before it; "
                "--suggest writes a verified record.";
      // The tree's own finding for that limit is the same cause: one fix.
      const std::string_view limit_row = evaluation.limit_reached == LimitReached::void_lookups ? "spf.void-lookups"
                                         : evaluation.limit_reached == LimitReached::lookups    ? "spf.lookups"
                                                                                                 : "";
      for (const auto& row : tree.checks)
        if (!limit_row.empty() && row.id == limit_row && (row.status == Status::fail || row.status == Status::warn) &&
            !row.remedy.empty()) {
          check.message += " The " + std::string(evaluation.limit_reached == LimitReached::void_lookups ? "void-lookup" : "lookup") +
                           " finding above is the cause.";
          check.remedy = row.remedy + " Until then, putting include:spf.protection.outlook.com first lets Exchange Online's servers pass.";
          check.fields["cause"] = std::string(limit_row);
          break;
        }
      // No limit: a broken include on the way (no record, a loop) ended the
      // check. Its own finding names the fix; the limit has nothing to do with it.
      if (evaluation.limit_reached == LimitReached::none)
        for (const auto& row : tree.checks) {
          if (row.id != "spf.include-broken" && row.id != "spf.include-loop" && row.id != "spf.joined-strings") continue;
          const bool on_path = std::any_of(evaluation.path.begin() + (evaluation.path.empty() ? 0 : 1), evaluation.path.end(),
                                           [&](const std::string& term) { return !term.empty() && row.message.find(term) != std::string::npos; });
          if (!on_path || row.remedy.empty()) continue;
          check.message += " The broken include above is the cause.";
          check.remedy = row.remedy + " Until then, putting include:spf.protection.outlook.com before it lets Exchange Online's servers pass.";
          check.fields["cause"] = row.id;
          break;
        }
    } else {
      // The term of the domain's own record that decided: an include's
      // qualifier applies to everything it matches (RFC 7208 5.2), so
      // "-include:spf.protection.outlook.com" fails Microsoft's servers
      // through a term of Microsoft's record.
      const std::string deciding = evaluation.path.size() > 1 ? evaluation.path[1] : evaluation.matched;
      const ParsedRecord one = parse_record("v=spf1 " + deciding);
      const bool qualified_microsoft = one.ok() && !one.terms.empty() && one.terms[0].is_mechanism &&
                                       one.terms[0].mechanism == MechanismKind::include &&
                                       is_microsoft_include(one.terms[0].domain_spec) && one.terms[0].qualifier != Qualifier::pass;
      // Other terms may decide for other ranges (-ip4: for one, ~ip6: for another).
      std::vector<std::string> others;
      for (const auto& [other_address, other] : results)
        if (fails(std::pair{other_address, other}) && other.result != SpfResult::permerror && other.path.size() > 1 &&
            other.path[1] != deciding && std::find(others.begin(), others.end(), other.path[1]) == others.end())
          others.push_back(other.path[1]);
      check.message = d + " receives mail at Microsoft 365 and its SPF tree includes Microsoft's, but \"" + deciding +
                      "\" decides for " + who + " first: they get " + std::string(to_string(evaluation.result)) +
                      ", so mail Exchange Online sends as " + d + " fails SPF.";
      for (const auto& other : others) check.message += " \"" + other + "\" decides first for others of its servers too.";
      check.remedy = qualified_microsoft
                         ? "Remove the \"" + std::string(1, deciding.front()) + "\" in front of \"" + deciding +
                               "\": a qualifier on an include applies to every address the include authorizes, so it now " +
                               (evaluation.result == SpfResult::fail ? "fails" : "withholds a pass from") + " Exchange Online's servers."
                         : "Put include:spf.protection.outlook.com before \"" + deciding + "\"" +
                               (others.empty() ? ", or remove that term" : " and the other terms named, or remove them") +
                               "; --suggest writes a verified record.";
      if (both) {
        check.message += " And " + limit_stopped->first.to_string() + " gets permerror before the include is reached: " +
                         limit_stopped->second.reason + ".";
        check.remedy = "Put include:spf.protection.outlook.com before \"" + deciding + "\" and within the first 10 DNS lookups " +
                       (limit_stopped->second.limit_reached == LimitReached::void_lookups ? "and 2 void lookups " : "") +
                       "(removing \"" + deciding + "\" alone leaves the limit); --suggest writes a verified record.";
      }
    }
    check.fields["exchange_online_address"] = address.to_string();
    check.fields["exchange_online_result"] = std::string(to_string(evaluation.result));
  }
}

std::string_view open_pass_finding(const SpfEvaluation& evaluation) {
  if (evaluation.result != SpfResult::pass) return {};
  // Reached through include:%{h} or redirect=%{h}: the client chose the record.
  for (std::size_t i = 1; i + 1 < evaluation.path.size(); ++i)
    if (names_client_chosen_record(evaluation.path[i])) return "spf.client-chosen-name";
  const std::string& matched = evaluation.matched;
  if (matched == "+all" || matched == "all") return evaluation.path.size() > 2 ? "spf.include-all" : "spf.all";
  const ParsedRecord one = parse_record("v=spf1 " + matched);
  if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism) return {};
  const Term& term = one.terms[0];
  if (term.mechanism == MechanismKind::ip4 && is_open_prefix(term.cidr4, true)) return "spf.open-networks";
  if (term.mechanism == MechanismKind::ip6 && is_open_prefix(term.cidr6, false)) return "spf.open-networks";
  // a:host/0, mx//1 ...: the prefix length widens each address of the host.
  if ((term.mechanism == MechanismKind::a || term.mechanism == MechanismKind::mx) &&
      (is_open_prefix(term.cidr4, true) || is_open_prefix(term.cidr6, false)))
    return "spf.open-networks";
  if (client_chooses_name(term.domain_spec)) return "spf.client-chosen-name";
  return {};
}

std::string_view open_pass_finding(const SpfEvaluation& evaluation, const std::vector<Check>& tree_checks) {
  if (const auto id = open_pass_finding(evaluation); !id.empty()) return id;
  if (evaluation.result != SpfResult::pass) return {};
  const auto open = any_address_terms(tree_checks);
  if (std::find(open.begin(), open.end(), evaluation.matched) != open.end()) return "spf.any-address-passes";
  return {};
}

std::vector<std::string> any_address_terms(const std::vector<Check>& tree_checks) {
  std::vector<std::string> terms;
  for (const auto& check : tree_checks)
    if (check.id == "spf.any-address-passes") terms.push_back(check.fields.value("term", std::string()));
  return terms;
}

std::vector<std::string> lookup_terms_to_probe(const TreeValidation& tree) {
  std::vector<std::string> terms;
  for_each_node(tree.root, [&](const TreeNode& node) {
    for (const auto& text : node.terms) {
      const ParsedRecord one = parse_record("v=spf1 " + text);
      if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism) continue;
      const Term& term = one.terms[0];
      if (term.qualifier != Qualifier::pass) continue;
      if (term.mechanism == MechanismKind::exists || term.domain_spec.find('%') != std::string::npos) terms.push_back(text);
    }
  });
  return terms;
}

IpAddress unused_address_probe() { return *IpAddress::parse("240.0.0.1"); }

std::optional<Check> unused_address_finding(const TreeValidation& tree, const SpfEvaluation& probe) {
  if (probe.result != SpfResult::pass) return std::nullopt;
  const auto terms = lookup_terms_to_probe(tree);
  if (std::find(terms.begin(), terms.end(), probe.matched) == terms.end()) return std::nullopt;
  const std::string& d = tree.domain;
  const std::string probe_text = unused_address_probe().to_string();
  const std::string where = probe.path.size() > 2 ? " (reached through " + probe.path[1] + ")" : std::string();
  return Check{"spf.any-address-passes", Status::fail,
               "\"" + probe.matched + "\"" + where + " passes " + probe_text +
                   ", a reserved address no mail server has: the name it looks up answers whatever the address (a "
                   "wildcard DNS record, or a name that always exists), so every address on the internet passes SPF as " +
                   d + " (RFC 7208 5.7, 11.5.2).",
               "Make the name the term looks up answer only for your servers' addresses (remove the wildcard record "
               "under it), or replace the term with the ip4:/ip6: terms of the servers that really send as " + d + ".",
               {{"term", probe.matched}, {"probe", probe_text}}};
}

namespace {
// The findings that can end an evaluation in permerror or temperror, and
// how the engine's reason names each.
struct Cause {
  std::string_view id;
  std::string_view reason_text;  // "" : any permerror
  SpfResult result;
};
constexpr Cause causes[] = {
    {"spf.lookups", "DNS-querying terms", SpfResult::permerror},
    // A loop spends the lookups until the limit: its permerror reads as one.
    {"spf.include-loop", "DNS-querying terms", SpfResult::permerror},
    {"spf.void-lookups", "void lookups", SpfResult::permerror},
    {"spf.record", "SPF records at", SpfResult::permerror},
    {"spf.record", "syntax error", SpfResult::permerror},
    {"spf.include-broken", "has no SPF record", SpfResult::permerror},
    {"spf.include-broken", "", SpfResult::permerror},
    {"spf.appended-zone", "has no SPF record", SpfResult::permerror},
    {"spf.include-loop", "", SpfResult::permerror},
    {"spf.record", "", SpfResult::temperror},
    {"spf.include-unresolved", "", SpfResult::temperror},
    {"spf.tree-complete", "", SpfResult::temperror},
    {"spf.record", "", SpfResult::none},
};
}  // namespace

std::vector<std::string_view> findings_named_by(const SpfEvaluation& evaluation) {
  std::vector<std::string_view> ids;
  for (const auto& cause : causes)
    if (cause.result == evaluation.result && !cause.reason_text.empty() &&
        evaluation.reason.find(cause.reason_text) != std::string::npos &&
        std::find(ids.begin(), ids.end(), cause.id) == ids.end())
      ids.push_back(cause.id);
  return ids;
}

// The addresses whose evaluation `wanted` picks, as "a, b".
template <typename Wanted>
std::string addresses_where(const std::vector<std::pair<IpAddress, SpfEvaluation>>& results, Wanted wanted) {
  std::string out;
  for (const auto& [ip, evaluation] : results)
    if (wanted(ip, evaluation)) out += (out.empty() ? "" : ", ") + ip.to_string();
  return out;
}

void separate_domain_health(std::vector<Check>& tree_checks,
                            const std::vector<std::pair<IpAddress, SpfEvaluation>>& results) {
  if (results.empty()) return;
  std::set<std::string_view> kept;
  // The addresses that pass only through ptr, which receivers may skip (RFC 7208 5.5).
  const std::string through_ptr = addresses_where(results, [](const IpAddress&, const SpfEvaluation& evaluation) {
    return evaluation.result == SpfResult::pass && (evaluation.matched == "ptr" || evaluation.matched.starts_with("ptr:") ||
                                                    evaluation.matched.starts_with("+ptr"));
  });
  if (!through_ptr.empty()) kept.insert("spf.ptr");
  // A pass that rests on a term anyone passes (+all in an include, an open
  // network, a client-chosen name): that finding is the device's own.
  std::map<std::string, std::string> rests_on;  // check id -> the addresses
  for (const auto& [ip, evaluation] : results)
    if (const std::string_view id = open_pass_finding(evaluation, tree_checks); !id.empty())
      rests_on[std::string(id)] += (rests_on[std::string(id)].empty() ? "" : ", ") + ip.to_string();
  for (const auto& [ip, evaluation] : results) {
    if (evaluation.result != SpfResult::permerror && evaluation.result != SpfResult::temperror &&
        evaluation.result != SpfResult::none)
      continue;
    bool named = false;
    for (const auto& cause : causes)
      if (cause.result == evaluation.result && !cause.reason_text.empty() &&
          evaluation.reason.find(cause.reason_text) != std::string::npos) {
        kept.insert(cause.id);
        named = true;
      }
    if (!named)  // a reason no finding names: keep every finding that could be it
      for (const auto& cause : causes)
        if (cause.result == evaluation.result) kept.insert(cause.id);
  }
  const std::string undecided =
      addresses_where(results, [](const IpAddress&, const SpfEvaluation& evaluation) { return evaluation.result == SpfResult::temperror; });
  // An address that an ip4:/ip6: term after the all term names fails for
  // that reason: the finding is its cause, not domain health.
  const auto named_after_all = [&](const Check& check) {
    std::string named;
    if (check.id != "spf.after-all" || !check.fields.contains("terms")) return named;
    for (const auto& [ip, evaluation] : results) {
      if (evaluation.result == SpfResult::pass) continue;
      for (const auto& text : check.fields["terms"]) {
        const ParsedRecord one = parse_record("v=spf1 " + text.get<std::string>());
        if (!one.ok() || one.terms.empty() || !one.terms[0].is_mechanism) continue;
        const Term& term = one.terms[0];
        const bool v4 = term.mechanism == MechanismKind::ip4;
        if ((v4 || term.mechanism == MechanismKind::ip6) && ip.in_prefix(term.network, v4 ? term.cidr4 : term.cidr6)) {
          named += (named.empty() ? "" : ", ") + ip.to_string();
          break;
        }
      }
    }
    return named;
  };
  // A record without an all term, or one that ends in ?all, gives neutral
  // to what no other term matched: that finding is why those addresses get
  // neutral.
  const std::string neutral_by_default = addresses_where(results, [](const IpAddress&, const SpfEvaluation& evaluation) {
    return evaluation.result == SpfResult::neutral && evaluation.reason.starts_with("no term matched and there is no redirect");
  });
  const std::string neutral_by_all = addresses_where(results, [](const IpAddress&, const SpfEvaluation& evaluation) {
    return evaluation.result == SpfResult::neutral && evaluation.matched == "?all";
  });
  for (auto& check : tree_checks) {
    if (check.id == "spf.all" && check.fields.contains("neutral_by")) {
      const std::string& neutral = check.fields["neutral_by"] == "?all" ? neutral_by_all : neutral_by_default;
      if (!neutral.empty()) {
        check.message += " It is why " + neutral + " gets neutral.";
        continue;
      }
    }
    if (const auto rests = rests_on.find(check.id); rests != rests_on.end()) {
      check.message += " The pass for " + rests->second + " rests on it: list " + rests->second +
                       " with ip4:/ip6: before you close it.";
      continue;
    }
    if (const std::string named = named_after_all(check); !named.empty()) {
      check.message += " It names " + named + ", which therefore does not pass.";
      continue;
    }
    if (check.id == "spf.ptr" && !through_ptr.empty()) {
      check.message += " The pass for " + through_ptr + " rests on it.";
      check.remedy = "List " + through_ptr + " with ip4:/ip6: before the ptr term (and replace ptr for the other servers it covers).";
      continue;
    }
    if (check.status == Status::pass || check.status == Status::info || kept.count(check.id)) continue;
    // Exchange Online's servers stopped by the limit that stops a device:
    // one cause, the device's own.
    if (check.fields.contains("cause") && kept.count(check.fields["cause"].get<std::string>())) {
      check.status = Status::warn;
      continue;
    }
    // An evaluation that stopped at a failed lookup has not reached the
    // terms after it: a finding that ends an evaluation in permerror may
    // yet decide that result, so it is no "domain health" row.
    const bool could_decide = !undecided.empty() && std::any_of(std::begin(causes), std::end(causes), [&](const Cause& cause) {
      return cause.result == SpfResult::permerror && cause.id == check.id;
    });
    if (could_decide) {
      check.status = Status::warn;
      check.message += " The result for " + undecided + " stopped at a lookup that failed (temperror); once that lookup answers, this can make it permerror.";
      continue;
    }
    // A macro include's answer for Exchange Online was checked: an address
    // of Exchange Online given as --ip passed through it.
    if (check.id == "spf.m365-include" && check.fields.contains("depends_on_sender")) {
      const std::string passed = addresses_where(results, [](const IpAddress& ip, const SpfEvaluation& evaluation) {
        return evaluation.result == SpfResult::pass && is_exchange_online_outbound(ip);
      });
      if (!passed.empty()) {
        check.status = Status::pass;
        check.message += " Exchange Online's " + passed + " passes through it.";
        check.remedy.clear();
        continue;
      }
    }
    // Exchange Online's own addresses given as --ip get what the finding on
    // Microsoft's include says: it decides theirs, not the others'.
    const bool on_microsoft_include = check.id == "spf.m365-include";
    const std::string unaffected = addresses_where(results, [&](const IpAddress& ip, const SpfEvaluation& evaluation) {
      return !on_microsoft_include || evaluation.result == SpfResult::pass || !is_exchange_online_outbound(ip);
    });
    if (unaffected.empty()) continue;
    check.status = Status::warn;
    check.fields["group"] = "domain health";
    check.message += " This does not change the result for " + unaffected + ".";
  }
}

}  // namespace diag::spf
