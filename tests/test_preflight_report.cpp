// sendcheck-preflight's --markdown, --method auto and --batch: the renderers
// and the method table unit by unit, then the tool against the zone overlay
// and our SMTP server in its exo-mx profile, as in test_preflight.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "diag/preflight.h"
#include "diag/strings.h"
#include "fixture_zones.h"
#include "preflight_test_support.h"

using namespace diag;
using namespace smtp_testing;
using namespace preflight_testing;

namespace {


// The options every run here shares: local DNS answers and the local MX.
std::vector<std::string> local(const Mx& mx, std::vector<std::string> argv) {
  argv.insert(argv.begin(), preflight_tool);
  for (const std::string& arg : {std::string("--zone"), zone, std::string("--zone"), lists, std::string("--smtp-host"), std::string("127.0.0.1"),
                                 std::string("--smtp-port"), std::to_string(mx.server->port()), std::string("--ca"), mx.ca_file,
                                 std::string("--timeout"), std::string("2")})
    argv.push_back(arg);
  return argv;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Pipes that separate cells: not preceded by a backslash.
std::size_t cell_separators(const std::string& line) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < line.size(); ++i)
    if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++count;
  return count;
}

const preflight::MethodFit& fit_of(const preflight::Recommendation& r, preflight::Method method) {
  for (const auto& fit : r.methods)
    if (fit.method == method) return fit;
  FAIL("no method in the recommendation");
  return r.methods.front();
}

bool mentions(const std::vector<std::string>& reasons, const std::string& text) {
  return std::any_of(reasons.begin(), reasons.end(), [&](const std::string& r) { return r.find(text) != std::string::npos; });
}

}  // namespace

// ---------------------------------------------------------------------------
// --markdown

TEST_CASE("Markdown cells escape pipes and line breaks", "[preflight]") {
  CHECK(preflight::markdown_cell("a|b") == "a\\|b");
  CHECK(preflight::markdown_cell("one\ntwo\r\nthree\rfour") == "one<br>two<br>three<br>four");
  CHECK(preflight::markdown_cell("plain text") == "plain text");
}

TEST_CASE("Markdown report: header, verdict, rows that need action first, next steps, SPF record in a code block", "[preflight]") {
  preflight::Plan plan;
  plan.domain = "contoso.example";
  plan.from = "s@contoso.example";
  plan.from_domain = "contoso.example";
  preflight::Outcome outcome;
  outcome.steps = {preflight::Step{"spf", preflight::StepState::failed, "SPF fail for 203.0.113.40", ""}};
  outcome.verdict = preflight::decide("Direct send from 203.0.113.40", outcome.steps);
  preflight::Section spf{"spf", "SPF (contoso.example)", {}};
  spf.checks.push_back(Check{"spf.record", Status::pass, "one record", "never shown for a pass", {}});
  spf.checks.push_back(Check{"spf.result", Status::fail, "SPF fail | decided by -all\nsecond line", "Publish it | now for <mailbox>", {}});
  spf.checks.push_back(preflight::skipped("spf.other", "not run"));
  outcome.sections.push_back(spf);
  outcome.next_steps = preflight::next_steps_for(outcome.sections);
  outcome.spf_record = "v=spf1 ip4:203.0.113.40 include:spf.protection.outlook.com -all";

  const std::string md = preflight::render_markdown(outcome, plan);
  INFO(md);
  const auto lines = lines_of(md);
  REQUIRE(lines.size() > 10);
  CHECK(lines[0] == "## Preflight: WILL NOT WORK");
  CHECK(md.find("- Date: ") != std::string::npos);
  CHECK(md.find("- Tool: sendcheck-preflight ") != std::string::npos);
  CHECK(md.find("- From: `s@contoso.example`") != std::string::npos);
  CHECK(md.find("**WILL NOT WORK**: Direct send from `203.0.113.40` will not work: SPF fail for `203.0.113.40`") != std::string::npos);
  const auto header = std::find(lines.begin(), lines.end(), "| Status | Check | Evidence | Remedy |");
  REQUIRE(header != lines.end());
  CHECK(*(header + 1) == "|---|---|---|---|");
  // The failing row first; four cells despite the pipes and newlines inside;
  // a placeholder in angle brackets survives rendering.
  const std::string fail_row = *(header + 2);
  CHECK(cell_separators(fail_row) == 5);
  CHECK(fail_row == "| FAIL | SPF (contoso.example): `spf.result` | SPF fail \\| decided by -all second line | Publish it \\| now for `<mailbox>` |");
  CHECK(*(header + 3) == "| PASS | SPF (contoso.example): `spf.record` | one record |  |");
  CHECK((header + 4)->starts_with("| SKIP | "));
  CHECK(md.find("### Next steps\n\n1. Publish it | now for `<mailbox>`\n") != std::string::npos);
  CHECK(md.find("### SPF record to publish for contoso.example\n\n```\nv=spf1 ip4:203.0.113.40 include:spf.protection.outlook.com -all\n```\n") !=
        std::string::npos);
}

TEST_CASE("Markdown text: records, commands and addresses in code spans, angle brackets escaped", "[preflight]") {
  CHECK(preflight::markdown_text("Publish v=spf1 ip4:192.0.2.1 -all, then wait.") == "Publish `v=spf1 ip4:192.0.2.1 -all`, then wait.");
  CHECK(preflight::markdown_text("Run Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false.") ==
        "Run `Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false`.");
  CHECK(preflight::markdown_text("The MX mx1.pphosted.com (a gateway) for a@contoso.example") ==
        "The MX `mx1.pphosted.com` (a gateway) for `a@contoso.example`");
  CHECK(preflight::markdown_text("a <b> c") == "a `<b>` c");
  CHECK(preflight::markdown_text("x < y") == "x &lt; y");
  // A placeholder with spaces stays one code span.
  CHECK(preflight::markdown_text("Use <ACS resource>.<Entra app ID>.<Entra tenant ID> (or with '|').") ==
        "Use `<ACS resource>.<Entra app ID>.<Entra tenant ID>` (or with '|').");
  // A record's code span holds its terms only, never the prose after it (RFC 7208 4.6.1 terms).
  CHECK(preflight::markdown_text("Publish v=spf1 ip4:192.0.2.1 include:spf.protection.outlook.com -all (verified: it passes) and delete the others.") ==
        "Publish `v=spf1 ip4:192.0.2.1 include:spf.protection.outlook.com -all` (verified: it passes) and delete the others.");
  // A sendcheck command is one code span, up to the prose after it.
  CHECK(preflight::markdown_text("Merge them; sendcheck spf contoso.example --ip 192.0.2.1 --suggest writes the merged record.") ==
        "Merge them; `sendcheck spf contoso.example --ip 192.0.2.1 --suggest` writes the merged record.");
  CHECK(preflight::markdown_text("It does not help (sendcheck explain 5.7.30).") == "It does not help (`sendcheck explain 5.7.30`).");
  // A cmdlet's span ends before prose in parentheses, and starts inside an opening one.
  CHECK(preflight::markdown_text("Only then: Set-OrganizationConfig -RejectDirectSend $false (changes take up to 30 minutes).") ==
        "Only then: `Set-OrganizationConfig -RejectDirectSend $false` (changes take up to 30 minutes).");
  CHECK(preflight::markdown_text("Turning it off (Set-OrganizationConfig -RejectDirectSend $false) reopens it.") ==
        "Turning it off (`Set-OrganizationConfig -RejectDirectSend $false`) reopens it.");
  // Prose after a cmdlet ("shows False", "for a Microsoft 365 group") is not code.
  CHECK(preflight::markdown_text("once Get-OrganizationConfig | Format-List RejectDirectSend shows False") ==
        "once `Get-OrganizationConfig | Format-List RejectDirectSend` shows False");
  CHECK(preflight::markdown_text("or Get-UnifiedGroup for a Microsoft 365 group") == "or `Get-UnifiedGroup` for a Microsoft 365 group");
  // Quotes around a literal stay outside its span; an option keeps its value.
  CHECK(preflight::markdown_text("add \"rua=mailto:dmarc@contoso.example\" to it") == "add \"`rua=mailto:dmarc@contoso.example`\" to it");
  CHECK(preflight::markdown_text("check it with --method relay.") == "check it with `--method relay`.");
  CHECK(preflight::markdown_text("with --egress on the device's network") == "with `--egress` on the device's network");
  // The envelope commands are one span each.
  CHECK(preflight::markdown_text("RCPT TO:<a@contoso.example>: 550 5.7.68 refused") == "`RCPT TO:<a@contoso.example>`: 550 `5.7.68` refused");
  CHECK(preflight::markdown_text("MAIL FROM:<a@contoso.example> skipped") == "`MAIL FROM:<a@contoso.example>` skipped");
  // Unknown modifiers are terms too (RFC 7208 6): a flattened record keeps its date in the span.
  CHECK(preflight::markdown_text("Publish v=spf1 ip4:192.0.2.1 -all flattened=2026-12-02 (verified).") ==
        "Publish `v=spf1 ip4:192.0.2.1 -all flattened=2026-12-02` (verified).");
  CHECK(preflight::markdown_text("Merge them into one record starting with v=spf1 and delete the others.") ==
        "Merge them into one record starting with `v=spf1` and delete the others.");
}

TEST_CASE("Markdown against the exo-mx profile: the failing SPF with its record, --json with it is bad input", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"fourthcoffee.example"}));
  const auto run = run_program(local(*mx, {"fourthcoffee.example", "--ip", "203.0.113.40", "--from", "scanner@fourthcoffee.example", "--to",
                                           "frontdesk@fourthcoffee.example", "--markdown"}));
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.starts_with("## Preflight: WILL NOT WORK\n"));
  CHECK(run.out.find("| FAIL | SPF (fourthcoffee.example): `spf.result` |") != std::string::npos);
  CHECK(run.out.find("```\nv=spf1 ip4:203.0.113.40 include:spf.protection.outlook.com -all\n```") != std::string::npos);
  CHECK(run.out.find("\x1b[") == std::string::npos);  // no terminal colors in a ticket

  const auto both = run_program(local(*mx, {"fourthcoffee.example", "--ip", "203.0.113.40", "--from", "scanner@fourthcoffee.example",
                                            "--markdown", "--json"}));
  CHECK(both.exit_code == 2);
  CHECK(both.err == "sendcheck-preflight: error: --markdown and --json exclude each other\n");
}

// ---------------------------------------------------------------------------
// --method auto

TEST_CASE("auto: a device without TLS sending internally gets direct send", "[preflight]") {
  auto device = preflight::parse_device("none", "none", "internal");
  REQUIRE(device);
  const auto r = preflight::recommend(*device);
  REQUIRE(r.method);
  CHECK(*r.method == preflight::Method::direct_send);
  CHECK(fit_of(r, preflight::Method::relay).fits);
  const auto& smtp_auth = fit_of(r, preflight::Method::smtp_auth);
  CHECK_FALSE(smtp_auth.fits);
  CHECK(mentions(smtp_auth.reasons, "TLS 1.2 or later"));
  CHECK(mentions(smtp_auth.reasons, "does not speak TLS"));
  CHECK(mentions(smtp_auth.reasons, "OAuth"));
  CHECK_FALSE(fit_of(r, preflight::Method::hve).fits);
  CHECK_FALSE(fit_of(r, preflight::Method::acs).fits);
  CHECK(r.methods.size() == 5);
}

TEST_CASE("auto: OAuth with TLS 1.2 and external recipients gets SMTP AUTH, direct send says why not", "[preflight]") {
  const auto r = preflight::recommend(*preflight::parse_device("1.2", "oauth", "external"));
  REQUIRE(r.method);
  CHECK(*r.method == preflight::Method::smtp_auth);
  CHECK(r.why.find("OAuth") != std::string::npos);
  const auto& direct = fit_of(r, preflight::Method::direct_send);
  CHECK_FALSE(direct.fits);
  CHECK(direct.reasons == std::vector<std::string>{"it delivers only to the tenant's own mailboxes"});
  CHECK(fit_of(r, preflight::Method::relay).fits);
  CHECK(fit_of(r, preflight::Method::acs).fits);
  CHECK_FALSE(fit_of(r, preflight::Method::hve).fits);
  CHECK(mentions(fit_of(r, preflight::Method::hve).reasons, "internal recipients only"));
}

TEST_CASE("auto: basic authentication only with external recipients gets relay, SMTP AUTH fails only on OAuth", "[preflight]") {
  const auto r = preflight::recommend(*preflight::parse_device("1.2", "basic", "external"));
  REQUIRE(r.method);
  CHECK(*r.method == preflight::Method::relay);
  const auto& smtp_auth = fit_of(r, preflight::Method::smtp_auth);
  REQUIRE(smtp_auth.reasons.size() == 1);
  CHECK(smtp_auth.reasons.front().find("December 2026") != std::string::npos);
  CHECK(fit_of(r, preflight::Method::acs).fits);
  CHECK_FALSE(fit_of(r, preflight::Method::relay).needs.empty());

  // TLS 1.0 and basic, internal: direct send; ACS and HVE need TLS 1.2.
  const auto old = preflight::recommend(*preflight::parse_device("1.0", "basic", "internal"));
  CHECK(*old.method == preflight::Method::direct_send);
  CHECK(mentions(fit_of(old, preflight::Method::acs).reasons, "at most TLS 1.0"));
  // TLS 1.3 and OAuth, internal: SMTP AUTH ranks above direct send.
  CHECK(*preflight::recommend(*preflight::parse_device("1.3", "oauth", "internal")).method == preflight::Method::smtp_auth);
}

TEST_CASE("auto: device descriptions are validated", "[preflight]") {
  CHECK_FALSE(preflight::parse_device("1.4", "none", "internal"));
  CHECK_FALSE(preflight::parse_device("none", "kerberos", "internal"));
  CHECK_FALSE(preflight::parse_device("none", "none", "everyone"));
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {preflight_tool, "contoso.example", "--method", "auto", "--device-tls", "1.4", "--device-auth", "none", "--recipients", "internal",
            "--ip", "203.0.113.25", "--from", "s@contoso.example"},
           {preflight_tool, "contoso.example", "--method", "auto", "--ip", "203.0.113.25", "--from", "s@contoso.example"},
           {preflight_tool, "contoso.example", "--device-tls", "1.2", "--ip", "203.0.113.25", "--from", "s@contoso.example"},
           {preflight_tool, "contoso.example", "--method", "auto", "--device-tls", "none", "--device-auth", "none", "--recipients",
            "internal", "--from", "s@contoso.example"},  // direct send chosen, no --ip
       }) {
    const auto run = run_program(argv);
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-preflight: error: "));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}

TEST_CASE("auto against the exo-mx profile: runs direct send's checks, recommendation first", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  // Run "on the device's network": this machine is seen from --ip.
  const auto egress = serve_egress({"203.0.113.25"});
  const std::vector<std::string> args = {"contoso.example", "--method", "auto", "--device-tls", "none", "--device-auth", "none",
                                         "--ip", "203.0.113.25", "--egress", "--egress-dns", egress->endpoint_v4(),
                                         "--from", "scanner@contoso.example", "--to", "frontdesk@contoso.example",
                                         "--reject-direct-send", "off", "--recipient-kind", "mailbox"};
  auto json_args = args;
  json_args.push_back("--json");
  const auto run = run_program(local(*mx, json_args));
  const auto document = parse(run);
  INFO(document.dump(1));
  CHECK(run.exit_code == 0);
  CHECK(document["method"] == "direct-send");
  CHECK(document["recommendation"]["method"] == "direct-send");
  CHECK(document["recommendation"]["device"] == "no TLS, no authentication, internal recipients");  // recipients from --to
  CHECK(document["checks"][0]["section"] == "method");
  REQUIRE(find_check(document, "method.direct-send"));
  CHECK((*find_check(document, "method.direct-send"))["recommended"] == true);
  CHECK((*find_check(document, "method.smtp-auth"))["fits"] == false);
  CHECK((*find_check(document, "smtp.rcpt"))["status"] == "pass");

  auto text_args = args;
  text_args.push_back("--no-color");
  const auto text = run_program(local(*mx, text_args));
  INFO(text.out);
  CHECK(text.out.starts_with("RECOMMENDED  Direct send (direct-send) for a device with no TLS"));
  CHECK(text.out.find("  smtp-auth: does not fit: it needs STARTTLS with TLS 1.2") != std::string::npos);
  CHECK(text.out.find("  relay: also fits") != std::string::npos);
  CHECK(text.out.find("RECOMMENDED") < text.out.find("WILL WORK"));
}

// ---------------------------------------------------------------------------
// --batch

TEST_CASE("CSV per RFC 4180: quotes, doubled quotes, commas and line breaks inside quotes, CRLF", "[preflight]") {
  auto records = preflight::parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",z\nlast,\n", "f.csv");
  REQUIRE(records);
  REQUIRE(records->size() == 4);
  CHECK((*records)[0].fields == std::vector<std::string>{"a", "b"});
  CHECK((*records)[1].fields == std::vector<std::string>{"x, y", "say \"hi\""});
  CHECK((*records)[1].line == 2);
  CHECK((*records)[2].fields == std::vector<std::string>{"two\nlines", "z"});
  CHECK((*records)[2].line == 4);  // line 3 is blank
  CHECK((*records)[3].line == 6);
  CHECK((*records)[3].fields == std::vector<std::string>{"last", ""});

  auto unclosed = preflight::parse_csv("a,b\nc,\"open\n", "f.csv");
  REQUIRE_FALSE(unclosed);
  CHECK(unclosed.error().message.starts_with("f.csv:2: "));
  auto stray = preflight::parse_csv("a,b\nc,d\"e\n", "f.csv");
  REQUIRE_FALSE(stray);
  CHECK(stray.error().message.starts_with("f.csv:2: "));
  auto after = preflight::parse_csv("a,b\n\"c\"d,e\n", "f.csv");
  REQUIRE_FALSE(after);
  CHECK(after.error().message.starts_with("f.csv:2: "));
}

TEST_CASE("batch: rows checked, summary table, totals, tenants, worst exit, JSON lines", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example", "fourthcoffee.example"}));
  TempDir dir;
  const std::string csv = dir.file("devices.csv",
                                   "domain,method,ip,from,to,site\n"
                                   "contoso.example,direct-send,203.0.113.25,scanner@contoso.example,frontdesk@contoso.example,HQ\n"
                                   "fourthcoffee.example,direct-send,203.0.113.40,scanner@fourthcoffee.example,frontdesk@fourthcoffee.example,Annex\n"
                                   "contoso.example,relay,203.0.113.25,printer@contoso.example,\"frontdesk@contoso.example; ops@contoso.example\",HQ\n");
  // --egress: this machine is seen from 203.0.113.25, so the rows of that
  // address are tested from their network; 203.0.113.40's is not.
  const auto egress = serve_egress({"203.0.113.25"});
  // The tenant's Reject Direct Send, read by the admin: it applies to the direct-send rows only.
  const std::vector<std::string> on_site = {"--egress", "--egress-dns", egress->endpoint_v4(), "--reject-direct-send", "off", "--recipient-kind", "mailbox"};
  auto batch = [&](std::vector<std::string> args) {
    args.insert(args.begin(), on_site.begin(), on_site.end());
    return local(*mx, args);
  };
  const auto run = run_program(batch({"--batch", csv, "--no-color"}), 30s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);  // the worst row: fourthcoffee fails SPF
  CHECK(run.err.empty());     // no progress line: stderr is not a terminal
  const auto lines = lines_of(run.out);
  REQUIRE(lines.size() >= 5);
  CHECK(lines[0].starts_with("Note: column \"site\" ignored"));
  CHECK(lines[1].starts_with("Row  Device (From)"));
  for (const char* column : {"IP", "Domain", "Method", "Verdict", "Reason"}) CHECK(lines[1].find(column) != std::string::npos);
  CHECK(lines[2].starts_with("2    scanner@contoso.example"));
  CHECK(lines[2].find("WILL WORK") != std::string::npos);
  CHECK(lines[3].starts_with("3    scanner@fourthcoffee.example"));
  CHECK(lines[3].find("WILL NOT WORK") != std::string::npos);
  CHECK(lines[3].find("SPF fail for 203.0.113.40") != std::string::npos);
  CHECK(lines[4].find("relay") != std::string::npos);
  CHECK(lines[4].find("NOT VERIFIED") != std::string::npos);  // internal recipients only: the connector is untested
  CHECK(run.out.find("3 rows: 1 will work, 1 will not work, 1 not verified") != std::string::npos);
  CHECK(run.out.find("\ncontoso.example: 2 devices, 1 will work\n") != std::string::npos);

  const auto json = run_program(batch({"--batch", csv, "--json"}), 30s);
  INFO(json.out << json.err);
  CHECK(json.exit_code == 1);
  const auto json_lines = lines_of(json.out);
  REQUIRE(json_lines.size() == 3);
  json_schema::check_valid("sendcheck-preflight", json.out);
  std::vector<int> rows;
  for (const auto& line : json_lines) {
    const auto document = nlohmann::json::parse(line);
    CHECK(document["tool"] == "sendcheck-preflight");
    rows.push_back(document["batch"]["line"].get<int>());
  }
  CHECK(rows == std::vector<int>{2, 3, 4});
  const auto third = nlohmann::json::parse(json_lines[2]);
  CHECK(third["method"] == "relay");
  CHECK(third["to"] == nlohmann::json::array({"frontdesk@contoso.example", "ops@contoso.example"}));
  CHECK((*find_rcpt_check(third, "ops@contoso.example"))["status"] == "pass");
  CHECK(nlohmann::json::parse(json_lines[1])["verdict"]["verdict"] == "will-not-work");

  const auto md = run_program(batch({"--batch", csv, "--markdown"}), 30s);
  INFO(md.out);
  CHECK(md.out.find("| Row | Device (From) | IP | Domain | Method | Verdict | Reason |\n|---|---|---|---|---|---|---|\n| 2 | `scanner@contoso.example` | "
                    "`203.0.113.25` | `contoso.example` | direct-send | WILL WORK |") != std::string::npos);
  CHECK(md.out.find("### contoso.example") != std::string::npos);
}

TEST_CASE("batch: one verified SPF record per tenant for every device, never per-row records that undo each other", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"fourthcoffee.example"}));
  TempDir dir;
  const std::string csv = dir.file("devices.csv",
                                   "domain,method,ip,from,to\n"
                                   "fourthcoffee.example,direct-send,203.0.113.40,scanner@fourthcoffee.example,frontdesk@fourthcoffee.example\n"
                                   "fourthcoffee.example,direct-send,203.0.113.45,printer@fourthcoffee.example,frontdesk@fourthcoffee.example\n"
                                   // A relay row suggests a record for the same domain: published after the
                                   // others, its own would drop both direct-send devices.
                                   "fourthcoffee.example,relay,203.0.113.50,copier@fourthcoffee.example,partner@fabrikam.example\n");
  const auto json = run_program(local(*mx, {"--batch", csv, "--json"}), 30s);
  INFO(json.out << json.err);
  CHECK(json.exit_code == 1);
  const auto json_lines = lines_of(json.out);
  REQUIRE(json_lines.size() == 3);
  std::vector<std::string> records;
  for (const auto& line : json_lines) {
    const auto document = nlohmann::json::parse(line);
    REQUIRE(document["spf_record"].is_string());
    const std::string record = document["spf_record"];
    // Both devices in the one record, and Microsoft's include kept.
    CHECK(record.find("ip4:203.0.113.40") != std::string::npos);
    CHECK(record.find("ip4:203.0.113.45") != std::string::npos);
    CHECK(record.find("include:spf.protection.outlook.com") != std::string::npos);
    records.push_back(record);
    CHECK(document["tenant_spf"]["record"] == record);
    CHECK(document["tenant_spf"]["devices"] == nlohmann::json::array({"203.0.113.40", "203.0.113.45", "203.0.113.50"}));
    // No row's remedy offers a record with only its own address.
    const std::string remedy = (*find_check(document, "spf.result"))["remedy"];
    CHECK(remedy.find(record) != std::string::npos);
    CHECK(remedy.find("every device of this batch") != std::string::npos);
  }
  CHECK(records[0] == records[1]);
  CHECK(records[0] == records[2]);

  const auto text = run_program(local(*mx, {"--batch", csv, "--no-color"}), 30s);
  INFO(text.out);
  CHECK(text.out.find("SPF record to publish for fourthcoffee.example (one record for 203.0.113.40, 203.0.113.45, 203.0.113.50):\n    " + records[0]) !=
        std::string::npos);
  const auto md = run_program(local(*mx, {"--batch", csv, "--markdown"}), 30s);
  CHECK(md.out.find("```\n" + records[0] + "\n```") != std::string::npos);
}

TEST_CASE("batch: the tenant record never keeps a term that lets anyone pass as one of the devices (review 64 M4)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"xenon.example"}));
  TempDir dir;
  // A per-sender exists: term whose name exists for scanner@: any address
  // passes as scanner@xenon.example through it.
  const std::string extra = dir.file("xenon.zone",
                                     "$TTL 3600\n$ORIGIN xenon.example.\n"
                                     "@            MX   0 xenon-example.mail.protection.outlook.com.\n"
                                     "@            TXT  \"v=spf1 exists:%{l}._u.%{d} include:spf.protection.outlook.com -all\"\n"
                                     "scanner._u   A    127.0.0.2\n");
  const std::string csv = dir.file("devices.csv",
                                   "domain,method,ip,from,to\n"
                                   "xenon.example,direct-send,203.0.113.60,scanner@xenon.example,frontdesk@xenon.example\n"
                                   "xenon.example,direct-send,203.0.113.61,copier@xenon.example,frontdesk@xenon.example\n");
  const auto json = run_program(local(*mx, {"--batch", csv, "--zone", extra, "--json"}), 30s);
  INFO(json.out << json.err);
  const auto json_lines = lines_of(json.out);
  REQUIRE(json_lines.size() == 2);
  for (const auto& line : json_lines) {
    const auto document = nlohmann::json::parse(line);
    REQUIRE(document.contains("tenant_spf"));
    const auto& record = document["tenant_spf"]["record"];
    if (record.is_string()) {
      CHECK(record.get<std::string>().find("exists:") == std::string::npos);
      CHECK(record.get<std::string>().find("ip4:203.0.113.60") != std::string::npos);
    }
  }
}

TEST_CASE("batch: semicolon-separated files (spreadsheets in many locales) and per-row SMTP host and port", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  TempDir dir;
  const std::string csv = dir.file("devices.csv",
                                   "domain;method;ip;from;to;smtp_host;smtp_port\n"
                                   "contoso.example;direct-send;203.0.113.25;scanner@contoso.example;frontdesk@contoso.example, ops@contoso.example;127.0.0.1;" +
                                       std::to_string(mx->server->port()) + "\n");
  const auto egress = serve_egress({"203.0.113.25"});
  const auto run = run_program({preflight_tool, "--batch", csv, "--egress", "--egress-dns", egress->endpoint_v4(), "--zone", zone, "--zone", lists,
                                "--ca", mx->ca_file, "--timeout", "2", "--reject-direct-send", "off", "--recipient-kind", "mailbox", "--json"}, 30s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto document = nlohmann::json::parse(lines_of(run.out).at(0));
  CHECK(document["to"] == nlohmann::json::array({"frontdesk@contoso.example", "ops@contoso.example"}));
  CHECK(document["verdict"]["verdict"] == "will-work");
  CHECK(diag::strings::csv_separator("a;b;c\n1,5;2;3\n") == ';');
  CHECK(diag::strings::csv_separator("a,b,\"c;d\"\n") == ',');
}

TEST_CASE("batch: a finding in one row outranks a row that could not complete (exit 1)", "[preflight]") {
  auto mx = serve(smtp::exo_mx_profile({"contoso.example"}));
  std::uint16_t dead_port = 0;
  {
    auto listener = smtp::listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
    REQUIRE(listener);
    dead_port = smtp::local_port(listener->fd);
  }  // closed: DNS questions outside the zone files time out
  TempDir dir;
  const std::string csv = dir.file("mixed.csv",
                                   "to,from,ip,method,domain\n"  // any column order
                                   "a@contoso.example,scanner@contoso.example,203.0.113.66,direct-send,contoso.example\n"
                                   "a@unknown.example,scanner@unknown.example,203.0.113.25,direct-send,unknown.example\n");
  auto argv = local(*mx, {"--batch", csv, "--json", "--dns", "127.0.0.1:" + std::to_string(dead_port)});
  argv.back() = "0.3";  // --timeout
  const auto run = run_program(argv, 30s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto lines = lines_of(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["status"] == "fail");   // listed on Spamhaus ZEN
  CHECK(nlohmann::json::parse(lines[1])["status"] == "error");  // nothing answered for unknown.example
  json_schema::check_valid("sendcheck-preflight", run.out);
}

TEST_CASE("batch: a bad row is bad input naming FILE:LINE, before anything runs (exit 2)", "[preflight]") {
  TempDir dir;
  const std::string bad_ip = dir.file("bad.csv",
                                      "domain,method,ip,from,to\n"
                                      "contoso.example,direct-send,203.0.113.25,scanner@contoso.example,a@contoso.example\n"
                                      "contoso.example,direct-send,not-an-ip,scanner@contoso.example,a@contoso.example\n");
  const std::string short_row = dir.file("short.csv", "domain,method,ip,from,to\n\"contoso.example\",direct-send,203.0.113.25\n");
  const std::string bad_header = dir.file("header.csv", "domain,method,ip,sender,to\n");  // no "from"
  for (const auto& [file, line] : std::vector<std::pair<std::string, int>>{{bad_ip, 3}, {short_row, 2}, {bad_header, 1}}) {
    const auto run = run_program({preflight_tool, "--batch", file, "--zone", zone});
    INFO(run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.starts_with("sendcheck-preflight: error: " + file + ":" + std::to_string(line) + ": "));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK(run.out.empty());
  }
  const auto missing = run_program({preflight_tool, "--batch", dir.path() + "/nope.csv"});
  CHECK(missing.exit_code == 2);
}
