// The verdict from the steps a method depends on, decided before anything is
// rendered; the next steps from the rows; the filtering-gateway table; and
// the text layout (wrapping to the terminal).
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "diag/ascii.h"
#include "diag/mx.h"
#include "diag/preflight.h"

namespace diag::preflight {
namespace {

// Blocking parts first: without recipients the method takes, an MX, a port
// or a tenant that takes the mail, nothing else matters; then what decides
// Junk (blocklists, SPF, DMARC); domain-wide health last.
constexpr std::string_view section_order[] = {"input", "mx", "smtp", "auth", "connector", "blocklist", "reverse", "spf", "dmarc", "acs-domain", "health"};

std::size_t section_rank(std::string_view section) {
  for (std::size_t i = 0; i < std::size(section_order); ++i)
    if (section_order[i] == section) return i;
  return std::size(section_order);
}

// The verdict line stays about 120 characters: at most this many causes in it.
constexpr std::size_t summary_causes = 2;

// Which steps speak for a section's FAIL rows: when one of them failed, the
// section's failures are in the verdict already (under that step's cause).
struct SectionSteps {
  std::string_view section;
  std::string_view steps[10];  // empty entries unused
};
const SectionSteps section_steps[] = {
    {"input", {"recipients", "address"}},
    {"mx", {"mx", "mx-ipv6", "recipient-mx"}},
    {"smtp", {"smtp", "envelope", "source", "device-tls", "connector", "auth", "basic-auth", "endpoint", "reject-direct-send", "recipient-kind"}},
    {"auth", {"auth", "token", "recipients", "basic-auth", "device-auth"}},
    {"spf", {"spf"}},
    {"dmarc", {"dmarc"}},
    {"blocklist", {"blocklist"}},
    {"reverse", {"reverse-dns"}},
    {"acs-domain", {"acs-domain"}},
    {"connector", {"connector-certificate"}},
};

bool section_has_failed_step(std::string_view section, const std::vector<Step>& steps) {
  for (const auto& entry : section_steps) {
    if (entry.section != section) continue;
    for (const auto& step : steps)
      if (step.state == StepState::failed && std::find(std::begin(entry.steps), std::end(entry.steps), step.id) != std::end(entry.steps)) return true;
  }
  return false;
}

// A cause cut at a word near limit characters, so that the verdict line stays short.
std::string short_cause(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  auto cut = text.rfind(' ', limit);
  if (cut == std::string::npos || cut < limit / 2) cut = limit;
  std::string out = text.substr(0, cut);
  while (!out.empty() && (out.back() == ',' || out.back() == ';' || out.back() == ':')) out.pop_back();
  return out + " ...";
}

}  // namespace

std::string_view to_string(StepState state) {
  switch (state) {
    case StepState::passed: return "passed";
    case StepState::failed: return "failed";
    case StepState::untested: return "untested";
  }
  return "untested";
}

std::string_view to_string(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::will_work: return "will-work";
    case VerdictKind::will_not_work: return "will-not-work";
    case VerdictKind::not_verified: return "not-verified";
  }
  return "not-verified";
}

std::string_view label(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::will_work: return "WILL WORK";
    case VerdictKind::will_not_work: return "WILL NOT WORK";
    case VerdictKind::not_verified: return "NOT VERIFIED";
  }
  return "NOT VERIFIED";
}

int Verdict::exit_code() const {
  switch (kind) {
    case VerdictKind::will_work: return exit_ok;
    case VerdictKind::will_not_work: return exit_finding;
    case VerdictKind::not_verified: return exit_incomplete;
  }
  return exit_incomplete;
}

Verdict decide(const std::string& method_text, const std::vector<Step>& steps) {
  Verdict verdict;
  for (const auto& step : steps) {
    if (step.state == StepState::failed) verdict.causes.push_back(step);
    else if (step.state == StepState::untested) verdict.untested.push_back(step);
  }
  // The whole line, label included, within about 200 characters (72 for a cause at most).
  const std::size_t room = method_text.size() + 40 < 200 ? 200 - method_text.size() - 40 : 60;
  auto join = [room](const std::vector<Step>& list) {
    const std::size_t shown = std::min(list.size(), summary_causes);
    const std::size_t each = std::max<std::size_t>(std::min<std::size_t>(72, room / std::max<std::size_t>(shown, 1)), 30) - 6;
    std::string out;
    for (std::size_t i = 0; i < shown; ++i) out += (i ? "; " : "") + short_cause(list[i].why, each);
    if (list.size() > summary_causes) out += "; and " + std::to_string(list.size() - summary_causes) + " more";
    return out;
  };
  if (!verdict.causes.empty()) {
    verdict.kind = VerdictKind::will_not_work;
    verdict.summary = method_text + " will not work: " + join(verdict.causes);
  } else if (!verdict.untested.empty() || steps.empty()) {
    verdict.kind = VerdictKind::not_verified;
    verdict.summary = method_text + " is not verified: " + (steps.empty() ? std::string("no step was tested") : join(verdict.untested));
  } else {
    verdict.kind = VerdictKind::will_work;
    verdict.summary = method_text + " will work: every step it depends on was tested and passed";
  }
  return verdict;
}

std::vector<Step> with_failed_rows(std::vector<Step> steps, const std::vector<Section>& sections) {
  std::vector<Step> added;
  for (const auto& section : sections) {
    // Domain health is, by construction, what does not change the device's result.
    if (section.id == "health" || section_has_failed_step(section.id, steps)) continue;
    for (const auto& check : section.checks)
      if (check.status == Status::fail && !is_skipped(check)) added.push_back(Step{check.id, StepState::failed, check.message, ""});
  }
  steps.insert(steps.end(), added.begin(), added.end());
  return steps;
}

std::vector<NextStep> next_steps_for(const std::vector<Section>& sections) {
  std::vector<const Section*> ordered;
  for (const auto& section : sections) ordered.push_back(&section);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Section* a, const Section* b) { return section_rank(a->id) < section_rank(b->id); });
  std::vector<NextStep> out;
  for (Status level : {Status::fail, Status::error, Status::warn})
    for (const Section* section : ordered)
      for (const auto& check : section->checks) {
        if (check.status != level || check.remedy.empty()) continue;
        const bool seen = std::any_of(out.begin(), out.end(), [&](const NextStep& step) { return step.remedy == check.remedy; });
        if (!seen) out.push_back(NextStep{check.id, section->id, check.remedy});
      }
  return out;
}

std::size_t terminal_width() {
  if (::isatty(STDOUT_FILENO) != 1) return 0;
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40) return size.ws_col;
  return 80;
}

std::string wrap(std::string_view text, std::size_t width, std::size_t indent) {
  if (width == 0 || width <= indent + 20) return std::string(text);
  std::string out;
  std::size_t column = 0;
  bool first_word = true;
  std::size_t i = 0, gap = 0;
  while (i < text.size()) {
    // Leading spaces of the first line are kept as they are.
    if (first_word && text[i] == ' ') {
      out += ' ';
      ++column;
      ++i;
      continue;
    }
    std::size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(i, end - i);
    // Escape sequences take no columns.
    std::size_t visible = 0;
    for (std::size_t k = 0; k < word.size(); ++k) {
      if (word[k] == '\x1b') {
        while (k < word.size() && word[k] != 'm') ++k;
        continue;
      }
      if ((static_cast<unsigned char>(word[k]) & 0xC0) != 0x80) ++visible;
    }
    if (!first_word && column + gap + visible > width) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (!first_word) {
      // The spaces between two words as they were ("FAIL  The").
      out += std::string(gap, ' ');
      column += gap;
    }
    out += word;
    column += visible;
    first_word = false;
    i = end;
    gap = 0;
    while (i < text.size() && text[i] == ' ') ++i, ++gap;
  }
  return out;
}

}  // namespace diag::preflight
