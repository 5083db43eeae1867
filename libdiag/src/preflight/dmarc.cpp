// DMARC policy discovery for the From domain: the domain's own record, or,
// when it publishes none, the record of the domain above it.
//
// RFC 7489 6.6.3 (the published standard): "If the set is now empty, the
// Mail Receiver MUST query the DNS for a DMARC TXT record at the DNS domain
// matching the Organizational Domain in place of the RFC5322.From domain";
// its sp= then applies, and without sp= its p= (6.3: sp "If absent, the
// policy specified by the 'p' tag MUST be applied for subdomains"). The
// Organizational Domain comes from a public suffix list there; DMARCbis
// (draft-ietf-dmarc-dmarcbis-41, submitted for publication and in the RFC
// Editor queue, https://datatracker.ietf.org/doc/draft-ietf-dmarc-dmarcbis/)
// replaces the list with a DNS tree walk: the nearest name above the From
// domain that publishes a record, starting at most 7 labels long. Both give
// the same answer whenever no name between the From domain and its
// registered domain publishes a record, the usual case; preflight walks the
// tree (no list to ship and keep current), asking every name at once.
#include <algorithm>

#include "diag/preflight.h"

namespace diag::preflight {
namespace {

// DMARCbis 4.10.1: a name of more than 8 labels is shortened to 7 first.
constexpr std::size_t max_walk_labels = 7;

std::vector<DmarcRecord> records_in(const dns::Answer& answer) {
  std::vector<DmarcRecord> records;
  for (const auto& txt : answer.txt())
    if (auto record = parse_dmarc(txt.joined())) records.push_back(*record);
  return records;
}

}  // namespace

std::vector<std::string> dmarc_policy_domains(std::string_view from_domain) {
  std::string domain(from_domain);
  while (domain.ends_with(".")) domain.pop_back();
  std::vector<std::string> labels;
  for (std::size_t start = 0; start <= domain.size();) {
    auto dot = domain.find('.', start);
    if (dot == std::string::npos) dot = domain.size();
    labels.push_back(domain.substr(start, dot - start));
    start = dot + 1;
  }
  std::vector<std::string> out{domain};
  // The parents, nearest first, down to two labels: a top-level domain
  // publishes no policy for the names below it.
  for (std::size_t count = std::min(labels.size() - 1, max_walk_labels); count >= 2; --count) {
    std::string name;
    for (std::size_t i = labels.size() - count; i < labels.size(); ++i) name += (name.empty() ? "" : ".") + labels[i];
    out.push_back(name);
  }
  return out;
}

void query_dmarc(dns::Work& work, std::string_view from_domain, std::vector<DmarcLookup>& lookups) {
  const auto domains = dmarc_policy_domains(from_domain);
  lookups.assign(domains.size(), DmarcLookup{});
  for (std::size_t i = 0; i < domains.size(); ++i) {
    lookups[i].domain = domains[i];
    work.query("_dmarc." + domains[i], dns::RrType::TXT, [&lookups, i](const dns::Answer& answer) { lookups[i].answer = answer; });
  }
}

Check dmarc_check(const std::string& from_domain, const std::vector<DmarcLookup>& lookups, bool spf_passes) {
  if (lookups.empty()) return dmarc_check(from_domain, dns::Answer{}, spf_passes);
  // The From domain's own record (or its absence, or a failed lookup) decides when it says anything.
  const DmarcLookup& own = lookups.front();
  if (!own.answer.is_definitive() || !records_in(own.answer).empty() || lookups.size() == 1)
    return dmarc_check(from_domain, own.answer, spf_passes);
  for (std::size_t i = 1; i < lookups.size(); ++i) {
    const DmarcLookup& parent = lookups[i];
    const std::string name = "_dmarc." + parent.domain;
    if (!parent.answer.is_definitive()) {
      Check check{"dmarc.policy", Status::error,
                  from_domain + " publishes no DMARC record, and the lookup of " + name + ", whose policy would apply to it, failed (" +
                      std::string(dns::to_string(parent.answer.outcome)) + ")",
                  "Try again, or ask another resolver with --dns; a lookup that failed says nothing about the record.",
                  {{"domain", from_domain}, {"policy_domain", parent.domain}, {"outcome", dns::to_string(parent.answer.outcome)}}};
      return check;
    }
    const auto records = records_in(parent.answer);
    if (records.empty()) continue;
    // The parent's record, read for a subdomain: sp= when given, else p=.
    auto subdomain_policy = [](const DmarcRecord& r) {
      return !r.subdomain_policy.empty() ? r.subdomain_policy : r.policy.empty() ? std::string("none") : r.policy;
    };
    auto strictness = [](const std::string& p) { return p == "reject" ? 2 : p == "quarantine" ? 1 : 0; };
    // RFC 7489 asks the Organizational Domain (the shortest name here that
    // publishes a record), DMARCbis the nearest: receivers follow either,
    // so the stricter of the two is what the device must pass.
    std::string other_note;
    std::size_t chosen = i;
    for (std::size_t j = lookups.size() - 1; j > i; --j) {
      const auto org_records = records_in(lookups[j].answer);
      if (!lookups[j].answer.is_definitive() || org_records.size() != 1) continue;
      if (records.size() == 1 && strictness(subdomain_policy(org_records.front())) > strictness(subdomain_policy(records.front()))) {
        chosen = j;
        other_note = " (receivers that follow DMARCbis apply the nearer record of " + parent.domain + ", p=" + subdomain_policy(records.front()) +
                     "; those that follow RFC 7489 apply this one, the stricter)";
      }
      break;
    }
    const DmarcLookup& decider = lookups[chosen];
    const auto decider_records = records_in(decider.answer);
    Check check = dmarc_check(decider.domain, decider.answer, spf_passes);
    check.fields["domain"] = from_domain;
    check.fields["policy_domain"] = decider.domain;
    if (decider_records.size() > 1) return check;
    const DmarcRecord& record = decider_records.front();
    // An invalid p= or sp=: receivers read the whole record as p=none or
    // ignore it (RFC 7489 6.6.3), as dmarc_check says.
    if (!record.invalid_policy.empty()) return check;
    const std::string policy = subdomain_policy(record);
    check.fields["policy"] = policy;
    if (!record.subdomain_policy.empty()) check.fields["policy_tag"] = "sp";
    const std::string whose = from_domain + " publishes no DMARC record of its own, so the record of " + decider.domain + " applies to it (" +
                              (record.subdomain_policy.empty() ? "no sp=, so its p=" + policy : "sp=" + policy) +
                              ", RFC 7489 6.6.3)" + other_note + ": \"" + record.record + "\"";
    const std::string effect = dmarc_effect(policy, record.pct);
    check.remedy.clear();
    if (policy == "none" || effect.empty()) {
      check.status = spf_passes ? Status::pass : Status::warn;
      check.message = whose + (policy == "none" ? "; p=none only monitors" : "; with pct=0 receivers apply no policy (RFC 7489 6.6.4)");
      if (!spf_passes) check.remedy = "DMARC does not stop the device's mail today, but fix SPF for " + from_domain + " before " + decider.domain + " tightens DMARC.";
    } else if (spf_passes) {
      check.status = Status::pass;
      check.message = whose + "; the device passes SPF with an aligned MAIL FROM, so DMARC passes";
    } else {
      check.status = Status::fail;
      check.message = whose + "; a device that fails SPF and does not sign with DKIM (printers and scanners never do) has its mail " + effect;
      check.remedy = "Make the device pass SPF for " + from_domain + " (publish the SPF record below). Do not publish a weaker DMARC record at _dmarc." +
                     from_domain + ": it would override the policy of " + decider.domain + " for this name.";
    }
    return check;
  }
  // No record anywhere up the tree: the From domain's own answer says so.
  return dmarc_check(from_domain, own.answer, spf_passes);
}

}  // namespace diag::preflight
