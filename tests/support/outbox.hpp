#pragma once
// Queues records for delivery through the state store's ingest interface, as
// the ingest step does (one transaction per call), for tests of the outbox.
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/core/source.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::testing {

struct Queued {
  core::TargetRecord record;
  std::string held;  // non-empty: queued as a dead letter held for review
};

// Claims (row.id, row.version) in the ledger (it must be new) and queues
// `records` (their target and mapping name the log), with an optional status
// hint, enqueued at `now_ms`.
void queue(store::StateStore& state, const core::SourceRow& row, const std::vector<Queued>& records,
           std::int64_t now_ms, std::optional<store::StatusHint> hint = std::nullopt);

// A record {"Ref": id} for `target` made by mapping "m".
core::TargetRecord ref_record(const std::string& id, std::int64_t version, const std::string& target);

}  // namespace reportbridge::testing
