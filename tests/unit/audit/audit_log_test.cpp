#include "bridge/audit/audit_log.hpp"

#include <sys/resource.h>

#include <csignal>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "bridge/audit/audit_files.hpp"
#include "bridge/audit/audit_reader.hpp"
#include "tests/unit/audit/audit_test_util.hpp"

using namespace reportbridge;
using namespace reportbridge::audit;
using namespace reportbridge::audit::test;
using reportbridge::testing::TempDir;

namespace {

std::vector<Entry> entries_of(const std::filesystem::path& file) {
  std::vector<Entry> out;
  for (const auto& l : lines_of(file)) {
    auto p = parse_entry(l);
    REQUIRE(p.entry);
    out.push_back(*p.entry);
  }
  return out;
}

}  // namespace

TEST_CASE("the first entry chains from genesis and each entry from the line before") {
  TempDir dir;
  {
    AuditLog log(settings(dir.path()), identity());
    auto e = event(core::EventKind::delivered, "sub-1", 1'700'000'000'000, "niche_soap", "CR/1");
    e.mapping = "crime_report";
    log.on_event(e);
    log.on_event(event(core::EventKind::written_back, "sub-1", 1'700'000'000'100));
    CHECK(log.last_seq() == 2);
  }
  auto lines = lines_of(dir / kCurrentFileName);
  REQUIRE(lines.size() == 2);
  auto first = parse_entry(lines[0]).entry;
  auto second = parse_entry(lines[1]).entry;
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->seq == 1);
  CHECK(first->prev == kGenesis);
  CHECK(first->kind == "delivered");
  CHECK(first->service == "reportbridge-test");
  CHECK(first->host == "testhost");
  CHECK(first->pid == 4242);
  CHECK(first->mapping == "crime_report");
  CHECK(first->target == "niche_soap");
  CHECK(first->reference == "CR/1");
  CHECK(first->time == "2023-11-14T22:13:20.000Z");
  CHECK(second->seq == 2);
  CHECK(second->prev == line_hash(lines[0]));
  CHECK(verify_chain(dir.path()).ok);
}

TEST_CASE("an event without a time gets the clock's") {
  TempDir dir;
  {
    AuditLog log(settings(dir.path()), identity(), [] { return 1'600'000'000'000LL; });
    log.on_event(event(core::EventKind::collected, "s", 0));
  }
  auto e = entries_of(dir / kCurrentFileName);
  REQUIRE(e.size() == 1);
  CHECK(e[0].time == "2020-09-13T12:26:40.000Z");
}

TEST_CASE("nothing reaches the file before a flush unless the buffer fills") {
  TempDir dir;
  auto s = settings(dir.path());
  SECTION("flush writes the buffer with one write") {
    AuditLog log(s, identity());
    for (int i = 0; i < 50; ++i) log.on_event(event(core::EventKind::collected, "s", 1000 + i));
    CHECK(std::filesystem::file_size(dir / kCurrentFileName) == 0);
    log.flush();
    CHECK(lines_of(dir / kCurrentFileName).size() == 50);
    CHECK(log.stats().writes == 1);
    CHECK(log.stats().entries == 50);
  }
  SECTION("a full buffer is written without a flush") {
    s.buffer_size = 2000;
    AuditLog log(s, identity());
    for (int i = 0; i < 20; ++i) log.on_event(event(core::EventKind::collected, "s", 1000 + i));
    CHECK(log.stats().writes >= 3);
    CHECK(lines_of(dir / kCurrentFileName).size() >= 6);
  }
}

TEST_CASE("the chain continues across a restart") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto before = lines_of(dir / kCurrentFileName);
  write_events(dir.path(), 5, 1'700'000'000'000, 64ULL << 20, 10);
  auto after = entries_of(dir / kCurrentFileName);
  REQUIRE(after.size() == 15);
  CHECK(after[10].seq == 11);
  CHECK(after[10].prev == line_hash(before[9]));
  CHECK(after[10].submission_id == "s10");
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 15);
  CHECK(r.last_seq == 15);
}

TEST_CASE("rotation by size keeps the chain verifiable across files and restarts") {
  TempDir dir;
  write_events(dir.path(), 60, 1'700'000'000'000, 4096);
  write_events(dir.path(), 40, 1'700'000'000'000, 4096, 60);
  auto files = list_audit_files(dir.path());
  REQUIRE(files.size() >= 4);
  CHECK(files.back().current);
  std::int64_t expected_seq = 1;
  std::string prev(kGenesis);
  for (const auto& f : files) {
    auto es = entries_of(f.path);
    REQUIRE_FALSE(es.empty());
    if (!f.current) {
      CHECK(f.first_seq == es.front().seq);
      CHECK(f.path.filename().string().ends_with("Z.jsonl"));
      CHECK(std::filesystem::file_size(f.path) <= 4096);
    }
    // The first entry of each file chains from the last line of the file before.
    CHECK(es.front().prev == prev);
    for (const auto& e : es) CHECK(e.seq == expected_seq++);
    prev = line_hash(lines_of(f.path).back());
  }
  CHECK(expected_seq == 101);
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 100);
  CHECK(r.files == files.size());
}

TEST_CASE("three threads writing at once produce one valid chain") {
  TempDir dir;
  auto s = settings(dir.path(), 64 * 1024);
  s.buffer_size = 8 * 1024;
  {
    AuditLog log(s, identity());
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 2000; ++i) {
          log.on_event(event(core::EventKind::mapped, "t" + std::to_string(t) + "-" + std::to_string(i),
                             1'700'000'000'000 + i, "target" + std::to_string(t)));
          if (i % 100 == 99) log.flush();
        }
      });
    for (auto& th : threads) th.join();
    CHECK(log.stats().rotations > 0);
    CHECK(log.healthy());
  }
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 6000);
  std::set<std::string> ids;
  for (const auto& f : list_audit_files(dir.path()))
    for (const auto& e : entries_of(f.path)) ids.insert(e.submission_id);
  CHECK(ids.size() == 6000);
}

TEST_CASE("a torn last line after a crash: set aside, and the chain resumes with chain_resumed") {
  TempDir dir;
  write_events(dir.path(), 5);
  auto good = lines_of(dir / kCurrentFileName);
  // A crash cut the last write short: half a line without its newline.
  testing::write_file(dir / kCurrentFileName,
                      testing::read_file(dir / kCurrentFileName) + good[4].substr(0, 40));

  auto broken = verify_chain(dir.path());
  CHECK_FALSE(broken.ok);
  CHECK(broken.file == kCurrentFileName);
  CHECK(broken.line == 6);
  CHECK_THAT(broken.problem, Catch::Contains("incomplete (40 bytes without a newline)"));

  write_events(dir.path(), 3, 1'700'000'000'000, 64ULL << 20, 5);
  auto files = list_audit_files(dir.path());
  REQUIRE(files.size() == 2);
  // The torn file is kept as it was, under a rotated name.
  CHECK(lines_of(files[0].path).size() == 6);
  CHECK(lines_of(files[0].path).back() == good[4].substr(0, 40));
  auto resumed = entries_of(dir / kCurrentFileName);
  REQUIRE(resumed.size() == 4);
  CHECK(resumed[0].kind == "chain_resumed");
  CHECK(resumed[0].reason_code == "torn_tail");
  CHECK(resumed[0].seq == 6);
  CHECK(resumed[0].prev == line_hash(good[4]));
  CHECK_THAT(resumed[0].detail, Catch::Contains("40 byte(s) of an incomplete entry after 5 complete line(s)"));
  CHECK_THAT(resumed[0].detail, Catch::Contains(files[0].path.filename().string()));
  CHECK(resumed[1].seq == 7);

  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 9);
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], Catch::Contains(files[0].path.filename().string() + ":6: incomplete line of 40 bytes"));
  CHECK_THAT(r.notes[0], Catch::Contains("audit.jsonl:1 (seq 6)"));
}

TEST_CASE("a crash between rotation and the first complete write resumes from the rotated file") {
  TempDir dir;
  write_events(dir.path(), 5);
  auto lines = lines_of(dir / kCurrentFileName);
  // Rotated, then the first write to the new file was cut short.
  std::filesystem::rename(dir / kCurrentFileName, dir / rotated_file_name(1, 1'700'000'000'000));
  SECTION("the new file holds only a fragment") {
    testing::write_file(dir / kCurrentFileName, "{\"seq\":6,\"time\":\"2023");
  }
  SECTION("the new file was never created, the rotated one is torn") {
    testing::write_file(dir / rotated_file_name(1, 1'700'000'000'000),
                        testing::read_file(dir / rotated_file_name(1, 1'700'000'000'000)) + "{\"seq\":6");
  }
  write_events(dir.path(), 2, 1'700'000'000'000, 64ULL << 20, 5);
  auto es = entries_of(dir / kCurrentFileName);
  REQUIRE(es.size() == 3);
  CHECK(es[0].kind == "chain_resumed");
  CHECK(es[0].seq == 6);
  CHECK(es[0].prev == line_hash(lines[4]));
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 8);
  CHECK(r.notes.size() == 1);
}

TEST_CASE("the writer refuses to continue from a last entry that fails its own hash") {
  TempDir dir;
  write_events(dir.path(), 3);
  auto lines = lines_of(dir / kCurrentFileName);
  lines[2][lines[2].find("s2")] = 'X';
  write_lines(dir / kCurrentFileName, lines);
  CHECK_THROWS_WITH(AuditLog(settings(dir.path()), identity()),
                    Catch::Contains("the last entry of") && Catch::Contains("does not match its own hash"));
}

TEST_CASE("one writer per folder") {
  TempDir dir;
  AuditLog first(settings(dir.path()), identity());
  CHECK_THROWS_WITH(AuditLog(settings(dir.path()), identity()), Catch::Contains("another process is writing"));
}

TEST_CASE("an unusable folder is an error at start-up") {
  TempDir dir;
  testing::write_file(dir / "file", "x");
  CHECK_THROWS_WITH(AuditLog(settings(dir / "file" / "audit"), identity()), Catch::Contains("cannot create"));
  CHECK_THROWS_WITH(AuditLog(settings(""), identity()), Catch::Contains("no directory"));
}

TEST_CASE("fsync policies") {
  TempDir dir;
  auto s = settings(dir.path());
  SECTION("always: after every write") {
    s.fsync = FsyncPolicy::always;
    AuditLog log(s, identity());
    for (int i = 0; i < 3; ++i) {
      log.on_event(event(core::EventKind::collected, "s", 1000));
      log.flush();
    }
    CHECK(log.stats().writes == 3);
    CHECK(log.stats().syncs == 3);
  }
  SECTION("interval: at most once per interval") {
    s.fsync = FsyncPolicy::interval;
    s.fsync_interval = std::chrono::hours(1);
    AuditLog log(s, identity());
    for (int i = 0; i < 3; ++i) {
      log.on_event(event(core::EventKind::collected, "s", 1000));
      log.flush();
    }
    CHECK(log.stats().writes == 3);
    CHECK(log.stats().syncs == 1);
  }
  SECTION("interval, on a machine booted moments ago: the first write is synced at once") {
    // The monotonic clock starts near zero after boot: a last-sync time
    // defaulting to the clock's epoch must not read as "synced just now".
    s.fsync = FsyncPolicy::interval;
    s.fsync_interval = std::chrono::hours(1);
    auto uptime = std::chrono::steady_clock::time_point{} + std::chrono::seconds(5);
    AuditLog log(s, identity(), {}, [&] { return uptime; });
    log.on_event(event(core::EventKind::collected, "s", 1000));
    log.flush();
    CHECK(log.stats().syncs == 1);
    uptime += std::chrono::minutes(59);
    log.on_event(event(core::EventKind::collected, "s", 1001));
    log.flush();
    CHECK(log.stats().syncs == 1);
    uptime += std::chrono::minutes(1);
    log.on_event(event(core::EventKind::collected, "s", 1002));
    log.flush();
    CHECK(log.stats().syncs == 2);
  }
  SECTION("never") {
    AuditLog log(s, identity());
    log.on_event(event(core::EventKind::collected, "s", 1000));
    log.flush();
    CHECK(log.stats().syncs == 0);
  }
}

TEST_CASE("a failed write keeps the entries and the next flush completes the chain") {
  TempDir dir;
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  {
    AuditLog log(settings(dir.path()), identity());
    for (int i = 0; i < 20; ++i) log.on_event(event(core::EventKind::collected, "s" + std::to_string(i), 1000 + i));
    // The file may not grow past 1000 bytes: the write stops inside a line.
    rlimit tight = old;
    tight.rlim_cur = 1000;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &tight) == 0);
    log.flush();
    REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK_FALSE(log.healthy());
    CHECK_THAT(log.last_error(), Catch::Contains("cannot write") && Catch::Contains("kept for the next attempt"));
    CHECK(log.stats().write_errors == 1);
    CHECK(std::filesystem::file_size(dir / kCurrentFileName) == 1000);
    log.flush();
    CHECK(log.healthy());
  }
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.entries == 20);
}
