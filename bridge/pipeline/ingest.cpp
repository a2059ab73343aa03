#include "bridge/pipeline/ingest.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>

#include "bridge/core/cursor.hpp"
#include "bridge/core/progress.hpp"
#include "bridge/store/record_codec.hpp"

namespace reportbridge::pipeline {

namespace {
// About 2.5 MiB of payloads and their decisions at the shipped mappings' sizes.
constexpr std::size_t kMaxBatchRows = 1000;
}  // namespace

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
  rules_.field_names = field_names_of(mappings);
}

IngestStats Ingestor::run_batch() {
  IngestStats stats;
  const std::int64_t now = store::now_ms();
  // Only this ingestor moves the cursor, so it can be read before the write transaction.
  core::SourceCursor cursor = state_.load_cursor(source_.name());
  // A batch is at most kMaxBatchRows rows, whatever `batch_size` says: what
  // a batch holds in memory (its rows and their decisions) stays bounded.
  std::vector<core::SourceRow> rows = source_.poll(cursor, std::min(settings_.batch_size, kMaxBatchRows));
  stats.read = rows.size();
  // Kept from batch to batch (cleared, not freed): a batch's decisions take
  // about 1.2 MB, which the allocator would otherwise map and fault in anew.
  std::vector<Decision>& decisions = decisions_;
  decisions.clear();
  decisions.reserve(rows.size());
  // Decided outside the write transaction, so another thread (a dispatcher)
  // can write to the state database meanwhile.
  if (!rules_.field_names) rules_.field_names = field_names_of(*rules_.mappings);
  for (auto& row : rows) {
    decide_into(rules_, row, now, decisions.emplace_back());
    // The payload is not needed once decided (memory: a batch of them).
    std::string().swap(row.payload);
    core::progress();  // per row: a slow batch is not a stuck one (the watchdog, bridge/runner)
  }

  auto tx = state_.begin_ingest();
  tx->will_claim(rows);
  std::vector<std::int64_t> seen;
  std::vector<std::size_t> claimed;
  std::deque<std::vector<std::string>> names;  // field names of records kept whole (alive until commit)
  seen.reserve(rows.size());
  claimed.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto& d = decisions[i];
    seen.push_back(row.seq);
    if (!tx->claim_version(row, d.hash, now)) {
      ++stats.already_seen;
      continue;
    }
    claimed.push_back(i);
    write(*tx, row, decisions[i], now, stats, names);
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
  if (stats.read > 0 || stats.expired_gaps > 0) tx->save_cursor(source_.name(), cursor);
  tx->commit();
  tx.reset();
  if (events_ && !claimed.empty()) {
    publish(rows, decisions, claimed, now);
    events_->flush();
  }
  decisions.clear();  // (their strings and trees go now, the vector's room stays)
  return stats;
}

void Ingestor::publish(const std::vector<core::SourceRow>& rows, const std::vector<Decision>& decisions,
                       const std::vector<std::size_t>& claimed, std::int64_t now) const {
  // The common path as batch events (one audit entry each): collected,
  // validated, and mapped per mapping and target. What is particular to a
  // submission (rejected, a dedup verdict, signposting, quarantine, withheld)
  // stays an event of its own, between validated and mapped.
  std::vector<std::string> details;
  details.reserve(claimed.size());
  core::EventBatch collected;
  collected.kind = core::EventKind::collected;
  collected.at_ms = now;
  core::EventBatch validated = collected;
  validated.kind = core::EventKind::validated;
  collected.items.reserve(claimed.size());
  validated.items.reserve(claimed.size());
  for (auto i : claimed) {
    details.push_back("seq " + std::to_string(rows[i].seq) + ", sha256 " + decisions[i].hash);
    collected.items.push_back({rows[i].id, rows[i].version, {}, details.back(), -1});
    if (decisions[i].outcome != "rejected") validated.items.push_back({rows[i].id, rows[i].version, {}, {}, -1});
  }
  events_->on_batch(collected);
  events_->on_batch(validated);
  // mapped: one batch per (mapping, target), in order of first appearance.
  std::vector<core::EventBatch> mapped;
  for (auto i : claimed) {
    const auto& row = rows[i];
    const auto& d = decisions[i];
    publish_particular(row, d, now);
    if (d.outcome != "queued") continue;
    for (const auto& route : d.routes) {
      core::EventBatch* b = nullptr;
      for (auto& m : mapped)
        if (m.mapping == route.mapping->name && m.target == route.target) b = &m;
      if (!b) {
        mapped.emplace_back();
        b = &mapped.back();
        b->kind = core::EventKind::mapped;
        b->at_ms = now;
        b->mapping = route.mapping->name;
        b->target = route.target;
      }
      b->items.push_back({row.id, row.version, {}, route.held, -1});
    }
  }
  for (const auto& b : mapped) events_->on_batch(b);
}

void Ingestor::publish_particular(const core::SourceRow& row, const Decision& d, std::int64_t now) const {
  // Each event is built only when it is sent: most submissions have nothing
  // of their own to tell.
  auto event = [&](core::EventKind kind) {
    core::Event e;
    e.at_ms = now;
    e.submission_id = row.id;
    e.version = row.version;
    e.kind = kind;
    return e;
  };
  if (d.outcome == "rejected") {
    auto e = event(core::EventKind::rejected);
    e.reason_code = d.quarantine->reason_code;
    e.detail = d.quarantine->detail;
    events_->on_event(e);
    return;
  }
  if (d.withdrawn) {
    // The later copy, ingested first and withdrawn before it left.
    auto w = event(core::EventKind::duplicate);
    w.submission_id = d.withdrawn_id;
    w.version = 1;
    w.related_id = row.id;
    w.rule = d.withdrawn->rule;
    w.detail = d.withdrawn->explanation;
    events_->on_event(w);
  }
  if (d.verdict && (d.verdict->kind == dedup::Verdict::Kind::duplicate ||
                    d.verdict->kind == dedup::Verdict::Kind::related)) {
    auto e = event(d.verdict->kind == dedup::Verdict::Kind::duplicate ? core::EventKind::duplicate
                                                                      : core::EventKind::related);
    e.related_id = d.verdict->of_id;
    e.rule = d.verdict->rule;
    e.detail = d.verdict->explanation;
    events_->on_event(e);
    if (d.outcome == "duplicate") return;
  }
  if (d.signpost) {
    auto e = event(core::EventKind::needs_review);
    e.rule = d.signpost->rule;
    e.target = d.signpost->review_target;
    e.detail = "signposted: resident told to call 999 in an emergency, 101 otherwise";
    events_->on_event(e);
  }
  if (d.outcome == "unrouted" || d.outcome == "mapping_failed") {
    auto e = event(d.outcome == "unrouted" ? core::EventKind::unrouted : core::EventKind::mapping_failed);
    e.reason_code = d.quarantine->reason_code;
    e.mapping = d.quarantine->mapping;
    e.detail = d.quarantine->field.empty() ? d.quarantine->detail
                                           : "field " + d.quarantine->field + ": " + d.quarantine->detail;
    events_->on_event(e);
    return;
  }
  for (const auto& target : d.withheld) {
    auto e = event(core::EventKind::withheld);
    e.target = target;
    e.rule = "partner_consent";
    e.reason_code = "no_consent";
    e.detail = "partner target not sent: consent.share_with_partners is not true";
    events_->on_event(e);
  }
}

// The first received copy wins whatever the ingest order (docs/deduplication.md):
// a verdict that found a later copy ingested first withdraws that copy when it
// has not left yet, and this one is judged again without it; otherwise this
// one stays a duplicate linked to it (a record is never sent twice).
void Ingestor::supersede(store::IngestTransaction& tx, const core::SourceRow& row, Decision& d, dedup::Verdict& v,
                         std::int64_t now) {
  if (v.kind != dedup::Verdict::Kind::duplicate || !v.received_before_of || v.replayed) return;
  // One savepoint: the later copy's records and its dedup rows go, or neither.
  tx.begin_savepoint();
  std::optional<dedup::Superseded> swapped;
  try {
    if (tx.withdraw_unsent(v.of_id)) swapped = dedup_->supersede(*d.doc, row);
  } catch (...) {
    tx.end_savepoint(false);
    dedup_->reload_window();
    throw;
  }
  if (!swapped) {
    tx.end_savepoint(false);
    dedup_->reload_window();
    return;
  }
  tx.end_savepoint(true);
  const std::string later = swapped->later_id;
  tx.link_duplicate(later, 1, row.id, kDuplicateMessage, now);
  tx.relink_duplicates(later, row.id);
  tx.queue_status({later, "duplicate", "", kDuplicateMessage, store::rfc3339_utc(now)}, 1);
  d.withdrawn = std::move(swapped->later_verdict);
  d.withdrawn_id = later;
  v = std::move(swapped->verdict);
}

void Ingestor::write(store::IngestTransaction& tx, const core::SourceRow& row, Decision& d, std::int64_t now,
                     IngestStats& stats, std::deque<std::vector<std::string>>& names) {
  // Inside the batch transaction, after the ledger claim (so each version is
  // judged once): double submissions are recorded and not sent again; related
  // reports follow each target's policy.
  std::optional<dedup::Verdict> verdict;
  if (dedup_ && d.outcome == "queued" && d.doc) {
    verdict = dedup_->check_and_record(*d.doc, row);
    supersede(tx, row, d, *verdict, now);
  }
  judge(rules_, d, verdict,
        [&tx](const std::string& id, const std::string& target) { return tx.reference_for(id, target); }, row, now);
  // A duplicate keeps a link to the report kept for it: its status gets that
  // report's reference once it has one, and its edits update that record.
  std::string update_of;
  if (verdict && d.outcome == "duplicate")
    tx.link_duplicate(row.id, row.version, verdict->of_id, d.writeback->message, now);
  else if (verdict && verdict->kind == dedup::Verdict::Kind::update)
    update_of = tx.kept_for(row.id).value_or("");
  if (d.quarantine) tx.quarantine(*d.quarantine);
  if (d.writeback) tx.queue_status(*d.writeback, row.version);
  if (d.outcome != "queued") tx.set_outcome(row, d.outcome);
  if (d.outcome == "queued" && !d.routes.empty()) {
    store::QueuedVersion v;
    v.row = &row;
    v.update_of = update_of;
    if (d.signpost) v.hint = store::StatusHint{"needs_review", d.signpost->message};
    v.records.reserve(d.routes.size());
    for (const auto& r : d.routes) {
      const std::vector<std::string>* field_names = r.field_names;
      if (!field_names) {
        // A record kept whole (no names known for its mapping): its own.
        auto& n = names.emplace_back();
        for (const auto& f : r.record->fields) n.push_back(f.name);
        field_names = &n;
      }
      v.records.push_back({r.target, r.mapping->name, field_names, r.values, r.held});
    }
    tx.queue_version(v, now);
  }
  if (d.withdrawn) ++stats.duplicates;
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
