#include "bridge/service/state_probe.hpp"

#include <catch2/catch.hpp>

#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;

TEST_CASE("gauges come from a real state database") {
  testing::TempDir dir("rbprobe");
  const auto path = (dir / "state.db").string();
  store::SqliteStateStore state(path);
  const std::int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 3; ++i) {
    core::SourceRow row;
    row.id = "s" + std::to_string(i);
    row.version = 1;
    row.seq = i + 1;
    testing::queue(state, row, {{testing::ref_record(row.id, 1, "npt"), {}}}, t0 + i * 1000);
  }
  {
    auto tx = state.begin_ingest();
    tx->quarantine({7, "bad", 1, "invalid_payload", "/x", "wrong type", "", t0});
    tx->commit();
  }
  store::TargetHealth open{"psd", "open", 5, t0 - 120'000, t0 + 30'000, "http_503"};
  state.save_target_health(open, t0);

  auto g = service::collect_gauges(state, {"npt", "psd"}, t0 + 10'000);
  REQUIRE(g.targets.size() == 2);
  CHECK(g.targets[0].target == "npt");
  CHECK(g.targets[0].backlog == 3);
  CHECK(g.targets[0].oldest_pending_age_seconds == 10.0);
  CHECK(g.targets[0].circuit == service::CircuitState::closed);
  CHECK(g.targets[0].circuit_open_seconds == 0.0);
  CHECK(g.targets[1].target == "psd");
  CHECK(g.targets[1].backlog == 0);
  CHECK(g.targets[1].oldest_pending_age_seconds == 0.0);
  CHECK(g.targets[1].circuit == service::CircuitState::open);
  CHECK(g.targets[1].circuit_open_seconds == 130.0);
  CHECK(g.quarantined == 1);
  CHECK(g.writeback_pending == 0);
  CHECK(g.source_backlog == -1);

  auto cs = service::circuits(state, {"npt", "psd"});
  REQUIRE(cs.size() == 2);
  CHECK(cs[0].state == "closed");
  CHECK(cs[1].state == "open");
  CHECK(cs[1].opened_ms == t0 - 120'000);
}

TEST_CASE("state writability probe") {
  testing::TempDir dir("rbprobe");
  const auto path = (dir / "state.db").string();
  store::SqliteStateStore state(path);
  CHECK_FALSE(service::probe_state_writable(state.db(), 1));

  SECTION("not enough free space") {
    auto err = service::probe_state_writable(state.db(), 1ull << 62);
    REQUIRE(err);
    CHECK(err->find("MiB free on " + dir.path().string()) != std::string::npos);
  }
  SECTION("a read-only connection") {
    store::Database ro(path, store::Database::Mode::read_only);
    auto err = service::probe_state_writable(ro, 1);
    REQUIRE(err);
    CHECK(*err == "the state database is open read-only");
  }
}
