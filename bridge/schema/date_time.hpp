#pragma once
// Strict RFC 3339 date-time check (JSON Schema "format": "date-time").
#include <string_view>

namespace reportbridge::schema {

enum class DateTimeCheck {
  ok,
  malformed,     // not YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  no_offset,     // a local time without Z or an offset
  out_of_range,  // well formed but not a real date or time (month 13, 25:00, 30 February)
};

// Accepts `T`/`t` and `Z`/`z` as RFC 3339 allows; a leap second (:60) only
// where it falls at 23:59:60 UTC.
DateTimeCheck check_date_time(std::string_view text);

}  // namespace reportbridge::schema
