// The SPF engine against an independent implementation, python3-spf
// (pyspf), on random setups served by the loopback DNS server: deep include
// trees, a/mx/ptr/exists, macros with transformers and delimiters, void
// lookups, timeouts and SERVFAIL, IPv6, the 10-lookup and 2-void limits,
// redirect and exp. Every disagreement must belong to a known class in
// which RFC 7208 sides with us (each with the section that decides it);
// any other fails the test and prints the seed, the setup and both answers.
//
// SENDCHECK_SPF_DIFF_SETUPS (default 300) and SENDCHECK_SPF_DIFF_SEED
// (default fixed) choose the run; scripts/spf-differential runs thousands.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "diag/resolver.h"
#include "diag/spf.h"
#include "diag/zone.h"
#include "dns_test_server.h"
#include "test_environment.h"

using namespace std::chrono_literals;
using diag::IpAddress;
using diag::dns::Record;
using diag::dns::RrType;
using sendcheck::testing::DnsTestServer;
using sendcheck::testing::DnsTestServerConfig;
using sendcheck::testing::Fault;
using sendcheck::testing::FaultAction;

namespace {

// ---------------------------------------------------------------------------
// The generator.

struct SetupFault {
  std::string name;  // canonical
  RrType type = RrType::A;
  FaultAction action = FaultAction::drop;  // drop (a timeout) or servfail
};

// What a setup holds, for classifying a disagreement.
struct SetupFeatures {
  bool ptr = false;                  // a ptr mechanism or a %{p} macro
  bool self_include = false;         // an include or redirect back into the chain
  bool modifier_upper_case = false;  // "Redirect=", "EXP="
  bool transformer_upper_r = false;  // %{dR}
  bool long_expansion = false;       // an expansion past 253 characters
  bool name_with_space = false;      // %_ in a domain-spec
};

struct SpfSetup {
  std::uint64_t seed = 0;
  int index = 0;
  std::string domain;  // the sender's domain
  std::string sender, helo;
  IpAddress ip;
  std::vector<Record> records;
  std::vector<SetupFault> faults;
  SetupFeatures features;

  std::string describe() const {
    std::string out = "seed " + std::to_string(seed) + " setup " + std::to_string(index) + ": ip " + ip.to_string() +
                      ", sender " + sender + ", helo " + helo + "\n";
    for (const auto& record : records)
      out += "  " + record.owner + " " + std::string(diag::dns::to_string(record.type)) + " " + record.data_text() + "\n";
    for (const auto& fault : faults)
      out += "  " + fault.name + " " + std::string(diag::dns::to_string(fault.type)) + " " +
             std::string(sendcheck::testing::to_string(fault.action)) + "\n";
    return out;
  }
};

class SetupGenerator {
 public:
  SetupGenerator(std::uint64_t seed, int index)
      : random_(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(index)) {
    setup_.seed = seed;
    setup_.index = index;
    base_ = "s" + std::to_string(index) + ".diff.test";
  }

  SpfSetup generate() {
    // A client address of this setup's own, so its reverse names are too.
    const int index = setup_.index;
    if (chance(0.25)) {
      std::array<std::uint8_t, 16> bytes{0x20, 0x01, 0x0d, 0xb8, static_cast<std::uint8_t>(index >> 8),
                                         static_cast<std::uint8_t>(index), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         static_cast<std::uint8_t>(1 + pick(200))};
      setup_.ip = IpAddress::v6(bytes);
    } else {
      setup_.ip = IpAddress::v4({10, static_cast<std::uint8_t>(index >> 8), static_cast<std::uint8_t>(index),
                                 static_cast<std::uint8_t>(1 + pick(200))});
    }
    static const char* local_parts[] = {"user", "first.last", "a-b_c", "Mixed.Case", "x+tag", "o'brien", "1.2.3",
                                        "very.long.local.part.0123456789abcdefghij.klmnopqrstuvwxyz.0123456789abcdefghij"
                                        ".klmnopqrstuvwxyz.0123456789abcdefghij.klmnopqrstuvwxyz.0123456789abcdefghij"
                                        ".klmnopqrstuvwxyz.0123456789abcdefghij.klmnopqrstuvwxyz.0123456789"};
    const std::string local = local_parts[pick(std::size(local_parts))];
    setup_.domain = base_;
    setup_.helo = chance(0.5) ? "mta." + base_ : base_;
    setup_.sender = local + "@" + base_;
    if (chance(0.08)) {
      // An empty MAIL FROM: the HELO name is checked (RFC 7208 2.4).
      setup_.sender.clear();
      setup_.helo = base_;
    }
    if (local.size() > 100) setup_.features.long_expansion = true;
    build_record(base_, 0);
    return setup_;
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(random_) < p; }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }
  std::string fresh(const char* prefix) { return prefix + std::to_string(++counter_) + "." + base_; }

  void add(const std::string& owner, RrType type, diag::dns::Rdata data) {
    setup_.records.push_back(Record{diag::dns::canonical_name(owner), type, 300, std::move(data)});
  }
  void txt(const std::string& owner, const std::string& text) {
    diag::dns::TxtData data;
    // Long records come in several strings, joined without spaces (RFC 7208 3.3).
    if (text.size() > 60 && chance(0.5)) {
      data.strings = {text.substr(0, text.size() / 2), text.substr(text.size() / 2)};
    } else {
      data.strings = {text};
    }
    add(owner, RrType::TXT, data);
  }
  void fault(const std::string& name, RrType type) {
    setup_.faults.push_back({diag::dns::canonical_name(name), type, chance(0.6) ? FaultAction::drop : FaultAction::servfail});
  }
  RrType address_type() const { return setup_.ip.is_v4() ? RrType::A : RrType::AAAA; }

  // An address that matches the client (at some prefix) or not.
  IpAddress address(bool matching) {
    std::array<std::uint8_t, 16> bytes{};
    std::copy(setup_.ip.data(), setup_.ip.data() + setup_.ip.size(), bytes.begin());
    if (!matching) bytes[setup_.ip.size() - 1] ^= static_cast<std::uint8_t>(1 + pick(120));
    if (setup_.ip.is_v4()) return IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
    return IpAddress::v6(bytes);
  }
  std::string cidr() {
    if (chance(0.6)) return "";
    const bool v4 = setup_.ip.is_v4();
    static const int v4_prefixes[] = {32, 31, 24, 16, 0};
    static const int v6_prefixes[] = {128, 120, 64, 48};
    if (v4) return "/" + std::to_string(v4_prefixes[pick(std::size(v4_prefixes))]) + (chance(0.2) ? "//64" : "");
    return (chance(0.5) ? "/24" : "") + std::string("//") + std::to_string(v6_prefixes[pick(std::size(v6_prefixes))]);
  }

  // Addresses for a host: the client, another, none (void) or a failure.
  void host(const std::string& name) {
    const double roll = std::uniform_real_distribution<double>(0, 1)(random_);
    if (roll < 0.08) {
      fault(name, address_type());
      return;
    }
    if (roll < 0.25) return;  // nothing: NXDOMAIN, a void lookup
    const int count = 1 + static_cast<int>(pick(2));
    const bool matching = chance(0.4);
    for (int k = 0; k < count; ++k) {
      const IpAddress a = address(matching && k == count - 1);
      add(name, a.is_v4() ? RrType::A : RrType::AAAA, diag::dns::AddressData{a});
    }
    // The other family too, sometimes: never the one asked.
    if (chance(0.3)) {
      if (setup_.ip.is_v4()) add(name, RrType::AAAA, diag::dns::AddressData{*IpAddress::parse("2001:db8:ffff::1")});
      else add(name, RrType::A, diag::dns::AddressData{*IpAddress::parse("192.0.2.1")});
    }
  }

  std::string qualifier() {
    static const char* qualifiers[] = {"", "", "", "+", "-", "~", "?"};
    return qualifiers[pick(std::size(qualifiers))];
  }

  // A macro-string domain-spec ending in this setup's names, and the names
  // it may expand to get records (expanded here with the engine's own
  // expand_macros; pyspf expanding differently asks another name, and the
  // results differ).
  std::string macro_spec(const std::string& domain) {
    struct Choice {
      const char* text;
      bool upper_r, space;
    };
    static const Choice choices[] = {
        {"%{i}", false, false},        {"%{ir}", false, false},   {"%{i2r}", false, false},
        {"%{l}", false, false},        {"%{l-}", false, false},    {"%{lr-}", false, false},
        {"%{l1r+-}", false, false},     {"%{o}", false, false},    {"%{d}", false, false},
        {"%{d2}", false, false},       {"%{dr}", false, false},   {"%{s}", false, false},
        {"%{h}", false, false},        {"%{v}", false, false},    {"%{ir}.%{v}", false, false},
        {"%{dR}", true, false},        {"%{L}", false, false},    {"%{l_}", false, false},
        {"x%_y", false, true},         {"x%-y", false, false},    {"x%%y", false, false},
        {"%{s=}", false, false},        {"%{i1}", false, false},   {"%{l/}", false, false},
    };
    const Choice& choice = choices[pick(std::size(choices))];
    if (choice.upper_r) setup_.features.transformer_upper_r = true;
    if (choice.space) setup_.features.name_with_space = true;
    return std::string(choice.text) + ".x." + domain;
  }
  diag::spf::MacroContext context(const std::string& domain) const {
    diag::spf::MacroContext context;
    const std::string sender = setup_.sender.empty() ? "postmaster@" + setup_.helo : setup_.sender;
    const auto at = sender.rfind('@');
    context.local_part = sender.substr(0, at);
    context.sender_domain = sender.substr(at + 1);
    context.sender = sender;
    context.domain = domain;
    context.ip = setup_.ip;
    context.helo = setup_.helo;
    return context;
  }
  std::string expanded(const std::string& spec, const std::string& domain) {
    std::string name = diag::spf::expand_macros(spec, context(domain), diag::spf::MacroUse::domain_spec);
    if (name.size() > 253) setup_.features.long_expansion = true;
    while (name.size() > 253 && name.find('.') != std::string::npos) name.erase(0, name.find('.') + 1);
    return name;
  }

  std::string reverse_name() const {
    std::string out;
    if (setup_.ip.is_v4()) {
      for (int k = 3; k >= 0; --k) out += std::to_string(setup_.ip.data()[k]) + ".";
      return out + "in-addr.arpa";
    }
    static const char hex[] = "0123456789abcdef";
    for (int k = 15; k >= 0; --k) {
      out += hex[setup_.ip.data()[k] & 0xf];
      out += '.';
      out += hex[setup_.ip.data()[k] >> 4];
      out += '.';
    }
    return out + "ip6.arpa";
  }

  // PTR names of the client, some validated, once per setup.
  void reverse_records() {
    if (reverse_done_) return;
    reverse_done_ = true;
    const std::string reverse = reverse_name();
    const double roll = std::uniform_real_distribution<double>(0, 1)(random_);
    if (roll < 0.1) return fault(reverse, RrType::PTR);
    if (roll < 0.25) return;  // no PTR: a void lookup
    const int count = 1 + static_cast<int>(pick(3));
    for (int k = 0; k < count; ++k) {
      const std::string name = chance(0.7) ? fresh("ptr") : "elsewhere" + std::to_string(k) + "." + base_ + ".example";
      add(reverse, RrType::PTR, diag::dns::NameData{name});
      host(name);
    }
  }

  void build_record(const std::string& domain, int depth) {
    chain_.push_back(domain);
    if (chance(0.03)) {
      // RFC 7208 4.5: two records are a permerror.
      txt(domain, "v=spf1 -all");
      txt(domain, "v=spf1 +all");
      chain_.pop_back();
      return;
    }
    std::string record = "v=spf1";
    const int terms = 1 + static_cast<int>(pick(depth == 0 ? 5 : 4));
    bool ended = false;
    for (int t = 0; t < terms && !ended; ++t) {
      const std::size_t kind = pick(10);
      std::string term = qualifier();
      switch (kind) {
        case 0: {
          const IpAddress a = address(chance(0.3));
          term += (a.is_v4() ? "ip4:" : "ip6:") + a.to_string();
          if (chance(0.4)) term += "/" + std::to_string(a.is_v4() ? 24 : 64);
          break;
        }
        case 1: {
          if (chance(0.3)) {
            term += "a" + cidr();
            host(domain);
          } else {
            const std::string name = fresh("h");
            term += "a:" + name + cidr();
            host(name);
          }
          break;
        }
        case 2: {
          const std::string target = chance(0.3) ? domain : fresh("mxd");
          term += target == domain ? "mx" + cidr() : "mx:" + target + cidr();
          const double roll = std::uniform_real_distribution<double>(0, 1)(random_);
          if (roll < 0.08) {
            fault(target, RrType::MX);
          } else if (roll > 0.2) {
            const int count = 1 + static_cast<int>(pick(3));
            for (int k = 0; k < count; ++k) {
              const std::string exchange = fresh("mx");
              add(target, RrType::MX, diag::dns::MxData{static_cast<std::uint16_t>(10 * (k + 1)), exchange});
              host(exchange);
            }
          }
          break;
        }
        case 3: {
          setup_.features.ptr = true;
          term += chance(0.5) ? "ptr" : "ptr:" + (chance(0.7) ? base_ : std::string("example"));
          reverse_records();
          break;
        }
        case 4: {
          const std::string spec = macro_spec(domain);
          term += "exists:" + spec;
          const std::string name = expanded(spec, domain);
          const double roll = std::uniform_real_distribution<double>(0, 1)(random_);
          if (roll < 0.08) fault(name, RrType::A);
          else if (roll < 0.55) add(name, RrType::A, diag::dns::AddressData{*IpAddress::parse("127.0.0.2")});
          break;
        }
        case 5:
        case 6: {
          if (depth >= 4 || chance(0.04)) {
            // Back into the chain: a loop, a permerror if reached.
            setup_.features.self_include = true;
            term += "include:" + chain_[pick(chain_.size())];
            break;
          }
          const std::string child = fresh("i");
          term += "include:" + child;
          const double roll = std::uniform_real_distribution<double>(0, 1)(random_);
          if (roll < 0.06) fault(child, RrType::TXT);
          else if (roll < 0.1) {}  // no record: permerror when reached
          else build_record(child, depth + 1);
          break;
        }
        case 7: {
          if (chance(0.3)) {
            setup_.features.ptr = true;
            reverse_records();
            term += "exists:%{p}.x." + domain;
            break;
          }
          const std::string name = fresh("h");
          term += "a:" + name;
          host(name);
          break;
        }
        default:
          term += "all";
          ended = true;
          break;
      }
      record += " " + term;
    }
    if (!ended && chance(0.4)) {
      const std::string target = depth >= 4 || chance(0.05) ? chain_[pick(chain_.size())] : fresh("r");
      if (std::find(chain_.begin(), chain_.end(), target) != chain_.end()) setup_.features.self_include = true;
      const bool upper = chance(0.05);
      if (upper) setup_.features.modifier_upper_case = true;
      record += std::string(" ") + (upper ? "Redirect=" : "redirect=") + target;
      if (std::find(chain_.begin(), chain_.end(), target) == chain_.end()) {
        if (chance(0.08)) fault(target, RrType::TXT);
        else if (depth < 4) build_record(target, depth + 1);
      }
    }
    if (chance(0.25)) {
      const std::string name = fresh("e");
      const bool upper = chance(0.05);
      if (upper) setup_.features.modifier_upper_case = true;
      record += std::string(" ") + (upper ? "EXP=" : "exp=") + name;
      static const char* texts[] = {"%{i} is not one of %{d}'s", "%{s} from %{h} via %{v}%_list", "%{l} %{o} %-",
                                    "plain text", "%{ir}.%{v}._spf.%{d2}"};
      if (chance(0.9)) txt(name, texts[pick(std::size(texts))]);
    }
    if (chance(0.02)) record += " ip4:192.0.2";  // a syntax error: permerror
    txt(domain, record);
    chain_.pop_back();
  }

  std::mt19937_64 random_;
  SpfSetup setup_;
  std::string base_;
  int counter_ = 0;
  bool reverse_done_ = false;
  std::vector<std::string> chain_;
};

SpfSetup generate_setup(std::uint64_t seed, int index) { return SetupGenerator(seed, index).generate(); }

// ---------------------------------------------------------------------------
// The two evaluations.

struct Verdict {
  std::string result;
  std::string detail;  // our reason, or pyspf's explanation
  int lookups = -1;    // ours: DNS-querying terms evaluated
};

// One attempt per question, for both implementations: long enough that the
// loopback server answers every question it means to answer on a busy
// machine (a late answer would be a timeout that no fault injected), and
// paid in full by every dropped question, so setups run in parallel lanes.
constexpr auto attempt = 1000ms;
constexpr std::size_t lanes = 8;

// At the loopback server alone; null if c-ares cannot start (no REQUIRE:
// this runs on the lanes' threads).
std::unique_ptr<diag::dns::Resolver> loopback_resolver(const DnsTestServer& server) {
  diag::dns::ResolverConfig config;
  config.servers.push_back(*diag::dns::parse_server_address(server.endpoint_v4()));
  config.attempt_timeout = attempt;
  config.tries = 1;
  auto resolver = diag::dns::Resolver::create(std::move(config));
  return resolver ? std::move(resolver.value()) : nullptr;
}

Verdict ours(const DnsTestServer& server, const SpfSetup& setup) {
  const auto resolver = loopback_resolver(server);
  if (!resolver) return {"no resolver", ""};
  diag::spf::NetworkSpfResolver spf_resolver(*resolver);
  diag::spf::AnswerCache cache;
  diag::spf::CheckHostInput input;
  input.ip = setup.ip;
  input.sender = setup.sender;
  input.helo = setup.helo;
  const auto evaluation = diag::spf::check_host(spf_resolver, cache, input);
  return {std::string(diag::spf::to_string(evaluation.result)), evaluation.reason, evaluation.lookups};
}

// Every setup through our engine, lanes at a time.
std::vector<Verdict> ours_all(const DnsTestServer& server, const std::vector<SpfSetup>& setups) {
  std::vector<Verdict> out(setups.size());
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t lane = 0; lane < lanes; ++lane)
    threads.emplace_back([&] {
      for (std::size_t k = next++; k < setups.size(); k = next++) out[k] = ours(server, setups[k]);
    });
  for (auto& thread : threads) thread.join();
  return out;
}

// Debian's python3-spf lives in Debian's interpreter; a python3 earlier on
// PATH (pyenv, a venv) does not see it.
std::string python() { return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

// pyspf over pydns (python3-dns) or dnspython, pointed at the loopback server;
// one process per lane, one JSON line in and out per setup.
const char* const pyspf_driver = R"PY(
import json, sys
import spf
port = int(sys.argv[1])
if spf.DNSLookup.__name__ == 'DNSLookup_dnspython':
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ['127.0.0.1']
    resolver.port = port
    dns.resolver.default_resolver = resolver
else:
    import DNS
    DNS.defaults['server'] = ['127.0.0.1']
    DNS.defaults['port'] = port
for line in sys.stdin:
    case = json.loads(line)
    try:
        q = spf.query(i=case['ip'], s=case['sender'], h=case['helo'], timeout=float(sys.argv[2]))
        result, code, explanation = q.check()
    except Exception as error:
        result, explanation = 'exception', repr(error)
    print(json.dumps({'result': result, 'detail': explanation}), flush=True)
)PY";

std::vector<Verdict> pyspf(const DnsTestServer& server, const std::vector<SpfSetup>& setups) {
  const auto directory = std::filesystem::temp_directory_path() / ("sendcheck-spf-diff-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  auto lane_file = [&](const char* kind, std::size_t lane) { return (directory / (kind + std::to_string(lane))).string(); };
  {
    std::ofstream(directory / "driver.py") << pyspf_driver;
    std::vector<std::ofstream> cases;
    for (std::size_t lane = 0; lane < lanes; ++lane) cases.emplace_back(lane_file("cases", lane));
    for (std::size_t k = 0; k < setups.size(); ++k)
      cases[k % lanes] << nlohmann::json{{"ip", setups[k].ip.to_string()}, {"sender", setups[k].sender}, {"helo", setups[k].helo}}.dump()
                       << "\n";
  }
  std::string command = "(";
  for (std::size_t lane = 0; lane < lanes; ++lane)
    command += python() + " " + (directory / "driver.py").string() + " " + std::to_string(server.port()) + " " +
               std::to_string(std::chrono::duration<double>(attempt).count()) + " <" + lane_file("cases", lane) + " >" +
               lane_file("out", lane) + " 2>" + lane_file("err", lane) + " & ";
  command += "wait)";
  const int status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  std::vector<std::vector<Verdict>> by_lane(lanes);
  for (std::size_t lane = 0; lane < lanes; ++lane) {
    std::ifstream err(lane_file("err", lane));
    std::stringstream err_text;
    err_text << err.rdbuf();
    INFO("pyspf: " << err_text.str());
    std::ifstream lines(lane_file("out", lane));
    for (std::string line; std::getline(lines, line);) {
      const auto doc = nlohmann::json::parse(line);
      by_lane[lane].push_back({doc["result"].get<std::string>(), doc["detail"].is_string() ? doc["detail"].get<std::string>() : ""});
    }
    REQUIRE(by_lane[lane].size() == (setups.size() + lanes - 1 - lane) / lanes);
  }
  std::vector<Verdict> out;
  for (std::size_t k = 0; k < setups.size(); ++k) out.push_back(by_lane[k % lanes][k / lanes]);
  std::filesystem::remove_all(directory);
  return out;
}

// ---------------------------------------------------------------------------
// Where RFC 7208 sides with us. Each class names what pyspf does, the
// section that decides it, and when a disagreement belongs to it.

struct KnownClass {
  const char* name;
  const char* rfc;
  std::function<bool(const SpfSetup&, const Verdict& ours, const Verdict& theirs)> applies;
  // For a class that a feature of the setup could explain: the records'
  // text with that feature written the way pyspf reads it, same length.
  // The class holds only if pyspf then gives our result.
  std::function<std::string(std::string)> neutralize = nullptr;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

bool mentions(const std::string& text, const char* word) { return text.find(word) != std::string::npos; }

const std::vector<KnownClass>& known_classes() {
  static const std::vector<KnownClass> classes = {
      {"pyspf over pydns reads SERVFAIL over UDP as an empty answer (a void lookup, or no match)",
       "RFC 7208 5: an RCODE other than 0 or 3 makes check_host() temperror",
       [](const SpfSetup& setup, const Verdict& us, const Verdict&) {
         return std::any_of(setup.faults.begin(), setup.faults.end(), [](const SetupFault& f) { return f.action == FaultAction::servfail; }) &&
                us.result == "temperror" && mentions(us.detail, "servfail");
       }},
      {"pyspf makes a failed PTR lookup, or a failed address lookup of a PTR name, temperror",
       "RFC 7208 5.5: a DNS error on the PTR lookup fails to match, on a name's address lookup skips that name; 7.3: %{p} is then \"unknown\"",
       [](const SpfSetup& setup, const Verdict& us, const Verdict& them) {
         return setup.features.ptr && !setup.faults.empty() && them.result == "temperror" && us.result != "temperror";
       }},
      {"pyspf counts void address lookups of MX and PTR names toward the void limit",
       "RFC 7208 4.6.4: the void limit counts terms (mechanisms) whose lookup finds nothing",
       [](const SpfSetup&, const Verdict& us, const Verdict& them) {
         return them.result == "permerror" && mentions(them.detail, "Void lookup") && us.result != "permerror";
       }},
      {"pyspf counts a record's DNS-querying terms when it reads the record, reached or not",
       "RFC 7208 4.6.4: the limit is on terms that cause DNS queries \"during SPF evaluation\"",
       [](const SpfSetup&, const Verdict& us, const Verdict& them) {
         return them.result == "permerror" && mentions(them.detail, "Too many DNS lookups") && us.result != "permerror" &&
                us.lookups >= 0 && us.lookups <= 10;
       }},
      {"pyspf refuses an include or redirect loop the evaluation never reaches",
       "RFC 7208 4.6 and 5.2: terms are evaluated left to right and an include only when reached",
       [](const SpfSetup& setup, const Verdict& us, const Verdict& them) {
         return setup.features.self_include && them.result == "permerror" && us.result != "permerror";
       }},
      {"pyspf reads modifier names case-sensitively", "RFC 7208 12 with RFC 5234 2.3: ABNF literals are case-insensitive",
       [](const SpfSetup& setup, const Verdict&, const Verdict&) { return setup.features.modifier_upper_case; },
       [](std::string text) { return replace_all(replace_all(std::move(text), "Redirect=", "redirect="), "EXP=", "exp="); }},
      {"pyspf ignores the R transformer", "RFC 7208 7.1 with RFC 5234 2.3: \"r\" matches R",
       [](const SpfSetup& setup, const Verdict&, const Verdict&) { return setup.features.transformer_upper_r; },
       [](std::string text) { return replace_all(std::move(text), "%{dR}", "%{dr}"); }},
      {"pyspf does not shorten expansions over 253 characters", "RFC 7208 7.3: labels are removed from the left until 253 or less",
       [](const SpfSetup& setup, const Verdict&, const Verdict&) { return setup.features.long_expansion; }},
  };
  return classes;
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::strtoull(text, nullptr, 10) : fallback;
}

bool pyspf_available() { return std::system((python() + " -c 'import spf' >/dev/null 2>&1").c_str()) == 0; }

// Whether our resolver can ask a name holding a space (the transport's
// change, RFC 2181 11); until it can, setups that need one are counted
// apart, not compared.
bool resolver_asks_spaces(const DnsTestServer& server) {
  const auto resolver = loopback_resolver(server);
  REQUIRE(resolver);
  return resolver->resolve("a b.diff.test", RrType::A).outcome != diag::dns::Outcome::malformed;
}

// One loopback server answering for every setup given, faults included;
// what no setup holds is NXDOMAIN.
std::unique_ptr<DnsTestServer> serve(const std::vector<SpfSetup>& setups) {
  diag::dns::ZoneFile zone;
  zone.path = "differential";
  zone.apexes = {""};
  for (const auto& setup : setups) zone.records.insert(zone.records.end(), setup.records.begin(), setup.records.end());
  DnsTestServerConfig config;
  config.zones.add(std::move(zone));
  auto server = DnsTestServer::start(std::move(config));
  REQUIRE(server);
  for (const auto& setup : setups)
    for (const auto& fault : setup.faults) server.value()->add_fault(fault.name, fault.type, Fault{fault.action});
  return std::move(server.value());
}

}  // namespace

TEST_CASE("the generator replays: one seed and index, one setup", "[spf][differential]") {
  const auto first = generate_setup(7, 3);
  const auto again = generate_setup(7, 3);
  CHECK(first.describe() == again.describe());
  CHECK(first.describe() != generate_setup(8, 3).describe());
  CHECK(first.describe() != generate_setup(7, 4).describe());
}

TEST_CASE("differential: sendcheck's engine and pyspf agree or the RFC sides with us", "[spf][differential]") {
  if (!pyspf_available()) return testing_support::skip_or_fail("python3-spf (with python3-dns) is not installed (scripts/install-deps --test)");
  const std::uint64_t seed = env_number("SENDCHECK_SPF_DIFF_SEED", 20261202);
  const int count = static_cast<int>(env_number("SENDCHECK_SPF_DIFF_SETUPS", 300));
  // Setups go to the server in batches: the zone overlay finds NXDOMAIN by
  // a scan of its names, and one zone of thousands of setups made the
  // server too slow to answer within the attempt on a busy machine.
  constexpr int batch_size = 300;
  std::vector<SpfSetup> setups;
  std::vector<Verdict> theirs, our_verdicts;
  bool spaces = true;
  for (int first = 0; first < count; first += batch_size) {
    const std::size_t begin = setups.size();
    for (int index = first; index < std::min(count, first + batch_size); ++index) setups.push_back(generate_setup(seed, index));
    const std::vector<SpfSetup> batch(setups.begin() + static_cast<std::ptrdiff_t>(begin), setups.end());
    const auto server = serve(batch);
    spaces = resolver_asks_spaces(*server);
    const auto batch_theirs = pyspf(*server, batch);
    REQUIRE(batch_theirs.size() == batch.size());
    const auto batch_ours = ours_all(*server, batch);
    theirs.insert(theirs.end(), batch_theirs.begin(), batch_theirs.end());
    our_verdicts.insert(our_verdicts.end(), batch_ours.begin(), batch_ours.end());
  }
  int agreements = 0, set_apart = 0;
  std::map<std::string, int> by_class;
  std::vector<std::string> unexplained;
  std::vector<std::pair<std::size_t, const KnownClass*>> to_confirm;
  for (std::size_t k = 0; k < setups.size(); ++k) {
    const SpfSetup& setup = setups[k];
    const Verdict& us = our_verdicts[k];
    const Verdict& them = theirs[k];
    if (us.result == them.result) {
      ++agreements;
      continue;
    }
    if (setup.features.name_with_space && !spaces) {
      ++set_apart;
      continue;
    }
    const auto& classes = known_classes();
    const auto known = std::find_if(classes.begin(), classes.end(), [&](const KnownClass& c) { return c.applies(setup, us, them); });
    if (known != classes.end() && known->neutralize) {
      to_confirm.emplace_back(k, &*known);
      continue;
    }
    if (known != classes.end()) {
      ++by_class[known->name];
      // SENDCHECK_SPF_DIFF_SHOW=1: every classified disagreement too, to review a class.
      if (env_number("SENDCHECK_SPF_DIFF_SHOW", 0))
        std::fprintf(stderr, "[%s]\n%s  sendcheck: %s (%s)\n  pyspf: %s (%s)\n", known->name, setup.describe().c_str(),
                     us.result.c_str(), us.detail.c_str(), them.result.c_str(), them.detail.c_str());
      continue;
    }
    unexplained.push_back(setup.describe() + "  sendcheck: " + us.result + " (" + us.detail + ")\n  pyspf: " + them.result +
                          " (" + them.detail + ")\n");
  }
  // A class a feature could explain holds only if pyspf, given the records
  // with that feature (and any other such) written its way, gives our result.
  if (!to_confirm.empty()) {
    std::vector<SpfSetup> neutralized;
    for (const auto& [k, known] : to_confirm) {
      SpfSetup copy = setups[k];
      for (auto& record : copy.records) {
        auto* txt = std::get_if<diag::dns::TxtData>(&record.data);
        if (!txt) continue;
        // Every feature a neutralizable class sees in the setup, not only the first.
        std::string joined = txt->joined();
        for (const auto& other : known_classes())
          if (other.neutralize && other.applies(setups[k], our_verdicts[k], theirs[k])) joined = other.neutralize(joined);
        for (auto& part : txt->strings) {
          const std::size_t size = part.size();
          part = joined.substr(0, size);
          joined.erase(0, size);
        }
      }
      neutralized.push_back(std::move(copy));
    }
    const auto server = serve(neutralized);
    const auto confirmed = pyspf(*server, neutralized);
    for (std::size_t n = 0; n < to_confirm.size(); ++n) {
      const auto [k, known] = to_confirm[n];
      if (confirmed[n].result == our_verdicts[k].result) {
        ++by_class[known->name];
        continue;
      }
      // Written its way, pyspf may still differ for another known reason.
      const auto& classes = known_classes();
      const auto other = std::find_if(classes.begin(), classes.end(), [&](const KnownClass& c) {
        return !c.neutralize && c.applies(setups[k], our_verdicts[k], confirmed[n]);
      });
      if (other != classes.end()) {
        ++by_class[other->name];
        continue;
      }
      unexplained.push_back(setups[k].describe() + "  sendcheck: " + our_verdicts[k].result + " (" + our_verdicts[k].detail +
                            ")\n  pyspf: " + theirs[k].result + " (" + theirs[k].detail + "), and " + confirmed[n].result +
                            " with the records written its way (" + known->name + ")\n");
    }
  }
  std::string summary = "differential, seed " + std::to_string(seed) + ": " + std::to_string(count) + " setups, " +
                        std::to_string(agreements) + " agree";
  for (const auto& [name, n] : by_class) summary += "; " + std::to_string(n) + " " + name;
  if (set_apart) summary += "; " + std::to_string(set_apart) + " set apart (a name with a space, not askable yet)";
  summary += "; " + std::to_string(unexplained.size()) + " unexplained";
  WARN(summary);
  std::fprintf(stderr, "%s\n", summary.c_str());  // the numbers, for scripts/spf-differential and CI logs
  for (const auto& text : unexplained) UNSCOPED_INFO(text);
  CHECK(unexplained.empty());
}

TEST_CASE("differential: the minimized setups of each class, where RFC 7208 sides with us", "[spf][differential]") {
  // One setup per class the differential found, cut down to the terms that
  // decide it; each asserts our result and names the section behind it.
  const std::string a = std::string(60, 'a'), b = std::string(60, 'b'), c = std::string(60, 'c'), d = std::string(60, 'd'),
                    e = std::string(60, 'e');
  const std::string zone_text =
      "$ORIGIN r.diff.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n"
      "servfail TXT \"v=spf1 -a:h1.r.diff.test -mx ~all\"\nh1 A 192.0.2.99\n"
      "ptr-timeout TXT \"v=spf1 ptr -all\"\n"
      "p-timeout TXT \"v=spf1 exists:%{p}.x.r.diff.test -all\"\nunknown.x A 127.0.0.2\n"
      "void-hosts TXT \"v=spf1 mx a:none1.r.diff.test -all\"\nvoid-hosts MX 10 mx1\nvoid-hosts MX 20 mx2\nvoid-hosts MX 30 mx3\n"
      "loop TXT \"v=spf1 ip4:192.0.2.10 include:loop.r.diff.test -all\"\n"
      "upper TXT \"v=spf1 Redirect=target.r.diff.test\"\ntarget TXT \"v=spf1 ip4:192.0.2.10 -all\"\n"
      "reversed TXT \"v=spf1 exists:%{dR}.x.r.diff.test -all\"\ntest.diff.r.reversed.x A 127.0.0.2\n"
      "rejoined TXT \"v=spf1 exists:%{l-}.x.r.diff.test -all\"\nfirst.last.x A 127.0.0.2\n"
      "long TXT \"v=spf1 exists:%{l}.x.r.diff.test -all\"\n" + c + "." + d + "." + e + ".x A 127.0.0.2\n";
  auto zone = diag::dns::parse_zone_text(zone_text, "r.diff.test");
  REQUIRE(zone);
  DnsTestServerConfig config;
  config.zones.add(std::move(zone.value()));
  diag::dns::ZoneFile reverse;
  reverse.path = "reverse";
  reverse.apexes = {"in-addr.arpa"};
  config.zones.add(std::move(reverse));
  auto server = DnsTestServer::start(std::move(config));
  REQUIRE(server);
  (*server)->add_fault("servfail.r.diff.test", RrType::MX, Fault{FaultAction::servfail});
  (*server)->add_fault("20.2.0.192.in-addr.arpa", RrType::PTR, Fault{FaultAction::drop});

  struct Case {
    const char* rfc;
    const char* ip;
    std::string sender;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"RFC 7208 5: SERVFAIL on the mx lookup is temperror, not an empty answer", "192.0.2.10", "x@servfail.r.diff.test", "temperror"},
      {"RFC 7208 5.5: a PTR lookup that times out fails to match", "192.0.2.20", "x@ptr-timeout.r.diff.test", "fail"},
      {"RFC 7208 7.3: %{p} is \"unknown\" when the PTR lookup fails", "192.0.2.20", "x@p-timeout.r.diff.test", "pass"},
      {"RFC 7208 4.6.4: void lookups count terms; MX hosts without addresses are not three voids", "192.0.2.10",
       "x@void-hosts.r.diff.test", "fail"},
      {"RFC 7208 4.6 and 5.2: a loop after the match is never reached", "192.0.2.10", "x@loop.r.diff.test", "pass"},
      {"RFC 7208 12 with RFC 5234 2.3: modifier names are case-insensitive", "192.0.2.10", "x@upper.r.diff.test", "pass"},
      {"RFC 7208 7.1 with RFC 5234 2.3: R reverses like r", "192.0.2.10", "x@reversed.r.diff.test", "pass"},
      {"RFC 7208 7.3: split parts are rejoined with \".\"", "192.0.2.10", "first-last@rejoined.r.diff.test", "pass"},
      {"RFC 7208 7.3: an expansion over 253 characters loses labels on the left", "192.0.2.10",
       a + "." + b + "." + c + "." + d + "." + e + "@long.r.diff.test", "pass"},
  };
  for (const auto& test : cases) {
    INFO(test.rfc);
    SpfSetup setup;
    setup.ip = *IpAddress::parse(test.ip);
    setup.sender = test.sender;
    setup.helo = "mta.r.diff.test";
    const Verdict verdict = ours(**server, setup);
    INFO(verdict.detail);
    CHECK(verdict.result == test.expected);
  }
}
