// The WSDL-driven SOAP target on the real binary against a legacy system that
// serves exactly its own WSDL (tests/servers/legacy_rms_server.py, shape
// "wrapped"): `check` with the contract's diagnostics, `preview` with every
// operation's envelope, and a chaos run (HTTP 500s, Server faults, drops after
// commit, slow-then-commit past the read timeout) with SIGKILLs of the bridge:
// nothing twice at the server, nothing lost.
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bridge/net/http_client.hpp"
#include "bridge/net/url.hpp"
#include "tests/integration/guardian_soap.hpp"
#include "tests/integration/harness.hpp"
#include "tests/servers/server_process.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;

namespace {


}  // namespace

TEST_CASE("check knows the contract: every wrong path, unknown operations, undeclared prefixes, with positions") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  SECTION("mapping paths the create input does not have: all of them, with suggestions, at their lines") {
    std::string mapping = kGuardianMapping;
    mapping.replace(mapping.find("gcr:CommunityReport/Summary"), 27, "gcr:CommunityReport/Sumary");
    mapping.replace(mapping.find("Classification/CategoryCode"), 27, "Clasification/CategoryCode");
    Installation inst(mapping, guardian_target(server.port()));
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("all.yaml:13:11: error: target 'guardian' has no field 'gcr:CommunityReport/Sumary'") !=
          std::string::npos);
    CHECK(r.out.find("did you mean gcr:CommunityReport/Summary") != std::string::npos);
    CHECK(r.out.find("all.yaml:11:11: error: target 'guardian' has no field 'gcr:CommunityReport/Clasification") !=
          std::string::npos);
    CHECK(r.out.find("did you mean gcr:CommunityReport/Classification/CategoryCode") != std::string::npos);
  }
  SECTION("an unknown operation and an undeclared prefix: both, at their config lines") {
    std::string target = guardian_target(server.port());
    target.replace(target.find("operation: UpdateCommunityReport"), 32, "operation: UpdateReport");
    target.replace(target.find("reference: //svc:RmsReference"), 29, "reference: //rms:RmsReference");
    Installation inst(kGuardianMapping, target);
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("config.yaml:29:7: error: target 'guardian': update: operation 'UpdateReport' is not offered "
                     "(operations: FindByExternalReference, SubmitCommunityReport, UpdateCommunityReport)") !=
          std::string::npos);
    CHECK(r.out.find("config.yaml:36:18: error: target 'guardian': lookup: reference: XPath '//rms:RmsReference': "
                     "prefix 'rms' is not declared") != std::string::npos);
  }
  SECTION("a bad setting and contract errors in one pass, not one after the other") {
    std::string target = guardian_target(server.port());
    target.replace(target.find("values: {gcr:CommunityReport/ExternalReference: external_reference}"), 67,
                   "values: {gcr:CommunityReport/ExternalReference: external_refrence}");
    target.replace(target.find("operation: UpdateCommunityReport"), 32, "operation: UpdateReport");
    target.replace(target.find("reference: //svc:RmsReference"), 29, "reference: //rms:RmsReference");
    target += "    attachment_content_element: Content\n";
    Installation inst(kGuardianMapping, target);
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("create.values: 'external_refrence' is not a bridge value") != std::string::npos);
    CHECK(r.out.find("'attachment_content_element' is the built-in shape's") != std::string::npos);
    CHECK(r.out.find("update: operation 'UpdateReport' is not offered") != std::string::npos);
    CHECK(r.out.find("lookup: reference: XPath '//rms:RmsReference': prefix 'rms' is not declared") !=
          std::string::npos);
  }
  SECTION("a bad setting does not hide the required elements the mapping never fills") {
    std::string mapping = kGuardianMapping;
    const auto at = mapping.find("  - name: gcr:CommunityReport/Classification/CategoryCode");
    mapping.erase(at, mapping.find("  - name: gcr:CommunityReport/Summary") - at);
    std::string target = guardian_target(server.port());
    target.replace(target.find("not_found: nil"), 14, "not_found: none");
    Installation inst(mapping, target);
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.out.find("lookup.not_found: empty, nil or {fault: Code}") != std::string::npos);
    CHECK(r.out.find("required and never filled: gcr:CommunityReport/Classification") != std::string::npos);
  }
  SECTION("required elements the mapping never fills") {
    std::string mapping = kGuardianMapping;
    const auto at = mapping.find("  - name: gcr:CommunityReport/Classification/CategoryCode");
    mapping.erase(at, mapping.find("  - name: gcr:CommunityReport/Summary") - at);
    Installation inst(mapping, guardian_target(server.port()));
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("required and never filled: gcr:CommunityReport/Classification") != std::string::npos);
  }
}

TEST_CASE("a good WSDL target passes check, preview shows every operation's envelope") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(kGuardianMapping, guardian_target(server.port()));
  create_app_store(inst.store);
  auto r = inst.bridge({"check"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
  auto p = inst.bridge({"preview", "--submission", test_id(1)});
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  CHECK(p.out.find("== create: SubmitCommunityReport") != std::string::npos);
  CHECK(p.out.find("== update: UpdateCommunityReport") != std::string::npos);
  CHECK(p.out.find("== lookup: FindByExternalReference") != std::string::npos);
  CHECK(p.out.find("<ExternalReference>" + test_id(1) + ":1</ExternalReference>") != std::string::npos);
  // Nothing was sent by check or preview.
  CHECK(dump(server).at("records").as_array().empty());
}

TEST_CASE("a mapping's operations: section places fields per operation, checked at file:line:col") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  SECTION("the update leaves a field out: check passes, preview shows it in the create only") {
    Installation inst(std::string(kGuardianMapping) +
                          "operations:\n  update:\n    gcr:CommunityReport/Narrative: \"\"\n",
                      guardian_target(server.port()));
    create_app_store(inst.store);
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    insert_submission(inst.store, 1, test_id(1), 1, valid_payload(test_id(1)));
    auto p = inst.bridge({"preview", "--submission", test_id(1)});
    INFO(p.out << p.err);
    REQUIRE(p.exit_code == 0);
    const auto update_at = p.out.find("== update: UpdateCommunityReport");
    REQUIRE(update_at != std::string::npos);
    const auto lookup_at = p.out.find("== lookup:");
    CHECK(p.out.substr(0, update_at).find("<Narrative>") != std::string::npos);
    CHECK(p.out.substr(update_at, lookup_at - update_at).find("Narrative") == std::string::npos);
    CHECK(p.out.substr(update_at, lookup_at - update_at).find("<Summary>") != std::string::npos);
  }
  SECTION("bad paths, unknown fields and operations: each at its line and column") {
    Installation inst(std::string(kGuardianMapping) +
                          "operations:\n"
                          "  update:\n"
                          "    gcr:CommunityReport/Narative: gcr:CommunityReport/Narrative\n"
                          "  lookup:\n"
                          "    gcr:CommunityReport/Summary: svc:Sumary\n"
                          "  amend:\n"
                          "    gcr:CommunityReport/Summary: x\n",
                      guardian_target(server.port()));
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.out.find("all.yaml:23:5: error: operations.update: 'gcr:CommunityReport/Narative' is not a field of "
                     "this mapping, did you mean 'gcr:CommunityReport/Narrative'?") != std::string::npos);
    CHECK(r.out.find("all.yaml:25:34: error: target 'guardian' lookup has no path 'svc:Sumary': "
                     "(FindByExternalReference)") != std::string::npos);
    CHECK(r.out.find("all.yaml:26:3: error: operations: 'amend' is not create, update or lookup") !=
          std::string::npos);
  }
  SECTION("a reload that would change a section is refused (the sink holds it from start-up)") {
    Installation inst(kGuardianMapping, guardian_target(server.port()));
    create_app_store(inst.store);
    const std::string out = (inst.dir / "run.out").string(), err = (inst.dir / "run.err").string();
    const pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config}, out, err);
    CHECK(wait_serving(err));
    write_file(inst.dir / "mappings/all.yaml", std::string(kGuardianMapping) +
                                                   "operations:\n  update:\n    gcr:CommunityReport/Narrative: \"\"\n");
    kill(pid, SIGHUP);
    const std::string& log_path = err;
    CHECK(wait_until([&] { return read_file(log_path).find("reload refused") != std::string::npos; },
                     std::chrono::seconds(15)));
    kill(pid, SIGTERM);
    CHECK(wait_process(pid).exit_code == 0);
    const std::string log = read_file(err);
    INFO(log);
    CHECK(log.find("reload would change the operations: sections of the mappings feeding target 'guardian'") !=
          std::string::npos);
  }
  SECTION("a mapping whose targets take no operations") {
    Installation inst("mapping: plain\ntargets: [drop]\nfields:\n  - {name: Ref, from: id}\n"
                      "operations:\n  update: {Ref: \"\"}\n",
                      guardian_target(server.port()));
    auto r = inst.bridge({"check"});
    INFO(r.out << r.err);
    CHECK(r.out.find("all.yaml:6:3: error: operations: none of this mapping's targets has operations") !=
          std::string::npos);
  }
}

TEST_CASE("chaos and SIGKILLs against the WSDL target: every version once at the server, nothing lost") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  // The settle time must exceed the longest a request can take to commit after
  // the bridge gave up on it (or, after a SIGKILL, after the restarted bridge
  // first sees it): the 1.5 s slow commit plus what a loaded 2-core CI machine
  // adds to a Python thread's wake-up. 2 s left 0.5 s for that and a CI run saw
  // one create twice (stop 22); 4 s leaves 2.5 s. The timeline of any duplicate
  // is printed below.
  Installation inst(kGuardianMapping,
                    guardian_target(server.port(),
                                    "    read_timeout: 700ms\n    request_timeout: 1s\n    settle_time: 4s\n"
                                    "    connect_timeout: 1s\n    batch_size: 20\n    batch_wait: 50ms\n"
                                    "    retry: {max_attempts: 1000, base: 50ms, cap: 500ms}\n"
                                    "    circuit: {failures: 1000}\n"));
  auto gen = inst.generate(300, 7);
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);
  // 5% HTTP 500, 5% Server fault, 5% dropped after commit, 5% slow (1.5 s) then commit.
  control(server, "chaos=11&http500=0.05&server_fault=0.05&drop=0.05&slow=0.05&slow_ms=1500");

  std::mt19937 rng(99);
  std::uniform_int_distribution<int> wait_ms(300, 1500);
  int kills = 0;
  std::string kill_ms;  // when each SIGKILL was sent (Unix ms), for a duplicate's timeline
  for (int round = 0; round < 6; ++round) {
    pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                              (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    kill(pid, SIGKILL);
    kill_ms += " " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    if (wait_process(pid).signal == SIGKILL) ++kills;
  }
  CHECK(kills >= 4);
  // The last run finishes the work.
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  const bool done = wait_until(
      [&] {
        auto s = outbox_states(inst);
        return !s.empty() && s["pending"] == 0 && s["in_flight"] == 0 && s["delivered"] > 0;
      },
      std::chrono::seconds(150));
  kill(pid, SIGTERM);
  wait_process(pid);
  auto states = outbox_states(inst);
  INFO("delivered " << states["delivered"] << " dead " << states["dead"] << " pending " << states["pending"]);
  REQUIRE(done);
  CHECK(states["dead"] == 0);

  auto d = dump(server);
  INFO(boost::json::serialize(d.at("calls")) << " " << boost::json::serialize(d.at("outcomes")));
  // A duplicate's timeline, first (CI output keeps only the start of a failure).
  for (const auto& [external, refs] : d.at("duplicates").as_object()) {
    std::string line = "DUPLICATE " + std::string(external) + ":";
    for (const auto& rec : d.at("records").as_array()) {
      if (rec.at("external_reference") != boost::json::value(external)) continue;
      const auto& v0 = rec.at("versions").as_array().at(0);
      line += " [" + std::string(rec.at("legacy_reference").as_string()) + " received_ms " +
              boost::json::serialize(v0.at("received_ms")) + " committed_ms " +
              boost::json::serialize(v0.at("committed_ms")) + "]";
    }
    std::printf("%s (SIGKILLs at%s)\n", line.c_str(), kill_ms.c_str());
  }
  CHECK(d.at("duplicates").as_object().empty());        // no record created twice
  CHECK(d.at("repeated_versions").as_object().empty());  // no version applied twice
  std::int64_t versions = 0;
  for (const auto& rec : d.at("records").as_array()) versions += static_cast<std::int64_t>(rec.at("versions").as_array().size());
  CHECK(versions == states["delivered"]);  // every delivered item is exactly one version at the server
  const auto& outcomes = d.at("outcomes").as_object();
  std::printf("wsdl chaos: %d SIGKILLs, %lld items delivered, %lld versions at the server, outcomes %s\n", kills,
              static_cast<long long>(states["delivered"]), static_cast<long long>(versions),
              boost::json::serialize(outcomes).c_str());
}

TEST_CASE("a slow call holds its own item only: the rest of its batch is delivered and written back meanwhile") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  Installation inst(kGuardianMapping,
                    guardian_target(server.port(),
                                    "    read_timeout: 30s\n    request_timeout: 40s\n    max_connections: 4\n"
                                    "    batch_size: 40\n    batch_wait: 50ms\n"));
  auto gen = inst.generate(30, 5);
  INFO(gen.out << gen.err);
  REQUIRE(gen.exit_code == 0);
  // The first create waits 8 s at the target, then commits and answers.
  control(server, "slow_next=1&ms=8000&ops=create");
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  std::map<std::string, std::int64_t> states;
  std::size_t forwarded = 0;
  // While the slow call is pending: everything else of its batch delivered
  // (status) and written back to the app.
  const bool settled_meanwhile = wait_until(
      [&] {
        states = outbox_states(inst);
        forwarded = 0;
        for (const auto& [id, state] : inst.statuses()) forwarded += state == "forwarded";
        return states["in_flight"] == 1 && states["delivered"] >= 10 && forwarded >= 10;
      },
      std::chrono::milliseconds(6000));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto during = dump(server);
  std::int64_t versions = 0;
  for (const auto& rec : during.at("records").as_array())
    versions += static_cast<std::int64_t>(rec.at("versions").as_array().size());
  INFO("after " << seconds << " s: delivered " << states["delivered"] << " in flight " << states["in_flight"]
                << " pending " << states["pending"] << ", " << forwarded << " forwarded, " << versions
                << " versions at the server");
  CHECK(settled_meanwhile);
  CHECK(seconds < 8.0);  // the slow call has not answered yet
  CHECK(versions == states["delivered"]);  // (the slow create commits only when it answers)

  // Then the slow one settles too, once.
  const bool done = wait_until(
      [&] {
        auto s = outbox_states(inst);
        return s["pending"] == 0 && s["in_flight"] == 0 && s["delivered"] > states["delivered"];
      },
      std::chrono::seconds(30));
  kill(pid, SIGTERM);
  wait_process(pid);
  CHECK(done);
  auto after = dump(server);
  CHECK(after.at("duplicates").as_object().empty());
  CHECK(after.at("repeated_versions").as_object().empty());
}

TEST_CASE("the safer path: a create the target refuses to make twice is resent at once, one record, its reference") {
  ServerProcess server({python(), server_script("legacy_rms_server.py"), "0", "--shape", "wrapped"});
  control(server, "unique_external=1");
  std::string target = guardian_target(server.port(),
                                       "    read_timeout: 5s\n    request_timeout: 6s\n    settle_time: 120s\n"
                                       "    batch_size: 10\n    batch_wait: 50ms\n"
                                       "    retry: {max_attempts: 50, base: 50ms, cap: 200ms}\n"
                                       "    writeback: {message: \"Recorded by Guardian.\", reference: true}\n");
  const std::string values = "      values: {gcr:CommunityReport/ExternalReference: external_reference}\n";
  const auto at = target.find(values);
  REQUIRE(at != std::string::npos);
  target.insert(at + values.size(),
                "      on_existing: {fault: DuplicateExternalReference, reference: \"//dup:ExistingReference\"}\n");
  target.insert(target.find("      svc: "), "      dup: urn:reportbridge:test:legacy-faults\n");
  Installation inst(kGuardianMapping, target);
  create_app_store(inst.store);
  for (int n = 1; n <= 3; ++n) insert_submission(inst.store, n, test_id(n), 1, valid_payload(test_id(n)));
  // The first create commits, then the connection drops without an answer: in doubt.
  control(server, "drop_next=1&ops=create");

  auto check = inst.bridge({"check"});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = spawn_process({REPORTBRIDGE_BINARY, "run", "--config", inst.config, "--log-level", "warn"},
                            (inst.dir / "out.log").string(), (inst.dir / "err.log").string());
  // Without the safer path the in-doubt create would wait out the 120 s settle time.
  const bool done = wait_until(
      [&] {
        std::size_t forwarded = 0;
        for (const auto& [id, state] : inst.statuses()) forwarded += state == "forwarded";
        return forwarded == 3;
      },
      std::chrono::seconds(20));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  kill(pid, SIGTERM);
  wait_process(pid);
  INFO("after " << seconds << " s; " << read_file(inst.dir / "err.log"));
  CHECK(done);

  auto d = dump(server);
  INFO(boost::json::serialize(d.at("calls")));
  CHECK(d.at("duplicates").as_object().empty());
  CHECK(d.at("refused_duplicates").as_int64() == 1);  // the resend, refused
  const auto refs = read_status_references(inst.store);
  std::size_t matched = 0;
  for (const auto& rec : d.at("records").as_array()) {
    const std::string external(rec.at("external_reference").as_string());
    const std::string id = external.substr(0, external.find(':'));
    CHECK(refs.at(id) == std::string(rec.at("legacy_reference").as_string()));
    ++matched;
  }
  CHECK(matched == 3);
}

TEST_CASE("scaffold: a starter mapping and WSDL target from the contract") {
  auto r = run_process({REPORTBRIDGE_BINARY, "scaffold", "--wsdl", kGuardianWsdl, "--operation", "SubmitCommunityReport",
                        "--schema", std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/submission.schema.json"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // Required paths active, with their types; the target in the WSDL form.
  CHECK(r.out.find("ExternalReference") != std::string::npos);
  CHECK(r.out.find("Classification/CategoryCode") != std::string::npos);
  CHECK(r.out.find("    type: soap\n    wsdl: ") != std::string::npos);
  CHECK(r.out.find("      operation: SubmitCommunityReport") != std::string::npos);
  auto bad = run_process({REPORTBRIDGE_BINARY, "scaffold", "--wsdl", kGuardianWsdl, "--operation", "Submit"});
  CHECK(bad.exit_code == 3);
  CHECK(bad.err.find("SubmitCommunityReport") != std::string::npos);  // what exists
}
