// One offline run: every input into one aggregator, the verdicts, the history.
#include "diag/inventory.h"
#include "diag/report.h"
#include "text_input.h"

namespace diag::inventory {

namespace {
// "..._2026-11-05_2026-12-05.csv": the period of an Entra sign-in download.
std::optional<std::pair<std::chrono::sys_days, std::chrono::sys_days>> period_in_file_name(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (std::size_t at = name.find('_'); at != std::string::npos && at + 22 <= name.size(); at = name.find('_', at + 1)) {
    if (name[at + 11] != '_') continue;
    const auto from = parse_date(name.substr(at + 1, 10));
    const auto to = parse_date(name.substr(at + 12, 10));
    if (from && to && *from <= *to) return std::make_pair(*from, *to);
  }
  return std::nullopt;
}
}  // namespace

Result<InventoryResult> run_inventory(
    const InventoryRequest& request,
    const std::function<Result<bool>(InventoryAggregator&, TenantSettings&, EvidenceCoverage&)>& more_sources) {
  const std::string started = run_started_rfc3339();
  InventoryAggregator aggregator;
  std::optional<std::chrono::sys_seconds> since;
  if (request.since) since = std::chrono::sys_seconds(*request.since);
  aggregator.set_since(since);

  std::optional<HistoryDatabase> history;
  if (!request.db_file.empty()) {
    auto opened = HistoryDatabase::open(request.db_file);
    if (!opened) return opened.error();
    history.emplace(std::move(*opened));
    if (auto loaded = history->load_into(aggregator, since); !loaded) return loaded.error();
  }

  std::vector<std::string> inputs;
  EvidenceCoverage coverage;
  const auto counted = [](std::size_t count, std::string_view one, std::string_view many) {
    return std::to_string(count) + " " + std::string(count == 1 ? one : many);
  };
  // Each log's periods, from the portal's file names: two logs of different
  // months are not both logs of one period.
  std::vector<std::pair<std::chrono::sys_days, std::chrono::sys_days>> interactive_periods, non_interactive_periods;
  for (const auto& path : request.signin_files) {
    auto read = read_signin_export(path, aggregator.signin_sink(), request.limits);
    if (!read) return read.error();
    if (const auto period = period_in_file_name(path); period && read->sign_ins == read->authenticated_smtp && read->interactive != read->non_interactive)
      (read->interactive ? interactive_periods : non_interactive_periods).push_back(*period);
    inputs.push_back(path + ": " + counted(read->authenticated_smtp, "\"Authenticated SMTP\" sign-in", "\"Authenticated SMTP\" sign-ins") +
                     (read->sign_ins > read->authenticated_smtp ? " of " + counted(read->sign_ins, "sign-in", "sign-ins") : ""));
    ++coverage.signin_sources;
    if (read->sign_ins == read->authenticated_smtp) {
      coverage.interactive_log |= read->interactive;
      coverage.non_interactive_log |= read->non_interactive;
    } else {
      const auto others = read->sign_ins - read->authenticated_smtp;
      coverage.unfiltered.push_back(
          path + " holds " + counted(others, "sign-in", "sign-ins") + " of other client apps" +
          (read->authenticated_smtp ? " beside its " + counted(read->authenticated_smtp, "\"Authenticated SMTP\" one", "\"Authenticated SMTP\" ones")
                                    : " and no \"Authenticated SMTP\" one"));
    }
  }
  if (!request.usage_report_file.empty()) {
    auto read = read_usage_report(request.usage_report_file, aggregator.usage_sink(), request.limits);
    if (!read) return read.error();
    inputs.push_back(request.usage_report_file + ": " + counted(*read, "usage report row", "usage report rows"));
    coverage.usage_report = true;
  }
  if (!request.smtp_auth_report_file.empty()) {
    auto read = read_smtp_auth_report(request.smtp_auth_report_file, aggregator.smtp_auth_report_sink(), request.limits);
    if (!read) return read.error();
    inputs.push_back(request.smtp_auth_report_file + ": " + counted(*read, "SMTP AUTH clients report row", "SMTP AUTH clients report rows"));
    coverage.smtp_auth_report = true;
  }
  TenantSettings tenant;
  if (!request.mailboxes_file.empty()) {
    auto read = read_cas_mailboxes(request.mailboxes_file, tenant.mailboxes, request.limits);
    if (!read) return read.error();
    inputs.push_back(request.mailboxes_file + ": " + counted(*read, "mailbox", "mailboxes"));
  }
  if (!request.transport_config_file.empty()) {
    auto read = read_transport_config(request.transport_config_file, request.limits);
    if (!read) return read.error();
    tenant.smtp_client_authentication_disabled = *read;
    inputs.push_back(request.transport_config_file + ": organization SmtpClientAuthenticationDisabled " +
                     (*read ? (**read ? "True" : "False") : "empty"));
  }
  if (!request.authentication_policy_file.empty()) {
    auto read = read_authentication_policies(request.authentication_policy_file, request.limits);
    if (!read) return read.error();
    tenant.authentication_policies = std::move(*read);
    inputs.push_back(request.authentication_policy_file + ": " +
                     counted(tenant.authentication_policies.size(), "authentication policy", "authentication policies"));
  }
  if (more_sources) {
    if (auto added = more_sources(aggregator, tenant, coverage); !added) return added.error();
  }

  coverage.rows_in_both_logs = aggregator.rows_in_both_logs();
  if (!interactive_periods.empty() && !non_interactive_periods.empty()) {
    // The days each log's files span; the two spans must be the same, give
    // or take a day or two at each end (consecutive monthly downloads share
    // only their boundary day, and each is then missing for the other's month).
    const auto span = [](const auto& list) {
      auto from = list.front().first, to = list.front().second;
      for (const auto& [f, t] : list) from = std::min(from, f), to = std::max(to, t);
      return std::make_pair(from, to);
    };
    const auto [i_from, i_to] = span(interactive_periods);
    const auto [n_from, n_to] = span(non_interactive_periods);
    const auto apart = [](std::chrono::sys_days a, std::chrono::sys_days b) { return a > b ? a - b : b - a; };
    const bool meet = apart(i_from, n_from) + apart(i_to, n_to) <= std::chrono::days(2);
    const auto periods = [](const auto& list) {
      std::string text;
      for (const auto& [from, to] : list) text += (text.empty() ? "" : ", ") + detail::format_date(from) + " to " + detail::format_date(to);
      return text;
    };
    if (!meet)
      coverage.logs_disjoint = "interactive " + periods(interactive_periods) + ", non-interactive " + periods(non_interactive_periods);
  }
  coverage.usage_from = aggregator.usage_from();
  coverage.usage_to = aggregator.usage_to();
  if (const auto first = aggregator.earliest_signin()) coverage.signins_from = std::chrono::floor<std::chrono::days>(*first);
  if (const auto last = aggregator.latest_signin()) coverage.signins_to = std::chrono::floor<std::chrono::days>(*last);
  // The portal names each download by the period chosen
  // (InteractiveSignIns_2026-11-05_2026-12-05.csv): the logs cover that
  // period, whatever their first row.
  for (const auto& path : request.signin_files)
    if (const auto period = period_in_file_name(path)) {
      coverage.signins_from = coverage.signins_from ? std::min(*coverage.signins_from, period->first) : period->first;
      coverage.signins_to = coverage.signins_to ? std::max(*coverage.signins_to, period->second) : period->second;
    }
  InventoryResult result = evaluate(aggregator, tenant, request.today, coverage);
  result.inputs = std::move(inputs);
  result.coverage = std::move(coverage);
  result.inputs_from = aggregator.earliest_signin();
  if (history) {
    auto changes = history->changes_since_last_run(result);
    if (!changes) return changes.error();
    result.changes = std::move(*changes);
    if (auto recorded = history->record_run(result, started); !recorded) return recorded.error();
  }
  return result;
}

}  // namespace diag::inventory
