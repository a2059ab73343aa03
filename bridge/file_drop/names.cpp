#include "bridge/file_drop/names.hpp"

#include <algorithm>

#include "bridge/core/sha256.hpp"

namespace reportbridge::file_drop {

std::string safe_file_component(std::string_view untrusted) {
  std::string out;
  out.reserve(std::min(untrusted.size(), kMaxFileComponent));
  bool altered = false;
  for (char c : untrusted) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out.push_back(safe ? c : '_');
    altered = altered || !safe;
  }
  if (out.empty()) {
    out = "_";
    altered = true;
  }
  if (out.front() == '.') {
    out.front() = '_';
    altered = true;
  }
  if (out.size() > kMaxFileComponent) altered = true;
  if (altered) {
    const std::string suffix = "-" + core::sha256_hex(untrusted).substr(0, 8);
    if (out.size() > kMaxFileComponent - suffix.size()) out.resize(kMaxFileComponent - suffix.size());
    out += suffix;
  }
  return out;
}

std::string extension_for_media_type(std::string_view media_type) {
  std::string t(media_type.substr(0, media_type.find(';')));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  t.erase(0, std::min(t.find_first_not_of(" \t"), t.size()));
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  if (t == "image/jpeg" || t == "image/jpg" || t == "image/pjpeg") return "jpg";
  if (t == "image/png") return "png";
  if (t == "image/heic") return "heic";
  if (t == "video/mp4") return "mp4";
  if (t == "video/quicktime") return "mov";
  return "bin";
}

}  // namespace reportbridge::file_drop
