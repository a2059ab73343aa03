#pragma once
// libxml2's external entity loader, replaced once per process (init()):
// - never touches the network: http://, https://, ftp:// (any scheme but
//   file:) are refused, whatever the parser options;
// - the XML namespace's schema (http://www.w3.org/2001/xml.xsd, commonly
//   imported for xml:lang) is served from a built-in copy;
// - while a MemoryDocumentScope is alive on a thread, the URLs it lists are
//   served from memory (WSDL-embedded schemas compiled by XsdValidator);
// - anything else is a local file, read by libxml2's no-network loader.
// Internal to bridge/xml.
#include <string>
#include <string_view>
#include <vector>

#include "bridge/xml/schema_set.hpp"

namespace reportbridge::xml::detail {

void install_entity_loader();

// The text of the built-in schema for the XML namespace (xml:lang, xml:space,
// xml:base, xml:id and the attribute group xml:specialAttrs).
const std::string& builtin_xml_namespace_schema();
bool is_xml_namespace_schema_url(std::string_view url);

class MemoryDocumentScope {
 public:
  explicit MemoryDocumentScope(const std::vector<SchemaSet::MemoryDocument>& documents);
  ~MemoryDocumentScope();
  MemoryDocumentScope(const MemoryDocumentScope&) = delete;
  MemoryDocumentScope& operator=(const MemoryDocumentScope&) = delete;

 private:
  const std::vector<SchemaSet::MemoryDocument>* previous_;
};

// True when `location` names a network resource (a URI scheme other than file:).
bool is_remote_location(std::string_view location);

}  // namespace reportbridge::xml::detail
