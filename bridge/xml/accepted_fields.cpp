#include "bridge/xml/accepted_fields.hpp"

#include <algorithm>

namespace reportbridge::xml {

std::vector<std::string> accepted_field_names(const XmlRenderer& renderer) {
  std::vector<std::string> candidates = renderer.allowed_field_paths();
  for (const auto& path : renderer.allowed_field_paths()) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos) candidates.push_back(path.substr(slash + 1));
  }
  for (const auto& [name, path] : renderer.layout().fields) candidates.push_back(name);
  auto unknown = renderer.unknown_fields(candidates);
  std::vector<std::string> accepted;
  for (const auto& c : candidates)
    if (std::find(unknown.begin(), unknown.end(), c) == unknown.end() &&
        std::find(accepted.begin(), accepted.end(), c) == accepted.end())
      accepted.push_back(c);
  return accepted;
}

}  // namespace reportbridge::xml
