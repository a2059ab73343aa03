#pragma once
// File names the file drops build from untrusted text (batch keys,
// submission ids, media types). No I/O; table-tested.
#include <cstddef>
#include <string>
#include <string_view>

namespace reportbridge::file_drop {

inline constexpr std::size_t kMaxFileComponent = 120;

// A file-name component built from untrusted text: only [A-Za-z0-9._-], never a
// leading dot, at most kMaxFileComponent bytes, never empty. Text that is
// already safe is returned unchanged; text that had to be altered (replaced
// bytes, leading dot, truncation, empty) gets "-<8 hex of its sha256>" appended
// so that distinct inputs keep distinct names.
std::string safe_file_component(std::string_view untrusted);

// File extension for an attachment's media type: jpg png heic mp4 mov, else bin.
std::string extension_for_media_type(std::string_view media_type);

}  // namespace reportbridge::file_drop
