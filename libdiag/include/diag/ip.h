// IPv4 and IPv6 addresses as values: parsed from and printed to the
// presentation forms, compared bytewise, tested against CIDR prefixes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diag {

class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;
  static IpAddress v4(const std::array<std::uint8_t, 4>& bytes);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);
  // Accepts dotted-quad IPv4 and RFC 4291 IPv6 text (no brackets, no zone id).
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  // 4 bytes for IPv4, 16 for IPv6.
  const std::uint8_t* data() const { return bytes_.data(); }
  std::size_t size() const { return is_v4() ? 4 : 16; }
  int max_prefix() const { return is_v4() ? 32 : 128; }

  std::string to_string() const;
  // True when the first prefix_bits bits equal those of network (same family).
  bool in_prefix(const IpAddress& network, int prefix_bits) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

// Where an address can be seen from: what Microsoft 365 (or a DNS
// blocklist) sees of a sender is its public address, never one of the
// special-purpose ranges of the IANA registries (RFC 6890).
enum class AddressScope : std::uint8_t {
  public_internet,
  private_use,    // RFC 1918: 10/8, 172.16/12, 192.168/16
  shared_cgnat,   // RFC 6598: 100.64/10, a carrier's NAT
  loopback,       // RFC 1122 127/8, RFC 4291 ::1
  link_local,     // RFC 3927 169.254/16, RFC 4291 fe80::/10
  unique_local,   // RFC 4193 fc00::/7
  documentation,  // RFC 5737 192.0.2/24, 198.51.100/24, 203.0.113/24; RFC 3849 2001:db8::/32
  unspecified,    // 0/8, ::
  multicast,      // 224/4, ff00::/8
  reserved,       // 240/4 (RFC 1112), including the broadcast address
  special_purpose,  // RFC 6890: 192.0.0/24 protocol assignments, 198.18/15 benchmarking, 100::/64 discard-only
  translated,       // NAT64 prefixes (RFC 6052 64:ff9b::/96, RFC 8215 64:ff9b:1::/48): the gateway's IPv4 is what is seen
};
AddressScope address_scope(const IpAddress& address);
// Never reachable from the internet: private, CGNAT, loopback, link-local,
// unique-local, unspecified, multicast, reserved. Documentation ranges are
// not routed either, but they stand for public addresses in examples and
// tests, so callers treat them as a warning, not as an input error.
bool is_non_public(AddressScope scope);
// "a private address (RFC 1918)", "a carrier-grade NAT address (RFC 6598)", ...
std::string_view describe(AddressScope scope);

// The addresses the system resolver gives for a host name (getaddrinfo:
// /etc/hosts, the search domains, then DNS), in its order, without
// repeats: how "localhost" or a LAN's "smtprelay" is found. Empty when it
// has none. Blocks; for names given on the command line, once at start.
std::vector<IpAddress> system_addresses(const std::string& host, bool ipv4 = true, bool ipv6 = true);

}  // namespace diag
