#include "bridge/audit/audit_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "bridge/audit/audit_entry.hpp"

namespace reportbridge::audit {

namespace {

std::optional<std::int64_t> leading_number(std::string_view s) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 18) n = n * 10 + (s[i++] - '0');
  if (i == 0) return std::nullopt;
  return n;
}

}  // namespace

std::vector<AuditFile> list_audit_files(const std::filesystem::path& dir) {
  std::vector<AuditFile> rotated;
  std::optional<AuditFile> current;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == kCurrentFileName) {
      current = AuditFile{e.path(), 0, true};
      continue;
    }
    if (!name.starts_with("audit-") || !name.ends_with(".jsonl")) continue;
    auto seq = leading_number(std::string_view(name).substr(6));
    if (!seq) continue;
    rotated.push_back({e.path(), *seq, false});
  }
  std::sort(rotated.begin(), rotated.end(), [](const AuditFile& a, const AuditFile& b) {
    if (a.first_seq != b.first_seq) return a.first_seq < b.first_seq;
    return a.path.filename() < b.path.filename();
  });
  if (current) rotated.push_back(*current);
  return rotated;
}

std::vector<AuditChain> list_audit_chains(const std::filesystem::path& dir) {
  std::vector<AuditChain> out;
  if (!list_audit_files(dir).empty()) out.push_back({"", dir});
  std::vector<AuditChain> named;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    if (list_audit_files(e.path()).empty() && !std::filesystem::exists(e.path() / kLockFileName)) continue;
    named.push_back({e.path().filename().string(), e.path()});
  }
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.instance < b.instance; });
  out.insert(out.end(), named.begin(), named.end());
  return out;
}

std::string rotated_file_name(std::int64_t first_seq, std::int64_t now_ms) {
  std::string t = format_time(now_ms);  // 2025-03-01T10:00:00.123Z
  std::string compact;
  for (char c : t)
    if (c != '-' && c != ':') compact.push_back(c);
  char seq[32];
  std::snprintf(seq, sizeof seq, "%012lld", static_cast<long long>(first_seq));
  return std::string("audit-") + seq + "-" + compact + ".jsonl";
}

std::optional<std::int64_t> first_seq_of(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[40];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  std::string_view s(buf, static_cast<std::size_t>(n));
  constexpr std::string_view kPrefix = "{\"seq\":";
  if (!s.starts_with(kPrefix)) return std::nullopt;
  return leading_number(s.substr(kPrefix.size()));
}

std::string read_whole_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  std::string data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw std::runtime_error("cannot read " + file.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

}  // namespace reportbridge::audit
