#include "diag/ip.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <memory>

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

namespace {

struct ScopeRange {
  const char* network;
  int bits;
  AddressScope scope;
};

// The IANA special-purpose registries (RFC 6890 and its updates).
constexpr ScopeRange scope_ranges[] = {
    {"0.0.0.0", 8, AddressScope::unspecified},       {"10.0.0.0", 8, AddressScope::private_use},
    {"100.64.0.0", 10, AddressScope::shared_cgnat},  {"127.0.0.0", 8, AddressScope::loopback},
    {"169.254.0.0", 16, AddressScope::link_local},   {"172.16.0.0", 12, AddressScope::private_use},
    {"192.0.2.0", 24, AddressScope::documentation},  {"192.168.0.0", 16, AddressScope::private_use},
    {"198.51.100.0", 24, AddressScope::documentation}, {"203.0.113.0", 24, AddressScope::documentation},
    {"224.0.0.0", 4, AddressScope::multicast},       {"240.0.0.0", 4, AddressScope::reserved},
    {"::", 128, AddressScope::unspecified},          {"::1", 128, AddressScope::loopback},
    {"fe80::", 10, AddressScope::link_local},        {"fc00::", 7, AddressScope::unique_local},
    {"2001:db8::", 32, AddressScope::documentation}, {"ff00::", 8, AddressScope::multicast},
    {"192.0.0.0", 24, AddressScope::special_purpose}, {"198.18.0.0", 15, AddressScope::special_purpose},
    {"100::", 64, AddressScope::special_purpose},    {"64:ff9b::", 96, AddressScope::translated},
    {"64:ff9b:1::", 48, AddressScope::translated},
};

}  // namespace

AddressScope address_scope(const IpAddress& address) {
  IpAddress ip = address;
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2) is the IPv4 address it maps.
  static const IpAddress mapped = *IpAddress::parse("::ffff:0:0");
  if (!ip.is_v4() && ip.in_prefix(mapped, 96)) {
    const std::uint8_t* b = ip.data();
    ip = IpAddress::v4({b[12], b[13], b[14], b[15]});
  }
  // 2002:a.b.c.d::/48 (6to4, RFC 3056) carries its IPv4 address: one
  // that is not public makes the IPv6 address no public one either.
  static const IpAddress six_to_four = *IpAddress::parse("2002::");
  if (!ip.is_v4() && ip.in_prefix(six_to_four, 16)) {
    const std::uint8_t* b = ip.data();
    const AddressScope embedded = address_scope(IpAddress::v4({b[2], b[3], b[4], b[5]}));
    if (embedded != AddressScope::public_internet) return embedded;
  }
  for (const auto& range : scope_ranges)
    if (ip.in_prefix(*IpAddress::parse(range.network), range.bits)) return range.scope;
  return AddressScope::public_internet;
}

bool is_non_public(AddressScope scope) {
  return scope != AddressScope::public_internet && scope != AddressScope::documentation;
}

std::string_view describe(AddressScope scope) {
  switch (scope) {
    case AddressScope::public_internet: return "a public address";
    case AddressScope::private_use: return "a private address (RFC 1918)";
    case AddressScope::shared_cgnat: return "a carrier-grade NAT address (RFC 6598, 100.64.0.0/10)";
    case AddressScope::loopback: return "a loopback address";
    case AddressScope::link_local: return "a link-local address";
    case AddressScope::unique_local: return "a unique local IPv6 address (RFC 4193, fc00::/7)";
    case AddressScope::documentation: return "a documentation address (RFC 5737 / RFC 3849), used in examples";
    case AddressScope::unspecified: return "an unspecified address";
    case AddressScope::multicast: return "a multicast address";
    case AddressScope::reserved: return "a reserved address (240.0.0.0/4)";
    case AddressScope::special_purpose: return "a special-purpose address (RFC 6890: protocol assignments, benchmarking or discard)";
    case AddressScope::translated: return "a NAT64 address (RFC 6052), whose mail reaches the internet from the NAT64 gateway's IPv4 address";
  }
  return "an address";
}

std::vector<IpAddress> system_addresses(const std::string& host, bool ipv4, bool ipv6) {
  std::vector<IpAddress> out;
  if (!ipv4 && !ipv6) return out;
  addrinfo hints{};
  hints.ai_family = ipv4 && !ipv6 ? AF_INET : !ipv4 && ipv6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry an address, not one a socket type
  addrinfo* raw = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &raw) != 0) return out;
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> info(raw, &::freeaddrinfo);
  for (const addrinfo* entry = info.get(); entry; entry = entry->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* bytes = entry->ai_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(entry->ai_addr)->sin_addr)
                        : entry->ai_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(entry->ai_addr)->sin6_addr)
                            : nullptr;
    if (!bytes || !::inet_ntop(entry->ai_family, bytes, text, sizeof text)) continue;
    const auto address = IpAddress::parse(text);
    if (address && std::find(out.begin(), out.end(), *address) == out.end()) out.push_back(*address);
  }
  return out;
}

}  // namespace diag
