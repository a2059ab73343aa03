#pragma once
// The one list of built-in sources and sinks (bridge/config/components.hpp).
// Adding a source or a sink: a new folder under adapters/sources/ or
// adapters/sinks/ exporting its SourceType / SinkType, and one line (plus its
// #include) in register_builtin_components() (docs/architecture.md).
#include "bridge/config/components.hpp"

namespace reportbridge::adapters {

void register_builtin_components(config::Registry& registry);

// A registry holding every built-in component, built on first use.
const config::Registry& builtin_components();

}  // namespace reportbridge::adapters
