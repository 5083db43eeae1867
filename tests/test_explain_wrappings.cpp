// sendcheck-explain finds the reply wherever it is: client-library errors,
// enhanced codes alone, glued punctuation and quotes, nested replies, NDRs
// in other languages, JSON error bodies, the encodings Windows writes,
// endless and too-deep input. Each case is built from a public example
// whose source is named beside it.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/explain.h"
#include "smtp_test_support.h"

using namespace diag::explain;

namespace {

ExplainResult found_in(std::string_view input) {
  auto result = explain_text(input);
  INFO(input);
  INFO((result.ok() ? std::string() : result.error().message));
  REQUIRE(result.ok());
  return std::move(result).value();
}

// The one explanation with this basic and enhanced code.
const Explanation& reply_with(const ExplainResult& result, int code, std::string_view enhanced) {
  for (const auto& explanation : result.explanations)
    if (explanation.reply.code == code && explanation.reply.enhanced == enhanced) return explanation;
  FAIL("no reply " << code << " " << enhanced);
  throw std::logic_error("unreachable");
}

using Steps = std::vector<std::string>;

// The SMTP steps of the first finding (failures come first).
Steps step_of(std::string_view input) {
  const auto result = found_in(input);
  REQUIRE(!result.explanations.empty());
  return result.explanations.front().steps;
}

std::string utf16le(std::string_view ascii, bool bom) {
  std::string out = bom ? std::string("\xFF\xFE", 2) : std::string();
  for (char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}

}  // namespace

TEST_CASE("client-library errors: smtplib, MailKit, PHPMailer, nodemailer, JavaMail, node-sendmail", "[explain][wrapping]") {
  // https://github.com/healthchecks/healthchecks/issues/494
  const auto smtplib = found_in("smtplib.SMTPAuthenticationError: (535, b'5.7.3 Authentication unsuccessful')");
  CHECK(reply_with(smtplib, 535, "5.7.3").meaning.id == "m365.auth-unsuccessful");
  CHECK(reply_with(smtplib, 535, "5.7.3").reply.text == "Authentication unsuccessful");

  // https://github.com/hacky1997/voice-based-email-for-blind/issues/22: smtplib's escaped "\n" between lines.
  const auto gmail = found_in(
      "smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted. Learn more at\\n5.7.8  "
      "https://support.google.com/mail/?p=BadCredentials j10sm5731558pfn.207 - gsmtp')");
  REQUIRE(gmail.explanations.size() == 1);
  CHECK(gmail.explanations[0].meaning.id == "gmail.bad-credentials");
  CHECK(gmail.explanations[0].details.sender == Sender::gmail);

  // https://github.com/jstedfast/MailKit/issues/1532
  const auto mailkit = found_in("MailKit.Net.Smtp.SmtpCommandException: 5.7.3 Authentication unsuccessful");
  CHECK(reply_with(mailkit, 0, "5.7.3").meaning.id == "m365.auth-unsuccessful");

  // https://github.com/WWBN/AVideo/issues/1017: PHPMailer names the code on the next line.
  const auto phpmailer = found_in(
      "Message could not be sent SMTP Error: data not accepted.SMTP server error: DATA END command failed Detail: "
      "5.7.60 SMTP; Client does not have permissions to send as this sender "
      "[CY4PR1701MB1800.namprd17.prod.outlook.com]\nSMTP code: 550");
  CHECK(reply_with(phpmailer, 550, "5.7.60").meaning.id == "m365.send-as-not-permitted");
  CHECK(reply_with(phpmailer, 550, "5.7.60").details.sender == Sender::exchange_online);

  // https://github.com/nodemailer/nodemailer/issues/922
  const auto nodemailer = found_in("{ Error: Invalid login: 535 5.7.3 Authentication unsuccessful at "
                                   "SMTPConnection._formatError (smtp-connection.js:528:15) code: 'EAUTH', "
                                   "response: '535 5.7.3 Authentication unsuccessful', responseCode: 535 }");
  REQUIRE(nodemailer.explanations.size() == 1);
  // The "response:" field repeats the message's reply: one refusal, at AUTH,
  // whose text ends before the stack frame.
  CHECK(nodemailer.explanations[0].count == 1);
  CHECK(nodemailer.replies == 1);
  CHECK(nodemailer.explanations[0].steps == std::vector<std::string>{"AUTH"});
  CHECK(nodemailer.explanations[0].reply.text == "Authentication unsuccessful");

  // https://github.com/rpremraj/mailR/issues/107
  const auto javamail = found_in(
      "javax.mail.AuthenticationFailedException: 535 5.7.139 Authentication unsuccessful, basic authentication is "
      "disabled. [BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]");
  CHECK(reply_with(javamail, 535, "5.7.139").meaning.id == "m365.basic-auth-disabled-by-policy");

  // https://github.com/guileen/node-sendmail/issues/73
  const auto sendmail = found_in("Error: SMTP code:530 msg:530 SMTP authentication is required.");
  REQUIRE(sendmail.explanations.size() == 1);
  CHECK(sendmail.explanations[0].reply.code == 530);
  CHECK(sendmail.explanations[0].meaning.id == "smtp.auth-required");

  // https://pastebin.com/wtU9XT6T: an IIS SMTP log writes spaces as '+'.
  const auto iis = found_in(
      "2018-02-19 23:06:36 40.97.132.226 OutboundConnectionResponse SMTPSVC1 FBDC-001 - 0 - - "
      "550+5.7.60+SMTP;+Client+does+not+have+permissions+to+send+as+this+sender+"
      "[BY2PR1001MB1094.namprd10.prod.outlook.com] 0 0 116 0 11485 SMTP - - - -");
  CHECK(reply_with(iis, 550, "5.7.60").meaning.id == "m365.send-as-not-permitted");
}

TEST_CASE("an enhanced code without a basic code, not a version number", "[explain][wrapping]") {
  // https://github.com/jstedfast/MailKit/issues/1265 (on-premises Exchange, port 25)
  const auto alone = found_in("I get the below error:\n\n`5.7.1 Client was not authenticated `");
  CHECK(reply_with(alone, 0, "5.7.1").meaning.id == "smtp.receiver-requires-authentication");
  // The 4.7.500-699 wording Microsoft documents (learn.microsoft.com NDR table).
  const auto busy = found_in("4.7.500 Access denied, please try again later");
  CHECK(reply_with(busy, 0, "4.7.500").meaning.id == "m365.ip-throttled");
  CHECK(reply_with(busy, 0, "4.7.500").status() == diag::Status::warn);
  for (const char* not_a_reply : {"MailKit version 4.14.1 on .NET 6", "nodemailer 4.7.0 installed",
                                   "upgrade to 5.4.1, then retry", "release 4.4.2 fixes it", "v 5.1.1 here"}) {
    INFO(not_a_reply);
    CHECK_FALSE(explain_text(not_a_reply).ok());
  }
}

TEST_CASE("an enhanced code typed alone is looked up, as the remedies' cross-references ask", "[explain][wrapping]") {
  // Remedies say "see `sendcheck explain 5.7.30`": that command must work.
  CHECK(reply_with(found_in("5.7.30"), 0, "5.7.30").meaning.id == "m365.basic-auth-retired");
  CHECK(reply_with(found_in(join_arguments({"5.7.139"})), 0, "5.7.139").meaning.id == "m365.smtp-auth-blocked");
  CHECK(reply_with(found_in("  5.7.3 \r\n"), 0, "5.7.3").status() == diag::Status::fail);
  // A success or a version number inside a sentence stays what it is.
  CHECK_FALSE(explain_text("2.0.0").ok());
  CHECK_FALSE(explain_text("nodemailer 4.7.0").ok());
  const auto tool = smtp_testing::run_program({smtp_testing::bin_dir + "/sendcheck-explain", "5.7.30"});
  INFO(tool.out << tool.err);
  CHECK(tool.exit_code == 1);
  CHECK_THAT(tool.out, Catch::Contains("Basic authentication"));
}

TEST_CASE("glued punctuation and quotes of other languages", "[explain][wrapping]") {
  // Exchange's NDR wraps the reply in '#' ... '##'
  // (https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/fix-error-code-550-5-4-1-in-exchange-online).
  const auto hashes = found_in("#550 5.4.1 Relay Access Denied ##");
  CHECK(reply_with(hashes, 550, "5.4.1").meaning.id == "m365.relay-access-denied-5-4-1");
  CHECK(reply_with(hashes, 550, "5.4.1").reply.text == "Relay Access Denied ##");
  // German „…“ and French «…» quotes around the reply of the NDR table
  // (https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online).
  const auto german = found_in("Der Server meldete \xE2\x80\x9E" "550 5.7.1 Unable to relay\xE2\x80\x9C.");
  CHECK(reply_with(german, 550, "5.7.1").meaning.id == "exchange.unable-to-relay");
  const auto french = found_in("Le serveur a r\xC3\xA9pondu \xC2\xAB" "550 5.7.1 Unable to relay\xC2\xBB");
  CHECK(reply_with(french, 550, "5.7.1").meaning.id == "exchange.unable-to-relay");
  // qmail puts the enhanced code last: https://it.i88.ca/2017/09/email-relaying-denied.html
  const auto qmail = found_in("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)");
  CHECK(reply_with(qmail, 553, "5.7.1").meaning.id == "smtp.relay-denied");
}

TEST_CASE("nested replies: an Exim callout inside a Postfix bounce, a wrapped remote reply", "[explain][wrapping]") {
  // https://github.com/gregkh/usbutils/issues/145
  const auto callout = found_in(
      "<sailer@ife.ee.ethz.ch>: host mc4.ethz.ch[82.130.86.12] said: 550-Callout\n"
      "    verification failed: 550-550 5.1.10 RESOLVER.ADR.RecipientNotFound;\n"
      "    Recipient not found by SMTP 550 address lookup (in reply to RCPT TO\n"
      "    command)");
  REQUIRE(callout.explanations.size() == 1);
  const auto& inner = reply_with(callout, 550, "5.1.10");
  CHECK(inner.meaning.id == "m365.recipient-not-found");
  CHECK(inner.steps == std::vector<std::string>{"RCPT TO"});
  CHECK(inner.reply.host == "mc4.ethz.ch");

  // https://github.com/root-io/vmail/issues/89: Gmail's multi-line reply wrapped by Postfix.
  const auto wrapped = found_in(
      "host gmail-smtp-in.l.google.com[74.125.206.27] said:\n"
      "    550-5.7.1 [62.210.82.129      12] Our system has detected that this message\n"
      "    is 550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to\n"
      "    Gmail, 550-5.7.1 this message has been blocked. Please visit 550-5.7.1\n"
      "    https://support.google.com/mail/?p=UnsolicitedMessageError 550 5.7.1  for\n"
      "    more information. 125si7057894wmk.237 - gsmtp (in reply to end of DATA\n"
      "    command)");
  REQUIRE(wrapped.explanations.size() == 1);
  CHECK(wrapped.explanations[0].meaning.id == "gmail.message-unsolicited");
  CHECK(wrapped.explanations[0].steps == std::vector<std::string>{"end of DATA"});
  CHECK(wrapped.explanations[0].ips == std::vector<std::string>{"62.210.82.129"});
}

TEST_CASE("a line an MTA wrapped inside a multi-line reply joins it only between lines of that reply", "[explain][wrapping]") {
  // https://github.com/cloudflare/cloudflare-docs/issues/11542: Exim quoting Gmail, one reply line wrapped.
  const auto exim = found_in(
      "    550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
      "    550-5.7.26  SPF [example.ru] with ip:\n"
      "    [2a02:408:7722:1:77:222:41:79] =\n"
      "    550-5.7.26 did not pass\n"
      "    550 5.7.26  https://support.google.com/mail/answer/81126#authentication f18si1069648ljf.488 - gsmtp\n");
  REQUIRE(exim.explanations.size() == 1);
  CHECK(exim.explanations[0].meaning.id == "gmail.unauthenticated");
  CHECK(exim.explanations[0].ips == std::vector<std::string>{"2a02:408:7722:1:77:222:41:79"});
  CHECK(exim.explanations[0].reply.text.find("= did not pass") != std::string::npos);

  // https://github.com/MISP/MISP/issues/9284 style: Postfix logs the reply's lines on one line.
  const auto logged = found_in(
      "status=bounced (host gmail-smtp-in.l.google.com[2a00:1450:4013:c06::1b] said: 550-5.7.26 Your email has been "
      "blocked because the sender is unauthenticated. 550-5.7.26  Authentication results: 550-5.7.26  DKIM = did not "
      "pass 550 5.7.26  https://support.google.com/mail/answer/81126#authentication a6si1.313 - gsmtp (in reply to end "
      "of DATA command))");
  CHECK(logged.explanations.at(0).reply.text.find("Authentication results: DKIM") != std::string::npos);

  // Text after an open line that no line of the reply follows is not the reply's.
  const auto cut = found_in(
      "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
      "the rest of this bounce was removed by the list software\n"
      "451 4.7.0 Temporary server error. Please try again later.\n");
  for (const auto& explanation : cut.explanations)
    CHECK(explanation.reply.text.find("list software") == std::string::npos);
}

TEST_CASE("a multi-line reply whose lines carry different codes: each is reported", "[explain][wrapping]") {
  // RFC 5321 4.2.1 wants one code per reply; servers that mix enhanced codes
  // still mean each: Gmail's IPv6 rejection (https://github.com/nodemailer/nodemailer/issues/236)
  // followed by its 5.7.26 line (https://github.com/MISP/MISP/issues/9284).
  const auto mixed = found_in(
      "550-5.7.1 [2a01:4f8:d16:1250::2] Our system has detected that this message does\n"
      "550-5.7.1 not meet IPv6 sending guidelines regarding PTR records and\n"
      "550 5.7.26 This mail is unauthenticated, which poses a security risk - gsmtp");
  CHECK(mixed.explanations.size() == 2);
  CHECK(reply_with(mixed, 550, "5.7.1").meaning.id == "gmail.ipv6-ptr-and-authentication");
  CHECK(reply_with(mixed, 550, "5.7.26").meaning.id == "gmail.unauthenticated");
}

TEST_CASE("Outlook NDRs in German and French: the frame, and the reply inside it", "[explain][wrapping]") {
  // The German frame as https://hilfe.cloud4you.biz/hosted-exchange/fehlermeldungen-beim-versand-und-empfang-von-mails
  // shows it, with a reply from its table.
  const auto german = found_in(
      "Diagnoseinformationen f\xC3\xBCr Administratoren:\n\nGenerierender Server: EX01.contoso.local\n\n"
      "user@example.com\nRemoteserver hat '550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found' zur\xC3\xBC" "ckgegeben");
  CHECK(reply_with(german, 550, "5.1.1").meaning.id == "m365.bad-destination-mailbox");
  // A reply without an enhanced code is found after the German and French markers too.
  const auto german_basic = found_in("Remoteserver hat '550 Requested action not taken: mailbox unavailable' zur\xC3\xBC" "ckgegeben");
  CHECK(reply_with(german_basic, 550, "").reply.text == "Requested action not taken: mailbox unavailable");
  const auto french = found_in(
      "Informations de diagnostic pour les administrateurs :\n\nServeur de g\xC3\xA9n\xC3\xA9ration : EX01\n\n"
      "Le serveur distant a retourn\xC3\xA9 '550 Requested action not taken: mailbox unavailable'");
  CHECK(reply_with(french, 550, "").reply.code == 550);
}

TEST_CASE("JSON error bodies that carry an SMTP reply (Graph, Azure Communication Services)", "[explain][wrapping]") {
  // Graph's error body (https://github.com/microsoftgraph/msgraph-sdk-php/issues/1499) carries no SMTP reply:
  const auto graph = explain_text(
      "{\"error\":{\"code\":\"ErrorSendAsDenied\",\"message\":\"The user account which was used to submit this request "
      "does not have the right to send mail on behalf of the specified sending account., Cannot submit message.\"}}");
  CHECK_FALSE(graph.ok());
  // ... one that quotes the SMTP reply inside its message is explained (the reply from
  // https://github.com/motze92/office365-mail/issues/11):
  const auto quoted = found_in(
      "{\"error\":{\"code\":\"ErrorMessageSubmissionBlocked\",\"message\":\"Remote Server returned '550 5.7.708 "
      "Service unavailable. Access denied, traffic not accepted from this IP. AS(7230)'\"}}");
  CHECK(reply_with(quoted, 550, "5.7.708").meaning.id == "m365.ip-not-accepted");
  // ACS SMTP relay errors arrive as the same SMTP replies
  // (https://github.com/jstedfast/MailKit/issues/1967), here inside a JSON log line.
  const auto acs = found_in("{\"level\":\"error\",\"error\":\"535: 5.7.3 Authentication unsuccessful\"}\n");
  CHECK(reply_with(acs, 535, "5.7.3").meaning.id == "m365.auth-unsuccessful");
}

TEST_CASE("input as Windows writes it: UTF-16LE, a UTF-8 BOM, CRLF", "[explain][wrapping]") {
  const std::string reply = "550 5.7.30 Basic authentication is not supported for Client Submission.\r\n";
  for (bool bom : {true, false}) {
    const auto result = found_in(utf16le(reply, bom));
    INFO("BOM " << bom);
    CHECK(result.encoding == "utf-16le");
    CHECK(reply_with(result, 550, "5.7.30").meaning.id == "m365.basic-auth-retired");
    CHECK_FALSE(result.binary);
  }
  // The same, fed a byte at a time: a code unit split between pieces.
  Explainer pieces;
  const auto encoded = utf16le(reply, true);
  for (char byte : encoded) pieces.feed(std::string_view(&byte, 1));
  auto piecewise = pieces.finish();
  REQUIRE(piecewise.ok());
  CHECK(piecewise->explanations.at(0).meaning.id == "m365.basic-auth-retired");

  const auto bom = found_in("\xEF\xBB\xBF" + reply);
  CHECK(reply_with(bom, 550, "5.7.30").reply.raw.find('\r') == std::string::npos);
}

TEST_CASE("a reply straddling the 1 MiB read boundary is found whole", "[explain][wrapping]") {
  char path[] = "/tmp/sendcheck-explain-boundaryXXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string reply = "550 5.7.68 TenantInboundAttribution; Direct Send not allowed\n";
  std::string filler;
  while (filler.size() + 80 < (1u << 20) - reply.size() / 2) filler += std::string(79, 'x') + "\n";
  filler += std::string((1u << 20) - reply.size() / 2 - filler.size(), 'y');
  filler += "\n";
  filler.pop_back();
  const std::string content = filler + "\n" + reply;
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
  auto result = explain_file(path);
  ::unlink(path);
  REQUIRE(result.ok());
  CHECK(reply_with(*result, 550, "5.7.68").meaning.id == "m365.reject-direct-send");
}

TEST_CASE("endless input stops at the documented limit with a clear message", "[explain][wrapping]") {
  // /dev/zero never ends: reading stops at max_input_bytes.
  auto zeros = explain_file("/dev/zero");
  REQUIRE_FALSE(zeros.ok());
  CHECK(zeros.error().message.find("binary") != std::string::npos);
  CHECK(zeros.error().message.find("input limit") != std::string::npos);

  // What was found before the limit is reported, with the limit noted.
  Explainer explainer;
  explainer.feed("550 5.7.30 Basic authentication is not supported for Client Submission.\n");
  const std::string block(1 << 20, 'y');
  std::size_t fed = 0;
  while (!explainer.stopped() && fed < 2 * max_input_bytes) {
    explainer.feed(block);
    fed += block.size();
  }
  CHECK(explainer.stopped());
  CHECK(fed <= max_input_bytes + block.size());
  auto result = explainer.finish();
  REQUIRE(result.ok());
  CHECK(result->stopped_at_limit);
  CHECK(render_text(*result, diag::TextStyle{}, false).find("input limit") != std::string::npos);
}

TEST_CASE("a JSON document nested deeper than the limit says so instead of 'no reply'", "[explain][wrapping]") {
  std::string deep;
  for (int i = 0; i < max_json_depth + 10; ++i) deep += "{\"a\":";
  deep += "\"550 5.7.30 Basic authentication is not supported for Client Submission.\"";
  for (int i = 0; i < max_json_depth + 10; ++i) deep += "}";
  const auto result = explain_text(deep);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message.find("nests deeper than 64 levels") != std::string::npos);
}

TEST_CASE("the sender decides Microsoft-specific meanings", "[explain][sender]") {
  // Postfix's DNSBL rejection (https://support.onesystems.ch/722126-%C3%9Cbersicht-h%C3%A4ufig-vorkommender-Fehlermeldungen)
  const auto postfix = found_in("554 5.7.1 Service unavailable; Client host [] blocked using ix.dnsbl.manitu.net");
  CHECK(postfix.explanations.at(0).meaning.id == "smtp.dnsbl-listed");
  // ... and Exchange Online's (https://github.com/CyberNinjas/pam_aad/issues/34)
  const auto eop = found_in(
      "550 5.7.1 Service unavailable, Client host [3.211.34.40] blocked using Spamhaus. To request removal from this "
      "list see https://www.spamhaus.org/query/ip/[3.211.34.40] (AS16012611) "
      "[DM3NAM03FT051.eop-NAM03.prod.protection.outlook.com]");
  CHECK(eop.explanations.at(0).meaning.id == "m365.client-host-blocklisted");
  CHECK(eop.explanations.at(0).details.sender == Sender::exchange_online);
  // Older Exchange Online NDRs name mailbox servers in prod.exchangelabs.com.
  const auto labs = found_in(
      "Remote Server returned '550 5.7.60 SMTP; Client does not have permissions to send as this sender' "
      "[BN6PR04MB0660.namprd04.prod.exchangelabs.com]");
  CHECK(labs.explanations.at(0).details.sender == Sender::exchange_online);
  // Another server's plain 5.7.1 gets no Exchange Online meaning.
  CHECK(found_in("554 5.7.1 You are not allowed to connect.").explanations.at(0).meaning.id == "rfc3463.5.7.1");
  // Outlook.com consumer: its own delisting path, not Exchange Online's portal.
  const auto consumer = found_in(
      "550 5.7.1 Unfortunately, messages from [204.11.58.44] weren't sent. Please contact your Internet service "
      "provider since part of their network is on our block list (AS3150). You can also refer your provider to "
      "http://mail.live.com/mail/troubleshooting.aspx#errors. [BY2NAM01FT030.eop-nam01.prod.protection.outlook.com]");
  const auto& outlook = consumer.explanations.at(0);
  CHECK(outlook.meaning.id == "outlook.network-blocklisted");
  CHECK(outlook.details.sender == Sender::outlook_com);
  for (const auto& step : outlook.meaning.remedy) CHECK(step.find("sender.office.com") == std::string::npos);
  // On-premises Exchange's Send As, not relay (https://github.com/nodemailer/nodemailer/issues/145).
  const auto send_as = found_in("550 5.7.1 Client does not have permissions to send as this sender");
  CHECK(send_as.explanations.at(0).meaning.id == "exchange.send-as-denied");
  CHECK(send_as.explanations.at(0).meaning.category == Category::sender);
  // 5.7.703 is its own entry, not the 5.7.700-749 range's.
  CHECK(found_in("550 5.7.703 Your message can't be delivered because one or more recipients are blocked by your "
                 "organization's tenant recipient block policy")
            .explanations.at(0)
            .meaning.id == "m365.tenant-recipient-block");
}

TEST_CASE("output: failures first, successes only with -v, counts, (+N more), URLs as sources", "[explain][output]") {
  std::string log = "250 2.1.0 Sender OK\n451 4.7.500 Access denied, please try again later\n";
  for (int i = 1; i <= 20; ++i)
    log += "550 5.7.606 Access denied, banned sending IP [203.0.113." + std::to_string(i) + "]\n";
  const auto result = found_in(log);
  REQUIRE(result.explanations.size() == 3);
  CHECK(result.explanations[0].reply.enhanced == "5.7.606");
  CHECK(result.explanations[1].reply.enhanced == "4.7.500");
  CHECK(result.explanations[2].reply.enhanced == "2.1.0");
  CHECK(result.explanations[0].count == 20);
  CHECK(result.explanations[0].ips.size() == 16);
  CHECK(result.explanations[0].more_ips == 4);

  const auto text = render_text(result, diag::TextStyle{}, false);
  CHECK(text.find("seen 20 times") != std::string::npos);
  CHECK(text.find("(+4 more)") != std::string::npos);
  CHECK(text.find("Sender OK") == std::string::npos);
  CHECK(text.find("1 success reply not shown") != std::string::npos);
  CHECK(text.find("5.7.606") < text.find("4.7.500"));
  const auto verbose = render_text(result, diag::TextStyle{}, true);
  CHECK(verbose.find("Sender OK") != std::string::npos);

  // Every source, of every entry and of the generic meanings, is URLs.
  for (const auto& explanation : found_in(log + "554 5.3.4 too big\n500 nope\n").explanations) {
    const auto json = to_json(explanation);
    INFO(explanation.meaning.id << ": " << explanation.meaning.source);
    CHECK_FALSE(json["sources"].empty());
    for (const auto& url : json["sources"]) CHECK(url.get<std::string>().rfind("http", 0) == 0);
  }
  for (const auto& entry : knowledge_table()) {
    INFO(entry.id << ": " << entry.source);
    for (std::string_view shorthand : {"m365-facts", "[3P]", "[MS]", "petri", "index "})
      CHECK(entry.source.find(shorthand) == std::string_view::npos);
    std::string_view source = entry.source;
    while (!source.empty()) {
      const auto space = source.find(' ');
      CHECK(source.substr(0, space).rfind("https://", 0) == 0);
      if (space == std::string_view::npos) break;
      source.remove_prefix(space + 1);
    }
    for (const auto& step : entry.remedy) CHECK(step.find("<IP>") == std::string_view::npos);
  }
  // An unknown IP is phrased in words.
  const auto no_ip = found_in("550 5.7.606 Access denied, banned sending IP");
  for (const auto& step : no_ip.explanations.at(0).meaning.remedy) CHECK(step.find("<IP>") == std::string::npos);
}

// The fresh-eyes review's replies (each with the issue that quotes it).
TEST_CASE("an AS code is Exchange Online's unless the reply shows Outlook.com", "[explain][sender]") {
  // https://github.com/sendgrid/docs/issues/6275: "(AS3130)" is not Outlook.com's "(S3130)".
  const auto eop = found_in(
      "550 5.7.1 Service unavailable, Client host [50.31.49.41] blocked using Spamhaus. To request removal from this "
      "list see https://www.spamhaus.org/query/ip/50.31.49.41 (AS3130). "
      "[VE1EUR01FT062.eop-EUR01.prod.protection.outlook.com]");
  CHECK(eop.explanations.at(0).meaning.id == "m365.client-host-blocklisted");
  CHECK(eop.explanations.at(0).details.sender == Sender::exchange_online);
  CHECK(eop.explanations.at(0).details.as_code == "AS3130");
  // Outlook.com's own "(S3140)" and its wording with "(AS3150)" stay Outlook.com
  // (https://github.com/MicrosoftDocs/OfficeDocs-Support/issues/834).
  CHECK(found_in("550 5.7.1 Unfortunately, messages from weren't sent. Please contact your Internet service provider "
                 "since part of their network is on our block list (AS3150)")
            .explanations.at(0)
            .details.sender == Sender::outlook_com);
  CHECK(found_in("550 5.7.1 Blocked (S3140) [x.eop-nam12.prod.protection.outlook.com]").explanations.at(0).details.sender ==
        Sender::outlook_com);
  // Outlook.com's IP-reputation deferral is its own entry with its own path.
  const auto throttled = found_in(
      "451 4.7.650 The mail server [167.89.12.138] has been temporarily rate limited due to IP reputation. For e-mail "
      "delivery information, see https://postmaster.live.com (S3113) [VI1EUR06FT038.eop-eur06.prod.protection.outlook.com]");
  const auto& outlook = throttled.explanations.at(0);
  CHECK(outlook.meaning.id == "outlook.ip-rate-limited");
  CHECK(outlook.details.sender == Sender::outlook_com);
  std::string remedy;
  for (const auto& step : outlook.meaning.remedy) remedy += step;
  CHECK(remedy.find("LinkID=614866") != std::string::npos);
  CHECK(remedy.find("167.89.12.138") != std::string::npos);
}

TEST_CASE("wrappings that drop the basic code or the whole code", "[explain][wrappings]") {
  // https://github.com/reacherhq/check-if-email-exists/issues/1065
  const auto spamhaus = found_in(
      "Error: smtp error 5.7.1 Mail from IP 3.93.33.11 was rejected due to listing in Spamhaus SBL. For details "
      "please see http://www.spamhaus.org/query/bl?ip=3.93.33.11");
  CHECK(spamhaus.explanations.at(0).meaning.id == "smtp.dnsbl-listed");
  CHECK(spamhaus.explanations.at(0).details.ip == "3.93.33.11");
  CHECK(exit_code_for(spamhaus) == diag::exit_finding);
  // Not after any word: "nodemailer 4.7.0 Server ..." is a version.
  CHECK_FALSE(explain_text("installed nodemailer 4.7.0 Server module").ok());

  // https://github.com/nodemailer/nodemailer/issues/1617: Microsoft's Conditional
  // Access wording without its codes; the codes come from the wording.
  const auto conditional = found_in(
      " Transporter verification failed:\n Error: Invalid login: Authentication unsuccessful, the request did not "
      "meet the criteria to be authenticated successfully. Contact your administrator. [INDPRD01.PROD.OUTLOOK.COM\n");
  const auto& access = conditional.explanations.at(0);
  CHECK(access.meaning.id == "m365.conditional-access");
  CHECK(access.reply.code == 535);
  CHECK(access.reply.enhanced == "5.7.139");
  CHECK(access.reply.codes_inferred);
  CHECK(access.steps == std::vector<std::string>{"AUTH"});
  CHECK(exit_code_for(conditional) == diag::exit_finding);
  CHECK(render_text(conditional, diag::TextStyle{}, false).find("no reply code") != std::string::npos);

  // https://github.com/nodemailer/nodemailer/issues/949: the code from responseCode,
  // the step from "Invalid login", over lines with a blank one between.
  const auto mailbox = found_in(
      "{ Error: Invalid login: Mailbox cannot be accessed\n\ncode: 'EAUTH', response: Mailbox cannot be accessed "
      "[CWXP265CA0023.GBRP265.PROD.OUTLOOK.COM]', responseCode: 550, command: 'AUTH LOGIN' }");
  REQUIRE(mailbox.explanations.size() == 1);
  CHECK(mailbox.explanations[0].reply.code == 550);
  CHECK_FALSE(mailbox.explanations[0].reply.codes_inferred);
  CHECK(mailbox.explanations[0].steps == std::vector<std::string>{"AUTH"});
  CHECK(mailbox.explanations[0].details.sender == Sender::exchange_online);

  // Wording no entry carries: still a failure, never a made-up code.
  const auto unknown = found_in("Error: Invalid login: Go away\n");
  CHECK(unknown.explanations.at(0).reply.code == 0);
  CHECK(unknown.explanations.at(0).status() == diag::Status::fail);
}

TEST_CASE("gateways' own blocks are explained by their phrase", "[explain][gateways]") {
  const std::pair<std::string, std::string> cases[] = {
      // https://github.com/LukeSmithxyz/emailwiz/issues/233
      {"550 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=149.28.244.134", "gateway.proofpoint-ip-blocked"},
      // https://github.com/zone-eu/zone-mta/issues/301
      {"554 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=1.1.1.1",
       "gateway.proofpoint-ip-blocked"},
      // https://github.com/mysociety/writetothem/issues/364
      {"550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550",
       "gateway.mimecast-envelope-blocked"},
      // https://github.com/mysociety/fixmystreet/issues/1651
      {"550 Rejected by header based Anti-Spoofing policy", "gateway.mimecast-anti-spoofing"},
      // https://github.com/ietf-tools/datatracker/issues/10296
      {"550 5.7.1 \xE2\x80\x93 IP 103.152.79.203 blocked by Vade Threat List (OXSUS001_101).", "gateway.vade-threat-list"},
      // https://github.com/splitbrain/dokuwiki-plugin-smtp/issues/38
      {"553 5.7.1 Sender address rejected: not owned by auth user.", "smtp.sender-login-mismatch"},
  };
  for (const auto& [reply, id] : cases) {
    INFO(reply);
    const auto result = found_in(reply);
    const auto& meaning = result.explanations.at(0).meaning;
    CHECK(meaning.id == id);
    std::string remedy;
    for (const auto& step : meaning.remedy) remedy += step;
    CHECK(remedy.find("receiving side's administrator") == std::string::npos);
  }
  // The gateway's IP goes into the remedy.
  const auto proofpoint = found_in(cases[0].first);
  CHECK(proofpoint.explanations.at(0).details.ip == "149.28.244.134");
}

TEST_CASE("a wrapper with two replies: the cause first, whatever the wrapper's order", "[explain][output]") {
  // https://github.com/renevanosnabrugge/SendEmail-BuildTask/issues/49: .NET puts the
  // MAIL FROM refusal first; the refused AUTH before it is what to fix.
  const auto result = found_in(
      "\"The SMTP server requires a secure connection or the client was not authenticated. The server response was: "
      "5.7.57 Client not authenticated to send mail. Error: 535 5.7.3 Authentication unsuccessful.\"");
  REQUIRE(result.explanations.size() == 2);
  CHECK(result.explanations[0].reply.enhanced == "5.7.3");
  CHECK(result.explanations[1].reply.enhanced == "5.7.57");
  CHECK(result.explanations[1].reply.raw == "5.7.57 Client not authenticated to send mail.");
  // On separate lines the order of appearance holds.
  const auto lines = found_in("530 5.7.57 Client not authenticated to send mail.\n535 5.7.3 Authentication unsuccessful");
  CHECK(lines.explanations.at(0).reply.enhanced == "5.7.57");
}

TEST_CASE("placeholders: filled from the reply, else in words, and commands stay runnable", "[explain][output]") {
  // https://github.com/thunderbird/mailstrom/issues/162: the IP is in the delisting link.
  const auto barracuda = found_in(
      "Diagnostic-Code: smtp;550 Service unavailable; Client host [smtp001.thundermail.com] blocked using Barracuda "
      "Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=5.60.96.9 (zzzzz@domain.com:blocked)");
  const auto& listed = barracuda.explanations.at(0).meaning;
  CHECK(listed.cause.find("5.60.96.9") != std::string::npos);
  CHECK(listed.remedy.at(0).find("`sendcheck blocklist 5.60.96.9`") != std::string::npos);
  // https://github.com/jtojnar/nixfiles/issues/13: the domain and the IP of the SPF check.
  const auto gmail = found_in(
      "550-5.7.26 Your email has been blocked because the sender is unauthenticated. 550-5.7.26 Gmail requires all "
      "senders to authenticate with either SPF or DKIM. 550-5.7.26  SPF [mxproxy.ogion.cz] with ip: "
      "[2a03:3b40:fe:81::1] = did not pass 550 5.7.26 https://support.google.com/mail/answer/81126 x - gsmtp");
  CHECK(gmail.explanations.at(0).meaning.remedy.at(0).find("`sendcheck spf mxproxy.ogion.cz --ip 2a03:3b40:fe:81::1`") !=
        std::string::npos);
  // Without an IP or domain: no garbled sentence, no command with a stand-in.
  for (const char* reply : {"554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
                            "4.7.500 Server busy. Please try again later from [IP]. (S77719)",
                            "550 5.7.26 Unauthenticated email is not accepted from this domain. - gsmtp",
                            "550 5.7.606 Access denied, banned sending IP"}) {
    INFO(reply);
    const auto result = found_in(reply);
    const auto& meaning = result.explanations.at(0).meaning;
    std::vector<std::string> sentences = meaning.remedy;
    sentences.push_back(meaning.cause);
    for (const auto& sentence : sentences) {
      INFO(sentence);
      CHECK(sentence.find("the sending IP the sending") == std::string::npos);
      CHECK(sentence.find("IP the sending IP address") == std::string::npos);
      CHECK(sentence.find('{') == std::string::npos);
      CHECK(sentence.find("DOMAIN") == std::string::npos);
      CHECK(sentence.find(" IP`") == std::string::npos);
      CHECK(sentence.find("blocklist the sending") == std::string::npos);
    }
  }
  const auto words = found_in("554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org");
  CHECK(words.explanations.at(0).meaning.remedy.at(0).find("`sendcheck blocklist` with the sending IP address") !=
        std::string::npos);
}

TEST_CASE("no remedy asks the admin to replace a stand-in", "[explain][output]") {
  // Every entry, as explained from its own example: what the reply does not
  // give is in words, never "<mailbox>", "{login}" or "DOMAIN".
  for (const auto& entry : diag::explain::knowledge_table()) {
    INFO(entry.id);
    const auto result = found_in(entry.example);
    REQUIRE(!result.explanations.empty());
    for (const auto& explanation : result.explanations) {
      std::vector<std::string> sentences = explanation.meaning.remedy;
      sentences.push_back(explanation.meaning.cause);
      for (const auto& sentence : sentences) {
        INFO(sentence);
        CHECK(sentence.find('{') == std::string::npos);
        CHECK(sentence.find("DOMAIN") == std::string::npos);
        for (std::size_t open = sentence.find('<'); open != std::string::npos; open = sentence.find('<', open + 1)) {
          const auto close = sentence.find('>', open);
          // "Printer <printer@contoso.com>" is an example and "<>" the null
          // sender, not stand-ins.
          if (close != std::string::npos && close > open + 1)
            CHECK(sentence.substr(open, close - open).find('@') != std::string::npos);
        }
      }
    }
  }
}

TEST_CASE("a Send As refusal names the addresses in the command it gives", "[explain][output]") {
  // https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
  const auto named = found_in(
      "554 5.2.252 SendAsDenied; scanner@contoso.com not allowed to send as payroll@contoso.com; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied");
  CHECK(named.explanations.at(0).meaning.remedy.at(0).find(
            "`Add-RecipientPermission -Identity payroll@contoso.com -Trustee scanner@contoso.com -AccessRights SendAs`") !=
        std::string::npos);
  CHECK(named.explanations.at(0).details.login == "scanner@contoso.com");
  // The 5.7.60 reply names neither: the command says what to give it.
  const auto unnamed = found_in("550 5.7.60 SMTP; Client does not have permissions to send as this sender");
  CHECK(unnamed.explanations.at(0).meaning.remedy.at(1).find(
            "`Add-RecipientPermission -Identity` with the address the device sends as, then `-Trustee` followed by "
            "the mailbox the device signs in with, then `-AccessRights SendAs`") != std::string::npos);
}

TEST_CASE("a Send As refusal to a personal Outlook.com login gets no tenant command", "[explain][output]") {
  // https://github.com/gophish/gophish/issues/2900
  const auto consumer = found_in(
      "554 5.2.252 SendAsDenied; scanner@hotmail.co.uk not allowed to send as office@contoso.com; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied");
  REQUIRE(consumer.explanations.size() == 1);
  const auto& meaning = consumer.explanations[0].meaning;
  CHECK(meaning.id == "outlook.send-as-denied");
  CHECK(consumer.explanations[0].details.sender == Sender::outlook_com);
  for (const auto& step : meaning.remedy) CHECK(step.find("Add-RecipientPermission") == std::string::npos);
  CHECK(meaning.remedy.at(0).find("scanner@hotmail.co.uk") != std::string::npos);
  // A business domain that merely starts like a consumer brand is a tenant's.
  const auto business = found_in(
      "554 5.2.252 SendAsDenied; scanner@live-events.com not allowed to send as office@contoso.com; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied");
  CHECK(business.explanations.at(0).meaning.id == "m365.send-as-denied");
}

TEST_CASE("a transcript cut before its first command claims no greeting for a reply no greeting can be", "[explain][wrappings]") {
  // https://github.com/jstedfast/MailKit/issues/968: the 550 came after RCPT TO.
  const auto mailkit = found_in("S: 550-Requested action not taken: mailbox unavailable\nS: 550 Failure sending mail.\n");
  REQUIRE(mailkit.explanations.size() == 1);
  CHECK(mailkit.explanations[0].steps.empty());
  // A banner refusal is the greeting (RFC 5321 3.1).
  const auto banner = found_in("S: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked\n");
  CHECK(banner.explanations.at(0).steps == std::vector<std::string>{"greeting"});
}

TEST_CASE("smtplib's debug output is one reply, however often it prints it", "[explain][wrappings]") {
  // https://github.com/The-Login/SMTP-Smuggling-Tools/issues/11 (set_debuglevel(1)), first lines cut by the reporter.
  const auto debug = found_in(
      "send: b'mail FROM:<a@example.org> size=12\\r\\n'\n"
      "reply: b'250 2.1.0 OK\\r\\n'\n"
      "send: b'data\\r\\n'\n"
      "reply: b'550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError 41be03b00d2f7.671 - gsmtp\\r\\n'\n"
      "reply: retcode (550); Msg: b'5.7.1 [192.0.2.7       7] Gmail has detected that this message is\\n5.7.1 likely "
      "unsolicited mail. For more information, go to\\n5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError "
      "41be03b00d2f7.671 - gsmtp'\n"
      "data: (550, b'5.7.1 [192.0.2.7       7] Gmail has detected that this message is\\n5.7.1 likely unsolicited mail. "
      "For more information, go to\\n5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError 41be03b00d2f7.671 - "
      "gsmtp')\n");
  std::size_t failures = 0;
  for (const auto& explanation : debug.explanations)
    if (explanation.reply.code >= 400) {
      ++failures;
      CHECK(explanation.meaning.id == "gmail.message-unsolicited");
      CHECK(explanation.reply.code == 550);
      CHECK(explanation.steps == std::vector<std::string>{"DATA"});
    }
  CHECK(failures == 1);
}

TEST_CASE("the quoted reply keeps none of what follows it", "[explain][wrappings]") {
  // https://github.com/alanrenouf/vCheck-vSphere/issues/523
  const auto powershell = found_in(
      "Exception calling \"Send\" with \"1\" argument(s): \"Mailbox unavailable. The server response was: 5.7.1 Client "
      "does not have permissions to send as this sender\" At C:\\Scripts\\vCheck\\vCheck.ps1:783 char:3 + "
      "$smtpClient.Send($msg)");
  CHECK(powershell.explanations.at(0).reply.raw == "5.7.1 Client does not have permissions to send as this sender");
  // https://github.com/mysociety/writetothem/issues/364
  const auto markdown = found_in("`#550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized`");
  CHECK(markdown.explanations.at(0).reply.raw == "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized");
}

TEST_CASE("the SMTP step that a client library or an MTA names around the reply", "[explain][wrapping]") {
  // https://github.com/nodemailer/nodemailer/issues/922, printed by console.log over lines: the
  // object's "command:" comes after the reply and its other fields.
  CHECK(step_of("Error: Invalid login: 535 5.7.3 Authentication unsuccessful\n"
                "    at SMTPConnection._formatError (smtp-connection.js:528:15)\n"
                "  code: 'EAUTH',\n  response: '535 5.7.3 Authentication unsuccessful',\n"
                "  responseCode: 535,\n  command: 'AUTH LOGIN' }") == Steps{"AUTH"});
  // https://github.com/nodemailer/nodemailer/issues/1060, as a browser console shows the
  // object: "command:" comes first.
  CHECK(step_of("code:\"EAUTH\"\ncommand:\"AUTH PLAIN\"\n"
                "message:\"Invalid login: 504 5.7.4 Unrecognized authentication type\"\n"
                "response:\"504 5.7.4 Unrecognized authentication type\"\nresponseCode:504") == Steps{"AUTH"});
  // https://github.com/cgeo/cgeo/issues/5737: Exim names the step on the line above the reply.
  CHECK(step_of("  SMTP error from remote mail server after end of data:\n"
                "    host aspmx.l.google.com [74.125.133.26]: 550-5.7.1 [193.95.241.239      12] Our system has "
                "detected that this message is\n    550-5.7.1 likely unsolicited mail.\n"
                "    550 5.7.1  https://support.google.com/mail/answer/188131 for more information. - gsmtp") ==
        Steps{"end of DATA"});
  // https://github.com/hestiacp/hestiacp/issues/2901
  CHECK(step_of("    host hotmail-com.olc.protection.outlook.com [104.47.59.161]\n"
                "    SMTP error from remote mail server after pipelined end of data:\n"
                "    550 5.7.1 Unfortunately, messages from [185.234.69.116] weren't sent. Please contact your "
                "Internet service provider since part of their network is on our block list (S3140).") ==
        Steps{"end of DATA"});
  // https://github.com/glpi-project/glpi/issues/458 (PHPMailer)
  CHECK(step_of("SMTP ERROR: AUTH command failed: 504 5.7.4 Unrecognized authentication type") == Steps{"AUTH"});
  // https://github.com/PHPMailer/PHPMailer/issues/313: the password is the AUTH step.
  CHECK(step_of("SMTP ERROR: Password command failed: 535 5.7.3 Authentication unsuccessful") == Steps{"AUTH"});
  // https://github.com/WWBN/AVideo/issues/1017
  CHECK(step_of("SMTP server error: DATA END command failed Detail: 5.7.60 SMTP; Client does not have "
                "permissions to send as this sender\nSMTP code: 550") == Steps{"end of DATA"});
  // https://github.com/muquit/mailsend/issues/159
  CHECK(step_of("Error: MAIL FROM failed: '503 5.5.4 Error: send AUTH command first.") == Steps{"MAIL FROM"});
  // "Connection failed" names no step.
  CHECK(step_of("Connection failed: 421 4.7.0 Try again later").empty());
  // https://github.com/splitbrain/dokuwiki-plugin-smtp/issues/24: "Sent:"/"Got:" lines.
  CHECK(step_of("Got: 220 mail.example.org Microsoft ESMTP MAIL Service ready\nSent: EHLO localhost.localdomain\n"
                "Got: 250-mail.example.org Hello [10.10.2.11]\nGot: 250 XSHADOW\nSent: STARTTLS\n"
                "Got: 500 5.3.3 Unrecognized command") == Steps{"STARTTLS"});
  // An e-mail header "Sent:" is no command.
  CHECK(step_of("Sent: Monday, March 2, 2026 10:00 AM\n550 5.7.1 Unable to relay").empty());
  // https://github.com/mailcow/mailcow/issues/775: a Postfix record pasted without its
  // "host ... said:" line; the wrapped lines end at "(in reply to RCPT TO command)".
  const auto wrapped = found_in(
      "    550-Verification failed for <a@example.com> 550-The mail server could not\n"
      "    deliver mail to <a@example.com>.  The account or domain may not exist, they\n"
      "    may be blacklisted, or missing the proper dns entries. 550 Sender verify\n"
      "    failed (in reply to RCPT TO command)");
  REQUIRE(wrapped.explanations.size() == 1);
  CHECK(wrapped.explanations[0].steps == Steps{"RCPT TO"});
  CHECK(wrapped.explanations[0].reply.text.ends_with("550 Sender verify failed"));
}

TEST_CASE("a nodemailer debug log, and Exim's refusal of an AUTH it did not offer", "[explain][wrapping]") {
  // https://github.com/nodemailer/nodemailer/issues/1081
  const auto result = found_in(" DEBUG [pUzDNyFoiLg] C: EHLO [127.0.0.1]\n"
                               " DEBUG [pUzDNyFoiLg] S: 250-smtp.example.com Hello [127.0.0.1]\n"
                               " DEBUG [pUzDNyFoiLg] S: 250 HELP\n"
                               " DEBUG [pUzDNyFoiLg] C: AUTH PLAIN AHVzZXIAcGFzcw==\n"
                               " DEBUG [pUzDNyFoiLg] S: 503 AUTH command used when not advertised");
  const auto& refusal = reply_with(result, 503, "");
  CHECK(refusal.meaning.id == "smtp.auth-not-advertised");
  CHECK(refusal.steps == std::vector<std::string>{"AUTH"});
  CHECK(refusal.status() == diag::Status::fail);
}

TEST_CASE("a reply whose codes a console wrapped onto the next line", "[explain][wrapping]") {
  const auto split_enhanced = found_in("Error: 550 5.7.\n606 Access denied, banned sending IP [45.79.188.170]");
  CHECK(reply_with(split_enhanced, 550, "5.7.606").meaning.id == "m365.banned-sending-ip");
  const auto split_after_basic = found_in(
      "Remote Server returned '550\n 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.'");
  CHECK(reply_with(split_after_basic, 550, "5.7.708").meaning.id == "m365.ip-not-accepted");
  // The space the console broke at is lost in the paste.
  CHECK(reply_with(found_in("returned '550\n5.7.708 Service unavailable. Access denied, traffic not accepted "
                            "from this IP.'"),
                   550, "5.7.708")
            .meaning.id == "m365.ip-not-accepted");
  // A wrap inside the basic code, or inside the enhanced code's detail.
  CHECK(reply_with(found_in("Remote Server returned '55\n0 5.7.708 Service unavailable. Access denied, traffic not "
                            "accepted from this IP.'"),
                   550, "5.7.708")
            .meaning.id == "m365.ip-not-accepted");
  CHECK(reply_with(found_in("Remote Server returned '550 5.7.7\n08 Service unavailable. Access denied, traffic not "
                            "accepted from this IP.'"),
                   550, "5.7.708")
            .meaning.id == "m365.ip-not-accepted");
  // A number of another class is no part of the reply below it (RFC 3463 2):
  // the permanent 5.7.57 stays permanent, the transient 4.7.0 transient.
  const auto job = found_in("queued as job id 421\n5.7.57 Client not authenticated to send mail.");
  REQUIRE(job.explanations.size() == 1);
  CHECK(job.explanations[0].reply.code == 0);
  CHECK(job.explanations[0].status() == diag::Status::fail);
  const auto retried = found_in("retried 550\n4.7.0 Temporary server error. Please try again later");
  REQUIRE(retried.explanations.size() == 1);
  CHECK(retried.explanations[0].reply.enhanced == "4.7.0");
  CHECK(retried.explanations[0].status() == diag::Status::warn);
  // A number at a line's end that the next line does not complete stays where it is.
  const auto unrelated = found_in("queue size 550\nnext line\n550 5.7.1 Unable to relay");
  REQUIRE(unrelated.explanations.size() == 1);
  CHECK(unrelated.explanations[0].reply.enhanced == "5.7.1");
  CHECK(unrelated.lines == 3);
}

TEST_CASE("a personal Microsoft account's refused password is Outlook.com's, not a tenant's", "[explain][wrapping]") {
  // https://github.com/hassio-addons/app-vaultwarden/issues/402: the account and host are on
  // lines after the reply.
  const std::string reply =
      "SMTP 5xx error: permanent error (535): 5.7.139 Authentication unsuccessful, basic authentication is "
      "disabled. [LO2P265CA0482.GBRP265.PROD.OUTLOOK.COM 2026-02-19T15:42:20.743Z 08DE6F7B77124F67]\n";
  for (const std::string around : {"Host: smtp-mail.outlook.com\nport: 587", "username: someone@hotmail.co.uk"}) {
    const auto consumer = found_in(reply + around);
    INFO(around);
    REQUIRE(consumer.explanations.size() == 1);
    CHECK(consumer.explanations[0].meaning.id == "outlook.basic-auth-disabled");
    CHECK(consumer.explanations[0].details.sender == Sender::outlook_com);
  }
  // A recipient at hotmail.com says nothing about the login.
  const auto business = found_in(reply + "To: friend@hotmail.com");
  REQUIRE(business.explanations.size() == 1);
  CHECK(business.explanations[0].meaning.id == "m365.basic-auth-disabled-by-policy");
  // Without a sign either way, the tenant's meaning says what holds for a personal account.
  const auto& remedy = business.explanations[0].meaning.remedy;
  CHECK(std::any_of(remedy.begin(), remedy.end(),
                    [](const std::string& step) { return step.find("personal Outlook.com") != std::string::npos; }));
}

TEST_CASE("an IP that only a later copy of the reply shows goes into the remedy", "[explain][wrapping]") {
  // https://github.com/JamBrain/JamBrain/issues/271: the bounce hid the IP, its Diagnostic-Code shows it.
  const auto result = found_in(
      "<a@example.com>: host\n"
      "    contoso-com.mail.protection.outlook.com[213.199.154.202] said: 550 5.7.606\n"
      "    Access denied, banned sending IP [****]. To request removal from\n"
      "    this list please visit https://sender.office.com/ and follow the\n"
      "    directions. (AS16012609) (in reply to\n    RCPT TO command)\n"
      "Diagnostic-Code: smtp; 550 5.7.606 Access denied, banned sending IP\n"
      "    [45.79.188.170]. To request removal from this list please visit\n"
      "    https://sender.office.com/ and follow the directions. (AS16012609)\n");
  REQUIRE(result.explanations.size() == 1);
  const auto& found = result.explanations[0];
  CHECK(found.details.ip == "45.79.188.170");
  const auto& remedy = found.meaning.remedy;
  CHECK(std::any_of(remedy.begin(), remedy.end(), [](const std::string& step) {
    return step.find("`sendcheck blocklist 45.79.188.170`") != std::string::npos;
  }));
}

TEST_CASE("PHPMailer 6 puts the codes after the server's words", "[explain][wrapping]") {
  // https://github.com/PHPMailer/PHPMailer/issues/1886
  const auto gmail = found_in(
      "Mailer Error: The following From address failed: mymail : MAIL FROM command failed,Authentication Required. "
      "Learn more at https://support.google.com/mail/?p=WantAuthError o189sm20117163wmo.23 - gsmtp ,530,5.5.1SMTP "
      "server error: MAIL FROM command failed Detail: Authentication Required. Learn more at "
      "https://support.google.com/mail/?p=WantAuthError o189sm20117163wmo.23 - gsmtp SMTP code: 530 Additional SMTP "
      "info: 5.5.1SMTP server error: MAIL FROM command failed Detail: Authentication Required. Learn more at "
      "https://support.google.com/mail/?p=WantAuthError o189sm20117163wmo.23 - gsmtp SMTP code: 530 Additional SMTP "
      "info: 5.5.1");
  const auto& login = reply_with(gmail, 530, "5.5.1");
  CHECK(login.steps == std::vector<std::string>{"MAIL FROM"});
  CHECK(login.details.sender == Sender::gmail);
  CHECK(login.reply.raw.starts_with("530 5.5.1 Authentication Required."));
  // https://github.com/PHPMailer/PHPMailer/issues/1190: the codes on the next line.
  const auto next_line = found_in(
      "The following From address failed: donotreply@example.com : MAIL FROM command failed,Invalid Sender[515]\n"
      "                   \t                  ,550,5.1.0SMTP server error: MAIL FROM command failed Detail: Invalid Sender[515]\n"
      "                   \t                   SMTP code: 550 Additional SMTP info: 5.1.0");
  const auto& sender = reply_with(next_line, 550, "5.1.0");
  CHECK(sender.reply.text == "Invalid Sender[515]");
  CHECK(sender.status() == diag::Status::fail);
  // The same words with Exchange Online's Send As refusal.
  const auto send_as = found_in(
      "SMTP Error: data not accepted. SMTP server error: DATA END command failed Detail: SMTP; Client does not have "
      "permissions to send as this sender [CY4PR1701MB1800.namprd17.prod.outlook.com] SMTP code: 550 Additional SMTP "
      "info: 5.7.60");
  const auto& denied = reply_with(send_as, 550, "5.7.60");
  CHECK(denied.meaning.id == "m365.send-as-not-permitted");
  CHECK(denied.steps == std::vector<std::string>{"end of DATA"});
}

TEST_CASE("the step that an error's name or a log's words give", "[explain][wrapping]") {
  CHECK(step_of("smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, the user credentials "
                "were incorrect.')") == Steps{"AUTH"});
  CHECK(step_of("smtplib.SMTPSenderRefused: (530, b'5.7.0 Authentication Required.', 'a@example.com')") ==
        Steps{"MAIL FROM"});
  CHECK(step_of("com.sun.mail.smtp.SMTPAddressFailedException: 550 5.1.1 User unknown") == Steps{"RCPT TO"});
  CHECK(step_of("MailKit.Security.AuthenticationException: 535: 5.7.3 Authentication unsuccessful") == Steps{"AUTH"});
  CHECK(step_of("postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <a@example.org>: "
                "Relay access denied;") == Steps{"RCPT TO"});
  // https://github.com/iredmail/iRedMail/issues/156
  const auto refused = found_in(
      "postfix/smtp[46829]: 4JfcC62DS0z1c1C: to=<someone@free.fr>, relay=mx2.free.fr[212.27.42.58]:25, "
      "status=deferred (host mx2.free.fr[212.27.42.58] refused to talk to me: 421 Refused. Your reverse DNS entry "
      "does not resolve to an IP.)");
  REQUIRE(refused.explanations.size() == 1);
  CHECK(refused.explanations[0].steps == Steps{"greeting"});
  CHECK(refused.explanations[0].meaning.id == "smtp.reverse-dns-missing");
}

TEST_CASE("smtplib's tuple with the quotes an editor puts in", "[explain][wrapping]") {
  // https://github.com/frappe/bench/issues/1457: a paste where ' became U+2019.
  const auto curly = found_in("smtplib.SMTPDataError: (550, b\xE2\x80\x99" "5.7.60 SMTP; Client does not have permissions to "
                              "send as this sender\xE2\x80\x99)");
  CHECK(reply_with(curly, 550, "5.7.60").status() == diag::Status::fail);
  const auto double_curly = found_in("(535, \xE2\x80\x9C" "5.7.3 Authentication unsuccessful\xE2\x80\x9D)");
  CHECK(reply_with(double_curly, 535, "5.7.3").status() == diag::Status::fail);
}

TEST_CASE("a reply after Exim's debug arrows or a plain 'Response:'", "[explain][wrapping]") {
  // Review 53: Exim -d output and a generic client log.
  const auto exim = found_in("SMTP>> 550 relay not permitted");
  REQUIRE(exim.explanations.size() == 1);
  CHECK(exim.explanations[0].reply.code == 550);
  CHECK(exim.explanations[0].meaning.id == "smtp.relay-denied");
  const auto response = found_in("Response: 535 authentication failed (#5.7.1)");
  REQUIRE(response.explanations.size() == 1);
  CHECK(response.explanations[0].reply.code == 535);
  CHECK(response.explanations[0].reply.enhanced == "5.7.1");
}

TEST_CASE("an enhanced code alone that a console wrapped", "[explain][wrapping]") {
  // Review 53: .NET's message carries no basic code, and PowerShell cut it.
  const auto cut = found_in("Send-MailMessage : Mailbox unavailable. The server response was: 5.7.6\n"
                            "0 SMTP; Client does not have permissions to send as this sender");
  REQUIRE_FALSE(cut.explanations.empty());
  CHECK(cut.explanations[0].reply.enhanced == "5.7.60");
  CHECK(cut.explanations[0].meaning.id == "exchange.send-as-not-permitted");  // no sign of Exchange Online
  // A version number at a line's end, and a line that does not go on with digits, stay apart.
  const auto version = found_in("client version 2.4\nnext line\n550 5.7.1 Unable to relay");
  REQUIRE(version.explanations.size() == 1);
  CHECK(version.explanations[0].reply.enhanced == "5.7.1");
}

TEST_CASE("Exchange's DSN wrapper around the next server's reply is not a reply of its own", "[explain][wrapping]") {
  // Review 60 M8: an Exchange NDR quoting Mimecast's refusal inside "554 5.3.0 < #5.3.0 smtp;...>".
  const auto wrapped = found_in(
      "Remote Server returned '554 5.3.0 < #5.3.0 smtp; 550 Rejected by header based Anti-Spoofing policy: "
      "someone@example.com - https://community.mimecast.com/docs/DOC-1369#550 [VUJUo2t1Pr-x_8v9fCw5Og.uk90]>'");
  REQUIRE(wrapped.explanations.size() == 1);
  CHECK(wrapped.explanations[0].reply.code == 550);
  CHECK(wrapped.explanations[0].meaning.id == "gateway.mimecast-anti-spoofing");
  CHECK(wrapped.explanations[0].reply.text.back() == ']');  // not the wrapper's '>' nor the quote
  // Without the "< #x.y.z smtp;" form, a reply that quotes another stays two findings.
  const auto quoted = found_in("550 5.7.1 Unable to relay smtp; 554 5.7.1 Relay access denied");
  CHECK(quoted.explanations.size() == 2);
}

TEST_CASE("Indy's reply error without codes and smtp-validate-email's recv lines", "[explain][wrapping]") {
  // Review 60 M4/n18: Delphi Indy's EIdSMTPReplyError carries the server's words alone.
  const auto indy = found_in(
      "Error message : \" GMailAuthDemo.exe raised exception class EIdSMTPReplyError with message 'Too many login "
      "attempts, please try again later. b9-20020adfe309000000b0020d0c9c95d3sm2119253wrj.77 - gsmtp\"");
  REQUIRE(indy.explanations.size() == 1);
  CHECK(indy.explanations[0].meaning.id == "gmail.too-many-logins");
  CHECK(indy.explanations[0].reply.code == 454);
  CHECK(indy.explanations[0].reply.codes_inferred);
  CHECK(indy.explanations[0].reply.text.ends_with("gsmtp"));
  // A closed quote and Delphi's full stop end the words; an apostrophe inside them does not.
  const auto closed = found_in("raised exception class EIdSMTPReplyError with message 'Sender address rejected: "
                               "user doesn't exist'.");
  REQUIRE(closed.explanations.size() == 1);
  CHECK(closed.explanations[0].reply.text == "Sender address rejected: user doesn't exist");
  // Review 60 M9.
  const auto recv = found_in("[2018-05-24T06:21:28.568919+0000] <<<recv: 554 Your access to this mail system has "
                             "been rejected due to the sending MTA's poor reputation.");
  REQUIRE(recv.explanations.size() == 1);
  CHECK(recv.explanations[0].meaning.id == "smtp.ip-reputation-refused");
}

TEST_CASE("Yahoo's deferral names its IP without brackets", "[explain][wrapping]") {
  const auto yahoo = found_in("421 4.7.0 [TSS04] Messages from 185.205.69.214 temporarily deferred due to user "
                              "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes");
  REQUIRE(yahoo.explanations.size() == 1);
  CHECK(yahoo.explanations[0].meaning.id == "yahoo.deferred-volume-complaints");
  CHECK(yahoo.explanations[0].details.ip == "185.205.69.214");
}

TEST_CASE("Postfix's own reason when no server reply came", "[explain][wrapping]") {
  // Review 57 M8 (https://github.com/ddavness/power-mailinabox/issues/34).
  const auto tls = found_in(
      "Oct 11 03:58:22 box postfix/smtp[1885]: 7356ABD12E: to=<a@hotmail.com>, "
      "relay=hotmail-com.olc.protection.outlook.com[104.47.2.33]:25, delay=21537, delays=21536/0.08/0.72/0, dsn=4.7.4, "
      "status=deferred (TLS is required, but was not offered by host hotmail-com.olc.protection.outlook.com[104.47.2.33])");
  REQUIRE(tls.explanations.size() == 1);
  const auto& deferred = tls.explanations[0];
  CHECK(deferred.meaning.id == "postfix.tls-required-not-offered");
  CHECK(deferred.reply.code == 0);
  CHECK(deferred.reply.enhanced == "4.7.4");
  // The IP and host in Postfix's words are the receiver's: not the sending IP, not Outlook.com's reply.
  CHECK(deferred.details.ip.empty());
  CHECK(deferred.details.sender == diag::explain::Sender::unknown);
  CHECK(exit_code_for(tls) == diag::exit_finding);
  // A delivered record and one whose parentheses hold a server's reply are not Postfix's own reason.
  CHECK_FALSE(explain_text("Oct 11 03:58:22 box postfix/smtp[1885]: 7356ABD12E: to=<a@b.example>, dsn=2.0.0, "
                           "status=sent (delivered via dovecot service)")
                  .ok());
  const auto said = found_in("postfix/smtp[1]: A: to=<a@b.example>, dsn=5.7.1, status=bounced (host "
                             "mx.b.example[192.0.2.1] said: 550 5.7.1 Unable to relay (in reply to RCPT TO command))");
  REQUIRE(said.explanations.size() == 1);
  CHECK(said.explanations[0].reply.code == 550);
}

TEST_CASE("a Postfix smtpd reject wrapped over indented lines and its envelope", "[explain][wrapping]") {
  // Review 57 M10 (https://github.com/sovereign/sovereign/issues/45).
  const auto sorbs = found_in("Sep 26 18:56:43 vps1 postfix/smtpd[28379]: \n"
                              "    NOQUEUE: reject: RCPT from mail-ie0-f172.google.com[209.85.223.172]:\n"
                              "    554 5.7.1 Service unavailable; Client host [209.85.223.172] blocked\n"
                              "    using dnsbl.sorbs.net; Currently Sending Spam\n"
                              "    See: http://www.sorbs.net/lookup.shtml?209.85.223.172;\n"
                              "    from=<someone@gmail.com> to=<me@example.com>\n"
                              "    proto=ESMTP helo=<mail-ie0-f172.google.com>\n");
  REQUIRE(sorbs.explanations.size() == 1);
  CHECK(sorbs.explanations[0].meaning.id == "smtp.own-server-dnsbl-reject");  // the reader's own smtpd refused Gmail
  CHECK(sorbs.explanations[0].details.sender == Sender::your_server);
  CHECK(sorbs.explanations[0].steps == std::vector<std::string>{"RCPT TO"});
  CHECK(sorbs.explanations[0].reply.raw.find("from=<") == std::string::npos);
  CHECK(sorbs.explanations[0].reply.raw.find("sorbs.net") != std::string::npos);
}

TEST_CASE(".NET names the basic code in words before an enhanced code", "[explain][wrapping]") {
  const auto dotnet = found_in("Mailbox unavailable. The server response was: 5.7.1 Client does not have permissions "
                               "to send as this sender");
  REQUIRE(dotnet.explanations.size() == 1);
  CHECK(dotnet.explanations[0].reply.code == 550);
  CHECK(dotnet.explanations[0].reply.enhanced == "5.7.1");
}
