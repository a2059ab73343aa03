#pragma once
// Small POSIX helpers for crash-safe publishing: write a temp file, fsync it,
// rename it into place, fsync the directory. Failures throw std::system_error
// whose message names the operation and path (never file contents).
#include <filesystem>
#include <string_view>

namespace reportbridge::file_drop {

// An owned file descriptor.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(FileHandle&& other) noexcept : fd_(other.release()) {}
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(const char* operation, const std::filesystem::path& path);

// Creates or truncates `path` for writing (mode 0666 & ~umask).
FileHandle create_file(const std::filesystem::path& path);
// Opens an existing file read-only; returns a closed handle and sets errno on failure.
FileHandle open_for_reading(const std::filesystem::path& path) noexcept;

void write_all(const FileHandle& file, std::string_view data, const std::filesystem::path& path);
// fsync then close, both checked.
void sync_and_close(FileHandle& file, const std::filesystem::path& path);
void fsync_directory(const std::filesystem::path& directory);
// rename(2) only; throws on failure.
void rename_file(const std::filesystem::path& from, const std::filesystem::path& to);
// rename(2) then fsync of the destination's directory.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);
// Writes `content` to `temp`, fsyncs it and renames it to `final_path` durably.
// On failure the temp file is removed and the exception rethrown.
void publish_file(const std::filesystem::path& temp, const std::filesystem::path& final_path,
                  std::string_view content);

}  // namespace reportbridge::file_drop
