// sendcheck-explain: finds SMTP replies in whatever an admin pastes (a reply,
// an NDR, a Postfix/Exim/sendmail log, a swaks transcript, sendcheck JSON),
// and says what each means and what to do, from a compiled-in knowledge
// table (libdiag/data/smtp_replies.inc) with generic RFC 3463/5321 meanings
// as the fallback.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/report.h"
#include "diag/result.h"
#include "diag/tool_common.h"

namespace diag::explain {

enum class Category {
  authentication,
  tls,
  ip_reputation,
  tenant_attribution,
  relay,
  direct_send,
  recipient,
  sender,
  throttling,
  policy,
  protocol,
};
std::string_view to_string(Category category);  // "ip-reputation", ...

// Who must have sent a reply for an entry to apply (see Sender). Microsoft's
// own codes (5.7.30, 5.7.57, 5.7.606-649) are taken as Microsoft's unless
// the reply shows another sender; a meaning that rests on a shared code
// (5.7.1, 5.1.1) needs the evidence.
enum class SenderRule {
  any,                 // whoever sent it
  microsoft,           // not contradicted: any sender but Outlook.com and Gmail
  microsoft_evidence,  // Exchange Online or Exchange shown by the reply
  exchange_online,     // Exchange Online shown by the reply
  not_exchange_online, // a server that the reply does not show to be Exchange Online or Outlook.com
  outlook_com,         // Outlook.com's consumer service shown by the reply
  gmail,               // Gmail shown by the reply
  your_server,         // the log is the refusing server's own (Postfix smtpd "NOQUEUE: reject:")
};

// Whether the address is one of Microsoft 365's own servers that send mail:
// Exchange Online's outbound ranges (spf.protection.outlook.com) and
// SharePoint Online's (its notifications and sharing mail).
bool is_microsoft_365_sender(const IpAddress& address);

// One meaning in the knowledge table. The format is documented in
// libdiag/data/README-smtp-replies.md.
struct KnowledgeEntry {
  std::string_view id;
  std::string_view codes;                  // "535", "530,550"; empty: any basic code
  std::string_view enhanced;               // "5.7.30", "5.7.606-649", "5.7.321,4.7.321"; empty: any
  std::array<std::string_view, 8> text{};  // case-insensitive, '*' = any run; one must occur
  Category category = Category::protocol;
  std::string_view title;
  std::string_view cause;
  std::array<std::string_view, 8> remedy{};  // steps in order; "{ip}" is replaced
  std::array<std::string_view, 6> references{};
  std::string_view source;   // where the fact comes from: URLs, space-separated
  std::string_view example;  // a real reply from the source; it must select this entry
  bool unconfirmed = false;
  SenderRule sender = SenderRule::any;
  // Only when the reply's IP is one of Microsoft 365's own sending servers
  // (Exchange Online's outbound ranges, SharePoint Online's): the refusal is
  // of Microsoft's server, not the admin's.
  bool microsoft_ip = false;
};
std::span<const KnowledgeEntry> knowledge_table();

// Checks the table's own consistency (unique ids, parsable codes and
// ranges, lower-case-able patterns, an example for every entry). Returns
// one message per problem; empty when the table is sound.
std::vector<std::string> validate_knowledge_table();

// One SMTP reply as found in the input.
struct SmtpReply {
  int code = 0;          // basic reply code; 0 when the input showed only an enhanced code
  std::string enhanced;  // "5.7.30"; empty when the reply has none
  std::string text;      // the text after the codes, continuation lines joined by a space
  std::string raw;       // the reply lines as found (prefixes removed), for the report
  std::string step;      // "RCPT TO", "end of DATA", ...; empty when the input does not show it
  std::string host;      // the server that sent it, when the input names it ("host X[ip] said:")
  std::string host_ip;   // that server's address, when the input gives it in brackets
  std::string evidence;  // the whole multi-line reply when this is one part of it (lines with other codes)
  // A wrapper showed a refusal (nodemailer's "Invalid login: ...") whose
  // words lost their codes; the codes are then taken from the wording when
  // exactly one entry of the table carries it (codes_inferred).
  bool codes_missing = false;
  bool codes_inferred = false;
  std::size_t segment = 0;  // which input line it started on: replies of one line (one wrapper) share it
  // nodemailer's "response:" field, which repeats the reply its message
  // quoted: the same refusal, not one more.
  bool repeats_message = false;
  // The sending MTA's own words where no server reply came (Postfix's
  // "status=deferred (TLS is required, but was not offered by host ...)"):
  // an IP or host in them is the receiver's, not the sender's.
  bool from_sending_mta = false;
  // The refusing server's own log (Postfix smtpd's "NOQUEUE: reject: RCPT
  // from client[ip]: 554 ..."): the reader's server refused a client, and
  // the IP in it is that client's.
  bool from_refusing_server = false;
};

// The text of the reply a scanner reports when a transcript shows the server
// sent none where one was due (an empty server line after 354): the
// connection closed or the wait timed out.
inline constexpr std::string_view no_reply_text = "(no reply: the connection closed or the wait timed out)";

// Who sent the reply, as far as the reply itself shows it: Exchange Online
// (its front-end suffix, an outlook.com or protection.outlook.com host, its
// AS(nnnn) code), Exchange without a sign of Exchange Online (Microsoft's
// own phrases: STOREDRV, RESOLVER, "Authentication unsuccessful"),
// Outlook.com's consumer service (its S3140-style codes, olc.protection
// hosts, mail.live.com), Gmail ("gsmtp", support.google.com), or unknown.
enum class Sender { unknown, exchange_online, exchange, outlook_com, gmail, your_server };
std::string_view to_string(Sender sender);  // "exchange-online", ...

// What the reply text carries besides its meaning: the Exchange Online
// suffix "[<front end> <ISO-8601 UTC> <16-hex session id>]", an IP in
// brackets (or in a delisting link, "ip=..."), the AS(nnnn) code.
struct ReplyDetails {
  std::string front_end_host;  // "BN8NAM12FT004.namprd12.prod.outlook.com"
  std::string region;          // "namprd12"
  std::string time;            // "2026-03-02T10:15:42.211Z"
  std::string session_id;      // "08DE5A1B2C3D4E5F"
  std::string ip;              // "203.0.113.7"
  std::string as_code;         // "AS16012609"
  std::string domain;          // the domain whose SPF the reply says was checked ("SPF [example.com]")
  // Send As refusals name both ("printer@contoso.com not allowed to send as
  // ceo@contoso.com"); a caller that knows them from the session sets them.
  std::string login;           // the mailbox or account that signed in
  std::string from_address;    // the address it sent as
  Sender sender = Sender::unknown;
};
// Splits the suffix off the text: returns the text without it. Sets
// details.sender from what the text shows.
std::string extract_details(std::string_view text, ReplyDetails& details);
// The sender as the text and the server's host name (may be empty) show it.
Sender classify_sender(std::string_view text, std::string_view host, const ReplyDetails& details);
// Whether a line of the input around the reply shows that the client signed
// in to a personal Microsoft account: Outlook.com's submission host
// (smtp-mail.outlook.com, smtp.live.com) or a login ("username:", "user=")
// at outlook.com, hotmail.*, live.*, msn.com.
bool names_consumer_microsoft_login(std::string_view line);

// What a reply means: a table entry, or a generic RFC meaning.
struct Meaning {
  const KnowledgeEntry* entry = nullptr;  // null: generic
  std::string id;                         // entry id, or "rfc3463.5.7.26", "rfc5321.550"
  Category category = Category::protocol;
  std::string title, cause;
  std::vector<std::string> remedy, references;
  std::string source;
  bool generic() const { return entry == nullptr; }
};
// The most specific entry for the reply (text pattern > exact enhanced code
// > narrower range > basic code), else the generic meaning. `text` is the
// reply text without the Exchange Online suffix.
Meaning explain_reply(int code, std::string_view enhanced, std::string_view text, const ReplyDetails& details);

// The codes a server sends with these very words, when the input lost them
// (nodemailer's "Invalid login: Authentication unsuccessful, the request did
// not meet the criteria ..."): those of the one table entry for a single
// enhanced code whose wording the text carries; nullopt when none or when
// entries disagree.
struct InferredCodes {
  int code = 0;  // 0 when the entry does not show the basic code
  std::string enhanced;
};
std::optional<InferredCodes> codes_from_wording(std::string_view text, const ReplyDetails& details);

// Finds replies line by line. Feed it lines (without the newline); it calls
// on_reply for each reply, multi-line replies joined. Call finish() at the end.
class ReplyScanner {
 public:
  explicit ReplyScanner(std::function<void(SmtpReply&&)> on_reply);
  ~ReplyScanner();
  ReplyScanner(const ReplyScanner&) = delete;
  ReplyScanner& operator=(const ReplyScanner&) = delete;

  void feed_line(std::string_view line);
  // The SMTP step to report when the text itself does not show one (from a
  // "step" member next to the text in sendcheck JSON).
  void set_context_step(std::string_view step);
  void finish();  // emits a pending multi-line reply and forgets the SMTP step

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One distinct reply with its meaning.
struct Explanation {
  SmtpReply reply;   // the first occurrence
  ReplyDetails details;
  std::vector<std::string> ips;    // distinct IPs over all occurrences (bounded)
  std::vector<std::string> steps;  // distinct SMTP steps over all occurrences (bounded)
  std::size_t more_ips = 0, more_steps = 0;  // distinct values past the bound ("(+N more)")
  std::size_t count = 0;
  Meaning meaning;
  bool permanent() const;
  Status status() const;  // fail: permanent, warn: transient, info: success/intermediate
};

struct ExplainResult {
  // One per distinct reply (same code and meaning): failures first, then
  // transient failures, then successes; in order of first appearance within.
  std::vector<Explanation> explanations;
  std::size_t bytes = 0, lines = 0, replies = 0;
  std::size_t long_lines = 0;           // lines cut at the line-length bound
  std::size_t aggregated_by_meaning = 0;  // replies counted under their meaning past the distinct bound
  bool binary = false;                  // the input had NUL bytes
  std::string encoding = "utf-8";       // "utf-16le", "utf-16be" when the input was (converted to UTF-8)
  bool stopped_at_limit = false;        // reading stopped at max_input_bytes or max_input_lines
  bool json_too_deep = false;           // a JSON document nested deeper than max_json_depth
};

// Limits that keep memory bounded whatever the input.
inline constexpr std::size_t max_line_bytes = 64 * 1024;
inline constexpr std::size_t max_json_document_bytes = 1024 * 1024;
inline constexpr std::size_t max_distinct_replies = 2000;
inline constexpr int max_json_depth = 64;
// Past either, reading stops (endless input such as /dev/zero or `yes`):
// what was found so far is reported, with a note that the input was cut.
inline constexpr std::size_t max_input_bytes = 256 * 1024 * 1024;
inline constexpr std::size_t max_input_lines = 16 * 1024 * 1024;

// Collects replies into distinct explanations.
class Explainer {
 public:
  Explainer();
  ~Explainer();
  Explainer(const Explainer&) = delete;
  Explainer& operator=(const Explainer&) = delete;

  // Text of any kind, in pieces of any size (a line may span calls).
  void feed(std::string_view bytes);
  // True once the input reached a limit: feeding more does nothing.
  bool stopped() const;
  // Ends the input and returns what was found; a bad_input error when the
  // input held no SMTP reply.
  Result<ExplainResult> finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Whole inputs. A file or stream is read in bounded chunks, never whole.
Result<ExplainResult> explain_text(std::string_view text);
// TEXT... arguments as one input: words typed without quotes belong to one
// reply; an argument that starts with its own reply code starts a new line.
std::string join_arguments(const std::vector<std::string>& arguments);
Result<ExplainResult> explain_fd(int fd, std::string_view name);
Result<ExplainResult> explain_file(const std::string& path);  // "-" is standard input

// The shared exit rule: 1 when the input holds a failure reply (4xx or
// 5xx), 0 when it holds only success and intermediate replies (2xx, 3xx).
// (No reply at all is the bad_input error of finish(): exit 2.)
ExitCode exit_code_for(const ExplainResult& result);

// The report's checks (one per explained reply) and the "matches" array of
// the JSON contract.
std::vector<Check> checks(const ExplainResult& result);
nlohmann::json matches_json(const ExplainResult& result);
nlohmann::json to_json(const Explanation& explanation);
// Failures first; success and intermediate replies only when verbose.
std::string render_text(const ExplainResult& result, const TextStyle& style, bool verbose);

// sendcheck-explain from parsed options to exit code: TEXT..., --file FILE
// or standard input (never both), the report on stdout.
struct ToolOptions {
  cli::CommonOptions common;
  std::vector<std::string> text;  // TEXT...
  std::string file;               // --file FILE ("-": standard input)
};
int run_tool(const ToolOptions& options);

}  // namespace diag::explain
