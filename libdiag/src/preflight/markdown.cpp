// sendcheck-preflight --markdown: the report pasted into a ticket. Same
// content as the text form; only the layout is Markdown (a GFM table).
#include <algorithm>
#include <cctype>

#include "diag/ascii.h"
#include "diag/preflight.h"

namespace diag::preflight {
namespace {

// Text outside a table: one line, since a break would end a list item.
std::string one_line(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') continue;
    out += text[i] == '\n' ? ' ' : text[i];
  }
  return out;
}

// A fence longer than any run of backticks inside (CommonMark 4.5).
std::string fence_for(std::string_view text) {
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

}  // namespace

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '|') out += "\\|";  // GFM tables: \| is a literal pipe, even inside code spans
    else if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;
      out += "<br>";
    } else if (c == '\n') out += "<br>";
    else out += c;
  }
  return out;
}

std::string render_markdown(const Outcome& outcome, const Plan& plan) {
  std::string out;
  const std::string label = outcome.works ? (*outcome.works ? "Will work" : "Will not work") : "Not checked completely";
  out += "## Preflight: " + label + "\n\n";
  out += one_line(outcome.verdict) + "\n\n";
  if (plan.recommendation) {
    const Recommendation& r = *plan.recommendation;
    out += "### Recommended method\n\n";
    out += "**" + std::string(describe(plan.method)) + "** (`" + std::string(to_string(plan.method)) + "`) for a device with " +
           describe(r.device) + ": " + one_line(r.why) + "\n\n";
    for (const auto& fit : r.methods) {
      if (fit.method == plan.method) continue;
      out += "- `" + std::string(to_string(fit.method)) + "`: ";
      if (fit.fits) out += "also fits" + (fit.needs.empty() ? "" : " (" + one_line(fit.needs) + ")");
      else {
        out += "does not fit: ";
        for (std::size_t i = 0; i < fit.reasons.size(); ++i) out += (i ? "; " : "") + one_line(fit.reasons[i]);
      }
      out += "\n";
    }
    out += "\n";
  }
  out += "### Checklist\n\n";
  out += "| Status | Check | Evidence | Remedy |\n|---|---|---|---|\n";
  for (const auto& section : outcome.sections)
    for (const auto& check : section.checks) {
      const std::string status = is_skipped(check) ? "SKIP" : ascii::to_upper(to_string(check.status));
      const bool show_remedy = check.status != Status::pass && check.status != Status::info;
      out += "| " + status + " | " + markdown_cell(section.title) + ": `" + markdown_cell(check.id) + "` | " + markdown_cell(check.message) +
             " | " + (show_remedy ? markdown_cell(check.remedy) : std::string()) + " |\n";
    }
  if (!outcome.next_steps.empty()) {
    out += "\n### Next steps\n\n";
    for (std::size_t i = 0; i < outcome.next_steps.size(); ++i)
      out += std::to_string(i + 1) + ". " + one_line(outcome.next_steps[i]) + "\n";
  }
  if (outcome.spf_record) {
    const std::string fence = fence_for(*outcome.spf_record);
    out += "\n### SPF record to publish for " + plan.from_domain + "\n\n" + fence + "\n" + *outcome.spf_record + "\n" + fence + "\n";
  }
  return out;
}

}  // namespace diag::preflight
