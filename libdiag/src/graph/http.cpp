#include "diag/http.h"

#include <algorithm>
#include <cctype>

#include "diag/ascii.h"
#include "diag/curl_runtime.h"

namespace diag::http {

namespace {

struct Transfer {
  Response response;
  std::size_t max_body_bytes = 0;
  bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->response.body.size() + bytes > transfer->max_body_bytes) {
    transfer->too_large = true;
    return 0;  // aborts the transfer: a hostile or broken peer cannot fill memory
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue): forget the last one's headers
    transfer->response.retry_after.clear();
    transfer->response.location.clear();
    transfer->response.content_type.clear();
    return bytes;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  const std::string name = ascii::to_lower(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  value = value.substr(0, 8192);
  if (name == "retry-after") transfer->response.retry_after = value;
  else if (name == "location") transfer->response.location = value;
  else if (name == "content-type") transfer->response.content_type = value;
  return bytes;
}

TransportFailure classify(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return TransportFailure::timed_out;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return TransportFailure::connect_failed;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM: return TransportFailure::tls_failed;
    default: return TransportFailure::unavailable;
  }
}

}  // namespace

bool url_allowed(std::string_view url) {
  if (url.starts_with("https://")) return true;
  for (std::string_view prefix : {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/",
                                  "http://[::1]:", "http://[::1]/"})
    if (url.starts_with(prefix)) return true;
  return false;
}

std::string origin_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return {};
  const auto authority_end = url.find_first_of("/?#", scheme_end + 3);
  const std::string_view origin = url.substr(0, authority_end);
  if (origin.size() == scheme_end + 3) return {};
  // A userinfo part ("https://graph.microsoft.com@evil.example") would make
  // the origin read as one host and connect to another.
  if (origin.find('@') != std::string_view::npos) return {};
  return ascii::to_lower(origin);
}

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const auto value = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int high = value(text[i + 1]), low = value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

Exchange perform(const Request& request) {
  Exchange exchange;
  if (!url_allowed(request.url)) {
    exchange.failure = TransportFailure::refused_url;
    exchange.error = "only https:// URLs are used (plain http only on loopback)";
    return exchange;
  }
  const curl::Library& library = curl::library();
  if (!library.loaded()) {
    exchange.error = library.load_error;
    return exchange;
  }
  curl::EasyHandle handle = curl::easy_handle();
  if (!handle) {
    exchange.error = "cannot start libcurl";
    return exchange;
  }
  CURL* const easy = handle.get();
  const auto setopt = library.easy_setopt;
  curl::HeaderList headers;
  std::vector<std::string> header_lines = request.headers;
  // No "Expect: 100-continue" round trip before a POST body (a client assertion is over 1 KB).
  if (request.method == "POST") header_lines.push_back("Expect:");
  for (const auto& header : header_lines) {
    curl_slist* extended = library.slist_append(headers.get(), header.c_str());
    if (!extended) {
      exchange.error = "cannot build the request headers";
      return exchange;
    }
    (void)headers.release();
    headers.reset(extended);
  }
  Transfer transfer;
  transfer.max_body_bytes = request.max_body_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {};
  setopt(easy, CURLOPT_URL, request.url.c_str());
  if (request.method == "POST") {
    setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
    setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  if (headers) setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  setopt(easy, CURLOPT_WRITEDATA, &transfer);
  setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  setopt(easy, CURLOPT_HEADERDATA, &transfer);
  setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  setopt(easy, CURLOPT_NOSIGNAL, 1L);
  // Redirects are the caller's decision: the bearer token must not follow
  // the usage report's 302 to its pre-authenticated download host.
  setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // decoded bytes count against the bound
  if (!request.ca_file.empty()) setopt(easy, CURLOPT_CAINFO, request.ca_file.c_str());
  const CURLcode code = library.easy_perform(easy);
  if (code != CURLE_OK) {
    exchange.failure = transfer.too_large ? TransportFailure::body_too_large : classify(code);
    exchange.error = transfer.too_large ? "the answer is larger than " + std::to_string(request.max_body_bytes) + " bytes"
                     : error_buffer[0] ? std::string(error_buffer)
                                       : std::string(library.easy_strerror(code));
    return exchange;
  }
  library.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  exchange.response = std::move(transfer.response);
  return exchange;
}

}  // namespace diag::http
