// A scripted DNS server on loopback for tests, after c-ares' mock server
// (test/ares-test-mock.cc): UDP and TCP on 127.0.0.1 and ::1, one port
// picked by the kernel, answers from zone files through a ZoneOverlay, and
// faults injected per (name, type) to exercise every outcome a resolver
// must keep apart: timeouts, SERVFAIL, REFUSED, truncation, garbage.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/dns.h"
#include "diag/result.h"
#include "diag/zone.h"

namespace sendcheck::testing {

enum class FaultAction : std::uint8_t {
  delay,      // answer after Fault::delay, without holding up other queries
  drop,       // never answer
  servfail,   // RCODE SERVFAIL, no records
  refused,    // RCODE REFUSED, no records
  truncate,   // over UDP: TC set and no records; over TCP: the full answer
  malformed,  // right ID, flags and question; ANCOUNT=1 and a truncated answer record
  wrong_id,   // the answer carries the query's ID + 1
  ad,         // set the AD bit in the answer
  // Hostile peers (issue 8). Each is a shape a resolver must end on, never
  // loop on or take for an answer.
  truncate_always,   // TC set and no records over UDP and over TCP alike
  other_name,        // the answer section holds Fault::name's records of the asked type, not the asked name's
  extra_name,        // Fault::name's records of the asked type go in ahead of the asked name's own
  other_question,    // the question section names "other." + the asked name; records as usual
  compression_loop,  // ANCOUNT=1, an A record whose owner is a compression pointer to itself
  compression_pair,  // ANCOUNT=1, a CNAME whose rdata is two compression pointers pointing at each other
  wrong_id_flood,    // UDP: wrong_id_flood_replies NXDOMAIN replies with other IDs, then the answer as usual
  long_chain,        // the CNAME chain from the zones past the overlay's 8 links (up to 64), a loop once round
  // RFC 5452: the forgeries an off-path attacker would try, each carrying
  // poison (A 203.0.113.66, AAAA 2001:db8::66, TXT "v=spf1 +all", other
  // types NXDOMAIN), sent over UDP ahead of the answer: the wrong ID; the
  // right ID for another name; the right ID for another type; the right ID
  // and question from another port of the server's address. With drop, the
  // forgeries alone.
  forgeries,
};

// How many spoofed replies FaultAction::wrong_id_flood sends ahead of the
// answer (which drop still suppresses and delay still holds back).
inline constexpr std::size_t wrong_id_flood_replies = 1000;

// Names as in fault files: "delay", "drop", ..., "wrong-id", "ad", "truncate-always", ...
std::string_view to_string(FaultAction action);
std::optional<FaultAction> fault_action_from_string(std::string_view text);

struct Fault {
  FaultAction action = FaultAction::drop;
  std::chrono::milliseconds delay{0};  // FaultAction::delay only
  std::string name{};                  // other_name, extra_name: whose records the answer carries (canonical)

  static Fault delayed_by(std::chrono::milliseconds delay) { return Fault{FaultAction::delay, delay}; }
  static Fault records_of(FaultAction action, std::string_view name) {
    return Fault{action, {}, diag::dns::canonical_name(name)};
  }
};

// Matches every type of a name in add_fault ("ANY" in fault files).
inline constexpr std::optional<diag::dns::RrType> any_type = std::nullopt;

struct FaultRule {
  std::string name;                       // canonical
  std::optional<diag::dns::RrType> type;  // any_type: every type
  Fault fault;
};

// Fault files: one rule a line, "NAME TYPE ACTION [ARG]", TYPE a record type
// or ANY, ARG the milliseconds of "delay" or the other name of "other-name"
// and "extra-name"; "#" starts a comment. Errors are bad_input "FILE:LINE: what".
diag::Result<std::vector<FaultRule>> parse_faults_text(std::string_view text, const std::string& display_name);
diag::Result<std::vector<FaultRule>> parse_faults_file(const std::string& path);

// Every file in zone_files, then every *.zone in zone_dir (if not empty),
// in name order, loaded into one overlay.
diag::Result<diag::dns::ZoneOverlay> load_zones(const std::vector<std::string>& zone_files,
                                                const std::string& zone_dir = "");

enum class Transport : std::uint8_t { udp, tcp };

// One query as the server received it: who asked (the source port) and
// under which ID, to tell whether a resolver's IDs and ports are random;
// and how many delayed replies had left before it came, to count a
// client's round trips without timing it (a busy machine stretches time,
// not the order of events).
struct ReceivedQuery {
  std::string name;  // canonical
  diag::dns::RrType type = diag::dns::RrType::A;
  Transport transport = Transport::udp;
  std::uint16_t id = 0;
  std::uint16_t source_port = 0;
  std::size_t delayed_replies_sent_before = 0;
};

struct DnsTestServerConfig {
  diag::dns::ZoneOverlay zones;  // names outside every zone are REFUSED
  std::vector<FaultRule> faults;
  std::uint16_t port = 0;  // 0: a free port chosen by the kernel
  std::chrono::milliseconds tcp_idle_timeout{5000};
  std::size_t max_tcp_connections = 64;
  // Every reply waits this long (a distant server: bench/batch), plus any delay fault.
  std::chrono::milliseconds answer_delay{0};
};

class DnsTestServer {
 public:
  // Binds 127.0.0.1 (and ::1 when the host has it), UDP and TCP on one
  // port, and starts serving on a thread of its own.
  static diag::Result<std::unique_ptr<DnsTestServer>> start(DnsTestServerConfig config);
  // Stops the thread and closes every socket.
  ~DnsTestServer();
  DnsTestServer(const DnsTestServer&) = delete;
  DnsTestServer& operator=(const DnsTestServer&) = delete;

  std::uint16_t port() const;
  std::string address_v4() const { return "127.0.0.1"; }
  bool has_ipv6() const;
  std::string address_v6() const;   // "::1", or "" without IPv6
  std::string endpoint_v4() const;  // "127.0.0.1:PORT", as --server takes it
  std::string endpoint_v6() const;  // "[::1]:PORT", or "" without IPv6

  // Faults add up: a name can be delayed and answered with AD. Safe to call
  // while the server runs; applies to queries received afterwards.
  void add_fault(std::string_view name, std::optional<diag::dns::RrType> type, Fault fault);
  void clear_faults();

  // Queries received for a question (name matched case-insensitively),
  // whether answered or not.
  std::size_t queries_received(std::string_view name, diag::dns::RrType type, Transport transport) const;
  std::size_t queries_received(std::string_view name, diag::dns::RrType type) const;  // UDP + TCP
  std::size_t total_queries() const;
  // Every query since the start or the last reset_counts(), in arrival order.
  std::vector<ReceivedQuery> received_queries() const;
  void reset_counts();

 private:
  class Loop;  // the poll loop, its sockets and thread (dns_test_server.cpp)
  explicit DnsTestServer(std::unique_ptr<Loop> loop);
  std::unique_ptr<Loop> loop_;
};

}  // namespace sendcheck::testing
