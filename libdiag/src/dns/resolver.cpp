#include "diag/resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdio>
#include <deque>
#include <unordered_map>
#include <mutex>
#include <utility>

#include "diag/unique_fd.h"
#include "diag/wire.h"

// The transport is our own, not c-ares': c-ares 1.18 cannot give each
// question a random ID and a source port of its own (RFC 5452 9.2), which
// is what keeps an off-path attacker from answering for a server. c-ares
// still reads /etc/resolv.conf (system_servers).
namespace diag::dns {
namespace {

using Clock = std::chrono::steady_clock;

// RFC 1034 3.6.2 has resolvers follow CNAMEs; like BIND we give up after 16
// links. The limit is the same whether the chain comes in one answer or is
// chased across several questions (follow_chain).
constexpr std::size_t max_cname_links = 16;
constexpr std::size_t max_message_octets = 65535;  // a UDP datagram; the TCP length prefix
// Datagrams read from one socket per wake-up: a flood of forgeries at one
// question cannot keep the loop from the others' answers and timeouts.
constexpr int max_datagrams_per_wake = 256;

void init_cares_once() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct ChannelDeleter {
  void operator()(ares_channel channel) const { ares_destroy(channel); }
};
using ChannelHandle = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelDeleter>;

struct ServerListDeleter {
  void operator()(ares_addr_port_node* list) const { ares_free_data(list); }
};

// RFC 5452 9.2: query IDs nobody can predict, from the kernel's CSPRNG.
// Drawn a block at a time: one system call per 256 questions.
class QueryIdSource {
 public:
  std::optional<std::uint16_t> next() {
    if (next_ == pool_.size() && !refill()) return std::nullopt;
    return pool_[next_++];
  }

 private:
  bool refill() {
    auto* bytes = reinterpret_cast<unsigned char*>(pool_.data());
    std::size_t filled = 0;
    while (filled < sizeof pool_) {
      const ssize_t got = ::getrandom(bytes + filled, sizeof pool_ - filled, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      filled += static_cast<std::size_t>(got);
    }
    next_ = 0;
    return true;
  }

  std::array<std::uint16_t, 256> pool_{};
  std::size_t next_ = pool_.size();
};

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SocketAddress socket_address_of(const ServerAddress& server) {
  SocketAddress out;
  if (server.address.is_v4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(server.port);
    std::memcpy(&v4->sin_addr, server.address.data(), 4);
    out.length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(server.port);
    std::memcpy(&v6->sin6_addr, server.address.data(), 16);
    out.length = sizeof(sockaddr_in6);
  }
  return out;
}

// RFC 5452 9.1: a reply counts only from the address and port asked.
bool same_endpoint(const sockaddr_storage& from, const SocketAddress& server) {
  if (from.ss_family != server.storage.ss_family) return false;
  if (from.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(from);
    const auto& b = reinterpret_cast<const sockaddr_in&>(server.storage);
    return a.sin_port == b.sin_port && std::memcmp(&a.sin_addr, &b.sin_addr, sizeof a.sin_addr) == 0;
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(from);
  const auto& b = reinterpret_cast<const sockaddr_in6&>(server.storage);
  return a.sin6_port == b.sin6_port && std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof a.sin6_addr) == 0;
}

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

std::string socket_error_text(int error) {
  if (error == ECONNREFUSED) return "connection refused";
  return std::strerror(error);
}

double elapsed_ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// RFC 1035 2.3.4 and RFC 2181 11: labels of 1..63 octets of any value,
// at most 255 octets on the wire; SPF macros build names from local parts,
// spaces and all. Only the sizes, empty labels and bad escapes are errors.
std::string invalid_name_reason(std::string_view name) {
  if (name.empty() || name == ".") return "empty name";
  const auto labels = name_labels(name);
  return labels ? std::string() : labels.error().message;
}

Outcome outcome_from_rcode(std::uint8_t rcode, std::string& detail) {
  switch (static_cast<wire::Rcode>(rcode)) {
    case wire::Rcode::noerror: return Outcome::records;  // refined by the caller
    case wire::Rcode::nxdomain: return Outcome::nxdomain;
    case wire::Rcode::servfail: return Outcome::servfail;
    case wire::Rcode::refused: return Outcome::refused;
    case wire::Rcode::formerr: detail = "RCODE FORMERR"; return Outcome::network_error;
    case wire::Rcode::notimp: detail = "RCODE NOTIMP"; return Outcome::network_error;
  }
  detail = "RCODE " + std::to_string(rcode);
  return Outcome::network_error;
}

// Reads the records of the asked type out of a decoded answer, following
// the CNAME chain from the asked name the way a stub resolver does.
void fill_from_message(const wire::Message& message, Answer& answer) {
  answer.authenticated_data = message.header.ad;
  // A UDP answer with TC never comes here: the question is asked again over
  // TCP (RFC 7766 5). TC there too means even the TCP answer is incomplete;
  // read as usual, a TC answer without records came out as NODATA, a
  // definitive "no such record" from a server that never said so.
  if (message.header.tc) {
    answer.outcome = Outcome::malformed;
    answer.detail = "answer truncated (TC) even over TCP";
    return;
  }
  answer.outcome = outcome_from_rcode(message.header.rcode, answer.detail);
  if (answer.outcome != Outcome::records && answer.outcome != Outcome::nxdomain) return;

  std::string current = answer.name;
  // RFC 1034 3.6.2: follow CNAMEs unless the CNAME itself was asked for;
  // the bound keeps a hostile answer with a long or looping chain finite.
  // One link past the limit is read, so that follow_chain sees a chain
  // that is too long in this answer without asking again.
  for (std::size_t hop = 0; hop <= max_cname_links && answer.type != RrType::CNAME; ++hop) {
    auto cname = std::find_if(message.answers.begin(), message.answers.end(), [&](const Record& r) {
      return r.type == RrType::CNAME && r.owner == current;
    });
    if (cname == message.answers.end()) break;
    const bool seen = std::any_of(answer.cname_chain.begin(), answer.cname_chain.end(),
                                  [&](const Record& earlier) { return earlier.owner == current; });
    if (seen) break;  // a loop: follow_chain reports it
    answer.cname_chain.push_back(*cname);
    current = std::get<NameData>(cname->data).target;
  }
  if (answer.outcome == Outcome::nxdomain) return;
  for (const auto& record : message.answers)
    if (record.type == answer.type && record.owner == current) answer.records.push_back(record);
  // Records of other names are never taken (above), but an answer section
  // holding nothing else does not answer our question either: read as
  // NODATA it would say the name has no such records when the server
  // answered for another name (a broken or spoofing server).
  const bool about_the_name =
      !answer.cname_chain.empty() || std::any_of(message.answers.begin(), message.answers.end(),
                                                 [&](const Record& record) { return record.owner == answer.name; });
  if (!message.answers.empty() && !about_the_name) {
    answer.outcome = Outcome::malformed;
    answer.detail = "the answer holds only records of other names (" + message.answers.front().owner + ")";
    return;
  }
  answer.outcome = answer.records.empty() ? Outcome::nodata : Outcome::records;
}

Answer local_failure(std::string name, RrType type, Outcome outcome, std::string detail) {
  Answer answer;
  answer.name = std::move(name);
  answer.type = type;
  answer.outcome = outcome;
  answer.detail = std::move(detail);
  answer.source = "local";
  return answer;
}

// Worth asking the next server: the answer says nothing about the name.
bool should_fail_over(Outcome outcome) { return !is_definitive(outcome); }

}  // namespace

std::string ServerAddress::to_string() const {
  const std::string host = address.is_v4() ? address.to_string() : "[" + address.to_string() + "]";
  return host + ":" + std::to_string(port);
}

Result<ServerAddress> parse_server_address(std::string_view text) {
  const std::string shown(text);
  std::string_view host = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad_input("DNS server \"" + shown + "\": missing ']'");
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad_input("DNS server \"" + shown + "\": expected ':PORT' after ']'");
      port_text = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  ServerAddress server;
  const auto address = IpAddress::parse(host);
  if (!address) return bad_input("DNS server \"" + shown + "\": not an IP address (use HOST[:PORT] or [IPv6]:PORT)");
  server.address = *address;
  if (!port_text.empty() || (text.size() > 0 && text.back() == ':')) {
    unsigned port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return bad_input("DNS server \"" + shown + "\": port must be 1-65535");
    server.port = static_cast<std::uint16_t>(port);
  }
  return server;
}

Result<std::vector<ServerAddress>> system_servers() {
  init_cares_once();
  ares_channel raw = nullptr;
  if (const int status = ares_init(&raw); status != ARES_SUCCESS)
    return unavailable(std::string("cannot read the system resolver configuration: ") + ares_strerror(status));
  ChannelHandle channel(raw);
  ares_addr_port_node* raw_list = nullptr;
  if (const int status = ares_get_servers_ports(channel.get(), &raw_list); status != ARES_SUCCESS)
    return unavailable(std::string("cannot list the system's DNS servers: ") + ares_strerror(status));
  std::unique_ptr<ares_addr_port_node, ServerListDeleter> list(raw_list);
  std::vector<ServerAddress> servers;
  for (auto* node = list.get(); node; node = node->next) {
    ServerAddress server;
    if (node->family == AF_INET) {
      std::array<std::uint8_t, 4> bytes{};
      std::memcpy(bytes.data(), &node->addr.addr4, 4);
      server.address = IpAddress::v4(bytes);
    } else if (node->family == AF_INET6) {
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &node->addr.addr6, 16);
      server.address = IpAddress::v6(bytes);
    } else {
      continue;
    }
    server.port = node->udp_port ? static_cast<std::uint16_t>(node->udp_port) : 53;
    servers.push_back(server);
  }
  if (servers.empty()) return unavailable("no DNS servers in /etc/resolv.conf; use --dns HOST[:PORT]");
  return servers;
}

std::string format_log_entry(const QueryLogEntry& entry) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.1f ms", entry.elapsed_ms);
  std::string line = "dns: " + entry.name + " " + std::string(to_string(entry.type)) + " @" + entry.server + " -> " +
                     std::string(to_string(entry.outcome));
  if (!entry.detail.empty()) line += " (" + entry.detail + ")";
  if (entry.authenticated_data) line += " ad";
  return line + " " + elapsed;
}

std::chrono::milliseconds attempt_timeout_for_budget(std::chrono::milliseconds budget, int tries) {
  const long long rounds = (1LL << std::clamp(tries, 1, 16)) - 1;
  return std::max(std::chrono::milliseconds(1), std::chrono::milliseconds(budget.count() / rounds));
}

struct Resolver::Impl {
  enum class Transport : std::uint8_t { udp, tcp };

  struct Question {
    std::string asked_name;     // what the caller asked: the key of the answer
    std::string name;           // what is asked now: asked_name or a CNAME target
    std::vector<Record> chain;  // CNAMEs followed in earlier steps
    RrType type = RrType::A;
    std::size_t server_index = 0;
    std::optional<std::size_t> pinned_server;  // query_at: this server only
    Clock::time_point asked_at;  // first step: elapsed_ms of the final answer
    Clock::time_point started;   // this server: elapsed_ms of its log entry

    // The exchange with the current server. RFC 5452 9.2: a random ID and a
    // socket of its own, whose port the kernel picks at random from the
    // ephemeral range when it is connected (an implicit bind to port 0).
    // The tries at one server resend the same query on the same socket, so
    // a late answer to an earlier try still counts, as with c-ares.
    std::uint16_t id = 0;
    std::vector<std::uint8_t> packet;  // the query as sent
    wire::Question expected;           // what an answer must repeat, as the decoder reads it
    UniqueFd socket;
    Transport transport = Transport::udp;
    int try_index = 0;
    Clock::time_point deadline;  // of this try
    // TCP (RFC 1035 4.2.2): the length-prefixed query, how much of it is
    // out, and what came back so far (at most one 65,535-octet message).
    bool tcp_connected = false;
    std::vector<std::uint8_t> tcp_out;
    std::size_t tcp_sent = 0;
    std::vector<std::uint8_t> tcp_in;
    // Set once the exchange has ended; the poll loop then concludes it.
    std::optional<Answer> result;
  };
  struct Finished {
    Answer answer;
    Callback callback;
  };

  ResolverConfig config;
  std::vector<SocketAddress> endpoints;  // endpoints[i]: config.servers[i]
  QueryIdSource query_ids;
  std::deque<std::unique_ptr<Question>> waiting;
  std::vector<std::unique_ptr<Question>> in_flight;  // on the wire: at most max_outstanding
  std::deque<Finished> finished;
  std::vector<QueryLogEntry> log;
  std::vector<std::uint8_t> datagram = std::vector<std::uint8_t>(max_message_octets);

  // Each (name, type) is asked once per resolver: a check of 1,000 domains
  // that share one MX host asks for its address once, and callers asking
  // while it is in flight wait for the same answer. Failures are kept too:
  // a run is one snapshot, and retrying is the fail-over's job.
  struct SharedAnswer {
    bool done = false;
    Answer answer;
    std::vector<Callback> waiters;
  };
  // A question asked of one chosen server (query_at) is its own question:
  // its answer is that server's, not the resolver's.
  struct QuestionKey {
    std::string name;
    RrType type = RrType::A;
    std::optional<std::size_t> pinned_server;
    bool operator==(const QuestionKey&) const = default;
  };
  struct QuestionKeyHash {
    std::size_t operator()(const QuestionKey& key) const {
      return std::hash<std::string>{}(key.name) ^ (static_cast<std::size_t>(key.type) * 0x9E3779B97F4A7C15ULL) ^
             (key.pinned_server ? (*key.pinned_server + 1) * 0xC2B2AE3D27D4EB4FULL : 0);
    }
  };
  std::unordered_map<QuestionKey, SharedAnswer, QuestionKeyHash> answers;

  void record(const Answer& answer) {
    if (!config.on_log && !config.keep_log) return;
    QueryLogEntry entry{answer.name, answer.type, answer.source, answer.outcome,
                        answer.detail, answer.authenticated_data, answer.elapsed_ms};
    if (config.on_log) config.on_log(entry);
    if (config.keep_log) log.push_back(std::move(entry));
  }

  // The question's final answer goes to everyone waiting for it, from run().
  void complete(const Question& question, Answer answer) {
    answer.name = question.asked_name;
    answer.elapsed_ms = elapsed_ms_since(question.asked_at);
    auto& shared = answers[{question.asked_name, question.type, question.pinned_server}];
    shared.done = true;
    for (auto& waiter : shared.waiters) finished.push_back({answer, std::move(waiter)});
    shared.waiters.clear();
    shared.answer = std::move(answer);
  }

  // Adds the chain of earlier steps to an answer and says whether the
  // question must go on at the chain's new end: NOERROR with CNAMEs but no
  // records, because the server (or the overlay) is not authoritative for
  // the target. Bounded, and a loop is a server failure, not an absence.
  bool follow_chain(const Question& question, Answer& answer) const {
    const bool new_cnames = !answer.cname_chain.empty();
    answer.cname_chain.insert(answer.cname_chain.begin(), question.chain.begin(), question.chain.end());
    // Checked whatever the outcome: the limit once applied only before
    // going on, so a chain of exactly 16 links failed when chased and
    // passed in one answer, and one split over two answers could reach 31.
    if (answer.cname_chain.size() > max_cname_links) {
      answer.outcome = Outcome::servfail;
      answer.records.clear();
      answer.detail = "CNAME chain longer than " + std::to_string(max_cname_links) + " links";
      return false;
    }
    if (!new_cnames || answer.outcome != Outcome::nodata || answer.type == RrType::CNAME) return false;
    const std::string target = std::get<NameData>(answer.cname_chain.back().data).target;
    if (std::any_of(answer.cname_chain.begin(), answer.cname_chain.end(),
                    [&](const Record& cname) { return cname.owner == target; })) {
      answer.outcome = Outcome::servfail;
      answer.detail = "CNAME loop at " + target;
      return false;
    }
    answer.detail = "CNAME to " + target + ", following";
    return true;
  }

  // Takes a question one step: the zone overlay answers the names it
  // covers, everything else waits for the wire.
  void advance(std::unique_ptr<Question> question) {
    if (question->pinned_server) {
      // Neither the overlay nor another server may answer for the chosen one.
      question->server_index = *question->pinned_server;
      waiting.push_back(std::move(question));
      return;
    }
    if (config.zones && config.zones->covers(question->name)) {
      Answer answer = config.zones->answer(question->name, question->type);
      const bool go_on = follow_chain(*question, answer);
      record(answer);
      if (go_on) {
        question->name = std::get<NameData>(answer.cname_chain.back().data).target;
        question->chain = std::move(answer.cname_chain);
        advance(std::move(question));  // bounded by follow_chain's max_cname_links
        return;
      }
      complete(*question, std::move(answer));
      return;
    }
    if (config.servers.empty()) {
      Answer answer = local_failure(question->name, question->type, Outcome::network_error,
                                    "no DNS server configured (use --dns HOST[:PORT])");
      record(answer);
      complete(*question, std::move(answer));
      return;
    }
    question->server_index = 0;
    waiting.push_back(std::move(question));
  }

  // ---- the exchange with one server

  Answer exchange_answer(const Question& question, Outcome outcome, std::string detail = {}) const {
    Answer answer;
    answer.name = question.name;
    answer.type = question.type;
    answer.source = config.servers[question.server_index].to_string();
    answer.elapsed_ms = elapsed_ms_since(question.started);
    answer.outcome = outcome;
    answer.detail = std::move(detail);
    return answer;
  }

  void end_exchange(Question& question, Outcome outcome, std::string detail = {}) {
    question.result = exchange_answer(question, outcome, std::move(detail));
  }

  // Puts the question on the wire to its current server, or ends the
  // exchange with the reason it cannot be.
  void send(std::unique_ptr<Question> question) {
    question->started = Clock::now();
    question->transport = Transport::udp;
    question->try_index = 0;
    question->socket.reset();
    if (const auto id = query_ids.next()) {
      question->id = *id;
      question->packet = wire::encode_query(question->id, question->name, question->type, config.edns_udp_size);
      const auto sent = wire::decode_question_section(question->packet);
      if (question->packet.empty() || !sent || sent->questions.size() != 1) {
        end_exchange(*question, Outcome::malformed, "the name cannot be sent: " + question->name);
      } else {
        question->expected = sent->questions.front();
        start_try(*question);
      }
    } else {
      end_exchange(*question, Outcome::network_error,
                   std::string("no random query ID: getrandom: ") + std::strerror(errno));
    }
    if (question->result) {
      conclude(std::move(question));
      return;
    }
    in_flight.push_back(std::move(question));
  }

  // One try: attempt_timeout, doubled for each earlier try (the back-off c-ares had).
  void start_try(Question& question) {
    const int shift = std::min(question.try_index, 20);
    question.deadline = Clock::now() + config.attempt_timeout * (1LL << shift);
    const SocketAddress& server = endpoints[question.server_index];
    if (question.transport == Transport::udp) {
      if (!question.socket.valid()) {
        question.socket = UniqueFd(::socket(server.storage.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        // Connected, the socket hears only the server (the kernel filters
        // other sources; read_udp checks again) and hears its ICMP errors.
        if (!question.socket.valid() || ::connect(question.socket.get(), server.get(), server.length) != 0)
          return end_exchange(question, Outcome::network_error, "UDP socket: " + socket_error_text(errno));
      }
      if (::send(question.socket.get(), question.packet.data(), question.packet.size(), MSG_NOSIGNAL) < 0 &&
          !would_block(errno))
        return end_exchange(question, Outcome::network_error, socket_error_text(errno));
      return;
    }
    // TCP: a new connection per try.
    question.socket = UniqueFd(::socket(server.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!question.socket.valid())
      return end_exchange(question, Outcome::network_error, "TCP socket: " + socket_error_text(errno));
    if (::connect(question.socket.get(), server.get(), server.length) != 0 && errno != EINPROGRESS)
      return end_exchange(question, Outcome::network_error, "TCP: " + socket_error_text(errno));
    question.tcp_connected = false;
    question.tcp_out.clear();
    question.tcp_out.push_back(static_cast<std::uint8_t>(question.packet.size() >> 8));
    question.tcp_out.push_back(static_cast<std::uint8_t>(question.packet.size() & 0xFF));
    question.tcp_out.insert(question.tcp_out.end(), question.packet.begin(), question.packet.end());
    question.tcp_sent = 0;
    question.tcp_in.clear();
  }

  // A message that came back on the question's socket. Ends the exchange
  // when it answers the question; anything else is dropped and the wait
  // goes on (RFC 5452 9.1): a forgery must neither end nor fail it.
  void take_reply(Question& question, std::span<const std::uint8_t> bytes) {
    if (bytes.size() < 2 || (bytes[0] << 8 | bytes[1]) != question.id) return;
    const auto head = wire::decode_question_section(bytes);
    if (!head || !head->header.qr || head->header.opcode != 0 || head->questions.size() != 1) return;
    // Names as the decoder writes them, lower case: equal when the wire
    // names are equal but for ASCII case.
    if (head->questions.front() != question.expected) return;

    // From here on the reply is the server's answer to our question.
    auto message = wire::decode_message(bytes);
    if (!message) return end_exchange(question, Outcome::malformed, message.error().message);
    if (message->header.tc && question.transport == Transport::udp) {
      // RFC 7766 5: truncated over UDP, asked again over TCP in the same try.
      question.transport = Transport::tcp;
      return start_try(question);
    }
    Answer answer = exchange_answer(question, Outcome::records);
    fill_from_message(*message, answer);
    question.result = std::move(answer);
    on_network_answer();
  }

  void read_udp(Question& question) {
    // Until an answer ends the exchange or a truncated one moves it to TCP.
    for (int count = 0; count < max_datagrams_per_wake && !question.result && question.transport == Transport::udp;
         ++count) {
      sockaddr_storage from{};
      socklen_t from_length = sizeof from;
      const ssize_t got = ::recvfrom(question.socket.get(), datagram.data(), datagram.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_length);
      if (got < 0) {
        if (!would_block(errno)) end_exchange(question, Outcome::network_error, socket_error_text(errno));
        return;
      }
      if (!same_endpoint(from, endpoints[question.server_index])) continue;
      take_reply(question, std::span(datagram.data(), static_cast<std::size_t>(got)));
    }
  }

  void service_tcp(Question& question, short events) {
    if (!question.tcp_connected) {
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(question.socket.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) return end_exchange(question, Outcome::network_error, "TCP: " + socket_error_text(error));
      if (events & (POLLERR | POLLHUP))
        return end_exchange(question, Outcome::network_error, "TCP: the connection failed");
      question.tcp_connected = true;
    }
    while (question.tcp_sent < question.tcp_out.size()) {
      const ssize_t sent = ::send(question.socket.get(), question.tcp_out.data() + question.tcp_sent,
                                  question.tcp_out.size() - question.tcp_sent, MSG_NOSIGNAL);
      if (sent < 0) {
        if (would_block(errno)) return;
        return end_exchange(question, Outcome::network_error, "TCP: " + socket_error_text(errno));
      }
      question.tcp_sent += static_cast<std::size_t>(sent);
    }
    // Reads no more than the message in hand still needs: every read is
    // bounded by the 2-octet length prefix.
    std::vector<std::uint8_t>& in = question.tcp_in;
    while (!question.result) {
      const std::size_t length = in.size() < 2 ? 0 : std::size_t{in[0]} << 8 | in[1];
      if (in.size() >= 2 && in.size() == 2 + length) {
        take_reply(question, std::span(in).subspan(2));
        in.clear();  // not ours, if the exchange goes on: the next message may be
        continue;
      }
      const std::size_t wanted = in.size() < 2 ? 2 : 2 + length;
      const std::size_t before = in.size();
      in.resize(wanted);
      const ssize_t got = ::recv(question.socket.get(), in.data() + before, wanted - before, 0);
      in.resize(before + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
      if (got < 0) {
        if (!would_block(errno)) end_exchange(question, Outcome::network_error, "TCP: " + socket_error_text(errno));
        return;
      }
      if (got == 0)
        return end_exchange(question, Outcome::network_error, "TCP: the server closed the connection without an answer");
    }
  }

  // A try ran out: the next one, or a timeout.
  void expire(Question& question) {
    on_try_expired(question);
    if (question.try_index + 1 >= std::max(1, config.tries)) return end_exchange(question, Outcome::timeout);
    ++question.try_index;
    start_try(question);
  }

  // The exchange's answer, judged: CNAMEs to chase, the next server, or
  // the final answer.
  void conclude(std::unique_ptr<Question> question) {
    Answer answer = std::move(*question->result);
    question->result.reset();
    question->socket.reset();
    // Decided on what the server said, before follow_chain judges the
    // chain: a CNAME loop or a chain over the limit is in the data, and
    // asking the next server about it only replaced that verdict with the
    // next server's answer (REFUSED from one that lacks the zone).
    const bool server_failed = should_fail_over(answer.outcome);
    const bool go_on = follow_chain(*question, answer);
    record(answer);

    if (go_on) {
      question->name = std::get<NameData>(answer.cname_chain.back().data).target;
      question->chain = std::move(answer.cname_chain);
      advance(std::move(question));
      return;
    }
    if (server_failed && !question->pinned_server && question->server_index + 1 < config.servers.size()) {
      ++question->server_index;
      waiting.push_front(std::move(question));
      return;
    }
    complete(*question, std::move(answer));
  }

  void ask(std::string_view name, RrType type, std::optional<std::size_t> pinned_server, Callback callback) {
    std::string canonical = canonical_name(name);
    if (const std::string reason = invalid_name_reason(name); !reason.empty()) {
      Answer answer = local_failure(canonical, type, Outcome::malformed,
                                    "invalid query name \"" + std::string(name) + "\": " + reason);
      record(answer);
      finished.push_back({std::move(answer), std::move(callback)});
      return;
    }
    if (pinned_server && *pinned_server >= config.servers.size()) {
      Answer answer = local_failure(canonical, type, Outcome::network_error,
                                    "no DNS server number " + std::to_string(*pinned_server + 1) + " is configured");
      record(answer);
      finished.push_back({std::move(answer), std::move(callback)});
      return;
    }
    auto& shared = answers[{canonical, type, pinned_server}];
    if (shared.done) {
      finished.push_back({shared.answer, std::move(callback)});
      return;
    }
    const bool already_asked = !shared.waiters.empty();
    shared.waiters.push_back(std::move(callback));
    if (already_asked) return;
    auto question = std::make_unique<Question>();
    question->asked_name = canonical;
    question->name = std::move(canonical);
    question->type = type;
    question->pinned_server = pinned_server;
    question->asked_at = Clock::now();
    advance(std::move(question));
  }

  // The window: how many questions may be on the wire, adapted the way TCP
  // adapts to loss (AIMD). It starts at max_outstanding and, once it has
  // shrunk, grows by one question for a window's worth of answers. A try
  // that runs out while the server kept answering others is loss: the
  // server (or a buffer on the way) drops a burst, and a smaller window
  // keeps the next burst from costing a retry timeout each. Losses from one
  // burst (tries sent before the last cut) halve it once. A try that runs
  // out while the server answers nothing is silence, not loss: the window
  // stays, so a silent server costs one timeout for all, not one each.
  static constexpr double min_window = 8;
  double window = 0;  // 0 until the first fill: config.max_outstanding
  Clock::time_point last_answer_at{};
  Clock::time_point last_cut_at{};

  std::size_t window_size() {
    const double cap = static_cast<double>(std::max<std::size_t>(config.max_outstanding, 1));
    if (window <= 0 || window > cap) window = cap;
    return static_cast<std::size_t>(window);
  }

  void on_network_answer() {
    last_answer_at = Clock::now();
    window += 1.0 / std::max(window, 1.0);
  }

  void on_try_expired(const Question& question) {
    const auto sent_at = question.deadline - config.attempt_timeout * (1LL << std::min(question.try_index, 20));
    if (last_answer_at <= sent_at || sent_at <= last_cut_at) return;
    const double cap = static_cast<double>(std::max<std::size_t>(config.max_outstanding, 1));
    window = std::max(std::min(min_window, cap), window / 2);
    last_cut_at = Clock::now();
  }

  // Sends queued questions while there is room on the wire.
  void fill_window() {
    while (!waiting.empty() && in_flight.size() < window_size()) {
      auto question = std::move(waiting.front());
      waiting.pop_front();
      send(std::move(question));
    }
  }

  void deliver_finished() {
    while (!finished.empty()) {
      Finished item = std::move(finished.front());
      finished.pop_front();
      if (item.callback) item.callback(item.answer);
    }
  }

  void wait_for_network(int timeout_ms = 1000) {
    std::vector<pollfd> fds;
    fds.reserve(in_flight.size());
    auto wake_at = Clock::now() + std::chrono::seconds(1);
    for (const auto& question : in_flight) {
      short events = POLLIN;
      if (question->transport == Transport::tcp &&
          (!question->tcp_connected || question->tcp_sent < question->tcp_out.size()))
        events |= POLLOUT;
      fds.push_back({question->socket.get(), events, 0});
      wake_at = std::min(wake_at, question->deadline);
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - Clock::now());
    ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait.count(), 0, timeout_ms)));

    // Answers first: one that came in before its deadline counts.
    for (std::size_t i = 0; i < fds.size(); ++i) {
      Question& question = *in_flight[i];
      if (!fds[i].revents || question.result) continue;
      if (question.transport == Transport::udp) {
        read_udp(question);
      } else {
        service_tcp(question, fds[i].revents);
      }
    }
    const auto now = Clock::now();
    for (auto& question : in_flight)
      if (!question->result && question->deadline <= now) expire(*question);

    // Concluding may queue questions again (the next server, a CNAME's
    // target); they go out from fill_window.
    std::vector<std::unique_ptr<Question>> ended;
    for (auto& question : in_flight)
      if (question->result) ended.push_back(std::move(question));
    std::erase(in_flight, nullptr);
    for (auto& question : ended) conclude(std::move(question));
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Questions still open (left by run_until()) are dropped with their
// callbacks, never run: those may point into state their caller has freed.
Resolver::~Resolver() = default;

Result<std::unique_ptr<Resolver>> Resolver::create(ResolverConfig config) {
  if (config.servers.empty()) {
    auto servers = system_servers();
    if (servers) {
      config.servers = std::move(servers.value());
    } else if (!config.zones || config.zones->empty()) {
      return servers.error();
    }
    // else: a run answered from --zone must work on a machine with no
    // resolver at all (the bundled demo); questions outside the zones then
    // end as network errors.
  }
  auto impl = std::make_unique<Impl>();
  for (const auto& server : config.servers) impl->endpoints.push_back(socket_address_of(server));
  impl->config = std::move(config);
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

void Resolver::query(std::string_view name, RrType type, Callback callback) {
  impl_->ask(name, type, std::nullopt, std::move(callback));
}

void Resolver::query_at(std::size_t server, std::string_view name, RrType type, Callback callback) {
  impl_->ask(name, type, server, std::move(callback));
}

void Resolver::run() { run_until(nullptr); }

void Resolver::run_until(const std::function<bool()>& done, Clock::time_point deadline) {
  Impl& impl = *impl_;
  for (;;) {
    impl.fill_window();
    if (!impl.finished.empty()) {
      impl.deliver_finished();
      continue;
    }
    if (done && done()) return;
    if (impl.in_flight.empty() && impl.waiting.empty()) return;
    const auto now = Clock::now();
    if (now >= deadline) return;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    impl.wait_for_network(static_cast<int>(std::min<long long>(1000, left)));
  }
}

Answer Resolver::resolve(std::string_view name, RrType type) {
  Answer result;
  query(name, type, [&result](const Answer& answer) { result = answer; });
  run();
  return result;
}

void Resolver::defer(std::function<void()> task) {
  impl_->finished.push_back({Answer{}, [task = std::move(task)](const Answer&) { task(); }});
}

std::shared_ptr<Work> Work::create(Resolver& resolver, std::function<void()> on_done) {
  return std::shared_ptr<Work>(new Work(resolver, std::move(on_done)));
}

void Work::query(std::string_view name, RrType type, Resolver::Callback callback) {
  ++open_;
  resolver_.query(name, type, [self = shared_from_this(), callback = std::move(callback)](const Answer& answer) {
    callback(answer);
    self->release();
  });
}

void Work::close() {
  // From the loop even when nothing was asked: on_done never runs inside
  // the start_* call, whose caller may not be ready for it.
  resolver_.defer([self = shared_from_this()] { self->release(); });
}

std::function<void()> Work::hold() {
  ++open_;
  return [self = shared_from_this(), released = std::make_shared<bool>(false)] {
    if (std::exchange(*released, true)) return;
    self->release();
  };
}

void Work::release() {
  if (--open_ == 0 && on_done_) {
    auto done = std::move(on_done_);
    on_done_ = nullptr;
    done();
  }
}

const std::vector<QueryLogEntry>& Resolver::log() const { return impl_->log; }
const std::vector<ServerAddress>& Resolver::servers() const { return impl_->config.servers; }

}  // namespace diag::dns
