// The state database's shared write lock and what it costs (store::write_lock_times,
// reportbridge_state_write_lock_*): every write transaction that takes it is
// counted with the time it waited and the time it held the lock, whether it
// commits or rolls back; a connection without the shared lock is not counted.
#include <catch2/catch.hpp>

#include <chrono>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bridge/store/sqlite.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge::store;
using reportbridge::testing::TempDir;

namespace {
WriteLockTimes since(const WriteLockTimes& before) {
  const WriteLockTimes now = write_lock_times();
  return {now.transactions - before.transactions, now.wait_seconds - before.wait_seconds,
          now.held_seconds - before.held_seconds};
}
}  // namespace

TEST_CASE("write transactions under the shared lock count their wait and their hold") {
  TempDir dir("rb-write-lock");
  const std::string path = (dir / "state.db").string();
  auto lock = std::make_shared<std::mutex>();
  Database a(path, Database::Mode::read_write_create);
  a.exec("PRAGMA journal_mode=WAL");
  a.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  Database b(path, Database::Mode::read_write);
  a.share_write_lock(lock);
  b.share_write_lock(lock);

  const WriteLockTimes before = write_lock_times();
  std::latch a_holds(1);
  std::thread holder([&] {
    Transaction tx(a);
    a.exec("INSERT INTO t (v) VALUES ('a')");
    a_holds.count_down();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    tx.commit();
  });
  a_holds.wait();
  {
    Transaction tx(b);  // waits for the holder's commit
    b.exec("INSERT INTO t (v) VALUES ('b')");
    tx.commit();
  }
  holder.join();
  const WriteLockTimes d = since(before);
  CHECK(d.transactions == 2);
  CHECK(d.held_seconds >= 0.3);   // the holder's 300 ms at least
  CHECK(d.wait_seconds >= 0.15);  // the second writer queued behind it
  CHECK(d.held_seconds < 30);

  SECTION("a transaction rolled back counts too, and lets the lock go") {
    const WriteLockTimes before_rollback = write_lock_times();
    {
      Transaction tx(a);
      a.exec("INSERT INTO t (v) VALUES ('rolled back')");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const WriteLockTimes r = since(before_rollback);
    CHECK(r.transactions == 1);
    CHECK(r.held_seconds >= 0.05);
    CHECK(lock->try_lock());
    lock->unlock();
    auto q = b.prepare("SELECT count(*) FROM t");
    REQUIRE(q.step());
    CHECK(q.int64(0) == 2);
  }
}

TEST_CASE("a connection without the shared lock is not counted") {
  TempDir dir("rb-write-lock");
  Database db((dir / "state.db").string(), Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  const WriteLockTimes before = write_lock_times();
  {
    Transaction tx(db);
    db.exec("INSERT INTO t DEFAULT VALUES");
    tx.commit();
  }
  CHECK(since(before).transactions == 0);
}
