#include "bridge/audit/audit_entry.hpp"

#include <boost/json.hpp>

#include <catch2/catch.hpp>

using namespace reportbridge;
using namespace reportbridge::audit;

namespace {

ServiceIdentity id() {
  ServiceIdentity s;
  s.name = "reportbridge";
  s.host = "h1";
  s.pid = 7;
  s.instance = "abcdef0123456789";
  return s;
}

Sealed make(std::int64_t seq, const core::Event& e, std::string_view prev = kGenesis) {
  return seal(unsealed(seq, encode_body(core::to_string(e.kind), e, e.at_ms, id()), prev));
}

}  // namespace

TEST_CASE("times are RFC 3339 UTC with milliseconds, and parse back") {
  CHECK(format_time(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_time(1'700'000'000'123) == "2023-11-14T22:13:20.123Z");
  CHECK(format_time(951'782'400'000) == "2000-02-29T00:00:00.000Z");
  CHECK(parse_time("2023-11-14T22:13:20.123Z") == 1'700'000'000'123);
  CHECK(parse_time("2023-11-14T22:13:20Z") == 1'700'000'000'000);
  CHECK(parse_time("2023-11-14T23:13:20+01:00") == 1'700'000'000'000);
  CHECK(parse_time("2023-11-14T21:13:20.5-01:00") == 1'700'000'000'500);
  CHECK(parse_time("2023-11-14T22:13") == 1'699'999'980'000);
  CHECK(parse_time("2023-11-14") == 1'699'920'000'000);
  CHECK_FALSE(parse_time("2023-13-01"));
  CHECK_FALSE(parse_time("yesterday"));
  CHECK_FALSE(parse_time("2023-11-14T25:00Z"));
  CHECK_FALSE(parse_time("2023-11-14T10:00Zjunk"));
  CHECK_FALSE(parse_time("2023-11-14T10:00:00."));
}

TEST_CASE("an entry has exactly the documented fields, in order, and no others") {
  core::Event e;
  e.kind = core::EventKind::delivered;
  e.at_ms = 1'700'000'000'000;
  e.submission_id = "sub-1";
  e.version = 3;
  e.mapping = "crime_report";
  e.rule = "route_crime";
  e.target = "niche_soap";
  e.reference = "CR/2023/1";
  e.related_id = "sub-0";
  e.reason_code = "ok";
  e.detail = "delivered in 1 attempt";
  e.latency_ms = 12.5;  // metrics only: not part of the audit entry
  auto s = make(1, e);
  auto v = boost::json::parse(s.line).as_object();
  std::vector<std::string> keys;
  for (const auto& kv : v) keys.emplace_back(kv.key());
  CHECK(keys == std::vector<std::string>{"seq", "time", "service", "host", "pid", "instance", "kind",
                                         "submission_id", "version", "mapping", "rule", "target", "reference",
                                         "related_id", "reason_code", "detail", "prev", "hash"});
  CHECK(s.line.starts_with(R"({"seq":1,"time":"2023-11-14T22:13:20.000Z","service":"reportbridge",)"));
  auto p = parse_entry(s.line);
  REQUIRE(p.entry);
  CHECK(p.entry->kind == "delivered");
  CHECK(p.entry->target == "niche_soap");
  CHECK(p.entry->reference == "CR/2023/1");
  CHECK(p.entry->time_ms == 1'700'000'000'000);
  CHECK(p.entry->prev == kGenesis);
  CHECK(p.entry->hash == line_hash(s.line.substr(0, s.line.size() - 75)));
  CHECK(s.line_hash == line_hash(s.line));
}

TEST_CASE("awkward text is escaped into valid JSON and cut at the limits") {
  core::Event e;
  e.submission_id = "quote\" back\\ nl\n tab\t bell\x07 del\x7f";
  e.detail = std::string("bad utf8 \xff\xfe and ok \xc3\xa9 ") + std::string(2000, 'x');
  e.mapping = std::string(300, 'm');
  auto s = make(5, e);
  CHECK(s.line.find('\n') == std::string::npos);
  auto p = parse_entry(s.line);
  REQUIRE(p.entry);
  CHECK(p.entry->submission_id == e.submission_id);
  CHECK(p.entry->detail.starts_with("bad utf8 \xEF\xBF\xBD\xEF\xBF\xBD and ok \xc3\xa9 xxx"));
  CHECK(p.entry->detail.ends_with("..."));
  CHECK(p.entry->detail.size() <= kMaxDetail + 3);
  CHECK(p.entry->mapping == std::string(kMaxField, 'm') + "...");
}

TEST_CASE("parse_entry says why a line is not a valid entry") {
  core::Event e;
  e.submission_id = "sub-1";
  auto s = make(1, e);

  std::string edited = s.line;
  edited[edited.find("sub-1")] = 'S';
  auto p = parse_entry(edited);
  CHECK_FALSE(p.entry);
  CHECK_THAT(p.error, Catch::Contains("does not match its own hash"));

  CHECK_THAT(parse_entry("hello").error, Catch::Contains("not an audit entry"));
  CHECK_THAT(parse_entry("").error, Catch::Contains("not an audit entry"));

  // Sealed correctly but not JSON, or without the fields.
  CHECK_THAT(parse_entry(seal("{\"seq\":1,").line).error, Catch::Contains("not valid JSON"));
  CHECK_THAT(parse_entry(seal(R"({"seq":1,"prev":"x")").line).error, Catch::Contains("missing or mistyped field(s): time"));
  std::string u = unsealed(1, encode_body("collected", e, 0, id()), kGenesis);
  u.replace(u.find("1970-01-01T00:00:00.000Z"), 24, "not a time at all, no no");
  CHECK_THAT(parse_entry(seal(u).line).error, Catch::Contains("is not RFC 3339"));
  CHECK_THAT(parse_entry(seal(unsealed(1, encode_body("collected", e, 0, id()), "abc")).line).error,
             Catch::Contains("prev is not"));
}

TEST_CASE("the service identity of this process") {
  auto a = ServiceIdentity::current("svc");
  auto b = ServiceIdentity::current("svc");
  CHECK(a.name == "svc");
  CHECK(a.pid > 0);
  CHECK_FALSE(a.host.empty());
  CHECK(a.instance.size() == 16);
  CHECK(a.instance != b.instance);
}

TEST_CASE("a batch entry: the documented fields, then items, each submission's entry comes back from it") {
  core::EventBatch b;
  b.kind = core::EventKind::delivered;
  b.at_ms = 1'700'000'000'000;
  b.mapping = "npt_community_report";
  b.target = "npt_csv";
  b.detail = "created";
  const std::string updated = "updated npt-1.csv#7";
  b.items = {{"sub-1", 1, "npt-2.csv#1", {}, 3.0},
             {"sub-2", 2, "npt-2.csv#2", updated, 3.0},
             {"sub-\"3\"", 1, "npt-2.csv#10", {}, 3.0}};
  auto s = seal(unsealed(9, encode_batch_body("delivered", b, b.at_ms, id()), kGenesis));
  auto v = boost::json::parse(s.line).as_object();
  std::vector<std::string> keys;
  for (const auto& kv : v) keys.emplace_back(kv.key());
  CHECK(keys == std::vector<std::string>{"seq", "time", "service", "host", "pid", "instance", "kind",
                                         "submission_id", "version", "mapping", "rule", "target", "reference",
                                         "related_id", "reason_code", "detail", "items", "prev", "hash"});
  // The references' common prefix is written once.
  CHECK(v["reference"].as_string() == "npt-2.csv#");
  CHECK(s.line.find(R"(["sub-1",1,"1"],["sub-2",2,"2","updated npt-1.csv#7"],["sub-\"3\"",1,"10"])") !=
        std::string::npos);
  auto p = parse_entry(s.line);
  REQUIRE(p.entry);
  CHECK(p.entry->batch);
  CHECK(p.entry->submission_id.empty());
  const auto each = p.entry->expand();
  REQUIRE(each.size() == 3);
  CHECK(each[0].submission_id == "sub-1");
  CHECK(each[0].reference == "npt-2.csv#1");
  CHECK(each[0].detail == "created");
  CHECK(each[1].version == 2);
  CHECK(each[1].detail == "updated npt-1.csv#7");
  CHECK(each[2].submission_id == "sub-\"3\"");
  CHECK(each[2].reference == "npt-2.csv#10");
  for (const auto& e : each) {
    CHECK(e.kind == "delivered");
    CHECK(e.target == "npt_csv");
    CHECK(e.mapping == "npt_community_report");
    CHECK(e.seq == 9);
    CHECK_FALSE(e.batch);
  }
  // An entry about one submission expands to itself.
  core::Event one;
  one.kind = core::EventKind::retry;
  one.submission_id = "sub-9";
  auto single = parse_entry(make(1, one).line);
  REQUIRE(single.entry);
  CHECK_FALSE(single.entry->batch);
  REQUIRE(single.entry->expand().size() == 1);
  CHECK(single.entry->expand()[0].submission_id == "sub-9");
}

TEST_CASE("items of a batch entry must have the documented shape") {
  core::EventBatch b;
  b.kind = core::EventKind::validated;
  b.items = {{"sub-1", 1, {}, {}, -1}};
  auto body = encode_batch_body("validated", b, 1'700'000'000'000, id());
  auto bad = body;
  bad.replace(bad.find("[[\"sub-1\",1]]"), 13, "[[\"sub-1\"]]");
  CHECK(parse_entry(seal(unsealed(1, body, kGenesis)).line).entry);
  auto p = parse_entry(seal(unsealed(1, bad, kGenesis)).line);
  CHECK_FALSE(p.entry);
  CHECK_THAT(p.error, Catch::Contains("items"));
}

TEST_CASE("seal_into appends exactly the line seal would make") {
  core::Event e;
  e.kind = core::EventKind::collected;
  e.submission_id = "sub-1";
  const std::string body = encode_body("collected", e, 1'700'000'000'000, id());
  const auto sealed = seal(unsealed(42, body, kGenesis));
  std::string out = "previous line\n";
  const std::string hash = seal_into(out, 42, body, kGenesis);
  CHECK(out == "previous line\n" + sealed.line);
  CHECK(hash == sealed.line_hash);
}
