// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP (they
// remain in every 3.x release); used on purpose, see sha256.hpp.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "bridge/core/sha256.hpp"

#include <stdexcept>

namespace reportbridge::core {

Sha256::Sha256() {
  if (SHA256_Init(&ctx_) != 1) throw std::runtime_error("sha256: SHA256_Init failed");
}

void Sha256::update(const void* data, std::size_t size) {
  if (SHA256_Update(&ctx_, data, size) != 1) throw std::runtime_error("sha256: SHA256_Update failed");
}

std::array<unsigned char, 32> Sha256::digest() {
  std::array<unsigned char, 32> out{};
  if (SHA256_Final(out.data(), &ctx_) != 1) throw std::runtime_error("sha256: SHA256_Final failed");
  return out;
}

void append_hex(std::string& out, const std::array<unsigned char, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + 64);
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[at + 2 * i] = kHex[digest[i] >> 4];
    out[at + 2 * i + 1] = kHex[digest[i] & 0x0f];
  }
}

std::string Sha256::hex_digest() {
  std::string out;
  append_hex(out, digest());
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 sha;
  sha.update(data);
  return sha.hex_digest();
}

}  // namespace reportbridge::core
