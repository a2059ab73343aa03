#pragma once
// Source: the app's SQLite submission store (shared/contracts/app-store.md §1).
//
// Reads `submissions` through a read-only connection, one read transaction per
// poll so the new rows and the late rows come from one snapshot. Writes only
// `submission_status`, through a second connection, as idempotent upserts.
//
// Config (`source:` in the daemon config, type `sqlite`):
//   path        the store file (required)
//   media_root  folder that attachment paths are relative to (default: <store dir>/media)
#include <filesystem>
#include <memory>
#include <string>

#include "bridge/core/source.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::sqlite_store {

struct SqliteStoreConfig {
  std::string name = "app";
  std::filesystem::path path;
  std::filesystem::path media_root;
};

class SqliteStoreSource : public core::Source {
 public:
  explicit SqliteStoreSource(SqliteStoreConfig config);

  const std::string& name() const override { return config_.name; }
  std::vector<core::SourceRow> poll(const core::SourceCursor& cursor, std::size_t limit) override;
  std::int64_t backlog(const core::SourceCursor& cursor) override;
  using core::Source::write_status;
  void write_status(std::span<const core::StatusRef> updates) override;
  std::string attachment_path(const core::AttachmentRef& attachment) const override;

  std::optional<core::SourceRow> latest(const std::string& submission_id) override;
  // Opens the store read-only on a connection of its own and reads one row of
  // `submissions`.
  std::optional<std::string> probe() const override;
  std::string location() const override { return config_.path.string(); }

 private:
  store::Database& reader();

  SqliteStoreConfig config_;
  std::unique_ptr<store::Database> reader_;
  std::unique_ptr<store::Database> writer_;
};

// Resolves a payload's relative attachment path under `root`, refusing anything
// that could escape it (absolute paths, "..", control characters, symlinks
// pointing outside). Throws std::runtime_error with the reason.
std::filesystem::path resolve_under_root(const std::filesystem::path& root,
                                         const std::string& relative);

}  // namespace reportbridge::sqlite_store
