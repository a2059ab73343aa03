#include "bridge/mapping/mapping.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "bridge/config/yaml_spec.hpp"
#include "bridge/mapping/functions/functions.hpp"

namespace reportbridge::mapping {

namespace json = boost::json;
using config::KeySpec;
using config::MapSpec;
using config::ValueKind;

namespace {

const MapSpec kMappingSpec{
    "mapping",
    {{"mapping", ValueKind::string, true, "Name of the mapping, unique across files."},
     {"description", ValueKind::string, false, "What this mapping is for."},
     {"targets", ValueKind::scalar_or_list, true, "Target names this mapping feeds."},
     {"when", ValueKind::map, false, "Which submissions it applies to (kind, category)."},
     {"attachments", ValueKind::boolean, false, "Pass the submission's attachments to the targets."},
     {"fields", ValueKind::list, true, "The target record's fields, in output order."}}};

const MapSpec kWhenSpec{"when",
                        {{"kind", ValueKind::scalar_or_list, false, "Kinds this mapping takes."},
                         {"category", ValueKind::scalar_or_list, false, "Categories it takes."}}};

// Transforms taking no options are written as a bare name; the others as a
// one-key map: `{truncate: 50}`, `{regex_replace: {pattern: ..., with: ...}}`.
const std::vector<std::string> kTransformNames{
    "trim",        "collapse_whitespace", "uppercase",     "lowercase",   "titlecase",
    "normalise_nfc", "postcode",          "phone_e164",    "phone_national", "truncate",
    "regex_replace", "regex_extract",     "datetime",      "number"};

const MapSpec kFieldSpec{
    "field",
    {{"name", ValueKind::string, true, "Target field (CSV column, XML element)."},
     {"from", ValueKind::string, false, "Path into the submission, e.g. location.postcode."},
     {"value", ValueKind::string, false, "A constant value."},
     {"default", ValueKind::string, false, "Used when the path gives nothing."},
     {"required", ValueKind::boolean, false, "Quarantine the submission when the value is empty."},
     {"transforms", ValueKind::scalar_or_list, false, "Applied in order; see mappings/README.md for the list."},
     {"on_error", ValueKind::string, false, "When a transform fails: reject (default: quarantine) or empty.", {"reject", "empty"}},
     {"lookup", ValueKind::map, false, "Translate the value through a CSV table."},
     {"max_length", ValueKind::integer, false, "Maximum length in characters."},
     {"overflow", ValueKind::string, false, "truncate (default) or reject.", {"truncate", "reject"}}}};

const MapSpec kLookupSpec{
    "lookup",
    {{"table", ValueKind::string, true, "CSV file with a key,value header, relative to the mapping."},
     {"unknown", ValueKind::string, false, "reject (default) or default.", {"reject", "default"}},
     {"default", ValueKind::string, false, "Value for keys not in the table (with unknown: default)."}}};

// Reads a two-column CSV (RFC 4180 quoting) with a header row.
std::shared_ptr<LookupTable> load_lookup(const std::string& path, const config::Position& ref,
                                         core::Diagnostics& diags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.error(ref.file, ref.line, ref.column, "lookup table '" + path + "' not found",
                "mapping.lookup_missing");
    return nullptr;
  }
  auto table = std::make_shared<LookupTable>();
  table->file = path;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

std::string render_scalar(const json::value& v, bool& ok) {
  ok = true;
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::double_: {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_double());
      return std::string(buf, r.ptr);
    }
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::null: return {};
    default: ok = false; return {};
  }
}

void collect(const json::value& v, const std::vector<PathSegment>& segs, std::size_t i,
             std::vector<const json::value*>& out) {
  if (i == segs.size()) {
    out.push_back(&v);
    return;
  }
  const auto& seg = segs[i];
  const json::value* cur = &v;
  if (!seg.key.empty()) {
    if (!cur->is_object()) return;
    cur = cur->get_object().if_contains(seg.key);
    if (!cur) return;
  }
  if (seg.index == PathSegment::kNone) {
    collect(*cur, segs, i + 1, out);
  } else if (cur->is_array()) {
    const auto& arr = cur->get_array();
    if (seg.index == PathSegment::kEach) {
      for (const auto& el : arr) collect(el, segs, i + 1, out);
    } else if (static_cast<std::size_t>(seg.index) < arr.size()) {
      collect(arr[static_cast<std::size_t>(seg.index)], segs, i + 1, out);
    }
  }
}


const json::value* field_of(const json::value& doc, const char* key) {
  if (!doc.is_object()) return nullptr;
  return doc.get_object().if_contains(key);
}

namespace fn = functions;

std::string scalar_arg(const YAML::Node& args, const char* key) {
  auto v = args[key];
  if (!v || !v.IsScalar()) throw std::invalid_argument(std::string("needs '") + key + "'");
  return v.Scalar();
}

// Builds one transform step from `name` and its options (a scalar or a map).
// Throws std::invalid_argument with a message for the analyst.
TransformStep compile_transform(const std::string& name, const YAML::Node& args) {
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
  throw std::invalid_argument("is not a transform");
}

}  // namespace

const std::vector<std::string>& transform_names() { return kTransformNames; }

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

std::optional<MappingSet> MappingSet::load(const std::vector<std::string>& files,
                                           const std::vector<std::string>& known_targets,
                                           core::Diagnostics& diags) {
  MappingSet set;
  const std::size_t errors_before = diags.size();
  for (const auto& file : files) {
    auto root = config::load_yaml_file(file, diags);
    if (!root) continue;
    if (!config::check_map(*root, kMappingSpec, file, diags) && !root->IsMap()) continue;
    Mapping m;
    m.file = file;
    m.name = config::get_string(*root, "mapping", "");
    m.description = config::get_string(*root, "description", "");
    m.targets = config::get_string_list(*root, "targets");
    m.attachments = config::get_bool(*root, "attachments", false);
    for (const auto& other : set.mappings_) {
      if (other.name == m.name) {
        auto p = config::position_of(file, (*root)["mapping"]);
        diags.error(p.file, p.line, p.column,
                    "mapping name '" + m.name + "' is already used in " + other.file,
                    "mapping.duplicate_name");
      }
    }
    for (const auto& n : config::items_of((*root)["targets"])) {
      if (!n.IsScalar()) continue;
      if (std::find(known_targets.begin(), known_targets.end(), n.Scalar()) == known_targets.end()) {
        auto p = config::position_of(file, n);
        diags.error(p.file, p.line, p.column,
                    core::with_suggestion("unknown target '" + n.Scalar() + "'", n.Scalar(), known_targets),
                    "mapping.unknown_target");
      }
    }
    if (auto w = (*root)["when"]; w && w.IsMap() && config::check_map(w, kWhenSpec, file, diags)) {
      m.when.kinds = config::get_string_list(w, "kind");
      m.when.categories = config::get_string_list(w, "category");
    }
    auto fields = (*root)["fields"];
    if (fields && fields.IsSequence()) {
      const auto base = std::filesystem::path(file).parent_path();
      std::vector<std::string> names;
      for (const auto& f : fields) {
        if (!config::check_map(f, kFieldSpec, file, diags) && !f.IsMap()) continue;
        FieldPlan plan;
        auto fp = config::position_of(file, f);
        plan.line = fp.line;
        plan.column = fp.column;
        plan.name = config::get_string(f, "name", "");
        if (std::find(names.begin(), names.end(), plan.name) != names.end() && !plan.name.empty())
          diags.error(fp.file, fp.line, fp.column, "field '" + plan.name + "' is declared twice",
                      "mapping.duplicate_field");
        names.push_back(plan.name);
        if (auto from = f["from"]; from && from.IsScalar()) {
          plan.from = parse_path(from.Scalar());
          if (!plan.from) {
            auto p = config::position_of(file, from);
            diags.error(p.file, p.line, p.column,
                        "malformed path '" + from.Scalar() + "' (expected a.b, a[0].b or a[*].b)",
                        "mapping.bad_path");
          }
        }
        if (auto v = f["value"]; v && v.IsScalar()) plan.constant = v.Scalar();
        if (f["from"] && f["value"])
          diags.error(fp.file, fp.line, fp.column,
                      "field '" + plan.name + "' has both 'from' and 'value'; use one",
                      "mapping.ambiguous_source");
        if (!f["from"] && !f["value"] && !f["default"])
          diags.error(fp.file, fp.line, fp.column,
                      "field '" + plan.name + "' needs 'from', 'value' or 'default'",
                      "mapping.no_source");
        if (auto d = f["default"]; d && d.IsScalar()) plan.default_value = d.Scalar();
        plan.required = config::get_bool(f, "required", false);
        for (const auto& n : config::items_of(f["transforms"])) {
          auto p = config::position_of(file, n);
          std::string name;
          YAML::Node args;
          if (n.IsScalar()) {
            name = n.Scalar();
          } else if (n.IsMap() && n.size() == 1) {
            name = n.begin()->first.as<std::string>();
            args = n.begin()->second;
          } else {
            diags.error(p.file, p.line, p.column,
                        "a transform is a name (trim) or a one-key map ({truncate: 50})",
                        "mapping.bad_transform");
            continue;
          }
          if (std::find(kTransformNames.begin(), kTransformNames.end(), name) == kTransformNames.end()) {
            diags.error(p.file, p.line, p.column,
                        core::with_suggestion("unknown transform '" + name + "'", name, kTransformNames),
                        "mapping.unknown_transform");
            continue;
          }
          try {
            plan.transforms.push_back(compile_transform(name, args));
          } catch (const std::exception& e) {
            diags.error(p.file, p.line, p.column, "transform '" + name + "' " + e.what(),
                        "mapping.bad_transform");
          }
        }
        if (auto l = f["lookup"]; l && l.IsMap() && config::check_map(l, kLookupSpec, file, diags)) {
          auto tp = config::position_of(file, l["table"]);
          std::string table = config::get_string(l, "table", "");
          plan.lookup = load_lookup((base / table).string(), tp, diags);
          plan.on_unknown = config::get_string(l, "unknown", "reject") == "default"
                                ? OnUnknownKey::use_default
                                : OnUnknownKey::reject;
          plan.lookup_default = config::get_string(l, "default", "");
          if (plan.on_unknown == OnUnknownKey::use_default && !l["default"]) {
            auto lp = config::position_of(file, l);
            diags.error(lp.file, lp.line, lp.column, "lookup with 'unknown: default' needs a 'default'",
                        "mapping.lookup_no_default");
          }
        }
        plan.on_error = config::get_string(f, "on_error", "reject") == "empty" ? OnTransformError::empty
                                                                             : OnTransformError::reject;
        plan.max_length = static_cast<std::size_t>(config::get_int(f, "max_length", 0, file, diags, 1));
        plan.overflow = config::get_string(f, "overflow", "truncate") == "reject" ? Overflow::reject
                                                                                   : Overflow::truncate;
        m.fields.push_back(std::move(plan));
      }
    }
    set.mappings_.push_back(std::move(m));
  }
  bool failed = false;
  for (std::size_t i = errors_before; i < diags.items().size(); ++i)
    if (diags.items()[i].severity == core::Severity::error) failed = true;
  if (failed) return std::nullopt;
  return set;
}

std::vector<const Mapping*> MappingSet::route(const json::value& doc) const {
  std::vector<const Mapping*> out;
  const auto* kind = field_of(doc, "kind");
  const auto* category = field_of(doc, "category");
  auto matches = [](const std::vector<std::string>& allowed, const json::value* v) {
    if (allowed.empty()) return true;
    if (!v || !v->is_string()) return false;
    return std::find(allowed.begin(), allowed.end(), std::string_view(v->get_string())) != allowed.end();
  };
  for (const auto& m : mappings_)
    if (matches(m.when.kinds, kind) && matches(m.when.categories, category)) out.push_back(&m);
  return out;
}

std::vector<std::string> MappingSet::columns_for(const std::string& target) const {
  std::vector<std::string> cols;
  for (const auto& m : mappings_) {
    if (std::find(m.targets.begin(), m.targets.end(), target) == m.targets.end()) continue;
    for (const auto& f : m.fields) cols.push_back(f.name);
    break;
  }
  return cols;
}

MapResult apply(const Mapping& mapping, const std::string& target, const json::value& doc,
                const std::string& submission_id, std::int64_t version) {
  MapResult result;
  core::TargetRecord rec;
  rec.submission_id = submission_id;
  rec.version = version;
  rec.mapping = mapping.name;
  rec.target = target;
  rec.fields.reserve(mapping.fields.size());
  auto fail = [&](const FieldPlan& f, std::string code, std::string detail) {
    result.error = MappingError{mapping.name, f.name, std::move(code), std::move(detail)};
    return result;
  };
  std::vector<const json::value*> found;
  for (const auto& f : mapping.fields) {
    std::optional<std::string> value;
    if (f.constant) {
      value = *f.constant;
    } else if (f.from) {
      found.clear();
      collect(doc, f.from->segments, 0, found);
      if (f.from->each) {
        std::string joined;
        bool any = false;
        for (const auto* v : found) {
          bool ok = true;
          std::string s = render_scalar(*v, ok);
          if (!ok) return fail(f, "not_scalar", "path '" + f.from->text + "' gives an object or list");
          if (any) joined += ';';
          joined += s;
          any = true;
        }
        if (any) value = std::move(joined);
      } else if (!found.empty() && !found.front()->is_null()) {
        bool ok = true;
        std::string s = render_scalar(*found.front(), ok);
        if (!ok) return fail(f, "not_scalar", "path '" + f.from->text + "' gives an object or list");
        value = std::move(s);
      }
    }
    if (value) {
      for (const auto& t : f.transforms) {
        auto r = t.apply(*value);
        if (r.ok()) {
          value = std::move(r.value);
        } else if (f.on_error == OnTransformError::empty) {
          value = std::string();
          break;
        } else {
          return fail(f, "transform_failed", t.name + ": " + r.error);
        }
      }
    }
    if ((!value || value->empty()) && f.default_value) value = *f.default_value;
    if (f.required && (!value || value->empty()))
      return fail(f, "required_missing",
                  f.from ? "required field is empty (from '" + f.from->text + "')" : "required field is empty");
    if (value && f.lookup) {
      auto it = f.lookup->entries.find(*value);
      if (it != f.lookup->entries.end()) {
        value = it->second;
      } else if (f.on_unknown == OnUnknownKey::use_default) {
        value = f.lookup_default;
      } else {
        return fail(f, "lookup_unknown", "value not in lookup table " + f.lookup->file);
      }
    }
    if (value && f.max_length > 0 && utf8_length(*value) > f.max_length) {
      if (f.overflow == Overflow::reject)
        return fail(f, "too_long", "longer than " + std::to_string(f.max_length) + " characters");
      *value = truncate_utf8(*value, f.max_length);
    }
    rec.fields.push_back({f.name, std::move(value)});
  }
  if (mapping.attachments) {
    if (const auto* atts = field_of(doc, "attachments"); atts && atts->is_array()) {
      for (const auto& a : atts->get_array()) {
        if (!a.is_object()) continue;
        const auto& o = a.get_object();
        auto s = [&](const char* k) {
          const auto* v = o.if_contains(k);
          return v && v->is_string() ? std::string(v->get_string()) : std::string();
        };
        core::AttachmentRef ref{s("id"), s("filename"), s("media_type"), 0, s("sha256"), s("path")};
        if (const auto* sz = o.if_contains("size_bytes"); sz && sz->is_int64() && sz->get_int64() >= 0)
          ref.size_bytes = static_cast<std::uint64_t>(sz->get_int64());
        rec.attachments.push_back(std::move(ref));
      }
    }
  }
  result.record = std::move(rec);
  return result;
}

}  // namespace reportbridge::mapping
