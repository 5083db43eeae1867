// sendcheck-listen against the real clients Debian ships, as a matrix of
// client x profile -> the verdict and listen's exit code: swaks, msmtp,
// curl, Python's smtplib, openssl s_client (TLS 1.0 where the local OpenSSL
// allows it at security level 0), and Postfix and Exim (BDAT) as clients. Each listener is
// its own process on loopback; every wait is bounded far above --timeout.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_schema.h"
#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace diag::smtp;

namespace {

// The device's session among listen's JSON lines: not the readiness check
// (no command, no ClientHello).
nlohmann::json device_session(const std::vector<nlohmann::json>& sessions) {
  for (const auto& line : sessions) {
    const bool bare = line["commands"].empty() && line["tls"]["offered_max"].is_null() && !line["tls"]["hello_in_clear"].get<bool>();
    if (!bare) return line;
  }
  return nullptr;
}

struct Case {
  std::string name;
  std::vector<std::string> listen_args;
  // The client's command line; {port} is the listener's port, {dir} a temporary directory.
  std::string client;
  std::string verdict;
  int exit_code;
  std::vector<std::string> needs;  // programs the client needs
  std::string input = {};          // the client's standard input
  std::vector<std::string> reason_has = {};  // what the reason must say (every finding is in it)
};

// A token that could be Microsoft's for Exchange Online: the listener can
// only say it was sent right, never that it works.
const std::string plausible_token = test_jwt(exchange_user_claims());

std::string expand(std::string text, std::uint16_t port, const std::string& dir) {
  for (auto [key, value] : {std::pair<std::string, std::string>{"{port}", std::to_string(port)}, {"{dir}", dir},
                            {"{jwt}", plausible_token}})
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size())) text.replace(at, key.size(), value);
  return text;
}

const std::string swaks_base =
    "swaks --server 127.0.0.1:{port} --timeout 10 --from printer@contoso.example --to staff@contoso.example "
    "--helo printer.contoso.example ";
const std::string python_smtplib =
    "python3 - <<'EOF'\n"
    "import smtplib, base64, ssl\n"
    "s = smtplib.SMTP('127.0.0.1', {port}, local_hostname='app.contoso.example', timeout=10)\n"
    "mode = '%MODE%'\n"
    "s.ehlo('app.contoso.example')\n"
    "if mode not in ('clear', 'auth-first', 'not-jwt-clear'):\n"
    "    s.starttls(context=ssl._create_unverified_context())\n"
    "    s.ehlo('app.contoso.example')\n"
    "token = {'bad-token': '', 'not-jwt': 'eyJ0eXAi.token', 'not-jwt-clear': 'eyJ0eXAi.token'}.get(mode, '{jwt}')\n"
    "if mode == 'auth-first':\n"
    "    print(s.docmd('AUTH', 'LOGIN'))\n"
    "else:\n"
    "    raw = base64.b64encode(('user=app@contoso.example\\x01auth=Bearer ' + token + '\\x01\\x01').encode()).decode()\n"
    "    print(s.docmd('AUTH', 'XOAUTH2 ' + raw))\n"
    "    s.sendmail('app@contoso.example', ['staff@contoso.example'], 'Subject: smtplib\\r\\n\\r\\nhello\\r\\n')\n"
    "EOF\n";

std::string python_mode(const std::string& mode) {
  std::string text = python_smtplib;
  text.replace(text.find("%MODE%"), 6, mode);
  return text;
}

std::vector<Case> matrix() {
  const std::string submission = "--profile exo-submission";
  return {
      {"swaks STARTTLS + AUTH LOGIN", {"--profile", "exo-submission"},
       swaks_base + "--tls --auth LOGIN --auth-user printer@contoso.example --auth-password Pw-1", "basic-auth", 1, {"swaks"}},
      {"swaks STARTTLS, no AUTH", {"--profile", "exo-submission"}, swaks_base + "--tls", "sends-without-auth", 1, {"swaks"}},
      {"swaks --tls-on-connect on a STARTTLS port", {"--profile", "exo-submission"}, swaks_base + "--tls-on-connect",
       "implicit-tls", 1, {"swaks"}},
      {"swaks --tls-on-connect on a 465-style listener", {"--profile", "exo-submission", "--implicit-tls"},
       swaks_base + "--tls-on-connect --auth LOGIN --auth-user printer@contoso.example --auth-password Pw-1", "implicit-tls",
       1, {"swaks"}, "", {"Also basic-auth (breaks): it uses basic authentication (AUTH LOGIN"}},
      {"swaks AUTH LOGIN accepted, MAIL FROM another address", {"--profile", "exo-submission", "--basic-auth", "accept"},
       "swaks --server 127.0.0.1:{port} --timeout 10 --from noreply@contoso.example --to staff@contoso.example "
       "--helo scanner.contoso.example --tls --auth LOGIN --auth-user scanner@contoso.example --auth-password Pw-1",
       "basic-auth", 1, {"swaks"}, "", {"Also sender-not-permitted (breaks): its MAIL FROM <noreply@contoso.example>"}},
      {"swaks with a single-label EHLO", {"--profile", "exo-submission"},
       "swaks --server 127.0.0.1:{port} --timeout 10 --from p@contoso.example --to s@contoso.example --helo PRINTER01",
       "invalid-ehlo", 1, {"swaks"}},
      {"swaks direct send to exo-mx", {"--profile", "exo-mx", "--accept-domain", "contoso.example"}, swaks_base + "--tls",
       "direct-send-works", 0, {"swaks"}},
      {"swaks direct send, RejectDirectSend", {"--profile", "exo-mx", "--accept-domain", "contoso.example", "--reject-direct-send"},
       swaks_base + "--tls", "needs-partner-connector", 1, {"swaks"}},
      {"msmtp STARTTLS + AUTH LOGIN", {"--profile", "exo-submission"},
       "printf 'Subject: msmtp\\n\\nhi\\n' | msmtp --host=127.0.0.1 --port={port} --tls=on --tls-starttls=on "
       "--tls-certcheck=off --auth=login --user=printer@contoso.example --passwordeval='echo Pw-2' "
       "--domain=printer.contoso.example --from=printer@contoso.example staff@contoso.example",
       "basic-auth", 1, {"msmtp"}},
      {"msmtp checking the certificate it does not trust", {"--profile", "exo-submission"},
       "printf 'Subject: msmtp\\n\\nhi\\n' | msmtp --host=127.0.0.1 --port={port} --tls=on --tls-starttls=on "
       "--tls-trust-file=/etc/ssl/certs/ca-certificates.crt --domain=printer.contoso.example "
       "--from=printer@contoso.example staff@contoso.example",
       "certificate-not-trusted", 3, {"msmtp"}},
      {"curl smtp:// with XOAUTH2 over STARTTLS", {"--profile", "exo-submission"},
       "printf 'Subject: curl\\r\\n\\r\\nhi\\r\\n' | curl -sS --max-time 10 smtp://127.0.0.1:{port}/app.contoso.example "
       "--ssl-reqd -k --user app@contoso.example: --oauth2-bearer {jwt} --mail-from app@contoso.example "
       "--mail-rcpt staff@contoso.example -T -",
       "oauth-token-unchecked", 3, {"curl"}, "",
       {"it sends XOAUTH2 correctly over TLSv1.3", "`sendcheck probe smtp.office365.com --port 587",
        "-SmtpClientAuthenticationDisabled $false"}},
      {"curl smtp:// with XOAUTH2, a token that is not a JWT", {"--profile", "exo-submission"},
       "printf 'Subject: curl\\r\\n\\r\\nhi\\r\\n' | curl -sS --max-time 10 smtp://127.0.0.1:{port}/app.contoso.example "
       "--ssl-reqd -k --user app@contoso.example: --oauth2-bearer eyJ0eXAi.token --mail-from app@contoso.example "
       "--mail-rcpt staff@contoso.example -T -",
       "oauth-token-invalid", 1, {"curl"}, "", {"its token is not a JWT"}},
      {"curl smtp:// asking for AUTH PLAIN over STARTTLS", {"--profile", "exo-submission"},
       "printf 'Subject: curl\\r\\n\\r\\nhi\\r\\n' | curl -sS --max-time 10 smtp://127.0.0.1:{port}/app.contoso.example "
       "--ssl-reqd -k --user app@contoso.example:Pw-3 --login-options AUTH=PLAIN --mail-from app@contoso.example "
       "--mail-rcpt staff@contoso.example -T -",
       "no-common-auth-mechanism", 3, {"curl"}, "", {"no AUTH mechanism it supports among LOGIN XOAUTH2"}},
      // A TLS 1.2 client with RSA key exchange only (older printers): the
      // listener's default certificate must serve it, as Exchange Online's RSA one does.
      {"curl smtp:// RSA-only TLS 1.2, no AUTH", {"--profile", "exo-submission"},
       "printf 'Subject: curl\\r\\n\\r\\nhi\\r\\n' | curl -sS --max-time 10 smtp://127.0.0.1:{port}/printer.contoso.example "
       "--ssl-reqd -k --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 --mail-from printer@contoso.example "
       "--mail-rcpt staff@contoso.example -T -",
       "sends-without-auth", 1, {"curl"}},
      {"curl smtp:// with AUTH PLAIN in clear text", {"--profile", "accept-all"},
       "printf 'Subject: curl\\r\\n\\r\\nhi\\r\\n' | curl -sS --max-time 10 smtp://127.0.0.1:{port}/app.contoso.example "
       "--user app@contoso.example:Pw-3 --login-options AUTH=PLAIN --mail-from app@contoso.example "
       "--mail-rcpt staff@contoso.example -T -",
       "basic-auth", 1, {"curl"}},
      {"Python smtplib XOAUTH2", {"--profile", "exo-submission"}, python_mode("oauth"), "oauth-token-unchecked", 3,
       {"python3"}, "", {"Microsoft will check the token"}},
      {"Python smtplib XOAUTH2 without a token", {"--profile", "exo-submission"}, python_mode("bad-token"),
       "oauth-token-invalid", 1, {"python3"}, "", {"it sent no token"}},
      {"Python smtplib XOAUTH2 in clear text", {"--profile", "accept-all"}, python_mode("not-jwt-clear"),
       "oauth-in-clear-text", 1, {"python3"}, "", {"revoke that token", "Also oauth-token-invalid (breaks)"}},
      {"Python smtplib XOAUTH2 before STARTTLS on exo-submission", {"--profile", "exo-submission"}, python_mode("clear"),
       "auth-before-starttls", 1, {"python3"}, "", {"Also oauth-in-clear-text (breaks)", "revoke it"}},
      {"Python smtplib AUTH before STARTTLS", {"--profile", "exo-submission"}, python_mode("auth-first"),
       "auth-before-starttls", 1, {"python3"}},
      {"openssl s_client -tls1 against exo-mx", {"--profile", "exo-mx", "--accept-domain", "contoso.example"},
       "openssl s_client -starttls smtp -connect 127.0.0.1:{port} -tls1 -cipher DEFAULT@SECLEVEL=0 </dev/null",
       "cannot-do-tls-1.2", 1, {"openssl"}},
      {"openssl s_client that verifies the certificate", {"--profile", "exo-submission"},
       "openssl s_client -starttls smtp -connect 127.0.0.1:{port} -verify_return_error "
       "-CAfile /etc/ssl/certs/ca-certificates.crt </dev/null",
       "certificate-not-trusted", 3, {"openssl"}},
  };
}

bool openssl_allows_tls1() {
  // Debian's OpenSSL 3 still has TLS 1.0 at security level 0: ask it.
  return run_program({"sh", "-c", "openssl s_client -help 2>&1 | grep -q -- '-tls1 '"}, 10s).exit_code == 0;
}

}  // namespace

TEST_CASE("swaks can do TLS (Net::SSLeay and IO::Socket::SSL)", "[listen][peers]") {
  if (auto missing = peer_missing({"swaks"})) return skip_or_fail(*missing);
  const auto support = run_program({"swaks", "--support"}, 20s);
  INFO(support.out << support.err);
  const bool tls = (support.out + support.err).find("=== TLS supported") != std::string::npos;
  if (!tls) skip_or_fail("swaks has no TLS: install libnet-ssleay-perl and libio-socket-ssl-perl");
}

TEST_CASE("sendcheck-listen: real clients x profiles give the expected verdict and exit code", "[listen][peers]") {
  const bool swaks_tls = have_program("swaks") &&
                         (run_program({"swaks", "--support"}, 20s).out.find("=== TLS supported") != std::string::npos);
  for (const auto& entry : matrix()) {
    DYNAMIC_SECTION(testing_support::section_title(entry.name)) {
      if (auto missing = peer_missing(entry.needs)) {
        skip_or_fail(entry.name + ": " + *missing);
        continue;
      }
      if (entry.needs.front() == "swaks" && !swaks_tls) {
        skip_or_fail(entry.name + ": swaks has no TLS (libnet-ssleay-perl, libio-socket-ssl-perl)");
        continue;
      }
      if (entry.client.find(" -tls1 ") != std::string::npos && !openssl_allows_tls1()) {
        WARN("this OpenSSL has no -tls1: skipped");
        continue;
      }
      TempDir dir;
      std::vector<std::string> args = entry.listen_args;
      args.push_back("--json");
      Listener listener(args, 1);
      const auto client = run_program({"sh", "-c", expand(entry.client, listener.port, dir.path())}, 30s);
      const auto run = listener.finish();
      INFO(entry.name << "\nclient: " << client.exit_code << "\n" << client.out << client.err << "\nlisten:\n" << run.out << run.err);
      const auto lines = json_lines(run.out);
      json_schema::check_valid("sendcheck-listen", run.out);
      const auto session = device_session(listen_sessions(run.out));
      REQUIRE_FALSE(session.is_null());
      CHECK(session["verdict"]["verdict"] == entry.verdict);
      CHECK(run.exit_code == entry.exit_code);
      REQUIRE(lines.back().contains("summary"));
      CHECK(lines.back()["summary"]["exit_code"] == entry.exit_code);
      for (const auto& part : entry.reason_has) CHECK_THAT(session["verdict"]["summary"].get<std::string>(), Catch::Contains(part));
      // Secrets never show.
      for (const std::string& secret : {std::string("Pw-1"), std::string("Pw-2"), std::string("Pw-3"),
                                        std::string("eyJ0eXAi.token"), plausible_token})
        CHECK(run.out.find(secret) == std::string::npos);
      if (entry.name.find("RSA-only") != std::string::npos) {
        CHECK(session["tls"]["version"] == "TLSv1.2");
        CHECK(session["tls"]["cipher"] == "ECDHE-RSA-AES128-GCM-SHA256");
      }
      if (entry.verdict == "sends-without-auth") {
        CHECK(session["mail_from"] == "printer@contoso.example");
        CHECK(session["refusals"]["mail"].get<std::string>().starts_with("530 5.7.57"));
      }
    }
  }
}

// Exim as a client, the one real client here that sends BDAT (CHUNKING):
// scripts/install-deps --test unpacks it (its package conflicts with
// Postfix's) and creates the Debian-exim user it looks up at start.
const std::string exim_binary = [] {
  const char* path = std::getenv("SENDCHECK_EXIM");
  return std::string(path && *path ? path : "/opt/sendcheck-peers/exim4/usr/sbin/exim4");
}();

std::optional<std::string> exim_missing() {
  if (::access(exim_binary.c_str(), X_OK) != 0) return exim_binary + " is missing (scripts/install-deps --test unpacks it)";
  if (!::getpwnam("Debian-exim")) return std::string("the Debian-exim user is missing (scripts/install-deps --test creates it)");
  if (::geteuid() != 0) return std::string("Exim as a client needs root: its spool belongs to Debian-exim");
  return std::nullopt;
}

TEST_CASE("sendcheck-listen: Exim as a client sends BDAT, as direct send and without AUTH", "[listen][peers][exim]") {
  if (auto missing = exim_missing()) return skip_or_fail(*missing);
  const passwd* exim_user = ::getpwnam("Debian-exim");
  REQUIRE(exim_user);
  struct EximCase {
    std::vector<std::string> listen_args;
    std::string verdict;
    int exit_code;
  };
  for (const auto& entry : {EximCase{{"--profile", "exo-mx", "--accept-domain", "contoso.example"}, "direct-send-works", 0},
                            EximCase{{"--profile", "exo-submission"}, "sends-without-auth", 1}}) {
    std::vector<std::string> args = entry.listen_args;
    args.push_back("--json");
    Listener listener(args, 1, 90s);
    TempDir dir;
    // Exim delivers as Debian-exim: its spool and log must be that user's.
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    for (const std::string sub : {"/spool", "/log"}) {
      REQUIRE(::mkdir((dir.path() + sub).c_str(), 0750) == 0);
      REQUIRE(::chown((dir.path() + sub).c_str(), exim_user->pw_uid, exim_user->pw_gid) == 0);
    }
    const std::string config = dir.file("exim.conf",
        "exim_path = " + exim_binary + "\n"
        "keep_environment =\n"
        "primary_hostname = printer.contoso.example\n"
        "spool_directory = " + dir.path() + "/spool\n"
        "log_file_path = " + dir.path() + "/log/%slog\n"
        "begin routers\n"
        "listener:\n  driver = manualroute\n  route_list = * 127.0.0.1 byname\n  transport = to_listener\n  self = send\n"
        "begin transports\n"
        "to_listener:\n  driver = smtp\n  port = " + std::to_string(listener.port) + "\n  hosts_try_chunking = *\n"
        "begin retry\n* * F,1m,1m\n");
    const auto sent = run_program({exim_binary, "-C", config, "-odi", "-oi", "-f", "printer@contoso.example", "staff@contoso.example"},
                                  60s, {}, "Subject: through Exim\n\nhello\n");
    const auto run = listener.finish();
    INFO(sent.out << sent.err << run.out << run.err << read_file(dir.path() + "/log/mainlog"));
    const auto session = device_session(listen_sessions(run.out));
    REQUIRE_FALSE(session.is_null());
    CHECK(session["ehlo"] == "printer.contoso.example");
    CHECK(session["starttls"] == true);
    CHECK(session["verdict"]["verdict"] == entry.verdict);
    CHECK(run.exit_code == entry.exit_code);
    if (entry.verdict == "direct-send-works") {
      // The message came in BDAT chunks, and arrived whole.
      const auto commands = session["commands"].get<std::vector<std::string>>();
      CHECK(std::any_of(commands.begin(), commands.end(), [](const std::string& c) { return c.starts_with("BDAT "); }));
      CHECK(session["message"]["subject"] == "through Exim");
    } else {
      CHECK(session["mail_from"] == "printer@contoso.example");
      CHECK(session["refusals"]["mail"].get<std::string>().starts_with("530 5.7.57"));
    }
  }
}

TEST_CASE("sendcheck-listen: Postfix as a client, direct send and without AUTH", "[listen][peers][postfix]") {
  if (auto missing = peer_missing({"postfix"}, true)) return skip_or_fail(*missing);
  struct PostfixCase {
    std::vector<std::string> listen_args;
    std::string verdict;
    int exit_code;
  };
  for (const auto& entry : {PostfixCase{{"--profile", "exo-mx", "--accept-domain", "contoso.example"}, "direct-send-works", 0},
                            PostfixCase{{"--profile", "exo-submission"}, "sends-without-auth", 1}}) {
    std::vector<std::string> args = entry.listen_args;
    args.push_back("--json");
    Listener listener(args, 1, 90s);
    // Postfix takes the message on its own port and relays it to the listener, with STARTTLS.
    Postfix postfix({"relayhost=[127.0.0.1]:" + std::to_string(listener.port), "mynetworks=127.0.0.0/8",
                     "smtp_tls_security_level=encrypt", "smtp_helo_name=relay.contoso.example"});
    SessionConfig submit = client_config(postfix.port(), postfix_host);
    submit.starttls = StarttlsPolicy::never;
    submit.tls_mode = TlsMode::plain;
    submit.mail_from = "printer@contoso.example";
    submit.rcpt_to = {"staff@contoso.example"};
    submit.send = true;
    submit.message = build_test_message(submit.mail_from, submit.rcpt_to, "through Postfix", "hello\r\n");
    const auto queued = run_session(submit);
    REQUIRE_FALSE(queued.failure);
    const auto run = listener.finish();
    INFO(run.out << run.err << read_file(postfix.log_file()));
    const auto session = device_session(listen_sessions(run.out));
    REQUIRE_FALSE(session.is_null());
    CHECK(session["ehlo"] == "relay.contoso.example");
    CHECK(session["starttls"] == true);
    CHECK(session["verdict"]["verdict"] == entry.verdict);
    CHECK(run.exit_code == entry.exit_code);
  }
}
