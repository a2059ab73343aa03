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
    updates.push_back(w.update);
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
    const std::int64_t now = store::now_ms();
    for (const auto& w : items) {
      core::Event e;
      e.kind = core::EventKind::written_back;
      e.at_ms = now;
      e.submission_id = w.update.submission_id;
      e.version = w.version;
      e.reference = w.update.reference;
      e.reason_code = w.update.state;
      e.detail = "state " + w.update.state;
      events_->on_event(e);
    }
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
