#pragma once
// The daemon's one YAML config file (documented key by key in
// docs/configuration.md, generated from the specs in daemon_config.cpp and in
// each source and target adapter, bridge/config/components.hpp). Relative
// paths are resolved against the config file's folder. Unknown keys and wrong
// types are errors with file:line:col.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bridge/config/yaml_spec.hpp"
#include "bridge/core/diagnostics.hpp"

namespace reportbridge::config {

struct SourceSettings {
  std::string type;  // a registered source type (config::Registry)
  std::string name = "app";
  std::chrono::milliseconds poll_interval{1000};
  std::size_t batch_size = 1000;
  std::chrono::milliseconds late_row_window{600'000};
  YAML::Node settings;  // the whole source map; type-specific keys read by the source's factory
  Position position;
};

struct RetrySettings {
  int max_attempts = 10;
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds cap{300'000};
};

struct WritebackSettings {
  std::string message = "Thank you. Your report has been passed to the right team.";
  bool include_reference = false;
};

// A target that keeps failing is left alone for a while (its circuit opens),
// then probed with a single item before full batches resume.
struct CircuitSettings {
  int failures = 5;                               // failed batches in a row that open it
  std::chrono::milliseconds cooldown{30'000};     // first wait before a probe
  std::chrono::milliseconds max_cooldown{600'000};// the wait doubles per failed probe, up to this
};

struct TargetSettings {
  std::string name;
  std::string type;
  YAML::Node settings;  // the whole target map; type-specific keys read by the adapter
  Position position;
  RetrySettings retry;
  WritebackSettings writeback;
  CircuitSettings circuit;
  std::string related = "link";  // a report related to an earlier one: link | hold | plain
  bool reporter_key = false;      // fill a ReporterKey field with the reporter's pseudonymous key
};

struct RetentionSettings {
  // Record copies of dead letters (personal data) are erased this long after
  // the delivery failed for good; the item stays, accounted for, without them.
  std::chrono::milliseconds dead_letters{30LL * 24 * 3600 * 1000};
  std::chrono::milliseconds check_every{3600'000};
};

// state: {type: postgresql, ...} (issue #16; docs/operations.md). The
// password is never here: it is read from password_file or the systemd
// credential when a connection is made.
struct PostgresStateSettings {
  std::string conninfo;
  std::string sslmode = "verify-full";
  std::filesystem::path sslrootcert;
  std::filesystem::path password_file;
  std::string password_credential;
  bool migrate_on_start = true;
  std::string instance;  // empty: the host name
  std::chrono::milliseconds lease{30'000};
};

struct DaemonConfig {
  std::string file;
  std::filesystem::path base_dir;
  SourceSettings source;
  std::string state_type = "sqlite";  // sqlite | postgresql
  std::filesystem::path state_path;   // sqlite: the database file
  std::optional<PostgresStateSettings> postgres;  // postgresql
  std::filesystem::path local_dir_;   // see local_dir()
  std::filesystem::path schema_path;
  std::vector<std::string> mapping_files;
  std::vector<TargetSettings> targets;
  bool writeback_enabled = true;
  std::size_t writeback_batch = 25'000;
  std::chrono::milliseconds writeback_max_delay{1000};
  std::string log_level = "info";
  RetentionSettings retention;
  // The whole document: sections owned by other components (audit, health,
  // service, dedup) are read from it by their own loaders in the app.
  YAML::Node document;

  std::vector<std::string> target_names() const;
  // This machine's folder for local files (the default audit folder, the HTTP
  // spool): the SQLite database's folder, or state.local_dir with PostgreSQL.
  const std::filesystem::path& local_dir() const { return local_dir_; }
  std::filesystem::path resolve(const std::string& relative) const;
  // The name of this instance in metrics, logs and the audit trail: state.instance
  // on PostgreSQL (the host name when not given), the host name on SQLite.
  std::string instance_name() const;
};

// gethostname(2), or "reportbridge" when it has none.
std::string host_name();

// Type-specific keys, by type (e.g. "csv_drop", "sqlite"), declared by the
// adapters (config::Registry, components.hpp).
using TargetSpecs = std::map<std::string, MapSpec>;
using SourceSpecs = std::map<std::string, MapSpec>;
struct ComponentSpecs {
  SourceSpecs sources;
  TargetSpecs targets;
};

// The common keys every target has (name, type, retry, writeback).
const MapSpec& common_target_spec();
// The common keys of the source (type, name, poll_interval, batch_size, late_row_window).
const MapSpec& common_source_spec();
// All top-level specs, for docs and `reportbridge config-keys`.
std::vector<const MapSpec*> daemon_specs();

std::optional<DaemonConfig> load_daemon_config(const std::string& path, const ComponentSpecs& specs,
                                               core::Diagnostics& diags);

}  // namespace reportbridge::config
