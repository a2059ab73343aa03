// The PostgreSQL state store's own promises (issue #16): versioned
// migrations, connection settings (password from a secret file, sslmode),
// claims that never overlap between connections, fencing tokens.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "bridge/pg_store/pg_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;

namespace {

void enqueue(store::StateStore& s, const std::string& id, std::int64_t seq, const std::string& target) {
  testing::queue(s, {seq, id, 1, "2026-11-27T18:42:11Z", "{}"}, {{testing::ref_record(id, 1, target), {}}}, 1000);
}

std::unique_ptr<pg::Connection> connect_to(const std::string& conninfo) {
  return std::make_unique<pg::Connection>(conninfo + " sslmode=disable");
}


const store::RetryPolicy kRetry{3, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};
const store::WritebackRule kRule{"Passed on.", true};

}  // namespace

TEST_CASE("the schema is created by versioned migrations, once, and a newer one is refused") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  auto c = connect_to(conninfo);
  CHECK(pg_store::database_schema_version(*c) == 0);
  CHECK(pg_store::migrate(*c) == 0);
  CHECK(pg_store::database_schema_version(*c) == pg_store::schema_version());
  CHECK(pg_store::migrate(*c) == pg_store::schema_version());  // nothing left to do
  auto rows = c->exec("SELECT version, description FROM schema_version ORDER BY version");
  REQUIRE(rows.rows() == pg_store::schema_version());
  CHECK(rows.int64(0, 0) == 1);
  CHECK_FALSE(rows.text(0, 1).empty());

  // Instances starting together: each migrates under the lock, the schema is made once.
  const auto other = server->conninfo(server->create_database());
  std::vector<std::thread> starters;
  std::atomic<int> failures{0};
  for (int i = 0; i < 3; ++i)
    starters.emplace_back([&] {
      try {
        auto conn = connect_to(other);
        pg_store::migrate(*conn);
      } catch (...) {
        ++failures;
      }
    });
  for (auto& t : starters) t.join();
  CHECK(failures == 0);
  auto o = connect_to(other);
  CHECK(o->exec("SELECT count(*) FROM schema_version").int64(0, 0) == pg_store::schema_version());

  c->exec_script("INSERT INTO schema_version (version, description) VALUES (99, 'from the future')");
  CHECK_THROWS_WITH(pg_store::PgStateStore(connect_to(conninfo)), Catch::Contains("schema version 99"));
}

TEST_CASE("with state.migrate manual, an older schema is refused with the command to run") {
  PG_SERVER_OR_SKIP(server);
  pg_store::PgSettings s;
  s.conninfo = server->conninfo(server->create_database());
  s.sslmode = "disable";
  s.migrate_on_start = false;
  CHECK_THROWS_WITH(pg_store::PgStateStore(s), Catch::Contains("reportbridge state migrate"));
  s.migrate_on_start = true;
  pg_store::PgStateStore migrated(s);
  s.migrate_on_start = false;
  CHECK_NOTHROW(pg_store::PgStateStore(s));
}

TEST_CASE("the password comes from a secret file, never from the connection string") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  pg_store::PgSettings s;
  s.conninfo = server->tcp_conninfo(server->create_database());
  s.sslmode = "disable";
  // TCP needs the password: without it the server refuses.
  CHECK_THROWS_AS(pg_store::PgStateStore(s), pg::PgError);
  testing::write_secret_file(dir / "pgpass", testing::PgServer::password() + "\n");
  s.password_file = dir / "pgpass";
  pg_store::PgStateStore store(s);
  CHECK(store.ledger_count() == 0);
  // A file others may read is refused (the one rule for secret files), naming the file, not the secret.
  ::chmod((dir / "pgpass").c_str(), 0644);
  try {
    pg_store::PgStateStore refused(s);
    FAIL("a world-readable password file was accepted");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("pgpass") != std::string::npos);
    CHECK(std::string(e.what()).find(testing::PgServer::password()) == std::string::npos);
  }
}

TEST_CASE("a multi-host conninfo with target_session_attrs reaches the writable server past a dead host") {
  // What force IT use for failover without a virtual IP: libpq tries each
  // host in turn and keeps the first that accepts writes. The bridge passes
  // every conninfo keyword through, so the first host being down (a failed
  // primary) is not an outage.
  PG_SERVER_OR_SKIP(server);
  const auto db = server->create_database();
  pg_store::PgSettings s;
  s.conninfo = "host=" + (server->dir() / "gone").string() + "," + server->dir().string() +
               " port=" + std::to_string(server->port()) + "," + std::to_string(server->port()) + " dbname=" + db +
               " user=postgres target_session_attrs=read-write";
  s.sslmode = "disable";
  auto c = pg_store::connect(s);
  CHECK(c->exec("SELECT current_database()").text(0, 0) == db);
  CHECK(c->exec("SELECT pg_is_in_recovery()::text").text(0, 0) == "false");
  // The keyword is honoured, not dropped: asking for a read-only session of a
  // primary finds no host. That is what a failover under way looks like (no
  // host takes writes yet), so it is an outage to wait out, not a failure.
  s.conninfo = server->conninfo(db) + " target_session_attrs=read-only";
  CHECK_THROWS_AS(pg_store::connect(s), store::StateUnavailable);
  CHECK_THROWS_WITH(pg_store::connect(s), Catch::Contains("read-only"));
  // The daemon's store opens on the same settings.
  s.conninfo = "host=" + (server->dir() / "gone").string() + "," + server->dir().string() +
               " port=" + std::to_string(server->port()) + "," + std::to_string(server->port()) + " dbname=" + db +
               " user=postgres target_session_attrs=read-write";
  pg_store::PgStateStore store(s);
  CHECK(store.ledger_count() == 0);
}

TEST_CASE("the password comes from a systemd credential") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  testing::write_secret_file(dir / "pg-password", testing::PgServer::password());
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  pg_store::PgSettings s;
  s.conninfo = server->tcp_conninfo(server->create_database());
  s.sslmode = "disable";
  s.password_credential = "pg-password";
  CHECK_NOTHROW(pg_store::PgStateStore(s));
  s.password_credential = "../pg-password";
  CHECK_THROWS_WITH(pg_store::PgStateStore(s), Catch::Contains("plain credential name"));
  ::unsetenv("CREDENTIALS_DIRECTORY");
}

TEST_CASE("sslmode is honoured: TLS required of a server without it is a refusal, not a silent fallback") {
  PG_SERVER_OR_SKIP(server);
  testing::TempDir dir;
  testing::write_secret_file(dir / "pgpass", testing::PgServer::password());
  pg_store::PgSettings s;
  s.conninfo = server->tcp_conninfo(server->create_database());
  s.password_file = dir / "pgpass";
  s.sslmode = "require";  // the test server has no TLS
  CHECK_THROWS_WITH(pg_store::PgStateStore(s), Catch::Contains("SSL"));
  s.sslmode = "verify-full";  // the default
  CHECK_THROWS_AS(pg_store::PgStateStore(s), pg::PgError);
  CHECK(pg_store::full_conninfo(s).find("sslmode='verify-full'") != std::string::npos);
  CHECK(pg_store::full_conninfo(s).find(testing::PgServer::password()) == std::string::npos);
}

TEST_CASE("two connections claiming the same target never take the same item") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore writer(connect_to(conninfo));
  for (int i = 0; i < 200; ++i) enqueue(writer, "s" + std::to_string(i), i + 1, "csv");
  std::vector<std::set<std::int64_t>> seen(3);
  std::vector<std::thread> claimers;
  for (int k = 0; k < 3; ++k)
    claimers.emplace_back([&, k] {
      pg_store::PgStateStore s(connect_to(conninfo));
      while (auto b = s.claim_batch("csv", 7, 2000)) {
        for (const auto& item : b->items) seen[k].insert(item.outbox_id);
        s.settle_batch(*b, std::vector<core::DeliveryOutcome>(b->items.size(), core::DeliveryOutcome::ok()), 2000,
                       kRetry, kRule);
      }
    });
  for (auto& t : claimers) t.join();
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (const auto& s : seen) {
    total += s.size();
    all.insert(s.begin(), s.end());
  }
  CHECK(total == 200);
  CHECK(all.size() == 200);  // nothing twice
  auto counts = writer.target_counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].delivered == 200);
  CHECK(writer.pending_writeback_count() == 200);
}

TEST_CASE("a claim carries a fencing token, an outcome under a stale token is refused") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  pg_store::PgStateStore s(connect_to(conninfo));
  enqueue(s, "a", 1, "rms");
  enqueue(s, "b", 2, "rms");
  auto first = s.claim_batch("rms", 1, 2000);
  auto second = s.claim_batch("rms", 1, 2000);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->fence > 0);
  CHECK(second->fence > first->fence);
  CHECK(first->key != second->key);
  auto stale = *first;
  stale.fence = first->fence - 1;  // as if another instance had taken the batch over since
  CHECK_THROWS_AS(s.settle_batch(stale, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule), store::LeaseLost);
  CHECK(s.target_counts()[0].delivered == 0);  // nothing recorded
  s.settle_batch(*first, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule);
  CHECK(s.target_counts()[0].delivered == 1);
}

TEST_CASE("an error names the statement, never the values bound to it") {
  PG_SERVER_OR_SKIP(server);
  auto c = connect_to(server->conninfo(server->create_database()));
  try {
    c->exec("SELECT $1::bigint", pg::Params().add("resident-name-not-a-number"));
    FAIL("no error");
  } catch (const pg::PgError& e) {
    CHECK(e.sqlstate() == "22P02");
    CHECK(std::string(e.what()).find("SELECT $1::bigint") != std::string::npos);
    CHECK(std::string(e.what()).find("resident-name") == std::string::npos);
  }
}

TEST_CASE("a batch whose lease ran out is taken over by another instance, the first one's outcome is refused") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  const auto lease = std::chrono::milliseconds(400);
  pg_store::PgStateStore a(connect_to(conninfo), "a", lease);
  pg_store::PgStateStore b(connect_to(conninfo), "b", lease);
  enqueue(a, "x", 1, "csv");
  enqueue(a, "y", 2, "csv");
  auto held = a.claim_batch("csv", 10, 2000);
  REQUIRE(held);
  REQUIRE(held->items.size() == 2);
  // While a's lease holds, b neither sees nor takes the batch.
  CHECK(b.pending_summary("csv", 2000, 10).ready == 0);
  CHECK(b.claim_batch("csv", 10, 2000) == std::nullopt);
  CHECK(b.open_batches("csv").empty());
  std::this_thread::sleep_for(lease + std::chrono::milliseconds(200));
  CHECK(b.pending_summary("csv", 2000, 10).ready > 0);
  auto taken = b.claim_batch("csv", 10, 2000);
  REQUIRE(taken);
  CHECK(taken->key == held->key);  // delivered again under its key: the sink recognises it
  CHECK(taken->fence > held->fence);
  REQUIRE(taken->items.size() == 2);
  for (const auto& item : taken->items) CHECK(item.in_doubt);
  CHECK(b.claim_batch("csv", 10, 2000) == std::nullopt);  // taken once
  // a comes back (it was paused): it cannot record the batch it no longer holds.
  CHECK_THROWS_AS(a.settle_batch(*held, {core::DeliveryOutcome::ok(), core::DeliveryOutcome::ok()}, 2000, kRetry, kRule),
                  store::LeaseLost);
  b.settle_batch(*taken, {core::DeliveryOutcome::ok(), core::DeliveryOutcome::ok()}, 2000, kRetry, kRule);
  CHECK(b.target_counts().at(0).delivered == 2);
  CHECK(b.pending_writeback_count() == 2);  // each status once
}

TEST_CASE("a batch being delivered keeps its lease: renewed under the same token, not taken over, lost once it is") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  const auto lease = std::chrono::milliseconds(1500);
  pg_store::PgSettings settings;
  settings.conninfo = conninfo;
  settings.sslmode = "disable";
  settings.instance = "a";
  settings.lease = lease;
  pg_store::PgStateStore a(settings);
  pg_store::PgStateStore b(connect_to(conninfo), "b", lease);
  pg::Connection db(conninfo + " sslmode=disable");
  auto row = [&](std::int64_t id) {
    return db.exec("SELECT fence, lease_until_ms FROM delivery_batches WHERE id = $1", pg::Params().add(id));
  };
  enqueue(a, "x", 1, "csv");
  auto held = a.claim_batch("csv", 10, 2000);
  REQUIRE(held);
  const auto until_at_claim = row(held->id).int64(0, 1);
  {
    auto kept = a.keep_lease(*held);
    REQUIRE(kept);
    // Three leases long, the delivery goes on: the lease moves on, the token stays.
    REQUIRE(reportbridge::testing::wait_until([&] { return row(held->id).int64(0, 1) > until_at_claim + 2 * lease.count(); },
                              std::chrono::seconds(60)));
    CHECK(row(held->id).int64(0, 0) == held->fence);
    CHECK(b.claim_batch("csv", 10, 2000) == std::nullopt);
    CHECK(b.open_batches("csv").empty());
    CHECK_FALSE(kept->lost());
    a.settle_batch(*held, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule);
    CHECK(b.target_counts().at(0).delivered == 1);
  }
  // Renewal stops with the delivery; a batch taken over (here: its token
  // moved on, as another instance's claim does) is lost and not recorded.
  enqueue(a, "y", 2, "csv");
  auto second = a.claim_batch("csv", 10, 2000);
  REQUIRE(second);
  auto kept = a.keep_lease(*second);
  db.exec("UPDATE delivery_batches SET fence = nextval('fencing_tokens'), owner = 'b' WHERE id = $1",
          pg::Params().add(second->id));
  CHECK(reportbridge::testing::wait_until([&] { return kept->lost(); }, std::chrono::seconds(60)));
  CHECK_THROWS_AS(a.settle_batch(*second, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule), store::LeaseLost);
}

TEST_CASE("a restarted instance takes its own open batches back at once, another's wait for their lease") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  {
    pg_store::PgStateStore a(connect_to(conninfo), "a", std::chrono::seconds(60));
    enqueue(a, "x", 1, "csv");
    REQUIRE(a.claim_batch("csv", 10, 2000));
  }
  pg_store::PgStateStore other(connect_to(conninfo), "b", std::chrono::seconds(60));
  CHECK(other.open_batches("csv").empty());
  pg_store::PgStateStore again(connect_to(conninfo), "a", std::chrono::seconds(60));
  auto open = again.open_batches("csv");
  REQUIRE(open.size() == 1);
  CHECK(open[0].items.size() == 1);
}

TEST_CASE("one instance ingests at a time, the ingest lease passes on once it ran out") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  const auto lease = std::chrono::milliseconds(1000);
  pg_store::PgStateStore a(connect_to(conninfo), "a", lease);
  pg_store::PgStateStore b(connect_to(conninfo), "b", lease);
  {
    auto tx = a.begin_ingest();
    tx->save_cursor("app", {10, {}});
    tx->commit();
  }
  CHECK_THROWS_AS(b.begin_ingest(), store::LeaseLost);
  { auto renewed = a.begin_ingest(); renewed->commit(); }
  std::this_thread::sleep_for(lease + std::chrono::milliseconds(300));
  {
    auto tx = b.begin_ingest();  // a's lease ran out: b ingests now
    tx->save_cursor("app", {20, {}});
    tx->commit();
  }
  CHECK_THROWS_AS(a.begin_ingest(), store::LeaseLost);
  CHECK(a.load_cursor("app").high_water == 20);
}

TEST_CASE("an instance paused inside its ingest transaction past its lease records nothing") {
  PG_SERVER_OR_SKIP(server);
  const auto conninfo = server->conninfo(server->create_database());
  const auto lease = std::chrono::milliseconds(1000);
  pg_store::PgStateStore a(connect_to(conninfo), "a", lease);
  pg_store::PgStateStore b(connect_to(conninfo), "b", lease);
  auto paused = a.begin_ingest();
  CHECK(paused->claim_version({1, "x", 1, "2026-11-27T18:42:11Z", "{}"}, "h", 1000));
  // (SIGSTOP, a VM freeze): the server ends the idle transaction once the lease has run out.
  std::this_thread::sleep_for(lease + std::chrono::milliseconds(700));
  {
    auto tx = b.begin_ingest();
    CHECK(tx->claim_version({1, "x", 1, "2026-11-27T18:42:11Z", "{}"}, "h", 1000));  // b ingests it, once
    tx->commit();
  }
  CHECK_THROWS(paused->commit());
  paused.reset();
  CHECK(b.ledger_count() == 1);
  CHECK(a.ledger_count() == 1);  // a's connection is made again for its next operation
}
