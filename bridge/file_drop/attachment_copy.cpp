#include "bridge/file_drop/attachment_copy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "bridge/attachments/verifier.hpp"
#include "bridge/core/progress.hpp"
#include "bridge/core/sha256.hpp"

namespace reportbridge::file_drop {

StreamResult stream_with_sha256(const std::filesystem::path& source, const FileHandle& destination,
                                const std::filesystem::path& destination_path,
                                std::uint64_t max_bytes) {
  StreamResult result;
  if (source.empty()) return result;
  FileHandle in = open_for_reading(source);
  if (!in.is_open()) return result;
  struct stat st {};
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) return result;
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    result.status = StreamResult::Status::too_large;
    result.bytes = static_cast<std::uint64_t>(st.st_size);
    return result;
  }
  core::Sha256 sha;
  std::vector<char> buffer(kCopyChunkBytes);
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read attachment", source);
    }
    if (n == 0) break;
    result.bytes += static_cast<std::uint64_t>(n);
    if (result.bytes > max_bytes) {  // the file grew while we read it
      result.status = StreamResult::Status::too_large;
      return result;
    }
    sha.update(buffer.data(), static_cast<std::size_t>(n));
    core::progress();  // the watchdog's heartbeat (bridge/core/progress.hpp)
    if (destination.is_open())
      write_all(destination, std::string_view(buffer.data(), static_cast<std::size_t>(n)),
                destination_path);
  }
  result.sha256 = sha.hex_digest();
  result.status = StreamResult::Status::ok;
  return result;
}

namespace {

using core::DeliveryOutcome;
using core::DeliveryStatus;

DeliveryOutcome reject(std::string code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, std::move(code), std::move(detail));
}

DeliveryOutcome retry_later(const std::string& which, const std::string& why) {
  return DeliveryOutcome::fail(DeliveryStatus::retry, "attachment_unavailable",
                               which + " is unavailable for now (" + why + "); retried later");
}

// Fixed texts: the locator's message may quote the payload's path or name.
const char* describe(attachments::ErrorCode code) {
  using attachments::ErrorCode;
  switch (code) {
    case ErrorCode::unavailable: return "could not be read now";
    case ErrorCode::too_large: return "is above the size limit";
    case ErrorCode::size_mismatch: return "differs from its declared size";
    case ErrorCode::sha256_mismatch: return "differs from its declared sha256";
    case ErrorCode::media_type_not_allowed: return "has a media type that is not allowed";
    case ErrorCode::media_type_mismatch: return "does not match its declared media type";
    case ErrorCode::unusable_reference: return "has a reference that cannot be fetched safely";
  }
  return "could not be obtained";
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return s;
}

}  // namespace

std::optional<DeliveryOutcome> transfer_attachment(const core::AttachmentLocator& locator,
                                                   const AttachmentTransfer& t) {
  namespace fs = std::filesystem;
  const core::AttachmentRef& attachment = *t.attachment;
  const std::string which = "attachment " + std::to_string(t.n) + " of " + std::to_string(t.count);
  const auto too_large = [&](std::uint64_t size) {
    return reject("attachment_too_large", which + " has " + std::to_string(size) +
                                              " bytes, above the limit of " + std::to_string(t.max_bytes));
  };
  if (attachment.size_bytes > t.max_bytes) return too_large(attachment.size_bytes);
  fs::path source;
  try {
    source = locator(attachment);
  } catch (const attachments::AttachmentError& e) {
    if (!e.permanent()) return retry_later(which, describe(e.code()));
    return reject(attachments::to_string(e.code()), which + " " + describe(e.code()));
  } catch (const std::system_error& e) {
    // I/O trouble (filesystem_error, ios_base::failure): the error's own
    // message, never what() (which may carry the path).
    return retry_later(which, e.code().message());
  } catch (const std::bad_alloc&) {
    return retry_later(which, "out of memory");
  } catch (const std::exception&) {
    // Unsafe or missing path: permanent. The message stays out of outcomes and logs.
    return reject("attachment_unavailable", which + " could not be resolved safely");
  }
  FileHandle out;
  if (t.destination) out = create_file(*t.destination);
  const auto discard = [&] {
    if (!t.destination) return;
    out = FileHandle();
    std::error_code ec;
    fs::remove(*t.destination, ec);
  };
  StreamResult streamed;
  try {
    streamed = stream_with_sha256(source, out, t.destination ? *t.destination : fs::path(), t.max_bytes);
  } catch (...) {
    discard();
    throw;
  }
  switch (streamed.status) {
    case StreamResult::Status::unavailable:
      discard();
      return reject("attachment_unavailable", which + " is missing or unreadable");
    case StreamResult::Status::too_large:
      discard();
      return too_large(streamed.bytes);
    case StreamResult::Status::ok:
      break;
  }
  if (streamed.sha256 != lowercase(attachment.sha256)) {
    discard();
    return reject("attachment_mismatch", which + ": sha256 differs from the declared value");
  }
  if (t.destination) {
    try {
      sync_and_close(out, *t.destination);
    } catch (...) {
      discard();
      throw;
    }
  }
  return std::nullopt;
}

}  // namespace reportbridge::file_drop
