// Operating the bridge: dead letters and replay, circuit breaker, retention of
// dead-letter copies, deduplication, and SIGHUP with submissions queued
// (real binary, real SQLite store, csv_drop targets in a temp folder).
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>

#include <chrono>
#include <sstream>

#include "tests/integration/harness.hpp"
#include "tests/servers/server_process.hpp"

using namespace reportbridge::testing;
using namespace std::chrono_literals;

namespace {

// The lines of `text` that contain every one of `words`.
int lines_with(const std::string& text, const std::vector<std::string>& words) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const auto& w : words) all = all && line.find(w) != std::string::npos;
    if (all) ++n;
  }
  return n;
}

// A regular file where the drop folder should be: every delivery fails with an I/O error.
void block_drop(const Installation& inst) { write_file(inst.dir / "out", "not a folder"); }
void unblock_drop(const Installation& inst) { std::filesystem::remove(inst.dir / "out"); }

// Ref -> the value of column `col` in every record of the given CSV files.
std::map<std::string, std::string> column_by_ref(const std::vector<std::vector<std::string>>& records,
                                                 std::size_t col) {
  std::map<std::string, std::string> out;
  for (const auto& r : records)
    if (r.size() > col) out[r[0]] = r[col];
  return out;
}

}  // namespace

TEST_CASE("dead letters: listed by status and replay --list, replayed after the fix, delivered once") {
  Installation inst(kAllKindsMapping, "    retry: {max_attempts: 1}\n");
  inst.append_config("health: {enabled: false}\n");
  create_app_store(inst.store);
  for (int i = 1; i <= 3; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  block_drop(inst);
  auto first = inst.bridge({"once"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);

  auto status = inst.bridge({"status"});
  INFO(status.out);
  CHECK(status_counts(status.out, "drop").dead == 3);
  CHECK(status_counts(status.out, "drop").delivered == 0);
  CHECK(status.out.find("dead letters (oldest first") != std::string::npos);
  for (int i = 1; i <= 3; ++i) CHECK(lines_with(status.out, {"item ", "drop", test_id(i) + " v1", "io_error"}) == 1);
  for (const auto& [id, state] : inst.statuses()) CHECK(state != "forwarded");

  auto list = inst.bridge({"replay", "--list", "--all"});
  INFO(list.out << list.err);
  CHECK(list.exit_code == 0);
  CHECK(lines_with(list.out, {"item ", "drop", "v1"}) == 3);
  CHECK(list.out.find("3 dead letter(s) would be replayed") != std::string::npos);
  CHECK(inst.bridge({"replay"}).exit_code == 2);  // no selector
  auto still = inst.bridge({"status"});
  CHECK(status_counts(still.out, "drop").dead == 3);  // --list changed nothing

  unblock_drop(inst);
  // One submission first: the selector is honoured.
  auto one = inst.bridge({"replay", "--submission", test_id(1)});
  INFO(one.out << one.err);
  CHECK(one.exit_code == 0);
  CHECK(one.out.find("1 dead letter(s) queued for replay") != std::string::npos);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  CHECK(inst.published() == std::map<std::string, int>{{test_id(1) + ",1", 1}});

  auto all = inst.bridge({"replay", "--all"});
  CHECK(all.out.find("2 dead letter(s) queued for replay") != std::string::npos);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);  // nothing replayed twice
  auto rows = inst.published();
  CHECK(rows.size() == 3);
  for (const auto& [k, n] : rows) CHECK(n == 1);
  for (int i = 1; i <= 3; ++i) CHECK(inst.statuses()[test_id(i)] == "forwarded");

  auto after = inst.bridge({"status"});
  INFO(after.out);
  CHECK(status_counts(after.out, "drop").delivered == 3);
  CHECK(status_counts(after.out, "drop").dead == 0);
  CHECK(after.out.find("dead letters") == std::string::npos);
  CHECK(inst.bridge({"replay", "--all"}).out.find("no replayable dead letters match") != std::string::npos);

  auto show = inst.bridge({"audit", "show", "--submission", test_id(2)});
  INFO(show.out << show.err);
  CHECK(lines_with(show.out, {"dead", "target drop", "io_error"}) == 1);
  CHECK(lines_with(show.out, {"replayed", "target drop", "requested by operator"}) == 1);
  CHECK(lines_with(show.out, {"delivered", "target drop"}) == 1);
  CHECK(show.out.find("replayed") < show.out.find("delivered"));
  CHECK(inst.bridge({"audit", "verify"}).exit_code == 0);
}

TEST_CASE("a running daemon carries out a replay request within about a second") {
  Installation inst(kAllKindsMapping, "    retry: {max_attempts: 1}\n");
  inst.append_config("health: {enabled: false}\n");
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  block_drop(inst);
  const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config},
                                  (inst.dir / "run.out").string(), (inst.dir / "run.err").string());
  CHECK(wait_until([&] { return status_counts(inst.bridge({"status"}).out, "drop").dead == 1; }));
  unblock_drop(inst);
  auto replay = inst.bridge({"replay", "--all"});
  CHECK(replay.exit_code == 0);
  const auto asked = std::chrono::steady_clock::now();
  CHECK(wait_until([&] { return inst.published().size() == 1; }, 10s));
  CHECK(std::chrono::steady_clock::now() - asked < 5s);
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 10s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
  const std::string log = read_file(inst.dir / "run.err");
  INFO(log);
  CHECK(log.find("replay: 1 dead letter(s) re-queued") != std::string::npos);
  CHECK(inst.published() == std::map<std::string, int>{{test_id(1) + ",1", 1}});
}

TEST_CASE("circuit: a failing target opens its circuit, status shows it and nothing is attempted meanwhile") {
  Installation inst(kAllKindsMapping, "    circuit: {failures: 1, cooldown: 1h}\n");
  inst.append_config("health: {enabled: false}\n");
  create_app_store(inst.store);
  for (int i = 1; i <= 2; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  block_drop(inst);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  auto status = inst.bridge({"status"});
  INFO(status.out);
  CHECK(status.out.find("circuit open: drop after 1 failed batch(es)") != std::string::npos);
  CHECK(status.out.find("last error: io_error") != std::string::npos);
  CHECK(status_counts(status.out, "drop").pending == 2);  // retried later, not dead

  // The target is back, but the circuit stays open for its cooldown: no attempt.
  unblock_drop(inst);
  insert_submission(inst.store, 3, test_id(3), 1, valid_payload(test_id(3)));
  auto again = inst.bridge({"once"});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(inst.published().empty());
  auto held = inst.bridge({"status"});
  CHECK(status_counts(held.out, "drop").pending == 3);
  CHECK(held.out.find("circuit open: drop") != std::string::npos);
}

TEST_CASE("retention: an old dead letter's record copy is erased, audited, and no longer replayable") {
  Installation inst(kAllKindsMapping, "    retry: {max_attempts: 1}\n");
  inst.append_config("retention: {dead_letters: 1s, check_every: 1s}\nhealth: {enabled: false}\n");
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  block_drop(inst);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  auto fresh = inst.bridge({"status"});
  INFO(fresh.out);
  CHECK(status_counts(fresh.out, "drop").dead == 1);
  CHECK(fresh.out.find("not replayable") == std::string::npos);  // younger than the period

  std::this_thread::sleep_for(1500ms);
  auto purge = inst.bridge({"once"});
  INFO(purge.err);
  REQUIRE(purge.exit_code == 0);
  CHECK(purge.err.find("retention: erased the record copies of 1 dead letter(s)") != std::string::npos);
  auto status = inst.bridge({"status"});
  INFO(status.out);
  CHECK(lines_with(status.out, {"item ", test_id(1), "(record erased: not replayable)"}) == 1);
  CHECK(inst.bridge({"replay", "--list", "--all"}).out.find("0 dead letter(s) would be replayed") !=
        std::string::npos);
  unblock_drop(inst);
  CHECK(inst.bridge({"replay", "--all"}).out.find("no replayable dead letters match") != std::string::npos);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  CHECK(inst.published().empty());

  auto show = inst.bridge({"audit", "show", "--submission", test_id(1)});
  INFO(show.out);
  CHECK(lines_with(show.out, {"erased", "target drop", "retention"}) == 1);
  CHECK(inst.bridge({"audit", "verify"}).exit_code == 0);
}

TEST_CASE("dedup: the same report sent twice under two ids is delivered once, the second is a duplicate") {
  Installation inst;
  inst.append_config("dedup: {}\nhealth: {enabled: false}\n");
  create_app_store(inst.store);
  insert_submission_received(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)), "2026-11-27T18:42:11Z");
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  insert_submission_received(inst.store, 2, test_id(2), 1, valid_payload(test_id(2)), "2026-11-27T18:42:15Z");
  // A different report at the same time is not a duplicate.
  insert_submission_received(inst.store, 3, test_id(3), 1,
                             valid_payload(test_id(3), 1, "information", "Abandoned car on the verge"),
                             "2026-11-27T18:42:16Z");
  auto second = inst.bridge({"once"});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("duplicates=1") != std::string::npos);

  CHECK(inst.published() == std::map<std::string, int>{{test_id(1) + ",1", 1}, {test_id(3) + ",1", 1}});
  auto st = inst.statuses();
  CHECK(st[test_id(1)] == "forwarded");
  CHECK(st[test_id(2)] == "duplicate");
  CHECK(st[test_id(3)] == "forwarded");

  auto show = inst.bridge({"audit", "show", "--submission", test_id(2)});
  INFO(show.out);
  CHECK(lines_with(show.out, {"duplicate", "duplicate.fingerprint", test_id(1)}) >= 1);
  CHECK(lines_with(show.out, {"delivered"}) == 0);
}

TEST_CASE("dedup: preview shows the RelatedReference and ReporterKey a related report is then delivered with") {
  Installation inst(R"(mapping: all
targets: [drop]
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: RelatedReference, default: ""}
  - {name: ReporterKey, default: ""}
)",
                    "    related: link\n    reporter_key: true\n");
  write_file(inst.dir / "dedup.key", "0123456789abcdef0123456789abcdef");
  std::filesystem::permissions(inst.dir / "dedup.key", std::filesystem::perms::owner_read |
                                                           std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  inst.append_config("dedup: {reporter_key_file: dedup.key}\nhealth: {enabled: false}\n");
  create_app_store(inst.store);
  insert_submission_received(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)), "2026-11-27T18:42:11Z");
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  // Another resident (identified) reports the same incident in other words, 20 minutes later.
  boost::json::value other = boost::json::parse(valid_payload(test_id(2)));
  auto& o = other.as_object();
  o["summary"] = "Lads on bikes throwing things at buses";
  o["description"] = "Youths circling on bikes outside the shops, throwing stones at the buses.";
  o["location"].as_object()["lat"] = 54.57445;
  o["occurred"].as_object()["start"] = "2026-11-27T18:30:00+00:00";
  o["reporter"].as_object()["email"] = "j.smith@example.org";
  o["reporter"].as_object()["phone"] = "+447700900456";
  insert_submission_received(inst.store, 2, test_id(2), 1, boost::json::serialize(other), "2026-11-27T19:02:00Z");

  auto preview = inst.bridge({"preview", "--submission", test_id(2)});
  INFO(preview.out << preview.err);
  REQUIRE(preview.exit_code == 0);
  CHECK(preview.out.find("dedup: related (rule related.same_category) of " + test_id(1)) != std::string::npos);
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  const auto records = inst.published_records();
  const auto related_ref = column_by_ref(records, 2), reporter_key = column_by_ref(records, 3);
  CHECK(related_ref.at(test_id(1)).empty());
  // The drop's own reference for the first report (file#row).
  CHECK(related_ref.at(test_id(2)).rfind("drop-", 0) == 0);
  CHECK(related_ref.at(test_id(2)).ends_with(".csv#1"));
  CHECK(reporter_key.at(test_id(1)).rfind("rk-", 0) == 0);
  CHECK(reporter_key.at(test_id(2)).rfind("rk-", 0) == 0);
  CHECK(reporter_key.at(test_id(2)) != reporter_key.at(test_id(1)));  // another person
  // The preview showed exactly the row that was delivered.
  CHECK(preview.out.find(test_id(2) + ",1," + related_ref.at(test_id(2)) + "," + reporter_key.at(test_id(2))) !=
        std::string::npos);
  CHECK(preview.out.find("RelatedReference = \"" + related_ref.at(test_id(2)) + "\"   <- bridge: related report, policy link") !=
        std::string::npos);
}

TEST_CASE("SIGHUP with submissions queued: queued items keep their record and route, later ones get the new") {
  Installation inst;
  create_app_store(inst.store);
  // Two targets in one folder, told apart by file prefix. drop publishes at 4
  // rows, other at 2; nothing is published by age during the test.
  write_file(inst.config,
             "state:\n  path: state/state.db\n"
             "source:\n  type: sqlite\n  path: store.db\n  poll_interval: 50ms\n"
             "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
             "mappings: [mappings/a.yaml, mappings/b.yaml]\n"
             "targets:\n"
             "  - {name: drop, type: csv_drop, directory: out, max_rows: 4, max_age: 1h}\n"
             "  - {name: other, type: csv_drop, directory: out, file_prefix: other, max_rows: 2, max_age: 1h}\n"
             "health: {enabled: false}\n");
  auto mapping = [](const std::string& name, const std::string& target, const std::string& kinds,
                    const std::string& tag) {
    return "mapping: " + name + "\ntargets: [" + target + "]\nwhen: {kind: [" + kinds +
           "]}\nfields:\n  - {name: Ref, from: id}\n  - {name: Version, from: version}\n"
           "  - {name: Tag, value: " + tag + "}\n";
  };
  write_file(inst.dir / "mappings/a.yaml", mapping("a", "drop", "concern", "a-old"));
  write_file(inst.dir / "mappings/b.yaml", mapping("b", "other", "complaint", "b-old"));
  REQUIRE(inst.bridge({"check"}).exit_code == 0);

  const std::string err = (inst.dir / "run.err").string();
  const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config},
                                  (inst.dir / "run.out").string(), err);
  for (int i = 1; i <= 2; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  CHECK(wait_until([&] { return status_counts(inst.bridge({"status"}).out, "drop").pending == 2; }));

  // New constant for a; b now also takes concerns.
  write_file(inst.dir / "mappings/a.yaml", mapping("a", "drop", "concern", "a-new"));
  write_file(inst.dir / "mappings/b.yaml", mapping("b", "other", "complaint, concern", "b-new"));
  kill(pid, SIGHUP);
  CHECK(wait_until([&] { return read_file(err).find("reload: 2 mappings in force") != std::string::npos; }));
  for (int i = 3; i <= 4; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));

  CHECK(wait_until([&] {
    return csv_records(inst.dir / "out", "drop-").size() == 4 && csv_records(inst.dir / "out", "other-").size() == 2;
  }));
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 10s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
  INFO(read_file(err));

  CHECK(column_by_ref(csv_records(inst.dir / "out", "drop-"), 2) ==
        std::map<std::string, std::string>{
            {test_id(1), "a-old"}, {test_id(2), "a-old"}, {test_id(3), "a-new"}, {test_id(4), "a-new"}});
  // Queued before the reload, routed only to drop: never sent to other.
  CHECK(column_by_ref(csv_records(inst.dir / "out", "other-"), 2) ==
        std::map<std::string, std::string>{{test_id(3), "b-new"}, {test_id(4), "b-new"}});
  auto status = inst.bridge({"status"});
  CHECK(status_counts(status.out, "drop").delivered == 4);
  CHECK(status_counts(status.out, "other").delivered == 2);
  CHECK(status_counts(status.out, "drop").pending == 0);
}

// The audit trail's hash chain, checked by another implementation written from
// docs/audit.md (tests/tools/audit_chain.py, Python's hashlib): every entry's
// own hash, each prev over the whole previous line, seqs without gaps, through
// rotated files. Guards the chain against a change of the bridge's SHA-256 or
// of how it seals a line that its own `audit verify` would not see (both use
// the same code).
TEST_CASE("the audit hash chain checks out with Python hashlib through rotated files") {
  Installation inst;
  inst.append_config("audit:\n  max_file_size: 4KiB\n");
  REQUIRE(inst.generate(300, 5).exit_code == 0);
  auto once = inst.bridge({"once"});
  INFO(once.err);
  REQUIRE(once.exit_code == 0);
  const auto audit = inst.dir / "state" / "audit";
  std::size_t rotated = 0;
  for (const auto& e : std::filesystem::directory_iterator(audit))
    if (e.path().filename().string().rfind("audit-", 0) == 0) ++rotated;
  CHECK(rotated >= 2);
  auto check = run_process({python(), std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/tools/audit_chain.py", audit.string()});
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK(check.out.rfind("ok ", 0) == 0);
  CHECK(inst.bridge({"audit", "verify"}).exit_code == 0);

  // The checker itself catches a changed byte: flip one in a rotated file.
  std::filesystem::path first;
  for (const auto& e : std::filesystem::directory_iterator(audit))
    if (e.path().filename().string().rfind("audit-", 0) == 0 && (first.empty() || e.path() < first)) first = e.path();
  std::string text = read_file(first);
  const auto at = text.find("\"kind\":\"");
  REQUIRE(at != std::string::npos);
  text[at + 8] = text[at + 8] == 'x' ? 'y' : 'x';
  write_file(first, text);
  auto broken = run_process({python(), std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/tools/audit_chain.py", audit.string()});
  INFO(broken.out);
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("own hash does not match") != std::string::npos);
}
