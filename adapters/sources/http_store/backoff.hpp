#pragma once
// When to try the app back end again after a failure: Retry-After when the
// server gave one (429/503), else exponential backoff with jitter. Pure apart
// from the random jitter (seedable); time is passed in.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace reportbridge::http_store {

struct BackoffPolicy {
  std::chrono::milliseconds base{500};               // first wait, doubled per failure
  std::chrono::milliseconds cap{60'000};             // longest computed wait
  std::chrono::milliseconds retry_after_cap{3'600'000};  // longest Retry-After honoured
};

class BackoffGate {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BackoffGate(BackoffPolicy policy, std::uint64_t seed = std::random_device{}());

  // How long until the next attempt may start (0: now).
  std::chrono::milliseconds remaining(Clock::time_point now) const;
  // Records a failure and returns the wait before the next attempt: the
  // server's Retry-After (capped) when given, else a random wait in
  // [d/2, d] with d = min(cap, base * 2^(failures-1)).
  std::chrono::milliseconds failed(Clock::time_point now,
                                   std::optional<std::chrono::milliseconds> retry_after);
  void succeeded();
  int failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 random_;
  int failures_ = 0;
  Clock::time_point not_before_{};
};

}  // namespace reportbridge::http_store
