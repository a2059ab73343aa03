#pragma once
// The one rule for every file that holds a secret: SOAP `password_file` and
// `password_credential`, the HTTP store's `token_file`, `dedup.reporter_key_file`
// and a mapping's `pseudonymise: {key_file: ...}`. Checked on every read (a
// rotated token file is checked again), so a secret can never be read from a
// file that others may read or rewrite:
//
// - it is a regular file (a symlink is followed and its target judged: systemd
//   credential folders and Kubernetes secrets use them; a directory, FIFO or
//   device is refused, and opening never blocks);
// - no access at all for others (mode & 007 == 0), no write or execute for the
//   group; group read (0640) only when the file's group is the service's own
//   group (its effective gid: root:reportbridge 0640, the Debian convention
//   for a secret a service reads through its group); 0600 and 0400 always;
// - owned by the service's user or by root (a secret another account owns can
//   be rewritten by it);
// - not empty and at most `max_bytes` long.
//
// Errors name the file and the rule broken, never the content.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace reportbridge::core {

class SecretFileError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct SecretFile {
  std::string content;  // the bytes as stored (callers trim what their format allows)
  // Identity of what was read, to notice a replaced or rewritten file.
  std::uint64_t inode = 0, size = 0;
  std::int64_t mtime_ns = 0;
};

// Reads a secret under the rule above. `what` starts every message
// ("token file", "pseudonymise: key file"). Throws SecretFileError.
SecretFile read_secret_file(const std::filesystem::path& path, const std::string& what,
                            std::size_t max_bytes = 64 * 1024);

// The same checks without keeping the content (for `check`).
void check_secret_file(const std::filesystem::path& path, const std::string& what,
                       std::size_t max_bytes = 64 * 1024);

}  // namespace reportbridge::core
