#pragma once
// The systemd notify protocol (sd_notify): READY, RELOADING, STOPPING, STATUS
// and watchdog pings. Every call is a no-op when the process was not started
// by systemd with Type=notify (NOTIFY_SOCKET unset), so `once`, tests and
// foreground runs need nothing special.
//
// The daemon (bridge/runner) pings the watchdog only while every loop makes
// progress: a loop that hangs stops the pings and systemd restarts the
// service. Every member may be called from any thread.
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace reportbridge::service {

class Notifier {
 public:
  using Clock = std::chrono::steady_clock;

  // Reads NOTIFY_SOCKET and, through sd_watchdog_enabled, WATCHDOG_USEC and
  // WATCHDOG_PID. `use_watchdog` false ignores a watchdog systemd asked for.
  explicit Notifier(bool use_watchdog = true);

  // True when NOTIFY_SOCKET is set (a supervisor listens).
  bool enabled() const;

  // Each returns true when the message was sent, false when notification is
  // off or sending failed (logged once as a warning; never throws).
  bool ready(std::string_view status = {});      // READY=1 [STATUS=...]
  bool reloading(std::string_view status = {});  // RELOADING=1 [STATUS=...]
  bool stopping(std::string_view status = {});   // STOPPING=1 [STATUS=...]
  bool status(std::string_view text);            // STATUS=... (newlines become spaces)

  // The watchdog period systemd asked for (zero: no watchdog).
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }
  // A ping is due once half the interval has passed since the last one.
  bool watchdog_due(Clock::time_point now = Clock::now()) const;
  bool ping_watchdog(Clock::time_point now = Clock::now());  // WATCHDOG=1
  // Pings when due; cheap enough to call on every pass of a loop.
  void tick(Clock::time_point now = Clock::now());

 private:
  bool send(const std::string& message);

  std::chrono::microseconds watchdog_interval_{0};
  mutable std::mutex mutex_;  // guards last_ping_ and warned_
  Clock::time_point last_ping_;
  bool warned_ = false;
};

}  // namespace reportbridge::service
