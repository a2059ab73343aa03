#include "tests/support/app_store.hpp"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <cstdio>
#include <stdexcept>

namespace reportbridge::testing {

namespace {
void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}
}  // namespace

void create_app_store(const std::string& path) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE submissions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,"
                     " version INTEGER NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL,"
                     " UNIQUE (id, version));"
                     "CREATE TABLE submission_status (submission_id TEXT PRIMARY KEY,"
                     " state TEXT NOT NULL, reference TEXT, message TEXT, updated_at TEXT NOT NULL);",
                     nullptr, nullptr, nullptr),
        db, "schema");
  sqlite3_close(db);
}

void insert_submission(const std::string& path, std::int64_t seq, const std::string& id,
                       std::int64_t version, const std::string& payload) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO submissions (seq, id, version, received_at, payload)"
                           " VALUES (?, ?, ?, '2026-11-27T18:42:11Z', ?)",
                           -1, &st, nullptr),
        db, "prepare");
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, version);
  sqlite3_bind_text(st, 4, payload.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  check(rc, db, "insert");
  sqlite3_close(db);
}

std::string valid_payload(const std::string& id, std::int64_t version, const std::string& kind,
                          const std::string& summary) {
  boost::json::object o{
      {"id", id},
      {"version", version},
      {"submitted_at", "2026-11-27T18:42:10+00:00"},
      {"kind", kind},
      {"category", "anti_social_behaviour"},
      {"summary", summary},
      {"description", "A group of about 8 teenagers are throwing stones at the buses on Linthorpe Road."},
      {"occurred", {{"start", "2026-11-27T18:15:00+00:00"}, {"end", nullptr}, {"ongoing", true}}},
      {"location",
       {{"lat", 54.5742}, {"lon", -1.235}, {"accuracy_m", 15}, {"address", "Linthorpe Road, Middlesbrough"},
        {"postcode", "TS1 3QY"}}},
      {"reporter",
       {{"anonymous", false}, {"name", "Aisha Khan"}, {"email", "a.khan@example.org"},
        {"phone", "+447700900123"}, {"contact_ok", true}, {"preferred_language", "en"}}},
      {"attachments", boost::json::array{}},
      {"device", {{"platform", "ios"}, {"app_version", "1.4.2"}}},
      {"consent", {{"share_with_partners", false}}}};
  return boost::json::serialize(o);
}

std::map<std::string, std::string> read_statuses(const std::string& path) {
  std::map<std::string, std::string> out;
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "open");
  sqlite3_busy_timeout(db, 5000);  // the bridge or a test server may be writing a status right now
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(db, "SELECT submission_id, state FROM submission_status", -1, &st, nullptr),
        db, "prepare");
  while (sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string test_id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

}  // namespace reportbridge::testing
