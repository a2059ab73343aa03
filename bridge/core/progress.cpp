#include "bridge/core/progress.hpp"

#include <chrono>

namespace reportbridge::core {

namespace {
thread_local std::atomic<std::int64_t>* t_beat = nullptr;
}

std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void progress() noexcept {
  if (t_beat) t_beat->store(steady_now_ns(), std::memory_order_relaxed);
}

std::atomic<std::int64_t>* current_beat() noexcept { return t_beat; }

ProgressScope::ProgressScope(std::atomic<std::int64_t>& beat) noexcept : previous_(t_beat) {
  t_beat = &beat;
  progress();
}

ProgressScope::~ProgressScope() { t_beat = previous_; }

}  // namespace reportbridge::core
