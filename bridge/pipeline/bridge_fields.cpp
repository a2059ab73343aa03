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

bool has_bridge_fields(const core::TargetRecord& record) {
  for (const auto& f : record.fields)
    if (f.name == kRelatedReferenceField || f.name == kReporterKeyField) return true;
  return false;
}

bool fill_bridge_fields(core::TargetRecord& record, const BridgeFieldContext& c) {
  const dedup::Verdict* v = c.verdict;
  bool found = false;
  for (auto& f : record.fields) {
    if (f.name != kRelatedReferenceField && f.name != kReporterKeyField) continue;
    found = true;
    if (f.value && !f.value->empty()) continue;  // the mapping gave it a value: kept
    f.value.reset();
    if (f.name == kRelatedReferenceField) {
      if (v && v->kind == dedup::Verdict::Kind::related && c.related == dedup::RelatedPolicy::link) {
        std::string ref = c.reference_for ? c.reference_for(v->of_id) : std::string();
        f.value = ref.empty() ? v->of_id : ref;
      }
    } else if (v && v->reporter_key && c.reporter_key && !c.anonymous) {
      f.value = *v->reporter_key;
    }
  }
  return found;
}

}  // namespace reportbridge::pipeline
