#pragma once
// The `xml_drop` target type: its config keys and factory, registered in
// adapters/registry.cpp (bridge/config/components.hpp).
#include "bridge/config/components.hpp"

namespace reportbridge::xml_drop {

config::SinkType sink_type();

}  // namespace reportbridge::xml_drop
