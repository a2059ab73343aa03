#pragma once
// The bearer token, read from a file (e.g. a systemd credential) and re-read
// whenever the file is replaced or rewritten (inode, size or mtime changed),
// so a rotated token is used without a restart. Thread-safe.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

namespace reportbridge::http_store {

class TokenFile {
 public:
  // Reads the file at once: throws std::runtime_error when it breaks the
  // secret-file rule (core::read_secret_file) or holds no usable token.
  explicit TokenFile(std::filesystem::path path);

  // The token (surrounding whitespace trimmed). Re-reads the file when it
  // changed, or always with `force`. Throws std::runtime_error when the file
  // cannot be read, is empty, or holds characters a header cannot carry.
  std::string token(bool force = false);
  // How many times the file was (re-)read.
  std::uint64_t reads() const;

 private:
  struct Stamp {
    std::uint64_t inode = 0, size = 0;
    std::int64_t mtime_ns = -1;
    bool operator==(const Stamp&) const = default;
  };

  std::filesystem::path path_;
  mutable std::mutex mutex_;
  Stamp stamp_;
  std::string token_;
  std::uint64_t reads_ = 0;
};

}  // namespace reportbridge::http_store
