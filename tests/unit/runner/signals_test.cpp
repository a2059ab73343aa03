// Signals (runner/signals.hpp): SIGHUP and SIGTERM through a self-pipe, and
// hold(), which `run` and `once` call first so a signal that arrives while the
// daemon is still loading is kept instead of ending the process. Each
// TEST_CASE runs in a process of its own (catch_discover_tests): the handlers
// installed here do not outlive it.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>

#include "bridge/runner/signals.hpp"

using reportbridge::runner::Signals;
using namespace std::chrono_literals;

TEST_CASE("held from the start, a SIGHUP and a SIGTERM before the daemon's loop are kept, not fatal") {
  Signals::hold();
  // Without hold() the default action of each ends this process here.
  std::raise(SIGHUP);
  std::raise(SIGTERM);
  Signals signals;
  CHECK(signals.take_reload());
  CHECK_FALSE(signals.take_reload());  // once per signal
  CHECK(signals.stop_requested());
  // They came before the pipe: the first wait returns at once, not at its deadline.
  const auto t0 = Signals::Clock::now();
  signals.wait(t0 + 30s);
  CHECK(Signals::Clock::now() - t0 < 10s);
}

TEST_CASE("held, the handlers stay between instances: the gap between the state wait and the runner") {
  Signals::hold();
  { Signals state_wait; }
  std::raise(SIGHUP);  // between the two instances
  Signals runner;
  CHECK(runner.take_reload());
  CHECK_FALSE(runner.stop_requested());
}

TEST_CASE("not held, each instance starts clear and a signal reaches it through the pipe") {
  {
    Signals first;
    first.request_stop();
    CHECK(first.stop_requested());
  }
  Signals second;
  CHECK_FALSE(second.stop_requested());
  CHECK_FALSE(second.take_reload());
  std::raise(SIGHUP);
  const auto t0 = Signals::Clock::now();
  second.wait(t0 + 30s);
  CHECK(Signals::Clock::now() - t0 < 10s);
  CHECK(second.take_reload());
}
