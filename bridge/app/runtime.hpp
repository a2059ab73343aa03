#pragma once
// Everything a verb needs, loaded and checked from one config file: the
// schema, the compiled mappings, the source and one sink per target.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/audit/audit_config.hpp"
#include "bridge/config/components.hpp"
#include "bridge/config/daemon_config.hpp"
#include "bridge/core/diagnostics.hpp"
#include "bridge/core/events.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/pipeline/decision.hpp"
#include "bridge/schema/submission_schema.hpp"
#include "bridge/service/service_config.hpp"

namespace reportbridge::app {

struct Runtime {
  const config::Registry* components = nullptr;  // the source and target types it was built from
  config::DaemonConfig config;
  std::optional<schema::SubmissionSchema> schema;
  std::unique_ptr<mapping::MappingSet> mappings;
  std::unique_ptr<core::Source> source;
  std::vector<std::unique_ptr<core::Sink>> sinks;
  audit::AuditSettings audit;
  service::ServiceConfig service;
  std::optional<dedup::DedupSettings> dedup_settings;  // set when `dedup:` is configured and enabled
  // Lifecycle events: the audit trail and the metrics listen here.
  std::shared_ptr<core::EventBus> events = std::make_shared<core::EventBus>();

  core::Sink* sink(const std::string& name) const;
};

// Loads and checks everything (config, schema, mappings, lookups, source,
// targets), reporting every problem in `diags`. Opens no database. Returns
// nullptr when anything was an error. `components`: the source and target
// types to build from (default: adapters/registry.cpp's built-in list).
std::unique_ptr<Runtime> load_runtime(const std::string& config_path, core::Diagnostics& diags);
std::unique_ptr<Runtime> load_runtime(const std::string& config_path, const config::Registry& components,
                                      core::Diagnostics& diags);

// The rules ingest decides each row with (schema, mappings, deduplication's
// per-target policies); `preview` decides with the same ones.
pipeline::DecisionRules decision_rules(const Runtime& runtime);

// What a SIGHUP changes: the mapping set (files, lookups, signposting) and
// the log level, swapped in together.
struct Reload {
  std::unique_ptr<mapping::MappingSet> mappings;
  std::vector<std::string> mapping_files;
  std::string log_level;
};

// SIGHUP: reads the config file and the mapping files again and checks them
// all as `check` does. Refused (nullopt, every reason in `diags`) when anything
// has an error, when a section other than `mappings` and `logging` changed
// (that needs a restart), or when the columns of a target with fixed columns
// (a CSV drop) would change.
std::optional<Reload> reload(const Runtime& runtime, core::Diagnostics& diags);

}  // namespace reportbridge::app
