#include "bridge/mapping/functions/text.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace reportbridge::mapping::functions;

namespace {

const std::string kBad = "ab\xC3(";          // truncated 2-byte sequence
const std::string kSurrogate = "\xED\xA0\x80";  // U+D800 encoded: not UTF-8
const std::string kOverlong = "\xC0\xAF";       // overlong '/'

struct Case {
  std::string in;
  std::string out;
};

void check_all(Result (*fn)(std::string_view), const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    INFO("input: [" << c.in << "]");
    Result r = fn(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
  for (const std::string& bad : {kBad, kSurrogate, kOverlong}) {
    Result r = fn(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.error == "text.invalid_utf8");
  }
}

}  // namespace

TEST_CASE("trim removes Unicode white space at both ends only") {
  check_all(&trim, {
                       {"  Park Road  ", "Park Road"},
                       {"\t\n Park  Road\r\n", "Park  Road"},
                       {"\xC2\xA0Linthorpe\xE2\x80\x83", "Linthorpe"},  // NBSP, EM SPACE
                       {"\xE3\x80\x80\xE5\x8F\xB0\xE3\x80\x80", "\xE5\x8F\xB0"},  // ideographic space
                       {"", ""},
                       {"   ", ""},
                       {"caf\xC3\xA9 ", "caf\xC3\xA9"},
                       {"a", "a"},
                   });
}

TEST_CASE("collapse_whitespace trims and folds every run into one space") {
  check_all(&collapse_whitespace,
            {
                {"  Park \t\n Road  ", "Park Road"},
                {"Park\xC2\xA0\xC2\xA0Road", "Park Road"},
                {"a\xE2\x80\xA8" "b\xE2\x80\x89\xE2\x80\x89" "c", "a b c"},  // LS, THIN SPACE
                {"one", "one"},
                {"", ""},
                {" \xC2\xA0 ", ""},
                {"\xC3\xA9  \xC3\xA9", "\xC3\xA9 \xC3\xA9"},
            });
}

TEST_CASE("upper, lower and title case follow full Unicode mappings") {
  check_all(&upper, {{"park road", "PARK ROAD"},
                     {"stra\xC3\x9F" "e", "STRASSE"},  // ß grows into SS
                     {"caf\xC3\xA9", "CAF\xC3\x89"},
                     {"", ""}});
  check_all(&lower, {{"PARK ROAD", "park road"}, {"CAF\xC3\x89", "caf\xC3\xA9"}, {"\xCE\xA3", "\xCF\x83"}});
  check_all(&title, {{"PARK ROAD", "Park Road"},
                     {"linthorpe road, middlesbrough", "Linthorpe Road, Middlesbrough"},
                     {"o'neill", "O'neill"},
                     {"\xC3\xA9" "cole", "\xC3\x89" "cole"},
                     {"", ""}});
}

TEST_CASE("case mapping that outgrows the first buffer is retried with the right size") {
  std::string many;
  for (int i = 0; i < 40; ++i) many += "\xC3\x9F";  // 80 bytes of ß become 80 bytes of SS
  many += "\xEF\xAC\x83";  // U+FB03 ffi ligature: 3 bytes -> "FFI"
  Result r = upper(many);
  REQUIRE(r.ok());
  CHECK(*r.value == std::string(80, 'S') + "FFI");
}

TEST_CASE("normalise_nfc composes") {
  check_all(&normalise_nfc, {{"e\xCC\x81", "\xC3\xA9"},
                             {"\xC3\xA9", "\xC3\xA9"},
                             {"Zoe\xCC\x88 Caf\xC3\xA9", "Zo\xC3\xAB Caf\xC3\xA9"},
                             {"", ""}});
}

TEST_CASE("truncate counts code points and keeps grapheme clusters whole") {
  // man ZWJ woman ZWJ girl: 5 code points, one grapheme cluster
  const std::string family =
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
  const std::string flag = "\xF0\x9F\x87\xAC\xF0\x9F\x87\xA7";  // GB: 2 code points
  const std::string e_acute = "e\xCC\x81";                       // 2 code points
  struct T {
    std::size_t max;
    std::string ellipsis;
    std::string in;
    std::string out;
  };
  const std::vector<T> cases = {
      {5, "", "Hello", "Hello"},
      {4, "", "Hello", "Hell"},
      {7, "\xE2\x80\xA6", "Hello world", "Hello\xE2\x80\xA6"},          // trailing space dropped
      {7, "...", "Hello world", "Hell..."},
      {3, "", "ab" + e_acute, "ab"},                                    // é would be split
      {4, "", "ab" + e_acute + "c", "ab" + e_acute},
      {4, "", "a" + family, "a"},                                       // family needs 5
      {6, "", "a" + family + "b", "a" + family},
      {2, "", flag + "x", flag},
      {1, "", flag + "x", ""},                                          // half a flag is never emitted
      {3, "", "caf\xC3\xA9s", "caf"},
      {4, "", "caf\xC3\xA9s", "caf\xC3\xA9"},                           // counts code points, not bytes
      {2, "\xE2\x80\xA6", family, "\xE2\x80\xA6"},                      // nothing fits but the ellipsis
      {3, "", "", ""},
  };
  for (const auto& c : cases) {
    INFO("max " << c.max << " input [" << c.in << "]");
    Truncate t(c.max, c.ellipsis);
    Result r = t(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
  Truncate t(3);
  CHECK(t(kBad).error == "text.invalid_utf8");
}

TEST_CASE("truncate refuses impossible options at construction") {
  CHECK_THROWS_AS(Truncate(0), std::invalid_argument);
  CHECK_THROWS_AS(Truncate(3, "..."), std::invalid_argument);
  CHECK_THROWS_AS(Truncate(2, "..."), std::invalid_argument);
  CHECK_THROWS_AS(Truncate(5, kBad), std::invalid_argument);
  CHECK_NOTHROW(Truncate(4, "..."));
}

TEST_CASE("one truncate object can be shared between threads") {
  Truncate t(4, "\xE2\x80\xA6");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        Result r = t(k % 2 ? "Middlesbrough" : "caf\xC3\xA9 au lait");
        if (*r.value != (k % 2 ? "Mid\xE2\x80\xA6" : "caf\xE2\x80\xA6")) ++wrong[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == std::vector<int>(4, 0));
}
