#include "bridge/pipeline/writeback.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace reportbridge::pipeline {

std::size_t WritebackWorker::run_once() {
  // After a failure the app's store is left alone for a while (1 s, doubling
  // to 60 s): a down back end is not hammered, and the log is not flooded.
  if (std::chrono::steady_clock::now() < next_try_) return 0;
  auto items = state_.pending_writebacks(batch_size_);
  if (items.empty()) return 0;
  std::vector<core::StatusUpdate> updates;
  std::vector<std::int64_t> ids;
  updates.reserve(items.size());
  for (auto& w : items) {
    ids.push_back(w.id);
    updates.push_back(std::move(w.update));
  }
  try {
    source_.write_status(updates);
  } catch (const std::exception& e) {
    ++failures_;
    backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(1000) : backoff_ * 2,
                        std::chrono::milliseconds(60'000));
    next_try_ = std::chrono::steady_clock::now() + backoff_;
    spdlog::warn("writeback: {} statuses not written, next try in {} ms: {}", updates.size(), backoff_.count(),
                 e.what());
    return 0;
  }
  backoff_ = std::chrono::milliseconds(0);
  state_.mark_writebacks_done(ids);
  if (events_) {
    // One batch event per state written (one audit entry each).
    const std::int64_t now = store::now_ms();
    std::vector<core::EventBatch> batches;
    std::vector<std::string> details;
    for (std::size_t i = 0; i < updates.size(); ++i) {
      const auto& u = updates[i];
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
      b->items.push_back({u.submission_id, items[i].version, u.reference, {}, -1});
    }
    details.reserve(batches.size());
    for (auto& b : batches) {
      details.push_back("state " + std::string(b.reason_code));
      b.detail = details.back();
    }
    for (const auto& b : batches) events_->on_batch(b);
    events_->flush();
  }
  return updates.size();
}

std::size_t WritebackWorker::drain() {
  std::size_t total = 0;
  while (std::size_t n = run_once()) total += n;
  return total;
}

}  // namespace reportbridge::pipeline
