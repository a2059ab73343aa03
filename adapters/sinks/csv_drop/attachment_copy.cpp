#include "adapters/sinks/csv_drop/attachment_copy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "bridge/core/sha256.hpp"

namespace reportbridge::csv_drop {

StreamResult stream_with_sha256(const std::filesystem::path& source, const FileHandle& destination,
                                const std::filesystem::path& destination_path,
                                std::uint64_t max_bytes) {
  StreamResult result;
  if (source.empty()) return result;
  FileHandle in = open_for_reading(source);
  if (!in.is_open()) return result;
  struct stat st {};
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) return result;
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    result.status = StreamResult::Status::too_large;
    result.bytes = static_cast<std::uint64_t>(st.st_size);
    return result;
  }
  core::Sha256 sha;
  std::vector<char> buffer(kCopyChunkBytes);
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read attachment", source);
    }
    if (n == 0) break;
    result.bytes += static_cast<std::uint64_t>(n);
    if (result.bytes > max_bytes) {  // the file grew while we read it
      result.status = StreamResult::Status::too_large;
      return result;
    }
    sha.update(buffer.data(), static_cast<std::size_t>(n));
    if (destination.is_open())
      write_all(destination, std::string_view(buffer.data(), static_cast<std::size_t>(n)),
                destination_path);
  }
  result.sha256 = sha.hex_digest();
  result.status = StreamResult::Status::ok;
  return result;
}

}  // namespace reportbridge::csv_drop
