#include "diag/oauth.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <nlohmann/json.hpp>

#include "diag/ascii.h"
#include "diag/curl_runtime.h"
#include "diag/base64.h"

namespace diag::oauth {

namespace {

constexpr std::size_t max_response_bytes = 1024 * 1024;

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t bytes = size * count;
  if (body->size() + bytes > max_response_bytes) return 0;  // aborts the transfer
  body->append(data, bytes);
  return bytes;
}

bool loopback_http(std::string_view url) {
  for (std::string_view prefix : {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/",
                                  "http://[::1]:", "http://[::1]/"})
    if (url.starts_with(prefix)) return true;
  return false;
}

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
  if (!credentials.endpoint.starts_with("https://") && !loopback_http(credentials.endpoint))
    return bad_input("the token endpoint must be an https:// URL (plain http only on loopback): " + credentials.endpoint);
  const curl::Library& library = curl::library();
  if (!library.loaded()) return unavailable(library.load_error);
  curl::EasyHandle handle = curl::easy_handle();
  if (!handle) return Error{ErrorKind::internal, "cannot start libcurl"};
  CURL* const easy = handle.get();
  const auto setopt = library.easy_setopt;
  const std::string form = "grant_type=client_credentials&client_id=" + curl::escape(easy, credentials.client_id) +
                           "&client_secret=" + curl::escape(easy, credentials.client_secret) +
                           "&scope=" + curl::escape(easy, credentials.scope);
  std::string body;
  char error_buffer[CURL_ERROR_SIZE] = {};
  setopt(easy, CURLOPT_URL, credentials.endpoint.c_str());
  setopt(easy, CURLOPT_POSTFIELDS, form.c_str());
  setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  setopt(easy, CURLOPT_WRITEFUNCTION, collect);
  setopt(easy, CURLOPT_WRITEDATA, &body);
  setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(credentials.timeout.count()));
  setopt(easy, CURLOPT_NOSIGNAL, 1L);
  setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode code = library.easy_perform(easy);
  if (code != CURLE_OK)
    return unavailable("cannot get a token from " + credentials.endpoint + ": " +
                       (error_buffer[0] ? std::string(error_buffer) : library.easy_strerror(code)));
  long status = 0;
  library.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
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

std::string xoauth2_initial_response(std::string_view user, std::string_view token) {
  std::string text = "user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01";
  return base64_encode(text);
}

}  // namespace diag::oauth
