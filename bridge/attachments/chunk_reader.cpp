#include "bridge/attachments/chunk_reader.hpp"

#include <vector>

#include "bridge/core/progress.hpp"

namespace reportbridge::attachments {

FileChunkReader::FileChunkReader(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw AttachmentError(ErrorCode::unavailable, "attachment is missing or not a regular file");
  file_.reset(std::fopen(path.c_str(), "rb"));
  if (!file_) throw AttachmentError(ErrorCode::unavailable, "attachment cannot be opened");
}

std::size_t FileChunkReader::read(char* buffer, std::size_t size) {
  const std::size_t n = std::fread(buffer, 1, size, file_.get());
  if (n < size && std::ferror(file_.get()))
    throw AttachmentError(ErrorCode::unavailable, "attachment read failed");
  return n;
}

std::string copy_verified(ChunkReader& in, const core::AttachmentRef& ref, const Limits& limits,
                          const ChunkSink& out) {
  StreamVerifier verifier(ref, limits);
  std::vector<char> buffer(kChunkBytes);
  while (std::size_t n = in.read(buffer.data(), buffer.size())) {
    verifier.update(buffer.data(), n);
    if (out) out(buffer.data(), n);
    core::progress();  // the watchdog's heartbeat: a long download is not a stuck one
  }
  return verifier.finish();
}

}  // namespace reportbridge::attachments
