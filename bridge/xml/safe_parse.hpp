#pragma once
// Hardened parsing of untrusted XML (responses from legacy systems) and XPath
// lookups in it.
//
// parse_untrusted():
// - size limit checked before parsing (reason "too_large");
// - XML_PARSE_NONET, no DTD loading, no default attributes from DTDs, no entity
//   substitution (no XML_PARSE_NOENT / DTDLOAD / DTDATTR / HUGE);
// - any DOCTYPE rejects the document (reason "doctype"): the parser stops at
//   the declaration, before entity declarations are read, so XXE and
//   billion-laughs documents fail fast with bounded memory;
// - XML_PARSE_NOERROR | NOWARNING: diagnostics are captured into the result;
// - malformed input -> reason "malformed" with libxml2's message and line.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

struct ParseLimits {
  std::size_t max_bytes = 4u << 20;  // 4 MiB
};

struct ParseResult {
  DocPtr doc;                   // set on success
  std::string reason;           // on failure: too_large, doctype, malformed, empty
  std::vector<XmlError> errors; // on failure: what libxml2 said (or our own message)
  explicit operator bool() const { return doc != nullptr; }
};

ParseResult parse_untrusted(std::string_view text, const ParseLimits& limits = {});


// An XPath 1.0 expression compiled once (at configuration time), evaluated
// against documents. Thread safety: first_string() is const and may be called
// concurrently (each call has its own evaluation context).
class XPathQuery {
 public:
  // Throws std::invalid_argument when the expression does not compile, a
  // prefix is empty or repeated, or the expression uses a prefix `namespaces`
  // does not declare (it would match nothing at evaluation).
  XPathQuery(std::string expression, Namespaces namespaces);
  ~XPathQuery();
  XPathQuery(XPathQuery&&) noexcept;
  XPathQuery& operator=(XPathQuery&&) noexcept;

  // Node-set result: the string value of its first node in document order
  // (text of an element, value of an attribute); nullopt when empty. String,
  // number and boolean results are returned as their XPath string value.
  // nullopt also when evaluation fails (e.g. an unregistered prefix).
  std::optional<std::string> first_string(const xmlDoc& doc) const;
  // Same, with `context` as the context node (relative expressions).
  std::optional<std::string> first_string(const xmlNode& context) const;

  const std::string& expression() const { return expression_; }

 private:
  std::string expression_;
  Namespaces namespaces_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The namespace prefixes an XPath expression uses (name tests, attributes,
// variables; string literals and axes skipped), in order of appearance.
std::vector<std::string> xpath_prefixes(std::string_view expression);

// One-off convenience: compiles and evaluates (throws std::invalid_argument
// like the XPathQuery constructor).
std::optional<std::string> xpath_first_string(const xmlDoc& doc, const std::string& expression,
                                              const Namespaces& namespaces = {});

}  // namespace reportbridge::xml
