#include "bridge/pipeline/writeback.hpp"

#include <spdlog/spdlog.h>

namespace reportbridge::pipeline {

std::size_t WritebackWorker::run_once() {
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
    spdlog::warn("writeback: {} statuses not written, will retry: {}", updates.size(), e.what());
    return 0;
  }
  state_.mark_writebacks_done(ids);
  return updates.size();
}

std::size_t WritebackWorker::drain() {
  std::size_t total = 0;
  while (std::size_t n = run_once()) total += n;
  return total;
}

}  // namespace reportbridge::pipeline
