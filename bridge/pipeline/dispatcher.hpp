#pragma once
// Dispatch: hand each target its due outbox items in batches, settle the
// outcomes, and recover batches a crash left open (re-delivered under the
// same key, which every sink handles idempotently).
#include <cstdint>
#include <string>
#include <vector>

#include "bridge/core/sink.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

struct DispatchStats {
  std::size_t batches = 0;
  std::size_t delivered = 0;
  std::size_t retried = 0;
  std::size_t rejected = 0;
  std::size_t recovered_batches = 0;
};

class Dispatcher {
 public:
  explicit Dispatcher(store::StateStore& state) : state_(state) {}

  void add_target(core::Sink& sink, store::RetryPolicy retry, store::WritebackRule rule);

  // Re-delivers every batch left open by a crash. Call once at start-up.
  DispatchStats recover();
  // Delivers due items per target: full batches always; partial ones when the
  // oldest item has waited max_wait, or when `flush` is set (once, shutdown).
  DispatchStats dispatch(bool flush);

 private:
  struct Target {
    core::Sink* sink;
    store::RetryPolicy retry;
    store::WritebackRule rule;
  };
  void deliver(Target& target, const core::DeliveryBatch& batch, DispatchStats& stats);

  store::StateStore& state_;
  std::vector<Target> targets_;
};

}  // namespace reportbridge::pipeline
