#include "bridge/service/health_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <catch2/catch.hpp>
#include <stdexcept>
#include <memory>
#include <thread>
#include <vector>

using namespace reportbridge;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A blocking Beast client on its own io_context.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> request(http::verb verb, const std::string& target,
                                            bool keep_alive = true) {
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    http::write(socket_, req);
    return read_response(verb == http::verb::head);
  }
  void send_raw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  http::response<http::string_body> read_response(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }
  // True when the server closed the connection (read ends with EOF or reset).
  bool closed_by_server() {
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

service::HealthServerSettings ephemeral() {
  service::HealthServerSettings s;
  s.address = "127.0.0.1";
  s.port = 0;
  return s;
}

}  // namespace

TEST_CASE("health server answers healthz, readyz and metrics over real HTTP") {
  std::atomic<bool> state_ok{true};
  service::HealthServer server(
      ephemeral(),
      [&] {
        return std::vector<service::ReadinessCheck>{
            {"state_database", state_ok.load(), state_ok ? "writable" : "read-only file system"},
            {"source", true, "reachable"}};
      },
      [] { return std::string("reportbridge_up 1\n"); });
  server.start();
  REQUIRE(server.port() != 0);
  Client c(server.port());

  auto health = c.request(http::verb::get, "/healthz");
  CHECK(health.result() == http::status::ok);
  CHECK(health.body() == "ok\n");

  auto ready = c.request(http::verb::get, "/readyz");
  CHECK(ready.result() == http::status::ok);
  CHECK(ready[http::field::content_type] == "application/json");
  CHECK(boost::json::parse(ready.body()) ==
        boost::json::parse(R"({"status":"ready","checks":[{"name":"state_database","ok":true,"detail":"writable"},)"
                           R"({"name":"source","ok":true,"detail":"reachable"}]})"));

  state_ok = false;
  auto not_ready = c.request(http::verb::get, "/readyz");
  CHECK(not_ready.result() == http::status::service_unavailable);
  auto body = boost::json::parse(not_ready.body()).as_object();
  CHECK(body.at("status") == "not_ready");
  CHECK(body.at("checks").as_array().at(0).as_object().at("ok") == false);
  CHECK(body.at("checks").as_array().at(0).as_object().at("detail") == "read-only file system");

  auto metrics = c.request(http::verb::get, "/metrics?name=x");  // the query is ignored
  CHECK(metrics.result() == http::status::ok);
  CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body() == "reportbridge_up 1\n");

  auto head = c.request(http::verb::head, "/metrics");
  CHECK(head.result() == http::status::ok);
  CHECK(head[http::field::content_length] == "18");
  CHECK(head.body().empty());

  CHECK(c.request(http::verb::get, "/nothing").result() == http::status::not_found);
  auto post = c.request(http::verb::post, "/metrics");
  CHECK(post.result() == http::status::method_not_allowed);
  CHECK(post[http::field::allow] == "GET, HEAD");

  auto last = c.request(http::verb::get, "/healthz", false);
  CHECK(last.result() == http::status::ok);
  CHECK(c.closed_by_server());
  server.stop();
}

TEST_CASE("health server reports callbacks that throw") {
  service::HealthServer server(
      ephemeral(), []() -> std::vector<service::ReadinessCheck> { throw std::runtime_error("db gone"); },
      []() -> std::string { throw std::runtime_error("no gauges"); });
  server.start();
  Client c(server.port());
  auto ready = c.request(http::verb::get, "/readyz");
  CHECK(ready.result() == http::status::service_unavailable);
  CHECK(boost::json::parse(ready.body()) ==
        boost::json::parse(R"({"status":"not_ready","checks":[{"name":"readiness","ok":false,)"
                           R"("detail":"the checks could not run: db gone"}]})"));
  auto metrics = c.request(http::verb::get, "/metrics");
  CHECK(metrics.result() == http::status::internal_server_error);
  CHECK(metrics.body() == "metrics unavailable: no gauges\n");
  // Still alive.
  CHECK(c.request(http::verb::get, "/healthz").result() == http::status::ok);
}

TEST_CASE("health server refuses oversized headers and request bodies") {
  auto settings = ephemeral();
  settings.max_header_bytes = 1024;
  service::HealthServer server(settings, {}, {});
  server.start();
  {
    Client c(server.port());
    c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
    auto res = c.read_response();
    CHECK(res.result() == http::status::request_header_fields_too_large);
    CHECK(c.closed_by_server());
  }
  {
    Client c(server.port());
    c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(c.read_response().result() == http::status::payload_too_large);
    CHECK(c.closed_by_server());
  }
  {
    Client c(server.port());
    c.send_raw("NOT HTTP AT ALL\r\n\r\n");
    CHECK(c.read_response().result() == http::status::bad_request);
  }
}

TEST_CASE("health server closes idle connections after the timeout") {
  auto settings = ephemeral();
  settings.io_timeout = 200ms;
  service::HealthServer server(settings, {}, {});
  server.start();
  Client c(server.port());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.closed_by_server());
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 150ms);
  CHECK(waited < 3s);
}

TEST_CASE("health server limits concurrent connections: the longest idle one makes room") {
  auto settings = ephemeral();
  settings.max_connections = 2;
  settings.io_timeout = 10s;
  service::HealthServer server(settings, {}, [] { return std::string("m\n"); });
  server.start();
  Client a(server.port());
  Client b(server.port());
  // Make sure both are accepted and served before the third arrives.
  CHECK(a.request(http::verb::get, "/healthz").result() == http::status::ok);
  CHECK(b.request(http::verb::get, "/healthz").result() == http::status::ok);
  Client third(server.port());
  CHECK(third.request(http::verb::get, "/metrics").body() == "m\n");
  // Still at most two: the one idle longest (a) was closed for it.
  CHECK(a.closed_by_server());
  CHECK(b.request(http::verb::get, "/healthz").result() == http::status::ok);
}

// Issue #15 item 12: 16 clients that connect and send nothing held every slot
// for the read timeout, and /healthz was refused meanwhile.
TEST_CASE("slow clients holding every connection cannot lock the probes out") {
  auto settings = ephemeral();
  settings.io_timeout = 30s;  // far longer than the probe may wait
  service::HealthServer server(settings, {}, {});
  server.start();
  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < 16; ++i) {
    slow.push_back(std::make_unique<Client>(server.port()));
    slow.back()->send_raw("GET /healthz HTTP/1.1\r\nHo");  // a header that never ends
  }
  std::this_thread::sleep_for(100ms);  // all 16 accepted and reading
  for (int probe = 0; probe < 3; ++probe) {
    Client c(server.port());
    CHECK(c.request(http::verb::get, "/healthz").result() == http::status::ok);
  }
}

TEST_CASE("health server stops cleanly with connections open, and reports a port in use") {
  auto settings = ephemeral();
  settings.io_timeout = 30s;
  service::HealthServer server(settings, {}, {});
  server.start();
  Client idle(server.port());
  CHECK(idle.request(http::verb::get, "/healthz").result() == http::status::ok);
  SECTION("a second server on the same port fails to start, naming the address") {
    auto same = ephemeral();
    same.port = server.port();
    service::HealthServer second(same, {}, {});
    try {
      second.start();
      FAIL("start() should have thrown");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
    }
  }
  SECTION("a bad address") {
    auto bad = ephemeral();
    bad.address = "not-an-address";
    service::HealthServer second(bad, {}, {});
    CHECK_THROWS_AS(second.start(), std::system_error);
  }
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // did not wait for the 30 s timeout
  CHECK(idle.closed_by_server());
  CHECK_THROWS_AS(Client(server.port()), boost::system::system_error);
  server.stop();  // idempotent
}
