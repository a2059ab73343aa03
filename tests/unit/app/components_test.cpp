// Sources and sinks are plug-ins (bridge/config/components.hpp): the app, the
// config loader and `check` know only the Registry and the core interfaces.
// A source type this test registers itself (no file of bridge/ or adapters/
// names it) is configured, checked and built like the built-in ones; the
// built-in list is the one in adapters/registry.cpp.
#include <catch2/catch.hpp>

#include <map>

#include "adapters/registry.hpp"
#include "adapters/sinks/csv_drop/csv_drop_plugin.hpp"
#include "bridge/app/runtime.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

// A source that lives in memory: enough to show the plug-in contract.
class MemorySource : public core::Source {
 public:
  explicit MemorySource(std::string label) : label_(std::move(label)) {}
  const std::string& name() const override { return name_; }
  std::vector<core::SourceRow> poll(const core::SourceCursor&, std::size_t) override { return {}; }
  std::int64_t backlog(const core::SourceCursor&) override { return 0; }
  void write_status(std::span<const core::StatusRef>) override {}
  std::string attachment_path(const core::AttachmentRef&) const override { return {}; }
  std::optional<core::SourceRow> latest(const std::string&) override { return std::nullopt; }
  std::optional<std::string> probe() const override { return std::nullopt; }
  std::string location() const override { return "memory:" + label_; }

 private:
  std::string name_ = "app";
  std::string label_;
};

config::SourceType memory_source_type() {
  return {"memory",
          {"memory source", {{"label", config::ValueKind::string, true, "A name for the store."}}},
          [](const config::DaemonConfig& c, core::Diagnostics&) -> std::unique_ptr<core::Source> {
            return std::make_unique<MemorySource>(config::get_string(c.source.settings, "label", ""));
          }};
}

const char* kMapping = R"(mapping: m
targets: [drop]
fields:
  - {name: Ref, from: id, required: true}
)";

std::string config_with(const std::string& source) {
  return "state: {path: state/state.db}\n" + source +
         "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
         "mappings: [m.yaml]\n"
         "targets:\n  - {name: drop, type: csv_drop, directory: out}\n";
}

}  // namespace

TEST_CASE("a source type registered outside bridge/ is configured, checked and built") {
  config::Registry registry;
  registry.add(memory_source_type());
  registry.add(csv_drop::sink_type());
  TempDir dir;
  write_file(dir / "m.yaml", kMapping);

  write_file(dir / "c.yaml", config_with("source: {type: memory, label: test, poll_interval: 2s}\n"));
  core::Diagnostics d;
  auto rt = app::load_runtime((dir / "c.yaml").string(), registry, d);
  INFO(d.to_string());
  REQUIRE(rt);
  CHECK(rt->source->location() == "memory:test");
  CHECK(rt->config.source.poll_interval == std::chrono::seconds(2));  // the common keys still apply
  REQUIRE(rt->sinks.size() == 1);
  CHECK(rt->sinks[0]->name() == "drop");

  // Its spec is enforced like a built-in one's: its required key, and no other type's keys.
  write_file(dir / "c.yaml", config_with("source: {type: memory, path: store.db}\n"));
  core::Diagnostics bad;
  CHECK_FALSE(app::load_runtime((dir / "c.yaml").string(), registry, bad));
  const auto out = bad.to_string();
  INFO(out);
  CHECK(out.find("memory source is missing required key 'label'") != std::string::npos);
  CHECK(out.find("unknown key 'path' in memory source") != std::string::npos);
}

TEST_CASE("an unknown source type is refused with the nearest registered one") {
  TempDir dir;
  write_file(dir / "m.yaml", kMapping);
  write_file(dir / "c.yaml", config_with("source: {type: sqlit, path: store.db}\n"));
  core::Diagnostics d;
  CHECK_FALSE(app::load_runtime((dir / "c.yaml").string(), d));
  const auto out = d.to_string();
  INFO(out);
  CHECK(out.find("c.yaml:2:16: error: unknown source type 'sqlit', did you mean 'sqlite'?") != std::string::npos);
  CHECK(out.find("[config.unknown_source_type]") != std::string::npos);
}

TEST_CASE("the keys of one source type are not accepted in another's section") {
  TempDir dir;
  write_file(dir / "m.yaml", kMapping);
  write_file(dir / "c.yaml", config_with("source: {type: sqlite, path: store.db, base_url: \"http://x\"}\n"));
  core::Diagnostics d;
  CHECK_FALSE(app::load_runtime((dir / "c.yaml").string(), d));
  INFO(d.to_string());
  CHECK(d.to_string().find("unknown key 'base_url' in sqlite source") != std::string::npos);
}

TEST_CASE("the built-in registry: every type once, each with a spec named after it") {
  const auto& r = adapters::builtin_components();
  std::vector<std::string> sources, sinks;
  for (const auto& s : r.sources()) {
    sources.push_back(s.type);
    CHECK(s.spec.what == s.type + " source");
    CHECK(s.create);
  }
  for (const auto& s : r.sinks()) {
    sinks.push_back(s.type);
    CHECK(s.spec.what == s.type + " target");
    CHECK(s.create);
  }
  CHECK(sources == std::vector<std::string>{"sqlite", "http"});
  CHECK(sinks == std::vector<std::string>{"csv_drop", "xml_drop", "soap"});
  // Only the CSV drop has one fixed column list (its header).
  CHECK(r.sink("csv_drop")->fixed_columns);
  CHECK_FALSE(r.sink("xml_drop")->fixed_columns);
  CHECK_FALSE(r.sink("soap")->fixed_columns);

  config::Registry twice;
  twice.add(csv_drop::sink_type());
  CHECK_THROWS_AS(twice.add(csv_drop::sink_type()), std::logic_error);
}
