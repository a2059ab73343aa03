#include "bridge/mapping/mapping.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "bridge/config/yaml_spec.hpp"
#include "bridge/core/bounded_read.hpp"
#include "bridge/mapping/functions/functions.hpp"
#include "bridge/mapping/functions/short_id.hpp"

namespace reportbridge::mapping {

using config::KeySpec;
using config::MapSpec;
using config::ValueKind;

const char* const kDefaultSignpostMessage =
    "Thank you. Your report will be reviewed by our staff. This app is not for emergencies: if a "
    "life is at risk or a crime is happening now, call 999. For anything else that needs the "
    "police, call 101.";

namespace {

const MapSpec kMappingSpec{
    "mapping",
    {{"mapping", ValueKind::string, true, "Name of the mapping, unique across files."},
     {"description", ValueKind::string, false, "What this mapping is for."},
     {"targets", ValueKind::scalar_or_list, true, "Target names this mapping feeds."},
     {"partner_targets", ValueKind::scalar_or_list, false,
      "Targets (among `targets`) outside the force: they receive a submission only with consent.share_with_partners."},
     {"when", ValueKind::map, false, "Which submissions it applies to (kind, category, where, needs_review)."},
     {"attachments", ValueKind::boolean, false, "Pass the submission's attachments to the targets."},
     {"fields", ValueKind::list, true, "The target record's fields, in output order."},
     {"signposts", ValueKind::list, false, "Signposting rules (see mappings/README.md)."},
     {"operations", ValueKind::map, false,
      "SOAP targets from a WSDL: per operation (create, update, lookup), field name -> path in that operation's input (\"\": not sent)."}}};

const MapSpec kSignpostFileSpec{
    "signposting file",
    {{"description", ValueKind::string, false, "What these rules are for."},
     {"signposts", ValueKind::list, true, "Signposting rules, tried in order."}}};

const MapSpec kSignpostSpec{
    "signpost",
    {{"rule", ValueKind::string, true, "Name of the rule, unique across files."},
     {"description", ValueKind::string, false, "What the rule looks for."},
     {"fields", ValueKind::scalar_or_list, false, "Text paths searched (default: summary, description)."},
     {"patterns", ValueKind::scalar_or_list, true, "RE2 patterns; any match marks the submission needs_review."},
     {"review_target", ValueKind::string, true, "Target a marked submission must reach."},
     {"message", ValueKind::string, false, "Status text for the resident (must mention 999 and 101)."}}};

const MapSpec kWhenSpec{
    "when",
    {{"kind", ValueKind::scalar_or_list, false, "Kinds this mapping takes."},
     {"category", ValueKind::scalar_or_list, false, "Categories it takes."},
     {"where", ValueKind::list, false, "Tests on fields; all must hold."},
     {"needs_review", ValueKind::boolean, false, "true: only signposted submissions; false: only the others."}}};

const MapSpec kPredicateSpec{
    "where test",
    {{"path", ValueKind::string, true, "Path into the submission."},
     {"equals", ValueKind::string, false, "The value equals this text."},
     {"in", ValueKind::scalar_list, false, "The value is one of these."},
     {"regex", ValueKind::string, false, "The value matches this RE2 pattern (anywhere)."},
     {"exists", ValueKind::boolean, false, "true: the path has a non-null value; false: it has none."},
     {"not", ValueKind::boolean, false, "true: the test must fail instead."}}};

// Transforms taking no options are written as a bare name; the others as a
// one-key map: `{truncate: 50}`, `{regex_replace: {pattern: ..., with: ...}}`.
const std::vector<std::string> kTransformNames{
    "trim",        "collapse_whitespace", "uppercase",     "lowercase",   "titlecase",
    "normalise_nfc", "postcode",          "phone_e164",    "phone_national", "truncate",
    "regex_replace", "regex_extract",     "datetime",      "number",      "pseudonymise",
    "short_id"};

const std::vector<std::string> kContactPaths{"reporter.email", "reporter.name", "reporter.phone"};

const MapSpec kFieldSpec{
    "field",
    {{"name", ValueKind::string, true, "Target field (CSV column, XML element)."},
     {"from", ValueKind::scalar_or_list, false, "Path into the submission, e.g. location.postcode; a list: the first non-empty."},
     {"sequence", ValueKind::string, false, "store: the submission's sequence number in the app's store.", {"store"}},
     {"value", ValueKind::string, false, "A constant value."},
     {"template", ValueKind::string, false, "Text with {path} placeholders, e.g. \"{summary} ({category})\"."},
     {"bng", ValueKind::any, false, "British National Grid easting or northing from WGS84 lat/lon."},
     {"default", ValueKind::string, false, "Used when the source gives nothing."},
     {"required", ValueKind::boolean, false, "Quarantine the submission when the value is empty."},
     {"contact", ValueKind::boolean, false, "true: contact details, withheld unless the reporter may be contacted."},
     {"transforms", ValueKind::item_or_list, false, "Applied in order; see mappings/README.md for the list."},
     {"on_error", ValueKind::string, false, "When a transform fails: reject (default: quarantine) or empty.", {"reject", "empty"}},
     {"lookup", ValueKind::map, false, "Translate the value through a CSV table."},
     {"max_length", ValueKind::integer, false, "Maximum length in characters."},
     {"overflow", ValueKind::string, false, "truncate (default) or reject.", {"truncate", "reject"}}}};

const MapSpec kBngSpec{
    "bng",
    {{"part", ValueKind::string, true, "easting or northing.", {"easting", "northing"}},
     {"lat", ValueKind::string, false, "Latitude path (default location.lat)."},
     {"lon", ValueKind::string, false, "Longitude path (default location.lon)."}}};

const MapSpec kLookupSpec{
    "lookup",
    {{"table", ValueKind::string, true, "CSV file with a key,value header, relative to the mapping."},
     {"unknown", ValueKind::string, false, "reject (default) or default.", {"reject", "default"}},
     {"default", ValueKind::string, false, "Value for keys not in the table (with unknown: default)."}}};

// Reads a two-column CSV (RFC 4180 quoting) with a header row.
std::shared_ptr<LookupTable> load_lookup(const std::string& path, const config::Position& ref,
                                         core::Diagnostics& diags) {
  const core::BoundedRead file = core::read_bounded(path, core::kMaxLookupFileBytes);
  if (file.too_large) {
    diags.error(ref.file, ref.line, ref.column,
                "lookup table '" + path + "' is larger than " + core::size_text(core::kMaxLookupFileBytes),
                "mapping.lookup_too_large");
    return nullptr;
  }
  if (!file.content) {
    diags.error(ref.file, ref.line, ref.column, "lookup table '" + path + "' not found",
                "mapping.lookup_missing");
    return nullptr;
  }
  auto table = std::make_shared<LookupTable>();
  table->file = path;
  const std::string& content = *file.content;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  int line = 1, row_line = 1;
  bool header_done = false;
  std::unordered_map<std::string, int> first_line;
  auto finish_row = [&]() {
    row.push_back(cell);
    cell.clear();
    if (row.size() == 1 && row[0].empty()) {
      row.clear();
      return;
    }
    if (!header_done) {
      header_done = true;
      if (row.size() < 2) diags.error(path, row_line, 1, "lookup header needs two columns: key,value", "lookup.bad_header");
    } else if (row.size() < 2) {
      diags.error(path, row_line, 1, "row needs a key and a value", "lookup.bad_row");
    } else if (auto [it, fresh] = first_line.emplace(row[0], row_line); !fresh) {
      diags.error(path, row_line, 1,
                  "duplicate key '" + row[0] + "' (first on line " + std::to_string(it->second) + ")",
                  "lookup.duplicate_key");
    } else {
      table->entries.emplace(row[0], row[1]);
      table->lines.emplace(row[0], row_line);
    }
    row.clear();
  };
  for (std::size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < content.size() && content[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(cell);
      cell.clear();
    } else if (c == '\r') {
      continue;
    } else if (c == '\n') {
      finish_row();
      ++line;
      row_line = line;
    } else {
      cell += c;
    }
  }
  if (!cell.empty() || !row.empty()) finish_row();
  return table;
}

namespace fn = functions;

std::string scalar_arg(const YAML::Node& args, const char* key) {
  auto v = args[key];
  if (!v || !v.IsScalar()) throw std::invalid_argument(std::string("needs '") + key + "'");
  return v.Scalar();
}

fn::ValueKind pseudonymise_kind(const YAML::Node& args) {
  if (!args["kind"]) return fn::ValueKind::text;
  const auto k = scalar_arg(args, "kind");
  if (k == "text") return fn::ValueKind::text;
  if (k == "email") return fn::ValueKind::email;
  if (k == "phone") return fn::ValueKind::phone;
  if (k == "raw") return fn::ValueKind::raw;
  throw std::invalid_argument("kind must be text, email, phone or raw");
}

// Builds one transform step from `name` and its options (a scalar or a map);
// `base` is the mapping file's folder (key files are relative to it).
// Throws std::invalid_argument with a message for the analyst.
TransformStep compile_transform(const std::string& name, const YAML::Node& args,
                                const std::filesystem::path& base) {
  const bool has_args = args.IsDefined() && !args.IsNull();
  auto no_args = [&](auto f) {
    if (has_args) throw std::invalid_argument("takes no options");
    return TransformStep{name, f};
  };
  if (name == "trim") return no_args(fn::trim);
  if (name == "collapse_whitespace") return no_args(fn::collapse_whitespace);
  if (name == "uppercase") return no_args(fn::upper);
  if (name == "lowercase") return no_args(fn::lower);
  if (name == "titlecase") return no_args(fn::title);
  if (name == "normalise_nfc") return no_args(fn::normalise_nfc);
  if (name == "postcode") return no_args(fn::normalise_postcode);
  if (name == "phone_e164") return no_args(fn::phone_e164);
  if (name == "phone_national") return no_args(fn::phone_national);
  if (!has_args) throw std::invalid_argument("needs options, e.g. {" + name + ": ...}");
  if (name == "truncate") {
    if (!args.IsScalar()) throw std::invalid_argument("expects a number of characters");
    auto n = std::stoul(args.Scalar());
    auto t = std::make_shared<fn::Truncate>(n);
    return {"truncate(" + args.Scalar() + ")", [t](std::string_view v) { return (*t)(v); }};
  }
  if (name == "short_id") {
    if (!args.IsScalar()) throw std::invalid_argument("expects a length, e.g. {short_id: 10}");
    std::size_t n = 0;
    try {
      std::size_t used = 0;
      n = std::stoul(args.Scalar(), &used);
      if (used != args.Scalar().size()) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw std::invalid_argument("expects a length, e.g. {short_id: 10}");
    }
    auto t = std::make_shared<fn::ShortId>(n);
    return {"short_id(" + args.Scalar() + ")", [t](std::string_view v) { return (*t)(v); }};
  }
  if (!args.IsMap()) throw std::invalid_argument("expects a map of options");
  if (name == "regex_replace") {
    auto r = std::make_shared<fn::RegexReplace>(scalar_arg(args, "pattern"), scalar_arg(args, "with"));
    return {"regex_replace(" + scalar_arg(args, "pattern") + ")", [r](std::string_view v) { return (*r)(v); }};
  }
  if (name == "regex_extract") {
    int group = args["group"] ? std::stoi(args["group"].Scalar()) : 0;
    auto r = std::make_shared<fn::RegexExtract>(scalar_arg(args, "pattern"), group);
    return {"regex_extract(" + scalar_arg(args, "pattern") + ")", [r](std::string_view v) { return (*r)(v); }};
  }
  if (name == "datetime") {
    fn::DateTimeOptions o;
    o.output_format = scalar_arg(args, "format");
    if (args["zone"]) o.to_zone = scalar_arg(args, "zone");
    if (args["input"]) o.input_format = scalar_arg(args, "input");
    auto d = std::make_shared<fn::DateTimeFormat>(o);
    return {"datetime(" + o.output_format + ", " + o.to_zone + ")", [d](std::string_view v) { return (*d)(v); }};
  }
  if (name == "number") {
    int decimals = args["decimals"] ? std::stoi(args["decimals"].Scalar()) : 0;
    std::string thousands = args["thousands"] ? args["thousands"].Scalar() : "";
    auto f = std::make_shared<fn::NumberFormat>(decimals, thousands);
    return {"number(" + std::to_string(decimals) + ")", [f](std::string_view v) { return (*f)(v); }};
  }
  if (name == "pseudonymise") {
    const auto key_file = base / scalar_arg(args, "key_file");
    const auto purpose = scalar_arg(args, "purpose");
    const auto kind = pseudonymise_kind(args);
    if (purpose.empty()) throw std::invalid_argument("needs a non-empty 'purpose'");
    auto p = std::make_shared<fn::Pseudonymiser>(fn::Pseudonymiser::from_key_file(key_file));
    return {"pseudonymise(" + purpose + ")",
            [p, purpose, kind](std::string_view v) { return p->pseudonymise(v, purpose, kind); }};
  }
  throw std::invalid_argument("is not a transform");
}

// The set of names a list/scalar node holds, for `in`.
std::vector<std::string> scalars_of(const YAML::Node& n) {
  std::vector<std::string> out;
  for (const auto& i : config::items_of(n))
    if (i.IsScalar()) out.push_back(i.Scalar());
  return out;
}

// Compiles an RE2 pattern or returns nullptr with RE2's error in `error`.
std::shared_ptr<const re2::RE2> compile_regex(const std::string& pattern, std::string& error) {
  RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_shared<re2::RE2>(pattern, o);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return re;
}

}  // namespace

const std::vector<std::string>& transform_names() { return kTransformNames; }

const std::vector<std::string>& bridge_source_names() {
  static const std::vector<std::string> names{"external_reference", "submission_id",     "version",
                                              "attachment_count",   "related_reference", "legacy_reference"};
  return names;
}
const char* bridge_source_name(BridgeSource source) {
  return bridge_source_names()[static_cast<std::size_t>(source)].c_str();
}
bool is_deferred(BridgeSource source) {
  return source == BridgeSource::related_reference || source == BridgeSource::legacy_reference;
}
const std::vector<std::string>& contact_paths() { return kContactPaths; }

std::string generic_path(const FieldPath& path) {
  std::string out;
  for (const auto& s : path.segments) {
    if (!s.key.empty()) {
      if (!out.empty()) out += '.';
      out += s.key;
    }
    if (s.index != PathSegment::kNone) out += "[*]";
  }
  return out;
}

std::optional<FieldPath> parse_path(const std::string& text) {
  if (text.empty()) return std::nullopt;
  FieldPath p;
  p.text = text;
  std::size_t i = 0;
  while (i < text.size()) {
    PathSegment seg;
    std::size_t start = i;
    while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
    seg.key = text.substr(start, i - start);
    for (char c : seg.key)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return std::nullopt;
    if (i < text.size() && text[i] == '[') {
      std::size_t close = text.find(']', i);
      if (close == std::string::npos) return std::nullopt;
      std::string idx = text.substr(i + 1, close - i - 1);
      if (idx == "*") {
        seg.index = PathSegment::kEach;
        p.each = true;
      } else {
        if (idx.empty() || idx.size() > 6 || !std::all_of(idx.begin(), idx.end(), ::isdigit)) return std::nullopt;
        seg.index = std::stoi(idx);
      }
      i = close + 1;
    }
    if (seg.key.empty() && seg.index == PathSegment::kNone) return std::nullopt;
    p.segments.push_back(std::move(seg));
    if (i < text.size()) {
      if (text[i] != '.') return std::nullopt;
      ++i;
      if (i == text.size()) return std::nullopt;
    }
  }
  return p;
}

std::size_t utf8_length(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string truncate_utf8(const std::string& text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return text.substr(0, i);
      ++chars;
    }
  }
  return text;
}


namespace {

// Loads one set of files; every problem goes to `diags`.
class Loader {
 public:
  Loader(const LoadOptions& options, core::Diagnostics& diags) : options_(options), diags_(diags) {}

  void load_file(const std::string& file, std::vector<Mapping>& mappings,
                 std::vector<SignpostRule>& rules) {
    file_ = file;
    base_ = std::filesystem::path(file).parent_path();
    auto root = config::load_yaml_file(file, diags_);
    if (!root) return;
    if (root->IsMap() && !(*root)["mapping"] && (*root)["signposts"]) {
      config::check_map(*root, kSignpostFileSpec, file, diags_);  // `signposts` not a list: said there
      if (auto s = (*root)["signposts"]; s.IsSequence()) load_signposts(s, rules);
      return;
    }
    // A file that is not a mapping at all (a password or config file listed
    // by mistake): one error, none of its content quoted.
    if (!root->IsMap() || (!(*root)["mapping"] && !(*root)["targets"] && !(*root)["fields"])) {
      const auto p = config::position_of(file, *root);
      diags_.error(p.file, p.line, p.column,
                   "this is not a mapping file: it has none of the keys 'mapping', 'targets' and 'fields' "
                   "(is the right file listed under 'mappings'?)",
                   "mapping.not_a_mapping");
      return;
    }
    if (!config::check_map(*root, kMappingSpec, file, diags_) && !root->IsMap()) return;
    mappings.push_back(load_mapping(*root, mappings));
    if (auto s = (*root)["signposts"]; s && s.IsSequence()) load_signposts(s, rules);
  }

  // Checks that need the whole set: partner targets shared across mappings,
  // review targets fed by some mapping, unique rule names.
  void finish(std::vector<Mapping>& mappings, const std::vector<SignpostRule>& rules) {
    std::set<std::string> partners;
    for (const auto& m : mappings) partners.insert(m.partner_targets.begin(), m.partner_targets.end());
    for (auto& m : mappings)
      for (const auto& t : m.targets)
        if (partners.count(t) &&
            std::find(m.partner_targets.begin(), m.partner_targets.end(), t) == m.partner_targets.end())
          m.partner_targets.push_back(t);
    std::set<std::string> names;
    for (const auto& r : rules) {
      if (!names.insert(r.name).second)
        diags_.error(r.file, r.line, r.column, "signpost rule '" + r.name + "' is declared twice",
                     "signpost.duplicate_rule");
      bool fed = false;
      for (const auto& m : mappings)
        if (m.when.needs_review != false &&
            std::find(m.targets.begin(), m.targets.end(), r.review_target) != m.targets.end())
          fed = true;
      if (!fed)
        diags_.error(r.file, r.line, r.column,
                     "review target '" + r.review_target + "' of rule '" + r.name +
                         "' is fed by no mapping that takes signposted submissions",
                     "signpost.review_target_unfed");
      if (partners.count(r.review_target))
        diags_.error(r.file, r.line, r.column,
                     "review target '" + r.review_target + "' is a partner target; reviews stay in the force",
                     "signpost.review_target_partner");
    }
  }

 private:
  config::Position pos(const YAML::Node& n) const { return config::position_of(file_, n); }
  bool has_operations_ = false;  // the mapping being loaded has an operations: section

  void error(const YAML::Node& n, const std::string& message, const std::string& code) {
    auto p = pos(n);
    diags_.error(p.file, p.line, p.column, message, code);
  }

  // Parses a path node and checks it against the known paths.
  // `from: bridge.NAME`: a known name, and legacy_reference only for targets
  // that send updates by reference from a WSDL (their sink resolves it).
  std::optional<BridgeSource> bridge_source_at(const YAML::Node& n, const Mapping& m) {
    const std::string name = n.Scalar().substr(7);
    const auto& names = bridge_source_names();
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      std::string list;
      for (const auto& v : names) list += (list.empty() ? "" : ", ") + v;
      error(n, core::with_suggestion("unknown bridge value '" + name + "' (bridge values: " + list + ")", name, names),
            "mapping.unknown_bridge_value");
      return std::nullopt;
    }
    const auto source = static_cast<BridgeSource>(it - names.begin());
    if (source == BridgeSource::legacy_reference && options_.reference_targets)
      for (const auto& t : m.targets)
        if (!options_.reference_targets->count(t))
          error(n,
                "bridge.legacy_reference is the reference a target issued for the earlier version, sent with an "
                "update: target '" + t + "' sends no updates by reference (only SOAP targets from a WSDL do)",
                "mapping.bridge_value_target");
    return source;
  }

  std::optional<FieldPath> path_at(const YAML::Node& n) {
    if (!n || !n.IsScalar()) return std::nullopt;
    auto path = parse_path(n.Scalar());
    if (!path) {
      error(n, "malformed path '" + n.Scalar() + "' (expected a.b, a[0].b or a[*].b)", "mapping.bad_path");
      return std::nullopt;
    }
    check_known(*path, n);
    return path;
  }

  void check_known(const FieldPath& path, const YAML::Node& at) {
    const auto& known = options_.known_paths;
    if (known.empty()) return;
    const auto g = generic_path(path);
    if (std::find(known.begin(), known.end(), g) != known.end()) return;
    auto suggestion = core::closest_match(g, known);
    std::string message = "unknown path '" + path.text + "': the submission schema has no such field";
    if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
    error(at, message, "mapping.unknown_path");
  }

  bool is_contact_path(const FieldPath& p) const {
    const auto g = generic_path(p);
    return std::find(kContactPaths.begin(), kContactPaths.end(), g) != kContactPaths.end();
  }

  std::shared_ptr<const functions::BngFromWgs84> converter(const YAML::Node& at) {
    if (!bng_ && !bng_failed_) {
      try {
        bng_ = std::make_shared<const functions::BngFromWgs84>();
      } catch (const std::exception& e) {
        bng_failed_ = true;
        error(at, std::string("grid references are unavailable: ") + e.what(), "mapping.bng_unavailable");
      }
    }
    return bng_;
  }

  Mapping load_mapping(const YAML::Node& root, const std::vector<Mapping>& earlier) {
    Mapping m;
    m.file = file_;
    m.name = config::get_string(root, "mapping", "");
    m.description = config::get_string(root, "description", "");
    m.targets = config::get_string_list(root, "targets");
    m.attachments = config::get_bool(root, "attachments", false);
    for (const auto& other : earlier)
      if (other.name == m.name)
        error(root["mapping"], "mapping name '" + m.name + "' is already used in " + other.file,
              "mapping.duplicate_name");
    for (const auto& n : config::items_of(root["targets"])) {
      if (!n.IsScalar()) continue;
      const auto& known = options_.known_targets;
      if (std::find(known.begin(), known.end(), n.Scalar()) == known.end())
        error(n, core::with_suggestion("unknown target '" + n.Scalar() + "'", n.Scalar(), known),
              "mapping.unknown_target");
    }
    for (const auto& n : config::items_of(root["partner_targets"])) {
      if (!n.IsScalar()) continue;
      if (std::find(m.targets.begin(), m.targets.end(), n.Scalar()) == m.targets.end())
        error(n,
              core::with_suggestion("partner target '" + n.Scalar() + "' is not one of this mapping's targets",
                                    n.Scalar(), m.targets),
              "mapping.unknown_partner_target");
      else
        m.partner_targets.push_back(n.Scalar());
    }
    if (auto w = root["when"]; w && w.IsMap() && config::check_map(w, kWhenSpec, file_, diags_)) {
      m.when.kinds = config::get_string_list(w, "kind");
      m.when.categories = config::get_string_list(w, "category");
      if (w["needs_review"]) m.when.needs_review = config::get_bool(w, "needs_review", false);
      if (auto where = w["where"]; where && where.IsSequence())
        for (const auto& p : where)
          if (auto pred = load_predicate(p)) m.when.where.push_back(std::move(*pred));
    }
    has_operations_ = root["operations"] && root["operations"].IsMap();
    if (auto fields = root["fields"]; fields && fields.IsSequence()) {
      std::vector<std::string> names;
      for (const auto& f : fields) {
        if (!config::check_map(f, kFieldSpec, file_, diags_) && !f.IsMap()) continue;
        auto plan = load_field(f, m);
        if (!plan.name.empty() && std::find(names.begin(), names.end(), plan.name) != names.end())
          error(f, "field '" + plan.name + "' is declared twice", "mapping.duplicate_field");
        names.push_back(plan.name);
        m.fields.push_back(std::move(plan));
      }
    }
    load_operations(root["operations"], root["fields"], m);
    for (std::size_t i = 0; i < m.fields.size(); ++i)
      if (m.fields[i].bridge == BridgeSource::related_reference) m.related_fields.push_back(i);
    has_operations_ = false;
    return m;
  }

  // `operations: {update: {Field: path, ...}, lookup: {...}}`: each field one of
  // the mapping's, each path checked against that operation's input of every
  // target of the mapping that takes operations.
  void load_operations(const YAML::Node& ops, const YAML::Node& fields, Mapping& m) {
    if (!ops || !ops.IsMap()) return;
    std::vector<std::string> names;
    for (const auto& f : m.fields) names.push_back(f.name);
    std::vector<std::string> takers;
    for (const auto& t : m.targets)
      if (options_.target_operation_checks.count(t)) takers.push_back(t);
    if (takers.empty()) {
      error(ops, "operations: none of this mapping's targets has operations (only SOAP targets from a WSDL do)",
            "mapping.bad_operations");
      return;
    }
    for (const auto& kv : ops) {
      const std::string role = kv.first.Scalar();
      if (role != "create" && role != "update" && role != "lookup") {
        error(kv.first, "operations: '" + role + "' is not create, update or lookup", "mapping.bad_operations");
        continue;
      }
      if (!kv.second.IsMap()) {
        error(kv.second, "operations." + role + ": a map {FieldName: path} (\"\": not sent)", "mapping.bad_operations");
        continue;
      }
      auto& list = m.operations[role];
      for (const auto& fp : kv.second) {
        const std::string field = fp.first.Scalar();
        if (std::find(names.begin(), names.end(), field) == names.end()) {
          error(fp.first,
                core::with_suggestion("operations." + role + ": '" + field + "' is not a field of this mapping", field,
                                      names),
                "mapping.bad_operations");
          continue;
        }
        if (!fp.second.IsScalar()) {
          error(fp.second, "operations." + role + "." + field + ": a path (\"\": not sent)", "mapping.bad_operations");
          continue;
        }
        const std::string path = fp.second.Scalar();
        for (const auto& t : takers)
          if (!path.empty())
            if (auto why = options_.target_operation_checks.at(t)(role, path))
              error(fp.second, "target '" + t + "' " + role + " has no path '" + path + "': " + *why,
                    "mapping.unknown_target_field");
        list.emplace_back(field, path);
      }
    }
    // The other fields: as without a section (the target's own check, which
    // knows its per-operation fields) when no operation moves them; else at
    // their own name in the operations that do not.
    if (!fields || !fields.IsSequence()) return;
    for (const auto& f : fields) {
      if (!f.IsMap() || !f["name"] || !f["name"].IsScalar()) continue;
      const std::string name = f["name"].Scalar();
      const bool moved = std::any_of(m.operations.begin(), m.operations.end(), [&](const auto& op) {
        return std::any_of(op.second.begin(), op.second.end(), [&](const auto& fp) { return fp.first == name; });
      });
      if (!moved) {
        for (const auto& t : takers)
          if (auto check = options_.target_field_checks.find(t); check != options_.target_field_checks.end())
            if (auto why = check->second(name))
              error(f["name"], "target '" + t + "' has no field '" + name + "': " + *why,
                    "mapping.unknown_target_field");
        continue;
      }
      for (const char* role : {"create", "update"}) {
        const auto& list = m.operations[role];
        if (std::any_of(list.begin(), list.end(), [&](const auto& fp) { return fp.first == name; })) continue;
        for (const auto& t : takers) {
          auto why = options_.target_operation_checks.at(t)(role, name);
          if (!why || why->rfind("the target has no ", 0) == 0) continue;
          error(f["name"], "target '" + t + "' has no field '" + name + "': " + role + " " + *why,
                "mapping.unknown_target_field");
        }
      }
    }
    for (auto it = m.operations.begin(); it != m.operations.end();)  // no empty sections
      it = it->second.empty() ? m.operations.erase(it) : std::next(it);
  }

  std::optional<Predicate> load_predicate(const YAML::Node& n) {
    if (!config::check_map(n, kPredicateSpec, file_, diags_)) return std::nullopt;
    Predicate p;
    auto path = path_at(n["path"]);
    int tests = 0;
    if (auto v = n["equals"]; v && v.IsScalar()) {
      p.op = Predicate::Op::equals;
      p.values = {v.Scalar()};
      ++tests;
    }
    if (auto v = n["in"]; v && v.IsSequence()) {
      p.op = Predicate::Op::in;
      p.values = scalars_of(v);
      ++tests;
    }
    if (auto v = n["regex"]; v && v.IsScalar()) {
      p.op = Predicate::Op::regex;
      std::string why;
      p.regex = compile_regex(v.Scalar(), why);
      if (!p.regex) error(v, "bad regex: " + why, "mapping.bad_regex");
      ++tests;
    }
    if (n["exists"]) {
      p.op = Predicate::Op::exists;
      p.exists = config::get_bool(n, "exists", true);
      ++tests;
    }
    if (tests != 1) {
      error(n, "a where test needs exactly one of equals, in, regex, exists", "mapping.bad_predicate");
      return std::nullopt;
    }
    p.negate = config::get_bool(n, "not", false);
    if (!path || (p.op == Predicate::Op::regex && !p.regex)) return std::nullopt;
    p.path = std::move(*path);
    return p;
  }

  FieldPlan load_field(const YAML::Node& f, const Mapping& m) {
    FieldPlan plan;
    auto fp = pos(f);
    plan.line = fp.line;
    plan.column = fp.column;
    plan.name = config::get_string(f, "name", "");
    bool reads_contact = false;
    int sources = 0;
    if (auto from = f["from"]; from && from.IsScalar() && from.Scalar().rfind("bridge.", 0) == 0) {
      ++sources;
      plan.bridge = bridge_source_at(from, m);
    } else if (from && from.IsScalar()) {
      ++sources;
      plan.from = path_at(from);
      if (plan.from && is_contact_path(*plan.from)) reads_contact = true;
    } else if (from && from.IsSequence()) {
      ++sources;
      if (from.size() == 0) error(from, "field '" + plan.name + "': 'from' lists no path", "mapping.bad_path");
      for (const auto& n : from) {
        if (!n.IsScalar()) {
          error(n, "a 'from' list holds paths (a.b, a[0].b)", "mapping.bad_path");
          continue;
        }
        if (n.Scalar().rfind("bridge.", 0) == 0) {
          error(n, "a 'from' list holds submission paths; a bridge value ('" + n.Scalar() +
                       "') is always there: give it alone in 'from'",
                "mapping.bad_path");
          continue;
        }
        if (auto p = path_at(n)) {
          if (p->each) {
            error(n, "a 'from' list takes single values, not [*] paths", "mapping.bad_path");
            continue;
          }
          if (is_contact_path(*p)) reads_contact = true;
          plan.from_any.push_back(std::move(*p));
        }
      }
    }
    if (auto sq = f["sequence"]; sq && sq.IsScalar()) {
      ++sources;
      plan.store_sequence = true;
    }
    if (auto v = f["value"]; v && v.IsScalar()) {
      ++sources;
      plan.constant = v.Scalar();
    }
    if (auto t = f["template"]; t && t.IsScalar()) {
      ++sources;
      if (auto src = load_template(t)) {
        for (const auto& p : src->paths)
          if (is_contact_path(p)) reads_contact = true;
        plan.templ = std::move(*src);
      }
    }
    if (auto b = f["bng"]; b) {
      ++sources;
      if (auto src = load_bng(b)) {
        if (is_contact_path(src->lat) || is_contact_path(src->lon)) reads_contact = true;
        plan.bng = std::move(*src);
      }
    }
    if (sources > 1) {
      if (f["from"] && f["value"] && sources == 2)
        error(f, "field '" + plan.name + "' has both 'from' and 'value'; use one", "mapping.ambiguous_source");
      else
        error(f, "field '" + plan.name + "' has more than one of 'from', 'value', 'template', 'bng', 'sequence'; use one",
              "mapping.ambiguous_source");
    }
    if (sources == 0 && !f["default"])
      error(f, "field '" + plan.name + "' needs 'from', 'value', 'template', 'bng', 'sequence' or 'default'",
            "mapping.no_source");
    if (auto d = f["default"]; d && d.IsScalar()) plan.default_value = d.Scalar();
    plan.required = config::get_bool(f, "required", false);
    plan.contact = reads_contact || config::get_bool(f, "contact", false);
    if (reads_contact && f["contact"] && !config::get_bool(f, "contact", true))
      error(f["contact"],
            "field '" + plan.name + "' reads the reporter's contact details; it cannot be 'contact: false'",
            "mapping.contact_forced");
    if (plan.contact && plan.required)
      error(f["required"] ? f["required"] : f,
            "contact field '" + plan.name +
                "' cannot be required: anonymous reporters and those who declined contact never send it",
            "mapping.contact_required");
    for (const auto& n : config::items_of(f["transforms"])) {
      std::string name;
      YAML::Node args;
      if (n.IsScalar()) {
        name = n.Scalar();
      } else if (n.IsMap() && n.size() == 1) {
        name = n.begin()->first.as<std::string>();
        args = n.begin()->second;
      } else if (n.IsSequence()) {
        continue;  // a nested list: check_map reported it (item_or_list)
      } else {
        error(n, "a transform is a name (trim) or a one-key map ({truncate: 50})", "mapping.bad_transform");
        continue;
      }
      if (std::find(kTransformNames.begin(), kTransformNames.end(), name) == kTransformNames.end()) {
        error(n, core::with_suggestion("unknown transform '" + name + "'", name, kTransformNames),
              "mapping.unknown_transform");
        continue;
      }
      try {
        plan.transforms.push_back(compile_transform(name, args, base_));
      } catch (const std::exception& e) {
        error(n, "transform '" + name + "' " + e.what(), "mapping.bad_transform");
      }
    }
    if (auto l = f["lookup"]; l && l.IsMap() && config::check_map(l, kLookupSpec, file_, diags_)) {
      auto tp = pos(l["table"]);
      std::string table = config::get_string(l, "table", "");
      plan.lookup = load_lookup((base_ / table).string(), tp, diags_);
      plan.on_unknown = config::get_string(l, "unknown", "reject") == "default" ? OnUnknownKey::use_default
                                                                                 : OnUnknownKey::reject;
      plan.lookup_default = config::get_string(l, "default", "");
      if (plan.on_unknown == OnUnknownKey::use_default && !l["default"])
        error(l, "lookup with 'unknown: default' needs a 'default'", "mapping.lookup_no_default");
    }
    plan.on_error = config::get_string(f, "on_error", "reject") == "empty" ? OnTransformError::empty
                                                                         : OnTransformError::reject;
    plan.max_length = static_cast<std::size_t>(config::get_int(f, "max_length", 0, file_, diags_, 1));
    plan.overflow = config::get_string(f, "overflow", "truncate") == "reject" ? Overflow::reject
                                                                               : Overflow::truncate;
    check_fixed_values(f, plan, m);
    for (const auto& t : m.targets) {
      // With an operations: section, its targets' paths are checked per operation (load_operations).
      if (has_operations_ && options_.target_operation_checks.count(t)) continue;
      if (auto check = options_.target_field_checks.find(t);
          check != options_.target_field_checks.end() && !plan.name.empty()) {
        if (auto why = check->second(plan.name))
          error(f["name"], "target '" + t + "' has no field '" + plan.name + "': " + *why,
                "mapping.unknown_target_field");
        continue;
      }
      auto it = options_.target_fields.find(t);
      if (it == options_.target_fields.end() || plan.name.empty()) continue;
      if (std::find(it->second.begin(), it->second.end(), plan.name) == it->second.end())
        error(f["name"],
              core::with_suggestion("target '" + t + "' has no field '" + plan.name + "'", plan.name, it->second),
              "mapping.unknown_target_field");
    }
    return plan;
  }

  // Fixed values the mapping gives a field, checked against each target's
  // value check (an XML field's facets): value:, default:, lookup values.
  void check_fixed_values(const YAML::Node& f, const FieldPlan& plan, const Mapping& m) {
    if (plan.name.empty() || options_.target_value_checks.empty()) return;
    for (const auto& t : m.targets) {
      auto it = options_.target_value_checks.find(t);
      if (it == options_.target_value_checks.end()) continue;
      const auto& check = it->second;
      auto report = [&](const YAML::Node& at, const std::string& what, const std::string& v, const std::string& why) {
        error(at, what + " '" + v + "' of field '" + plan.name + "' is not valid for target '" + t + "': " + why,
              "mapping.value_conflicts_schema");
      };
      if (plan.constant && plan.transforms.empty() && !plan.lookup)
        if (auto why = check(plan.name, *plan.constant)) report(f["value"], "value", *plan.constant, *why);
      if (plan.default_value && !plan.lookup && !plan.default_value->empty())
        if (auto why = check(plan.name, *plan.default_value)) report(f["default"], "default", *plan.default_value, *why);
      if (plan.lookup) {
        // Each distinct value once, at the first row giving it (file order).
        std::vector<std::pair<int, std::pair<std::string, std::string>>> rows;
        for (const auto& [key, v] : plan.lookup->entries) {
          auto l = plan.lookup->lines.find(key);
          rows.push_back({l == plan.lookup->lines.end() ? 0 : l->second, {key, v}});
        }
        std::sort(rows.begin(), rows.end());
        std::set<std::string> seen;
        for (const auto& [line, kv] : rows) {
          if (!seen.insert(kv.second).second) continue;
          if (auto why = check(plan.name, kv.second))
            diags_.error(plan.lookup->file, line, 1,
                         "lookup value '" + kv.second + "' (key '" + kv.first + "') for field '" + plan.name +
                             "' of mapping '" + m.name + "' is not valid for target '" + t + "': " + *why,
                         "mapping.value_conflicts_schema");
        }
        if (plan.on_unknown == OnUnknownKey::use_default && !plan.lookup_default.empty())
          if (auto why = check(plan.name, plan.lookup_default))
            report(f["lookup"]["default"], "lookup default", plan.lookup_default, *why);
      }
    }
  }

  std::optional<TemplateSource> load_template(const YAML::Node& t) {
    TemplateSource src;
    src.text = t.Scalar();
    try {
      src.compiled = std::make_shared<const functions::Template>(src.text, functions::MissingPlaceholder::empty);
    } catch (const functions::TemplateSyntaxError& e) {
      auto p = pos(t);
      // A quoted scalar's mark is its opening quote.
      const int quote = t.Tag() == "!" ? 1 : 0;
      diags_.error(p.file, p.line, p.column + quote + static_cast<int>(e.column()) - 1,
                   e.what(), "mapping.bad_template");
      return std::nullopt;
    }
    bool ok = true;
    for (const auto& name : src.compiled->placeholders()) {
      auto path = parse_path(name);
      if (!path) {
        error(t, "template placeholder '{" + name + "}' is not a path", "mapping.bad_path");
        ok = false;
        continue;
      }
      check_known(*path, t);
      src.paths.push_back(std::move(*path));
    }
    if (!ok) return std::nullopt;
    return src;
  }

  std::optional<BngSource> load_bng(const YAML::Node& b) {
    BngSource src;
    YAML::Node lat, lon;
    std::string part;
    if (b.IsScalar()) {
      part = b.Scalar();
      if (part != "easting" && part != "northing") {
        error(b, core::with_suggestion("bng must be easting or northing, not '" + part + "'", part,
                                       {"easting", "northing"}),
              "mapping.bad_bng");
        return std::nullopt;
      }
    } else {
      if (!config::check_map(b, kBngSpec, file_, diags_)) return std::nullopt;
      part = config::get_string(b, "part", "easting");
      lat = b["lat"];
      lon = b["lon"];
    }
    src.easting = part == "easting";
    // A default-constructed node is a defined null: test the map's keys.
    auto lat_path = b.IsMap() && b["lat"] ? path_at(lat) : parse_path("location.lat");
    auto lon_path = b.IsMap() && b["lon"] ? path_at(lon) : parse_path("location.lon");
    src.converter = converter(b);
    if (!lat_path || !lon_path || !src.converter) return std::nullopt;
    src.lat = std::move(*lat_path);
    src.lon = std::move(*lon_path);
    return src;
  }

  void load_signposts(const YAML::Node& list, std::vector<SignpostRule>& rules) {
    for (const auto& r : list) {
      if (!config::check_map(r, kSignpostSpec, file_, diags_)) continue;
      SignpostRule rule;
      rule.file = file_;
      rule.line = pos(r).line;
      rule.column = pos(r).column;
      rule.name = config::get_string(r, "rule", "");
      rule.review_target = config::get_string(r, "review_target", "");
      rule.message = config::get_string(r, "message", kDefaultSignpostMessage);
      const auto& known = options_.known_targets;
      if (std::find(known.begin(), known.end(), rule.review_target) == known.end())
        error(r["review_target"],
              core::with_suggestion("unknown target '" + rule.review_target + "'", rule.review_target, known),
              "mapping.unknown_target");
      if (rule.message.find("999") == std::string::npos || rule.message.find("101") == std::string::npos)
        error(r["message"], "a signpost message must tell the resident to call 999 in an emergency and 101 otherwise",
              "signpost.message_incomplete");
      if (r["fields"]) {
        for (const auto& n : config::items_of(r["fields"]))
          if (auto p = path_at(n)) rule.fields.push_back(std::move(*p));
      } else {
        rule.fields = {*parse_path("summary"), *parse_path("description")};
      }
      std::string combined;
      bool ok = true;
      for (const auto& n : config::items_of(r["patterns"])) {
        if (!n.IsScalar()) continue;
        std::string why;
        if (!compile_regex(n.Scalar(), why)) {
          error(n, "bad regex: " + why, "mapping.bad_regex");
          ok = false;
          continue;
        }
        if (!combined.empty()) combined += '|';
        combined += "(?:" + n.Scalar() + ")";
      }
      if (!ok || combined.empty()) continue;
      std::string why;
      rule.regex = compile_regex(combined, why);
      if (!rule.regex) {
        error(r["patterns"], "bad regex: " + why, "mapping.bad_regex");
        continue;
      }
      rules.push_back(std::move(rule));
    }
  }

  const LoadOptions& options_;
  core::Diagnostics& diags_;
  std::string file_;
  std::filesystem::path base_;
  std::shared_ptr<const functions::BngFromWgs84> bng_;
  bool bng_failed_ = false;
};

}  // namespace

std::optional<MappingSet> MappingSet::load(const std::vector<std::string>& files,
                                           const std::vector<std::string>& known_targets,
                                           core::Diagnostics& diags) {
  LoadOptions options;
  options.known_targets = known_targets;
  return load(files, options, diags);
}

std::optional<MappingSet> MappingSet::load(const std::vector<std::string>& files,
                                           const LoadOptions& options, core::Diagnostics& diags) {
  MappingSet set;
  const std::size_t errors_before = diags.size();
  Loader loader(options, diags);
  for (const auto& file : files) loader.load_file(file, set.mappings_, set.signposts_);
  loader.finish(set.mappings_, set.signposts_);
  for (const auto& m : set.mappings_)
    if (m.when.needs_review) set.uses_review_ = true;
  for (std::size_t i = errors_before; i < diags.items().size(); ++i)
    if (diags.items()[i].severity == core::Severity::error) return std::nullopt;
  return set;
}

}  // namespace reportbridge::mapping
