// RFC 1035 master files: parsed into records, and answered from as an
// overlay in front of the network (--zone FILE).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "diag/dns.h"
#include "diag/result.h"

namespace diag::dns {

// A record of a type the tools never ask for (CAA, SRV, DNSSEC types, ...):
// not kept, but its owner exists (NODATA, not NXDOMAIN), an NS or DNAME
// makes a zone cut, and it counts against a CNAME beside it.
struct SkippedRecord {
  std::string owner;  // canonical
  std::string type;   // mnemonic as in the IANA registry, or TYPEnnn
  int line = 0, column = 0;
};

// A parsed master file. Supports $ORIGIN, $TTL, $INCLUDE is refused (a
// what-if file should be self-contained), relative names, "@", owner
// inheritance from the previous line, quoted TXT strings with \X and \DDD
// escapes, multi-line parentheses, ";" comments, class IN (also written
// CLASS1, optional), TTL and class in either order, a UTF-8 byte order mark,
// Windows DNS's "[AGE:n]" field, and RFC 3597's TYPEnnn and "\# LENGTH HEX"
// forms. A, AAAA, MX, TXT, SPF, PTR, CNAME, NS and SOA are kept; every other
// registered type is skipped and counted.
struct ZoneFile {
  std::string path;
  std::vector<Record> records;
  // The line each record came from, parallel to records.
  std::vector<int> lines;
  std::vector<SkippedRecord> skipped;
  // The zones this file is authoritative for: the origin given from outside
  // (--zone-origin) when there is one; else every owner of an SOA record,
  // or, when the file has no SOA, every $ORIGIN it sets. Canonical names.
  std::vector<std::string> apexes;
  // The file names its zone itself: a $ORIGIN before its first record, or
  // a first SOA whose owner is written absolute. --zone-origin is for the
  // files that do not (BIND db.* files, Windows DNS, Cloudflare).
  bool names_its_zone = false;
  // One line each, "FILE: what": facts that make the file answer less than
  // it seems to (no apex, records outside the zone). Not errors: the file
  // loaded and answers what it can.
  std::vector<std::string> warnings;

  // "CAA 2, SRV 10": how many records of each skipped type, by type name.
  std::string skipped_summary() const;
};

// Errors are ErrorKind::bad_input with "FILE:LINE:COLUMN: what" (1-based),
// or "FILE: what" for the file as a whole (unreadable, empty, a directory,
// UTF-16, over 64 MiB). An empty initial_origin means none: relative names
// then need a $ORIGIN first; "." is the root.
Result<ZoneFile> parse_zone_file(const std::string& path, std::string_view initial_origin = "");
Result<ZoneFile> parse_zone_text(std::string_view text, const std::string& display_name,
                                 std::string_view initial_origin = "");

// Answers questions from zone files the way an authoritative server would
// for the names inside their apexes: records, CNAME chains (followed while
// they stay inside the overlay), RFC 4592 wildcards, NODATA for existing
// names (including empty non-terminals and names that own only skipped
// types), NXDOMAIN otherwise. Names outside every apex are not covered and
// go to the network; so are names at or below a zone cut (an NS record
// below the apex: the zone delegates them, and a resolver would follow the
// referral) and names below a DNAME.
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
    // Every name that exists: owners of kept and skipped records and the
    // empty non-terminals between them and their apex.
    std::set<std::string> existing;
    // Owners below an apex of NS (delegation) or DNAME records.
    std::vector<std::string> cuts;
    std::vector<std::string> dnames;
  };
  const LoadedZone* authority_for(std::string_view name) const;
  std::vector<std::unique_ptr<LoadedZone>> zones_;
};

}  // namespace diag::dns
