#pragma once
// Incremental SHA-256 over OpenSSL's EVP interface.
#include <memory>
#include <string>
#include <string_view>

namespace reportbridge::core {

class Sha256 {
 public:
  Sha256();  // throws std::runtime_error if OpenSSL cannot set up the digest
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  // Lowercase hex digest; the object cannot be updated afterwards.
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace reportbridge::core
