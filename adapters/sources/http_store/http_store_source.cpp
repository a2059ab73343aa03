#include "adapters/sources/http_store/http_store_source.hpp"

#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <thread>

#include "adapters/sources/http_store/streaming_get.hpp"
#include "bridge/attachments/chunk_reader.hpp"
#include "bridge/attachments/media_type.hpp"
#include "bridge/net/retry_after.hpp"
#include "bridge/net/url.hpp"

namespace reportbridge::http_store {

namespace fs = std::filesystem;
namespace json = boost::json;
using attachments::AttachmentError;
using attachments::ErrorCode;
using std::chrono::milliseconds;

struct HttpStoreSource::Page {
  std::vector<core::SourceRow> rows;
};

// A failed API request: what to log, and the server's Retry-After if any.
struct HttpStoreSource::Failure {
  std::string message;
  std::optional<milliseconds> retry_after;
};

namespace {

bool is_2xx(int status) { return status >= 200 && status < 300; }

std::optional<milliseconds> retry_after_of(const net::Response& r) {
  if (r.status != 429 && r.status != 503) return std::nullopt;
  auto s = net::parse_retry_after(r.header("Retry-After"));
  if (!s) return std::nullopt;
  return std::chrono::duration_cast<milliseconds>(*s);
}

std::string describe(const std::string& what, const net::Response& r) {
  if (r.error != net::ErrorKind::none)
    return what + ": " + net::to_string(r.error) + (r.error_detail.empty() ? "" : " (" + r.error_detail + ")");
  return what + ": HTTP " + std::to_string(r.status);
}

std::optional<std::int64_t> as_int(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->get_uint64());
  return std::nullopt;
}

std::string as_string(const json::value* v) {
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

net::HttpClientConfig client_config(const HttpStoreConfig& c) {
  net::HttpClientConfig n;
  n.base_url = c.base_url;
  n.tls = c.tls;
  n.connect_timeout = c.connect_timeout;
  n.read_timeout = c.read_timeout;
  n.total_timeout = c.total_timeout;
  n.max_response_bytes = c.max_response_bytes;
  n.max_connections = std::max<std::size_t>(1, c.max_connections);
  return n;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::string encode_path_segment(std::string_view segment) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  // "." and ".." are path steps even when encoded by some servers: escape them.
  if (out == "." || out == "..") out = out == "." ? "%2E" : "%2E%2E";
  return out;
}

HttpStoreSource::HttpStoreSource(HttpStoreConfig config)
    : config_(std::move(config)), poll_gate_(config_.backoff), status_gate_(config_.backoff) {
  auto url = net::parse_url(config_.base_url);
  if (!url) throw std::invalid_argument("source base_url is not an http(s) URL: " + config_.base_url);
  prefix_ = url->target;
  if (auto q = prefix_.find('?'); q != std::string::npos) prefix_.erase(q);
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  if (config_.page_limit_max == 0) throw std::invalid_argument("page_limit_max must be at least 1");
  if (!config_.token_file.empty()) token_ = std::make_unique<TokenFile>(config_.token_file);
  poll_client_ = std::make_unique<net::HttpClient>(client_config(config_));
  status_client_ = std::make_unique<net::HttpClient>(client_config(config_));
}

HttpStoreSource::~HttpStoreSource() = default;

std::vector<std::pair<std::string, std::string>> HttpStoreSource::auth_headers(bool force_token) const {
  std::vector<std::pair<std::string, std::string>> h;
  if (token_) h.emplace_back("Authorization", "Bearer " + token_->token(force_token));
  return h;
}

HttpStoreSource::Page HttpStoreSource::get_page(std::int64_t after, std::size_t limit) {
  net::Request req;
  req.method = "GET";
  req.target = prefix_ + "/v1/submissions?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
  const std::string what = "GET submissions after " + std::to_string(after);
  try {
    req.headers = auth_headers(false);
  } catch (const std::exception& e) {
    throw Failure{what + ": " + e.what(), std::nullopt};
  }
  req.headers.emplace_back("Accept", "application/json");
  net::Response resp = poll_client_->send(req);
  if (resp.status == 401 && token_) {
    // The token may have been rotated within one mtime tick: re-read and try once more.
    const std::string before = req.headers.front().second;
    try {
      auto fresh = auth_headers(true);
      if (fresh.front().second != before) {
        req.headers.front() = fresh.front();
        resp = poll_client_->send(req);
      }
    } catch (const std::exception& e) {
      throw Failure{what + ": " + e.what(), std::nullopt};
    }
  }
  if (resp.error != net::ErrorKind::none || !is_2xx(resp.status))
    throw Failure{describe(what, resp), retry_after_of(resp)};

  json::error_code ec;
  json::value doc = json::parse(resp.body, ec);
  if (ec || !doc.is_object()) throw Failure{what + ": response is not a JSON object", std::nullopt};
  const json::value* items = doc.as_object().if_contains("items");
  if (items == nullptr || !items->is_array())
    throw Failure{what + ": response has no \"items\" array", std::nullopt};
  Page page;
  page.rows.reserve(items->get_array().size());
  std::int64_t previous = after;
  for (const auto& item : items->get_array()) {
    const json::object* o = item.if_object();
    auto seq = o ? as_int(o->if_contains("seq")) : std::nullopt;
    if (!seq) throw Failure{what + ": an item has no integer \"seq\"", std::nullopt};
    if (*seq <= previous)
      throw Failure{what + ": items are not in increasing seq order after " + std::to_string(after),
                    std::nullopt};
    previous = *seq;
    core::SourceRow row;
    row.seq = *seq;
    row.id = as_string(o->if_contains("id"));
    row.version = as_int(o->if_contains("version")).value_or(0);
    row.received_at = as_string(o->if_contains("received_at"));
    // An object is re-serialised; a string is taken as the stored text (a
    // malformed payload stays malformed, so validation rejects that row only).
    const json::value* payload = o->if_contains("payload");
    if (payload != nullptr && payload->is_string())
      row.payload = std::string(payload->get_string());
    else if (payload != nullptr)
      row.payload = json::serialize(*payload);
    page.rows.push_back(std::move(row));
  }
  return page;
}

std::vector<core::SourceRow> HttpStoreSource::read_gap(const core::SeqGap& gap) {
  std::vector<core::SourceRow> rows;
  std::int64_t after = gap.first - 1;
  while (after < gap.last) {
    const auto span = static_cast<std::uint64_t>(gap.last - after);
    const std::size_t limit = static_cast<std::size_t>(std::min<std::uint64_t>(span, config_.page_limit_max));
    Page page = get_page(after, limit);
    if (page.rows.empty()) break;
    bool past_gap = false;
    for (auto& r : page.rows) {
      if (r.seq > gap.last) {
        past_gap = true;
        break;
      }
      rows.push_back(std::move(r));
    }
    if (past_gap) break;
    // A short page may be the server's own cap: ask on from the last seq.
    after = page.rows.back().seq;
  }
  return rows;
}

void HttpStoreSource::poll_failed(const Failure& f) {
  const milliseconds wait = poll_gate_.failed(BackoffGate::Clock::now(), f.retry_after);
  last_poll_error_ = f.message;
  {
    std::lock_guard probe_lock(probe_mutex_);
    read_failure_ = "app store unavailable: " + f.message;
  }
  throw SourceUnavailable("app store unavailable: " + f.message + "; next attempt in " +
                              std::to_string(wait.count()) + " ms",
                          wait);
}

std::vector<core::SourceRow> HttpStoreSource::poll(const core::SourceCursor& cursor, std::size_t limit) {
  std::lock_guard lock(poll_mutex_);
  if (auto left = poll_gate_.remaining(BackoffGate::Clock::now()); left.count() > 0)
    throw SourceUnavailable("app store unavailable (backing off): " + last_poll_error_, left);
  try {
    // Late rows first, as the SQLite source does: they have waited longest.
    std::vector<core::SourceRow> rows;
    for (const auto& gap : cursor.gaps) {
      auto late = read_gap(gap);
      std::move(late.begin(), late.end(), std::back_inserter(rows));
    }
    if (limit > 0) {
      Page page = get_page(cursor.high_water, std::min(limit, config_.page_limit_max));
      std::move(page.rows.begin(), page.rows.end(), std::back_inserter(rows));
    }
    poll_gate_.succeeded();
    read_succeeded();
    return rows;
  } catch (const Failure& f) {
    poll_failed(f);
  }
}

std::int64_t HttpStoreSource::backlog(const core::SourceCursor& cursor) {
  std::lock_guard lock(poll_mutex_);
  if (auto left = poll_gate_.remaining(BackoffGate::Clock::now()); left.count() > 0)
    throw SourceUnavailable("app store unavailable (backing off): " + last_poll_error_, left);
  try {
    std::int64_t count = 0;
    std::int64_t after = cursor.high_water;
    while (count < config_.backlog_scan_max) {
      Page page = get_page(after, config_.page_limit_max);
      if (page.rows.empty()) break;
      count += static_cast<std::int64_t>(page.rows.size());
      after = page.rows.back().seq;
    }
    poll_gate_.succeeded();
    read_succeeded();
    return count >= config_.backlog_scan_max ? -1 : count;
  } catch (const Failure& f) {
    poll_failed(f);
  }
}

std::optional<core::SourceRow> HttpStoreSource::latest(const std::string& submission_id) {
  std::lock_guard lock(poll_mutex_);
  if (auto left = poll_gate_.remaining(BackoffGate::Clock::now()); left.count() > 0)
    throw SourceUnavailable("app store unavailable (backing off): " + last_poll_error_, left);
  try {
    // The contract has no GET for one submission: page through the whole store.
    std::optional<core::SourceRow> found;
    std::int64_t after = 0;
    for (;;) {
      Page page = get_page(after, config_.page_limit_max);
      if (page.rows.empty()) break;
      for (auto& row : page.rows)
        if (row.id == submission_id && (!found || row.version >= found->version)) found = std::move(row);
      after = page.rows.back().seq;
    }
    poll_gate_.succeeded();
    read_succeeded();
    return found;
  } catch (const Failure& f) {
    poll_failed(f);
  }
}

void HttpStoreSource::read_succeeded() {
  std::lock_guard probe_lock(probe_mutex_);
  read_failure_.reset();
}

std::optional<std::string> HttpStoreSource::probe() const {
  std::lock_guard probe_lock(probe_mutex_);
  return read_failure_;
}

std::chrono::milliseconds HttpStoreSource::poll_retry_in() const {
  std::lock_guard lock(poll_mutex_);
  return poll_gate_.remaining(BackoffGate::Clock::now());
}

std::uint64_t HttpStoreSource::statuses_refused() const {
  std::lock_guard lock(status_mutex_);
  return statuses_refused_;
}

std::uint64_t HttpStoreSource::status_connections_opened() const {
  std::lock_guard lock(status_mutex_);
  return status_client_->connections_opened();
}

void HttpStoreSource::write_status(std::span<const core::StatusRef> updates) {
  const core::StatusWriteResult r = write_statuses(updates);
  std::size_t failed = 0;
  for (auto o : r.outcomes) failed += o == core::StatusOutcome::retry ? 1 : 0;
  if (failed > 0)
    throw SourceUnavailable("status write-back: " + std::to_string(failed) + " status(es) not written: " + r.error,
                            status_gate_.remaining(BackoffGate::Clock::now()));
}

core::StatusWriteResult HttpStoreSource::write_statuses(std::span<const core::StatusRef> updates) {
  std::lock_guard lock(status_mutex_);
  core::StatusWriteResult result;
  result.outcomes.assign(updates.size(), core::StatusOutcome::retry);
  if (updates.empty()) return result;
  if (auto left = status_gate_.remaining(BackoffGate::Clock::now()); left.count() > 0)
    throw SourceUnavailable("status write-back backing off: " + last_status_error_, left);
  // Only the newest update per submission is sent: concurrent PUTs for one id
  // could land out of order. An older one is covered by it (same outcome).
  std::vector<std::size_t> newest;                 // indexes into updates, one per submission
  std::vector<std::size_t> covered_by(updates.size());
  {
    std::map<std::string_view, std::size_t> slot;
    for (std::size_t i = 0; i < updates.size(); ++i) {
      auto [it, fresh] = slot.emplace(updates[i].submission_id, newest.size());
      if (fresh)
        newest.push_back(i);
      else
        newest[it->second] = i;
    }
    for (std::size_t i = 0; i < updates.size(); ++i) covered_by[i] = slot[updates[i].submission_id];
  }
  std::vector<core::StatusOutcome> outcome(newest.size(), core::StatusOutcome::retry);
  std::vector<std::size_t> pending(newest.size());  // slots still to send
  for (std::size_t k = 0; k < pending.size(); ++k) pending[k] = k;
  auto finish = [&] {
    for (std::size_t i = 0; i < updates.size(); ++i) result.outcomes[i] = outcome[covered_by[i]];
    // The app answered some: it is up, and the ones left wait on their own
    // (the caller's per-status retry), not behind a gate for every status.
    for (auto o : outcome)
      if (o != core::StatusOutcome::retry) {
        status_gate_.succeeded();
        break;
      }
    return result;
  };
  for (int round = 1;; ++round) {
    std::vector<std::pair<std::string, std::string>> auth;
    try {
      auth = auth_headers(false);
    } catch (const std::exception& e) {
      last_status_error_ = e.what();
      const auto wait = status_gate_.failed(BackoffGate::Clock::now(), std::nullopt);
      if (round == 1) throw SourceUnavailable(std::string("status write-back: ") + e.what(), wait);
      result.error = e.what();
      return finish();
    }
    // Over the kept-alive connections (up to max_connections in flight), a
    // slice of requests at a time: a write-back pass may hold 10,000 statuses,
    // and a request built (target, headers, body) takes about a kilobyte.
    constexpr std::size_t kSlice = 512;
    std::vector<net::Response> responses;
    responses.reserve(pending.size());
    for (std::size_t from = 0; from < pending.size(); from += kSlice) {
      const std::size_t to = std::min(pending.size(), from + kSlice);
      std::vector<net::Request> requests;
      requests.reserve(to - from);
      for (std::size_t j = from; j < to; ++j) {
        const auto& u = updates[newest[pending[j]]];
        net::Request r;
        r.method = "PUT";
        r.target = prefix_ + "/v1/submissions/" + encode_path_segment(u.submission_id) + "/status";
        r.headers = auth;
        r.headers.emplace_back("Content-Type", "application/json");
        json::object body{{"state", u.state},
                          {"reference", u.reference.empty() ? json::value(nullptr) : json::value(u.reference)},
                          {"message", u.message}};
        r.body.push_back(net::BodyPart::literal(json::serialize(body)));
        requests.push_back(std::move(r));
      }
      for (auto& r : status_client_->send_all(requests)) responses.push_back(std::move(r));
    }
    std::vector<std::size_t> again;
    std::optional<milliseconds> retry_after;
    bool unauthorised = false;
    std::string error;
    for (std::size_t j = 0; j < responses.size(); ++j) {
      const std::size_t k = pending[j];
      const auto& r = responses[j];
      if (r.error == net::ErrorKind::none && is_2xx(r.status)) {
        outcome[k] = core::StatusOutcome::written;
        continue;
      }
      const int s = r.status;
      if (r.error == net::ErrorKind::none && (s == 400 || s == 404 || s == 409 || s == 410 || s == 422)) {
        ++statuses_refused_;
        outcome[k] = core::StatusOutcome::refused;
        spdlog::error("writeback: the app refused the status of submission {} for good (HTTP {}); dropped",
                      updates[newest[k]].submission_id, s);
        continue;
      }
      if (s == 401) unauthorised = true;
      if (auto ra = retry_after_of(r)) retry_after = std::max(retry_after.value_or(milliseconds{0}), *ra);
      error = describe("PUT status", r);
      again.push_back(k);
    }
    if (again.empty()) {
      status_gate_.succeeded();
      return finish();
    }
    pending = std::move(again);
    last_status_error_ = error;
    result.error = error;
    if (unauthorised && token_) {
      try {
        token_->token(true);
      } catch (const std::exception&) {
        // Reported by the next round's auth_headers().
      }
    }
    const milliseconds wait = status_gate_.failed(BackoffGate::Clock::now(), retry_after);
    // The ones still failing stay queued for a later pass; the rest are done.
    if (round >= config_.status_attempts || wait > config_.status_wait_cap) return finish();
    std::this_thread::sleep_for(wait);
  }
}

void HttpStoreSource::prune_spool() const {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - config_.spool_ttl;
  for (const auto& entry : fs::directory_iterator(config_.spool_dir, ec)) {
    std::error_code e2;
    if (entry.is_regular_file(e2) && entry.last_write_time(e2) < cutoff) fs::remove(entry.path(), e2);
  }
}

std::string HttpStoreSource::attachment_path(const core::AttachmentRef& a) const {
  if (a.id.empty()) throw AttachmentError(ErrorCode::unusable_reference, "attachment has no id");
  if (!is_sha256_hex(a.sha256))
    throw AttachmentError(ErrorCode::unusable_reference, "attachment has no valid sha256");
  if (config_.spool_dir.empty())
    throw AttachmentError(ErrorCode::unavailable, "the HTTP source has no spool_dir for attachments");
  std::lock_guard lock(attach_mutex_);
  std::error_code ec;
  fs::create_directories(config_.spool_dir, ec);
  if (ec) throw AttachmentError(ErrorCode::unavailable, "spool folder cannot be created");
  // Named by the verified content hash: the payload's file name never becomes a path.
  const fs::path final_path = config_.spool_dir / (lower(a.sha256) + "." + attachments::extension_for(a.media_type));
  if (fs::is_regular_file(final_path, ec)) {
    fs::last_write_time(final_path, fs::file_time_type::clock::now(), ec);
    return final_path.string();
  }
  prune_spool();
  return download(a, final_path);
}

std::string HttpStoreSource::download(const core::AttachmentRef& a, const fs::path& final_path) const {
  StreamingGetOptions o;
  o.url = *net::parse_url(config_.base_url);
  o.url.target = prefix_ + "/v1/attachments/" + encode_path_segment(a.id);
  o.tls = config_.tls;
  o.connect_timeout = config_.connect_timeout;
  o.read_timeout = config_.read_timeout;
  for (int round = 0;; ++round) {
    try {
      o.headers = auth_headers(round > 0);
    } catch (const std::exception& e) {
      throw AttachmentError(ErrorCode::unavailable, e.what());
    }
    StreamingGet get(o);
    if (get.status() == 401 && token_ && round == 0) continue;  // token re-read, once
    if (get.status() != 200) {
      std::string detail = "attachment download: HTTP " + std::to_string(get.status());
      if (auto ra = get.header("Retry-After"); !ra.empty()) detail += " (Retry-After " + ra + ")";
      throw AttachmentError(ErrorCode::unavailable, detail);
    }
    if (auto len = get.content_length()) {
      if (*len > config_.attachment_limits.max_bytes)
        throw AttachmentError(ErrorCode::too_large, "Content-Length " + std::to_string(*len) +
                                                        " is above the limit of " +
                                                        std::to_string(config_.attachment_limits.max_bytes));
      if (a.size_bytes != 0 && *len != a.size_bytes)
        throw AttachmentError(ErrorCode::size_mismatch, "Content-Length " + std::to_string(*len) +
                                                            ", declared " + std::to_string(a.size_bytes));
    }
    std::string temp = (config_.spool_dir / ".part-XXXXXX").string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) throw AttachmentError(ErrorCode::unavailable, "spool file cannot be created");
    std::FILE* out = ::fdopen(fd, "wb");
    if (out == nullptr) {
      ::close(fd);
      ::unlink(temp.c_str());
      throw AttachmentError(ErrorCode::unavailable, "spool file cannot be opened");
    }
    try {
      attachments::copy_verified(get, a, config_.attachment_limits, [&](const char* data, std::size_t n) {
        if (std::fwrite(data, 1, n, out) != n)
          throw AttachmentError(ErrorCode::unavailable, "spool file write failed");
      });
      const bool ok = std::fflush(out) == 0;
      std::fclose(out);
      out = nullptr;
      if (!ok) throw AttachmentError(ErrorCode::unavailable, "spool file write failed");
      std::error_code ec;
      fs::rename(temp, final_path, ec);
      if (ec) throw AttachmentError(ErrorCode::unavailable, "spool file cannot be renamed");
    } catch (...) {
      if (out != nullptr) std::fclose(out);
      ::unlink(temp.c_str());
      throw;
    }
    return final_path.string();
  }
}

}  // namespace reportbridge::http_store
