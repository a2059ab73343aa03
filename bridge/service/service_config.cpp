#include "bridge/service/service_config.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <charconv>

namespace reportbridge::service {

namespace {

using config::ValueKind;

const std::vector<config::KeySpec> kTopKeys{
    {"health", ValueKind::map, false, "Health, readiness and metrics endpoints (HTTP)."},
    {"service", ValueKind::map, false, "Running under systemd: shutdown time, watchdog."}};

const config::MapSpec kHealthSpec{
    "health",
    {{"enabled", ValueKind::boolean, false, "Serve /healthz, /readyz and /metrics (default true)."},
     {"listen", ValueKind::string, false,
      "Address and port to listen on (default 127.0.0.1:9464; [::1]:9464 for IPv6). Keep it on "
      "loopback or a management network: the endpoints have no authentication."},
     {"circuit_open_threshold", ValueKind::duration, false,
      "/readyz fails once a target's circuit has been open this long (default 5m)."},
     {"max_connections", ValueKind::integer, false, "Connections served at once; more are closed (default 16)."},
     {"max_header_size", ValueKind::size, false, "Largest request header accepted (default 8KiB)."},
     {"timeout", ValueKind::duration, false, "Read and write timeout per request (default 5s)."}}};

const config::MapSpec kServiceSpec{
    "service",
    {{"shutdown_timeout", ValueKind::duration, false,
      "On SIGTERM, how long the current batch and deliveries may take to finish before the bridge "
      "exits anyway (default 30s; keep below the unit's TimeoutStopSec=60s)."},
     {"watchdog", ValueKind::boolean, false,
      "Ping systemd's watchdog when the unit sets WatchdogSec (default true)."},
     {"stall_timeout", ValueKind::duration, false,
      "With the watchdog: a loop (ingest, a target's delivery, write-back) busy this long without "
      "progress is stuck, and the pings stop so that systemd restarts the service (default 2m; keep it "
      "above the longest connect_timeout and read_timeout of the source and targets)."}}};

}  // namespace

const std::vector<config::KeySpec>& top_level_keys() { return kTopKeys; }
const config::MapSpec& health_spec() { return kHealthSpec; }
const config::MapSpec& service_spec() { return kServiceSpec; }

std::optional<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text) {
  std::string host;
  std::string port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec || port.empty()) return std::nullopt;
  unsigned value = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value > 65535) return std::nullopt;
  return std::make_pair(host, static_cast<std::uint16_t>(value));
}

std::optional<ServiceConfig> load_service_config(const YAML::Node& root, const std::string& file,
                                                 core::Diagnostics& diags) {
  ServiceConfig c;
  const std::size_t before = diags.size();
  if (auto h = root["health"]; h && h.IsMap()) {
    // The typed keys are read only from a clean map; listen is checked in any
    // case, so that every problem is reported at once.
    const bool clean = config::check_map(h, kHealthSpec, file, diags);
    auto& s = c.health;
    if (auto l = h["listen"]; l && l.IsScalar()) {
      if (auto parsed = parse_listen(l.Scalar())) {
        s.server.address = parsed->first;
        s.server.port = parsed->second;
      } else {
        auto p = config::position_of(file, l);
        diags.error(p.file, p.line, p.column,
                    "listen must be ADDRESS:PORT with a numeric IP address, e.g. 127.0.0.1:9464 or "
                    "[::1]:9464 (got '" + l.Scalar() + "')",
                    "config.bad_listen");
      }
    }
    if (clean) {
      s.enabled = config::get_bool(h, "enabled", true);
      s.circuit_open_threshold =
          config::get_duration(h, "circuit_open_threshold", s.circuit_open_threshold);
      s.server.max_connections = static_cast<std::size_t>(config::get_int(
          h, "max_connections", static_cast<std::int64_t>(s.server.max_connections), file, diags, 1));
      s.server.max_header_bytes =
          static_cast<std::size_t>(config::get_size(h, "max_header_size", s.server.max_header_bytes));
      s.server.io_timeout = config::get_duration(h, "timeout", s.server.io_timeout);
    }
  }
  if (auto sv = root["service"]; sv && sv.IsMap() && config::check_map(sv, kServiceSpec, file, diags)) {
    c.service.shutdown_timeout = config::get_duration(sv, "shutdown_timeout", c.service.shutdown_timeout);
    c.service.watchdog = config::get_bool(sv, "watchdog", true);
    c.service.stall_timeout = config::get_duration(sv, "stall_timeout", c.service.stall_timeout);
  }
  for (std::size_t i = before; i < diags.items().size(); ++i)
    if (diags.items()[i].severity == core::Severity::error) return std::nullopt;
  return c;
}

std::vector<ReadinessCheck> readiness_checks(const ReadinessInputs& in,
                                             std::chrono::milliseconds threshold) {
  std::vector<ReadinessCheck> out;
  out.push_back(in.state_error ? ReadinessCheck{"state_database", false, *in.state_error}
                               : ReadinessCheck{"state_database", true, "writable"});
  out.push_back(in.source_error ? ReadinessCheck{"source", false, *in.source_error}
                                : ReadinessCheck{"source", true, "reachable"});
  for (const auto& c : in.circuits) {
    ReadinessCheck check{"circuit:" + c.target, true, c.state};
    if (c.state != "closed") {
      const auto open_for = std::chrono::milliseconds(std::max<std::int64_t>(0, in.now_ms - c.opened_ms));
      const auto secs = [](std::chrono::milliseconds d) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
      };
      check.detail = c.state + " for " + secs(open_for) + " (threshold " + secs(threshold) + ")";
      check.ok = open_for <= threshold;
    }
    out.push_back(std::move(check));
  }
  return out;
}

}  // namespace reportbridge::service
