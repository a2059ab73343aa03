#include "bridge/mapping/functions/pseudonymiser.hpp"

#include "bridge/core/secret_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdexcept>

#include "bridge/mapping/functions/phone.hpp"
#include "bridge/mapping/functions/text.hpp"

namespace reportbridge::mapping::functions {
namespace {

constexpr std::size_t kTokenHex = 32;

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0F];
  }
  return out;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len)) {
    throw std::runtime_error("pseudonymise: OpenSSL HMAC-SHA256 failed");
  }
  std::string hex = to_hex(mac, len);
  OPENSSL_cleanse(mac, sizeof mac);
  return hex;
}

Result normalise_email(std::string_view text) {
  Result r = trim(text);
  if (!r.ok()) return r;
  r = lower(*r.value);
  if (!r.ok()) return r;
  const std::string& e = *r.value;
  const std::size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == e.size() || e.find('@', at + 1) != std::string::npos) {
    return Result::fail("email.invalid");
  }
  return r;
}

Result normalise_phone(std::string_view text) { return phone_e164(text); }

Pseudonymiser::Pseudonymiser(std::string key) : key_(std::move(key)) {
  if (key_.size() < kMinKeyBytes) {
    OPENSSL_cleanse(key_.data(), key_.size());
    throw std::invalid_argument("pseudonymise: the key must be at least " + std::to_string(kMinKeyBytes) +
                                " bytes (e.g. `openssl rand 32`)");
  }
}

Pseudonymiser::~Pseudonymiser() {
  if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
}

Pseudonymiser Pseudonymiser::from_key_file(const std::filesystem::path& path) {
  // The rule every secret file follows (bridge/core/secret_file.hpp).
  core::SecretFile file = core::read_secret_file(path, "pseudonymise: key file", std::size_t{1} << 20);
  std::string key = std::move(file.content);
  if (key.size() < kMinKeyBytes) {
    OPENSSL_cleanse(key.data(), key.size());
    throw std::invalid_argument("pseudonymise: key file " + path.string() + ": shorter than " +
                                std::to_string(kMinKeyBytes) + " bytes");
  }
  return Pseudonymiser(std::move(key));
}

Result Pseudonymiser::pseudonymise(std::string_view value, std::string_view purpose, ValueKind kind) const {
  if (purpose.empty() || purpose.find('\x1f') != std::string_view::npos) {
    return Result::fail("pseudonymise.invalid_purpose");
  }
  Result normalised;
  switch (kind) {
    case ValueKind::text:
      normalised = trim(value);
      if (normalised.ok()) normalised = normalise_nfc(*normalised.value);
      break;
    case ValueKind::email:
      normalised = normalise_email(value);
      break;
    case ValueKind::phone:
      normalised = normalise_phone(value);
      break;
    case ValueKind::raw:
      normalised = Result::of(std::string(value));
      break;
  }
  if (!normalised.ok()) return normalised;
  if (normalised.value->empty()) return Result::fail("pseudonymise.empty");
  std::string message(purpose);
  message.push_back('\x1f');
  message += *normalised.value;
  std::string token = hmac_sha256_hex(key_, message);
  OPENSSL_cleanse(message.data(), message.size());
  token.resize(kTokenHex);
  return Result::of(std::move(token));
}

}  // namespace reportbridge::mapping::functions
