#pragma once
// The files of an audit trail in one folder:
//   audit.jsonl                                  the current file, appended to
//   audit-<first seq, 12 digits>-<UTC time>.jsonl  rotated files, never written again
// The order of the chain is the order of first seqs (from the names), then the
// current file; a renamed file breaks the chain and `verify` says so.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace reportbridge::audit {

inline constexpr const char* kCurrentFileName = "audit.jsonl";
inline constexpr const char* kLockFileName = ".audit.lock";

struct AuditFile {
  std::filesystem::path path;
  std::int64_t first_seq = 0;  // from the name; for the current file, 0
  bool current = false;
};

// Rotated files by first seq (then name), the current file last if it exists.
// Other files in the folder are ignored. Throws std::filesystem::filesystem_error.
std::vector<AuditFile> list_audit_files(const std::filesystem::path& dir);

// The chains of a fleet in one folder (docs/audit.md, "Several instances"):
// <dir> itself when it holds audit files (a lone instance: `instance` empty),
// then each sub-folder that holds audit files or a writer's lock, named by the
// instance that writes it, by name. Throws std::filesystem::filesystem_error.
struct AuditChain {
  std::string instance;
  std::filesystem::path dir;
};
std::vector<AuditChain> list_audit_chains(const std::filesystem::path& dir);

// "audit-000000000042-20250301T100000.123Z.jsonl"
std::string rotated_file_name(std::int64_t first_seq, std::int64_t now_ms);

// The seq of the first line of a file (its `{"seq":N` prefix), if it has one.
std::optional<std::int64_t> first_seq_of(const std::filesystem::path& file);

// The whole content of a file. Throws std::runtime_error.
std::string read_whole_file(const std::filesystem::path& file);

}  // namespace reportbridge::audit
