// OAuth 2.0 for SMTP AUTH XOAUTH2 (m365-facts.md 6): the client-credentials
// token from the Microsoft identity platform, fetched with libcurl, and the
// SASL XOAUTH2 string as Microsoft documents it. Secrets are never part of
// an error message.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "diag/input_file.h"
#include "diag/result.h"
#include "diag/tls.h"

namespace diag::oauth {

// "You must use https://outlook.office365.com/.default in the scope property."
inline constexpr std::string_view smtp_scope = "https://outlook.office365.com/.default";

// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token
std::string token_endpoint_for(std::string_view tenant);

struct ClientCredentials {
  std::string endpoint;  // https, or http on loopback only (tests)
  std::string client_id;
  std::string client_secret;
  std::string scope{smtp_scope};
  std::chrono::milliseconds timeout{10000};
};

struct Token {
  std::string access_token;
  std::string token_type;
  long expires_in = 0;
  std::string refresh_token;  // delegated flows only (device code); a secret like the token
};

// POSTs grant_type=client_credentials. Errors: bad_input for an endpoint we
// refuse (plain http off loopback); unavailable for network failures and for
// the endpoint's error replies, with its "error" and the first line of its
// "error_description" (the AADSTS code).
Result<Token> fetch_client_credentials_token(const ClientCredentials& credentials);

// When fetch_client_credentials_token's error is the token endpoint refusing
// the client (invalid_client, AADSTS7000215 a wrong secret, AADSTS7000222 an
// expired one, unauthorized_client, ...): what the admin must fix. nullopt
// for anything else (the network, a proxy), which is no finding.
struct ClientRefusal {
  bool secret = false;  // the secret itself was refused (wrong, or expired)
  std::string remedy;
};
std::optional<ClientRefusal> client_refusal(const std::string& error_message);

// The endpoint's answer to that POST (RFC 6749 5.1 and 5.2), read as
// untrusted: any bytes, any JSON. A token must be printable ASCII and at
// most 64 KB; expires_in is taken as a number or a numeric string.
Result<Token> parse_token_response(long http_status, std::string_view body);

// The endpoint's error answer (RFC 6749 5.2), typed: the device-code poll
// and the Graph client decide on `error` and the AADSTS number, never on
// the human text.
struct TokenEndpointError {
  long http_status = 0;
  std::string error;        // "invalid_client", "authorization_pending", ... (empty: not JSON)
  std::string aadsts;       // "AADSTS7000215" when the description starts with one
  std::string description;  // its first line, controls masked, at most 300 bytes
};
TokenEndpointError parse_token_error(long http_status, std::string_view body);

// --- Certificate credentials: a signed client assertion ----------------------
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials
// The page long said alg RS256 with header x5t (base64url SHA-1 thumbprint of
// the certificate's DER); its current version says PS256 with x5t#S256
// (base64url SHA-256). Both headers are sent; the algorithm is selectable.
enum class AssertionAlgorithm { rs256, ps256 };
struct AssertionClaims {
  std::string client_id;  // iss and sub
  std::string audience;   // aud: the token endpoint
  std::chrono::sys_seconds now{};
  std::chrono::seconds lifetime{600};  // exp = now + lifetime; nbf = now
  AssertionAlgorithm algorithm = AssertionAlgorithm::rs256;
};
// A compact JWS, header.claims.signature, signed with the certificate's RSA
// key. bad_input when the key is not RSA or does not match the certificate.
Result<std::string> make_client_assertion(const tls::Credentials& certificate, const AssertionClaims& claims);
inline constexpr std::string_view client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
std::string base64url(std::string_view bytes);        // RFC 4648 5, no padding
std::string base64url_thumbprint_sha1(X509* certificate);
std::string base64url_thumbprint_sha256(X509* certificate);

// --- Device authorization grant (RFC 8628) -----------------------------------
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
struct DeviceCode {
  std::string device_code;  // a secret: sent back when polling, never shown
  std::string user_code, verification_uri, message;
  long expires_in = 900;
  long interval = 5;  // seconds between polls
};
// The /devicecode answer. bad fields (no device_code, no user_code): unavailable.
Result<DeviceCode> parse_device_code_response(long http_status, std::string_view body);
inline constexpr std::string_view device_code_grant_type = "urn:ietf:params:oauth:grant-type:device_code";

// What a poll's error answer means (RFC 8628 3.5).
enum class DevicePoll {
  pending,    // authorization_pending: ask again after the interval
  slow_down,  // slow_down: the interval grows by 5 seconds, for this and all later polls
  declined,   // authorization_declined: the admin said no
  expired,    // expired_token: the code timed out; start again
  failed,     // anything else (bad_verification_code, invalid_client, ...)
};
DevicePoll classify_device_poll(const TokenEndpointError& error);

// base64("user=" user ^A "auth=Bearer " token ^A ^A)
std::string xoauth2_initial_response(std::string_view user, std::string_view token);

// Secrets come from files by the one rule of diag/input_file.h.
using diag::read_secret_file;

}  // namespace diag::oauth
