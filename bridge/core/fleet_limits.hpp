#pragma once
// A target's limits shared with other instances (issue #16), as a sink's
// client asks for them: tokens for request starts and connection slots, held
// for the whole fleet (implemented on the state store, store::fleet_limits).
// Never throws: an answer that cannot be had (the database is unavailable) is
// "not now", and the client waits: it never goes on unthrottled.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace reportbridge::core {

class FleetLimits {
 public:
  struct Tokens {
    int granted = 0;           // 0..want
    std::int64_t wait_ms = 0;  // when fewer than wanted: before asking again
  };
  virtual ~FleetLimits() = default;
  virtual Tokens take(int want) = 0;
  // A connection slot: its handle, nullopt when none is free now.
  virtual std::optional<std::int64_t> acquire() = 0;
  // Keeps the slot's lease; false when it was lost (taken over): acquire again.
  virtual bool renew(std::int64_t handle) = 0;
  virtual void release(std::int64_t handle) = 0;
  // How often a held slot is to be renewed (a third of its lease).
  virtual std::int64_t renew_every_ms() const = 0;
};

// Made by the dispatcher for a sink, from the sink's own limits (rate 0: no
// rate limit); nullptr when the state is not shared (SQLite).
using FleetLimitsFactory = std::function<std::shared_ptr<FleetLimits>(double rate, double burst, std::size_t cap)>;

}  // namespace reportbridge::core
