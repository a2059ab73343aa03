#pragma once
#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace reportbridge::store {

// The state database cannot be reached now (a PostgreSQL server restarting,
// a failover to a replica): the operation was not done and its transaction
// rolled back. The daemon's loops pause and try again; the store reconnects.
class StateUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The pause before the next try while the state database is unavailable:
// 0.5 s, then doubling up to 15 s (the daemon's loops, the wait at start).
inline std::chrono::milliseconds next_outage_wait(std::chrono::milliseconds previous) {
  return previous.count() ? std::min<std::chrono::milliseconds>(previous * 2, std::chrono::seconds(15))
                          : std::chrono::milliseconds(500);
}

}  // namespace reportbridge::store
