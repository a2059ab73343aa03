// HttpStoreSource against tests/servers/app_store_server.py on 127.0.0.1.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/core/cursor.hpp"
#include "bridge/core/sha256.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
using http_store::HttpStoreConfig;
using http_store::HttpStoreSource;
using http_store::SourceUnavailable;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

// A store and a server over it, plus the files a test steers the server with.
struct Fixture {
  TempDir dir{"rbhttp"};
  std::string db = (dir / "store.db").string();
  std::string faults = (dir / "faults.json").string();
  std::string log = (dir / "requests.log").string();

  Fixture() {
    create_app_store(db);
    set_faults("{}");
  }
  void set_faults(const std::string& json) { write_file(faults, json); }
  ServerOptions options() const {
    ServerOptions o;
    o.db = db;
    o.media_root = (dir / "media").string();
    o.faults = faults;
    o.request_log = log;
    return o;
  }
  HttpStoreConfig config(const std::string& url) const {
    HttpStoreConfig c;
    c.base_url = url;
    c.connect_timeout = milliseconds(3000);
    c.read_timeout = milliseconds(5000);
    c.total_timeout = milliseconds(10000);
    c.backoff.base = milliseconds(200);
    c.spool_dir = dir / "spool";
    return c;
  }
  // Request-log lines starting with `prefix` (e.g. "GET /v1/submissions").
  std::vector<std::string> requests(const std::string& prefix) const {
    std::vector<std::string> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(prefix, 0) == 0) out.push_back(line);
    return out;
  }
};

void insert_many(const std::string& path, int first, int last) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO submissions VALUES (?, ?, 1, '2026-11-27T18:42:11Z', ?)", -1, &st, nullptr);
  for (int seq = first; seq <= last; ++seq) {
    const std::string id = test_id(seq), payload = valid_payload(id);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

std::vector<std::int64_t> seqs(const std::vector<core::SourceRow>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.seq);
  return out;
}

// Polls like the ingestor: rows, then advance_cursor.
std::vector<std::int64_t> poll_once(HttpStoreSource& src, core::SourceCursor& c, std::size_t limit = 100) {
  auto rows = src.poll(c, limit);
  auto s = seqs(rows);
  core::advance_cursor(c, s, 1000, std::chrono::minutes(10));
  return s;
}

std::map<std::string, std::pair<std::string, std::string>> statuses(const std::string& path) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT submission_id, state, coalesce(reference, '<null>') FROM submission_status",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = {
        reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
        reinterpret_cast<const char*>(sqlite3_column_text(st, 2))};
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("paging through 2,000 rows returns each once, in seq order, payload intact") {
  Fixture f;
  insert_many(f.db, 1, 2000);
  f.set_faults(R"({"max_limit": 300})");  // the server's cap is below what we ask for
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  core::SourceCursor c;
  std::vector<std::int64_t> all;
  int polls = 0;
  while (true) {
    auto s = poll_once(src, c, 500);
    if (s.empty()) break;
    CHECK(s.size() <= 300);
    all.insert(all.end(), s.begin(), s.end());
    REQUIRE(++polls < 20);
  }
  REQUIRE(all.size() == 2000);
  CHECK(std::is_sorted(all.begin(), all.end()));
  CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == 2000);
  CHECK(c.high_water == 2000);
  CHECK(c.gaps.empty());
  CHECK(src.backlog(c) == 0);
  CHECK(src.backlog({1500, {}}) == 500);

  auto rows = src.poll({41, {}}, 1);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == test_id(42));
  CHECK(rows[0].version == 1);
  CHECK(rows[0].received_at == "2026-11-27T18:42:11Z");
  CHECK(boost::json::parse(rows[0].payload) == boost::json::parse(valid_payload(test_id(42))));
}

TEST_CASE("backlog beyond the scan limit is reported as unknown") {
  Fixture f;
  insert_many(f.db, 1, 50);
  AppStoreServer server(f.options(), f.dir.path());
  auto cfg = f.config(server.url());
  cfg.backlog_scan_max = 20;
  cfg.page_limit_max = 10;
  HttpStoreSource src(cfg);
  CHECK(src.backlog({}) == -1);
  CHECK(src.backlog({35, {}}) == 15);
}

TEST_CASE("rows committed late are re-read through the cursor's gaps, never skipped") {
  Fixture f;
  for (int seq : {1, 2, 5, 6}) insert_submission(f.db, seq, test_id(seq), 1, valid_payload(test_id(seq)));
  // seq 2 is not visible yet (committed late by another app server); 3 and 4 do not exist yet.
  f.set_faults(R"({"hide_seqs": [2], "max_limit": 1})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  core::SourceCursor c;
  CHECK(poll_once(src, c, 10) == std::vector<std::int64_t>{1});  // server cap: one per page
  CHECK(poll_once(src, c, 10) == std::vector<std::int64_t>{5});
  CHECK(poll_once(src, c, 10) == std::vector<std::int64_t>{6});
  REQUIRE(c.gaps.size() == 1);
  CHECK(c.gaps[0].first == 2);
  CHECK(c.gaps[0].last == 4);
  CHECK(poll_once(src, c, 10).empty());

  f.set_faults(R"({"max_limit": 1})");
  insert_submission(f.db, 4, test_id(4), 1, valid_payload(test_id(4)));
  insert_submission(f.db, 7, test_id(7), 1, valid_payload(test_id(7)));
  // Late rows first, then the new one; the one-row server cap pages inside the gap.
  CHECK(poll_once(src, c, 10) == std::vector<std::int64_t>{2, 4, 7});
  REQUIRE(c.gaps.size() == 1);
  CHECK(c.gaps[0].first == 3);
  CHECK(c.gaps[0].last == 3);
  insert_submission(f.db, 3, test_id(3), 1, valid_payload(test_id(3)));
  CHECK(poll_once(src, c, 10) == std::vector<std::int64_t>{3});
  CHECK(c.gaps.empty());
  CHECK(c.high_water == 7);
  CHECK(poll_once(src, c, 10).empty());
}

TEST_CASE("a server answering out of seq order is an error, not a cursor jump") {
  Fixture f;
  insert_many(f.db, 1, 3);
  f.set_faults(R"({"reverse_items": true})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  CHECK(src.poll({5, {}}, 10).empty());  // a cursor ahead of the store: nothing, no error
  CHECK_THROWS_WITH(src.poll({}, 10), Catch::Contains("not in increasing seq order"));
}

TEST_CASE("429 with Retry-After: the source asks for exactly that wait and does not hammer") {
  Fixture f;
  insert_many(f.db, 1, 3);
  f.set_faults(R"({"fail": [{"method": "GET", "prefix": "/v1/submissions", "status": 429, "retry_after": "2", "times": 1}]})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  core::SourceCursor c;
  try {
    src.poll(c, 10);
    FAIL("poll should have thrown");
  } catch (const SourceUnavailable& e) {
    CHECK(e.retry_in() == milliseconds(2000));
    CHECK_THAT(e.what(), Catch::Contains("HTTP 429"));
  }
  // Within the wait: refused at once, without a request.
  try {
    src.poll(c, 10);
    FAIL("poll should have thrown");
  } catch (const SourceUnavailable& e) {
    CHECK(e.retry_in() > milliseconds(1000));
    CHECK(e.retry_in() <= milliseconds(2000));
  }
  CHECK(f.requests("GET /v1/submissions").size() == 1);
  std::this_thread::sleep_for(src.poll_retry_in());
  CHECK(src.poll_retry_in() == milliseconds(0));
  CHECK(seqs(src.poll(c, 10)) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(f.requests("GET /v1/submissions").size() == 2);
}

TEST_CASE("503 with Retry-After is honoured, 500 and network errors back off exponentially") {
  Fixture f;
  insert_many(f.db, 1, 3);
  f.set_faults(R"({"fail": [{"method": "GET", "status": 503, "retry_after": "1", "times": 1},
                            {"method": "GET", "status": 500, "times": 3}]})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));  // backoff base 200 ms
  core::SourceCursor c;
  const auto wait_of = [&] {
    try {
      src.poll(c, 10);
    } catch (const SourceUnavailable& e) {
      return e.retry_in();
    }
    return milliseconds(-1);
  };
  CHECK(wait_of() == milliseconds(1000));
  std::this_thread::sleep_for(src.poll_retry_in());
  // 500s: jittered doubling, d/2 <= wait <= d with d = 200, 400, 800 ms.
  for (int d : {200, 400, 800}) {
    // The failure count goes on from the 503, so d starts one doubling later.
    const auto w = wait_of();
    INFO("d " << d << " wait " << w.count());
    CHECK(w >= milliseconds(d));
    CHECK(w <= milliseconds(2 * d));
    std::this_thread::sleep_for(src.poll_retry_in());
  }
  CHECK(seqs(src.poll(c, 10)).size() == 3);

  // Nothing listening: a connect error is a SourceUnavailable with a backoff, too.
  HttpStoreSource dead(f.config("http://127.0.0.1:1"));
  try {
    dead.poll({}, 10);
    FAIL("poll should have thrown");
  } catch (const SourceUnavailable& e) {
    CHECK(e.retry_in() >= milliseconds(100));
    CHECK(e.retry_in() <= milliseconds(200));
    CHECK_THAT(e.what(), Catch::Contains("connect"));
  }
}

TEST_CASE("malformed answers are errors with a backoff") {
  Fixture f;
  insert_many(f.db, 1, 2);
  AppStoreServer server(f.options(), f.dir.path());
  auto cfg = f.config(server.url() + "/no-such-prefix");
  HttpStoreSource src(cfg);
  CHECK_THROWS_WITH(src.poll({}, 10), Catch::Contains("HTTP 404"));
  CHECK_THROWS_AS(HttpStoreSource(f.config("ftp://example.org")), std::invalid_argument);
}

TEST_CASE("a token rotated in the file is used without a restart") {
  Fixture f;
  insert_many(f.db, 1, 2);
  const auto server_token = f.dir / "server_token";
  const auto client_token = f.dir / "client_token";
  write_file(server_token, "alpha-1\n");
  write_secret_file(client_token, "alpha-1\n");
  auto opts = f.options();
  opts.token_file = server_token.string();
  AppStoreServer server(opts, f.dir.path());
  auto cfg = f.config(server.url());
  cfg.token_file = client_token;
  HttpStoreSource src(cfg);
  core::SourceCursor c;
  CHECK(poll_once(src, c) == std::vector<std::int64_t>{1, 2});

  // The server moves to a new token first: refused until the file catches up.
  write_file(server_token, "bravo-22");
  CHECK_THROWS_WITH(src.poll(c, 10), Catch::Contains("HTTP 401"));
  write_file(client_token, "bravo-22\n");
  std::this_thread::sleep_for(src.poll_retry_in());
  insert_many(f.db, 3, 3);
  CHECK(poll_once(src, c) == std::vector<std::int64_t>{3});

  // Rewritten in place with the same size and mtime (a coarse clock): the 401 forces a re-read.
  const auto stamp = fs::last_write_time(client_token);
  write_file(server_token, "charlie-3");
  {
    std::fstream out(client_token, std::ios::in | std::ios::out | std::ios::binary);
    out << "charlie-3";
  }
  fs::last_write_time(client_token, stamp);
  insert_many(f.db, 4, 4);
  CHECK(poll_once(src, c) == std::vector<std::int64_t>{4});
  const auto refused = f.requests("GET /v1/submissions?after=3");
  REQUIRE(refused.size() == 2);
  CHECK_THAT(refused[0], Catch::EndsWith(" 401"));
  CHECK_THAT(refused[1], Catch::EndsWith(" 200"));

  // A missing or empty token file is an error, not an unauthenticated request.
  fs::remove(client_token);
  std::this_thread::sleep_for(src.poll_retry_in());
  CHECK_THROWS_WITH(src.poll(c, 10), Catch::Contains("token file"));
  write_secret_file(client_token, "  \n");
  std::this_thread::sleep_for(src.poll_retry_in());
  CHECK_THROWS_WITH(src.poll(c, 10), Catch::Contains("token file is empty"));
}

TEST_CASE("write_status PUTs each status, retried after a 503 with Retry-After") {
  Fixture f;
  insert_many(f.db, 1, 3);
  f.set_faults(R"({"fail": [{"method": "PUT", "status": 503, "retry_after": "1", "times": 1}]})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  const auto start = std::chrono::steady_clock::now();
  src.write_status({{test_id(1), "received", "", "first", "2026-11-27T18:00:00Z"},
                    {test_id(2), "forwarded", "CLE-26-2", "Passed on", "2026-11-27T18:00:00Z"},
                    {test_id(1), "forwarded", "CLE-26-1", "Passed on", "2026-11-27T18:00:01Z"}});
  CHECK(std::chrono::steady_clock::now() - start >= milliseconds(1000));
  auto s = statuses(f.db);
  REQUIRE(s.size() == 2);
  CHECK(s[test_id(1)] == std::make_pair(std::string("forwarded"), std::string("CLE-26-1")));
  CHECK(s[test_id(2)] == std::make_pair(std::string("forwarded"), std::string("CLE-26-2")));
  const auto puts = f.requests("PUT ");
  CHECK(puts.size() == 3);  // one refused with 503, then both (the older update for id 1 never sent)
  CHECK(std::count_if(puts.begin(), puts.end(), [](const std::string& l) { return l.ends_with(" 503"); }) == 1);

  // An empty reference goes out as null.
  src.write_status({{test_id(3), "rejected", "", "Not valid", "2026-11-27T18:00:00Z"}});
  CHECK(statuses(f.db)[test_id(3)] == std::make_pair(std::string("rejected"), std::string("<null>")));
}

TEST_CASE("write_status gives up quickly on a long Retry-After, and drops refused statuses") {
  Fixture f;
  f.set_faults(R"({"fail": [{"method": "PUT", "status": 429, "retry_after": "30", "times": 1}]})");
  AppStoreServer server(f.options(), f.dir.path());
  HttpStoreSource src(f.config(server.url()));
  const std::vector<core::StatusUpdate> one{{test_id(1), "forwarded", "R1", "ok", "2026-11-27T18:00:00Z"}};
  const auto start = std::chrono::steady_clock::now();
  try {
    src.write_status(one);
    FAIL("write_status should have thrown");
  } catch (const SourceUnavailable& e) {
    CHECK(e.retry_in() == milliseconds(30000));
  }
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(3000));  // no 30 s sleep in the call
  CHECK_THROWS_AS(src.write_status(one), SourceUnavailable);             // gated: no request
  CHECK(f.requests("PUT ").size() == 1);
  CHECK(statuses(f.db).empty());

  // 404 (unknown submission) is refused for good: dropped and counted, not retried forever.
  f.set_faults(R"({"fail": [{"method": "PUT", "status": 404, "times": 1}]})");
  HttpStoreSource fresh(f.config(server.url()));
  fresh.write_status({{test_id(7), "forwarded", "", "ok", "2026-11-27T18:00:00Z"},
                      {test_id(8), "forwarded", "", "ok", "2026-11-27T18:00:00Z"}});
  CHECK(fresh.statuses_refused() == 1);
  CHECK(statuses(f.db).size() == 1);

  // 500 every time: bounded rounds with backoff, then an error for the worker to retry later.
  f.set_faults(R"({"fail": [{"method": "PUT", "status": 500, "times": 100}]})");
  auto cfg = f.config(server.url());
  cfg.status_attempts = 3;
  HttpStoreSource failing(cfg);
  const auto before = f.requests("PUT ").size();
  CHECK_THROWS_WITH(failing.write_status(one), Catch::Contains("HTTP 500"));
  CHECK(f.requests("PUT ").size() == before + 3);
}
