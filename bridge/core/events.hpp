#pragma once
// Lifecycle events of a submission, published by the pipeline after the state
// change they describe has been committed. The audit trail and the metrics are
// listeners; neither may throw back into the pipeline or block it for long.
//
// Events never carry resident personal data: ids, versions, names of mappings,
// rules and targets, references issued by targets, fixed reason codes, and
// operator-facing details that never echo submitted values.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace reportbridge::core {

enum class EventKind {
  collected,     // read from the source (new id/version)
  validated,     // passed the submission schema
  rejected,      // failed the schema: quarantined, `rejected` written back
  mapped,        // a mapping made a record for `target`; queued for delivery
  unrouted,      // no mapping applies: quarantined, visible in status
  mapping_failed,// a mapping failed (rule/field named in detail): quarantined
  needs_review,  // a signposting rule matched (rule named)
  duplicate,     // judged a double submission of `related_id` (score/rule in detail)
  related,       // linked to an earlier report `related_id` of the same incident
  delivered,     // disclosed to `target`; `reference` is the target's reference
  retry,         // a delivery attempt to `target` failed transiently
  dead,          // delivery to `target` failed permanently or retries exhausted
  replayed,      // a dead letter re-queued for `target` by an operator
  written_back,  // a status was written back to the app (`detail` holds the state)
  erased,        // personal data purged from the state database (retention)
  withheld,      // a partner `target` was not sent the submission: no consent to share
};

std::string_view to_string(EventKind kind);

struct Event {
  EventKind kind = EventKind::collected;
  std::int64_t at_ms = 0;  // Unix ms
  std::string submission_id;
  std::int64_t version = 0;
  std::string mapping;      // mapping name, when one applies
  std::string rule;         // rule name (routing, privacy, signposting, dedup)
  std::string target;       // target name, for per-target events
  std::string reference;    // target's reference (delivered) or related report
  std::string related_id;   // duplicate/related: the earlier submission's id
  std::string reason_code;  // fixed small vocabulary, e.g. "invalid_payload", "http_503"
  std::string detail;       // operator-facing, never submitted values
  double latency_ms = -1;   // delivered/retry/dead: time the attempt took (-1: unknown)
};

// Many submissions that met the same event together (a batch collected,
// validated, mapped for one target, delivered to one target, written back):
// one call, and one audit entry, instead of one per submission. The common
// fields are the batch's; each item names a submission version and what is
// its own. The views stay valid for the duration of the call only.
struct EventBatch {
  EventKind kind = EventKind::collected;
  std::int64_t at_ms = 0;
  std::string_view mapping, rule, target, reason_code, detail;
  struct Item {
    std::string_view submission_id;
    std::int64_t version = 0;
    std::string_view reference;  // delivered: the target's reference
    std::string_view detail;     // the item's own detail (collected: seq and sha256; written_back: state)
    double latency_ms = -1;
  };
  std::vector<Item> items;

  // The event of one item, as on_event would have been given it.
  Event event(const Item& item) const;
};

class EventListener {
 public:
  virtual ~EventListener() = default;
  // Called from the ingest, delivery and write-back threads, possibly at once:
  // implementations synchronise themselves. Must not throw.
  virtual void on_event(const Event& event) noexcept = 0;
  // A batch of events of one kind. By default each item is passed to on_event.
  virtual void on_batch(const EventBatch& batch) noexcept {
    for (const auto& item : batch.items) on_event(batch.event(item));
  }
  // End of a batch: a chance to write buffered events out together.
  virtual void flush() noexcept {}
};

// Fans events out to the listeners registered at start-up.
class EventBus final : public EventListener {
 public:
  void add(std::shared_ptr<EventListener> listener) { listeners_.push_back(std::move(listener)); }
  bool empty() const { return listeners_.empty(); }
  void on_event(const Event& event) noexcept override {
    for (auto& l : listeners_) l->on_event(event);
  }
  void on_batch(const EventBatch& batch) noexcept override {
    if (batch.items.empty()) return;
    for (auto& l : listeners_) l->on_batch(batch);
  }
  void flush() noexcept override {
    for (auto& l : listeners_) l->flush();
  }

 private:
  std::vector<std::shared_ptr<EventListener>> listeners_;
};

}  // namespace reportbridge::core
