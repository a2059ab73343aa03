#include <catch2/catch.hpp>
#include <unicode/ucnv.h>
#include <unicode/utf16.h>

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

std::string utf8_of(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// ICU's own exact (no fallback) Windows-1252 byte for one code point, or -1.
int icu_cp1252_byte(UConverter* conv, char32_t cp) {
  UChar units[2];
  int32_t length = 0;
  UBool error = false;
  U16_APPEND(units, length, 2, static_cast<UChar32>(cp), error);
  if (error) return -1;
  char bytes[8];
  UErrorCode status = U_ZERO_ERROR;
  ucnv_resetFromUnicode(conv);
  const int32_t n = ucnv_fromUChars(conv, bytes, sizeof bytes, units, length, &status);
  if (U_FAILURE(status) || n != 1) return -1;
  return static_cast<unsigned char>(bytes[0]);
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

// Issue #15 item 4: a resident who types U+000B, U+001B or U+0000 must not get
// raw control bytes into a CSV cell (importers choke on them, terminals act on
// them). TAB, LF and CR are text layout and stay; the rest become markers.
TEST_CASE("control characters become visible markers in every encoding, TAB, LF and CR stay") {
  using namespace std::string_literals;
  for (auto enc : {Encoding::utf8, Encoding::utf8_bom, Encoding::windows_1252}) {
    INFO(static_cast<int>(enc));
    auto r = encode_text("a\x0b" "b\x1b[2Jc\0d\x7f" "e\x01"s, enc, UnencodablePolicy::reject);
    REQUIRE(r.ok);
    CHECK(r.bytes == "a[U+000B]b[U+001B][2Jc[U+0000]d[U+007F]e[U+0001]");
    CHECK(r.controls == 5);
    CHECK(r.unencodable.empty());
    r = encode_text("line 1\r\nline 2\tend", enc, UnencodablePolicy::reject);
    REQUIRE(r.ok);
    CHECK(r.bytes == "line 1\r\nline 2\tend");
    CHECK(r.controls == 0);
  }
  // C1 controls (8-bit CSI U+009B, NEL U+0085) in UTF-8 output too.
  auto r = encode_text("x\xc2\x9b" "31my\xc2\x85z caf\xc3\xa9", Encoding::utf8, UnencodablePolicy::reject);
  REQUIRE(r.ok);
  CHECK(r.bytes == "x[U+009B]31my[U+0085]z caf\xc3\xa9");
  CHECK(r.controls == 2);
  // Mixed with other text in Windows-1252: exact characters, then markers.
  r = cp1252("\xc3\xa9\x0b\xe2\x82\xac");
  REQUIRE(r.ok);
  CHECK(r.bytes == "\xE9[U+000B]\x80");
  // Controls inside invalid UTF-8 are still refused as invalid.
  r = encode_text("\x0b\xff", Encoding::utf8, UnencodablePolicy::reject);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "invalid UTF-8");
}

// encode_text takes a table path (no ICU) for text made only of characters
// Windows-1252 has; it must give exactly ICU's bytes, and leave every other
// character (C1 controls, combining marks, letters it lacks) to the ICU path.
TEST_CASE("Windows-1252 table path agrees with ICU on every BMP code point") {
  UErrorCode status = U_ZERO_ERROR;
  UConverter* conv = ucnv_open("windows-1252", &status);
  REQUIRE(U_SUCCESS(status));
  ucnv_setFromUCallBack(conv, UCNV_FROM_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &status);
  ucnv_setFallback(conv, false);
  std::size_t exact = 0;
  for (char32_t cp = 0xA0; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const int icu = icu_cp1252_byte(conv, cp);
    if (icu < 0) continue;
    ++exact;
    // Between other encodable text, in the reject policy: any slip of the
    // table would either change the byte or refuse the text.
    const auto r = encode_text("a" + utf8_of(cp) + "\xC3\xA9", Encoding::windows_1252, UnencodablePolicy::reject);
    INFO("U+" << std::hex << static_cast<unsigned>(cp));
    REQUIRE(r.ok);
    REQUIRE(r.bytes == std::string("a") + static_cast<char>(icu) + "\xE9");
    // Beside a letter the code page lacks (U+0142), the whole text takes the
    // ICU path (NFC, then a byte per code point, transliterating the rest):
    // the same byte again.
    const auto slow = encode_text("a" + utf8_of(cp) + "\xC5\x82", Encoding::windows_1252,
                                  UnencodablePolicy::transliterate);
    REQUIRE(slow.ok);
    REQUIRE(slow.bytes == std::string("a") + static_cast<char>(icu) + "l");
    REQUIRE(slow.unencodable.size() == 1);
  }
  // Letters the code page lacks (and NFC leaves as they are) get no byte on
  // the ICU path: refused under the reject policy.
  for (char32_t cp : {U'\u0100', U'\u0394', U'\u0142', U'\u20AD', U'\u2116', U'\u4E00'}) {
    CHECK(icu_cp1252_byte(conv, cp) < 0);
    const auto r = encode_text("\xC3\xA9" + utf8_of(cp), Encoding::windows_1252, UnencodablePolicy::reject);
    INFO("U+" << std::hex << static_cast<unsigned>(cp));
    CHECK_FALSE(r.ok);
    CHECK(r.unencodable == std::vector<char32_t>{cp});
  }
  CHECK(exact == 96 + 27);  // U+00A0-U+00FF and the 27 of 0x80-0x9F
  ucnv_close(conv);
}

TEST_CASE("Windows-1252: text the table cannot take whole still goes through normalisation and transliteration") {
  // A table character followed by a combining mark composes under NFC.
  CHECK(cp1252("\xE2\x80\x9C" "A\xCC\x8A" "\xE2\x80\x9D").bytes == "\x93\xC5\x94");
  // A letter the code page lacks, among table characters: transliterated, counted.
  auto r = cp1252("\xE2\x82\xAC" "5 \xC5\x82" "\xC3\xB3" "d\xC5\xBA");
  REQUIRE(r.ok);
  CHECK(r.bytes == "\x80" "5 l\xF3" "dz");
  CHECK(r.unencodable.size() == 2);
  // A C1 control is marked, never taken by the table as a byte.
  auto c1 = cp1252("x\xC2\x85y");
  REQUIRE(c1.ok);
  CHECK(c1.bytes == "x[U+0085]y");
  CHECK(c1.controls == 1);
}

TEST_CASE("append_escaped_cell appends exactly what escape_cell returns") {
  const std::vector<std::string> values{"", "plain", "a,b", "say \"hi\"", "=SUM(A1)", "-1.5", "-2+3", "+44 7700",
                                        "@x,y", "\tlead", "line\nbreak", "\r", "'quoted'"};
  for (const auto& v : values)
    for (char delimiter : {',', ';', '\t', '|'})
      for (bool guard : {true, false}) {
        std::string out = "prefix|";
        append_escaped_cell(out, v, delimiter, guard);
        CHECK(out == "prefix|" + escape_cell(v, delimiter, guard));
      }
}

TEST_CASE("is_plain_ascii is true exactly where encode_text changes nothing") {
  CHECK(is_plain_ascii(""));
  CHECK(is_plain_ascii("plain text, with\ttab\r\nand line ends"));
  CHECK_FALSE(is_plain_ascii("caf\xC3\xA9"));
  CHECK_FALSE(is_plain_ascii(std::string("nul\0", 4)));
  CHECK_FALSE(is_plain_ascii("bell\x07"));
  CHECK_FALSE(is_plain_ascii("del\x7F"));
  // It reads eight bytes at a time: every byte value at every place of texts
  // of 1 to 24 bytes, against the plain definition.
  auto plain = [](unsigned char c) { return (c >= 0x20 && c < 0x7F) || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t checked = 0;
  for (std::size_t length = 1; length <= 24; ++length)
    for (std::size_t at = 0; at < length; ++at)
      for (int c = 0; c < 256; ++c) {
        std::string s(length, 'x');
        s[at] = static_cast<char>(c);
        if (is_plain_ascii(s) != plain(static_cast<unsigned char>(c))) {
          INFO("length " << length << ", byte " << c << " at " << at);
          CHECK(is_plain_ascii(s) == plain(static_cast<unsigned char>(c)));
        }
        ++checked;
      }
  CHECK(checked == 300 * 256);
  CHECK_FALSE(is_plain_ascii("0123456789abcdef\xFF"));
  CHECK(is_plain_ascii("\t\t\t\t\t\t\t\t~~~~~~~~"));
  for (int c = 0; c < 0x80; ++c) {
    const std::string s(1, static_cast<char>(c));
    if (!is_plain_ascii(s)) continue;
    for (auto enc : {Encoding::utf8, Encoding::utf8_bom, Encoding::windows_1252}) {
      const auto r = encode_text(s, enc, UnencodablePolicy::reject);
      CHECK(r.ok);
      CHECK(r.bytes == s);
      CHECK(r.controls == 0);
    }
  }
}

// Transliterated runs are remembered per thread (bounded); a remembered run
// must give the same bytes and the same count of replaced characters as the
// first time, also after the memory was filled and forgotten.
TEST_CASE("Windows-1252: a transliterated run gives the same result the second time and after many others") {
  const std::string word = "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82";  // Привет
  const auto first = cp1252(word);
  REQUIRE(first.ok);
  CHECK(first.bytes == "Privet");
  CHECK(first.unencodable.size() == 6);
  const auto twice = cp1252("x " + word + " y " + word);
  REQUIRE(twice.ok);
  CHECK(twice.bytes == "x Privet y Privet");
  CHECK(twice.unencodable.size() == 12);
  // Thousands of distinct runs (Cyrillic letter pairs and triples) fill the memory past its bound.
  std::size_t encoded = 0;
  for (char32_t a = 0x430; a < 0x450; ++a)
    for (char32_t b = 0x430; b < 0x450; ++b)
      for (char32_t c = 0x430; c < 0x436; ++c) {
        const auto r = cp1252(utf8_of(a) + utf8_of(b) + utf8_of(c));
        REQUIRE(r.ok);
        CHECK(r.unencodable.size() == 3);
        ++encoded;
      }
  CHECK(encoded > 1024);
  const auto again = cp1252(word);
  CHECK(again.bytes == first.bytes);
  CHECK(again.unencodable == first.unencodable);
}
