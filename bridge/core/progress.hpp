#pragma once
// Progress reports for the watchdog (bridge/runner). Work that can take long
// (a batch of rows, a delivery, an HTTP exchange, an attachment copy) calls
// core::progress() now and then; the daemon's loop thread that runs it has
// installed a ProgressScope, and its heartbeat moves on. On a thread without
// a scope it does nothing. Costs a clock read and a relaxed atomic store.
#include <atomic>
#include <cstdint>

namespace reportbridge::core {

void progress() noexcept;

// While alive, progress() on this thread stores the steady clock (ns since
// its epoch) into `beat`. Scopes nest; the innermost wins.
class ProgressScope {
 public:
  explicit ProgressScope(std::atomic<std::int64_t>& beat) noexcept;
  ~ProgressScope();
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;

 private:
  std::atomic<std::int64_t>* previous_;
};

// The heartbeat progress() on this thread moves (nullptr: none). A thread
// doing work for a loop thread installs a ProgressScope with it, so that the
// loop's heartbeat moves with the work.
std::atomic<std::int64_t>* current_beat() noexcept;

// The steady clock in ns, as progress() stores it.
std::int64_t steady_now_ns() noexcept;

}  // namespace reportbridge::core
