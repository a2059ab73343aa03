#pragma once
// The `soap` target type: its config keys and factory, registered in
// adapters/registry.cpp (bridge/config/components.hpp).
#include "bridge/config/components.hpp"

namespace reportbridge::soap {

config::SinkType sink_type();

}  // namespace reportbridge::soap
