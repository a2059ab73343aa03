#pragma once
// Payload file names are display text, never paths.
#include <string>
#include <string_view>

namespace reportbridge::attachments {

// The payload's filename made safe to show or to put in a header: the last
// path component only, control characters and '/', '\\' dropped, leading dots
// removed, at most 120 bytes (cut on a UTF-8 boundary). "attachment" when
// nothing is left.
std::string display_name(std::string_view filename);

// A file name the bridge builds itself: "<n>.<extension for media type>",
// prefixed by `stem` when it is made of [A-Za-z0-9_-] only.
std::string safe_file_name(std::string_view stem, int n, std::string_view media_type);

}  // namespace reportbridge::attachments
