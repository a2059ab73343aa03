#pragma once
// A thin RAII layer over libpq (PostgreSQL's C client library): one
// connection, parameterised statements, results read as text. Parameters go
// as text, byte strings (bytea) as binary; nothing is ever spliced into SQL.
//
// Why libpq and not libpqxx: Debian 12 ships libpqxx 6.4, whose API changed
// incompatibly in 7.x (binarystring, exec_params, stream classes deprecated or
// removed), so code written against it would be ported again on the next
// Debian; libpq's C API has been stable for decades, and the bridge needs only
// the few calls wrapped here (README "Dependencies").
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/store/state_unavailable.hpp"

struct pg_conn;
struct pg_result;

namespace reportbridge::pg {

// A failed statement or connection. `sqlstate` is PostgreSQL's five-character
// error code ("40001" serialization failure, "23505" unique violation, "08xxx"
// connection errors); empty when the connection itself broke.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& what, std::string sqlstate) : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool connection_lost() const { return sqlstate_.empty() || sqlstate_.rfind("08", 0) == 0 || sqlstate_ == "57P01"; }

 private:
  std::string sqlstate_;
};

// The server went away during a statement (it restarted, failed over, the
// network broke): the transaction is lost and nothing of it was recorded.
// Connection::reset (PgStateStore does it before its next operation) connects again.
class ConnectionLost : public store::StateUnavailable {
 public:
  using store::StateUnavailable::StateUnavailable;
};

// Statement parameters, in order ($1, $2, ...).
class Params {
 public:
  Params& add(std::int64_t v);
  Params& add(int v) { return add(static_cast<std::int64_t>(v)); }
  Params& add(std::size_t v) { return add(static_cast<std::int64_t>(v)); }
  Params& add(bool v);
  Params& add(double v);
  Params& add(std::string_view text);
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add_bytes(std::string_view bytes);  // bytea, sent as binary
  Params& add_null();
  // NULL when empty.
  Params& add_or_null(std::string_view text) { return text.empty() ? add_null() : add(text); }

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const;
  std::vector<int> lengths() const;
  std::vector<int> formats() const;

 private:
  struct Value {
    std::string data;
    bool null = false;
    bool binary = false;
  };
  std::vector<Value> values_;
};

// One column of a multi-row statement, sent as one array parameter (a
// PostgreSQL array literal) and unnested by the server:
// `INSERT INTO t (a, b) SELECT * FROM unnest($1::bigint[], $2::text[])`.
// Many rows in one round trip.
class ArrayColumn {
 public:
  ArrayColumn& add(std::int64_t v);
  ArrayColumn& add(double v);
  ArrayColumn& add(std::string_view text);
  ArrayColumn& add_bytes(std::string_view bytes);  // for a bytea[] column
  ArrayColumn& add_null();
  ArrayColumn& add_or_null(std::string_view text) { return text.empty() ? add_null() : add(text); }
  std::string literal() const { return "{" + body_ + "}"; }
  bool empty() const { return body_.empty(); }

 private:
  void next() {
    if (!body_.empty()) body_.push_back(',');
  }
  std::string body_;
};

// A result: rows of text values (bytea decoded by bytes()).
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* r);
  Result(Result&& o) noexcept;
  Result& operator=(Result&& o) noexcept;
  ~Result();
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  bool empty() const { return rows() == 0; }
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;
  std::string_view view(int row, int col) const;
  std::int64_t int64(int row, int col) const;  // 0 when NULL
  double real(int row, int col) const;         // 0 when NULL
  bool boolean(int row, int col) const;
  std::optional<std::string> bytes(int row, int col) const;  // nullopt when NULL or malformed
  // Rows changed by INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

 private:
  pg_result* r_ = nullptr;
};

class Connection {
 public:
  // `conninfo` in libpq's keyword=value form; `password`, when not empty, is
  // passed apart from it (never part of a string that could be logged).
  // Throws PgError when the server cannot be reached or refuses.
  explicit Connection(const std::string& conninfo, const std::string& password = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result exec(const std::string& sql, const Params& params = {});
  // Several statements without parameters (schema scripts).
  void exec_script(const std::string& sql);
  bool ok() const;
  // Reconnects with the same settings (after the server restarted).
  void reset();
  // The server's major version, e.g. 15.
  int server_version_major() const;
  // Whether the connection is encrypted (TLS).
  bool ssl_in_use() const;

 private:
  pg_conn* c_ = nullptr;
};

// A transaction on a connection: BEGIN now, ROLLBACK in the destructor unless
// commit() ran.
class Transaction {
 public:
  explicit Transaction(Connection& c, const char* begin = "BEGIN");
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

// Quotes `s` as a libpq conninfo value ('...', with \ and ' escaped).
std::string conninfo_quote(std::string_view s);

}  // namespace reportbridge::pg
