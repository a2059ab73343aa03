#pragma once
// Secrets (passwords) read from files, e.g. systemd credentials
// ($CREDENTIALS_DIRECTORY/<name>). Never from the command line, never logged.
#include <filesystem>
#include <string>

namespace reportbridge::soap {

// The file's content without one trailing "\n" or "\r\n". Throws
// std::runtime_error naming the path (never the content) when the file is
// missing, unreadable, empty or larger than 64 KiB.
std::string read_secret_file(const std::filesystem::path& path);

// $CREDENTIALS_DIRECTORY/<name>; throws std::runtime_error when the variable is
// unset or `name` is not a plain file name.
std::filesystem::path credential_path(const std::string& name);

}  // namespace reportbridge::soap
