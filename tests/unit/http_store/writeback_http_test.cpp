// Write-back to the app over HTTP (issue #15 item 2): every status has its own
// outcome, so one that keeps failing never re-sends (or holds back) the rest
// of its batch. The real state database, write-back worker and HTTP source,
// against tests/servers/app_store_server.py.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <fstream>
#include <map>
#include <thread>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "tests/support/app_store.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
using std::chrono::milliseconds;

namespace {

struct Fixture {
  TempDir dir{"rbwb"};
  std::string db = (dir / "store.db").string();
  std::string faults = (dir / "faults.json").string();
  std::string log = (dir / "requests.log").string();
  std::unique_ptr<store::StateStore> state;

  Fixture() {
    create_app_store(db);
    write_file(faults, "{}");
    state = store::open_state_store((dir / "state.db").string());
  }
  ServerOptions options() const {
    ServerOptions o;
    o.db = db;
    o.faults = faults;
    o.request_log = log;
    return o;
  }
  http_store::HttpStoreConfig config(const std::string& url) const {
    http_store::HttpStoreConfig c;
    c.base_url = url;
    c.connect_timeout = milliseconds(3000);
    c.read_timeout = milliseconds(5000);
    c.total_timeout = milliseconds(10000);
    c.backoff.base = milliseconds(100);
    c.status_attempts = 2;
    c.status_wait_cap = milliseconds(200);
    c.spool_dir = dir / "spool";
    return c;
  }
  void queue(int first, int last) {
    auto tx = state->begin_ingest();
    for (int i = first; i <= last; ++i)
      tx->queue_status({test_id(i), "forwarded", "REF-" + std::to_string(i), "Passed on", "2026-11-27T18:00:00Z"}, 1);
    tx->commit();
  }
  // PUTs per submission id, from the server's request log.
  std::map<std::string, int> puts() const {
    std::map<std::string, int> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("PUT /v1/submissions/", 0) != 0) continue;
      const auto id = line.substr(20, line.find('/', 20) - 20);
      ++out[id];
    }
    return out;
  }
};

}  // namespace

TEST_CASE("one status that keeps failing is retried alone, the rest of its batch is written once") {
  Fixture f;
  // Every PUT for submission 7 fails (the app's back end chokes on it).
  write_file(f.faults, R"({"fail": [{"method": "PUT", "prefix": "/v1/submissions/)" + test_id(7) +
                           R"(/status", "status": 500, "times": 1000}]})");
  AppStoreServer server(f.options(), f.dir.path());
  http_store::HttpStoreSource src(f.config(server.url()));
  f.queue(1, 50);
  pipeline::WritebackWorker wb(*f.state, src, 500);

  CHECK(wb.run_once() == 49);
  CHECK(f.state->pending_writeback_count() == 1);
  auto statuses = read_statuses(f.db);
  CHECK(statuses.size() == 49);
  CHECK(statuses.count(test_id(7)) == 0);
  // Statuses queued behind it are not held up by it: written at once.
  f.queue(51, 60);
  CHECK(wb.run_once() == 10);
  CHECK(read_statuses(f.db).size() == 59);

  // Later passes send the failing one only.
  for (int pass = 0; pass < 3; ++pass) {
    std::this_thread::sleep_for(milliseconds(2100));  // past the worker's backoff
    wb.run_once();
  }
  const auto sent = f.puts();
  for (int i = 1; i <= 60; ++i) {
    INFO(i);
    if (i == 7)
      CHECK(sent.at(test_id(7)) >= 3);
    else
      CHECK(sent.at(test_id(i)) == 1);
  }
  CHECK(f.state->pending_writeback_count() == 1);

  // Once the app takes it, it is written and nothing is left.
  write_file(f.faults, "{}");
  std::this_thread::sleep_for(milliseconds(4100));
  CHECK(wb.run_once() == 1);
  CHECK(f.state->pending_writeback_count() == 0);
  CHECK(read_statuses(f.db).size() == 60);
  // Kept alive: a handful of connections (max_connections 4) for some 70 PUTs.
  CHECK(src.status_connections_opened() <= 8);
}

TEST_CASE("a status the app refuses for good is dropped without holding the others") {
  Fixture f;
  write_file(f.faults, R"({"fail": [{"method": "PUT", "prefix": "/v1/submissions/)" + test_id(3) +
                           R"(/status", "status": 404, "times": 1000}]})");
  AppStoreServer server(f.options(), f.dir.path());
  http_store::HttpStoreSource src(f.config(server.url()));
  f.queue(1, 5);
  pipeline::WritebackWorker wb(*f.state, src, 500);
  CHECK(wb.run_once() == 4);
  CHECK(f.state->pending_writeback_count() == 0);
  CHECK(src.statuses_refused() == 1);
  CHECK(f.puts().at(test_id(3)) == 1);
}

TEST_CASE("a status that failed is dropped once a newer status of its submission is written, not written over it") {
  Fixture f;
  // The first pass's PUTs for submission 7 fail (the source tries twice); later ones go through.
  write_file(f.faults, R"({"fail": [{"method": "PUT", "prefix": "/v1/submissions/)" + test_id(7) +
                           R"(/status", "status": 500, "times": 2}]})");
  AppStoreServer server(f.options(), f.dir.path());
  http_store::HttpStoreSource src(f.config(server.url()));
  {
    auto tx = f.state->begin_ingest();
    tx->queue_status({test_id(7), "received", "", "Received", "2026-11-27T18:00:00Z"}, 1);
    tx->queue_status({test_id(8), "received", "", "Received", "2026-11-27T18:00:00Z"}, 1);
    tx->commit();
  }
  pipeline::WritebackWorker wb(*f.state, src, 500);
  CHECK(wb.run_once() == 1);  // 8's; 7's waits for its retry (1 s)
  CHECK(f.state->pending_writeback_count() == 1);
  {
    auto tx = f.state->begin_ingest();
    tx->queue_status({test_id(7), "forwarded", "REF-7", "Passed on", "2026-11-27T18:05:00Z"}, 2);
    tx->commit();
  }
  CHECK(wb.run_once() == 1);  // version 2's status, before the old one is due
  // The failed older status is superseded: nothing is left to write...
  CHECK(f.state->pending_writeback_count() == 0);
  // ...so, past its retry time, it is not written over the newer one.
  std::this_thread::sleep_for(milliseconds(1100));
  wb.run_once();
  CHECK(read_statuses(f.db).at(test_id(7)) == "forwarded");
  CHECK(f.puts().at(test_id(7)) == 3);  // two failed tries, then version 2's
}
