#pragma once
// Where deduplication keeps its history (bridge/dedup): the storage seam
// between the Deduplicator's logic (fingerprints, grid cells, scores, the
// in-memory mirror of the newest rows) and the state database's tables
// dedup_verdicts, dedup_fingerprints, dedup_incidents and dedup_reporters.
//
// Each state store offers its own (StateStore::open_dedup_tables): the SQLite
// store on its connection, the PostgreSQL store on the connection its ingest
// transactions run on, so verdicts and index rows commit with the batch that
// judged them, on every instance of a fleet (issue #16: "dedup sees every
// instance's history").
//
// Rows are keyed for locality by a received-time bucket (received_ms >> 24,
// about 4.7 h), given by the caller. Not thread-safe: one per Deduplicator.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reportbridge::store {

// A stored verdict: numbers only, the explanation is rebuilt from them.
struct DedupVerdictRow {
  std::int64_t bucket = 0;
  std::string_view id;
  std::int64_t version = 0;
  int reason = 0;
  std::string_view of_id;    // empty: NULL
  std::string_view near_id;  // empty: NULL
  double score = 0;
  double x[6] = {0, 0, 0, 0, 0, 0};  // 0: NULL
  std::optional<std::string_view> reporter_key;
  std::int64_t received_ms = 0;
};

// A verdict read back (owning).
struct DedupStoredVerdict {
  int reason = 0;
  std::string of_id;
  std::string near_id;
  double score = 0;
  double x[6] = {0, 0, 0, 0, 0, 0};
  std::optional<std::string> reporter_key;
};

// A row of the related-report index. `bits` is the raw trigram set (bytes);
// views are valid for the call they are passed to.
struct DedupIncidentRow {
  std::int64_t bucket = 0;
  std::int64_t cell = 0;
  std::int64_t received_ms = 0;
  std::string_view id;
  std::string_view root_id;
  std::string_view category;
  double lat = 0;
  double lon = 0;
  std::int64_t incident_ms = 0;
  std::string_view bits;
};

class DedupTables {
 public:
  virtual ~DedupTables() = default;

  // Changes whenever rows a caller's in-memory copy may hold could have been
  // undone, or rows it lacks written by someone else: a transaction rolled
  // back (SQLite's rollback hook; a PostgreSQL ingest transaction that did
  // not commit) or another instance ingested meanwhile (the ingest lease
  // changed hands). A caller keeping a mirror drops it when this moves.
  virtual std::uint64_t generation() const = 0;

  // --- verdicts
  virtual std::optional<DedupStoredVerdict> find_verdict(std::int64_t bucket, std::string_view id,
                                                         std::int64_t version) = 0;
  // Without the bucket (the audit trail): the newest verdict for (id, version).
  virtual std::optional<DedupStoredVerdict> find_verdict_any(std::string_view id, std::int64_t version) = 0;
  // false (nothing written) when (bucket, id, version) has a verdict already.
  virtual bool put_verdict(const DedupVerdictRow& row) = 0;
  virtual void drop_verdict(std::int64_t bucket, std::string_view id, std::int64_t version) = 0;
  // The later copy of a superseded pair becomes a duplicate of `of_id`.
  virtual void mark_withdrawn(std::int64_t bucket, std::string_view id, std::int64_t version, int reason,
                              std::string_view of_id, double x1, double x2) = 0;

  // --- fingerprints: (id, received_ms) of the earliest row with `fp` in the
  // bucket received within [lo, hi], other than `not_id`.
  virtual std::optional<std::pair<std::string, std::int64_t>> find_fingerprint(std::int64_t bucket, std::uint64_t fp,
                                                                               std::int64_t lo, std::int64_t hi,
                                                                               std::string_view not_id) = 0;
  virtual void put_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms, std::string_view id) = 0;
  virtual void drop_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms,
                                std::string_view id) = 0;
  virtual std::optional<std::int64_t> newest_fingerprint_ms() = 0;
  // Every row with bucket >= from_bucket and received_ms >= from_ms.
  virtual void load_fingerprints(std::int64_t from_bucket, std::int64_t from_ms,
                                 const std::function<void(std::uint64_t fp, std::int64_t received_ms,
                                                          std::string_view id)>& each) = 0;

  // --- the related-report index: rows in any of `buckets`, `cells` and
  // `categories` received within [lo, hi], each passed to `each`.
  virtual void find_incidents(const std::vector<std::int64_t>& buckets, const std::vector<std::int64_t>& cells,
                              const std::vector<std::string_view>& categories, std::int64_t lo, std::int64_t hi,
                              const std::function<void(const DedupIncidentRow&)>& each) = 0;
  virtual void put_incident(const DedupIncidentRow& row) = 0;
  virtual void drop_incident(std::int64_t bucket, std::int64_t received_ms, std::string_view id) = 0;
  // Rows in buckets [first_bucket, last_bucket] hanging on `from` hang on `to`.
  virtual void reroot_incidents(std::string_view from, std::string_view to, std::int64_t first_bucket,
                                std::int64_t last_bucket) = 0;
  virtual std::optional<std::int64_t> newest_incident_ms() = 0;
  virtual void load_incidents(std::int64_t from_bucket, std::int64_t from_ms,
                              const std::function<void(const DedupIncidentRow&)>& each) = 0;

  // --- reporter keys, by keyed hash of an email or phone
  virtual std::optional<std::string> find_reporter(std::string_view hash) = 0;
  // Inserts, or moves last_seen_ms forward.
  virtual void put_reporter(std::string_view hash, std::string_view reporter_key, std::int64_t seen_ms) = 0;

  // --- savepoints inside the caller's transaction (one level)
  virtual void savepoint() = 0;
  virtual void rollback_to_savepoint() = 0;  // and releases it
  virtual void release_savepoint() = 0;

  // Deletes, in a transaction of its own, fingerprints, index rows and
  // verdicts received before cutoff_ms (bucket <= cutoff_bucket), and
  // reporter keys last seen before it. Returns the rows deleted.
  virtual std::size_t purge(std::int64_t cutoff_bucket, std::int64_t cutoff_ms) = 0;
};

}  // namespace reportbridge::store
