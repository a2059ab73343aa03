#pragma once
#include <stdexcept>

namespace reportbridge::store {

// The state database cannot be reached now (a PostgreSQL server restarting,
// a failover to a replica): the operation was not done and its transaction
// rolled back. The daemon's loops pause and try again; the store reconnects.
class StateUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace reportbridge::store
