#include <catch2/catch.hpp>

#include <string>

#include "bridge/schema/date_time.hpp"

using reportbridge::schema::check_date_time;
using reportbridge::schema::DateTimeCheck;

TEST_CASE("RFC 3339 date-times with an offset are accepted") {
  auto text = GENERATE(as<std::string>{}, "2026-11-27T18:42:10+00:00", "2026-07-01T09:05:00+01:00",
                       "2026-11-27T18:42:10Z", "2026-11-27t18:42:10z",
                       "2026-11-27T18:42:10.123456Z", "2026-11-27T18:42:10.5-05:30",
                       "2024-02-29T00:00:00Z", "2000-02-29T12:00:00+00:00",
                       "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00",
                       "1998-12-31T23:59:60Z", "1998-12-31T15:59:60-08:00");
  INFO(text);
  CHECK(check_date_time(text) == DateTimeCheck::ok);
}

TEST_CASE("date-times without an offset are told apart from malformed ones") {
  CHECK(check_date_time("2026-11-27T18:42:10") == DateTimeCheck::no_offset);
  CHECK(check_date_time("2026-11-27T18:42:10.250") == DateTimeCheck::no_offset);
}

TEST_CASE("malformed date-times are rejected") {
  auto text = GENERATE(as<std::string>{}, "", "2026-11-27", "2026-11-27 18:42:10Z",
                       "2026-11-27T18:42Z", "2026-11-27T18:42:10.Z", "2026-11-27T18:42:10+0100",
                       "2026-11-27T18:42:10+01", "2026-11-27T18:42:10+01:00 ",
                       "2026-11-27T18:42:10ZZ", "26-11-27T18:42:10Z", "2026/11/27T18:42:10Z",
                       "2026-11-27T18:42:1aZ", "2026-11-27T18:42:10 GMT", "１２３４-11-27T18:42:10Z",
                       "2026-11-27T18:42:10UTC");
  INFO(text);
  CHECK(check_date_time(text) == DateTimeCheck::malformed);
}

TEST_CASE("date-times outside the calendar are rejected as out of range") {
  auto text = GENERATE(as<std::string>{}, "2026-13-40T25:00:00Z", "2026-00-10T10:00:00Z",
                       "2026-01-00T10:00:00Z", "2026-04-31T10:00:00Z", "2023-02-29T10:00:00Z",
                       "2100-02-29T10:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
                       "2026-01-01T23:59:61Z", "2026-01-01T12:00:60Z", "2026-01-01T12:00:00+24:00",
                       "2026-01-01T12:00:00+01:60");
  INFO(text);
  CHECK(check_date_time(text) == DateTimeCheck::out_of_range);
}
