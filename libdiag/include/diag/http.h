// One bounded HTTPS exchange over the run-time-loaded libcurl: what the
// Microsoft Graph, identity-platform and Exchange admin API clients share.
// Every exchange has a total timeout, a bound on the body, no automatic
// redirects (a redirect is handed back, so the caller decides where its
// bearer token may go), and refuses plain http anywhere but loopback.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diag::http {

// https://..., or http:// to 127.0.0.1, [::1] or localhost (test servers).
bool url_allowed(std::string_view url);
// The scheme://host[:port] part of an absolute URL; empty when it is not one.
std::string origin_of(std::string_view url);
// RFC 3986 2.3: everything but the unreserved characters percent-encoded.
std::string percent_encode(std::string_view text);
// The inverse; nullopt for a bad escape.
std::optional<std::string> percent_decode(std::string_view text);

struct Request {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POST only
  std::string ca_file;               // trust these instead of the system store (tests)
  std::chrono::milliseconds timeout{30000};  // the whole exchange, connect to last byte
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

// Why no HTTP answer came back (a 4xx or 5xx is an answer, not this).
enum class TransportFailure {
  refused_url,     // not https (and not loopback http): never sent
  timed_out,       // the timeout passed
  connect_failed,  // name, connection refused, unreachable
  tls_failed,      // handshake or certificate
  body_too_large,  // the answer exceeded max_body_bytes: aborted
  unavailable,     // libcurl could not be loaded, or any other failure
};

struct Response {
  long status = 0;
  std::string body;
  // The headers a caller of Graph needs; empty when absent.
  std::string retry_after, location, content_type;
};

struct Exchange {
  std::optional<Response> response;  // set when an HTTP answer arrived
  TransportFailure failure = TransportFailure::unavailable;  // when it did not
  std::string error;                 // libcurl's reason, when it did not
};

Exchange perform(const Request& request);

}  // namespace diag::http
