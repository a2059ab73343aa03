#include "bridge/store/state_store.hpp"

#include <chrono>
#include <ctime>

#include "bridge/store/sqlite_state_store.hpp"

#include <stdexcept>

namespace reportbridge::store {

std::unique_ptr<StateStore> open_state_store(const std::string& path, int cache_kib) {
  return std::make_unique<SqliteStateStore>(path, cache_kib);
}

void StateStore::settle_items(const core::DeliveryBatch& batch, const std::vector<std::size_t>&,
                              const std::vector<core::DeliveryOutcome>&, std::int64_t, const RetryPolicy&,
                              const WritebackRule&) {
  throw std::logic_error("delivery batch " + batch.key + ": this state store settles batches whole");
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_utc(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace reportbridge::store
