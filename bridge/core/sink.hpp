#pragma once
// The Sink interface: what every target adapter (CSV drop, XML drop, SOAP)
// implements. The dispatcher owns retries, batching decisions and state; a sink
// only renders and delivers.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/fleet_limits.hpp"
#include "bridge/core/record.hpp"

namespace reportbridge::core {

enum class DeliveryStatus {
  delivered,  // the target has it (reference set when the target issued one)
  retry,      // transient: try again later (honour retry_after when set)
  reject,     // permanent for this item: dead letter, never retried by itself
};

struct DeliveryOutcome {
  DeliveryStatus status = DeliveryStatus::retry;
  std::string reference;    // the target's reference for the record, if any
  std::string reason_code;  // small fixed set, e.g. "io_error", "attachment_mismatch"
  std::string detail;       // for operators; never resident personal data
  std::chrono::seconds retry_after{0};
  bool in_doubt = false;   // retry only: the request may have been received
  double latency_ms = -1;  // time the attempt took, when the sink measured it
  // retry only: nothing was attempted (the sink waits for something, e.g. an
  // in-doubt item's settle time): the attempt is not counted and the item is
  // offered again after retry_after, not after a backoff.
  bool deferred = false;

  static DeliveryOutcome ok(std::string reference = {}) {
    return {DeliveryStatus::delivered, std::move(reference), {}, {}, std::chrono::seconds{0}, false, -1, false};
  }
  static DeliveryOutcome fail(DeliveryStatus status, std::string code, std::string detail) {
    return {status, {}, std::move(code), std::move(detail), std::chrono::seconds{0}, false, -1, false};
  }
};

struct DeliveryItem {
  std::int64_t outbox_id = 0;
  TargetRecord record;
  // The reference this target issued for an earlier version of the same
  // submission: when set, the sink sends an update of that record, not a new one.
  std::string prior_reference;
  // True when an earlier attempt may have reached the target without the bridge
  // learning the outcome (the connection dropped after the request was sent, or
  // the bridge died mid-batch). A sink that can look a record up by its external
  // reference asks before sending again.
  bool in_doubt = false;
  int attempts = 0;  // earlier delivery attempts of this item
};

// A group of outbox items the dispatcher claimed together. `key` is unique and
// stable: if the bridge dies mid-delivery, the same batch (same key, same
// items, same order) is handed to deliver() again after restart.
struct DeliveryBatch {
  std::int64_t id = 0;
  std::string key;  // e.g. "20261127T184210Z-3fa9c1-000042"
  std::vector<DeliveryItem> items;
  // The fencing token of the claim (state stores shared by several
  // instances): settling a batch whose token is no longer current fails.
  std::int64_t fence = 0;
  // Several instances: true while this instance still holds the batch's
  // lease (not lost, and renewed recently enough by its own clock). A sink
  // checks it before each request it sends: an instance paused past its
  // lease (SIGSTOP, a VM freeze, a network cut) sends nothing more of a batch
  // another instance has taken over. Empty: always held (one instance).
  std::function<bool()> still_held;
};

// When the dispatcher should hand a target a batch.
struct BatchPolicy {
  std::size_t max_items = 1000;                 // roll when this many are pending
  std::chrono::milliseconds max_wait{5000};     // ... or when the oldest waited this long
};

// Resolves an attachment declared in a payload to a local file to read. Throws
// std::runtime_error when the path is unsafe (absolute, "..", outside the media
// root) or the file is missing. Sinks never build paths from payloads themselves.
using AttachmentLocator = std::function<std::filesystem::path(const AttachmentRef&)>;

// A record field a mapping fills from a value known only at delivery
// (`from: bridge.legacy_reference`): the sink resolves it per call, through
// the field's own transforms, default, lookup and length rules.
struct DeferredValue {
  std::optional<std::string> value;
  std::string error;  // set: the field's rules refused the value (the item is rejected)
};
struct DeferredField {
  std::string field;  // the record field
  std::function<DeferredValue(const TargetRecord& record, const std::string& legacy_reference)> resolve;
};
// Mapping name -> its deferred fields.
using DeferredFields = std::map<std::string, std::vector<DeferredField>>;

class Sink {
 public:
  virtual ~Sink() = default;

  virtual const std::string& name() const = 0;
  virtual BatchPolicy batch_policy() const = 0;

  // Pure rendering of one record exactly as the target would receive it
  // (used by `reportbridge preview` and golden tests).
  virtual std::string encode_preview(const TargetRecord& record) const = 0;
  // The same, for a sink that sends updates by reference: `prior_reference`
  // is the reference the target issued for an earlier version (the stored
  // one, or one the analyst gives; empty: none known).
  virtual std::string encode_preview_with_reference(const TargetRecord& record,
                                                    const std::string& /*prior_reference*/) const {
    return encode_preview(record);
  }

  // Delivers the batch and returns one outcome per item, in order.
  // Contract: idempotent per batch.key. If a batch with this key was already
  // delivered (the bridge died before recording the outcome), the sink must
  // not deliver it a second time; it returns the outcomes again instead.
  virtual std::vector<DeliveryOutcome> deliver(const DeliveryBatch& batch) = 0;

  // An item's outcome, as soon as it is known (`index` into batch.items).
  using OutcomeReport = std::function<void(std::size_t index, DeliveryOutcome outcome)>;
  // As deliver(), reporting each item's outcome once through `report` as
  // soon as it is known (in any order, on the thread that called
  // deliver_each), so the dispatcher settles finished items while slow calls
  // are still in flight. An item not reported when it returns is retried
  // (no_outcome). The default delivers the whole batch, then reports.
  virtual void deliver_each(const DeliveryBatch& batch, const OutcomeReport& report) {
    auto outcomes = deliver(batch);
    for (std::size_t i = 0; i < outcomes.size() && i < batch.items.size(); ++i) report(i, std::move(outcomes[i]));
  }
  // True when deliver_each reports items as they finish. The dispatcher then
  // runs it on threads of its own, settles finished items meanwhile, and
  // overlaps batches: deliver_each may then run for several batches at once.
  virtual bool reports_each() const { return false; }
  // Items the sink works on at once (e.g. connections): the dispatcher hands
  // it the next batch when fewer than this many are unfinished.
  virtual std::size_t concurrency() const { return 1; }
  // Several instances share the state (issue #16): a sink with a rate limit
  // or a connection cap takes its limits from `make` (called with them), so
  // that they hold for the whole fleet. Ignored by sinks without such limits.
  virtual void share_limits(const FleetLimitsFactory& make) { (void)make; }

  // True when the sink sends a later version of a submission as an update of
  // the record the earlier one created, using DeliveryItem::prior_reference;
  // the bridge then keeps every reference this target issues.
  virtual bool updates_by_reference() const { return false; }

  // The deferred fields of the mappings feeding this sink (set at start-up,
  // before deliver). Only sinks that send updates by reference take them;
  // `check` refuses bridge.legacy_reference for the others.
  virtual void set_deferred_fields(DeferredFields /*fields*/) {}
};

}  // namespace reportbridge::core
