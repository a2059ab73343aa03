// Items settled as they finish (#17 item 6), on a real state database: the
// dispatcher settles and announces a sink's finished items while another call
// of the same batch is still in flight, claims the next batch as soon as a
// connection would be idle, keeps versions of a submission in order, and
// retries what a sink that fails mid-batch never reported. The sink here is
// the test's own: a call held until the test lets it go, and a sink that
// throws half-way, are faults the SOAP sink cannot produce on demand (the SOAP
// path itself is tested end to end in tests/integration/wsdl_soap_test.cpp).
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// Delivers each item at once, except the items of `held_id`, which wait
// until release(); throws after `throw_after` reports when set.
class StreamingSink : public core::Sink {
 public:
  std::string held_id;
  std::size_t throw_after = SIZE_MAX;
  std::size_t batch_size = 10;
  std::size_t connections = 4;

  const std::string& name() const override { return name_; }
  core::BatchPolicy batch_policy() const override { return {batch_size, 0ms}; }
  std::string encode_preview(const core::TargetRecord&) const override { return {}; }
  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& batch) override {
    std::vector<core::DeliveryOutcome> out(batch.items.size());
    deliver_each(batch, [&](std::size_t i, core::DeliveryOutcome o) { out[i] = std::move(o); });
    return out;
  }
  void deliver_each(const core::DeliveryBatch& batch, const OutcomeReport& report) override {
    std::vector<std::size_t> held;
    std::size_t reported = 0;
    for (std::size_t i = 0; i < batch.items.size(); ++i) {
      const auto& r = batch.items[i].record;
      {
        std::lock_guard lock(m_);
        seen_.push_back(r.submission_id + ":" + std::to_string(r.version) +
                        (batch.items[i].prior_reference.empty() ? "" : " after " + batch.items[i].prior_reference));
      }
      if (r.submission_id == held_id) {
        held.push_back(i);
        continue;
      }
      if (reported++ == throw_after) throw std::runtime_error("connection pool broke");
      report(i, core::DeliveryOutcome::ok("R-" + r.submission_id + "-" + std::to_string(r.version)));
    }
    if (held.empty()) return;
    released_.wait();
    for (auto i : held) {
      const auto& r = batch.items[i].record;
      report(i, core::DeliveryOutcome::ok("R-" + r.submission_id + "-" + std::to_string(r.version)));
    }
  }
  bool reports_each() const override { return true; }
  std::size_t concurrency() const override { return connections; }

  void release() { release_.set_value(); }
  std::vector<std::string> seen() {
    std::lock_guard lock(m_);
    return seen_;
  }

 private:
  std::string name_ = "rms";
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  std::mutex m_;
  std::vector<std::string> seen_;
};

struct Events : core::EventListener {
  std::mutex m;
  std::set<std::string> delivered;
  std::vector<std::string> retried;
  void on_event(const core::Event& e) noexcept override {
    std::lock_guard lock(m);
    if (e.kind == core::EventKind::delivered) delivered.insert(std::string(e.submission_id));
    if (e.kind == core::EventKind::retry) retried.push_back(std::string(e.submission_id) + " " + e.reason_code);
  }
  std::size_t count() {
    std::lock_guard lock(m);
    return delivered.size();
  }
};

struct Fixture {
  TempDir dir{"settle"};
  std::string path = (dir / "state.db").string();
  store::SqliteStateStore state{path};
  StreamingSink sink;
  Events events;
  pipeline::Dispatcher dispatcher{state, &events};

  Fixture() { dispatcher.add_target(sink, {5, 1h, 1h}, {"ok", true, true}, {100, 1h, 1h}); }

  void enqueue(const std::string& id, std::int64_t version, std::int64_t seq) {
    reportbridge::testing::queue(state, {seq, id, version, "2026-11-27T18:42:11Z", "{}"},
                                 {{reportbridge::testing::ref_record(id, version, "rms"), {}}}, store::now_ms());
  }
  // What `status` reads: another connection to the same database.
  store::TargetCounts counts() {
    store::SqliteStateStore other(path);
    for (const auto& c : other.target_counts())
      if (c.target == "rms") return c;
    return {};
  }
};

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST_CASE("finished items are settled and announced while a call of their batch is still in flight") {
  Fixture f;
  f.sink.held_id = "b";
  f.enqueue("a", 1, 1);
  f.enqueue("b", 1, 2);
  f.enqueue("c", 1, 3);
  auto run = std::async(std::launch::async, [&] { return f.dispatcher.dispatch(true); });
  CHECK(eventually([&] { return f.counts().delivered == 2 && f.events.count() == 2; }));
  const auto during = f.counts();
  CHECK(during.in_flight == 1);  // b
  {
    // Killed now: only b would be handed again, in doubt.
    store::SqliteStateStore other(f.path);
    auto open = other.open_batches("rms");
    REQUIRE(open.size() == 1);
    REQUIRE(open[0].items.size() == 1);
    CHECK(open[0].items[0].record.submission_id == "b");
    CHECK(open[0].items[0].in_doubt);
  }
  f.sink.release();
  const auto stats = run.get();
  CHECK(stats.delivered == 3);
  CHECK(stats.batches == 1);
  CHECK(f.counts().delivered == 3);
  CHECK(f.counts().in_flight == 0);
  CHECK(f.state.open_batches("rms").empty());
}

TEST_CASE("the next batch goes while a slow call holds a connection, versions of a submission stay in order") {
  Fixture f;
  f.sink.held_id = "a";
  f.sink.batch_size = 2;
  f.sink.connections = 2;
  f.enqueue("a", 1, 1);
  f.enqueue("b", 1, 2);
  f.enqueue("a", 2, 3);
  f.enqueue("c", 1, 4);
  f.enqueue("d", 1, 5);
  auto run = std::async(std::launch::async, [&] { return f.dispatcher.dispatch(true); });
  // a:1 is held; b settles, a connection is idle, so c and d go in the next batch.
  CHECK(eventually([&] { return f.counts().delivered == 3; }));
  auto seen = f.sink.seen();
  CHECK(std::find(seen.begin(), seen.end(), "c:1") != seen.end());
  CHECK(std::find(seen.begin(), seen.end(), "d:1") != seen.end());
  // a:2 waits for a:1.
  CHECK(std::none_of(seen.begin(), seen.end(), [](const std::string& s) { return s.rfind("a:2", 0) == 0; }));
  f.sink.release();
  auto stats = run.get();
  stats.delivered += f.dispatcher.dispatch(true).delivered;  // a:2, once a:1 has settled
  CHECK(stats.delivered == 5);
  seen = f.sink.seen();
  CHECK(std::find(seen.begin(), seen.end(), "a:2 after R-a-1") != seen.end());
  CHECK(f.counts().delivered == 5);
  CHECK(f.state.open_batches("rms").empty());
}

TEST_CASE("a sink that fails half-way: what it reported stays settled, the rest is retried") {
  Fixture f;
  f.sink.throw_after = 1;
  f.enqueue("a", 1, 1);
  f.enqueue("b", 1, 2);
  f.enqueue("c", 1, 3);
  const auto stats = f.dispatcher.dispatch(true);
  CHECK(stats.delivered == 1);
  CHECK(stats.retried == 2);
  CHECK(f.state.open_batches("rms").empty());
  {
    std::lock_guard lock(f.events.m);
    CHECK(f.events.retried == std::vector<std::string>{"b sink_exception", "c sink_exception"});
  }
  const auto c = f.counts();
  CHECK(c.delivered == 1);
  CHECK(c.pending == 2);
}
