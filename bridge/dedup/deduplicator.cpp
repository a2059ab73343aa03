#include "bridge/core/civil_time.hpp"
#include "bridge/dedup/deduplicator.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "bridge/dedup/normalise.hpp"
#include "bridge/dedup/recent_index.hpp"
#include "bridge/mapping/functions/pseudonymiser.hpp"

namespace reportbridge::dedup {
namespace {

namespace json = boost::json;
namespace fn = mapping::functions;

constexpr std::size_t kTextCodePoints = 700;
constexpr double kMetresPerDegree = 111320.0;
constexpr double kPi = 3.14159265358979323846;

// Tables are keyed for locality: fingerprints and the related index lead with
// a received-time bucket (2^24 ms, about 4.7 h), so inserts and lookups touch
// the few hot pages of the last hours, whatever the history size; rows hold
// their data in the key's B-tree (WITHOUT ROWID), so a lookup is one range
// scan. Verdicts are keyed by the bucket too (a replay carries the same
// received_at); they keep numbers only, the explanation is rebuilt on read.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS dedup_verdicts (
  bucket INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, reason INTEGER NOT NULL, of_id TEXT, near_id TEXT,
  score REAL NOT NULL, x1 REAL, x2 REAL, x3 REAL, x4 REAL, x5 REAL, x6 REAL,
  reporter_key TEXT, received_ms INTEGER NOT NULL,
  PRIMARY KEY (bucket, id, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_fingerprints (
  bucket INTEGER NOT NULL, fp INTEGER NOT NULL, received_ms INTEGER NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (bucket, fp, received_ms, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_incidents (
  bucket INTEGER NOT NULL, cell INTEGER NOT NULL, received_ms INTEGER NOT NULL, id TEXT NOT NULL,
  root_id TEXT NOT NULL, category TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
  incident_ms INTEGER NOT NULL, bits BLOB NOT NULL,
  PRIMARY KEY (bucket, cell, category, received_ms, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_reporters (
  hash TEXT PRIMARY KEY, reporter_key TEXT NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// Tables of the first layout (text explanations, rowid tables); they are
// replaced (their rows are dropped: duplicates and related reports are then
// found among submissions from the upgrade on).
constexpr const char* kOldLayoutCheck =
    "SELECT (SELECT COUNT(*) FROM pragma_table_info('dedup_verdicts')) > 0 AND "
    "(SELECT COUNT(*) FROM pragma_table_info('dedup_verdicts') WHERE name = 'bucket') = 0";
constexpr const char* kDropOldLayout = R"sql(
DROP TABLE IF EXISTS dedup_verdicts; DROP TABLE IF EXISTS dedup_fingerprints;
DROP TABLE IF EXISTS dedup_incidents;
)sql";

constexpr int kBucketShift = 24;
// The in-memory mirror keeps this much more than the longest window, for rows
// that arrive a little out of order (late commits in the app's store).
constexpr std::int64_t kRecentSlackMs = 3'600'000;
constexpr std::size_t kBucketsPerQuery = 2;  // find_cell's placeholders ?1, ?2
constexpr std::size_t kCellsPerQuery = 4;    // ?3 .. ?6
constexpr std::size_t kCategoriesPerQuery = 3;  // ?7 .. ?9
std::int64_t bucket_of(std::int64_t ms) { return ms >> kBucketShift; }

// Why a verdict was given; stored as an integer, the kind, rule and text follow.
enum class Reason : int {
  update = 0,
  disabled = 1,
  not_object = 2,
  duplicate = 3,
  no_location = 4,
  not_linked = 5,
  no_candidate = 6,
  below_threshold = 7,
  related_same = 8,
  related_other = 9,
};

// Prepared statements are store::Statement, kept for the life of the
// Deduplicator; hot text and blobs are bound without a copy (bind_static).
using Stmt = store::Statement;

// A NULL for an empty text, else the text (no copy).
void bind_text_or_null(Stmt& st, int index, std::string_view value) {
  if (value.empty())
    st.bind_null(index);
  else
    st.bind_static(index, value);
}

// Runs a query of one integer (min, max): nullopt for no row or NULL. Resets.
std::optional<std::int64_t> scalar_i64(Stmt& st) {
  std::optional<std::int64_t> out;
  if (st.step() && !st.is_null(0)) out = st.int64(0);
  st.reset();
  return out;
}

// Resets a statement when a scope ends, also on exceptions.
struct ResetGuard {
  Stmt& st;
  ~ResetGuard() { st.reset(); }
};

using core::days_from_civil;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Typed access to an arbitrary JSON value: anything of the wrong type is absent.
const json::value* member(const json::value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  return v->as_object().if_contains(key);
}
std::string_view str(const json::value* v) {
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}
std::optional<double> num(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

struct Place {
  double lat = 0;
  double lon = 0;
};

std::optional<Place> place_of(const json::value& doc) {
  const json::value* loc = member(&doc, "location");
  auto lat = num(member(loc, "lat"));
  auto lon = num(member(loc, "lon"));
  if (!lat || !lon || !std::isfinite(*lat) || !std::isfinite(*lon) || std::abs(*lat) > 90 || std::abs(*lon) > 180)
    return std::nullopt;
  return Place{*lat, *lon};
}

double distance_m(const Place& a, const Place& b) {
  const double mean_lat = (a.lat + b.lat) / 2 * kPi / 180;
  const double dy = (a.lat - b.lat) * kMetresPerDegree;
  const double dx = (a.lon - b.lon) * kMetresPerDegree * std::cos(mean_lat);
  return std::sqrt(dx * dx + dy * dy);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string_view kind_text(Verdict::Kind k) {
  switch (k) {
    case Verdict::Kind::original: return "original";
    case Verdict::Kind::duplicate: return "duplicate";
    case Verdict::Kind::related: return "related";
    case Verdict::Kind::update: return "update";
  }
  return "original";
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       se = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 3) frac_ms = frac_ms * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 3; ++i) frac_ms *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset_min = (*oh * 60 + *om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d));
  const std::int64_t secs = days * 86400 + *h * 3600 + *mi * 60 + *se - offset_min * 60;
  return secs * 1000 + frac_ms;
}

std::string_view to_string(Verdict::Kind kind) { return kind_text(kind); }

struct Deduplicator::Impl {
  store::Database& db;
  DedupSettings s;
  std::optional<fn::Pseudonymiser> keys;
  std::map<std::string, std::vector<std::string>, std::less<>> related;  // both directions
  std::set<std::string, std::less<>> unlinked;
  double cell_m = 400;

  mutable Stmt find_verdict;
  mutable Stmt first_verdict_bucket;
  mutable Stmt last_verdict_bucket;
  mutable Stmt find_fp;
  mutable Stmt find_cell;
  mutable Stmt find_reporter;
  mutable Stmt newest_fp;
  mutable Stmt newest_incident;
  mutable Stmt load_fp;
  mutable Stmt load_incidents;
  // The newest rows of dedup_fingerprints / dedup_incidents, in memory.
  mutable RecentIndex recent;
  Stmt put_verdict;
  Stmt put_fp;
  Stmt put_incident;
  Stmt put_reporter;
  Stmt purge_fp;
  Stmt purge_incidents;
  Stmt purge_verdicts;
  Stmt purge_reporters;

  // The numbers an explanation is built from (stored in dedup_verdicts).
  struct Facts {
    Reason reason = Reason::no_location;
    std::string near_id;  // closest candidate (related: the one matched)
    double x[6] = {0, 0, 0, 0, 0, 0};
  };

  // Everything check() works out, for record() to store.
  struct Analysis {
    Verdict verdict;
    Facts facts;
    std::int64_t received_ms = 0;
    std::optional<std::uint64_t> fp;
    bool index_incident = false;
    std::int64_t cell = 0;
    std::int64_t incident_ms = 0;
    std::string category;
    Place place;
    TrigramBits bits{};
    std::vector<std::string> reporter_hashes;
  };

  Impl(store::Database& d, DedupSettings settings)
      : db(d), s(std::move(settings)), recent(recent_span(s)) {
    if (!s.reporter_key_file.empty()) keys.emplace(fn::Pseudonymiser::from_key_file(s.reporter_key_file));
    auto add_related = [&](const std::string& a, const std::string& b) {
      auto& v = related[a];
      if (std::find(v.begin(), v.end(), b) == v.end()) v.push_back(b);
    };
    for (const auto& [a, b] : s.related_categories) {
      add_related(a, b);
      add_related(b, a);
    }
    unlinked.insert(s.unlinked_categories.begin(), s.unlinked_categories.end());
    cell_m = std::max(1.0, 2 * s.max_distance_m);
    bool old_layout = false;
    {
      auto old = db.prepare(kOldLayoutCheck);
      old_layout = old.step() && old.int64(0) > 0;
    }
    if (old_layout) db.exec(kDropOldLayout);
    db.exec(kSchema);
    sqlite3* h = db.handle();
    find_verdict = Stmt(h,
                        "SELECT reason, of_id, near_id, score, x1, x2, x3, x4, x5, x6, reporter_key FROM "
                        "dedup_verdicts WHERE bucket = ? AND id = ? AND version = ?");
    first_verdict_bucket = Stmt(h, "SELECT min(bucket) FROM dedup_verdicts");
    last_verdict_bucket = Stmt(h, "SELECT max(bucket) FROM dedup_verdicts");
    find_fp = Stmt(h,
                   "SELECT id, received_ms FROM dedup_fingerprints WHERE bucket = ? AND fp = ? AND received_ms "
                   "BETWEEN ? AND ? AND id <> ? ORDER BY received_ms LIMIT 1");
    find_cell = Stmt(h,
                     "SELECT id, root_id, category, lat, lon, incident_ms, bits, received_ms FROM dedup_incidents "
                     "WHERE bucket IN (?1, ?2) AND cell IN (?3, ?4, ?5, ?6) AND category IN (?7, ?8, ?9) "
                     "AND received_ms BETWEEN ?10 AND ?11");
    find_reporter = Stmt(h, "SELECT reporter_key FROM dedup_reporters WHERE hash = ?");
    newest_fp = Stmt(h,
                     "SELECT max(received_ms) FROM dedup_fingerprints WHERE bucket = "
                     "(SELECT max(bucket) FROM dedup_fingerprints)");
    newest_incident = Stmt(h,
                           "SELECT max(received_ms) FROM dedup_incidents WHERE bucket = "
                           "(SELECT max(bucket) FROM dedup_incidents)");
    load_fp = Stmt(h, "SELECT fp, received_ms, id FROM dedup_fingerprints WHERE bucket >= ?1 AND received_ms >= ?2");
    load_incidents = Stmt(h,
                          "SELECT cell, received_ms, id, root_id, category, lat, lon, incident_ms, bits "
                          "FROM dedup_incidents WHERE bucket >= ?1 AND received_ms >= ?2");
    put_verdict = Stmt(h,
                       "INSERT OR IGNORE INTO dedup_verdicts (id, version, reason, of_id, near_id, score, x1, x2, "
                       "x3, x4, x5, x6, reporter_key, received_ms, bucket) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    put_fp = Stmt(h, "INSERT OR IGNORE INTO dedup_fingerprints (bucket, fp, received_ms, id) VALUES (?, ?, ?, ?)");
    put_incident = Stmt(h,
                        "INSERT OR IGNORE INTO dedup_incidents (bucket, cell, received_ms, id, root_id, category, "
                        "lat, lon, incident_ms, bits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    put_reporter = Stmt(h,
                        "INSERT INTO dedup_reporters (hash, reporter_key, last_seen_ms) VALUES (?, ?, ?) "
                        "ON CONFLICT (hash) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)");
    purge_fp = Stmt(h, "DELETE FROM dedup_fingerprints WHERE bucket <= ? AND received_ms < ?");
    purge_incidents = Stmt(h, "DELETE FROM dedup_incidents WHERE bucket <= ? AND received_ms < ?");
    purge_verdicts = Stmt(h, "DELETE FROM dedup_verdicts WHERE bucket <= ? AND received_ms < ?");
    purge_reporters = Stmt(h, "DELETE FROM dedup_reporters WHERE last_seen_ms < ?");
    // A rolled-back transaction may have held rows the mirror already has.
    sqlite3_rollback_hook(h, &Impl::on_rollback, this);
  }

  ~Impl() { sqlite3_rollback_hook(db.handle(), nullptr, nullptr); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  static void on_rollback(void* self) { static_cast<Impl*>(self)->recent.invalidate(); }

  // Fills the in-memory mirror from the tables (first use, after a rollback):
  // every row received from span before the newest one (or the wall clock,
  // if earlier) on.
  void ensure_recent() const {
    if (recent.loaded()) return;
    const auto f = scalar_i64(newest_fp), i = scalar_i64(newest_incident);
    if (!f && !i) {
      recent.mark_loaded(std::numeric_limits<std::int64_t>::min());  // nothing stored: complete
      return;
    }
    constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
    const std::int64_t from = std::min(std::max(f.value_or(kNone), i.value_or(kNone)), wall_ms()) - recent_span(s);
    {
      ResetGuard g{load_fp};
      load_fp.bind(1, bucket_of(from)).bind(2, from);
      while (load_fp.step())
        recent.add_fingerprint(static_cast<std::uint64_t>(load_fp.int64(0)), load_fp.int64(1),
                               std::string(load_fp.text_view(2)));
    }
    {
      ResetGuard g{load_incidents};
      load_incidents.bind(1, bucket_of(from)).bind(2, from);
      while (load_incidents.step()) {
        const std::string_view bits = load_incidents.blob_view(8);
        IncidentEntry e;
        if (bits.size() != sizeof e.bits) continue;
        std::memcpy(e.bits.data(), bits.data(), sizeof e.bits);
        e.received_ms = load_incidents.int64(1);
        e.id.assign(load_incidents.text_view(2));
        e.root_id.assign(load_incidents.text_view(3));
        e.category.assign(load_incidents.text_view(4));
        e.lat = load_incidents.real(5);
        e.lon = load_incidents.real(6);
        e.incident_ms = load_incidents.int64(7);
        recent.add_incident(load_incidents.int64(0), std::move(e));
      }
    }
    recent.mark_loaded(from);
  }

  // How far behind the newest arrival the in-memory mirror reaches.
  static std::int64_t recent_span(const DedupSettings& s) {
    return std::max(s.duplicate_window, s.time_window).count() + kRecentSlackMs;
  }

  // --- grid cells: rows of cell_m in latitude; in each row, columns at least
  // cell_m wide everywhere in the row (measured at its pole-ward edge).
  std::int64_t row_of(double lat) const { return static_cast<std::int64_t>(std::floor(lat * kMetresPerDegree / cell_m)); }
  double col_width_deg(std::int64_t row) const {
    const double edge_lat = std::max(std::abs(row * cell_m / kMetresPerDegree),
                                     std::abs((row + 1) * cell_m / kMetresPerDegree));
    const double c = std::max(0.01, std::cos(std::min(90.0, edge_lat) * kPi / 180));
    return cell_m / (kMetresPerDegree * c);
  }
  std::int64_t col_of(std::int64_t row, double lon) const {
    return static_cast<std::int64_t>(std::floor(lon / col_width_deg(row)));
  }
  static std::int64_t cell_id(std::int64_t row, std::int64_t col) {
    return ((row + (std::int64_t{1} << 20)) << 24) + (col + (std::int64_t{1} << 23));
  }
  // The cells covering the search circle (usually 4).
  std::vector<std::int64_t> cells_near(const Place& p) const {
    const double r = s.max_distance_m;
    const double dlat = r / kMetresPerDegree;
    const double c = std::max(0.01, std::cos(std::min(90.0, std::abs(p.lat) + dlat) * kPi / 180));
    const double dlon = r / (kMetresPerDegree * c);
    std::vector<std::int64_t> out;
    out.reserve(kCellsPerQuery);
    for (std::int64_t row = row_of(p.lat - dlat); row <= row_of(p.lat + dlat); ++row)
      for (std::int64_t col = col_of(row, p.lon - dlon); col <= col_of(row, p.lon + dlon); ++col)
        out.push_back(cell_id(row, col));
    return out;
  }

  // --- reporter hashes (keyed): email first, then phone
  std::vector<std::string> reporter_hashes(const json::value& doc) const {
    std::vector<std::string> out;
    if (!keys) return out;
    const json::value* rep = member(&doc, "reporter");
    if (auto e = str(member(rep, "email")); !e.empty()) {
      auto r = keys->pseudonymise(e, "dedup-reporter-email", fn::ValueKind::email);
      if (r.ok()) out.push_back(*r.value);
    }
    if (auto ph = str(member(rep, "phone")); !ph.empty()) {
      auto r = keys->pseudonymise(ph, "dedup-reporter-phone", fn::ValueKind::phone);
      if (r.ok()) out.push_back(*r.value);
    }
    return out;
  }

  std::optional<std::string> key_for(const std::vector<std::string>& hashes) const {
    if (hashes.empty()) return std::nullopt;
    for (const auto& h : hashes) {
      ResetGuard g{find_reporter};
      find_reporter.bind_static(1, h);
      if (find_reporter.step()) return std::string(find_reporter.text_view(0));
    }
    return "rk-" + hashes.front();
  }

  // --- content fingerprint: everything a resident typed or attached, not the
  // id, version, submission time, device or consent. The first 64 bits of
  // SHA-256 (big-endian).
  static std::uint64_t fingerprint(const json::value& doc, const std::string& summary, const std::string& description,
                                   const std::string& category, const std::string& address,
                                   const std::string& postcode) {
    std::string in;
    in.reserve(summary.size() + description.size() + address.size() + 320);
    auto field = [&](std::string_view name, std::string_view value) {
      in.append(name);
      in.push_back('=');
      in.append(value);
      in.push_back('\x1f');
    };
    auto int_field = [&](std::string_view name, long long v) {
      char buf[24];
      const int n = std::snprintf(buf, sizeof buf, "%lld", v);
      field(name, std::string_view(buf, static_cast<std::size_t>(n)));
    };
    auto time_field = [&](std::string_view name, const json::value* v) {
      auto t = str(v);
      if (auto ms = parse_rfc3339_ms(t)) int_field(name, *ms);
      else field(name, t);
    };
    field("kind", str(member(&doc, "kind")));
    field("category", category);
    field("summary", summary);
    field("description", description);
    if (auto p = place_of(doc)) {
      int_field("lat", std::llround(p->lat * 1e5));
      int_field("lon", std::llround(p->lon * 1e5));
    }
    field("address", address);
    field("postcode", postcode);
    const json::value* occ = member(&doc, "occurred");
    time_field("occ_start", member(occ, "start"));
    time_field("occ_end", member(occ, "end"));
    const json::value* ongoing = member(occ, "ongoing");
    field("ongoing", ongoing && ongoing->is_bool() ? (ongoing->as_bool() ? "1" : "0") : "");
    const json::value* rep = member(&doc, "reporter");
    const json::value* anon = member(rep, "anonymous");
    field("anonymous", anon && anon->is_bool() ? (anon->as_bool() ? "1" : "0") : "");
    field("name", fold_text(str(member(rep, "name"))));
    auto email = fn::normalise_email(str(member(rep, "email")));
    field("email", email.ok() ? *email.value : fold_text(str(member(rep, "email"))));
    auto phone = fn::normalise_phone(str(member(rep, "phone")));
    field("phone", phone.ok() ? *phone.value : fold_text(str(member(rep, "phone"))));
    if (const json::value* att = member(&doc, "attachments"); att && att->is_array() && !att->as_array().empty()) {
      std::vector<std::string> hashes;
      for (const auto& a : att->as_array()) hashes.push_back(fold_text(str(member(&a, "sha256"))));
      std::sort(hashes.begin(), hashes.end());
      hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
      for (const auto& h : hashes) field("attachment", h);
    }
    // The digest is fetched once: a fetch per call costs as much as the hashing.
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (sha256 == nullptr || EVP_Digest(in.data(), in.size(), md, &md_len, sha256, nullptr) != 1 || md_len < 8)
      throw std::runtime_error("dedup: SHA-256 is not available");
    std::uint64_t fp = 0;
    for (int i = 0; i < 8; ++i) fp = (fp << 8) | md[i];
    return fp;
  }

  // --- verdicts from their facts (also when read back from the table)
  Verdict explain(std::string_view id, std::int64_t version, std::string of_id, double score, const Facts& f) const {
    Verdict v;
    v.of_id = std::move(of_id);
    v.score = score;
    const double* x = f.x;
    switch (f.reason) {
      case Reason::update:
        v.kind = Verdict::Kind::update;
        v.rule = "update.new_version";
        v.explanation = "version " + std::to_string(version) + " of " + std::string(id) +
                        ": an edit of an earlier version, routed as an update, never as a duplicate [rule "
                        "update.new_version]";
        break;
      case Reason::disabled:
      case Reason::not_object:
        v.rule = "original.not_checked";
        v.explanation = f.reason == Reason::not_object
                            ? "not compared: the payload is not a JSON object [rule original.not_checked]"
                            : "not compared: deduplication is disabled [rule original.not_checked]";
        break;
      case Reason::duplicate:
        v.kind = Verdict::Kind::duplicate;
        v.rule = "duplicate.fingerprint";
        v.explanation = "duplicate of " + v.of_id + ": same content fingerprint (kind, category, text, place, " +
                        "incident time, reporter, attachments), received " + fmt("%.0f", x[0]) +
                        " s after it, within the " + fmt("%.0f", x[1]) +
                        " s window [rule duplicate.fingerprint, score 1.00]";
        break;
      case Reason::no_location:
        v.rule = "original.no_match";
        v.explanation = "no related check: the report has no location [rule original.no_match]";
        break;
      case Reason::not_linked:
        v.rule = "original.no_match";
        v.explanation = "no related check: category not linked [rule original.no_match]";
        break;
      case Reason::no_candidate:
        v.rule = "original.no_match";
        v.explanation = "no earlier report of a matching category within " + fmt("%.0f", x[0]) + " m and " +
                        fmt("%.0f", x[1]) + " min [rule original.no_match]";
        break;
      case Reason::below_threshold:
      case Reason::related_same:
      case Reason::related_other: {
        const std::string figures = fmt("%.0f", x[0]) + " m apart, incident times " + fmt("%.0f", x[1]) +
                                    " min apart, text similarity " + fmt("%.2f", x[2]) + ", place similarity " +
                                    fmt("%.2f", x[3]);
        // x[5]: candidates within the gates (0 in verdicts stored before it was kept).
        const std::string candidates =
            x[5] >= 2 ? ", " + fmt("%.0f", x[5]) + " candidates within the gates" : std::string();
        if (f.reason == Reason::below_threshold) {
          v.rule = "original.no_match";
          v.explanation = "closest earlier report " + f.near_id + " scored " + fmt("%.2f", score) +
                          " < threshold " + fmt("%.2f", x[4]) + " (" + figures + candidates +
                          ") [rule original.no_match]";
          break;
        }
        const bool same = f.reason == Reason::related_same;
        v.kind = Verdict::Kind::related;
        v.rule = same ? "related.same_category" : "related.related_category";
        v.explanation = "related to " + v.of_id + (v.of_id != f.near_id ? " (via " + f.near_id + ")" : "") + ": " +
                        (same ? "same category" : "related category") + ", " + figures + "; score " +
                        fmt("%.2f", score) + " >= threshold " + fmt("%.2f", x[4]) + candidates + " [rule " + v.rule +
                        "]";
        break;
      }
    }
    return v;
  }

  std::int64_t received_ms_of(const json::value& doc, const core::SourceRow& row) const {
    return parse_rfc3339_ms(row.received_at)
        .value_or(parse_rfc3339_ms(str(member(&doc, "submitted_at"))).value_or(wall_ms()));
  }

  // Without the bucket (audit): each bucket that holds verdicts, newest first.
  std::optional<Verdict> stored_any(std::string_view id, std::int64_t version) const {
    const auto first = scalar_i64(first_verdict_bucket), last = scalar_i64(last_verdict_bucket);
    if (!first || !last) return std::nullopt;
    for (std::int64_t b = *last; b >= *first; --b)
      if (auto v = stored(id, version, b)) return v;
    return std::nullopt;
  }

  std::optional<Verdict> stored(std::string_view id, std::int64_t version, std::int64_t bucket) const {
    ResetGuard g{find_verdict};
    find_verdict.bind(1, bucket).bind_static(2, id).bind(3, version);
    if (!find_verdict.step()) return std::nullopt;
    Facts f;
    const std::int64_t reason = find_verdict.int64(0);
    f.reason = reason >= 0 && reason <= static_cast<int>(Reason::related_other) ? static_cast<Reason>(reason)
                                                                                  : Reason::no_location;
    f.near_id = std::string(find_verdict.text_view(2));
    for (int i = 0; i < 6; ++i) f.x[i] = find_verdict.real(4 + i);
    Verdict v = explain(id, version, std::string(find_verdict.text_view(1)), find_verdict.real(3), f);
    if (!find_verdict.is_null(10)) v.reporter_key = std::string(find_verdict.text_view(10));
    v.replayed = true;
    return v;
  }

  Analysis analyse(const json::value& doc, const core::SourceRow& row) const {
    Analysis a;
    analyse_into(a, doc, row);
    auto key = std::move(a.verdict.reporter_key);
    a.verdict = explain(row.id, row.version, std::move(a.verdict.of_id), a.verdict.score, a.facts);
    a.verdict.reporter_key = std::move(key);
    return a;
  }

  // Works out the facts (and of_id/score in a.verdict); explain() makes the rest.
  void analyse_into(Analysis& a, const json::value& doc, const core::SourceRow& row) const {
    a.received_ms = received_ms_of(doc, row);
    a.reporter_hashes = reporter_hashes(doc);
    a.verdict.reporter_key = key_for(a.reporter_hashes);
    Verdict& v = a.verdict;
    Facts& f = a.facts;

    if (row.version > 1) {
      f.reason = Reason::update;
      v.of_id = row.id;
      return;
    }
    if (!s.enabled || !doc.is_object()) {
      f.reason = s.enabled ? Reason::not_object : Reason::disabled;
      return;
    }

    const std::string summary = fold_text(str(member(&doc, "summary")));
    const std::string description = fold_text(str(member(&doc, "description")));
    a.category = fold_text(str(member(&doc, "category")));
    const json::value* loc = member(&doc, "location");
    const std::string address = fold_text(str(member(loc, "address")));
    const std::string postcode = fold_text(str(member(loc, "postcode")));

    // 1. double submission: same fingerprint within the window (the buckets
    // are visited in time order, so the first hit is the earliest)
    a.fp = fingerprint(doc, summary, description, a.category, address, postcode);
    const std::int64_t window = s.duplicate_window.count();
    ensure_recent();
    const auto duplicate_of = [&](std::string_view of, std::int64_t of_received_ms) {
      f.reason = Reason::duplicate;
      v.of_id = std::string(of);
      v.score = 1.0;
      f.x[0] = static_cast<double>(a.received_ms - of_received_ms) / 1000.0;
      f.x[1] = static_cast<double>(window) / 1000.0;
    };
    if (recent.covers(a.received_ms - window)) {
      if (auto hit = recent.find_fingerprint(*a.fp, a.received_ms - window, a.received_ms + window, row.id)) {
        duplicate_of(hit->id, hit->received_ms);
        return;
      }
    } else for (std::int64_t b = bucket_of(a.received_ms - window); b <= bucket_of(a.received_ms + window); ++b) {
      ResetGuard g{find_fp};
      find_fp.bind(1, b).bind(2, static_cast<std::int64_t>(*a.fp)).bind(3, a.received_ms - window);
      find_fp.bind(4, a.received_ms + window).bind_static(5, row.id);
      if (find_fp.step()) {
        duplicate_of(find_fp.text_view(0), find_fp.int64(1));
        return;
      }
    }

    // 2. related report: same incident seen by someone else
    auto place = place_of(doc);
    const std::string_view inc_text = str(member(member(&doc, "occurred"), "start"));
    a.incident_ms = parse_rfc3339_ms(inc_text)
                        .value_or(parse_rfc3339_ms(str(member(&doc, "submitted_at"))).value_or(a.received_ms));
    if (!place) {
      f.reason = Reason::no_location;
      return;
    }
    if (a.category.empty() || unlinked.count(a.category) != 0) {
      f.reason = Reason::not_linked;
      return;
    }
    a.place = *place;
    a.index_incident = true;
    a.cell = cell_id(row_of(place->lat), col_of(row_of(place->lat), place->lon));
    std::string text_in;
    text_in.reserve(summary.size() + description.size() + 1);
    text_in.append(summary).push_back(' ');
    text_in.append(description);
    trigram_bits(text_in, a.bits.data(), kTextWords, kTextCodePoints);
    std::string place_in;
    place_in.reserve(address.size() + postcode.size() + 1);
    place_in.append(address).push_back(' ');
    place_in.append(postcode);
    trigram_bits(place_in, a.bits.data() + kTextWords, kPlaceWords, kTextCodePoints);

    static const std::vector<std::string> kNone;
    const auto rel_it = related.find(a.category);
    const std::vector<std::string>& related_cats = rel_it == related.end() ? kNone : rel_it->second;
    const std::int64_t tw = s.time_window.count();
    struct Best {
      double score = -1;
      std::int64_t received_ms = 0;
      std::string id, root;
      double dist = 0, dt_min = 0, text = 0, place = 0;
      bool same_category = true;
    } best;
    const double wsum = s.weights.distance + s.weights.time + s.weights.text + s.weights.place;
    std::size_t gated = 0;  // candidates that pass the gates
    // One candidate (from the mirror or the table): gates, then the score. Ties
    // go to the earlier arrival, then the smaller id, whichever path read it.
    const auto consider = [&](std::string_view id, std::string_view root, std::string_view cat, const Place& other,
                              std::int64_t incident_ms, std::int64_t received_ms, const std::uint64_t* bits) {
      const std::int64_t dt = std::llabs(a.incident_ms - incident_ms);
      if (dt > tw) return;
      const bool same = cat == a.category;
      if (!same && std::find(related_cats.begin(), related_cats.end(), cat) == related_cats.end()) return;
      const double d = distance_m(*place, other);
      if (d > s.max_distance_m) return;
      ++gated;
      const double ts = bit_similarity(a.bits.data(), bits, kTextWords);
      const double ps = bit_similarity(a.bits.data() + kTextWords, bits + kTextWords, kPlaceWords);
      double score =
          (s.weights.distance * (1 - d / s.max_distance_m) +
           s.weights.time * (1 - static_cast<double>(dt) / static_cast<double>(std::max<std::int64_t>(1, tw))) +
           s.weights.text * ts + s.weights.place * ps) /
          (wsum > 0 ? wsum : 1);
      if (!same) score -= s.related_category_penalty;
      if (score < best.score) return;
      if (score == best.score &&
          (received_ms > best.received_ms || (received_ms == best.received_ms && id >= best.id)))
        return;
      best.score = score;
      best.received_ms = received_ms;
      best.id.assign(id);
      best.root.assign(root);
      best.dist = d;
      best.dt_min = static_cast<double>(dt) / 60000.0;
      best.text = ts;
      best.place = ps;
      best.same_category = same;
    };
    // Residents report one incident around the same time, too: arrival times
    // within the window select the rows, incident times are checked per row.
    const std::vector<std::int64_t> cells = cells_near(*place);
    const std::int64_t lo = a.received_ms - tw, hi = a.received_ms + tw;
    if (recent.covers(lo)) {
      for (const std::int64_t cell : cells)
        recent.for_each_incident(cell, lo, hi, [&](const IncidentEntry& e) {
          consider(e.id, e.root_id, e.category, Place{e.lat, e.lon}, e.incident_ms, e.received_ms, e.bits.data());
        });
    } else {
      // From the table: one statement seeks every (bucket, cell, category)
      // triple: up to kBucketsPerQuery buckets, kCellsPerQuery cells and
      // kCategoriesPerQuery categories (this one and related ones). Unused
      // slots repeat a value already bound (SQLite drops repeats from an IN
      // list; a row read twice would not change the best anyway).
      std::vector<std::string_view> cats{a.category};
      cats.insert(cats.end(), related_cats.begin(), related_cats.end());
      TrigramBits other_bits{};
      const std::int64_t b_first = bucket_of(lo), b_last = bucket_of(hi);
      for (std::int64_t b = b_first; b <= b_last; b += kBucketsPerQuery) {
        for (std::size_t ci = 0; ci < cells.size(); ci += kCellsPerQuery) {
          for (std::size_t ki = 0; ki < cats.size(); ki += kCategoriesPerQuery) {
            ResetGuard g{find_cell};
            for (std::size_t k = 0; k < kCategoriesPerQuery; ++k)
              find_cell.bind_static(static_cast<int>(7 + k), ki + k < cats.size() ? cats[ki + k] : cats[ki]);
            for (int k = 0; k < static_cast<int>(kBucketsPerQuery); ++k)
              find_cell.bind(1 + k, b + k <= b_last ? b + k : b);
            for (std::size_t k = 0; k < kCellsPerQuery; ++k)
              find_cell.bind(static_cast<int>(1 + kBucketsPerQuery + k),
                            ci + k < cells.size() ? cells[ci + k] : cells[ci]);
            find_cell.bind(10, lo).bind(11, hi);
            while (find_cell.step()) {
              const std::string_view bits = find_cell.blob_view(6);
              if (bits.size() != sizeof other_bits) continue;
              std::memcpy(other_bits.data(), bits.data(), sizeof other_bits);
              consider(find_cell.text_view(0), find_cell.text_view(1), find_cell.text_view(2),
                       Place{find_cell.real(3), find_cell.real(4)}, find_cell.int64(5),
                       find_cell.int64(7), other_bits.data());
            }
          }
        }
      }
    }
    if (best.score < 0) {
      f.reason = Reason::no_candidate;
      f.x[0] = s.max_distance_m;
      f.x[1] = static_cast<double>(tw) / 60000.0;
      return;
    }
    f.x[0] = best.dist;
    f.x[1] = best.dt_min;
    f.x[2] = best.text;
    f.x[3] = best.place;
    // Stored as numbers; explain() rebuilds the threshold from them.
    f.x[4] = s.threshold + s.density_step * std::log(static_cast<double>(gated));
    f.x[5] = static_cast<double>(gated);
    f.near_id = std::move(best.id);
    v.score = best.score;
    if (best.score < f.x[4]) {
      f.reason = Reason::below_threshold;
      return;
    }
    f.reason = best.same_category ? Reason::related_same : Reason::related_other;
    v.of_id = std::move(best.root);
  }

  // Stores the verdict and what later submissions are compared with; false
  // (nothing recorded) when a verdict for (id, version) is already stored.
  bool record(const Analysis& a, const core::SourceRow& row) {
    const Verdict& v = a.verdict;
    {
      ResetGuard g{put_verdict};
      put_verdict.bind_static(1, row.id).bind(2, row.version).bind(3, static_cast<int>(a.facts.reason));
      bind_text_or_null(put_verdict, 4, v.of_id);
      bind_text_or_null(put_verdict, 5, a.facts.near_id);
      put_verdict.bind(6, v.score);
      for (int i = 0; i < 6; ++i) {
        if (a.facts.x[i] != 0) put_verdict.bind(7 + i, a.facts.x[i]);  // unset: NULL, read back as 0
      }
      if (v.reporter_key) put_verdict.bind_static(13, *v.reporter_key);
      put_verdict.bind(14, a.received_ms).bind(15, bucket_of(a.received_ms));
      put_verdict.run();
      if (db.changes() == 0) return false;
    }
    if (v.reporter_key) {
      for (const auto& h : a.reporter_hashes) {
        ResetGuard g{put_reporter};
        put_reporter.bind_static(1, h).bind_static(2, *v.reporter_key).bind(3, a.received_ms);
        put_reporter.run();
      }
    }
    if (v.kind == Verdict::Kind::duplicate || v.kind == Verdict::Kind::update) return true;
    if (a.fp) {
      ResetGuard g{put_fp};
      put_fp.bind(1, bucket_of(a.received_ms)).bind(2, static_cast<std::int64_t>(*a.fp)).bind(3, a.received_ms);
      put_fp.bind_static(4, row.id);
      put_fp.run();
      if (recent.loaded()) recent.add_fingerprint(*a.fp, a.received_ms, row.id);
    }
    if (a.index_incident) {
      ResetGuard g{put_incident};
      put_incident.bind(1, bucket_of(a.received_ms)).bind(2, a.cell).bind(3, a.received_ms).bind_static(4, row.id);
      put_incident.bind_static(5, v.kind == Verdict::Kind::related ? std::string_view(v.of_id) : std::string_view(row.id));
      put_incident.bind_static(6, a.category).bind(7, a.place.lat).bind(8, a.place.lon).bind(9, a.incident_ms);
      put_incident.bind_blob_static(10, a.bits.data(), sizeof a.bits);
      put_incident.run();
      if (recent.loaded())
        recent.add_incident(a.cell, IncidentEntry{a.received_ms, a.incident_ms, row.id,
                                                v.kind == Verdict::Kind::related ? v.of_id : row.id, a.category,
                                                a.place.lat, a.place.lon, a.bits});
    }
    if (recent.sweep_due()) recent.evict(wall_ms());
    return true;
  }

  std::size_t purge(std::int64_t now_ms) {
    const std::int64_t cutoff = now_ms - s.retention.count();
    std::size_t n = 0;
    for (Stmt* st : {&purge_fp, &purge_incidents, &purge_verdicts}) {
      ResetGuard g{*st};
      st->bind(1, bucket_of(cutoff)).bind(2, cutoff);
      st->run();
      n += static_cast<std::size_t>(db.changes());
    }
    for (Stmt* st : {&purge_reporters}) {
      ResetGuard g{*st};
      st->bind(1, cutoff);
      st->run();
      n += static_cast<std::size_t>(db.changes());
    }
    recent.drop_before(cutoff);
    return n;
  }
};

Deduplicator::Deduplicator(store::Database& db, DedupSettings settings)
    : impl_(std::make_unique<Impl>(db, std::move(settings))) {}

Deduplicator::~Deduplicator() = default;

Verdict Deduplicator::check_and_record(const boost::json::value& doc, const core::SourceRow& row) {
  // The verdict row is inserted first (INSERT OR IGNORE): one B-tree descent
  // instead of a lookup and an insert. A replay finds it there and gets the
  // stored verdict; its fresh analysis (reads only) is discarded.
  auto a = impl_->analyse(doc, row);
  if (impl_->record(a, row)) return std::move(a.verdict);
  if (auto v = impl_->stored(row.id, row.version, bucket_of(a.received_ms))) return *v;
  throw store::SqliteError("dedup: verdict for " + row.id + " neither stored nor found", SQLITE_ERROR);
}

Verdict Deduplicator::check(const boost::json::value& doc, const core::SourceRow& row) const {
  if (auto v = impl_->stored(row.id, row.version, bucket_of(impl_->received_ms_of(doc, row)))) return *v;
  return impl_->analyse(doc, row).verdict;
}

std::optional<Verdict> Deduplicator::recorded_verdict(std::string_view id, std::int64_t version) const {
  return impl_->stored_any(id, version);
}

std::size_t Deduplicator::purge(std::int64_t now_ms) { return impl_->purge(now_ms); }

std::optional<std::string> Deduplicator::reporter_key(const boost::json::value& doc) const {
  return impl_->key_for(impl_->reporter_hashes(doc));
}

const DedupSettings& Deduplicator::settings() const { return impl_->s; }

}  // namespace reportbridge::dedup
