#include "bridge/pipeline/decision.hpp"

#include "bridge/core/sha256.hpp"
#include "bridge/pipeline/bridge_fields.hpp"
#include "bridge/store/record_codec.hpp"

namespace reportbridge::pipeline {

namespace {

constexpr const char* kUnroutedMessage =
    "Thank you. Your report has been received and will be reviewed by our staff.";
const std::vector<std::string>* names_of(const DecisionRules& rules, const mapping::Mapping* m) {
  if (!rules.field_names) return nullptr;
  auto it = rules.field_names->find(m);
  return it == rules.field_names->end() ? nullptr : &it->second;
}

}  // namespace

const char* const kDuplicateMessage =
    "Thank you. This report matches one you sent moments ago, so we have kept the first one only.";
const char* const kLinkedMessage =
    "Thank you. This report matches another copy of it you sent, which has already been passed on, so we "
    "have not sent it twice.";

std::shared_ptr<const std::map<const mapping::Mapping*, std::vector<std::string>>> field_names_of(
    const mapping::MappingSet& set) {
  auto out = std::make_shared<std::map<const mapping::Mapping*, std::vector<std::string>>>();
  for (const auto& m : set.mappings()) {
    auto& names = (*out)[&m];
    for (const auto& f : m.fields) names.push_back(f.name);
  }
  return out;
}

void decide_into(const DecisionRules& rules, const core::SourceRow& row, std::int64_t now, Decision& d) {
  d.hash = core::sha256_hex(row.payload);
  // The status's time, formatted only for the few decisions that carry one
  // (a queued row without a signpost has none: ~1 % of ingest's CPU).
  const auto at = [now] { return store::rfc3339_utc(now); };
  schema::PayloadCheck check = schema::check_payload(*rules.schema, row.payload, row.id, row.version);
  if (!check.ok()) {
    std::string detail;
    for (const auto& e : check.errors) {
      if (!detail.empty()) detail += "; ";
      detail += schema::to_string(e);
    }
    d.outcome = "rejected";
    d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "invalid_payload",
                                          check.errors.empty() ? "" : check.errors.front().path,
                                          detail, "", now};
    d.writeback = core::StatusUpdate{row.id, "rejected", "", schema::resident_message(check.errors), at()};
    d.errors = std::move(check.errors);
    return;
  }
  const boost::json::value& doc = *check.doc;
  d.plan = rules.mappings->plan(doc);
  d.signpost = d.plan.signpost;
  for (const auto& w : d.plan.withheld) d.withheld.push_back(w.target);
  if (d.plan.routes.empty()) {
    d.outcome = "unrouted";
    d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "unrouted", "",
                                          d.plan.withheld.empty()
                                              ? "no mapping applies to this kind/category"
                                              : "only partner targets apply, and consent to share is not given",
                                          "", now};
    d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at()};
    if (d.signpost) d.writeback = core::StatusUpdate{row.id, "needs_review", "", d.signpost->message, at()};
    if (rules.dedup) {
      d.doc_arena = std::move(check.arena);
      d.doc = std::move(check.doc);
    }
    return;
  }
  // All targets or none: a submission whose mapping fails for one target is
  // quarantined whole, so it is never half-delivered.
  // Without tracing each record is mapped into this thread's scratch record
  // (its strings' room reused from one submission to the next), encoded into
  // the route's values, and copied out only when it is kept whole.
  thread_local core::TargetRecord scratch;
  for (const auto& route : d.plan.routes) {
    mapping::MapResult r;
    const core::TargetRecord* record = &scratch;
    if (rules.trace) {
      d.traces.push_back(mapping::apply_traced(*route.mapping, route.target, doc, row.id, row.version, row.seq));
      r = d.traces.back().result;
      if (r.record) record = &*r.record;
    } else {
      r.error = mapping::apply_into(*route.mapping, route.target, doc, row.id, row.version, row.seq, scratch);
    }
    if (r.error) {
      if (d.outcome == "mapping_failed") continue;  // (tracing: the first failure decides)
      d.outcome = "mapping_failed";
      d.routes.clear();
      std::string detail = r.error->code + ": " + r.error->detail;
      if (!r.error->rule.empty()) detail = "rule '" + r.error->rule + "': " + detail;
      d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "mapping_failed",
                                            r.error->field, detail, r.error->mapping, now};
      d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at()};
      if (!rules.trace) return;
      continue;
    }
    if (d.outcome == "mapping_failed") continue;
    RoutedRecord routed{route.mapping, route.target, {}, names_of(rules, route.mapping), std::nullopt, {}};
    routed.values.reserve(store::codec::values_size(*record));  // one allocation, not one per doubling
    store::codec::put_values(routed.values, *record);
    // The names the values go with must be the record's own (a mapping's
    // fields, in order); otherwise the record is kept whole.
    const bool names_match = routed.field_names && routed.field_names->size() == record->fields.size();
    if (!names_match) routed.field_names = nullptr;
    if (rules.trace || !names_match || has_bridge_fields(*record, route.mapping)) {
      if (r.record)
        routed.record = std::move(*r.record);
      else
        routed.record = *record;
    }
    d.routes.push_back(std::move(routed));
  }
  if (d.outcome == "mapping_failed") return;
  // Signposted: the resident is told at once that the app is not for
  // emergencies (999) and where to call otherwise (101).
  if (d.signpost) d.writeback = core::StatusUpdate{row.id, "needs_review", "", d.signpost->message, at()};
  d.outcome = "queued";
  if (rules.dedup) {
    d.doc_arena = std::move(check.arena);
    d.doc = std::move(check.doc);
  }
}

Decision decide(const DecisionRules& rules, const core::SourceRow& row, std::int64_t now) {
  Decision d;
  decide_into(rules, row, now, d);
  return d;
}

void judge(const DecisionRules& rules, Decision& d, std::optional<dedup::Verdict> verdict,
           const ReferenceLookup& reference_for, const core::SourceRow& row, std::int64_t now) {
  if (d.outcome != "queued") return;
  d.verdict = std::move(verdict);
  const dedup::Verdict* v = d.verdict ? &*d.verdict : nullptr;
  if (v && v->kind == dedup::Verdict::Kind::duplicate) {
    d.outcome = "duplicate";
    d.routes.clear();
    // The reference follows once the kept report has one: ingest links the
    // duplicate to it (StateStore::link_duplicate, fill_duplicate_references).
    // An earlier copy linked to a later one already sent is not told "we kept
    // the first one".
    d.writeback = core::StatusUpdate{row.id, "duplicate", "", v->received_before_of ? kLinkedMessage : kDuplicateMessage,
                                     store::rfc3339_utc(now)};
    return;
  }
  // Related reports are held for targets with policy hold; the fields the
  // bridge provides are filled, or left without a value (bridge_fields.hpp).
  BridgeFieldContext context;
  context.verdict = v;
  context.anonymous = !d.doc || reporter_is_anonymous(*d.doc);
  for (auto& route : d.routes) {
    auto it = rules.related.find(route.target);
    context.related = it == rules.related.end() ? dedup::RelatedPolicy::link : it->second;
    if (v && v->kind == dedup::Verdict::Kind::related && context.related == dedup::RelatedPolicy::hold)
      route.held = "held_for_review: related to " + v->of_id + " (" + v->rule + ", score " +
                   std::to_string(v->score).substr(0, 4) + ")";
    context.reporter_key = rules.reporter_key_targets.count(route.target) != 0;
    const std::string target = route.target;
    context.reference_for = [&reference_for, target](const std::string& id) {
      return reference_for ? reference_for(id, target) : std::string();
    };
    // Most mappings declare neither field: their record stays as serialised.
    if (route.record && fill_bridge_fields(*route.record, context, route.mapping)) {
      route.values.clear();
      store::codec::put_values(route.values, *route.record);
    }
  }
}

}  // namespace reportbridge::pipeline
