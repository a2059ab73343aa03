#include "bridge/dedup/deduplicator.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "bridge/dedup/normalise.hpp"
#include "bridge/dedup/recent_index.hpp"
#include "bridge/store/sqlite.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/dedup/dedup_docs.hpp"

namespace {

namespace json = boost::json;
using reportbridge::testing::base_doc;
using reportbridge::testing::reworded;
using reportbridge::testing::row_of;
using reportbridge::core::SourceRow;
using reportbridge::dedup::DedupSettings;
using reportbridge::dedup::Deduplicator;
using reportbridge::dedup::Verdict;
using reportbridge::store::Database;
using reportbridge::testing::TempDir;

std::string write_key(const TempDir& dir) {
  const auto path = (dir / "dedup.key").string();
  reportbridge::testing::write_file(path, "0123456789abcdef0123456789abcdef");
  ::chmod(path.c_str(), 0600);
  return path;
}

std::int64_t count(Database& db, const std::string& table) {
  auto st = db.prepare("SELECT COUNT(*) FROM " + table);
  st.step();
  return st.int64(0);
}

struct Fixture {
  TempDir dir{"dedup"};
  Database db{(dir / "state.db").string(), Database::Mode::read_write_create};
  DedupSettings settings = [this] {
    DedupSettings s;
    s.reporter_key_file = write_key(dir);
    return s;
  }();
};

}  // namespace

TEST_CASE("a double tap under a new id is a duplicate of the first", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  auto v1 = d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
  CHECK(v1.kind == Verdict::Kind::original);

  json::value tap = base_doc();
  tap.as_object()["id"] = "a2";
  tap.as_object()["submitted_at"] = "2026-11-27T18:42:25+00:00";  // stamped later
  tap.as_object()["attachments"].as_array()[0].as_object()["id"] = "att2";  // re-uploaded
  tap.as_object()["attachments"].as_array()[0].as_object()["path"] = "2026/11/27/att2.jpg";
  tap.as_object()["description"] = "  A group of about 6 TEENAGERS are throwing stones at the buses on\nLinthorpe Road again.  One window cracked tonight.";
  auto v2 = d.check_and_record(tap, row_of(tap, 2, "2026-11-27T18:42:30Z"));
  CHECK(v2.kind == Verdict::Kind::duplicate);
  CHECK(v2.of_id == "a1");
  CHECK(v2.rule == "duplicate.fingerprint");
  CHECK(v2.score == 1.0);
  CHECK(v2.explanation.find("a1") != std::string::npos);
  CHECK(v2.explanation.find("19 s") != std::string::npos);

  SECTION("outside the window the same content is not a duplicate") {
    json::value late = base_doc();
    late.as_object()["id"] = "a3";
    auto v3 = d.check_and_record(late, row_of(late, 3, "2026-11-27T19:00:00Z"));
    CHECK(v3.kind != Verdict::Kind::duplicate);
  }
  SECTION("a different attachment makes different content") {
    json::value other = base_doc();
    other.as_object()["id"] = "a4";
    other.as_object()["attachments"].as_array()[0].as_object()["sha256"] = std::string(64, 'a');
    auto v4 = d.check_and_record(other, row_of(other, 4, "2026-11-27T18:43:00Z"));
    CHECK(v4.kind != Verdict::Kind::duplicate);
  }
  SECTION("the verdict is recorded and replayed for the same (id, version)") {
    auto again = d.check_and_record(tap, row_of(tap, 2, "2026-11-27T18:42:30Z"));
    CHECK(again.replayed);
    CHECK(again.kind == Verdict::Kind::duplicate);
    CHECK(again.of_id == "a1");
    auto stored = d.recorded_verdict("a2", 1);
    REQUIRE(stored);
    CHECK(stored->explanation == v2.explanation);
    CHECK_FALSE(d.recorded_verdict("zz", 1));
  }
}

TEST_CASE("a reworded report of the same incident is related to the first", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
  const auto second = reworded("b1");
  auto v = d.check_and_record(second, row_of(second, 2, "2026-11-27T19:05:00Z"));
  CHECK(v.kind == Verdict::Kind::related);
  CHECK(v.of_id == "a1");
  CHECK(v.rule == "related.same_category");
  CHECK(v.score >= f.settings.threshold);
  CHECK(v.explanation.find("related to a1") != std::string::npos);
  CHECK(v.explanation.find(" m apart") != std::string::npos);

  SECTION("a third report links to the first, via the second") {
    auto third = reworded("b2");
    third.as_object()["location"].as_object()["lat"] = 54.57480;
    auto v3 = d.check_and_record(third, row_of(third, 3, "2026-11-27T19:10:00Z"));
    CHECK(v3.kind == Verdict::Kind::related);
    CHECK(v3.of_id == "a1");
  }
  SECTION("check() judges without recording") {
    auto third = reworded("b3");
    third.as_object()["summary"] = "Bikes and stones outside the Co-op";
    auto preview = d.check(third, row_of(third, 3, "2026-11-27T19:10:00Z"));
    CHECK(preview.kind == Verdict::Kind::related);
    CHECK_FALSE(d.recorded_verdict("b3", 1));
  }
}

TEST_CASE("a report in another language of the same incident is related", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
  auto pl = reworded("c1");
  pl.as_object()["summary"] = "Młodzież rzuca kamieniami w autobusy";
  pl.as_object()["description"] = "\u200fGrupa około 6 nastolatków znowu rzuca kamieniami w autobusy na Linthorpe Road.";
  auto v = d.check_and_record(pl, row_of(pl, 2, "2026-11-27T19:00:00Z"));
  CHECK(v.kind == Verdict::Kind::related);
  CHECK(v.of_id == "a1");
  // The words barely overlap; place, time and distance carry it.
  CHECK(v.explanation.find("text similarity 0.") != std::string::npos);
}

TEST_CASE("a different incident nearby is not linked", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));

  SECTION("same place, an incident hours apart") {
    auto other = reworded("d1");
    other.as_object()["occurred"].as_object()["start"] = "2026-11-27T09:00:00+00:00";
    auto v = d.check_and_record(other, row_of(other, 2, "2026-11-27T19:00:00Z"));
    CHECK(v.kind == Verdict::Kind::original);
    CHECK(v.rule == "original.no_match");
  }
  SECTION("another category at the same time and place") {
    auto other = reworded("d2");
    other.as_object()["category"] = "fly_tipping";
    auto v = d.check_and_record(other, row_of(other, 2, "2026-11-27T19:00:00Z"));
    CHECK(v.kind == Verdict::Kind::original);
  }
  SECTION("same category 120 m away on another street, described differently") {
    auto other = reworded("d3");
    other.as_object()["location"].as_object()["lat"] = 54.5752;
    other.as_object()["location"].as_object()["lon"] = -1.2362;
    other.as_object()["location"].as_object()["address"] = "12 Southfield Road, Middlesbrough";
    other.as_object()["location"].as_object()["postcode"] = "TS1 4PZ";
    other.as_object()["occurred"].as_object()["start"] = "2026-11-27T17:10:00+00:00";
    other.as_object()["summary"] = "Kids banging on doors and windows";
    other.as_object()["description"] = "Same group of kids banging on doors on Southfield Road then running off.";
    auto v = d.check_and_record(other, row_of(other, 2, "2026-11-27T19:00:00Z"));
    CHECK(v.kind == Verdict::Kind::original);
    CHECK(v.score > 0);  // a candidate was scored, below the threshold
    CHECK(v.explanation.find("< threshold") != std::string::npos);
  }
  SECTION("a category configured as unlinked is never related") {
    auto other = reworded("d4");
    other.as_object()["category"] = "police_feedback";
    auto v = d.check_and_record(other, row_of(other, 2, "2026-11-27T19:00:00Z"));
    CHECK(v.kind == Verdict::Kind::original);
  }
}

TEST_CASE("related categories link with a penalty", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  auto first = base_doc();
  first.as_object()["category"] = "noise";
  d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
  auto other = reworded("r1");
  other.as_object()["location"] = first.at("location");
  auto v = d.check_and_record(other, row_of(other, 2, "2026-11-27T19:00:00Z"));
  CHECK(v.kind == Verdict::Kind::related);
  CHECK(v.rule == "related.related_category");
}

TEST_CASE("an edit is an update, never a duplicate of its earlier version", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
  json::value edit = base_doc();  // identical content, version 2
  edit.as_object()["version"] = 2;
  auto v = d.check_and_record(edit, row_of(edit, 2, "2026-11-27T18:44:00Z"));
  CHECK(v.kind == Verdict::Kind::update);
  CHECK(v.of_id == "a1");
  CHECK(v.rule == "update.new_version");
  // The edit is not indexed: a double tap of version 1 still points at a1.
  json::value tap = base_doc();
  tap.as_object()["id"] = "a9";
  auto t = d.check_and_record(tap, row_of(tap, 3, "2026-11-27T18:45:00Z"));
  CHECK(t.kind == Verdict::Kind::duplicate);
  CHECK(t.of_id == "a1");
}

TEST_CASE("payloads of any shape are judged without throwing", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  for (const char* text : {"[1,2]", "null", R"({"kind": 3, "location": "x", "reporter": "anon"})",
                           R"({"location": {"lat": 540.0, "lon": -1.2}, "category": "noise"})",
                           R"({"description": "bad \u00ff", "occurred": {"start": "yesterday"}})"}) {
    json::value doc = json::parse(text);
    SourceRow row{1, std::string("m-") + text, 1, "not a time", text};
    CHECK_NOTHROW(d.check_and_record(doc, row));
  }
  json::value arr = json::parse("[1]");
  auto v = d.check_and_record(arr, SourceRow{2, "arr", 1, "2026-11-27T18:00:00Z", "[1]"});
  CHECK(v.rule == "original.not_checked");
}

TEST_CASE("reporter keys are stable, keyed and never stored in clear", "[dedup]") {
  Fixture f;
  std::string key_a;
  {
    Deduplicator d(f.db, f.settings);
    auto first = base_doc();
    auto v = d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
    REQUIRE(v.reporter_key);
    key_a = *v.reporter_key;
    CHECK(key_a.rfind("rk-", 0) == 0);
    CHECK(key_a.size() == 35);

    // Same person, other case and spacing, phone only in national format.
    json::value again = reworded("p2");
    again.as_object()["reporter"] = json::parse(
        R"({"anonymous": false, "name": "A Khan", "email": " A.Khan@EXAMPLE.org ", "phone": null})");
    CHECK(d.reporter_key(again) == key_a);
    json::value by_phone = reworded("p3");
    by_phone.as_object()["reporter"] =
        json::parse(R"({"anonymous": false, "name": "A Khan", "email": null, "phone": "07700 900123"})");
    CHECK(d.reporter_key(by_phone) == key_a);  // linked through the first report's phone
    json::value someone_else = reworded("p4");
    someone_else.as_object()["reporter"] =
        json::parse(R"({"anonymous": false, "email": "someone@example.org", "phone": null})");
    auto other = d.reporter_key(someone_else);
    REQUIRE(other);
    CHECK(*other != key_a);
    CHECK_FALSE(d.reporter_key(reworded("p5")));  // anonymous
  }
  // Stable across restarts with the same key file.
  {
    Deduplicator d(f.db, f.settings);
    CHECK(d.reporter_key(base_doc()) == key_a);
  }
  // A different key gives a different key for the same person.
  {
    TempDir other_dir("dedup-other");
    const auto path = (other_dir / "k").string();
    reportbridge::testing::write_file(path, "another-key-of-at-least-16-bytes");
    ::chmod(path.c_str(), 0600);
    Database db2((other_dir / "s.db").string(), Database::Mode::read_write_create);
    DedupSettings s;
    s.reporter_key_file = path;
    Deduplicator d(db2, s);
    CHECK(d.reporter_key(base_doc()) != key_a);
  }
  // No clear values anywhere in the database file.
  f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const std::string bytes = reportbridge::testing::read_file(f.dir / "state.db");
  CHECK(bytes.find("dedup_reporters") != std::string::npos);  // sanity: this is the file
  for (const char* clear : {"a.khan@example.org", "447700900123", "Aisha", "Linthorpe", "teenagers"})
    CHECK(bytes.find(clear) == std::string::npos);
}

TEST_CASE("no reporter keys without a key file, a bad key file is refused", "[dedup]") {
  Fixture f;
  DedupSettings s;
  Deduplicator d(f.db, s);
  CHECK_FALSE(d.reporter_key(base_doc()));
  s.reporter_key_file = (f.dir / "missing.key").string();
  CHECK_THROWS_AS(Deduplicator(f.db, s), std::invalid_argument);
  const auto open_key = (f.dir / "open.key").string();
  reportbridge::testing::write_file(open_key, "0123456789abcdef0123456789abcdef");
  ::chmod(open_key.c_str(), 0644);
  s.reporter_key_file = open_key;
  CHECK_THROWS_AS(Deduplicator(f.db, s), std::invalid_argument);
}

TEST_CASE("retention purges fingerprints, the related index, verdicts and reporter keys", "[dedup]") {
  Fixture f;
  f.settings.retention = std::chrono::hours(24);
  Deduplicator d(f.db, f.settings);
  auto old_doc = base_doc();
  d.check_and_record(old_doc, row_of(old_doc, 1, "2026-11-01T10:00:00Z"));
  auto recent = reworded("n1");
  recent.as_object()["occurred"].as_object()["start"] = "2026-11-27T10:00:00+00:00";
  recent.as_object()["reporter"] = json::parse(R"({"anonymous": false, "email": "x@example.org", "phone": null})");
  d.check_and_record(recent, row_of(recent, 2, "2026-11-27T10:05:00Z"));
  REQUIRE(count(f.db, "dedup_fingerprints") == 2);
  REQUIRE(count(f.db, "dedup_incidents") == 2);
  REQUIRE(count(f.db, "dedup_verdicts") == 2);
  REQUIRE(count(f.db, "dedup_reporters") == 3);  // a.khan email + phone, x@

  const auto now = *reportbridge::dedup::parse_rfc3339_ms("2026-11-27T12:00:00Z");
  CHECK(d.purge(now) == 5);  // the old report's fingerprint, incident, verdict and 2 reporter hashes
  CHECK(count(f.db, "dedup_fingerprints") == 1);
  CHECK(count(f.db, "dedup_incidents") == 1);
  CHECK(count(f.db, "dedup_reporters") == 1);
  CHECK_FALSE(d.recorded_verdict("a1", 1));
  CHECK(d.recorded_verdict("n1", 1));
  CHECK(d.purge(now) == 0);
  // After the purge the old content is new again.
  json::value tap = base_doc();
  tap.as_object()["id"] = "a2";
  CHECK(d.check_and_record(tap, row_of(tap, 3, "2026-11-01T10:00:05Z")).kind != Verdict::Kind::duplicate);
}

TEST_CASE("fold_text and trigram similarity", "[dedup]") {
  using reportbridge::dedup::fold_text;
  CHECK(fold_text("  Straße\u00a0 ＢＵＳ\n\tstop ") == "strasse bus stop");
  CHECK(fold_text("\u200fمرحبا") == "مرحبا");
  CHECK(fold_text(std::string("a\xff" "b")) == "a\xef\xbf\xbd" "b");
  std::uint64_t a[8] = {}, b[8] = {}, c[8] = {};
  reportbridge::dedup::trigram_bits(fold_text("Stones thrown at buses on Linthorpe Road"), a, 8, 700);
  reportbridge::dedup::trigram_bits(fold_text("stones THROWN at the buses, Linthorpe Road!"), b, 8, 700);
  reportbridge::dedup::trigram_bits(fold_text("Mattresses dumped in the back lane"), c, 8, 700);
  CHECK(reportbridge::dedup::bit_similarity(a, b, 8) > 0.7);
  CHECK(reportbridge::dedup::bit_similarity(a, c, 8) < 0.2);
  std::uint64_t z[8] = {};
  CHECK(reportbridge::dedup::bit_similarity(z, z, 8) == 0.0);
}

TEST_CASE("fold_text's ASCII fast path folds as ICU does", "[dedup]") {
  using reportbridge::dedup::fold_text;
  // A leading "é" sends the text through ICU; without it, ASCII takes the fast path.
  for (int c = 1; c < 0x80; ++c) {
    const std::string ascii = std::string("Ab") + static_cast<char>(c) + "Zy";
    CHECK(fold_text("\u00e9" + ascii) == "\u00e9" + fold_text(ascii));
  }
  CHECK(fold_text(" \tMIXED\r\n Case\x0b\x0c ") == "mixed case");
  CHECK(fold_text(std::string_view("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("a replayed (id, version) records nothing more", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  auto doc = base_doc();
  const auto row = row_of(doc, 1, "2026-11-27T18:45:00Z");
  const Verdict first = d.check_and_record(doc, row);
  const auto rows_after_first = count(f.db, "dedup_fingerprints") + count(f.db, "dedup_incidents");
  const Verdict again = d.check_and_record(doc, row);
  CHECK(again.replayed);
  CHECK(again.kind == first.kind);
  CHECK(again.explanation == first.explanation);
  CHECK(count(f.db, "dedup_fingerprints") + count(f.db, "dedup_incidents") == rows_after_first);
  CHECK(count(f.db, "dedup_verdicts") == 1);
}

TEST_CASE("a state database with the first table layout is upgraded", "[dedup]") {
  Fixture f;
  f.db.exec(
      "CREATE TABLE dedup_verdicts (id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, of_id TEXT, "
      "score REAL NOT NULL, rule TEXT NOT NULL, explanation TEXT NOT NULL, reporter_key TEXT, "
      "received_ms INTEGER NOT NULL, PRIMARY KEY (id, version)) WITHOUT ROWID;"
      "CREATE TABLE dedup_fingerprints (fp INTEGER NOT NULL, id TEXT NOT NULL, received_ms INTEGER NOT NULL);"
      "INSERT INTO dedup_verdicts VALUES ('old', 1, 'original', NULL, 0, 'original.no_match', 'x', NULL, 0);");
  Deduplicator d(f.db, f.settings);
  CHECK(count(f.db, "dedup_verdicts") == 0);
  auto doc = base_doc();
  CHECK(d.check_and_record(doc, row_of(doc, 1, "2026-11-27T18:45:00Z")).kind == Verdict::Kind::original);
  CHECK(d.recorded_verdict("a1", 1));
}

TEST_CASE("parse_rfc3339_ms", "[dedup]") {
  using reportbridge::dedup::parse_rfc3339_ms;
  CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339_ms("2026-11-27T18:42:10+01:00") == parse_rfc3339_ms("2026-11-27T17:42:10Z"));
  CHECK(parse_rfc3339_ms("2026-11-27T18:42:10.25Z") == *parse_rfc3339_ms("2026-11-27T18:42:10Z") + 250);
  CHECK_FALSE(parse_rfc3339_ms("2026-11-27 18:42:10"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-27T18:42:10"));
  CHECK_FALSE(parse_rfc3339_ms("2026-13-27T18:42:10Z"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-27T18:42:10Zx"));
}

TEST_CASE("a rolled-back judgement leaves nothing behind, in memory either", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  const auto first = base_doc();
  {
    reportbridge::store::Transaction tx(f.db);
    CHECK(d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z")).kind == Verdict::Kind::original);
    // no commit: ingest failed, the batch rolls back
  }
  CHECK(count(f.db, "dedup_fingerprints") == 0);
  json::value tap = base_doc();
  tap.as_object()["id"] = "a2";
  auto v = d.check_and_record(tap, row_of(tap, 2, "2026-11-27T18:42:30Z"));
  CHECK(v.kind == Verdict::Kind::original);  // a1 was never recorded
  auto r = reworded("b1");
  CHECK(d.check_and_record(r, row_of(r, 3, "2026-11-27T19:05:00Z")).of_id == "a2");  // not a1
}

TEST_CASE("a restarted deduplicator finds earlier submissions, in and out of its memory window", "[dedup]") {
  Fixture f;
  const auto first = base_doc();
  auto far = reworded("x1");  // another place, 6 h later: the newest row at restart
  far.as_object()["location"].as_object()["lat"] = 54.60;
  far.as_object()["occurred"].as_object()["start"] = "2026-11-28T00:30:00+00:00";
  {
    Deduplicator d(f.db, f.settings);
    d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
    d.check_and_record(far, row_of(far, 2, "2026-11-28T00:40:00Z"));
  }
  Deduplicator d(f.db, f.settings);
  SECTION("a late double tap of the older one (its window is before the memory's): from the table") {
    json::value tap = base_doc();
    tap.as_object()["id"] = "a2";
    auto v = d.check_and_record(tap, row_of(tap, 3, "2026-11-27T18:45:00Z"));
    CHECK(v.kind == Verdict::Kind::duplicate);
    CHECK(v.of_id == "a1");
    auto r = reworded("b1");
    auto rv = d.check_and_record(r, row_of(r, 4, "2026-11-27T19:05:00Z"));
    CHECK(rv.kind == Verdict::Kind::related);
    CHECK(rv.of_id == "a1");
  }
  SECTION("a double tap and a related report of the newest one: from memory") {
    json::value tap = far;
    tap.as_object()["id"] = "x2";
    auto v = d.check_and_record(tap, row_of(tap, 3, "2026-11-28T00:41:00Z"));
    CHECK(v.kind == Verdict::Kind::duplicate);
    CHECK(v.of_id == "x1");
    auto r = far;
    r.as_object()["id"] = "x3";
    r.as_object()["summary"] = "Bikes and stones again";
    r.as_object()["location"].as_object()["lat"] = 54.6003;
    auto rv = d.check_and_record(r, row_of(r, 4, "2026-11-28T00:50:00Z"));
    CHECK(rv.kind == Verdict::Kind::related);
    CHECK(rv.of_id == "x1");
  }
}

TEST_CASE("the in-memory window evicts old entries and stays complete from its start", "[dedup]") {
  using reportbridge::dedup::IncidentEntry;
  using reportbridge::dedup::RecentIndex;
  RecentIndex idx(1000);
  CHECK_FALSE(idx.covers(0));
  idx.mark_loaded(0);
  CHECK(idx.covers(0));
  CHECK_FALSE(idx.covers(-1));
  idx.add_fingerprint(7, 10, "b");
  idx.add_fingerprint(7, 10, "a");
  idx.add_fingerprint(7, 5, "z");
  auto hit = idx.find_fingerprint(7, 6, 100, "none");
  REQUIRE(hit);
  CHECK(hit->id == "a");  // earliest arrival in range, then the smaller id
  CHECK(idx.find_fingerprint(7, 0, 100, "z")->id == "a");
  CHECK(idx.find_fingerprint(7, 0, 100, "x")->id == "z");
  CHECK_FALSE(idx.find_fingerprint(8, 0, 100, "x"));
  idx.add_incident(3, IncidentEntry{20, 20, "i1", "i1", "noise", 54.0, -1.0, {}});
  int seen = 0;
  idx.for_each_incident(3, 0, 100, [&](const IncidentEntry& e) { seen += e.id == "i1"; });
  idx.for_each_incident(3, 21, 100, [&](const IncidentEntry&) { seen += 10; });
  CHECK(seen == 1);
  for (int i = 0; i < 2000; ++i) idx.add_fingerprint(static_cast<std::uint64_t>(100 + i), 5000 + i, "n");
  REQUIRE(idx.sweep_due());
  idx.evict(1'000'000);  // newest arrival 6999 - span 1000
  CHECK(idx.covered_from() == 5999);
  CHECK_FALSE(idx.covers(5998));
  CHECK_FALSE(idx.find_fingerprint(7, 0, 100, "x"));
  CHECK(idx.size() == 1001);
  SECTION("the wall clock caps the horizon: one row from the future does not empty it") {
    idx.add_fingerprint(1, 1'000'000'000, "future");
    for (int i = 0; i < 2000; ++i) idx.add_fingerprint(1, 7000 + i, "n");
    idx.evict(9000);
    CHECK(idx.covered_from() == 8000);
    CHECK(idx.find_fingerprint(1, 8000, 9000, "x"));
  }
  SECTION("retention drops older entries") {
    idx.drop_before(6500);
    CHECK(idx.covered_from() == 6500);
    CHECK(idx.size() == 500);
  }
  idx.invalidate();
  CHECK_FALSE(idx.loaded());
  CHECK(idx.size() == 0);
}

TEST_CASE("on a busy street the related threshold rises with the candidates within the gates", "[dedup]") {
  Fixture f;
  auto run = [&](double step) {
    f.settings.density_step = step;
    TempDir dir{"dedup-density"};
    Database db{(dir / "state.db").string(), Database::Mode::read_write_create};
    Deduplicator d(db, f.settings);
    const auto first = base_doc();
    d.check_and_record(first, row_of(first, 1, "2026-11-27T18:42:11Z"));
    for (int i = 1; i <= 3; ++i) {
      auto other = reworded("b" + std::to_string(i));
      other.as_object()["location"].as_object()["lat"] = 54.5743 + 0.0001 * i;
      d.check_and_record(other, row_of(other, 1 + i, "2026-11-27T19:0" + std::to_string(i) + ":00Z"));
    }
    auto last = reworded("c1");
    return d.check(last, row_of(last, 9, "2026-11-27T19:08:00Z"));
  };
  const auto flat = run(0.0);
  CHECK(flat.explanation.find("4 candidates within the gates") != std::string::npos);
  CHECK(flat.explanation.find("threshold 0.60") != std::string::npos);
  const auto busy = run(0.08);  // 0.60 + 0.08 * ln 4 = 0.71
  CHECK(busy.explanation.find("threshold 0.71") != std::string::npos);
  CHECK(busy.explanation.find("4 candidates within the gates") != std::string::npos);
  CHECK(busy.score == Approx(flat.score));
  CHECK((busy.kind == Verdict::Kind::related) == (busy.score >= 0.60 + 0.08 * std::log(4.0)));
}

// Issue #15 item 1: the first received copy wins, whatever the ingest order.
TEST_CASE("a copy received earlier but ingested later is linked to the later one, then can supersede it", "[dedup]") {
  Fixture f;
  Deduplicator d(f.db, f.settings);
  json::value tap = base_doc();
  tap.as_object()["id"] = "tap-1";
  const auto tap_row = row_of(tap, 2, "2026-11-27T18:42:30Z");
  REQUIRE(d.check_and_record(tap, tap_row).kind == Verdict::Kind::original);
  // Another resident's report of the same incident, linked to the tap for now.
  json::value other = reworded("other-1");
  auto vr = d.check_and_record(other, row_of(other, 3, "2026-11-27T18:45:00Z"));
  REQUIRE(vr.kind == Verdict::Kind::related);
  CHECK(vr.of_id == "tap-1");

  const json::value first = base_doc();  // received 19 s before the tap, ingested after it
  const auto first_row = row_of(first, 1, "2026-11-27T18:42:11Z");
  auto v = d.check_and_record(first, first_row);
  CHECK(v.kind == Verdict::Kind::duplicate);
  CHECK(v.of_id == "tap-1");
  CHECK(v.received_before_of);
  CHECK(v.rule == "duplicate.fingerprint_sent_first");
  CHECK_THAT(v.explanation, Catch::Contains("received 19 s before it"));
  // Stored as such (audit, replay).
  auto stored = d.recorded_verdict(first_row.id, 1);
  REQUIRE(stored);
  CHECK(stored->rule == "duplicate.fingerprint_sent_first");
  CHECK(stored->received_before_of);

  SECTION("left alone (the tap was sent): nothing else changes") {
    json::value third = base_doc();
    third.as_object()["id"] = "tap-2";
    auto v3 = d.check_and_record(third, row_of(third, 4, "2026-11-27T18:42:40Z"));
    CHECK(v3.kind == Verdict::Kind::duplicate);
    CHECK(v3.of_id == "tap-1");
  }
  SECTION("superseded (the tap had not left): the first is judged afresh, the tap is its duplicate") {
    auto s = d.supersede(first, first_row);
    REQUIRE(s);
    CHECK(s->verdict.kind == Verdict::Kind::original);
    CHECK(s->later_id == "tap-1");
    CHECK(s->later_verdict.kind == Verdict::Kind::duplicate);
    CHECK(s->later_verdict.of_id == first_row.id);
    CHECK(s->later_verdict.rule == "duplicate.fingerprint");
    CHECK_THAT(s->later_verdict.explanation, Catch::Contains("received 19 s after it") &&
                                                 Catch::Contains("withdrawn before delivery"));
    auto tap_now = d.recorded_verdict("tap-1", 1);
    REQUIRE(tap_now);
    CHECK(tap_now->kind == Verdict::Kind::duplicate);
    CHECK(tap_now->of_id == first_row.id);
    auto first_now = d.recorded_verdict(first_row.id, 1);
    REQUIRE(first_now);
    CHECK(first_now->kind == Verdict::Kind::original);
    // Later copies and related reports now find the first one, from the
    // tables and from the in-memory window alike.
    json::value third = base_doc();
    third.as_object()["id"] = "tap-2";
    auto v3 = d.check_and_record(third, row_of(third, 4, "2026-11-27T18:42:40Z"));
    CHECK(v3.kind == Verdict::Kind::duplicate);
    CHECK(v3.of_id == first_row.id);
    CHECK_FALSE(v3.received_before_of);
    json::value more = reworded("other-2");
    more.as_object()["summary"] = "Bikes and stones outside the Co-op again";
    auto v4 = d.check_and_record(more, row_of(more, 5, "2026-11-27T18:46:00Z"));
    CHECK(v4.kind == Verdict::Kind::related);
    CHECK(v4.of_id == first_row.id);
    // A second call is refused: only the row just judged that way.
    CHECK_FALSE(d.supersede(first, first_row));
  }
}
