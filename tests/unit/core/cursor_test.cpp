#include <catch2/catch.hpp>

#include "bridge/core/cursor.hpp"

using namespace reportbridge::core;
using namespace std::chrono_literals;

TEST_CASE("in-order rows move the high-water mark without gaps") {
  SourceCursor c;
  auto r = advance_cursor(c, {1, 2, 3}, 1000, 10min);
  CHECK(c.high_water == 3);
  CHECK(c.gaps.empty());
  CHECK(r.late_rows == 0);
}

TEST_CASE("a jump opens a gap that late rows fill, splitting it") {
  SourceCursor c;
  advance_cursor(c, {1, 2, 7}, 1000, 10min);
  REQUIRE(c.gaps.size() == 1);
  CHECK(c.gaps[0].first == 3);
  CHECK(c.gaps[0].last == 6);
  auto r = advance_cursor(c, {5}, 2000, 10min);
  CHECK(r.late_rows == 1);
  REQUIRE(c.gaps.size() == 2);
  CHECK(c.gaps[0].first == 3);
  CHECK(c.gaps[0].last == 4);
  CHECK(c.gaps[1].first == 6);
  CHECK(c.gaps[1].last == 6);
  CHECK(c.gaps[1].opened_at_ms == 1000);  // keeps the original age
  advance_cursor(c, {3, 4, 6, 8}, 3000, 10min);
  CHECK(c.gaps.empty());
  CHECK(c.high_water == 8);
}

TEST_CASE("rows already seen do not count as late or reopen gaps") {
  SourceCursor c;
  advance_cursor(c, {1, 2, 3}, 0, 10min);
  auto r = advance_cursor(c, {2, 3}, 0, 10min);
  CHECK(r.late_rows == 0);
  CHECK(c.gaps.empty());
  CHECK(c.high_water == 3);
}

TEST_CASE("gaps older than the late-row window expire and are reported") {
  SourceCursor c;
  advance_cursor(c, {10}, 0, 1min);
  REQUIRE(c.gaps.size() == 1);
  auto r = advance_cursor(c, {11}, 30'000, 1min);
  CHECK(r.expired.empty());
  r = advance_cursor(c, {12}, 61'000, 1min);
  REQUIRE(r.expired.size() == 1);
  CHECK(r.expired[0].first == 1);
  CHECK(r.expired[0].last == 9);
  CHECK(c.gaps.empty());
}
