// The fast paths give the answers of the general paths they bypass:
// text functions against plain ICU, the date/time formatter against
// date::format, the direct grid conversion against PROJ. Inputs are
// generated (fixed seeds), with non-ASCII text and clock-change instants.
#include <catch2/catch.hpp>

#include <unicode/normalizer2.h>
#include <unicode/bytestream.h>
#include <unicode/uchar.h>
#include <unicode/ucasemap.h>
#include <unicode/utf8.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bridge/mapping/functions/bng.hpp"
#include "bridge/mapping/functions/date_time_format.hpp"
#include "bridge/mapping/functions/text.hpp"

using namespace reportbridge::mapping::functions;

namespace {

// --- references: the straightforward ICU way ---------------------------------

bool valid(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    if (c < 0) return false;
  }
  return true;
}

struct CodePoint {
  std::size_t begin, end;
  UChar32 c;
};

std::vector<CodePoint> decode(const std::string& s) {
  std::vector<CodePoint> out;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    const int32_t b = i;
    UChar32 c;
    U8_NEXT(p, i, n, c);
    out.push_back({static_cast<std::size_t>(b), static_cast<std::size_t>(i), c});
  }
  return out;
}

Result ref_trim(const std::string& s) {
  if (!valid(s)) return Result::fail("text.invalid_utf8");
  auto cps = decode(s);
  std::size_t b = 0, e = cps.size();
  while (b < e && u_isUWhiteSpace(cps[b].c)) ++b;
  while (e > b && u_isUWhiteSpace(cps[e - 1].c)) --e;
  if (b == e) return Result::of("");
  return Result::of(s.substr(cps[b].begin, cps[e - 1].end - cps[b].begin));
}

Result ref_collapse(const std::string& s) {
  Result t = ref_trim(s);
  if (!t.ok()) return t;
  std::string out;
  bool space = false;
  for (const auto& cp : decode(*t.value)) {
    if (u_isUWhiteSpace(cp.c)) {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += t.value->substr(cp.begin, cp.end - cp.begin);
  }
  return Result::of(out);
}

Result ref_nfc(const std::string& s) {
  if (!valid(s)) return Result::fail("text.invalid_utf8");
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr, status);
  REQUIRE(U_SUCCESS(status));
  return Result::of(out);
}

Result ref_case(const std::string& s, bool to_upper) {
  if (!valid(s)) return Result::fail("text.invalid_utf8");
  UErrorCode status = U_ZERO_ERROR;
  UCaseMap* map = ucasemap_open("en_GB", 0, &status);
  std::string out(s.size() * 3 + 16, '\0');
  const auto fn = to_upper ? &ucasemap_utf8ToUpper : &ucasemap_utf8ToLower;
  const int32_t n = fn(map, out.data(), static_cast<int32_t>(out.size()), s.data(),
                       static_cast<int32_t>(s.size()), &status);
  ucasemap_close(map);
  REQUIRE(U_SUCCESS(status));
  out.resize(static_cast<std::size_t>(n));
  return Result::of(out);
}

std::string utf8(UChar32 c) {
  char buf[4];
  int32_t i = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), i, 4, c, error);
  REQUIRE_FALSE(error);
  return std::string(buf, static_cast<std::size_t>(i));
}

void same(const Result& fast, const Result& ref, const std::string& input) {
  INFO("input bytes: " << input.size() << " [" << input << "]");
  REQUIRE(fast.ok() == ref.ok());
  if (ref.ok())
    CHECK(*fast.value == *ref.value);
  else
    CHECK(fast.error == ref.error);
}

// Text built from pieces that exercise every path: ASCII runs longer than 8
// bytes, ASCII and Unicode white space, combining marks, text that NFC
// changes, case mappings that change length, emoji sequences, and (rarely)
// malformed bytes.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "Park Road", "a", "Z", "Linthorpe", "0123456789abcdefXYZ", " ", "  ", "\t", "\n", "\r\n", "\v\f",
      "\xC2\xA0",          // NO-BREAK SPACE
      "\xE2\x80\x83",      // EM SPACE
      "\xE3\x80\x80",      // IDEOGRAPHIC SPACE
      "\xE2\x80\xA8",      // LINE SEPARATOR
      "\xC2\x85",          // NEXT LINE
      "\xE1\xA0\x8E",      // MONGOLIAN VOWEL SEPARATOR (not White_Space)
      "\xE2\x80\x8B",      // ZERO WIDTH SPACE (not White_Space)
      "e\xCC\x81",         // e + COMBINING ACUTE (NFC composes)
      "\xC3\xA9",          // é
      "\xE2\x84\xAB",      // ANGSTROM SIGN (NFC: Å)
      "\xE1\x84\x80\xE1\x85\xA1",  // Hangul jamo (NFC composes)
      "\xC3\x9F",          // ß (upper: SS)
      "\xC4\xB0",          // İ (lower: i + combining dot)
      "\xCE\xA3\xCE\x9F\xCE\xA3",  // ΣΟΣ (final sigma when lowered)
      "\xEF\xAC\x81",      // ﬁ ligature
      "Bront\xC3\xAB",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",  // family emoji
      "\xF0\x9F\x87\xAC\xF0\x9F\x87\xA7",  // flag
      "\xD8\xA7\xD9\x84\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85",  // Arabic
  };
  static const std::vector<std::string> bad = {"\xC3(", "\xED\xA0\x80", "\xC0\xAF", "\xF0\x9F\x91", "\xFF"};
  std::string s;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  if (rng() % 40 == 0) s.insert(rng() % (s.size() + 1), bad[rng() % bad.size()]);
  return s;
}

}  // namespace

TEST_CASE("fast white space tests agree with ICU's White_Space for every code point") {
  std::size_t spaces = 0;
  for (UChar32 c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::string cp = utf8(c);
    const bool ws = u_isUWhiteSpace(c);
    spaces += ws;
    Result t = trim(cp);
    Result inner = collapse_whitespace("x" + cp + cp + "y");
    REQUIRE(t.ok());
    REQUIRE(inner.ok());
    if (ws != t.value->empty() || *inner.value != (ws ? std::string("x y") : "x" + cp + cp + "y")) {
      FAIL("code point U+" << std::hex << c);
    }
  }
  CHECK(spaces == 25);  // Unicode's White_Space set
}

TEST_CASE("trim, collapse_whitespace, normalise_nfc, uppercase and lowercase match ICU on generated text") {
  std::mt19937 rng(20261127);
  for (int i = 0; i < 30000; ++i) {
    const std::string s = random_text(rng);
    same(trim(s), ref_trim(s), s);
    same(collapse_whitespace(s), ref_collapse(s), s);
    same(normalise_nfc(s), ref_nfc(s), s);
    same(upper(s), ref_case(s, true), s);
    same(lower(s), ref_case(s, false), s);
  }
}

TEST_CASE("malformed UTF-8 anywhere in long ASCII text is still refused") {
  const std::string ascii = "The quick brown fox jumps over the lazy dog";
  for (const std::string bad : {"\xC3(", "\xED\xA0\x80", "\xC0\xAF", "\x80", "\xF4\x90\x80\x80"}) {
    for (std::size_t at = 0; at <= ascii.size(); ++at) {
      std::string s = ascii;
      s.insert(at, bad);
      for (auto fn : {&trim, &collapse_whitespace, &normalise_nfc, &upper, &lower}) {
        Result r = fn(s);
        INFO("at " << at);
        CHECK_FALSE(r.ok());
        CHECK(r.error == "text.invalid_utf8");
      }
    }
  }
}

TEST_CASE("text already in NFC comes back unchanged, text that is not is composed") {
  CHECK(*normalise_nfc("Bront\xC3\xAB").value == "Bront\xC3\xAB");
  CHECK(*normalise_nfc("Bronte\xCC\x88").value == "Bront\xC3\xAB");
  CHECK(*normalise_nfc("plain ASCII").value == "plain ASCII");
  CHECK(*upper("stra\xC3\x9F" "e").value == "STRASSE");
  CHECK(*lower("PARK Road 12").value == "park road 12");
}

// --- date/time --------------------------------------------------------------

namespace {

std::string rfc3339(std::int64_t t, int offset_minutes, int style) {
  const std::int64_t local = t + offset_minutes * 60;
  const auto days = static_cast<long>(std::floor(static_cast<double>(local) / 86400.0));
  const std::int64_t secs = local - static_cast<std::int64_t>(days) * 86400;
  // civil_from_days (Howard Hinnant's algorithm)
  long z = days + 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = static_cast<long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[80];
  const char sep = style % 3 == 0 ? 'T' : style % 3 == 1 ? 't' : ' ';
  int n = std::snprintf(buf, sizeof buf, "%04ld-%02u-%02u%c%02d:%02d:%02d", y, m, d, sep,
                        static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  std::string s(buf, static_cast<std::size_t>(n));
  if (style % 5 == 0) s += ".123456";
  if (offset_minutes == 0 && style % 2 == 0) {
    s += style % 4 == 0 ? "Z" : "z";
  } else {
    const int a = std::abs(offset_minutes);
    n = std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}

}  // namespace

TEST_CASE("the fast date/time formatter writes what date::format writes") {
  const std::vector<std::string> formats = {
      "%Y-%m-%dT%H:%M:%S",  // the RMS mapping
      "%Y-%m-%dT%H:%M:%S%Ez",
      "%d/%m/%Y %H:%M",
      "%F %T %z %Z",
      "%Y%m%d%H%M%S",
      "%y %e %j %u %w %R %D %Oz",
      "[%%] %n%t literal text %Z%Z",
  };
  const std::vector<std::string> zones = {"Europe/London", "UTC", "America/New_York", "Asia/Kolkata",
                                          "Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham",
                                          "Africa/Monrovia"};
  std::mt19937_64 rng(42);
  std::size_t checked = 0;
  for (const auto& zone : zones) {
    for (const auto& fmt : formats) {
      DateTimeFormat f({.input_format = "rfc3339", .output_format = fmt, .to_zone = zone});
      REQUIRE(f.fast_format());
      auto check = [&](const std::string& in) {
        Result a = f(in), b = f.reference(in);
        INFO(zone << " " << fmt << " " << in);
        REQUIRE(a.ok() == b.ok());
        if (a.ok()) CHECK(*a.value == *b.value);
        else CHECK(a.error == b.error);
        ++checked;
      };
      // Random instants 1800..2200 with random offsets (whole and odd minutes).
      for (int i = 0; i < 1500; ++i) {
        const std::int64_t t = -5364662400LL + static_cast<std::int64_t>(rng() % 12623040000ULL);
        const int offset = static_cast<int>(rng() % 1680) - 840;
        check(rfc3339(t, offset, static_cast<int>(rng() % 60)));
      }
    }
  }
  CHECK(checked > 80000);
}

TEST_CASE("UK clock changes: fast and general formatters agree on every second around each change") {
  // Last Sunday of March and October at 01:00 UTC, 1996..2040 (EU rules),
  // plus earlier British rules seen through the tz database.
  DateTimeFormat rms({.output_format = "%Y-%m-%dT%H:%M:%S"});
  DateTimeFormat full({.output_format = "%F %T %Ez %Z"});
  REQUIRE(rms.fast_format());
  std::size_t checked = 0;
  for (std::int64_t t = 0; t < 2208988800LL; t += 86400) {  // 1970..2040, one probe a day
    const std::string noon = rfc3339(t + 43200, 0, 0);
    Result a = full(noon), b = full.reference(noon);
    REQUIRE(a.ok());
    REQUIRE(*a.value == *b.value);
    // Around 01:00 UTC, where UK changes happen: every 15 minutes +-1 s.
    for (std::int64_t d : {3599, 3600, 3601, 7199, 7200, 7201}) {
      for (const auto* f : {&rms, &full}) {
        const std::string in = rfc3339(t + d, 0, 0);
        Result x = (*f)(in), y = f->reference(in);
        REQUIRE(x.ok());
        REQUIRE(*x.value == *y.value);
        ++checked;
      }
    }
  }
  CHECK(checked > 300000);
  // Known instants: BST starts 2026-03-29 01:00 UTC, ends 2026-10-25 01:00 UTC.
  CHECK(*rms("2026-03-29T00:59:59Z").value == "2026-03-29T00:59:59");
  CHECK(*rms("2026-03-29T01:00:00Z").value == "2026-03-29T02:00:00");
  CHECK(*full("2026-10-25T00:59:59Z").value == "2026-10-25 01:59:59 +01:00 BST");
  CHECK(*full("2026-10-25T01:00:00Z").value == "2026-10-25 01:00:00 +00:00 GMT");
}

TEST_CASE("formats and years the fast formatter leaves to date::format") {
  DateTimeFormat names({.output_format = "%A %d %B %Y"});
  CHECK_FALSE(names.fast_format());
  CHECK(*names("2026-11-27T12:00:00Z").value == "Friday 27 November 2026");
  DateTimeFormat f({.output_format = "%Y-%m-%d %H:%M %z", .to_zone = "Europe/London"});
  REQUIRE(f.fast_format());
  // Local years outside 1000..9999 and local mean time (offset in seconds).
  for (const char* in : {"0000-01-01T00:30:00+01:00", "0999-12-31T23:59:59Z", "1000-01-01T00:00:00Z",
                         "9999-12-31T23:30:00Z", "9999-12-31T23:59:59-01:00", "1800-06-01T12:00:00Z",
                         "1847-12-01T00:00:00Z"}) {
    INFO(in);
    Result a = f(in), b = f.reference(in);
    REQUIRE(a.ok() == b.ok());
    if (a.ok()) CHECK(*a.value == *b.value);
  }
  CHECK(*f("1800-06-01T12:00:00Z").value == "1800-06-01 11:58 -0001");  // LMT -0:01:15
  // Invalid input fails the same way on both paths.
  for (const char* in : {"2026-02-30T00:00:00Z", "2026-11-27T12:00:00", "2026-11-27T24:00:00Z", ""}) {
    CHECK(f(in).error == "datetime.invalid");
    CHECK(f.reference(in).error == "datetime.invalid");
  }
}

// --- British National Grid --------------------------------------------------

TEST_CASE("the direct grid conversion gives PROJ's rounded answers across Great Britain") {
  BngFromWgs84 bng;
  REQUIRE(bng.convert_with_proj(54.0, -2.0).ok());
  const bool helmert = bng.last_operation().find("OSGB36 to WGS 84 (6)") != std::string::npos;
  INFO("PROJ operation: " << bng.last_operation());
  // Debian 12: no OSTN15 grid, so PROJ uses the Helmert and the direct path is on.
  CHECK(bng.direct() == helmert);
  if (bng.direct()) {
    REQUIRE(bng.convert(54.0, -2.0).ok());
    CHECK(bng.last_operation().find("OSGB36 to WGS 84 (6)") != std::string::npos);
  }
  std::size_t compared = 0, ok = 0;
  auto compare = [&](double lat, double lon) {
    BngResult a = bng.convert(lat, lon), b = bng.convert_with_proj(lat, lon);
    ++compared;
    if (a.ok() != b.ok() || (a.ok() && (a.value->easting != b.value->easting ||
                                        a.value->northing != b.value->northing)) ||
        a.error != b.error) {
      FAIL_CHECK(lat << ", " << lon << ": direct " << (a.ok() ? a.value->easting : -1) << " "
                     << (a.ok() ? a.value->northing : -1) << " " << a.error << " PROJ "
                     << (b.ok() ? b.value->easting : -1) << " " << (b.ok() ? b.value->northing : -1) << " "
                     << b.error);
    }
    ok += a.ok();
  };
  // A grid over EPSG:27700's whole area and a little beyond (every ~1.5 km).
  for (double lat = 49.70; lat <= 61.06; lat += 0.0137)
    for (double lon = -9.06; lon <= 2.06; lon += 0.0231) compare(lat, lon);
  // Random points, and points on and next to the Helmert's area boundary.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> lat_d(49.75, 61.01), lon_d(-9.01, 2.01);
  for (int i = 0; i < 50000; ++i) compare(lat_d(rng), lon_d(rng));
  for (double lat : {49.79, 60.94, 49.7900001, 60.9399999})
    for (double lon = -9.0; lon <= 2.0; lon += 0.01) compare(lat, lon);
  for (double lon : {-8.82, 1.92, -8.8199999, 1.9199999})
    for (double lat = 49.8; lat <= 61.0; lat += 0.01) compare(lat, lon);
  CHECK(compared > 400000);
  CHECK(ok > 350000);
}
