#pragma once
// Attachments sent inside a SOAP request (both SOAP sink forms): the file
// resolved and checked before anything is sent, its base64 streamed by the
// HTTP client (net::BodyPart::file_base64) where the envelope holds a marker.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/net/http_client.hpp"

namespace reportbridge::soap {

// Resolves `a` through the locator into `file` and checks it against the
// declared size and SHA-256 by streaming it (never held whole). nullopt: fine.
// Otherwise the outcome: a transient locator failure (AttachmentError
// `unavailable`, an I/O error) retries attachment_unavailable; a permanent
// AttachmentError rejects with its code; an unsafe/missing path or a file that
// cannot be read rejects attachment_unavailable; size or SHA-256 differing
// rejects attachment_mismatch. Details name the attachment id, never a path.
std::optional<core::DeliveryOutcome> resolve_inline_attachment(const core::AttachmentLocator& locator,
                                                               const core::AttachmentRef& a,
                                                               std::filesystem::path& file);

// `pattern` with {id} {sha256} {path} {submission_id} filled in.
std::string attachment_reference_text(const std::string& pattern, const core::AttachmentRef& a,
                                      const std::string& submission_id);

// Markers standing for inline content in a rendered envelope: base64-alphabet
// text with a length that is a multiple of 4, so a document holding them stays
// valid xs:base64Binary. One random prefix per sink.
class InlineMarkers {
 public:
  InlineMarkers();
  std::string marker(std::size_t i) const;
  // Splits `text` at the markers 0..files.size()-1 (in order) into literal
  // parts and the files' streamed base64. False when a marker is missing.
  bool split(const std::string& text, const std::vector<std::pair<std::filesystem::path, std::uint64_t>>& files,
             std::vector<net::BodyPart>& parts) const;

 private:
  std::string prefix_;
};

}  // namespace reportbridge::soap
