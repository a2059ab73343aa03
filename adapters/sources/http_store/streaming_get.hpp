#pragma once
// A streaming HTTP(S) GET for attachment bodies of any size: bridge/net's
// HttpClient holds whole bodies in memory, which a 2 GB video must never be.
// One connection per download; the body is read into the caller's buffer, so
// memory stays at Beast's header buffer plus that buffer.
//
// TLS as in bridge/net: TLS 1.2+, peer verification always on (CA bundle file
// or the system trust store), SNI and host name verification for DNS names,
// IP SAN check for IP literals, optional client certificate.
// Timeouts: `connect_timeout` covers resolve + connect + TLS handshake;
// `read_timeout` bounds the request write and each wait for response bytes (a
// stalled server fails the download; a slow but moving one does not).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/attachments/chunk_reader.hpp"
#include "bridge/net/http_client.hpp"
#include "bridge/net/url.hpp"

namespace reportbridge::http_store {

struct StreamingGetOptions {
  net::Url url;  // origin and target
  net::TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{30000};
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "reportbridge";
};

class StreamingGet : public attachments::ChunkReader {
 public:
  // Connects, sends the GET and reads the response header. Throws
  // attachments::AttachmentError(unavailable) for network, TLS and timeout errors.
  explicit StreamingGet(const StreamingGetOptions& options);
  ~StreamingGet() override;
  StreamingGet(const StreamingGet&) = delete;
  StreamingGet& operator=(const StreamingGet&) = delete;

  int status() const;
  std::string header(std::string_view name) const;  // first match, case-insensitive; "" if none
  std::optional<std::uint64_t> content_length() const;

  // Body bytes (chunked or Content-Length framing); 0 at the end. Throws
  // AttachmentError(unavailable) on errors or timeouts.
  std::size_t read(char* buffer, std::size_t size) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::http_store
