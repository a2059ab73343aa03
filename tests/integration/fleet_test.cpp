// A fleet on PostgreSQL (issue #16), real binaries on a real server: what
// names each instance (/metrics, logs, its audit chain) and what shows the
// fleet (`audit show` across chains, `audit verify` per chain, the Grafana
// dashboard and the alert rules against a real scrape).
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bridge/audit/audit_reader.hpp"
#include "bridge/pg_store/pg.hpp"
#include "tests/integration/harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace reportbridge::testing;

namespace {

struct Member {
  std::string name;
  std::string config;
  int port = 0;
  pid_t pid = -1;
};

// Instance `name` of a fleet on `database`: the installation's config with its
// state on PostgreSQL (leases of 2 s), health and metrics on a port of its own
// and the audit trail in the folder all instances share (`audit/`).
Member member(const Installation& inst, PgServer& server, const std::string& database, const std::string& name) {
  std::string rest = read_file(inst.config);
  rest = rest.substr(rest.find("source:"));
  rest = rest.substr(0, rest.find(Installation::kNoHealth));
  Member m{name, (inst.dir / ("config-" + name + ".yaml")).string(), free_tcp_port()};
  write_file(m.config, "state:\n  type: postgresql\n  conninfo: \"" + server.conninfo(database) +
                           "\"\n  sslmode: disable\n  instance: " + name + "\n  lease: 2s\n  local_dir: local-" + name +
                           "\n" + rest + "health: {listen: \"127.0.0.1:" + std::to_string(m.port) +
                           "\"}\naudit: {directory: audit}\n");
  return m;
}

void start(const Installation& inst, Member& m) {
  m.pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", m.config, "--log-level", "info"},
                        (inst.dir / ("out-" + m.name + ".log")).string(),
                        (inst.dir / ("err-" + m.name + ".log")).string());
}

void stop(Member& m) {
  kill(m.pid, SIGTERM);
  auto r = wait_process_for(m.pid, std::chrono::seconds(120));
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  m.pid = -1;
}

// A scrape once the instance is ready (the daemon serves /metrics once started).
std::string ready_scrape(const Member& m) {
  std::string text;
  wait_until(
      [&] {
        text = http_get(m.port, "/metrics").body;
        return metric_value(text, "reportbridge_ready") == 1;
      },
      std::chrono::seconds(120));
  return text;
}

// Submission ids of the entries of `kind` in one instance's chain (batch
// entries' items included), through the audit trail's own reader: a SIGKILL
// during a write leaves an incomplete last line (a torn tail, docs/audit.md),
// which it skips.
std::set<std::string> ids_of(const std::filesystem::path& chain, const std::string& kind) {
  std::set<std::string> ids;
  for (const auto& hit : reportbridge::audit::query(chain, {}).hits)
    if (hit.entry.kind == kind && !hit.entry.submission_id.empty()) ids.insert(hit.entry.submission_id);
  return ids;
}

}  // namespace

TEST_CASE("fleet: two instances, one SIGKILLed mid-run, metrics and logs name each, audit show tells one story, audit verify checks each chain") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  REQUIRE(inst.generate(3000, 31).exit_code == 0);
  const std::string database = server->create_database();
  std::map<std::string, Member> fleet;
  for (const char* name : {"alpha", "bravo"}) {
    fleet[name] = member(inst, *server, database, name);
    start(inst, fleet[name]);
  }
  for (auto& [name, m] : fleet) {
    const std::string text = ready_scrape(m);
    INFO(name << ":\n" << text);
    // The instance's name: one info series, beside Prometheus's own `instance` (the scrape target).
    CHECK(text.find("\nreportbridge_instance_info{bridge_instance=\"" + name + "\",state=\"postgresql\",version=\"") !=
          std::string::npos);
    CHECK(text.find("# TYPE reportbridge_fleet_leases_held gauge\n") != std::string::npos);
    CHECK(metric_value(text, "reportbridge_batches_taken_over_total"));
  }

  // The instance that ingests dies mid-run, once its chain holds what it read.
  reportbridge::pg::Connection db(server->conninfo(database) + " sslmode=disable");
  auto ledger = [&] {
    auto r = db.exec("SELECT count(*) FROM pg_tables WHERE tablename = 'ledger'");
    return r.int64(0, 0) == 0 ? 0 : db.exec("SELECT count(*) FROM ledger").int64(0, 0);
  };
  REQUIRE(wait_until([&] { return ledger() > 0; }, std::chrono::seconds(180)));
  const std::string victim = db.exec("SELECT holder FROM leases WHERE name = 'ingest'").text(0, 0);
  REQUIRE(fleet.count(victim));
  const std::string survivor = victim == "alpha" ? "bravo" : "alpha";
  const auto victim_chain = inst.dir / "audit" / victim;
  REQUIRE(wait_until([&] { return read_file(victim_chain / "audit.jsonl").find("\"kind\":\"collected\"") != std::string::npos; },
                     std::chrono::seconds(120)));
  // The fleet's leases, read from the database, as the survivor reports them.
  {
    const std::string text = http_get(fleet[survivor].port, "/metrics").body;
    INFO(text);
    // Unless the victim's lease ran out meanwhile (it had read everything and idled 2 s).
    const bool still_held =
        db.exec("SELECT count(*) FROM leases WHERE name = 'ingest' AND expires_ms >= "
                "(extract(epoch from clock_timestamp()) * 1000)::bigint")
            .int64(0, 0) == 1;
    if (still_held)
      CHECK(text.find("\nreportbridge_fleet_leases_held{bridge_instance=\"" + victim + "\",lease=\"ingest\"} 1\n") !=
            std::string::npos);
  }
  kill(fleet[victim].pid, SIGKILL);
  CHECK(wait_process(fleet[victim].pid).signal == SIGKILL);
  fleet[victim].pid = -1;
  // Rows added now reach the drop only through the survivor (it takes the ingest lease over).
  for (int n = 0; n < 20; ++n)
    insert_submission(inst.store, 2'000'000 + n, test_id(90'000 + n), 1, valid_payload(test_id(90'000 + n)));
  REQUIRE(wait_until([&] { return inst.published().count(test_id(90'019) + ",1") == 1 && ledger() == 3020; },
                     std::chrono::seconds(300)));
  {
    const std::string text = ready_scrape(fleet[survivor]);
    INFO(text);
    CHECK(text.find("\nreportbridge_instance_info{bridge_instance=\"" + survivor + "\"") != std::string::npos);
    CHECK(metric_value(text, "reportbridge_ready") == 1);
  }
  stop(fleet[survivor]);
  // The victim comes back (as systemd would restart it) and resumes its own chain, then stops.
  start(inst, fleet[victim]);
  ready_scrape(fleet[victim]);
  stop(fleet[victim]);

  // Every line each logged names it (the survivor's whole run, the victim's restart).
  for (const auto& name : {survivor, victim}) {
    std::istringstream log(read_file(inst.dir / ("err-" + name + ".log")));
    std::size_t lines = 0, named = 0;
    for (std::string line; std::getline(log, line);) {
      if (line.empty()) continue;
      ++lines;
      named += line.find(" instance=" + name + " ") != std::string::npos;
    }
    INFO(read_file(inst.dir / ("err-" + name + ".log")));
    CHECK(lines > 0);
    CHECK(named == lines);
  }

  // One story: a version the victim read and the survivor delivered.
  const auto read_by_victim = ids_of(victim_chain, "collected");
  const auto delivered_by_survivor = ids_of(inst.dir / "audit" / survivor, "delivered");
  std::string id;
  for (const auto& s : read_by_victim)
    if (delivered_by_survivor.count(s)) {
      id = s;
      break;
    }
  std::printf("fleet: %s killed; %zu read by it, %zu delivered by %s\n", victim.c_str(), read_by_victim.size(),
              delivered_by_survivor.size(), survivor.c_str());
  REQUIRE(!id.empty());
  auto show = run_process({REPORTBRIDGE_BINARY, "audit", "show", "--submission", id, "--config", fleet[survivor].config});
  INFO(show.out << show.err);
  CHECK(show.exit_code == 0);
  const auto collected = show.out.find(victim + std::string(12 - victim.size(), ' ') + "  collected");
  const auto delivered = show.out.find(survivor + std::string(12 - survivor.size(), ' ') + "  delivered");
  CHECK(collected != std::string::npos);
  CHECK(delivered != std::string::npos);
  CHECK(collected < delivered);

  // Both chains verify; one altered line of one chain is found, named by instance and line.
  auto verify = run_process({REPORTBRIDGE_BINARY, "audit", "verify", "--config", fleet[victim].config});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.find("audit verify: instance alpha: OK: ") != std::string::npos);
  CHECK(verify.out.find("audit verify: instance bravo: OK: ") != std::string::npos);
  {
    std::string data = read_file(victim_chain / "audit.jsonl");
    const auto second = data.find('\n') + 1;
    const auto at = data.find("\"time\":\"20", second);
    REQUIRE(at < data.find('\n', second));
    data[at + 11] = data[at + 11] == '9' ? '8' : '9';  // the year's last digit
    write_file(victim_chain / "audit.jsonl", data);
  }
  auto broken = run_process({REPORTBRIDGE_BINARY, "audit", "verify", "--config", fleet[survivor].config});
  INFO(broken.out << broken.err);
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("audit verify: instance " + victim + ": BROKEN: audit.jsonl:2: ") != std::string::npos);
  CHECK(broken.out.find("audit verify: instance " + survivor + ": OK: ") != std::string::npos);
}

TEST_CASE("fleet: every metric the Grafana dashboard and the alert rules query is in a real scrape, database gauges are never summed") {
  PG_SERVER_OR_SKIP(server);
  Installation inst;
  REQUIRE(inst.generate(50, 32).exit_code == 0);
  Member m = member(inst, *server, server->create_database(), "solo");
  start(inst, m);
  REQUIRE(wait_until([&] { return inst.published().size() >= 30; }, std::chrono::seconds(180)));
  const std::string scrape = ready_scrape(m);
  stop(m);
  INFO(scrape);

  // Every query of the dashboard (panels and template variables) and of the alert rules.
  std::vector<std::string> exprs;
  std::function<void(const boost::json::value&)> walk = [&](const boost::json::value& v) {
    if (v.is_object()) {
      for (const auto& [k, x] : v.as_object()) {
        if ((k == "expr" || k == "query") && x.is_string()) exprs.emplace_back(x.as_string());
        walk(x);
      }
    } else if (v.is_array()) {
      for (const auto& x : v.as_array()) walk(x);
    }
  };
  const auto dashboard = boost::json::parse(read_file(REPORTBRIDGE_SOURCE_DIR "/ops/grafana-dashboard.json"));
  walk(dashboard);
  const std::size_t dashboard_exprs = exprs.size();
  CHECK(dashboard_exprs > 20);
  {
    std::istringstream alerts(read_file(REPORTBRIDGE_SOURCE_DIR "/ops/alerts.yml"));
    for (std::string line; std::getline(alerts, line);)
      if (auto at = line.find("expr: "); at != std::string::npos) exprs.push_back(line.substr(at + 6));
  }
  CHECK(exprs.size() > dashboard_exprs + 5);

  // Read from the shared database: every instance reports the same value.
  const std::set<std::string> fleet_wide = {
      "reportbridge_target_backlog", "reportbridge_target_oldest_pending_age_seconds",
      "reportbridge_target_circuit_state", "reportbridge_target_circuit_open_seconds", "reportbridge_quarantined",
      "reportbridge_writeback_pending", "reportbridge_source_backlog", "reportbridge_fleet_leases_held"};
  const std::regex metric("reportbridge_[a-z0-9_]+");
  const std::regex aggregation(R"(\b(sum|max|min|avg|count)\b\s*(by|without)?\s*(\([^()]*\))?\s*\()");
  std::set<std::string> names;
  for (const auto& expr : exprs) {
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator(); ++it) {
      const std::string name = it->str();
      names.insert(name);
      if (!fleet_wide.count(name)) continue;
      // The innermost aggregation around a fleet-wide gauge is max or min, never a sum.
      const std::string before = expr.substr(0, static_cast<std::size_t>(it->position()));
      std::string last;
      for (auto a = std::sregex_iterator(before.begin(), before.end(), aggregation); a != std::sregex_iterator(); ++a)
        last = (*a)[1].str();
      INFO(expr);
      CHECK((last == "max" || last == "min"));
    }
  }
  CHECK(names.size() > 15);
  for (const auto& name : names) {
    INFO(name);
    const bool exported = scrape.find("\n" + name + "{") != std::string::npos ||
                          scrape.find("\n" + name + " ") != std::string::npos ||
                          scrape.find("# TYPE " + name + " ") != std::string::npos;
    CHECK(exported);
  }
}

TEST_CASE("fleet: check refuses an instance name that cannot name a folder, a file or a label value, and says where") {
  Installation inst;
  std::string cfg = read_file(inst.config);
  cfg = cfg.substr(cfg.find("source:"));
  for (const char* bad : {"\"../etc\"", "\"bridge a\"", "\".hidden\"", "\"\""}) {
    write_file(inst.config, std::string("state:\n  type: postgresql\n  conninfo: \"host=db1\"\n  local_dir: local\n") +
                                "  instance: " + bad + "\n" + cfg);
    auto check = inst.bridge({"check"});
    INFO(bad << ": " << check.out << check.err);
    CHECK(check.exit_code == 3);
    CHECK(check.out.find("config.yaml:5:13: ") != std::string::npos);
    CHECK(check.out.find("state.instance must be 1 to 64 letters, digits") != std::string::npos);
  }
  write_file(inst.config, "state:\n  type: postgresql\n  conninfo: \"host=db1\"\n  local_dir: local\n  instance: bridge-a.2_x\n" + cfg);
  auto good = inst.bridge({"check"});
  INFO(good.out << good.err);
  CHECK(good.out.find("state.instance") == std::string::npos);
}
