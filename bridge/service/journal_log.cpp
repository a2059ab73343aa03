#include "bridge/service/journal_log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace reportbridge::service {

namespace {

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JournalSink(int fd, const std::string& prefix) : fd_(fd) {
    std::string pattern;
    for (char c : prefix) pattern += c == '%' ? std::string("%%") : std::string(1, c);
    set_formatter_(std::make_unique<spdlog::pattern_formatter>(pattern + "%v", spdlog::pattern_time_type::local, ""));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line = "<" + std::to_string(journal_priority(msg.level)) + ">";
    // One entry per message: the journal splits on newlines.
    for (char c : std::string_view(formatted.data(), formatted.size())) line += c == '\n' ? ' ' : c;
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere to log to: drop the line
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

 private:
  int fd_;
};

}  // namespace

int journal_priority(int level) {
  switch (level) {
    case spdlog::level::critical: return 2;
    case spdlog::level::err: return 3;
    case spdlog::level::warn: return 4;
    case spdlog::level::info: return 6;
    default: return 7;
  }
}

bool is_journal_stream(int fd) {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(int fd, const std::string& prefix) {
  return std::make_shared<JournalSink>(fd, prefix);
}

}  // namespace reportbridge::service
