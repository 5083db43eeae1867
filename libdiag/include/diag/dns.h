// DNS data as the rest of libdiag sees it: record types, typed record data,
// and the outcome of one question. A question always has an outcome; "no
// record" (NODATA, NXDOMAIN) is kept apart from "could not find out".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "diag/ip.h"
#include "diag/result.h"

namespace diag::dns {

enum class RrType : std::uint16_t {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  MX = 15,
  TXT = 16,
  AAAA = 28,
  OPT = 41,
  SPF = 99,  // RFC 7208 3.1: obsolete, parsed so that zone files carrying it still load
};

std::string_view to_string(RrType type);
std::optional<RrType> rr_type_from_string(std::string_view text);  // case-insensitive

// Record data, one struct per shape.
struct AddressData {  // A, AAAA
  IpAddress address;
  friend bool operator==(const AddressData&, const AddressData&) = default;
};
struct NameData {  // CNAME, NS, PTR
  std::string target;  // absolute, lower case, no trailing dot ("." for the root)
  friend bool operator==(const NameData&, const NameData&) = default;
};
struct MxData {
  std::uint16_t preference = 0;
  std::string exchange;  // absolute, lower case, no trailing dot; "." for null MX (RFC 7505)
  friend bool operator==(const MxData&, const MxData&) = default;
};
struct TxtData {  // TXT, SPF
  // Every character-string of the record, kept apart (RFC 1035 3.3.14);
  // SPF (RFC 7208 3.3) joins them without separators.
  std::vector<std::string> strings;
  std::string joined() const;
  friend bool operator==(const TxtData&, const TxtData&) = default;
};
struct SoaData {
  std::string mname, rname;
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
  friend bool operator==(const SoaData&, const SoaData&) = default;
};
using Rdata = std::variant<AddressData, NameData, MxData, TxtData, SoaData>;

struct Record {
  std::string owner;  // absolute, lower case, no trailing dot
  RrType type = RrType::A;
  std::uint32_t ttl = 0;
  Rdata data;

  // Presentation form of the data only, as in a zone file: "10 mx.example.com."
  std::string data_text() const;
  friend bool operator==(const Record&, const Record&) = default;
};

// Names in presentation form: labels split at unescaped dots, "\X" and
// "\DDD" standing for one octet (RFC 1035 5.1). Any other octet, a space
// included, is an octet of its label: RFC 2181 11 lets a label hold any
// octet, and SPF macros (RFC 7208 7.3, %{l}, %_) build such names.

// The labels' octets. "" and "." are the root (no labels). Fails, saying
// why, on a bad escape, an empty label, a label over 63 octets or a name
// over 255 octets on the wire (RFC 1035 2.3.4): the only malformed names.
Result<std::vector<std::string>> name_labels(std::string_view name);
// One label in canonical presentation form: ASCII lower-cased, "." and "\"
// escaped, octets outside printable ASCII (space included) as \DDD.
std::string label_text(std::string_view octets);

// Names are compared and stored in one canonical form: its labels in
// label_text form, no trailing dot, so that one name on the wire has one
// text ("A B.example." and "a\032b.example" are both "a\032b.example").
// Returns "" for the root. Text that is no name (an empty label, a bad
// escape) is only lower-cased and loses one trailing dot.
std::string canonical_name(std::string_view name);
// True when name equals zone or lies below it (both canonical).
bool name_is_at_or_below(std::string_view name, std::string_view zone);

// How a question ended.
enum class Outcome : std::uint8_t {
  records,      // the answer holds records of the asked type
  nodata,       // the name exists, no records of that type
  nxdomain,     // the name does not exist
  servfail,     // the server could not answer (RCODE 2)
  refused,      // the server refused to answer (RCODE 5)
  timeout,      // no answer in time from any server
  malformed,    // an answer came that we could not parse, or one that answers nothing: truncated even
                // over TCP, or holding records of other names only (detail says which)
  network_error // socket error, connection refused, other RCODEs (detail says which)
};

std::string_view to_string(Outcome outcome);
// records, nodata and nxdomain are facts about the name; the rest mean we
// could not find out and must never be reported as an absence.
inline bool is_definitive(Outcome outcome) {
  return outcome == Outcome::records || outcome == Outcome::nodata || outcome == Outcome::nxdomain;
}

struct Answer {
  std::string name;  // as asked, canonical
  RrType type = RrType::A;
  Outcome outcome = Outcome::timeout;
  // Records of the asked type, whose owner is the name or the end of its CNAME chain.
  std::vector<Record> records;
  // CNAME records followed from the name, in order.
  std::vector<Record> cname_chain;
  // AD bit (RFC 4035 3.2.3): the resolver says it validated the answer with DNSSEC.
  bool authenticated_data = false;
  // Who answered: "192.0.2.53:53", "[2001:db8::53]:53" or "zone:FILE".
  std::string source;
  // For failures: what exactly happened ("connection refused", "RCODE NOTIMP", parse error).
  std::string detail;
  double elapsed_ms = 0;

  bool ok() const { return outcome == Outcome::records; }
  bool is_definitive() const { return dns::is_definitive(outcome); }
  // The records' data, by shape. Skips records of other shapes.
  std::vector<IpAddress> addresses() const;
  std::vector<MxData> mx() const;
  std::vector<TxtData> txt() const;
  std::vector<std::string> targets() const;  // CNAME, NS, PTR
};

}  // namespace diag::dns
