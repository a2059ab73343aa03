#pragma once
// Media types the bridge accepts for attachments, checked against the file's
// leading bytes (never trusted from the payload alone).
#include <cstddef>
#include <string>
#include <string_view>

namespace reportbridge::attachments {

// Bytes of the head needed to decide (ISO BMFF brands sit in the first 12).
inline constexpr std::size_t kSniffBytes = 16;

// True for image/jpeg, image/png, image/heic (and image/heif), video/mp4 and
// video/quicktime. Parameters (";...") and case are ignored.
bool is_allowed_media_type(std::string_view media_type);

// True when `head` (the first bytes of the file, up to kSniffBytes) has the
// signature of `media_type`: JPEG FF D8 FF; PNG 89 'PNG' 0D 0A 1A 0A; HEIC,
// MP4 and MOV an ISO BMFF 'ftyp' box with a brand of that family (MOV also
// accepts a file starting with a moov/mdat/wide/free/skip atom).
bool matches_signature(std::string_view media_type, std::string_view head);

// A file extension for the media type (jpg png heic mp4 mov), "bin" otherwise.
std::string extension_for(std::string_view media_type);

}  // namespace reportbridge::attachments
