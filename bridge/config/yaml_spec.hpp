#pragma once
// Declared specs for YAML maps (config and mapping files) and the checks that
// walk a node tree against them, reporting *every* problem as
// `file:line:col: error: message [code]` (yaml-cpp marks are 0-based; +1 here).
//
// A spec lists each key with its type, whether it is required and what it
// means; the same table is what docs/configuration.md documents.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/diagnostics.hpp"

namespace reportbridge::config {

// List kinds and their items: `list` holds anything (a list of maps: targets,
// fields); `scalar_list` and `scalar_or_list` hold single values only, so a
// nested list or map among them (`[[npt_csv]]`) is an error at the item;
// `item_or_list` holds values or maps, never a nested list (transforms).
enum class ValueKind { string, integer, number, boolean, duration, size, list, map, scalar_or_list, any,
                       scalar_list, item_or_list };

struct KeySpec {
  std::string key;
  ValueKind kind = ValueKind::string;
  bool required = false;
  std::string description;
  std::vector<std::string> one_of;  // allowed values for strings (empty: any)
};

struct MapSpec {
  std::string what;  // e.g. "target", used in messages
  std::vector<KeySpec> keys;
};

// Where a node sits in its file.
struct Position {
  std::string file;
  int line = 0;
  int column = 0;
};
Position position_of(const std::string& file, const YAML::Node& node);

// Reports unknown keys (with a suggestion), missing required keys, values of
// the wrong kind and, in lists of values, every item that is not a single
// value (at the item). Returns false when anything was wrong.
bool check_map(const YAML::Node& node, const MapSpec& spec, const std::string& file,
               core::Diagnostics& diags);

// Loads a YAML file, reporting parse errors with their position.
std::optional<YAML::Node> load_yaml_file(const std::string& path, core::Diagnostics& diags);

// Typed readers. Call after check_map; on a bad value they add a diagnostic and
// return the fallback.
std::string get_string(const YAML::Node& map, const std::string& key, const std::string& fallback);
bool get_bool(const YAML::Node& map, const std::string& key, bool fallback);
std::int64_t get_int(const YAML::Node& map, const std::string& key, std::int64_t fallback,
                     const std::string& file, core::Diagnostics& diags, std::int64_t min_value = 0);
// "250ms", "5s", "10m", "2h", "7d"
// (check_map has already reported malformed durations and sizes.)
std::chrono::milliseconds get_duration(const YAML::Node& map, const std::string& key,
                                       std::chrono::milliseconds fallback);
std::vector<std::string> get_string_list(const YAML::Node& map, const std::string& key);
// The items of a "value or list" node: the node itself, or its elements.
std::vector<YAML::Node> items_of(const YAML::Node& node);
// Checks that every item of a value-or-list node is a single value (no nested
// list or map, no empty item), reporting each other one at its position as
// "'<what>' must list single values" [yaml.not_a_value]. The one check every
// list of names (targets, kinds, categories, `in` values, patterns) goes
// through; check_map calls it for scalar_list and scalar_or_list keys.
bool check_scalar_items(const YAML::Node& node, const std::string& what, const std::string& file,
                        core::Diagnostics& diags);

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);
// "512", "64KiB", "50MiB", "2GiB"
std::optional<std::uint64_t> parse_size(const std::string& text);
std::uint64_t get_size(const YAML::Node& map, const std::string& key, std::uint64_t fallback);

}  // namespace reportbridge::config
