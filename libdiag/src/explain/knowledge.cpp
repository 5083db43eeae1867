// The knowledge table, its compiled form, and choosing the meaning of a reply.
#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "diag/explain.h"
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
      if (sender == Sender::outlook_com || sender == Sender::gmail) return std::nullopt;
      return microsoft ? 300 : 0;
    case SenderRule::microsoft_evidence: return microsoft ? std::optional<int>(300) : std::nullopt;
    case SenderRule::exchange_online:
      return sender == Sender::exchange_online ? std::optional<int>(500) : std::nullopt;
    case SenderRule::not_exchange_online:
      if (sender == Sender::exchange_online || sender == Sender::outlook_com) return std::nullopt;
      return 0;
    case SenderRule::outlook_com: return sender == Sender::outlook_com ? std::optional<int>(500) : std::nullopt;
    case SenderRule::gmail: return sender == Sender::gmail ? std::optional<int>(500) : std::nullopt;
  }
  return std::nullopt;
}

// How specific the entry is for this reply; nullopt when it does not match.
// A matching text pattern outranks any code, an exact enhanced code a range,
// a narrow range a wide one, and a matching basic code adds a little.
std::optional<int> specificity(const CompiledEntry& entry, int code, const std::optional<text::EnhancedCode>& enhanced,
                               std::string_view lower_text, Sender sender) {
  const auto fit = sender_fit(entry.entry->sender, sender);
  if (!fit) return std::nullopt;
  int score = *fit;
  if (!entry.codes.empty()) {
    if (std::find(entry.codes.begin(), entry.codes.end(), code) == entry.codes.end()) return std::nullopt;
    score += 10;
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
      if (space != std::string_view::npos) url += "#section-" + std::string(text::trim(part.substr(space + 1)));
      urls += (urls.empty() ? "" : " ") + url;
    }
    if (semicolon == std::string_view::npos) break;
    source.remove_prefix(semicolon + 1);
  }
  return urls;
}

Meaning meaning_of(const KnowledgeEntry& entry, const ReplyDetails& details) {
  // Without an IP in the reply the sentence names it in words: "the IP {ip}"
  // becomes "the IP address", not "the IP the sending IP address".
  const auto fill = [&details](std::string_view text) {
    if (!details.ip.empty()) return replace_all(text, "{ip}", details.ip);
    return replace_all(replace_all(text, "IP {ip}", "IP address"), "{ip}", "the sending IP address");
  };
  Meaning meaning;
  meaning.entry = &entry;
  meaning.id = entry.id;
  meaning.category = entry.category;
  meaning.title = entry.title;
  meaning.cause = fill(entry.cause);
  for (auto step : entry.remedy)
    if (!step.empty()) meaning.remedy.push_back(fill(step));
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
  }
  return "unknown";
}

std::span<const KnowledgeEntry> knowledge_table() { return knowledge_entries; }

std::vector<std::string> validate_knowledge_table() { return compiled_table().problems; }

Meaning explain_reply(int code, std::string_view enhanced, std::string_view reply_text, const ReplyDetails& details) {
  const auto& table = compiled_table();
  if (!table.problems.empty()) throw std::logic_error(table.problems.front());
  const auto enhanced_code = enhanced.empty() ? std::nullopt : text::parse_enhanced(enhanced);
  const std::string lower_text = text::to_lower(reply_text);
  const CompiledEntry* best = nullptr;
  int best_score = -1;
  for (const auto& entry : table.entries) {
    const auto score = specificity(entry, code, enhanced_code, lower_text, details.sender);
    // Ties go to the entry listed first.
    if (score && *score > best_score) best = &entry, best_score = *score;
  }
  if (best) return meaning_of(*best->entry, details);
  return generic_meaning(code, enhanced_code);
}

}  // namespace diag::explain
