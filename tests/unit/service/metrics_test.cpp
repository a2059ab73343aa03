#include "bridge/service/metrics.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <thread>

using namespace reportbridge;
using core::EventKind;

namespace {

core::Event ev(EventKind kind, std::string target = "", double latency_ms = -1) {
  core::Event e;
  e.kind = kind;
  e.submission_id = "s1";
  e.target = std::move(target);
  e.latency_ms = latency_ms;
  return e;
}

// The part of the output after the counters' families, for a single target.
std::string section(const std::string& text, const std::string& from, const std::string& to) {
  auto a = text.find(from);
  auto b = to.empty() ? std::string::npos : text.find(to, a);
  REQUIRE(a != std::string::npos);
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

}  // namespace

TEST_CASE("metrics render the exact exposition for a known sequence of events") {
  service::Metrics m({"psd", "npt"});
  for (auto k : {EventKind::collected, EventKind::collected, EventKind::collected,
                 EventKind::validated, EventKind::validated, EventKind::rejected,
                 EventKind::unrouted, EventKind::mapping_failed, EventKind::needs_review,
                 EventKind::duplicate, EventKind::related, EventKind::written_back,
                 EventKind::written_back, EventKind::erased})
    m.on_event(ev(k));
  m.on_event(ev(EventKind::mapped, "npt"));
  m.on_event(ev(EventKind::mapped, "npt"));
  m.on_event(ev(EventKind::mapped, "psd"));
  m.on_event(ev(EventKind::delivered, "npt", 4));       // 0.004 s: first bucket
  m.on_event(ev(EventKind::delivered, "npt", 100));     // exactly 0.1 s: le="0.1" (inclusive)
  m.on_event(ev(EventKind::retry, "psd", 2000));        // 2 s
  m.on_event(ev(EventKind::dead, "psd", 90000));        // 90 s: only +Inf
  m.on_event(ev(EventKind::dead, "psd"));               // latency unknown: counted, not observed
  m.on_event(ev(EventKind::replayed, "psd"));

  const std::string expected =
      "# HELP reportbridge_build_info Version of the running bridge (always 1).\n"
      "# TYPE reportbridge_build_info gauge\n"
      "reportbridge_build_info{version=\"" REPORTBRIDGE_VERSION "\"} 1\n"
      "# HELP reportbridge_instance_info This instance's name in its fleet (state.instance) and its state store (always 1).\n"
      "# TYPE reportbridge_instance_info gauge\n"
      "reportbridge_instance_info{bridge_instance=\"\",state=\"sqlite\",version=\"" REPORTBRIDGE_VERSION "\"} 1\n"
      "# HELP reportbridge_submissions_collected_total Submission versions read from the source.\n"
      "# TYPE reportbridge_submissions_collected_total counter\n"
      "reportbridge_submissions_collected_total 3\n"
      "# HELP reportbridge_submissions_validated_total Submission versions that passed the submission schema.\n"
      "# TYPE reportbridge_submissions_validated_total counter\n"
      "reportbridge_submissions_validated_total 2\n"
      "# HELP reportbridge_submissions_rejected_total Submission versions that failed the schema (quarantined).\n"
      "# TYPE reportbridge_submissions_rejected_total counter\n"
      "reportbridge_submissions_rejected_total 1\n"
      "# HELP reportbridge_submissions_unrouted_total Submission versions no mapping applies to (quarantined).\n"
      "# TYPE reportbridge_submissions_unrouted_total counter\n"
      "reportbridge_submissions_unrouted_total 1\n"
      "# HELP reportbridge_mapping_failures_total Mappings that failed for a submission version (quarantined).\n"
      "# TYPE reportbridge_mapping_failures_total counter\n"
      "reportbridge_mapping_failures_total 1\n"
      "# HELP reportbridge_submissions_needs_review_total Submission versions a signposting rule flagged for review.\n"
      "# TYPE reportbridge_submissions_needs_review_total counter\n"
      "reportbridge_submissions_needs_review_total 1\n"
      "# HELP reportbridge_submissions_duplicate_total Submission versions judged double submissions of an earlier one.\n"
      "# TYPE reportbridge_submissions_duplicate_total counter\n"
      "reportbridge_submissions_duplicate_total 1\n"
      "# HELP reportbridge_submissions_related_total Submission versions linked to an earlier report of the same incident.\n"
      "# TYPE reportbridge_submissions_related_total counter\n"
      "reportbridge_submissions_related_total 1\n"
      "# HELP reportbridge_writebacks_total Statuses written back to the app.\n"
      "# TYPE reportbridge_writebacks_total counter\n"
      "reportbridge_writebacks_total 2\n"
      "# HELP reportbridge_erasures_total Personal data purged from the state database by retention.\n"
      "# TYPE reportbridge_erasures_total counter\n"
      "reportbridge_erasures_total 1\n"
      "# HELP reportbridge_records_mapped_total Records a mapping made for the target (queued).\n"
      "# TYPE reportbridge_records_mapped_total counter\n"
      "reportbridge_records_mapped_total{target=\"npt\"} 2\n"
      "reportbridge_records_mapped_total{target=\"psd\"} 1\n"
      "# HELP reportbridge_delivered_total Records delivered (disclosed) to the target.\n"
      "# TYPE reportbridge_delivered_total counter\n"
      "reportbridge_delivered_total{target=\"npt\"} 2\n"
      "reportbridge_delivered_total{target=\"psd\"} 0\n"
      "# HELP reportbridge_delivery_retries_total Delivery attempts that failed transiently.\n"
      "# TYPE reportbridge_delivery_retries_total counter\n"
      "reportbridge_delivery_retries_total{target=\"npt\"} 0\n"
      "reportbridge_delivery_retries_total{target=\"psd\"} 1\n"
      "# HELP reportbridge_dead_letters_total Records that failed permanently or ran out of retries (dead letters).\n"
      "# TYPE reportbridge_dead_letters_total counter\n"
      "reportbridge_dead_letters_total{target=\"npt\"} 0\n"
      "reportbridge_dead_letters_total{target=\"psd\"} 2\n"
      "# HELP reportbridge_replayed_total Dead letters re-queued by an operator.\n"
      "# TYPE reportbridge_replayed_total counter\n"
      "reportbridge_replayed_total{target=\"npt\"} 0\n"
      "reportbridge_replayed_total{target=\"psd\"} 1\n"
      "# HELP reportbridge_delivery_latency_seconds Time each delivery attempt took, successful or not.\n"
      "# TYPE reportbridge_delivery_latency_seconds histogram\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.005\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.01\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.025\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.05\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.1\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.25\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"0.5\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"1\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"2.5\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"5\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"10\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"30\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"60\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"npt\",le=\"+Inf\"} 2\n"
      "reportbridge_delivery_latency_seconds_sum{target=\"npt\"} 0.104\n"
      "reportbridge_delivery_latency_seconds_count{target=\"npt\"} 2\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.005\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.01\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.025\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.05\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.1\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.25\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"0.5\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"1\"} 0\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"2.5\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"5\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"10\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"30\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"60\"} 1\n"
      "reportbridge_delivery_latency_seconds_bucket{target=\"psd\",le=\"+Inf\"} 2\n"
      "reportbridge_delivery_latency_seconds_sum{target=\"psd\"} 92\n"
      "reportbridge_delivery_latency_seconds_count{target=\"psd\"} 2\n";
  CHECK(m.render() == expected);
}

TEST_CASE("metrics gauges come from the callback at scrape time") {
  service::Metrics m({"npt"});
  int calls = 0;
  m.set_gauge_source([&] {
    ++calls;
    service::Gauges g;
    g.targets.push_back({"npt", 12, 95.5, service::CircuitState::open, 300});
    g.targets.push_back({"psd", 0, 0, service::CircuitState::closed, 0});
    g.quarantined = 4;
    g.writeback_pending = 7;
    g.source_backlog = 250;
    return g;
  });
  const auto text = m.render();
  CHECK(calls == 1);
  CHECK(section(text, "# HELP reportbridge_state_gauges_ok", "\n# HELP reportbridge_target_backlog") ==
        "# HELP reportbridge_state_gauges_ok 1 when the state gauges below could be read at this scrape, 0 otherwise.\n"
        "# TYPE reportbridge_state_gauges_ok gauge\n"
        "reportbridge_state_gauges_ok 1");
  CHECK(section(text, "# HELP reportbridge_target_backlog", "") ==
        "# HELP reportbridge_target_backlog Records waiting for delivery (pending or in flight).\n"
        "# TYPE reportbridge_target_backlog gauge\n"
        "reportbridge_target_backlog{target=\"npt\"} 12\n"
        "reportbridge_target_backlog{target=\"psd\"} 0\n"
        "# HELP reportbridge_target_oldest_pending_age_seconds Age of the oldest record waiting for delivery (0 when none).\n"
        "# TYPE reportbridge_target_oldest_pending_age_seconds gauge\n"
        "reportbridge_target_oldest_pending_age_seconds{target=\"npt\"} 95.5\n"
        "reportbridge_target_oldest_pending_age_seconds{target=\"psd\"} 0\n"
        "# HELP reportbridge_target_circuit_state Circuit breaker: 0 closed, 1 half-open (probing), 2 open.\n"
        "# TYPE reportbridge_target_circuit_state gauge\n"
        "reportbridge_target_circuit_state{target=\"npt\"} 2\n"
        "reportbridge_target_circuit_state{target=\"psd\"} 0\n"
        "# HELP reportbridge_target_circuit_open_seconds How long the circuit has been open or probing (0 when closed).\n"
        "# TYPE reportbridge_target_circuit_open_seconds gauge\n"
        "reportbridge_target_circuit_open_seconds{target=\"npt\"} 300\n"
        "reportbridge_target_circuit_open_seconds{target=\"psd\"} 0\n"
        "# HELP reportbridge_quarantined Submission versions held in the quarantine.\n"
        "# TYPE reportbridge_quarantined gauge\n"
        "reportbridge_quarantined 4\n"
        "# HELP reportbridge_writeback_pending Statuses waiting to be written back to the app.\n"
        "# TYPE reportbridge_writeback_pending gauge\n"
        "reportbridge_writeback_pending 7\n"
        "# HELP reportbridge_source_backlog Rows in the source not yet read.\n"
        "# TYPE reportbridge_source_backlog gauge\n"
        "reportbridge_source_backlog 250\n");
  m.render();
  CHECK(calls == 2);
}

TEST_CASE("metrics omit an unknown source backlog, and report a failing gauge source") {
  service::Metrics m({"npt"});
  SECTION("unknown source backlog") {
    m.set_gauge_source([] { return service::Gauges{}; });
    const auto text = m.render();
    CHECK(text.find("reportbridge_state_gauges_ok 1\n") != std::string::npos);
    CHECK(text.find("reportbridge_quarantined 0\n") != std::string::npos);
    CHECK(text.find("reportbridge_source_backlog") == std::string::npos);
  }
  SECTION("the callback throws") {
    m.set_gauge_source([]() -> service::Gauges { throw std::runtime_error("database is locked"); });
    const auto text = m.render();
    CHECK(text.ends_with("reportbridge_state_gauges_ok 0\n"));
    CHECK(text.find("reportbridge_target_backlog") == std::string::npos);
    CHECK(text.find("reportbridge_delivered_total{target=\"npt\"} 0\n") != std::string::npos);
  }
  SECTION("no callback: no gauges at all") {
    CHECK(m.render().find("reportbridge_state_gauges_ok") == std::string::npos);
  }
}

TEST_CASE("metrics escape label values and count targets that were not configured") {
  CHECK(service::escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  service::Metrics m({});
  m.on_event(ev(EventKind::delivered, "odd \"name\"\\x", 1));
  const auto text = m.render();
  CHECK(text.find("reportbridge_delivered_total{target=\"odd \\\"name\\\"\\\\x\"} 1\n") != std::string::npos);
  CHECK(text.find("reportbridge_delivery_latency_seconds_bucket{target=\"odd \\\"name\\\"\\\\x\",le=\"0.005\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("metrics count correctly from several threads at once") {
  service::Metrics m({"npt"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        m.on_event(ev(EventKind::delivered, "npt", 1));
        m.on_event(ev(EventKind::delivered, "extra" + std::to_string(t % 2), 1));
        m.on_event(ev(EventKind::collected));
      }
    });
  for (auto& t : threads) t.join();
  const auto text = m.render();
  CHECK(text.find("reportbridge_delivered_total{target=\"npt\"} 40000\n") != std::string::npos);
  CHECK(text.find("reportbridge_delivered_total{target=\"extra0\"} 20000\n") != std::string::npos);
  CHECK(text.find("reportbridge_delivered_total{target=\"extra1\"} 20000\n") != std::string::npos);
  CHECK(text.find("reportbridge_submissions_collected_total 40000\n") != std::string::npos);
  CHECK(text.find("reportbridge_delivery_latency_seconds_count{target=\"npt\"} 40000\n") != std::string::npos);
  CHECK(text.find("reportbridge_delivery_latency_seconds_sum{target=\"npt\"} 40\n") != std::string::npos);
}

TEST_CASE("a batch of events counts as its events one by one would") {
  service::Metrics one({"npt"}), batch({"npt"});
  const double latencies[] = {3, 3, 3, 250, -1};
  core::EventBatch delivered;
  delivered.kind = EventKind::delivered;
  delivered.target = "npt";
  for (double l : latencies) {
    one.on_event(ev(EventKind::delivered, "npt", l));
    delivered.items.push_back({"s", 1, {}, {}, l});
  }
  core::EventBatch collected;
  collected.kind = EventKind::collected;
  collected.items.assign(7, {"s", 1, {}, {}, -1});
  for (int i = 0; i < 7; ++i) one.on_event(ev(EventKind::collected));
  core::EventBatch mapped;
  mapped.kind = EventKind::mapped;
  mapped.target = "npt";
  mapped.items.assign(2, {"s", 1, {}, {}, -1});
  for (int i = 0; i < 2; ++i) one.on_event(ev(EventKind::mapped, "npt"));
  batch.on_batch(delivered);
  batch.on_batch(collected);
  batch.on_batch(mapped);
  CHECK(batch.render() == one.render());
  CHECK(batch.render().find("reportbridge_delivered_total{target=\"npt\"} 5") != std::string::npos);
}

TEST_CASE("metrics name the instance once (an info metric), its readiness, takeovers and the fleet's leases") {
  service::Metrics m({"drop"}, "bridge-\"a\"", "postgresql");
  bool ready = true;
  std::uint64_t taken = 3;
  m.set_ready_source([&] { return ready; });
  m.set_takeover_source([&] { return taken; });
  m.set_gauge_source([] {
    service::Gauges g;
    g.fleet = true;
    g.leases = {{"bridge-a", "batch", 2}, {"bridge-a", "ingest", 1}, {"bridge-b", "batch", 1}};
    return g;
  });
  std::string text = m.render();
  INFO(text);
  // The name is a label of one series only: Prometheus's own `instance` (the
  // scrape target) is left alone, and no other series carries ours.
  CHECK(text.find("\nreportbridge_instance_info{bridge_instance=\"bridge-\\\"a\\\"\",state=\"postgresql\",version=\"" REPORTBRIDGE_VERSION "\"} 1\n") !=
        std::string::npos);
  std::size_t labelled = 0;
  for (std::size_t at = 0; (at = text.find("bridge_instance=\"bridge-\\\"a", at)) != std::string::npos; ++at) ++labelled;
  CHECK(labelled == 1);
  CHECK(text.find("\nreportbridge_ready 1\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_batches_taken_over_total 3\n") != std::string::npos);
  CHECK(text.find("# TYPE reportbridge_batches_taken_over_total counter\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_fleet_leases_held{bridge_instance=\"bridge-a\",lease=\"batch\"} 2\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_fleet_leases_held{bridge_instance=\"bridge-a\",lease=\"ingest\"} 1\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_fleet_leases_held{bridge_instance=\"bridge-b\",lease=\"batch\"} 1\n") != std::string::npos);
  ready = false;
  taken = 4;
  text = m.render();
  CHECK(text.find("\nreportbridge_ready 0\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_batches_taken_over_total 4\n") != std::string::npos);
}

TEST_CASE("metrics on a lone instance: no readiness or takeover series unless wired, no fleet leases") {
  service::Metrics m({"drop"}, "host1");
  m.set_gauge_source([] { return service::Gauges{}; });
  const std::string text = m.render();
  CHECK(text.find("reportbridge_instance_info{bridge_instance=\"host1\",state=\"sqlite\"") != std::string::npos);
  CHECK(text.find("reportbridge_fleet_leases_held") == std::string::npos);
  CHECK(text.find("reportbridge_batches_taken_over_total") == std::string::npos);
  CHECK(text.find("reportbridge_ready") == std::string::npos);
  CHECK(text.find("reportbridge_state_write") == std::string::npos);
}

TEST_CASE("metrics report the state database's write lock: transactions and the time waited for it and held") {
  service::Metrics m({"drop"}, "host1");
  store::WriteLockTimes lock{2718, 5.08, 13.18};
  m.set_state_lock_source([&] { return lock; });
  std::string text = m.render();
  INFO(text);
  CHECK(text.find("# TYPE reportbridge_state_write_transactions_total counter\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_state_write_transactions_total 2718\n") != std::string::npos);
  CHECK(text.find("# TYPE reportbridge_state_write_lock_wait_seconds_total counter\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_state_write_lock_wait_seconds_total 5.08\n") != std::string::npos);
  CHECK(text.find("# TYPE reportbridge_state_write_lock_held_seconds_total counter\n") != std::string::npos);
  CHECK(text.find("\nreportbridge_state_write_lock_held_seconds_total 13.18\n") != std::string::npos);
  lock.transactions = 2719;  // read at each scrape
  text = m.render();
  CHECK(text.find("\nreportbridge_state_write_transactions_total 2719\n") != std::string::npos);
}
