// Sovereign clouds for the submission methods: a GCC High, DoD or 21Vianet
// tenant does not submit to smtp.office365.com, and its token comes from
// another login host with another scope. The tenant's MX names its cloud
// (mail.protection.office365.us: GCC High and DoD; partner.outlook.cn:
// 21Vianet), so one MX question picks the endpoints before anything runs.
//
// GCC High: smtp.office365.us, login.microsoftonline.us and the scope
// https://outlook.office365.us/.default, as public deployments configure
// them (for example BlackBerry's guide to the U.S. Government URLs,
// https://docs.blackberry.com/en/endpoint-management/blackberry-enterprise-mobility-server/bems-resources/modern-authentication/Additional-configuration-options/Configure-alternate-login-and-Office-365-resource-URLs);
// Microsoft's "Office 365 U.S. Government GCC High endpoints" list was not
// at hand to confirm the SMTP host, so the output says so. DoD shares the
// MX pattern and its SMTP AUTH host is not confirmed at all; 21Vianet's is
// smtp.partner.outlook.cn (observed), its token host and scope are not
// confirmed. Where a value is unconfirmed the run says so and names the
// option to test the right one, rather than guessing.
#include "diag/ascii.h"
#include "diag/ip.h"
#include "diag/mx.h"
#include "diag/preflight.h"

namespace diag::preflight {

std::optional<SovereignCloud> sovereign_cloud_of(std::string_view mx_host) {
  switch (mx::classify_host(mx_host).provider) {
    case mx::Provider::m365_gcc_high: return SovereignCloud::us_government;
    case mx::Provider::m365_21vianet: return SovereignCloud::china_21vianet;
    default: return std::nullopt;
  }
}

bool is_stand_in_host(std::string_view host) { return IpAddress::parse(host) || ascii::to_lower(host) == "localhost"; }

namespace {

// GCC High's token: login.microsoftonline.us and the .us resource.
void use_government_token(Plan& plan) {
  plan.oauth_scope = "https://outlook.office365.us/.default";
  if (plan.token_endpoint.empty() && !plan.tenant.empty())
    plan.token_endpoint = "https://login.microsoftonline.us/" + plan.tenant + "/oauth2/v2.0/token";
}

}  // namespace

void apply_sovereign_cloud(Plan& plan, SovereignCloud cloud, std::string_view mx_host) {
  if (!(plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs)) return;
  // --smtp-host stands in for the cloud's host: the token and the device's
  // settings are still the cloud's. For HVE and ACS a host name given is the
  // one the admin was given for the cloud; a stand-in leaves it unknown.
  if (plan.endpoint_overridden && plan.method != Method::smtp_auth && !is_stand_in_host(plan.endpoint.host)) return;
  const std::string mx(mx_host);
  if (plan.endpoint_overridden && plan.method == Method::smtp_auth) {
    const bool government = cloud == SovereignCloud::us_government;
    plan.cloud_endpoint_host = government ? "smtp.office365.us" : "smtp.partner.outlook.cn";
    if (government) use_government_token(plan);
    plan.cloud_checks.push_back(Check{
        "input.cloud", Status::warn,
        "The MX " + mx + " is in " + (government ? "Microsoft's U.S. Government cloud (GCC High or DoD)" : "Microsoft 365 operated by 21Vianet") +
            ": the device submits to " + plan.cloud_endpoint_host + " (not confirmed here on Microsoft's endpoint list), for which this "
            "run tests --smtp-host " + plan.endpoint.host + (government ? ", with a token for https://outlook.office365.us" : ""),
        "Configure the device with the cloud's host, not smtp.office365.com; its token must come from the cloud's login host.",
        {{"mx", mx}, {"cloud", government ? "us-government" : "21vianet"}, {"host", plan.cloud_endpoint_host}}});
    // The stand-in answered; the cloud's own host, not confirmed, did not.
    plan.cloud_steps.push_back(Step{"cloud", StepState::untested,
                                    "the cloud's SMTP AUTH host " + plan.cloud_endpoint_host + " is not confirmed, and this run tested " +
                                        plan.endpoint.host + " in its place",
                                    "--smtp-host " + plan.cloud_endpoint_host + " (or the host Microsoft lists for the tenant's cloud)"});
    return;
  }
  if (cloud == SovereignCloud::us_government) {
    if (plan.method == Method::smtp_auth) {
      plan.endpoint.host = "smtp.office365.us";
      use_government_token(plan);
      plan.cloud_checks.push_back(Check{
          "input.cloud", Status::warn,
          "The MX " + mx + " is in Microsoft's U.S. Government cloud (GCC High or DoD): this run submits to smtp.office365.us and asks "
          "login.microsoftonline.us for a token with the scope https://outlook.office365.us/.default, the GCC High values public "
          "deployments use (not confirmed here on Microsoft's endpoint list)",
          "If the tenant is in DoD, its SMTP AUTH host is not confirmed: find it in Microsoft's \"Office 365 U.S. Government DoD "
          "endpoints\" list and test it with --smtp-host (and --token-endpoint).",
          {{"mx", mx}, {"cloud", "us-government"}}});
    } else {
      const std::string what = plan.method == Method::hve ? "High Volume Email" : "Azure Communication Services email";
      plan.cloud_checks.push_back(Check{"input.cloud", Status::warn,
                                        "The MX " + mx + " is in Microsoft's U.S. Government cloud (GCC High or DoD); no source at hand "
                                        "confirms that " + what + " is offered there, or its host",
                                        "Check the service's availability for the tenant's cloud; test a host you were given with --smtp-host.",
                                        {{"mx", mx}, {"cloud", "us-government"}}});
      plan.cloud_steps.push_back(Step{"cloud", StepState::untested, what + " in GCC High/DoD is not confirmed",
                                      "--smtp-host with the host Microsoft gives for the tenant's cloud"});
    }
    return;
  }
  if (plan.method == Method::smtp_auth) {
    plan.endpoint.host = "smtp.partner.outlook.cn";
    plan.cloud_checks.push_back(Check{
        "input.cloud", Status::warn,
        "The MX " + mx + " is in Microsoft 365 operated by 21Vianet: this run submits to smtp.partner.outlook.cn; the token host and "
        "scope for that cloud are not confirmed here",
        "For OAuth, give a token from the tenant's cloud with --oauth-token-file, or its token URL with --token-endpoint.",
        {{"mx", mx}, {"cloud", "21vianet"}}});
    if (plan.auth == smtp::AuthMechanism::xoauth2 && plan.token_file.empty() && plan.token_endpoint.empty())
      plan.cloud_steps.push_back(Step{"cloud", StepState::untested, "the 21Vianet token endpoint is not confirmed",
                                      "--oauth-token-file FILE, or --token-endpoint URL"});
  } else {
    plan.cloud_checks.push_back(Check{"input.cloud", Status::warn,
                                      "The MX " + mx + " is in Microsoft 365 operated by 21Vianet; no source at hand confirms this method's host there",
                                      "Test the host you were given with --smtp-host.", {{"mx", mx}, {"cloud", "21vianet"}}});
    plan.cloud_steps.push_back(Step{"cloud", StepState::untested, "the method's host in 21Vianet is not confirmed", "--smtp-host"});
  }
}

void find_sovereign_cloud(Plan& plan, const dns::ResolverConfig& resolver_config) {
  if (!(plan.method == Method::smtp_auth || plan.method == Method::hve || plan.method == Method::acs)) return;
  if (plan.endpoint_overridden && plan.method != Method::smtp_auth && !is_stand_in_host(plan.endpoint.host)) return;
  auto resolver = dns::Resolver::create(resolver_config);
  if (!resolver) return;
  dns::Answer answer;
  (*resolver)->query(plan.domain, dns::RrType::MX, [&answer](const dns::Answer& a) { answer = a; });
  (*resolver)->run();
  // A failed lookup leaves the worldwide endpoints; the SMTP rows then show
  // whether they answer.
  for (const auto& record : answer.mx())
    if (auto cloud = sovereign_cloud_of(record.exchange)) return apply_sovereign_cloud(plan, *cloud, record.exchange);
}

}  // namespace diag::preflight
