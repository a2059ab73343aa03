#include "bridge/pg_store/pg_state_store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "bridge/core/secret_file.hpp"
#include "bridge/store/record_codec.hpp"

namespace reportbridge::pg_store {

using pg::Params;
using pg::Result;

namespace {

// Versioned migrations: migration N takes the schema from N-1 to N. Once
// released a migration never changes; later versions add entries.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

constexpr const char* kSchemaV1 = R"SQL(
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE source_cursors (source text PRIMARY KEY, high_water bigint NOT NULL);
CREATE TABLE source_gaps (
  source text NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL, opened_at_ms bigint NOT NULL,
  PRIMARY KEY (source, first_seq));
CREATE TABLE ledger (
  submission_id text NOT NULL, version bigint NOT NULL, seq bigint NOT NULL, content_sha256 text NOT NULL,
  outcome text NOT NULL, processed_at_ms bigint NOT NULL, received_at text NOT NULL,
  PRIMARY KEY (submission_id, version));
CREATE TABLE quarantine (
  id bigserial PRIMARY KEY, seq bigint NOT NULL, submission_id text NOT NULL, version bigint NOT NULL,
  reason_code text NOT NULL, field text NOT NULL, detail text NOT NULL, mapping text NOT NULL,
  quarantined_at_ms bigint NOT NULL);
CREATE SEQUENCE outbox_item_ids;
-- One row per queued record. state: pending | in_flight | dead | withdrawn;
-- a delivered item's row is deleted (outbox_counts counts it).
CREATE TABLE outbox_items (
  id bigint PRIMARY KEY, target text NOT NULL, submission_id text NOT NULL, version bigint NOT NULL,
  seq bigint NOT NULL, mapping text NOT NULL, state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0, next_attempt_ms bigint NOT NULL, enqueued_ms bigint NOT NULL,
  batch_id bigint, last_error text, settled_ms bigint, in_doubt boolean NOT NULL DEFAULT false,
  claimed boolean NOT NULL DEFAULT false,   -- claimed at least once (a withdrawal needs none)
  update_of text,                           -- an edit of a duplicate: the submission kept for it
  version_group bigint NOT NULL,            -- the first item id of its submission version
  group_members text NOT NULL,              -- "<id> <target>" per line: every item of the version
  hint_state text, hint_message text,       -- a status that outranks forwarded
  record bytea);                            -- store/record_codec stand-alone record; NULL once purged
CREATE INDEX outbox_due ON outbox_items (target, id) WHERE state = 'pending';
CREATE INDEX outbox_open_by_submission ON outbox_items (target, submission_id, version)
  WHERE state IN ('pending', 'in_flight');
CREATE INDEX outbox_by_batch ON outbox_items (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX outbox_by_submission ON outbox_items (submission_id);
CREATE INDEX outbox_dead ON outbox_items (id) WHERE state = 'dead';
CREATE TABLE outbox_counts (target text PRIMARY KEY, delivered bigint NOT NULL DEFAULT 0);
CREATE SEQUENCE fencing_tokens;
CREATE TABLE delivery_batches (
  id bigserial PRIMARY KEY, target text NOT NULL, batch_key text NOT NULL UNIQUE,
  state text NOT NULL,                      -- open | settled
  fence bigint NOT NULL,                    -- the claim's fencing token
  owner text NOT NULL,                      -- the instance that claimed it
  created_ms bigint NOT NULL, settled_ms bigint, items integer NOT NULL);
CREATE INDEX batches_open ON delivery_batches (target, id) WHERE state = 'open';
CREATE TABLE writeback_queue (
  id bigserial PRIMARY KEY, submission_id text NOT NULL, version bigint NOT NULL, state text NOT NULL,
  reference text NOT NULL, message text NOT NULL, updated_at text NOT NULL,
  attempts integer NOT NULL DEFAULT 0, next_attempt_ms bigint NOT NULL DEFAULT 0, created_ms bigint NOT NULL);
-- Written in the order queued (id order); a refused one keeps its place and waits on its own.
CREATE TABLE legacy_refs (
  target text NOT NULL, submission_id text NOT NULL, version bigint NOT NULL, reference text NOT NULL,
  updated_ms bigint NOT NULL, PRIMARY KEY (target, submission_id));
CREATE INDEX legacy_refs_by_submission ON legacy_refs (submission_id);
CREATE TABLE target_health (
  target text PRIMARY KEY, circuit text NOT NULL, consecutive_failures bigint NOT NULL,
  opened_ms bigint NOT NULL, retry_at_ms bigint NOT NULL, last_error text NOT NULL, updated_ms bigint NOT NULL);
CREATE TABLE replay_requests (
  id bigserial PRIMARY KEY, target text NOT NULL, submission_id text NOT NULL, outbox_id bigint NOT NULL,
  requested_by text NOT NULL, requested_ms bigint NOT NULL, done_ms bigint, replayed bigint);
CREATE TABLE duplicate_links (
  submission_id text NOT NULL, version bigint NOT NULL, of_id text NOT NULL, message text NOT NULL,
  created_ms bigint NOT NULL, reference text, PRIMARY KEY (submission_id, version));
CREATE INDEX duplicate_links_waiting ON duplicate_links (of_id) WHERE reference IS NULL;
)SQL";

// Schema version 2: leases for several instances. The ingest lease (one
// instance ingests at a time) and each open batch's lease carry a fencing
// token; an instance whose lease ran out (dead, paused, cut off) has its
// batches taken over, under a new token, by another.
constexpr const char* kSchemaV2 = R"SQL(
CREATE TABLE leases (
  name text PRIMARY KEY, holder text NOT NULL, fence bigint NOT NULL, expires_ms bigint NOT NULL);
ALTER TABLE delivery_batches ADD COLUMN lease_until_ms bigint NOT NULL DEFAULT 0;
CREATE INDEX batches_open_by_lease ON delivery_batches (target, lease_until_ms) WHERE state = 'open';
)SQL";

// Schema version 3: a status done supersedes the older ones of its submission
// still waiting for a retry (found by submission).
constexpr const char* kSchemaV3 = R"SQL(
CREATE INDEX writeback_by_submission ON writeback_queue (submission_id, id);
)SQL";

// Schema version 4: a target's limits for the whole fleet (store::FleetPermits):
// connection slots held under a lease with a fencing token, and one token
// bucket per target refilled by the server's clock.
constexpr const char* kSchemaV4 = R"SQL(
CREATE TABLE fleet_slots (
  target text NOT NULL, slot integer NOT NULL, holder text NOT NULL DEFAULT '', fence bigint NOT NULL DEFAULT 0,
  expires_ms bigint NOT NULL DEFAULT 0, PRIMARY KEY (target, slot));
CREATE TABLE fleet_buckets (target text PRIMARY KEY, tokens double precision NOT NULL, refilled_us bigint NOT NULL);
)SQL";

// Schema version 5: deduplication's history (bridge/store/dedup_tables.hpp),
// shared by the fleet: every instance's ingest judges against every other's
// verdicts, fingerprints, related-report index and reporter keys. Keyed as on
// SQLite, by a received-time bucket first (the hot rows are the newest).
constexpr const char* kSchemaV5 = R"SQL(
CREATE TABLE dedup_verdicts (
  bucket bigint NOT NULL, id text NOT NULL, version bigint NOT NULL, reason integer NOT NULL, of_id text, near_id text,
  score double precision NOT NULL, x1 double precision, x2 double precision, x3 double precision,
  x4 double precision, x5 double precision, x6 double precision, reporter_key text, received_ms bigint NOT NULL,
  PRIMARY KEY (bucket, id, version));
CREATE INDEX dedup_verdicts_by_id ON dedup_verdicts (id, version);
CREATE TABLE dedup_fingerprints (
  bucket bigint NOT NULL, fp bigint NOT NULL, received_ms bigint NOT NULL, id text NOT NULL,
  PRIMARY KEY (bucket, fp, received_ms, id));
CREATE TABLE dedup_incidents (
  bucket bigint NOT NULL, cell bigint NOT NULL, received_ms bigint NOT NULL, id text NOT NULL,
  root_id text NOT NULL, category text NOT NULL, lat double precision NOT NULL, lon double precision NOT NULL,
  incident_ms bigint NOT NULL, bits bytea NOT NULL,
  PRIMARY KEY (bucket, cell, category, received_ms, id));
CREATE TABLE dedup_reporters (hash text PRIMARY KEY, reporter_key text NOT NULL, last_seen_ms bigint NOT NULL);
)SQL";

const Migration kMigrations[] = {
    {1, "initial schema: ledger, cursor, outbox items, batches with fencing tokens, write-back", kSchemaV1},
    {2, "leases with fencing tokens: the ingest lease, open batches taken over when their lease runs out", kSchemaV2},
    {3, "write-back: statuses found by submission (a newer status supersedes an older one waiting)", kSchemaV3},
    {4, "fleet-wide limits of a target: connection slots under a lease, a shared token bucket", kSchemaV4},
    {5, "deduplication's history shared by the fleet: verdicts, fingerprints, related-report index, reporter keys",
     kSchemaV5},
};

// The database server's clock, in Unix ms: leases are judged by one clock,
// whatever the instances' clocks say.
#define SERVER_NOW "(extract(epoch from clock_timestamp()) * 1000)::bigint"

// Any fixed number: the advisory lock that serialises migrations.
constexpr std::int64_t kMigrationLock = 0x52420016;

constexpr const char* kReceivedMessage = "Thank you. Your report has been received and will be reviewed by our staff.";
constexpr std::int64_t kDuplicateReferenceWaitMs = 7LL * 24 * 3600 * 1000;
// How often a delivery thread looks for work other instances queued or left.
constexpr std::int64_t kPeerPollMs = 1000;

std::string batch_key(const std::string& instance, std::int64_t id, std::int64_t now) {
  std::time_t t = static_cast<std::time_t>(now / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ-%s-%06lld", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, instance.c_str(), static_cast<long long>(id));
  return buf;
}

std::int64_t backoff_ms(int attempts, const store::RetryPolicy& p) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  double exp = static_cast<double>(p.base.count()) * static_cast<double>(1LL << std::min(attempts - 1, 30));
  double capped = std::min(exp, static_cast<double>(p.cap.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return static_cast<std::int64_t>(capped * jitter(rng));
}

std::string random_instance() {
  std::random_device rd;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", static_cast<unsigned>(rd() & 0xffffff));
  return buf;
}

// What a decoded record takes in memory (as the SQLite store counts it).
std::size_t held_bytes(const core::TargetRecord& r) {
  auto heap = [](const std::string& s) { return s.size() > 15 ? s.capacity() + 1 : 0; };
  std::size_t n =
      sizeof(core::TargetRecord) + sizeof(core::DeliveryItem) + r.fields.capacity() * sizeof(core::RecordField);
  for (const auto& f : r.fields) n += heap(f.name) + (f.value ? heap(*f.value) : 0);
  return n;
}

// group_members: "<id> <target>\n" per item of a submission version.
std::vector<std::pair<std::int64_t, std::string>> parse_members(std::string_view text) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    out.emplace_back(std::strtoll(std::string(line.substr(0, sp)).c_str(), nullptr, 10),
                     std::string(line.substr(sp + 1)));
  }
  return out;
}

// Statuses to write back, in one statement, numbered (writeback_queue.id) in
// the order given: the order they are written back in.
struct StatusRow {
  core::StatusUpdate update;
  std::int64_t version = 0;
  std::int64_t created_ms = 0;
};

void insert_statuses(pg::Connection& c, const std::vector<StatusRow>& rows) {
  if (rows.empty()) return;
  pg::ArrayColumn cols[7];
  for (const auto& r : rows) {
    cols[0].add(r.update.submission_id);
    cols[1].add(r.version);
    cols[2].add(r.update.state);
    cols[3].add(r.update.reference);
    cols[4].add(r.update.message);
    cols[5].add(r.update.updated_at);
    cols[6].add(r.created_ms);
  }
  Params p;
  for (const auto& col : cols) p.add(col.literal());
  c.exec(
      "INSERT INTO writeback_queue (submission_id, version, state, reference, message, updated_at, created_ms)"
      " SELECT s, v, st, r, m, u, c FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
      " $6::text[], $7::bigint[]) WITH ORDINALITY AS x(s, v, st, r, m, u, c, n) ORDER BY n",
      p);
}

std::int64_t scalar(pg::Connection& c, const std::string& sql, const Params& p = {}) {
  auto r = c.exec(sql, p);
  return r.empty() ? 0 : r.int64(0, 0);
}

}  // namespace

// --- settings and connecting --------------------------------------------------

std::string full_conninfo(const PgSettings& s) {
  std::string out = s.conninfo;
  if (!s.sslmode.empty()) out += " sslmode=" + pg::conninfo_quote(s.sslmode);
  if (!s.sslrootcert.empty()) out += " sslrootcert=" + pg::conninfo_quote(s.sslrootcert.string());
  return out;
}

std::string read_password(const PgSettings& s) {
  std::filesystem::path file = s.password_file;
  if (file.empty() && !s.password_credential.empty()) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !*dir)
      throw std::runtime_error("state.password_credential '" + s.password_credential +
                               "': CREDENTIALS_DIRECTORY is not set (the service needs LoadCredential=)");
    if (s.password_credential.find('/') != std::string::npos || s.password_credential == "." ||
        s.password_credential == "..")
      throw std::runtime_error("state.password_credential must be a plain credential name");
    file = std::filesystem::path(dir) / s.password_credential;
  }
  if (file.empty()) return {};
  std::string pw = core::read_secret_file(file, "state: password file").content;
  if (!pw.empty() && pw.back() == '\n') pw.pop_back();
  if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  return pw;
}

std::unique_ptr<pg::Connection> connect(const PgSettings& s) {
  return std::make_unique<pg::Connection>(full_conninfo(s), read_password(s));
}

int schema_version() { return kMigrations[std::size(kMigrations) - 1].version; }

int database_schema_version(pg::Connection& c) {
  auto exists = c.exec("SELECT to_regclass('schema_version') IS NOT NULL");
  if (!exists.boolean(0, 0)) return 0;
  return static_cast<int>(scalar(c, "SELECT coalesce(max(version), 0) FROM schema_version"));
}

int migrate(pg::Connection& c) {
  pg::Transaction tx(c);
  c.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kMigrationLock));
  c.exec_script(
      "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, description text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  const int found = static_cast<int>(scalar(c, "SELECT coalesce(max(version), 0) FROM schema_version"));
  if (found > schema_version())
    throw std::runtime_error("the PostgreSQL state database has schema version " + std::to_string(found) +
                             ", newer than this build understands (" + std::to_string(schema_version()) + ")");
  for (const auto& m : kMigrations) {
    if (m.version <= found) continue;
    c.exec_script(m.sql);
    c.exec("INSERT INTO schema_version (version, description) VALUES ($1, $2)",
           Params().add(m.version).add(m.description));
  }
  c.exec("INSERT INTO meta (key, value) VALUES ('instance', $1) ON CONFLICT (key) DO NOTHING",
         Params().add(random_instance()));
  tx.commit();
  return found;
}

// --- the store ---------------------------------------------------------------

namespace {
std::atomic<std::uint64_t> taken_over_count{0};
}  // namespace

std::uint64_t batches_taken_over() noexcept { return taken_over_count.load(std::memory_order_relaxed); }

std::string default_instance() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !*host) return "reportbridge";
  return host;
}

PgStateStore::PgStateStore(const PgSettings& settings)
    : c_(connect(settings)),
      connect_([settings] { return connect(settings); }),
      owner_(settings.instance.empty() ? default_instance() : settings.instance),
      lease_ms_(settings.lease.count()) {
  if (settings.migrate_on_start) {
    migrate(*c_);
  } else if (const int v = database_schema_version(*c_); v != schema_version()) {
    throw std::runtime_error("the PostgreSQL state database has schema version " + std::to_string(v) +
                             ", this build needs " + std::to_string(schema_version()) +
                             ": run `reportbridge state migrate` (state.migrate is manual)");
  }
  open();
}

PgStateStore::PgStateStore(std::unique_ptr<pg::Connection> connection, std::string instance,
                           std::chrono::milliseconds lease)
    : c_(std::move(connection)),
      owner_(instance.empty() ? default_instance() : std::move(instance)),
      lease_ms_(lease.count()) {
  migrate(*c_);
  open();
}

PgStateStore::~PgStateStore() = default;

// A connection the server dropped (a restart, a failover to a replica) is
// made again before the next operation; the operation that saw it go failed
// (PgError::connection_lost) and its transaction rolled back.
pg::Connection& PgStateStore::conn() {
  if (!c_->ok()) c_->reset();
  return *c_;
}

void PgStateStore::open() {
  auto r = conn().exec("SELECT value FROM meta WHERE key = 'instance'");
  if (!r.empty()) instance_ = r.text(0, 0);
  // A paused instance's open transaction (it may hold the ingest lease's row)
  // is ended by the server once its lease has run out, so the others go on.
  conn().exec_script("SET idle_in_transaction_session_timeout = " + std::to_string(std::max<std::int64_t>(1000, lease_ms_)));
}

core::SourceCursor PgStateStore::load_cursor(const std::string& source) {
  core::SourceCursor cur;
  cur.high_water = scalar(conn(), "SELECT high_water FROM source_cursors WHERE source = $1", Params().add(source));
  auto g = conn().exec("SELECT first_seq, last_seq, opened_at_ms FROM source_gaps WHERE source = $1 ORDER BY first_seq",
                    Params().add(source));
  for (int i = 0; i < g.rows(); ++i) cur.gaps.push_back({g.int64(i, 0), g.int64(i, 1), g.int64(i, 2)});
  return cur;
}

std::string PgStateStore::reference_for(const std::string& submission_id, const std::string& target) {
  auto r = conn().exec(
      "SELECT reference FROM legacy_refs WHERE submission_id = $1 AND ($2 = '' OR target = $2)"
      " ORDER BY updated_ms DESC LIMIT 1",
      Params().add(submission_id).add(target));
  return r.empty() ? std::string() : r.text(0, 0);
}

// --- ingest --------------------------------------------------------------------

class PgIngest final : public store::IngestTransaction {
 public:
  // Takes (or renews) the ingest lease in this transaction: its row stays
  // locked until commit, so no other instance takes it over meanwhile; one
  // whose lease ran out while paused finds its session ended at its next
  // statement, and nothing of its batch is recorded.
  explicit PgIngest(PgStateStore& s) : s_(s), c_(s.conn()), tx_(c_) {
    auto r = c_.exec(
        "INSERT INTO leases (name, holder, fence, expires_ms) VALUES ('ingest', $1, nextval('fencing_tokens'), "
        SERVER_NOW " + $2) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE excluded.fence END,"
        " expires_ms = excluded.expires_ms WHERE leases.holder = excluded.holder OR leases.expires_ms < " SERVER_NOW
        " RETURNING fence",
        Params().add(s.owner_).add(s.lease_ms_));
    if (r.empty()) {
      auto h = c_.exec("SELECT holder FROM leases WHERE name = 'ingest'");
      throw store::LeaseLost("the ingest lease is held by instance " + (h.empty() ? std::string("?") : h.text(0, 0)));
    }
    // A new fence: another instance held the lease since this one's last
    // batch, and wrote dedup rows this one's mirror lacks.
    if (const std::int64_t fence = r.int64(0, 0); fence != s_.last_ingest_fence_) {
      ++s_.ingest_generation_;
      s_.last_ingest_fence_ = fence;
    }
  }
  // A batch that did not commit may have left rows in a dedup mirror.
  ~PgIngest() override {
    if (!committed_) ++s_.ingest_generation_;
  }

  // The ledger rows of the batch, asked in one round trip (will_claim) and
  // written with the records (flush): a claim is then no round trip of its
  // own. Only the ingest lease's holder writes the ledger, and its row stays
  // locked by this transaction, so what will_claim read cannot change under
  // it; the flush checks that anyway (LeaseLost when a row was taken).
  void will_claim(const std::vector<core::SourceRow>& rows) override {
    if (rows.empty()) return;
    pg::ArrayColumn ids, versions;
    for (const auto& row : rows) {
      ids.add(row.id);
      versions.add(row.version);
      asked_.insert(key_of(row));
    }
    auto r = c_.exec(
        "SELECT l.submission_id, l.version FROM ledger l JOIN unnest($1::text[], $2::bigint[]) AS x(s, v)"
        " ON l.submission_id = x.s AND l.version = x.v",
        Params().add(ids.literal()).add(versions.literal()));
    for (int i = 0; i < r.rows(); ++i) in_ledger_.insert(r.text(i, 0) + '\x1f' + std::to_string(r.int64(i, 1)));
  }

  bool claim_version(const core::SourceRow& row, std::string_view sha, std::int64_t at_ms) override {
    std::string key = key_of(row);
    if (!asked_.count(key)) {  // not named to will_claim: asked on its own
      auto r = c_.exec(
          "INSERT INTO ledger (submission_id, version, seq, content_sha256, outcome, processed_at_ms, received_at)"
          " VALUES ($1, $2, $3, $4, 'queued', $5, $6) ON CONFLICT DO NOTHING",
          Params().add(row.id).add(row.version).add(row.seq).add(sha).add(at_ms).add(row.received_at));
      return r.affected() > 0;
    }
    if (!in_ledger_.insert(key).second) return false;  // processed before, or earlier in this batch
    if (in_savepoint_) claimed_in_savepoint_.push_back(key);
    pending_ledger_.emplace(key, ledger_.size());
    ledger_.push_back({row.id, row.version, row.seq, std::string(sha), "queued", at_ms, row.received_at});
    return true;
  }

  void set_outcome(const core::SourceRow& row, std::string_view outcome) override {
    if (auto it = pending_ledger_.find(key_of(row)); it != pending_ledger_.end()) {
      ledger_[it->second].outcome = std::string(outcome);
      return;
    }
    c_.exec("UPDATE ledger SET outcome = $3 WHERE submission_id = $1 AND version = $2",
            Params().add(row.id).add(row.version).add(outcome));
  }

  void quarantine(const store::QuarantineEntry& e) override {
    c_.exec(
        "INSERT INTO quarantine (seq, submission_id, version, reason_code, field, detail, mapping, quarantined_at_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        Params().add(e.seq).add(e.submission_id).add(e.version).add(e.reason_code).add(e.field).add(e.detail)
            .add(e.mapping).add(e.at_ms));
  }

  void queue_status(const core::StatusUpdate& u, std::int64_t version) override {
    statuses_.emplace_back(u, version);
  }

  // Records are collected and written in one statement per flush (at
  // commit, and before anything that reads the outbox or a savepoint), their
  // ids taken from the sequence in blocks: a round trip per block, not per record.
  void queue_version(const store::QueuedVersion& v, std::int64_t now) override {
    if (v.records.empty()) return;
    now_ = now;
    const core::SourceRow& row = *v.row;
    std::vector<std::int64_t> id(v.records.size());
    std::string members;
    for (std::size_t i = 0; i < v.records.size(); ++i) {
      id[i] = next_id();
      members += std::to_string(id[i]) + " " + std::string(v.records[i].target) + "\n";
    }
    const std::int64_t group = *std::min_element(id.begin(), id.end());
    for (std::size_t i = 0; i < v.records.size(); ++i) {
      const store::QueuedRecord& r = v.records[i];
      const bool held = !r.held.empty();
      cols_[0].add(id[i]);
      cols_[1].add(r.target);
      cols_[2].add(row.id);
      cols_[3].add(row.version);
      cols_[4].add(row.seq);
      cols_[5].add(r.mapping);
      cols_[6].add(held ? "dead" : "pending");
      cols_[7].add(now);
      if (held) {
        cols_[8].add(r.held);
        cols_[9].add(now);
      } else {
        cols_[8].add_null();
        cols_[9].add_null();
      }
      cols_[10].add_or_null(v.update_of);
      cols_[11].add(group);
      cols_[12].add(members);
      if (v.hint) {
        cols_[13].add(v.hint->state);
        cols_[14].add(v.hint->message);
      } else {
        cols_[13].add_null();
        cols_[14].add_null();
      }
      cols_[15].add_bytes(
          store::codec::encode_record(row.id, row.version, r.mapping, r.target, *r.field_names, r.values));
      ++buffered_;
    }
    if (buffered_ >= kFlushRecords) flush();
  }

  void flush_ledger() {
    if (ledger_.empty()) return;
    pg::ArrayColumn cols[7];
    for (const auto& l : ledger_) {
      cols[0].add(l.submission_id);
      cols[1].add(l.version);
      cols[2].add(l.seq);
      cols[3].add(l.sha);
      cols[4].add(l.outcome);
      cols[5].add(l.at_ms);
      cols[6].add(l.received_at);
    }
    Params p;
    for (auto& col : cols) p.add(col.literal());
    auto r = c_.exec(
        "INSERT INTO ledger (submission_id, version, seq, content_sha256, outcome, processed_at_ms, received_at)"
        " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],"
        " $7::text[]) ON CONFLICT DO NOTHING",
        p);
    if (r.affected() != static_cast<std::int64_t>(ledger_.size()))
      throw store::LeaseLost("ingest: " + std::to_string(ledger_.size() - static_cast<std::size_t>(r.affected())) +
                             " of this batch's versions were recorded by another instance meanwhile");
    ledger_.clear();
    pending_ledger_.clear();
  }

  void flush() {
    flush_ledger();
    if (buffered_ == 0) return;
    Params p;
    for (auto& col : cols_) {
      p.add(col.literal());
      col = pg::ArrayColumn();
    }
    buffered_ = 0;
    c_.exec(
        "INSERT INTO outbox_items (id, target, submission_id, version, seq, mapping, state, next_attempt_ms,"
        " enqueued_ms, last_error, settled_ms, update_of, version_group, group_members, hint_state, hint_message,"
        " record) SELECT i, t, s, v, q, m, st, n, n, e, sm, u, g, gm, hs, hm, r FROM unnest($1::bigint[],"
        " $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::text[],"
        " $10::bigint[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::bytea[])"
        " AS x(i, t, s, v, q, m, st, n, e, sm, u, g, gm, hs, hm, r)",
        p);
  }

  std::int64_t next_id() {
    if (ids_.empty()) {
      auto r = c_.exec("SELECT nextval('outbox_item_ids') FROM generate_series(1, $1)", Params().add(kIdBlock));
      for (int i = r.rows() - 1; i >= 0; --i) ids_.push_back(r.int64(i, 0));
      std::sort(ids_.rbegin(), ids_.rend());  // smallest last: taken first
    }
    const std::int64_t id = ids_.back();
    ids_.pop_back();
    return id;
  }

  std::string reference_for(const std::string& submission_id, const std::string& target) override {
    return s_.reference_for(submission_id, target);
  }

  void save_cursor(const std::string& source, const core::SourceCursor& cursor) override {
    c_.exec(
        "INSERT INTO source_cursors (source, high_water) VALUES ($1, $2)"
        " ON CONFLICT (source) DO UPDATE SET high_water = excluded.high_water",
        Params().add(source).add(cursor.high_water));
    c_.exec("DELETE FROM source_gaps WHERE source = $1", Params().add(source));
    for (const auto& gap : cursor.gaps)
      c_.exec("INSERT INTO source_gaps (source, first_seq, last_seq, opened_at_ms) VALUES ($1, $2, $3, $4)",
              Params().add(source).add(gap.first).add(gap.last).add(gap.opened_at_ms));
  }

  void link_duplicate(const std::string& submission_id, std::int64_t version, const std::string& of_id,
                      const std::string& message, std::int64_t now) override {
    c_.exec(
        "INSERT INTO duplicate_links (submission_id, version, of_id, message, created_ms) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (submission_id, version) DO UPDATE SET of_id = excluded.of_id, message = excluded.message,"
        " created_ms = excluded.created_ms, reference = NULL",
        Params().add(submission_id).add(version).add(of_id).add(message).add(now));
  }

  std::optional<std::string> kept_for(const std::string& submission_id) override {
    std::optional<std::string> kept;
    std::string id = submission_id;
    for (int hop = 0; hop < 8; ++hop) {  // a duplicate of a report that became a duplicate itself
      auto r = c_.exec("SELECT of_id FROM duplicate_links WHERE submission_id = $1 ORDER BY version LIMIT 1",
                       Params().add(id));
      if (r.empty()) break;
      id = r.text(0, 0);
      kept = id;
    }
    return kept;
  }

  void relink_duplicates(const std::string& from, const std::string& to) override {
    c_.exec("UPDATE duplicate_links SET of_id = $2 WHERE of_id = $1", Params().add(from).add(to));
  }

  // Only a version 1 whose every item is still waiting for its first claim
  // (none held, none claimed before), at every target of the version.
  bool withdraw_unsent(const std::string& submission_id) override {
    flush();
    auto r = c_.exec(
        "SELECT id, version, state, claimed, attempts, version_group, group_members FROM outbox_items"
        " WHERE submission_id = $1 AND state <> 'withdrawn' FOR UPDATE",
        Params().add(submission_id));
    if (r.empty()) return false;
    std::set<std::int64_t> present;
    for (int i = 0; i < r.rows(); ++i) {
      if (r.int64(i, 1) != 1 || r.text(i, 2) != "pending" || r.boolean(i, 3) || r.int64(i, 4) != 0) return false;
      present.insert(r.int64(i, 0));
    }
    for (const auto& [id, target] : parse_members(r.view(0, 6)))
      if (!present.count(id)) return false;  // delivered already
    c_.exec("UPDATE outbox_items SET state = 'withdrawn', settled_ms = $2 WHERE submission_id = $1 AND state = 'pending'",
            Params().add(submission_id).add(store::now_ms()));
    return true;
  }

  // Records collected before a savepoint are written before it (a rollback to
  // it keeps them); those collected inside it are written inside it.
  void begin_savepoint() override {
    flush();
    s_.flush_dedup();
    c_.exec_script("SAVEPOINT ingest_step");
    in_savepoint_ = true;
    claimed_in_savepoint_.clear();
  }
  void end_savepoint(bool keep) override {
    flush();
    s_.flush_dedup();
    c_.exec_script(keep ? "RELEASE SAVEPOINT ingest_step"
                        : "ROLLBACK TO SAVEPOINT ingest_step; RELEASE SAVEPOINT ingest_step");
    if (!keep)  // those claims were undone with the rest
      for (const auto& key : claimed_in_savepoint_) in_ledger_.erase(key);
    in_savepoint_ = false;
    claimed_in_savepoint_.clear();
  }

  void commit() override {
    flush();
    s_.flush_dedup();  // dedup rows of the batch commit with it
    // Statuses are written back in the order they were queued (writeback_queue.id).
    const std::int64_t at = now_ ? now_ : store::now_ms();
    std::vector<StatusRow> rows;
    rows.reserve(statuses_.size());
    for (const auto& [u, version] : statuses_) rows.push_back({u, version, at});
    insert_statuses(c_, rows);
    tx_.commit();
    committed_ = true;
  }

 private:
  PgStateStore& s_;
  pg::Connection& c_;
  pg::Transaction tx_;
  std::vector<std::pair<core::StatusUpdate, std::int64_t>> statuses_;
  std::int64_t now_ = 0;
  static constexpr std::size_t kFlushRecords = 500;
  static constexpr std::int64_t kIdBlock = 256;
  pg::ArrayColumn cols_[16];
  std::size_t buffered_ = 0;
  std::vector<std::int64_t> ids_;  // taken from the sequence, not used yet

  struct LedgerRow {
    std::string submission_id;
    std::int64_t version;
    std::int64_t seq;
    std::string sha;
    std::string outcome;
    std::int64_t at_ms;
    std::string received_at;
  };
  static std::string key_of(const core::SourceRow& row) { return row.id + '\x1f' + std::to_string(row.version); }
  std::unordered_set<std::string> asked_;      // (id, version) keys will_claim asked about
  std::unordered_set<std::string> in_ledger_;  // of those, in the ledger or claimed in this transaction
  std::vector<LedgerRow> ledger_;              // claimed, not written yet
  std::unordered_map<std::string, std::size_t> pending_ledger_;  // key -> ledger_ index
  bool in_savepoint_ = false;
  std::vector<std::string> claimed_in_savepoint_;
  bool committed_ = false;
};

std::unique_ptr<store::IngestTransaction> PgStateStore::begin_ingest() { return std::make_unique<PgIngest>(*this); }

// --- dispatch --------------------------------------------------------------------

void PgStateStore::set_writeback_rule(const std::string& target, const store::WritebackRule& rule) {
  writeback_rules_.set(target, rule);
}

namespace {
// Items a claim may take: pending and due, not a later version while an
// earlier one of the same submission is still on its way to this target, not
// an edit of a duplicate while the record kept for it is.
constexpr const char* kClaimable =
    " o.target = $1 AND o.state = 'pending' AND o.next_attempt_ms <= $2"
    " AND (o.version = 1 OR NOT EXISTS (SELECT 1 FROM outbox_items e WHERE e.target = o.target"
    " AND e.submission_id = o.submission_id AND e.version < o.version AND e.state IN ('pending', 'in_flight')))"
    " AND (o.update_of IS NULL OR NOT EXISTS (SELECT 1 FROM outbox_items k WHERE k.target = o.target"
    " AND k.submission_id = o.update_of AND k.state IN ('pending', 'in_flight')))";
}  // namespace

store::PendingSummary PgStateStore::pending_summary(const std::string& target, std::int64_t now, std::size_t enough) {
  store::PendingSummary s;
  auto r = conn().exec(std::string("SELECT count(*), coalesce(min(enqueued_ms), 0) FROM (SELECT o.enqueued_ms FROM"
                                " outbox_items o WHERE") +
                        kClaimable + " ORDER BY o.id LIMIT $3) s",
                    Params().add(target).add(now).add(enough));
  s.ready = r.int64(0, 0);
  s.oldest_enqueued_ms = s.ready ? r.int64(0, 1) : 0;
  // A batch left open past its lease (see claim_batch): to be taken over now.
  auto left = conn().exec(
      "SELECT min(created_ms) FROM delivery_batches WHERE target = $1 AND state = 'open' AND lease_until_ms < " SERVER_NOW,
      Params().add(target));
  if (!left.is_null(0, 0)) {
    s.ready = static_cast<std::int64_t>(std::max<std::size_t>(1, enough));
    s.oldest_enqueued_ms = s.oldest_enqueued_ms ? std::min(s.oldest_enqueued_ms, left.int64(0, 0)) : left.int64(0, 0);
  }
  return s;
}

std::optional<std::int64_t> PgStateStore::next_attempt_after(const std::string& target, std::int64_t now) {
  auto r = conn().exec(
      "SELECT min(next_attempt_ms) FROM outbox_items WHERE target = $1 AND state = 'pending' AND next_attempt_ms > $2",
      Params().add(target).add(now));
  // Other instances queue records and leave batches without waking this
  // one's delivery thread: it looks again within kPeerPollMs.
  const std::int64_t peers = now + kPeerPollMs;
  if (r.is_null(0, 0)) return peers;
  return std::min(r.int64(0, 0), peers);
}

std::optional<core::DeliveryBatch> PgStateStore::claim_batch(const std::string& target, store::ClaimLimits limits,
                                                             std::int64_t now) {
  const std::size_t max_items = std::max<std::size_t>(1, limits.max_items);
  pg::Transaction tx(conn());
  // First a batch left open past its lease: another instance's (it died, froze
  // or lost the database), or this one's own whose outcome could not be
  // recorded (the database went away; one delivery thread per target, so it is
  // not still being delivered here). Taken over under a new fencing token and
  // delivered again under its key.
  {
    auto left = conn().exec(
        "UPDATE delivery_batches SET owner = $2, fence = nextval('fencing_tokens'), lease_until_ms = " SERVER_NOW
        " + $3 WHERE id = (SELECT id FROM delivery_batches WHERE target = $1 AND state = 'open'"
        " AND lease_until_ms < " SERVER_NOW " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, batch_key, fence",
        Params().add(target).add(owner_).add(lease_ms_));
    if (!left.empty()) {
      taken_over_count.fetch_add(1, std::memory_order_relaxed);
      core::DeliveryBatch batch;
      batch.id = left.int64(0, 0);
      batch.key = left.text(0, 1);
      batch.fence = left.int64(0, 2);
      std::vector<std::string> update_of;
      load_items(batch, update_of, now);
      tx.commit();
      prior_references(target, batch, update_of);
      return batch;
    }
  }
  // Rows another claimer holds are skipped, not waited for.
  auto r = conn().exec(std::string("SELECT o.id, o.submission_id, o.version, o.attempts, o.in_doubt, o.record,"
                                " coalesce(o.update_of, '') FROM outbox_items o WHERE") +
                        kClaimable + " ORDER BY o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED",
                    Params().add(target).add(now).add(max_items));
  core::DeliveryBatch batch;
  std::vector<std::string> update_of;
  std::vector<std::int64_t> unreadable;
  std::set<std::pair<std::string, std::int64_t>> taken;  // (submission, version) in this batch
  std::size_t bytes = 0;
  for (int i = 0; i < r.rows() && batch.items.size() < max_items && bytes < limits.max_bytes; ++i) {
    core::DeliveryItem item;
    item.outbox_id = r.int64(i, 0);
    item.attempts = static_cast<int>(r.int64(i, 3));
    item.in_doubt = r.boolean(i, 4);
    const auto record = r.bytes(i, 5);
    if (!record || !store::codec::decode_record(*record, item.record)) {
      unreadable.push_back(item.outbox_id);
      continue;
    }
    bytes += held_bytes(item.record);
    taken.emplace(item.record.submission_id, item.record.version);
    update_of.push_back(r.text(i, 6));
    batch.items.push_back(std::move(item));
  }
  for (auto id : unreadable)
    conn().exec(
        "UPDATE outbox_items SET state = 'dead', last_error = 'record_unreadable', settled_ms = $2, batch_id = NULL"
        " WHERE id = $1",
        Params().add(id).add(now));
  if (batch.items.empty()) {
    tx.commit();
    return std::nullopt;
  }
  auto b = conn().exec("SELECT nextval('delivery_batches_id_seq'), nextval('fencing_tokens')");
  batch.id = b.int64(0, 0);
  batch.fence = b.int64(0, 1);
  batch.key = batch_key(instance_, batch.id, now);
  conn().exec(
      "INSERT INTO delivery_batches (id, target, batch_key, state, fence, owner, created_ms, items, lease_until_ms)"
      " VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, " SERVER_NOW " + $8)",
      Params().add(batch.id).add(target).add(batch.key).add(batch.fence).add(owner_).add(now)
          .add(batch.items.size()).add(lease_ms_));
  std::string ids;
  for (const auto& item : batch.items) ids += (ids.empty() ? "{" : ",") + std::to_string(item.outbox_id);
  ids += "}";
  conn().exec(
      "UPDATE outbox_items SET state = 'in_flight', batch_id = $1, claimed = true WHERE id = ANY($2::bigint[])",
      Params().add(batch.id).add(ids));
  tx.commit();  // synchronous_commit: on disk before anything is published under the key
  prior_references(target, batch, update_of);
  return batch;
}

void PgStateStore::prior_references(const std::string& target, core::DeliveryBatch& batch,
                                    const std::vector<std::string>& update_of) {
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    auto& item = batch.items[i];
    const std::string& kept = i < update_of.size() ? update_of[i] : std::string();
    Result r;
    if (!kept.empty()) {
      r = conn().exec("SELECT reference FROM legacy_refs WHERE target = $1 AND submission_id = $2",
                   Params().add(target).add(kept));
    } else {
      if (item.record.version <= 1) continue;
      r = conn().exec("SELECT reference FROM legacy_refs WHERE target = $1 AND submission_id = $2 AND version < $3",
                   Params().add(target).add(item.record.submission_id).add(item.record.version));
    }
    if (!r.empty()) item.prior_reference = r.text(0, 0);
  }
}

// The items of an open batch, in doubt (it may have been delivered); items
// whose record cannot be read become dead letters.
void PgStateStore::load_items(core::DeliveryBatch& batch, std::vector<std::string>& update_of, std::int64_t now) {
  auto r = conn().exec(
      "SELECT id, attempts, record, coalesce(update_of, '') FROM outbox_items WHERE batch_id = $1"
      " AND state = 'in_flight' ORDER BY id",
      Params().add(batch.id));
  for (int i = 0; i < r.rows(); ++i) {
    core::DeliveryItem item;
    item.outbox_id = r.int64(i, 0);
    item.attempts = static_cast<int>(r.int64(i, 1));
    item.in_doubt = true;
    const auto record = r.bytes(i, 2);
    if (!record || !store::codec::decode_record(*record, item.record)) {
      conn().exec(
          "UPDATE outbox_items SET state = 'dead', last_error = 'record_unreadable', settled_ms = $2,"
          " batch_id = NULL WHERE id = $1",
          Params().add(item.outbox_id).add(now));
      continue;
    }
    update_of.push_back(r.text(i, 3));
    batch.items.push_back(std::move(item));
  }
}

// This instance's open batches (left by its previous run), and those whose
// lease ran out, each taken under a new fencing token.
std::vector<core::DeliveryBatch> PgStateStore::open_batches(const std::string& target) {
  std::vector<core::DeliveryBatch> out;
  pg::Transaction tx(conn());
  auto b = conn().exec(
      "UPDATE delivery_batches SET owner = $2, fence = nextval('fencing_tokens'), lease_until_ms = " SERVER_NOW
      " + $3 WHERE target = $1 AND state = 'open' AND (owner = $2 OR lease_until_ms < " SERVER_NOW
      ") RETURNING id, batch_key, fence",
      Params().add(target).add(owner_).add(lease_ms_));
  std::vector<std::vector<std::string>> update_of;
  for (int k = 0; k < b.rows(); ++k) {
    core::DeliveryBatch batch;
    batch.id = b.int64(k, 0);
    batch.key = b.text(k, 1);
    batch.fence = b.int64(k, 2);
    out.push_back(std::move(batch));
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
  for (auto& batch : out) load_items(batch, update_of.emplace_back(), store::now_ms());
  tx.commit();
  for (std::size_t k = 0; k < out.size(); ++k) prior_references(target, out[k], update_of[k]);
  return out;
}

void PgStateStore::settle_batch(const core::DeliveryBatch& batch, const std::vector<core::DeliveryOutcome>& outcomes,
                                std::int64_t now, const store::RetryPolicy& retry, const store::WritebackRule& rule) {
  pg::Transaction tx(conn());
  // The fence: only the claim that holds the batch records its outcome.
  auto closed = conn().exec(
      "UPDATE delivery_batches SET state = 'settled', settled_ms = $3 WHERE id = $1 AND fence = $2 AND state = 'open'"
      " RETURNING target",
      Params().add(batch.id).add(batch.fence).add(now));
  if (closed.empty())
    throw store::LeaseLost("delivery batch " + batch.key +
                           " is no longer held by this claim: its outcome was recorded elsewhere");
  const std::string target = closed.text(0, 0);
  struct Row {
    std::int64_t group = 0;
    std::string members, hint_state, hint_message;
    bool has_hint = false;
  };
  std::unordered_map<std::int64_t, Row> rows;
  {
    auto r = conn().exec(
        "SELECT id, version_group, group_members, hint_state, hint_message FROM outbox_items WHERE batch_id = $1"
        " FOR UPDATE",
        Params().add(batch.id));
    for (int i = 0; i < r.rows(); ++i)
      rows[r.int64(i, 0)] = {r.int64(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), !r.is_null(i, 3)};
  }
  enum class Final { delivered, dead, open };
  std::vector<Final> finals(batch.items.size(), Final::open);
  std::int64_t delivered = 0;
  std::string delivered_ids;
  auto set_state = [&](std::int64_t id, const char* state, int attempts, const std::string& error,
                       std::int64_t next_attempt, bool settled, bool in_doubt) {
    Params p;
    p.add(id).add(state).add(attempts).add(error).add(next_attempt);
    if (settled) p.add(now); else p.add_null();
    p.add(in_doubt);
    conn().exec(
        "UPDATE outbox_items SET state = $2, attempts = $3, last_error = $4, next_attempt_ms = $5, settled_ms = $6,"
        " in_doubt = in_doubt OR $7, batch_id = NULL WHERE id = $1",
        p);
  };
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    const auto& item = batch.items[i];
    const core::DeliveryOutcome o =
        i < outcomes.size() ? outcomes[i]
                            : core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "no_outcome",
                                                          "sink returned fewer outcomes than items");
    const std::string error = o.reason_code.empty() ? std::string() : o.reason_code + ": " + o.detail;
    const int attempts = item.attempts + 1;
    switch (o.status) {
      case core::DeliveryStatus::delivered:
        finals[i] = Final::delivered;
        ++delivered;
        // Delivered items keep no copy of their record (personal data kept no longer than needed).
        delivered_ids += (delivered_ids.empty() ? "{" : ",") + std::to_string(item.outbox_id);
        if (rule.keep_references && !o.reference.empty())
          conn().exec(
              "INSERT INTO legacy_refs (target, submission_id, version, reference, updated_ms) VALUES ($1, $2, $3, $4,"
              " $5) ON CONFLICT (target, submission_id) DO UPDATE SET version = excluded.version, reference ="
              " excluded.reference, updated_ms = excluded.updated_ms WHERE excluded.version >= legacy_refs.version",
              Params().add(target).add(item.record.submission_id).add(item.record.version).add(o.reference).add(now));
        break;
      case core::DeliveryStatus::reject:
        finals[i] = Final::dead;
        set_state(item.outbox_id, "dead", attempts, error, 0, true, false);
        break;
      case core::DeliveryStatus::retry:
        if (o.deferred) {
          const std::int64_t wait = std::max<std::int64_t>(
              1000, std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count());
          set_state(item.outbox_id, "pending", item.attempts, error, now + wait, false, o.in_doubt);
        } else if (attempts >= retry.max_attempts) {
          finals[i] = Final::dead;
          set_state(item.outbox_id, "dead", attempts, "retries_exhausted: " + error, 0, true, o.in_doubt);
        } else {
          const std::int64_t wait = std::max<std::int64_t>(
              backoff_ms(attempts, retry), std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count());
          set_state(item.outbox_id, "pending", attempts, error, now + wait, false, o.in_doubt);
        }
        break;
    }
  }
  if (!delivered_ids.empty())
    conn().exec("DELETE FROM outbox_items WHERE id = ANY($1::bigint[])", Params().add(delivered_ids + "}"));
  if (delivered)
    conn().exec(
        "INSERT INTO outbox_counts (target, delivered) VALUES ($1, $2)"
        " ON CONFLICT (target) DO UPDATE SET delivered = outbox_counts.delivered + excluded.delivered",
        Params().add(target).add(delivered));

  // The statuses of the versions this batch settled at their last target.
  const std::string updated_at = store::rfc3339_utc(now);
  const bool duplicates_wait = !conn().exec("SELECT 1 FROM duplicate_links WHERE reference IS NULL LIMIT 1").empty();
  std::set<std::pair<std::string, std::int64_t>> done;
  std::vector<StatusRow> statuses;
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    if (finals[i] == Final::open) continue;
    const auto& item = batch.items[i];
    auto it = rows.find(item.outbox_id);
    if (it == rows.end()) continue;
    const Row& row = it->second;
    std::vector<store::WritebackRules::Delivered> got;
    if (finals[i] == Final::delivered) got.push_back({target, i < outcomes.size() ? outcomes[i].reference : ""});
    const auto members = parse_members(row.members);
    std::string ids;
    for (const auto& [id, t] : members)
      if (id != item.outbox_id) ids += (ids.empty() ? "{" : ",") + std::to_string(id);
    std::unordered_map<std::int64_t, std::string> states;
    if (!ids.empty()) {
      auto s = conn().exec("SELECT id, state FROM outbox_items WHERE id = ANY($1::bigint[])", Params().add(ids + "}"));
      for (int k = 0; k < s.rows(); ++k) states[s.int64(k, 0)] = s.text(k, 1);
    }
    bool open = false;
    for (const auto& [id, t] : members) {
      if (id == item.outbox_id) continue;
      auto st = states.find(id);
      if (st == states.end()) {  // delivered (its row is gone)
        got.push_back({t, writeback_rules_.include_reference(t, rule) ? reference_for(item.record.submission_id, t)
                                                                      : std::string()});
      } else if (st->second != "dead") {
        open = true;
        break;
      }
    }
    if (open) continue;
    if (!done.emplace(item.record.submission_id, item.record.version).second) continue;
    core::StatusUpdate u;
    u.submission_id = item.record.submission_id;
    u.updated_at = updated_at;
    if (!got.empty()) {
      writeback_rules_.compose(got, rule, u);
    } else {
      u.state = "received";
      u.message = kReceivedMessage;
    }
    if (row.has_hint) {
      u.state = row.hint_state;
      u.message = row.hint_message;
    }
    if (duplicates_wait && !u.reference.empty()) {
      // The kept report's status goes first, its duplicates' after it.
      insert_statuses(conn(), statuses);
      statuses.clear();
      insert_statuses(conn(), {{u, item.record.version, now}});
      fill_duplicates_of(u.submission_id, u.reference, now);
      continue;
    }
    statuses.push_back({std::move(u), item.record.version, now});
  }
  insert_statuses(conn(), statuses);
  tx.commit();
}

// Records are deleted with their rows when delivered: nothing is left to release.
std::size_t PgStateStore::release_settled_records() { return 0; }

// Renews the leases of the batches this store's threads are delivering: a
// thread with a connection of its own (the store's is busy with nothing while
// the sink works, but it belongs to the delivering thread), every third of the
// lease. A renewal only extends a batch still open under the same fencing
// token; one that finds it taken over or settled marks it lost. A renewal the
// database did not answer is tried again at the next tick: if the outage lasts
// longer than the lease, another instance may take the batch over, and this
// one's settle fails on the token (LeaseLost).
class LeaseKeeper {
 public:
  LeaseKeeper(std::function<std::unique_ptr<pg::Connection>()> connect, std::int64_t lease_ms)
      : connect_(std::move(connect)),
        lease_ms_(lease_ms),
        every_(std::max<std::int64_t>(100, lease_ms / 3)),
        thread_([this] { run(); }) {}
  ~LeaseKeeper() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  struct Flags {
    std::shared_ptr<std::atomic<bool>> lost;
    std::shared_ptr<std::atomic<std::int64_t>> valid_until;  // steady_clock ns
  };
  // The claim was made a moment ago: held until lease - margin from now.
  Flags add(const core::DeliveryBatch& batch) {
    Flags f{std::make_shared<std::atomic<bool>>(false),
            std::make_shared<std::atomic<std::int64_t>>(valid_from(std::chrono::steady_clock::now()))};
    std::lock_guard<std::mutex> lock(m_);
    held_[batch.id] = Held{batch.fence, batch.key, f.lost, f.valid_until};
    return f;
  }
  // A lease confirmed by a statement started at `t` runs out on the server at
  // least lease_ms after t; this process counts it as held a margin less (a
  // fifth, at most 5 s), so that it stops sending before anyone may take over.
  std::int64_t valid_from(std::chrono::steady_clock::time_point t) const {
    const std::int64_t margin_ms = std::min<std::int64_t>(5000, lease_ms_ / 5);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() +
           (lease_ms_ - margin_ms) * 1'000'000;
  }
  void remove(std::int64_t id) {
    std::lock_guard<std::mutex> lock(m_);
    held_.erase(id);
  }

 private:
  struct Held {
    std::int64_t fence = 0;
    std::string key;
    std::shared_ptr<std::atomic<bool>> lost;
    std::shared_ptr<std::atomic<std::int64_t>> valid_until;
  };

  void run() {
    std::unique_ptr<pg::Connection> c;
    std::unique_lock<std::mutex> lock(m_);
    while (!stop_) {
      cv_.wait_for(lock, every_, [this] { return stop_; });
      if (stop_ || held_.empty()) continue;
      const auto held = held_;
      lock.unlock();
      for (const auto& [id, h] : held) {
        try {
          if (!c) c = connect_();
          else if (!c->ok()) c->reset();
          const auto asked = std::chrono::steady_clock::now();
          auto r = c->exec("UPDATE delivery_batches SET lease_until_ms = " SERVER_NOW
                           " + $3 WHERE id = $1 AND fence = $2 AND state = 'open' RETURNING id",
                           Params().add(id).add(h.fence).add(lease_ms_));
          if (!r.empty()) h.valid_until->store(valid_from(asked));
          if (r.empty()) {
            // Settled under this token (here, just now) is no loss; another token is.
            auto f = c->exec("SELECT fence FROM delivery_batches WHERE id = $1", Params().add(id));
            if ((f.empty() || f.int64(0, 0) != h.fence) && !h.lost->exchange(true))
              spdlog::warn("state: delivery batch {} was taken over by another instance while delivered here; "
                           "its outcome will not be recorded here",
                           h.key);
          }
        } catch (const std::exception& e) {
          spdlog::warn("state: the lease of delivery batch {} could not be renewed (tried again in {} ms): {}",
                       h.key, every_.count(), e.what());
          break;  // the database is away: the next tick tries them all again
        }
      }
      lock.lock();
    }
  }

  std::function<std::unique_ptr<pg::Connection>()> connect_;
  const std::int64_t lease_ms_;
  const std::chrono::milliseconds every_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::int64_t, Held> held_;
  std::thread thread_;  // last: started once the rest is in place
};

namespace {
class KeptLease final : public store::HeldLease {
 public:
  KeptLease(std::shared_ptr<LeaseKeeper> keeper, const core::DeliveryBatch& batch)
      : keeper_(std::move(keeper)), id_(batch.id), flags_(keeper_->add(batch)) {}
  ~KeptLease() override { keeper_->remove(id_); }
  bool lost() const override { return flags_.lost->load(); }
  bool held_now() const override {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    return !lost() && now < flags_.valid_until->load();
  }

 private:
  std::shared_ptr<LeaseKeeper> keeper_;
  std::int64_t id_;
  LeaseKeeper::Flags flags_;
};
}  // namespace

std::unique_ptr<store::HeldLease> PgStateStore::keep_lease(const core::DeliveryBatch& batch) {
  if (!connect_) return nullptr;
  if (!keeper_) keeper_ = std::make_shared<LeaseKeeper>(connect_, lease_ms_);
  return std::make_unique<KeptLease>(keeper_, batch);
}

// --- fleet permits ------------------------------------------------------------------

// One connection of its own (the sinks' threads ask while the store's
// connection works elsewhere), one statement per call: a grant of several
// tokens or a slot is one round trip.
class PgFleetPermits : public store::FleetPermits {
 public:
  PgFleetPermits(std::function<std::unique_ptr<pg::Connection>()> connect, std::string owner, std::int64_t lease_ms)
      : connect_(std::move(connect)), owner_(std::move(owner)), lease_ms_(lease_ms) {}
  std::int64_t slot_lease_ms() const override { return lease_ms_; }

 private:
  // A lost connection is made again at the next call; the call that saw it
  // go throws (StateUnavailable): the caller waits, it is not let through.
  template <class F>
  auto run(F&& f) {
    std::lock_guard lock(mutex_);
    if (!c_ || !c_->ok()) {
      c_.reset();
      c_ = connect_();
    }
    return f(*c_);
  }

 public:

  store::TokenGrant take_tokens(const std::string& target, double rate, double burst, int want) override {
    if (rate <= 0 || want <= 0) return {want, 0, 0};
    burst = std::max(1.0, burst);
    return run([&](pg::Connection& c) {
      // The time is read once before the row lock; one that waited behind
      // another grant counts no time backwards (greatest): never more tokens.
      static constexpr const char* kTake =
          "WITH n AS (SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint AS us),"
          " cur AS (SELECT f.target, greatest(f.refilled_us, n.us) AS us,"
          "   least($3::float8, f.tokens + greatest(0, n.us - f.refilled_us) * $2::float8 / 1e6) AS avail"
          "   FROM fleet_buckets f, n WHERE f.target = $1 FOR UPDATE OF f),"
          " g AS (SELECT target, us, avail, least($4::int, floor(avail)::int) AS granted FROM cur)"
          " UPDATE fleet_buckets f SET tokens = g.avail - g.granted, refilled_us = g.us FROM g"
          " WHERE f.target = g.target RETURNING g.granted, g.avail - g.granted, g.us";
      const auto params = [&] {
        return Params().add(target).add(std::to_string(rate)).add(std::to_string(burst)).add(want);
      };
      auto r = c.exec(kTake, params());
      if (r.empty()) {  // a new bucket, full
        c.exec("INSERT INTO fleet_buckets (target, tokens, refilled_us) VALUES"
               " ($1, $2::float8, (extract(epoch from clock_timestamp()) * 1000000)::bigint)"
               " ON CONFLICT (target) DO NOTHING",
               Params().add(target).add(std::to_string(burst)));
        r = c.exec(kTake, params());
      }
      store::TokenGrant g;
      g.granted = static_cast<int>(r.int64(0, 0));
      g.at_us = r.int64(0, 2);
      if (g.granted < want) {
        const double left = std::stod(r.text(0, 1));
        g.wait_ms = std::max<std::int64_t>(1, static_cast<std::int64_t>((1.0 - left) / rate * 1000.0) + 1);
      }
      return g;
    });
  }

  std::optional<store::FleetSlot> acquire_slot(const std::string& target, int cap, std::int64_t lease_ms) override {
    return run([&](pg::Connection& c) -> std::optional<store::FleetSlot> {
      c.exec("INSERT INTO fleet_slots (target, slot) SELECT $1, g FROM generate_series(0, $2 - 1) g"
             " ON CONFLICT DO NOTHING",
             Params().add(target).add(cap));
      auto r = c.exec(
          "UPDATE fleet_slots s SET holder = $2, fence = s.fence + 1, expires_ms = " SERVER_NOW " + $4"
          " FROM (SELECT slot FROM fleet_slots WHERE target = $1 AND slot < $3 AND expires_ms < " SERVER_NOW
          "       ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) f"
          " WHERE s.target = $1 AND s.slot = f.slot RETURNING s.slot, s.fence",
          Params().add(target).add(owner_).add(cap).add(lease_ms));
      if (r.empty()) return std::nullopt;
      return store::FleetSlot{target, static_cast<int>(r.int64(0, 0)), r.int64(0, 1)};
    });
  }

  bool renew_slot(const store::FleetSlot& s, std::int64_t lease_ms) override {
    return run([&](pg::Connection& c) {
      return c.exec("UPDATE fleet_slots SET expires_ms = " SERVER_NOW " + $4"
                    " WHERE target = $1 AND slot = $2 AND fence = $3 AND expires_ms >= " SERVER_NOW,
                    Params().add(s.target).add(s.slot).add(s.fence).add(lease_ms))
                 .affected() == 1;
    });
  }

  void release_slot(const store::FleetSlot& s) override {
    run([&](pg::Connection& c) {
      c.exec("UPDATE fleet_slots SET expires_ms = 0 WHERE target = $1 AND slot = $2 AND fence = $3",
             Params().add(s.target).add(s.slot).add(s.fence));
      return 0;
    });
  }

 private:
  std::function<std::unique_ptr<pg::Connection>()> connect_;
  std::string owner_;
  std::mutex mutex_;
  std::unique_ptr<pg::Connection> c_;
  std::int64_t lease_ms_;
};

store::FleetPermits* PgStateStore::fleet_permits() {
  if (!connect_) return nullptr;
  std::lock_guard lock(permits_mutex_);
  if (!permits_) permits_ = std::make_unique<PgFleetPermits>(connect_, owner_, lease_ms_);
  return permits_.get();
}

// --- dead letters ------------------------------------------------------------------

namespace {
constexpr const char* kDeadWhere =
    " WHERE state = 'dead' AND ($1 = '' OR target = $1) AND ($2 = '' OR submission_id = $2) AND ($3 = 0 OR id = $3)";
constexpr const char* kDeadColumns =
    "id, target, submission_id, version, mapping, coalesce(last_error, ''), coalesce(settled_ms, 0), record IS NOT NULL";
Params selector(const store::ReplaySelector& w) {
  return Params().add(w.target).add(w.submission_id).add(w.outbox_id);
}
std::vector<store::DeadLetter> read_dead(const Result& r) {
  std::vector<store::DeadLetter> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.int64(i, 3), r.text(i, 4), r.text(i, 5),
                   r.int64(i, 6), r.boolean(i, 7)});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.outbox_id < b.outbox_id; });
  return out;
}
}  // namespace

std::vector<store::DeadLetter> PgStateStore::dead_letters(const store::ReplaySelector& which, std::size_t limit) {
  return read_dead(conn().exec(std::string("SELECT ") + kDeadColumns + " FROM outbox_items" + kDeadWhere +
                                " ORDER BY id LIMIT $4",
                            selector(which).add(limit)));
}

std::vector<store::DeadLetter> PgStateStore::replay_in_transaction(const store::ReplaySelector& which,
                                                                   std::int64_t now) {
  // Back to pending for its own target only, as a new attempt due now.
  return read_dead(conn().exec(
      std::string("UPDATE outbox_items SET state = 'pending', batch_id = NULL, attempts = 0, next_attempt_ms = $4,"
                  " settled_ms = NULL, claimed = true, last_error = 'replayed after: ' || coalesce(last_error, '')") +
          kDeadWhere + " AND record IS NOT NULL RETURNING id, target, submission_id, version, mapping,"
                       " '', 0, true",
      selector(which).add(now)));
}

std::vector<store::DeadLetter> PgStateStore::replay(const store::ReplaySelector& which, std::int64_t now) {
  // What each was (its error and when it settled) is reported as before the replay.
  pg::Transaction tx(conn());
  auto before = read_dead(conn().exec(std::string("SELECT ") + kDeadColumns + " FROM outbox_items" + kDeadWhere +
                                       " AND record IS NOT NULL ORDER BY id FOR UPDATE",
                                   selector(which)));
  replay_in_transaction(which, now);
  tx.commit();
  return before;
}

void PgStateStore::request_replay(const store::ReplaySelector& w, const std::string& requested_by, std::int64_t now) {
  conn().exec(
      "INSERT INTO replay_requests (target, submission_id, outbox_id, requested_by, requested_ms)"
      " VALUES ($1, $2, $3, $4, $5)",
      selector(w).add(requested_by).add(now));
}

std::vector<store::ReplayDone> PgStateStore::carry_out_replays(std::int64_t now) {
  std::vector<store::ReplayDone> out;
  pg::Transaction tx(conn());
  // Locked and skipped: with several instances, each request is carried out (and audited) once.
  auto q = conn().exec(
      "SELECT id, target, submission_id, outbox_id, requested_by FROM replay_requests WHERE done_ms IS NULL"
      " ORDER BY id FOR UPDATE SKIP LOCKED");
  for (int i = 0; i < q.rows(); ++i) {
    store::ReplayDone r;
    r.selector = {q.text(i, 1), q.text(i, 2), q.int64(i, 3)};
    r.requested_by = q.text(i, 4);
    r.replayed = read_dead(conn().exec(std::string("SELECT ") + kDeadColumns + " FROM outbox_items" + kDeadWhere +
                                        " AND record IS NOT NULL ORDER BY id FOR UPDATE",
                                    selector(r.selector)));
    replay_in_transaction(r.selector, now);
    conn().exec("UPDATE replay_requests SET done_ms = $2, replayed = $3 WHERE id = $1",
             Params().add(q.int64(i, 0)).add(now).add(r.replayed.size()));
    out.push_back(std::move(r));
  }
  tx.commit();
  return out;
}

std::vector<store::DeadLetter> PgStateStore::purge_dead_records(std::int64_t cutoff) {
  auto r = conn().exec(
      "UPDATE outbox_items SET record = NULL WHERE state = 'dead' AND settled_ms < $1 AND record IS NOT NULL"
      " RETURNING id, target, submission_id, version, mapping, coalesce(last_error, ''), coalesce(settled_ms, 0), false",
      Params().add(cutoff));
  return read_dead(r);
}

// --- target health, backlog, status -------------------------------------------------

void PgStateStore::save_target_health(const store::TargetHealth& h, std::int64_t now) {
  conn().exec(
      "INSERT INTO target_health (target, circuit, consecutive_failures, opened_ms, retry_at_ms, last_error,"
      " updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (target) DO UPDATE SET circuit = excluded.circuit,"
      " consecutive_failures = excluded.consecutive_failures, opened_ms = excluded.opened_ms,"
      " retry_at_ms = excluded.retry_at_ms, last_error = excluded.last_error, updated_ms = excluded.updated_ms",
      Params().add(h.target).add(h.circuit).add(h.consecutive_failures).add(h.opened_ms).add(h.retry_at_ms)
          .add(h.last_error).add(now));
}

std::vector<store::TargetHealth> PgStateStore::target_health() {
  std::vector<store::TargetHealth> out;
  auto r = conn().exec(
      "SELECT target, circuit, consecutive_failures, opened_ms, retry_at_ms, last_error FROM target_health"
      " ORDER BY target");
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3), r.int64(i, 4), r.text(i, 5)});
  return out;
}

std::vector<store::Backlog> PgStateStore::backlog(const std::vector<std::string>& targets) {
  std::vector<store::Backlog> out;
  for (const auto& t : targets) {
    auto r = conn().exec(
        "SELECT count(*), coalesce(min(enqueued_ms), 0) FROM outbox_items WHERE target = $1"
        " AND state IN ('pending', 'in_flight')",
        Params().add(t));
    store::Backlog b{t, r.int64(0, 0), r.int64(0, 1)};
    if (b.pending == 0) b.oldest_enqueued_ms = 0;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<store::TargetCounts> PgStateStore::target_counts() {
  std::map<std::string, store::TargetCounts> by_target;
  {
    auto r = conn().exec(
        "SELECT target, count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'in_flight'),"
        " count(*) FILTER (WHERE state = 'dead') FROM outbox_items GROUP BY target");
    for (int i = 0; i < r.rows(); ++i) {
      auto& c = by_target[r.text(i, 0)];
      c.pending += r.int64(i, 1);
      c.in_flight += r.int64(i, 2);
      c.dead += r.int64(i, 3);
    }
  }
  {
    auto r = conn().exec("SELECT target, delivered FROM outbox_counts");
    for (int i = 0; i < r.rows(); ++i) by_target[r.text(i, 0)].delivered += r.int64(i, 1);
  }
  std::vector<store::TargetCounts> out;
  for (auto& [target, c] : by_target) {
    c.target = target;
    if (c.pending || c.in_flight || c.delivered || c.dead) out.push_back(c);
  }
  return out;
}

std::vector<store::QuarantineEntry> PgStateStore::quarantined(std::size_t limit) {
  std::vector<store::QuarantineEntry> out;
  auto r = conn().exec(
      "SELECT seq, submission_id, version, reason_code, field, detail, mapping, quarantined_at_ms FROM quarantine"
      " ORDER BY id DESC LIMIT $1",
      Params().add(limit));
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.int64(i, 0), r.text(i, 1), r.int64(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5),
                   r.text(i, 6), r.int64(i, 7)});
  return out;
}

std::int64_t PgStateStore::quarantine_count() { return scalar(conn(), "SELECT count(*) FROM quarantine"); }
std::int64_t PgStateStore::ledger_count() { return scalar(conn(), "SELECT count(*) FROM ledger"); }
std::int64_t PgStateStore::pending_writeback_count() { return scalar(conn(), "SELECT count(*) FROM writeback_queue"); }

std::vector<PgStateStore::LeaseHeld> PgStateStore::leases_held() {
  auto r = conn().exec(
      "SELECT holder, 'ingest', 1::bigint FROM leases WHERE name = 'ingest' AND expires_ms >= " SERVER_NOW
      " UNION ALL SELECT owner, 'batch', count(*) FROM delivery_batches WHERE state = 'open' AND lease_until_ms >= "
      SERVER_NOW " GROUP BY owner ORDER BY 1, 2");
  std::vector<LeaseHeld> out;
  for (int k = 0; k < r.rows(); ++k) out.push_back({r.text(k, 0), r.text(k, 1), r.int64(k, 2)});
  return out;
}

// --- duplicates ---------------------------------------------------------------------

std::string PgStateStore::written_reference(const std::string& submission_id) {
  return writeback_rules_.written_reference([&](const std::string& target) { return reference_for(submission_id, target); });
}

void PgStateStore::fill_duplicates_of(const std::string& of_id, const std::string& reference, std::int64_t now) {
  auto r = conn().exec(
      "UPDATE duplicate_links SET reference = $2 WHERE of_id = $1 AND reference IS NULL"
      " RETURNING submission_id, version, message",
      Params().add(of_id).add(reference));
  for (int i = 0; i < r.rows(); ++i)
    conn().exec(
        "INSERT INTO writeback_queue (submission_id, version, state, reference, message, updated_at, created_ms)"
        " VALUES ($1, $2, 'duplicate', $3, $4, $5, $6)",
        Params().add(r.text(i, 0)).add(r.int64(i, 1)).add(reference).add(r.text(i, 2)).add(store::rfc3339_utc(now))
            .add(now));
}

std::size_t PgStateStore::fill_duplicate_references(std::int64_t now) {
  auto waiting = conn().exec("SELECT DISTINCT of_id, created_ms FROM duplicate_links WHERE reference IS NULL LIMIT 500");
  if (waiting.empty()) return 0;
  std::size_t n = 0;
  pg::Transaction tx(conn());
  for (int i = 0; i < waiting.rows(); ++i) {
    const std::string of_id = waiting.text(i, 0);
    const std::string ref = written_reference(of_id);
    if (!ref.empty()) {
      fill_duplicates_of(of_id, ref, now);
      ++n;
    } else if (waiting.int64(i, 1) < now - kDuplicateReferenceWaitMs) {
      conn().exec("UPDATE duplicate_links SET reference = '' WHERE of_id = $1 AND reference IS NULL", Params().add(of_id));
    }
  }
  tx.commit();
  return n;
}

// --- write-back -----------------------------------------------------------------------

store::WritebackPass PgStateStore::pending_writebacks(std::size_t limit, std::int64_t now) {
  limit = std::max<std::size_t>(1, limit);
  store::WritebackPass pass;
  auto r = conn().exec(
      "SELECT id, submission_id, state, reference, message, updated_at, version, attempts, created_ms"
      " FROM writeback_queue WHERE next_attempt_ms <= $2 ORDER BY id LIMIT $1",
      Params().add(limit).add(now));
  pass.items.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    store::WritebackItem w;
    w.id = r.int64(i, 0);
    w.update = {pass.keep(r.text(i, 1)), pass.keep(r.text(i, 2)), pass.keep(r.text(i, 3)), pass.keep(r.text(i, 4)),
                pass.keep(r.text(i, 5))};
    w.version = r.int64(i, 6);
    w.attempts = static_cast<int>(r.int64(i, 7));
    w.queued_ms = r.int64(i, 8);
    pass.items.push_back(w);
  }
  return pass;
}

store::WritebackBacklog PgStateStore::writeback_backlog(std::int64_t now) {
  auto r = conn().exec(
      "SELECT count(*), coalesce(min(created_ms), 0) FROM writeback_queue WHERE next_attempt_ms <= $1",
      Params().add(now));
  store::WritebackBacklog b;
  if (r.rows() > 0) {
    b.statuses = r.int64(0, 0);
    b.oldest_ms = r.int64(0, 1);
  }
  return b;
}

void PgStateStore::finish_writebacks(const std::vector<store::WritebackItem>& done,
                                     const std::vector<std::pair<store::WritebackItem, std::int64_t>>& retry) {
  pg::Transaction tx(conn());
  if (!done.empty()) {
    std::string ids;
    for (const auto& w : done) ids += (ids.empty() ? "{" : ",") + std::to_string(w.id);
    conn().exec("DELETE FROM writeback_queue WHERE id = ANY($1::bigint[])", Params().add(ids + "}"));
  }
  // One statement each, not one per status (a round trip per submission was
  // the PostgreSQL state's largest count of statements: bench/pg_state.sh).
  if (!retry.empty()) {
    pg::ArrayColumn ids, dues;
    for (const auto& [w, due] : retry) {
      ids.add(w.id);
      dues.add(due);
    }
    conn().exec(
        "UPDATE writeback_queue q SET attempts = q.attempts + 1, next_attempt_ms = d.due"
        " FROM unnest($1::bigint[], $2::bigint[]) AS d(id, due) WHERE q.id = d.id",
        Params().add(ids.literal()).add(dues.literal()));
  }
  // The app keeps one status per submission (the last write wins): an older
  // status of a submission whose newer one is done, still waiting for its
  // retry (or failed in this very pass), is dropped, not written over it later.
  if (!done.empty()) {
    pg::ArrayColumn subs, ids;
    for (const auto& w : done) {
      subs.add(w.update.submission_id);
      ids.add(w.id);
    }
    conn().exec(
        "DELETE FROM writeback_queue q USING unnest($1::text[], $2::bigint[]) AS d(submission_id, id)"
        " WHERE q.submission_id = d.submission_id AND q.id < d.id",
        Params().add(subs.literal()).add(ids.literal()));
  }
  tx.commit();
}

}  // namespace reportbridge::pg_store
