// IPv4 and IPv6 addresses as values: parsed from and printed to the
// presentation forms, compared bytewise, tested against CIDR prefixes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace diag
