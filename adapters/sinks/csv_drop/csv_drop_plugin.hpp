#pragma once
// The `csv_drop` target type: its config keys and factory, registered in
// adapters/registry.cpp (bridge/config/components.hpp).
#include "bridge/config/components.hpp"

namespace reportbridge::csv_drop {

config::SinkType sink_type();

}  // namespace reportbridge::csv_drop
