#include "bridge/net/http_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <strings.h>

#include "bridge/core/secret_file.hpp"
#include "bridge/core/progress.hpp"
#include "bridge/net/url.hpp"

namespace reportbridge::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::size_t kFileChunk = 48 * 1024;  // multiple of 3: chunks encode without padding

std::uint64_t base64_size(std::uint64_t n) { return (n + 2) / 3 * 4; }

bool header_safe(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

Clock::time_point earliest(Clock::time_point a, std::chrono::milliseconds d) {
  const auto b = Clock::now() + d;
  return a < b ? a : b;
}

struct Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// False when the peer closed an idle connection (or sent something unexpected).
bool still_usable(Conn& c) {
  if (c.buffer.size() != 0) return false;
  auto& sock = c.lowest().socket();
  if (!sock.is_open()) return false;
  char byte;
  const ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

ErrorKind classify_read(const error_code& ec) {
  if (ec == beast::error::timeout) return ErrorKind::timeout;
  if (ec == http::error::body_limit) return ErrorKind::too_large;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
      ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated)
    return ErrorKind::reset;
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) return ErrorKind::protocol;
  return ErrorKind::reset;
}

}  // namespace

std::uint64_t BodyPart::encoded_size() const {
  return base64_file.empty() ? text.size() : base64_size(file_size);
}

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::none: return "none";
    case ErrorKind::connect: return "connect";
    case ErrorKind::tls_verify: return "tls_verify";
    case ErrorKind::send: return "send";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::reset: return "reset";
    case ErrorKind::too_large: return "too_large";
    case ErrorKind::protocol: return "protocol";
    case ErrorKind::body_source: return "body_source";
  }
  return "unknown";
}

std::string Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return {};
}

struct HttpClient::Impl {
  HttpClientConfig cfg;
  Url url;
  asio::io_context ioc;
  std::optional<ssl::context> ssl_ctx;
  std::vector<std::unique_ptr<Conn>> idle;  // destroyed before ioc
  std::uint64_t opened = 0;
  double tokens = 0;
  double bucket = 1;
  Clock::time_point refilled = Clock::now();
  std::shared_ptr<core::FleetLimits> fleet;  // limits held with other instances
  int fleet_tokens = 0;                      // granted by the fleet, not used yet
  Clock::time_point fleet_granted;

  explicit Impl(HttpClientConfig c) : cfg(std::move(c)) {
    auto parsed = parse_url(cfg.base_url);
    if (!parsed) throw std::invalid_argument("not an http(s) URL: " + cfg.base_url);
    url = *parsed;
    if (cfg.max_connections == 0) throw std::invalid_argument("max_connections must be at least 1");
    if (cfg.client_cert_without_key()) throw std::invalid_argument("client certificate needs a key");
    bucket = cfg.burst > 0 ? cfg.burst : std::max(1.0, cfg.rate_per_second);
    tokens = bucket;
    if (url.tls) setup_tls();
  }

  void setup_tls() {
    try {
      ssl_ctx.emplace(ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ssl_ctx->native_handle(), TLS1_2_VERSION);
      ssl_ctx->set_verify_mode(ssl::verify_peer);
      if (!cfg.tls.ca_file.empty())
        ssl_ctx->load_verify_file(cfg.tls.ca_file.string());
      else
        ssl_ctx->set_default_verify_paths();
      if (!cfg.tls.client_cert.empty()) {
        ssl_ctx->use_certificate_chain_file(cfg.tls.client_cert.string());
        // The key is a secret file like any other (core::read_secret_file).
        core::SecretFile key = core::read_secret_file(cfg.tls.client_key, "TLS client key");
        ssl_ctx->use_private_key(asio::buffer(key.content), ssl::context::pem);
        OPENSSL_cleanse(key.content.data(), key.content.size());
        if (SSL_CTX_check_private_key(ssl_ctx->native_handle()) != 1)
          throw std::runtime_error("client key does not match the client certificate");
      }
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error(std::string("TLS setup failed: ") + e.what());
    } catch (const core::SecretFileError& e) {
      throw std::runtime_error(std::string("TLS setup failed: ") + e.what());
    }
  }

  std::unique_ptr<Conn> take_idle() {
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (Clock::now() - c->idle_since < cfg.idle_timeout && still_usable(*c)) return c;
    }
    return nullptr;
  }

  void put_idle(std::unique_ptr<Conn> c) {
    if (idle.size() >= cfg.max_connections) return;
    c->idle_since = Clock::now();
    idle.insert(idle.begin(), std::move(c));  // the most recently used is taken first
  }

  asio::awaitable<void> pause(std::int64_t ms) {
    asio::steady_timer timer(ioc);
    timer.expires_after(std::chrono::milliseconds(std::clamp<std::int64_t>(ms, 1, 1000)));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // A token of the fleet's bucket: a grant of a few serves the next starts of
  // this client; what is not used within 100 ms is dropped (a token banked
  // longer would let the fleet exceed rate * t + burst).
  asio::awaitable<void> fleet_token() {
    if (!fleet || cfg.rate_per_second <= 0) co_return;
    for (;;) {
      if (fleet_tokens > 0 && Clock::now() - fleet_granted < std::chrono::milliseconds(100)) {
        --fleet_tokens;
        co_return;
      }
      const int want = std::clamp(static_cast<int>(cfg.max_connections), 1, 4);
      const auto g = fleet->take(want);
      if (g.granted > 0) {
        fleet_tokens = g.granted - 1;
        fleet_granted = Clock::now();
        co_return;
      }
      co_await pause(g.wait_ms);
    }
  }

  // A connection slot of the fleet held by one worker while it has requests
  // to send (renewed every third of its lease), freed when it ends.
  struct FleetSlot {
    std::shared_ptr<core::FleetLimits> fleet;
    std::optional<std::int64_t> handle;
    Clock::time_point renewed;
    ~FleetSlot() {
      if (fleet && handle) fleet->release(*handle);
    }
  };
  asio::awaitable<void> hold_slot(FleetSlot& s) {
    if (!fleet) co_return;
    s.fleet = fleet;
    if (s.handle && Clock::now() - s.renewed < std::chrono::milliseconds(fleet->renew_every_ms())) co_return;
    if (s.handle && fleet->renew(*s.handle)) {
      s.renewed = Clock::now();
      co_return;
    }
    s.handle.reset();
    std::int64_t wait = 50;
    while (!(s.handle = fleet->acquire())) {
      co_await pause(wait);
      wait = std::min<std::int64_t>(wait * 2, 1000);
    }
    s.renewed = Clock::now();
  }

  asio::awaitable<void> acquire_token() {
    co_await fleet_token();
    if (cfg.rate_per_second <= 0) co_return;
    const auto now = Clock::now();
    tokens = std::min(bucket, tokens + std::chrono::duration<double>(now - refilled).count() * cfg.rate_per_second);
    refilled = now;
    tokens -= 1;
    if (tokens >= 0) co_return;
    asio::steady_timer timer(ioc);
    timer.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(-tokens / cfg.rate_per_second)));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<std::unique_ptr<Conn>> connect(Clock::time_point deadline, Response& r) {
    const auto until = earliest(deadline, cfg.connect_timeout);
    error_code ec;
    tcp::resolver resolver(ioc);
    asio::steady_timer guard(ioc);
    guard.expires_at(until);
    guard.async_wait([&resolver](const error_code& e) {
      if (!e) resolver.cancel();
    });
    auto results = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
    guard.cancel();
    if (ec) {
      r.error = ErrorKind::connect;
      r.error_detail = "resolve " + url.host + ": " + (ec == asio::error::operation_aborted ? "timed out" : ec.message());
      co_return nullptr;
    }
    auto c = std::make_unique<Conn>();
    auto stream = std::make_unique<beast::tcp_stream>(ioc);
    stream->expires_at(until);
    co_await stream->async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      r.error = ErrorKind::connect;
      r.error_detail = "connect " + url.host + ":" + url.port + ": " + ec.message();
      co_return nullptr;
    }
    ++opened;
    core::progress();  // the watchdog's heartbeat (bridge/core/progress.hpp)
    stream->socket().set_option(tcp::no_delay(true), ec);
    if (!url.tls) {
      c->plain = std::move(stream);
      co_return c;
    }
    c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*stream), *ssl_ctx);
    SSL* ssl = c->tls->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(url.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, url.host.c_str());
      SSL_set1_host(ssl, url.host.c_str());
    }
    beast::get_lowest_layer(*c->tls).expires_at(until);
    co_await c->tls->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        r.error = ErrorKind::tls_verify;
        r.error_detail = std::string("server certificate rejected: ") + X509_verify_cert_error_string(verify);
      } else {
        r.error = ErrorKind::connect;
        r.error_detail = "TLS handshake: " + ec.message();
      }
      co_return nullptr;
    }
    co_return c;
  }

  std::string head_of(const Request& req, std::uint64_t length) const {
    std::string h;
    h.reserve(256);
    h += req.method;
    h += ' ';
    h += req.target;
    h += " HTTP/1.1\r\nHost: ";
    h += url.host_header();
    h += "\r\nUser-Agent: ";
    h += cfg.user_agent;
    h += "\r\nContent-Length: ";
    h += std::to_string(length);
    h += "\r\n";
    for (const auto& [k, v] : req.headers) {
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    h += "\r\n";
    return h;
  }

  template <class Stream>
  asio::awaitable<bool> write_all(Stream& s, const std::string& data, Clock::time_point deadline, Response& r) {
    error_code ec;
    beast::get_lowest_layer(s).expires_at(earliest(deadline, cfg.read_timeout));
    co_await asio::async_write(s, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      r.error = ErrorKind::send;
      r.error_detail = "writing the request: " + ec.message();
      co_return false;
    }
    core::progress();
    co_return true;
  }

  template <class Stream>
  asio::awaitable<bool> exchange(Stream& s, Conn& c, const Request& req, Clock::time_point deadline, Response& r) {
    if (req.may_send && !req.may_send()) {
      r.error = ErrorKind::send;
      r.error_detail = "not sent: the caller withdrew it (e.g. this instance no longer holds the batch's lease)";
      co_return false;  // not sent (perform keeps a connection only after a clean exchange)
    }
    std::uint64_t length = 0;
    for (const auto& p : req.body) length += p.encoded_size();
    std::string pending = head_of(req, length);
    for (const auto& part : req.body) {
      if (part.base64_file.empty()) {
        pending += part.text;
        continue;
      }
      if (!co_await write_all(s, pending, deadline, r)) co_return false;
      pending.clear();
      std::ifstream in(part.base64_file, std::ios::binary);
      std::string raw(kFileChunk, '\0');
      std::string encoded(base64_size(kFileChunk) + 1, '\0');
      std::uint64_t left = part.file_size;
      while (left > 0) {
        const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(left, kFileChunk));
        in.read(raw.data(), want);
        if (in.gcount() != want) {
          // Reset rather than close, so the server sees an aborted request, not a short one.
          error_code ignored;
          beast::get_lowest_layer(s).socket().set_option(asio::socket_base::linger(true, 0), ignored);
          beast::get_lowest_layer(s).socket().close(ignored);
          r.error = ErrorKind::body_source;
          r.error_detail = "attachment file shorter than declared or unreadable";
          co_return false;
        }
        const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                      reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(want));
        if (!co_await write_all(s, std::string(encoded.data(), static_cast<std::size_t>(n)), deadline, r))
          co_return false;
        left -= static_cast<std::uint64_t>(want);
      }
    }
    if (!pending.empty() && !co_await write_all(s, pending, deadline, r)) co_return false;

    // From here on the server may act on the request.
    r.sent = true;
    http::response_parser<http::string_body> parser;
    parser.body_limit(cfg.max_response_bytes);
    parser.header_limit(64 * 1024);
    if (req.method == "HEAD") parser.skip(true);
    error_code ec;
    while (!parser.is_done()) {
      if (Clock::now() >= deadline) {
        ec = beast::error::timeout;
        break;
      }
      beast::get_lowest_layer(s).expires_at(earliest(deadline, cfg.read_timeout));
      co_await http::async_read_some(s, c.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      core::progress();  // bytes arrived: a slow answer is not a stuck one
    }
    if (ec) {
      r.error = classify_read(ec);
      r.error_detail = "reading the response: " + ec.message();
      if (parser.is_header_done()) r.status = static_cast<int>(parser.get().result_int());
      co_return false;
    }
    auto& msg = parser.get();
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    co_return msg.keep_alive();
  }

  asio::awaitable<void> perform(const Request& req, Response& r) {
    const auto start = Clock::now();
    const auto deadline = start + cfg.total_timeout;
    bool valid = header_safe(req.method) && header_safe(req.target);
    for (const auto& [k, v] : req.headers) valid = valid && header_safe(k) && header_safe(v);
    if (!valid) {
      r.error = ErrorKind::send;
      r.error_detail = "request line or header contains CR, LF or NUL";
      co_return;
    }
    auto c = take_idle();
    if (!c) c = co_await connect(deadline, r);
    if (c) {
      const bool keep = c->tls ? co_await exchange(*c->tls, *c, req, deadline, r)
                               : co_await exchange(*c->plain, *c, req, deadline, r);
      if (keep && r.error == ErrorKind::none) put_idle(std::move(c));
    }
    r.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  }

  asio::awaitable<void> worker(const std::vector<Request>& reqs, std::vector<Response>& out, std::size_t& next) {
    FleetSlot slot;
    while (next < reqs.size()) {
      co_await hold_slot(slot);
      if (next >= reqs.size()) break;
      const std::size_t i = next++;
      co_await acquire_token();
      co_await perform(reqs[i], out[i]);
    }
  }

  // run(): jobs of every caller share this client's slots. The first caller
  // runs the loop; a caller arriving while it runs hands its jobs to the loop
  // (asio::post is thread-safe) and waits for them; the loop runs until no
  // caller has work left.
  struct Group {
    std::vector<Request> first;
    const HttpClient::Then* then;
    std::size_t left;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  std::mutex run_m;
  bool running = false;
  std::size_t posted = 0;                                  // groups posted, not yet taken by the loop (run_m)
  std::deque<std::pair<Group*, std::size_t>> queue;        // jobs waiting for a slot (loop thread only)
  std::size_t active = 0;                                  // job workers alive (loop thread only)

  static void finish(Group& g) {
    std::lock_guard lock(g.m);
    g.done = true;
    g.cv.notify_all();
  }

  asio::awaitable<void> job_worker() {
    FleetSlot slot;
    while (!queue.empty()) {
      co_await hold_slot(slot);
      if (queue.empty()) break;
      auto [g, i] = queue.front();
      queue.pop_front();
      Request req = std::move(g->first[i]);
      for (;;) {
        co_await acquire_token();
        Response r;
        co_await perform(req, r);
        auto follow = (*g->then)(i, std::move(r));
        if (!follow) break;
        req = std::move(*follow);
      }
      if (--g->left == 0) finish(*g);
    }
    --active;
  }

  // On the loop thread: a group's jobs join the queue; idle slots start on them.
  void take(Group* g) {
    {
      std::lock_guard lock(run_m);
      --posted;
    }
    for (std::size_t i = 0; i < g->first.size(); ++i) queue.emplace_back(g, i);
    while (active < cfg.max_connections && active < queue.size()) {
      ++active;
      asio::co_spawn(ioc, job_worker(), asio::detached);
    }
  }

  void run(std::vector<Request> first, const HttpClient::Then& then) {
    Group g;
    g.first = std::move(first);
    g.then = &then;
    g.left = g.first.size();
    if (g.left == 0) return;
    std::unique_lock lock(run_m);
    ++posted;
    if (running) {  // another caller's loop takes these jobs too
      asio::post(ioc, [this, gp = &g] { take(gp); });
      lock.unlock();
      std::unique_lock wait(g.m);
      g.cv.wait(wait, [&] { return g.done; });
      return;
    }
    running = true;
    ioc.restart();
    asio::post(ioc, [this, gp = &g] { take(gp); });
    lock.unlock();
    for (;;) {
      ioc.run();
      lock.lock();
      if (posted == 0) {  // nobody handed work in after the loop ran dry
        running = false;
        break;
      }
      ioc.restart();
      lock.unlock();
    }
  }

  std::vector<Response> send_all(const std::vector<Request>& reqs) {
    std::vector<Response> out(reqs.size());
    std::size_t next = 0;
    const std::size_t workers = std::min(cfg.max_connections, reqs.size());
    ioc.restart();
    for (std::size_t w = 0; w < workers; ++w)
      asio::co_spawn(ioc, worker(reqs, out, next), asio::detached);
    ioc.run();
    return out;
  }
};

bool HttpClientConfig::client_cert_without_key() const {
  return !tls.client_cert.empty() && tls.client_key.empty();
}

HttpClient::HttpClient(HttpClientConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
HttpClient::~HttpClient() = default;

std::vector<Response> HttpClient::send_all(const std::vector<Request>& requests) { return impl_->send_all(requests); }

void HttpClient::run(std::vector<Request> first, const Then& then) { impl_->run(std::move(first), then); }

Response HttpClient::send(const Request& request) {
  return std::move(impl_->send_all(std::vector<Request>{request}).front());
}

void HttpClient::share_limits(std::shared_ptr<core::FleetLimits> limits) { impl_->fleet = std::move(limits); }

const HttpClientConfig& HttpClient::config() const { return impl_->cfg; }
std::uint64_t HttpClient::connections_opened() const { return impl_->opened; }

}  // namespace reportbridge::net
