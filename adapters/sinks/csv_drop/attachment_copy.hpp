#pragma once
// Streams an attachment's bytes in 64 KiB chunks, hashing them with SHA-256 and
// optionally copying them to an open destination file. Memory use stays flat
// whatever the file size (videos).
#include <cstdint>
#include <filesystem>
#include <string>

#include "adapters/sinks/csv_drop/durable_file.hpp"

namespace reportbridge::csv_drop {

inline constexpr std::size_t kCopyChunkBytes = 64 * 1024;

struct StreamResult {
  enum class Status {
    ok,           // read to the end; bytes and sha256 are set
    unavailable,  // source missing, not a regular file, or cannot be opened
    too_large,    // more than max_bytes (checked before and while reading)
  };
  Status status = Status::unavailable;
  std::uint64_t bytes = 0;
  std::string sha256;  // lowercase hex
};

// Reads `source` to the end computing its SHA-256, writing every chunk to
// `destination` when it is open. Source problems are returned as a status;
// read errors part-way and destination write errors throw std::system_error
// (transient I/O: the caller retries the batch).
StreamResult stream_with_sha256(const std::filesystem::path& source, const FileHandle& destination,
                                const std::filesystem::path& destination_path,
                                std::uint64_t max_bytes);

}  // namespace reportbridge::csv_drop
