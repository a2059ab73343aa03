#include "bridge/core/bounded_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace reportbridge::core {

BoundedRead read_bounded(const std::filesystem::path& path, std::size_t max_bytes) {
  BoundedRead r;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    r.error = std::strerror(errno);
    return r;
  }
  std::string content;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > max_bytes) {
      r.too_large = true;
      r.content = std::move(content);  // what was read: over max_bytes, under max_bytes + 64 KiB
      ::close(fd);
      return r;
    }
  }
  ::close(fd);
  r.content = std::move(content);
  return r;
}

std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace reportbridge::core
