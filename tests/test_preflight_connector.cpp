// Relay through a certificate-based inbound connector (m365-facts.md 3.6):
// the client certificate is read and its names and dates checked before
// anything connects, then presented after STARTTLS. Our server asks for a
// client certificate and records what it got, so the tests see that the
// certificate really went over the wire.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "diag/preflight.h"
#include "fixture_zones.h"
#include "preflight_test_support.h"

using namespace diag;
using namespace smtp_testing;
using namespace preflight_testing;

namespace {

const std::string probe_tool = bin_dir + "/sendcheck-probe";

// A client certificate signed by the test CA, written with its key.
struct ClientCertificateFiles {
  TempDir dir;
  std::string certificate, key;
};

std::unique_ptr<ClientCertificateFiles> client_certificate(const std::string& common_name, std::vector<std::string> dns_names,
                                                           long valid_from_days = -1, long valid_to_days = 365) {
  tls::CertificateSpec spec;
  spec.common_name = common_name;
  spec.dns_names = std::move(dns_names);
  spec.valid_from_days = valid_from_days;
  spec.valid_to_days = valid_to_days;
  auto credentials = must(tls::generate_certificate(spec, &pki().ca));
  auto files = std::make_unique<ClientCertificateFiles>();
  files->certificate = files->dir.file("client.pem", tls::certificate_pem(credentials.certificate.get()));
  files->key = files->dir.file("client.key", tls::private_key_pem(credentials.key.get()));
  return files;
}

// The exo-mx profile, asking every client for its certificate.
std::unique_ptr<Mx> serve_asking_for_certificates() {
  smtp::ServerConfig config;
  config.profile = smtp::exo_mx_profile({"contoso.example"});
  config.request_client_certificate = true;
  return serve(std::move(config));
}

std::vector<std::string> relay(const Mx& mx, const ClientCertificateFiles& files) {
  return {preflight_tool, "contoso.example", "--method", "relay", "--zone", zone, "--zone", lists, "--ip", "203.0.113.25",
          "--from", "scanner@contoso.example", "--to", "frontdesk@contoso.example", "--smtp-host", "127.0.0.1", "--smtp-port",
          std::to_string(mx.server->port()), "--ca", mx.ca_file, "--client-cert", files.certificate, "--client-key", files.key,
          "--json", "--timeout", "2"};
}

// Runs preflight with the test CA as this machine's public roots, as a
// public CA's certificate would be.
RunResult run_trusting(const Mx& mx, const std::vector<std::string>& argv) {
  // The environment may name the system bundle already: replace it.
  return run_program(argv, 20s, {"SSL_CERT_FILE=" + mx.ca_file}, "", {"SSL_CERT_FILE="});
}

const nlohmann::json& check_of(const nlohmann::json& document, const std::string& id) {
  for (const auto& check : document["checks"])
    if (check["id"] == id) return check;
  FAIL("no check " << id << " in " << document.dump(1));
  throw std::logic_error("unreachable");
}

preflight::ClientCertificate certificate_named(const std::string& common_name, std::vector<std::string> dns_names,
                                               long valid_from_days = -1, long valid_to_days = 365) {
  auto files = client_certificate(common_name, std::move(dns_names), valid_from_days, valid_to_days);
  auto read = preflight::read_client_certificate(files->certificate, files->key);
  REQUIRE(read);
  return *read;
}

}  // namespace

TEST_CASE("client certificate: the CN or a SAN DNS name must contain an accepted domain", "[preflight]") {
  const std::vector<std::string> accepted = {"contoso.example", "contoso-mail.example"};
  auto status = [&](const preflight::ClientCertificate& certificate) {
    return preflight::client_certificate_checks(certificate, accepted).front().status;
  };
  CHECK(status(certificate_named("contoso.example", {})) == Status::pass);                         // CN is the domain
  CHECK(status(certificate_named("device", {"smtp.Contoso-Mail.example"})) == Status::pass);       // SAN below a domain
  CHECK(status(certificate_named("device", {"*.contoso.example"})) == Status::pass);               // wildcard below it
  CHECK(status(certificate_named("notcontoso.example", {"fabrikam.example"})) == Status::fail);    // label boundary
  const auto checks = preflight::client_certificate_checks(certificate_named("scanner", {"scanner.fabrikam.example"}), accepted);
  CHECK(checks[0].id == "connector.certificate-name");
  CHECK_THAT(checks[0].remedy, Catch::Contains("accepted, verified domain"));
  CHECK(checks[1].id == "connector.certificate-validity");
  CHECK(checks[1].status == Status::pass);
}

TEST_CASE("client certificate: a self-signed one is a finding, a CA-issued one is not", "[preflight]") {
  tls::CertificateSpec spec;
  spec.common_name = "smtp.contoso.example";
  auto credentials = must(tls::generate_certificate(spec, nullptr));
  TempDir dir;
  auto read = preflight::read_client_certificate(dir.file("self.pem", tls::certificate_pem(credentials.certificate.get())),
                                                 dir.file("self.key", tls::private_key_pem(credentials.key.get())));
  REQUIRE(read);
  const auto checks = preflight::client_certificate_checks(*read, {"contoso.example"});
  REQUIRE(checks.size() == 3);
  CHECK(checks[2].id == "connector.certificate-issuer");
  CHECK(checks[2].status == Status::fail);
  CHECK_THAT(checks[2].remedy, Catch::Contains("public certification authority"));
  {  // Issued by the test CA, which this machine trusts as it trusts a public root.
    TempDir roots_dir;
    ScopedEnvironment roots("SSL_CERT_FILE", roots_dir.file("roots.pem", pki().ca_pem));
    CHECK(preflight::client_certificate_checks(certificate_named("contoso.example", {}), {"contoso.example"}).size() == 2);
  }
}

TEST_CASE("client certificate: one from a CA that is not public (an internal CA) is a finding", "[preflight]") {
  // The test CA is in no public store: as an internal (AD CS) CA would be.
  const auto checks = preflight::client_certificate_checks(certificate_named("smtp.contoso.example", {}), {"contoso.example"});
  REQUIRE(checks.size() == 3);
  CHECK(checks[2].id == "connector.certificate-issuer");
  CHECK(checks[2].status == Status::fail);
  CHECK_THAT(checks[2].message, Catch::Contains("does not lead to a public root"));
  CHECK_THAT(checks[2].remedy, Catch::Contains("intermediate certificates after it"));
}

TEST_CASE("relay with a certificate connector: credited only when the certificate makes the difference", "[preflight]") {
  auto files = client_certificate("scanner.contoso.example", {"contoso.example"});
  auto external = [&](const Mx& mx) {
    auto argv = relay(mx, *files);
    argv.insert(argv.end(), {"--to", "partner@fabrikam.example"});
    return run_trusting(mx, argv);
  };
  SECTION("accepted with the certificate, refused without it: the connector matched the certificate") {
    smtp::ServerConfig config;
    config.profile = smtp::exo_mx_profile({"contoso.example"});
    config.request_client_certificate = true;
    config.relay_for_client_certificate = true;
    auto mx = serve(std::move(config));
    const auto run = external(*mx);
    const auto document = parse(run);
    INFO(document.dump(1));
    bool connector_passed = false;
    for (const auto& step : document["verdict"]["steps"])
      if (step["id"] == "connector") connector_passed = step["state"] == "passed";
    CHECK(connector_passed);
    CHECK(document["smtp"]["target"]["connector_match"] == "certificate");
    mx->server->wait(2);
    CHECK(mx->server->reports().size() == 2);  // with the certificate, then without it
  }
  SECTION("accepted without the certificate as well: a connector for this machine's address matched, not verified") {
    smtp::ServerConfig config;
    config.profile = smtp::exo_mx_profile({"contoso.example", "fabrikam.example"});
    config.request_client_certificate = true;
    auto mx = serve(std::move(config));
    const auto run = external(*mx);
    const auto document = parse(run);
    INFO(document.dump(1));
    CHECK(run.exit_code == 3);
    CHECK(document["verdict"]["verdict"] == "not-verified");
    bool untested = false;
    for (const auto& step : document["verdict"]["untested"])
      if (step["id"] == "connector") untested = step["why"].get<std::string>().find("without the device's certificate as well") != std::string::npos;
    CHECK(untested);
    CHECK(document["smtp"]["target"]["connector_match"] == "address");
    CHECK(run.out.find("matches the device's certificate") == std::string::npos);
  }
}

TEST_CASE("client certificate: expired, not yet valid and expiring soon", "[preflight]") {
  auto validity = [](long from, long to) {
    return preflight::client_certificate_checks(certificate_named("contoso.example", {}, from, to), {"contoso.example"})[1];
  };
  CHECK(validity(-30, -1).status == Status::fail);
  CHECK_FALSE(validity(-30, -1).remedy.empty());
  CHECK(validity(2, 30).status == Status::fail);
  CHECK(validity(-1, 10).status == Status::warn);
  CHECK(validity(-1, 365).status == Status::pass);
}

TEST_CASE("a client certificate's unreadable or wrong key is bad input naming the file", "[tls]") {
  auto files = client_certificate("contoso.example", {"contoso.example"});
  tls::ClientConfig config;
  config.client_certificate_file = files->certificate;
  config.client_key_file = files->dir.path() + "/missing.key";
  auto context = tls::make_client_context(config);
  REQUIRE_FALSE(context);
  CHECK(context.error().kind == ErrorKind::bad_input);
  CHECK_THAT(context.error().message, Catch::Contains("missing.key"));

  config.client_key_file = files->dir.file("garbage.key", "not a key\n");
  context = tls::make_client_context(config);
  REQUIRE_FALSE(context);
  CHECK(context.error().kind == ErrorKind::bad_input);
  CHECK_THAT(context.error().message, Catch::Contains("garbage.key"));

  config.client_key_file = files->key;
  CHECK(tls::make_client_context(config));
  config.client_key_file.clear();
  CHECK_FALSE(tls::make_client_context(config));  // both or neither
}

TEST_CASE("relay with a client certificate in the accepted domain: pass, and the server saw it", "[preflight]") {
  auto mx = serve_asking_for_certificates();
  auto files = client_certificate("scanner.contoso.example", {"contoso.example"});
  const auto run = run_trusting(*mx, relay(*mx, *files));
  const auto document = parse(run);
  INFO(document.dump(1));
  // Only an internal recipient: anyone may send that, so the connector
  // itself was not tested (exit 3), and the verdict says what to give.
  CHECK(run.exit_code == 3);
  CHECK(document["verdict"]["untested"][0]["id"] == "connector");
  CHECK_THAT(document["verdict"]["untested"][0]["to_test"].get<std::string>(), Catch::Contains("outside the tenant"));
  CHECK(check_of(document, "connector.certificate-name")["status"] == "pass");
  CHECK(check_of(document, "connector.certificate-name")["matched_domain"] == "contoso.example");
  CHECK(check_of(document, "connector.certificate-validity")["status"] == "pass");
  CHECK(check_of(document, "smtp.rcpt")["status"] == "pass");
  CHECK(document["client_certificate"]["san"][0] == "DNS:contoso.example");
  CHECK(run.out.find("PRIVATE KEY") == std::string::npos);
  CHECK(run.err.find("PRIVATE KEY") == std::string::npos);

  mx->server->wait(1);
  const auto reports = mx->server->reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].starttls);
  REQUIRE(reports[0].client_certificate);
  CHECK(reports[0].client_certificate->subject == "CN=scanner.contoso.example");
  CHECK(reports[0].client_certificate->san == std::vector<std::string>{"DNS:contoso.example"});
  CHECK(smtp::to_json(reports[0])["tls"]["client_certificate"]["subject"] == "CN=scanner.contoso.example");
}

TEST_CASE("relay with a client certificate for another domain: fail with the remedy (exit 1)", "[preflight]") {
  auto mx = serve_asking_for_certificates();
  auto files = client_certificate("scanner.fabrikam.example", {"scanner.fabrikam.example"});
  const auto run = run_trusting(*mx, relay(*mx, *files));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 1);
  const auto& name = check_of(document, "connector.certificate-name");
  CHECK(name["status"] == "fail");
  CHECK_THAT(name["message"].get<std::string>(), Catch::Contains("scanner.fabrikam.example"));
  CHECK_THAT(name["remedy"].get<std::string>(), Catch::Contains("accepted, verified domain"));
  CHECK(document["verdict"]["verdict"] == "will-not-work");
  CHECK_THAT(document["verdict"]["summary"].get<std::string>(), Catch::Contains("will not work"));
}

TEST_CASE("relay with a missing or unreadable client key is bad input (exit 2), before connecting", "[preflight]") {
  auto mx = serve_asking_for_certificates();
  auto files = client_certificate("scanner.contoso.example", {"contoso.example"});
  const std::string garbage = files->dir.file("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  const std::string other_key = [&] {
    auto other = client_certificate("other.contoso.example", {});
    return files->dir.file("other.key", read_file(other->key));
  }();
  for (const auto& key : {files->dir.path() + "/missing.key", garbage, other_key}) {
    auto argv = relay(*mx, *files);
    argv[std::find(argv.begin(), argv.end(), "--client-key") - argv.begin() + 1] = key;
    const auto run = run_program(argv);
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-preflight: error: "));
    CHECK_THAT(run.err, Catch::Contains(key));
    CHECK(parse(run)["status"] == "error");  // --json: the error as the one document
  }
  // Only half of the pair, or with a method that has no connector.
  auto argv = relay(*mx, *files);
  argv.erase(argv.end() - 5, argv.end() - 3);  // drop --client-key FILE
  CHECK(run_program(argv).exit_code == 2);
  argv = relay(*mx, *files);
  argv[3] = "direct-send";
  CHECK(run_program(argv).exit_code == 2);
  // A device without TLS cannot present a certificate.
  argv = relay(*mx, *files);
  argv.insert(argv.end(), {"--device-tls", "none"});
  const auto no_tls = run_program(argv);
  CHECK(no_tls.exit_code == 2);
  CHECK_THAT(no_tls.err, Catch::Contains("--client-cert needs TLS"));
  CHECK(mx->server->sessions_started() == 0);
}

TEST_CASE("sendcheck-probe --client-cert presents the certificate, a bad key is exit 2", "[probe]") {
  auto mx = serve_asking_for_certificates();
  auto files = client_certificate("scanner.contoso.example", {"contoso.example", "scanner.contoso.example"});
  const std::string port = std::to_string(mx->server->port());
  const auto run = run_program({probe_tool, "127.0.0.1", "--port", port, "--ca", mx->ca_file, "--starttls", "require", "--client-cert",
                                files->certificate, "--client-key", files->key, "--json", "--timeout", "2", "--dns", "127.0.0.1:9"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  mx->server->wait(1);
  const auto reports = mx->server->reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].client_certificate);
  CHECK(reports[0].client_certificate->san == std::vector<std::string>{"DNS:contoso.example", "DNS:scanner.contoso.example"});

  const auto bad = run_program({probe_tool, "127.0.0.1", "--port", port, "--client-cert", files->certificate, "--client-key",
                                files->dir.path() + "/missing.key", "--timeout", "2", "--dns", "127.0.0.1:9"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("missing.key"));
  const auto half = run_program({probe_tool, "127.0.0.1", "--port", port, "--client-cert", files->certificate, "--timeout", "2"});
  CHECK(half.exit_code == 2);
  CHECK(mx->server->sessions_started() == 1);
}

TEST_CASE("without a client certificate the server records none", "[probe]") {
  auto mx = serve_asking_for_certificates();
  const auto run = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(mx->server->port()), "--ca", mx->ca_file, "--json",
                                "--timeout", "2", "--dns", "127.0.0.1:9"});
  INFO(run.out << run.err);
  mx->server->wait(1);
  const auto reports = mx->server->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].starttls);
  CHECK_FALSE(reports[0].client_certificate);
}
