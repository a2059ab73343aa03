#pragma once
// SIGTERM and SIGINT (stop) and SIGHUP (reload) through a self-pipe: the
// handlers only set a flag and write one byte, and the daemon's control
// thread sleeps in poll(2) on the pipe until a signal, a wake() from another
// thread, or its next deadline. One instance per process at a time.
//
// `run` and `once` call hold() first thing: from then on the handlers stay for
// the life of the process, so a SIGHUP or SIGTERM that arrives while the
// config, mappings and state are still loading (or between the state wait's
// instance and the runner's) is kept for the daemon's loop instead of ending
// the process by the default action.
#include <atomic>
#include <chrono>
#include <optional>

namespace reportbridge::runner {

class Signals {
 public:
  using Clock = std::chrono::steady_clock;

  // Installs the handlers for the rest of the process (idempotent); signals
  // from then on are kept for the next instance.
  static void hold() noexcept;

  // Creates the pipe and installs the handlers (the previous ones come back
  // with the destructor); after hold(), keeps what arrived before it (and its
  // first wait() returns at once if anything did). Throws std::system_error
  // when the pipe cannot be made.
  Signals();
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // Sleeps until a signal, wake(), or `deadline` (none: no timeout).
  void wait(std::optional<Clock::time_point> deadline);
  // Wakes wait() from any thread (async-signal-safe).
  void wake() noexcept;
  // As SIGTERM.
  void request_stop() noexcept;

  bool stop_requested() const noexcept;
  // True once per SIGHUP received since the last call.
  bool take_reload() noexcept;
};

}  // namespace reportbridge::runner
