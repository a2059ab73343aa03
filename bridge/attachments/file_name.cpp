#include "bridge/attachments/file_name.hpp"

#include "bridge/attachments/media_type.hpp"

namespace reportbridge::attachments {

std::string display_name(std::string_view filename) {
  const auto slash = filename.find_last_of("/\\");
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  std::string out;
  for (unsigned char c : filename)
    if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
  const auto first = out.find_first_not_of(". ");
  out.erase(0, first == std::string::npos ? out.size() : first);
  constexpr std::size_t kMax = 120;
  if (out.size() > kMax) {
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out.empty() ? "attachment" : out;
}

std::string safe_file_name(std::string_view stem, int n, std::string_view media_type) {
  bool safe = !stem.empty();
  for (char c : stem)
    safe = safe && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-');
  std::string name = safe ? std::string(stem) + "_" : std::string();
  return name + std::to_string(n) + "." + extension_for(media_type);
}

}  // namespace reportbridge::attachments
