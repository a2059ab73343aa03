#pragma once
// Text functions. Every function rejects malformed UTF-8 with
// "text.invalid_utf8". "White space" is Unicode White_Space: it includes
// U+00A0 NO-BREAK SPACE, U+2003 EM SPACE, U+3000 and line/paragraph separators.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

// Removes leading and trailing white space.
Result trim(std::string_view text);
// Trims, then replaces every run of white space inside with one U+0020.
Result collapse_whitespace(std::string_view text);

// Full Unicode case mapping with en-GB rules (ICU): "straße" -> "STRASSE".
Result upper(std::string_view text);
Result lower(std::string_view text);
// Each word (ICU word boundaries) gets an upper-case first letter and the
// rest in lower case: "PARK ROAD" -> "Park Road". ICU treats an apostrophe
// inside a word as part of it: "o'neill" -> "O'neill".
Result title(std::string_view text);

// Canonical composition (NFC): "e" + U+0301 -> U+00E9.
Result normalise_nfc(std::string_view text);

// Shortens text to at most `max_chars` code points without splitting a
// grapheme cluster (a flag, a family emoji, "e" + combining accent stay whole).
// When text is cut and `ellipsis` is not empty, trailing white space is
// dropped and the ellipsis appended; the ellipsis counts towards max_chars.
// Text that already fits is returned unchanged.
// Thread safety: calls on one object are serialised (ICU break iterators hold
// state); use one object per thread for parallel work.
class Truncate {
 public:
  // Throws std::invalid_argument when max_chars is 0, the ellipsis is not
  // valid UTF-8, or the ellipsis has max_chars code points or more.
  explicit Truncate(std::size_t max_chars, std::string ellipsis = {});
  ~Truncate();
  Truncate(Truncate&&) noexcept;
  Truncate& operator=(Truncate&&) noexcept;

  Result operator()(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::mapping::functions
