#include "bridge/core/civil_time.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/core/sha256.hpp"

#include <boost/json.hpp>

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
#include "bridge/store/sqlite_dedup_tables.hpp"

namespace reportbridge::dedup {
namespace {

namespace json = boost::json;
namespace fn = mapping::functions;

constexpr std::size_t kTextCodePoints = 700;
constexpr double kMetresPerDegree = 111320.0;
constexpr double kPi = 3.14159265358979323846;

// Rows are keyed for locality by a received-time bucket (2^24 ms, about
// 4.7 h): inserts and lookups touch the few hot pages of the last hours,
// whatever the history size (the tables: store::DedupTables).
constexpr int kBucketShift = 24;
// The in-memory mirror keeps this much more than the longest window, for rows
// that arrive a little out of order (late commits in the app's store).
constexpr std::int64_t kRecentSlackMs = 3'600'000;
constexpr std::size_t kCellsPerQuery = 4;  // cells around a search circle, usually
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
  // The same content as a copy received later but ingested (and sent) first:
  // this earlier one is linked to it (x[0]: seconds before it).
  duplicate_sent_first = 10,
  // Ingested first, withdrawn before delivery when the earlier copy arrived:
  // a duplicate of that earlier one (x[0]: seconds after it).
  duplicate_withdrawn = 11,
};
constexpr Reason kLastReason = Reason::duplicate_withdrawn;

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
  DedupSettings s;
  std::optional<fn::Pseudonymiser> keys;
  std::map<std::string, std::vector<std::string>, std::less<>> related;  // both directions
  std::set<std::string, std::less<>> unlinked;
  double cell_m = 400;

  std::unique_ptr<store::DedupTables> owned;
  store::DedupTables& t;  // *owned
  // The newest rows of dedup_fingerprints / dedup_incidents, in memory, as of
  // the tables' generation `mirror_generation`.
  mutable RecentIndex recent;
  mutable std::uint64_t mirror_generation = 0;

  // The last verdict of check_and_record that found a later copy ingested
  // first (for supersede).
  struct SentFirst {
    std::string id;
    std::int64_t version = 0;
    std::string of_id;
    std::int64_t received_ms = 0, of_received_ms = 0;
    std::uint64_t fp = 0;
  };
  std::optional<SentFirst> sent_first;

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
    std::int64_t of_received_ms = 0;  // duplicates: when the copy found was received
    std::optional<std::uint64_t> fp;
    bool index_incident = false;
    std::int64_t cell = 0;
    std::int64_t incident_ms = 0;
    std::string category;
    Place place;
    TrigramBits bits{};
    std::vector<std::string> reporter_hashes;
  };

  Impl(std::unique_ptr<store::DedupTables> tables, DedupSettings settings)
      : s(std::move(settings)), owned(std::move(tables)), t(*owned), recent(recent_span(s)) {
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
    mirror_generation = t.generation();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Fills the in-memory mirror from the tables (first use, after a rollback):
  // every row received from span before the newest one (or the wall clock,
  // if earlier) on.
  void ensure_recent() const {
    // Rows the mirror holds may have been rolled back, or another instance
    // ingested meanwhile: rebuild it from the tables.
    if (const auto g = t.generation(); g != mirror_generation) {
      recent.invalidate();
      mirror_generation = g;
    }
    if (recent.loaded()) return;
    const auto f = t.newest_fingerprint_ms(), i = t.newest_incident_ms();
    if (!f && !i) {
      recent.mark_loaded(std::numeric_limits<std::int64_t>::min());  // nothing stored: complete
      return;
    }
    constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
    const std::int64_t from = std::min(std::max(f.value_or(kNone), i.value_or(kNone)), wall_ms()) - recent_span(s);
    t.load_fingerprints(bucket_of(from), from, [&](std::uint64_t fp, std::int64_t received_ms, std::string_view id) {
      recent.add_fingerprint(fp, received_ms, std::string(id));
    });
    t.load_incidents(bucket_of(from), from, [&](const store::DedupIncidentRow& r) {
      IncidentEntry e;
      if (r.bits.size() != sizeof e.bits) return;
      std::memcpy(e.bits.data(), r.bits.data(), sizeof e.bits);
      e.received_ms = r.received_ms;
      e.id.assign(r.id);
      e.root_id.assign(r.root_id);
      e.category.assign(r.category);
      e.lat = r.lat;
      e.lon = r.lon;
      e.incident_ms = r.incident_ms;
      recent.add_incident(r.cell, std::move(e));
    });
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
    for (const auto& h : hashes)
      if (auto k = t.find_reporter(h)) return k;
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
    core::Sha256 sha;
    sha.update(in);
    const auto md = sha.digest();
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
      case Reason::duplicate_withdrawn:
        v.kind = Verdict::Kind::duplicate;
        v.rule = "duplicate.fingerprint";
        v.explanation = "duplicate of " + v.of_id + ": same content fingerprint (kind, category, text, place, " +
                        "incident time, reporter, attachments), received " + fmt("%.0f", x[0]) +
                        " s after it, within the " + fmt("%.0f", x[1]) + " s window" +
                        (f.reason == Reason::duplicate_withdrawn
                             ? std::string("; ingested first, it was withdrawn before delivery when the earlier "
                                           "copy arrived")
                             : std::string()) +
                        " [rule duplicate.fingerprint, score 1.00]";
        break;
      case Reason::duplicate_sent_first:
        v.kind = Verdict::Kind::duplicate;
        v.received_before_of = true;
        v.rule = "duplicate.fingerprint_sent_first";
        v.explanation = "duplicate of " + v.of_id + ": same content fingerprint, received " + fmt("%.0f", x[0]) +
                        " s before it, within the " + fmt("%.0f", x[1]) + " s window; " + v.of_id +
                        " was ingested first and is already on its way to the targets, so this earlier copy is "
                        "linked to it, not sent as a second record [rule duplicate.fingerprint_sent_first, "
                        "score 1.00]";
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

  // Without the bucket (audit).
  std::optional<Verdict> stored_any(std::string_view id, std::int64_t version) const {
    auto r = t.find_verdict_any(id, version);
    return r ? std::optional<Verdict>(verdict_of(id, version, std::move(*r))) : std::nullopt;
  }

  std::optional<Verdict> stored(std::string_view id, std::int64_t version, std::int64_t bucket) const {
    auto r = t.find_verdict(bucket, id, version);
    return r ? std::optional<Verdict>(verdict_of(id, version, std::move(*r))) : std::nullopt;
  }

  Verdict verdict_of(std::string_view id, std::int64_t version, store::DedupStoredVerdict r) const {
    Facts f;
    f.reason = r.reason >= 0 && r.reason <= static_cast<int>(kLastReason) ? static_cast<Reason>(r.reason)
                                                                           : Reason::no_location;
    f.near_id = std::move(r.near_id);
    for (int i = 0; i < 6; ++i) f.x[i] = r.x[i];
    Verdict v = explain(id, version, std::move(r.of_id), r.score, f);
    v.reporter_key = std::move(r.reporter_key);
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
    // The first received copy wins, whatever the ingest order: a copy found
    // that was received later (it was ingested first: this row was committed
    // late or hidden) makes this one the earlier of the two, linked to it; the
    // ingest step then withdraws the later one if it has not left yet
    // (Deduplicator::supersede). Equal arrival times keep the ingest order.
    const auto duplicate_of = [&](std::string_view of, std::int64_t of_received_ms) {
      const bool later = of_received_ms > a.received_ms;
      f.reason = later ? Reason::duplicate_sent_first : Reason::duplicate;
      v.of_id = std::string(of);
      v.score = 1.0;
      f.x[0] = static_cast<double>(later ? of_received_ms - a.received_ms : a.received_ms - of_received_ms) / 1000.0;
      f.x[1] = static_cast<double>(window) / 1000.0;
      a.of_received_ms = of_received_ms;
    };
    if (recent.covers(a.received_ms - window)) {
      if (auto hit = recent.find_fingerprint(*a.fp, a.received_ms - window, a.received_ms + window, row.id)) {
        duplicate_of(hit->id, hit->received_ms);
        return;
      }
    } else for (std::int64_t b = bucket_of(a.received_ms - window); b <= bucket_of(a.received_ms + window); ++b) {
      if (auto hit = t.find_fingerprint(b, *a.fp, a.received_ms - window, a.received_ms + window, row.id)) {
        duplicate_of(hit->first, hit->second);
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
      if (root == row.id) return;  // already hangs on this report (it superseded their first one)
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
      // From the tables: every (bucket, cell, category) triple, this
      // category and the related ones.
      std::vector<std::string_view> cats{a.category};
      cats.insert(cats.end(), related_cats.begin(), related_cats.end());
      std::vector<std::int64_t> buckets;
      for (std::int64_t b = bucket_of(lo); b <= bucket_of(hi); ++b) buckets.push_back(b);
      TrigramBits other_bits{};
      t.find_incidents(buckets, cells, cats, lo, hi, [&](const store::DedupIncidentRow& r) {
        if (r.bits.size() != sizeof other_bits) return;
        std::memcpy(other_bits.data(), r.bits.data(), sizeof other_bits);
        consider(r.id, r.root_id, r.category, Place{r.lat, r.lon}, r.incident_ms, r.received_ms, other_bits.data());
      });
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
      store::DedupVerdictRow r;
      r.bucket = bucket_of(a.received_ms);
      r.id = row.id;
      r.version = row.version;
      r.reason = static_cast<int>(a.facts.reason);
      r.of_id = v.of_id;
      r.near_id = a.facts.near_id;
      r.score = v.score;
      for (int i = 0; i < 6; ++i) r.x[i] = a.facts.x[i];
      if (v.reporter_key) r.reporter_key = std::string_view(*v.reporter_key);
      r.received_ms = a.received_ms;
      if (!t.put_verdict(r)) return false;
    }
    if (v.reporter_key)
      for (const auto& h : a.reporter_hashes) t.put_reporter(h, *v.reporter_key, a.received_ms);
    if (v.kind == Verdict::Kind::duplicate || v.kind == Verdict::Kind::update) return true;
    if (a.fp) {
      t.put_fingerprint(bucket_of(a.received_ms), *a.fp, a.received_ms, row.id);
      if (recent.loaded()) recent.add_fingerprint(*a.fp, a.received_ms, row.id);
    }
    if (a.index_incident) {
      const std::string_view root = v.kind == Verdict::Kind::related ? std::string_view(v.of_id) : std::string_view(row.id);
      store::DedupIncidentRow r;
      r.bucket = bucket_of(a.received_ms);
      r.cell = a.cell;
      r.received_ms = a.received_ms;
      r.id = row.id;
      r.root_id = root;
      r.category = a.category;
      r.lat = a.place.lat;
      r.lon = a.place.lon;
      r.incident_ms = a.incident_ms;
      r.bits = std::string_view(reinterpret_cast<const char*>(a.bits.data()), sizeof a.bits);
      t.put_incident(r);
      if (recent.loaded())
        recent.add_incident(a.cell, IncidentEntry{a.received_ms, a.incident_ms, row.id, std::string(root), a.category,
                                                a.place.lat, a.place.lon, a.bits});
    }
    if (recent.sweep_due()) recent.evict(wall_ms());
    return true;
  }

  std::size_t purge(std::int64_t now_ms) {
    const std::int64_t cutoff = now_ms - s.retention.count();
    const std::size_t n = t.purge(bucket_of(cutoff), cutoff);
    recent.drop_before(cutoff);
    return n;
  }
};

Deduplicator::Deduplicator(std::unique_ptr<store::DedupTables> tables, DedupSettings settings) {
  if (!tables) throw std::invalid_argument("deduplication: this state store keeps no deduplication tables");
  impl_ = std::make_unique<Impl>(std::move(tables), std::move(settings));
}

Deduplicator::Deduplicator(store::Database& db, DedupSettings settings)
    : Deduplicator(store::open_sqlite_dedup_tables(db), std::move(settings)) {}

Deduplicator::~Deduplicator() = default;

Verdict Deduplicator::check_and_record(const boost::json::value& doc, const core::SourceRow& row) {
  // The verdict row is inserted first (INSERT OR IGNORE): one B-tree descent
  // instead of a lookup and an insert. A replay finds it there and gets the
  // stored verdict; its fresh analysis (reads only) is discarded.
  auto a = impl_->analyse(doc, row);
  impl_->sent_first.reset();
  if (impl_->record(a, row)) {
    if (a.facts.reason == Reason::duplicate_sent_first && a.fp)
      impl_->sent_first = Impl::SentFirst{row.id, row.version, a.verdict.of_id, a.received_ms, a.of_received_ms, *a.fp};
    return std::move(a.verdict);
  }
  if (auto v = impl_->stored(row.id, row.version, bucket_of(a.received_ms))) return *v;
  throw std::runtime_error("dedup: verdict for " + row.id + " neither stored nor found");
}

std::optional<Superseded> Deduplicator::supersede(const boost::json::value& doc, const core::SourceRow& row) {
  auto& im = *impl_;
  if (!im.sent_first || im.sent_first->id != row.id || im.sent_first->version != row.version) return std::nullopt;
  const Impl::SentFirst sf = *im.sent_first;
  im.sent_first.reset();
  im.t.savepoint();
  try {
    const std::int64_t later_bucket = bucket_of(sf.of_received_ms);
    // the later copy leaves the indexes
    im.t.drop_fingerprint(later_bucket, sf.fp, sf.of_received_ms, sf.of_id);
    im.t.drop_incident(later_bucket, sf.of_received_ms, sf.of_id);
    // related reports of the incident that hung on the later copy now hang on this one
    const std::int64_t span = im.s.time_window.count();
    im.t.reroot_incidents(sf.of_id, row.id, bucket_of(sf.of_received_ms - span), bucket_of(sf.of_received_ms + span));
    // this one is judged again without it
    im.t.drop_verdict(bucket_of(sf.received_ms), row.id, row.version);
    im.recent.invalidate();
    auto a = im.analyse(doc, row);
    if (a.verdict.kind == Verdict::Kind::duplicate || !im.record(a, row)) {
      im.t.rollback_to_savepoint();
      im.recent.invalidate();
      return std::nullopt;
    }
    // the later copy: a duplicate of this one
    im.t.mark_withdrawn(later_bucket, sf.of_id, 1, static_cast<int>(Reason::duplicate_withdrawn), row.id,
                        static_cast<double>(sf.of_received_ms - sf.received_ms) / 1000.0,
                        static_cast<double>(im.s.duplicate_window.count()) / 1000.0);
    im.recent.invalidate();
    Superseded out;
    out.verdict = std::move(a.verdict);
    out.later_id = sf.of_id;
    if (auto v = im.stored(sf.of_id, 1, later_bucket)) {
      out.later_verdict = std::move(*v);
      out.later_verdict.replayed = false;
    }
    im.t.release_savepoint();
    return out;
  } catch (...) {
    try {
      im.t.rollback_to_savepoint();
    } catch (...) {
    }
    im.recent.invalidate();
    throw;
  }
}

void Deduplicator::reload_window() { impl_->recent.invalidate(); }

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
