#pragma once
// An in-memory mirror of the newest rows of dedup_fingerprints and
// dedup_incidents (the span of the duplicate and related windows, plus
// slack), so that judging a submission that arrives in order reads no SQLite
// pages at all; the tables stay the durable copy and answer everything older.
//
// The mirror is complete for arrival times >= covered_from(): a lookup whose
// window starts there may use it; an older one (a row replayed from long ago)
// goes to the tables. Entries are evicted once they fall `span` behind the
// newest arrival (capped at the wall clock, so one row stamped in the future
// cannot empty it).
//
// Not thread-safe (one per Deduplicator).
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace reportbridge::dedup {

inline constexpr std::size_t kTextWords = 8;   // 512-bit trigram set of summary + description
inline constexpr std::size_t kPlaceWords = 4;  // 256-bit trigram set of address + postcode
using TrigramBits = std::array<std::uint64_t, kTextWords + kPlaceWords>;  // text words, then place words

struct IncidentEntry {
  std::int64_t received_ms = 0;
  std::int64_t incident_ms = 0;
  std::string id;
  std::string root_id;  // the first report of the incident
  std::string category;
  double lat = 0;
  double lon = 0;
  TrigramBits bits{};
};

struct FingerprintHit {
  std::string_view id;
  std::int64_t received_ms = 0;
};

class RecentIndex {
 public:
  explicit RecentIndex(std::int64_t span_ms) : span_ms_(span_ms) {}

  bool loaded() const { return loaded_; }
  // Drops everything; the next user reloads from the tables (after a rollback).
  void invalidate();
  // After the owner has added every table row received at or after `from_ms`.
  void mark_loaded(std::int64_t from_ms);
  // True when every entry received in [from_ms, +inf) is here.
  bool covers(std::int64_t from_ms) const { return loaded_ && from_ms >= covered_from_; }
  std::int64_t covered_from() const { return covered_from_; }

  void add_fingerprint(std::uint64_t fp, std::int64_t received_ms, std::string id);
  void add_incident(std::int64_t cell, IncidentEntry entry);

  // The earliest (received_ms, then id) entry with `fp` received in [lo, hi]
  // whose id is not `exclude_id`.
  std::optional<FingerprintHit> find_fingerprint(std::uint64_t fp, std::int64_t lo, std::int64_t hi,
                                                 std::string_view exclude_id) const;
  // Calls f(const IncidentEntry&) for each entry of `cell` received in [lo, hi].
  template <class F>
  void for_each_incident(std::int64_t cell, std::int64_t lo, std::int64_t hi, F&& f) const {
    const auto it = incidents_.find(cell);
    if (it == incidents_.end()) return;
    for (const IncidentEntry& e : it->second)
      if (e.received_ms >= lo && e.received_ms <= hi) f(e);
  }

  // Evicts entries received before min(newest arrival, now_ms) - span. Call
  // when sweep_due(): enough were added since the last sweep that its cost is
  // amortised O(1) per entry.
  bool sweep_due() const { return added_since_sweep_ >= std::max<std::size_t>(1024, size_ / 2); }
  void evict(std::int64_t now_ms);
  // Drops entries received before `cutoff_ms` (retention purge).
  void drop_before(std::int64_t cutoff_ms);

  std::size_t size() const { return size_; }

 private:
  struct FpEntry {
    std::int64_t received_ms;
    std::string id;
  };
  std::int64_t span_ms_;
  bool loaded_ = false;
  std::int64_t covered_from_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t newest_ms_ = std::numeric_limits<std::int64_t>::min();
  std::size_t size_ = 0;
  std::size_t added_since_sweep_ = 0;
  std::unordered_map<std::uint64_t, std::vector<FpEntry>> fingerprints_;
  std::unordered_map<std::int64_t, std::vector<IncidentEntry>> incidents_;
};

}  // namespace reportbridge::dedup
