#include "bridge/audit/audit_config.hpp"

namespace reportbridge::audit {

namespace {

const config::MapSpec kAuditSpec{
    "audit",
    {{"enabled", config::ValueKind::boolean, false,
      "Keep the audit trail (default true). Without it no lifecycle event is recorded."},
     {"directory", config::ValueKind::string, false,
      "Folder of the audit files (default: `audit` beside the state database). Nothing else may write there."},
     {"service_name", config::ValueKind::string, false,
      "Service identity written in every entry, with host, pid and a per-start instance id (default reportbridge)."},
     {"max_file_size", config::ValueKind::size, false,
      "Size at which audit.jsonl is rotated to audit-<first seq>-<time>.jsonl (default 64MiB, at least 4KiB). "
      "Rotated files are never deleted: archiving them is for operations."},
     {"fsync", config::ValueKind::string, false,
      "When written entries are forced to disk: `interval` (default; at most every fsync_interval), "
      "`always` (after every batch), `never` (left to the kernel).",
      {"interval", "always", "never"}},
     {"fsync_interval", config::ValueKind::duration, false,
      "Longest time between forced syncs with fsync: interval (default 1s)."},
     {"buffer_size", config::ValueKind::size, false,
      "Entries buffered before they are written even without the end of a batch (default 1MiB)."}}};

}  // namespace

const config::MapSpec& audit_spec() { return kAuditSpec; }

AuditSettings load_audit_settings(const YAML::Node& node, const std::string& file,
                                  const std::filesystem::path& base_dir,
                                  const std::filesystem::path& default_directory, core::Diagnostics& diags) {
  AuditSettings s;
  s.directory = default_directory;
  if (!node || node.IsNull()) return s;
  if (!config::check_map(node, kAuditSpec, file, diags)) return s;
  s.enabled = config::get_bool(node, "enabled", true);
  if (node["directory"]) {
    std::filesystem::path dir = config::get_string(node, "directory", "");
    if (dir.empty()) {
      auto p = config::position_of(file, node["directory"]);
      diags.error(p.file, p.line, p.column, "audit.directory must not be empty", "audit.empty_directory");
    } else {
      s.directory = dir.is_absolute() ? dir : (base_dir / dir).lexically_normal();
    }
  }
  s.service_name = config::get_string(node, "service_name", s.service_name);
  if (s.service_name.empty()) {
    auto p = config::position_of(file, node["service_name"]);
    diags.error(p.file, p.line, p.column, "audit.service_name must not be empty", "audit.empty_service_name");
    s.service_name = "reportbridge";
  }
  s.max_file_size = config::get_size(node, "max_file_size", s.max_file_size);
  if (s.max_file_size < 4096) {
    auto p = config::position_of(file, node["max_file_size"]);
    diags.error(p.file, p.line, p.column, "audit.max_file_size must be at least 4KiB", "audit.file_size_too_small");
    s.max_file_size = 4096;
  }
  const std::string fsync = config::get_string(node, "fsync", "interval");
  s.fsync = fsync == "always" ? FsyncPolicy::always : fsync == "never" ? FsyncPolicy::never : FsyncPolicy::interval;
  s.fsync_interval = config::get_duration(node, "fsync_interval", s.fsync_interval);
  s.buffer_size = static_cast<std::size_t>(config::get_size(node, "buffer_size", s.buffer_size));
  if (s.buffer_size == 0) s.buffer_size = 1;
  return s;
}

}  // namespace reportbridge::audit
