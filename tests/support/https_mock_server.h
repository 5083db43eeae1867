// A loopback HTTPS server for the Graph, identity-platform and Exchange
// admin API tests: TLS with a server certificate for 127.0.0.1 signed by the
// test CA made at test start (smtp_test_support.h), one request per
// connection, each answered by a scripted handler. Answers can be streamed
// (a page larger than any bound, sent until the client hangs up) or cut
// short (a Content-Length the body never reaches). Header-only.
#pragma once

#include <poll.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "diag/ascii.h"
#include "diag/http.h"
#include "diag/smtp.h"
#include "diag/tls.h"
#include "smtp_test_support.h"

namespace graph_testing {

using namespace std::chrono_literals;

struct MockRequest {
  std::string method, target, path, query;       // target = path[?query]
  std::map<std::string, std::string> headers;    // names lower case
  std::string body;

  // A query or form parameter, percent-decoded ("+" is a space in a form).
  static std::map<std::string, std::string> parameters(std::string_view text) {
    std::map<std::string, std::string> out;
    while (!text.empty()) {
      const auto amp = text.find('&');
      std::string_view pair = text.substr(0, amp);
      text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
      const auto eq = pair.find('=');
      std::string name(pair.substr(0, eq)), value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      for (auto& c : value)
        if (c == '+') c = ' ';
      out[diag::http::percent_decode(name).value_or(name)] = diag::http::percent_decode(value).value_or("<bad escape>");
    }
    return out;
  }
  std::map<std::string, std::string> query_parameters() const { return parameters(query); }
  std::map<std::string, std::string> form() const { return parameters(body); }
  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

struct MockResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  // Streamed instead of body: called for each next chunk until it returns false.
  std::function<bool(std::string& chunk)> stream;
  // Announce this Content-Length but send only body, then close.
  std::optional<std::size_t> claimed_length;
};

using MockHandler = std::function<MockResponse(const MockRequest&)>;

class HttpsMockServer {
 public:
  explicit HttpsMockServer(MockHandler handler) : handler_(std::move(handler)) {
    auto credentials = smtp_testing::server_credentials("127.0.0.1");
    auto context = diag::tls::make_server_context(*credentials, {});
    if (!context) throw std::runtime_error(context.error().message);
    context_ = std::move(context).value();
    auto listener = diag::smtp::listen_tcp(diag::IpAddress::v4({127, 0, 0, 1}), 0);
    if (!listener) throw std::runtime_error(listener.error().message);
    listener_ = std::move(listener.value());
    port_ = diag::smtp::local_port(listener_.fd);
    ca_file_ = dir_.file("ca.pem", smtp_testing::pki().ca_pem);
    thread_ = std::thread([this] { loop(); });
  }
  ~HttpsMockServer() {
    stop_ = true;
    thread_.join();
  }
  HttpsMockServer(const HttpsMockServer&) = delete;
  HttpsMockServer& operator=(const HttpsMockServer&) = delete;

  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return ca_file_; }
  std::vector<MockRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static std::string reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 302: return "Found";
      case 400: return "Bad Request";
      case 401: return "Unauthorized";
      case 403: return "Forbidden";
      case 404: return "Not Found";
      case 429: return "Too Many Requests";
      default: return "Status";
    }
  }

  void serve(diag::smtp::Connection& connection) {
    const auto deadline = diag::smtp::Clock::now() + 5s;
    std::string detail;
    if (connection.start_tls_server(context_.get(), deadline, &detail) != diag::smtp::IoStatus::ok) return;
    MockRequest request;
    auto first = connection.read_line(deadline);
    if (first.status != diag::smtp::IoStatus::ok) return;
    const auto space1 = first.line.find(' '), space2 = first.line.rfind(' ');
    if (space1 == std::string::npos || space2 <= space1) return;
    request.method = first.line.substr(0, space1);
    request.target = first.line.substr(space1 + 1, space2 - space1 - 1);
    const auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    std::size_t length = 0;
    while (true) {
      auto line = connection.read_line(deadline);
      if (line.status != diag::smtp::IoStatus::ok || line.line.empty()) break;
      const auto colon = line.line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = diag::ascii::to_lower(line.line.substr(0, colon));
      std::string value(diag::ascii::trim(line.line.substr(colon + 1)));
      if (name == "content-length") length = std::stoul(value);
      request.headers[name] = value;
    }
    if (length > 0 && length < 16 * 1024 * 1024) connection.read_bytes(length, request.body, deadline);
    MockResponse response = handler_(request);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) + "\r\n";
    head += "Content-Type: " + response.content_type + "\r\n";
    for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
    if (!response.stream)
      head += "Content-Length: " + std::to_string(response.claimed_length.value_or(response.body.size())) + "\r\n";
    head += "Connection: close\r\n\r\n";
    const auto write_deadline = diag::smtp::Clock::now() + 20s;
    if (connection.write_all(head, write_deadline) != diag::smtp::IoStatus::ok) return;
    if (response.stream) {
      std::string chunk;
      while (!stop_ && response.stream(chunk))
        if (connection.write_all(chunk, write_deadline) != diag::smtp::IoStatus::ok) break;  // the client hung up
    } else {
      connection.write_all(response.body, write_deadline);
    }
  }

  void loop() {
    while (!stop_) {
      pollfd entry{listener_.fd, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      diag::smtp::RawSocket client(::accept(listener_.fd, nullptr, nullptr));
      if (client.fd < 0) continue;
      diag::smtp::Connection connection(std::move(client), 256 * 1024);
      serve(connection);
      connection.close();
    }
  }

  MockHandler handler_;
  smtp_testing::TempDir dir_;
  diag::tls::SslCtxPtr context_;
  diag::smtp::RawSocket listener_;
  std::uint16_t port_ = 0;
  std::string ca_file_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<MockRequest> requests_;
};

}  // namespace graph_testing
