#pragma once
// The `sqlite` source type (the app's embedded SQLite store): its config keys
// and factory, registered in adapters/registry.cpp.
#include "bridge/config/components.hpp"

namespace reportbridge::sqlite_store {

config::SourceType source_type();

}  // namespace reportbridge::sqlite_store
