#pragma once
// Reading an attachment as a stream of fixed-size chunks, from a local file or
// any other origin (the HTTP source implements ChunkReader over a socket).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include "bridge/attachments/verifier.hpp"

namespace reportbridge::attachments {

inline constexpr std::size_t kChunkBytes = 64 * 1024;

class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  // Fills up to `size` bytes; 0 at the end. Throws AttachmentError(unavailable)
  // on read errors.
  virtual std::size_t read(char* buffer, std::size_t size) = 0;
};

// A regular local file (already resolved safely, e.g. by resolve_under_root).
class FileChunkReader : public ChunkReader {
 public:
  explicit FileChunkReader(const std::filesystem::path& path);  // throws unavailable
  std::size_t read(char* buffer, std::size_t size) override;

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;
};

using ChunkSink = std::function<void(const char* data, std::size_t size)>;

// Streams `in` to `out` through one kChunkBytes buffer, verifying with a
// StreamVerifier. Returns the sha256. Throws AttachmentError (and whatever
// `out` throws); bytes already given to `out` must then be discarded.
std::string copy_verified(ChunkReader& in, const core::AttachmentRef& ref, const Limits& limits,
                          const ChunkSink& out);

}  // namespace reportbridge::attachments
