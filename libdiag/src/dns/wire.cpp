// DNS messages on the wire. The encoder compresses names and truncates to a
// size limit; the decoder treats every packet as hostile: each read is
// bounds-checked and each failure names the field and its offset.
#include "diag/wire.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace diag::dns::wire {
namespace {

constexpr std::size_t header_octets = 12;
constexpr std::size_t max_name_octets = 255;   // RFC 1035 2.3.4, wire form with length octets
constexpr std::size_t max_message_octets = 65535;  // UDP datagram and TCP length prefix
constexpr std::size_t max_compression_offset = 0x3FFF;  // 14-bit pointer, RFC 1035 4.1.4
// A legitimate name has at most 127 labels; more jumps than that can only
// be an attack on our time, even though every pointer must go backwards.
constexpr int max_compression_jumps = 127;
constexpr std::uint16_t class_in = 1;
constexpr std::uint16_t type_opt = static_cast<std::uint16_t>(RrType::OPT);

// The types decoded into Record. OPT is not one: it is a pseudo-record.
std::optional<RrType> modelled_type(std::uint16_t value) {
  switch (value) {
    case static_cast<std::uint16_t>(RrType::A): return RrType::A;
    case static_cast<std::uint16_t>(RrType::NS): return RrType::NS;
    case static_cast<std::uint16_t>(RrType::CNAME): return RrType::CNAME;
    case static_cast<std::uint16_t>(RrType::SOA): return RrType::SOA;
    case static_cast<std::uint16_t>(RrType::PTR): return RrType::PTR;
    case static_cast<std::uint16_t>(RrType::MX): return RrType::MX;
    case static_cast<std::uint16_t>(RrType::TXT): return RrType::TXT;
    case static_cast<std::uint16_t>(RrType::AAAA): return RrType::AAAA;
    case static_cast<std::uint16_t>(RrType::SPF): return RrType::SPF;
    default: return std::nullopt;
  }
}

std::string_view type_name(RrType type) {
  switch (type) {
    case RrType::A: return "A";
    case RrType::NS: return "NS";
    case RrType::CNAME: return "CNAME";
    case RrType::SOA: return "SOA";
    case RrType::PTR: return "PTR";
    case RrType::MX: return "MX";
    case RrType::TXT: return "TXT";
    case RrType::AAAA: return "AAAA";
    case RrType::OPT: return "OPT";
    case RrType::SPF: return "SPF";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Encoder

class MessageWriter {
 public:
  std::size_t size() const { return bytes_.size(); }
  std::vector<std::uint8_t> release() && { return std::move(bytes_); }

  void put_u8(std::uint8_t value) { bytes_.push_back(value); }
  void put_u16(std::uint16_t value) {
    bytes_.push_back(static_cast<std::uint8_t>(value >> 8));
    bytes_.push_back(static_cast<std::uint8_t>(value & 0xFF));
  }
  void put_u32(std::uint32_t value) {
    put_u16(static_cast<std::uint16_t>(value >> 16));
    put_u16(static_cast<std::uint16_t>(value & 0xFFFF));
  }
  void put_bytes(std::span<const std::uint8_t> data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  void put_bytes(std::string_view data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  void patch_u16(std::size_t offset, std::uint16_t value) {
    bytes_[offset] = static_cast<std::uint8_t>(value >> 8);
    bytes_[offset + 1] = static_cast<std::uint8_t>(value & 0xFF);
  }

  // Writes a name, pointing at an earlier copy of its longest known suffix
  // (RFC 1035 4.1.4). Suffixes match case-insensitively. False when the
  // text is not a valid name.
  bool put_name(std::string_view text) {
    // RFC 1035 5.1 escapes, RFC 2181 11 any octet, RFC 1035 2.3.4 sizes.
    auto labels = name_labels(text);
    if (!labels) return false;
    // suffix_keys[i]: labels i.. in lower-case wire form, the lookup key.
    std::vector<std::string> suffix_keys(labels->size() + 1);
    for (std::size_t i = labels->size(); i-- > 0;) {
      std::string key(1, static_cast<char>((*labels)[i].size()));
      for (const char c : (*labels)[i]) key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
      suffix_keys[i] = key + suffix_keys[i + 1];
    }
    for (std::size_t i = 0; i < labels->size(); ++i) {
      if (const auto known = suffix_offsets_.find(suffix_keys[i]); known != suffix_offsets_.end()) {
        put_u16(static_cast<std::uint16_t>(0xC000 | known->second));
        return true;
      }
      if (size() <= max_compression_offset) suffix_offsets_.emplace(suffix_keys[i], static_cast<std::uint16_t>(size()));
      put_u8(static_cast<std::uint8_t>((*labels)[i].size()));
      put_bytes((*labels)[i]);
    }
    put_u8(0);
    return true;
  }

  // Forgets everything written after offset, including the name suffixes
  // it made available for compression.
  void roll_back_to(std::size_t offset) {
    bytes_.resize(offset);
    std::erase_if(suffix_offsets_, [offset](const auto& entry) { return entry.second >= offset; });
  }

 private:
  std::vector<std::uint8_t> bytes_;
  std::map<std::string, std::uint16_t> suffix_offsets_;
};

std::uint16_t header_flags(const Header& header, bool truncated) {
  std::uint16_t flags = 0;
  if (header.qr) flags |= 0x8000;
  flags |= static_cast<std::uint16_t>((header.opcode & 0x0F) << 11);
  if (header.aa) flags |= 0x0400;
  if (truncated) flags |= 0x0200;
  if (header.rd) flags |= 0x0100;
  if (header.ra) flags |= 0x0080;
  if (header.ad) flags |= 0x0020;
  if (header.cd) flags |= 0x0010;
  flags |= static_cast<std::uint16_t>(header.rcode & 0x0F);
  return flags;
}

// Writes rdata that matches the record's type; false when the data's shape
// does not fit the type (an A record holding an IPv6 address, ...).
bool put_rdata(MessageWriter& writer, const Record& record) {
  const RrType type = record.type;
  return std::visit(
      [&](const auto& data) -> bool {
        using Data = std::decay_t<decltype(data)>;
        if constexpr (std::is_same_v<Data, AddressData>) {
          if ((type == RrType::A) != data.address.is_v4() || (type != RrType::A && type != RrType::AAAA)) return false;
          writer.put_bytes(std::span<const std::uint8_t>(data.address.data(), data.address.size()));
          return true;
        } else if constexpr (std::is_same_v<Data, NameData>) {
          if (type != RrType::NS && type != RrType::CNAME && type != RrType::PTR) return false;
          return writer.put_name(data.target);
        } else if constexpr (std::is_same_v<Data, MxData>) {
          if (type != RrType::MX) return false;
          writer.put_u16(data.preference);
          return writer.put_name(data.exchange);
        } else if constexpr (std::is_same_v<Data, TxtData>) {
          if (type != RrType::TXT && type != RrType::SPF) return false;
          // RFC 1035 3.3.14: character-strings of at most 255 octets.
          // Longer strings are split, which keeps their joined value. No
          // strings is written as empty rdata, as the decoder reads it.
          for (const std::string& text : data.strings) {
            std::string_view rest = text;
            do {
              const std::string_view chunk = rest.substr(0, 255);
              writer.put_u8(static_cast<std::uint8_t>(chunk.size()));
              writer.put_bytes(chunk);
              rest.remove_prefix(chunk.size());
            } while (!rest.empty());
          }
          return true;
        } else {
          static_assert(std::is_same_v<Data, SoaData>);
          if (type != RrType::SOA) return false;
          if (!writer.put_name(data.mname) || !writer.put_name(data.rname)) return false;
          for (const std::uint32_t value : {data.serial, data.refresh, data.retry, data.expire, data.minimum}) {
            writer.put_u32(value);
          }
          return true;
        }
      },
      record.data);
}

// Writes owner, type, class, TTL, then rdata via write_rdata, then patches
// RDLENGTH. False when the owner or data cannot be encoded.
template <typename WriteRdata>
bool put_record(MessageWriter& writer, std::string_view owner, std::uint16_t type, std::uint16_t rclass,
                std::uint32_t ttl, WriteRdata&& write_rdata) {
  if (!writer.put_name(owner)) return false;
  writer.put_u16(type);
  writer.put_u16(rclass);
  writer.put_u32(ttl);
  const std::size_t length_offset = writer.size();
  writer.put_u16(0);
  if (!write_rdata()) return false;
  const std::size_t rdata_octets = writer.size() - length_offset - 2;
  if (rdata_octets > 0xFFFF) return false;
  writer.patch_u16(length_offset, static_cast<std::uint16_t>(rdata_octets));
  return true;
}

bool put_record(MessageWriter& writer, const Record& record) {
  if (record.type == RrType::OPT) return false;  // OPT is written from has_edns
  return put_record(writer, record.owner, static_cast<std::uint16_t>(record.type), class_in, record.ttl,
                    [&] { return put_rdata(writer, record); });
}

bool put_record(MessageWriter& writer, const RawRecord& record) {
  return put_record(writer, record.owner, record.type, record.rclass, record.ttl, [&] {
    writer.put_bytes(record.rdata);
    return true;
  });
}

// ---------------------------------------------------------------------------
// Decoder

enum class Section : std::uint8_t { answer, authority, additional };

std::string_view section_name(Section section) {
  switch (section) {
    case Section::answer: return "answer";
    case Section::authority: return "authority";
    case Section::additional: return "additional";
  }
  return "?";
}

class MessageDecoder {
 public:
  explicit MessageDecoder(std::span<const std::uint8_t> packet) : packet_(packet) {}

  // With records false, the header and the question section only.
  Result<Message> decode(bool records = true) {
    Message message;
    if (packet_.size() < header_octets) {
      return bad_input("message is " + std::to_string(packet_.size()) + " octets, shorter than the 12-octet header");
    }
    message.header.id = u16_at(0);
    const std::uint16_t flags = u16_at(2);
    message.header.qr = flags & 0x8000;
    message.header.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0F);
    message.header.aa = flags & 0x0400;
    message.header.tc = flags & 0x0200;
    message.header.rd = flags & 0x0100;
    message.header.ra = flags & 0x0080;
    message.header.ad = flags & 0x0020;
    message.header.cd = flags & 0x0010;
    message.header.rcode = static_cast<std::uint8_t>(flags & 0x0F);
    const std::uint16_t question_count = u16_at(4);
    const std::array<std::uint16_t, 3> record_counts{u16_at(6), u16_at(8), u16_at(10)};

    std::size_t offset = header_octets;
    for (std::size_t index = 1; index <= question_count; ++index) {
      context_ = "question " + std::to_string(index) + ": ";
      Question question;
      auto name = read_name(offset, packet_.size(), "");
      if (!name) return failure();
      question.name = std::move(*name);
      if (!need(offset, 4, "question type and class")) return failure();
      question.type = u16_at(offset);
      question.qclass = u16_at(offset + 2);
      offset += 4;
      message.questions.push_back(std::move(question));
    }
    if (!records) return message;
    for (const Section section : {Section::answer, Section::authority, Section::additional}) {
      const std::uint16_t count = record_counts[static_cast<std::size_t>(section)];
      for (std::size_t index = 1; index <= count; ++index) {
        context_ = std::string(section_name(section)) + " " + std::to_string(index) + ": ";
        if (!read_record(offset, section, message)) return failure();
      }
    }
    // Octets after the last counted record are ignored, as resolvers do.
    return message;
  }

 private:
  std::uint16_t u16_at(std::size_t offset) const {
    return static_cast<std::uint16_t>(packet_[offset] << 8 | packet_[offset + 1]);
  }
  std::uint32_t u32_at(std::size_t offset) const {
    return static_cast<std::uint32_t>(u16_at(offset)) << 16 | u16_at(offset + 2);
  }

  bool fail(const std::string& what, std::size_t offset) {
    error_ = context_ + what + " (offset " + std::to_string(offset) + ")";
    return false;
  }
  Error failure() const { return bad_input(error_); }

  bool need(std::size_t offset, std::size_t octets, std::string_view field) {
    if (octets <= packet_.size() && offset <= packet_.size() - octets) return true;
    return fail("message ends inside the " + std::string(field), offset);
  }

  // Reads the name at offset and moves offset past it. Labels before the
  // first pointer must lie before limit: the end of the rdata for names in
  // rdata, whose mismatch (non-empty for those) then says what was wrong.
  // Every pointer must point before the start of the labels it was reached
  // from, so each jump goes strictly backwards and loops cannot happen.
  std::optional<std::string> read_name(std::size_t& offset, std::size_t limit, std::string_view mismatch) {
    std::string text;
    std::size_t position = offset;
    std::size_t segment_start = offset;
    std::size_t resume_at = 0;  // where the caller continues: after the first pointer or the root label
    bool jumped = false;
    int jumps = 0;
    std::size_t wire_octets = 1;  // the root label's length octet
    const auto ran_past_limit = [&](std::string_view field) {
      if (!mismatch.empty() && !jumped) return fail(std::string(mismatch) + ": name runs past the rdata", position);
      return fail("message ends inside " + std::string(field), position);
    };
    while (true) {
      if (position >= limit) {
        ran_past_limit("a name");
        return std::nullopt;
      }
      const std::uint8_t length_octet = packet_[position];
      if ((length_octet & 0xC0) == 0xC0) {
        if (position + 1 >= limit) {
          ran_past_limit("a compression pointer");
          return std::nullopt;
        }
        const std::size_t target = static_cast<std::size_t>(length_octet & 0x3F) << 8 | packet_[position + 1];
        if (target >= segment_start) {
          fail("compression pointer to offset " + std::to_string(target) + " does not point backwards", position);
          return std::nullopt;
        }
        if (target < header_octets) {
          fail("compression pointer into the header (offset " + std::to_string(target) + ")", position);
          return std::nullopt;
        }
        if (++jumps > max_compression_jumps) {
          fail("more than " + std::to_string(max_compression_jumps) + " compression pointers in one name", position);
          return std::nullopt;
        }
        if (!jumped) resume_at = position + 2;
        jumped = true;
        position = target;
        segment_start = target;
        limit = packet_.size();
        continue;
      }
      if ((length_octet & 0xC0) != 0) {
        // 64..191: neither a label (RFC 1035 2.3.4: at most 63 octets) nor
        // a pointer; the extended label types of RFC 6891 were withdrawn.
        fail("label length " + std::to_string(length_octet) + " is over 63 octets", position);
        return std::nullopt;
      }
      if (length_octet == 0) {
        if (!jumped) resume_at = position + 1;
        break;
      }
      wire_octets += std::size_t{length_octet} + 1;
      if (wire_octets > max_name_octets) {
        fail("name is longer than 255 octets", position);
        return std::nullopt;
      }
      if (length_octet > limit - position - 1) {
        ran_past_limit("a label");
        return std::nullopt;
      }
      if (!text.empty()) text.push_back('.');
      // Escaped so that a label "a.b" or "a b" reads back as the one label it is.
      const auto* label = reinterpret_cast<const char*>(packet_.data() + position + 1);
      text += label_text(std::string_view(label, length_octet));
      position += std::size_t{length_octet} + 1;
    }
    offset = resume_at;
    return text;
  }

  static std::string mismatch_text(std::uint16_t rdata_length, RrType type) {
    return "rdata length " + std::to_string(rdata_length) + " does not match " + std::string(type_name(type)) + " data";
  }

  // Names inside rdata: the root is "." (NameData, MxData), owners use "".
  std::optional<std::string> read_rdata_name(std::size_t& offset, std::size_t rdata_end, std::uint16_t rdata_length,
                                             RrType type) {
    auto name = read_name(offset, rdata_end, mismatch_text(rdata_length, type));
    if (name && name->empty()) *name = ".";
    return name;
  }

  bool rdata_mismatch(std::uint16_t rdata_length, RrType type, std::size_t rdata_start) {
    return fail(mismatch_text(rdata_length, type), rdata_start);
  }

  std::optional<Rdata> read_rdata(RrType type, std::size_t rdata_start, std::uint16_t rdata_length) {
    const std::size_t rdata_end = rdata_start + rdata_length;
    std::size_t position = rdata_start;
    switch (type) {
      case RrType::A:
      case RrType::AAAA: {
        if (rdata_length != (type == RrType::A ? 4 : 16)) {
          rdata_mismatch(rdata_length, type, rdata_start);
          return std::nullopt;
        }
        if (type == RrType::A) {
          std::array<std::uint8_t, 4> bytes{};
          std::copy_n(packet_.begin() + static_cast<std::ptrdiff_t>(rdata_start), bytes.size(), bytes.begin());
          return AddressData{IpAddress::v4(bytes)};
        }
        std::array<std::uint8_t, 16> bytes{};
        std::copy_n(packet_.begin() + static_cast<std::ptrdiff_t>(rdata_start), bytes.size(), bytes.begin());
        return AddressData{IpAddress::v6(bytes)};
      }
      case RrType::NS:
      case RrType::CNAME:
      case RrType::PTR: {
        auto target = read_rdata_name(position, rdata_end, rdata_length, type);
        if (!target) return std::nullopt;
        if (position != rdata_end) {
          rdata_mismatch(rdata_length, type, rdata_start);
          return std::nullopt;
        }
        return NameData{std::move(*target)};
      }
      case RrType::MX: {
        if (rdata_length < 3) {  // preference and at least the root label
          rdata_mismatch(rdata_length, type, rdata_start);
          return std::nullopt;
        }
        MxData mx;
        mx.preference = u16_at(position);
        position += 2;
        auto exchange = read_rdata_name(position, rdata_end, rdata_length, type);
        if (!exchange) return std::nullopt;
        if (position != rdata_end) {
          rdata_mismatch(rdata_length, type, rdata_start);
          return std::nullopt;
        }
        mx.exchange = std::move(*exchange);
        return mx;
      }
      case RrType::TXT:
      case RrType::SPF: {
        TxtData txt;
        while (position < rdata_end) {
          const std::size_t string_octets = packet_[position];
          if (string_octets > rdata_end - position - 1) {
            fail(mismatch_text(rdata_length, type) + ": character-string of " + std::to_string(string_octets) +
                     " octets runs past the rdata",
                 position);
            return std::nullopt;
          }
          const auto* first = packet_.data() + position + 1;
          txt.strings.emplace_back(reinterpret_cast<const char*>(first), string_octets);
          position += string_octets + 1;
        }
        return txt;
      }
      case RrType::SOA: {
        SoaData soa;
        auto mname = read_rdata_name(position, rdata_end, rdata_length, type);
        if (!mname) return std::nullopt;
        auto rname = read_rdata_name(position, rdata_end, rdata_length, type);
        if (!rname) return std::nullopt;
        if (rdata_end - position != 20) {
          rdata_mismatch(rdata_length, type, rdata_start);
          return std::nullopt;
        }
        soa.mname = std::move(*mname);
        soa.rname = std::move(*rname);
        soa.serial = u32_at(position);
        soa.refresh = u32_at(position + 4);
        soa.retry = u32_at(position + 8);
        soa.expire = u32_at(position + 12);
        soa.minimum = u32_at(position + 16);
        return soa;
      }
      case RrType::OPT: break;
    }
    fail("internal: no decoder for type " + std::string(type_name(type)), rdata_start);
    return std::nullopt;
  }

  bool read_record(std::size_t& offset, Section section, Message& message) {
    auto owner = read_name(offset, packet_.size(), "");
    if (!owner) return false;
    if (!need(offset, 10, "record's type, class, TTL and rdata length")) return false;
    const std::uint16_t type = u16_at(offset);
    const std::uint16_t rclass = u16_at(offset + 2);
    const std::uint32_t ttl = u32_at(offset + 4);
    const std::uint16_t rdata_length = u16_at(offset + 8);
    const std::size_t rdata_start = offset + 10;
    if (rdata_length > packet_.size() - rdata_start) {
      return fail("rdata length " + std::to_string(rdata_length) + " runs past the end of the message", offset + 8);
    }
    offset = rdata_start + rdata_length;

    const auto raw = [&] {
      const auto rdata = packet_.subspan(rdata_start, rdata_length);
      return RawRecord{*owner, type, rclass, ttl, std::vector<std::uint8_t>(rdata.begin(), rdata.end())};
    };
    if (type == type_opt) {
      // RFC 6891 6.1.1: one OPT, in the additional section, owned by the root.
      if (section != Section::additional) return fail("OPT record outside the additional section", rdata_start - 10);
      if (message.has_edns) return fail("second OPT record", rdata_start - 10);
      if (!owner->empty()) return fail("OPT record owned by '" + *owner + "' instead of the root", rdata_start - 10);
      message.has_edns = true;
      message.edns_udp_size = rclass;  // RFC 6891 6.1.2: CLASS holds the requestor's UDP payload size
      message.unknown.push_back(raw());
      return true;
    }
    const auto modelled = modelled_type(type);
    if (!modelled || rclass != class_in) {
      message.unknown.push_back(raw());
      return true;
    }
    auto data = read_rdata(*modelled, rdata_start, rdata_length);
    if (!data) return false;
    // RFC 2181 8: a TTL with the top bit set is treated as zero.
    const std::uint32_t effective_ttl = ttl > 0x7FFFFFFF ? 0 : ttl;
    Record record{std::move(*owner), *modelled, effective_ttl, std::move(*data)};
    switch (section) {
      case Section::answer: message.answers.push_back(std::move(record)); break;
      case Section::authority: message.authority.push_back(std::move(record)); break;
      case Section::additional: message.additional.push_back(std::move(record)); break;
    }
    return true;
  }

  std::span<const std::uint8_t> packet_;
  std::string context_;  // "answer 2: ", prefixed to every error
  std::string error_;
};

}  // namespace

std::vector<std::uint8_t> encode_query(std::uint16_t id, std::string_view name, RrType type,
                                       std::uint16_t edns_udp_size) {
  Message query;
  query.header.id = id;
  query.header.rd = true;
  query.header.ad = true;  // RFC 6840 5.7
  query.questions.push_back(Question{std::string(name), static_cast<std::uint16_t>(type), class_in});
  query.has_edns = edns_udp_size > 0;
  query.edns_udp_size = edns_udp_size;
  return encode_message(query);
}

std::vector<std::uint8_t> encode_message(const Message& message, std::size_t max_size) {
  if (message.questions.size() > 0xFFFF) return {};
  MessageWriter writer;
  for (int i = 0; i < 6; ++i) writer.put_u16(0);  // header, patched at the end
  for (const Question& question : message.questions) {
    if (!writer.put_name(question.name)) return {};
    writer.put_u16(question.type);
    writer.put_u16(question.qclass);
  }

  // The OPT record goes last but is reserved for first: RFC 6891 7 wants it
  // in truncated answers too. A decoded OPT keeps its extended flags and
  // options; otherwise it is a plain one.
  std::optional<RawRecord> opt;
  if (message.has_edns) {
    const auto decoded = std::find_if(message.unknown.begin(), message.unknown.end(),
                                      [](const RawRecord& raw) { return raw.type == type_opt; });
    opt = decoded != message.unknown.end() ? *decoded : RawRecord{"", type_opt, 0, 0, {}};
    opt->owner.clear();
    opt->rclass = message.edns_udp_size;
  }
  const std::size_t opt_octets = opt ? 11 + opt->rdata.size() : 0;
  const std::size_t limit = max_size == 0 ? max_message_octets : std::min(max_size, max_message_octets);
  const std::size_t record_limit = limit > opt_octets ? limit - opt_octets : 0;

  // Records are written in order and the first that does not fit ends the
  // message: RFC 2181 9 drops records from the end. TC is set only when
  // answer or authority records were lost; missing additional data does
  // not make an answer truncated (RFC 2181 9).
  std::array<std::size_t, 3> written{};
  bool dropped = false;
  bool truncated = message.header.tc;
  const auto put_section = [&](const auto& records, std::size_t section) {
    for (const auto& record : records) {
      if (dropped) return true;
      if constexpr (std::is_same_v<std::decay_t<decltype(record)>, RawRecord>) {
        if (record.type == type_opt) continue;
      }
      const std::size_t before = writer.size();
      if (!put_record(writer, record)) return false;
      if (writer.size() > record_limit) {
        writer.roll_back_to(before);
        dropped = true;
        if (section != 2) truncated = true;
        return true;
      }
      ++written[section];
    }
    return true;
  };
  // Raw records have lost their section; they go with the additional data.
  if (!put_section(message.answers, 0) || !put_section(message.authority, 1) ||
      !put_section(message.additional, 2) || !put_section(message.unknown, 2)) {
    return {};
  }
  std::size_t additional_count = written[2];
  if (opt && writer.size() + opt_octets <= limit) {
    if (!put_record(writer, *opt)) return {};
    ++additional_count;
  }
  if (writer.size() > max_message_octets) return {};  // the questions alone are too big

  writer.patch_u16(0, message.header.id);
  writer.patch_u16(2, header_flags(message.header, truncated));
  writer.patch_u16(4, static_cast<std::uint16_t>(message.questions.size()));
  writer.patch_u16(6, static_cast<std::uint16_t>(written[0]));
  writer.patch_u16(8, static_cast<std::uint16_t>(written[1]));
  writer.patch_u16(10, static_cast<std::uint16_t>(additional_count));
  return std::move(writer).release();
}

Result<Message> decode_message(std::span<const std::uint8_t> packet) { return MessageDecoder(packet).decode(); }

Result<Message> decode_question_section(std::span<const std::uint8_t> packet) {
  return MessageDecoder(packet).decode(false);
}

}  // namespace diag::dns::wire
