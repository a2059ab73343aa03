#include "bridge/store/sqlite_dedup_tables.hpp"

#include <algorithm>

namespace reportbridge::store {
namespace {

// Tables are keyed for locality: fingerprints and the related index lead with
// a received-time bucket (2^24 ms, about 4.7 h), so inserts and lookups touch
// the few hot pages of the last hours, whatever the history size; rows hold
// their data in the key's B-tree (WITHOUT ROWID), so a lookup is one range
// scan. Verdicts are keyed by the bucket too (a replay carries the same
// received_at); they keep numbers only, the explanation is rebuilt on read.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS dedup_verdicts (
  bucket INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, reason INTEGER NOT NULL, of_id TEXT, near_id TEXT,
  score REAL NOT NULL, x1 REAL, x2 REAL, x3 REAL, x4 REAL, x5 REAL, x6 REAL,
  reporter_key TEXT, received_ms INTEGER NOT NULL,
  PRIMARY KEY (bucket, id, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_fingerprints (
  bucket INTEGER NOT NULL, fp INTEGER NOT NULL, received_ms INTEGER NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (bucket, fp, received_ms, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_incidents (
  bucket INTEGER NOT NULL, cell INTEGER NOT NULL, received_ms INTEGER NOT NULL, id TEXT NOT NULL,
  root_id TEXT NOT NULL, category TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
  incident_ms INTEGER NOT NULL, bits BLOB NOT NULL,
  PRIMARY KEY (bucket, cell, category, received_ms, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_reporters (
  hash TEXT PRIMARY KEY, reporter_key TEXT NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// Tables of the first layout (text explanations, rowid tables); they are
// replaced (their rows are dropped: duplicates and related reports are then
// found among submissions from the upgrade on).
constexpr const char* kOldLayoutCheck =
    "SELECT (SELECT COUNT(*) FROM pragma_table_info('dedup_verdicts')) > 0 AND "
    "(SELECT COUNT(*) FROM pragma_table_info('dedup_verdicts') WHERE name = 'bucket') = 0";
constexpr const char* kDropOldLayout = R"sql(
DROP TABLE IF EXISTS dedup_verdicts; DROP TABLE IF EXISTS dedup_fingerprints;
DROP TABLE IF EXISTS dedup_incidents;
)sql";

constexpr std::size_t kBucketsPerQuery = 2;     // find_cell's placeholders ?1, ?2
constexpr std::size_t kCellsPerQuery = 4;       // ?3 .. ?6
constexpr std::size_t kCategoriesPerQuery = 3;  // ?7 .. ?9

using Stmt = Statement;

// Resets a statement when a scope ends, also on exceptions.
struct ResetGuard {
  Stmt& st;
  ~ResetGuard() { st.reset(); }
};

void bind_text_or_null(Stmt& st, int index, std::string_view value) {
  if (value.empty())
    st.bind_null(index);
  else
    st.bind_static(index, value);
}

std::optional<std::int64_t> scalar_i64(Stmt& st) {
  ResetGuard g{st};
  if (st.step() && !st.is_null(0)) return st.int64(0);
  return std::nullopt;
}

class SqliteDedupTables final : public DedupTables {
 public:
  explicit SqliteDedupTables(Database& d) : db_(d) {
    bool old_layout = false;
    {
      auto old = db_.prepare(kOldLayoutCheck);
      old_layout = old.step() && old.int64(0) > 0;
    }
    if (old_layout) db_.exec(kDropOldLayout);
    db_.exec(kSchema);
    sqlite3* h = db_.handle();
    find_verdict_ = Stmt(h,
                         "SELECT reason, of_id, near_id, score, x1, x2, x3, x4, x5, x6, reporter_key FROM "
                         "dedup_verdicts WHERE bucket = ? AND id = ? AND version = ?");
    first_verdict_bucket_ = Stmt(h, "SELECT min(bucket) FROM dedup_verdicts");
    last_verdict_bucket_ = Stmt(h, "SELECT max(bucket) FROM dedup_verdicts");
    find_fp_ = Stmt(h,
                    "SELECT id, received_ms FROM dedup_fingerprints WHERE bucket = ? AND fp = ? AND received_ms "
                    "BETWEEN ? AND ? AND id <> ? ORDER BY received_ms LIMIT 1");
    find_cell_ = Stmt(h,
                      "SELECT id, root_id, category, lat, lon, incident_ms, bits, received_ms, bucket, cell "
                      "FROM dedup_incidents WHERE bucket IN (?1, ?2) AND cell IN (?3, ?4, ?5, ?6) "
                      "AND category IN (?7, ?8, ?9) AND received_ms BETWEEN ?10 AND ?11");
    find_reporter_ = Stmt(h, "SELECT reporter_key FROM dedup_reporters WHERE hash = ?");
    newest_fp_ = Stmt(h,
                      "SELECT max(received_ms) FROM dedup_fingerprints WHERE bucket = "
                      "(SELECT max(bucket) FROM dedup_fingerprints)");
    newest_incident_ = Stmt(h,
                            "SELECT max(received_ms) FROM dedup_incidents WHERE bucket = "
                            "(SELECT max(bucket) FROM dedup_incidents)");
    load_fp_ = Stmt(h, "SELECT fp, received_ms, id FROM dedup_fingerprints WHERE bucket >= ?1 AND received_ms >= ?2");
    load_incidents_ = Stmt(h,
                           "SELECT id, root_id, category, lat, lon, incident_ms, bits, received_ms, bucket, cell "
                           "FROM dedup_incidents WHERE bucket >= ?1 AND received_ms >= ?2");
    put_verdict_ = Stmt(h,
                        "INSERT OR IGNORE INTO dedup_verdicts (id, version, reason, of_id, near_id, score, x1, x2, "
                        "x3, x4, x5, x6, reporter_key, received_ms, bucket) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    put_fp_ = Stmt(h, "INSERT OR IGNORE INTO dedup_fingerprints (bucket, fp, received_ms, id) VALUES (?, ?, ?, ?)");
    put_incident_ = Stmt(h,
                         "INSERT OR IGNORE INTO dedup_incidents (bucket, cell, received_ms, id, root_id, category, "
                         "lat, lon, incident_ms, bits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    put_reporter_ = Stmt(h,
                         "INSERT INTO dedup_reporters (hash, reporter_key, last_seen_ms) VALUES (?, ?, ?) "
                         "ON CONFLICT (hash) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)");
    purge_fp_ = Stmt(h, "DELETE FROM dedup_fingerprints WHERE bucket <= ? AND received_ms < ?");
    purge_incidents_ = Stmt(h, "DELETE FROM dedup_incidents WHERE bucket <= ? AND received_ms < ?");
    purge_verdicts_ = Stmt(h, "DELETE FROM dedup_verdicts WHERE bucket <= ? AND received_ms < ?");
    purge_reporters_ = Stmt(h, "DELETE FROM dedup_reporters WHERE last_seen_ms < ?");
    drop_fp_ = Stmt(h, "DELETE FROM dedup_fingerprints WHERE bucket = ? AND fp = ? AND received_ms = ? AND id = ?");
    drop_incident_ = Stmt(h, "DELETE FROM dedup_incidents WHERE bucket = ? AND received_ms = ? AND id = ?");
    drop_verdict_ = Stmt(h, "DELETE FROM dedup_verdicts WHERE bucket = ? AND id = ? AND version = ?");
    reroot_incidents_ =
        Stmt(h, "UPDATE dedup_incidents SET root_id = ?1 WHERE bucket BETWEEN ?3 AND ?4 AND root_id = ?2");
    withdrawn_verdict_ = Stmt(h,
                              "UPDATE dedup_verdicts SET reason = ?4, of_id = ?5, near_id = NULL, score = 1, x1 = ?6, "
                              "x2 = ?7, x3 = NULL, x4 = NULL, x5 = NULL, x6 = NULL WHERE bucket = ?1 AND id = ?2 AND "
                              "version = ?3");
    // A rolled-back transaction may have held rows a mirror already has.
    sqlite3_rollback_hook(h, &SqliteDedupTables::on_rollback, this);
  }
  ~SqliteDedupTables() override { sqlite3_rollback_hook(db_.handle(), nullptr, nullptr); }
  SqliteDedupTables(const SqliteDedupTables&) = delete;
  SqliteDedupTables& operator=(const SqliteDedupTables&) = delete;

  std::uint64_t generation() const override { return generation_; }

  std::optional<DedupStoredVerdict> find_verdict(std::int64_t bucket, std::string_view id,
                                                 std::int64_t version) override {
    ResetGuard g{find_verdict_};
    find_verdict_.bind(1, bucket).bind_static(2, id).bind(3, version);
    if (!find_verdict_.step()) return std::nullopt;
    DedupStoredVerdict v;
    v.reason = static_cast<int>(find_verdict_.int64(0));
    v.of_id = std::string(find_verdict_.text_view(1));
    v.near_id = std::string(find_verdict_.text_view(2));
    v.score = find_verdict_.real(3);
    for (int i = 0; i < 6; ++i) v.x[i] = find_verdict_.real(4 + i);
    if (!find_verdict_.is_null(10)) v.reporter_key = std::string(find_verdict_.text_view(10));
    return v;
  }

  // Each bucket that holds verdicts, newest first (the key leads with the bucket).
  std::optional<DedupStoredVerdict> find_verdict_any(std::string_view id, std::int64_t version) override {
    const auto first = scalar_i64(first_verdict_bucket_), last = scalar_i64(last_verdict_bucket_);
    if (!first || !last) return std::nullopt;
    for (std::int64_t b = *last; b >= *first; --b)
      if (auto v = find_verdict(b, id, version)) return v;
    return std::nullopt;
  }

  bool put_verdict(const DedupVerdictRow& r) override {
    ResetGuard g{put_verdict_};
    put_verdict_.bind_static(1, r.id).bind(2, r.version).bind(3, r.reason);
    bind_text_or_null(put_verdict_, 4, r.of_id);
    bind_text_or_null(put_verdict_, 5, r.near_id);
    put_verdict_.bind(6, r.score);
    for (int i = 0; i < 6; ++i)
      if (r.x[i] != 0) put_verdict_.bind(7 + i, r.x[i]);  // unset: NULL, read back as 0
    if (r.reporter_key) put_verdict_.bind_static(13, *r.reporter_key);
    put_verdict_.bind(14, r.received_ms).bind(15, r.bucket);
    put_verdict_.run();
    return db_.changes() > 0;
  }

  void drop_verdict(std::int64_t bucket, std::string_view id, std::int64_t version) override {
    ResetGuard g{drop_verdict_};
    drop_verdict_.bind(1, bucket).bind_static(2, id).bind(3, version).run();
  }

  void mark_withdrawn(std::int64_t bucket, std::string_view id, std::int64_t version, int reason,
                      std::string_view of_id, double x1, double x2) override {
    ResetGuard g{withdrawn_verdict_};
    withdrawn_verdict_.bind(1, bucket).bind_static(2, id).bind(3, version).bind(4, reason).bind_static(5, of_id);
    withdrawn_verdict_.bind(6, x1).bind(7, x2).run();
  }

  std::optional<std::pair<std::string, std::int64_t>> find_fingerprint(std::int64_t bucket, std::uint64_t fp,
                                                                       std::int64_t lo, std::int64_t hi,
                                                                       std::string_view not_id) override {
    ResetGuard g{find_fp_};
    find_fp_.bind(1, bucket).bind(2, static_cast<std::int64_t>(fp)).bind(3, lo).bind(4, hi).bind_static(5, not_id);
    if (!find_fp_.step()) return std::nullopt;
    return std::make_pair(std::string(find_fp_.text_view(0)), find_fp_.int64(1));
  }

  void put_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms, std::string_view id) override {
    ResetGuard g{put_fp_};
    put_fp_.bind(1, bucket).bind(2, static_cast<std::int64_t>(fp)).bind(3, received_ms).bind_static(4, id).run();
  }

  void drop_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms, std::string_view id) override {
    ResetGuard g{drop_fp_};
    drop_fp_.bind(1, bucket).bind(2, static_cast<std::int64_t>(fp)).bind(3, received_ms).bind_static(4, id).run();
  }

  std::optional<std::int64_t> newest_fingerprint_ms() override { return scalar_i64(newest_fp_); }

  void load_fingerprints(std::int64_t from_bucket, std::int64_t from_ms,
                         const std::function<void(std::uint64_t, std::int64_t, std::string_view)>& each) override {
    ResetGuard g{load_fp_};
    load_fp_.bind(1, from_bucket).bind(2, from_ms);
    while (load_fp_.step())
      each(static_cast<std::uint64_t>(load_fp_.int64(0)), load_fp_.int64(1), load_fp_.text_view(2));
  }

  // One statement seeks every (bucket, cell, category) triple: up to
  // kBucketsPerQuery buckets, kCellsPerQuery cells and kCategoriesPerQuery
  // categories. Unused slots repeat a value already bound (SQLite drops
  // repeats from an IN list).
  void find_incidents(const std::vector<std::int64_t>& buckets, const std::vector<std::int64_t>& cells,
                      const std::vector<std::string_view>& cats, std::int64_t lo, std::int64_t hi,
                      const std::function<void(const DedupIncidentRow&)>& each) override {
    if (buckets.empty() || cells.empty() || cats.empty()) return;
    for (std::size_t bi = 0; bi < buckets.size(); bi += kBucketsPerQuery)
      for (std::size_t ci = 0; ci < cells.size(); ci += kCellsPerQuery)
        for (std::size_t ki = 0; ki < cats.size(); ki += kCategoriesPerQuery) {
          ResetGuard g{find_cell_};
          for (std::size_t k = 0; k < kBucketsPerQuery; ++k)
            find_cell_.bind(static_cast<int>(1 + k), bi + k < buckets.size() ? buckets[bi + k] : buckets[bi]);
          for (std::size_t k = 0; k < kCellsPerQuery; ++k)
            find_cell_.bind(static_cast<int>(1 + kBucketsPerQuery + k),
                            ci + k < cells.size() ? cells[ci + k] : cells[ci]);
          for (std::size_t k = 0; k < kCategoriesPerQuery; ++k)
            find_cell_.bind_static(static_cast<int>(7 + k), ki + k < cats.size() ? cats[ki + k] : cats[ki]);
          find_cell_.bind(10, lo).bind(11, hi);
          while (find_cell_.step()) each(incident_of(find_cell_));
        }
  }

  void put_incident(const DedupIncidentRow& r) override {
    ResetGuard g{put_incident_};
    put_incident_.bind(1, r.bucket).bind(2, r.cell).bind(3, r.received_ms).bind_static(4, r.id);
    put_incident_.bind_static(5, r.root_id).bind_static(6, r.category).bind(7, r.lat).bind(8, r.lon);
    put_incident_.bind(9, r.incident_ms).bind_blob_static(10, r.bits.data(), r.bits.size());
    put_incident_.run();
  }

  void drop_incident(std::int64_t bucket, std::int64_t received_ms, std::string_view id) override {
    ResetGuard g{drop_incident_};
    drop_incident_.bind(1, bucket).bind(2, received_ms).bind_static(3, id).run();
  }

  void reroot_incidents(std::string_view from, std::string_view to, std::int64_t first_bucket,
                        std::int64_t last_bucket) override {
    ResetGuard g{reroot_incidents_};
    reroot_incidents_.bind_static(1, to).bind_static(2, from).bind(3, first_bucket).bind(4, last_bucket).run();
  }

  std::optional<std::int64_t> newest_incident_ms() override { return scalar_i64(newest_incident_); }

  void load_incidents(std::int64_t from_bucket, std::int64_t from_ms,
                      const std::function<void(const DedupIncidentRow&)>& each) override {
    ResetGuard g{load_incidents_};
    load_incidents_.bind(1, from_bucket).bind(2, from_ms);
    while (load_incidents_.step()) each(incident_of(load_incidents_));
  }

  std::optional<std::string> find_reporter(std::string_view hash) override {
    ResetGuard g{find_reporter_};
    find_reporter_.bind_static(1, hash);
    if (!find_reporter_.step()) return std::nullopt;
    return std::string(find_reporter_.text_view(0));
  }

  void put_reporter(std::string_view hash, std::string_view key, std::int64_t seen_ms) override {
    ResetGuard g{put_reporter_};
    put_reporter_.bind_static(1, hash).bind_static(2, key).bind(3, seen_ms).run();
  }

  void savepoint() override { db_.exec("SAVEPOINT dedup_supersede"); }
  void rollback_to_savepoint() override { db_.exec("ROLLBACK TO dedup_supersede; RELEASE dedup_supersede"); }
  void release_savepoint() override { db_.exec("RELEASE dedup_supersede"); }

  std::size_t purge(std::int64_t cutoff_bucket, std::int64_t cutoff_ms) override {
    Transaction tx(db_);
    std::size_t n = 0;
    for (Stmt* st : {&purge_fp_, &purge_incidents_, &purge_verdicts_}) {
      ResetGuard g{*st};
      st->bind(1, cutoff_bucket).bind(2, cutoff_ms).run();
      n += static_cast<std::size_t>(db_.changes());
    }
    {
      ResetGuard g{purge_reporters_};
      purge_reporters_.bind(1, cutoff_ms).run();
      n += static_cast<std::size_t>(db_.changes());
    }
    tx.commit();
    return n;
  }

 private:
  static void on_rollback(void* self) { ++static_cast<SqliteDedupTables*>(self)->generation_; }

  // Columns: id, root_id, category, lat, lon, incident_ms, bits, received_ms, bucket, cell.
  static DedupIncidentRow incident_of(Stmt& st) {
    DedupIncidentRow r;
    r.id = st.text_view(0);
    r.root_id = st.text_view(1);
    r.category = st.text_view(2);
    r.lat = st.real(3);
    r.lon = st.real(4);
    r.incident_ms = st.int64(5);
    r.bits = st.blob_view(6);
    r.received_ms = st.int64(7);
    r.bucket = st.int64(8);
    r.cell = st.int64(9);
    return r;
  }

  Database& db_;
  std::uint64_t generation_ = 0;
  Stmt find_verdict_, first_verdict_bucket_, last_verdict_bucket_, find_fp_, find_cell_, find_reporter_, newest_fp_,
      newest_incident_, load_fp_, load_incidents_, put_verdict_, put_fp_, put_incident_, put_reporter_, purge_fp_,
      purge_incidents_, purge_verdicts_, purge_reporters_, drop_fp_, drop_incident_, drop_verdict_, reroot_incidents_,
      withdrawn_verdict_;
};

}  // namespace

std::unique_ptr<DedupTables> open_sqlite_dedup_tables(Database& db) { return std::make_unique<SqliteDedupTables>(db); }

}  // namespace reportbridge::store
