#include "bridge/pipeline/dispatcher.hpp"

#include <spdlog/spdlog.h>

namespace reportbridge::pipeline {

void Dispatcher::add_target(core::Sink& sink, store::RetryPolicy retry, store::WritebackRule rule) {
  targets_.push_back({&sink, retry, std::move(rule)});
}

void Dispatcher::deliver(Target& target, const core::DeliveryBatch& batch, DispatchStats& stats) {
  std::vector<core::DeliveryOutcome> outcomes;
  try {
    outcomes = target.sink->deliver(batch);
  } catch (const std::exception& e) {
    // A sink should answer retry itself; an exception is treated the same way.
    spdlog::error("dispatch: target {} batch {} threw: {}", target.sink->name(), batch.key, e.what());
    outcomes.assign(batch.items.size(),
                    core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "sink_exception", e.what()));
  }
  std::size_t delivered = 0, retried = 0, rejected = 0;
  for (const auto& o : outcomes) {
    switch (o.status) {
      case core::DeliveryStatus::delivered: ++delivered; break;
      case core::DeliveryStatus::retry: ++retried; break;
      case core::DeliveryStatus::reject: ++rejected; break;
    }
  }
  state_.settle_batch(batch, outcomes, store::now_ms(), target.retry, target.rule);
  ++stats.batches;
  stats.delivered += delivered;
  stats.retried += retried;
  stats.rejected += rejected;
  spdlog::info("dispatch: target {} batch {} items={} delivered={} retry={} rejected={}",
               target.sink->name(), batch.key, batch.items.size(), delivered, retried, rejected);
}

DispatchStats Dispatcher::recover() {
  DispatchStats stats;
  for (auto& target : targets_) {
    for (const auto& batch : state_.open_batches(target.sink->name())) {
      spdlog::info("dispatch: target {} recovering batch {} left open by a previous run",
                   target.sink->name(), batch.key);
      deliver(target, batch, stats);
      ++stats.recovered_batches;
    }
  }
  return stats;
}

DispatchStats Dispatcher::dispatch(bool flush) {
  DispatchStats stats;
  for (auto& target : targets_) {
    const auto policy = target.sink->batch_policy();
    for (;;) {
      const std::int64_t now = store::now_ms();
      auto summary = state_.pending_summary(target.sink->name(), now, policy.max_items);
      if (summary.ready == 0) break;
      const bool full = static_cast<std::size_t>(summary.ready) >= policy.max_items;
      const bool old = summary.oldest_enqueued_ms <= now - policy.max_wait.count();
      if (!full && !old && !flush) break;
      auto batch = state_.claim_batch(target.sink->name(), policy.max_items, now);
      if (!batch) continue;  // only unreadable items: they went to dead letters
      deliver(target, *batch, stats);
    }
  }
  return stats;
}

}  // namespace reportbridge::pipeline
