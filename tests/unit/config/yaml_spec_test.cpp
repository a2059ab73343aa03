#include <catch2/catch.hpp>

#include "bridge/config/daemon_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace std::chrono_literals;

TEST_CASE("durations and sizes parse in the documented units only") {
  CHECK(config::parse_duration("250ms") == 250ms);
  CHECK(config::parse_duration("5s") == 5s);
  CHECK(config::parse_duration("10m") == 10min);
  CHECK(config::parse_duration("2h") == 2h);
  CHECK(config::parse_duration("7d") == std::chrono::hours(168));
  CHECK_FALSE(config::parse_duration("5"));
  CHECK_FALSE(config::parse_duration("s"));
  CHECK_FALSE(config::parse_duration("5 s"));
  CHECK_FALSE(config::parse_duration("-5s"));
  CHECK(config::parse_size("512") == 512u);
  CHECK(config::parse_size("64KiB") == 65536u);
  CHECK(config::parse_size("50MiB") == 50u << 20);
  CHECK(config::parse_size("2GiB") == 2ull << 30);
  CHECK_FALSE(config::parse_size("2GB"));
  CHECK_FALSE(config::parse_size("lots"));
}

TEST_CASE("a valid config loads with paths resolved against its folder") {
  reportbridge::testing::TempDir dir;
  reportbridge::testing::write_file(dir / "etc/c.yaml",
                                    "state: {path: ../var/state.db}\n"
                                    "source: {type: sqlite, path: /srv/app/store.db, poll_interval: 250ms,"
                                    " batch_size: 50, late_row_window: 1h}\n"
                                    "mappings: [m.yaml]\n"
                                    "targets:\n  - {name: t, type: csv_drop, directory: out,"
                                    " retry: {max_attempts: 4, base: 2s, cap: 1m}, writeback: {message: hi, reference: true}}\n"
                                    "writeback: {enabled: false}\n");
  core::Diagnostics d;
  const config::ComponentSpecs specs{
      {{"sqlite", {"sqlite source", {{"path", config::ValueKind::string, true, ""}}}}},
      {{"csv_drop", {"csv_drop target", {{"directory", config::ValueKind::string, true, ""}}}}}};
  auto c = config::load_daemon_config((dir / "etc/c.yaml").string(), specs, d);
  INFO(d.to_string());
  REQUIRE(c);
  CHECK(c->state_path == (dir / "var/state.db").lexically_normal());
  CHECK(c->source.type == "sqlite");
  CHECK(config::get_string(c->source.settings, "path", "") == "/srv/app/store.db");  // read by the source's factory
  CHECK(c->source.poll_interval == 250ms);
  CHECK(c->source.batch_size == 50);
  CHECK(c->source.late_row_window == 1h);
  CHECK(c->mapping_files == std::vector<std::string>{(dir / "etc/m.yaml").string()});
  REQUIRE(c->targets.size() == 1);
  CHECK(c->targets[0].retry.max_attempts == 4);
  CHECK(c->targets[0].retry.base == 2s);
  CHECK(c->targets[0].writeback.include_reference);
  CHECK_FALSE(c->writeback_enabled);
}

TEST_CASE("missing required keys, wrong kinds and duplicates are all reported") {
  reportbridge::testing::TempDir dir;
  reportbridge::testing::write_file(dir / "c.yaml",
                                    "source: {type: sqlite}\nmappings: m.yaml\n"
                                    "targets:\n  - {name: t, type: csv_drop, directory: a}\n"
                                    "  - {name: t, type: csv_drop, directory: b}\n");
  core::Diagnostics d;
  const config::ComponentSpecs specs{
      {{"sqlite", {"sqlite source", {{"path", config::ValueKind::string, true, ""}}}}},
      {{"csv_drop", {"csv_drop target", {{"directory", config::ValueKind::string, true, ""}}}}}};
  CHECK_FALSE(config::load_daemon_config((dir / "c.yaml").string(), specs, d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find("c.yaml:1:1: error: config is missing required key 'state'") != std::string::npos);
  CHECK(out.find("c.yaml:1:9: error: sqlite source is missing required key 'path'") != std::string::npos);
  CHECK(out.find("c.yaml:2:11: error: 'mappings' must be a list") != std::string::npos);
  CHECK(out.find("target name 't' is used twice") != std::string::npos);
}
