#include "bridge/xml/xsd_validator.hpp"

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <cstring>
#include <stdexcept>

namespace reportbridge::xml {

namespace {

void collect(void* user, xmlError* error) {
  auto* errors = static_cast<std::vector<XmlError>*>(user);
  if (!error) return;
  std::string message = error->message ? error->message : "unknown error";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  int line = error->line;
  if (line <= 0 && error->node) line = static_cast<int>(xmlGetLineNo(static_cast<xmlNode*>(error->node)));
  errors->push_back({std::move(message), line > 0 ? line : 0, error->int2});
}

// Imports and includes must name local files: the schema compiler would
// otherwise fetch http:// locations.
void reject_remote_locations(const xmlNode* node, const std::filesystem::path& xsd) {
  for (const xmlNode* c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    xmlChar* loc = xmlGetNoNsProp(c, reinterpret_cast<const xmlChar*>("schemaLocation"));
    if (loc) {
      const bool remote = std::strstr(reinterpret_cast<const char*>(loc), "://") != nullptr;
      xmlFree(loc);
      if (remote) throw std::runtime_error("XSD " + xsd.string() + ": remote schemaLocation not allowed");
    }
  }
}

struct SchemaFree {
  void operator()(xmlSchema* s) const noexcept { xmlSchemaFree(s); }
};

}  // namespace

struct XsdValidator::Impl {
  DocPtr xsd_doc;  // kept: the compiled schema may point into it
  std::unique_ptr<xmlSchema, SchemaFree> schema;

  template <typename Validate>
  std::vector<XmlError> run(Validate&& validate) const {
    std::vector<XmlError> errors;
    xmlSchemaValidCtxt* ctxt = xmlSchemaNewValidCtxt(schema.get());
    if (!ctxt) throw std::bad_alloc();
    xmlSchemaSetValidStructuredErrors(ctxt, collect, &errors);
    const int rc = validate(ctxt);
    xmlSchemaFreeValidCtxt(ctxt);
    if (rc < 0 && errors.empty()) errors.push_back({"libxml2 internal error during validation", 0, 0});
    if (rc > 0 && errors.empty()) errors.push_back({"document is not valid", 0, 0});
    return errors;
  }
};

XsdValidator::XsdValidator(const std::filesystem::path& xsd) : path_(xsd), impl_(std::make_unique<Impl>()) {
  init();
  std::vector<XmlError> errors;
  xmlParserCtxt* pctxt = xmlNewParserCtxt();
  if (!pctxt) throw std::bad_alloc();
  pctxt->_private = &errors;
  pctxt->sax->serror = [](void* user, xmlError* error) {
    collect(static_cast<xmlParserCtxt*>(user)->_private, error);
  };
  DocPtr doc(xmlCtxtReadFile(pctxt, xsd.c_str(), nullptr,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  xmlFreeParserCtxt(pctxt);
  if (!doc)
    throw std::runtime_error("cannot read XSD " + xsd.string() +
                             (errors.empty() ? std::string(": not found or unreadable")
                                             : ": " + join_errors(errors)));
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) throw std::runtime_error("XSD " + xsd.string() + " is empty");
  reject_remote_locations(root, xsd);

  xmlSchemaParserCtxt* sctxt = xmlSchemaNewDocParserCtxt(doc.get());
  if (!sctxt) throw std::bad_alloc();
  xmlSchemaSetParserStructuredErrors(sctxt, collect, &errors);
  impl_->schema.reset(xmlSchemaParse(sctxt));
  xmlSchemaFreeParserCtxt(sctxt);
  impl_->xsd_doc = std::move(doc);
  if (!impl_->schema)
    throw std::runtime_error("invalid XSD " + xsd.string() + ": " +
                             (errors.empty() ? std::string("compilation failed") : join_errors(errors)));
}

XsdValidator::~XsdValidator() = default;
XsdValidator::XsdValidator(XsdValidator&&) noexcept = default;
XsdValidator& XsdValidator::operator=(XsdValidator&&) noexcept = default;

std::vector<XmlError> XsdValidator::validate(const xmlDoc& doc) const {
  return impl_->run([&](xmlSchemaValidCtxt* ctxt) {
    return xmlSchemaValidateDoc(ctxt, const_cast<xmlDoc*>(&doc));
  });
}

std::vector<XmlError> XsdValidator::validate(const xmlNode& element) const {
  return impl_->run([&](xmlSchemaValidCtxt* ctxt) {
    return xmlSchemaValidateOneElement(ctxt, const_cast<xmlNode*>(&element));
  });
}

}  // namespace reportbridge::xml
