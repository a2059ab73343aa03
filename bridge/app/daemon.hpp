#pragma once
// `reportbridge run` and `once`: wires the audit trail, the metrics, the health
// server and systemd notification around the daemon's loops (bridge/runner).
#include <chrono>
#include <cstddef>
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

// glibc's allocator as the daemon sets it (before its threads start): blocks
// of 1 MiB and more mapped on their own, free memory above 512 KiB returned,
// and allocator_arenas(targets) arenas, so each loop thread allocates in its
// own (docs/performance.md, changes 9 and 12). An operator's MALLOC_*
// environment variable wins over each setting.
void tune_allocator(std::size_t targets);
std::size_t allocator_arenas(std::size_t targets);

}  // namespace reportbridge::app
