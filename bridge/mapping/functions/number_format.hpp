#pragma once
// Formats numeric text with a fixed number of decimals, rounding half away
// from zero on the decimal digits themselves (no binary floating point:
// "2.675" -> "2.68", "-0.125" with 2 decimals -> "-0.13").
//
// Input: optional surrounding ASCII spaces, optional sign, digits with an
// optional '.' fraction (".5" and "5." are accepted), optional exponent
// ("1.5e3"). Thousands separators in the input are refused: "1,234" is
// ambiguous between locales. A result that rounds to zero has no minus sign.
// Immutable and thread-safe.
#include <string>
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

class NumberFormat {
 public:
  // Throws std::invalid_argument when decimals > 20, the decimal point is
  // empty, or a separator contains a digit, '+' or '-'.
  explicit NumberFormat(unsigned decimals, std::string thousands_separator = {},
                        std::string decimal_point = ".");

  // Errors: "number.invalid"; "number.out_of_range" (exponent beyond +-300 or
  // more than 300 integer digits).
  Result operator()(std::string_view text) const;

 private:
  unsigned decimals_;
  std::string thousands_;
  std::string point_;
};

}  // namespace reportbridge::mapping::functions
