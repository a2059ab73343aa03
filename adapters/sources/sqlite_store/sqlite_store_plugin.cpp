#include "adapters/sources/sqlite_store/sqlite_store_plugin.hpp"

#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"

namespace reportbridge::sqlite_store {

namespace {

using config::ValueKind;

const config::MapSpec kSpec{
    "sqlite source",
    {{"path", ValueKind::string, true, "The app's SQLite submission store (read-only, but for submission_status)."},
     {"media_root", ValueKind::string, false, "Folder attachment paths are relative to (default: <store dir>/media)."}}};

std::unique_ptr<core::Source> create(const config::DaemonConfig& c, core::Diagnostics& diags) {
  const auto& s = c.source.settings;
  SqliteStoreConfig sc;
  sc.name = c.source.name;
  sc.path = c.resolve(config::get_string(s, "path", ""));
  if (s["media_root"]) sc.media_root = c.resolve(config::get_string(s, "media_root", ""));
  if (!std::filesystem::exists(sc.path))
    diags.warning(c.file, 0, 0, "submission store " + sc.path.string() + " does not exist yet",
                  "config.store_missing");
  return std::make_unique<SqliteStoreSource>(std::move(sc));
}

}  // namespace

config::SourceType source_type() { return {"sqlite", kSpec, create}; }

}  // namespace reportbridge::sqlite_store
