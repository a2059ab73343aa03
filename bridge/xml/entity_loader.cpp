#include "bridge/xml/entity_loader.hpp"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>

#include <cctype>
#include <cstring>
#include <mutex>

namespace reportbridge::xml::detail {

namespace {

thread_local const std::vector<SchemaSet::MemoryDocument>* t_documents = nullptr;

xmlParserInputPtr from_memory(const std::string& url, const std::string& text, xmlParserCtxtPtr ctxt) {
  xmlParserInputBufferPtr buffer =
      xmlParserInputBufferCreateMem(text.data(), static_cast<int>(text.size()), XML_CHAR_ENCODING_NONE);
  if (!buffer) return nullptr;
  xmlParserInputPtr input = xmlNewIOInputStream(ctxt, buffer, XML_CHAR_ENCODING_NONE);
  if (!input) {
    xmlFreeParserInputBuffer(buffer);
    return nullptr;
  }
  input->filename = reinterpret_cast<const char*>(xmlStrdup(reinterpret_cast<const xmlChar*>(url.c_str())));
  return input;
}

xmlParserInputPtr load(const char* url, const char* id, xmlParserCtxtPtr ctxt) {
  if (url) {
    const std::string_view u(url);
    if (t_documents)
      for (const auto& d : *t_documents)
        if (d.url == u) return from_memory(d.url, d.text, ctxt);
    if (is_xml_namespace_schema_url(u)) return from_memory(url, builtin_xml_namespace_schema(), ctxt);
    if (is_remote_location(u)) return nullptr;  // never the network
  }
  return xmlNoNetExternalEntityLoader(url, id, ctxt);
}

}  // namespace

bool is_remote_location(std::string_view location) {
  std::size_t i = 0;
  while (i < location.size() && (std::isalnum(static_cast<unsigned char>(location[i])) || location[i] == '+' ||
                                 location[i] == '-' || location[i] == '.'))
    ++i;
  if (i < 2 || i >= location.size() || location[i] != ':') return false;  // no scheme (or a drive letter)
  std::string scheme(location.substr(0, i));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme != "file";
}

bool is_xml_namespace_schema_url(std::string_view url) {
  return url == "http://www.w3.org/2001/xml.xsd" || url == "https://www.w3.org/2001/xml.xsd" ||
         url == "http://www.w3.org/2009/01/xml.xsd" || url == "https://www.w3.org/2009/01/xml.xsd" ||
         url == "reportbridge:xml.xsd";
}

const std::string& builtin_xml_namespace_schema() {
  static const std::string text = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang">
    <xs:simpleType>
      <xs:union memberTypes="xs:language">
        <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value=""/></xs:restriction></xs:simpleType>
      </xs:union>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="space">
    <xs:simpleType>
      <xs:restriction base="xs:NCName"><xs:enumeration value="default"/><xs:enumeration value="preserve"/></xs:restriction>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="base" type="xs:anyURI"/>
  <xs:attribute name="id" type="xs:ID"/>
  <xs:attributeGroup name="specialAttrs">
    <xs:attribute ref="xml:base"/><xs:attribute ref="xml:lang"/><xs:attribute ref="xml:space"/><xs:attribute ref="xml:id"/>
  </xs:attributeGroup>
</xs:schema>
)";
  return text;
}

void install_entity_loader() {
  static std::once_flag once;
  std::call_once(once, [] { xmlSetExternalEntityLoader(load); });
}

MemoryDocumentScope::MemoryDocumentScope(const std::vector<SchemaSet::MemoryDocument>& documents)
    : previous_(t_documents) {
  t_documents = &documents;
}

MemoryDocumentScope::~MemoryDocumentScope() { t_documents = previous_; }

}  // namespace reportbridge::xml::detail
