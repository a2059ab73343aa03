#pragma once
// The check the mapping loader runs on each field name a mapping gives an XML
// target (xml_drop, soap): the name resolves to a path in the schema set
// (XmlRenderer::resolve_field), else why it does not and the nearest valid
// paths ("did you mean ...?").
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bridge/xml/xml_renderer.hpp"

namespace reportbridge::xml {

using FieldCheck = std::function<std::optional<std::string>(const std::string&)>;

FieldCheck field_check(std::shared_ptr<const XmlRenderer> renderer);

// A check of a fixed value for a field (a mapping's constant, default or
// lookup value) against the facets, lexical space and fixed value of the
// element or attribute the field resolves to: nullopt when acceptable (or
// when the field does not resolve: field_check reports that), else why.
using ValueCheck = std::function<std::optional<std::string>(const std::string& field, const std::string& value)>;
ValueCheck value_check(std::shared_ptr<const XmlRenderer> renderer);

// The resolver's message with its suggestions, as field_check reports it.
std::string describe(const PathError& error);

}  // namespace reportbridge::xml
