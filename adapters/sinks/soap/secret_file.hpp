#pragma once
// Secrets (passwords) read from files, e.g. systemd credentials
// ($CREDENTIALS_DIRECTORY/<name>). Never from the command line, never logged.
#include <filesystem>
#include <string>

namespace reportbridge::soap {

// The file's content without one trailing "\n" or "\r\n". The rule of every
// secret file applies (core::read_secret_file: a private regular file owned by
// the service or root). Throws std::runtime_error naming the path and the
// rule (never the content) when the file is missing, breaks the rule,
// is unreadable, empty or larger than 64 KiB.
std::string read_secret_file(const std::filesystem::path& path);

// $CREDENTIALS_DIRECTORY/<name>; throws std::runtime_error when the variable is
// unset or `name` is not a plain file name.
std::filesystem::path credential_path(const std::string& name);

}  // namespace reportbridge::soap
