#include "bridge/app/daemon.hpp"
#include "bridge/app/state.hpp"

#include <spdlog/spdlog.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "bridge/app/cli.hpp"
#include "bridge/audit/audit_log.hpp"
#include "bridge/runner/runner.hpp"
#include "bridge/runner/signals.hpp"
#include "bridge/service/health_server.hpp"
#include "bridge/service/metrics.hpp"
#include "bridge/service/notifier.hpp"
#include "bridge/service/state_probe.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::app {

// glibc's allocator, for a long-running process with a loop per thread
// (docs/performance.md, "Memory", changes 8, 9 and 12): blocks of 1 MiB and
// more are mapped and unmapped on their own; free memory at an arena's top
// goes back above 512 KiB; one arena per loop thread (the main thread, ingest,
// housekeeping and each target's delivery loop). Set explicitly, the
// thresholds stay put (glibc would otherwise raise them as large blocks are
// freed, up to 32 MiB, and peak RSS with them). At 128 KiB, as before, every
// batch's vectors and segment buffers were mapped and faulted in anew: a
// 100k-row run took 56k minor faults and ~21 % more CPU for 1.5 MiB less
// peak RSS (measured side by side, change 9). With two arenas for the five
// threads of a two-target config, their locks were contended: ~13 % of a 1M
// run's samples were futex waits and wakes under malloc and free, and one
// arena per loop thread took ~25 % off CPU and wall for ~2 MiB of peak RSS
// (change 12). An operator's MALLOC_* environment variables win
// (docs/operations.md, "Memory or CPU").
void tune_allocator(std::size_t targets) {
#if defined(__GLIBC__)
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 512 * 1024);
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, static_cast<int>(allocator_arenas(targets)));
#else
  (void)targets;
#endif
}

std::size_t allocator_arenas(std::size_t targets) {
  return 3 + std::max<std::size_t>(targets, 1);  // main, ingest, housekeeping, a delivery loop per target
}

namespace {

// What the delivery side needs per target, in config order.
std::vector<runner::Target> delivery_targets(const Runtime& rt) {
  std::vector<runner::Target> out;
  for (const auto& t : rt.config.targets) {
    core::Sink* sink = rt.sink(t.name);
    if (!sink) continue;
    // References are read back for updates, the written-back reference and
    // related links; a target with none of these does not keep them.
    // (Decided at start: a mapping reloaded later that adds RelatedReference links
    // with the app id until the next restart.)
    const auto columns = rt.mappings->columns_for(t.name);
    const bool links_related = rt.dedup_settings && t.related == "link" &&
                               std::find(columns.begin(), columns.end(), "RelatedReference") != columns.end();
    const bool keep_references = sink->updates_by_reference() || t.writeback.include_reference || links_related;
    out.push_back({sink,
                   {t.retry.max_attempts, t.retry.base, t.retry.cap},
                   {t.writeback.message, t.writeback.include_reference, keep_references},
                   {t.circuit.failures, t.circuit.cooldown, t.circuit.max_cooldown}});
  }
  return out;
}

std::optional<runner::Dedup> dedup_wiring(const Runtime& rt) {
  if (!rt.dedup_settings) return std::nullopt;
  const auto rules = decision_rules(rt);
  return runner::Dedup{&*rt.dedup_settings, rules.related, rules.reporter_key_targets};
}

}  // namespace

int run_daemon(Runtime& rt, bool once, const std::string& log_level_override,
               std::chrono::milliseconds state_wait) {
  tune_allocator(rt.config.targets.size());
  // The audit trail and the metrics listen to every lifecycle event.
  std::shared_ptr<audit::AuditLog> audit_log;
  if (rt.audit.enabled) {
    try {
      audit_log = std::make_shared<audit::AuditLog>(rt.audit);
    } catch (const std::exception& e) {
      spdlog::error("audit trail cannot be opened, nothing was started: {}", e.what());
      return kExitFailure;
    }
    rt.events->add(audit_log);
  }
  auto metrics = std::make_shared<service::Metrics>(rt.config.target_names(), rt.config.instance_name(),
                                                    rt.config.postgres ? "postgresql" : "sqlite");
  rt.events->add(metrics);

  // Health, readiness and metrics on their own thread and state connection.
  // The connection is made after the health server starts: a PostgreSQL
  // server that is down or failing over is waited for (live, not ready).
  if (!rt.config.postgres) std::filesystem::create_directories(rt.config.state_path.parent_path());
  std::unique_ptr<store::StateStore> probe_store;
  std::string state_waiting;  // why the state is not open yet (under probe_mutex)
  std::mutex probe_mutex;
  const auto targets = rt.config.target_names();
  metrics->set_gauge_source([&] {
    std::lock_guard<std::mutex> g(probe_mutex);
    if (!probe_store) return service::Gauges{};
    auto gauges = service::collect_gauges(*probe_store, targets, store::now_ms());
    if (auto* pg = dynamic_cast<pg_store::PgStateStore*>(probe_store.get())) {
      gauges.fleet = true;
      for (auto& l : pg->leases_held()) gauges.leases.push_back({std::move(l.instance), std::move(l.lease), l.held});
    }
    return gauges;
  });
  if (rt.config.postgres) metrics->set_takeover_source([] { return pg_store::batches_taken_over(); });
  if (!rt.config.postgres) metrics->set_state_lock_source(store::write_lock_times);
  // Only the daemon serves health and metrics; `once` is a batch job.
  std::optional<service::HealthServer> health;
  if (rt.service.health.enabled && !once) {
    auto readiness = [&] {
      std::lock_guard<std::mutex> g(probe_mutex);
      service::ReadinessInputs in;
      if (!probe_store) {
        in.state_error = "state database unavailable: " + state_waiting;
      } else if (auto* db = probe_store->sqlite_database()) {
        in.state_error = service::probe_state_writable(*db);
      } else {
        // PostgreSQL: a query answered (the connection is made again if the server dropped it).
        try {
          probe_store->pending_writeback_count();
        } catch (const std::exception& e) {
          in.state_error = std::string("state database: ") + e.what();
        }
      }
      in.source_error = rt.source->probe();
      if (audit_log && !audit_log->healthy()) in.state_error = "audit trail: " + audit_log->last_error();
      if (probe_store) in.circuits = service::circuits(*probe_store, targets);
      in.now_ms = store::now_ms();
      return service::readiness_checks(in, rt.service.health.circuit_open_threshold);
    };
    metrics->set_ready_source([readiness] {
      const auto checks = readiness();
      return std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok; });
    });
    health.emplace(rt.service.health.server, readiness, [&] { return metrics->render(); });
    try {
      health->start();
    } catch (const std::exception& e) {
      spdlog::error("health server: {}", e.what());
      return kExitFailure;
    }
  }
  service::Notifier notifier(rt.service.service.watchdog);

  // The daemon waits for its state database as long as it takes; under
  // systemd it says READY=1 with a STATUS while waiting (so TimeoutStartSec
  // does not end it) and keeps the watchdog fed. `once` waits --state-wait.
  const std::optional<std::chrono::milliseconds> wait_limit =
      once ? std::optional(state_wait) : std::nullopt;
  {
    // SIGTERM/SIGINT while waiting end the wait (and the process, exit 0, as
    // a stop does later): `systemctl stop` of a bridge whose database is down.
    runner::Signals signals;
    bool told = false;
    auto waiting = [&] {
      if (!told && !once) {
        told = true;
        notifier.ready("waiting for the state database");
      }
      notifier.tick();
      return signals.stop_requested();
    };
    {
      std::lock_guard<std::mutex> g(probe_mutex);
      state_waiting = "not connected yet (" + state_location(rt.config) + ")";
    }
    auto opened = open_state_waiting(rt.config, 256, wait_limit, waiting);
    if (!opened) {
      spdlog::info("stopping: signal received while waiting for the state database; nothing was read or sent");
      notifier.stopping("stopped while waiting for the state database");
      if (health) health->stop();
      return kExitOk;
    }
    std::lock_guard<std::mutex> g(probe_mutex);
    probe_store = std::move(opened);
  }

  runner::Settings settings;
  settings.once = once;
  settings.state_path = rt.config.state_path;
  // The probe connection is open, so the server answered a moment ago; an
  // outage just now is waited for as long as `once` may wait, 5 min for `run`.
  settings.open_state = [&rt, once, state_wait](int cache_kib) {
    return open_state_waiting(rt.config, cache_kib, once ? state_wait : std::chrono::milliseconds(std::chrono::minutes(5)));
  };
  settings.state_location = state_location(rt.config);
  settings.ingest = {rt.config.source.batch_size, rt.config.source.late_row_window};
  settings.poll_interval = rt.config.source.poll_interval;
  settings.writeback_enabled = rt.config.writeback_enabled;
  settings.writeback_batch = rt.config.writeback_batch;
  settings.writeback_max_delay = rt.config.writeback_max_delay;
  settings.retention = rt.config.retention;
  settings.shutdown_timeout = rt.service.service.shutdown_timeout;
  settings.stall_timeout = rt.service.service.stall_timeout;

  // SIGHUP: the mapping set and the log level, checked as `check` does.
  std::vector<std::unique_ptr<mapping::MappingSet>> retired_mappings;
  auto reload = [&]() -> const mapping::MappingSet* {
    core::Diagnostics diags;
    auto fresh = app::reload(rt, diags);
    if (!fresh) {
      spdlog::error("reload refused; the running config and mappings stay in force:\n{}", diags.to_string());
      return nullptr;
    }
    // Items already queued keep the record rendered when they were queued
    // (mappings/README.md, "Reloading while submissions are queued").
    retired_mappings.push_back(std::move(rt.mappings));
    rt.mappings = std::move(fresh->mappings);
    rt.config.mapping_files = fresh->mapping_files;
    const bool level_changed = log_level_override.empty() && fresh->log_level != rt.config.log_level;
    if (level_changed) rt.config.log_level = fresh->log_level;
    spdlog::info("reload: {} mappings in force, log level {}", rt.mappings->mappings().size(), rt.config.log_level);
    if (level_changed) spdlog::set_level(spdlog::level::from_str(rt.config.log_level));
    return rt.mappings.get();
  };

  // No listener, no events built (they cost a few allocations per submission).
  core::EventListener* events = rt.events->empty() ? nullptr : rt.events.get();
  runner::Runner daemon(settings, *rt.source, *rt.schema, *rt.mappings, delivery_targets(rt), events,
                        dedup_wiring(rt), notifier, reload);
  std::optional<runner::Totals> totals;
  std::exception_ptr error;
  try {
    totals = daemon.run();
  } catch (...) {
    error = std::current_exception();
  }
  if (health) health->stop();
  if (error) std::rethrow_exception(error);
  const auto& in = totals->ingest;
  const auto& out = totals->delivery;
  spdlog::info(
      "done: read={} queued={} rejected={} mapping_failed={} unrouted={} duplicates={} related={} "
      "delivered={} retry={} dead={} batches={}",
      in.read, in.queued, in.rejected, in.mapping_failed, in.unrouted, in.duplicates, in.related, out.delivered,
      out.retried, out.rejected, out.batches);
  return kExitOk;
}

}  // namespace reportbridge::app
