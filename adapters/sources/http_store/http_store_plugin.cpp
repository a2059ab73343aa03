#include "adapters/sources/http_store/http_store_plugin.hpp"

#include "adapters/sources/http_store/http_store_source.hpp"

namespace reportbridge::http_store {

namespace {

using config::ValueKind;

const config::MapSpec kSpec{
    "http source",
    {{"base_url", ValueKind::string, true, "The back end's API root, http(s)://host[:port][/prefix]."},
     {"token_file", ValueKind::string, false, "File holding the bearer token; re-read when it changes."},
     {"ca_file", ValueKind::string, false, "PEM CA bundle (default: the system trust store)."},
     {"client_cert", ValueKind::string, false, "PEM client certificate for mutual TLS."},
     {"client_key", ValueKind::string, false, "PEM key of client_cert."},
     {"connect_timeout", ValueKind::duration, false, "Connect + TLS handshake (default 5s)."},
     {"read_timeout", ValueKind::duration, false, "Each wait for response bytes (default 30s)."},
     {"request_timeout", ValueKind::duration, false, "One whole API request (default 60s)."},
     {"page_size", ValueKind::integer, false, "Largest page asked for (default 1000)."},
     {"max_connections", ValueKind::integer, false, "Connections per client (default 4)."},
     {"backoff_base", ValueKind::duration, false, "First wait after a failure (default 500ms), doubled with jitter."},
     {"backoff_cap", ValueKind::duration, false, "Longest wait after failures (default 60s)."},
     {"spool_dir", ValueKind::string, false, "Folder for downloaded attachments (default: <state dir>/spool)."},
     {"max_attachment_size", ValueKind::size, false, "Larger attachments are refused (default 4GiB)."}}};

std::unique_ptr<core::Source> create(const config::DaemonConfig& c, core::Diagnostics& diags) {
  const auto& s = c.source.settings;
  HttpStoreConfig h;
  h.name = c.source.name;
  h.base_url = config::get_string(s, "base_url", "");
  if (s["token_file"]) h.token_file = c.resolve(config::get_string(s, "token_file", ""));
  if (s["ca_file"]) h.tls.ca_file = c.resolve(config::get_string(s, "ca_file", ""));
  if (s["client_cert"]) h.tls.client_cert = c.resolve(config::get_string(s, "client_cert", ""));
  if (s["client_key"]) h.tls.client_key = c.resolve(config::get_string(s, "client_key", ""));
  h.connect_timeout = config::get_duration(s, "connect_timeout", h.connect_timeout);
  h.read_timeout = config::get_duration(s, "read_timeout", h.read_timeout);
  h.total_timeout = config::get_duration(s, "request_timeout", h.total_timeout);
  h.page_limit_max = static_cast<std::size_t>(config::get_int(s, "page_size", 1000, c.file, diags, 1));
  h.max_connections = static_cast<std::size_t>(config::get_int(s, "max_connections", 4, c.file, diags, 1));
  h.backoff.base = config::get_duration(s, "backoff_base", h.backoff.base);
  h.backoff.cap = config::get_duration(s, "backoff_cap", h.backoff.cap);
  h.spool_dir = s["spool_dir"] ? c.resolve(config::get_string(s, "spool_dir", ""))
                               : c.local_dir() / "spool";
  h.attachment_limits.max_bytes = config::get_size(s, "max_attachment_size", h.attachment_limits.max_bytes);
  try {
    return std::make_unique<HttpStoreSource>(std::move(h));
  } catch (const std::exception& e) {  // bad URL, TLS files that cannot be loaded
    diags.error(c.source.position.file, c.source.position.line, c.source.position.column,
                std::string("source: ") + e.what(), "config.bad_source");
    return nullptr;
  }
}

}  // namespace

config::SourceType source_type() { return {"http", kSpec, create}; }

}  // namespace reportbridge::http_store
