#include "bridge/dedup/recent_index.hpp"

#include <algorithm>

namespace reportbridge::dedup {

void RecentIndex::invalidate() {
  fingerprints_.clear();
  incidents_.clear();
  loaded_ = false;
  covered_from_ = std::numeric_limits<std::int64_t>::max();
  newest_ms_ = std::numeric_limits<std::int64_t>::min();
  size_ = 0;
  added_since_sweep_ = 0;
}

void RecentIndex::mark_loaded(std::int64_t from_ms) {
  loaded_ = true;
  covered_from_ = from_ms;
}

void RecentIndex::add_fingerprint(std::uint64_t fp, std::int64_t received_ms, std::string id) {
  fingerprints_[fp].push_back({received_ms, std::move(id)});
  newest_ms_ = std::max(newest_ms_, received_ms);
  ++size_;
  ++added_since_sweep_;
}

void RecentIndex::add_incident(std::int64_t cell, IncidentEntry entry) {
  newest_ms_ = std::max(newest_ms_, entry.received_ms);
  incidents_[cell].push_back(std::move(entry));
  ++size_;
  ++added_since_sweep_;
}

std::optional<FingerprintHit> RecentIndex::find_fingerprint(std::uint64_t fp, std::int64_t lo, std::int64_t hi,
                                                            std::string_view exclude_id) const {
  const auto it = fingerprints_.find(fp);
  if (it == fingerprints_.end()) return std::nullopt;
  const FpEntry* best = nullptr;
  for (const FpEntry& e : it->second) {
    if (e.received_ms < lo || e.received_ms > hi || e.id == exclude_id) continue;
    if (best == nullptr || e.received_ms < best->received_ms ||
        (e.received_ms == best->received_ms && e.id < best->id))
      best = &e;
  }
  if (best == nullptr) return std::nullopt;
  return FingerprintHit{best->id, best->received_ms};
}

void RecentIndex::evict(std::int64_t now_ms) {
  added_since_sweep_ = 0;
  if (newest_ms_ == std::numeric_limits<std::int64_t>::min()) return;
  const std::int64_t horizon = std::min(newest_ms_, now_ms);
  if (horizon < std::numeric_limits<std::int64_t>::min() + span_ms_) return;
  const std::int64_t cutoff = horizon - span_ms_;
  if (loaded_ && cutoff <= covered_from_) return;
  drop_before(cutoff);
}

void RecentIndex::drop_before(std::int64_t cutoff_ms) {
  auto sweep = [&](auto& map) {
    for (auto it = map.begin(); it != map.end();) {
      auto& v = it->second;
      const auto before = v.size();
      v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& e) { return e.received_ms < cutoff_ms; }),
              v.end());
      size_ -= before - v.size();
      it = v.empty() ? map.erase(it) : std::next(it);
    }
  };
  sweep(fingerprints_);
  sweep(incidents_);
  // What remains is complete from the cutoff on (it was from covered_from_).
  if (loaded_) covered_from_ = std::max(covered_from_, cutoff_ms);
}

}  // namespace reportbridge::dedup
