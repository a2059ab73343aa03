#include "bridge/pipeline/dispatcher.hpp"

#include "bridge/core/untrusted_text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "bridge/core/progress.hpp"

namespace reportbridge::pipeline {

void Dispatcher::add_target(core::Sink& sink, store::RetryPolicy retry, store::WritebackRule rule,
                            CircuitPolicy circuit, std::size_t max_batch_bytes) {
  state_.set_writeback_rule(sink.name(), rule);
  Target t{&sink, retry, std::move(rule), circuit, max_batch_bytes, {}, circuit.cooldown};
  t.health.target = sink.name();
  // A circuit left open by the previous run stays open until its probe time.
  for (const auto& h : state_.target_health())
    if (h.target == sink.name()) t.health = h;
  targets_.push_back(std::move(t));
}

std::vector<store::TargetHealth> Dispatcher::health() const {
  std::vector<store::TargetHealth> out;
  for (const auto& t : targets_) out.push_back(t.health);
  return out;
}

void Dispatcher::record_result(Target& t, bool failed, const std::string& error, std::int64_t now, bool open_now) {
  auto& h = t.health;
  const std::string before = h.circuit;
  if (!failed) {
    h.consecutive_failures = 0;
    h.circuit = "closed";
    h.opened_ms = h.retry_at_ms = 0;
    t.current_cooldown = t.circuit.cooldown;
  } else {
    ++h.consecutive_failures;
    h.last_error = error;
    if (h.circuit == "half_open") {
      // The probe failed: wait longer before the next one.
      t.current_cooldown = std::min(t.current_cooldown * 2, t.circuit.max_cooldown);
      h.circuit = "open";
      h.retry_at_ms = now + t.current_cooldown.count();
    } else if (h.circuit == "closed" && (open_now || h.consecutive_failures >= t.circuit.failures)) {
      h.circuit = "open";
      h.opened_ms = now;
      h.retry_at_ms = now + t.current_cooldown.count();
    }
  }
  if (h.circuit != before) {
    if (h.circuit == "open")
      spdlog::warn("dispatch: target {} circuit open after {} failed batches; next probe in {} ms ({})",
                   t.sink->name(), h.consecutive_failures, h.retry_at_ms - now, error);
    else
      spdlog::info("dispatch: target {} circuit {}", t.sink->name(), h.circuit);
  }
  if (h.circuit != before || failed) state_.save_target_health(h, now);
}

// What a target answers is untrusted: a reference is stored, shown in `status`
// and the audit trail, and written back to the resident's app, so it is
// cleaned (no control characters, white space collapsed) and capped at
// kMaxReferenceBytes; an error detail is capped at kMaxDetailBytes.
void Dispatcher::bound_untrusted(const Target& target, std::vector<core::DeliveryOutcome>& outcomes) {
  for (auto& o : outcomes) {
    if (!o.reference.empty()) {
      std::string clean = core::clean_reference(o.reference, kMaxReferenceBytes);
      if (clean != o.reference)
        spdlog::warn("dispatch: target {} returned a reference of {} bytes with control characters or over {} "
                     "bytes; kept as {} bytes of printable text",
                     target.sink->name(), o.reference.size(), kMaxReferenceBytes, clean.size());
      o.reference = std::move(clean);
    }
    if (o.detail.size() > kMaxDetailBytes) {
      std::size_t cut = kMaxDetailBytes;
      while (cut > 0 && (static_cast<unsigned char>(o.detail[cut]) & 0xC0) == 0x80) --cut;  // whole characters
      o.detail.resize(cut);
      o.detail += "... (cut)";
    }
  }
}

bool Dispatcher::deliver(Target& target, const core::DeliveryBatch& batch, DispatchStats& stats) {
  std::vector<core::DeliveryOutcome> outcomes;
  const auto started = std::chrono::steady_clock::now();
  core::progress();  // the watchdog's heartbeat (sinks report progress inside long batches too)
  try {
    outcomes = target.sink->deliver(batch);
  } catch (const std::exception& e) {
    // A sink should answer retry itself; an exception is treated the same way.
    spdlog::error("dispatch: target {} batch {} threw: {}", target.sink->name(), batch.key, e.what());
    outcomes.assign(batch.items.size(),
                    core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "sink_exception", e.what()));
  }
  const double batch_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  bound_untrusted(target, outcomes);
  const std::int64_t now = store::now_ms();
  core::progress();
  try {
    state_.settle_batch(batch, outcomes, now, target.retry, target.rule);
  } catch (const store::LeaseLost& e) {
    // Several instances: the batch's lease ran out and another instance took
    // it over (it delivers it again under the same key and records the outcome).
    spdlog::warn("dispatch: target {} batch {}: {}", target.sink->name(), batch.key, e.what());
    return false;
  }

  std::size_t delivered = 0, retried = 0, rejected = 0;
  // Retries the target is to blame for: an attachment the source could not
  // supply (attachment_unavailable) says nothing about the target's health.
  std::size_t target_retried = 0;
  std::string last_error;
  // Deliveries as batch events (one per mapping: one audit entry each);
  // retries and dead letters as events of their own.
  std::vector<core::EventBatch> delivered_events;
  std::vector<std::string> details;  // "updated <reference>" of updates (alive until published)
  details.reserve(batch.items.size());
  std::string auth_error;  // the target refused the credentials
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    static const core::DeliveryOutcome kMissing = core::DeliveryOutcome::fail(
        core::DeliveryStatus::retry, "no_outcome", "sink returned fewer outcomes than items");
    const auto& o = i < outcomes.size() ? outcomes[i] : kMissing;
    const auto& item = batch.items[i];
    const double latency = o.latency_ms >= 0 ? o.latency_ms : batch_ms;
    if (o.status == core::DeliveryStatus::delivered) {
      ++delivered;
      if (!events_) continue;
      core::EventBatch* b = nullptr;
      for (auto& d : delivered_events)
        if (d.mapping == item.record.mapping) b = &d;
      if (!b) {
        delivered_events.emplace_back();
        b = &delivered_events.back();
        b->kind = core::EventKind::delivered;
        b->at_ms = now;
        b->mapping = item.record.mapping;
        b->target = target.sink->name();
        b->detail = "created";
        b->items.reserve(batch.items.size());
      }
      std::string_view detail;
      if (!item.prior_reference.empty()) {
        details.push_back("updated " + item.prior_reference);
        detail = details.back();
      }
      b->items.push_back({item.record.submission_id, item.record.version, o.reference, detail, latency});
      continue;
    }
    core::Event e;
    e.at_ms = now;
    e.submission_id = item.record.submission_id;
    e.version = item.record.version;
    e.mapping = item.record.mapping;
    e.target = target.sink->name();
    e.reason_code = o.reason_code;
    e.detail = o.detail;
    e.latency_ms = latency;
    if (o.status == core::DeliveryStatus::retry) {
      ++retried;
      if (o.reason_code != "attachment_unavailable" && !o.deferred) {
        ++target_retried;
        last_error = o.reason_code + ": " + o.detail;
      }
      // settle_batch turned exhausted retries into dead letters (never a deferred one).
      e.kind = !o.deferred && item.attempts + 1 >= target.retry.max_attempts ? core::EventKind::dead
                                                                              : core::EventKind::retry;
    } else {
      ++rejected;
      if (o.reason_code == "auth_failed") auth_error = o.reason_code + ": " + o.detail;
      e.kind = core::EventKind::dead;
    }
    if (events_) events_->on_event(e);
  }
  if (events_)
    for (const auto& b : delivered_events) events_->on_batch(b);
  if (events_) events_->flush();
  ++stats.batches;
  stats.delivered += delivered;
  stats.retried += retried;
  stats.rejected += rejected;
  spdlog::info("dispatch: target {} batch {} items={} delivered={} retry={} rejected={}",
               target.sink->name(), batch.key, batch.items.size(), delivered, retried, rejected);
  if (!auth_error.empty())
    record_result(target, true, auth_error, now, true);
  else
    record_result(target, delivered == 0 && target_retried > 0, last_error, now);
  return delivered == 0 && retried > 0;
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

std::optional<std::int64_t> Dispatcher::next_due_ms(std::int64_t now) {
  std::optional<std::int64_t> due;
  const auto consider = [&](std::int64_t at) {
    if (!due || at < *due) due = at;
  };
  for (auto& target : targets_) {
    const auto policy = target.sink->batch_policy();
    std::size_t max_items = policy.max_items;
    if (target.health.circuit != "closed") {
      if (now < target.health.retry_at_ms) {
        consider(target.health.retry_at_ms);  // nothing goes before the probe
        continue;
      }
      max_items = 1;  // the probe
    }
    // The same questions dispatch() asks.
    const auto summary = state_.pending_summary(target.sink->name(), now, max_items);
    if (summary.ready > 0)
      consider(static_cast<std::size_t>(summary.ready) >= max_items ? now
                                                                    : summary.oldest_enqueued_ms + policy.max_wait.count());
    // Items waiting for a retry, or for an earlier version still waiting for one.
    if (auto next = state_.next_attempt_after(target.sink->name(), now)) consider(*next);
  }
  return due;
}

DispatchStats Dispatcher::dispatch(bool flush) {
  DispatchStats stats;
  // Duplicates waiting for the reference of the report kept for them (that
  // report may have been delivered before the duplicate arrived).
  fill_duplicate_references();
  for (auto& target : targets_) {
    const auto policy = target.sink->batch_policy();
    for (;;) {
      if (stop_ && stop_->load()) return stats;
      const std::int64_t now = store::now_ms();
      std::size_t max_items = policy.max_items;
      if (target.health.circuit != "closed") {
        if (now < target.health.retry_at_ms) {
          ++stats.skipped_open_circuits;
          break;
        }
        // Probe with a single item; its outcome closes or re-opens the circuit.
        target.health.circuit = "half_open";
        max_items = 1;
      }
      auto summary = state_.pending_summary(target.sink->name(), now, max_items);
      if (summary.ready == 0) break;
      const bool full = static_cast<std::size_t>(summary.ready) >= max_items;
      const bool old = summary.oldest_enqueued_ms <= now - policy.max_wait.count();
      if (!full && !old && !flush) break;
      auto batch = state_.claim_batch(target.sink->name(), store::ClaimLimits{max_items, target.max_batch_bytes}, now);
      if (!batch) {
        // Nothing to deliver after all: what the claim looked at went to dead
        // letters (unreadable) or waits for an earlier version. Go on only
        // while claims still move something.
        const auto after = state_.pending_summary(target.sink->name(), now, max_items);
        if (after.ready == summary.ready && after.oldest_enqueued_ms == summary.oldest_enqueued_ms) break;
        continue;
      }
      if (deliver(target, *batch, stats)) break;  // failing: let the backoff work
    }
  }
  fill_duplicate_references();
  return stats;
}

void Dispatcher::fill_duplicate_references() {
  try {
    state_.fill_duplicate_references(store::now_ms());
  } catch (const std::exception& e) {
    spdlog::warn("dispatch: duplicate statuses not filled in this pass: {}", e.what());
  }
}

}  // namespace reportbridge::pipeline
