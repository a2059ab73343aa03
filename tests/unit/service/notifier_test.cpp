#include "bridge/service/notifier.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace std::chrono_literals;

namespace {

// An AF_UNIX datagram socket standing in for systemd's notify socket; sets
// NOTIFY_SOCKET to it for the test's lifetime.
class NotifySocket {
 public:
  NotifySocket() : path_((dir_ / "notify").string()) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::copy(path_.begin(), path_.end(), addr.sun_path);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  // The next datagram, or "" after 1 s.
  std::string receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  bool nothing_pending() {
    char buf[16];
    return ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) < 0;
  }

 private:
  testing::TempDir dir_{"rbnotify"};
  std::string path_;
  int fd_ = -1;
};

struct WatchdogEnv {
  WatchdogEnv(const std::string& usec, const std::string& pid) {
    ::setenv("WATCHDOG_USEC", usec.c_str(), 1);
    ::setenv("WATCHDOG_PID", pid.c_str(), 1);
  }
  ~WatchdogEnv() {
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

}  // namespace

TEST_CASE("notifier sends READY, STATUS, RELOADING and STOPPING messages verbatim") {
  NotifySocket sock;
  service::Notifier n;
  REQUIRE(n.enabled());
  CHECK(n.ready("serving 2 targets"));
  CHECK(sock.receive() == "READY=1\nSTATUS=serving 2 targets");
  CHECK(n.ready());
  CHECK(sock.receive() == "READY=1");
  CHECK(n.status("ingest: read=5\nqueued=5"));
  CHECK(sock.receive() == "STATUS=ingest: read=5 queued=5");  // one line
  CHECK(n.status(""));
  CHECK(sock.receive() == "STATUS=");
  CHECK(n.reloading("reloading mappings"));
  CHECK(sock.receive() == "RELOADING=1\nSTATUS=reloading mappings");
  CHECK(n.stopping("draining"));
  CHECK(sock.receive() == "STOPPING=1\nSTATUS=draining");
  CHECK(sock.nothing_pending());
}

TEST_CASE("notifier is a no-op without NOTIFY_SOCKET") {
  NotifySocket sock;
  ::unsetenv("NOTIFY_SOCKET");
  WatchdogEnv wd("1000000", std::to_string(::getpid()));
  service::Notifier n;
  CHECK_FALSE(n.enabled());
  CHECK_FALSE(n.ready("x"));
  CHECK_FALSE(n.stopping());
  CHECK_FALSE(n.ping_watchdog());
  n.tick(service::Notifier::Clock::now() + 10s);
  CHECK(sock.nothing_pending());
}

TEST_CASE("notifier reports a failed send and does not throw") {
  testing::TempDir dir("rbnotify");
  const auto missing = (dir / "nobody-listens").string();
  ::setenv("NOTIFY_SOCKET", missing.c_str(), 1);
  service::Notifier n;
  CHECK(n.enabled());
  CHECK_FALSE(n.ready());
  CHECK_FALSE(n.status("still no one"));
  ::unsetenv("NOTIFY_SOCKET");
}

TEST_CASE("watchdog pings at half the interval systemd asked for") {
  NotifySocket sock;
  WatchdogEnv wd("2000000", std::to_string(::getpid()));
  const auto t0 = service::Notifier::Clock::now();
  service::Notifier n;
  CHECK(n.watchdog_interval() == 2s);
  CHECK_FALSE(n.watchdog_due(t0));
  n.tick(t0 + 500ms);
  CHECK(sock.nothing_pending());
  CHECK(n.watchdog_due(t0 + 1100ms));
  n.tick(t0 + 1100ms);
  CHECK(sock.receive() == "WATCHDOG=1");
  // The next one is due a half interval after that ping, not after start.
  CHECK_FALSE(n.watchdog_due(t0 + 2000ms));
  n.tick(t0 + 2000ms);
  CHECK(sock.nothing_pending());
  n.tick(t0 + 2200ms);
  CHECK(sock.receive() == "WATCHDOG=1");
}

TEST_CASE("watchdog stays off when not asked for, for another process, or disabled in config") {
  NotifySocket sock;
  SECTION("no WATCHDOG_USEC") {
    service::Notifier n;
    CHECK(n.watchdog_interval() == 0us);
    CHECK_FALSE(n.watchdog_due(service::Notifier::Clock::now() + 1h));
  }
  SECTION("WATCHDOG_PID names another process") {
    WatchdogEnv wd("2000000", std::to_string(::getpid() + 1));
    service::Notifier n;
    CHECK(n.watchdog_interval() == 0us);
  }
  SECTION("service.watchdog: false") {
    WatchdogEnv wd("2000000", std::to_string(::getpid()));
    service::Notifier n(false);
    CHECK(n.watchdog_interval() == 0us);
    n.tick(service::Notifier::Clock::now() + 1h);
    CHECK(sock.nothing_pending());
  }
}
