// When the dispatcher next has something to do (Dispatcher::next_due_ms), on
// a real state database and a real CSV drop: the daemon's delivery threads
// sleep until then instead of polling.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <future>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  TempDir dir{"due"};
  store::StateStore state{(dir / "state.db").string()};
  std::unique_ptr<csv_drop::CsvDropSink> sink;
  pipeline::Dispatcher dispatcher{state};

  Fixture() {
    csv_drop::CsvDropConfig c;
    c.name = "drop";
    c.directory = dir / "out";
    c.max_rows = 10;
    c.max_age = 60s;
    c.copy_attachments = false;
    sink = std::make_unique<csv_drop::CsvDropSink>(c, std::vector<std::string>{"Ref"}, nullptr);
    // Retries wait an hour: a test sees exactly when.
    dispatcher.add_target(*sink, {5, 1h, 1h}, {"ok", false, true}, {100, 1h, 1h});
  }

  void enqueue(const std::string& id, std::int64_t version, std::int64_t at_ms) {
    core::TargetRecord r;
    r.submission_id = id;
    r.version = version;
    r.mapping = "m";
    r.target = "drop";
    r.fields = {{"Ref", id}};
    store::Transaction tx(state.db());
    state.enqueue({"drop", id, version, version, "m", core::to_json(r)}, at_ms);
    tx.commit();
  }
};

}  // namespace

TEST_CASE("next_due_ms: a partial batch at its max_age, a full one at once, nothing when empty") {
  Fixture f;
  const std::int64_t t0 = store::now_ms();
  CHECK_FALSE(f.dispatcher.next_due_ms(t0));
  f.enqueue("a", 1, t0);
  CHECK(f.dispatcher.next_due_ms(t0) == t0 + 60'000);
  CHECK(f.dispatcher.dispatch(false).batches == 0);  // not due yet
  for (int i = 0; i < 9; ++i) f.enqueue("b" + std::to_string(i), 1, t0);
  const std::int64_t now = store::now_ms();
  CHECK(f.dispatcher.next_due_ms(now) == now);  // max_rows reached: now
  CHECK(f.dispatcher.dispatch(false).delivered == 10);
  CHECK_FALSE(f.dispatcher.next_due_ms(store::now_ms()));
}

TEST_CASE("next_due_ms: a retry is due when its backoff ends") {
  Fixture f;
  write_file(f.dir / "out", "a file where the drop folder should be");
  const std::int64_t t0 = store::now_ms();
  f.enqueue("a", 1, t0);
  auto s = f.dispatcher.dispatch(true);
  REQUIRE(s.retried == 1);
  const auto due = f.dispatcher.next_due_ms(store::now_ms());
  REQUIRE(due);
  // base 1h with jitter 0.5..1
  CHECK(*due >= t0 + 1'800'000);
  CHECK(*due <= store::now_ms() + 3'600'000);
}

// A later version waits while an earlier one is still on its way. The count
// of due items used to include it while the claim left it out, so the
// dispatcher asked again and again without end (a busy loop until the
// earlier version's retry, up to the backoff cap).
TEST_CASE("an edit waiting for its first version's retry neither spins nor is claimed early") {
  Fixture f;
  write_file(f.dir / "out", "a file where the drop folder should be");
  const std::int64_t t0 = store::now_ms();
  f.enqueue("a", 1, t0);
  REQUIRE(f.dispatcher.dispatch(true).retried == 1);  // v1 now waits an hour
  fs::remove(f.dir / "out");
  f.enqueue("a", 2, store::now_ms());  // v2 is due, but must follow v1

  auto pass = std::async(std::launch::async, [&] { return f.dispatcher.dispatch(true); });
  if (pass.wait_for(20s) != std::future_status::ready) {
    FAIL_CHECK("dispatch() did not return: it spins on an item it cannot claim");
    std::_Exit(1);  // the thread cannot be stopped
  }
  const auto s = pass.get();
  CHECK(s.batches == 0);
  CHECK_FALSE(fs::exists(f.dir / "out"));  // nothing published
  // It wakes when v1's retry is due, not before.
  const auto due = f.dispatcher.next_due_ms(store::now_ms());
  REQUIRE(due);
  CHECK(*due >= t0 + 1'800'000);
}
