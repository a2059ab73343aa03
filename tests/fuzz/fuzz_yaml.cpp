// libFuzzer: a mapping file (first byte even) or a daemon config (odd) through
// the real loaders: YAML parsing, the key specs, list checks, the mapping
// compiler (paths, transforms, RE2 patterns, lookups, signposts) and the
// dedup / health sections. The input is written to a private temp folder, as
// the loaders read files.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/json.hpp>

#include "bridge/config/daemon_config.hpp"
#include "bridge/core/bounded_read.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/service/service_config.hpp"

using namespace reportbridge;
namespace fs = std::filesystem;

namespace {

const fs::path& work_dir() {
  static const fs::path dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("rb-fuzz-yaml-" + std::to_string(::getpid()));
    fs::create_directories(d / "lookups");
    std::ofstream(d / "lookups/cats.csv") << "key,value\nnoise,ASB-NOISE\ndrugs,DRUGS\n";
    return d;
  }();
  return dir;
}

const mapping::LoadOptions& options() {
  static const mapping::LoadOptions o = [] {
    mapping::LoadOptions opts;
    opts.known_targets = {"npt_csv", "psd_csv", "rms_soap", "council_csv"};
    auto schema = core::read_bounded(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json",
                                     core::kMaxSchemaFileBytes);
    if (!schema.content) std::abort();
    opts.known_paths = mapping::schema_paths(boost::json::parse(*schema.content));
    return opts;
  }();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool config_file = (data[0] & 1) != 0;
  const fs::path file = work_dir() / (config_file ? "config.yaml" : "mapping.yaml");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  core::Diagnostics d;
  if (config_file) {
    const config::ComponentSpecs specs{
        {{"sqlite", {"sqlite source", {{"path", config::ValueKind::string, true, ""}}}}},
        {{"csv_drop", {"csv_drop target", {{"directory", config::ValueKind::string, true, ""},
                                           {"encoding", config::ValueKind::string, false, "", {"utf-8", "windows-1252"}}}}}}};
    if (auto c = config::load_daemon_config(file.string(), specs, d)) {
      (void)service::load_service_config(c->document, c->file, d);
      if (const YAML::Node n = c->document["dedup"]; n && n.IsMap()) (void)dedup::load_dedup_settings(n, c->file, d);
    }
  } else {
    (void)mapping::MappingSet::load({file.string()}, options(), d);
  }
  (void)d.to_string();
  return 0;
}
