#include "diag/oauth.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include <nlohmann/json.hpp>

#include "diag/ascii.h"
#include "diag/base64.h"
#include "diag/http.h"

namespace diag::oauth {

namespace {

constexpr std::size_t max_response_bytes = 1024 * 1024;

constexpr std::size_t max_token_bytes = 64 * 1024;

std::string first_line(std::string_view text) {
  text = text.substr(0, text.find_first_of("\r\n"));
  return std::string(text.substr(0, 300));
}

}  // namespace

std::string token_endpoint_for(std::string_view tenant) {
  return "https://login.microsoftonline.com/" + std::string(tenant) + "/oauth2/v2.0/token";
}

Result<Token> fetch_client_credentials_token(const ClientCredentials& credentials) {
  if (!http::url_allowed(credentials.endpoint))
    return bad_input("the token endpoint must be an https:// URL (plain http only on loopback): " + credentials.endpoint);
  http::Request request;
  request.method = "POST";
  request.url = credentials.endpoint;
  request.headers = {"Content-Type: application/x-www-form-urlencoded"};
  request.body = "grant_type=client_credentials&client_id=" + http::percent_encode(credentials.client_id) +
                 "&client_secret=" + http::percent_encode(credentials.client_secret) +
                 "&scope=" + http::percent_encode(credentials.scope);
  request.timeout = credentials.timeout;
  request.max_body_bytes = max_response_bytes;
  const http::Exchange exchange = http::perform(request);
  if (!exchange.response) return unavailable("cannot get a token from " + credentials.endpoint + ": " + exchange.error);
  const long status = exchange.response->status;
  const std::string& body = exchange.response->body;
  auto token = parse_token_response(status, body);
  // An endpoint that echoes the request back must not get the secret printed.
  if (!token && !credentials.client_secret.empty()) {
    Error error = token.error();
    for (auto at = error.message.find(credentials.client_secret); at != std::string::npos;
         at = error.message.find(credentials.client_secret, at + 3))
      error.message.replace(at, credentials.client_secret.size(), "***");
    return error;
  }
  return token;
}

Result<Token> parse_token_response(long http_status, std::string_view body) {
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (http_status != 200) {
    std::string message = "the token endpoint answered HTTP " + std::to_string(http_status);
    if (document.is_object()) {
      const auto error = document.find("error");
      if (error != document.end() && error->is_string()) message += ": " + ascii::mask_controls(error->get<std::string>());
      const auto description = document.find("error_description");
      if (description != document.end() && description->is_string())
        message += ": " + ascii::mask_controls(first_line(description->get<std::string>()));
    }
    return unavailable(message);
  }
  if (!document.is_object()) return unavailable("the token endpoint's answer is not a JSON object");
  const auto access_token = document.find("access_token");
  if (access_token == document.end() || !access_token->is_string())
    return unavailable("the token endpoint's answer has no access_token");
  Token token;
  token.access_token = access_token->get<std::string>();
  // A token goes into a base64 SASL string and an SMTP line: printable ASCII only.
  const bool printable_token = std::all_of(token.access_token.begin(), token.access_token.end(),
                                           [](char c) { return c > ' ' && c < 0x7f; });
  if (token.access_token.empty() || token.access_token.size() > max_token_bytes || !printable_token) {
    token.access_token.assign(token.access_token.size(), '\0');
    return unavailable("the token endpoint's access_token is not usable (empty, over 64 KB or not printable)");
  }
  const auto token_type = document.find("token_type");
  if (token_type != document.end() && token_type->is_string())
    token.token_type = ascii::mask_controls(token_type->get<std::string>().substr(0, 64));
  const auto refresh_token = document.find("refresh_token");
  if (refresh_token != document.end() && refresh_token->is_string() && refresh_token->get_ref<const std::string&>().size() <= max_token_bytes)
    token.refresh_token = refresh_token->get<std::string>();
  const auto expires_in = document.find("expires_in");
  if (expires_in != document.end()) {
    // Microsoft sends a number; some gateways send it as a string.
    if (expires_in->is_number_integer()) token.expires_in = expires_in->get<long>();
    else if (expires_in->is_string()) {
      const std::string text = expires_in->get<std::string>();
      long value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc() && end == text.data() + text.size()) token.expires_in = value;
    }
    if (token.expires_in < 0) token.expires_in = 0;
  }
  return token;
}

TokenEndpointError parse_token_error(long http_status, std::string_view body) {
  TokenEndpointError out;
  out.http_status = http_status;
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (!document.is_object()) return out;
  const auto error = document.find("error");
  if (error != document.end() && error->is_string()) out.error = ascii::mask_controls(error->get<std::string>().substr(0, 100));
  const auto description = document.find("error_description");
  if (description != document.end() && description->is_string()) {
    out.description = ascii::mask_controls(first_line(description->get<std::string>()));
    // Microsoft's descriptions start with the code: "AADSTS7000215: Invalid client secret provided. ..."
    if (out.description.starts_with("AADSTS")) {
      std::size_t end = 6;
      while (end < out.description.size() && std::isdigit(static_cast<unsigned char>(out.description[end]))) ++end;
      if (end > 6) out.aadsts = out.description.substr(0, end);
    }
  }
  return out;
}

Result<DeviceCode> parse_device_code_response(long http_status, std::string_view body) {
  if (http_status != 200) {
    const TokenEndpointError error = parse_token_error(http_status, body);
    std::string message = "the device-code endpoint answered HTTP " + std::to_string(http_status);
    if (!error.error.empty()) message += ": " + error.error;
    if (!error.description.empty()) message += ": " + error.description;
    return unavailable(message);
  }
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (!document.is_object()) return unavailable("the device-code endpoint's answer is not a JSON object");
  const auto text = [&](const char* name, std::size_t limit) -> std::string {
    const auto field = document.find(name);
    if (field == document.end() || !field->is_string()) return {};
    const std::string& value = field->get_ref<const std::string&>();
    return value.size() <= limit ? value : std::string();
  };
  const auto number = [&](const char* name, long fallback) {
    const auto field = document.find(name);
    if (field != document.end() && field->is_number_integer()) return field->get<long>();
    if (field != document.end() && field->is_string()) {
      long value = 0;
      const std::string& digits = field->get_ref<const std::string&>();
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec == std::errc() && end == digits.data() + digits.size()) return value;
    }
    return fallback;
  };
  DeviceCode code;
  code.device_code = text("device_code", max_token_bytes);
  code.user_code = ascii::mask_controls(text("user_code", 64));
  code.verification_uri = ascii::mask_controls(text("verification_uri", 500));
  code.message = ascii::mask_controls(text("message", 1000));
  // RFC 8628 3.2: interval defaults to 5 seconds; bounded so a hostile
  // answer cannot make us poll in a loop or wait for a day.
  code.interval = std::clamp(number("interval", 5), 1L, 60L);
  code.expires_in = std::clamp(number("expires_in", 900), 1L, 3600L);
  if (code.device_code.empty() || code.user_code.empty())
    return unavailable("the device-code endpoint's answer has no device_code or user_code");
  if (code.message.empty())
    code.message = "To sign in, open " + code.verification_uri + " and enter the code " + code.user_code + ".";
  return code;
}

DevicePoll classify_device_poll(const TokenEndpointError& error) {
  if (error.error == "authorization_pending") return DevicePoll::pending;
  if (error.error == "slow_down") return DevicePoll::slow_down;
  if (error.error == "authorization_declined" || error.error == "access_denied") return DevicePoll::declined;
  if (error.error == "expired_token") return DevicePoll::expired;
  return DevicePoll::failed;
}

std::string xoauth2_initial_response(std::string_view user, std::string_view token) {
  std::string text = "user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01";
  return base64_encode(text);
}

std::optional<ClientRefusal> client_refusal(const std::string& text) {
  const bool refused_secret = text.find("AADSTS7000215") != std::string::npos || text.find("AADSTS7000222") != std::string::npos ||
                              text.find("invalid_client") != std::string::npos;
  const bool refused = refused_secret || text.find("unauthorized_client") != std::string::npos ||
                       text.find("AADSTS") != std::string::npos || text.find("invalid_request") != std::string::npos;
  if (!refused) return std::nullopt;
  ClientRefusal out;
  out.secret = refused_secret;
  if (text.find("AADSTS7000222") != std::string::npos)
    out.remedy = "The client secret has expired: create a new secret (Entra admin center > App registrations > the app > Certificates & "
                 "secrets), and give its Value (not its Secret ID) with --client-secret-file.";
  else if (refused_secret)
    out.remedy = "The client secret is wrong: give the secret's Value, not its Secret ID (the Value is shown only when the secret is "
                 "created; if it is lost, create a new secret under App registrations > the app > Certificates & secrets).";
  else
    out.remedy = "Check --tenant and --client-id: the app registration must exist in that tenant, with SMTP.SendAsApp granted (admin consent).";
  return out;
}

}  // namespace diag::oauth
