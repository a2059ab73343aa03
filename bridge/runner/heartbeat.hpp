#pragma once
// The watchdog's view of the daemon's loops. Each loop thread owns a
// Heartbeat: it is `idle` while it sleeps waiting for work (healthy by
// design, however long) and `busy` while it works, and its beat moves on
// with every core::progress() made on its thread (a row mapped, a batch
// settled, bytes from a target, a chunk of an attachment). The rule: the
// daemon is healthy while no loop has been busy for longer than the stall
// timeout without progress. A slow batch that keeps progressing keeps the
// watchdog fed; a loop stuck in one place does not.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace reportbridge::runner {

class Heartbeat {
 public:
  explicit Heartbeat(std::string name);

  const std::string& name() const { return name_; }
  // The loop works: progress is expected from now on.
  void busy() noexcept;
  // The loop sleeps until there is work.
  void idle() noexcept;
  // What core::ProgressScope stores the loop thread's progress into.
  std::atomic<std::int64_t>& beat() noexcept { return beat_; }
  // How long the loop has been busy without progress at `now_ns` (steady
  // clock, core::steady_now_ns); zero while idle.
  std::chrono::nanoseconds stalled_for(std::int64_t now_ns) const noexcept;

 private:
  std::string name_;
  std::atomic<std::int64_t> beat_;
  std::atomic<bool> idle_{false};
};

// The loops that have been busy longer than `stall` without progress.
std::vector<std::string> stalled_loops(const std::vector<const Heartbeat*>& loops, std::int64_t now_ns,
                                       std::chrono::nanoseconds stall);

}  // namespace reportbridge::runner
