#pragma once
// What becomes of one submission version: validated, routed, mapped, judged
// by deduplication, with the fields the bridge fills. Ingest decides every row
// with this code, and `reportbridge preview` decides the one it shows with the
// same code, so the preview cannot drift from what is delivered.
//
// Two steps, because ingest runs them on either side of its write
// transaction: decide() needs no state (validation, routing, mapping: CPU work
// done before the transaction opens); judge() takes deduplication's verdict,
// read and recorded inside the transaction (preview reads it without
// recording), and the references targets issued.
#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/core/source.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/schema/submission_schema.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

struct DecisionRules {
  const schema::SubmissionSchema* schema = nullptr;
  const mapping::MappingSet* mappings = nullptr;
  bool dedup = false;  // keep the parsed payload for the deduplicator
  // Per target: what happens to a related report (default link).
  std::map<std::string, dedup::RelatedPolicy> related;
  // Targets that get the reporter's pseudonymous key (ReporterKey).
  std::set<std::string> reporter_key_targets;
  // Preview: record every route's field lineage (mapping::apply_traced), and
  // map the routes after a failing one too, to show them all.
  bool trace = false;
  // Each mapping's field names, in order (field_names_of): what the outbox
  // keeps once per segment instead of once per record. Ingest sets it.
  std::shared_ptr<const std::map<const mapping::Mapping*, std::vector<std::string>>> field_names;
};

// The field names of every mapping of `set`, for DecisionRules::field_names.
std::shared_ptr<const std::map<const mapping::Mapping*, std::vector<std::string>>> field_names_of(
    const mapping::MappingSet& set);

// One record for one target.
struct RoutedRecord {
  const mapping::Mapping* mapping = nullptr;
  std::string target;
  // What the outbox stores: the record's values, encoded once here
  // (store::codec::put_values; no JSON to build and parse back). The field
  // names are the mapping's, in order (`field_names`).
  std::string values;
  const std::vector<std::string>* field_names = nullptr;
  // The record itself, kept only where it is still needed (memory: ingest
  // holds a whole batch of decisions): with rules.trace, or when the bridge
  // fills fields of it (judge encodes it again into `values`).
  std::optional<core::TargetRecord> record;
  std::string held;  // set: held for an operator's review (related: hold)
};

struct Decision {
  // queued | rejected | unrouted | mapping_failed | duplicate
  std::string outcome;
  std::string hash;  // the payload's SHA-256
  std::vector<schema::SchemaError> errors;  // rejected: why
  mapping::RoutePlan plan;
  std::vector<RoutedRecord> routes;  // queued: one per (mapping, target)
  std::vector<mapping::TracedResult> traces;  // with rules.trace: one per plan route, in order
  std::optional<store::QuarantineEntry> quarantine;
  std::optional<core::StatusUpdate> writeback;
  std::optional<mapping::Signpost> signpost;
  std::vector<std::string> withheld;  // partner targets left out: no consent to share
  std::shared_ptr<void> doc_arena;        // the memory `doc` lives in (schema::PayloadCheck::arena)
  std::optional<boost::json::value> doc;  // the parsed payload, with rules.dedup
  std::optional<dedup::Verdict> verdict;
  // Ingest: a later copy withdrawn for this one (first received wins), and its new verdict.
  std::optional<dedup::Verdict> withdrawn;
  std::string withdrawn_id;
};

// The target's reference for a submission id ("" when none; an empty target:
// any target's).
using ReferenceLookup = std::function<std::string(const std::string& submission_id, const std::string& target)>;

// Validates, routes and maps (all targets or none: a submission whose mapping
// fails for one target is quarantined whole, so it is never half-delivered).
Decision decide(const DecisionRules& rules, const core::SourceRow& row, std::int64_t now_ms);
// The same into `out`, a Decision default-constructed (ingest decides into its
// batch's vector: no 1.2 KB move per submission).
void decide_into(const DecisionRules& rules, const core::SourceRow& row, std::int64_t now_ms, Decision& out);

// What a duplicate is told: kept the first one; or, for an earlier copy linked
// to a later one that was already sent (first received wins, but a record is
// never sent twice), that its other copy was passed on.
extern const char* const kDuplicateMessage;
extern const char* const kLinkedMessage;

// For a queued decision: a double submission (verdict duplicate) becomes
// `duplicate`, its status written without a reference (the kept report's
// follows once it has one), and is not sent; otherwise
// related reports are held for targets with policy hold, and RelatedReference
// and ReporterKey are filled (bridge_fields.hpp). `verdict` nullopt: dedup off.
void judge(const DecisionRules& rules, Decision& decision, std::optional<dedup::Verdict> verdict,
           const ReferenceLookup& reference_for, const core::SourceRow& row, std::int64_t now_ms);

}  // namespace reportbridge::pipeline
