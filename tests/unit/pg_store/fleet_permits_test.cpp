// A target's limits held for the whole fleet on PostgreSQL (issue #16):
// two stores are two instances; connection slots are held jointly and come
// back after a dead holder's lease; the shared token bucket never grants more
// than rate * t + burst over any window, counted on the server's clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "bridge/pg_store/pg_state_store.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/wait.hpp"

using namespace reportbridge;

namespace {

pg_store::PgSettings instance(const std::string& conninfo, const std::string& name) {
  pg_store::PgSettings s;
  s.conninfo = conninfo;
  s.sslmode = "disable";
  s.instance = name;
  return s;
}


}  // namespace

TEST_CASE("SQLite-style stores without a fleet: no permits, the sinks' own limits apply") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  // A store on a connection given by a test (no way to open a connection of its own).
  pg_store::PgStateStore given(std::make_unique<pg::Connection>(conninfo + " sslmode=disable"), "t",
                               std::chrono::milliseconds(30'000));
  CHECK(given.fleet_permits() == nullptr);
}

TEST_CASE("connection slots are held jointly by two instances, a released slot goes to the other") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore a(instance(conninfo, "a"));
  pg_store::PgStateStore b(instance(conninfo, "b"));
  auto* pa = a.fleet_permits();
  auto* pb = b.fleet_permits();
  REQUIRE(pa);
  REQUIRE(pb);
  const std::int64_t lease = 600'000;  // never runs out in this test
  auto a1 = pa->acquire_slot("soap", 2, lease);
  auto b1 = pb->acquire_slot("soap", 2, lease);
  REQUIRE(a1);
  REQUIRE(b1);
  CHECK(a1->slot != b1->slot);
  // The cap is the fleet's: neither instance gets a third.
  CHECK_FALSE(pa->acquire_slot("soap", 2, lease));
  CHECK_FALSE(pb->acquire_slot("soap", 2, lease));
  // Another target has slots of its own.
  CHECK(pb->acquire_slot("csv", 1, lease));
  pa->release_slot(*a1);
  auto b2 = pb->acquire_slot("soap", 2, lease);
  REQUIRE(b2);
  CHECK(b2->slot == a1->slot);
  CHECK(b2->fence > a1->fence);
  // A stale holder (old fencing token) can neither renew nor release it.
  CHECK_FALSE(pa->renew_slot(*a1, lease));
  pa->release_slot(*a1);
  CHECK_FALSE(pa->acquire_slot("soap", 2, lease));
  CHECK(pb->renew_slot(*b2, lease));
}

TEST_CASE("a dead instance's connection slot comes back once its lease ran out, and it is fenced off") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore b(instance(conninfo, "b"));
  std::optional<store::FleetSlot> dead;
  {
    pg_store::PgStateStore a(instance(conninfo, "a"));
    dead = a.fleet_permits()->acquire_slot("soap", 1, 1500);
    REQUIRE(dead);
    CHECK_FALSE(b.fleet_permits()->acquire_slot("soap", 1, 1500));
  }  // a is gone without releasing: only the lease brings the slot back
  std::optional<store::FleetSlot> taken;
  REQUIRE(reportbridge::testing::wait_until([&] { return bool(taken = b.fleet_permits()->acquire_slot("soap", 1, 600'000)); },
                     std::chrono::seconds(60)));
  CHECK(taken->fence > dead->fence);
  pg_store::PgStateStore back(instance(conninfo, "a"));
  CHECK_FALSE(back.fleet_permits()->renew_slot(*dead, 600'000));
  CHECK_FALSE(back.fleet_permits()->acquire_slot("soap", 1, 600'000));
}

TEST_CASE("the shared token bucket never grants more than rate * t + burst over any window, for two instances") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore a(instance(conninfo, "a"));
  pg_store::PgStateStore b(instance(conninfo, "b"));
  const double rate = 20, burst = 4;
  struct Grant {
    std::int64_t at_us;
    int n;
  };
  std::mutex m;
  std::vector<Grant> grants;
  std::int64_t first_us = 0, last_us = 0;
  // Each of four takers (two per instance) asks for 3 tokens at a time until
  // the server's clock says 1.5 s passed since the first grant.
  auto taker = [&](store::FleetPermits* p) {
    for (;;) {
      const auto g = p->take_tokens("soap", rate, burst, 3);
      {
        std::lock_guard lock(m);
        if (g.granted > 0) grants.push_back({g.at_us, g.granted});
        if (!first_us) first_us = g.at_us;
        last_us = std::max(last_us, g.at_us);
        if (last_us - first_us > 1'500'000) return;
      }
      if (g.granted < 3) std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(g.wait_ms, 20)));
    }
  };
  std::vector<std::thread> threads;
  for (auto* p : {a.fleet_permits(), a.fleet_permits(), b.fleet_permits(), b.fleet_permits()})
    threads.emplace_back(taker, p);
  for (auto& t : threads) t.join();
  std::sort(grants.begin(), grants.end(), [](const Grant& x, const Grant& y) { return x.at_us < y.at_us; });
  REQUIRE(grants.size() >= 2);
  int total = 0;
  for (const auto& g : grants) total += g.n;
  // Something was granted beyond the first burst (the bucket refills) ...
  CHECK(total > burst);
  // ... and no window between two grants holds more than its share.
  for (std::size_t i = 0; i < grants.size(); ++i) {
    int sum = 0;
    for (std::size_t j = i; j < grants.size(); ++j) {
      sum += grants[j].n;
      const double allowed = burst + rate * static_cast<double>(grants[j].at_us - grants[i].at_us) / 1e6 + 1e-6;
      if (sum > allowed) FAIL("window " << i << ".." << j << ": " << sum << " tokens, allowed " << allowed);
    }
  }
}

TEST_CASE("a token bucket asked by several instances keeps one state: a grant by one is gone for the other") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore a(instance(conninfo, "a"));
  pg_store::PgStateStore b(instance(conninfo, "b"));
  // A slow rate: the full bucket (burst 5) is all there is for a while.
  const auto ga = a.fleet_permits()->take_tokens("soap", 0.01, 5, 4);
  CHECK(ga.granted == 4);
  const auto gb = b.fleet_permits()->take_tokens("soap", 0.01, 5, 4);
  CHECK(gb.granted == 1);
  const auto gc = b.fleet_permits()->take_tokens("soap", 0.01, 5, 4);
  CHECK(gc.granted == 0);
  CHECK(gc.wait_ms > 1000);  // the next token is about 100 s away
  // Without a rate there is no limit to share.
  CHECK(a.fleet_permits()->take_tokens("soap", 0, 0, 7).granted == 7);
}

TEST_CASE("connection slots are held under the state's lease, not a fixed 30 s") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  auto settings = instance(conninfo, "a");
  settings.lease = std::chrono::milliseconds(2'000);
  pg_store::PgStateStore a(settings);
  REQUIRE(a.fleet_permits());
  CHECK(a.fleet_permits()->slot_lease_ms() == 2'000);
  pg_store::PgStateStore b(instance(conninfo, "b"));
  REQUIRE(b.fleet_permits());
  CHECK(b.fleet_permits()->slot_lease_ms() == 30'000);  // the default lease
}
