// DNS wire format: round trips, compression, truncation, and packets that
// are broken in one specific way each. Decoding must fail cleanly, never
// crash; the fuzz loop at the end checks that for thousands of mutations.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "diag/wire.h"

using diag::IpAddress;
using namespace diag::dns;
using namespace diag::dns::wire;

namespace {

// Builds packets by hand, for the cases the encoder would never produce.
class PacketBuilder {
 public:
  PacketBuilder& header(std::uint16_t id, std::uint16_t flags, std::uint16_t questions, std::uint16_t answers,
                        std::uint16_t authority = 0, std::uint16_t additional = 0) {
    for (const std::uint16_t value : {id, flags, questions, answers, authority, additional}) u16(value);
    return *this;
  }
  PacketBuilder& u8(std::uint8_t value) {
    bytes.push_back(value);
    return *this;
  }
  PacketBuilder& u16(std::uint16_t value) {
    bytes.push_back(static_cast<std::uint8_t>(value >> 8));
    bytes.push_back(static_cast<std::uint8_t>(value));
    return *this;
  }
  PacketBuilder& u32(std::uint32_t value) {
    u16(static_cast<std::uint16_t>(value >> 16));
    return u16(static_cast<std::uint16_t>(value));
  }
  PacketBuilder& raw(std::initializer_list<std::uint8_t> values) {
    bytes.insert(bytes.end(), values.begin(), values.end());
    return *this;
  }
  PacketBuilder& text(std::string_view value) {
    bytes.insert(bytes.end(), value.begin(), value.end());
    return *this;
  }
  // Uncompressed labels, then the root.
  PacketBuilder& name(std::initializer_list<std::string_view> labels) {
    for (const std::string_view label : labels) {
      u8(static_cast<std::uint8_t>(label.size()));
      text(label);
    }
    return u8(0);
  }
  PacketBuilder& pointer(std::uint16_t offset) { return u16(static_cast<std::uint16_t>(0xC000 | offset)); }
  // TYPE, CLASS IN, TTL 300, RDLENGTH.
  PacketBuilder& record_fields(RrType type, std::uint16_t rdata_length) {
    return u16(static_cast<std::uint16_t>(type)).u16(1).u32(300).u16(rdata_length);
  }
  // The question "example.com MX IN" at offset 12.
  PacketBuilder& example_question() { return name({"example", "com"}).u16(15).u16(1); }

  std::vector<std::uint8_t> bytes;
};

constexpr std::uint16_t response_flags = 0x8180;  // QR, RD, RA
constexpr std::uint16_t example_com_offset = 12;

Record make_record(std::string owner, RrType type, Rdata data, std::uint32_t ttl = 300) {
  return Record{std::move(owner), type, ttl, std::move(data)};
}

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) { return IpAddress::v4({a, b, c, d}); }

IpAddress documentation_v6(std::uint8_t last) {
  std::array<std::uint8_t, 16> bytes{0x20, 0x01, 0x0d, 0xb8};
  bytes[15] = last;
  return IpAddress::v6(bytes);
}

Message response_for(std::string name, RrType type) {
  Message message;
  message.header.id = 0xBEEF;
  message.header.qr = true;
  message.header.rd = true;
  message.header.ra = true;
  message.questions.push_back(Question{std::move(name), static_cast<std::uint16_t>(type), 1});
  return message;
}

// One record of every modelled type, spread over the three sections.
Message message_with_every_type() {
  Message message = response_for("example.com", RrType::MX);
  message.header.aa = true;
  message.header.ad = true;
  message.answers = {
      make_record("example.com", RrType::MX, MxData{10, "mail.example.com"}),
      make_record("example.com", RrType::MX, MxData{0, "."}),
      make_record("example.com", RrType::TXT, TxtData{{"v=spf1 -all", "", "second"}}),
      make_record("example.com", RrType::SPF, TxtData{{"v=spf1 include:spf.example.net -all"}}),
      make_record("www.example.com", RrType::CNAME, NameData{"example.com"}),
      make_record("25.2.0.192.in-addr.arpa", RrType::PTR, NameData{"mail.example.com"}),
  };
  message.authority = {
      make_record("example.com", RrType::NS, NameData{"ns1.example.net"}),
      make_record("example.com", RrType::SOA,
                  SoaData{"ns1.example.net", "hostmaster.example.com", 2024060101, 3600, 900, 604800, 300}),
  };
  message.additional = {
      make_record("mail.example.com", RrType::A, AddressData{v4(192, 0, 2, 25)}, 60),
      make_record("mail.example.com", RrType::AAAA, AddressData{documentation_v6(0x25)}, 0x7FFFFFFF),
  };
  return message;
}

Message decode_ok(const std::vector<std::uint8_t>& bytes) {
  auto decoded = decode_message(bytes);
  if (!decoded) FAIL("decode failed: " << decoded.error().message);
  return std::move(decoded).value();
}

std::string decode_error(const std::vector<std::uint8_t>& bytes) {
  auto decoded = decode_message(bytes);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().kind == diag::ErrorKind::bad_input);
  return decoded.error().message;
}

std::size_t count_pointers_to(const std::vector<std::uint8_t>& bytes, std::uint16_t offset) {
  std::size_t found = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (bytes[i] == (0xC0 | offset >> 8) && bytes[i + 1] == (offset & 0xFF)) ++found;
  }
  return found;
}

}  // namespace

TEST_CASE("encode_query writes RD, AD and an EDNS0 OPT record", "[wire]") {
  const std::vector<std::uint8_t> expected{
      0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1,                      // header: RD+AD, QD=1, AR=1
      7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 15, 0, 1,  // example.com MX IN
      0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};                             // OPT, 1232 octets
  CHECK(encode_query(0x1234, "example.com", RrType::MX) == expected);
  CHECK(encode_query(0x1234, "Example.COM.", RrType::MX).size() == expected.size());

  const auto plain = encode_query(7, "example.com", RrType::A, 0);
  const Message decoded = decode_ok(plain);
  CHECK_FALSE(decoded.has_edns);
  CHECK(decoded.header.rd);
  CHECK(decoded.header.ad);
  CHECK_FALSE(decoded.header.qr);
  REQUIRE(decoded.questions.size() == 1);
  CHECK(decoded.questions[0].name == "example.com");
  CHECK(decoded.questions[0].type == 1);
}

TEST_CASE("encode_query refuses names the wire cannot carry", "[wire]") {
  CHECK(encode_query(1, "a..example.com", RrType::A).empty());
  CHECK(encode_query(1, ".example.com", RrType::A).empty());
  CHECK(encode_query(1, std::string(64, 'a') + ".com", RrType::A).empty());
  CHECK_FALSE(encode_query(1, std::string(63, 'a') + ".com", RrType::A).empty());
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  CHECK(encode_query(1, long_name, RrType::A).empty());  // 4 * 64 + 1 = 257 octets
  CHECK(encode_query(1, "bad\\", RrType::A).empty());     // a dangling escape
  CHECK(encode_query(1, "bad\\256.com", RrType::A).empty());
  CHECK_FALSE(encode_query(1, "", RrType::NS).empty());  // the root
}

TEST_CASE("every record type survives a round trip", "[wire]") {
  const Message original = message_with_every_type();
  const auto bytes = encode_message(original);
  REQUIRE_FALSE(bytes.empty());
  const Message decoded = decode_ok(bytes);

  CHECK(decoded.header.id == 0xBEEF);
  CHECK(decoded.header.qr);
  CHECK(decoded.header.aa);
  CHECK(decoded.header.rd);
  CHECK(decoded.header.ra);
  CHECK(decoded.header.ad);
  CHECK_FALSE(decoded.header.tc);
  CHECK_FALSE(decoded.header.cd);
  CHECK(decoded.header.rcode == 0);
  REQUIRE(decoded.questions.size() == 1);
  CHECK(decoded.questions[0].name == "example.com");
  CHECK(decoded.questions[0].type == 15);
  CHECK(decoded.answers == original.answers);
  CHECK(decoded.authority == original.authority);
  CHECK(decoded.additional == original.additional);
  CHECK(decoded.unknown.empty());
  CHECK_FALSE(decoded.has_edns);
}

TEST_CASE("header flags, opcode and rcode round trip", "[wire]") {
  Message message = response_for("example.com", RrType::A);
  message.header.tc = true;
  message.header.cd = true;
  message.header.opcode = 2;
  message.header.rcode = static_cast<std::uint8_t>(Rcode::nxdomain);
  const Message decoded = decode_ok(encode_message(message));
  CHECK(decoded.header.tc);
  CHECK(decoded.header.cd);
  CHECK(decoded.header.opcode == 2);
  CHECK(decoded.header.rcode == 3);
}

TEST_CASE("EDNS: the OPT record sets has_edns and stays out of the sections", "[wire]") {
  Message message = message_with_every_type();
  message.has_edns = true;
  message.edns_udp_size = 4096;
  const Message decoded = decode_ok(encode_message(message));
  CHECK(decoded.has_edns);
  CHECK(decoded.edns_udp_size == 4096);
  CHECK(decoded.additional == message.additional);
  REQUIRE(decoded.unknown.size() == 1);
  CHECK(decoded.unknown[0].type == 41);
  CHECK(decoded.unknown[0].owner.empty());

  // Re-encoding a decoded message writes one OPT, not two.
  const Message again = decode_ok(encode_message(decoded));
  CHECK(again.unknown.size() == 1);
  CHECK(again.edns_udp_size == 4096);
}

TEST_CASE("names are compressed, case-insensitively", "[wire]") {
  Message message = response_for("EXAMPLE.com", RrType::MX);
  message.answers = {
      make_record("example.com", RrType::MX, MxData{10, "mail.example.com"}),
      make_record("example.com", RrType::MX, MxData{20, "mail.example.com"}),
  };
  const auto bytes = encode_message(message);
  // Both owners and the second exchange point back; the first exchange is
  // "mail" plus a pointer to the question's name.
  CHECK(count_pointers_to(bytes, example_com_offset) == 3);
  const std::size_t uncompressed = 12 + 17 + 2 * (13 + 10 + 2 + 18);
  CHECK(bytes.size() < uncompressed - 40);

  const Message decoded = decode_ok(bytes);
  CHECK(decoded.questions[0].name == "example.com");
  CHECK(decoded.answers == message.answers);
}

TEST_CASE("names inside SOA, NS, CNAME and PTR rdata are compressed", "[wire]") {
  Message message = response_for("example.com", RrType::SOA);
  message.answers = {
      make_record("example.com", RrType::SOA,
                  SoaData{"ns1.example.com", "hostmaster.example.com", 1, 2, 3, 4, 5}),
      make_record("example.com", RrType::NS, NameData{"ns1.example.com"}),
      make_record("www.example.com", RrType::CNAME, NameData{"example.com"}),
      make_record("1.2.0.192.in-addr.arpa", RrType::PTR, NameData{"www.example.com"}),
  };
  const auto bytes = encode_message(message);
  // "example.com" written once, everything else pointing at it or at names
  // that do.
  std::size_t example_labels = 0;
  for (std::size_t i = 0; i + 7 < bytes.size(); ++i) {
    if (std::equal(bytes.begin() + static_cast<std::ptrdiff_t>(i), bytes.begin() + static_cast<std::ptrdiff_t>(i) + 8,
                   std::begin("\x07" "example"))) {
      ++example_labels;
    }
  }
  CHECK(example_labels == 1);
  CHECK(decode_ok(bytes).answers == message.answers);
}

TEST_CASE("TXT: several strings, empty strings, long strings", "[wire]") {
  Message message = response_for("example.com", RrType::TXT);
  const std::string exactly_255(255, 'x');
  const std::string over_255 = std::string(255, 'y') + "tail";
  message.answers = {
      make_record("example.com", RrType::TXT, TxtData{{"v=spf1 include:a.example", " include:b.example -all"}}),
      make_record("example.com", RrType::TXT, TxtData{{"", "", ""}}),
      make_record("example.com", RrType::TXT, TxtData{{exactly_255}}),
      make_record("example.com", RrType::TXT, TxtData{{over_255}}),
      make_record("example.com", RrType::TXT, TxtData{{}}),
      make_record("example.com", RrType::TXT, TxtData{{std::string("nul\0byte\xff", 9)}}),
  };
  const Message decoded = decode_ok(encode_message(message));
  REQUIRE(decoded.answers.size() == 6);
  const auto strings = [&](std::size_t i) { return std::get<TxtData>(decoded.answers[i].data).strings; };
  CHECK(strings(0) == std::vector<std::string>{"v=spf1 include:a.example", " include:b.example -all"});
  CHECK(std::get<TxtData>(decoded.answers[0].data).joined() ==
        "v=spf1 include:a.example include:b.example -all");
  CHECK(strings(1) == std::vector<std::string>{"", "", ""});
  CHECK(strings(2) == std::vector<std::string>{exactly_255});
  // Over 255 octets: split into character-strings, the joined text kept.
  CHECK(strings(3) == std::vector<std::string>{std::string(255, 'y'), "tail"});
  // No strings at all: empty rdata, read back as no strings.
  CHECK(strings(4).empty());
  CHECK(strings(5) == std::vector<std::string>{std::string("nul\0byte\xff", 9)});
}

TEST_CASE("TXT with zero-length rdata decodes as no strings", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::TXT, 0);
  const Message decoded = decode_ok(packet.bytes);
  REQUIRE(decoded.answers.size() == 1);
  CHECK(std::get<TxtData>(decoded.answers[0].data).strings.empty());
}

TEST_CASE("encode_message refuses data that does not fit the record type", "[wire]") {
  Message message = response_for("example.com", RrType::A);
  SECTION("an IPv6 address in an A record") {
    message.answers = {make_record("example.com", RrType::A, AddressData{documentation_v6(1)})};
  }
  SECTION("a name in an MX record") {
    message.answers = {make_record("example.com", RrType::MX, NameData{"mail.example.com"})};
  }
  SECTION("an OPT record among the answers") {
    message.answers = {make_record("", RrType::OPT, TxtData{})};
  }
  SECTION("an owner with an empty label") {
    message.answers = {make_record("a..example.com", RrType::A, AddressData{v4(192, 0, 2, 1)})};
  }
  CHECK(encode_message(message).empty());
}

TEST_CASE("labels with dots and unprintable octets are escaped", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 1)
      .name({std::string_view("a.b"), std::string_view("\x01 \\Z", 4), "example"})
      .u16(1)
      .u16(1)
      .pointer(12)
      .record_fields(RrType::CNAME, 2)
      .pointer(12);
  const Message decoded = decode_ok(packet.bytes);
  CHECK(decoded.questions[0].name == "a\\.b.\\001\\032\\\\z.example");
  REQUIRE(decoded.answers.size() == 1);
  CHECK(std::get<NameData>(decoded.answers[0].data).target == "a\\.b.\\001\\032\\\\z.example");

  // The escaped form encodes back to the same labels (lower-cased).
  Message again = response_for(decoded.questions[0].name, RrType::A);
  const auto bytes = encode_message(again);
  const std::vector<std::uint8_t> expected_name{3, 'a', '.', 'b', 4, 0x01, ' ', '\\', 'z', 7,
                                                'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  REQUIRE(bytes.size() >= 12 + expected_name.size());
  CHECK(std::vector<std::uint8_t>(bytes.begin() + 12, bytes.begin() + 12 + static_cast<std::ptrdiff_t>(expected_name.size())) ==
        expected_name);
}

TEST_CASE("truncation drops whole records from the end and sets TC", "[wire]") {
  Message message = response_for("big.example.com", RrType::TXT);
  message.has_edns = true;
  message.edns_udp_size = 1232;
  for (int i = 0; i < 20; ++i) {
    message.answers.push_back(
        make_record("big.example.com", RrType::TXT, TxtData{{std::to_string(i) + std::string(100, 'x')}}));
  }
  const auto full = encode_message(message);
  CHECK(full.size() > 2000);
  CHECK_FALSE(decode_ok(full).header.tc);

  const auto truncated = encode_message(message, 512);
  CHECK(truncated.size() <= 512);
  const Message decoded = decode_ok(truncated);
  CHECK(decoded.header.tc);
  REQUIRE_FALSE(decoded.answers.empty());
  REQUIRE(decoded.answers.size() < message.answers.size());
  // The records kept are the first ones, intact.
  CHECK(std::equal(decoded.answers.begin(), decoded.answers.end(), message.answers.begin()));
  // RFC 6891 7: the OPT record stays in a truncated answer.
  CHECK(decoded.has_edns);

  // A limit that leaves room for the question only.
  const Message bare = decode_ok(encode_message(message, 60));
  CHECK(bare.header.tc);
  CHECK(bare.answers.empty());
  CHECK(bare.questions.size() == 1);
}

TEST_CASE("dropping only additional records does not set TC (RFC 2181 9)", "[wire]") {
  Message message = response_for("example.com", RrType::MX);
  message.answers = {make_record("example.com", RrType::MX, MxData{10, "mail.example.com"})};
  for (std::uint8_t i = 1; i <= 40; ++i) {
    message.additional.push_back(make_record("mail.example.com", RrType::A, AddressData{v4(192, 0, 2, i)}));
  }
  const auto bytes = encode_message(message, 300);
  CHECK(bytes.size() <= 300);
  const Message decoded = decode_ok(bytes);
  CHECK_FALSE(decoded.header.tc);
  CHECK(decoded.answers.size() == 1);
  CHECK(decoded.additional.size() < 40);
}

TEST_CASE("truncation: a limit the message fits changes nothing", "[wire]") {
  const Message message = message_with_every_type();
  const auto full = encode_message(message);
  CHECK(encode_message(message, full.size()) == full);
  CHECK(decode_ok(encode_message(message, full.size() - 1)).header.tc == false);  // an additional record went
}

TEST_CASE("records of other types and classes are kept raw", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 3)
      .example_question()
      .pointer(example_com_offset)
      .u16(46)  // RRSIG: not modelled
      .u16(1)
      .u32(300)
      .u16(3)
      .raw({1, 2, 3})
      .pointer(example_com_offset)
      .u16(16)  // TXT in class CH: not the Internet's
      .u16(3)
      .u32(0)
      .u16(4)
      .raw({3, 'b', 'i', 'n'})
      .pointer(example_com_offset)
      .record_fields(RrType::A, 4)
      .raw({192, 0, 2, 1});
  const Message decoded = decode_ok(packet.bytes);
  REQUIRE(decoded.unknown.size() == 2);
  CHECK(decoded.unknown[0].owner == "example.com");
  CHECK(decoded.unknown[0].type == 46);
  CHECK(decoded.unknown[0].rdata == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(decoded.unknown[1].rclass == 3);
  CHECK(decoded.answers.size() == 1);
}

TEST_CASE("a TTL with the top bit set reads as zero (RFC 2181 8)", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).u16(1).u16(1).u32(0x80000001).u16(4).raw(
      {192, 0, 2, 1});
  CHECK(decode_ok(packet.bytes).answers.at(0).ttl == 0);
}

TEST_CASE("the root name: empty as owner and question, '.' inside rdata", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 1).name({}).u16(2).u16(1).u8(0).record_fields(RrType::NS, 1).u8(0);
  const Message decoded = decode_ok(packet.bytes);
  CHECK(decoded.questions.at(0).name.empty());
  CHECK(decoded.answers.at(0).owner.empty());
  CHECK(std::get<NameData>(decoded.answers.at(0).data).target == ".");
  CHECK(decode_ok(encode_message(decoded)).answers == decoded.answers);
}

TEST_CASE("a name of exactly 255 octets decodes, 256 does not", "[wire]") {
  const std::string label63(63, 'a');
  const std::string label61(61, 'b');
  const std::string label62(62, 'b');
  PacketBuilder fits;  // 3 * 64 + 62 + 1 = 255
  fits.header(1, 0, 1, 0).name({label63, label63, label63, label61}).u16(1).u16(1);
  CHECK(decode_ok(fits.bytes).questions.at(0).name.size() == 3 * 64 + 61);

  PacketBuilder too_long;  // 256
  too_long.header(1, 0, 1, 0).name({label63, label63, label63, label62}).u16(1).u16(1);
  CHECK_THAT(decode_error(too_long.bytes), Catch::Contains("longer than 255 octets"));
}

TEST_CASE("malformed packets are rejected with a specific message", "[wire]") {
  PacketBuilder packet;
  std::string expected;

  SECTION("empty") {
    expected = "shorter than the 12-octet header";
  }
  SECTION("header cut short") {
    packet.raw({0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0});
    expected = "message is 11 octets";
  }
  SECTION("a question counted but missing") {
    packet.header(1, response_flags, 1, 0);
    expected = "question 1: message ends inside a name (offset 12)";
  }
  SECTION("a question name cut inside a label") {
    packet.header(1, response_flags, 1, 0).u8(7).text("exam");
    expected = "question 1: message ends inside a label (offset 12)";
  }
  SECTION("a question without type and class") {
    packet.header(1, response_flags, 1, 0).name({"example", "com"}).u16(15);
    expected = "question 1: message ends inside the question type and class (offset 25)";
  }
  SECTION("a pointer to itself") {
    packet.header(1, response_flags, 1, 0).pointer(12).u16(1).u16(1);
    expected = "compression pointer to offset 12 does not point backwards (offset 12)";
  }
  SECTION("a label followed by a pointer back to it: a loop") {
    packet.header(1, response_flags, 1, 0).u8(1).text("a").pointer(12).u16(1).u16(1);
    expected = "compression pointer to offset 12 does not point backwards (offset 14)";
  }
  SECTION("two names pointing at each other") {
    // Question 1 is fine; the answer's owner points forward to a pointer
    // that points back at it.
    packet.header(1, response_flags, 1, 1).example_question().pointer(31).pointer(29);
    expected = "answer 1: compression pointer to offset 31 does not point backwards (offset 29)";
  }
  SECTION("a pointer past the end of the message") {
    packet.header(1, response_flags, 1, 0).pointer(0x3FFF);
    expected = "does not point backwards";
  }
  SECTION("a pointer into the header") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(4).record_fields(RrType::A, 4).raw({1, 2, 3, 4});
    expected = "answer 1: compression pointer into the header";
  }
  SECTION("a compression pointer cut in half") {
    packet.header(1, response_flags, 1, 0).u8(0xC0);
    expected = "message ends inside a compression pointer";
  }
  SECTION("a label of 64 octets") {
    packet.header(1, response_flags, 1, 0).u8(64).text(std::string(64, 'a')).u8(0).u16(1).u16(1);
    expected = "label length 64 is over 63 octets (offset 12)";
  }
  SECTION("an extended label type (0x80)") {
    packet.header(1, response_flags, 1, 0).u8(0x80).u8(0).u16(1).u16(1);
    expected = "label length 128 is over 63 octets";
  }
  SECTION("a name over 255 octets through compression") {
    // Question 1: 3 labels of 63 (193 octets). Question 2: one more label of
    // 63 and a pointer to question 1: 257 octets.
    const std::string label(63, 'a');
    packet.header(1, 0, 2, 0).name({label, label, label}).u16(1).u16(1);
    packet.u8(63).text(label).pointer(12).u16(1).u16(1);
    expected = "question 2: name is longer than 255 octets";
  }
  SECTION("a chain of more than 127 pointers") {
    // Question 0 is the root; each later question's name points at the
    // previous one's, so the last needs 128 jumps.
    packet.header(1, 0, 130, 0).u8(0).u16(1).u16(1);
    std::uint16_t previous = 12;
    for (int i = 1; i < 130; ++i) {
      const auto here = static_cast<std::uint16_t>(packet.bytes.size());
      packet.pointer(previous).u16(1).u16(1);
      previous = here;
    }
    expected = "question 129: more than 127 compression pointers in one name";
  }
  SECTION("an answer counted but missing") {
    packet.header(1, response_flags, 1, 1).example_question();
    expected = "answer 1: message ends inside a name (offset 29)";
  }
  SECTION("a record header cut short") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).u16(1).u16(1).u8(0);
    expected = "answer 1: message ends inside the record's type, class, TTL and rdata length (offset 31)";
  }
  SECTION("rdata length past the end of the message") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::A, 4).raw(
        {192, 0});
    expected = "answer 1: rdata length 4 runs past the end of the message (offset 39)";
  }
  SECTION("A with 5 octets of rdata") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::A, 5).raw(
        {192, 0, 2, 1, 0});
    expected = "answer 1: rdata length 5 does not match A data (offset 41)";
  }
  SECTION("AAAA with 4 octets of rdata") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::AAAA, 4).raw(
        {192, 0, 2, 1});
    expected = "answer 1: rdata length 4 does not match AAAA data";
  }
  SECTION("an MX whose name runs past its rdata length") {
    // Answer 1 is fine; answer 2's RDLENGTH 7 ends inside "mail.example.com".
    packet.header(1, response_flags, 1, 2).example_question();
    packet.pointer(example_com_offset).record_fields(RrType::MX, 4).u16(10).pointer(example_com_offset);
    const auto rdata_offset = packet.bytes.size() + 12;
    packet.pointer(example_com_offset).record_fields(RrType::MX, 7).u16(10).name({"mail", "example", "com"});
    expected = "answer 2: rdata length 7 does not match MX data: name runs past the rdata (offset " +
               std::to_string(rdata_offset + 2 + 5) + ")";
  }
  SECTION("an MX whose rdata goes on after the name") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::MX, 7).u16(
        10).pointer(example_com_offset).raw({0, 0, 0});
    expected = "answer 1: rdata length 7 does not match MX data (offset 41)";
  }
  SECTION("an MX with only a preference") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::MX, 2).u16(
        10);
    expected = "answer 1: rdata length 2 does not match MX data";
  }
  SECTION("a CNAME with trailing octets in its rdata") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::CNAME, 3).pointer(
        example_com_offset).u8(0);
    expected = "answer 1: rdata length 3 does not match CNAME data";
  }
  SECTION("a CNAME whose name is a pointer cut by the rdata length") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::CNAME, 1).pointer(
        example_com_offset);
    expected = "answer 1: rdata length 1 does not match CNAME data: name runs past the rdata (offset 41)";
  }
  SECTION("a TXT character-string longer than its rdata") {
    packet.header(1, response_flags, 1, 1).example_question().pointer(example_com_offset).record_fields(RrType::TXT, 4).u8(
        10).text("abc");
    expected = "answer 1: rdata length 4 does not match TXT data: character-string of 10 octets runs past the rdata";
  }
  SECTION("an SOA missing its last counter") {
    packet.header(1, response_flags, 1, 0, 1).example_question().pointer(example_com_offset).record_fields(RrType::SOA, 2 + 2 + 16);
    packet.pointer(example_com_offset).pointer(example_com_offset).u32(1).u32(2).u32(3).u32(4);
    expected = "authority 1: rdata length 20 does not match SOA data";
  }
  SECTION("an SOA with octets after its counters") {
    packet.header(1, response_flags, 1, 0, 1).example_question().pointer(example_com_offset).record_fields(RrType::SOA, 2 + 2 + 21);
    packet.pointer(example_com_offset).pointer(example_com_offset).u32(1).u32(2).u32(3).u32(4).u32(5).u8(0);
    expected = "authority 1: rdata length 25 does not match SOA data";
  }
  SECTION("an SOA whose rname runs past the rdata") {
    packet.header(1, response_flags, 1, 0, 1).example_question().pointer(example_com_offset).record_fields(RrType::SOA, 3);
    packet.pointer(example_com_offset).name({"hostmaster"}).u32(1).u32(2).u32(3).u32(4).u32(5);
    expected = "authority 1: rdata length 3 does not match SOA data: name runs past the rdata (offset 43)";
  }
  SECTION("OPT in the answer section") {
    packet.header(1, response_flags, 1, 1).example_question().u8(0).u16(41).u16(1232).u32(0).u16(0);
    expected = "answer 1: OPT record outside the additional section";
  }
  SECTION("two OPT records") {
    packet.header(1, response_flags, 1, 0, 0, 2).example_question();
    packet.u8(0).u16(41).u16(1232).u32(0).u16(0).u8(0).u16(41).u16(1232).u32(0).u16(0);
    expected = "additional 2: second OPT record";
  }
  SECTION("an OPT record not owned by the root") {
    packet.header(1, response_flags, 1, 0, 0, 1).example_question().pointer(example_com_offset).u16(41).u16(1232).u32(0).u16(0);
    expected = "additional 1: OPT record owned by 'example.com' instead of the root";
  }
  SECTION("fewer additional records than counted") {
    packet.header(1, response_flags, 1, 0, 0, 2).example_question().u8(0).u16(41).u16(1232).u32(0).u16(0);
    expected = "additional 2: message ends inside a name";
  }
  CHECK_THAT(decode_error(packet.bytes), Catch::Contains(expected));
}

TEST_CASE("the error message names section, record, field and offset", "[wire]") {
  PacketBuilder packet;
  packet.header(1, response_flags, 1, 2).example_question();
  packet.pointer(example_com_offset).record_fields(RrType::MX, 4).u16(10).pointer(example_com_offset);
  packet.pointer(example_com_offset).record_fields(RrType::MX, 7).u16(10).pointer(example_com_offset).raw({1, 2, 3});
  CHECK(decode_error(packet.bytes) == "answer 2: rdata length 7 does not match MX data (offset 57)");
}

TEST_CASE("octets after the last record are ignored", "[wire]") {
  auto bytes = encode_message(message_with_every_type());
  bytes.insert(bytes.end(), {0xDE, 0xAD});
  CHECK(decode_ok(bytes).answers.size() == message_with_every_type().answers.size());
}

TEST_CASE("decoding mutated packets never crashes (deterministic fuzz)", "[wire]") {
  Message with_edns = message_with_every_type();
  with_edns.has_edns = true;
  with_edns.edns_udp_size = 1232;
  const std::vector<std::vector<std::uint8_t>> seeds{
      encode_message(message_with_every_type()),
      encode_message(with_edns),
      encode_query(0x4242, "contoso.sendcheck.test", RrType::MX),
      encode_message(with_edns, 200),
  };
  std::mt19937 random(20240601);  // fixed: a failure must reproduce
  const auto below = [&](std::size_t bound) {
    return bound == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, bound - 1)(random);
  };
  std::size_t decoded_ok = 0;
  std::size_t rejected = 0;
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::vector<std::uint8_t> packet = seeds[below(seeds.size())];
    const std::size_t mutations = 1 + below(4);
    for (std::size_t m = 0; m < mutations; ++m) {
      switch (below(6)) {
        case 0:  // flip one bit
          if (!packet.empty()) packet[below(packet.size())] ^= static_cast<std::uint8_t>(1u << below(8));
          break;
        case 1:  // overwrite one octet
          if (!packet.empty()) packet[below(packet.size())] = static_cast<std::uint8_t>(below(256));
          break;
        case 2:  // cut the packet short
          packet.resize(below(packet.size() + 1));
          break;
        case 3: {  // insert random octets
          const std::size_t at = below(packet.size() + 1);
          const std::size_t count = 1 + below(8);
          for (std::size_t i = 0; i < count; ++i) {
            packet.insert(packet.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(below(256)));
          }
          break;
        }
        case 4:  // plant a compression pointer
          if (packet.size() >= 2) {
            const std::size_t at = below(packet.size() - 1);
            packet[at] = static_cast<std::uint8_t>(0xC0 | below(2));
            packet[at + 1] = static_cast<std::uint8_t>(below(256));
          }
          break;
        case 5:  // raise a count in the header
          if (packet.size() >= 12) packet[5 + 2 * below(4)] = static_cast<std::uint8_t>(below(256));
          break;
      }
    }
    const auto decoded = decode_message(packet);
    if (!decoded) {
      ++rejected;
      REQUIRE_FALSE(decoded.error().message.empty());
      continue;
    }
    ++decoded_ok;
    // Whatever decodes must encode again and decode to the same questions
    // and answers: the decoder never produces a name the encoder refuses.
    const auto again = encode_message(*decoded);
    REQUIRE_FALSE(again.empty());
    const auto redecoded = decode_message(again);
    REQUIRE(redecoded.ok());
    REQUIRE(redecoded->answers == decoded->answers);
    REQUIRE(redecoded->questions.size() == decoded->questions.size());
  }
  // Both paths were exercised.
  CHECK(decoded_ok > 100);
  CHECK(rejected > 100);
}

TEST_CASE("a name holding a space or any other octet is encoded as it is (RFC 2181 11)", "[wire]") {
  // SPF macros (RFC 7208 7.3) build such names; only sizes make a name malformed.
  const auto query = encode_query(9, "A B.\x7f\xff.example", RrType::TXT);
  REQUIRE_FALSE(query.empty());
  const std::vector<std::uint8_t> expected_name{3, 'A', ' ', 'B', 2, 0x7f, 0xff, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  REQUIRE(query.size() >= 12 + expected_name.size());
  CHECK(std::vector<std::uint8_t>(query.begin() + 12, query.begin() + 12 + static_cast<std::ptrdiff_t>(expected_name.size())) ==
        expected_name);
  // Read back, it is the canonical text of the same name.
  const Message decoded = decode_ok(query);
  CHECK(decoded.questions[0].name == "a\\032b.\\127\\255.example");
  CHECK(decoded.questions[0].name == canonical_name("A B.\x7f\xff.example."));
  // "\DDD" stands for one octet in the length limits too.
  CHECK_FALSE(encode_query(1, std::string(62, 'a') + "\\032.com", RrType::A).empty());
  CHECK(encode_query(1, std::string(63, 'a') + "\\032.com", RrType::A).empty());
}

TEST_CASE("decode_question_section reads header and question and no record", "[wire]") {
  PacketBuilder packet;
  packet.header(0xBEEF, response_flags, 1, 1).name({"example", "com"}).u16(15).u16(1);
  packet.bytes.insert(packet.bytes.end(), {0xC0, 0x0C, 0, 1, 0, 1});  // an answer cut off after its class
  CHECK_FALSE(decode_message(packet.bytes).ok());
  const auto head = decode_question_section(packet.bytes);
  REQUIRE(head.ok());
  CHECK(head->header.id == 0xBEEF);
  CHECK(head->header.qr);
  REQUIRE(head->questions.size() == 1);
  CHECK(head->questions[0] == Question{"example.com", 15, 1});
  CHECK(head->answers.empty());
  CHECK_FALSE(decode_question_section(std::vector<std::uint8_t>{0xBE, 0xEF, 0x80}).ok());
}

TEST_CASE("canonical_name gives one text per wire name", "[wire]") {
  CHECK(canonical_name("Mail.Example.COM.") == "mail.example.com");
  CHECK(canonical_name("a b.example") == "a\\032b.example");
  CHECK(canonical_name("A\\032B.example.") == "a\\032b.example");
  CHECK(canonical_name("\\065\\.b.example") == "a\\.b.example");  // one label "a.b"
  CHECK(canonical_name("a\\\\.example") == "a\\\\.example");
  CHECK(canonical_name("a\\.") == "a\\.");  // the escaped dot is data, not the root's
  CHECK(canonical_name(".") == "");
  CHECK(canonical_name("a..b") == "a..b");  // no name: lower-cased only
  CHECK(name_is_at_or_below("a\\032b.example", "example"));
  CHECK_FALSE(name_is_at_or_below("a\\.example", "example"));  // one label "a.example"
  CHECK(name_is_at_or_below("a\\\\.example", "example"));     // "a\" then "example"
}

TEST_CASE("name_labels says why a name is malformed", "[wire]") {
  CHECK(name_labels("a b.example")->size() == 2);
  CHECK(name_labels("").value().empty());
  CHECK_THAT(name_labels("a..b").error().message, Catch::Contains("empty label"));
  CHECK_THAT(name_labels(std::string(64, 'x')).error().message, Catch::Contains("63"));
  CHECK_THAT(name_labels("a\\25").error().message, Catch::Contains("bad escape"));
  CHECK_THAT(name_labels("a\\").error().message, Catch::Contains("backslash"));
}
