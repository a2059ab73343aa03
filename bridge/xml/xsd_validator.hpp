#pragma once
// A schema set compiled once by libxml2, then used to validate documents or
// single elements.
//
// - The whole set: a main XSD with its xs:include / xs:import / xs:redefine
//   files, or the schemas embedded in a WSDL's wsdl:types (compiled from
//   memory, importing each other by namespace) - see schema_set.hpp.
// - No network: every external load goes through the process's entity loader
//   (entity_loader.hpp), which refuses network URLs; network schemaLocations
//   are refused when the set is loaded, with file:line.
// - Errors come through libxml2's structured error handlers into the result
//   (compile errors: "file:line: message" in the exception), never to stderr.
// - Thread safety: validate() is const and may be called concurrently; each
//   call uses its own validation context on the shared, read-only schema.
#include <libxml/tree.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

class XsdValidator {
 public:
  // Loads the set (SchemaSet::load) and compiles it. Throws std::runtime_error
  // (SchemaError for the set) naming the file and libxml2's errors with lines
  // when a file is missing, not XML, or not a valid schema.
  explicit XsdValidator(const std::filesystem::path& xsd_or_wsdl);
  explicit XsdValidator(std::shared_ptr<const SchemaSet> set);
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
  const std::shared_ptr<const SchemaSet>& schema_set() const { return set_; }

 private:
  std::filesystem::path path_;
  std::shared_ptr<const SchemaSet> set_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::xml
