// Write-back passes (docs/performance.md, change 10): a pass waits for
// writeback.batch_size due statuses or for the oldest to have waited
// writeback.max_delay; drain() does not wait; and a pass, held as views into
// the stored chunks and single rows, writes each status's own text. The real
// state database, worker and SQLite app-store source.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <thread>

#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
using std::chrono::milliseconds;

namespace {

struct Fixture {
  TempDir dir{"rbpass"};
  std::string db = (dir / "store.db").string();
  std::unique_ptr<store::StateStore> state;
  std::unique_ptr<sqlite_store::SqliteStoreSource> source;

  Fixture() {
    create_app_store(db);
    state = store::open_state_store((dir / "state.db").string());
    source = std::make_unique<sqlite_store::SqliteStoreSource>(
        sqlite_store::SqliteStoreConfig{"app", db, dir / "media"});
  }
  void queue(int first, int last, const std::string& state_name = "forwarded") {
    auto tx = state->begin_ingest();
    for (int i = first; i <= last; ++i)
      tx->queue_status({test_id(i), state_name, "REF-" + std::to_string(i), "Message " + std::to_string(i),
                        "2026-11-27T18:00:00Z"},
                       1);
    tx->commit();
  }
  // submission id -> "state|reference|message", from the app's store.
  std::map<std::string, std::string> rows() const {
    std::map<std::string, std::string> out;
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "SELECT submission_id, state, coalesce(reference, ''), message FROM submission_status", -1,
                       &st, nullptr);
    const auto col = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
    while (sqlite3_step(st) == SQLITE_ROW) out[col(0)] = col(1) + "|" + col(2) + "|" + col(3);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
  }
};

}  // namespace

TEST_CASE("a pass waits for batch_size statuses or for the oldest to wait max_delay, drain does not wait") {
  Fixture f;
  pipeline::WritebackWorker wb(*f.state, *f.source, 10, nullptr, milliseconds(400));
  CHECK(wb.run_once() == 0);  // nothing queued: nothing to wait for
  f.queue(1, 5);
  const auto queued = std::chrono::steady_clock::now();
  CHECK(wb.run_once() == 0);  // 5 of 10, the oldest just queued: waits
  CHECK(f.rows().empty());
  CHECK(wb.next_try() > queued + milliseconds(200));
  CHECK(wb.next_try() <= queued + milliseconds(450));
  std::this_thread::sleep_until(wb.next_try() + milliseconds(20));
  CHECK(wb.run_once() == 5);  // max_delay reached
  CHECK(f.rows().size() == 5);

  f.queue(6, 15);
  CHECK(wb.run_once() == 10);  // a full pass goes at once
  CHECK(f.rows().size() == 15);

  f.queue(16, 18);
  CHECK(wb.run_once() == 0);
  CHECK(wb.drain() == 3);  // stopping: no waiting
  CHECK(f.rows().size() == 18);
  CHECK(f.state->pending_writeback_count() == 0);

  // Without max_delay, each pass goes as soon as something is due (as before).
  pipeline::WritebackWorker eager(*f.state, *f.source, 10);
  f.queue(19, 19);
  CHECK(eager.run_once() == 1);
}

TEST_CASE("a pass of chunks and single statuses writes each status's own text") {
  Fixture f;
  f.queue(1, 300);
  f.queue(301, 600, "needs_review");
  // One status of the first chunk fails: it becomes a row of its own.
  {
    auto pass = f.state->pending_writebacks(1);  // whole chunks: the first one
    REQUIRE(pass.size() == 300);
    std::vector<store::WritebackItem> done(pass.items.begin() + 1, pass.items.end());
    f.state->finish_writebacks(done, {{pass[0], 0}});
  }
  CHECK(f.state->pending_writeback_count() == 301);
  // The chunk's other statuses were settled (as written) without reaching the app.
  pipeline::WritebackWorker wb(*f.state, *f.source, 10'000);
  CHECK(wb.run_once() == 301);
  const auto rows = f.rows();
  REQUIRE(rows.size() == 301);
  CHECK(rows.at(test_id(1)) == "forwarded|REF-1|Message 1");
  for (int i = 301; i <= 600; ++i) {
    INFO(i);
    CHECK(rows.at(test_id(i)) == "needs_review|REF-" + std::to_string(i) + "|Message " + std::to_string(i));
  }
}

// A large pass is reported in written_back batches of at most kEventsPerBatch
// statuses (one audit entry each), so no audit entry of megabytes is built at
// once; together they name every written status once, each under its state.
TEST_CASE("a pass of 4,500 statuses is reported in written_back batches of at most 2,000") {
  struct Recorder : core::EventListener {
    std::vector<std::pair<std::string, std::vector<std::string>>> batches;  // state, ids
    int flushes = 0;
    void on_event(const core::Event&) noexcept override {}
    void on_batch(const core::EventBatch& b) noexcept override {
      if (b.kind != core::EventKind::written_back) return;
      std::vector<std::string> ids;
      for (const auto& i : b.items) ids.emplace_back(i.submission_id);
      batches.emplace_back(std::string(b.reason_code), std::move(ids));
    }
    void flush() noexcept override { ++flushes; }
  } events;
  Fixture f;
  f.queue(1, 3000);
  f.queue(3001, 4500, "rejected");
  pipeline::WritebackWorker wb(*f.state, *f.source, 10000, &events);
  CHECK(wb.run_once() == 4500);
  CHECK(f.rows().size() == 4500);
  std::map<std::string, std::string> state_of;
  for (const auto& [state, ids] : events.batches) {
    CHECK(ids.size() <= pipeline::WritebackWorker::kEventsPerBatch);
    for (const auto& id : ids) CHECK(state_of.emplace(id, state).second);  // once each
  }
  CHECK(events.batches.size() >= 3);
  REQUIRE(state_of.size() == 4500);
  CHECK(state_of[test_id(1)] == "forwarded");
  CHECK(state_of[test_id(3000)] == "forwarded");
  CHECK(state_of[test_id(3001)] == "rejected");
  CHECK(state_of[test_id(4500)] == "rejected");
  CHECK(events.flushes == 1);
}

namespace {

// The real SQLite app-store source, with the calls it gets recorded (the ids
// of each) and, on demand, one call that fails as a lost connection would.
struct RecordingSource : core::Source {
  sqlite_store::SqliteStoreSource& real;
  std::vector<std::vector<std::string>> calls;
  int throw_on_call = 0;  // 1-based; 0: never
  explicit RecordingSource(sqlite_store::SqliteStoreSource& r) : real(r) {}
  const std::string& name() const override { return real.name(); }
  std::vector<core::SourceRow> poll(const core::SourceCursor& c, std::size_t limit) override { return real.poll(c, limit); }
  std::int64_t backlog(const core::SourceCursor& c) override { return real.backlog(c); }
  void write_status(std::span<const core::StatusRef> updates) override { real.write_status(updates); }
  core::StatusWriteResult write_statuses(std::span<const core::StatusRef> updates) override {
    calls.emplace_back();
    for (const auto& u : updates) calls.back().emplace_back(u.submission_id);
    if (static_cast<int>(calls.size()) == throw_on_call) throw std::runtime_error("connection lost");
    return real.write_statuses(updates);
  }
  std::string attachment_path(const core::AttachmentRef& a) const override { return real.attachment_path(a); }
  std::optional<core::SourceRow> latest(const std::string& id) override { return real.latest(id); }
  std::optional<std::string> probe() const override { return real.probe(); }
  std::string location() const override { return real.location(); }
};

}  // namespace

// A pass is written in slices of kSliceStatuses in submission id order: each
// slice covers its own key range of the app's index (pages rewritten about
// once per pass, change 13) and only a slice's views are copied per call. A
// submission's statuses keep their order, so the newer one wins.
TEST_CASE("a pass larger than a slice is written in slices in submission id order") {
  constexpr int n = 12'000;
  static_assert(pipeline::WritebackWorker::kSliceStatuses == 5000);
  Fixture f;
  f.queue(5000, 5000, "received");  // an older status of 5000, queued first
  f.queue(8001, n);                 // chunks queued out of key order
  f.queue(1, 4000);
  f.queue(4001, 8000);
  RecordingSource source(*f.source);
  pipeline::WritebackWorker wb(*f.state, source, 20'000);
  CHECK(wb.run_once() == n + 1);
  REQUIRE(source.calls.size() == 3);
  CHECK(source.calls[0].size() == 5000);
  CHECK(source.calls[1].size() == 5000);
  CHECK(source.calls[2].size() == 2001);
  std::vector<std::string> sent;
  for (const auto& c : source.calls) sent.insert(sent.end(), c.begin(), c.end());
  std::vector<std::string> expected;
  for (int i = 1; i <= n; ++i) expected.push_back(test_id(i));
  expected.push_back(test_id(5000));
  std::stable_sort(expected.begin(), expected.end());
  CHECK(sent == expected);
  const auto rows = f.rows();
  CHECK(rows.size() == static_cast<std::size_t>(n));
  CHECK(rows.at(test_id(5000)) == "forwarded|REF-5000|Message 5000");  // the newer status
  CHECK(f.state->pending_writeback_count() == 0);
}

// A slice that fails after others were written: what was written is done,
// the statuses of the slices left wait on their own and go in a later pass.
TEST_CASE("a pass whose second slice fails keeps the first slice written and retries the rest") {
  constexpr int n = 12'000;
  Fixture f;
  f.queue(1, n);
  RecordingSource source(*f.source);
  source.throw_on_call = 2;
  pipeline::WritebackWorker wb(*f.state, source, 20'000);
  CHECK(wb.run_once() == 5000);
  CHECK(source.calls.size() == 2);  // the third slice was not tried
  const auto written = f.rows();
  CHECK(written.size() == 5000);
  CHECK(f.state->pending_writeback_count() == n - 5000);
  for (const auto& id : source.calls[0]) CHECK(written.count(id) == 1);
  // The rest waits its retry delay (1 s), then goes.
  std::this_thread::sleep_for(milliseconds(1100));
  CHECK(wb.drain() == static_cast<std::size_t>(n - 5000));
  CHECK(f.rows().size() == static_cast<std::size_t>(n));
  CHECK(f.state->pending_writeback_count() == 0);

  // A first slice that fails leaves the whole pass queued as it was (nothing attempted).
  Fixture g;
  g.queue(1, n);
  RecordingSource first(*g.source);
  first.throw_on_call = 1;
  pipeline::WritebackWorker wb2(*g.state, first, 20'000);
  CHECK(wb2.run_once() == 0);
  CHECK(first.calls.size() == 1);
  CHECK(g.rows().empty());
  CHECK(g.state->pending_writeback_count() == n);
  CHECK(wb2.failures() == 1);
}
