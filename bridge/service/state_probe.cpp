#include "bridge/service/state_probe.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace reportbridge::service {

std::vector<ReadinessInputs::Circuit> circuits(store::StateStore& state,
                                               const std::vector<std::string>& targets) {
  std::map<std::string, store::TargetHealth> health;
  for (auto& h : state.target_health()) health.emplace(h.target, h);
  std::vector<ReadinessInputs::Circuit> out;
  for (const auto& t : targets) {
    ReadinessInputs::Circuit c{t};
    if (auto it = health.find(t); it != health.end()) {
      c.state = it->second.circuit;
      c.opened_ms = it->second.opened_ms;
    }
    out.push_back(std::move(c));
  }
  return out;
}

Gauges collect_gauges(store::StateStore& state, const std::vector<std::string>& targets,
                      std::int64_t now_ms) {
  Gauges g;
  std::map<std::string, ReadinessInputs::Circuit> by_target;
  for (auto& c : circuits(state, targets)) by_target.emplace(c.target, c);
  for (const auto& b : state.backlog(targets)) {
    TargetGauges t;
    t.target = b.target;
    t.backlog = b.pending;
    if (b.oldest_enqueued_ms > 0)
      t.oldest_pending_age_seconds = std::max<std::int64_t>(0, now_ms - b.oldest_enqueued_ms) / 1000.0;
    const auto& c = by_target[b.target];
    t.circuit = circuit_state_from(c.state);
    if (t.circuit != CircuitState::closed && c.opened_ms > 0)
      t.circuit_open_seconds = std::max<std::int64_t>(0, now_ms - c.opened_ms) / 1000.0;
    g.targets.push_back(std::move(t));
  }
  g.quarantined = state.quarantine_count();
  g.writeback_pending = state.pending_writeback_count();
  return g;
}

std::optional<std::string> probe_state_writable(store::Database& db, std::uint64_t min_free_bytes) {
  if (sqlite3_db_readonly(db.handle(), "main") != 0) return "the state database is open read-only";
  const std::filesystem::path file(db.path());
  const auto folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  for (const auto& p : {file, folder})
    if (::access(p.c_str(), W_OK) != 0)
      return p.string() + " is not writable: " + std::strerror(errno);
  struct statvfs fs {};
  if (::statvfs(folder.c_str(), &fs) != 0)
    return "cannot read free space of " + folder.string() + ": " + std::strerror(errno);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes < min_free_bytes)
    return "only " + std::to_string(free_bytes >> 20) + " MiB free on " + folder.string() +
           " (at least " + std::to_string(min_free_bytes >> 20) + " MiB needed)";
  return std::nullopt;
}

}  // namespace reportbridge::service
