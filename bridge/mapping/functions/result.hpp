#pragma once
// The value-or-error every mapping function returns.
//
// Error codes are stable, dotted and never contain the input (an input may be
// personal data): text.invalid_utf8, regex.no_match, regex.group_unmatched,
// template.missing_value, datetime.invalid, datetime.nonexistent,
// datetime.ambiguous, datetime.out_of_range, number.invalid,
// number.out_of_range, postcode.invalid, phone.invalid, phone.not_uk,
// bng.invalid, bng.out_of_range, email.invalid, pseudonymise.empty.
#include <optional>
#include <string>
#include <utility>

namespace reportbridge::mapping::functions {

struct Result {
  std::optional<std::string> value;
  std::string error;  // set when !ok()

  bool ok() const { return value.has_value(); }

  static Result of(std::string v) { return Result{std::move(v), {}}; }
  static Result fail(std::string code) { return Result{std::nullopt, std::move(code)}; }
};

}  // namespace reportbridge::mapping::functions
