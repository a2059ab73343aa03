#pragma once
// The command line: verbs run, once, check, preview, status. Exit codes are
// documented in docs/cli.md and `reportbridge --help`.
namespace reportbridge::app {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,       // runtime failure (I/O, database)
  kExitUsage = 2,         // bad command line
  kExitConfigInvalid = 3, // check found problems, or the config could not be loaded
  kExitPreviewRejected = 4, // preview: the submission would be rejected or quarantined
};

int main(int argc, char** argv);

}  // namespace reportbridge::app
