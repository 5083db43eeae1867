// The knowledge table, its compiled form, and choosing the meaning of a reply.
#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "diag/explain.h"
#include "diag/spf.h"
#include "text.h"

namespace diag::explain {
namespace {

constexpr KnowledgeEntry knowledge_entries[] = {
#include "../../data/smtp_replies.inc"
};

struct GenericEnhanced {
  int subject;
  int detail;  // -1: the subject itself
  Category category;
  std::string_view meaning;
  std::string_view source;
  std::string_view advice;  // subject rows only
};
constexpr GenericEnhanced generic_enhanced[] = {
#include "../../data/smtp_replies_rfc3463.inc"
};

struct GenericBasic {
  int code;
  Category category;
  std::string_view meaning;
  std::string_view source;
};
constexpr GenericBasic generic_basic[] = {
#include "../../data/smtp_replies_rfc5321.inc"
};

constexpr std::string_view rfc3463_url = "https://www.rfc-editor.org/rfc/rfc3463";
constexpr std::string_view registry_url = "https://www.iana.org/assignments/smtp-enhanced-status-codes";
constexpr std::string_view rfc5321_url = "https://www.rfc-editor.org/rfc/rfc5321";

struct EnhancedRange {
  int status_class, subject, low, high;
  int width() const { return high - low + 1; }
  bool contains(const text::EnhancedCode& code) const {
    return code.status_class == status_class && code.subject == subject && code.detail >= low && code.detail <= high;
  }
};

struct CompiledEntry {
  const KnowledgeEntry* entry;
  std::vector<int> codes;
  std::vector<EnhancedRange> ranges;
  std::vector<std::string> patterns;  // lower case
};

std::vector<std::string_view> split_list(std::string_view list) {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    const auto comma = list.find(',');
    items.push_back(text::trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<int> parse_basic_code(std::string_view item) {
  if (item.size() != 3 || item[0] < '2' || item[0] > '5' || !text::is_digit(item[1]) || !text::is_digit(item[2]))
    return std::nullopt;
  return (item[0] - '0') * 100 + (item[1] - '0') * 10 + (item[2] - '0');
}

// "5.7.606-649" or "5.7.30".
std::optional<EnhancedRange> parse_range(std::string_view item) {
  const auto dash = item.find('-');
  const auto first = text::parse_enhanced(item.substr(0, dash));
  if (!first) return std::nullopt;
  EnhancedRange range{first->status_class, first->subject, first->detail, first->detail};
  if (dash != std::string_view::npos) {
    int high = 0;
    const auto rest = item.substr(dash + 1);
    if (rest.empty() || rest.size() > 3) return std::nullopt;
    for (char c : rest) {
      if (!text::is_digit(c)) return std::nullopt;
      high = high * 10 + (c - '0');
    }
    if (high < range.low) return std::nullopt;
    range.high = high;
  }
  return range;
}

// Compiles one entry; appends a message to problems for each defect.
CompiledEntry compile(const KnowledgeEntry& entry, std::vector<std::string>& problems) {
  CompiledEntry compiled{&entry, {}, {}, {}};
  const std::string name = "smtp_replies.inc entry '" + std::string(entry.id) + "': ";
  for (auto item : split_list(entry.codes)) {
    if (auto code = parse_basic_code(item)) compiled.codes.push_back(*code);
    else problems.push_back(name + "bad basic code '" + std::string(item) + "'");
  }
  for (auto item : split_list(entry.enhanced)) {
    if (auto range = parse_range(item)) compiled.ranges.push_back(*range);
    else problems.push_back(name + "bad enhanced code or range '" + std::string(item) + "'");
  }
  for (auto pattern : entry.text)
    if (!pattern.empty()) compiled.patterns.push_back(text::to_lower(pattern));
  if (compiled.codes.empty() && compiled.ranges.empty()) problems.push_back(name + "matches no code");
  if (entry.id.empty() || entry.title.empty() || entry.cause.empty() || entry.remedy[0].empty() ||
      entry.references[0].empty() || entry.source.empty() || entry.example.empty())
    problems.push_back(name + "id, title, cause, a remedy, a reference, the source and an example are required");
  return compiled;
}

struct CompiledTable {
  std::vector<CompiledEntry> entries;
  std::vector<std::string> problems;
};

const CompiledTable& compiled_table() {
  static const CompiledTable table = [] {
    CompiledTable built;
    std::unordered_set<std::string_view> ids;
    for (const auto& entry : knowledge_entries) {
      built.entries.push_back(compile(entry, built.problems));
      if (!ids.insert(entry.id).second) built.problems.push_back("duplicate id '" + std::string(entry.id) + "'");
    }
    return built;
  }();
  return table;
}

// Whether the reply's sender fits the entry, and how much the fit says: an
// entry for the very sender shown outranks one that only is not excluded.
std::optional<int> sender_fit(SenderRule rule, Sender sender) {
  const bool microsoft = sender == Sender::exchange_online || sender == Sender::exchange;
  switch (rule) {
    case SenderRule::any: return 0;
    case SenderRule::microsoft:
      if (sender == Sender::outlook_com || sender == Sender::gmail || sender == Sender::your_server) return std::nullopt;
      return microsoft ? 300 : 0;
    case SenderRule::microsoft_evidence: return microsoft ? std::optional<int>(300) : std::nullopt;
    case SenderRule::exchange_online:
      return sender == Sender::exchange_online ? std::optional<int>(500) : std::nullopt;
    case SenderRule::not_exchange_online:
      if (sender == Sender::exchange_online || sender == Sender::outlook_com) return std::nullopt;
      return 0;
    case SenderRule::outlook_com: return sender == Sender::outlook_com ? std::optional<int>(500) : std::nullopt;
    case SenderRule::gmail: return sender == Sender::gmail ? std::optional<int>(500) : std::nullopt;
    case SenderRule::your_server: return sender == Sender::your_server ? std::optional<int>(500) : std::nullopt;
  }
  return std::nullopt;
}

// How specific the entry is for this reply; nullopt when it does not match.
// A matching text pattern outranks any code, an exact enhanced code a range,
// a narrow range a wide one, and a matching basic code adds a little.
std::optional<int> specificity(const CompiledEntry& entry, int code, const std::optional<text::EnhancedCode>& enhanced,
                               std::string_view lower_text, const ReplyDetails& details) {
  const auto fit = sender_fit(entry.entry->sender, details.sender);
  if (!fit) return std::nullopt;
  int score = *fit;
  if (entry.entry->microsoft_ip) {
    const auto ip = IpAddress::parse(details.ip);
    // No bonus: it refines the block-list entry it is listed before (a tie
    // goes to the earlier entry), and a more specific wording, such as
    // Spamhaus refusing the receiver's query, still outranks it.
    if (!ip || !is_microsoft_365_sender(*ip)) return std::nullopt;
  }
  if (!entry.codes.empty()) {
    if (code == 0 && !enhanced) {
      // No code at all (a client library's wrapper dropped them): only the
      // entry's own words can pick it.
      if (entry.patterns.empty()) return std::nullopt;
    } else if (code == 0) {
      // The input showed only the enhanced code ("Error: smtp error 5.7.1
      // ..."): a basic code of the same class is not contradicted.
      if (std::none_of(entry.codes.begin(), entry.codes.end(), [&](int listed) { return listed / 100 == enhanced->status_class; }))
        return std::nullopt;
    } else {
      if (std::find(entry.codes.begin(), entry.codes.end(), code) == entry.codes.end()) return std::nullopt;
      score += 10;
    }
  }
  if (!entry.ranges.empty()) {
    if (!enhanced) return std::nullopt;
    int best_width = 0;
    for (const auto& range : entry.ranges)
      if (range.contains(*enhanced) && (best_width == 0 || range.width() < best_width)) best_width = range.width();
    if (best_width == 0) return std::nullopt;
    score += 2000 - std::min(best_width, 1000);
  }
  if (!entry.patterns.empty()) {
    const bool any = std::any_of(entry.patterns.begin(), entry.patterns.end(),
                                 [&](const std::string& pattern) { return text::glob_contains(lower_text, pattern); });
    if (!any) return std::nullopt;
    score += 10000;
  }
  return score;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t at = 0;
  for (auto found = text.find(from); found != std::string_view::npos; found = text.find(from, at)) {
    out.append(text.substr(at, found - at)).append(to);
    at = found + from.size();
  }
  out.append(text.substr(at));
  return out;
}

// "RFC 5321 4.2.3; RFC 3207 4" -> the RFC Editor URLs of those sections.
std::string rfc_source_urls(std::string_view source) {
  std::string urls;
  while (!source.empty()) {
    const auto semicolon = source.find(';');
    auto part = text::trim(source.substr(0, semicolon));
    if (text::istarts_with(part, "RFC ")) {
      part.remove_prefix(4);
      const auto space = part.find(' ');
      const auto number = part.substr(0, space);
      std::string url = "https://www.rfc-editor.org/rfc/rfc" + std::string(number);
      // Only a section number makes an anchor: "RFC 3463 3.8".
      const auto section = space == std::string_view::npos ? std::string_view() : text::trim(part.substr(space + 1));
      if (!section.empty() && std::all_of(section.begin(), section.end(), [](char c) { return text::is_digit(c) || c == '.'; }))
        url += "#section-" + std::string(section);
      urls += (urls.empty() ? "" : " ") + url;
    }
    if (semicolon == std::string_view::npos) break;
    source.remove_prefix(semicolon + 1);
  }
  return urls;
}

struct Placeholder {
  std::string_view name;   // "{ip}"
  std::string_view words;  // what stands for it when the reply does not give it
  std::string value;       // from the reply; empty when it does not give it
  std::string_view noun;   // "IP": "the IP {ip}" reads "the IP" when the value is missing
};

// A command in backticks whose placeholders the reply did not fill cannot be
// run as printed: it is written as the command's fixed words in backticks,
// then what to give it in words ("`sendcheck spf` with your sending domain,
// then `--ip` and the sending IP address").
std::string command_in_words(std::string_view command, const std::vector<Placeholder>& placeholders) {
  std::string fixed, rest;
  bool past_fixed = false;
  std::string pending_literals;
  while (!command.empty()) {
    const auto space = command.find(' ');
    const auto word = command.substr(0, space);
    const Placeholder* placeholder = nullptr;
    for (const auto& candidate : placeholders)
      if (word == candidate.name) placeholder = &candidate;
    const std::string literal = placeholder ? placeholder->value : std::string(word);
    if (!literal.empty() && !past_fixed) {
      fixed += (fixed.empty() ? "" : " ") + literal;
    } else if (!literal.empty()) {
      pending_literals += (pending_literals.empty() ? "" : " ") + literal;
    } else {
      std::string part;
      if (!pending_literals.empty()) part = "`" + pending_literals + "` followed by ";
      pending_literals.clear();
      part += placeholder->words;
      rest += (rest.empty() ? " with " : ", then ") + part;
      past_fixed = true;
    }
    if (space == std::string_view::npos) break;
    command.remove_prefix(space + 1);
  }
  if (!pending_literals.empty()) rest += ", then `" + pending_literals + "`";
  return "`" + fixed + "`" + rest;
}

// Fills "{ip}" and "{domain}" from the reply. Outside backticks a missing
// value is written in words; a command in backticks stays runnable when
// every value is known, and is written in words otherwise.
std::string fill_placeholders(std::string_view text, const std::vector<Placeholder>& placeholders) {
  std::string out;
  while (!text.empty()) {
    const auto open = text.find('`');
    const auto plain = text.substr(0, open);
    std::string filled(plain);
    for (const auto& placeholder : placeholders) {
      if (placeholder.value.empty() && !placeholder.noun.empty()) {
        const std::string after_noun = std::string(placeholder.noun) + " " + std::string(placeholder.name);
        filled = replace_all(filled, after_noun, placeholder.noun);
      }
      filled = replace_all(filled, placeholder.name,
                           placeholder.value.empty() ? placeholder.words : std::string_view(placeholder.value));
    }
    out += filled;
    if (open == std::string_view::npos) break;
    const auto close = text.find('`', open + 1);
    if (close == std::string_view::npos) {
      out += text.substr(open);
      break;
    }
    const auto command = text.substr(open + 1, close - open - 1);
    bool all_known = true;
    for (const auto& placeholder : placeholders)
      if (command.find(placeholder.name) != std::string_view::npos && placeholder.value.empty()) all_known = false;
    if (all_known) {
      std::string runnable(command);
      for (const auto& placeholder : placeholders) runnable = replace_all(runnable, placeholder.name, placeholder.value);
      out += "`" + runnable + "`";
    } else {
      out += command_in_words(command, placeholders);
    }
    text.remove_prefix(close + 1);
  }
  return out;
}

Meaning meaning_of(const KnowledgeEntry& entry, const ReplyDetails& details) {
  // What the reply does not give is named in words.
  const std::vector<Placeholder> placeholders = {
      {"{ip}", "the sending IP address", details.ip, "IP"},
      {"{domain}", "your sending domain", details.domain, "domain"},
      // Not in any reply: always in words, so that no command is printed
      // with a stand-in the admin would have to replace.
      {"{recipient_domain}", "the recipient's domain", {}, {}},
      {"{recipient_mx}", "the recipient's MX host", {}, {}},
      {"{group}", "the group's address", {}, {}},
      {"{connector}", "the receive connector's name", {}, {}},
      {"{app_id}", "the app's application (client) ID", {}, {}},
      {"{app_object_id}", "the object ID of its Enterprise application (not of the App registration)", {}, {}},
      // A Send As refusal names both addresses; a caller that knows the
      // session (sendcheck probe) gives them too.
      {"{login}", "the mailbox the device signs in with", details.login, {}},
      {"{login_account}", "the account the device signs in with", details.login, {}},
      // An app-only OAuth client signs in as no mailbox: it names one in user=.
      {"{oauth_mailbox}", "the mailbox it sends from (the user= of the XOAUTH2 string)", details.login, {}},
      {"{from}", "the address the device sends as", details.from_address, {}},
      // Add-ADPermission -Identity takes the mailbox's name, not its address.
      {"{from_mailbox_name}", "the From mailbox's name (its display name or alias, not its address)", {}, {}},
  };
  Meaning meaning;
  meaning.entry = &entry;
  meaning.id = entry.id;
  meaning.category = entry.category;
  meaning.title = entry.title;
  meaning.cause = fill_placeholders(entry.cause, placeholders);
  for (auto step : entry.remedy)
    if (!step.empty()) meaning.remedy.push_back(fill_placeholders(step, placeholders));
  for (auto reference : entry.references)
    if (!reference.empty()) meaning.references.emplace_back(reference);
  meaning.source = entry.source;
  return meaning;
}

std::string_view class_meaning(int status_class) {
  switch (status_class) {
    case 2: return "success";
    case 3: return "intermediate: the server waits for more from the client";
    case 4: return "persistent transient failure: the same message may be accepted later";
    case 5: return "permanent failure: sending the same message again will fail the same way";
  }
  return "unknown class";
}

std::string capitalized(std::string_view text) {
  std::string out(text);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

const GenericBasic* find_basic(int code) {
  for (const auto& row : generic_basic)
    if (row.code == code) return &row;
  return nullptr;
}

// What to do, by class: success needs nothing, a transient failure is
// retried by the sender (RFC 5321 4.2.1), a permanent one needs a change.
std::string class_advice(int status_class, std::string_view subject_advice) {
  switch (status_class) {
    case 2:
    case 3: return "Nothing to fix here.";
    case 4:
      return "Temporary: the sending server retries by itself. If it keeps failing: " + std::string(subject_advice);
    default: return std::string(subject_advice);
  }
}

Meaning generic_meaning(int code, const std::optional<text::EnhancedCode>& enhanced) {
  Meaning meaning;
  if (code == 0 && !enhanced) {
    // Only a wrapper's words survive (nodemailer's "Invalid login: ..."
    // without the reply's codes).
    meaning.id = "smtp.refused-without-code";
    meaning.category = Category::authentication;
    meaning.title = "The server refused the login (the input does not show its reply code)";
    meaning.cause = "The client library reports that the server refused AUTH, but the reply's codes are not in the "
                    "input; the reply's own words are the only clue.";
    meaning.remedy.push_back("Read the reply's words for the reason, or turn on the library's SMTP debug log to see the "
                             "whole reply with its codes, then run sendcheck-explain on that.");
    meaning.references = {std::string(rfc5321_url)};
    meaning.source = "https://www.rfc-editor.org/rfc/rfc4954#section-6 https://nodemailer.com/errors/";
    return meaning;
  }
  const GenericBasic* basic = code ? find_basic(code) : nullptr;
  std::string basic_sentence;
  if (code) {
    basic_sentence = "Reply code " + std::to_string(code) + ": " +
                     (basic ? std::string(basic->meaning) : std::string(class_meaning(code / 100))) + " (" +
                     (basic ? std::string(basic->source) : "RFC 5321 4.2.1") + ").";
  }
  if (enhanced) {
    const GenericEnhanced* subject = nullptr;
    const GenericEnhanced* detail = nullptr;
    for (const auto& row : generic_enhanced) {
      if (row.subject != enhanced->subject) continue;
      if (row.detail == -1) subject = &row;
      if (row.detail == enhanced->detail) detail = &row;
    }
    const std::string code_text = std::to_string(enhanced->status_class) + "." + std::to_string(enhanced->subject) +
                                  "." + std::to_string(enhanced->detail);
    meaning.id = "rfc3463." + (detail ? code_text
                                      : std::to_string(enhanced->status_class) + "." +
                                            std::to_string(enhanced->subject));
    meaning.category = detail ? detail->category : subject ? subject->category : Category::protocol;
    meaning.title = capitalized(detail ? detail->meaning : subject ? subject->meaning : "unknown status subject") +
                    " (generic meaning of " + code_text + ")";
    meaning.cause = "Enhanced code " + code_text + ": class " + std::to_string(enhanced->status_class) + " = " +
                    std::string(class_meaning(enhanced->status_class)) + "; subject " +
                    std::to_string(enhanced->subject) + " = " +
                    (subject ? std::string(subject->meaning) : "not defined by RFC 3463") + "; detail " +
                    std::to_string(enhanced->detail) + " = " +
                    (detail ? std::string(detail->meaning) + " (" + std::string(detail->source) + ")"
                            : "not in the registry") +
                    ".";
    if (!basic_sentence.empty()) meaning.cause += " " + basic_sentence;
    meaning.remedy.push_back(
        class_advice(enhanced->status_class, subject ? subject->advice : "Read the reply text for the reason."));
    meaning.references = {std::string(rfc3463_url), std::string(registry_url)};
    meaning.source = rfc_source_urls(detail ? detail->source : "RFC 3463");
    if (meaning.source.find("rfc3463") == std::string::npos) meaning.source += " " + std::string(registry_url);
    return meaning;
  }
  const int status_class = code / 100;
  meaning.id = basic ? "rfc5321." + std::to_string(code) : "rfc5321." + std::to_string(status_class) + "xx";
  meaning.category = basic ? basic->category : Category::protocol;
  meaning.title = capitalized(basic ? basic->meaning : class_meaning(status_class)) + " (generic meaning of " +
                  std::to_string(code) + ")";
  meaning.cause = basic_sentence + " The reply has no enhanced status code, so only its class is certain: " +
                  std::string(class_meaning(status_class)) + ".";
  meaning.remedy.push_back(class_advice(status_class, "Read the reply text for the reason."));
  meaning.references = {std::string(rfc5321_url)};
  meaning.source = rfc_source_urls(basic ? basic->source : "RFC 5321 4.2.1");
  return meaning;
}

}  // namespace

bool is_microsoft_365_sender(const IpAddress& address) {
  if (spf::is_exchange_online_outbound(address)) return true;
  // SharePoint Online and OneDrive, endpoint ID 31 of "Microsoft 365 URLs
  // and IP address ranges" (worldwide):
  // https://learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges
  static const std::vector<spf::Network> sharepoint = [] {
    std::vector<spf::Network> parsed;
    for (const auto text : {"13.107.136.0/22", "40.108.128.0/17", "52.104.0.0/14", "104.146.128.0/17", "150.171.40.0/22",
                            "2603:1061:1300::/40", "2620:1ec:8f8::/46", "2620:1ec:908::/46", "2a01:111:f402::/48"})
      parsed.push_back(*spf::parse_network(text));
    return parsed;
  }();
  return std::any_of(sharepoint.begin(), sharepoint.end(),
                     [&](const spf::Network& range) { return address.in_prefix(range.address, range.prefix); });
}


std::string_view to_string(Category category) {
  switch (category) {
    case Category::authentication: return "authentication";
    case Category::tls: return "tls";
    case Category::ip_reputation: return "ip-reputation";
    case Category::tenant_attribution: return "tenant-attribution";
    case Category::relay: return "relay";
    case Category::direct_send: return "direct-send";
    case Category::recipient: return "recipient";
    case Category::sender: return "sender";
    case Category::throttling: return "throttling";
    case Category::policy: return "policy";
    case Category::protocol: return "protocol";
  }
  return "protocol";
}

std::string_view to_string(Sender sender) {
  switch (sender) {
    case Sender::unknown: return "unknown";
    case Sender::exchange_online: return "exchange-online";
    case Sender::exchange: return "exchange";
    case Sender::outlook_com: return "outlook-com";
    case Sender::gmail: return "gmail";
    case Sender::your_server: return "your-server";
  }
  return "unknown";
}

std::span<const KnowledgeEntry> knowledge_table() { return knowledge_entries; }

std::vector<std::string> validate_knowledge_table() { return compiled_table().problems; }

// Not a reply's meaning but a missing reply's: outside the table, whose
// entries are selected by codes.
const KnowledgeEntry no_reply_entry{
    .id = "smtp.no-reply",
    .codes = "",
    .enhanced = "",
    .category = Category::protocol,
    .title = "The server sent no reply after the message: the connection closed or the wait timed out",
    .cause = "The client sent the message and its final \".\", and read nothing back: the server (or a firewall, an "
             "antivirus or a proxy that inspects SMTP between them) closed the connection, or the client gave up waiting "
             "(RFC 5321 4.5.3.2 gives the server 10 minutes). The client must take the message as not delivered, although "
             "the server may have taken it (RFC 5321 6.1).",
    .remedy = {"Look up this session in the server's own log: it says why it dropped the connection (a size limit, a "
               "content or virus scan, a crash).",
               "Check for a firewall, an antivirus or a proxy between the device and the server that inspects SMTP, and "
               "raise the client's timeout for the reply to the message.",
               "Send again once that is fixed; the recipient may get the message twice."},
    .references = {"https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.2"},
    .source = "https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.2 https://www.rfc-editor.org/rfc/rfc5321#section-6.1 "
              "https://github.com/PHPMailer/PHPMailer/issues/1769",
    .example = "SMTP -> FROM SERVER:354 Enter message\nSMTP -> FROM SERVER:"};

Meaning explain_reply(int code, std::string_view enhanced, std::string_view reply_text, const ReplyDetails& details) {
  if (code == 0 && enhanced.empty() && reply_text == no_reply_text) return meaning_of(no_reply_entry, details);
  const auto& table = compiled_table();
  if (!table.problems.empty()) throw std::logic_error(table.problems.front());
  const auto enhanced_code = enhanced.empty() ? std::nullopt : text::parse_enhanced(enhanced);
  const std::string lower_text = text::to_lower(reply_text);
  const CompiledEntry* best = nullptr;
  int best_score = -1;
  // The best entry for the reply's exact enhanced code when that code is a
  // server's own (detail 100 and up: Microsoft's 5.7.133, 5.7.606, not in
  // RFC 3463's registry): it says more than wording an entry for any
  // server's reply shares ("authentication required" in 5.7.133's text).
  const CompiledEntry* own_code = nullptr;
  int own_code_score = -1;
  for (const auto& entry : table.entries) {
    const auto score = specificity(entry, code, enhanced_code, lower_text, details);
    // Ties go to the entry listed first.
    if (score && *score > best_score) best = &entry, best_score = *score;
    if (score && enhanced_code && enhanced_code->detail >= 100 && entry.ranges.size() == 1 && entry.ranges[0].width() == 1 &&
        *score > own_code_score)
      own_code = &entry, own_code_score = *score;
  }
  if (best && own_code && best->ranges.empty()) best = own_code;
  if (best) return meaning_of(*best->entry, details);
  return generic_meaning(code, enhanced_code);
}

std::optional<InferredCodes> codes_from_wording(std::string_view reply_text, const ReplyDetails& details) {
  const auto& table = compiled_table();
  const std::string lower_text = text::to_lower(reply_text);
  std::optional<InferredCodes> found;
  std::size_t found_length = 0;  // of the longest wording matched: the most specific entry
  bool tie = false;
  for (const auto& entry : table.entries) {
    // Only an entry for one exact enhanced code, whose wording is long
    // enough to be that server's own sentence, and whose sender fits.
    if (entry.ranges.size() != 1 || entry.ranges[0].width() != 1) continue;
    if (!sender_fit(entry.entry->sender, details.sender)) continue;
    std::size_t length = 0;
    for (const auto& pattern : entry.patterns)
      if (pattern.size() >= 24 && pattern.size() > length && text::glob_contains(lower_text, pattern))
        length = pattern.size();
    if (length == 0 || length < found_length) continue;
    const auto& range = entry.ranges[0];
    InferredCodes codes;
    codes.enhanced = std::to_string(range.status_class) + "." + std::to_string(range.subject) + "." +
                     std::to_string(range.low);
    const auto example = entry.entry->example;
    if (example.size() >= 4 && text::is_digit(example[0]) && text::is_digit(example[1]) &&
        text::is_digit(example[2]) && example[3] == ' ')
      codes.code = (example[0] - '0') * 100 + (example[1] - '0') * 10 + (example[2] - '0');
    else if (entry.codes.size() == 1)
      codes.code = entry.codes[0];
    if (length == found_length && found && (found->enhanced != codes.enhanced || found->code != codes.code)) {
      tie = true;  // two entries, the same length of wording, other codes
      continue;
    }
    if (length > found_length) tie = false;
    found = codes;
    found_length = length;
  }
  if (tie) return std::nullopt;
  return found;
}

}  // namespace diag::explain
