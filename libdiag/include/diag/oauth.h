// OAuth 2.0 for SMTP AUTH XOAUTH2 (m365-facts.md 6): the client-credentials
// token from the Microsoft identity platform, fetched with libcurl, and the
// SASL XOAUTH2 string as Microsoft documents it. Secrets are never part of
// an error message.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "diag/input_file.h"
#include "diag/result.h"

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
};

// POSTs grant_type=client_credentials. Errors: bad_input for an endpoint we
// refuse (plain http off loopback); unavailable for network failures and for
// the endpoint's error replies, with its "error" and the first line of its
// "error_description" (the AADSTS code).
Result<Token> fetch_client_credentials_token(const ClientCredentials& credentials);

// The endpoint's answer to that POST (RFC 6749 5.1 and 5.2), read as
// untrusted: any bytes, any JSON. A token must be printable ASCII and at
// most 64 KB; expires_in is taken as a number or a numeric string.
Result<Token> parse_token_response(long http_status, std::string_view body);

// base64("user=" user ^A "auth=Bearer " token ^A ^A)
std::string xoauth2_initial_response(std::string_view user, std::string_view token);

// Secrets come from files by the one rule of diag/input_file.h.
using diag::read_secret_file;

}  // namespace diag::oauth
