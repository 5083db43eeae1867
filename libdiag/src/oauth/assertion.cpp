// The client assertion of the certificate-credentials flow: a JWS (RFC 7515)
// over the claims Microsoft lists, signed with the app's certificate key.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "diag/oauth.h"
#include "diag/base64.h"

namespace diag::oauth {

namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

std::string digest_of_der(X509* certificate, const EVP_MD* algorithm) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!certificate || X509_digest(certificate, algorithm, digest, &length) != 1) return {};
  return base64url(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string random_jti() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return {};
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // an RFC 9562 version 4 UUID
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string text = base64_encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (auto& c : text) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return text;
}

std::string base64url_thumbprint_sha1(X509* certificate) { return digest_of_der(certificate, EVP_sha1()); }
std::string base64url_thumbprint_sha256(X509* certificate) { return digest_of_der(certificate, EVP_sha256()); }

Result<std::string> make_client_assertion(const tls::Credentials& certificate, const AssertionClaims& claims) {
  if (!certificate.certificate || !certificate.key) return bad_input("the client certificate or its key is missing");
  if (EVP_PKEY_get_base_id(certificate.key.get()) != EVP_PKEY_RSA)
    return bad_input("the client certificate's key is not an RSA key (Microsoft signs client assertions with RS256 or PS256)");
  if (X509_check_private_key(certificate.certificate.get(), certificate.key.get()) != 1)
    return bad_input("the client key does not belong to the client certificate");
  if (claims.client_id.empty() || claims.audience.empty()) return bad_input("a client assertion needs a client id and an audience");
  const std::string jti = random_jti();
  if (jti.empty()) return Error{ErrorKind::internal, "no random bytes for the assertion's jti"};

  nlohmann::json header = {{"alg", claims.algorithm == AssertionAlgorithm::ps256 ? "PS256" : "RS256"},
                           {"typ", "JWT"},
                           {"x5t", base64url_thumbprint_sha1(certificate.certificate.get())},
                           {"x5t#S256", base64url_thumbprint_sha256(certificate.certificate.get())}};
  const long long now = claims.now.time_since_epoch().count();
  nlohmann::json payload = {{"aud", claims.audience},
                            {"iss", claims.client_id},
                            {"sub", claims.client_id},
                            {"jti", jti},
                            {"nbf", now},
                            {"iat", now},
                            {"exp", now + claims.lifetime.count()}};
  const std::string signing_input = base64url(header.dump()) + "." + base64url(payload.dump());

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;  // owned by `context`
  if (!context || EVP_DigestSignInit(context.get(), &key_context, EVP_sha256(), nullptr, certificate.key.get()) != 1)
    return Error{ErrorKind::internal, "cannot start signing the client assertion: " + tls::last_error_text()};
  if (claims.algorithm == AssertionAlgorithm::ps256) {
    // RFC 7518 3.5: PS256 is RSASSA-PSS with SHA-256, MGF1 with SHA-256, a salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, EVP_sha256()) != 1)
      return Error{ErrorKind::internal, "cannot set PSS padding: " + tls::last_error_text()};
  }
  std::size_t length = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(context.get(), nullptr, &length, input, signing_input.size()) != 1)
    return Error{ErrorKind::internal, "cannot sign the client assertion: " + tls::last_error_text()};
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, input, signing_input.size()) != 1)
    return Error{ErrorKind::internal, "cannot sign the client assertion: " + tls::last_error_text()};
  signature.resize(length);
  return signing_input + "." + base64url(signature);
}

}  // namespace diag::oauth
