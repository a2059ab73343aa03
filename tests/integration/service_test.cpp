// The daemon as a service: sd_notify, health/readiness/metrics over HTTP,
// SIGTERM drain, and the audit trail it leaves (real binary, real SQLite store).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <re2/re2.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <sstream>

#include "tests/integration/harness.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge::testing;
using namespace std::chrono_literals;

namespace {

std::string run_out(const Installation& inst) { return (inst.dir / "run.out").string(); }
std::string run_err(const Installation& inst) { return (inst.dir / "run.err").string(); }

// The lines of `text` that contain every one of `words`.
int lines_with(const std::string& text, const std::vector<std::string>& words) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const auto& w : words) all = all && line.find(w) != std::string::npos;
    if (all) ++n;
  }
  return n;
}

// A listening socket on 127.0.0.1:port, held for the scope. It never answers:
// as a target it is a legacy system that accepts a request and hangs.
struct PortHolder {
  int fd = -1;
  int port = 0;
  std::vector<int> accepted;
  PortHolder() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd, 16) == 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~PortHolder() {
    for (int c : accepted) close(c);
    close(fd);
  }
  // Takes a waiting connection, if any (kept open, never answered).
  bool accept_one() {
    const int c = accept(fd, nullptr, nullptr);
    if (c >= 0) accepted.push_back(c);
    return c >= 0;
  }
};

// A SOAP target at `port`: the shipped RMS contract (schemas/rms_service.wsdl)
// as config/demo.yaml uses it with the shipped RMS mapping. A batch recovered
// after a kill is sent again at once (settle_time 0: these tests are about the
// daemon around a target that never answers, not about the settle time).
std::string soap_target(int port, const std::string& extra = "") {
  return "  - name: rms_soap\n    type: soap\n    url: http://127.0.0.1:" + std::to_string(port) +
         "/rms\n    wsdl: " REPORTBRIDGE_SOURCE_DIR "/schemas/rms_service.wsdl\n    port: RmsSoap11Port\n"
         "    namespaces: {svc: \"urn:reportbridge:rms:service:1\", rms: \"urn:police-uk:rms:community-report:1.0\"}\n"
         "    create: {operation: CreateCommunityReport, reference: svc:CreateCommunityReportResponse/svc:LegacyReference,\n"
         "             values: {svc:ExternalReference: external_reference}}\n"
         "    settle_time: 0s\n"
         "    read_timeout: 1h\n    request_timeout: 1h\n    batch_wait: 10ms\n    max_connections: 1\n" +
         extra;
}

}  // namespace

TEST_CASE("run under a supervisor: READY, health, readiness, metrics, SIGTERM drain, audit trail") {
  Installation inst;
  create_app_store(inst.store);
  constexpr int kCount = 6;
  for (int i = 1; i <= kCount; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  const int port = free_tcp_port();
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(port) +
                     "\"}\nservice: {shutdown_timeout: 5s}\n");
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst), {{"NOTIFY_SOCKET", notify.path().string()}});

  const bool ready = notify.wait_for("READY=1", 15s);
  INFO(read_file(run_err(inst)));
  CHECK(ready);

  auto healthz = http_get(port, "/healthz");
  CHECK(healthz.status == 200);
  CHECK(healthz.body.find("ok") != std::string::npos);

  // Delivered and written back.
  CHECK(wait_until([&] {
    auto st = inst.statuses();
    return inst.published().size() == kCount && st.size() == kCount &&
           std::all_of(st.begin(), st.end(), [](const auto& s) { return s.second == "forwarded"; });
  }));

  auto readyz = http_get(port, "/readyz");
  CHECK(readyz.status == 200);
  CHECK(readyz.headers.find("application/json") != std::string::npos);
  boost::system::error_code ec;
  auto doc = boost::json::parse(readyz.body, ec);
  REQUIRE_FALSE(ec);
  CHECK(doc.at("status").as_string() == "ready");
  std::set<std::string> checks;
  for (const auto& c : doc.at("checks").as_array()) {
    CHECK(c.at("ok").as_bool());
    checks.insert(std::string(c.at("name").as_string()));
  }
  CHECK(checks == std::set<std::string>{"state_database", "source", "circuit:drop"});

  // Counters follow the events: everything collected, mapped, delivered and
  // written back (write-back lags delivery a little, so wait for it).
  std::string metrics;
  CHECK(wait_until([&] {
    metrics = http_get(port, "/metrics").body;
    return metric_value(metrics, "reportbridge_writebacks_total") == kCount &&
           metric_value(metrics, "reportbridge_delivered_total{target=\"drop\"}") == kCount;
  }, 10s));
  INFO(metrics);
  CHECK(metric_value(metrics, "reportbridge_submissions_collected_total") == kCount);
  CHECK(metric_value(metrics, "reportbridge_submissions_validated_total") == kCount);
  CHECK(metric_value(metrics, "reportbridge_records_mapped_total{target=\"drop\"}") == kCount);
  CHECK(metric_value(metrics, "reportbridge_delivered_total{target=\"drop\"}") == kCount);
  CHECK(metric_value(metrics, "reportbridge_dead_letters_total{target=\"drop\"}") == 0);
  CHECK(metric_value(metrics, "reportbridge_target_backlog{target=\"drop\"}") == 0);
  CHECK(metric_value(metrics, "reportbridge_state_gauges_ok") == 1);
  // The state database's write lock: at least the ingest batch, a claim and a
  // settle, and the write-back took it; each held it for some time.
  CHECK(metric_value(metrics, "reportbridge_state_write_transactions_total") >= 4);
  CHECK(metric_value(metrics, "reportbridge_state_write_lock_held_seconds_total") > 0);
  CHECK(metric_value(metrics, "reportbridge_state_write_lock_wait_seconds_total") >= 0);
  CHECK(http_get(port, "/nope").status == 404);

  // SIGHUP: the supervisor is told about the reload and that the bridge is ready again.
  kill(pid, SIGHUP);
  CHECK(notify.wait_for("RELOADING=1", 5s));
  CHECK(notify.wait_for("STATUS=reloaded", 5s));

  const auto stop_at = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  CHECK(notify.wait_for("STOPPING=1", 5s));
  auto res = wait_process_for(pid, 10s);
  const auto took = std::chrono::steady_clock::now() - stop_at;
  REQUIRE(res);
  CHECK(res->exit_code == 0);
  CHECK(took < 5s);  // service.shutdown_timeout
  // READY came before STOPPING, once each.
  const auto& msgs = notify.messages();
  auto first = [&](const std::string& what) {
    return std::find_if(msgs.begin(), msgs.end(), [&](const auto& m) { return m.find(what) != std::string::npos; });
  };
  CHECK(first("READY=1") < first("STOPPING=1"));
  CHECK(http_get(port, "/healthz").status == 0);  // the server went with the process

  auto verify = inst.bridge({"audit", "verify"});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.find("OK") != std::string::npos);

  auto show = inst.bridge({"audit", "show", "--submission", test_id(2)});
  INFO(show.out << show.err);
  CHECK(show.exit_code == 0);
  CHECK(lines_with(show.out, {"collected", "v1"}) == 1);
  CHECK(lines_with(show.out, {"validated", "v1"}) == 1);
  CHECK(lines_with(show.out, {"mapped", "target drop", "mapping all"}) == 1);
  CHECK(lines_with(show.out, {"delivered", "target drop", "ref "}) == 1);
  CHECK(lines_with(show.out, {"written_back", "forwarded"}) == 1);
  CHECK(show.out.find(test_id(3)) == std::string::npos);  // only the one asked for

  // One byte changed anywhere breaks the chain.
  const auto trail = inst.dir / "state/audit/audit.jsonl";
  std::string bytes = read_file(trail);
  const auto line3 = bytes.find('\n', bytes.find('\n') + 1) + 1;
  const auto victim = bytes.find("\"kind\":\"", line3) + 8;
  REQUIRE(victim < bytes.size());
  bytes[victim] = static_cast<char>(bytes[victim] ^ 0x20);  // e.g. validated -> Validated
  write_file(trail, bytes);
  auto broken = inst.bridge({"audit", "verify"});
  INFO(broken.out << broken.err);
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("BROKEN") != std::string::npos);
  CHECK(broken.out.find("audit.jsonl:3:") != std::string::npos);
}

TEST_CASE("/readyz turns 503 once a target's circuit has stayed open past the threshold") {
  Installation inst(kAllKindsMapping, "    circuit: {failures: 1, cooldown: 1h}\n");
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  write_file(inst.dir / "out", "a file where the drop folder should be");
  const int port = free_tcp_port();
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(port) +
                     "\", circuit_open_threshold: 1s}\n");
  const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                  run_err(inst));
  // /readyz answers 503 from the first moment (the health server starts before
  // the state database is open: "not connected yet"); what is awaited is the
  // 503 that names the open circuit.
  HttpResponse readyz;
  std::map<std::string, bool> ok;
  auto checks = [&] {
    readyz = http_get(port, "/readyz");
    ok.clear();
    boost::system::error_code ec;
    auto doc = boost::json::parse(readyz.body, ec);
    if (ec || !doc.is_object() || !doc.as_object().contains("checks")) return false;
    for (const auto& c : doc.at("checks").as_array())
      ok[std::string(c.at("name").as_string())] = c.at("ok").as_bool();
    return doc.at("status").as_string() == "not_ready";
  };
  CHECK(wait_until([&] { return checks() && readyz.status == 503 && ok.count("circuit:drop") && !ok["circuit:drop"]; },
                   15s));
  INFO(readyz.body << read_file(run_err(inst)));
  CHECK(ok == std::map<std::string, bool>{{"state_database", true}, {"source", true}, {"circuit:drop", false}});
  CHECK(http_get(port, "/healthz").status == 200);  // alive, only not ready
  const std::string metrics = http_get(port, "/metrics").body;
  CHECK(metric_value(metrics, "reportbridge_target_circuit_state{target=\"drop\"}") == 2);
  CHECK(metric_value(metrics, "reportbridge_delivery_retries_total{target=\"drop\"}") == 1);
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 10s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
}

namespace {

// The "source" check of /readyz: (answered, ok, detail).
struct SourceCheck {
  int status = 0;
  bool ok = false;
  std::string detail;
};
SourceCheck source_check(int port) {
  SourceCheck out;
  auto r = http_get(port, "/readyz");
  out.status = r.status;
  boost::system::error_code ec;
  auto doc = boost::json::parse(r.body, ec);
  if (ec || !doc.is_object()) return out;
  for (const auto& c : doc.at("checks").as_array())
    if (c.at("name").as_string() == "source") {
      out.ok = c.at("ok").as_bool();
      out.detail = std::string(c.at("detail").as_string());
    }
  return out;
}

void use_http_source(const Installation& inst, const std::string& url) {
  std::string config = read_file(inst.config);
  const std::string sqlite_source = "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n";
  REQUIRE(config.find(sqlite_source) != std::string::npos);
  config.replace(config.find(sqlite_source), sqlite_source.size(),
                 "source:\n  type: http\n  base_url: " + url + "\n  backoff_base: 50ms\n  backoff_cap: 200ms\n");
  write_file(inst.config, config);
}

}  // namespace

// Readiness asks the source itself (core::Source::probe), whatever its type:
// an HTTP source has no submissions table to open (it used to answer 503
// "no such table: submissions" while polling worked).
TEST_CASE("/readyz judges the source by its own probe: SQLite store") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  const int port = free_tcp_port();
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(port) + "\"}\n");
  const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                  run_err(inst));
  SourceCheck c;
  CHECK(wait_until([&] { return (c = source_check(port)).status == 200; }, 15s));
  CHECK(c.ok);
  CHECK(c.detail == "reachable");
  // The store goes away: not ready, and the check says why.
  std::filesystem::rename(inst.store, inst.dir / "moved.db");
  CHECK(wait_until([&] { return (c = source_check(port)).status == 503; }, 10s));
  INFO(c.detail << read_file(run_err(inst)));
  CHECK_FALSE(c.ok);
  CHECK(c.detail.find("submission store not found") != std::string::npos);
  std::filesystem::rename(inst.dir / "moved.db", inst.store);
  CHECK(wait_until([&] { return (c = source_check(port)).status == 200; }, 10s));
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 10s);
  REQUIRE(res);
  INFO("signal " << res->signal << "; stderr: " << read_file(run_err(inst)));
  CHECK(res->exit_code == 0);
}

TEST_CASE("/readyz judges the source by its own probe: HTTP store") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  ServerOptions opts;
  opts.db = inst.store;
  opts.media_root = (inst.dir / "media").string();
  std::optional<AppStoreServer> server;
  server.emplace(opts, inst.dir.path());
  use_http_source(inst, server->url());
  const int port = free_tcp_port();
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(port) + "\"}\n");
  const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                  run_err(inst));
  // Polling works, so the source is ready (and the row is delivered and written back).
  CHECK(wait_until([&] { return inst.statuses().size() == 1; }, 20s));
  SourceCheck c = source_check(port);
  INFO(c.detail << read_file(run_err(inst)));
  CHECK(c.status == 200);
  CHECK(c.ok);
  // The back end goes down: the next polls fail and readiness says so.
  server.reset();
  CHECK(wait_until([&] { return (c = source_check(port)).status == 503; }, 10s));
  CHECK_FALSE(c.ok);
  CHECK(c.detail.find("app store unavailable") != std::string::npos);
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 10s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
}

TEST_CASE("run refuses to start when its health port is taken, and says why") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  PortHolder taken;
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(taken.port) + "\"}\n");
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst), {{"NOTIFY_SOCKET", notify.path().string()}});
  auto res = wait_process_for(pid, 15s);
  REQUIRE(res);
  const std::string log = read_file(run_err(inst));
  INFO(log);
  CHECK(res->exit_code == 1);
  CHECK(log.find("cannot listen on 127.0.0.1:" + std::to_string(taken.port)) != std::string::npos);
  CHECK_FALSE(notify.wait_for("READY=1", 200ms));  // never told systemd it was ready
  CHECK(inst.published().empty());
}

TEST_CASE("run refuses to start when the audit trail cannot be opened") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  write_file(inst.dir / "blocked", "a file where the audit folder should be");
  inst.append_config("audit: {directory: blocked}\nhealth: {enabled: false}\n");
  auto res = inst.bridge({"once"});
  INFO(res.out << res.err);
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("audit trail cannot be opened") != std::string::npos);
  CHECK(inst.published().empty());
  CHECK(inst.statuses().empty());
}

TEST_CASE("audit: {enabled: false} delivers without writing a trail") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  inst.append_config("audit: {enabled: false}\nhealth: {enabled: false}\n");
  auto res = inst.bridge({"once"});
  INFO(res.err);
  REQUIRE(res.exit_code == 0);
  CHECK(inst.published().size() == 1);
  CHECK_FALSE(std::filesystem::exists(inst.dir / "state/audit/audit.jsonl"));
  auto show = inst.bridge({"audit", "show", "--submission", test_id(1)});
  CHECK(show.exit_code == 1);
  CHECK(show.err.find("no audit trail") != std::string::npos);
}

// `once` is a one-shot pass (cron, operators, tests running in parallel): it
// must not need the daemon's health port, which a running daemon holds.
TEST_CASE("once works while another process holds the configured health port") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  PortHolder taken;
  inst.append_config("health: {listen: \"127.0.0.1:" + std::to_string(taken.port) + "\"}\n");
  auto res = inst.bridge({"once"});
  INFO(res.out << res.err);
  CHECK(res.exit_code == 0);
  CHECK(inst.published().size() == 1);
}

TEST_CASE("SIGTERM while a delivery hangs: the drain is cut off at service.shutdown_timeout") {
  Installation inst;
  create_app_store(inst.store);
  for (int i = 1; i <= 2; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  PortHolder hung;
  // The shipped RMS mapping and XSD, sent to a "legacy system" that never answers.
  write_file(inst.config,
             "state:\n  path: state/state.db\n"
             "source:\n  type: sqlite\n  path: store.db\n  poll_interval: 50ms\n"
             "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
             "mappings: [" REPORTBRIDGE_SOURCE_DIR "/mappings/rms_community_report.yaml]\n"
             "targets:\n" + soap_target(hung.port) +
                 "health: {enabled: false}\nservice: {shutdown_timeout: 1s}\n");
  REQUIRE(inst.bridge({"check"}).exit_code == 0);
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst), {{"NOTIFY_SOCKET", notify.path().string()}});
  CHECK(notify.wait_for("READY=1", 15s));
  REQUIRE(wait_until([&] { return hung.accept_one(); }, 15s));  // a request is in flight

  const auto stop_at = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 15s);
  const auto took = std::chrono::steady_clock::now() - stop_at;
  const std::string log = read_file(run_err(inst));
  INFO(log);
  REQUIRE(res);  // not still hanging
  CHECK(took >= 1s);
  CHECK(took < 4s);
  CHECK(res->exit_code == 1);
  CHECK(log.find("drain took longer than service.shutdown_timeout") != std::string::npos);
  CHECK(notify.wait_for("STOPPING=1", 1s));

  // The state database is consistent: both records still owed to the target.
  auto status = inst.bridge({"status"});
  INFO(status.out << status.err);
  CHECK(status.exit_code == 0);
  const auto c = status_counts(status.out, "rms_soap");
  CHECK(c.pending + c.in_flight == 2);
  CHECK(c.delivered == 0);
  CHECK(inst.bridge({"audit", "verify"}).exit_code == 0);
}

namespace {

// The largest gap between consecutive times, and the count.
std::chrono::milliseconds largest_gap(const std::vector<std::chrono::steady_clock::time_point>& times) {
  std::chrono::milliseconds gap{0};
  for (std::size_t i = 1; i < times.size(); ++i)
    gap = std::max(gap, std::chrono::duration_cast<std::chrono::milliseconds>(times[i] - times[i - 1]));
  return gap;
}

}  // namespace

// Watchdog (issue #15 item 5): pings come from the control thread while every
// loop is idle or progressing (bridge/runner/heartbeat.hpp). A source that
// takes 1.5 s per poll makes each ingest batch longer than the 1 s watchdog
// interval; the pings keep coming at half the interval. (They used to be sent
// between batches only, so systemd would have killed the service.)
TEST_CASE("watchdog: batches longer than WatchdogSec keep the pings coming") {
  Installation inst;
  create_app_store(inst.store);
  for (int i = 1; i <= 3; ++i) insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i)));
  const auto faults = inst.dir / "faults.json";
  write_file(faults, "{\"delay_ms\": 1500}");
  ServerOptions opts;
  opts.db = inst.store;
  opts.faults = faults.string();
  AppStoreServer server(opts, inst.dir.path());
  use_http_source(inst, server.url());
  inst.append_config("service: {shutdown_timeout: 10s}\n");  // stall_timeout: the default 2m
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst),
                                   {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "1000000"}});
  REQUIRE(notify.wait_for("READY=1", 15s));
  notify.collect_for(6s);
  const auto pings = notify.times_of("WATCHDOG=1");
  INFO(read_file(run_err(inst)));
  CHECK(pings.size() >= 8);                 // every 0.5 s for 6 s
  CHECK(largest_gap(pings) < 1000ms);       // never a whole interval without one
  CHECK(read_file(run_err(inst)).find("ingest: read=3") != std::string::npos);  // the slow polls worked
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 15s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
}

// ... and a loop stuck without progress (a target that accepted the request
// and never answers, with an hour's read_timeout) stops them after
// service.stall_timeout, so that systemd restarts the service.
TEST_CASE("watchdog: a loop stuck longer than stall_timeout stops the pings") {
  Installation inst;
  create_app_store(inst.store);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  PortHolder hung;
  write_file(inst.config,
             "state:\n  path: state/state.db\n"
             "source:\n  type: sqlite\n  path: store.db\n  poll_interval: 50ms\n"
             "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
             "mappings: [" REPORTBRIDGE_SOURCE_DIR "/mappings/rms_community_report.yaml]\n"
             "targets:\n" + soap_target(hung.port) +
             "health: {enabled: false}\nservice: {shutdown_timeout: 1s, stall_timeout: 2s}\n");
  REQUIRE(inst.bridge({"check"}).exit_code == 0);
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst),
                                   {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "1000000"}});
  REQUIRE(notify.wait_for("READY=1", 15s));
  REQUIRE(wait_until([&] { return hung.accept_one(); }, 15s));  // the delivery is stuck from here
  const auto stuck_at = std::chrono::steady_clock::now();
  notify.collect_for(6s);
  const auto pings = notify.times_of("WATCHDOG=1");
  const std::string log = read_file(run_err(inst));
  INFO(log);
  REQUIRE_FALSE(pings.empty());  // pinged while it was progressing
  // Nothing once the stall timeout (2 s) has passed, with a second's margin.
  CHECK(pings.back() < stuck_at + 3s);
  CHECK(log.find("watchdog: delivery:rms_soap made no progress") != std::string::npos);
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 15s);
  REQUIRE(res);
  CHECK(res->exit_code == 1);  // the drain was cut off at shutdown_timeout
}

// A slow but legal mapping (issue #15 item 5): a heavy RE2 pattern makes every
// row take a noticeable time, so one batch of rows runs several times longer
// than both the watchdog interval (1 s) and service.stall_timeout (2 s). Ingest
// reports progress per row mapped, so the pings keep coming all through the
// batch and systemd does not restart the service on the same batch forever.
// (Without the per-row progress the ingest loop looks stuck after 2 s and the
// pings stop: this test fails.)
TEST_CASE("watchdog: a batch slowed by a heavy RE2 mapping keeps the pings coming") {
  // Three captures around a 40-fold optional repetition, put back as they
  // were: RE2 answers in linear time, but with submatches over the whole
  // 9,000-character text (the NFA), tens of milliseconds per row and step.
  const std::string pattern = "(?s)(.*?)((?:.?.?.?.?){40})(.*)$";
  const std::string heavy = "{regex_replace: {pattern: '" + pattern + R"(', with: '\1\2\3'}})";
  Installation inst(std::string(R"(mapping: all
targets: [drop]
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Description, from: description, transforms: [)") +
                    heavy + ", " + heavy + ", " + heavy + "]}\n");
  create_app_store(inst.store);
  std::string text;
  while (text.size() < 9000) text += "Stones thrown at the buses again tonight, ";
  text.resize(9000);
  // As many rows as make a batch of about 8 s on this machine (a row is the
  // three steps, timed here with the same RE2), so the batch outlasts the
  // stall timeout on a fast machine too; each row stays far below it.
  const RE2 re(pattern);
  REQUIRE(re.ok());
  auto per_row = std::chrono::steady_clock::duration::max();
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto started = std::chrono::steady_clock::now();
    for (int step = 0; step < 3; ++step) {
      std::string copy = text;
      RE2::GlobalReplace(&copy, re, R"(\1\2\3)");
      REQUIRE(copy == text);
    }
    per_row = std::min(per_row, std::chrono::steady_clock::now() - started);
  }
  const int kRows = static_cast<int>(std::clamp<std::int64_t>(8s / per_row + 1, 20, 500));
  INFO("rows: " << kRows << ", " << std::chrono::duration_cast<std::chrono::microseconds>(per_row).count()
                << " us per row");
  REQUIRE(per_row < 500ms);
  for (int i = 1; i <= kRows; ++i) {
    auto payload = boost::json::parse(valid_payload(test_id(i))).as_object();
    payload["description"] = text;
    insert_submission(inst.store, i, test_id(i), 1, boost::json::serialize(payload));
  }
  inst.append_config("service: {shutdown_timeout: 10s, stall_timeout: 2s}\n");
  REQUIRE(inst.bridge({"check"}).exit_code == 0);
  NotifySocket notify(inst.dir / "notify.sock");
  const pid_t pid = spawn_with_env({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst),
                                   run_err(inst),
                                   {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "1000000"}});
  REQUIRE(notify.wait_for("READY=1", 15s));
  const auto ready_at = std::chrono::steady_clock::now();
  const std::string done = "ingest: read=" + std::to_string(kRows);
  bool ingested = false;
  for (int i = 0; i < 600 && !ingested; ++i) {  // at most 120 s
    notify.collect_for(200ms);
    ingested = read_file(run_err(inst)).find(done) != std::string::npos;
  }
  const auto batch_took = std::chrono::steady_clock::now() - ready_at;
  notify.collect_for(1s);
  const std::string log = read_file(run_err(inst));
  INFO(log);
  REQUIRE(ingested);
  // The batch really was long: well past the stall timeout.
  REQUIRE(batch_took > 3s);
  const auto pings = notify.times_of("WATCHDOG=1");
  CHECK(largest_gap(pings) < 1000ms);  // never a whole interval without a ping
  CHECK(static_cast<std::int64_t>(pings.size()) >=
        std::chrono::duration_cast<std::chrono::milliseconds>(batch_took).count() / 500 - 2);
  CHECK(!pings.empty());
  CHECK(pings.back() > ready_at + batch_took);  // still pinging after the batch
  CHECK(log.find("made no progress") == std::string::npos);
  // The slow mapping did its work: every row delivered, the description whole.
  REQUIRE(wait_until([&] { return inst.published().size() == static_cast<std::size_t>(kRows); }, 30s));
  for (const auto& r : inst.published_records()) CHECK(r.at(2) == text);
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 30s);
  REQUIRE(res);
  CHECK(res->exit_code == 0);
}

// Recovery runs on the target's own delivery thread, beside ingest and the
// other targets (issue #17 item 5): a batch a crash left open for a target that
// never answers holds up neither ingest nor the statuses of what other targets
// delivered. (Recovery used to run on the main thread before anything else.)
TEST_CASE("recovery of a target that never answers runs beside ingest and the other targets") {
  Installation inst;
  create_app_store(inst.store);
  PortHolder hung;
  std::string config = read_file(inst.config);
  const std::string targets = "targets:\n";
  config.replace(config.find(targets), targets.size(),
                 targets + soap_target(hung.port));
  config.replace(config.find("mappings: [mappings/all.yaml]"), std::string("mappings: [mappings/all.yaml]").size(),
                 "mappings: [mappings/all.yaml, " REPORTBRIDGE_SOURCE_DIR "/mappings/rms_community_report.yaml]");
  write_file(inst.config, config + "service: {shutdown_timeout: 1s}\n");
  REQUIRE(inst.bridge({"check"}).exit_code == 0);

  // A concern goes to both targets; the RMS never answers; the daemon is killed mid-request.
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1), 1, "concern"));
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst), run_err(inst));
  REQUIRE(wait_until([&] { return hung.accept_one(); }, 15s));
  kill(pid, SIGKILL);
  wait_process(pid);
  auto before = inst.bridge({"status"});
  REQUIRE(status_counts(before.out, "rms_soap").in_flight == 1);  // its batch is open

  // Complaints go to the CSV drop only. After the restart the RMS batch is
  // recovered (and hangs again) while they are read, delivered and written back.
  for (int i = 2; i <= 4; ++i)
    insert_submission(inst.store, i, test_id(i), 1, valid_payload(test_id(i), 1, "complaint"));
  pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, run_out(inst), run_err(inst));
  REQUIRE(wait_until([&] { return hung.accept_one(); }, 15s));  // the recovery's request is in flight
  CHECK(wait_until([&] {
    auto st = inst.statuses();
    return st.size() == 3 && st.count(test_id(2)) && st.count(test_id(3)) && st.count(test_id(4));
  }, 15s));
  const std::string log = read_file(run_err(inst));
  INFO(log);
  CHECK(log.find("recovering batch") != std::string::npos);
  for (int i = 2; i <= 4; ++i) CHECK(inst.statuses()[test_id(i)] == "forwarded");
  CHECK(inst.statuses().count(test_id(1)) == 0);  // still owed to the RMS
  CHECK(inst.published().size() == 4);            // the drop has all four
  kill(pid, SIGTERM);
  auto res = wait_process_for(pid, 15s);
  REQUIRE(res);
  CHECK(res->exit_code == 1);  // the drain was cut off at shutdown_timeout (the RMS hangs)
}
