#pragma once
// Keyed pseudonymisation: the same person's email or phone number gives the
// same token in every record (so analysts can link reports) while the value
// can't be recovered or guessed without the key.
//
//   token = lowercase hex of HMAC-SHA256(key, purpose + "\x1f" + value),
//           first 32 hex characters (128 bits).
//
// `purpose` separates uses ("resident-email", "resident-phone"): the same
// value gives unrelated tokens under different purposes. The value is
// normalised first according to its kind, so " A.Khan@Example.org" and
// "a.khan@example.org" give one token.
// Immutable and thread-safe; the key is wiped from memory on destruction.
#include <filesystem>
#include <string>
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

// Lowercase hex HMAC-SHA256 (64 characters): the primitive, for tests and tools.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Trim and lower-case (Unicode, en-GB); must contain one '@' with text on both
// sides. Errors: "text.invalid_utf8", "email.invalid".
Result normalise_email(std::string_view text);
// E.164 via phone_e164 (UK numbers only). Errors as phone_e164.
Result normalise_phone(std::string_view text);

enum class ValueKind {
  text,   // trim + NFC
  email,  // normalise_email
  phone,  // normalise_phone
  raw,    // the bytes as given
};

class Pseudonymiser {
 public:
  static constexpr std::size_t kMinKeyBytes = 16;

  // Throws std::invalid_argument when the key has fewer than kMinKeyBytes bytes.
  explicit Pseudonymiser(std::string key);
  // The file's bytes are the key, as they are (a trailing newline is part of
  // it; a symlink is judged by its target). The rule of every secret file
  // (core::read_secret_file: regular, private, owned by the service or root,
  // at most 1 MiB here). Throws std::invalid_argument when the file breaks it,
  // is shorter than kMinKeyBytes, or is unreadable.
  static Pseudonymiser from_key_file(const std::filesystem::path& path);

  ~Pseudonymiser();
  Pseudonymiser(const Pseudonymiser&) = default;
  Pseudonymiser& operator=(const Pseudonymiser&) = default;
  Pseudonymiser(Pseudonymiser&&) noexcept = default;
  Pseudonymiser& operator=(Pseudonymiser&&) noexcept = default;

  // Errors: the normaliser's ("phone.invalid", "email.invalid", ...),
  // "pseudonymise.empty" when the normalised value is empty (hashing it would
  // link every blank), "pseudonymise.invalid_purpose" for an empty purpose or
  // one containing U+001F.
  Result pseudonymise(std::string_view value, std::string_view purpose,
                      ValueKind kind = ValueKind::text) const;

 private:
  std::string key_;
};

}  // namespace reportbridge::mapping::functions
