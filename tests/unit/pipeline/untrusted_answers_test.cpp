// What a target answers is untrusted (issue #15 item 7): a 100 KB reference
// with CR/LF was stored and written back as the reference residents see. The
// real SOAP sink against the misbehaving loopback server
// (tests/servers/faulty_server.py), the real state database and dispatcher.
#include <catch2/catch.hpp>

#include "adapters/sinks/soap/soap_sink.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/outbox.hpp"
#include "tests/servers/server_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using testing::ServerProcess;

namespace {

const std::string kXsd = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/unit/soap/fixtures/test_report.xsd";

ServerProcess& faulty() {
  static ServerProcess s({testing::python(), testing::server_script("faulty_server.py"), "0"});
  return s;
}

soap::SoapConfig config_for(const std::string& url) {
  soap::SoapConfig c;
  c.name = "rms";
  c.url = url;
  c.schema = kXsd;
  c.layout.root = "CommunityReport";
  c.create.soap_action = "CreateCommunityReport";
  c.http.connect_timeout = std::chrono::milliseconds(2000);
  c.http.read_timeout = std::chrono::milliseconds(5000);
  c.http.total_timeout = std::chrono::milliseconds(10000);
  return c;
}

void enqueue(store::SqliteStateStore& state, const std::string& id) {
  core::TargetRecord r;
  r.submission_id = id;
  r.version = 1;
  r.mapping = "m";
  r.target = "rms";
  r.fields = {{"SubmissionId", id}, {"Summary", "Group throwing stones"}, {"Postcode", "TS1 3QY"}};
  core::SourceRow row;
  row.id = id;
  row.version = 1;
  row.seq = 1;
  row.received_at = "2026-11-27T18:00:00Z";
  testing::queue(state, row, {{r, {}}}, store::now_ms());
}

std::string only_text(store::SqliteStateStore& state, const char* sql) {
  auto q = state.db().prepare(sql);
  REQUIRE(q.step());
  return q.optional_text(0).value_or("");
}

}  // namespace

TEST_CASE("a hostile reference is cleaned and capped before it is stored or written back") {
  testing::TempDir dir;
  store::SqliteStateStore state((dir / "state.db").string());
  soap::SoapSink sink(config_for(faulty().url("/hostile-ref")), nullptr);
  pipeline::Dispatcher d(state);
  d.add_target(sink, {}, {"Recorded.", true});
  enqueue(state, "sub-1");
  CHECK(d.dispatch(true).delivered == 1);
  const std::string stored = only_text(state, "SELECT reference FROM legacy_refs");
  CHECK(stored.size() <= pipeline::Dispatcher::kMaxReferenceBytes);
  CHECK(stored.rfind("CR/", 0) == 0);
  CHECK(stored.find("Injected: forged line") != std::string::npos);  // kept as text, on one line
  for (char c : stored) CHECK(static_cast<unsigned char>(c) >= 0x20);
  CHECK(stored.find("\xc2\x9b") == std::string::npos);      // no C1 CSI
  CHECK(stored.find("\xe2\x80\xae") == std::string::npos);  // no bidi override
  auto wb = state.pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.reference == stored);
}

TEST_CASE("a hostile fault string is kept as a bounded detail, status shows it escaped") {
  testing::TempDir dir;
  store::SqliteStateStore state((dir / "state.db").string());
  soap::SoapSink sink(config_for(faulty().url("/hostile-fault")), nullptr);
  pipeline::Dispatcher d(state);
  d.add_target(sink, {}, {"Recorded.", true});
  enqueue(state, "sub-2");
  CHECK(d.dispatch(true).rejected == 1);
  auto dead = state.dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].last_error.rfind("soap_client_fault: ", 0) == 0);
  CHECK(dead[0].last_error.size() <= pipeline::Dispatcher::kMaxDetailBytes + 64);
}
