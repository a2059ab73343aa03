#pragma once
// Civil-time helpers for the generator: RFC 3339 in UTC and in Europe/London
// (GMT/BST by the EU rule: BST from 01:00 UTC on the last Sunday of March to
// 01:00 UTC on the last Sunday of October). Times are whole Unix seconds.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reportbridge::gen {

struct CivilTime {
  int year, month, day, hour, minute, second;
};

CivilTime civil_from_unix(std::int64_t t);
std::int64_t unix_from_civil(int year, int month, int day, int hour = 0, int minute = 0, int second = 0);

// 0 in GMT, 3600 in BST.
int london_offset(std::int64_t t);
int london_hour(std::int64_t t);

// "2026-11-27T12:00:00Z"
void append_utc(std::string& out, std::int64_t t);
std::string format_utc(std::int64_t t);
// "2026-06-01T19:00:00+01:00"
void append_london(std::string& out, std::int64_t t);
std::string format_london(std::int64_t t);
// "2026/11/27" (UTC date, for media paths)
std::string utc_day_path(std::int64_t t);
// "20261127_184210" (UTC, for camera-style file names)
std::string utc_stamp(std::int64_t t);

// Parses RFC 3339 ("2026-11-27T12:00:00Z", "...+01:00", fractional seconds
// allowed and dropped). Returns Unix seconds, or nothing when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace reportbridge::gen
