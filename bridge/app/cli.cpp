#include "bridge/app/cli.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/app/components.hpp"
#include "bridge/audit/audit_cli.hpp"
#include "bridge/audit/audit_log.hpp"
#include "bridge/core/bounded_read.hpp"
#include "bridge/core/untrusted_text.hpp"
#include "bridge/dedup/deduplicator.hpp"
#include "bridge/service/health_server.hpp"
#include "bridge/service/journal_log.hpp"
#include "bridge/service/metrics.hpp"
#include "bridge/service/notifier.hpp"
#include "bridge/service/state_probe.hpp"
#include "bridge/app/runtime.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/bridge_fields.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::app {

namespace {

constexpr const char* kUsage = R"(reportbridge )" REPORTBRIDGE_VERSION R"( - the bridge from the public reporting app to legacy force systems

Usage:
  reportbridge run     --config FILE   Run as a daemon in the foreground until SIGTERM/SIGINT
                                       (finishes the current batch, then exits 0). SIGHUP
                                       re-reads the config and mapping files; a set with
                                       errors, or a change that needs a restart, is refused.
  reportbridge once    --config FILE   One pass over everything pending (read, deliver,
                                       write back), then exit.
  reportbridge check   --config FILE   Validate config, mappings, lookups, schema and targets.
                                       Every problem is printed as file:line:col: message.
  reportbridge preview --config FILE (--submission ID | --input FILE.json)
                                       Print exactly what each target would receive.
  reportbridge status  --config FILE   Backlog, per-target counts, circuits, dead letters and
                                       quarantined rows.
  reportbridge replay  --config FILE (--all | --target NAME | --submission ID | --item N)
                                       Re-queue dead letters after a fix, each for its own
                                       target only. The daemon carries the request out (at
                                       once if running, else at its next start) and audits it.
                                       With --list, only show what would be replayed.
  reportbridge audit verify [--config FILE]
                                       Check the audit trail's hash chain across every file.
  reportbridge audit show --submission ID [--since T] [--until T] [--target NAME] [--json]
                                       One submission's whole history (docs/audit.md).
  reportbridge config-keys              Print every config key as Markdown (docs/configuration.md).
  reportbridge --help | --version

Options:
  --config FILE     the daemon config (default: /etc/reportbridge/reportbridge.yaml)
  --log-level LEVEL override logging.level (trace, debug, info, warn, error)
  --limit N         status: how many quarantined rows and dead letters to list (default 20)

Exit codes:
  0  success (check: no errors; preview: every target would accept it)
  1  runtime failure (database or I/O error)
  2  bad command line
  3  the configuration, a mapping, a lookup or the schema has errors
  4  preview: the submission would be rejected or quarantined
)";

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }
extern "C" void on_reload_signal(int) { g_reload.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_reload_signal;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

struct Args {
  std::string verb;
  std::string config = "/etc/reportbridge/reportbridge.yaml";
  std::string submission;
  std::string input;
  std::string log_level;
  std::size_t limit = 20;
  std::string target;
  std::int64_t item = 0;
  bool all = false;
  bool list = false;
};

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (service::is_journal_stream()) {
    // Under systemd: "<priority>message" lines; the journal adds the time.
    logger = std::make_shared<spdlog::logger>("reportbridge", service::make_journal_sink());
  } else {
    logger = spdlog::stderr_logger_mt("reportbridge");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

std::unique_ptr<Runtime> load_or_report(const Args& args, int& exit_code) {
  core::Diagnostics diags;
  auto rt = load_runtime(args.config, diags);
  if (!diags.empty()) std::cerr << diags.to_string();
  if (!rt) {
    std::cerr << "reportbridge: configuration has errors; nothing was started\n";
    exit_code = kExitConfigInvalid;
    return nullptr;
  }
  setup_logging(args.log_level.empty() ? rt->config.log_level : args.log_level);
  return rt;
}

// The delivery side: the dispatcher on its own state connection, in its own
// thread, so rendering and file I/O overlap with ingest.
struct Delivery {
  store::StateStore state;
  pipeline::Dispatcher dispatcher;
  pipeline::DispatchStats totals;

  core::EventListener* events;

  Delivery(Runtime& rt, core::EventListener* events)
      : state(rt.config.state_path.string(), 8), dispatcher(state, events), events(events) {
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
      dispatcher.add_target(*sink, {t.retry.max_attempts, t.retry.base, t.retry.cap},
                            {t.writeback.message, t.writeback.include_reference, keep_references},
                            {t.circuit.failures, t.circuit.cooldown, t.circuit.max_cooldown});
    }
  }

  // Replays operators asked for with `reportbridge replay`.
  void carry_out_replays() {
    for (const auto& r : state.carry_out_replays(store::now_ms())) {
      spdlog::info("replay: {} dead letter(s) re-queued (requested by {})", r.replayed.size(),
                   r.requested_by);
      if (!events) continue;
      for (const auto& d : r.replayed) {
        core::Event e;
        e.kind = core::EventKind::replayed;
        e.at_ms = store::now_ms();
        e.submission_id = d.submission_id;
        e.version = d.version;
        e.mapping = d.mapping;
        e.target = d.target;
        e.detail = "requested by " + r.requested_by;
        events->on_event(e);
      }
      events->flush();
    }
  }

  void add(const pipeline::DispatchStats& d) {
    totals.batches += d.batches;
    totals.delivered += d.delivered;
    totals.retried += d.retried;
    totals.rejected += d.rejected;
    totals.recovered_batches += d.recovered_batches;
  }

  // Delivers until `stop`; then, with `flush_at_end`, publishes partial batches too.
  void loop(const std::atomic<bool>& stop, const std::atomic<bool>& flush_at_end) {
    auto next_replay_check = std::chrono::steady_clock::now();
    while (!stop.load()) {
      if (std::chrono::steady_clock::now() >= next_replay_check) {
        carry_out_replays();
        next_replay_check = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
      auto d = dispatcher.dispatch(false);
      add(d);
      // Nothing due: wait a little before asking again (each ask counts the
      // due items); 100 ms is nothing beside a target's max_age.
      if (d.batches == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    add(dispatcher.dispatch(flush_at_end.load()));
  }
};

// Write-back to the app's store, in a thread of its own: the app's table is
// keyed by random ids, so these writes are slow, and they must never hold up
// delivery.
struct Writeback {
  store::StateStore state;
  pipeline::WritebackWorker worker;

  config::RetentionSettings retention;
  core::EventListener* events;
  std::optional<dedup::Deduplicator> dedup;  // its fingerprints and reporter keys expire too

  Writeback(Runtime& rt, core::EventListener* events)
      : state(rt.config.state_path.string(), 2),
        worker(state, *rt.source, rt.config.writeback_batch, events),
        retention(rt.config.retention),
        events(events) {
    if (rt.dedup_settings) dedup.emplace(state.db(), *rt.dedup_settings);
  }

  // Erases the record copies of dead letters older than the retention period.
  void purge() {
    const std::int64_t now = store::now_ms();
    if (dedup) {
      store::Transaction tx(state.db());
      const std::size_t rows = dedup->purge(now);
      tx.commit();
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
    auto erased = state.purge_dead_records(now - retention.dead_letters.count());
    if (erased.empty()) return;
    spdlog::info("retention: erased the record copies of {} dead letter(s)", erased.size());
    if (!events) return;
    for (const auto& d : erased) {
      core::Event e;
      e.kind = core::EventKind::erased;
      e.at_ms = now;
      e.submission_id = d.submission_id;
      e.version = d.version;
      e.mapping = d.mapping;
      e.target = d.target;
      e.reason_code = "retention";
      e.detail = "dead letter record copy erased";
      events->on_event(e);
    }
    events->flush();
  }

  // Writes until `stop`, then drains what is queued. Runs the retention purge
  // at start and every check_every.
  void loop(const std::atomic<bool>& stop, std::size_t batch) {
    auto next_purge = std::chrono::steady_clock::now();
    while (!stop.load()) {
      if (std::chrono::steady_clock::now() >= next_purge) {
        purge();
        next_purge = std::chrono::steady_clock::now() + retention.check_every;
      }
      if (worker.run_once() < batch) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    worker.drain();
  }
};

void log_batch(const pipeline::IngestStats& s) {
  spdlog::info(
      "ingest: read={} queued={} records={} rejected={} mapping_failed={} unrouted={} "
      "already_seen={} late_rows={} high_water={} open_gaps={}",
      s.read, s.queued, s.records, s.rejected, s.mapping_failed, s.unrouted, s.already_seen,
      s.late_rows, s.high_water, s.open_gaps);
}

int cmd_run(const Args& args, bool once) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  install_signal_handlers();
  std::filesystem::create_directories(rt->config.state_path.parent_path());
  store::StateStore ingest_state(rt->config.state_path.string());
  pipeline::Ingestor ingestor(ingest_state, *rt->source, *rt->schema, *rt->mappings,
                              {rt->config.source.batch_size, rt->config.source.late_row_window});

  // The audit trail and the metrics listen to every lifecycle event.
  std::shared_ptr<audit::AuditLog> audit_log;
  if (rt->audit.enabled) {
    try {
      audit_log = std::make_shared<audit::AuditLog>(rt->audit);
    } catch (const std::exception& e) {
      spdlog::error("audit trail cannot be opened, nothing was started: {}", e.what());
      return kExitFailure;
    }
    rt->events->add(audit_log);
  }
  auto metrics = std::make_shared<service::Metrics>(rt->config.target_names());
  rt->events->add(metrics);

  std::optional<dedup::Deduplicator> dedup;
  if (rt->dedup_settings) {
    dedup.emplace(ingest_state.db(), *rt->dedup_settings);
    std::map<std::string, dedup::RelatedPolicy> related;
    std::set<std::string> reporter_key_targets;
    for (const auto& t : rt->config.targets) {
      related[t.name] = dedup::parse_related_policy(t.related).value_or(dedup::RelatedPolicy::link);
      if (t.reporter_key) reporter_key_targets.insert(t.name);
    }
    ingestor.set_dedup(&*dedup, std::move(related), std::move(reporter_key_targets));
  }

  // Health, readiness and metrics on their own thread and state connection.
  store::StateStore probe_state(rt->config.state_path.string(), 2);
  std::mutex probe_mutex;
  const auto targets = rt->config.target_names();
  metrics->set_gauge_source([&] {
    std::lock_guard<std::mutex> g(probe_mutex);
    return service::collect_gauges(probe_state, targets, store::now_ms());
  });
  const auto source_path = rt->config.source.path.string();
  // Only the daemon serves health and metrics; `once` is a batch job.
  std::optional<service::HealthServer> health;
  if (rt->service.health.enabled && !once) {
    health.emplace(
        rt->service.health.server,
        [&] {
          std::lock_guard<std::mutex> g(probe_mutex);
          service::ReadinessInputs in;
          in.state_error = service::probe_state_writable(probe_state.db());
          try {
            store::Database src(source_path, store::Database::Mode::read_only);
            src.prepare("SELECT 1 FROM submissions LIMIT 1").step();
          } catch (const std::exception& e) {
            in.source_error = e.what();
          }
          if (audit_log && !audit_log->healthy()) in.state_error = "audit trail: " + audit_log->last_error();
          in.circuits = service::circuits(probe_state, targets);
          in.now_ms = store::now_ms();
          return service::readiness_checks(in, rt->service.health.circuit_open_threshold);
        },
        [&] { return metrics->render(); });
    try {
      health->start();
    } catch (const std::exception& e) {
      spdlog::error("health server: {}", e.what());
      return kExitFailure;
    }
  }
  service::Notifier notifier(rt->service.service.watchdog);

  // No listener, no events built (they cost a few allocations per submission).
  core::EventListener* events = rt->events->empty() ? nullptr : rt->events.get();
  ingestor.set_events(events);
  Delivery delivery(*rt, events);
  delivery.dispatcher.set_stop_flag(&g_stop);
  delivery.carry_out_replays();
  delivery.add(delivery.dispatcher.recover());
  spdlog::info("{}: source {} state {}", once ? "once" : "run",
               rt->config.source.type == "http" ? config::get_string(rt->config.source.settings, "base_url", "")
                                                : rt->config.source.path.string(),
               rt->config.state_path.string());

  std::atomic<bool> stop_delivery{false}, flush_at_end{false}, stop_writeback{false};
  std::exception_ptr delivery_error, writeback_error;
  std::thread delivery_thread([&] {
    try {
      delivery.loop(stop_delivery, flush_at_end);
    } catch (...) {
      delivery_error = std::current_exception();
      g_stop.store(true);
    }
  });
  std::optional<Writeback> writeback;
  if (rt->config.writeback_enabled) writeback.emplace(*rt, events);
  std::vector<std::unique_ptr<mapping::MappingSet>> retired_mappings;
  std::thread writeback_thread([&] {
    if (!writeback) return;
    try {
      writeback->loop(stop_writeback, rt->config.writeback_batch);
    } catch (...) {
      writeback_error = std::current_exception();
      g_stop.store(true);
    }
  });
  pipeline::IngestStats total;
  std::exception_ptr ingest_error;
  notifier.ready("serving " + std::to_string(targets.size()) + " target(s)");
  try {
    while (!g_stop.load()) {
      notifier.tick();
      if (g_reload.exchange(false)) {
        notifier.reloading("reloading mappings");
        core::Diagnostics diags;
        auto fresh = reload(*rt, diags);
        if (!fresh) {
          spdlog::error("reload refused; the running config and mappings stay in force:\n{}", diags.to_string());
          notifier.ready("reload refused; previous config in force");
        } else {
          ingestor.set_mappings(*fresh->mappings);
          // Items already queued keep the record rendered when they were
          // queued (mappings/README.md, "Reloading while submissions are queued").
          retired_mappings.push_back(std::move(rt->mappings));
          rt->mappings = std::move(fresh->mappings);
          rt->config.mapping_files = fresh->mapping_files;
          const bool level_changed = args.log_level.empty() && fresh->log_level != rt->config.log_level;
          if (level_changed) rt->config.log_level = fresh->log_level;
          spdlog::info("reload: {} mappings in force, log level {}", rt->mappings->mappings().size(),
                       rt->config.log_level);
          if (level_changed) spdlog::set_level(spdlog::level::from_str(rt->config.log_level));
          notifier.ready("reloaded");
        }
      }
      pipeline::IngestStats stats;
      try {
        stats = ingestor.run_batch();
      } catch (const http_store::SourceUnavailable& e) {
        // The hosted back end is down or throttling: wait as it asks, then poll again.
        if (once) throw;
        spdlog::warn("ingest: source unavailable, next poll in {} ms: {}", e.retry_in().count(), e.what());
        auto until = std::chrono::steady_clock::now() + e.retry_in();
        while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
          notifier.tick();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        continue;
      }
      total += stats;
      if (stats.read > 0) {
        log_batch(stats);
        continue;
      }
      if (once) break;
      // Idle: sleep the poll interval in slices so a signal is acted on promptly.
      auto until = std::chrono::steady_clock::now() + rt->config.source.poll_interval;
      while (!g_stop.load() && !g_reload.load() && std::chrono::steady_clock::now() < until) {
        notifier.tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  } catch (...) {
    ingest_error = std::current_exception();
  }
  if (g_stop.load()) {
    spdlog::info("stopping: signal received, current batch finished");
    notifier.stopping("draining");
  }
  // A drain that outlives service.shutdown_timeout (a hung legacy system) is
  // cut short: the state database is consistent at every commit, and the
  // deliveries cut off are in doubt and checked at the next start.
  std::atomic<bool> drained{false};
  std::thread deadline([&] {
    const auto until = std::chrono::steady_clock::now() + rt->service.service.shutdown_timeout;
    while (!drained.load() && std::chrono::steady_clock::now() < until) {
      notifier.tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (drained.load() || !g_stop.load()) return;
    spdlog::error("stopping: drain took longer than service.shutdown_timeout; exiting with deliveries in doubt");
    if (audit_log) audit_log->flush();
    std::_Exit(kExitFailure);
  });
  // `once` publishes partial batches; a stopping daemon leaves them queued for the next start.
  flush_at_end.store(once && !ingest_error);
  stop_delivery.store(true);
  delivery_thread.join();
  // After delivery has settled its last batch, so its statuses are queued too.
  stop_writeback.store(true);
  writeback_thread.join();
  drained.store(true);
  deadline.join();
  if (health) health->stop();
  if (ingest_error) std::rethrow_exception(ingest_error);
  if (delivery_error) std::rethrow_exception(delivery_error);
  if (writeback_error) std::rethrow_exception(writeback_error);
  const auto& delivered = delivery.totals;
  spdlog::info(
      "done: read={} queued={} rejected={} mapping_failed={} unrouted={} duplicates={} related={} "
      "delivered={} retry={} dead={} batches={}",
      total.read, total.queued, total.rejected, total.mapping_failed, total.unrouted, total.duplicates,
      total.related,
      delivered.delivered, delivered.retried, delivered.rejected, delivered.batches);
  return kExitOk;
}

int cmd_check(const Args& args) {
  core::Diagnostics diags;
  auto rt = load_runtime(args.config, diags);
  std::cout << diags.to_string();
  if (!rt) {
    std::size_t errors = 0;
    for (const auto& d : diags.items())
      if (d.severity == core::Severity::error) ++errors;
    std::cout << args.config << ": " << errors << " error(s)\n";
    return kExitConfigInvalid;
  }
  std::cout << args.config << ": OK (" << rt->mappings->mappings().size() << " mappings, "
            << rt->sinks.size() << " targets)\n";
  return kExitOk;
}

int cmd_preview(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  core::SourceRow row;
  if (!args.input.empty()) {
    // Read no further than the largest payload the schema accepts (plus a
    // little): `--input /dev/zero` is rejected for its size like in ingest.
    core::BoundedRead in = core::read_bounded(args.input, schema::kMaxPayloadBytes);
    if (!in.content) {
      std::cerr << "reportbridge: cannot read " << args.input << ": " << in.error << "\n";
      return kExitFailure;
    }
    row.payload = std::move(*in.content);
    boost::system::error_code ec;
    auto v = boost::json::parse(row.payload, ec);
    if (!ec && v.is_object()) {
      if (auto* id = v.get_object().if_contains("id"); id && id->is_string())
        row.id = std::string(id->get_string());
      if (auto* ver = v.get_object().if_contains("version"); ver && ver->is_int64())
        row.version = ver->get_int64();
    }
  } else {
    std::optional<core::SourceRow> found;
    try {
      // The HTTP store has no GET for one submission: its latest() pages the whole store.
      found = rt->sqlite_source ? rt->sqlite_source->latest(args.submission)
                                : rt->http_source->latest(args.submission);
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: cannot read the submission store: " << e.what() << "\n";
      return kExitFailure;
    }
    if (!found) {
      std::cerr << "reportbridge: submission " << args.submission << " not found in "
                << (rt->sqlite_source ? rt->config.source.path.string()
                                      : config::get_string(rt->config.source.settings, "base_url", ""))
                << "\n";
      return kExitFailure;
    }
    row = *found;
  }
  std::cout << "submission " << row.id << " version " << row.version << "\n";
  auto check = schema::check_payload(*rt->schema, row.payload, row.id, row.version);
  if (!check.ok()) {
    std::cout << "REJECTED by the submission schema (would be quarantined):\n";
    for (const auto& e : check.errors) std::cout << "  " << schema::to_string(e) << "\n";
    std::cout << "resident would be told: " << schema::resident_message(check.errors) << "\n";
    return kExitPreviewRejected;
  }
  const mapping::RoutePlan plan = rt->mappings->plan(*check.doc);
  std::cout << mapping::format_plan(plan);
  // Judged against the state database's history, without recording anything;
  // the verdict fills the bridge's fields (RelatedReference, ReporterKey) below.
  std::optional<store::StateStore> preview_state;
  std::optional<dedup::Verdict> verdict;
  if (rt->dedup_settings) {
    if (std::filesystem::exists(rt->config.state_path)) {
      preview_state.emplace(rt->config.state_path.string(), 2);
      dedup::Deduplicator dd(preview_state->db(), *rt->dedup_settings);
      verdict = dd.check(*check.doc, row);
      const auto& v = *verdict;
      std::cout << "dedup: " << dedup::to_string(v.kind) << " (rule " << v.rule << ")";
      if (!v.of_id.empty()) std::cout << " of " << v.of_id;
      if (!v.explanation.empty()) std::cout << ": " << v.explanation;
      std::cout << "\n";
      if (v.kind == dedup::Verdict::Kind::duplicate) {
        std::cout << "DUPLICATE: would be recorded as a duplicate and not sent again\n";
        return kExitOk;
      }
    }
  }
  if (plan.routes.empty()) {
    std::cout << "UNROUTED: no mapping applies (would be quarantined as unrouted)\n";
    return kExitPreviewRejected;
  }
  int result = kExitOk;
  for (const auto& route : plan.routes) {
    const auto& target = route.target;
    std::cout << "\n== mapping " << route.mapping->name << " -> target " << target << "\n";
    auto traced = mapping::apply_traced(*route.mapping, target, *check.doc, row.id, row.version);
    std::cout << mapping::format_lineage(traced);
    if (traced.result.error) {
      std::cout << "QUARANTINED: " << mapping::to_string(*traced.result.error) << "\n";
      result = kExitPreviewRejected;
      continue;
    }
    pipeline::BridgeFieldContext bridge_fields;
    bridge_fields.verdict = verdict ? &*verdict : nullptr;
    bridge_fields.anonymous = pipeline::reporter_is_anonymous(*check.doc);
    for (const auto& t : rt->config.targets) {
      if (t.name != target) continue;
      bridge_fields.related = dedup::parse_related_policy(t.related).value_or(dedup::RelatedPolicy::link);
      bridge_fields.reporter_key = t.reporter_key;
    }
    bridge_fields.reference_for = [&](const std::string& id) {
      return preview_state ? preview_state->reference_for(id, target) : std::string();
    };
    if (pipeline::fill_bridge_fields(*traced.result.record, bridge_fields)) {
      // As ingest fills them (the lineage above shows the mapping's own value).
      for (const auto& f : traced.result.record->fields) {
        if (f.name != pipeline::kRelatedReferenceField && f.name != pipeline::kReporterKeyField) continue;
        std::cout << "    " << f.name << " = " << (f.value ? "\"" + *f.value + "\"" : std::string("(no value)"))
                  << "   <- bridge: "
                  << (f.name == pipeline::kRelatedReferenceField ? "related report, policy " +
                                                                       std::string(dedup::to_string(bridge_fields.related))
                                                                 : std::string("reporter key, reporter_key ") +
                                                                       (bridge_fields.reporter_key ? "on" : "off"))
                  << "\n";
      }
    }
    if (verdict && verdict->kind == dedup::Verdict::Kind::related) {
      if (bridge_fields.related == dedup::RelatedPolicy::hold)
        std::cout << "HELD for review at " << target << " (related: hold): a dead letter until replayed\n";
    }
    if (auto* sink = rt->sink(target)) {
      std::string rendered;
      try {
        rendered = sink->encode_preview(*traced.result.record);
      } catch (const std::exception& e) {
        std::cout << "REJECTED by target " << target << ": " << core::escape_for_terminal(e.what()) << "\n";
        result = kExitPreviewRejected;
        continue;
      }
      std::cout << "-- " << target << " receives:\n" << rendered;
      if (!rendered.ends_with("\n")) std::cout << "\n";
    }
  }
  return result;
}

int cmd_status(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  if (!std::filesystem::exists(rt->config.state_path)) {
    std::cout << "no state database yet at " << rt->config.state_path.string()
              << ": nothing has been processed (run `reportbridge once` or `run`)\n";
    return kExitOk;
  }
  store::StateStore state(rt->config.state_path.string());
  auto cursor = state.load_cursor(rt->config.source.name);
  std::int64_t backlog = -1;
  try {
    backlog = rt->source->backlog(cursor);
  } catch (const std::exception& e) {
    std::cout << "source: unreachable: " << core::escape_for_terminal(e.what()) << "\n";
  }
  std::cout << "source " << rt->config.source.name << ": high-water seq " << cursor.high_water
            << ", " << cursor.gaps.size() << " open gap(s) awaiting late rows, backlog "
            << (backlog < 0 ? std::string("unknown") : std::to_string(backlog)) << " row(s)\n";
  std::cout << "processed: " << state.ledger_count() << " submission version(s)\n";
  std::cout << "targets:\n";
  auto counts = state.target_counts();
  for (const auto& t : rt->config.targets) {
    store::TargetCounts c{t.name};
    for (const auto& x : counts)
      if (x.target == t.name) c = x;
    std::printf("  %-24s pending %-8lld in_flight %-6lld delivered %-8lld dead %lld\n",
                t.name.c_str(), static_cast<long long>(c.pending),
                static_cast<long long>(c.in_flight), static_cast<long long>(c.delivered),
                static_cast<long long>(c.dead));
  }
  std::fflush(stdout);
  for (const auto& h : state.target_health()) {
    if (h.circuit == "closed") continue;
    std::cout << "  circuit " << h.circuit << ": " << h.target << " after " << h.consecutive_failures
              << " failed batch(es), next probe " << store::rfc3339_utc(h.retry_at_ms) << " (last error: "
              << core::escape_for_terminal(h.last_error) << ")\n";
  }
  auto dead = state.dead_letters({}, args.limit);
  if (!dead.empty()) {
    std::cout << "dead letters (oldest first; `reportbridge replay` re-queues them):\n";
    for (const auto& d : dead)
      std::cout << "  item " << d.outbox_id << "  " << d.target << "  " << d.submission_id << " v"
                << d.version << "  " << core::escape_for_terminal(d.last_error)
                << (d.replayable ? "" : "  (record erased: not replayable)") << "\n";
  }
  std::cout << "write-back: " << state.pending_writeback_count() << " status(es) pending\n";
  std::cout << "quarantined: " << state.quarantine_count() << " (newest first)\n";
  for (const auto& q : state.quarantined(args.limit)) {
    std::cout << "  seq " << q.seq << "  " << q.submission_id << " v" << q.version << "  "
              << q.reason_code;
    if (!q.mapping.empty()) std::cout << "  mapping " << q.mapping;
    if (!q.field.empty()) std::cout << "  field " << q.field;
    std::cout << "  " << core::escape_for_terminal(q.detail) << "\n";
  }
  return kExitOk;
}

int cmd_replay(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  const int chosen = (args.all ? 1 : 0) + (args.target.empty() ? 0 : 1) + (args.submission.empty() ? 0 : 1) +
                     (args.item ? 1 : 0);
  if (chosen != 1 && !(chosen == 2 && !args.target.empty() && !args.submission.empty())) {
    std::cerr << "reportbridge: replay needs --all, --target NAME, --submission ID (optionally with"
                 " --target) or --item N\n";
    return kExitUsage;
  }
  if (!std::filesystem::exists(rt->config.state_path)) {
    std::cout << "no state database yet: nothing to replay\n";
    return kExitOk;
  }
  store::StateStore state(rt->config.state_path.string());
  store::ReplaySelector which{args.target, args.submission, args.item};
  auto dead = state.dead_letters(which, 1'000'000);
  std::size_t replayable = 0;
  for (const auto& d : dead) {
    if (d.replayable) ++replayable;
    if (args.list)
      std::cout << "item " << d.outbox_id << "  " << d.target << "  " << d.submission_id << " v" << d.version
                << "  " << core::escape_for_terminal(d.last_error)
                << (d.replayable ? "" : "  (record erased: not replayable)") << "\n";
  }
  if (args.list) {
    std::cout << replayable << " dead letter(s) would be replayed\n";
    return kExitOk;
  }
  if (replayable == 0) {
    std::cout << "no replayable dead letters match\n";
    return kExitOk;
  }
  const char* user = std::getenv("USER");
  state.request_replay(which, std::string("operator ") + (user ? user : "unknown"), store::now_ms());
  std::cout << replayable << " dead letter(s) queued for replay; the daemon re-queues them within a second"
               " (or at its next start) and audits it\n";
  return kExitOk;
}

const char* kind_text(config::ValueKind k) {
  switch (k) {
    case config::ValueKind::string: return "string";
    case config::ValueKind::integer: return "integer";
    case config::ValueKind::number: return "number";
    case config::ValueKind::boolean: return "boolean";
    case config::ValueKind::duration: return "duration";
    case config::ValueKind::size: return "size";
    case config::ValueKind::list: return "list";
    case config::ValueKind::map: return "map";
    case config::ValueKind::scalar_or_list: return "value or list";
    case config::ValueKind::any: return "any";
    case config::ValueKind::scalar_list: return "list of values";
    case config::ValueKind::item_or_list: return "value, map or list";
  }
  return "";
}

void print_spec(const config::MapSpec& spec) {
  std::cout << "### `" << spec.what << "`\n\n| key | type | required | meaning |\n|---|---|---|---|\n";
  for (const auto& k : spec.keys) {
    std::string desc = k.description;
    if (!k.one_of.empty()) {
      desc += " One of:";
      for (std::size_t i = 0; i < k.one_of.size(); ++i) desc += (i ? ", `" : " `") + k.one_of[i] + "`";
      desc += ".";
    }
    std::cout << "| `" << k.key << "` | " << kind_text(k.kind) << " | " << (k.required ? "yes" : "no")
              << " | " << desc << " |\n";
  }
  std::cout << "\n";
}

// The config reference, generated from the same specs `check` validates with.
int cmd_config_keys() {
  for (const auto* spec : config::daemon_specs()) print_spec(*spec);
  print_spec(audit::audit_spec());
  print_spec(service::health_spec());
  print_spec(service::service_spec());
  print_spec(dedup::dedup_spec());
  print_spec(dedup::weights_spec());
  for (const auto& [type, factory] : builtin_targets()) print_spec(factory.spec);
  return kExitOk;
}

}  // namespace

// `reportbridge audit verify|show ... [--config FILE | --dir DIR]`
int cmd_audit(std::vector<std::string> words) {
  std::string config_path = "/etc/reportbridge/reportbridge.yaml";
  bool has_dir = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--dir") has_dir = true;
    if (words[i] == "--config") {
      if (i + 1 >= words.size()) {
        std::cerr << "reportbridge: --config needs a value\n";
        return kExitUsage;
      }
      config_path = words[i + 1];
      words.erase(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      --i;
    }
  }
  std::filesystem::path dir;
  if (!has_dir) {
    core::Diagnostics diags;
    auto cfg = config::load_daemon_config(config_path, builtin_target_specs(), diags);
    if (!cfg) {
      std::cerr << diags.to_string() << "reportbridge: configuration has errors\n";
      return kExitConfigInvalid;
    }
    dir = audit::load_audit_settings(cfg->document["audit"], cfg->file, cfg->base_dir,
                                     cfg->state_path.parent_path() / "audit", diags)
              .directory;
  }
  return audit::run_audit_command(words, dir, std::cout, std::cerr);
}

int main(int argc, char** argv) {
  Args args;
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  if (a.front() == "audit") {
    // What the audit trail holds came from residents and targets: shown, never obeyed.
    core::TerminalOutputGuard safe_out(std::cout), safe_err(std::cerr);
    try {
      return cmd_audit(std::vector<std::string>(a.begin() + 1, a.end()));
    } catch (const std::exception& e) {
      std::cerr << "reportbridge: " << e.what() << "\n";
      return kExitFailure;
    }
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= a.size()) {
        std::cerr << "reportbridge: " << s << " needs a value\n";
        return false;
      }
      out = a[++i];
      return true;
    };
    if (s == "--help" || s == "-h" || s == "help") {
      std::cout << kUsage;
      return kExitOk;
    } else if (s == "--version") {
      std::cout << "reportbridge " REPORTBRIDGE_VERSION "\n";
      return kExitOk;
    } else if (s == "--config") {
      if (!value(args.config)) return kExitUsage;
    } else if (s == "--submission") {
      if (!value(args.submission)) return kExitUsage;
    } else if (s == "--input") {
      if (!value(args.input)) return kExitUsage;
    } else if (s == "--log-level") {
      if (!value(args.log_level)) return kExitUsage;
      static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error"};
      if (std::find(levels.begin(), levels.end(), args.log_level) == levels.end()) {
        std::cerr << "reportbridge: --log-level must be one of trace, debug, info, warn, error\n";
        return kExitUsage;
      }
    } else if (s == "--target") {
      if (!value(args.target)) return kExitUsage;
    } else if (s == "--all") {
      args.all = true;
    } else if (s == "--list") {
      args.list = true;
    } else if (s == "--item") {
      std::string n;
      if (!value(n)) return kExitUsage;
      try {
        args.item = std::stoll(n);
      } catch (...) {
        std::cerr << "reportbridge: --item needs a number\n";
        return kExitUsage;
      }
    } else if (s == "--limit") {
      std::string n;
      if (!value(n)) return kExitUsage;
      try {
        args.limit = std::stoul(n);
      } catch (...) {
        std::cerr << "reportbridge: --limit needs a number\n";
        return kExitUsage;
      }
    } else if (args.verb.empty() && !s.starts_with("-")) {
      args.verb = s;
    } else {
      std::cerr << "reportbridge: unexpected argument '" << s << "'\n(see reportbridge --help)\n";
      return kExitUsage;
    }
  }
  // Reports that print what residents, targets and files supplied: every
  // control character is shown as an escape (core::escape_for_terminal).
  std::optional<core::TerminalOutputGuard> safe_out, safe_err;
  if (args.verb == "status" || args.verb == "preview" || args.verb == "check" || args.verb == "replay") {
    safe_out.emplace(std::cout);
    safe_err.emplace(std::cerr);
  }
  try {
    if (args.verb == "run") return cmd_run(args, false);
    if (args.verb == "once") return cmd_run(args, true);
    if (args.verb == "check") return cmd_check(args);
    if (args.verb == "config-keys") return cmd_config_keys();
    if (args.verb == "status") return cmd_status(args);
    if (args.verb == "replay") return cmd_replay(args);
    if (args.verb == "preview") {
      if (args.submission.empty() == args.input.empty()) {
        std::cerr << "reportbridge: preview needs exactly one of --submission ID or --input FILE\n";
        return kExitUsage;
      }
      return cmd_preview(args);
    }
  } catch (const std::exception& e) {
    std::cerr << "reportbridge: " << e.what() << "\n";
    return kExitFailure;
  }
  std::cerr << "reportbridge: unknown command '" << args.verb << "'\n(see reportbridge --help)\n";
  return kExitUsage;
}

}  // namespace reportbridge::app
