#include "bridge/mapping/functions/short_id.hpp"

#include <openssl/sha.h>

#include <stdexcept>
#include <string>

namespace reportbridge::mapping::functions {

ShortId::ShortId(std::size_t length) : length_(length) {
  if (length == 0 || length > kShortIdMaxLength)
    throw std::invalid_argument("length must be 1.." + std::to_string(kShortIdMaxLength));
}

Result ShortId::operator()(std::string_view value) const {
  if (value.empty()) return Result::of({});
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(value.data()), value.size(), digest);
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve(length_);
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < SHA256_DIGEST_LENGTH && out.size() < length_; ++i) {
    buffer = (buffer << 8) | digest[i];
    bits += 8;
    while (bits >= 5 && out.size() < length_) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31u];
      bits -= 5;
    }
  }
  if (out.size() < length_ && bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31u];
  return Result::of(std::move(out));
}

}  // namespace reportbridge::mapping::functions
