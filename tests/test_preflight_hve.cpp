// sendcheck-preflight --method hve against our server in the exo-submission
// profile (the HVE endpoint speaks the same protocol on 587): internal
// recipients work, an external one is a finding (m365-facts 3.3: HVE is
// internal only), and the password stays out of the output.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "fixture_zones.h"
#include "preflight_test_support.h"

using namespace diag;
using namespace smtp_testing;
using namespace preflight_testing;

// HVE's own greeting is not documented: a stand-in counts as HVE only when
// it greets with a name under HVE's endpoint (smtp.hve.mx.microsoft).
smtp::ServerProfile hve_stand_in() {
  auto profile = smtp::exo_submission_profile(smtp::BasicAuthAnswer::accept);
  profile.host_name = "smtp.hve.mx.microsoft";
  return profile;
}

TEST_CASE("hve: internal recipients pass, an external one fails, the password is never printed", "[preflight]") {
  auto mx = serve(hve_stand_in());
  TempDir dir;
  const auto password_file = dir.file("password", "Hve-Acc0unt-Secret\n");
  auto run_to = [&](const std::string& recipient) {
    return run_program({preflight_tool, "contoso.example", "--method", "hve", "--smtp-host", "127.0.0.1", "--smtp-port",
                        std::to_string(mx->server->port()), "--ca", mx->ca_file, "--zone", zone, "--user",
                        "hve01@contoso.example", "--password-file", password_file, "--from", "hve01@contoso.example",
                        "--to", recipient, "--json", "-v"});
  };

  const auto internal = run_to("frontdesk@contoso.example");
  INFO("stdout: " << internal.out << "\nstderr: " << internal.err);
  const auto internal_json = nlohmann::json::parse(internal.out);
  CHECK(internal.exit_code == 0);
  CHECK(internal_json["method"] == "hve");
  CHECK(status_of(internal_json, "smtp.auth") == "pass");
  CHECK(status_of(internal_json, "auth.hve-external") == "(missing)");

  const auto external = run_to("someone@fabrikam.example");
  INFO("stdout: " << external.out << "\nstderr: " << external.err);
  const auto external_json = nlohmann::json::parse(external.out);
  CHECK(external.exit_code == 1);
  CHECK(status_of(external_json, "auth.hve-external") == "fail");

  for (const auto* run : {&internal, &external}) {
    CHECK(run->out.find("Hve-Acc0unt-Secret") == std::string::npos);
    CHECK(run->err.find("Hve-Acc0unt-Secret") == std::string::npos);
  }
}

TEST_CASE("hve: Exchange Online's SMTP AUTH front end taking a password is not HVE", "[preflight]") {
  auto mx = serve(smtp::exo_submission_profile(smtp::BasicAuthAnswer::accept));
  TempDir dir;
  const auto password_file = dir.file("password", "Hve-Acc0unt-Secret\n");
  const auto run = run_program({preflight_tool, "contoso.example", "--method", "hve", "--smtp-host", "127.0.0.1", "--smtp-port",
                                std::to_string(mx->server->port()), "--ca", mx->ca_file, "--zone", zone, "--user", "hve01@contoso.example",
                                "--password-file", password_file, "--from", "hve01@contoso.example", "--to", "frontdesk@contoso.example",
                                "--json"});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  const auto json = nlohmann::json::parse(run.out);
  CHECK(run.exit_code == 3);
  CHECK(json["verdict"]["verdict"] == "not-verified");
  CHECK(status_of(json, "smtp.not-exchange-online") == "warn");
  CHECK_THAT(run.out, Catch::Contains("not as High Volume Email"));
}
