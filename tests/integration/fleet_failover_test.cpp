// Issue #16's fleet test, on real binaries and real servers: three instances
// over one app store and one PostgreSQL database, SIGKILLed at random and
// restarted, and the database restarted in the middle. Every valid
// (id, version) reaches each of its targets exactly once (two CSV drops and a
// SOAP RMS on spyne), the statuses written back are right, and every
// instance's audit chain verifies.
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "bridge/pg_store/pg.hpp"
#include "tests/integration/guardian_soap.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/rms_spyne.hpp"
#include "tests/support/pg_server.hpp"

using namespace reportbridge::testing;

namespace {

const std::string kSource = REPORTBRIDGE_SOURCE_DIR;

// The installation's own config for instance `name`: the shipped NPT and PSD
// CSV mappings and the RMS over SOAP (its WSDL, with the in-doubt lookup), the
// state on PostgreSQL with leases of 2 s, the audit folder shared.
// With no `rms_url`: the two CSV drops only; `extra` is appended (e.g. a dedup section).
std::string fleet_config(const Installation& inst, PgServer& server, const std::string& database,
                         const std::string& name, const std::string& rms_url, const std::string& extra = "") {
  const std::string m = kSource + "/mappings/";
  const std::string drop = "    max_age: 100ms\n    retry: {max_attempts: 50, base: 200ms, cap: 1s}\n";
  const std::string file = (inst.dir / ("config-" + name + ".yaml")).string();
  write_file(file,
             "state:\n  type: postgresql\n  conninfo: \"" + server.conninfo(database) +
                 "\"\n  sslmode: disable\n  instance: " + name + "\n  lease: 2s\n  local_dir: local-" + name + "\n" +
                 "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n  poll_interval: 50ms\n"
                 "  batch_size: 200\n"
                 "schema: " + kSource + "/schemas/submission.schema.json\n"
                 "mappings:\n"
                 "  - " + m + "npt_community_report.yaml\n"
                 "  - " + m + "psd_feedback.yaml\n" +
                 (rms_url.empty() ? std::string() : "  - " + m + "rms_community_report.yaml\n") +
                 "targets:\n"
                 "  - name: npt_csv\n    type: csv_drop\n    directory: out/npt\n    max_rows: 100\n" + drop +
                 "  - name: psd_csv\n    type: csv_drop\n    directory: out/psd\n    max_rows: 100\n" + drop +
                 (rms_url.empty()
                      ? std::string()
                      : rms_soap_target(rms_url) +
                            "    batch_size: 25\n    batch_wait: 50ms\n    connect_timeout: 2s\n    read_timeout: 5s\n"
                            "    request_timeout: 5s\n    settle_time: 2s\n"
                            "    retry: {max_attempts: 50, base: 200ms, cap: 1s}\n    circuit: {failures: 1000}\n"
                            "    writeback: {message: \"Recorded by the RMS.\", reference: true}\n") +
                 "health: {enabled: false}\naudit: {directory: audit}\nlogging:\n  level: info\n" + extra);
  return file;
}

// "id,version" -> times seen in the CSV files of `folder` (AppReference and
// Version are the shipped mappings' first two columns).
std::map<std::string, int> csv_keys(const std::filesystem::path& folder) {
  std::map<std::string, int> seen;
  for (const auto& r : csv_records(folder))
    if (r.size() >= 2) seen[r[0] + "," + r[1]]++;
  return seen;
}

struct Truth {
  std::set<std::string> valid;                 // "id,version"
  std::map<std::string, bool> all_valid;       // id -> every row of it valid
};

Truth read_truth(const Installation& inst) {
  Truth t;
  std::ifstream in(inst.dir / "truth.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto v = boost::json::parse(line).as_object();
    const std::string id(v["id"].as_string());
    const bool valid = v["valid"].as_bool();
    if (valid) t.valid.insert(id + "," + std::to_string(v["version"].to_number<std::int64_t>()));
    auto [it, fresh] = t.all_valid.emplace(id, valid);
    if (!fresh) it->second = it->second && valid;
  }
  return t;
}

// "id,version" -> versions a SOAP test system holds of it (its /dump; the
// external reference is "id:version").
std::map<std::string, int> versions_at(const boost::json::value& d) {
  std::map<std::string, int> at;
  for (const auto& rec : d.at("records").as_array())
    for (const auto& v : rec.at("versions").as_array()) {
      std::string ext(v.at("external_reference").as_string());
      const auto colon = ext.rfind(':');
      at[ext.substr(0, colon) + "," + ext.substr(colon + 1)]++;
    }
  return at;
}

// The instances of a fleet, each run from its config, logging to
// out-<name>.log and err-<name>.log.
struct Fleet {
  const Installation& inst;
  std::vector<std::string> names;
  std::vector<std::string> configs;
  std::vector<pid_t> pids = std::vector<pid_t>(names.size(), -1);

  void start(std::size_t i) {
    pids[i] = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", configs[i], "--log-level", "info"},
                            (inst.dir / ("out-" + names[i] + ".log")).string(),
                            (inst.dir / ("err-" + names[i] + ".log")).string());
  }
  void start_all() {
    for (std::size_t i = 0; i < names.size(); ++i) start(i);
  }
  // For `span`: every `gap` ms a random instance is SIGKILLed and started
  // again `down` ms later; `instead`, when given, may take a turn (true).
  // Returns the SIGKILLs.
  int chaos(std::mt19937& rng, std::chrono::seconds span, std::uniform_int_distribution<int> gap,
            std::uniform_int_distribution<int> down, const std::function<bool()>& instead = {}) {
    std::uniform_int_distribution<std::size_t> who(0, names.size() - 1);
    int kills = 0;
    const auto end = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(gap(rng)));
      if (instead && instead()) continue;
      const std::size_t victim = who(rng);
      kill(pids[victim], SIGKILL);
      if (wait_process(pids[victim]).signal == SIGKILL) ++kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(down(rng)));
      start(victim);
    }
    return kills;
  }
};

}  // namespace

TEST_CASE("fleet failover: three instances SIGKILLed at random and the database restarted, each valid version once at two CSV drops and a SOAP RMS, statuses right, audit verifies") {
  PG_SERVER_OR_SKIP(server);
  ServerProcess rms = start_rms_spyne();
  Installation inst;
  auto gen = inst.generate(1200, 61);
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);
  const Truth truth = read_truth(inst);
  const std::string database = server->create_database();
  const std::vector<std::string> names{"a", "b", "c"};
  std::vector<std::string> configs;
  for (const auto& n : names) configs.push_back(fleet_config(inst, *server, database, n, rms.url("/rms")));
  {
    auto check = run_process({REPORTBRIDGE_BINARY, "check", "--config", configs[0]});
    INFO(check.out << check.err);
    REQUIRE(check.exit_code == 0);
  }
  Fleet fleet{inst, names, configs};
  fleet.start_all();
  auto& pids = fleet.pids;

  // About 24 s of chaos: every 1.5-4 s a random instance is SIGKILLed and
  // started again 0.3-1.5 s later; half way through, the database server
  // goes down like a crash for 3 s.
  std::mt19937 rng(16);
  bool restarted_db = false;
  const auto db_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const int kills = fleet.chaos(rng, std::chrono::seconds(24), std::uniform_int_distribution<int>(1500, 4000),
                                std::uniform_int_distribution<int>(300, 1500), [&] {
                                  if (restarted_db || std::chrono::steady_clock::now() < db_at) return false;
                                  server->stop();
                                  std::this_thread::sleep_for(std::chrono::seconds(3));
                                  server->start_again();
                                  restarted_db = true;
                                  return true;
                                });
  CHECK(kills >= 4);
  CHECK(restarted_db);

  // Then the fleet finishes the work.
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  auto count = [&](const std::string& sql) {
    try {
      if (!db.ok()) db.reset();
      return db.exec(sql).int64(0, 0);
    } catch (const std::exception&) {
      return std::int64_t{-1};
    }
  };
  std::map<std::string, int> npt, psd;
  const bool done = wait_until(
      [&] {
        npt = csv_keys(inst.dir / "out/npt");
        psd = csv_keys(inst.dir / "out/psd");
        std::size_t covered = 0;
        for (const auto& k : truth.valid) covered += (npt.count(k) || psd.count(k)) ? 1 : 0;
        return covered == truth.valid.size() &&
               count("SELECT count(*) FROM outbox_items WHERE state IN ('pending', 'in_flight')") == 0 &&
               count("SELECT count(*) FROM delivery_batches WHERE state = 'open'") == 0 &&
               count("SELECT count(*) FROM writeback_queue") == 0;
      },
      std::chrono::seconds(240));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // anything sent late would show now
  for (std::size_t i = 0; i < names.size(); ++i) {
    kill(pids[i], SIGTERM);
    auto r = wait_process_for(pids[i], std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  std::string logs;
  for (const auto& n : names) logs += read_file(inst.dir / ("err-" + n + ".log")).substr(0, 20000);
  INFO("last of the logs: " << logs.substr(logs.size() > 6000 ? logs.size() - 6000 : 0));
  REQUIRE(done);
  std::printf("fleet failover: %d SIGKILLs, database restarted, %zu valid versions, %zu at npt_csv, %zu at psd_csv\n",
              kills, truth.valid.size(), npt.size(), psd.size());
  CHECK(count("SELECT count(*) FROM outbox_items WHERE state = 'dead'") == 0);

  // Each valid version at exactly one of the CSV drops (the kinds split
  // them), once; nothing else there.
  for (const auto* drop : {&npt, &psd})
    for (const auto& [key, n] : *drop) {
      INFO(key);
      CHECK(n == 1);
      CHECK(truth.valid.count(key) == 1);
      CHECK_FALSE((npt.count(key) && psd.count(key)));
    }
  // The RMS holds one version per (id, version) that went to the NPT drop
  // (concerns and information go to both): none created twice, none missing.
  auto d = dump(rms);
  const auto at_rms = versions_at(d);
  std::size_t twice = 0, missing = 0, stray = 0;
  for (const auto& [key, n] : at_rms) {
    if (n > 1) ++twice;
    if (!npt.count(key)) ++stray;
  }
  for (const auto& [key, n] : npt)
    if (!at_rms.count(key)) ++missing;
  INFO("rms calls " << boost::json::serialize(d.at("calls")));
  CHECK(twice == 0);
  CHECK(missing == 0);
  CHECK(stray == 0);
  CHECK(at_rms.size() == npt.size());

  // Statuses: a submission whose every row is valid was forwarded.
  const auto statuses = inst.statuses();
  std::size_t wrong = 0;
  for (const auto& [id, valid] : truth.all_valid) {
    if (!valid) continue;
    auto it = statuses.find(id);
    if (it == statuses.end() || it->second != "forwarded") {
      if (wrong++ < 5) UNSCOPED_INFO(id << ": " << (it == statuses.end() ? "no status" : it->second));
    }
  }
  CHECK(wrong == 0);

  // Every instance's chain verifies, killed nine times or not.
  auto verify = run_process({REPORTBRIDGE_BINARY, "audit", "verify", "--config", configs[0]});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  for (const auto& n : names) CHECK(verify.out.find("audit verify: instance " + n + ": OK: ") != std::string::npos);
}

// "A target's rate limit and connection cap hold for the whole fleet, not per
// instance (a fragile legacy system must not see N times its configured load)."
// Three instances deliver to one SOAP system whose every call takes 200 ms,
// configured for 2 connections and 5 calls a second: what the system saw is
// measured at the system (calls handled at once, when each started).
TEST_CASE("fleet caps: three instances keep a SOAP target's max_connections and rate_limit for the whole fleet") {
  PG_SERVER_OR_SKIP(server);
  ServerProcess target({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(kGuardianMapping,
                    guardian_target(target.port(), "    read_timeout: 20s\n    request_timeout: 30s\n"
                                                   "    max_connections: 2\n    rate_limit: 5\n"
                                                   "    batch_size: 10\n    batch_wait: 50ms\n"));
  REQUIRE(inst.generate(60, 71).exit_code == 0);
  const std::set<std::string> expected = read_truth(inst).valid;
  control(target, "chaos=7&http500=0&server_fault=0&drop=0&slow=1&slow_ms=200");
  const std::string database = server->create_database();
  std::string rest = read_file(inst.config);
  rest = rest.substr(rest.find("source:"));
  std::vector<pid_t> pids;
  for (const std::string name : {"a", "b", "c"}) {
    const std::string config = (inst.dir / ("config-" + name + ".yaml")).string();
    write_file(config, "state:\n  type: postgresql\n  conninfo: \"" + server->conninfo(database) +
                           "\"\n  sslmode: disable\n  instance: " + name + "\n  lease: 5s\n  local_dir: local-" +
                           name + "\n" + rest);
    pids.push_back(spawn_process({REPORTBRIDGE_BINARY, "run", "--config", config, "--log-level", "warn"},
                                 (inst.dir / ("out-" + name + ".log")).string(),
                                 (inst.dir / ("err-" + name + ".log")).string()));
  }
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  const bool done = wait_until([&] { return versions_at(dump(target)).size() >= expected.size(); },
                               std::chrono::seconds(180));
  for (pid_t pid : pids) {
    kill(pid, SIGTERM);
    auto r = wait_process_for(pid, std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  auto d = dump(target);
  INFO(read_file(inst.dir / "err-a.log") << read_file(inst.dir / "err-b.log") << read_file(inst.dir / "err-c.log"));
  REQUIRE(done);
  // Every instance took part (the caps are shared, not one instance doing all).
  auto per_instance = db.exec("SELECT count(DISTINCT owner) FROM delivery_batches");
  CHECK(per_instance.int64(0, 0) >= 2);
  const auto at_target = versions_at(d);
  std::set<std::string> keys;
  for (const auto& [key, n] : at_target) keys.insert(key);
  CHECK(keys == expected);
  CHECK(d.at("duplicates").as_object().empty());
  // At most 2 calls at once at the system, ever (3 instances with 2 each would be 6).
  const auto max_in_flight = d.at("max_in_flight").to_number<std::int64_t>();
  CHECK(max_in_flight <= 2);
  CHECK(max_in_flight >= 1);
  // A token bucket of 5 a second (burst 5): over any span of T seconds at most
  // 5 + 5 T calls start. Allowed: one more for the moment between the grant
  // (the database's clock) and the arrival here.
  std::vector<std::int64_t> starts;
  for (const auto& s : d.at("starts_ms").as_array()) starts.push_back(s.to_number<std::int64_t>());
  std::sort(starts.begin(), starts.end());
  REQUIRE(starts.size() >= expected.size());
  std::size_t worst_excess = 0;
  double worst_span = 0;
  for (std::size_t i = 0; i < starts.size(); ++i)
    for (std::size_t j = i; j < starts.size(); ++j) {
      const double span = static_cast<double>(starts[j] - starts[i]) / 1000.0;
      const double allowed = 5 + 5 * span + 1;
      const double n = static_cast<double>(j - i + 1);
      if (n > allowed && static_cast<std::size_t>(n - allowed) + 1 > worst_excess) {
        worst_excess = static_cast<std::size_t>(n - allowed) + 1;
        worst_span = span;
      }
    }
  const double total = static_cast<double>(starts.back() - starts.front()) / 1000.0;
  std::printf("fleet caps: %zu calls in %.1f s (%.1f/s), at most %lld at once\n", starts.size(), total,
              static_cast<double>(starts.size()) / total, static_cast<long long>(max_in_flight));
  INFO("calls over " << worst_span << " s exceeded the bucket by " << worst_excess);
  CHECK(worst_excess == 0);
}

// Dedup across the fleet (issue #16: "dedup sees every instance's history"):
// three instances with deduplication on, SIGKILLed at random; a double tap is
// judged against what any instance ingested before, so of each exact
// duplicate pair exactly one copy reaches the drops, whichever instance
// ingested which copy, and nothing is sent twice.
TEST_CASE("fleet failover with dedup: three instances SIGKILLed at random, of each double tap one copy is delivered, once") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  auto gen = inst.generate(1200, 62);
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);
  const Truth truth = read_truth(inst);
  std::map<std::string, std::string> dup_of;  // exact duplicate id -> the id it copies
  {
    std::ifstream in(inst.dir / "truth.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto v = boost::json::parse(line).as_object();
      if (v["label"].as_string() == "exact_dup" && v["valid"].as_bool() && v["dup_of"].is_string())
        dup_of[std::string(v["id"].as_string())] = std::string(v["dup_of"].as_string());
    }
  }
  REQUIRE(dup_of.size() >= 20);
  const std::string database = server->create_database();
  const std::vector<std::string> names{"a", "b", "c"};
  std::vector<std::string> configs;
  for (const auto& n : names) configs.push_back(fleet_config(inst, *server, database, n, "", "dedup: {}\n"));
  Fleet fleet{inst, names, configs};
  fleet.start_all();
  auto& pids = fleet.pids;
  std::mt19937 rng(17);
  const int kills = fleet.chaos(rng, std::chrono::seconds(15), std::uniform_int_distribution<int>(1000, 3000),
                                std::uniform_int_distribution<int>(300, 1200));
  CHECK(kills >= 3);

  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  auto count = [&](const std::string& sql) { return db.exec(sql).int64(0, 0); };
  const auto total_versions = static_cast<std::int64_t>(truth.valid.size());
  std::map<std::string, int> npt, psd;
  const bool done = wait_until(
      [&] {
        return count("SELECT count(*) FROM ledger") >= total_versions &&
               count("SELECT count(*) FROM outbox_items WHERE state IN ('pending', 'in_flight')") == 0 &&
               count("SELECT count(*) FROM delivery_batches WHERE state = 'open'") == 0 &&
               count("SELECT count(*) FROM writeback_queue") == 0;
      },
      std::chrono::seconds(240));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (std::size_t i = 0; i < names.size(); ++i) {
    kill(pids[i], SIGTERM);
    auto r = wait_process_for(pids[i], std::chrono::seconds(120));
    REQUIRE(r);
    CHECK(r->exit_code == 0);
  }
  REQUIRE(done);
  npt = csv_keys(inst.dir / "out/npt");
  psd = csv_keys(inst.dir / "out/psd");
  auto delivered = [&](const std::string& key) { return npt.count(key) + psd.count(key); };
  // Nothing twice, nothing that is not a valid version.
  for (const auto* drop : {&npt, &psd})
    for (const auto& [key, n] : *drop) {
      INFO(key);
      CHECK(n == 1);
      CHECK(truth.valid.count(key) == 1);
    }
  // Of each double tap, one copy.
  std::size_t both = 0, neither = 0;
  for (const auto& [dup, of] : dup_of) {
    const auto n = delivered(dup + ",1") + delivered(of + ",1");
    if (n > 1) ++both;
    if (n == 0 && truth.valid.count(of + ",1")) ++neither;
  }
  std::printf("fleet with dedup: %d SIGKILLs, %zu double taps, %zu sent twice, %zu lost\n", kills, dup_of.size(), both,
              neither);
  CHECK(both == 0);
  CHECK(neither == 0);
  // The copy not sent is told it is a duplicate (unless the resident edited
  // it since: the edit goes as an update of the copy kept, and is forwarded).
  auto statuses = inst.statuses();
  std::size_t told = 0, edited = 0;
  for (const auto& [dup, of] : dup_of) {
    const std::string held = delivered(dup + ",1") ? of : dup;
    if (truth.valid.count(held + ",2")) {
      ++edited;
      continue;
    }
    if (statuses[held] == "duplicate")
      ++told;
    else
      std::printf("not told: %s (copy of %s): %s\n", held.c_str(), held == dup ? of.c_str() : dup.c_str(),
                  statuses[held].c_str());
  }
  CHECK(told + edited == dup_of.size());
  CHECK(told >= 20);
  // Every other first report reached its drop.
  std::set<std::string> in_pairs;
  for (const auto& [dup, of] : dup_of) {
    in_pairs.insert(dup);
    in_pairs.insert(of);
  }
  std::size_t missing = 0;
  for (const auto& key : truth.valid) {
    const std::string id = key.substr(0, key.find(','));
    if (key.substr(key.find(',') + 1) == "1" && !in_pairs.count(id) && delivered(key) == 0) ++missing;
  }
  CHECK(missing == 0);
}
