#include "bridge/pipeline/bridge_fields.hpp"

#include <boost/json.hpp>

namespace reportbridge::pipeline {

bool reporter_is_anonymous(const boost::json::value& doc) {
  if (!doc.is_object()) return true;
  const auto* rep = doc.as_object().if_contains("reporter");
  if (rep == nullptr || !rep->is_object()) return true;
  const auto* anon = rep->as_object().if_contains("anonymous");
  return !(anon != nullptr && anon->is_bool() && !anon->as_bool());
}

namespace {

bool has_related_source(const mapping::Mapping* m) { return m && !m->related_fields.empty(); }

// The related report's reference for this target, or nullopt.
std::optional<std::string> related_reference(const BridgeFieldContext& c) {
  const dedup::Verdict* v = c.verdict;
  if (!v || v->kind != dedup::Verdict::Kind::related || c.related != dedup::RelatedPolicy::link) return std::nullopt;
  std::string ref = c.reference_for ? c.reference_for(v->of_id) : std::string();
  return ref.empty() ? v->of_id : ref;
}

}  // namespace

bool has_bridge_fields(const core::TargetRecord& record, const mapping::Mapping* mapping) {
  for (const auto& f : record.fields)
    if (f.name == kRelatedReferenceField || f.name == kReporterKeyField) return true;
  return has_related_source(mapping);
}

bool fill_bridge_fields(core::TargetRecord& record, const BridgeFieldContext& c, const mapping::Mapping* mapping) {
  const dedup::Verdict* v = c.verdict;
  bool found = false;
  for (auto& f : record.fields) {
    if (f.name != kRelatedReferenceField && f.name != kReporterKeyField) continue;
    found = true;
    if (f.value && !f.value->empty()) continue;  // the mapping gave it a value: kept
    f.value.reset();
    if (f.name == kRelatedReferenceField) {
      f.value = related_reference(c);
    } else if (v && v->reporter_key && c.reporter_key && !c.anonymous) {
      f.value = *v->reporter_key;
    }
  }
  if (!has_related_source(mapping)) return found;
  mapping::BridgeValues values;
  values.related_reference = related_reference(c);
  // The record has one field per mapping field, in the mapping's order.
  for (const std::size_t i : mapping->related_fields) {
    std::optional<std::string> value;
    if (values.related_reference) {
      auto r = mapping::apply_deferred(*mapping, mapping->fields[i], record.target, record.submission_id,
                                       record.version, values);
      if (r.record && !r.record->fields.empty()) value = r.record->fields.front().value;
    }
    if (i < record.fields.size()) record.fields[i].value = std::move(value);
  }
  return true;
}

}  // namespace reportbridge::pipeline
