// TLS for the SMTP engine, over OpenSSL 3: RAII handles, client and server
// contexts with a selectable protocol range, the facts of one handshake
// (each reported on its own: a failed chain does not hide the name check or
// the expiry), and certificates generated in memory for sendcheck-listen and
// the tests.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/result.h"

namespace diag::tls {

// PowerDNS-style owning handles: no naked *_free in the callers.
struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

enum class Version { tls1_0, tls1_1, tls1_2, tls1_3 };
std::optional<Version> parse_version(std::string_view text);  // "1.0", "1.2", "TLSv1.3", "tls1.1"
std::string_view to_string(Version version);                 // "TLSv1.2", as OpenSSL names it
// The negotiated version from its OpenSSL name ("TLSv1.2"); nullopt for anything else.
std::optional<Version> version_from_openssl_name(std::string_view name);

struct VersionRange {
  std::optional<Version> min, max;  // nullopt: OpenSSL's default
};

// One certificate as a person reads it.
struct CertificateInfo {
  std::string subject, issuer;        // RFC 2253 form: "CN=mx.example,O=Example"
  std::vector<std::string> san;       // "DNS:mx.example", "IP:192.0.2.1"
  std::string not_before, not_after;  // "2026-07-01T00:00:00Z"
  std::string key_type;               // "RSA", "EC", "ED25519", ...
  int key_bits = 0;
  std::string curve;                  // EC only: "prime256v1"
  std::string signature_algorithm;    // "sha256WithRSAEncryption"
  std::string sha256_fingerprint;     // "AB:CD:..."
  bool self_signed = false;           // subject == issuer and its own key verifies it
};
CertificateInfo describe_certificate(X509* certificate);
// The subject's common name (the last CN), empty without one.
std::string common_name(X509* certificate);

// A certificate's dates against now.
struct Validity {
  std::optional<long> expires_in_days;  // notAfter minus now, in whole days (negative: expired)
  bool expired = false, not_yet_valid = false;
};
Validity validity(X509* certificate);
nlohmann::json to_json(const CertificateInfo& info);

// Why a handshake failed, from the alert the peer sent or the check that
// failed on our side (RFC 8446 6.2, RFC 5246 7.2.2): a peer that refuses our
// certificate is not a peer that cannot speak TLS 1.2.
enum class HandshakeFailure {
  none,
  timed_out,             // the deadline passed: no verdict about TLS at all
  closed,                // the peer closed the connection without an alert
  certificate_rejected,  // bad_certificate, unknown_ca, certificate_unknown, ... from the peer
  certificate_required,  // the server wanted a client certificate (certificate_required, or handshake_failure after asking)
  protocol_version,      // no version in common (protocol_version alert, or a version below our minimum)
  no_shared_cipher,      // no cipher, group or signature algorithm in common (handshake_failure)
  not_tls,               // the bytes were not a TLS record (plain text, HTTP)
  other,
};
std::string_view to_string(HandshakeFailure failure);  // "certificate-rejected", ...
// What a client learned from one TLS handshake. Every fact stands alone.
struct Facts {
  bool handshake_completed = false;
  std::string error;                  // why the handshake failed (OpenSSL's reason, alert)
  HandshakeFailure failure = HandshakeFailure::none;  // and its class
  // The version the server chose in its ServerHello, also when this client
  // then refused it ("TLSv1" from a TLS 1.0-only server); empty when unknown.
  std::string server_version;
  std::string version, cipher;        // "TLSv1.3", "TLS_AES_256_GCM_SHA384"
  std::string server_name;            // the SNI sent, and the name checked against the certificate
  std::vector<CertificateInfo> chain; // as the server sent it, leaf first
  bool chain_trusted = false;         // anchored in the system store or --ca, time not considered
  std::string verify_error;           // OpenSSL's verification error when not trusted
  // The chain is anchored but too weak for a default client (a SHA-1
  // signature, a short key): "not trusted" for a reason no CA file fixes.
  bool chain_too_weak = false;
  std::optional<bool> name_matches;   // nullopt: no name to check (an address was probed)
  std::optional<long> expires_in_days;  // the leaf's notAfter minus now, in whole days (negative: expired)
  bool expired = false, not_yet_valid = false;
  // The server sent a CertificateRequest, so a configured client
  // certificate was presented (a certificate connector can only match then).
  bool certificate_requested = false;
};
nlohmann::json to_json(const Facts& facts);

struct ClientConfig {
  std::string server_name;  // SNI and the name verified; empty: neither
  std::string ca_file;      // trust these instead of the system store
  VersionRange versions;
  // A client certificate (PEM, chain after it) and its key, presented when
  // the server asks: what a certificate-based inbound connector matches on
  // (m365-facts.md 3.6). Both or neither.
  std::string client_certificate_file, client_key_file;
};

// A client context that never aborts a handshake for a certificate problem:
// the facts are collected afterwards, so "untrusted" and "expired" are
// reported instead of hiding everything else. Bad --ca file, or a client
// certificate or key that cannot be read or used: bad_input naming the file.
Result<SslCtxPtr> make_client_context(const ClientConfig& config);
// The facts of a completed (or failed, with `error`) client handshake.
Facts collect_facts(SSL* ssl, const std::string& server_name);

// Certificates made in memory: sendcheck-listen's default, and the tests'
// expired, wrong-name, untrusted and self-signed servers.
struct Credentials {
  X509Ptr certificate;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // intermediates/CA sent after the certificate
};
enum class KeyType { ec_p256, rsa2048 };
struct CertificateSpec {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries
  std::string organization;
  long valid_from_days = -1;  // relative to now
  long valid_to_days = 365;
  bool certificate_authority = false;
  KeyType key_type = KeyType::ec_p256;
};
// Signed by issuer, or self-signed when issuer is null.
Result<Credentials> generate_certificate(const CertificateSpec& spec, const Credentials* issuer = nullptr);
Result<Credentials> load_credentials(const std::string& certificate_file, const std::string& key_file);
// Whether the certificate, with the chain sent after it, verifies against
// this machine's default trust store (the public roots its OpenSSL trusts;
// SSL_CERT_FILE/SSL_CERT_DIR move it). An error: the store could not be read.
Result<bool> chains_to_default_roots(const Credentials& credentials);
std::string certificate_pem(X509* certificate);
std::string private_key_pem(EVP_PKEY* key);  // unencrypted PKCS#8: for test servers only

// A server context for the credentials. A range that reaches below TLS 1.2
// lowers OpenSSL's security level so that a TLS 1.0 handshake can happen at
// all (what a legacy device would meet).
Result<SslCtxPtr> make_server_context(const Credentials& credentials, const VersionRange& versions);
// Lowers the security level and enables the old suites on a context whose
// range reaches below TLS 1.2 (OpenSSL 3 refuses TLS 1.0/1.1 at level 1+).
void allow_legacy_versions(SSL_CTX* context, const VersionRange& versions);
// Asks every client for a certificate and takes whatever it presents (or
// none): test servers record what a device offers, they do not judge it.
void request_client_certificate(SSL_CTX* context);

// The failure class of an OpenSSL error code (ERR_peek_error after SSL_accept/SSL_connect).
HandshakeFailure classify_handshake_error(unsigned long openssl_error);

// Remembers, per connection, the highest protocol version each client
// offered in its ClientHello (a server context) and whether a server asked
// for a client certificate (a client context): facts for the verdict even
// when the handshake fails.
void record_handshake_facts(SSL_CTX* context);
std::optional<Version> client_offered_version(SSL* ssl);  // nullopt: no ClientHello seen
bool server_requested_certificate(SSL* ssl);

// Adds a second certificate and key of another key type (RSA beside ECDSA)
// to a server context: OpenSSL chooses the one the client can use.
Result<bool> add_server_credentials(SSL_CTX* context, const Credentials& credentials);

// The reason of the last OpenSSL error on this thread, and clears the queue.
std::string last_error_text();

}  // namespace diag::tls
