// sendcheck-preflight's report: the verdict first (decided before, from the
// steps), the rows that need action, the next steps in order, what to
// configure on the device when it will work, and the parts' JSON under one
// envelope.
#include <algorithm>
#include <map>
#include <tuple>
#include <cstdio>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/ip.h"
#include "diag/preflight.h"
#include "diag/strings.h"
#include "diag/version.h"

namespace diag::preflight {
namespace {


std::string_view short_name(std::string_view section) {
  if (section == "input") return "Input";
  if (section == "mx") return "MX";
  if (section == "spf") return "SPF";
  if (section == "dmarc") return "DMARC";
  if (section == "blocklist") return "Blocklists";
  if (section == "connector") return "Client certificate";
  if (section == "auth") return "Authentication";
  if (section == "health") return "Domain health";
  if (section == "recommendation") return "Method";
  if (section == "reverse") return "Reverse DNS";
  if (section == "acs-domain") return "ACS domain";
  return "SMTP";
}

Status verdict_status(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::will_work: return Status::pass;
    case VerdictKind::will_not_work: return Status::fail;
    case VerdictKind::not_verified: return Status::error;
  }
  return Status::error;
}

bool needs_action(const Check& check) {
  return !is_skipped(check) && (check.status == Status::fail || check.status == Status::error || check.status == Status::warn);
}

// Failures first, then what could not complete, then warnings.
int severity_rank(Status status) {
  switch (status) {
    case Status::fail: return 0;
    case Status::error: return 1;
    case Status::warn: return 2;
    default: return 3;
  }
}

nlohmann::json step_json(const Step& step) {
  nlohmann::json out = {{"id", step.id}, {"state", to_string(step.state)}, {"why", step.why}};
  if (!step.to_test.empty()) out["to_test"] = step.to_test;
  return out;
}

}  // namespace


// What to type into the device once the verdict is WILL WORK.
std::vector<std::pair<std::string, std::string>> device_configuration(const Outcome& outcome, const Plan& plan) {
  std::vector<std::pair<std::string, std::string>> rows;
  const bool submission = plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs;
  std::string server = outcome.smtp_host, port = outcome.smtp_port;
  if (plan.endpoint_overridden && !plan.endpoint.host.empty()) server = plan.endpoint.host;
  // --smtp-host with an address or localhost stands in for the real
  // endpoint (a test server, a tunnel): the device is configured with the
  // endpoint itself.
  if (plan.endpoint_overridden && is_stand_in_host(plan.endpoint.host)) {
    const std::string real = submission ? (plan.cloud_endpoint_host.empty() ? default_endpoint(plan.method).host : plan.cloud_endpoint_host)
                                        : outcome.mx_host;
    if (!real.empty()) {
      server = real + " (this run tested " + plan.endpoint.host + " port " + outcome.smtp_port + " in its place)";
      port = std::to_string(default_endpoint(plan.method).port);
    }
  }
  rows.push_back({"Server", server});
  rows.push_back({"Port", port});
  // What was tested: a device without TLS 1.2 sends to the MX without it.
  const bool without_tls = !submission && plan.device_tls && !plan.client_certificate &&
                           (*plan.device_tls == DeviceTls::none || *plan.device_tls == DeviceTls::tls1_0 || *plan.device_tls == DeviceTls::tls1_1);
  std::string tls = submission ? "STARTTLS, required (TLS 1.2 or later)" : "STARTTLS if the device offers it (optional at the MX)";
  // A certificate connector matches only the certificate a device presents in TLS.
  if (plan.method == Method::relay && plan.client_certificate) tls = "STARTTLS, required (TLS 1.2 or later), presenting the device's certificate";
  if (without_tls) tls = *plan.device_tls == DeviceTls::none ? "off (the MX accepts plain SMTP)"
                                                             : "off (the device's TLS 1.0/1.1 is refused; the MX accepts plain SMTP)";
  rows.push_back({"TLS", tls});
  std::string authentication = "none";
  if (submission) {
    authentication = std::string(plan.auth == smtp::AuthMechanism::xoauth2 ? "OAuth (XOAUTH2)" : "user name and password (AUTH LOGIN)") +
                     " as " + plan.user;
  } else if (plan.method == Method::relay) {
    const bool by_certificate = plan.client_certificate && outcome.fields.contains("smtp") && outcome.fields["smtp"].contains("target") &&
                                outcome.fields["smtp"]["target"].value("connector_match", std::string()) == "certificate";
    authentication = by_certificate ? "none; the connector matches the device's certificate" : "none; the connector matches the device's address";
  }
  rows.push_back({"Authentication", authentication});
  rows.push_back({"From", plan.from.empty() ? plan.user : plan.from});
  if (!outcome.device_helo.empty()) rows.push_back({"EHLO name", outcome.device_helo + " (the domain's SPF record checks it)"});
  return rows;
}

Report make_report(const Outcome& outcome, const Plan& plan, std::string* text, const TextLayout& layout) {
  Report report(tool_name, diag::version);
  for (const auto& section : outcome.sections)
    for (const auto& check : section.checks) {
      Check copy = check;
      copy.fields["section"] = section.id;
      report.add(std::move(copy));
    }
  const Verdict& verdict = outcome.verdict;
  auto& fields = report.fields();
  fields["method"] = to_string(plan.method);
  fields["domain"] = plan.domain;
  fields["ip"] = outcome.ip ? nlohmann::json(outcome.ip->to_string()) : nlohmann::json(nullptr);
  fields["from"] = plan.from;
  fields["to"] = plan.to;
  fields["external_recipients"] = plan.external;
  nlohmann::json causes = nlohmann::json::array(), untested = nlohmann::json::array(), steps = nlohmann::json::array();
  for (const auto& step : verdict.causes) causes.push_back(step_json(step));
  for (const auto& step : verdict.untested) untested.push_back(step_json(step));
  for (const auto& step : outcome.steps) steps.push_back(step_json(step));
  // The shape every tool's verdict has (diag/report.h), with the steps behind it.
  const VerdictOutcome shared = verdict.kind == VerdictKind::will_work       ? VerdictOutcome::works
                                : verdict.kind == VerdictKind::will_not_work ? VerdictOutcome::breaks
                                                                             : VerdictOutcome::unknown;
  auto& verdict_fields = fields["verdict"] = verdict_json(to_string(verdict.kind), shared, verdict.summary);
  verdict_fields["causes"] = causes;
  verdict_fields["untested"] = untested;
  verdict_fields["steps"] = steps;
  nlohmann::json next = nlohmann::json::array();
  for (const auto& step : outcome.next_steps) next.push_back({{"id", step.id}, {"section", step.section}, {"remedy", step.remedy}});
  fields["next_steps"] = next;
  fields["spf_record"] = outcome.spf_record ? nlohmann::json(*outcome.spf_record) : nlohmann::json(nullptr);
  if (!outcome.spf_record_notes.empty()) fields["spf_record_notes"] = outcome.spf_record_notes;
  if (verdict.kind == VerdictKind::will_work) {
    nlohmann::json configuration = nlohmann::json::object();
    for (const auto& [name, value] : device_configuration(outcome, plan)) configuration[name] = value;
    fields["configuration"] = configuration;
  }
  for (const auto& [key, value] : outcome.fields.items()) fields[key] = value;
  if (!text) return report;

  const TextStyle& style = layout.style;
  const std::size_t width = layout.width;
  std::string& out = *text;
  // A row's own line breaks (a list of records) continue at the hanging indent.
  auto line = [&](const std::string& content, std::size_t indent) {
    for (std::size_t start = 0;;) {
      const auto end = content.find('\n', start);
      const std::string piece = content.substr(start, end == std::string::npos ? std::string::npos : end - start);
      out += wrap(start == 0 ? piece : std::string(indent, ' ') + piece, width, indent) + "\n";
      if (end == std::string::npos) break;
      start = end + 1;
    }
  };
  if (plan.recommendation) {
    // --method auto: the recommendation first, then why each other method does not fit.
    const Recommendation& r = *plan.recommendation;
    line(style.bold("RECOMMENDED") + "  " + std::string(describe(plan.method)) + " (" + std::string(to_string(plan.method)) +
             ") for a device with " + describe(r.device) + ": " + r.why,
         13);
    for (const auto& section : outcome.sections)
      for (const auto& check : section.checks)
        if (check.id == "method.mx-gateway") line("  " + check.message, 4);
    for (const auto& fit : r.methods) {
      if (fit.method == plan.method) continue;
      std::string row = "  " + std::string(to_string(fit.method)) + ": ";
      if (fit.fits) row += "also fits (it needs " + fit.needs + ")";
      else
        for (std::size_t i = 0; i < fit.reasons.size(); ++i) row += (i ? "; and " : "does not fit: ") + fit.reasons[i];
      line(row, 4);
    }
    out += "\n";
  }
  // An internationalized domain in both forms, once: the section titles
  // name it as typed, the rows by its A-labels (what DNS holds).
  if (const std::string shown = idna::display(plan.domain); shown != plan.domain) line("Domain: " + shown, 8);
  const std::string verdict_label(label(verdict.kind));
  line(style.bold(style.colored(verdict_status(verdict.kind), verdict_label)) + "  " + verdict.summary, verdict_label.size() + 2);
  if (!verdict.untested.empty()) {
    out += "\n" + style.bold(verdict.kind == VerdictKind::not_verified ? "Not tested (what to give to test it)" : "Also not tested") + "\n";
    for (const auto& step : verdict.untested)
      line("  - " + step.why + (step.to_test.empty() ? "" : ": " + step.to_test), 4);
  }

  // The rows that need action first, the worst first; the others after (-v).
  std::vector<std::pair<const Section*, const Check*>> action, passed;
  for (const auto& section : outcome.sections)
    for (const auto& check : section.checks) (needs_action(check) ? action : passed).push_back({&section, &check});
  // Sections by their worst row, each once, its rows the worst first.
  std::map<const Section*, int> worst;
  for (const auto& [section, check] : action) {
    const auto [at, fresh] = worst.try_emplace(section, severity_rank(check->status));
    if (!fresh) at->second = std::min(at->second, severity_rank(check->status));
  }
  std::map<const Section*, std::size_t> first_seen;
  for (const auto& [section, check] : action) first_seen.try_emplace(section, first_seen.size());
  std::stable_sort(action.begin(), action.end(), [&](const auto& a, const auto& b) {
    return std::tuple(worst[a.first], first_seen[a.first], severity_rank(a.second->status)) <
           std::tuple(worst[b.first], first_seen[b.first], severity_rank(b.second->status));
  });
  auto print_rows = [&](const std::vector<std::pair<const Section*, const Check*>>& rows) {
    const Section* current = nullptr;
    for (const auto& [section, check] : rows) {
      if (section != current) {
        line("  " + style.bold(section->title), 4);
        current = section;
      }
      // Rows quote what servers sent (greetings, replies): never raw to a terminal.
      line("    " + (is_skipped(*check) ? style.dim("SKIP ") : style.status_label(check->status)) + " " +
               strings::terminal_safe(check->message, true),
           10);
      if (!check->remedy.empty() && needs_action(*check)) line("          -> " + strings::terminal_safe(check->remedy, true), 13);
    }
  };
  if (!action.empty()) {
    out += "\n" + style.bold("Needs attention") + "\n";
    print_rows(action);
  }
  if (layout.verbose) {
    out += "\n" + style.bold("Passed and facts") + "\n";
    print_rows(passed);
  } else if (!passed.empty()) {
    out += "\n" + style.dim(std::to_string(passed.size()) + " more rows passed or are facts (-v lists them)") + "\n";
  }
  if (!outcome.next_steps.empty()) {
    out += "\n" + style.bold("Next steps") + "\n";
    for (std::size_t i = 0; i < outcome.next_steps.size(); ++i) {
      const std::string number = std::to_string(i + 1) + ". ";
      line("  " + number + std::string(short_name(outcome.next_steps[i].section)) + ": " + strings::terminal_safe(outcome.next_steps[i].remedy, true),
           2 + number.size());
    }
  }
  if (verdict.kind == VerdictKind::will_work) {
    out += "\n" + style.bold("Configure the device") + "\n";
    for (const auto& [name, value] : device_configuration(outcome, plan)) line("  " + name + ": " + value, 4);
  }
  if (outcome.spf_record) {
    out += "\n" + style.bold("SPF record to publish for " + idna::display(plan.from_domain)) + "\n  " + *outcome.spf_record + "\n";
    for (const auto& note : outcome.spf_record_notes) out += "  " + wrap(note, terminal_width(), 2) + "\n";
  }
  return report;
}

namespace {
std::optional<std::string> gateway_rules_out_direct_send(const Outcome& outcome) {
  for (const auto& section : outcome.sections)
    for (const auto& check : section.checks)
      if (check.id == "method.mx-gateway") return check.fields.value("reason", std::string());
  return std::nullopt;
}
}  // namespace

int run_tool(const ToolOptions& options) {
  if (options.markdown && options.common.json) return cli::print_error(tool_name, "--markdown and --json exclude each other"), exit_usage;
  if (!options.batch_file.empty()) return run_batch_tool(options);
  auto plan = make_plan(options);
  if (!plan) return cli::print_error(tool_name, plan.error().message), exit_usage;
  auto config = cli::resolver_config(options.common, tool_name);
  if (!config) return cli::print_error(tool_name, config.error().message), cli::exit_code_for(config.error());
  find_sovereign_cloud(*plan, *config);
  auto outcome = run_preflight(*plan, *config);
  if (!outcome) return cli::print_error(tool_name, outcome.error().message), cli::exit_code_for(outcome.error());
  // --method auto chose direct send, which the tenant's gateway MX rules
  // out: recommend, and check, the next method that fits instead.
  if (plan->recommendation && plan->method == Method::direct_send)
    if (const auto reason = gateway_rules_out_direct_send(*outcome)) {
      auto other = make_auto_plan(options, {{Method::direct_send, *reason}});
      if (other) {
        find_sovereign_cloud(*other, *config);
        if (auto second = run_preflight(*other, *config)) {
          plan = std::move(other);
          outcome = std::move(second);
        }
      }
    }
  std::string text;
  const bool want_text = !options.common.json && !options.markdown;
  TextLayout layout{TextStyle::for_stream(stdout, options.common.no_color), terminal_width(), options.common.verbose || options.list_passed};
  Report report = make_report(*outcome, *plan, want_text ? &text : nullptr, layout);
  if (options.markdown) text = render_markdown(*outcome, *plan);
  const int written = cli::finish(tool_name, report, text, options.common, &outcome->log);
  // The verdict decides the exit code, not the worst row: a failed write
  // is the only thing that overrides it.
  if (std::ferror(stdout)) return written;
  return outcome->verdict.exit_code();
}

}  // namespace diag::preflight
