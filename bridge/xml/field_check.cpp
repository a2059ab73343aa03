#include "bridge/xml/field_check.hpp"

namespace reportbridge::xml {

std::string describe(const PathError& error) {
  std::string why = error.message;
  if (!error.suggestions.empty()) {
    why += " (did you mean ";
    for (std::size_t i = 0; i < error.suggestions.size(); ++i) why += (i ? ", " : "") + error.suggestions[i];
    why += "?)";
  }
  return why;
}

FieldCheck field_check(std::shared_ptr<const XmlRenderer> renderer) {
  return [renderer = std::move(renderer)](const std::string& field) -> std::optional<std::string> {
    auto r = renderer->resolve_field(field);
    if (r) return std::nullopt;
    return describe(*r.error);
  };
}

ValueCheck value_check(std::shared_ptr<const XmlRenderer> renderer) {
  return [renderer = std::move(renderer)](const std::string& field,
                                          const std::string& value) -> std::optional<std::string> {
    auto r = renderer->resolve_field(field);
    // Unresolved: field_check says why. [*]: the value is a JSON list.
    if (!r || r.path->canonical.find("[*]") != std::string::npos) return std::nullopt;
    return renderer->paths().check_value(r.path->canonical, value);
  };
}

}  // namespace reportbridge::xml
