#include "tests/support/process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {
namespace {

std::vector<char*> c_args(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

ProcessResult from_status(int status) {
  ProcessResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const std::string& out_file,
                    const std::string& err_file) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out, 1);
    dup2(err, 2);
    auto args = c_args(argv);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

ProcessResult wait_process(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) throw std::runtime_error("waitpid failed");
  return from_status(status);
}

ProcessResult run_process(const std::vector<std::string>& argv) {
  char out_tmpl[] = "/tmp/rbproc-out-XXXXXX";
  char err_tmpl[] = "/tmp/rbproc-err-XXXXXX";
  int o = mkstemp(out_tmpl);
  int e = mkstemp(err_tmpl);
  close(o);
  close(e);
  pid_t pid = spawn_process(argv, out_tmpl, err_tmpl);
  ProcessResult r = wait_process(pid);
  r.out = read_file(out_tmpl);
  r.err = read_file(err_tmpl);
  unlink(out_tmpl);
  unlink(err_tmpl);
  return r;
}

}  // namespace reportbridge::testing
