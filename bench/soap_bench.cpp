// Pushes N records through SoapSink to a loopback HTTP endpoint that answers
// at once (a minimal Beast server on its own threads), and reports throughput
// and p50/p99 request latency.  reportbridge-soap-bench [records] [connections] [batch] [builtin|wsdl]
// wsdl: WsdlSoapSink on the Guardian contract (tests/fixtures/wsdl/wrapped):
// each request rendered from mapping paths and validated against the WSDL's
// schema set, each answer validated against the output schema.
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <cstdio>
#include <thread>

#include "adapters/sinks/soap/soap_sink.hpp"
#include "adapters/sinks/soap/wsdl_soap_sink.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace reportbridge;

namespace {

const std::string kReply =
    "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
    "<svc:CreateCommunityReportResponse xmlns:svc=\"urn:reportbridge:rms:service:1\"><svc:LegacyReference>"
    "RMS-26-000001</svc:LegacyReference></svc:CreateCommunityReportResponse></soap:Body></soap:Envelope>";

const std::string kGuardianReply =
    "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
    "<g:SubmitCommunityReportResponse xmlns:g=\"http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03\">"
    "<g:RmsReference>GRD/26/000001</g:RmsReference><g:ReceivedAt>2026-11-27T18:42:11Z</g:ReceivedAt>"
    "</g:SubmitCommunityReportResponse></soap:Body></soap:Envelope>";
bool g_wsdl = false;

void serve(tcp::socket socket) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/xml; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = g_wsdl ? kGuardianReply : kReply;
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t total = argc > 1 ? std::stoul(argv[1]) : 100000;
  const std::size_t conns = argc > 2 ? std::stoul(argv[2]) : 8;
  const std::size_t batch_size = argc > 3 ? std::stoul(argv[3]) : 1000;
  g_wsdl = argc > 4 && std::string(argv[4]) == "wsdl";

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

  std::unique_ptr<core::Sink> sink_ptr;
  std::function<std::uint64_t()> opened;
  if (g_wsdl) {
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
    auto s = std::make_unique<soap::WsdlSoapSink>(c, nullptr);
    auto* raw = s.get();
    opened = [raw] { return raw->connections_opened(); };
    sink_ptr = std::move(s);
  } else {
    soap::SoapConfig c;
    c.name = "bench";
    c.url = "http://127.0.0.1:" + std::to_string(port) + "/rms";
    c.schema = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/unit/soap/fixtures/test_report.xsd";
    c.layout.root = "CommunityReport";
    c.http.max_connections = conns;
    auto s = std::make_unique<soap::SoapSink>(c, nullptr);
    auto* raw = s.get();
    opened = [raw] { return raw->connections_opened(); };
    sink_ptr = std::move(s);
  }
  core::Sink& sink = *sink_ptr;

  std::vector<double> latencies;
  latencies.reserve(total);
  std::size_t delivered = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t done = 0; done < total;) {
    core::DeliveryBatch batch;
    batch.key = "bench-" + std::to_string(done);
    for (std::size_t i = 0; i < batch_size && done + i < total; ++i) {
      core::DeliveryItem item;
      item.record.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + done + i);
      item.record.version = 1;
      item.outbox_id = static_cast<std::int64_t>(done + i + 1);
      if (g_wsdl)
        item.record.fields = {{"gcr:CommunityReport/SourceSystem", "PUBLIC_APP"},
                              {"gcr:CommunityReport/ReportedDateTime", "2026-11-27T18:42:10"},
                              {"gcr:CommunityReport/Classification/CategoryCode", "ASB01"},
                              {"gcr:CommunityReport/Summary", "Group throwing stones at buses on Linthorpe Road"},
                              {"gcr:CommunityReport/Location/Postcode", "TS1 3QY"}};
      else
        item.record.fields = {{"SubmissionId", item.record.submission_id},
                              {"Summary", "Group throwing stones at buses on Linthorpe Road"},
                              {"Postcode", "TS1 3QY"}};
      batch.items.push_back(std::move(item));
    }
    done += batch.items.size();
    for (const auto& o : sink.deliver(batch)) {
      if (o.status == core::DeliveryStatus::delivered) ++delivered;
      latencies.push_back(o.latency_ms);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) { return latencies[static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1))]; };
  std::printf("%s: %zu records (%zu delivered) in %.2f s = %.0f records/s; %zu connections, batches of %zu\n",
              g_wsdl ? "wsdl soap sink (Guardian)" : "soap sink", total, delivered, secs, static_cast<double>(total) / secs, conns, batch_size);
  std::printf("request latency: p50 %.3f ms, p99 %.3f ms; connections opened %llu\n", pct(0.5), pct(0.99),
              static_cast<unsigned long long>(opened ? opened() : 0));
  acceptor.close();
  server_ctx.stop();
  server.detach();
  return delivered == total ? 0 : 1;
}
