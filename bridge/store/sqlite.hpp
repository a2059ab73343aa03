#pragma once
// Thin RAII over the SQLite C API: a connection, prepared statements and
// transactions. Errors throw SqliteError with SQLite's message and the SQL.
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace reportbridge::store {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class StatementCache;

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql);
  // Taken from (and given back to, when destroyed) a connection's cache.
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::shared_ptr<StatementCache> cache)
      : db_(db), stmt_(stmt), cache_(std::move(cache)) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);  // copied (SQLITE_TRANSIENT)
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind_null(int index);
  // Without a copy (SQLITE_STATIC): the bytes must stay alive and unchanged
  // until the statement is reset (hot paths that bind many short strings).
  Statement& bind_static(int index, std::string_view value);
  Statement& bind_blob_static(int index, const void* data, std::size_t size);
  Statement& bind_blob(int index, std::string_view bytes);  // copied (SQLITE_TRANSIENT)

  // Steps once: true when a row is available.
  bool step();
  // Steps to completion (for statements that return no rows).
  void run();
  void reset();  // resets and clears bindings

  // Columns are 0-based, as in SQLite.
  std::int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::string_view text_view(int column) const;  // valid until the next step/reset
  std::string_view blob_view(int column) const;  // valid until the next step/reset
  bool is_null(int column) const;
  int type(int column) const;  // SQLITE_INTEGER, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL, ...
  std::optional<std::string> optional_text(int column) const;

 private:
  friend class Database;
  void release() noexcept;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::shared_ptr<StatementCache> cache_;
};

// A connection's prepared statements, kept from their second use on
// (docs/performance.md: preparing the same SQL again for every call was ~5 %
// of the CPU). A statement given back is reset and its bindings cleared; at
// most one idle statement per SQL text, and at most kMaxEntries texts (SQL
// built with varying text is prepared each time once the cache is full). Nothing is kept
// running: an idle statement holds no lock and no read transaction.
class StatementCache {
 public:
  static constexpr std::size_t kMaxEntries = 256;
  // An idle statement prepared from `sql`, or nullptr.
  sqlite3_stmt* take(std::string_view sql);
  // Keeps `stmt` (already reset) under its SQL text; false when the caller
  // must finalize it (one of that text is idle already, full, or closed).
  bool give_back(sqlite3_stmt* stmt) noexcept;
  // Finalizes the idle statements; any given back later are refused.
  void close() noexcept;
  std::size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex mutex_;
  // Text -> its idle statement (nullptr while taken).
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> idle_;
  // Hashes of texts given back once: a text is kept from its second use on,
  // so SQL run once (schema, migrations, checks at start) takes no memory.
  std::unordered_set<std::size_t> seen_;
  bool closed_ = false;
};

class Database {
 public:
  enum class Mode { read_only, read_write, read_write_create };

  Database() = default;
  Database(const std::string& path, Mode mode);
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  // Prepared once per connection and SQL text, then reused (StatementCache).
  Statement prepare(std::string_view sql);
  std::size_t cached_statements() const { return cache_ ? cache_->size() : 0; }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Connections of one process to the same file can share a mutex that every
  // write transaction holds: writers then hand over at once instead of polling
  // SQLite's busy handler. Other processes still meet the busy timeout.
  void share_write_lock(std::shared_ptr<std::mutex> lock) { write_lock_ = std::move(lock); }
  std::mutex* write_lock() const { return write_lock_.get(); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  std::shared_ptr<std::mutex> write_lock_;
  std::shared_ptr<StatementCache> cache_;
};

// What the shared write locks (Database::share_write_lock: the state
// database's) cost this process so far: the write transactions that took one,
// how long they waited for it, and how long they held it. One writer at a time
// is SQLite's rule, so the time held is what every other writer of the file
// queues behind (reportbridge_state_write_lock_*; docs/performance.md, change 12).
struct WriteLockTimes {
  std::uint64_t transactions = 0;
  double wait_seconds = 0;
  double held_seconds = 0;
};
WriteLockTimes write_lock_times() noexcept;

// BEGIN IMMEDIATE on construction (holding the connection's shared write lock,
// if any); rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  void release() noexcept;  // the shared write lock, counting the time it was held

  Database& db_;
  std::unique_lock<std::mutex> lock_;
  std::chrono::steady_clock::time_point acquired_;
  bool done_ = false;
};

}  // namespace reportbridge::store
