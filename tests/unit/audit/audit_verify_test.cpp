// Every way of tampering with the trail is caught, at the right file:line.
#include <catch2/catch.hpp>

#include "bridge/audit/audit_files.hpp"
#include "bridge/audit/audit_reader.hpp"
#include "tests/unit/audit/audit_test_util.hpp"

using namespace reportbridge;
using namespace reportbridge::audit;
using namespace reportbridge::audit::test;
using reportbridge::testing::TempDir;

namespace {

// A forged entry in the writer's format, sealed with its own correct hash.
std::string forge(std::int64_t seq, const std::string& submission, const std::string& prev) {
  core::Event e;
  e.kind = core::EventKind::delivered;
  e.submission_id = submission;
  e.target = "niche_soap";
  e.at_ms = 1'700'000'000'000;
  return seal(unsealed(seq, encode_body("delivered", e, e.at_ms, identity()), prev)).line;
}

std::filesystem::path current(const TempDir& d) { return d / kCurrentFileName; }

}  // namespace

TEST_CASE("an intact trail verifies, and an empty one too") {
  TempDir dir;
  auto empty = verify_chain(dir.path());
  CHECK(empty.ok);
  CHECK(empty.entries == 0);
  write_events(dir.path(), 10);
  auto r = verify_chain(dir.path());
  CHECK(r.ok);
  CHECK(r.location().empty());
  CHECK(r.entries == 10);
  CHECK(r.first_seq == 1);
  CHECK(r.last_seq == 10);
  CHECK(r.head_hash == line_hash(lines_of(current(dir)).back()));
  CHECK_THROWS_WITH(verify_chain(dir / "nowhere"), Catch::Contains("no audit trail at"));
}

TEST_CASE("one edited byte") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  lines[4][lines[4].find("\"s4\"") + 2] = '9';
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.location().starts_with("audit.jsonl:5: the entry after seq 4 is not valid: its content does not match its own hash"));
  CHECK(r.entries == 4);
}

TEST_CASE("an edited entry whose own hash was recomputed") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  auto e = parse_entry(lines[4]).entry;
  REQUIRE(e);
  lines[4] = forge(5, "someone-else", e->prev);
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.file == kCurrentFileName);
  CHECK(r.line == 6);
  CHECK_THAT(r.problem, Catch::Contains("prev does not match the entry before it (seq 5 at audit.jsonl:5)"));
}

TEST_CASE("a deleted line") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  lines.erase(lines.begin() + 3);
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.location() ==
        "audit.jsonl:4: seq jumps from 3 (audit.jsonl:3) to 5: entries 4..4 are missing (lines deleted or moved)");
}

TEST_CASE("two lines swapped") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  std::swap(lines[6], lines[7]);
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.line == 7);
  CHECK_THAT(r.problem, Catch::Contains("seq jumps from 6") && Catch::Contains("to 8"));
}

TEST_CASE("the last two lines swapped") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  std::swap(lines[8], lines[9]);
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.line == 9);
}

TEST_CASE("an inserted forged line with a correct own hash and prev") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto lines = lines_of(current(dir));
  lines.insert(lines.begin() + 3, forge(4, "forged", line_hash(lines[2])));
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.location() ==
        "audit.jsonl:5: seq 4 follows seq 4 (audit.jsonl:4): entries are out of order, or a line was inserted or "
        "duplicated");
}

TEST_CASE("an appended forged line with a wrong prev") {
  TempDir dir;
  write_events(dir.path(), 3);
  auto lines = lines_of(current(dir));
  lines.push_back(forge(4, "forged", std::string(kGenesis)));
  write_lines(current(dir), lines);
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.line == 4);
  CHECK_THAT(r.problem, Catch::Contains("prev does not match"));
}

TEST_CASE("the current file truncated inside a line") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto data = testing::read_file(current(dir));
  testing::write_file(current(dir), data.substr(0, data.size() - 30));
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK(r.file == kCurrentFileName);
  CHECK(r.line == 10);
  CHECK_THAT(r.problem, Catch::Contains("the last line is incomplete"));
}

TEST_CASE("lines cut from the end are caught against a recorded head") {
  TempDir dir;
  write_events(dir.path(), 10);
  auto head = verify_chain(dir.path());
  auto lines = lines_of(current(dir));
  VerifyOptions o;
  o.head_seq = head.last_seq;
  o.head_hash = head.head_hash;
  CHECK(verify_chain(dir.path(), o).ok);
  lines.resize(8);
  write_lines(current(dir), lines);
  CHECK(verify_chain(dir.path()).ok);  // a clean cut at a line boundary needs the head
  auto r = verify_chain(dir.path(), o);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.problem, Catch::Contains("the trail ends at seq 8, before the recorded head seq 10"));

  SECTION("and a replaced head entry") {
    o.head_seq = 8;
    o.head_hash = std::string(64, 'a');
    auto r2 = verify_chain(dir.path(), o);
    CHECK_FALSE(r2.ok);
    CHECK(r2.line == 8);
    CHECK_THAT(r2.problem, Catch::Contains("not the recorded head"));
  }
}

TEST_CASE("tampering with rotated files") {
  TempDir dir;
  write_events(dir.path(), 80, 1'700'000'000'000, 4096);
  auto files = list_audit_files(dir.path());
  REQUIRE(files.size() >= 4);
  REQUIRE(verify_chain(dir.path()).ok);
  const std::string second = files[1].path.filename().string();
  const std::string third = files[2].path.filename().string();

  SECTION("a middle file removed") {
    std::filesystem::remove(files[1].path);
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == third);
    CHECK(r.line == 1);
    CHECK_THAT(r.problem, Catch::Contains("are missing (a file was removed, or the file before was cut short)"));
  }
  SECTION("a rotated file truncated at a line boundary") {
    auto lines = lines_of(files[1].path);
    lines.pop_back();
    write_lines(files[1].path, lines);
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == third);
    CHECK(r.line == 1);
  }
  SECTION("a rotated file truncated inside a line") {
    auto data = testing::read_file(files[1].path);
    testing::write_file(files[1].path, data.substr(0, data.size() - 10));
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == second);
    CHECK(r.line == lines_of(files[1].path).size());
    CHECK_THAT(r.problem, Catch::Contains("is not a chain_resumed entry: the file was cut short"));
  }
  SECTION("two rotated files swapped by renaming") {
    auto tmp = dir / "tmp";
    std::filesystem::rename(files[1].path, tmp);
    std::filesystem::rename(files[2].path, files[1].path);
    std::filesystem::rename(tmp, files[2].path);
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == second);
    CHECK(r.line == 1);
  }
  SECTION("the oldest file removed, or archived") {
    std::filesystem::remove(files[0].path);
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == second);
    CHECK_THAT(r.problem, Catch::Contains("the chain does not start here"));
    VerifyOptions o;
    o.allow_archived = true;
    auto archived = verify_chain(dir.path(), o);
    CHECK(archived.ok);
    CHECK(archived.first_seq == files[1].first_seq);
    REQUIRE(archived.notes.size() == 1);
    CHECK_THAT(archived.notes[0], Catch::Contains("earlier files are not here (archived)"));
  }
  SECTION("a line edited in the oldest file") {
    auto lines = lines_of(files[0].path);
    lines[1][lines[1].find("collected")] = 'C';
    write_lines(files[0].path, lines);
    auto r = verify_chain(dir.path());
    CHECK_FALSE(r.ok);
    CHECK(r.file == files[0].path.filename().string());
    CHECK(r.line == 2);
  }
}

TEST_CASE("a first entry that claims genesis must be seq 1") {
  TempDir dir;
  write_lines(dir / kCurrentFileName, {forge(7, "x", std::string(kGenesis))});
  auto r = verify_chain(dir.path());
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.problem, Catch::Contains("the first entry has seq 7"));
}
