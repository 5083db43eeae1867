// The loopback DNS server for tests: one thread, one poll loop, UDP and TCP
// sockets on 127.0.0.1 and ::1, delayed answers kept in a timer queue so a
// slow name never holds up the others.
#include "dns_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "diag/unique_fd.h"
#include "diag/wire.h"

namespace sendcheck::testing {

using diag::dns::RrType;
namespace wire = diag::dns::wire;
using Clock = std::chrono::steady_clock;
using diag::UniqueFd;

namespace {

constexpr std::uint16_t qtype_any = 255;  // RFC 1035 3.2.3: QTYPE "*", our key for faults on every type
constexpr std::size_t max_udp_datagram = 65535;
constexpr std::size_t max_tcp_message = 65535;  // the 2-octet length prefix
// A client that sends queries but never reads its answers is cut off here.
constexpr std::size_t max_tcp_unsent = 1 << 20;
constexpr std::uint16_t advertised_udp_size = 1232;
constexpr std::size_t classic_udp_limit = 512;  // RFC 1035 4.2.1, without EDNS
constexpr int bind_attempts = 50;
// FaultAction::long_chain: far past any resolver's limit (BIND: 16), and finite.
constexpr std::size_t max_long_chain_links = 64;
// received_queries(): what a test needs, never all a long-running server sees.
constexpr std::size_t max_received_queries = 100000;

std::string errno_text(int error) { return std::strerror(error); }

std::optional<RrType> modelled_type(std::uint16_t value) {
  for (const RrType type : {RrType::A, RrType::NS, RrType::CNAME, RrType::SOA, RrType::PTR, RrType::MX, RrType::TXT,
                            RrType::AAAA, RrType::SPF}) {
    if (static_cast<std::uint16_t>(type) == value) return type;
  }
  return std::nullopt;
}

// The parent of a presentation name ("a.b.c" -> "b.c", "c" -> ""), minding
// escaped dots ("a\.b.c" -> "c").
std::optional<std::string> parent_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\') {
      ++i;
      continue;
    }
    if (name[i] == '.') return std::string(name.substr(i + 1));
  }
  if (name.empty()) return std::nullopt;
  return std::string();
}

// A socket bound to the loopback address of a family. For TCP, listening.
struct BindOutcome {
  UniqueFd socket;
  int error = 0;  // errno of the failed step
};

BindOutcome bind_loopback(int family, int socket_type, std::uint16_t port) {
  UniqueFd fd(::socket(family, socket_type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return {UniqueFd(), errno};
  const int on = 1;
  if (socket_type == SOCK_STREAM) {
    // A fixed --port must be reusable at once after a restart (TIME_WAIT).
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  int result = 0;
  if (family == AF_INET) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    result = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } else {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(port);
    address.sin6_addr = in6addr_loopback;
    result = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  }
  if (result != 0) return {UniqueFd(), errno};
  if (socket_type == SOCK_STREAM && ::listen(fd.get(), 64) != 0) return {UniqueFd(), errno};
  return {std::move(fd), 0};
}

std::uint16_t port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  return 0;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return port_of(address);
}

// The four listening sockets, all on one port.
struct Listeners {
  UniqueFd udp_v4, tcp_v4, udp_v6, tcp_v6;
  std::uint16_t port = 0;
};

// UDP first on the requested port (0: any), then TCP and the IPv6 pair on
// the port UDP got. With port 0 another process may hold that port for
// TCP or IPv6, so we start over with a new one.
diag::Result<Listeners> bind_listeners(std::uint16_t requested_port) {
  std::string last_failure;
  for (int attempt = 0; attempt < bind_attempts; ++attempt) {
    Listeners listeners;
    auto udp_v4 = bind_loopback(AF_INET, SOCK_DGRAM, requested_port);
    if (!udp_v4.socket.valid()) {
      return diag::unavailable("cannot bind UDP 127.0.0.1:" + std::to_string(requested_port) + ": " +
                               errno_text(udp_v4.error));
    }
    listeners.udp_v4 = std::move(udp_v4.socket);
    listeners.port = bound_port(listeners.udp_v4.get());
    auto tcp_v4 = bind_loopback(AF_INET, SOCK_STREAM, listeners.port);
    if (!tcp_v4.socket.valid()) {
      last_failure = "cannot bind TCP 127.0.0.1:" + std::to_string(listeners.port) + ": " + errno_text(tcp_v4.error);
      if (requested_port == 0 && tcp_v4.error == EADDRINUSE) continue;
      return diag::unavailable(last_failure);
    }
    listeners.tcp_v4 = std::move(tcp_v4.socket);
    auto udp_v6 = bind_loopback(AF_INET6, SOCK_DGRAM, listeners.port);
    if (!udp_v6.socket.valid()) {
      last_failure = "cannot bind UDP [::1]:" + std::to_string(listeners.port) + ": " + errno_text(udp_v6.error);
      if (requested_port == 0 && udp_v6.error == EADDRINUSE) continue;
      return listeners;  // no IPv6 loopback on this host: serve IPv4 only
    }
    auto tcp_v6 = bind_loopback(AF_INET6, SOCK_STREAM, listeners.port);
    if (!tcp_v6.socket.valid()) {
      last_failure = "cannot bind TCP [::1]:" + std::to_string(listeners.port) + ": " + errno_text(tcp_v6.error);
      if (requested_port == 0 && tcp_v6.error == EADDRINUSE) continue;
      return listeners;
    }
    listeners.udp_v6 = std::move(udp_v6.socket);
    listeners.tcp_v6 = std::move(tcp_v6.socket);
    return listeners;
  }
  return diag::unavailable(last_failure + " (gave up after " + std::to_string(bind_attempts) + " ports)");
}

using QueryKey = std::tuple<std::string, std::uint16_t, Transport>;

}  // namespace

// ---------------------------------------------------------------------------
// Fault files and zones

std::string_view to_string(FaultAction action) {
  switch (action) {
    case FaultAction::delay: return "delay";
    case FaultAction::drop: return "drop";
    case FaultAction::servfail: return "servfail";
    case FaultAction::refused: return "refused";
    case FaultAction::truncate: return "truncate";
    case FaultAction::malformed: return "malformed";
    case FaultAction::wrong_id: return "wrong-id";
    case FaultAction::ad: return "ad";
    case FaultAction::truncate_always: return "truncate-always";
    case FaultAction::other_name: return "other-name";
    case FaultAction::extra_name: return "extra-name";
    case FaultAction::other_question: return "other-question";
    case FaultAction::compression_loop: return "compression-loop";
    case FaultAction::compression_pair: return "compression-pair";
    case FaultAction::wrong_id_flood: return "wrong-id-flood";
    case FaultAction::long_chain: return "long-chain";
    case FaultAction::forgeries: return "forgeries";
  }
  return "?";
}

std::optional<FaultAction> fault_action_from_string(std::string_view text) {
  for (const FaultAction action :
       {FaultAction::delay, FaultAction::drop, FaultAction::servfail, FaultAction::refused, FaultAction::truncate,
        FaultAction::malformed, FaultAction::wrong_id, FaultAction::ad, FaultAction::truncate_always,
        FaultAction::other_name, FaultAction::extra_name, FaultAction::other_question, FaultAction::compression_loop,
        FaultAction::compression_pair, FaultAction::wrong_id_flood, FaultAction::long_chain,
        FaultAction::forgeries}) {
    if (text == to_string(action)) return action;
  }
  return std::nullopt;
}

diag::Result<std::vector<FaultRule>> parse_faults_text(std::string_view text, const std::string& display_name) {
  constexpr long max_delay_ms = 600000;
  std::vector<FaultRule> rules;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t line_end = text.find('\n');
    std::string_view line = text.substr(0, line_end);
    text.remove_prefix(line_end == std::string_view::npos ? text.size() : line_end + 1);
    line = line.substr(0, line.find('#'));

    std::vector<std::string> fields;
    std::istringstream words{std::string(line)};
    for (std::string word; words >> word;) fields.push_back(word);
    if (fields.empty()) continue;

    const auto fail = [&](const std::string& what) {
      return diag::bad_input(display_name + ":" + std::to_string(line_number) + ": " + what);
    };
    if (fields.size() < 3 || fields.size() > 4) {
      return fail("expected NAME TYPE ACTION [ARG], got " + std::to_string(fields.size()) + " fields");
    }
    FaultRule rule;
    rule.name = diag::dns::canonical_name(fields[0]);
    if (fields[1] == "ANY" || fields[1] == "any") {
      rule.type = any_type;
    } else if (const auto type = diag::dns::rr_type_from_string(fields[1]); type && *type != RrType::OPT) {
      rule.type = *type;
    } else {
      return fail("unknown record type '" + fields[1] + "' (expected A, AAAA, MX, TXT, ... or ANY)");
    }
    const auto action = fault_action_from_string(fields[2]);
    if (!action) {
      return fail("unknown action '" + fields[2] +
                  "' (expected delay, drop, servfail, refused, truncate, malformed, wrong-id, ad, "
                  "truncate-always, other-name, extra-name, other-question, compression-loop, "
                  "compression-pair, wrong-id-flood, long-chain or forgeries)");
    }
    rule.fault.action = *action;
    if (*action == FaultAction::other_name || *action == FaultAction::extra_name) {
      if (fields.size() != 4) return fail(std::string(to_string(*action)) + " needs the name whose records to serve");
      rule.fault.name = diag::dns::canonical_name(fields[3]);
    } else if (*action == FaultAction::delay) {
      if (fields.size() != 4) return fail("delay needs the milliseconds to wait");
      long milliseconds = -1;
      const std::string& argument = fields[3];
      const auto [end, error] = std::from_chars(argument.data(), argument.data() + argument.size(), milliseconds);
      if (error != std::errc() || end != argument.data() + argument.size() || milliseconds < 0 ||
          milliseconds > max_delay_ms) {
        return fail("delay '" + argument + "' is not a number of milliseconds from 0 to " +
                    std::to_string(max_delay_ms));
      }
      rule.fault.delay = std::chrono::milliseconds(milliseconds);
    } else if (fields.size() == 4) {
      return fail(std::string(to_string(*action)) + " takes no argument, got '" + fields[3] + "'");
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

diag::Result<std::vector<FaultRule>> parse_faults_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return diag::bad_input(path + ": cannot open: " + errno_text(errno));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return diag::bad_input(path + ": cannot read");
  return parse_faults_text(contents.str(), path);
}

diag::Result<diag::dns::ZoneOverlay> load_zones(const std::vector<std::string>& zone_files,
                                                const std::string& zone_dir) {
  std::vector<std::string> paths = zone_files;
  if (!zone_dir.empty()) {
    std::error_code error;
    std::vector<std::string> found;
    for (std::filesystem::directory_iterator entry(zone_dir, error), end; !error && entry != end;
         entry.increment(error)) {
      if (entry->path().extension() == ".zone") found.push_back(entry->path().string());
    }
    if (error) return diag::bad_input(zone_dir + ": cannot read directory: " + error.message());
    if (found.empty()) return diag::bad_input(zone_dir + ": no *.zone files");
    std::sort(found.begin(), found.end());
    paths.insert(paths.end(), found.begin(), found.end());
  }
  diag::dns::ZoneOverlay overlay;
  for (const std::string& path : paths) {
    auto zone = diag::dns::parse_zone_file(path);
    if (!zone) return zone.error();
    overlay.add(std::move(zone).value());
  }
  return overlay;
}

// ---------------------------------------------------------------------------
// The poll loop

class DnsTestServer::Loop {
 public:
  Loop(DnsTestServerConfig config, Listeners listeners, UniqueFd wake)
      : zones_(std::move(config.zones)),
        tcp_idle_timeout_(config.tcp_idle_timeout),
        max_tcp_connections_(config.max_tcp_connections),
        answer_delay_(config.answer_delay),
        listeners_(std::move(listeners)),
        wake_(std::move(wake)),
        // FaultAction::forgeries sends one forgery from another port of the
        // loopback address: a socket of its own, on a port the kernel picks.
        forger_v4_(bind_loopback(AF_INET, SOCK_DGRAM, 0).socket),
        forger_v6_(listeners_.udp_v6.valid() ? bind_loopback(AF_INET6, SOCK_DGRAM, 0).socket : UniqueFd()) {
    for (const FaultRule& rule : config.faults) add_fault(rule.name, rule.type, rule.fault);
  }

  void start() { thread_ = std::thread([this] { run(); }); }

  // Wakes poll through the eventfd and waits for the thread to end.
  void stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }

  std::uint16_t port() const { return listeners_.port; }
  bool has_ipv6() const { return listeners_.udp_v6.valid(); }

  void add_fault(std::string_view name, std::optional<RrType> type, Fault fault) {
    const std::uint16_t type_key = type ? static_cast<std::uint16_t>(*type) : qtype_any;
    const std::lock_guard lock(mutex_);
    faults_[{diag::dns::canonical_name(name), type_key}].push_back(fault);
  }
  void clear_faults() {
    const std::lock_guard lock(mutex_);
    faults_.clear();
  }
  std::size_t queries_received(std::string_view name, RrType type, Transport transport) const {
    const std::lock_guard lock(mutex_);
    const auto found =
        query_counts_.find(QueryKey{diag::dns::canonical_name(name), static_cast<std::uint16_t>(type), transport});
    return found == query_counts_.end() ? 0 : found->second;
  }
  std::size_t total_queries() const {
    const std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [key, count] : query_counts_) total += count;
    return total;
  }
  std::vector<ReceivedQuery> received_queries() const {
    const std::lock_guard lock(mutex_);
    return received_;
  }
  void reset_counts() {
    const std::lock_guard lock(mutex_);
    query_counts_.clear();
    received_.clear();
  }

 private:
  struct TcpConnection {
    UniqueFd socket;
    std::uint16_t peer_port = 0;
    std::vector<std::uint8_t> received;  // a partial length-prefixed message
    std::vector<std::uint8_t> unsent;
    Clock::time_point last_activity;
    bool peer_closed = false;  // read side shut: finish writing, then close
    std::size_t delayed_replies = 0;
  };

  // A reply waiting for its delay to pass.
  struct DelayedReply {
    Transport transport = Transport::udp;
    int udp_socket = -1;  // owned by listeners_
    sockaddr_storage peer{};
    socklen_t peer_length = 0;
    std::uint64_t connection_id = 0;
    std::vector<std::uint8_t> bytes;
  };

  struct Forgery {
    std::vector<std::uint8_t> bytes;
    bool from_other_port = false;  // sent from forger_v4_/forger_v6_, not the port asked
  };

  struct PlannedReply {
    std::vector<std::uint8_t> bytes;  // empty: no answer (the flood alone)
    std::chrono::milliseconds delay{0};
    std::vector<Forgery> spoofed{};  // wrong-id-flood, forgeries: sent at once, ahead of bytes
  };

  // What a poll slot stands for.
  enum class SlotKind : std::uint8_t { wake, udp, tcp_listener, connection };
  struct Slot {
    SlotKind kind;
    int fd;
    std::uint64_t connection_id;
  };

  void run() {
    std::vector<pollfd> poll_fds;
    std::vector<Slot> slots;
    while (true) {
      poll_fds.clear();
      slots.clear();
      const auto watch = [&](SlotKind kind, int fd, short events, std::uint64_t id = 0) {
        poll_fds.push_back(pollfd{fd, events, 0});
        slots.push_back(Slot{kind, fd, id});
      };
      watch(SlotKind::wake, wake_.get(), POLLIN);
      for (const UniqueFd* udp : {&listeners_.udp_v4, &listeners_.udp_v6}) {
        if (udp->valid()) watch(SlotKind::udp, udp->get(), POLLIN);
      }
      for (const UniqueFd* tcp : {&listeners_.tcp_v4, &listeners_.tcp_v6}) {
        if (tcp->valid()) watch(SlotKind::tcp_listener, tcp->get(), POLLIN);
      }
      for (const auto& [id, connection] : connections_) {
        short events = connection.peer_closed ? 0 : POLLIN;
        if (!connection.unsent.empty()) events |= POLLOUT;
        watch(SlotKind::connection, connection.socket.get(), events, id);
      }

      if (::poll(poll_fds.data(), poll_fds.size(), poll_timeout_ms()) < 0) {
        if (errno == EINTR) continue;
        return;  // cannot happen with valid fds; nothing better to do in a test server
      }
      for (std::size_t i = 0; i < poll_fds.size(); ++i) {
        const short events = poll_fds[i].revents;
        if (events == 0) continue;
        switch (slots[i].kind) {
          case SlotKind::wake: return;
          case SlotKind::udp: receive_udp(slots[i].fd); break;
          case SlotKind::tcp_listener: accept_tcp(slots[i].fd); break;
          case SlotKind::connection: service_connection(slots[i].connection_id, events); break;
        }
      }
      send_due_replies();
      close_idle_connections();
    }
  }

  // Until the next delayed reply or idle deadline; -1 (forever) when none.
  int poll_timeout_ms() const {
    std::optional<Clock::time_point> next;
    if (!delayed_replies_.empty()) next = delayed_replies_.begin()->first;
    for (const auto& [id, connection] : connections_) {
      const auto deadline = connection.last_activity + tcp_idle_timeout_;
      if (!next || deadline < *next) next = deadline;
    }
    if (!next) return -1;
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
    return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(wait.count(), 0, 60000));
  }

  void receive_udp(int udp_socket) {
    std::vector<std::uint8_t>& datagram = udp_buffer_;
    while (true) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      const ssize_t received = ::recvfrom(udp_socket, datagram.data(), datagram.size(), 0,
                                          reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (received < 0) return;  // EAGAIN: drained; other errors: nothing to answer
      auto reply = plan_reply(std::span(datagram.data(), static_cast<std::size_t>(received)), Transport::udp,
                              port_of(peer));
      if (!reply) continue;
      for (const auto& forgery : reply->spoofed) {
        const UniqueFd& forger = peer.ss_family == AF_INET ? forger_v4_ : forger_v6_;
        const int from = forgery.from_other_port && forger.valid() ? forger.get() : udp_socket;
        send_datagram(from, peer, peer_length, forgery.bytes);
      }
      if (reply->bytes.empty()) continue;
      DelayedReply pending{Transport::udp, udp_socket, peer, peer_length, 0, std::move(reply->bytes)};
      if (reply->delay.count() > 0) {
        delayed_replies_.emplace(Clock::now() + reply->delay, std::move(pending));
      } else {
        send_udp(pending);
      }
    }
  }

  static void send_udp(const DelayedReply& reply) {
    send_datagram(reply.udp_socket, reply.peer, reply.peer_length, reply.bytes);
  }

  static void send_datagram(int udp_socket, const sockaddr_storage& peer, socklen_t peer_length,
                            const std::vector<std::uint8_t>& bytes) {
    // A lost datagram is what UDP promises; the client's retry covers it.
    ::sendto(udp_socket, bytes.data(), bytes.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&peer),
             peer_length);
  }

  void accept_tcp(int listener) {
    while (true) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      UniqueFd socket(
          ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!socket.valid()) return;
      if (connections_.size() >= max_tcp_connections_) continue;  // closed at once by UniqueFd
      connections_.emplace(next_connection_id_++,
                           TcpConnection{std::move(socket), port_of(peer), {}, {}, Clock::now(), false, 0});
    }
  }

  void service_connection(std::uint64_t id, short events) {
    const auto found = connections_.find(id);
    if (found == connections_.end()) return;
    TcpConnection& connection = found->second;
    // Both directions down or a reset: nobody is left to answer, and poll
    // would report it again at once, however long a delayed reply waits.
    if (events & (POLLHUP | POLLERR)) {
      connections_.erase(found);
      return;
    }
    if (events & POLLIN) {
      if (!read_connection(id, connection)) {
        connections_.erase(found);
        return;
      }
    }
    if (!flush_connection(connection)) connections_.erase(found);
  }

  // Reads what is there and answers every complete message. False when the
  // connection should close.
  bool read_connection(std::uint64_t id, TcpConnection& connection) {
    std::array<std::uint8_t, 16384> chunk{};
    while (!connection.peer_closed) {
      const ssize_t received = ::recv(connection.socket.get(), chunk.data(), chunk.size(), 0);
      if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (received == 0) {
        connection.peer_closed = true;
        break;
      }
      connection.last_activity = Clock::now();
      connection.received.insert(connection.received.end(), chunk.begin(), chunk.begin() + received);
      // RFC 1035 4.2.2: each message is preceded by its length in two octets.
      while (connection.received.size() >= 2) {
        const std::size_t length = static_cast<std::size_t>(connection.received[0]) << 8 | connection.received[1];
        if (connection.received.size() < 2 + length) break;
        const std::vector<std::uint8_t> message(connection.received.begin() + 2,
                                                connection.received.begin() + 2 + static_cast<std::ptrdiff_t>(length));
        connection.received.erase(connection.received.begin(),
                                  connection.received.begin() + 2 + static_cast<std::ptrdiff_t>(length));
        if (auto reply = plan_reply(message, Transport::tcp, connection.peer_port); reply && !reply->bytes.empty()) {
          if (reply->delay.count() > 0) {
            ++connection.delayed_replies;
            DelayedReply pending;
            pending.transport = Transport::tcp;
            pending.connection_id = id;
            pending.bytes = std::move(reply->bytes);
            delayed_replies_.emplace(Clock::now() + reply->delay, std::move(pending));
          } else {
            queue_tcp(connection, reply->bytes);
          }
        }
      }
      if (connection.unsent.size() > max_tcp_unsent) return false;
    }
    return true;
  }

  static void queue_tcp(TcpConnection& connection, const std::vector<std::uint8_t>& message) {
    connection.unsent.push_back(static_cast<std::uint8_t>(message.size() >> 8));
    connection.unsent.push_back(static_cast<std::uint8_t>(message.size() & 0xFF));
    connection.unsent.insert(connection.unsent.end(), message.begin(), message.end());
  }

  // Writes what the socket takes. False when the connection should close:
  // a write error, or the peer has finished and nothing is left to send.
  static bool flush_connection(TcpConnection& connection) {
    while (!connection.unsent.empty()) {
      const ssize_t sent =
          ::send(connection.socket.get(), connection.unsent.data(), connection.unsent.size(), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
        return false;
      }
      connection.last_activity = Clock::now();
      connection.unsent.erase(connection.unsent.begin(), connection.unsent.begin() + sent);
    }
    return !(connection.peer_closed && connection.delayed_replies == 0);
  }

  void send_due_replies() {
    const auto now = Clock::now();
    while (!delayed_replies_.empty() && delayed_replies_.begin()->first <= now) {
      DelayedReply reply = std::move(delayed_replies_.begin()->second);
      delayed_replies_.erase(delayed_replies_.begin());
      ++delayed_replies_sent_;
      if (reply.transport == Transport::udp) {
        send_udp(reply);
        continue;
      }
      const auto found = connections_.find(reply.connection_id);
      if (found == connections_.end()) continue;  // the client went away meanwhile
      --found->second.delayed_replies;
      queue_tcp(found->second, reply.bytes);
      if (!flush_connection(found->second)) connections_.erase(found);
    }
  }

  void close_idle_connections() {
    const auto now = Clock::now();
    std::erase_if(connections_, [&](const auto& entry) {
      return now - entry.second.last_activity >= tcp_idle_timeout_;
    });
  }

  // ---- answering

  // The reply to one query, or nothing (dropped, or not worth answering).
  std::optional<PlannedReply> plan_reply(std::span<const std::uint8_t> query_bytes, Transport transport,
                                         std::uint16_t source_port) {
    auto decoded = wire::decode_message(query_bytes);
    if (!decoded) return format_error(query_bytes);
    const wire::Message& query = *decoded;
    if (query.header.qr) return std::nullopt;  // a response: answering it could start a loop

    wire::Message reply;
    reply.header.id = query.header.id;
    reply.header.qr = true;
    reply.header.opcode = query.header.opcode;
    reply.header.rd = query.header.rd;  // RFC 1035 4.1.1: copied into the response
    reply.header.ra = true;
    reply.questions = query.questions;
    if (query.has_edns) {
      reply.has_edns = true;
      reply.edns_udp_size = advertised_udp_size;
    }
    if (query.header.opcode != 0) {
      reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::notimp);
      return PlannedReply{wire::encode_message(reply), {}};
    }
    if (query.questions.size() != 1) {
      reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::formerr);
      return PlannedReply{wire::encode_message(reply), {}};
    }
    const wire::Question& question = query.questions.front();
    const std::vector<Fault> faults = count_and_find_faults(question, transport, query.header.id, source_port);
    const auto has = [&](FaultAction action) {
      return std::any_of(faults.begin(), faults.end(), [&](const Fault& fault) { return fault.action == action; });
    };
    PlannedReply planned;
    planned.delay = answer_delay_;
    // Spoofing is a UDP attack: over TCP the flood would only pad the stream.
    if (has(FaultAction::wrong_id_flood) && transport == Transport::udp) planned.spoofed = spoofed_replies(reply);
    if (has(FaultAction::forgeries) && transport == Transport::udp) {
      auto forged = forged_replies(reply);
      planned.spoofed.insert(planned.spoofed.end(), forged.begin(), forged.end());
    }
    if (has(FaultAction::drop)) {
      if (planned.spoofed.empty()) return std::nullopt;
      return planned;  // the flood instead of the answer
    }

    for (const Fault& fault : faults) {
      if (fault.action == FaultAction::delay) planned.delay += fault.delay;
    }
    if (has(FaultAction::servfail)) {
      reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::servfail);
    } else if (has(FaultAction::refused)) {
      reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::refused);
    } else if (has(FaultAction::long_chain)) {
      answer_with_long_chain(question, reply);
    } else {
      answer_from_zones(question, reply);
    }
    for (const Fault& fault : faults) {
      if (fault.action == FaultAction::other_name) {
        // As a server answering for the wrong name would: NOERROR, its records only.
        reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::noerror);
        reply.answers = records_at(fault.name, question.type);
        reply.authority.clear();
      } else if (fault.action == FaultAction::extra_name) {
        const auto extra = records_at(fault.name, question.type);
        reply.answers.insert(reply.answers.begin(), extra.begin(), extra.end());
      }
    }
    if (has(FaultAction::ad)) reply.header.ad = true;
    if (has(FaultAction::wrong_id)) reply.header.id = static_cast<std::uint16_t>(reply.header.id + 1);
    if (has(FaultAction::truncate_always) || (has(FaultAction::truncate) && transport == Transport::udp)) {
      reply.header.tc = true;
      reply.answers.clear();
      reply.authority.clear();
      reply.additional.clear();
    }
    if (has(FaultAction::other_question)) reply.questions.front().name = "other." + question.name;
    if (has(FaultAction::malformed)) {
      planned.bytes = malformed_reply(reply);
      return planned;
    }
    if (has(FaultAction::compression_loop)) {
      planned.bytes = compression_loop_reply(reply);
      return planned;
    }
    if (has(FaultAction::compression_pair)) {
      planned.bytes = compression_pair_reply(reply);
      return planned;
    }
    // RFC 6891 6.2.5: a UDP answer fits the size the query advertised, at
    // least 512; RFC 1035 4.2.1 512 without EDNS.
    std::size_t limit = max_tcp_message;
    if (transport == Transport::udp) {
      limit = query.has_edns ? std::max<std::size_t>(classic_udp_limit, query.edns_udp_size) : classic_udp_limit;
    }
    planned.bytes = wire::encode_message(reply, limit);
    if (planned.bytes.empty()) return std::nullopt;  // records the wire cannot carry: a broken fixture
    return planned;
  }

  // FORMERR for a query we cannot parse but whose header we can read.
  static std::optional<PlannedReply> format_error(std::span<const std::uint8_t> query_bytes) {
    if (query_bytes.size() < 12 || (query_bytes[2] & 0x80) != 0) return std::nullopt;
    wire::Message reply;
    reply.header.id = static_cast<std::uint16_t>(query_bytes[0] << 8 | query_bytes[1]);
    reply.header.qr = true;
    reply.header.opcode = static_cast<std::uint8_t>((query_bytes[2] >> 3) & 0x0F);
    reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::formerr);
    return PlannedReply{wire::encode_message(reply), {}};
  }

  // The header and question as computed, no other records, ANCOUNT=1, and
  // the one answer record make_record writes, given the offset it starts
  // at: the shapes encode_message never writes. The question stays right,
  // so c-ares does not discard the answer early for a mismatched question.
  template <typename MakeRecord>
  static std::vector<std::uint8_t> handmade_answer(wire::Message reply, MakeRecord make_record) {
    reply.answers.clear();
    reply.authority.clear();
    reply.additional.clear();
    reply.has_edns = false;
    std::vector<std::uint8_t> bytes = wire::encode_message(reply);
    if (bytes.empty()) return bytes;
    bytes[6] = 0;
    bytes[7] = 1;  // ANCOUNT
    const std::vector<std::uint8_t> record = make_record(bytes.size());
    bytes.insert(bytes.end(), record.begin(), record.end());
    return bytes;
  }

  // RFC 1035 4.1.4: two octets, the top two bits set, then the offset.
  static std::array<std::uint8_t, 2> pointer_to(std::size_t offset) {
    return {static_cast<std::uint8_t>(0xC0 | (offset >> 8 & 0x3F)), static_cast<std::uint8_t>(offset & 0xFF)};
  }

  // An A record whose rdata stops 2 octets into its 4: every parser must reject it.
  static std::vector<std::uint8_t> malformed_reply(wire::Message reply) {
    return handmade_answer(std::move(reply), [](std::size_t) {
      return std::vector<std::uint8_t>{
          0xC0, 0x0C,              // owner: the question name
          0x00, 0x01, 0x00, 0x01,  // A, IN
          0x00, 0x00, 0x01, 0x2C,  // TTL 300
          0x00, 0x04,              // RDLENGTH 4 ...
          192,  0};                // ... but only 2 octets follow
    });
  }

  // An A record whose owner name is a pointer to itself: a decoder that
  // follows pointers without a bound never returns.
  static std::vector<std::uint8_t> compression_loop_reply(wire::Message reply) {
    return handmade_answer(std::move(reply), [](std::size_t record_start) {
      const auto self = pointer_to(record_start);
      return std::vector<std::uint8_t>{
          self[0], self[1],           // owner: this very pointer
          0x00,    0x01, 0x00, 0x01,  // A, IN
          0x00,    0x00, 0x01, 0x2C,  // TTL 300
          0x00,    0x04,              // RDLENGTH 4
          192,     0,    2,    1};    // 192.0.2.1
    });
  }

  // A CNAME for the question name whose target is a pointer to the next
  // two octets, which point back at it: the two pointers loop.
  static std::vector<std::uint8_t> compression_pair_reply(wire::Message reply) {
    return handmade_answer(std::move(reply), [](std::size_t record_start) {
      const std::size_t rdata_start = record_start + 12;  // owner 2, type 2, class 2, TTL 4, RDLENGTH 2
      const auto forward = pointer_to(rdata_start + 2);
      const auto back = pointer_to(rdata_start);
      return std::vector<std::uint8_t>{
          0xC0,       0x0C,                       // owner: the question name
          0x00,       0x05,       0x00,    0x01,  // CNAME, IN
          0x00,       0x00,       0x01,    0x2C,  // TTL 300
          0x00,       0x04,                       // RDLENGTH 4: the two pointers
          forward[0], forward[1], back[0], back[1]};
    });
  }

  // wrong_id_flood_replies copies of reply (no records yet) saying NXDOMAIN,
  // each with an ID other than the query's: taking any of them would turn a
  // name that exists into one that does not.
  static std::vector<Forgery> spoofed_replies(wire::Message reply) {
    reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::nxdomain);
    reply.header.aa = true;
    const std::uint16_t query_id = reply.header.id;
    const std::vector<std::uint8_t> bytes = wire::encode_message(reply);
    if (bytes.empty()) return {};
    std::vector<Forgery> replies(wrong_id_flood_replies, Forgery{bytes});
    for (std::size_t i = 0; i < replies.size(); ++i) {
      const auto id = static_cast<std::uint16_t>(query_id + 1 + i);  // never query_id: fewer than 65535 of them
      replies[i].bytes[0] = static_cast<std::uint8_t>(id >> 8);
      replies[i].bytes[1] = static_cast<std::uint8_t>(id & 0xFF);
    }
    return replies;
  }

  // FaultAction::forgeries: reply (no records yet) made into four forged
  // answers, each carrying poison for the asked name and type, each wrong
  // in one way only.
  static std::vector<Forgery> forged_replies(wire::Message reply) {
    const wire::Question asked = reply.questions.front();
    reply.header.aa = true;
    switch (asked.type) {
      case static_cast<std::uint16_t>(RrType::A):
        reply.answers.push_back({asked.name, RrType::A, 300, diag::dns::AddressData{*diag::IpAddress::parse("203.0.113.66")}});
        break;
      case static_cast<std::uint16_t>(RrType::AAAA):
        reply.answers.push_back({asked.name, RrType::AAAA, 300, diag::dns::AddressData{*diag::IpAddress::parse("2001:db8::66")}});
        break;
      case static_cast<std::uint16_t>(RrType::TXT):
        reply.answers.push_back({asked.name, RrType::TXT, 300, diag::dns::TxtData{{"v=spf1 +all"}}});
        break;
      default: reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::nxdomain); break;
    }
    std::vector<Forgery> forgeries;
    wire::Message wrong_id = reply;
    wrong_id.header.id = static_cast<std::uint16_t>(reply.header.id ^ 0x5A5A);
    forgeries.push_back({wire::encode_message(wrong_id)});
    wire::Message other_name = reply;
    other_name.questions.front().name = "forged-" + asked.name;
    forgeries.push_back({wire::encode_message(other_name)});
    wire::Message other_type = reply;
    other_type.questions.front().type =
        static_cast<std::uint16_t>(asked.type == static_cast<std::uint16_t>(RrType::TXT) ? RrType::A : RrType::TXT);
    forgeries.push_back({wire::encode_message(other_type)});
    forgeries.push_back({wire::encode_message(reply), true});
    std::erase_if(forgeries, [](const Forgery& forgery) { return forgery.bytes.empty(); });
    return forgeries;
  }

  std::vector<Fault> count_and_find_faults(const wire::Question& question, Transport transport, std::uint16_t id,
                                           std::uint16_t source_port) {
    const std::lock_guard lock(mutex_);
    ++query_counts_[QueryKey{question.name, question.type, transport}];
    // Bounded: sendcheck-testdns may serve for days.
    if (received_.size() < max_received_queries)
      received_.push_back(ReceivedQuery{question.name, static_cast<RrType>(question.type), transport, id, source_port,
                                        delayed_replies_sent_});
    std::vector<Fault> found;
    for (const std::uint16_t type_key : {question.type, qtype_any}) {
      const auto entry = faults_.find({question.name, type_key});
      if (entry != faults_.end()) found.insert(found.end(), entry->second.begin(), entry->second.end());
      if (question.type == qtype_any) break;
    }
    return found;
  }

  // Fills the reply the way an authoritative server for the zones would.
  void answer_from_zones(const wire::Question& question, wire::Message& reply) const {
    if (question.qclass != 1 || !zones_.covers(question.name)) {
      reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::refused);
      return;
    }
    reply.header.aa = true;
    const auto type = modelled_type(question.type);
    // For a type we do not model, the name's CNAME (RFC 1034 3.6.2) or
    // whether it exists is all there is to say.
    const diag::dns::Answer answer = zones_.answer(question.name, type.value_or(RrType::CNAME));
    switch (answer.outcome) {
      case diag::dns::Outcome::records:
        reply.answers = answer.cname_chain;
        if (type) {
          reply.answers.insert(reply.answers.end(), answer.records.begin(), answer.records.end());
        } else {
          reply.answers = answer.records;
        }
        return;
      case diag::dns::Outcome::nodata:
      case diag::dns::Outcome::nxdomain: {
        reply.answers = answer.cname_chain;
        const std::string& final_name =
            answer.cname_chain.empty() ? question.name : answer.cname_chain.back().owner;
        if (answer.outcome == diag::dns::Outcome::nxdomain) {
          reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::nxdomain);
        }
        // RFC 2308 3: the zone's SOA in the authority section of a negative answer.
        if (auto soa = apex_soa(final_name)) reply.authority.push_back(std::move(*soa));
        return;
      }
      default:
        reply.header.rcode = static_cast<std::uint8_t>(wire::Rcode::servfail);
        return;
    }
  }

  // FaultAction::long_chain: the chain link by link, asking the zones for
  // each name's CNAME (asked for, the overlay does not follow it), so that
  // it goes past the overlay's own limit; then the last name's records.
  void answer_with_long_chain(const wire::Question& question, wire::Message& reply) const {
    const auto type = modelled_type(question.type);
    if (!type || question.qclass != 1 || !zones_.covers(question.name)) return answer_from_zones(question, reply);
    reply.header.aa = true;
    std::string current = question.name;
    std::set<std::string> seen{current};
    for (std::size_t links = 0; links < max_long_chain_links && zones_.covers(current); ++links) {
      const diag::dns::Answer cname = zones_.answer(current, RrType::CNAME);
      if (cname.outcome != diag::dns::Outcome::records) break;
      reply.answers.push_back(cname.records.front());
      current = std::get<diag::dns::NameData>(cname.records.front().data).target;
      if (!seen.insert(current).second) return;  // a loop: once round is enough
    }
    if (!zones_.covers(current)) return;
    const diag::dns::Answer last = zones_.answer(current, *type);
    if (last.outcome == diag::dns::Outcome::records && last.cname_chain.empty()) {
      reply.answers.insert(reply.answers.end(), last.records.begin(), last.records.end());
    }
  }

  // other_name, extra_name: the records of the asked type at name, if the zones have them.
  std::vector<diag::dns::Record> records_at(const std::string& name, std::uint16_t type) const {
    const auto modelled = modelled_type(type);
    if (!modelled || !zones_.covers(name)) return {};
    diag::dns::Answer answer = zones_.answer(name, *modelled);
    if (answer.outcome != diag::dns::Outcome::records || !answer.cname_chain.empty()) return {};
    return std::move(answer.records);
  }

  std::optional<diag::dns::Record> apex_soa(std::string_view name) const {
    std::optional<std::string> candidate{std::string(name)};
    while (candidate && zones_.covers(*candidate)) {
      const diag::dns::Answer soa = zones_.answer(*candidate, RrType::SOA);
      if (soa.outcome == diag::dns::Outcome::records && soa.cname_chain.empty() && !soa.records.empty()) {
        return soa.records.front();
      }
      candidate = parent_name(*candidate);
    }
    return std::nullopt;
  }

  const diag::dns::ZoneOverlay zones_;
  const std::chrono::milliseconds tcp_idle_timeout_;
  const std::size_t max_tcp_connections_;
  const std::chrono::milliseconds answer_delay_;
  Listeners listeners_;
  UniqueFd wake_;
  UniqueFd forger_v4_, forger_v6_;
  std::thread thread_;

  // Only the loop's thread touches these.
  std::map<std::uint64_t, TcpConnection> connections_;
  std::uint64_t next_connection_id_ = 1;
  std::multimap<Clock::time_point, DelayedReply> delayed_replies_;
  std::size_t delayed_replies_sent_ = 0;
  std::vector<std::uint8_t> udp_buffer_ = std::vector<std::uint8_t>(max_udp_datagram);

  // Shared with the test's thread.
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::uint16_t>, std::vector<Fault>> faults_;
  std::map<QueryKey, std::size_t> query_counts_;
  std::vector<ReceivedQuery> received_;
};

// ---------------------------------------------------------------------------
// DnsTestServer

diag::Result<std::unique_ptr<DnsTestServer>> DnsTestServer::start(DnsTestServerConfig config) {
  auto listeners = bind_listeners(config.port);
  if (!listeners) return listeners.error();
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return diag::Error{diag::ErrorKind::internal, "eventfd: " + errno_text(errno)};
  auto loop = std::make_unique<Loop>(std::move(config), std::move(listeners).value(), std::move(wake));
  loop->start();
  return std::unique_ptr<DnsTestServer>(new DnsTestServer(std::move(loop)));
}

DnsTestServer::DnsTestServer(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

DnsTestServer::~DnsTestServer() { loop_->stop(); }

std::uint16_t DnsTestServer::port() const { return loop_->port(); }
bool DnsTestServer::has_ipv6() const { return loop_->has_ipv6(); }
std::string DnsTestServer::address_v6() const { return has_ipv6() ? "::1" : ""; }
std::string DnsTestServer::endpoint_v4() const { return address_v4() + ":" + std::to_string(port()); }
std::string DnsTestServer::endpoint_v6() const {
  return has_ipv6() ? "[::1]:" + std::to_string(port()) : std::string();
}

void DnsTestServer::add_fault(std::string_view name, std::optional<RrType> type, Fault fault) {
  loop_->add_fault(name, type, fault);
}
void DnsTestServer::clear_faults() { loop_->clear_faults(); }

std::size_t DnsTestServer::queries_received(std::string_view name, RrType type, Transport transport) const {
  return loop_->queries_received(name, type, transport);
}
std::size_t DnsTestServer::queries_received(std::string_view name, RrType type) const {
  return queries_received(name, type, Transport::udp) + queries_received(name, type, Transport::tcp);
}
std::size_t DnsTestServer::total_queries() const { return loop_->total_queries(); }
std::vector<ReceivedQuery> DnsTestServer::received_queries() const { return loop_->received_queries(); }
void DnsTestServer::reset_counts() { loop_->reset_counts(); }

}  // namespace sendcheck::testing
