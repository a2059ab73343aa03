#pragma once
// SIGTERM and SIGINT (stop) and SIGHUP (reload) through a self-pipe: the
// handlers only set a flag and write one byte, and the daemon's control
// thread sleeps in poll(2) on the pipe until a signal, a wake() from another
// thread, or its next deadline. One instance per process at a time.
#include <atomic>
#include <chrono>
#include <optional>

namespace reportbridge::runner {

class Signals {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates the pipe and installs the handlers (the previous ones come back
  // with the destructor). Throws std::system_error when the pipe cannot be made.
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
