// sendcheck-explain: the knowledge table, finding replies in every input
// format, dedupe and details, bad input, and the tool's exit codes and JSON.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/explain.h"
#include "smtp_test_support.h"
#include "json_schema.h"

using namespace diag::explain;

namespace {

const std::string fixtures_dir = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/explain/";
const std::string explain_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-explain";

ExplainResult explain_ok(std::string_view input) {
  auto result = explain_text(input);
  INFO(input);
  INFO((result.ok() ? std::string() : result.error().message));
  REQUIRE(result.ok());
  return std::move(result).value();
}

ExplainResult explain_fixture(const std::string& name) {
  auto result = explain_file(fixtures_dir + name);
  INFO(name);
  INFO((result.ok() ? std::string() : result.error().message));
  REQUIRE(result.ok());
  return std::move(result).value();
}

// The id of the one meaning a single reply gets.
std::string id_of(std::string_view reply) {
  const auto result = explain_ok(reply);
  INFO(reply);
  REQUIRE(result.explanations.size() == 1);
  return result.explanations.front().meaning.id;
}

const Explanation& find_id(const ExplainResult& result, std::string_view id) {
  for (const auto& explanation : result.explanations)
    if (explanation.meaning.id == id) return explanation;
  FAIL("no explanation with id " << id);
  throw std::logic_error("unreachable");
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

using ToolRun = smtp_testing::RunResult;

// Runs sendcheck-explain with ARGUMENTS split as a shell would, "< FILE"
// giving FILE on standard input; bounded so that a hang fails the test.
ToolRun run_explain(const std::string& arguments) {
  std::vector<std::string> argv{explain_tool};
  std::string input;
  const auto words = smtp_testing::shell_words(arguments);
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "<" && i + 1 < words.size()) input = smtp_testing::read_file(words[++i]);
    else argv.push_back(words[i]);
  }
  return smtp_testing::run_program(argv, std::chrono::seconds(30), {}, input);
}

}  // namespace

TEST_CASE("the knowledge table is sound", "[explain]") {
  const auto problems = validate_knowledge_table();
  for (const auto& problem : problems) INFO(problem);
  CHECK(problems.empty());
  CHECK(knowledge_table().size() >= 70);
}

TEST_CASE("every table entry's example selects that entry", "[explain]") {
  for (const auto& entry : knowledge_table()) {
    INFO("entry " << entry.id << ": " << entry.example);
    const auto result = explain_ok(entry.example);
    CHECK(result.explanations.front().meaning.id == entry.id);
  }
}

TEST_CASE("a reply quoted inside another is explained too", "[explain]") {
  // Exchange Online quotes the receiving server's own reply in 4.4.317.
  const auto result =
      explain_ok("450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]");
  REQUIRE(result.explanations.size() == 2);
  CHECK(result.explanations[0].meaning.id == "m365.remote-tls-failed");
  CHECK(result.explanations[1].meaning.id == "smtp.starttls-required");
  CHECK(result.explanations[1].reply.raw == "451 5.7.3 STARTTLS is required to send mail");
}

TEST_CASE("a copy of a reply without its basic code is counted under the full reply", "[explain]") {
  // Review 57 M4 (Mailpile's event JSON): the wrapper repeats the reply
  // without "530", once before and once after the full one.
  for (const std::string& input :
       {std::string(R"json({"data": {"last_error": "5.7.0 Must issue a STARTTLS command first (530 5.7.0 Must issue a STARTTLS command first)",)json"
                    R"json( "last_error_details": {"smtp_error": "530: 5.7.0 Must issue a STARTTLS command first"}}})json"),
        std::string("530 5.7.0 Must issue a STARTTLS command first\nError: 5.7.0 Must issue a STARTTLS command first\n")}) {
    INFO(input);
    const auto result = explain_ok(input);
    REQUIRE(result.explanations.size() == 1);
    CHECK(result.explanations[0].reply.code == 530);
    CHECK(result.explanations[0].meaning.id == "smtp.starttls-required");
    CHECK(result.explanations[0].count >= 2);
  }
}

TEST_CASE("a transcript whose server sent nothing after the message is a failure and not all success", "[explain]") {
  // Review 60 M1: PHPMailer before 5.2 prints an empty "SMTP -> FROM SERVER:"
  // when the reply to the end of DATA never came.
  const std::string transcript =
      "SMTP -> FROM SERVER:220 mail.example.com ESMTP Exim 4.92\n"
      "SMTP -> FROM SERVER:250 OK\n"
      "SMTP -> FROM SERVER:354 Enter message, ending with \".\" on a line by itself\n"
      "SMTP -> FROM SERVER:\n"
      "SMTP -> ERROR: DATA not accepted from server:\n";
  const auto result = explain_ok(transcript);
  REQUIRE_FALSE(result.explanations.empty());
  const auto& first = result.explanations.front();
  CHECK(first.meaning.id == "smtp.no-reply");
  CHECK(first.status() == diag::Status::fail);
  CHECK(first.reply.step == "end of DATA");
  // An empty server line anywhere else is no missing reply.
  const auto quiet = explain_ok("SMTP -> FROM SERVER:220 mail.example.com ESMTP\nSMTP -> FROM SERVER:\nSMTP -> FROM SERVER:250 OK\n");
  for (const auto& explanation : quiet.explanations) CHECK(explanation.meaning.id != "smtp.no-reply");
}

TEST_CASE("reference texts select their own entry, not a neighbour", "[explain]") {
  // Each variant of a shared code selects its own entry (the NDR table at
  // https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"550 5.7.30 Basic authentication is not supported for Client Submission.", "m365.basic-auth-retired"},
      {"535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", "m365.auth-unsuccessful"},
      {"451 5.7.3 STARTTLS is required to send mail", "smtp.starttls-required"},
      {"451 5.7.3 STARTTLS is required, 5.7.0 Must issue a STARTTLS command first", "smtp.starttls-required"},
      // 5.7.139: tenant, mailbox, policy, security defaults, Conditional Access, password
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
       "https://aka.ms/smtp_auth_disabled for more information.",
       "m365.smtp-auth-disabled-tenant"},
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit "
       "https://aka.ms/smtp_auth_disabled for more information.",
       "m365.smtp-auth-disabled-mailbox"},
      {"535 5.7.139 Authentication unsuccessful, basic authentication is disabled.", "m365.basic-auth-disabled-by-policy"},
      {"535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. "
       "Contact your administrator.",
       "m365.security-defaults"},
      {"535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
       "successfully. Contact your administrator.",
       "m365.conditional-access"},
      {"535 5.7.139 Authentication unsuccessful, the user credentials were incorrect", "m365.wrong-credentials"},
      {"535 5.7.139 Authentication unsuccessful, something new", "m365.smtp-auth-blocked"},
      // 5.7.57, both texts
      {"530 5.7.57 Client not authenticated to send mail. [MN2PR05CA0004.namprd05.prod.outlook.com]",
       "m365.client-not-authenticated"},
      {"530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM "
       "[SN2PR00CA0018.namprd00.prod.outlook.com]",
       "m365.client-not-authenticated"},
      {"550 5.7.60 SMTP; Client does not have permissions to send as this sender", "exchange.send-as-not-permitted"},
      {"550 5.4.316 Message expired, connection refused(Socket error code 10061)", "m365.expired-connection-refused"},
      // Gmail's DMARC refusal: alignment, not "publish SPF".
      {"550 5.7.26 Unauthenticated email from contoso.com is not accepted due to domain's DMARC policy. Please contact "
       "the administrator of contoso.com domain. - gsmtp",
       "gmail.dmarc-policy"},
      // 5.2.252: SendAsDenied vs the throttle
      {"554 5.2.252 SendAsDenied; x@contoso.com not allowed to send as y@contoso.com; "
       "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied;",
       "m365.send-as-denied"},
      {"550 5.2.252 Sender throttled due to continuous send as denied errors.", "m365.throttled-send-as-denied"},
      {"550 5.2.251 Sender throttled due to continuous mailbox full errors.", "m365.throttled-mailbox-full"},
      {"550 5.2.253 Sender throttled due to continuous invalid license errors.", "m365.throttled-invalid-license"},
      {"550 5.2.254 Sender throttled due to continuous too many recipients errors.", "m365.throttled-too-many-recipients"},
      {"550 5.2.255 Sender throttled due to continuous invalid recipients errors.", "m365.throttled-invalid-recipients"},
      {"550 5.7.64 TenantAttribution; Relay Access Denied", "m365.tenant-attribution-relay-denied"},
      {"451 4.4.62 Mail sent to the wrong Office 365 region. ATTR35.", "m365.wrong-region"},
      {"550 4.4.4 Mail received as unauthenticated, incoming to a recipient domain configured in a hosted tenant "
       "which has no mail-enabled subscriptions. ATTR5",
       "m365.no-mail-subscription"},
      {"550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources",
       "m365.reject-direct-send"},
      // 5.7.606-649 anywhere in the range; 5.7.511
      {"550 5.7.606 Access denied, banned sending IP [203.0.113.7].", "m365.banned-sending-ip"},
      {"550 5.7.649 Access denied, banned sending IP [203.0.113.7].", "m365.banned-sending-ip"},
      {"550 5.7.511 Access denied, banned sender", "m365.banned-sender"},
      // 5.7.700-749 range vs the exact codes inside it
      {"550 5.7.705 Access denied, tenant has exceeded threshold", "m365.tenant-exceeded-threshold"},
      {"550 5.7.708 Access denied, traffic not accepted from this IP", "m365.ip-not-accepted"},
      {"550 5.7.711 Access denied, bad inbound connector. AS(2204)", "m365.bad-inbound-connector"},
      {"550 5.7.749 Access denied", "m365.tenant-blocked"},
      {"550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
       "m365.unregistered-domains"},
      {"550 5.7.233 Your message can't be sent because your tenant exceeded its daily limit for sending email to "
       "external recipients",
       "m365.tenant-external-recipient-limit"},
      {"550 5.7.23 The message was rejected because of Sender Policy Framework violation", "m365.spf-fail"},
      {"550 5.7.509 Access denied, sending domain [CONTOSO.COM] does not pass DMARC verification and has a DMARC "
       "policy of reject.",
       "m365.dmarc-reject"},
      {"550 5.7.515 Access denied, sending domain [CONTOSO.COM] does not meet the required authentication level",
       "outlook.sender-authentication-level"},
      // 5.7.1: relay vs blocklist vs client not authenticated vs recipient restriction
      {"550 5.7.1 Unable to relay", "exchange.unable-to-relay"},
      // https://github.com/elastic/logstash/issues/11556: the mechanism, not the system, and never "try later".
      {"504 5.3.3 AUTH mechanism PLAIN not available", "smtp.auth-mechanism-refused"},
      // https://github.com/iiuni/projektzapisy/issues/727: 2-Step Verification, not a weak mechanism.
      {"534 5.7.9 Application-specific password required. https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
       "gmail.app-password-required"},
      {"550 5.7.1 Unable to relay [BN8NAM12FT004.namprd12.prod.outlook.com 2026-03-02T10:15:42.211Z 08DE5A1B2C3D4E5F]",
       "m365.unable-to-relay"},
      {"530 5.7.1 Client was not authenticated", "smtp.receiver-requires-authentication"},
      {"550 5.7.1 RESOLVER.RST.AuthRequired; authentication required", "m365.recipient-requires-authentication"},
      // 5.7.1 is Exchange Online's only when the reply shows Exchange Online sent it (issue 15):
      // with its front-end suffix, its connection filter; without, another server's DNSBL.
      {"550 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using Blocklist 1 "
       "[DM3NAM03FT051.eop-NAM03.prod.protection.outlook.com]",
       "m365.client-host-blocklisted"},
      {"550 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using Spamhaus", "smtp.dnsbl-listed"},
      {"550 5.7.1 Message rejected as spam [BN8NAM12FT004.namprd12.prod.outlook.com]", "m365.delivery-not-authorized"},
      {"550 5.7.1 Message rejected as spam", "rfc3463.5.7.1"},
      // 5.4.1: DBEB vs relay access denied
      {"550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "m365.recipient-rejected-dbeb"},
      {"550 5.4.1 Relay Access Denied", "m365.relay-access-denied-5-4-1"},
      {"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient a@contoso.com not found by SMTP address lookup",
       "m365.recipient-not-found"},
      {"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "m365.bad-destination-mailbox"},
      {"550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)", "outlook.mailbox-unavailable"},
      {"550 5.5.0 Requested action not taken: mailbox unavailable", "rfc3463.5.5.0"},
      {"451 4.4.316 Connection refused [Message=Socket error code 10061]", "m365.remote-connection-refused"},
      {"450 4.4.317 Cannot establish session with remote server", "m365.remote-tls-failed"},
      // 4.7.500-699 vs 4.7.850-899
      {"451 4.7.500 Access denied, please try again later", "m365.ip-throttled"},
      {"451 4.7.500 Server busy. Please try again later from [203.0.113.7]. (AS843)", "m365.ip-throttled"},
      {"451 4.7.699 Access denied, please try again later", "m365.ip-throttled"},
      {"451 4.7.850 Access denied, please try again later", "m365.ip-under-evaluation"},
      {"451 4.7.899 Access denied, please try again later", "m365.ip-under-evaluation"},
      // DANE (3.7): permanent and while retrying
      {"550 5.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.",
       "m365.dane-starttls-not-supported"},
      {"451 4.7.321 starttls-not-supported: Destination mail server must support TLS to receive mail.",
       "m365.dane-starttls-not-supported"},
      {"550 5.7.322 certificate-expired", "m365.dane-certificate-expired"},
      {"451 4.7.322 certificate-expired", "m365.dane-certificate-expired"},
      {"550 5.7.323 tlsa-invalid", "m365.dane-tlsa-invalid"},
      {"550 5.7.324 dnssec-invalid", "m365.dane-dnssec-invalid"},
      {"451 4.7.325 certificate-host-mismatch", "m365.dane-certificate-host-mismatch"},
      {"454 4.7.5 Certificate validation failure", "m365.certificate-validation-failure"},
      {"450 4.7.320 Certificate validation failed [Message=SubjectMismatch]", "m365.certificate-validation-failure"},
      {"421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit "
       "https://aka.ms/smtp_auth_tls",
       "m365.legacy-tls-rejected"},
      {"550 5.7.124 Sender not in allowed-senders list", "m365.sender-not-allowed-for-group"},
      {"550 5.7.133 Sender not authenticated for group", "m365.group-requires-authenticated-sender"},
      {"550 5.7.134 Sender was not authenticated for mailbox", "m365.mailbox-requires-authenticated-sender"},
      {"550 5.2.121 Recipient's per hour message receive limit from specific sender exceeded.",
       "m365.recipient-rate-from-sender"},
      {"550 5.2.122 Recipient's per hour message receive limit exceeded.", "m365.recipient-rate"},
      {"554 5.2.2 The message can't be submitted because the sender's submission quota was exceeded",
       "m365.submission-quota"},
      {"550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients",
       "m365.submission-quota"},
      {"550 5.1.8 Access denied, bad outbound sender", "m365.bad-outbound-sender"},
      {"452 4.5.3 Too many recipients [BN8NAM12FT004.namprd12.prod.outlook.com]", "m365.too-many-recipients"},
      // A code other servers use too (IANA): Microsoft's meaning only with Microsoft's evidence (review 61).
      {"452 4.5.3 Too many recipients", "rfc3463.4.5.3"},
      {"554 5.4.6 Too many hops", "rfc3463.5.4.6"},
      {"550 5.7.13 User account disabled", "rfc3463.5.7.13"},
      {"503 5.5.2 Send hello first [xx.eop-EUR03.prod.protection.outlook.com]", "m365.send-hello-first"},
      {"501 5.5.4 Invalid domain name [BMXPR01CA0083.INDPRD01.PROD.OUTLOOK.COM 2025-04-26T08:30:11.452Z "
       "08DD8456C3B2A1F0]",
       "m365.invalid-ehlo-domain"},
      {"504 5.7.4 Unrecognized authentication type [SY5P282CA0097.outlook.office365.com]",
       "m365.unrecognized-auth-type"},
      {"500 5.3.3 Unrecognized command", "m365.unrecognized-command"},
      {"235 2.7.0 Authentication successful", "smtp.auth-successful"},
  };
  for (const auto& [reply, id] : cases) {
    INFO(reply);
    CHECK(id_of(reply) == id);
  }
}

TEST_CASE("a shared code without its text falls back, never to a neighbour", "[explain]") {
  // 5.2.2 is "mailbox full" (RFC 3463) unless Exchange Online says quota;
  // the words "mailbox full" are their own entry, whatever the code
  // (Orange writes 5.1.1 for a full mailbox), never Exchange Online's quota.
  CHECK(id_of("552 5.2.2 Mailbox full") == "smtp.mailbox-full");
  CHECK(id_of("552 5.2.2 Message rejected") == "rfc3463.5.2.2");
  // 5.4.1 with neither the DBEB nor the relay text: generic.
  CHECK(id_of("550 5.4.1 No answer from host") == "rfc3463.5.4.1");
  // 5.7.3 that is neither an AUTH failure nor STARTTLS.
  CHECK(id_of("550 5.7.3 Conversion not possible") == "rfc3463.5.7.3");
}

TEST_CASE("any code gets a generic meaning, and any failure reply gives exit 1", "[explain]") {
  const auto addressing = explain_ok("550 5.1.2 Host unknown");
  REQUIRE(addressing.explanations.size() == 1);
  const auto& meaning = addressing.explanations[0].meaning;
  CHECK(meaning.generic());
  CHECK(meaning.id == "rfc3463.5.1.2");
  CHECK(meaning.cause.find("permanent failure") != std::string::npos);
  CHECK(meaning.cause.find("bad destination system address") != std::string::npos);
  CHECK(exit_code_for(addressing) == diag::exit_finding);

  const auto routing = explain_ok("451 4.4.1 No answer from host");
  CHECK(routing.explanations[0].meaning.id == "rfc3463.4.4.1");
  CHECK(routing.explanations[0].status() == diag::Status::warn);
  CHECK(routing.explanations[0].meaning.remedy.front().rfind("Temporary", 0) == 0);

  CHECK(id_of("550 5.9.9 Something odd") == "rfc3463.5.9");
  CHECK(id_of("550 5.7.26 Unauthenticated email is not accepted") == "rfc3463.5.7.26");
  CHECK(id_of("554 Transaction failed") == "rfc5321.554");
  CHECK(id_of("523 5.0.0 Odd code") == "rfc3463.5.0.0");

  // Success replies are fully explained by their generic meaning.
  const auto success = explain_ok("250 2.0.0 OK queued");
  CHECK(success.explanations[0].meaning.generic());
  CHECK(success.explanations[0].status() == diag::Status::info);
  CHECK(exit_code_for(success) == diag::exit_ok);

  // The shared exit rule (issue 12): a failure reply is a finding, explained or not.
  CHECK(exit_code_for(explain_ok("550 5.7.30 Basic authentication is not supported for Client Submission.")) ==
        diag::exit_finding);
}

TEST_CASE("the Exchange Online suffix, IP and AS code become details", "[explain]") {
  const auto result = explain_ok(
      "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [BN8NAM12FT004.namprd12.prod.outlook.com "
      "2026-03-02T10:15:42.211Z 08DE5A1B2C3D4E5F]");
  const auto& explanation = result.explanations.at(0);
  CHECK(explanation.meaning.id == "m365.recipient-rejected-dbeb");
  CHECK(explanation.details.front_end_host == "BN8NAM12FT004.namprd12.prod.outlook.com");
  CHECK(explanation.details.region == "namprd12");
  CHECK(explanation.details.time == "2026-03-02T10:15:42.211Z");
  CHECK(explanation.details.session_id == "08DE5A1B2C3D4E5F");
  CHECK(explanation.details.as_code == "AS201806281");
  // The suffix is not part of the text that is matched and shown.
  CHECK(explanation.reply.text == "Recipient address rejected: Access denied. AS(201806281)");

  ReplyDetails details;
  const auto text = extract_details(
      "Access denied, banned sending IP [203.0.113.7]. To request removal ... (AS16012609)", details);
  CHECK(details.ip == "203.0.113.7");
  CHECK(details.as_code == "AS16012609");
  CHECK(details.front_end_host.empty());
  CHECK(text.find("[203.0.113.7]") != std::string::npos);

  ReplyDetails host_only;
  CHECK(extract_details("Send hello first [xx.eop-EUR03.prod.protection.outlook.com]", host_only) == "Send hello first");
  CHECK(host_only.region == "eop-eur03");

  // The IP is put into the 5.7.606 remedy: sender.office.com and `sendcheck blocklist IP`.
  const auto banned = explain_ok("550 5.7.606 Access denied, banned sending IP [198.51.100.9]. (AS16012609)");
  const auto& remedy = banned.explanations.at(0).meaning.remedy;
  CHECK(remedy.at(0) == "Check what else lists the IP: `sendcheck blocklist 198.51.100.9`.");
  CHECK(std::any_of(remedy.begin(), remedy.end(), [](const std::string& step) {
    return step.find("https://sender.office.com/") != std::string::npos &&
           step.find("198.51.100.9") != std::string::npos;
  }));
}

TEST_CASE("5.7.30 lists every way forward with when it fits", "[explain]") {
  const auto result = explain_ok("550 5.7.30 Basic authentication is not supported for Client Submission.");
  std::string all;
  for (const auto& step : result.explanations.at(0).meaning.remedy) all += step + "\n";
  for (const char* way : {"XOAUTH2", "direct send", "inbound connector", "High Volume Email",
                          "Azure Communication Services", "own organization", "external recipients"})
    CHECK(all.find(way) != std::string::npos);
  const auto not_authenticated = explain_ok("530 5.7.57 Client not authenticated to send mail.");
  const auto& steps = not_authenticated.explanations.at(0).meaning.remedy;
  CHECK(steps.at(0).find("authenticate") != std::string::npos);
  CHECK(steps.at(1).find("MX host on port 25") != std::string::npos);
}

TEST_CASE("an Exchange Online NDR", "[explain]") {
  const auto result = explain_fixture("ndr-5.7.30.txt");
  // Only the reply: not the dates, the Received header, the Content-Length.
  REQUIRE(result.explanations.size() == 1);
  const auto& explanation = result.explanations[0];
  CHECK(explanation.meaning.id == "m365.basic-auth-retired");
  CHECK(explanation.reply.code == 550);
  CHECK(explanation.reply.enhanced == "5.7.30");
  CHECK(explanation.details.region == "namprd12");
  CHECK(explanation.reply.raw.back() == ']');  // the NDR's closing quote is not part of the reply
}

TEST_CASE("Exchange's chained replies are one reply, explained by its outer code", "[explain]") {
  const auto relay_pool = explain_ok(
      "Remote Server returned '550 5.7.367 Remote server returned not permitted to relay -> 554 5.7.1 "
      "<partner@fabrikam.com>: Relay access denied'");
  REQUIRE(relay_pool.explanations.size() == 1);
  const auto& explanation = relay_pool.explanations[0];
  CHECK(explanation.meaning.id == "m365.relay-pool-refused");
  // The downstream refusal stays in the reply, not cut at "->" nor explained as a relay of its own.
  CHECK(explanation.reply.text.find("-> 554 5.7.1 <partner@fabrikam.com>: Relay access denied") != std::string::npos);
  CHECK(explanation.details.sender == Sender::exchange_online);

  // An expiry names its cause in the replies it quotes: each is explained, the outer one whole.
  const auto expired = explain_ok("550 5.4.300 Message expired -> 451 4.4.316 Connection refused [Message=Socket error code "
                                  "10061] -> 421 4.4.2 Connection dropped due to SocketError");
  REQUIRE(expired.explanations.size() == 3);
  const auto* outer = &expired.explanations[0];
  for (const auto& one : expired.explanations)
    if (one.reply.enhanced == "5.4.300") outer = &one;
  CHECK(outer->reply.enhanced == "5.4.300");
  CHECK(outer->reply.text.find("-> 421 4.4.2 Connection dropped") != std::string::npos);
  CHECK(std::any_of(expired.explanations.begin(), expired.explanations.end(),
                    [](const auto& one) { return one.reply.enhanced == "4.4.316" && one.reply.text.find("->") == std::string::npos; }));
  // A transcript's arrow still starts a reply.
  CHECK(explain_ok("MAIL FROM -> 250 2.1.0 Sender OK").explanations.size() == 1);
}

TEST_CASE("a DSN's Diagnostic-Code", "[explain]") {
  const auto result = explain_fixture("dsn-5.7.68.txt");
  REQUIRE(result.explanations.size() == 1);
  CHECK(result.explanations[0].meaning.id == "m365.reject-direct-send");
}

TEST_CASE("a Postfix log: steps, dedupe, joined multi-line replies", "[explain]") {
  const auto result = explain_fixture("postfix.log");
  const auto& not_authenticated = find_id(result, "m365.client-not-authenticated");
  CHECK(not_authenticated.steps == std::vector<std::string>{"MAIL FROM"});
  CHECK(not_authenticated.details.region == "eop-eur03");
  CHECK(not_authenticated.reply.text == "Client not authenticated to send mail.");

  const auto& throttled = find_id(result, "m365.ip-throttled");
  CHECK(throttled.count == 2);
  CHECK(throttled.steps == std::vector<std::string>{"RCPT TO"});
  CHECK(throttled.ips == std::vector<std::string>{"198.51.100.9"});

  const auto& conditional = find_id(result, "m365.conditional-access");
  CHECK(conditional.steps == std::vector<std::string>{"AUTH"});  // "SASL authentication failed"
  // Nothing ends that line's reply but the next log record's time stamp.
  CHECK(conditional.reply.text.find("Mar  3") == std::string::npos);
  CHECK(conditional.details.ip.empty());

  // "550-5.7.606 ... 550 5.7.606 ..." joined on one log line is one reply.
  const auto& banned = find_id(result, "m365.banned-sending-ip");
  CHECK(banned.count == 1);
  CHECK(banned.reply.text.find("For more information") != std::string::npos);
  CHECK(banned.details.ip == "198.51.100.9");
  CHECK(banned.details.as_code == "AS16012609");

  // "status=sent (250 2.0.0 OK <id> ...)" twice, different message ids: one.
  const auto& sent = find_id(result, "rfc3463.2.0.0");
  CHECK(sent.count == 2);
  CHECK(result.replies == 7);
  CHECK(exit_code_for(result) == diag::exit_finding);
}

TEST_CASE("an Exim log names the step before the reply", "[explain]") {
  const auto result = explain_fixture("exim.log");
  REQUIRE(result.explanations.size() == 3);
  CHECK(find_id(result, "m365.recipient-rejected-dbeb").steps == std::vector<std::string>{"RCPT TO"});
  CHECK(find_id(result, "m365.wrong-region").steps == std::vector<std::string>{"MAIL FROM"});
  CHECK(find_id(result, "m365.send-as-denied").steps == std::vector<std::string>{"end of DATA"});
}

TEST_CASE("a sendmail log", "[explain]") {
  const auto result = explain_fixture("sendmail.log");
  REQUIRE(result.explanations.size() == 2);
  // Failures first: the 5.7.57 rejection before the 4.7.66 deferral seen earlier.
  CHECK(result.explanations[0].meaning.id == "m365.client-not-authenticated");
  CHECK(result.explanations[1].meaning.id == "m365.legacy-tls-rejected");
}

TEST_CASE("swaks transcripts: multi-line replies and the step of each", "[explain]") {
  const auto auth = explain_fixture("swaks-auth.txt");
  const auto& refused = find_id(auth, "m365.smtp-auth-disabled-tenant");
  CHECK(refused.steps == std::vector<std::string>{"AUTH"});
  CHECK(refused.details.session_id == "08DE2A6028D26C22");
  CHECK(find_id(auth, "m365.greeting").steps == std::vector<std::string>{"greeting"});
  CHECK(find_id(auth, "smtp.starttls-ready").steps == std::vector<std::string>{"STARTTLS"});
  // The two EHLO replies (before and after TLS) are one reply each, 10
  // lines, and one finding (same code, same meaning) seen twice.
  std::size_t ehlo_replies = 0;
  for (const auto& explanation : auth.explanations) {
    if (explanation.meaning.id != "rfc5321.250") continue;
    ++ehlo_replies;
    CHECK(std::count(explanation.reply.raw.begin(), explanation.reply.raw.end(), '\n') == 9);
    CHECK(explanation.steps == std::vector<std::string>{"EHLO"});
    CHECK(explanation.count == 2);
  }
  CHECK(ehlo_replies == 1);
  CHECK(find_id(auth, "rfc5321.334").count == 2);
  // No credential the client sent appears anywhere in the report.
  const auto json = matches_json(auth).dump();
  CHECK(json.find("c2VjcmV0LXBhc3N3b3Jk") == std::string::npos);
  CHECK(json.find("bWZwLTNmQGNvbnRvc28uY29t") == std::string::npos);

  const auto no_auth = explain_fixture("swaks-no-auth.txt");
  CHECK(find_id(no_auth, "m365.client-not-authenticated").steps == std::vector<std::string>{"MAIL FROM"});
}

TEST_CASE("a transcript without prefixes, and the C:/S: form", "[explain]") {
  const auto plain = explain_fixture("transcript-plain.txt");
  CHECK(find_id(plain, "smtp.sender-ok").steps == std::vector<std::string>{"MAIL FROM"});
  CHECK(find_id(plain, "smtp.recipient-ok").steps == std::vector<std::string>{"RCPT TO"});
  CHECK(find_id(plain, "rfc5321.354").steps == std::vector<std::string>{"DATA"});
  CHECK(find_id(plain, "rfc5321.250").reply.raw.find("250-SIZE 157286400") != std::string::npos);

  const auto xoauth2 = explain_fixture("xoauth2.txt");
  CHECK(find_id(xoauth2, "m365.auth-unsuccessful").steps == std::vector<std::string>{"AUTH"});
}

TEST_CASE("a .NET SmtpException carries the enhanced code and names the basic code in words", "[explain]") {
  const auto result = explain_fixture("dotnet.txt");
  REQUIRE(result.explanations.size() == 1);
  CHECK(result.explanations[0].meaning.id == "m365.client-not-authenticated");
  CHECK(result.explanations[0].reply.code == 530);  // "The SMTP server requires a secure connection or ..."
  CHECK(result.explanations[0].status() == diag::Status::fail);
}

TEST_CASE("a multi-line reply is one reply", "[explain]") {
  const auto result = explain_fixture("multiline.txt");
  REQUIRE(result.explanations.size() == 1);
  const auto& reply = result.explanations[0].reply;
  CHECK(result.explanations[0].meaning.id == "m365.banned-sending-ip");
  CHECK(reply.text ==
        "Access denied, banned sending IP [203.0.113.7]. To request removal from this list please visit "
        "https://sender.office.com/ and follow the directions. For more information please go to "
        "http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609)");
  CHECK(std::count(reply.raw.begin(), reply.raw.end(), '\n') == 2);
  CHECK(result.replies == 1);
}

TEST_CASE("sendcheck JSON: the replies in its strings, with their step", "[explain]") {
  const auto result = explain_fixture("sendcheck.json");
  const auto& refused = find_id(result, "m365.security-defaults");
  CHECK(refused.steps == std::vector<std::string>{"AUTH"});
  // The transcript array is read as lines: the EHLO reply is one reply.
  CHECK(find_id(result, "rfc5321.250").steps == std::vector<std::string>{"EHLO"});
  // "size": 157286400 is a number, not a reply.
  CHECK(result.explanations.size() == 3);

  // JSON Lines, and a document that is not JSON after all.
  const auto lines = explain_ok(
      "{\"event\":\"bounce\",\"diagnostic\":\"smtp; 550 5.7.64 TenantAttribution; Relay Access Denied\"}\n"
      "{\"event\":\"deferred\",\"step\":\"RCPT TO\",\"reply\":\"451 4.7.500 Access denied, please try again later\"}\n");
  CHECK(lines.explanations.at(0).meaning.id == "m365.tenant-attribution-relay-denied");
  CHECK(lines.explanations.at(1).steps == std::vector<std::string>{"RCPT TO"});
  const auto broken = explain_ok("{ not json\n550 5.7.68 TenantInboundAttribution; Direct Send not allowed\n");
  CHECK(broken.explanations.at(0).meaning.id == "m365.reject-direct-send");
}

TEST_CASE("no false replies in timestamps, IPs, sizes and dates", "[explain]") {
  auto result = explain_file(fixtures_dir + "no-reply.log");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == diag::ErrorKind::bad_input);
  CHECK(result.error().message.find("no SMTP reply found") != std::string::npos);

  for (const char* text : {"10.250.1.2 connected", "took 550 ms", "SIZE 157286400", "2026-03-03 08:10:02",
                           "Mon, 27 Mar 2023 18:17:53 +0000", "HTTP/1.1 200 OK", "version 2.0.0-550",
                           "dsn=5.7.1, stat=Service unavailable", "port 587", "a-550 5.7.1 x", "x550 5.7.1 y"}) {
    INFO(text);
    CHECK_FALSE(explain_text(text).ok());
  }
}

TEST_CASE("garbage, binary and empty input are bad input, not a crash", "[explain]") {
  const auto empty = explain_text("");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().kind == diag::ErrorKind::bad_input);
  CHECK(empty.error().message.find("empty") != std::string::npos);

  const auto binary = explain_file(fixtures_dir + "garbage.bin");
  REQUIRE_FALSE(binary.ok());
  CHECK(binary.error().message.find("binary") != std::string::npos);

  const std::string blanks = "\n\n   \n\t\n";
  CHECK_FALSE(explain_text(blanks).ok());
  std::string nul_then_reply(3, '\0');
  nul_then_reply += "\n550 5.7.1 Unable to relay\n";
  CHECK(explain_text(nul_then_reply).ok());  // a reply after binary bytes still counts

  const auto missing = explain_file(fixtures_dir + "does-not-exist.txt");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind == diag::ErrorKind::bad_input);
  const auto directory = explain_file(fixtures_dir);
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().kind == diag::ErrorKind::bad_input);
}

TEST_CASE("very long lines are handled in bounded pieces", "[explain]") {
  std::string input = "550 5.7.68 TenantInboundAttribution; Direct Send not allowed " + std::string(300 * 1024, 'x');
  input += "\n550 5.7.64 TenantAttribution; Relay Access Denied\n";
  input += std::string(200 * 1024, 'y');  // no newline at the end
  const auto result = explain_ok(input);
  CHECK(result.long_lines == 2);
  CHECK(result.explanations.size() == 2);
  CHECK(result.explanations[0].meaning.id == "m365.reject-direct-send");
  CHECK(result.explanations[0].reply.raw.size() <= 2048);
  CHECK(result.explanations[1].meaning.id == "m365.tenant-attribution-relay-denied");
}

TEST_CASE("input in pieces of any size gives the same result", "[explain]") {
  std::ifstream file(fixtures_dir + "postfix.log");
  std::stringstream whole;
  whole << file.rdbuf();
  const auto text = whole.str();
  const auto at_once = explain_ok(text);
  for (std::size_t piece : {1u, 7u, 100u}) {
    Explainer explainer;
    for (std::size_t at = 0; at < text.size(); at += piece) explainer.feed(std::string_view(text).substr(at, piece));
    auto result = explainer.finish();
    REQUIRE(result.ok());
    REQUIRE(result->explanations.size() == at_once.explanations.size());
    for (std::size_t i = 0; i < at_once.explanations.size(); ++i) {
      CHECK(result->explanations[i].meaning.id == at_once.explanations[i].meaning.id);
      CHECK(result->explanations[i].count == at_once.explanations[i].count);
    }
  }
}

TEST_CASE("TEXT arguments: unquoted words are one reply", "[explain]") {
  CHECK(join_arguments({"550", "5.7.30", "Basic", "authentication"}) == "550 5.7.30 Basic authentication");
  CHECK(join_arguments({"550 5.7.30 Basic", "535 5.7.139 x"}) == "550 5.7.30 Basic\n535 5.7.139 x");
}

TEST_CASE("checks and matches follow the JSON contract", "[explain]") {
  const auto result = explain_fixture("postfix.log");
  const auto check_list = checks(result);
  REQUIRE(check_list.size() == result.explanations.size());
  const auto& first = check_list.front();
  CHECK(first.id == "m365.client-not-authenticated");
  CHECK(first.status == diag::Status::fail);
  CHECK(first.message == result.explanations.front().meaning.title);
  CHECK(first.remedy == result.explanations.front().meaning.remedy.front());
  CHECK(find_id(result, "m365.ip-throttled").status() == diag::Status::warn);

  const auto matches = matches_json(result);
  for (const auto& match : matches)
    for (const char* key : {"input", "code", "enhanced", "id", "category", "permanent", "title", "cause", "remedy",
                            "references", "details", "count", "step"})
      CHECK(match.contains(key));
  CHECK(matches[0]["permanent"] == true);
  CHECK(matches[0]["details"]["session_id"] == "08DE5B0000000001");
}

TEST_CASE("sendcheck-explain exit codes, stdin and --json", "[explain]") {
  SECTION("a failure reply, explained or not: exit 1; only success replies: exit 0") {
    const auto run = run_explain("550 5.7.30 Basic authentication is not supported for Client Submission.");
    CHECK(run.exit_code == 1);
    CHECK(run_explain(shell_quote("250 2.1.0 Sender OK")).exit_code == 0);
    // The text names the category and kind; the table's id is only in --json.
    CHECK(run.out.find("authentication \xc2\xb7 permanent-failure") != std::string::npos);
    CHECK(run.out.find("m365.basic-auth-retired") == std::string::npos);
    CHECK(run_explain("--json " + shell_quote("550 5.7.30 Basic authentication is not supported for Client Submission."))
              .out.find("\"m365.basic-auth-retired\"") != std::string::npos);
  }
  SECTION("a 4xx is a failure reply too; UTF-16 from PowerShell is read") {
    CHECK(run_explain(shell_quote("451 4.7.500 Access denied, please try again later")).exit_code == 1);
    char path[] = "/tmp/sendcheck-explain-utf16XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string utf16("\xFF\xFE" "5\0" "5\0" "0\0" " \0" "5\0" ".\0" "7\0" ".\0" "3\0" "0\0" " \0" "x\0", 26);
    REQUIRE(::write(fd, utf16.data(), utf16.size()) == static_cast<ssize_t>(utf16.size()));
    ::close(fd);
    const auto run = run_explain("--json < " + shell_quote(path));
    ::unlink(path);
    CHECK(run.exit_code == 1);
    CHECK(run.out.find("\"m365.basic-auth-retired\"") != std::string::npos);
  }
  SECTION("only a generic meaning: exit 1 too") {
    CHECK(run_explain(shell_quote("550 5.7.26 Unauthenticated email is not accepted")).exit_code == 1);
  }
  SECTION("no reply, missing file, both TEXT and --file, bad option: exit 2") {
    CHECK(run_explain("hello world").exit_code == 2);
    CHECK(run_explain("--file " + shell_quote(fixtures_dir + "missing.log")).exit_code == 2);
    CHECK(run_explain("--file " + shell_quote(fixtures_dir + "garbage.bin")).exit_code == 2);
    CHECK(run_explain("550 5.7.1 x --file " + shell_quote(fixtures_dir + "postfix.log")).exit_code == 2);
    CHECK(run_explain("--no-such-option").exit_code == 2);
    CHECK(run_explain("< /dev/null").exit_code == 2);
  }
  SECTION("stdin and --json") {
    const auto run = run_explain("--json < " + shell_quote(fixtures_dir + "postfix.log"));
    CHECK(run.exit_code == 1);
    const auto document = nlohmann::json::parse(run.out);
    json_schema::check_valid("sendcheck-explain", run.out);
    CHECK(document["tool"] == "sendcheck-explain");
    CHECK(document.contains("version"));
    CHECK(document["status"] == "fail");
    CHECK(document["checks"].size() == document["matches"].size());
    CHECK(document["matches"][0]["id"] == "m365.client-not-authenticated");
    CHECK(document["matches"][0]["step"] == "MAIL FROM");
  }
  SECTION("--file - reads stdin; --json of a generic reply") {
    const auto run = run_explain("--json --file - < " + shell_quote(fixtures_dir + "exim.log"));
    CHECK(run.exit_code == 1);
    CHECK(nlohmann::json::parse(run.out)["matches"].size() == 3);
    const auto generic = run_explain("--json " + shell_quote("451 4.4.1 No answer from host"));
    CHECK(generic.exit_code == 1);
    const auto document = nlohmann::json::parse(generic.out);
    json_schema::check_valid("sendcheck-explain", generic.out);
    CHECK(document["status"] == "warn");
    CHECK(document["matches"][0]["generic"] == true);
  }
}
