#pragma once
// Helpers shared by the audit tests: writing events, reading lines back.
#include <filesystem>
#include <string>
#include <vector>

#include "bridge/audit/audit_log.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::audit::test {

inline core::Event event(core::EventKind kind, std::string submission, std::int64_t at_ms, std::string target = "",
                         std::string reference = "") {
  core::Event e;
  e.kind = kind;
  e.submission_id = std::move(submission);
  e.version = 1;
  e.at_ms = at_ms;
  e.target = std::move(target);
  e.reference = std::move(reference);
  return e;
}

inline AuditSettings settings(const std::filesystem::path& dir, std::uint64_t max_file_size = 64ULL << 20) {
  AuditSettings s;
  s.directory = dir;
  s.max_file_size = max_file_size;
  s.fsync = FsyncPolicy::never;
  return s;
}

inline ServiceIdentity identity() {
  ServiceIdentity id;
  id.name = "reportbridge-test";
  id.host = "testhost";
  id.pid = 4242;
  id.instance = "0123456789abcdef";
  return id;
}

// Writes `n` events for submissions s0..s(n-1) at 1000 ms apart from `t0`.
inline void write_events(const std::filesystem::path& dir, int n, std::int64_t t0 = 1'700'000'000'000,
                         std::uint64_t max_file_size = 64ULL << 20, int first = 0) {
  AuditLog log(settings(dir, max_file_size), identity(), [] { return 1'700'000'000'000LL; });
  for (int i = first; i < first + n; ++i) {
    log.on_event(event(core::EventKind::collected, "s" + std::to_string(i), t0 + i * 1000LL));
    if (i % 7 == 6) log.flush();
  }
}

inline std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::vector<std::string> out;
  std::string data = testing::read_file(file), cur;
  for (char c : data) {
    if (c == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);  // a torn tail, if any
  return out;
}

inline void write_lines(const std::filesystem::path& file, const std::vector<std::string>& lines) {
  std::string data;
  for (const auto& l : lines) data += l + "\n";
  testing::write_file(file, data);
}

}  // namespace reportbridge::audit::test
