// sendcheck-probe x server scenario -> exit code and the fact that decides
// it: scripted servers for the replies no real server gives on demand (454
// to STARTTLS and to AUTH), openssl s_server for TLS 1.0 only, a 1024-bit
// key and a demanded client certificate, Postfix for 4xx recipients and an
// implicit-TLS port, and closed or silent ports. Every wait is bounded by
// the probe's --timeout with a wide margin.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "preflight_test_support.h"
#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag;
using namespace diag::smtp;

namespace {

const std::string probe_tool = bin_dir + "/sendcheck-probe";

RunResult probe(const std::vector<std::string>& args, const std::string& timeout = "2") {
  std::vector<std::string> argv{probe_tool, "--json", "--timeout", timeout, "--dns", "127.0.0.1:9", "--helo", "probe.sendcheck.test"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, 60s, {"SENDCHECK_PASSWORD=Probe-Pw"});
}

nlohmann::json check_of(const nlohmann::json& document, const std::string& id) {
  for (const auto& check : document["checks"])
    if (check["id"] == id) return check;
  return nullptr;
}

std::unique_ptr<SmtpServer> scripted(ServerProfile profile) {
  ServerConfig config;
  config.profile = std::move(profile);
  config.credentials = server_credentials("mail.sendcheck.test");
  config.command_timeout = 5000ms;
  return start_server(std::move(config));
}

// openssl s_server on loopback for `connections` connections, in its own
// thread, killed at its time limit at the latest.
struct SServer {
  std::uint16_t port = free_port();
  std::thread thread;
  RunResult result;
  SServer(const std::vector<std::string>& args, int connections) {
    std::vector<std::string> argv{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-naccept",
                                  std::to_string(connections), "-quiet"};
    argv.insert(argv.end(), args.begin(), args.end());
    thread = std::thread([this, argv] { result = run_program(argv, 40s); });
    if (!wait_for_port(port)) {
      thread.join();
      throw std::runtime_error("openssl s_server did not start: " + result.err);
    }
  }
  ~SServer() { thread.join(); }
};

bool skip_without(const std::vector<std::string>& programs, bool root = false) {
  if (auto missing = peer_missing(programs, root)) {
    skip_or_fail(*missing);
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE("probe: --starttls require answered 454 is exit 1", "[probe][peers]") {
  auto profile = accept_all_profile();
  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command == "STARTTLS") return "454 4.7.0 TLS not available due to local problem";
    return std::nullopt;
  };
  auto server = scripted(profile);
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--starttls", "require"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(check_of(document, "smtp.starttls")["status"] == "fail");
  // The probe plays a device, which does not retry as a mail server does; a
  // 454 to STARTTLS is the server's TLS setup, not a policy to ask about.
  const std::string remedy = check_of(document, "smtp.starttls")["remedy"];
  CHECK(remedy.find("retries by itself") == std::string::npos);
  CHECK_THAT(remedy, Catch::Contains("a device or application that submits mail usually does not"));
  CHECK_THAT(remedy, Catch::Contains("certificate or private key"));
  CHECK(remedy.find("receiving side's administrator") == std::string::npos);
  // Without require, a 454 stays a warning.
  const auto relaxed = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--starttls", "try"});
  CHECK(check_of(nlohmann::json::parse(relaxed.out), "smtp.starttls")["status"] == "warn");
}

TEST_CASE("probe: credentials never go to a server whose certificate failed verification", "[probe][peers][secrets]") {
  auto server = scripted(accept_all_profile());
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--auth", "plain", "--user", "dev@contoso.example",
                          "--from", "dev@contoso.example", "--rcpt", "a@contoso.example"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(check_of(document, "smtp.auth")["status"] == "fail");
  CHECK_THAT(check_of(document, "smtp.auth")["message"].get<std::string>(), Catch::StartsWith("AUTH not attempted"));
  CHECK_THAT(check_of(document, "smtp.auth")["remedy"].get<std::string>(), Catch::Contains("--insecure-auth"));
  server->wait(1);
  CHECK(server->reports().at(0).auth_mechanism.empty());  // the server never saw AUTH
}

TEST_CASE("probe: a temporary AUTH failure is exit 1, and MAIL/RCPT are said to be skipped", "[probe][peers]") {
  auto profile = accept_all_profile();
  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command.starts_with("AUTH")) return "454 4.7.0 Temporary authentication failure";
    return std::nullopt;
  };
  auto server = scripted(profile);
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--auth", "plain", "--user",
                          "dev@contoso.example", "--from", "dev@contoso.example", "--rcpt", "a@contoso.example", "--rcpt",
                          "b@contoso.example", "--insecure-auth"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(check_of(document, "smtp.auth")["status"] == "fail");
  const std::string remedy = check_of(document, "smtp.auth")["remedy"];
  CHECK(remedy.find("retries by itself") == std::string::npos);
  CHECK_THAT(remedy, Catch::Contains("authentication service"));
  CHECK_THAT(check_of(document, "smtp.mail")["message"].get<std::string>(), Catch::Contains("skipped"));
  CHECK_THAT((*preflight_testing::find_rcpt_check(document, "b@contoso.example"))["message"].get<std::string>(), Catch::Contains("RCPT TO:<b@contoso.example> skipped"));
  CHECK(run.out.find("Probe-Pw") == std::string::npos);
}

TEST_CASE("probe: --send with every recipient refused 4xx is exit 1", "[probe][peers]") {
  auto profile = accept_all_profile();
  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command.starts_with("RCPT")) return "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77714)";
    return std::nullopt;
  };
  auto server = scripted(profile);
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--from", "dev@contoso.example", "--rcpt",
                          "a@contoso.example", "--send"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(check_of(document, "smtp.send")["status"] == "fail");
  const std::string remedy = check_of(document, "smtp.rcpt")["remedy"];
  CHECK(remedy.find("retries by itself") == std::string::npos);
  CHECK_THAT(remedy, Catch::Contains("local relay that queues and retries"));
}

// What was asked for and could not run after the server's refusal is a
// failure; an envelope with nothing accepted now is one without --send too.
TEST_CASE("probe: STARTTLS answered 454 under the default --starttls try fails the AUTH and envelope asked for",
          "[probe][peers]") {
  auto profile = accept_all_profile();
  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command == "STARTTLS") return "454 4.7.0 TLS not available due to local problem";
    return std::nullopt;
  };
  auto server = scripted(profile);
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--auth", "login", "--user", "dev@contoso.example",
                          "--from", "dev@contoso.example", "--rcpt", "a@contoso.example"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(check_of(document, "smtp.auth")["status"] == "fail");
  CHECK_THAT(check_of(document, "smtp.auth")["message"].get<std::string>(), Catch::Contains("was not attempted"));
  CHECK(check_of(document, "smtp.mail")["status"] == "fail");
  CHECK(run.out.find("Probe-Pw") == std::string::npos);
}

TEST_CASE("probe: an envelope deferred now is exit 1 without --send, and a lasting 4xx is not called greylisting",
          "[probe][peers]") {
  struct Case {
    std::string verb, reply;
    bool names_greylisting;
  };
  for (const auto& entry : {Case{"RCPT", "451 4.7.1 Greylisted, try again later", true},
                            Case{"MAIL", "451 4.3.0 Temporary system failure", true},
                            Case{"RCPT", "451 4.4.62 Mail sent to the wrong Office 365 region. ATTR35.", false}}) {
    auto profile = accept_all_profile();
    profile.override_reply = [entry](std::string_view command) -> std::optional<std::string> {
      if (command.starts_with(entry.verb)) return entry.reply;
      return std::nullopt;
    };
    auto server = scripted(profile);
    const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--from", "dev@contoso.example", "--rcpt",
                            "a@contoso.example", "--rcpt", "b@contoso.example"});
    INFO(entry.reply << "\n" << run.out);
    CHECK(run.exit_code == 1);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "smtp.envelope")["status"] == "fail");
    // Every recipient asked for is in the report, sent or skipped.
    int recipients = 0;
    for (const auto& check : document["checks"]) recipients += check["id"] == "smtp.rcpt";
    CHECK(recipients == 2);
    const auto& deferred = check_of(document, entry.verb == "MAIL" ? "smtp.mail" : "smtp.rcpt");
    CHECK((deferred["remedy"].get<std::string>().find("greylisting") != std::string::npos) == entry.names_greylisting);
  }
}

TEST_CASE("probe: a port that refuses, or accepts and never answers, is exit 1", "[probe][peers]") {
  const std::uint16_t closed = free_port();
  auto refused = probe({"127.0.0.1", "--port", std::to_string(closed)});
  INFO(refused.out);
  CHECK(refused.exit_code == 1);
  CHECK(check_of(nlohmann::json::parse(refused.out), "smtp.connect")["status"] == "fail");

  // Listening, never accepting: the kernel completes the connection, nobody speaks.
  auto silent = listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
  REQUIRE(silent);
  const auto run = probe({"127.0.0.1", "--port", std::to_string(local_port(silent->fd))}, "1");
  INFO(run.out);
  CHECK(run.exit_code == 1);
  const auto banner = check_of(nlohmann::json::parse(run.out), "smtp.banner");
  CHECK(banner["status"] == "fail");
}

TEST_CASE("probe: an implicit-TLS port probed as plain SMTP is named, not a tarpit", "[probe][peers][tls]") {
  ServerConfig config;
  config.profile = accept_all_profile();
  config.credentials = server_credentials("mail.sendcheck.test");
  config.implicit_tls = true;
  config.command_timeout = 5000ms;
  auto server = start_server(std::move(config));
  const auto run = probe({"127.0.0.1", "--port", std::to_string(server->port())}, "1");
  INFO(run.out);
  CHECK(run.exit_code == 1);
  const auto banner = check_of(nlohmann::json::parse(run.out), "smtp.banner");
  CHECK_THAT(banner["message"].get<std::string>(), Catch::Contains("implicit TLS"));
  CHECK_THAT(banner["remedy"].get<std::string>(), Catch::Contains("--implicit-tls"));
  CHECK(banner["message"].get<std::string>().find("tarpit") == std::string::npos);

  // The same port with --implicit-tls gets the EHLO and AUTH checks a STARTTLS run gets.
  const auto implicit = probe({"127.0.0.1", "--port", std::to_string(server->port()), "--implicit-tls"});
  INFO(implicit.out);
  const auto document = nlohmann::json::parse(implicit.out);
  CHECK(check_of(document, "smtp.ehlo")["status"] == "pass");
  CHECK_THAT(check_of(document, "smtp.auth.mechanisms")["message"].get<std::string>(),
             Catch::Contains("AUTH inside TLS: PLAIN LOGIN XOAUTH2"));
}

TEST_CASE("probe: openssl s_server speaking only TLS 1.0 with a 1024-bit key", "[probe][peers][tls]") {
  if (skip_without({"openssl"})) return;
  TempDir dir;
  const auto made = run_program({"openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", dir.path() + "/key.pem",
                                 "-out", dir.path() + "/cert.pem", "-subj", "/CN=legacy.sendcheck.test", "-days", "30"},
                                30s);
  REQUIRE(made.exit_code == 0);
  const std::vector<std::string> legacy{"-cert", dir.path() + "/cert.pem", "-key", dir.path() + "/key.pem", "-tls1",
                                        "-cipher", "DEFAULT@SECLEVEL=0"};
  {
    SServer server(legacy, 2);  // the readiness check and the probe
    const auto run = probe({"127.0.0.1", "--port", std::to_string(server.port), "--implicit-tls"});
    INFO(run.out << server.result.err);
    CHECK(run.exit_code == 1);
    const auto handshake = check_of(nlohmann::json::parse(run.out), "tls.handshake");
    CHECK_THAT(handshake["message"].get<std::string>(), Catch::Contains("offered only TLSv1,"));
    CHECK_THAT(handshake["message"].get<std::string>(), Catch::Contains("this client refused"));
  }
  {
    SServer server(legacy, 2);
    // --tls-min 1.0 relaxes the version only: the weak key is still a failure.
    const auto run = probe({"127.0.0.1", "--port", std::to_string(server.port), "--implicit-tls", "--tls-min", "1.0"});
    INFO(run.out);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "tls.handshake")["status"] == "pass");
    // The same server as above, the same finding: it chose TLS 1.0 although
    // TLS 1.3 was offered, so it cannot do TLS 1.2.
    CHECK(check_of(document, "tls.version")["status"] == "fail");
    CHECK_THAT(check_of(document, "tls.version")["message"].get<std::string>(),
               Catch::Contains("the server chose TLSv1 although this client offered up to TLS 1.3"));
    CHECK(check_of(document, "tls.key")["status"] == "fail");
    CHECK_THAT(check_of(document, "tls.key")["message"].get<std::string>(), Catch::Contains("1024-bit RSA"));
    CHECK(run.exit_code == 1);
  }
  {
    SServer server(legacy, 2);
    // --tls-max 1.0 as well: the version is what was asked for, the key is not.
    const auto run = probe({"127.0.0.1", "--port", std::to_string(server.port), "--implicit-tls", "--tls-min", "1.0",
                            "--tls-max", "1.0"});
    INFO(run.out);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "tls.handshake")["status"] == "pass");
    CHECK(check_of(document, "tls.version")["status"] == "warn");
    CHECK_THAT(check_of(document, "tls.version")["message"].get<std::string>(),
               Catch::Contains("the most this client offered (--tls-max)"));
    CHECK(check_of(document, "tls.key")["status"] == "fail");
    CHECK(run.exit_code == 1);
  }
}

TEST_CASE("probe: --tls-min 1.0 relaxes the version, not the chain: a SHA-1 signed certificate stays untrusted",
          "[probe][peers][tls]") {
  if (skip_without({"openssl"})) return;
  TempDir dir;
  const std::string ca_key = dir.path() + "/ca-key.pem", ca = dir.path() + "/ca.pem", key = dir.path() + "/key.pem",
                    request = dir.path() + "/leaf.csr", leaf = dir.path() + "/leaf.pem";
  // A private CA (SHA-256) that signed the server's certificate with SHA-1.
  REQUIRE(run_program({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-subj",
                       "/CN=Legacy Test CA", "-days", "30", "-sha256"}, 30s).exit_code == 0);
  REQUIRE(run_program({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj",
                       "/CN=sha1.sendcheck.test"}, 30s).exit_code == 0);
  const auto signed_leaf = run_program({"openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
                                        "-CAcreateserial", "-out", leaf, "-days", "30", "-sha1"}, 30s);
  REQUIRE(signed_leaf.exit_code == 0);
  // The server itself needs level 0 to present a SHA-1 signed certificate.
  const std::vector<std::string> server_args{"-cert", leaf, "-key", key, "-cipher", "DEFAULT@SECLEVEL=0"};
  for (const bool legacy : {false, true}) {
    SServer server(server_args, 2);
    std::vector<std::string> args{"127.0.0.1", "--port", std::to_string(server.port), "--implicit-tls", "--ca", ca};
    if (legacy) args.insert(args.end(), {"--tls-min", "1.0"});
    const auto run = probe(args);
    INFO("--tls-min 1.0: " << legacy << "\n" << run.out << server.result.err);
    const auto document = nlohmann::json::parse(run.out);
    REQUIRE(check_of(document, "tls.handshake")["status"] == "pass");
    const auto trusted = check_of(document, "tls.chain-trusted");
    CHECK(trusted["status"] == "fail");
    CHECK_THAT(trusted["message"].get<std::string>(), Catch::Contains("too weak"));
    CHECK_THAT(trusted["remedy"].get<std::string>(), Catch::Contains("SHA-256"));
    CHECK(run.exit_code == 1);
  }
}

TEST_CASE("probe: a server that demands a client certificate says so", "[probe][peers][tls]") {
  if (skip_without({"openssl"})) return;
  TempDir dir;
  auto credentials = server_credentials("mail.sendcheck.test", Signer::test_ca, -1, 30, tls::KeyType::rsa2048);
  const std::string cert = dir.file("cert.pem", tls::certificate_pem(credentials->certificate.get()));
  const std::string key = dir.file("key.pem", tls::private_key_pem(credentials->key.get()));
  for (const std::string version : {"-tls1_2", "-tls1_3"}) {
    SServer server({"-cert", cert, "-key", key, "-Verify", "1", version}, 2);
    const auto run = probe({"127.0.0.1", "--port", std::to_string(server.port), "--implicit-tls"});
    INFO(version << "\n" << run.out);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.out, Catch::Contains("--client-cert FILE and --client-key FILE"));
  }
}

TEST_CASE("probe: Postfix deferring every recipient, with --send", "[probe][peers][postfix]") {
  if (skip_without({"postfix"}, true)) return;
  Postfix postfix({"smtpd_recipient_restrictions=defer"});
  const auto run = probe({"127.0.0.1", "--port", std::to_string(postfix.port()), "--ca", postfix.ca_file(), "--from",
                          "device@sendcheck.test", "--rcpt", "postmaster@sendcheck.test", "--send"}, "5");
  INFO(run.out);
  const auto document = nlohmann::json::parse(run.out);
  CHECK(document["targets"][0]["envelope"][1]["reply"]["code"] == 450);
  CHECK(check_of(document, "smtp.rcpt")["status"] == "warn");
  CHECK(check_of(document, "smtp.send")["status"] == "fail");
  CHECK(run.exit_code == 1);
}

TEST_CASE("probe: Postfix on an implicit-TLS port (wrapper mode) probed as plain SMTP", "[probe][peers][postfix]") {
  if (skip_without({"postfix"}, true)) return;
  Postfix postfix({"smtpd_tls_wrappermode=yes", "smtpd_tls_security_level=encrypt"});
  const auto run = probe({"127.0.0.1", "--port", std::to_string(postfix.port())});
  INFO(run.out);
  CHECK(run.exit_code == 1);
  CHECK_THAT(check_of(nlohmann::json::parse(run.out), "smtp.banner")["message"].get<std::string>(),
             Catch::Contains("TLS"));
  const auto implicit = probe({"127.0.0.1", "--port", std::to_string(postfix.port()), "--implicit-tls", "--ca",
                               postfix.ca_file()}, "5");
  INFO(implicit.out);
  const auto document = nlohmann::json::parse(implicit.out);
  CHECK(check_of(document, "smtp.ehlo")["status"] == "pass");
  CHECK(check_of(document, "tls.chain-trusted")["status"] == "pass");
  CHECK(implicit.exit_code == 0);
}

TEST_CASE("probe: ::1 with or without brackets is one host, and localhost is a target", "[probe][peers]") {
  ServerConfig config;
  config.profile = accept_all_profile();
  tls::CertificateSpec spec;
  spec.common_name = "localhost";
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"::1", "127.0.0.1"};
  config.credentials = std::make_shared<tls::Credentials>(must(tls::generate_certificate(spec, &pki().ca)));
  config.command_timeout = 5000ms;
  ServerConfig v4 = config;  // localhost is 127.0.0.1 in every /etc/hosts
  config.bind_address = *IpAddress::parse("::1");
  auto server = SmtpServer::start(std::move(config));
  if (!server) {
    WARN("no IPv6 loopback here: " << server.error().message);
    return;
  }
  TempDir dir;
  const std::string ca = dir.file("ca.pem", pki().ca_pem);
  for (const std::string target : {"[::1]", "::1"}) {
    const auto run = probe({target, "--port", std::to_string((*server)->port()), "--ca", ca});
    INFO(target << "\n" << run.out << run.err);
    const auto document = nlohmann::json::parse(run.out);
    CHECK(check_of(document, "tls.name-matches")["status"] == "pass");
    CHECK(run.exit_code == 0);
  }
  // A host name without dots: /etc/hosts knows localhost.
  auto server_v4 = start_server(std::move(v4));
  const auto local = probe({"localhost", "-4", "--port", std::to_string(server_v4->port()), "--ca", ca});
  INFO(local.out << local.err);
  CHECK(local.exit_code == 0);
  CHECK(check_of(nlohmann::json::parse(local.out), "tls.name-matches")["status"] == "pass");
}

TEST_CASE("probe --send encodes a non-ASCII Subject (RFC 2047)", "[probe][peers]") {
  CHECK(encode_header_text("Scan to mail") == "Scan to mail");
  CHECK(encode_header_text("Scan vom Drucker – Büro") == "=?UTF-8?B?U2NhbiB2b20gRHJ1Y2tlciDigJMgQsO8cm8=?=");
  // Long text is folded into words of at most 75 characters, never splitting a character.
  std::string text;
  for (int i = 0; i < 40; ++i) text += "ü";
  const std::string encoded = encode_header_text(text);
  std::size_t start = 0;
  std::string decoded;
  while (start < encoded.size()) {
    auto end = encoded.find("\r\n ", start);
    const std::string word = encoded.substr(start, end == std::string::npos ? std::string::npos : end - start);
    CHECK(word.size() <= 75);
    REQUIRE(word.starts_with("=?UTF-8?B?"));
    decoded += base64_decode(word.substr(10, word.size() - 12)).value_or("?");
    if (end == std::string::npos) break;
    start = end + 3;
  }
  CHECK(decoded == text);
  const std::string message = build_test_message("a@contoso.example", {"b@contoso.example"}, "Prüfung", "body\r\n");
  CHECK_THAT(message, Catch::Contains("\r\nSubject: =?UTF-8?B?UHLDvGZ1bmc=?=\r\n"));
}
