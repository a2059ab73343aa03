// HttpClient against the misbehaving loopback server (tests/servers/faulty_server.py).
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "bridge/net/http_client.hpp"
#include "tests/servers/server_process.hpp"
#include "tests/servers/test_pki.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::net;
using reportbridge::testing::ServerProcess;

namespace {

ServerProcess& plain_server() {
  static ServerProcess server({testing::python(), testing::server_script("faulty_server.py"), "0"});
  return server;
}

HttpClientConfig config_for(const std::string& url) {
  HttpClientConfig c;
  c.base_url = url;
  c.connect_timeout = std::chrono::milliseconds(2000);
  c.read_timeout = std::chrono::milliseconds(2000);
  c.total_timeout = std::chrono::milliseconds(5000);
  return c;
}

Request post(const std::string& target, std::string body = "<x/>") {
  Request r;
  r.target = target;
  r.headers = {{"Content-Type", "text/xml; charset=utf-8"}};
  r.body.push_back(BodyPart::literal(std::move(body)));
  return r;
}

boost::json::value get_json(const std::string& base, const std::string& path) {
  HttpClient client(config_for(base));
  Request r;
  r.method = "GET";
  r.target = path;
  auto res = client.send(r);
  REQUIRE(res.status == 200);
  return boost::json::parse(res.body);
}

int count_of(const std::string& mode) {
  auto v = get_json(plain_server().url(), "/count");
  const auto* n = v.as_object().if_contains(mode);
  return n ? static_cast<int>(n->as_int64()) : 0;
}

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("requests succeed and connections are kept alive and reused") {
  auto cfg = config_for(plain_server().url());
  cfg.max_connections = 3;
  HttpClient client(cfg);
  std::vector<Request> reqs(12, post("/ok"));
  auto res = client.send_all(reqs);
  REQUIRE(res.size() == 12);
  for (const auto& r : res) {
    CHECK(r.error == ErrorKind::none);
    CHECK(r.status == 200);
    CHECK(r.body.find("LegacyReference") != std::string::npos);
    CHECK(r.latency_ms > 0);
  }
  CHECK(client.connections_opened() <= 3);
  const auto opened = client.connections_opened();
  res = client.send_all(reqs);
  CHECK(res.back().status == 200);
  CHECK(client.connections_opened() == opened);  // idle connections reused across calls
}

TEST_CASE("connect failures are classified as not sent") {
  HttpClient client(config_for("http://127.0.0.1:" + std::to_string(closed_port())));
  auto r = client.send(post("/ok"));
  CHECK(r.error == ErrorKind::connect);
  CHECK_FALSE(r.sent);
  CHECK(r.status == 0);
}

TEST_CASE("a server that hangs after the request times out, in doubt") {
  auto cfg = config_for(plain_server().url());
  cfg.read_timeout = std::chrono::milliseconds(300);
  HttpClient client(cfg);
  const int before = count_of("hang");
  auto r = client.send(post("/hang?ms=3000"));
  CHECK(r.error == ErrorKind::timeout);
  CHECK(r.sent);
  CHECK(r.latency_ms >= 290);
  CHECK(r.latency_ms < 2500);
  CHECK(count_of("hang") == before + 1);  // the server did receive it
}

TEST_CASE("reset and drop after the request are in doubt") {
  HttpClient client(config_for(plain_server().url()));
  auto r = client.send(post("/reset"));
  CHECK(r.error == ErrorKind::reset);
  CHECK(r.sent);
  r = client.send(post("/drop"));
  CHECK(r.error == ErrorKind::reset);
  CHECK(r.sent);
  // The client recovers: the next request opens a fresh connection.
  r = client.send(post("/ok"));
  CHECK(r.status == 200);
}

TEST_CASE("slow bodies: read_timeout per wait, total_timeout overall") {
  auto cfg = config_for(plain_server().url());
  cfg.read_timeout = std::chrono::milliseconds(1000);
  HttpClient patient(cfg);
  auto r = patient.send(post("/slow?ms=500"));
  CHECK(r.error == ErrorKind::none);
  CHECK(r.status == 200);
  CHECK(r.body.find("SLOW-") != std::string::npos);

  cfg.total_timeout = std::chrono::milliseconds(250);
  HttpClient hurried(cfg);
  r = hurried.send(post("/slow?ms=1500"));
  CHECK(r.error == ErrorKind::timeout);
  CHECK(r.sent);
  CHECK(r.latency_ms < 1200);
}

TEST_CASE("response bodies over the limit are refused") {
  auto cfg = config_for(plain_server().url());
  cfg.max_response_bytes = 64 * 1024;
  HttpClient client(cfg);
  auto r = client.send(post("/oversize?bytes=200000"));
  CHECK(r.error == ErrorKind::too_large);
  CHECK(r.body.empty());
  r = client.send(post("/oversize?bytes=1000"));
  CHECK(r.status == 200);
}

TEST_CASE("status, headers and Retry-After are passed through") {
  HttpClient client(config_for(plain_server().url()));
  auto r = client.send(post("/429?after=9"));
  CHECK(r.error == ErrorKind::none);
  CHECK(r.status == 429);
  CHECK(r.header("retry-after") == "9");
  r = client.send(post("/500"));
  CHECK(r.status == 500);
}

TEST_CASE("at most max_connections requests run at once") {
  auto cfg = config_for(plain_server().url());
  cfg.max_connections = 2;
  HttpClient client(cfg);
  std::vector<Request> reqs(6, post("/slow?ms=200"));
  const auto start = std::chrono::steady_clock::now();
  auto res = client.send_all(reqs);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  for (const auto& r : res) CHECK(r.status == 200);
  CHECK(ms >= 580);  // 3 rounds of ~200 ms
  CHECK(client.connections_opened() <= 2);
}

TEST_CASE("run: callers on several threads share the slots, a job's follow-up goes on its slot") {
  auto cfg = config_for(plain_server().url());
  cfg.max_connections = 2;
  HttpClient client(cfg);
  // A: one slow job holds a slot.
  std::atomic<bool> a_done{false};
  int a_status = 0;
  std::thread a([&] {
    client.run({post("/slow?ms=2500")}, [&](std::size_t, Response r) -> std::optional<Request> {
      a_status = r.status;
      return std::nullopt;
    });
    a_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // B, meanwhile: four jobs, the first with a follow-up, through the one free slot.
  std::vector<int> statuses;  // (then runs on the loop thread, A's)
  bool followed = false;
  std::vector<Request> jobs(4, post("/ok"));
  client.run(jobs, [&](std::size_t job, Response r) -> std::optional<Request> {
    statuses.push_back(r.status);
    if (job == 0 && !followed) {
      followed = true;
      return post("/ok");  // the follow-up of job 0
    }
    return std::nullopt;
  });
  CHECK_FALSE(a_done.load());  // B did not wait for A's slow call
  CHECK(statuses.size() == 5);
  CHECK(std::count(statuses.begin(), statuses.end(), 200) == 5);
  a.join();
  CHECK(a_status == 200);
  CHECK(client.connections_opened() <= 2);  // one pool of max_connections for both callers
}

TEST_CASE("the rate limit spaces request starts") {
  auto cfg = config_for(plain_server().url());
  cfg.max_connections = 4;
  cfg.rate_per_second = 20;
  cfg.burst = 1;
  HttpClient client(cfg);
  std::vector<Request> reqs(8, post("/ok"));
  const auto start = std::chrono::steady_clock::now();
  auto res = client.send_all(reqs);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  for (const auto& r : res) CHECK(r.status == 200);
  CHECK(ms >= 330);  // 7 waits of 50 ms
}

TEST_CASE("file parts are streamed base64-encoded, a short file aborts before the end") {
  testing::TempDir dir;
  std::string bytes;
  for (int i = 0; i < 200000; ++i) bytes += static_cast<char>(i * 7 % 251);
  testing::write_file(dir / "a.bin", bytes);
  std::string expect(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  expect.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expect.data()),
                                                         reinterpret_cast<const unsigned char*>(bytes.data()),
                                                         static_cast<int>(bytes.size()))));
  HttpClient client(config_for(plain_server().url()));
  Request r = post("/capture", "<a>");
  r.body.push_back(BodyPart::file_base64(dir / "a.bin", bytes.size()));
  r.body.push_back(BodyPart::literal("</a>"));
  auto res = client.send(r);
  REQUIRE(res.status == 200);
  auto last = get_json(plain_server().url(), "/last");
  CHECK(last.at("body").as_string() == "<a>" + expect + "</a>");

  const int before = count_of("capture");
  Request shortfile = post("/capture", "<a>");
  shortfile.body.push_back(BodyPart::file_base64(dir / "a.bin", bytes.size() + 10));
  res = client.send(shortfile);
  CHECK(res.error == ErrorKind::body_source);
  CHECK_FALSE(res.sent);
  CHECK(count_of("capture") == before);  // the server never got a whole request
}

TEST_CASE("headers with CR or LF are refused") {
  HttpClient client(config_for(plain_server().url()));
  Request r = post("/ok");
  r.headers.emplace_back("SOAPAction", "x\r\nInjected: 1");
  auto res = client.send(r);
  CHECK(res.error == ErrorKind::send);
  CHECK_FALSE(res.sent);
}

TEST_CASE("bad configurations are refused") {
  CHECK_THROWS_AS(HttpClient(config_for("ftp://x/")), std::invalid_argument);
  auto cfg = config_for("http://127.0.0.1:1");
  cfg.max_connections = 0;
  CHECK_THROWS_AS(HttpClient(cfg), std::invalid_argument);
  cfg = config_for("https://localhost:1");
  cfg.tls.ca_file = "/nonexistent/ca.pem";
  CHECK_THROWS_AS(HttpClient(cfg), std::runtime_error);
}

namespace {
struct Pki {
  testing::TempDir dir;
  std::string d;
  ServerProcess server;
  Pki()
      : d((testing::make_test_pki(dir.path()), dir.path().string())),
        server({testing::python(), testing::server_script("faulty_server.py"), "0", "--cert", d + "/server.pem",
                "--key", d + "/server.key"}) {}
};
Pki& pki() {  // made once per process: Catch runs the test case once per section
  static Pki p;
  return p;
}
}  // namespace

TEST_CASE("TLS: trusted CA, host name verification, mutual TLS") {
  auto& dir = pki().dir;
  const std::string& d = pki().d;
  auto& tls = pki().server;

  auto cfg = config_for(tls.url("/", "localhost", "https"));
  cfg.tls.ca_file = dir / "ca.pem";
  {
    HttpClient client(cfg);
    auto r = client.send(post("/ok"));
    CHECK(r.error == ErrorKind::none);
    CHECK(r.status == 200);
  }
  SECTION("host name mismatch is refused before sending") {
    auto c = cfg;
    c.base_url = tls.url("/", "127.0.0.1", "https");  // the certificate names only localhost
    HttpClient client(c);
    auto r = client.send(post("/ok"));
    CHECK(r.error == ErrorKind::tls_verify);
    CHECK_FALSE(r.sent);
  }
  SECTION("an untrusted CA is refused") {
    auto c = cfg;
    c.tls.ca_file = dir / "other_ca.pem";
    HttpClient client(c);
    auto r = client.send(post("/ok"));
    CHECK(r.error == ErrorKind::tls_verify);
    CHECK_FALSE(r.sent);
  }
  SECTION("the system trust store does not know the test CA") {
    auto c = cfg;
    c.tls.ca_file.clear();
    HttpClient client(c);
    CHECK(client.send(post("/ok")).error == ErrorKind::tls_verify);
  }
  SECTION("mutual TLS") {
    ServerProcess mtls({testing::python(), testing::server_script("faulty_server.py"), "0", "--cert",
                        d + "/server.pem", "--key", d + "/server.key", "--client-ca", d + "/ca.pem"});
    auto c = cfg;
    c.base_url = mtls.url("/", "localhost", "https");
    {
      HttpClient anonymous(c);
      auto r = anonymous.send(post("/capture"));
      CHECK(r.status != 200);
      CHECK(r.error != ErrorKind::none);
    }
    c.tls.client_cert = dir / "client.pem";
    c.tls.client_key = dir / "client.key";
    HttpClient client(c);
    auto r = client.send(post("/capture"));
    CHECK(r.status == 200);
    Request get;
    get.method = "GET";
    get.target = "/last";
    auto last = boost::json::parse(client.send(get).body);
    CHECK(last.at("client_subject").at("commonName").as_string() == "reportbridge-test-client");
  }
  SECTION("a client certificate without its key is refused") {
    auto c = cfg;
    c.tls.client_cert = dir / "client.pem";
    CHECK_THROWS_AS(HttpClient(c), std::invalid_argument);
    c.tls.client_key = dir / "server.key";  // not the certificate's key
    CHECK_THROWS_AS(HttpClient(c), std::runtime_error);
  }
}
