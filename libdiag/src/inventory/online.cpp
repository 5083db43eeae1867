// The inventory's online source: Microsoft Graph sign-in logs, the usage
// report when the tenant has no Entra ID P1, and the Exchange admin API's
// switches when asked, all fed to the same aggregator as the files.
#include <cstdio>

#include "diag/graph.h"
#include "diag/input_file.h"
#include "diag/inventory.h"

namespace diag::inventory {
namespace {

Result<std::unique_ptr<graph::TokenSource>> token_source(const graph::Settings& settings, const OnlineOptions& o) {
  if (!o.client_secret_file.empty()) {
    auto secret = read_secret_file(o.client_secret_file, "--client-secret-file");
    if (!secret) return secret.error();
    return graph::client_secret_tokens(settings, o.client_id, std::move(*secret));
  }
  if (!o.client_cert_file.empty()) {
    auto credentials = tls::load_credentials(o.client_cert_file, o.client_key_file);
    if (!credentials) return credentials.error();
    return graph::client_certificate_tokens(settings, o.client_id,
                                            std::make_shared<const tls::Credentials>(std::move(*credentials)));
  }
  return graph::device_code_tokens(settings, o.client_id, [](const oauth::DeviceCode& code) {
    // Microsoft's own sentence: where to go and which code to type.
    std::fprintf(stderr, "sendcheck-inventory: %s\n", code.message.empty()
                                                         ? ("Open " + code.verification_uri + " and enter the code " + code.user_code).c_str()
                                                         : code.message.c_str());
    std::fflush(stderr);
  });
}

Result<graph::Settings> settings_for(const OnlineOptions& o) {
  const auto cloud = graph::parse_cloud(o.cloud);
  if (!cloud) return bad_input("--cloud " + o.cloud + ": use global, usgov, usgov-dod or china");
  graph::Settings settings;
  settings.endpoints = graph::endpoints_for(*cloud);
  if (!o.graph_url.empty()) settings.endpoints.graph = o.graph_url;
  if (!o.login_url.empty()) settings.endpoints.login = o.login_url;
  if (!o.exo_url.empty()) settings.endpoints.exo = o.exo_url;
  for (auto* url : {&settings.endpoints.graph, &settings.endpoints.login, &settings.endpoints.exo})
    while (!url->empty() && url->back() == '/') url->pop_back();
  settings.tenant = o.tenant;
  settings.ca_file = o.ca_file;
  settings.timeout = o.timeout;
  return settings;
}

std::string log_name(graph::SignInLog log) {
  return log == graph::SignInLog::interactive ? "interactive sign-ins (Graph v1.0)" : "non-interactive sign-ins (Graph beta)";
}

}  // namespace

Result<bool> check_online_options(const OnlineOptions& o) {
  if (o.tenant.empty()) {
    if (!o.client_id.empty() || !o.client_secret_file.empty() || !o.client_cert_file.empty() || o.device_code || o.exo_admin_api)
      return bad_input("--client-id, --client-secret-file, --client-cert, --device-code and --exo-admin-api need --tenant");
    return true;
  }
  if (o.client_id.empty()) return bad_input("--tenant needs --client-id (the application (client) ID of your app registration)");
  const int ways = !o.client_secret_file.empty() + !o.client_cert_file.empty() + o.device_code;
  if (ways != 1) return bad_input("give exactly one way to sign in: --client-secret-file FILE, --client-cert FILE --client-key FILE, or --device-code");
  if (o.client_cert_file.empty() != o.client_key_file.empty()) return bad_input("--client-cert and --client-key go together");
  if (!graph::parse_cloud(o.cloud)) return bad_input("--cloud " + o.cloud + ": use global, usgov, usgov-dod or china");
  return true;
}

Result<InventoryResult> run_inventory_online(const InventoryRequest& request, const OnlineOptions& online) {
  if (auto checked = check_online_options(online); !checked) return checked.error();
  if (online.tenant.empty()) return run_inventory(request);
  auto settings = settings_for(online);
  if (!settings) return settings.error();
  auto tokens = token_source(*settings, online);
  if (!tokens) return tokens.error();
  graph::Client client(*settings, **tokens);

  std::vector<std::string> notes;
  const auto source = [&](InventoryAggregator& aggregator, TenantSettings& tenant, EvidenceCoverage& coverage) -> Result<bool> {
    graph::SignInQuery query;
    const auto today = request.today == std::chrono::sys_days{} ? std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())
                                                                : request.today;
    query.since = std::chrono::sys_seconds(request.since ? *request.since : today - std::chrono::days(30));
    const graph::PageProgress progress = [&](graph::SignInLog log, std::size_t pages, std::size_t rows) {
      if (!online.progress) return;
      std::fprintf(stderr, "\rsendcheck-inventory: %s: %zu pages, %zu rows", log_name(log).c_str(), pages, rows);
      std::fflush(stderr);
    };
    bool licence_missing = false;
    // Both logs: querying only the interactive one looks exactly like
    // "nobody uses it" for devices whose sign-ins are non-interactive.
    for (const auto log : {graph::SignInLog::interactive, graph::SignInLog::non_interactive}) {
      auto pass = client.signins(log, query, aggregator.signin_sink(), progress);
      if (online.progress) std::fprintf(stderr, "\n");
      if (!pass) {
        if (pass.failure().kind == graph::FailureKind::licence_required) {
          licence_missing = true;
          break;
        }
        return pass.failure().to_error();
      }
      ++coverage.signin_sources;
      (log == graph::SignInLog::interactive ? coverage.interactive_log : coverage.non_interactive_log) = true;
      notes.push_back("Graph " + log_name(log) + " since " + graph::format_graph_time(query.since) + ": " +
                      std::to_string(pass->rows) + " \"Authenticated SMTP\" sign-ins in " + std::to_string(pass->pages) + " pages");
    }
    if (licence_missing) {
      // No Entra ID P1/P2: the sign-in logs are not readable through Graph.
      const auto period = graph::period_for_window(std::chrono::duration_cast<std::chrono::days>(std::chrono::sys_seconds(today) - query.since));
      auto report = client.usage_report(period);
      if (!report) return report.failure().to_error();
      auto rows = parse_usage_report_csv(report->csv, "Graph usage report", aggregator.usage_sink(), request.limits);
      if (!rows) return rows.error();
      coverage.usage_report = true;
      notes.push_back("The tenant has no Entra ID P1/P2 license, which Graph needs for sign-in logs "
                      "(Authentication_RequestFromNonPremiumTenantOrB2CTenant): read the email apps usage report (" +
                      std::string(graph::to_string(period)) + ") instead, " + std::to_string(*rows) +
                      (*rows == 1 ? " row" : " rows") + "; it cannot tell basic authentication from OAuth. For the sign-ins, download them from the "
                      "Entra admin center (Sign-in logs, Client app \"Authenticated SMTP\", both tabs) and give them with --signins.");
      if (auto concealed = client.report_settings(); concealed && concealed->display_concealed_names.value_or(false))
        notes.push_back("The tenant conceals user names in reports: the usage report's names are hashes. Turn it off in the "
                        "Microsoft 365 admin center (Settings > Org settings > Reports) and run again.");
    }
    if (online.exo_admin_api) {
      auto exchange = client.exchange_settings();
      if (!exchange) return exchange.failure().to_error();
      // Files given next to it win: they are what the admin chose to show.
      if (!tenant.smtp_client_authentication_disabled) tenant.smtp_client_authentication_disabled = exchange->smtp_client_authentication_disabled;
      if (tenant.mailboxes.empty()) tenant.mailboxes = std::move(exchange->mailboxes);
      if (tenant.authentication_policies.empty()) tenant.authentication_policies = std::move(exchange->authentication_policies);
      notes.push_back("Exchange admin API (undocumented by Microsoft, unsupported, may change): organization, " +
                      std::to_string(tenant.mailboxes.size()) + " mailboxes and " +
                      std::to_string(tenant.authentication_policies.size()) + " authentication policies");
    }
    return true;
  };
  auto result = run_inventory(request, source);
  if (!result) return result.error();
  result->inputs.insert(result->inputs.end(), notes.begin(), notes.end());
  return result;
}

}  // namespace diag::inventory
