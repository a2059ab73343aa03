#pragma once
// The daemon's loops (`reportbridge run`, and `once`), each on its own thread
// with its own connection to the state database:
//   ingest        polls the source, validates, maps, queues (pipeline::Ingestor);
//   delivery      one thread per target: recovers the batches a crash left open,
//                 then claims and delivers due batches (pipeline::Dispatcher), so a
//                 slow or hung target holds up neither ingest nor the other targets;
//   housekeeping  writes statuses back to the app (pipeline::WritebackWorker),
//                 carries out operators' replays, purges expired personal data;
//   control       the calling thread: signals (SIGTERM/SIGINT stop, SIGHUP
//                 reload), the systemd watchdog, and the shutdown deadline.
//
// Event-driven: a loop sleeps until there is work, never in fixed slices.
// Ingest wakes the delivery threads when it queues records and housekeeping
// when it queues statuses; a delivery thread sleeps until the next moment it
// has something to do (a full batch, the oldest item's max_age, the next
// retry, an open circuit's probe time: Dispatcher::next_due_ms) or new items;
// housekeeping sleeps until statuses are queued, a write-back backoff ends, the
// next replay check (`replay_check`, the "within a second" of `reportbridge
// replay`) or the next purge; ingest sleeps `poll_interval` when the source is
// idle, or as long as an unavailable source asks (core::SourceUnavailable).
// Signals arrive through a self-pipe (runner::Signals).
//
// Watchdog (WatchdogSec): the control thread pings at half the interval while
// every loop is idle or has made progress (core::progress) within
// `stall_timeout` (runner::Heartbeat); a loop stuck longer stops the pings and
// systemd restarts the service.
//
// Shutdown: on SIGTERM the loops finish the batch in hand (partial batches stay
// queued for the next start), then write-back drains; if that takes longer
// than `shutdown_timeout` (a hung legacy system) the process exits with code 1
// and the cut-off deliveries are in doubt at the next start. `once` instead
// stops ingest when the source is drained, then publishes partial batches too.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bridge/config/daemon_config.hpp"
#include "bridge/core/events.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/core/source.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/schema/submission_schema.hpp"
#include "bridge/service/notifier.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::runner {

struct Settings {
  bool once = false;  // drain the source, deliver (partial batches too), write back, return
  std::filesystem::path state_path;
  // Opens a connection to the state (argument: SQLite page cache in KiB); when
  // unset, the SQLite database at state_path. The app sets it from `state:`.
  std::function<std::unique_ptr<store::StateStore>(int)> open_state;
  std::string state_location;  // for the log (default: state_path)
  pipeline::IngestSettings ingest;
  std::chrono::milliseconds poll_interval{1000};
  bool writeback_enabled = true;
  std::size_t writeback_batch = 25'000;
  std::chrono::milliseconds writeback_max_delay{1000};  // 0: a pass as soon as a status is queued
  config::RetentionSettings retention;
  std::chrono::milliseconds shutdown_timeout{30'000};
  std::chrono::milliseconds stall_timeout{120'000};
  std::chrono::milliseconds replay_check{1000};
};

struct Target {
  core::Sink* sink = nullptr;
  store::RetryPolicy retry;
  store::WritebackRule rule;
  pipeline::CircuitPolicy circuit;
};

struct Dedup {
  const dedup::DedupSettings* settings = nullptr;
  std::map<std::string, dedup::RelatedPolicy> related;
  std::set<std::string> reporter_key_targets;
};

struct Totals {
  pipeline::IngestStats ingest;
  pipeline::DispatchStats delivery;
};

class Runner {
 public:
  // SIGHUP, called on the ingest thread between batches: the mapping set to
  // use from now on (the caller owns it and keeps it, and the set it
  // replaces, alive until run() returns), or nullptr when the reload is
  // refused (the caller says why).
  using ReloadFn = std::function<const mapping::MappingSet*()>;

  // `targets` in config order (the order of the written-back message).
  Runner(Settings settings, core::Source& source, const schema::SubmissionSchema& schema,
         const mapping::MappingSet& mappings, std::vector<Target> targets, core::EventListener* events,
         std::optional<Dedup> dedup, service::Notifier& notifier, ReloadFn reload = {});
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs the loops until a stop (or, with `once`, until drained) and returns
  // the totals. Sends READY=1, RELOADING=1, STOPPING=1 and the watchdog pings
  // through the notifier. Rethrows the first error of a loop once the others
  // have stopped.
  Totals run();
  // As SIGTERM: from any thread.
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::runner
