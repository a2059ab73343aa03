#include "adapters/sinks/soap/secret_file.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace reportbridge::soap {

std::string read_secret_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("secret file " + path.string() + ": " + ec.message());
  if (size > 64 * 1024) throw std::runtime_error("secret file " + path.string() + " is larger than 64 KiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("secret file " + path.string() + " cannot be read");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
