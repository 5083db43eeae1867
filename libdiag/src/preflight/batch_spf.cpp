// --batch: one SPF record per sender domain for every device of the batch
// that sends as it by direct send (or whose row suggests a record). Each row's own suggestion adds only its
// own address "replacing the current one": publishing two rows' records one
// after the other drops the first device. The SPF module builds and verifies
// one record for all the addresses at once (issue: "a per-tenant section
// with one verified SPF record covering every device of that tenant").
#include <algorithm>
#include <map>
#include <set>

#include "diag/preflight.h"
#include "diag/spf.h"

namespace diag::preflight {
namespace {

// Every string in a row's report that carries the row's own record.
void replace_record(nlohmann::json& value, const std::string& own, const std::string& remedy, const std::string& record) {
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    if (text.find(own) == std::string::npos) return;
    // The row's own "Publish this SPF record ..." remedy: the merged one instead.
    if (text.starts_with("Publish this SPF record")) text = remedy;
    else if (text == own) text = record;
  } else if (value.is_structured()) {
    for (auto& item : value) replace_record(item, own, remedy, record);
  }
}

}  // namespace

void merge_tenant_spf(const std::vector<BatchRow>& rows, std::vector<BatchResult>& results, dns::Resolver& resolver) {
  // The sender domain of each direct-send row with a public device address,
  // and of every other row that suggests a record for its domain (a relay
  // row's record for Exchange Online's servers): published one after the
  // other, any row's own record drops the rest.
  std::map<std::string, std::vector<std::size_t>> groups;
  std::map<std::string, bool> exchange_online_sends;
  for (std::size_t i = 0; i < rows.size() && i < results.size(); ++i) {
    const Plan& plan = rows[i].plan;
    const bool suggests = results[i].document.contains("spf_record") && results[i].document["spf_record"].is_string();
    if ((plan.method != Method::direct_send && !suggests) || plan.from_domain.empty() || results[i].ip.empty()) continue;
    auto ip = IpAddress::parse(results[i].ip);
    if (!ip || is_non_public(address_scope(*ip))) continue;
    groups[plan.from_domain].push_back(i);
    if (plan.method == Method::relay && !plan.external.empty()) exchange_online_sends[plan.from_domain] = true;
  }
  for (const auto& [domain, members] : groups) {
    // Only where some device's row asks for a new record.
    const bool needed = std::any_of(members.begin(), members.end(), [&](std::size_t i) {
      return results[i].document.contains("spf_record") && results[i].document["spf_record"].is_string();
    });
    if (!needed) continue;
    std::vector<std::string> ips;
    for (std::size_t i : members)
      if (std::find(ips.begin(), ips.end(), results[i].ip) == ips.end()) ips.push_back(results[i].ip);
    TenantSpf tenant;
    tenant.domain = domain;
    tenant.ips = ips;
    // The devices' own sender and EHLO name: a term built from them
    // (exists:%{l}._u.%{d}, a:%{h}) is judged as the devices send, the first
    // device's for the record, every device's for the check below.
    const Plan& first = rows[members.front()].plan;
    spf::SpfCheckRequest request;
    request.domain = domain;
    request.ips = ips;
    request.sender = first.from.empty() ? "postmaster@" + domain : first.from;
    request.helo = first.helo;
    request.suggest = true;
    request.exchange_online_sends = exchange_online_sends[domain];
    auto plan = spf::plan_check(request);
    if (!plan) {
      tenant.note = "no record could be checked: " + plan.error().message;
    } else {
      spf::NetworkSpfResolver spf_resolver(resolver);
      const auto outcome = spf::run_check(spf_resolver, *plan);
      const auto& suggestion = outcome.suggestion;
      if (suggestion && suggestion->verified && suggestion->changed && !suggestion->record.empty()) tenant.record = suggestion->record;
      else if (suggestion && !suggestion->reason.empty()) tenant.note = "no single verified record: " + suggestion->reason;
      else tenant.note = "no single verified record could be made";
      // A record that lets an address no server has pass, for any device's
      // sender and EHLO name, lets everyone pass as that device: one
      // check_host() per distinct sender and EHLO name, on one cache.
      spf::AnswerCache probe_cache;
      std::set<std::pair<std::string, std::string>> probed;
      for (std::size_t i : members) {
        if (!tenant.record) break;
        spf::SpfCheckRequest probe;
        probe.domain = domain;
        probe.sender = rows[i].plan.from.empty() ? "postmaster@" + domain : rows[i].plan.from;
        probe.helo = rows[i].plan.helo;
        probe.record = *tenant.record;
        if (!probed.emplace(probe.sender, probe.helo).second) continue;
        auto probe_plan = spf::plan_check(probe);
        if (!probe_plan) continue;
        spf::CheckHostInput input = probe_plan->base;
        input.ip = spf::unused_address_probe();
        if (spf::check_host(spf_resolver, probe_cache, input).result == spf::SpfResult::pass) {
          tenant.note = "no single verified record: the merged record lets every address pass as " + probe.sender +
                        " (a term built from the sender or the EHLO name matches any address); each device's own row gives its record";
          tenant.record.reset();
        }
      }
    }
    std::string list;
    for (const auto& ip : ips) list += (list.empty() ? "" : ", ") + ip;
    const std::string remedy =
        tenant.record ? "Publish this one SPF record for " + domain + ", replacing the current one: " + *tenant.record +
                            " (verified: it passes for every device of this batch that sends as " + domain + " (" + list +
                            ") and for every sender the current records authorize)."
                      : "";
    for (std::size_t i : members) {
      auto& document = results[i].document;
      nlohmann::json entry = {{"domain", domain}, {"devices", ips}, {"record", tenant.record ? nlohmann::json(*tenant.record) : nlohmann::json(nullptr)}};
      if (!tenant.note.empty()) entry["note"] = tenant.note;
      if (tenant.record && document["spf_record"].is_string()) {
        const std::string own = document["spf_record"];
        replace_record(document, own, remedy, *tenant.record);
        document["spf_record"] = *tenant.record;
        // The row's notes were about its own record (its length, what it flattened).
        if (*tenant.record != own) document.erase("spf_record_notes");
      } else if (!tenant.record && document["spf_record"].is_string()) {
        // The row's own record would drop the batch's other devices.
        document["spf_record"] = nullptr;
        document.erase("spf_record_notes");
      }
      document["tenant_spf"] = entry;
      results[i].tenant_spf = tenant;
    }
  }
}

}  // namespace diag::preflight
