#pragma once
// Run a child process (the real reportbridge binary) and collect its output.
#include <string>
#include <vector>
#include <sys/types.h>

namespace reportbridge::testing {

struct ProcessResult {
  int exit_code = -1;   // -1 when killed by a signal
  int signal = 0;
  std::string out;      // stdout
  std::string err;      // stderr
};

// Runs argv[0] with the arguments and waits for it.
ProcessResult run_process(const std::vector<std::string>& argv);

// Starts a process in the background; stdout/stderr go to the given files.
pid_t spawn_process(const std::vector<std::string>& argv, const std::string& out_file,
                    const std::string& err_file);

// Waits for a background process; returns its result (exit code or signal).
ProcessResult wait_process(pid_t pid);

}  // namespace reportbridge::testing
