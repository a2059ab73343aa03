#pragma once
// The state store on PostgreSQL (issue #16): the same operations and promises
// as the SQLite store (bridge/store/state_store.hpp), on a server that force IT
// already operate, back up and replicate, and that several bridge instances
// can share.
//
// Layout (schema in pg_state_store.cpp, versioned in table schema_version):
// unlike the SQLite store's per-batch segments, every queued record is a row
// of outbox_items (state pending | in_flight | dead | withdrawn; a delivered
// item's row is deleted with its record, outbox_counts keeps the count), so
// that claims are row locks: claim_batch takes due rows with
// `FOR UPDATE SKIP LOCKED` and several claimers never take the same item.
// The items of one submission version know each other (version_group,
// group_members): a version is settled when none of them is still on its
// way, and its status is then queued for the app.
//
// Fencing: each claim draws a token from the sequence fencing_tokens
// (core::DeliveryBatch::fence) and settle_batch records outcomes only while
// the batch is open under that token (else LeaseLost). A claimed batch holds
// a lease (PgSettings::lease, judged by the server's clock); once it ran out,
// the next claim_batch for the target (another instance's, or this one's when
// the outcome could not be recorded) takes the batch over under a new token
// and delivers it again under its key (items in doubt). The ingest lease lets one
// instance ingest at a time. While a batch is delivered its lease is renewed
// (keep_lease: a thread of the store with a connection of its own, every third
// of the lease, fencing token unchanged), so a slow but live instance is not
// taken over; an instance that cannot renew (paused, cut off from the
// database) loses the batch once the lease ran out, and LeaseLost at settle
// keeps it from recording.
//
// One connection per store object (per thread, as with SQLite), and one more
// for its lease keeper once it delivers batches. Statements carry parameters;
// no value is ever spliced into SQL, and errors never hold values.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bridge/pg_store/pg.hpp"
#include "bridge/store/state_store.hpp"
#include "bridge/store/writeback_rules.hpp"

namespace reportbridge::pg_store {

// Delivery batches this process's stores claimed after their lease ran out
// (claim_batch taking a batch over), for the metrics.
std::uint64_t batches_taken_over() noexcept;

// How to reach the server. The password is never part of `conninfo` (the
// config refuses one there): it comes from a secret file or a systemd
// credential, under the one rule for secret files (core::read_secret_file).
struct PgSettings {
  std::string conninfo;                   // libpq keyword=value: host, port, dbname, user, ...
  std::string sslmode = "verify-full";    // libpq sslmode; TLS with the server's name checked by default
  std::filesystem::path sslrootcert;      // CA file for verify-ca / verify-full (empty: libpq's default)
  std::filesystem::path password_file;    // empty: none
  std::string password_credential;        // systemd credential name; empty: none
  // Run pending schema migrations when a store is opened (`state.migrate: auto`);
  // false: refuse to start on an older schema (`reportbridge state migrate` first).
  bool migrate_on_start = true;
  // This instance's name among those sharing the database (default: the host
  // name): the holder of its leases. A restarted instance under the same name
  // takes its own open batches back at once; another's only once their lease
  // ran out.
  std::string instance;
  // How long a lease (the ingest lease, a claimed batch) holds without being
  // renewed: the time within which the others take over a dead instance's work.
  std::chrono::milliseconds lease{30'000};
};

// The conninfo with sslmode/sslrootcert added (no password), and the password.
std::string full_conninfo(const PgSettings& s);
std::string read_password(const PgSettings& s);

// A new connection with these settings (password read now: a rotated file is
// read again at each connection).
std::unique_ptr<pg::Connection> connect(const PgSettings& s);

// The schema version this build writes.
int schema_version();
// The schema version of the database (0: no schema yet).
int database_schema_version(pg::Connection& c);
// Brings the schema up to schema_version(), in one transaction under an
// advisory lock (instances starting together migrate once). Returns the
// version found before. Throws when the database's schema is newer than this
// build's.
int migrate(pg::Connection& c);

class LeaseKeeper;  // renews the leases of batches being delivered (pg_state_store.cpp)

class PgStateStore final : public store::StateStore {
 public:
  // Connects; migrates when `settings.migrate_on_start` (else throws on an
  // older schema).
  explicit PgStateStore(const PgSettings& settings);
  // On a connection already made (tests); migrates.
  explicit PgStateStore(std::unique_ptr<pg::Connection> connection, std::string instance = {},
                        std::chrono::milliseconds lease = std::chrono::milliseconds(30'000));
  ~PgStateStore() override;

  // The connection, made again first if the server dropped it.
  pg::Connection& conn();
  const std::string& instance() const { return instance_; }

  core::SourceCursor load_cursor(const std::string& source) override;
  std::unique_ptr<store::IngestTransaction> begin_ingest() override;
  std::string reference_for(const std::string& submission_id, const std::string& target = {}) override;

  void set_writeback_rule(const std::string& target, const store::WritebackRule& rule) override;
  store::PendingSummary pending_summary(const std::string& target, std::int64_t now_ms, std::size_t enough) override;
  std::optional<std::int64_t> next_attempt_after(const std::string& target, std::int64_t now_ms) override;
  using StateStore::claim_batch;
  std::optional<core::DeliveryBatch> claim_batch(const std::string& target, store::ClaimLimits limits,
                                                 std::int64_t now_ms) override;
  std::vector<core::DeliveryBatch> open_batches(const std::string& target) override;
  void settle_batch(const core::DeliveryBatch& batch, const std::vector<core::DeliveryOutcome>& outcomes,
                    std::int64_t now_ms, const store::RetryPolicy& retry, const store::WritebackRule& rule) override;

  std::size_t fill_duplicate_references(std::int64_t now_ms) override;
  std::size_t release_settled_records() override;
  std::unique_ptr<store::HeldLease> keep_lease(const core::DeliveryBatch& batch) override;
  // Fleet-wide limits (a connection of their own); nullptr on a connection given by a test.
  store::FleetPermits* fleet_permits() override;

  std::vector<store::DeadLetter> dead_letters(const store::ReplaySelector& which, std::size_t limit) override;
  std::vector<store::DeadLetter> replay(const store::ReplaySelector& which, std::int64_t now_ms) override;
  void request_replay(const store::ReplaySelector& which, const std::string& requested_by, std::int64_t now_ms) override;
  std::vector<store::ReplayDone> carry_out_replays(std::int64_t now_ms) override;
  std::vector<store::DeadLetter> purge_dead_records(std::int64_t cutoff_ms) override;

  void save_target_health(const store::TargetHealth& health, std::int64_t now_ms) override;
  std::vector<store::TargetHealth> target_health() override;
  std::vector<store::Backlog> backlog(const std::vector<std::string>& targets) override;

  store::WritebackPass pending_writebacks(std::size_t limit, std::int64_t now_ms = INT64_MAX) override;
  store::WritebackBacklog writeback_backlog(std::int64_t now_ms) override;
  void finish_writebacks(const std::vector<store::WritebackItem>& done,
                         const std::vector<std::pair<store::WritebackItem, std::int64_t>>& retry) override;

  std::vector<store::TargetCounts> target_counts() override;
  std::vector<store::QuarantineEntry> quarantined(std::size_t limit) override;
  std::int64_t quarantine_count() override;
  std::int64_t ledger_count() override;
  std::int64_t pending_writeback_count() override;

  // Deduplication's tables (schema version 5) on this store's connection: the
  // ingest transaction's. Their generation moves when an ingest transaction
  // did not commit or the ingest lease changed hands.
  std::unique_ptr<store::DedupTables> open_dedup_tables() override;

  // The leases each instance holds now (by the server's clock): ("ingest", 1)
  // for the ingest lease's holder, ("batch", n) for an instance's open
  // delivery batches. For the fleet's metrics.
  struct LeaseHeld {
    std::string instance;
    std::string lease;
    std::int64_t held = 0;
  };
  std::vector<LeaseHeld> leases_held();

 private:
  friend class PgIngest;
  void open();
  std::vector<store::DeadLetter> replay_in_transaction(const store::ReplaySelector& which, std::int64_t now_ms);
  void prior_references(const std::string& target, core::DeliveryBatch& batch,
                        const std::vector<std::string>& update_of);
  std::string written_reference(const std::string& submission_id);
  void fill_duplicates_of(const std::string& of_id, const std::string& reference, std::int64_t now_ms);

  void load_items(core::DeliveryBatch& batch, std::vector<std::string>& update_of, std::int64_t now_ms);

  std::unique_ptr<pg::Connection> c_;
  // A new connection like c_ (for the lease keeper); empty on a connection
  // given by a test: leases are then not renewed.
  std::function<std::unique_ptr<pg::Connection>()> connect_;
  std::shared_ptr<LeaseKeeper> keeper_;  // started by the first keep_lease
  std::mutex permits_mutex_;
  std::unique_ptr<store::FleetPermits> permits_;  // made by the first fleet_permits
  std::string instance_;  // the database's id, part of every batch key
  std::string owner_;     // this instance's name: the holder of its leases
  std::int64_t lease_ms_ = 30'000;
  std::uint64_t ingest_generation_ = 0;  // see open_dedup_tables
  std::int64_t last_ingest_fence_ = -1;
  friend class PgDedupTables;
  // Writes the dedup rows an open PgDedupTables holds back (before a
  // savepoint and at commit of an ingest transaction).
  void flush_dedup() {
    if (dedup_flush_) dedup_flush_();
  }
  std::function<void()> dedup_flush_;
  store::WritebackRules writeback_rules_;  // config order
};

}  // namespace reportbridge::pg_store
