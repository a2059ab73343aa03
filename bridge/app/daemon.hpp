#pragma once
// `reportbridge run` and `once`: wires the audit trail, the metrics, the health
// server and systemd notification around the daemon's loops (bridge/runner).
#include <string>

#include "bridge/app/runtime.hpp"

namespace reportbridge::app {

// Runs until SIGTERM/SIGINT (`once`: until everything pending is done);
// returns the process exit code. `log_level_override`: --log-level, which a
// reload does not change.
int run_daemon(Runtime& rt, bool once, const std::string& log_level_override);

}  // namespace reportbridge::app
