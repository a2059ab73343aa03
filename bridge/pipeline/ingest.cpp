#include "bridge/pipeline/ingest.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "bridge/core/cursor.hpp"
#include "bridge/core/progress.hpp"

namespace reportbridge::pipeline {

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
    : state_(state), source_(source), settings_(settings) {
  rules_.schema = &schema;
  rules_.mappings = &mappings;
}

IngestStats Ingestor::run_batch() {
  IngestStats stats;
  const std::int64_t now = store::now_ms();
  // Only this ingestor moves the cursor, so it can be read before the write transaction.
  core::SourceCursor cursor = state_.load_cursor(source_.name());
  std::vector<core::SourceRow> rows = source_.poll(cursor, settings_.batch_size);
  stats.read = rows.size();
  std::vector<Decision> decisions;
  decisions.reserve(rows.size());
  // Decided outside the write transaction, so another thread (a dispatcher)
  // can write to the state database meanwhile.
  for (const auto& row : rows) {
    decisions.push_back(decide(rules_, row, now));
    core::progress();  // per row: a slow batch is not a stuck one (the watchdog, bridge/runner)
  }

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
    core::progress();
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
  for (const auto& route : d.routes) {
    e.kind = core::EventKind::mapped;
    e.mapping = route.mapping->name;
    e.target = route.target;
    e.detail = route.held;
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

void Ingestor::write(const core::SourceRow& row, Decision& d, std::int64_t now, IngestStats& stats) {
  // Inside the batch transaction, after the ledger claim (so each version is
  // judged once): double submissions are recorded and not sent again; related
  // reports follow each target's policy.
  std::optional<dedup::Verdict> verdict;
  if (dedup_ && d.outcome == "queued" && d.doc) verdict = dedup_->check_and_record(*d.doc, row);
  judge(rules_, d, std::move(verdict),
        [this](const std::string& id, const std::string& target) { return state_.reference_for(id, target); }, row,
        now);
  if (d.quarantine) state_.quarantine(*d.quarantine);
  if (d.signpost && d.outcome == "queued")
    state_.set_status_hint(row.id, row.version, "needs_review", d.signpost->message);
  if (d.writeback) state_.enqueue_writeback(*d.writeback, row.version);
  if (d.outcome != "queued") state_.ledger_set_outcome(row, d.outcome);
  for (const auto& r : d.routes)
    state_.enqueue({r.target, row.id, row.version, row.seq, r.mapping->name, r.record_json, r.held}, now);
  if (d.outcome == "queued") {
    ++stats.queued;
    stats.records += d.routes.size();
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

}  // namespace reportbridge::pipeline
