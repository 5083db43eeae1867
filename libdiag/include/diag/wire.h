// DNS messages on the wire (RFC 1035 4, RFC 6891 for OPT): the resolver
// reads answers with it and the test server writes them with it. Every read
// is bounds-checked: a hostile packet yields an error, never a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "diag/dns.h"
#include "diag/result.h"

namespace diag::dns::wire {

enum class Rcode : std::uint8_t { noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4, refused = 5 };

struct Header {
  std::uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  std::uint8_t opcode = 0;
  std::uint8_t rcode = 0;  // low 4 bits from the header
};

struct Question {
  std::string name;  // canonical (lower case, no trailing dot)
  std::uint16_t type = 0;
  std::uint16_t qclass = 1;
  friend bool operator==(const Question&, const Question&) = default;
};

// A record whose type we do not model (RRSIG, OPT, ...) keeps its raw rdata.
struct RawRecord {
  std::string owner;
  std::uint16_t type = 0;
  std::uint16_t rclass = 1;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  // Records of the types in RrType (except OPT) are decoded; others stay raw.
  std::vector<Record> answers, authority, additional;
  std::vector<RawRecord> unknown;  // from any section
  bool has_edns = false;
  std::uint16_t edns_udp_size = 0;
};

// A query with RD set and AD set (RFC 6840 5.7: ask for the AD bit without
// DO), with an EDNS0 OPT record advertising edns_udp_size when it is non-zero.
std::vector<std::uint8_t> encode_query(std::uint16_t id, std::string_view name, RrType type,
                                       std::uint16_t edns_udp_size = 1232);

// Full message, name compression used for owner names and rdata names.
// When max_size is non-zero and the message would exceed it, records are
// dropped from the end and TC is set (RFC 2181 9).
std::vector<std::uint8_t> encode_message(const Message& message, std::size_t max_size = 0);

// Parses a whole message. Fails with ErrorKind::bad_input and a message
// naming what was wrong (offset, field) on any malformation: truncated
// data, compression loops, pointers forward or out of range, labels over
// 63 octets, names over 255 octets, rdata lengths that disagree with the data.
Result<Message> decode_message(std::span<const std::uint8_t> packet);
// The header and the question section only, no record read: enough to tell
// whether a reply answers the question asked (RFC 5452 9.1) before any of
// its data is believed, and to tell a malformed answer from a stray one.
Result<Message> decode_question_section(std::span<const std::uint8_t> packet);

}  // namespace diag::dns::wire
