#pragma once
// Verifying an attachment while it streams: size limit, declared size,
// SHA-256 and the media type against the leading bytes. Nothing is buffered
// beyond the first kSniffBytes, so memory stays flat for multi-GB videos.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bridge/core/record.hpp"
#include "bridge/core/sha256.hpp"

namespace reportbridge::attachments {

enum class ErrorCode {
  unavailable,             // could not be read now (I/O, network): retry later
  too_large,               // over the target's limit (declared or while streaming)
  size_mismatch,           // byte count differs from the declared size_bytes
  sha256_mismatch,         // content differs from the declared sha256 (or none declared)
  media_type_not_allowed,  // not JPEG, PNG, HEIC, MP4 or MOV
  media_type_mismatch,     // leading bytes do not match the declared media type
  unusable_reference,      // the payload's reference cannot be fetched safely (no id, bad sha256)
};
const char* to_string(ErrorCode code);  // "attachment_unavailable", "attachment_mismatch", ...

// Every failure to obtain an attachment safely. Only `unavailable` is
// transient; the others mean the item must be rejected/quarantined.
class AttachmentError : public std::runtime_error {
 public:
  AttachmentError(ErrorCode code, const std::string& detail)
      : std::runtime_error(detail), code_(code) {}
  ErrorCode code() const { return code_; }
  bool permanent() const { return code_ != ErrorCode::unavailable; }

 private:
  ErrorCode code_;
};

struct Limits {
  std::uint64_t max_bytes = 4ull << 30;  // per attachment
  bool check_media_type = true;          // allowed list + leading bytes
};

class StreamVerifier {
 public:
  // Throws AttachmentError for a type not allowed or a declared size over the limit.
  StreamVerifier(const core::AttachmentRef& ref, Limits limits);

  // Feeds the next chunk. Throws too_large as soon as the limit is passed and
  // media_type_mismatch as soon as the leading bytes are known.
  void update(const char* data, std::size_t size);
  // After the last chunk: throws size_mismatch, sha256_mismatch or
  // media_type_mismatch (file shorter than a signature). Returns the sha256.
  std::string finish();

  std::uint64_t bytes() const { return bytes_; }

 private:
  void check_head();

  const core::AttachmentRef& ref_;
  Limits limits_;
  core::Sha256 sha_;
  std::uint64_t bytes_ = 0;
  std::string head_;
  bool head_checked_ = false;
};

}  // namespace reportbridge::attachments
