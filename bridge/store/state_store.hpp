#pragma once
// The bridge's own durable state, as the pipeline sees it: source cursors, the
// ledger of processed (id, version), the quarantine, each target's outbox with
// its delivery batches, dead letters, and the statuses to write back to the app.
//
// StateStore is an interface. SqliteStateStore (sqlite_state_store.hpp) is the
// embedded implementation; a PostgreSQL one for several instances (issue #16)
// implements the same operations. What every implementation promises:
//
//   ingest    One IngestTransaction per batch: ledger, quarantine, statuses,
//             the records queued for each target and the moved cursor commit
//             together or not at all. A crash before commit repeats the batch;
//             after it, nothing in it is read again.
//   delivery  claim_batch takes due items of ONE target as a batch with a
//             stable key, durably (on disk before anything is published under
//             the key); open_batches hands back, after a crash, exactly the
//             batches claimed and never settled (same key, items, order);
//             settle_batch records every item's outcome in one transaction
//             (settle_items: some items', the batch staying open for the rest) and
//             queues the status of every submission version that is then
//             settled at each of its targets. A later version of a submission
//             is never claimed while an earlier one is still on its way to that
//             target; it goes with the reference the target issued for it.
//   write-back  pending_writebacks / finish_writebacks: statuses in the
//             order they were queued, each written back at least once; one
//             the app did not take waits on its own (attempts, due time) and
//             never holds back or re-sends the others.
//   dedup     duplicates keep a link to the report kept for them (their
//             status gets its reference once it has one); a later copy
//             ingested first is withdrawn while none of it has left.
//
// Several instances (#16): a claimed batch carries a fencing token
// (core::DeliveryBatch::fence); settle_batch refuses (throws LeaseLost) a batch
// this instance no longer holds, so an instance paused past its lease records
// nothing it does not own. The ingest transaction is the place for the ingest
// lease's fence. SQLite has one writer process, so its fence is the batch's
// own id and state.
//
// Cost model (docs/performance.md): durable bookkeeping is per batch, not per
// submission. Per submission version the SQLite implementation writes one
// ledger row; records go to the outbox as one segment per (ingest batch,
// target), a claim is one batch row over a range of the target's log, a settle
// one update of it; per-item rows exist only for the exceptions (retries, items
// waiting for an earlier version, dead letters and their record copies), and
// statuses are queued as one chunk per settled batch.
#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/core/source.hpp"
#include "bridge/store/dedup_tables.hpp"

namespace reportbridge::store {

class Database;

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

// One record queued for one target, as ingest hands it over.
struct QueuedRecord {
  std::string_view target;
  std::string_view mapping;
  // The record's field names, in order (the same for every record a mapping
  // makes for a target; the outbox keeps them once per segment).
  const std::vector<std::string>* field_names = nullptr;
  // The record's values, encoded with codec::put_values (record_codec.hpp).
  std::string_view values;
  // Non-empty: queued as a dead letter with this reason (held for an
  // operator's review; `reportbridge replay` releases it).
  std::string_view held;
};

// A status that outranks `forwarded` when the version settles (needs_review
// with its advice to the resident).
struct StatusHint {
  std::string state;
  std::string message;
};

// Everything one submission version queues for delivery (all its targets at once).
struct QueuedVersion {
  const core::SourceRow* row = nullptr;
  std::vector<QueuedRecord> records;
  std::optional<StatusHint> hint;
  // Non-empty: an edit of a duplicate, sent as an update of the record this
  // submission (the one kept for it) holds at each target; it waits while
  // that one is still on its way there.
  std::string_view update_of;
};

struct PendingSummary {
  std::int64_t ready = 0;               // claimable now (an upper bound: at most `enough`)
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

// How much one claim may take: items, and bytes of the records as the delivery
// holds them in memory (decoded: field structs, names and values; about eight
// times their encoded size), so what a delivery holds at once stays bounded
// whatever a sink's batch size.
struct ClaimLimits {
  std::size_t max_items = 1000;
  std::size_t max_bytes = 2u << 20;
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
  std::int64_t pending = 0;             // pending and in flight
  std::int64_t oldest_enqueued_ms = 0;  // 0: nothing pending
};

// One status to write back. Statuses are queued in chunks (one per settled
// batch; `in_chunk`, `id` names the chunk, many share it) or, the exceptions
// (a status the app did not take, a duplicate's status with the kept report's
// reference), one row each (`id` names the row).
struct WritebackItem {
  std::int64_t id = 0;
  bool in_chunk = false;
  std::int64_t version = 0;
  int attempts = 0;  // failed attempts so far
  std::int64_t queued_ms = 0;  // when it was queued (the order statuses are written in)
  core::StatusRef update;      // views into the WritebackPass it came in
};

// A pass of write-back: its statuses, and the text they view (the stored
// chunks' bodies, copied once, and the single statuses' strings). Its items
// are valid while the pass lives; it moves but is not copied. (Memory: a pass
// of 10,000 statuses takes ~2 MB as views, against ~7 MB as owned strings;
// docs/performance.md, change 10.)
class WritebackPass {
 public:
  WritebackPass() = default;
  WritebackPass(WritebackPass&&) = default;
  WritebackPass& operator=(WritebackPass&&) = default;
  WritebackPass(const WritebackPass&) = delete;
  WritebackPass& operator=(const WritebackPass&) = delete;

  std::vector<WritebackItem> items;
  // Keeps `text` for the pass's life; the view stays valid (a deque's
  // elements never move).
  std::string_view keep(std::string text) { return text_.emplace_back(std::move(text)); }

  std::size_t size() const { return items.size(); }
  bool empty() const { return items.empty(); }
  WritebackItem& operator[](std::size_t i) { return items[i]; }
  const WritebackItem& operator[](std::size_t i) const { return items[i]; }
  const WritebackItem& front() const { return items.front(); }
  const WritebackItem& back() const { return items.back(); }
  auto begin() const { return items.begin(); }
  auto end() const { return items.end(); }
  operator const std::vector<WritebackItem>&() const { return items; }  // NOLINT: its items

 private:
  std::deque<std::string> text_;
};

// What write-back has queued and due: how many statuses, and since when the
// oldest of them waits (Unix ms; 0 when none).
struct WritebackBacklog {
  std::int64_t statuses = 0;
  std::int64_t oldest_ms = 0;
};

// settle_batch or commit found that this instance no longer holds the work
// (another instance took over the batch after its lease ran out).
class LeaseLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One ingest batch: everything in it commits together or not at all. The
// destructor rolls back unless commit() was called.
class IngestTransaction {
 public:
  virtual ~IngestTransaction() = default;
  // Records (id, version) as processed with outcome "queued"; false when it
  // was already in the ledger (a replay: skip it).
  virtual bool claim_version(const core::SourceRow& row, std::string_view content_sha256, std::int64_t at_ms) = 0;
  // A hint before the claims: the rows this transaction is about to claim, so
  // that a store across a network (PostgreSQL) can ask which are already in
  // the ledger in one round trip instead of one per claim. Optional; claims of
  // rows not named here still work.
  virtual void will_claim(const std::vector<core::SourceRow>& /*rows*/) {}
  // rejected | unrouted | mapping_failed | duplicate, for a version claimed in this transaction.
  virtual void set_outcome(const core::SourceRow& row, std::string_view outcome) = 0;
  virtual void quarantine(const QuarantineEntry& entry) = 0;
  // A status to write back as soon as this batch commits.
  virtual void queue_status(const core::StatusUpdate& update, std::int64_t version) = 0;
  // The records of one version, for delivery. Call at most once per version.
  virtual void queue_version(const QueuedVersion& version, std::int64_t now_ms) = 0;
  // The newest reference a target (or, with target empty, any target) issued
  // for a submission; empty when none yet.
  virtual std::string reference_for(const std::string& submission_id, const std::string& target) = 0;
  virtual void save_cursor(const std::string& source, const core::SourceCursor& cursor) = 0;

  // --- duplicates (docs/deduplication.md) ---
  // Records that (submission_id, version) is a duplicate of of_id, told
  // `message`; its status is written again with of_id's reference once of_id
  // has one (StateStore::fill_duplicate_references, and when of_id settles).
  virtual void link_duplicate(const std::string& submission_id, std::int64_t version, const std::string& of_id,
                              const std::string& message, std::int64_t now_ms) = 0;
  // The submission kept for a duplicate (following a chain), if it is one.
  virtual std::optional<std::string> kept_for(const std::string& submission_id) = 0;
  // Duplicates of `from` become duplicates of `to` (`from` was withdrawn for `to`).
  virtual void relink_duplicates(const std::string& from, const std::string& to) = 0;
  // Withdraws a submission's queued records when none has left: only its
  // version 1 queued, every record still waiting for its first claim, none
  // held. False (nothing changed) otherwise. Call between begin_savepoint and
  // end_savepoint, so that what goes with it is undone with it.
  virtual bool withdraw_unsent(const std::string& submission_id) = 0;
  // A savepoint inside the batch: end_savepoint(false) undoes what was done
  // since begin_savepoint (in this store and in tables other parts of the
  // bridge keep in the same database), end_savepoint(true) keeps it.
  virtual void begin_savepoint() = 0;
  virtual void end_savepoint(bool keep) = 0;

  virtual void commit() = 0;
};

// A claimed batch's lease kept while its delivery runs (state stores shared by
// several instances): renewed in the background until this object goes, under
// the same fencing token. lost() once a renewal found the batch taken over or
// no longer open (settling it then throws LeaseLost, as without renewal).
class HeldLease {
 public:
  virtual ~HeldLease() = default;
  virtual bool lost() const = 0;
  // Not lost, and the last renewal (or the claim) is recent enough by this
  // process's monotonic clock that the lease cannot have run out yet: checked
  // before each request sent for the batch. After a pause past the lease it
  // is false at once, before any renewal could tell.
  virtual bool held_now() const = 0;
};

// A target's limits held for the whole fleet (state stores shared by several
// instances, issue #16): connection slots held with a lease, and a token
// bucket shared by every instance, both judged by the database server's clock.
// Every call throws StateUnavailable when the database cannot be reached: the
// caller then waits and asks again, it never goes on unthrottled.
struct TokenGrant {
  int granted = 0;            // tokens taken, 0..want
  std::int64_t wait_ms = 0;   // when granted < want: until the next token is due
  std::int64_t at_us = 0;     // the server's time of the grant (Unix microseconds)
};
struct FleetSlot {
  std::string target;
  int slot = -1;
  std::int64_t fence = 0;     // fencing token: a slot taken over has a new one
};
class FleetPermits {
 public:
  virtual ~FleetPermits() = default;
  // Up to `want` tokens of `target`'s bucket (refilled at `rate` per second, at
  // most `burst` held; a new bucket starts full).
  virtual TokenGrant take_tokens(const std::string& target, double rate, double burst, int want) = 0;
  // One of `cap` connection slots of `target`, held until released or until
  // `lease_ms` passed without a renewal (a dead holder's slot comes back);
  // nullopt when all are held.
  virtual std::optional<FleetSlot> acquire_slot(const std::string& target, int cap, std::int64_t lease_ms) = 0;
  // False when the slot was taken over (its lease ran out): stop using it.
  virtual bool renew_slot(const FleetSlot& slot, std::int64_t lease_ms) = 0;
  virtual void release_slot(const FleetSlot& slot) = 0;
  // The lease a sink holds its slots under: the state's `lease`, so that a dead
  // instance's slots come back as soon as its batches do.
  virtual std::int64_t slot_lease_ms() const = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The fleet-wide limits of targets; nullptr where one instance holds the
  // state (SQLite): the sinks' own limits are then the whole story.
  virtual FleetPermits* fleet_permits() { return nullptr; }

  // Keeps `batch`'s lease while its delivery runs, so that a slow but live
  // instance is not taken over; nullptr where batches hold no lease (SQLite).
  virtual std::unique_ptr<HeldLease> keep_lease(const core::DeliveryBatch&) { return nullptr; }

  // --- ingest ---
  virtual core::SourceCursor load_cursor(const std::string& source) = 0;
  virtual std::unique_ptr<IngestTransaction> begin_ingest() = 0;
  // As IngestTransaction::reference_for, outside a transaction (preview).
  virtual std::string reference_for(const std::string& submission_id, const std::string& target = {}) = 0;

  // --- dispatch ---
  // Every target's write-back rule, registered once at start-up in config
  // order (the order in which a written-back message is chosen).
  virtual void set_writeback_rule(const std::string& target, const WritebackRule& rule) = 0;
  // How many items claim_batch would take now, up to `enough` (the batch size).
  virtual PendingSummary pending_summary(const std::string& target, std::int64_t now_ms, std::size_t enough) = 0;
  // The earliest retry time after `now_ms` among a target's waiting items
  // (nullopt: none waits): when the dispatcher next has something to do
  // besides new items.
  virtual std::optional<std::int64_t> next_attempt_after(const std::string& target, std::int64_t now_ms) = 0;
  // Claims due items as a new batch, durably. Items whose stored record
  // cannot be read become dead letters. nullopt: nothing to deliver now.
  virtual std::optional<core::DeliveryBatch> claim_batch(const std::string& target, ClaimLimits limits,
                                                         std::int64_t now_ms) = 0;
  std::optional<core::DeliveryBatch> claim_batch(const std::string& target, std::size_t max_items,
                                                 std::int64_t now_ms) {
    return claim_batch(target, ClaimLimits{max_items, ClaimLimits{}.max_bytes}, now_ms);
  }
  // Batches claimed but never settled (the bridge died while delivering);
  // every item is in doubt.
  virtual std::vector<core::DeliveryBatch> open_batches(const std::string& target) = 0;
  // Settles a batch: delivered items done, retries rescheduled with backoff,
  // rejects and exhausted retries to dead letters; queues the statuses of
  // the versions now settled at every target. Throws LeaseLost when the batch
  // is no longer this instance's.
  virtual void settle_batch(const core::DeliveryBatch& batch, const std::vector<core::DeliveryOutcome>& outcomes,
                            std::int64_t now_ms, const RetryPolicy& retry, const WritebackRule& rule) = 0;
  // Settling items as they finish (#17: a slow call does not hold its batch).
  // settle_items settles some items of an open batch (`which`: indexes into
  // batch.items, outcomes[k] for which[k]), in one transaction, exactly as
  // settle_batch would settle them, while the others are still on their way:
  // those stay in the batch, and after a crash open_batches hands back only
  // them (still every one in doubt). The call that settles the batch's last
  // items closes it; settle_batch after some settle_items settles the rest
  // (the outcomes of items settled already are ignored). An item is settled
  // once. A store that cannot settle part of a batch answers false from
  // settles_items() (the default; settle_items then throws std::logic_error)
  // and the dispatcher settles its batches whole.
  virtual bool settles_items() const { return false; }
  virtual void settle_items(const core::DeliveryBatch& batch, const std::vector<std::size_t>& which,
                            const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now_ms,
                            const RetryPolicy& retry, const WritebackRule& rule);

  // Queues, for each duplicate still waiting, its status with the reference
  // the kept report now has. Returns how many kept reports had one.
  virtual std::size_t fill_duplicate_references(std::int64_t now_ms) = 0;

  // Erases the stored records of items that have settled (personal data is
  // kept no longer than needed). Ingest does this in each batch; call it
  // when ingest is idle and when the loops end. Returns how many stores of
  // records (SQLite: segments) were erased.
  virtual std::size_t release_settled_records() = 0;

  // --- dead letters ---
  virtual std::vector<DeadLetter> dead_letters(const ReplaySelector& which, std::size_t limit) = 0;
  // Puts the selected dead letters back in the outbox for their own target
  // only (never another target), as new attempts due now. Returns them.
  virtual std::vector<DeadLetter> replay(const ReplaySelector& which, std::int64_t now_ms) = 0;
  // `reportbridge replay` records a request; the daemon carries it out (so the
  // daemon, the only writer of the audit trail, records each replay).
  virtual void request_replay(const ReplaySelector& which, const std::string& requested_by, std::int64_t now_ms) = 0;
  virtual std::vector<ReplayDone> carry_out_replays(std::int64_t now_ms) = 0;
  // Retention: deletes the record copies (personal data) of dead letters
  // settled before `cutoff_ms`. Returns what was erased (the items stay, so
  // status and the audit trail still account for them).
  virtual std::vector<DeadLetter> purge_dead_records(std::int64_t cutoff_ms) = 0;

  // --- target health ---
  virtual void save_target_health(const TargetHealth& health, std::int64_t now_ms) = 0;
  virtual std::vector<TargetHealth> target_health() = 0;
  virtual std::vector<Backlog> backlog(const std::vector<std::string>& targets) = 0;

  // --- write-back ---
  // Statuses due at `now_ms`: the single ones first, then whole chunks,
  // oldest first, until at least `limit` statuses (or none is left).
  // The pass owns the text its items view.
  virtual WritebackPass pending_writebacks(std::size_t limit, std::int64_t now_ms = INT64_MAX) = 0;
  // How many statuses are due at `now_ms` and the oldest one's queue time,
  // cheaply (without reading them): the worker waits for a full pass or for
  // writeback.max_delay.
  virtual WritebackBacklog writeback_backlog(std::int64_t now_ms) = 0;
  // Settles a pass of write-back, in one transaction: `done` (written, or
  // refused for good) are removed; each of `retry` stays queued on its own,
  // one attempt more, due at its time (Unix ms). Every status of a chunk
  // must be in one of them.
  virtual void finish_writebacks(const std::vector<WritebackItem>& done,
                                 const std::vector<std::pair<WritebackItem, std::int64_t>>& retry) = 0;
  void mark_writebacks_done(const std::vector<WritebackItem>& done) { finish_writebacks(done, {}); }

  // --- status ---
  virtual std::vector<TargetCounts> target_counts() = 0;
  virtual std::vector<QuarantineEntry> quarantined(std::size_t limit) = 0;
  virtual std::int64_t quarantine_count() = 0;
  virtual std::int64_t ledger_count() = 0;
  virtual std::int64_t pending_writeback_count() = 0;

  // The SQLite database behind this store, for the parts of the bridge that
  // keep tables of their own in it (deduplication); nullptr for a store that
  // is not SQLite.
  virtual Database* sqlite_database() { return nullptr; }

  // Deduplication's tables in this state (bridge/store/dedup_tables.hpp), on
  // this store's connection: rows written inside an ingest transaction commit
  // with it. The store must outlive them.
  virtual std::unique_ptr<DedupTables> open_dedup_tables() = 0;
};

// Opens the state database at `path` (SQLite; created and migrated as
// needed). `cache_kib` bounds this connection's page cache.
std::unique_ptr<StateStore> open_state_store(const std::string& path, int cache_kib = 2048);

// Milliseconds since the Unix epoch, and RFC 3339 UTC text for it.
std::int64_t now_ms();
std::string rfc3339_utc(std::int64_t unix_ms);

}  // namespace reportbridge::store
