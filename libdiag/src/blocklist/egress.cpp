// Which public address this machine sends from: asked of DNS services that
// answer with the asker's address (OpenDNS myip.opendns.com, Google's
// o-o.myaddr.l.google.com), and, for a family they could not tell, of an
// HTTPS service through libcurl.
// libcurl is loaded when the HTTPS fallback is first needed (curl_runtime.h).

#include <algorithm>
#include <cstdio>
#include <future>

#include "diag/ascii.h"
#include "diag/blocklist.h"
#include "diag/curl_runtime.h"
#include "diag/version.h"

namespace diag::blocklist {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t max_body_bytes = 256;  // an address is at most 45 characters

dns::ServerAddress server(const char* text) { return *dns::parse_server_address(text); }

struct Body {
  std::string text;
  bool too_long = false;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& body = *static_cast<Body*>(user);
  const std::size_t bytes = size * count;
  if (body.text.size() + bytes > max_body_bytes) {
    body.too_long = true;
    return 0;  // aborts the transfer: not a what-is-my-IP answer
  }
  body.text.append(data, bytes);
  return bytes;
}

std::string_view family_name(IpAddress::Family family) { return family == IpAddress::Family::v4 ? "IPv4" : "IPv6"; }

EgressAttempt attempt_for(const EgressDnsProbe& probe) {
  EgressAttempt attempt;
  attempt.method = probe.method;
  attempt.via = probe.name + " " + std::string(dns::to_string(probe.type)) + " @" + probe.server.to_string();
  return attempt;
}

// What one probe's server said about our address.
EgressAttempt attempt_from(const EgressDnsProbe& probe, const dns::Answer& answer) {
  EgressAttempt attempt = attempt_for(probe);
  if (probe.type == dns::RrType::TXT) {
    // Google answers the asker's address as a TXT string; through a
    // recursive resolver it adds "edns0-client-subnet ...", which is skipped.
    for (const auto& record : answer.txt())
      for (const auto& text : record.strings)
        if (auto address = IpAddress::parse(ascii::trim(text))) attempt.addresses.push_back(*address);
  } else {
    attempt.addresses = answer.addresses();
  }
  attempt.found = !attempt.addresses.empty();
  attempt.detail = std::string(dns::to_string(answer.outcome));
  if (!answer.detail.empty()) attempt.detail += " (" + answer.detail + ")";
  if (answer.ok() && !attempt.found) attempt.detail += ": no address in the answer";
  return attempt;
}

// Every probe at once on one resolver, each asked of its own server only
// (query_at: the answer depends on whom we ask), so a probe whose server is
// unreachable (no IPv6 route) does not hold up the others.
void run_dns_probes(const EgressOptions& options, EgressResult& result) {
  const auto& probes = options.dns_probes;
  if (probes.empty()) return;
  dns::ResolverConfig config;
  std::vector<std::size_t> server_of(probes.size());
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto& wanted = probes[i].server;
    const auto known = std::find_if(config.servers.begin(), config.servers.end(), [&](const dns::ServerAddress& s) {
      return s.address == wanted.address && s.port == wanted.port;
    });
    server_of[i] = static_cast<std::size_t>(known - config.servers.begin());
    if (known == config.servers.end()) config.servers.push_back(wanted);
  }
  config.attempt_timeout = options.attempt_timeout;
  config.tries = options.tries;
  config.on_log = options.on_log;
  config.keep_log = options.keep_log;
  auto resolver = dns::Resolver::create(std::move(config));
  std::vector<dns::Answer> answers(probes.size());
  if (resolver) {
    for (std::size_t i = 0; i < probes.size(); ++i)
      (*resolver)->query_at(server_of[i], probes[i].name, probes[i].type,
                            [&answers, i](const dns::Answer& answer) { answers[i] = answer; });
    (*resolver)->run();
    result.log = (*resolver)->log();
  }
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (resolver) {
      result.attempts.push_back(attempt_from(probes[i], answers[i]));
      continue;
    }
    EgressAttempt attempt = attempt_for(probes[i]);
    attempt.detail = resolver.error().message;
    result.attempts.push_back(std::move(attempt));
  }
}

}  // namespace

std::vector<EgressDnsProbe> default_egress_probes() {
  // OpenDNS resolver1 answers myip.opendns.com with the asker's address,
  // A over IPv4 and AAAA over IPv6; Google's authoritative ns1.google.com
  // answers o-o.myaddr.l.google.com TXT with it (asked directly: through a
  // recursive resolver it would be the resolver's address).
  return {
      {"opendns", server("208.67.222.222"), "myip.opendns.com", dns::RrType::A},
      {"opendns", server("[2620:119:35::35]"), "myip.opendns.com", dns::RrType::AAAA},
      {"google", server("216.239.32.10"), "o-o.myaddr.l.google.com", dns::RrType::TXT},
      {"google", server("[2001:4860:4802:32::a]"), "o-o.myaddr.l.google.com", dns::RrType::TXT},
  };
}

std::vector<EgressDnsProbe> egress_probes_at(const std::vector<dns::ServerAddress>& servers) {
  std::vector<EgressDnsProbe> probes;
  for (const auto& at : servers) {
    probes.push_back({"opendns", at, "myip.opendns.com", dns::RrType::A});
    probes.push_back({"opendns", at, "myip.opendns.com", dns::RrType::AAAA});
    probes.push_back({"google", at, "o-o.myaddr.l.google.com", dns::RrType::TXT});
  }
  return probes;
}

bool EgressResult::has(IpAddress::Family family) const {
  return std::any_of(addresses.begin(), addresses.end(), [&](const IpAddress& a) { return a.family() == family; });
}

Result<IpAddress> fetch_egress_address(const std::string& url, IpAddress::Family family,
                                       std::chrono::milliseconds timeout) {
  const curl::Library& curl_library = curl::library();
  if (!curl_library.loaded()) return unavailable(curl_library.load_error);
  const auto setopt = curl_library.easy_setopt;
  curl::EasyHandle handle = curl::easy_handle();
  if (!handle) return unavailable("cannot start libcurl");
  Body body;
  char error_text[CURL_ERROR_SIZE] = {};
  const std::string agent = "sendcheck-blocklist/" + std::string(diag::version);
  setopt(handle.get(), CURLOPT_URL, url.c_str());
  setopt(handle.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  setopt(handle.get(), CURLOPT_FOLLOWLOCATION, 0L);
  // Mail never goes through an HTTP proxy, so the address a proxy shows is
  // not the one receivers see: ignore http_proxy and friends.
  setopt(handle.get(), CURLOPT_PROXY, "");
  setopt(handle.get(), CURLOPT_IPRESOLVE, family == IpAddress::Family::v4 ? CURL_IPRESOLVE_V4 : CURL_IPRESOLVE_V6);
  setopt(handle.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  setopt(handle.get(), CURLOPT_NOSIGNAL, 1L);
  setopt(handle.get(), CURLOPT_USERAGENT, agent.c_str());
  setopt(handle.get(), CURLOPT_WRITEFUNCTION, &collect_body);
  setopt(handle.get(), CURLOPT_WRITEDATA, &body);
  setopt(handle.get(), CURLOPT_ERRORBUFFER, error_text);
  const CURLcode status = curl_library.easy_perform(handle.get());
  if (body.too_long) return unavailable(url + ": the answer is longer than an address");
  if (status != CURLE_OK)
    return unavailable(url + ": " + (error_text[0] ? std::string(error_text) : curl_library.easy_strerror(status)));
  long http_status = 0;
  curl_library.easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 200) return unavailable(url + ": HTTP status " + std::to_string(http_status));
  const auto text = ascii::trim(body.text);
  const auto address = IpAddress::parse(text);
  if (!address) return unavailable(url + ": the answer is not an address (expected the address as plain text)");
  if (address->family() != family)
    return unavailable(url + ": asked over " + std::string(family_name(family)) + ", answered " + address->to_string());
  return *address;
}

EgressResult discover_egress(const EgressOptions& options) {
  EgressResult result;
  run_dns_probes(options, result);

  const auto add_addresses = [&result](const std::vector<IpAddress>& found) {
    for (const auto& address : found)
      if (std::find(result.addresses.begin(), result.addresses.end(), address) == result.addresses.end())
        result.addresses.push_back(address);
  };
  for (const auto& attempt : result.attempts) add_addresses(attempt.addresses);

  // HTTPS only for what DNS could not tell: both families at once.
  if (!options.url.empty()) {
    std::vector<std::pair<IpAddress::Family, std::future<EgressAttempt>>> fetches;
    for (const auto family : {IpAddress::Family::v4, IpAddress::Family::v6}) {
      if (result.has(family)) continue;
      fetches.emplace_back(family, std::async(std::launch::async, [&options, family] {
        EgressAttempt attempt;
        attempt.method = family == IpAddress::Family::v4 ? "https-ipv4" : "https-ipv6";
        attempt.via = options.url;
        const auto started = Clock::now();
        auto address = fetch_egress_address(options.url, family, options.http_timeout);
        const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        if (address) {
          attempt.found = true;
          attempt.addresses = {*address};
          attempt.detail = "HTTP 200";
        } else {
          attempt.detail = address.error().message;
        }
        if (options.verbose_http)
          std::fprintf(stderr, "http: GET %s (%s) -> %s %.1f ms\n", options.url.c_str(),
                       std::string(family_name(family)).c_str(),
                       attempt.found ? attempt.addresses.front().to_string().c_str() : attempt.detail.c_str(), elapsed);
        return attempt;
      }));
    }
    for (auto& [family, future] : fetches) {
      result.attempts.push_back(future.get());
      add_addresses(result.attempts.back().addresses);
    }
  }
  std::stable_sort(result.addresses.begin(), result.addresses.end(),
                   [](const IpAddress& a, const IpAddress& b) { return a.is_v4() && !b.is_v4(); });
  return result;
}

}  // namespace diag::blocklist
