// Aggregation per sender and IP, the effective setting, the verdicts and the
// ways forward.
#include <charconv>
#include "diag/inventory.h"

#include <algorithm>
#include <set>

#include "diag/ip.h"
#include "diag/strings.h"
#include "diag/mx.h"
#include "diag/spf.h"
#include "text_input.h"

namespace diag::inventory {
using namespace detail;
namespace {

constexpr std::size_t max_error_codes_per_ip = 16;
constexpr std::size_t max_user_agents_per_ip = 4;
constexpr std::int64_t other_error_codes = -2;  // the bucket once max_error_codes_per_ip is reached

std::string sender_key(std::string_view user) { return to_lower(trim(user)); }

enum class ProtocolClass { basic, oauth, unknown };
ProtocolClass classify_protocol(const std::optional<std::string>& protocol) {
  if (!protocol) return ProtocolClass::unknown;
  const auto lower = to_lower(*protocol);
  if (lower.find("basic") != std::string::npos) return ProtocolClass::basic;
  if (lower.find("oauth") != std::string::npos || lower.find("modern") != std::string::npos) return ProtocolClass::oauth;
  return ProtocolClass::unknown;
}

std::string domain_of(const std::string& user) {
  const auto at = user.rfind('@');
  return at == std::string::npos || at + 1 >= user.size() ? "YOUR-DOMAIN" : user.substr(at + 1);
}

std::string join_codes(const IpActivity& ip) {
  std::string text;
  for (const auto& [code, count] : ip.error_codes) {
    const auto meaning = explain_error_code(code);
    text += (text.empty() ? "" : "; ") + (code == other_error_codes ? std::string("other codes") : std::to_string(code)) +
            " x" + std::to_string(count) + " (" + meaning.text + (meaning.confirmed ? "" : ", unconfirmed") + ")";
  }
  return text;
}

// The reports' concealment setting conceals names in the usage reports,
// not in the sign-in logs: a sign-in's odd name is the name.
bool concealed_in_report(const SenderActivity& sender) {
  return looks_concealed(sender.user) && (sender.usage || sender.smtp_auth_report) && sender.ips.empty();
}

// A B2B guest's user principal name: name_partner.com#EXT#@tenant.onmicrosoft.com.
bool is_guest_account(std::string_view user) { return to_lower(std::string(user)).find("#ext#") != std::string::npos; }

}  // namespace

bool looks_concealed(std::string_view user) {
  user = trim(user);
  if (user.size() != 32) return false;
  return std::all_of(user.begin(), user.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

ErrorCodeMeaning explain_error_code(std::int64_t code) {
  // 0 and 53003: https://learn.microsoft.com/entra/identity/conditional-access/troubleshoot-conditional-access
  // The others are the well-known AADSTS meanings, not confirmed here from
  // Microsoft's documentation: the output says so.
  switch (code) {
    case 0: return {"success", true};
    case 53003: return {"blocked by Conditional Access", true};
    case 50126: return {"invalid user name or password", false};
    case 50076: return {"multifactor authentication required", false};
    case 50053: return {"account locked or sign-in blocked after too many attempts", false};
    case -1: return {"failed, code not given in the export", true};
    case other_error_codes: return {"more distinct codes than are kept", true};
    default: return {"see https://login.microsoftonline.com/error?code=" + std::to_string(code), false};
  }
}

void IpActivity::add_code(std::map<std::int64_t, std::uint64_t>& codes, std::int64_t code, std::uint64_t count) {
  const bool known = codes.count(code) != 0;
  codes[known || codes.size() < max_error_codes_per_ip ? code : other_error_codes] += count;
}

void InventoryAggregator::add(const SignIn& signin) {
  ++rows_seen_;
  const auto key = sender_key(signin.user);
  const auto& spelling = first_spelling_.try_emplace(key, trim(signin.user)).first->second;
  if (since_ && signin.time < *since_) {
    ++rows_before_since_;
    // Not counted, but known: a mailbox the input shows in use is never
    // called unused because --since left its sign-ins out.
    if (!key.empty())
      remember_before_since(key, signin.time, signin.error_code == 0,
                            signin.error_code == 0 ? std::optional(signin.time) : std::nullopt, signin.ip);
    return;
  }
  if (key.empty()) return;
  earliest_signin_ = earliest_signin_ ? std::min(*earliest_signin_, signin.time) : signin.time;
  latest_signin_ = latest_signin_ ? std::max(*latest_signin_, signin.time) : signin.time;
  if (!signin.request_id.empty()) {
    std::string identity = signin.request_id;
    identity.append("|").append(std::to_string(signin.time.time_since_epoch().count())).append("|").append(key);
    identity.append("|").append(signin.ip).append("|").append(std::to_string(signin.error_code));
    const auto [counted, first_time] = counted_rows_.emplace(std::hash<std::string>{}(identity), signin.interactivity);
    if (!first_time) {
      ++rows_read_twice_;
      if (counted->second != Interactivity::unknown && signin.interactivity != Interactivity::unknown &&
          counted->second != signin.interactivity)
        ++rows_in_both_logs_;
      return;
    }
  }
  auto& sender = senders_[key];
  if (sender.user.empty()) sender.user = spelling;
  // An IPv4-mapped IPv6 address (::ffff:203.0.113.7) is the IPv4 sender
  // (RFC 7208 5): one entry, and an address that fits an ip4: term.
  std::string address = signin.ip;
  if (const auto parsed = IpAddress::parse(signin.ip)) address = spf::unmapped(*parsed).to_string();
  auto& ip = sender.ips[address];
  ip.ip = address;
  ++ip.rows_this_run;
  if (ip.signins == 0 && !ip.from_history) {
    ip.first_seen = ip.last_seen = signin.time;
  } else {
    ip.first_seen = std::min(ip.first_seen, signin.time);
    ip.last_seen = std::max(ip.last_seen, signin.time);
  }
  auto& log_last = ip.last_seen_by_log[signin.interactivity];
  log_last = std::max(log_last, signin.time);
  // A sign-in at or before the history's last one for this sender, IP and
  // log was counted by an earlier run (the same download read again).
  const auto counted_before = [&](Interactivity log) {
    const auto watermark = watermarks_.find({key, address, log});
    return watermark != watermarks_.end() && signin.time <= watermark->second;
  };
  if (counted_before(signin.interactivity) || counted_before(Interactivity::unknown)) return;
  ++ip.signins;
  ++ip.new_signins;
  if (signin.error_code == 0) {
    ++ip.successes;
    ++ip.new_successes;
    ip.last_success = std::max(ip.last_success, signin.time);
  } else {
    ++ip.failures;
    IpActivity::add_code(ip.error_codes, signin.error_code, 1);
    IpActivity::add_code(ip.new_error_codes, signin.error_code, 1);
  }
  if (!signin.user_agent.empty() && ip.user_agents.size() < max_user_agents_per_ip &&
      std::find(ip.user_agents.begin(), ip.user_agents.end(), signin.user_agent) == ip.user_agents.end())
    ip.user_agents.push_back(signin.user_agent);
}

void InventoryAggregator::add(const UsageRow& row) {
  // Every row carries the report's period, whatever its SMTP App says.
  int period = 0;
  const std::string_view days = row.report_period;
  const auto digits = days.starts_with('D') || days.starts_with('d') ? days.substr(1) : days;
  const auto refresh = parse_date(row.report_refresh_date);
  if (refresh && std::from_chars(digits.data(), digits.data() + digits.size(), period).ptr == digits.data() + digits.size() &&
      period > 0 && period <= 366) {
    const auto from = *refresh - std::chrono::days(period - 1);
    usage_from_ = usage_from_ ? std::min(*usage_from_, from) : from;
  }
  if (refresh) usage_to_ = usage_to_ ? std::max(*usage_to_, *refresh) : *refresh;
  if (!row.smtp_app) return;
  const auto key = sender_key(row.user);
  if (key.empty()) return;
  auto& sender = senders_[key];
  if (sender.user.empty()) sender.user = first_spelling_.try_emplace(key, trim(row.user)).first->second;
  if (sender.usage_read_on) {  // this run's report replaces the history's
    sender.usage.reset();
    sender.usage_read_on.reset();
  }
  if (!sender.usage || sender.usage->last_activity_date < row.last_activity_date) sender.usage = row;
}

void InventoryAggregator::add(const SmtpAuthReportRow& row) {
  const auto key = sender_key(row.sender);
  if (key.empty()) return;
  auto& sender = senders_[key];
  if (sender.user.empty()) sender.user = first_spelling_.try_emplace(key, trim(row.sender)).first->second;
  if (sender.smtp_auth_report_read_on) {  // this run's report replaces the history's
    sender.smtp_auth_report.reset();
    sender.smtp_auth_report_read_on.reset();
  }
  if (!sender.smtp_auth_report) {
    sender.smtp_auth_report = row;
    return;
  }
  // Several rows for one sender (one per protocol): sum the messages, weigh
  // the TLS shares by them, and keep Basic when any row says Basic.
  auto& merged = *sender.smtp_auth_report;
  const double total = static_cast<double>(merged.messages + row.messages);
  const auto weigh = [&](double a, double b) {
    return total > 0 ? (a * static_cast<double>(merged.messages) + b * static_cast<double>(row.messages)) / total : a;
  };
  merged.tls10_percent = weigh(merged.tls10_percent, row.tls10_percent);
  merged.tls11_percent = weigh(merged.tls11_percent, row.tls11_percent);
  merged.tls12_percent = weigh(merged.tls12_percent, row.tls12_percent);
  // Each protocol keeps its own count: 300 OAuth messages and 12 Basic
  // ones are not "312 messages, Basic". The label names every protocol, so
  // classify_protocol still finds Basic whenever any row said it.
  auto& by_protocol = merged.messages_by_protocol;
  if (by_protocol.empty()) by_protocol.emplace_back(merged.authentication_protocol.value_or(""), merged.messages);
  merged.messages += row.messages;
  const std::string protocol = row.authentication_protocol.value_or("");
  const auto same = std::find_if(by_protocol.begin(), by_protocol.end(), [&](const auto& entry) { return to_lower(entry.first) == to_lower(protocol); });
  if (same != by_protocol.end()) same->second += row.messages;
  else by_protocol.emplace_back(protocol, row.messages);
  if (by_protocol.size() < 2) return;
  std::string label;
  for (const auto& [name, messages] : by_protocol)
    label += (label.empty() ? "" : ", ") + (name.empty() ? std::string("no protocol") : name) + " " + std::to_string(messages) +
             (messages == 1 ? " message" : " messages");
  merged.authentication_protocol = label;
}

void InventoryAggregator::set_watermark(const std::string& user, const std::string& ip, Interactivity log,
                                        std::chrono::sys_seconds last_seen) {
  auto& watermark = watermarks_[{sender_key(user), ip, log}];
  watermark = std::max(watermark, last_seen);
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::will_break: return "will-break";
    case Verdict::refused: return "refused";
    case Verdict::oauth: return "oauth";
    case Verdict::exposed_unused: return "exposed-unused";
  }
  return "unknown";
}

std::string EffectiveSetting::describe() const {
  std::string text;
  if (!disabled) {
    text = "unknown";
    if (org) text += std::string(" (organization: SMTP AUTH ") + (*org ? "disabled" : "enabled") +
                     (mailbox_row_found ? ")" : "; this mailbox's own setting not given)");
    else if (mailbox_row_found && !mailbox) text += " (mailbox follows the organization, whose setting was not given)";
    else text += " (give --transport-config and --mailboxes)";
  } else {
    text = std::string("SMTP AUTH ") + (*disabled ? "disabled" : "enabled") +
           (mailbox ? " (this mailbox's own setting)" : " (follows the organization)");
  }
  if (!blocking_policies.empty()) {
    text += "; authentication policy ";
    for (std::size_t i = 0; i < blocking_policies.size(); ++i) text += (i ? ", " : "") + blocking_policies[i];
    text += " blocks basic SMTP for the users it is assigned to";
  }
  return text;
}

int days_until_cutover(std::chrono::sys_days today) {
  using namespace std::chrono;
  const sys_days cutover{year{2026} / December / 31};
  return today >= cutover ? 0 : static_cast<int>((cutover - today).count());
}

// What refuses an OAuth sign-in as much as a password: the SMTP AUTH switch
// (the mailbox's, or the organization's that it may follow), and the
// Conditional Access policy behind a 53003.
// Addresses in numeric order (198.51.100.2 before 198.51.100.10), IPv4
// first; text that is no address last, as text.
bool ip_order(const std::string& a, const std::string& b) {
  const auto x = IpAddress::parse(a), y = IpAddress::parse(b);
  if (!x || !y) return x.has_value() != y.has_value() ? x.has_value() : a < b;
  if (x->is_v4() != y->is_v4()) return x->is_v4();
  return std::lexicographical_compare(x->data(), x->data() + x->size(), y->data(), y->data() + y->size());
}

std::string oauth_blockers(const SenderFinding& sender, bool moving) {
  const std::string when = moving ? " when it moves." : ".";
  const std::string enable = "enable it for this mailbox (Set-CASMailbox -Identity " + strings::powershell_word(sender.user) +
                             " -SmtpClientAuthenticationDisabled $false; the mailbox setting wins over the organization's)";
  std::string out;
  if (sender.setting.disabled == true)
    out = " SMTP AUTH is disabled for it, which refuses OAuth too: " + enable + when;
  else if (!sender.setting.disabled && sender.setting.org == true)
    out = " SMTP AUTH is disabled for the organization and this mailbox's own setting is not known: if it follows the "
          "organization, OAuth is refused too, so " + enable + when;
  const bool conditional_access = std::any_of(sender.ips.begin(), sender.ips.end(),
                                              [](const IpActivity& ip) { return ip.error_codes.count(53003) != 0; });
  if (conditional_access)
    out += " Conditional Access blocked some of its sign-ins (53003): the same policy applies to its OAuth sign-in, so "
           "check which policy it was (Microsoft Entra admin center > Sign-in logs > the sign-in > Conditional Access) "
           "and that it lets the device's new sign-in through.";
  return out;
}

// Every sign-in from the address failed, and only by a lockout: it never
// showed a wrong password (a device with the right one, locked by others'
// guesses).
static bool refused_only_by_lockout(const IpActivity& ip) {
  return ip.signins > 0 && ip.successes == 0 && !ip.error_codes.empty() &&
         std::all_of(ip.error_codes.begin(), ip.error_codes.end(), [](const auto& entry) { return entry.first == 50053; });
}

// A lockout-only address that behaves like a device: it came back on more
// than one day, with a user agent none of the addresses that guessed wrong
// used (an attacker's own try that met the lock is refused by a lockout too).
static bool locked_out_device(const std::vector<IpActivity>& ips, const IpActivity& ip) {
  if (!refused_only_by_lockout(ip) || ip.last_seen - ip.first_seen < std::chrono::hours(24)) return false;
  for (const auto& other : ips) {
    if (&other == &ip || refused_only_by_lockout(other) || other.successes) continue;
    for (const auto& agent : ip.user_agents)
      if (std::find(other.user_agents.begin(), other.user_agents.end(), agent) != other.user_agents.end()) return false;
  }
  return true;
}

// The addresses a sender's password worked from, and those that only
// failed, before --since: they count for the warnings on its password.
static void keep_addresses_before_since(const InventoryAggregator::SeenBeforeSince& earlier, SenderFinding& finding) {
  finding.success_ips_before_since.assign(earlier.success_ips.begin(), earlier.success_ips.end());
  finding.failed_ips_before_since.assign(earlier.failed_ips.begin(), earlier.failed_ips.end());
}

AddressPattern address_pattern(const SenderFinding& sender) {
  AddressPattern pattern;
  for (const auto& ip : sender.ips) {
    if (ip.ip.empty()) continue;
    if (ip.signins > 0 && ip.successes == 0 && !locked_out_device(sender.ips, ip)) ++pattern.failed_only;
    const auto address = IpAddress::parse(ip.ip);
    if (ip.successes > 0 && address &&
        (address_scope(*address) == AddressScope::public_internet || address_scope(*address) == AddressScope::documentation))
      ++pattern.succeeded_public;
  }
  // Addresses that only failed before --since are tries too, unless the
  // window shows them succeed or already counts them.
  for (const auto& earlier : sender.failed_ips_before_since) {
    const bool seen = std::any_of(sender.ips.begin(), sender.ips.end(), [&](const IpActivity& ip) { return ip.ip == earlier; });
    if (!seen) ++pattern.failed_only;
  }
  // Addresses its password worked from before --since count as well: a
  // password known elsewhere stays known whatever the window shows.
  for (const auto& earlier : sender.success_ips_before_since) {
    const auto address = IpAddress::parse(earlier);
    const bool counted = std::any_of(sender.ips.begin(), sender.ips.end(), [&](const IpActivity& ip) { return ip.successes > 0 && ip.ip == earlier; });
    if (!counted && address &&
        (address_scope(*address) == AddressScope::public_internet || address_scope(*address) == AddressScope::documentation))
      ++pattern.succeeded_public;
  }
  return pattern;
}

std::vector<WayForward> ways_forward(const SenderFinding& sender) {
  std::vector<WayForward> ways;
  // Printed commands carry the name as one quoted word: a sign-in log's
  // user name is whatever was typed, an attacker's included.
  // A sign-in name that is not an address (a 32-hex object ID, a bare
  // account name) cannot be a From address: the commands take the device's.
  const bool is_address = sender.user.find('@') != std::string::npos;
  const auto user = is_address ? strings::shell_word(sender.user) : std::string("DEVICE@YOUR-DOMAIN");
  const auto domain = strings::shell_word(domain_of(sender.user));
  const std::string name_note =
      is_address ? std::string()
                 : " Its sign-in name (" + strings::shell_word(sender.user) + ") is not an address: in the commands, "
                   "put the device's From address for DEVICE@YOUR-DOMAIN.";
  const auto prefix = "sendcheck preflight " + domain;
  const bool old_tls = sender.smtp_auth_report &&
                       (sender.smtp_auth_report->tls10_percent > 0 || sender.smtp_auth_report->tls11_percent > 0);
  const std::string tls_note =
      old_tls ? " Its EAC report shows TLS 1.0/1.1 (" +
                    std::to_string(static_cast<int>(sender.smtp_auth_report->tls10_percent +
                                                    sender.smtp_auth_report->tls11_percent + 0.5)) +
                    "% of its messages): this path needs TLS 1.2, so the device needs an update first."
              : "";

  // The tenant's initial domain: Microsoft manages its SPF record, so a
  // device can pass SPF by direct send only with a From in a domain of yours;
  // and it limits mail from it to 100 external recipients a day for the
  // whole organization.
  const auto initial_tenant = mx::initial_domain_tenant(domain_of(sender.user));
  const std::string initial_domain_note =
      initial_tenant
          ? " But " + domain + " is the tenant's initial domain: its mail reaches at most 100 external recipients a day "
            "for the whole organization (550 5.7.236; "
            "https://techcommunity.microsoft.com/blog/exchange/limiting-onmicrosoft-domain-usage-for-sending-emails/4446167), "
            "so give the device an address of a custom domain if it mails outside."
          : "";
  ways.push_back({"oauth",
                  "If the device or application can use OAuth 2.0 (XOAUTH2) for SMTP, keep it on smtp.office365.com "
                  "port 587 and switch its sign-in to OAuth: the address and mailbox stay the same." + oauth_blockers(sender, true) +
                      initial_domain_note + tls_note + name_note,
                  prefix + " --method smtp-auth --from " + user + " --oauth-token-file TOKEN-FILE --device-auth oauth"});

  // Two facts of the tenant that only the admin can read decide direct send
  // after DATA, which preflight never sends, and so do the recipients the
  // device really mails: left as words to fill in.
  const std::string direct_facts = " --reject-direct-send ON-OR-OFF --recipient-kind KIND";
  const std::string direct_facts_note =
      " In the command, put for RECIPIENT an address the device really mails (one --to for each kind of recipient), for "
      "ON-OR-OFF what Get-OrganizationConfig | Format-List RejectDirectSend shows (True: on), and for KIND what that "
      "recipient is: mailbox or open-group (takes mail from outside the organization), group or restricted-mailbox "
      "(authenticated senders only; see man sendcheck-preflight).";
  std::vector<std::string> public_ips;
  std::string skipped;
  // Every sign-in failed: the addresses need not be the device's. SMTP AUTH
  // is a common target of password spraying, and an attacker's address put
  // into SPF or a connector would send as the domain.
  // Per address: a sender whose device succeeds from one address can still
  // be sprayed from others.
  std::string unconfirmed;
  const auto failed_only = [](const IpActivity& ip) { return ip.signins > 0 && ip.successes == 0; };
  for (const auto& ip : sender.ips)
    if (!ip.ip.empty() && failed_only(ip)) unconfirmed += (unconfirmed.empty() ? "" : ", ") + ip.ip;
  const bool one_unconfirmed = unconfirmed.find(',') == std::string::npos;
  // Failed attempts from elsewhere are a password under attack: a success
  // from an address the device does not use may be the attacker's.
  std::size_t succeeding = 0;
  for (const auto& ip : sender.ips) succeeding += ip.successes > 0;
  const std::string compromise_note =
      unconfirmed.empty() ? ""
                          : " Its password is being tried from other addresses: confirm that each address offered here is "
                            "the device's own (sendcheck blocklist --egress on its network) before you add it anywhere; a "
                            "success from an address the device does not use means the password is known: reset it.";
  const std::string unconfirmed_note =
      unconfirmed.empty() ? ""
                          : " Not for " + unconfirmed + ": every sign-in from " +
                                (one_unconfirmed ? "it failed, so it need" : "them failed, so they need") +
                                " not be the device's (password spraying tries SMTP AUTH from anywhere); never put an address "
                                "into SPF or a connector before confirming it." +
                                (succeeding ? compromise_note : std::string());
  for (const auto& ip : sender.ips) {
    const auto address = IpAddress::parse(ip.ip);
    if (!address || failed_only(ip)) continue;
    const auto scope = address_scope(*address);
    if (scope == AddressScope::public_internet || scope == AddressScope::documentation) {
      public_ips.push_back(ip.ip);
    } else {
      skipped += (skipped.empty() ? "" : ", or ") + ip.ip + ", which is " + std::string(describe(scope));
    }
  }
  // A device sends from one address, two at most (a failover line): a
  // password that works from more is used elsewhere too (shared by several
  // devices or people, or known to an attacker). No address of those goes
  // into SPF or a connector until the device's own is found.
  // Its successes before --since count too: the password was known there.
  std::string too_many;
  if (public_ips.size() > AddressPattern::device_addresses || address_pattern(sender).used_elsewhere()) {
    std::vector<std::string> every = public_ips;
    for (const auto& earlier : sender.success_ips_before_since)
      if (std::find(every.begin(), every.end(), earlier) == every.end()) every.push_back(earlier);
    too_many = strings::join_first(every, 5);
    public_ips.clear();
  }
  const std::string skipped_note =
      (skipped.empty() ? "" : " Not from " + skipped + ": Microsoft 365 never sees such an address as a sender.") +
      unconfirmed_note;
  // A device the EAC report shows on TLS 1.0/1.1 is checked as it is
  // (preflight --device-tls), not with this machine's TLS.
  std::string device_tls;
  if (old_tls) device_tls = sender.smtp_auth_report->tls10_percent > 0 ? "1.0" : "1.1";
  const std::string tls_option = device_tls.empty() ? "" : " --device-tls " + device_tls;
  // Exchange Online refuses TLS 1.0/1.1, and the MX takes plain SMTP: such a
  // device sends to it with STARTTLS off.
  const std::string direct_tls = device_tls.empty() ? "TLS optional" : "STARTTLS turned off on the device (Exchange Online refuses TLS " +
                                                                             device_tls + "; the MX accepts plain SMTP, so its mail "
                                                                             "then crosses the internet unencrypted)";
  // ip is the device's public address, or PUBLIC-IP when none was logged.
  const auto direct_send = [&](const std::string& ip, const std::string& before) {
    const std::string command_ip = " --method direct-send --ip " + ip + (ip == "PUBLIC-IP" ? "" : " --egress");
    // PUBLIC-IP's text already names the addresses that were logged.
    const std::string not_from = ip == "PUBLIC-IP" ? std::string() : skipped_note;
    if (initial_tenant)
      return WayForward{"direct-send",
                        before + "Only with a From address in one of your own domains, to your own organization's mailboxes: " +
                            domain + " is the tenant's initial domain, whose SPF record Microsoft manages, so the device's "
                            "address cannot be added to it. Change the device's From to an address of a custom domain and "
                            "add the address to that domain's SPF record; " + direct_tls + "." + not_from +
                            direct_facts_note,
                        // Not checked by --preflight (ip left empty): the domain to check is the admin's choice.
                        "sendcheck preflight YOUR-DOMAIN" + command_ip +
                            " --from DEVICE@YOUR-DOMAIN --to RECIPIENT@YOUR-DOMAIN" + direct_facts + tls_option};
    return WayForward{"direct-send",
                      before + "Only if it mails your own organization's mailboxes: no sign-in at all, port 25 to your "
                      "tenant's MX, " + direct_tls + ", and its public IP " + (ip == "PUBLIC-IP" ? "" : ip + " ") +
                          "must be in your SPF record." +
                          (ip == "PUBLIC-IP" ? "" : " Run the command on the device's network: --egress confirms that "
                                                    "the session comes from " + ip + ".") +
                          not_from + direct_facts_note,
                      prefix + command_ip + " --from " + user + " --to RECIPIENT@" + domain + direct_facts + tls_option,
                      ip == "PUBLIC-IP" ? std::string() : ip, device_tls};
  };
  // No public source address known: direct send and a connector both hang
  // on it, so say how to find it rather than leave them out silently.
  std::optional<WayForward> address_unknown;
  if (public_ips.empty()) {
    const std::string failed_only_words =
        "every sign-in from " + unconfirmed + " failed, so " +
        (one_unconfirmed ? "it need not be the device's address" : "these need not be the device's addresses") +
        " (password spraying tries SMTP AUTH from anywhere), and no address goes into SPF or a connector before it is "
        "confirmed";
    const std::string why =
        !too_many.empty()
            ? "it signed in successfully from more public addresses than a device uses (" + too_many +
                  "): its password is used from elsewhere too (several devices or people share it, or an attacker "
                  "knows it). Find which devices use it, reset the password if any address is not yours, and add no "
                  "address to SPF or a connector before you know it is the device's"
        : !unconfirmed.empty() ? (skipped.empty() ? failed_only_words
                                                : "no public one was logged (" + skipped + "), and " + failed_only_words)
        : sender.success_before_since && sender.ips.empty()
            ? "no source address was logged on or after --since (run again without --since to see the one it signed in from)"
        : sender.ips.empty() || (sender.ips.size() == 1 && sender.ips.front().ip.empty())
            ? "no source address was logged"
            : "no public one was logged (" + skipped + ")";
    address_unknown = direct_send("PUBLIC-IP", "Direct send or a connector needs the device's public address, and " + why +
                                                   ": on the device's network, find it with sendcheck blocklist --egress, "
                                                   "then put it for PUBLIC-IP and check it with the command. ");
    address_unknown->device_tls = device_tls;
  }
  for (const auto& ip : public_ips) {
    ways.push_back(direct_send(ip, ""));
    ways.push_back({"relay",
                    "If " + ip + " is a static public address that only your organization uses: an inbound connector "
                    "that matches it lets the device mail anyone, with any address of your domains. So does every "
                    "other host behind that address (a PC behind the same NAT included), and on a dynamic or shared "
                    "address whoever else uses it: Microsoft does not allow those, and a connector that matches a "
                    "certificate of yours instead is the safer choice. Run the command on the device's network: the "
                    "connector matches the address the session comes from." +
                        (device_tls.empty() ? std::string()
                                            : " Exchange Online refuses TLS " + device_tls +
                                                  ": STARTTLS turned off on the device, and a connector that requires TLS "
                                                  "would refuse it.") +
                        initial_domain_note + skipped_note,
                    // An external recipient: only its acceptance shows that a connector matched;
                    // --egress: only a session from the device's address shows it matched the device.
                    prefix + " --method relay --ip " + ip + " --egress --from " + user + " --to " + std::string(relay_test_recipient) +
                        tls_option,
                    ip, device_tls});
  }
  // The device's volume is its password messages: an OAuth application on
  // the same mailbox keeps its own way.
  std::string volume;
  if (const auto& report = sender.smtp_auth_report) {
    std::int64_t basic = 0;
    bool split = false;
    for (const auto& [protocol, messages] : report->messages_by_protocol)
      if (to_lower(protocol).find("basic") != std::string::npos) basic += messages, split = true;
    volume = split ? " Its EAC report shows " + std::to_string(basic) + " messages with basic authentication in the report's period (of " +
                         std::to_string(report->messages) + " in all)."
                   : " Its EAC report shows " + std::to_string(report->messages) + " messages in the report's period.";
  }
  ways.push_back({"hve",
                  "High Volume Email: internal recipients only, its own account on smtp.hve.mx.microsoft port 587 with "
                  "TLS; basic authentication is kept there longer than for SMTP AUTH." + volume + tls_note,
                  prefix + " --method hve --user HVE-ACCOUNT@" + domain + " --password-file PASSWORD-FILE --from HVE-ACCOUNT@" +
                      domain + " --to " + user});
  ways.push_back({"acs",
                  "Azure Communication Services SMTP: any recipients and high volume, smtp.azurecomm.net port 587 with "
                  "TLS 1.2, an Entra application's secret as the password, a sender address of the ACS domain." +
                      volume + tls_note,
                  prefix + " --method acs --user 'RESOURCE|APP-ID|TENANT-ID' --password-file SECRET-FILE --from "
                           "DoNotReply@YOUR-ACS-DOMAIN --to " + user});
  // A device that cannot do TLS 1.2 is best served by the paths that do not
  // need it: put them first (OAuth needs TLS 1.2 too).
  if (old_tls)
    std::stable_partition(ways.begin(), ways.end(),
                          [](const WayForward& way) { return way.method == "direct-send" || way.method == "relay"; });
  // Not a way yet, only how to get one: after the ways that are, unless the
  // device's TLS leaves no other way.
  if (address_unknown) ways.insert(old_tls ? ways.begin() : ways.end(), std::move(*address_unknown));
  return ways;
}

std::vector<std::string> preflight_commands(const InventoryResult& result) {
  std::vector<std::string> commands;
  for (const auto& sender : result.senders) {
    for (const auto& way : sender.way_forward)
      if ((way.method == "direct-send" || way.method == "relay") && !way.ip.empty()) commands.push_back(way.command);
  }
  return commands;
}

InventoryResult evaluate(const InventoryAggregator& activity, const TenantSettings& tenant, std::chrono::sys_days today,
                         const std::optional<EvidenceCoverage>& coverage) {
  const bool every_sender_listed = !coverage || coverage->lists_every_sender();
  const bool oauth_senders_listed = !coverage || coverage->lists_oauth_senders();
  const bool both_logs_whole = coverage && coverage->both_logs_whole();
  // A report that hides user names shows SMTP users in use that no mailbox
  // matches: any mailbox may be one of them, sending with OAuth.
  const bool concealed_in_use = std::any_of(activity.senders().begin(), activity.senders().end(),
                                            [](const auto& entry) { return concealed_in_report(entry.second); });
  InventoryResult result;
  result.tenant = tenant;
  result.today = today;
  result.org_known = tenant.smtp_client_authentication_disabled.has_value();
  result.mailboxes_known = !tenant.mailboxes.empty();
  result.rows_seen = activity.rows_seen();
  result.rows_before_since = activity.rows_before_since();
  result.rows_read_twice = activity.rows_read_twice();

  std::map<std::string, const MailboxSetting*> mailboxes;
  for (const auto& mailbox : tenant.mailboxes) mailboxes.emplace(sender_key(mailbox.user), &mailbox);
  std::vector<std::string> blocking;
  for (const auto& [name, allow] : tenant.authentication_policies)
    if (allow == false) blocking.push_back(name);

  const auto setting_for = [&](const std::string& key) {
    EffectiveSetting setting;
    setting.org = tenant.smtp_client_authentication_disabled;
    setting.blocking_policies = blocking;
    if (const auto found = mailboxes.find(key); found != mailboxes.end()) {
      setting.mailbox_row_found = true;
      setting.mailbox = found->second->smtp_client_authentication_disabled;
      // $null on the mailbox: the organization's value applies.
      setting.disabled = setting.mailbox ? setting.mailbox : setting.org;
    }
    return setting;
  };

  // The last password success before --since: such a sender is a device
  // that sends with its password, whatever the window shows of it.
  const auto basic_before_since = [&](const std::string& key) -> std::optional<std::chrono::sys_seconds> {
    const auto earlier = activity.seen_before_since().find(key);
    if (earlier == activity.seen_before_since().end() || !earlier->second.succeeded) return std::nullopt;
    return earlier->second.last_success.value_or(earlier->second.last_seen);
  };
  const std::string guest_reason =
      " It is a guest account (B2B; its name holds #EXT#): it has no mailbox in this tenant, its password is checked by "
      "its home organization, and a device that uses it is the partner's. The controls here are Conditional Access for "
      "it, or removing the guest (Microsoft Entra admin center > Users); ask the partner which device signs in with it.";
  const std::string before_since_reason =
      " and none since --since (a device that sends rarely, or one whose later sign-ins the date left out): it stops working "
      "when Microsoft turns basic authentication for SMTP AUTH off by default at the end of December 2026.";

  for (const auto& [key, sender] : activity.senders()) {
    SenderFinding finding;
    finding.user = sender.user;
    finding.setting = setting_for(key);
    finding.smtp_auth_report = sender.smtp_auth_report;
    finding.usage = sender.usage;
    finding.smtp_auth_report_read_on = sender.smtp_auth_report_read_on;
    finding.usage_read_on = sender.usage_read_on;
    finding.concealed = concealed_in_report(sender);
    finding.guest = is_guest_account(sender.user);
    finding.success_before_since = basic_before_since(key);
    if (const auto earlier = activity.seen_before_since().find(key); earlier != activity.seen_before_since().end())
      keep_addresses_before_since(earlier->second, finding);
    bool only_history = true;
    std::optional<std::chrono::sys_seconds> last_success;
    for (const auto& [address, ip] : sender.ips) {
      finding.ips.push_back(ip);
      finding.signins += ip.signins;
      finding.successes += ip.successes;
      finding.failures += ip.failures;
      if (ip.signins || ip.rows_this_run) {
        finding.first_seen = finding.first_seen ? std::min(*finding.first_seen, ip.first_seen) : ip.first_seen;
        finding.last_seen = finding.last_seen ? std::max(*finding.last_seen, ip.last_seen) : ip.last_seen;
      }
      if (ip.successes) last_success = last_success ? std::max(*last_success, ip.last_success) : ip.last_success;
      if (ip.rows_this_run) only_history = false;
    }
    std::sort(finding.ips.begin(), finding.ips.end(),
              [](const IpActivity& a, const IpActivity& b) { return a.signins != b.signins ? a.signins > b.signins : ip_order(a.ip, b.ip); });
    if ((sender.smtp_auth_report && !sender.smtp_auth_report_read_on) || (sender.usage && !sender.usage_read_on))
      only_history = false;
    finding.only_in_history = only_history && (!sender.ips.empty() || sender.smtp_auth_report || sender.usage);
    finding.active_this_run = !only_history;

    const auto eac = classify_protocol(sender.smtp_auth_report ? sender.smtp_auth_report->authentication_protocol
                                                                : std::nullopt);
    const bool basic_signins = finding.signins > 0;
    if (basic_signins || (sender.smtp_auth_report && eac == ProtocolClass::basic)) finding.auth = AuthEvidence::basic;
    else if (sender.smtp_auth_report && eac == ProtocolClass::oauth) finding.auth = AuthEvidence::oauth;
    else if (sender.smtp_auth_report || sender.usage) finding.auth = AuthEvidence::unknown;
    else finding.auth = AuthEvidence::none;

    const bool disabled = finding.setting.disabled == true;
    const bool basic_worked = finding.successes > 0 || (sender.smtp_auth_report && eac == ProtocolClass::basic &&
                                                        sender.smtp_auth_report->messages > 0);
    switch (finding.auth) {
      case AuthEvidence::basic:
        if (basic_worked && !disabled) {
          finding.verdict = Verdict::will_break;
          finding.reason = std::string("Signs in to SMTP AUTH with basic authentication (a password), and ") +
                           (finding.setting.disabled ? "nothing already blocks it: " : "nothing known blocks it: ") +
                           "it stops working when Microsoft turns basic authentication for SMTP AUTH off by default at "
                           "the end of December 2026.";
          // The EAC row shows OAuth beside the password: an application that
          // stays on the mailbox needs SMTP AUTH after the device moves.
          if (const auto& protocol = sender.smtp_auth_report ? sender.smtp_auth_report->authentication_protocol : std::nullopt;
              protocol && to_lower(*protocol).find("oauth") != std::string::npos)
            finding.reason += " Its EAC report row shows OAuth too (" + *protocol + "): something else sends as it with OAuth, which "
                              "needs SMTP AUTH enabled as much as a password does, so keep SMTP AUTH enabled for this mailbox "
                              "after the device moves.";
          // Every sign-in after the last success failed: something blocks
          // it now (a changed password, a new Conditional Access policy).
          if (last_success && finding.last_seen && finding.failures > 0 &&
              *finding.last_seen - *last_success >= std::chrono::hours(24)) {
            std::string codes;
            for (const auto& ip : finding.ips)
              if (!ip.error_codes.empty() && ip.last_seen > *last_success)
                codes += (codes.empty() ? "" : "; ") + (ip.ip.empty() ? std::string("no address") : ip.ip) + ": " + join_codes(ip);
            // Judged by the addresses it succeeded from: failures from
            // addresses that never signed in are someone else's tries.
            const bool device_failed = std::any_of(finding.ips.begin(), finding.ips.end(), [](const IpActivity& ip) {
              return ip.successes > 0 && ip.last_seen > ip.last_success;
            });
            if (device_failed)
              finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) until " + format_time(*last_success) +
                               ", and every sign-in since failed (the last " + format_time(*finding.last_seen) +
                               (codes.empty() ? std::string() : "; " + codes) +
                               "): it may not send mail now. Whatever refuses it, it stops working when Microsoft turns "
                               "basic authentication for SMTP AUTH off by default at the end of December 2026.";
            else
              finding.reason += " Since its last success (" + format_time(*last_success) +
                                ") only addresses it never signed in from tried, and failed (" + codes +
                                "): not the device, whose own addresses have no failure; someone else is trying its password.";
          }
        } else if (!basic_worked && sender.smtp_auth_report && eac == ProtocolClass::oauth && sender.smtp_auth_report->messages > 0 &&
                   !(basic_before_since(key) && !disabled)) {
          // Its mail goes out with OAuth; the password sign-ins that all
          // failed are someone else's tries. Disabling SMTP AUTH would stop it.
          finding.auth = AuthEvidence::oauth;
          finding.verdict = disabled ? Verdict::refused : Verdict::oauth;
          std::string codes;
          for (const auto& ip : finding.ips)
            if (!ip.error_codes.empty()) codes += (codes.empty() ? "" : "; ") + ip.ip + ": " + join_codes(ip);
          finding.reason = std::string(disabled ? "Uses OAuth (EAC report), but SMTP AUTH is disabled for it, which refuses OAuth as well."
                                                : "Sends with OAuth (EAC report): not affected by the end of basic authentication.") +
                           " Every sign-in with its password failed (" + codes + "): someone is trying the password. Keep "
                           "SMTP AUTH enabled for it (the switch refuses OAuth too); give it a strong password.";
        } else if (basic_worked) {
          finding.verdict = Verdict::refused;
          finding.reason = "Used basic authentication" +
                           (last_success ? " (last success " + format_time(*last_success) + ")" : std::string()) +
                           ", but SMTP AUTH is now disabled for it: Exchange Online refuses it already.";
        } else {
          std::string codes;
          for (const auto& ip : finding.ips)
            if (!ip.error_codes.empty()) codes += (codes.empty() ? "" : "; ") + ip.ip + ": " + join_codes(ip);
          // A lockout lifts by itself (Entra smart lockout), and others'
          // wrong guesses can cause it: a sender refused only by one signs
          // in with its password again, until the cutover stops it.
          bool locked = false, other_refusal = false;
          for (const auto& ip : finding.ips)
            for (const auto& [code, n] : ip.error_codes) {
              if (code == 50053) locked = true;
              else other_refusal = true;
            }
          const bool only_locked = locked && !other_refusal;
          // An address refused only by lockouts beside others that gave wrong
          // passwords: the device, locked by someone else's guesses, when it
          // behaves like one: it came back on more than one day, with a user
          // agent none of the guessing addresses used (an attacker's own try
          // that met the lock is refused by a lockout too).
          const auto locked_device = std::find_if(finding.ips.begin(), finding.ips.end(),
                                                  [&](const IpActivity& ip) { return locked_out_device(finding.ips, ip); });
          const bool device_locked_out = !only_locked && locked_device != finding.ips.end();
          // With --since: it sent with its password before the window, and
          // everything since failed. A device that sends rarely, or one
          // whose password changed: either way it is not done with basic auth.
          // A report shows it sending over SMTP while every password sign-in
          // failed: it sends some other way the logs never show (OAuth), or
          // from days the logs do not cover; someone tries its password.
          const bool report_shows_use = (sender.usage && !sender.smtp_auth_report) ||
                                        (sender.smtp_auth_report && eac == ProtocolClass::unknown && sender.smtp_auth_report->messages > 0);
          if (report_shows_use && !basic_before_since(key)) {
            finding.auth = AuthEvidence::unknown;
            finding.verdict = disabled ? Verdict::refused : Verdict::will_break;
            const auto& eac_protocol = sender.smtp_auth_report ? sender.smtp_auth_report->authentication_protocol : std::nullopt;
            finding.reason = std::string(!sender.smtp_auth_report ? "The usage report"
                                         : eac_protocol && !eac_protocol->empty()
                                             ? "The EAC report (its Authentication Protocol \"" + *eac_protocol + "\" is neither Basic nor OAuth)"
                                             : "The EAC report (without its protocol column)") +
                             " shows it sending over SMTP, and every sign-in with its password failed (" + codes +
                             "): it probably sends with OAuth, which the sign-in logs never show, or on days they do not cover, "
                             "and someone is trying its password. Confirm in the EAC SMTP AUTH clients report's Authentication "
                             "Protocol column; until then keep SMTP AUTH enabled for it (the switch refuses OAuth too) and give it "
                             "a strong password.";
          } else if (const auto when = basic_before_since(key); when && !disabled) {
            finding.verdict = Verdict::will_break;
            finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) before --since (last success " +
                             format_time(*when) + "), and every sign-in since failed (" + codes +
                             "): it may not send mail now. Whatever refuses it, it stops working when Microsoft turns basic "
                             "authentication for SMTP AUTH off by default at the end of December 2026; run again without "
                             "--since to see its successes.";
          } else if (device_locked_out && !disabled) {
            finding.verdict = Verdict::will_break;
            finding.reason = "Every sign-in from " + (locked_device->ip.empty() ? std::string("one address") : locked_device->ip) +
                             " was refused by a lockout, while other addresses gave wrong passwords (" + codes +
                             "): that address is probably the device, with the right password, locked by someone else's guesses "
                             "(password spraying). The lockout lifts by itself and it signs in with its password again, until "
                             "Microsoft turns basic authentication for SMTP AUTH off by default at the end of December 2026: it "
                             "needs one of the ways below, and the account a strong password.";
          } else if (only_locked && !disabled) {
            finding.verdict = Verdict::will_break;
            finding.reason = "Every basic sign-in was refused by a lockout (" + codes +
                             "): a lockout lifts by itself, and then it signs in with its password again, until Microsoft "
                             "turns basic authentication for SMTP AUTH off by default at the end of December 2026. If its "
                             "password is wrong it does not send now either; if it is right, others' guesses locked it "
                             "(password spraying): either way it needs one of the ways below.";
          } else {
            finding.verdict = Verdict::refused;
            finding.reason = "Every basic sign-in failed" + (codes.empty() ? std::string() : " (" + codes + ")") +
                             (only_locked ? ": it does not send mail this way now, and may again when the lock lifts, until the "
                                            "cutover."
                                          : ": it does not send mail this way today.");
          }
        }
        break;
      case AuthEvidence::oauth:
        // OAuth in the EAC report shows that some of its mail uses OAuth;
        // password successes before --since show something that does not.
        if (const auto when = basic_before_since(key); when && !disabled) {
          finding.auth = AuthEvidence::basic;
          finding.verdict = Verdict::will_break;
          finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) before --since (last success " +
                           format_time(*when) + ")," + before_since_reason +
                           " The EAC report shows OAuth for it too: something else sends as it with OAuth. Run again without "
                           "--since for the addresses of the one that uses the password.";
          break;
        }
        finding.verdict = disabled ? Verdict::refused : Verdict::oauth;
        finding.reason = disabled ? "Uses OAuth, but SMTP AUTH is disabled for it, which refuses OAuth as well."
                                  : "Uses OAuth for SMTP AUTH (EAC report): not affected by the end of basic "
                                    "authentication.";
        break;
      case AuthEvidence::unknown: {
        // Password successes before --since say what the report cannot.
        if (const auto when = basic_before_since(key); when && !disabled) {
          finding.auth = AuthEvidence::basic;
          finding.verdict = Verdict::will_break;
          finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) before --since (last success " +
                           format_time(*when) + ")," + before_since_reason + " The " +
                           (sender.smtp_auth_report ? "EAC report" : "usage report") +
                           " lists it too. Run again without --since to see its sign-ins.";
          break;
        }
        // The EAC report names a protocol that is neither Basic nor OAuth ("Kerberos").
        const bool eac_named_other = sender.smtp_auth_report && sender.smtp_auth_report->authentication_protocol &&
                                     !sender.smtp_auth_report->authentication_protocol->empty();
        // A usage row whose last activity is before the first day of the logs.
        const auto last_use = sender.usage ? parse_date(sender.usage->last_activity_date) : std::nullopt;
        const bool last_use_before_logs =
            !sender.smtp_auth_report && last_use && coverage && coverage->signins_from && *last_use < *coverage->signins_from;
        finding.verdict = disabled ? Verdict::refused : Verdict::will_break;
        finding.reason =
            std::string(disabled                   ? "Used SMTP AUTH, but it is now disabled for it."
                        : finding.setting.disabled ? "Uses SMTP AUTH and nothing blocks it."
                                                   : "Uses SMTP AUTH and nothing known blocks it.") +
            " This source cannot tell basic from OAuth (" +
            (sender.usage && !sender.smtp_auth_report ? std::string("usage report only")
             : eac_named_other ? "the EAC report's Authentication Protocol is \"" + *sender.smtp_auth_report->authentication_protocol +
                                     "\", neither Basic nor OAuth"
                               : std::string("EAC report without its protocol column")) + "): " +
            (both_logs_whole && last_use_before_logs
                 // Its last use is older than the logs: they cannot say.
                 ? "its last activity in any email app (" + sender.usage->last_activity_date + ") is before the sign-in logs "
                   "begin (" + format_date(*coverage->signins_from) + "), so they say nothing of how it signed in: look it up "
                   "in older sign-in logs or in the EAC SMTP AUTH clients report's Authentication Protocol column."
             : both_logs_whole && !sender.smtp_auth_report
                 // Both logs were given whole and hold no password sign-in of it.
                 ? std::string("the sign-in logs given have no sign-in with a password for it, so if they cover the days it "
                               "sent, it uses OAuth (the usage report's last activity date is of any email app, not of SMTP). "
                               "Confirm in the EAC SMTP AUTH clients report's Authentication Protocol column (--smtp-auth-report).")
             : both_logs_whole && !eac_named_other
                 ? std::string("the sign-in logs given have no sign-in with a password for it, so if they cover the days it "
                               "sent, it uses OAuth. Confirm in the EAC report exported with its Authentication Protocol column.")
                 : eac_named_other
                     // The column is where the unknown value came from.
                     ? std::string("look it up in the sign-in logs (client app \"Authenticated SMTP\"): a sign-in there with a "
                                   "password is basic authentication.")
                     : std::string("look it up in the sign-in logs (client app \"Authenticated SMTP\") or in the EAC report's "
                                   "Authentication Protocol column."));
        break;
      }
      case AuthEvidence::none: continue;  // a history entry without activity
    }
    // smtp.office365.com refuses TLS 1.0 and 1.1 (421 4.7.66): a sender
    // whose messages went through on them used the opt-in legacy endpoint,
    // which is SMTP AUTH too and ends with it.
    if (finding.verdict == Verdict::will_break && sender.smtp_auth_report &&
        (sender.smtp_auth_report->tls10_percent > 0 || sender.smtp_auth_report->tls11_percent > 0) &&
        sender.smtp_auth_report->messages > 0)
      finding.reason += " It sends with TLS 1.0/1.1, which only smtp-legacy.office365.com accepts (the organization "
                        "opted in with Set-TransportConfig -AllowLegacyTLSClients $true): that endpoint is SMTP AUTH too, "
                        "and Microsoft's retirement of basic authentication names both endpoints "
                        "(https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
                        "opt-in-exchange-online-endpoint-for-legacy-tls-using-smtp-auth).";
    if (finding.guest) {
      // Nothing of this tenant's mail settings applies to it: no command.
      finding.reason += guest_reason;
      finding.way_forward.clear();
    } else if (finding.concealed)
      finding.reason += " Its name is concealed in the report, so it cannot be matched to a device or mailbox: turn "
                        "concealment off and export again.";
    else if (finding.verdict == Verdict::refused && finding.auth == AuthEvidence::basic && finding.successes == 0 &&
             address_pattern(finding).sprayed())
      // Failures from many addresses and no success: nothing shows a device
      // that needs a way forward, only a password under attack.
      finding.reason += std::string(" Nothing shows a device behind these sign-ins: failures from this many addresses are someone "
                                    "trying the password (see the password-spraying warning).") +
                        (concealed_in_use
                             ? " But the report hides user names (concealed), and an SMTP user it shows in use may be this "
                               "mailbox sending with OAuth, which the sign-in logs never show: keep SMTP AUTH enabled for it "
                               "until concealment is off and the report is exported again."
                         : !oauth_senders_listed
                             ? " But no input given lists the OAuth senders of the sign-in logs' days, and an application that "
                               "sends with OAuth never appears in the logs: check a usage report that covers those days (30 "
                               "days or more) before you turn SMTP AUTH off for it."
                             : "");
    else if (finding.verdict == Verdict::will_break || (finding.verdict == Verdict::refused && finding.auth != AuthEvidence::oauth))
      // A refused sender that still has mail to send needs a way forward now.
      finding.way_forward = ways_forward(finding);
    else if (finding.verdict == Verdict::refused)
      // It signs in with OAuth already: only the switch stands in its way.
      finding.way_forward = {WayForward{"oauth",
                                        "It already signs in with OAuth; only the SMTP AUTH switch refuses it." +
                                            oauth_blockers(finding, false),
                                        "sendcheck preflight " + strings::shell_word(domain_of(finding.user)) + " --method smtp-auth --from " +
                                            strings::shell_word(finding.user) + " --oauth-token-file TOKEN-FILE --device-auth oauth"}};
    result.any_concealed = result.any_concealed || finding.concealed;
    // A guest is no mailbox's device, nor is a password tried from many
    // addresses that never worked (spraying): neither is a sender in use.
    const bool guest = finding.guest;
    const bool only_sprayed = finding.successes == 0 && finding.signins > 0 && address_pattern(finding).sprayed();
    if (finding.active_this_run && !guest && !only_sprayed &&
        (finding.concealed || (!tenant.mailboxes.empty() && !finding.setting.mailbox_row_found)))
      result.unmatched_senders.push_back(finding.user);
    result.senders.push_back(std::move(finding));
  }
  const std::string unmatched = strings::join_first(result.unmatched_senders, 5);
  // A concealed name is a hash no command resolves: only an export without
  // concealment shows who it is.
  const auto concealed_unmatched = static_cast<std::size_t>(
      std::count_if(result.unmatched_senders.begin(), result.unmatched_senders.end(), [](const std::string& user) { return looks_concealed(user); }));
  const std::string match_names = "Match them first (Get-Mailbox -Identity NAME | Format-List PrimarySmtpAddress,EmailAddresses)";
  const std::string unconceal = "turn concealment off in the Microsoft 365 admin center (Settings > Org settings > Reports) and export again";
  const std::string match_unmatched =
      concealed_unmatched == 0                              ? match_names + "."
      : concealed_unmatched == result.unmatched_senders.size() ? "Their names are concealed, which no command resolves: " + unconceal + "."
                                                            : match_names + "; for the concealed names, " + unconceal + ".";

  // Mailboxes that can still use SMTP AUTH but were not seen using it.
  for (const auto& mailbox : tenant.mailboxes) {
    const auto key = sender_key(mailbox.user);
    if (activity.senders().count(key)) continue;
    auto setting = setting_for(key);
    if (setting.disabled != false) continue;
    SenderFinding finding;
    finding.user = mailbox.user;
    finding.setting = setting;
    finding.verdict = Verdict::exposed_unused;
    // The history saw it before --since: a device that sends rarely.
    if (const auto earlier = activity.seen_before_since().find(key); earlier != activity.seen_before_since().end()) {
      keep_addresses_before_since(earlier->second, finding);
      // It signed in before --since: a device that sends rarely is still a
      // device, and one that sent with its password breaks at the cutover.
      const std::string when = format_time(earlier->second.last_seen);
      if (const auto success = basic_before_since(key)) {
        finding.verdict = Verdict::will_break;
        finding.auth = AuthEvidence::basic;
        finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) before --since (last success " +
                         format_time(*success) + ")," + before_since_reason +
                         " Do not disable SMTP AUTH for it; run again without --since for its addresses and ways forward.";
      } else {
        finding.reason = "SMTP AUTH is enabled for this mailbox; no use was seen since --since, but its sign-ins before "
                         "that date (last on " + when + ", all failed) show something trying it. Do not disable it until "
                         "you know what that is: run again without --since to see its verdict.";
      }
      result.senders.push_back(std::move(finding));
      continue;
    }
    // Inputs that ended weeks ago do not show a device that started since.
    if (coverage && coverage->ends_before(today)) {
      finding.reason = "SMTP AUTH is enabled for this mailbox and the inputs show no use of it, but " + coverage->stale_inputs(today) +
                       ": a device that started sending since is not in them. Download the sign-in logs and the usage report "
                       "again for the last 30 days and run again before you disable it.";
      result.senders.push_back(std::move(finding));
      continue;
    }
    // One sign-in log, or the EAC report alone, lists only some senders: a
    // mailbox missing from it may be in use, and disabling it stops it.
    if (!every_sender_listed || !oauth_senders_listed) {
      finding.reason = std::string("SMTP AUTH is enabled for this mailbox and the inputs show no use of it, but ") +
                       (!every_sender_listed
                            ? std::string(coverage && !coverage->signin_sources && !coverage->usage_report && !coverage->smtp_auth_report
                                              ? "no source of SMTP AUTH use was given (sign-in logs, usage report or EAC report)"
                                              : "they do not list every SMTP AUTH sender (one sign-in log alone, or the EAC report without its period)")
                        : coverage && coverage->usage_report && !coverage->usage_covers_signins()
                            ? coverage->usage_and_signin_periods() + ", and the sign-in logs list only sign-ins with a password: "
                              "an application that sent with OAuth only on days the usage report does not cover is in neither, "
                              "and disabling SMTP AUTH refuses OAuth too"
                        : coverage && coverage->smtp_auth_report && !coverage->eac_covers_signins()
                            ? "the EAC SMTP AUTH clients report does not say its period (7 days by default), shorter than the sign-in "
                              "logs' " + coverage->signin_period() + ", and the sign-in logs list only sign-ins with a password: an "
                              "application that sent with OAuth only on the earlier days is in neither, and disabling SMTP AUTH "
                              "refuses OAuth too"
                            : std::string("the sign-in logs list only sign-ins with a password: an application that sends with OAuth never "
                                          "appears in them, and disabling SMTP AUTH refuses OAuth too")) +
                       ": do not disable it before the usage report (--usage-report: every SMTP user of its period, OAuth "
                       "included) shows it unused, or both sign-in logs and the EAC SMTP AUTH clients report do.";
      result.senders.push_back(std::move(finding));
      continue;
    }
    // "Not seen" is only as good as the sources read: a device that sends
    // monthly, or one only the EAC report shows, is absent from a short
    // sign-in window. Disabling a mailbox that is in use breaks it today.
    finding.reason = "SMTP AUTH is enabled for this mailbox but no use was seen in the sources read" +
                     (unmatched.empty() ? std::string(".")
                                        : ", and " + std::to_string(result.unmatched_senders.size()) +
                                              " sender" + (result.unmatched_senders.size() == 1 ? "" : "s") + " in use (" +
                                              unmatched + ") " + (result.unmatched_senders.size() == 1 ? "matches" : "match") +
                                              " no mailbox row: this mailbox may be one of them (a "
                                              "sign-in name other than the primary SMTP address, or a concealed name). " +
                                              match_unmatched) +
                     " Before disabling it, check the longest history you have (the EAC SMTP AUTH clients report covers up to 90 days, 7 by "
                     "default; --db keeps earlier runs); if nothing uses it, disable it (Set-CASMailbox -Identity " + strings::powershell_word(mailbox.user) +
                     " -SmtpClientAuthenticationDisabled $true" +
                     (setting.mailbox ? "" : ", or rely on the organization's setting once it is disabled") + ").";
    result.senders.push_back(std::move(finding));
  }

  // Senders whose only successful sign-ins are before --since, with no
  // mailbox row to hang them on: a device that sends rarely still breaks.
  std::set<std::string> listed;
  for (const auto& mailbox : tenant.mailboxes) listed.insert(sender_key(mailbox.user));
  for (const auto& [key, earlier] : activity.seen_before_since()) {
    if (!earlier.succeeded || activity.senders().count(key) || listed.count(key)) continue;
    SenderFinding finding;
    finding.user = activity.spelling(key);
    finding.guest = is_guest_account(key);
    finding.setting = setting_for(key);
    if (finding.setting.disabled == true) continue;  // refused already, whatever it did before
    keep_addresses_before_since(earlier, finding);
    finding.verdict = Verdict::will_break;
    finding.auth = AuthEvidence::basic;
    finding.reason = "Signed in to SMTP AUTH with basic authentication (a password) before --since (last success " +
                     format_time(*basic_before_since(key)) + ")," + before_since_reason +
                     (finding.guest ? guest_reason : std::string(" Run again without --since for its addresses and ways forward."));
    result.senders.push_back(std::move(finding));
  }

  const auto rank = [](Verdict verdict) {
    switch (verdict) {
      case Verdict::will_break: return 0;
      case Verdict::refused: return 1;
      case Verdict::exposed_unused: return 2;
      case Verdict::oauth: return 3;
    }
    return 4;
  };
  std::stable_sort(result.senders.begin(), result.senders.end(), [&](const SenderFinding& a, const SenderFinding& b) {
    if (rank(a.verdict) != rank(b.verdict)) return rank(a.verdict) < rank(b.verdict);
    return to_lower(a.user) < to_lower(b.user);
  });
  return result;
}

namespace {
std::string period(const std::optional<std::chrono::sys_days>& from, const std::optional<std::chrono::sys_days>& to) {
  return (from ? format_date(*from) : std::string("?")) + " to " + (to ? format_date(*to) : std::string("?"));
}
}  // namespace

std::string EvidenceCoverage::usage_and_signin_periods() const {
  return "the usage report covers " + period(usage_from, usage_to) + ", the sign-in logs " + signin_period();
}

std::string EvidenceCoverage::signin_period() const { return period(signins_from, signins_to); }

std::optional<std::chrono::sys_days> EvidenceCoverage::inputs_end() const {
  if (signins_to && usage_to) return std::max(*signins_to, *usage_to);
  return signins_to ? signins_to : usage_to;
}

std::string EvidenceCoverage::stale_inputs(std::chrono::sys_days today) const {
  if (!ends_before(today)) return {};
  const auto days = (today - *inputs_end()).count();
  return "the inputs end on " + format_date(*inputs_end()) + ", " + std::to_string(days) + " days before today (" + format_date(today) + ")";
}

std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
  const auto time = parse_time(text);
  if (!time) return std::nullopt;
  return std::chrono::floor<std::chrono::days>(*time);
}

}  // namespace diag::inventory
