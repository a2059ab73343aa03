#include <catch2/catch.hpp>

#include "bridge/core/diagnostics.hpp"

using namespace reportbridge::core;

TEST_CASE("diagnostics print like a compiler, sorted by position") {
  Diagnostics d;
  d.error("b.yaml", 3, 7, "second", "x.two");
  d.error("a.yaml", 10, 2, "first", "x.one");
  d.warning("b.yaml", 1, 1, "early", "x.three");
  CHECK(d.has_errors());
  CHECK(d.to_string() ==
        "a.yaml:10:2: error: first [x.one]\n"
        "b.yaml:1:1: warning: early [x.three]\n"
        "b.yaml:3:7: error: second [x.two]\n");
}

TEST_CASE("closest_match suggests near misses only") {
  std::vector<std::string> words{"uppercase", "lowercase", "trim"};
  CHECK(closest_match("uppercse", words) == "uppercase");
  CHECK(closest_match("trm", words) == "trim");
  CHECK(closest_match("banana", words).empty());
}
