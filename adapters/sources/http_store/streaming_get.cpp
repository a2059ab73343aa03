#include "adapters/sources/http_store/streaming_get.hpp"

#include "bridge/core/secret_file.hpp"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace reportbridge::http_store {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using attachments::AttachmentError;
using attachments::ErrorCode;

namespace {
[[noreturn]] void fail(const char* step, const error_code& ec) {
  throw AttachmentError(ErrorCode::unavailable,
                        std::string("attachment download failed (") + step + "): " + ec.message());
}
}  // namespace

struct StreamingGet::Impl {
  asio::io_context ioc;
  std::optional<ssl::context> tls_ctx;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer{16 * 1024};
  http::response_parser<http::buffer_body> parser;
  std::chrono::milliseconds read_timeout{};

  beast::tcp_stream& tcp_layer() { return secure ? secure->next_layer() : *plain; }

  // Runs one asynchronous operation to completion (the tcp_stream's expiry
  // cancels it with beast::error::timeout).
  template <class Start>
  error_code run(Start start) {
    error_code result = asio::error::would_block;
    start([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  template <class F>
  error_code with_stream(F f) {
    if (secure) return f(*secure);
    return f(*plain);
  }
};

StreamingGet::StreamingGet(const StreamingGetOptions& o) : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.read_timeout = o.read_timeout;
  im.parser.body_limit(boost::none);  // the caller enforces its own limit while streaming
  im.parser.header_limit(16 * 1024);

  // Resolve, bounded by connect_timeout.
  tcp::resolver resolver(im.ioc);
  tcp::resolver::results_type endpoints;
  error_code rec = asio::error::would_block;
  resolver.async_resolve(o.url.host, o.url.port,
                         [&](error_code ec, tcp::resolver::results_type r) {
                           rec = ec;
                           endpoints = std::move(r);
                         });
  im.ioc.run_for(o.connect_timeout);
  if (rec == asio::error::would_block) {
    resolver.cancel();
    im.ioc.restart();
    im.ioc.run();
    fail("resolve", beast::error::timeout);
  }
  if (rec) fail("resolve", rec);

  if (o.url.tls) {
    im.tls_ctx.emplace(ssl::context::tls_client);
    auto* native = im.tls_ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    im.tls_ctx->set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (o.tls.ca_file.empty())
      im.tls_ctx->set_default_verify_paths(ec);
    else
      im.tls_ctx->load_verify_file(o.tls.ca_file.string(), ec);
    if (ec) fail("CA bundle", ec);
    if (!o.tls.client_cert.empty()) {
      im.tls_ctx->use_certificate_chain_file(o.tls.client_cert.string(), ec);
      if (ec) fail("client certificate", ec);
      // The key is a secret file like any other (core::read_secret_file).
      core::SecretFile key;
      try {
        key = core::read_secret_file(o.tls.client_key, "TLS client key");
      } catch (const core::SecretFileError& e) {
        throw AttachmentError(ErrorCode::unavailable, std::string("attachment download failed: ") + e.what());
      }
      im.tls_ctx->use_private_key(asio::buffer(key.content), ssl::context::pem, ec);
      OPENSSL_cleanse(key.content.data(), key.content.size());
      if (ec) fail("client key", ec);
    }
    im.secure = std::make_unique<ssl::stream<beast::tcp_stream>>(im.ioc, *im.tls_ctx);
    SSL* s = im.secure->native_handle();
    if (net::is_ip_literal(o.url.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), o.url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(s, o.url.host.c_str());
      SSL_set1_host(s, o.url.host.c_str());
    }
  } else {
    im.plain = std::make_unique<beast::tcp_stream>(im.ioc);
  }

  im.tcp_layer().expires_after(o.connect_timeout);
  if (auto ec = im.run([&](auto h) { im.tcp_layer().async_connect(endpoints, h); })) fail("connect", ec);
  if (im.secure) {
    im.tcp_layer().expires_after(o.connect_timeout);
    if (auto ec = im.run([&](auto h) { im.secure->async_handshake(ssl::stream_base::client, h); }))
      fail("TLS handshake", ec);
  }

  http::request<http::empty_body> req{http::verb::get, o.url.target, 11};
  req.set(http::field::host, o.url.host_header());
  req.set(http::field::user_agent, o.user_agent);
  for (const auto& [name, value] : o.headers) req.set(name, value);
  im.tcp_layer().expires_after(o.read_timeout);
  if (auto ec = im.with_stream([&](auto& s) { return im.run([&](auto h) { http::async_write(s, req, h); }); }))
    fail("send", ec);
  im.tcp_layer().expires_after(o.read_timeout);
  if (auto ec = im.with_stream([&](auto& s) {
        return im.run([&](auto h) { http::async_read_header(s, im.buffer, im.parser, h); });
      }))
    fail("response header", ec);
}

StreamingGet::~StreamingGet() {
  error_code ignored;
  impl_->tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->tcp_layer().socket().close(ignored);
}

int StreamingGet::status() const { return impl_->parser.get().result_int(); }

std::string StreamingGet::header(std::string_view name) const {
  const auto& fields = impl_->parser.get();
  auto it = fields.find(beast::string_view(name.data(), name.size()));
  return it == fields.end() ? std::string() : std::string(it->value());
}

std::optional<std::uint64_t> StreamingGet::content_length() const {
  auto len = impl_->parser.content_length();
  if (!len) return std::nullopt;
  return *len;
}

std::size_t StreamingGet::read(char* buffer, std::size_t size) {
  auto& im = *impl_;
  while (!im.parser.is_done()) {
    auto& body = im.parser.get().body();
    body.data = buffer;
    body.size = size;
    im.tcp_layer().expires_after(im.read_timeout);
    auto ec = im.with_stream([&](auto& s) {
      return im.run([&](auto h) { http::async_read_some(s, im.buffer, im.parser, h); });
    });
    if (ec == http::error::need_buffer) ec = {};
    if (ec) fail("body", ec);
    const std::size_t n = size - body.size;
    if (n > 0) return n;
  }
  return 0;
}

}  // namespace reportbridge::http_store
