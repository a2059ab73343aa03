#pragma once
// The `http` source type (the hosted back end's API, docs/sources/http_store.md):
// its config keys and factory, registered in adapters/registry.cpp.
#include "bridge/config/components.hpp"

namespace reportbridge::http_store {

config::SourceType source_type();

}  // namespace reportbridge::http_store
