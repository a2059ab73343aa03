#pragma once
// Date/time conversion and formatting with the IANA time zone database
// (Howard Hinnant's date/tz as packaged by Debian, built with USE_OS_TZDB=1:
// it reads /usr/share/zoneinfo from the tzdata package, so zone rules follow
// the system's tzdata updates).
//
//   DateTimeFormat f({.output_format = "%d/%m/%Y %H:%M", .to_zone = "Europe/London"});
//   f("2026-03-29T01:30:00Z")  -> "29/03/2026 02:30"   (BST began at 01:00 UTC)
//
// Sub-second digits in the input are dropped (the instant is floored to the
// second); a leap second (:60) is read as :59.
// Output is written by a small formatter compiled from the output format when
// it only uses numeric conversions (%Y %m %d %H %M %S %F %T %R %D %e %j %y %u
// %w %z %Ez %Z %n %t %%) and the local year has four digits; otherwise by
// date::format. Both give the same text (tests compare them).
// Immutable after construction and safe to share between threads.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/mapping/functions/result.hpp"

namespace date {
class time_zone;
}

namespace reportbridge::mapping::functions {

// For inputs without an offset, a local time that occurs twice (the hour
// repeated when clocks go back) is read as:
enum class AmbiguousTime {
  earliest,  // the first occurrence (summer time)
  latest,    // the second occurrence (standard time)
  error,     // "datetime.ambiguous"
};

struct DateTimeOptions {
  // "rfc3339": YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM), offset
  // required. Anything else is a date::parse format ("%d/%m/%Y %H:%M"); when
  // it has no %z the text is a local time in `input_zone`.
  std::string input_format = "rfc3339";
  // strftime-like: %Y %m %d %H %M %S %F %T %R %D %e %j %y %b %B %a %A %I %p
  // %u %w %V %G %g %U %W %z %Ez %Z %n %t %% (English names). Others are refused.
  std::string output_format = "%Y-%m-%dT%H:%M:%S%Ez";
  std::string to_zone = "Europe/London";
  std::string input_zone = "UTC";
  AmbiguousTime ambiguous = AmbiguousTime::earliest;
};

class DateTimeFormat {
 public:
  // Throws std::invalid_argument: unknown zone, empty input format, output
  // format with an unsupported or dangling '%'.
  explicit DateTimeFormat(DateTimeOptions options);

  // Errors: "datetime.invalid" (doesn't match the input format or isn't a
  // real date/time), "datetime.nonexistent" (a local time skipped when clocks
  // go forward), "datetime.ambiguous" (see AmbiguousTime::error).
  Result operator()(std::string_view text) const;
  // The same conversion always formatted by date::format (the reference the
  // fast formatter is tested against).
  Result reference(std::string_view text) const;
  // True when the output format compiled to the fast formatter.
  bool fast_format() const { return fast_; }

 private:
  // One step of the compiled output format.
  struct Piece {
    char conversion = 0;  // 0: literal; 'Y', 'm', ... ; ':' for %Ez/%Oz
    std::string literal;
  };
  Result convert(std::string_view text, bool use_reference) const;
  std::string reference_format(std::chrono::sys_seconds instant) const;

  DateTimeOptions options_;
  std::vector<Piece> pieces_;
  bool fast_ = false;
  std::size_t max_length_ = 0;  // output length bound, without %Z
  std::size_t zone_names_ = 0;  // number of %Z
  bool rfc3339_ = true;
  const date::time_zone* to_zone_ = nullptr;
  const date::time_zone* input_zone_ = nullptr;
};

}  // namespace reportbridge::mapping::functions
