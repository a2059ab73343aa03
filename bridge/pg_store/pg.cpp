#include "bridge/pg_store/pg.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "bridge/core/shared_library.hpp"

namespace reportbridge::pg {

namespace {

// libpq's functions, loaded when the first connection is made (a PostgreSQL
// state), not at the start of every process: libpq and what it links
// (Kerberos, LDAP, SASL) cost ~0.9 MiB of resident pages
// (core/shared_library.hpp).
#define REPORTBRIDGE_PQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQcmdTuples) \
  X(PQconnectdbParams) \
  X(PQconnectionNeedsPassword) \
  X(PQconninfoFree) \
  X(PQconninfoParse) \
  X(PQerrorMessage) \
  X(PQexec) \
  X(PQexecParams) \
  X(PQfinish) \
  X(PQfreemem) \
  X(PQgetisnull) \
  X(PQgetlength) \
  X(PQgetvalue) \
  X(PQntuples) \
  X(PQreset) \
  X(PQresultErrorField) \
  X(PQresultStatus) \
  X(PQserverVersion) \
  X(PQsetNoticeProcessor) \
  X(PQsslInUse) \
  X(PQstatus)

REPORTBRIDGE_SHARED_LIBRARY_API(PqApi, pq, REPORTBRIDGE_PQ_FUNCTIONS, REPORTBRIDGE_LIBPQ_SONAME,
                                "libpq, needed by the PostgreSQL state")

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// --- Params ---------------------------------------------------------------

Params& Params::add(std::int64_t v) {
  values_.push_back({std::to_string(v), false, false});
  return *this;
}
Params& Params::add(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back the same
  values_.push_back({std::string(buf, r.ptr), false, false});
  return *this;
}
Params& Params::add(bool v) {
  values_.push_back({v ? "t" : "f", false, false});
  return *this;
}
Params& Params::add(std::string_view text) {
  values_.push_back({std::string(text), false, false});
  return *this;
}
Params& Params::add_bytes(std::string_view bytes) {
  values_.push_back({std::string(bytes), false, true});
  return *this;
}
Params& Params::add_null() {
  values_.push_back({{}, true, false});
  return *this;
}
std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  for (const auto& v : values_) out.push_back(v.null ? nullptr : v.data.c_str());
  return out;
}
std::vector<int> Params::lengths() const {
  std::vector<int> out;
  for (const auto& v : values_) out.push_back(static_cast<int>(v.data.size()));
  return out;
}
std::vector<int> Params::formats() const {
  std::vector<int> out;
  for (const auto& v : values_) out.push_back(v.binary ? 1 : 0);
  return out;
}

// --- ArrayColumn -----------------------------------------------------------

ArrayColumn& ArrayColumn::add(std::int64_t v) {
  next();
  body_ += std::to_string(v);
  return *this;
}
ArrayColumn& ArrayColumn::add(double v) {
  next();
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  body_.append(buf, r.ptr);
  return *this;
}
ArrayColumn& ArrayColumn::add(std::string_view text) {
  next();
  body_.push_back('"');
  for (char ch : text) {
    if (ch == '"' || ch == '\\') body_.push_back('\\');
    body_.push_back(ch);
  }
  body_.push_back('"');
  return *this;
}
ArrayColumn& ArrayColumn::add_bytes(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string text = "\\x";
  text.reserve(2 + bytes.size() * 2);
  for (unsigned char b : bytes) {
    text.push_back(hex[b >> 4]);
    text.push_back(hex[b & 15]);
  }
  return add(text);
}
ArrayColumn& ArrayColumn::add_null() {
  next();
  body_ += "NULL";
  return *this;
}

// --- Result ---------------------------------------------------------------

Result::Result(pg_result* r) : r_(r) {}
Result::Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    if (r_) pq().PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}
Result::~Result() {
  if (r_) pq().PQclear(r_);
}
int Result::rows() const { return r_ ? pq().PQntuples(r_) : 0; }
bool Result::is_null(int row, int col) const { return pq().PQgetisnull(r_, row, col) != 0; }
std::string_view Result::view(int row, int col) const {
  return {pq().PQgetvalue(r_, row, col), static_cast<std::size_t>(pq().PQgetlength(r_, row, col))};
}
std::string Result::text(int row, int col) const { return std::string(view(row, col)); }
std::int64_t Result::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtoll(pq().PQgetvalue(r_, row, col), nullptr, 10);
}
double Result::real(int row, int col) const {
  if (is_null(row, col)) return 0;
  const auto v = view(row, col);
  double out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}
bool Result::boolean(int row, int col) const {
  const auto v = view(row, col);
  return !v.empty() && v[0] == 't';
}
std::optional<std::string> Result::bytes(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  const std::string_view v = view(row, col);
  // bytea_output = hex (the default since PostgreSQL 9.0): "\x" then hex digits.
  if (v.size() < 2 || v[0] != '\\' || v[1] != 'x' || v.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve((v.size() - 2) / 2);
  for (std::size_t i = 2; i < v.size(); i += 2) {
    const int hi = hex_value(v[i]), lo = hex_value(v[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}
std::int64_t Result::affected() const {
  const char* n = r_ ? pq().PQcmdTuples(r_) : nullptr;
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

// --- Connection -------------------------------------------------------------

Connection::Connection(const std::string& conninfo, const std::string& password) {
  char* err = nullptr;
  PQconninfoOption* opts = pq().PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string msg = trimmed(err);
    if (err) pq().PQfreemem(err);
    // libpq's message names the bad keyword, never a value.
    throw PgError("PostgreSQL connection settings cannot be read: " + msg, "08000");
  }
  std::vector<const char*> keys, values;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val || std::strcmp(o->keyword, "password") == 0) continue;
    keys.push_back(o->keyword);
    values.push_back(o->val);
  }
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(password.c_str());
  }
  // The bridge's own name in pg_stat_activity, unless the operator chose one.
  bool named = false;
  for (auto* k : keys) named = named || std::strcmp(k, "application_name") == 0;
  if (!named) {
    keys.push_back("application_name");
    values.push_back("reportbridge");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  c_ = pq().PQconnectdbParams(keys.data(), values.data(), 0);
  pq().PQconninfoFree(opts);
  if (!c_ || pq().PQstatus(c_) != CONNECTION_OK) {
    std::string msg = c_ ? trimmed(pq().PQerrorMessage(c_)) : "out of memory";
    const bool needs_password = c_ && pq().PQconnectionNeedsPassword(c_);
    if (c_) pq().PQfinish(c_);
    c_ = nullptr;
    // Waiting does not mend a refused login, a database or role that does not
    // exist (SQLSTATE 28000/28P01, 3D000) or TLS that cannot be had: these fail
    // at once. No host accepting writes (target_session_attrs) is a failover
    // under way: unavailable. Anything else
    // (refused, no route, the server starting or shutting down, a timeout) is
    // the server being unavailable, which the caller may wait out
    // (docs/operations.md, "State on PostgreSQL").
    if (needs_password || msg.find("authentication failed") != std::string::npos)
      throw PgError("cannot connect to PostgreSQL: " + msg, "28000");
    if (msg.find("does not exist") != std::string::npos)
      throw PgError("cannot connect to PostgreSQL: " + msg, "3D000");
    // TLS that cannot be had as configured (the server offers none, a
    // certificate that does not verify): a setting to mend, not an outage to
    // wait out, and never a silent fallback to plain text.
    if (msg.find("SSL") != std::string::npos || msg.find("certificate") != std::string::npos)
      throw PgError("cannot connect to PostgreSQL: " + msg, "08001");
    throw ConnectionLost("the PostgreSQL state database is unavailable: cannot connect: " + msg);
  }
  // Server notices (e.g. "terminating connection due to administrator command")
  // are not printed on stderr: what matters comes back as an error.
  pq().PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
  // Rows are read as text; bytea as hex (Result::bytes), whatever the server's default.
  exec_script("SET bytea_output = 'hex'; SET client_min_messages = warning");
}

Connection::~Connection() {
  if (c_) pq().PQfinish(c_);
}

namespace {
Result checked(pg_conn* c, pg_result* r, const std::string& sql) {
  Result result(r);
  const auto status = r ? pq().PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  std::string state;
  if (r)
    if (const char* s = pq().PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
  // The primary message only (DETAIL may quote a row's values). Data and
  // integrity errors (classes 22 and 23) quote the offending value in the
  // primary message too: those are reported by code only, so no submitted
  // value reaches a log.
  std::string msg;
  if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0)
    msg = "data or constraint error SQLSTATE " + state;
  else if (const char* primary = r ? pq().PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr)
    msg = trimmed(primary) + (state.empty() ? "" : " (SQLSTATE " + state + ")");
  else
    msg = trimmed(pq().PQerrorMessage(c));
  // The statement's first words say which one failed; its parameters (values) are never shown.
  const std::string head = sql.substr(0, std::min<std::size_t>(sql.size(), 60));
  // Connection errors (class 08), the server shutting down or restarting (57P01-57P03), or no answer at all.
  // An error without SQLSTATE comes from the client side: the connection broke.
  if (pq().PQstatus(c) != CONNECTION_OK || state.empty() || state.rfind("08", 0) == 0 || state == "57P01" ||
      state == "57P02" || state == "57P03")
    throw ConnectionLost("the PostgreSQL state database is unavailable: " + msg + " (in: " + head + "...)");
  throw PgError("PostgreSQL: " + msg + " (in: " + head + "...)", state);
}
}  // namespace

Result Connection::exec(const std::string& sql, const Params& params) {
  const auto ptrs = params.pointers();
  const auto lens = params.lengths();
  const auto fmts = params.formats();
  pg_result* r = pq().PQexecParams(c_, sql.c_str(), params.size(), nullptr, params.size() ? ptrs.data() : nullptr,
                              params.size() ? lens.data() : nullptr, params.size() ? fmts.data() : nullptr, 0);
  return checked(c_, r, sql);
}

void Connection::exec_script(const std::string& sql) { checked(c_, pq().PQexec(c_, sql.c_str()), sql); }

bool Connection::ok() const { return c_ && pq().PQstatus(c_) == CONNECTION_OK; }

void Connection::reset() {
  pq().PQreset(c_);
  if (pq().PQstatus(c_) != CONNECTION_OK)
    throw ConnectionLost("the PostgreSQL state database is unavailable: cannot reconnect: " +
                         trimmed(pq().PQerrorMessage(c_)));
  exec_script("SET bytea_output = 'hex'; SET client_min_messages = warning");
}

int Connection::server_version_major() const { return pq().PQserverVersion(c_) / 10000; }

bool Connection::ssl_in_use() const { return pq().PQsslInUse(c_) != 0; }

// --- Transaction ------------------------------------------------------------

Transaction::Transaction(Connection& c, const char* begin) : c_(c) { c_.exec_script(begin); }
Transaction::~Transaction() {
  if (done_) return;
  try {
    if (c_.ok()) c_.exec_script("ROLLBACK");
  } catch (...) {
  }
}
void Transaction::commit() {
  c_.exec_script("COMMIT");
  done_ = true;
}

std::string conninfo_quote(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\\' || ch == '\'') out.push_back('\\');
    out.push_back(ch);
  }
  out.push_back('\'');
  return out;
}

}  // namespace reportbridge::pg
