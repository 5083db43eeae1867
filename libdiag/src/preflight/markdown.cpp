// sendcheck-preflight --markdown: the report pasted into a ticket. The same
// verdict and rows as the text form, laid out for Markdown: a header with
// the date, the version and the inputs, the rows that need action first,
// and commands, records and addresses in code spans.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/ip.h"
#include "diag/preflight.h"
#include "diag/version.h"

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

// A code span around text, with a delimiter longer than any backtick run inside.
std::string code_span(std::string_view text) {
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string tick(longest + 1, '`');
  const bool pad = text.starts_with("`") || text.ends_with("`");
  return tick + (pad ? " " : "") + std::string(text) + (pad ? " " : "") + tick;
}

std::string escape_html(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// One term of an SPF record (RFC 7208 4.6.1): a mechanism with an optional
// qualifier, or a modifier. Prose after a record ("v=spf1 ... -all and
// delete the others") is not one, so the code span stops before it.
bool is_spf_term(std::string_view word) {
  if (word == "v=spf1") return true;
  if (!word.empty() && (word.front() == '+' || word.front() == '-' || word.front() == '~' || word.front() == '?')) word.remove_prefix(1);
  for (std::string_view mechanism : {"all", "a", "mx", "ptr"})
    if (word == mechanism) return true;
  for (std::string_view prefix : {"include:", "a:", "a/", "mx:", "mx/", "ptr:", "ip4:", "ip6:", "exists:"})
    if (word.starts_with(prefix) && word.size() > prefix.size()) return true;
  // A modifier, known or not (redirect=, exp=, flattened=): name "=" value.
  const auto equals = word.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == word.size() || !std::isalpha(static_cast<unsigned char>(word[0])))
    return false;
  return std::all_of(word.begin(), word.begin() + static_cast<std::ptrdiff_t>(equals),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
}

// "sendcheck explain 5.7.30", "sendcheck spf DOMAIN --ip IP": a command a
// person types, when a tool name follows.
bool is_sendcheck_command(std::string_view rest) {
  for (std::string_view tool : {"sendcheck spf ", "sendcheck mx ", "sendcheck explain ", "sendcheck probe ", "sendcheck blocklist ", "sendcheck preflight ", "sendcheck listen "})
    if (rest.starts_with(tool)) return true;
  return false;
}

bool is_cmdlet(std::string_view word) {
  for (std::string_view verb : {"Set-", "Get-", "New-", "Add-", "Remove-", "Enable-"})
    if (word.starts_with(verb) && word.size() > verb.size() && std::isupper(static_cast<unsigned char>(word[verb.size()]))) return true;
  return false;
}

// A word of prose: lower-case letters only ("shows", "for", "a").
bool is_prose_word(std::string_view rest) {
  std::size_t end = 0;
  while (end < rest.size() && std::islower(static_cast<unsigned char>(rest[end]))) ++end;
  return end > 0 && (end == rest.size() || rest[end] == ' ' || rest[end] == ',' || rest[end] == '.' || rest[end] == ';');
}

// The value after an option that takes one of a few words ("--method
// relay"), when the text has it; empty otherwise.
std::string_view option_value(std::string_view option, std::string_view rest) {
  static constexpr std::pair<std::string_view, std::string_view> options[] = {
      {"--method", " auto direct-send relay smtp-auth hve acs "},
      {"--recipient-kind", " mailbox open-group group restricted-mailbox "},
      {"--reject-direct-send", " on off "},
      {"--device-tls", " none 1.0 1.1 1.2 1.3 "},
      {"--device-auth", " none basic oauth oauth-app "},
      {"--recipients", " internal external "},
  };
  std::size_t end = 0;
  while (end < rest.size() && rest[end] != ' ' && rest[end] != ',' && rest[end] != ';' && rest[end] != ')' && rest[end] != '"' &&
         !(rest[end] == '.' && (end + 1 == rest.size() || rest[end + 1] == ' ')))
    ++end;
  const std::string_view value = rest.substr(0, end);
  for (const auto& [name, values] : options)
    if (option == name && !value.empty() && values.find(" " + std::string(value) + " ") != std::string_view::npos) return value;
  return {};
}

// A word that is a literal an admin types or looks up: an address, a host
// name, a network, a placeholder, an option, a reply code.
bool is_literal(std::string_view word) {
  if (word.empty()) return false;
  if (word.find('@') != std::string_view::npos) return true;
  if (word.find('<') != std::string_view::npos && word.find('>') != std::string_view::npos) return true;  // a placeholder
  if (word.find(' ') != std::string_view::npos) return false;
  if (word.starts_with("--") || word.starts_with("ip4:") || word.starts_with("ip6:") || word.starts_with("include:")) return true;
  if (word.starts_with("http://") || word.starts_with("https://")) return false;  // links stay links
  const bool dotted = word.find('.') != std::string_view::npos && word.find("..") == std::string_view::npos && !word.ends_with(".");
  // Host names and addresses: dotted, no spaces, not a sentence's "e.g."
  if (dotted && word.size() > 4 && std::all_of(word.begin(), word.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':' || c == '/';
      }))
    return true;
  return false;
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

std::string markdown_text(std::string_view input) {
  const std::string text = one_line(input);
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    // An SPF record or a cmdlet with its parameters runs to the end of its clause.
    const std::string_view rest = std::string_view(text).substr(i);
    const bool record = rest.starts_with("v=spf1 ") || rest.starts_with("v=DMARC1");
    std::size_t word_end = text.find(' ', i);
    if (word_end == std::string::npos) word_end = text.size();
    // A placeholder with spaces ("<ACS resource>.<Entra app ID>") is one
    // literal: the word runs on to where its '<' are closed, if that is near.
    if (text.substr(i, word_end - i).find('<') != std::string::npos) {
      int open = 0;
      std::size_t at = i;
      for (; at < text.size() && at - i < 120; ++at) {
        if (text[at] == '<') ++open;
        else if (text[at] == '>' && open > 0) --open;
        else if (text[at] == ' ' && open == 0) break;
      }
      if (open == 0 && at > word_end) word_end = at;
    }
    const std::string_view word = std::string_view(text).substr(i, word_end - i);
    // "MAIL FROM:<a@b>" and "RCPT TO:<a@b>" are one command, not "MAIL" and a literal.
    const bool envelope_command = (rest.starts_with("MAIL FROM:<") || rest.starts_with("RCPT TO:<")) && rest.find('>') != std::string_view::npos;
    if (envelope_command) {
      const std::size_t end = i + rest.find('>') + 1;
      out += code_span(std::string_view(text).substr(i, end - i));
      i = end;
      continue;
    }
    if ((word.starts_with("(sendcheck") && is_sendcheck_command(std::string_view(text).substr(i + 1))) ||
        (word.starts_with("(") && is_cmdlet(word.substr(1)))) {
      out += '(';
      ++i;
      continue;
    }
    if (word == "sendcheck" && is_sendcheck_command(std::string_view(text).substr(i))) {
      // "sendcheck spf contoso.com --ip 203.0.113.7 --suggest writes ...": the command, not the prose after it.
      std::size_t end = i + word.size(), at = end;
      bool tool = true;
      while (at < text.size() && text[at] == ' ') {
        std::size_t stop = text.find(' ', at + 1);
        if (stop == std::string::npos) stop = text.size();
        std::string_view argument = std::string_view(text).substr(at + 1, stop - at - 1);
        std::size_t core = argument.size();
        while (core > 0 && (argument[core - 1] == '.' || argument[core - 1] == ',' || argument[core - 1] == ';' || argument[core - 1] == ')'))
          --core;
        argument = argument.substr(0, core);
        const bool upper = !argument.empty() && std::all_of(argument.begin(), argument.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)) || c == '_'; });
        if (!(tool || argument.starts_with("-") || is_literal(argument) || upper || IpAddress::parse(std::string(argument)))) break;
        tool = false;
        end = at + 1 + core;
        if (core < stop - at - 1) break;  // punctuation ends the command
        at = stop;
      }
      out += code_span(std::string_view(text).substr(i, end - i));
      i = end;
      continue;
    }
    if (record || is_cmdlet(word)) {
      std::size_t end = i;
      if (rest.starts_with("v=spf1 ")) {
        // The record's terms, up to the first word that is not one.
        std::size_t at = i;
        while (at < text.size()) {
          std::size_t stop = text.find(' ', at);
          if (stop == std::string::npos) stop = text.size();
          std::string_view term = std::string_view(text).substr(at, stop - at);
          std::size_t core = term.size();
          while (core > 0 && (term[core - 1] == '.' || term[core - 1] == ',' || term[core - 1] == ';' || term[core - 1] == ')' || term[core - 1] == '"'))
            --core;
          if (!is_spf_term(term.substr(0, core))) break;
          end = at + core;
          if (core < term.size()) break;  // punctuation ends the record
          at = stop + 1;
        }
        out += code_span(std::string_view(text).substr(i, end - i));
        i = end;
        continue;
      }
      // Up to a sentence end, a closing quote or parenthesis, a ';' or ',' followed by a space,
      // a parenthesis opening after a space, or a lower-case word ("shows",
      // "for"): prose about the command, never a cmdlet, parameter or value.
      while (end < text.size()) {
        const char c = text[end];
        if (c == ' ' && end + 1 < text.size() && text[end + 1] == '(') break;
        if (c == ' ' && !record && is_prose_word(std::string_view(text).substr(end + 1))) break;
        if (c == '"' || c == ')' || ((c == ';' || c == ',' || c == '.') && (end + 1 == text.size() || text[end + 1] == ' '))) {
          if (record && c == ';' && rest.starts_with("v=DMARC1")) {  // DMARC tags are ';'-separated
            ++end;
            continue;
          }
          break;
        }
        ++end;
      }
      out += code_span(std::string_view(text).substr(i, end - i));
      i = end;
      continue;
    }
    // Trailing punctuation and quotes stay outside the span.
    std::string_view core = word;
    std::string tail;
    while (!core.empty() && (core.back() == ',' || core.back() == ';' || core.back() == ':' || core.back() == ')' || core.back() == '"' ||
                             (core.back() == '.' && core.size() > 1))) {
      tail.insert(tail.begin(), core.back());
      core.remove_suffix(1);
    }
    std::string head;
    while (!core.empty() && (core.front() == '(' || core.front() == '"')) {
      head += core.front();
      core.remove_prefix(1);
    }
    // "--method relay": an option and its value are one thing to type.
    if (const auto value = option_value(core, std::string_view(text).substr(std::min(word_end + 1, text.size())));
        !value.empty() && tail.empty()) {
      out += head + code_span(std::string(core) + " " + std::string(value));
      i = word_end + 1 + value.size();
      continue;
    }
    if (is_literal(core)) out += head + code_span(core) + escape_html(tail);
    else out += escape_html(word);
    i = word_end;
    while (i < text.size() && text[i] == ' ') out += text[i++];
  }
  return out;
}

std::string render_markdown(const Outcome& outcome, const Plan& plan) {
  std::string out;
  const Verdict& verdict = outcome.verdict;
  out += "## Preflight: " + std::string(label(verdict.kind)) + "\n\n";
  // The header: when, which version, what was asked.
  char date[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &utc);
  out += "- Date: " + std::string(date) + "\n";
  out += "- Tool: sendcheck-preflight " + std::string(diag::version) + "\n";
  out += "- Method: " + code_span(to_string(plan.method)) + ", domain " + code_span(plan.domain) + "\n";
  if (outcome.ip) out += "- Device address: " + code_span(outcome.ip->to_string()) + "\n";
  if (!plan.from.empty()) out += "- From: " + code_span(plan.from) + "\n";
  if (!plan.to.empty()) {
    out += "- To:";
    for (std::size_t i = 0; i < plan.to.size(); ++i) out += (i ? ", " : " ") + code_span(plan.to[i]);
    out += "\n";
  }
  if (!outcome.smtp_target.empty()) out += "- SMTP: " + code_span(outcome.smtp_target) + "\n";
  out += "\n**" + std::string(label(verdict.kind)) + "**: " + markdown_text(verdict.summary) + "\n\n";
  if (!verdict.untested.empty()) {
    out += "### Not tested\n\n";
    for (const auto& step : verdict.untested)
      out += "- " + markdown_text(step.why) + (step.to_test.empty() ? "" : ": " + markdown_text(step.to_test)) + "\n";
    out += "\n";
  }
  if (plan.recommendation) {
    const Recommendation& r = *plan.recommendation;
    out += "### Recommended method\n\n";
    out += "**" + std::string(describe(plan.method)) + "** (" + code_span(to_string(plan.method)) + ") for a device with " +
           describe(r.device) + ": " + markdown_text(r.why) + "\n\n";
    for (const auto& fit : r.methods) {
      if (fit.method == plan.method) continue;
      out += "- " + code_span(to_string(fit.method)) + ": ";
      if (fit.fits) out += "also fits" + (fit.needs.empty() ? "" : " (" + markdown_text(fit.needs) + ")");
      else {
        out += "does not fit: ";
        for (std::size_t i = 0; i < fit.reasons.size(); ++i) out += (i ? "; " : "") + markdown_text(fit.reasons[i]);
      }
      out += "\n";
    }
    out += "\n";
  }
  // Rows that need action first (fail, error, warn), then the rest.
  out += "### Checklist\n\n";
  out += "| Status | Check | Evidence | Remedy |\n|---|---|---|---|\n";
  for (int pass = 0; pass < 2; ++pass)
    for (Status level : {Status::fail, Status::error, Status::warn, Status::pass, Status::info}) {
      if ((pass == 0) != (level == Status::fail || level == Status::error || level == Status::warn)) continue;
      for (const auto& section : outcome.sections)
        for (const auto& check : section.checks) {
          if (check.status != level) continue;
          const std::string status = is_skipped(check) ? "SKIP" : ascii::to_upper(to_string(check.status));
          const bool show_remedy = check.status != Status::pass && check.status != Status::info;
          out += "| " + status + " | " + markdown_cell(escape_html(section.title)) + ": " + code_span(markdown_cell(check.id)) + " | " +
                 markdown_cell(markdown_text(check.message)) + " | " + (show_remedy ? markdown_cell(markdown_text(check.remedy)) : std::string()) +
                 " |\n";
        }
    }
  if (!outcome.next_steps.empty()) {
    out += "\n### Next steps\n\n";
    for (std::size_t i = 0; i < outcome.next_steps.size(); ++i)
      out += std::to_string(i + 1) + ". " + markdown_text(outcome.next_steps[i].remedy) + "\n";
  }
  if (verdict.kind == VerdictKind::will_work) {
    out += "\n### Configure the device\n\n";
    for (const auto& [name, value] : device_configuration(outcome, plan)) out += "- " + name + ": " + code_span(value) + "\n";
  }
  if (outcome.spf_record) {
    const std::string fence = fence_for(*outcome.spf_record);
    out += "\n### SPF record to publish for " + idna::display(plan.from_domain) + "\n\n" + fence + "\n" + *outcome.spf_record + "\n" + fence + "\n";
    for (const auto& note : outcome.spf_record_notes) out += "\n" + markdown_text(note) + "\n";
  }
  return out;
}

}  // namespace diag::preflight
