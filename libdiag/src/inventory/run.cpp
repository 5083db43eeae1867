// One offline run: every input into one aggregator, the verdicts, the history.
#include "diag/inventory.h"
#include "diag/report.h"
#include "text_input.h"

namespace diag::inventory {

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
  for (const auto& path : request.signin_files) {
    auto read = read_signin_export(path, aggregator.signin_sink(), request.limits);
    if (!read) return read.error();
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
  coverage.usage_from = aggregator.usage_from();
  if (const auto first = aggregator.earliest_signin()) coverage.signins_from = std::chrono::floor<std::chrono::days>(*first);
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
