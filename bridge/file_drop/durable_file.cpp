#include "bridge/file_drop/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

namespace reportbridge::file_drop {

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

void throw_errno(const char* operation, const std::filesystem::path& path) {
  const int err = errno;
  throw std::system_error(err, std::generic_category(), std::string(operation) + " " + path.string());
}

FileHandle create_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw_errno("open", path);
  return FileHandle(fd);
}

FileHandle open_for_reading(const std::filesystem::path& path) noexcept {
  // O_NONBLOCK: a FIFO planted where a file should be cannot hang the open
  // (callers then refuse anything but a regular file).
  return FileHandle(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
}

void write_all(const FileHandle& file, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(file.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void sync_and_close(FileHandle& file, const std::filesystem::path& path) {
  if (::fsync(file.get()) != 0) throw_errno("fsync", path);
  if (::close(file.release()) != 0) throw_errno("close", path);
}

void fsync_directory(const std::filesystem::path& directory) {
  FileHandle dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.is_open()) throw_errno("open directory", directory);
  if (::fsync(dir.get()) != 0) throw_errno("fsync directory", directory);
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) throw_errno("rename to", to);
}

void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  rename_file(from, to);
  fsync_directory(to.has_parent_path() ? to.parent_path() : std::filesystem::path("."));
}

void publish_file(const std::filesystem::path& temp, const std::filesystem::path& final_path,
                  std::string_view content) {
  try {
    FileHandle file = create_file(temp);
    write_all(file, content, temp);
    sync_and_close(file, temp);
    rename_durably(temp, final_path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw;
  }
}

}  // namespace reportbridge::file_drop
