// sendcheck-listen's verdict for each device behavior that an admin meets,
// driven by a scripted client on loopback so that each case is exactly the
// bytes a device sends: a refused anonymous MAIL, a refused certificate, a
// TLS 1.0 client on each profile, a ClientHello on a STARTTLS port, AUTH
// before STARTTLS, a handshake that never ends, BDAT, and the summary's exit
// codes. Real clients against the binary are in test_listen_peers.cpp.
#include <openssl/ssl.h>

#include <catch2/catch.hpp>

#include "diag/strings.h"

#include <nlohmann/json.hpp>

#include "diag/smtp.h"
#include "smtp_test_support.h"

using namespace diag;
using namespace diag::smtp;
using namespace smtp_testing;

namespace {

const std::string listener_name = "listen.sendcheck.test";

std::unique_ptr<SmtpServer> listen_with(ServerProfile profile, Milliseconds tls_timeout = 5000ms) {
  ServerConfig config;
  config.profile = std::move(profile);
  // RSA first, ECDSA beside it: what sendcheck-listen presents by default.
  config.credentials = server_credentials(listener_name, Signer::test_ca, -1, 90, tls::KeyType::rsa2048);
  config.additional_credentials = {server_credentials(listener_name)};
  config.command_timeout = 5000ms;
  config.tls_timeout = tls_timeout;
  return start_server(std::move(config));
}

// A device as a script: each command written as is, each reply read whole.
class ScriptedDevice {
 public:
  explicit ScriptedDevice(std::uint16_t port) {
    if (connection_.connect(IpAddress::v4({127, 0, 0, 1}), port, Clock::now() + 5s).status != IoStatus::ok)
      throw std::runtime_error("cannot connect");
  }
  Reply reply() {
    ReplyAssembler assembler;
    for (;;) {
      auto read = connection_.read_line(Clock::now() + 5s);
      if (read.status != IoStatus::ok) throw std::runtime_error("no reply: " + std::string(to_string(read.status)));
      if (assembler.feed(read.line) == ReplyAssembler::Step::complete) return assembler.take();
    }
  }
  Reply say(const std::string& line) {
    write(line + "\r\n");
    return reply();
  }
  void write(const std::string& bytes) { connection_.write_all(bytes, Clock::now() + 5s); }
  // A client TLS context shaped like a device: its versions, its ciphers,
  // and whether it checks the server's certificate (against no CA at all).
  IoStatus start_tls(std::optional<tls::Version> max_version, const std::string& ciphers = "", bool verify = false) {
    context_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(context_.get(), 0);
    if (max_version == tls::Version::tls1_0) SSL_CTX_set_max_proto_version(context_.get(), TLS1_VERSION);
    if (max_version == tls::Version::tls1_2) SSL_CTX_set_max_proto_version(context_.get(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(context_.get(), ciphers.empty() ? "DEFAULT:@SECLEVEL=0" : ciphers.c_str());
    SSL_CTX_set_verify(context_.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    std::string detail;
    return connection_.start_tls_client(context_.get(), listener_name, Clock::now() + 5s, &detail);
  }
  // Banner, EHLO, STARTTLS answered 220: where every TLS case starts.
  void up_to_starttls(const std::string& ehlo) {
    reply();
    say("EHLO " + ehlo);
    if (say("STARTTLS").code != 220) throw std::runtime_error("STARTTLS refused");
  }
  void close() { connection_.close(); }

 private:
  Connection connection_;
  tls::SslCtxPtr context_;
};

SessionReport only_report(SmtpServer& server) {
  server.wait(1);
  const auto reports = server.reports();
  REQUIRE(reports.size() == 1);
  INFO("verdict " << to_string(reports[0].verdict) << ": " << reports[0].verdict_reason);
  return reports[0];
}

std::string xoauth2(const std::string& user, const std::string& token) {
  return base64_encode("user=" + user + "\x01" + "auth=Bearer " + token + "\x01\x01");
}

std::string jwt(const nlohmann::json& claims) { return test_jwt(claims); }
std::int64_t now_seconds() { return unix_now(); }
nlohmann::json user_claims(const std::string& upn = "app@contoso.example") { return exchange_user_claims(upn); }

// Banner, EHLO, STARTTLS, TLS, EHLO, then AUTH XOAUTH2 with this token: its reply.
Reply oauth_session(ScriptedDevice& device, const std::string& token, const std::string& user = "app@contoso.example") {
  device.up_to_starttls("app.contoso.example");
  if (device.start_tls(std::nullopt) != IoStatus::ok) throw std::runtime_error("TLS failed");
  device.say("EHLO app.contoso.example");
  return device.say("AUTH XOAUTH2 " + xoauth2(user, token));
}

}  // namespace

TEST_CASE("listen: MAIL without AUTH on exo-submission is recorded and judged", "[listen][verdict]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  CHECK(device.reply().code == 220);
  CHECK(device.say("EHLO printer.contoso.example").code == 250);
  CHECK(device.say("STARTTLS").code == 220);
  REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
  CHECK(device.say("EHLO printer.contoso.example").code == 250);
  const Reply mail = device.say("MAIL FROM:<printer@contoso.example>");
  CHECK(mail.raw().starts_with("530 5.7.57 Client not authenticated to send mail."));
  // A pipelining device sends RCPT anyway: whom it meant is kept.
  CHECK(device.say("RCPT TO:<staff@contoso.example>").code == 503);
  CHECK(device.say("QUIT").code == 221);
  const auto report = only_report(*server);
  CHECK(report.mail_from == "printer@contoso.example");
  CHECK(report.refused_rcpt == std::vector<std::string>{"staff@contoso.example"});
  CHECK(report.verdict == DeviceVerdict::sends_without_auth);
  CHECK(report.outcome == DeviceOutcome::breaks);
  CHECK_THAT(report.verdict_reason, Catch::StartsWith("sends without authenticating: needs direct send or a connector"));
  CHECK_THAT(report.verdict_reason, Catch::Contains("RCPT TO <staff@contoso.example> (refused)"));
  CHECK(to_json(report)["mail_from"] == "printer@contoso.example");
}

TEST_CASE("listen: a device that refuses our certificate is not a TLS 1.2 failure", "[listen][verdict][tls]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.up_to_starttls("printer.contoso.example");
  CHECK(device.start_tls(std::nullopt, "", true) == IoStatus::tls_error);
  device.close();
  const auto report = only_report(*server);
  CHECK(report.tls_failure == tls::HandshakeFailure::certificate_rejected);
  CHECK(report.verdict == DeviceVerdict::certificate_not_trusted);
  CHECK(report.outcome == DeviceOutcome::unknown);
  CHECK_THAT(report.verdict_reason, Catch::Contains("--cert and --key"));
  CHECK_THAT(report.verdict_reason, Catch::Contains("turn certificate validation off on the device"));
}

TEST_CASE("listen: a TLS 1.0 device, told what fits each profile", "[listen][verdict][tls]") {
  SECTION("exo-mx: the handshake fails; plain SMTP at the MX or a relay") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.up_to_starttls("scanner.contoso.example");
    CHECK(device.start_tls(tls::Version::tls1_0) != IoStatus::ok);
    device.close();
    const auto report = only_report(*server);
    CHECK(report.tls_offered_max == tls::Version::tls1_0);
    CHECK(report.verdict == DeviceVerdict::legacy_tls);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("offered at most TLSv1 "));
    CHECK_THAT(report.verdict_reason, Catch::Contains("turn TLS off on the device and send plain SMTP to the tenant MX"));
    CHECK_THAT(report.verdict_reason, Catch::Contains("relay"));
  }
  SECTION("exo-submission: the handshake happens, then 421 4.7.66") {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    device.up_to_starttls("scanner.contoso.example");
    REQUIRE(device.start_tls(tls::Version::tls1_0) == IoStatus::ok);
    CHECK(device.say("EHLO scanner.contoso.example").raw().starts_with("421 4.7.66"));
    const auto report = only_report(*server);
    CHECK(report.tls_version == "TLSv1");
    CHECK(report.verdict == DeviceVerdict::legacy_tls);
    CHECK_THAT(report.verdict_reason, Catch::Contains("smtp-legacy.office365.com"));
  }
}

TEST_CASE("listen: TLS 1.2 with no cipher in common", "[listen][verdict][tls]") {
  auto server = listen_with(exo_mx_profile({"contoso.example"}));
  ScriptedDevice device(server->port());
  device.up_to_starttls("scanner.contoso.example");
  // Finite-field DHE only: the listener has no DH parameters for it.
  CHECK(device.start_tls(tls::Version::tls1_2, "DHE-RSA-AES128-GCM-SHA256") != IoStatus::ok);
  device.close();
  const auto report = only_report(*server);
  CHECK(report.tls_failure == tls::HandshakeFailure::no_shared_cipher);
  CHECK(report.verdict == DeviceVerdict::no_shared_cipher);
  CHECK(report.outcome == DeviceOutcome::breaks);
}

TEST_CASE("listen: RSA-only and ECDSA-only TLS 1.2 clients both find a certificate", "[listen][verdict][tls]") {
  for (const std::string cipher : {"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"}) {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.up_to_starttls("scanner.contoso.example");
    CHECK(device.start_tls(tls::Version::tls1_2, cipher) == IoStatus::ok);
    CHECK(device.say("QUIT").code == 221);
    const auto report = only_report(*server);
    CHECK(report.tls_cipher == cipher);
  }
}

TEST_CASE("listen: a TLS ClientHello on a STARTTLS port is implicit TLS", "[listen][verdict][tls]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  CHECK(device.start_tls(std::nullopt) != IoStatus::ok);  // it reads our banner as TLS and gives up
  device.close();
  const auto report = only_report(*server);
  CHECK(report.tls_hello_in_clear);
  CHECK(report.commands.empty());  // the ClientHello was not taken for commands
  CHECK(report.verdict == DeviceVerdict::implicit_tls);
  CHECK(report.outcome == DeviceOutcome::breaks);
  CHECK_THAT(report.verdict_reason, Catch::StartsWith("the device uses implicit TLS (465 style)"));
}

TEST_CASE("listen: an SSL 2.0-format ClientHello on a STARTTLS port is implicit TLS, not a timeout", "[listen][verdict][tls]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  // RFC 6101 E.2: length 0x2e with the high bit, CLIENT-HELLO, version 3.1 (TLS 1.0), then the lengths.
  device.write(std::string("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 11));
  device.close();
  const auto report = only_report(*server);
  CHECK(report.tls_hello_in_clear);
  CHECK(report.verdict == DeviceVerdict::implicit_tls);
}

TEST_CASE("listen: TLS begun after a refused STARTTLS is a STARTTLS device, and the refused EHLO the cause", "[listen][verdict][tls]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  CHECK(device.say("EHLO PRINTER01").code == 501);
  CHECK(device.say("STARTTLS").code == 503);
  device.write(std::string("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 11));
  device.close();
  const auto report = only_report(*server);
  CHECK(report.tls_hello_in_clear);
  CHECK(report.verdict == DeviceVerdict::invalid_ehlo);
  CHECK(report.outcome == DeviceOutcome::breaks);
  CHECK(report.verdict_reason.find("465") == std::string::npos);
}

TEST_CASE("listen --implicit-tls: a device that speaks plain SMTP, or waits for a greeting, is not set for implicit TLS",
          "[listen][verdict][tls]") {
  auto implicit_listener = [](Milliseconds tls_timeout) {
    ServerConfig config;
    config.profile = exo_submission_profile();
    config.credentials = server_credentials(listener_name, Signer::test_ca, -1, 90, tls::KeyType::rsa2048);
    config.implicit_tls = true;
    config.command_timeout = 5000ms;
    config.tls_timeout = tls_timeout;
    return start_server(std::move(config));
  };
  SECTION("it sends EHLO first") {
    auto server = implicit_listener(5000ms);
    ScriptedDevice device(server->port());
    device.write("EHLO printer.contoso.example\r\n");
    const auto report = only_report(*server);
    CHECK(report.tls_failure == tls::HandshakeFailure::not_tls);
    CHECK(report.verdict == DeviceVerdict::no_implicit_tls);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason, Catch::StartsWith("it sent plain text where a TLS handshake was due"));
    CHECK_THAT(report.verdict_reason, Catch::Contains("without --implicit-tls"));
  }
  SECTION("it waits for a greeting") {
    auto server = implicit_listener(300ms);
    ScriptedDevice device(server->port());
    const auto report = only_report(*server);  // ends at the handshake deadline
    CHECK(report.tls_failure == tls::HandshakeFailure::timed_out);
    CHECK(report.verdict == DeviceVerdict::no_implicit_tls);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason, Catch::StartsWith("it sent no TLS ClientHello within --timeout"));
  }
}

// A device out of step after AUTH (it ignores the 504, or pipelines its
// answers to prompts that never come) sends its secrets as lines of their
// own: never recorded as they are, and judged as secrets sent in clear.
TEST_CASE("listen: secrets sent after a refused AUTH are masked and judged as sent in clear", "[listen][verdict][secrets]") {
  const std::string password = base64_encode("Secr3t-Printer-Pw"), user = base64_encode("printer@contoso.example");
  const std::string token = xoauth2("app@contoso.example", "eyJ0eXAiOiJKV1QifQ.e30.c2ln");
  for (const bool oauth : {false, true}) {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    device.reply();
    device.say("EHLO printer.contoso.example");
    device.write(oauth ? "AUTH XOAUTH2\r\n" + token + "\r\n" : "AUTH LOGIN\r\n" + user + "\r\n" + password + "\r\n");
    for (int i = 0; i < (oauth ? 2 : 3); ++i) device.reply();
    device.say("QUIT");
    const auto report = only_report(*server);
    INFO(report.verdict_reason);
    for (const auto& command : report.commands) {
      CHECK(command.find(password) == std::string::npos);
      CHECK(command.find(user) == std::string::npos);
      CHECK(command.find(token) == std::string::npos);
    }
    CHECK(std::count(report.commands.begin(), report.commands.end(), "***") == (oauth ? 1 : 2));
    CHECK(report.auth_secret_in_clear);
    CHECK(report.verdict == DeviceVerdict::auth_before_starttls);
    CHECK_THAT(report.verdict_reason, Catch::Contains(oauth ? "revoke it" : "change that password"));
    // The next SMTP command is recorded again.
    CHECK(report.commands.back() == "QUIT");
  }
}

// A device on the network writes what the admin's terminal shows: its EHLO
// or Subject must not clear the screen or fake a report line.
TEST_CASE("listen: control bytes a device sends are escaped in the text report", "[listen][verdict][hostile]") {
  auto server = listen_with(exo_mx_profile({"contoso.example"}));
  ScriptedDevice device(server->port());
  device.reply();
  device.say("EHLO printer\x1b[2J\x1b]0;owned\x07.contoso.example");
  device.say("QUIT");
  const auto report = only_report(*server);
  const std::string text = render_text(report);
  INFO(text);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK_THAT(text, Catch::Contains("printer\\x1b[2J"));
}

TEST_CASE("terminal-safe text: C1 controls, bidi overrides and stray bytes are escaped, UTF-8 kept", "[listen][hostile]") {
  using diag::strings::terminal_safe;
  CHECK(terminal_safe("caf\xc3\xa9 M\xc3\xbcller") == "caf\xc3\xa9 M\xc3\xbcller");  // UTF-8 text stays
  CHECK(terminal_safe("a\x9b" "2Jb") == "a\\x9b2Jb");                          // a raw CSI byte
  CHECK(terminal_safe("a\xc2\x9b" "2Jb") == "a\\u{009b}2Jb");                 // CSI as UTF-8
  CHECK(terminal_safe("x\xe2\x80\xae" "evil") == "x\\u{202e}evil");               // right-to-left override
  CHECK(terminal_safe("\x1b]0;t\x07") == "\\x1b]0;t\\x07");
  CHECK(terminal_safe("one\ntwo", true) == "one\ntwo");
  CHECK(terminal_safe("one\ntwo") == "one\\x0atwo");
  CHECK(terminal_safe("\xed\xa0\x80") == "\\xed\\xa0\\x80");              // a surrogate is not UTF-8
  CHECK(terminal_safe("\xf8\x80\x80") == "\\xf8\\x80\\x80");              // no lead byte above 0xF4
}

TEST_CASE("listen: AUTH before STARTTLS gets 504 5.7.4 and its own verdict", "[listen][verdict]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  device.say("EHLO printer.contoso.example");
  CHECK(device.say("AUTH LOGIN").raw().starts_with("504 5.7.4 Unrecognized authentication type"));
  device.say("QUIT");
  const auto report = only_report(*server);
  CHECK(report.auth_before_starttls);
  CHECK(report.verdict == DeviceVerdict::auth_before_starttls);
  CHECK(report.outcome == DeviceOutcome::breaks);
}

TEST_CASE("listen: XOAUTH2 refused, in clear text, and accepted", "[listen][verdict]") {
  // app@contoso.example signed in with a user's token over TLS, as a device that does it right.
  const auto sign_in_over_tls = [](ScriptedDevice& device) {
    device.up_to_starttls("app.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO app.contoso.example");
    CHECK(device.say("AUTH XOAUTH2 " + xoauth2("app@contoso.example", jwt(user_claims()))).code == 235);
  };
  SECTION("refused: 535 5.7.3") {
    auto profile = exo_submission_profile();
    profile.oauth_token = "good-token";
    auto server = listen_with(profile);
    ScriptedDevice device(server->port());
    device.up_to_starttls("app.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO app.contoso.example");
    CHECK(device.say("AUTH XOAUTH2 " + xoauth2("app@contoso.example", "stale-token")).raw().starts_with("535 5.7.3"));
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::oauth_refused);
    CHECK(report.outcome == DeviceOutcome::breaks);
  }
  SECTION("in clear text on accept-all") {
    auto server = listen_with(accept_all_profile());
    ScriptedDevice device(server->port());
    device.reply();
    device.say("EHLO app.contoso.example");
    CHECK(device.say("AUTH XOAUTH2 " + xoauth2("app@contoso.example", "t")).code == 235);
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::oauth_in_clear_text);
    CHECK(report.outcome == DeviceOutcome::breaks);
  }
  SECTION("accepted over TLS, but MAIL FROM another sender: 5.7.60 unless it may send as it") {
    for (const bool may_send_as : {false, true}) {
      auto profile = exo_submission_profile();
      if (may_send_as) profile.send_as = {"scans@contoso.example"};
      auto server = listen_with(profile);
      ScriptedDevice device(server->port());
      sign_in_over_tls(device);
      const Reply mail = device.say("MAIL FROM:<Scans@contoso.example>");
      device.say("QUIT");
      const auto report = only_report(*server);
      if (may_send_as) {
        CHECK(mail.code == 250);
        // The token was not checked: never "works".
        CHECK(report.verdict == DeviceVerdict::oauth_token_unchecked);
        CHECK(report.outcome == DeviceOutcome::unknown);
      } else {
        // With the front end's name, as Exchange Online's other replies have it.
        CHECK(mail.raw() ==
              "550 5.7.60 SMTP; Client does not have permissions to send as this sender [SY5P282CA0097.outlook.office365.com]");
        CHECK(report.verdict == DeviceVerdict::sender_not_permitted);
      }
    }
  }
  SECTION("its own MAIL FROM, but a From header it may not send as: 554 5.2.252 SendAsDenied after DATA") {
    for (const bool may_send_as : {false, true}) {
      auto profile = exo_submission_profile();
      if (may_send_as) profile.send_as = {"ceo@contoso.example"};
      auto server = listen_with(profile);
      ScriptedDevice device(server->port());
      sign_in_over_tls(device);
      CHECK(device.say("MAIL FROM:<app@contoso.example>").code == 250);
      CHECK(device.say("RCPT TO:<someone@fabrikam.example>").code == 250);
      CHECK(device.say("DATA").code == 354);
      const Reply end = device.say("From: \"CEO\" <CEO@contoso.example>\r\nSubject: report\r\n\r\nbody\r\n.");
      device.say("QUIT");
      const auto report = only_report(*server);
      if (may_send_as) {
        CHECK(end.code == 250);
        CHECK(report.verdict == DeviceVerdict::oauth_token_unchecked);
      } else {
        CHECK(end.code == 554);
        CHECK_THAT(end.raw(), Catch::StartsWith("554 5.2.252 SendAsDenied; app@contoso.example not allowed to send as "
                                                "CEO@contoso.example; STOREDRV.Submission.Exception:SendAsDeniedException"));
        CHECK_FALSE(report.message_accepted);
        CHECK(report.verdict == DeviceVerdict::sender_not_permitted);
        CHECK(report.outcome == DeviceOutcome::breaks);
        CHECK_THAT(report.verdict_reason, Catch::Contains("Add-RecipientPermission") && Catch::Contains("5.2.252"));
      }
    }
  }
}

TEST_CASE("listen: the TLS handshake deadline is --timeout, and its end is a timeout", "[listen][verdict][tls]") {
  auto server = listen_with(exo_submission_profile(), 300ms);
  ScriptedDevice device(server->port());
  device.up_to_starttls("printer.contoso.example");
  // ... and then the device says nothing: no ClientHello.
  const auto report = only_report(*server);
  CHECK(report.tls_failure == tls::HandshakeFailure::timed_out);
  CHECK(report.verdict == DeviceVerdict::timed_out);
  CHECK(report.outcome == DeviceOutcome::unknown);
}

TEST_CASE("listen: a single-label EHLO gets 501 5.5.4", "[listen][verdict]") {
  CHECK(is_valid_ehlo_name("printer.contoso.example"));
  CHECK(is_valid_ehlo_name("[192.0.2.1]"));
  CHECK(is_valid_ehlo_name("[IPv6:2001:db8::1]"));
  CHECK_FALSE(is_valid_ehlo_name("BULP05N020"));
  CHECK_FALSE(is_valid_ehlo_name("mylaptopname."));
  CHECK_FALSE(is_valid_ehlo_name("MacBook..local"));
  CHECK_FALSE(is_valid_ehlo_name(""));
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  CHECK(device.say("EHLO DESKTOP-XYZ").raw().starts_with("501 5.5.4 Invalid domain name"));
  device.say("QUIT");
  const auto report = only_report(*server);
  CHECK(report.verdict == DeviceVerdict::invalid_ehlo);
  CHECK(report.outcome == DeviceOutcome::breaks);
}

TEST_CASE("listen: BDAT chunks (RFC 3030) on exo-mx, direct send that works", "[listen][verdict]") {
  auto server = listen_with(exo_mx_profile({"contoso.example"}));
  ScriptedDevice device(server->port());
  device.reply();
  const Reply ehlo = device.say("EHLO scanner.contoso.example");
  CHECK(parse_ehlo(ehlo).chunking);
  CHECK(device.say("MAIL FROM:<scanner@contoso.example> BODY=BINARYMIME").code == 250);
  CHECK(device.say("RCPT TO:<staff@contoso.example>").code == 250);
  CHECK(device.say("DATA").code == 503);  // BINARYMIME needs BDAT
  const std::string head = "From: <scanner@contoso.example>\r\nSubject: scan\r\n\r\n";
  const std::string body = "binary \x01\x02\r\n.\r\nnot the end\r\n";
  device.write("BDAT " + std::to_string(head.size()) + "\r\n" + head);
  CHECK(device.reply().code == 250);
  device.write("BDAT " + std::to_string(body.size()) + " LAST\r\n" + body);
  CHECK(device.reply().raw().starts_with("250 2.6.0"));
  // A chunk outside a transaction is read and refused: the next command is found.
  device.write("BDAT 5 LAST\r\nHELLO");
  CHECK(device.reply().code == 503);
  CHECK(device.say("QUIT").code == 221);
  const auto report = only_report(*server);
  CHECK(report.used_bdat);
  REQUIRE(report.message_bytes);
  CHECK(*report.message_bytes == head.size() + body.size());
  CHECK(report.header_subject == "scan");
  CHECK(report.verdict == DeviceVerdict::direct_send_works);
  CHECK(report.outcome == DeviceOutcome::works);
}

TEST_CASE("listen: RejectDirectSend points to a partner connector", "[listen][verdict]") {
  auto server = listen_with(exo_mx_profile({"contoso.example"}, true));
  ScriptedDevice device(server->port());
  device.reply();
  device.say("EHLO scanner.contoso.example");
  device.say("MAIL FROM:<scanner@contoso.example>");
  CHECK(device.say("RCPT TO:<staff@contoso.example>").raw().starts_with("550 5.7.68"));
  device.say("QUIT");
  const auto report = only_report(*server);
  CHECK(report.verdict == DeviceVerdict::needs_partner_connector);
  CHECK_THAT(report.verdict_reason, Catch::Contains("partner inbound connector"));
}

TEST_CASE("listen: the summary's exit code follows the devices", "[listen][verdict]") {
  auto report_with = [](DeviceVerdict verdict, DeviceOutcome outcome) {
    SessionReport report;
    report.commands = {"EHLO x.example"};
    report.verdict = verdict;
    report.outcome = outcome;
    return report;
  };
  SessionReport port_check;  // connected and left: not a device
  CHECK(summarize({}).exit_code == 3);
  CHECK(summarize({port_check}).exit_code == 3);
  CHECK(summarize({port_check, report_with(DeviceVerdict::incomplete, DeviceOutcome::unknown)}).exit_code == 3);
  CHECK(summarize({report_with(DeviceVerdict::ready_for_oauth, DeviceOutcome::works)}).exit_code == 0);
  // A device nobody can vouch for keeps the run from 0, beside one that works.
  CHECK(summarize({report_with(DeviceVerdict::ready_for_oauth, DeviceOutcome::works),
                   report_with(DeviceVerdict::certificate_not_trusted, DeviceOutcome::unknown)})
            .exit_code == 3);
  // The summary points into the reports: they must outlive it.
  const std::vector<SessionReport> reports = {report_with(DeviceVerdict::ready_for_oauth, DeviceOutcome::works),
                                              report_with(DeviceVerdict::basic_auth, DeviceOutcome::breaks), port_check};
  const auto mixed = summarize(reports);
  CHECK(mixed.exit_code == 1);
  CHECK(mixed.sessions == 3);
  CHECK(mixed.without_commands == 1);
  REQUIRE(mixed.breaking.size() == 1);
  CHECK(mixed.breaking[0]->verdict == DeviceVerdict::basic_auth);
  CHECK_THAT(render_text(mixed), Catch::Contains("1 x basic-auth"));
  CHECK(to_json(mixed)["verdicts"]["ready-for-oauth"] == 1);
}

TEST_CASE("listen: what an XOAUTH2 token shows without the network", "[listen][verdict][oauth]") {
  const auto now = now_seconds();
  SECTION("a user's token for Exchange Online with SMTP.Send is plausible") {
    const auto facts = inspect_oauth_token(jwt(user_claims()), "app@contoso.example", now);
    CHECK(facts.jwt);
    CHECK(facts.problem.empty());
    CHECK(facts.audience == "https://outlook.office.com");
    CHECK_FALSE(facts.app_only);
    CHECK(facts.notes.empty());
  }
  SECTION("not a JWT: a refresh token or a password in its place") {
    for (const char* token : {"bad", "eyJhbGciOi.eyJhdWQi.sig", "0.AXoA-refresh-token-looking", "a.b.c.d"}) {
      const auto facts = inspect_oauth_token(token, "app@contoso.example", now);
      CHECK_FALSE(facts.jwt);
      CHECK_THAT(facts.problem, Catch::StartsWith("its token is not a JWT"));
      CHECK_THAT(facts.problem, Catch::Contains("refresh token"));
      CHECK(facts.problem.find(token) == std::string::npos);
    }
  }
  SECTION("an unsigned JWT (alg none) is a JWT, but never Microsoft's") {
    const std::string unsigned_token = base64url(R"({"typ":"JWT","alg":"none"})") + "." + base64url(user_claims().dump()) + ".";
    const auto facts = inspect_oauth_token(unsigned_token, "app@contoso.example", now);
    CHECK(facts.jwt);
    CHECK_THAT(facts.problem, Catch::StartsWith("its token is an unsigned JWT (alg none"));
  }
  SECTION("a Microsoft Graph token, another audience, none") {
    auto claims = user_claims();
    claims["aud"] = "00000003-0000-0000-c000-000000000000";
    CHECK_THAT(inspect_oauth_token(jwt(claims), "app@contoso.example", now).problem,
               Catch::Contains("for Microsoft Graph") && Catch::Contains("https://outlook.office.com/SMTP.Send"));
    claims["aud"] = "api://contoso-app";
    CHECK_THAT(inspect_oauth_token(jwt(claims), "app@contoso.example", now).problem,
               Catch::StartsWith("its token is for api://contoso-app, not Exchange Online"));
    claims.erase("aud");
    CHECK_THAT(inspect_oauth_token(jwt(claims), "app@contoso.example", now).problem, Catch::Contains("no audience"));
    // The application's audience, and the trailing slash v1 tokens carry, are Exchange Online.
    claims["aud"] = "https://outlook.office365.com/";
    CHECK(inspect_oauth_token(jwt(claims), "app@contoso.example", now).problem.empty());
  }
  SECTION("expired, and not valid yet") {
    auto claims = user_claims();
    claims["exp"] = now - 7200;
    const auto expired = inspect_oauth_token(jwt(claims), "app@contoso.example", now);
    CHECK_THAT(expired.problem, Catch::StartsWith("its token expired at ") && Catch::Contains("120 minutes before"));
    claims["exp"] = now + 7200;
    claims["nbf"] = now + 3600;
    CHECK_THAT(inspect_oauth_token(jwt(claims), "app@contoso.example", now).problem, Catch::Contains("not valid before"));
  }
  SECTION("a user's token without SMTP.Send") {
    auto claims = user_claims();
    claims["scp"] = "Mail.Read User.Read";
    const auto facts = inspect_oauth_token(jwt(claims), "app@contoso.example", now);
    CHECK_THAT(facts.problem, Catch::Contains("lacks the SMTP.Send permission (scp: Mail.Read User.Read)"));
  }
  SECTION("an application's token: the role, or RBAC for Applications, and the service principal") {
    nlohmann::json claims = {{"aud", "https://outlook.office365.com"}, {"roles", {"SMTP.SendAsApp"}},
                             {"appid", "aaaaaaaa-0000-0000-0000-000000000001"},
                             {"oid", "bbbbbbbb-0000-0000-0000-000000000002"}, {"exp", now + 3600}};
    auto facts = inspect_oauth_token(jwt(claims), "scanner@contoso.example", now);
    CHECK(facts.problem.empty());
    CHECK(facts.app_only);
    REQUIRE(facts.notes.size() == 1);
    CHECK_THAT(facts.notes[0], Catch::Contains("New-ServicePrincipal -AppId aaaaaaaa-0000-0000-0000-000000000001 "
                                               "-ObjectId bbbbbbbb-0000-0000-0000-000000000002"));
    claims.erase("roles");
    facts = inspect_oauth_token(jwt(claims), "scanner@contoso.example", now);
    CHECK(facts.problem.empty());  // RBAC for Applications gives no role in the token
    CHECK_THAT(facts.notes.at(0), Catch::Contains("no SMTP.SendAsApp role"));
    CHECK_THAT(facts.notes.at(1), Catch::Contains("-User bbbbbbbb-0000-0000-0000-000000000002 -AccessRights FullAccess"));
  }
  SECTION("an application's token for an HVE account: Add-HVEAppAccess, not mailbox permissions") {
    const nlohmann::json claims = {{"aud", "https://outlook.office365.com"}, {"roles", {"SMTP.SendAsApp"}},
                                   {"appid", "aaaaaaaa-0000-0000-0000-000000000001"}, {"exp", now + 3600}};
    const auto facts = inspect_oauth_token(jwt(claims), "hve-scan@contoso.example", now, TokenAccount::hve_account);
    REQUIRE(facts.notes.size() == 1);
    CHECK_THAT(facts.notes[0], Catch::Contains("Add-HVEAppAccess -Identity hve-scan@contoso.example -AppIds aaaaaaaa-0000-0000-0000-000000000001"));
    CHECK_THAT(facts.notes[0], !Catch::Contains("Add-MailboxPermission"));
  }
  SECTION("user= names another mailbox than the token's user") {
    const auto facts = inspect_oauth_token(jwt(user_claims("alice@contoso.example")), "shared@contoso.example", now);
    CHECK(facts.problem.empty());
    REQUIRE(facts.notes.size() == 1);
    CHECK_THAT(facts.notes[0], Catch::Contains("alice@contoso.example has Full Access to shared@contoso.example"));
  }
}

TEST_CASE("listen: XOAUTH2 over TLS is never 'works': Microsoft checks the token", "[listen][verdict][oauth]") {
  SECTION("a plausible token: sent right, to be proven with sendcheck probe") {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    const std::string token = jwt(user_claims());
    CHECK(oauth_session(device, token).code == 235);
    CHECK(device.say("MAIL FROM:<app@contoso.example>").code == 250);
    CHECK(device.say("RCPT TO:<staff@contoso.example>").code == 250);
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::oauth_token_unchecked);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason, Catch::StartsWith("it sends XOAUTH2 correctly over TLSv1.3"));
    CHECK_THAT(report.verdict_reason,
               Catch::Contains("`sendcheck probe smtp.office365.com --port 587 --starttls require --auth xoauth2 --user "
                               "app@contoso.example --oauth-token-file TOKEN-FILE"));
    CHECK_THAT(report.verdict_reason,
               Catch::Contains("Set-CASMailbox -Identity app@contoso.example -SmtpClientAuthenticationDisabled $false"));
    CHECK(report.verdict_reason.find("works") == std::string::npos);
    CHECK(report.verdict_reason.find(token) == std::string::npos);
    CHECK(summarize({report}).exit_code == 3);
  }
  SECTION("a token that cannot be Microsoft's: 535 5.7.3, as Exchange Online answers, and why") {
    auto claims = user_claims();
    claims["exp"] = now_seconds() - 600;
    for (const std::string& token : {std::string("bad"), std::string("eyJhbGciOi.eyJhdWQi.sig"), jwt(claims)}) {
      auto server = listen_with(exo_submission_profile());
      ScriptedDevice device(server->port());
      CHECK(oauth_session(device, token).raw().starts_with("535 5.7.3 Authentication unsuccessful"));
      device.say("QUIT");
      const auto report = only_report(*server);
      CHECK(report.verdict == DeviceVerdict::oauth_token_invalid);
      CHECK(report.outcome == DeviceOutcome::breaks);
      CHECK_THAT(report.verdict_reason,
                 Catch::StartsWith("its XOAUTH2 token cannot be a Microsoft access token for Exchange Online: its token "));
      CHECK(report.verdict_reason.find(token) == std::string::npos);
    }
  }
}

TEST_CASE("listen: every problem a device shows reaches its report, the worst first", "[listen][verdict]") {
  SECTION("basic AUTH accepted, then a MAIL FROM it may not send as") {
    auto server = listen_with(exo_submission_profile(BasicAuthAnswer::accept));
    ScriptedDevice device(server->port());
    device.up_to_starttls("scanner.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO scanner.contoso.example");
    CHECK(device.say("AUTH LOGIN " + base64_encode("scanner@contoso.example")).code == 334);
    CHECK(device.say(base64_encode("Pw")).code == 235);
    CHECK(device.say("MAIL FROM:<noreply@contoso.example>").code == 550);
    device.say("QUIT");
    const auto report = only_report(*server);
    REQUIRE(report.findings.size() == 2);
    CHECK(report.findings[0].verdict == DeviceVerdict::basic_auth);
    CHECK(report.findings[1].verdict == DeviceVerdict::sender_not_permitted);
    CHECK(report.verdict == DeviceVerdict::basic_auth);
    CHECK_THAT(report.verdict_reason, Catch::Contains("Also sender-not-permitted (breaks): its MAIL FROM <noreply@contoso.example>"));
    const std::string text = render_text(report);
    CHECK_THAT(text, Catch::Contains("  verdict: basic-auth (breaks): "));
    CHECK_THAT(text, Catch::Contains("  also: sender-not-permitted (breaks): "));
    const std::vector<SessionReport> reports{report};
    CHECK_THAT(render_text(summarize(reports)), Catch::Contains("basic-auth, sender-not-permitted"));
  }
  SECTION("a plausible token with a sender it may not use: the 5.7.60 is the verdict, the token follows") {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    CHECK(oauth_session(device, jwt(user_claims())).code == 235);
    device.say("MAIL FROM:<noreply@contoso.example>");
    device.say("QUIT");
    const auto report = only_report(*server);
    REQUIRE(report.findings.size() == 2);
    CHECK(report.verdict == DeviceVerdict::sender_not_permitted);
    CHECK(report.findings[1].verdict == DeviceVerdict::oauth_token_unchecked);
  }
}

TEST_CASE("listen: an XOAUTH2 token sent before STARTTLS is to be revoked", "[listen][verdict][oauth]") {
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  device.say("EHLO app.contoso.example");
  CHECK(device.say("AUTH XOAUTH2 " + xoauth2("app@contoso.example", jwt(user_claims()))).raw().starts_with("504 5.7.4"));
  device.say("QUIT");
  const auto report = only_report(*server);
  CHECK(report.verdict == DeviceVerdict::auth_before_starttls);
  REQUIRE(report.findings.size() == 2);
  CHECK(report.findings[1].verdict == DeviceVerdict::oauth_in_clear_text);
  CHECK_THAT(report.findings[1].reason, Catch::Contains("revoke it"));
  SECTION("without an initial response the token never left the device") {
    auto quiet = listen_with(exo_submission_profile());
    ScriptedDevice other(quiet->port());
    other.reply();
    other.say("EHLO app.contoso.example");
    CHECK(other.say("AUTH XOAUTH2").code == 504);
    other.say("QUIT");
    CHECK(only_report(*quiet).findings.size() == 1);
  }
}

TEST_CASE("listen: no AUTH mechanism in common is said", "[listen][verdict]") {
  SECTION("it asked for PLAIN, which Exchange Online does not offer") {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    device.up_to_starttls("app.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO app.contoso.example");
    CHECK(device.say("AUTH PLAIN " + base64_encode(std::string("\0app@contoso.example\0pw", 23))).code == 504);
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::no_common_auth_mechanism);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("it asked for AUTH PLAIN, which is not offered here (LOGIN XOAUTH2"));
    // The password it sent is basic authentication all the same.
    CHECK(std::any_of(report.findings.begin(), report.findings.end(),
                      [](const auto& finding) { return finding.verdict == DeviceVerdict::basic_auth; }));
  }
  SECTION("it read the list over TLS and left") {
    auto server = listen_with(exo_submission_profile());
    ScriptedDevice device(server->port());
    device.up_to_starttls("app.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO app.contoso.example");
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::no_common_auth_mechanism);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason,
               Catch::Contains("it found no AUTH mechanism it supports among LOGIN XOAUTH2") &&
                   Catch::Contains("or it only tested the connection"));
  }
}

TEST_CASE("listen exo-mx: a device set to sign in, at the MX that offers no AUTH", "[listen][verdict]") {
  SECTION("it read EHLO's list without STARTTLS and left, as swaks and msmtp do") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.reply();
    device.say("EHLO printer.contoso.example");
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::no_common_auth_mechanism);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason, Catch::Contains("the tenant MX offers no AUTH") && Catch::Contains("turn authentication off"));
  }
  SECTION("over TLS, the same") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.up_to_starttls("printer.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO printer.contoso.example");
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::no_common_auth_mechanism);
    CHECK_THAT(report.verdict_reason, Catch::Contains("left after EHLO over TLS"));
  }
  SECTION("AUTH before STARTTLS is not told to use STARTTLS at the MX") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.reply();
    device.say("EHLO printer.contoso.example");
    CHECK(device.say("AUTH LOGIN").code == 504);
    device.say("QUIT");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::auth_before_starttls);
    CHECK_THAT(report.verdict_reason, Catch::Contains("the tenant MX takes no AUTH, before STARTTLS or after it"));
  }
  SECTION("a port check (no EHLO) stays incomplete") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    ScriptedDevice device(server->port());
    device.reply();
    device.say("QUIT");
    CHECK(only_report(*server).verdict == DeviceVerdict::incomplete);
  }
}

TEST_CASE("listen exo-mx: a sender outside the accepted domains is not direct send", "[listen][verdict]") {
  auto send_from = [](SmtpServer& server, const std::string& sender, const std::string& header_from = "",
                      int end_of_data = 250) {
    ScriptedDevice device(server.port());
    device.reply();
    device.say("EHLO scanner.contoso.example");
    device.say("MAIL FROM:<" + sender + ">");
    CHECK(device.say("RCPT TO:<frontdesk@contoso.example>").code == 250);
    CHECK(device.say("DATA").code == 354);
    const Reply end = device.say((header_from.empty() ? std::string() : "From: " + header_from + "\r\n") + "Subject: scan\r\n\r\nbody\r\n.");
    CHECK(end.code == end_of_data);
    device.say("QUIT");
    return end;
  };
  SECTION("a free-mail sender") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@gmail.com");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::sender_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("not direct send") && Catch::Contains("device@contoso.example"));
  }
  SECTION("the null sender <>, the sender of bounces, is recorded and judged") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::null_sender);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("MAIL FROM <>") && Catch::Contains("device@contoso.example"));
    CHECK(to_json(report)["mail_from"] == "");
    CHECK_THAT(render_text(report), Catch::Contains("MAIL FROM: <>") || Catch::Contains("MAIL FROM  <>") || Catch::Contains("<>"));
  }
  SECTION("without --accept-domain every recipient is taken here, so nothing is judged to work") {
    auto server = listen_with(exo_mx_profile({}));
    send_from(*server, "scanner@gmail.com");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::sends_without_auth);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_THAT(report.verdict_reason, Catch::Contains("--accept-domain"));
  }
  SECTION("accept-all: anonymous mail is not 'works' at Microsoft 365") {
    auto server = listen_with(accept_all_profile());
    send_from(*server, "scanner@contoso.example");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::sends_without_auth);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK_FALSE(device_check(report).remedy.empty());
  }
  SECTION("a subdomain of an accepted domain is another domain, with its own SPF record") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@branch.contoso.example", "Scanner <scanner@branch.contoso.example>");
    const auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::sender_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("below contoso.example") && Catch::Contains("--accept-domain branch.contoso.example") &&
                                          Catch::Contains("not inherited"));
  }
  SECTION("the From header decides what DMARC judges: direct send works only when it is in an accepted domain") {
    auto server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@contoso.example", "Scanner <scanner@contoso.example>");
    auto report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::direct_send_works);
    CHECK_THAT(report.verdict_reason, Catch::Contains("as long as the device's public IP is in the SPF record of contoso.example"));
    server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@contoso.example", "\"Scanner\" <noreply@gmail.com>");
    report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::header_from_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("in gmail.com, not an accepted domain"));
    server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@contoso.example");
    report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::header_from_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("no From header"));
    // A comment is no address, and a group is no mailbox-list (RFC 5322 3.6.2).
    for (const std::string& header : {std::string("x@fabrikam.example (scanner@contoso.example)"),
                                      std::string("x@fabrikam.example \"<scanner@contoso.example>\""),
                                      std::string("Scanners: scanner@contoso.example;"),
                                      std::string("<scanner@contoso.example>x@fabrikam.example")}) {
      INFO(header);
      server = listen_with(exo_mx_profile({"contoso.example"}));
      send_from(*server, "scanner@contoso.example", header);
      report = only_report(*server);
      CHECK(report.verdict == DeviceVerdict::header_from_outside_tenant);
      CHECK(report.outcome == DeviceOutcome::breaks);
    }
    // A list of authors without a Sender header is refused at the end of the message, as Exchange Online does.
    server = listen_with(exo_mx_profile({"contoso.example"}));
    const Reply refused = send_from(*server, "scanner@contoso.example", "a@contoso.example, b@contoso.example", 550);
    CHECK(refused.raw() == "550 5.1.20 Multiple From addresses are not allowed without Sender address");
    report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::header_from_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::breaks);
    CHECK_THAT(report.verdict_reason, Catch::Contains("550 5.1.20"));
    // With a Sender header it is taken; what DMARC makes of two authors is not known.
    server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@contoso.example", "a@contoso.example, b@contoso.example\r\nSender: scanner@contoso.example");
    report = only_report(*server);
    CHECK(report.verdict == DeviceVerdict::header_from_outside_tenant);
    CHECK(report.outcome == DeviceOutcome::unknown);
    CHECK(report.verdict_reason.find("5.1.20") == std::string::npos);
    server = listen_with(exo_mx_profile({"contoso.example"}));
    send_from(*server, "scanner@contoso.example", "scanner@contoso.example (x@fabrikam.example)");
    CHECK(only_report(*server).verdict == DeviceVerdict::direct_send_works);
  }
}

TEST_CASE("listen: a silent session that timed out is counted as timed-out", "[listen][verdict]") {
  SessionReport silent;
  silent.end_reason = "timeout";
  decide_verdict(silent, exo_submission_profile());
  CHECK(silent.verdict == DeviceVerdict::timed_out);
  SessionReport port_check;
  port_check.end_reason = "closed";
  decide_verdict(port_check, exo_submission_profile());
  const std::vector<SessionReport> reports{silent, port_check};
  const auto summary = summarize(reports);
  CHECK(summary.sessions == 2);
  CHECK(summary.without_commands == 1);
  CHECK(to_json(summary)["verdicts"]["timed-out"] == 1);
  CHECK(summary.exit_code == 3);
}

TEST_CASE("listen: a message without From or To says so", "[listen][verdict]") {
  SessionReport report;
  report.message_bytes = 12;
  report.header_subject = "scan";
  CHECK_THAT(render_text(report), Catch::Contains("message: 12 bytes, Subject: scan\n"));
  report.header_subject.clear();
  CHECK_THAT(render_text(report), Catch::Contains("message: 12 bytes, no From, To or Subject header\n"));
}

TEST_CASE("listen: the transcript hook (-v) shows each line, never a secret", "[listen][verdict]") {
  std::mutex mutex;
  std::vector<std::string> lines;
  ServerConfig config;
  config.profile = accept_all_profile();
  config.credentials = server_credentials(listener_name);
  config.command_timeout = 5000ms;
  config.on_transcript = [&](const std::string& client, const TranscriptEntry& entry) {
    std::lock_guard lock(mutex);
    lines.push_back(client + " " + entry.dir + " " + entry.line);
  };
  auto server = start_server(std::move(config));
  const std::string token = jwt(user_claims());
  const std::string plain = base64_encode(std::string("\0dev@contoso.example\0S3cret-Pw", 29));
  {
    ScriptedDevice device(server->port());
    device.up_to_starttls("app.contoso.example");
    REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
    device.say("EHLO app.contoso.example");
    CHECK(device.say("AUTH PLAIN").code == 334);
    CHECK(device.say(plain).code == 235);
    device.say("AUTH XOAUTH2 " + xoauth2("app@contoso.example", token));
    device.say("QUIT");
  }
  server->wait(1);
  server.reset();
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  INFO(all);
  CHECK_THAT(all, Catch::Contains(" C EHLO app.contoso.example\n"));
  CHECK_THAT(all, Catch::Contains(" S 220 "));
  CHECK_THAT(all, Catch::Contains(" TLS TLSv1.3 "));
  CHECK_THAT(all, Catch::Contains(" C AUTH PLAIN\n"));
  CHECK_THAT(all, Catch::Contains(" C ***\n"));
  CHECK_THAT(all, Catch::Contains(" C AUTH XOAUTH2 ***\n"));
  CHECK_THAT(all, Catch::Contains(" NET session ended: QUIT"));
  for (const std::string& secret : {token, plain, std::string("S3cret-Pw")}) CHECK(all.find(secret) == std::string::npos);
}

TEST_CASE("listen: AUTH sent in the same write as STARTTLS crossed in clear, and is judged so", "[listen][verdict]") {
  // "printer@contoso.example" NUL "printer@contoso.example" NUL "hunter2", base64.
  const std::string plain = "cHJpbnRlckBjb250b3NvLmV4YW1wbGUAcHJpbnRlckBjb250b3NvLmV4YW1wbGUAaHVudGVyMg==";
  auto server = listen_with(exo_submission_profile());
  ScriptedDevice device(server->port());
  device.reply();
  device.say("EHLO printer.contoso.example");
  device.write("STARTTLS\r\nAUTH PLAIN " + plain + "\r\n");
  CHECK(device.reply().code == 220);
  REQUIRE(device.start_tls(std::nullopt) == IoStatus::ok);
  device.say("EHLO printer.contoso.example");
  device.say("QUIT");
  const auto report = only_report(*server);
  CHECK(report.pipelined_before_tls == std::vector<std::string>{"AUTH PLAIN"});
  CHECK(report.verdict == DeviceVerdict::basic_auth);
  CHECK(report.outcome == DeviceOutcome::breaks);
  CHECK_THAT(report.verdict_reason, Catch::Contains("same write as STARTTLS") && Catch::Contains("change that password"));
  const std::string json = to_json(report).dump(), text = render_text(report);
  for (const std::string& shown : {json, text}) {
    CHECK(shown.find(plain) == std::string::npos);
    CHECK(shown.find("hunter2") == std::string::npos);
  }
  CHECK_THAT(text, Catch::Contains("AUTH PLAIN (in clear, before the handshake; dropped unread)"));
}

TEST_CASE("listen: the From header's addresses, as RFC 5322 reads them", "[listen][verdict]") {
  const auto one = [](std::string_view header) {
    const FromHeader from = parse_from_header(header);
    return !from.malformed && from.addresses.size() == 1 ? from.domains.front() : std::string("-");
  };
  CHECK(one("scan@Contoso.example") == "contoso.example");
  CHECK(one("\"Scanner, 2nd floor\" <scan@contoso.example>") == "contoso.example");
  CHECK(one("scan@contoso.example (x@fabrikam.example)") == "contoso.example");
  CHECK(one("(x@fabrikam.example) <scan@contoso.example>") == "contoso.example");
  CHECK(one("=?utf-8?q?x=40fabrikam.example?= <scan@contoso.example>") == "contoso.example");
  CHECK(one("\"x@fabrikam\"@contoso.example") == "contoso.example");
  CHECK(one("x@fabrikam.example (scan@contoso.example)") == "fabrikam.example");
  CHECK(one("scan@contoso.example.") == "-");
  CHECK(one("<scan@contoso.example>x@fabrikam.example") == "-");
  CHECK(one("Scanner") == "-");
  CHECK(parse_from_header("a@fabrikam.example, b@contoso.example").addresses.size() == 2);
  // From is a mailbox-list: no groups (RFC 5322 3.6.2).
  CHECK(parse_from_header("Team: a@contoso.example, b@contoso.example;").malformed);
  CHECK(parse_from_header("(unclosed <scan@contoso.example>").malformed);
}
