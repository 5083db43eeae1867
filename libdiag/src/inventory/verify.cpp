// sendcheck-inventory --preflight: the ways forward that need no
// credentials (direct send and relay, one per public source IP of each
// sender that will break), checked as sendcheck-preflight --batch checks its
// rows: one DNS loop for all of them, so the tenant's MX, SPF and DMARC are
// asked once, and a few SMTP sessions at once.
#include "diag/inventory.h"
#include "diag/preflight.h"

namespace diag::inventory {
namespace {

constexpr std::size_t smtp_sessions_at_once = 4;

std::string domain_part(const std::string& user) {
  const auto at = user.rfind('@');
  return at == std::string::npos ? std::string() : user.substr(at + 1);
}

}  // namespace

std::size_t verify_ways_forward(InventoryResult& result, const dns::ResolverConfig& resolver_config,
                                double timeout_seconds) {
  result.preflight_ran = true;
  std::vector<preflight::BatchRow> rows;
  std::vector<WayForward*> checked_ways;
  for (auto& sender : result.senders) {
    for (auto& way : sender.way_forward) {
      if (way.ip.empty()) continue;
      preflight::ToolOptions options;
      options.common.timeout_seconds = timeout_seconds;
      options.domain = domain_part(sender.user);
      options.method = way.method;
      options.ip = way.ip;
      options.from = sender.user;
      // Direct send: the device's own mailbox stands in for the recipients
      // it really mails, which no input names; the reason says so.
      options.to = {way.method == "relay" ? std::string(relay_test_recipient) : sender.user};
      options.device_tls = way.device_tls;
      auto plan = preflight::make_plan(options);
      if (!plan) {
        // A user name that is no address (a concealed one, an app's ID):
        // nothing to check, and the reason is what the admin reads.
        way.checked = WayCheck{std::string(preflight::to_string(preflight::VerdictKind::not_verified)),
                               "not checked: " + plan.error().message, exit_usage};
        continue;
      }
      preflight::find_sovereign_cloud(*plan, resolver_config);
      rows.push_back(preflight::BatchRow{static_cast<int>(rows.size() + 1), std::move(options), std::move(*plan)});
      checked_ways.push_back(&way);
    }
  }
  if (rows.empty()) return 0;
  const auto results = preflight::run_batch(rows, resolver_config, smtp_sessions_at_once, {});
  for (std::size_t i = 0; i < results.size() && i < checked_ways.size(); ++i) {
    const auto& row = results[i];
    const auto verdict = row.verdict.value_or(preflight::VerdictKind::not_verified);
    std::vector<std::string> causes;
    for (const auto& step : row.causes) causes.push_back(step.why);
    if (causes.empty())
      for (const auto& step : row.untested) causes.push_back(step.why + (step.to_test.empty() ? "" : " (to test it: " + step.to_test + ")"));
    auto reason = row.reason;
    if (checked_ways[i]->method == "direct-send")
      reason += " (checked with the device's own address as the recipient: run the command with the addresses it really "
                "mails)";
    checked_ways[i]->checked = WayCheck{std::string(preflight::to_string(verdict)), std::move(reason), row.exit_code,
                                        std::move(causes)};
  }
  return rows.size();
}

}  // namespace diag::inventory
