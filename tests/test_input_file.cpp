// The one list reader and the one secret reader (diag/input_file.h): files
// as Notepad, PowerShell, a Unix editor and `echo` save them.
#include <catch2/catch.hpp>

#include <diag/blocklist.h>
#include <diag/input_file.h>
#include <diag/oauth.h>

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
