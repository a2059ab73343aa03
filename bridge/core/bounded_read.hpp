#pragma once
// Reading an input whose size nobody vouches for (a config or mapping file, a
// lookup table, a schema, `preview --input`) with a cap, so a 110 MB file or
// /dev/zero gives a clear error instead of gigabytes of memory.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace reportbridge::core {

// Caps for the bridge's own inputs (bytes).
inline constexpr std::size_t kMaxConfigFileBytes = 1 << 20;   // a daemon config, a mapping file: 1 MiB
inline constexpr std::size_t kMaxLookupFileBytes = 16 << 20;  // a lookup table (CSV): 16 MiB
inline constexpr std::size_t kMaxSchemaFileBytes = 1 << 20;   // the submission schema: 1 MiB

struct BoundedRead {
  // The file's bytes; when too_large, only the first part read (more than
  // max_bytes, less than max_bytes + 64 KiB); empty when it could not be read.
  std::optional<std::string> content;
  bool too_large = false;              // more than max_bytes: reading stopped there
  std::string error;                   // why it could not be read (strerror), when not too large
};

// Reads at most max_bytes + 1 bytes of `path` (any kind of file: a FIFO or
// /dev/zero stops at the cap too).
BoundedRead read_bounded(const std::filesystem::path& path, std::size_t max_bytes);

// "1 MiB", "16 MiB", "512 KiB", "900 bytes".
std::string size_text(std::size_t bytes);

}  // namespace reportbridge::core
