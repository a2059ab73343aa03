// Pushes N records through SoapSink to a loopback HTTP endpoint that answers
// at once (a minimal Beast server on its own threads), and reports throughput
// and p50/p99 request latency.  reportbridge-soap-bench [records] [connections] [batch]
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "adapters/sinks/soap/soap_sink.hpp"

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
    res.body() = kReply;
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

  soap::SoapConfig c;
  c.name = "bench";
  c.url = "http://127.0.0.1:" + std::to_string(port) + "/rms";
  c.schema = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/unit/soap/fixtures/test_report.xsd";
  c.layout.root = "CommunityReport";
  c.http.max_connections = conns;
  soap::SoapSink sink(c, nullptr);

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
  std::printf("soap sink: %zu records (%zu delivered) in %.2f s = %.0f records/s; %zu connections, batches of %zu\n",
              total, delivered, secs, static_cast<double>(total) / secs, conns, batch_size);
  std::printf("request latency: p50 %.3f ms, p99 %.3f ms; connections opened %llu\n", pct(0.5), pct(0.99),
              static_cast<unsigned long long>(sink.connections_opened()));
  acceptor.close();
  server_ctx.stop();
  server.detach();
  return delivered == total ? 0 : 1;
}
