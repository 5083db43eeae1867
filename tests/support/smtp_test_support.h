// Test helpers for the SMTP engine, sendcheck-probe and sendcheck-listen:
// certificates made at test time, temporary files, a tiny HTTP server (the
// token endpoint, and "an HTTP server on the SMTP port"), and a subprocess
// runner with a time limit. Header-only: included from the test files.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/smtp.h"
#include "diag/tls.h"
#include "temporary_directory.h"
#include "test_environment.h"

extern char** environ;

namespace smtp_testing {

using namespace std::chrono_literals;

inline const std::string bin_dir = std::string(SENDCHECK_BINARY_DIR) + "/bin";

// The one temporary directory type (tests/support/temporary_directory.h).
using TempDir = fixtures::TemporaryDirectory;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---------------------------------------------------------------------------
// Certificates

struct TestPki {
  diag::tls::Credentials ca;       // "sendcheck test CA"
  diag::tls::Credentials other_ca; // a CA nobody trusts
  std::string ca_pem;
};

inline diag::tls::Credentials must(diag::Result<diag::tls::Credentials> result) {
  if (!result) throw std::runtime_error(result.error().message);
  return std::move(result).value();
}

inline const TestPki& pki() {
  static const TestPki instance = [] {
    TestPki out;
    diag::tls::CertificateSpec ca;
    ca.common_name = "sendcheck test CA";
    ca.organization = "sendcheck tests";
    ca.certificate_authority = true;
    ca.valid_to_days = 3650;
    out.ca = must(diag::tls::generate_certificate(ca));
    ca.common_name = "untrusted test CA";
    out.other_ca = must(diag::tls::generate_certificate(ca));
    out.ca_pem = diag::tls::certificate_pem(out.ca.certificate.get());
    return out;
  }();
  return instance;
}

// A server certificate for `name` (and 127.0.0.1), signed by the test CA,
// the untrusted CA, or itself.
enum class Signer { test_ca, untrusted_ca, self };
inline std::shared_ptr<diag::tls::Credentials> server_credentials(const std::string& name, Signer signer = Signer::test_ca,
                                                                  long valid_from_days = -1, long valid_to_days = 90,
                                                                  diag::tls::KeyType key = diag::tls::KeyType::ec_p256) {
  diag::tls::CertificateSpec spec;
  spec.common_name = name;
  spec.dns_names = {name};
  spec.ip_addresses = {"127.0.0.1"};
  spec.valid_from_days = valid_from_days;
  spec.valid_to_days = valid_to_days;
  spec.key_type = key;
  const diag::tls::Credentials* issuer = signer == Signer::test_ca        ? &pki().ca
                                         : signer == Signer::untrusted_ca ? &pki().other_ca
                                                                          : nullptr;
  return std::make_shared<diag::tls::Credentials>(must(diag::tls::generate_certificate(spec, issuer)));
}

// ---------------------------------------------------------------------------
// The in-process SMTP server

inline std::unique_ptr<diag::smtp::SmtpServer> start_server(diag::smtp::ServerConfig config) {
  auto server = diag::smtp::SmtpServer::start(std::move(config));
  if (!server) throw std::runtime_error("SMTP test server: " + server.error().message);
  return std::move(server).value();
}

// A loopback port that was free a moment ago: for a server in another
// process (sendcheck-listen, Postfix), which must bind it itself.
inline std::uint16_t free_port() {
  auto socket = diag::smtp::listen_tcp(diag::IpAddress::v4({127, 0, 0, 1}), 0);
  if (!socket) throw std::runtime_error(socket.error().message);
  return diag::smtp::local_port(socket->fd);
}

// Whether something accepts connections on 127.0.0.1:port within 5 s. The
// connection made to find out is closed at once (a session, for a server).
// Whether a server started by the test listens on port within limit. The
// limit is only a bound for a server that never comes up: a listener makes
// its RSA key first, and on a loaded machine (load 8 on 2 cores, ASan) that
// took over the 5 s this once allowed.
inline bool wait_for_port(std::uint16_t port, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = diag::smtp::Clock::now() + limit;
  while (diag::smtp::Clock::now() < deadline) {
    diag::smtp::Connection probe;
    if (probe.connect(diag::IpAddress::v4({127, 0, 0, 1}), port, diag::smtp::Clock::now() + 100ms).status ==
        diag::smtp::IoStatus::ok)
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// A client session against 127.0.0.1:port with short timeouts.
inline diag::smtp::SessionConfig client_config(std::uint16_t port, const std::string& host = "mail.sendcheck.test") {
  diag::smtp::SessionConfig config;
  config.address = diag::IpAddress::v4({127, 0, 0, 1});
  config.port = port;
  config.host = host;
  config.helo = "probe.sendcheck.test";
  config.timeouts = diag::smtp::Timeouts::uniform(2000ms);
  config.slow_banner_after = 1000ms;
  return config;
}

// ---------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one canned answer for every request; a request
// line that is not HTTP gets "400 Bad Request" at once, as nginx answers.

struct HttpRequest {
  std::string request_line;
  std::map<std::string, std::string> headers;  // names lower case
  std::string body;
};

class HttpServer {
 public:
  HttpServer(int status, std::string body, std::string content_type = "application/json")
      : status_(status), body_(std::move(body)), content_type_(std::move(content_type)) {
    auto listener = diag::smtp::listen_tcp(diag::IpAddress::v4({127, 0, 0, 1}), 0);
    if (!listener) throw std::runtime_error(listener.error().message);
    listener_ = std::move(listener.value());
    port_ = diag::smtp::local_port(listener_.fd);
    thread_ = std::thread([this] { loop(); });
  }
  ~HttpServer() {
    stop_ = true;
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/token") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd entry{listener_.fd, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      diag::smtp::RawSocket client(::accept(listener_.fd, nullptr, nullptr));
      if (client.fd < 0) continue;
      diag::smtp::Connection connection(std::move(client), 8192);
      const auto deadline = diag::smtp::Clock::now() + 2s;
      HttpRequest request;
      auto first = connection.read_line(deadline);
      if (first.status != diag::smtp::IoStatus::ok) continue;
      request.request_line = first.line;
      const bool http = first.line.find(" HTTP/1.") != std::string::npos;
      std::size_t length = 0;
      while (http) {
        auto line = connection.read_line(deadline);
        if (line.status != diag::smtp::IoStatus::ok || line.line.empty()) break;
        const auto colon = line.line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (name == "content-length") length = std::stoul(value);
        request.headers[name] = value;
      }
      if (http && length > 0 && length < 1000000) connection.read_bytes(length, request.body, deadline);
      const int status = http ? status_ : 400;
      const std::string body = http ? body_ : "<html><body>400 Bad Request</body></html>";
      const std::string reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : status == 401 ? "Unauthorized" : "Error";
      const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " +
                                   (http ? content_type_ : "text/html") + "\r\nContent-Length: " + std::to_string(body.size()) +
                                   "\r\nConnection: close\r\n\r\n" + body;
      // Recorded before the answer: a client that has its answer may read requests() at once.
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(request));
      }
      connection.write_all(response, deadline);
    }
  }

  int status_;
  std::string body_, content_type_;
  diag::smtp::RawSocket listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
};

// ---------------------------------------------------------------------------
// Running a program

struct RunResult {
  int exit_code = -1;  // -1: killed at the time limit
  std::string out, err;
};

// The one way tests run a program: argv[0] found on PATH, stdout and stderr
// collected, `input` on stdin, killed at `limit`. The environment is the
// test's, without variables that start with a prefix in `drop_env`, plus
// `extra_env`.
// Sets (or unsets) an environment variable for one scope and restores it.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnvironment() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

inline RunResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds limit = 20s,
                             const std::vector<std::string>& extra_env = {}, const std::string& input = "",
                             const std::vector<std::string>& drop_env = {}) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(in_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const bool dropped = std::any_of(drop_env.begin(), drop_env.end(),
                                     [&](const std::string& prefix) { return entry.starts_with(prefix); });
    if (!dropped) env_strings.push_back(entry);
  }
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> env, args;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  std::vector<std::string> arg_strings = argv;
  for (auto& a : arg_strings) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(in_pipe[1]);
    throw std::runtime_error("cannot run " + argv[0]);
  }
  if (!input.empty()) (void)!::write(in_pipe[1], input.data(), input.size());
  ::close(in_pipe[1]);
  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open = 2;
  bool killed = false;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left)) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buffer[8192];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0) ::close(fd.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = killed ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The arguments as a shell would split them: blanks separate words, single
// quotes keep blanks and quotes ('\'' is a quote inside a quoted word).
inline std::vector<std::string> shell_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\'') quoted = false;
      else word += c;
    } else if (c == '\'') {
      quoted = in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

inline bool have_program(const std::string& name) {
  return run_program({"sh", "-c", "command -v " + name + " >/dev/null 2>&1"}, 5s).exit_code == 0;
}

// ---------------------------------------------------------------------------
// Real peers

// Whether an outside program can do what a test needs; the reason when not
// (under CI=true the test fails with it, elsewhere it is skipped).
inline std::optional<std::string> peer_missing(const std::vector<std::string>& programs, bool needs_root = false) {
  for (const auto& program : programs)
    if (!have_program(program)) return program + " is not installed (scripts/install-deps --test)";
  if (needs_root && ::geteuid() != 0) return std::string("the test needs root");
  return std::nullopt;
}
using testing_support::in_ci;
using testing_support::skip_or_fail;

inline const std::string postfix_host = "postfix.sendcheck.test";

// A private Postfix on loopback (Debian's, without systemd): main.cf from
// /usr/share/postfix/main.cf.debian, our own config directory, queue and
// log, one listener, `postfix -c DIR start`. `extra` settings go last (a
// relayhost makes it a client too).
class Postfix {
 public:
  explicit Postfix(const std::vector<std::string>& extra = {}) : port_(free_port()) {
    const std::string dir = dir_.path();
    log_ = "/var/log/sendcheck-postfix-test-" + std::to_string(port_) + ".log";
    auto credentials = server_credentials(postfix_host, Signer::test_ca, -1, 60, diag::tls::KeyType::rsa2048);
    dir_.file("cert.pem", diag::tls::certificate_pem(credentials->certificate.get()));
    dir_.file("key.pem", diag::tls::private_key_pem(credentials->key.get()));
    ca_file_ = dir_.file("ca.pem", pki().ca_pem);
    dir_.file("main.cf", read_file("/usr/share/postfix/main.cf.debian"));
    dir_.file("master.cf", read_file("/etc/postfix/master.cf"));
    const std::vector<std::string> settings = {
        "queue_directory=" + dir + "/queue",
        "data_directory=" + dir + "/data",
        "compatibility_level=3.6",
        "myhostname=" + postfix_host,
        "mydestination=sendcheck.test",
        "mynetworks=192.0.2.0/24",
        "inet_interfaces=127.0.0.1",
        "inet_protocols=ipv4",
        "alias_maps=",
        "alias_database=",
        "local_recipient_maps=",
        "smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination",
        "smtpd_tls_cert_file=" + dir + "/cert.pem",
        "smtpd_tls_key_file=" + dir + "/key.pem",
        "smtpd_tls_security_level=may",
        "maillog_file=" + log_,
    };
    std::vector<std::string> all = settings;
    all.insert(all.end(), extra.begin(), extra.end());
    std::vector<std::string> postconf{"postconf", "-c", dir, "-e"};
    postconf.insert(postconf.end(), all.begin(), all.end());
    must_run(postconf);
    // Our listener instead of port 25, nothing chrooted (our paths live in /tmp).
    must_run({"postconf", "-c", dir, "-MX", "smtp/inet"});
    must_run({"postconf", "-c", dir, "-F", "*/*/chroot=n"});
    // The daemons run as the postfix user: they must reach the queue.
    std::filesystem::permissions(dir, std::filesystem::perms(0755));
    std::filesystem::create_directory(dir + "/queue");
    std::filesystem::create_directory(dir + "/data");
    must_run({"chown", "postfix", dir + "/data"});
    must_run({"postfix", "-c", dir, "post-install", "create-missing"});
    // free_port() only found a port that was free: another test running at
    // the same time may take it before master binds it, and master's start
    // then fails. Another port is tried; Postfix itself is not what fails.
    std::string failures;
    for (int attempt = 0; attempt < 3 && !running_; ++attempt) {
      if (attempt > 0) {
        must_run({"postconf", "-c", dir, "-MX", "127.0.0.1:" + std::to_string(port_) + "/inet"});
        port_ = free_port();
      }
      must_run({"postconf", "-c", dir, "-M",
                "127.0.0.1:" + std::to_string(port_) + "/inet=127.0.0.1:" + std::to_string(port_) + " inet n - n - - smtpd"});
      const auto started = run_program({"postfix", "-c", dir, "start"}, 30s);
      if (started.exit_code == 0) {
        running_ = true;
        break;
      }
      failures += "port " + std::to_string(port_) + ": " + started.out + started.err + "\n" + read_file(log_) + "\n";
      run_program({"postfix", "-c", dir, "stop"}, 20s);
    }
    if (!running_) {
      ::unlink(log_.c_str());
      throw std::runtime_error("postfix start failed:\n" + failures);
    }
    for (int i = 0; i < 100; ++i) {
      diag::smtp::Connection probe;
      if (probe.connect(diag::IpAddress::v4({127, 0, 0, 1}), port_, diag::smtp::Clock::now() + 100ms).status == diag::smtp::IoStatus::ok) return;
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("postfix does not listen on its port:\n" + read_file(log_));
  }
  ~Postfix() {
    if (running_) {
      run_program({"postfix", "-c", dir_.path(), "stop"}, 20s);
      // master exits after stop; wait until the port is free before the queue goes.
      for (int i = 0; i < 50; ++i) {
        diag::smtp::Connection probe;
        if (probe.connect(diag::IpAddress::v4({127, 0, 0, 1}), port_, diag::smtp::Clock::now() + 100ms).status != diag::smtp::IoStatus::ok) break;
        std::this_thread::sleep_for(100ms);
      }
    }
    ::unlink(log_.c_str());
  }
  std::uint16_t port() const { return port_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& log_file() const { return log_; }
  std::string dir() const { return dir_.path(); }

 private:
  static void must_run(const std::vector<std::string>& argv) {
    const auto run = run_program(argv, 20s);
    if (run.exit_code != 0) throw std::runtime_error(argv[0] + " failed: " + run.err);
  }
  TempDir dir_;
  std::uint16_t port_;
  std::string log_, ca_file_;
  bool running_ = false;
};

// sendcheck-listen as a process for `sessions` sessions (the readiness
// check is one more: it connects and leaves), bounded by a time limit far
// above its --timeout.
inline const std::string listen_tool = bin_dir + "/sendcheck-listen";
struct Listener {
  std::uint16_t port = free_port();
  RunResult result;
  std::thread thread;
  Listener(std::vector<std::string> args, int sessions, std::chrono::milliseconds limit = 60s) {
    std::vector<std::string> argv{listen_tool, "--port", std::to_string(port), "--sessions", std::to_string(sessions + 1),
                                  "--timeout", "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    thread = std::thread([this, argv, limit] { result = run_program(argv, limit); });
    if (!wait_for_port(port)) {
      thread.join();
      throw std::runtime_error("sendcheck-listen did not start: " + result.err);
    }
  }
  ~Listener() {
    if (thread.joinable()) thread.join();
  }
  RunResult finish() {
    thread.join();
    return result;
  }
};

// An access token in RFC 7515 compact form with a made-up signature: its
// claims are all sendcheck-listen can read, the signature only Microsoft checks.
inline std::string base64url(const std::string& data) {
  std::string out = diag::smtp::base64_encode(data);
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}
inline std::string test_jwt(const nlohmann::json& claims) {
  return base64url(R"({"typ":"JWT","alg":"RS256","kid":"test"})") + "." + base64url(claims.dump()) + "." +
         base64url("not a real signature");
}
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
// A user's token for Exchange Online with SMTP.Send, valid for the next hour.
inline nlohmann::json exchange_user_claims(const std::string& upn = "app@contoso.example") {
  return {{"aud", "https://outlook.office.com"}, {"scp", "SMTP.Send offline_access"}, {"upn", upn},
          {"exp", unix_now() + 3600}, {"nbf", unix_now() - 60}, {"tid", "11111111-2222-3333-4444-555555555555"}};
}

inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// Every session document in sendcheck-listen's JSON: the "sessions" of each
// envelope (one document with --sessions N, one a line without).
inline std::vector<nlohmann::json> listen_sessions(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& document : json_lines(text))
    for (const auto& session : document.value("sessions", nlohmann::json::array())) out.push_back(session);
  return out;
}

}  // namespace smtp_testing
