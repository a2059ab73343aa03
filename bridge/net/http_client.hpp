#pragma once
// A small HTTP/1.1 client on Boost.Beast for talking to legacy systems (SOAP
// sink) and app back ends (HTTP source).
//
// Model
// - One client talks to one origin (scheme, host, port) given by `base_url`.
// - Synchronous API: send_all() runs up to `max_connections` requests at once
//   on a private io_context on the calling thread and returns when every
//   request has an answer or an error. Not thread-safe: one caller at a time,
//   except run(), which several threads may call at once (see there).
// - Keep-alive: connections are kept between calls (at most max_connections
//   idle, each for at most idle_timeout) and probed before reuse, so a
//   connection the server already closed is never used for a request.
// - Rate limit: a token bucket (`rate_per_second`, `burst`) spaces request
//   starts across calls; 0 disables it.
// - Timeouts: connect_timeout covers resolve + TCP connect + TLS handshake;
//   read_timeout bounds each wait for response bytes (and each write);
//   total_timeout bounds one request from the moment the rate limiter lets it
//   start (connect, write and read together).
// - TLS: TLS 1.2+, peer verification always on, against the CA bundle file when
//   set, else the system trust store; SNI and host name verification for DNS
//   names (OpenSSL SSL_set1_host: RFC 6125, no partial wildcards); IP literals
//   are checked against the certificate's IP SANs. Optional client certificate + key (PEM) for mutual TLS.
// - Response bodies larger than max_response_bytes are refused (error
//   too_large; the connection is closed).
//
// Error classification (Response::error, Response::sent)
//   connect      resolve/connect/TLS handshake failed or timed out: not sent
//   tls_verify   the server certificate was not trusted / name mismatch: not sent
//   send         writing the request failed (the server cannot have a whole
//                request): not sent
//   timeout      no (complete) response within read/total timeout after the
//                request was written: sent (in doubt)
//   reset        connection reset/closed after the request was written: sent
//   too_large    response body over the limit: sent
//   protocol     malformed response: sent
//   body_source  a streamed file part could not be read as declared: not
//                sent (the request was aborted before its end)
// `sent` = the whole request reached the kernel, so the server may have acted
// on it: the caller must treat the outcome as in doubt.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bridge/core/fleet_limits.hpp"

namespace reportbridge::net {

struct TlsOptions {
  std::filesystem::path ca_file;      // PEM bundle; empty: the system trust store
  std::filesystem::path client_cert;  // PEM chain for mutual TLS (with client_key)
  std::filesystem::path client_key;   // PEM private key
};

struct HttpClientConfig {
  std::string base_url;  // http://host:port or https://host:port (a path is ignored)
  TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds total_timeout{60000};
  std::chrono::milliseconds idle_timeout{30000};  // keep idle connections this long
  std::uint64_t max_response_bytes = 4u << 20;
  std::size_t max_connections = 4;  // requests in flight at once
  double rate_per_second = 0;       // request starts per second; 0: unlimited
  double burst = 0;                 // bucket size; 0: max(1, rate_per_second)
  std::string user_agent = "reportbridge";
  bool client_cert_without_key() const;
};

// A piece of a request body: literal bytes, or a file sent base64-encoded
// (RFC 4648, no line breaks), read in chunks while sending.
struct BodyPart {
  std::string text;
  std::filesystem::path base64_file;  // when set, `text` is ignored
  std::uint64_t file_size = 0;        // bytes the file must have
  static BodyPart literal(std::string t) { return {std::move(t), {}, 0}; }
  static BodyPart file_base64(std::filesystem::path p, std::uint64_t size) { return {{}, std::move(p), size}; }
  std::uint64_t encoded_size() const;
};

struct Request {
  std::string method = "POST";
  std::string target = "/";  // path and query
  std::vector<std::pair<std::string, std::string>> headers;  // no Host/Content-Length
  std::vector<BodyPart> body;
  // Asked just before the request's first byte is written (after connecting):
  // false -> not sent (ErrorKind::send, sent = false). Empty: always send.
  std::function<bool()> may_send;
};

enum class ErrorKind { none, connect, tls_verify, send, timeout, reset, too_large, protocol, body_source };
const char* to_string(ErrorKind kind);

struct Response {
  ErrorKind error = ErrorKind::none;
  bool sent = false;   // see classification above
  std::string error_detail;  // library message, no request content
  int status = 0;            // HTTP status when a response header arrived
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double latency_ms = 0;     // from the request's start (after the rate limiter) to its end

  // First header with this name (case-insensitive), or empty.
  std::string header(std::string_view name) const;
};

class HttpClient {
 public:
  // Throws std::invalid_argument for a bad base_url, max_connections == 0 or a
  // client cert without key; std::runtime_error when TLS files cannot be loaded.
  explicit HttpClient(HttpClientConfig config);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Answers in request order. Never throws for network errors.
  std::vector<Response> send_all(const std::vector<Request>& requests);
  Response send(const Request& request);
  // Jobs of one or more requests each, up to max_connections at once: job i
  // starts with first[i]; when an answer arrives, `then(i, answer)` is called
  // (on the calling thread) and returns the job's next request, which the
  // same slot sends at once, or nullopt (the job is done; the slot takes the
  // next job). Returns when every job is done. Never throws for network
  // errors; `then` must not throw. Several threads may call run() at once:
  // their jobs share the max_connections slots (a slot freed by one caller's
  // job takes the next job of any caller), on the loop of the first, which
  // returns when no caller has work left; `then` of every job runs there.
  using Then = std::function<std::optional<Request>(std::size_t job, Response answer)>;
  void run(std::vector<Request> first, const Then& then);

  // Limits held with other instances (issue #16): each request start takes a
  // token of the fleet's bucket too (granted a few at a time, a token unused
  // after 100 ms is dropped), and each connection slot in use holds a slot of
  // the fleet (kept while the slot works, freed when it has no more to do).
  // Without it (nullptr, the default) the limits are this client's alone.
  void share_limits(std::shared_ptr<core::FleetLimits> limits);
  const HttpClientConfig& config() const;
  // Connections opened so far (keep-alive reuse shows as fewer opens than requests).
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::net
