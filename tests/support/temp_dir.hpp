#pragma once
// A temporary folder removed when the test ends (kept when RB_KEEP_TEMP is set).
#include <filesystem>
#include <string>

namespace reportbridge::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rbtest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);
// A secret file as the bridge accepts it (core::read_secret_file): mode 0600.
void write_secret_file(const std::filesystem::path& p, const std::string& content);

}  // namespace reportbridge::testing
