#include "bridge/mapping/functions/text.hpp"

#include <unicode/brkiter.h>
#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/ucasemap.h>
#include <unicode/utext.h>

#include <memory>
#include <mutex>
#include <stdexcept>

#include "bridge/mapping/functions/utf8.hpp"

namespace reportbridge::mapping::functions {
namespace {

constexpr const char* kInvalidUtf8 = "text.invalid_utf8";

struct CaseMapCloser {
  void operator()(UCaseMap* m) const { ucasemap_close(m); }
};

// One case map per thread: a UCaseMap caches its title-case break iterator
// and is not safe for concurrent use.
UCaseMap* case_map() {
  thread_local std::unique_ptr<UCaseMap, CaseMapCloser> map = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<UCaseMap, CaseMapCloser> m(ucasemap_open("en_GB", 0, &status));
    if (U_FAILURE(status)) throw std::runtime_error("ICU ucasemap_open failed");
    return m;
  }();
  return map.get();
}

using CaseFn = int32_t (*)(const UCaseMap*, char*, int32_t, const char*, int32_t, UErrorCode*);

int32_t to_title(const UCaseMap* m, char* dest, int32_t cap, const char* src, int32_t len,
                 UErrorCode* status) {
  // ucasemap_utf8ToTitle takes a non-const map (it caches the break iterator).
  return ucasemap_utf8ToTitle(const_cast<UCaseMap*>(m), dest, cap, src, len, status);
}

// ASCII text maps to ASCII under en-GB rules (no special casing applies).
Result ascii_case(std::string_view text, bool to_upper) {
  std::string out(text);
  for (char& c : out) {
    if (to_upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) c = static_cast<char>(c ^ 0x20);
  }
  return Result::of(std::move(out));
}

Result map_case(std::string_view text, CaseFn fn) {
  if (!detail::valid_utf8(text)) return Result::fail(kInvalidUtf8);
  if (text.empty()) return Result::of({});
  std::string out(text.size() + 16, '\0');
  const auto len = static_cast<int32_t>(text.size());
  UErrorCode status = U_ZERO_ERROR;
  int32_t n = fn(case_map(), out.data(), static_cast<int32_t>(out.size()), text.data(), len, &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    out.assign(static_cast<std::size_t>(n), '\0');
    status = U_ZERO_ERROR;
    n = fn(case_map(), out.data(), n, text.data(), len, &status);
  }
  if (U_FAILURE(status) && status != U_STRING_NOT_TERMINATED_WARNING) {
    return Result::fail(kInvalidUtf8);
  }
  out.resize(static_cast<std::size_t>(n));
  return Result::of(std::move(out));
}

// Byte range of `text` without leading and trailing white space.
std::string_view trimmed(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t w = detail::whitespace_at(text, begin);
    if (w == 0) break;
    begin += w;
  }
  std::size_t end = text.size();
  while (end > begin) {
    std::size_t w = detail::whitespace_before(text, end);
    if (w == 0) break;
    end -= w;
  }
  return text.substr(begin, end - begin);
}

}  // namespace

Result trim(std::string_view text) {
  if (!detail::valid_utf8(text)) return Result::fail(kInvalidUtf8);
  return Result::of(std::string(trimmed(text)));
}

Result collapse_whitespace(std::string_view text) {
  if (!detail::valid_utf8(text)) return Result::fail(kInvalidUtf8);
  std::string_view t = trimmed(text);
  std::string out;
  out.reserve(t.size());
  // Copies each run of non-space text whole; t starts and ends with non-space.
  std::size_t run = 0;
  for (std::size_t i = 0; i < t.size();) {
    std::size_t w = detail::whitespace_at(t, i);
    if (w == 0) {
      ++i;
      while (i < t.size() && (static_cast<unsigned char>(t[i]) & 0xC0) == 0x80) ++i;
      continue;
    }
    out.append(t.data() + run, i - run);
    out.push_back(' ');
    i += w;
    while (i < t.size() && (w = detail::whitespace_at(t, i)) > 0) i += w;
    run = i;
  }
  out.append(t.data() + run, t.size() - run);
  return Result::of(std::move(out));
}

Result upper(std::string_view text) {
  if (detail::is_ascii(text)) return ascii_case(text, true);
  return map_case(text, &ucasemap_utf8ToUpper);
}
Result lower(std::string_view text) {
  if (detail::is_ascii(text)) return ascii_case(text, false);
  return map_case(text, &ucasemap_utf8ToLower);
}
Result title(std::string_view text) { return map_case(text, &to_title); }

Result normalise_nfc(std::string_view text) {
  // ASCII and text already in NFC (the common cases) come back unchanged.
  if (detail::is_ascii(text)) return Result::of(std::string(text));
  if (!detail::valid_utf8(text)) return Result::fail(kInvalidUtf8);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw std::runtime_error("ICU NFC normaliser unavailable");
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (nfc->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return Result::of(std::string(text));
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) return Result::fail(kInvalidUtf8);
  return Result::of(std::move(out));
}

// --- Truncate -------------------------------------------------------------------

struct Truncate::Impl {
  std::size_t max_chars = 0;
  std::string ellipsis;
  std::size_t ellipsis_chars = 0;
  std::mutex mutex;
  std::unique_ptr<icu::BreakIterator> graphemes;
  const icu::UnicodeString empty;  // what the iterator points at between calls
};

Truncate::Truncate(std::size_t max_chars, std::string ellipsis) : impl_(std::make_unique<Impl>()) {
  if (max_chars == 0) throw std::invalid_argument("truncate: max_chars must be at least 1");
  if (!detail::valid_utf8(ellipsis)) throw std::invalid_argument("truncate: ellipsis is not valid UTF-8");
  impl_->ellipsis_chars = detail::count_code_points(ellipsis);
  if (impl_->ellipsis_chars >= max_chars) {
    throw std::invalid_argument("truncate: the ellipsis must be shorter than max_chars");
  }
  impl_->max_chars = max_chars;
  impl_->ellipsis = std::move(ellipsis);
  UErrorCode status = U_ZERO_ERROR;
  impl_->graphemes.reset(icu::BreakIterator::createCharacterInstance(icu::Locale::getUK(), status));
  if (U_FAILURE(status) || !impl_->graphemes) {
    throw std::runtime_error("truncate: ICU character break iterator unavailable");
  }
}

Truncate::~Truncate() = default;
Truncate::Truncate(Truncate&&) noexcept = default;
Truncate& Truncate::operator=(Truncate&&) noexcept = default;

Result Truncate::operator()(std::string_view text) const {
  if (!detail::valid_utf8(text)) return Result::fail(kInvalidUtf8);
  const Impl& im = *impl_;
  if (detail::count_code_points(text) <= im.max_chars) return Result::of(std::string(text));

  const std::size_t budget = im.max_chars - im.ellipsis_chars;
  std::size_t keep = 0;  // bytes of whole grapheme clusters that fit
  {
    std::lock_guard lock(impl_->mutex);
    UErrorCode status = U_ZERO_ERROR;
    UText* ut = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &status);
    if (U_FAILURE(status)) return Result::fail(kInvalidUtf8);
    icu::BreakIterator& it = *impl_->graphemes;
    it.setText(ut, status);
    std::size_t used = 0;
    int32_t prev = it.first();
    for (int32_t b = it.next(); b != icu::BreakIterator::DONE && U_SUCCESS(status); b = it.next()) {
      // With UTF-8 UText the iterator's boundaries are byte offsets.
      auto cluster = text.substr(static_cast<std::size_t>(prev), static_cast<std::size_t>(b - prev));
      used += detail::count_code_points(cluster);
      if (used > budget) break;
      keep = static_cast<std::size_t>(b);
      prev = b;
    }
    // Detach the iterator from the caller's text before returning.
    it.setText(impl_->empty);
    utext_close(ut);
    if (U_FAILURE(status)) return Result::fail(kInvalidUtf8);
  }
  std::string_view kept = text.substr(0, keep);
  if (!im.ellipsis.empty()) {
    std::string_view t = trimmed(kept);
    // trimmed() also drops leading white space: keep that, drop only the tail.
    kept = text.substr(0, static_cast<std::size_t>(t.data() - text.data()) + t.size());
    if (t.empty()) kept = {};
  }
  std::string out(kept);
  out += im.ellipsis;
  return Result::of(std::move(out));
}

}  // namespace reportbridge::mapping::functions
