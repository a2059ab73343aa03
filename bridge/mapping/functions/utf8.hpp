#pragma once
// Internal UTF-8 helpers shared by the function implementations.
#include <cstddef>
#include <string_view>

namespace reportbridge::mapping::functions::detail {

// True when `text` is well-formed UTF-8 (no surrogates, no overlongs) and
// short enough for ICU's int32_t lengths.
bool valid_utf8(std::string_view text);
// Byte offset of the first malformed sequence, or std::string_view::npos.
std::size_t first_invalid_utf8(std::string_view text);

// True when every byte is ASCII (then the text is valid UTF-8 and already NFC).
bool is_ascii(std::string_view text);

// Number of code points in well-formed UTF-8.
std::size_t count_code_points(std::string_view text);

// Unicode White_Space (U+0020, U+00A0, U+2003, U+3000, ...) at byte offset
// `i`: returns the encoded length, or 0 when the code point there is not
// white space. `text` must be well-formed.
std::size_t whitespace_at_decoded(std::string_view text, std::size_t i);
inline std::size_t whitespace_at(std::string_view text, std::size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  // ASCII White_Space is exactly U+0009..U+000D and U+0020.
  if (b < 0x80) return (b == ' ' || (b >= 0x09 && b <= 0x0D)) ? 1 : 0;
  return whitespace_at_decoded(text, i);
}
// The same for the code point that ends at byte offset `end` (0 when there is
// none or it is not white space). `text` must be well-formed.
std::size_t whitespace_before(std::string_view text, std::size_t end);

}  // namespace reportbridge::mapping::functions::detail
