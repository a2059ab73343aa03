#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"

#include <algorithm>
#include <stdexcept>

namespace reportbridge::sqlite_store {

namespace {
constexpr const char* kSelectAfter =
    "SELECT seq, id, version, received_at, payload FROM submissions"
    " WHERE seq > ?1 ORDER BY seq LIMIT ?2";
constexpr const char* kSelectRange =
    "SELECT seq, id, version, received_at, payload FROM submissions"
    " WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";
constexpr const char* kUpsertStatus =
    "INSERT INTO submission_status (submission_id, state, reference, message, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (submission_id) DO UPDATE SET"
    " state = excluded.state, reference = excluded.reference, message = excluded.message,"
    " updated_at = excluded.updated_at";

core::SourceRow read_row(const store::Statement& q) {
  core::SourceRow r;
  r.seq = q.int64(0);
  r.id = q.text(1);
  r.version = q.int64(2);
  r.received_at = q.text(3);
  r.payload = q.text(4);
  return r;
}

// Ends a read transaction on scope exit.
struct ReadTransaction {
  explicit ReadTransaction(store::Database& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadTransaction() {
    try {
      db_.exec("COMMIT");
    } catch (...) {
    }
  }
  store::Database& db_;
};
}  // namespace

SqliteStoreSource::SqliteStoreSource(SqliteStoreConfig config) : config_(std::move(config)) {
  if (config_.media_root.empty()) config_.media_root = config_.path.parent_path() / "media";
}

store::Database& SqliteStoreSource::reader() {
  if (!reader_) {
    if (!std::filesystem::exists(config_.path))
      // Unavailable for now, not a fatal error: a store replaced by an export
      // or moved back comes back, and the daemon polls again after a pause.
      throw core::SourceUnavailable("submission store not found: " + config_.path.string(),
                                    std::chrono::seconds(1));
    reader_ = std::make_unique<store::Database>(config_.path.string(),
                                                store::Database::Mode::read_only);
    // Polls read the table once, in seq order: a small page cache does.
    reader_->exec("PRAGMA cache_size=-1024");
  }
  return *reader_;
}

std::vector<core::SourceRow> SqliteStoreSource::poll(const core::SourceCursor& cursor,
                                                     std::size_t limit) {
  std::vector<core::SourceRow> rows;
  auto& db = reader();
  ReadTransaction snapshot(db);
  // Late rows first: they are older and have waited longest.
  auto range = db.prepare(kSelectRange);
  for (const auto& gap : cursor.gaps) {
    range.bind(1, gap.first).bind(2, gap.last);
    while (range.step()) rows.push_back(read_row(range));
    range.reset();
  }
  auto after = db.prepare(kSelectAfter);
  after.bind(1, cursor.high_water).bind(2, static_cast<std::int64_t>(limit));
  while (after.step()) rows.push_back(read_row(after));
  return rows;
}

std::int64_t SqliteStoreSource::backlog(const core::SourceCursor& cursor) {
  auto& db = reader();
  auto q = db.prepare("SELECT count(*) FROM submissions WHERE seq > ?1");
  q.bind(1, cursor.high_water);
  return q.step() ? q.int64(0) : 0;
}

void SqliteStoreSource::write_status(std::span<const core::StatusRef> updates) {
  if (updates.empty()) return;
  if (!writer_)
    writer_ = std::make_unique<store::Database>(config_.path.string(),
                                                store::Database::Mode::read_write);
  // In submission id order (stable: a submission's statuses keep theirs), so
  // the upserts walk submission_status's key index once instead of touching a
  // random page each: with a large table most of them would be read and
  // written again per batch (its pages are 16 KiB in the app's store).
  std::vector<const core::StatusRef*> order;
  order.reserve(updates.size());
  for (const auto& u : updates) order.push_back(&u);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->submission_id < b->submission_id; });
  store::Transaction tx(*writer_);
  auto up = writer_->prepare(kUpsertStatus);
  for (const auto* p : order) {
    const auto& u = *p;
    up.bind(1, u.submission_id).bind(2, u.state);
    if (u.reference.empty())
      up.bind_null(3);
    else
      up.bind(3, u.reference);
    up.bind(4, u.message).bind(5, u.updated_at).run();
    up.reset();
  }
  tx.commit();
}

std::optional<core::SourceRow> SqliteStoreSource::latest(const std::string& submission_id) {
  auto q = reader().prepare(
      "SELECT seq, id, version, received_at, payload FROM submissions WHERE id = ?1"
      " ORDER BY version DESC LIMIT 1");
  q.bind(1, submission_id);
  if (!q.step()) return std::nullopt;
  return read_row(q);
}

std::optional<std::string> SqliteStoreSource::probe() const {
  try {
    if (!std::filesystem::exists(config_.path)) return "submission store not found: " + config_.path.string();
    store::Database db(config_.path.string(), store::Database::Mode::read_only);
    db.prepare("SELECT 1 FROM submissions LIMIT 1").step();
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

std::string SqliteStoreSource::attachment_path(const core::AttachmentRef& attachment) const {
  return resolve_under_root(config_.media_root, attachment.path).string();
}

std::filesystem::path resolve_under_root(const std::filesystem::path& root,
                                         const std::string& relative) {
  if (relative.empty()) throw std::runtime_error("attachment path is empty");
  for (unsigned char c : relative)
    if (c < 0x20 || c == 0x7f) throw std::runtime_error("attachment path has a control character");
  std::filesystem::path rel(relative);
  if (rel.is_absolute()) throw std::runtime_error("attachment path is absolute");
  for (const auto& part : rel)
    if (part == "..") throw std::runtime_error("attachment path climbs out with '..'");
  std::error_code ec;
  auto canonical_root = std::filesystem::canonical(root, ec);
  if (ec) throw std::runtime_error("media root not found: " + root.string());
  auto full = std::filesystem::canonical(canonical_root / rel, ec);
  if (ec) throw std::runtime_error("attachment file not found");
  auto [r, f] = std::mismatch(canonical_root.begin(), canonical_root.end(), full.begin(), full.end());
  if (r != canonical_root.end()) throw std::runtime_error("attachment path leaves the media root");
  if (!std::filesystem::is_regular_file(full)) throw std::runtime_error("attachment is not a regular file");
  return full;
}

}  // namespace reportbridge::sqlite_store
