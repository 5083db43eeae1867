#include "diag/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace diag {

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& bytes) {
  IpAddress address;
  address.family_ = Family::v4;
  std::memcpy(address.bytes_.data(), bytes.data(), 4);
  return address;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress address;
  address.family_ = Family::v6;
  address.bytes_ = bytes;
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short, so refuse
  // anything longer than the longest IPv6 form before copying.
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string terminated(text);
  std::array<std::uint8_t, 16> bytes{};
  if (terminated.find(':') == std::string::npos) {
    // inet_pton(AF_INET) accepts only the strict dotted-quad form, which is
    // what DNS and SPF (RFC 7208 4.6.1 ip4-network) expect.
    if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) != 1) return std::nullopt;
    return v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) != 1) return std::nullopt;
  return v6(bytes);
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof buffer);
  return buffer;
}

bool IpAddress::in_prefix(const IpAddress& network, int prefix_bits) const {
  if (family_ != network.family_ || prefix_bits < 0 || prefix_bits > max_prefix()) return false;
  const int whole_bytes = prefix_bits / 8;
  if (std::memcmp(bytes_.data(), network.bytes_.data(), whole_bytes) != 0) return false;
  const int remaining_bits = prefix_bits % 8;
  if (remaining_bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - remaining_bits));
  return (bytes_[whole_bytes] & mask) == (network.bytes_[whole_bytes] & mask);
}

}  // namespace diag
