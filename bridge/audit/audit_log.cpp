#include "bridge/audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "bridge/audit/audit_files.hpp"

namespace reportbridge::audit {

namespace {

std::string errno_text(const std::string& what, const std::filesystem::path& p, int err) {
  return what + " " + p.string() + ": " + std::strerror(err);
}

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Tail {
  std::optional<std::string> last_line;  // the last "\n"-terminated line, without "\n"
  std::uint64_t torn_bytes = 0;          // bytes after the last "\n"
};

// Reads backwards from the end until the last complete line is in hand.
Tail scan_tail(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(errno_text("cannot open", p, errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(errno_text("cannot stat", p, err));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t offset = size;
  std::string buf;
  Tail t;
  for (;;) {
    auto last_nl = buf.rfind('\n');
    if (last_nl != std::string::npos) {
      auto before = last_nl == 0 ? std::string::npos : buf.rfind('\n', last_nl - 1);
      if (before != std::string::npos || offset == 0) {
        std::size_t start = before == std::string::npos ? 0 : before + 1;
        t.last_line = buf.substr(start, last_nl - start);
        t.torn_bytes = buf.size() - last_nl - 1;
        break;
      }
    }
    if (offset == 0) {
      t.torn_bytes = size;
      break;
    }
    std::uint64_t chunk = std::min<std::uint64_t>(offset, 64 * 1024);
    std::string part(chunk, '\0');
    ssize_t n = ::pread(fd, part.data(), chunk, static_cast<off_t>(offset - chunk));
    if (n != static_cast<ssize_t>(chunk)) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      throw std::runtime_error(errno_text("cannot read", p, err));
    }
    offset -= chunk;
    buf.insert(0, part);
  }
  ::close(fd);
  return t;
}

std::uint64_t size_of(const std::filesystem::path& p) {
  std::error_code ec;
  auto s = std::filesystem::file_size(p, ec);
  return ec ? 0 : s;
}

std::int64_t leading_seq(std::string_view data, std::int64_t fallback) {
  constexpr std::string_view kPrefix = "{\"seq\":";
  if (!data.starts_with(kPrefix)) return fallback;
  std::int64_t n = 0;
  std::size_t i = kPrefix.size();
  if (i >= data.size() || data[i] < '0' || data[i] > '9') return fallback;
  while (i < data.size() && data[i] >= '0' && data[i] <= '9') n = n * 10 + (data[i++] - '0');
  return n;
}

}  // namespace

AuditLog::AuditLog(AuditSettings settings)
    : AuditLog(settings, ServiceIdentity::current(settings.service_name)) {}

AuditLog::AuditLog(AuditSettings settings, ServiceIdentity identity, Clock clock, MonotonicClock monotonic)
    : settings_(std::move(settings)),
      identity_(std::move(identity)),
      clock_(clock ? std::move(clock) : Clock(system_now_ms)),
      monotonic_(monotonic ? std::move(monotonic) : MonotonicClock([] { return std::chrono::steady_clock::now(); })) {
  if (settings_.directory.empty()) throw std::runtime_error("audit: no directory configured");
  if (!settings_.instance.empty()) {
    if (settings_.instance.find('/') != std::string::npos || settings_.instance.front() == '.')
      throw std::runtime_error("audit: instance name '" + settings_.instance + "' cannot name a folder");
    settings_.directory /= settings_.instance;
    identity_.instance = settings_.instance + "/" + identity_.instance;
  }
  std::error_code ec;
  std::filesystem::create_directories(settings_.directory, ec);
  if (ec) throw std::runtime_error("audit: cannot create " + settings_.directory.string() + ": " + ec.message());
  current_path_ = settings_.directory / kCurrentFileName;
  const auto lock_path = settings_.directory / kLockFileName;
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd_ < 0) throw std::runtime_error("audit: " + errno_text("cannot open", lock_path, errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err == EWOULDBLOCK)
      throw std::runtime_error("audit: another process is writing the audit trail in " +
                               settings_.directory.string());
    throw std::runtime_error("audit: " + errno_text("cannot lock", lock_path, err));
  }
  try {
    resume_chain();
  } catch (...) {
    if (fd_ >= 0) ::close(fd_);
    ::close(lock_fd_);
    throw;
  }
}

AuditLog::~AuditLog() {
  write_out(settings_.fsync != FsyncPolicy::never);
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void AuditLog::resume_chain() {
  const auto files = list_audit_files(settings_.directory);
  // The newest file with content decides whether the last write was torn; the
  // chain continues from the last complete line, wherever it is.
  std::optional<AuditFile> newest;
  std::uint64_t torn = 0;
  std::optional<std::string> anchor;
  std::filesystem::path anchor_file;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    if (size_of(it->path) == 0) continue;
    Tail t = scan_tail(it->path);
    if (!newest) {
      newest = *it;
      torn = t.torn_bytes;
    }
    if (t.last_line) {
      anchor = std::move(t.last_line);
      anchor_file = it->path;
      break;
    }
  }
  std::int64_t anchor_seq = 0;
  if (anchor) {
    auto parsed = parse_entry(*anchor);
    if (!parsed.entry)
      throw std::runtime_error("audit: the last entry of " + anchor_file.string() + " is not valid (" +
                               parsed.error + "); the chain cannot be continued from it. Run "
                               "`reportbridge audit verify` and see docs/audit.md, \"Recovery\"");
    anchor_seq = parsed.entry->seq;
    next_seq_ = anchor_seq + 1;
    prev_ = line_hash(*anchor);
  } else {
    next_seq_ = 1;
    prev_ = std::string(kGenesis);
  }

  std::string torn_name;
  std::uint64_t torn_after_line = 0;
  if (torn > 0) {
    const std::string data = read_whole_file(newest->path);
    torn_after_line = static_cast<std::uint64_t>(std::count(data.begin(), data.end(), '\n'));
    torn_name = newest->path.filename().string();
    if (newest->current) {
      // Set the torn file aside untouched (evidence for `verify`); never append after a fragment.
      std::int64_t first = leading_seq(data, next_seq_);
      std::int64_t now = clock_();
      std::filesystem::path aside;
      do aside = settings_.directory / rotated_file_name(first, now++);
      while (std::filesystem::exists(aside));
      if (::rename(current_path_.c_str(), aside.c_str()) != 0)
        throw std::runtime_error("audit: " + errno_text("cannot set aside", current_path_, errno));
      torn_name = aside.filename().string();
      sync_dir();
    }
  }
  open_current();
  if (torn > 0) {
    core::Event e;
    e.reason_code = "torn_tail";
    e.detail = torn_name + " ends with " + std::to_string(torn) + " byte(s) of an incomplete entry after " +
               std::to_string(torn_after_line) + " complete line(s) (a write cut short, e.g. by a crash); the chain resumes " +
               (anchor ? "after seq " + std::to_string(anchor_seq) : std::string("from genesis"));
    append(kChainResumed, e);
    write_out(true);
    if (!healthy_.load()) throw std::runtime_error("audit: cannot write: " + last_error());
    spdlog::warn("audit: {}", e.detail);
  }
}

void AuditLog::open_current() {
  fd_ = ::open(current_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::runtime_error("audit: " + errno_text("cannot open", current_path_, errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw std::runtime_error("audit: " + errno_text("cannot stat", current_path_, errno));
  size_ = static_cast<std::uint64_t>(st.st_size);
  file_first_seq_ = size_ > 0 ? first_seq_of(current_path_).value_or(0) : 0;
  mid_line_ = false;
}

void AuditLog::sync_dir() {
  if (settings_.fsync == FsyncPolicy::never) return;
  int dfd = ::open(settings_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  ::fsync(dfd);
  ::close(dfd);
}

void AuditLog::rotate(std::int64_t now_ms) {
  if (settings_.fsync != FsyncPolicy::never && dirty_ && ::fdatasync(fd_) == 0) {
    ++syncs_;
    dirty_ = false;
  }
  ::close(fd_);
  fd_ = -1;
  std::filesystem::path rotated;
  do rotated = settings_.directory / rotated_file_name(file_first_seq_, now_ms++);
  while (std::filesystem::exists(rotated));
  if (::rename(current_path_.c_str(), rotated.c_str()) != 0)
    throw std::runtime_error(errno_text("cannot rotate", current_path_, errno));
  sync_dir();
  ++rotations_;
  open_current();
}

void AuditLog::on_event(const core::Event& event) noexcept { append(core::to_string(event.kind), event); }

void AuditLog::on_batch(const core::EventBatch& batch) noexcept {
  if (batch.items.empty()) return;
  try {
    const std::int64_t at = batch.at_ms > 0 ? batch.at_ms : clock_();
    append_body(encode_batch_body(core::to_string(batch.kind), batch, at, identity_));
  } catch (const std::exception& e) {
    fail(std::string("cannot record an event: ") + e.what());
  } catch (...) {
    fail("cannot record an event");
  }
}

void AuditLog::append(std::string_view kind, const core::Event& event) noexcept {
  try {
    const std::int64_t at = event.at_ms > 0 ? event.at_ms : clock_();
    append_body(encode_body(kind, event, at, identity_));
  } catch (const std::exception& e) {
    fail(std::string("cannot record an event: ") + e.what());
  } catch (...) {
    fail("cannot record an event");
  }
}

void AuditLog::append_body(const std::string& body) noexcept {
  try {
    bool full;
    {
      std::lock_guard lock(buffer_mutex_);
      prev_ = seal_into(buffer_, next_seq_, body, prev_);
      ++next_seq_;
      buffer_.push_back('\n');
      ++entries_;
      full = buffer_.size() >= settings_.buffer_size;
    }
    if (full) write_out(false);
  } catch (const std::exception& e) {
    fail(std::string("cannot record an event: ") + e.what());
  } catch (...) {
    fail("cannot record an event");
  }
}

void AuditLog::flush() noexcept { write_out(false); }

void AuditLog::write_out(bool force_sync) noexcept {
  std::lock_guard wlock(write_mutex_);
  try {
    {
      std::lock_guard lock(buffer_mutex_);
      if (unwritten_.empty())
        unwritten_.swap(buffer_);
      else
        unwritten_ += buffer_;
      buffer_.clear();
    }
    if (!unwritten_.empty()) {
      if (fd_ < 0) open_current();
      if (!mid_line_ && size_ > 0 && size_ + unwritten_.size() > settings_.max_file_size) rotate(clock_());
      if (size_ == 0) file_first_seq_ = leading_seq(unwritten_, 0);
      std::size_t off = 0;
      int err = 0;
      while (off < unwritten_.size()) {
        ssize_t n = ::write(fd_, unwritten_.data() + off, unwritten_.size() - off);
        if (n < 0) {
          if (errno == EINTR) continue;
          err = errno;
          break;
        }
        if (n == 0) {
          err = EIO;
          break;
        }
        off += static_cast<std::size_t>(n);
      }
      if (off > 0) {
        mid_line_ = unwritten_[off - 1] != '\n';
        size_ += off;
        dirty_ = true;
        ++writes_;
        unwritten_.erase(0, off);
        // A large batch entry leaves a large buffer behind: give it back.
        if (unwritten_.empty() && unwritten_.capacity() > (256u << 10)) std::string().swap(unwritten_);
      }
      if (err) {
        ++write_errors_;
        fail(errno_text("cannot write", current_path_, err) + " (" + std::to_string(unwritten_.size()) +
             " bytes kept for the next attempt)");
        return;
      }
    }
    const auto now = monotonic_();
    const bool due = settings_.fsync == FsyncPolicy::always ||
                     (settings_.fsync == FsyncPolicy::interval &&
                      (!last_sync_ || now - *last_sync_ >= settings_.fsync_interval));
    if (dirty_ && fd_ >= 0 && (force_sync || due) && settings_.fsync != FsyncPolicy::never) {
      if (::fdatasync(fd_) != 0) {
        ++write_errors_;
        fail(errno_text("cannot sync", current_path_, errno));
        return;
      }
      ++syncs_;
      dirty_ = false;
      last_sync_ = now;
    }
    if (!healthy_.exchange(true)) spdlog::info("audit: writing again to {}", current_path_.string());
  } catch (const std::exception& e) {
    ++write_errors_;
    fail(e.what());
  } catch (...) {
    ++write_errors_;
    fail("unknown error while writing");
  }
}

void AuditLog::fail(const std::string& what) noexcept {
  try {
    {
      std::lock_guard lock(error_mutex_);
      last_error_ = what;
    }
    if (healthy_.exchange(false)) spdlog::error("audit: {}", what);
  } catch (...) {
    healthy_.store(false);
  }
}

std::string AuditLog::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

AuditLog::Stats AuditLog::stats() const {
  Stats s;
  {
    std::lock_guard lock(buffer_mutex_);
    s.entries = entries_;
  }
  std::lock_guard lock(write_mutex_);
  s.writes = writes_;
  s.syncs = syncs_;
  s.rotations = rotations_;
  s.write_errors = write_errors_;
  return s;
}

std::int64_t AuditLog::last_seq() const {
  std::lock_guard lock(buffer_mutex_);
  return next_seq_ - 1;
}

std::string AuditLog::head_hash() const {
  std::lock_guard lock(buffer_mutex_);
  return prev_;
}

}  // namespace reportbridge::audit
