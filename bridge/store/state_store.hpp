#pragma once
// The bridge's own durable state (a SQLite database in WAL mode, apart from the
// app's store): source cursors, the ledger of processed (id, version), the
// quarantine, the per-target outbox with its delivery batches, and the queue of
// statuses to write back to the app.
//
// The ingest step moves the cursor, writes the ledger, the quarantine and the
// outbox in ONE transaction (see pipeline/ingest.cpp); the dispatcher claims and
// settles batches in their own transactions. A crash at any point therefore
// leaves a state from which a restart neither loses nor repeats anything.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/core/source.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::store {

struct QuarantineEntry {
  std::int64_t seq = 0;
  std::string submission_id;
  std::int64_t version = 0;
  std::string reason_code;  // invalid_payload | mapping_failed | unrouted
  std::string field;        // JSON pointer or target field, may be empty
  std::string detail;       // operator-facing, never the submitted values
  std::string mapping;      // mapping name when the mapping failed
  std::int64_t at_ms = 0;
};

struct OutboxEntry {
  std::string target;
  std::string submission_id;
  std::int64_t version = 0;
  std::int64_t seq = 0;  // the source row: groups one version's items across targets
  std::string mapping;
  std::string record_json;
  // Non-empty: enqueued as a dead letter with this reason (held for an
  // operator's review; `reportbridge replay` releases it).
  std::string held;
};

struct PendingSummary {
  std::int64_t ready = 0;             // pending and due now
  std::int64_t oldest_enqueued_ms = 0;  // enqueue time of the oldest ready item
};

struct TargetCounts {
  std::string target;
  std::int64_t pending = 0, in_flight = 0, delivered = 0, dead = 0;
};

struct RetryPolicy {
  int max_attempts = 10;
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds cap{300000};
};

// The status to write back once every target of a submission version settled.
struct WritebackRule {
  std::string message;            // e.g. "Passed to the neighbourhood policing team."
  bool include_reference = false; // write the target's reference back to the app
  // Remember the reference this target issues for each submission (table
  // legacy_refs): needed when a later version goes as an update of that record
  // (core::Sink::updates_by_reference), for the written-back reference, and for
  // linking related reports. Without any of these nothing reads them: the app
  // leaves it off and spares a random-keyed write per delivery.
  bool keep_references = true;
};

// A delivery that failed for good (or whose retries ran out): kept, with its
// rendered record, for an operator to replay after a fix.
struct DeadLetter {
  std::int64_t outbox_id = 0;
  std::string target;
  std::string submission_id;
  std::int64_t version = 0;
  std::string mapping;
  std::string last_error;
  std::int64_t settled_ms = 0;
  bool replayable = true;  // false when the record copy is gone (unreadable or purged)
};

// Which dead letters `replay` re-queues: all, one target's, one submission's, or one item.
struct ReplaySelector {
  std::string target;         // empty: any target
  std::string submission_id;  // empty: any submission
  std::int64_t outbox_id = 0; // 0: any item
};

struct ReplayDone {
  ReplaySelector selector;
  std::string requested_by;
  std::vector<DeadLetter> replayed;
};

// A target's circuit breaker, persisted so that `status` (another process) sees it.
struct TargetHealth {
  std::string target;
  std::string circuit = "closed";  // closed | open | half_open
  std::int64_t consecutive_failures = 0;
  std::int64_t opened_ms = 0;
  std::int64_t retry_at_ms = 0;
  std::string last_error;
};

struct Backlog {
  std::string target;
  std::int64_t pending = 0;
  std::int64_t oldest_enqueued_ms = 0;  // 0: nothing pending
};

struct WritebackItem {
  std::int64_t id = 0;
  std::int64_t version = 0;
  core::StatusUpdate update;
};

class StateStore {
 public:
  // Commits use WAL with synchronous=NORMAL (atomic, survives a process crash;
  // a commit lost to a power cut is read again from the source), except batch
  // claims, which are synced to disk before the batch is delivered.
  // `cache_mib` bounds this connection's page cache (memory stays flat however
  // long the backlog).
  explicit StateStore(const std::string& path, int cache_mib = 16);

  Database& db() { return db_; }

  // --- ingest (call inside a Transaction) ---
  core::SourceCursor load_cursor(const std::string& source);
  void save_cursor(const std::string& source, const core::SourceCursor& cursor);
  // Records (id, version) as processed with outcome "queued"; false when it
  // was already in the ledger (a replay: skip it).
  bool ledger_claim(const core::SourceRow& row, const std::string& content_sha256, std::int64_t at_ms);
  // rejected | unrouted | mapping_failed, for a version claimed in this transaction.
  void ledger_set_outcome(const core::SourceRow& row, const std::string& outcome);
  void quarantine(const QuarantineEntry& entry);
  void enqueue(const OutboxEntry& entry, std::int64_t now_ms);
  void enqueue_writeback(const core::StatusUpdate& update, std::int64_t version);
  // The newest reference a target (or, with target empty, any target) issued
  // for a submission; empty when none yet.
  std::string reference_for(const std::string& submission_id, const std::string& target = {});

  // A status that replaces `forwarded` when this version settles (e.g.
  // needs_review with its advice to the resident). Call inside the ingest transaction.
  void set_status_hint(const std::string& submission_id, std::int64_t version, const std::string& state,
                       const std::string& message);

  // --- dispatch ---
  // Each target's write-back rule (its message, whether its reference goes
  // back to the app), registered once at start-up by the dispatcher.
  void set_writeback_rule(const std::string& target, const WritebackRule& rule);
  // Counts the items claim_batch would take now, up to `enough` (the batch size).
  PendingSummary pending_summary(const std::string& target, std::int64_t now_ms, std::size_t enough);
  // The earliest retry time after `now_ms` among a target's pending items
  // (nullopt: none waits): when the dispatcher next has something to do
  // besides new items.
  std::optional<std::int64_t> next_attempt_after(const std::string& target, std::int64_t now_ms);
  // Claims up to max_items due items as a new batch (own transaction, synced to
  // disk: a power cut after a file is published must not lose the claim). Items
  // whose stored record cannot be read are moved to dead letters.
  std::optional<core::DeliveryBatch> claim_batch(const std::string& target, std::size_t max_items,
                                                 std::int64_t now_ms);
  // Batches claimed but never settled (the bridge died while delivering).
  std::vector<core::DeliveryBatch> open_batches(const std::string& target);
  // Settles a batch (own transaction): delivered items done, retries
  // rescheduled with backoff, rejects and exhausted retries to dead letters;
  // queues write-backs for submission versions whose every target settled.
  void settle_batch(const core::DeliveryBatch& batch,
                    const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now_ms,
                    const RetryPolicy& retry, const WritebackRule& rule);

  // --- dead letters ---
  std::vector<DeadLetter> dead_letters(const ReplaySelector& which, std::size_t limit);
  // Puts the selected dead letters back in the outbox for their own target
  // only (never another target), as new attempts due now. Returns them.
  std::vector<DeadLetter> replay(const ReplaySelector& which, std::int64_t now_ms);
  // `reportbridge replay` records a request; the daemon carries it out (so the
  // daemon, the only writer of the audit trail, records each replay).
  void request_replay(const ReplaySelector& which, const std::string& requested_by, std::int64_t now_ms);
  std::vector<ReplayDone> carry_out_replays(std::int64_t now_ms);
  // Retention: deletes the record copies (personal data) of dead letters
  // settled before `cutoff_ms`. Returns what was erased (the items stay, so
  // status and the audit trail still account for them).
  std::vector<DeadLetter> purge_dead_records(std::int64_t cutoff_ms);

  // --- target health ---
  void save_target_health(const TargetHealth& health, std::int64_t now_ms);
  std::vector<TargetHealth> target_health();
  std::vector<Backlog> backlog(const std::vector<std::string>& targets);

  // --- write-back ---
  std::vector<WritebackItem> pending_writebacks(std::size_t limit);
  void mark_writebacks_done(const std::vector<std::int64_t>& ids);

  // --- status ---
  std::vector<TargetCounts> target_counts();
  std::vector<QuarantineEntry> quarantined(std::size_t limit);
  std::int64_t quarantine_count();
  std::int64_t ledger_count();
  std::int64_t pending_writeback_count();

 private:
  void migrate();
  void queue_settled_writebacks(std::int64_t batch_id, std::int64_t now_ms, const WritebackRule& rule);

  Database db_;
  std::string instance_;
  std::vector<std::pair<std::string, WritebackRule>> writeback_rules_;  // random per state database, part of every batch key
  Statement ledger_insert_, ledger_outcome_, enqueue_, enqueue_record_, enqueue_writeback_, quarantine_;
};

// Milliseconds since the Unix epoch, and RFC 3339 UTC text for it.
std::int64_t now_ms();
std::string rfc3339_utc(std::int64_t unix_ms);

}  // namespace reportbridge::store
