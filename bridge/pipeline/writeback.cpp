#include "bridge/pipeline/writeback.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace reportbridge::pipeline {

std::size_t WritebackWorker::run_once(bool force) {
  // After a failure the app's store is left alone for a while (1 s, doubling
  // to 60 s): a down back end is not hammered, and the log is not flooded.
  const auto steady = std::chrono::steady_clock::now();
  if (steady < next_try_) return 0;
  waiting_until_ = {};
  const std::int64_t now = store::now_ms();
  if (!force && max_delay_.count() > 0) {
    // Wait for a full pass, or until the oldest status has waited max_delay
    // (counted from its queue time; a wall clock set back waits max_delay at most).
    const auto backlog = state_.writeback_backlog(now);
    if (backlog.statuses == 0) return 0;
    if (static_cast<std::size_t>(backlog.statuses) < batch_size_) {
      const std::int64_t left = std::clamp<std::int64_t>(backlog.oldest_ms + max_delay_.count() - now, 0,
                                                         max_delay_.count());
      if (left > 0) {
        waiting_until_ = steady + std::chrono::milliseconds(left);
        return 0;
      }
    }
  }
  store::WritebackPass pass = state_.pending_writebacks(batch_size_, now);
  std::vector<store::WritebackItem>& items = pass.items;
  if (items.empty()) return 0;
  const auto failed = [&](std::size_t count, const std::string& why) {
    ++failures_;
    backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(1000) : backoff_ * 2,
                        std::chrono::milliseconds(60'000));
    next_try_ = std::chrono::steady_clock::now() + backoff_;
    spdlog::warn("writeback: {} status(es) not written, next try in {} ms: {}", count, backoff_.count(), why);
  };
  // The pass in submission id order (stable: a submission's statuses keep
  // theirs), written in slices of kSliceStatuses. The app's submission_status
  // is keyed by random ids: a slice of the sorted pass touches only its key
  // range's index pages, so the slices together rewrite each page about once
  // per pass, as one write of the whole pass would, while only a slice's views
  // are copied for the call (docs/performance.md, change 13).
  core::StatusWriteResult result;
  result.outcomes.assign(items.size(), core::StatusOutcome::retry);
  {
    std::vector<std::uint32_t> order(items.size());
    std::iota(order.begin(), order.end(), 0U);
    std::stable_sort(order.begin(), order.end(), [&items](std::uint32_t a, std::uint32_t b) {
      return items[a].update.submission_id < items[b].update.submission_id;
    });
    std::vector<core::StatusRef> updates;
    updates.reserve(std::min(items.size(), kSliceStatuses));
    for (std::size_t from = 0; from < order.size(); from += kSliceStatuses) {
      const std::size_t to = std::min(order.size(), from + kSliceStatuses);
      updates.clear();
      for (std::size_t k = from; k < to; ++k) updates.push_back(items[order[k]].update);
      core::StatusWriteResult slice;
      try {
        slice = source_.write_statuses(updates);
      } catch (const std::exception& e) {
        if (from == 0) {  // nothing attempted: every status stays queued as it is
          failed(items.size(), e.what());
          return 0;
        }
        result.error = e.what();  // the slices left wait on their own, like a failed status
        break;
      }
      bool answered = false;  // the app took or refused one of the slice's statuses
      for (std::size_t k = from; k < to; ++k) {
        const auto o = k - from < slice.outcomes.size() ? slice.outcomes[k - from] : core::StatusOutcome::retry;
        result.outcomes[order[k]] = o;
        answered = answered || o != core::StatusOutcome::retry;
      }
      if (!slice.error.empty()) result.error = slice.error;
      if (!answered) break;  // the app is down: the slices left are not tried now
    }
  }
  // Per status: the written and the refused are done; only the others stay
  // queued, each waiting on its own (1 s doubling to 60 s), so one that keeps
  // failing never re-sends nor holds back the rest of its pass. When none
  // was written at all, the app is down: the whole worker backs off. The
  // done ones are kept in place (`items` shrinks to them, in order).
  std::vector<std::size_t> written;  // indexes into the done ones
  std::vector<std::pair<store::WritebackItem, std::int64_t>> later;
  written.reserve(items.size());
  const std::int64_t settled = store::now_ms();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto o = result.outcomes[i];
    if (o == core::StatusOutcome::retry) {
      const std::int64_t wait = std::min<std::int64_t>(60'000, 1000LL << std::min(items[i].attempts, 6));
      later.emplace_back(items[i], settled + wait);  // (kept as a status of its own)
      continue;
    }
    if (o == core::StatusOutcome::written) written.push_back(kept);
    items[kept++] = items[i];
  }
  items.resize(kept);
  const auto& done = items;
  state_.finish_writebacks(done, later);
  if (!later.empty() && done.empty()) {
    failed(later.size(), result.error);
  } else {
    backoff_ = std::chrono::milliseconds(0);
    if (!later.empty())
      spdlog::warn("writeback: {} status(es) not written, each retried on its own: {}", later.size(), result.error);
  }
  if (events_ && !written.empty()) {
    // One batch event per state written (one audit entry each), for at most
    // kEventsPerBatch statuses: a pass of 10,000 or more would otherwise be
    // one audit entry of megabytes, built (and buffered) at once, and that
    // peak stays in the allocator's arena (docs/performance.md, change 11).
    std::vector<core::EventBatch> batches;
    std::vector<std::string> details;
    for (std::size_t from = 0; from < written.size(); from += kEventsPerBatch) {
      const std::size_t to = std::min(written.size(), from + kEventsPerBatch);
      batches.clear();
      details.clear();
      for (std::size_t k = from; k < to; ++k) {
        const auto& u = done[written[k]].update;
        core::EventBatch* b = nullptr;
        for (auto& x : batches)
          if (x.reason_code == u.state) b = &x;
        if (!b) {
          batches.emplace_back();
          b = &batches.back();
          b->kind = core::EventKind::written_back;
          b->at_ms = settled;
          b->reason_code = u.state;
          b->items.reserve(to - k);
        }
        b->items.push_back({u.submission_id, done[written[k]].version, u.reference, {}, -1});
      }
      details.reserve(batches.size());
      for (auto& b : batches) {
        details.push_back("state " + std::string(b.reason_code));
        b.detail = details.back();
      }
      for (const auto& b : batches) events_->on_batch(b);
    }
    events_->flush();
  }
  return written.size();
}

std::size_t WritebackWorker::drain() {
  std::size_t total = 0;
  while (std::size_t n = run_once(true)) total += n;
  return total;
}

}  // namespace reportbridge::pipeline
