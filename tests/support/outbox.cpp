#include "tests/support/outbox.hpp"

#include <deque>
#include <stdexcept>

#include "bridge/store/record_codec.hpp"

namespace reportbridge::testing {

void queue(store::StateStore& state, const core::SourceRow& row, const std::vector<Queued>& records,
           std::int64_t now_ms, std::optional<store::StatusHint> hint) {
  auto tx = state.begin_ingest();
  if (!tx->claim_version(row, "hash", now_ms)) throw std::logic_error("queue: version already in the ledger");
  std::deque<std::vector<std::string>> names;
  std::deque<std::string> values;
  store::QueuedVersion v;
  v.row = &row;
  v.hint = std::move(hint);
  for (const auto& q : records) {
    auto& n = names.emplace_back();
    for (const auto& f : q.record.fields) n.push_back(f.name);
    auto& bytes = values.emplace_back();
    store::codec::put_values(bytes, q.record);
    v.records.push_back({q.record.target, q.record.mapping, &n, bytes, q.held});
  }
  tx->queue_version(v, now_ms);
  tx->commit();
}

core::TargetRecord ref_record(const std::string& id, std::int64_t version, const std::string& target) {
  return core::TargetRecord{id, version, std::string("m"), target, {core::RecordField{"Ref", id}}, {}};
}

}  // namespace reportbridge::testing
