#pragma once
// Dispatch: hand each target its due outbox items in batches, settle the
// outcomes, and recover batches a crash left open (re-delivered under the
// same key, with every item marked in doubt, which every sink handles
// idempotently). A target that keeps failing trips its circuit breaker: it is
// left alone for a cooldown, then probed with one item before batches resume.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/events.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::pipeline {

struct DispatchStats {
  std::size_t batches = 0;
  std::size_t delivered = 0;
  std::size_t retried = 0;
  std::size_t rejected = 0;
  std::size_t recovered_batches = 0;
  std::size_t skipped_open_circuits = 0;
};

struct CircuitPolicy {
  int failures = 5;
  std::chrono::milliseconds cooldown{30'000};
  std::chrono::milliseconds max_cooldown{600'000};
};

class Dispatcher {
 public:
  // A target's reference is cleaned of control characters and kept to this
  // many bytes (it reaches the resident's app); an error detail to kMaxDetailBytes.
  static constexpr std::size_t kMaxReferenceBytes = 256;
  static constexpr std::size_t kMaxDetailBytes = 1024;
  // A sink that reports items as they finish (core::Sink::reports_each) has
  // them settled in groups of up to this many, or of what finished within
  // kSettleEvery of the first (one state transaction per group).
  static constexpr std::size_t kSettleGroup = 256;
  static constexpr std::chrono::milliseconds kSettleEvery{10};
  // Batches of one target in flight at once (each on a thread of its own).
  static constexpr std::size_t kMaxBatchesInFlight = 4;

  explicit Dispatcher(store::StateStore& state, core::EventListener* events = nullptr)
      : state_(state), events_(events) {}

  // `max_batch_bytes`: a claim takes at most about this many bytes of encoded
  // records (what the batch holds in memory), even below the sink's batch size.
  void add_target(core::Sink& sink, store::RetryPolicy retry, store::WritebackRule rule,
                  CircuitPolicy circuit = {}, std::size_t max_batch_bytes = store::ClaimLimits{}.max_bytes);

  // Re-delivers every batch left open by a crash. Call once at start-up
  // (the daemon does so on the target's delivery thread, beside ingest).
  DispatchStats recover();
  // Delivers due items per target: full batches always; partial ones when the
  // oldest item has waited max_wait, or when `flush` is set (once, shutdown).
  DispatchStats dispatch(bool flush);
  // When dispatch() next has something to do without new items (Unix ms):
  // a full batch (now), the oldest item's max_wait, the next retry, or an open
  // circuit's probe time. nullopt: nothing is waiting. A daemon sleeps until
  // then, or until new items are queued.
  std::optional<std::int64_t> next_due_ms(std::int64_t now_ms);

  // Set: dispatch() returns after the batch in hand (a stopping daemon).
  void set_stop_flag(const std::atomic<bool>* stop) { stop_ = stop; }

  // Circuit state of every target, as last saved (also in the state database).
  std::vector<store::TargetHealth> health() const;

 private:
  struct Target {
    core::Sink* sink;
    store::RetryPolicy retry;
    store::WritebackRule rule;
    CircuitPolicy circuit;
    std::size_t max_batch_bytes;
    store::TargetHealth health;
    std::chrono::milliseconds current_cooldown{0};
  };
  // Returns true when nothing was delivered and something is to be retried
  // (the caller stops this target's round and lets the backoff work). It
  // counts against the target's circuit only when a retry is the target's
  // doing: an attachment the source could not supply (attachment_unavailable)
  // is not.
  bool deliver(Target& target, core::DeliveryBatch batch, DispatchStats& stats);
  // What one batch came to, over its settled groups.
  struct Tally {
    std::size_t delivered = 0, retried = 0, rejected = 0;
    std::size_t target_retried = 0;  // retries the target is to blame for
    std::string last_error;
    std::string auth_error;  // the target refused the credentials
  };
  // False when the batch was taken over by another instance (nothing recorded).
  bool settle_group(Target& target, const core::DeliveryBatch& batch, const std::vector<std::size_t>& which,
                    std::vector<core::DeliveryOutcome>& outcomes, bool whole, double batch_ms, Tally& tally);
  // Batches of a sink that reports items as they finish: `first` (if any),
  // then, with `claim`, more as connections free up; settled as items finish.
  void fly(Target& target, std::optional<core::DeliveryBatch> first, bool claim, std::size_t max_items, bool flush,
           DispatchStats& stats, bool* failing);
  bool finish_batch(Target& target, const core::DeliveryBatch& batch, const Tally& tally, DispatchStats& stats);
  bool streams(const Target& target) const;
  std::optional<core::DeliveryBatch> next_batch(Target& target, std::size_t max_items, bool flush);
  static void bound_untrusted(const Target& target, std::vector<core::DeliveryOutcome>& outcomes);
  void fill_duplicate_references();
  // `open_now`: the target refused the bridge's credentials (auth_failed):
  // the circuit opens at once, so no more batches hammer it until the probe.
  void record_result(Target& target, bool failed, const std::string& error, std::int64_t now, bool open_now = false);

  store::StateStore& state_;
  core::EventListener* events_;
  const std::atomic<bool>* stop_ = nullptr;
  std::vector<Target> targets_;
};

}  // namespace reportbridge::pipeline
