#pragma once
// Mappings: the analyst-edited YAML files in mappings/ that turn a submission
// into one target record per target. Compiled once at load (paths split,
// lookups loaded, transforms, templates, regexes and keys resolved); applying
// one is a pure function. The file format is documented in mappings/README.md.
//
// Privacy is enforced here, not left to each mapping: a field that reads the
// reporter's name, email or phone (or is marked `contact: true`) is withheld
// unless the reporter is identified and agreed to be contacted, and a partner
// target receives nothing without consent.share_with_partners.
#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge/core/diagnostics.hpp"
#include "bridge/core/record.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/mapping/functions/result.hpp"

namespace re2 {
class RE2;
}

namespace reportbridge::mapping {

namespace functions {
class Template;
class BngFromWgs84;
}  // namespace functions

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
  std::unordered_map<std::string, int> lines;  // key -> its row's line in the file
};

// `template: "{summary} ({category})"`: placeholders are paths, resolved at load.
struct TemplateSource {
  std::string text;
  std::shared_ptr<const functions::Template> compiled;
  std::vector<FieldPath> paths;  // one per placeholder, in Template::placeholders() order
};

// `bng: {part: easting, lat: location.lat, lon: location.lon}`.
struct BngSource {
  bool easting = true;  // false: northing
  FieldPath lat, lon;
  std::shared_ptr<const functions::BngFromWgs84> converter;  // shared by the whole set
};

// `from: bridge.NAME`: a value the bridge itself knows, transformed like any
// other source. external_reference, submission_id, version and
// attachment_count are known when the submission is mapped; related_reference
// once deduplication has judged it (ingest fills it); legacy_reference (the
// reference the target issued for the earlier version) only when an update is
// sent: the sink resolves it then (core::DeferredField).
enum class BridgeSource { external_reference, submission_id, version, attachment_count, related_reference, legacy_reference };
// The names, in the order above ("external_reference", ...).
const std::vector<std::string>& bridge_source_names();
const char* bridge_source_name(BridgeSource source);
// Known only after mapping (related_reference, legacy_reference).
bool is_deferred(BridgeSource source);

// The deferred bridge values, when they are known.
struct BridgeValues {
  std::optional<std::string> related_reference;
  std::optional<std::string> legacy_reference;
};

struct FieldPlan {
  std::string name;
  std::optional<FieldPath> from;
  // `from: [occurred.start, submitted_at]`: the first of these giving a
  // non-empty value (then `from` is unset).
  std::vector<FieldPath> from_any;
  std::optional<std::string> constant;
  // `sequence: store`: the submission's seq in the app's store (decimal).
  bool store_sequence = false;
  std::optional<BridgeSource> bridge;  // `from: bridge.NAME`
  std::optional<TemplateSource> templ;
  std::optional<BngSource> bng;
  std::optional<std::string> default_value;
  bool required = false;
  bool contact = false;  // contact details: withheld unless the reporter may be contacted
  std::vector<TransformStep> transforms;
  OnTransformError on_error = OnTransformError::reject;
  std::shared_ptr<const LookupTable> lookup;
  OnUnknownKey on_unknown = OnUnknownKey::reject;
  std::string lookup_default;
  std::size_t max_length = 0;  // in characters (code points); 0: no limit
  Overflow overflow = Overflow::truncate;
  int line = 0, column = 0;
};

// `when: {where: [{path: location.postcode, regex: "^TS"}]}`: one field test.
struct Predicate {
  enum class Op { equals, in, regex, exists };
  FieldPath path;
  Op op = Op::exists;
  std::vector<std::string> values;        // equals (one) / in
  std::shared_ptr<const re2::RE2> regex;  // regex
  bool exists = true;                     // exists: true / false
  bool negate = false;                    // not: true
};

struct Condition {
  std::vector<std::string> kinds;       // empty: any kind
  std::vector<std::string> categories;  // empty: any category
  std::vector<Predicate> where;         // all must hold
  std::optional<bool> needs_review;     // true: only signposted; false: only not signposted
};

// operation (create, update, lookup) -> (field name, path in its input; "": not sent)
using OperationFields = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;

struct Mapping {
  std::string name;
  std::string file;
  std::string description;
  std::vector<std::string> targets;
  std::vector<std::string> partner_targets;  // subset of targets; gated by consent
  Condition when;
  std::vector<FieldPlan> fields;
  bool attachments = false;  // pass the payload's attachments to the sinks
  // `operations:` (SOAP targets from a WSDL): per operation (create, update,
  // lookup), field name -> path in that operation's input ("": not sent).
  OperationFields operations;
  // Indices in `fields` of those `from: bridge.related_reference` (filled at
  // ingest once deduplication has judged the submission), found at load.
  std::vector<std::size_t> related_fields;
};

// A signposting rule: text patterns that mark a submission needs_review.
struct SignpostRule {
  std::string name;
  std::string file;
  int line = 0, column = 0;
  std::vector<FieldPath> fields;          // default: summary, description
  std::shared_ptr<const re2::RE2> regex;  // the rule's patterns, combined
  std::string review_target;
  std::string message;
};

// What signpost() found: the status is needs_review, the submission goes to
// `review_target`, and `message` is the status text for the resident.
struct Signpost {
  std::string rule;
  std::string review_target;
  std::string message;
};

// The resident message a rule gets when it states none.
extern const char* const kDefaultSignpostMessage;

// Why a submission could not be mapped: names the mapping, the rule (the step
// of the field that failed) and the field.
struct MappingError {
  std::string mapping;
  std::string field;
  std::string code;    // required_missing | lookup_unknown | too_long | not_scalar |
                       // transform_failed | partner_consent
  std::string detail;  // never the submitted value
  std::string rule;    // e.g. "transforms[2] postcode", "lookup", "required", "max_length", "bng"
};
// "mapping 'm' field 'F' rule 'lookup': code: detail"
std::string to_string(const MappingError& error);

struct MapResult {
  std::optional<core::TargetRecord> record;
  std::optional<MappingError> error;
};

// One (mapping, target) pair a submission goes to.
struct Route {
  const Mapping* mapping = nullptr;
  std::string target;
};

// Everything routing decided for one submission.
struct RoutePlan {
  std::vector<Route> routes;            // deliver each of these
  std::vector<Route> withheld;          // partner targets, no consent: not delivered
  std::optional<Signpost> signpost;     // set: status needs_review with its message
};

struct LoadOptions {
  std::vector<std::string> known_targets;
  // Paths a submission can have (see schema_paths); empty: paths not checked.
  std::vector<std::string> known_paths;
  // Target -> its field names (e.g. from an XSD); targets not listed are not checked.
  std::map<std::string, std::vector<std::string>> target_fields;
  // Target -> a check of one field name (e.g. an XML path resolved against the
  // target's schema): nullopt when the target takes it, else why. Used instead
  // of target_fields for the targets it lists.
  std::map<std::string, std::function<std::optional<std::string>(const std::string&)>> target_field_checks;
  // Target -> a check of one path of a mapping's `operations:` section
  // (operation, path): nullopt when that operation's input has it, else why.
  // Targets not listed take no `operations:`.
  std::map<std::string, std::function<std::optional<std::string>(const std::string&, const std::string&)>>
      target_operation_checks;
  // Target -> a check of a fixed value for one field (field, value): nullopt
  // when the target accepts it, else why. The loader runs it on the values it
  // can see: `value:` (no transforms, no lookup), `default:` (no lookup) and
  // every value of a `lookup:` table (and its `default`).
  std::map<std::string, std::function<std::optional<std::string>(const std::string&, const std::string&)>>
      target_value_checks;
  // The targets that send a later version as an update of the record the
  // earlier one created (SOAP from a WSDL): only they take
  // `from: bridge.legacy_reference`. nullopt: not checked.
  std::optional<std::set<std::string>> reference_targets;
};

class MappingSet {
 public:
  // Loads and compiles every file (mapping files, and signposting files whose
  // top key is `signposts`), checking targets against `known_targets`.
  // Returns nullopt when any file had errors (all reported in `diags`).
  static std::optional<MappingSet> load(const std::vector<std::string>& files,
                                        const std::vector<std::string>& known_targets,
                                        core::Diagnostics& diags);
  static std::optional<MappingSet> load(const std::vector<std::string>& files,
                                        const LoadOptions& options, core::Diagnostics& diags);

  const std::vector<Mapping>& mappings() const { return mappings_; }
  const std::vector<SignpostRule>& signpost_rules() const { return signposts_; }
  // Mappings whose `when` matches the submission, in file order.
  std::vector<const Mapping*> route(const boost::json::value& doc) const;
  // The (mapping, target) pairs to deliver, with partner targets gated by
  // consent and the signpost evaluated once. What the pipeline should use.
  RoutePlan plan(const boost::json::value& doc) const;
  // The first signposting rule (in file order) whose patterns match.
  std::optional<Signpost> signpost(const boost::json::value& doc) const;
  // True when some mapping declares `target` a partner target.
  bool is_partner(const std::string& target) const;
  // Column order for a target: the fields of the first mapping feeding it.
  std::vector<std::string> columns_for(const std::string& target) const;
  // Mapping name -> its `operations:` section, for the mappings feeding `target`
  // that have one.
  std::map<std::string, OperationFields> operations_for(const std::string& target) const;
  // Mapping name -> its fields `from: bridge.legacy_reference`, for the
  // mappings feeding `target`: each resolves through the field's rules (the
  // resolver holds its own copy of the mapping).
  core::DeferredFields deferred_for(const std::string& target) const;

 private:
  std::vector<Mapping> mappings_;
  std::vector<SignpostRule> signposts_;
  bool uses_review_ = false;  // some `when` has needs_review
};

// Applies one mapping for one target. Pure. Contact fields are withheld unless
// the reporter may be contacted; a partner target without consent fails with
// `partner_consent` (use MappingSet::plan to skip it instead).
// `seq`: the row's sequence number in the app's store (`sequence: store`;
// 0 where there is no row, e.g. `preview --input`).
MapResult apply(const Mapping& mapping, const std::string& target, const boost::json::value& doc,
                const std::string& submission_id, std::int64_t version, std::int64_t seq = 0);

// As apply, but the record is written into `into` (a record kept by the caller
// from one submission to the next: its strings' and fields' room is reused,
// so mapping a submission allocates only for the values). Returns the error,
// if any; on one, `into` holds a partial record.
std::optional<MappingError> apply_into(const Mapping& mapping, const std::string& target,
                                       const boost::json::value& doc, const std::string& submission_id,
                                       std::int64_t version, std::int64_t seq, core::TargetRecord& into);

// Where one output value came from, step by step, for `preview`.
struct LineageStep {
  std::string what;                  // "from location.postcode", "trim", "lookup npt_categories.csv"
  std::optional<std::string> value;  // the value after this step
};
struct FieldLineage {
  std::string field;
  std::vector<LineageStep> steps;
  std::optional<std::string> value;  // final
  std::string note;                  // e.g. "withheld: contact details (reporter is anonymous)"
};
struct TracedResult {
  MapResult result;
  std::vector<FieldLineage> lineage;  // the fields handled, up to a failure
};
TracedResult apply_traced(const Mapping& mapping, const std::string& target,
                          const boost::json::value& doc, const std::string& submission_id,
                          std::int64_t version, std::int64_t seq = 0);
// One field `from: bridge.related_reference` or `bridge.legacy_reference`
// of `mapping`, given the value: the field's transforms, default, required,
// lookup and max_length applied, as apply does for the others (a field with
// another source is left as it is: the result holds no record).
MapResult apply_deferred(const Mapping& mapping, const FieldPlan& field, const std::string& target,
                         const std::string& submission_id, std::int64_t version, const BridgeValues& values);

// The text `reportbridge preview` prints for one mapping and target: each
// field with its value and lineage, the attachments, or the failure.
std::string format_lineage(const TracedResult& traced);
// The text for a routing plan: the signpost and withheld partner targets.
std::string format_plan(const RoutePlan& plan);

// Every property path a JSON Schema (as used by schemas/submission.schema.json:
// `properties`, `items`) describes, e.g. "location", "location.lat",
// "attachments", "attachments[*].sha256". Sorted.
std::vector<std::string> schema_paths(const boost::json::value& schema);

// Compiles "a.b[0].c" / "attachments[*].sha256"; returns nullopt when malformed.
std::optional<FieldPath> parse_path(const std::string& text);
// The path with every index written [*]: the form schema_paths lists.
std::string generic_path(const FieldPath& path);

// The transform names a mapping file may use.
const std::vector<std::string>& transform_names();
// Paths whose values are contact details: fields reading them are contact fields.
const std::vector<std::string>& contact_paths();

// Truncates UTF-8 text to at most `max_chars` code points, never splitting one.
std::string truncate_utf8(const std::string& text, std::size_t max_chars);
std::size_t utf8_length(const std::string& text);

}  // namespace reportbridge::mapping
