#pragma once
// Ingest: poll the source, validate, map and enqueue, in ONE state transaction
// per batch (cursor, ledger, quarantine, outbox and write-backs together), so a
// crash anywhere repeats or loses nothing.
#include <chrono>
#include <deque>
#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/events.hpp"
#include "bridge/core/source.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/pipeline/decision.hpp"
#include "bridge/schema/submission_schema.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

struct IngestSettings {
  std::size_t batch_size = 1000;
  std::chrono::milliseconds late_row_window{600'000};
};

struct IngestStats {
  std::size_t read = 0;          // rows returned by the source
  std::size_t already_seen = 0;  // (id, version) in the ledger: skipped
  std::size_t queued = 0;        // submissions mapped and queued for delivery
  std::size_t records = 0;       // target records queued (one per target)
  std::size_t rejected = 0;      // invalid payloads (quarantined, `rejected` written back)
  std::size_t mapping_failed = 0;
  std::size_t unrouted = 0;
  std::size_t duplicates = 0;    // double submissions: recorded, not sent again
  std::size_t related = 0;       // linked to an earlier report of the same incident
  std::size_t late_rows = 0;     // rows found in a gap (committed out of seq order)
  std::size_t expired_gaps = 0;
  std::int64_t high_water = 0;
  std::size_t open_gaps = 0;

  IngestStats& operator+=(const IngestStats& o);
};

class Ingestor {
 public:
  Ingestor(store::StateStore& state, core::Source& source, const schema::SubmissionSchema& schema,
           const mapping::MappingSet& mappings, IngestSettings settings);

  // One poll and one transaction. Returns what happened (read == 0: idle).
  IngestStats run_batch();

  // Swaps the mapping set (SIGHUP reload); takes effect from the next batch.
  void set_mappings(const mapping::MappingSet& mappings) {
    rules_.mappings = &mappings;
    rules_.field_names = field_names_of(mappings);
  }
  // Lifecycle events (collected, validated, rejected, mapped, ...) go here
  // after each batch commits.
  void set_events(core::EventListener* events) { events_ = events; }
  // Deduplication on the ingest connection (inside the batch transaction);
  // `related` says per target what happens to a related report (default link);
  // `reporter_key_targets` get the reporter's pseudonymous key.
  //
  // Fields the bridge fills (a mapping declares them with `default: ""`):
  //   RelatedReference  related report, policy link: the target's reference
  //                     for the first report (else its id);
  //   ReporterKey       targets in reporter_key_targets, reporter not anonymous:
  //                     the key ("rk-...") shared by that person's reports.
  // Otherwise they get no value (an empty CSV cell, no XML element).
  void set_dedup(dedup::Deduplicator* dedup, std::map<std::string, dedup::RelatedPolicy> related,
                 std::set<std::string> reporter_key_targets = {}) {
    dedup_ = dedup;
    rules_.dedup = dedup != nullptr;
    rules_.related = std::move(related);
    rules_.reporter_key_targets = std::move(reporter_key_targets);
  }

 private:
  // Each row is decided by pipeline::decide (decision.hpp), the code
  // `reportbridge preview` runs too.
  void write(store::IngestTransaction& tx, const core::SourceRow& row, Decision& decision, std::int64_t now,
             IngestStats& stats, std::deque<std::vector<std::string>>& names);
  // Lifecycle events of a committed batch: collected, validated and mapped as
  // batch events; what is particular to a submission as its own events.
  void publish(const std::vector<core::SourceRow>& rows, const std::vector<Decision>& decisions,
               const std::vector<std::size_t>& claimed, std::int64_t now) const;
  void publish_particular(const core::SourceRow& row, const Decision& decision, std::int64_t now) const;
  void supersede(store::IngestTransaction& tx, const core::SourceRow& row, Decision& decision,
                 dedup::Verdict& verdict, std::int64_t now);

  store::StateStore& state_;
  core::Source& source_;
  DecisionRules rules_;
  IngestSettings settings_;
  core::EventListener* events_ = nullptr;
  dedup::Deduplicator* dedup_ = nullptr;
  std::vector<Decision> decisions_;  // the batch's, reused (run_batch)
};

}  // namespace reportbridge::pipeline
