// The explanations as checks, as the "matches" JSON, and as text.
#include "diag/explain.h"
#include "diag/strings.h"

namespace diag::explain {
namespace {

using diag::strings::join;

std::string code_label(const SmtpReply& reply) {
  std::string label = reply.code ? std::to_string(reply.code) : std::string();
  if (!reply.enhanced.empty()) label += (label.empty() ? "" : " ") + reply.enhanced;
  return label;
}

std::string_view reply_class(const Explanation& explanation) {
  const auto& reply = explanation.reply;
  const int status_class = reply.code ? reply.code / 100 : (reply.enhanced.empty() ? 0 : reply.enhanced[0] - '0');
  switch (status_class) {
    case 2: return "success";
    case 3: return "intermediate";
    case 4: return "transient-failure";
    default: return "permanent-failure";
  }
}

nlohmann::json details_json(const Explanation& explanation) {
  const auto& details = explanation.details;
  auto out = nlohmann::json::object();
  const auto set = [&](const char* name, const std::string& value) {
    if (!value.empty()) out[name] = value;
  };
  set("front_end_host", details.front_end_host);
  set("region", details.region);
  set("time", details.time);
  set("session_id", details.session_id);
  set("ip", details.ip);
  set("login", details.login);
  set("from_address", details.from_address);
  if (explanation.ips.size() > 1) out["ips"] = explanation.ips;
  set("as_code", details.as_code);
  if (explanation.more_ips) out["ips_more"] = explanation.more_ips;
  out["sender"] = std::string(to_string(details.sender));
  if (!explanation.reply.host.empty()) out["host"] = explanation.reply.host;
  return out;
}

// "a, b, c (+2 more)"
std::string listed(const std::vector<std::string>& items, std::size_t more) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  if (more) out += " (+" + std::to_string(more) + " more)";
  return out;
}

std::vector<std::string> split_urls(std::string_view source) {
  std::vector<std::string> urls;
  while (!source.empty()) {
    const auto space = source.find(' ');
    if (space != 0) urls.emplace_back(source.substr(0, space));
    if (space == std::string_view::npos) break;
    source.remove_prefix(space + 1);
  }
  return urls;
}

std::string_view sender_words(Sender sender) {
  switch (sender) {
    case Sender::exchange_online: return "Exchange Online";
    case Sender::exchange: return "Microsoft Exchange";
    case Sender::outlook_com: return "Outlook.com";
    case Sender::gmail: return "Gmail";
    case Sender::your_server: return "your own server (its log)";
    case Sender::unknown: return "";
  }
  return "";
}

}  // namespace

nlohmann::json to_json(const Explanation& explanation) {
  const auto& reply = explanation.reply;
  const auto& meaning = explanation.meaning;
  nlohmann::json out = {
      {"input", reply.raw},
      {"code", reply.code ? nlohmann::json(reply.code) : nlohmann::json(nullptr)},
      {"enhanced", reply.enhanced.empty() ? nlohmann::json(nullptr) : nlohmann::json(reply.enhanced)},
      {"id", meaning.id},
      {"category", to_string(meaning.category)},
      {"permanent", explanation.permanent()},
      {"class", reply_class(explanation)},
      {"generic", meaning.generic()},
      {"codes_inferred", reply.codes_inferred},
      {"unconfirmed", meaning.entry && meaning.entry->unconfirmed},
      {"title", meaning.title},
      {"cause", meaning.cause},
      {"remedy", meaning.remedy},
      {"references", meaning.references},
      {"source", meaning.source},
      {"sources", split_urls(meaning.source)},
      {"details", details_json(explanation)},
      {"count", explanation.count},
      {"step", explanation.steps.empty() ? nlohmann::json(nullptr) : nlohmann::json(explanation.steps.front())},
      {"steps", explanation.steps},
      {"steps_more", explanation.more_steps},
  };
  return out;
}

nlohmann::json matches_json(const ExplainResult& result) {
  auto out = nlohmann::json::array();
  for (const auto& explanation : result.explanations) out.push_back(to_json(explanation));
  return out;
}

std::vector<Check> checks(const ExplainResult& result) {
  std::vector<Check> out;
  for (const auto& explanation : result.explanations) {
    const auto& meaning = explanation.meaning;
    Check check;
    check.id = meaning.id;
    check.status = explanation.status();
    check.message = meaning.title;
    // Success replies need no remedy (report.h: empty for pass/info).
    if (check.status != Status::info && !meaning.remedy.empty()) check.remedy = meaning.remedy.front();
    check.fields["code"] = explanation.reply.code ? nlohmann::json(explanation.reply.code) : nlohmann::json(nullptr);
    check.fields["enhanced"] =
        explanation.reply.enhanced.empty() ? nlohmann::json(nullptr) : nlohmann::json(explanation.reply.enhanced);
    check.fields["count"] = explanation.count;
    check.fields["generic"] = meaning.generic();
    if (!explanation.steps.empty()) check.fields["step"] = explanation.steps.front();
    if (!meaning.references.empty()) check.fields["url"] = meaning.references.front();
    out.push_back(std::move(check));
  }
  return out;
}

std::string render_text(const ExplainResult& result, const TextStyle& style, bool verbose) {
  std::string out;
  std::size_t generic_failures = 0, hidden = 0;
  for (const auto& explanation : result.explanations) {
    const auto& reply = explanation.reply;
    const auto& meaning = explanation.meaning;
    // Success and intermediate replies explain nothing that went wrong:
    // shown with -v only (they are always in the JSON).
    if (explanation.status() == Status::info && !verbose) {
      ++hidden;
      continue;
    }
    std::string heading = style.status_label(explanation.status()) + " " + style.bold(code_label(reply)) + "  " +
                          meaning.title;
    out += heading + "\n";
    // The table's id is for scripts (it is in the JSON), not for the reader.
    std::string about = std::string(to_string(meaning.category)) + " · " + std::string(reply_class(explanation));
    if (explanation.count > 1) about += " · seen " + std::to_string(explanation.count) + " times";
    if (!explanation.steps.empty()) about += " · at " + listed(explanation.steps, explanation.more_steps);
    out += "      " + style.dim(about) + "\n";
    // The reply as found, one line per reply line.
    std::string_view raw = reply.raw;
    bool first_line = true;
    while (!raw.empty()) {
      const auto newline = raw.find('\n');
      out += std::string(first_line ? "      Reply:  " : "              ") + std::string(raw.substr(0, newline)) + "\n";
      first_line = false;
      if (newline == std::string_view::npos) break;
      raw.remove_prefix(newline + 1);
    }
    if (reply.codes_inferred)
      out += "      (The input shows no reply code; " + code_label(reply) +
             " is the code the server sends with these words.)\n";
    else if (reply.codes_missing && !reply.code)
      out += "      (The input shows no reply code.)\n";
    if (meaning.entry && meaning.entry->unconfirmed) out += "      UNCONFIRMED meaning (see the source).\n";
    out += "      Cause:  " + meaning.cause + "\n";
    if (explanation.status() == Status::info) {
      if (!meaning.remedy.empty()) out += "      Note:   " + meaning.remedy.front() + "\n";
    } else {
      out += "      What to do:\n";
      for (std::size_t i = 0; i < meaning.remedy.size(); ++i)
        out += "        " + std::to_string(i + 1) + ". " + meaning.remedy[i] + "\n";
    }
    const auto& details = explanation.details;
    std::vector<std::string> detail_parts;
    if (const auto from = sender_words(details.sender); !from.empty()) detail_parts.push_back("from " + std::string(from));
    if (!reply.host.empty()) detail_parts.push_back("host " + reply.host);
    if (!details.front_end_host.empty()) detail_parts.push_back("front end " + details.front_end_host);
    if (!details.region.empty()) detail_parts.push_back("region " + details.region);
    if (!details.time.empty()) detail_parts.push_back("time " + details.time);
    if (!details.session_id.empty()) detail_parts.push_back("session " + details.session_id);
    if (!explanation.ips.empty()) detail_parts.push_back("IP " + listed(explanation.ips, explanation.more_ips));
    if (!details.as_code.empty()) detail_parts.push_back(details.as_code);
    if (!detail_parts.empty()) out += "      Details: " + join(detail_parts, "; ") + "\n";
    if (!meaning.references.empty()) out += "      See:    " + join(meaning.references, "\n              ") + "\n";
    if (verbose) out += "      Source: " + join(split_urls(meaning.source), "\n              ") + "\n";
    out += "\n";
    if (meaning.generic() && explanation.status() != Status::info) ++generic_failures;
  }
  out += std::to_string(result.replies) + (result.replies == 1 ? " reply" : " replies") + " found, " +
         std::to_string(result.explanations.size()) + " distinct";
  if (generic_failures) out += ", " + std::to_string(generic_failures) + " with only a generic meaning";
  if (hidden) out += ", " + std::to_string(hidden) + " success " + (hidden == 1 ? "reply" : "replies") + " not shown (-v shows them)";
  out += ".\n";
  if (result.stopped_at_limit)
    out += "Reading stopped at the input limit (" + std::to_string(max_input_bytes / (1024 * 1024)) + " MiB or " +
           std::to_string(max_input_lines / (1024 * 1024)) + "Mi lines): replies after it are not counted.\n";
  if (result.json_too_deep)
    out += "Part of the JSON input nests deeper than " + std::to_string(max_json_depth) +
           " levels and was not read.\n";
  return out;
}

}  // namespace diag::explain
