#pragma once
// SHA-256 over OpenSSL's SHA-256 functions (SHA256_Init/Update/Final), not its
// EVP interface: the first EVP digest sets up OpenSSL 3's default provider,
// which costs ~1.9 MiB of resident memory in every process that hashes and a
// lookup per digest, while these functions run the same code (with the CPU's
// SHA extensions where it has them). docs/performance.md, change 11.
#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace reportbridge::core {

// Incremental SHA-256. A value: copying it forks the digest (the state so far).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // The digest of what was given so far; the object cannot be updated afterwards.
  std::array<unsigned char, 32> digest();
  // Lowercase hex digest; the object cannot be updated afterwards.
  std::string hex_digest();

 private:
  SHA256_CTX ctx_;
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Appends the 64 lowercase hex digits of `digest` to `out`.
void append_hex(std::string& out, const std::array<unsigned char, 32>& digest);

}  // namespace reportbridge::core
