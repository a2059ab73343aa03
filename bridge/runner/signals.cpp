#include "bridge/runner/signals.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <algorithm>
#include <system_error>

namespace reportbridge::runner {

namespace {

int g_read_fd = -1;
int g_write_fd = -1;
volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;
struct sigaction g_old_term, g_old_int, g_old_hup;
bool g_held = false;  // hold(): the handlers stay, the flags carry over

void ring() noexcept {
  const int saved = errno;
  if (g_write_fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(g_write_fd, &byte, 1);  // full pipe: a wake-up is pending anyway
  }
  errno = saved;
}

extern "C" void on_stop(int) {
  g_stop = 1;
  ring();
}

extern "C" void on_reload(int) {
  g_reload = 1;
  ring();
}

void install_handlers() {
  struct sigaction stop {};
  stop.sa_handler = on_stop;
  sigemptyset(&stop.sa_mask);
  stop.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &stop, &g_old_term);
  sigaction(SIGINT, &stop, &g_old_int);
  struct sigaction hup {};
  hup.sa_handler = on_reload;
  sigemptyset(&hup.sa_mask);
  hup.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &hup, &g_old_hup);
}

}  // namespace

void Signals::hold() noexcept {
  if (g_held) return;
  install_handlers();
  g_held = true;
}

Signals::Signals() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  g_read_fd = fds[0];
  g_write_fd = fds[1];
  if (g_held) {
    if (g_stop || g_reload) ring();  // came before the pipe: the first wait returns at once
    return;
  }
  g_stop = 0;
  g_reload = 0;
  install_handlers();
}

Signals::~Signals() {
  if (!g_held) {
    sigaction(SIGTERM, &g_old_term, nullptr);
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGHUP, &g_old_hup, nullptr);
  }
  const int r = g_read_fd, w = g_write_fd;
  g_write_fd = -1;
  g_read_fd = -1;
  ::close(w);
  ::close(r);
}

void Signals::wait(std::optional<Clock::time_point> deadline) {
  int timeout_ms = -1;
  if (deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
    timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
  }
  pollfd p{g_read_fd, POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r > 0) {
    char buf[64];
    while (::read(g_read_fd, buf, sizeof buf) > 0) {
    }
  }
}

void Signals::wake() noexcept { ring(); }

void Signals::request_stop() noexcept {
  g_stop = 1;
  ring();
}

bool Signals::stop_requested() const noexcept { return g_stop != 0; }

bool Signals::take_reload() noexcept {
  if (!g_reload) return false;
  g_reload = 0;
  return true;
}

}  // namespace reportbridge::runner
