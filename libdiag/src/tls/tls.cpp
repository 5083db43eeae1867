#include "diag/ascii.h"
#include "diag/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "diag/ip.h"

namespace diag::tls {

namespace {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct X509ExtensionDeleter {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !name) return {};
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return bio_text(bio.get());
}

std::string time_text(const ASN1_TIME* time) {
  std::tm tm{};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return {};
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buffer;
}

std::string ip_text(const ASN1_OCTET_STRING* octets) {
  const auto* data = ASN1_STRING_get0_data(octets);
  const int length = ASN1_STRING_length(octets);
  if (length == 4) return IpAddress::v4({data[0], data[1], data[2], data[3]}).to_string();
  if (length == 16) {
    std::array<std::uint8_t, 16> bytes{};
    std::copy(data, data + 16, bytes.begin());
    return IpAddress::v6(bytes).to_string();
  }
  return "?";
}

std::vector<std::string> san_list(X509* certificate) {
  std::vector<std::string> out;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()) && out.size() < 500; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const auto* data = ASN1_STRING_get0_data(name->d.dNSName);
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(data),
                                         static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      out.push_back("IP:" + ip_text(name->d.iPAddress));
    }
  }
  return out;
}

std::string hex_colon(const unsigned char* data, unsigned int size) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    if (i) out += ':';
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

bool add_extension(X509* certificate, X509V3_CTX* context, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, X509ExtensionDeleter> extension(
      X509V3_EXT_conf_nid(nullptr, context, nid, value.c_str()));
  return extension && X509_add_ext(certificate, extension.get(), -1) == 1;
}

EvpPkeyPtr generate_key(KeyType type) {
  if (type == KeyType::rsa2048) return EvpPkeyPtr(EVP_RSA_gen(2048));
  return EvpPkeyPtr(EVP_EC_gen("P-256"));
}

bool add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                    -1, -1, 0) == 1;
}

int openssl_version(Version version) {
  switch (version) {
    case Version::tls1_0: return TLS1_VERSION;
    case Version::tls1_1: return TLS1_1_VERSION;
    case Version::tls1_2: return TLS1_2_VERSION;
    case Version::tls1_3: return TLS1_3_VERSION;
  }
  return 0;
}

void apply_versions(SSL_CTX* context, const VersionRange& versions) {
  if (versions.min) SSL_CTX_set_min_proto_version(context, openssl_version(*versions.min));
  if (versions.max) SSL_CTX_set_max_proto_version(context, openssl_version(*versions.max));
  allow_legacy_versions(context, versions);
}

}  // namespace

std::string last_error_text() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    const char* reason = ERR_reason_error_string(code);
    if (out.empty()) out = reason ? reason : buffer;
  }
  return out;
}

std::optional<Version> parse_version(std::string_view text) {
  std::string lower = ascii::to_lower(text);
  for (std::string_view prefix : {"tlsv", "tls"})
    if (lower.starts_with(prefix)) {
      lower.erase(0, prefix.size());
      break;
    }
  if (lower == "1.0" || lower == "1") return Version::tls1_0;
  if (lower == "1.1") return Version::tls1_1;
  if (lower == "1.2") return Version::tls1_2;
  if (lower == "1.3") return Version::tls1_3;
  return std::nullopt;
}

std::string_view to_string(Version version) {
  switch (version) {
    case Version::tls1_0: return "TLSv1";
    case Version::tls1_1: return "TLSv1.1";
    case Version::tls1_2: return "TLSv1.2";
    case Version::tls1_3: return "TLSv1.3";
  }
  return "?";
}

std::optional<Version> version_from_openssl_name(std::string_view name) {
  for (auto version : {Version::tls1_0, Version::tls1_1, Version::tls1_2, Version::tls1_3})
    if (name == to_string(version)) return version;
  return std::nullopt;
}

void allow_legacy_versions(SSL_CTX* context, const VersionRange& versions) {
  const bool legacy = (versions.min && *versions.min < Version::tls1_2) || (versions.max && *versions.max < Version::tls1_2);
  if (!legacy) return;
  // OpenSSL 3 needs security level 0 for the SHA-1 signatures of TLS 1.0/1.1.
  SSL_CTX_set_security_level(context, 0);
  SSL_CTX_set_cipher_list(context, "DEFAULT:@SECLEVEL=0");
}

CertificateInfo describe_certificate(X509* certificate) {
  CertificateInfo info;
  if (!certificate) return info;
  info.subject = name_text(X509_get_subject_name(certificate));
  info.issuer = name_text(X509_get_issuer_name(certificate));
  info.san = san_list(certificate);
  info.not_before = time_text(X509_get0_notBefore(certificate));
  info.not_after = time_text(X509_get0_notAfter(certificate));
  if (EVP_PKEY* key = X509_get0_pubkey(certificate)) {
    const char* type = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
    info.key_type = type ? type : "unknown";
    if (info.key_type == "rsaEncryption") info.key_type = "RSA";
    if (info.key_type == "id-ecPublicKey") info.key_type = "EC";
    info.key_bits = EVP_PKEY_get_bits(key);
    char group[64] = {};
    std::size_t group_length = 0;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(key, group, sizeof group, &group_length) == 1)
      info.curve.assign(group, group_length);
  }
  const int signature_nid = X509_get_signature_nid(certificate);
  if (const char* name = OBJ_nid2ln(signature_nid)) info.signature_algorithm = name;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &digest_size) == 1)
    info.sha256_fingerprint = hex_colon(digest, digest_size);
  // Named by itself and signed by its own key (X509_check_issued would also
  // demand keyCertSign, which a self-signed server certificate lacks).
  info.self_signed = X509_NAME_cmp(X509_get_subject_name(certificate), X509_get_issuer_name(certificate)) == 0 &&
                     X509_verify(certificate, X509_get0_pubkey(certificate)) == 1;
  ERR_clear_error();
  return info;
}

nlohmann::json to_json(const CertificateInfo& info) {
  return {{"subject", info.subject},
          {"issuer", info.issuer},
          {"san", info.san},
          {"not_before", info.not_before},
          {"not_after", info.not_after},
          {"key_type", info.key_type},
          {"key_bits", info.key_bits},
          {"curve", info.curve.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.curve)},
          {"signature_algorithm", info.signature_algorithm},
          {"sha256_fingerprint", info.sha256_fingerprint},
          {"self_signed", info.self_signed}};
}

nlohmann::json to_json(const Facts& facts) {
  nlohmann::json certificate = nullptr;
  if (!facts.chain.empty()) {
    certificate = to_json(facts.chain.front());
    certificate["chain_trusted"] = facts.chain_trusted;
    certificate["name_matches"] = facts.name_matches ? nlohmann::json(*facts.name_matches) : nlohmann::json(nullptr);
    certificate["verify_error"] = facts.verify_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.verify_error);
    certificate["expires_in_days"] = facts.expires_in_days ? nlohmann::json(*facts.expires_in_days) : nlohmann::json(nullptr);
    certificate["expired"] = facts.expired;
    certificate["not_yet_valid"] = facts.not_yet_valid;
  }
  auto chain = nlohmann::json::array();
  for (const auto& info : facts.chain) chain.push_back(to_json(info));
  return {{"handshake_completed", facts.handshake_completed},
          {"error", facts.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.error)},
          {"failure", facts.failure == HandshakeFailure::none ? nlohmann::json(nullptr) : nlohmann::json(to_string(facts.failure))},
          {"server_version", facts.server_version.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.server_version)},
          {"version", facts.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.version)},
          {"cipher", facts.cipher.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.cipher)},
          {"server_name", facts.server_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.server_name)},
          {"certificate", certificate},
          {"chain", chain}};
}

namespace {
int note_certificate_presented(SSL* ssl, void* unused);
}  // namespace

Result<SslCtxPtr> make_client_context(const ClientConfig& config) {
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) return Error{ErrorKind::internal, "cannot create a TLS context: " + last_error_text()};
  // Verification runs but never aborts the handshake (SSL_VERIFY_NONE keeps
  // the result for SSL_get_verify_result); time is checked by us, so that
  // "trusted" and "expired" stay two facts.
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context.get()), X509_V_FLAG_NO_CHECK_TIME);
  if (!config.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context.get(), config.ca_file.c_str(), nullptr) != 1)
      return bad_input("cannot load CA certificates from " + config.ca_file + ": " + last_error_text());
  } else {
    SSL_CTX_set_default_verify_paths(context.get());
  }
  apply_versions(context.get(), config.versions);
  if (config.client_certificate_file.empty() != config.client_key_file.empty())
    return bad_input("a client certificate needs both the certificate file and the key file");
  if (!config.client_certificate_file.empty()) {
    auto credentials = load_credentials(config.client_certificate_file, config.client_key_file);
    if (!credentials) return credentials.error();
    if (SSL_CTX_use_certificate(context.get(), credentials->certificate.get()) != 1 ||
        SSL_CTX_use_PrivateKey(context.get(), credentials->key.get()) != 1)
      return bad_input("the client certificate " + config.client_certificate_file + " or its key " + config.client_key_file +
                       " is not usable: " + last_error_text());
    for (const auto& extra : credentials->chain)
      if (SSL_CTX_add1_chain_cert(context.get(), extra.get()) != 1)
        return bad_input("a chain certificate in " + config.client_certificate_file + " is not usable: " + last_error_text());
    // A client calls the certificate callback only on a CertificateRequest:
    // it tells whether the certificate was presented at all.
    SSL_CTX_set_cert_cb(context.get(), note_certificate_presented, nullptr);
  }
  record_handshake_facts(context.get());
  return context;
}

namespace {

// The security level of a context this process makes without asking for one
// (OpenSSL's configuration: 2 on Debian 12).
int default_security_level() {
  static const int level = [] {
    SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
    return context ? SSL_CTX_get_security_level(context.get()) : 1;
  }();
  return level;
}

long verify_at_default_level(SSL* ssl, X509* leaf, STACK_OF(X509)* chain) {
  struct StoreCtxDeleter {
    void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  };
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> context(X509_STORE_CTX_new());
  X509_STORE* store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
  if (!context || X509_STORE_CTX_init(context.get(), store, leaf, chain) != 1) return X509_V_ERR_UNSPECIFIED;
  // As the handshake verified: the server's purpose, time left to the caller.
  X509_STORE_CTX_set_default(context.get(), "ssl_server");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
  X509_VERIFY_PARAM_set_auth_level(param, default_security_level());
  const long verify = X509_verify_cert(context.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  return verify;
}

}  // namespace

Facts collect_facts(SSL* ssl, const std::string& server_name) {
  Facts facts;
  facts.server_name = server_name;
  if (!ssl) return facts;
  facts.version = SSL_get_version(ssl);
  facts.certificate_requested = server_requested_certificate(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) facts.cipher = SSL_CIPHER_get_name(cipher);
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  for (int i = 0; chain && i < sk_X509_num(chain) && i < 10; ++i)
    facts.chain.push_back(describe_certificate(sk_X509_value(chain, i)));
  X509Ptr leaf(SSL_get1_peer_certificate(ssl));
  if (!leaf) {
    facts.verify_error = "no certificate presented";
    return facts;
  }
  long verify = SSL_get_verify_result(ssl);
  // --tls-min/--tls-max below 1.2 lower the context's security level for the
  // handshake (allow_legacy_versions), and OpenSSL verifies the chain at that
  // level too: a SHA-1 signed or 1024-bit chain would pass. Judge it again at
  // the level a default client uses.
  if (verify == X509_V_OK && SSL_get_security_level(ssl) < default_security_level())
    verify = verify_at_default_level(ssl, leaf.get(), chain);
  facts.chain_trusted = verify == X509_V_OK;
  if (!facts.chain_trusted) facts.verify_error = X509_verify_cert_error_string(verify);
  facts.chain_too_weak = verify == X509_V_ERR_CA_MD_TOO_WEAK || verify == X509_V_ERR_CA_KEY_TOO_SMALL ||
                         verify == X509_V_ERR_EE_KEY_TOO_SMALL;
  if (!server_name.empty()) {
    if (IpAddress::parse(server_name))
      facts.name_matches = X509_check_ip_asc(leaf.get(), server_name.c_str(), 0) == 1;
    else
      facts.name_matches = X509_check_host(leaf.get(), server_name.c_str(), server_name.size(), 0, nullptr) == 1;
  }
  const Validity dates = validity(leaf.get());
  facts.expires_in_days = dates.expires_in_days;
  facts.expired = dates.expired;
  facts.not_yet_valid = dates.not_yet_valid;
  return facts;
}

Validity validity(X509* certificate) {
  Validity out;
  if (!certificate) return out;
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(certificate)) == 1) {
    out.expires_in_days = days;
    out.expired = days < 0 || (days == 0 && seconds < 0);
  }
  if (X509_cmp_current_time(X509_get0_notBefore(certificate)) > 0) out.not_yet_valid = true;
  return out;
}

std::string common_name(X509* certificate) {
  if (!certificate) return {};
  const X509_NAME* subject = X509_get_subject_name(certificate);
  int index = -1, last = -1;
  while ((index = X509_NAME_get_index_by_NID(subject, NID_commonName, index)) >= 0) last = index;
  if (last < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

namespace {
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }
}  // namespace

void request_client_certificate(SSL_CTX* context) {
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, accept_any_certificate);
}

Result<Credentials> generate_certificate(const CertificateSpec& spec, const Credentials* issuer) {
  Credentials out;
  out.key = generate_key(spec.key_type);
  out.certificate.reset(X509_new());
  if (!out.key || !out.certificate) return Error{ErrorKind::internal, "cannot generate a key: " + last_error_text()};
  X509* certificate = out.certificate.get();
  X509_set_version(certificate, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial_number(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
  BN_to_ASN1_INTEGER(serial_number.get(), X509_get_serialNumber(certificate));
  X509_gmtime_adj(X509_getm_notBefore(certificate), spec.valid_from_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(certificate), spec.valid_to_days * 86400L);
  X509_NAME* subject = X509_get_subject_name(certificate);
  if (!spec.organization.empty()) add_name_entry(subject, "O", spec.organization);
  add_name_entry(subject, "CN", spec.common_name);
  X509_set_issuer_name(certificate, issuer ? X509_get_subject_name(issuer->certificate.get()) : subject);
  X509_set_pubkey(certificate, out.key.get());

  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer ? issuer->certificate.get() : certificate, certificate, nullptr, nullptr, 0);
  bool ok = add_extension(certificate, &context, NID_basic_constraints,
                          spec.certificate_authority ? "critical,CA:TRUE" : "critical,CA:FALSE");
  ok = ok && add_extension(certificate, &context, NID_key_usage,
                           spec.certificate_authority ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  ok = ok && add_extension(certificate, &context, NID_subject_key_identifier, "hash");
  if (issuer) ok = ok && add_extension(certificate, &context, NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& name : spec.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + name;
  for (const auto& ip : spec.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) ok = ok && add_extension(certificate, &context, NID_subject_alt_name, san);
  if (!spec.certificate_authority) ok = ok && add_extension(certificate, &context, NID_ext_key_usage, "serverAuth,clientAuth");
  if (!ok) return Error{ErrorKind::internal, "cannot add certificate extensions: " + last_error_text()};
  if (X509_sign(certificate, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()) == 0)
    return Error{ErrorKind::internal, "cannot sign the certificate: " + last_error_text()};
  return out;
}

Result<Credentials> load_credentials(const std::string& certificate_file, const std::string& key_file) {
  Credentials out;
  BioPtr cert_bio(BIO_new_file(certificate_file.c_str(), "r"));
  if (!cert_bio) return bad_input("cannot read certificate file " + certificate_file);
  out.certificate.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!out.certificate) return bad_input("no PEM certificate in " + certificate_file);
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) out.chain.emplace_back(extra);
  ERR_clear_error();
  BioPtr key_bio(BIO_new_file(key_file.c_str(), "r"));
  if (!key_bio) return bad_input("cannot read key file " + key_file);
  out.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!out.key) {
    ERR_clear_error();
    return bad_input("no unencrypted PEM private key in " + key_file);
  }
  if (X509_check_private_key(out.certificate.get(), out.key.get()) != 1) {
    ERR_clear_error();
    return bad_input("the key in " + key_file + " does not belong to the certificate in " + certificate_file);
  }
  return out;
}

Result<bool> chains_to_default_roots(const Credentials& credentials) {
  struct StoreDeleter {
    void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  };
  struct StoreCtxDeleter {
    void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  };
  struct StackDeleter {
    void operator()(STACK_OF(X509)* p) const { sk_X509_free(p); }  // the certificates stay the caller's
  };
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> context(X509_STORE_CTX_new());
  std::unique_ptr<STACK_OF(X509), StackDeleter> chain(sk_X509_new_null());
  if (!store || !context || !chain) return Error{ErrorKind::internal, "out of memory"};
  if (X509_STORE_set_default_paths(store.get()) != 1) return Error{ErrorKind::internal, "cannot read the default trust store"};
  for (const auto& certificate : credentials.chain)
    if (!sk_X509_push(chain.get(), certificate.get())) return Error{ErrorKind::internal, "out of memory"};
  if (X509_STORE_CTX_init(context.get(), store.get(), credentials.certificate.get(), chain.get()) != 1)
    return Error{ErrorKind::internal, "cannot set up certificate verification"};
  // The chain only: whether Exchange Online needs the clientAuth EKU is not
  // documented, and public CAs are dropping it from TLS certificates.
  const bool verified = X509_verify_cert(context.get()) == 1;
  ERR_clear_error();
  return verified;
}

std::string certificate_pem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) return {};
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return {};
  return bio_text(bio.get());
}

Result<SslCtxPtr> make_server_context(const Credentials& credentials, const VersionRange& versions) {
  SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) return Error{ErrorKind::internal, "cannot create a TLS context: " + last_error_text()};
  apply_versions(context.get(), versions);
  if (SSL_CTX_use_certificate(context.get(), credentials.certificate.get()) != 1 ||
      SSL_CTX_use_PrivateKey(context.get(), credentials.key.get()) != 1)
    return bad_input("the certificate or key is not usable: " + last_error_text());
  for (const auto& extra : credentials.chain)
    if (SSL_CTX_add1_chain_cert(context.get(), extra.get()) != 1)
      return bad_input("a chain certificate is not usable: " + last_error_text());
  return context;
}

std::string_view to_string(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::none: return "none";
    case HandshakeFailure::timed_out: return "timed-out";
    case HandshakeFailure::closed: return "closed";
    case HandshakeFailure::certificate_rejected: return "certificate-rejected";
    case HandshakeFailure::certificate_required: return "certificate-required";
    case HandshakeFailure::protocol_version: return "protocol-version";
    case HandshakeFailure::no_shared_cipher: return "no-shared-cipher";
    case HandshakeFailure::not_tls: return "not-tls";
    case HandshakeFailure::other: return "other";
  }
  return "other";
}

HandshakeFailure classify_handshake_error(unsigned long openssl_error) {
  if (openssl_error == 0) return HandshakeFailure::other;
  switch (ERR_GET_REASON(openssl_error)) {
    // RFC 8446 6.2 alerts about the certificate we presented.
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE:
      return HandshakeFailure::certificate_rejected;
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return HandshakeFailure::certificate_required;
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_INAPPROPRIATE_FALLBACK:
      return HandshakeFailure::protocol_version;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
    case SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED:
      return HandshakeFailure::no_shared_cipher;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return HandshakeFailure::not_tls;
    default:
      return HandshakeFailure::other;
  }
}

namespace {

// Per-SSL facts in ex_data: an integer, never owned memory.
int handshake_facts_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
constexpr std::intptr_t certificate_requested_flag = 0x10000;

std::intptr_t facts_of(SSL* ssl) {
  return ssl ? reinterpret_cast<std::intptr_t>(SSL_get_ex_data(ssl, handshake_facts_index())) : 0;
}
void set_facts(SSL* ssl, std::intptr_t value) { SSL_set_ex_data(ssl, handshake_facts_index(), reinterpret_cast<void*>(value)); }

int remember_client_hello(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  // RFC 8446 4.2.1: supported_versions, when present, replaces legacy_version.
  int highest = static_cast<int>(SSL_client_hello_get0_legacy_version(ssl));
  const unsigned char* data = nullptr;
  std::size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &data, &length) == 1 && length >= 1) {
    const std::size_t end = 1 + std::min<std::size_t>(data[0], length - 1);
    for (std::size_t i = 1; i + 1 < end; i += 2) {
      const int version = (data[i] << 8) | data[i + 1];
      // GREASE values (RFC 8701) are 0x?A?A and never a real version.
      if ((version & 0x0f0f) == 0x0a0a) continue;
      if (version <= TLS1_3_VERSION) highest = std::max(highest, version);
    }
  }
  set_facts(ssl, (facts_of(ssl) & certificate_requested_flag) | highest);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int note_certificate_request(SSL* ssl, X509** /*certificate*/, EVP_PKEY** /*key*/) {
  set_facts(ssl, facts_of(ssl) | certificate_requested_flag);
  return 0;  // no certificate from this callback; one set on the context is still sent
}

int note_certificate_presented(SSL* ssl, void* /*unused*/) {
  set_facts(ssl, facts_of(ssl) | certificate_requested_flag);
  return 1;  // go on with the certificate set on the context
}

}  // namespace

void record_handshake_facts(SSL_CTX* context) {
  if (SSL_CTX_get_client_cert_cb(context) == nullptr && SSL_CTX_get0_certificate(context) == nullptr)
    SSL_CTX_set_client_cert_cb(context, note_certificate_request);
  SSL_CTX_set_client_hello_cb(context, remember_client_hello, nullptr);
}

std::optional<Version> client_offered_version(SSL* ssl) {
  switch (facts_of(ssl) & 0xffff) {
    case TLS1_VERSION: return Version::tls1_0;
    case TLS1_1_VERSION: return Version::tls1_1;
    case TLS1_2_VERSION: return Version::tls1_2;
    case TLS1_3_VERSION: return Version::tls1_3;
    default: return std::nullopt;
  }
}

bool server_requested_certificate(SSL* ssl) { return (facts_of(ssl) & certificate_requested_flag) != 0; }

Result<bool> add_server_credentials(SSL_CTX* context, const Credentials& credentials) {
  if (SSL_CTX_use_certificate(context, credentials.certificate.get()) != 1 ||
      SSL_CTX_use_PrivateKey(context, credentials.key.get()) != 1)
    return bad_input("the certificate or key is not usable: " + last_error_text());
  return true;
}

}  // namespace diag::tls
