// Starter mappings for XML targets: every fillable path of a document (a global
// element of a schema set, or the request body of a WSDL operation) as the text
// of a mapping YAML file, required paths active and marked, optional ones
// commented out, each with its type, facets and cardinality; `from:` filled
// where a submission field obviously matches. Plus a starter target snippet.
// No CLI here: `reportbridge scaffold` prints these.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bridge/wsdl/wsdl.hpp"
#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::wsdl {

struct ScaffoldOptions {
  std::string mapping_name;   // default: the root's local name in snake_case
  std::string target_name;    // default: mapping_name
  std::string schema_path;    // written into the target snippet (xsd:/schema:); default: the loaded file
  // Preferred prefixes (prefix -> URI). Other namespaces get the prefix their
  // schema documents use, else ns1, ns2, ...
  xml::Namespaces namespaces;
  // Paths a submission has (mapping::schema_paths of schemas/submission.schema.json,
  // e.g. "location.postcode"); empty: no `from:` guesses.
  std::vector<std::string> submission_paths;
  int max_depth = 8;               // element steps below the root
  std::size_t max_optional = 400;  // optional paths listed; the rest only counted
};

struct ScaffoldField {
  std::string path;       // the mapping field name (an XML path)
  bool required = false;  // needed for a valid document
  std::string from;       // guessed submission path, empty: none
  std::string comment;    // "required · xs:string · maxLength: 35 · once"
};

struct Scaffold {
  std::string mapping_yaml;  // the starter mapping file
  std::string target_yaml;   // a starter `targets:` entry
  xml::Namespaces namespaces;  // prefixes the paths use (also in target_yaml)
  std::string root;            // "p:Root"
  std::vector<ScaffoldField> fields;  // required first, then the listed optional ones
  std::size_t optional_left_out = 0;  // beyond max_optional
  std::vector<std::string> notes;     // e.g. other body parts, rpc style
};

// A document whose root is the global element `root` of `set`; the snippet is
// an xml_drop target.
Scaffold scaffold_document(const std::shared_ptr<const xml::SchemaSet>& set, const xml::QName& root,
                           const ScaffoldOptions& options = {});
// The request body of `op` (its wrapper element, or its first body part's
// element); the snippet is a soap target with the operation's endpoint,
// version and SOAPAction. Throws std::invalid_argument for an operation with
// no usable body element (rpc parts typed, not elements; unusable binding).
Scaffold scaffold_operation(const Wsdl& wsdl, const Operation& op, const ScaffoldOptions& options = {});

// The submission path a target leaf obviously takes ("PostCode" ->
// "location.postcode"), among `submission_paths`; empty when none.
std::string guess_submission_path(const std::string& leaf_local_name,
                                  const std::vector<std::string>& submission_paths);

}  // namespace reportbridge::wsdl
