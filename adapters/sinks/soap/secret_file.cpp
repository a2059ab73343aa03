#include "adapters/sinks/soap/secret_file.hpp"

#include <cstdlib>
#include <stdexcept>

#include "bridge/core/secret_file.hpp"

namespace reportbridge::soap {

std::string read_secret_file(const std::filesystem::path& path) {
  std::string s;
  try {
    s = core::read_secret_file(path, "secret file", 64 * 1024).content;
  } catch (const core::SecretFileError& e) {
    throw std::runtime_error(e.what());
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) throw std::runtime_error("secret file " + path.string() + " is empty");
  return s;
}

std::filesystem::path credential_path(const std::string& name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0')
    throw std::runtime_error("credential '" + name + "': CREDENTIALS_DIRECTORY is not set");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw std::runtime_error("credential name '" + name + "' is not a plain file name");
  return std::filesystem::path(dir) / name;
}

}  // namespace reportbridge::soap
