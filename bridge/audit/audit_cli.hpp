#pragma once
// `reportbridge audit verify` and `reportbridge audit show`, for bridge/app/cli.cpp.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace reportbridge::audit {

// The usage text of the audit verbs.
const char* audit_usage();

// Runs `audit <args...>` (args are the words after "audit", without the
// `--config FILE` the app has already used to find `audit_dir`). `audit_dir` is the
// configured folder; `--dir DIR` overrides it. Exit codes: 0 ok, 1 tampered or
// broken chain (verify), nothing found (show) or I/O failure, 2 bad command line.
int run_audit_command(const std::vector<std::string>& args, const std::filesystem::path& audit_dir,
                      std::ostream& out, std::ostream& err);

}  // namespace reportbridge::audit
