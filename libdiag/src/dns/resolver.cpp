#include "diag/resolver.h"

#include <ares.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <cstdio>
#include <deque>
#include <unordered_map>
#include <mutex>

#include "diag/wire.h"

namespace diag::dns {
namespace {

using Clock = std::chrono::steady_clock;

// RFC 1034 3.6.2 has resolvers follow CNAMEs; like BIND we give up after 16
// links. The limit is the same whether the chain comes in one answer or is
// chased across several questions (follow_chain).
constexpr std::size_t max_cname_links = 16;

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

double elapsed_ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// RFC 1035 2.3.4 and RFC 2181 11: labels of 1..63 octets, names of at most
// 253 characters in text form. We do not restrict the characters (SPF
// macros build names from local parts), only refuse ones that cannot be
// sent: whitespace and control characters.
std::string invalid_name_reason(std::string_view name) {
  // One trailing dot marks an absolute name; a second one is an empty label.
  if (!name.empty() && name.back() == '.' && !(name.size() >= 2 && name[name.size() - 2] == '\\')) name.remove_suffix(1);
  if (name.empty()) return "empty name";
  if (name.size() > 253) return "name longer than 253 characters";
  std::size_t label_length = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "name contains a space or control character";
    if (c == '.') {
      if (label_length == 0) return "name has an empty label";
      label_length = 0;
      continue;
    }
    // RFC 1035 5.1: "\DDD" and "\X" are one octet on the wire.
    if (c == '\\') {
      const bool decimal = i + 3 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1])) &&
                           std::isdigit(static_cast<unsigned char>(name[i + 2])) &&
                           std::isdigit(static_cast<unsigned char>(name[i + 3]));
      i += decimal ? 3 : 1;
    }
    if (++label_length > 63) return "label longer than 63 octets";
  }
  if (label_length == 0) return "name has an empty label";
  return "";
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
  // c-ares never hands over a UDP answer with TC (we do not set
  // ARES_FLAG_IGNTC): it asks again over TCP and takes that answer as it is. TC there too means even the TCP answer
  // is incomplete; read as usual, a TC answer without records came out as
  // NODATA, a definitive "no such record" from a server that never said so.
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

Outcome outcome_from_ares_status(int status, std::string& detail) {
  switch (status) {
    case ARES_ETIMEOUT: return Outcome::timeout;
    case ARES_ESERVFAIL: return Outcome::servfail;
    case ARES_EREFUSED: return Outcome::refused;
    case ARES_EBADRESP: detail = "bad response"; return Outcome::malformed;
    case ARES_ENOTIMP: detail = "RCODE NOTIMP"; return Outcome::network_error;
    case ARES_EFORMERR: detail = "RCODE FORMERR"; return Outcome::network_error;
    case ARES_ECONNREFUSED: detail = "connection refused"; return Outcome::network_error;
    default: detail = ares_strerror(status); return Outcome::network_error;
  }
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
  struct Question {
    Impl* owner = nullptr;
    std::string asked_name;     // what the caller asked: the key of the answer
    std::string name;           // what is asked now: asked_name or a CNAME target
    std::vector<Record> chain;  // CNAMEs followed in earlier steps
    RrType type = RrType::A;
    std::size_t server_index = 0;
    std::optional<std::size_t> pinned_server;  // query_at: this server only
    Clock::time_point asked_at;  // first step: elapsed_ms of the final answer
    Clock::time_point started;   // this attempt: elapsed_ms of its log entry
  };
  struct Finished {
    Answer answer;
    Callback callback;
  };

  ResolverConfig config;
  std::vector<ChannelHandle> channels;  // channels[i] talks to config.servers[i] only
  std::deque<std::unique_ptr<Question>> waiting;
  std::size_t outstanding = 0;
  std::deque<Finished> finished;
  std::vector<QueryLogEntry> log;

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
    if (channels.empty()) {
      Answer answer = local_failure(question->name, question->type, Outcome::network_error,
                                    "no DNS server configured (use --dns HOST[:PORT])");
      record(answer);
      complete(*question, std::move(answer));
      return;
    }
    question->server_index = 0;
    waiting.push_back(std::move(question));
  }

  void send(std::unique_ptr<Question> question) {
    question->started = Clock::now();
    const auto packet = wire::encode_query(0, question->name, question->type, config.edns_udp_size);
    ++outstanding;
    auto* raw = question.release();
    // c-ares copies the packet; we get the Question back in on_cares_answer.
    ares_send(channels[raw->server_index].get(), packet.data(), static_cast<int>(packet.size()),
              &Impl::on_cares_answer, raw);
  }

  static void on_cares_answer(void* arg, int status, int /*timeouts*/, unsigned char* packet, int length) {
    std::unique_ptr<Question> question(static_cast<Question*>(arg));
    Impl& self = *question->owner;
    --self.outstanding;
    if (status == ARES_EDESTRUCTION) return;  // the resolver is going away

    Answer answer;
    answer.name = question->name;
    answer.type = question->type;
    answer.source = self.config.servers[question->server_index].to_string();
    answer.elapsed_ms = elapsed_ms_since(question->started);
    if (status == ARES_SUCCESS) {
      auto message = wire::decode_message({packet, static_cast<std::size_t>(length)});
      if (message) {
        fill_from_message(*message, answer);
      } else {
        answer.outcome = Outcome::malformed;
        answer.detail = message.error().message;
      }
    } else {
      answer.outcome = outcome_from_ares_status(status, answer.detail);
    }
    // Decided on what the server said, before follow_chain judges the
    // chain: a CNAME loop or a chain over the limit is in the data, and
    // asking the next server about it only replaced that verdict with the
    // next server's answer (REFUSED from one that lacks the zone).
    const bool server_failed = should_fail_over(answer.outcome);
    const bool go_on = self.follow_chain(*question, answer);
    self.record(answer);

    if (go_on) {
      question->name = std::get<NameData>(answer.cname_chain.back().data).target;
      question->chain = std::move(answer.cname_chain);
      self.advance(std::move(question));
      return;
    }
    if (server_failed && !question->pinned_server && question->server_index + 1 < self.channels.size()) {
      ++question->server_index;
      self.waiting.push_front(std::move(question));
      return;
    }
    self.complete(*question, std::move(answer));
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
    if (pinned_server && *pinned_server >= channels.size()) {
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
    question->owner = this;
    question->asked_name = canonical;
    question->name = std::move(canonical);
    question->type = type;
    question->pinned_server = pinned_server;
    question->asked_at = Clock::now();
    advance(std::move(question));
  }

  // Sends queued questions while there is room on the wire.
  void fill_window() {
    while (!waiting.empty() && outstanding < std::max<std::size_t>(config.max_outstanding, 1)) {
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
    std::vector<std::size_t> fd_channel;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
      const int bits = ares_getsock(channels[i].get(), sockets, ARES_GETSOCK_MAXNUM);
      for (int s = 0; s < ARES_GETSOCK_MAXNUM; ++s) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, s)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, s)) events |= POLLOUT;
        if (!events) continue;
        fds.push_back({sockets[s], events, 0});
        fd_channel.push_back(i);
      }
      timeval max_wait{1, 0};
      timeval wait{};
      if (const timeval* next = ares_timeout(channels[i].get(), &max_wait, &wait)) {
        const long long ms = next->tv_sec * 1000LL + (next->tv_usec + 999) / 1000;
        timeout_ms = std::min<int>(timeout_ms, static_cast<int>(ms));
      }
    }
    ::poll(fds.data(), fds.size(), timeout_ms);
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      const bool readable = fds[k].revents & (POLLIN | POLLERR | POLLHUP);
      const bool writable = fds[k].revents & POLLOUT;
      ares_process_fd(channels[fd_channel[k]].get(), readable ? fds[k].fd : ARES_SOCKET_BAD,
                      writable ? fds[k].fd : ARES_SOCKET_BAD);
    }
    // Lets c-ares expire timed-out attempts on every channel.
    for (auto& channel : channels) ares_process_fd(channel.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Resolver::~Resolver() {
  // Questions left open by run_until() are cancelled: their callbacks (which
  // may point into state their caller has freed) are dropped, never run.
  impl_->finished.clear();
  impl_->answers.clear();
  // Destroying the channels runs the callbacks of questions still in flight
  // with ARES_EDESTRUCTION; they must find a live Impl, which they drop.
  impl_->channels.clear();
}

Result<std::unique_ptr<Resolver>> Resolver::create(ResolverConfig config) {
  init_cares_once();
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
  for (const auto& server : config.servers) {
    ares_options options{};
    // NOSEARCH/NOALIASES: names are always absolute here; no search list,
    // no HOSTALIASES surprises. NOCHECKRESP: c-ares 1.18's ares_send turns
    // SERVFAIL and REFUSED into ARES_ECONNREFUSED; we want the real RCODE
    // and do the fail-over to the next server ourselves.
    // EDNS + EDNSPSZ: without them c-ares reads at most 512 octets over UDP
    // and retries anything longer over TCP, although our query offers
    // edns_udp_size (RFC 6891 6.2.5).
    options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    if (config.edns_udp_size > 512) {
      options.flags |= ARES_FLAG_EDNS;
      options.ednspsz = config.edns_udp_size;
    }
    options.timeout = static_cast<int>(std::max<long long>(1, config.attempt_timeout.count()));
    options.tries = std::max(1, config.tries);
    ares_channel raw = nullptr;
    // With hundreds of questions in flight, the answers arrive in a burst
    // while we run callbacks; the default 208 KiB receive buffer holds about
    // 200 of them and the kernel drops the rest, which costs a full retry
    // timeout each. Ask for 1 MiB (the kernel caps it at net.core.rmem_max).
    options.socket_receive_buffer_size = 1 << 20;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_RCVBUF;
    if (const int status = ares_init_options(&raw, &options, mask); status != ARES_SUCCESS)
      return unavailable(std::string("cannot start the resolver: ") + ares_strerror(status));
    ChannelHandle channel(raw);

    ares_addr_port_node node{};
    node.family = server.address.is_v4() ? AF_INET : AF_INET6;
    std::memcpy(server.address.is_v4() ? static_cast<void*>(&node.addr.addr4) : static_cast<void*>(&node.addr.addr6),
                server.address.data(), server.address.size());
    node.udp_port = server.port;
    node.tcp_port = server.port;
    if (const int status = ares_set_servers_ports(channel.get(), &node); status != ARES_SUCCESS)
      return unavailable("cannot use DNS server " + server.to_string() + ": " + ares_strerror(status));
    impl->channels.push_back(std::move(channel));
  }
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
    if (impl.outstanding == 0 && impl.waiting.empty()) return;
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

const std::vector<QueryLogEntry>& Resolver::log() const { return impl_->log; }
const std::vector<ServerAddress>& Resolver::servers() const { return impl_->config.servers; }

}  // namespace diag::dns
