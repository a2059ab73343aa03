#include "bridge/service/journal_log.hpp"

#include <spdlog/logger.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/temp_dir.hpp"

using namespace reportbridge;

namespace {

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

TEST_CASE("journal sink prefixes each line with its syslog priority") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    spdlog::logger logger("t", service::make_journal_sink(fds[1]));
    logger.set_level(spdlog::level::trace);
    logger.critical("disk gone");
    logger.error("delivery failed target={}", "npt");
    logger.warn("late row");
    logger.info("ingest read=5");
    logger.debug("detail");
    logger.trace("more");
    logger.info("two\nlines");
  }
  ::close(fds[1]);
  CHECK(drain(fds[0]) ==
        "<2>disk gone\n<3>delivery failed target=npt\n<4>late row\n<6>ingest read=5\n<7>detail\n"
        "<7>more\n<6>two lines\n");
  ::close(fds[0]);
}

TEST_CASE("journal sink puts a fleet member's name before each message") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    spdlog::logger logger("t", service::make_journal_sink(fds[1], "instance=bridge-a "));
    logger.warn("late row");
    logger.info("100% {}", "done");
  }
  ::close(fds[1]);
  CHECK(drain(fds[0]) == "<4>instance=bridge-a late row\n<6>instance=bridge-a 100% done\n");
  ::close(fds[0]);
}

TEST_CASE("journal stream is recognised by device and inode") {
  testing::TempDir dir("rbjournal");
  testing::write_file(dir / "log", "");
  FILE* f = std::fopen((dir / "log").c_str(), "w");
  REQUIRE(f);
  const int fd = ::fileno(f);
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  const std::string right = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", right.c_str(), 1);
  CHECK(service::is_journal_stream(fd));
  const std::string wrong = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", wrong.c_str(), 1);
  CHECK_FALSE(service::is_journal_stream(fd));
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  CHECK_FALSE(service::is_journal_stream(fd));
  ::unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(service::is_journal_stream(fd));
  std::fclose(f);
}
