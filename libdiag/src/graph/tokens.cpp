// Tokens from the Microsoft identity platform for Graph and the Exchange
// admin API: client secret, certificate (signed client assertion) and
// device code, each cached per scope until shortly before it expires.
#include <iostream>
#include <map>

#include "diag/graph.h"
#include "diag/http.h"
#include "graph_internal.h"

namespace diag::graph {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t max_token_answer_bytes = 1024 * 1024;

std::string form_field(std::string_view name, std::string_view value) {
  return std::string(name) + "=" + http::percent_encode(value);
}

std::string masked(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "***");
  }
  return text;
}

// A refusal from the token endpoint, typed by its error and AADSTS code.
Failure token_failure(const oauth::TokenEndpointError& error, const std::vector<std::string>& secrets) {
  Failure failure;
  failure.http_status = error.http_status;
  failure.code = !error.aadsts.empty() ? error.aadsts : error.error;
  std::string text = "the sign-in endpoint answered HTTP " + std::to_string(error.http_status);
  if (!error.error.empty()) text += ": " + error.error;
  if (!error.description.empty()) text += ": " + error.description;
  if (error.aadsts == "AADSTS7000215") {
    failure.kind = FailureKind::invalid_client_secret;
    text += " (the client secret is wrong: use the secret's Value, not its Secret ID, from the app registration's "
            "Certificates & secrets page, for this app's client id)";
  } else if (error.error == "invalid_client" || error.error == "unauthorized_client" || error.error == "invalid_request" ||
             error.error == "invalid_grant" || error.error == "invalid_scope" || error.error == "access_denied") {
    failure.kind = FailureKind::credentials_refused;
  } else if (error.http_status == 429 || error.http_status >= 500) {
    failure.kind = error.http_status == 429 ? FailureKind::throttled : FailureKind::http_error;
  } else {
    failure.kind = FailureKind::credentials_refused;
  }
  failure.message = masked(std::move(text), secrets);
  return failure;
}

// POSTs a form to the token (or device-code) endpoint.
http::Exchange post_form(const Settings& settings, const std::string& endpoint, const std::string& form) {
  http::Request request;
  request.method = "POST";
  request.url = endpoint;
  request.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  request.body = form;
  request.ca_file = settings.ca_file;
  request.timeout = settings.timeout;
  request.max_body_bytes = max_token_answer_bytes;
  return http::perform(request);
}

// A token, or the endpoint's typed refusal.
Outcome<oauth::Token> redeem(const Settings& settings, const std::string& form, const std::vector<std::string>& secrets,
                             oauth::TokenEndpointError* refusal = nullptr) {
  const std::string endpoint = token_endpoint(settings);
  const http::Exchange exchange = post_form(settings, endpoint, form);
  if (!exchange.response) {
    Failure failure = transport_failure(exchange, "cannot get a token from " + endpoint);
    failure.message = masked(failure.message, secrets);
    return failure;
  }
  if (exchange.response->status == 200) {
    auto token = oauth::parse_token_response(200, exchange.response->body);
    if (!token) return malformed("the sign-in endpoint " + endpoint, masked(token.error().message, secrets));
    return std::move(token).value();
  }
  // Masked before parsing: the description is cut to one bounded line, and
  // a cut could leave half a secret that no later mask would recognize.
  const auto error = oauth::parse_token_error(exchange.response->status, masked(exchange.response->body, secrets));
  if (refusal) *refusal = error;
  return token_failure(error, secrets);
}

struct CachedToken {
  std::string access_token;
  SteadyClock::time_point good_until;
};

class CachingSource : public TokenSource {
 public:
  explicit CachingSource(Settings settings) : settings_(std::move(settings)) {}

  Outcome<std::string> bearer(const std::string& scope, bool refresh) final {
    const auto cached = cache_.find(scope);
    if (!refresh && cached != cache_.end() && SteadyClock::now() < cached->second.good_until) return cached->second.access_token;
    auto token = fetch(scope);
    if (!token) return token.failure();
    // Renewed a minute before Microsoft's expiry, so a page is never
    // requested with a token about to lapse.
    const long lifetime = token->expires_in > 120 ? token->expires_in - 60 : 60;
    cache_[scope] = CachedToken{token->access_token, SteadyClock::now() + std::chrono::seconds(lifetime)};
    return token->access_token;
  }

 protected:
  virtual Outcome<oauth::Token> fetch(const std::string& scope) = 0;
  Settings settings_;

 private:
  std::map<std::string, CachedToken> cache_;
};

class ClientSecretSource final : public CachingSource {
 public:
  ClientSecretSource(const Settings& settings, std::string client_id, std::string secret)
      : CachingSource(settings), client_id_(std::move(client_id)), secret_(std::move(secret)) {}

 private:
  Outcome<oauth::Token> fetch(const std::string& scope) override {
    const std::string form = form_field("grant_type", "client_credentials") + "&" + form_field("client_id", client_id_) +
                             "&" + form_field("client_secret", secret_) + "&" + form_field("scope", scope);
    return redeem(settings_, form, {secret_, http::percent_encode(secret_)});
  }
  std::string client_id_, secret_;
};

class ClientCertificateSource final : public CachingSource {
 public:
  ClientCertificateSource(const Settings& settings, std::string client_id, std::shared_ptr<const tls::Credentials> certificate,
                          oauth::AssertionAlgorithm algorithm)
      : CachingSource(settings), client_id_(std::move(client_id)), certificate_(std::move(certificate)), algorithm_(algorithm) {}

 private:
  Outcome<oauth::Token> fetch(const std::string& scope) override {
    if (!certificate_) return Failure{FailureKind::bad_input, 0, "", "no client certificate"};
    oauth::AssertionClaims claims;
    claims.client_id = client_id_;
    claims.audience = token_endpoint(settings_);  // Microsoft: aud is the token endpoint
    claims.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    claims.algorithm = algorithm_;
    auto assertion = oauth::make_client_assertion(*certificate_, claims);
    if (!assertion) return Failure{FailureKind::bad_input, 0, "", assertion.error().message};
    const std::string form = form_field("grant_type", "client_credentials") + "&" + form_field("client_id", client_id_) +
                             "&" + form_field("client_assertion_type", oauth::client_assertion_type) + "&" +
                             form_field("client_assertion", assertion.value()) + "&" + form_field("scope", scope);
    return redeem(settings_, form, {assertion.value()});
  }
  std::string client_id_;
  std::shared_ptr<const tls::Credentials> certificate_;
  oauth::AssertionAlgorithm algorithm_;
};

class DeviceCodeSource final : public CachingSource {
 public:
  DeviceCodeSource(const Settings& settings, std::string client_id, DeviceCodePrompt prompt)
      : CachingSource(settings), client_id_(std::move(client_id)), prompt_(std::move(prompt)) {}

 private:
  Outcome<oauth::Token> fetch(const std::string& scope) override {
    // offline_access brings a refresh token, redeemed for the next scope
    // (Graph, then Exchange) without asking the admin again.
    const std::string scopes = scope + " offline_access";
    if (!refresh_token_.empty()) {
      const std::string form = form_field("grant_type", "refresh_token") + "&" + form_field("client_id", client_id_) + "&" +
                               form_field("refresh_token", refresh_token_) + "&" + form_field("scope", scopes);
      auto token = redeem(settings_, form, {refresh_token_});
      if (token) return keep_refresh_token(std::move(token).value());
      if (token.failure().kind == FailureKind::network || token.failure().kind == FailureKind::timed_out) return token;
      refresh_token_.clear();  // refused (revoked, consent missing): sign in again
    }
    return sign_in(scopes);
  }

  oauth::Token keep_refresh_token(oauth::Token token) {
    if (!token.refresh_token.empty()) refresh_token_ = token.refresh_token;
    return token;
  }

  Outcome<oauth::Token> sign_in(const std::string& scopes) {
    const std::string endpoint = device_code_endpoint(settings_);
    const http::Exchange exchange =
        post_form(settings_, endpoint, form_field("client_id", client_id_) + "&" + form_field("scope", scopes));
    if (!exchange.response) return transport_failure(exchange, "cannot start the device-code sign-in at " + endpoint);
    if (exchange.response->status != 200)
      return token_failure(oauth::parse_token_error(exchange.response->status, exchange.response->body), {});
    auto code = oauth::parse_device_code_response(200, exchange.response->body);
    if (!code) return malformed("the device-code endpoint " + endpoint, code.error().message);
    if (prompt_) prompt_(code.value());
    else std::cerr << code->message << std::endl;

    const std::string form = form_field("grant_type", oauth::device_code_grant_type) + "&" +
                             form_field("client_id", client_id_) + "&" + form_field("device_code", code->device_code);
    const std::vector<std::string> secrets = {code->device_code};
    long interval = code->interval;
    long waited = 0;
    const auto started = SteadyClock::now();
    // RFC 8628 3.4/3.5: poll at the interval until the code expires.
    while (waited < code->expires_in && SteadyClock::now() - started < std::chrono::seconds(code->expires_in)) {
      wait_for(settings_, std::chrono::seconds(interval));
      waited += interval;
      oauth::TokenEndpointError refusal;
      auto token = redeem(settings_, form, secrets, &refusal);
      if (token) return keep_refresh_token(std::move(token).value());
      if (refusal.http_status == 0) return token;  // no answer at all: network
      switch (oauth::classify_device_poll(refusal)) {
        case oauth::DevicePoll::pending: continue;
        case oauth::DevicePoll::slow_down: interval += 5; continue;  // RFC 8628 3.5: for this and all later polls
        case oauth::DevicePoll::declined:
          return Failure{FailureKind::sign_in_declined, refusal.http_status, refusal.error, "the sign-in was declined"};
        case oauth::DevicePoll::expired: break;
        case oauth::DevicePoll::failed: return token;
      }
      break;
    }
    return Failure{FailureKind::sign_in_expired, 0, "expired_token",
                   "nobody signed in with the code before it expired; run the command again"};
  }

  std::string client_id_;
  DeviceCodePrompt prompt_;
  std::string refresh_token_;
};

}  // namespace

std::string token_endpoint(const Settings& settings) {
  return settings.endpoints.login + "/" + http::percent_encode(settings.tenant) + "/oauth2/v2.0/token";
}

std::string device_code_endpoint(const Settings& settings) {
  return settings.endpoints.login + "/" + http::percent_encode(settings.tenant) + "/oauth2/v2.0/devicecode";
}

std::unique_ptr<TokenSource> client_secret_tokens(const Settings& settings, std::string client_id, std::string client_secret) {
  return std::make_unique<ClientSecretSource>(settings, std::move(client_id), std::move(client_secret));
}

std::unique_ptr<TokenSource> client_certificate_tokens(const Settings& settings, std::string client_id,
                                                       std::shared_ptr<const tls::Credentials> certificate,
                                                       oauth::AssertionAlgorithm algorithm) {
  return std::make_unique<ClientCertificateSource>(settings, std::move(client_id), std::move(certificate), algorithm);
}

std::unique_ptr<TokenSource> device_code_tokens(const Settings& settings, std::string client_id, DeviceCodePrompt prompt) {
  return std::make_unique<DeviceCodeSource>(settings, std::move(client_id), std::move(prompt));
}

}  // namespace diag::graph
