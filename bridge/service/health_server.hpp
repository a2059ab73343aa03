#pragma once
// A small HTTP/1.1 server (Boost.Beast) for probes and scrapes, on its own
// thread so the pipeline never waits for it:
//   GET /healthz  200 "ok" while the process serves requests at all
//   GET /readyz   200 when every readiness check passes, else 503; JSON body
//                 {"status":"ready"|"not_ready","checks":[{"name","ok","detail"}]}
//   GET /metrics  the Prometheus text exposition
// Bounded: at most max_connections at once (when full, a new connection
// closes the one that has waited longest for a request, so slow or idle
// clients cannot lock probes out; it is refused only when every connection
// is busy writing), a header size limit (431), no request bodies (413), and a
// timeout on every read and write. Listening on an address that is not
// loopback is logged as a warning (load_service_config also warns at check).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace reportbridge::service {

struct ReadinessCheck {
  std::string name;
  bool ok = true;
  std::string detail;  // why it failed, or what was checked
};

struct HealthServerSettings {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9464;  // 0: an ephemeral port (see HealthServer::port)
  std::size_t max_connections = 16;
  std::size_t max_header_bytes = 8192;
  std::chrono::milliseconds io_timeout{5000};
};

class HealthServer {
 public:
  // Both callbacks run on the server's thread, one request at a time; they must
  // be thread-safe against the pipeline and bounded in time. If one throws,
  // /readyz answers 503 (check "readiness") and /metrics 500.
  using ReadinessFn = std::function<std::vector<ReadinessCheck>()>;
  using MetricsFn = std::function<std::string()>;

  HealthServer(HealthServerSettings settings, ReadinessFn readiness, MetricsFn metrics);
  ~HealthServer();  // stops
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Binds and starts serving. Throws std::system_error naming the address when
  // it cannot listen (bad address, port in use).
  void start();
  // Closes the listener and every connection, then joins the thread. Idempotent.
  void stop();
  // The bound port (useful with port 0); 0 before start().
  std::uint16_t port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::service
