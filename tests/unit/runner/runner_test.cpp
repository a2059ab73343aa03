// The daemon's loops (bridge/runner): the watchdog's heartbeat rule, the
// doorbell, and the Runner itself on a real SQLite store, state database and
// CSV drop.
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>
#include <thread>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sources/sqlite_store/sqlite_store_source.hpp"
#include "bridge/core/progress.hpp"
#include "bridge/runner/heartbeat.hpp"
#include "bridge/runner/runner.hpp"
#include "bridge/runner/wakeup.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("heartbeat rule: idle is healthy however long, busy must progress within the stall timeout") {
  runner::Heartbeat ingest("ingest"), delivery("delivery:drop");
  const std::int64_t t0 = core::steady_now_ns();
  const auto stall = std::chrono::nanoseconds(2s);
  // Both just started work.
  CHECK(runner::stalled_loops({&ingest, &delivery}, t0, stall).empty());
  // Ten seconds on: the delivery waited for work all along, ingest worked without a beat.
  delivery.idle();
  const std::int64_t later = core::steady_now_ns() + std::chrono::nanoseconds(10s).count();
  CHECK(runner::stalled_loops({&ingest, &delivery}, later, stall) == std::vector<std::string>{"ingest"});
  // Progress reported on the loop's thread moves its beat on.
  std::thread([&] {
    core::ProgressScope scope(ingest.beat());
    core::progress();
  }).join();
  const std::int64_t soon = core::steady_now_ns() + std::chrono::nanoseconds(1s).count();
  CHECK(runner::stalled_loops({&ingest, &delivery}, soon, stall).empty());
  // Progress on a thread without a scope moves nothing.
  core::progress();
  CHECK(ingest.stalled_for(soon) >= 1s);
  CHECK(delivery.stalled_for(later) == 0s);
}

TEST_CASE("the doorbell keeps a ring made while the loop was busy") {
  runner::Wakeup w;
  w.notify();                                          // rung before anyone waits
  CHECK(w.wait(std::chrono::steady_clock::now() + 10s));  // returns at once, rung
  CHECK_FALSE(w.wait(std::chrono::steady_clock::now() + 20ms));  // consumed: the deadline ends the wait
  auto rung = std::async(std::launch::async, [&] { return w.wait(std::nullopt); });
  std::this_thread::sleep_for(20ms);
  w.notify();
  CHECK(rung.get());
}

namespace {

struct Bridge {
  TempDir dir{"runner"};
  std::string store_path = (dir / "store.db").string();
  std::optional<schema::SubmissionSchema> schema;
  std::optional<mapping::MappingSet> mappings;
  std::unique_ptr<sqlite_store::SqliteStoreSource> source;
  std::unique_ptr<csv_drop::CsvDropSink> sink;
  service::Notifier notifier{false};

  Bridge() {
    create_app_store(store_path);
    write_file(dir / "m.yaml", "mapping: m\ntargets: [drop]\nfields:\n  - {name: Ref, from: id, required: true}\n");
    core::Diagnostics d;
    schema = schema::SubmissionSchema::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json", d);
    mappings = mapping::MappingSet::load({(dir / "m.yaml").string()}, {"drop"}, d);
    INFO(d.to_string());
    REQUIRE(schema);
    REQUIRE(mappings);
    source = std::make_unique<sqlite_store::SqliteStoreSource>(
        sqlite_store::SqliteStoreConfig{"app", store_path, dir / "media"});
    csv_drop::CsvDropConfig c;
    c.name = "drop";
    c.directory = dir / "out";
    c.max_rows = 1000;
    c.max_age = 50ms;
    c.copy_attachments = false;
    sink = std::make_unique<csv_drop::CsvDropSink>(c, mappings->columns_for("drop"), nullptr);
  }

  runner::Runner make(bool once) {
    runner::Settings s;
    s.once = once;
    s.state_path = dir / "state" / "state.db";
    s.poll_interval = 20ms;
    return runner::Runner(s, *source, *schema, *mappings, {{sink.get(), {}, {"Passed on.", false, false}, {}}},
                          nullptr, std::nullopt, notifier);
  }

  std::size_t rows_published() const {
    std::size_t n = 0;
    if (!fs::exists(dir / "out")) return 0;
    for (const auto& e : fs::directory_iterator(dir / "out")) {
      if (e.path().extension() != ".csv") continue;
      const std::string text = read_file(e.path());
      for (std::size_t at = text.find("\r\n"); at != std::string::npos; at = text.find("\r\n", at + 2)) ++n;
      --n;  // header
    }
    return n;
  }
};

}  // namespace

TEST_CASE("once: reads everything, delivers partial batches too, writes every status back, returns") {
  Bridge b;
  for (int i = 1; i <= 5; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  insert_submission(b.store_path, 6, test_id(6), 1, "not json");
  auto runner = b.make(true);
  const auto totals = runner.run();
  CHECK(totals.ingest.read == 6);
  CHECK(totals.ingest.queued == 5);
  CHECK(totals.ingest.rejected == 1);
  CHECK(totals.delivery.delivered == 5);
  CHECK(b.rows_published() == 5);
  const auto st = read_statuses(b.store_path);
  CHECK(st.size() == 6);
  CHECK(st.at(test_id(6)) == "rejected");
  CHECK(st.at(test_id(1)) == "forwarded");
}

TEST_CASE("run: rows arriving while it idles are delivered and written back, a stop ends it after the drain") {
  Bridge b;
  auto runner = b.make(false);
  auto done = std::async(std::launch::async, [&] { return runner.run(); });
  std::this_thread::sleep_for(100ms);  // idle: nothing in the store
  for (int i = 1; i <= 3; ++i) insert_submission(b.store_path, i, test_id(i), 1, valid_payload(test_id(i)));
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (read_statuses(b.store_path).size() < 3 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  CHECK(read_statuses(b.store_path).size() == 3);
  runner.request_stop();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  const auto totals = done.get();
  CHECK(totals.ingest.queued == 3);
  CHECK(totals.delivery.delivered == 3);
  CHECK(b.rows_published() == 3);
}
