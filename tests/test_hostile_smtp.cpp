// Hostile SMTP peers (issue 8): a server that says nothing, sends a 1 MB
// line or a reply that never ends, answers STARTTLS with garbage or keeps
// renegotiating TLS; and clients against sendcheck-listen that send a byte
// now and then (slowloris) or open 1,000 connections. Each must end in a
// classified failure within its timeout: no crash, no hang, bounded memory.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <functional>
#include <thread>

#include "diag/oauth.h"
#include "diag/smtp.h"
#include "diag/tls.h"
#include "smtp_test_support.h"

using namespace diag;
using namespace diag::smtp;
using namespace smtp_testing;

namespace {

const std::string host_name = "mail.sendcheck.test";

// A server that runs a script on the first connection it accepts. The
// script gets a blocking socket with 5 s send and receive limits, so a
// script waiting on a client that has left never outlives the test.
class ScriptedPeer {
 public:
  using Script = std::function<void(int fd, const std::atomic<bool>& stopping)>;

  explicit ScriptedPeer(Script script) : script_(std::move(script)) {
    auto listener = listen_tcp(IpAddress::v4({127, 0, 0, 1}), 0);
    if (!listener) throw std::runtime_error(listener.error().message);
    listener_ = std::move(listener.value());
    port_ = local_port(listener_.fd);
    thread_ = std::thread([this] { accept_and_run(); });
  }
  ~ScriptedPeer() {
    stopping_ = true;
    {
      std::lock_guard lock(mutex_);
      if (client_fd_ >= 0) ::shutdown(client_fd_, SHUT_RDWR);
    }
    thread_.join();
  }
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  void accept_and_run() {
    while (!stopping_) {
      pollfd entry{listener_.fd, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      RawSocket client(::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (client.fd < 0) continue;
      const timeval limit{5, 0};
      ::setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      ::setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      {
        std::lock_guard lock(mutex_);
        client_fd_ = client.fd;
      }
      script_(client.fd, stopping_);
      std::lock_guard lock(mutex_);
      client_fd_ = -1;
      return;
    }
  }

  Script script_;
  RawSocket listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  int client_fd_ = -1;
  std::thread thread_;
};

bool send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads up to and including the next LF; false when the client left.
bool read_line(int fd, std::string& line) {
  line.clear();
  char c = 0;
  while (line.size() < 4096) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    if (c == '\n') return true;
    if (c != '\r') line += c;
  }
  return false;
}

SessionConfig client_for(const ScriptedPeer& peer) {
  SessionConfig config = client_config(peer.port(), host_name);
  config.timeouts = Timeouts::uniform(1500ms);
  config.slow_banner_after = 1000ms;
  return config;
}

// Runs the session and checks it ended within its budget (one phase's
// timeout, the connect, and a generous slack for a loaded CI machine).
SessionResult run_bounded(const SessionConfig& config, Milliseconds budget) {
  const auto started = Clock::now();
  SessionResult result = run_session(config);
  const auto took = std::chrono::duration_cast<Milliseconds>(Clock::now() - started);
  INFO("took " << took.count() << " ms; failure " << result.failure.kind << " in " << result.failure.phase);
  CHECK(took < budget + 2000ms);
  for (const auto& entry : result.transcript) CHECK(entry.line.size() <= config.max_line + 3);
  return result;
}

// A TLS 1.2 server side on a connected socket, blocking, with the test CA's
// certificate for host_name.
struct TlsServerSide {
  tls::SslCtxPtr context;
  tls::SslPtr ssl;
  bool accept(int fd) {
    tls::VersionRange versions;
    versions.max = tls::Version::tls1_2;  // renegotiation exists up to TLS 1.2
    auto made = tls::make_server_context(*server_credentials(host_name), versions);
    if (!made) return false;
    context = std::move(made.value());
    ssl.reset(SSL_new(context.get()));
    SSL_set_fd(ssl.get(), fd);
    return SSL_accept(ssl.get()) == 1;
  }
  bool write(std::string_view text) { return SSL_write(ssl.get(), text.data(), static_cast<int>(text.size())) > 0; }
  bool read_line(std::string& line) {
    line.clear();
    char c = 0;
    while (line.size() < 4096) {
      if (SSL_read(ssl.get(), &c, 1) != 1) return false;
      if (c == '\n') return true;
      if (c != '\r') line += c;
    }
    return false;
  }
  bool renegotiate() { return SSL_renegotiate(ssl.get()) == 1 && SSL_do_handshake(ssl.get()) == 1; }
};

}  // namespace

// ---------------------------------------------------------------------------
// Hostile servers against the client (sendcheck-probe, preflight)

TEST_CASE("hostile server: accepts and never says a word", "[hostile-smtp]") {
  ScriptedPeer peer([](int fd, const std::atomic<bool>& stopping) {
    char byte;
    while (!stopping && ::recv(fd, &byte, 1, 0) > 0) {
    }
  });
  const auto config = client_for(peer);
  // The banner wait, our EHLO's answer (at most 2 s), then one TLS ClientHello
  // on a second connection (connect and handshake timeouts): a silent port
  // may be an implicit-TLS one.
  const auto result = run_bounded(config, config.timeouts.banner + std::min(config.timeouts.command, Milliseconds(2000)) +
                                              config.timeouts.connect + config.timeouts.tls);
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "banner-timeout");
  CHECK_FALSE(result.banner);
}

TEST_CASE("hostile server: a 1 MB line with no end", "[hostile-smtp]") {
  ScriptedPeer peer([](int fd, const std::atomic<bool>& stopping) {
    const std::string chunk(64 * 1024, 'x');
    send_text(fd, "220-");
    for (int i = 0; i < 16 && !stopping; ++i)
      if (!send_text(fd, chunk)) return;
  });
  const auto config = client_for(peer);
  const auto result = run_bounded(config, config.timeouts.banner);
  CHECK(result.failure.failure_class == FailureClass::protocol);
  CHECK(result.failure.kind == "line-too-long");
}

TEST_CASE("hostile server: a multi-line reply that never ends", "[hostile-smtp]") {
  std::atomic<long> lines_sent{0};
  SECTION("as the banner") {
    ScriptedPeer peer([&](int fd, const std::atomic<bool>& stopping) {
      while (!stopping && send_text(fd, "220-mail.sendcheck.test ESMTP and more\r\n")) ++lines_sent;
    });
    const auto config = client_for(peer);
    const auto result = run_bounded(config, config.timeouts.banner);
    CHECK(result.failure.kind == "bad-reply");
    CHECK_THAT(result.failure.message, Catch::Contains("longer than 100 lines"));
  }
  SECTION("as the EHLO reply") {
    ScriptedPeer peer([&](int fd, const std::atomic<bool>& stopping) {
      std::string line;
      if (!send_text(fd, "220 mail.sendcheck.test ESMTP\r\n") || !read_line(fd, line)) return;
      while (!stopping && send_text(fd, "250-PIPELINING\r\n")) ++lines_sent;
    });
    const auto config = client_for(peer);
    const auto result = run_bounded(config, config.timeouts.command);
    CHECK(result.failure.kind == "bad-reply");
    CHECK(result.failure.phase == "ehlo");
  }
  CHECK(lines_sent > 100);
}

TEST_CASE("hostile server: STARTTLS answered 220, then garbage or silence", "[hostile-smtp]") {
  const std::string after_starttls = GENERATE(as<std::string>{}, "garbage", "http", "silence", "close");
  ScriptedPeer peer([&](int fd, const std::atomic<bool>& stopping) {
    std::string line;
    send_text(fd, "220 mail.sendcheck.test ESMTP\r\n");
    if (!read_line(fd, line)) return;
    send_text(fd, "250-mail.sendcheck.test\r\n250-SIZE 157286400\r\n250 STARTTLS\r\n");
    if (!read_line(fd, line) || line != "STARTTLS") return;
    send_text(fd, "220 2.0.0 SMTP server ready\r\n");
    if (after_starttls == "garbage") {
      std::string noise;
      for (int i = 0; i < 4096; ++i) noise += static_cast<char>((i * 7919 + 13) & 0xff);
      send_text(fd, noise);
    } else if (after_starttls == "http") {
      send_text(fd, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    } else if (after_starttls == "close") {
      return;
    }
    char byte;
    while (!stopping && ::recv(fd, &byte, 1, 0) > 0) {
    }
  });
  INFO("after STARTTLS: " << after_starttls);
  auto config = client_for(peer);
  config.starttls = StarttlsPolicy::require;
  const auto result = run_bounded(config, config.timeouts.tls);
  CHECK(result.failure.failure_class == FailureClass::tls);
  CHECK(result.failure.phase == "tls");
  CHECK_FALSE(result.starttls_completed);
}

TEST_CASE("hostile server: TLS renegotiation, once and without end", "[hostile-smtp][tls]") {
  const bool storm = GENERATE(false, true);
  std::atomic<int> renegotiations{0};
  ScriptedPeer peer([&](int fd, const std::atomic<bool>& stopping) {
    TlsServerSide server;
    if (!server.accept(fd)) return;
    std::string line;
    server.write("220 mail.sendcheck.test ESMTP\r\n");
    while (!stopping && server.read_line(line)) {
      // Before each reply the server asks for a new handshake; the storm
      // does nothing else and never replies.
      do {
        if (!server.renegotiate()) return;
        ++renegotiations;
      } while (storm && !stopping);
      if (line.starts_with("EHLO")) server.write("250-mail.sendcheck.test\r\n250 SIZE 157286400\r\n");
      else if (line.starts_with("QUIT")) return (void)server.write("221 2.0.0 Bye\r\n");
      else server.write("250 2.0.0 OK\r\n");
    }
  });
  auto config = client_for(peer);
  config.tls_mode = TlsMode::implicit;
  TempDir dir;
  config.tls.ca_file = dir.file("ca.pem", pki().ca_pem);
  const auto result = run_bounded(config, config.timeouts.tls + config.timeouts.command * 2);
  INFO("renegotiations: " << renegotiations.load() << ", failure: " << result.failure.message);
  CHECK(renegotiations >= 1);
  if (storm) {
    // The client follows each new handshake but the reply never comes: the
    // command's own deadline ends it.
    CHECK(result.failure);
    CHECK(result.failure.phase == "ehlo");
    CHECK((result.failure.kind == "timeout" || result.failure.failure_class == FailureClass::tls));
  } else {
    CHECK_FALSE(result.failure);
    REQUIRE(result.ehlo_after_tls);  // implicit TLS: the only EHLO is under TLS
    CHECK(result.ehlo_after_tls->code == 250);
    REQUIRE(result.quit);
    CHECK(result.quit->reply.code == 221);
  }
}

// ---------------------------------------------------------------------------
// Hostile clients against sendcheck-listen's server

namespace {

ServerConfig listen_config(std::size_t max_sessions) {
  ServerConfig config;
  config.profile = exo_mx_profile({"contoso.com"});
  config.max_sessions = max_sessions;
  config.command_timeout = 1000ms;
  config.session_timeout = 2500ms;
  return config;
}

Connection connect_to(std::uint16_t port) {
  Connection connection;
  const auto connected = connection.connect(IpAddress::v4({127, 0, 0, 1}), port, Clock::now() + 2s);
  if (connected.status != IoStatus::ok) FAIL("cannot connect: " << connected.detail);
  return connection;
}

}  // namespace

TEST_CASE("slowloris: a line sent a byte at a time ends at the command timeout", "[hostile-smtp][listen]") {
  auto server = start_server(listen_config(4));
  auto client = connect_to(server->port());
  REQUIRE(client.read_line(Clock::now() + 2s).line.starts_with("220 "));
  const auto started = Clock::now();
  // "EHLO x" never finished: one byte every 100 ms.
  bool cut_off = false;
  for (int i = 0; i < 100 && !cut_off; ++i) {
    cut_off = client.write_all("E", Clock::now() + 1s) != IoStatus::ok;
    std::this_thread::sleep_for(100ms);
    pollfd entry{client.fd(), POLLIN, 0};
    if (::poll(&entry, 1, 0) > 0) cut_off = true;  // the server closed (EOF is readable)
  }
  CHECK(cut_off);
  server->wait(1);
  const auto took = Clock::now() - started;
  CHECK(took < 1000ms + 2s);
  const auto reports = server->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].end_reason == "timeout");
}

TEST_CASE("slowloris: a client busy with NOOPs is let go at the session limit", "[hostile-smtp][listen]") {
  auto server = start_server(listen_config(4));
  auto client = connect_to(server->port());
  REQUIRE(client.read_line(Clock::now() + 2s).line.starts_with("220 "));
  const auto started = Clock::now();
  std::string last;
  for (int i = 0; i < 100; ++i) {
    if (client.write_all("NOOP\r\n", Clock::now() + 1s) != IoStatus::ok) break;
    const auto reply = client.read_line(Clock::now() + 2s);
    if (reply.status != IoStatus::ok) break;
    last = reply.line;
    if (last.starts_with("421")) break;
    std::this_thread::sleep_for(300ms);  // each command well within the command timeout
  }
  CHECK_THAT(last, Catch::StartsWith("421 4.4.2 ") && Catch::Contains("Session time limit exceeded"));
  CHECK(Clock::now() - started < 2500ms + 2s);
  server->wait(1);
  const auto reports = server->reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].end_reason == "session time limit");
}

TEST_CASE("slowloris clients holding every slot do not stop the server refusing more", "[hostile-smtp][listen]") {
  auto server = start_server(listen_config(2));
  std::vector<Connection> holders;
  for (int i = 0; i < 2; ++i) {
    holders.push_back(connect_to(server->port()));
    REQUIRE(holders.back().read_line(Clock::now() + 2s).line.starts_with("220 "));
  }
  auto extra = connect_to(server->port());
  const auto refused = extra.read_line(Clock::now() + 2s);
  CHECK(refused.line == "421 4.3.2 Too many connections, try again later");
  // The holders are ended by the command timeout; the slots come back.
  server->wait(2);
  auto later = connect_to(server->port());
  CHECK(later.read_line(Clock::now() + 2s).line.starts_with("220 "));
}

namespace {

// Raises the open-file limit of this process for the 1,000-connection test:
// the clients and the server's sockets all live here.
bool ensure_open_files(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

long resident_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

int thread_count(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("Threads:")) return std::stoi(line.substr(8));
  return -1;
}

// sendcheck-listen as its own process, so its memory and threads are its own.
class ListenProcess {
 public:
  explicit ListenProcess(std::vector<std::string> extra) {
    port_ = free_port();
    std::vector<std::string> argv{bin_dir + "/sendcheck-listen", "--port", std::to_string(port_), "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    out_ = dir_.path() + "/out.jsonl";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_.path() + "/err.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot run sendcheck-listen");
    ready_ = wait_for_port(port_);
  }
  ~ListenProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ready() const { return ready_; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, as an admin's Ctrl-C; the exit code, or -1 after 10 s.
  int stop() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  std::string output() const { return read_file(out_); }

 private:
  TempDir dir_;
  std::string out_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace

TEST_CASE("1,000 connections against sendcheck-listen's limit", "[hostile-smtp][listen]") {
  constexpr int connections = 1000;
  constexpr std::size_t limit = 16;
  if (!ensure_open_files(connections + 256)) {
    WARN("the open-file limit is below " << connections + 256 << " and cannot be raised; skipped");
    return;
  }
  ListenProcess listen({"--max-sessions", std::to_string(limit), "--timeout", "20", "--profile", "exo-mx",
                        "--accept-domain", "contoso.com"});
  REQUIRE(listen.ready());
  const long rss_before = resident_kb(listen.pid());

  std::vector<Connection> clients;
  clients.reserve(connections);
  for (int i = 0; i < connections; ++i) {
    Connection client;
    const auto connected = client.connect(IpAddress::v4({127, 0, 0, 1}), listen.port(), Clock::now() + 5s);
    REQUIRE(connected.status == IoStatus::ok);
    clients.push_back(std::move(client));
  }
  std::size_t banners = 0, refused = 0, other = 0;
  for (auto& client : clients) {
    const auto first = client.read_line(Clock::now() + 5s);
    if (first.status == IoStatus::ok && first.line.starts_with("220 ")) ++banners;
    else if (first.status == IoStatus::ok && first.line.starts_with("421 4.3.2 ")) ++refused;
    else ++other;
  }
  const long rss_loaded = resident_kb(listen.pid());
  const int threads_loaded = thread_count(listen.pid());
  INFO("banners " << banners << ", refused " << refused << ", other " << other << "; RSS " << rss_before << " -> "
                  << rss_loaded << " kB; threads " << threads_loaded);
  // The readiness probe was a session too; it may still hold a slot for a moment.
  CHECK(banners >= limit - 1);
  CHECK(banners <= limit);
  CHECK(banners + refused == connections);
  CHECK(threads_loaded <= static_cast<int>(limit) + 4);  // sessions, acceptor, signal thread, main
  CHECK(rss_loaded - rss_before < 64 * 1024);             // no per-connection growth to speak of

  // The held sessions still work, and once they go the server takes new ones.
  for (auto& client : clients) {
    if (client.write_all("QUIT\r\n", Clock::now() + 1s) != IoStatus::ok) continue;
  }
  clients.clear();
  bool served_again = false;
  for (int attempt = 0; attempt < 50 && !served_again; ++attempt) {
    Connection again;
    if (again.connect(IpAddress::v4({127, 0, 0, 1}), listen.port(), Clock::now() + 2s).status == IoStatus::ok)
      served_again = again.read_line(Clock::now() + 2s).line.starts_with("220 ");
    if (!served_again) std::this_thread::sleep_for(100ms);
  }
  CHECK(served_again);
  CHECK(listen.stop() == 3);  // no session showed how a device sends: could not complete
  // One JSON report a line for each session served, none for the refused.
  const std::string reports = listen.output();
  const auto lines = static_cast<std::size_t>(std::count(reports.begin(), reports.end(), '\n'));
  CHECK(lines >= banners);
  CHECK(lines <= banners + 3);
}

TEST_CASE("the XOAUTH2 string the client sends is oauth::xoauth2_initial_response's, byte for byte", "[smtp][oauth]") {
  const std::string user = "app@contoso.example", token = "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA";
  std::string received;
  ScriptedPeer peer([&](int fd, const std::atomic<bool>&) {
    std::string line;
    send_text(fd, "220 mail.sendcheck.test ESMTP\r\n");
    if (!read_line(fd, line)) return;  // EHLO
    send_text(fd, "250-mail.sendcheck.test\r\n250 AUTH XOAUTH2\r\n");
    if (!read_line(fd, line) || line != "AUTH XOAUTH2") return;
    send_text(fd, "334 \r\n");
    if (!read_line(fd, received)) return;
    send_text(fd, "235 2.7.0 Authentication successful\r\n");
    if (read_line(fd, line)) send_text(fd, "221 2.0.0 Bye\r\n");  // QUIT
  });
  SessionConfig config = client_for(peer);
  config.starttls = StarttlsPolicy::never;
  config.allow_plaintext_auth = true;
  config.auth = AuthMechanism::xoauth2;
  config.user = user;
  config.secret = token;
  const auto result = run_session(config);
  INFO("failure: " << result.failure.kind << " in " << result.failure.phase);
  REQUIRE(result.auth);
  CHECK(result.auth->reply.code == 235);
  CHECK(received == oauth::xoauth2_initial_response(user, token));
  // Microsoft's documented layout, decoded: user=U ^A auth=Bearer T ^A ^A.
  CHECK(base64_decode(received) == "user=" + user + "\x01" + "auth=Bearer " + token + "\x01\x01");
}
