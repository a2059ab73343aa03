#include "bridge/store/fleet_limits.hpp"

#include <atomic>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

namespace reportbridge::store {
namespace {

class StoreFleetLimits : public core::FleetLimits {
 public:
  StoreFleetLimits(FleetPermits& p, std::string target, double rate, double burst, std::size_t cap,
                   std::int64_t lease_ms)
      : p_(p), target_(std::move(target)), rate_(rate), burst_(burst), cap_(static_cast<int>(cap)),
        lease_ms_(lease_ms) {}

  Tokens take(int want) override {
    if (rate_ <= 0) return {want, 0};
    return guarded(Tokens{0, 1000}, [&] {
      const auto g = p_.take_tokens(target_, rate_, burst_, want);
      return Tokens{g.granted, g.wait_ms};
    });
  }

  std::optional<std::int64_t> acquire() override {
    return guarded(std::optional<std::int64_t>{}, [&]() -> std::optional<std::int64_t> {
      auto s = p_.acquire_slot(target_, cap_, lease_ms_);
      if (!s) return std::nullopt;
      std::lock_guard lock(m_);
      held_[++next_] = *s;
      return next_;
    });
  }

  bool renew(std::int64_t handle) override {
    const auto s = slot(handle);
    if (!s) return false;
    // Unreachable database: the slot is kept while its lease may still hold;
    // a renewal that finds it taken over ends it.
    const bool kept = guarded(true, [&] { return p_.renew_slot(*s, lease_ms_); });
    if (!kept) forget(handle);
    return kept;
  }

  void release(std::int64_t handle) override {
    const auto s = slot(handle);
    forget(handle);
    if (s) guarded(0, [&] { p_.release_slot(*s); return 0; });  // else its lease runs out
  }

  std::int64_t renew_every_ms() const override { return std::max<std::int64_t>(1, lease_ms_ / 3); }

 private:
  std::optional<FleetSlot> slot(std::int64_t handle) {
    std::lock_guard lock(m_);
    const auto it = held_.find(handle);
    if (it == held_.end()) return std::nullopt;
    return it->second;
  }
  void forget(std::int64_t handle) {
    std::lock_guard lock(m_);
    held_.erase(handle);
  }
  template <class T, class F>
  T guarded(T otherwise, F&& f) {
    try {
      T r = f();
      down_ = false;
      return r;
    } catch (const std::exception& e) {
      if (!down_.exchange(true))
        spdlog::warn("target {}: fleet-wide limits unavailable, waiting (not sending unthrottled): {}", target_,
                     e.what());
      return otherwise;
    }
  }

  FleetPermits& p_;
  std::string target_;
  double rate_, burst_;
  int cap_;
  std::int64_t lease_ms_;
  std::mutex m_;
  std::map<std::int64_t, FleetSlot> held_;
  std::int64_t next_ = 0;
  std::atomic<bool> down_{false};
};

}  // namespace

std::shared_ptr<core::FleetLimits> fleet_limits(FleetPermits& permits, std::string target, double rate, double burst,
                                                std::size_t cap, std::int64_t lease_ms) {
  return std::make_shared<StoreFleetLimits>(permits, std::move(target), rate, burst, cap, lease_ms);
}

}  // namespace reportbridge::store
