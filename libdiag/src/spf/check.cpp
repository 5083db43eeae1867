// sendcheck-spf's work: input validated into a plan, the tree and every IP
// evaluated through one answer cache, and the report (JSON or text).
#include <algorithm>
#include <chrono>
#include <ctime>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/spf.h"
#include "diag/strings.h"
#include "diag/version.h"

namespace diag::spf {
namespace {

using diag::strings::join;

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &utc);
  return buffer;
}

// The fix for a fail, softfail or neutral: when the all term decided, the device's
// term goes before it; when a term with a fail qualifier matched the address
// first (say "-ip4:203.0.113.99", or "-include:x"), a term added before the
// all term is never reached, and that term is what stands in the way. The
// deciding term is the first on the path that carries the qualifier: an
// include's own pass term under "-include:x" is not it.
std::string not_authorized_remedy(const SpfEvaluation& evaluation, const std::string& who, const std::string& term) {
  const auto& path = evaluation.path;
  std::size_t deciding = path.size();
  for (std::size_t i = 1; i < path.size(); ++i)
    if (path[i].starts_with('-') || path[i].starts_with('~') || path[i].starts_with('?')) {
      deciding = i;
      break;
    }
  const bool by_all = deciding == path.size() || path[deciding].ends_with("all");
  // The all term of a redirected record is not the domain's to edit: the
  // device's term goes in the domain's own record, before redirect=.
  const auto before_deciding = path.begin() + std::min(deciding, path.size());
  const auto redirect =
      std::find_if(path.begin(), before_deciding, [](const std::string& step) { return step.starts_with("redirect="); });
  if (by_all && redirect != before_deciding)
    return "If " + who + " is your device's public address, add \"" + term + "\" to the record of " + path[0] +
           ", before its " + *redirect + "; --suggest writes the record.";
  if (by_all)
    return "If " + who + " is your device's public address, add \"" + term + "\" before the all term; --suggest writes the record.";
  const std::string& decided_by = path[deciding];
  return "\"" + decided_by + "\" (in " + path[deciding - 1] + ") matches " + who +
         " and decides against it before the all term is reached. If " + who +
         " is your device's public address and was not denied on purpose, remove that term or put \"" + term +
         "\" before it; --suggest writes the record.";
}

nlohmann::json networks_json(const std::vector<Network>& networks) {
  auto out = nlohmann::json::array();
  for (const auto& network : networks) out.push_back(network.to_string());
  return out;
}

// Whether any name the tree looks up has no DNS data at all, rather than
// only no A (or AAAA) records.
bool tree_has_missing_names(const TreeNode& node) {
  return !node.void_terms.empty() || std::any_of(node.children.begin(), node.children.end(), tree_has_missing_names);
}

Check result_check(const std::string& domain, const IpAddress& ip, const SpfEvaluation& evaluation, bool missing_names) {
  Check check;
  check.id = "spf.result";
  check.fields["ip"] = ip.to_string();
  check.fields["domain"] = domain;
  const std::string who = ip.to_string();
  const std::string term = (ip.is_v4() ? "ip4:" : "ip6:") + who;
  const std::string via = evaluation.path.empty() ? "" : " (" + join(evaluation.path, " > ") + ")";
  switch (evaluation.result) {
    case SpfResult::pass:
      check.status = Status::pass;
      check.message = "Mail from " + who + " as " + domain + " passes SPF" + via + ".";
      break;
    case SpfResult::fail:
      check.status = Status::fail;
      check.message = "Mail from " + who + " as " + domain + " fails SPF" + via + ": receivers may reject it.";
      check.remedy = not_authorized_remedy(evaluation, who, term);
      break;
    case SpfResult::softfail:
      check.status = Status::warn;
      check.message = "Mail from " + who + " as " + domain + " soft-fails SPF" + via + ": Microsoft 365 is likely to junk it.";
      check.remedy = not_authorized_remedy(evaluation, who, term);
      break;
    case SpfResult::neutral:
    case SpfResult::none:
      check.status = Status::warn;
      check.message = "Mail from " + who + " as " + domain + " gets SPF " + std::string(to_string(evaluation.result)) + via +
                      (evaluation.reason.empty() ? "" : ": " + evaluation.reason) + "; it is not authenticated by SPF.";
      // A "?" term that matched first stands in the way of any term after it.
      check.remedy = evaluation.result == SpfResult::neutral && evaluation.path.size() > 1 && !evaluation.matched.ends_with("all")
                         ? not_authorized_remedy(evaluation, who, term)
                         : "Authorize the address explicitly with \"" + term + "\", and end the record with ~all or -all.";
      break;
    case SpfResult::permerror:
      check.status = Status::fail;
      check.message = "Checking " + who + " against " + domain + " ends in permerror" + via + ": " + evaluation.reason + ".";
      check.remedy = "Fix the record: receivers treat a permerror like a missing or broken SPF record for every message.";
      if (const std::string stopped_at = evaluation.path.size() > 1 ? evaluation.path.back() : std::string();
          evaluation.limit_reached == LimitReached::none && is_include_term(stopped_at)) {
        // The include that broke is what to fix; a misspelled Microsoft
        // include has one right answer.
        const std::string target = stopped_at.substr(stopped_at.find(':') + 1);
        if (const auto meant = misspelled_microsoft_include(target))
          check.remedy = "Replace \"" + stopped_at + "\" with \"include:" + *meant + "\", Microsoft's include (a misspelling); --suggest writes a verified record.";
        else if (const auto service = misspelled_service_include(target))
          check.remedy = "Replace \"" + stopped_at + "\" with \"include:" + std::string(service->include) + "\", the include of " +
                         std::string(service->service) + " (a misspelling), or remove it if you do not send through " + std::string(service->service) +
                         "; --suggest writes a verified record.";
        else
          check.remedy = "Fix or remove \"" + stopped_at + "\" (its owner must publish one valid SPF record there), or put the device's ip4:/ip6: term before it; --suggest writes a verified record.";
      }
      if (evaluation.limit_reached == LimitReached::lookups) {
        check.message += " The domain's lookups run out before a term that authorizes " + who + " is reached, so this device's mail fails.";
        check.remedy = "Bring the tree to 10 lookups or fewer (sendcheck spf " + domain + " shows what each include costs), or put the device's ip4:/ip6: term before the includes; --suggest writes a verified record.";
      } else if (evaluation.limit_reached == LimitReached::void_lookups) {
        check.message += " More than 2 of the names the record looks up for " + who + " find nothing before a term that authorizes it is reached, so this device's mail fails.";
        // exists:%{i}... builds a name per sender: its void lookups are this
        // address's, not a missing host's.
        const std::string& stopped_at = evaluation.path.size() > 1 ? evaluation.path.back() : evaluation.matched;
        const bool per_sender = stopped_at.find('%') != std::string::npos ||
                                ascii::to_lower(stopped_at).find("exists:") != std::string::npos;
        if (per_sender) {
          check.remedy = "Put the device's ip4:/ip6: term before the terms that look up a name built from the sender's address (\"" +
                         stopped_at + "\" and those before it find nothing for " + who + "); --suggest writes a verified record.";
          break;
        }
        check.remedy = (missing_names ? "Remove or fix the terms whose names do not exist"
                                      : std::string("Replace the a/mx terms whose hosts have no ") + (ip.is_v4() ? "A" : "AAAA") +
                                            " records with " + (ip.is_v4() ? "ip6:" : "ip4:") + " terms for their addresses, or publish " +
                                            (ip.is_v4() ? "A" : "AAAA") + " records for them") +
                       " (the void-lookup finding names them), or put the device's ip4:/ip6: term before them; --suggest writes a verified record.";
      }
      break;
    case SpfResult::temperror:
      check.status = Status::error;
      check.message = "Could not finish checking " + who + " against " + domain + " (temperror" + via + "): " + evaluation.reason + ".";
      check.remedy = "Try again, or use --dns with another resolver; receivers defer or junk mail while this lasts.";
      break;
  }
  // RFC 1918, CGNAT and the like: not what Microsoft 365 sees, whatever the record says.
  if (const auto kind = non_public_kind(ip); !kind.empty() && check.status != Status::error) {
    check.status = Status::warn;
    check.message += " But " + who + " is a " + std::string(kind) + " address: Microsoft 365 sees the device's public address, so this result does not apply to its mail.";
    check.remedy = "Run `sendcheck blocklist --egress` from the device's network to find its public address, and check that one with --ip.";
  }
  return check;
}

std::string render_node(const TreeNode& node, const TextStyle& style, int depth) {
  const std::string indent(2 + depth * 2, ' ');
  std::string out = indent + (node.via.empty() ? style.bold(idna::display(node.domain)) : node.via);
  out += "  [" + std::to_string(node.lookups) + (node.lookups == 1 ? " lookup" : " lookups");
  if (node.lookups_total != node.lookups) out += ", " + std::to_string(node.lookups_total) + " with includes";
  if (node.void_lookups) out += ", " + std::to_string(node.void_lookups) + " void";
  out += "]";
  if (node.status != "ok") out += "  " + node.status + (node.detail.empty() ? "" : ": " + node.detail);
  out += "\n";
  if (!node.record.empty()) out += style.dim(indent + "  " + node.record) + "\n";
  for (const auto& other : node.other_records) out += style.dim(indent + "  " + other) + "\n";
  for (const auto& child : node.children) out += render_node(child, style, depth + 1);
  return out;
}

}  // namespace

Result<SpfCheckPlan> plan_check(const SpfCheckRequest& request) {
  SpfCheckPlan plan;
  std::string domain = request.domain;
  const bool typed = !domain.empty();
  // A reverse-path as copied from a log: "<user@domain>" is user@domain, and
  // "<>" is the null reverse-path, checked as postmaster@HELO (RFC 7208 2.4).
  std::string sender = request.sender;
  const bool null_sender = sender == "<>";
  if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>') sender = sender.substr(1, sender.size() - 2);
  if (null_sender && request.helo.empty()) return bad_input("--sender \"<>\" (the null reverse-path) is checked as postmaster@HELO: give --helo too");
  if (!typed) {
    // RFC 7208 2.4: MAIL FROM's domain, or the HELO name when MAIL FROM is empty.
    const std::size_t at = sender.rfind('@');
    if (!sender.empty()) domain = at == std::string::npos ? sender : sender.substr(at + 1);
    else domain = request.helo;
  }
  if (domain.empty() && sender.empty() && request.helo.empty())
    return bad_input("no domain given (DOMAIN, --sender ADDR or --helo NAME)");
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  // A Unicode domain is looked up as its A-label form (RFC 8616 4: SPF on
  // an internationalized domain uses A-labels). One typed that IDNA 2008
  // refuses is bad input; from --sender or --helo it stays as the device
  // gave it and evaluates as the RFC says.
  if (auto ascii_form = idna::to_ascii(domain)) domain = *ascii_form;
  else if (typed) return ascii_form.error();
  // The DOMAIN an admin types is checked as a domain. A --sender or --helo
  // is an identity as a device presented it (copied from a log): RFC 7208
  // evaluates a malformed one, an IP literal HELO included, to "none" (4.3,
  // 2.3), and so do we, instead of refusing it.
  if (typed && !is_valid_check_domain(domain))
    return bad_input("\"" + domain + "\" is not a domain name SPF can check (it needs two or more labels of 1 to 63 characters)");
  plan.domain = ascii::to_lower(domain);
  for (const auto& text : request.ips) {
    auto ip = IpAddress::parse(text);
    if (!ip) return bad_input("--ip \"" + text + "\" is not an IPv4 or IPv6 address");
    // RFC 7208 5: ::ffff:a.b.c.d is checked, reported and suggested as a.b.c.d.
    plan.ips.push_back(unmapped(*ip));
  }
  // A syntax error inside --record is a finding about the record (reported
  // with its position), not bad input; only a text that is no SPF record is.
  if (request.record && !is_spf_record(*request.record)) return bad_input("--record must start with \"v=spf1\"");
  plan.base.sender = sender;
  plan.base.helo = request.helo.empty() ? plan.domain : request.helo;
  plan.helo_given = !request.helo.empty();
  if (plan.base.sender.empty() && request.helo.empty()) plan.base.sender = "postmaster@" + plan.domain;
  plan.base.domain = plan.domain;
  plan.base.default_explanation = request.default_explanation;
  plan.base.record_override = request.record;
  plan.suggest = request.suggest;
  plan.exchange_online_sends = request.exchange_online_sends;
  return plan;
}

namespace {

// RFC 7208 4.3: a --sender or --helo whose domain SPF cannot check has
// nothing to look up.
TreeValidation unchecked_domain_tree(const std::string& domain) {
  TreeValidation tree;
  tree.domain = domain;
  tree.root.domain = domain;
  tree.root.status = "none";
  tree.root.detail = "not a domain name SPF can check (RFC 7208 4.3)";
  Check check{"spf.record", Status::warn,
              "\"" + domain + "\" is not a domain name SPF can check: RFC 7208 4.3 makes the result \"none\", and no record was looked up.",
              "Have the device present a fully qualified host name in HELO/EHLO and a MAIL FROM address in a domain you publish SPF for.",
              nlohmann::json::object()};
  check.fields["domain"] = domain;
  tree.checks.push_back(std::move(check));
  return tree;
}

DeviceIdentity device_identity(const SpfCheckPlan& plan) { return DeviceIdentity{plan.base.sender, plan.base.helo}; }

bool has_tree(const SpfCheckPlan& plan) { return is_valid_check_domain(plan.domain) || plan.base.record_override; }

// A part of the tree that could not be read, when every address got a
// definite result, is a finding about the record, not a check that could
// not complete: the results did not need it (an evaluation that met a
// failed lookup would be temperror), and the exit code must not say 3
// next to a definite pass or fail.
void soften_unneeded_tree_errors(SpfCheckOutcome& outcome) {
  const bool results_definite =
      !outcome.results.empty() && std::none_of(outcome.results.begin(), outcome.results.end(), [](const auto& result) {
        return result.second.result == SpfResult::temperror;
      });
  if (results_definite)
    for (auto& check : outcome.tree.checks)
      if (check.status == Status::error) {
        check.status = Status::warn;
        check.message += " No result above depends on it: every address was decided without it.";
      }
}

// The plan's check with the address no server has: a term whose lookup
// passes it passes anyone.
CheckHostInput probe_input(const SpfCheckPlan& plan) {
  CheckHostInput probe = plan.base;
  probe.ip = unused_address_probe();
  return probe;
}

}  // namespace

SpfCheckOutcome run_check(SpfResolver& resolver, const SpfCheckPlan& plan) {
  SpfCheckOutcome outcome;
  outcome.today = today_utc();
  AnswerCache cache;
  // The addresses first: each result comes as soon as the questions it
  // needs are answered, whatever else of the tree is still on its way.
  for (const auto& ip : plan.ips) {
    CheckHostInput input = plan.base;
    input.ip = ip;
    outcome.results.emplace_back(ip, check_host(resolver, cache, input));
  }
  if (!has_tree(plan)) {
    outcome.tree = unchecked_domain_tree(plan.domain);
    return outcome;
  }
  TreeOptions tree_options;
  if (!plan.ips.empty() && plan.tree_wait_after_results)
    tree_options.stop_waiting_at = std::chrono::steady_clock::now() + *plan.tree_wait_after_results;
  outcome.tree = validate_tree(resolver, cache, plan.domain, plan.base.record_override, tree_options);
  if (!lookup_terms_to_probe(outcome.tree).empty()) {
    if (auto finding = unused_address_finding(outcome.tree, check_host(resolver, cache, probe_input(plan))))
      outcome.tree.checks.push_back(std::move(*finding));
  }
  note_open_terms_pass_microsoft(outcome.tree);
  {
    std::vector<std::pair<IpAddress, SpfEvaluation>> exchange_online;
    for (const auto& address : exchange_online_addresses_in_tree(outcome.tree)) {
      CheckHostInput input = plan.base;
      input.ip = address;
      exchange_online.emplace_back(address, check_host(resolver, cache, input));
    }
    note_exchange_online_results(outcome.tree, exchange_online);
  }
  soften_unneeded_tree_errors(outcome);
  if (plan.suggest)
    outcome.suggestion = suggest_record(resolver, cache, outcome.tree, plan.ips, outcome.today, plan.exchange_online_sends, device_identity(plan));
  return outcome;
}

void start_check(SpfResolver& resolver, const SpfCheckPlan& plan, std::function<void(SpfCheckOutcome)> on_done) {
  struct Run {
    SpfResolver& resolver;
    SpfCheckPlan plan;
    std::function<void(SpfCheckOutcome)> on_done;
    std::shared_ptr<AnswerCache> cache = std::make_shared<AnswerCache>();
    SpfCheckOutcome outcome;
    std::size_t results_open = 0;

    static void report(const std::shared_ptr<Run>& run) {
      auto done = std::move(run->on_done);
      done(std::move(run->outcome));
    }
    static void start_tree(const std::shared_ptr<Run>& run) {
      if (!has_tree(run->plan)) {
        run->outcome.tree = unchecked_domain_tree(run->plan.domain);
        return report(run);
      }
      start_validate_tree(run->resolver, run->cache, run->plan.domain, run->plan.base.record_override, TreeOptions{},
                          [run](TreeValidation tree) {
                            run->outcome.tree = std::move(tree);
                            if (lookup_terms_to_probe(run->outcome.tree).empty()) return finish(run);
                            start_check_host(run->resolver, run->cache, probe_input(run->plan), EngineOptions{},
                                             [run](SpfEvaluation evaluation) {
                              if (auto finding = unused_address_finding(run->outcome.tree, evaluation))
                                run->outcome.tree.checks.push_back(std::move(*finding));
                              finish(run);
                            });
                          });
    }
    static void finish(const std::shared_ptr<Run>& run) {
      note_open_terms_pass_microsoft(run->outcome.tree);
      const auto addresses = exchange_online_addresses_in_tree(run->outcome.tree);
      if (addresses.empty()) return conclude(run);
      // In the order of the addresses, whichever answers first.
      auto results = std::make_shared<std::vector<std::pair<IpAddress, SpfEvaluation>>>();
      for (const auto& address : addresses) results->emplace_back(address, SpfEvaluation{});
      auto open = std::make_shared<std::size_t>(addresses.size());
      for (std::size_t i = 0; i < addresses.size(); ++i) {
        CheckHostInput input = run->plan.base;
        input.ip = addresses[i];
        start_check_host(run->resolver, run->cache, input, EngineOptions{}, [run, results, open, i](SpfEvaluation evaluation) {
          (*results)[i].second = std::move(evaluation);
          if (--*open > 0) return;
          note_exchange_online_results(run->outcome.tree, *results);
          conclude(run);
        });
      }
    }
    static void conclude(const std::shared_ptr<Run>& run) {
      soften_unneeded_tree_errors(run->outcome);
      if (run->plan.suggest)
        run->outcome.suggestion = suggest_record(run->resolver, *run->cache, run->outcome.tree, run->plan.ips, run->outcome.today,
                                                 run->plan.exchange_online_sends, device_identity(run->plan));
      report(run);
    }
  };
  auto run = std::make_shared<Run>(Run{resolver, plan, std::move(on_done), std::make_shared<AnswerCache>(), {}, 0});
  run->outcome.today = today_utc();
  run->results_open = plan.ips.size();
  for (const auto& ip : plan.ips) run->outcome.results.emplace_back(ip, SpfEvaluation{});
  if (plan.ips.empty()) {
    resolver.defer([run] { Run::start_tree(run); });
    return;
  }
  // Every address at once, then the tree over the answers they brought.
  for (std::size_t k = 0; k < plan.ips.size(); ++k) {
    CheckHostInput input = plan.base;
    input.ip = plan.ips[k];
    start_check_host(resolver, run->cache, input, EngineOptions{}, [run, k](SpfEvaluation evaluation) {
      run->outcome.results[k].second = std::move(evaluation);
      if (--run->results_open == 0) Run::start_tree(run);
    });
  }
}

nlohmann::json tree_to_json(const TreeNode& node) {
  nlohmann::json out = {{"domain", node.domain},
                        {"via", node.via},
                        {"record", node.record},
                        {"other_records", node.other_records},
                        {"status", node.status},
                        {"detail", node.detail},
                        {"lookups", node.lookups},
                        {"lookups_total", node.lookups_total},
                        {"void_lookups", node.void_lookups},
                        {"void_terms", node.void_terms},
                        {"unresolved_terms", node.unresolved_terms},
                        {"networks", networks_json(node.networks)},
                        {"all", node.all_term}};
  auto children = nlohmann::json::array();
  for (const auto& child : node.children) children.push_back(tree_to_json(child));
  out["children"] = std::move(children);
  return out;
}

Report make_report(SpfCheckOutcome& outcome, const SpfCheckPlan& plan, std::string* text, const TextStyle& style) {
  Report report("sendcheck-spf", diag::version);
  const TreeValidation& tree = outcome.tree;
  // The devices' own results decide; domain-wide findings that do not change them are domain health.
  std::vector<Check> tree_checks = outcome.tree.checks;
  separate_domain_health(tree_checks, outcome.results);
  for (const auto& [ip, evaluation] : outcome.results) {
    Check check = result_check(plan.domain, ip, evaluation, tree_has_missing_names(tree.root));
    // %{h}: the result is the HELO name's; another client name may differ.
    if (evaluation.helo_used && evaluation.result != SpfResult::temperror) {
      check.message += " The record looks up the EHLO name (%{h}): this is the result for " + plan.base.helo + ".";
      check.fields["helo"] = plan.base.helo;
      if (!plan.helo_given)
        check.remedy += std::string(check.remedy.empty() ? "" : " ") +
                        "Give --helo with the name the device sends with EHLO: the result may differ for it.";
    }
    report.add(std::move(check));
  }
  for (auto& check : tree_checks) report.add(std::move(check));
  if (outcome.suggestion && outcome.suggestion->record.empty())
    report.add(Check{"spf.suggestion", Status::warn, outcome.suggestion->reason,
                     "Fix what it names, then run --suggest again; publish only a record that was verified.", {}});

  auto results = nlohmann::json::array();
  for (const auto& [ip, e] : outcome.results)
    results.push_back({{"ip", ip.to_string()},
                       {"result", to_string(e.result)},
                       {"explanation", e.result == SpfResult::fail ? e.explanation : ""},
                       {"reason", e.reason},
                       {"matched", e.matched},
                       {"path", e.path},
                       {"lookups", e.lookups},
                       {"void_lookups", e.void_lookups}});
  report.fields()["domain"] = plan.domain;
  report.fields()["record"] = tree.root.record;
  report.fields()["tree"] = {{"lookups", tree.lookups},
                             {"void_lookups", tree.void_lookups},
                             {"void_lookups_ipv4", tree.void_lookups_v4},
                             {"void_lookups_ipv6", tree.void_lookups_v6},
                             {"networks", networks_json(tree.networks)},
                             {"complete", tree.complete},
                             {"spf_rr_type", tree.spf_rr_type_known ? nlohmann::json(tree.spf_rr_type_published) : nlohmann::json(nullptr)},
                             {"root", tree_to_json(tree.root)}};
  report.fields()["results"] = std::move(results);
  if (outcome.suggestion) {
    const Suggestion& s = *outcome.suggestion;
    // "record" is always a verified record, or null with the reason.
    nlohmann::json suggestion = {{"record", s.record.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.record)},
                                 {"reason", s.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.reason)},
                                 {"lookups", s.lookups},
                                 {"void_lookups", s.void_lookups},
                                 {"verified", s.verified},
                                 {"changed", s.changed},
                                 {"flattened", s.flattened ? nlohmann::json(outcome.today) : nlohmann::json(nullptr)},
                                 {"verification", s.verification},
                                 {"notes", s.notes}};
    auto not_public = nlohmann::json::array();
    for (const auto& ip : s.not_public) not_public.push_back(ip.to_string());
    suggestion["not_public"] = std::move(not_public);
    report.fields()["suggestion"] = std::move(suggestion);
  }
  if (!text) return report;

  std::string& out = *text;
  out += style.bold("SPF for " + plan.domain) + (plan.base.record_override ? "  (--record: what-if, not the published record)" : "") + "\n";
  // An IPv4 sender asks only A records, an IPv6 sender only AAAA: each
  // family has its own void lookups (RFC 7208 5.3).
  const std::string voids = tree.void_lookups_v4 == tree.void_lookups_v6
                                ? std::to_string(tree.void_lookups_v4) + " void"
                                : std::to_string(tree.void_lookups_v4) + " void for IPv4 senders, " +
                                      std::to_string(tree.void_lookups_v6) + " for IPv6 senders";
  out += "  tree: " + std::to_string(tree.lookups) + " of 10 DNS lookups, " + voids + "\n";
  out += render_node(tree.root, style, 0);
  if (!tree.networks.empty()) {
    std::vector<std::string> nets;
    for (const auto& n : tree.networks) nets.push_back(n.to_string());
    out += "  authorizes: " + join(nets, " ") + "\n";
    if (tree.lookups > 10)
      out += "    (only as far as the 10th DNS lookup: a check that needs more ends in permerror, so networks reached later do not pass)\n";
  }
  for (const auto& [ip, e] : outcome.results) {
    out += "  " + style.bold(ip.to_string()) + "  " + std::string(to_string(e.result)) + "  " + join(e.path, " > ") +
           style.dim("  (lookups " + std::to_string(e.lookups) + ", void " + std::to_string(e.void_lookups) + ")") + "\n";
    if (e.result == SpfResult::fail) out += "    explanation: " + e.explanation + "\n";
    else if (!e.reason.empty() && e.result != SpfResult::pass) out += "    " + e.reason + "\n";
  }
  std::vector<Check> device_checks, domain_health;
  for (const auto& check : report.checks())
    (check.fields.is_object() && check.fields.value("group", "") == "domain health" ? domain_health : device_checks).push_back(check);
  out += render_checks_text(device_checks, style, "  ");
  if (!domain_health.empty()) {
    out += style.bold("  domain health") + style.dim("  (does not change the result for the given addresses)") + "\n";
    out += render_checks_text(domain_health, style, "  ");
  }
  if (outcome.suggestion) {
    const Suggestion& s = *outcome.suggestion;
    if (!s.record.empty()) {
      out += style.bold("  suggested record") + " (verified offline" + (s.flattened ? ", flattened " + outcome.today : "") + "):\n";
      out += "    " + s.record + "\n";
    } else {
      out += style.bold("  no record suggested") + "\n    " + s.reason + "\n";
    }
    for (const auto& line : s.verification) out += style.dim("    verified: " + line) + "\n";
    for (const auto& note : s.notes) out += "    " + note + "\n";
  }
  return report;
}

}  // namespace diag::spf
