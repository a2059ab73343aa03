#include "tools/gen_store/generator.hpp"

#include <sqlite3.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tools/gen_store/content.hpp"
#include "tools/gen_store/json_writer.hpp"
#include "tools/gen_store/rng.hpp"
#include "tools/gen_store/time_util.hpp"

namespace reportbridge::gen {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Independent random streams per row.
constexpr std::uint64_t kIdStream = 0x1D;
constexpr std::uint64_t kContentStream = 0xC0;
constexpr std::uint64_t kFlowStream = 0xF1;
constexpr std::size_t kReservoir = 1024;  // recent valid documents that updates may edit

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS submissions (
  seq          INTEGER PRIMARY KEY,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  received_at  TEXT    NOT NULL,
  payload      TEXT    NOT NULL,
  UNIQUE (id, version)
);
CREATE TABLE IF NOT EXISTS submission_status (
  submission_id TEXT PRIMARY KEY,
  state         TEXT NOT NULL,
  reference     TEXT,
  message       TEXT,
  updated_at    TEXT NOT NULL
);
)sql";

// --- minimal SQLite RAII (the tool stands alone) ------------------------------------
class Db {
 public:
  explicit Db(const std::string& path) {
    const fs::path parent = fs::absolute(path).parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 30000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error(std::string("sqlite: ") + msg);
    }
  }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql) : db_(db.get()) {
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Text is bound without a copy: it must live until step().
  void bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  bool is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::int64_t int64(int c) const { return sqlite3_column_int64(stmt_, c); }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kInsert =
    "INSERT INTO submissions(seq, id, version, received_at, payload) VALUES (?1, ?2, ?3, ?4, ?5)";

// --- time window ---------------------------------------------------------------------
// Maps u in [0, 1) monotonically onto [start, end) with more reports in the
// evening (London time) than at night.
class Window {
 public:
  Window(std::int64_t start, std::int64_t end) : start_(start), end_(end) {
    static constexpr std::array<double, 24> kHourWeight = {2, 1, 1, 1, 1, 1, 2, 4, 6,  7,  7, 7,
                                                           8, 8, 8, 8, 9, 10, 11, 11, 10, 8, 6, 4};
    double total = 0;
    for (std::int64_t t = start; t < end; t += 3600) {
      const double len = static_cast<double>(std::min<std::int64_t>(3600, end - t));
      total += kHourWeight[static_cast<std::size_t>(london_hour(t))] * len;
      cdf_.push_back(total);
    }
  }
  double at(double u) const {
    if (cdf_.empty()) return static_cast<double>(start_);
    const double target = u * cdf_.back();
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), target);
    const auto b = static_cast<std::size_t>(std::min<std::ptrdiff_t>(it - cdf_.begin(), cdf_.size() - 1));
    const double lo = b == 0 ? 0 : cdf_[b - 1];
    const double frac = cdf_[b] > lo ? (target - lo) / (cdf_[b] - lo) : 0;
    const double bucket_start = static_cast<double>(start_) + 3600.0 * static_cast<double>(b);
    const double bucket_len = std::min(3600.0, static_cast<double>(end_) - bucket_start);
    return bucket_start + frac * bucket_len;
  }
  std::int64_t end() const { return end_; }

 private:
  std::int64_t start_, end_;
  std::vector<double> cdf_;
};

struct Recent {
  std::string id;
  std::int64_t version = 0;
  std::int64_t received = 0;
  std::string payload;
};

void check_options(const GenOptions& o) {
  auto rate = [](double r, const char* name) {
    if (!(r >= 0 && r <= 1)) throw std::invalid_argument(std::string(name) + " must be within 0..1");
  };
  if (o.db_path.empty()) throw std::invalid_argument("db path is required");
  if (o.count < 0) throw std::invalid_argument("count must be >= 0");
  if (!(o.days > 0 && o.days <= 3660)) throw std::invalid_argument("days must be within (0, 3660]");
  if (o.batch < 1) throw std::invalid_argument("batch must be >= 1");
  rate(o.malformed_rate, "malformed rate");
  rate(o.exact_dup_rate, "exact dup rate");
  rate(o.update_rate, "update rate");
  rate(o.attachment_rate, "attachment rate");
  rate(o.formula_rate, "formula rate");
  if (o.malformed_rate + o.exact_dup_rate + o.update_rate > 0.95)
    throw std::invalid_argument("malformed + exact dup + update rates must leave room for first reports");
  if (!parse_rfc3339(o.now)) throw std::invalid_argument("now is not an RFC 3339 time: " + o.now);
}

void open_store(Db& db) {
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(kSchema);
}

bool is_valid_kind(std::string_view k) {
  return k == "concern" || k == "complaint" || k == "information" || k == "feedback" || k == "compliment";
}

// Appends one ground-truth line to `out`.
void truth_line(std::string& out, JsonWriter& w, std::int64_t seq, std::string_view id, std::int64_t version,
                std::string_view label, std::string_view reason, std::string_view dup_of,
                std::string_view change) {
  auto optional = [&](std::string_view s) {
    if (s.empty()) out += "null";
    else w.write_string(s, out);
  };
  out += "{\"seq\":";
  out += std::to_string(seq);
  out += ",\"id\":";
  w.write_string(id, out);
  out += ",\"version\":";
  out += std::to_string(version);
  out += ",\"label\":";
  w.write_string(label, out);
  out += label == "malformed" ? ",\"valid\":false" : ",\"valid\":true";
  out += ",\"reason\":";
  optional(reason);
  out += ",\"dup_of\":";
  optional(dup_of);
  out += ",\"change\":";
  optional(change);
  out += "}\n";
}

class TruthFile {
 public:
  TruthFile(const std::string& path, bool append) {
    if (path.empty()) return;
    std::error_code ec;
    fs::create_directories(fs::absolute(path).parent_path(), ec);
    file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
    if (!file_) throw std::runtime_error("cannot write truth file " + path);
  }
  ~TruthFile() {
    if (file_) std::fclose(file_);
  }
  TruthFile(const TruthFile&) = delete;
  TruthFile& operator=(const TruthFile&) = delete;
  bool enabled() const { return file_ != nullptr; }
  void write(const std::string& text) {
    if (!file_ || text.empty()) return;
    if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
      throw std::runtime_error("cannot write truth file");
  }

 private:
  std::FILE* file_ = nullptr;
};

struct RowRec {
  std::int64_t seq = 0, version = 0;
  std::string id, received_at, payload;
};

struct Chunk {
  std::vector<RowRec> rows;
  std::size_t used = 0;
  std::string truth;
  bool commit = false;  // end of a transaction after these rows
};

// Inserts chunks of rows on a background thread while the next ones are
// generated; at most two chunks wait, so memory stays flat.
class StoreWriter {
 public:
  StoreWriter(Db& db, TruthFile& truth, std::size_t chunk_rows)
      : db_(db), truth_(truth), insert_(db, kInsert), chunk_rows_(chunk_rows) {
    for (int i = 0; i < 3; ++i) {
      auto c = std::make_unique<Chunk>();
      c->rows.resize(chunk_rows);
      (i == 0 ? cur_ : free_.emplace_back()) = std::move(c);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~StoreWriter() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // The next free row slot of the chunk being filled.
  RowRec& next_row() { return cur_->rows[cur_->used++]; }
  std::string& truth_buffer() { return cur_->truth; }
  bool chunk_full() const { return cur_->used == chunk_rows_; }

  // Hands the current chunk to the writer thread.
  void submit(bool commit) {
    cur_->commit = commit;
    std::unique_lock lock(m_);
    full_.push_back(std::move(cur_));
    cv_.notify_all();
    cv_.wait(lock, [&] { return !free_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    cur_ = std::move(free_.front());
    free_.pop_front();
    cur_->used = 0;
    cur_->truth.clear();
  }

  // Submits what is left, waits for the thread and reports its error.
  void finish() {
    submit(true);
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return full_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run() {
    bool in_txn = false;
    try {
      for (;;) {
        std::unique_ptr<Chunk> c;
        {
          std::unique_lock lock(m_);
          cv_.wait(lock, [&] { return !full_.empty() || stop_; });
          if (full_.empty()) return;
          c = std::move(full_.front());
        }
        if (c->used > 0 && !in_txn) {
          db_.exec("BEGIN");
          in_txn = true;
        }
        for (std::size_t i = 0; i < c->used; ++i) {
          const RowRec& r = c->rows[i];
          insert_.bind(1, r.seq);
          insert_.bind(2, r.id);
          insert_.bind(3, r.version);
          insert_.bind(4, r.received_at);
          insert_.bind(5, r.payload);
          insert_.step();
          insert_.reset();
        }
        if (c->commit && in_txn) {
          db_.exec("COMMIT");
          in_txn = false;
        }
        truth_.write(c->truth);
        std::lock_guard lock(m_);
        full_.pop_front();
        free_.push_back(std::move(c));
        cv_.notify_all();
      }
    } catch (...) {
      if (in_txn) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      std::lock_guard lock(m_);
      error_ = std::current_exception();
      cv_.notify_all();
    }
  }

  Db& db_;
  TruthFile& truth_;
  Stmt insert_;
  std::size_t chunk_rows_;
  std::unique_ptr<Chunk> cur_;
  std::deque<std::unique_ptr<Chunk>> full_, free_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

// --- public helpers ---------------------------------------------------------------------

std::string make_uuid(std::uint64_t seed, std::int64_t index) {
  Rng rng(mix_key(seed, static_cast<std::uint64_t>(index), kIdStream));
  return uuid_v4(rng);
}

std::string make_payload(std::uint64_t seed, std::int64_t index, std::string_view id, std::int64_t version) {
  Rng rng(mix_key(seed, static_cast<std::uint64_t>(index), kContentStream));
  Content content(ContentOptions{});
  const std::int64_t received = *parse_rfc3339(kDefaultNow) - 60 * (index % 43200);
  json::object doc = content.document(rng, id, received, false, {});
  doc["version"] = version;
  std::string out;
  JsonWriter writer;
  writer.write(doc, out);
  return out;
}

std::string make_payload(std::uint64_t seed, std::int64_t index) {
  return make_payload(seed, index, make_uuid(seed, index), 1);
}

std::optional<std::string> check_payload(std::string_view payload, std::string_view id, std::int64_t version) {
  std::error_code ec;
  json::value v = json::parse(json::string_view(payload.data(), payload.size()), ec);
  if (ec) return "invalid_json";
  if (!v.is_object()) return "wrong_type:payload";
  const auto& o = v.get_object();
  for (const char* f : {"id", "version", "submitted_at", "kind", "description"}) {
    const auto* p = o.if_contains(f);
    if (!p || p->is_null()) return std::string("missing_field:") + f;
  }
  for (const char* f : {"id", "submitted_at", "description", "kind"})
    if (!o.at(f).is_string()) return std::string("wrong_type:") + f;
  for (const char* f : {"category", "summary"})
    if (const auto* p = o.if_contains(f); p && !p->is_null() && !p->is_string())
      return std::string("wrong_type:") + f;
  if (!o.at("version").is_int64() && !o.at("version").is_uint64()) return "wrong_type:version";
  if (!is_valid_kind(o.at("kind").get_string())) return "unknown_kind";
  for (const char* f : {"location", "reporter", "occurred", "device", "consent"})
    if (const auto* p = o.if_contains(f); p && !p->is_null() && !p->is_object())
      return std::string("wrong_type:") + f;
  if (const auto* loc = o.if_contains("location"); loc && loc->is_object()) {
    for (const auto& [f, lim] : {std::pair{"lat", 90.0}, std::pair{"lon", 180.0}}) {
      const auto* p = loc->get_object().if_contains(f);
      if (!p || !p->is_number()) return std::string("wrong_type:location.") + f;
      const double d = p->to_number<double>();
      if (!(d >= -lim && d <= lim)) return std::string("out_of_range:") + f;
    }
  }
  if (const auto* a = o.if_contains("attachments"); a && !a->is_null()) {
    if (!a->is_array()) return "wrong_type:attachments";
    for (const auto& e : a->get_array())
      if (!e.is_object()) return "wrong_type:attachments";
  }
  if (o.at("id").get_string() != json::string_view(id.data(), id.size())) return "id_mismatch";
  if (o.at("version").to_number<std::int64_t>() != version) return "version_mismatch";
  return std::nullopt;
}

void create_store(const std::string& db_path) {
  Db db(db_path);
  open_store(db);
}

void insert_row(const std::string& db_path, const StoreRow& row) {
  Db db(db_path);
  open_store(db);
  Stmt ins(db, kInsert);
  ins.bind(1, row.seq);
  ins.bind(2, row.id);
  ins.bind(3, row.version);
  ins.bind(4, row.received_at);
  ins.bind(5, row.payload);
  ins.step();
}

std::string summary_line(const GenOptions& o, const GenStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld rows seq %lld..%lld into %s (first %lld, exact_dup %lld, update %lld, malformed %lld; "
                "%lld attachment files, %lld bytes) seed %llu",
                static_cast<long long>(s.rows), static_cast<long long>(s.first_seq),
                static_cast<long long>(s.last_seq), o.db_path.c_str(), static_cast<long long>(s.first),
                static_cast<long long>(s.exact_dup), static_cast<long long>(s.update),
                static_cast<long long>(s.malformed), static_cast<long long>(s.attachments),
                static_cast<long long>(s.attachment_bytes), static_cast<unsigned long long>(o.seed));
  return buf;
}

// --- the generator ------------------------------------------------------------------------

GenStats generate_store(const GenOptions& o) {
  check_options(o);
  const bool fresh = !fs::exists(o.db_path);
  Db db(o.db_path);
  if (fresh) {
    // Bulk load into a new file: big pages and an in-memory rollback journal
    // write each page once; the store is switched to WAL at the end.
    db.exec("PRAGMA page_size=16384");
    db.exec("PRAGMA journal_mode=MEMORY");
  } else {
    db.exec("PRAGMA journal_mode=WAL");  // others may be reading it
  }
  db.exec("PRAGMA synchronous=OFF");
  db.exec("PRAGMA cache_size=-65536");
  db.exec(kSchema);

  std::int64_t last_seq = 0;
  std::optional<std::int64_t> last_received;
  {
    Stmt q(db, "SELECT MAX(seq), MAX(received_at), COUNT(*) FROM submissions");
    q.step();
    if (q.int64(2) > 0 && !o.append)
      throw std::invalid_argument(o.db_path + " already holds " + std::to_string(q.int64(2)) +
                                  " rows; use append");
    if (!q.is_null(0)) last_seq = q.int64(0);
    if (!q.is_null(1)) last_received = parse_rfc3339(q.text(1));
  }

  const std::int64_t now = *parse_rfc3339(o.now);
  std::int64_t start = now - static_cast<std::int64_t>(o.days * 86400);
  if (last_received) start = std::max(start, *last_received + 1);  // appended rows come after the old ones
  // Rows end at `now`, unless an append starts at or after it: then they follow the old ones.
  const std::int64_t end = now - start >= 60 ? now : start + std::max<std::int64_t>(60, o.count);
  const Window window(start, end);

  const fs::path media_root =
      o.media_root.empty() ? fs::absolute(o.db_path).parent_path() / "media" : fs::path(o.media_root);
  Content content(ContentOptions{media_root, o.attachment_rate, o.formula_rate});
  JsonWriter writer;
  TruthFile truth(o.truth_path, o.append);

  // Recent valid documents (a ring, newest at head - 1) that updates edit.
  std::vector<Recent> recent;
  recent.reserve(kReservoir);
  std::size_t head = 0;
  auto remember = [&](std::string_view id, std::int64_t version, std::int64_t received, const std::string& payload) {
    if (recent.size() < kReservoir) {
      recent.push_back({std::string(id), version, received, payload});
      head = recent.size() % kReservoir;
    } else {
      auto& r = recent[head];
      r.id.assign(id);
      r.version = version;
      r.received = received;
      r.payload.assign(payload);
      head = (head + 1) % kReservoir;
    }
  };
  if (o.append && last_seq > 0) {
    Stmt q(db, "SELECT id, version, received_at, payload FROM submissions ORDER BY seq DESC LIMIT 1024");
    std::vector<Recent> loaded;
    std::unordered_set<std::string> seen;
    while (q.step()) {
      Recent r{q.text(0), q.int64(1), 0, q.text(3)};
      const auto received = parse_rfc3339(q.text(2));
      if (!received || !seen.insert(r.id).second || check_payload(r.payload, r.id, r.version)) continue;
      r.received = *received;
      loaded.push_back(std::move(r));
    }
    // A row committed out of seq order may hold a higher version: edits continue from it.
    Stmt max_version(db, "SELECT MAX(version) FROM submissions WHERE id = ?1");
    for (auto it = loaded.rbegin(); it != loaded.rend(); ++it) {
      max_version.bind(1, it->id);
      if (max_version.step() && !max_version.is_null(0)) it->version = std::max(it->version, max_version.int64(0));
      max_version.reset();
      remember(it->id, it->version, it->received, it->payload);
    }
  }

  GenStats stats;
  const auto chunk_rows = static_cast<std::size_t>(std::min<std::int64_t>(o.batch, 1000));
  StoreWriter store(db, truth, chunk_rows);
  std::int64_t in_batch = 0;
  std::string payload;
  payload.reserve(16384);

  auto emit = [&](std::int64_t seq, std::string_view id, std::int64_t version, std::int64_t received,
                  std::string_view label, std::string_view reason, std::string_view dup_of,
                  std::string_view change) {
    RowRec& row = store.next_row();
    row.seq = seq;
    row.version = version;
    row.id.assign(id);
    row.received_at.clear();
    append_utc(row.received_at, received);
    row.payload.assign(payload);
    if (truth.enabled()) truth_line(store.truth_buffer(), writer, seq, id, version, label, reason, dup_of, change);
    ++stats.rows;
    if (stats.first_seq == 0) stats.first_seq = seq;
    stats.last_seq = seq;
    const bool end_of_batch = ++in_batch >= o.batch;
    if (end_of_batch) in_batch = 0;
    if (end_of_batch || store.chunk_full()) store.submit(end_of_batch);
  };

  // Slots not taken by a pending duplicate split between malformed, update and first.
  const double slot_share = 1 - o.exact_dup_rate;
  const double p_malformed = slot_share > 0 ? o.malformed_rate / slot_share : 0;
  const double p_update = slot_share > 0 ? o.update_rate / slot_share : 0;
  const double first_share = 1 - o.exact_dup_rate - o.malformed_rate - o.update_rate;
  const double dups_per_first = first_share > 0 ? o.exact_dup_rate / first_share : 0;

  struct PendingDup {
    std::string id;
    std::string payload;
    std::int64_t received = 0;
    std::int64_t remaining = 0;
  } dup;

  std::array<unsigned char, 64 * 1024> arena{};
  json::monotonic_resource mr(arena.data(), arena.size());
  const json::storage_ptr sp(&mr);
  Rng flow(mix_key(o.seed, static_cast<std::uint64_t>(last_seq), kFlowStream));
  std::string reason, change;

  for (std::int64_t i = 0; i < o.count; ++i) {
    const std::int64_t seq = last_seq + 1 + i;
    Rng rng(mix_key(o.seed, static_cast<std::uint64_t>(seq), kContentStream));
    const std::string id = make_uuid(o.seed, seq);
    const auto t = static_cast<std::int64_t>(
        std::floor(window.at((static_cast<double>(i) + flow.uniform()) / static_cast<double>(o.count))));
    payload.clear();
    {
      const double r = dup.remaining > 0 ? -1 : flow.uniform();
      if (r < 0) {
        // Double tap / retry: same content, new id, seconds or minutes later.
        const std::int64_t delay = rng.chance(0.8) ? rng.range(1, 20) : rng.range(21, 300);
        const std::int64_t received = std::max(dup.received, std::min(dup.received + delay, window.end()));
        json::value v = json::parse(dup.payload, sp);
        content.exact_dup(rng, v.get_object(), id, received);
        writer.write(v, payload);
        emit(seq, id, 1, received, "exact_dup", {}, dup.id, {});
        --dup.remaining;
        ++stats.exact_dup;
        remember(id, 1, received, payload);
      } else if (r < p_malformed) {
        payload = content.malformed(rng, id, t, writer, reason, sp);
        emit(seq, id, 1, t, "malformed", reason, {}, {});
        ++stats.malformed;
      } else if (r < p_malformed + p_update && !recent.empty()) {
        // Edit of a recent report (newer ones more likely).
        const double u = rng.uniform();
        const auto back = static_cast<std::size_t>(u * u * static_cast<double>(recent.size()));
        Recent& target = recent[(head + recent.size() - 1 - back) % recent.size()];
        const std::int64_t version = target.version + 1;
        const std::int64_t received = std::max(t, target.received);
        json::value v = json::parse(target.payload, sp);
        change = content.update(rng, v.get_object(), version, received);
        writer.write(v, payload);
        emit(seq, target.id, version, received, "update", {}, {}, change);
        ++stats.update;
        target.version = version;
        target.received = received;
        target.payload.assign(payload);
      } else {
        json::value v = content.document(rng, id, t, true, sp);
        writer.write(v, payload);
        emit(seq, id, 1, t, "first", {}, {}, {});
        ++stats.first;
        remember(id, 1, t, payload);
        const double whole = std::floor(dups_per_first);
        dup.remaining = static_cast<std::int64_t>(whole) + (flow.chance(dups_per_first - whole) ? 1 : 0);
        if (dup.remaining > 0) {
          dup.id = id;
          dup.payload.assign(payload);
          dup.received = t;
        }
      }
    }
    mr.release();
  }
  store.finish();
  if (fresh) db.exec("PRAGMA journal_mode=WAL");
  stats.attachments = content.files_written();
  stats.attachment_bytes = content.bytes_written();
  return stats;
}

}  // namespace reportbridge::gen
