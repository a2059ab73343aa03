#pragma once
// A bridge installation in a temp folder: an app store, a config, mappings,
// and helpers to run the real binary and read what it produced.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/app_store.hpp"
#include "tests/support/process.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {

inline const char* kAllKindsMapping = R"(mapping: all
targets: [drop]
attachments: true
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Kind, from: kind}
  - {name: Summary, from: summary, transforms: [trim, collapse_whitespace], default: ""}
  - {name: Description, from: description}
  - {name: attachment_files, default: ""}
)";

// The data records (header skipped, cells unquoted per RFC 4180, CRLF rows) of
// every published .csv file in `folder` whose name starts with `prefix`.
inline std::vector<std::vector<std::string>> csv_records(const std::filesystem::path& folder,
                                                         const std::string& prefix = "") {
  std::vector<std::vector<std::string>> records;
  if (!std::filesystem::is_directory(folder)) return records;
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    if (e.path().extension() != ".csv" || !e.path().filename().string().starts_with(prefix)) continue;
    const std::string text = read_file(e.path());
    std::vector<std::string> record;
    std::string cell;
    bool quoted = false, header = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (quoted) {
        if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else if (c == '"') {
          quoted = false;
        } else {
          cell += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        record.push_back(std::move(cell));
        cell.clear();
      } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        record.push_back(std::move(cell));
        cell.clear();
        if (!header) records.push_back(std::move(record));
        header = false;
        record.clear();
        ++i;
      } else {
        cell += c;
      }
    }
  }
  return records;
}

// Waits until a daemon started with `run` (logging at info) says it is serving
// ("run: source ..."): a test that edits its files and sends SIGHUP after that
// knows the daemon loaded the old ones first (a sanitizer build takes seconds
// to get there; a fixed sleep does not know).
inline bool wait_serving(const std::string& log_path,
                         std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  return wait_until(
      [&] {  // (the child creates its log file after the fork)
        return std::filesystem::exists(log_path) && read_file(log_path).find("run: source ") != std::string::npos;
      },
      limit);
}

struct Installation {
  TempDir dir{"rbint"};
  std::string store = (dir / "store.db").string();
  std::string config = (dir / "config.yaml").string();

  // Tests run in parallel: no daemon binds the default health port unless a
  // test asks for health on a port of its own (append_config).
  static constexpr const char* kNoHealth = "health:\n  enabled: false\n";

  explicit Installation(const std::string& mapping = kAllKindsMapping,
                        const std::string& target_extra = "") {
    write_file(dir / "mappings/all.yaml", mapping);
    write_file(config,
               "state:\n  path: state/state.db\n"
               "source:\n  type: sqlite\n  path: store.db\n  media_root: media\n"
               "  poll_interval: 50ms\n  batch_size: 500\n"
               "schema: " REPORTBRIDGE_SOURCE_DIR "/schemas/submission.schema.json\n"
               "mappings: [mappings/all.yaml]\n"
               "targets:\n  - name: drop\n    type: csv_drop\n    directory: out\n"
               "    max_rows: 700\n    max_age: 100ms\n" + target_extra +
               "logging:\n  level: info\n" + kNoHealth);
  }

  ProcessResult bridge(std::vector<std::string> args) const {
    args.insert(args.begin(), REPORTBRIDGE_BINARY);
    args.push_back("--config");
    args.push_back(config);
    return run_process(args);
  }

  ProcessResult generate(int count, int seed, const std::string& extra = "") const {
    std::vector<std::string> args{REPORTBRIDGE_GEN_STORE, "--db", store, "--media-root",
                                  (dir / "media").string(), "--count", std::to_string(count),
                                  "--seed", std::to_string(seed), "--truth",
                                  (dir / "truth.jsonl").string()};
    if (!extra.empty()) args.push_back(extra);
    return run_process(args);
  }

  // Every published CSV data record (header skipped), cells unquoted (RFC 4180).
  std::vector<std::vector<std::string>> published_records() const { return csv_records(dir / "out"); }

  // Every published CSV data row as "Ref,Version" -> times seen.
  std::map<std::string, int> published() const {
    std::map<std::string, int> rows;
    for (const auto& r : published_records())
      if (r.size() >= 2) rows[r[0] + "," + r[1]]++;
    return rows;
  }

  // submission_id -> state, from the app's submission_status.
  std::map<std::string, std::string> statuses() const { return read_statuses(store); }

  // Adds top-level sections (health:, service:, retention:, dedup:, ...) to the config.
  // A test that brings its own `health:` section replaces the default one.
  void append_config(const std::string& yaml) const {
    std::string base = read_file(config);
    if (yaml.rfind("health:", 0) == 0 || yaml.find("\nhealth:") != std::string::npos) {
      auto at = base.find(kNoHealth);
      if (at != std::string::npos) base.erase(at, std::string(kNoHealth).size());
    }
    write_file(config, base + yaml);
  }
};

// Inserts one row like insert_submission, with its own received_at (RFC 3339).
inline void insert_submission_received(const std::string& path, std::int64_t seq, const std::string& id,
                                       std::int64_t version, const std::string& payload,
                                       const std::string& received_at) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("open " + path);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO submissions (seq, id, version, received_at, payload) VALUES (?, ?, ?, ?, ?)",
                     -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, version);
  sqlite3_bind_text(st, 4, received_at.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, payload.c_str(), -1, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_close(db);
  if (!error.empty()) throw std::runtime_error("insert: " + error);
}

// Waits at most `timeout` for a background process; nullopt if it is still running
// (it is then killed with SIGKILL and reaped, so no test leaves a daemon behind).
inline std::optional<ProcessResult> wait_process_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) throw std::runtime_error("waitpid failed");
    if (std::chrono::steady_clock::now() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ProcessResult res;
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  return res;
}

// spawn_process with extra environment variables for the child (e.g. NOTIFY_SOCKET).
inline pid_t spawn_with_env(const std::vector<std::string>& argv, const std::string& out_file,
                            const std::string& err_file,
                            const std::vector<std::pair<std::string, std::string>>& env) {
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  const pid_t pid = spawn_process(argv, out_file, err_file);
  for (const auto& [k, v] : env) unsetenv(k.c_str());
  return pid;
}

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
inline int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot find a free port");
  close(fd);
  return ntohs(a.sin_port);
}

struct HttpResponse {
  int status = 0;  // 0: no answer (connection refused, timeout, garbage)
  std::string headers;
  std::string body;
};

// A minimal HTTP/1.1 GET on 127.0.0.1:port (Connection: close; reads to EOF; 5 s timeout).
inline HttpResponse http_get(int port, const std::string& target) {
  HttpResponse res;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return res;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return res;
  }
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return res;
  }
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<std::size_t>(n));
  close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.") || head_end == std::string::npos || raw.size() < 12) return res;
  res.status = std::atoi(raw.c_str() + 9);
  res.headers = raw.substr(0, head_end);
  res.body = raw.substr(head_end + 4);
  return res;
}

// The value of one sample line (`name{labels} value`) in Prometheus text output.
inline std::optional<double> metric_value(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
    at += series.size();
  }
  return std::nullopt;
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET: collects what the
// service sends (READY=1, STOPPING=1, STATUS=...).
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (fd_ < 0 || path_.string().size() >= sizeof a.sun_path) throw std::runtime_error("notify socket");
    std::strcpy(a.sun_path, path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind " + path_.string());
  }
  ~NotifySocket() {
    close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Waits for a message containing `needle` (e.g. "READY=1"); every message read
  // on the way is kept in messages().
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    for (const auto& m : messages_)
      if (m.find(needle) != std::string::npos) return true;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      timeval tv{0, 100'000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      messages_.emplace_back(buf, static_cast<std::size_t>(n));
      times_.push_back(std::chrono::steady_clock::now());
      if (messages_.back().find(needle) != std::string::npos) return true;
    }
    return false;
  }
  // Reads every message that arrives within `duration`.
  void collect_for(std::chrono::milliseconds duration) { wait_for(std::string(1, '\0'), duration); }
  const std::vector<std::string>& messages() const { return messages_; }
  // When each message containing `needle` arrived.
  std::vector<std::chrono::steady_clock::time_point> times_of(const std::string& needle) const {
    std::vector<std::chrono::steady_clock::time_point> out;
    for (std::size_t i = 0; i < messages_.size(); ++i)
      if (messages_[i].find(needle) != std::string::npos) out.push_back(times_[i]);
    return out;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

// One target's counts from `reportbridge status` output.
struct StatusCounts {
  long long pending = -1, in_flight = -1, delivered = -1, dead = -1;
};
inline StatusCounts status_counts(const std::string& status_out, const std::string& target) {
  StatusCounts c;
  const auto at = status_out.find("\n  " + target + " ");
  if (at == std::string::npos) return c;
  const std::string line = status_out.substr(at + 1, status_out.find('\n', at + 1) - at - 1);
  auto value = [&](const std::string& key) {
    const auto k = line.find(" " + key + " ");
    return k == std::string::npos ? -1LL : std::atoll(line.c_str() + k + key.size() + 2);
  };
  c.pending = value("pending");
  c.in_flight = value("in_flight");
  c.delivered = value("delivered");
  c.dead = value("dead");
  return c;
}

}  // namespace reportbridge::testing
