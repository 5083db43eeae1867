// The findings: the resolver, each IP on each list, Microsoft's own list
// (which cannot be queried), and the egress address; as checks, JSON and text.
#include <algorithm>
#include <cstdio>
#include <set>

#include "diag/blocklist.h"
#include "diag/strings.h"
#include "diag/version.h"

namespace diag::blocklist {
namespace {

using diag::strings::join;

constexpr const char* tool_name = "sendcheck-blocklist";

struct PublicResolver {
  std::string_view address;
  std::string_view operator_name;
  std::string_view source;
};
constexpr PublicResolver public_resolvers[] = {
#include "../../data/dnsbl_public_resolvers.inc"
};

struct MicrosoftDelisting {
  std::string_view codes;
  std::string_view meaning;
  std::string_view action;
  std::string_view source;
};
constexpr MicrosoftDelisting microsoft_delisting[] = {
#include "../../data/dnsbl_microsoft_delisting.inc"
};

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::string with_ip(const std::string& text, const IpAddress& ip) { return replace_all(text, "{ip}", ip.to_string()); }

std::string list_label(const SelectedList& list) { return list.spec->name + " (" + list.shown_zone + ")"; }

const PublicResolver* known_public_resolver(const dns::ServerAddress& server) {
  for (const auto& entry : public_resolvers)
    if (IpAddress::parse(entry.address) == server.address) return &entry;
  return nullptr;
}

Check make_check(std::string id, Status status, std::string message, std::string remedy,
                 nlohmann::json fields = nlohmann::json::object()) {
  return Check{std::move(id), status, std::move(message), std::move(remedy), std::move(fields)};
}

std::string servers_text(const RunSummary& run) {
  std::vector<std::string> out;
  for (const auto& server : run.servers) out.push_back(server.to_string());
  if (run.zone_overlay) out.push_back("--zone files");
  return out.empty() ? "no DNS server" : join(out, ", ");
}

// The lists that refuse public resolvers, named for the resolver finding.
std::string refusing_lists_text(const RunSummary& run) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& ip : run.ips)
    for (const auto& listing : ip.listings) {
      const ListSpec& spec = *listing.list.spec;
      if (spec.public_resolvers != PublicResolvers::refused || !seen.insert(spec.id).second) continue;
      out.push_back(spec.name + " (" + spec.resolvers + ")");
    }
  return join(out, "; ");
}

void add_egress_checks(const EgressResult& egress, Report& report) {
  std::vector<std::string> found;
  for (const auto family : {IpAddress::Family::v4, IpAddress::Family::v6}) {
    std::vector<std::string> addresses;
    std::set<std::string> methods;
    for (const auto& attempt : egress.attempts)
      for (const auto& address : attempt.addresses)
        if (address.family() == family) methods.insert(attempt.method);
    for (const auto& address : egress.addresses)
      if (address.family() == family) addresses.push_back(address.to_string());
    if (addresses.empty()) continue;
    found.push_back(join(addresses, ", ") + " (" + (family == IpAddress::Family::v4 ? "IPv4" : "IPv6") + ", seen by " +
                    join(std::vector<std::string>(methods.begin(), methods.end()), ", ") + ")");
    if (addresses.size() > 1)
      report.add(make_check("blocklist.egress-ambiguous", Status::warn,
                            "The services saw different " + std::string(family == IpAddress::Family::v4 ? "IPv4" : "IPv6") +
                                " addresses for this machine: " + join(addresses, ", "),
                            "Outbound traffic leaves through several NAT addresses (or a load balancer); every one "
                            "was checked. Make mail leave through one fixed address and publish it in SPF."));
  }
  std::vector<std::string> attempts;
  for (const auto& attempt : egress.attempts)
    attempts.push_back(attempt.method + " " + attempt.via + ": " + attempt.detail);
  if (found.empty()) {
    report.add(make_check("blocklist.egress", Status::error,
                          "Could not find the public address this machine sends from (" + join(attempts, "; ") + ")",
                          "Allow outbound DNS (UDP and TCP port 53) to the services, or HTTPS to the --egress-url; "
                          "or give the public address of your firewall or NAT as an IP argument."));
    return;
  }
  std::string message = "This machine's public address: " + join(found, "; ");
  if (!egress.has(IpAddress::Family::v6)) message += "; no IPv6 address found (no IPv6 route, or the services were not reachable over IPv6)";
  report.add(make_check("blocklist.egress", Status::pass, message + ". Checked below",
                        "", {{"addresses", [&] {
                               auto out = nlohmann::json::array();
                               for (const auto& a : egress.addresses) out.push_back(a.to_string());
                               return out;
                             }()}}));
  report.add(make_check("blocklist.egress-path", Status::info,
                        "The address found is the one DNS and HTTPS traffic leaves from; mail on port 25 can leave "
                        "through another NAT address or be redirected by the firewall",
                        "If devices send from another network or through a firewall rule of their own, check that "
                        "network's public address too (give it as an IP argument)."));
}

void add_resolver_check(const RunSummary& run, Report& report) {
  std::vector<std::string> refused_lists;
  std::string refused_meaning;
  std::set<std::string> seen;
  for (const auto& ip : run.ips)
    for (const auto& listing : ip.listings)
      if (listing.resolver_refused && seen.insert(listing.list.spec->id).second) {
        refused_lists.push_back(list_label(listing.list));
        if (refused_meaning.empty()) refused_meaning = listing.meaning;
      }
  const PublicResolver* public_resolver = nullptr;
  for (const auto& server : run.servers)
    if ((public_resolver = known_public_resolver(server))) break;
  const std::string servers = servers_text(run);
  const std::string refusing = refusing_lists_text(run);
  const std::string remedy =
      "Query through a recursive resolver you run yourself (for example unbound on this host: --dns 127.0.0.1), "
      "not a public or provider resolver; or give a free Spamhaus DQS key (--spamhaus-key-file FILE or $" +
      std::string(spamhaus_key_variable) + "), which works through any resolver." +
      (refusing.empty() ? "" : " Lists that refuse public resolvers: " + refusing + ".");
  if (!refused_lists.empty()) {
    report.add(make_check("blocklist.resolver", Status::error,
                          join(refused_lists, ", ") + " refused to answer through " + servers + ": " + refused_meaning +
                              ". Their answers say nothing about the IP",
                          remedy, {{"refused_by", refused_lists}}));
    return;
  }
  if (public_resolver) {
    report.add(make_check("blocklist.resolver", Status::warn,
                          "The DNS server " + servers + " is " + std::string(public_resolver->operator_name) +
                              ", a public resolver: Spamhaus refuses public resolvers (older setups answer NXDOMAIN, "
                              "which looks like \"not listed\"), and other lists may too",
                          remedy, {{"public_resolver", std::string(public_resolver->operator_name)}}));
    return;
  }
  // A pass says the lists answered this resolver: not when none answered at
  // all (every question timed out or failed), which the lists' own rows report.
  const bool any_answered = std::any_of(run.ips.begin(), run.ips.end(), [](const IpReport& ip) {
    return std::any_of(ip.listings.begin(), ip.listings.end(),
                       [](const Listing& listing) { return listing.status != ListingStatus::error; });
  });
  if (!any_answered) return;
  report.add(make_check("blocklist.resolver", Status::pass,
                        "No list refused the DNS server " + servers + " (each answer was checked against the list's "
                        "RFC 5782 test entries)",
                        ""));
}

void add_ip_checks(const IpReport& ip, Report& report, std::set<std::string>& unusable_reported) {
  const std::string address = ip.ip.to_string();
  const nlohmann::json where = {{"ip", address}};
  if (ip.skipped_private) {
    report.add(make_check("blocklist.private-address", Status::warn,
                          address + " is a private or reserved address: blocklists list only public addresses, and "
                                    "Microsoft 365 sees your public (NAT) address",
                          "Check the public address instead: --egress finds the one this machine sends from, or give "
                          "your firewall's public address.",
                          where));
    return;
  }
  std::vector<std::string> answered, unusable_or_error;
  for (const auto& listing : ip.listings) {
    const SelectedList& list = listing.list;
    const ListSpec& spec = *list.spec;
    nlohmann::json fields = {{"ip", address}, {"list", spec.id}, {"zone", list.shown_zone}};
    switch (listing.status) {
      case ListingStatus::listed: {
        std::string remedy = with_ip(listing.remedy, ip.ip);
        if (!remedy.empty() && remedy.back() != '.') remedy += '.';
        if (!spec.delist.empty() && remedy.find(with_ip(spec.delist, ip.ip)) == std::string::npos)
          remedy += (remedy.empty() ? "" : " ") + std::string("Delisting: ") + with_ip(spec.delist, ip.ip) + ".";
        std::string message = address + " is listed on " + list_label(list) + ": " + listing.meaning;
        if (listing.txt) message += " (TXT: \"" + *listing.txt + "\")";
        if (!spec.m365.empty()) message += ". For Microsoft 365: " + spec.m365;
        fields["answers"] = nlohmann::json::array();
        for (const auto& answer : listing.answers) fields["answers"].push_back(answer.to_string());
        report.add(make_check("blocklist.listed", listing.severity, message, remedy, fields));
        answered.push_back(spec.name);
        break;
      }
      case ListingStatus::not_listed: answered.push_back(spec.name); break;
      case ListingStatus::error:
        unusable_or_error.push_back(spec.name);
        if (listing.resolver_refused) break;  // one blocklist.resolver finding says it for all
        report.add(make_check("blocklist.list-error", Status::error,
                              "Could not tell whether " + address + " is on " + list_label(list) + ": " + listing.meaning,
                              listing.remedy, fields));
        break;
      case ListingStatus::unusable:
        unusable_or_error.push_back(spec.name);
        if (!unusable_reported.insert(spec.id).second) break;
        fields.erase("ip");
        report.add(make_check("blocklist.list-unusable", Status::warn,
                              list_label(list) + " is unusable: " + listing.meaning, listing.remedy, fields));
        break;
    }
  }
  if (!ip.skipped_ipv4_only.empty()) {
    std::vector<std::string> names;
    for (const SelectedList& list : ip.skipped_ipv4_only) names.push_back(list.spec->name);
    report.add(make_check("blocklist.ipv6-coverage", Status::info,
                          address + " is IPv6: not asked of " + std::to_string(names.size()) +
                              " lists that do not document IPv6 support (" + join(names, ", ") + ")",
                          "", where));
  }
  const bool listed = std::any_of(ip.listings.begin(), ip.listings.end(),
                                  [](const Listing& l) { return l.status == ListingStatus::listed; });
  if (!listed && !answered.empty()) {
    std::string message = address + " is not listed on any of the " + std::to_string(answered.size()) +
                          " lists that answered (" + join(answered, ", ") + ")";
    if (!unusable_or_error.empty())
      message += "; " + std::to_string(unusable_or_error.size()) + " could not be used (" + join(unusable_or_error, ", ") + ")";
    report.add(make_check("blocklist.clean", Status::pass, message, "", where));
  }
}

void add_microsoft_check(Report& report) {
  std::vector<std::string> steps;
  auto paths = nlohmann::json::array();
  for (const auto& entry : microsoft_delisting) {
    steps.push_back("If a bounce says " + std::string(entry.codes) + " (" + std::string(entry.meaning) + "): " +
                    std::string(entry.action) + ".");
    paths.push_back({{"codes", entry.codes}, {"meaning", entry.meaning}, {"action", entry.action}, {"source", entry.source}});
  }
  report.add(make_check("blocklist.microsoft", Status::info,
                        "Microsoft's own IP block list is not published and cannot be queried: a clean result here "
                        "does not prove that Microsoft 365 accepts this IP, only that the lists receivers share are clean",
                        join(steps, " "), {{"delisting", paths}}));
}

nlohmann::json listing_json(const IpReport& ip, const Listing& listing) {
  const ListSpec& spec = *listing.list.spec;
  auto answers = nlohmann::json::array();
  for (const auto& answer : listing.answers) answers.push_back(answer.to_string());
  return {{"zone", listing.list.shown_zone},
          {"list", spec.name},
          {"id", spec.id},
          {"status", to_string(listing.status)},
          {"severity", to_string(listing.severity)},
          {"answers", answers},
          {"outcome", dns::to_string(listing.outcome)},
          {"meaning", listing.meaning},
          {"txt", listing.txt ? nlohmann::json(*listing.txt) : nlohmann::json(nullptr)},
          {"delist", spec.delist.empty() ? nlohmann::json(nullptr) : nlohmann::json(with_ip(spec.delist, ip.ip))},
          {"remedy", with_ip(listing.remedy, ip.ip)},
          {"m365", spec.m365}};
}

nlohmann::json ips_json(const RunSummary& run) {
  auto out = nlohmann::json::array();
  for (const auto& ip : run.ips) {
    auto listings = nlohmann::json::array();
    for (const auto& listing : ip.listings) listings.push_back(listing_json(ip, listing));
    auto not_asked = nlohmann::json::array();
    for (const SelectedList& list : ip.skipped_ipv4_only) not_asked.push_back(list.spec->id);
    out.push_back({{"ip", ip.ip.to_string()},
                   {"origin", ip.origin},
                   {"skipped", ip.skipped_private ? nlohmann::json("private") : nlohmann::json(nullptr)},
                   {"listings", listings},
                   {"not_asked_ipv4_only", not_asked}});
  }
  return out;
}

nlohmann::json resolver_json(const RunSummary& run) {
  auto servers = nlohmann::json::array();
  nlohmann::json public_resolver = nullptr;
  for (const auto& server : run.servers) {
    servers.push_back(server.to_string());
    if (const auto* known = known_public_resolver(server); known && public_resolver.is_null())
      public_resolver = std::string(known->operator_name);
  }
  std::set<std::string> refused;
  for (const auto& ip : run.ips)
    for (const auto& listing : ip.listings)
      if (listing.resolver_refused) refused.insert(listing.list.spec->id);
  return {{"servers", servers},
          {"zone_overlay", run.zone_overlay},
          {"public_resolver", public_resolver},
          {"refused_by", std::vector<std::string>(refused.begin(), refused.end())}};
}

nlohmann::json egress_json(const EgressResult& egress) {
  auto addresses = nlohmann::json::array();
  for (const auto& a : egress.addresses) addresses.push_back(a.to_string());
  auto attempts = nlohmann::json::array();
  for (const auto& attempt : egress.attempts) {
    auto found = nlohmann::json::array();
    for (const auto& a : attempt.addresses) found.push_back(a.to_string());
    attempts.push_back({{"method", attempt.method}, {"via", attempt.via}, {"found", attempt.found},
                        {"addresses", found}, {"detail", attempt.detail}});
  }
  return {{"addresses", addresses}, {"attempts", attempts}};
}

// Defense in depth: whatever text reached a string (a resolver's detail,
// an echoed name), no key leaves the process.
void mask_json(nlohmann::json& value, const Secrets& secrets) {
  if (value.is_string()) {
    value = secrets.mask(value.get<std::string>());
  } else if (value.is_array() || value.is_object()) {
    for (auto& element : value) mask_json(element, secrets);
  }
}

std::string status_word(const Listing& listing, const TextStyle& style) {
  switch (listing.status) {
    case ListingStatus::listed: return style.status_label(listing.severity) + " listed  ";
    case ListingStatus::not_listed: return style.status_label(Status::pass) + " clean   ";
    case ListingStatus::error: return style.status_label(Status::error) + " error   ";
    case ListingStatus::unusable: return style.status_label(Status::warn) + " unusable";
  }
  return "";
}

std::string render_ip_text(const IpReport& ip, const TextStyle& style) {
  std::string out = style.bold(ip.ip.to_string()) + style.dim("  (" + ip.origin + ")") + "\n";
  if (ip.skipped_private) return out + "  not asked: private or reserved address\n";
  std::size_t width = 0;
  for (const auto& listing : ip.listings) width = std::max(width, listing.list.spec->name.size());
  for (const auto& listing : ip.listings) {
    std::string name = listing.list.spec->name;
    name.resize(width, ' ');
    out += "  " + status_word(listing, style) + "  " + name + "  " + style.dim(listing.list.shown_zone);
    if (listing.status != ListingStatus::not_listed || !listing.answers.empty()) out += "  " + listing.meaning;
    out += "\n";
    if (listing.txt) out += "  " + std::string(width + 19, ' ') + style.dim("TXT: " + *listing.txt) + "\n";
  }
  if (!ip.skipped_ipv4_only.empty()) {
    std::vector<std::string> names;
    for (const SelectedList& list : ip.skipped_ipv4_only) names.push_back(list.spec->name);
    out += style.dim("  not asked (no documented IPv6 support): " + join(names, ", ")) + "\n";
  }
  return out;
}

}  // namespace

Report make_report(const RunSummary& run, const Secrets& secrets, std::string* text, const TextStyle& style) {
  Report report(tool_name, diag::version);
  if (run.egress) add_egress_checks(*run.egress, report);
  add_resolver_check(run, report);
  std::set<std::string> unusable_reported;
  for (const auto& ip : run.ips) add_ip_checks(ip, report, unusable_reported);
  add_microsoft_check(report);

  // Mask every message and field once, here, rather than trusting each producer.
  Report masked(tool_name, diag::version);
  for (Check check : report.checks()) {
    check.message = secrets.mask(std::move(check.message));
    check.remedy = secrets.mask(std::move(check.remedy));
    mask_json(check.fields, secrets);
    masked.add(std::move(check));
  }
  if (text) {
    for (const auto& ip : run.ips) *text += render_ip_text(ip, style) + "\n";
    *text += render_checks_text(masked.checks(), style);
    *text = secrets.mask(std::move(*text));
    return masked;
  }
  masked.fields()["ips"] = ips_json(run);
  masked.fields()["resolver"] = resolver_json(run);
  masked.fields()["egress"] = run.egress ? egress_json(*run.egress) : nlohmann::json(nullptr);
  masked.fields()["lists_queried"] = run.lists_selected;
  mask_json(masked.fields(), secrets);
  return masked;
}

std::string render_zone_list(const std::vector<ListSpec>& lists, const Secrets& secrets, bool json) {
  if (json) {
    auto out = nlohmann::json::array();
    for (const auto& spec : lists) {
      auto codes = nlohmann::json::array();
      for (const auto& code : spec.codes)
        codes.push_back({{"first", code.first.to_string()}, {"last", code.last.to_string()},
                         {"kind", to_string(code.kind)}, {"severity", to_string(code.severity)},
                         {"meaning", code.meaning}, {"remedy", code.remedy}});
      out.push_back({{"id", spec.id}, {"name", spec.name}, {"zone", spec.zone}, {"query", to_string(spec.query)},
                     {"ipv6", spec.ipv6},
                     {"liveness", spec.liveness == Liveness::rfc5782 ? "rfc5782"
                                  : spec.liveness == Liveness::positive_only ? "positive-only" : "none"},
                     {"key_needed", spec.key != SecretKind::none},
                     {"key_given", secrets.has(spec.key)},
                     {"terms", spec.terms}, {"resolvers", spec.resolvers}, {"m365", spec.m365},
                     {"delist", spec.delist}, {"remedy", spec.remedy}, {"sources", spec.sources}, {"codes", codes}});
    }
    // In the envelope every tool prints, the table as "lists".
    Report table(tool_name, diag::version);
    table.fields()["lists"] = std::move(out);
    return secrets.mask(table.to_json_text());
  }
  std::string out;
  for (const auto& spec : lists) {
    char line[512];
    std::snprintf(line, sizeof line, "%-16s %-34s %-10s ipv6=%-3s %s\n", spec.id.c_str(), spec.zone.c_str(),
                  std::string(to_string(spec.query)).c_str(), spec.ipv6 ? "yes" : "no", spec.name.c_str());
    out += line;
    if (!spec.terms.empty()) out += "    terms: " + spec.terms + "\n";
    if (!spec.delist.empty()) out += "    delist: " + spec.delist + "\n";
  }
  return secrets.mask(std::move(out));
}

}  // namespace diag::blocklist
