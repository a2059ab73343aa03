#pragma once
// Moving a source cursor without ever skipping a late row.
//
// Several app servers insert at once, so a row with a smaller seq can become
// visible after one with a larger seq. The cursor therefore keeps, besides the
// highest seq seen, every range of seqs below it that has not been seen yet
// (a gap). Sources re-read gaps on every poll; a gap closes when its rows have
// all been seen, or after `late_row_window` (seqs an app burnt and will never
// fill), which is logged and counted.
#include <chrono>
#include <cstdint>
#include <vector>

#include "bridge/core/source.hpp"

namespace reportbridge::core {

struct CursorAdvance {
  std::vector<SeqGap> expired;  // gaps given up after the late-row window
  std::size_t late_rows = 0;    // rows seen inside a gap this time
};

// Records `seen` (any order) in the cursor, opening gaps for seqs jumped over,
// and expires gaps opened before now_ms - late_row_window.
CursorAdvance advance_cursor(SourceCursor& cursor, std::vector<std::int64_t> seen,
                             std::int64_t now_ms, std::chrono::milliseconds late_row_window);

}  // namespace reportbridge::core
