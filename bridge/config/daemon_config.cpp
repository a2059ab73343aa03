#include "bridge/config/daemon_config.hpp"

#include <unistd.h>

#include <algorithm>

#include "bridge/core/secret_file.hpp"

namespace reportbridge::config {

namespace {

const MapSpec kTopSpec{
    "config",
    {{"state", ValueKind::map, true, "The bridge's own state database."},
     {"source", ValueKind::map, true, "Where submissions come from."},
     {"schema", ValueKind::string, false,
      "Submission schema (JSON Schema) every payload is validated against. Default: schemas/submission.schema.json beside the config's parent folder."},
     {"mappings", ValueKind::scalar_list, true, "Mapping files (mappings/*.yaml)."},
     {"targets", ValueKind::list, true, "Legacy systems and drops that receive records."},
     {"writeback", ValueKind::map, false, "Writing statuses back to the app."},
     {"logging", ValueKind::map, false, "Log level."},
     {"retention", ValueKind::map, false, "How long personal data is kept in the state database."},
     {"audit", ValueKind::map, false, "The audit trail (docs/audit.md)."},
     {"health", ValueKind::map, false, "Health, readiness and metrics over HTTP (docs/operations.md)."},
     {"service", ValueKind::map, false, "Running under systemd: shutdown timeout, watchdog."},
     {"dedup", ValueKind::map, false, "Double submissions, related reports and reporter keys (docs/deduplication.md)."}}};

const MapSpec kRetentionSpec{
    "retention",
    {{"dead_letters", ValueKind::duration, false,
      "Erase the record copy of a dead letter this long after it failed for good (default 30d)."},
     {"check_every", ValueKind::duration, false, "How often the purge runs (default 1h)."}}};

const MapSpec kCircuitSpec{
    "target circuit",
    {{"failures", ValueKind::integer, false, "Failed batches in a row that open the circuit (default 5)."},
     {"cooldown", ValueKind::duration, false, "Wait before a single-item probe (default 30s)."},
     {"max_cooldown", ValueKind::duration, false, "The wait doubles per failed probe up to this (default 10m)."}}};

const MapSpec kStateSpec{
    "state",
    {{"type", ValueKind::string, false,
      "sqlite (default: one instance, embedded) or postgresql (a shared server; docs/operations.md).",
      {"sqlite", "postgresql"}},
     {"path", ValueKind::string, false, "sqlite: the state database file (created if missing, WAL mode). Required for sqlite."},
     {"conninfo", ValueKind::string, false,
      "postgresql: libpq connection string without the password, e.g. \"host=db1 port=5432 dbname=reportbridge user=bridge\". Required for postgresql."},
     {"sslmode", ValueKind::string, false,
      "postgresql: TLS to the server (default verify-full: encrypted, the server's certificate and name checked).",
      {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
     {"sslrootcert", ValueKind::string, false, "postgresql: CA certificate file the server's certificate is checked against."},
     {"password_file", ValueKind::string, false,
      "postgresql: file holding the password (owner-only, the rule of every secret file)."},
     {"password_credential", ValueKind::string, false,
      "postgresql: systemd credential holding the password ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=)."},
     {"migrate", ValueKind::string, false,
      "postgresql: auto (default: bring the schema up to date at start) or manual (refuse to start on an older schema; run `reportbridge state migrate`).",
      {"auto", "manual"}},
     {"instance", ValueKind::string, false,
      "postgresql: this instance's name among those sharing the database, in its metrics, logs and audit chain (default: the host name; give each instance on one host its own): letters, digits, '.', '_', '-'."},
     {"lease", ValueKind::duration, false,
      "postgresql: how long the ingest lease and a claimed batch hold an instance's work; another instance takes over a dead one's within it (default 30s)."},
     {"local_dir", ValueKind::string, false,
      "postgresql: this machine's folder for local files (default audit folder, HTTP spool). Required for postgresql."}}};

// The keys every source has; each source type adds its own (its SourceType spec).
const MapSpec kSourceSpec{
    "source",
    {{"type", ValueKind::string, true, "Source type: one of the source sections below (e.g. sqlite, http)."},
     {"name", ValueKind::string, false, "Name used for the cursor and in logs (default: app)."},
     {"poll_interval", ValueKind::duration, false, "Wait between polls when idle (default 1s)."},
     {"batch_size", ValueKind::integer, false, "Rows read and committed per batch (default 1000, at most 1000: what a batch holds in memory stays bounded)."},
     {"late_row_window", ValueKind::duration, false,
      "How long a seq jumped over is awaited before it is given up (default 10m)."}}};

const MapSpec kWritebackSpec{
    "writeback",
    {{"enabled", ValueKind::boolean, false, "Write statuses to the app's submission_status (default true)."},
     {"batch_size", ValueKind::integer, false,
      "Statuses written per pass, in submission id order, in transactions of 5,000 in the app's store (default 25000)."},
     {"max_delay", ValueKind::duration, false,
      "How long a status may wait for a fuller pass (default 1s; 0: write each one at once)."}}};

const MapSpec kLoggingSpec{
    "logging", {{"level", ValueKind::string, false, "trace, debug, info (default), warn, error.",
                 {"trace", "debug", "info", "warn", "error"}}}};

const MapSpec kCommonTargetSpec{
    "target",
    {{"name", ValueKind::string, true, "Unique target name, used by mappings."},
     {"type", ValueKind::string, true, "Target type, e.g. csv_drop."},
     {"retry", ValueKind::map, false, "Retry policy: max_attempts, base, cap."},
     {"writeback", ValueKind::map, false, "What the resident is told once delivered: message, reference."},
     {"circuit", ValueKind::map, false, "Circuit breaker: failures, cooldown, max_cooldown."},
     {"related", ValueKind::string, false,
      "A report related to an earlier one (dedup): link (default; fills a RelatedReference field), hold (dead letter"
      " for review, released by replay) or plain.",
      {"link", "hold", "plain"}},
     {"reporter_key", ValueKind::boolean, false,
      "Fill a ReporterKey field with the reporter's pseudonymous key (dedup.reporter_key_file), so the target can"
      " reuse its person record (default false; never for anonymous reports)."}}};

const MapSpec kRetrySpec{
    "target retry",
    {{"max_attempts", ValueKind::integer, false, "Attempts before a dead letter (default 10)."},
     {"base", ValueKind::duration, false, "First backoff (default 1s), doubled each attempt, with jitter."},
     {"cap", ValueKind::duration, false, "Longest backoff (default 5m)."}}};

const MapSpec kTargetWritebackSpec{
    "target writeback",
    {{"message", ValueKind::string, false, "Short text for the resident once delivered."},
     {"reference", ValueKind::boolean, false, "Write the target's reference back (default false)."}}};

}  // namespace

const MapSpec& common_target_spec() { return kCommonTargetSpec; }
const MapSpec& common_source_spec() { return kSourceSpec; }

std::vector<const MapSpec*> daemon_specs() {
  return {&kTopSpec,          &kStateSpec, &kSourceSpec,          &kWritebackSpec, &kLoggingSpec,
          &kRetentionSpec,    &kCommonTargetSpec, &kRetrySpec, &kTargetWritebackSpec, &kCircuitSpec};
}

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !*host) return "reportbridge";
  return host;
}

std::string DaemonConfig::instance_name() const {
  return postgres && !postgres->instance.empty() ? postgres->instance : host_name();
}

std::vector<std::string> DaemonConfig::target_names() const {
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.name);
  return names;
}

std::filesystem::path DaemonConfig::resolve(const std::string& relative) const {
  std::filesystem::path p(relative);
  if (p.is_absolute()) return p;
  return (base_dir / p).lexically_normal();
}

namespace {

// The common spec plus the type's own keys; an unknown type is reported (with
// the nearest known one) and leaves only the common keys allowed.
MapSpec merged_spec(const MapSpec& common, const std::map<std::string, MapSpec>& types, const std::string& type,
                    const YAML::Node& node, const std::string& path, const char* what, const char* code,
                    core::Diagnostics& diags) {
  MapSpec merged = common;
  auto spec = types.find(type);
  if (spec == types.end() && node["type"]) {  // (a missing `type` is reported as a missing key)
    std::vector<std::string> known;
    for (const auto& [k, v] : types) known.push_back(k);
    auto tp = position_of(path, node["type"] ? node["type"] : node);
    diags.error(tp.file, tp.line, tp.column,
                core::with_suggestion(std::string("unknown ") + what + " type '" + type + "'", type, known), code);
  } else if (spec != types.end()) {
    merged.what = type + " " + what;
    merged.keys.insert(merged.keys.end(), spec->second.keys.begin(), spec->second.keys.end());
  }
  return merged;
}

}  // namespace

std::optional<DaemonConfig> load_daemon_config(const std::string& path, const ComponentSpecs& specs,
                                               core::Diagnostics& diags) {
  auto root = load_yaml_file(path, diags);
  if (!root) return std::nullopt;
  const std::size_t before = diags.size();
  DaemonConfig c;
  c.file = path;
  c.document = *root;
  c.base_dir = std::filesystem::absolute(path).parent_path();
  check_map(*root, kTopSpec, path, diags);
  if (!root->IsMap()) return std::nullopt;

  if (auto s = (*root)["state"]; s && s.IsMap() && check_map(s, kStateSpec, path, diags)) {
    c.state_type = get_string(s, "type", "sqlite");
    const Position at = position_of(path, s);
    auto need = [&](const char* key) {
      if (s[key]) return true;
      diags.error(at.file, at.line, at.column, std::string("state: type ") + c.state_type + " needs '" + key + "'",
                  "config.missing_key");
      return false;
    };
    auto only_for = [&](const char* key, const char* type) {
      if (!s[key]) return;
      const Position p = position_of(path, s[key]);
      diags.error(p.file, p.line, p.column, std::string("state: '") + key + "' applies to type " + type + " only",
                  "config.key_not_for_type");
    };
    if (c.state_type == "postgresql") {
      only_for("path", "sqlite");
      PostgresStateSettings pg;
      if (need("conninfo")) pg.conninfo = get_string(s, "conninfo", "");
      if (need("local_dir")) c.local_dir_ = c.resolve(get_string(s, "local_dir", ""));
      // The password never sits in the config or on a command line.
      for (const char* word : {"password", "passfile"})
        if (pg.conninfo.find(std::string(word) + "=") != std::string::npos ||
            pg.conninfo.find(std::string(word) + " =") != std::string::npos) {
          const Position p = position_of(path, s["conninfo"]);
          diags.error(p.file, p.line, p.column,
                      std::string("state.conninfo must not hold '") + word +
                          "': give the password with state.password_file or state.password_credential",
                      "config.secret_in_config");
        }
      if (s["password_file"] && s["password_credential"]) {
        const Position p = position_of(path, s["password_credential"]);
        diags.error(p.file, p.line, p.column, "state: give password_file or password_credential, not both",
                    "config.conflicting_keys");
      }
      pg.sslmode = get_string(s, "sslmode", pg.sslmode);
      if (s["sslrootcert"]) pg.sslrootcert = c.resolve(get_string(s, "sslrootcert", ""));
      if (s["password_file"]) {
        pg.password_file = c.resolve(get_string(s, "password_file", ""));
        // The one rule for secret files, at `check` already (and again at each connection).
        try {
          core::check_secret_file(pg.password_file, "state.password_file");
        } catch (const core::SecretFileError& e) {
          const Position p = position_of(path, s["password_file"]);
          diags.error(p.file, p.line, p.column, e.what(), "config.secret_file");
        }
      }
      pg.password_credential = get_string(s, "password_credential", "");
      pg.migrate_on_start = get_string(s, "migrate", "auto") == "auto";
      pg.instance = get_string(s, "instance", "");
      // The name goes into batch keys (file names at drops), the audit folder
      // of the instance and label values: a plain word.
      if (s["instance"] && (pg.instance.empty() || pg.instance.size() > 64 || pg.instance.front() == '.' ||
                            !std::all_of(pg.instance.begin(), pg.instance.end(), [](char ch) {
                              return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                                     ch == '.' || ch == '_' || ch == '-';
                            }))) {
        const Position p = position_of(path, s["instance"]);
        diags.error(p.file, p.line, p.column,
                    "state.instance must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'",
                    "yaml.bad_value");
      }
      pg.lease = get_duration(s, "lease", pg.lease);
      c.postgres = std::move(pg);
    } else {
      for (const char* key : {"conninfo", "sslmode", "sslrootcert", "password_file", "password_credential", "migrate",
                              "instance", "lease", "local_dir"})
        only_for(key, "postgresql");
      if (need("path")) c.state_path = c.resolve(get_string(s, "path", ""));
      c.local_dir_ = c.state_path.parent_path();
    }
  }

  if (auto s = (*root)["source"]; s && s.IsMap()) {
    c.source.type = get_string(s, "type", "");
    const MapSpec merged = merged_spec(kSourceSpec, specs.sources, c.source.type, s, path, "source",
                                       "config.unknown_source_type", diags);
    check_map(s, merged, path, diags);
    c.source.name = get_string(s, "name", "app");
    c.source.settings = s;
    c.source.position = position_of(path, s);
    c.source.poll_interval = get_duration(s, "poll_interval", c.source.poll_interval);
    c.source.batch_size = static_cast<std::size_t>(
        get_int(s, "batch_size", static_cast<std::int64_t>(c.source.batch_size), path, diags, 1));
    c.source.late_row_window = get_duration(s, "late_row_window", c.source.late_row_window);
  }

  c.schema_path = (*root)["schema"] ? c.resolve(get_string(*root, "schema", ""))
                                    : c.resolve("../schemas/submission.schema.json");

  if (auto m = (*root)["mappings"]; m && m.IsSequence()) {
    for (const auto& item : m) {
      if (!item.IsScalar()) {
        auto p = position_of(path, item);
        diags.error(p.file, p.line, p.column, "each mapping must be a file path", "yaml.wrong_type");
        continue;
      }
      c.mapping_files.push_back(c.resolve(item.Scalar()).string());
    }
  }

  if (auto ts = (*root)["targets"]; ts && ts.IsSequence()) {
    for (const auto& t : ts) {
      auto p = position_of(path, t);
      if (!t.IsMap()) {
        diags.error(p.file, p.line, p.column, "each target must be a map", "yaml.expected_map");
        continue;
      }
      TargetSettings target;
      target.name = get_string(t, "name", "");
      target.type = get_string(t, "type", "");
      target.settings = static_cast<const YAML::Node&>(t);
      target.position = p;
      const MapSpec merged = merged_spec(kCommonTargetSpec, specs.targets, target.type, t, path, "target",
                                         "config.unknown_target_type", diags);
      check_map(t, merged, path, diags);
      if (auto r = t["retry"]; r && r.IsMap() && check_map(r, kRetrySpec, path, diags)) {
        target.retry.max_attempts = static_cast<int>(get_int(r, "max_attempts", 10, path, diags, 1));
        target.retry.base = get_duration(r, "base", target.retry.base);
        target.retry.cap = get_duration(r, "cap", target.retry.cap);
      }
      if (auto w = t["writeback"]; w && w.IsMap() && check_map(w, kTargetWritebackSpec, path, diags)) {
        target.writeback.message = get_string(w, "message", target.writeback.message);
        target.writeback.include_reference = get_bool(w, "reference", false);
      }
      target.related = get_string(t, "related", "link");
      target.reporter_key = get_bool(t, "reporter_key", false);
      if (auto cb = t["circuit"]; cb && cb.IsMap() && check_map(cb, kCircuitSpec, path, diags)) {
        target.circuit.failures = static_cast<int>(get_int(cb, "failures", 5, path, diags, 1));
        target.circuit.cooldown = get_duration(cb, "cooldown", target.circuit.cooldown);
        target.circuit.max_cooldown = get_duration(cb, "max_cooldown", target.circuit.max_cooldown);
      }
      for (const auto& other : c.targets)
        if (other.name == target.name)
          diags.error(p.file, p.line, p.column, "target name '" + target.name + "' is used twice",
                      "config.duplicate_target");
      c.targets.push_back(std::move(target));
    }
  }

  if (auto w = (*root)["writeback"]; w && w.IsMap() && check_map(w, kWritebackSpec, path, diags)) {
    c.writeback_enabled = get_bool(w, "enabled", true);
    c.writeback_batch = static_cast<std::size_t>(
        get_int(w, "batch_size", static_cast<std::int64_t>(c.writeback_batch), path, diags, 1));
    c.writeback_max_delay = get_duration(w, "max_delay", c.writeback_max_delay);
  }
  if (auto r = (*root)["retention"]; r && r.IsMap() && check_map(r, kRetentionSpec, path, diags)) {
    c.retention.dead_letters = get_duration(r, "dead_letters", c.retention.dead_letters);
    c.retention.check_every = get_duration(r, "check_every", c.retention.check_every);
  }
  if (auto l = (*root)["logging"]; l && l.IsMap() && check_map(l, kLoggingSpec, path, diags))
    c.log_level = get_string(l, "level", "info");

  for (std::size_t i = before; i < diags.items().size(); ++i)
    if (diags.items()[i].severity == core::Severity::error) return std::nullopt;
  return c;
}

}  // namespace reportbridge::config
