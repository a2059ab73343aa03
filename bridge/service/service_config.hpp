#pragma once
// The `health:` and `service:` sections of the daemon config, their specs (for
// `check` and docs/configuration.md) and the readiness rules.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/config/yaml_spec.hpp"
#include "bridge/core/diagnostics.hpp"
#include "bridge/service/health_server.hpp"

namespace reportbridge::service {

struct HealthSettings {
  bool enabled = true;
  HealthServerSettings server;  // listen address, limits
  // /readyz fails once a target's circuit has been open this long.
  std::chrono::milliseconds circuit_open_threshold{300'000};
};

struct ServiceSettings {
  // SIGTERM: how long the current batch and in-flight deliveries may take to
  // finish before the bridge exits anyway (keep below the unit's TimeoutStopSec).
  std::chrono::milliseconds shutdown_timeout{30'000};
  bool watchdog = true;  // ping systemd's watchdog when the unit sets WatchdogSec
  // A loop busy this long without progress is stuck: the watchdog pings stop.
  std::chrono::milliseconds stall_timeout{120'000};
};

struct ServiceConfig {
  HealthSettings health;
  ServiceSettings service;
};

// The two top-level keys, for the daemon's top-level spec.
const std::vector<config::KeySpec>& top_level_keys();
const config::MapSpec& health_spec();
const config::MapSpec& service_spec();

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464". nullopt when malformed.
std::optional<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text);

// Reads root["health"] and root["service"] (both optional). Every problem is
// added to `diags` with its position; nullopt when there was an error.
std::optional<ServiceConfig> load_service_config(const YAML::Node& root, const std::string& file,
                                                 core::Diagnostics& diags);

// What readiness is judged from; the caller fills it from its state connection.
struct ReadinessInputs {
  std::optional<std::string> state_error;   // set: the state database is not writable
  std::optional<std::string> source_error;  // set: the source cannot be reached
  struct Circuit {
    std::string target;
    std::string state = "closed";  // closed | open | half_open
    std::int64_t opened_ms = 0;    // when it opened (Unix ms)
  };
  std::vector<Circuit> circuits;
  std::int64_t now_ms = 0;
};

// Checks "state_database", "source" and one "circuit:<target>" per target
// (failing once the circuit has been open or probing longer than `threshold`).
std::vector<ReadinessCheck> readiness_checks(const ReadinessInputs& in,
                                             std::chrono::milliseconds threshold);

}  // namespace reportbridge::service
