// Deduplication's tables on PostgreSQL (store::DedupTables; schema version 5
// in pg_state_store.cpp). Statements run on the store's connection, so what
// the ingest step records commits with its batch; the fleet shares the rows.
//
// Round trips: a verdict is inserted at once (whether it was new decides a
// replay), but fingerprints, index rows and reporter keys are held back and
// written in one statement per table (unnest of arrays) before anything reads
// or changes those tables, before a savepoint, and at the ingest
// transaction's commit (PgStateStore::flush_dedup). Rows held for a batch that
// rolled back are dropped (the generation moved). Reporter keys held back are
// answered from memory.
#include "bridge/pg_store/pg_state_store.hpp"

#include <map>

namespace reportbridge::pg_store {

using pg::Params;

class PgDedupTables final : public store::DedupTables {
 public:
  explicit PgDedupTables(PgStateStore& s) : s_(s), held_generation_(s.ingest_generation_) {
    s_.dedup_flush_ = [this] { flush(); };
  }
  ~PgDedupTables() override { s_.dedup_flush_ = nullptr; }
  PgDedupTables(const PgDedupTables&) = delete;
  PgDedupTables& operator=(const PgDedupTables&) = delete;

  std::uint64_t generation() const override { return s_.ingest_generation_; }

  std::optional<store::DedupStoredVerdict> find_verdict(std::int64_t bucket, std::string_view id,
                                                        std::int64_t version) override {
    return verdict_of(c().exec(std::string(kVerdictColumns) + " WHERE bucket = $1 AND id = $2 AND version = $3",
                               Params().add(bucket).add(id).add(version)));
  }

  std::optional<store::DedupStoredVerdict> find_verdict_any(std::string_view id, std::int64_t version) override {
    return verdict_of(c().exec(
        std::string(kVerdictColumns) + " WHERE id = $1 AND version = $2 ORDER BY bucket DESC LIMIT 1",
        Params().add(id).add(version)));
  }

  bool put_verdict(const store::DedupVerdictRow& r) override {
    Params p;
    p.add(r.bucket).add(r.id).add(r.version).add(r.reason).add_or_null(r.of_id).add_or_null(r.near_id).add(r.score);
    for (double x : r.x) {
      if (x != 0)
        p.add(x);
      else
        p.add_null();  // unset: NULL, read back as 0
    }
    if (r.reporter_key)
      p.add(*r.reporter_key);
    else
      p.add_null();
    p.add(r.received_ms);
    return c().exec("INSERT INTO dedup_verdicts (bucket, id, version, reason, of_id, near_id, score, x1, x2, x3, x4,"
                    " x5, x6, reporter_key, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                    " $13, $14, $15) ON CONFLICT DO NOTHING",
                    p)
               .affected() > 0;
  }

  void drop_verdict(std::int64_t bucket, std::string_view id, std::int64_t version) override {
    c().exec("DELETE FROM dedup_verdicts WHERE bucket = $1 AND id = $2 AND version = $3",
             Params().add(bucket).add(id).add(version));
  }

  void mark_withdrawn(std::int64_t bucket, std::string_view id, std::int64_t version, int reason,
                      std::string_view of_id, double x1, double x2) override {
    c().exec("UPDATE dedup_verdicts SET reason = $4, of_id = $5, near_id = NULL, score = 1, x1 = $6, x2 = $7,"
             " x3 = NULL, x4 = NULL, x5 = NULL, x6 = NULL WHERE bucket = $1 AND id = $2 AND version = $3",
             Params().add(bucket).add(id).add(version).add(reason).add(of_id).add(x1).add(x2));
  }

  std::optional<std::pair<std::string, std::int64_t>> find_fingerprint(std::int64_t bucket, std::uint64_t fp,
                                                                       std::int64_t lo, std::int64_t hi,
                                                                       std::string_view not_id) override {
    flush();
    auto r = c().exec(
        "SELECT id, received_ms FROM dedup_fingerprints WHERE bucket = $1 AND fp = $2 AND received_ms BETWEEN $3 AND"
        " $4 AND id <> $5 ORDER BY received_ms LIMIT 1",
        Params().add(bucket).add(static_cast<std::int64_t>(fp)).add(lo).add(hi).add(not_id));
    if (r.empty()) return std::nullopt;
    return std::make_pair(r.text(0, 0), r.int64(0, 1));
  }

  void put_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms, std::string_view id) override {
    held();
    fp_[0].add(bucket);
    fp_[1].add(static_cast<std::int64_t>(fp));
    fp_[2].add(received_ms);
    fp_[3].add(id);
    ++fp_rows_;
  }

  void drop_fingerprint(std::int64_t bucket, std::uint64_t fp, std::int64_t received_ms, std::string_view id) override {
    flush();
    c().exec("DELETE FROM dedup_fingerprints WHERE bucket = $1 AND fp = $2 AND received_ms = $3 AND id = $4",
             Params().add(bucket).add(static_cast<std::int64_t>(fp)).add(received_ms).add(id));
  }

  std::optional<std::int64_t> newest_fingerprint_ms() override {
    flush();
    return newest("SELECT max(received_ms) FROM dedup_fingerprints WHERE bucket = "
                  "(SELECT max(bucket) FROM dedup_fingerprints)");
  }

  void load_fingerprints(std::int64_t from_bucket, std::int64_t from_ms,
                         const std::function<void(std::uint64_t, std::int64_t, std::string_view)>& each) override {
    flush();
    auto r = c().exec("SELECT fp, received_ms, id FROM dedup_fingerprints WHERE bucket >= $1 AND received_ms >= $2",
                      Params().add(from_bucket).add(from_ms));
    for (int i = 0; i < r.rows(); ++i) each(static_cast<std::uint64_t>(r.int64(i, 0)), r.int64(i, 1), r.view(i, 2));
  }

  void find_incidents(const std::vector<std::int64_t>& buckets, const std::vector<std::int64_t>& cells,
                      const std::vector<std::string_view>& categories, std::int64_t lo, std::int64_t hi,
                      const std::function<void(const store::DedupIncidentRow&)>& each) override {
    flush();
    if (buckets.empty() || cells.empty() || categories.empty()) return;
    pg::ArrayColumn b, cl, k;
    for (auto v : buckets) b.add(v);
    for (auto v : cells) cl.add(v);
    for (auto v : categories) k.add(v);
    incidents(c().exec(std::string(kIncidentColumns) +
                           " WHERE bucket = ANY($1::bigint[]) AND cell = ANY($2::bigint[]) AND"
                           " category = ANY($3::text[]) AND received_ms BETWEEN $4 AND $5",
                       Params().add(b.literal()).add(cl.literal()).add(k.literal()).add(lo).add(hi)),
              each);
  }

  void put_incident(const store::DedupIncidentRow& r) override {
    held();
    inc_[0].add(r.bucket);
    inc_[1].add(r.cell);
    inc_[2].add(r.received_ms);
    inc_[3].add(r.id);
    inc_[4].add(r.root_id);
    inc_[5].add(r.category);
    inc_[6].add(r.lat);
    inc_[7].add(r.lon);
    inc_[8].add(r.incident_ms);
    inc_[9].add_bytes(r.bits);
    ++inc_rows_;
  }

  void drop_incident(std::int64_t bucket, std::int64_t received_ms, std::string_view id) override {
    flush();
    c().exec("DELETE FROM dedup_incidents WHERE bucket = $1 AND received_ms = $2 AND id = $3",
             Params().add(bucket).add(received_ms).add(id));
  }

  void reroot_incidents(std::string_view from, std::string_view to, std::int64_t first_bucket,
                        std::int64_t last_bucket) override {
    flush();
    c().exec("UPDATE dedup_incidents SET root_id = $1 WHERE bucket BETWEEN $3 AND $4 AND root_id = $2",
             Params().add(to).add(from).add(first_bucket).add(last_bucket));
  }

  std::optional<std::int64_t> newest_incident_ms() override {
    flush();
    return newest("SELECT max(received_ms) FROM dedup_incidents WHERE bucket = "
                  "(SELECT max(bucket) FROM dedup_incidents)");
  }

  void load_incidents(std::int64_t from_bucket, std::int64_t from_ms,
                      const std::function<void(const store::DedupIncidentRow&)>& each) override {
    flush();
    incidents(c().exec(std::string(kIncidentColumns) + " WHERE bucket >= $1 AND received_ms >= $2",
                       Params().add(from_bucket).add(from_ms)),
              each);
  }

  std::optional<std::string> find_reporter(std::string_view hash) override {
    held();
    if (auto it = reporters_.find(hash); it != reporters_.end()) return it->second.first;
    auto r = c().exec("SELECT reporter_key FROM dedup_reporters WHERE hash = $1", Params().add(hash));
    if (r.empty()) return std::nullopt;
    return r.text(0, 0);
  }

  void put_reporter(std::string_view hash, std::string_view key, std::int64_t seen_ms) override {
    held();
    auto it = reporters_.find(hash);
    if (it == reporters_.end())
      reporters_.emplace(std::string(hash), std::make_pair(std::string(key), seen_ms));
    else
      it->second.second = std::max(it->second.second, seen_ms);
  }

  // Writes what is held back, in one statement per table.
  void flush() {
    held();
    pg::Connection& conn = s_.conn();
    if (fp_rows_ > 0) {
      conn.exec("INSERT INTO dedup_fingerprints (bucket, fp, received_ms, id) SELECT * FROM unnest($1::bigint[],"
                " $2::bigint[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING",
                Params().add(fp_[0].literal()).add(fp_[1].literal()).add(fp_[2].literal()).add(fp_[3].literal()));
    }
    if (inc_rows_ > 0) {
      Params p;
      for (const auto& col : inc_) p.add(col.literal());
      conn.exec("INSERT INTO dedup_incidents (bucket, cell, received_ms, id, root_id, category, lat, lon, incident_ms,"
                " bits) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],"
                " $6::text[], $7::float8[], $8::float8[], $9::bigint[], $10::bytea[]) ON CONFLICT DO NOTHING",
                p);
    }
    if (!reporters_.empty()) {
      pg::ArrayColumn h, k, seen;
      for (const auto& [hash, v] : reporters_) {
        h.add(hash);
        k.add(v.first);
        seen.add(v.second);
      }
      conn.exec("INSERT INTO dedup_reporters (hash, reporter_key, last_seen_ms) SELECT * FROM unnest($1::text[],"
                " $2::text[], $3::bigint[]) ON CONFLICT (hash) DO UPDATE SET last_seen_ms ="
                " greatest(dedup_reporters.last_seen_ms, excluded.last_seen_ms)",
                Params().add(h.literal()).add(k.literal()).add(seen.literal()));
    }
    drop_held();
  }

  void savepoint() override {
    flush();
    c().exec_script("SAVEPOINT dedup_supersede");
  }
  void rollback_to_savepoint() override {
    drop_held();  // held rows since the savepoint are undone with it (flushed at savepoint())
    c().exec_script("ROLLBACK TO SAVEPOINT dedup_supersede; RELEASE SAVEPOINT dedup_supersede");
  }
  void release_savepoint() override {
    flush();
    c().exec_script("RELEASE SAVEPOINT dedup_supersede");
  }

  std::size_t purge(std::int64_t cutoff_bucket, std::int64_t cutoff_ms) override {
    flush();
    pg::Connection& conn = c();
    pg::Transaction tx(conn);
    std::int64_t n = 0;
    for (const char* table : {"dedup_fingerprints", "dedup_incidents", "dedup_verdicts"})
      n += conn.exec(std::string("DELETE FROM ") + table + " WHERE bucket <= $1 AND received_ms < $2",
                     Params().add(cutoff_bucket).add(cutoff_ms))
               .affected();
    n += conn.exec("DELETE FROM dedup_reporters WHERE last_seen_ms < $1", Params().add(cutoff_ms)).affected();
    tx.commit();
    return static_cast<std::size_t>(n);
  }

 private:
  static constexpr const char* kVerdictColumns =
      "SELECT reason, of_id, near_id, score, x1, x2, x3, x4, x5, x6, reporter_key FROM dedup_verdicts";
  static constexpr const char* kIncidentColumns =
      "SELECT id, root_id, category, lat, lon, incident_ms, bits, received_ms, bucket, cell FROM dedup_incidents";

  pg::Connection& c() { return s_.conn(); }

  // Drops what was held back for a batch that did not commit.
  void held() {
    if (held_generation_ == s_.ingest_generation_) return;
    drop_held();
    held_generation_ = s_.ingest_generation_;
  }
  void drop_held() {
    for (auto& col : fp_) col = pg::ArrayColumn();
    for (auto& col : inc_) col = pg::ArrayColumn();
    fp_rows_ = inc_rows_ = 0;
    reporters_.clear();
  }

  static std::optional<store::DedupStoredVerdict> verdict_of(const pg::Result& r) {
    if (r.empty()) return std::nullopt;
    store::DedupStoredVerdict v;
    v.reason = static_cast<int>(r.int64(0, 0));
    v.of_id = r.text(0, 1);
    v.near_id = r.text(0, 2);
    v.score = r.real(0, 3);
    for (int i = 0; i < 6; ++i) v.x[i] = r.real(0, 4 + i);
    if (!r.is_null(0, 10)) v.reporter_key = r.text(0, 10);
    return v;
  }

  std::optional<std::int64_t> newest(const char* sql) {
    auto r = c().exec(sql);
    if (r.empty() || r.is_null(0, 0)) return std::nullopt;
    return r.int64(0, 0);
  }

  static void incidents(const pg::Result& r, const std::function<void(const store::DedupIncidentRow&)>& each) {
    for (int i = 0; i < r.rows(); ++i) {
      const auto bits = r.bytes(i, 6);
      if (!bits) continue;
      store::DedupIncidentRow row;
      row.id = r.view(i, 0);
      row.root_id = r.view(i, 1);
      row.category = r.view(i, 2);
      row.lat = r.real(i, 3);
      row.lon = r.real(i, 4);
      row.incident_ms = r.int64(i, 5);
      row.bits = *bits;
      row.received_ms = r.int64(i, 7);
      row.bucket = r.int64(i, 8);
      row.cell = r.int64(i, 9);
      each(row);
    }
  }

  PgStateStore& s_;
  std::uint64_t held_generation_ = 0;
  pg::ArrayColumn fp_[4];
  std::size_t fp_rows_ = 0;
  pg::ArrayColumn inc_[10];
  std::size_t inc_rows_ = 0;
  std::map<std::string, std::pair<std::string, std::int64_t>, std::less<>> reporters_;
};

std::unique_ptr<store::DedupTables> PgStateStore::open_dedup_tables() { return std::make_unique<PgDedupTables>(*this); }

}  // namespace reportbridge::pg_store
