// `reportbridge audit verify|show` through run_audit_command, and the `audit:` config section.
#include "bridge/audit/audit_cli.hpp"

#include <sstream>

#include <catch2/catch.hpp>

#include "bridge/audit/audit_config.hpp"
#include "bridge/audit/audit_files.hpp"
#include "bridge/audit/audit_reader.hpp"
#include "tests/unit/audit/audit_test_util.hpp"

using namespace reportbridge;
using namespace reportbridge::audit;
using namespace reportbridge::audit::test;
using reportbridge::testing::TempDir;

namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  std::ostringstream out, err;
  int code = run_audit_command(args, dir, out, err);
  return {code, out.str(), err.str()};
}

constexpr std::int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

// The history of two submissions, spread over rotated files, written out of time order.
void write_history(const std::filesystem::path& dir) {
  AuditSettings s = settings(dir, 4096);
  AuditLog log(s, identity());
  auto filler = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      log.on_event(event(core::EventKind::collected, "filler-" + std::to_string(i), kT0));
      if (i % 5 == 4) log.flush();
    }
  };
  filler(0, 30);
  auto e = event(core::EventKind::collected, "sub-A", kT0 + 1000);
  log.on_event(e);
  e.kind = core::EventKind::mapped;
  e.mapping = "crime_report";
  e.rule = "route_crime";
  e.target = "niche_soap";
  e.at_ms = kT0 + 2000;
  log.on_event(e);
  e.target = "csv_drop";
  log.on_event(e);
  log.flush();
  filler(30, 60);
  auto r = event(core::EventKind::retry, "sub-A", kT0 + 60'000, "niche_soap");
  r.reason_code = "http_503";
  r.detail = "attempt 1 of 10";
  log.on_event(r);
  // Published later than the retry but it happened before it.
  log.on_event(event(core::EventKind::delivered, "sub-A", kT0 + 3000, "csv_drop", "CSV-0001"));
  log.on_event(event(core::EventKind::delivered, "sub-A", kT0 + 3'600'000, "niche_soap", "CR/2023/77"));
  log.on_event(event(core::EventKind::collected, "sub-B", kT0 + 5000));
}

}  // namespace

TEST_CASE("usage errors exit 2") {
  TempDir dir;
  CHECK(run({}, dir.path()).code == 2);
  CHECK_THAT(run({"frobnicate"}, dir.path()).err, Catch::Contains("unknown audit command 'frobnicate'"));
  CHECK(run({"frobnicate"}, dir.path()).code == 2);
  CHECK(run({"show"}, dir.path()).code == 2);
  CHECK_THAT(run({"show"}, dir.path()).err, Catch::Contains("show needs --submission ID or --target NAME"));
  CHECK(run({"show", "--submission"}, dir.path()).code == 2);
  CHECK_THAT(run({"show", "--submission", "x", "--since", "last tuesday"}, dir.path()).err,
             Catch::Contains("--since: 'last tuesday' is not an RFC 3339 time"));
  CHECK(run({"show", "--submission", "x", "--until", "2023-13-45"}, dir.path()).code == 2);
  CHECK(run({"show", "--submission", "x", "--since", "2024-01-02", "--until", "2024-01-01"}, dir.path()).code == 2);
  CHECK(run({"show", "--submission", "x", "--allow-archived"}, dir.path()).code == 2);
  CHECK(run({"verify", "--json"}, dir.path()).code == 2);
  CHECK(run({"verify", "--head", "12"}, dir.path()).code == 2);
  CHECK(run({"verify", "--head", "x:" + std::string(64, 'a')}, dir.path()).code == 2);
  CHECK_THAT(run({"verify"}, "").err, Catch::Contains("no audit folder"));
  CHECK(run({"verify"}, "").code == 2);
  auto help = run({"--help"}, dir.path());
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("reportbridge audit verify"));
}

TEST_CASE("audit verify: 0 and the head when intact, 1 and file:line when not") {
  TempDir dir;
  write_events(dir.path(), 12);
  auto ok = run({"verify"}, dir.path());
  CHECK(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("audit verify: OK: 12 entries in 1 file(s), seq 1..12"));
  const std::string head = "12:" + line_hash(lines_of(dir / kCurrentFileName).back());
  CHECK_THAT(ok.out, Catch::Contains("head: " + head));
  CHECK(run({"verify", "--head", head}, dir.path()).code == 0);

  auto lines = lines_of(dir / kCurrentFileName);
  lines.erase(lines.begin() + 11);
  write_lines(dir / kCurrentFileName, lines);
  auto cut = run({"verify", "--head", head}, dir.path());
  CHECK(cut.code == 1);
  CHECK_THAT(cut.out, Catch::Contains("BROKEN") && Catch::Contains("before the recorded head seq 12"));

  lines.erase(lines.begin() + 2);
  write_lines(dir / kCurrentFileName, lines);
  auto bad = run({"verify"}, dir.path());
  CHECK(bad.code == 1);
  CHECK_THAT(bad.out, Catch::Contains("audit verify: BROKEN: audit.jsonl:3: seq jumps from 2"));
  CHECK_THAT(bad.out, Catch::Contains("2 entries verified before the break (up to seq 2)"));

  CHECK(run({"verify", "--dir", (dir / "missing").string()}, dir.path()).code == 1);
  TempDir empty;
  auto none = run({"verify"}, empty.path());
  CHECK(none.code == 0);
  CHECK_THAT(none.out, Catch::Contains("no entries yet"));
}

TEST_CASE("audit show: a submission's history in time order across rotated files") {
  TempDir dir;
  write_history(dir.path());
  REQUIRE(list_audit_files(dir.path()).size() >= 3);

  auto r = run({"show", "--submission", "sub-A"}, dir.path());
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "submission sub-A: 6 entries\n"
        "2023-11-14T22:13:21.000Z  collected       v1\n"
        "2023-11-14T22:13:22.000Z  mapped          v1  target niche_soap  mapping crime_report  rule route_crime\n"
        "2023-11-14T22:13:22.000Z  mapped          v1  target csv_drop  mapping crime_report  rule route_crime\n"
        "2023-11-14T22:13:23.000Z  delivered       v1  target csv_drop  ref CSV-0001\n"
        "2023-11-14T22:14:20.000Z  retry           v1  target niche_soap  reason http_503  -- attempt 1 of 10\n"
        "2023-11-14T23:13:20.000Z  delivered       v1  target niche_soap  ref CR/2023/77\n");

  SECTION("--target") {
    auto t = run({"show", "--submission", "sub-A", "--target", "niche_soap"}, dir.path());
    CHECK(t.code == 0);
    CHECK(t.out.find("csv_drop") == std::string::npos);
    CHECK_THAT(t.out, Catch::Contains("submission sub-A: 3 entries"));
  }
  SECTION("--since and --until: since <= time < until") {
    auto t = run({"show", "--submission", "sub-A", "--since", "2023-11-14T22:13:22Z", "--until",
                  "2023-11-14T23:13:20Z"},
                 dir.path());
    CHECK(t.code == 0);
    CHECK_THAT(t.out, Catch::Contains("submission sub-A: 4 entries"));
    CHECK(t.out.find("collected") == std::string::npos);
    CHECK(t.out.find("CR/2023/77") == std::string::npos);
    auto later = run({"show", "--submission", "sub-A", "--since", "2023-11-14T23:13:20.000+00:00"}, dir.path());
    CHECK_THAT(later.out, Catch::Contains("submission sub-A: 1 entry\n"));
  }
  SECTION("--target alone lists every submission disclosed to it") {
    auto t = run({"show", "--target", "csv_drop"}, dir.path());
    CHECK(t.code == 0);
    CHECK_THAT(t.out, Catch::Contains("2023-11-14T22:13:23.000Z  delivered       sub-A  v1  target csv_drop  ref CSV-0001"));
  }
  SECTION("--json prints the entries exactly as stored") {
    auto j = run({"show", "--submission", "sub-A", "--json"}, dir.path());
    CHECK(j.code == 0);
    std::istringstream in(j.out);
    std::string line;
    std::vector<std::int64_t> times;
    std::size_t found = 0;
    while (std::getline(in, line)) {
      auto e = parse_entry(line).entry;
      REQUIRE(e);
      CHECK(e->submission_id == "sub-A");
      times.push_back(e->time_ms);
      for (const auto& f : list_audit_files(dir.path()))
        if (testing::read_file(f.path).find(line + "\n") != std::string::npos) ++found;
    }
    CHECK(times.size() == 6);
    CHECK(std::is_sorted(times.begin(), times.end()));
    CHECK(found == 6);
  }
  SECTION("nothing found exits 1") {
    auto n = run({"show", "--submission", "sub-Z"}, dir.path());
    CHECK(n.code == 1);
    CHECK_THAT(n.err, Catch::Contains("no entries for submission sub-Z"));
  }
  SECTION("unreadable lines are skipped with a warning") {
    auto cur = dir / kCurrentFileName;
    testing::write_file(cur, testing::read_file(cur) + "garbage sub-A\n{\"seq\":99");
    auto w = run({"show", "--submission", "sub-A"}, dir.path());
    CHECK(w.code == 0);
    CHECK_THAT(w.out, Catch::Contains("submission sub-A: 6 entries"));
    CHECK_THAT(w.err, Catch::Contains("audit.jsonl:") && Catch::Contains("skipped: not an audit entry"));
    CHECK_THAT(w.err, Catch::Contains("skipped: incomplete last line (9 bytes)"));
  }
}

TEST_CASE("audit show: batch entries tell each submission's story, --json gives each stored line once") {
  TempDir dir;
  {
    AuditLog log(settings(dir.path()), identity());
    core::EventBatch collected;
    collected.kind = core::EventKind::collected;
    collected.at_ms = kT0;
    const std::string seq_a = "seq 1, sha256 aa", seq_b = "seq 2, sha256 bb";
    collected.items = {{"sub-A", 1, {}, seq_a, -1}, {"sub-B", 1, {}, seq_b, -1}};
    log.on_batch(collected);
    auto r = event(core::EventKind::needs_review, "sub-A", kT0 + 10);
    r.rule = "risk_words";
    log.on_event(r);
    core::EventBatch delivered;
    delivered.kind = core::EventKind::delivered;
    delivered.at_ms = kT0 + 1000;
    delivered.target = "csv_drop";
    delivered.mapping = "crime_report";
    delivered.detail = "created";
    delivered.items = {{"sub-B", 1, "f.csv#1", {}, 5}, {"sub-A", 1, "f.csv#2", {}, 5}};
    log.on_batch(delivered);
  }
  CHECK(run({"verify"}, dir.path()).code == 0);
  auto a = run({"show", "--submission", "sub-A"}, dir.path());
  REQUIRE(a.code == 0);
  CHECK(a.out.find("submission sub-A: 3 entries") != std::string::npos);
  CHECK(a.out.find("collected       v1  -- seq 1, sha256 aa") != std::string::npos);
  CHECK(a.out.find("needs_review") != std::string::npos);
  CHECK(a.out.find("delivered       v1  target csv_drop  ref f.csv#2  mapping crime_report  -- created") !=
        std::string::npos);
  CHECK(a.out.find("sub-B") == std::string::npos);
  auto t = run({"show", "--target", "csv_drop"}, dir.path());
  REQUIRE(t.code == 0);
  CHECK(t.out.find("sub-B  v1  target csv_drop  ref f.csv#1") != std::string::npos);
  CHECK(t.out.find("sub-A  v1  target csv_drop  ref f.csv#2") != std::string::npos);
  auto j = run({"show", "--target", "csv_drop", "--json"}, dir.path());
  REQUIRE(j.code == 0);
  CHECK(std::count(j.out.begin(), j.out.end(), '\n') == 1);  // the one batch entry, as stored
  CHECK(j.out.find(R"("items":[["sub-B",1,"1"],["sub-A",1,"2"]])") != std::string::npos);
}

TEST_CASE("the audit: config section") {
  TempDir dir;
  core::Diagnostics diags;
  SECTION("defaults") {
    auto s = load_audit_settings(YAML::Node(), "cfg.yaml", dir.path(), dir / "state" / "audit", diags);
    CHECK(diags.empty());
    CHECK(s.enabled);
    CHECK(s.directory == dir / "state" / "audit");
    CHECK(s.service_name == "reportbridge");
    CHECK(s.max_file_size == 64ULL << 20);
    CHECK(s.fsync == FsyncPolicy::interval);
    CHECK(s.fsync_interval == std::chrono::seconds(1));
  }
  SECTION("every key") {
    auto node = YAML::Load(
        "directory: trail\nservice_name: rb-north\nmax_file_size: 8MiB\nfsync: always\n"
        "fsync_interval: 250ms\nbuffer_size: 64KiB\nenabled: false\n");
    auto s = load_audit_settings(node, "cfg.yaml", dir.path(), dir / "x", diags);
    CHECK(diags.empty());
    CHECK_FALSE(s.enabled);
    CHECK(s.directory == dir / "trail");
    CHECK(s.service_name == "rb-north");
    CHECK(s.max_file_size == 8ULL << 20);
    CHECK(s.fsync == FsyncPolicy::always);
    CHECK(s.fsync_interval == std::chrono::milliseconds(250));
    CHECK(s.buffer_size == 64 * 1024);
  }
  SECTION("mistakes are reported with their position") {
    auto node = YAML::Load("fsync: sometimes\nmax_filesize: 1MiB\n");
    load_audit_settings(node, "cfg.yaml", dir.path(), dir / "x", diags);
    CHECK(diags.has_errors());
    CHECK_THAT(diags.to_string(), Catch::Contains("cfg.yaml:1:") && Catch::Contains("cfg.yaml:2:"));
  }
  SECTION("values out of range") {
    auto node = YAML::Load("max_file_size: 100\nservice_name: \"\"\ndirectory: \"\"\n");
    auto s = load_audit_settings(node, "cfg.yaml", dir.path(), dir / "x", diags);
    CHECK_THAT(diags.to_string(), Catch::Contains("at least 4KiB") && Catch::Contains("audit.empty_service_name") &&
                                      Catch::Contains("audit.empty_directory"));
    CHECK(s.max_file_size == 4096);
  }
  CHECK(audit_spec().what == "audit");
  CHECK(audit_spec().keys.size() == 7);
}

TEST_CASE("audit of a fleet: one chain per instance, verify reports each, show merges them naming the instance") {
  TempDir dir("auditfleet");
  auto write = [&](const std::string& instance, std::vector<std::pair<core::Event, std::int64_t>> events) {
    AuditSettings s = settings(dir.path());
    s.instance = instance;
    AuditLog log(s, identity());
    for (auto& [e, at] : events) {
      e.at_ms = at;
      log.on_event(e);
    }
    log.flush();
  };
  // alpha ingested sub-X and mapped it; bravo (after alpha died) delivered it.
  write("alpha", {{event(core::EventKind::collected, "sub-X", 0), kT0},
                  {event(core::EventKind::mapped, "sub-X", 0, "drop"), kT0 + 10},
                  {event(core::EventKind::collected, "sub-Y", 0), kT0 + 20}});
  write("bravo", {{event(core::EventKind::collected, "sub-Z", 0), kT0 + 5},
                  {event(core::EventKind::delivered, "sub-X", 0, "drop", "drop-1.csv#2"), kT0 + 3000}});
  CHECK(std::filesystem::exists(dir.path() / "alpha" / kCurrentFileName));
  CHECK(std::filesystem::exists(dir.path() / "bravo" / kCurrentFileName));
  CHECK_FALSE(std::filesystem::exists(dir.path() / kCurrentFileName));
  // Each entry names its instance (sealed in its hash) beside the id per start.
  CHECK(lines_of(dir.path() / "alpha" / kCurrentFileName)[0].find("\"instance\":\"alpha/0123456789abcdef\"") !=
        std::string::npos);

  auto ok = run({"verify"}, dir.path());
  INFO(ok.out << ok.err);
  CHECK(ok.code == 0);
  CHECK(ok.out.find("audit verify: instance alpha: OK: 3 entries") != std::string::npos);
  CHECK(ok.out.find("audit verify: instance bravo: OK: 2 entries") != std::string::npos);
  CHECK(ok.out.find("head alpha: 3:") != std::string::npos);
  CHECK(ok.out.find("head bravo: 2:") != std::string::npos);
  CHECK(ok.out.find("2 chain(s), all intact") != std::string::npos);

  auto show = run({"show", "--submission", "sub-X"}, dir.path());
  INFO(show.out << show.err);
  CHECK(show.code == 0);
  const auto collected = show.out.find("alpha         collected");
  const auto mapped = show.out.find("alpha         mapped");
  const auto delivered = show.out.find("bravo         delivered");
  CHECK(collected != std::string::npos);
  CHECK(mapped != std::string::npos);
  CHECK(delivered != std::string::npos);
  CHECK(collected < mapped);
  CHECK(mapped < delivered);
  CHECK(show.out.find("submission sub-X: 3 entries") != std::string::npos);

  // --head needs one chain.
  CHECK(run({"verify", "--head", "1:" + std::string(64, 'a')}, dir.path()).code == 2);
  CHECK(run({"verify", "--instance", "bravo"}, dir.path()).out.find("instance alpha") == std::string::npos);
  CHECK(run({"verify", "--instance", "charlie"}, dir.path()).code == 1);

  // One line of bravo's chain altered: bravo's chain is broken at that line, alpha's intact.
  {
    auto lines = lines_of(dir.path() / "bravo" / kCurrentFileName);
    const auto at = lines[1].find("sub-X");
    REQUIRE(at != std::string::npos);
    lines[1].replace(at, 5, "sub-Q");
    std::string data;
    for (const auto& l : lines) data += l + "\n";
    testing::write_file(dir.path() / "bravo" / kCurrentFileName, data);
  }
  auto broken = run({"verify"}, dir.path());
  INFO(broken.out);
  CHECK(broken.code == 1);
  CHECK(broken.out.find("audit verify: instance alpha: OK") != std::string::npos);
  CHECK(broken.out.find("audit verify: instance bravo: BROKEN: audit.jsonl:2:") != std::string::npos);
  CHECK(broken.out.find("1 BROKEN") != std::string::npos);
}

TEST_CASE("audit of a fleet: an entry moved into another instance's chain is caught") {
  TempDir dir("auditfleetmove");
  for (const char* name : {"alpha", "bravo"}) {
    AuditSettings s = settings(dir.path());
    s.instance = name;
    AuditLog log(s, identity());
    log.on_event(event(core::EventKind::collected, std::string("sub-") + name, kT0));
    log.flush();
  }
  // bravo's folder replaced by a copy of alpha's chain (every hash intact).
  std::filesystem::copy_file(dir.path() / "alpha" / kCurrentFileName, dir.path() / "bravo" / kCurrentFileName,
                             std::filesystem::copy_options::overwrite_existing);
  auto r = run({"verify"}, dir.path());
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("instance bravo: BROKEN: audit.jsonl:1: entry seq 1 was written by instance 'alpha'") !=
        std::string::npos);
}

TEST_CASE("audit of a fleet: a lone instance's chain in the folder itself is read beside the instances' chains") {
  TempDir dir("auditfleetmixed");
  write_events(dir.path(), 3);  // written before the instance had a name of its own
  {
    AuditSettings s = settings(dir.path());
    s.instance = "alpha";
    AuditLog log(s, identity());
    log.on_event(event(core::EventKind::delivered, "s1", 1'700'000'000'000 + 1500, "drop"));
    log.flush();
  }
  auto v = run({"verify"}, dir.path());
  INFO(v.out << v.err);
  CHECK(v.code == 0);
  CHECK(v.out.find("audit verify: instance (folder itself): OK: 3 entries") != std::string::npos);
  CHECK(v.out.find("head (folder itself): 3:") != std::string::npos);
  CHECK(v.out.find("audit verify: instance alpha: OK: 1 entry") != std::string::npos);
  auto show = run({"show", "--submission", "s1"}, dir.path());
  INFO(show.out);
  CHECK(show.code == 0);
  const auto collected = show.out.find("-             collected");
  const auto delivered = show.out.find("alpha         delivered");
  CHECK(collected != std::string::npos);
  CHECK(delivered != std::string::npos);
  CHECK(collected < delivered);
}
