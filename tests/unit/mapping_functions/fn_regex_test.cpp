#include "bridge/mapping/functions/regex.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

TEST_CASE("regex_replace replaces every match, with group references") {
  struct Case {
    std::string pattern, replacement, in, out;
  };
  const std::vector<Case> cases = {
      {R"(\s+)", " ", "a  b\t\tc", "a b c"},
      {R"((\d{2})/(\d{2})/(\d{4}))", R"(\3-\2-\1)", "on 29/03/2026 and 25/10/2026",
       "on 2026-03-29 and 2026-10-25"},
      {"CLE-", "", "CLE-26-004211", "26-004211"},
      {"x", "y", "no match here", "no match here"},
      {"(?i)road", "Rd", "Park ROAD, Acklam Road", "Park Rd, Acklam Rd"},
      {".", "*", "caf\xC3\xA9", "****"},  // UTF-8: é is one character
      {R"(\\)", "/", R"(a\b)", "a/b"},
      {"a", R"(\\)", "banana", R"(b\n\n\)"},
      {"", "-", "ab", "-a-b-"},
  };
  for (const auto& c : cases) {
    INFO(c.pattern << " -> " << c.replacement << " on " << c.in);
    Result r = RegexReplace(c.pattern, c.replacement)(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
}

TEST_CASE("regex_replace refuses bad patterns and replacements at construction") {
  for (const char* bad : {"(", "[a-", "a{2,1}", "(?<name", "\\"}) {
    INFO(bad);
    CHECK_THROWS_AS(RegexReplace(bad, ""), std::invalid_argument);
  }
  CHECK_THROWS_WITH(RegexReplace("(", ""), Catch::Contains("invalid pattern") && Catch::Contains("missing )"));
  CHECK_THROWS_WITH(RegexReplace("(a)", R"(\2)"), Catch::Contains("invalid replacement"));
  // Backreferences need backtracking: RE2 refuses them.
  CHECK_THROWS_AS(RegexReplace(R"((a)\1)", ""), std::invalid_argument);
}

TEST_CASE("regex functions reject malformed UTF-8 input") {
  CHECK(RegexReplace("a", "b")("\xFF").error == "text.invalid_utf8");
  CHECK(RegexExtract("a")("\xFF").error == "text.invalid_utf8");
}

TEST_CASE("regex_extract returns the requested group of the first match") {
  struct Case {
    std::string pattern;
    int group;
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {R"(CLE-\d{2}-\d{6})", 0, "Ref: CLE-26-004211 (repeat CLE-26-000001)", "CLE-26-004211"},
      {R"(CLE-(\d{2})-(\d{6}))", 2, "Ref: CLE-26-004211", "004211"},
      {R"(^(\S+)@)", 1, "a.khan@example.org", "a.khan"},
      {R"((x)?y)", 0, "zzy", "y"},
      {R"(\d*)", 0, "abc", ""},  // an empty match is still a match
  };
  for (const auto& c : cases) {
    INFO(c.pattern << " group " << c.group << " on " << c.in);
    Result r = RegexExtract(c.pattern, c.group)(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
  RegexExtract named(R"(CLE-(?P<year>\d{2})-(?P<serial>\d{6}))", std::string("serial"));
  CHECK(*named("CLE-26-004211").value == "004211");
}

TEST_CASE("regex_extract failure paths") {
  CHECK(RegexExtract(R"(CLE-\d+)")("no reference").error == "regex.no_match");
  CHECK(RegexExtract(R"((x)?y)", 1)("zzy").error == "regex.group_unmatched");
  CHECK_THROWS_WITH(RegexExtract("(a)(b)", 3), Catch::Contains("group 3 does not exist"));
  CHECK_THROWS_AS(RegexExtract("a", -1), std::invalid_argument);
  CHECK_THROWS_WITH(RegexExtract("(?P<a>x)", std::string("b")), Catch::Contains("no group named 'b'"));
  CHECK_THROWS_AS(RegexExtract("(", 0), std::invalid_argument);
}

TEST_CASE("regex matching stays linear on a pattern that makes backtracking engines explode") {
  // (a+)+$ against "aaaa...!" is exponential with backtracking; RE2 is linear.
  const std::string input = std::string(100000, 'a') + "!";
  RegexExtract re("(a+)+$");
  auto t0 = std::chrono::steady_clock::now();
  CHECK(re(input).error == "regex.no_match");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed < std::chrono::seconds(2));
}
