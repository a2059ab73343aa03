#include "bridge/runner/runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "bridge/core/progress.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "bridge/runner/heartbeat.hpp"
#include "bridge/runner/signals.hpp"
#include "bridge/runner/wakeup.hpp"
#include "bridge/store/sqlite.hpp"
#include "bridge/store/state_unavailable.hpp"

namespace reportbridge::runner {

namespace {

using Clock = std::chrono::steady_clock;

// A loop thread: its heartbeat, its doorbell, and how it ended.
struct Loop {
  explicit Loop(std::string name) : heartbeat(std::move(name)) {}
  Heartbeat heartbeat;
  Wakeup wakeup;
  std::thread thread;
  std::atomic<bool> done{false};
  std::exception_ptr error;

  // Sleeps until rung or `deadline`; idle meanwhile (healthy for the watchdog).
  void sleep(std::optional<Clock::time_point> deadline) {
    heartbeat.idle();
    wakeup.wait(deadline);
    heartbeat.busy();
  }
};

struct DeliveryLoop : Loop {
  using Loop::Loop;
  std::unique_ptr<store::StateStore> state;
  std::unique_ptr<pipeline::Dispatcher> dispatcher;
  pipeline::DispatchStats totals;

  void add(const pipeline::DispatchStats& d) {
    totals.batches += d.batches;
    totals.delivered += d.delivered;
    totals.retried += d.retried;
    totals.rejected += d.rejected;
    totals.recovered_batches += d.recovered_batches;
    totals.skipped_open_circuits += d.skipped_open_circuits;
  }
};

// Unix ms (the outbox's clock) to a steady-clock deadline.
Clock::time_point steady_at(std::int64_t unix_ms, std::int64_t now_ms) {
  return Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(0, unix_ms - now_ms));
}

std::optional<Clock::time_point> earliest(std::optional<Clock::time_point> a, std::optional<Clock::time_point> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

void log_batch(const pipeline::IngestStats& s) {
  spdlog::info(
      "ingest: read={} queued={} records={} rejected={} mapping_failed={} unrouted={} "
      "already_seen={} late_rows={} high_water={} open_gaps={}",
      s.read, s.queued, s.records, s.rejected, s.mapping_failed, s.unrouted, s.already_seen, s.late_rows,
      s.high_water, s.open_gaps);
}

// Page caches (memory stays flat however long the backlog): ingest's holds
// the ledger's newest pages and the dedup tables; the outbox is written once
// and read once, in order, so the delivery connections share 1 MiB.
constexpr int kIngestCacheKib = 1024;
// With deduplication the ingest connection also works on the dedup tables'
// newest pages (fingerprints, incidents, verdicts): a larger cache saves
// re-reading and re-writing them per batch.
constexpr int kIngestDedupCacheKib = 8192;
constexpr int kDeliveryCacheKib = 1024;
constexpr int kHousekeepingCacheKib = 512;

// The state database did not answer (PostgreSQL restarting, a failover): a
// loop pauses, 0.5 s doubling to 15 s, and tries again (the store connects
// again); /readyz says not ready meanwhile.
struct Outage {
  std::chrono::milliseconds wait{0};
  Clock::time_point pause(const std::string& loop, const std::exception& e) {
    wait = store::next_outage_wait(wait);
    spdlog::warn("{}: state database unavailable, next try in {} ms: {}", loop, wait.count(), e.what());
    return Clock::now() + wait;
  }
  void over() { wait = std::chrono::milliseconds(0); }
};

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

struct Runner::Impl {
  Settings settings;
  core::Source& source;
  const schema::SubmissionSchema& schema;
  const mapping::MappingSet* mappings;
  std::vector<Target> targets;
  core::EventListener* events;
  std::optional<Dedup> dedup;
  service::Notifier& notifier;
  ReloadFn reload_fn;

  std::atomic<Signals*> signals{nullptr};  // while run() runs
  std::atomic<bool> stop_early{false};  // request_stop() before run()
  std::atomic<bool> stop{false};        // finish the batch in hand, then exit
  std::atomic<bool> finish_delivery{false};      // ingest ended: deliveries end (once: after a flush)
  std::atomic<bool> finish_housekeeping{false};  // deliveries ended: drain the write-back, end
  std::atomic<bool> reload_requested{false};

  Loop ingest{"ingest"};
  std::vector<std::unique_ptr<DeliveryLoop>> deliveries;
  Loop housekeeping{"housekeeping"};
  std::unique_ptr<store::StateStore> ingest_state, housekeeping_state;
  pipeline::IngestStats ingest_totals;

  Impl(Settings s, core::Source& src, const schema::SubmissionSchema& sch, const mapping::MappingSet& m,
       std::vector<Target> t, core::EventListener* ev, std::optional<Dedup> d, service::Notifier& n, ReloadFn r)
      : settings(std::move(s)), source(src), schema(sch), mappings(&m), targets(std::move(t)), events(ev),
        dedup(std::move(d)), notifier(n), reload_fn(std::move(r)) {}

  void wake_deliveries() {
    for (auto& d : deliveries) d->wakeup.notify();
  }
  void wake_all() {
    ingest.wakeup.notify();
    wake_deliveries();
    housekeeping.wakeup.notify();
  }

  void start(Loop& loop, std::function<void()> body) {
    loop.thread = std::thread([this, &loop, body = std::move(body)] {
      core::ProgressScope progress(loop.heartbeat.beat());
      loop.heartbeat.busy();
      try {
        body();
      } catch (...) {
        loop.error = std::current_exception();
        stop.store(true);
        wake_all();
      }
      loop.heartbeat.idle();
      loop.done.store(true);
      signals.load()->wake();
    });
  }

  // --- ingest ---

  void reload(pipeline::Ingestor& ingestor) {
    notifier.reloading("reloading mappings");
    const mapping::MappingSet* fresh = reload_fn ? reload_fn() : nullptr;
    if (!fresh) {
      notifier.ready("reload refused; previous config in force");
      return;
    }
    // Items already queued keep the record rendered when they were queued.
    mappings = fresh;
    ingestor.set_mappings(*fresh);
    notifier.ready("reloaded");
  }

  void ingest_loop() {
    pipeline::Ingestor ingestor(*ingest_state, source, schema, *mappings, settings.ingest);
    ingestor.set_events(events);
    std::optional<dedup::Deduplicator> dd;
    if (dedup && dedup->settings) {
      dd.emplace(ingest_state->open_dedup_tables(), *dedup->settings);
      ingestor.set_dedup(&*dd, dedup->related, dedup->reporter_key_targets);
    }
    Outage outage;
    while (!stop.load()) {
      if (reload_requested.exchange(false)) reload(ingestor);
      pipeline::IngestStats stats;
      try {
        stats = ingestor.run_batch();
        outage.over();
      } catch (const core::SourceUnavailable& e) {
        // The back end is down or throttling: wait as it asks, then poll again.
        if (settings.once) throw;
        spdlog::warn("ingest: source unavailable, next poll in {} ms: {}", e.retry_in().count(), e.what());
        ingest.sleep(Clock::now() + e.retry_in());
        continue;
      } catch (const store::StateUnavailable& e) {
        if (settings.once) throw;
        ingest.sleep(outage.pause("ingest", e));
        continue;
      } catch (const store::LeaseLost& e) {
        // Several instances on one PostgreSQL state: another one ingests now.
        if (settings.once) throw;
        spdlog::debug("ingest: {}; next try in {} ms", e.what(), settings.poll_interval.count());
        ingest.sleep(Clock::now() + settings.poll_interval);
        continue;
      }
      ingest_totals += stats;
      if (stats.records > 0) wake_deliveries();
      if (stats.read > 0) {
        housekeeping.wakeup.notify();  // statuses of rejected, unrouted, duplicate rows
        log_batch(stats);
        continue;
      }
      if (settings.once) break;  // drained
      // Idle: the records of what was delivered since the last batch go now
      // (a busy ingest erases them in its own transactions).
      ingest_state->release_settled_records();
      ingest.sleep(Clock::now() + settings.poll_interval);
    }
  }

  // --- delivery, one thread per target ---

  void delivery_loop(DeliveryLoop& d) {
    // Batches a crash left open go again first, while ingest and the other
    // targets already work.
    Outage outage;
    for (;;) {
      try {
        d.add(d.dispatcher->recover());
        break;
      } catch (const store::StateUnavailable& e) {
        if (settings.once || stop.load()) throw;
        d.sleep(outage.pause("delivery", e));
      }
    }
    housekeeping.wakeup.notify();
    for (;;) try {
      if (stop.load()) break;
      if (finish_delivery.load()) {
        // `once`: the source is drained; publish partial batches too.
        if (settings.once) d.add(d.dispatcher->dispatch(true));
        housekeeping.wakeup.notify();
        break;
      }
      const auto pass = d.dispatcher->dispatch(false);
      outage.over();
      d.add(pass);
      if (pass.batches > 0) housekeeping.wakeup.notify();
      if (stop.load() || finish_delivery.load()) continue;
      const std::int64_t now = store::now_ms();
      const auto due = d.dispatcher->next_due_ms(now);
      std::optional<Clock::time_point> until;
      if (due) {
        until = steady_at(*due, now);
        // A pass that found nothing to do must not wake at once again.
        if (pass.batches == 0 && *due <= now) until = Clock::now() + std::chrono::milliseconds(50);
      }
      if (until && *until <= Clock::now()) continue;
      d.sleep(until);
    } catch (const store::StateUnavailable& e) {
      if (settings.once) throw;
      d.sleep(outage.pause("delivery", e));
    }
  }

  // --- housekeeping: write-back, replays, retention ---

  bool carry_out_replays(store::StateStore& state) {
    bool any = false;
    for (const auto& r : state.carry_out_replays(store::now_ms())) {
      spdlog::info("replay: {} dead letter(s) re-queued (requested by {})", r.replayed.size(), r.requested_by);
      any = any || !r.replayed.empty();
      if (!events) continue;
      for (const auto& dl : r.replayed) {
        core::Event e;
        e.kind = core::EventKind::replayed;
        e.at_ms = store::now_ms();
        e.submission_id = dl.submission_id;
        e.version = dl.version;
        e.mapping = dl.mapping;
        e.target = dl.target;
        e.detail = "requested by " + r.requested_by;
        events->on_event(e);
      }
      events->flush();
    }
    return any;
  }

  // Erases the record copies of dead letters, and deduplication rows, past
  // their retention periods.
  void purge(store::StateStore& state, dedup::Deduplicator* dd) {
    const std::int64_t now = store::now_ms();
    if (dd) {
      const std::size_t rows = dd->purge(now);  // in a transaction of its own
      if (rows > 0) {
        spdlog::info("retention: purged {} deduplication row(s) (fingerprints, reporter keys)", rows);
        if (events) {
          core::Event e;
          e.kind = core::EventKind::erased;
          e.at_ms = now;
          e.reason_code = "retention";
          e.rule = "dedup.retention";
          e.detail = std::to_string(rows) + " fingerprint/reporter-key row(s) past the dedup retention period";
          events->on_event(e);
          events->flush();
        }
      }
    }
    auto erased = state.purge_dead_records(now - settings.retention.dead_letters.count());
    if (erased.empty()) return;
    spdlog::info("retention: erased the record copies of {} dead letter(s)", erased.size());
    if (!events) return;
    for (const auto& dl : erased) {
      core::Event e;
      e.kind = core::EventKind::erased;
      e.at_ms = now;
      e.submission_id = dl.submission_id;
      e.version = dl.version;
      e.mapping = dl.mapping;
      e.target = dl.target;
      e.reason_code = "retention";
      e.detail = "dead letter record copy erased";
      events->on_event(e);
    }
    events->flush();
  }

  void housekeeping_loop() {
    store::StateStore& state = *housekeeping_state;
    std::optional<pipeline::WritebackWorker> writeback;
    if (settings.writeback_enabled)
      writeback.emplace(state, source, settings.writeback_batch, events, settings.writeback_max_delay);
    std::optional<dedup::Deduplicator> dd;  // its fingerprints and reporter keys expire too
    if (dedup && dedup->settings) dd.emplace(state.open_dedup_tables(), *dedup->settings);
    auto next_replay_check = Clock::now() + settings.replay_check;  // (run() carried out the first)
    auto next_purge = Clock::now();
    Outage outage;
    for (;;) try {
      auto now = Clock::now();
      if (now >= next_replay_check) {
        if (carry_out_replays(state)) wake_deliveries();
        next_replay_check = Clock::now() + settings.replay_check;
      }
      if (now >= next_purge) {
        purge(state, dd ? &*dd : nullptr);
        next_purge = Clock::now() + settings.retention.check_every;
      }
      const std::size_t written = writeback ? writeback->run_once() : 0;
      if (finish_housekeeping.load()) break;
      if (written > 0 && written >= settings.writeback_batch) continue;  // more are queued
      std::optional<Clock::time_point> until = std::min(next_replay_check, next_purge);
      if (writeback && writeback->next_try() > Clock::now()) until = earliest(until, writeback->next_try());
      outage.over();
      housekeeping.sleep(until);
    } catch (const store::StateUnavailable& e) {
      if (settings.once) throw;
      housekeeping.sleep(outage.pause("housekeeping", e));
    }
    // After the deliveries settled their last batches: their statuses too,
    // and the records they held are erased.
    if (writeback) writeback->drain();
    state.release_settled_records();
  }

  // --- control: signals, phases, watchdog, shutdown deadline ---

  std::vector<const Heartbeat*> heartbeats() const {
    std::vector<const Heartbeat*> out{&ingest.heartbeat, &housekeeping.heartbeat};
    for (const auto& d : deliveries) out.push_back(&d->heartbeat);
    return out;
  }

  bool deliveries_done() const {
    return std::all_of(deliveries.begin(), deliveries.end(), [](const auto& d) { return d->done.load(); });
  }

  void control() {
    Signals* const signals = this->signals.load();
    const auto interval = std::chrono::duration_cast<Clock::duration>(notifier.watchdog_interval());
    const bool watchdog = interval.count() > 0;
    auto next_ping = Clock::now();
    std::optional<Clock::time_point> deadline;  // the drain's, once stopping
    std::vector<std::string> stalled_before;
    for (;;) {
      if ((signals->stop_requested() || stop.load()) && !deadline) {
        const bool by_signal = signals->stop_requested();
        stop.store(true);
        if (by_signal) {
          spdlog::info("stopping: signal received, finishing the batches in hand");
          notifier.stopping("draining");
        }
        // A drain that outlives service.shutdown_timeout (a hung legacy
        // system) is cut short: the state database is consistent at every
        // commit, and the deliveries cut off are in doubt at the next start.
        deadline = Clock::now() + settings.shutdown_timeout;
        wake_all();
      }
      if (signals->take_reload() && !stop.load()) {
        reload_requested.store(true);
        ingest.wakeup.notify();
      }
      if (ingest.done.load() && !finish_delivery.exchange(true)) wake_deliveries();
      if (finish_delivery.load() && deliveries_done() && !finish_housekeeping.exchange(true))
        housekeeping.wakeup.notify();
      if (housekeeping.done.load() && deliveries_done() && ingest.done.load()) return;

      const auto now = Clock::now();
      if (watchdog && now >= next_ping) {
        const auto stalled = stalled_loops(heartbeats(), core::steady_now_ns(), settings.stall_timeout);
        if (stalled.empty()) {
          notifier.ping_watchdog();
          if (!stalled_before.empty()) spdlog::info("watchdog: every loop makes progress again; pings resumed");
        } else if (stalled != stalled_before) {
          spdlog::error("watchdog: {} made no progress for more than {} ms (service.stall_timeout); watchdog "
                        "pings withheld, systemd restarts the service",
                        join(stalled), settings.stall_timeout.count());
        }
        stalled_before = stalled;
        next_ping = now + interval / 2;
      }
      if (deadline && now >= *deadline) {
        spdlog::error("stopping: drain took longer than service.shutdown_timeout; exiting with deliveries in doubt");
        if (events) events->flush();
        std::_Exit(1);
      }
      signals->wait(earliest(watchdog ? std::optional(next_ping) : std::nullopt, deadline));
    }
  }
};

Runner::Runner(Settings settings, core::Source& source, const schema::SubmissionSchema& schema,
               const mapping::MappingSet& mappings, std::vector<Target> targets, core::EventListener* events,
               std::optional<Dedup> dedup, service::Notifier& notifier, ReloadFn reload)
    : impl_(std::make_unique<Impl>(std::move(settings), source, schema, mappings, std::move(targets), events,
                                   std::move(dedup), notifier, std::move(reload))) {}

Runner::~Runner() = default;

void Runner::request_stop() {
  impl_->stop_early.store(true);
  if (Signals* s = impl_->signals.load()) s->request_stop();
}

Totals Runner::run() {
  Impl& I = *impl_;
  if (!I.settings.open_state) std::filesystem::create_directories(I.settings.state_path.parent_path());
  Signals signals;
  I.signals.store(&signals);
  if (I.stop_early.load()) signals.request_stop();
  const std::string path = I.settings.state_path.string();
  auto open_state = [&](int cache_kib) {
    return I.settings.open_state ? I.settings.open_state(cache_kib) : store::open_state_store(path, cache_kib);
  };
  // One connection per loop, opened here one after another (the first
  // migrates the schema).
  I.ingest_state =
      open_state(I.dedup && I.dedup->settings ? kIngestDedupCacheKib : kIngestCacheKib);
  // The delivery connections share kDeliveryCacheKib, at least 256 KiB each:
  // more targets do not mean more memory.
  const int delivery_cache_kib =
      std::max(256, kDeliveryCacheKib / static_cast<int>(std::max<std::size_t>(1, I.targets.size())));
  for (const auto& t : I.targets) {
    auto d = std::make_unique<DeliveryLoop>("delivery:" + t.sink->name());
    d->state = open_state(delivery_cache_kib);
    // Every connection that settles batches composes a submission's status
    // from every target's rule, in config order.
    for (const auto& other : I.targets) d->state->set_writeback_rule(other.sink->name(), other.rule);
    d->dispatcher = std::make_unique<pipeline::Dispatcher>(*d->state, I.events);
    d->dispatcher->add_target(*t.sink, t.retry, t.rule, t.circuit);
    d->dispatcher->set_stop_flag(&I.stop);
    I.deliveries.push_back(std::move(d));
  }
  I.housekeeping_state = open_state(kHousekeepingCacheKib);
  // Replays asked for while the daemon was down, before anything is claimed
  // (one quick transaction; later ones are looked for every replay_check).
  I.carry_out_replays(*I.housekeeping_state);

  spdlog::info("{}: source {} state {}", I.settings.once ? "once" : "run", I.source.location(),
               I.settings.state_location.empty() ? path : I.settings.state_location);
  I.start(I.ingest, [&I] { I.ingest_loop(); });
  for (auto& d : I.deliveries) I.start(*d, [&I, &d = *d] { I.delivery_loop(d); });
  I.start(I.housekeeping, [&I] { I.housekeeping_loop(); });
  I.notifier.ready("serving " + std::to_string(I.targets.size()) + " target(s)");
  I.control();

  I.ingest.thread.join();
  for (auto& d : I.deliveries) d->thread.join();
  I.housekeeping.thread.join();
  I.signals.store(nullptr);
  if (I.ingest.error) std::rethrow_exception(I.ingest.error);
  for (auto& d : I.deliveries)
    if (d->error) std::rethrow_exception(d->error);
  if (I.housekeeping.error) std::rethrow_exception(I.housekeeping.error);

  Totals totals;
  totals.ingest = I.ingest_totals;
  for (auto& d : I.deliveries) {
    totals.delivery.batches += d->totals.batches;
    totals.delivery.delivered += d->totals.delivered;
    totals.delivery.retried += d->totals.retried;
    totals.delivery.rejected += d->totals.rejected;
    totals.delivery.recovered_batches += d->totals.recovered_batches;
    totals.delivery.skipped_open_circuits += d->totals.skipped_open_circuits;
  }
  return totals;
}

}  // namespace reportbridge::runner
