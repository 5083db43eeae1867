// The zone files admins really have: the provider exports in
// fixtures/zones/exports (each built from the provider's documented format;
// the README there names the sources). Every one must load, with the zone
// name from outside where the file does not carry it, and answer its SPF and
// MX names. Where Knot's kzonecheck and BIND's named-checkzone accept a
// file, our reading of it must be theirs: the records of every type the
// checks use, name by name, against BIND's dump of the zone; Knot serving
// the same files is compared in test_knot.cpp.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "diag/zone.h"
#include "smtp_test_support.h"

using namespace diag::dns;
using namespace std::chrono_literals;

namespace {

const std::string exports_dir = std::string(SENDCHECK_SOURCE_DIR) + "/fixtures/zones/exports";
const std::string bin_dir = std::string(SENDCHECK_BINARY_DIR) + "/bin";

struct ExportFile {
  std::string file, origin, spf_name, mx_name;  // "-": none
  std::string path() const { return exports_dir + "/" + file; }
  std::string origin_or_empty() const { return origin == "-" ? "" : origin; }
};

std::vector<ExportFile> export_index() {
  std::ifstream in(exports_dir + "/index.tsv");
  std::vector<ExportFile> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    ExportFile entry;
    fields >> entry.file >> entry.origin >> entry.spf_name >> entry.mx_name;
    REQUIRE_FALSE(entry.mx_name.empty());
    out.push_back(entry);
  }
  REQUIRE(out.size() >= 8);
  return out;
}

ZoneFile load(const ExportFile& entry) {
  auto zone = parse_zone_file(entry.path(), entry.origin_or_empty());
  INFO(entry.file << ": " << (zone ? "" : zone.error().message));
  REQUIRE(zone.ok());
  return std::move(zone).value();
}

// A program the test needs: missing is a broken setup under CI=true.
bool have_oracle(const std::string& program) {
  if (smtp_testing::have_program(program)) return true;
  smtp_testing::skip_or_fail(program + " is not installed (scripts/install-deps --test)");
  return false;
}

// The types whose records the checks read.
const std::set<RrType> compared_types{RrType::MX, RrType::TXT, RrType::A, RrType::AAAA, RrType::CNAME, RrType::PTR};

// owner and type -> the records' data, sorted: what a server answers.
std::map<std::string, std::multiset<std::string>> records_by_name(const ZoneFile& zone, const std::string& apex) {
  std::map<std::string, std::multiset<std::string>> out;
  for (const auto& record : zone.records)
    if (compared_types.count(record.type) && name_is_at_or_below(record.owner, apex))
      out[record.owner + " " + std::string(to_string(record.type))].insert(record.data_text());
  return out;
}

}  // namespace

TEST_CASE("zone exports: every provider export loads and answers its SPF and MX names", "[zone][exports]") {
  for (const auto& entry : export_index()) {
    INFO(entry.file);
    const ZoneFile zone = load(entry);
    CHECK(zone.warnings.empty());
    REQUIRE(zone.apexes.size() == 1);
    ZoneOverlay overlay;
    overlay.add(zone);
    if (entry.spf_name != "-") {
      REQUIRE(overlay.covers(entry.spf_name));
      const auto txt = overlay.answer(entry.spf_name, RrType::TXT);
      REQUIRE(txt.outcome == Outcome::records);
      std::size_t spf_records = 0;
      for (const auto& data : txt.txt()) spf_records += data.joined().rfind("v=spf1 ", 0) == 0 ? 1 : 0;
      CHECK(spf_records == 1);  // RFC 7208 4.5: exactly one
    }
    if (entry.mx_name != "-") {
      const auto mx = overlay.answer(entry.mx_name, RrType::MX);
      CHECK(mx.outcome == Outcome::records);
      CHECK_FALSE(mx.mx().empty());
    }
  }
}

TEST_CASE("zone exports: what each export holds beyond what the checks read", "[zone][exports]") {
  std::map<std::string, ZoneFile> zones;
  for (const auto& entry : export_index()) zones.emplace(entry.file, load(entry));
  CHECK(zones.at("cloudflare-export.example.txt").skipped_summary() == "CAA 2, HTTPS 1, SRV 2");
  CHECK(zones.at("cli53-export.example.zone").skipped_summary() == "AWS ALIAS 2");
  CHECK(zones.at("azure-export.example.zone").skipped_summary() == "CAA 1, SRV 1");
  CHECK(zones.at("godaddy-export.example.txt").skipped_summary() == "SRV 2");
  CHECK(zones.at("windows-export.example.dns").skipped_summary() == "SRV 3");
  CHECK(zones.at("db.bind-export.example").skipped_summary() == "DS 1, SRV 1");

  // cli53's weighted records: the same address twice is one record.
  ZoneOverlay cli53;
  cli53.add(zones.at("cli53-export.example.zone"));
  CHECK(cli53.answer("mail.cli53-export.example", RrType::A).records.size() == 2);
  // Cloudflare's zone needs its name from outside; with it, the apex answers.
  ZoneOverlay cloudflare;
  cloudflare.add(zones.at("cloudflare-export.example.txt"));
  CHECK(cloudflare.answer("cloudflare-export.example", RrType::MX).mx() ==
        std::vector<MxData>{{0, "cloudflare-export-example.mail.protection.outlook.com"}});
  // Without it, the file says what is missing and which option gives it.
  auto no_origin = parse_zone_file(exports_dir + "/cloudflare-export.example.txt");
  REQUIRE_FALSE(no_origin.ok());
  CHECK(no_origin.error().message ==
        exports_dir + "/cloudflare-export.example.txt:27:1: owner \"cloudflare-export.example\" is relative and no "
                      "origin is known yet (end it with \".\", set $ORIGIN, or give the zone's name with "
                      "--zone-origin NAME)");
  // Windows: the delegated _msdcs zone is the network's to answer.
  ZoneOverlay windows;
  windows.add(zones.at("windows-export.example.dns"));
  CHECK_FALSE(windows.covers("dc01._msdcs.windows-export.example"));
  CHECK(windows.answer("scanner.windows-export.example", RrType::A).addresses() ==
        std::vector<diag::IpAddress>{*diag::IpAddress::parse("10.20.5.40")});
}

TEST_CASE("zone exports: where kzonecheck and named-checkzone accept a file, our records are BIND's",
          "[zone][exports][oracle]") {
  if (!have_oracle("kzonecheck") || !have_oracle("named-checkzone")) return;
  const auto scratch = std::filesystem::temp_directory_path() / ("sendcheck-oracle-" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  std::size_t knot_accepted = 0, bind_accepted = 0, compared_names = 0;
  std::set<std::string> accepted_by_both;
  for (const auto& entry : export_index()) {
    INFO(entry.file);
    const ZoneFile ours = load(entry);
    const std::string apex = ours.apexes.at(0);
    const std::string origin = apex + ".";
    const auto knot = smtp_testing::run_program({"kzonecheck", "-o", origin, entry.path()}, 60s);
    const std::string dump = (scratch / (entry.file + ".bind")).string();
    // Only the syntax and the zone's own rules: the name-checking policies
    // (underscores, MX targets that are addresses) are not what we compare.
    const auto bind = smtp_testing::run_program({"named-checkzone", "-i", "none", "-k", "ignore", "-n", "ignore", "-m",
                                                 "ignore", "-M", "ignore", "-S", "ignore", "-T", "ignore", "-D", "-o",
                                                 dump, origin, entry.path()},
                                                60s);
    INFO("kzonecheck: " << knot.exit_code << " " << knot.err << "named-checkzone: " << bind.exit_code << " " << bind.out);
    REQUIRE(knot.exit_code >= 0);
    REQUIRE(bind.exit_code >= 0);
    knot_accepted += knot.exit_code == 0 ? 1 : 0;
    if (knot.exit_code == 0 && bind.exit_code == 0) accepted_by_both.insert(entry.file);
    if (bind.exit_code != 0) continue;
    ++bind_accepted;
    // BIND's dump: every name absolute, one record a line, the simplest syntax.
    auto theirs = parse_zone_file(dump, ".");
    INFO((theirs ? "" : theirs.error().message));
    REQUIRE(theirs.ok());
    const auto expected = records_by_name(*theirs, apex);
    const auto actual = records_by_name(ours, apex);
    CHECK(actual == expected);
    compared_names += expected.size();
  }
  std::filesystem::remove_all(scratch);
  // What the oracles are known to accept: if they stop accepting these,
  // this test compares nothing and must say so.
  CHECK(accepted_by_both == std::set<std::string>{"azure-export.example.zone", "db.100.51.198", "db.bind-export.example",
                                                  "godaddy-export.example.txt"});
  CHECK(bind_accepted == 5);  // and windows-static.example.dns, CRLF, which Knot refuses
  CHECK(knot_accepted == 4);
  CHECK(compared_names > 30);
}

TEST_CASE("zone exports: --zone-origin and FILE@NAME through a tool", "[zone][exports][tools]") {
  const std::string mx_tool = bin_dir + "/sendcheck-mx";
  const std::string db = exports_dir + "/db.bind-export.example";
  const std::vector<std::string> offline{"--dns", "127.0.0.1:9", "--timeout", "1"};
  const auto run = [&](std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), mx_tool);
    arguments.insert(arguments.end(), offline.begin(), offline.end());
    return smtp_testing::run_program(arguments, 60s);
  };

  SECTION("without the zone's name the error names the option that gives it") {
    const auto result = run({"--zone", db, "bind-export.example"});
    CHECK(result.exit_code == 2);
    CHECK(result.err == "sendcheck-mx: error: " + db +
                            ":4:1: owner \"@\" needs an origin, and none is known yet (set $ORIGIN, or give the "
                            "zone's name with --zone-origin NAME)\n");
  }
  for (const auto& form : std::vector<std::vector<std::string>>{
           {"--zone", db, "--zone-origin", "bind-export.example"}, {"--zone", db + "@bind-export.example."}}) {
    SECTION("following the hint gives a file that answers: " + form.back()) {
      auto arguments = form;
      arguments.insert(arguments.end(), {"--json", "-v", "bind-export.example"});
      const auto result = run(arguments);
      INFO(result.err);
      // Exit 3 is fine: the MX hosts outside the file cannot be asked here.
      CHECK(result.exit_code != 2);
      CHECK(result.out.find("mail.bind-export.example") != std::string::npos);
      CHECK(result.err.find("sendcheck-mx: " + db + ": skipped 2 records of types no check asks for: DS 1, SRV 1\n") !=
            std::string::npos);
      CHECK(result.err.find("warning") == std::string::npos);
    }
  }
  SECTION("a file that can never answer is a warning") {
    const std::string cloudflare = exports_dir + "/cloudflare-export.example.txt";
    const auto result = run({"--zone", cloudflare, "--zone-origin", "elsewhere.example", "cloudflare-export.example"});
    CHECK(result.exit_code != 2);
    CHECK(result.err.rfind("sendcheck-mx: warning: " + cloudflare + ": 11 records (the first: cloudflare-export.example at "
                           "line 30) lie outside the zone elsewhere.example and are not answered; check --zone-origin\n",
                           0) == 0);
  }
  SECTION("a file that names its zone ($ORIGIN first) keeps it beside --zone-origin for another file") {
    const std::string azure = exports_dir + "/azure-export.example.zone";
    const auto result = run({"--zone", db, "--zone-origin", "bind-export.example", "--zone", azure, "--json",
                             "azure-export.example"});
    INFO(result.out << result.err);
    CHECK(result.exit_code != 2);
    CHECK(result.err.find("warning") == std::string::npos);
    CHECK(nlohmann::json::parse(result.out)["domains"][0]["mx"][0]["host"] == "azure-export-example.mail.protection.outlook.com");
  }
  SECTION("a directory, and --zone-origin without --zone") {
    const auto directory = run({"--zone", exports_dir, "bind-export.example"});
    CHECK(directory.exit_code == 2);
    CHECK(directory.err == "sendcheck-mx: error: " + exports_dir + ": is a directory, not a zone file\n");
    const auto alone = run({"--zone-origin", "bind-export.example", "bind-export.example"});
    CHECK(alone.exit_code == 2);
    CHECK(alone.err.find("--zone-origin requires --zone") != std::string::npos);
  }
}
