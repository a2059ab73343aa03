#include "bridge/pipeline/ingest.hpp"

#include <spdlog/spdlog.h>

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
  seen.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto& d = decisions[i];
    seen.push_back(row.seq);
    if (!state_.ledger_claim(row, d.hash, now)) {
      ++stats.already_seen;
      continue;
    }
    write(row, d, now, stats);
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
  return stats;
}

void Ingestor::write(const core::SourceRow& row, const Decision& d, std::int64_t now,
                     IngestStats& stats) {
  if (d.quarantine) state_.quarantine(*d.quarantine);
  if (d.writeback) state_.enqueue_writeback(*d.writeback, row.version);
  if (d.outcome != "queued") state_.ledger_set_outcome(row, d.outcome);
  for (const auto& e : d.entries) state_.enqueue(e, now);
  if (d.outcome == "queued") {
    ++stats.queued;
    stats.records += d.entries.size();
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
  const auto routes = mappings_->route(*check.doc);
  if (routes.empty()) {
    d.outcome = "unrouted";
    d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "unrouted", "",
                                          "no mapping applies to this kind/category", "", now};
    d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at};
    return d;
  }
  // All targets or none: a submission whose mapping fails for one target is
  // quarantined whole, so it is never half-delivered.
  for (const auto* m : routes) {
    for (const auto& target : m->targets) {
      mapping::MapResult r = mapping::apply(*m, target, *check.doc, row.id, row.version);
      if (r.error) {
        d.outcome = "mapping_failed";
        d.entries.clear();
        d.quarantine = store::QuarantineEntry{row.seq, row.id, row.version, "mapping_failed",
                                              r.error->field, r.error->code + ": " + r.error->detail,
                                              r.error->mapping, now};
        d.writeback = core::StatusUpdate{row.id, "received", "", kUnroutedMessage, at};
        return d;
      }
      d.entries.push_back({target, row.id, row.version, row.seq, m->name, core::to_json(*r.record)});
    }
  }
  d.outcome = "queued";
  return d;
}

}  // namespace reportbridge::pipeline
