#include "bridge/runner/heartbeat.hpp"

#include "bridge/core/progress.hpp"

namespace reportbridge::runner {

Heartbeat::Heartbeat(std::string name) : name_(std::move(name)), beat_(core::steady_now_ns()) {}

void Heartbeat::busy() noexcept {
  beat_.store(core::steady_now_ns(), std::memory_order_relaxed);
  idle_.store(false, std::memory_order_release);
}

void Heartbeat::idle() noexcept {
  idle_.store(true, std::memory_order_release);
  beat_.store(core::steady_now_ns(), std::memory_order_relaxed);
}

std::chrono::nanoseconds Heartbeat::stalled_for(std::int64_t now_ns) const noexcept {
  if (idle_.load(std::memory_order_acquire)) return std::chrono::nanoseconds(0);
  const std::int64_t last = beat_.load(std::memory_order_relaxed);
  return std::chrono::nanoseconds(now_ns > last ? now_ns - last : 0);
}

std::vector<std::string> stalled_loops(const std::vector<const Heartbeat*>& loops, std::int64_t now_ns,
                                       std::chrono::nanoseconds stall) {
  std::vector<std::string> out;
  for (const auto* loop : loops)
    if (loop->stalled_for(now_ns) > stall) out.push_back(loop->name());
  return out;
}

}  // namespace reportbridge::runner
