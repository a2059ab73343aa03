#pragma once
// Fields the bridge fills from its deduplication, not from the submission
// (a mapping declares them with `default: ""`; mappings/README.md):
//   RelatedReference  a related report, for a target with policy link: the
//                     target's reference for the first report, else its id;
//   ReporterKey       for a target with reporter_key on, when the reporter is
//                     not anonymous: the pseudonymous key of that person.
// Otherwise they get no value (an empty CSV cell, no XML element). A value
// the mapping gave them itself is kept. Used by ingest and by `preview`, so
// the preview shows what the target will receive.
#include <boost/json/value.hpp>

#include <functional>
#include <string>

#include "bridge/core/record.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/mapping/mapping.hpp"

namespace reportbridge::pipeline {

inline constexpr const char* kRelatedReferenceField = "RelatedReference";
inline constexpr const char* kReporterKeyField = "ReporterKey";

struct BridgeFieldContext {
  const dedup::Verdict* verdict = nullptr;  // null: not judged (dedup off)
  dedup::RelatedPolicy related = dedup::RelatedPolicy::link;
  bool reporter_key = false;  // the target's `reporter_key`
  bool anonymous = true;      // see reporter_is_anonymous
  // The target's reference for a submission id ("" when it issued none).
  std::function<std::string(const std::string& submission_id)> reference_for;
};

// True unless the payload's reporter says `anonymous: false`.
bool reporter_is_anonymous(const boost::json::value& doc);

// True when the record has either field, or `mapping` (that made it) has a
// field `from: bridge.related_reference`.
bool has_bridge_fields(const core::TargetRecord& record, const mapping::Mapping* mapping = nullptr);

// Fills or clears the two fields in `record`, and the fields of `mapping`
// `from: bridge.related_reference` (through their own rules; a value they
// refuse leaves the field without one); true when it has any.
bool fill_bridge_fields(core::TargetRecord& record, const BridgeFieldContext& context,
                        const mapping::Mapping* mapping = nullptr);

}  // namespace reportbridge::pipeline
