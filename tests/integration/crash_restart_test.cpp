// Exactly-once at the drop under kill -9: the daemon is killed at random
// moments while it works through 20,000 generated submissions, restarted each
// time, and the drop folder is then checked row by row against the input.
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/harness.hpp"

using namespace reportbridge::testing;

TEST_CASE("kill -9 at any moment: every valid submission is in the drop exactly once") {
  Installation inst;
  auto gen = inst.generate(20000, 42, "--attachment-rate=0.02");
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);

  std::set<std::string> expected, invalid;
  {
    std::ifstream truth(inst.dir / "truth.jsonl");
    std::string line;
    while (std::getline(truth, line)) {
      auto v = boost::json::parse(line).as_object();
      std::string key = std::string(v["id"].as_string()) + "," + std::to_string(v["version"].to_number<std::int64_t>());
      (v["valid"].as_bool() ? expected : invalid).insert(key);
    }
  }
  REQUIRE(expected.size() + invalid.size() == 20000);
  REQUIRE(invalid.size() > 50);

  std::mt19937 rng(12345);
  // Kill times short enough that kills land while the daemon works: it drains
  // these 20,000 rows in about a second (the check below needs >= 5 kills).
  std::uniform_int_distribution<int> wait_ms(20, 200);
  int kills = 0;
  for (int round = 0; round < 60 && inst.published().size() < expected.size(); ++round) {
    pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                              (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    kill(pid, SIGKILL);
    auto r = wait_process(pid);
    if (r.signal == SIGKILL) ++kills;
  }
  std::printf("crash test: %d SIGKILLs, %zu of %zu rows published before the final run\n", kills,
              inst.published().size(), expected.size());
  CHECK(kills >= 5);
  auto final_run = inst.bridge({"once", "--log-level", "warn"});
  INFO(final_run.err);
  REQUIRE(final_run.exit_code == 0);

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
  CHECK(rows.size() == expected.size());
  // Row by row against the input: each published row carries its payload's
  // kind and description (the formula guard may prefix a quote).
  std::map<std::string, std::pair<std::string, std::string>> input;
  {
    sqlite3* db = nullptr;
    sqlite3_open_v2(inst.store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, version, payload FROM submissions", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string key = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "," +
                        std::to_string(sqlite3_column_int64(st, 1));
      if (!expected.count(key)) continue;
      auto doc = boost::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 2))).as_object();
      input[key] = {std::string(doc["kind"].as_string()), std::string(doc["description"].as_string())};
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  std::size_t mismatched = 0;
  for (const auto& r : inst.published_records()) {
    REQUIRE(r.size() == 6);
    const auto& want = input[r[0] + "," + r[1]];
    std::string description = r[4];
    if (!description.empty() && description[0] == '\'' && want.second.rfind('\'', 0) != 0)
      description.erase(0, 1);
    if (r[2] != want.first || description != want.second) ++mismatched;
  }
  CHECK(mismatched == 0);
  // No temp file survives a completed run.
  for (const auto& e : std::filesystem::directory_iterator(inst.dir / "out"))
    CHECK(e.path().filename().string().rfind(".", 0) != 0);
  // Every submission got a status: rejected for the invalid ones.
  auto st = inst.statuses();
  for (const auto& key : invalid) {
    auto id = key.substr(0, key.find(','));
    if (!st.count(id)) ++missing;
  }
  CHECK(missing == 0);
}
