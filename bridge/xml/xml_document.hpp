#pragma once
// Owned libxml2 documents, error records and serialisation shared by the XML
// renderer, the XSD validator and the hardened parser.
//
// libxml2 is initialised once per process by init() (every class of this
// library calls it in its constructor; call it yourself from main() before
// starting threads if you use libxml2 directly).
#include <libxml/tree.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reportbridge::xml {

// Idempotent, thread-safe: xmlInitParser() exactly once, the process-wide entity
// loader that never touches the network (entity_loader.hpp), and libxml2's generic
// error messages (stderr) dropped on the calling thread and every later one.
void init();

// prefix -> namespace URI, e.g. {"soap", "http://schemas.xmlsoap.org/soap/envelope/"}
using Namespaces = std::vector<std::pair<std::string, std::string>>;

struct DocFree {
  void operator()(xmlDoc* doc) const noexcept;
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;

// One libxml2 diagnostic. line/column are 1-based, 0 when unknown.
struct XmlError {
  std::string message;  // libxml2's message, trailing newline removed
  int line = 0;
  int column = 0;
  // "line 12: Element 'Postcode': [facet 'pattern'] ..." (no "line" part when 0)
  std::string to_string() const;
};
// Errors joined with "; ", at most `limit` of them ("... and N more").
std::string join_errors(const std::vector<XmlError>& errors, std::size_t limit = 5);

// The same errors with values quoted by libxml2 ("Element 'Email': 'a@b' is
// not a valid value ...", "The value 'x' is not accepted by the pattern ...")
// replaced by '[value]', for outcomes and logs that must not carry personal data.
std::vector<XmlError> redact_values(std::vector<XmlError> errors);

enum class Format {
  pretty,   // two-space indentation, one element per line
  compact,  // no whitespace added (only a newline after the declaration, if any)
};

// UTF-8 serialisation with an <?xml version="1.0" encoding="UTF-8"?> line
// unless `declaration` is false.
std::string to_string(const xmlDoc& doc, Format format = Format::pretty, bool declaration = true);
// One element and its subtree (namespace declarations in scope are kept).
std::string to_string(const xmlNode& element, Format format = Format::compact);

// Sets every element's line number to the line it has in to_string(doc,
// Format::pretty, true) (newlines inside text counted), so that schema errors
// on a document built in memory point at lines of its pretty rendering.
// XmlRenderer::render() already does this.
void assign_pretty_line_numbers(xmlDoc& doc);

}  // namespace reportbridge::xml
