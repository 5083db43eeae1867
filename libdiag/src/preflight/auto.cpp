// sendcheck-preflight --method auto: which submission paths fit a device,
// from a table of what each path requires (Microsoft's multifunction-device
// guide: https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365), and
// which one to recommend: the first in the table's order that fits.
#include <array>

#include "diag/preflight.h"

namespace diag::preflight {
namespace {

// What a submission path asks of the device, in order of preference.
struct MethodRequirements {
  Method method;
  bool external_recipients;            // can deliver outside the tenant
  std::optional<DeviceTls> min_tls;    // nullopt: TLS optional
  DeviceAuth min_auth;                 // none: anonymous; basic: user name and password; oauth: XOAUTH2
  const char* why;                     // why it is preferred when it fits
  const char* needs;                   // what the admin still has to set up
  const char* internal_only;           // the reason when recipients are external
  const char* auth_reason;             // the reason when the device cannot authenticate as required
};

constexpr std::array<MethodRequirements, 5> requirements{{
    // smtp.office365.com:587, STARTTLS with TLS 1.2+, XOAUTH2 (basic goes away:
    // https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835).
    {Method::smtp_auth, true, DeviceTls::tls1_2, DeviceAuth::oauth,
     "authenticated submission with OAuth reaches any recipient, needs no SPF entry or connector, and is untouched by Reject Direct "
     "Send and by the basic-authentication retirement",
     "a licensed mailbox with SMTP AUTH enabled (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) and an OAuth app; port 587",
     "",
     "it needs OAuth (XOAUTH2): basic authentication for SMTP AUTH is disabled by default from the end of December 2026 (MC786329, "
     "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835)"},
    // Direct send: tenant MX:25, TLS optional, anonymous, own mailboxes only.
    {Method::direct_send, false, std::nullopt, DeviceAuth::none,
     "the simplest path for mail to the tenant's own mailboxes: the tenant MX on port 25, no account, no connector",
     "the device's public IP in the SPF record of the sender's domain, and Reject Direct Send off",
     "it delivers only to the tenant's own mailboxes", ""},
    // Relay: tenant MX:25, inbound connector by static IP or certificate, any recipient.
    {Method::relay, true, std::nullopt, DeviceAuth::none,
     "no account or password on the device: an inbound connector identifies it, and it reaches any recipient, inside the "
     "organization or outside",
     "an inbound connector matching a static public IP that belongs to the organization, or a TLS certificate whose CN/SAN is an "
     "accepted domain (the device then needs TLS)",
     "", ""},
    // HVE (https://learn.microsoft.com/exchange/mail-flow-best-practices/high-volume-mails-m365): smtp.hve.mx.microsoft:587, TLS required, HVE account credentials, internal only.
    {Method::hve, false, DeviceTls::tls1_2, DeviceAuth::basic,
     "authenticated submission for internal mail with an HVE account (basic authentication supported until September 2028, "
     "third-party report)",
     "an HVE account (Exchange admin center > Mail flow > High volume email)",
     "High Volume Email delivers to internal recipients only",
     "it needs the HVE account's user name and password (or OAuth)"},
    // ACS (https://learn.microsoft.com/azure/communication-services/quickstarts/email/send-email-smtp/smtp-authentication): smtp.azurecomm.net:587, TLS 1.2+, Entra app secret as the password, any recipient.
    {Method::acs, true, DeviceTls::tls1_2, DeviceAuth::basic,
     "authenticated submission to any recipient through Azure Communication Services",
     "an ACS resource with a verified email domain and an Entra app with a client secret (the SMTP password)",
     "",
     "it needs AUTH LOGIN with the ACS user name and the Entra app's client secret"},
}};

std::string tls_name(DeviceTls tls) {
  switch (tls) {
    case DeviceTls::none: return "no TLS";
    case DeviceTls::tls1_0: return "TLS 1.0";
    case DeviceTls::tls1_1: return "TLS 1.1";
    case DeviceTls::tls1_2: return "TLS 1.2";
    case DeviceTls::tls1_3: return "TLS 1.3";
  }
  return "no TLS";
}

std::string auth_name(DeviceAuth auth) {
  switch (auth) {
    case DeviceAuth::none: return "no authentication";
    case DeviceAuth::basic: return "basic authentication only";
    case DeviceAuth::oauth: return "OAuth";
  }
  return "no authentication";
}

MethodFit fit(const MethodRequirements& r, const DeviceProfile& device) {
  MethodFit out;
  out.method = r.method;
  if (device.external && !r.external_recipients) out.reasons.emplace_back(r.internal_only);
  if (r.min_tls && device.tls < *r.min_tls)
    out.reasons.push_back("it needs STARTTLS with " + tls_name(*r.min_tls) + " or later on port 587; the device " +
                          (device.tls == DeviceTls::none ? std::string("does not speak TLS") : "speaks at most " + tls_name(device.tls)));
  if (device.auth < r.min_auth) out.reasons.emplace_back(r.auth_reason);
  out.fits = out.reasons.empty();
  if (out.fits) out.needs = r.needs;
  return out;
}

}  // namespace

Result<DeviceProfile> parse_device(std::string_view tls, std::string_view auth, std::string_view recipients) {
  DeviceProfile device;
  if (tls == "none") device.tls = DeviceTls::none;
  else if (tls == "1.0") device.tls = DeviceTls::tls1_0;
  else if (tls == "1.1") device.tls = DeviceTls::tls1_1;
  else if (tls == "1.2") device.tls = DeviceTls::tls1_2;
  else if (tls == "1.3") device.tls = DeviceTls::tls1_3;
  else return bad_input("--device-tls must be none, 1.0, 1.1, 1.2 or 1.3 (not \"" + std::string(tls) + "\")");
  if (auth == "none") device.auth = DeviceAuth::none;
  else if (auth == "basic") device.auth = DeviceAuth::basic;
  else if (auth == "oauth") device.auth = DeviceAuth::oauth;
  else return bad_input("--device-auth must be none, basic or oauth (not \"" + std::string(auth) + "\")");
  if (recipients == "internal") device.external = false;
  else if (recipients == "external") device.external = true;
  else return bad_input("--recipients must be internal or external (not \"" + std::string(recipients) + "\")");
  return device;
}

std::string describe(const DeviceProfile& device) {
  return tls_name(device.tls) + ", " + auth_name(device.auth) + ", " + (device.external ? "external" : "internal") + " recipients";
}

Recommendation recommend(const DeviceProfile& device, const std::vector<RuledOut>& ruled_out) {
  Recommendation out;
  out.device = device;
  for (const auto& r : requirements) {
    out.methods.push_back(fit(r, device));
    for (const auto& out_of_it : ruled_out)
      if (out_of_it.method == r.method) {
        auto& method_fit = out.methods.back();
        method_fit.fits = false;
        method_fit.needs.clear();
        method_fit.reasons.push_back(out_of_it.reason);
      }
    if (out.methods.back().fits && !out.method) {
      out.method = r.method;
      out.why = r.why;
    }
  }
  return out;
}

Section recommendation_section(const Recommendation& recommendation) {
  Section section{"method", "Method (auto: " + describe(recommendation.device) + ")", {}};
  for (const auto& fit : recommendation.methods) {
    Check check;
    check.id = "method." + std::string(to_string(fit.method));
    check.status = Status::info;
    check.fields = {{"method", to_string(fit.method)}, {"fits", fit.fits}, {"reasons", fit.reasons}};
    const std::string name = std::string(describe(fit.method)) + " (" + std::string(to_string(fit.method)) + ")";
    if (recommendation.method && fit.method == *recommendation.method) {
      check.message = "Recommended: " + name + ": " + recommendation.why + "; it needs " + fit.needs;
      check.fields["recommended"] = true;
    } else if (fit.fits) {
      check.message = "Also fits: " + name + "; it needs " + fit.needs;
    } else {
      check.message = "Does not fit: " + name + ": ";
      for (std::size_t i = 0; i < fit.reasons.size(); ++i) check.message += (i ? "; and " : "") + fit.reasons[i];
    }
    section.checks.push_back(std::move(check));
  }
  return section;
}

nlohmann::json to_json(const Recommendation& recommendation) {
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& fit : recommendation.methods)
    methods.push_back({{"method", to_string(fit.method)}, {"fits", fit.fits}, {"reasons", fit.reasons}, {"needs", fit.needs}});
  return {{"device", describe(recommendation.device)},
          {"method", recommendation.method ? nlohmann::json(to_string(*recommendation.method)) : nlohmann::json(nullptr)},
          {"why", recommendation.why},
          {"methods", methods}};
}

}  // namespace diag::preflight
