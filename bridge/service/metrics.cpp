#include "bridge/service/metrics.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <optional>

namespace reportbridge::service {

struct Metrics::TargetCounters {
  std::atomic<std::uint64_t> mapped{0}, delivered{0}, retry{0}, dead{0}, replayed{0};
  // Non-cumulative counts per bucket; the last one is (60 s, +Inf).
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> buckets{};
  std::atomic<std::uint64_t> latency_us{0};
};

namespace {

using Kind = core::EventKind;
constexpr std::size_t index_of(Kind k) { return static_cast<std::size_t>(k); }

void relaxed_add(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) {
  a.fetch_add(n, std::memory_order_relaxed);
}
std::uint64_t load(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Writer {
 public:
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + escape_help(help) + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + value + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string target_label(const std::string& target) {
  return "target=\"" + escape_label_value(target) + "\"";
}

struct KindCounter {
  Kind kind;
  const char* name;
  const char* help;
};

constexpr KindCounter kKindCounters[] = {
    {Kind::collected, "reportbridge_submissions_collected_total",
     "Submission versions read from the source."},
    {Kind::validated, "reportbridge_submissions_validated_total",
     "Submission versions that passed the submission schema."},
    {Kind::rejected, "reportbridge_submissions_rejected_total",
     "Submission versions that failed the schema (quarantined)."},
    {Kind::unrouted, "reportbridge_submissions_unrouted_total",
     "Submission versions no mapping applies to (quarantined)."},
    {Kind::mapping_failed, "reportbridge_mapping_failures_total",
     "Mappings that failed for a submission version (quarantined)."},
    {Kind::needs_review, "reportbridge_submissions_needs_review_total",
     "Submission versions a signposting rule flagged for review."},
    {Kind::duplicate, "reportbridge_submissions_duplicate_total",
     "Submission versions judged double submissions of an earlier one."},
    {Kind::related, "reportbridge_submissions_related_total",
     "Submission versions linked to an earlier report of the same incident."},
    {Kind::written_back, "reportbridge_writebacks_total", "Statuses written back to the app."},
    {Kind::erased, "reportbridge_erasures_total",
     "Personal data purged from the state database by retention."},
};

}  // namespace

CircuitState circuit_state_from(const std::string& text) {
  if (text == "open") return CircuitState::open;
  if (text == "half_open") return CircuitState::half_open;
  return CircuitState::closed;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Metrics::Metrics(const std::vector<std::string>& targets, std::string instance, std::string state)
    : instance_(std::move(instance)), state_(std::move(state)) {
  for (const auto& t : targets) targets_.try_emplace(t, std::make_unique<TargetCounters>());
}

Metrics::~Metrics() = default;

Metrics::TargetCounters* Metrics::counters_for(const std::string& target) noexcept {
  if (auto it = targets_.find(target); it != targets_.end()) return it->second.get();
  try {
    std::lock_guard lock(extra_mutex_);
    auto& slot = extra_[target];
    if (!slot) slot = std::make_unique<TargetCounters>();
    return slot.get();
  } catch (...) {
    return nullptr;  // out of memory: the event goes uncounted
  }
}

void Metrics::on_event(const core::Event& event) noexcept {
  const auto k = index_of(event.kind);
  if (k < by_kind_.size()) relaxed_add(by_kind_[k]);
  TargetCounters* t = nullptr;
  switch (event.kind) {
    case Kind::mapped:
    case Kind::delivered:
    case Kind::retry:
    case Kind::dead:
    case Kind::replayed: t = counters_for(event.target); break;
    default: return;
  }
  if (!t) return;
  switch (event.kind) {
    case Kind::mapped: relaxed_add(t->mapped); return;
    case Kind::replayed: relaxed_add(t->replayed); return;
    case Kind::delivered: relaxed_add(t->delivered); break;
    case Kind::retry: relaxed_add(t->retry); break;
    case Kind::dead: relaxed_add(t->dead); break;
    default: return;
  }
  if (!(event.latency_ms >= 0)) return;  // unknown (also NaN)
  const double seconds = event.latency_ms / 1000.0;
  std::size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  relaxed_add(t->buckets[b]);
  relaxed_add(t->latency_us, static_cast<std::uint64_t>(std::llround(event.latency_ms * 1000.0)));
}

void Metrics::on_batch(const core::EventBatch& batch) noexcept {
  const std::uint64_t n = batch.items.size();
  if (n == 0) return;
  const auto k = index_of(batch.kind);
  if (k < by_kind_.size()) relaxed_add(by_kind_[k], n);
  TargetCounters* t = nullptr;
  switch (batch.kind) {
    case Kind::mapped:
    case Kind::delivered:
    case Kind::retry:
    case Kind::dead:
    case Kind::replayed: t = counters_for(std::string(batch.target)); break;
    default: return;
  }
  if (!t) return;
  switch (batch.kind) {
    case Kind::mapped: relaxed_add(t->mapped, n); return;
    case Kind::replayed: relaxed_add(t->replayed, n); return;
    case Kind::delivered: relaxed_add(t->delivered, n); break;
    case Kind::retry: relaxed_add(t->retry, n); break;
    case Kind::dead: relaxed_add(t->dead, n); break;
    default: return;
  }
  // Items of one batch mostly share their latency (a file drop's): counted per run of equal values.
  std::size_t i = 0;
  while (i < batch.items.size()) {
    const double latency = batch.items[i].latency_ms;
    std::size_t j = i + 1;
    while (j < batch.items.size() && batch.items[j].latency_ms == latency) ++j;
    if (latency >= 0) {
      const double seconds = latency / 1000.0;
      std::size_t b = 0;
      while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
      relaxed_add(t->buckets[b], j - i);
      relaxed_add(t->latency_us, static_cast<std::uint64_t>(std::llround(latency * 1000.0)) * (j - i));
    }
    i = j;
  }
}

std::string Metrics::render() const {
  // Configured and other targets together, by name.
  std::map<std::string, const TargetCounters*> all;
  for (const auto& [name, c] : targets_) all.emplace(name, c.get());
  {
    std::lock_guard lock(extra_mutex_);
    for (const auto& [name, c] : extra_) all.emplace(name, c.get());
  }

  Writer w;
  w.family("reportbridge_build_info", "gauge", "Version of the running bridge (always 1).");
  w.sample("reportbridge_build_info", "version=\"" REPORTBRIDGE_VERSION "\"", "1");
  // The instance's name as an info metric, not a label on every series
  // (docs/operations.md, "Metrics of a fleet"): Prometheus's own `instance`
  // label is the scrape target, so ours is `bridge_instance`.
  w.family("reportbridge_instance_info", "gauge",
           "This instance's name in its fleet (state.instance) and its state store (always 1).");
  w.sample("reportbridge_instance_info",
           "bridge_instance=\"" + escape_label_value(instance_) + "\",state=\"" + escape_label_value(state_) +
               "\",version=\"" REPORTBRIDGE_VERSION "\"",
           "1");
  if (ready_) {
    bool ready = false;
    try {
      ready = ready_();
    } catch (const std::exception&) {
      ready = false;
    }
    w.family("reportbridge_ready", "gauge", "1 when this instance is ready (as /readyz judges it), 0 otherwise.");
    w.sample("reportbridge_ready", "", ready ? "1" : "0");
  }
  if (taken_over_) {
    w.family("reportbridge_batches_taken_over_total", "counter",
             "Delivery batches this instance claimed after their lease ran out (another instance's, or its own "
             "after losing the database), delivered again under their key.");
    w.sample("reportbridge_batches_taken_over_total", "", std::to_string(taken_over_()));
  }
  if (state_lock_) {
    const store::WriteLockTimes l = state_lock_();
    w.family("reportbridge_state_write_transactions_total", "counter",
             "Write transactions on the state database (SQLite: one writer at a time).");
    w.sample("reportbridge_state_write_transactions_total", "", std::to_string(l.transactions));
    w.family("reportbridge_state_write_lock_wait_seconds_total", "counter",
             "Time this process's threads waited for the state database's write lock.");
    w.sample("reportbridge_state_write_lock_wait_seconds_total", "", number(l.wait_seconds));
    w.family("reportbridge_state_write_lock_held_seconds_total", "counter",
             "Time the state database's write lock was held; near the wall clock's rate, the state database is the "
             "bottleneck.");
    w.sample("reportbridge_state_write_lock_held_seconds_total", "", number(l.held_seconds));
  }

  for (const auto& c : kKindCounters) {
    w.family(c.name, "counter", c.help);
    w.sample(c.name, "", std::to_string(load(by_kind_[index_of(c.kind)])));
  }

  struct PerTarget {
    const char* name;
    const char* help;
    std::atomic<std::uint64_t> TargetCounters::*member;
  };
  const PerTarget per_target[] = {
      {"reportbridge_records_mapped_total", "Records a mapping made for the target (queued).",
       &TargetCounters::mapped},
      {"reportbridge_delivered_total", "Records delivered (disclosed) to the target.",
       &TargetCounters::delivered},
      {"reportbridge_delivery_retries_total", "Delivery attempts that failed transiently.",
       &TargetCounters::retry},
      {"reportbridge_dead_letters_total",
       "Records that failed permanently or ran out of retries (dead letters).",
       &TargetCounters::dead},
      {"reportbridge_replayed_total", "Dead letters re-queued by an operator.",
       &TargetCounters::replayed},
  };
  for (const auto& p : per_target) {
    w.family(p.name, "counter", p.help);
    for (const auto& [name, c] : all) w.sample(p.name, target_label(name), std::to_string(load(c->*p.member)));
  }

  const std::string hist = "reportbridge_delivery_latency_seconds";
  w.family(hist, "histogram", "Time each delivery attempt took, successful or not.");
  for (const auto& [name, c] : all) {
    const std::string label = target_label(name);
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kLatencyBuckets.size(); ++b) {
      cumulative += load(c->buckets[b]);
      w.sample(hist + "_bucket", label + ",le=\"" + number(kLatencyBuckets[b]) + "\"",
               std::to_string(cumulative));
    }
    cumulative += load(c->buckets.back());
    w.sample(hist + "_bucket", label + ",le=\"+Inf\"", std::to_string(cumulative));
    w.sample(hist + "_sum", label, number(static_cast<double>(load(c->latency_us)) / 1e6));
    w.sample(hist + "_count", label, std::to_string(cumulative));
  }

  if (!gauges_) return w.take();
  std::optional<Gauges> g;
  try {
    g = gauges_();
  } catch (const std::exception&) {
    g.reset();
  }
  w.family("reportbridge_state_gauges_ok", "gauge",
           "1 when the state gauges below could be read at this scrape, 0 otherwise.");
  w.sample("reportbridge_state_gauges_ok", "", g ? "1" : "0");
  if (!g) return w.take();

  std::map<std::string, const TargetGauges*> by_target;
  for (const auto& t : g->targets) by_target.emplace(t.target, &t);
  auto per_target_gauge = [&](const char* name, const char* help, auto value) {
    w.family(name, "gauge", help);
    for (const auto& [target, t] : by_target) w.sample(name, target_label(target), value(*t));
  };
  per_target_gauge("reportbridge_target_backlog", "Records waiting for delivery (pending or in flight).",
                   [](const TargetGauges& t) { return std::to_string(t.backlog); });
  per_target_gauge("reportbridge_target_oldest_pending_age_seconds",
                   "Age of the oldest record waiting for delivery (0 when none).",
                   [](const TargetGauges& t) { return number(t.oldest_pending_age_seconds); });
  per_target_gauge("reportbridge_target_circuit_state",
                   "Circuit breaker: 0 closed, 1 half-open (probing), 2 open.",
                   [](const TargetGauges& t) { return std::to_string(static_cast<int>(t.circuit)); });
  per_target_gauge("reportbridge_target_circuit_open_seconds",
                   "How long the circuit has been open or probing (0 when closed).",
                   [](const TargetGauges& t) { return number(t.circuit_open_seconds); });
  w.family("reportbridge_quarantined", "gauge", "Submission versions held in the quarantine.");
  w.sample("reportbridge_quarantined", "", std::to_string(g->quarantined));
  w.family("reportbridge_writeback_pending", "gauge", "Statuses waiting to be written back to the app.");
  w.sample("reportbridge_writeback_pending", "", std::to_string(g->writeback_pending));
  if (g->source_backlog >= 0) {
    w.family("reportbridge_source_backlog", "gauge", "Rows in the source not yet read.");
    w.sample("reportbridge_source_backlog", "", std::to_string(g->source_backlog));
  }
  if (g->fleet || !g->leases.empty()) {
    w.family("reportbridge_fleet_leases_held", "gauge",
             "Leases each instance of the fleet holds (ingest: 1 for the instance that ingests; batch: its open "
             "delivery batches). Read from the shared database: the same on every instance.");
    for (const auto& l : g->leases)
      w.sample("reportbridge_fleet_leases_held",
               "bridge_instance=\"" + escape_label_value(l.instance) + "\",lease=\"" + escape_label_value(l.lease) +
                   "\"",
               std::to_string(l.held));
  }
  return w.take();
}

}  // namespace reportbridge::service
