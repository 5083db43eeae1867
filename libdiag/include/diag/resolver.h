// The asynchronous resolver: many questions in flight in one poll loop,
// every answer saying which server gave it, and a zone overlay that answers
// what-if names offline. RFC 5452: each question to a server goes out with
// a random ID (getrandom(2)) from a socket of its own, so from a random
// source port; a reply is taken only when it comes from the server's
// address and port with that ID and the same question (name regardless
// of ASCII case, type, class). Any other reply is dropped and the wait
// goes on: forgeries neither end nor fail a question. Truncated UDP answers
// are asked again over TCP (RFC 7766). Names may hold any octet (RFC 2181 11).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "diag/dns.h"
#include "diag/result.h"
#include "diag/zone.h"

namespace diag::dns {

struct ServerAddress {
  IpAddress address;
  std::uint16_t port = 53;
  std::string to_string() const;  // "192.0.2.1:53", "[2001:db8::1]:53"
};

// "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address. HOST must
// be an IP address: resolving the resolver's name would need a resolver.
Result<ServerAddress> parse_server_address(std::string_view text);
// The nameservers of /etc/resolv.conf (as c-ares reads it).
Result<std::vector<ServerAddress>> system_servers();

struct QueryLogEntry {
  std::string name;
  RrType type = RrType::A;
  std::string server;  // as in Answer::source
  Outcome outcome = Outcome::timeout;
  std::string detail;
  bool authenticated_data = false;
  double elapsed_ms = 0;
};
std::string format_log_entry(const QueryLogEntry& entry);  // one line for -v

struct ResolverConfig {
  std::vector<ServerAddress> servers;  // empty: /etc/resolv.conf
  // Each server is asked `tries` times; the first wait is attempt_timeout,
  // each later one doubles. The tries resend the same query from the same
  // socket, so that a late answer to an earlier try still counts. A failure
  // (timeout, SERVFAIL, REFUSED, malformed, network error) moves the
  // question on to the next server. A CNAME loop or a chain over 16 links
  // is SERVFAIL at once: the data, not the server, is at fault.
  std::chrono::milliseconds attempt_timeout{2000};
  int tries = 3;
  // Questions on the wire at once (one socket each); the rest wait in a queue.
  std::size_t max_outstanding = 256;
  std::uint16_t edns_udp_size = 1232;
  std::shared_ptr<const ZoneOverlay> zones;  // may be null
  // Called for every finished question (network or zone) as it finishes: -v.
  std::function<void(const QueryLogEntry&)> on_log;
  bool keep_log = false;  // keep every entry for log() (JSON output)
};

// Splits a total budget (--timeout SECONDS) into the per-attempt wait:
// with back-off, tries attempts take attempt * (2^tries - 1).
std::chrono::milliseconds attempt_timeout_for_budget(std::chrono::milliseconds budget, int tries);

class Resolver {
 public:
  using Callback = std::function<void(const Answer&)>;

  static Result<std::unique_ptr<Resolver>> create(ResolverConfig config);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Queues a question. The callback runs from inside run(), never from
  // here, and may ask further questions. An invalid name is answered with
  // Outcome::malformed and a detail saying why.
  void query(std::string_view name, RrType type, Callback callback);
  // The same, asked of servers()[server] alone: no zone overlay, no
  // fail-over, CNAMEs chased at that server, and an answer of its own (not
  // shared with query() or with other servers). For questions whose answer
  // depends on who asks whom: the egress address (myip.opendns.com).
  void query_at(std::size_t server, std::string_view name, RrType type, Callback callback);
  // Drives the poll loop until every question, including those asked by
  // callbacks, has been answered.
  void run();
  // The same, returning as soon as done() holds (checked before every wait
  // for the network) or the deadline has passed: for a caller whose answer
  // is known before every speculative question is. Questions still open
  // stay open; a later run() delivers them, and the destructor drops them
  // without calling their callbacks.
  void run_until(const std::function<bool()>& done,
                 std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  // Asks one question and waits for it: run() for a single answer.
  Answer resolve(std::string_view name, RrType type);
  // Runs task from inside run(), after the answers already in hand: how a
  // module that needs no question still reports from the caller's loop.
  void defer(std::function<void()> task);

  const std::vector<QueryLogEntry>& log() const;
  const std::vector<ServerAddress>& servers() const;

  struct Impl;

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One module's share of a caller's loop (ARCHITECTURE.md, "The DNS loop"):
// it counts the module's questions still open, those asked from its
// callbacks included, and calls on_done once, from inside run(), when the
// last one has been handled. A start_* function asks its first questions
// through a Work and then calls close(); a Work that asked nothing reports
// from the next run() all the same. Shared by the callbacks it hands out,
// so it lives as long as one of them can still run.
class Work : public std::enable_shared_from_this<Work> {
 public:
  static std::shared_ptr<Work> create(Resolver& resolver, std::function<void()> on_done);
  void query(std::string_view name, RrType type, Resolver::Callback callback);
  void close();  // no more first questions: done once the open ones are
  // Keeps the Work open for something that is not one question (another
  // module's start_*): call the returned function once, when it is done.
  std::function<void()> hold();
  Resolver& resolver() { return resolver_; }

 private:
  Work(Resolver& resolver, std::function<void()> on_done) : resolver_(resolver), on_done_(std::move(on_done)) {}
  void release();
  Resolver& resolver_;
  std::function<void()> on_done_;
  std::size_t open_ = 1;  // the questions, and the start_* function until close()
};

}  // namespace diag::dns
