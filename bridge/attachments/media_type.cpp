#include "bridge/attachments/media_type.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace reportbridge::attachments {

namespace {

std::string normalise(std::string_view media_type) {
  auto semi = media_type.find(';');
  if (semi != std::string_view::npos) media_type = media_type.substr(0, semi);
  while (!media_type.empty() && media_type.back() == ' ') media_type.remove_suffix(1);
  while (!media_type.empty() && media_type.front() == ' ') media_type.remove_prefix(1);
  std::string out(media_type);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool one_of(std::string_view value, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

// The major brand of an ISO BMFF file ("ftyp" box first), or empty.
std::string_view major_brand(std::string_view head) {
  if (head.size() < 12 || head.substr(4, 4) != "ftyp") return {};
  return head.substr(8, 4);
}

}  // namespace

bool is_allowed_media_type(std::string_view media_type) {
  return one_of(normalise(media_type),
                {"image/jpeg", "image/png", "image/heic", "image/heif", "video/mp4", "video/quicktime"});
}

bool matches_signature(std::string_view media_type, std::string_view head) {
  const std::string type = normalise(media_type);
  if (type == "image/jpeg") return head.size() >= 3 && head.substr(0, 3) == "\xFF\xD8\xFF";
  if (type == "image/png") return head.size() >= 8 && head.substr(0, 8) == "\x89PNG\r\n\x1A\n";
  const std::string_view brand = major_brand(head);
  if (type == "image/heic" || type == "image/heif")
    return one_of(brand, {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"});
  if (type == "video/mp4")
    return one_of(brand, {"isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1",
                          "M4V ", "dash", "mmp4", "MSNV"});
  if (type == "video/quicktime") {
    if (brand == "qt  ") return true;
    return head.size() >= 8 && one_of(head.substr(4, 4), {"moov", "mdat", "wide", "free", "skip", "pnot"});
  }
  return false;
}

std::string extension_for(std::string_view media_type) {
  const std::string type = normalise(media_type);
  if (type == "image/jpeg") return "jpg";
  if (type == "image/png") return "png";
  if (type == "image/heic" || type == "image/heif") return "heic";
  if (type == "video/mp4") return "mp4";
  if (type == "video/quicktime") return "mov";
  return "bin";
}

}  // namespace reportbridge::attachments
