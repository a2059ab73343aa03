#pragma once
// Streams an attachment's bytes in 64 KiB chunks, hashing them with SHA-256 and
// optionally copying them to an open destination file. Memory use stays flat
// whatever the file size (videos).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "bridge/file_drop/durable_file.hpp"
#include "bridge/core/sink.hpp"

namespace reportbridge::file_drop {

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

// One attachment of a delivery item, as the file sinks (csv_drop, xml_drop)
// fetch it: `n` of `count` (1-based) names it in details.
struct AttachmentTransfer {
  const core::AttachmentRef* attachment = nullptr;
  std::size_t n = 1, count = 1;
  std::uint64_t max_bytes = 0;
  // Copy here when set (the file is created, fsynced and closed); verify only when null.
  const std::filesystem::path* destination = nullptr;
};

// Checks the declared size, resolves the attachment through `locator`, streams
// it (copying when a destination is set) and compares its SHA-256.
// Returns std::nullopt when the attachment is good, else the item's outcome:
// - retry "attachment_unavailable": the locator failed transiently
//   (attachments::AttachmentError `unavailable`, std::system_error, bad_alloc);
//   the item stays in the outbox and is tried again in a later batch;
// - reject with attachments::to_string(code) for any other AttachmentError;
// - reject "attachment_unavailable" for any other locator exception (unsafe
//   or missing path) or a source that is missing or not a regular file;
// - reject "attachment_too_large" / "attachment_mismatch".
// Details name the attachment by position only, never its path or content.
// A partial destination file is removed on every failure. Read errors part-way
// and destination write errors throw std::system_error (the caller retries the batch).
std::optional<core::DeliveryOutcome> transfer_attachment(const core::AttachmentLocator& locator,
                                                         const AttachmentTransfer& transfer);

}  // namespace reportbridge::file_drop
