#pragma once
// The audit trail writer: every lifecycle event becomes one hash-chained JSON
// line in <directory>/audit.jsonl (format and guarantees in docs/audit.md).
//
// on_event formats and seals the entry into a memory buffer (a few µs); flush()
// writes the whole buffer with one write(2) on an O_APPEND descriptor and syncs
// according to the fsync policy. Entries buffered when the process dies are
// lost, so call flush() at the end of each batch (core::EventBus does).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <mutex>
#include <string>

#include "bridge/audit/audit_entry.hpp"
#include "bridge/core/events.hpp"

namespace reportbridge::audit {

enum class FsyncPolicy {
  never,     // leave it to the kernel
  interval,  // fdatasync after a write when the last sync is older than fsync_interval
  always,    // fdatasync after every write
};

struct AuditSettings {
  bool enabled = true;
  std::filesystem::path directory;
  std::string service_name = "reportbridge";
  std::uint64_t max_file_size = 64ULL << 20;  // rotate before a write would pass this
  FsyncPolicy fsync = FsyncPolicy::interval;
  std::chrono::milliseconds fsync_interval{1000};
  std::size_t buffer_size = 1 << 20;  // on_event writes out once this much is buffered
  // A fleet member's name (state on PostgreSQL; docs/audit.md, "Several
  // instances"): its chain is kept in <directory>/<instance>/ and every entry's
  // `instance` field is "<instance>/<random id per start>". Empty: a lone
  // instance, the chain in <directory> itself.
  std::string instance;
};

class AuditLog final : public core::EventListener {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix ms, for events without at_ms and file names
  // The monotonic clock that paces fsync (policy interval); steady_clock by default.
  using MonotonicClock = std::function<std::chrono::steady_clock::time_point()>;

  // Creates the folder, takes its writer lock (one writer per folder) and
  // continues the chain from the last entry on disk. After a torn last line
  // (a crash mid-write) the current file is set aside and the new one starts
  // with a `chain_resumed` entry. Throws std::runtime_error when the folder
  // cannot be used, another process writes it, or the last complete entry on
  // disk fails its own hash (the writer never continues a chain it can't trust).
  explicit AuditLog(AuditSettings settings);
  AuditLog(AuditSettings settings, ServiceIdentity identity, Clock clock = {}, MonotonicClock monotonic = {});
  ~AuditLog() override;  // flushes and syncs
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void on_event(const core::Event& event) noexcept override;
  // One entry for the whole batch (docs/audit.md, "Batch entries").
  void on_batch(const core::EventBatch& batch) noexcept override;
  void flush() noexcept override;

  // False after a failed write until a later write succeeds; what failed is in
  // last_error(). Unwritten entries are kept and retried on the next flush.
  bool healthy() const noexcept { return healthy_.load(); }
  std::string last_error() const;

  struct Stats {
    std::uint64_t entries = 0;
    std::uint64_t writes = 0;
    std::uint64_t syncs = 0;
    std::uint64_t rotations = 0;
    std::uint64_t write_errors = 0;
  };
  Stats stats() const;
  // The last entry appended (buffered or written): its seq and line hash, the
  // values `audit verify --head SEQ:HASH` checks against.
  std::int64_t last_seq() const;
  std::string head_hash() const;

 private:
  void resume_chain();
  void append(std::string_view kind, const core::Event& event) noexcept;
  void append_body(const std::string& body) noexcept;
  void write_out(bool force_sync) noexcept;
  void open_current();
  void rotate(std::int64_t now_ms);
  void sync_dir();
  void fail(const std::string& what) noexcept;

  AuditSettings settings_;
  ServiceIdentity identity_;
  Clock clock_;
  MonotonicClock monotonic_;
  std::filesystem::path current_path_;
  int lock_fd_ = -1;

  // Chain state and the buffer; held briefly by on_event.
  mutable std::mutex buffer_mutex_;
  std::int64_t next_seq_ = 1;
  std::string prev_;
  std::string buffer_;
  std::uint64_t entries_ = 0;

  // The file; held by whoever writes out, so buffers reach it in seq order.
  mutable std::mutex write_mutex_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::int64_t file_first_seq_ = 0;
  std::string unwritten_;  // taken from the buffer, not yet fully written
  // None until the first sync: the monotonic clock starts near zero at boot,
  // so its epoch is no "long ago" (the first write is synced at once).
  std::optional<std::chrono::steady_clock::time_point> last_sync_;
  bool dirty_ = false;     // written since the last sync
  bool mid_line_ = false;  // a failed write stopped inside a line: no rotation until it is finished
  std::uint64_t writes_ = 0, syncs_ = 0, rotations_ = 0, write_errors_ = 0;

  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::atomic<bool> healthy_{true};
};

}  // namespace reportbridge::audit
