// sendcheck-inventory over Microsoft Graph, against the loopback mock tenant
// (tests/support/graph_mock.h): the binary with --tenant reads both sign-in
// logs, the Exchange admin API's switches when asked, and falls back to the
// usage report without an Entra ID P1 license, saying what it cannot tell.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph_mock.h"
#include "json_schema.h"
#include "smtp_test_support.h"
#include "temporary_directory.h"

using fixtures::TemporaryDirectory;
using namespace graph_testing;
using namespace std::chrono_literals;

namespace {

const std::string inventory_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-inventory";

std::vector<std::string> online_argv(MockMicrosoft& mock, const std::string& secret_file) {
  return {inventory_tool, "--tenant", mock.config().tenant, "--client-id", mock.config().client_id,
          "--client-secret-file", secret_file, "--login-url", mock.base() + "/login", "--graph-url", mock.base() + "/graph",
          "--exo-url", mock.base() + "/exo", "--ca", mock.server().ca_file(), "--json"};
}

bool has_sender(const nlohmann::json& document, const std::string& user) {
  for (const auto& sender : document["senders"])
    if (sender["user"] == user) return true;
  return false;
}

std::string inputs_of(const nlohmann::json& document) {
  for (const auto& check : document["checks"])
    if (check["id"] == "inventory.inputs") return check["message"];
  return {};
}

}  // namespace

TEST_CASE("inventory --tenant: both sign-in logs and the Exchange admin API, and secrets never shown", "[inventory][graph]") {
  MockTenantConfig config;
  MockMicrosoft mock(config);
  TemporaryDirectory directory("inventory-online");
  const std::string secret_file = directory.file("secret", config.client_secret + "\n");
  auto argv = online_argv(mock, secret_file);
  argv.push_back("--exo-admin-api");
  const auto run = smtp_testing::run_program(argv, 60s);
  INFO(run.err << run.out.substr(0, 3000));
  REQUIRE(run.exit_code != 2);
  REQUIRE(run.exit_code != 3);
  json_schema::check_valid("sendcheck-inventory", run.out);
  const auto document = nlohmann::json::parse(run.out);
  // Rows of both logs reached the report: printers are interactive (v1.0),
  // scanners non-interactive (beta only).
  CHECK(has_sender(document, "printer1@contoso.example"));
  CHECK(has_sender(document, "scanner1@contoso.example"));
  const auto v1 = mock.filters("v1.0"), beta = mock.filters("beta");
  REQUIRE_FALSE(v1.empty());
  REQUIRE_FALSE(beta.empty());
  CHECK_THAT(v1.front(), Catch::StartsWith("clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge "));
  CHECK_THAT(beta.front(), Catch::Contains("signInEventTypes/any(t: t eq 'nonInteractiveUser')"));
  const auto cmdlets = mock.cmdlets();
  CHECK(std::find(cmdlets.begin(), cmdlets.end(), "Get-TransportConfig") != cmdlets.end());
  CHECK(std::find(cmdlets.begin(), cmdlets.end(), R"(Get-CASMailbox {"ResultSize":"Unlimited"})") != cmdlets.end());
  const std::string inputs = inputs_of(document);
  CHECK_THAT(inputs, Catch::Contains("interactive sign-ins (Graph v1.0)"));
  CHECK_THAT(inputs, Catch::Contains("non-interactive sign-ins (Graph beta)"));
  CHECK_THAT(inputs, Catch::Contains("undocumented by Microsoft"));
  // Exit 1 exactly when a sender will break.
  bool will_break = false;
  for (const auto& sender : document["senders"]) will_break = will_break || sender["verdict"] == "will-break";
  CHECK(run.exit_code == (will_break ? 1 : 0));
  for (const auto& output : {run.out, run.err}) {
    CHECK(output.find(config.client_secret) == std::string::npos);
    CHECK(output.find("mock-access-token") == std::string::npos);
  }
}

TEST_CASE("inventory --tenant without Entra ID P1: the usage report instead, said to be unable to tell basic from OAuth", "[inventory][graph]") {
  HttpsMockServer download(file_download(usage_report_csv));
  MockTenantConfig config;
  config.licence_missing = true;
  config.concealed_names = false;
  config.report_location = download.base_url() + "/download/EmailAppUsageUserDetail.csv";
  MockMicrosoft mock(config);
  TemporaryDirectory directory("inventory-online");
  const auto run = smtp_testing::run_program(online_argv(mock, directory.file("secret", config.client_secret)), 60s);
  INFO(run.err << run.out.substr(0, 3000));
  REQUIRE(run.exit_code != 2);
  REQUIRE(run.exit_code != 3);
  json_schema::check_valid("sendcheck-inventory", run.out);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(has_sender(document, "printer@contoso.example"));
  const std::string inputs = inputs_of(document);
  CHECK_THAT(inputs, Catch::Contains("no Entra ID P1/P2 license"));
  CHECK_THAT(inputs, Catch::Contains("cannot tell basic authentication from OAuth"));
  CHECK(download.requests().size() == 1);
}

TEST_CASE("inventory --tenant: a wrong client secret is explained and is exit 2, and options are checked", "[inventory][graph]") {
  MockTenantConfig config;
  MockMicrosoft mock(config);
  TemporaryDirectory directory("inventory-online");
  const auto run = smtp_testing::run_program(online_argv(mock, directory.file("secret", "not-the-secret")), 60s);
  CHECK(run.exit_code == 2);
  CHECK(run.err.find("not-the-secret") == std::string::npos);
  CHECK(run.out.find("not-the-secret") == std::string::npos);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(document["status"] == "error");

  const auto no_way = smtp_testing::run_program({inventory_tool, "--tenant", "contoso.onmicrosoft.com", "--client-id", "x"});
  CHECK(no_way.exit_code == 2);
  CHECK_THAT(no_way.err, Catch::Contains("exactly one way to sign in"));
  const auto no_tenant = smtp_testing::run_program({inventory_tool, "--client-id", "x", "--device-code"});
  CHECK(no_tenant.exit_code == 2);
  CHECK_THAT(no_tenant.err, Catch::Contains("need --tenant"));
  const auto future = smtp_testing::run_program({inventory_tool, "--usage-report", "/dev/null", "--since", "2999-01-01"});
  CHECK(future.exit_code == 2);
  CHECK_THAT(future.err, Catch::Contains("is after today"));
}
