// The SMTP engine: replies and EHLO extensions parsed, a bounded
// non-blocking connection (plain or TLS), the client as an explicit state
// machine after OpenSMTPD's smtp_client.c, the server side of the same
// engine (sendcheck-listen's profiles and our tests' scripted servers), and
// sendcheck-probe's checks and JSON.
//
// Every network peer is hostile: each read has a deadline, a line has a
// maximum length, a reply a maximum number of lines.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/base64.h"
#include "diag/ip.h"
#include "diag/report.h"
#include "diag/result.h"
#include "diag/tls.h"

namespace diag::dns {
class Resolver;
}

namespace diag::smtp {

using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Replies (RFC 5321 4.2) and enhanced status codes (RFC 3463, RFC 2034)

struct Reply {
  int code = 0;
  std::string enhanced;            // "5.7.30" from the first line; empty when absent
  std::vector<std::string> lines;  // each line's text after "ddd-" / "ddd ", verbatim
  // The text with the enhanced code taken off each line, lines joined by a space.
  std::string text() const;
  // The reply as it came, "ddd-..." lines joined by "\n".
  std::string raw() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

// Builds one reply from its lines. Bounded: a reply longer than max_lines
// is a protocol error, as is a line that is not "ddd[ -]text" or that
// changes the code in the middle of a reply.
class ReplyAssembler {
 public:
  explicit ReplyAssembler(std::size_t max_lines = 100) : max_lines_(max_lines) {}
  enum class Step { more, complete, error };
  Step feed(std::string_view line);  // a line without CR LF
  Reply take();                      // after complete; resets
  const std::string& error() const { return error_; }

 private:
  std::size_t max_lines_;
  Reply reply_;
  std::string error_;
};
// One whole reply from text lines ("\r\n" or "\n" separated): tests and fixtures.
Result<Reply> parse_reply(std::string_view text);
// "5.7.30" at the start of text, when its class matches the reply code's
// first digit (RFC 2034 4); empty otherwise.
std::string leading_enhanced_code(std::string_view text, int code);

// The EHLO reply's service extensions.
struct Extensions {
  std::string greeting;                // the first line: "SC1PR80CA0174.outlook.office365.com Hello [x.x.x.x]"
  std::vector<std::string> keywords;   // every extension line verbatim: "SIZE 157286400", "AUTH LOGIN XOAUTH2"
  bool starttls = false, pipelining = false, eight_bit_mime = false, smtputf8 = false, chunking = false,
       dsn = false, enhanced_status_codes = false, binary_mime = false;
  bool size_advertised = false;
  std::optional<std::uint64_t> size;   // SIZE's value; nullopt without one; 0 means no fixed limit (RFC 1870)
  std::vector<std::string> auth;       // mechanisms, upper case, from AUTH and the old AUTH=
  bool offers_auth(std::string_view mechanism) const;
};
Extensions parse_ehlo(const Reply& reply);

// ---------------------------------------------------------------------------
// Failure classes (STYLE.md 3, after OpenSMTPD)

enum class FailureClass { none, connect, tls, protocol, policy, internal };
std::string_view to_string(FailureClass value);

struct Failure {
  FailureClass failure_class = FailureClass::none;
  // What exactly: connect: "timeout" (no SYN-ACK: filtered), "refused",
  // "unreachable", "error"; tls: "handshake", "starttls-refused",
  // "starttls-missing"; protocol: "banner-timeout", "timeout", "closed",
  // "line-too-long", "too-many-lines", "not-smtp", "bad-reply",
  // "plaintext-after-starttls"; policy: "banner", "ehlo", "starttls",
  // "auth", "mail", "rcpt", "data", "message"; internal: "internal".
  std::string kind;
  std::string phase;    // the client state it happened in: "connect", "banner", "ehlo", ...
  std::string message;  // one sentence for the report; a policy reply's text verbatim
  std::optional<Reply> reply;
  explicit operator bool() const { return failure_class != FailureClass::none; }
};

// ---------------------------------------------------------------------------
// The connection: a non-blocking socket, poll with deadlines, TLS, lines.

struct RawSocket {
  int fd = -1;
  RawSocket() = default;
  explicit RawSocket(int descriptor) : fd(descriptor) {}
  ~RawSocket();
  RawSocket(RawSocket&& other) noexcept : fd(other.fd) { other.fd = -1; }
  RawSocket& operator=(RawSocket&& other) noexcept;
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  int release() { int out = fd; fd = -1; return out; }
};

enum class IoStatus { ok, timeout, closed, too_long, error, tls_error };
std::string_view to_string(IoStatus status);

struct ReadResult {
  IoStatus status = IoStatus::ok;
  std::string line;    // without CR LF; for too_long, the first bytes
  std::string detail;  // errno text or OpenSSL reason
};

struct ConnectResult {
  IoStatus status = IoStatus::ok;  // ok, timeout, error
  int error_number = 0;            // ECONNREFUSED, ENETUNREACH, ...
  std::string detail;
};

class Connection {
 public:
  Connection() = default;
  explicit Connection(RawSocket socket, std::size_t max_line = 4096);
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;

  // A non-blocking TCP connect bounded by the deadline.
  ConnectResult connect(const IpAddress& address, std::uint16_t port, Clock::time_point deadline);
  void set_max_line(std::size_t bytes) { max_line_ = bytes; }

  // One line, LF or CR LF terminated, at most max_line bytes.
  ReadResult read_line(Clock::time_point deadline);
  // Waits for any bytes (buffered or new): true if some arrived in time.
  bool wait_readable(Clock::time_point deadline);
  // Exactly `count` bytes (an HTTP body); what came before a failure is in `out`.
  IoStatus read_bytes(std::size_t count, std::string& out, Clock::time_point deadline);
  IoStatus write_all(std::string_view data, Clock::time_point deadline, std::string* detail = nullptr);

  // TLS over the socket. Bytes already buffered before the handshake are
  // reported (plaintext injected after STARTTLS, CVE-2011-0411) and dropped.
  IoStatus start_tls_client(SSL_CTX* context, const std::string& server_name, Clock::time_point deadline,
                            std::string* detail);
  IoStatus start_tls_server(SSL_CTX* context, Clock::time_point deadline, std::string* detail);
  // Why the last handshake failed (none after a success).
  tls::HandshakeFailure handshake_failure() const { return handshake_failure_; }
  // The bytes waiting to be read, without taking them: at least `count`, or
  // fewer when a line ended or the deadline or the stream's end came first.
  std::string_view peek(std::size_t count, Clock::time_point deadline);
  SSL* ssl() const { return ssl_.get(); }
  bool tls_active() const { return static_cast<bool>(ssl_); }
  std::size_t buffered() const { return buffer_.size() - buffer_start_; }
  std::string_view buffered_bytes() const { return std::string_view(buffer_).substr(buffer_start_); }
  std::size_t dropped_before_tls() const { return dropped_before_tls_; }
  int fd() const { return socket_.fd; }
  void close();  // sends close_notify when TLS is up, closes the socket

 private:
  IoStatus fill(Clock::time_point deadline, std::string* detail);
  bool attach_tls(SSL_CTX* context, std::string* detail);
  IoStatus handshake(bool client, Clock::time_point deadline, std::string* detail);
  RawSocket socket_;
  tls::SslPtr ssl_;
  std::string buffer_;
  std::size_t buffer_start_ = 0;
  std::size_t max_line_ = 4096;
  std::size_t dropped_before_tls_ = 0;
  tls::HandshakeFailure handshake_failure_ = tls::HandshakeFailure::none;
};

// Listening sockets for the server side.
Result<RawSocket> listen_tcp(const IpAddress& address, std::uint16_t port, int backlog = 64);
std::uint16_t local_port(int fd);
std::string peer_address(int fd);  // "127.0.0.1:51234"

// ---------------------------------------------------------------------------
// The client

enum class TlsMode { starttls, implicit, plain };  // plain: --starttls never
enum class StarttlsPolicy { require, try_, never };
std::optional<StarttlsPolicy> parse_starttls_policy(std::string_view text);
enum class AuthMechanism { none, login, plain, xoauth2 };
std::optional<AuthMechanism> parse_auth_mechanism(std::string_view text);
std::string_view to_string(AuthMechanism mechanism);  // "LOGIN", "PLAIN", "XOAUTH2"

// The client's states, in the order a session walks them.
enum class ClientState {
  connect,
  tls_handshake_implicit,
  banner,
  ehlo,
  helo,
  starttls,
  tls_handshake,
  ehlo_after_tls,
  auth,
  auth_continue,
  mail,
  rcpt,
  data,
  message,
  rset,
  quit,
  done,
};
std::string_view to_string(ClientState state);

struct Timeouts {
  Milliseconds connect{5000}, banner{5000}, command{5000}, tls{5000}, data{10000};
  static Timeouts uniform(Milliseconds each) { return {each, each, each, each, each * 2}; }
};

struct TranscriptEntry {
  std::string dir;   // "C" client, "S" server, "TLS" handshake facts, "NET" connect and close
  std::string line;  // AUTH payloads already replaced by "***"
  double ms = 0;     // since the session started
};

// One command and the server's verdict on it.
struct Exchange {
  std::string command;  // masked: "AUTH PLAIN ***"
  Reply reply;
  double ms = 0;  // time the reply took
};

struct SessionConfig {
  IpAddress address;
  std::uint16_t port = 25;
  std::string host;  // SNI and the certificate name check; empty: none
  std::string helo = "localhost";
  TlsMode tls_mode = TlsMode::starttls;
  StarttlsPolicy starttls = StarttlsPolicy::try_;
  tls::ClientConfig tls;  // server_name is taken from host
  AuthMechanism auth = AuthMechanism::none;
  std::string user;
  std::string secret;  // password, or the OAuth token for XOAUTH2; never in the transcript
  bool allow_plaintext_auth = false;
  // Send credentials over TLS whose certificate failed verification (an
  // untrusted chain or another name): only to a test server one trusts.
  bool allow_unverified_auth = false;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  bool send = false;
  std::string message;  // the full message (headers, blank line, body); dot-stuffed when sent
  Timeouts timeouts;
  Milliseconds slow_banner_after{5000};  // a banner later than this is a tarpit warning
  std::size_t max_line = 4096, max_reply_lines = 100;
  // Called as each transcript line happens (-v).
  std::function<void(const TranscriptEntry&)> on_transcript;
};

struct SessionResult {
  bool connected = false;
  double connect_ms = 0, banner_ms = 0;
  bool slow_banner = false;
  std::optional<Reply> banner;
  std::optional<Reply> ehlo, ehlo_after_tls;
  Extensions before_tls, after_tls;
  bool used_helo = false;  // EHLO was refused and HELO used instead
  bool starttls_offered = false, starttls_attempted = false, starttls_completed = false;
  std::optional<Reply> starttls_reply;
  bool tls_attempted = false;
  tls::Facts tls;
  std::optional<Exchange> auth;  // the final AUTH reply
  std::vector<Exchange> envelope;  // MAIL, RCPT..., DATA, end of message, RSET
  std::optional<Exchange> quit;
  std::vector<TranscriptEntry> transcript;
  Failure failure;  // the first failure; none when every step the config asked for succeeded
  std::vector<Failure> policy_replies;  // every 4xx/5xx, in order (the first may be `failure`)
  ClientState last_state = ClientState::connect;
  std::string peer_hint;  // for not-smtp: "HTTP", "SSH", "TLS", "POP3", "IMAP"; a failed implicit TLS handshake: "SMTP"
  std::string plain_greeting;  // with peer_hint "SMTP": the 220 line the port sent on a plain connection
};

// Runs one session through the state machine. Never throws for network
// conditions: everything becomes a Failure.
SessionResult run_session(const SessionConfig& config);

// RFC 4648 base64 (AUTH payloads) lives in diag/base64.h.
using diag::base64_decode;
using diag::base64_encode;
// Dot-stuffing (RFC 5321 4.5.2) with CR LF line ends and the final ".".
std::string dot_stuff(std::string_view message);

// ---------------------------------------------------------------------------
// The server side: profiles that answer like the real endpoints.

// How basic AUTH (LOGIN, PLAIN) is answered.
// What Exchange Online answers a password: accepted, the SMTP AUTH switch
// (5.7.139 "SmtpClientAuthentication is disabled"), Entra's block (5.7.139
// "basic authentication is disabled": security defaults, Conditional
// Access, an authentication policy), or basic authentication retired (5.7.30).
enum class BasicAuthAnswer { accept, disabled_139, blocked_by_policy_139, retired_30 };

// Which real endpoint a profile stands for: the verdict's remedies depend on it.
enum class ProfileKind { submission, mx, accept_all, custom };

struct ServerProfile {
  std::string name;        // "exo-submission", "exo-mx", "accept-all", or a test's own
  ProfileKind kind = ProfileKind::custom;
  std::string host_name;   // the front end in the banner and EHLO greeting
  std::string banner;      // the whole banner reply, "ddd text" lines joined by "\r\n"; "{host}" "{date}" expanded
  std::vector<std::string> ehlo_before_tls, ehlo_after_tls;  // extension keywords
  bool offer_starttls = true;
  bool auth_requires_tls = true;       // AUTH before STARTTLS: 504 5.7.4
  bool mail_requires_auth = false;     // submission: MAIL without AUTH: 530 5.7.57
  bool require_tls_1_2 = false;        // after a TLS 1.0/1.1 handshake: 421 4.7.66 (the legacy TLS reply)
  bool require_ehlo_domain = false;    // a single-label or malformed EHLO name: 501 5.5.4
  // MAIL FROM must be the authenticated user or one of `send_as` (lower
  // case), else 550 5.7.60, as Exchange Online without SendAs permission.
  bool enforce_send_as = false;
  std::vector<std::string> send_as;
  BasicAuthAnswer basic_auth = BasicAuthAnswer::accept;
  // XOAUTH2 tokens accepted: this one (a test standing in for Microsoft's
  // check); when empty, on a submission profile, any token that could be a
  // Microsoft access token (inspect_oauth_token), elsewhere any token.
  std::string oauth_token;
  // When set, every XOAUTH2 gets this reply instead ("535 5.7.139 ..."):
  // Microsoft Entra refusing the sign-in whatever the token.
  std::string oauth_refusal;
  std::vector<std::string> accept_domains;  // exo-mx: recipient domains taken for direct send; empty: any
  bool reject_direct_send = false;     // exo-mx: 550 5.7.68 for a sender in an accepted domain
  std::size_t max_message_bytes = 157286400;
  tls::VersionRange tls_versions;      // what the server's TLS accepts

  // Faults, for tests.
  Milliseconds banner_delay{0};
  std::string raw_greeting;         // sent instead of the banner, as is (HTTP, a 100 KB line)
  bool speak_http = false;          // send nothing; answer a request line with an HTTP 400
  int close_after_commands = -1;    // drop the connection after this many commands
  std::function<std::optional<std::string>(std::string_view command)> override_reply;  // "ddd text" lines
};

// The real endpoints, copied from the reference transcripts (m365-facts.md 5).
ServerProfile exo_submission_profile(BasicAuthAnswer basic_auth = BasicAuthAnswer::disabled_139);
ServerProfile exo_mx_profile(std::vector<std::string> accept_domains, bool reject_direct_send = false);
ServerProfile accept_all_profile();
std::optional<ServerProfile> profile_by_name(std::string_view name);

// What a device will meet at Microsoft 365, judged from one session against
// a profile. Typed: the text and JSON are rendered from it.
enum class DeviceVerdict {
  incomplete,               // the session ended before the device showed how it sends
  timed_out,                // a deadline passed (the TLS handshake or a command): nothing judged
  ready_for_oauth,          // XOAUTH2 over TLS with the token the profile was told to accept (never from listen alone)
  direct_send_works,        // exo-mx: anonymous mail to the tenant accepted, as direct send
  sends_without_auth,       // MAIL FROM without AUTH (530 5.7.57 on submission)
  basic_auth,               // AUTH LOGIN or PLAIN: basic authentication, being retired
  oauth_refused,            // XOAUTH2 answered 535 5.7.3 by a server that knows the token (tests)
  oauth_in_clear_text,      // XOAUTH2 without TLS: the token crossed the network in clear text
  oauth_token_invalid,      // the token cannot be a Microsoft access token for Exchange Online
  oauth_token_unchecked,    // XOAUTH2 sent right over TLS; only Microsoft can check the token
  no_common_auth_mechanism, // asked for a mechanism not offered, or left after reading the list
  auth_before_starttls,     // AUTH before STARTTLS: 504 5.7.4
  implicit_tls,             // TLS from the first byte (port 465 style)
  no_implicit_tls,          // plain SMTP, or nothing, where an --implicit-tls listener awaited a ClientHello
  legacy_tls,               // TLS 1.0/1.1 only
  certificate_not_trusted,  // the device refused our test certificate
  no_shared_cipher,         // TLS 1.2 capable, but no cipher, group or signature in common
  tls_failed,               // another handshake failure
  invalid_ehlo,             // 501 5.5.4: its EHLO name is not a domain
  sender_not_permitted,     // 550 5.7.60: MAIL FROM is not the authenticated user
  needs_partner_connector,  // exo-mx: 550 5.7.68 (RejectDirectSend)
  relay_denied,             // exo-mx: 550 5.7.64, a recipient outside the tenant
  sender_outside_tenant,    // exo-mx: taken, but MAIL FROM is not in an accepted domain: not direct send, spoofed mail
  null_sender,              // exo-mx: taken from MAIL FROM:<>, the bounce sender: no domain for SPF and DMARC to pass
  header_from_outside_tenant, // exo-mx: the envelope is direct send, but the From header (what DMARC judges) is not
  envelope_refused,         // another refusal of MAIL, RCPT or the message
};
std::string_view to_string(DeviceVerdict verdict);  // "ready-for-oauth", "sends-without-auth", ...
// The addresses of a From header (RFC 5322 3.4, 3.6.2): comments dropped,
// quoted strings kept, groups and lists split. malformed: a part that is no
// mailbox (then what DMARC judges cannot be found).
struct FromHeader {
  std::vector<std::string> addresses;
  std::vector<std::string> domains;  // lowercased, one per address
  bool malformed = false;
};
FromHeader parse_from_header(std::string_view header);

// What a peer sent, fit for a terminal: control bytes escaped ("\x1b"), at
// most `max` bytes. A device's EHLO or Subject must not move the cursor,
// clear the screen or fake a report line.
std::string printable(std::string_view line, std::size_t max = 1000);
// What the verdict means for the device: listen's exit code (1 breaks, 0 works, 3 unknown).
// The shared outcome of every tool's verdict (diag/report.h).
using DeviceOutcome = VerdictOutcome;

// One problem (or success) a session showed. A device can have several: each
// is fixed in turn, so the report names them all, the worst first.
struct DeviceFinding {
  DeviceVerdict verdict = DeviceVerdict::incomplete;
  DeviceOutcome outcome = DeviceOutcome::unknown;
  std::string reason;  // what it did and what to change
};

// What an XOAUTH2 bearer token shows without the network. Exchange Online
// takes access tokens that Microsoft Entra ID issues: JWTs (RFC 7519) whose
// claims say the audience (aud), the permission (scp for a user's token,
// roles for an application's), the expiry (exp) and whose they are. Only
// Microsoft can check the signature, so a token that passes is plausible,
// never proven. The token itself is never kept.
struct OAuthTokenFacts {
  bool jwt = false;        // three base64url parts with a JSON header and claims
  bool encrypted = false;  // five parts (JWE): the claims cannot be read
  std::string audience;
  bool app_only = false;   // no scp: an application's token (client credentials)
  std::vector<std::string> scopes, roles;
  std::optional<std::int64_t> expires, not_before;  // seconds since the epoch
  std::string token_user;  // upn, unique_name or preferred_username
  std::string object_id, app_id, tenant_id;
  std::string problem;  // why it cannot work at Exchange Online, with the remedy; empty: plausible
  std::vector<std::string> notes;  // what else must hold for it to work
};
// Whose account the token sends as: what an application needs differs.
enum class TokenAccount {
  mailbox,      // an Exchange Online mailbox: service principal and Full Access
  hve_account,  // a High Volume Email account: no mailbox; the app is allowed with Add-HVEAppAccess
};
OAuthTokenFacts inspect_oauth_token(std::string_view token, std::string_view user, std::int64_t now_seconds,
                                    TokenAccount account = TokenAccount::mailbox);

// What a client did in one session: sendcheck-listen's report.
struct SessionReport {
  std::string client;          // "127.0.0.1:51234"
  std::string ehlo;            // the EHLO/HELO argument
  bool used_ehlo = false;
  bool starttls = false;       // STARTTLS completed
  bool implicit_tls = false;
  std::string tls_version, tls_cipher, sni, tls_error;
  tls::HandshakeFailure tls_failure = tls::HandshakeFailure::none;
  std::optional<tls::Version> tls_offered_max;  // the highest version in its ClientHello
  bool tls_hello_in_clear = false;  // a TLS ClientHello where an SMTP command was due (implicit TLS)
  bool silent_after_tls = false;    // the handshake completed, then it closed without a command
  // The certificate the client presented, when the server asked for one
  // (ServerConfig::request_client_certificate).
  std::optional<tls::CertificateInfo> client_certificate;
  std::string auth_mechanism;  // as the client named it
  std::string auth_user;       // the username it gave; its secret is never kept
  std::optional<bool> auth_accepted;
  std::string auth_reply;
  bool auth_before_starttls = false;  // AUTH refused 504 5.7.4 for want of TLS
  bool auth_secret_in_clear = false;  // that AUTH carried its secret (an initial response) without TLS
  // Commands sent in the same write as STARTTLS, before the handshake: they
  // crossed in clear and were dropped (RFC 3207 4). Verbs only ("AUTH PLAIN").
  std::vector<std::string> pipelined_before_tls;
  std::string pipelined_auth;     // the mechanism of an AUTH among them
  bool pipelined_secret = false;  // that AUTH carried a secret
  std::string auth_not_offered;       // a mechanism it asked for that the profile does not offer (504 5.7.4)
  std::optional<OAuthTokenFacts> oauth_token;  // what its XOAUTH2 token shows (never the token)
  bool oauth_token_verified = false;  // the profile knew the token (ServerProfile::oauth_token) and it matched
  std::string ehlo_refusal;           // 501 5.5.4 for its EHLO name
  bool mail_given = false;            // a MAIL command came
  std::string mail_from;              // recorded even when refused; empty with mail_given: the null sender <>
  std::string mail_refusal;           // 530 5.7.57, 550 5.7.60, ...
  std::vector<std::string> rcpt_to;   // accepted recipients
  std::vector<std::string> refused_rcpt;
  std::string rcpt_refusal;           // the first refusal's reply
  std::optional<std::size_t> message_bytes;
  bool message_accepted = false;
  std::string message_refusal;        // the reply to the end of the message: 554 5.2.252 SendAsDenied
  bool used_bdat = false;             // the message came in BDAT chunks (RFC 3030)
  std::string header_from, header_to, header_subject;
  std::string header_sender;          // the Sender header: several From addresses need one (550 5.1.20)
  std::vector<std::string> commands;  // masked
  std::string end_reason;             // "QUIT", "timeout", "closed", "line too long", ...
  double duration_ms = 0;
  std::string saved_as;               // --save-dir
  // Every problem the session showed, the worst (breaks, then unknown, then
  // works) first; verdict, outcome and verdict_reason sum them up.
  std::vector<DeviceFinding> findings;
  DeviceVerdict verdict = DeviceVerdict::incomplete;
  DeviceOutcome outcome = DeviceOutcome::unknown;
  std::string verdict_reason;  // why, and what to change, for this profile: every finding, the worst first
};
nlohmann::json to_json(const SessionReport& report);
std::string render_text(const SessionReport& report);
void decide_verdict(SessionReport& report, const ServerProfile& profile);
// RFC 5321 4.1.1.1 as Exchange Online applies it: a domain of two or more
// labels, or an address literal.
bool is_valid_ehlo_name(std::string_view name);

// sendcheck-listen's summary when it stops: counts by verdict, and the exit
// code (1 when a session showed a device that will break, else 0 when one
// showed a device that works, else 3).
struct ListenSummary {
  std::size_t sessions = 0, without_commands = 0;
  std::vector<std::pair<DeviceVerdict, std::size_t>> by_verdict;  // in DeviceVerdict order
  std::vector<const SessionReport*> breaking;                     // the devices to act on
  int exit_code = 3;
};
ListenSummary summarize(const std::vector<SessionReport>& reports);
nlohmann::json to_json(const ListenSummary& summary);
// sendcheck-listen's JSON in the envelope every tool shares: a check
// "listen.device" per session that showed a device (pass: works, fail:
// breaks, info: unknown), the sessions' documents in "sessions", and with
// a summary its document in "summary" and, when no session showed how a
// device sends, the check "listen.sessions" (error). The report's exit
// code is then the summary's.
Check device_check(const SessionReport& report);
Report listen_report(std::string_view tool, std::string_view version, const std::vector<const SessionReport*>& sessions,
                     const ListenSummary* summary);
std::string render_text(const ListenSummary& summary);

struct ServerConfig {
  ServerProfile profile;
  IpAddress bind_address = IpAddress::v4({127, 0, 0, 1});
  std::uint16_t port = 0;  // 0: the kernel picks; see SmtpServer::port()
  bool implicit_tls = false;
  std::shared_ptr<tls::Credentials> credentials;  // null: STARTTLS not offered
  bool request_client_certificate = false;  // ask for one in the handshake, take any, record it
  // A certificate connector (tests): a session that presented a client
  // certificate may send to any recipient, as Exchange Online relays for a
  // connector that matched the certificate.
  bool relay_for_client_certificate = false;
  // The address the EHLO reply says it sees ("Hello [address]") instead of
  // the peer's: a server behind which the client is NATed (tests).
  std::string ehlo_seen_address;
  std::size_t max_sessions = 16;
  Milliseconds command_timeout{30000}, tls_timeout{10000};  // listen sets both from --timeout
  // More certificates of other key types (ECDSA beside the RSA one).
  std::vector<std::shared_ptr<tls::Credentials>> additional_credentials;
  Milliseconds session_timeout{600000};  // a whole session, however busy: 421 4.4.2 after it
  std::size_t max_line = 4096;
  std::size_t max_commands = 200;
  std::string save_dir;  // keep received messages here; empty: never stored
  std::function<void(const SessionReport&)> on_session;  // called from the session's thread
  // -v: every command and reply line as it passes ("C", "S", "TLS", "NET"),
  // AUTH payloads as "***", message content left out; from the session's thread.
  std::function<void(const std::string& client, const TranscriptEntry& entry)> on_transcript;
};

// One session on a connection already accepted, in this thread, without TLS
// (STARTTLS is answered 454): what SmtpServer runs per client, and what the
// fuzz target for listen's command parser drives.
SessionReport serve_session(const ServerConfig& config, Connection connection, std::string client);

class SmtpServer {
 public:
  static Result<std::unique_ptr<SmtpServer>> start(ServerConfig config);
  ~SmtpServer();  // stops accepting, ends the sessions and joins the threads
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;
  std::uint16_t port() const;
  std::vector<SessionReport> reports() const;  // sessions finished so far
  // Stops, waits until every session has ended and been handed to
  // on_session, and returns them all: a summary then counts every session
  // whose report was printed.
  std::vector<SessionReport> finish();
  std::size_t sessions_started() const;
  // Blocks until stop() (sendcheck-listen) or the count of finished sessions reaches `sessions`.
  void wait(std::size_t sessions = 0);
  void stop();

  struct Impl;

 private:
  explicit SmtpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// sendcheck-probe

struct ProbeTarget {
  std::string host;  // as named (MX host, or the host given)
  IpAddress address;
};

struct ProbeOptions {
  std::vector<ProbeTarget> targets;
  std::uint16_t port = 25;
  SessionConfig session;  // template: address, port and host are set per target
  std::string auth_label;  // "LOGIN" etc for the report; empty without --auth
};

struct TargetResult {
  ProbeTarget target;
  std::uint16_t port = 25;
  SessionResult session;
  std::vector<Check> checks;
};

// The reply as the JSON contract has it: {"code","enhanced","text","meaning",...}
// with the meaning from sendcheck-explain's knowledge table.
// What the session knows that a reply may not say: the remedies name these
// instead of describing them in words.
struct ReplyContext {
  std::string login;         // the AUTH user
  std::string from_address;  // MAIL FROM
  // AUTH was XOAUTH2: a meaning that blames a password-login rule (security
  // defaults, an authentication policy) does not fit a token's sign-in.
  bool oauth = false;
};
nlohmann::json reply_json(const Reply& reply, const ReplyContext& context = {});
// The meaning's one-line title and first remedy step.
struct ReplyMeaning {
  std::string id, title, remedy;
};
ReplyMeaning interpret(const Reply& reply, const ReplyContext& context = {});

// A host to connect to: a domain (mx::parse_domain), or a single label the
// system resolver completes or /etc/hosts knows ("localhost", "smtprelay").
// Returns it in lower case; anything else is bad input.
Result<std::string> parse_host_name(const std::string& name);

// The hosts and addresses to probe: an address literal as is; a host's A
// and AAAA (families filtered); with as_domain, every MX host of the domain
// in preference order. Problems finding them become checks (a domain
// without MX, a host without addresses); bad input is an error.
Result<std::vector<ProbeTarget>> resolve_targets(dns::Resolver& resolver, const std::string& name, bool as_domain,
                                                 bool ipv4, bool ipv6, std::vector<Check>& checks);
// This machine's FQDN for EHLO (RFC 5321 4.1.4), "localhost.localdomain" when it has none.
std::string default_helo_name();
// Header text as it may go in a message: as is when printable ASCII, else
// RFC 2047 encoded words (UTF-8, base64), folded.
std::string encode_header_text(const std::string& text);
// A small test message for --send: RFC 5322 headers and the body.
std::string build_test_message(const std::string& from, const std::vector<std::string>& rcpt_to,
                               const std::string& subject, const std::string& body);

// The checks one session's result supports.
std::vector<Check> session_checks(const SessionConfig& config, const SessionResult& result, const std::string& host,
                                  const std::string& address);
TargetResult probe_target(const ProbeOptions& options, const ProbeTarget& target);
nlohmann::json to_json(const TargetResult& result);
std::string render_text(const TargetResult& result, const TextStyle& style);
// The transcript line for -v: "  12.3 ms S: 220 ...".
std::string format_transcript_entry(const TranscriptEntry& entry);

}  // namespace diag::smtp
