#pragma once
// The `audit:` section of the daemon config (docs/audit.md, docs/configuration.md).
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "bridge/audit/audit_log.hpp"
#include "bridge/config/yaml_spec.hpp"
#include "bridge/core/diagnostics.hpp"

namespace reportbridge::audit {

// The keys of `audit:`, for check_map and `reportbridge config-keys`.
const config::MapSpec& audit_spec();

// Reads `audit:` (`node` may be null: every default applies). Relative paths are
// resolved against `base_dir`; without `directory` the trail goes to
// `default_directory` (the app passes <state database folder>/audit). Problems
// are added to `diags` with file:line:col; the defaults stand in for bad values.
AuditSettings load_audit_settings(const YAML::Node& node, const std::string& file,
                                  const std::filesystem::path& base_dir,
                                  const std::filesystem::path& default_directory, core::Diagnostics& diags);

}  // namespace reportbridge::audit
