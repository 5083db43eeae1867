// A mock Microsoft tenant on loopback HTTPS: the identity platform's token
// and device-code endpoints, Graph sign-in logs (v1.0 and beta), the usage
// report with its 302, report settings, and the Exchange admin API's
// InvokeCommand, with the shapes Microsoft and third-party clients document
// (m365 admin API reference, section 1e). The login, Graph and Exchange
// bases are /login, /graph and /exo on one server, so the token scopes
// differ as they do in the real world. Faults are switched on per test.
// Header-only: included by the tests and by the Graph benchmark.
#pragma once

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "diag/graph.h"
#include "diag/oauth.h"
#include "https_mock_server.h"

namespace graph_testing {

enum class PageFault { none, not_json, truncated_json, short_body, no_value, huge, foreign_next_link, repeated_next_link };

struct MockTenantConfig {
  std::string tenant = "contoso.onmicrosoft.com";
  std::string client_id = "11111111-2222-3333-4444-555555555555";
  std::string client_secret = "mock-client-secret";
  X509* assertion_certificate = nullptr;  // verifies client assertions with its public key
  int interactive_pages = 2, rows_per_page = 3;
  int non_interactive_pages = 1, non_interactive_rows_per_page = 2;
  bool throttle_second_page_once = false;
  std::string retry_after = "1";
  bool licence_missing = false;
  bool permission_missing = false;
  int expire_first_token_after = -1;  // Graph requests the first token serves before it "expires"
  PageFault second_page_fault = PageFault::none;
  std::string report_location;       // where the usage report's 302 points
  bool concealed_names = true;
  nlohmann::json org_smtp_auth_disabled = true;
  int device_pending_polls = 1;
  bool device_slow_down = false;
};

// What the mock saw a client assertion carry, and whether it held.
struct AssertionCheck {
  bool signature_valid = false, x5t_matches = false, x5t_s256_matches = false;
  std::string alg, aud, iss, sub, jti, assertion_type;
  long long nbf = 0, exp = 0, now = 0;
};

inline std::string base64url_decode(std::string_view text) {
  std::string padded(text);
  for (auto& c : padded) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (padded.size() % 4) padded += '=';
  std::string out(padded.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (length < 0) return {};
  std::size_t size = static_cast<std::size_t>(length);
  for (std::size_t i = padded.size(); i > 0 && padded[i - 1] == '='; --i) --size;  // EVP_DecodeBlock counts padding
  out.resize(size);
  return out;
}

class MockMicrosoft {
 public:
  explicit MockMicrosoft(MockTenantConfig config)
      : config_(std::move(config)), server_([this](const MockRequest& request) { return handle(request); }) {}

  // Settings that point the client at this mock, trusting its test CA;
  // waits are recorded, not slept.
  diag::graph::Settings settings() {
    diag::graph::Settings settings;
    settings.endpoints = {base() + "/login", base() + "/graph", base() + "/exo"};
    settings.tenant = config_.tenant;
    settings.ca_file = server_.ca_file();
    settings.timeout = 10000ms;
    settings.sleep = [this](std::chrono::milliseconds delay) {
      std::lock_guard lock(mutex_);
      waits_.push_back(delay);
    };
    return settings;
  }
  std::string base() const { return server_.base_url(); }
  MockTenantConfig& config() { return config_; }
  const HttpsMockServer& server() const { return server_; }

  std::vector<std::string> filters(const std::string& version) const {
    std::lock_guard lock(mutex_);
    return version == "v1.0" ? v1_filters_ : beta_filters_;
  }
  std::vector<std::chrono::milliseconds> waits() const {
    std::lock_guard lock(mutex_);
    return waits_;
  }
  std::vector<AssertionCheck> assertions() const {
    std::lock_guard lock(mutex_);
    return assertions_;
  }
  std::vector<std::string> token_grants() const {  // grant_type of every token request
    std::lock_guard lock(mutex_);
    return grants_;
  }
  std::vector<std::string> cmdlets() const {
    std::lock_guard lock(mutex_);
    return cmdlets_;
  }
  int unauthorized_answers() const {
    std::lock_guard lock(mutex_);
    return unauthorized_;
  }

  // The interactive sign-in rows for page n (1-based), as the mock sends them.
  static std::string signin_row(bool beta, int page, int index) {
    char text[600];
    const int n = page * 100000 + index;
    std::snprintf(text, sizeof text,
                  R"({"id":"%08x-0000-4000-8000-000000000000","createdDateTime":"2026-11-%02dT%02d:%02d:%02d.6195833Z",)"
                  R"("userPrincipalName":"%s%d@contoso.example","userId":"u-%d","appDisplayName":"Office 365 Exchange Online",)"
                  R"("ipAddress":"203.0.113.%d","clientAppUsed":"Authenticated SMTP","isInteractive":%s,%s)"
                  R"("status":{"errorCode":%d,"failureReason":%s,"additionalDetails":null},)"
                  R"("location":{"city":"Redmond","state":"Washington","countryOrRegion":"US"}})",
                  n, 1 + (page % 28), index % 24, index % 60, page % 60, beta ? "scanner" : "printer", index % 50, index,
                  1 + index % 200, beta ? "false" : "true", beta ? R"("userAgent":"BAV2ROPC","signInEventTypes":["nonInteractiveUser"],)" : "",
                  index % 10 == 9 ? 50126 : 0, index % 10 == 9 ? R"("Invalid username or password.")" : "null");
    return text;
  }

 private:
  static MockResponse json(int status, std::string body) {
    MockResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
  }

  std::string issue_token(const std::string& scope, bool with_refresh = false) {
    const std::string token = "mock-access-token-" + std::to_string(++token_count_);
    token_scopes_[token] = scope;
    nlohmann::json answer = {{"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", token}};
    if (with_refresh) {
      const std::string refresh = "mock-refresh-token-" + std::to_string(token_count_);
      refresh_tokens_.insert(refresh);
      answer["refresh_token"] = refresh;
    }
    return answer.dump();
  }

  AssertionCheck check_assertion(const std::string& assertion, const std::string& assertion_type) {
    AssertionCheck check;
    check.assertion_type = assertion_type;
    check.now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto dot1 = assertion.find('.'), dot2 = assertion.rfind('.');
    if (dot1 == std::string::npos || dot2 == dot1) return check;
    const auto header = nlohmann::json::parse(base64url_decode(assertion.substr(0, dot1)), nullptr, false);
    const auto claims = nlohmann::json::parse(base64url_decode(assertion.substr(dot1 + 1, dot2 - dot1 - 1)), nullptr, false);
    if (!header.is_object() || !claims.is_object()) return check;
    check.alg = header.value("alg", "");
    check.aud = claims.value("aud", "");
    check.iss = claims.value("iss", "");
    check.sub = claims.value("sub", "");
    check.jti = claims.value("jti", "");
    check.nbf = claims.value("nbf", 0LL);
    check.exp = claims.value("exp", 0LL);
    X509* certificate = config_.assertion_certificate;
    if (!certificate) return check;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    X509_digest(certificate, EVP_sha1(), digest, &length);
    check.x5t_matches = base64url_decode(header.value("x5t", "")) == std::string(reinterpret_cast<char*>(digest), length);
    X509_digest(certificate, EVP_sha256(), digest, &length);
    check.x5t_s256_matches =
        base64url_decode(header.value("x5t#S256", "")) == std::string(reinterpret_cast<char*>(digest), length);
    // The signature, with the certificate's public key only.
    EVP_PKEY* key = X509_get0_pubkey(certificate);
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    EVP_PKEY_CTX* key_context = nullptr;
    const std::string signature = base64url_decode(assertion.substr(dot2 + 1));
    const std::string input = assertion.substr(0, dot2);
    if (EVP_DigestVerifyInit(context, &key_context, EVP_sha256(), nullptr, key) == 1) {
      if (check.alg == "PS256") {
        EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST);
      }
      check.signature_valid = (check.alg == "RS256" || check.alg == "PS256") &&
                              EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                                               signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                                               input.size()) == 1;
    }
    EVP_MD_CTX_free(context);
    return check;
  }

  MockResponse token_endpoint(const MockRequest& request) {
    const auto form = request.form();
    const auto field = [&](const char* name) {
      const auto found = form.find(name);
      return found == form.end() ? std::string() : found->second;
    };
    const std::string grant = field("grant_type");
    grants_.push_back(grant);
    const std::string scope = field("scope");
    if (field("client_id") != config_.client_id)
      return json(400, R"({"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier was not found in the directory."})");
    if (grant == "client_credentials") {
      if (!field("client_assertion").empty()) {
        const AssertionCheck check = check_assertion(field("client_assertion"), field("client_assertion_type"));
        assertions_.push_back(check);
        const bool good = check.signature_valid && check.x5t_matches && check.aud == base() + "/login/" + config_.tenant + "/oauth2/v2.0/token" &&
                          check.iss == config_.client_id && check.sub == config_.client_id && check.exp > check.now &&
                          check.nbf <= check.now + 60 && check.assertion_type == std::string(diag::oauth::client_assertion_type);
        if (!good)
          return json(401, R"({"error":"invalid_client","error_description":"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."})");
        return json(200, issue_token(scope));
      }
      if (field("client_secret") != config_.client_secret)
        return json(401, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '11111111-2222-3333-4444-555555555555'.\r\nTrace ID: 0000\r\nCorrelation ID: 0000","error_codes":[7000215]})");
      return json(200, issue_token(scope));
    }
    if (grant == std::string(diag::oauth::device_code_grant_type)) {
      if (field("device_code") != "mock-device-code-secret")
        return json(400, R"({"error":"bad_verification_code","error_description":"AADSTS70019: Verification code expired."})");
      ++device_polls_;
      if (device_polls_ <= config_.device_pending_polls)
        return json(400, R"({"error":"authorization_pending","error_description":"AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling."})");
      if (config_.device_slow_down && device_polls_ == config_.device_pending_polls + 1)
        return json(400, R"({"error":"slow_down","error_description":"slow down"})");
      return json(200, issue_token(device_scope_, true));  // the scope asked for at /devicecode
    }
    if (grant == "refresh_token") {
      if (!refresh_tokens_.count(field("refresh_token")))
        return json(400, R"({"error":"invalid_grant","error_description":"AADSTS70000: The provided grant is invalid."})");
      return json(200, issue_token(scope, true));
    }
    return json(400, R"({"error":"unsupported_grant_type"})");
  }

  // The bearer token's scope, or empty when it is not one we issued.
  std::string bearer_scope(const MockRequest& request) {
    const std::string authorization = request.header("authorization");
    if (!authorization.starts_with("Bearer ")) return {};
    const auto found = token_scopes_.find(authorization.substr(7));
    return found == token_scopes_.end() ? std::string() : found->second;
  }

  MockResponse signins(const MockRequest& request, bool beta) {
    const auto query = request.query_parameters();
    const std::string filter = query.count("$filter") ? query.at("$filter") : "";
    (beta ? beta_filters_ : v1_filters_).push_back(filter);
    if (config_.licence_missing)
      return json(403, R"({"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Neither tenant is B2C or tenant doesn't have premium license","innerError":{"date":"2026-12-02T10:00:00","request-id":"1"}}})");
    if (config_.permission_missing)
      return json(403, R"({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}})");
    const int page = query.count("$skiptoken") ? std::stoi(query.at("$skiptoken").substr(4)) : 1;
    const int pages = beta ? config_.non_interactive_pages : config_.interactive_pages;
    const int rows = beta ? config_.non_interactive_rows_per_page : config_.rows_per_page;
    if (page == 2 && config_.throttle_second_page_once && !throttled_) {
      throttled_ = true;
      MockResponse response = json(429, R"({"error":{"code":"TooManyRequests","message":"Too many requests"}})");
      response.headers.push_back({"Retry-After", config_.retry_after});
      return response;
    }
    const std::string version = beta ? "/beta" : "/v1.0";
    std::string body = R"({"@odata.context":")" + base() + "/graph" + version + R"(/$metadata#auditLogs/signIns",)";
    if (page < pages) {
      std::string next = base() + "/graph" + version + "/auditLogs/signIns?$filter=" + diag::http::percent_encode(filter) +
                         "&$top=1000&$skiptoken=page" + std::to_string(page + 1);
      if (page == 1 && config_.second_page_fault == PageFault::foreign_next_link)
        next = "https://graph.example.net/v1.0/auditLogs/signIns?$skiptoken=page2";
      // A server bug: page 2 links to itself.
      if (page == 2 && config_.second_page_fault == PageFault::repeated_next_link)
        next = base() + "/graph" + version + "/auditLogs/signIns?$filter=" + diag::http::percent_encode(filter) +
               "&$top=1000&$skiptoken=page2";
      body += R"("@odata.nextLink":")" + next + R"(",)";
    }
    body += R"("value":[)";
    for (int i = 0; i < rows; ++i) body += (i ? "," : "") + signin_row(beta, page, i);
    body += "]}";
    if (page == 2 && !beta) {
      switch (config_.second_page_fault) {
        case PageFault::not_json: return json(200, "<html><body>Service Unavailable</body></html>");
        case PageFault::truncated_json: return json(200, body.substr(0, body.size() / 2));
        case PageFault::short_body: {
          MockResponse response = json(200, body.substr(0, body.size() / 2));
          response.claimed_length = body.size();
          return response;
        }
        case PageFault::no_value: return json(200, R"({"@odata.context":"x","values":[]})");
        case PageFault::huge: {
          MockResponse response;
          auto sent = std::make_shared<std::size_t>(0);
          response.stream = [sent, first = true, beta](std::string& chunk) mutable {
            chunk = first ? std::string(R"({"value":[)") : std::string(",");
            first = false;
            for (int i = 0; i < 100; ++i) chunk += (i ? "," : "") + signin_row(beta, 2, i);
            *sent += chunk.size();
            return *sent < (std::size_t(1) << 30);  // a gigabyte at most, should the client never stop
          };
          return response;
        }
        default: break;
      }
    }
    return json(200, body);
  }

  MockResponse exchange_admin(const MockRequest& request) {
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("CmdletInput") || request.header("x-anchormailbox").empty())
      return json(400, R"({"error":{"code":"BadRequest","message":"no CmdletInput"}})");
    const std::string cmdlet = body["CmdletInput"].value("CmdletName", "");
    cmdlets_.push_back(cmdlet + (body["CmdletInput"].contains("Parameters") ? " " + body["CmdletInput"]["Parameters"].dump() : ""));
    if (cmdlet == "Get-TransportConfig")
      return json(200, nlohmann::json{{"value", {{{"SmtpClientAuthenticationDisabled", config_.org_smtp_auth_disabled}}}}}.dump());
    if (cmdlet == "Get-CASMailbox") {
      if (request.query.find("skiptoken") == std::string::npos)
        return json(200, R"({"@odata.nextLink":")" + base() + "/exo/adminapi/beta/" + config_.tenant +
                             R"(/InvokeCommand?$skiptoken=2","value":[{"PrimarySmtpAddress":"alice@contoso.example","SmtpClientAuthenticationDisabled":true},{"PrimarySmtpAddress":"bob@contoso.example","SmtpClientAuthenticationDisabled":false}]})");
      return json(200, R"({"value":[{"PrimarySmtpAddress":"carol@contoso.example","SmtpClientAuthenticationDisabled":null}]})");
    }
    if (cmdlet == "Get-AuthenticationPolicy")
      return json(200, R"({"value":[{"Name":"Block Basic SMTP","AllowBasicAuthSmtp":false},{"Name":"Legacy printers","AllowBasicAuthSmtp":true}]})");
    return json(400, R"({"error":{"code":"InternalServerError","message":"A server side error has occurred.","details":[{"message":"The term ')" +
                         cmdlet + R"(' is not recognized as the name of a cmdlet."}]}})");
  }

  MockResponse handle(const MockRequest& request) {
    std::lock_guard lock(mutex_);
    const std::string login = "/login/" + config_.tenant + "/oauth2/v2.0/";
    if (request.method == "POST" && request.path == login + "token") return token_endpoint(request);
    if (request.method == "POST" && request.path == login + "devicecode") {
      if (request.form()["client_id"] != config_.client_id) return json(400, R"({"error":"unauthorized_client"})");
      device_scope_ = request.form()["scope"];
      return json(200, R"({"user_code":"MOCK-CODE","device_code":"mock-device-code-secret","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":1,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code MOCK-CODE to authenticate."})");
    }
    const std::string scope = bearer_scope(request);
    const bool exchange = request.path.starts_with("/exo/");
    const std::string wanted_scope = base() + (exchange ? "/exo" : "/graph") + "/.default";
    if (scope.empty() || scope.find(wanted_scope) == std::string::npos) {
      ++unauthorized_;
      return json(401, R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience."}})");
    }
    if (!exchange && request.header("authorization") == "Bearer mock-access-token-1" && config_.expire_first_token_after >= 0 &&
        first_token_uses_++ >= config_.expire_first_token_after) {
      ++unauthorized_;
      return json(401, R"({"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}})");
    }
    if (request.path == "/graph/v1.0/auditLogs/signIns") return signins(request, false);
    if (request.path == "/graph/beta/auditLogs/signIns") return signins(request, true);
    if (request.path == "/graph/v1.0/reports/getEmailAppUsageUserDetail(period='D30')" ||
        request.path == "/graph/v1.0/reports/getEmailAppUsageUserDetail(period='D7')") {
      MockResponse response = json(302, "");
      response.headers.push_back({"Location", config_.report_location});
      return response;
    }
    if (request.path == "/graph/v1.0/admin/reportSettings")
      return json(200, std::string(R"({"@odata.context":"x","id":"1","displayConcealedNames":)") +
                           (config_.concealed_names ? "true" : "false") + "}");
    if (request.path == "/exo/adminapi/beta/" + config_.tenant + "/InvokeCommand") return exchange_admin(request);
    return json(404, R"({"error":{"code":"ResourceNotFound","message":"not here"}})");
  }

  MockTenantConfig config_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> token_scopes_;
  std::set<std::string> refresh_tokens_;
  std::string device_scope_;
  int token_count_ = 0, device_polls_ = 0, first_token_uses_ = 0, unauthorized_ = 0;
  bool throttled_ = false;
  std::vector<std::string> v1_filters_, beta_filters_, grants_, cmdlets_;
  std::vector<std::chrono::milliseconds> waits_;
  std::vector<AssertionCheck> assertions_;
  HttpsMockServer server_;  // last: its thread stops before the state above goes
};

// getEmailAppUsageUserDetail's CSV as Microsoft sends it (BOM, CRLF, the
// documented columns): one user of an SMTP app.
inline const std::string usage_report_csv =
    "\xEF\xBB\xBFReport Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Mail For Mac,"
    "Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For Mobile,Outlook For Web,POP3 App,IMAP4 App,SMTP App,"
    "Report Period\r\n2026-12-01,printer@contoso.example,Printer,False,,2026-11-30,,,,,,,,,Yes,30\r\n";

// The pre-authenticated download the usage report's 302 points at: the body, whatever is asked.
inline MockHandler file_download(std::string body) {
  return [body = std::move(body)](const MockRequest&) {
    MockResponse response;
    response.content_type = "application/octet-stream";
    response.body = body;
    return response;
  };
}

}  // namespace graph_testing
