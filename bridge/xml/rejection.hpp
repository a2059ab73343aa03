#pragma once
// What an XML sink's encode_preview throws when the target would reject a
// record's document: the validator's message, the mapping fields behind the
// failing elements, and the document with line numbers and the failing lines
// marked (`preview` prints it; `check` points at the fields).
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "bridge/xml/xml_document.hpp"
#include "bridge/xml/xml_renderer.hpp"

namespace reportbridge::xml {

class DocumentRejected : public std::runtime_error {
 public:
  DocumentRejected(const std::string& what, std::vector<std::string> fields, std::string listing)
      : std::runtime_error(what), fields_(std::move(fields)), listing_(std::move(listing)) {}
  // Mapping field names whose elements the errors are on (or inside), in record order.
  const std::vector<std::string>& fields() const { return fields_; }
  // The pretty document, "   12 | <line>", failing lines as ">> 12 | <line>".
  const std::string& listing() const { return listing_; }

 private:
  std::vector<std::string> fields_;
  std::string listing_;
};

// `text` with 1-based line numbers, the lines in `marked` flagged with ">>".
std::string numbered_listing(const std::string& text, const std::set<int>& marked);

// The record's fields behind schema errors on `doc` (rendered by `renderer`
// from `record`, lines of its pretty rendering): for each error's element,
// the fields that resolve to it or below it.
std::vector<std::string> fields_behind(const XmlRenderer& renderer, const xmlDoc& doc,
                                       const core::TargetRecord& record, const std::vector<XmlError>& errors);

}  // namespace reportbridge::xml
