#pragma once
// A loop's doorbell: another thread rings it when there is work (a batch
// queued, statuses to write, a stop); the loop sleeps on it until then or
// until its next deadline, never in fixed slices. A ring while the loop is
// busy is kept, so no work is missed between a check and the sleep.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace reportbridge::runner {

class Wakeup {
 public:
  using Clock = std::chrono::steady_clock;

  void notify() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ = true;
    }
    cv_.notify_all();
  }

  // Sleeps until rung or `deadline` (none: until rung). True when rung; the
  // ring is consumed.
  bool wait(std::optional<Clock::time_point> deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (deadline)
      cv_.wait_until(lock, *deadline, [this] { return pending_; });
    else
      cv_.wait(lock, [this] { return pending_; });
    const bool rung = pending_;
    pending_ = false;
    return rung;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool pending_ = false;
};

}  // namespace reportbridge::runner
