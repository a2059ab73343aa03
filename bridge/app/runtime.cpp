#include "bridge/app/runtime.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "adapters/registry.hpp"
#include "bridge/core/bounded_read.hpp"

namespace reportbridge::app {

core::Sink* Runtime::sink(const std::string& name) const {
  for (const auto& s : sinks)
    if (s->name() == name) return s.get();
  return nullptr;
}

namespace {

bool fixed_columns(const config::Registry& components, const config::TargetSettings& t) {
  const auto* type = components.sink(t.type);
  return type && type->fixed_columns;
}

// Every mapping feeding a target with fixed columns (a CSV drop: one header
// per file) must give it the same fields in the same order. XML targets are
// checked against their XSD instead.
void check_columns(const config::Registry& components, const config::DaemonConfig& cfg,
                   const mapping::MappingSet& set, core::Diagnostics& diags) {
  for (const auto& t : cfg.targets) {
    if (!fixed_columns(components, t)) continue;
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

// What the mapping loader checks paths and target fields against.
mapping::LoadOptions load_options(const config::Registry& components, const config::DaemonConfig& c,
                                  core::Diagnostics& diags) {
  mapping::LoadOptions o;
  o.known_targets = c.target_names();
  const core::BoundedRead in = core::read_bounded(c.schema_path, core::kMaxSchemaFileBytes);
  if (in.content && !in.too_large) {
    boost::system::error_code ec;
    auto doc = boost::json::parse(*in.content, ec);
    if (!ec) o.known_paths = mapping::schema_paths(doc);
  }
  o.reference_targets.emplace();
  for (const auto& t : c.targets) {
    const auto* type = components.sink(t.type);
    if (!type) continue;
    if (type->value_check)
      if (auto check = type->value_check(c, t)) o.target_value_checks[t.name] = std::move(check);
    if (type->operation_check)
      if (auto check = type->operation_check(c, t)) {
        o.target_operation_checks[t.name] = std::move(check);
        o.reference_targets->insert(t.name);
      }
    if (type->field_check) {
      if (auto check = type->field_check(c, t)) o.target_field_checks[t.name] = std::move(check);
      continue;
    }
    if (!type->fields) continue;
    if (auto fields = type->fields(c, t, diags)) o.target_fields[t.name] = std::move(*fields);
  }
  return o;
}

}  // namespace

std::unique_ptr<Runtime> load_runtime(const std::string& config_path, core::Diagnostics& diags) {
  return load_runtime(config_path, adapters::builtin_components(), diags);
}

std::unique_ptr<Runtime> load_runtime(const std::string& config_path, const config::Registry& components,
                                      core::Diagnostics& diags) {
  auto cfg = config::load_daemon_config(config_path, components.specs(), diags);
  if (!cfg) return nullptr;
  auto rt = std::make_unique<Runtime>();
  rt->components = &components;
  rt->config = std::move(*cfg);
  const auto& c = rt->config;

  rt->schema = schema::SubmissionSchema::load(c.schema_path.string(), diags);
  rt->audit = audit::load_audit_settings(c.document["audit"], c.file, c.base_dir,
                                         c.local_dir() / "audit", diags);
  // A fleet member keeps its own chain, named by the instance (docs/audit.md).
  if (c.postgres) rt->audit.instance = c.instance_name();
  if (auto sc = service::load_service_config(c.document, c.file, diags)) rt->service = *sc;
  if (const YAML::Node d = c.document["dedup"]; d && d.IsMap()) {
    auto ds = dedup::load_dedup_settings(d, c.file, diags);
    if (ds && ds->enabled) {
      if (!ds->reporter_key_file.empty()) {
        ds->reporter_key_file = c.resolve(ds->reporter_key_file).string();
        dedup::check_reporter_key_file(*ds, d["reporter_key_file"], c.file, diags);  // at check: exit 3
      }
      rt->dedup_settings = std::move(*ds);
    }
  }
  auto set = mapping::MappingSet::load(c.mapping_files, load_options(components, c, diags), diags);
  if (set) {
    check_columns(components, c, *set, diags);
    rt->mappings = std::make_unique<mapping::MappingSet>(std::move(*set));
  }

  // (load_daemon_config has reported an unknown type.)
  if (const auto* type = components.source(c.source.type)) rt->source = type->create(c, diags);
  if (!rt->source) return nullptr;

  if (rt->mappings) {
    auto* source = rt->source.get();
    core::AttachmentLocator locator = [source](const core::AttachmentRef& a) {
      return std::filesystem::path(source->attachment_path(a));
    };
    for (const auto& t : c.targets) {
      const auto* type = components.sink(t.type);
      if (!type) continue;
      const auto columns = rt->mappings->columns_for(t.name);
      auto sink = type->create(c, t, columns, locator, diags);
      if (sink && type->apply_operations)
        type->apply_operations(*sink, rt->mappings->operations_for(t.name), columns, t, diags);
      if (sink) sink->set_deferred_fields(rt->mappings->deferred_for(t.name));
      if (sink) rt->sinks.push_back(std::move(sink));
    }
  }
  if (diags.has_errors()) return nullptr;
  return rt;
}

pipeline::DecisionRules decision_rules(const Runtime& rt) {
  pipeline::DecisionRules r;
  r.schema = &*rt.schema;
  r.mappings = rt.mappings.get();
  r.dedup = rt.dedup_settings.has_value();
  for (const auto& t : rt.config.targets) {
    r.related[t.name] = dedup::parse_related_policy(t.related).value_or(dedup::RelatedPolicy::link);
    if (t.reporter_key) r.reporter_key_targets.insert(t.name);
  }
  return r;
}

std::optional<Reload> reload(const Runtime& rt, core::Diagnostics& diags) {
  // The config file is read again in full and checked like at start-up.
  const config::Registry& components = *rt.components;
  auto cfg = config::load_daemon_config(rt.config.file, components.specs(), diags);
  if (!cfg) return std::nullopt;
  // Everything but the mapping list and the log level is bound to threads,
  // connections and files opened at start-up: changing it needs a restart.
  std::set<std::string> keys;
  const YAML::Node* docs[] = {&rt.config.document, &cfg->document};
  for (const YAML::Node* doc : docs)
    if (doc->IsMap())
      for (const auto& kv : *doc) keys.insert(kv.first.as<std::string>());
  for (const auto& key : keys) {
    if (key == "mappings" || key == "logging") continue;
    const YAML::Node& old_doc = rt.config.document;
    const YAML::Node& new_doc = cfg->document;
    const YAML::Node before = old_doc[key], after = new_doc[key];
    const std::string a = before ? YAML::Dump(before) : "", b = after ? YAML::Dump(after) : "";
    if (a == b) continue;
    auto p = after ? config::position_of(cfg->file, after) : config::Position{cfg->file, 1, 1};
    diags.error(p.file, p.line, p.column,
                "'" + key + "' changed: that needs a restart (systemctl restart reportbridge); reload refused",
                "reload.needs_restart");
  }
  if (diags.has_errors()) return std::nullopt;
  auto set = mapping::MappingSet::load(cfg->mapping_files, load_options(components, *cfg, diags), diags);
  if (!set) return std::nullopt;
  check_columns(components, *cfg, *set, diags);
  for (const auto& t : cfg->targets) {
    if (fixed_columns(components, t) && set->columns_for(t.name) != rt.mappings->columns_for(t.name))
      diags.error(cfg->file, t.position.line, t.position.column,
                  "reload would change the columns of " + t.type + " target '" + t.name +
                      "'; restart the service to change a file layout",
                  "reload.columns_changed");
    // A sink holds its mappings' operations: sections from start-up.
    if (set->operations_for(t.name) != rt.mappings->operations_for(t.name))
      diags.error(cfg->file, t.position.line, t.position.column,
                  "reload would change the operations: sections of the mappings feeding target '" + t.name +
                      "'; restart the service to change them",
                  "reload.operations_changed");
  }
  if (diags.has_errors()) return std::nullopt;
  Reload r;
  r.mappings = std::make_unique<mapping::MappingSet>(std::move(*set));
  r.mapping_files = cfg->mapping_files;
  r.log_level = cfg->log_level;
  return r;
}

}  // namespace reportbridge::app
