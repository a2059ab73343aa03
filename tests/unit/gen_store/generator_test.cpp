#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <sqlite3.h>

#include <boost/json.hpp>

#include <ctime>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/gen_store/generator.hpp"
#include "tools/gen_store/time_util.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace reportbridge::gen;
using reportbridge::testing::read_file;
using reportbridge::testing::run_process;
using reportbridge::testing::TempDir;

namespace {

struct Row {
  std::int64_t seq;
  std::string id;
  std::int64_t version;
  std::string received_at;
  std::string payload;
  bool operator==(const Row&) const = default;
};

std::vector<Row> read_rows(const fs::path& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    throw std::runtime_error("open failed");
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT seq, id, version, received_at, payload FROM submissions ORDER BY seq", -1, &st,
                     nullptr);
  std::vector<Row> rows;
  auto text = [&](int c) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
    return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
  };
  while (sqlite3_step(st) == SQLITE_ROW)
    rows.push_back({sqlite3_column_int64(st, 0), text(1), sqlite3_column_int64(st, 2), text(3), text(4)});
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

std::int64_t count_status_rows(const fs::path& db_path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::int64_t n = -1;
  if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM submission_status", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

std::vector<json::object> read_truth(const fs::path& p) {
  std::vector<json::object> out;
  std::istringstream in(read_file(p));
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
  return out;
}

std::string sha256(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// Unix seconds from RFC 3339 with a numeric offset or Z (whole seconds).
std::int64_t parse_time(const std::string& s, int* offset_out = nullptr) {
  std::tm tm{};
  int y, mo, d, h, mi, se;
  REQUIRE(std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) == 6);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  int offset = 0;
  const std::string zone = s.substr(19);
  if (zone != "Z") {
    REQUIRE(zone.size() == 6);
    offset = (std::stoi(zone.substr(1, 2)) * 3600 + std::stoi(zone.substr(4, 2)) * 60) * (zone[0] == '-' ? -1 : 1);
  }
  if (offset_out) *offset_out = offset;
  return static_cast<std::int64_t>(timegm(&tm)) - offset;
}

// The test's own idea of a well-formed payload for row (id, version): empty when fine.
std::string problem(const std::string& payload, const std::string& id, std::int64_t version) {
  std::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec) return "parse";
  if (!v.is_object()) return "type:payload";
  const auto& o = v.get_object();
  for (const char* f : {"id", "version", "submitted_at", "kind", "description"}) {
    const auto* p = o.if_contains(f);
    if (!p || p->is_null()) return std::string("required:") + f;
  }
  for (const char* f : {"id", "submitted_at", "kind", "description"})
    if (!o.at(f).is_string()) return std::string("type:") + f;
  if (!o.at("version").is_int64()) return "type:version";
  for (const char* f : {"category", "summary"})
    if (const auto* p = o.if_contains(f); p && !p->is_null() && !p->is_string()) return std::string("type:") + f;
  for (const char* f : {"location", "reporter", "occurred", "device", "consent"})
    if (const auto* p = o.if_contains(f); p && !p->is_null() && !p->is_object()) return std::string("type:") + f;
  if (const auto* a = o.if_contains("attachments"); a && !a->is_null()) {
    if (!a->is_array()) return "type:attachments";
    for (const auto& e : a->get_array())
      if (!e.is_object()) return "type:attachments";
  }
  static const std::set<std::string> kKinds = {"concern", "complaint", "information", "feedback", "compliment"};
  if (!kKinds.count(std::string(o.at("kind").get_string()))) return "kind";
  if (const auto* l = o.if_contains("location"); l && l->is_object()) {
    const auto* lat = l->get_object().if_contains("lat");
    const auto* lon = l->get_object().if_contains("lon");
    if (!lat || !lon || !lat->is_number() || !lon->is_number()) return "type:latlon";
    const double la = lat->to_number<double>(), lo = lon->to_number<double>();
    if (la < -90 || la > 90 || lo < -180 || lo > 180) return "range";
  }
  if (o.at("id").get_string() != id) return "id";
  if (o.at("version").get_int64() != version) return "version";
  return "";
}

GenOptions options_in(const TempDir& dir, std::int64_t count, std::uint64_t seed = 7) {
  GenOptions o;
  o.db_path = (dir / "store.db").string();
  o.truth_path = (dir / "truth.jsonl").string();
  o.count = count;
  o.seed = seed;
  return o;
}

std::map<std::string, std::string> media_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  if (!fs::exists(root)) return files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = read_file(e.path());
  return files;
}

bool starts_with_formula(std::string_view s) {
  return !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@');
}

}  // namespace

TEST_CASE("same options give byte-identical rows, truth and attachment files, another seed differs") {
  TempDir a, b, c;
  GenOptions oa = options_in(a, 600);
  oa.attachment_rate = 0.4;
  GenOptions ob = oa;
  ob.db_path = (b / "store.db").string();
  ob.truth_path = (b / "truth.jsonl").string();
  const GenStats sa = generate_store(oa);
  const GenStats sb = generate_store(ob);
  const auto rows_a = read_rows(a / "store.db");
  REQUIRE(rows_a.size() == 600);
  CHECK(rows_a == read_rows(b / "store.db"));
  CHECK(read_file(a / "truth.jsonl") == read_file(b / "truth.jsonl"));
  const auto media_a = media_tree(a / "media");
  CHECK(media_a.size() == static_cast<std::size_t>(sa.attachments));
  CHECK(sa.attachments > 0);
  CHECK(media_a == media_tree(b / "media"));
  CHECK(sa.attachment_bytes == sb.attachment_bytes);

  GenOptions oc = options_in(c, 600, 8);
  generate_store(oc);
  const auto rows_c = read_rows(c / "store.db");
  REQUIRE(rows_c.size() == 600);
  CHECK(rows_c[0].id != rows_a[0].id);
  CHECK(rows_c[0].payload != rows_a[0].payload);
}

TEST_CASE("label counts match the truth file and the requested rates") {
  TempDir dir;
  GenOptions o = options_in(dir, 5000);
  o.malformed_rate = 0.05;
  o.exact_dup_rate = 0.05;
  o.update_rate = 0.10;
  o.attachment_rate = 0;
  o.batch = 700;  // several transactions, not a multiple of the count
  const GenStats s = generate_store(o);
  const auto rows = read_rows(dir / "store.db");
  const auto truth = read_truth(dir / "truth.jsonl");
  REQUIRE(rows.size() == 5000);
  REQUIRE(truth.size() == rows.size());
  std::map<std::string, std::int64_t> labels;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].seq == static_cast<std::int64_t>(i) + 1);
    CHECK(truth[i].at("seq").as_int64() == rows[i].seq);
    CHECK(truth[i].at("id").as_string() == rows[i].id);
    CHECK(truth[i].at("version").as_int64() == rows[i].version);
    const std::string label(truth[i].at("label").as_string());
    CHECK(truth[i].at("valid").as_bool() == (label != "malformed"));
    ++labels[label];
  }
  CHECK(labels.size() == 4);
  CHECK(labels["first"] == s.first);
  CHECK(labels["exact_dup"] == s.exact_dup);
  CHECK(labels["update"] == s.update);
  CHECK(labels["malformed"] == s.malformed);
  CHECK(s.rows == 5000);
  CHECK(s.first_seq == 1);
  CHECK(s.last_seq == 5000);
  CHECK(s.first + s.exact_dup + s.update + s.malformed == 5000);
  // Rates hold roughly (binomial noise at n = 5000 is a few percent of each).
  CHECK(s.malformed == Approx(250).epsilon(0.3));
  CHECK(s.exact_dup == Approx(250).epsilon(0.3));
  CHECK(s.update == Approx(500).epsilon(0.3));
  CHECK(count_status_rows(dir / "store.db") == 0);
}

TEST_CASE("valid rows follow the contract, malformed rows break it and never reference files") {
  TempDir dir;
  GenOptions o = options_in(dir, 3000);
  o.now = "2026-11-10T12:00:00Z";  // the window spans the end of BST (2026-10-25 01:00 UTC)
  o.malformed_rate = 0.1;
  o.attachment_rate = 0.1;
  generate_store(o);
  const auto rows = read_rows(dir / "store.db");
  const auto truth = read_truth(dir / "truth.jsonl");
  REQUIRE(rows.size() == truth.size());
  const std::int64_t now = parse_time(o.now), bst_end = parse_time("2026-10-25T01:00:00Z");
  const std::regex uuid_re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  const std::regex postcode_re("^TS[0-9]{1,2} [0-9][A-Z]{2}$");
  const std::regex phone_re("^\\+447700900[0-9]{3}$");
  const std::regex email_re("^[a-z0-9.]+@example\\.(org|com)$");
  std::set<std::string> reasons;
  std::map<std::string, std::int64_t> latest_version;
  std::map<std::string, json::object> by_id;
  std::map<std::string, std::int64_t> first_received;
  int anonymous = 0, named = 0, null_reporter = 0, null_location = 0, gmt = 0, bst = 0, unknown_category = 0;
  bool arabic = false, cjk = false, emoji = false, polish = false, welsh = false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const std::string label(truth[i].at("label").as_string());
    INFO("seq " << r.seq << " " << label << ": " << r.payload.substr(0, 300));
    CHECK(std::regex_match(r.id, uuid_re));
    CHECK(r.received_at.size() == 20);
    CHECK(r.received_at.back() == 'Z');
    const std::int64_t received = parse_time(r.received_at);
    CHECK(received <= now);
    CHECK(received >= now - 30 * 86400);
    if (label == "malformed") {
      const std::string why = problem(r.payload, r.id, r.version);
      CHECK_FALSE(why.empty());
      CHECK(check_payload(r.payload, r.id, r.version).has_value());
      reasons.insert(std::string(truth[i].at("reason").as_string()));
      std::error_code ec;
      const json::value v = json::parse(r.payload, ec);
      if (!ec && v.is_object())
        if (const auto* a = v.get_object().if_contains("attachments"); a && a->is_array())
          CHECK(a->get_array().empty());
      continue;
    }
    REQUIRE(problem(r.payload, r.id, r.version) == "");
    CHECK_FALSE(check_payload(r.payload, r.id, r.version).has_value());
    const json::object doc = json::parse(r.payload).as_object();
    int offset = -1;
    const std::int64_t submitted = parse_time(std::string(doc.at("submitted_at").as_string()), &offset);
    CHECK(submitted <= received);
    CHECK(offset == (submitted < bst_end ? 3600 : 0));
    (offset ? bst : gmt)++;
    const auto& occ = doc.at("occurred").as_object();
    CHECK(parse_time(std::string(occ.at("start").as_string())) <= submitted);
    const std::string category(doc.at("category").as_string());
    static const std::set<std::string> kCategories = {
        "anti_social_behaviour", "noise", "drugs", "vehicle_nuisance", "speeding", "vandalism",
        "fly_tipping", "suspicious_activity", "hate_incident", "police_feedback", "other"};
    if (!kCategories.count(category)) ++unknown_category;
    const std::string desc(doc.at("description").as_string());
    CHECK(desc.size() <= 10000 * 4);
    arabic = arabic || desc.find("\xd8") != std::string::npos || desc.find("\xd9") != std::string::npos;
    cjk = cjk || desc.find("\xe7\x9a\x84") != std::string::npos;  // 的
    emoji = emoji || desc.find("\xf0\x9f") != std::string::npos;
    polish = polish || desc.find("ł") != std::string::npos;
    welsh = welsh || desc.find("Mae ") != std::string::npos;
    if (doc.at("location").is_null()) {
      ++null_location;
    } else {
      const auto& loc = doc.at("location").as_object();
      const double lat = loc.at("lat").to_number<double>(), lon = loc.at("lon").to_number<double>();
      CHECK(lat > 54.3);
      CHECK(lat < 54.9);
      CHECK(lon > -1.6);
      CHECK(lon < -0.8);
      const std::string address(loc.at("address").as_string());
      static const std::vector<std::string> kTowns = {"Middlesbrough", "Stockton-on-Tees", "Thornaby",
                                                      "Billingham",    "Hartlepool",       "Redcar",
                                                      "Eston",         "Guisborough"};
      bool town_ok = false;
      for (const auto& t : kTowns) town_ok = town_ok || address.ends_with(", " + t);
      CHECK(town_ok);
      if (!loc.at("postcode").is_null()) CHECK(std::regex_match(std::string(loc.at("postcode").as_string()), postcode_re));
    }
    if (doc.at("reporter").is_null()) {
      ++null_reporter;
    } else {
      const auto& rep = doc.at("reporter").as_object();
      if (rep.at("anonymous").as_bool()) {
        ++anonymous;
        for (const char* f : {"name", "email", "phone"}) {
          const auto* p = rep.if_contains(f);
          CHECK((p == nullptr || p->is_null()));
        }
      } else {
        ++named;
        CHECK(rep.at("name").is_string());
        if (!rep.at("email").is_null()) CHECK(std::regex_match(std::string(rep.at("email").as_string()), email_re));
        if (!rep.at("phone").is_null()) CHECK(std::regex_match(std::string(rep.at("phone").as_string()), phone_re));
      }
    }
    // Versions step by one per id; duplicates copy content under a new id.
    if (label == "update") {
      REQUIRE(latest_version.count(r.id));
      CHECK(r.version == latest_version[r.id] + 1);
    } else {
      CHECK(r.version == 1);
      CHECK(latest_version.count(r.id) == 0);
    }
    latest_version[r.id] = r.version;
    if (label == "exact_dup") {
      const std::string of(truth[i].at("dup_of").as_string());
      REQUIRE(by_id.count(of));
      const auto& orig = by_id[of];
      for (const char* f : {"kind", "category", "summary", "description", "location", "reporter", "occurred"})
        CHECK(doc.at(f) == orig.at(f));
      CHECK(doc.at("attachments").as_array().size() == orig.at("attachments").as_array().size());
      const std::int64_t gap = received - first_received[of];
      CHECK(gap >= 0);  // a double tap lands seconds or minutes after the first
      CHECK(gap <= 300);
    }
    by_id[r.id] = doc;
    if (r.version == 1) first_received[r.id] = received;
  }
  for (const char* reason : {"invalid_json", "truncated", "unknown_kind", "id_mismatch"}) CHECK(reasons.count(reason));
  bool missing = false, wrong = false, range = false;
  for (const auto& r : reasons) {
    missing = missing || r.starts_with("missing_field:");
    wrong = wrong || r.starts_with("wrong_type:");
    range = range || r == "out_of_range:lat" || r == "out_of_range:lon";
  }
  CHECK(missing);
  CHECK(wrong);
  CHECK(range);
  CHECK(anonymous > 0);
  CHECK(named > anonymous);
  CHECK(null_reporter > 0);
  CHECK(null_location > 0);
  CHECK(gmt > 0);
  CHECK(bst > 0);
  CHECK(unknown_category > 0);
  CHECK(arabic);
  CHECK(cjk);
  CHECK(emoji);
  CHECK(polish);
  CHECK(welsh);
}

TEST_CASE("attachment files exist under the media root with the right type, size and sha256") {
  TempDir dir;
  GenOptions o = options_in(dir, 400);
  o.attachment_rate = 0.5;
  o.media_root = (dir / "objects").string();
  const GenStats s = generate_store(o);
  const auto rows = read_rows(dir / "store.db");
  std::int64_t seen = 0, bytes = 0;
  std::set<std::string> types;
  std::set<std::string> ids;
  const std::regex path_re("^2026/(10|11)/[0-9]{2}/[0-9a-f-]{36}\\.(jpg|png|mp4|heic|mov)$");
  for (const auto& r : rows) {
    std::error_code ec;
    const json::value v = json::parse(r.payload, ec);
    if (ec || !v.is_object() || !v.get_object().contains("attachments") ||
        !v.get_object().at("attachments").is_array())
      continue;
    for (const auto& a : v.get_object().at("attachments").as_array()) {
      const auto& att = a.as_object();
      const std::string rel(att.at("path").as_string());
      INFO(rel);
      CHECK(std::regex_match(rel, path_re));
      // A later version keeps the earlier attachments: count each file once.
      if (!ids.insert(std::string(att.at("id").as_string())).second) continue;
      CHECK(rel.find(std::string(att.at("id").as_string())) != std::string::npos);
      const fs::path file = dir / "objects" / rel;
      REQUIRE(fs::exists(file));
      const std::string content = read_file(file);
      CHECK(static_cast<std::int64_t>(content.size()) == att.at("size_bytes").as_int64());
      CHECK(content.size() >= 1024);
      CHECK(content.size() <= 40 * 1024);
      CHECK(sha256(content) == att.at("sha256").as_string());
      const std::string type(att.at("media_type").as_string());
      types.insert(type);
      if (type == "image/jpeg") CHECK(content.rfind("\xff\xd8\xff", 0) == 0);
      else if (type == "image/png") CHECK(content.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
      else CHECK(content.substr(4, 4) == "ftyp");
      ++seen;
      bytes += static_cast<std::int64_t>(content.size());
    }
  }
  CHECK(seen == s.attachments);
  CHECK(bytes == s.attachment_bytes);
  CHECK(types.size() >= 3);
  CHECK_FALSE(fs::exists(dir / "media"));
}

TEST_CASE("formula rate puts = + - @ at the start of summaries or descriptions") {
  TempDir on, off;
  GenOptions o = options_in(on, 300);
  o.formula_rate = 1.0;
  o.malformed_rate = 0;
  o.attachment_rate = 0;
  generate_store(o);
  for (const auto& r : read_rows(on / "store.db")) {
    const auto doc = json::parse(r.payload).as_object();
    const bool formula = starts_with_formula(doc.at("summary").as_string()) ||
                         starts_with_formula(doc.at("description").as_string());
    CHECK(formula);
  }
  GenOptions p = options_in(off, 300);
  p.formula_rate = 0;
  p.malformed_rate = 0;
  p.attachment_rate = 0;
  generate_store(p);
  for (const auto& r : read_rows(off / "store.db")) {
    const auto doc = json::parse(r.payload).as_object();
    CHECK_FALSE(starts_with_formula(doc.at("summary").as_string()));
    CHECK_FALSE(starts_with_formula(doc.at("description").as_string()));
  }
}

TEST_CASE("append continues seq, keeps ids unique and versions stepping") {
  TempDir dir;
  GenOptions o = options_in(dir, 300);
  o.update_rate = 0.2;
  generate_store(o);
  const auto before = read_rows(dir / "store.db");
  GenOptions more = o;
  more.append = true;
  more.count = 200;
  const GenStats s = generate_store(more);
  CHECK(s.first_seq == 301);
  CHECK(s.last_seq == 500);
  const auto rows = read_rows(dir / "store.db");
  REQUIRE(rows.size() == 500);
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(rows[i] == before[i]);  // old rows untouched
  std::string max_old_received;
  for (const auto& r : before) max_old_received = std::max(max_old_received, r.received_at);
  std::set<std::string> first_ids;
  std::map<std::string, std::int64_t> latest;
  int updates_of_old = 0;
  for (const auto& r : rows) {
    CHECK(r.seq == &r - rows.data() + 1);
    if (r.seq > 300) CHECK(r.received_at > max_old_received);
    if (r.version == 1) {
      CHECK(first_ids.insert(r.id).second);
    } else {
      REQUIRE(latest.count(r.id));
      CHECK(r.version == latest[r.id] + 1);
      if (r.seq > 300 && r.version == 2 && std::any_of(before.begin(), before.end(), [&](const Row& b) {
            return b.id == r.id;
          }))
        ++updates_of_old;
    }
    latest[r.id] = r.version;
  }
  CHECK(updates_of_old > 0);  // edits reach reports made before the append
  CHECK(read_truth(dir / "truth.jsonl").size() == 500);
}

TEST_CASE("bad options are refused before anything is written") {
  TempDir dir;
  auto refused = [&](auto change) {
    GenOptions o = options_in(dir, 10);
    change(o);
    CHECK_THROWS_AS(generate_store(o), std::invalid_argument);
  };
  refused([](GenOptions& o) { o.count = -1; });
  refused([](GenOptions& o) { o.malformed_rate = 1.5; });
  refused([](GenOptions& o) { o.attachment_rate = -0.1; });
  refused([](GenOptions& o) { o.exact_dup_rate = 0.5, o.update_rate = 0.5; });
  refused([](GenOptions& o) { o.now = "yesterday"; });
  refused([](GenOptions& o) { o.batch = 0; });
  refused([](GenOptions& o) { o.days = 0; });
  refused([](GenOptions& o) { o.db_path.clear(); });
  CHECK_FALSE(fs::exists(dir / "store.db"));

  GenOptions o = options_in(dir, 10);
  generate_store(o);
  CHECK_THROWS_AS(generate_store(o), std::invalid_argument);  // non-empty store without append
  CHECK(read_rows(dir / "store.db").size() == 10);
}

TEST_CASE("I/O failures surface as errors and keep only whole batches") {
  TempDir dir;
  SECTION("an insert refused by the store stops the run; earlier batches stay committed") {
    const std::string db = (dir / "store.db").string();
    create_store(db);
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h,
                         "CREATE TRIGGER boom BEFORE INSERT ON submissions WHEN NEW.seq = 150 "
                         "BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
    GenOptions o = options_in(dir, 300);
    o.append = true;
    o.batch = 100;
    o.attachment_rate = 0;
    try {
      generate_store(o);
      FAIL("expected an error");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("boom") != std::string::npos);
    }
    CHECK(read_rows(db).size() == 100);
    CHECK(read_truth(dir / "truth.jsonl").size() == 100);
  }
  SECTION("a media root that is a file") {
    reportbridge::testing::write_file(dir / "blocker", "not a folder");
    GenOptions o = options_in(dir, 200);
    o.attachment_rate = 1.0;
    o.media_root = (dir / "blocker").string();
    CHECK_THROWS_AS(generate_store(o), std::runtime_error);
  }
  SECTION("an unwritable truth file") {
    GenOptions o = options_in(dir, 10);
    o.truth_path = "/proc/no/such/truth.jsonl";
    CHECK_THROWS_AS(generate_store(o), std::runtime_error);
  }
}

TEST_CASE("insert_row commits rows with explicit seq, out of order, and refuses clashes") {
  TempDir dir;
  const std::string db = (dir / "sub" / "store.db").string();
  const std::string p10 = make_payload(3, 10);
  const std::string p5 = make_payload(3, 5);
  insert_row(db, {10, make_uuid(3, 10), 1, "2026-11-27T10:00:00Z", p10});
  insert_row(db, {5, make_uuid(3, 5), 1, "2026-11-27T10:00:01Z", p5});
  const auto rows = read_rows(db);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].seq == 5);
  CHECK(rows[1].seq == 10);
  CHECK(rows[0].payload == p5);
  CHECK(count_status_rows(db) == 0);
  CHECK_THROWS(insert_row(db, {11, make_uuid(3, 10), 1, "2026-11-27T10:00:02Z", p10}));  // (id, version) again
  CHECK_THROWS(insert_row(db, {10, make_uuid(3, 99), 1, "2026-11-27T10:00:02Z", p10}));  // seq again

  create_store((dir / "empty.db").string());
  CHECK(read_rows(dir / "empty.db").empty());
  CHECK(count_status_rows(dir / "empty.db") == 0);
}

TEST_CASE("make_payload gives valid, deterministic documents") {
  for (std::int64_t i = 0; i < 200; ++i) {
    const std::string p = make_payload(11, i);
    CHECK(problem(p, make_uuid(11, i), 1) == "");
    CHECK(p == make_payload(11, i));
  }
  CHECK(make_payload(11, 1) != make_payload(11, 2));
  CHECK(make_uuid(11, 1) != make_uuid(12, 1));
  const std::string v3 = make_payload(11, 4, "my-id", 3);
  CHECK(problem(v3, "my-id", 3) == "");
  CHECK(check_payload(v3, "my-id", 3) == std::nullopt);
  CHECK(check_payload(v3, "other", 3) == std::optional<std::string>("id_mismatch"));
  CHECK(check_payload(v3, "my-id", 2) == std::optional<std::string>("version_mismatch"));
  CHECK(check_payload("{\"id\":", "my-id", 3) == std::optional<std::string>("invalid_json"));
  CHECK(check_payload("[]", "my-id", 3) == std::optional<std::string>("wrong_type:payload"));
  // Numbers are plain decimals, as the app writes them.
  const auto doc = json::parse(make_payload(11, 0)).as_object();
  if (doc.at("location").is_object()) CHECK(make_payload(11, 0).find("E1") == std::string::npos);
}

TEST_CASE("the CLI writes the same store as the library and rejects bad flags with exit 2") {
  const std::string exe = REPORTBRIDGE_GEN_STORE;
  REQUIRE(fs::exists(exe));
  TempDir dir;
  const std::string db = (dir / "cli.db").string();
  auto r = run_process({exe, "--db", db, "--count", "250", "--seed", "5", "--now", "2026-06-01T00:00:00Z",
                        "--days", "10", "--malformed-rate", "0.04", "--exact-dup-rate", "0.03", "--update-rate",
                        "0.06", "--attachment-rate", "0.2", "--formula-rate", "0.02", "--batch", "100",
                        "--truth=" + (dir / "cli.jsonl").string(), "--media-root", (dir / "m").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("250 rows seq 1..250") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);

  GenOptions o;
  o.db_path = (dir / "lib.db").string();
  o.count = 250;
  o.seed = 5;
  o.now = "2026-06-01T00:00:00Z";
  o.days = 10;
  o.malformed_rate = 0.04;
  o.exact_dup_rate = 0.03;
  o.update_rate = 0.06;
  o.attachment_rate = 0.2;
  o.formula_rate = 0.02;
  o.batch = 100;
  o.truth_path = (dir / "lib.jsonl").string();
  o.media_root = (dir / "m2").string();
  generate_store(o);
  CHECK(read_rows(db) == read_rows(dir / "lib.db"));
  CHECK(read_file(dir / "cli.jsonl") == read_file(dir / "lib.jsonl"));
  CHECK(media_tree(dir / "m") == media_tree(dir / "m2"));

  auto appended = run_process({exe, "--db", db, "--append", "--count", "20"});
  CHECK(appended.exit_code == 0);
  CHECK(read_rows(db).size() == 270);

  auto help = run_process({exe, "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--attachment-rate") != std::string::npos);

  for (const auto& bad : std::vector<std::vector<std::string>>{
           {exe, "--db", db, "--bogus"},
           {exe, "--db", db, "--count", "ten"},
           {exe, "--db", db, "--count"},
           {exe, "--count", "5"},
           {exe, "--db", db, "--append=yes"},
           {exe, "--db", (dir / "x.db").string(), "--malformed-rate", "2"},
           {exe, "--db", db, "--count", "5"},  // not empty and no --append
       }) {
    auto res = run_process(bad);
    INFO(bad.back());
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("reportbridge-gen-store: ") != std::string::npos);
  }
  CHECK(read_rows(db).size() == 270);

  // An unwritable place is an I/O error: exit 1.
  auto io = run_process({exe, "--db", "/proc/no/such/store.db", "--count", "1"});
  CHECK(io.exit_code == 1);
}

TEST_CASE("London times switch offset at the BST boundaries, RFC 3339 parsing") {
  // 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
  CHECK(format_london(parse_time("2026-03-29T00:59:59Z")) == "2026-03-29T00:59:59+00:00");
  CHECK(format_london(parse_time("2026-03-29T01:00:00Z")) == "2026-03-29T02:00:00+01:00");
  CHECK(format_london(parse_time("2026-10-25T00:59:59Z")) == "2026-10-25T01:59:59+01:00");
  CHECK(format_london(parse_time("2026-10-25T01:00:00Z")) == "2026-10-25T01:00:00+00:00");
  CHECK(format_london(parse_time("2024-03-31T01:00:00Z")) == "2024-03-31T02:00:00+01:00");
  CHECK(format_utc(parse_time("2026-11-27T12:00:00Z")) == "2026-11-27T12:00:00Z");
  CHECK(utc_day_path(parse_time("2026-02-03T23:59:59Z")) == "2026/02/03");
  CHECK(parse_rfc3339("2026-06-01T19:00:00+01:00") == parse_time("2026-06-01T18:00:00Z"));
  CHECK(parse_rfc3339("2026-06-01T19:00:00.250Z") == parse_time("2026-06-01T19:00:00Z"));
  CHECK(parse_rfc3339("1969-12-31T23:59:59Z") == -1);
  for (const char* bad : {"", "2026-06-01", "2026-06-01T19:00:00", "2026-13-01T00:00:00Z",
                          "2026-06-01T19:00:00+1:00", "2026-06-01T19:00:00Zjunk", "2026-06-01T19:00:00."})
    CHECK_FALSE(parse_rfc3339(bad).has_value());
}
