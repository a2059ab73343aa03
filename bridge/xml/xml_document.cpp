#include "bridge/xml/xml_document.hpp"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlschemastypes.h>

#include <mutex>
#include <stdexcept>

#include "bridge/xml/entity_loader.hpp"

namespace reportbridge::xml {

namespace {
// libxml2 reports what it cannot tie to a parser context (an encoding
// conversion that fails, an I/O error) through its generic error function,
// which prints to stderr: past the bridge's logging, quoting bytes of the
// document. Every message the bridge needs reaches it through a context's
// structured errors; the generic ones are dropped.
void drop_generic_error(void*, const char*, ...) {}
}  // namespace

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSchemaInitTypes();
    detail::install_entity_loader();  // no network, ever; WSDL-embedded schemas from memory
    xmlThrDefSetGenericErrorFunc(nullptr, drop_generic_error);  // threads libxml2 meets from now on
  });
  // libxml2 keeps the function per thread: this one may have met it already.
  thread_local const bool quiet = [] {
    xmlSetGenericErrorFunc(nullptr, drop_generic_error);
    return true;
  }();
  (void)quiet;
}

void DocFree::operator()(xmlDoc* doc) const noexcept { xmlFreeDoc(doc); }

std::string XmlError::to_string() const {
  if (line <= 0) return message;
  return "line " + std::to_string(line) + ": " + message;
}

std::string join_errors(const std::vector<XmlError>& errors, std::size_t limit) {
  std::string out;
  const std::size_t shown = std::min(errors.size(), limit);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i) out += "; ";
    out += errors[i].to_string();
  }
  if (errors.size() > shown) out += "; ... and " + std::to_string(errors.size() - shown) + " more";
  return out;
}

namespace {

bool ends_with(const std::string& s, std::size_t end, std::string_view suffix) {
  return end >= suffix.size() && s.compare(end - suffix.size(), suffix.size(), suffix) == 0;
}

std::string redact(const std::string& message) {
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    const std::size_t open = message.find('\'', i);
    if (open == std::string::npos) break;
    const bool value = ends_with(message, open, "The value ") || ends_with(message, open, "': ");
    // A value may itself hold quotes: it ends where libxml2's sentence goes on.
    std::size_t close = value ? message.find("' is not ", open + 1) : std::string::npos;
    if (close == std::string::npos) close = message.find('\'', open + 1);
    if (close == std::string::npos) break;
    out.append(message, i, open - i);
    if (value) out += "'[value]'";
    else out.append(message, open, close + 1 - open);
    i = close + 1;
  }
  out.append(message, i, std::string::npos);
  return out;
}

class BufferOwner {
 public:
  BufferOwner() : buffer_(xmlBufferCreate()) {
    if (!buffer_) throw std::bad_alloc();
  }
  ~BufferOwner() { xmlBufferFree(buffer_); }
  BufferOwner(const BufferOwner&) = delete;
  BufferOwner& operator=(const BufferOwner&) = delete;
  xmlBuffer* get() const { return buffer_; }
  std::string str() const {
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buffer_)),
                       static_cast<std::size_t>(xmlBufferLength(buffer_)));
  }

 private:
  xmlBuffer* buffer_;
};

std::string save(const void* what, bool is_doc, Format format, bool declaration) {
  BufferOwner buffer;
  int options = 0;
  if (format == Format::pretty) options |= XML_SAVE_FORMAT;
  if (!declaration) options |= XML_SAVE_NO_DECL;
  xmlSaveCtxt* ctxt = xmlSaveToBuffer(buffer.get(), "UTF-8", options);
  if (!ctxt) throw std::bad_alloc();
  const long rc = is_doc ? xmlSaveDoc(ctxt, const_cast<xmlDoc*>(static_cast<const xmlDoc*>(what)))
                         : xmlSaveTree(ctxt, const_cast<xmlNode*>(static_cast<const xmlNode*>(what)));
  if (xmlSaveClose(ctxt) < 0 || rc < 0) throw std::runtime_error("XML serialisation failed");
  return buffer.str();
}

bool has_element_children(const xmlNode* node) {
  for (const xmlNode* c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) return true;
  return false;
}

int newlines_in_text(const xmlNode* node) {
  int n = 0;
  for (const xmlNode* c = node->children; c; c = c->next) {
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
      for (const xmlChar* p = c->content; *p; ++p) n += (*p == '\n');
  }
  return n;
}

void set_line(xmlNode* node, long line) {
  node->line = static_cast<unsigned short>(line > 65535 ? 65535 : line);
}

void number(xmlNode* node, long& line) {
  set_line(node, line);
  if (has_element_children(node)) {
    ++line;  // the start tag's own line
    for (xmlNode* c = node->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE) number(c, line);
    ++line;  // the end tag
  } else {
    line += newlines_in_text(node) + 1;
  }
}

}  // namespace

std::vector<XmlError> redact_values(std::vector<XmlError> errors) {
  for (auto& e : errors) e.message = redact(e.message);
  return errors;
}

std::string to_string(const xmlDoc& doc, Format format, bool declaration) {
  std::string out = save(&doc, true, format, declaration);
  if (format == Format::compact && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string to_string(const xmlNode& element, Format format) {
  return save(&element, false, format, false);
}

void assign_pretty_line_numbers(xmlDoc& doc) {
  long line = 2;  // line 1 is the XML declaration
  for (xmlNode* c = doc.children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) number(c, line);
}

}  // namespace reportbridge::xml
