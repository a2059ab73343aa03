#include "bridge/core/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace reportbridge::core {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: EVP_DigestInit_ex failed");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(ctx_->md, data, size) != 1)
    throw std::runtime_error("sha256: EVP_DigestUpdate failed");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, digest, &len) != 1)
    throw std::runtime_error("sha256: EVP_DigestFinal_ex failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

namespace {

// SHA-256 fetched from the provider once, and one context per thread reused:
// sha256_hex runs once per submission (the ledger's payload hash), where
// allocating a context and fetching the digest each time cost more than
// hashing a ~1 KB payload (docs/performance.md, change 7).
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) throw std::runtime_error("sha256: EVP_MD_fetch failed");
  return md;
}

struct ThreadContext {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~ThreadContext() { EVP_MD_CTX_free(md); }
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  thread_local ThreadContext ctx;
  if (!ctx.md) throw std::runtime_error("sha256: EVP_MD_CTX_new failed");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(ctx.md, sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.md, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.md, digest, &len) != 1)
    throw std::runtime_error("sha256: digest failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(len) * 2, '\0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace reportbridge::core
