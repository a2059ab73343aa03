#include "bridge/attachments/verifier.hpp"

#include <algorithm>
#include <cctype>

#include "bridge/attachments/media_type.hpp"

namespace reportbridge::attachments {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::unavailable: return "attachment_unavailable";
    case ErrorCode::too_large: return "attachment_too_large";
    case ErrorCode::size_mismatch: return "attachment_size_mismatch";
    case ErrorCode::sha256_mismatch: return "attachment_mismatch";
    case ErrorCode::media_type_not_allowed: return "attachment_type_not_allowed";
    case ErrorCode::media_type_mismatch: return "attachment_type_mismatch";
    case ErrorCode::unusable_reference: return "attachment_unusable_reference";
  }
  return "attachment_error";
}

StreamVerifier::StreamVerifier(const core::AttachmentRef& ref, Limits limits)
    : ref_(ref), limits_(limits) {
  if (limits_.check_media_type && !is_allowed_media_type(ref_.media_type))
    throw AttachmentError(ErrorCode::media_type_not_allowed, "media type not allowed");
  if (ref_.size_bytes > limits_.max_bytes)
    throw AttachmentError(ErrorCode::too_large, "declared size " + std::to_string(ref_.size_bytes) +
                                                    " is above the limit of " +
                                                    std::to_string(limits_.max_bytes));
}

void StreamVerifier::update(const char* data, std::size_t size) {
  if (size == 0) return;
  if (size > limits_.max_bytes - std::min(bytes_, limits_.max_bytes))
    throw AttachmentError(ErrorCode::too_large,
                          "more than " + std::to_string(limits_.max_bytes) + " bytes");
  if (ref_.size_bytes != 0 && bytes_ + size > ref_.size_bytes)
    throw AttachmentError(ErrorCode::size_mismatch,
                          "more bytes than the declared " + std::to_string(ref_.size_bytes));
  if (!head_checked_) {
    head_.append(data, std::min(size, kSniffBytes - head_.size()));
    if (head_.size() == kSniffBytes) check_head();
  }
  sha_.update(data, size);
  bytes_ += size;
}

void StreamVerifier::check_head() {
  head_checked_ = true;
  if (limits_.check_media_type && !matches_signature(ref_.media_type, head_))
    throw AttachmentError(ErrorCode::media_type_mismatch,
                          "leading bytes do not match the declared media type");
}

std::string StreamVerifier::finish() {
  if (!head_checked_) check_head();
  if (ref_.size_bytes != 0 && bytes_ != ref_.size_bytes)
    throw AttachmentError(ErrorCode::size_mismatch, std::to_string(bytes_) + " bytes, declared " +
                                                        std::to_string(ref_.size_bytes));
  std::string digest = sha_.hex_digest();
  std::string declared = ref_.sha256;
  for (char& c : declared) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (declared.empty()) throw AttachmentError(ErrorCode::sha256_mismatch, "no sha256 declared");
  if (digest != declared)
    throw AttachmentError(ErrorCode::sha256_mismatch, "sha256 differs from the declared value");
  return digest;
}

}  // namespace reportbridge::attachments
