#pragma once
// Reads the metrics gauges and the readiness inputs from the state database.
// Give these a StateStore connection of their own, used only on the health
// server's thread (SQLite connections are not shared between threads). None
// of them takes a lock, so a scrape never waits for the pipeline.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/service/metrics.hpp"
#include "bridge/service/service_config.hpp"
#include "bridge/store/sqlite.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::service {

// Backlog and oldest pending age per target, circuits, quarantine and
// write-back queue. source_backlog is left at -1 (the caller may fill it).
Gauges collect_gauges(store::StateStore& state, const std::vector<std::string>& targets,
                      std::int64_t now_ms);

// nullopt when the state database can be written: the connection is not
// read-only, the file and its folder are writable, and the file system has at
// least `min_free_bytes` free. Otherwise what is wrong.
std::optional<std::string> probe_state_writable(store::Database& db,
                                                std::uint64_t min_free_bytes = 64ull << 20);

// The circuits of the given targets (closed when never recorded).
std::vector<ReadinessInputs::Circuit> circuits(store::StateStore& state,
                                               const std::vector<std::string>& targets);

}  // namespace reportbridge::service
