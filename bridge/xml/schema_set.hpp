#pragma once
// An XSD 1.0 schema set: every schema document reachable from a main XSD (or
// embedded in a WSDL's wsdl:types) through xs:include, xs:import and
// xs:redefine, read into one component model per namespace. It is what the
// renderer, the path resolver (schema_paths.hpp), the validator
// (xsd_validator.hpp), `check` and `scaffold` work from.
//
// Loading
// - Only local files are read. A schemaLocation naming a network location
//   (http://, https://, ftp://, ...) is refused with file:line and the advice
//   to keep a copy beside the schema; the one exception is the XML namespace
//   (xml:lang, xml:space, xml:base, xml:id), which is built in. Files are
//   parsed with libxml2 without network access and without DTD loading.
// - schemaLocation is relative to the including document. Each file is read
//   once (diamond imports), cycles are followed once. A document without
//   targetNamespace included into a namespace is a chameleon: its
//   components (and its unprefixed references) take the includer's
//   namespace. xs:redefine replaces the redefined components; a redefinition
//   deriving from its own name derives from the original.
// - xs:import without schemaLocation is resolved by namespace among the
//   documents of the set (WSDL: several xs:schema blocks importing each other).
// - QNames are resolved with the namespace declarations in scope at the node
//   (WSDL-embedded schemas inherit those of wsdl:definitions).
// - Errors throw SchemaError, whose message starts with "file:line: ".
//
// The model
// - Global elements, types, groups, attribute groups and attributes per
//   namespace; local element and attribute declarations with the namespace
//   their `form` (or the document's elementFormDefault/attributeFormDefault)
//   gives them.
// - Complex types with their effective content (an extension's content is the
//   base's followed by its own; a restriction's is its own) and effective
//   attributes (inherited, overridden, prohibited), flattened into ordered
//   slots for path resolution and rendering.
// - Substitution groups (ElementDecl::members), abstract elements and types,
//   nillable, xs:any / xs:anyAttribute wildcards, simple types with their
//   facets (restriction chains merged), list and union varieties, the
//   built-in types.
//
// Thread safety: a loaded SchemaSet is immutable; every const member may be
// called from several threads.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reportbridge::xml {

inline constexpr const char* kXsNamespace = "http://www.w3.org/2001/XMLSchema";
inline constexpr const char* kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr const char* kXmlNamespace = "http://www.w3.org/XML/1998/namespace";

struct QName {
  std::string ns;     // namespace URI, empty: no namespace
  std::string local;
  bool operator==(const QName&) const = default;
  bool operator<(const QName& o) const { return ns != o.ns ? ns < o.ns : local < o.local; }
  bool empty() const { return local.empty(); }
  std::string clark() const;  // "{ns}local" ("local" without namespace)
};

// Where a component is declared: "schemas/x.xsd", line 12.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;                 // where known (syntax errors: libxml2's column)
  std::string to_string() const;  // "file:line", "file:line:col"
};

// A load or compile problem; what() is "file:line: message".
class SchemaError : public std::runtime_error {
 public:
  SchemaError(SourcePos where, const std::string& message);
  const SourcePos& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  SourcePos where_;
  std::string message_;
};

inline constexpr int kUnbounded = -1;

struct Facets {
  std::vector<std::string> enumeration;            // empty: no enumeration
  std::optional<std::uint64_t> length, min_length, max_length;
  std::vector<std::vector<std::string>> patterns;  // AND across derivation steps, OR within one
  std::optional<std::string> min_inclusive, max_inclusive, min_exclusive, max_exclusive;
  std::optional<unsigned> total_digits, fraction_digits;
  std::string white_space;                         // preserve, replace, collapse or empty
  bool empty() const;
  // One line, e.g. "enumeration: A|B|C; maxLength: 20; pattern: [A-Z]{3}".
  std::string describe() const;
};

enum class Variety { atomic, list, union_ };
enum class Derivation { none, extension, restriction };
enum class ContentKind { empty, simple, element_only, mixed };

struct Wildcard {
  enum class Process { strict, lax, skip };
  // ##any: any_namespace; ##other: not `other_than` and not no-namespace;
  // otherwise the listed namespaces ("" for ##local).
  bool any_namespace = true;
  std::optional<std::string> other_than;
  std::vector<std::string> namespaces;
  Process process = Process::strict;
  bool allows(std::string_view ns) const;
  std::string describe() const;  // "##other", "urn:a urn:b", ...
};

struct TypeDef;
struct ElementDecl;

struct AttributeDecl {
  QName name;
  const TypeDef* type = nullptr;  // a simple type (anySimpleType when none is given)
  bool global = false;
  std::optional<std::string> fixed, default_value;
  SourcePos where;
};

struct AttributeUse {
  const AttributeDecl* decl = nullptr;
  bool required = false;
  std::optional<std::string> fixed, default_value;  // the use's, else the declaration's
};

struct Particle {
  enum class Kind { element, sequence, choice, all, any };
  Kind kind = Kind::sequence;
  int min_occurs = 1;
  int max_occurs = 1;  // kUnbounded
  const ElementDecl* element = nullptr;  // Kind::element (the global one for ref=)
  std::vector<Particle> children;        // sequence, choice, all
  std::optional<Wildcard> wildcard;      // Kind::any
  SourcePos where;
};

// An element or wildcard of a complex type's content, flattened in document
// order (a depth-first walk of the content model).
struct ContentSlot {
  const Particle* particle = nullptr;
  const ElementDecl* element = nullptr;  // nullptr for a wildcard
  const Wildcard* wildcard = nullptr;
  int order = 0;                         // position in the flattened content
  int min_occurs = 0;                    // effective (enclosing groups multiplied)
  int max_occurs = 1;                    // effective, kUnbounded
  bool required = false;                 // min_occurs >= 1 whenever the parent exists
  // Enclosing choices, outermost first: which branch of which choice this slot is in.
  struct ChoiceRef {
    const Particle* choice = nullptr;
    int branch = 0;
    int max_occurs = 1;
  };
  std::vector<ChoiceRef> choices;
  bool repeated() const { return max_occurs == kUnbounded || max_occurs > 1; }
};

struct TypeDef {
  QName name;              // empty local for an anonymous type
  bool simple = false;     // simple type (built-in or not)
  bool builtin = false;    // one of the XSD built-in types (name in the XSD namespace)
  bool abstract = false;
  const TypeDef* base = nullptr;
  Derivation derivation = Derivation::none;
  std::vector<const TypeDef*> derived;  // types whose base is this one
  SourcePos where;

  // Simple types (and the value of a complex type with simple content).
  Variety variety = Variety::atomic;
  const TypeDef* primitive = nullptr;   // nearest built-in ancestor (atomic); list/union: nullptr
  Facets facets;                        // merged along the restriction chain
  const TypeDef* item_type = nullptr;   // list
  std::vector<const TypeDef*> member_types;  // union

  // Complex types.
  ContentKind content = ContentKind::empty;
  const Particle* particle = nullptr;   // effective content model, nullptr when none
  std::vector<AttributeUse> attributes; // effective, declaration order
  std::optional<Wildcard> any_attribute;
  const TypeDef* value_type = nullptr;  // simple content: the type of the text
  std::vector<ContentSlot> slots;       // flattened content model

  bool is_anonymous() const { return name.local.empty(); }
  bool holds_text() const { return simple || content == ContentKind::simple || content == ContentKind::mixed; }
  // The simple type of the element's text, nullptr when it has no text of its own
  // (mixed content: nullptr, text is free).
  const TypeDef* text_type() const;
  bool derives_from(const TypeDef* other) const;  // this == other or other is an ancestor
  // Every type derived from this one (transitively), then filtered by `concrete_only`.
  std::vector<const TypeDef*> all_derived(bool concrete_only) const;
  // "nc:TextType", "xs:string", "(anonymous, restriction of xs:string)".
  std::string display(const std::map<std::string, std::string>& prefixes = {}) const;
};

struct ElementDecl {
  QName name;
  const TypeDef* type = nullptr;
  bool global = false;
  bool nillable = false;
  bool abstract = false;
  const ElementDecl* head = nullptr;          // substitutionGroup
  std::vector<const ElementDecl*> members;    // elements whose head is this one (direct)
  std::optional<std::string> fixed, default_value;
  SourcePos where;

  // Every element that may appear where this one is declared: this one
  // (unless abstract) and its substitution-group members, transitively.
  std::vector<const ElementDecl*> substitutes() const;
};

class SchemaSet {
 public:
  // A main XSD, or a WSDL file (root wsdl:definitions: its wsdl:types schemas,
  // and those of local wsdl:import-ed WSDL files). Throws SchemaError.
  static std::shared_ptr<const SchemaSet> load(const std::filesystem::path& file);
  // A WSDL file plus schema documents given as text (each a whole xs:schema),
  // loaded as if they were in its wsdl:types (e.g. the global declarations the
  // WSDL model synthesises for rpc/literal parts). Ignored for an XSD file.
  static std::shared_ptr<const SchemaSet> load(const std::filesystem::path& file,
                                               const std::vector<std::string>& extra_wsdl_schemas);

  SchemaSet();
  ~SchemaSet();
  SchemaSet(const SchemaSet&) = delete;
  SchemaSet& operator=(const SchemaSet&) = delete;

  const std::filesystem::path& main_file() const { return main_file_; }
  bool from_wsdl() const { return from_wsdl_; }
  // The main document's targetNamespace (WSDL: the first embedded schema's).
  const std::string& target_namespace() const { return target_namespace_; }
  // Every schema document of the set ("file" or "file#schema2" for WSDL-embedded ones).
  std::vector<std::string> documents() const;
  std::vector<std::string> namespaces() const;  // target namespaces, sorted

  const ElementDecl* element(const QName& name) const;
  const TypeDef* type(const QName& name) const;  // global or built-in (xs:string, ...)
  const AttributeDecl* attribute(const QName& name) const;
  // Global elements: all of them, or those with this local name (any namespace).
  std::vector<const ElementDecl*> global_elements() const;
  std::vector<const ElementDecl*> global_elements(std::string_view local) const;

  // Prefixes the schema documents themselves declare for namespaces
  // (first seen wins), e.g. {"http://release.niem.gov/niem/niem-core/3.0/": "nc"}.
  const std::map<std::string, std::string>& schema_prefixes() const { return schema_prefixes_; }

  // For the validator: documents libxml2 compiles. For a WSDL set, the
  // embedded schemas as standalone documents (namespace declarations of
  // wsdl:definitions copied in, imports between them given a location) under
  // synthetic URLs "<wsdl file>#schemaN"; for an XSD set, empty (libxml2
  // reads the files itself).
  struct MemoryDocument {
    std::string url;
    std::string text;
  };
  const std::vector<MemoryDocument>& memory_documents() const { return memory_documents_; }
  // What the validator compiles: the main XSD's path, or (WSDL) an in-memory
  // driver schema importing every embedded schema.
  const std::string& compile_url() const { return compile_url_; }
  const std::string& compile_text() const { return compile_text_; }  // empty: read compile_url

  struct Impl;  // the loader (schema_set.cpp)

 private:
  friend struct Impl;
  std::filesystem::path main_file_;
  bool from_wsdl_ = false;
  std::string target_namespace_;
  std::vector<std::string> documents_;
  std::map<QName, const ElementDecl*> elements_;
  std::map<QName, const TypeDef*> types_;
  std::map<QName, const AttributeDecl*> attributes_;
  std::map<std::string, std::string> schema_prefixes_;
  std::vector<MemoryDocument> memory_documents_;
  std::string compile_url_, compile_text_;
  // Owned components (stable addresses).
  std::deque<TypeDef> type_store_;
  std::deque<ElementDecl> element_store_;
  std::deque<AttributeDecl> attribute_store_;
  std::deque<Particle> particle_store_;
};

// The built-in type `local` of the XSD namespace (xs:string, xs:dateTime, ...),
// or nullptr. Shared by every SchemaSet.
const TypeDef* builtin_type(std::string_view local);

// Checks a lexical value against a simple type: the built-in type's lexical
// space (libxml2's own checks), whiteSpace, enumeration, length/minLength/
// maxLength (characters; items of a list; octets of hexBinary/base64Binary),
// pattern (XSD regular expressions, libxml2's engine), min/max
// Inclusive/Exclusive, totalDigits, fractionDigits; lists item by item;
// unions: any member. Returns nullopt when valid, else why, without quoting
// the value (e.g. "is longer than maxLength 20", "is not one of A|B|C").
std::optional<std::string> check_simple_value(const TypeDef& type, std::string_view value);

}  // namespace reportbridge::xml
