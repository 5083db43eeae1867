// The SMTP client against our scripted server on loopback: the Exchange
// Online profiles (replies copied from m365-facts.md), every failure class,
// the faults a hostile or broken peer shows, then sendcheck-probe itself as
// a user runs it (JSON contract, exit codes, secrets never shown).
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "diag/smtp.h"
#include "fixture_zones.h"
#include "json_schema.h"
#include "smtp_test_support.h"

using namespace diag;
using namespace diag::smtp;
using namespace smtp_testing;

namespace {

const std::string probe_tool = bin_dir + "/sendcheck-probe";
const std::string host_name = "mail.sendcheck.test";

Extensions fixture_extensions(const std::string& name) {
  std::ifstream in(fixtures::source_path("fixtures/smtp/" + name), std::ios::binary);
  auto reply = parse_reply(std::string(std::istreambuf_iterator<char>(in), {}));
  if (!reply) FAIL(reply.error().message);
  return parse_ehlo(*reply);
}

struct Running {
  std::unique_ptr<SmtpServer> server;
  TempDir dir;
  std::string ca_file;
};

std::unique_ptr<Running> serve(ServerProfile profile, std::shared_ptr<tls::Credentials> credentials = server_credentials(host_name),
                               bool implicit_tls = false) {
  auto running = std::make_unique<Running>();
  ServerConfig config;
  config.profile = std::move(profile);
  config.credentials = std::move(credentials);
  config.implicit_tls = implicit_tls;
  config.command_timeout = 3000ms;
  running->server = start_server(std::move(config));
  running->ca_file = running->dir.file("ca.pem", pki().ca_pem);
  return running;
}

SessionConfig config_for(const Running& running) {
  SessionConfig config = client_config(running.server->port(), host_name);
  config.tls.ca_file = running.ca_file;
  return config;
}

const Check* find_check(const std::vector<Check>& checks, const std::string& id) {
  for (const auto& check : checks)
    if (check.id == id) return &check;
  return nullptr;
}

Status status_of(const std::vector<Check>& checks, const std::string& id) {
  const Check* check = find_check(checks, id);
  if (!check) FAIL("no check " << id);
  return check->status;
}

std::string transcript_text(const SessionResult& result) {
  std::string out;
  for (const auto& entry : result.transcript) out += entry.dir + " " + entry.line + "\n";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// The Exchange Online profiles

TEST_CASE("exo-submission answers like smtp.office365.com:587", "[probe]") {
  auto running = serve(exo_submission_profile());
  auto config = config_for(*running);
  const auto result = run_session(config);
  INFO(transcript_text(result));
  REQUIRE(result.banner);
  CHECK(std::regex_match(result.banner->raw(),
                         std::regex(R"(220 SY5P282CA0097\.outlook\.office365\.com Microsoft ESMTP MAIL Service ready at \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000 \[[0-9A-F]{16}\])")));
  CHECK(result.before_tls.keywords == fixture_extensions("exo-submission-ehlo-before-tls.txt").keywords);
  CHECK(result.after_tls.keywords == fixture_extensions("exo-submission-ehlo-after-tls.txt").keywords);
  CHECK(result.before_tls.auth.empty());
  CHECK(result.after_tls.auth == std::vector<std::string>{"LOGIN", "XOAUTH2"});
  CHECK(result.starttls_offered);
  CHECK(result.starttls_completed);
  REQUIRE(result.starttls_reply);
  CHECK(result.starttls_reply->raw() == "220 2.0.0 SMTP server ready");
  CHECK(result.tls.chain_trusted);
  CHECK_FALSE(result.failure);
  REQUIRE(result.quit);
  CHECK(result.quit->reply.raw() == "221 2.0.0 Service closing transmission channel");
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  for (const auto& check : checks) CHECK((check.status == Status::pass || check.status == Status::info));
}

TEST_CASE("basic AUTH on exo-submission: 535 5.7.139 and, retired, 550 5.7.30", "[probe]") {
  auto disabled = serve(exo_submission_profile(BasicAuthAnswer::disabled_139));
  auto config = config_for(*disabled);
  config.auth = AuthMechanism::login;
  config.user = "printer@contoso.example";
  config.secret = "S3cret-Passw0rd";
  auto result = run_session(config);
  INFO(transcript_text(result));
  REQUIRE(result.auth);
  CHECK(result.auth->reply.code == 535);
  CHECK(result.auth->reply.enhanced == "5.7.139");
  CHECK(interpret(result.auth->reply).id == "m365.smtp-auth-disabled-tenant");
  CHECK(result.failure.failure_class == FailureClass::policy);
  CHECK(result.failure.kind == "auth");
  auto checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "smtp.auth") == Status::fail);
  // The session knows the mailbox: the command names it, runnable as printed.
  for (const auto& check : checks)
    if (check.id == "smtp.auth")
      CHECK(check.remedy.find("`Set-CASMailbox -Identity printer@contoso.example -SmtpClientAuthenticationDisabled $false`") !=
            std::string::npos);
  CHECK_FALSE(find_check(checks, "smtp.auth")->remedy.empty());
  // The password, and its base64, never appear.
  const std::string transcript = transcript_text(result);
  CHECK(transcript.find("S3cret") == std::string::npos);
  CHECK(transcript.find(base64_encode("S3cret-Passw0rd")) == std::string::npos);
  CHECK(transcript.find(base64_encode("printer@contoso.example")) == std::string::npos);
  CHECK(transcript.find("C ***") != std::string::npos);
  disabled->server->wait(1);
  CHECK(disabled->server->reports().size() == 1);

  auto retired = serve(exo_submission_profile(BasicAuthAnswer::retired_30));
  config = config_for(*retired);
  config.auth = AuthMechanism::plain;  // not offered: the server says so
  config.user = "printer@contoso.example";
  config.secret = "S3cret-Passw0rd";
  result = run_session(config);
  REQUIRE(result.auth);
  CHECK(result.auth->reply.raw() == "504 5.7.4 Unrecognized authentication type [SY5P282CA0097.outlook.office365.com]");
  CHECK(interpret(result.auth->reply).id == "m365.unrecognized-auth-type");
  checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "smtp.auth.mechanisms") == Status::warn);

  config.auth = AuthMechanism::login;
  result = run_session(config);
  REQUIRE(result.auth);
  CHECK(result.auth->reply.raw() == "550 5.7.30 Basic authentication is not supported for Client Submission.");
  CHECK(interpret(result.auth->reply).id == "m365.basic-auth-retired");
}

TEST_CASE("XOAUTH2 on exo-submission, then MAIL and RCPT without sending", "[probe]") {
  auto profile = exo_submission_profile();
  profile.oauth_token = "good-token";
  auto running = serve(profile);
  auto config = config_for(*running);
  config.auth = AuthMechanism::xoauth2;
  config.user = "app@contoso.example";
  config.secret = "good-token";
  config.mail_from = "app@contoso.example";
  config.rcpt_to = {"someone@fabrikam.example", "other@contoso.example"};
  auto result = run_session(config);
  INFO(transcript_text(result));
  REQUIRE(result.auth);
  CHECK(result.auth->reply.raw() == "235 2.7.0 Authentication successful");
  REQUIRE(result.envelope.size() == 4);
  CHECK(result.envelope[0].command == "MAIL FROM:<app@contoso.example>");
  CHECK(result.envelope[0].reply.raw() == "250 2.1.0 Sender OK");
  CHECK(result.envelope[1].reply.raw() == "250 2.1.5 Recipient OK");
  CHECK(result.envelope[3].command == "RSET");
  CHECK_FALSE(result.failure);
  running->server->wait(1);
  const auto reports = running->server->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].auth_mechanism == "XOAUTH2");
  CHECK(reports[0].auth_user == "app@contoso.example");
  CHECK_FALSE(reports[0].message_bytes);  // nothing was sent
  CHECK(reports[0].verdict == DeviceVerdict::ready_for_oauth);
  CHECK(transcript_text(result).find("good-token") == std::string::npos);

  config.secret = "expired-token";
  result = run_session(config);
  REQUIRE(result.auth);
  CHECK(result.auth->reply.raw() == "535 5.7.3 Authentication unsuccessful [SY5P282CA0097.outlook.office365.com]");
  CHECK(interpret(result.auth->reply).id == "m365.auth-unsuccessful");
  CHECK(result.envelope.empty());
}

TEST_CASE("MAIL without AUTH on submission: 530 5.7.57", "[probe]") {
  auto running = serve(exo_submission_profile());
  auto config = config_for(*running);
  config.mail_from = "printer@contoso.example";
  config.rcpt_to = {"someone@contoso.example"};
  const auto result = run_session(config);
  REQUIRE_FALSE(result.envelope.empty());
  CHECK(result.envelope[0].reply.raw() == "530 5.7.57 Client not authenticated to send mail. [SY5P282CA0097.outlook.office365.com]");
  CHECK(interpret(result.envelope[0].reply).id == "m365.client-not-authenticated");
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "smtp.mail") == Status::fail);
  // The recipient asked for is reported, as skipped, not left out.
  REQUIRE(find_check(checks, "smtp.rcpt"));
  CHECK(find_check(checks, "smtp.rcpt")->status == Status::info);
  CHECK_THAT(find_check(checks, "smtp.rcpt")->message, Catch::Contains("skipped: MAIL FROM was not accepted"));
}

TEST_CASE("exo-mx: direct send, relay refused, RejectDirectSend", "[probe]") {
  auto running = serve(exo_mx_profile({"contoso.example"}));
  auto config = config_for(*running);
  config.mail_from = "scanner@contoso.example";
  config.rcpt_to = {"staff@contoso.example", "someone@fabrikam.example"};
  auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.before_tls.keywords == fixture_extensions("exo-mx-ehlo.txt").keywords);
  CHECK(result.after_tls.auth.empty());
  REQUIRE(result.envelope.size() == 4);
  CHECK(result.envelope[1].reply.raw() == "250 2.1.5 Recipient OK");
  CHECK(result.envelope[2].reply.raw() == "550 5.7.64 TenantAttribution; Relay Access Denied");
  CHECK(interpret(result.envelope[2].reply).id == "m365.tenant-attribution-relay-denied");
  auto checks = session_checks(config, result, host_name, "127.0.0.1");
  // One id for both recipients, told apart by the field "recipient".
  std::vector<std::pair<std::string, Status>> rcpts;
  for (const auto& check : checks)
    if (check.id == "smtp.rcpt") rcpts.emplace_back(check.fields.value("recipient", ""), check.status);
  CHECK(rcpts == std::vector<std::pair<std::string, Status>>{{"staff@contoso.example", Status::pass},
                                                              {"someone@fabrikam.example", Status::fail}});

  auto strict = serve(exo_mx_profile({"contoso.example"}, true));
  config = config_for(*strict);
  config.mail_from = "scanner@contoso.example";
  config.rcpt_to = {"staff@contoso.example"};
  result = run_session(config);
  REQUIRE(result.envelope.size() >= 2);
  CHECK(result.envelope[1].reply.raw() ==
        "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources");
  CHECK(interpret(result.envelope[1].reply).id == "m365.reject-direct-send");
}

TEST_CASE("probe --send delivers a message the server reports", "[probe]") {
  auto running = serve(accept_all_profile());
  auto config = config_for(*running);
  config.mail_from = "scanner@contoso.example";
  config.rcpt_to = {"staff@contoso.example"};
  config.send = true;
  config.message = build_test_message(config.mail_from, config.rcpt_to, "Scan to mail", "line one\n.line with a dot\n");
  const auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK_FALSE(result.failure);
  REQUIRE(result.envelope.size() == 4);
  CHECK(result.envelope[2].reply.code == 354);
  CHECK(result.envelope[3].reply.code == 250);
  running->server->wait(1);
  const auto reports = running->server->reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].message_bytes);
  CHECK(reports[0].header_subject == "Scan to mail");
  CHECK(reports[0].header_from == "<scanner@contoso.example>");
  CHECK(reports[0].verdict == DeviceVerdict::sends_without_auth);
  CHECK(reports[0].outcome == DeviceOutcome::unknown);  // accept-all takes anything; Microsoft 365 does not
}

// ---------------------------------------------------------------------------
// Failure classes

TEST_CASE("connect: refused", "[probe]") {
  auto config = client_config(1);  // nothing listens on port 1
  const auto result = run_session(config);
  CHECK_FALSE(result.connected);
  CHECK(result.failure.failure_class == FailureClass::connect);
  CHECK(result.failure.kind == "refused");
  const auto checks = session_checks(config, result, "127.0.0.1", "127.0.0.1");
  CHECK(status_of(checks, "smtp.connect") == Status::fail);
}

TEST_CASE("connect: a full backlog that never answers is a timeout", "[probe]") {
  // A listener that never accepts, its backlog filled: the SYN goes unanswered,
  // which is what a firewall dropping port 25 looks like.
  auto listener = listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0, 0);
  REQUIRE(listener);
  const auto port = local_port(listener->fd);
  std::vector<Connection> fillers(8);
  for (auto& filler : fillers) filler.connect(IpAddress::v4({127, 0, 0, 1}), port, Clock::now() + 100ms);
  auto config = client_config(port);
  config.timeouts.connect = 300ms;
  const auto result = run_session(config);
  if (result.connected) {
    WARN("the kernel accepted the connection anyway; cannot simulate a filtered port here");
    return;
  }
  CHECK(result.failure.failure_class == FailureClass::connect);
  CHECK(result.failure.kind == "timeout");
  // Closed from here is a finding (exit 1), not an incomplete check.
  CHECK(status_of(session_checks(config, result, "x", "127.0.0.1"), "smtp.connect") == Status::fail);
}

TEST_CASE("banner: 421 at connect", "[probe]") {
  auto profile = accept_all_profile();
  profile.banner = "421 4.3.2 Service not available, closing transmission channel";
  auto running = serve(profile);
  auto config = config_for(*running);
  const auto result = run_session(config);
  REQUIRE(result.banner);
  CHECK(result.banner->code == 421);
  CHECK(result.failure.failure_class == FailureClass::policy);
  CHECK(result.failure.kind == "banner");
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.banner") == Status::fail);
}

TEST_CASE("banner: slow is a warning, none in time is a timeout", "[probe]") {
  auto profile = accept_all_profile();
  profile.banner_delay = 400ms;
  auto running = serve(profile);
  auto config = config_for(*running);
  config.slow_banner_after = 200ms;
  auto result = run_session(config);
  CHECK(result.slow_banner);
  CHECK(result.banner_ms >= 350);
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.banner") == Status::warn);

  config.timeouts.banner = 150ms;
  result = run_session(config);
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "banner-timeout");  // its late banner answered our ClientHello: not TLS
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.banner") == Status::fail);
}

TEST_CASE("an HTTP server on the port is named", "[probe]") {
  HttpServer http(200, "hello");
  auto config = client_config(http.port());
  config.timeouts.banner = 200ms;
  const auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "not-smtp");
  CHECK(result.peer_hint == "HTTP");
  const auto checks = session_checks(config, result, "127.0.0.1", "127.0.0.1");
  CHECK(status_of(checks, "smtp.banner") == Status::fail);
  CHECK_THAT(find_check(checks, "smtp.banner")->message, Catch::Contains("HTTP"));
}

// An implicit-TLS port that keeps silent and then answers our EHLO with a
// TLS alert (some TLS stacks do; OpenSSL's servers just close): the alert
// names TLS without the second connection's ClientHello.
TEST_CASE("a silent port answering EHLO with a TLS alert is implicit TLS, not a tarpit", "[probe][tls]") {
  auto listener = listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
  REQUIRE(listener);
  const std::uint16_t port = local_port(listener->fd);
  std::thread server([&listener] {
    pollfd entry{listener->fd, POLLIN, 0};
    if (::poll(&entry, 1, 10000) <= 0) return;
    Connection connection(RawSocket(::accept(listener->fd, nullptr, nullptr)), 8192);
    const auto deadline = Clock::now() + 10s;
    if (connection.read_line(deadline).status != IoStatus::ok) return;  // the probe's EHLO
    // A TLS 1.0 alert record: fatal (2), protocol_version (70).
    connection.write_all(std::string("\x15\x03\x01\x00\x02\x02\x46", 7), deadline);
  });
  auto config = client_config(port, "127.0.0.1");
  config.timeouts.banner = 200ms;
  const auto result = run_session(config);
  server.join();
  INFO(transcript_text(result));
  CHECK(result.failure.kind == "not-smtp");
  CHECK(result.peer_hint == "TLS");
  CHECK(transcript_text(result).find("ClientHello on a new connection") == std::string::npos);
  const auto checks = session_checks(config, result, "127.0.0.1", "127.0.0.1");
  REQUIRE(find_check(checks, "smtp.banner"));
  CHECK(find_check(checks, "smtp.banner")->status == Status::fail);
  CHECK_THAT(find_check(checks, "smtp.banner")->message, Catch::Contains("speaks TLS, not SMTP"));
  CHECK_THAT(find_check(checks, "smtp.banner")->remedy, Catch::Contains("--implicit-tls"));
  CHECK(find_check(checks, "smtp.banner")->message.find("tarpit") == std::string::npos);
}

TEST_CASE("a service that greets with something else is not SMTP", "[probe]") {
  auto profile = accept_all_profile();
  profile.raw_greeting = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
  auto running = serve(profile);
  const auto result = run_session(config_for(*running));
  CHECK(result.failure.kind == "not-smtp");
  CHECK(result.peer_hint == "SSH");
}

TEST_CASE("a 100 KB line is cut at the line bound", "[probe]") {
  auto profile = accept_all_profile();
  profile.raw_greeting = "220-" + std::string(100 * 1024, 'x') + "\r\n220 ok\r\n";
  auto running = serve(profile);
  auto config = config_for(*running);
  const auto started = Clock::now();
  const auto result = run_session(config);
  CHECK(Clock::now() - started < 2s);
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "line-too-long");
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "smtp.banner") == Status::fail);
  for (const auto& entry : result.transcript) CHECK(entry.line.size() <= 1003);
}

TEST_CASE("a reply with too many lines is a protocol error", "[probe]") {
  auto profile = accept_all_profile();
  std::string many;
  for (int i = 0; i < 150; ++i) many += "250-KEYWORD" + std::to_string(i) + "\r\n";
  profile.override_reply = [many](std::string_view command) -> std::optional<std::string> {
    if (command.starts_with("EHLO")) return many + "250 END";
    return std::nullopt;
  };
  auto running = serve(profile);
  const auto result = run_session(config_for(*running));
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "bad-reply");
  CHECK_THAT(result.failure.message, Catch::Contains("longer than 100 lines"));
}

TEST_CASE("the server closing mid-session", "[probe]") {
  auto profile = exo_submission_profile();
  profile.close_after_commands = 2;  // EHLO, STARTTLS; then the post-TLS EHLO finds it gone
  auto running = serve(profile);
  auto config = config_for(*running);
  auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "closed");
  CHECK(result.failure.phase == "ehlo-after-tls");
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "smtp.session") == Status::fail);
  CHECK(status_of(checks, "tls.handshake") == Status::pass);
}

TEST_CASE("a server that stops answering is a timeout, not a refusal", "[probe]") {
  auto profile = accept_all_profile();
  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command.starts_with("EHLO")) std::this_thread::sleep_for(600ms);
    return std::nullopt;
  };
  auto running = serve(profile);
  auto config = config_for(*running);
  config.timeouts.command = 200ms;
  const auto result = run_session(config);
  CHECK(result.failure.kind == "timeout");
  CHECK(result.failure.phase == "ehlo");
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.session") == Status::error);
}

TEST_CASE("STARTTLS: required but not offered, refused, and never", "[probe]") {
  auto profile = accept_all_profile();
  auto plain = serve(profile, nullptr);  // no certificate: no STARTTLS
  auto config = config_for(*plain);
  config.starttls = StarttlsPolicy::require;
  auto result = run_session(config);
  CHECK_FALSE(result.starttls_offered);
  CHECK(result.failure.failure_class == FailureClass::tls);
  CHECK(result.failure.kind == "starttls-missing");
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.starttls") == Status::fail);

  config.starttls = StarttlsPolicy::try_;
  result = run_session(config);
  CHECK_FALSE(result.failure);
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "smtp.starttls") == Status::warn);

  profile.override_reply = [](std::string_view command) -> std::optional<std::string> {
    if (command == "STARTTLS") return "454 4.7.0 TLS not available due to temporary reason";
    return std::nullopt;
  };
  auto refusing = serve(profile);
  config = config_for(*refusing);
  config.starttls = StarttlsPolicy::require;
  result = run_session(config);
  CHECK(result.failure.failure_class == FailureClass::tls);
  CHECK(result.failure.kind == "starttls-refused");

  auto normal = serve(accept_all_profile());
  config = config_for(*normal);
  config.starttls = StarttlsPolicy::never;
  config.tls_mode = TlsMode::plain;
  config.auth = AuthMechanism::login;
  config.user = "u";
  config.secret = "p";
  result = run_session(config);
  CHECK_FALSE(result.tls_attempted);
  // Credentials never go out in clear text.
  CHECK(result.failure.kind == "auth-without-tls");
  CHECK_FALSE(result.auth);
  normal->server->wait(1);
  CHECK(normal->server->reports().at(0).auth_mechanism.empty());
}

TEST_CASE("TLS failure after STARTTLS: a TLS 1.0-only server", "[probe][tls]") {
  auto profile = accept_all_profile();
  profile.tls_versions = {tls::Version::tls1_0, tls::Version::tls1_0};
  auto running = serve(profile);
  auto config = config_for(*running);
  auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.starttls_offered);
  CHECK_FALSE(result.starttls_completed);
  CHECK(result.failure.failure_class == FailureClass::tls);
  CHECK(result.failure.kind == "handshake");
  CHECK_FALSE(result.tls.error.empty());
  CHECK(result.tls.server_version == "TLSv1");
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  CHECK(status_of(checks, "tls.handshake") == Status::fail);
  CHECK_THAT(find_check(checks, "tls.handshake")->message, Catch::StartsWith("the server offered only TLSv1, which this client refused"));
  CHECK(find_check(checks, "smtp.session") == nullptr);

  // A device that can only do TLS 1.0 gets through to it.
  config.tls.versions = {tls::Version::tls1_0, tls::Version::tls1_0};
  result = run_session(config);
  CHECK(result.starttls_completed);
  CHECK(result.tls.version == "TLSv1");
  CHECK(status_of(session_checks(config, result, host_name, "127.0.0.1"), "tls.version") == Status::warn);
}

TEST_CASE("a TLS 1.0 device against exo-submission: 421 4.7.66", "[probe][tls]") {
  auto running = serve(exo_submission_profile());
  auto config = config_for(*running);
  config.tls.versions = {tls::Version::tls1_0, tls::Version::tls1_0};
  const auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.starttls_completed);
  CHECK(result.tls.version == "TLSv1");
  CHECK(result.failure.failure_class == FailureClass::policy);
  REQUIRE(result.failure.reply);
  CHECK(result.failure.reply->code == 421);
  CHECK(result.failure.reply->enhanced == "4.7.66");
  CHECK(interpret(*result.failure.reply).id == "m365.legacy-tls-rejected");
  // The checks keep the session's order: STARTTLS and TLS, then the 421 to the EHLO inside TLS.
  const auto checks = session_checks(config, result, host_name, "127.0.0.1");
  auto index_of = [&](const std::string& id, int code = 0) {
    for (std::size_t i = 0; i < checks.size(); ++i)
      if (checks[i].id == id && (!code || checks[i].message.find(std::to_string(code)) != std::string::npos)) return i;
    return checks.size();
  };
  REQUIRE(index_of("smtp.ehlo", 421) < checks.size());
  CHECK(index_of("tls.handshake") < index_of("smtp.ehlo", 421));
  CHECK(index_of("tls.version") < index_of("smtp.ehlo", 421));
  running->server->wait(1);
  const auto reports = running->server->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].verdict == DeviceVerdict::legacy_tls);
}

TEST_CASE("certificate cases are separate checks", "[probe][tls]") {
  struct Case {
    const char* name;
    std::shared_ptr<tls::Credentials> credentials;
    Status trusted, name_matches, expiry;
  };
  const std::vector<Case> cases = {
      {"good", server_credentials(host_name), Status::pass, Status::pass, Status::pass},
      {"expired", server_credentials(host_name, Signer::test_ca, -60, -5), Status::pass, Status::pass, Status::fail},
      {"expiring", server_credentials(host_name, Signer::test_ca, -60, 5), Status::pass, Status::pass, Status::warn},
      {"wrong name", server_credentials("other.example"), Status::pass, Status::fail, Status::pass},
      {"untrusted CA", server_credentials(host_name, Signer::untrusted_ca), Status::fail, Status::pass, Status::pass},
      {"self-signed", server_credentials(host_name, Signer::self), Status::fail, Status::pass, Status::pass},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      auto running = serve(exo_mx_profile({}), c.credentials);
      auto config = config_for(*running);
      const auto result = run_session(config);
      CHECK(result.starttls_completed);
      const auto checks = session_checks(config, result, host_name, "127.0.0.1");
      CHECK(status_of(checks, "tls.handshake") == Status::pass);
      CHECK(status_of(checks, "tls.chain-trusted") == c.trusted);
      CHECK(status_of(checks, "tls.name-matches") == c.name_matches);
      CHECK(status_of(checks, "tls.expiry") == c.expiry);
      // Trusted beside expired never reads as a clean bill.
      if (c.expiry == Status::fail) CHECK_THAT(find_check(checks, "tls.chain-trusted")->message, Catch::Contains("but the certificate is expired"));
    }
  }
  // Credentials go only to a certificate that passed every check: an expired
  // one, a wrong name or an untrusted chain keep them back.
  for (const auto& c : cases) {
    if (std::string(c.name) == "expiring") continue;
    SECTION(std::string("AUTH with a ") + c.name + " certificate") {
      auto running = serve(accept_all_profile(), c.credentials);
      auto config = config_for(*running);
      config.auth = AuthMechanism::plain;
      config.user = "dev@contoso.example";
      config.secret = "pw";
      const auto result = run_session(config);
      const bool good = std::string(c.name) == "good";
      CHECK(result.auth.has_value() == good);
      running->server->wait(1);
      CHECK(running->server->reports().at(0).auth_mechanism.empty() == !good);
      if (!good) CHECK(result.failure.kind == "auth-unverified-tls");
    }
  }
}

TEST_CASE("implicit TLS (port 465 style)", "[probe][tls]") {
  auto running = serve(accept_all_profile(), server_credentials(host_name), true);
  auto config = config_for(*running);
  config.tls_mode = TlsMode::implicit;
  config.auth = AuthMechanism::plain;
  config.user = "dev@contoso.example";
  config.secret = "pw";
  const auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK(result.tls.handshake_completed);
  CHECK_FALSE(result.starttls_attempted);
  REQUIRE(result.auth);
  CHECK(result.auth->reply.code == 235);
  CHECK(result.auth->command == "AUTH PLAIN ***");
  running->server->wait(1);
  CHECK(running->server->reports().at(0).auth_user == "dev@contoso.example");
  CHECK(running->server->reports().at(0).implicit_tls);

  // The same port probed without TLS looks like a TLS service.
  auto plain = config_for(*running);
  plain.timeouts.banner = 200ms;
  const auto sniffed = run_session(plain);
  CHECK(sniffed.failure.failure_class == FailureClass::protocol);
}

TEST_CASE("implicit TLS against a STARTTLS port names the mode, not a TLS fault", "[probe][tls]") {
  auto running = serve(exo_submission_profile());
  auto config = config_for(*running);
  config.tls_mode = TlsMode::implicit;
  const auto result = run_session(config);
  INFO(transcript_text(result));
  CHECK_FALSE(result.tls.handshake_completed);
  CHECK(result.peer_hint == "SMTP");
  CHECK(result.plain_greeting.starts_with("220 "));
  const auto checks = session_checks(config, result, "127.0.0.1", "127.0.0.1");
  REQUIRE(find_check(checks, "tls.handshake"));
  CHECK(find_check(checks, "tls.handshake")->status == Status::fail);
  CHECK_THAT(find_check(checks, "tls.handshake")->message, Catch::Contains("speaks plain SMTP, not implicit TLS"));
  CHECK_THAT(find_check(checks, "tls.handshake")->remedy, Catch::Contains("without --implicit-tls"));
}

TEST_CASE("the transcript has C/S/TLS markers and timings", "[probe]") {
  auto running = serve(exo_submission_profile());
  const auto result = run_session(config_for(*running));
  bool client = false, server = false, tls_line = false;
  double last = 0;
  for (const auto& entry : result.transcript) {
    client = client || entry.dir == "C";
    server = server || entry.dir == "S";
    tls_line = tls_line || (entry.dir == "TLS" && entry.line.starts_with("TLSv1.3"));
    CHECK(entry.ms >= last);
    last = entry.ms;
  }
  CHECK(client);
  CHECK(server);
  CHECK(tls_line);
  CHECK(format_transcript_entry({"C", "EHLO x", 1.25}) == "     1.2 ms C   EHLO x");
}

// ---------------------------------------------------------------------------
// sendcheck-probe as a user runs it

TEST_CASE("sendcheck-probe --json follows the contract", "[probe]") {
  auto profile = exo_submission_profile();
  profile.oauth_token = "tok-123";
  auto running = serve(profile);
  const std::string token_file = running->dir.file("token", "tok-123\n");
  const auto run = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(running->server->port()), "--json",
                                "--ca", running->ca_file, "--starttls", "require", "--auth", "xoauth2", "--user",
                                "app@contoso.example", "--oauth-token-file", token_file, "--from", "app@contoso.example",
                                "--rcpt", "a@contoso.example", "--timeout", "3", "--dns", "127.0.0.1:9"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto doc = nlohmann::json::parse(run.out);
  json_schema::check_valid("sendcheck-probe", run.out);
  CHECK(doc["tool"] == "sendcheck-probe");
  CHECK((doc["status"] == "pass" || doc["status"] == "info"));
  REQUIRE(doc["targets"].size() == 1);
  const auto& t = doc["targets"][0];
  for (const char* key : {"host", "address", "port", "connect_ms", "banner", "ehlo", "starttls", "tls", "auth", "envelope", "transcript"})
    CHECK(t.contains(key));
  CHECK(t["ehlo"]["before_tls"].size() == 9);
  CHECK(t["ehlo"]["after_tls"][4] == "AUTH LOGIN XOAUTH2");
  CHECK(t["starttls"]["offered"] == true);
  CHECK(t["starttls"]["completed"] == true);
  CHECK(t["tls"]["version"] == "TLSv1.3");
  for (const char* key : {"subject", "san", "issuer", "not_after", "chain_trusted", "name_matches", "verify_error"})
    CHECK(t["tls"]["certificate"].contains(key));
  CHECK(t["tls"]["certificate"]["chain_trusted"] == true);
  CHECK(t["tls"]["certificate"]["name_matches"] == true);  // 127.0.0.1 is in the SAN
  CHECK(t["auth"]["mechanisms"] == nlohmann::json::array({"LOGIN", "XOAUTH2"}));
  CHECK(t["auth"]["attempt"]["mechanism"] == "XOAUTH2");
  CHECK(t["auth"]["attempt"]["reply"]["code"] == 235);
  CHECK(t["envelope"][0]["command"] == "MAIL FROM:<app@contoso.example>");
  for (const char* key : {"code", "enhanced", "text", "meaning"}) CHECK(t["envelope"][0]["reply"].contains(key));
  CHECK(t["envelope"][0]["reply"]["enhanced"] == "2.1.0");
  CHECK(t["transcript"][0].contains("dir"));
  CHECK(t["transcript"][0].contains("ms"));
  CHECK(run.out.find("tok-123") == std::string::npos);
  CHECK(run.err.find("tok-123") == std::string::npos);
}

TEST_CASE("sendcheck-probe: -v shows the transcript, never the password", "[probe]") {
  auto running = serve(exo_submission_profile(BasicAuthAnswer::disabled_139));
  const auto run = run_program({probe_tool, "127.0.0.1", "--port", std::to_string(running->server->port()), "-v",
                                "--no-color", "--ca", running->ca_file, "--auth", "login", "--user", "printer@contoso.example",
                                "--timeout", "3", "--dns", "127.0.0.1:9"},
                               20s, {"SENDCHECK_PASSWORD=Hunter2-Secret"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.err.find(" C   EHLO ") != std::string::npos);
  CHECK(run.err.find(" S   250-SIZE 157286400") != std::string::npos);
  CHECK(run.err.find(" TLS TLSv1.3") != std::string::npos);
  CHECK(run.err.find(" C   ***") != std::string::npos);
  CHECK_THAT(run.out, Catch::Contains("5.7.139"));
  CHECK_THAT(run.out, Catch::Contains("FAIL"));
  for (const auto& secret : {std::string("Hunter2-Secret"), base64_encode("Hunter2-Secret")}) {
    CHECK(run.out.find(secret) == std::string::npos);
    CHECK(run.err.find(secret) == std::string::npos);
  }
}

TEST_CASE("sendcheck-probe exit codes and usage errors", "[probe]") {
  auto refused = run_program({probe_tool, "127.0.0.1", "--port", "1", "--dns", "127.0.0.1:9"});
  CHECK(refused.exit_code == 1);
  // Each usage error says what was wrong, not only that something was.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"127.0.0.1", "--starttls", "always"}, "--starttls must be require, try or never"},
      {{"127.0.0.1", "--auth", "login"}, "--auth needs --user"},
      {{"127.0.0.1", "--auth", "cram-md5", "--user", "u"}, "--auth must be login, plain or xoauth2"},
      {{"127.0.0.1", "--user", "u"}, "--user needs --auth"},
      {{"127.0.0.1", "--rcpt", "a@b.example"}, "--rcpt needs --from"},
      {{"127.0.0.1", "--send"}, "--send needs --from and --rcpt"},
      {{"127.0.0.1", "--tls-max", "1.4"}, "unknown TLS version 1.4"},
      {{"127.0.0.1", "--tls-min", "1.3", "--tls-max", "1.2"}, "--tls-min is above --tls-max"},
      {{"127.0.0.1", "--port", "0"}, "--port must be 1-65535"},
      {{"127.0.0.1", "-4", "-6"}, "-4 and -6 exclude each other"},
      {{"127.0.0.1", "--auth", "login", "--user", "u"}, "needs a password: --password-file FILE or SENDCHECK_PASSWORD"},
      {{"127.0.0.1", "--auth", "xoauth2", "--user", "u"}, "--auth xoauth2 needs --oauth-token-file"},
      {{"127.0.0.1", "--mx"}, "--mx needs a domain, not an address: 127.0.0.1"},
      {{"bad..name"}, "\"bad..name\""},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{probe_tool};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--dns", "127.0.0.1:9", "--timeout", "1"});
    const auto run = run_program(argv, 10s, {"SENDCHECK_PASSWORD="});
    INFO(args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.out.empty());
    CHECK(run.err.starts_with("sendcheck-probe: error: "));
    CHECK_THAT(run.err, Catch::Contains(message));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}

TEST_CASE("sendcheck-probe --mx probes the MX hosts from the zone", "[probe]") {
  auto running = serve(exo_mx_profile({"probe.test"}));
  TempDir dir;
  const auto zone = dir.file("probe.test.zone",
                             "$ORIGIN probe.test.\n$TTL 300\n@ IN SOA ns.probe.test. h.probe.test. 1 3600 600 86400 300\n"
                             "@ IN NS ns\n@ IN MX 10 mx1\nmx1 IN A 127.0.0.1\n");
  const auto run = run_program({probe_tool, "probe.test", "--mx", "--zone", zone, "--dns", "127.0.0.1:9", "--port",
                                std::to_string(running->server->port()), "--json", "--ca", running->ca_file, "--from",
                                "scanner@probe.test", "--rcpt", "staff@probe.test", "--timeout", "3"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);  // the certificate does not name mx1.probe.test
  const auto doc = nlohmann::json::parse(run.out);
  REQUIRE(doc["targets"].size() == 1);
  CHECK(doc["targets"][0]["host"] == "mx1.probe.test");
  CHECK(doc["targets"][0]["envelope"][1]["reply"]["code"] == 250);
  CHECK(doc["targets"][0]["tls"]["certificate"]["name_matches"] == false);

  const auto none = run_program({probe_tool, "nomx.probe.test", "--mx", "--zone", zone, "--dns", "127.0.0.1:9", "--json"});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.out, Catch::Contains("smtp.target"));
  json_schema::check_valid("sendcheck-probe", none.out);  // a failing run
}
