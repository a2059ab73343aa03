#include "bridge/mapping/functions/date_time_format.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

namespace {

struct Case {
  std::string in, out;
};

void check_cases(const DateTimeFormat& f, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    INFO("input: " << c.in);
    Result r = f(c.in);
    INFO("error: " << r.error);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
}

}  // namespace

TEST_CASE("UTC instants become UK civil time across both 2026 clock changes") {
  DateTimeFormat f({.output_format = "%d/%m/%Y %H:%M:%S %Z", .to_zone = "Europe/London"});
  check_cases(f, {
                     // BST starts 2026-03-29 01:00 UTC: 01:00 GMT jumps to 02:00 BST.
                     {"2026-03-29T00:59:59Z", "29/03/2026 00:59:59 GMT"},
                     {"2026-03-29T01:00:00Z", "29/03/2026 02:00:00 BST"},
                     {"2026-03-28T12:00:00Z", "28/03/2026 12:00:00 GMT"},
                     {"2026-03-30T12:00:00Z", "30/03/2026 13:00:00 BST"},
                     // BST ends 2026-10-25 01:00 UTC: 02:00 BST falls back to 01:00 GMT.
                     {"2026-10-25T00:59:59Z", "25/10/2026 01:59:59 BST"},
                     {"2026-10-25T01:00:00Z", "25/10/2026 01:00:00 GMT"},
                     {"2026-10-25T00:30:00Z", "25/10/2026 01:30:00 BST"},  // the same wall-clock
                     {"2026-10-25T01:30:00Z", "25/10/2026 01:30:00 GMT"},  // time, twice
                     // Offsets, fractions, lower-case separators, the day rolling over.
                     {"2026-07-01T12:00:00+01:00", "01/07/2026 12:00:00 BST"},
                     {"2026-12-01T12:00:00+01:00", "01/12/2026 11:00:00 GMT"},
                     {"2026-12-31T23:30:00-05:00", "01/01/2027 04:30:00 GMT"},
                     {"2026-06-15t08:15:30.987654z", "15/06/2026 09:15:30 BST"},
                     {"2026-06-15 08:15:30Z", "15/06/2026 09:15:30 BST"},
                     {"2026-12-31T23:59:60Z", "31/12/2026 23:59:59 GMT"},  // leap second read as :59
                     {"2028-02-29T10:00:00Z", "29/02/2028 10:00:00 GMT"},
                 });
}

TEST_CASE("output formats and zones") {
  check_cases(DateTimeFormat({.output_format = "%d/%m/%Y %H:%M"}), {{"2026-03-29T01:00:00Z", "29/03/2026 02:00"}});
  check_cases(DateTimeFormat({}), {{"2026-07-01T11:00:00Z", "2026-07-01T12:00:00+01:00"},
                                   {"2026-01-01T11:00:00Z", "2026-01-01T11:00:00+00:00"}});
  check_cases(DateTimeFormat({.output_format = "%a %e %b %Y, %I:%M %p (%z)"}),
              {{"2026-10-25T00:59:00Z", "Sun 25 Oct 2026, 01:59 AM (+0100)"}});
  check_cases(DateTimeFormat({.output_format = "%FT%TZ", .to_zone = "UTC"}),
              {{"2026-07-01T12:00:00+01:00", "2026-07-01T11:00:00Z"}});
  check_cases(DateTimeFormat({.output_format = "%Y%m%d%H%M 100%%", .to_zone = "Europe/Paris"}),
              {{"2026-07-01T12:00:00Z", "202607011400 100%"}});
}

TEST_CASE("local input times: ambiguous and skipped wall-clock times") {
  DateTimeOptions o{.input_format = "%d/%m/%Y %H:%M",
                    .output_format = "%FT%TZ",
                    .to_zone = "UTC",
                    .input_zone = "Europe/London"};
  check_cases(DateTimeFormat(o), {
                                     {"01/07/2026 12:00", "2026-07-01T11:00:00Z"},
                                     {"01/12/2026 12:00", "2026-12-01T12:00:00Z"},
                                     // 01:30 on 25 October 2026 happens twice: first in BST.
                                     {"25/10/2026 01:30", "2026-10-25T00:30:00Z"},
                                     {"25/10/2026 02:30", "2026-10-25T02:30:00Z"},
                                 });
  o.ambiguous = AmbiguousTime::latest;
  check_cases(DateTimeFormat(o), {{"25/10/2026 01:30", "2026-10-25T01:30:00Z"}});
  o.ambiguous = AmbiguousTime::error;
  DateTimeFormat strict(o);
  CHECK(strict("25/10/2026 01:30").error == "datetime.ambiguous");
  CHECK(*strict("25/10/2026 00:59").value == "2026-10-24T23:59:00Z");
  // 01:30 on 29 March 2026 never happens in London.
  CHECK(strict("29/03/2026 01:30").error == "datetime.nonexistent");
  CHECK(*strict("29/03/2026 02:00").value == "2026-03-29T01:00:00Z");
}

TEST_CASE("a custom input format with an offset ignores the input zone") {
  DateTimeFormat f({.input_format = "%d/%m/%Y %H:%M %z", .output_format = "%H:%M", .to_zone = "Europe/London"});
  check_cases(f, {{"01/12/2026 12:00 +0100", "11:00"}, {"25/10/2026 01:30 +0000", "01:30"}});
  CHECK(f("01/12/2026 12:00").error == "datetime.invalid");
}

TEST_CASE("inputs that are not a date-time fail with datetime.invalid") {
  DateTimeFormat rfc({});
  for (const char* bad : {"", "garbage", "2026-03-29", "2026-03-29T01:00:00",  // no offset
                          "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
                          "2026-03-29T24:00:00Z", "2026-03-29T12:60:00Z", "2026-03-29T12:00:61Z",
                          "2026-03-29T12:00:00+24:00", "2026-03-29T12:00:00+01", "2026-03-29T12:00:00.Z",
                          "2026-03-29T12:00:00Z ", " 2026-03-29T12:00:00Z", "2026/03/29T12:00:00Z",
                          "29/03/2026 12:00", "2026-03-29T12:00:00+01:00x", "\xFF\xFE"}) {
    INFO("input: " << bad);
    Result r = rfc(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.error == "datetime.invalid");
  }
  DateTimeFormat custom({.input_format = "%d/%m/%Y %H:%M", .input_zone = "Europe/London"});
  for (const char* bad : {"", "31/02/2026 10:00", "01/07/2026", "01/07/2026 10:00 extra", "yesterday"}) {
    INFO("input: " << bad);
    CHECK(custom(bad).error == "datetime.invalid");
  }
}

TEST_CASE("construction refuses unknown zones and unsupported output conversions") {
  CHECK_THROWS_WITH(DateTimeFormat({.to_zone = "Europe/Middlesbrough"}),
                    Catch::Contains("unknown time zone 'Europe/Middlesbrough'"));
  CHECK_THROWS_WITH(DateTimeFormat({.input_zone = "BST"}), Catch::Contains("unknown input time zone"));
  CHECK_THROWS_WITH(DateTimeFormat({.output_format = "%d/%m/%Y %"}), Catch::Contains("ends with '%'"));
  CHECK_THROWS_WITH(DateTimeFormat({.output_format = "%Q"}), Catch::Contains("unsupported conversion '%Q'"));
  CHECK_THROWS_AS(DateTimeFormat({.output_format = "%c"}), std::invalid_argument);
  CHECK_THROWS_AS(DateTimeFormat({.input_format = ""}), std::invalid_argument);
}
