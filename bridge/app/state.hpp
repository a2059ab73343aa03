#pragma once
// The configured state store: the SQLite file or the PostgreSQL server
// (`state.type`, docs/configuration.md). Every verb and every loop of the
// daemon opens its connections through here.
#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "bridge/config/daemon_config.hpp"
#include "bridge/pg_store/pg_state_store.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::app {

// A new connection to the configured state. `cache_kib` bounds SQLite's page
// cache (PostgreSQL caches on the server).
std::unique_ptr<store::StateStore> open_state(const config::DaemonConfig& c, int cache_kib);
// open_state, waiting while the state database is unavailable (a PostgreSQL
// server down, starting or failing over: store::StateUnavailable), logging
// `state database unavailable` and trying again after 0.5 s doubling to 15 s.
// `limit`: give up after this long (the last error is thrown); none: wait
// until `stop` says so (then nullptr). Errors that waiting does not mend
// (bad settings, a refused login, a newer schema) are thrown at once.
std::unique_ptr<store::StateStore> open_state_waiting(const config::DaemonConfig& c, int cache_kib,
                                                      std::optional<std::chrono::milliseconds> limit,
                                                      const std::function<bool()>& stop = {});
// Whether there may be state to read (SQLite: the file exists; PostgreSQL: yes).
bool state_exists(const config::DaemonConfig& c);
// Where the state is, for logs and `status`: the SQLite path, or the
// PostgreSQL connection settings (never the password).
std::string state_location(const config::DaemonConfig& c);
pg_store::PgSettings pg_settings(const config::PostgresStateSettings& s);

// `reportbridge state migrate --config FILE` and
// `reportbridge state copy --from sqlite:PATH --to CONFIG [--replace]`
// (docs/operations.md, "State on PostgreSQL").
int cmd_state(const std::vector<std::string>& words);

}  // namespace reportbridge::app
