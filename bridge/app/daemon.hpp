#pragma once
// `reportbridge run` and `once`: wires the audit trail, the metrics, the health
// server and systemd notification around the daemon's loops (bridge/runner).
#include <chrono>
#include <string>

#include "bridge/app/runtime.hpp"

namespace reportbridge::app {

// Runs until SIGTERM/SIGINT (`once`: until everything pending is done);
// returns the process exit code. `log_level_override`: --log-level, which a
// reload does not change. `state_wait` (`once --state-wait`): how long `once`
// waits for a state database that is unavailable (0: not at all); `run`
// waits as long as it takes (docs/operations.md, "State on PostgreSQL").
int run_daemon(Runtime& rt, bool once, const std::string& log_level_override,
               std::chrono::milliseconds state_wait = std::chrono::minutes(5));

}  // namespace reportbridge::app
