#pragma once
// The field names a mapping may give an XML target (xml_drop, soap), for the
// mapping loader's checks: each schema path the renderer can fill, each
// element's own name where the renderer places it unambiguously, and the
// layout's own names.
#include <string>
#include <vector>

#include "bridge/xml/xml_renderer.hpp"

namespace reportbridge::xml {

std::vector<std::string> accepted_field_names(const XmlRenderer& renderer);

}  // namespace reportbridge::xml
