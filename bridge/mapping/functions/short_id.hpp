#pragma once
// `short_id`: a short, stable id for fixed-length reference fields. The
// RFC 4648 base32 text (A-Z, 2-7, no padding) of the SHA-256 of the value,
// cut to `length` characters (1..52). Deterministic: the same value gives the
// same id on every machine and run; 10 characters carry 50 bits.
// An empty value stays empty.
#include <cstddef>
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

inline constexpr std::size_t kShortIdMaxLength = 52;  // 256 bits in base32

// Throws std::invalid_argument when length is 0 or above kShortIdMaxLength.
class ShortId {
 public:
  explicit ShortId(std::size_t length);
  Result operator()(std::string_view value) const;
  std::size_t length() const { return length_; }

 private:
  std::size_t length_;
};

}  // namespace reportbridge::mapping::functions
