#include "bridge/app/runtime.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/app/components.hpp"

namespace reportbridge::app {

core::Sink* Runtime::sink(const std::string& name) const {
  for (const auto& s : sinks)
    if (s->name() == name) return s.get();
  return nullptr;
}

namespace {

// Every mapping feeding one CSV target must give it the same fields in the
// same order (a CSV file has one header). XML targets are checked against
// their XSD instead.
void check_columns(const config::DaemonConfig& cfg, const mapping::MappingSet& set,
                   core::Diagnostics& diags) {
  for (const auto& t : cfg.targets) {
    if (t.type != "csv_drop") continue;
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
mapping::LoadOptions load_options(const config::DaemonConfig& c, core::Diagnostics& diags) {
  mapping::LoadOptions o;
  o.known_targets = c.target_names();
  std::ifstream in(c.schema_path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto doc = boost::json::parse(text.str(), ec);
    if (!ec) o.known_paths = mapping::schema_paths(doc);
  }
  for (const auto& t : c.targets) {
    auto it = builtin_targets().find(t.type);
    if (it == builtin_targets().end()) continue;
    if (it->second.field_check) {
      if (auto check = it->second.field_check(c, t)) o.target_field_checks[t.name] = std::move(check);
      continue;
    }
    if (!it->second.fields) continue;
    if (auto fields = it->second.fields(c, t, diags)) o.target_fields[t.name] = std::move(*fields);
  }
  return o;
}

}  // namespace

std::unique_ptr<Runtime> load_runtime(const std::string& config_path, core::Diagnostics& diags) {
  auto cfg = config::load_daemon_config(config_path, builtin_target_specs(), diags);
  if (!cfg) return nullptr;
  auto rt = std::make_unique<Runtime>();
  rt->config = std::move(*cfg);
  const auto& c = rt->config;

  rt->schema = schema::SubmissionSchema::load(c.schema_path.string(), diags);
  rt->audit = audit::load_audit_settings(c.document["audit"], c.file, c.base_dir,
                                         c.state_path.parent_path() / "audit", diags);
  if (auto sc = service::load_service_config(c.document, c.file, diags)) rt->service = *sc;
  if (const YAML::Node d = c.document["dedup"]; d && d.IsMap()) {
    auto ds = dedup::load_dedup_settings(d, c.file, diags);
    if (ds && ds->enabled) {
      if (!ds->reporter_key_file.empty()) ds->reporter_key_file = c.resolve(ds->reporter_key_file).string();
      rt->dedup_settings = std::move(*ds);
    }
  }
  auto set = mapping::MappingSet::load(c.mapping_files, load_options(c, diags), diags);
  if (set) {
    check_columns(c, *set, diags);
    rt->mappings = std::make_unique<mapping::MappingSet>(std::move(*set));
  }

  if (c.source.type == "http") {
    const auto& s = c.source.settings;
    http_store::HttpStoreConfig h;
    h.name = c.source.name;
    h.base_url = config::get_string(s, "base_url", "");
    if (s["token_file"]) h.token_file = c.resolve(config::get_string(s, "token_file", ""));
    if (s["ca_file"]) h.tls.ca_file = c.resolve(config::get_string(s, "ca_file", ""));
    if (s["client_cert"]) h.tls.client_cert = c.resolve(config::get_string(s, "client_cert", ""));
    if (s["client_key"]) h.tls.client_key = c.resolve(config::get_string(s, "client_key", ""));
    h.connect_timeout = config::get_duration(s, "connect_timeout", h.connect_timeout);
    h.read_timeout = config::get_duration(s, "read_timeout", h.read_timeout);
    h.total_timeout = config::get_duration(s, "request_timeout", h.total_timeout);
    h.page_limit_max = static_cast<std::size_t>(config::get_int(s, "page_size", 1000, c.file, diags, 1));
    h.max_connections = static_cast<std::size_t>(config::get_int(s, "max_connections", 4, c.file, diags, 1));
    h.backoff.base = config::get_duration(s, "backoff_base", h.backoff.base);
    h.backoff.cap = config::get_duration(s, "backoff_cap", h.backoff.cap);
    h.spool_dir = s["spool_dir"] ? c.resolve(config::get_string(s, "spool_dir", ""))
                                 : c.state_path.parent_path() / "spool";
    h.attachment_limits.max_bytes = config::get_size(s, "max_attachment_size", h.attachment_limits.max_bytes);
    try {
      auto http = std::make_unique<http_store::HttpStoreSource>(std::move(h));
      rt->http_source = http.get();
      rt->source = std::move(http);
    } catch (const std::exception& e) {
      auto p = config::position_of(c.file, s);
      diags.error(p.file, p.line, p.column, std::string("source: ") + e.what(), "config.bad_source");
      return nullptr;
    }
  } else {
    sqlite_store::SqliteStoreConfig sc;
    sc.name = c.source.name;
    sc.path = c.source.path;
    sc.media_root = c.source.media_root;
    auto sqlite = std::make_unique<sqlite_store::SqliteStoreSource>(sc);
    rt->sqlite_source = sqlite.get();
    rt->source = std::move(sqlite);
    if (!std::filesystem::exists(c.source.path))
      diags.warning(c.file, 0, 0, "submission store " + c.source.path.string() + " does not exist yet",
                    "config.store_missing");
  }

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

std::optional<Reload> reload(const Runtime& rt, core::Diagnostics& diags) {
  // The config file is read again in full and checked like at start-up.
  auto cfg = config::load_daemon_config(rt.config.file, builtin_target_specs(), diags);
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
  auto set = mapping::MappingSet::load(cfg->mapping_files, load_options(*cfg, diags), diags);
  if (!set) return std::nullopt;
  check_columns(*cfg, *set, diags);
  for (const auto& t : cfg->targets) {
    if (t.type == "csv_drop" && set->columns_for(t.name) != rt.mappings->columns_for(t.name))
      diags.error(cfg->file, t.position.line, t.position.column,
                  "reload would change the columns of CSV target '" + t.name +
                      "'; restart the service to change a file layout",
                  "reload.columns_changed");
  }
  if (diags.has_errors()) return std::nullopt;
  Reload r;
  r.mappings = std::make_unique<mapping::MappingSet>(std::move(*set));
  r.mapping_files = cfg->mapping_files;
  r.log_level = cfg->log_level;
  return r;
}

}  // namespace reportbridge::app
