#include "bridge/store/state_store.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>

namespace reportbridge::store {

namespace {

constexpr std::int64_t kSchemaVersion = 3;

// Schema version 1. Once released, later versions add migrations; this stays as is.
constexpr const char* kSchemaV1 = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source_cursors (
  source TEXT PRIMARY KEY, high_water INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS source_gaps (
  source TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  opened_at_ms INTEGER NOT NULL, PRIMARY KEY (source, first_seq)) WITHOUT ROWID;
-- A version's received_at never changes (the store keeps each version as
-- received), so leading the key with it keeps inserts near the end of the tree
-- instead of scattering them over random UUIDs.
CREATE TABLE IF NOT EXISTS ledger (
  received_at TEXT NOT NULL, submission_id TEXT NOT NULL, version INTEGER NOT NULL,
  seq INTEGER NOT NULL, content_sha256 TEXT NOT NULL, outcome TEXT NOT NULL,
  processed_at_ms INTEGER NOT NULL,
  PRIMARY KEY (received_at, submission_id, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, submission_id TEXT NOT NULL,
  version INTEGER NOT NULL, reason_code TEXT NOT NULL, field TEXT NOT NULL,
  detail TEXT NOT NULL, mapping TEXT NOT NULL, quarantined_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_items (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, submission_id TEXT NOT NULL,
  version INTEGER NOT NULL, seq INTEGER NOT NULL, mapping TEXT NOT NULL,
  state TEXT NOT NULL,              -- pending | in_flight | delivered | dead
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,
  enqueued_ms INTEGER NOT NULL, batch_id INTEGER, reference TEXT, last_error TEXT,
  settled_ms INTEGER);
-- The rendered records live apart from the narrow, often-updated item rows, so
-- a state change rewrites a few small pages, not the record's.
CREATE TABLE IF NOT EXISTS outbox_records (item_id INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_items (target, state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS outbox_by_seq ON outbox_items (seq);
CREATE INDEX IF NOT EXISTS outbox_by_batch ON outbox_items (batch_id) WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS delivery_batches (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, batch_key TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,              -- open | settled
  created_ms INTEGER NOT NULL, settled_ms INTEGER);
CREATE INDEX IF NOT EXISTS batches_open ON delivery_batches (target, state);
CREATE TABLE IF NOT EXISTS writeback_queue (
  id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL, version INTEGER NOT NULL,
  state TEXT NOT NULL, reference TEXT, message TEXT NOT NULL, updated_at TEXT NOT NULL);
-- A status is deleted from writeback_queue once the app has it.
)SQL";

// Schema version 2: updates against the target's reference, in-doubt
// deliveries, and per-target circuit state.
constexpr const char* kSchemaV2 = R"SQL(
ALTER TABLE outbox_items ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS outbox_by_submission ON outbox_items (target, submission_id, version);
-- The latest reference each target issued for a submission: a later version
-- goes to that target as an update of this record.
CREATE TABLE IF NOT EXISTS legacy_refs (
  target TEXT NOT NULL, submission_id TEXT NOT NULL, version INTEGER NOT NULL,
  reference TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY (target, submission_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS legacy_refs_by_submission ON legacy_refs (submission_id);
-- A status that outranks `forwarded` once delivered (e.g. needs_review with
-- the 999/101 advice), set at ingest, used and deleted when the version settles.
CREATE TABLE IF NOT EXISTS status_hints (
  submission_id TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL,
  PRIMARY KEY (submission_id, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS target_health (
  target TEXT PRIMARY KEY, circuit TEXT NOT NULL, consecutive_failures INTEGER NOT NULL,
  opened_ms INTEGER, retry_at_ms INTEGER, last_error TEXT, updated_ms INTEGER NOT NULL);
-- Operators ask for replays from another process; the daemon carries them out
-- (and audits them) on its delivery thread.
CREATE TABLE IF NOT EXISTS replay_requests (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, submission_id TEXT NOT NULL,
  outbox_id INTEGER NOT NULL, requested_by TEXT NOT NULL, requested_ms INTEGER NOT NULL,
  done_ms INTEGER, replayed INTEGER);
)SQL";

// Schema version 3: no index keyed by submission id alone over the whole
// history. Submission ids are random, so every insert into such an index
// dirties a page of its own; once the index outgrows the page cache (around a
// few hundred thousand submissions) each submission cost several page reads
// and WAL writes, and throughput fell by two thirds at 1,000,000. The
// submission index of the outbox now holds only items still on their way (what
// claim_batch asks about), dead letters have their own small one, and
// reference_for looks legacy_refs up by its primary key, target by target.
constexpr const char* kSchemaV3 = R"SQL(
DROP INDEX IF EXISTS outbox_by_submission;
CREATE INDEX IF NOT EXISTS outbox_open_by_submission ON outbox_items (target, submission_id, version)
  WHERE state IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS outbox_dead_by_submission ON outbox_items (submission_id) WHERE state = 'dead';
DROP INDEX IF EXISTS legacy_refs_by_submission;
)SQL";

// "<UTC time of claim>-<state instance>-<batch id>": unique even when a state
// database is recreated next to a drop folder that already holds files.
std::string batch_key(const std::string& instance, std::int64_t id, std::int64_t now) {
  std::time_t t = static_cast<std::time_t>(now / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ-%s-%06lld", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, instance.c_str(),
                static_cast<long long>(id));
  return buf;
}

std::int64_t backoff_ms(int attempts, const RetryPolicy& p) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  double exp = static_cast<double>(p.base.count()) * static_cast<double>(1LL << std::min(attempts - 1, 30));
  double capped = std::min(exp, static_cast<double>(p.cap.count()));
  // Full jitter between half and all of the capped delay.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return static_cast<std::int64_t>(capped * jitter(rng));
}


}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_utc(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
// One write mutex per state database file, shared by its connections in this process.
std::shared_ptr<std::mutex> write_lock_for(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<std::mutex>> registry;
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(path, ec).string();
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto lock = registry[key].lock();
  if (!lock) {
    lock = std::make_shared<std::mutex>();
    registry[key] = lock;
  }
  return lock;
}
}  // namespace

StateStore::StateStore(const std::string& path, int cache_mib)
    : db_(path, Database::Mode::read_write_create) {
  db_.share_write_lock(write_lock_for(path));
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=NORMAL");
  db_.exec("PRAGMA foreign_keys=ON");
  db_.exec("PRAGMA cache_size=-" + std::to_string(cache_mib * 1024));
  // Checkpoint the WAL every ~64 MB rather than every 4 MB: an outbox row
  // written at ingest and settled soon after then reaches the database file
  // once, in its final state. The WAL file is truncated back after checkpoints.
  db_.exec("PRAGMA wal_autocheckpoint=16000");
  db_.exec("PRAGMA journal_size_limit=67108864");
  migrate();
  ledger_insert_ = db_.prepare(
      "INSERT OR IGNORE INTO ledger (submission_id, version, seq, content_sha256, outcome,"
      " processed_at_ms, received_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6)");
  ledger_outcome_ = db_.prepare(
      "UPDATE ledger SET outcome = ?4 WHERE received_at = ?3 AND submission_id = ?1 AND version = ?2");
  enqueue_ = db_.prepare(
      "INSERT INTO outbox_items (target, submission_id, version, mapping, state,"
      " next_attempt_ms, enqueued_ms, seq) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?6)");
  enqueue_record_ = db_.prepare("INSERT INTO outbox_records (item_id, record) VALUES (?1, ?2)");
  enqueue_writeback_ = db_.prepare(
      "INSERT INTO writeback_queue (submission_id, version, state, reference, message, updated_at)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  quarantine_ = db_.prepare(
      "INSERT INTO quarantine (seq, submission_id, version, reason_code, field, detail, mapping,"
      " quarantined_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
}

void StateStore::migrate() {
  Transaction tx(db_);
  db_.exec(kSchemaV1);
  db_.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')");
  auto v = db_.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'");
  const std::int64_t version = v.step() ? v.int64(0) : 1;
  v.reset();
  if (version > kSchemaVersion)
    throw std::runtime_error("state database has schema version " + std::to_string(version) +
                             ", newer than this build understands (" + std::to_string(kSchemaVersion) + ")");
  if (version < 2) {
    db_.exec(kSchemaV2);
    db_.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  }
  if (version < 3) {
    db_.exec(kSchemaV3);
    db_.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  }
  db_.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(3))))");
  auto q = db_.prepare("SELECT value FROM meta WHERE key = 'instance'");
  if (q.step()) instance_ = q.text(0);
  tx.commit();
}

core::SourceCursor StateStore::load_cursor(const std::string& source) {
  core::SourceCursor c;
  auto q = db_.prepare("SELECT high_water FROM source_cursors WHERE source = ?1");
  q.bind(1, source);
  if (q.step()) c.high_water = q.int64(0);
  auto g = db_.prepare(
      "SELECT first_seq, last_seq, opened_at_ms FROM source_gaps WHERE source = ?1"
      " ORDER BY first_seq");
  g.bind(1, source);
  while (g.step()) c.gaps.push_back({g.int64(0), g.int64(1), g.int64(2)});
  return c;
}

void StateStore::save_cursor(const std::string& source, const core::SourceCursor& cursor) {
  auto up = db_.prepare(
      "INSERT INTO source_cursors (source, high_water) VALUES (?1, ?2)"
      " ON CONFLICT (source) DO UPDATE SET high_water = excluded.high_water");
  up.bind(1, source).bind(2, cursor.high_water).run();
  auto del = db_.prepare("DELETE FROM source_gaps WHERE source = ?1");
  del.bind(1, source).run();
  auto ins = db_.prepare(
      "INSERT INTO source_gaps (source, first_seq, last_seq, opened_at_ms) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& gap : cursor.gaps) {
    ins.bind(1, source).bind(2, gap.first).bind(3, gap.last).bind(4, gap.opened_at_ms).run();
  }
}

bool StateStore::ledger_claim(const core::SourceRow& row, const std::string& content_sha256,
                              std::int64_t at_ms) {
  ledger_insert_.bind(1, row.id).bind(2, row.version).bind(3, row.seq).bind(4, content_sha256)
      .bind(5, at_ms).bind(6, row.received_at).run();
  ledger_insert_.reset();
  return db_.changes() > 0;
}

void StateStore::ledger_set_outcome(const core::SourceRow& row, const std::string& outcome) {
  ledger_outcome_.bind(1, row.id).bind(2, row.version).bind(3, row.received_at).bind(4, outcome).run();
  ledger_outcome_.reset();
}

void StateStore::quarantine(const QuarantineEntry& e) {
  quarantine_.bind(1, e.seq).bind(2, e.submission_id).bind(3, e.version).bind(4, e.reason_code)
      .bind(5, e.field).bind(6, e.detail).bind(7, e.mapping).bind(8, e.at_ms).run();
  quarantine_.reset();
}

void StateStore::enqueue(const OutboxEntry& e, std::int64_t now) {
  enqueue_.bind(1, e.target).bind(2, e.submission_id).bind(3, e.version).bind(4, e.mapping)
      .bind(5, now).bind(6, e.seq).run();
  enqueue_.reset();
  const std::int64_t id = db_.last_insert_rowid();
  enqueue_record_.bind(1, id).bind(2, e.record_json).run();
  enqueue_record_.reset();
  if (!e.held.empty())
    db_.prepare("UPDATE outbox_items SET state = 'dead', last_error = ?2, settled_ms = ?3 WHERE id = ?1")
        .bind(1, id).bind(2, e.held).bind(3, now).run();
}

std::string StateStore::reference_for(const std::string& submission_id, const std::string& target) {
  // By primary key (target, submission_id): one target, or each target that
  // has references (a handful), newest first.
  // The targets are found by skipping along the key (min(target) > previous),
  // not by reading the table.
  auto q = db_.prepare(
      "WITH RECURSIVE t(target) AS ("
      " SELECT min(target) FROM legacy_refs WHERE ?2 = '' OR target = ?2"
      " UNION ALL SELECT (SELECT min(target) FROM legacy_refs WHERE target > t.target AND (?2 = '' OR target = ?2))"
      " FROM t WHERE t.target IS NOT NULL)"
      " SELECT l.reference FROM t JOIN legacy_refs l ON l.target = t.target AND l.submission_id = ?1"
      " ORDER BY l.updated_ms DESC LIMIT 1");
  q.bind(1, submission_id).bind(2, target);
  return q.step() ? q.text(0) : std::string();
}

void StateStore::enqueue_writeback(const core::StatusUpdate& u, std::int64_t version) {
  enqueue_writeback_.bind(1, u.submission_id).bind(2, version).bind(3, u.state);
  if (u.reference.empty())
    enqueue_writeback_.bind_null(4);
  else
    enqueue_writeback_.bind(4, u.reference);
  enqueue_writeback_.bind(5, u.message).bind(6, u.updated_at).run();
  enqueue_writeback_.reset();
}

// Due items claim_batch may take: pending, due, and not a later version
// waiting while an earlier one of the same submission is still on its way to
// this target (it must go as an update of the record the earlier one creates).
// pending_summary counts with the same rule, so a count never promises items
// a claim cannot take.
constexpr const char* kClaimable =
    " o.target = ?1 AND o.state = 'pending' AND o.next_attempt_ms <= ?2 AND (o.version = 1 OR NOT EXISTS"
    " (SELECT 1 FROM outbox_items e WHERE e.target = o.target AND e.submission_id = o.submission_id"
    " AND e.version < o.version AND e.state IN ('pending', 'in_flight')))";

PendingSummary StateStore::pending_summary(const std::string& target, std::int64_t now,
                                           std::size_t enough) {
  // Counting stops at `enough`: the dispatcher only needs to know whether a
  // full batch is waiting, and a long backlog must not make this slow.
  auto q = db_.prepare(std::string("SELECT count(*), min(enqueued_ms) FROM (SELECT o.enqueued_ms FROM outbox_items o"
                                   " WHERE") + kClaimable + " LIMIT ?3)");
  q.bind(1, target).bind(2, now).bind(3, static_cast<std::int64_t>(enough));
  PendingSummary s;
  if (q.step()) {
    s.ready = q.int64(0);
    s.oldest_enqueued_ms = q.is_null(1) ? 0 : q.int64(1);
  }
  return s;
}

std::optional<std::int64_t> StateStore::next_attempt_after(const std::string& target, std::int64_t now) {
  auto q = db_.prepare(
      "SELECT min(next_attempt_ms) FROM outbox_items WHERE target = ?1 AND state = 'pending'"
      " AND next_attempt_ms > ?2");
  q.bind(1, target).bind(2, now);
  if (q.step() && !q.is_null(0)) return q.int64(0);
  return std::nullopt;
}

namespace {
// `recovering`: the batch was left open by a crash, so every item is in doubt.
core::DeliveryBatch load_items(Database& db, core::DeliveryBatch batch,
                               std::vector<std::int64_t>* unreadable, bool recovering) {
  auto q = db.prepare(
      "SELECT i.id, r.record, i.attempts, i.in_doubt, l.reference FROM outbox_items i"
      " LEFT JOIN outbox_records r ON r.item_id = i.id"
      " LEFT JOIN legacy_refs l ON i.version > 1 AND l.target = i.target"
      " AND l.submission_id = i.submission_id AND l.version < i.version"
      " WHERE i.batch_id = ?1 ORDER BY i.id");
  q.bind(1, batch.id);
  while (q.step()) {
    core::DeliveryItem item;
    item.outbox_id = q.int64(0);
    item.attempts = static_cast<int>(q.int64(2));
    item.in_doubt = recovering || q.int64(3) != 0;
    item.prior_reference = q.optional_text(4).value_or("");
    if (q.is_null(1) || !core::from_json(q.text(1), item.record)) {
      if (unreadable) unreadable->push_back(item.outbox_id);
      continue;
    }
    batch.items.push_back(std::move(item));
  }
  return batch;
}
}  // namespace

std::optional<core::DeliveryBatch> StateStore::claim_batch(const std::string& target,
                                                           std::size_t max_items,
                                                           std::int64_t now) {
  // The claim must reach the disk before anything is published under its key.
  db_.exec("PRAGMA synchronous=FULL");
  struct Restore {
    Database& db;
    ~Restore() {
      try {
        db.exec("PRAGMA synchronous=NORMAL");
      } catch (...) {
      }
    }
  } restore{db_};
  Transaction tx(db_);
  auto ids = db_.prepare(std::string("SELECT o.id FROM outbox_items o WHERE") + kClaimable + " ORDER BY o.id LIMIT ?3");
  ids.bind(1, target).bind(2, now).bind(3, static_cast<std::int64_t>(max_items));
  std::vector<std::int64_t> item_ids;
  while (ids.step()) item_ids.push_back(ids.int64(0));
  if (item_ids.empty()) return std::nullopt;

  auto ins = db_.prepare(
      "INSERT INTO delivery_batches (target, batch_key, state, created_ms)"
      " VALUES (?1, ?2, 'open', ?3)");
  // The key needs the row id: insert with a placeholder, then set it.
  ins.bind(1, target).bind(2, "claiming-" + std::to_string(now)).bind(3, now).run();
  core::DeliveryBatch batch;
  batch.id = db_.last_insert_rowid();
  batch.key = batch_key(instance_, batch.id, now);
  db_.prepare("UPDATE delivery_batches SET batch_key = ?1 WHERE id = ?2")
      .bind(1, batch.key).bind(2, batch.id).run();
  auto take = db_.prepare("UPDATE outbox_items SET state = 'in_flight', batch_id = ?1 WHERE id = ?2");
  for (auto id : item_ids) {
    take.bind(1, batch.id).bind(2, id).run();
    take.reset();
  }

  tx.commit();

  // Reading the records needs no write lock: ingest goes on meanwhile.
  std::vector<std::int64_t> unreadable;
  batch = load_items(db_, std::move(batch), &unreadable, false);
  if (unreadable.empty() && !batch.items.empty()) return batch;
  Transaction fix(db_);
  auto dead = db_.prepare(
      "UPDATE outbox_items SET state = 'dead', batch_id = NULL, last_error = ?2, settled_ms = ?3"
      " WHERE id = ?1");
  for (auto id : unreadable) dead.bind(1, id).bind(2, "record_unreadable").bind(3, now).run();
  if (batch.items.empty()) {
    db_.prepare("UPDATE delivery_batches SET state = 'settled', settled_ms = ?2 WHERE id = ?1")
        .bind(1, batch.id).bind(2, now).run();
    fix.commit();
    return std::nullopt;
  }
  fix.commit();
  return batch;
}

std::vector<core::DeliveryBatch> StateStore::open_batches(const std::string& target) {
  std::vector<core::DeliveryBatch> out;
  auto q = db_.prepare(
      "SELECT id, batch_key FROM delivery_batches WHERE target = ?1 AND state = 'open' ORDER BY id");
  q.bind(1, target);
  while (q.step()) {
    core::DeliveryBatch b;
    b.id = q.int64(0);
    b.key = q.text(1);
    out.push_back(load_items(db_, std::move(b), nullptr, true));
  }
  return out;
}

void StateStore::settle_batch(const core::DeliveryBatch& batch,
                              const std::vector<core::DeliveryOutcome>& outcomes,
                              std::int64_t now, const RetryPolicy& retry,
                              const WritebackRule& rule) {
  Transaction tx(db_);
  auto delivered = db_.prepare(
      "UPDATE outbox_items SET state = 'delivered', reference = ?2,"
      " attempts = attempts + 1, settled_ms = ?3, last_error = NULL WHERE id = ?1");
  auto dead = db_.prepare(
      "UPDATE outbox_items SET state = 'dead', attempts = attempts + 1, last_error = ?2,"
      " settled_ms = ?3 WHERE id = ?1");
  auto again = db_.prepare(
      "UPDATE outbox_items SET state = 'pending', batch_id = NULL, attempts = attempts + 1,"
      " last_error = ?2, next_attempt_ms = ?3, in_doubt = in_doubt OR ?4 WHERE id = ?1");
  auto remember = db_.prepare(
      "INSERT INTO legacy_refs (target, submission_id, version, reference, updated_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (target, submission_id) DO UPDATE SET"
      " version = excluded.version, reference = excluded.reference, updated_ms = excluded.updated_ms"
      " WHERE excluded.version >= legacy_refs.version");
  auto attempts_q = db_.prepare("SELECT attempts FROM outbox_items WHERE id = ?1");
  auto later = db_.prepare(
      "UPDATE outbox_items SET state = 'pending', batch_id = NULL,"
      " last_error = ?2, next_attempt_ms = ?3, in_doubt = in_doubt OR ?4 WHERE id = ?1");

  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    const auto& item = batch.items[i];
    const core::DeliveryOutcome& o =
        i < outcomes.size()
            ? outcomes[i]
            : core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "no_outcome",
                                          "sink returned fewer outcomes than items");
    std::string error = o.reason_code.empty() ? std::string() : o.reason_code + ": " + o.detail;
    switch (o.status) {
      case core::DeliveryStatus::delivered:
        delivered.bind(1, item.outbox_id).bind(2, o.reference).bind(3, now).run();
        delivered.reset();
        if (rule.keep_references && !o.reference.empty()) {
          remember.bind(1, item.record.target).bind(2, item.record.submission_id)
              .bind(3, item.record.version).bind(4, o.reference).bind(5, now).run();
          remember.reset();
        }
        break;
      case core::DeliveryStatus::reject:
        dead.bind(1, item.outbox_id).bind(2, error).bind(3, now).run();
        dead.reset();
        break;
      case core::DeliveryStatus::retry: {
        if (o.deferred) {  // nothing attempted: not counted, offered again after retry_after
          later.bind(1, item.outbox_id).bind(2, error)
              .bind(3, now + std::max<std::int64_t>(
                                 1000, std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count()))
              .bind(4, o.in_doubt ? 1 : 0).run();
          later.reset();
          break;
        }
        attempts_q.bind(1, item.outbox_id);
        int attempts = attempts_q.step() ? static_cast<int>(attempts_q.int64(0)) + 1 : 1;
        attempts_q.reset();
        if (attempts >= retry.max_attempts) {
          dead.bind(1, item.outbox_id).bind(2, "retries_exhausted: " + error).bind(3, now).run();
          dead.reset();
        } else {
          std::int64_t wait = std::max<std::int64_t>(
              backoff_ms(attempts, retry),
              std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count());
          again.bind(1, item.outbox_id).bind(2, error).bind(3, now + wait)
              .bind(4, o.in_doubt ? 1 : 0).run();
          again.reset();
        }
        break;
      }
    }
  }
  db_.prepare("UPDATE delivery_batches SET state = 'settled', settled_ms = ?2 WHERE id = ?1")
      .bind(1, batch.id).bind(2, now).run();
  // Delivered items drop their record copy: personal data is kept no longer
  // than needed (dead letters keep theirs for replay).
  db_.prepare("DELETE FROM outbox_records WHERE item_id IN"
              " (SELECT id FROM outbox_items WHERE batch_id = ?1 AND state = 'delivered')")
      .bind(1, batch.id).run();
  queue_settled_writebacks(batch.id, now, rule);
  tx.commit();
}

void StateStore::set_writeback_rule(const std::string& target, const WritebackRule& rule) {
  for (auto& [t, r] : writeback_rules_)
    if (t == target) {
      r = rule;
      return;
    }
  writeback_rules_.emplace_back(target, rule);
}

void StateStore::set_status_hint(const std::string& submission_id, std::int64_t version,
                                 const std::string& state, const std::string& message) {
  db_.prepare("INSERT OR REPLACE INTO status_hints (submission_id, version, state, message) VALUES (?1, ?2, ?3, ?4)")
      .bind(1, submission_id).bind(2, version).bind(3, state).bind(4, message).run();
}

void StateStore::queue_settled_writebacks(std::int64_t batch_id, std::int64_t now,
                                          const WritebackRule& settling_rule) {
  // The submission versions this batch settled (items that went back to
  // pending left the batch), with every target's item, in target order.
  auto q = db_.prepare(
      "SELECT o.submission_id, o.version, o.target, o.state, o.reference"
      " FROM outbox_items o JOIN (SELECT DISTINCT seq, submission_id, version FROM outbox_items"
      " WHERE batch_id = ?1) b ON o.seq = b.seq AND o.submission_id = b.submission_id"
      " AND o.version = b.version ORDER BY o.submission_id, o.version, o.id");
  q.bind(1, batch_id);
  struct Item {
    std::string target, state, reference;
  };
  struct Version {
    std::string id;
    std::int64_t version = 0;
    std::vector<Item> items;
  };
  std::vector<Version> versions;
  while (q.step()) {
    if (versions.empty() || versions.back().id != q.text(0) || versions.back().version != q.int64(1))
      versions.push_back({q.text(0), q.int64(1), {}});
    versions.back().items.push_back({q.text(2), q.text(3), q.optional_text(4).value_or("")});
  }
  // Each target's own rule decides whether its reference is written back;
  // the message is that of the first target (in config order) that has it.
  auto rule_of = [&](const std::string& target) -> const WritebackRule* {
    for (const auto& [t, r] : writeback_rules_)
      if (t == target) return &r;
    return nullptr;
  };
  auto hint = db_.prepare("SELECT state, message FROM status_hints WHERE submission_id = ?1 AND version = ?2");
  auto drop_hint = db_.prepare("DELETE FROM status_hints WHERE submission_id = ?1 AND version = ?2");
  const std::string updated_at = rfc3339_utc(now);
  for (const auto& v : versions) {
    bool open = false;
    std::vector<const Item*> delivered;
    for (const auto& i : v.items) {
      if (i.state == "pending" || i.state == "in_flight") open = true;
      if (i.state == "delivered") delivered.push_back(&i);
    }
    if (open) continue;
    core::StatusUpdate u;
    u.submission_id = v.id;
    u.updated_at = updated_at;
    if (!delivered.empty()) {
      u.state = "forwarded";
      const WritebackRule* first = nullptr;
      std::size_t first_rank = writeback_rules_.size() + 1;
      for (const auto* d : delivered) {
        const WritebackRule* r = rule_of(d->target);
        if (!r) r = &settling_rule;
        std::size_t rank = writeback_rules_.size();
        for (std::size_t k = 0; k < writeback_rules_.size(); ++k)
          if (writeback_rules_[k].first == d->target) rank = k;
        if (rank < first_rank) {
          first_rank = rank;
          first = r;
        }
        if (r->include_reference && !d->reference.empty())
          u.reference += (u.reference.empty() ? "" : ", ") + d->reference;
      }
      u.message = first ? first->message : settling_rule.message;
    } else {
      u.state = "received";
      u.message = "Thank you. Your report has been received and will be reviewed by our staff.";
    }
    hint.bind(1, v.id).bind(2, v.version);
    if (hint.step()) {
      u.state = hint.text(0);
      u.message = hint.text(1);
      hint.reset();
      drop_hint.bind(1, v.id).bind(2, v.version).run();
      drop_hint.reset();
    } else {
      hint.reset();
    }
    enqueue_writeback(u, v.version);
  }
}

std::vector<WritebackItem> StateStore::pending_writebacks(std::size_t limit) {
  std::vector<WritebackItem> out;
  auto q = db_.prepare(
      "SELECT id, submission_id, state, reference, message, updated_at, version FROM writeback_queue"
      " ORDER BY id LIMIT ?1");
  q.bind(1, static_cast<std::int64_t>(limit));
  while (q.step()) {
    WritebackItem w;
    w.id = q.int64(0);
    w.update.submission_id = q.text(1);
    w.update.state = q.text(2);
    w.update.reference = q.optional_text(3).value_or("");
    w.update.message = q.text(4);
    w.update.updated_at = q.text(5);
    w.version = q.int64(6);
    out.push_back(std::move(w));
  }
  return out;
}

void StateStore::mark_writebacks_done(const std::vector<std::int64_t>& ids) {
  Transaction tx(db_);
  auto up = db_.prepare("DELETE FROM writeback_queue WHERE id = ?1");
  for (auto id : ids) up.bind(1, id).run();
  tx.commit();
}

namespace {
void bind_selector(Statement& q, const ReplaySelector& w) {
  q.bind(1, w.target).bind(2, w.submission_id).bind(3, w.outbox_id);
}
constexpr const char* kDeadWhere =
    " WHERE i.state = 'dead' AND (?1 = '' OR i.target = ?1) AND (?2 = '' OR i.submission_id = ?2)"
    " AND (?3 = 0 OR i.id = ?3)";
DeadLetter read_dead(Statement& q) {
  return {q.int64(0), q.text(1), q.text(2), q.int64(3), q.text(4), q.optional_text(5).value_or(""),
          q.is_null(6) ? 0 : q.int64(6), q.int64(7) != 0};
}
}  // namespace

std::vector<DeadLetter> StateStore::dead_letters(const ReplaySelector& which, std::size_t limit) {
  std::vector<DeadLetter> out;
  auto q = db_.prepare(std::string("SELECT i.id, i.target, i.submission_id, i.version, i.mapping,"
                                   " i.last_error, i.settled_ms, r.item_id IS NOT NULL FROM outbox_items i"
                                   " LEFT JOIN outbox_records r ON r.item_id = i.id") +
                       kDeadWhere + " ORDER BY i.id LIMIT ?4");
  bind_selector(q, which);
  q.bind(4, static_cast<std::int64_t>(limit));
  while (q.step()) out.push_back(read_dead(q));
  return out;
}

std::vector<DeadLetter> StateStore::replay(const ReplaySelector& which, std::int64_t now) {
  Transaction tx(db_);
  std::vector<DeadLetter> out;
  {
    auto q = db_.prepare(std::string("SELECT i.id, i.target, i.submission_id, i.version, i.mapping,"
                                     " i.last_error, i.settled_ms, 1 FROM outbox_items i"
                                     " JOIN outbox_records r ON r.item_id = i.id") +
                         kDeadWhere + " ORDER BY i.id");
    bind_selector(q, which);
    while (q.step()) out.push_back(read_dead(q));
  }
  auto up = db_.prepare(
      "UPDATE outbox_items SET state = 'pending', batch_id = NULL, attempts = 0, next_attempt_ms = ?2,"
      " settled_ms = NULL, last_error = 'replayed after: ' || coalesce(last_error, '') WHERE id = ?1");
  for (const auto& d : out) {
    up.bind(1, d.outbox_id).bind(2, now).run();
    up.reset();
  }
  tx.commit();
  return out;
}

void StateStore::request_replay(const ReplaySelector& w, const std::string& requested_by, std::int64_t now) {
  Transaction tx(db_);
  db_.prepare("INSERT INTO replay_requests (target, submission_id, outbox_id, requested_by, requested_ms)"
              " VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, w.target).bind(2, w.submission_id).bind(3, w.outbox_id).bind(4, requested_by)
      .bind(5, now).run();
  tx.commit();
}

std::vector<ReplayDone> StateStore::carry_out_replays(std::int64_t now) {
  std::vector<ReplayDone> out;
  std::vector<std::pair<std::int64_t, ReplayDone>> todo;
  {
    auto q = db_.prepare(
        "SELECT id, target, submission_id, outbox_id, requested_by FROM replay_requests"
        " WHERE done_ms IS NULL ORDER BY id");
    while (q.step()) {
      ReplayDone r;
      r.selector = {q.text(1), q.text(2), q.int64(3)};
      r.requested_by = q.text(4);
      todo.emplace_back(q.int64(0), std::move(r));
    }
  }
  for (auto& [id, r] : todo) {
    r.replayed = replay(r.selector, now);
    Transaction tx(db_);
    db_.prepare("UPDATE replay_requests SET done_ms = ?2, replayed = ?3 WHERE id = ?1")
        .bind(1, id).bind(2, now).bind(3, static_cast<std::int64_t>(r.replayed.size())).run();
    tx.commit();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<DeadLetter> StateStore::purge_dead_records(std::int64_t cutoff) {
  Transaction tx(db_);
  std::vector<DeadLetter> out;
  {
    auto q = db_.prepare(
        "SELECT i.id, i.target, i.submission_id, i.version, i.mapping, i.last_error, i.settled_ms, 0"
        " FROM outbox_items i JOIN outbox_records r ON r.item_id = i.id"
        " WHERE i.state = 'dead' AND i.settled_ms < ?1 ORDER BY i.id");
    q.bind(1, cutoff);
    while (q.step()) out.push_back(read_dead(q));
  }
  auto del = db_.prepare("DELETE FROM outbox_records WHERE item_id = ?1");
  for (const auto& d : out) {
    del.bind(1, d.outbox_id).run();
    del.reset();
  }
  tx.commit();
  return out;
}

void StateStore::save_target_health(const TargetHealth& h, std::int64_t now) {
  Transaction tx(db_);
  db_.prepare(
         "INSERT INTO target_health (target, circuit, consecutive_failures, opened_ms, retry_at_ms,"
         " last_error, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (target) DO UPDATE SET"
         " circuit = excluded.circuit, consecutive_failures = excluded.consecutive_failures,"
         " opened_ms = excluded.opened_ms, retry_at_ms = excluded.retry_at_ms,"
         " last_error = excluded.last_error, updated_ms = excluded.updated_ms")
      .bind(1, h.target).bind(2, h.circuit).bind(3, h.consecutive_failures).bind(4, h.opened_ms)
      .bind(5, h.retry_at_ms).bind(6, h.last_error).bind(7, now).run();
  tx.commit();
}

std::vector<TargetHealth> StateStore::target_health() {
  std::vector<TargetHealth> out;
  auto q = db_.prepare(
      "SELECT target, circuit, consecutive_failures, opened_ms, retry_at_ms, last_error"
      " FROM target_health ORDER BY target");
  while (q.step())
    out.push_back({q.text(0), q.text(1), q.int64(2), q.is_null(3) ? 0 : q.int64(3),
                   q.is_null(4) ? 0 : q.int64(4), q.optional_text(5).value_or("")});
  return out;
}

std::vector<Backlog> StateStore::backlog(const std::vector<std::string>& targets) {
  std::vector<Backlog> out;
  // Per target through the outbox_due index: delivered rows are never scanned.
  auto q = db_.prepare(
      "SELECT count(*), min(enqueued_ms) FROM outbox_items"
      " WHERE target = ?1 AND state IN ('pending', 'in_flight')");
  for (const auto& t : targets) {
    q.bind(1, t);
    if (q.step()) out.push_back({t, q.int64(0), q.is_null(1) ? 0 : q.int64(1)});
    q.reset();
  }
  return out;
}

std::vector<TargetCounts> StateStore::target_counts() {
  std::vector<TargetCounts> out;
  auto q = db_.prepare(
      "SELECT target, sum(state = 'pending'), sum(state = 'in_flight'), sum(state = 'delivered'),"
      " sum(state = 'dead') FROM outbox_items GROUP BY target ORDER BY target");
  while (q.step())
    out.push_back({q.text(0), q.int64(1), q.int64(2), q.int64(3), q.int64(4)});
  return out;
}

std::vector<QuarantineEntry> StateStore::quarantined(std::size_t limit) {
  std::vector<QuarantineEntry> out;
  auto q = db_.prepare(
      "SELECT seq, submission_id, version, reason_code, field, detail, mapping, quarantined_at_ms"
      " FROM quarantine ORDER BY id DESC LIMIT ?1");
  q.bind(1, static_cast<std::int64_t>(limit));
  while (q.step())
    out.push_back({q.int64(0), q.text(1), q.int64(2), q.text(3), q.text(4), q.text(5), q.text(6),
                   q.int64(7)});
  return out;
}

namespace {
std::int64_t scalar(Database& db, const char* sql) {
  auto q = db.prepare(sql);
  return q.step() ? q.int64(0) : 0;
}
}  // namespace

std::int64_t StateStore::quarantine_count() { return scalar(db_, "SELECT count(*) FROM quarantine"); }
std::int64_t StateStore::ledger_count() { return scalar(db_, "SELECT count(*) FROM ledger"); }
std::int64_t StateStore::pending_writeback_count() {
  return scalar(db_, "SELECT count(*) FROM writeback_queue");
}

}  // namespace reportbridge::store
