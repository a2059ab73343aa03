#pragma once
// Write-back: the queued statuses go to the app's submission_status in passes,
// with an outcome per status (Source::write_statuses): written and refused
// ones are done; a failed one stays queued and waits on its own (1 s doubling
// to 60 s), so it never re-sends nor holds up the others. Only when nothing of
// a pass was written (the app is down) does the worker back off as a whole.
// Never blocks ingest.
//
// A pass is up to `batch_size` statuses. With a `max_delay`, the worker waits
// until that many are due or the oldest has waited max_delay: the app's
// submission_status is keyed by random ids, so each pass rewrites index pages
// all over it, and larger passes rewrite each page for more statuses
// (docs/performance.md, change 10). A pass goes in slices of kSliceStatuses,
// sorted by submission id, one write_statuses call each (change 13): a slice
// that fails after others were written leaves those written and the rest
// waiting on their own. drain() does not wait.
#include <chrono>
#include <cstddef>
#include <optional>

#include "bridge/core/events.hpp"
#include "bridge/core/source.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

class WritebackWorker {
 public:
  // At most this many statuses per written_back event batch (audit entry).
  static constexpr std::size_t kEventsPerBatch = 2000;
  // At most this many statuses per Source::write_statuses call: a pass is
  // written in slices of its statuses sorted by submission id.
  static constexpr std::size_t kSliceStatuses = 5000;

  WritebackWorker(store::StateStore& state, core::Source& source, std::size_t batch_size,
                  core::EventListener* events = nullptr,
                  std::chrono::milliseconds max_delay = std::chrono::milliseconds(0))
      : state_(state), source_(source), batch_size_(batch_size), events_(events), max_delay_(max_delay) {}

  // Writes up to one pass of due statuses; returns how many were written (0:
  // none due, still waiting for a fuller pass, or none written). `force`: no
  // waiting for a fuller pass.
  std::size_t run_once(bool force = false);
  // Writes until nothing is pending or a write fails.
  std::size_t drain();
  std::size_t failures() const { return failures_; }
  // When run_once() has something to do next without being woken: after a
  // failed write, the retry; when waiting for a fuller pass, the oldest
  // status's max_delay. Earlier: at once.
  std::chrono::steady_clock::time_point next_try() const { return std::max(next_try_, waiting_until_); }

 private:
  store::StateStore& state_;
  core::Source& source_;
  std::size_t batch_size_;
  core::EventListener* events_;
  std::chrono::milliseconds max_delay_;
  std::size_t failures_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_try_{};
  std::chrono::steady_clock::time_point waiting_until_{};
};

}  // namespace reportbridge::pipeline
