#include "bridge/core/cursor.hpp"

#include <algorithm>

namespace reportbridge::core {

namespace {
// Removes one seq from the gap list, splitting a range when needed.
bool fill_gap(std::vector<SeqGap>& gaps, std::int64_t seq) {
  auto it = std::lower_bound(gaps.begin(), gaps.end(), seq,
                             [](const SeqGap& g, std::int64_t s) { return g.last < s; });
  if (it == gaps.end() || it->first > seq) return false;
  if (it->first == it->last) {
    gaps.erase(it);
  } else if (seq == it->first) {
    ++it->first;
  } else if (seq == it->last) {
    --it->last;
  } else {
    SeqGap upper{seq + 1, it->last, it->opened_at_ms};
    it->last = seq - 1;
    gaps.insert(it + 1, upper);
  }
  return true;
}
}  // namespace

CursorAdvance advance_cursor(SourceCursor& cursor, std::vector<std::int64_t> seen,
                             std::int64_t now_ms, std::chrono::milliseconds late_row_window) {
  CursorAdvance result;
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::sort(cursor.gaps.begin(), cursor.gaps.end(),
            [](const SeqGap& a, const SeqGap& b) { return a.first < b.first; });
  for (std::int64_t seq : seen) {
    if (seq > cursor.high_water) {
      if (seq > cursor.high_water + 1)
        cursor.gaps.push_back({cursor.high_water + 1, seq - 1, now_ms});
      cursor.high_water = seq;
    } else if (fill_gap(cursor.gaps, seq)) {
      ++result.late_rows;
    }
  }
  const std::int64_t deadline = now_ms - late_row_window.count();
  auto expired = std::stable_partition(cursor.gaps.begin(), cursor.gaps.end(),
                                       [&](const SeqGap& g) { return g.opened_at_ms > deadline; });
  result.expired.assign(expired, cursor.gaps.end());
  cursor.gaps.erase(expired, cursor.gaps.end());
  return result;
}

}  // namespace reportbridge::core
