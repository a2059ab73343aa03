#pragma once
// The embedded state store: one SQLite database in WAL mode (schema and cost
// model in docs/architecture.md, "The state database", and
// docs/performance.md).
//
//   ledger            one row per processed (id, version)
//   outbox_segments   each target's log: one row per (ingest batch, target)
//                     holding that batch's records for the target, compactly
//                     (record_codec.hpp), with per-item metadata
//   outbox_logs       per target: how far its log has been claimed, counters
//   delivery_batches  a claim: a range of a target's log (minus the items it
//                     skipped) plus any exception items it took
//   outbox_items      per-item rows for the exceptions only: retries, items
//                     waiting for an earlier version, dead letters (with
//                     their record copies in outbox_records)
//   writeback_chunks  statuses to write back, one row per settled batch
//   writeback_queue   the single ones: a status the app did not take (its
//                     attempts, when it is due), a duplicate's status
//   duplicate_links   duplicates and the report kept for each
//
// One connection per thread; connections of one process share a write lock
// (Database::share_write_lock), so a writer hands over at once.
#include <map>
#include <memory>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bridge/store/sqlite.hpp"
#include "bridge/store/state_store.hpp"
#include "bridge/store/writeback_rules.hpp"

namespace reportbridge::store {

class SqliteStateStore final : public StateStore {
 public:
  // Commits use WAL with synchronous=NORMAL (atomic, survives a process crash;
  // a commit lost to a power cut is read again from the source), except batch
  // claims, which are synced to disk before the batch is delivered.
  // `cache_kib` bounds this connection's page cache (memory stays flat however
  // long the backlog).
  explicit SqliteStateStore(const std::string& path, int cache_kib = 2048);
  ~SqliteStateStore() override;

  Database& db() { return db_; }
  Database* sqlite_database() override { return &db_; }
  std::unique_ptr<DedupTables> open_dedup_tables() override;

  core::SourceCursor load_cursor(const std::string& source) override;
  std::unique_ptr<IngestTransaction> begin_ingest() override;
  std::string reference_for(const std::string& submission_id, const std::string& target = {}) override;

  void set_writeback_rule(const std::string& target, const WritebackRule& rule) override;
  PendingSummary pending_summary(const std::string& target, std::int64_t now_ms, std::size_t enough) override;
  std::optional<std::int64_t> next_attempt_after(const std::string& target, std::int64_t now_ms) override;
  using StateStore::claim_batch;
  std::optional<core::DeliveryBatch> claim_batch(const std::string& target, ClaimLimits limits,
                                                 std::int64_t now_ms) override;
  std::vector<core::DeliveryBatch> open_batches(const std::string& target) override;
  void settle_batch(const core::DeliveryBatch& batch, const std::vector<core::DeliveryOutcome>& outcomes,
                    std::int64_t now_ms, const RetryPolicy& retry, const WritebackRule& rule) override;
  bool settles_items() const override { return true; }
  void settle_items(const core::DeliveryBatch& batch, const std::vector<std::size_t>& which,
                    const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now_ms, const RetryPolicy& retry,
                    const WritebackRule& rule) override;

  std::size_t release_settled_records() override;

  std::vector<DeadLetter> dead_letters(const ReplaySelector& which, std::size_t limit) override;
  std::vector<DeadLetter> replay(const ReplaySelector& which, std::int64_t now_ms) override;
  void request_replay(const ReplaySelector& which, const std::string& requested_by, std::int64_t now_ms) override;
  std::vector<ReplayDone> carry_out_replays(std::int64_t now_ms) override;
  std::vector<DeadLetter> purge_dead_records(std::int64_t cutoff_ms) override;

  void save_target_health(const TargetHealth& health, std::int64_t now_ms) override;
  std::vector<TargetHealth> target_health() override;
  std::vector<Backlog> backlog(const std::vector<std::string>& targets) override;

  std::size_t fill_duplicate_references(std::int64_t now_ms) override;

  WritebackPass pending_writebacks(std::size_t limit, std::int64_t now_ms = INT64_MAX) override;
  WritebackBacklog writeback_backlog(std::int64_t now_ms) override;
  void finish_writebacks(const std::vector<WritebackItem>& done,
                         const std::vector<std::pair<WritebackItem, std::int64_t>>& retry) override;

  std::vector<TargetCounts> target_counts() override;
  std::vector<QuarantineEntry> quarantined(std::size_t limit) override;
  std::int64_t quarantine_count() override;
  std::int64_t ledger_count() override;
  std::int64_t pending_writeback_count() override;

  // What the store knows of a claimed item beyond core::DeliveryItem.
  struct ItemInfo;
  struct BatchInfo;

 private:
  friend class SqliteIngest;
  void migrate();
  void migrate_v4_to_v5();
  BatchInfo& batch_info(const core::DeliveryBatch& batch);
  // `remember`: keep what the store knows of the batch for its settle (its holder's view).
  std::optional<core::DeliveryBatch> load_batch(std::int64_t id, const std::string& key, bool recovering,
                                                bool remember = true);
  void settle(const core::DeliveryBatch& batch, BatchInfo& info, const std::vector<std::size_t>& which,
              const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now_ms, const RetryPolicy& retry,
              const WritebackRule& rule);
  void prior_references(const std::string& target, core::DeliveryBatch& batch, const BatchInfo& info);
  // The reference written back for a delivered submission: the references of
  // the targets with writeback.reference, in config order.
  std::string written_reference(const std::string& submission_id);
  void fill_duplicates_of(const std::string& of_id, const std::string& reference, std::int64_t now_ms);

  Database db_;
  std::string instance_;  // random per state database, part of every batch key
  WritebackRules writeback_rules_;  // config order
  std::map<std::int64_t, std::unique_ptr<BatchInfo>> claimed_;  // open batches this connection claimed or loaded
  Statement ledger_insert_, ledger_outcome_, quarantine_, exception_open_;
  // Segment buffers kept from one ingest transaction to the next (take/give).
  std::vector<std::string> spare_buffers_;
  // Bytes of settled segments ingest may erase before its next new segment
  // (what it wrote, less what it erased): see SqliteIngest::flush.
  std::int64_t release_credit_ = 0;
  std::string take_buffer();
  void give_buffer(std::string&& b);
};

}  // namespace reportbridge::store
