#pragma once
// Prometheus metrics: counters and per-target latency histograms fed by the
// pipeline's lifecycle events (cheap atomic increments, no lock for the
// configured targets), and gauges read at scrape time through a callback.
// render() produces the text exposition format (version 0.0.4).
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridge/core/events.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::service {

enum class CircuitState { closed = 0, half_open = 1, open = 2 };

// "closed" | "half_open" | "open" (anything else reads as closed).
CircuitState circuit_state_from(const std::string& text);

struct TargetGauges {
  std::string target;
  std::int64_t backlog = 0;                // items pending or in flight
  double oldest_pending_age_seconds = 0;   // 0: nothing pending
  CircuitState circuit = CircuitState::closed;
  double circuit_open_seconds = 0;         // time since the circuit opened (0 when closed)
};

// What the state store knows, filled by the caller at scrape time.
struct Gauges {
  std::vector<TargetGauges> targets;
  std::int64_t quarantined = 0;        // rows in the quarantine
  std::int64_t writeback_pending = 0;  // statuses waiting to be written back
  std::int64_t source_backlog = -1;    // rows not yet read from the source (-1: unknown, omitted)
  // PostgreSQL: the leases each instance of the fleet holds (the ingest lease,
  // open delivery batches); empty on SQLite.
  struct Lease {
    std::string instance;
    std::string lease;  // "ingest" | "batch"
    std::int64_t held = 0;
  };
  std::vector<Lease> leases;
  bool fleet = false;  // PostgreSQL: reportbridge_fleet_leases_held is listed even when no lease is held
};

// Called on the metrics server's thread; may throw (the scrape then reports
// reportbridge_state_gauges_ok 0 and the counters only).
using GaugeSource = std::function<Gauges()>;

class Metrics final : public core::EventListener {
 public:
  // Upper bounds of the latency histogram buckets, in seconds.
  static constexpr std::array<double, 13> kLatencyBuckets{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

  // `targets`: the configured targets, always listed (at 0) so dashboards see
  // them before the first event. Events for other targets are still counted.
  // `instance`: this instance's name (reportbridge_instance_info's
  // bridge_instance label); `state`: "sqlite" or "postgresql".
  explicit Metrics(const std::vector<std::string>& targets, std::string instance = "",
                   std::string state = "sqlite");
  ~Metrics() override;

  void on_event(const core::Event& event) noexcept override;
  // Counts a batch at once (one counter update per kind, a latency per item).
  void on_batch(const core::EventBatch& batch) noexcept override;

  // Set once before the metrics are served.
  void set_gauge_source(GaugeSource source) { gauges_ = std::move(source); }
  // Set once before the metrics are served: this instance's readiness (as
  // /readyz judges it) for reportbridge_ready, and the count of delivery
  // batches this process claimed after their lease ran out.
  void set_ready_source(std::function<bool()> ready) { ready_ = std::move(ready); }
  void set_takeover_source(std::function<std::uint64_t()> taken_over) { taken_over_ = std::move(taken_over); }
  // Set once before the metrics are served (SQLite state): the state
  // database's write lock (store::write_lock_times), as reportbridge_state_write_*.
  void set_state_lock_source(std::function<store::WriteLockTimes()> lock) { state_lock_ = std::move(lock); }

  // The Prometheus text exposition. Thread-safe.
  std::string render() const;

  struct TargetCounters;

 private:
  TargetCounters* counters_for(const std::string& target) noexcept;

  std::array<std::atomic<std::uint64_t>, 15> by_kind_{};  // indexed by EventKind
  std::map<std::string, std::unique_ptr<TargetCounters>> targets_;  // fixed after construction
  mutable std::mutex extra_mutex_;
  std::map<std::string, std::unique_ptr<TargetCounters>> extra_;  // targets not configured
  GaugeSource gauges_;
  std::function<bool()> ready_;
  std::function<std::uint64_t()> taken_over_;
  std::function<store::WriteLockTimes()> state_lock_;
  std::string instance_;
  std::string state_;
};

// Escapes a label value for the exposition format (\\, \", \n).
std::string escape_label_value(const std::string& value);

}  // namespace reportbridge::service
