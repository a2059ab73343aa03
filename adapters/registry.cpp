#include "adapters/registry.hpp"

#include "adapters/sinks/csv_drop/csv_drop_plugin.hpp"
#include "adapters/sinks/soap/soap_plugin.hpp"
#include "adapters/sinks/xml_drop/xml_drop_plugin.hpp"
#include "adapters/sources/http_store/http_store_plugin.hpp"
#include "adapters/sources/sqlite_store/sqlite_store_plugin.hpp"

namespace reportbridge::adapters {

void register_builtin_components(config::Registry& registry) {
  // Sources (`source.type`).
  registry.add(sqlite_store::source_type());
  registry.add(http_store::source_type());
  // Targets (a target's `type`).
  registry.add(csv_drop::sink_type());
  registry.add(xml_drop::sink_type());
  registry.add(soap::sink_type());
}

const config::Registry& builtin_components() {
  static const config::Registry registry = [] {
    config::Registry r;
    register_builtin_components(r);
    return r;
  }();
  return registry;
}

}  // namespace reportbridge::adapters
