#include "bridge/pipeline/writeback.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace reportbridge::pipeline {

std::size_t WritebackWorker::run_once() {
  // After a failure the app's store is left alone for a while (1 s, doubling
  // to 60 s): a down back end is not hammered, and the log is not flooded.
  if (std::chrono::steady_clock::now() < next_try_) return 0;
  auto items = state_.pending_writebacks(batch_size_, store::now_ms());
  if (items.empty()) return 0;
  std::vector<core::StatusUpdate> updates;
  updates.reserve(items.size());
  for (auto& w : items) updates.push_back(std::move(w.update));
  const auto failed = [&](std::size_t count, const std::string& why) {
    ++failures_;
    backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(1000) : backoff_ * 2,
                        std::chrono::milliseconds(60'000));
    next_try_ = std::chrono::steady_clock::now() + backoff_;
    spdlog::warn("writeback: {} status(es) not written, next try in {} ms: {}", count, backoff_.count(), why);
  };
  core::StatusWriteResult result;
  try {
    result = source_.write_statuses(updates);
  } catch (const std::exception& e) {
    failed(updates.size(), e.what());
    for (std::size_t i = 0; i < items.size(); ++i) items[i].update = std::move(updates[i]);
    return 0;
  }
  // The statuses go back into their items: finish_writebacks reads them (a
  // retry keeps its status; a done one drops the older statuses of its
  // submission still waiting for their retry, found by its id).
  for (std::size_t i = 0; i < items.size(); ++i) items[i].update = std::move(updates[i]);
  // Per status: the written and the refused are done; only the others stay
  // queued, each waiting on its own (1 s doubling to 60 s), so one that keeps
  // failing never re-sends nor holds back the rest of its batch. When none
  // was written at all, the app is down: the whole worker backs off.
  std::vector<store::WritebackItem> done;
  std::vector<std::size_t> written;
  std::vector<std::pair<store::WritebackItem, std::int64_t>> later;
  // (grown once: at 1M rows growing `done` by doubling, copying every item
  // each time, was 0.8 % of the run's CPU; docs/performance.md, change 9)
  done.reserve(items.size());
  written.reserve(items.size());
  const std::int64_t now = store::now_ms();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto o = i < result.outcomes.size() ? result.outcomes[i] : core::StatusOutcome::retry;
    if (o == core::StatusOutcome::retry) {
      const std::int64_t wait = std::min<std::int64_t>(60'000, 1000LL << std::min(items[i].attempts, 6));
      later.emplace_back(std::move(items[i]), now + wait);  // (kept as a status of its own)
      continue;
    }
    if (o == core::StatusOutcome::written) written.push_back(done.size());
    done.push_back(std::move(items[i]));
  }
  state_.finish_writebacks(done, later);
  if (!later.empty() && done.empty()) {
    failed(later.size(), result.error);
  } else {
    backoff_ = std::chrono::milliseconds(0);
    if (!later.empty())
      spdlog::warn("writeback: {} status(es) not written, each retried on its own: {}", later.size(), result.error);
  }
  if (events_ && !written.empty()) {
    // One batch event per state written (one audit entry each).
    std::vector<core::EventBatch> batches;
    std::vector<std::string> details;
    for (auto i : written) {
      const auto& u = done[i].update;
      core::EventBatch* b = nullptr;
      for (auto& x : batches)
        if (x.reason_code == u.state) b = &x;
      if (!b) {
        batches.emplace_back();
        b = &batches.back();
        b->kind = core::EventKind::written_back;
        b->at_ms = now;
        b->reason_code = u.state;
      }
      b->items.push_back({u.submission_id, done[i].version, u.reference, {}, -1});
    }
    details.reserve(batches.size());
    for (auto& b : batches) {
      details.push_back("state " + std::string(b.reason_code));
      b.detail = details.back();
    }
    for (const auto& b : batches) events_->on_batch(b);
    events_->flush();
  }
  return written.size();
}

std::size_t WritebackWorker::drain() {
  std::size_t total = 0;
  while (std::size_t n = run_once()) total += n;
  return total;
}

}  // namespace reportbridge::pipeline
