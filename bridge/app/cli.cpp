#include "bridge/app/cli.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "bridge/app/components.hpp"
#include "bridge/app/runtime.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/pipeline/ingest.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "bridge/store/state_store.hpp"

namespace reportbridge::app {

namespace {

constexpr const char* kUsage = R"(reportbridge )" REPORTBRIDGE_VERSION R"( - the bridge from the public reporting app to legacy force systems

Usage:
  reportbridge run     --config FILE   Run as a daemon in the foreground until SIGTERM/SIGINT
                                       (finishes the current batch, then exits 0). SIGHUP
                                       reloads the mapping files; a set with errors is refused.
  reportbridge once    --config FILE   One pass over everything pending (read, deliver,
                                       write back), then exit.
  reportbridge check   --config FILE   Validate config, mappings, lookups, schema and targets.
                                       Every problem is printed as file:line:col: message.
  reportbridge preview --config FILE (--submission ID | --input FILE.json)
                                       Print exactly what each target would receive.
  reportbridge status  --config FILE   Backlog, per-target counts and quarantined rows.
  reportbridge config-keys              Print every config key as Markdown (docs/configuration.md).
  reportbridge --help | --version

Options:
  --config FILE     the daemon config (default: /etc/reportbridge/reportbridge.yaml)
  --log-level LEVEL override logging.level (trace, debug, info, warn, error)
  --limit N         status: how many quarantined rows to list (default 20)

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
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("reportbridge");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
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

  explicit Delivery(Runtime& rt) : state(rt.config.state_path.string(), 8), dispatcher(state) {
    for (const auto& t : rt.config.targets) {
      core::Sink* sink = rt.sink(t.name);
      if (!sink) continue;
      dispatcher.add_target(*sink, {t.retry.max_attempts, t.retry.base, t.retry.cap},
                            {t.writeback.message, t.writeback.include_reference});
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
    while (!stop.load()) {
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

  Writeback(Runtime& rt)
      : state(rt.config.state_path.string(), 2),
        worker(state, *rt.source, rt.config.writeback_batch) {}

  // Writes until `stop`, then drains what is queued.
  void loop(const std::atomic<bool>& stop, std::size_t batch) {
    while (!stop.load())
      if (worker.run_once() < batch) std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
  Delivery delivery(*rt);
  delivery.add(delivery.dispatcher.recover());
  spdlog::info("{}: source {} state {}", once ? "once" : "run", rt->config.source.path.string(),
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
  if (rt->config.writeback_enabled) writeback.emplace(*rt);
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
  try {
    while (!g_stop.load()) {
      if (g_reload.exchange(false)) {
        core::Diagnostics diags;
        auto fresh = reload_mappings(*rt, diags);
        if (!fresh) {
          spdlog::error("reload refused; the running mappings stay in force:\n{}", diags.to_string());
        } else {
          ingestor.set_mappings(*fresh);
          rt->mappings.swap(fresh);
          spdlog::info("reload: {} mappings in force", rt->mappings->mappings().size());
        }
      }
      auto stats = ingestor.run_batch();
      total += stats;
      if (stats.read > 0) {
        log_batch(stats);
        continue;
      }
      if (once) break;
      // Idle: sleep the poll interval in slices so a signal is acted on promptly.
      auto until = std::chrono::steady_clock::now() + rt->config.source.poll_interval;
      while (!g_stop.load() && !g_reload.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (...) {
    ingest_error = std::current_exception();
  }
  if (g_stop.load()) spdlog::info("stopping: signal received, current batch finished");
  // `once` publishes partial batches; a stopping daemon leaves them queued for the next start.
  flush_at_end.store(once && !ingest_error);
  stop_delivery.store(true);
  delivery_thread.join();
  // After delivery has settled its last batch, so its statuses are queued too.
  stop_writeback.store(true);
  writeback_thread.join();
  if (ingest_error) std::rethrow_exception(ingest_error);
  if (delivery_error) std::rethrow_exception(delivery_error);
  if (writeback_error) std::rethrow_exception(writeback_error);
  const auto& delivered = delivery.totals;
  spdlog::info(
      "done: read={} queued={} rejected={} mapping_failed={} unrouted={} delivered={} "
      "retry={} dead={} batches={}",
      total.read, total.queued, total.rejected, total.mapping_failed, total.unrouted,
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

std::string lineage(const mapping::FieldPlan& f, const std::optional<std::string>& value) {
  std::string s;
  if (f.constant) {
    s = "constant";
  } else if (f.from) {
    s = "from " + f.from->text;
    for (const auto& t : f.transforms) s += " | " + t.name;
    if (f.lookup) s += " | lookup " + std::filesystem::path(f.lookup->file).filename().string();
    if (f.max_length) s += " | max " + std::to_string(f.max_length);
  }
  if (f.default_value && value && *value == *f.default_value) s += s.empty() ? "default" : " (or default)";
  return s;
}

int cmd_preview(const Args& args) {
  int code = kExitOk;
  auto rt = load_or_report(args, code);
  if (!rt) return code;
  core::SourceRow row;
  if (!args.input.empty()) {
    std::ifstream in(args.input, std::ios::binary);
    if (!in) {
      std::cerr << "reportbridge: cannot read " << args.input << "\n";
      return kExitFailure;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    row.payload = ss.str();
    boost::system::error_code ec;
    auto v = boost::json::parse(row.payload, ec);
    if (!ec && v.is_object()) {
      if (auto* id = v.get_object().if_contains("id"); id && id->is_string())
        row.id = std::string(id->get_string());
      if (auto* ver = v.get_object().if_contains("version"); ver && ver->is_int64())
        row.version = ver->get_int64();
    }
  } else {
    auto found = rt->source->latest(args.submission);
    if (!found) {
      std::cerr << "reportbridge: submission " << args.submission << " not found in "
                << rt->config.source.path.string() << "\n";
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
  auto routes = rt->mappings->route(*check.doc);
  if (routes.empty()) {
    std::cout << "UNROUTED: no mapping applies (would be quarantined as unrouted)\n";
    return kExitPreviewRejected;
  }
  int result = kExitOk;
  for (const auto* m : routes) {
    for (const auto& target : m->targets) {
      std::cout << "\n== mapping " << m->name << " -> target " << target << "\n";
      auto r = mapping::apply(*m, target, *check.doc, row.id, row.version);
      if (r.error) {
        std::cout << "QUARANTINED: mapping '" << r.error->mapping << "' field '" << r.error->field
                  << "': " << r.error->code << ": " << r.error->detail << "\n";
        result = kExitPreviewRejected;
        continue;
      }
      std::size_t width = 0;
      for (const auto& f : r.record->fields) width = std::max(width, f.name.size());
      for (std::size_t i = 0; i < r.record->fields.size(); ++i) {
        const auto& f = r.record->fields[i];
        std::string shown = f.value ? "\"" + *f.value + "\"" : "null";
        std::cout << "  " << f.name << std::string(width - f.name.size(), ' ') << " = " << shown
                  << "   <- " << lineage(m->fields[i], f.value) << "\n";
      }
      for (const auto& a : r.record->attachments)
        std::cout << "  attachment " << a.media_type << " " << a.size_bytes << " bytes sha256 "
                  << a.sha256 << "\n";
      if (auto* sink = rt->sink(target)) {
        std::string rendered;
        try {
          rendered = sink->encode_preview(*r.record);
        } catch (const std::exception& e) {
          std::cout << "REJECTED by target " << target << ": " << e.what() << "\n";
          result = kExitPreviewRejected;
          continue;
        }
        std::cout << "-- " << target << " receives:\n" << rendered;
        if (!rendered.ends_with("\n")) std::cout << "\n";
      }
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
    std::cout << "source: unreachable: " << e.what() << "\n";
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
  std::cout << "write-back: " << state.pending_writeback_count() << " status(es) pending\n";
  std::cout << "quarantined: " << state.quarantine_count() << " (newest first)\n";
  for (const auto& q : state.quarantined(args.limit)) {
    std::cout << "  seq " << q.seq << "  " << q.submission_id << " v" << q.version << "  "
              << q.reason_code;
    if (!q.mapping.empty()) std::cout << "  mapping " << q.mapping;
    if (!q.field.empty()) std::cout << "  field " << q.field;
    std::cout << "  " << q.detail << "\n";
  }
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
  for (const auto& [type, factory] : builtin_targets()) print_spec(factory.spec);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
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
  try {
    if (args.verb == "run") return cmd_run(args, false);
    if (args.verb == "once") return cmd_run(args, true);
    if (args.verb == "check") return cmd_check(args);
    if (args.verb == "config-keys") return cmd_config_keys();
    if (args.verb == "status") return cmd_status(args);
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
