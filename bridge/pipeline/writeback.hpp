#pragma once
// Write-back: the queued statuses go to the app's submission_status in batches,
// with an outcome per status (Source::write_statuses): written and refused
// ones are done; a failed one stays queued and waits on its own (1 s doubling
// to 60 s), so it never re-sends nor holds up the others. Only when nothing of
// a batch was written (the app is down) does the worker back off as a whole.
// Never blocks ingest.
#include <chrono>
#include <cstddef>

#include "bridge/core/events.hpp"
#include "bridge/core/source.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

class WritebackWorker {
 public:
  WritebackWorker(store::StateStore& state, core::Source& source, std::size_t batch_size,
                  core::EventListener* events = nullptr)
      : state_(state), source_(source), batch_size_(batch_size), events_(events) {}

  // Writes up to one batch of due statuses; returns how many were written (0:
  // none due, or none written).
  std::size_t run_once();
  // Writes until nothing is pending or a write fails.
  std::size_t drain();
  std::size_t failures() const { return failures_; }
  // After a failed write, when run_once() tries again (earlier: at once).
  std::chrono::steady_clock::time_point next_try() const { return next_try_; }

 private:
  store::StateStore& state_;
  core::Source& source_;
  std::size_t batch_size_;
  core::EventListener* events_;
  std::size_t failures_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_try_{};
};

}  // namespace reportbridge::pipeline
