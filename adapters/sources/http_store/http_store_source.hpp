#pragma once
// Source: the hosted app back end's HTTP API (shared/contracts/app-store.md §2).
//
// poll()   GET {base}/v1/submissions?after=&limit= for new rows, plus one
//          paged read per open cursor gap (after=gap.first-1, items up to
//          gap.last), so rows committed late are never skipped: the same
//          guarantee as the SQLite source, with core::advance_cursor.
// latest() pages the whole store for the newest version of one submission.
// backlog() counts rows after the high-water mark by paging, up to
//          backlog_scan_max rows (-1 beyond: "unknown").
// write_statuses() PUT {base}/v1/submissions/{id}/status per submission (the
//          last update per id in a batch), up to max_connections at once over
//          kept-alive connections, with an outcome per status: written,
//          refused for good (400/404/409/410/422: logged, counted, dropped so
//          one bad status cannot block the queue), or retry. The failed ones
//          alone are retried in the call on 408/429/5xx/network errors while
//          the wait is at most status_wait_cap (Retry-After honoured); those
//          still failing stay queued for the WritebackWorker's next pass, and
//          the others are done. write_status() throws when any is left.
// attachment_path() downloads GET {base}/v1/attachments/{id} into spool_dir,
//          streamed in 64 KiB chunks (never whole in memory), verifying size,
//          sha256 and the media type's leading bytes while streaming, and
//          returns the local file (named by its verified sha256, never by the
//          payload's file name). Throws attachments::AttachmentError: code
//          `unavailable` is transient, every other code means reject.
//
// Failures: poll() and backlog() never sleep. A failed request (network,
// timeout, TLS, non-2xx, malformed JSON) throws SourceUnavailable carrying the
// wait before the next attempt (Retry-After for 429/503, else exponential
// backoff with jitter); a call made before that wait is over throws again at
// once without touching the network. The caller sleeps `retry_in()`.
// Auth: `Authorization: Bearer <token>` from token_file, re-read when the file
// changes, and once more on a 401 in case it changed within one mtime tick.
//
// Threads: poll/backlog, write_status and attachment_path each use their own
// connections and lock, so the ingest, write-back and delivery threads may
// call them at once.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "adapters/sources/http_store/backoff.hpp"
#include "adapters/sources/http_store/token_file.hpp"
#include "bridge/attachments/verifier.hpp"
#include "bridge/core/source.hpp"
#include "bridge/net/http_client.hpp"

namespace reportbridge::http_store {

struct HttpStoreConfig {
  std::string name = "app";
  std::string base_url;                  // http(s)://host[:port][/prefix]
  net::TlsOptions tls;                   // CA bundle (else system store), client cert/key
  std::filesystem::path token_file;      // empty: no Authorization header
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds total_timeout{60000};  // per API request (not attachments)
  std::size_t page_limit_max = 1000;     // largest `limit` asked for
  std::size_t max_connections = 4;       // per client (poll, status)
  std::uint64_t max_response_bytes = 64u << 20;    // one page of items
  BackoffPolicy backoff;
  int status_attempts = 3;               // PUT rounds per write_status call
  std::chrono::milliseconds status_wait_cap{5000};  // longest in-call wait between rounds
  std::filesystem::path spool_dir;       // downloaded attachments (required for attachments)
  std::chrono::milliseconds spool_ttl{24 * 3'600'000};  // older spool files are removed
  attachments::Limits attachment_limits;
  std::int64_t backlog_scan_max = 10'000;
};

// The back end cannot be used now; try again after retry_in().
using SourceUnavailable = core::SourceUnavailable;

class HttpStoreSource : public core::Source {
 public:
  // Throws std::invalid_argument for a bad base_url, std::runtime_error when
  // TLS files cannot be loaded.
  explicit HttpStoreSource(HttpStoreConfig config);
  ~HttpStoreSource() override;

  const std::string& name() const override { return config_.name; }
  std::vector<core::SourceRow> poll(const core::SourceCursor& cursor, std::size_t limit) override;
  std::int64_t backlog(const core::SourceCursor& cursor) override;
  using core::Source::write_status;
  void write_status(std::span<const core::StatusRef> updates) override;
  core::StatusWriteResult write_statuses(std::span<const core::StatusRef> updates) override;
  std::string attachment_path(const core::AttachmentRef& attachment) const override;

  // The newest version of one submission (for `preview --submission ID`), or
  // nullopt. The API has no GET for one submission, so this pages through the
  // whole store from seq 0 (an operator tool, not for the delivery path).
  // Failures throw SourceUnavailable like poll().
  std::optional<core::SourceRow> latest(const std::string& submission_id) override;
  // Readiness from the outcome of the latest API read (poll, backlog,
  // latest), without a request of its own: a scrape never adds load on the
  // back end. Not ready while reads fail and back off (the error says why);
  // ready before the first read.
  std::optional<std::string> probe() const override;
  std::string location() const override { return config_.base_url; }
  // Time until poll() may touch the network again (0: now).
  std::chrono::milliseconds poll_retry_in() const;
  // Status updates the server refused for good (dropped).
  std::uint64_t statuses_refused() const;
  // Connections the status writer opened so far (keep-alive: far fewer than PUTs).
  std::uint64_t status_connections_opened() const;
  const HttpStoreConfig& config() const { return config_; }

 private:
  struct Page;
  struct Failure;
  std::vector<std::pair<std::string, std::string>> auth_headers(bool force_token) const;
  Page get_page(std::int64_t after, std::size_t limit);
  std::vector<core::SourceRow> read_gap(const core::SeqGap& gap);
  [[noreturn]] void poll_failed(const Failure& f);
  void read_succeeded();
  std::string download(const core::AttachmentRef& a, const std::filesystem::path& final_path) const;
  void prune_spool() const;

  HttpStoreConfig config_;
  std::string prefix_;  // base_url's path, no trailing '/'
  std::unique_ptr<TokenFile> token_;
  std::unique_ptr<net::HttpClient> poll_client_;
  std::unique_ptr<net::HttpClient> status_client_;
  mutable std::mutex poll_mutex_, status_mutex_, attach_mutex_;
  BackoffGate poll_gate_;
  BackoffGate status_gate_;
  std::string last_poll_error_, last_status_error_;
  mutable std::mutex probe_mutex_;  // guards read_failure_ (the probe never waits for a poll)
  std::optional<std::string> read_failure_;
  std::uint64_t statuses_refused_ = 0;
};

// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
std::string encode_path_segment(std::string_view segment);

}  // namespace reportbridge::http_store
