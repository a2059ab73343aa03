// The real binary on the PostgreSQL state (issue #16), against a real server
// started for this executable (tests/support/pg_server.hpp): exactly once at
// the drop under kill -9, `status`, `state migrate`, `state copy` from a
// SQLite deployment, and the config's rules for the new keys.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/guardian_soap.hpp"
#include "tests/integration/harness.hpp"
#include "bridge/pg_store/pg.hpp"
#include "tests/support/pg_server.hpp"

using namespace reportbridge::testing;

namespace {

std::string pg_state(PgServer& server, const std::string& database) {
  return "state:\n  type: postgresql\n  conninfo: \"" + server.conninfo(database) +
         "\"\n  sslmode: disable\n  local_dir: local\n";
}

// The installation's config with its `state:` section replaced.
void use_state(const Installation& inst, const std::string& state_yaml) {
  std::string cfg = read_file(inst.config);
  const auto end = cfg.find("source:");
  write_file(inst.config, state_yaml + cfg.substr(end));
}

// A config of its own for instance `name` of a fleet on `database`: the
// installation's config with its state on PostgreSQL, leases of `lease`.
std::string instance_config(const Installation& inst, PgServer& server, const std::string& database,
                            const std::string& name, const std::string& lease) {
  const std::string base = read_file(inst.config);
  const std::string file = (inst.dir / ("config-" + name + ".yaml")).string();
  write_file(file, "state:\n  type: postgresql\n  conninfo: \"" + server.conninfo(database) +
                       "\"\n  sslmode: disable\n  instance: " + name + "\n  lease: " + lease + "\n  local_dir: local-" +
                       name + "\n" + base.substr(base.find("source:")));
  return file;
}

pid_t spawn_instance(const Installation& inst, const std::string& config, const std::string& name) {
  return spawn_process({REPORTBRIDGE_BINARY, "run", "--config", config, "--log-level", "warn"},
                       (inst.dir / ("out-" + name + ".log")).string(), (inst.dir / ("err-" + name + ".log")).string());
}

std::set<std::string> valid_keys(const Installation& inst) {
  std::set<std::string> expected;
  std::ifstream truth(inst.dir / "truth.jsonl");
  std::string line;
  while (std::getline(truth, line)) {
    auto v = boost::json::parse(line).as_object();
    if (v["valid"].as_bool())
      expected.insert(std::string(v["id"].as_string()) + "," +
                      std::to_string(v["version"].to_number<std::int64_t>()));
  }
  return expected;
}

void check_exactly_once(const Installation& inst, const std::set<std::string>& expected) {
  auto rows = inst.published();
  std::size_t duplicates = 0, missing = 0, unexpected = 0;
  for (const auto& [key, n] : rows) {
    if (n > 1) ++duplicates;
    if (!expected.count(key)) ++unexpected;
  }
  for (const auto& key : expected)
    if (!rows.count(key)) ++missing;
  CHECK(duplicates == 0);
  CHECK(missing == 0);
  CHECK(unexpected == 0);
}

// Rows in a fleet database's ledger (0 before the first instance made the schema).
std::int64_t ledger_rows(reportbridge::pg::Connection& db) {
  auto r = db.exec("SELECT count(*) FROM pg_tables WHERE tablename = 'ledger'");
  return r.int64(0, 0) == 0 ? 0 : db.exec("SELECT count(*) FROM ledger").int64(0, 0);
}

// The instance holding a fleet database's ingest lease.
std::string ingest_holder(reportbridge::pg::Connection& db) {
  return db.exec("SELECT holder FROM leases WHERE name = 'ingest'").text(0, 0);
}

// Waits until the daemon's err.log says the state database is unavailable
// (when it notices depends on the machine's load, not on the test).
bool outage_logged(const Installation& inst, std::chrono::seconds timeout) {
  const auto log = inst.dir / "err.log";
  return wait_until(
      [&] { return std::filesystem::exists(log) && read_file(log).find("state database unavailable") != std::string::npos; },
      timeout);
}

}  // namespace

TEST_CASE("postgresql state: kill -9 at any moment, every valid submission is in the drop exactly once") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  use_state(inst, pg_state(*server, server->create_database()));
  auto gen = inst.generate(3000, 7);
  REQUIRE(gen.exit_code == 0);
  const auto expected = valid_keys(inst);
  REQUIRE(expected.size() > 2000);

  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);

  // Each run is killed a random moment after it delivered something (a fixed
  // delay would, on a loaded machine, kill every run before its first
  // delivery and test nothing): the kills land mid-delivery whatever the speed.
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> wait_ms(0, 300);
  int kills = 0, mid_delivery = 0;
  for (int round = 0; round < 12 && inst.published().size() < expected.size(); ++round) {
    const auto before = inst.published().size();
    pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                              (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
    wait_until([&] { return inst.published().size() > before; }, std::chrono::seconds(120));
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    const auto at_kill = inst.published().size();
    kill(pid, SIGKILL);
    if (wait_process(pid).signal == SIGKILL) {
      ++kills;
      mid_delivery += at_kill > 0 && at_kill < expected.size();
    }
  }
  std::printf("postgresql crash test: %d SIGKILLs (%d mid-delivery), %zu of %zu rows published before the final run\n",
              kills, mid_delivery, inst.published().size(), expected.size());
  CHECK(mid_delivery >= 1);
  auto final_run = inst.bridge({"once", "--log-level", "warn"});
  INFO(final_run.err << read_file(inst.dir / "err.log"));
  REQUIRE(final_run.exit_code == 0);
  check_exactly_once(inst, expected);
  CHECK(inst.published().size() == expected.size());
  // Every submission's status reached the app.
  auto statuses = inst.statuses();
  std::int64_t ids = 0;
  {
    sqlite3* db = nullptr;
    sqlite3_open_v2(inst.store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(DISTINCT id) FROM submissions", -1, &st, nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) ids = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  CHECK(static_cast<std::int64_t>(statuses.size()) == ids);
  std::size_t forwarded = 0;
  for (const auto& [id, state] : statuses) forwarded += state == "forwarded";
  CHECK(forwarded > 1900);

  auto status = inst.bridge({"status"});
  INFO(status.out << status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("processed: 3000 submission version(s)") != std::string::npos);
  CHECK(status.out.find("write-back: 0 status(es) pending") != std::string::npos);
  // Local files (the audit trail) went to state.local_dir.
  CHECK(std::filesystem::exists(inst.dir / "local" / "audit"));
}

TEST_CASE("postgresql state: state migrate, and a SQLite deployment moved with state copy carries on") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  REQUIRE(inst.generate(400, 11).exit_code == 0);
  auto first = inst.bridge({"once", "--log-level", "warn"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const auto published_before = inst.published().size();
  REQUIRE(published_before > 250);

  // The PostgreSQL config, next to the SQLite one.
  const std::string database = server->create_database();
  const std::string sqlite_config = read_file(inst.config);
  use_state(inst, pg_state(*server, database));
  auto migrate = inst.bridge({"state", "migrate"});
  // (`state` takes its own --config, appended by bridge())
  INFO(migrate.out << migrate.err);
  CHECK(migrate.exit_code == 0);
  CHECK(migrate.out.find("migrated from version 0 to") != std::string::npos);
  auto again = inst.bridge({"state", "migrate"});
  CHECK(again.out.find("up to date") != std::string::npos);

  auto copy = run_process({REPORTBRIDGE_BINARY, "state", "copy", "--from",
                           "sqlite:" + (inst.dir / "state" / "state.db").string(), "--to", inst.config});
  INFO(copy.out << copy.err);
  REQUIRE(copy.exit_code == 0);
  CHECK(copy.out.find("verified and committed") != std::string::npos);
  CHECK(copy.out.find("ledger                    400 -> 400") != std::string::npos);
  auto refused = run_process({REPORTBRIDGE_BINARY, "state", "copy", "--from",
                              "sqlite:" + (inst.dir / "state" / "state.db").string(), "--to", inst.config});
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("--replace") != std::string::npos);

  // On PostgreSQL: nothing already processed is sent again; new rows are.
  for (int n = 0; n < 20; ++n)
    insert_submission(inst.store, 1'000'000 + n, test_id(90'000 + n), 1, valid_payload(test_id(90'000 + n)));
  auto second = inst.bridge({"once", "--log-level", "warn"});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  const auto rows = inst.published();
  CHECK(rows.size() == published_before + 20);
  for (const auto& [key, n] : rows) CHECK(n == 1);
  for (int n = 0; n < 20; ++n) CHECK(rows.count(test_id(90'000 + n) + ",1") == 1);
  auto status = inst.bridge({"status"});
  INFO(status.out);
  CHECK(status.out.find("processed: 420 submission version(s)") != std::string::npos);
  (void)sqlite_config;
}

TEST_CASE("postgresql state: the config refuses a password in conninfo and a missing key, and takes dedup") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  use_state(inst, "state:\n  type: postgresql\n  conninfo: \"host=db1 password=hunter2\"\n  local_dir: local\n");
  auto check = inst.bridge({"check"});
  CHECK(check.exit_code == 3);
  CHECK(check.out.find("config.yaml:3:") != std::string::npos);
  CHECK(check.out.find("must not hold 'password'") != std::string::npos);
  CHECK(check.out.find("hunter2") == std::string::npos);

  use_state(inst, "state:\n  type: postgresql\n  path: state.db\n");
  check = inst.bridge({"check"});
  CHECK(check.exit_code == 3);
  CHECK(check.out.find("needs 'conninfo'") != std::string::npos);
  CHECK(check.out.find("'path' applies to type sqlite only") != std::string::npos);

  write_file(inst.dir / "pgpass", "secret\n");
  ::chmod((inst.dir / "pgpass").c_str(), 0644);
  use_state(inst, pg_state(*server, server->create_database()) + "  password_file: pgpass\n");
  check = inst.bridge({"check"});
  CHECK(check.exit_code == 3);
  CHECK(check.out.find("config.yaml:6:") != std::string::npos);
  CHECK(check.out.find("pgpass") != std::string::npos);

  use_state(inst, pg_state(*server, server->create_database()));
  inst.append_config("dedup:\n  enabled: true\n");
  check = inst.bridge({"check"});
  INFO(check.out);
  CHECK(check.exit_code == 0);  // deduplication keeps its history in the fleet's database
}

TEST_CASE("postgresql state: dedup sees every instance's history: a double tap another instance ingests is a duplicate") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  inst.append_config("dedup: {}\n");
  create_app_store(inst.store);
  const std::string database = server->create_database();
  const auto a = instance_config(inst, *server, database, "a", "1s");
  const auto b = instance_config(inst, *server, database, "b", "1s");
  auto once = [&](const std::string& config) {
    return run_process({REPORTBRIDGE_BINARY, "once", "--config", config, "--log-level", "info"});
  };
  insert_submission_received(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)), "2026-11-27T18:42:11Z");
  auto first = once(a);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  insert_submission_received(inst.store, 2, test_id(2), 1, valid_payload(test_id(2)), "2026-11-27T18:42:15Z");
  insert_submission_received(inst.store, 3, test_id(3), 1,
                             valid_payload(test_id(3), 1, "information", "Abandoned car on the verge"),
                             "2026-11-27T18:42:16Z");
  // Instance b ingests the copy (once a's ingest lease has run out).
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto second = once(b);
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("duplicates=1") != std::string::npos);
  CHECK(inst.published() == std::map<std::string, int>{{test_id(1) + ",1", 1}, {test_id(3) + ",1", 1}});
  auto st = inst.statuses();
  CHECK(st[test_id(2)] == "duplicate");
  CHECK(st[test_id(3)] == "forwarded");
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  CHECK(db.exec("SELECT of_id FROM dedup_verdicts WHERE id = $1", reportbridge::pg::Params().add(test_id(2)))
            .text(0, 0) == test_id(1));
  // Any instance tells the story.
  auto show = run_process({REPORTBRIDGE_BINARY, "audit", "show", "--submission", test_id(2), "--config", b});
  INFO(show.out);
  CHECK(show.out.find("duplicate.fingerprint") != std::string::npos);
}

TEST_CASE("postgresql state: three instances on one store and one database, one SIGKILLed: each version once") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  REQUIRE(inst.generate(3000, 21).exit_code == 0);
  const auto generated = valid_keys(inst);
  const std::string database = server->create_database();
  std::vector<pid_t> pids;
  for (const char* name : {"a", "b", "c"})
    pids.push_back(spawn_instance(inst, instance_config(inst, *server, database, name, "2s"), name));
  // The instance that ingests dies mid-work (kill -9: its leases are left to
  // run out); another takes ingest and its open batches over.
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  auto ledger = [&] { return ledger_rows(db); };
  // Generous deadlines: on a loaded 2-core machine three instances and the
  // server share the CPU with other tests. What is asserted is what must hold,
  // not how fast.
  REQUIRE(wait_until([&] { return ledger() > 0; }, std::chrono::seconds(180)));
  const std::string holder = ingest_holder(db);
  const std::size_t victim = static_cast<std::size_t>(holder[0] - 'a');
  REQUIRE(victim < pids.size());
  const auto ingested_at_kill = ledger();
  kill(pids[victim], SIGKILL);
  CHECK(wait_process(pids[victim]).signal == SIGKILL);
  std::printf("three instances: killed %s holding the ingest lease at %lld of 3000 ingested\n", holder.c_str(),
              static_cast<long long>(ingested_at_kill));
  // Whether or not the victim had ingested everything when it died (that
  // depends on the machine's speed), rows added now can only reach the drop
  // if another instance takes the ingest lease over.
  auto expected = generated;
  for (int n = 0; n < 30; ++n) {
    insert_submission(inst.store, 2'000'000 + n, test_id(80'000 + n), 1, valid_payload(test_id(80'000 + n)));
    expected.insert(test_id(80'000 + n) + ",1");
  }
  const bool all = wait_until([&] { return inst.published().size() >= expected.size(); }, std::chrono::seconds(300));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // anything published twice would show now
  CHECK(ledger() == 3030);
  CHECK(ingest_holder(db) != holder);
  for (std::size_t i = 0; i < pids.size(); ++i) {
    if (i == victim) continue;
    kill(pids[i], SIGTERM);
    auto r = wait_process_for(pids[i], std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  INFO(read_file(inst.dir / "err-a.log") << read_file(inst.dir / "err-b.log") << read_file(inst.dir / "err-c.log"));
  CHECK(all);
  check_exactly_once(inst, expected);
  CHECK(inst.published().size() == expected.size());
}

TEST_CASE("postgresql state: the database restarts mid-run, the daemon pauses, reconnects and loses nothing") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  use_state(inst, pg_state(*server, server->create_database()));
  REQUIRE(inst.generate(3000, 31).exit_code == 0);
  const auto expected = valid_keys(inst);
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  REQUIRE(wait_until([&] { return inst.published().size() > 100; }, std::chrono::seconds(180)));
  // Down like a crash, and kept down until the daemon has seen it gone (how
  // soon it notices depends on the machine's load, not on this test).
  server->stop();
  const bool seen = outage_logged(inst, std::chrono::seconds(180));
  server->start_again();
  const bool all = wait_until([&] { return inst.published().size() >= expected.size(); }, std::chrono::seconds(300));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(pid, SIGTERM);
  auto r = wait_process_for(pid, std::chrono::seconds(120));
  const std::string err = read_file(inst.dir / "err.log");
  INFO(err);
  REQUIRE(r);
  CHECK(r->exit_code == 0);  // it never gave up
  CHECK(all);
  check_exactly_once(inst, expected);
  CHECK(seen);  // the outage was seen (logged) and ridden out
}

TEST_CASE("postgresql state: a delivery longer than the lease keeps its batch (renewed): no takeover, nothing twice") {
  PG_SERVER_OR_SKIP(server);
  ServerProcess target({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(kGuardianMapping, guardian_target(target.port(), "    read_timeout: 30s\n    request_timeout: 40s\n"
                                                                     "    batch_size: 40\n    batch_wait: 50ms\n"));
  REQUIRE(inst.generate(20, 5).exit_code == 0);
  const auto expected = valid_keys(inst);
  // The first create waits 8 s at the target (four leases of 2 s), then commits and answers.
  control(target, "slow_next=1&ms=8000&ops=create");
  const std::string database = server->create_database();
  const pid_t a = spawn_instance(inst, instance_config(inst, *server, database, "a", "2s"), "a");
  const pid_t b = spawn_instance(inst, instance_config(inst, *server, database, "b", "2s"), "b");
  use_state(inst, pg_state(*server, database));  // `status` (outbox_states) from any instance
  auto versions_at = [](const boost::json::value& d) {
    std::int64_t versions = 0;
    for (const auto& rec : d.at("records").as_array())
      versions += static_cast<std::int64_t>(rec.at("versions").as_array().size());
    return versions;
  };
  std::map<std::string, std::int64_t> states;
  const bool done = wait_until(
      [&] {
        states = outbox_states(inst);
        return states["delivered"] >= static_cast<std::int64_t>(expected.size()) && states["pending"] == 0 &&
               states["in_flight"] == 0 && versions_at(dump(target)) >= static_cast<std::int64_t>(expected.size());
      },
      std::chrono::seconds(180));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (pid_t pid : {a, b}) {
    kill(pid, SIGTERM);
    auto r = wait_process_for(pid, std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  const std::string logs = read_file(inst.dir / "err-a.log") + read_file(inst.dir / "err-b.log");
  auto d = dump(target);
  INFO(logs << boost::json::serialize(d.at("calls")) << " " << boost::json::serialize(d.at("outcomes")));
  INFO(states["delivered"] << " delivered, " << states["pending"] << " pending, " << states["in_flight"]
                            << " in flight of " << expected.size());
  CHECK(done);
  CHECK(d.at("outcomes").at("slow").to_number<std::int64_t>() == 1);  // the call did outlast the lease
  // Nobody took the batch over: no item was ever in doubt (a takeover looks
  // each one up at the target first), and neither instance lost a batch.
  CHECK(d.at("calls").at("FindByExternalReference").to_number<std::int64_t>() == 0);
  CHECK(logs.find("taken over") == std::string::npos);
  CHECK(logs.find("no longer held") == std::string::npos);
  CHECK(d.at("duplicates").as_object().empty());
  CHECK(d.at("repeated_versions").as_object().empty());
  // Every valid version at the target, once.
  CHECK(versions_at(d) == static_cast<std::int64_t>(expected.size()));
  CHECK(states["delivered"] == static_cast<std::int64_t>(expected.size()));
}

TEST_CASE("postgresql state: once waits for a database that is down at start (--state-wait), then loses nothing") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  use_state(inst, pg_state(*server, server->create_database()));
  REQUIRE(inst.generate(500, 41).exit_code == 0);
  const auto expected = valid_keys(inst);
  server->stop();
  // No wait allowed, or a short one: a clear failure, nothing delivered.
  auto at_once = inst.bridge({"once", "--state-wait", "0"});
  CHECK(at_once.exit_code == 1);
  CHECK((at_once.out + at_once.err).find("the PostgreSQL state database is unavailable") != std::string::npos);
  auto short_wait = inst.bridge({"once", "--state-wait", "2s"});
  INFO(short_wait.out << short_wait.err);
  CHECK(short_wait.exit_code == 1);
  CHECK((short_wait.out + short_wait.err).find("state database unavailable, next try in") != std::string::npos);
  CHECK(inst.published().empty());
  // The default wait: the server comes back while `once` waits for it.
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "once", "--config", inst.config},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  const bool seen = outage_logged(inst, std::chrono::seconds(180));
  server->start_again();
  auto r = wait_process_for(pid, std::chrono::seconds(300));
  INFO(read_file(inst.dir / "err.log"));
  REQUIRE(r);
  CHECK(seen);
  CHECK(r->exit_code == 0);
  check_exactly_once(inst, expected);
  CHECK(inst.published().size() == expected.size());
}

TEST_CASE("postgresql state: run started while the database is down is live, not ready, then ready and loses nothing") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  use_state(inst, pg_state(*server, server->create_database()));
  const int port = free_tcp_port();
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(port) + "\"}\n");
  REQUIRE(inst.generate(500, 43).exit_code == 0);
  const auto expected = valid_keys(inst);
  server->stop();
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "info"},
                                   (inst.dir / "out.log").string(), (inst.dir / "err.log").string(),
                                   {{"NOTIFY_SOCKET", notify.path().string()}});
  // Live and saying why it is not ready, while the server is down (the old
  // daemon exited 1 here, so nothing answered at all).
  HttpResponse ready;
  const bool not_ready_seen = wait_until(
      [&] {
        ready = http_get(port, "/readyz");
        return ready.status == 503 && ready.body.find("state database unavailable") != std::string::npos;
      },
      std::chrono::seconds(120));
  INFO(read_file(inst.dir / "err.log"));
  REQUIRE(not_ready_seen);
  CHECK(http_get(port, "/healthz").status == 200);
  // Under systemd: started (so TimeoutStartSec does not end it), saying what it waits for.
  CHECK(notify.wait_for("READY=1", std::chrono::seconds(30)));
  CHECK(notify.wait_for("waiting for the state database", std::chrono::seconds(30)));
  CHECK(outage_logged(inst, std::chrono::seconds(60)));
  CHECK(inst.published().empty());
  // The server comes: ready, and every valid version delivered once.
  server->start_again();
  CHECK(wait_until([&] { return http_get(port, "/readyz").status == 200; }, std::chrono::seconds(180)));
  const bool all = wait_until([&] { return inst.published().size() >= expected.size(); }, std::chrono::seconds(300));
  kill(pid, SIGTERM);
  auto r = wait_process_for(pid, std::chrono::seconds(120));
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(all);
  check_exactly_once(inst, expected);
}

// `systemctl stop` of a bridge whose database is down: the wait ends at once,
// exit 0 (before, SIGTERM found no handler yet and ended the process by the
// signal, exit status 143 in a shell).
TEST_CASE("postgresql state: SIGTERM while waiting for the database at start stops at once, exit 0") {
  Installation inst;
  const int db_port = free_tcp_port();  // nothing listens there
  use_state(inst, "state:\n  type: postgresql\n  conninfo: \"host=127.0.0.1 port=" + std::to_string(db_port) +
                      " dbname=reportbridge user=reportbridge\"\n  sslmode: disable\n  local_dir: local\n");
  create_app_store(inst.store);
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "info"},
                                   (inst.dir / "out.log").string(), (inst.dir / "err.log").string(),
                                   {{"NOTIFY_SOCKET", notify.path().string()}});
  CHECK(notify.wait_for("waiting for the state database", std::chrono::seconds(30)));
  REQUIRE(outage_logged(inst, std::chrono::seconds(60)));
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  auto r = wait_process_for(pid, std::chrono::seconds(20));
  const auto took = std::chrono::steady_clock::now() - sent;
  const std::string err = read_file(inst.dir / "err.log");
  INFO(err);
  REQUIRE(r);
  CHECK(r->signal == 0);
  CHECK(r->exit_code == 0);
  CHECK(took < std::chrono::seconds(5));  // not the next try of the backoff (up to 15 s)
  CHECK(err.find("signal received while waiting for the state database") != std::string::npos);
  CHECK(notify.wait_for("STOPPING=1", std::chrono::seconds(5)));
}

// Issue #16: "A paused instance (SIGSTOP past its lease, then SIGCONT)
// publishes nothing twice." The instance is stopped in the middle of a batch
// to a SOAP target (every call takes 250 ms, one connection: a batch of 20
// takes about 5 s), kept stopped until the other instance has taken the batch
// over, then let go. What it sent before the pause is in doubt for the other
// one (looked up, not sent again); what it had not sent yet it must not send
// after it comes back, and what it finishes it must not record.
TEST_CASE("postgresql state: an instance paused past its lease mid-delivery (SIGSTOP, then SIGCONT) sends nothing twice") {
  PG_SERVER_OR_SKIP(server);
  ServerProcess target({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(kGuardianMapping,
                    guardian_target(target.port(), "    read_timeout: 30s\n    request_timeout: 40s\n"
                                                   "    settle_time: 1s\n    max_connections: 1\n"
                                                   "    batch_size: 20\n    batch_wait: 50ms\n"));
  REQUIRE(inst.generate(60, 11).exit_code == 0);
  const auto expected = valid_keys(inst);
  control(target, "chaos=5&http500=0&server_fault=0&drop=0&slow=1&slow_ms=250");
  const std::string database = server->create_database();
  std::vector<pid_t> pids{spawn_instance(inst, instance_config(inst, *server, database, "a", "2s"), "a"),
                          spawn_instance(inst, instance_config(inst, *server, database, "b", "2s"), "b")};
  use_state(inst, pg_state(*server, database));
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  // A batch open and under way (some of its calls answered).
  std::int64_t batch = 0;
  std::string owner;
  REQUIRE(wait_until(
      [&] {
        auto t = db.exec("SELECT count(*) FROM pg_tables WHERE tablename = 'delivery_batches'");
        if (t.int64(0, 0) == 0) return false;
        auto r = db.exec("SELECT id, owner FROM delivery_batches WHERE state = 'open' ORDER BY id LIMIT 1");
        if (r.empty()) return false;
        batch = r.int64(0, 0);
        owner = r.text(0, 1);
        return true;
      },
      std::chrono::seconds(120)));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // a few calls of it answered
  const std::size_t paused = static_cast<std::size_t>(owner[0] - 'a');
  REQUIRE(paused < pids.size());
  REQUIRE(kill(pids[paused], SIGSTOP) == 0);
  // Stopped until the other instance has the batch (its lease of 2 s ran out).
  const bool taken = wait_until(
      [&] {
        auto r = db.exec("SELECT owner, state FROM delivery_batches WHERE id = $1",
                         reportbridge::pg::Params().add(static_cast<std::int64_t>(batch)));
        return !r.empty() && (r.text(0, 1) != "open" || r.text(0, 0) != owner);
      },
      std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the other one is sending its rest now
  REQUIRE(kill(pids[paused], SIGCONT) == 0);
  CHECK(taken);
  std::map<std::string, std::int64_t> states;
  auto versions_at = [](const boost::json::value& d) {
    std::int64_t versions = 0;
    for (const auto& rec : d.at("records").as_array())
      versions += static_cast<std::int64_t>(rec.at("versions").as_array().size());
    return versions;
  };
  const bool done = wait_until(
      [&] {
        states = outbox_states(inst);
        return states["delivered"] >= static_cast<std::int64_t>(expected.size()) && states["pending"] == 0 &&
               states["in_flight"] == 0;
      },
      std::chrono::seconds(180));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // anything sent late would show now
  for (pid_t pid : pids) {
    kill(pid, SIGTERM);
    auto r = wait_process_for(pid, std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  const std::string paused_log = read_file(inst.dir / (std::string("err-") + owner[0] + ".log"));
  auto d = dump(target);
  INFO(paused_log << boost::json::serialize(d.at("calls")) << " " << boost::json::serialize(d.at("outcomes")));
  for (const auto& [external, refs] : d.at("duplicates").as_object())
    std::printf("paused instance: %s created twice: %s\n", std::string(external).c_str(),
                boost::json::serialize(refs).c_str());
  CHECK(done);
  CHECK(d.at("duplicates").as_object().empty());
  CHECK(d.at("repeated_versions").as_object().empty());
  CHECK(versions_at(d) == static_cast<std::int64_t>(expected.size()));
  CHECK(states["delivered"] == static_cast<std::int64_t>(expected.size()));
  // The paused one learnt it had lost the batch, and recorded nothing of it.
  CHECK((paused_log.find("taken over") != std::string::npos || paused_log.find("no longer held") != std::string::npos));
}

// The ingest lease's holder paused past its lease (SIGSTOP, then SIGCONT): the
// other instance takes ingest over (a transaction the paused one had open is
// ended by the server after the lease: idle_in_transaction_session_timeout),
// and when the paused one runs again it ingests nothing twice.
TEST_CASE("postgresql state: the ingest lease holder paused past its lease (SIGSTOP, then SIGCONT) ingests nothing twice") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  REQUIRE(inst.generate(3000, 83).exit_code == 0);
  auto expected = valid_keys(inst);
  const std::string database = server->create_database();
  std::vector<pid_t> pids;
  for (const char* name : {"a", "b"}) {
    // Small batches: ingest is still under way when the holder is stopped (an
    // idle instance takes the ingest lease only when there is work to ingest).
    const std::string config = instance_config(inst, *server, database, name, "2s");
    std::string text = read_file(config);
    text.replace(text.find("batch_size: 500"), 15, "batch_size: 40");
    write_file(config, text);
    pids.push_back(spawn_instance(inst, config, name));
  }
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  auto ledger = [&] { return ledger_rows(db); };
  REQUIRE(wait_until([&] { return ledger() > 0; }, std::chrono::seconds(180)));
  const std::string holder = ingest_holder(db);
  const std::size_t paused = static_cast<std::size_t>(holder[0] - 'a');
  REQUIRE(paused < pids.size());
  // (No rows are added while it is stopped: it may be stopped inside its
  // write-back to the app's store, holding SQLite's write lock there.)
  REQUIRE(kill(pids[paused], SIGSTOP) == 0);
  const auto ingested_at_pause = ledger();
  INFO("ledger rows when the holder was stopped: " << ingested_at_pause);
  REQUIRE(ingested_at_pause < 3000);  // work left for the other instance to take over
  const bool taken = wait_until(
      [&] { return ingest_holder(db) != holder; },
      std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the other one ingests meanwhile
  REQUIRE(kill(pids[paused], SIGCONT) == 0);
  // New rows once it runs again: whichever instance ingests them, once.
  for (int n = 0; n < 30; ++n) {
    insert_submission(inst.store, 2'000'000 + n, test_id(90'000 + n), 1, valid_payload(test_id(90'000 + n)));
    expected.insert(test_id(90'000 + n) + ",1");
  }
  const bool all = wait_until([&] { return inst.published().size() >= expected.size(); }, std::chrono::seconds(300));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // anything published twice would show now
  for (pid_t pid : pids) {
    kill(pid, SIGTERM);
    auto r = wait_process_for(pid, std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  INFO(read_file(inst.dir / "err-a.log") << read_file(inst.dir / "err-b.log"));
  CHECK(taken);
  CHECK(all);
  CHECK(ledger() == 3030);
  check_exactly_once(inst, expected);
  CHECK(inst.published().size() == expected.size());
}
