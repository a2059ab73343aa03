#include "bridge/mapping/functions/utf8.hpp"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace reportbridge::mapping::functions::detail {

std::size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(
      std::min<std::size_t>(text.size(), static_cast<std::size_t>(std::numeric_limits<int32_t>::max())));
  for (int32_t i = 0; i < n;) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) return static_cast<std::size_t>(start);
  }
  return static_cast<std::size_t>(n) < text.size() ? static_cast<std::size_t>(n) : std::string_view::npos;
}

bool valid_utf8(std::string_view text) { return first_invalid_utf8(text) == std::string_view::npos; }

std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++count;  // every byte that is not a continuation byte
  }
  return count;
}

std::size_t whitespace_at(std::string_view text, std::size_t i) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(text.size());
  auto j = static_cast<int32_t>(i);
  UChar32 c;
  U8_NEXT(s, j, n, c);
  if (c < 0 || !u_isUWhiteSpace(c)) return 0;
  return static_cast<std::size_t>(j) - i;
}

}  // namespace reportbridge::mapping::functions::detail
