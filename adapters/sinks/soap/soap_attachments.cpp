#include "adapters/sinks/soap/soap_attachments.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "bridge/attachments/verifier.hpp"

namespace reportbridge::soap {

namespace {

using core::DeliveryOutcome;
using core::DeliveryStatus;

DeliveryOutcome reject(const std::string& code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, code, std::move(detail));
}

DeliveryOutcome retry_attachment(const core::AttachmentRef& a, const std::string& why) {
  return DeliveryOutcome::fail(DeliveryStatus::retry, "attachment_unavailable",
                               "attachment " + a.id + " is unavailable for now (" + why + "); retried later");
}

// Checks the file against the declared size and SHA-256 by streaming it.
std::optional<DeliveryOutcome> check_attachment(const std::filesystem::path& file, const core::AttachmentRef& a) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return reject("attachment_unavailable", "attachment " + a.id + " cannot be opened");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  std::string buf(64 * 1024, '\0');
  std::uint64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = in.gcount();
    if (got <= 0) break;
    total += static_cast<std::uint64_t>(got);
    EVP_DigestUpdate(md.get(), buf.data(), static_cast<std::size_t>(got));
  }
  if (in.bad()) return reject("attachment_unavailable", "attachment " + a.id + " cannot be read");
  if (total != a.size_bytes)
    return reject("attachment_mismatch", "attachment " + a.id + " has " + std::to_string(total) +
                                             " bytes, declared " + std::to_string(a.size_bytes));
  if (!a.sha256.empty()) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md.get(), digest, &len);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < len; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (a.sha256 != std::string(hex, 2 * len))
      return reject("attachment_mismatch", "attachment " + a.id + " does not match its declared SHA-256");
  }
  return std::nullopt;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

std::optional<core::DeliveryOutcome> resolve_inline_attachment(const core::AttachmentLocator& locator,
                                                               const core::AttachmentRef& a,
                                                               std::filesystem::path& file) {
  try {
    if (!locator) return reject("attachment_unavailable", "attachment " + a.id + ": no media root to read it from");
    file = locator(a);
  } catch (const attachments::AttachmentError& e) {
    // Transient (e.g. the HTTP store answered 503): the item stays in the outbox.
    return e.permanent() ? reject(attachments::to_string(e.code()), "attachment " + a.id + " cannot be used")
                         : retry_attachment(a, "could not be fetched now");
  } catch (const std::system_error& e) {
    return retry_attachment(a, e.code().message());
  } catch (const std::exception&) {
    // Unsafe or missing path; the message may quote the payload's path.
    return reject("attachment_unavailable", "attachment " + a.id + " could not be resolved safely");
  }
  return check_attachment(file, a);
}

std::string attachment_reference_text(const std::string& pattern, const core::AttachmentRef& a,
                                      const std::string& submission_id) {
  std::string ref = replace_all(pattern, "{id}", a.id);
  ref = replace_all(ref, "{sha256}", a.sha256);
  ref = replace_all(ref, "{path}", a.path);
  return replace_all(ref, "{submission_id}", submission_id);
}

InlineMarkers::InlineMarkers() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no randomness available");
  static const char* digits = "0123456789abcdef";
  prefix_ = "RBATTACH";
  for (unsigned char c : raw) {
    prefix_ += digits[c >> 4];
    prefix_ += digits[c & 15];
  }
}

std::string InlineMarkers::marker(std::size_t i) const {
  char idx[24];
  std::snprintf(idx, sizeof idx, "%08zu", i);
  return prefix_ + idx;
}

bool InlineMarkers::split(const std::string& text,
                          const std::vector<std::pair<std::filesystem::path, std::uint64_t>>& files,
                          std::vector<net::BodyPart>& parts) const {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string m = marker(i);
    const auto at = text.find(m, pos);
    if (at == std::string::npos) return false;
    parts.push_back(net::BodyPart::literal(text.substr(pos, at - pos)));
    parts.push_back(net::BodyPart::file_base64(files[i].first, files[i].second));
    pos = at + m.size();
  }
  parts.push_back(net::BodyPart::literal(pos == 0 ? text : text.substr(pos)));
  return true;
}

}  // namespace reportbridge::soap
