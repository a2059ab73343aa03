// The real binary's verbs, exit codes and messages.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/integration/harness.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge::testing;

TEST_CASE("help, version and usage errors have documented exit codes") {
  auto help = run_process({REPORTBRIDGE_BINARY, "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("Exit codes:") != std::string::npos);
  auto version = run_process({REPORTBRIDGE_BINARY, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("reportbridge ", 0) == 0);
  CHECK(run_process({REPORTBRIDGE_BINARY, "frobnicate"}).exit_code == 2);
  CHECK(run_process({REPORTBRIDGE_BINARY}).exit_code == 2);
  CHECK(run_process({REPORTBRIDGE_BINARY, "preview", "--config", "x"}).exit_code == 2);
  CHECK(run_process({REPORTBRIDGE_BINARY, "check", "--config"}).exit_code == 2);
}

TEST_CASE("check accepts the shipped demo config, mappings and lookups") {
  auto r = run_process({REPORTBRIDGE_BINARY, "check", "--config",
                        std::string(REPORTBRIDGE_SOURCE_DIR) + "/config/demo.yaml"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK (5 mappings, 4 targets)") != std::string::npos);
}

TEST_CASE("check reports every config error as file:line:col and exits 3") {
  Installation inst;
  write_file(inst.config,
             "state:\n  path: state.db\n"
             "source:\n  type: sqlite\n  path: store.db\n  poll_intervall: 1s\n  batch_size: many\n"
             "mappings: [mappings/all.yaml]\n"
             "targets:\n  - name: drop\n    type: csv_drop\n    directory: out\n    encoding: latin1\n"
             "    max_age: soon\n"
             "  - name: other\n    type: csv_dorp\n"
             "loging: {level: info}\n");
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  const std::string& o = r.out;
  CHECK(o.find(inst.config + ":6:3: error: unknown key 'poll_intervall' in sqlite source, did you mean 'poll_interval'?") != std::string::npos);
  CHECK(o.find(inst.config + ":7:15: error: 'batch_size' must be an integer") != std::string::npos);
  CHECK(o.find(inst.config + ":13:15: error: 'encoding' must be one of utf-8, utf-8-bom, windows-1252") != std::string::npos);
  CHECK(o.find(inst.config + ":14:14: error: 'max_age' must be a duration") != std::string::npos);
  CHECK(o.find(inst.config + ":16:11: error: unknown target type 'csv_dorp', did you mean 'csv_drop'?") != std::string::npos);
  CHECK(o.find(inst.config + ":17:1: error: unknown key 'loging' in config, did you mean 'logging'?") != std::string::npos);
}

TEST_CASE("check reports mapping errors in the mapping file") {
  Installation inst("mapping: all\ntargets: [drop]\nfields:\n  - {name: A, from: id, transforms: [lowercse]}\n");
  auto r = inst.bridge({"check"});
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("mappings/all.yaml:4:38: error: unknown transform 'lowercse', did you mean 'lowercase'?") != std::string::npos);
}

TEST_CASE("once delivers valid rows, quarantines bad ones, writes statuses back, status and preview tell") {
  Installation inst;
  create_app_store(inst.store);
  for (int i = 1; i <= 20; ++i)
    insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i), 1, "concern", "=HYPERLINK(\"x\")"));
  insert_submission(inst.store, 21, test_id(21), 1, "<html>502 Bad Gateway</html>");
  insert_submission(inst.store, 22, test_id(22), 1, valid_payload(test_id(22)));
  auto r = inst.bridge({"once"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("ingest: read=22 queued=21") != std::string::npos);
  // No resident personal data in the log.
  CHECK(r.err.find("Aisha") == std::string::npos);
  CHECK(r.err.find("a.khan@example.org") == std::string::npos);
  CHECK(r.err.find("+447700900123") == std::string::npos);
  CHECK(r.err.find("Linthorpe") == std::string::npos);

  auto rows = inst.published();
  CHECK(rows.size() == 21);
  CHECK(rows.count(test_id(21) + ",1") == 0);
  auto st = inst.statuses();
  CHECK(st[test_id(1)] == "forwarded");
  CHECK(st[test_id(21)] == "rejected");
  CHECK(st[test_id(22)] == "forwarded");

  auto status = inst.bridge({"status"});
  INFO(status.out);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("backlog 0 row(s)") != std::string::npos);
  CHECK(status.out.find("delivered 21") != std::string::npos);
  CHECK(status.out.find("quarantined: 1") != std::string::npos);
  CHECK(status.out.find(test_id(21) + " v1  invalid_payload") != std::string::npos);

  auto preview = inst.bridge({"preview", "--submission", test_id(3)});
  INFO(preview.out << preview.err);
  CHECK(preview.exit_code == 0);
  CHECK(preview.out.find("== mapping all -> target drop") != std::string::npos);
  CHECK(preview.out.find("  Ref              = \"" + test_id(3) + "\"   <- from id") != std::string::npos);
  CHECK(preview.out.find("Ref,Version,Kind,Summary,Description,attachment_files") != std::string::npos);
  CHECK(preview.out.find("'=HYPERLINK") != std::string::npos);  // formula neutralised as in the file

  write_file(inst.dir / "bad.json", R"({"id": "x", "version": 1, "kind": "emergency"})");
  auto bad = inst.bridge({"preview", "--input", (inst.dir / "bad.json").string()});
  CHECK(bad.exit_code == 4);
  CHECK(bad.out.find("/kind: not one of") != std::string::npos);
  CHECK(bad.out.find("missing required property 'submitted_at'") != std::string::npos);

  auto missing = inst.bridge({"preview", "--submission", "no-such-id"});
  CHECK(missing.exit_code == 1);
}

TEST_CASE("run drains and exits 0 on SIGTERM, then a restart picks up new rows only") {
  Installation inst;
  create_app_store(inst.store);
  for (int i = 1; i <= 5; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  std::string out = (inst.dir / "run.out").string(), err = (inst.dir / "run.err").string();
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, out, err);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (inst.published().size() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(inst.published().size() == 5);
  kill(pid, SIGTERM);
  auto res = wait_process(pid);
  CHECK(res.exit_code == 0);
  CHECK(read_file(err).find("stopping: signal received") != std::string::npos);
  insert_submission(inst.store, 6, test_id(6), 1, valid_payload(test_id(6)));
  auto again = inst.bridge({"once"});
  CHECK(again.exit_code == 0);
  auto rows = inst.published();
  CHECK(rows.size() == 6);
  for (const auto& [k, n] : rows) CHECK(n == 1);
}

TEST_CASE("SIGHUP reloads mappings, a broken set is refused and the old one keeps running") {
  Installation inst;
  create_app_store(inst.store);
  std::string out = (inst.dir / "run.out").string(), err = (inst.dir / "run.err").string();
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, out, err);
  CHECK(wait_serving(err));
  write_file(inst.dir / "mappings/all.yaml", "mapping: all\ntargets: [drop]\nfields:\n  - {name: Ref, form: id}\n");
  kill(pid, SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (inst.published().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGTERM);
  const auto stopped = wait_process(pid);
  const std::string log = read_file(err);
  INFO(log);
  CHECK(stopped.exit_code == 0);
  CHECK(log.find("reload refused") != std::string::npos);
  CHECK(log.find("unknown key 'form' in field, did you mean 'from'?") != std::string::npos);
  CHECK(inst.published().size() == 1);  // still delivered with the old mapping
}

TEST_CASE("SIGHUP re-reads the config: a change needing a restart is refused whole, the log level and mapping list apply") {
  Installation inst;
  create_app_store(inst.store);
  const std::string original = read_file(inst.config);
  std::string out = (inst.dir / "run.out").string(), err = (inst.dir / "run.err").string();
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, out, err);
  CHECK(wait_serving(err));

  // A new target needs a restart: the whole reload is refused, the old set runs on.
  std::string with_target = original;
  with_target.replace(with_target.find("logging:"), 0,
                      "  - name: extra\n    type: csv_drop\n    directory: out2\n");
  write_file(inst.config, with_target);
  kill(pid, SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // A log level change and the same targets: applied.
  std::string quieter = original;
  quieter.replace(quieter.find("level: info"), 11, "level: warn");
  write_file(inst.config, quieter);
  kill(pid, SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (inst.published().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGTERM);
  const auto stopped = wait_process(pid);
  const std::string log = read_file(err);
  INFO(log);
  CHECK(stopped.exit_code == 0);
  CHECK(log.find("'targets' changed: that needs a restart") != std::string::npos);
  CHECK(log.find("reload: 1 mappings in force, log level warn") != std::string::npos);
  CHECK(inst.published().size() == 1);
  CHECK_FALSE(std::filesystem::exists(inst.dir / "out2"));
  // At warn, the batch lines logged at info after the reload are gone.
  const auto after = log.substr(log.find("log level warn"));
  CHECK(after.find("ingest: read=") == std::string::npos);
}

TEST_CASE("windows-1252 drop keeps what it can hold and marks the rest, never '?'") {
  Installation inst(kAllKindsMapping, "    encoding: windows-1252\n");
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1,
                    valid_payload(test_id(1), 1, "concern", "Café £5 — Łódź 🙏"));
  REQUIRE(inst.bridge({"once"}).exit_code == 0);
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(inst.dir / "out"))
    if (e.path().extension() == ".csv") all += read_file(e.path());
  CHECK(all.find("Caf\xE9 \xA3" "5 \x97 L\xF3" "dz [U+1F64F]") != std::string::npos);
  CHECK(all.find('?') == std::string::npos);
}

TEST_CASE("status before the first run says so, a bad log level is a usage error") {
  Installation inst;
  create_app_store(inst.store);
  auto r = inst.bridge({"status"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no state database yet") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(inst.dir / "state"));  // status creates nothing
  CHECK(inst.bridge({"once", "--log-level", "loud"}).exit_code == 2);
}

TEST_CASE("a target setting the sink refuses is a check error with its position") {
  Installation inst(kAllKindsMapping, "    file_prefix: ../escape\n");
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find(inst.config + ":17:18: error: target 'drop':") != std::string::npos);
}

TEST_CASE("preview reports a record the target would reject (exit 4)") {
  Installation inst(kAllKindsMapping, "    encoding: windows-1252\n    unencodable: reject\n");
  write_file(inst.dir / "emoji.json", valid_payload(test_id(9), 1, "concern", "Thanks 🙏"));
  auto r = inst.bridge({"preview", "--input", (inst.dir / "emoji.json").string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.out.find("REJECTED by target drop") != std::string::npos);
}

TEST_CASE("preview --submission reads the HTTP store too: the newest version, paged") {
  Installation inst;
  create_app_store(inst.store);
  for (int i = 1; i <= 7; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  insert_submission(inst.store, 8, test_id(3), 2, valid_payload(test_id(3), 2, "concern", "Edited summary"));
  ServerOptions opts;
  opts.db = inst.store;
  opts.media_root = (inst.dir / "media").string();
  AppStoreServer server(opts, inst.dir.path());
  // Same installation, the source switched to the HTTP API with tiny pages.
  std::string config = read_file(inst.config);
  const std::string sqlite_source = "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n";
  REQUIRE(config.find(sqlite_source) != std::string::npos);
  config.replace(config.find(sqlite_source), sqlite_source.size(),
                 "source:\n  type: http\n  base_url: " + server.url() + "\n  page_size: 3\n");
  write_file(inst.config, config);

  auto preview = inst.bridge({"preview", "--submission", test_id(3)});
  INFO(preview.out << preview.err);
  CHECK(preview.exit_code == 0);
  CHECK(preview.out.find("submission " + test_id(3) + " version 2") != std::string::npos);
  CHECK(preview.out.find("Edited summary") != std::string::npos);
  CHECK(preview.out.find("== mapping all -> target drop") != std::string::npos);

  auto missing = inst.bridge({"preview", "--submission", "no-such-id"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("not found in " + server.url()) != std::string::npos);
}

TEST_CASE("preview --submission with an HTTP store that cannot be reached fails cleanly") {
  Installation inst;
  std::string config = read_file(inst.config);
  const std::string sqlite_source = "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n";
  REQUIRE(config.find(sqlite_source) != std::string::npos);
  // Port 9 (discard) on loopback: nothing listens there.
  config.replace(config.find(sqlite_source), sqlite_source.size(),
                 "source:\n  type: http\n  base_url: http://127.0.0.1:9\n  connect_timeout: 1s\n");
  write_file(inst.config, config);
  auto r = inst.bridge({"preview", "--submission", test_id(1)});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot read the submission store") != std::string::npos);
}
