#include "bridge/mapping/functions/utf8.hpp"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

namespace reportbridge::mapping::functions::detail {

namespace {

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// Length of the leading all-ASCII run of s[0, n), scanning 8 bytes at a time.
std::size_t ascii_run(const unsigned char* s, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s + i, 8);
    if (w & kHighBits) break;
  }
  while (i < n && s[i] < 0x80) ++i;
  return i;
}

}  // namespace

std::size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(
      std::min<std::size_t>(text.size(), static_cast<std::size_t>(std::numeric_limits<int32_t>::max())));
  for (int32_t i = 0; i < n;) {
    // ASCII runs (the common case) need no decoding.
    i += static_cast<int32_t>(ascii_run(s + i, static_cast<std::size_t>(n - i)));
    if (i >= n) break;
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) return static_cast<std::size_t>(start);
  }
  return static_cast<std::size_t>(n) < text.size() ? static_cast<std::size_t>(n) : std::string_view::npos;
}

bool valid_utf8(std::string_view text) { return first_invalid_utf8(text) == std::string_view::npos; }

bool is_ascii(std::string_view text) {
  return ascii_run(reinterpret_cast<const unsigned char*>(text.data()), text.size()) == text.size();
}

std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++count;  // every byte that is not a continuation byte
  }
  return count;
}

std::size_t whitespace_at_decoded(std::string_view text, std::size_t i) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(text.size());
  auto j = static_cast<int32_t>(i);
  UChar32 c;
  U8_NEXT(s, j, n, c);
  if (c < 0 || !u_isUWhiteSpace(c)) return 0;
  return static_cast<std::size_t>(j) - i;
}

std::size_t whitespace_before(std::string_view text, std::size_t end) {
  if (end == 0) return 0;
  const auto b = static_cast<unsigned char>(text[end - 1]);
  if (b < 0x80) return (b == ' ' || (b >= 0x09 && b <= 0x0D)) ? 1 : 0;
  // Step back over continuation bytes to the start of the code point.
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  const std::size_t w = whitespace_at(text, start);
  return start + w == end ? w : 0;
}

}  // namespace reportbridge::mapping::functions::detail
