#include "bridge/store/sqlite.hpp"

#include <atomic>
#include <chrono>
#include <utility>

namespace reportbridge::store {
namespace {
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view context) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw SqliteError(std::string(context) + ": " + msg, rc);
}

// Before SQLite is first used (a static initializer: single-threaded, before
// main): no memory statistics. With them on (SQLite's default) every
// sqlite3_malloc and sqlite3_free takes one process-wide mutex, and Debian's
// SQLite is built without lookaside (SQLITE_OMIT_LOOKASIDE), so each small
// allocation of every statement on every thread goes through it
// (docs/performance.md, change 14). Nothing here reads SQLite's memory
// counters or sets its heap limits, which are what the statistics serve.
[[maybe_unused]] const int kSqliteConfigured = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }();
}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, "prepare '" + std::string(sql.substr(0, 80)) + "'");
}

void Statement::release() noexcept {
  if (!stmt_) return;
  if (cache_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (cache_->give_back(stmt_)) {
      stmt_ = nullptr;
      return;
    }
  }
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
}

Statement::~Statement() { release(); }

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      cache_(std::move(other.cache_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    release();
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

sqlite3_stmt* StatementCache::take(std::string_view sql) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = idle_.find(sql);
  if (it == idle_.end()) return nullptr;
  return std::exchange(it->second, nullptr);
}

bool StatementCache::give_back(sqlite3_stmt* stmt) noexcept {
  const char* text = sqlite3_sql(stmt);
  if (!text) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return false;
  const std::string_view sql(text);
  auto it = idle_.find(sql);
  if (it != idle_.end()) {
    if (it->second) return false;
    it->second = stmt;
    return true;
  }
  if (idle_.size() >= kMaxEntries) return false;
  try {
    if (seen_.insert(Hash{}(sql)).second) {
      if (seen_.size() > 4 * kMaxEntries) seen_.clear();  // (bounded)
      return false;                                      // first use: not kept
    }
    idle_.emplace(std::string(sql), stmt);
  } catch (...) {
    return false;
  }
  return true;
}

void StatementCache::close() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);  // (nullptr: a no-op)
  idle_.clear();
  seen_.clear();
  closed_ = true;
}

std::size_t StatementCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_.size();
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

Statement& Statement::bind_static(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind_blob_static(int index, const void* data, std::size_t size) {
  int rc = sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_STATIC);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "";
  sqlite3_reset(stmt_);
  fail(db_, rc, "step '" + sql.substr(0, 80) + "'");
}

void Statement::run() {
  while (step()) {
  }
  sqlite3_reset(stmt_);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }

std::string_view Statement::text_view(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!p) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string Statement::text(int column) const { return std::string(text_view(column)); }

std::string_view Statement::blob_view(int column) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (!p) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int Statement::type(int column) const { return sqlite3_column_type(stmt_, column); }

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

Database::Database(const std::string& path, Mode mode) : path_(path) {
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case Mode::read_only: flags |= SQLITE_OPEN_READONLY; break;
    case Mode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case Mode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqliteError("cannot open " + path + ": " + msg, rc);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 10000);
  cache_ = std::make_shared<StatementCache>();
}

Database::~Database() {
  if (cache_) cache_->close();
  sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      write_lock_(std::move(other.write_lock_)),
      cache_(std::move(other.cache_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (cache_) cache_->close();
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    write_lock_ = std::move(other.write_lock_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

Statement Database::prepare(std::string_view sql) {
  if (cache_) {
    if (sqlite3_stmt* stmt = cache_->take(sql)) return Statement(db_, stmt, cache_);
    Statement fresh(db_, sql);
    fresh.cache_ = cache_;
    return fresh;
  }
  return Statement(db_, sql);
}

void Database::exec(std::string_view sql) {
  // One statement without parameters (BEGIN, COMMIT, ROLLBACK, a pragma):
  // through the statement cache, with exec's errors.
  if (cache_ && sql.find(';') == std::string_view::npos) {
    sqlite3_stmt* stmt = cache_->take(sql);
    if (!stmt) {
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                  nullptr);
      if (rc != SQLITE_OK)
        throw SqliteError("exec '" + std::string(sql.substr(0, 80)) + "': " + sqlite3_errmsg(db_), rc);
      if (!stmt) return;  // only white space or comments
    }
    Statement st(db_, stmt, cache_);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_reset(stmt);
      throw SqliteError("exec '" + std::string(sql.substr(0, 80)) + "': " + msg, rc);
    }
    return;
  }
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw SqliteError("exec '" + s.substr(0, 80) + "': " + msg, rc);
  }
}

namespace {
// Process-wide, relaxed: read by the metrics at scrape time.
struct LockCounters {
  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> wait_ns{0};
  std::atomic<std::uint64_t> held_ns{0};
} g_write_lock;

std::uint64_t ns_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}
}  // namespace

WriteLockTimes write_lock_times() noexcept {
  WriteLockTimes t;
  t.transactions = g_write_lock.transactions.load(std::memory_order_relaxed);
  t.wait_seconds = static_cast<double>(g_write_lock.wait_ns.load(std::memory_order_relaxed)) / 1e9;
  t.held_seconds = static_cast<double>(g_write_lock.held_ns.load(std::memory_order_relaxed)) / 1e9;
  return t;
}

Transaction::Transaction(Database& db) : db_(db) {
  if (auto* m = db_.write_lock()) {
    const auto asked = std::chrono::steady_clock::now();
    lock_ = std::unique_lock<std::mutex>(*m);
    acquired_ = std::chrono::steady_clock::now();
    g_write_lock.transactions.fetch_add(1, std::memory_order_relaxed);
    g_write_lock.wait_ns.fetch_add(ns_between(asked, acquired_), std::memory_order_relaxed);
  }
  try {
    db_.exec("BEGIN IMMEDIATE");
  } catch (...) {
    release();
    throw;
  }
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
  release();
}

void Transaction::release() noexcept {
  if (!lock_.owns_lock()) return;
  lock_.unlock();
  g_write_lock.held_ns.fetch_add(ns_between(acquired_, std::chrono::steady_clock::now()), std::memory_order_relaxed);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
  release();
}

}  // namespace reportbridge::store
