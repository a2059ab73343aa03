#pragma once
// An XSD compiled once, then used to validate documents or single elements.
//
// - No network: imports/includes are resolved only from local files, and the
//   schema is parsed with XML_PARSE_NONET.
// - Errors come through libxml2's structured error handlers into the result,
//   never to stderr.
// - Thread safety: validate() is const and may be called concurrently; each
//   call uses its own validation context on the shared, read-only schema.
#include <libxml/tree.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

class XsdValidator {
 public:
  // Throws std::runtime_error naming the file and libxml2's errors (with
  // lines) when the file is missing, not XML, or not a valid XSD.
  explicit XsdValidator(const std::filesystem::path& xsd);
  ~XsdValidator();
  XsdValidator(XsdValidator&&) noexcept;
  XsdValidator& operator=(XsdValidator&&) noexcept;

  // Empty when valid. Lines are the elements' line numbers (for documents from
  // XmlRenderer::render: lines of the pretty rendering; for parsed documents:
  // source lines). If libxml2 fails internally, one error says so.
  std::vector<XmlError> validate(const xmlDoc& doc) const;
  // Validates one element and its subtree against the global declaration of
  // its name (xmlSchemaValidateOneElement), e.g. the payload in a SOAP Body.
  std::vector<XmlError> validate(const xmlNode& element) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::xml
