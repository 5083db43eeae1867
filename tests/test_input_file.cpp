// The one list reader and the one secret reader (diag/input_file.h): files
// as Notepad, PowerShell, a Unix editor and `echo` save them.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>

#include <diag/blocklist.h>
#include <diag/input_file.h>
#include <diag/oauth.h>

#include "smtp_test_support.h"
#include "temporary_directory.h"

using diag::read_list_lines;
using diag::read_secret_file;

namespace {

const std::string bom = "\xEF\xBB\xBF";

std::vector<std::string> texts(const std::vector<diag::ListLine>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) out.push_back(line.text);
  return out;
}

}  // namespace

TEST_CASE("list file: an IP list saved by Notepad (BOM, CRLF, comments) reads from line 1", "[input-file]") {
  fixtures::TemporaryDirectory dir("input");
  const auto path = dir.write("printers.txt", bom + "192.0.2.25\r\n# 3rd floor\r\n  198.51.100.7 \t# scanner\r\n\r\n2001:db8::25\r\n");
  const auto lines = read_list_lines(path, "address list");
  REQUIRE(lines);
  CHECK(texts(*lines) == std::vector<std::string>{"192.0.2.25", "198.51.100.7", "2001:db8::25"});
  CHECK((*lines)[0].number == 1);
  CHECK((*lines)[1].number == 3);
  CHECK((*lines)[2].number == 5);
  // Every entry is an address the blocklist check takes: the BOM is not glued to the first one.
  for (const auto& line : *lines) CHECK(diag::blocklist::parse_ip(line.text));
}

TEST_CASE("list file: no final newline, only comments, a BOM alone", "[input-file]") {
  fixtures::TemporaryDirectory dir("input");
  auto last = read_list_lines(dir.write("a.txt", "contoso.com\nfabrikam.com"), "domain list");
  REQUIRE(last);
  CHECK(texts(*last) == std::vector<std::string>{"contoso.com", "fabrikam.com"});
  auto comments = read_list_lines(dir.write("b.txt", "# none yet\n\n   \n"), "domain list");
  REQUIRE(comments);
  CHECK(comments->empty());
  auto bom_only = read_list_lines(dir.write("c.txt", bom), "domain list");
  REQUIRE(bom_only);
  CHECK(bom_only->empty());
  // A BOM is dropped on line 1 only: elsewhere it is content the caller rejects.
  auto later = read_list_lines(dir.write("d.txt", "a.example\n" + bom + "b.example\n"), "domain list");
  REQUIRE(later);
  CHECK((*later)[1].text == bom + "b.example");
}

TEST_CASE("list file: a long line and a missing file are errors naming FILE[:LINE]", "[input-file]") {
  fixtures::TemporaryDirectory dir("input");
  const auto path = dir.write("long.txt", "ok.example\n" + std::string(diag::max_list_line + 1, 'a') + "\n");
  const auto long_line = read_list_lines(path, "domain list");
  REQUIRE_FALSE(long_line);
  CHECK(long_line.error().kind == diag::ErrorKind::bad_input);
  CHECK(long_line.error().message == path + ":2: line too long");
  const auto missing = read_list_lines(dir.path("nothing.txt"), "address list");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == dir.path("nothing.txt") + ": cannot read the address list: No such file or directory");
}

TEST_CASE("secret file: the first line, without LF, CRLF or a BOM, blanks kept", "[input-file][secrets]") {
  fixtures::TemporaryDirectory dir("input");
  CHECK(read_secret_file(dir.write("a", "s3cret\n"), "password").value() == "s3cret");
  CHECK(read_secret_file(dir.write("b", "s3cret\r\nsecond line\n"), "password").value() == "s3cret");
  CHECK(read_secret_file(dir.write("c", bom + "s3cret\r\n"), "password").value() == "s3cret");  // Notepad
  CHECK(read_secret_file(dir.write("d", "s3cret"), "password").value() == "s3cret");          // printf, no newline
  CHECK(read_secret_file(dir.write("e", " pass word \n"), "password").value() == " pass word ");
  CHECK(read_secret_file(dir.write("f", "#hash-first\n"), "password").value() == "#hash-first");
  // The OAuth module reads tokens and client secrets by the same rule.
  CHECK(diag::oauth::read_secret_file(dir.write("g", bom + "tok\r\n"), "OAuth token").value() == "tok");
}

TEST_CASE("secret file: empty, too long or missing is a clear error that never shows the content", "[input-file][secrets]") {
  fixtures::TemporaryDirectory dir("input");
  const auto empty = read_secret_file(dir.write("empty", "\r\nNotTheSecret\n"), "Spamhaus DQS key");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().kind == diag::ErrorKind::bad_input);
  CHECK(empty.error().message == dir.path("empty") + ": the Spamhaus DQS key file has nothing on its first line");
  CHECK(empty.error().message.find("NotTheSecret") == std::string::npos);

  const std::string huge(diag::max_secret_bytes + 1, 'k');
  const auto too_long = read_secret_file(dir.write("huge", huge + "\n"), "client secret");
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().message == dir.path("huge") + ": the client secret file has a first line over 64 KB");
  CHECK(read_secret_file(dir.write("limit", std::string(diag::max_secret_bytes, 'k') + "\r\n"), "client secret"));

  const auto missing = read_secret_file(dir.path("absent"), "password");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == dir.path("absent") + ": cannot read the password file: No such file or directory");
}

TEST_CASE("input file: a directory is named as one, with the system's reason", "[input-file]") {
  fixtures::TemporaryDirectory dir("input");
  const std::string folder = dir.path("printers");
  std::filesystem::create_directory(folder);
  const auto list = read_list_lines(folder, "address list");
  REQUIRE_FALSE(list);
  CHECK(list.error().message == folder + ": cannot read the address list: Is a directory");
  const auto secret = read_secret_file(folder, "password");
  REQUIRE_FALSE(secret);
  CHECK(secret.error().message == folder + ": cannot read the password file: Is a directory");
  const auto opened = diag::open_input_file(dir.path("absent.csv"), "batch file");
  REQUIRE_FALSE(opened);
  CHECK(opened.error().message == dir.path("absent.csv") + ": cannot read the batch file: No such file or directory");
}

TEST_CASE("input file: every tool's file option given a directory says so, exit 2", "[input-file][tools]") {
  using namespace smtp_testing;
  fixtures::TemporaryDirectory dir("input");
  const std::string folder = dir.path("adir");
  std::filesystem::create_directory(folder);
  const std::vector<std::string> offline = {"--dns", "127.0.0.1:9", "--timeout", "1"};
  const std::vector<std::vector<std::string>> runs = {
      {bin_dir + "/sendcheck-mx", "--file", folder},
      {bin_dir + "/sendcheck-blocklist", "--file", folder},
      {bin_dir + "/sendcheck-blocklist", "--zones", folder, "192.0.2.1"},
      {bin_dir + "/sendcheck-blocklist", "--spamhaus-key-file", folder, "192.0.2.1"},
      {bin_dir + "/sendcheck-preflight", "--batch", folder},
      {bin_dir + "/sendcheck-preflight", "contoso.example", "--ip", "192.0.2.1", "--from", "a@contoso.example", "--to",
       "b@contoso.example", "--ca", folder},
      {bin_dir + "/sendcheck-probe", "127.0.0.1", "--port", "9", "--from", "a@contoso.example", "--rcpt",
       "b@contoso.example", "--send", "--body-file", folder},
  };
  for (auto argv : runs) {
    argv.insert(argv.end(), offline.begin(), offline.end());
    const auto run = run_program(argv);
    INFO(argv[0] << " " << argv[1] << "\n" << run.out << run.err);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains(folder + ": cannot read the ") && Catch::Contains(": Is a directory"));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
}
