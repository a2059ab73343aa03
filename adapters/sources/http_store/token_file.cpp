#include "adapters/sources/http_store/token_file.hpp"

#include <sys/stat.h>

#include <stdexcept>

#include "bridge/core/secret_file.hpp"

namespace reportbridge::http_store {

TokenFile::TokenFile(std::filesystem::path path) : path_(std::move(path)) {
  token(true);  // a missing or exposed token file is a configuration error, found at `check`
}

std::string TokenFile::token(bool force) {
  std::lock_guard lock(mutex_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    throw std::runtime_error("token file cannot be read: " + path_.string());
  const Stamp now{static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
                  static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  if (!force && now == stamp_ && !token_.empty()) return token_;
  // The rule of every secret file (private, regular, owned by the service or
  // root), checked again on every re-read: a rotated token is no exception.
  std::string t;
  try {
    t = core::read_secret_file(path_, "token file", 64 * 1024).content;
  } catch (const core::SecretFileError& e) {
    throw std::runtime_error(e.what());
  }
  const auto first = t.find_first_not_of(" \t\r\n");
  const auto last = t.find_last_not_of(" \t\r\n");
  t = first == std::string::npos ? std::string() : t.substr(first, last - first + 1);
  if (t.empty()) throw std::runtime_error("token file is empty: " + path_.string());
  for (unsigned char c : t)
    if (c < 0x21 || c > 0x7e)
      throw std::runtime_error("token file holds a character a bearer token cannot carry: " +
                               path_.string());
  ++reads_;
  token_ = std::move(t);
  stamp_ = now;
  return token_;
}

std::uint64_t TokenFile::reads() const {
  std::lock_guard lock(mutex_);
  return reads_;
}

}  // namespace reportbridge::http_store
