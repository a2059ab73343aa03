#include "bridge/mapping/functions/number_format.hpp"

#include <stdexcept>

namespace reportbridge::mapping::functions {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void check_separator(const std::string& s, const char* what) {
  for (char c : s) {
    if (is_digit(c) || c == '+' || c == '-') {
      throw std::invalid_argument(std::string("number: the ") + what +
                                  " must not contain digits or signs");
    }
  }
}

constexpr long kMaxExponent = 300;

}  // namespace

NumberFormat::NumberFormat(unsigned decimals, std::string thousands_separator,
                           std::string decimal_point)
    : decimals_(decimals), thousands_(std::move(thousands_separator)), point_(std::move(decimal_point)) {
  if (decimals_ > 20) throw std::invalid_argument("number: decimals must be between 0 and 20");
  if (point_.empty()) throw std::invalid_argument("number: the decimal point is empty");
  check_separator(thousands_, "thousands separator");
  check_separator(point_, "decimal point");
}

Result NumberFormat::operator()(std::string_view text) const {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';

  // All significant digits, and where the decimal point sits among them.
  std::string digits;
  long point = 0;  // number of integer digits in `digits`
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < text.size() && is_digit(text[i])) {
    digits.push_back(text[i++]);
    ++int_digits;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && is_digit(text[i])) {
      digits.push_back(text[i++]);
      ++frac_digits;
    }
  }
  if (int_digits + frac_digits == 0) return Result::fail("number.invalid");
  point = static_cast<long>(int_digits);
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
    if (i >= text.size() || !is_digit(text[i])) return Result::fail("number.invalid");
    long exponent = 0;
    while (i < text.size() && is_digit(text[i])) {
      exponent = exponent * 10 + (text[i++] - '0');
      if (exponent > kMaxExponent) return Result::fail("number.out_of_range");
    }
    point += exp_negative ? -exponent : exponent;
  }
  if (i != text.size()) return Result::fail("number.invalid");

  // Pad so the point is inside the digits and `decimals_` + 1 fraction digits exist.
  if (point < 0) {
    digits.insert(0, static_cast<std::size_t>(-point), '0');
    point = 0;
  }
  if (static_cast<long>(digits.size()) < point) digits.append(static_cast<std::size_t>(point) - digits.size(), '0');
  const std::size_t keep = static_cast<std::size_t>(point) + decimals_;
  if (digits.size() < keep + 1) digits.append(keep + 1 - digits.size(), '0');

  // Round half away from zero on the magnitude.
  const bool round_up = digits[keep] >= '5';
  digits.resize(keep);
  std::size_t integer_len = static_cast<std::size_t>(point);
  if (round_up) {
    std::size_t k = digits.size();
    while (k > 0 && digits[k - 1] == '9') digits[--k] = '0';
    if (k == 0) {
      digits.insert(digits.begin(), '1');
      ++integer_len;
    } else {
      ++digits[k - 1];
    }
  }
  std::string integer = digits.substr(0, integer_len);
  std::string fraction = digits.substr(integer_len);
  std::size_t lead = integer.find_first_not_of('0');
  integer = lead == std::string::npos ? "0" : integer.substr(lead);
  if (integer.size() > static_cast<std::size_t>(kMaxExponent)) return Result::fail("number.out_of_range");
  const bool zero = integer == "0" && fraction.find_first_not_of('0') == std::string::npos;

  std::string out;
  if (negative && !zero) out.push_back('-');
  for (std::size_t k = 0; k < integer.size(); ++k) {
    if (k > 0 && !thousands_.empty() && (integer.size() - k) % 3 == 0) out += thousands_;
    out.push_back(integer[k]);
  }
  if (decimals_ > 0) {
    out += point_;
    out += fraction;
  }
  return Result::of(std::move(out));
}

}  // namespace reportbridge::mapping::functions
