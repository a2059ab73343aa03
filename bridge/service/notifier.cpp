#include "bridge/service/notifier.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace reportbridge::service {

namespace {

std::string status_line(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += (c == '\n' || c == '\r') ? ' ' : c;
  return line;
}

std::string with_status(std::string message, std::string_view status) {
  if (status.empty()) return message;
  return message + "\n" + status_line(status);
}

}  // namespace

Notifier::Notifier(bool use_watchdog) : last_ping_(Clock::now()) {
  std::uint64_t usec = 0;
  if (use_watchdog && sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_interval_ = std::chrono::microseconds(usec);
}

bool Notifier::enabled() const {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket && *socket;
}

bool Notifier::send(const std::string& message) {
  if (!enabled()) return false;
  int r = sd_notify(0, message.c_str());
  if (r > 0) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!warned_) {
    warned_ = true;
    spdlog::warn("systemd notification failed: {}", r < 0 ? std::strerror(-r) : "not sent");
  }
  return false;
}

bool Notifier::ready(std::string_view status) { return send(with_status("READY=1", status)); }
bool Notifier::reloading(std::string_view status) { return send(with_status("RELOADING=1", status)); }
bool Notifier::stopping(std::string_view status) { return send(with_status("STOPPING=1", status)); }

bool Notifier::status(std::string_view text) {
  return send(status_line(text));
}

bool Notifier::watchdog_due(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return watchdog_interval_.count() > 0 && now - last_ping_ >= watchdog_interval_ / 2;
}

bool Notifier::ping_watchdog(Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ping_ = now;
  }
  return send("WATCHDOG=1");
}

void Notifier::tick(Clock::time_point now) {
  if (watchdog_due(now)) ping_watchdog(now);
}

}  // namespace reportbridge::service
