// The one rule for every secret file (issue #15 item 6): password files, the
// HTTP token file, the reporter key, pseudonymisation keys, TLS client keys.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "bridge/core/secret_file.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;
namespace fs = std::filesystem;

namespace {
void set_mode(const fs::path& p, mode_t m) { REQUIRE(::chmod(p.c_str(), m) == 0); }
}  // namespace

TEST_CASE("a secret file must be a private regular file: 0600 and 0400 pass") {
  TempDir dir;
  const auto f = dir / "pw";
  write_file(f, "hunter2\n");
  for (mode_t m : {0600, 0400}) {
    set_mode(f, m);
    auto s = core::read_secret_file(f, "secret file");
    CHECK(s.content == "hunter2\n");
    CHECK(s.size == 8);
    CHECK(s.inode != 0);
  }
}

TEST_CASE("a secret file readable by others, or writable by the group, is refused, also through a symlink") {
  TempDir dir;
  const auto f = dir / "pw";
  write_file(f, "hunter2");
  for (mode_t m : {0644, 0604, 0602, 0601, 0660, 0620, 0610, 0666, 0700 | 004}) {
    INFO(std::oct << m);
    set_mode(f, m);
    CHECK_THROWS_WITH(core::read_secret_file(f, "secret file"),
                      Catch::Contains("secret file " + f.string() + ": must not be accessible by others"));
  }
  // A symlink is judged by what it points at (credential folders use them).
  fs::create_symlink(f, dir / "link");
  set_mode(f, 0644);
  CHECK_THROWS_WITH(core::read_secret_file(dir / "link", "token file"), Catch::Contains("must not be accessible"));
  set_mode(f, 0600);
  CHECK(core::read_secret_file(dir / "link", "token file").content == "hunter2");
}

TEST_CASE("group read (0640) is accepted only for the service's own group") {
  TempDir dir;
  const auto f = dir / "pw";
  write_file(f, "hunter2");
  set_mode(f, 0640);
  REQUIRE(::chown(f.c_str(), static_cast<uid_t>(-1), ::getegid()) == 0);
  CHECK(core::read_secret_file(f, "secret file").content == "hunter2");
  const gid_t other = ::getegid() == 65534 ? 0 : 65534;
  if (::chown(f.c_str(), static_cast<uid_t>(-1), other) == 0) {  // as root
    CHECK_THROWS_WITH(core::read_secret_file(f, "secret file"),
                      Catch::Contains("nor by a group other than the service's"));
  }
}

TEST_CASE("a secret file owned by another account is refused") {
  if (::geteuid() != 0) return;  // only root can give a file away
  TempDir dir;
  const auto f = dir / "pw";
  write_file(f, "hunter2");
  set_mode(f, 0600);
  REQUIRE(::chown(f.c_str(), 65534, static_cast<gid_t>(-1)) == 0);
  CHECK_THROWS_WITH(core::read_secret_file(f, "secret file"), Catch::Contains("must be owned by the service's user or by root"));
}

TEST_CASE("missing, empty, too large, a directory or a FIFO: refused, never quoted") {
  TempDir dir;
  CHECK_THROWS_WITH(core::read_secret_file(dir / "missing", "secret file"), Catch::Contains("No such file"));
  write_file(dir / "empty", "");
  set_mode(dir / "empty", 0600);
  CHECK_THROWS_WITH(core::read_secret_file(dir / "empty", "secret file"), Catch::Contains("is empty"));
  write_file(dir / "big", std::string(2000, 'z'));
  set_mode(dir / "big", 0600);
  try {
    core::read_secret_file(dir / "big", "secret file", 1000);
    FAIL("accepted a file over the limit");
  } catch (const core::SecretFileError& e) {
    CHECK_THAT(e.what(), Catch::Contains("larger than 1000 bytes"));
    CHECK(std::string(e.what()).find("zzz") == std::string::npos);
  }
  fs::create_directory(dir / "d");
  set_mode(dir / "d", 0700);
  CHECK_THROWS_WITH(core::read_secret_file(dir / "d", "secret file"), Catch::Contains("not a regular file"));
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(core::read_secret_file(dir / "fifo", "secret file"), Catch::Contains("not a regular file"));
  // The content never appears in an error.
  write_file(dir / "open", "correct horse battery staple");
  set_mode(dir / "open", 0644);
  try {
    core::check_secret_file(dir / "open", "secret file");
    FAIL("accepted an open file");
  } catch (const core::SecretFileError& e) {
    CHECK(std::string(e.what()).find("horse") == std::string::npos);
  }
}
