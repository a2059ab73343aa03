#include "bridge/pipeline/dispatcher.hpp"

#include "bridge/core/untrusted_text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <list>
#include <tuple>
#include <mutex>
#include <thread>

#include "bridge/core/progress.hpp"
#include "bridge/store/fleet_limits.hpp"

namespace reportbridge::pipeline {

void Dispatcher::add_target(core::Sink& sink, store::RetryPolicy retry, store::WritebackRule rule,
                            CircuitPolicy circuit, std::size_t max_batch_bytes) {
  state_.set_writeback_rule(sink.name(), rule);
  Target t{&sink, retry, std::move(rule), circuit, max_batch_bytes, {}, circuit.cooldown};
  t.health.target = sink.name();
  // Several instances on one state: the sink's rate limit and connection cap
  // are the fleet's, coordinated through the state store.
  if (auto* permits = state_.fleet_permits())
    sink.share_limits([permits, name = sink.name()](double rate, double burst, std::size_t cap) {
      return store::fleet_limits(*permits, name, rate, burst, cap, permits->slot_lease_ms());
    });
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

// Records the outcomes of `which` (indexes into batch.items, outcomes[k] for
// which[k]): the whole batch at once (`whole`), or these items while the
// others are still in flight; then their audit events and the tally.
bool Dispatcher::settle_group(Target& target, const core::DeliveryBatch& batch, const std::vector<std::size_t>& which,
                              std::vector<core::DeliveryOutcome>& outcomes, bool whole, double batch_ms,
                              Tally& tally) {
  bound_untrusted(target, outcomes);
  const std::int64_t now = store::now_ms();
  core::progress();
  try {
    if (whole)
      state_.settle_batch(batch, outcomes, now, target.retry, target.rule);
    else
      state_.settle_items(batch, which, outcomes, now, target.retry, target.rule);
  } catch (const store::LeaseLost& e) {
    // Several instances: the batch's lease ran out and another instance took
    // it over (it delivers it again under the same key and records the outcome).
    spdlog::warn("dispatch: target {} batch {}: {}", target.sink->name(), batch.key, e.what());
    return false;
  }

  // Deliveries as batch events (one per mapping: one audit entry each);
  // retries and dead letters as events of their own.
  std::vector<core::EventBatch> delivered_events;
  std::vector<std::string> details;  // "updated <reference>" of updates (alive until published)
  details.reserve(which.size());
  for (std::size_t k = 0; k < which.size(); ++k) {
    const auto& o = outcomes[k];
    const auto& item = batch.items[which[k]];
    const double latency = o.latency_ms >= 0 ? o.latency_ms : batch_ms;
    if (o.status == core::DeliveryStatus::delivered) {
      ++tally.delivered;
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
        b->items.reserve(which.size());
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
      ++tally.retried;
      // Retries the target is to blame for: an attachment the source could not
      // supply (attachment_unavailable) says nothing about the target's health.
      if (o.reason_code != "attachment_unavailable" && !o.deferred) {
        ++tally.target_retried;
        tally.last_error = o.reason_code + ": " + o.detail;
      }
      // The store turned exhausted retries into dead letters (never a deferred one).
      e.kind = !o.deferred && item.attempts + 1 >= target.retry.max_attempts ? core::EventKind::dead
                                                                              : core::EventKind::retry;
    } else {
      ++tally.rejected;
      if (o.reason_code == "auth_failed") tally.auth_error = o.reason_code + ": " + o.detail;
      e.kind = core::EventKind::dead;
    }
    if (events_) events_->on_event(e);
  }
  if (events_)
    for (const auto& b : delivered_events) events_->on_batch(b);
  if (events_) events_->flush();
  return true;
}

// Sinks that report items as they finish (core::Sink::reports_each): each
// batch is delivered on a thread of its own (deliver_each) and reports into
// an inbox; this thread settles what finished in small groups (up to
// kSettleGroup items, or what arrived within kSettleEvery of the first), so a
// slow call holds its own item only. While claiming (`claim`), a new batch is
// claimed as soon as the batches in flight leave one of the sink's
// connections idle (fewer unfinished items than Sink::concurrency()), so the
// connections fast items free take the next work while a slow call goes on.
// An item in flight when the bridge dies stays in its open batch: in doubt
// after the restart, as before. Versions of a submission stay in order: a
// claim never takes a version while an earlier one is in an open batch.
void Dispatcher::fly(Target& target, std::optional<core::DeliveryBatch> first, bool claim, std::size_t max_items,
                     bool flush, DispatchStats& stats, bool* failing_out) {
  struct Flight {
    core::DeliveryBatch batch;
    std::vector<bool> reported;
    std::size_t left = 0;  // items not reported yet
    Tally tally;
    std::chrono::steady_clock::time_point started;
    std::thread worker;
    bool worker_done = false;  // deliver_each returned (inbox.m)
    std::size_t reports = 0;   // outcomes reported (inbox.m)
    std::string error;         // deliver_each threw (inbox.m)
    bool closed = false;       // every item settled
  };
  struct Inbox {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::tuple<Flight*, std::size_t, core::DeliveryOutcome>> queue;
    std::size_t workers_done = 0;
    std::size_t batches_reported = 0;  // batches with every outcome reported
  } inbox;
  std::list<Flight> flights;
  // Whatever happens here, the workers (which refer to this frame) end first.
  struct JoinAll {
    std::list<Flight>& flights;
    ~JoinAll() {
      for (auto& f : flights)
        if (f.worker.joinable()) f.worker.join();
    }
  } join_all{flights};

  std::atomic<std::int64_t>* beat = core::current_beat();
  core::Sink* sink = target.sink;
  auto start = [&](core::DeliveryBatch batch) {
    Flight& f = flights.emplace_back();
    f.batch = std::move(batch);
    f.reported.assign(f.batch.items.size(), false);
    f.left = f.batch.items.size();
    f.started = std::chrono::steady_clock::now();
    f.worker = std::thread([&inbox, &f, sink, beat] {
      std::optional<core::ProgressScope> scope;  // the sink's progress moves this loop's heartbeat
      if (beat) scope.emplace(*beat);
      std::string error;
      try {
        sink->deliver_each(f.batch, [&inbox, &f](std::size_t i, core::DeliveryOutcome o) {
          std::lock_guard lock(inbox.m);
          inbox.queue.emplace_back(&f, i, std::move(o));
          // A batch whose last item this is settles at once (its closing frees room for the next claim).
          const bool last = ++f.reports == f.batch.items.size();
          if (last) ++inbox.batches_reported;
          if (last || inbox.queue.size() == 1 || inbox.queue.size() >= kSettleGroup) inbox.cv.notify_one();
        });
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard lock(inbox.m);
      f.error = std::move(error);
      f.worker_done = true;
      ++inbox.workers_done;
      inbox.cv.notify_one();
    });
  };

  const std::size_t concurrency = std::max<std::size_t>(1, sink->concurrency());
  bool failing = false;
  if (first) start(std::move(*first));
  std::size_t seen_done = 0, seen_reported = 0;
  for (;;) {
    // Claim while a connection would otherwise be idle.
    while (claim && !failing && !(stop_ && stop_->load()) && target.health.circuit == "closed" &&
           flights.size() < kMaxBatchesInFlight) {
      std::size_t unfinished = 0;
      for (const auto& f : flights) unfinished += f.left;
      if (unfinished >= concurrency) break;
      auto batch = next_batch(target, max_items, flush);
      if (!batch) {
        claim = false;
        break;
      }
      start(std::move(*batch));
    }
    if (flights.empty()) break;

    std::vector<std::tuple<Flight*, std::size_t, core::DeliveryOutcome>> got;
    {
      std::unique_lock lock(inbox.m);
      inbox.cv.wait(lock, [&] { return !inbox.queue.empty() || inbox.workers_done != seen_done; });
      // A few ms more to make a group of what finishes meanwhile (not when a
      // batch is complete, or a sink returned).
      const auto news = [&] {
        return inbox.queue.size() >= kSettleGroup || inbox.workers_done != seen_done ||
               inbox.batches_reported != seen_reported;
      };
      if (!news()) inbox.cv.wait_for(lock, kSettleEvery, news);
      got.swap(inbox.queue);
      seen_done = inbox.workers_done;
      seen_reported = inbox.batches_reported;
    }
    // Per batch: the items that finished (and, once its deliver_each returned,
    // the ones it never reported).
    for (auto& f : flights) {
      if (f.closed) continue;
      std::vector<std::size_t> which;
      std::vector<core::DeliveryOutcome> outcomes;
      for (auto& [fp, i, o] : got) {
        if (fp != &f) continue;
        if (i >= f.batch.items.size() || f.reported[i]) {
          spdlog::warn("dispatch: target {} batch {} reported item {} twice or out of range; ignored",
                       sink->name(), f.batch.key, i);
          continue;
        }
        f.reported[i] = true;
        which.push_back(i);
        outcomes.push_back(std::move(o));
      }
      bool worker_done = false;
      std::string error;
      {
        std::lock_guard lock(inbox.m);
        worker_done = f.worker_done;
        error = f.error;
      }
      if (worker_done && f.left > which.size()) {
        if (!error.empty()) spdlog::error("dispatch: target {} batch {} threw: {}", sink->name(), f.batch.key, error);
        for (std::size_t i = 0; i < f.batch.items.size(); ++i) {
          if (f.reported[i]) continue;
          f.reported[i] = true;
          which.push_back(i);
          outcomes.push_back(error.empty()
                                 ? core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "no_outcome",
                                                               "sink reported no outcome for the item")
                                 : core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "sink_exception", error));
        }
      }
      if (which.empty()) continue;
      const double batch_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f.started).count();
      f.left -= which.size();
      settle_group(target, f.batch, which, outcomes, false, batch_ms, f.tally);  // (false: taken over, not recorded)
      if (f.left == 0) {
        f.closed = true;
        if (finish_batch(target, f.batch, f.tally, stats)) failing = true;
      }
    }
    // Batches settled whole, whose thread is done too, leave.
    for (auto it = flights.begin(); it != flights.end();) {
      bool done = false;
      {
        std::lock_guard lock(inbox.m);
        done = it->closed && it->worker_done;
      }
      if (done) {
        it->worker.join();
        it = flights.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (failing_out) *failing_out = failing;
}

// The end of a batch: counts, log, the circuit. True when nothing was
// delivered and something is to be retried (the round stops: backoff works).
bool Dispatcher::finish_batch(Target& target, const core::DeliveryBatch& batch, const Tally& tally,
                              DispatchStats& stats) {
  const std::int64_t now = store::now_ms();
  ++stats.batches;
  stats.delivered += tally.delivered;
  stats.retried += tally.retried;
  stats.rejected += tally.rejected;
  spdlog::info("dispatch: target {} batch {} items={} delivered={} retry={} rejected={}", target.sink->name(),
               batch.key, batch.items.size(), tally.delivered, tally.retried, tally.rejected);
  if (!tally.auth_error.empty())
    record_result(target, true, tally.auth_error, now, true);
  else
    record_result(target, tally.delivered == 0 && tally.target_retried > 0, tally.last_error, now);
  return tally.delivered == 0 && tally.retried > 0;
}

bool Dispatcher::streams(const Target& target) const {
  return target.sink->reports_each() && state_.settles_items();
}

bool Dispatcher::deliver(Target& target, core::DeliveryBatch batch, DispatchStats& stats) {
  // Several instances: the batch's lease is renewed while it is delivered
  // here, and the sink sends nothing more of it once the lease may have run
  // out (a pause past it: another instance may have the batch now).
  const auto held = state_.keep_lease(batch);
  if (held) batch.still_held = [h = held.get()] { return h->held_now(); };
  if (streams(target)) {
    bool failing = false;
    fly(target, batch, false, 0, false, stats, &failing);
    return failing;
  }
  const auto started = std::chrono::steady_clock::now();
  core::progress();  // the watchdog's heartbeat (sinks report progress inside long batches too)
  Tally tally;
  std::vector<core::DeliveryOutcome> outcomes;
  try {
    outcomes = target.sink->deliver(batch);
  } catch (const std::exception& e) {
    // A sink should answer retry itself; an exception is treated the same way.
    spdlog::error("dispatch: target {} batch {} threw: {}", target.sink->name(), batch.key, e.what());
    outcomes.assign(batch.items.size(),
                    core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "sink_exception", e.what()));
  }
  // One outcome per item (a sink that returned fewer: the rest are retried).
  if (outcomes.size() > batch.items.size()) outcomes.resize(batch.items.size());
  while (outcomes.size() < batch.items.size())
    outcomes.push_back(core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "no_outcome",
                                                   "sink returned fewer outcomes than items"));
  std::vector<std::size_t> all(batch.items.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const double batch_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!settle_group(target, batch, all, outcomes, true, batch_ms, tally)) return false;  // taken over
  return finish_batch(target, batch, tally, stats);
}

DispatchStats Dispatcher::recover() {
  DispatchStats stats;
  for (auto& target : targets_) {
    for (auto& batch : state_.open_batches(target.sink->name())) {
      spdlog::info("dispatch: target {} recovering batch {} left open by a previous run",
                   target.sink->name(), batch.key);
      deliver(target, std::move(batch), stats);
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

// The next batch of a target, claimed, when one is due: a full one, the
// oldest item past max_wait, or anything at all when flushing. nullopt:
// nothing to deliver now.
std::optional<core::DeliveryBatch> Dispatcher::next_batch(Target& target, std::size_t max_items, bool flush) {
  const auto policy = target.sink->batch_policy();
  for (;;) {
    const std::int64_t now = store::now_ms();
    auto summary = state_.pending_summary(target.sink->name(), now, max_items);
    if (summary.ready == 0) return std::nullopt;
    const bool full = static_cast<std::size_t>(summary.ready) >= max_items;
    const bool old = summary.oldest_enqueued_ms <= now - policy.max_wait.count();
    if (!full && !old && !flush) return std::nullopt;
    auto batch = state_.claim_batch(target.sink->name(), store::ClaimLimits{max_items, target.max_batch_bytes}, now);
    if (batch) return batch;
    // Nothing to deliver after all: what the claim looked at went to dead
    // letters (unreadable) or waits for an earlier version. Go on only
    // while claims still move something.
    const auto after = state_.pending_summary(target.sink->name(), now, max_items);
    if (after.ready == summary.ready && after.oldest_enqueued_ms == summary.oldest_enqueued_ms) return std::nullopt;
  }
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
      } else if (streams(target)) {
        // Batches overlap: claimed as connections free up, settled as items finish.
        fly(target, std::nullopt, true, max_items, flush, stats, nullptr);
        break;
      }
      auto batch = next_batch(target, max_items, flush);
      if (!batch) break;
      if (deliver(target, std::move(*batch), stats)) break;  // failing: let the backoff work
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
