// Routing, signposting and applying compiled mappings; lineage for preview.
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <tuple>

#include <boost/json.hpp>

#include "bridge/core/untrusted_text.hpp"
#include "bridge/mapping/functions/bng.hpp"
#include "bridge/mapping/functions/template.hpp"
#include "bridge/mapping/mapping.hpp"

namespace reportbridge::mapping {

namespace json = boost::json;

namespace {

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

// Object member lookup. Boost.JSON scans small objects comparing every key
// through memcmp; comparing the length and first byte first skips almost
// all of those calls.
const json::value* find_member(const json::object& obj, std::string_view key) {
  if (obj.size() > 16 || key.empty()) return obj.if_contains(key);
  for (const auto& kv : obj) {
    const auto k = kv.key();
    if (k.size() == key.size() && k[0] == key[0] && std::memcmp(k.data(), key.data(), key.size()) == 0)
      return &kv.value();
  }
  return nullptr;
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
    cur = find_member(cur->get_object(), seg.key);
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

const json::value* member(const json::value* v, const char* key) {
  if (!v || !v->is_object()) return nullptr;
  return find_member(v->get_object(), key);
}

bool is_true(const json::value* v) { return v && v->is_bool() && v->get_bool(); }

// Why contact details must be withheld, or "" when they may be sent: only an
// identified reporter who said contact_ok: true.
const char* contact_withheld_reason(const json::value& doc) {
  const auto* reporter = member(&doc, "reporter");
  if (!reporter || !reporter->is_object()) return "no reporter";
  if (is_true(member(reporter, "anonymous"))) return "reporter is anonymous";
  if (!is_true(member(reporter, "contact_ok"))) return "reporter did not agree to be contacted";
  return "";
}

bool partner_consent(const json::value& doc) {
  return is_true(member(member(&doc, "consent"), "share_with_partners"));
}

// The member of the document that one field path started from: consecutive
// fields usually share it (reporter.name, reporter.email, ...).
struct TopMemo {
  const std::string* key = nullptr;
  const json::value* value = nullptr;  // nullptr: absent
};

// The one value a path without [*] leads to, or nullptr when it leads nowhere.
const json::value* find_single(const json::value& doc, const FieldPath& path, TopMemo* memo) {
  const json::value* cur = &doc;
  auto seg_it = path.segments.begin();
  if (memo && path.segments.size() > 1 && !seg_it->key.empty() && seg_it->index == PathSegment::kNone &&
      doc.is_object()) {
    const std::string& key = seg_it->key;
    if (!memo->key || *memo->key != key) {
      memo->key = &key;
      memo->value = find_member(doc.get_object(), key);
    }
    if (!memo->value) return nullptr;
    cur = memo->value;
    ++seg_it;
  }
  for (; seg_it != path.segments.end(); ++seg_it) {
    const auto& seg = *seg_it;
    if (!seg.key.empty()) {
      if (!cur->is_object()) return nullptr;
      cur = find_member(cur->get_object(), seg.key);
      if (!cur) return nullptr;
    }
    if (seg.index != PathSegment::kNone) {
      if (!cur->is_array()) return nullptr;
      const auto& arr = cur->get_array();
      if (static_cast<std::size_t>(seg.index) >= arr.size()) return nullptr;
      cur = &arr[static_cast<std::size_t>(seg.index)];
    }
  }
  return cur;
}

// The value at `path`: nothing when absent or null; [*] joins with ';'.
// Returns false when the path ends at an object or a list.
bool read_path(const json::value& doc, const FieldPath& path, std::optional<std::string>& out,
               TopMemo* memo = nullptr) {
  out.reset();
  if (!path.each) {
    const json::value* v = find_single(doc, path, memo);
    if (!v || v->is_null()) return true;
    bool ok = true;
    std::string s = render_scalar(*v, ok);
    if (!ok) return false;
    out = std::move(s);
    return true;
  }
  std::vector<const json::value*> found;
  collect(doc, path.segments, 0, found);
  std::string joined;
  bool any = false;
  for (const auto* v : found) {
    bool ok = true;
    std::string s = render_scalar(*v, ok);
    if (!ok) return false;
    if (any) joined += ';';
    joined += s;
    any = true;
  }
  if (any) out = std::move(joined);
  return true;
}

bool test(const Predicate& p, const json::value& doc) {
  std::vector<const json::value*> found;
  collect(doc, p.path.segments, 0, found);
  bool hit = false;
  if (p.op == Predicate::Op::exists) {
    bool present = std::any_of(found.begin(), found.end(), [](const json::value* v) { return !v->is_null(); });
    hit = present == p.exists;
  } else {
    for (const auto* v : found) {
      if (v->is_null()) continue;
      bool ok = true;
      const std::string s = render_scalar(*v, ok);
      if (!ok) continue;
      if (p.op == Predicate::Op::regex ? RE2::PartialMatch(s, *p.regex)
                                       : std::find(p.values.begin(), p.values.end(), s) != p.values.end()) {
        hit = true;
        break;
      }
    }
  }
  return hit != p.negate;
}

bool listed(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool matches(const Mapping& m, const json::value& doc, bool signposted) {
  auto in = [](const std::vector<std::string>& allowed, const json::value* v) {
    if (allowed.empty()) return true;
    if (!v || !v->is_string()) return false;
    return std::find(allowed.begin(), allowed.end(), std::string_view(v->get_string())) != allowed.end();
  };
  if (!in(m.when.kinds, member(&doc, "kind")) || !in(m.when.categories, member(&doc, "category")))
    return false;
  if (m.when.needs_review && *m.when.needs_review != signposted) return false;
  for (const auto& p : m.when.where)
    if (!test(p, doc)) return false;
  return true;
}

std::string source_text(const FieldPlan& f) {
  if (f.constant) return "constant";
  if (f.from) return "from " + f.from->text;
  if (!f.from_any.empty()) {
    std::string out = "first non-empty of ";
    for (std::size_t i = 0; i < f.from_any.size(); ++i) out += (i ? ", " : "") + f.from_any[i].text;
    return out;
  }
  if (f.store_sequence) return "store sequence";
  if (f.bridge) return std::string("from bridge.") + bridge_source_name(*f.bridge);
  if (f.templ) return "template \"" + f.templ->text + "\"";
  if (f.bng)
    return std::string("bng ") + (f.bng->easting ? "easting" : "northing") + " from " + f.bng->lat.text +
           ", " + f.bng->lon.text;
  return "no source";
}

// Remembers the last grid conversion: easting and northing of one point cost one.
struct BngCache {
  const functions::BngFromWgs84* converter = nullptr;
  bool numeric = false;  // keyed by lat_d/lon_d, else by the text
  double lat_d = 0, lon_d = 0;
  std::string lat, lon;
  functions::BngResult result;
};

// The JSON number at `path` when converting it directly gives the same double
// as rendering it (std::to_chars, shortest) and parsing that text back: true
// for 0 and magnitudes in [0.001, 10000), which to_chars writes in fixed
// notation. Outside that it may write "1e-05", which the text route refuses.
bool direct_degrees(const json::value& doc, const FieldPath& path, TopMemo& memo, double& out) {
  if (path.each) return false;
  const json::value* cur = find_single(doc, path, &memo);
  if (!cur) return false;
  if (!cur->is_double()) return false;
  const double d = cur->get_double();
  const double a = d < 0 ? -d : d;
  if (!(d == 0 || (a >= 1e-3 && a < 1e4))) return false;
  out = d;
  return true;
}

// The attachments the record carries (none unless the mapping passes them).
std::size_t attachment_count(const Mapping& mapping, const json::value& doc) {
  if (!mapping.attachments) return 0;
  const auto* atts = member(&doc, "attachments");
  if (!atts || !atts->is_array()) return 0;
  std::size_t n = 0;
  for (const auto& a : atts->get_array()) n += a.is_object() ? 1 : 0;
  return n;
}

// `values`: the deferred bridge values (apply_deferred); null when mapping a
// submission, where a deferred field is left without a value for later.
// `only`: map just this field of the mapping.
// `into`: the record is written there in place (apply_into), reusing its
// strings' and vector's room, and the result carries no record.
MapResult run(const Mapping& mapping, const std::string& target, const json::value& doc,
              const std::string& submission_id, std::int64_t version, std::int64_t seq,
              std::vector<FieldLineage>* trace, const BridgeValues* values = nullptr,
              const FieldPlan* only = nullptr, core::TargetRecord* into = nullptr) {
  MapResult result;
  auto fail = [&](const std::string& field, std::string rule, std::string code, std::string detail) {
    result.error = MappingError{mapping.name, field, std::move(code), std::move(detail), std::move(rule)};
    return result;
  };
  if (!values && listed(mapping.partner_targets, target) && !partner_consent(doc))
    return fail("", "partner_targets", "partner_consent",
                "target '" + target + "' is a partner target and consent.share_with_partners is not true");
  core::TargetRecord own;
  core::TargetRecord& rec = into ? *into : own;
  rec.submission_id.assign(submission_id);
  rec.version = version;
  rec.mapping.assign(mapping.name);
  rec.target.assign(target);
  rec.attachments.clear();
  rec.fields.reserve(mapping.fields.size());
  // Field n of the record: an existing one is overwritten (its name's room is
  // reused), otherwise one is added; the record ends at the last one set.
  std::size_t set = 0;
  auto put = [&rec, &set](const std::string& name, std::optional<std::string>&& v) {
    if (set < rec.fields.size()) {
      rec.fields[set].name.assign(name);
      rec.fields[set].value = std::move(v);
    } else {
      rec.fields.push_back({name, std::move(v)});
    }
    ++set;
  };
  const char* withheld = contact_withheld_reason(doc);
  BngCache bng_cache;
  TopMemo memo;
  const FieldPlan* first = only ? only : mapping.fields.data();
  const FieldPlan* last = only ? only + 1 : mapping.fields.data() + mapping.fields.size();
  for (const FieldPlan* fp = first; fp != last; ++fp) {
    const FieldPlan& f = *fp;
    FieldLineage* lin = nullptr;
    if (trace) {
      trace->push_back(FieldLineage{f.name, {}, std::nullopt, {}});
      lin = &trace->back();
    }
    // Lineage text is built only when tracing (`what` is a callable).
    auto step = [&](auto&& what, const std::optional<std::string>& v) {
      if (lin) lin->steps.push_back({std::string(what()), v});
    };
    auto not_scalar = [&](const FieldPath& p) {
      return fail(f.name, source_text(f), "not_scalar", "path '" + p.text + "' gives an object or list");
    };
    std::optional<std::string> value;
    std::string_view source;  // the value, still in the document, when in_place
    bool in_place = false;
    bool failed_empty = false;  // a failure emptied the value (on_error: empty)
    if (f.contact && *withheld) {
      if (lin) lin->note = std::string("withheld: contact details (") + withheld + ")";
    } else if (f.constant) {
      value = *f.constant;
      step([] { return "constant"; }, value);
    } else if (f.from) {
      // A JSON string that goes straight into a transform is read in place
      // (no copy); lineage wants the value itself, so not when tracing.
      const json::value* v = (!f.from->each && !f.transforms.empty() && !lin)
                                 ? find_single(doc, *f.from, &memo)
                                 : nullptr;
      if (v && v->is_string()) {
        source = v->get_string();
        in_place = true;
      } else if (!read_path(doc, *f.from, value, &memo)) {
        return not_scalar(*f.from);
      }
      step([&] { return "from " + f.from->text; }, value);
    } else if (!f.from_any.empty()) {
      for (const auto& p : f.from_any) {
        std::optional<std::string> v;
        if (!read_path(doc, p, v, &memo)) return not_scalar(p);
        if (v && !v->empty()) {
          value = std::move(v);
          step([&] { return "from " + p.text + " (" + source_text(f) + ")"; }, value);
          break;
        }
      }
      if (!value) step([&] { return source_text(f) + ": all empty"; }, value);
    } else if (f.store_sequence) {
      value = std::to_string(seq);
      step([] { return "store sequence"; }, value);
    } else if (f.bridge) {
      switch (*f.bridge) {
        case BridgeSource::external_reference: value = core::external_reference(submission_id, version); break;
        case BridgeSource::submission_id: value = submission_id; break;
        case BridgeSource::version: value = std::to_string(version); break;
        case BridgeSource::attachment_count: value = std::to_string(attachment_count(mapping, doc)); break;
        case BridgeSource::related_reference:
          if (values) value = values->related_reference;
          break;
        case BridgeSource::legacy_reference:
          if (values) value = values->legacy_reference;
          break;
      }
      if (is_deferred(*f.bridge) && !values) {
        // Known later: ingest fills related_reference once deduplication has
        // judged the submission, the sink legacy_reference when it sends an update.
        if (lin)
          lin->note = *f.bridge == BridgeSource::legacy_reference
                          ? "from bridge.legacy_reference: given when an update is sent (the reference the target "
                            "issued for the earlier version), through this field's rules"
                          : "from bridge.related_reference: given once deduplication has judged the submission";
        put(f.name, std::nullopt);
        continue;
      }
      step([&] { return source_text(f); }, value);
    } else if (f.templ) {
      const auto& names = f.templ->compiled->placeholders();
      std::vector<std::optional<std::string>> vals(f.templ->paths.size());
      for (std::size_t i = 0; i < vals.size(); ++i)
        if (!read_path(doc, f.templ->paths[i], vals[i])) return not_scalar(f.templ->paths[i]);
      auto r = f.templ->compiled->render([&](std::string_view name) -> std::optional<std::string> {
        for (std::size_t i = 0; i < names.size(); ++i)
          if (names[i] == name) return vals[i];
        return std::nullopt;
      });
      if (!r.ok()) return fail(f.name, "template", "transform_failed", "template: " + r.error);
      value = std::move(r.value);
      step([&] { return source_text(f); }, value);
    } else if (f.bng) {
      const auto* conv = f.bng->converter.get();
      double lat_d = 0, lon_d = 0;
      bool have = true;
      if (direct_degrees(doc, f.bng->lat, memo, lat_d) && direct_degrees(doc, f.bng->lon, memo, lon_d)) {
        if (bng_cache.converter != conv || !bng_cache.numeric || bng_cache.lat_d != lat_d ||
            bng_cache.lon_d != lon_d) {
          bng_cache.converter = conv;
          bng_cache.numeric = true;
          bng_cache.lat_d = lat_d;
          bng_cache.lon_d = lon_d;
          bng_cache.result = conv->convert(lat_d, lon_d);
        }
      } else {
        std::optional<std::string> lat, lon;
        if (!read_path(doc, f.bng->lat, lat, &memo)) return not_scalar(f.bng->lat);
        if (!read_path(doc, f.bng->lon, lon, &memo)) return not_scalar(f.bng->lon);
        have = lat && lon;
        if (have && (bng_cache.converter != conv || bng_cache.numeric || bng_cache.lat != *lat ||
                     bng_cache.lon != *lon)) {
          bng_cache.converter = conv;
          bng_cache.numeric = false;
          bng_cache.lat = *lat;
          bng_cache.lon = *lon;
          bng_cache.result = conv->convert(*lat, *lon);
        }
      }
      if (have) {
        const auto& r = bng_cache.result;
        if (r.ok()) {
          value = std::to_string(f.bng->easting ? r.value->easting : r.value->northing);
        } else if (f.on_error == OnTransformError::empty) {
          value.reset();  // no value: an XML target omits the element
          failed_empty = true;
          if (lin) lin->note = "bng failed (" + r.error + "): emptied by on_error";
        } else {
          return fail(f.name, "bng", "transform_failed", "bng: " + r.error);
        }
      }
      step([&] { return source_text(f); }, value);
    }
    if ((value || in_place) && !failed_empty) {
      for (std::size_t i = 0; i < f.transforms.size(); ++i) {
        const auto& t = f.transforms[i];
        auto r = t.apply(in_place ? source : std::string_view(*value));
        in_place = false;
        if (r.ok()) {
          value = std::move(r.value);
          step([&] { return "| " + t.name; }, value);
        } else if (f.on_error == OnTransformError::empty) {
          value.reset();  // no value: an XML target omits the element
          if (lin) lin->note = t.name + " failed (" + r.error + "): emptied by on_error";
          break;
        } else {
          return fail(f.name, "transforms[" + std::to_string(i + 1) + "] " + t.name, "transform_failed",
                      t.name + ": " + r.error);
        }
      }
    }
    if ((!value || value->empty()) && f.default_value) {
      value = *f.default_value;
      step([] { return "default"; }, value);
    }
    if (f.required && (!value || value->empty()))
      return fail(f.name, "required", "required_missing",
                  f.from ? "required field is empty (from '" + f.from->text + "')" : "required field is empty");
    if (value && f.lookup) {
      auto it = f.lookup->entries.find(*value);
      if (it != f.lookup->entries.end()) {
        value = it->second;
      } else if (f.on_unknown == OnUnknownKey::use_default) {
        value = f.lookup_default;
      } else {
        return fail(f.name, "lookup", "lookup_unknown", "value not in lookup table " + f.lookup->file);
      }
      step([&] { return "| lookup " + std::filesystem::path(f.lookup->file).filename().string(); }, value);
    }
    // A value of at most max_length bytes has at most max_length characters.
    if (value && f.max_length > 0 && value->size() > f.max_length && utf8_length(*value) > f.max_length) {
      if (f.overflow == Overflow::reject)
        return fail(f.name, "max_length", "too_long", "longer than " + std::to_string(f.max_length) + " characters");
      *value = truncate_utf8(*value, f.max_length);
      step([&] { return "| max_length " + std::to_string(f.max_length); }, value);
    }
    if (lin) lin->value = value;
    put(f.name, std::move(value));
  }
  rec.fields.resize(set);
  if (mapping.attachments && !only) {
    if (const auto* atts = member(&doc, "attachments"); atts && atts->is_array()) {
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
  if (!into) result.record = std::move(rec);
  return result;
}

// Quoted for display: quotes, backslashes and control characters escaped.
// A value in lineage output: quoted, with every control character escaped
// (core::escape_for_terminal) and inner quotes escaped.
std::string quoted(const std::optional<std::string>& v) {
  if (!v) return "null";
  std::string out = "\"";
  for (char c : core::escape_for_terminal(*v)) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

void walk_schema(const json::value& node, const std::string& prefix, std::vector<std::string>& out) {
  const auto* props = member(&node, "properties");
  if (props && props->is_object()) {
    for (const auto& [key, sub] : props->get_object()) {
      const std::string path = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
      out.push_back(path);
      walk_schema(sub, path, out);
    }
  }
  const auto* items = member(&node, "items");
  if (items && items->is_object()) {
    const std::string path = prefix + "[*]";
    walk_schema(*items, path, out);
  }
}

}  // namespace

std::string to_string(const MappingError& e) {
  std::string s = "mapping '" + e.mapping + "'";
  if (!e.field.empty()) s += " field '" + e.field + "'";
  if (!e.rule.empty()) s += " rule '" + e.rule + "'";
  return s + ": " + e.code + ": " + e.detail;
}

std::vector<const Mapping*> MappingSet::route(const json::value& doc) const {
  const bool signposted = uses_review_ && signpost(doc).has_value();
  std::vector<const Mapping*> out;
  for (const auto& m : mappings_)
    if (matches(m, doc, signposted)) out.push_back(&m);
  return out;
}

std::optional<Signpost> MappingSet::signpost(const json::value& doc) const {
  std::vector<const json::value*> found;
  for (const auto& rule : signposts_) {
    for (const auto& path : rule.fields) {
      found.clear();
      collect(doc, path.segments, 0, found);
      for (const auto* v : found)
        if (v->is_string() && RE2::PartialMatch(std::string_view(v->get_string()), *rule.regex))
          return Signpost{rule.name, rule.review_target, rule.message};
    }
  }
  return std::nullopt;
}

RoutePlan MappingSet::plan(const json::value& doc) const {
  RoutePlan plan;
  plan.signpost = signpost(doc);
  const bool consent = partner_consent(doc);
  for (const auto& m : mappings_) {
    if (!matches(m, doc, plan.signpost.has_value())) continue;
    for (const auto& t : m.targets) {
      if (listed(m.partner_targets, t) && !consent)
        plan.withheld.push_back({&m, t});
      else
        plan.routes.push_back({&m, t});
    }
  }
  return plan;
}

bool MappingSet::is_partner(const std::string& target) const {
  for (const auto& m : mappings_)
    if (listed(m.partner_targets, target)) return true;
  return false;
}

std::vector<std::string> MappingSet::columns_for(const std::string& target) const {
  std::vector<std::string> cols;
  for (const auto& m : mappings_) {
    if (!listed(m.targets, target)) continue;
    for (const auto& f : m.fields) cols.push_back(f.name);
    break;
  }
  return cols;
}

std::map<std::string, OperationFields> MappingSet::operations_for(const std::string& target) const {
  std::map<std::string, OperationFields> out;
  for (const auto& m : mappings_)
    if (listed(m.targets, target) && !m.operations.empty()) out[m.name] = m.operations;
  return out;
}

MapResult apply(const Mapping& mapping, const std::string& target, const json::value& doc,
                const std::string& submission_id, std::int64_t version, std::int64_t seq) {
  return run(mapping, target, doc, submission_id, version, seq, nullptr);
}

std::optional<MappingError> apply_into(const Mapping& mapping, const std::string& target, const json::value& doc,
                                       const std::string& submission_id, std::int64_t version, std::int64_t seq,
                                       core::TargetRecord& into) {
  return run(mapping, target, doc, submission_id, version, seq, nullptr, nullptr, nullptr, &into).error;
}

MapResult apply_deferred(const Mapping& mapping, const FieldPlan& field, const std::string& target,
                         const std::string& submission_id, std::int64_t version, const BridgeValues& values) {
  if (!field.bridge || !is_deferred(*field.bridge)) return {};
  static const json::value kNoDocument;
  return run(mapping, target, kNoDocument, submission_id, version, 0, nullptr, &values, &field);
}

core::DeferredFields MappingSet::deferred_for(const std::string& target) const {
  core::DeferredFields out;
  for (const auto& m : mappings_) {
    if (!listed(m.targets, target)) continue;
    std::shared_ptr<const Mapping> copy;
    for (std::size_t i = 0; i < m.fields.size(); ++i) {
      if (m.fields[i].bridge != BridgeSource::legacy_reference) continue;
      if (!copy) copy = std::make_shared<const Mapping>(m);
      out[m.name].push_back(core::DeferredField{
          m.fields[i].name, [copy, i, target](const core::TargetRecord& record, const std::string& legacy_reference) {
            BridgeValues values;
            if (!legacy_reference.empty()) values.legacy_reference = legacy_reference;
            auto r = apply_deferred(*copy, copy->fields[i], target, record.submission_id, record.version, values);
            core::DeferredValue out;
            if (r.error)
              out.error = to_string(*r.error);
            else if (r.record && !r.record->fields.empty())
              out.value = r.record->fields.front().value;
            return out;
          }});
    }
  }
  return out;
}

TracedResult apply_traced(const Mapping& mapping, const std::string& target, const json::value& doc,
                          const std::string& submission_id, std::int64_t version, std::int64_t seq) {
  TracedResult t;
  t.result = run(mapping, target, doc, submission_id, version, seq, &t.lineage);
  return t;
}

std::string format_lineage(const TracedResult& traced) {
  const auto& r = traced.result;
  std::string out;
  std::size_t width = 0;
  for (const auto& f : traced.lineage) width = std::max(width, f.field.size());
  const std::string indent(2 + width + 3, ' ');
  for (const auto& f : traced.lineage) {
    const bool last_failed = r.error && &f == &traced.lineage.back();
    out += "  " + f.field + std::string(width - f.field.size(), ' ') + " = ";
    out += last_failed ? "(failed)" : quoted(f.value);
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < f.steps.size(); ++i) {
      const auto& s = f.steps[i];
      // The final value is shown once, on the field line.
      const bool show = f.steps.size() > 1 && !(i + 1 == f.steps.size() && !last_failed);
      lines.push_back(s.what + (show ? ": " + quoted(s.value) : ""));
    }
    if (!f.note.empty()) lines.push_back(f.note);
    if (lines.size() == 1) {
      out += "   <- " + lines[0] + "\n";
    } else {
      out += "\n";
      for (std::size_t i = 0; i < lines.size(); ++i) out += indent + (i == 0 ? "<- " : "   ") + lines[i] + "\n";
    }
  }
  if (r.error) {
    out += "QUARANTINED: " + to_string(*r.error) + "\n";
    return out;
  }
  for (const auto& a : r.record->attachments)
    out += "  attachment " + a.media_type + " " + std::to_string(a.size_bytes) + " bytes sha256 " + a.sha256 + "\n";
  return out;
}

std::string format_plan(const RoutePlan& plan) {
  std::string out;
  if (plan.signpost)
    out += "NEEDS REVIEW: signpost rule '" + plan.signpost->rule + "' -> review target " +
           plan.signpost->review_target + "\n  resident is told: " + plan.signpost->message + "\n";
  for (const auto& w : plan.withheld)
    out += "WITHHELD: mapping " + w.mapping->name + " -> partner target " + w.target +
           " (consent.share_with_partners is not true)\n";
  if (plan.routes.empty()) out += "UNROUTED: no mapping applies (would be quarantined as unrouted)\n";
  return out;
}

std::vector<std::string> schema_paths(const json::value& schema) {
  std::vector<std::string> out;
  walk_schema(schema, "", out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace reportbridge::mapping
