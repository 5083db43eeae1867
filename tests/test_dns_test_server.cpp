// The loopback DNS server checked with plain sockets: if it misbehaves,
// every resolver test built on it proves nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "diag/wire.h"
#include "diag/zone.h"
#include "dns_test_server.h"

extern char** environ;

using namespace std::chrono_literals;
using namespace sendcheck::testing;
using diag::dns::RrType;
namespace wire = diag::dns::wire;

namespace {

constexpr auto no_answer_wait = 250ms;  // as c-ares' tests: long enough on loopback
constexpr auto answer_wait = 2000ms;

const char* const test_zone = R"(
$ORIGIN sendcheck.test.
$TTL 300
@        IN SOA  ns1.sendcheck.test. hostmaster.sendcheck.test. 1 3600 600 86400 300
         IN NS   ns1.sendcheck.test.
ns1      IN A    192.0.2.53
mail     IN A    192.0.2.25
         IN AAAA 2001:db8::25
contoso  IN MX   0 mail.sendcheck.test.
www      IN CNAME mail.sendcheck.test.
slow     IN A    192.0.2.1
fast     IN A    192.0.2.2
)";

// The test zone plus twelve TXT records of 150 octets at "big": more than
// 512 octets, so a UDP answer without EDNS must be truncated.
std::string test_zone_with_big_txt() {
  std::string text = test_zone;
  for (int i = 0; i < 12; ++i) text += "big IN TXT \"" + std::to_string(i) + std::string(150, 'x') + "\"\n";
  return text;
}

DnsTestServerConfig config_with_test_zones() {
  DnsTestServerConfig config;
  auto zone = diag::dns::parse_zone_text(test_zone_with_big_txt(), "test.zone");
  if (!zone) FAIL("zone: " << zone.error().message);
  config.zones.add(std::move(zone).value());
  return config;
}

std::unique_ptr<DnsTestServer> start_server(DnsTestServerConfig config) {
  auto server = DnsTestServer::start(std::move(config));
  if (!server) FAIL("server: " << server.error().message);
  return std::move(server).value();
}

std::unique_ptr<DnsTestServer> start_server() { return start_server(config_with_test_zones()); }

class ClientSocket {
 public:
  ClientSocket(int family, int type, std::uint16_t port) : fd_(::socket(family, type | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    int result = -1;
    if (family == AF_INET) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      result = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    } else {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      address.sin6_addr = in6addr_loopback;
      result = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    }
    REQUIRE(result == 0);
  }
  ~ClientSocket() { ::close(fd_); }
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  bool readable_within(std::chrono::milliseconds wait) const {
    pollfd watched{fd_, POLLIN, 0};
    return ::poll(&watched, 1, static_cast<int>(wait.count())) == 1;
  }

  // UDP: one datagram.
  void send_datagram(const std::vector<std::uint8_t>& bytes) const {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  }
  std::optional<std::vector<std::uint8_t>> receive_datagram(std::chrono::milliseconds wait) const {
    if (!readable_within(wait)) return std::nullopt;
    std::vector<std::uint8_t> buffer(65535);
    const ssize_t received = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (received < 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(received));
    return buffer;
  }

  // TCP: messages with their 2-octet length.
  void send_messages(const std::vector<std::vector<std::uint8_t>>& messages) const {
    std::vector<std::uint8_t> stream;
    for (const auto& message : messages) {
      stream.push_back(static_cast<std::uint8_t>(message.size() >> 8));
      stream.push_back(static_cast<std::uint8_t>(message.size()));
      stream.insert(stream.end(), message.begin(), message.end());
    }
    REQUIRE(::send(fd_, stream.data(), stream.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(stream.size()));
  }
  std::optional<std::vector<std::uint8_t>> receive_message(std::chrono::milliseconds wait) const {
    std::array<std::uint8_t, 2> length{};
    if (!receive_exactly(length.data(), 2, wait)) return std::nullopt;
    std::vector<std::uint8_t> message(static_cast<std::size_t>(length[0] << 8 | length[1]));
    if (!receive_exactly(message.data(), message.size(), wait)) return std::nullopt;
    return message;
  }
  void finish_sending() const { ::shutdown(fd_, SHUT_WR); }
  // True when the server closed the connection within wait.
  bool closed_within(std::chrono::milliseconds wait) const {
    if (!readable_within(wait)) return false;
    std::uint8_t octet = 0;
    return ::recv(fd_, &octet, 1, 0) <= 0;
  }

 private:
  bool receive_exactly(std::uint8_t* out, std::size_t count, std::chrono::milliseconds wait) const {
    while (count > 0) {
      if (!readable_within(wait)) return false;
      const ssize_t received = ::recv(fd_, out, count, 0);
      if (received <= 0) return false;
      out += received;
      count -= static_cast<std::size_t>(received);
    }
    return true;
  }

  int fd_;
};

wire::Message decode(const std::vector<std::uint8_t>& bytes) {
  auto decoded = wire::decode_message(bytes);
  if (!decoded) FAIL("reply does not decode: " << decoded.error().message);
  return std::move(decoded).value();
}

// One query over UDP, the decoded reply.
wire::Message ask_udp(const DnsTestServer& server, std::string_view name, RrType type, std::uint16_t id = 0x5EC0,
                      std::uint16_t edns_udp_size = 1232, int family = AF_INET) {
  const ClientSocket client(family, SOCK_DGRAM, server.port());
  client.send_datagram(wire::encode_query(id, name, type, edns_udp_size));
  const auto reply = client.receive_datagram(answer_wait);
  if (!reply) FAIL("no UDP reply for " << name);
  return decode(*reply);
}

wire::Message ask_tcp(const DnsTestServer& server, std::string_view name, RrType type, std::uint16_t id = 0x5EC1) {
  const ClientSocket client(AF_INET, SOCK_STREAM, server.port());
  client.send_messages({wire::encode_query(id, name, type)});
  const auto reply = client.receive_message(answer_wait);
  if (!reply) FAIL("no TCP reply for " << name);
  return decode(*reply);
}

std::filesystem::path temporary_file(const std::string& name, const std::string& contents) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sendcheck-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << contents;
  return path;
}

}  // namespace

TEST_CASE("test server answers from its zones over UDP, IPv4 and IPv6", "[testserver]") {
  const auto server = start_server();
  REQUIRE(server->port() != 0);
  CHECK(server->endpoint_v4() == "127.0.0.1:" + std::to_string(server->port()));

  std::vector<int> families{AF_INET};
  if (server->has_ipv6()) {
    families.push_back(AF_INET6);
    CHECK(server->endpoint_v6() == "[::1]:" + std::to_string(server->port()));
  }
  for (const int family : families) {
    const auto reply = ask_udp(*server, "contoso.sendcheck.test", RrType::MX, 0x1234, 1232, family);
    CHECK(reply.header.id == 0x1234);
    CHECK(reply.header.qr);
    CHECK(reply.header.aa);
    CHECK(reply.header.ra);
    CHECK(reply.header.rd);
    CHECK_FALSE(reply.header.ad);  // asked for, but the server does not validate
    CHECK(reply.header.rcode == 0);
    REQUIRE(reply.questions.size() == 1);
    CHECK(reply.questions[0].name == "contoso.sendcheck.test");
    CHECK(reply.questions[0].type == 15);
    REQUIRE(reply.answers.size() == 1);
    CHECK(reply.answers[0].data_text() == "0 mail.sendcheck.test.");
    CHECK(reply.has_edns);
  }
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::udp) == families.size());
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::tcp) == 0);
}

TEST_CASE("test server matches names case-insensitively", "[testserver]") {
  const auto server = start_server();
  const auto reply = ask_udp(*server, "CONTOSO.SendCheck.Test.", RrType::MX);
  CHECK(reply.answers.size() == 1);
  CHECK(server->queries_received("Contoso.sendcheck.test.", RrType::MX) == 1);
}

TEST_CASE("test server: NXDOMAIN, NODATA, CNAME chains, REFUSED outside its zones", "[testserver]") {
  const auto server = start_server();

  const auto nxdomain = ask_udp(*server, "nowhere.sendcheck.test", RrType::A);
  CHECK(nxdomain.header.rcode == static_cast<std::uint8_t>(wire::Rcode::nxdomain));
  CHECK(nxdomain.answers.empty());
  REQUIRE(nxdomain.authority.size() == 1);  // RFC 2308 3
  CHECK(nxdomain.authority[0].type == RrType::SOA);

  const auto nodata = ask_udp(*server, "mail.sendcheck.test", RrType::MX);
  CHECK(nodata.header.rcode == 0);
  CHECK(nodata.answers.empty());
  CHECK(nodata.authority.size() == 1);

  const auto chain = ask_udp(*server, "www.sendcheck.test", RrType::A);
  REQUIRE(chain.answers.size() == 2);
  CHECK(chain.answers[0].type == RrType::CNAME);
  CHECK(chain.answers[1].data_text() == "192.0.2.25");

  const auto outside = ask_udp(*server, "example.org", RrType::A);
  CHECK(outside.header.rcode == static_cast<std::uint8_t>(wire::Rcode::refused));
  CHECK_FALSE(outside.header.aa);
}

TEST_CASE("test server speaks TCP with length framing, several queries per connection", "[testserver]") {
  const auto server = start_server();
  const ClientSocket client(AF_INET, SOCK_STREAM, server->port());
  client.send_messages({wire::encode_query(1, "mail.sendcheck.test", RrType::A),
                        wire::encode_query(2, "mail.sendcheck.test", RrType::AAAA)});
  const auto first = client.receive_message(answer_wait);
  const auto second = client.receive_message(answer_wait);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(decode(*first).header.id == 1);
  CHECK(decode(*first).answers.at(0).data_text() == "192.0.2.25");
  CHECK(decode(*second).header.id == 2);
  CHECK(decode(*second).answers.at(0).data_text() == "2001:db8::25");
  CHECK(server->queries_received("mail.sendcheck.test", RrType::A, Transport::tcp) == 1);
}

TEST_CASE("test server answers a TCP client that has shut its sending side", "[testserver]") {
  const auto server = start_server();
  server->add_fault("slow.sendcheck.test", RrType::A, Fault::delayed_by(100ms));
  const ClientSocket client(AF_INET, SOCK_STREAM, server->port());
  client.send_messages({wire::encode_query(1, "slow.sendcheck.test", RrType::A),
                        wire::encode_query(2, "fast.sendcheck.test", RrType::A)});
  client.finish_sending();
  const auto first = client.receive_message(answer_wait);
  const auto second = client.receive_message(answer_wait);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(decode(*first).header.id == 2);
  CHECK(decode(*second).header.id == 1);
  // Everything sent, the server closes its side.
  CHECK(client.closed_within(answer_wait));
}

TEST_CASE("test server truncates big UDP answers, TCP carries them whole", "[testserver]") {
  const auto server = start_server();
  const auto over_udp = ask_udp(*server, "big.sendcheck.test", RrType::TXT, 7, 0);  // no EDNS: 512 octets
  CHECK(over_udp.header.tc);
  CHECK(over_udp.answers.size() < 12);

  const auto over_tcp = ask_tcp(*server, "big.sendcheck.test", RrType::TXT);
  CHECK_FALSE(over_tcp.header.tc);
  CHECK(over_tcp.answers.size() == 12);
  CHECK(server->queries_received("big.sendcheck.test", RrType::TXT, Transport::udp) == 1);
  CHECK(server->queries_received("big.sendcheck.test", RrType::TXT, Transport::tcp) == 1);
}

TEST_CASE("fault: delay answers late without holding up other queries", "[testserver]") {
  const auto server = start_server();
  server->add_fault("slow.sendcheck.test", RrType::A, Fault::delayed_by(300ms));
  const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
  const auto sent = std::chrono::steady_clock::now();
  client.send_datagram(wire::encode_query(1, "slow.sendcheck.test", RrType::A));
  client.send_datagram(wire::encode_query(2, "fast.sendcheck.test", RrType::A));

  const auto first = client.receive_datagram(answer_wait);
  REQUIRE(first);
  CHECK(decode(*first).header.id == 2);
  CHECK(std::chrono::steady_clock::now() - sent < 300ms);
  const auto second = client.receive_datagram(answer_wait);
  REQUIRE(second);
  CHECK(decode(*second).header.id == 1);
  CHECK(std::chrono::steady_clock::now() - sent >= 300ms);
  CHECK(decode(*second).answers.at(0).data_text() == "192.0.2.1");
}

TEST_CASE("fault: delay over TCP", "[testserver]") {
  const auto server = start_server();
  server->add_fault("slow.sendcheck.test", any_type, Fault::delayed_by(200ms));
  const auto sent = std::chrono::steady_clock::now();
  CHECK(ask_tcp(*server, "slow.sendcheck.test", RrType::A).answers.size() == 1);
  CHECK(std::chrono::steady_clock::now() - sent >= 200ms);
}

TEST_CASE("fault: drop never answers, but the query is counted", "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::drop});
  const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
  client.send_datagram(wire::encode_query(1, "mail.sendcheck.test", RrType::A));
  CHECK_FALSE(client.receive_datagram(no_answer_wait));
  CHECK(server->queries_received("mail.sendcheck.test", RrType::A) == 1);
  // Other types of the name are not affected.
  CHECK(ask_udp(*server, "mail.sendcheck.test", RrType::AAAA).answers.size() == 1);
}

TEST_CASE("fault: servfail and refused set the RCODE and carry no records", "[testserver]") {
  const auto server = start_server();
  server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::servfail});
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::refused});
  const auto servfail = ask_udp(*server, "contoso.sendcheck.test", RrType::MX);
  CHECK(servfail.header.rcode == static_cast<std::uint8_t>(wire::Rcode::servfail));
  CHECK(servfail.answers.empty());
  const auto refused = ask_tcp(*server, "mail.sendcheck.test", RrType::A);
  CHECK(refused.header.rcode == static_cast<std::uint8_t>(wire::Rcode::refused));
  CHECK(refused.answers.empty());
}

TEST_CASE("fault: truncate sets TC over UDP, answers in full over TCP", "[testserver]") {
  const auto server = start_server();
  server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::truncate});
  const auto over_udp = ask_udp(*server, "contoso.sendcheck.test", RrType::MX);
  CHECK(over_udp.header.tc);
  CHECK(over_udp.answers.empty());
  const auto over_tcp = ask_tcp(*server, "contoso.sendcheck.test", RrType::MX);
  CHECK_FALSE(over_tcp.header.tc);
  CHECK(over_tcp.answers.size() == 1);
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::udp) == 1);
  CHECK(server->queries_received("contoso.sendcheck.test", RrType::MX, Transport::tcp) == 1);
}

TEST_CASE("fault: malformed keeps ID, flags and question, breaks the answer", "[testserver]") {
  const auto server = start_server();
  server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::malformed});
  const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
  const auto query = wire::encode_query(0xABCD, "contoso.sendcheck.test", RrType::MX, 0);
  client.send_datagram(query);
  const auto reply = client.receive_datagram(answer_wait);
  REQUIRE(reply);
  REQUIRE(reply->size() > query.size());
  CHECK((*reply)[0] == 0xAB);
  CHECK((*reply)[1] == 0xCD);
  CHECK(((*reply)[2] & 0x80) != 0);  // QR
  CHECK((*reply)[7] == 1);           // ANCOUNT
  // The question, octet for octet.
  CHECK(std::equal(query.begin() + 12, query.end(), reply->begin() + 12));
  const auto decoded = wire::decode_message(*reply);
  REQUIRE_FALSE(decoded.ok());
  CHECK_THAT(decoded.error().message, Catch::StartsWith("answer 1:"));
}

TEST_CASE("fault: wrong-id answers with the query's ID + 1", "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::wrong_id});
  CHECK(ask_udp(*server, "mail.sendcheck.test", RrType::A, 0xFFFF).header.id == 0x0000);
  CHECK(ask_udp(*server, "mail.sendcheck.test", RrType::A, 41).header.id == 42);
}

TEST_CASE("fault: ad sets the AD bit, faults add up, ANY covers every type", "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", any_type, Fault{FaultAction::ad});
  server->add_fault("mail.sendcheck.test", RrType::AAAA, Fault::delayed_by(100ms));
  CHECK(ask_udp(*server, "mail.sendcheck.test", RrType::A).header.ad);
  const auto sent = std::chrono::steady_clock::now();
  const auto aaaa = ask_udp(*server, "mail.sendcheck.test", RrType::AAAA);
  CHECK(aaaa.header.ad);
  CHECK(std::chrono::steady_clock::now() - sent >= 100ms);
  CHECK_FALSE(ask_udp(*server, "contoso.sendcheck.test", RrType::MX).header.ad);

  server->clear_faults();
  CHECK_FALSE(ask_udp(*server, "mail.sendcheck.test", RrType::A).header.ad);
  CHECK(server->total_queries() == 4);
  server->reset_counts();
  CHECK(server->total_queries() == 0);
}

TEST_CASE("test server: FORMERR for unparsable queries with a header, silence otherwise", "[testserver]") {
  const auto server = start_server();
  const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
  // ID 0x0102, QDCOUNT 1, then a question cut short.
  client.send_datagram({0x01, 0x02, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x'});
  const auto reply = client.receive_datagram(answer_wait);
  REQUIRE(reply);
  const auto decoded = decode(*reply);
  CHECK(decoded.header.id == 0x0102);
  CHECK(decoded.header.rcode == static_cast<std::uint8_t>(wire::Rcode::formerr));

  client.send_datagram({0x01, 0x02, 0x03});
  CHECK_FALSE(client.receive_datagram(no_answer_wait));
  // A response is never answered: two servers could ping-pong forever.
  auto response = wire::encode_query(5, "mail.sendcheck.test", RrType::A);
  response[2] |= 0x80;
  client.send_datagram(response);
  CHECK_FALSE(client.receive_datagram(no_answer_wait));
}

TEST_CASE("test server closes idle TCP connections and limits their number", "[testserver]") {
  DnsTestServerConfig config = config_with_test_zones();
  config.tcp_idle_timeout = 200ms;
  config.max_tcp_connections = 2;
  const auto server = start_server(std::move(config));

  const ClientSocket first(AF_INET, SOCK_STREAM, server->port());
  const ClientSocket second(AF_INET, SOCK_STREAM, server->port());
  const ClientSocket third(AF_INET, SOCK_STREAM, server->port());
  CHECK(third.closed_within(answer_wait));
  second.send_messages({wire::encode_query(9, "mail.sendcheck.test", RrType::A)});
  CHECK(second.receive_message(answer_wait));
  CHECK(first.closed_within(answer_wait));
  CHECK(second.closed_within(answer_wait));
}

TEST_CASE("fault files: rules, comments, and errors naming file and line", "[testserver]") {
  const auto rules = parse_faults_text(
      "# name type action [arg]\n"
      "slow.sendcheck.test. MX delay 300\n"
      "\n"
      "   Gone.Sendcheck.Test ANY drop   # trailing comment\n"
      "x.sendcheck.test txt wrong-id\n",
      "faults.txt");
  REQUIRE(rules.ok());
  REQUIRE(rules->size() == 3);
  CHECK((*rules)[0].name == "slow.sendcheck.test");
  CHECK((*rules)[0].type == RrType::MX);
  CHECK((*rules)[0].fault.action == FaultAction::delay);
  CHECK((*rules)[0].fault.delay == 300ms);
  CHECK((*rules)[1].name == "gone.sendcheck.test");
  CHECK_FALSE((*rules)[1].type.has_value());
  CHECK((*rules)[1].fault.action == FaultAction::drop);
  CHECK((*rules)[2].type == RrType::TXT);
  CHECK((*rules)[2].fault.action == FaultAction::wrong_id);

  const auto error_for = [](const std::string& line) {
    const auto parsed = parse_faults_text("# first line\n" + line + "\n", "faults.txt");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == diag::ErrorKind::bad_input);
    return parsed.error().message;
  };
  CHECK_THAT(error_for("a.test MX explode"), Catch::StartsWith("faults.txt:2: unknown action 'explode'"));
  CHECK_THAT(error_for("a.test BOGUS drop"), Catch::StartsWith("faults.txt:2: unknown record type 'BOGUS'"));
  CHECK_THAT(error_for("a.test MX delay"), Catch::StartsWith("faults.txt:2: delay needs"));
  CHECK_THAT(error_for("a.test MX delay soon"), Catch::StartsWith("faults.txt:2: delay 'soon'"));
  CHECK_THAT(error_for("a.test MX delay -5"), Catch::StartsWith("faults.txt:2: delay '-5'"));
  CHECK_THAT(error_for("a.test MX drop 5"), Catch::StartsWith("faults.txt:2: drop takes no argument"));
  CHECK_THAT(error_for("a.test MX"), Catch::StartsWith("faults.txt:2: expected NAME TYPE ACTION [ARG]"));

  const auto missing = parse_faults_file("/nonexistent/faults.txt");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::StartsWith("/nonexistent/faults.txt: cannot open"));
}

TEST_CASE("test server applies faults from its configuration", "[testserver]") {
  const auto path = temporary_file("faults.txt", "mail.sendcheck.test. A servfail\n");
  auto rules = parse_faults_file(path.string());
  std::filesystem::remove(path);
  REQUIRE(rules.ok());
  DnsTestServerConfig config = config_with_test_zones();
  config.faults = std::move(rules).value();
  const auto server = start_server(std::move(config));
  CHECK(ask_udp(*server, "mail.sendcheck.test", RrType::A).header.rcode ==
        static_cast<std::uint8_t>(wire::Rcode::servfail));
}

TEST_CASE("test server serves the fixture zones", "[testserver]") {
  auto zones = load_zones({}, SENDCHECK_SOURCE_DIR "/fixtures/zones");
  if (!zones) FAIL(zones.error().message);
  DnsTestServerConfig config;
  config.zones = std::move(zones).value();
  const auto server = start_server(std::move(config));
  const auto reply = ask_udp(*server, "contoso.sendcheck.test", RrType::MX);
  REQUIRE(reply.answers.size() == 1);
  CHECK(reply.answers[0].data_text() == "0 contoso-sendcheck-test.mail.protection.outlook.com.");

  const auto no_dir = load_zones({}, "/nonexistent-zone-dir");
  REQUIRE_FALSE(no_dir.ok());
  CHECK_THAT(no_dir.error().message, Catch::StartsWith("/nonexistent-zone-dir: cannot read directory"));
}

namespace {

struct ChildProcess {
  pid_t pid = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// Runs sendcheck-testdns with its stdout and stderr on pipes.
ChildProcess spawn_testdns(const std::vector<std::string>& arguments) {
  const std::string program = SENDCHECK_BINARY_DIR "/tests/sendcheck-testdns";
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe(out_pipe) == 0);
  REQUIRE(::pipe(err_pipe) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  ChildProcess child;
  const int spawned = posix_spawn(&child.pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  child.stdout_fd = out_pipe[0];
  child.stderr_fd = err_pipe[0];
  REQUIRE(spawned == 0);
  return child;
}

// Reads until EOF or a newline, waiting at most wait in all.
std::string read_line(int fd, std::chrono::milliseconds wait) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd watched{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&watched, 1, static_cast<int>(std::max<long>(left.count(), 0))) != 1) break;
    char c = 0;
    if (::read(fd, &c, 1) != 1 || c == '\n') break;
    line.push_back(c);
  }
  return line;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -2;
}

}  // namespace

TEST_CASE("sendcheck-testdns prints its port, serves, and stops on SIGTERM", "[testserver]") {
  const auto zone_path = temporary_file("testdns.zone", test_zone);
  const auto faults_path = temporary_file("testdns.faults", "contoso.sendcheck.test MX ad\n");
  const auto port_path = std::filesystem::temp_directory_path() /
                         ("sendcheck-test-" + std::to_string(::getpid()) + "-port");
  const ChildProcess child = spawn_testdns(
      {"--zone", zone_path.string(), "--faults", faults_path.string(), "--port-file", port_path.string()});
  const std::string port_text = read_line(child.stdout_fd, 5000ms);
  REQUIRE_FALSE(port_text.empty());
  const auto port = static_cast<std::uint16_t>(std::stoi(port_text));

  std::ifstream port_file(port_path);
  std::string from_file;
  std::getline(port_file, from_file);
  CHECK(from_file == port_text);

  const ClientSocket client(AF_INET, SOCK_DGRAM, port);
  client.send_datagram(wire::encode_query(3, "contoso.sendcheck.test", RrType::MX));
  const auto reply = client.receive_datagram(answer_wait);
  REQUIRE(reply);
  CHECK(decode(*reply).answers.size() == 1);
  CHECK(decode(*reply).header.ad);

  ::kill(child.pid, SIGTERM);
  CHECK(wait_for_exit(child.pid) == 0);
  ::close(child.stdout_fd);
  ::close(child.stderr_fd);
  for (const auto& path : {zone_path, faults_path, port_path}) std::filesystem::remove(path);
}

TEST_CASE("sendcheck-testdns: bad arguments are a one-line error and exit 2", "[testserver]") {
  const auto bad_faults = temporary_file("bad.faults", "a.test MX explode\n");
  const auto zone_path = temporary_file("bad-args.zone", test_zone);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{}, "give at least one --zone"},
      {{"--zone", "/nonexistent.zone"}, "/nonexistent.zone"},
      {{"--zone", zone_path.string(), "--port", "http"}, "--port"},
      {{"--zone", zone_path.string(), "--frobnicate"}, "frobnicate"},
      {{"--zone", zone_path.string(), "--faults", bad_faults.string()}, bad_faults.string() + ":1: unknown action"},
  };
  for (const auto& [arguments, expected] : cases) {
    const ChildProcess child = spawn_testdns(arguments);
    const std::string error = read_line(child.stderr_fd, 5000ms);
    CHECK_THAT(error, Catch::StartsWith("sendcheck-testdns: error: ") && Catch::Contains(expected));
    CHECK(read_line(child.stderr_fd, 100ms).empty());  // one line only
    CHECK(wait_for_exit(child.pid) == 2);
    ::close(child.stdout_fd);
    ::close(child.stderr_fd);
  }
  std::filesystem::remove(bad_faults);
  std::filesystem::remove(zone_path);
}

// ---------------------------------------------------------------------------
// The hostile-peer faults (issue 8, tests/test_hostile_dns.cpp)

TEST_CASE("fault files: the hostile-peer actions, other-name and extra-name with the name they serve", "[testserver]") {
  const auto rules = parse_faults_text(
      "a.test A truncate-always\n"
      "a.test A other-name Bank.Test.\n"
      "a.test A extra-name bank.test\n"
      "a.test A other-question\n"
      "a.test A compression-loop\n"
      "a.test A compression-pair\n"
      "a.test A wrong-id-flood\n"
      "a.test ANY long-chain\n",
      "faults.txt");
  REQUIRE(rules.ok());
  const std::vector<FaultAction> expected{
      FaultAction::truncate_always,  FaultAction::other_name,       FaultAction::extra_name,
      FaultAction::other_question,   FaultAction::compression_loop, FaultAction::compression_pair,
      FaultAction::wrong_id_flood,   FaultAction::long_chain};
  REQUIRE(rules->size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("line " << i + 1);
    CHECK((*rules)[i].fault.action == expected[i]);
    CHECK(fault_action_from_string(to_string(expected[i])) == expected[i]);
  }
  CHECK((*rules)[1].fault.name == "bank.test");
  CHECK((*rules)[2].fault.name == "bank.test");
  CHECK_FALSE((*rules)[7].type.has_value());

  const auto error_for = [](const std::string& line) {
    const auto parsed = parse_faults_text(line + "\n", "faults.txt");
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message;
  };
  CHECK_THAT(error_for("a.test A other-name"), Catch::StartsWith("faults.txt:1: other-name needs the name"));
  CHECK_THAT(error_for("a.test A extra-name"), Catch::StartsWith("faults.txt:1: extra-name needs the name"));
  CHECK_THAT(error_for("a.test A wrong-id-flood 5"),
             Catch::StartsWith("faults.txt:1: wrong-id-flood takes no argument"));
}

TEST_CASE("fault: truncate-always sets TC without records over TCP too", "[testserver]") {
  const auto server = start_server();
  server->add_fault("contoso.sendcheck.test", RrType::MX, Fault{FaultAction::truncate_always});
  for (const auto& reply : {ask_udp(*server, "contoso.sendcheck.test", RrType::MX),
                            ask_tcp(*server, "contoso.sendcheck.test", RrType::MX)}) {
    CHECK(reply.header.tc);
    CHECK(reply.answers.empty());
  }
}

TEST_CASE("fault: other-name replaces the answer with another name's records, extra-name adds them", "[testserver]") {
  const auto server = start_server();
  const std::string served = "slow.sendcheck.test";
  server->add_fault("mail.sendcheck.test", RrType::A, Fault::records_of(FaultAction::other_name, served));
  server->add_fault("fast.sendcheck.test", RrType::A, Fault::records_of(FaultAction::extra_name, served));
  const auto other = ask_udp(*server, "mail.sendcheck.test", RrType::A);
  REQUIRE(other.answers.size() == 1);
  CHECK(other.answers[0].owner == "slow.sendcheck.test");
  CHECK(other.questions.at(0).name == "mail.sendcheck.test");
  const auto extra = ask_udp(*server, "fast.sendcheck.test", RrType::A);
  REQUIRE(extra.answers.size() == 2);
  CHECK(extra.answers[0].owner == "slow.sendcheck.test");
  CHECK(extra.answers[1].owner == "fast.sendcheck.test");
}

TEST_CASE("fault: other-question names another question, compression loops do not decode", "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::other_question});
  const auto reply = ask_udp(*server, "mail.sendcheck.test", RrType::A);
  CHECK(reply.questions.at(0).name == "other.mail.sendcheck.test");
  CHECK(reply.answers.size() == 1);

  for (const FaultAction action : {FaultAction::compression_loop, FaultAction::compression_pair}) {
    server->clear_faults();
    server->add_fault("mail.sendcheck.test", RrType::A, Fault{action});
    const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
    client.send_datagram(wire::encode_query(7, "mail.sendcheck.test", RrType::A));
    const auto bytes = client.receive_datagram(answer_wait);
    REQUIRE(bytes);
    const auto decoded = wire::decode_message(*bytes);
    REQUIRE_FALSE(decoded.ok());
    CHECK_THAT(decoded.error().message, Catch::StartsWith("answer 1:") && Catch::Contains("compression pointer"));
  }
}

TEST_CASE("fault: wrong-id-flood sends NXDOMAIN under other IDs, and with drop nothing else", "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::wrong_id_flood});
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::drop});
  const ClientSocket client(AF_INET, SOCK_DGRAM, server->port());
  client.send_datagram(wire::encode_query(0x1234, "mail.sendcheck.test", RrType::A));
  // The kernel may drop part of the flood when the socket buffer fills.
  std::size_t received = 0;
  while (const auto bytes = client.receive_datagram(no_answer_wait)) {
    const auto reply = decode(*bytes);
    CHECK(reply.header.id != 0x1234);
    CHECK(reply.header.rcode == static_cast<std::uint8_t>(wire::Rcode::nxdomain));
    ++received;
  }
  CHECK(received >= 1);
  CHECK(received <= wrong_id_flood_replies);
}

TEST_CASE("fault: long-chain sends the whole CNAME chain past the overlay's 8 links", "[testserver]") {
  std::string text = test_zone;
  for (int i = 0; i < 12; ++i) text += "c" + std::to_string(i) + " IN CNAME c" + std::to_string(i + 1) + "\n";
  text += "c12 IN A 192.0.2.12\n";
  DnsTestServerConfig config;
  auto zone = diag::dns::parse_zone_text(text, "chain.zone");
  REQUIRE(zone.ok());
  config.zones.add(std::move(zone).value());
  const auto server = start_server(std::move(config));
  // Without the fault the overlay gives up after 8 links.
  CHECK(ask_udp(*server, "c0.sendcheck.test", RrType::A).header.rcode ==
        static_cast<std::uint8_t>(wire::Rcode::servfail));
  server->add_fault("c0.sendcheck.test", any_type, Fault{FaultAction::long_chain});
  const auto reply = ask_udp(*server, "c0.sendcheck.test", RrType::A);
  REQUIRE(reply.answers.size() == 13);
  CHECK(reply.answers.back().data_text() == "192.0.2.12");
}

TEST_CASE("test server records each query's ID and source port, in arrival order", "[testserver]") {
  const auto server = start_server();
  const ClientSocket first(AF_INET, SOCK_DGRAM, server->port());
  const ClientSocket second(AF_INET, SOCK_DGRAM, server->port());
  first.send_datagram(wire::encode_query(0x0102, "mail.sendcheck.test", RrType::A));
  REQUIRE(first.receive_datagram(answer_wait));
  second.send_datagram(wire::encode_query(0xFEDC, "Mail.sendcheck.test", RrType::AAAA));
  REQUIRE(second.receive_datagram(answer_wait));
  ask_tcp(*server, "contoso.sendcheck.test", RrType::MX, 0x7777);

  const auto received = server->received_queries();
  REQUIRE(received.size() == 3);
  CHECK(received[0].name == "mail.sendcheck.test");
  CHECK(received[0].type == RrType::A);
  CHECK(received[0].id == 0x0102);
  CHECK(received[1].name == "mail.sendcheck.test");
  CHECK(received[1].type == RrType::AAAA);
  CHECK(received[1].id == 0xFEDC);
  CHECK(received[1].transport == Transport::udp);
  CHECK(received[0].source_port != received[1].source_port);  // two sockets, two ports
  CHECK(received[0].source_port != 0);
  CHECK(received[2].transport == Transport::tcp);
  CHECK(received[2].id == 0x7777);
  CHECK(received[2].source_port != 0);
  server->reset_counts();
  CHECK(server->received_queries().empty());
}

TEST_CASE("fault: forgeries sends four forged answers ahead of the real one, each wrong in one way",
          "[testserver]") {
  const auto server = start_server();
  server->add_fault("mail.sendcheck.test", RrType::A, Fault{FaultAction::forgeries});
  // Not connected: a connected socket would not even hear the forgery from another port.
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto query = wire::encode_query(0x4242, "mail.sendcheck.test", RrType::A);
  REQUIRE(::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
          static_cast<ssize_t>(query.size()));
  struct Received {
    wire::Message message;
    std::uint16_t from_port;
  };
  std::vector<Received> replies;
  std::vector<std::uint8_t> buffer(65535);
  pollfd watched{fd, POLLIN, 0};
  while (replies.size() < 5 && ::poll(&watched, 1, static_cast<int>(answer_wait.count())) == 1) {
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t got =
        ::recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got < 0) break;
    replies.push_back({decode(std::vector<std::uint8_t>(buffer.begin(), buffer.begin() + got)), ntohs(from.sin_port)});
  }
  ::close(fd);
  REQUIRE(replies.size() == 5);
  const auto poisoned = [](const wire::Message& message) {
    return message.answers.size() == 1 && message.answers[0].data_text() == "203.0.113.66";
  };
  const auto& wrong_id = replies[0];
  CHECK(wrong_id.message.header.id != 0x4242);
  CHECK(poisoned(wrong_id.message));
  const auto& other_name = replies[1];
  CHECK(other_name.message.header.id == 0x4242);
  CHECK(other_name.message.questions.at(0).name != "mail.sendcheck.test");
  CHECK(poisoned(other_name.message));
  const auto& other_type = replies[2];
  CHECK(other_type.message.header.id == 0x4242);
  CHECK(other_type.message.questions.at(0).name == "mail.sendcheck.test");
  CHECK(other_type.message.questions.at(0).type != static_cast<std::uint16_t>(RrType::A));
  const auto& other_port = replies[3];
  CHECK(other_port.message.header.id == 0x4242);
  CHECK(other_port.message.questions.at(0).type == static_cast<std::uint16_t>(RrType::A));
  CHECK(other_port.from_port != server->port());
  CHECK(poisoned(other_port.message));
  const auto& real = replies[4];
  CHECK(real.message.header.id == 0x4242);
  CHECK(real.from_port == server->port());
  REQUIRE(real.message.answers.size() == 1);
  CHECK(real.message.answers[0].data_text() == "192.0.2.25");
  for (std::size_t i = 0; i < 4; ++i) CHECK(replies[i].from_port == (i == 3 ? other_port.from_port : server->port()));
}

TEST_CASE("test server serves a name holding a space (RFC 2181 11)", "[testserver]") {
  DnsTestServerConfig config;
  auto zone = diag::dns::parse_zone_text(std::string(test_zone) + "a\\032b IN TXT \"spaced\"\n", "space.zone");
  REQUIRE(zone.ok());
  config.zones.add(std::move(zone).value());
  const auto server = start_server(std::move(config));
  const auto reply = ask_udp(*server, "A B.sendcheck.test", RrType::TXT);
  CHECK(reply.header.rcode == static_cast<std::uint8_t>(wire::Rcode::noerror));
  REQUIRE(reply.answers.size() == 1);
  CHECK(reply.answers[0].owner == "a\\032b.sendcheck.test");
  CHECK(reply.answers[0].data_text() == "\"spaced\"");
  CHECK(server->queries_received("a b.sendcheck.test", RrType::TXT) == 1);
}
