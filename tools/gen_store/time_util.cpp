#include "tools/gen_store/time_util.hpp"

#include <cstdio>

namespace reportbridge::gen {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// 01:00 UTC on the last Sunday of `month`.
std::int64_t last_sunday_0100(int year, int month) {
  const std::int64_t last = days_from_civil(year, static_cast<unsigned>(month), 31);
  const std::int64_t weekday = ((last % 7) + 11) % 7;  // 0 = Sunday (1970-01-01 was a Thursday)
  return (last - weekday) * 86400 + 3600;
}

void append_digits(std::string& out, int value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

void append_local(std::string& out, std::int64_t t) {
  const CivilTime c = civil_from_unix(t);
  append_digits(out, c.year, 4);
  out += '-';
  append_digits(out, c.month, 2);
  out += '-';
  append_digits(out, c.day, 2);
  out += 'T';
  append_digits(out, c.hour, 2);
  out += ':';
  append_digits(out, c.minute, 2);
  out += ':';
  append_digits(out, c.second, 2);
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& value) {
  if (pos + n > s.size()) return false;
  value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    value = value * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

CivilTime civil_from_unix(std::int64_t t) {
  const std::int64_t days = floor_div(t, 86400);
  const auto secs = static_cast<int>(t - days * 86400);
  CivilTime c{};
  civil_from_days(days, c.year, c.month, c.day);
  c.hour = secs / 3600;
  c.minute = secs / 60 % 60;
  c.second = secs % 60;
  return c;
}

std::int64_t unix_from_civil(int year, int month, int day, int hour, int minute, int second) {
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second;
}

int london_offset(std::int64_t t) {
  const int year = civil_from_unix(t).year;
  return (t >= last_sunday_0100(year, 3) && t < last_sunday_0100(year, 10)) ? 3600 : 0;
}

int london_hour(std::int64_t t) { return civil_from_unix(t + london_offset(t)).hour; }

void append_utc(std::string& out, std::int64_t t) {
  append_local(out, t);
  out += 'Z';
}

std::string format_utc(std::int64_t t) {
  std::string s;
  append_utc(s, t);
  return s;
}

void append_london(std::string& out, std::int64_t t) {
  const int off = london_offset(t);
  append_local(out, t + off);
  out += off ? "+01:00" : "+00:00";
}

std::string format_london(std::int64_t t) {
  std::string s;
  append_london(s, t);
  return s;
}

std::string utc_day_path(std::int64_t t) {
  const CivilTime c = civil_from_unix(t);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d", c.year % 10000, c.month, c.day);
  return buf;
}

std::string utc_stamp(std::int64_t t) {
  const CivilTime c = civil_from_unix(t);
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d_%02d%02d%02d", c.year % 10000, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t first = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == first) return std::nullopt;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return unix_from_civil(y, mo, d, h, mi, se) - offset;
}

}  // namespace reportbridge::gen
