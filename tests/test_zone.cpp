// RFC 1035 master-file parser and the zone overlay.
#include <algorithm>
#include <catch2/catch.hpp>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "diag/zone.h"

using namespace diag::dns;
using diag::ErrorKind;
using diag::IpAddress;

namespace {

const std::string zones_dir = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/zones";
const std::string bad_dir = zones_dir + "/bad";

IpAddress ip(std::string_view text) {
  auto address = IpAddress::parse(text);
  REQUIRE(address);
  return *address;
}

ZoneFile parse_ok(std::string_view text, std::string_view origin = "example.test") {
  auto zone = parse_zone_text(text, "t.zone", origin);
  INFO((zone.ok() ? std::string() : zone.error().message));
  REQUIRE(zone.ok());
  return std::move(zone).value();
}

std::string parse_error(std::string_view text, std::string_view origin = "example.test") {
  auto zone = parse_zone_text(text, "t.zone", origin);
  REQUIRE_FALSE(zone.ok());
  CHECK(zone.error().kind == ErrorKind::bad_input);
  return zone.error().message;
}

// Parses fixtures/zones/bad/NAME and returns the message with the path
// prefix checked and removed, so a test reads "LINE:COLUMN: message".
std::string bad_file_error(const std::string& name) {
  const std::string path = bad_dir + "/" + name;
  auto zone = parse_zone_file(path);
  REQUIRE_FALSE(zone.ok());
  CHECK(zone.error().kind == ErrorKind::bad_input);
  const std::string& message = zone.error().message;
  REQUIRE(message.rfind(path + ":", 0) == 0);
  return message.substr(path.size() + 1);
}

Record record(std::string owner, RrType type, std::uint32_t ttl, Rdata data) {
  return Record{std::move(owner), type, ttl, std::move(data)};
}

std::vector<Record> records_at(const ZoneFile& zone, std::string_view owner) {
  std::vector<Record> out;
  for (const auto& r : zone.records)
    if (r.owner == owner) out.push_back(r);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Record types

TEST_CASE("zone: every supported type parses to typed data", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
@        IN SOA  ns1 hostmaster.example.test. 2024060101 3600 900 604800 60
@        IN NS   ns1
ns1      IN A    192.0.2.53
ns1      IN AAAA 2001:db8::53
@        IN MX   10 mx1
@        IN MX   20 mx2.example.net.
@        IN TXT  "v=spf1 -all"
@        IN SPF  "v=spf1 -all"
53.2.0.192.in-addr.arpa. IN PTR ns1
www      IN CNAME @
)");
  REQUIRE(zone.records.size() == 10);
  CHECK(zone.records[0] == record("example.test", RrType::SOA, 300,
                                  SoaData{"ns1.example.test", "hostmaster.example.test", 2024060101,
                                          3600, 900, 604800, 60}));
  CHECK(zone.records[1] == record("example.test", RrType::NS, 300, NameData{"ns1.example.test"}));
  CHECK(zone.records[2] ==
        record("ns1.example.test", RrType::A, 300, AddressData{ip("192.0.2.53")}));
  CHECK(zone.records[3] ==
        record("ns1.example.test", RrType::AAAA, 300, AddressData{ip("2001:db8::53")}));
  CHECK(zone.records[4] == record("example.test", RrType::MX, 300, MxData{10, "mx1.example.test"}));
  CHECK(zone.records[5] == record("example.test", RrType::MX, 300, MxData{20, "mx2.example.net"}));
  CHECK(zone.records[6] == record("example.test", RrType::TXT, 300, TxtData{{"v=spf1 -all"}}));
  CHECK(zone.records[7] == record("example.test", RrType::SPF, 300, TxtData{{"v=spf1 -all"}}));
  CHECK(zone.records[8] ==
        record("53.2.0.192.in-addr.arpa", RrType::PTR, 300, NameData{"ns1.example.test"}));
  CHECK(zone.records[9] ==
        record("www.example.test", RrType::CNAME, 300, NameData{"example.test"}));
  CHECK(zone.apexes == std::vector<std::string>{"example.test"});
}

TEST_CASE("zone: MX special targets", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
null     MX 0 .
literal  MX 10 192.0.2.25.
relative MX 65535 MX1
)");
  REQUIRE(zone.records.size() == 3);
  // RFC 7505: the null MX keeps "." as its exchange.
  CHECK(std::get<MxData>(zone.records[0].data) == MxData{0, "."});
  // An address written as an absolute name is just a name made of digits.
  CHECK(std::get<MxData>(zone.records[1].data) == MxData{10, "192.0.2.25"});
  CHECK(std::get<MxData>(zone.records[2].data) == MxData{65535, "mx1.example.test"});
}

TEST_CASE("zone: SOA across lines with comments and time units", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 1h
@ IN SOA ns1.example.test. ( ; primary name server
         hostmaster          ; rname, relative
         4294967295          ; serial: largest 32-bit value
         2h                  ; refresh
         30M                 ; retry, units are case-insensitive
         1w2d                ; expire
         1h30m )             ; minimum
)");
  REQUIRE(zone.records.size() == 1);
  CHECK(zone.records[0] == record("example.test", RrType::SOA, 3600,
                                  SoaData{"ns1.example.test", "hostmaster.example.test",
                                          4294967295u, 7200, 1800, 9 * 86400, 5400}));
}

// ---------------------------------------------------------------------------
// TXT strings and escapes

TEST_CASE("zone: TXT keeps character-strings apart", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
split  TXT "v=spf1 include:spf.protection.outlook.com" " -all"
bare   TXT v=spf1 -all
empty  TXT ""
paren  TXT ( "first"   ; a comment between strings
             "second" )
semi   TXT "v=DMARC1; p=none"
)");
  REQUIRE(zone.records.size() == 5);
  const auto& split = std::get<TxtData>(zone.records[0].data);
  CHECK(split.strings ==
        std::vector<std::string>{"v=spf1 include:spf.protection.outlook.com", " -all"});
  CHECK(split.joined() == "v=spf1 include:spf.protection.outlook.com -all");
  // Unquoted words are separate character-strings too (RFC 1035 5.1).
  CHECK(std::get<TxtData>(zone.records[1].data).strings ==
        std::vector<std::string>{"v=spf1", "-all"});
  CHECK(std::get<TxtData>(zone.records[2].data).strings == std::vector<std::string>{""});
  CHECK(std::get<TxtData>(zone.records[3].data).strings ==
        std::vector<std::string>{"first", "second"});
  CHECK(std::get<TxtData>(zone.records[4].data).strings ==
        std::vector<std::string>{"v=DMARC1; p=none"});
}

TEST_CASE("zone: backslash escapes in TXT", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
quote   TXT "say \"hi\""
slash   TXT "back\\slash"
decimal TXT "semi\059colon" "caf\233" "\000nul"
letters TXT "\a\b"
bare    TXT semi\;colon paren\(s\) two\ words
)");
  REQUIRE(zone.records.size() == 5);
  CHECK(std::get<TxtData>(zone.records[0].data).strings == std::vector<std::string>{"say \"hi\""});
  CHECK(std::get<TxtData>(zone.records[1].data).strings == std::vector<std::string>{"back\\slash"});
  CHECK(std::get<TxtData>(zone.records[2].data).strings ==
        std::vector<std::string>{"semi;colon", "caf\xe9", std::string("\0nul", 4)});
  CHECK(std::get<TxtData>(zone.records[3].data).strings == std::vector<std::string>{"ab"});
  CHECK(std::get<TxtData>(zone.records[4].data).strings ==
        std::vector<std::string>{"semi;colon", "paren(s)", "two words"});
}

TEST_CASE("zone: a character-string of exactly 255 octets after unescaping is accepted", "[zone]") {
  // 254 plain bytes and one \DDD escape: 258 characters of text, 255 octets.
  const std::string text = "$TTL 300\nlong TXT \"" + std::string(254, 'x') + "\\120\"\n";
  const auto zone = parse_ok(text);
  REQUIRE(zone.records.size() == 1);
  CHECK(std::get<TxtData>(zone.records[0].data).strings[0] == std::string(255, 'x'));
}

// ---------------------------------------------------------------------------
// Names, owners, origins, TTLs and classes

TEST_CASE("zone: owner forms and canonical names", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
@                  A 192.0.2.1
WWW                A 192.0.2.2
Mail.Example.NET.  A 192.0.2.3
a\.b               A 192.0.2.4
\065bc             A 192.0.2.5
)");
  REQUIRE(zone.records.size() == 5);
  CHECK(zone.records[0].owner == "example.test");
  CHECK(zone.records[1].owner == "www.example.test");
  CHECK(zone.records[2].owner == "mail.example.net");
  // An escaped dot stays part of its label.
  CHECK(zone.records[3].owner == "a\\.b.example.test");
  // \065 is "A", lower-cased like any other letter.
  CHECK(zone.records[4].owner == "abc.example.test");
}

TEST_CASE("zone: owner inheritance from the previous line", "[zone]") {
  const auto zone = parse_ok(
      "$TTL 300\n"
      "mail IN MX 10 mx1\n"
      "     IN MX 20 mx2\n"
      "\tIN TXT ( \"spread\"\n"
      "           \"over lines\" )\n"
      "$TTL 60\n"
      "  A 192.0.2.1\n"  // a directive does not reset the owner
      "\n"
      "; a comment line in between\n"
      "  AAAA 2001:db8::1\n"
      "www A 192.0.2.2\n"
      "  A 192.0.2.3\n");
  REQUIRE(zone.records.size() == 7);
  for (std::size_t i = 0; i < 5; ++i) CHECK(zone.records[i].owner == "mail.example.test");
  CHECK(std::get<MxData>(zone.records[1].data) == MxData{20, "mx2.example.test"});
  CHECK(std::get<TxtData>(zone.records[2].data).strings ==
        std::vector<std::string>{"spread", "over lines"});
  CHECK(zone.records[3].ttl == 60);
  CHECK(zone.records[5].owner == "www.example.test");
  CHECK(zone.records[6].owner == "www.example.test");
  CHECK(zone.records[6].data == Rdata{AddressData{ip("192.0.2.3")}});
}

TEST_CASE("zone: $ORIGIN absolute and relative to the current origin", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
$ORIGIN sub
www A 192.0.2.1
$ORIGIN deeper
www A 192.0.2.2
$ORIGIN Other.TEST.
@   A 192.0.2.3
mx  MX 10 @
)");
  REQUIRE(zone.records.size() == 4);
  CHECK(zone.records[0].owner == "www.sub.example.test");
  CHECK(zone.records[1].owner == "www.deeper.sub.example.test");
  CHECK(zone.records[2].owner == "other.test");
  CHECK(std::get<MxData>(zone.records[3].data) == MxData{10, "other.test"});
  // The origin from outside names the zone, as for named-checkzone: what
  // the file puts under other.test is outside it.
  CHECK(zone.apexes == std::vector<std::string>{"example.test"});
  REQUIRE(zone.warnings.size() == 1);
  CHECK(zone.warnings[0].find("t.zone: 2 records (the first: other.test at line 8) lie outside") == 0);
  // Without it, no SOA: the file is authoritative for every $ORIGIN.
  const auto own = parse_ok("$ORIGIN example.test.\n$TTL 300\n$ORIGIN sub\nwww A 192.0.2.1\n$ORIGIN Other.TEST.\n"
                            "@ A 192.0.2.3\n",
                            "");
  CHECK(own.apexes == std::vector<std::string>{"example.test", "sub.example.test", "other.test"});
  CHECK(own.warnings.empty());
}

TEST_CASE("zone: TTL and class in either order, $TTL units", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 2d
a              A 192.0.2.1
b IN           A 192.0.2.2
c 60           A 192.0.2.3
d 60 IN        A 192.0.2.4
e in 1h30m     A 192.0.2.5
$TTL 1W
f              A 192.0.2.6
$TTL 7200
g              a 192.0.2.7
)");
  std::vector<std::uint32_t> ttls;
  for (const auto& r : zone.records) ttls.push_back(r.ttl);
  CHECK(ttls == std::vector<std::uint32_t>{172800, 172800, 60, 60, 5400, 604800, 7200});
  CHECK(zone.records[6].type == RrType::A);
}

TEST_CASE("zone: without $TTL the SOA minimum is the default TTL", "[zone]") {
  const auto zone = parse_ok(R"(
@    SOA ns1 hostmaster 1 3600 900 604800 120
www  A   192.0.2.1
ftp  30  A 192.0.2.2
)");
  REQUIRE(zone.records.size() == 3);
  CHECK(zone.records[0].ttl == 120);  // an SOA without TTL gets its own minimum
  CHECK(zone.records[1].ttl == 120);
  CHECK(zone.records[2].ttl == 30);
}

TEST_CASE("zone: a 63-octet label and a 255-octet name are accepted", "[zone]") {
  const std::string label63(63, 'a');
  // 3 labels of 63 and one of 61: 4 length octets + 250 + the root = 255.
  const std::string name255 =
      label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b') + ".";
  const auto zone = parse_ok("$TTL 1\n" + label63 + " CNAME " + name255 + "\n");
  REQUIRE(zone.records.size() == 1);
  CHECK(zone.records[0].owner == label63 + ".example.test");
  CHECK(std::get<NameData>(zone.records[0].data).target == name255.substr(0, name255.size() - 1));
}

TEST_CASE("zone: CRLF line ends and a missing final newline", "[zone]") {
  const auto zone = parse_ok("$TTL 300\r\nwww A 192.0.2.1\r\n  TXT \"x\"\r\nmail MX 0 .");
  REQUIRE(zone.records.size() == 3);
  CHECK(zone.records[1].owner == "www.example.test");
  CHECK(zone.records[2].owner == "mail.example.test");
}

TEST_CASE("zone: apexes", "[zone]") {
  SECTION("the owners of SOA records, once each") {
    const auto zone = parse_ok(R"(
$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 2 3 4 5
$ORIGIN other.test.
@ SOA ns1 hostmaster 1 2 3 4 5
)", "");
    CHECK(zone.apexes == std::vector<std::string>{"example.test", "other.test"});
  }
  SECTION("without SOA and without any origin there is no apex") {
    const auto zone = parse_ok("$TTL 300\nwww.example.test. A 192.0.2.1\n", "");
    CHECK(zone.apexes.empty());
  }
  SECTION("the initial origin is canonicalised") {
    const auto zone = parse_ok("$TTL 300\nwww A 192.0.2.1\n", "Example.TEST.");
    CHECK(zone.apexes == std::vector<std::string>{"example.test"});
    CHECK(zone.records[0].owner == "www.example.test");
  }
}

// ---------------------------------------------------------------------------
// Errors: one fixture per message, each with the exact position.

TEST_CASE("zone error: $INCLUDE", "[zone]") {
  CHECK(bad_file_error("include.zone") == "4:1: $INCLUDE is not supported");
}

TEST_CASE("zone error: unknown directive", "[zone]") {
  CHECK(bad_file_error("unknown-directive.zone") ==
        "3:1: unknown directive $GENERATE (supported: $ORIGIN $TTL)");
}

TEST_CASE("zone error: relative name without origin", "[zone]") {
  CHECK(bad_file_error("relative-without-origin.zone") ==
        "2:1: owner \"www\" is relative and no origin is known yet (end it with \".\", set "
        "$ORIGIN, or give the zone's name with --zone-origin NAME)");
}

TEST_CASE("zone error: @ without origin", "[zone]") {
  CHECK(bad_file_error("at-without-origin.zone") ==
        "2:1: owner \"@\" needs an origin, and none is known yet (set $ORIGIN, or give the zone's "
        "name with --zone-origin NAME)");
}

TEST_CASE("zone error: label longer than 63 octets", "[zone]") {
  CHECK(bad_file_error("label-too-long.zone") ==
        "3:14: CNAME target \"" + std::string(64, 'a') +
            ".example.\" has a label of 64 octets; the limit is 63 (RFC 1035 2.3.4)");
}

TEST_CASE("zone error: name longer than 255 octets", "[zone]") {
  const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(63, 'd') + ".";
  CHECK(bad_file_error("name-too-long.zone") ==
        "3:10: PTR ptrdname \"" + name +
            "\" is 257 octets long; the limit is 255 (RFC 1035 2.3.4)");
}

TEST_CASE("zone error: name longer than 255 octets once the origin is appended", "[zone]") {
  const std::string label(63, 'a');
  const std::string origin = label + "." + label + "." + label;  // 193 octets in wire form
  CHECK(parse_error("$TTL 1\n" + std::string(62, 'x') + " A 192.0.2.1\n", origin) ==
        "t.zone:2:1: owner \"" + std::string(62, 'x') +
            "\" is 256 octets long; the limit is 255 (RFC 1035 2.3.4)");
}

TEST_CASE("zone error: empty label", "[zone]") {
  CHECK(bad_file_error("empty-label.zone") ==
        "3:15: MX exchange \"mx1..bad.test.\" has an empty label");
}

TEST_CASE("zone error: class other than IN", "[zone]") {
  CHECK(bad_file_error("class-ch.zone") == "3:14: class CH is not supported (only IN)");
  CHECK(parse_error("$TTL 1\nwww HS A 192.0.2.1\n") ==
        "t.zone:2:5: class HS is not supported (only IN)");
}

TEST_CASE("zone error: no TTL and no $TTL", "[zone]") {
  CHECK(bad_file_error("no-ttl.zone") == "2:1: record has no TTL and no $TTL came before it");
}

TEST_CASE("zone error: a type that is not a record type", "[zone]") {
  CHECK(parse_error("$TTL 1\nwww FOO 1\n") ==
        "t.zone:2:5: record type \"FOO\" is not a DNS record type (see "
        "https://www.iana.org/assignments/dns-parameters)");
  CHECK(parse_error("$TTL 1\nwww OPT 1\n") ==
        "t.zone:2:5: record type \"OPT\" is a query or meta type, not record data (RFC 6895 3.1)");
  CHECK(parse_error("$TTL 1\nwww ANY 1\n") ==
        "t.zone:2:5: record type \"ANY\" is a query or meta type, not record data (RFC 6895 3.1)");
  CHECK(parse_error("$TTL 1\nwww TYPE252 \\# 0\n") ==
        "t.zone:2:5: record type \"TYPE252\" is a query or meta type, not record data (RFC 6895 3.1)");
  CHECK(parse_error("$TTL 1\nwww TYPE65536 \\# 0\n") ==
        "t.zone:2:5: record type \"TYPE65536\" is not a DNS record type (see "
        "https://www.iana.org/assignments/dns-parameters)");
}

TEST_CASE("zone error: record without type", "[zone]") {
  CHECK(bad_file_error("missing-type.zone") == "3:9: record has no type after \"IN\"");
}

TEST_CASE("zone error: MX preference not a number", "[zone]") {
  CHECK(bad_file_error("mx-preference.zone") ==
        "4:12: MX preference \"abc\" is not a number 0-65535");
  CHECK(parse_error("$TTL 1\nmail MX 65536 mx1\n") ==
        "t.zone:2:9: MX preference \"65536\" is not a number 0-65535");
}

TEST_CASE("zone error: missing field", "[zone]") {
  CHECK(bad_file_error("mx-missing-exchange.zone") ==
        "3:9: MX record is missing its exchange (expected: preference exchange)");
  CHECK(parse_error("$TTL 1\n@ SOA ns1 hostmaster 1 2 3 4\n") ==
        "t.zone:2:3: SOA record is missing its minimum (expected: mname rname serial refresh "
        "retry expire minimum)");
}

TEST_CASE("zone error: extra field", "[zone]") {
  CHECK(bad_file_error("extra-field.zone") ==
        "3:31: CNAME record has an extra field \"other.bad.test.\" (expected: target)");
}

TEST_CASE("zone error: bad IPv4 address", "[zone]") {
  CHECK(bad_file_error("a-address.zone") ==
        "3:10: A address \"192.0.2.256\" is not an IPv4 address");
}

TEST_CASE("zone error: bad IPv6 address", "[zone]") {
  CHECK(bad_file_error("aaaa-address.zone") ==
        "3:13: AAAA address \"192.0.2.1\" is not an IPv6 address");
}

TEST_CASE("zone error: bad TTL", "[zone]") {
  CHECK(bad_file_error("bad-ttl.zone") ==
        "3:5: TTL \"1x\" is not seconds 0-4294967295 or a duration like 1h30m");
  // The field is 32 bits (RFC 1035 3.2.1); Knot and BIND read up to 2^32-1.
  CHECK(parse_error("$TTL 1\nwww 4294967296 A 192.0.2.1\n") ==
        "t.zone:2:5: TTL \"4294967296\" is not seconds 0-4294967295 or a duration like 1h30m");
}

TEST_CASE("zone error: bad $TTL", "[zone]") {
  CHECK(bad_file_error("bad-default-ttl.zone") ==
        "2:6: $TTL \"forever\" is not seconds 0-4294967295 or a duration like 1h30m");
}

TEST_CASE("zone error: bad SOA serial", "[zone]") {
  CHECK(bad_file_error("soa-serial.zone") ==
        "4:9: SOA serial \"2024-06-01\" is not a number 0-4294967295");
}

TEST_CASE("zone error: bad SOA time", "[zone]") {
  CHECK(parse_error("$TTL 1\n@ SOA ns1 hostmaster 1 2 3 4 5y\n") ==
        "t.zone:2:30: SOA minimum \"5y\" is not seconds 0-4294967295 or a duration like 1h30m");
}

TEST_CASE("zone error: TXT string longer than 255 octets", "[zone]") {
  CHECK(bad_file_error("txt-too-long.zone") ==
        "3:13: TXT string is 256 octets; a character-string holds at most 255 (split it into "
        "several quoted strings)");
}

TEST_CASE("zone error: bad escape", "[zone]") {
  CHECK(bad_file_error("txt-bad-escape.zone") ==
        "3:12: TXT string has a bad escape \"\\2x9\" (use \\X or \\DDD with DDD 000-255)");
  CHECK(parse_error("$TTL 1\nwww TXT \"\\256\"\n") ==
        "t.zone:2:9: TXT string has a bad escape \"\\256\" (use \\X or \\DDD with DDD 000-255)");
  CHECK(parse_error("$TTL 1\nw\\3 A 192.0.2.1\n") ==
        "t.zone:2:1: owner \"w\\3\" has a bad escape \"\\3\" (use \\X or \\DDD with DDD 000-255)");
}

TEST_CASE("zone error: unterminated quote is reported where it opened", "[zone]") {
  CHECK(bad_file_error("unterminated-quote.zone") == "3:12: quoted string is never closed");
}

TEST_CASE("zone error: unterminated parenthesis is reported where it opened", "[zone]") {
  CHECK(bad_file_error("unterminated-parenthesis.zone") == "3:25: \"(\" is never closed");
}

TEST_CASE("zone error: closing parenthesis without opening", "[zone]") {
  CHECK(bad_file_error("unmatched-parenthesis.zone") == "3:20: \")\" without a matching \"(\"");
}

TEST_CASE("zone error: nested parentheses", "[zone]") {
  CHECK(parse_error("$TTL 1\nwww TXT ( \"a\"\n  ( \"b\" ) )\n") ==
        "t.zone:3:3: nested \"(\": parentheses are already open at line 2:9");
}

TEST_CASE("zone error: blank-started line with no previous owner", "[zone]") {
  CHECK(bad_file_error("no-previous-owner.zone") ==
        "3:5: line starts with a blank but there is no previous owner to reuse");
}

TEST_CASE("zone error: misc entry errors", "[zone]") {
  CHECK(parse_error("$TTL 1\nwww 60 60 A 192.0.2.1\n") == "t.zone:2:8: TTL given twice");
  CHECK(parse_error("$TTL 1\nwww IN IN A 192.0.2.1\n") == "t.zone:2:8: class given twice");
  CHECK(parse_error("$TTL 1\n\"www\" A 192.0.2.1\n") ==
        "t.zone:2:1: owner \"www\" is quoted; a name is written without quotes");
  CHECK(parse_error("$TTL 1\nwww TXT\n") ==
        "t.zone:2:5: TXT record needs at least one character-string");
  CHECK(parse_error("$TTL 1\nwww TXT abc\\\n") == "t.zone:2:12: backslash at the end of a line");
  CHECK(parse_error("$ORIGIN a. b.\n") == "t.zone:1:1: $ORIGIN takes exactly one name");
  CHECK(parse_error("$TTL\n") == "t.zone:1:1: $TTL takes exactly one TTL");
}

TEST_CASE("zone error: unreadable file", "[zone]") {
  const std::string missing = zones_dir + "/no-such-file.zone";
  auto zone = parse_zone_file(missing);
  REQUIRE_FALSE(zone.ok());
  CHECK(zone.error().kind == ErrorKind::bad_input);
  CHECK(zone.error().message == missing + ": cannot read: No such file or directory");

  auto directory = parse_zone_file(zones_dir);
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().message == zones_dir + ": is a directory, not a zone file");
}

TEST_CASE("zone error: input over 64 MiB is refused", "[zone]") {
  const std::string huge(64u * 1024 * 1024 + 1, '\n');
  CHECK(parse_error(huge) == "t.zone: larger than 64 MiB; refusing to read it as a zone file");

  const auto path = std::filesystem::temp_directory_path() / "sendcheck-test-zone-huge.zone";
  {
    std::ofstream out(path, std::ios::binary);
    out << huge;
  }
  auto zone = parse_zone_file(path.string());
  std::filesystem::remove(path);
  REQUIRE_FALSE(zone.ok());
  CHECK(zone.error().kind == ErrorKind::bad_input);
  CHECK(zone.error().message ==
        path.string() + ": larger than 64 MiB; refusing to read it as a zone file");
}

// ---------------------------------------------------------------------------
// Fixtures

TEST_CASE("zone fixtures: every file parses, with SOA and NS at its apex", "[zone]") {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(zones_dir))
    if (entry.is_regular_file() && entry.path().extension() == ".zone")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 10);
  for (const auto& file : files) {
    INFO(file.string());
    auto zone = parse_zone_file(file.string());
    INFO((zone.ok() ? std::string() : zone.error().message));
    REQUIRE(zone.ok());
    // The file name is the apex: Knot loads each file as that zone.
    const std::string apex = file.stem().string();
    CHECK(zone->apexes == std::vector<std::string>{apex});
    const auto at_apex = records_at(*zone, apex);
    CHECK(std::count_if(at_apex.begin(), at_apex.end(),
                        [](const Record& r) { return r.type == RrType::SOA; }) == 1);
    CHECK(std::any_of(at_apex.begin(), at_apex.end(),
                      [](const Record& r) { return r.type == RrType::NS; }));
  }
}

TEST_CASE("zone fixtures: sendcheck.test holds the MX cases", "[zone]") {
  auto parsed = parse_zone_file(zones_dir + "/sendcheck.test.zone");
  REQUIRE(parsed.ok());
  const ZoneFile& zone = *parsed;
  const auto mx_of = [&zone](std::string_view owner) {
    std::vector<MxData> out;
    for (const auto& r : records_at(zone, owner))
      if (r.type == RrType::MX) out.push_back(std::get<MxData>(r.data));
    return out;
  };
  CHECK(mx_of("contoso.sendcheck.test") ==
        std::vector<MxData>{{0, "contoso-sendcheck-test.mail.protection.outlook.com"}});
  CHECK(mx_of("big-caps.sendcheck.test") ==
        std::vector<MxData>{{0, "bigcaps-sendcheck-test01c.mail.protection.outlook.com"}});
  CHECK(mx_of("google.sendcheck.test") ==
        std::vector<MxData>{{1, "aspmx.l.google.com"}, {5, "alt1.aspmx.l.google.com"}});
  CHECK(mx_of("null-mx.sendcheck.test") == std::vector<MxData>{{0, "."}});
  CHECK(mx_of("ip-literal.sendcheck.test") == std::vector<MxData>{{10, "192.0.2.25"}});
  CHECK(mx_of("no-mx.sendcheck.test").empty());

  const auto spf = records_at(zone, "guen-transporte.sendcheck.test");
  REQUIRE(spf.size() == 2);
  CHECK(std::get<TxtData>(spf[1].data).strings ==
        std::vector<std::string>{"v=spf1 include:spf.protection.outlook.com", " -all"});
  const auto dmarc = records_at(zone, "_dmarc.contoso.sendcheck.test");
  REQUIRE(dmarc.size() == 1);
  CHECK(std::get<TxtData>(dmarc[0].data).joined() ==
        "v=DMARC1; p=reject; rua=mailto:dmarc@contoso.sendcheck.test");
}

TEST_CASE("zone fixtures: answered together as an overlay", "[zone]") {
  ZoneOverlay overlay;
  for (const auto& entry : std::filesystem::directory_iterator(zones_dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".zone") continue;
    auto zone = parse_zone_file(entry.path().string());
    REQUIRE(zone.ok());
    overlay.add(std::move(zone).value());
  }

  SECTION("an MX host that is a CNAME into another file") {
    const auto mx = overlay.answer("mx-cname.sendcheck.test", RrType::MX);
    REQUIRE(mx.outcome == Outcome::records);
    REQUIRE(mx.mx().size() == 1);
    const auto host = overlay.answer(mx.mx()[0].exchange, RrType::A);
    CHECK(host.outcome == Outcome::records);
    REQUIRE(host.cname_chain.size() == 1);
    CHECK(host.cname_chain[0].owner == "mxalias.sendcheck.test");
    CHECK(host.addresses() == std::vector<IpAddress>{ip("192.0.2.10"), ip("192.0.2.11")});
    CHECK(host.source == "zone:" + zones_dir + "/mail.protection.outlook.com.zone");
  }
  SECTION("the deeper of two nested apexes answers") {
    const auto soa = overlay.answer("mail.protection.outlook.com", RrType::SOA);
    CHECK(soa.outcome == Outcome::records);
    CHECK(soa.source == "zone:" + zones_dir + "/mail.protection.outlook.com.zone");
    // protection.outlook.com belongs to outlook.com, where it is an empty
    // non-terminal above spf.protection.outlook.com.
    const auto between = overlay.answer("protection.outlook.com", RrType::A);
    CHECK(between.outcome == Outcome::nodata);
    CHECK(between.source == "zone:" + zones_dir + "/outlook.com.zone");
  }
  SECTION("hosts that do not exist") {
    CHECK(overlay.answer("nowhere.sendcheck.test", RrType::A).outcome == Outcome::nxdomain);
    CHECK(
        overlay.answer("dangling-sendcheck-test.mail.protection.outlook.com", RrType::A).outcome ==
        Outcome::nxdomain);
    CHECK(overlay.answer("o-v1.mx.microsoft", RrType::A).outcome == Outcome::nodata);
    CHECK(overlay.answer("no-mx.sendcheck.test", RrType::MX).outcome == Outcome::nodata);
  }
  SECTION("every MX target of sendcheck.test is covered, except the IP literal") {
    CHECK(overlay.covers("dnssec-sendcheck-test.o-v1.mx.microsoft"));
    CHECK(overlay.covers("contosogov.mail.protection.office365.us"));
    CHECK(overlay.covers("vianet-sendcheck-test.mail.protection.partner.outlook.cn"));
    CHECK(overlay.covers("germany-sendcheck-test.mail.protection.outlook.de"));
    CHECK(overlay.covers("alt1.aspmx.l.google.com"));
    CHECK(overlay.covers("legacy-eo-sendcheck-test.mail.eo.outlook.com"));
    CHECK(overlay.covers("mail.messaging.microsoft.com"));
    CHECK(overlay.covers("mx1.mailhost.example"));
    CHECK_FALSE(overlay.covers("192.0.2.25"));
  }
}

// ---------------------------------------------------------------------------
// Overlay

namespace {

// Files that set their own $ORIGIN are read without one from outside, as
// --zone FILE reads them.
ZoneOverlay overlay_of(std::string_view text, const std::string& path = "what-if.zone",
                       std::string_view origin = "") {
  auto zone = parse_zone_text(text, path, origin);
  INFO((zone.ok() ? std::string() : zone.error().message));
  REQUIRE(zone.ok());
  ZoneOverlay overlay;
  overlay.add(std::move(zone).value());
  return overlay;
}

const char* const example_zone = R"(
$ORIGIN example.com.
$TTL 300
@          SOA  ns1 hostmaster 1 3600 900 604800 60
@          NS   ns1
@          MX   10 mx1
@          MX   20 mx2
ns1        A    192.0.2.53
mx1        A    192.0.2.1
mx1        AAAA 2001:db8::1
mx2        CNAME mx1
alias      CNAME mx2
outside    CNAME mail.elsewhere.example.
a.b.c      A    192.0.2.9
loop1      CNAME loop2
loop2      CNAME loop1
self       CNAME self
)";

}  // namespace

TEST_CASE("overlay: records of the asked type", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  const auto answer = overlay.answer("example.com", RrType::MX);
  CHECK(answer.outcome == Outcome::records);
  CHECK(answer.mx() == std::vector<MxData>{{10, "mx1.example.com"}, {20, "mx2.example.com"}});
  CHECK(answer.cname_chain.empty());
  CHECK(answer.name == "example.com");
  CHECK(answer.type == RrType::MX);
  CHECK(answer.source == "zone:what-if.zone");
  CHECK_FALSE(answer.authenticated_data);
  CHECK(answer.elapsed_ms == 0);
  CHECK(answer.detail.empty());
}

TEST_CASE("overlay: names match case-insensitively", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  const auto answer = overlay.answer("MX1.Example.COM.", RrType::AAAA);
  CHECK(answer.name == "mx1.example.com");
  CHECK(answer.outcome == Outcome::records);
  CHECK(answer.addresses() == std::vector<IpAddress>{ip("2001:db8::1")});
  CHECK(overlay.covers("WWW.EXAMPLE.COM"));
}

TEST_CASE("overlay: NODATA, NXDOMAIN and empty non-terminals", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  CHECK(overlay.answer("mx1.example.com", RrType::TXT).outcome == Outcome::nodata);
  CHECK(overlay.answer("www.example.com", RrType::A).outcome == Outcome::nxdomain);
  // RFC 8020: b.c and c exist because a.b.c does.
  CHECK(overlay.answer("b.c.example.com", RrType::A).outcome == Outcome::nodata);
  CHECK(overlay.answer("c.example.com", RrType::A).outcome == Outcome::nodata);
  CHECK(overlay.answer("x.a.b.c.example.com", RrType::A).outcome == Outcome::nxdomain);
  CHECK(overlay.answer("d.b.c.example.com", RrType::A).outcome == Outcome::nxdomain);
}

TEST_CASE("overlay: CNAME chains inside the overlay", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  const auto answer = overlay.answer("alias.example.com", RrType::A);
  CHECK(answer.outcome == Outcome::records);
  REQUIRE(answer.cname_chain.size() == 2);
  CHECK(answer.cname_chain[0].owner == "alias.example.com");
  CHECK(answer.cname_chain[1].owner == "mx2.example.com");
  REQUIRE(answer.records.size() == 1);
  CHECK(answer.records[0].owner == "mx1.example.com");
  CHECK(answer.addresses() == std::vector<IpAddress>{ip("192.0.2.1")});
  CHECK(answer.name == "alias.example.com");

  SECTION("asking for the CNAME itself does not follow it") {
    const auto cname = overlay.answer("alias.example.com", RrType::CNAME);
    CHECK(cname.outcome == Outcome::records);
    CHECK(cname.targets() == std::vector<std::string>{"mx2.example.com"});
    CHECK(cname.cname_chain.empty());
  }
  SECTION("a chain that ends in NODATA") {
    const auto nodata = overlay.answer("alias.example.com", RrType::TXT);
    CHECK(nodata.outcome == Outcome::nodata);
    CHECK(nodata.cname_chain.size() == 2);
  }
}

TEST_CASE("overlay: a CNAME leaving the overlay", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  const auto answer = overlay.answer("outside.example.com", RrType::A);
  CHECK(answer.outcome == Outcome::nodata);
  CHECK(answer.detail == "CNAME target outside the zone overlay");
  REQUIRE(answer.cname_chain.size() == 1);
  CHECK(answer.targets().empty());
  CHECK(std::get<NameData>(answer.cname_chain[0].data).target == "mail.elsewhere.example");
}

TEST_CASE("overlay: CNAME chains continue into another loaded file", "[zone]") {
  ZoneOverlay overlay;
  auto first =
      parse_zone_text("$TTL 1\n@ SOA ns1 h 1 2 3 4 5\nwww CNAME www.b.test.\n", "a.zone", "a.test");
  auto second =
      parse_zone_text("$TTL 1\n@ SOA ns1 h 1 2 3 4 5\nwww A 192.0.2.7\n", "b.zone", "b.test");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  overlay.add(std::move(first).value());
  overlay.add(std::move(second).value());
  const auto answer = overlay.answer("www.a.test", RrType::A);
  CHECK(answer.outcome == Outcome::records);
  CHECK(answer.cname_chain.size() == 1);
  CHECK(answer.addresses() == std::vector<IpAddress>{ip("192.0.2.7")});
  CHECK(answer.source == "zone:b.zone");
}

TEST_CASE("overlay: CNAME loops and overlong chains", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  const auto loop = overlay.answer("loop1.example.com", RrType::A);
  CHECK(loop.outcome == Outcome::servfail);
  CHECK(loop.detail == "CNAME loop");
  CHECK(loop.cname_chain.size() == 2);

  const auto self = overlay.answer("SELF.example.com", RrType::MX);
  CHECK(self.outcome == Outcome::servfail);
  CHECK(self.detail == "CNAME loop");
  CHECK(self.cname_chain.size() == 1);

  // c0 -> c1 -> ... -> cN -> end: N+1 links.
  const auto chain = [](int links) {
    std::string text = "$TTL 1\n";
    for (int i = 0; i < links; ++i)
      text += "c" + std::to_string(i) + " CNAME c" + std::to_string(i + 1) + "\n";
    text += "c" + std::to_string(links) + " A 192.0.2.1\n";
    return text;
  };
  const auto eight = overlay_of(chain(8), "what-if.zone", "example.test").answer("c0.example.test", RrType::A);
  CHECK(eight.outcome == Outcome::records);
  CHECK(eight.cname_chain.size() == 8);
  const auto nine = overlay_of(chain(9), "what-if.zone", "example.test").answer("c0.example.test", RrType::A);
  CHECK(nine.outcome == Outcome::servfail);
  CHECK(nine.detail == "CNAME chain longer than 8 links");
}

TEST_CASE("overlay: covers() respects label boundaries and picks the deepest apex", "[zone]") {
  const auto overlay = overlay_of(example_zone);
  CHECK(overlay.covers("example.com"));
  CHECK(overlay.covers("deep.below.example.com"));
  CHECK_FALSE(overlay.covers("notexample.com"));
  CHECK_FALSE(overlay.covers("com"));
  CHECK_FALSE(overlay.covers("example.com.evil.test"));

  ZoneOverlay nested;
  auto parent = parse_zone_text("$TTL 1\n@ SOA ns1 h 1 2 3 4 5\nx.sub A 192.0.2.1\n", "parent.zone",
                                "example.com");
  auto child = parse_zone_text("$TTL 1\n@ SOA ns1 h 1 2 3 4 5\ny A 192.0.2.2\n", "child.zone",
                               "sub.example.com");
  REQUIRE(parent.ok());
  REQUIRE(child.ok());
  nested.add(std::move(parent).value());
  nested.add(std::move(child).value());
  // The child zone is authoritative below its apex, so the parent's stale
  // x.sub is not seen (as with a real delegation).
  const auto x = nested.answer("x.sub.example.com", RrType::A);
  CHECK(x.outcome == Outcome::nxdomain);
  CHECK(x.source == "zone:child.zone");
  CHECK(nested.answer("y.sub.example.com", RrType::A).outcome == Outcome::records);
  CHECK(nested.answer("example.com", RrType::SOA).source == "zone:parent.zone");

  ZoneOverlay empty;
  CHECK(empty.empty());
  CHECK_FALSE(empty.covers("example.com"));
  CHECK_FALSE(nested.empty());
}

// ---------------------------------------------------------------------------
// What real exports hold: types we skip, RFC 3597, origins from outside

TEST_CASE("zone: record types no check uses are skipped and counted, never refused", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
@          CAA    0 issue "letsencrypt.org"
_sip._tls  SRV    100 1 443 sipdir.online.lync.com.
www        HTTPS  1 . alpn="h3,h2" ipv4hint=192.0.2.80
_dns       SVCB   1 dns.example.test. alpn=dot
_25._tcp.mx TLSA  3 1 1 ( 0C72AC70B745AC19998811B131D662C9
                          AC69DBDBE7CB23E5B514B56664C5D3D6 )
@          NAPTR  100 10 "S" "SIP+D2U" "" _sip._udp
host       SSHFP  4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789
sub        DS     60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
@          DNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0d
                             xCjjnopKl+GqJxpVXckHAeF+KkxLbxIL
                             fDLUT0rAK9iUzy1L53eKGQ== )
@          RRSIG  SOA 13 2 300 20261231000000 20261201000000 12345 example.test. AAAA
@          NSEC   host.example.test. A NS SOA RRSIG NSEC DNSKEY
abc        NSEC3  1 1 12 aabbccdd ( 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG )
@          NSEC3PARAM 1 0 12 aabbccdd
@          LOC    52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
host       HINFO  "PC" "Linux"
@          MX     10 mx1
@          TXT    "v=spf1 -all"
)");
  REQUIRE(zone.records.size() == 2);
  CHECK(zone.records[0].type == RrType::MX);
  CHECK(zone.records[1].type == RrType::TXT);
  CHECK(zone.skipped.size() == 15);
  CHECK(zone.skipped_summary() ==
        "CAA 1, DNSKEY 1, DS 1, HINFO 1, HTTPS 1, LOC 1, NAPTR 1, NSEC 1, NSEC3 1, NSEC3PARAM 1, RRSIG 1, "
        "SRV 1, SSHFP 1, SVCB 1, TLSA 1");
  CHECK(zone.skipped[1].owner == "_sip._tls.example.test");
  CHECK(zone.skipped[1].type == "SRV");
  CHECK(zone.skipped[1].line == 4);
}

TEST_CASE("zone: RFC 3597 generic types, classes and RDATA", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
unknown  TYPE65534  \# 3 010203
empty    TYPE65000  \# 0
classed  CLASS1 A   192.0.2.1
typed    TYPE1      192.0.2.2
mx       MX         \# 20 000a 03 6d7831 07 6578616d706c65 04 74657374 00
txt      TXT        \# 4 03616263
txt2     TYPE16     \# 8 03616263 03646566
a        A          \# 4 C0000203
aaaa     AAAA       \# 16 20010db8000000000000000000000001
cname    CNAME      \# 5 03 777777 00
soa      SOA        \# 22 00 00 00000001 00000002 00000003 00000004 00000005
casey    type65534  \# 1 ff
)");
  REQUIRE(zone.records.size() == 9);
  CHECK(zone.records[0] == record("classed.example.test", RrType::A, 300, AddressData{ip("192.0.2.1")}));
  CHECK(zone.records[1] == record("typed.example.test", RrType::A, 300, AddressData{ip("192.0.2.2")}));
  CHECK(zone.records[2] == record("mx.example.test", RrType::MX, 300, MxData{10, "mx1.example.test"}));
  CHECK(zone.records[3] == record("txt.example.test", RrType::TXT, 300, TxtData{{"abc"}}));
  CHECK(zone.records[4] == record("txt2.example.test", RrType::TXT, 300, TxtData{{"abc", "def"}}));
  CHECK(zone.records[5] == record("a.example.test", RrType::A, 300, AddressData{ip("192.0.2.3")}));
  CHECK(zone.records[6] == record("aaaa.example.test", RrType::AAAA, 300, AddressData{ip("2001:db8::1")}));
  CHECK(zone.records[7] == record("cname.example.test", RrType::CNAME, 300, NameData{"www"}));
  CHECK(zone.records[8] == record("soa.example.test", RrType::SOA, 300, SoaData{".", ".", 1, 2, 3, 4, 5}));
  REQUIRE(zone.skipped.size() == 3);
  CHECK(zone.skipped_summary() == "TYPE65000 1, TYPE65534 2");

  CHECK(parse_error("$TTL 1\nx TYPE65534 \\# 3 0102\n") ==
        "t.zone:2:16: RFC 3597 length is 3 but the data holds 2 octets");
  CHECK(parse_error("$TTL 1\nx TYPE65534 \\# 2 010\n") ==
        "t.zone:2:16: RFC 3597 length is 2 but the data holds an odd number of hex digits");
  CHECK(parse_error("$TTL 1\nx TYPE65534 \\# 1 zz\n") ==
        "t.zone:2:18: RFC 3597 data \"zz\" is not hexadecimal");
  CHECK(parse_error("$TTL 1\nx TYPE65534 \\# many\n") ==
        "t.zone:2:16: RFC 3597 length \"many\" is not a number 0-65535");
  CHECK(parse_error("$TTL 1\nx TYPE65534 \\#\n") ==
        "t.zone:2:3: TYPE65534 record in the RFC 3597 form needs a length after \\#");
  CHECK(parse_error("$TTL 1\nx TXT \\# 3 056162\n") ==
        "t.zone:2:3: TXT record in the RFC 3597 form: a character-string runs past the end");
  CHECK(parse_error("$TTL 1\nx A \\# 3 c00002\n") ==
        "t.zone:2:3: A record in the RFC 3597 form: an address is 4 octets");
  CHECK(parse_error("$TTL 1\nx MX \\# 3 000a 05\n") ==
        "t.zone:2:3: MX record in the RFC 3597 form: not a preference and a name");
  CHECK(parse_error("$TTL 1\nx CLASS3 A 192.0.2.1\n") == "t.zone:2:3: class CLASS3 is not supported (only IN)");
}

TEST_CASE("zone: Windows DNS aging fields and cli53's AWS records", "[zone]") {
  const auto zone = parse_ok(R"(
$TTL 300
@     [AGE:3829412]  600 A 192.0.2.11
      [AGE:3829409]  600 A 192.0.2.12
www   86400 AWS ALIAS A d111111abcdef8.cloudfront.net. Z2FDTNDATAQYW2 false
mail  300 IN A 192.0.2.25 ; AWS routing="WEIGHTED" weight=1 identifier="One"
mail  300 IN A 192.0.2.25 ; AWS routing="WEIGHTED" weight=0 identifier="Zero"
)");
  REQUIRE(zone.records.size() == 3);  // the weighted duplicate is one record (RFC 2181 5)
  CHECK(zone.records[0] == record("example.test", RrType::A, 600, AddressData{ip("192.0.2.11")}));
  CHECK(zone.records[1] == record("example.test", RrType::A, 600, AddressData{ip("192.0.2.12")}));
  CHECK(zone.records[2].owner == "mail.example.test");
  CHECK(zone.skipped_summary() == "AWS ALIAS 1");
}

TEST_CASE("zone: TTLs up to 2^32-1 and TXT RDATA up to 65535 octets", "[zone]") {
  const auto zone = parse_ok("$TTL 4294967295\na A 192.0.2.1\nb 4294967295 A 192.0.2.2\n");
  CHECK(zone.records[0].ttl == 4294967295u);
  CHECK(zone.records[1].ttl == 4294967295u);

  // 257 strings of 254 octets: 257 * 255 = 65535 octets of RDATA.
  std::string strings;
  for (int i = 0; i < 257; ++i) strings += " \"" + std::string(254, 'x') + "\"";
  const auto largest = parse_ok("$TTL 1\nbig TXT" + strings + "\n");
  CHECK(std::get<TxtData>(largest.records[0].data).strings.size() == 257);
  const auto error = parse_error("$TTL 1\nbig TXT" + strings + " \"\"\n");
  CHECK(error.find("t.zone:2:") == 0);
  CHECK(error.find(": TXT record is longer than 65535 octets of RDATA (RFC 1035 3.2.1: RDLENGTH is 16 bits)") !=
        std::string::npos);
}

TEST_CASE("zone: byte order marks and UTF-16", "[zone]") {
  const auto zone = parse_ok("\xef\xbb\xbf$TTL 300\nwww A 192.0.2.1\n");
  REQUIRE(zone.records.size() == 1);
  CHECK(zone.records[0].owner == "www.example.test");

  const std::string utf16_message = "t.zone: is UTF-16 text (Windows \"Unicode\"); save it as UTF-8 and try again";
  std::string little_endian = "\xff\xfe";
  std::string big_endian = "\xfe\xff";
  std::string no_mark;
  for (char c : std::string("$TTL 300\r\nwww A 192.0.2.1\r\n")) {
    little_endian += c;
    little_endian += '\0';
    big_endian += '\0';
    big_endian += c;
    no_mark += c;
    no_mark += '\0';
  }
  CHECK(parse_error(little_endian) == utf16_message);
  CHECK(parse_error(big_endian) == utf16_message);
  CHECK(parse_error(no_mark) == utf16_message);
}

TEST_CASE("zone: empty files and files without records are errors", "[zone]") {
  CHECK(parse_error("") == "t.zone: is empty; a zone file holds at least one record");
  CHECK(parse_error(" \r\n\n\t") == "t.zone: is empty; a zone file holds at least one record");
  CHECK(parse_error("\xef\xbb\xbf") == "t.zone: is empty; a zone file holds at least one record");
  CHECK(parse_error("; only a comment\n$TTL 300\n") == "t.zone: holds no records (only comments and directives)");
}

namespace {

// A file in a fresh temporary directory, removed with it.
struct TemporaryFile {
  std::filesystem::path directory, path;
  explicit TemporaryFile(std::string_view content, const std::string& name = "test.zone") {
    directory = std::filesystem::temp_directory_path() /
                ("sendcheck-zone-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(directory);
    path = directory / name;
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TemporaryFile() {
    std::error_code ignored;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(directory, ignored);
  }
  static int& counter() {
    static int value = 0;
    return value;
  }
};

std::string file_error(const std::string& path) {
  auto zone = parse_zone_file(path);
  REQUIRE_FALSE(zone.ok());
  CHECK(zone.error().kind == ErrorKind::bad_input);
  CHECK(zone.error().message.find('\n') == std::string::npos);
  return zone.error().message;
}

}  // namespace

TEST_CASE("zone files: what cannot be read says why, naming the file", "[zone]") {
  const TemporaryFile empty("");
  CHECK(file_error(empty.path.string()) == empty.path.string() + ": is empty; a zone file holds at least one record");
  CHECK(file_error(empty.directory.string()) == empty.directory.string() + ": is a directory, not a zone file");
  // The operating system's reason, as strerror words it.
  const std::string below_a_file = empty.path.string() + "/x.zone";
  CHECK(file_error(below_a_file) == below_a_file + ": cannot read: Not a directory");

  const TemporaryFile locked("$TTL 1\nwww.example. A 192.0.2.1\n");
  std::filesystem::permissions(locked.path, std::filesystem::perms::none);
  if (::geteuid() != 0) {  // root reads through permissions
    CHECK(file_error(locked.path.string()) == locked.path.string() + ": cannot read: Permission denied");
  } else {
    CHECK(parse_zone_file(locked.path.string()).ok());
  }

  const TemporaryFile utf8_bom("\xef\xbb\xbf$TTL 1\nwww.example. A 192.0.2.1\n");
  CHECK(parse_zone_file(utf8_bom.path.string()).ok());
}

TEST_CASE("zone files: the 64 MiB limit is checked from the size, before reading", "[zone]") {
  // A sparse file of 64 MiB + 1 byte: refused without reading a byte of it.
  const TemporaryFile huge("");
  std::filesystem::resize_file(huge.path, 64u * 1024 * 1024 + 1);
  CHECK(file_error(huge.path.string()) == huge.path.string() + ": larger than 64 MiB; refusing to read it as a zone file");
}

TEST_CASE("zone: an origin from outside names the zone", "[zone]") {
  SECTION("db.* files and Windows exports: relative names, no $ORIGIN") {
    const auto zone = parse_ok("$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ MX 10 mail\n", "bind.example");
    CHECK(zone.apexes == std::vector<std::string>{"bind.example"});
    CHECK(zone.records[1] == record("bind.example", RrType::MX, 300, MxData{10, "mail.bind.example"}));
    CHECK(zone.warnings.empty());
  }
  SECTION("Cloudflare's SOA owner without its final dot: the zone still answers") {
    const auto zone = parse_ok(
        "cf.example\t3600\tIN\tSOA\tns.cloudflare.com. dns.cloudflare.com. 1 10000 2400 604800 3600\n"
        "cf.example.\t1\tIN\tTXT\t\"v=spf1 -all\"\n",
        "cf.example");
    CHECK(zone.apexes == std::vector<std::string>{"cf.example"});
    CHECK(zone.warnings.empty());
    ZoneOverlay overlay;
    overlay.add(zone);
    const auto spf = overlay.answer("cf.example", RrType::TXT);
    CHECK(spf.outcome == Outcome::records);
    CHECK(spf.txt() == std::vector<TxtData>{TxtData{{"v=spf1 -all"}}});
  }
  SECTION("with or without the final dot, any case; the root is \".\"") {
    CHECK(parse_ok("$TTL 1\nwww A 192.0.2.1\n", "Example.TEST.").apexes == std::vector<std::string>{"example.test"});
    CHECK(parse_ok("$TTL 1\nwww.example. A 192.0.2.1\n", ".").records[0].owner == "www.example");
  }
  SECTION("an origin that is not a name") {
    CHECK(parse_error("$TTL 1\nwww A 192.0.2.1\n", "a..b") == "t.zone: the zone origin \"a..b\" has an empty label");
    CHECK(parse_error("$TTL 1\nwww A 192.0.2.1\n", std::string(64, 'x') + ".test") ==
          "t.zone: the zone origin \"" + std::string(64, 'x') +
              ".test\" has a label of 64 octets; the limit is 63 (RFC 1035 2.3.4)");
  }
}

TEST_CASE("zone: a file that can never answer says so", "[zone]") {
  SECTION("no SOA, no $ORIGIN, no origin from outside") {
    const auto zone = parse_ok("$TTL 300\nwww.example.test. A 192.0.2.1\n", "");
    REQUIRE(zone.warnings.size() == 1);
    CHECK(zone.warnings[0] ==
          "t.zone: has no SOA record and no $ORIGIN, so it names no zone and answers nothing; give the zone's "
          "name with --zone-origin NAME");
  }
  SECTION("records outside the zone") {
    const auto zone = parse_ok("$TTL 300\n@ SOA ns1 h 1 2 3 4 5\nwww A 192.0.2.1\nmail.other.test. A 192.0.2.2\n"
                               "x.other.test. A 192.0.2.3\n");
    REQUIRE(zone.warnings.size() == 1);
    CHECK(zone.warnings[0] ==
          "t.zone: 2 records (the first: mail.other.test at line 4) lie outside the zone example.test and are "
          "not answered; check --zone-origin");
  }
  SECTION("every record outside the zone") {
    const auto zone = parse_ok("$ORIGIN other.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ MX 0 .\n", "");
    CHECK(zone.warnings.empty());
    const auto wrong = parse_ok("$ORIGIN other.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ MX 0 .\n", "mine.test");
    REQUIRE(wrong.warnings.size() == 1);
    CHECK(wrong.warnings[0] ==
          "t.zone: all 2 records (the first: other.test at line 3) lie outside the zone mine.test and are not "
          "answered; check --zone-origin");
  }
}

TEST_CASE("zone error: CNAME beside other data, and two CNAMEs", "[zone]") {
  CHECK(parse_error("$TTL 1\nwww CNAME a\nwww A 192.0.2.1\n") ==
        "t.zone:3:1: CNAME at www.example.test beside other data (the CNAME is at line 2, A here): a name "
        "with a CNAME has no other records (RFC 1034 3.6.2)");
  CHECK(parse_error("$TTL 1\nwww TXT x\nwww CNAME a\n") ==
        "t.zone:3:1: CNAME at www.example.test beside other data (TXT at line 2, the CNAME here): a name "
        "with a CNAME has no other records (RFC 1034 3.6.2)");
  CHECK(parse_error("$TTL 1\nwww CNAME a\nwww SRV 0 0 443 a\n") ==
        "t.zone:3:1: CNAME at www.example.test beside other data (the CNAME is at line 2, SRV here): a name "
        "with a CNAME has no other records (RFC 1034 3.6.2)");
  CHECK(parse_error("$TTL 1\nwww CNAME a\nwww CNAME b\n") ==
        "t.zone:3:1: a second CNAME at www.example.test (the first is at line 2); a name has at most one "
        "CNAME (RFC 2181 10.1)");
  // Cloudflare writes its flattened apex CNAME beside the SOA and NS.
  const auto apex = parse_error("@ 3600 SOA ns h 1 2 3 4 5\n@ 1 CNAME web.example.net.\n");
  CHECK(apex.find("t.zone:2:1: CNAME at example.test beside other data (SOA at line 1, the CNAME here)") == 0);
  CHECK(apex.find("Cloudflare exports its flattened apex CNAME this way") != std::string::npos);
  // The same CNAME twice is one record, and DNSSEC's records may sit beside it (RFC 4035 2.5).
  const auto fine = parse_ok(
      "$TTL 1\nwww CNAME a\nwww CNAME a\nwww RRSIG CNAME 13 3 1 20261231000000 20261201000000 1 example.test. "
      "AAAA\nwww NSEC x.example.test. CNAME RRSIG NSEC\n");
  CHECK(fine.records.size() == 1);
}

// ---------------------------------------------------------------------------
// Answering as an authoritative server does

namespace {

const char* const authoritative_zone = R"(
$ORIGIN example.org.
$TTL 300
@              SOA   ns1 hostmaster 1 3600 900 604800 60
@              NS    ns1
@              TXT   "v=spf1 include:_spf.example.org -all"
ns1            A     192.0.2.53
*.hosts        TXT   "v=spf1 a:relay.example.org -all"
*.hosts        MX    10 relay
printer.hosts  A     192.0.2.9
*.alias        CNAME relay
relay          A     192.0.2.25
deep.ent.only  A     192.0.2.7
*              A     192.0.2.99
branch         NS    ns.branch
branch         DS    60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
ns.branch      A     192.0.2.54
mirror         DNAME example.net.
caa-only       CAA   0 issue "letsencrypt.org"
)";

}  // namespace

TEST_CASE("overlay: wildcards answer names that do not exist (RFC 4592)", "[zone]") {
  const auto overlay = overlay_of(authoritative_zone);
  // The SPF record of a wildcard answers: without it, an SPF fail would read as none.
  const auto spf = overlay.answer("scanner.hosts.example.org", RrType::TXT);
  REQUIRE(spf.outcome == Outcome::records);
  CHECK(spf.txt() == std::vector<TxtData>{TxtData{{"v=spf1 a:relay.example.org -all"}}});
  CHECK(spf.records[0].owner == "scanner.hosts.example.org");
  // Several labels below the closest encloser match too.
  CHECK(overlay.answer("a.b.hosts.example.org", RrType::MX).mx() == std::vector<MxData>{{10, "relay.example.org"}});
  // The wildcard owns no A: NODATA, not NXDOMAIN.
  CHECK(overlay.answer("scanner.hosts.example.org", RrType::A).outcome == Outcome::nodata);
  // A name that exists is not synthesized, even for a type it lacks.
  CHECK(overlay.answer("printer.hosts.example.org", RrType::TXT).outcome == Outcome::nodata);
  // Below a name that exists, the wildcard of that name's parent does not apply.
  CHECK(overlay.answer("x.printer.hosts.example.org", RrType::TXT).outcome == Outcome::nxdomain);
  // A wildcard CNAME is followed, owned by the name asked.
  const auto alias = overlay.answer("web.alias.example.org", RrType::A);
  REQUIRE(alias.outcome == Outcome::records);
  REQUIRE(alias.cname_chain.size() == 1);
  CHECK(alias.cname_chain[0].owner == "web.alias.example.org");
  CHECK(alias.addresses() == std::vector<IpAddress>{ip("192.0.2.25")});
  // An empty non-terminal is a name: it blocks the apex wildcard (RFC 4592 2.2.2).
  CHECK(overlay.answer("ent.only.example.org", RrType::A).outcome == Outcome::nodata);
  CHECK(overlay.answer("x.ent.only.example.org", RrType::A).outcome == Outcome::nxdomain);
  // The apex wildcard answers names right below the apex.
  CHECK(overlay.answer("anything.example.org", RrType::A).addresses() == std::vector<IpAddress>{ip("192.0.2.99")});
}

TEST_CASE("overlay: names at or below a delegation go to the network", "[zone]") {
  const auto overlay = overlay_of(authoritative_zone);
  CHECK(overlay.covers("example.org"));
  CHECK_FALSE(overlay.covers("branch.example.org"));
  CHECK_FALSE(overlay.covers("ns.branch.example.org"));  // glue is not an answer
  CHECK_FALSE(overlay.covers("www.branch.example.org"));
  CHECK(overlay.covers("notbranch.example.org"));
  // Below a DNAME, too (RFC 6672): the overlay does not rewrite names.
  CHECK(overlay.covers("mirror.example.org"));
  CHECK_FALSE(overlay.covers("www.mirror.example.org"));

  // A loaded file for the delegated zone answers it.
  ZoneOverlay both = overlay_of(authoritative_zone);
  auto child = parse_zone_text("$TTL 1\n@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.80\n", "branch.zone", "branch.example.org");
  REQUIRE(child.ok());
  both.add(std::move(child).value());
  CHECK(both.covers("www.branch.example.org"));
  CHECK(both.answer("www.branch.example.org", RrType::A).source == "zone:branch.zone");
  CHECK(both.answer("ns.branch.example.org", RrType::A).outcome == Outcome::nxdomain);
}

TEST_CASE("overlay: a name that owns only skipped types exists", "[zone]") {
  const auto overlay = overlay_of(authoritative_zone);
  const auto answer = overlay.answer("caa-only.example.org", RrType::TXT);
  CHECK(answer.outcome == Outcome::nodata);
  CHECK(answer.source == "zone:what-if.zone");
}

TEST_CASE("zone: whether a file names its zone, which --zone-origin then leaves alone", "[zone]") {
  const auto names = [](std::string_view text, std::string_view origin = "") {
    auto zone = parse_zone_text(text, "t.zone", origin);
    REQUIRE(zone);
    return zone->names_its_zone;
  };
  const std::string soa = " 3600 IN SOA ns.contoso.example. hostmaster.contoso.example. 1 3600 600 86400 300\n";
  CHECK(names("$ORIGIN contoso.example.\n@" + soa));                       // Azure, GoDaddy, cli53
  CHECK(names("contoso.example." + soa + "www 300 IN A 192.0.2.1\n", "x.example"));  // absolute SOA owner
  CHECK_FALSE(names("contoso.example" + soa, "contoso.example"));             // Cloudflare: no final dot
  CHECK_FALSE(names("@" + soa, "contoso.example"));                           // BIND db.*, Windows DNS
  CHECK_FALSE(names("@" + soa + "$ORIGIN _tcp.contoso.example.\n_sip 300 IN A 192.0.2.1\n", "contoso.example"));
}
