#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "adapters/sinks/csv_drop/csv_format.hpp"
#include "bridge/core/sha256.hpp"

using namespace reportbridge::csv_drop;
using reportbridge::core::sha256_hex;

namespace {

struct EscapeCase {
  std::string in;
  char delimiter;
  bool guard;
  std::string out;
};

EncodeResult cp1252(const std::string& s, UnencodablePolicy p = UnencodablePolicy::transliterate) {
  return encode_text(s, Encoding::windows_1252, p);
}

}  // namespace

TEST_CASE("escape_cell follows RFC 4180") {
  const std::vector<EscapeCase> cases = {
      {"plain", ',', false, "plain"},
      {"", ',', false, ""},
      {"a,b", ',', false, "\"a,b\""},
      {"say \"hi\"", ',', false, "\"say \"\"hi\"\"\""},
      {"\"", ',', false, "\"\"\"\""},
      {"line\nbreak", ',', false, "\"line\nbreak\""},
      {"cr\rhere", ',', false, "\"cr\rhere\""},
      {"crlf\r\n", ',', false, "\"crlf\r\n\""},
      {"a;b", ',', false, "a;b"},
      {"a;b", ';', false, "\"a;b\""},
      {"a,b", ';', false, "a,b"},
      {"a\tb", ',', false, "a\tb"},
      {"a\tb", '\t', false, "\"a\tb\""},
      {"a|b", '|', false, "\"a|b\""},
      {" spaced ", ',', false, " spaced "},
      {"zoë, ✓", ',', false, "\"zoë, ✓\""},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.in << " delimiter: " << int(c.delimiter));
    CHECK(escape_cell(c.in, c.delimiter, c.guard) == c.out);
  }
}

TEST_CASE("escape_cell neutralises formulas when the guard is on") {
  const std::vector<EscapeCase> cases = {
      {"=SUM(A1:A9)", ',', true, "'=SUM(A1:A9)"},
      {"+44 20 7946 0000", ',', true, "'+44 20 7946 0000"},
      {"-5", ',', true, "-5"},
      {"-1.2350", ',', true, "-1.2350"},
      {"+447700900123", ',', true, "+447700900123"},
      {"-2+3+cmd|' /C calc'!A0", ',', true, "'-2+3+cmd|' /C calc'!A0"},
      {"-", ',', true, "'-"},
      {"+.", ',', true, "'+."},
      {"-1e5", ',', true, "'-1e5"},
      {"@cmd", ',', true, "'@cmd"},
      {"\tx", ',', true, "'\tx"},
      {"\tx", '\t', true, "\"'\tx\""},
      {"\rx", ',', true, "\"'\rx\""},
      {"=HYPERLINK(\"http://x\",\"y\")", ',', true, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
      {"=1;2", ';', true, "\"'=1;2\""},
      {"a=b", ',', true, "a=b"},
      {" =x", ',', true, " =x"},
      {"'quoted", ',', true, "'quoted"},
      {"", ',', true, ""},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.in);
    CHECK(escape_cell(c.in, c.delimiter, c.guard) == c.out);
  }
}

TEST_CASE("escape_cell leaves formulas alone when the guard is off") {
  CHECK(escape_cell("=SUM(A1)", ',', false) == "=SUM(A1)");
  CHECK(escape_cell("-5", ',', false) == "-5");
  CHECK(escape_cell("@cmd", ',', false) == "@cmd");
  CHECK(escape_cell("\rx", ',', false) == "\"\rx\"");
  CHECK(escape_cell("=a,b", ',', false) == "\"=a,b\"");
}

TEST_CASE("UTF-8 encodings pass valid text through unchanged") {
  for (auto enc : {Encoding::utf8, Encoding::utf8_bom}) {
    auto r = encode_text("Zażółć 🙏 مرحبا", enc, UnencodablePolicy::reject);
    REQUIRE(r.ok);
    CHECK(r.bytes == "Zażółć 🙏 مرحبا");
    CHECK(r.unencodable.empty());
  }
}

TEST_CASE("invalid UTF-8 is refused in every encoding") {
  const std::vector<std::string> bad = {
      "\xC3\x28",          // bad continuation
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong 3-byte
      "\xED\xA0\x80",      // UTF-16 surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "ok\xE2\x82",        // truncated
      "\xFF",
  };
  for (const auto& s : bad) {
    for (auto enc : {Encoding::utf8, Encoding::utf8_bom, Encoding::windows_1252}) {
      auto r = encode_text(s, enc, UnencodablePolicy::transliterate);
      CHECK_FALSE(r.ok);
      CHECK(r.unencodable.empty());
      CHECK(r.error == "invalid UTF-8");
    }
  }
}

TEST_CASE("Windows-1252 encodes the characters it has exactly") {
  auto r = cp1252("é £ € ’ ü ß Œ");
  REQUIRE(r.ok);
  CHECK(r.bytes == "\xE9 \xA3 \x80 \x92 \xFC \xDF \x8C");
  CHECK(r.unencodable.empty());
  // Decomposed é (e + combining acute) is normalised and still encoded exactly.
  auto nfd = cp1252("e\xCC\x81");
  REQUIRE(nfd.ok);
  CHECK(nfd.bytes == "\xE9");
  CHECK(nfd.unencodable.empty());
  // Exact characters are never transliterated, even under reject.
  CHECK(cp1252("café £5", UnencodablePolicy::reject).bytes == "caf\xE9 \xA3" "5");
}

TEST_CASE("Windows-1252 transliterates letters and marks what is left, never '?'") {
  auto polish = cp1252("Łódź ł");
  REQUIRE(polish.ok);
  CHECK(polish.bytes == "L\xF3" "dz l");  // ó exists in Windows-1252 and stays exact
  CHECK(polish.unencodable == std::vector<char32_t>{U'Ł', U'ź', U'ł'});

  auto arabic = cp1252("مرحبا");
  REQUIRE(arabic.ok);
  CHECK(arabic.bytes == "mrhba");
  CHECK(arabic.unencodable.size() == 5);

  auto chinese = cp1252("北京");
  REQUIRE(chinese.ok);
  CHECK(chinese.bytes == "bei jing");

  auto emoji = cp1252("thanks 🙏!");
  REQUIRE(emoji.ok);
  CHECK(emoji.bytes == "thanks [U+1F64F]!");
  CHECK(emoji.unencodable == std::vector<char32_t>{U'\U0001F64F'});

  auto mixed = cp1252("Zażółć gęślą jaźń 北京 🙏 Привет");
  REQUIRE(mixed.ok);
  CHECK(mixed.bytes.find('?') == std::string::npos);
  CHECK(mixed.bytes == "Zaz\xF3lc gesla jazn bei jing [U+1F64F] Privet");
}

TEST_CASE("Windows-1252 reject policy reports code points, not text") {
  auto r = cp1252("Zażółć 🙏", UnencodablePolicy::reject);
  CHECK_FALSE(r.ok);
  CHECK(r.bytes.empty());
  CHECK(r.unencodable == std::vector<char32_t>{U'ż', U'ł', U'ć', U'\U0001F64F'});
  CHECK(r.error.find("[U+017C]") != std::string::npos);
  CHECK(r.error.find("[U+1F64F]") != std::string::npos);
  CHECK(r.error.find("Za") == std::string::npos);
}

TEST_CASE("code point markers are visible and zero-padded") {
  CHECK(code_point_marker(U'\U0001F64F') == "[U+1F64F]");
  CHECK(code_point_marker(U'\u200B') == "[U+200B]");
  CHECK(code_point_marker(U'\x41') == "[U+0041]");
}
