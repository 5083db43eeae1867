// RFC 1035 master files: parsed into records, and answered from as an
// overlay in front of the network (--zone FILE).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "diag/dns.h"
#include "diag/result.h"

namespace diag::dns {

// A parsed master file. Supports $ORIGIN, $TTL, $INCLUDE is refused (a
// what-if file should be self-contained), relative names, "@", owner
// inheritance from the previous line, quoted TXT strings with \X and \DDD
// escapes, multi-line parentheses, ";" comments, class IN (optional), TTL
// and class in either order, and the types A AAAA MX TXT SPF PTR CNAME NS SOA.
struct ZoneFile {
  std::string path;
  std::vector<Record> records;
  // The zones this file is authoritative for: every owner of an SOA record,
  // or, when the file has no SOA, every $ORIGIN it sets (and the initial
  // origin, if one was given). Canonical names.
  std::vector<std::string> apexes;
};

// Errors are ErrorKind::bad_input with "FILE:LINE:COLUMN: what" (1-based).
Result<ZoneFile> parse_zone_file(const std::string& path, std::string_view initial_origin = "");
Result<ZoneFile> parse_zone_text(std::string_view text, const std::string& display_name,
                                 std::string_view initial_origin = "");

// Answers questions from zone files the way an authoritative server would
// for the names inside their apexes: records, CNAME chains (followed while
// they stay inside the overlay), NODATA for existing names (including empty
// non-terminals), NXDOMAIN otherwise. Names outside every apex are not
// covered and go to the network.
class ZoneOverlay {
 public:
  void add(ZoneFile zone);
  bool empty() const { return zones_.empty(); }
  // True when some loaded file is authoritative for name.
  bool covers(std::string_view name) const;
  // The answer for a covered name; source is "zone:PATH". Precondition: covers(name).
  Answer answer(std::string_view name, RrType type) const;

 private:
  struct LoadedZone {
    ZoneFile file;
    std::multimap<std::string, const Record*> by_owner;
  };
  const LoadedZone* authority_for(std::string_view name) const;
  std::vector<std::unique_ptr<LoadedZone>> zones_;
};

}  // namespace diag::dns
