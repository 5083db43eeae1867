// sendcheck-preflight's report: the verdict first, the checklist by part,
// the next steps in order, and the parts' JSON under one envelope.
#include <algorithm>

#include "diag/preflight.h"
#include "diag/version.h"

namespace diag::preflight {
namespace {

constexpr const char* tool = "sendcheck-preflight";

// Blocking problems first: without an MX, a port or a tenant that takes the
// mail, nothing else matters; then what decides Junk (blocklists, SPF, DMARC).
constexpr std::string_view step_order[] = {"input", "mx", "smtp", "connector", "blocklist", "spf", "dmarc"};

std::size_t rank(std::string_view section) {
  for (std::size_t i = 0; i < std::size(step_order); ++i)
    if (step_order[i] == section) return i;
  return std::size(step_order);
}

std::string who(const Outcome& outcome, const Plan& plan) {
  std::string out(describe(plan.method));
  const bool submission = plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs;
  if (submission) {
    out += " to " + (outcome.smtp_target.empty() ? plan.endpoint.host + ":" + std::to_string(plan.endpoint.port) : outcome.smtp_target);
    if (!plan.user.empty()) out += " as " + plan.user;
    else if (!plan.from.empty()) out += " as " + plan.from;
    return out;
  }
  out += " from " + (outcome.ip ? outcome.ip->to_string() : std::string("(unknown address)")) + " as " + plan.from;
  return out;
}

std::string_view short_name(std::string_view section) {
  if (section == "input") return "Recipients";
  if (section == "mx") return "MX";
  if (section == "spf") return "SPF";
  if (section == "dmarc") return "DMARC";
  if (section == "blocklist") return "Blocklists";
  if (section == "connector") return "Client certificate";
  return "SMTP";
}

std::string label(const Check& check, const TextStyle& style) {
  if (is_skipped(check)) return style.dim("SKIP ");
  return style.status_label(check.status);
}

}  // namespace

Report make_report(Outcome& outcome, const Plan& plan, std::string* text, const TextStyle& style) {
  Report report(tool, diag::version);
  for (auto& section : outcome.sections)
    for (auto& check : section.checks) {
      check.fields["section"] = section.id;
      report.add(check);
    }

  // The verdict: the worst row decides; the reasons are each part's first
  // row of that status.
  const Status worst = report.status();
  std::vector<std::string> reasons;
  const Status wanted = worst == Status::error ? Status::error : Status::fail;
  for (const auto& section : outcome.sections)
    for (const auto& check : section.checks)
      if (check.status == wanted) {
        reasons.push_back(check.message);
        break;
      }
  auto join_reasons = [&] {
    std::string out;
    for (std::size_t i = 0; i < reasons.size() && i < 3; ++i) out += (i ? "; and " : "") + reasons[i];
    return out;
  };
  if (worst == Status::error) {
    outcome.works.reset();
    outcome.verdict = who(outcome, plan) + " could not be checked completely because " + join_reasons();
  } else if (worst == Status::fail) {
    outcome.works = false;
    outcome.verdict = who(outcome, plan) + " will not work because " + join_reasons();
  } else {
    outcome.works = true;
    outcome.verdict = who(outcome, plan) + " will work" + (worst == Status::warn ? " (with warnings below)" : "");
  }

  // Next steps: the remedies of failures, then of warnings, blocking parts first.
  outcome.next_steps.clear();
  for (Status level : {Status::error, Status::fail, Status::warn}) {
    std::vector<const Section*> sections;
    for (const auto& section : outcome.sections) sections.push_back(&section);
    std::stable_sort(sections.begin(), sections.end(), [](const Section* a, const Section* b) { return rank(a->id) < rank(b->id); });
    for (const Section* section : sections)
      for (const auto& check : section->checks) {
        if (check.status != level || check.remedy.empty()) continue;
        const std::string step = std::string(short_name(section->id)) + ": " + check.remedy;
        if (std::find(outcome.next_steps.begin(), outcome.next_steps.end(), step) == outcome.next_steps.end())
          outcome.next_steps.push_back(step);
      }
  }

  auto& fields = report.fields();
  fields["method"] = to_string(plan.method);
  fields["domain"] = plan.domain;
  fields["ip"] = outcome.ip ? nlohmann::json(outcome.ip->to_string()) : nlohmann::json(nullptr);
  fields["from"] = plan.from;
  fields["to"] = plan.to;
  fields["external_recipients"] = plan.external;
  fields["verdict"] = {{"works", outcome.works ? nlohmann::json(*outcome.works) : nlohmann::json(nullptr)}, {"text", outcome.verdict}};
  fields["next_steps"] = outcome.next_steps;
  fields["spf_record"] = outcome.spf_record ? nlohmann::json(*outcome.spf_record) : nlohmann::json(nullptr);
  for (auto& [key, value] : outcome.fields.items()) fields[key] = value;
  if (!text) return report;

  std::string& out = *text;
  const std::string verdict_label = outcome.works ? (*outcome.works ? "WILL WORK" : "WILL NOT WORK") : "NOT CHECKED COMPLETELY";
  if (plan.recommendation) {
    // --method auto: the recommendation first, then why each other method does not fit.
    const Recommendation& r = *plan.recommendation;
    out += style.bold("RECOMMENDED") + "  " + std::string(describe(plan.method)) + " (" + std::string(to_string(plan.method)) +
           ") for a device with " + describe(r.device) + ": " + r.why + "\n";
    for (const auto& fit : r.methods) {
      if (fit.method == plan.method) continue;
      out += "  " + std::string(to_string(fit.method)) + ": ";
      if (fit.fits) out += "also fits (it needs " + fit.needs + ")";
      else
        for (std::size_t i = 0; i < fit.reasons.size(); ++i) out += (i ? "; and " : "does not fit: ") + fit.reasons[i];
      out += "\n";
    }
    out += "\n";
  }
  out += style.bold(verdict_label) + "  " + outcome.verdict + "\n\n";
  out += style.bold("Checklist") + "\n";
  for (const auto& section : outcome.sections) {
    out += "  " + style.bold(section.title) + "\n";
    for (const auto& check : section.checks) {
      out += "    " + label(check, style) + " " + check.message + "\n";
      if (!check.remedy.empty() && check.status != Status::pass && check.status != Status::info)
        out += "          -> " + check.remedy + "\n";
    }
  }
  if (!outcome.next_steps.empty()) {
    out += "\n" + style.bold("Next steps") + "\n";
    for (std::size_t i = 0; i < outcome.next_steps.size(); ++i)
      out += "  " + std::to_string(i + 1) + ". " + outcome.next_steps[i] + "\n";
  }
  if (outcome.spf_record) out += "\n" + style.bold("SPF record to publish for " + plan.from_domain) + "\n  " + *outcome.spf_record + "\n";
  return report;
}

int run_tool(const ToolOptions& options) {
  if (options.markdown && options.common.json) return cli::print_error(tool, "--markdown and --json exclude each other"), exit_usage;
  if (!options.batch_file.empty()) return run_batch_tool(options);
  auto plan = make_plan(options);
  if (!plan) return cli::print_error(tool, plan.error().message), exit_usage;
  auto config = cli::resolver_config(options.common, tool);
  if (!config) return cli::print_error(tool, config.error().message), cli::exit_code_for(config.error());
  auto outcome = run_preflight(*plan, *config);
  if (!outcome) return cli::print_error(tool, outcome.error().message), cli::exit_code_for(outcome.error());
  std::string text;
  const bool want_text = !options.common.json && !options.markdown;
  Report report = make_report(*outcome, *plan, want_text ? &text : nullptr, TextStyle::for_stream(stdout, options.common.no_color));
  if (options.markdown) text = render_markdown(*outcome, *plan);
  return cli::finish(tool, report, text, options.common, &outcome->log);
}

}  // namespace diag::preflight
