// The connection under both sides of the engine: a non-blocking socket,
// every wait bounded by poll and a deadline, lines bounded in length, and
// TLS layered on the same descriptor.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <cerrno>
#include <cstring>

#include "diag/smtp.h"

namespace diag::smtp {

namespace {

// > 0 ready, 0 deadline passed, < 0 error.
int wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (ready > 0) return 1;
  }
}

socklen_t fill_sockaddr(const IpAddress& address, std::uint16_t port, sockaddr_storage& storage) {
  std::memset(&storage, 0, sizeof storage);
  if (address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, address.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, address.data(), 16);
  return sizeof(sockaddr_in6);
}

constexpr std::size_t read_chunk = 16 * 1024;

}  // namespace

RawSocket::~RawSocket() {
  if (fd >= 0) ::close(fd);
}

RawSocket& RawSocket::operator=(RawSocket&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) ::close(fd);
    fd = other.fd;
    other.fd = -1;
  }
  return *this;
}

Connection::Connection(RawSocket socket, std::size_t max_line) : socket_(std::move(socket)), max_line_(max_line) {
  if (socket_.fd >= 0) {
    const int flags = ::fcntl(socket_.fd, F_GETFL, 0);
    ::fcntl(socket_.fd, F_SETFL, flags | O_NONBLOCK);
    // Replies are small writes answered at once: Nagle would add a delayed-ACK wait.
    const int one = 1;
    ::setsockopt(socket_.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

Connection::~Connection() { close(); }
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;

ConnectResult Connection::connect(const IpAddress& address, std::uint16_t port, Clock::time_point deadline) {
  ConnectResult out;
  socket_ = RawSocket(::socket(address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket_.fd < 0) {
    out.status = IoStatus::error;
    out.error_number = errno;
    out.detail = std::strerror(errno);
    return out;
  }
  const int one = 1;
  ::setsockopt(socket_.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage storage;
  const socklen_t length = fill_sockaddr(address, port, storage);
  if (::connect(socket_.fd, reinterpret_cast<sockaddr*>(&storage), length) == 0) return out;
  if (errno != EINPROGRESS) {
    out.status = IoStatus::error;
    out.error_number = errno;
    out.detail = std::strerror(errno);
    return out;
  }
  const int ready = wait_fd(socket_.fd, POLLOUT, deadline);
  if (ready == 0) {
    out.status = IoStatus::timeout;
    out.detail = "no answer to the connection attempt (no SYN-ACK)";
    return out;
  }
  int error = 0;
  socklen_t error_length = sizeof error;
  if (ready < 0 || ::getsockopt(socket_.fd, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0) error = errno;
  if (error != 0) {
    out.status = IoStatus::error;
    out.error_number = error;
    out.detail = std::strerror(error);
  }
  return out;
}

IoStatus Connection::fill(Clock::time_point deadline, std::string* detail) {
  if (buffer_start_ > 0 && (buffer_start_ >= buffer_.size() || buffer_start_ > read_chunk)) {
    buffer_.erase(0, buffer_start_);
    buffer_start_ = 0;
  }
  char chunk[read_chunk];
  for (;;) {
    if (ssl_) {
      ERR_clear_error();
      const int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return IoStatus::ok;
      }
      const int error = SSL_get_error(ssl_.get(), n);
      short events = 0;
      if (error == SSL_ERROR_WANT_READ) events = POLLIN;
      else if (error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
      else if (error == SSL_ERROR_ZERO_RETURN) return IoStatus::closed;
      else {
        // TLS 1.3 (RFC 8446 4.4.2.4): a server that wanted a client
        // certificate says so with an alert after the client's handshake ended.
        const unsigned long code = ERR_peek_error();
        if (code != 0) handshake_failure_ = tls::classify_handshake_error(code);
        const std::string reason = tls::last_error_text();
        // A peer that drops TCP without close_notify: closed, as for plain TCP.
        if (error == SSL_ERROR_SYSCALL || reason.find("unexpected eof") != std::string::npos) return IoStatus::closed;
        if (detail) *detail = reason;
        return IoStatus::tls_error;
      }
      const int ready = wait_fd(socket_.fd, events, deadline);
      if (ready == 0) return IoStatus::timeout;
      if (ready < 0) return IoStatus::error;
      continue;
    }
    const ssize_t n = ::recv(socket_.fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return IoStatus::ok;
    }
    if (n == 0) return IoStatus::closed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (detail) *detail = std::strerror(errno);
      return errno == ECONNRESET ? IoStatus::closed : IoStatus::error;
    }
    const int ready = wait_fd(socket_.fd, POLLIN, deadline);
    if (ready == 0) return IoStatus::timeout;
    if (ready < 0) return IoStatus::error;
  }
}

ReadResult Connection::read_line(Clock::time_point deadline) {
  ReadResult out;
  if (socket_.fd < 0) {
    out.status = IoStatus::closed;
    return out;
  }
  for (;;) {
    const auto newline = buffer_.find('\n', buffer_start_);
    if (newline != std::string::npos && newline - buffer_start_ <= max_line_) {
      std::size_t end = newline;
      if (end > buffer_start_ && buffer_[end - 1] == '\r') --end;
      out.line.assign(buffer_, buffer_start_, end - buffer_start_);
      buffer_start_ = newline + 1;
      return out;
    }
    if (buffer_.size() - buffer_start_ > max_line_) {
      out.status = IoStatus::too_long;
      out.line.assign(buffer_, buffer_start_, 80);
      out.detail = "a line longer than " + std::to_string(max_line_) + " bytes";
      return out;
    }
    out.status = fill(deadline, &out.detail);
    if (out.status != IoStatus::ok) {
      // What came before the end, for the transcript (an HTTP reply without a newline).
      out.line.assign(buffer_, buffer_start_, std::min<std::size_t>(buffer_.size() - buffer_start_, 200));
      return out;
    }
  }
}

IoStatus Connection::read_bytes(std::size_t count, std::string& out, Clock::time_point deadline) {
  while (buffered() < count) {
    const IoStatus status = fill(deadline, nullptr);
    if (status != IoStatus::ok) {
      out.assign(buffer_, buffer_start_, std::string::npos);
      buffer_start_ = buffer_.size();
      return status;
    }
  }
  out.assign(buffer_, buffer_start_, count);
  buffer_start_ += count;
  return IoStatus::ok;
}

std::string_view Connection::peek(std::size_t count, Clock::time_point deadline) {
  while (socket_.fd >= 0 && buffered() < count && buffer_.find('\n', buffer_start_) == std::string::npos)
    if (fill(deadline, nullptr) != IoStatus::ok) break;
  return std::string_view(buffer_).substr(buffer_start_, count);
}

bool Connection::wait_readable(Clock::time_point deadline) {
  if (buffered() > 0) return true;
  if (ssl_ && SSL_pending(ssl_.get()) > 0) return true;
  return wait_fd(socket_.fd, POLLIN, deadline) > 0;
}

IoStatus Connection::write_all(std::string_view data, Clock::time_point deadline, std::string* detail) {
  if (socket_.fd < 0) return IoStatus::closed;
  while (!data.empty()) {
    if (ssl_) {
      ERR_clear_error();
      const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20));
      const int n = SSL_write(ssl_.get(), data.data(), chunk);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), n);
      short events = 0;
      if (error == SSL_ERROR_WANT_READ) events = POLLIN;
      else if (error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
      else {
        const std::string reason = tls::last_error_text();
        if (detail) *detail = reason.empty() ? "connection closed" : reason;
        return error == SSL_ERROR_SYSCALL ? IoStatus::closed : IoStatus::tls_error;
      }
      const int ready = wait_fd(socket_.fd, events, deadline);
      if (ready == 0) return IoStatus::timeout;
      if (ready < 0) return IoStatus::error;
      continue;
    }
    const ssize_t n = ::send(socket_.fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      if (detail) *detail = std::strerror(errno);
      return (errno == EPIPE || errno == ECONNRESET) ? IoStatus::closed : IoStatus::error;
    }
    const int ready = wait_fd(socket_.fd, POLLOUT, deadline);
    if (ready == 0) return IoStatus::timeout;
    if (ready < 0) return IoStatus::error;
  }
  return IoStatus::ok;
}

IoStatus Connection::handshake(bool client, Clock::time_point deadline, std::string* detail) {
  handshake_failure_ = tls::HandshakeFailure::none;
  for (;;) {
    ERR_clear_error();
    const int n = client ? SSL_connect(ssl_.get()) : SSL_accept(ssl_.get());
    if (n == 1) return IoStatus::ok;
    const int error = SSL_get_error(ssl_.get(), n);
    short events = 0;
    if (error == SSL_ERROR_WANT_READ) events = POLLIN;
    else if (error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    else {
      const unsigned long code = ERR_peek_error();
      handshake_failure_ = code == 0 && error == SSL_ERROR_SYSCALL ? tls::HandshakeFailure::closed
                                                                    : tls::classify_handshake_error(code);
      // TLS 1.2 (RFC 5246 7.4.6): a server that asked for a certificate and
      // got none answers handshake_failure.
      if (client && handshake_failure_ == tls::HandshakeFailure::no_shared_cipher &&
          tls::server_requested_certificate(ssl_.get()))
        handshake_failure_ = tls::HandshakeFailure::certificate_required;
      std::string reason = tls::last_error_text();
      if (reason.empty()) reason = error == SSL_ERROR_SYSCALL ? "connection closed during the handshake" : "handshake failed";
      if (detail) *detail = reason;
      return IoStatus::tls_error;
    }
    const int ready = wait_fd(socket_.fd, events, deadline);
    if (ready == 0) {
      handshake_failure_ = tls::HandshakeFailure::timed_out;
      if (detail) *detail = "no answer during the TLS handshake";
      return IoStatus::timeout;
    }
    if (ready < 0) return IoStatus::error;
  }
}

// Both sides: plaintext read ahead of the TLS start is dropped (and
// counted), then an SSL object takes over the socket.
bool Connection::attach_tls(SSL_CTX* context, std::string* detail) {
  dropped_before_tls_ = buffered();
  buffer_.clear();
  buffer_start_ = 0;
  ssl_.reset(SSL_new(context));
  // OpenSSL retries a read inside SSL_read after each handshake record
  // (SSL_MODE_AUTO_RETRY): a peer that renegotiates without end while data
  // keeps arriving would hold it there past every deadline. Without the
  // mode, SSL_read returns WANT_READ and fill() checks the deadline.
  if (ssl_) SSL_clear_mode(ssl_.get(), SSL_MODE_AUTO_RETRY);
  if (ssl_ && SSL_set_fd(ssl_.get(), socket_.fd) == 1) return true;
  if (detail) *detail = tls::last_error_text();
  return false;
}

IoStatus Connection::start_tls_client(SSL_CTX* context, const std::string& server_name, Clock::time_point deadline,
                                      std::string* detail) {
  if (!attach_tls(context, detail)) return IoStatus::tls_error;
  // RFC 6066 3: SNI carries a host name, never an address literal.
  if (!server_name.empty() && !IpAddress::parse(server_name)) SSL_set_tlsext_host_name(ssl_.get(), server_name.c_str());
  return handshake(true, deadline, detail);
}

IoStatus Connection::start_tls_server(SSL_CTX* context, Clock::time_point deadline, std::string* detail) {
  if (!attach_tls(context, detail)) return IoStatus::tls_error;
  return handshake(false, deadline, detail);
}

void Connection::close() {
  if (ssl_ && socket_.fd >= 0 && SSL_is_init_finished(ssl_.get())) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // one attempt: a hostile peer must not hold us here
    ERR_clear_error();
  }
  ssl_.reset();
  socket_ = RawSocket();
}

Result<RawSocket> listen_tcp(const IpAddress& address, std::uint16_t port, int backlog) {
  RawSocket socket(::socket(address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket.fd < 0) return unavailable(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(socket.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!address.is_v4()) ::setsockopt(socket.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  sockaddr_storage storage;
  const socklen_t length = fill_sockaddr(address, port, storage);
  if (::bind(socket.fd, reinterpret_cast<sockaddr*>(&storage), length) != 0)
    return unavailable("cannot listen on " + address.to_string() + " port " + std::to_string(port) + ": " +
                       std::strerror(errno));
  if (::listen(socket.fd, backlog) != 0) return unavailable(std::string("listen: ") + std::strerror(errno));
  return socket;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return 0;
  if (storage.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

std::string peer_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

}  // namespace diag::smtp
