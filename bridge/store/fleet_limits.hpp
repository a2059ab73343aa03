#pragma once
// core::FleetLimits of one target on a state store's FleetPermits.
#include <memory>
#include <string>

#include "bridge/core/fleet_limits.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::store {

// `permits` outlives the result (the state store does). Slots are held under
// `lease_ms`; an unavailable database is answered "not now" (logged once per outage).
std::shared_ptr<core::FleetLimits> fleet_limits(FleetPermits& permits, std::string target, double rate,
                                                double burst, std::size_t cap, std::int64_t lease_ms = 30'000);

}  // namespace reportbridge::store
