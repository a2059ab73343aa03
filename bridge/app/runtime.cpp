#include "bridge/app/runtime.hpp"

#include <algorithm>

#include "bridge/app/components.hpp"

namespace reportbridge::app {

core::Sink* Runtime::sink(const std::string& name) const {
  for (const auto& s : sinks)
    if (s->name() == name) return s.get();
  return nullptr;
}

namespace {

// Every mapping feeding one target must give it the same fields in the same
// order (a CSV file has one header).
void check_columns(const config::DaemonConfig& cfg, const mapping::MappingSet& set,
                   core::Diagnostics& diags) {
  for (const auto& t : cfg.targets) {
    const mapping::Mapping* first = nullptr;
    std::vector<std::string> first_cols;
    for (const auto& m : set.mappings()) {
      if (std::find(m.targets.begin(), m.targets.end(), t.name) == m.targets.end()) continue;
      std::vector<std::string> cols;
      for (const auto& f : m.fields) cols.push_back(f.name);
      if (!first) {
        first = &m;
        first_cols = cols;
      } else if (cols != first_cols) {
        diags.error(m.file, 1, 1,
                    "mapping '" + m.name + "' gives target '" + t.name +
                        "' different fields from mapping '" + first->name + "' (" + first->file + ")",
                    "mapping.columns_differ");
      }
    }
  }
}

}  // namespace

std::unique_ptr<Runtime> load_runtime(const std::string& config_path, core::Diagnostics& diags) {
  auto cfg = config::load_daemon_config(config_path, builtin_target_specs(), diags);
  if (!cfg) return nullptr;
  auto rt = std::make_unique<Runtime>();
  rt->config = std::move(*cfg);
  const auto& c = rt->config;

  rt->schema = schema::SubmissionSchema::load(c.schema_path.string(), diags);
  auto set = mapping::MappingSet::load(c.mapping_files, c.target_names(), diags);
  if (set) {
    check_columns(c, *set, diags);
    rt->mappings = std::make_unique<mapping::MappingSet>(std::move(*set));
  }

  sqlite_store::SqliteStoreConfig sc;
  sc.name = c.source.name;
  sc.path = c.source.path;
  sc.media_root = c.source.media_root;
  rt->source = std::make_unique<sqlite_store::SqliteStoreSource>(sc);
  if (!std::filesystem::exists(c.source.path))
    diags.warning(c.file, 0, 0, "submission store " + c.source.path.string() + " does not exist yet",
                  "config.store_missing");

  if (rt->mappings) {
    auto* source = rt->source.get();
    core::AttachmentLocator locator = [source](const core::AttachmentRef& a) {
      return std::filesystem::path(source->attachment_path(a));
    };
    for (const auto& t : c.targets) {
      auto it = builtin_targets().find(t.type);
      if (it == builtin_targets().end()) continue;
      auto sink = it->second.create(c, t, rt->mappings->columns_for(t.name), locator, diags);
      if (sink) rt->sinks.push_back(std::move(sink));
    }
  }
  if (diags.has_errors()) return nullptr;
  return rt;
}

std::unique_ptr<mapping::MappingSet> reload_mappings(const Runtime& rt, core::Diagnostics& diags) {
  auto set = mapping::MappingSet::load(rt.config.mapping_files, rt.config.target_names(), diags);
  if (!set) return nullptr;
  check_columns(rt.config, *set, diags);
  for (const auto& t : rt.config.targets) {
    if (set->columns_for(t.name) != rt.mappings->columns_for(t.name))
      diags.error(rt.config.file, t.position.line, t.position.column,
                  "reload would change the fields of target '" + t.name +
                      "'; restart the service to change a target's layout",
                  "reload.columns_changed");
  }
  if (diags.has_errors()) return nullptr;
  return std::make_unique<mapping::MappingSet>(std::move(*set));
}

}  // namespace reportbridge::app
