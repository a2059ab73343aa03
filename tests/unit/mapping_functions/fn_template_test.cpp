#include "bridge/mapping/functions/template.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

namespace {

Template::Lookup from(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("template renders placeholders, literals and escaped braces") {
  auto lookup = from({{"summary", "Broken window"},
                      {"category", "criminal_damage"},
                      {"location.postcode", "TS1 3QY"},
                      {"empty", ""}});
  struct Case {
    std::string tpl, out;
  };
  const std::vector<Case> cases = {
      {"{summary} ({category})", "Broken window (criminal_damage)"},
      {"{summary}", "Broken window"},
      {"no placeholders", "no placeholders"},
      {"", ""},
      {"{{literal}} {summary}", "{literal} Broken window"},
      {"}}{{", "}{"},
      {"{{{summary}}}", "{Broken window}"},
      {"at {location.postcode}", "at TS1 3QY"},
      {"[{empty}]", "[]"},
      {"\xC2\xA3{summary}\xE2\x80\xA6", "\xC2\xA3" "Broken window\xE2\x80\xA6"},
      {"{summary}{summary}", "Broken windowBroken window"},
  };
  for (const auto& c : cases) {
    INFO(c.tpl);
    Result r = Template(c.tpl).render(lookup);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
}

TEST_CASE("template lists its placeholders once, in order") {
  Template t("{b} {a} {b} {{c}}");
  CHECK(t.placeholders() == std::vector<std::string>{"b", "a"});
}

TEST_CASE("a missing placeholder renders empty or fails, as configured") {
  auto lookup = from({{"summary", "Graffiti"}});
  Template strict("{summary} ({category})");
  Result r = strict.render(lookup);
  CHECK_FALSE(r.ok());
  CHECK(r.error == "template.missing_value");
  Template lenient("{summary} ({category})", MissingPlaceholder::empty);
  CHECK(*lenient.render(lookup).value == "Graffiti ()");
  CHECK(strict.render(nullptr).error == "template.missing_value");
}

TEST_CASE("template syntax errors name the column") {
  struct Case {
    std::string tpl;
    std::size_t column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{summary", 1, "never closed"},
      {"abc {summary", 5, "never closed"},
      {"abc } def", 5, "without '{'"},
      {"{summary}}", 10, "without '{'"},
      {"x {}", 3, "empty placeholder"},
      {"{sum mary}", 5, "placeholder names"},
      {"{1abc}", 2, "placeholder names"},
      {"{a{b}", 3, "placeholder names"},
      {"\xC2\xA3\xC2\xA3 {", 4, "never closed"},  // columns count characters, not bytes
      {"ab\xFF{x}", 3, "malformed UTF-8"},
  };
  for (const auto& c : cases) {
    INFO(c.tpl);
    try {
      Template t(c.tpl);
      FAIL("no exception");
    } catch (const TemplateSyntaxError& e) {
      CHECK(e.column() == c.column);
      CHECK_THAT(e.what(), Catch::Contains(c.message) &&
                               Catch::Contains("column " + std::to_string(c.column) + ":"));
    }
  }
  // It is a std::invalid_argument like every other construction error.
  CHECK_THROWS_AS(Template("{"), std::invalid_argument);
}
