#include "bridge/core/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace reportbridge::core {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Overwrites a buffer that held secret bytes (not optimised away).
void wipe(void* p, std::size_t n) {
  volatile unsigned char* b = static_cast<volatile unsigned char*>(p);
  while (n--) *b++ = 0;
}

}  // namespace

SecretFile read_secret_file(const std::filesystem::path& path, const std::string& what, std::size_t max_bytes) {
  const std::string where = what + " " + path.string() + ": ";
  // O_NONBLOCK: opening a FIFO must not hang; the S_ISREG check refuses it.
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (fd.fd < 0) throw SecretFileError(where + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw SecretFileError(where + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw SecretFileError(where + "not a regular file");
  const mode_t mode = st.st_mode & 07777;
  const bool group_ok = (mode & 070) == 0 || ((mode & 070) == 040 && st.st_gid == ::getegid());
  if ((mode & 007) != 0 || !group_ok)
    throw SecretFileError(where + "must not be accessible by others, nor by a group other than the service's " +
                          "(chmod 600, or 640 with the service's group)");
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    throw SecretFileError(where + "must be owned by the service's user or by root");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw SecretFileError(where + "larger than " + std::to_string(max_bytes) + " bytes: not a secret");
  SecretFile out;
  out.inode = static_cast<std::uint64_t>(st.st_ino);
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      wipe(out.content.data(), out.content.size());
      throw SecretFileError(where + std::strerror(err));
    }
    if (n == 0) break;
    if (out.content.size() + static_cast<std::size_t>(n) > max_bytes) {
      wipe(buf, sizeof buf);
      wipe(out.content.data(), out.content.size());
      throw SecretFileError(where + "larger than " + std::to_string(max_bytes) + " bytes: not a secret");
    }
    out.content.append(buf, static_cast<std::size_t>(n));
  }
  wipe(buf, sizeof buf);
  if (out.content.empty()) throw SecretFileError(where + "is empty");
  return out;
}

void check_secret_file(const std::filesystem::path& path, const std::string& what, std::size_t max_bytes) {
  SecretFile s = read_secret_file(path, what, max_bytes);
  wipe(s.content.data(), s.content.size());
}

}  // namespace reportbridge::core
