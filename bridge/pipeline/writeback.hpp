#pragma once
// Write-back: the queued statuses go to the app's submission_status in batches.
// Failures leave them queued; the next pass retries. Never blocks ingest.
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

  // Writes up to one batch; returns how many were written (0: none pending or failed).
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
