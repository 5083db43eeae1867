// sendcheck-inventory's offline half: the admin's exports read by their real
// headers (encodings, quoting, bounds), the aggregation per sender and IP,
// the tri-state setting, the verdicts and ways forward, the golden report of
// the mock tenant in fixtures/inventory, the SQLite history (two overlapping
// runs, a killed run), and the tool's exit codes.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/inventory.h"
#include "diag/strings.h"
#include "temporary_directory.h"

using namespace diag::inventory;
using namespace std::chrono;

namespace {

const std::string fixture_dir = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/inventory/";
const std::string inventory_tool = std::string(SENDCHECK_BINARY_DIR) + "/bin/sendcheck-inventory";
// The usage report's columns, as Graph's getEmailAppUsageUserDetail CSV writes them.
const std::string usage_report_header =
    "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Mail For Mac,Outlook For Mac,"
    "Outlook For Windows,Outlook For Mobile,Other For Mobile,Outlook For Web,POP3 App,IMAP4 App,SMTP App,Report Period\n";
const sys_days test_today{year{2026} / December / 2};

std::string fixture(const std::string& name) { return fixture_dir + name; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string utf16le_with_bom(const std::string& ascii) {
  std::string out = "\xFF\xFE";
  for (const char c : ascii) out += c, out += '\0';
  return out;
}

std::vector<SignIn> read_signins(const std::string& path) {
  std::vector<SignIn> signins;
  auto read = read_signin_export(path, [&](const SignIn& s) { signins.push_back(s); });
  REQUIRE(read.ok());
  CHECK(read->authenticated_smtp == signins.size());
  return signins;
}

SignIn signin(const std::string& user, const std::string& ip, const std::string& time, std::int64_t code = 0) {
  SignIn s;
  s.user = user;
  s.ip = ip;
  s.time = *parse_date(time.substr(0, 10)) + hours(std::stoi(time.substr(11, 2)));
  s.error_code = code;
  s.client_app = "Authenticated SMTP";
  return s;
}

// The verdicts with SMTP AUTH enabled for the organization and no mailbox rows.
InventoryResult evaluate_org_enabled(const InventoryAggregator& aggregator) {
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  return evaluate(aggregator, tenant, test_today);
}

const SenderFinding* find_sender(const InventoryResult& result, const std::string& user) {
  for (const auto& sender : result.senders)
    if (sender.user == user) return &sender;
  return nullptr;
}

struct ToolRun {
  int exit_code = -1;
  std::string out, err;
};

// The tool with stdout and stderr captured in files (the arguments are
// paths and options without spaces or quotes).
ToolRun run_inventory_tool(const std::vector<std::string>& args) {
  fixtures::TemporaryDirectory scratch("inventory-tool");
  std::string command = "NO_COLOR=1 " + inventory_tool;
  for (const auto& arg : args) command += " '" + arg + "'";
  command += " >" + scratch.path("out") + " 2>" + scratch.path("err") + " </dev/null";
  const int status = std::system(command.c_str());
  ToolRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = slurp(scratch.path("out"));
  run.err = slurp(scratch.path("err"));
  return run;
}

void check_one_error_line(const ToolRun& run) {
  CHECK(run.exit_code == 2);
  CHECK(run.out.empty());
  CHECK(run.err.rfind("sendcheck-inventory: error: ", 0) == 0);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}

InventoryRequest mock_tenant_request() {
  InventoryRequest request;
  request.signin_files = {fixture("InteractiveSignIns_2026-11-01_2026-12-01.csv"),
                          fixture("NonInteractiveSignIns_2026-11-01_2026-12-01.json")};
  request.smtp_auth_report_file = fixture("smtp_auth_clients_report.csv");
  request.usage_report_file = fixture("EmailAppUsageUserDetail_D30.csv");
  request.mailboxes_file = fixture("mailboxes.csv");
  request.transport_config_file = fixture("transportconfig-formatlist.txt");
  request.authentication_policy_file = fixture("authpolicies.csv");
  request.today = test_today;
  return request;
}

}  // namespace

TEST_CASE("Entra sign-in CSV download: only Authenticated SMTP rows, quoted fields, BOM and CRLF", "[inventory]") {
  const auto signins = read_signins(fixture("InteractiveSignIns_2026-11-01_2026-12-01.csv"));
  REQUIRE(signins.size() == 7);  // the Browser row is not SMTP AUTH
  CHECK(signins[0].user == "scanner@contoso.com");
  CHECK(signins[0].ip == "203.0.113.7");
  CHECK(signins[0].user_agent == "BAV2ROPC");
  CHECK(signins[0].error_code == 0);
  CHECK(signins[0].interactivity == Interactivity::interactive);
  CHECK(signins[0].source == SourceKind::signin_export_csv);
  CHECK(signins[0].time == sys_days{year{2026} / November / 3} + hours(7) + minutes(12) + seconds(40));
  // "Printer, lobby" and a failure reason with a line break inside quotes.
  CHECK(signins[4].user == "printer@contoso.com");
  CHECK(signins[4].error_code == 50126);
  CHECK(signins[4].failure_reason ==
        "Error validating credentials due to invalid username or password.\nThe device keeps retrying.");
  CHECK(signins[5].user == "printer@contoso.com");
}

TEST_CASE("Entra sign-in JSON download: signIn objects, non-interactive, other client apps skipped", "[inventory]") {
  const auto signins = read_signins(fixture("NonInteractiveSignIns_2026-11-01_2026-12-01.json"));
  REQUIRE(signins.size() == 3);
  CHECK(signins[0].user == "crm@contoso.com");
  CHECK(signins[0].interactivity == Interactivity::non_interactive);
  CHECK(signins[0].time == sys_days{year{2026} / November / 21} + hours(4) + seconds(1));
  CHECK(signins[2].error_code == 53003);
  CHECK(signins[2].source == SourceKind::signin_export_json);

  SECTION("a Graph page ({\"value\": [...]}) is read too") {
    std::vector<SignIn> got;
    auto read = parse_signin_export_text(
        R"({"@odata.context":"x","value":[{"createdDateTime":"2026-11-01T00:00:00Z","userPrincipalName":"a@contoso.com",)"
        R"("ipAddress":"203.0.113.1","clientAppUsed":"Authenticated SMTP","status":{"errorCode":0}}]})",
        "page.json", [&](const SignIn& s) { got.push_back(s); });
    REQUIRE(read.ok());
    CHECK(got.size() == 1);
  }
  SECTION("a truncated array is an error, not a short success") {
    auto text = slurp(fixture("NonInteractiveSignIns_2026-11-01_2026-12-01.json"));
    text.resize(text.size() / 2);
    auto read = parse_signin_export_text(text, "cut.json", [](const SignIn&) {});
    REQUIRE_FALSE(read.ok());
    CHECK(read.error().kind == diag::ErrorKind::bad_input);
  }
  SECTION("an element larger than the bound is refused") {
    InputLimits limits;
    limits.max_json_element_bytes = 200;
    auto read = parse_signin_export_text(slurp(fixture("NonInteractiveSignIns_2026-11-01_2026-12-01.json")), "big.json",
                                         [](const SignIn&) {}, limits);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.error().message, Catch::Contains("larger than 200 bytes"));
  }
  SECTION("objects that are not sign-ins") {
    auto read = parse_signin_export_text(R"([{"name":"x"}])", "other.json", [](const SignIn&) {});
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.error().message, Catch::Contains("not a sign-in"));
  }
}

TEST_CASE("No sender breaking is a pass only from inputs that show every SMTP AUTH sender", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-coverage");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  const auto eas_only = dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv",
                                  header + "2026-11-03T07:12:40Z,phone@contoso.com,203.0.113.9,Exchange ActiveSync,0\n");
  const auto oauth_report = dir.write("r.csv", "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,"
                                               "Authentication Protocol\napp@contoso.com,contoso.com,0,0,100,5,OAuth\n");
  const auto status_of = [](const nlohmann::json& json, const std::string& id) {
    std::vector<std::string> statuses;
    for (const auto& check : json["checks"])
      if (check["id"] == id) statuses.push_back(check["status"]);
    return statuses;
  };
  SECTION("the counts of one download") {
    auto read = read_signin_export(eas_only, [](const SignIn&) {});
    REQUIRE(read.ok());
    CHECK(read->sign_ins == 1);
    CHECK(read->authenticated_smtp == 0);
    CHECK(read->interactive);
    CHECK_FALSE(read->non_interactive);
    auto json = parse_signin_export_text(R"([{"createdDateTime":"2026-11-01T00:00:00Z","userPrincipalName":"a@contoso.com",)"
                                         R"("clientAppUsed":"Browser","isInteractive":false,"status":{"errorCode":0}}])",
                                         "x.json", [](const SignIn&) {});
    REQUIRE(json.ok());
    CHECK(json->sign_ins == 1);
    CHECK(json->non_interactive);
  }
  SECTION("one unfiltered tab without SMTP sign-ins: a warning, not a pass") {
    const auto run = run_inventory_tool({"--signins", eas_only, "--json"});
    CHECK(run.exit_code == 0);
    const auto json = nlohmann::json::parse(run.out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"warn"});
    CHECK(status_of(json, "inventory.signin-logs") == std::vector<std::string>{"warn"});
    CHECK(status_of(json, "inventory.signin-unfiltered") == std::vector<std::string>{"warn"});
    CHECK(json["status"] == "warn");
  }
  SECTION("both tabs unfiltered: a download stops at a record limit, so no log is whole") {
    const auto other = dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv",
                                 header + "2026-11-03T07:12:40Z,phone@contoso.com,203.0.113.9,Browser,0\n");
    const auto json = nlohmann::json::parse(run_inventory_tool({"--signins", eas_only, "--signins", other, "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"warn"});
    CHECK(status_of(json, "inventory.signin-unfiltered").size() == 2);
  }
  SECTION("both filtered logs, or a report that lists every sender: a pass") {
    const auto interactive = dir.write("InteractiveSignIns_2026-11-02_2026-12-01.csv", header);
    const auto other = dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv", header);
    auto json = nlohmann::json::parse(run_inventory_tool({"--signins", interactive, "--signins", other, "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"pass"});
    CHECK(status_of(json, "inventory.signin-logs").empty());
    json = nlohmann::json::parse(run_inventory_tool({"--signins", interactive, "--signins", other, "--smtp-auth-report", oauth_report,
                                                     "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"pass"});
    // The EAC report lists every sender, but of a period its export does not
    // say (7 days by default): with one log, or alone, not a pass.
    json = nlohmann::json::parse(run_inventory_tool({"--signins", interactive, "--smtp-auth-report", oauth_report, "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"warn"});
    CHECK(status_of(json, "inventory.signin-logs") == std::vector<std::string>{"warn"});
    json = nlohmann::json::parse(run_inventory_tool({"--smtp-auth-report", oauth_report, "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"warn"});
    CHECK_THAT(json.dump(), Catch::Contains("does not say its period"));
  }
  SECTION("a cut row is bad input, not a row of another client app") {
    const auto cut = dir.write("cut.csv", header + "2026-11-03T07:12:40Z,mfp@contoso.com,203.0.113.9,Authenticated SMTP,0\n"
                                                   "2026-11-03T07:12:40Z,mfp@contoso.com\n");
    const auto run = run_inventory_tool({"--signins", cut});
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("line 3: 2 fields where the header has 5"));
  }
  SECTION("a file that does not say its log") {
    const auto unnamed = dir.write("signins.csv", header + "2026-11-03T07:12:40Z,mfp@contoso.com,203.0.113.9,Authenticated SMTP,0\n");
    const auto json = nlohmann::json::parse(run_inventory_tool({"--signins", unnamed, "--json"}).out);
    CHECK(status_of(json, "inventory.will-break") == std::vector<std::string>{"fail"});
    CHECK(status_of(json, "inventory.signin-logs") == std::vector<std::string>{"warn"});
  }
  SECTION("an address that is not one is bad input") {
    const auto bad = dir.write("bad.csv", header + "2026-11-03T07:12:40Z,mfp@contoso.com,999.1.1.1,Authenticated SMTP,0\n");
    const auto run = run_inventory_tool({"--signins", bad});
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("line 2: \"IP address\" is not an IP address: \"999.1.1.1\""));
  }
}

TEST_CASE("Exports in other languages or layouts are refused naming the columns", "[inventory]") {
  const std::string german = "Datum (UTC),Anforderungs-ID,Benutzer,Benutzername,IP-Adresse,Client-App,Status\r\n"
                             "2026-11-01T00:00:00Z,r,S,s@contoso.com,203.0.113.1,Authenticated SMTP,Erfolg\r\n";
  auto read = parse_signin_export_text(german, "Anmeldungen.csv", [](const SignIn&) {});
  REQUIRE_FALSE(read.ok());
  const auto& message = read.error().message;
  CHECK_THAT(message, Catch::Contains("\"Datum (UTC)\""));       // found
  CHECK_THAT(message, Catch::Contains("\"Date (UTC)\""));        // expected
  CHECK_THAT(message, Catch::Contains("only the English column names"));
  CHECK(message.find('\n') == std::string::npos);

  SECTION("a bad value names the file and line") {
    const std::string bad = "Date (UTC),Username,IP address,Client app,Sign-in error code\r\n"
                            "2026-11-01T00:00:00Z,a@contoso.com,203.0.113.1,Authenticated SMTP,0\r\n"
                            "11/02/2026 7:00 AM,a@contoso.com,203.0.113.1,Authenticated SMTP,0\r\n";
    auto bad_read = parse_signin_export_text(bad, "s.csv", [](const SignIn&) {});
    REQUIRE_FALSE(bad_read.ok());
    CHECK_THAT(bad_read.error().message, Catch::StartsWith("s.csv: line 3: \"Date (UTC)\""));
  }
}

TEST_CASE("CSV reading: quotes, line ends, encodings and bounds", "[inventory]") {
  const std::string minimal = "Date (UTC),Username,IP address,Client app,Sign-in error code,User agent\r\n"
                              "2026-11-01T00:00:00Z,a@contoso.com,203.0.113.1,Authenticated SMTP,0,\"x, \"\"y\"\"\"\n"
                              "2026-11-01T01:00:00Z,b@contoso.com,203.0.113.2,Authenticated SMTP,0,z\r";
  const auto read_all_of = [](const std::string& text, const InputLimits& limits = {}) {
    std::vector<SignIn> got;
    auto read = parse_signin_export_text(text, "t.csv", [&](const SignIn& s) { got.push_back(s); }, limits);
    return std::make_pair(std::move(read), std::move(got));
  };
  SECTION("quoted comma and doubled quotes, mixed CRLF/LF/CR") {
    auto [read, got] = read_all_of(minimal);
    REQUIRE(read.ok());
    REQUIRE(got.size() == 2);
    CHECK(got[0].user_agent == "x, \"y\"");
    CHECK(got[1].user_agent == "z");
  }
  SECTION("UTF-8 BOM and UTF-16LE with BOM give the same rows") {
    auto [with_bom, got_bom] = read_all_of("\xEF\xBB\xBF" + minimal);
    auto [utf16, got16] = read_all_of(utf16le_with_bom(minimal));
    REQUIRE(with_bom.ok());
    REQUIRE(utf16.ok());
    REQUIRE(got16.size() == 2);
    CHECK(got16[0].user_agent == "x, \"y\"");
    CHECK(got_bom.size() == 2);
  }
  SECTION("UTF-16 across chunk boundaries, with characters beyond ASCII") {
    std::u16string wide = u"Date (UTC),Username,IP address,Client app,Sign-in error code,User agent\r\n";
    for (int i = 0; i < 3000; ++i)
      wide += u"2026-11-01T00:00:00Z,j\u00f6rg@contoso.com,203.0.113.1,Authenticated SMTP,0,agent \U0001F4E0\r\n";
    std::string bytes = "\xFF\xFE";
    for (const char16_t unit : wide) bytes += static_cast<char>(unit & 0xFF), bytes += static_cast<char>(unit >> 8);
    REQUIRE(bytes.size() > 3 * 64 * 1024);
    auto [read, got] = read_all_of(bytes);
    REQUIRE(read.ok());
    REQUIRE(got.size() == 3000);
    CHECK(got[2999].user == "j\xC3\xB6rg@contoso.com");
    CHECK(got[1234].user_agent == "agent \xF0\x9F\x93\xA0");
  }
  SECTION("saved again by a spreadsheet in a German or French locale: ';' between the columns") {
    std::string semicolons;
    bool quoted = false;
    for (const char c : minimal) {
      if (c == '"') quoted = !quoted;
      semicolons += (!quoted && c == ',') ? ';' : c;
    }
    auto [read, got] = read_all_of("\xEF\xBB\xBF" + semicolons);
    INFO(semicolons);
    REQUIRE(read.ok());
    REQUIRE(got.size() == 2);
    CHECK(got[0].user == "a@contoso.com");
    CHECK(got[0].user_agent == "x, \"y\"");  // the comma inside quotes stays a comma
    CHECK(got[1].ip == "203.0.113.2");
  }
  SECTION("an unterminated quote is an error") {
    auto [read, got] = read_all_of(minimal + "\n2026-11-01T00:00:00Z,c@contoso.com,\"203.0.113.3,Authenticated SMTP,0,z\n");
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.error().message, Catch::Contains("never closed"));
  }
  SECTION("field and record bounds") {
    InputLimits limits;
    limits.max_field_bytes = 16;
    auto [read, got] = read_all_of(minimal, limits);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.error().message, Catch::Contains("a field longer than 16 bytes"));
    InputLimits file_limit;
    file_limit.max_file_bytes = 100;
    auto [too_big, none] = read_all_of(minimal, file_limit);
    REQUIRE_FALSE(too_big.ok());
    CHECK_THAT(too_big.error().message, Catch::Contains("larger than 100 bytes"));
  }
  SECTION("binary input") {
    auto [read, got] = read_all_of(std::string("Date (UTC),Username\n\0\0\0x", 24));
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.error().message, Catch::Contains("NUL bytes"));
  }
}

TEST_CASE("Usage report, EAC report, Get-CASMailbox, Get-TransportConfig and policies", "[inventory]") {
  SECTION("usage report CSV as Graph returns it") {
    std::vector<UsageRow> rows;
    auto read = parse_usage_report_csv(slurp(fixture("EmailAppUsageUserDetail_D30.csv")), "usage.csv",
                                       [&](const UsageRow& r) { rows.push_back(r); });
    REQUIRE(read.ok());
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].user == "ledger@contoso.com");
    CHECK(rows[0].smtp_app);
    CHECK(rows[0].last_activity_date == "2026-11-29");
    CHECK(rows[0].report_period == "30");
    CHECK_FALSE(rows[2].smtp_app);
    CHECK(looks_concealed(rows[1].user));
    CHECK_FALSE(looks_concealed(rows[0].user));
  }
  SECTION("EAC SMTP AUTH clients report, with and without the protocol column") {
    std::vector<SmtpAuthReportRow> rows;
    auto read = read_smtp_auth_report(fixture("smtp_auth_clients_report.csv"),
                                      [&](const SmtpAuthReportRow& r) { rows.push_back(r); });
    REQUIRE(read.ok());
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].messages == 1200);
    CHECK(rows[1].authentication_protocol == "OAuth");
    CHECK(rows[2].tls10_percent == Approx(60));
    rows.clear();
    auto old = parse_smtp_auth_report_text("Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent\n"
                                           "a@contoso.com,contoso.com,0,0,100,7\n",
                                           "old.csv", [&](const SmtpAuthReportRow& r) { rows.push_back(r); });
    REQUIRE(old.ok());
    REQUIRE(rows.size() == 1);
    CHECK_FALSE(rows[0].authentication_protocol.has_value());
  }
  SECTION("Get-CASMailbox as PowerShell 5.1 writes it, UTF-8 and UTF-16LE alike") {
    std::vector<MailboxSetting> utf8, utf16;
    REQUIRE(read_cas_mailboxes(fixture("mailboxes.csv"), utf8).ok());
    REQUIRE(read_cas_mailboxes(fixture("mailboxes-utf16.csv"), utf16).ok());
    REQUIRE(utf8.size() == 6);
    REQUIRE(utf16.size() == 6);
    for (std::size_t i = 0; i < utf8.size(); ++i) {
      CHECK(utf8[i].user == utf16[i].user);
      CHECK(utf8[i].smtp_client_authentication_disabled == utf16[i].smtp_client_authentication_disabled);
    }
    CHECK_FALSE(utf8[0].smtp_client_authentication_disabled.has_value());  // "" = $null
    CHECK(utf8[1].smtp_client_authentication_disabled == true);
    CHECK(utf8[3].smtp_client_authentication_disabled == false);
    std::vector<MailboxSetting> bad;
    auto wrong = parse_cas_mailboxes_text("PrimarySmtpAddress,SmtpClientAuthenticationDisabled\na@contoso.com,Wahr\n",
                                          "m.csv", bad);
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(wrong.error().message, Catch::StartsWith("m.csv: line 2:"));
  }
  SECTION("Get-TransportConfig as Export-Csv, Format-List (UTF-16) and ConvertTo-Json") {
    for (const char* name : {"transportconfig.csv", "transportconfig-formatlist.txt", "transportconfig.json"}) {
      INFO(name);
      auto value = read_transport_config(fixture(name));
      REQUIRE(value.ok());
      CHECK(*value == std::optional<bool>(false));
    }
    CHECK(*parse_transport_config_text("SmtpClientAuthenticationDisabled : True\n", "t.txt") == std::optional<bool>(true));
    auto other = parse_transport_config_text("Name : Transport Settings\nMaxSendSize : 35 MB\n", "t.txt");
    REQUIRE_FALSE(other.ok());
    CHECK_THAT(other.error().message, Catch::Contains("maxsendsize"));
    // Get-CASMailbox has the same column, one row per mailbox: not the organization's setting.
    auto mailboxes = read_transport_config(fixture("mailboxes.csv"));
    REQUIRE_FALSE(mailboxes.ok());
    CHECK(mailboxes.error().kind == diag::ErrorKind::bad_input);
    CHECK_THAT(mailboxes.error().message, Catch::Contains("--mailboxes"));
  }
  SECTION("Get-AuthenticationPolicy") {
    auto policies = read_authentication_policies(fixture("authpolicies.csv"));
    REQUIRE(policies.ok());
    REQUIRE(policies->size() == 2);
    CHECK((*policies)[0].first == "Block Basic Auth");
    CHECK((*policies)[0].second == false);
    auto listed = parse_authentication_policies_text(
        "Name               : No basic\nAllowBasicAuthSmtp : False\n\nName               : Default\nAllowBasicAuthSmtp : True\n",
        "p.txt");
    REQUIRE(listed.ok());
    CHECK(listed->size() == 2);
  }
}

TEST_CASE("Tri-state: effective = mailbox ?? organization", "[inventory]") {
  const auto mailboxes = std::vector<MailboxSetting>{{"on@contoso.com", true}, {"off@contoso.com", false},
                                                     {"inherit@contoso.com", std::nullopt}};
  const auto exposed = [&](std::optional<bool> org) {
    TenantSettings tenant;
    tenant.smtp_client_authentication_disabled = org;
    tenant.mailboxes = mailboxes;
    const auto result = evaluate(InventoryAggregator{}, tenant, test_today);
    std::vector<std::string> users;
    for (const auto& sender : result.senders) {
      CHECK(sender.verdict == Verdict::exposed_unused);
      users.push_back(sender.user);
    }
    return users;
  };
  CHECK(exposed(true) == std::vector<std::string>{"off@contoso.com"});
  CHECK(exposed(false) == std::vector<std::string>{"inherit@contoso.com", "off@contoso.com"});
  // Organization unknown: the inheriting mailbox cannot be judged.
  CHECK(exposed(std::nullopt) == std::vector<std::string>{"off@contoso.com"});
}

TEST_CASE("Verdicts from the evidence", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(signin("works@contoso.com", "203.0.113.7", "2026-11-10T07"));
  aggregator.add(signin("WORKS@contoso.com", "203.0.113.7", "2026-11-20T07"));
  aggregator.add(signin("blocked@contoso.com", "203.0.113.8", "2026-11-10T07", 53003));
  aggregator.add(signin("badpass@contoso.com", "203.0.113.9", "2026-11-10T07", 50126));
  aggregator.add(signin("disabled@contoso.com", "203.0.113.10", "2026-11-10T07"));
  aggregator.add(SmtpAuthReportRow{"modern@contoso.com", std::string("OAuth"), 50, 0, 0, 100});
  aggregator.add(UsageRow{"someone@contoso.com", "2026-11-29", true, "30"});
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes = {{"disabled@contoso.com", true}, {"works@contoso.com", std::nullopt}};
  const auto result = evaluate(aggregator, tenant, test_today);

  const auto* works = find_sender(result, "works@contoso.com");
  REQUIRE(works);
  CHECK(works->verdict == Verdict::will_break);
  CHECK(works->signins == 2);  // case-insensitive: one sender
  CHECK(works->setting.disabled == false);
  CHECK(works->setting.describe() == "SMTP AUTH enabled (follows the organization)");
  CHECK(result.senders.front().verdict == Verdict::will_break);  // will-break first

  const auto* blocked = find_sender(result, "blocked@contoso.com");
  REQUIRE(blocked);
  CHECK(blocked->verdict == Verdict::refused);
  CHECK_THAT(blocked->reason, Catch::Contains("blocked by Conditional Access"));
  CHECK(explain_error_code(53003).confirmed);
  CHECK_FALSE(explain_error_code(50126).confirmed);
  CHECK_THAT(find_sender(result, "badpass@contoso.com")->reason, Catch::Contains("unconfirmed"));

  CHECK(find_sender(result, "disabled@contoso.com")->verdict == Verdict::refused);
  CHECK(find_sender(result, "modern@contoso.com")->verdict == Verdict::oauth);
  const auto* someone = find_sender(result, "someone@contoso.com");
  REQUIRE(someone);
  CHECK(someone->auth == AuthEvidence::unknown);
  CHECK(someone->verdict == Verdict::will_break);
  CHECK_THAT(someone->reason, Catch::Contains("cannot tell basic from OAuth"));
}

TEST_CASE("A sender refused only by a lockout signs in again when it lifts: it will break, and no command carries its addresses", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(signin("mfp@contoso.com", "198.51.100.20", "2026-11-10T07", 50053));
  aggregator.add(signin("mfp@contoso.com", "198.51.100.21", "2026-11-12T07", 50053));
  aggregator.add(signin("guessed@contoso.com", "198.51.100.22", "2026-11-12T07", 50053));
  aggregator.add(signin("guessed@contoso.com", "198.51.100.22", "2026-11-12T08", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* mfp = find_sender(result, "mfp@contoso.com");
  REQUIRE(mfp);
  CHECK(mfp->verdict == Verdict::will_break);
  CHECK_THAT(mfp->reason, Catch::Contains("lockout lifts by itself"));
  for (const auto& way : mfp->way_forward) {
    CHECK(way.command.find("198.51.100.2") == std::string::npos);  // refused addresses need not be the device's
    CHECK(way.ip.empty());
  }
  // A wrong password beside the lockout: refused today.
  CHECK(find_sender(result, "guessed@contoso.com")->verdict == Verdict::refused);
  std::string text;
  make_report(result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, !Catch::Contains("no sender will break"));
}

TEST_CASE("A password tried from many addresses, or working from many, puts no address into a command", "[inventory]") {
  InventoryAggregator aggregator;
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("ceo@contoso.com", "198.51.100." + std::to_string(i), "2026-11-10T07", 50126));
  for (int i = 1; i <= 5; ++i) aggregator.add(signin("payroll@contoso.com", "203.0.113." + std::to_string(150 + i), "2026-11-12T07"));
  aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-12T07"));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* ceo = find_sender(result, "ceo@contoso.com");
  REQUIRE(ceo);
  CHECK(ceo->verdict == Verdict::refused);
  CHECK(ceo->way_forward.empty());
  const auto* payroll = find_sender(result, "payroll@contoso.com");
  REQUIRE(payroll);
  CHECK(payroll->verdict == Verdict::will_break);
  for (const auto& way : payroll->way_forward) {
    CHECK(way.ip.empty());
    CHECK(way.command.find("203.0.113.15") == std::string::npos);
  }
  // One device, one address: its command names it.
  const auto* scanner = find_sender(result, "scanner@contoso.com");
  REQUIRE(scanner);
  CHECK(std::any_of(scanner->way_forward.begin(), scanner->way_forward.end(),
                    [](const WayForward& way) { return way.ip == "203.0.113.7"; }));
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool spraying = false, elsewhere = false;
  for (const auto& check : json["checks"]) {
    spraying |= check["id"] == "inventory.password-spraying" &&
                check["message"].get<std::string>().find("ceo@contoso.com (6 addresses)") != std::string::npos;
    elsewhere |= check["id"] == "inventory.password-used-elsewhere" &&
                 check["message"].get<std::string>().find("payroll@contoso.com (5 addresses)") != std::string::npos;
    if (check["id"] == "inventory.password-used-elsewhere") CHECK(check["message"].get<std::string>().find("scanner@") == std::string::npos);
  }
  CHECK(spraying);
  CHECK(elsewhere);

  // A device in use whose password is also being tried is not told to lose SMTP AUTH now.
  InventoryAggregator in_use;
  for (int i = 1; i <= 6; ++i) in_use.add(signin("printer@contoso.com", "198.51.100." + std::to_string(i), "2026-11-10T07", 50126));
  in_use.add(signin("printer@contoso.com", "203.0.113.7", "2026-11-12T07"));
  const auto printer_json = make_report(evaluate_org_enabled(in_use), OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool named = false;
  for (const auto& check : printer_json["checks"])
    if (check["id"] == "inventory.password-spraying") {
      named = true;
      CHECK_THAT(check["message"].get<std::string>(), Catch::Contains("or a device locked out): printer@contoso.com"));
      CHECK_THAT(check["remedy"].get<std::string>(), !Catch::Contains("-SmtpClientAuthenticationDisabled $true") &&
                                                         Catch::Contains("Do not turn SMTP AUTH off"));
    }
  CHECK(named);
}

TEST_CASE("A sender refused since its last success says so, not that nothing blocks it", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-10T07"));
  aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-15T07"));
  aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-20T07", 53003));
  aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-30T07", 53003));
  aggregator.add(signin("steady@contoso.com", "203.0.113.8", "2026-11-10T07", 50126));
  aggregator.add(signin("steady@contoso.com", "203.0.113.8", "2026-11-30T07"));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* scanner = find_sender(result, "scanner@contoso.com");
  REQUIRE(scanner);
  CHECK(scanner->verdict == Verdict::will_break);
  CHECK_THAT(scanner->reason, Catch::Contains("until 2026-11-15T07:00:00Z, and every sign-in since failed") &&
                                  Catch::Contains("53003") && !Catch::Contains("nothing known blocks it"));
  // A failure before the last success changes nothing.
  CHECK_THAT(find_sender(result, "steady@contoso.com")->reason, Catch::Contains("nothing known blocks it"));
}

TEST_CASE("User names from the logs are one quoted word in every printed command", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(signin("o'brien@contoso.com", "203.0.113.44", "2026-11-10T07"));
  aggregator.add(signin("svc$(touch x)@contoso.com", "203.0.113.45", "2026-11-10T07"));
  aggregator.add(signin("=HYPERLINK(1)@contoso.com", "203.0.113.46", "2026-11-10T07"));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* obrien = find_sender(result, "o'brien@contoso.com");
  REQUIRE(obrien);
  REQUIRE_FALSE(obrien->way_forward.empty());
  CHECK_THAT(obrien->way_forward.front().command, Catch::Contains("--from 'o'\\''brien@contoso.com'"));
  const auto* injected = find_sender(result, "svc$(touch x)@contoso.com");
  REQUIRE(injected);
  for (const auto& way : injected->way_forward) {
    CHECK(way.command.find(" svc$(") == std::string::npos);
    CHECK_THAT(way.command, Catch::Contains("'svc$(touch x)@contoso.com'"));
  }
  CHECK(diag::strings::shell_word("scanner@contoso.com") == "scanner@contoso.com");
  CHECK(diag::strings::powershell_word("o'brien@contoso.com") == "'o''brien@contoso.com'");
  CHECK(diag::strings::powershell_word("a,b@contoso.com") == "'a,b@contoso.com'");
  // PowerShell reads a typographic quote as ' too.
  CHECK(diag::strings::powershell_word("ann\u2019; Remove-Mailbox ceo\u2019@contoso.com") ==
        "'ann\u2019\u2019; Remove-Mailbox ceo\u2019\u2019@contoso.com'");
  std::string csv;
  make_report(result, OutputFormat::csv, &csv, diag::TextStyle{});
  CHECK(csv.find("\n=HYPERLINK") == std::string::npos);
  CHECK_THAT(csv, Catch::Contains("'=HYPERLINK(1)@contoso.com"));
}

TEST_CASE("What refuses OAuth too is said where OAuth is the way", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(SmtpAuthReportRow{"lob@contoso.com", std::string("OAuth"), 5, 0, 0, 100});
  aggregator.add(signin("ca@contoso.com", "203.0.113.8", "2026-11-10T07", 53003));
  aggregator.add(signin("ca@contoso.com", "203.0.113.8", "2026-11-11T07"));
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = true;  // the organization's switch is off
  tenant.mailboxes = {{"lob@contoso.com", true}};       // ca@ has no mailbox row: its own setting is unknown
  const auto result = evaluate(aggregator, tenant, test_today);
  // An OAuth sender refused by the switch gets the one-line fix.
  const auto* lob = find_sender(result, "lob@contoso.com");
  REQUIRE(lob);
  CHECK(lob->verdict == Verdict::refused);
  REQUIRE(lob->way_forward.size() == 1);
  CHECK_THAT(lob->way_forward[0].why,
             Catch::Contains("Set-CASMailbox -Identity lob@contoso.com -SmtpClientAuthenticationDisabled $false"));
  // Unknown own setting under a disabled organization, and a 53003: both
  // refuse the OAuth sign-in as well.
  const auto* ca = find_sender(result, "ca@contoso.com");
  REQUIRE(ca);
  REQUIRE_FALSE(ca->way_forward.empty());
  CHECK(ca->way_forward[0].method == "oauth");
  CHECK_THAT(ca->way_forward[0].why, Catch::Contains("if it follows the organization, OAuth is refused too"));
  CHECK_THAT(ca->way_forward[0].why, Catch::Contains("Conditional Access blocked some of its sign-ins (53003)"));
}

TEST_CASE("Ways forward come with the preflight command that verifies them", "[inventory]") {
  SenderFinding sender;
  sender.user = "scanner@contoso.com";
  sender.verdict = Verdict::will_break;
  IpActivity public_ip, private_ip;
  public_ip.ip = "203.0.113.7";
  private_ip.ip = "10.1.2.3";
  sender.ips = {public_ip, private_ip};
  auto ways = ways_forward(sender);
  REQUIRE(ways.size() == 5);  // oauth, direct-send and relay for the public IP, hve, acs
  CHECK(ways[0].method == "oauth");
  CHECK(ways[0].command ==
        "sendcheck preflight contoso.com --method smtp-auth --from scanner@contoso.com --oauth-token-file TOKEN-FILE --device-auth oauth");
  CHECK(ways[1].command ==
        "sendcheck preflight contoso.com --method direct-send --ip 203.0.113.7 --egress --from scanner@contoso.com --to "
        "RECIPIENT@contoso.com --reject-direct-send ON-OR-OFF --recipient-kind KIND");
  // The recipient is the admin's to fill in: a device's own mailbox says nothing of the ones it mails.
  CHECK_THAT(ways[1].why, Catch::Contains("for RECIPIENT an address the device really mails"));
  // What decides direct send after DATA is the tenant's to read, and said how.
  CHECK_THAT(ways[1].why, Catch::Contains("Get-OrganizationConfig | Format-List RejectDirectSend"));
  CHECK(ways[2].method == "relay");
  CHECK_THAT(ways[1].why, Catch::Contains("Not from 10.1.2.3, which is a private address"));
  for (const auto& way : ways) CHECK(way.command.find("10.1.2.3") == std::string::npos);

  // A connector matches the session's address: its check runs on the device's network.
  CHECK(ways[2].command ==
        "sendcheck preflight contoso.com --method relay --ip 203.0.113.7 --egress --from scanner@contoso.com --to someone@example.org");
  CHECK(ways[2].ip == "203.0.113.7");

  SECTION("old TLS puts the paths that do not need TLS 1.2 first, OAuth after them") {
    sender.smtp_auth_report = SmtpAuthReportRow{"scanner@contoso.com", std::string("Basic"), 25, 60, 0, 40};
    sender.ips = {};
    sender.ips.push_back(public_ip);
    auto old = ways_forward(sender);
    CHECK(old[0].method == "direct-send");
    CHECK(old[1].method == "relay");
    CHECK(old[2].method == "oauth");
    CHECK_THAT(old[2].why, Catch::Contains("needs TLS 1.2"));
    CHECK_THAT(old[0].command, Catch::EndsWith(" --device-tls 1.0"));
    // Exchange Online refuses TLS 1.0: the device sends to the MX with STARTTLS off.
    CHECK_THAT(old[0].why, Catch::Contains("STARTTLS turned off on the device"));
    CHECK(old[0].why.find("TLS optional") == std::string::npos);
  }
  SECTION("the tenant's initial domain: direct send only with a From in a domain of the admin's") {
    sender.user = "scanner@contoso.onmicrosoft.com";
    auto initial = ways_forward(sender);
    const auto direct = std::find_if(initial.begin(), initial.end(), [](const WayForward& w) { return w.method == "direct-send"; });
    REQUIRE(direct != initial.end());
    CHECK_THAT(direct->why, Catch::Contains("SPF record Microsoft manages"));
    // The recipient in the same domain: preflight knows only the From's domain as the tenant's.
    CHECK(direct->command == "sendcheck preflight YOUR-DOMAIN --method direct-send --ip 203.0.113.7 --egress --from DEVICE@YOUR-DOMAIN "
                             "--to RECIPIENT@YOUR-DOMAIN --reject-direct-send ON-OR-OFF --recipient-kind KIND");
    CHECK(direct->ip.empty());  // nothing --preflight can check: the domain is the admin's choice
    // Relay keeps the initial domain: the connector admits any accepted domain.
    CHECK(std::any_of(initial.begin(), initial.end(), [](const WayForward& w) { return w.method == "relay" && w.ip == "203.0.113.7"; }));
  }
  SECTION("an address whose every sign-in failed gets no SPF or connector command, beside one that works") {
    IpActivity works = public_ip, sprayed;
    works.signins = works.successes = 3;
    sprayed.ip = "198.51.100.200";
    sprayed.signins = sprayed.failures = 40;
    sender.ips = {works, sprayed};
    sender.signins = 43;
    sender.successes = 3;
    auto ways = ways_forward(sender);
    for (const auto& way : ways) CHECK(way.command.find("198.51.100.200") == std::string::npos);
    const auto direct = std::find_if(ways.begin(), ways.end(), [](const WayForward& w) { return w.ip == "203.0.113.7"; });
    REQUIRE(direct != ways.end());
    CHECK_THAT(direct->why, Catch::Contains("Not for 198.51.100.200: every sign-in from it failed") &&
                                Catch::Contains("password spraying"));
  }
  SECTION("no public address logged: say how to find it instead of leaving direct send out") {
    sender.ips = {private_ip};
    auto none = ways_forward(sender);
    const auto direct = std::find_if(none.begin(), none.end(), [](const WayForward& w) { return w.method == "direct-send"; });
    REQUIRE(direct != none.end());
    CHECK_THAT(direct->why, Catch::Contains("no public one was logged (10.1.2.3, which is a private address") && Catch::Contains("sendcheck blocklist --egress"));
    CHECK(direct->ip.empty());
    CHECK(std::none_of(none.begin(), none.end(), [](const WayForward& w) { return w.method == "relay"; }));
    CHECK(none.back().method == "direct-send");  // how to find the address comes after the ways that are
    SECTION("in the initial domain, the From is one of the admin's domains too") {
      sender.user = "noreply@contoso.onmicrosoft.com";
      auto initial = ways_forward(sender);
      CHECK(initial.back().command ==
            "sendcheck preflight YOUR-DOMAIN --method direct-send --ip PUBLIC-IP --from DEVICE@YOUR-DOMAIN --to "
            "RECIPIENT@YOUR-DOMAIN --reject-direct-send ON-OR-OFF --recipient-kind KIND");
      CHECK_THAT(initial.back().why, Catch::Contains("SPF record Microsoft manages"));
    }
    SECTION("on TLS 1.0 it comes first, checked as the device connects") {
      sender.smtp_auth_report = SmtpAuthReportRow{"scanner@contoso.com", std::string("Basic"), 25, 60, 0, 40};
      auto old = ways_forward(sender);
      CHECK(old.front().method == "direct-send");
      CHECK_THAT(old.front().command, Catch::StartsWith("sendcheck preflight contoso.com --method direct-send --ip PUBLIC-IP ") &&
                                          Catch::EndsWith(" --device-tls 1.0"));
      CHECK_THAT(old.front().why, Catch::Contains("STARTTLS turned off on the device"));
      CHECK(old.front().ip.empty());
    }
  }
}

TEST_CASE("A sender's name is written as the input first wrote it, whatever --since keeps", "[inventory]") {
  for (const bool windowed : {false, true}) {
    InventoryAggregator aggregator;
    if (windowed) aggregator.set_since(std::chrono::sys_seconds(*parse_date("2026-11-20")));
    aggregator.add(signin("scanner@contoso.com", "203.0.113.7", "2026-11-10T07", 0));
    aggregator.add(signin("Scanner@Contoso.com", "203.0.113.7", "2026-11-25T07", 0));
    REQUIRE(aggregator.senders().size() == 1);
    CHECK(aggregator.senders().begin()->second.user == "scanner@contoso.com");
  }
}

TEST_CASE("The aggregator keeps one entry per sender and IP, whatever the row count", "[inventory]") {
  InventoryAggregator aggregator;
  for (int i = 0; i < 20000; ++i) {
    auto s = signin(i % 2 ? "a@contoso.com" : "b@contoso.com", i % 4 < 2 ? "203.0.113.1" : "203.0.113.2",
                    "2026-11-10T07", i % 10 == 0 ? 50000 + (i % 40) : 0);
    s.user_agent = "agent-" + std::to_string(i % 10);
    aggregator.add(s);
  }
  REQUIRE(aggregator.senders().size() == 2);
  for (const auto& [key, sender] : aggregator.senders()) {
    CHECK(sender.ips.size() == 2);
    for (const auto& [address, ip] : sender.ips) {
      CHECK(ip.signins == 5000);
      CHECK(ip.user_agents.size() <= 4);
      CHECK(ip.error_codes.size() <= 17);
    }
  }
  CHECK(aggregator.rows_seen() == 20000);
}

TEST_CASE("Days left until the cutover", "[inventory]") {
  CHECK(days_until_cutover(test_today) == 29);
  CHECK(days_until_cutover(sys_days{year{2026} / December / 31}) == 0);
  CHECK(days_until_cutover(sys_days{year{2027} / January / 5}) == 0);
}

TEST_CASE("Golden report of the mock tenant", "[inventory]") {
  auto result = run_inventory(mock_tenant_request());
  REQUIRE(result.ok());
  auto json = make_report(*result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  json.erase("time");
  std::string text = json.dump(2);
  for (std::size_t at; (at = text.find(fixture_dir)) != std::string::npos;) text.erase(at, fixture_dir.size());
  const auto golden_path = fixture("expected-report.json");
  if (std::getenv("SENDCHECK_UPDATE_GOLDEN")) std::ofstream(golden_path) << text << "\n";
  CHECK(text + "\n" == slurp(golden_path));

  // The facts the golden file holds, asserted one by one as well.
  const auto verdict_of = [&](const std::string& user) {
    const auto* sender = find_sender(*result, user);
    return sender ? std::string(to_string(sender->verdict)) : std::string("absent");
  };
  CHECK(verdict_of("scanner@contoso.com") == "will-break");   // mailbox $null, organization enabled
  CHECK(verdict_of("crm@contoso.com") == "will-break");       // JSON, non-interactive
  CHECK(verdict_of("copier@contoso.com") == "will-break");    // EAC: Basic
  CHECK(verdict_of("ledger@contoso.com") == "will-break");    // usage only: cannot tell
  CHECK(verdict_of("printer@contoso.com") == "refused");      // 50126 only
  CHECK(verdict_of("legacy@contoso.com") == "refused");       // 53003
  CHECK(verdict_of("app@contoso.com") == "refused");          // mailbox True
  CHECK(verdict_of("oauthapp@contoso.com") == "oauth");
  CHECK(verdict_of("frontdesk@contoso.com") == "exposed-unused");
  CHECK(verdict_of("archive@contoso.com") == "exposed-unused");
  CHECK(verdict_of("alice@contoso.com") == "absent");         // Browser sign-in
  CHECK(verdict_of("bob@contoso.com") == "absent");           // Exchange ActiveSync, SMTP App No
  CHECK(result->any_concealed);
  const auto* scanner = find_sender(*result, "scanner@contoso.com");
  CHECK(scanner->signins == 4);
  CHECK(scanner->ips.size() == 2);
}

TEST_CASE("Text, CSV and Markdown renderings", "[inventory]") {
  auto result = run_inventory(mock_tenant_request());
  REQUIRE(result.ok());
  std::string text, csv, markdown;
  make_report(*result, OutputFormat::text, &text, diag::TextStyle{});
  make_report(*result, OutputFormat::csv, &csv, diag::TextStyle{});
  make_report(*result, OutputFormat::markdown, &markdown, diag::TextStyle{});
  CHECK(text.rfind("sendcheck inventory: 5 senders will break at the cutover; 29 days left", 0) == 0);
  CHECK(text.find("WILL BREAK (5)") < text.find("ALREADY REFUSED"));
  CHECK_THAT(text, Catch::Contains("sendcheck preflight contoso.com --method direct-send --ip 203.0.113.7"));
  CHECK(csv.rfind("user,verdict,auth,setting,signins", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + static_cast<long>(result->senders.size()));
  // A sender only the EAC report shows did send: its messages and TLS are in
  // the row, not "0 sign-ins" alone (the new columns come last).
  CHECK(csv.find(",eac_messages,eac_tls10_percent,eac_tls11_percent,eac_tls12_percent,eac_protocol,usage_last_activity,failed_only_ips\n") !=
        std::string::npos);
  const auto copier_row = csv.substr(csv.find("copier@contoso.com,"), csv.find("\r\n", csv.find("copier@contoso.com,")) - csv.find("copier@contoso.com,"));
  CHECK_THAT(copier_row, Catch::EndsWith(",25,60,0,40,Basic,,"));
  CHECK_THAT(markdown, Catch::Contains("| scanner@contoso.com | will-break | 4 sign-ins"));
  CHECK_THAT(markdown, Catch::Contains("| copier@contoso.com | will-break | EAC report: 25 messages, TLS 1.0 60%"));
  // Every verdict has its section, as in the text output.
  for (const char* section : {"## Will break (5)", "## Already refused (", "## Exposed but unused (harden) (", "## Uses OAuth ("})
    CHECK_THAT(markdown, Catch::Contains(section));
  CHECK_THAT(markdown, Catch::Contains("### oauthapp@contoso.com"));
  CHECK_THAT(markdown, Catch::Contains("### frontdesk@contoso.com"));
  // Outside code spans, nothing a Markdown renderer would take for an HTML tag.
  bool in_code = false, in_block = false;
  std::istringstream lines(markdown);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("```") != std::string::npos) {
      in_block = !in_block;
      continue;
    }
    if (in_block) continue;
    for (const char c : line) {
      if (c == '`') in_code = !in_code;
      if (!in_code) CHECK(c != '<');
    }
  }
}

TEST_CASE("With one sign-in log alone, no mailbox is told to disable SMTP AUTH", "[inventory]") {
  auto request = mock_tenant_request();
  request.signin_files = {request.signin_files[0]};  // the interactive log only
  request.usage_report_file.clear();
  request.smtp_auth_report_file.clear();
  auto result = run_inventory(request);
  REQUIRE(result.ok());
  const auto* frontdesk = find_sender(*result, "frontdesk@contoso.com");
  REQUIRE(frontdesk);
  CHECK(frontdesk->verdict == Verdict::exposed_unused);
  CHECK_THAT(frontdesk->reason, Catch::Contains("do not disable it") && !Catch::Contains("$true"));
  std::string text;
  make_report(*result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, !Catch::Contains("-Identity frontdesk@contoso.com -SmtpClientAuthenticationDisabled $true"));
  CHECK_THAT(text, Catch::Contains("a sender not seen here stops too"));
}

TEST_CASE("The headline says 'no sender will break' only from inputs that list every sender", "[inventory]") {
  InventoryAggregator aggregator;
  aggregator.add(SmtpAuthReportRow{"modern@contoso.com", std::string("OAuth"), 50, 0, 0, 100});
  auto result = evaluate(aggregator, TenantSettings{}, test_today);
  result.coverage.smtp_auth_report = true;  // the EAC report alone: its period is unknown
  std::string text;
  make_report(result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, Catch::StartsWith("sendcheck inventory: no sender seen that will break (the inputs do not list every sender)"));
  result.coverage.usage_report = true;
  text.clear();
  make_report(result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, Catch::StartsWith("sendcheck inventory: no sender will break at the cutover"));
}

TEST_CASE("One log's file given under both logs' names is not both logs whole", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-both");
  const std::string rows = "Date (UTC),Request ID,Username,IP address,Client app,Sign-in error code\n"
                           "2026-11-10T07:00:00Z,r-1,mfp@contoso.com,203.0.113.7,Authenticated SMTP,0\n"
                           "2026-11-11T07:00:00Z,r-2,mfp@contoso.com,203.0.113.7,Authenticated SMTP,0\n";
  InventoryRequest request;
  request.today = test_today;
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv", rows),
                          dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv", rows)};
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  request.mailboxes_file = dir.write("m.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\n"
                                              "mfp@contoso.com,\nunused@contoso.com,\n");
  auto result = run_inventory(request);
  REQUIRE(result.ok());
  CHECK(result->coverage.rows_in_both_logs == 2);
  CHECK_FALSE(result->coverage.lists_every_sender());
  std::string text;
  make_report(*result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, Catch::Contains("share 2 sign-ins"));
  // A mailbox the missing log may show in use is not called unused.
  CHECK_THAT(text, !Catch::Contains("-Identity unused@contoso.com -SmtpClientAuthenticationDisabled $true"));
}

TEST_CASE("A sign-in read twice is counted once", "[inventory]") {
  auto twice = mock_tenant_request();
  twice.signin_files.push_back(twice.signin_files[0]);
  twice.signin_files.push_back(twice.signin_files[1]);
  auto once = run_inventory(mock_tenant_request());
  auto doubled = run_inventory(twice);
  REQUIRE(once.ok());
  REQUIRE(doubled.ok());
  CHECK(doubled->rows_read_twice > 0);
  CHECK(once->rows_read_twice == 0);
  for (const auto& sender : once->senders) {
    const auto* same = find_sender(*doubled, sender.user);
    REQUIRE(same);
    CHECK(same->signins == sender.signins);
    CHECK(same->failures == sender.failures);
  }
  std::string text;
  make_report(*doubled, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, Catch::Contains("in the input more than once"));
}

TEST_CASE("History: remembered senders, no double counting, what changed", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  const auto first = dir.write("first.csv", "Date (UTC),Username,IP address,Client app,Sign-in error code\n"
                                            "2026-11-01T08:00:00Z,monthly@contoso.com,203.0.113.7,Authenticated SMTP,0\n"
                                            "2026-11-02T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n");
  const auto second = dir.write("second.csv", "Date (UTC),Username,IP address,Client app,Sign-in error code\n"
                                              "2026-11-02T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n"
                                              "2026-11-29T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n"
                                              "2026-11-29T09:00:00Z,new@contoso.com,203.0.113.9,Authenticated SMTP,50126\n");
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.signin_files = {first};
  auto run1 = run_inventory(request);
  REQUIRE(run1.ok());
  REQUIRE(run1->changes);
  CHECK_FALSE(run1->changes->have_previous_run);

  request.signin_files = {second};
  auto run2 = run_inventory(request);
  REQUIRE(run2.ok());
  const auto* monthly = find_sender(*run2, "monthly@contoso.com");
  REQUIRE(monthly);  // not in this download, remembered from the first run
  CHECK(monthly->only_in_history);
  CHECK(monthly->verdict == Verdict::will_break);
  const auto* daily = find_sender(*run2, "daily@contoso.com");
  REQUIRE(daily);
  CHECK(daily->signins == 2);  // the 2026-11-02 sign-in is in both downloads: counted once
  REQUIRE(run2->changes);
  CHECK(run2->changes->have_previous_run);
  CHECK(run2->changes->new_senders == std::vector<std::string>{"new@contoso.com"});
  // One file of an unknown log does not list every sender: absent is not quiet (review 65 M6).
  CHECK(run2->changes->gone_quiet.empty());
  CHECK(run2->changes->not_in_inputs == std::vector<std::string>{"monthly@contoso.com"});

  // Third run: the monthly device now fails; its verdict changes.
  request.signin_files = {dir.write("third.csv", "Date (UTC),Username,IP address,Client app,Sign-in error code\n"
                                                 "2026-11-30T08:00:00Z,monthly@contoso.com,203.0.113.7,Authenticated SMTP,0\n")};
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  request.mailboxes_file = dir.write("m.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\nmonthly@contoso.com,True\n");
  auto run3 = run_inventory(request);
  REQUIRE(run3.ok());
  REQUIRE(run3->changes);
  REQUIRE(run3->changes->verdict_changes.size() == 1);
  CHECK(std::get<0>(run3->changes->verdict_changes[0]) == "monthly@contoso.com");
  CHECK(std::get<1>(run3->changes->verdict_changes[0]) == "will-break");
  CHECK(std::get<2>(run3->changes->verdict_changes[0]) == "refused");
  CHECK(find_sender(*run3, "monthly@contoso.com")->signins == 2);

  SECTION("--since leaves older history and rows out") {
    InventoryRequest since_request;
    since_request.db_file = db;
    since_request.today = test_today;
    since_request.since = parse_date("2026-11-20");
    since_request.signin_files = {first};
    auto run = run_inventory(since_request);
    REQUIRE(run.ok());
    CHECK(run->rows_before_since == 2);
    CHECK(find_sender(*run, "daily@contoso.com"));  // last seen 2026-11-29
    CHECK(find_sender(*run, "monthly@contoso.com"));  // last seen 2026-11-30
  }
  SECTION("--since with a mailbox the history saw earlier: never 'disable it'") {
    InventoryRequest since_request;
    since_request.db_file = db;
    since_request.today = test_today;
    since_request.signin_files = {second};
    since_request.transport_config_file = dir.write("t2.txt", "SmtpClientAuthenticationDisabled : False\n");
    since_request.mailboxes_file = dir.write("m2.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\nmonthly@contoso.com,\n");
    // monthly@ was last seen on 2026-11-30 (the third run): before --since.
    since_request.since = parse_date("2026-12-01");
    auto run = run_inventory(since_request);
    REQUIRE(run.ok());
    const auto* monthly = find_sender(*run, "monthly@contoso.com");
    REQUIRE(monthly);
    // It sent with its password before --since: it still breaks at the cutover.
    CHECK(monthly->verdict == Verdict::will_break);
    CHECK_THAT(monthly->reason, Catch::Contains("before --since (last success 2026-11-30") && Catch::Contains("Do not disable SMTP AUTH"));
    CHECK_THAT(monthly->reason, !Catch::Contains("-SmtpClientAuthenticationDisabled $true"));
  }
  SECTION("--since with a mailbox the files show signing in earlier: never 'disable it', and it still breaks") {
    InventoryRequest since_request;
    since_request.today = test_today;
    since_request.signin_files = {first};
    since_request.transport_config_file = dir.write("t3.txt", "SmtpClientAuthenticationDisabled : True\n");
    since_request.mailboxes_file = dir.write("m3.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\nmonthly@contoso.com,False\n");
    since_request.since = parse_date("2026-12-01");
    auto run = run_inventory(since_request);
    REQUIRE(run.ok());
    CHECK(run->rows_before_since > 0);
    const auto* monthly = find_sender(*run, "monthly@contoso.com");
    REQUIRE(monthly);
    CHECK(monthly->verdict == Verdict::will_break);
    CHECK_THAT(monthly->reason, !Catch::Contains("-SmtpClientAuthenticationDisabled $true"));
  }
  SECTION("--since with no mailboxes export: a sender seen only before it still breaks") {
    InventoryRequest since_request;
    since_request.today = test_today;
    since_request.signin_files = {first};
    since_request.since = parse_date("2026-12-01");
    auto run = run_inventory(since_request);
    REQUIRE(run.ok());
    const auto* monthly = find_sender(*run, "monthly@contoso.com");
    REQUIRE(monthly);
    CHECK(monthly->verdict == Verdict::will_break);
    CHECK_THAT(monthly->reason, Catch::Contains("before --since (last success 2026-11-01"));
  }
  SECTION("a database with a schema version sendcheck did not write is refused") {
    // A newer sendcheck's, and one no sendcheck writes.
    for (const auto& [pragma, why] : {std::pair{"PRAGMA user_version=99", "newer sendcheck"},
                                      std::pair{"PRAGMA user_version=-1", "is not sendcheck's"}}) {
      INFO(pragma);
      sqlite3* raw = nullptr;
      REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
      CHECK(sqlite3_exec(raw, pragma, nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(raw);
      auto reopened = HistoryDatabase::open(db);
      REQUIRE_FALSE(reopened.ok());
      CHECK_THAT(reopened.error().message, Catch::Contains(why));
    }
  }
}

TEST_CASE("History: what refused a sender is kept, so a lockout-only sender seen only in the history still breaks", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.signin_files = {dir.write("first.csv", header +
                                                     "2026-11-10T07:00:00Z,mfp@contoso.com,198.51.100.20,Authenticated SMTP,50053\n"
                                                     "2026-11-11T07:00:00Z,mfp@contoso.com,198.51.100.20,Authenticated SMTP,50053\n"
                                                     "2026-11-11T08:00:00Z,wrong@contoso.com,198.51.100.30,Authenticated SMTP,50126\n")};
  auto run1 = run_inventory(request);
  REQUIRE(run1.ok());
  REQUIRE(find_sender(*run1, "mfp@contoso.com"));
  CHECK(find_sender(*run1, "mfp@contoso.com")->verdict == Verdict::will_break);
  CHECK(find_sender(*run1, "wrong@contoso.com")->verdict == Verdict::refused);

  // A later download without them: the history alone decides, with the codes.
  request.signin_files = {dir.write("second.csv", header + "2026-11-29T08:00:00Z,other@contoso.com,203.0.113.9,Authenticated SMTP,0\n")};
  auto run2 = run_inventory(request);
  REQUIRE(run2.ok());
  const auto* mfp = find_sender(*run2, "mfp@contoso.com");
  REQUIRE(mfp);
  CHECK(mfp->only_in_history);
  CHECK(mfp->verdict == Verdict::will_break);
  CHECK_THAT(mfp->reason, Catch::Contains("50053"));
  REQUIRE(mfp->ips.size() == 1);
  CHECK(mfp->ips[0].error_codes.at(50053) == 2);
  const auto* wrong = find_sender(*run2, "wrong@contoso.com");
  REQUIRE(wrong);
  CHECK(wrong->verdict == Verdict::refused);
  CHECK_THAT(wrong->reason, Catch::Contains("50126"));
  REQUIRE(run2->changes);
  CHECK(run2->changes->verdict_changes.empty());

  // The same download read again adds nothing: the codes are counted once.
  request.signin_files = {dir.write("third.csv", header +
                                                     "2026-11-11T07:00:00Z,mfp@contoso.com,198.51.100.20,Authenticated SMTP,50053\n"
                                                     "2026-11-12T07:00:00Z,mfp@contoso.com,198.51.100.20,Authenticated SMTP,50053\n")};
  auto run3 = run_inventory(request);
  REQUIRE(run3.ok());
  CHECK(find_sender(*run3, "mfp@contoso.com")->ips[0].error_codes.at(50053) == 3);
}

TEST_CASE("History: a sign-in log given in a later run is counted, the same log again is not", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  const std::string rows = "2026-11-10T07:00:00Z,mfp@contoso.com,203.0.113.7,Authenticated SMTP,0\n"
                           "2026-11-11T07:00:00Z,mfp@contoso.com,203.0.113.7,Authenticated SMTP,0\n"
                           "2026-11-12T07:00:00Z,mfp@contoso.com,203.0.113.7,Authenticated SMTP,0\n";
  // The two logs of the same days hold different sign-ins (same times here,
  // as a device that signs in both ways would show).
  const auto interactive = dir.write("InteractiveSignIns_2026-11-01_2026-11-30.csv", header + rows);
  const auto non_interactive = dir.write("NonInteractiveSignIns_2026-11-01_2026-11-30.csv", header + rows);
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.signin_files = {interactive};
  auto run1 = run_inventory(request);
  REQUIRE(run1.ok());
  CHECK(find_sender(*run1, "mfp@contoso.com")->signins == 3);
  // The other log, downloaded later as the inventory asks: counted whole.
  request.signin_files = {non_interactive};
  auto run2 = run_inventory(request);
  REQUIRE(run2.ok());
  CHECK(find_sender(*run2, "mfp@contoso.com")->signins == 6);
  // Both again: nothing new.
  request.signin_files = {interactive, non_interactive};
  auto run3 = run_inventory(request);
  REQUIRE(run3.ok());
  CHECK(find_sender(*run3, "mfp@contoso.com")->signins == 6);
  // Without the history, the two logs give the same count.
  InventoryRequest once;
  once.today = test_today;
  once.signin_files = {interactive, non_interactive};
  auto fresh = run_inventory(once);
  REQUIRE(fresh.ok());
  CHECK(find_sender(*fresh, "mfp@contoso.com")->signins == 6);
}

TEST_CASE("History: senders known only from the EAC or usage report are kept", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.smtp_auth_report_file = dir.write(
      "eac.csv", "Sender address,Authentication Protocol,Messages sent,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %\n"
                 "legacyapp@contoso.com,Basic,120,0,0,100\n");
  auto run1 = run_inventory(request);
  REQUIRE(run1.ok());
  REQUIRE(find_sender(*run1, "legacyapp@contoso.com"));
  CHECK(find_sender(*run1, "legacyapp@contoso.com")->verdict == Verdict::will_break);

  // A later run with sign-in logs only: the EAC sender is remembered.
  request.smtp_auth_report_file.clear();
  request.signin_files = {dir.write("signins.csv", "Date (UTC),Username,IP address,Client app,Sign-in error code\n"
                                                   "2026-11-29T08:00:00Z,other@contoso.com,203.0.113.9,Authenticated SMTP,0\n")};
  auto run2 = run_inventory(request);
  REQUIRE(run2.ok());
  const auto* legacy = find_sender(*run2, "legacyapp@contoso.com");
  REQUIRE(legacy);
  CHECK(legacy->verdict == Verdict::will_break);
  CHECK(legacy->only_in_history);
  CHECK_FALSE(legacy->active_this_run);
  REQUIRE(legacy->smtp_auth_report);
  CHECK(legacy->smtp_auth_report->messages == 120);
  REQUIRE(legacy->smtp_auth_report_read_on);
  CHECK(*legacy->smtp_auth_report_read_on == "2026-12-02");
  std::string text;
  make_report(*run2, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, Catch::Contains("from the history: the report read on"));

  // A newer EAC report that shows it on OAuth replaces the stored row.
  request.smtp_auth_report_file = dir.write(
      "eac2.csv", "Sender address,Authentication Protocol,Messages sent,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %\n"
                  "legacyapp@contoso.com,OAuth,80,0,0,100\n");
  auto run3 = run_inventory(request);
  REQUIRE(run3.ok());
  CHECK(find_sender(*run3, "legacyapp@contoso.com")->verdict == Verdict::oauth);
  CHECK_FALSE(find_sender(*run3, "legacyapp@contoso.com")->smtp_auth_report_read_on);
  request.smtp_auth_report_file.clear();
  auto run4 = run_inventory(request);
  REQUIRE(run4.ok());
  CHECK(find_sender(*run4, "legacyapp@contoso.com")->verdict == Verdict::oauth);
}

TEST_CASE("History: a version 1 database is migrated in place to the current schema and keeps its senders", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  {
    // What sendcheck wrote before error codes were kept.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw,
                       "CREATE TABLE runs(id INTEGER PRIMARY KEY, started TEXT NOT NULL, today TEXT NOT NULL);"
                       "CREATE TABLE activity(user_key TEXT NOT NULL, user TEXT NOT NULL, ip TEXT NOT NULL,"
                       " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_success INTEGER NOT NULL,"
                       " signins INTEGER NOT NULL, successes INTEGER NOT NULL, failures INTEGER NOT NULL,"
                       " PRIMARY KEY(user_key, ip));"
                       "CREATE TABLE verdicts(run_id INTEGER NOT NULL REFERENCES runs(id), user_key TEXT NOT NULL,"
                       " user TEXT NOT NULL, verdict TEXT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY(run_id, user_key));"
                       "INSERT INTO runs(started, today) VALUES('2026-11-20T00:00:00Z', '2026-11-20');"
                       "INSERT INTO activity VALUES('old@contoso.com', 'old@contoso.com', '203.0.113.7', 1762000000, "
                       "1762000000, 1762000000, 1, 1, 0);"
                       "INSERT INTO verdicts VALUES(1, 'old@contoso.com', 'old@contoso.com', 'will-break', 1);"
                       "PRAGMA user_version=1;",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.signin_files = {dir.write("new.csv", "Date (UTC),Username,IP address,Client app,Sign-in error code\n"
                                               "2026-11-29T08:00:00Z,mfp@contoso.com,198.51.100.20,Authenticated SMTP,50053\n")};
  auto run = run_inventory(request);
  REQUIRE(run.ok());
  const auto* old = find_sender(*run, "old@contoso.com");
  REQUIRE(old);
  CHECK(old->verdict == Verdict::will_break);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &version, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(version) == SQLITE_ROW);
  CHECK(sqlite3_column_int(version, 0) == 4);
  sqlite3_finalize(version);
  sqlite3_stmt* codes = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT code, failures FROM activity_errors", -1, &codes, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(codes) == SQLITE_ROW);
  CHECK(sqlite3_column_int(codes, 0) == 50053);
  CHECK(sqlite3_column_int(codes, 1) == 1);
  sqlite3_finalize(codes);
  sqlite3_close(raw);
}

TEST_CASE("History: two overlapping runs both complete, a killed run leaves the previous state", "[inventory]") {
  fixtures::TemporaryDirectory dir("inventory-db");
  const auto db = dir.path("history.sqlite");
  InventoryAggregator aggregator;
  aggregator.add(signin("dev@contoso.com", "203.0.113.7", "2026-11-10T07"));
  const auto result = evaluate(aggregator, TenantSettings{}, test_today);
  {
    auto opened = HistoryDatabase::open(db);
    REQUIRE(opened.ok());
    REQUIRE(opened->record_run(result, "2026-12-01T00:00:00Z").ok());
  }

  SECTION("overlap: the second writer waits for the first, then both are recorded") {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t holder = ::fork();
    if (holder == 0) {
      auto opened = HistoryDatabase::open(db);
      const bool ok = opened.ok() && opened->record_run(result, "holder", [&] {
        (void)!::write(ready[1], "x", 1);
        std::this_thread::sleep_for(milliseconds(300));  // holds the write lock
      }).ok();
      ::_exit(ok ? 0 : 1);
    }
    char byte;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    const pid_t second = ::fork();
    if (second == 0) {
      auto opened = HistoryDatabase::open(db);
      ::_exit(opened.ok() && opened->record_run(result, "second").ok() ? 0 : 1);
    }
    int status_holder = 0, status_second = 0;
    ::waitpid(holder, &status_holder, 0);
    ::waitpid(second, &status_second, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    CHECK(WIFEXITED(status_holder));
    CHECK(WEXITSTATUS(status_holder) == 0);
    CHECK(WIFEXITED(status_second));
    CHECK(WEXITSTATUS(status_second) == 0);
    auto opened = HistoryDatabase::open(db);
    REQUIRE(opened.ok());
    CHECK(*opened->run_count() == 3);
  }

  SECTION("a run killed mid-transaction leaves the previous state") {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
      auto opened = HistoryDatabase::open(db);
      if (opened.ok())
        (void)opened->record_run(result, "killed", [&] {
          (void)!::write(ready[1], "x", 1);
          ::pause();  // killed here, before COMMIT
        });
      ::_exit(1);
    }
    char byte;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    CHECK(WIFSIGNALED(status));
    auto opened = HistoryDatabase::open(db);
    REQUIRE(opened.ok());
    CHECK(*opened->run_count() == 1);
    InventoryAggregator reloaded;
    REQUIRE(opened->load_into(reloaded, std::nullopt).ok());
    REQUIRE(reloaded.senders().count("dev@contoso.com"));
    CHECK(reloaded.senders().at("dev@contoso.com").ips.at("203.0.113.7").signins == 1);
    // And the database still takes a new run.
    CHECK(opened->record_run(result, "after").ok());
    CHECK(*opened->run_count() == 2);
  }
}

TEST_CASE("sendcheck-inventory: exit codes, JSON envelope, one-line errors", "[inventory]") {
  const std::vector<std::string> mock = {
      "--signins", fixture("InteractiveSignIns_2026-11-01_2026-12-01.csv"),
      "--signins", fixture("NonInteractiveSignIns_2026-11-01_2026-12-01.json"),
      "--smtp-auth-report", fixture("smtp_auth_clients_report.csv"),
      "--usage-report", fixture("EmailAppUsageUserDetail_D30.csv"),
      "--mailboxes", fixture("mailboxes-utf16.csv"),
      "--transport-config", fixture("transportconfig.json")};
  SECTION("senders that will break: exit 1, the shared envelope plus senders") {
    auto args = mock;
    args.push_back("--json");
    const auto run = run_inventory_tool(args);
    CHECK(run.exit_code == 1);
    const auto json = nlohmann::json::parse(run.out);
    CHECK(json["tool"] == "sendcheck-inventory");
    CHECK(json["status"] == "fail");
    CHECK(json.contains("time"));
    REQUIRE(json["senders"].is_array());
    const auto& first = json["senders"][0];
    for (const char* key : {"user", "ips", "signins", "first_seen", "last_seen", "setting", "verdict", "way_forward"})
      CHECK(first.contains(key));
    CHECK(first["verdict"] == "will-break");
    CHECK(json["preflight_commands"].size() >= 2);
  }
  SECTION("only OAuth and hardened mailboxes: exit 0") {
    fixtures::TemporaryDirectory dir("inventory-tool");
    const auto run = run_inventory_tool(
        {"--smtp-auth-report",
         dir.write("r.csv", "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication Protocol\n"
                            "app@contoso.com,contoso.com,0,0,100,5,OAuth\n"),
         "--mailboxes", dir.write("m.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\napp@contoso.com,\n"),
         "--transport-config", dir.write("t.csv", "SmtpClientAuthenticationDisabled\nFalse\n"), "--csv"});
    CHECK(run.exit_code == 0);
    CHECK(run.out.rfind("user,verdict", 0) == 0);
    CHECK_THAT(run.out, Catch::Contains("app@contoso.com,oauth,oauth,enabled"));
  }
  SECTION("malformed inputs: exit 2 and one line") {
    fixtures::TemporaryDirectory dir("inventory-tool");
    check_one_error_line(run_inventory_tool({"--signins", dir.write("x.csv", "a,b,c\n1,2,3\n")}));
    check_one_error_line(run_inventory_tool({"--signins", dir.write("y.json", "[{\"clientAppUsed\":")}));
    check_one_error_line(run_inventory_tool({"--mailboxes", dir.write("m.csv", "Name,Other\nx,y\n")}));
    check_one_error_line(run_inventory_tool({"--signins", fixture("mailboxes.csv"), "--since", "yesterday"}));
    check_one_error_line(run_inventory_tool({"--signins", fixture("InteractiveSignIns_2026-11-01_2026-12-01.csv"), "--since", ""}));
    // A time would be dropped without a word: --since takes a day.
    const auto with_time = run_inventory_tool({"--signins", fixture("InteractiveSignIns_2026-11-01_2026-12-01.csv"), "--since", "2026-11-20T15:00:00Z"});
    check_one_error_line(with_time);
    CHECK_THAT(with_time.err, Catch::Contains("whole days"));
    check_one_error_line(run_inventory_tool({}));
    const auto json_error = run_inventory_tool({"--signins", dir.write("z.csv", "a\n"), "--json"});
    CHECK(json_error.exit_code == 2);
    CHECK(nlohmann::json::parse(json_error.out)["status"] == "error");
  }
}

TEST_CASE("review 65 M6: gone quiet only where the inputs would have shown the sender", "[inventory][review]") {
  fixtures::TemporaryDirectory dir("inventory-quiet");
  const auto db = dir.path("history.sqlite");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  InventoryRequest request;
  request.db_file = db;
  request.today = test_today;
  request.signin_files = {dir.write("InteractiveSignIns_2026-10-01_2026-11-01.csv",
                                    header + "2026-10-03T08:00:00Z,quiet@contoso.com,203.0.113.7,Authenticated SMTP,0\n"
                                             "2026-10-30T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n"),
                          dir.write("NonInteractiveSignIns_2026-10-01_2026-11-01.csv",
                                    header + "2026-10-31T08:00:00Z,batch@contoso.com,203.0.113.9,Authenticated SMTP,0\n")};
  REQUIRE(run_inventory(request).ok());
  SECTION("both logs of a later period: the sender it would show is quiet") {
    request.signin_files = {dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv",
                                      header + "2026-11-02T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n"),
                            dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv",
                                      header + "2026-11-03T08:00:00Z,batch@contoso.com,203.0.113.9,Authenticated SMTP,0\n")};
    auto run = run_inventory(request);
    REQUIRE(run.ok());
    REQUIRE(run->changes);
    CHECK(run->changes->gone_quiet == std::vector<std::string>{"quiet@contoso.com"});
    CHECK(run->changes->not_in_inputs.empty());
  }
  SECTION("one log only: a sender of the other log is not in the inputs, not quiet") {
    request.signin_files = {dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv",
                                      header + "2026-11-02T08:00:00Z,daily@contoso.com,203.0.113.8,Authenticated SMTP,0\n")};
    auto run = run_inventory(request);
    REQUIRE(run.ok());
    REQUIRE(run->changes);
    CHECK(run->changes->gone_quiet.empty());
    CHECK(run->changes->not_in_inputs == std::vector<std::string>{"batch@contoso.com", "quiet@contoso.com"});
    std::string text;
    make_report(*run, OutputFormat::text, &text, diag::TextStyle{});
    CHECK_THAT(text, Catch::Contains("not in this run's inputs"));
    CHECK_THAT(text, !Catch::Contains("gone quiet"));
  }
}

TEST_CASE("review 65 H1: both sign-in logs show no OAuth sender, so no mailbox is told to disable SMTP AUTH from them", "[inventory][review]") {
  fixtures::TemporaryDirectory dir("inventory-oauth");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  InventoryRequest request;
  request.today = test_today;
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv",
                                    header + "2026-11-20T08:00:00Z,printer@contoso.com,203.0.113.7,Authenticated SMTP,0\n"),
                          dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv", header)};
  request.mailboxes_file = dir.write("mailboxes.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\n"
                                                      "printer@contoso.com,\noauth-app@contoso.com,False\n");
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  auto result = run_inventory(request);
  REQUIRE(result.ok());
  REQUIRE(result->coverage.lists_every_sender());
  CHECK_FALSE(result->coverage.lists_every_smtp_user());
  const auto* app = find_sender(*result, "oauth-app@contoso.com");
  REQUIRE(app);
  CHECK(app->verdict == Verdict::exposed_unused);
  CHECK_THAT(app->reason, Catch::Contains("never appears in them") && Catch::Contains("do not disable it") && !Catch::Contains("$true"));
  std::string text;
  make_report(*result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(text, !Catch::Contains("-SmtpClientAuthenticationDisabled $true."));
  CHECK_THAT(text, Catch::Contains("an OAuth application not seen here stops too"));
  // The usage report lists every SMTP user, OAuth too; it shows the app in use (review 65 M4).
  request.usage_report_file = dir.write("usage.csv", usage_report_header +
      "2026-11-30,oauth-app@contoso.com,App,False,,2026-11-28,No,No,No,No,No,No,No,No,Yes,30\n");
  auto listed = run_inventory(request);
  REQUIRE(listed.ok());
  CHECK(listed->coverage.lists_every_smtp_user());
  const auto* used = find_sender(*listed, "oauth-app@contoso.com");
  REQUIRE(used);
  CHECK(used->verdict == Verdict::will_break);  // the usage report cannot tell basic from OAuth
  CHECK_THAT(used->reason, Catch::Contains("it uses OAuth") && !Catch::Contains("look it up in the sign-in logs"));
}

TEST_CASE("review 65 M2: failures from addresses a sender never signed in from do not make its device fail", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.add(signin("ceo@contoso.com", "192.0.2.55", "2026-11-20T07"));
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("ceo@contoso.com", "198.51.100." + std::to_string(i), "2026-11-29T07", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* ceo = find_sender(result, "ceo@contoso.com");
  REQUIRE(ceo);
  CHECK(ceo->verdict == Verdict::will_break);
  CHECK_THAT(ceo->reason, !Catch::Contains("it may not send mail now") && Catch::Contains("someone else is trying its password"));
  // The organization remedy does not pin SMTP AUTH on for it without the password check first (review 65 M5).
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool org = false;
  for (const auto& check : json["checks"])
    if (check["id"] == "inventory.org-enabled") {
      org = true;
      CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("ceo@contoso.com (check its successes first, and reset its password if one came from"));
    }
  CHECK(org);
}

TEST_CASE("review 65 M3: with --since, a sender whose successes are all before it and whose sign-ins since failed will break", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-11-25") + hours(0));
  aggregator.add(signin("crm@contoso.com", "198.51.100.20", "2026-11-09T07"));
  aggregator.add(signin("crm@contoso.com", "198.51.100.20", "2026-11-15T07"));
  aggregator.add(signin("crm@contoso.com", "198.51.100.20", "2026-11-26T07", 50126));
  aggregator.add(signin("crm@contoso.com", "198.51.100.20", "2026-11-27T07", 50053));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* crm = find_sender(result, "crm@contoso.com");
  REQUIRE(crm);
  CHECK(crm->verdict == Verdict::will_break);
  CHECK_THAT(crm->reason, Catch::Contains("before --since (last success 2026-11-15T07:00:00Z)"));
  // Without the earlier success, a mix of wrong password and lockout is refused, and no lock wording.
  InventoryAggregator failed;
  failed.add(signin("old@contoso.com", "198.51.100.21", "2026-11-26T07", 50126));
  failed.add(signin("old@contoso.com", "198.51.100.21", "2026-11-27T07", 50053));
  const auto refused = evaluate_org_enabled(failed);
  CHECK(find_sender(refused, "old@contoso.com")->verdict == Verdict::refused);
  CHECK_THAT(find_sender(refused, "old@contoso.com")->reason, !Catch::Contains("when the lock lifts"));
}

TEST_CASE("review 65 L: guests and sprayed-only accounts are no sender in use, odd sign-in names are not concealed, mapped addresses are IPv4", "[inventory][review]") {
  InventoryAggregator aggregator;
  for (int i = 1; i <= 6; ++i)
    aggregator.add(signin("j.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", "198.51.100." + std::to_string(i), "2026-11-10T07", 50126));
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("target@contoso.com", "198.51.101." + std::to_string(i), "2026-11-10T07", 50126));
  aggregator.add(signin("0123456789abcdef0123456789abcdef", "203.0.113.9", "2026-11-12T07"));
  aggregator.add(signin("mapped@contoso.com", "::ffff:203.0.113.27", "2026-11-12T07"));
  aggregator.add(signin("mapped@contoso.com", "203.0.113.27", "2026-11-13T07"));
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes.push_back(MailboxSetting{"unused@contoso.com", false});
  const auto result = evaluate(aggregator, tenant, test_today);
  CHECK(std::find(result.unmatched_senders.begin(), result.unmatched_senders.end(), "j.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com") ==
        result.unmatched_senders.end());
  CHECK(std::find(result.unmatched_senders.begin(), result.unmatched_senders.end(), "target@contoso.com") == result.unmatched_senders.end());
  CHECK(std::find(result.unmatched_senders.begin(), result.unmatched_senders.end(), "mapped@contoso.com") != result.unmatched_senders.end());
  CHECK_FALSE(find_sender(result, "0123456789abcdef0123456789abcdef")->concealed);
  CHECK_FALSE(result.any_concealed);
  const auto* mapped = find_sender(result, "mapped@contoso.com");
  REQUIRE(mapped);
  REQUIRE(mapped->ips.size() == 1);
  CHECK(mapped->ips[0].ip == "203.0.113.27");
  CHECK(mapped->signins == 2);
  // Markdown: a user name's '*' and '_' are not emphasis.
  InventoryAggregator odd;
  odd.add(signin("pipe*_x_@contoso.com", "203.0.113.30", "2026-11-12T07"));
  std::string markdown;
  make_report(evaluate_org_enabled(odd), OutputFormat::markdown, &markdown, diag::TextStyle{});
  CHECK_THAT(markdown, Catch::Contains("pipe\\*\\_x\\_@contoso.com"));
}

TEST_CASE("review 66 N1: a password-sprayed mailbox that sends with OAuth is in use, not refused, and never told to lose SMTP AUTH", "[inventory][review]") {
  InventoryAggregator aggregator;
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("oauth-app2@contoso.com", "198.51.100." + std::to_string(i), "2026-11-10T07", 50126));
  aggregator.add(SmtpAuthReportRow{"oauth-app2@contoso.com", std::string("OAuth"), 900, 0, 0, 100});
  const auto result = evaluate_org_enabled(aggregator);
  const auto* app = find_sender(result, "oauth-app2@contoso.com");
  REQUIRE(app);
  CHECK(app->verdict == Verdict::oauth);
  CHECK_THAT(app->reason, Catch::Contains("Keep SMTP AUTH enabled") && !Catch::Contains("Nothing shows a device"));
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool spraying = false, org = false;
  for (const auto& check : json["checks"]) {
    if (check["id"] == "inventory.password-spraying") {
      spraying = true;
      CHECK_THAT(check["remedy"].get<std::string>(), !Catch::Contains("-SmtpClientAuthenticationDisabled $true"));
    }
    if (check["id"] == "inventory.org-enabled") {
      org = true;
      CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("oauth-app2@contoso.com"));
    }
  }
  CHECK(spraying);
  CHECK(org);
}

TEST_CASE("review 66 N2: an EAC OAuth row does not hide password successes before --since", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-12-05") + hours(0));
  aggregator.add(signin("App-Mixed@contoso.com", "198.51.100.70", "2026-11-29T07"));
  aggregator.add(signin("App-Mixed@contoso.com", "198.51.100.70", "2026-12-04T07"));
  aggregator.add(SmtpAuthReportRow{"app-mixed@contoso.com", std::string("OAuth"), 50, 0, 0, 100});
  const auto result = evaluate_org_enabled(aggregator);
  const auto* app = find_sender(result, "App-Mixed@contoso.com");
  REQUIRE(app);
  CHECK(app->verdict == Verdict::will_break);
  CHECK_THAT(app->reason, Catch::Contains("last success 2026-12-04T07:00:00Z") && Catch::Contains("shows OAuth for it too"));
  // The same row without the earlier password success: OAuth.
  InventoryAggregator oauth_only;
  oauth_only.set_since(*parse_date("2026-12-05") + hours(0));
  oauth_only.add(SmtpAuthReportRow{"app-mixed@contoso.com", std::string("OAuth"), 50, 0, 0, 100});
  CHECK(find_sender(evaluate_org_enabled(oauth_only), "app-mixed@contoso.com")->verdict == Verdict::oauth);
}

TEST_CASE("review 66 N5: a sender known only from before --since is dated by its last success and keeps its spelling", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-12-02") + hours(0));
  aggregator.add(signin("Rare@Contoso.com", "198.51.100.71", "2026-11-20T07"));
  aggregator.add(signin("Rare@Contoso.com", "198.51.100.71", "2026-12-01T10", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* rare = find_sender(result, "Rare@Contoso.com");
  REQUIRE(rare);
  CHECK(rare->verdict == Verdict::will_break);
  CHECK_THAT(rare->reason, Catch::Contains("last success 2026-11-20T07:00:00Z") && !Catch::Contains("2026-12-01T10"));
}

TEST_CASE("review 66 N3: a usage report that begins after the sign-in logs does not count as listing OAuth senders", "[inventory][review]") {
  fixtures::TemporaryDirectory dir("inventory-usage-period");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  InventoryRequest request;
  request.today = test_today;
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-01_2026-12-01.csv",
                                    header + "2026-11-03T08:00:00Z,printer@contoso.com,203.0.113.7,Authenticated SMTP,0\n"),
                          dir.write("NonInteractiveSignIns_2026-11-01_2026-12-01.csv", header)};
  request.mailboxes_file = dir.write("mailboxes.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\n"
                                                      "printer@contoso.com,\nmonthly-app@contoso.com,False\n");
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  request.usage_report_file = dir.write("usage7.csv", usage_report_header + "2026-11-30,monthly-app@contoso.com,App,False,,2026-11-20,No,No,No,No,No,No,No,No,No,7\n");
  auto result = run_inventory(request);
  REQUIRE(result.ok());
  CHECK_FALSE(result->coverage.usage_covers_signins());
  CHECK_FALSE(result->coverage.lists_every_smtp_user());
  const auto* app = find_sender(*result, "monthly-app@contoso.com");
  REQUIRE(app);
  CHECK(app->verdict == Verdict::exposed_unused);
  // The logs' period is the download's (its file name), not their first row's.
  CHECK_THAT(app->reason, Catch::Contains("covers 2026-11-24 to 2026-11-30, the sign-in logs 2026-11-01 to 2026-12-01") &&
                              !Catch::Contains("$true"));
  const auto json = make_report(*result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool period_row = false;
  for (const auto& check : json["checks"])
    if (check["id"] == "inventory.usage-period") period_row = check["message"].get<std::string>().find("2026-11-01 to 2026-12-01") != std::string::npos;
  CHECK(period_row);
  // A 30-day report that covers the logs' days counts.
  request.usage_report_file = dir.write("usage30.csv", usage_report_header + "2026-11-30,monthly-app@contoso.com,App,False,,2026-11-20,No,No,No,No,No,No,No,No,No,30\n");
  auto covered = run_inventory(request);
  REQUIRE(covered.ok());
  CHECK(covered->coverage.lists_every_smtp_user());
  CHECK_THAT(find_sender(*covered, "monthly-app@contoso.com")->reason, Catch::Contains("$true"));
  // A long report refreshed months ago misses the logs' days (review 69 H2).
  request.usage_report_file = dir.write("usage180-old.csv", usage_report_header + "2026-09-30,monthly-app@contoso.com,App,False,,2026-09-20,No,No,No,No,No,No,No,No,No,180\n");
  auto stale = run_inventory(request);
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->coverage.usage_covers_signins());
  CHECK_THAT(find_sender(*stale, "monthly-app@contoso.com")->reason, !Catch::Contains("$true"));
}

TEST_CASE("review 66 N4: a guest account gets no mailbox command, no way forward and no place in the organization remedy", "[inventory][review]") {
  InventoryAggregator aggregator;
  const std::string guest = "partner_fabrikam.com#EXT#@contoso.onmicrosoft.com";
  aggregator.add(signin(guest, "198.51.100.80", "2026-11-20T07"));
  const std::string sprayed_guest = "j.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com";
  for (int i = 1; i <= 8; ++i) aggregator.add(signin(sprayed_guest, "203.0.113." + std::to_string(i), "2026-11-21T07", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* partner = find_sender(result, guest);
  REQUIRE(partner);
  CHECK(partner->guest);
  CHECK(partner->verdict == Verdict::will_break);
  CHECK(partner->way_forward.empty());
  CHECK_THAT(partner->reason, Catch::Contains("guest account") && Catch::Contains("Conditional Access"));
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool spraying = false;
  for (const auto& check : json["checks"]) {
    const std::string text = check["message"].get<std::string>() + " " + check["remedy"].get<std::string>();
    if (check["id"] == "inventory.org-enabled") CHECK(text.find("#EXT#") == std::string::npos);
    if (check["id"] == "inventory.password-spraying") {
      spraying = true;
      CHECK_THAT(text, Catch::Contains("of guest accounts: " + sprayed_guest) && !Catch::Contains("Set-CASMailbox"));
    }
  }
  CHECK(spraying);
}

TEST_CASE("review 66 N8: concealed names in use are not sent to Get-Mailbox", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.add(UsageRow{"5F2B1C9D8E7A6B5C4D3E2F1A0B9C8D7E", "2026-11-28", true, "30", "2026-11-30"});
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes.push_back(MailboxSetting{"scanner@contoso.com", false});
  EvidenceCoverage coverage;
  coverage.usage_report = true;
  const auto result = evaluate(aggregator, tenant, test_today, coverage);
  const auto* scanner = find_sender(result, "scanner@contoso.com");
  REQUIRE(scanner);
  CHECK_THAT(scanner->reason, Catch::Contains("no command resolves") && !Catch::Contains("Get-Mailbox"));
}

TEST_CASE("review 69 H1: a sprayed mailbox that a report shows sending is in use, never told to lose SMTP AUTH", "[inventory][review]") {
  InventoryAggregator aggregator;
  for (int i = 1; i <= 8; ++i) aggregator.add(signin("billing-app@contoso.com", "203.0.113." + std::to_string(i), "2026-11-21T07", 50126));
  aggregator.add(UsageRow{"billing-app@contoso.com", "2026-11-28", true, "30", "2026-11-30"});
  for (int i = 1; i <= 8; ++i) aggregator.add(signin("crm@contoso.com", "198.51.100." + std::to_string(i), "2026-11-21T07", 50126));
  aggregator.add(SmtpAuthReportRow{"crm@contoso.com", std::nullopt, 2000, 0, 0, 100});
  const auto result = evaluate_org_enabled(aggregator);
  for (const std::string user : {"billing-app@contoso.com", "crm@contoso.com"}) {
    const auto* sender = find_sender(result, user);
    REQUIRE(sender);
    CHECK(sender->verdict == Verdict::will_break);
    CHECK_THAT(sender->reason, Catch::Contains("keep SMTP AUTH enabled") && !Catch::Contains("Nothing shows a device"));
  }
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  for (const auto& check : json["checks"]) {
    const std::string remedy = check["remedy"].get<std::string>();
    if (check["id"] == "inventory.password-spraying") CHECK(remedy.find("$true") == std::string::npos);
    if (check["id"] == "inventory.org-enabled") CHECK_THAT(remedy, Catch::Contains("billing-app@contoso.com") && Catch::Contains("crm@contoso.com"));
  }
}

TEST_CASE("review 69 L3 L6 L8 L9: EAC rows per protocol, sign-in names that are not addresses, guests' setting, sprayed addresses apart", "[inventory][review]") {
  InventoryAggregator aggregator;
  // L3: 300 OAuth messages and 12 Basic ones are not "312 messages, Basic".
  aggregator.add(SmtpAuthReportRow{"erp@contoso.com", std::string("OAuth"), 300, 0, 0, 100});
  aggregator.add(SmtpAuthReportRow{"erp@contoso.com", std::string("Basic"), 12, 0, 0, 100});
  // L6: a sign-in name that is no address.
  aggregator.add(signin("5f2b1c9d8e7a6b5c4d3e2f1a0b9c8d7e", "198.51.100.90", "2026-11-20T07"));
  // L8: a guest.
  const std::string guest = "partner_fabrikam.com#EXT#@contoso.onmicrosoft.com";
  aggregator.add(signin(guest, "198.51.100.80", "2026-11-20T07"));
  // L9: a device at one address, someone trying its password from eight others.
  aggregator.add(signin("scanner@contoso.com", "198.51.100.20", "2026-11-20T07"));
  for (int i = 1; i <= 8; ++i) aggregator.add(signin("scanner@contoso.com", "203.0.113." + std::to_string(i), "2026-11-21T07", 50126));
  const auto result = evaluate_org_enabled(aggregator);

  const auto* erp = find_sender(result, "erp@contoso.com");
  REQUIRE(erp);
  CHECK(erp->verdict == Verdict::will_break);  // a Basic row is a password sender
  REQUIRE(erp->smtp_auth_report);
  CHECK(erp->smtp_auth_report->authentication_protocol == "OAuth 300 messages, Basic 12 messages");

  const auto* odd = find_sender(result, "5f2b1c9d8e7a6b5c4d3e2f1a0b9c8d7e");
  REQUIRE(odd);
  REQUIRE_FALSE(odd->way_forward.empty());
  for (const auto& way : odd->way_forward) CHECK_THAT(way.command, !Catch::Contains("--from 5f2b1c9d"));
  CHECK_THAT(odd->way_forward.front().why, Catch::Contains("is not an address"));

  std::string csv, markdown, text;
  make_report(result, OutputFormat::csv, &csv, diag::TextStyle{});
  make_report(result, OutputFormat::markdown, &markdown, diag::TextStyle{});
  make_report(result, OutputFormat::text, &text, diag::TextStyle{});
  CHECK_THAT(csv.substr(0, csv.find('\n')), Catch::EndsWith(",failed_only_ips"));
  // The ips column holds the device's address only; the sprayed ones have their own.
  CHECK_THAT(csv, Catch::Contains(",198.51.100.20,") && Catch::Contains("203.0.113.1 203.0.113.2"));
  CHECK(csv.find(",198.51.100.20 203.0.113") == std::string::npos);
  CHECK_THAT(markdown, Catch::Contains("203.0.113.1 (failed only)") && Catch::Contains("OAuth 300 messages, Basic 12 messages"));
  CHECK_THAT(text, Catch::Contains("setting: guest account: no mailbox in this tenant"));
}

// Both sign-in logs given whole, with their days, beside a report.
EvidenceCoverage whole_logs_with(bool usage_report, bool smtp_auth_report, std::chrono::sys_days from, std::chrono::sys_days to) {
  EvidenceCoverage coverage;
  coverage.interactive_log = coverage.non_interactive_log = true;
  coverage.usage_report = usage_report;
  coverage.smtp_auth_report = smtp_auth_report;
  coverage.signins_from = from;
  coverage.signins_to = to;
  return coverage;
}

TEST_CASE("An EAC report of unknown period beside a month of sign-in logs does not count as listing OAuth senders", "[inventory][review]") {
  auto coverage = whole_logs_with(false, true, std::chrono::year{2026} / 11 / 1, std::chrono::year{2026} / 12 / 1);
  CHECK_FALSE(coverage.lists_oauth_senders());
  InventoryAggregator aggregator;
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes.push_back(MailboxSetting{"monthly-app@contoso.com", false});
  const auto result = evaluate(aggregator, tenant, test_today, coverage);
  const auto* app = find_sender(result, "monthly-app@contoso.com");
  REQUIRE(app);
  CHECK_THAT(app->reason, Catch::Contains("7 days by default") && Catch::Contains("2026-11-01 to 2026-12-01") && !Catch::Contains("$true"));
  // A week of logs is what the report's default covers.
  coverage.signins_from = std::chrono::sys_days(std::chrono::year{2026} / 11 / 24);
  CHECK(coverage.lists_oauth_senders());
}

TEST_CASE("review 72 M3: with --since, a password sender that the usage report also lists is not called OAuth", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-12-01") + hours(0));
  aggregator.add(signin("moved@contoso.com", "198.51.100.30", "2026-11-10T07"));
  aggregator.add(UsageRow{"moved@contoso.com", "2026-11-10", true, "30", "2026-11-30"});
  const auto result = evaluate_org_enabled(aggregator);
  const auto* moved = find_sender(result, "moved@contoso.com");
  REQUIRE(moved);
  CHECK(moved->verdict == Verdict::will_break);
  CHECK(moved->auth == AuthEvidence::basic);
  CHECK_THAT(moved->reason, Catch::Contains("before --since (last success 2026-11-10T07:00:00Z)") && !Catch::Contains("uses OAuth"));
}

TEST_CASE("review 72 H1 M1: a sprayed mailbox is not told to lose SMTP AUTH while a concealed or too short report may hide it", "[inventory][review]") {
  const auto spraying_remedy = [](const InventoryResult& result) {
    const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
    for (const auto& check : json["checks"])
      if (check["id"] == "inventory.password-spraying") return check["remedy"].get<std::string>();
    return std::string();
  };
  InventoryAggregator aggregator;
  for (int i = 1; i <= 8; ++i) aggregator.add(signin("oauth-app2@contoso.com", "203.0.113." + std::to_string(i), "2026-12-03T07", 50126));
  // The usage report hides names: one SMTP user in use matches no mailbox.
  aggregator.add(UsageRow{"5F2B1C9D8E7A6B5C4D3E2F1A0B9C8D7E", "2026-12-03", true, "30", "2026-12-04"});
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  EvidenceCoverage coverage;
  coverage.interactive_log = coverage.non_interactive_log = true;
  coverage.usage_report = true;
  const auto concealed = evaluate(aggregator, tenant, test_today, coverage);
  CHECK_THAT(spraying_remedy(concealed), Catch::Contains("concealment off") && !Catch::Contains("$true"));
  CHECK_THAT(find_sender(concealed, "oauth-app2@contoso.com")->reason, Catch::Contains("keep SMTP AUTH enabled"));
  // A 7-day EAC export beside a month of logs clears no one.
  InventoryAggregator sprayed;
  for (int i = 1; i <= 8; ++i) sprayed.add(signin("billing-app@contoso.com", "203.0.113." + std::to_string(i), "2026-12-02T07", 50126));
  const auto short_eac = whole_logs_with(false, true, std::chrono::year{2026} / 11 / 5, std::chrono::year{2026} / 12 / 5);
  auto result = evaluate(sprayed, tenant, test_today, short_eac);
  result.coverage = short_eac;  // as run_inventory keeps it
  CHECK_THAT(spraying_remedy(result), Catch::Contains("covers the sign-in logs' days, 2026-11-05 to 2026-12-05"));
  CHECK_THAT(find_sender(result, "billing-app@contoso.com")->reason, Catch::Contains("before you turn SMTP AUTH off"));
}

TEST_CASE("review 72 L4: a sender the usage report last saw before the sign-in logs begin is not called OAuth from them", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.add(UsageRow{"invoices@contoso.com", "2026-11-21", true, "30", "2026-12-04"});
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  const auto coverage = whole_logs_with(true, false, std::chrono::year{2026} / 11 / 28, std::chrono::year{2026} / 12 / 5);
  const auto result = evaluate(aggregator, tenant, test_today, coverage);
  const auto* invoices = find_sender(result, "invoices@contoso.com");
  REQUIRE(invoices);
  CHECK(invoices->verdict == Verdict::will_break);
  CHECK_THAT(invoices->reason, Catch::Contains("is before the sign-in logs begin (2026-11-28)") && !Catch::Contains("it uses OAuth"));
}

TEST_CASE("review 75 H: with --since, a sender the history's usage report saw sending before the date is never told to disable SMTP AUTH", "[inventory][review]") {
  fixtures::TemporaryDirectory dir("inventory-db-since");
  InventoryRequest request;
  request.db_file = dir.path("history.sqlite");
  request.today = test_today;
  request.mailboxes_file = dir.write("mailboxes.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\nmonthly-app@contoso.com,False\n");
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  request.usage_report_file = dir.write("usage30.csv", usage_report_header + "2026-11-30,monthly-app@contoso.com,App,False,,2026-11-16,No,No,No,No,No,No,No,No,Yes,30\n");
  REQUIRE(run_inventory(request).ok());
  // A week later: a week of logs, no usage report, --since after its last activity.
  request.usage_report_file.clear();
  request.since = *parse_date("2026-11-28");
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-28_2026-12-02.csv", header),
                          dir.write("NonInteractiveSignIns_2026-11-28_2026-12-02.csv", header)};
  auto later = run_inventory(request);
  REQUIRE(later.ok());
  const auto* app = find_sender(*later, "monthly-app@contoso.com");
  REQUIRE(app);
  INFO(app->reason);
  CHECK(app->verdict != Verdict::exposed_unused);
  CHECK_THAT(app->reason, !Catch::Contains("$true"));
}

TEST_CASE("review 72 M4: inputs that ended weeks before today tell no mailbox to lose SMTP AUTH and say how old they are", "[inventory][review]") {
  const auto checks_of = [](const InventoryResult& result) {
    std::map<std::string, nlohmann::json> checks;
    const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
    for (const auto& check : json["checks"]) checks[check["id"].get<std::string>()] = check;
    return checks;
  };
  InventoryAggregator aggregator;
  for (int i = 1; i <= 8; ++i) aggregator.add(signin("reception@contoso.com", "203.0.113." + std::to_string(i), "2026-10-20T07", 50126));
  aggregator.add(UsageRow{"app@contoso.com", "2026-10-20", true, "30", "2026-10-31"});
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes.push_back(MailboxSetting{"scanner@contoso.com", false});
  // Both logs whole and a usage report that covers them: every sender of
  // their days is listed, but the days ended a month ago.
  auto coverage = whole_logs_with(true, false, std::chrono::year{2026} / 10 / 1, std::chrono::year{2026} / 10 / 31);
  coverage.usage_from = std::chrono::sys_days(std::chrono::year{2026} / 10 / 1);
  coverage.usage_to = std::chrono::sys_days(std::chrono::year{2026} / 10 / 31);
  REQUIRE(coverage.lists_every_smtp_user());
  auto old = evaluate(aggregator, tenant, test_today, coverage);
  old.coverage = coverage;  // as run_inventory keeps it
  const auto* scanner = find_sender(old, "scanner@contoso.com");
  REQUIRE(scanner);
  CHECK(scanner->verdict == Verdict::exposed_unused);
  CHECK_THAT(scanner->reason, Catch::Contains("the inputs end on 2026-10-31, 32 days before today (2026-12-02)") && !Catch::Contains("$true"));
  auto checks = checks_of(old);
  REQUIRE(checks.count("inventory.inputs-old"));
  CHECK(checks["inventory.inputs-old"]["status"] == "warn");
  CHECK(checks["inventory.inputs-old"]["inputs_end"] == "2026-10-31");
  CHECK(checks["inventory.will-break"]["status"] != "pass");
  // Nobody seen breaking in month-old inputs is no pass either.
  auto quiet = evaluate(InventoryAggregator{}, tenant, test_today, coverage);
  quiet.coverage = coverage;
  CHECK(checks_of(quiet)["inventory.will-break"]["status"] == "warn");
  CHECK_THAT(checks_of(quiet)["inventory.will-break"]["message"].get<std::string>(), Catch::Contains("the inputs end on 2026-10-31"));
  for (const char* id : {"inventory.exposed-unused", "inventory.password-spraying", "inventory.org-enabled"}) {
    INFO(id);
    REQUIRE(checks.count(id));
    CHECK_THAT(checks[id]["remedy"].get<std::string>(), Catch::Contains("he inputs end on 2026-10-31"));
  }
  CHECK_THAT(checks["inventory.exposed-unused"]["remedy"].get<std::string>(), !Catch::Contains("$true"));
  // The same inputs a few days old are today's: the advice stands.
  auto recent = evaluate(aggregator, tenant, std::chrono::sys_days(std::chrono::year{2026} / 11 / 5), coverage);
  recent.coverage = coverage;
  checks = checks_of(recent);
  CHECK_FALSE(checks.count("inventory.inputs-old"));
  CHECK_THAT(find_sender(recent, "scanner@contoso.com")->reason, Catch::Contains("$true"));
}

TEST_CASE("review 77 H2: a device locked out by someone else's wrong passwords will break and is not told to lose SMTP AUTH", "[inventory][review]") {
  InventoryAggregator aggregator;
  for (int day = 10; day <= 20; ++day) aggregator.add(signin("kiosk@contoso.com", "198.51.100.40", "2026-11-" + std::to_string(day) + "T07", 50053));
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("kiosk@contoso.com", "203.0.113." + std::to_string(i), "2026-11-15T03", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* kiosk = find_sender(result, "kiosk@contoso.com");
  REQUIRE(kiosk);
  CHECK(kiosk->verdict == Verdict::will_break);
  CHECK_THAT(kiosk->reason, Catch::Contains("Every sign-in from 198.51.100.40 was refused by a lockout"));
  // Six addresses tried the password; the locked one is not counted among them.
  CHECK(address_pattern(*kiosk).failed_only == 6);
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  for (const auto& check : json["checks"])
    if (check["id"] == "inventory.password-spraying") {
      CHECK_THAT(check["message"].get<std::string>(), Catch::Contains("of mailboxes in use") && Catch::Contains("kiosk@contoso.com (6 addresses)"));
      CHECK_THAT(check["remedy"].get<std::string>(), Catch::Contains("Do not turn SMTP AUTH off for a mailbox a device uses"));
    }
  CHECK(json["status"] == "fail");
}

TEST_CASE("review 77 H3: a password that worked from many addresses before --since is still used elsewhere", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-12-01") + hours(0));
  for (int i = 1; i <= 5; ++i) aggregator.add(signin("bob@contoso.com", "203.0.113." + std::to_string(10 + i), "2026-11-1" + std::to_string(i) + "T09"));
  aggregator.add(signin("bob@contoso.com", "198.51.100.70", "2026-12-01T09"));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* bob = find_sender(result, "bob@contoso.com");
  REQUIRE(bob);
  CHECK(bob->success_ips_before_since.size() == 5);
  CHECK(address_pattern(*bob).used_elsewhere());
  // No address of a password used elsewhere goes into SPF or a connector.
  for (const auto& way : bob->way_forward) CHECK(way.ip.empty());
  // Every success before --since, and a mailbox row: still flagged.
  InventoryAggregator earlier_only;
  earlier_only.set_since(*parse_date("2026-12-01") + hours(0));
  for (int i = 1; i <= 5; ++i) earlier_only.add(signin("carol@contoso.com", "203.0.113." + std::to_string(20 + i), "2026-11-1" + std::to_string(i) + "T09"));
  TenantSettings tenant;
  tenant.smtp_client_authentication_disabled = false;
  tenant.mailboxes.push_back(MailboxSetting{"carol@contoso.com", std::nullopt});
  const auto only_before = evaluate(earlier_only, tenant, test_today);
  const auto* carol = find_sender(only_before, "carol@contoso.com");
  REQUIRE(carol);
  CHECK(address_pattern(*carol).used_elsewhere());
  const auto json = make_report(result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  bool flagged = false;
  for (const auto& check : json["checks"])
    if (check["id"] == "inventory.password-used-elsewhere") flagged = check["message"].get<std::string>().find("bob@contoso.com (6 addresses)") != std::string::npos;
  CHECK(flagged);
}

TEST_CASE("review 80 H1: an attacker's own try that met the lock is not taken for the device", "[inventory][review]") {
  InventoryAggregator aggregator;
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("ceo2@contoso.com", "5.188.10." + std::to_string(10 + i), "2026-11-20T03", 50126));
  // Entra's answer to the same attacker once the account is locked.
  aggregator.add(signin("ceo2@contoso.com", "5.188.10.1", "2026-11-20T03", 50053));
  aggregator.add(signin("ceo2@contoso.com", "5.188.10.2", "2026-11-20T03", 50053));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* ceo = find_sender(result, "ceo2@contoso.com");
  REQUIRE(ceo);
  CHECK(ceo->verdict == Verdict::refused);
  CHECK(address_pattern(*ceo).failed_only == 8);
}

TEST_CASE("review 80 H3: addresses that only failed before --since still show the password under attack", "[inventory][review]") {
  InventoryAggregator aggregator;
  aggregator.set_since(*parse_date("2026-11-24") + hours(0));
  for (int i = 1; i <= 6; ++i) aggregator.add(signin("shared-finance@contoso.com", "80.94.95." + std::to_string(i), "2026-11-2" + std::to_string(i % 3) + "T03", 50126));
  aggregator.add(signin("shared-finance@contoso.com", "80.94.95.12", "2026-11-25T03", 50126));
  const auto result = evaluate_org_enabled(aggregator);
  const auto* shared = find_sender(result, "shared-finance@contoso.com");
  REQUIRE(shared);
  CHECK(address_pattern(*shared).sprayed());
}

TEST_CASE("review 80 H4: the two logs of different months are not both logs whole", "[inventory][review]") {
  fixtures::TemporaryDirectory dir("inventory-disjoint-logs");
  InventoryRequest request;
  request.today = test_today;
  const std::string header = "Date (UTC),Username,IP address,Client app,Sign-in error code\n";
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-02_2026-12-02.csv", header),
                          dir.write("NonInteractiveSignIns_2026-10-02_2026-11-02.csv", header)};
  request.mailboxes_file = dir.write("mailboxes.csv", "PrimarySmtpAddress,SmtpClientAuthenticationDisabled\nmonthly@contoso.com,False\n");
  request.transport_config_file = dir.write("t.txt", "SmtpClientAuthenticationDisabled : False\n");
  auto result = run_inventory(request);
  REQUIRE(result.ok());
  CHECK_FALSE(result->coverage.both_logs_whole());
  // Consecutive monthly downloads share only their boundary day.
  CHECK_THAT(result->coverage.logs_disjoint, Catch::Contains("interactive 2026-11-02 to 2026-12-02, non-interactive 2026-10-02 to 2026-11-02"));
  const auto json = make_report(*result, OutputFormat::json, nullptr, diag::TextStyle{}).to_json();
  std::string will_break_status, logs_message;
  for (const auto& check : json["checks"]) {
    if (check["id"] == "inventory.will-break") will_break_status = check["status"];
    if (check["id"] == "inventory.signin-logs") logs_message = check["message"];
  }
  CHECK(will_break_status == "warn");
  CHECK_THAT(logs_message, Catch::Contains("cover different days"));
  // The same month for both is whole.
  request.signin_files = {dir.write("InteractiveSignIns_2026-11-02_2026-12-02.csv", header),
                          dir.write("NonInteractiveSignIns_2026-11-02_2026-12-02.csv", header)};
  result = run_inventory(request);
  REQUIRE(result.ok());
  CHECK(result->coverage.both_logs_whole());
}
