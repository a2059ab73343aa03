// Deliveries per second through the dispatcher, the state store and the WSDL
// SOAP sink (Guardian contract) to a loopback endpoint where a share of the
// calls are slow (answered after slow_ms), as under faults at a real target.
// Each run measures two ways side by side on the same machine:
//   whole  - the batch settles when its slowest call has answered and the
//            next batch is claimed only then (the sink without
//            reports_each: how the dispatcher worked before #17 item 6);
//   each   - items settle as they finish and batches overlap as connections
//            free up (the sink as it is).
// reportbridge-soap-dispatch-bench [records] [connections] [batch] [slow_percent] [slow_ms] [runs]
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <thread>

#include "adapters/sinks/soap/wsdl_soap_sink.hpp"
#include "bridge/pipeline/dispatcher.hpp"
#include "bridge/store/record_codec.hpp"
#include "bridge/store/sqlite_state_store.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace reportbridge;

namespace {

const std::string kGuardianReply =
    "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
    "<g:SubmitCommunityReportResponse xmlns:g=\"http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03\">"
    "<g:RmsReference>GRD/26/000001</g:RmsReference><g:ReceivedAt>2026-11-27T18:42:11Z</g:ReceivedAt>"
    "</g:SubmitCommunityReportResponse></soap:Body></soap:Envelope>";

std::atomic<std::uint64_t> g_requests{0};
unsigned g_slow_percent = 2;
unsigned g_slow_ms = 500;

void serve(tcp::socket socket) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    // A fixed share of the calls, spread evenly, is slow.
    const std::uint64_t n = g_requests++;
    if ((n * 37) % 100 < g_slow_percent) std::this_thread::sleep_for(std::chrono::milliseconds(g_slow_ms));
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/xml; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = kGuardianReply;
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) return;
  }
}

// The sink as the dispatcher saw every sink before: whole batches.
class WholeBatches : public core::Sink {
 public:
  explicit WholeBatches(core::Sink& inner) : inner_(inner) {}
  const std::string& name() const override { return inner_.name(); }
  core::BatchPolicy batch_policy() const override { return inner_.batch_policy(); }
  std::string encode_preview(const core::TargetRecord& r) const override { return inner_.encode_preview(r); }
  std::vector<core::DeliveryOutcome> deliver(const core::DeliveryBatch& b) override { return inner_.deliver(b); }

 private:
  core::Sink& inner_;
};

void queue_records(store::StateStore& state, std::size_t total, std::int64_t now) {
  const std::vector<std::string> names = {"gcr:CommunityReport/SourceSystem", "gcr:CommunityReport/ReportedDateTime",
                                          "gcr:CommunityReport/Classification/CategoryCode",
                                          "gcr:CommunityReport/Summary", "gcr:CommunityReport/Location/Postcode"};
  for (std::size_t done = 0; done < total;) {
    auto tx = state.begin_ingest();
    std::deque<core::SourceRow> rows;
    std::deque<std::string> values;
    for (std::size_t i = 0; i < 500 && done < total; ++i, ++done) {
      auto& row = rows.emplace_back();
      row.seq = static_cast<std::int64_t>(done + 1);
      row.id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + done);
      row.version = 1;
      row.received_at = "2026-11-27T18:42:11Z";
      row.payload = "{}";
      if (!tx->claim_version(row, "hash", now)) throw std::logic_error("queued twice");
      core::TargetRecord rec{row.id, 1, "m", "bench",
                             {{names[0], "PUBLIC_APP"}, {names[1], "2026-11-27T18:42:10"}, {names[2], "ASB01"},
                              {names[3], "Group throwing stones at buses on Linthorpe Road"}, {names[4], "TS1 3QY"}},
                             {}};
      auto& bytes = values.emplace_back();
      store::codec::put_values(bytes, rec);
      store::QueuedVersion v;
      v.row = &row;
      v.records.push_back({"bench", "m", &names, bytes, {}});
      tx->queue_version(v, now);
    }
    tx->commit();
  }
}

double run_once(bool each, std::size_t total, std::size_t conns, std::size_t batch, unsigned short port) {
  char tmpl[] = "/tmp/rb-dispatch-bench-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  double rate = 0;
  {
    store::SqliteStateStore state((dir / "state.db").string());
    soap::WsdlSoapConfig c;
    c.name = "bench";
    c.wsdl = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/fixtures/wsdl/wrapped/GuardianIntakeService.wsdl";
    c.url = "http://127.0.0.1:" + std::to_string(port) + "/Guardian/IntakeService.svc";
    c.namespaces = {{"svc", "http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03"},
                    {"gcr", "http://schemas.caldmore.co.uk/guardian/records/community-report/2.1"}};
    c.create.operation = "SubmitCommunityReport";
    c.create.reference = "svc:SubmitCommunityReportResponse/svc:RmsReference";
    c.create.values = {{"gcr:CommunityReport/ExternalReference", soap::BridgeValue::external_reference}};
    c.http.max_connections = conns;
    c.batch = {batch, std::chrono::milliseconds{0}};
    soap::WsdlSoapSink sink(c, nullptr);
    WholeBatches whole(sink);
    queue_records(state, total, store::now_ms());
    pipeline::Dispatcher d(state);
    d.add_target(each ? static_cast<core::Sink&>(sink) : static_cast<core::Sink&>(whole), store::RetryPolicy{},
                 store::WritebackRule{"ok", false, false});
    std::size_t delivered = 0;
    const auto start = std::chrono::steady_clock::now();
    while (delivered < total) {
      auto s = d.dispatch(true);
      delivered += s.delivered;
      if (s.delivered == 0 && s.retried == 0 && s.rejected == 0) break;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rate = delivered == total ? static_cast<double>(total) / secs : 0;
  }
  std::filesystem::remove_all(dir);
  return rate;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t total = argc > 1 ? std::stoul(argv[1]) : 2000;
  const std::size_t conns = argc > 2 ? std::stoul(argv[2]) : 4;
  const std::size_t batch = argc > 3 ? std::stoul(argv[3]) : 100;
  g_slow_percent = argc > 4 ? static_cast<unsigned>(std::stoul(argv[4])) : 2;
  g_slow_ms = argc > 5 ? static_cast<unsigned>(std::stoul(argv[5])) : 500;
  const std::size_t runs = argc > 6 ? std::stoul(argv[6]) : 3;

  asio::io_context server_ctx;
  tcp::acceptor acceptor(server_ctx, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::thread server([&] {
    for (;;) {
      beast::error_code ec;
      tcp::socket s(server_ctx);
      acceptor.accept(s, ec);
      if (ec) return;
      s.set_option(tcp::no_delay(true), ec);
      std::thread(serve, std::move(s)).detach();
    }
  });

  std::vector<double> whole, each;
  for (std::size_t r = 0; r < runs; ++r) {  // alternating, so both see the same machine
    whole.push_back(run_once(false, total, conns, batch, port));
    each.push_back(run_once(true, total, conns, batch, port));
    std::printf("run %zu: whole batches %.0f deliveries/s, items as they finish %.0f deliveries/s\n", r + 1,
                whole.back(), each.back());
  }
  const double w = median(whole), e = median(each);
  std::printf("%zu records, %zu connections, batches of %zu, %u%% of calls slow (%u ms); medians of %zu runs:\n"
              "  whole batches (before): %.0f deliveries/s\n  items as they finish (after): %.0f deliveries/s\n"
              "  ratio after/before: %.2fx\n",
              total, conns, batch, g_slow_percent, g_slow_ms, runs, w, e, w > 0 ? e / w : 0.0);
  acceptor.close();
  server_ctx.stop();
  server.detach();
  return w > 0 && e > 0 ? 0 : 1;
}
