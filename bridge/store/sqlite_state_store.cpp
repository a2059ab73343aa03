#include "bridge/store/sqlite_state_store.hpp"
#include "bridge/store/sqlite_dedup_tables.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/store/record_codec.hpp"

namespace reportbridge::store {

namespace {

constexpr std::int64_t kSchemaVersion = 5;

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

// Schema version 4: duplicates keep a link to the report they duplicate
// (docs/deduplication.md): their status gets its reference once it has one,
// and an edit of a duplicate goes as an update of the record kept for it
// (outbox_items.update_of). Duplicates are rare: the table stays small.
constexpr const char* kSchemaV4 = R"SQL(
ALTER TABLE outbox_items ADD COLUMN update_of TEXT;
CREATE TABLE IF NOT EXISTS duplicate_links (
  submission_id TEXT NOT NULL, version INTEGER NOT NULL, of_id TEXT NOT NULL,
  message TEXT NOT NULL, created_ms INTEGER NOT NULL,
  reference TEXT,                   -- written back with the duplicate status; NULL: still waiting for one
  PRIMARY KEY (submission_id, version)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS duplicate_links_waiting ON duplicate_links (of_id) WHERE reference IS NULL;
-- Write-back per status: one the app keeps failing waits on its own.
ALTER TABLE writeback_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE writeback_queue ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
)SQL";

// How long a duplicate waits for the kept report's reference before its
// status is left as written (a target that issues none, a dead letter).
constexpr std::int64_t kDuplicateReferenceWaitMs = 7LL * 24 * 3600 * 1000;

// Schema version 5: bookkeeping per batch, not per submission
// (docs/performance.md). Records are queued as one outbox_segments row per
// (ingest batch, target); a claim is one delivery_batches row over a range of
// the target's log; a settle updates that row. outbox_items keeps only the
// exceptions (retries, items waiting for an earlier version, dead letters),
// each with its own record copy and its metadata (`meta`: the status hint and
// the version's items at other targets). Statuses are queued as one
// writeback_chunks row per settled batch (writeback_queue keeps the single
// ones: retries, duplicates' statuses). Item ids are one sequence
// (meta.next_item) over all targets, so a target's log is ordered by id.
constexpr const char* kSchemaV5 = R"SQL(
CREATE TABLE IF NOT EXISTS outbox_segments (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL,
  first_item INTEGER NOT NULL, last_item INTEGER NOT NULL, items INTEGER NOT NULL,
  bytes INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_segments_by_target ON outbox_segments (target, last_item);
CREATE TABLE IF NOT EXISTS outbox_logs (
  target TEXT PRIMARY KEY,
  claimed_through INTEGER NOT NULL DEFAULT 0,  -- every log item with a smaller id was claimed
  queued INTEGER NOT NULL DEFAULT 0,           -- items ever appended to the log
  claimed INTEGER NOT NULL DEFAULT 0,          -- items ever taken from the log (claimed or set aside)
  delivered INTEGER NOT NULL DEFAULT 0);       -- items delivered
ALTER TABLE outbox_items ADD COLUMN meta BLOB;
ALTER TABLE delivery_batches ADD COLUMN first_item INTEGER;
ALTER TABLE delivery_batches ADD COLUMN last_item INTEGER;
ALTER TABLE delivery_batches ADD COLUMN skipped BLOB;
ALTER TABLE delivery_batches ADD COLUMN items INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS writeback_chunks (
  id INTEGER PRIMARY KEY, statuses INTEGER NOT NULL, created_ms INTEGER NOT NULL, body BLOB NOT NULL);
-- Single statuses and chunks are written in the order they were queued.
ALTER TABLE writeback_queue ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS outbox_by_seq;
DROP INDEX IF EXISTS outbox_open_by_submission;
CREATE INDEX IF NOT EXISTS outbox_open_by_submission ON outbox_items (target, submission_id, version)
  WHERE state IN ('pending', 'waiting', 'in_flight');
)SQL";

constexpr const char* kReceivedMessage = "Thank you. Your report has been received and will be reviewed by our staff.";

// Records of one target in one segment: split so a claim reads and holds
// little at a time.
constexpr std::size_t kSegmentBytes = 256u << 10;

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

// The state database holds personal data (records waiting for delivery, dead
// letters): owner read/write, group read (the service group, like the audit
// trail: an operator in it can run `status`), nothing for others. SQLite
// creates files 0644 and gives -wal/-shm the database file's mode, so the file
// is created here first; files left more open by an earlier version are
// tightened.
constexpr mode_t kStateFileMode = 0640;

const std::string& private_state_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kStateFileMode);
  if (fd >= 0) {
    ::fchmod(fd, kStateFileMode);  // whatever the umask
    ::close(fd);
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = path + suffix;
    struct stat st {};
    if (::lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_mode & 0777 & ~kStateFileMode) != 0) ::chmod(file.c_str(), st.st_mode & kStateFileMode);
  }
  return path;
}

// Makes the WAL durable up to the last commit (fsync): what a claim needs
// before anything is published under its key. Called after the commit, so the
// write lock is not held during the sync (the other connections go on; their
// frames are synced along, which does no harm).
void sync_wal(Database& db) {
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal ||
      !wal->pMethods)
    throw SqliteError("cannot reach the state database's write-ahead log to sync it", SQLITE_ERROR);
  const int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) throw SqliteError("cannot sync the state database's write-ahead log", rc);
}

// --- item metadata -------------------------------------------------------

// What settling an item needs besides its record: the status hint of its
// version and the version's items at other targets.
struct Meta {
  std::optional<StatusHint> hint;
  std::vector<std::pair<std::string, std::int64_t>> siblings;  // (target, item id)
  std::string update_of;  // an edit of a duplicate: the submission kept for it
};

constexpr std::uint64_t kHasHint = 1, kHasSiblings = 2, kHasUpdateOf = 4;

void put_meta(std::string& out, const Meta& m) {
  std::uint64_t flags =
      (m.hint ? kHasHint : 0) | (m.siblings.empty() ? 0 : kHasSiblings) | (m.update_of.empty() ? 0 : kHasUpdateOf);
  codec::put_varint(out, flags);
  if (m.hint) {
    codec::put_bytes(out, m.hint->state);
    codec::put_bytes(out, m.hint->message);
  }
  if (!m.siblings.empty()) {
    codec::put_varint(out, m.siblings.size());
    for (const auto& [target, id] : m.siblings) {
      codec::put_bytes(out, target);
      codec::put_varint(out, static_cast<std::uint64_t>(id));
    }
  }
  if (!m.update_of.empty()) codec::put_bytes(out, m.update_of);
}

bool get_meta(std::string_view& in, Meta& m) {
  std::uint64_t flags = 0;
  if (!codec::get_varint(in, flags)) return false;
  if (flags & kHasHint) {
    StatusHint h;
    if (!codec::get_string(in, h.state) || !codec::get_string(in, h.message)) return false;
    m.hint = std::move(h);
  }
  if (flags & kHasSiblings) {
    std::uint64_t n = 0;
    if (!codec::get_varint(in, n) || n > in.size()) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string target;
      std::uint64_t id = 0;
      if (!codec::get_string(in, target) || !codec::get_varint(in, id)) return false;
      m.siblings.emplace_back(std::move(target), static_cast<std::int64_t>(id));
    }
  }
  if ((flags & kHasUpdateOf) && !codec::get_string(in, m.update_of)) return false;
  return true;
}

std::string encode_meta(const Meta& m) {
  std::string out;
  put_meta(out, m);
  return out;
}

Meta decode_meta(std::string_view blob) {
  Meta m;
  if (!blob.empty() && !get_meta(blob, m)) m = Meta{};
  return m;
}

// A stand-alone record from a shape and encoded values (no decoding needed).
std::string standalone_record(std::string_view submission_id, std::int64_t version, std::string_view mapping,
                              std::string_view target, const std::vector<std::string>& names,
                              std::string_view values) {
  std::string out;
  out.reserve(64 + values.size() + names.size() * 16);
  out.push_back('R');
  codec::put_bytes(out, submission_id);
  codec::put_varint(out, static_cast<std::uint64_t>(version));
  codec::put_bytes(out, mapping);
  codec::put_bytes(out, target);
  codec::put_varint(out, names.size());
  for (const auto& n : names) codec::put_bytes(out, n);
  out.append(values);
  return out;
}

// --- segments ----------------------------------------------------------
//
//   'S' 1 | varint shapes | shape* | varint items | entry*
//   shape  = mapping, varint n, name*
//   entry  = varint length | varint id - previous id | submission_id | varint version | varint seq
//            | varint shape | meta | values

constexpr char kSegmentFormat[2] = {'S', 1};

struct Shape {
  std::string mapping;
  std::vector<std::string> names;
};

struct SegmentItem {
  std::int64_t id = 0;
  std::string submission_id;
  std::int64_t version = 0;
  std::int64_t seq = 0;
  std::size_t shape = 0;
  Meta meta;
  std::string_view values;  // into the segment body
  bool values_ok = true;
};

class SegmentReader {
 public:
  // Throws when the segment's framing is broken (the database is damaged).
  SegmentReader(std::string_view body, std::int64_t first_item, std::int64_t segment_id) : in_(body), id_(first_item) {
    segment_ = segment_id;
    if (in_.size() < 2 || in_[0] != kSegmentFormat[0] || in_[1] != kSegmentFormat[1]) corrupt();
    in_.remove_prefix(2);
    std::uint64_t n = 0;
    if (!codec::get_varint(in_, n) || n > in_.size()) corrupt();
    shapes_.resize(n);
    for (auto& s : shapes_) {
      std::uint64_t fields = 0;
      if (!codec::get_string(in_, s.mapping) || !codec::get_varint(in_, fields) || fields > in_.size()) corrupt();
      s.names.resize(fields);
      for (auto& name : s.names)
        if (!codec::get_string(in_, name)) corrupt();
    }
    if (!codec::get_varint(in_, left_)) corrupt();
    first_ = true;
  }

  // The next entry's header and meta (values left encoded), or false at the end.
  bool next(SegmentItem& item) {
    if (left_ == 0) return false;
    --left_;
    std::string_view entry;
    if (!codec::get_bytes(in_, entry)) corrupt();
    std::uint64_t delta = 0, version = 0, seq = 0, shape = 0;
    item.meta = Meta{};
    if (!codec::get_varint(entry, delta) || !codec::get_string(entry, item.submission_id) ||
        !codec::get_varint(entry, version) || !codec::get_varint(entry, seq) || !codec::get_varint(entry, shape) ||
        shape >= shapes_.size())
      corrupt();
    id_ = first_ ? id_ + static_cast<std::int64_t>(delta) : id_ + static_cast<std::int64_t>(delta);
    first_ = false;
    item.id = id_;
    item.version = static_cast<std::int64_t>(version);
    item.seq = static_cast<std::int64_t>(seq);
    item.shape = shape;
    item.values_ok = get_meta(entry, item.meta);
    item.values = entry;
    return true;
  }

  const Shape& shape(std::size_t i) const { return shapes_[i]; }

 private:
  [[noreturn]] void corrupt() const {
    throw std::runtime_error("state database: outbox segment " + std::to_string(segment_) +
                             " cannot be read (the database is damaged)");
  }
  std::string_view in_;
  std::int64_t id_ = 0;
  std::int64_t segment_ = 0;
  std::uint64_t left_ = 0;
  bool first_ = true;
  std::vector<Shape> shapes_;
};

// --- write-back chunks ------------------------------------------------
//
//   'W' 1 | varint strings | string* | varint statuses | status*
//   status = submission_id | varint version | varint state | varint reference string
//            | varint message string | varint updated_at string   (indexes into the strings)
// Messages, states and times repeat over a batch: each is stored once.

struct ChunkWriter {
  std::vector<std::string> strings;
  std::unordered_map<std::string, std::uint64_t> index;
  std::string body;
  std::size_t count = 0;

  std::uint64_t intern(const std::string& s) {
    auto [it, fresh] = index.emplace(s, strings.size());
    if (fresh) strings.push_back(s);
    return it->second;
  }
  void add(const core::StatusUpdate& u, std::int64_t version) {
    codec::put_bytes(body, u.submission_id);
    codec::put_varint(body, static_cast<std::uint64_t>(version));
    codec::put_varint(body, intern(u.state));
    codec::put_varint(body, intern(u.reference));
    codec::put_varint(body, intern(u.message));
    codec::put_varint(body, intern(u.updated_at));
    ++count;
  }
  std::string finish() const {
    std::string out = "W\x01";
    codec::put_varint(out, strings.size());
    for (const auto& s : strings) codec::put_bytes(out, s);
    codec::put_varint(out, count);
    out += body;
    return out;
  }
};

// `in` is the chunk's body as the pass keeps it: the statuses read view it.
bool read_chunk(std::string_view in, std::int64_t id, std::vector<WritebackItem>& result) {
  if (in.size() < 2 || in[0] != 'W' || in[1] != 1) return false;
  in.remove_prefix(2);
  std::uint64_t n = 0;
  if (!codec::get_varint(in, n) || n > in.size()) return false;
  std::vector<std::string_view> strings(n);
  for (auto& s : strings)
    if (!codec::get_bytes(in, s)) return false;
  std::uint64_t count = 0;
  // (each status takes at least 6 bytes)
  if (!codec::get_varint(in, count) || count > in.size() / 6) return false;
  // Straight into `result`, grown once (memory: a pass holds thousands of
  // statuses); a damaged chunk leaves it as it was.
  const std::size_t before = result.size();
  if (result.capacity() < before + count) result.reserve(std::max<std::size_t>(before + count, 2 * result.capacity()));
  for (std::uint64_t i = 0; i < count; ++i) {
    WritebackItem& w = result.emplace_back();
    w.id = id;
    w.in_chunk = true;
    std::uint64_t version = 0, state = 0, ref = 0, msg = 0, at = 0;
    if (!codec::get_bytes(in, w.update.submission_id) || !codec::get_varint(in, version) ||
        !codec::get_varint(in, state) || !codec::get_varint(in, ref) || !codec::get_varint(in, msg) ||
        !codec::get_varint(in, at) || state >= n || ref >= n || msg >= n || at >= n) {
      result.resize(before);
      return false;
    }
    w.version = static_cast<std::int64_t>(version);
    w.update.state = strings[state];
    w.update.reference = strings[ref];
    w.update.message = strings[msg];
    w.update.updated_at = strings[at];
  }
  return true;
}

void write_chunk(Database& db, const ChunkWriter& chunk, std::int64_t now) {
  if (chunk.count == 0) return;
  db.prepare("INSERT INTO writeback_chunks (statuses, created_ms, body) VALUES (?1, ?2, ?3)")
      .bind(1, static_cast<std::int64_t>(chunk.count)).bind(2, now).bind_blob(3, chunk.finish()).run();
}

std::string encode_ids(const std::vector<std::int64_t>& ids) {
  std::string out;
  std::int64_t prev = 0;
  for (auto id : ids) {
    codec::put_varint(out, static_cast<std::uint64_t>(id - prev));
    prev = id;
  }
  return out;
}

std::vector<std::int64_t> decode_ids(std::string_view in) {
  std::vector<std::int64_t> ids;
  std::int64_t prev = 0;
  std::uint64_t d = 0;
  while (!in.empty() && codec::get_varint(in, d)) {
    prev += static_cast<std::int64_t>(d);
    ids.push_back(prev);
  }
  return ids;
}

// A record stored in outbox_records: the binary encoding, or JSON text from
// schema versions before 4.
bool read_stored_record(const Statement& q, int column, core::TargetRecord& out) {
  if (q.is_null(column)) return false;
  if (q.type(column) == SQLITE_BLOB) return codec::decode_record(q.blob_view(column), out);
  return core::from_json(q.text(column), out);
}

// What a decoded record takes in memory: its field structs, and the heap
// blocks of names and values too long for the small-string buffer.
std::size_t held_bytes(const core::TargetRecord& r) {
  auto heap = [](const std::string& s) { return s.size() > 15 ? s.capacity() + 1 : 0; };
  std::size_t n =
      sizeof(core::TargetRecord) + sizeof(core::DeliveryItem) + r.fields.capacity() * sizeof(core::RecordField);
  for (const auto& f : r.fields) n += heap(f.name) + (f.value ? heap(*f.value) : 0);
  return n;
}

struct LogState {
  std::int64_t claimed_through = 0, queued = 0, claimed = 0, delivered = 0;
};

LogState load_log(Database& db, const std::string& target) {
  LogState s;
  auto q = db.prepare("SELECT claimed_through, queued, claimed, delivered FROM outbox_logs WHERE target = ?1");
  q.bind(1, target);
  if (q.step()) s = {q.int64(0), q.int64(1), q.int64(2), q.int64(3)};
  return s;
}

// While alive, rows deleted through `db` have their pages freed without being
// zeroed first (`PRAGMA secure_delete=FAST`: only content on pages written
// anyway is zeroed); the connection's setting is put back after. For rows that
// hold no personal data: what residents reported (the outbox segments, dead
// letters' records) is still zeroed as it is freed.
class UnzeroedDeletes {
 public:
  explicit UnzeroedDeletes(Database& db) : db_(db) {
    auto q = db_.prepare("PRAGMA secure_delete");
    before_ = q.step() ? q.int64(0) : 1;
    db_.exec("PRAGMA secure_delete=FAST");
  }
  ~UnzeroedDeletes() {
    try {
      db_.exec("PRAGMA secure_delete=" + std::to_string(before_));
    } catch (const std::exception& e) {
      spdlog::error("state: could not set secure_delete back to {}: {}", before_, e.what());
    }
  }
  UnzeroedDeletes(const UnzeroedDeletes&) = delete;
  UnzeroedDeletes& operator=(const UnzeroedDeletes&) = delete;

 private:
  Database& db_;
  std::int64_t before_ = 1;
};

// The segments whose items have all settled: below each target's claimed
// position and below the first item of its open batches.
constexpr const char* kSettledSegments =
    "SELECT s.id, s.bytes FROM outbox_logs l JOIN outbox_segments s"
    " ON s.target = l.target AND s.last_item < min(l.claimed_through, coalesce((SELECT min(b.first_item)"
    " FROM delivery_batches b WHERE b.target = l.target AND b.state = 'open' AND b.first_item IS NOT NULL),"
    " l.claimed_through))";

struct SettledSegment {
  std::int64_t id = 0;
  std::int64_t bytes = 0;  // of its body
};

std::vector<SettledSegment> settled_segments(Database& db) {
  std::vector<SettledSegment> out;
  auto q = db.prepare(kSettledSegments);
  while (q.step()) out.push_back({q.int64(0), q.int64(1)});
  return out;
}

// Row by row: a statement deleting many rows would keep a statement journal
// of every page it changes (a temporary file as large as the segments).
void delete_segments(Database& db, const std::vector<SettledSegment>& segments) {
  auto del = db.prepare("DELETE FROM outbox_segments WHERE id = ?1");
  for (const auto& s : segments) {
    del.bind(1, s.id).run();
    del.reset();
  }
}

// The first log item of a target not yet settled (its open batches', or the
// first not claimed).
std::int64_t unsettled_from(Database& db, const std::string& target, const LogState& log) {
  auto q = db.prepare(
      "SELECT min(first_item) FROM delivery_batches WHERE target = ?1 AND state = 'open' AND first_item IS NOT NULL");
  q.bind(1, target);
  if (q.step() && !q.is_null(0)) return std::min(log.claimed_through, q.int64(0));
  return log.claimed_through;
}

}  // namespace

// --- what a claimed batch holds beyond core::DeliveryBatch --------------

struct SqliteStateStore::ItemInfo {
  bool exception = false;  // from outbox_items (else: from the log)
  std::int64_t seq = 0;
  std::int64_t enqueued_ms = 0;
  Meta meta;
};

struct SqliteStateStore::BatchInfo {
  std::string target;
  std::vector<ItemInfo> items;  // parallel to DeliveryBatch::items
  // Items of a recovered batch whose record could not be read (left out of
  // the batch): dead letters when it settles.
  struct Unreadable {
    std::int64_t id = 0;
    bool exception = false;
    std::string submission_id, mapping;
    std::int64_t version = 0, seq = 0, enqueued_ms = 0;
    Meta meta;
  };
  std::vector<Unreadable> unreadable;
  // Items settled while the batch stays open (settle_items), parallel to items.
  std::vector<bool> settled;
  std::size_t settled_count = 0;
};

// --- opening and migrating ---------------------------------------------

SqliteStateStore::SqliteStateStore(const std::string& path, int cache_kib)
    : db_(private_state_file(path), Database::Mode::read_write_create) {
  db_.share_write_lock(write_lock_for(path));
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=NORMAL");
  db_.exec("PRAGMA foreign_keys=ON");
  db_.exec("PRAGMA cache_size=-" + std::to_string(std::max(64, cache_kib)));
  // Checkpoint the WAL every ~64 MB rather than every 4 MB: an outbox segment
  // written at ingest and deleted once delivered soon after then reaches the
  // database file at most once, and its pages are reused. The WAL file is
  // truncated back after checkpoints.
  db_.exec("PRAGMA wal_autocheckpoint=16000");
  db_.exec("PRAGMA journal_size_limit=67108864");
  migrate();
  ledger_insert_ = db_.prepare(
      "INSERT OR IGNORE INTO ledger (submission_id, version, seq, content_sha256, outcome,"
      " processed_at_ms, received_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6)");
  ledger_outcome_ = db_.prepare(
      "UPDATE ledger SET outcome = ?4 WHERE received_at = ?3 AND submission_id = ?1 AND version = ?2");
  quarantine_ = db_.prepare(
      "INSERT INTO quarantine (seq, submission_id, version, reason_code, field, detail, mapping,"
      " quarantined_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  // An earlier version of a submission still on its way to a target (through
  // the exceptions: a retry, a replay, one waiting itself).
  exception_open_ = db_.prepare(
      "SELECT 1 FROM outbox_items WHERE target = ?1 AND submission_id = ?2 AND version < ?3"
      " AND state IN ('pending', 'waiting', 'in_flight') LIMIT 1");
}

SqliteStateStore::~SqliteStateStore() = default;

std::string SqliteStateStore::take_buffer() {
  if (spare_buffers_.empty()) return {};
  std::string b = std::move(spare_buffers_.back());  // (cleared when given back)
  spare_buffers_.pop_back();
  return b;
}

void SqliteStateStore::give_buffer(std::string&& b) {
  // A few, of at most 1 MiB each: what a batch's segments take (~260 KB per
  // target for 1,000 rows), kept so the next batch does not map and fault
  // them in again (docs/performance.md, change 8).
  if (spare_buffers_.size() >= 4 || b.capacity() > (1u << 20) || b.capacity() < 4096) return;
  b.clear();
  spare_buffers_.push_back(std::move(b));
}

void SqliteStateStore::migrate() {
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
  if (version < 4) {
    db_.exec(kSchemaV4);
    db_.exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
  }
  if (version < 5) {
    db_.exec(kSchemaV5);
    migrate_v4_to_v5();
    db_.exec("UPDATE meta SET value = '5' WHERE key = 'schema_version'");
  }
  // (an index, not a schema change: older builds read the database as before)
  db_.exec("CREATE INDEX IF NOT EXISTS writeback_queue_by_submission ON writeback_queue (submission_id, created_ms)");
  db_.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(3))))");
  auto q = db_.prepare("SELECT value FROM meta WHERE key = 'instance'");
  if (q.step()) instance_ = q.text(0);
  tx.commit();
}

// Items queued by schema versions 3 and 4 were one row each. Those still pending, in
// flight or dead stay rows (they are exceptions now), with their record
// re-encoded and their metadata filled in (the hint, their version's items at
// other targets, what an edit of a duplicate updates); delivered rows become
// counts; queued statuses stay rows (they keep their attempts). New log items
// are numbered after every existing row.
void SqliteStateStore::migrate_v4_to_v5() {
  struct Row {
    std::int64_t id, seq, version;
    std::string target, submission_id;
  };
  std::vector<Row> open_rows;
  {
    auto q = db_.prepare(
        "SELECT id, seq, version, target, submission_id FROM outbox_items WHERE state <> 'delivered' ORDER BY id");
    while (q.step()) open_rows.push_back({q.int64(0), q.int64(1), q.int64(2), q.text(3), q.text(4)});
  }
  auto siblings_q = db_.prepare(
      "SELECT target, id FROM outbox_items WHERE seq = ?1 AND submission_id = ?2 AND version = ?3 AND id <> ?4"
      " ORDER BY id");
  auto hint_q = db_.prepare("SELECT state, message FROM status_hints WHERE submission_id = ?1 AND version = ?2");
  auto set_meta = db_.prepare("UPDATE outbox_items SET meta = ?2 WHERE id = ?1");
  auto update_of_q = db_.prepare("SELECT coalesce(update_of, '') FROM outbox_items WHERE id = ?1");
  for (const auto& r : open_rows) {
    Meta m;
    update_of_q.bind(1, r.id);
    if (update_of_q.step()) m.update_of = update_of_q.text(0);
    update_of_q.reset();
    siblings_q.bind(1, r.seq).bind(2, r.submission_id).bind(3, r.version).bind(4, r.id);
    while (siblings_q.step()) m.siblings.emplace_back(siblings_q.text(0), siblings_q.int64(1));
    siblings_q.reset();
    hint_q.bind(1, r.submission_id).bind(2, r.version);
    if (hint_q.step()) m.hint = StatusHint{hint_q.text(0), hint_q.text(1)};
    hint_q.reset();
    set_meta.bind(1, r.id).bind_blob(2, encode_meta(m)).run();
    set_meta.reset();
  }
  // Records as JSON text become the binary encoding (an unreadable one is
  // left as it is: its claim makes it a dead letter, as before).
  {
    std::vector<std::pair<std::int64_t, std::string>> converted;
    auto q = db_.prepare("SELECT item_id, record FROM outbox_records WHERE typeof(record) = 'text'");
    while (q.step()) {
      core::TargetRecord rec;
      if (core::from_json(q.text(1), rec)) converted.emplace_back(q.int64(0), codec::encode_record(rec));
    }
    auto up = db_.prepare("UPDATE outbox_records SET record = ?2 WHERE item_id = ?1");
    for (const auto& [id, blob] : converted) {
      up.bind(1, id).bind_blob(2, blob).run();
      up.reset();
    }
  }
  db_.exec(
      "INSERT INTO outbox_logs (target, delivered) SELECT target, sum(state = 'delivered') FROM outbox_items"
      " GROUP BY target");
  db_.exec("DELETE FROM outbox_items WHERE state = 'delivered'");
  db_.exec("DELETE FROM status_hints");
  db_.exec(
      "INSERT OR REPLACE INTO meta (key, value) SELECT 'next_item', coalesce(max(id), 0) + 1 FROM"
      " (SELECT max(id) AS id FROM outbox_items UNION ALL SELECT max(item_id) FROM outbox_records)");
  db_.exec("UPDATE outbox_logs SET claimed_through = (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_item')");
}

// --- ingest ---------------------------------------------------------------

core::SourceCursor SqliteStateStore::load_cursor(const std::string& source) {
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

// One ingest batch on the SQLite store: ledger rows as it goes; each target's
// records collected into segments, written with the cursor at commit.
class SqliteIngest final : public IngestTransaction {
 public:
  explicit SqliteIngest(SqliteStateStore& s) : s_(s), db_(s.db_), tx_(s.db_) {}
  ~SqliteIngest() override {
    for (auto& b : builders_) s_.give_buffer(std::move(b.entries));
  }

  bool claim_version(const core::SourceRow& row, std::string_view sha, std::int64_t at_ms) override {
    auto& q = s_.ledger_insert_;
    q.bind_static(1, row.id).bind(2, row.version).bind(3, row.seq).bind_static(4, sha).bind(5, at_ms)
        .bind_static(6, row.received_at).run();
    q.reset();
    return db_.changes() > 0;
  }

  void set_outcome(const core::SourceRow& row, std::string_view outcome) override {
    auto& q = s_.ledger_outcome_;
    q.bind(1, row.id).bind(2, row.version).bind(3, row.received_at).bind(4, outcome).run();
    q.reset();
  }

  void quarantine(const QuarantineEntry& e) override {
    auto& q = s_.quarantine_;
    q.bind(1, e.seq).bind(2, e.submission_id).bind(3, e.version).bind(4, e.reason_code).bind(5, e.field)
        .bind(6, e.detail).bind(7, e.mapping).bind(8, e.at_ms).run();
    q.reset();
  }

  void queue_status(const core::StatusUpdate& u, std::int64_t version) override { statuses_.add(u, version); }

  void queue_version(const QueuedVersion& v, std::int64_t now) override {
    if (v.records.empty()) return;
    now_ = now;
    const core::SourceRow& row = *v.row;
    if (next_item_ == 0) {
      auto q = db_.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_item'");
      next_item_ = q.step() ? q.int64(0) : 1;
    }
    std::vector<std::int64_t> ids;
    ids.reserve(v.records.size());
    for (std::size_t i = 0; i < v.records.size(); ++i) ids.push_back(next_item_++);
    for (std::size_t i = 0; i < v.records.size(); ++i) {
      const QueuedRecord& r = v.records[i];
      Meta meta;
      meta.hint = v.hint;
      meta.update_of = std::string(v.update_of);
      for (std::size_t k = 0; k < v.records.size(); ++k)
        if (k != i) meta.siblings.emplace_back(std::string(v.records[k].target), ids[k]);
      if (!r.held.empty()) {
        hold(row, r, ids[i], meta);
        continue;
      }
      Builder& b = builder(r.target);
      const std::size_t shape = b.shape_of(r.mapping, *r.field_names);
      std::string& body = b.entries;
      std::string entry;
      entry.reserve(64 + r.values.size());
      codec::put_varint(entry, static_cast<std::uint64_t>(ids[i] - (b.count ? b.last : b.first_id(ids[i]))));
      codec::put_bytes(entry, row.id);
      codec::put_varint(entry, static_cast<std::uint64_t>(row.version));
      codec::put_varint(entry, static_cast<std::uint64_t>(row.seq));
      codec::put_varint(entry, shape);
      put_meta(entry, meta);
      entry.append(r.values);
      codec::put_bytes(body, entry);
      b.last = ids[i];
      ++b.count;
      if (body.size() >= kSegmentBytes) flush(b);
    }
  }

  std::string reference_for(const std::string& submission_id, const std::string& target) override {
    return s_.reference_for(submission_id, target);
  }

  void link_duplicate(const std::string& submission_id, std::int64_t version, const std::string& of_id,
                      const std::string& message, std::int64_t now) override {
    db_.prepare("INSERT OR REPLACE INTO duplicate_links (submission_id, version, of_id, message, created_ms)"
                " VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, submission_id).bind(2, version).bind(3, of_id).bind(4, message).bind(5, now).run();
  }

  std::optional<std::string> kept_for(const std::string& submission_id) override {
    auto q = db_.prepare("SELECT of_id FROM duplicate_links WHERE submission_id = ?1 ORDER BY version LIMIT 1");
    std::optional<std::string> kept;
    std::string id = submission_id;
    for (int hop = 0; hop < 8; ++hop) {  // a duplicate of a report that became a duplicate itself
      q.bind(1, id);
      if (!q.step()) break;
      id = q.text(0);
      q.reset();
      kept = id;
    }
    return kept;
  }

  void relink_duplicates(const std::string& from, const std::string& to) override {
    db_.prepare("UPDATE duplicate_links SET of_id = ?2 WHERE of_id = ?1").bind(1, from).bind(2, to).run();
  }

  // The submission's items are found in the targets' logs, newest segment
  // first (the copy to withdraw came in recently), only among the items not
  // claimed yet; the first one found names the others (its siblings). Each
  // gets a row of state 'withdrawn', which the claim skips. Rare (an
  // out-of-order double submission), so a scan is acceptable here.
  bool withdraw_unsent(const std::string& submission_id) override {
    for (auto& b : builders_) flush(b);  // (before begin_savepoint: see there)
    std::map<std::string, std::int64_t> claimed_through;
    {
      auto q = db_.prepare("SELECT target, claimed_through FROM outbox_logs");
      while (q.step()) claimed_through[q.text(0)] = q.int64(1);
    }
    // A version 1 with a row of its own (held, waiting, retried, dead) has
    // left the log: not withdrawn.
    {
      auto q = db_.prepare(
          "SELECT 1 FROM outbox_items WHERE submission_id = ?1 AND state <> 'withdrawn' LIMIT 1");
      q.bind(1, submission_id);
      if (q.step()) return false;
    }
    auto segs = db_.prepare(
        "SELECT s.id, s.first_item, s.body, s.target FROM outbox_segments s JOIN outbox_logs l ON l.target = s.target"
        " WHERE s.last_item >= l.claimed_through ORDER BY s.id DESC");
    SegmentItem it;
    std::vector<std::pair<std::string, SegmentItem>> found;
    std::string mapping;
    while (found.empty() && segs.step()) {
      const std::string target = segs.text(3);
      const std::int64_t from = claimed_through[target];
      SegmentReader reader(segs.blob_view(2), segs.int64(1), segs.int64(0));
      while (reader.next(it)) {
        if (it.id < from || it.submission_id != submission_id) continue;
        if (it.version != 1) return false;
        found.emplace_back(target, it);
        break;
      }
    }
    if (found.empty()) return false;
    // Every sibling must be a log item not claimed yet, without a row of its own.
    const Meta meta = found.front().second.meta;
    for (const auto& [target, id] : meta.siblings) {
      auto c = claimed_through.find(target);
      if (c == claimed_through.end() || id < c->second) return false;
      auto q = db_.prepare("SELECT 1 FROM outbox_items WHERE id = ?1");
      q.bind(1, id);
      if (q.step()) return false;
    }
    std::vector<std::pair<std::string, std::int64_t>> items(meta.siblings.begin(), meta.siblings.end());
    items.emplace_back(found.front().first, found.front().second.id);
    auto ins = db_.prepare(
        "INSERT INTO outbox_items (id, target, submission_id, version, seq, mapping, state, attempts,"
        " next_attempt_ms, enqueued_ms, settled_ms) VALUES (?1, ?2, ?3, 1, ?4, '', 'withdrawn', 0, ?5, ?5, ?5)");
    // Taken from the log now (not pending any more), skipped when a claim reaches them.
    auto taken = db_.prepare(
        "INSERT INTO outbox_logs (target, claimed_through, claimed) VALUES (?1, 0, 1)"
        " ON CONFLICT (target) DO UPDATE SET claimed = claimed + 1");
    for (const auto& [target, id] : items) {
      ins.bind(1, id).bind(2, target).bind(3, submission_id).bind(4, found.front().second.seq).bind(5, now_ms())
          .run();
      ins.reset();
      taken.bind(1, target).run();
      taken.reset();
    }
    return true;
  }

  // Records still collected in memory go to their segments first: a
  // savepoint rolled back must not lose records queued before it.
  void begin_savepoint() override {
    for (auto& b : builders_) flush(b);
    db_.exec("SAVEPOINT ingest_step");
  }
  void end_savepoint(bool keep) override {
    db_.exec(keep ? "RELEASE ingest_step" : "ROLLBACK TO ingest_step; RELEASE ingest_step");
  }

  void save_cursor(const std::string& source, const core::SourceCursor& cursor) override {
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
      ins.reset();
    }
  }

  void commit() override {
    for (auto& b : builders_) flush(b);
    if (next_item_ != 0)
      db_.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_item', ?1)")
          .bind(1, std::to_string(next_item_)).run();
    auto log = db_.prepare(
        "INSERT INTO outbox_logs (target, claimed_through, queued) VALUES (?1, 0, ?2)"
        " ON CONFLICT (target) DO UPDATE SET queued = queued + excluded.queued");
    for (const auto& [target, n] : queued_) {
      log.bind(1, target).bind(2, n).run();
      log.reset();
    }
    write_chunk(db_, statuses_, now_ ? now_ : now_ms());
    tx_.commit();
  }

 private:
  struct Builder {
    std::string target;
    std::vector<Shape> shapes;
    std::vector<const std::vector<std::string>*> shape_keys;
    std::string entries;
    std::size_t count = 0;
    std::int64_t first = 0, last = 0;

    std::int64_t first_id(std::int64_t id) {
      first = id;
      return id;
    }
    std::size_t shape_of(std::string_view mapping, const std::vector<std::string>& names) {
      for (std::size_t i = 0; i < shapes.size(); ++i)
        if (shape_keys[i] == &names && shapes[i].mapping == mapping) return i;
      for (std::size_t i = 0; i < shapes.size(); ++i)
        if (shapes[i].mapping == mapping && shapes[i].names == names) return i;
      shapes.push_back({std::string(mapping), names});
      shape_keys.push_back(&names);
      return shapes.size() - 1;
    }
  };

  Builder& builder(std::string_view target) {
    for (auto& b : builders_)
      if (b.target == target) return b;
    builders_.push_back(Builder{std::string(target), {}, {}, s_.take_buffer(), 0, 0, 0});
    return builders_.back();
  }

  void flush(Builder& b) {
    if (b.count == 0) return;
    std::string body = s_.take_buffer();
    body.assign(kSegmentFormat, 2);
    codec::put_varint(body, b.shapes.size());
    for (const auto& s : b.shapes) {
      codec::put_bytes(body, s.mapping);
      codec::put_varint(body, s.names.size());
      for (const auto& n : s.names) codec::put_bytes(body, n);
    }
    codec::put_varint(body, b.count);
    body.reserve(body.size() + b.entries.size());  // grown once, not by doubling
    body += b.entries;
    erase_settled(static_cast<std::int64_t>(body.size()));
    db_.prepare(
           "INSERT INTO outbox_segments (target, first_item, last_item, items, bytes, enqueued_ms, body)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, b.target).bind(2, b.first).bind(3, b.last).bind(4, static_cast<std::int64_t>(b.count))
        .bind(5, static_cast<std::int64_t>(body.size())).bind(6, now_)
        .bind_blob_static(7, body.data(), body.size())  // (alive until run: not copied again)
        .run();
    s_.give_buffer(std::move(body));
    queued_[b.target] += static_cast<std::int64_t>(b.count);
    b.entries.clear();
    b.count = 0;
  }

  // Before each new segment (of `need` bytes), settled segments of about its
  // size are erased: their pages are zeroed as they are freed (secure_delete),
  // then filled again by the new segment in this same transaction, so erasing
  // the delivered records costs no writes of its own. Erasing all settled
  // segments at once (as before change 15) freed more pages than the
  // transaction filled: those were written zeroed, then again by the next
  // transaction (~40 WAL frames per 1,000 rows). What a transaction could not
  // erase waits for the next (the credit), or for ingest's idle pass
  // (release_settled_records), which erases them all. The settled segments are
  // read once per transaction: no delivery settles while it holds the write lock.
  void erase_settled(std::int64_t need) {
    if (!settled_) settled_ = settled_segments(db_);
    auto& credit = s_.release_credit_;
    credit = std::min(credit + need, 2 * need + static_cast<std::int64_t>(kSegmentBytes));
    std::vector<SettledSegment> now;
    std::erase_if(*settled_, [&](const SettledSegment& seg) {
      if (seg.bytes > credit) return false;
      credit -= seg.bytes;
      now.push_back(seg);
      return true;
    });
    delete_segments(db_, now);
  }

  // A record held for an operator's review: a dead letter from the start, with its own copy.
  void hold(const core::SourceRow& row, const QueuedRecord& r, std::int64_t id, const Meta& meta) {
    db_.prepare(
           "INSERT INTO outbox_items (id, target, submission_id, version, seq, mapping, state, attempts,"
           " next_attempt_ms, enqueued_ms, last_error, settled_ms, meta)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'dead', 0, ?7, ?7, ?8, ?7, ?9)")
        .bind(1, id).bind(2, r.target).bind(3, row.id).bind(4, row.version).bind(5, row.seq).bind(6, r.mapping)
        .bind(7, now_).bind(8, r.held).bind_blob(9, encode_meta(meta)).run();
    db_.prepare("INSERT INTO outbox_records (item_id, record) VALUES (?1, ?2)")
        .bind(1, id)
        .bind_blob(2, standalone_record(row.id, row.version, r.mapping, r.target, *r.field_names, r.values))
        .run();
  }

  SqliteStateStore& s_;
  Database& db_;
  Transaction tx_;
  std::vector<Builder> builders_;
  std::map<std::string, std::int64_t> queued_;
  ChunkWriter statuses_;
  std::int64_t next_item_ = 0;
  std::int64_t now_ = 0;
  std::optional<std::vector<SettledSegment>> settled_;  // read at the first new segment
};

std::unique_ptr<IngestTransaction> SqliteStateStore::begin_ingest() { return std::make_unique<SqliteIngest>(*this); }

std::string SqliteStateStore::reference_for(const std::string& submission_id, const std::string& target) {
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

// --- dispatch ---------------------------------------------------------------

void SqliteStateStore::set_writeback_rule(const std::string& target, const WritebackRule& rule) {
  writeback_rules_.set(target, rule);
}

namespace {
// Exception items claim_batch may take: pending (a retry or replay) or waiting,
// due, and not a later version while an earlier one of the same submission is
// still on its way to this target through the exceptions. pending_summary
// counts with the same rule.
constexpr const char* kClaimableExceptions =
    " o.target = ?1 AND o.state IN ('pending', 'waiting') AND o.next_attempt_ms <= ?2 AND (o.version = 1 OR NOT"
    " EXISTS (SELECT 1 FROM outbox_items e WHERE e.target = o.target AND e.submission_id = o.submission_id"
    " AND e.version < o.version AND e.state IN ('pending', 'waiting', 'in_flight')))"
    // an edit of a duplicate waits for the record kept for it, too (docs/deduplication.md)
    " AND (o.update_of IS NULL OR NOT EXISTS (SELECT 1 FROM outbox_items k WHERE k.target = o.target"
    " AND k.submission_id = o.update_of AND k.state IN ('pending', 'waiting', 'in_flight')))";
}  // namespace

PendingSummary SqliteStateStore::pending_summary(const std::string& target, std::int64_t now, std::size_t enough) {
  PendingSummary s;
  const LogState log = load_log(db_, target);
  const std::int64_t unclaimed = std::max<std::int64_t>(0, log.queued - log.claimed);
  if (unclaimed > 0) {
    auto q = db_.prepare(
        "SELECT enqueued_ms FROM outbox_segments WHERE target = ?1 AND last_item >= ?2 ORDER BY last_item LIMIT 1");
    q.bind(1, target).bind(2, log.claimed_through);
    if (q.step()) s.oldest_enqueued_ms = q.int64(0);
  }
  if (static_cast<std::size_t>(unclaimed) < enough) {
    // Counting stops at `enough`: the dispatcher only needs to know whether a
    // full batch is waiting, and a long backlog must not make this slow.
    auto q = db_.prepare(std::string("SELECT count(*), min(enqueued_ms) FROM (SELECT o.enqueued_ms FROM outbox_items o"
                                     " WHERE") + kClaimableExceptions + " LIMIT ?3)");
    q.bind(1, target).bind(2, now).bind(3, static_cast<std::int64_t>(enough));
    if (q.step() && q.int64(0) > 0) {
      s.ready = q.int64(0);
      if (s.oldest_enqueued_ms == 0 || q.int64(1) < s.oldest_enqueued_ms) s.oldest_enqueued_ms = q.int64(1);
    }
  }
  s.ready = std::min<std::int64_t>(static_cast<std::int64_t>(enough), s.ready + unclaimed);
  if (s.ready == 0) s.oldest_enqueued_ms = 0;
  return s;
}

std::optional<std::int64_t> SqliteStateStore::next_attempt_after(const std::string& target, std::int64_t now) {
  auto q = db_.prepare(
      "SELECT min(next_attempt_ms) FROM outbox_items WHERE target = ?1 AND state IN ('pending', 'waiting')"
      " AND next_attempt_ms > ?2");
  q.bind(1, target).bind(2, now);
  if (q.step() && !q.is_null(0)) return q.int64(0);
  return std::nullopt;
}

namespace {

// The versions (submission id -> lowest version) of a target's items on their
// way in batches other than the one being claimed: an earlier version among
// them holds a later one back. Every item a claim takes is noted, so the ids
// and the table's nodes go to an arena of the claim's own (one bump
// allocation each, freed at once): as a map of owned strings this was two
// heap blocks per item, ~13 % of a claim's samples (docs/performance.md,
// change 14).
class OpenVersions {
 public:
  explicit OpenVersions(std::size_t expect = 0) : map_(&arena_) { map_.reserve(expect); }
  void note(std::string_view id, std::int64_t version) {
    auto it = map_.find(id);
    if (it != map_.end()) {
      if (version < it->second) it->second = version;
      return;
    }
    char* copy = static_cast<char*>(arena_.allocate(std::max<std::size_t>(1, id.size()), 1));
    std::copy(id.begin(), id.end(), copy);
    map_.emplace(std::string_view(copy, id.size()), version);
  }
  bool earlier(std::string_view id, std::int64_t version) const {
    auto it = map_.find(id);
    return it != map_.end() && it->second < version;
  }

 private:
  std::pmr::monotonic_buffer_resource arena_;
  std::pmr::unordered_map<std::string_view, std::int64_t> map_;
};

}  // namespace

std::optional<core::DeliveryBatch> SqliteStateStore::claim_batch(const std::string& target, ClaimLimits limits,
                                                                 std::int64_t now) {
  const std::size_t max_items = std::max<std::size_t>(1, limits.max_items);
  Transaction tx(db_);
  const LogState log = load_log(db_, target);

  core::DeliveryBatch batch;
  auto info = std::make_unique<BatchInfo>();
  info->target = target;
  // Room for what the claim will likely take (the byte limit usually ends it
  // first: a record held decoded takes a kilobyte or more, held_bytes), not
  // for max_items: room reserved and never used still takes memory once the
  // allocator has handed it out before.
  const std::size_t expect = std::min<std::size_t>(
      {max_items, static_cast<std::size_t>(std::max<std::int64_t>(0, log.queued - log.claimed)) + 64,
       limits.max_bytes / 1024 + 16});
  batch.items.reserve(expect);
  info->items.reserve(expect);
  std::size_t bytes = 0;
  OpenVersions in_batch(expect);  // versions taken by this claim
  OpenVersions elsewhere;  // versions in this target's other open batches
  {
    auto q = db_.prepare("SELECT id, batch_key FROM delivery_batches WHERE target = ?1 AND state = 'open'");
    q.bind(1, target);
    std::vector<std::pair<std::int64_t, std::string>> open;
    while (q.step()) open.emplace_back(q.int64(0), q.text(1));
    // Normally none: a delivery thread settles its batch before it claims the
    // next. Several instances, or a test, may hold more than one.
    for (const auto& [id, key] : open)
      if (auto other = load_batch(id, key, false, false))  // (the holder's own view of it stays)
        for (const auto& item : other->items) elsewhere.note(item.record.submission_id, item.record.version);
  }
  // 1. Exceptions that are due: retries, replays, items that waited for an earlier version.
  std::vector<std::int64_t> taken_exceptions;
  std::vector<std::int64_t> unreadable_exceptions;
  {
    auto q = db_.prepare(std::string("SELECT o.id, o.submission_id, o.version, o.seq, o.attempts, o.in_doubt, o.meta,"
                                     " r.record, o.enqueued_ms, coalesce(o.update_of, '') FROM outbox_items o"
                                     " LEFT JOIN outbox_records r ON r.item_id = o.id"
                                     " WHERE") +
                         kClaimableExceptions + " ORDER BY o.id LIMIT ?3");
    q.bind(1, target).bind(2, now).bind(3, static_cast<std::int64_t>(max_items));
    while (q.step() && batch.items.size() < max_items && bytes < limits.max_bytes) {
      const std::string id_text = q.text(1);
      const std::int64_t version = q.int64(2);
      if (in_batch.earlier(id_text, version) || elsewhere.earlier(id_text, version)) continue;
      const std::string kept = q.text(9);
      if (!kept.empty() && (in_batch.earlier(kept, INT64_MAX) || elsewhere.earlier(kept, INT64_MAX)))
        continue;
      core::DeliveryItem item;
      item.outbox_id = q.int64(0);
      item.attempts = static_cast<int>(q.int64(4));
      item.in_doubt = q.int64(5) != 0;
      if (!read_stored_record(q, 7, item.record)) {
        unreadable_exceptions.push_back(item.outbox_id);
        continue;
      }
      bytes += held_bytes(item.record);
      in_batch.note(id_text, version);
      taken_exceptions.push_back(item.outbox_id);
      info->items.push_back({true, q.int64(3), q.int64(8), decode_meta(q.blob_view(6))});
      batch.items.push_back(std::move(item));
    }
  }
  // 2. The log, from where the last claim ended.
  std::int64_t first_item = 0, last_item = -1, examined = 0;
  std::vector<std::int64_t> skipped;
  std::vector<std::int64_t> unreadable_log;
  struct Divert {
    SegmentItem item;
    std::string mapping;
    std::string record;  // empty: unreadable
    std::int64_t enqueued_ms = 0;
  };
  std::vector<Divert> diverted;
  std::unordered_set<std::int64_t> withdrawn;  // withdrawn items of the log (already counted as claimed)
  std::int64_t withdrawn_passed = 0;
  if (batch.items.size() < max_items && bytes < limits.max_bytes && log.queued > log.claimed) {
    // Items of the log that have a row of their own (held, withdrawn): that row governs them.
    std::unordered_set<std::int64_t> excepted;
    {
      auto q = db_.prepare("SELECT id, state = 'withdrawn' FROM outbox_items WHERE id >= ?2 AND target = ?1");
      q.bind(1, target).bind(2, log.claimed_through);
      while (q.step()) {
        excepted.insert(q.int64(0));
        if (q.int64(1)) withdrawn.insert(q.int64(0));
      }
    }
    auto segs = db_.prepare(
        "SELECT id, first_item, body, enqueued_ms FROM outbox_segments WHERE target = ?1 AND last_item >= ?2"
        " ORDER BY last_item");
    segs.bind(1, target).bind(2, log.claimed_through);
    bool full = false;
    SegmentItem it;
    while (!full && segs.step()) {
      SegmentReader reader(segs.blob_view(2), segs.int64(1), segs.int64(0));
      while (reader.next(it)) {
        if (it.id < log.claimed_through) continue;
        if (batch.items.size() + diverted.size() >= max_items || bytes >= limits.max_bytes) {
          full = true;
          break;
        }
        if (first_item == 0) first_item = it.id;
        last_item = it.id;
        ++examined;
        if (excepted.count(it.id)) {
          skipped.push_back(it.id);
          if (withdrawn.count(it.id)) ++withdrawn_passed;
          continue;
        }
        const Shape& shape = reader.shape(it.shape);
        bool waits = false;
        if (it.version > 1) {
          waits = in_batch.earlier(it.submission_id, it.version) ||
                  elsewhere.earlier(it.submission_id, it.version);
          if (!waits) {
            exception_open_.bind(1, target).bind(2, it.submission_id).bind(3, it.version);
            waits = exception_open_.step();
            exception_open_.reset();
          }
        }
        if (!waits && !it.meta.update_of.empty()) {
          // An edit of a duplicate: while the record kept for it is on its way here.
          const std::string& kept = it.meta.update_of;
          waits = in_batch.earlier(kept, INT64_MAX) || elsewhere.earlier(kept, INT64_MAX);
          if (!waits) {
            exception_open_.bind(1, target).bind(2, kept).bind(3, INT64_MAX);
            waits = exception_open_.step();
            exception_open_.reset();
          }
        }
        if (waits) {
          // A later version while an earlier one is on its way here: it waits
          // with a copy of its own, and goes as an update once that one settled.
          skipped.push_back(it.id);
          diverted.push_back({it, shape.mapping,
                              standalone_record(it.submission_id, it.version, shape.mapping, target, shape.names,
                                                it.values),
                              segs.int64(3)});
          in_batch.note(it.submission_id, it.version);
          continue;
        }
        core::DeliveryItem item;
        item.outbox_id = it.id;
        item.record.submission_id = it.submission_id;
        item.record.version = it.version;
        item.record.mapping = shape.mapping;
        item.record.target = target;
        std::string_view values = it.values;
        if (!it.values_ok || !codec::get_values(values, shape.names, item.record)) {
          skipped.push_back(it.id);
          unreadable_log.push_back(it.id);
          diverted.push_back({it, shape.mapping, {}, segs.int64(3)});
          continue;
        }
        bytes += held_bytes(item.record);
        in_batch.note(it.submission_id, it.version);
        info->items.push_back({false, it.seq, segs.int64(3), std::move(it.meta)});
        batch.items.push_back(std::move(item));
      }
    }
  }
  if (batch.items.empty() && examined == 0 && unreadable_exceptions.empty()) return std::nullopt;

  // Items set aside from the log get rows of their own: waiting, or dead when unreadable.
  if (!diverted.empty()) {
    auto ins = db_.prepare(
        "INSERT INTO outbox_items (id, target, submission_id, version, seq, mapping, state, attempts,"
        " next_attempt_ms, enqueued_ms, last_error, settled_ms, meta, update_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " 0, ?8, ?12, ?9, ?10, ?11, nullif(?13, ''))");
    auto rec = db_.prepare("INSERT INTO outbox_records (item_id, record) VALUES (?1, ?2)");
    std::unordered_set<std::int64_t> dead(unreadable_log.begin(), unreadable_log.end());
    for (const auto& d : diverted) {
      const bool is_dead = dead.count(d.item.id) != 0;
      ins.bind(1, d.item.id).bind(2, target).bind(3, d.item.submission_id).bind(4, d.item.version)
          .bind(5, d.item.seq).bind(6, d.mapping).bind(7, is_dead ? "dead" : "waiting").bind(8, now);
      if (is_dead) {
        ins.bind(9, "record_unreadable").bind(10, now);
      } else {
        ins.bind_null(9).bind_null(10);
      }
      ins.bind_blob(11, encode_meta(d.item.meta)).bind(12, d.enqueued_ms).bind(13, d.item.meta.update_of).run();
      ins.reset();
      if (!is_dead) {
        rec.bind(1, d.item.id).bind_blob(2, d.record).run();
        rec.reset();
      }
    }
  }
  for (auto id : unreadable_exceptions)
    db_.prepare(
           "UPDATE outbox_items SET state = 'dead', batch_id = NULL, last_error = 'record_unreadable',"
           " settled_ms = ?2 WHERE id = ?1")
        .bind(1, id).bind(2, now).run();
  if (examined > 0)
    db_.prepare("UPDATE outbox_logs SET claimed_through = ?2, claimed = claimed + ?3 WHERE target = ?1")
        .bind(1, target).bind(2, last_item + 1).bind(3, examined - withdrawn_passed).run();
  if (withdrawn_passed > 0)  // their rows have done their work
    db_.prepare("DELETE FROM outbox_items WHERE target = ?1 AND state = 'withdrawn' AND id <= ?2")
        .bind(1, target).bind(2, last_item).run();
  if (batch.items.empty()) {
    tx.commit();
    return std::nullopt;
  }

  auto ins = db_.prepare(
      "INSERT INTO delivery_batches (target, batch_key, state, created_ms, first_item, last_item, skipped, items)"
      " VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?6, ?7)");
  // The key needs the row id: insert with a placeholder, then set it.
  ins.bind(1, target).bind(2, "claiming-" + std::to_string(now)).bind(3, now);
  if (examined > 0)
    ins.bind(4, first_item).bind(5, last_item);
  else
    ins.bind_null(4).bind_null(5);
  // `items`: how many of the batch's items come from the log (the exceptions
  // it took are counted by their own rows).
  ins.bind_blob(6, encode_ids(skipped))
      .bind(7, static_cast<std::int64_t>(batch.items.size() - taken_exceptions.size()))
      .run();
  batch.id = db_.last_insert_rowid();
  batch.fence = batch.id;
  batch.key = batch_key(instance_, batch.id, now);
  db_.prepare("UPDATE delivery_batches SET batch_key = ?1 WHERE id = ?2").bind(1, batch.key).bind(2, batch.id).run();
  auto take = db_.prepare("UPDATE outbox_items SET state = 'in_flight', batch_id = ?1 WHERE id = ?2");
  for (auto id : taken_exceptions) {
    take.bind(1, batch.id).bind(2, id).run();
    take.reset();
  }
  tx.commit();
  // The claim must reach the disk before anything is published under its key
  // (a power cut must not make the same items appear under a second key).
  sync_wal(db_);

  // A later version goes as an update of the record the target made of an
  // earlier one (reading needs no write lock: ingest goes on meanwhile).
  prior_references(target, batch, *info);
  claimed_[batch.id] = std::move(info);
  return batch;
}

// A later version goes as an update of the record the target made of an
// earlier one; an edit of a duplicate, of the record kept for it (reading
// needs no write lock: ingest goes on meanwhile).
void SqliteStateStore::prior_references(const std::string& target, core::DeliveryBatch& batch, const BatchInfo& info) {
  auto ref = db_.prepare("SELECT reference FROM legacy_refs WHERE target = ?1 AND submission_id = ?2 AND version < ?3");
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    auto& item = batch.items[i];
    const std::string& kept = info.items[i].meta.update_of;
    if (!kept.empty()) {
      ref.bind(1, target).bind(2, kept).bind(3, INT64_MAX);
    } else {
      if (item.record.version <= 1) continue;
      ref.bind(1, target).bind(2, item.record.submission_id).bind(3, item.record.version);
    }
    if (ref.step()) item.prior_reference = ref.text(0);
    ref.reset();
  }
}

std::optional<core::DeliveryBatch> SqliteStateStore::load_batch(std::int64_t id, const std::string& key,
                                                                bool recovering, bool remember) {
  core::DeliveryBatch batch;
  batch.id = id;
  batch.fence = id;
  batch.key = key;
  auto info = std::make_unique<BatchInfo>();
  std::int64_t first_item = 0, last_item = -1;
  std::unordered_set<std::int64_t> skipped;
  {
    auto q = db_.prepare("SELECT target, first_item, last_item, skipped FROM delivery_batches WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    info->target = q.text(0);
    if (!q.is_null(1)) {
      first_item = q.int64(1);
      last_item = q.int64(2);
    }
    for (auto s : decode_ids(q.blob_view(3))) skipped.insert(s);
  }
  // Exception items first, then the log's range: the order the claim gave.
  {
    auto q = db_.prepare(
        "SELECT o.id, o.seq, o.attempts, o.in_doubt, o.meta, r.record, o.enqueued_ms, o.submission_id, o.version,"
        " o.mapping FROM outbox_items o LEFT JOIN outbox_records r ON r.item_id = o.id WHERE o.batch_id = ?1"
        " AND o.state = 'in_flight' ORDER BY o.id");
    q.bind(1, id);
    while (q.step()) {
      core::DeliveryItem item;
      item.outbox_id = q.int64(0);
      item.attempts = static_cast<int>(q.int64(2));
      item.in_doubt = recovering || q.int64(3) != 0;
      if (!read_stored_record(q, 5, item.record)) {
        info->unreadable.push_back(
            {item.outbox_id, true, q.text(7), q.text(9), q.int64(8), q.int64(1), q.int64(6), decode_meta(q.blob_view(4))});
        continue;
      }
      info->items.push_back({true, q.int64(1), q.int64(6), decode_meta(q.blob_view(4))});
      batch.items.push_back(std::move(item));
    }
  }
  if (last_item >= first_item && first_item > 0) {
    auto segs = db_.prepare(
        "SELECT id, first_item, body, enqueued_ms FROM outbox_segments WHERE target = ?1 AND last_item >= ?2"
        " AND first_item <= ?3 ORDER BY last_item");
    segs.bind(1, info->target).bind(2, first_item).bind(3, last_item);
    SegmentItem it;
    while (segs.step()) {
      SegmentReader reader(segs.blob_view(2), segs.int64(1), segs.int64(0));
      while (reader.next(it)) {
        if (it.id < first_item || it.id > last_item || skipped.count(it.id)) continue;
        const Shape& shape = reader.shape(it.shape);
        core::DeliveryItem item;
        item.outbox_id = it.id;
        item.in_doubt = recovering;
        item.record.submission_id = it.submission_id;
        item.record.version = it.version;
        item.record.mapping = shape.mapping;
        item.record.target = info->target;
        std::string_view values = it.values;
        if (!it.values_ok || !codec::get_values(values, shape.names, item.record)) {
          info->unreadable.push_back({it.id, false, it.submission_id, shape.mapping, it.version, it.seq,
                                      segs.int64(3), std::move(it.meta)});
          continue;
        }
        info->items.push_back({false, it.seq, segs.int64(3), std::move(it.meta)});
        batch.items.push_back(std::move(item));
      }
    }
  }
  prior_references(info->target, batch, *info);
  if (remember) claimed_[id] = std::move(info);
  return batch;
}

std::vector<core::DeliveryBatch> SqliteStateStore::open_batches(const std::string& target) {
  std::vector<std::pair<std::int64_t, std::string>> open;
  {
    auto q = db_.prepare(
        "SELECT id, batch_key FROM delivery_batches WHERE target = ?1 AND state = 'open' ORDER BY id");
    q.bind(1, target);
    while (q.step()) open.emplace_back(q.int64(0), q.text(1));
  }
  std::vector<core::DeliveryBatch> out;
  for (const auto& [id, key] : open)
    if (auto b = load_batch(id, key, true)) out.push_back(std::move(*b));
  return out;
}

SqliteStateStore::BatchInfo& SqliteStateStore::batch_info(const core::DeliveryBatch& batch) {
  auto it = claimed_.find(batch.id);
  if (it == claimed_.end() || it->second->items.size() != batch.items.size()) {
    auto q = db_.prepare("SELECT batch_key FROM delivery_batches WHERE id = ?1");
    q.bind(1, batch.id);
    if (!q.step()) throw LeaseLost("delivery batch " + batch.key + " is not in the state database");
    const std::string key = q.text(0);
    q.reset();
    load_batch(batch.id, key, false);
    it = claimed_.find(batch.id);
    if (it == claimed_.end() || it->second->items.size() != batch.items.size())
      throw std::logic_error("settle_batch: batch " + batch.key + " does not hold the items it was claimed with");
  }
  return *it->second;
}

void SqliteStateStore::settle_batch(const core::DeliveryBatch& batch, const std::vector<core::DeliveryOutcome>& outcomes,
                                    std::int64_t now, const RetryPolicy& retry, const WritebackRule& rule) {
  BatchInfo& info = batch_info(batch);
  // Every item not settled yet (settle_items), each with its own outcome.
  std::vector<std::size_t> which;
  std::vector<core::DeliveryOutcome> rest;
  which.reserve(batch.items.size());
  rest.reserve(batch.items.size());
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    if (!info.settled.empty() && info.settled[i]) continue;
    which.push_back(i);
    rest.push_back(i < outcomes.size() ? outcomes[i]
                                       : core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "no_outcome",
                                                                     "sink returned fewer outcomes than items"));
  }
  settle(batch, info, which, rest, now, retry, rule);
}

void SqliteStateStore::settle_items(const core::DeliveryBatch& batch, const std::vector<std::size_t>& which,
                                    const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now,
                                    const RetryPolicy& retry, const WritebackRule& rule) {
  BatchInfo& info = batch_info(batch);
  if (outcomes.size() != which.size())
    throw std::logic_error("settle_items: batch " + batch.key + ": one outcome per item settled");
  settle(batch, info, which, outcomes, now, retry, rule);
}

// Settles `which` (indexes into batch.items, outcomes[k] for which[k]); the
// call that settles the batch's last items closes it. Items settled while
// the batch stays open leave it: a log item joins the batch's `skipped` ids
// (so recovery, the in-flight count and the order of versions no longer see
// it in the batch), an exception row loses its batch_id.
void SqliteStateStore::settle(const core::DeliveryBatch& batch, BatchInfo& info, const std::vector<std::size_t>& which,
                              const std::vector<core::DeliveryOutcome>& outcomes, std::int64_t now,
                              const RetryPolicy& retry, const WritebackRule& rule) {
  if (info.settled.empty()) info.settled.assign(batch.items.size(), false);
  for (std::size_t i : which)
    if (i >= batch.items.size() || info.settled[i])
      throw std::logic_error("settle: batch " + batch.key + ": item " + std::to_string(i) +
                             " is not in the batch or was settled already");
  const bool closing = info.settled_count + which.size() == batch.items.size();
  const std::string& target = info.target;
  Transaction tx(db_);
  if (closing) {
    auto close = db_.prepare(
        "UPDATE delivery_batches SET state = 'settled', settled_ms = ?2 WHERE id = ?1 AND state = 'open'");
    close.bind(1, batch.id).bind(2, now).run();
    if (db_.changes() != 1)
      throw LeaseLost("delivery batch " + batch.key + " is no longer open: its outcome was recorded elsewhere");
  } else {
    auto q = db_.prepare("SELECT skipped FROM delivery_batches WHERE id = ?1 AND state = 'open'");
    q.bind(1, batch.id);
    if (!q.step())
      throw LeaseLost("delivery batch " + batch.key + " is no longer open: its outcome was recorded elsewhere");
    auto skipped = decode_ids(q.blob_view(0));
    q.reset();
    std::int64_t from_log = 0;
    for (std::size_t i : which)
      if (!info.items[i].exception) {
        skipped.push_back(batch.items[i].outbox_id);
        ++from_log;
      }
    if (from_log > 0) {
      std::sort(skipped.begin(), skipped.end());
      db_.prepare("UPDATE delivery_batches SET skipped = ?2, items = items - ?3 WHERE id = ?1")
          .bind(1, batch.id).bind_blob(2, encode_ids(skipped)).bind(3, from_log).run();
    }
  }
  auto drop_item = db_.prepare("DELETE FROM outbox_items WHERE id = ?1");
  auto drop_record = db_.prepare("DELETE FROM outbox_records WHERE item_id = ?1");
  auto remember = db_.prepare(
      "INSERT INTO legacy_refs (target, submission_id, version, reference, updated_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (target, submission_id) DO UPDATE SET"
      " version = excluded.version, reference = excluded.reference, updated_ms = excluded.updated_ms"
      " WHERE excluded.version >= legacy_refs.version");
  auto update = db_.prepare(
      "UPDATE outbox_items SET state = ?2, attempts = ?3, last_error = ?4, next_attempt_ms = ?5, settled_ms = ?6,"
      " in_doubt = in_doubt OR ?7, batch_id = NULL WHERE id = ?1");
  auto insert = db_.prepare(
      "INSERT INTO outbox_items (id, target, submission_id, version, seq, mapping, state, attempts, next_attempt_ms,"
      " enqueued_ms, last_error, settled_ms, in_doubt, meta, update_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
      " ?10, ?11, ?12, ?13, ?14, nullif(?15, ''))");
  auto copy = db_.prepare("INSERT OR REPLACE INTO outbox_records (item_id, record) VALUES (?1, ?2)");
  // An item that leaves the log gets a row of its own (with a copy of its
  // record); one that already has one is updated.
  auto set_state = [&](std::size_t i, const char* state, int attempts, const std::string& error,
                       std::int64_t next_attempt, bool settled, bool in_doubt) {
    const auto& item = batch.items[i];
    const ItemInfo& ii = info.items[i];
    if (ii.exception) {
      update.bind(1, item.outbox_id).bind(2, state).bind(3, attempts).bind(4, error).bind(5, next_attempt);
      if (settled)
        update.bind(6, now);
      else
        update.bind_null(6);
      update.bind(7, in_doubt ? 1 : 0).run();
      update.reset();
      return;
    }
    insert.bind(1, item.outbox_id).bind(2, target).bind(3, item.record.submission_id).bind(4, item.record.version)
        .bind(5, ii.seq).bind(6, item.record.mapping).bind(7, state).bind(8, attempts).bind(9, next_attempt)
        .bind(10, ii.enqueued_ms).bind(11, error);
    if (settled)
      insert.bind(12, now);
    else
      insert.bind_null(12);
    insert.bind(13, in_doubt ? 1 : 0).bind_blob(14, encode_meta(ii.meta)).bind(15, ii.meta.update_of).run();
    insert.reset();
    copy.bind(1, item.outbox_id).bind_blob(2, codec::encode_record(item.record)).run();
    copy.reset();
  };

  enum class Final { delivered, dead, open };
  std::vector<Final> finals(batch.items.size(), Final::open);
  std::int64_t delivered = 0;
  std::vector<const core::DeliveryOutcome*> outcome_of(batch.items.size(), nullptr);
  for (std::size_t k = 0; k < which.size(); ++k) {
    const std::size_t i = which[k];
    const auto& item = batch.items[i];
    const core::DeliveryOutcome& o = outcomes[k];
    outcome_of[i] = &o;
    const std::string error = o.reason_code.empty() ? std::string() : o.reason_code + ": " + o.detail;
    const int attempts = item.attempts + 1;
    switch (o.status) {
      case core::DeliveryStatus::delivered:
        finals[i] = Final::delivered;
        ++delivered;
        if (info.items[i].exception) {
          // Delivered items keep no copy of their record: personal data is
          // kept no longer than needed (dead letters keep theirs for replay).
          drop_item.bind(1, item.outbox_id).run();
          drop_item.reset();
          drop_record.bind(1, item.outbox_id).run();
          drop_record.reset();
        }
        if (rule.keep_references && !o.reference.empty()) {
          remember.bind(1, target).bind(2, item.record.submission_id).bind(3, item.record.version)
              .bind(4, o.reference).bind(5, now).run();
          remember.reset();
        }
        break;
      case core::DeliveryStatus::reject:
        finals[i] = Final::dead;
        set_state(i, "dead", attempts, error, 0, true, false);
        break;
      case core::DeliveryStatus::retry:
        if (o.deferred) {
          // Nothing was attempted (e.g. an in-doubt item's settle time): the
          // attempt is not counted and the item is offered again after retry_after.
          const std::int64_t wait = std::max<std::int64_t>(
              1000, std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count());
          set_state(i, "pending", item.attempts, error, now + wait, false, o.in_doubt);
        } else if (attempts >= retry.max_attempts) {
          finals[i] = Final::dead;
          set_state(i, "dead", attempts, "retries_exhausted: " + error, 0, true, o.in_doubt);
        } else {
          const std::int64_t wait = std::max<std::int64_t>(
              backoff_ms(attempts, retry), std::chrono::duration_cast<std::chrono::milliseconds>(o.retry_after).count());
          set_state(i, "pending", attempts, error, now + wait, false, o.in_doubt);
        }
        break;
    }
  }
  // Items of a recovered batch whose record could not be read (with the batch's last items).
  for (const auto& u : closing ? info.unreadable : std::vector<BatchInfo::Unreadable>{}) {
    if (u.exception) {
      db_.prepare(
             "UPDATE outbox_items SET state = 'dead', batch_id = NULL, last_error = 'record_unreadable',"
             " settled_ms = ?2 WHERE id = ?1")
          .bind(1, u.id).bind(2, now).run();
      continue;
    }
    insert.bind(1, u.id).bind(2, target).bind(3, u.submission_id).bind(4, u.version).bind(5, u.seq)
        .bind(6, u.mapping).bind(7, "dead").bind(8, 0).bind(9, 0).bind(10, u.enqueued_ms)
        .bind(11, "record_unreadable").bind(12, now).bind(13, 0).bind_blob(14, encode_meta(u.meta))
        .bind(15, u.meta.update_of).run();
    insert.reset();
  }
  db_.prepare("UPDATE outbox_logs SET delivered = delivered + ?2 WHERE target = ?1")
      .bind(1, target).bind(2, delivered).run();

  // The statuses of the versions this batch settled at their last target.
  std::unordered_map<std::string, LogState> logs;
  auto log_of = [&](const std::string& t) -> const LogState& {
    auto it = logs.find(t);
    if (it == logs.end()) it = logs.emplace(t, load_log(db_, t)).first;
    return it->second;
  };
  auto exception_state = db_.prepare("SELECT state FROM outbox_items WHERE id = ?1");
  auto in_open_batch = db_.prepare(
      "SELECT skipped FROM delivery_batches WHERE target = ?1 AND state = 'open' AND first_item <= ?2"
      " AND last_item >= ?2");
  // Where an item of another target stands: on its way, delivered, or dead.
  auto sibling = [&](const std::string& t, std::int64_t id) -> Final {
    exception_state.bind(1, id);
    if (exception_state.step()) {
      const std::string state = exception_state.text(0);
      exception_state.reset();
      return state == "dead" ? Final::dead : Final::open;
    }
    exception_state.reset();
    if (id >= log_of(t).claimed_through) return Final::open;
    in_open_batch.bind(1, t).bind(2, id);
    bool open = false;
    while (!open && in_open_batch.step()) {
      const auto skipped = decode_ids(in_open_batch.blob_view(0));
      open = std::find(skipped.begin(), skipped.end(), id) == skipped.end();
    }
    in_open_batch.reset();
    return open ? Final::open : Final::delivered;
  };
  ChunkWriter chunk;
  const std::string updated_at = rfc3339_utc(now);
  bool duplicates_wait = false;  // (rare: one probe of a small partial index per settle)
  {
    auto q = db_.prepare("SELECT 1 FROM duplicate_links WHERE reference IS NULL LIMIT 1");
    duplicates_wait = q.step();
  }
  std::set<std::pair<std::string, std::int64_t>> done;
  for (std::size_t i : which) {
    if (finals[i] == Final::open) continue;
    const auto& item = batch.items[i];
    const Meta& meta = info.items[i].meta;
    std::vector<WritebackRules::Delivered> got;
    if (finals[i] == Final::delivered) got.push_back({target, outcome_of[i]->reference});
    bool open = false;
    for (const auto& [t, id] : meta.siblings) {
      const Final f = sibling(t, id);
      if (f == Final::open) {
        open = true;
        break;
      }
      if (f == Final::delivered) {
        got.push_back({t, writeback_rules_.include_reference(t, rule) ? reference_for(item.record.submission_id, t)
                                                                      : std::string()});
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
    if (meta.hint) {
      u.state = meta.hint->state;
      u.message = meta.hint->message;
    }
    chunk.add(u, item.record.version);
    if (duplicates_wait && !u.reference.empty()) fill_duplicates_of(u.submission_id, u.reference, now);
  }
  write_chunk(db_, chunk, now);

  // The segments whose items all settled are deleted by the next ingest
  // transaction (erase_settled): their pages, zeroed as they are freed
  // (secure_delete), are then reused by the new segments in the same
  // transaction, so the erasure writes nothing of its own.
  tx.commit();
  if (closing) {
    claimed_.erase(batch.id);
  } else {
    for (std::size_t i : which) info.settled[i] = true;
    info.settled_count += which.size();
  }
}

std::size_t SqliteStateStore::release_settled_records() {
  {
    // Nothing to do is the common case when idle: find out without a write.
    auto q = db_.prepare(std::string(kSettledSegments) + " LIMIT 1");
    if (!q.step()) return 0;
  }
  Transaction tx(db_);
  const auto settled = settled_segments(db_);
  delete_segments(db_, settled);
  tx.commit();
  return settled.size();
}

// --- dead letters ---------------------------------------------------------

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

std::vector<DeadLetter> SqliteStateStore::dead_letters(const ReplaySelector& which, std::size_t limit) {
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

std::vector<DeadLetter> SqliteStateStore::replay(const ReplaySelector& which, std::int64_t now) {
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

void SqliteStateStore::request_replay(const ReplaySelector& w, const std::string& requested_by, std::int64_t now) {
  Transaction tx(db_);
  db_.prepare("INSERT INTO replay_requests (target, submission_id, outbox_id, requested_by, requested_ms)"
              " VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, w.target).bind(2, w.submission_id).bind(3, w.outbox_id).bind(4, requested_by)
      .bind(5, now).run();
  tx.commit();
}

std::vector<ReplayDone> SqliteStateStore::carry_out_replays(std::int64_t now) {
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

std::vector<DeadLetter> SqliteStateStore::purge_dead_records(std::int64_t cutoff) {
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

// --- target health, backlog, status ----------------------------------------

void SqliteStateStore::save_target_health(const TargetHealth& h, std::int64_t now) {
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

std::vector<TargetHealth> SqliteStateStore::target_health() {
  std::vector<TargetHealth> out;
  auto q = db_.prepare(
      "SELECT target, circuit, consecutive_failures, opened_ms, retry_at_ms, last_error"
      " FROM target_health ORDER BY target");
  while (q.step())
    out.push_back({q.text(0), q.text(1), q.int64(2), q.is_null(3) ? 0 : q.int64(3),
                   q.is_null(4) ? 0 : q.int64(4), q.optional_text(5).value_or("")});
  return out;
}

std::vector<Backlog> SqliteStateStore::backlog(const std::vector<std::string>& targets) {
  std::vector<Backlog> out;
  // Counters and the few exception rows: nothing per queued item is read.
  auto exceptions = db_.prepare(
      "SELECT count(*), min(enqueued_ms) FROM outbox_items WHERE target = ?1"
      " AND state IN ('pending', 'waiting', 'in_flight')");
  auto in_flight = db_.prepare(
      "SELECT coalesce(sum(items), 0) FROM delivery_batches WHERE target = ?1 AND state = 'open'"
      " AND first_item IS NOT NULL");
  auto oldest = db_.prepare("SELECT min(enqueued_ms) FROM outbox_segments WHERE target = ?1 AND last_item >= ?2");
  for (const auto& t : targets) {
    const LogState log = load_log(db_, t);
    Backlog b{t, std::max<std::int64_t>(0, log.queued - log.claimed), 0};
    exceptions.bind(1, t);
    if (exceptions.step()) {
      b.pending += exceptions.int64(0);
      if (!exceptions.is_null(1)) b.oldest_enqueued_ms = exceptions.int64(1);
    }
    exceptions.reset();
    // Log items of open batches (their exception items were counted above).
    in_flight.bind(1, t);
    if (in_flight.step()) b.pending += in_flight.int64(0);
    in_flight.reset();
    oldest.bind(1, t).bind(2, unsettled_from(db_, t, log));
    if (oldest.step() && !oldest.is_null(0) && (b.oldest_enqueued_ms == 0 || oldest.int64(0) < b.oldest_enqueued_ms))
      b.oldest_enqueued_ms = oldest.int64(0);
    oldest.reset();
    if (b.pending == 0) b.oldest_enqueued_ms = 0;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<TargetCounts> SqliteStateStore::target_counts() {
  std::map<std::string, TargetCounts> by_target;
  {
    auto q = db_.prepare("SELECT target, queued - claimed, delivered FROM outbox_logs");
    while (q.step()) {
      auto& c = by_target[q.text(0)];
      c.pending += std::max<std::int64_t>(0, q.int64(1));
      c.delivered += q.int64(2);
    }
  }
  {
    auto q = db_.prepare(
        "SELECT target, sum(state IN ('pending', 'waiting')), sum(state = 'dead'), sum(state = 'in_flight')"
        " FROM outbox_items GROUP BY target");
    while (q.step()) {
      auto& c = by_target[q.text(0)];
      c.pending += q.int64(1);
      c.dead += q.int64(2);
      c.in_flight += q.int64(3);
    }
  }
  {
    auto q = db_.prepare("SELECT target, sum(items) FROM delivery_batches WHERE state = 'open' GROUP BY target");
    while (q.step()) by_target[q.text(0)].in_flight += q.int64(1);
  }
  std::vector<TargetCounts> out;
  for (auto& [target, c] : by_target) {
    c.target = target;
    if (c.pending || c.in_flight || c.delivered || c.dead) out.push_back(c);
  }
  return out;
}

std::vector<QuarantineEntry> SqliteStateStore::quarantined(std::size_t limit) {
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

std::int64_t SqliteStateStore::quarantine_count() { return scalar(db_, "SELECT count(*) FROM quarantine"); }
std::int64_t SqliteStateStore::ledger_count() { return scalar(db_, "SELECT count(*) FROM ledger"); }

// --- duplicates ------------------------------------------------------------

std::string SqliteStateStore::written_reference(const std::string& submission_id) {
  return writeback_rules_.written_reference([&](const std::string& target) { return reference_for(submission_id, target); });
}

void SqliteStateStore::fill_duplicates_of(const std::string& of_id, const std::string& reference, std::int64_t now) {
  std::vector<std::pair<std::string, std::int64_t>> filled;
  {
    auto q = db_.prepare(
        "SELECT submission_id, version, message FROM duplicate_links WHERE of_id = ?1 AND reference IS NULL");
    q.bind(1, of_id);
    auto ins = db_.prepare(
        "INSERT INTO writeback_queue (submission_id, version, state, reference, message, updated_at, created_ms)"
        " VALUES (?1, ?2, 'duplicate', ?3, ?4, ?5, ?6)");
    while (q.step()) {
      ins.bind(1, q.text(0)).bind(2, q.int64(1)).bind(3, reference).bind(4, q.text(2)).bind(5, rfc3339_utc(now))
          .bind(6, now).run();
      ins.reset();
      filled.emplace_back(q.text(0), q.int64(1));
    }
  }
  auto done = db_.prepare("UPDATE duplicate_links SET reference = ?3 WHERE submission_id = ?1 AND version = ?2");
  for (const auto& [id, version] : filled) {
    done.bind(1, id).bind(2, version).bind(3, reference).run();
    done.reset();
  }
}

std::size_t SqliteStateStore::fill_duplicate_references(std::int64_t now) {
  struct Waiting {
    std::string of_id;
    std::int64_t created_ms = 0;
  };
  std::vector<Waiting> waiting;
  {
    auto q = db_.prepare("SELECT DISTINCT of_id, created_ms FROM duplicate_links WHERE reference IS NULL LIMIT 500");
    while (q.step()) waiting.push_back({q.text(0), q.int64(1)});
  }
  if (waiting.empty()) return 0;
  std::size_t n = 0;
  Transaction tx(db_);
  for (const auto& w : waiting) {
    const std::string ref = written_reference(w.of_id);
    if (!ref.empty()) {
      fill_duplicates_of(w.of_id, ref, now);
      ++n;
    } else if (w.created_ms < now - kDuplicateReferenceWaitMs) {
      // No reference came (a target that issues none, a dead letter): its status stays as written.
      db_.prepare("UPDATE duplicate_links SET reference = '' WHERE of_id = ?1 AND reference IS NULL")
          .bind(1, w.of_id).run();
    }
  }
  tx.commit();
  return n;
}

// --- write-back -------------------------------------------------------------

std::int64_t SqliteStateStore::pending_writeback_count() {
  return scalar(db_, "SELECT coalesce(sum(statuses), 0) FROM writeback_chunks") +
         scalar(db_, "SELECT count(*) FROM writeback_queue");
}

WritebackPass SqliteStateStore::pending_writebacks(std::size_t limit, std::int64_t now) {
  limit = std::max<std::size_t>(1, limit);
  // Whole chunks, oldest first, until `limit`; then the single statuses that
  // are due and not newer than the chunks left for later; both merged in the
  // order they were queued, so a newer status of a submission is written
  // after (over) an older one. The items view the chunks' bodies, kept by the
  // pass (one copy of each body; its strings are stored once per chunk).
  WritebackPass pass;
  std::vector<WritebackItem>& chunked = pass.items;
  std::int64_t newest = INT64_MAX;  // queued after this: left for a later pass
  {
    // The chunks' bodies in one block, then the items, each in room reserved
    // once: a pass of tens of thousands grown piecemeal would leave its peak in
    // the allocator's arena, where a block this size is mapped and given back
    // (docs/performance.md, change 13).
    struct Chunk {
      std::int64_t id, created_ms;
      std::size_t from, size;
    };
    std::vector<Chunk> chunks;
    std::size_t statuses = 0, bytes = 0;
    {
      auto q = db_.prepare("SELECT id, created_ms, statuses, length(body) FROM writeback_chunks ORDER BY id");
      while (q.step()) {
        if (statuses >= limit) {
          newest = q.int64(1);
          break;
        }
        chunks.push_back({q.int64(0), q.int64(1), 0, 0});
        statuses += static_cast<std::size_t>(std::max<std::int64_t>(0, q.int64(2)));
        bytes += static_cast<std::size_t>(std::max<std::int64_t>(0, q.int64(3)));
      }
    }
    std::string block;
    block.reserve(bytes);
    {
      auto q = db_.prepare("SELECT body FROM writeback_chunks WHERE id = ?1");
      for (auto& ch : chunks) {
        q.bind(1, ch.id);
        const std::string_view body = q.step() ? q.blob_view(0) : std::string_view();
        ch.from = block.size();
        ch.size = body.size();
        block.append(body);  // (the views into the block are taken once it is whole)
        q.reset();
      }
    }
    const std::string_view all = pass.keep(std::move(block));
    chunked.reserve(statuses);
    for (const auto& ch : chunks) {
      // An unreadable chunk (a damaged database) is passed over, not dropped.
      const std::size_t before = chunked.size();
      read_chunk(all.substr(ch.from, ch.size), ch.id, chunked);
      for (std::size_t i = before; i < chunked.size(); ++i) chunked[i].queued_ms = ch.created_ms;
    }
  }
  std::vector<WritebackItem> single;
  {
    auto q = db_.prepare(
        "SELECT id, submission_id, state, coalesce(reference, ''), message, updated_at, version, attempts, created_ms"
        " FROM writeback_queue WHERE next_attempt_ms <= ?2 AND created_ms <= ?3 ORDER BY created_ms, id LIMIT ?1");
    q.bind(1, static_cast<std::int64_t>(limit)).bind(2, now).bind(3, newest);
    while (q.step()) {
      WritebackItem w;
      w.id = q.int64(0);
      w.update = {pass.keep(q.text(1)), pass.keep(q.text(2)), pass.keep(q.text(3)), pass.keep(q.text(4)),
                  pass.keep(q.text(5))};
      w.version = q.int64(6);
      w.attempts = static_cast<int>(q.int64(7));
      w.queued_ms = q.int64(8);
      single.push_back(w);
    }
  }
  if (single.empty()) return pass;
  std::vector<WritebackItem> out;
  out.reserve(chunked.size() + single.size());
  // (at the same time, a chunk's statuses first: a duplicate's reference is
  // filled in after the ingest batch that queued its first status)
  std::merge(chunked.begin(), chunked.end(), single.begin(), single.end(), std::back_inserter(out),
             [](const WritebackItem& a, const WritebackItem& b) { return a.queued_ms < b.queued_ms; });
  pass.items = std::move(out);
  return pass;
}

WritebackBacklog SqliteStateStore::writeback_backlog(std::int64_t now) {
  WritebackBacklog b;
  auto chunks = db_.prepare("SELECT coalesce(sum(statuses), 0), coalesce(min(created_ms), 0) FROM writeback_chunks");
  if (chunks.step()) {
    b.statuses = chunks.int64(0);
    b.oldest_ms = chunks.int64(1);
  }
  auto single = db_.prepare(
      "SELECT count(*), coalesce(min(created_ms), 0) FROM writeback_queue WHERE next_attempt_ms <= ?1");
  single.bind(1, now);
  if (single.step() && single.int64(0) > 0) {
    b.statuses += single.int64(0);
    b.oldest_ms = b.oldest_ms == 0 ? single.int64(1) : std::min(b.oldest_ms, single.int64(1));
  }
  return b;
}

void SqliteStateStore::finish_writebacks(const std::vector<WritebackItem>& done,
                                         const std::vector<std::pair<WritebackItem, std::int64_t>>& retry) {
  Transaction tx(db_);
  std::set<std::int64_t> chunks;
  auto del_row = db_.prepare("DELETE FROM writeback_queue WHERE id = ?1");
  for (const auto& w : done) {
    if (w.in_chunk) {
      chunks.insert(w.id);
      continue;
    }
    del_row.bind(1, w.id).run();
    del_row.reset();
  }
  // A status of a chunk the app did not take becomes a row of its own.
  auto again = db_.prepare("UPDATE writeback_queue SET attempts = attempts + 1, next_attempt_ms = ?2 WHERE id = ?1");
  auto single = db_.prepare(
      "INSERT INTO writeback_queue (submission_id, version, state, reference, message, updated_at, attempts,"
      " next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  for (const auto& [w, due] : retry) {
    if (!w.in_chunk) {
      again.bind(1, w.id).bind(2, due).run();
      again.reset();
      continue;
    }
    chunks.insert(w.id);
    single.bind(1, w.update.submission_id).bind(2, w.version).bind(3, w.update.state).bind(4, w.update.reference)
        .bind(5, w.update.message).bind(6, w.update.updated_at).bind(7, w.attempts + 1).bind(8, due)
        .bind(9, w.queued_ms).run();
    single.reset();
  }
  if (!chunks.empty()) {
    // A chunk holds statuses (ids, states, the targets' references and the
    // configured messages), nothing a resident wrote: zeroing its pages as they
    // were freed wrote ~20,000 WAL frames (80 MB) per million submissions for
    // nothing (docs/performance.md, change 15).
    UnzeroedDeletes unzeroed(db_);
    auto del_chunk = db_.prepare("DELETE FROM writeback_chunks WHERE id = ?1");
    for (auto id : chunks) {
      del_chunk.bind(1, id).run();
      del_chunk.reset();
    }
  }
  // The app keeps one status per submission (the last write wins): once a
  // status is done, an older one of the same submission still waiting for
  // its retry (including one that failed in this very pass) is superseded,
  // and is dropped rather than written over it later. Usually none waits on
  // its own (the retries above included): then no statement per status, which
  // for a pass of 25,000 held the write lock ~10 ms (docs/performance.md, change 13).
  bool singles = false;
  {
    auto q = db_.prepare("SELECT EXISTS (SELECT 1 FROM writeback_queue)");
    singles = q.step() && q.int64(0) != 0;
  }
  if (singles) {
    auto superseded = db_.prepare(
        "DELETE FROM writeback_queue WHERE submission_id = ?1"
        " AND (created_ms < ?2 OR (created_ms = ?2 AND version < ?3))");
    for (const auto& w : done) {
      superseded.bind(1, w.update.submission_id).bind(2, w.queued_ms).bind(3, w.version).run();
      superseded.reset();
    }
  }
  tx.commit();
}

std::unique_ptr<DedupTables> SqliteStateStore::open_dedup_tables() { return open_sqlite_dedup_tables(db_); }

}  // namespace reportbridge::store
