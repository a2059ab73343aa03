#include "tests/support/pg_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bridge/pg_store/pg.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {

namespace {

std::filesystem::path find_bindir() {
  if (const char* d = std::getenv("REPORTBRIDGE_PG_BINDIR"); d && *d) return d;
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec))
    if (std::filesystem::exists(e.path() / "bin" / "initdb") && std::filesystem::exists(e.path() / "bin" / "pg_ctl"))
      found.push_back(e.path() / "bin");
  if (found.empty()) return {};
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::atoi(a.parent_path().filename().c_str()) < std::atoi(b.parent_path().filename().c_str());
  });
  return found.back();
}

bool required() {
  const char* r = std::getenv("REPORTBRIDGE_REQUIRE_POSTGRES");
  return r && std::string(r) == "1";
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("PgServer: no free loopback port");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Runs a PostgreSQL tool as `postgres` when we are root (initdb and the server refuse root).
ProcessResult run_pg(const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (::geteuid() == 0) argv = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

std::unique_ptr<PgServer>& the_server() {
  static std::unique_ptr<PgServer> server;
  return server;
}

}  // namespace

std::string PgServer::unavailable_reason() {
  return "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or "
         "$REPORTBRIDGE_PG_BINDIR: install postgresql-15 (scripts/install-deps.sh) to run the PostgreSQL tests";
}

PgServer* PgServer::instance() {
  static bool tried = false;
  if (!tried) {
    tried = true;
    if (find_bindir().empty()) {
      if (required()) throw std::runtime_error("REPORTBRIDGE_REQUIRE_POSTGRES=1 but " + unavailable_reason());
      return nullptr;
    }
    the_server().reset(new PgServer());
  }
  return the_server().get();
}

PgServer::PgServer() : bindir_(find_bindir()) {
  char tmpl[] = "/tmp/rbpg-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("PgServer: mkdtemp failed");
  dir_ = tmpl;
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (uid == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("PgServer: running as root but there is no `postgres` user");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (::chown(dir_.c_str(), uid, gid) != 0) throw std::runtime_error("PgServer: cannot chown " + dir_.string());
  }
  ::chmod(dir_.c_str(), 0755);

  // The reaper: its stdin is a pipe only this process writes to; at EOF (we
  // exited, however) it stops the server and removes the folder.
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("PgServer: pipe failed");
  const std::string stop = (::geteuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : "") +
                           (bindir_ / "pg_ctl").string() + " -D \"$1/data\" stop -m immediate -w";
  const std::string script = "cat >/dev/null; " + stop + " >/dev/null 2>&1; rm -rf \"$1\"";
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("PgServer: fork failed");
  if (pid == 0) {
    ::setsid();
    ::dup2(fds[0], 0);
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), "pg-reaper", dir_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);  // children we spawn must not keep it open
  reaper_fd_ = fds[1];
  reaper_pid_ = pid;

  // Local (socket) connections are trusted; TCP ones need the password.
  write_file(dir_ / "pwfile", password() + "\n");
  if (::chown((dir_ / "pwfile").c_str(), uid, gid) != 0) throw std::runtime_error("PgServer: cannot chown pwfile");
  auto r = run_pg({(bindir_ / "initdb").string(), "-D", (dir_ / "data").string(), "-U", "postgres", "--no-sync",
                   "--no-instructions", "-E", "UTF8", "--locale=C", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--pwfile=" + (dir_ / "pwfile").string()});
  if (r.exit_code != 0) throw std::runtime_error("PgServer: initdb failed: " + r.err + r.out);
  start();
}

void PgServer::start() {
  std::string last_error;
  const bool keep_port = port_ != 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (!keep_port) port_ = free_port();
    // Tests never need durability across a power cut: no fsync.
    const std::string opts = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_.string() +
                             " -c fsync=off -c full_page_writes=off -c max_connections=60"
                             " -c shared_buffers=16MB";
    auto r = run_pg({(bindir_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-l",
                     (dir_ / "server.log").string(), "-w", "-t", "60", "-o", opts, "start"});
    if (r.exit_code == 0) return;
    last_error = r.err + r.out + read_file(dir_ / "server.log");
    if (keep_port) ::usleep(200 * 1000);
  }
  throw std::runtime_error("PgServer: the server did not start: " + last_error);
}

void PgServer::stop() {
  run_pg({(bindir_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "stop", "-m", "immediate", "-w"});
}

void PgServer::restart() {
  stop();
  start();
}

PgServer::~PgServer() {
  if (reaper_fd_ >= 0) ::close(reaper_fd_);  // the reaper stops the server and removes the folder
  if (reaper_pid_ > 0) {
    int status = 0;
    ::waitpid(reaper_pid_, &status, 0);
  }
}

std::string PgServer::conninfo(const std::string& database) const {
  return "host=" + dir_.string() + " port=" + std::to_string(port_) + " dbname=" + database + " user=postgres";
}

std::string PgServer::tcp_conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=postgres";
}

std::string PgServer::create_database() {
  const std::string name = "rbtest_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  pg::Connection admin(conninfo("postgres") + " sslmode=disable");
  admin.exec_script("CREATE DATABASE " + name);
  return name;
}

}  // namespace reportbridge::testing
