#include "bridge/mapping/functions/date_time_format.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
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

// Conversions the fast formatter writes itself (numbers, offset, abbreviation).
constexpr std::string_view kFastConversions = "YmdHMSFTRDejyuwzZ";

// The offset and abbreviation in force at an instant, remembered per thread:
// consecutive conversions (one submission's fields, the next submission) are
// almost always inside the same period, so the zone's rules are searched
// once per period, not once per value.
struct ZoneCache {
  const date::time_zone* zone = nullptr;
  date::sys_seconds begin, end;
  seconds offset{0};
  std::string abbrev;
};

const ZoneCache& zone_info(const date::time_zone* zone, date::sys_seconds instant) {
  thread_local ZoneCache cache;
  if (cache.zone != zone || instant < cache.begin || instant >= cache.end) {
    const date::sys_info info = zone->get_info(instant);
    cache.zone = zone;
    cache.begin = info.begin;
    cache.end = info.end;
    cache.offset = info.offset;
    cache.abbrev = info.abbrev;
  }
  return cache;
}

char* put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

char* put4(char* p, unsigned v) { return put2(put2(p, v / 100), v % 100); }

// Most characters the fast formatter writes for one conversion (%Z: the
// abbreviation's length, added at run time).
std::size_t max_width(char conversion) {
  switch (conversion) {
    case 'Y': return 4;
    case 'F': return 10;
    case 'T': case 'D': return 8;
    case 'R': return 5;
    case 'j': return 3;
    case 'u': case 'w': return 1;
    case 'z': return 7;  // sign, hours (a zone's offset is under 100 h), minutes
    case ':': return 8;
    case 'Z': return 0;
    default: return 2;
  }
}

}  // namespace

DateTimeFormat::DateTimeFormat(DateTimeOptions options) : options_(std::move(options)) {
  if (options_.input_format.empty()) throw std::invalid_argument("datetime: input format is empty");
  rfc3339_ = options_.input_format == "rfc3339";
  check_output_format(options_.output_format);
  to_zone_ = zone(options_.to_zone, "time zone");
  input_zone_ = zone(options_.input_zone, "input time zone");

  // Compile the output format (already checked) for the fast formatter.
  fast_ = true;
  const std::string& fmt = options_.output_format;
  auto literal = [&](char c) {
    if (pieces_.empty() || pieces_.back().conversion != 0) pieces_.push_back({});
    pieces_.back().literal.push_back(c);
  };
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      literal(fmt[i]);
      continue;
    }
    const char c = fmt[++i];
    if (c == 'E' || c == 'O') {  // check_output_format allows only %Ez / %Oz
      ++i;
      pieces_.push_back({':', {}});
    } else if (c == 'n') {
      literal('\n');
    } else if (c == 't') {
      literal('\t');
    } else if (c == '%') {
      literal('%');
    } else if (kFastConversions.find(c) != std::string_view::npos) {
      pieces_.push_back({c, {}});
    } else {
      fast_ = false;  // names, ISO weeks, 12-hour clock: date::format
    }
  }
  if (!fast_) pieces_.clear();
  for (const Piece& p : pieces_) {
    max_length_ += p.conversion ? max_width(p.conversion) : p.literal.size();
    if (p.conversion == 'Z') ++zone_names_;
  }
}

Result DateTimeFormat::operator()(std::string_view text) const { return convert(text, false); }

Result DateTimeFormat::reference(std::string_view text) const { return convert(text, true); }

// GCC 12 at -O3 reports a false -Wmaybe-uninitialized inside date.h's
// from_stream (its local `long double S` for %S, always set before use when
// the parse succeeds); silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
Result DateTimeFormat::convert(std::string_view text, bool use_reference) const {
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
  if (fast_ && !use_reference) {
    const ZoneCache& z = zone_info(to_zone_, instant);
    const date::local_seconds local{instant.time_since_epoch() + z.offset};
    const auto day = date::floor<date::days>(local);
    const date::year_month_day ymd{day};
    const int year = static_cast<int>(ymd.year());
    if (year >= 1000 && year <= 9999) {  // otherwise date::format's sign and padding rules
      const auto y = static_cast<unsigned>(year);
      const unsigned mo = static_cast<unsigned>(ymd.month()), d = static_cast<unsigned>(ymd.day());
      const auto secs = static_cast<unsigned>((local - day).count());
      const unsigned h = secs / 3600, mi = secs / 60 % 60, s = secs % 60;
      std::string out(max_length_ + zone_names_ * z.abbrev.size(), '\0');
      char* o = out.data();
      for (const Piece& p : pieces_) {
        switch (p.conversion) {
          case 0: o = std::copy(p.literal.begin(), p.literal.end(), o); break;
          case 'Y': o = put4(o, y); break;
          case 'y': o = put2(o, y % 100); break;
          case 'm': o = put2(o, mo); break;
          case 'd': o = put2(o, d); break;
          case 'e':
            *o++ = d < 10 ? ' ' : static_cast<char>('0' + d / 10);
            *o++ = static_cast<char>('0' + d % 10);
            break;
          case 'H': o = put2(o, h); break;
          case 'M': o = put2(o, mi); break;
          case 'S': o = put2(o, s); break;
          case 'F':
            o = put4(o, y), *o++ = '-', o = put2(o, mo), *o++ = '-', o = put2(o, d);
            break;
          case 'T':
            o = put2(o, h), *o++ = ':', o = put2(o, mi), *o++ = ':', o = put2(o, s);
            break;
          case 'R': o = put2(o, h), *o++ = ':', o = put2(o, mi); break;
          case 'D':
            o = put2(o, mo), *o++ = '/', o = put2(o, d), *o++ = '/', o = put2(o, y % 100);
            break;
          case 'j': {
            const auto doy = static_cast<unsigned>(
                (day - date::local_days{ymd.year() / date::January / 1}).count() + 1);
            *o++ = static_cast<char>('0' + doy / 100);
            o = put2(o, doy % 100);
            break;
          }
          case 'u':
          case 'w': {
            const unsigned wd = date::weekday{day}.c_encoding();  // Sunday 0
            *o++ = static_cast<char>('0' + (p.conversion == 'u' && wd == 0 ? 7 : wd));
            break;
          }
          case 'z':
          case ':': {
            // As date::format: the offset truncated to whole minutes.
            long m = static_cast<long>(z.offset.count() / 60);
            *o++ = m < 0 ? '-' : '+';
            if (m < 0) m = -m;
            const auto hh = static_cast<unsigned>(m / 60);
            if (hh >= 100) return Result::of(reference_format(instant));
            o = put2(o, hh);
            if (p.conversion == ':') *o++ = ':';
            o = put2(o, static_cast<unsigned>(m % 60));
            break;
          }
          case 'Z': o = std::copy(z.abbrev.begin(), z.abbrev.end(), o); break;
          default: break;
        }
      }
      out.resize(static_cast<std::size_t>(o - out.data()));
      return Result::of(std::move(out));
    }
  }
  return Result::of(reference_format(instant));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

std::string DateTimeFormat::reference_format(std::chrono::sys_seconds instant) const {
  date::zoned_time<seconds> zt(to_zone_, instant);
  return date::format(options_.output_format, zt);
}

}  // namespace reportbridge::mapping::functions
