// TLS facts: certificates generated at test time, described field by field,
// and handshakes against our server where each fact (chain trusted, name
// matches, expiry) stands on its own.
#include <catch2/catch.hpp>
#include <regex>

#include "diag/tls.h"
#include "smtp_test_support.h"

using namespace diag;
using namespace smtp_testing;

TEST_CASE("TLS version names", "[tls]") {
  CHECK(tls::parse_version("1.0") == tls::Version::tls1_0);
  CHECK(tls::parse_version("TLSv1.2") == tls::Version::tls1_2);
  CHECK(tls::parse_version("tls1.3") == tls::Version::tls1_3);
  CHECK_FALSE(tls::parse_version("1.4"));
  CHECK_FALSE(tls::parse_version("ssl3"));
  CHECK(tls::to_string(tls::Version::tls1_0) == "TLSv1");
  CHECK(tls::version_from_openssl_name("TLSv1.1") == tls::Version::tls1_1);
}

TEST_CASE("a generated certificate describes itself", "[tls]") {
  auto credentials = server_credentials("mail.sendcheck.test");
  const auto info = tls::describe_certificate(credentials->certificate.get());
  CHECK(info.subject == "CN=mail.sendcheck.test");
  CHECK(info.issuer == "CN=sendcheck test CA,O=sendcheck tests");
  CHECK(info.san == std::vector<std::string>{"DNS:mail.sendcheck.test", "IP:127.0.0.1"});
  CHECK(info.key_type == "EC");
  CHECK(info.key_bits == 256);
  CHECK(info.curve == "prime256v1");
  CHECK(info.signature_algorithm == "ecdsa-with-SHA256");
  CHECK(std::regex_match(info.sha256_fingerprint, std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}")));
  CHECK(std::regex_match(info.not_after, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  CHECK_FALSE(info.self_signed);

  auto rsa = server_credentials("rsa.sendcheck.test", Signer::self, -1, 30, tls::KeyType::rsa2048);
  const auto rsa_info = tls::describe_certificate(rsa->certificate.get());
  CHECK(rsa_info.key_type == "RSA");
  CHECK(rsa_info.key_bits == 2048);
  CHECK(rsa_info.self_signed);
  CHECK(rsa_info.signature_algorithm == "sha256WithRSAEncryption");
}

TEST_CASE("credentials load from PEM files, and bad files are bad input", "[tls]") {
  TempDir dir;
  auto credentials = server_credentials("files.sendcheck.test");
  const auto cert = dir.file("cert.pem", tls::certificate_pem(credentials->certificate.get()) + pki().ca_pem);
  const auto key = dir.file("key.pem", tls::private_key_pem(credentials->key.get()));
  auto loaded = tls::load_credentials(cert, key);
  REQUIRE(loaded);
  CHECK(loaded->chain.size() == 1);
  auto other = server_credentials("other.sendcheck.test");
  const auto wrong_key = dir.file("wrong.pem", tls::private_key_pem(other->key.get()));
  auto mismatch = tls::load_credentials(cert, wrong_key);
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().kind == ErrorKind::bad_input);
  CHECK_FALSE(tls::load_credentials(dir.path() + "/missing.pem", key));
  CHECK_FALSE(tls::load_credentials(key, key));
}

TEST_CASE("a bad --ca file is bad input", "[tls]") {
  TempDir dir;
  tls::ClientConfig config;
  config.ca_file = dir.file("ca.pem", "not a certificate\n");
  auto context = tls::make_client_context(config);
  REQUIRE_FALSE(context);
  CHECK(context.error().kind == ErrorKind::bad_input);
}

namespace {

tls::Facts handshake_facts(std::shared_ptr<tls::Credentials> credentials, const std::string& name, bool trust_test_ca = true) {
  smtp::ServerConfig server;
  server.profile = smtp::exo_mx_profile({"sendcheck.test"});
  server.credentials = std::move(credentials);
  auto running = start_server(std::move(server));
  TempDir dir;
  auto config = client_config(running->port(), name);
  if (trust_test_ca) config.tls.ca_file = dir.file("ca.pem", pki().ca_pem);
  config.starttls = smtp::StarttlsPolicy::require;
  const auto result = smtp::run_session(config);
  INFO(result.failure.message);
  REQUIRE(result.starttls_completed);
  return result.tls;
}

}  // namespace

TEST_CASE("TLS facts: a good certificate", "[tls]") {
  const auto facts = handshake_facts(server_credentials("mail.sendcheck.test"), "mail.sendcheck.test");
  CHECK(facts.handshake_completed);
  CHECK(facts.version == "TLSv1.3");
  CHECK_FALSE(facts.cipher.empty());
  CHECK(facts.chain_trusted);
  CHECK(facts.verify_error.empty());
  CHECK(facts.name_matches == std::optional<bool>(true));
  REQUIRE(facts.expires_in_days);
  CHECK(*facts.expires_in_days >= 88);
  CHECK_FALSE(facts.expired);
  REQUIRE(facts.chain.size() == 1);
  CHECK(facts.chain.front().subject == "CN=mail.sendcheck.test");
}

TEST_CASE("TLS facts: expired is not untrusted", "[tls]") {
  const auto facts = handshake_facts(server_credentials("mail.sendcheck.test", Signer::test_ca, -30, -2), "mail.sendcheck.test");
  CHECK(facts.chain_trusted);  // the chain is fine; its time is the other fact
  CHECK(facts.expired);
  REQUIRE(facts.expires_in_days);
  CHECK(*facts.expires_in_days <= -1);
  CHECK(facts.name_matches == std::optional<bool>(true));
}

TEST_CASE("TLS facts: a wrong name does not hide a trusted chain", "[tls]") {
  const auto facts = handshake_facts(server_credentials("other.sendcheck.test"), "mail.sendcheck.test");
  CHECK(facts.chain_trusted);
  CHECK(facts.name_matches == std::optional<bool>(false));
  CHECK_FALSE(facts.expired);
}

TEST_CASE("TLS facts: an untrusted CA and a self-signed certificate", "[tls]") {
  const auto untrusted = handshake_facts(server_credentials("mail.sendcheck.test", Signer::untrusted_ca), "mail.sendcheck.test");
  CHECK_FALSE(untrusted.chain_trusted);
  CHECK(untrusted.verify_error == "unable to get local issuer certificate");
  CHECK(untrusted.name_matches == std::optional<bool>(true));

  const auto self = handshake_facts(server_credentials("mail.sendcheck.test", Signer::self), "mail.sendcheck.test");
  CHECK_FALSE(self.chain_trusted);
  CHECK(self.verify_error == "self-signed certificate");
  CHECK(self.chain.front().self_signed);
  CHECK(self.name_matches == std::optional<bool>(true));

  // Against the system store, our test CA is unknown too.
  const auto system = handshake_facts(server_credentials("mail.sendcheck.test"), "mail.sendcheck.test", false);
  CHECK_FALSE(system.chain_trusted);
}

TEST_CASE("TLS facts: an address is checked against IP SANs", "[tls]") {
  const auto facts = handshake_facts(server_credentials("mail.sendcheck.test"), "127.0.0.1");
  CHECK(facts.name_matches == std::optional<bool>(true));
}
