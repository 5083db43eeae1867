// The text side of the SMTP engine: replies (multi-line, enhanced codes,
// hostile input), EHLO extensions from the real Exchange Online lists
// (fixtures/smtp), base64 and dot-stuffing.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "diag/smtp.h"
#include "fixture_zones.h"

using namespace diag::smtp;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(fixtures::source_path("fixtures/smtp/" + name), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Reply reply_of(const std::string& text) {
  auto reply = parse_reply(text);
  if (!reply) FAIL(reply.error().message);
  return std::move(reply).value();
}

}  // namespace

TEST_CASE("a single-line reply with an enhanced code", "[smtp]") {
  const Reply reply = reply_of("550 5.7.30 Basic authentication is not supported for Client Submission.\r\n");
  CHECK(reply.code == 550);
  CHECK(reply.enhanced == "5.7.30");
  CHECK(reply.text() == "Basic authentication is not supported for Client Submission.");
  CHECK(reply.permanent());
  CHECK(reply.raw() == "550 5.7.30 Basic authentication is not supported for Client Submission.");
}

TEST_CASE("a multi-line reply keeps its lines and joins its text", "[smtp]") {
  const Reply reply = reply_of("550-5.7.606 Access denied, banned sending IP [203.0.113.7].\r\n"
                               "550 5.7.606 To request removal from this list please visit https://sender.office.com/\r\n");
  CHECK(reply.code == 550);
  CHECK(reply.enhanced == "5.7.606");
  REQUIRE(reply.lines.size() == 2);
  CHECK(reply.text() ==
        "Access denied, banned sending IP [203.0.113.7]. To request removal from this list please visit https://sender.office.com/");
}

TEST_CASE("enhanced codes are taken only when their class matches the reply", "[smtp]") {
  CHECK(leading_enhanced_code("4.7.500 Server busy", 451) == "4.7.500");
  CHECK(leading_enhanced_code("5.7.1 denied", 451).empty());  // RFC 2034 4: class must agree
  CHECK(leading_enhanced_code("2.0.0 SMTP server ready", 220) == "2.0.0");
  CHECK(leading_enhanced_code("Microsoft ESMTP MAIL Service ready", 220).empty());
  CHECK(leading_enhanced_code("5.7.1234 too long", 550).empty());
  CHECK(leading_enhanced_code("3.1.1 wrong class", 0).empty());
  CHECK(reply_of("421 4.7.66 TLS 1.0 and 1.1 are not supported.\n").enhanced == "4.7.66");
  CHECK(reply_of("220 2.0.0 SMTP server ready\r\n").enhanced == "2.0.0");
}

TEST_CASE("a bare code is a complete reply", "[smtp]") {
  const Reply reply = reply_of("334\r\n");
  CHECK(reply.code == 334);
  CHECK(reply.lines == std::vector<std::string>{""});
}

TEST_CASE("protocol errors in replies", "[smtp]") {
  CHECK_FALSE(parse_reply("HTTP/1.1 400 Bad Request\r\n"));
  CHECK_FALSE(parse_reply("SSH-2.0-OpenSSH_9.2\r\n"));
  CHECK_FALSE(parse_reply("25 short\r\n"));
  CHECK_FALSE(parse_reply("250x no separator\r\n"));
  CHECK_FALSE(parse_reply("650 not a class\r\n"));
  auto changed = parse_reply("250-first\r\n251 second\r\n");
  REQUIRE_FALSE(changed);
  CHECK_THAT(changed.error().message, Catch::Contains("changed"));
  CHECK_FALSE(parse_reply("250-unfinished\r\n"));
}

TEST_CASE("a reply is bounded in lines", "[smtp]") {
  ReplyAssembler assembler(3);
  CHECK(assembler.feed("250-a") == ReplyAssembler::Step::more);
  CHECK(assembler.feed("250-b") == ReplyAssembler::Step::more);
  CHECK(assembler.feed("250-c") == ReplyAssembler::Step::more);
  CHECK(assembler.feed("250 d") == ReplyAssembler::Step::error);
  CHECK_THAT(assembler.error(), Catch::Contains("longer than 3 lines"));
}

TEST_CASE("EHLO before STARTTLS on smtp.office365.com: no AUTH", "[smtp]") {
  const Extensions ext = parse_ehlo(reply_of(fixture("exo-submission-ehlo-before-tls.txt")));
  CHECK(ext.greeting == "SC1PR80CA0174.outlook.office365.com Hello [x.x.x.x]");
  CHECK(ext.starttls);
  CHECK(ext.pipelining);
  CHECK(ext.dsn);
  CHECK(ext.enhanced_status_codes);
  CHECK(ext.eight_bit_mime);
  CHECK(ext.binary_mime);
  CHECK(ext.chunking);
  CHECK(ext.smtputf8);
  CHECK(ext.size_advertised);
  REQUIRE(ext.size);
  CHECK(*ext.size == 157286400);  // 150 MiB
  CHECK(ext.auth.empty());
  CHECK(ext.keywords.size() == 9);
}

TEST_CASE("EHLO after STARTTLS on smtp.office365.com: AUTH LOGIN XOAUTH2", "[smtp]") {
  const Extensions ext = parse_ehlo(reply_of(fixture("exo-submission-ehlo-after-tls.txt")));
  CHECK_FALSE(ext.starttls);
  CHECK(ext.auth == std::vector<std::string>{"LOGIN", "XOAUTH2"});
  CHECK(ext.offers_auth("xoauth2"));
  CHECK_FALSE(ext.offers_auth("PLAIN"));
}

TEST_CASE("EHLO oddities: old AUTH=, SIZE without a value, case", "[smtp]") {
  const Extensions ext = parse_ehlo(reply_of("250-mail.example Hello\r\n250-AUTH=LOGIN PLAIN\r\n250-auth login cram-md5\r\n"
                                             "250-size\r\n250 starttls\r\n"));
  CHECK(ext.auth == std::vector<std::string>{"LOGIN", "PLAIN", "CRAM-MD5"});
  CHECK(ext.size_advertised);
  CHECK_FALSE(ext.size);
  CHECK(ext.starttls);
  const Extensions zero = parse_ehlo(reply_of("250-x\r\n250 SIZE 0\r\n"));
  REQUIRE(zero.size);
  CHECK(*zero.size == 0);  // RFC 1870: no fixed limit
  CHECK_FALSE(parse_ehlo(reply_of("250-x\r\n250 SIZE lots\r\n")).size);
}

TEST_CASE("base64 round trips and the XOAUTH2 example from Microsoft", "[smtp]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_decode("Zm9vYmFy") == std::optional<std::string>("foobar"));
  CHECK_FALSE(base64_decode("not base64!"));
  // m365-facts.md 6: the documented example string.
  CHECK(base64_encode("user=test@contoso.onmicrosoft.com\x01" "auth=Bearer EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA\x01\x01") ==
        "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==");
}

TEST_CASE("dot-stuffing and line ends for DATA", "[smtp]") {
  CHECK(dot_stuff("Subject: x\n\n.hidden\nlast") == "Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n");
  CHECK(dot_stuff("a\r\n.\r\n") == "a\r\n..\r\n.\r\n");
  CHECK(dot_stuff("") == ".\r\n");
}

TEST_CASE("option values", "[smtp]") {
  CHECK(parse_starttls_policy("require") == StarttlsPolicy::require);
  CHECK(parse_starttls_policy("try") == StarttlsPolicy::try_);
  CHECK_FALSE(parse_starttls_policy("always"));
  CHECK(parse_auth_mechanism("xoauth2") == AuthMechanism::xoauth2);
  CHECK(parse_auth_mechanism("LOGIN") == AuthMechanism::login);
  CHECK_FALSE(parse_auth_mechanism("cram-md5"));
}
