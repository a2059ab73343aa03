#pragma once
// Mappings: the analyst-edited YAML files in mappings/ that turn a submission
// into one target record per target. Compiled once at load (paths split,
// lookups loaded, transforms resolved); applying one is a pure function.
// The file format is documented in mappings/README.md.
#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge/core/diagnostics.hpp"
#include "bridge/core/record.hpp"
#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping {

struct PathSegment {
  std::string key;     // object member ("" when the segment is only an index)
  int index = kNone;   // array index, kNone, or kEach for [*]
  static constexpr int kNone = -1;
  static constexpr int kEach = -2;
};

struct FieldPath {
  std::string text;  // as written, e.g. "attachments[*].sha256"
  std::vector<PathSegment> segments;
  bool each = false;  // contains [*]: values are joined with ';'
};

// One compiled transform step: its name as the analyst wrote it (for preview
// lineage) and the function, built once at load.
struct TransformStep {
  std::string name;  // e.g. "trim", "truncate(50)", "datetime(%d/%m/%Y %H:%M)"
  std::function<functions::Result(std::string_view)> apply;
};
enum class OnTransformError { reject, empty };
enum class OnUnknownKey { use_default, reject };
enum class Overflow { truncate, reject };

struct LookupTable {
  std::string file;
  std::unordered_map<std::string, std::string> entries;
};

struct FieldPlan {
  std::string name;
  std::optional<FieldPath> from;
  std::optional<std::string> constant;
  std::optional<std::string> default_value;
  bool required = false;
  std::vector<TransformStep> transforms;
  OnTransformError on_error = OnTransformError::reject;
  std::shared_ptr<const LookupTable> lookup;
  OnUnknownKey on_unknown = OnUnknownKey::reject;
  std::string lookup_default;
  std::size_t max_length = 0;  // in characters (code points); 0: no limit
  Overflow overflow = Overflow::truncate;
  int line = 0, column = 0;
};

struct Condition {
  std::vector<std::string> kinds;       // empty: any kind
  std::vector<std::string> categories;  // empty: any category
};

struct Mapping {
  std::string name;
  std::string file;
  std::string description;
  std::vector<std::string> targets;
  Condition when;
  std::vector<FieldPlan> fields;
  bool attachments = false;  // pass the payload's attachments to the sinks
};

// Why a submission could not be mapped: names the mapping and the field.
struct MappingError {
  std::string mapping;
  std::string field;
  std::string code;    // required_missing | lookup_unknown | too_long | not_scalar | transform_failed
  std::string detail;  // never the submitted value
};

struct MapResult {
  std::optional<core::TargetRecord> record;
  std::optional<MappingError> error;
};

class MappingSet {
 public:
  // Loads and compiles every file, checking targets against `known_targets`.
  // Returns nullopt when any file had errors (all reported in `diags`).
  static std::optional<MappingSet> load(const std::vector<std::string>& files,
                                        const std::vector<std::string>& known_targets,
                                        core::Diagnostics& diags);

  const std::vector<Mapping>& mappings() const { return mappings_; }
  // Mappings whose `when` matches the submission, in file order.
  std::vector<const Mapping*> route(const boost::json::value& doc) const;
  // Column order for a target: the fields of the first mapping feeding it.
  std::vector<std::string> columns_for(const std::string& target) const;

 private:
  std::vector<Mapping> mappings_;
};

// Applies one mapping for one target. Pure.
MapResult apply(const Mapping& mapping, const std::string& target, const boost::json::value& doc,
                const std::string& submission_id, std::int64_t version);

// Compiles "a.b[0].c" / "attachments[*].sha256"; returns nullopt when malformed.
std::optional<FieldPath> parse_path(const std::string& text);

// The transform names a mapping file may use.
const std::vector<std::string>& transform_names();

// Truncates UTF-8 text to at most `max_chars` code points, never splitting one.
std::string truncate_utf8(const std::string& text, std::size_t max_chars);
std::size_t utf8_length(const std::string& text);

}  // namespace reportbridge::mapping
