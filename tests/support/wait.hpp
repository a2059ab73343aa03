#pragma once
// Waiting on a condition in tests: a deadline for something observable,
// generous for a loaded machine; never a measure of speed.
#include <chrono>
#include <functional>
#include <thread>

namespace reportbridge::testing {

// Polls `done` every 50 ms until it holds or `timeout` passes; returns its last answer.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace reportbridge::testing
