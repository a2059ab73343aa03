#include "adapters/sinks/csv_drop/csv_format.hpp"

#include <unicode/normalizer2.h>
#include <unicode/translit.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>


namespace reportbridge::csv_drop {

bool is_plain_number(std::string_view v) {
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  }
  return digits > 0 && i == v.size();
}

void append_escaped_cell(std::string& out, std::string_view value, char delimiter, bool formula_guard) {
  bool guard = false;
  if (formula_guard && !value.empty()) {
    switch (value.front()) {
      case '=': case '+': case '-': case '@': case '\t': case '\r':
        guard = !is_plain_number(value);
        break;
      default:
        break;
    }
  }
  // A plain loop: find_first_of calls memchr over the four specials once per
  // byte of the value (6.5 % of a delivery thread's CPU, docs/performance.md
  // change 14).
  bool special = false;
  for (const char c : value) {
    if (c == delimiter || c == '"' || c == '\r' || c == '\n') {
      special = true;
      break;
    }
  }
  if (!special) {
    if (guard) out.push_back('\'');
    out.append(value);
    return;
  }
  out.push_back('"');
  if (guard) out.push_back('\'');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string escape_cell(std::string_view value, char delimiter, bool formula_guard) {
  std::string cell;
  cell.reserve(value.size() + 3);
  append_escaped_cell(cell, value, delimiter, formula_guard);
  return cell;
}

bool is_plain_ascii(std::string_view s) {
  // Eight bytes at a time while they are all 0x20-0x7E (most text): a byte
  // below 0x20 or above 0x7E sets its high bit in `low | high`. A word with
  // one (a tab, a line break, anything else) is checked byte by byte below.
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const std::uint64_t low = (w - 0x20 * ones) & ~w;  // high bit where a byte < 0x20
    const std::uint64_t high = (w + ones) | w;         // high bit where a byte >= 0x7F
    if (((low | high) & highs) != 0) break;
  }
  for (char ch : s.substr(i)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) return false;
  }
  return true;
}

std::string code_point_marker(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "[U+%04X]", static_cast<unsigned>(cp));
  return buf;
}

namespace {

bool is_marked_control_byte(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F; }

// Any byte of a control that mark_controls replaces (C1: U+0080-U+009F is C2 80..9F).
bool has_controls(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (is_marked_control_byte(c)) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F &&
        static_cast<unsigned char>(s[i + 1]) >= 0x80)
      return true;
  }
  return false;
}

}  // namespace

std::string mark_controls(std::string_view s, std::size_t& count) {
  std::string out;
  out.reserve(s.size() + 16);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (is_marked_control_byte(c)) {
      out += code_point_marker(c);
      ++count;
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += code_point_marker(static_cast<unsigned char>(s[i + 1]));
      ++count;
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

namespace {

// Well-formed UTF-8 per RFC 3629 (no overlongs, surrogates or values above U+10FFFF).
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  auto cont = [](unsigned char c) { return (c & 0xC0) == 0x80; };
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i)
      if (!cont(p[i])) return false;
    p += n + 1;
  }
  return true;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

[[noreturn]] void icu_failure(const char* what, UErrorCode status) {
  throw std::runtime_error(std::string("ICU ") + what + ": " + u_errorName(status));
}

// The Windows-1252 byte of the 27 characters it has outside Latin-1 (0x80-0x9F).
int cp1252_special(char32_t cp) {
  switch (cp) {
    case 0x20AC: return 0x80;
    case 0x201A: return 0x82;
    case 0x0192: return 0x83;
    case 0x201E: return 0x84;
    case 0x2026: return 0x85;
    case 0x2020: return 0x86;
    case 0x2021: return 0x87;
    case 0x02C6: return 0x88;
    case 0x2030: return 0x89;
    case 0x0160: return 0x8A;
    case 0x2039: return 0x8B;
    case 0x0152: return 0x8C;
    case 0x017D: return 0x8E;
    case 0x2018: return 0x91;
    case 0x2019: return 0x92;
    case 0x201C: return 0x93;
    case 0x201D: return 0x94;
    case 0x2022: return 0x95;
    case 0x2013: return 0x96;
    case 0x2014: return 0x97;
    case 0x02DC: return 0x98;
    case 0x2122: return 0x99;
    case 0x0161: return 0x9A;
    case 0x203A: return 0x9B;
    case 0x0153: return 0x9C;
    case 0x017E: return 0x9E;
    case 0x0178: return 0x9F;
    default: return -1;
  }
}

// The Windows-1252 byte of `cp`, or -1 when the code page has no exact mapping:
// ASCII, U+00A0-U+00FF and the 27 above. C1 controls (U+0080-U+009F) never get
// here (mark_controls replaces them first) and are refused. ICU's converter
// (no fallbacks) maps exactly these: csv_format_test compares the two over
// every BMP code point, on both paths of encode_text.
int cp1252_byte(char32_t cp) {
  if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF)) return static_cast<int>(cp);
  return cp1252_special(cp);
}

// Per-thread ICU objects (a transliterator is not thread-safe).
class Cp1252Encoder {
 public:
  Cp1252Encoder() {
    UErrorCode status = U_ZERO_ERROR;
    nfc_ = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status)) icu_failure("NFC normaliser", status);
  }

  icu::UnicodeString normalize(const icu::UnicodeString& text) {
    UErrorCode status = U_ZERO_ERROR;
    icu::UnicodeString out = nfc_->normalize(text, status);
    if (U_FAILURE(status)) icu_failure("NFC normalisation", status);
    return out;
  }

  icu::Transliterator& transliterator() {
    if (!transliterator_) {
      UErrorCode status = U_ZERO_ERROR;
      transliterator_.reset(icu::Transliterator::createInstance(
          icu::UnicodeString::fromUTF8("Any-Latin; Latin-ASCII"), UTRANS_FORWARD, status));
      if (U_FAILURE(status) || !transliterator_)
        icu_failure("Transliterator(Any-Latin; Latin-ASCII)", status);
    }
    return *transliterator_;
  }

  // Transliterated runs already seen on this thread (append_transliterated).
  std::unordered_map<std::u16string, std::string>& runs() { return runs_; }

 private:
  std::unordered_map<std::u16string, std::string> runs_;
  std::unique_ptr<icu::Transliterator> transliterator_;
  const icu::Normalizer2* nfc_ = nullptr;
};

Cp1252Encoder& cp1252() {
  thread_local Cp1252Encoder encoder;
  return encoder;
}

template <typename F>
void for_each_code_point(const icu::UnicodeString& s, F&& f) {
  for (int32_t i = 0; i < s.length();) {
    const UChar32 c = s.char32At(i);
    i += U16_LENGTH(c);
    f(c);
  }
}

// Transliterates a run of unencodable characters; whatever is still
// unencodable afterwards becomes a visible marker. A run is transliterated on
// its own, so its bytes depend on the run alone: short runs (words, mostly)
// are remembered per thread, since the same words come back row after row and
// ICU's transliteration was the larger part of Windows-1252 rendering
// (docs/performance.md, change 7). Bounded: at most kCachedRuns runs of at
// most kCachedRunUnits UTF-16 units, forgotten all at once when full.
constexpr std::size_t kCachedRuns = 1024;  // ~130 KiB per thread at most
constexpr int32_t kCachedRunUnits = 48;

void append_transliterated(Cp1252Encoder& enc, const icu::UnicodeString& run, std::string& out) {
  std::u16string key;
  if (run.length() <= kCachedRunUnits) {
    key.assign(run.getBuffer(), static_cast<std::size_t>(run.length()));
    if (auto it = enc.runs().find(key); it != enc.runs().end()) {
      out += it->second;
      return;
    }
  }
  icu::UnicodeString latin(run);
  enc.transliterator().transliterate(latin);
  if (latin.isEmpty()) latin = run;  // nothing came out: mark the originals instead
  std::string bytes;
  for_each_code_point(latin, [&](UChar32 c) {
    if (const int b = cp1252_byte(static_cast<char32_t>(c)); b >= 0)
      bytes.push_back(static_cast<char>(b));
    else
      bytes += code_point_marker(static_cast<char32_t>(c));
  });
  out += bytes;
  if (!key.empty()) {
    if (enc.runs().size() >= kCachedRuns) enc.runs().clear();
    enc.runs().emplace(std::move(key), std::move(bytes));
  }
}

// Text made only of characters Windows-1252 has (ASCII, U+00A0-U+00FF and
// the 27 above), encoded by table without ICU. Such text is already NFC
// (none of these characters is a combining mark, none is changed by NFC, and
// no two of them compose), so the result is byte for byte what the ICU path
// gives; csv_format_test compares the two over every BMP code point. False,
// with `out` unspecified, at the first other character (the ICU path then
// normalises, transliterates or refuses). `utf8` is valid UTF-8.
bool encode_cp1252_by_table(std::string_view utf8, std::string& out) {
  out.clear();
  out.reserve(utf8.size());
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const auto* end = p + utf8.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++p;
      continue;
    }
    char32_t cp = 0;
    if (c < 0xE0) {
      cp = (static_cast<char32_t>(c & 0x1F) << 6) | (p[1] & 0x3F);
      p += 2;
    } else if (c < 0xF0) {
      cp = (static_cast<char32_t>(c & 0x0F) << 12) | (static_cast<char32_t>(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      p += 3;
    } else {
      return false;  // outside the BMP: never in Windows-1252
    }
    const int b = cp1252_byte(cp);  // (cp >= 0x80 here: C1 controls get -1)
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
  }
  return true;
}

EncodeResult encode_windows_1252(std::string_view utf8, UnencodablePolicy policy) {
  EncodeResult fast;
  if (encode_cp1252_by_table(utf8, fast.bytes)) {
    fast.ok = true;
    return fast;
  }
  Cp1252Encoder& enc = cp1252();
  const icu::UnicodeString text = enc.normalize(
      icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size()))));
  EncodeResult r;
  r.bytes.reserve(utf8.size());
  icu::UnicodeString run;
  auto flush = [&] {
    if (run.isEmpty()) return;
    if (policy == UnencodablePolicy::transliterate) append_transliterated(enc, run, r.bytes);
    run.remove();
  };
  for_each_code_point(text, [&](UChar32 c) {
    if (const int b = cp1252_byte(static_cast<char32_t>(c)); b >= 0) {
      flush();
      r.bytes.push_back(static_cast<char>(b));
    } else {
      r.unencodable.push_back(static_cast<char32_t>(c));
      run.append(c);
    }
  });
  flush();
  if (policy == UnencodablePolicy::reject && !r.unencodable.empty()) {
    r.bytes.clear();
    r.error = "windows-1252 cannot encode";
    for (std::size_t i = 0; i < r.unencodable.size() && i < 5; ++i)
      r.error += " " + code_point_marker(r.unencodable[i]);
    if (r.unencodable.size() > 5) r.error += " ...";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace

EncodeResult encode_text(std::string_view utf8, Encoding encoding, UnencodablePolicy policy) {
  EncodeResult r;
  if (utf8.size() > static_cast<std::size_t>(INT32_MAX)) {
    r.error = "text too long";
    return r;
  }
  if (has_controls(utf8)) {
    if (!valid_utf8(utf8)) {
      r.error = "invalid UTF-8";
      return r;
    }
    std::size_t controls = 0;
    const std::string marked = mark_controls(utf8, controls);
    r = encode_text(marked, encoding, policy);
    r.controls = controls;
    return r;
  }
  if (is_ascii(utf8)) {  // identical in every supported encoding
    r.bytes.assign(utf8);
    r.ok = true;
    return r;
  }
  if (!valid_utf8(utf8)) {
    r.error = "invalid UTF-8";
    return r;
  }
  if (encoding == Encoding::windows_1252) return encode_windows_1252(utf8, policy);
  r.bytes.assign(utf8);
  r.ok = true;
  return r;
}

}  // namespace reportbridge::csv_drop
