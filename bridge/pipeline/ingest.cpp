#include "bridge/pipeline/ingest.hpp"

#include "bridge/pipeline/bridge_fields.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "bridge/core/cursor.hpp"
#include "bridge/core/sha256.hpp"

namespace reportbridge::pipeline {

namespace {
constexpr const char* kUnroutedMessage =
    "Thank you. Your report has been received and will be reviewed by our staff.";
}

IngestStats& IngestStats::operator+=(const IngestStats& o) {
  read += o.read;
  already_seen += o.already_seen;
  queued += o.queued;
  records += o.records;
  rejected += o.rejected;
  mapping_failed += o.mapping_failed;
  unrouted += o.unrouted;
  duplicates += o.duplicates;
  related += o.related;
  late_rows += o.late_rows;
  expired_gaps += o.expired_gaps;
  high_water = o.high_water;
  open_gaps = o.open_gaps;
  return *this;
}

Ingestor::Ingestor(store::StateStore& state, core::Source& source,
                   const schema::SubmissionSchema& schema, const mapping::MappingSet& mappings,
                   IngestSettings settings)
    : state_(state), source_(source), schema_(schema), mappings_(&mappings), settings_(settings) {}

// What to write for one row, decided outside the write transaction so another
// thread (the dispatcher) can write to the state database meanwhile.
struct Ingestor::Decision {
  std::string outcome;  // queued | rejected | unrouted | mapping_failed
  std::string hash;
  std::optional<store::QuarantineEntry> quarantine;
  std::optional<core::StatusUpdate> writeback;
  std::vector<store::OutboxEntry> entries;
  std::optional<mapping::Signpost> signpost;
  std::vector<std::string> withheld;  // partner targets left out: no consent to share
  std::optional<boost::json::value> doc;  // the parsed payload (valid rows), for dedup
  std::optional<dedup::Verdict> verdict;
  // A later copy withdrawn for this one (first received wins): its new verdict.
  std::optional<dedup::Verdict> withdrawn;
  std::string withdrawn_id;
};

IngestStats Ingestor::run_batch() {
  IngestStats stats;
  const std::int64_t now = store::now_ms();
  // Only this ingestor moves the cursor, so it can be read before the write transaction.
  core::SourceCursor cursor = state_.load_cursor(source_.name());
  std::vector<core::SourceRow> rows = source_.poll(cursor, settings_.batch_size);
  stats.read = rows.size();
  std::vector<Decision> decisions;
  decisions.reserve(rows.size());
  for (const auto& row : rows) decisions.push_back(decide(row, now));

  store::Transaction tx(state_.db());
  std::vector<std::int64_t> seen;
  std::vector<std::size_t> claimed;
  seen.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto& d = decisions[i];
    seen.push_back(row.seq);
    if (!state_.ledger_claim(row, d.hash, now)) {
      ++stats.already_seen;
      continue;
    }
    claimed.push_back(i);
    write(row, decisions[i], now, stats);
  }
  auto advance = core::advance_cursor(cursor, std::move(seen), now, settings_.late_row_window);
  for (const auto& gap : advance.expired)
    spdlog::warn("ingest: gave up waiting for seq {}..{} after the late-row window (never committed)",
                 gap.first, gap.last);
  stats.late_rows = advance.late_rows;
  stats.expired_gaps = advance.expired.size();
  stats.high_water = cursor.high_water;
  stats.open_gaps = cursor.gaps.size();
  if (stats.read > 0 || stats.expired_gaps > 0) state_.save_cursor(source_.name(), cursor);
  tx.commit();
  if (events_) {
    for (auto i : claimed) publish(rows[i], decisions[i], now);
    events_->flush();
  }
  return stats;
}

void Ingestor::publish(const core::SourceRow& row, const Decision& d, std::int64_t now) const {
  core::Event e;
  e.at_ms = now;
  e.submission_id = row.id;
  e.version = row.version;
  e.kind = core::EventKind::collected;
  e.detail = "seq " + std::to_string(row.seq) + ", sha256 " + d.hash;
  events_->on_event(e);
  e.detail.clear();
  if (d.outcome == "rejected") {
    e.kind = core::EventKind::rejected;
    e.reason_code = d.quarantine->reason_code;
    e.detail = d.quarantine->detail;
    events_->on_event(e);
    return;
  }
  e.kind = core::EventKind::validated;
  events_->on_event(e);
  if (d.withdrawn) {
    // The later copy, ingested first and withdrawn before it left.
    core::Event w = e;
    w.submission_id = d.withdrawn_id;
    w.version = 1;
    w.kind = core::EventKind::duplicate;
    w.related_id = row.id;
    w.rule = d.withdrawn->rule;
    w.detail = d.withdrawn->explanation;
    events_->on_event(w);
  }
  if (d.verdict && (d.verdict->kind == dedup::Verdict::Kind::duplicate ||
                    d.verdict->kind == dedup::Verdict::Kind::related)) {
    e.kind = d.verdict->kind == dedup::Verdict::Kind::duplicate ? core::EventKind::duplicate
                                                                : core::EventKind::related;
    e.related_id = d.verdict->of_id;
    e.rule = d.verdict->rule;
    e.detail = d.verdict->explanation;
    events_->on_event(e);
    e.related_id.clear();
    e.rule.clear();
    e.detail.clear();
    if (d.outcome == "duplicate") return;
  }
  if (d.signpost) {
    e.kind = core::EventKind::needs_review;
    e.rule = d.signpost->rule;
    e.target = d.signpost->review_target;
    e.detail = "signposted: resident told to call 999 in an emergency, 101 otherwise";
    events_->on_event(e);
    e.rule.clear();
    e.target.clear();
    e.detail.clear();
  }
  if (d.outcome == "unrouted" || d.outcome == "mapping_failed") {
    e.kind = d.outcome == "unrouted" ? core::EventKind::unrouted : core::EventKind::mapping_failed;
    e.reason_code = d.quarantine->reason_code;
    e.mapping = d.quarantine->mapping;
    e.detail = d.quarantine->field.empty() ? d.quarantine->detail
                                           : "field " + d.quarantine->field + ": " + d.quarantine->detail;
    events_->on_event(e);
    return;
  }
  for (const auto& entry : d.entries) {
    e.kind = core::EventKind::mapped;
    e.mapping = entry.mapping;
    e.target = entry.target;
    e.detail = entry.held;
    events_->on_event(e);
  }
  e.detail.clear();
  for (const auto& target : d.withheld) {
    e.kind = core::EventKind::withheld;
    e.mapping.clear();
    e.target = target;
    e.rule = "partner_consent";
    e.reason_code = "no_consent";
    e.detail = "partner target not sent: consent.share_with_partners is not true";
    events_->on_event(e);
  }
}

namespace {
constexpr const char* kDuplicateMessage =
    "Thank you. This report matches one you sent moments ago, so we have kept the first one only.";
// The earlier copy, when the later one had already left (first-received wins,
// but a record is never sent twice): no "first one" to speak of.
constexpr const char* kLinkedMessage =
    "Thank you. This report matches another copy of it you sent, which has already been passed on, so we "
    "have not sent it twice.";
}

// Inside the batch transaction, after the ledger claim (so each version is
// judged once): double submissions are recorded and not sent again; related
// reports follow each target's policy. The first received copy wins whatever
// the ingest order: a later copy ingested first is withdrawn when it has not
// left yet, else the earlier one is linked to it. An edit of a duplicate goes
// as an update of the record kept for it (docs/deduplication.md).
void Ingestor::deduplicate(const core::SourceRow& row, Decision& d, std::int64_t now) {
  if (d.outcome != "queued") return;
  if (dedup_ && d.doc) {
    d.verdict = dedup_->check_and_record(*d.doc, row);
    auto& v = *d.verdict;
    if (v.kind == dedup::Verdict::Kind::update) {
      if (auto kept = state_.kept_for(row.id))
        for (auto& e : d.entries) e.update_of = *kept;
    }
    if (v.kind == dedup::Verdict::Kind::duplicate && v.received_before_of && !v.replayed) {
      // One savepoint: the later copy's records and its dedup rows go, or neither.
      state_.db().exec("SAVEPOINT ingest_supersede");
      std::optional<dedup::Superseded> swapped;
      try {
        if (state_.withdraw_unsent(v.of_id)) swapped = dedup_->supersede(*d.doc, row);
      } catch (...) {
        state_.db().exec("ROLLBACK TO ingest_supersede; RELEASE ingest_supersede");
        dedup_->reload_window();
        throw;
      }
      if (swapped) {
        state_.db().exec("RELEASE ingest_supersede");
        const std::string later = swapped->later_id;
        state_.link_duplicate(later, 1, row.id, kDuplicateMessage, now);
        state_.relink_duplicates(later, row.id);
        state_.enqueue_writeback({later, "duplicate", "", kDuplicateMessage, store::rfc3339_utc(now)}, 1);
        d.withdrawn = std::move(swapped->later_verdict);
        d.withdrawn_id = later;
        v = std::move(swapped->verdict);
      } else {
        state_.db().exec("ROLLBACK TO ingest_supersede; RELEASE ingest_supersede");
        dedup_->reload_window();
      }
    }
    if (v.kind == dedup::Verdict::Kind::duplicate) {
      const char* message = v.received_before_of ? kLinkedMessage : kDuplicateMessage;
      d.outcome = "duplicate";
      d.entries.clear();
      // The reference follows once the kept report has one (fill_duplicate_references).
      d.writeback = core::StatusUpdate{row.id, "duplicate", "", message, store::rfc3339_utc(now)};
      state_.link_duplicate(row.id, row.version, v.of_id, message, now);
      return;
    }
  }
  fill_bridge_fields(d);
}

// Holds related reports for targets with policy hold, and fills (or leaves
// without a value) the fields the bridge provides (bridge_fields.hpp).
void Ingestor::fill_bridge_fields(Decision& d) {
  const dedup::Verdict* v = d.verdict ? &*d.verdict : nullptr;
  BridgeFieldContext context;
  context.verdict = v;
  context.anonymous = !d.doc || reporter_is_anonymous(*d.doc);
  for (auto& entry : d.entries) {
    auto it = related_policy_.find(entry.target);
    context.related = it == related_policy_.end() ? dedup::RelatedPolicy::link : it->second;
    if (v && v->kind == dedup::Verdict::Kind::related && context.related == dedup::RelatedPolicy::hold)
      entry.held = "held_for_review: related to " + v->of_id + " (" + v->rule + ", score " +
                   std::to_string(v->score).substr(0, 4) + ")";
    // Most mappings declare neither field: skip the parse for them.
    if (!may_have_bridge_fields(entry.record_json)) continue;
    core::TargetRecord record;
    if (!core::from_json(entry.record_json, record)) continue;
    context.reporter_key = reporter_key_targets_.count(entry.target) != 0;
    context.reference_for = [this, &entry](const std::string& id) { return state_.reference_for(id, entry.target); };
    if (pipeline::fill_bridge_fields(record, context)) entry.record_json = core::to_json(record);
  }
}

void Ingestor::write(const core::SourceRow& row, Decision& d, std::int64_t now, IngestStats& stats) {
  deduplicate(row, d, now);
  if (d.quarantine) state_.quarantine(*d.quarantine);
  if (d.signpost && d.outcome == "queued")
    state_.set_status_hint(row.id, row.version, "needs_review", d.signpost->message);
  if (d.writeback) state_.enqueue_writeback(*d.writeback, row.version);
  if (d.outcome != "queued") state_.ledger_set_outcome(row, d.outcome);
  for (const auto& e : d.entries) state_.enqueue(e, now);
  if (d.withdrawn) ++stats.duplicates;
  if (d.outcome == "queued") {
    ++stats.queued;
    stats.records += d.entries.size();
    if (d.verdict && d.verdict->kind == dedup::Verdict::Kind::related) ++stats.related;
  } else if (d.outcome == "duplicate") {
    ++stats.duplicates;
  } else if (d.outcome == "rejected") {
    ++stats.rejected;
    spdlog::warn("ingest: seq {} id {} v{} rejected: {}", row.seq, row.id, row.version,
                 d.quarantine->detail);
  } else if (d.outcome == "unrouted") {
    ++stats.unrouted;
    spdlog::warn("ingest: seq {} id {} v{} matched no mapping", row.seq, row.id, row.version);
  } else {
    ++stats.mapping_failed;
    spdlog::warn("ingest: seq {} id {} v{} mapping '{}' failed at field '{}': {}", row.seq, row.id,
                 row.version, d.quarantine->mapping, d.quarantine->field, d.quarantine->detail);
  }
}

Ingestor::Decision Ingestor::decide(const core::SourceRow& row, std::int64_t now) const {
  Decision d;
  d.hash = core::sha256_hex(row.payload);
  const std::string at = store::rfc3339_utc(now);
  schema::PayloadCheck check = schema::check_payload(schema_, row.payload, row.id, row.version);
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
    d.writeback = core::StatusUpdate{row.id, "rejected", "", schema::resident_message(check.errors), at};
    return d;
  }
  if (dedup_) d.doc = *check.doc;
  const mapping::RoutePlan plan = mappings_->plan(*check.doc);
  d.signpost = plan.signpost;
  for (const auto& w : plan.withheld) d.withheld.push_back(w.target);
  if (plan.routes.empty()) {
    d.outcome = "unrouted";
    d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "unrouted", "",
                                          plan.withheld.empty()
                                              ? "no mapping applies to this kind/category"
                                              : "only partner targets apply, and consent to share is not given",
                                          "", now};
    d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at};
    if (d.signpost) d.writeback = core::StatusUpdate{row.id, "needs_review", "", d.signpost->message, at};
    return d;
  }
  // All targets or none: a submission whose mapping fails for one target is
  // quarantined whole, so it is never half-delivered.
  for (const auto& route : plan.routes) {
    mapping::MapResult r = mapping::apply(*route.mapping, route.target, *check.doc, row.id, row.version);
    if (r.error) {
      d.outcome = "mapping_failed";
      d.entries.clear();
      std::string detail = r.error->code + ": " + r.error->detail;
      if (!r.error->rule.empty()) detail = "rule '" + r.error->rule + "': " + detail;
      d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "mapping_failed",
                                            r.error->field, detail, r.error->mapping, now};
      d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at};
      return d;
    }
    d.entries.push_back({route.target, row.id, row.version, row.seq, route.mapping->name,
                         core::to_json(*r.record)});
  }
  // Signposted: the resident is told at once that the app is not for
  // emergencies (999) and where to call otherwise (101).
  if (d.signpost) d.writeback = core::StatusUpdate{row.id, "needs_review", "", d.signpost->message, at};
  d.outcome = "queued";
  return d;
}

}  // namespace reportbridge::pipeline
