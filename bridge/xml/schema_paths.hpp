#pragma once
// Paths into the documents a schema set describes: the syntax analysts write
// in mappings and layouts, resolved against the schema with precise errors,
// the enumeration of every fillable path (scaffold, "required elements never
// filled"), nearest-path suggestions and value checks against facets.
//
// Syntax (relative to the root element, steps separated by '/'):
//   nc:Incident/nc:ActivityDate/nc:DateTime     prefixed steps (prefixes from the
//                                              target's `namespaces:` map)
//   Location/Postcode                           unprefixed: the child with that
//                                              local name, when only one matches
//   Postcode                                    one unprefixed name alone: also the
//                                              one element of that name anywhere
//                                              below the root (not through repeated
//                                              elements), when exactly one exists
//   @version, Location/@srid, @s:id             attributes (last step)
//   j:Arrest[2]/j:ArrestDate                    index into a repeated element (from 1)
//   nc:Person[*]/nc:PersonName                  one element per item of the value,
//                                              which is a JSON array of strings
//   nc:ActivityDate                             a substitution-group member, where
//                                              its head is declared
//   nc:Location[xsi:type=nc:AddressType]/...    the derived type to use (written as
//                                              xsi:type); predicates combine:
//                                              nc:Location[2][xsi:type=nc:AddressType]
//   nc:Item/@xsi:nil                            value "true": the element is written
//                                              empty with xsi:nil="true" (nillable only)
// The prefix `xsi` always means the XML Schema instance namespace.
//
// Thread safety: a PathResolver is immutable after construction (its
// suggestion index is built under a once_flag); every const member may be
// called from several threads.
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

enum class PathErrorKind {
  syntax,           // not a path
  unknown_prefix,   // a prefix the namespaces map does not declare
  not_in_schema,    // no such element or attribute there
  other_namespace,  // the local name exists there, in another namespace
  ambiguous,        // an unprefixed name matching several elements
  repeated,         // a repeated element without [n] or [*]
  not_repeated,     // [n] on an element that occurs once, or n above maxOccurs
  abstract,         // an abstract element (name a member) or abstract type (choose xsi:type)
  bad_type,         // [xsi:type=...] naming no type derived from the declared one
  no_value,         // an element with element-only content given a value
  not_nillable,     // @xsi:nil on an element that is not nillable
  choice_conflict,  // two paths filling different branches of one xs:choice
};
const char* to_string(PathErrorKind kind);

struct PathError {
  PathErrorKind kind = PathErrorKind::not_in_schema;
  std::string message;                  // one sentence naming the step and why
  std::size_t step = 0;                 // 0-based step of the path where it failed
  std::vector<std::string> candidates;  // members, namespaces, element names, types
  std::vector<std::string> suggestions; // nearest valid paths ("did you mean")
};

struct ResolvedStep {
  const ElementDecl* element = nullptr;   // written: the member when the step names one
  const ElementDecl* declared = nullptr;  // in the content model (the head, or the global one for xs:any)
  const ContentSlot* slot = nullptr;      // in the parent's type
  const TypeDef* type = nullptr;          // in effect (xsi:type when chosen)
  const TypeDef* xsi_type = nullptr;      // chosen with [xsi:type=...]
  int index = 0;                          // [n] (from 1); 0 when not given
  bool each = false;                      // [*]
  int min_occurs = 1;
  int max_occurs = 1;
  bool via_wildcard = false;              // matched an xs:any
};

struct ResolvedPath {
  std::string text;                       // as written
  std::string canonical;                  // with prefixes, e.g. "nc:Incident/nc:ActivityDate/nc:DateTime"
  std::vector<ResolvedStep> steps;        // below the root
  const AttributeDecl* attribute = nullptr;   // @attr (also one matched by xs:anyAttribute)
  const AttributeUse* attribute_use = nullptr; // its use in the element's type (nullptr: wildcard)
  bool nil = false;                       // @xsi:nil
  const TypeDef* value_type = nullptr;    // simple type of the value; nullptr: nil, or free text
  bool each() const;                      // a [*] step: the value is a JSON array
  // Required whenever its parent element is written (last step minOccurs >= 1
  // outside optional groups, or a required attribute).
  bool required() const;
};

struct PathResolution {
  std::optional<ResolvedPath> path;
  std::optional<PathError> error;
  explicit operator bool() const { return path.has_value(); }
};

struct PathInfo {
  enum class Kind { element, attribute, wildcard };
  Kind kind = Kind::element;
  std::string path;              // canonical, repeated steps as [1]
  bool required = false;         // whenever its parent element is written
  bool required_from_root = false;  // every step from the root is required
  int min_occurs = 1, max_occurs = 1;  // of the element (attributes: 0/1 or 1/1)
  std::string type;              // e.g. "xs:dateTime", "nc:TextType"
  const TypeDef* value_type = nullptr;
  std::string facets;            // Facets::describe() of the value type
  bool nillable = false;
  bool in_choice = false;        // one branch of an xs:choice
  std::vector<std::string> notes;  // substitution, xsi:type, wildcard, recursion notes
  int depth = 0;
  bool container = false;        // an element of element-only content (include_containers)
};

struct EnumerateOptions {
  int max_depth = 10;            // element steps below the root
  std::size_t max_paths = 20000;
  bool include_repeated = true;  // false: nothing below (or at) a repeated element
  bool include_attributes = true;
  bool include_optional = true;
  // Also list elements that hold only elements (container = true, no value):
  // e.g. to find required ones with nothing required inside.
  bool include_containers = false;
};

class PathResolver {
 public:
  // `root`: a global element of `set`. `namespaces`: prefix -> URI (the
  // target's `namespaces:` map).
  PathResolver(std::shared_ptr<const SchemaSet> set, const ElementDecl& root, Namespaces namespaces);
  ~PathResolver();
  PathResolver(const PathResolver&) = delete;
  PathResolver& operator=(const PathResolver&) = delete;

  PathResolution resolve(std::string_view path) const;
  // Resolution relative to an element of type `context` (e.g. the attachment
  // element), same syntax; no leaf-name search.
  PathResolution resolve_below(const TypeDef& context, std::string_view path) const;
  // A path to an element that need not hold a value (e.g. a container); no
  // attribute step, no leaf-name search.
  PathResolution resolve_element(std::string_view path) const;

  std::vector<PathInfo> enumerate(const EnumerateOptions& options = {}) const;
  // Up to `max` valid paths nearest to `path` (edit distance over the
  // enumerated paths and their last steps).
  std::vector<std::string> suggest(std::string_view path, std::size_t max = 3) const;
  // nullopt when `value` is acceptable at `path` (facets, lexical space,
  // fixed values); else why. Path errors come back as their message.
  std::optional<std::string> check_value(std::string_view path, std::string_view value) const;
  // Pairs of paths that fill different branches of one xs:choice (maxOccurs 1)
  // under the same parent element: one error per conflicting pair.
  std::vector<PathError> choice_conflicts(const std::vector<const ResolvedPath*>& paths) const;

  // "prefix:" for a namespace in canonical paths (the map's prefix, else the
  // schema's own, else a generated one; "" for the root's namespace when the
  // map gives it none, and for no namespace).
  std::string prefix_for(const std::string& ns) const;
  std::string step_name(const QName& name) const;  // prefix_for(ns) + local
  const ElementDecl& root() const { return *root_; }
  const SchemaSet& schema() const { return *set_; }
  const Namespaces& namespaces() const { return namespaces_; }

 private:
  struct Index;
  std::shared_ptr<const SchemaSet> set_;
  const ElementDecl* root_;
  Namespaces namespaces_;
  std::vector<std::pair<std::string, std::string>> generated_;  // ns -> prefix
  mutable std::once_flag index_once_;
  mutable std::unique_ptr<Index> index_;
  const Index& index() const;
};

// The global element named `name`: "CommunityReport" (the one global element
// with that local name, in `namespace_uri` when not empty), "nc:Incident"
// (prefix from `namespaces`) or "{uri}local". nullptr and `error` set otherwise.
const ElementDecl* find_global_element(const SchemaSet& set, std::string_view name, const Namespaces& namespaces,
                                       const std::string& namespace_uri, std::string* error);

// Levenshtein distance (bytes), for suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace reportbridge::xml
