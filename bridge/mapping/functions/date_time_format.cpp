#include "bridge/mapping/functions/date_time_format.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace reportbridge::mapping::functions {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const date::time_zone* zone(const std::string& name, const char* what) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string("datetime: unknown ") + what + " '" + name +
                                "' (an IANA name such as Europe/London or UTC)");
  }
}

void check_output_format(const std::string& fmt) {
  static constexpr std::string_view kAllowed = "YmdHMSFTRDejybBaAIpuwVGgUWzZnt%";
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') continue;
    if (i + 1 >= fmt.size()) throw std::invalid_argument("datetime: output format ends with '%'");
    char c = fmt[++i];
    if ((c == 'E' || c == 'O') && i + 1 < fmt.size() && fmt[i + 1] == 'z') {
      ++i;
      continue;
    }
    if (kAllowed.find(c) == std::string_view::npos) {
      throw std::invalid_argument(std::string("datetime: unsupported conversion '%") + c +
                                  "' in output format");
    }
  }
}

// Fixed-width decimal field; false when not all digits.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Strict RFC 3339 date-time -> UTC instant (seconds).
std::optional<date::sys_seconds> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  std::size_t i = 19;
  if (s[i] == '.') {
    std::size_t j = i + 1;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i + 1) return std::nullopt;
    i = j;
  }
  minutes offset{0};
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = hours{oh} + minutes{om};
    if (s[i] == '-') offset = -offset;
    i += 6;
  } else {
    return std::nullopt;  // no offset: not RFC 3339
  }
  if (i != s.size()) return std::nullopt;
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  if (sec == 60) sec = 59;
  return date::sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} - offset;
}

}  // namespace

DateTimeFormat::DateTimeFormat(DateTimeOptions options) : options_(std::move(options)) {
  if (options_.input_format.empty()) throw std::invalid_argument("datetime: input format is empty");
  rfc3339_ = options_.input_format == "rfc3339";
  check_output_format(options_.output_format);
  to_zone_ = zone(options_.to_zone, "time zone");
  input_zone_ = zone(options_.input_zone, "input time zone");
}

Result DateTimeFormat::operator()(std::string_view text) const {
  date::sys_seconds instant;
  if (rfc3339_) {
    auto t = parse_rfc3339(text);
    if (!t) return Result::fail("datetime.invalid");
    instant = *t;
  } else {
    std::istringstream in{std::string(text)};
    date::local_seconds local;
    minutes offset = minutes::min();  // stays min() unless the format has %z
    date::from_stream(in, options_.input_format.c_str(), local,
                      static_cast<std::string*>(nullptr), &offset);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return Result::fail("datetime.invalid");
    if (offset != minutes::min()) {
      instant = date::sys_seconds{local.time_since_epoch()} - offset;
    } else {
      const date::local_info info = input_zone_->get_info(local);
      if (info.result == date::local_info::nonexistent) return Result::fail("datetime.nonexistent");
      if (info.result == date::local_info::ambiguous) {
        if (options_.ambiguous == AmbiguousTime::error) return Result::fail("datetime.ambiguous");
        const auto& which = options_.ambiguous == AmbiguousTime::earliest ? info.first : info.second;
        instant = date::sys_seconds{local.time_since_epoch()} - which.offset;
      } else {
        instant = date::sys_seconds{local.time_since_epoch()} - info.first.offset;
      }
    }
  }
  date::zoned_time<seconds> zt(to_zone_, instant);
  return Result::of(date::format(options_.output_format, zt));
}

}  // namespace reportbridge::mapping::functions
