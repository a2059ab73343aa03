#include "adapters/sources/http_store/backoff.hpp"

#include <algorithm>

namespace reportbridge::http_store {

BackoffGate::BackoffGate(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), random_(seed) {}

std::chrono::milliseconds BackoffGate::remaining(Clock::time_point now) const {
  if (now >= not_before_) return std::chrono::milliseconds{0};
  return std::chrono::ceil<std::chrono::milliseconds>(not_before_ - now);
}

std::chrono::milliseconds BackoffGate::failed(Clock::time_point now,
                                              std::optional<std::chrono::milliseconds> retry_after) {
  ++failures_;
  std::chrono::milliseconds wait;
  if (retry_after) {
    wait = std::clamp(*retry_after, std::chrono::milliseconds{0}, policy_.retry_after_cap);
  } else {
    const int doublings = std::min(failures_ - 1, 30);
    const auto d = std::min<std::int64_t>(policy_.cap.count(), policy_.base.count() << doublings);
    std::uniform_int_distribution<std::int64_t> jitter(d / 2, std::max<std::int64_t>(d, d / 2));
    wait = std::chrono::milliseconds{jitter(random_)};
  }
  not_before_ = now + wait;
  return wait;
}

void BackoffGate::succeeded() {
  failures_ = 0;
  not_before_ = {};
}

}  // namespace reportbridge::http_store
