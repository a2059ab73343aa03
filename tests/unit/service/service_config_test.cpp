#include "bridge/service/service_config.hpp"

#include <catch2/catch.hpp>

using namespace reportbridge;
using namespace std::chrono_literals;

namespace {

std::optional<service::ServiceConfig> load(const std::string& yaml, core::Diagnostics& diags) {
  return service::load_service_config(YAML::Load(yaml), "rb.yaml", diags);
}

}  // namespace

TEST_CASE("service config defaults when the sections are absent") {
  core::Diagnostics diags;
  auto c = load("state: {path: x}\n", diags);
  REQUIRE(c);
  CHECK(diags.empty());
  CHECK(c->health.enabled);
  CHECK(c->health.server.address == "127.0.0.1");
  CHECK(c->health.server.port == 9464);
  CHECK(c->health.server.max_connections == 16);
  CHECK(c->health.server.max_header_bytes == 8192);
  CHECK(c->health.server.io_timeout == 5s);
  CHECK(c->health.circuit_open_threshold == 5min);
  CHECK(c->service.shutdown_timeout == 30s);
  CHECK(c->service.watchdog);
}

TEST_CASE("service config reads every key") {
  core::Diagnostics diags;
  auto c = load(
      "health:\n  enabled: false\n  listen: \"[::1]:9100\"\n  circuit_open_threshold: 2m\n"
      "  max_connections: 4\n  max_header_size: 16KiB\n  timeout: 2s\n"
      "service:\n  shutdown_timeout: 45s\n  watchdog: false\n",
      diags);
  REQUIRE(c);
  CHECK(diags.empty());
  CHECK_FALSE(c->health.enabled);
  CHECK(c->health.server.address == "::1");
  CHECK(c->health.server.port == 9100);
  CHECK(c->health.circuit_open_threshold == 2min);
  CHECK(c->health.server.max_connections == 4);
  CHECK(c->health.server.max_header_bytes == 16384);
  CHECK(c->health.server.io_timeout == 2s);
  CHECK(c->service.shutdown_timeout == 45s);
  CHECK_FALSE(c->service.watchdog);
}

TEST_CASE("service config reports bad keys and values with their position") {
  core::Diagnostics diags;
  auto c = load("health:\n  listen: localhost:9464\n  max_connection: 3\nservice:\n  shutdown_timeout: soon\n", diags);
  CHECK_FALSE(c);
  const auto text = diags.to_string();
  CHECK(text.find("rb.yaml:2:11: error: listen must be ADDRESS:PORT") != std::string::npos);
  CHECK(text.find("[config.bad_listen]") != std::string::npos);
  CHECK(text.find("rb.yaml:3:3:") != std::string::npos);  // unknown key, with a suggestion
  CHECK(text.find("max_connections") != std::string::npos);
  CHECK(text.find("rb.yaml:5:21:") != std::string::npos);  // malformed duration
}

TEST_CASE("a health endpoint on a non-loopback address is a warning at check") {
  for (const char* listen : {"0.0.0.0:9464", "\"[::]:9464\"", "10.1.2.3:9464"}) {
    core::Diagnostics diags;
    auto c = load(std::string("health:\n  listen: ") + listen + "\n", diags);
    INFO(listen);
    REQUIRE(c);  // a warning, not an error
    CHECK_THAT(diags.to_string(), Catch::Contains("rb.yaml:2:11: warning: health listens on") &&
                                      Catch::Contains("not a loopback address") &&
                                      Catch::Contains("[config.health_exposed]"));
  }
  for (const char* listen : {"127.0.0.1:9464", "\"[::1]:9464\"", "127.0.0.53:9100"}) {
    core::Diagnostics diags;
    auto c = load(std::string("health:\n  listen: ") + listen + "\n", diags);
    REQUIRE(c);
    CHECK(diags.empty());
  }
  core::Diagnostics off;
  REQUIRE(load("health:\n  enabled: false\n  listen: 0.0.0.0:9464\n", off));
  CHECK(off.empty());
}

TEST_CASE("listen addresses parse strictly") {
  using P = std::pair<std::string, std::uint16_t>;
  CHECK(service::parse_listen("127.0.0.1:9464") == P{"127.0.0.1", 9464});
  CHECK(service::parse_listen("0.0.0.0:0") == P{"0.0.0.0", 0});
  CHECK(service::parse_listen("[::1]:80") == P{"::1", 80});
  CHECK_FALSE(service::parse_listen("127.0.0.1"));
  CHECK_FALSE(service::parse_listen("127.0.0.1:"));
  CHECK_FALSE(service::parse_listen("127.0.0.1:65536"));
  CHECK_FALSE(service::parse_listen("127.0.0.1:94x"));
  CHECK_FALSE(service::parse_listen("::1:80"));
  CHECK_FALSE(service::parse_listen("[::1]80"));
  CHECK_FALSE(service::parse_listen("host.example:80"));
}

TEST_CASE("the top-level keys and specs are documented") {
  REQUIRE(service::top_level_keys().size() == 2);
  CHECK(service::top_level_keys()[0].key == "health");
  CHECK(service::top_level_keys()[1].key == "service");
  for (const auto* spec : {&service::health_spec(), &service::service_spec()})
    for (const auto& k : spec->keys) CHECK_FALSE(k.description.empty());
}

TEST_CASE("readiness checks: state, source and circuits open past the threshold") {
  service::ReadinessInputs in;
  in.now_ms = 1'000'000;
  in.circuits = {{"npt", "closed", 0}, {"psd", "open", 1'000'000 - 60'000}, {"soap", "half_open", 1'000'000 - 600'000}};
  auto checks = service::readiness_checks(in, 5min);
  REQUIRE(checks.size() == 5);
  CHECK(checks[0].name == "state_database");
  CHECK(checks[0].ok);
  CHECK(checks[1].name == "source");
  CHECK(checks[1].ok);
  CHECK(checks[2].name == "circuit:npt");
  CHECK(checks[2].ok);
  CHECK(checks[3].name == "circuit:psd");
  CHECK(checks[3].ok);  // open for 60 s, within 5 min
  CHECK(checks[3].detail == "open for 60s (threshold 300s)");
  CHECK(checks[4].name == "circuit:soap");
  CHECK_FALSE(checks[4].ok);
  CHECK(checks[4].detail == "half_open for 600s (threshold 300s)");

  in.state_error = "read-only file system";
  in.source_error = "connection refused";
  checks = service::readiness_checks(in, 5min);
  CHECK_FALSE(checks[0].ok);
  CHECK(checks[0].detail == "read-only file system");
  CHECK_FALSE(checks[1].ok);
  CHECK(checks[1].detail == "connection refused");
}
