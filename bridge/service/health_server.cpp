#include "bridge/service/health_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <list>
#include <optional>
#include <system_error>
#include <thread>

namespace reportbridge::service {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxBody = 0;  // probes and scrapes send no body
using Response = http::response<http::string_body>;
using Request = http::request<http::string_body>;

Response text_response(http::status status, unsigned version, std::string body,
                       const char* content_type = "text/plain; charset=utf-8") {
  Response res{status, version};
  res.set(http::field::server, "reportbridge");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

std::string readiness_json(const std::vector<ReadinessCheck>& checks, bool ready) {
  boost::json::array list;
  for (const auto& c : checks)
    list.push_back(boost::json::object{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  boost::json::object body{{"status", ready ? "ready" : "not_ready"}, {"checks", std::move(list)}};
  return boost::json::serialize(body) + "\n";
}

}  // namespace

class Session;

struct HealthServer::Impl {
  HealthServerSettings settings;
  ReadinessFn readiness;
  MetricsFn metrics;
  // Touched on the server thread only.
  std::size_t active = 0;
  std::list<std::weak_ptr<Session>> sessions;
  bool stopping = false;
  // Declared after the members sessions touch when they are destroyed, so
  // that handlers the io_context still owns at destruction find them alive.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::thread thread;
  std::uint16_t port = 0;
  bool started = false;

  void accept();
  Response handle(const Request& req);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HealthServer::Impl& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {
    ++server_.active;
  }
  ~Session() {
    --server_.active;
    server_.sessions.erase(self_);
  }

  void start(std::list<std::weak_ptr<Session>>::iterator self) {
    self_ = self;
    read();
  }

  // Waiting for a request (idle on keep-alive, or a client that has not sent
  // its header yet), not writing a response.
  bool waiting() const { return waiting_; }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void read() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.settings.max_header_bytes));
    parser_->body_limit(kMaxBody);
    stream_.expires_after(server_.settings.io_timeout);
    waiting_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    waiting_ = false;
    if (ec == http::error::header_limit)
      return reply(text_response(http::status::request_header_fields_too_large, 11,
                                 "request header too large\n"),
                   false);
    if (ec == http::error::body_limit)
      return reply(text_response(http::status::payload_too_large, 11, "no request body expected\n"),
                   false);
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted)
      return close();
    if (ec) {
      // Anything else is a malformed request or a reset connection.
      if (ec.category() == http::make_error_code(http::error::bad_method).category())
        return reply(text_response(http::status::bad_request, 11, "bad request\n"), false);
      return close();
    }
    const Request& req = parser_->get();
    reply(server_.handle(req), req.keep_alive());
  }

  void reply(Response res, bool keep_alive) {
    res.keep_alive(keep_alive && !server_.stopping);
    res_ = std::move(res);
    stream_.expires_after(server_.settings.io_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read();
    });
  }

  HealthServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response res_;
  std::list<std::weak_ptr<Session>>::iterator self_;
  bool waiting_ = false;
};

void HealthServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // e.g. out of file descriptors: wait a little rather than spin.
      spdlog::warn("health server: accept failed: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping) accept();
      });
      return;
    }
    if (active >= settings.max_connections) {
      // Full: the connection that has waited longest for a request (an idle
      // keep-alive, or a slow client that never sends its header) makes
      // room, so that slow clients cannot lock the probes out for the read
      // timeout. Only when every connection is busy writing is the new one
      // refused.
      std::shared_ptr<Session> oldest;
      for (auto it = sessions.rbegin(); it != sessions.rend() && !oldest; ++it)
        if (auto s = it->lock(); s && s->waiting()) oldest = std::move(s);
      if (!oldest) {
        beast::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        accept();
        return;
      }
      oldest->close();
    }
    auto session = std::make_shared<Session>(*this, std::move(socket));
    sessions.push_front(session);
    session->start(sessions.begin());
    accept();
  });
}

Response HealthServer::Impl::handle(const Request& req) {
  const unsigned v = req.version();
  Response res;
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res = text_response(http::status::method_not_allowed, v, "only GET and HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
  } else {
    std::string_view path(req.target().data(), req.target().size());
    path = path.substr(0, path.find('?'));
    if (path == "/healthz") {
      res = text_response(http::status::ok, v, "ok\n");
    } else if (path == "/readyz") {
      std::vector<ReadinessCheck> checks;
      try {
        checks = readiness ? readiness() : std::vector<ReadinessCheck>{};
      } catch (const std::exception& e) {
        checks = {{"readiness", false, std::string("the checks could not run: ") + e.what()}};
      }
      bool ready = true;
      for (const auto& c : checks) ready = ready && c.ok;
      res = text_response(ready ? http::status::ok : http::status::service_unavailable, v,
                          readiness_json(checks, ready), "application/json");
    } else if (path == "/metrics") {
      try {
        res = text_response(http::status::ok, v, metrics ? metrics() : std::string(),
                            "text/plain; version=0.0.4; charset=utf-8");
      } catch (const std::exception& e) {
        res = text_response(http::status::internal_server_error, v,
                            std::string("metrics unavailable: ") + e.what() + "\n");
      }
    } else {
      res = text_response(http::status::not_found, v, "not found; try /healthz, /readyz, /metrics\n");
    }
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) {
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  return res;
}

HealthServer::HealthServer(HealthServerSettings settings, ReadinessFn readiness, MetricsFn metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->settings = std::move(settings);
  impl_->readiness = std::move(readiness);
  impl_->metrics = std::move(metrics);
}

HealthServer::~HealthServer() { stop(); }

void HealthServer::start() {
  if (impl_->started) return;
  if (impl_->stopping) throw std::logic_error("health server: cannot start again after stop()");
  auto& s = impl_->settings;
  const std::string where = s.address + ":" + std::to_string(s.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(s.address, ec);
  if (ec) throw std::system_error(ec, "health server: bad listen address " + s.address);
  tcp::endpoint endpoint(address, s.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acc.close(ignored);
    throw std::system_error(ec, "health server: cannot listen on " + where);
  }
  impl_->port = acc.local_endpoint().port();
  if (!address.is_loopback())
    spdlog::warn("health server: listening on {}, not a loopback address: /readyz and /metrics (target "
                 "names, circuit errors, counts) are reachable from other machines; listen on 127.0.0.1 "
                 "or [::1] unless a firewall limits who can connect",
                 where);
  impl_->accept();
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] {
    try {
      impl->ioc.run();
    } catch (const std::exception& e) {
      spdlog::error("health server stopped: {}", e.what());
    }
  });
}

void HealthServer::stop() {
  if (!impl_ || !impl_->started) return;
  impl_->started = false;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    impl->stopping = true;
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_retry.cancel();
    std::vector<std::shared_ptr<Session>> open;
    for (auto& weak : impl->sessions)
      if (auto s = weak.lock()) open.push_back(std::move(s));
    for (auto& s : open) s->close();
  });
  // run() returns once every connection has finished.
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t HealthServer::port() const { return impl_->port; }

}  // namespace reportbridge::service
