// A record that authorizes the device IPs while keeping everything the
// published one authorizes: the smallest change first (ip4:/ip6: terms,
// adjacent networks merged, the all term kept), a flattened variant when the
// result would exceed 10 lookups, and every suggestion verified offline
// against the answers already fetched before it is shown.
#include <algorithm>

#include "diag/spf.h"

namespace diag::spf {
namespace {

std::string network_term(const Network& network) {
  const bool v4 = network.address.is_v4();
  std::string out = std::string(v4 ? "ip4:" : "ip6:") + network.address.to_string();
  if (network.prefix != network.address.max_prefix()) out += "/" + std::to_string(network.prefix);
  return out;
}

SpfResult evaluate_offline(const AnswerCache& cache, const std::string& domain, const std::string& record, const IpAddress& ip) {
  AnswerCache copy = cache;
  OfflineSpfResolver offline(copy);
  CheckHostInput input;
  input.ip = ip;
  input.sender = "postmaster@" + domain;
  input.helo = domain;
  input.domain = domain;
  input.record_override = record;
  input.timestamp = 1;
  return check_host(offline, copy, input).result;
}

int lookups_offline(const AnswerCache& cache, const std::string& domain, const std::string& record) {
  AnswerCache copy = cache;
  OfflineSpfResolver offline(copy);
  TreeOptions options;
  options.look_up_mx_for_m365 = false;
  options.look_up_spf_rr_type = false;
  return validate_tree(offline, copy, domain, record, options).lookups;
}

// Evaluates the record for every IP and for the first address of every
// network the old record authorized; all must pass.
bool verify(const AnswerCache& cache, const std::string& domain, const std::string& record, const std::vector<IpAddress>& ips,
            const std::vector<Network>& old_networks, std::vector<std::string>& lines) {
  bool ok = true;
  for (const auto& ip : ips) {
    const SpfResult result = evaluate_offline(cache, domain, record, ip);
    lines.push_back(ip.to_string() + ": " + std::string(to_string(result)));
    ok = ok && result == SpfResult::pass;
  }
  std::size_t checked = 0, kept = 0;
  for (const auto& network : old_networks) {
    if (++checked > 500) break;
    if (evaluate_offline(cache, domain, record, network.address) == SpfResult::pass) ++kept;
    else {
      ok = false;
      lines.push_back("previously authorized " + network.to_string() + " no longer passes");
    }
  }
  lines.push_back(std::to_string(kept) + " of " + std::to_string(std::min<std::size_t>(checked, old_networks.size())) +
                  " previously authorized networks still pass");
  return ok;
}

// The record with the given ip terms removed and the new ones inserted at
// the first removed term, or first of all when there was none.
std::string rewrite(const ParsedRecord& record, const std::vector<std::size_t>& removed, const std::vector<std::string>& added,
                    const std::vector<std::string>& extra_modifiers) {
  std::vector<std::string> terms;
  bool inserted = false;
  for (std::size_t k = 0; k < record.terms.size(); ++k) {
    if (std::find(removed.begin(), removed.end(), k) != removed.end()) {
      if (!inserted) terms.insert(terms.end(), added.begin(), added.end()), inserted = true;
      continue;
    }
    terms.push_back(record.terms[k].text);
  }
  if (!inserted) terms.insert(terms.begin(), added.begin(), added.end());
  terms.insert(terms.end(), extra_modifiers.begin(), extra_modifiers.end());
  std::string out = "v=spf1";
  for (const auto& term : terms) out += " " + term;
  return out;
}

bool is_pass_ip_term(const Term& term) {
  return term.is_mechanism && term.qualifier == Qualifier::pass &&
         (term.mechanism == MechanismKind::ip4 || term.mechanism == MechanismKind::ip6);
}

}  // namespace

Suggestion suggest_record(const TreeValidation& tree, const std::vector<IpAddress>& ips, const AnswerCache& cache,
                          const std::string& today) {
  Suggestion suggestion;
  const std::string& domain = tree.domain;
  std::string current = tree.root.record;
  const std::vector<Network> old_networks = tree.networks;
  if (tree.root.status == "none") {
    // Microsoft's direct-send example: the device IP, the Exchange Online include, ~all.
    current = "v=spf1 include:spf.protection.outlook.com ~all";
    suggestion.notes.push_back(domain + " has no SPF record: this starts from Microsoft's record for Exchange Online with ~all.");
  } else if (tree.root.status != "ok") {
    suggestion.notes.push_back("No suggestion: the published record must be fixed first (" + tree.root.status + ": " + tree.root.detail + ").");
    return suggestion;
  }
  const ParsedRecord record = parse_record(current);
  if (!record.ok()) return suggestion;

  // Which IPs does the current record already pass?
  std::vector<Network> wanted;
  for (const auto& ip : ips)
    if (tree.root.status == "none" || evaluate_offline(cache, domain, current, ip) != SpfResult::pass)
      wanted.push_back(Network{ip, ip.max_prefix()});
  if (wanted.empty()) {
    suggestion.record = current;
    suggestion.lookups = tree.lookups;
    suggestion.notes.push_back("The published record already authorizes every given IP: no change needed.");
    suggestion.verified = verify(cache, domain, current, ips, {}, suggestion.verification);
    return suggestion;
  }
  suggestion.changed = true;

  // Smallest change: the new addresses plus the record's own ip4:/ip6: terms, merged.
  std::vector<std::size_t> removed;
  std::vector<Network> networks = wanted;
  for (std::size_t k = 0; k < record.terms.size(); ++k) {
    const Term& term = record.terms[k];
    if (!is_pass_ip_term(term)) continue;
    removed.push_back(k);
    networks.push_back(Network{term.network, term.mechanism == MechanismKind::ip4 ? term.cidr4 : term.cidr6});
  }
  const std::vector<Network> merged = merge_networks(networks);
  // Keep the published terms as written unless merging changed them.
  if (merged.size() == networks.size()) {
    removed.clear();
    std::vector<std::string> added;
    for (const auto& network : merge_networks(wanted)) added.push_back(network_term(network));
    // Insert after the record's existing ip terms (or first): cheap terms before lookups.
    std::vector<std::string> terms;
    std::size_t last_ip = record.terms.size();
    for (std::size_t k = 0; k < record.terms.size(); ++k)
      if (is_pass_ip_term(record.terms[k])) last_ip = k;
    std::string out = "v=spf1";
    if (last_ip == record.terms.size()) for (const auto& t : added) out += " " + t;
    for (std::size_t k = 0; k < record.terms.size(); ++k) {
      out += " " + record.terms[k].text;
      if (k == last_ip) for (const auto& t : added) out += " " + t;
    }
    suggestion.record = out;
  } else {
    std::vector<std::string> added;
    for (const auto& network : merged) added.push_back(network_term(network));
    suggestion.record = rewrite(record, removed, added, {});
    suggestion.notes.push_back("Adjacent networks were merged into fewer ip4:/ip6: terms (the same addresses, nothing more).");
  }

  // The all term stays as published; say what Microsoft recommends.
  std::string all_term;
  for (const auto& term : record.terms)
    if (term.is_mechanism && term.mechanism == MechanismKind::all) all_term = term.text;
  if (all_term == "-all")
    suggestion.notes.push_back("Kept -all as published. Microsoft recommends ~all while direct send is being set up, so that a device whose mail takes an unexpected route is junked, not rejected.");
  else if (all_term == "~all")
    suggestion.notes.push_back("Kept ~all, which Microsoft recommends while direct send is being set up; move to -all once DKIM and DMARC are in place.");
  else if (!all_term.empty())
    suggestion.notes.push_back("Kept \"" + all_term + "\" as published, but see the finding about it: ~all or -all is what protects your domain.");
  for (const auto& network : wanted)
    suggestion.notes.push_back("Anyone who can send from " + network.address.to_string() + " will pass SPF as " + domain + ": make sure it is your own static public address.");

  suggestion.lookups = lookups_offline(cache, domain, suggestion.record);
  suggestion.verified = verify(cache, domain, suggestion.record, ips, old_networks, suggestion.verification);
  suggestion.verification.push_back(std::to_string(suggestion.lookups) + (suggestion.lookups == 1 ? " DNS lookup" : " DNS lookups"));
  if (suggestion.lookups > 10) {
    suggestion.verified = false;
    suggestion.notes.push_back("The record needs " + std::to_string(suggestion.lookups) + " DNS lookups, more than the 10 RFC 7208 4.6.4 allows: see the flattened variant.");
  }

  // Flattened variant: replace the costliest includes with their networks.
  if (suggestion.lookups > 10) {
    ParsedRecord base = parse_record(suggestion.record);
    std::vector<const TreeNode*> includes;
    for (const auto& child : tree.root.children)
      if (child.status == "ok" && (child.via.rfind("include:", 0) == 0 || child.via.rfind("+include:", 0) == 0)) includes.push_back(&child);
    std::sort(includes.begin(), includes.end(), [](const TreeNode* a, const TreeNode* b) { return a->lookups_total > b->lookups_total; });
    int lookups = suggestion.lookups;
    std::vector<std::size_t> removed_terms;
    std::vector<Network> flat_networks;
    std::vector<std::string> flattened_names;
    for (const TreeNode* include : includes) {
      if (lookups <= 10) break;
      for (std::size_t k = 0; k < base.terms.size(); ++k)
        if (base.terms[k].text == include->via) removed_terms.push_back(k);
      const auto nets = authorized_networks(*include);
      flat_networks.insert(flat_networks.end(), nets.begin(), nets.end());
      lookups -= 1 + include->lookups_total;
      flattened_names.push_back(include->via);
    }
    for (std::size_t k = 0; k < base.terms.size(); ++k)
      if (is_pass_ip_term(base.terms[k])) {
        removed_terms.push_back(k);
        flat_networks.push_back(Network{base.terms[k].network, base.terms[k].mechanism == MechanismKind::ip4 ? base.terms[k].cidr4 : base.terms[k].cidr6});
      }
    std::vector<std::string> added;
    for (const auto& network : merge_networks(flat_networks)) added.push_back(network_term(network));
    // RFC 7208 6: receivers ignore unknown modifiers, so the date can travel in the record.
    const std::string record_text = rewrite(base, removed_terms, added, {"flattened=" + today});
    suggestion.flattened_record = record_text;
    suggestion.flattened_lookups = lookups_offline(cache, domain, record_text);
    std::vector<std::string> lines;
    suggestion.flattened_verified = verify(cache, domain, record_text, ips, old_networks, lines) && suggestion.flattened_lookups <= 10;
    std::string names;
    for (const auto& n : flattened_names) names += (names.empty() ? "" : ", ") + n;
    suggestion.flattened_notes.push_back("Flattened on " + today + ": " + names + " replaced by the networks they published that day (" +
                                         std::to_string(suggestion.flattened_lookups) + " DNS lookups).");
    suggestion.flattened_notes.push_back("Warning: providers change these networks without notice. Refresh the flattened terms regularly (at least monthly), or mail from the provider's new addresses will fail SPF.");
    if (record_text.size() > 450)
      suggestion.flattened_notes.push_back("The record is " + std::to_string(record_text.size()) + " characters: publish it as several quoted strings of at most 255 characters in one TXT record.");
    for (const auto& line : lines) suggestion.flattened_notes.push_back("verified: " + line);
  }
  return suggestion;
}

}  // namespace diag::spf
