#include "bridge/xml/xsd_validator.hpp"

#include <mutex>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

#include <stdexcept>

#include "bridge/xml/entity_loader.hpp"

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

// Compile errors name the schema file (libxml2 knows which document of the set).
void collect_compile(void* user, xmlError* error) {
  auto* errors = static_cast<std::vector<XmlError>*>(user);
  if (!error) return;
  if (error->level == XML_ERR_WARNING) return;
  std::string message = error->message ? error->message : "unknown error";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string file = error->file ? error->file : "";
  if (file.empty() && error->node) {
    const xmlNode* n = static_cast<const xmlNode*>(error->node);
    if (n->doc && n->doc->URL) file = reinterpret_cast<const char*>(n->doc->URL);
  }
  int line = error->line;
  if (line <= 0 && error->node) line = static_cast<int>(xmlGetLineNo(static_cast<xmlNode*>(error->node)));
  errors->push_back({file.empty() ? message : file + ": " + message, line > 0 ? line : 0, error->int2});
}

void ignore_generic(void*, const char*, ...) {}

// libxml2 reports some loader problems through the thread's generic and
// structured handlers rather than the schema parser's: route them into
// `errors` while compiling, never to stderr.
class ThreadErrorScope {
 public:
  explicit ThreadErrorScope(std::vector<XmlError>* errors)
      : generic_(xmlGenericError),
        generic_context_(xmlGenericErrorContext),
        structured_(xmlStructuredError),
        structured_context_(xmlStructuredErrorContext) {
    xmlSetGenericErrorFunc(nullptr, ignore_generic);
    xmlSetStructuredErrorFunc(errors, collect_compile);
  }
  ~ThreadErrorScope() {
    xmlSetStructuredErrorFunc(structured_context_, structured_);
    xmlSetGenericErrorFunc(generic_context_, generic_);
  }
  ThreadErrorScope(const ThreadErrorScope&) = delete;
  ThreadErrorScope& operator=(const ThreadErrorScope&) = delete;

 private:
  xmlGenericErrorFunc generic_;
  void* generic_context_;
  xmlStructuredErrorFunc structured_;
  void* structured_context_;
};

struct SchemaFree {
  void operator()(xmlSchema* s) const noexcept { xmlSchemaFree(s); }
};

std::string describe(const std::vector<XmlError>& errors) {
  std::string out;
  for (std::size_t i = 0; i < errors.size() && i < 5; ++i) {
    if (i) out += "; ";
    out += errors[i].line > 0 ? "line " + std::to_string(errors[i].line) + ": " + errors[i].message : errors[i].message;
  }
  if (errors.size() > 5) out += "; ... and " + std::to_string(errors.size() - 5) + " more";
  return out;
}

}  // namespace

struct XsdValidator::Impl {
  DocPtr main_doc;  // kept: the compiled schema may point into it
  std::unique_ptr<xmlSchema, SchemaFree> schema;
  // Validation contexts, reused (libxml2 clears one after each run): saves
  // their allocations on every document. One per concurrent validation.
  mutable std::mutex pool_mutex;
  mutable std::vector<xmlSchemaValidCtxt*> pool;

  ~Impl() {
    for (xmlSchemaValidCtxt* c : pool) xmlSchemaFreeValidCtxt(c);
  }

  template <typename Validate>
  std::vector<XmlError> run(Validate&& validate) const {
    std::vector<XmlError> errors;
    xmlSchemaValidCtxt* ctxt = nullptr;
    {
      std::lock_guard lock(pool_mutex);
      if (!pool.empty()) {
        ctxt = pool.back();
        pool.pop_back();
      }
    }
    if (!ctxt) ctxt = xmlSchemaNewValidCtxt(schema.get());
    if (!ctxt) throw std::bad_alloc();
    xmlSchemaSetValidStructuredErrors(ctxt, collect, &errors);
    const int rc = validate(ctxt);
    xmlSchemaSetValidStructuredErrors(ctxt, nullptr, nullptr);
    {
      std::lock_guard lock(pool_mutex);
      if (pool.size() < 16) {
        pool.push_back(ctxt);
        ctxt = nullptr;
      }
    }
    if (ctxt) xmlSchemaFreeValidCtxt(ctxt);
    if (rc < 0 && errors.empty()) errors.push_back({"libxml2 internal error during validation", 0, 0});
    if (rc > 0 && errors.empty()) errors.push_back({"document is not valid", 0, 0});
    return errors;
  }
};

XsdValidator::XsdValidator(const std::filesystem::path& xsd) : XsdValidator(SchemaSet::load(xsd)) {}

XsdValidator::XsdValidator(std::shared_ptr<const SchemaSet> set)
    : path_(set ? set->main_file() : std::filesystem::path()), set_(std::move(set)), impl_(std::make_unique<Impl>()) {
  init();
  if (!set_) throw std::invalid_argument("XsdValidator: no schema set");
  std::vector<XmlError> errors;
  detail::MemoryDocumentScope memory(set_->memory_documents());
  ThreadErrorScope thread_errors(&errors);
  DocPtr doc;
  if (!set_->compile_text().empty()) {
    const std::string& text = set_->compile_text();
    doc.reset(xmlReadMemory(text.data(), static_cast<int>(text.size()), set_->compile_url().c_str(), nullptr,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  } else {
    xmlParserCtxt* pctxt = xmlNewParserCtxt();
    if (!pctxt) throw std::bad_alloc();
    doc.reset(xmlCtxtReadFile(pctxt, set_->compile_url().c_str(), nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    xmlFreeParserCtxt(pctxt);
  }
  if (!doc) throw std::runtime_error("cannot read schema " + path_.string() + ": " + describe(errors));
  xmlSchemaParserCtxt* sctxt = xmlSchemaNewDocParserCtxt(doc.get());
  if (!sctxt) throw std::bad_alloc();
  xmlSchemaSetParserStructuredErrors(sctxt, collect_compile, &errors);
  impl_->schema.reset(xmlSchemaParse(sctxt));
  xmlSchemaFreeParserCtxt(sctxt);
  impl_->main_doc = std::move(doc);
  if (!impl_->schema)
    throw std::runtime_error("invalid schema " + path_.string() + ": " +
                             (errors.empty() ? std::string("compilation failed") : describe(errors)));
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
