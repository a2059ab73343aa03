#pragma once
// Renders a core::TargetRecord as an XML element tree with libxml2 (never by
// string concatenation), in the element order the schema set declares, each
// element in the namespace its declaration gives it.
//
// How a record becomes a document (XmlLayout):
// - The root element is `layout.root`, a global element of the schema set:
//   "CommunityReport", "nibrs:Submission" (prefix from `namespaces`) or
//   "{uri}Name".
// - Each record field goes to a path below the root (syntax:
//   schema_paths.hpp): the path given for it in `layout.fields`, else the
//   field's name itself (so a mapping can name fields by path:
//   "nc:Incident/nc:ActivityDate/nc:DateTime", "@s:id", "j:Arrest[2]/...").
//   An unprefixed single name also finds the one element of that name below
//   the root ("Postcode" finds "Location/Postcode").
// - Values: absent (nullopt) fields are omitted; an empty string gives an
//   empty element / attribute. A path with a [*] step takes a JSON array of
//   strings (numbers and booleans are written as they are, null skips that
//   position): one element per item, items of several [*] fields sharing the
//   step line up by position. "elem/@xsi:nil" with "true" writes the element
//   empty with xsi:nil="true" (nillable elements only). "[xsi:type=p:T]" on a
//   step writes xsi:type="p:T" and lets the path reach T's content.
// - Parent elements are created as needed and only when something below them
//   has a value. Children follow the schema's content-model order whatever
//   order the record lists them in; a repeated element's occurrences follow
//   their index. Substitution-group members go where their head is declared.
// - Namespaces: each element and attribute in the namespace its declaration
//   gives it (form, elementFormDefault, attributeFormDefault honoured).
//   Prefixes come from `namespaces` (else the prefix the schema documents
//   use, else ns1, ns2...), declared once on the root element; the root's
//   namespace is the default namespace unless `prefix` (or `namespaces`)
//   names a prefix for it. Unqualified elements under a default namespace get
//   xmlns="".
// - Attachments: when `attachments_path` is set ("Attachments/Attachment"),
//   one element per record attachment at that path (the last step must be a
//   repeated element), filled per `attachment_fields` (path relative to the
//   attachment element -> property). By default every one of @id @mediaType
//   @sha256 @size FileName StoredFile the schema declares on it.
//   `attachment_content_path` / `attachment_reference_path` (relative to the
//   attachment element) take per-attachment texts from RenderExtras
//   (`attachment_contents`, `attachment_references`; an empty text writes
//   nothing): the SOAP sink's inline base64 content (a marker it replaces by
//   the streamed file) or its reference for an attachment sent by reference.
// - Characters XML 1.0 cannot hold (C0 controls other than tab, LF, CR -
//   e.g. U+0000, U+000B, U+001B - U+FFFE, U+FFFF, lone surrogates, invalid
//   UTF-8): with IllegalCharacters::replace (the default) each is replaced by
//   U+FFFD and the record is delivered (RenderResult::replaced_characters
//   counts them); with ::reject the record fails with invalid_xml_char /
//   invalid_utf8. Attachment properties are always replaced.
//
// Rendering errors are returned, not thrown (data path):
//   "unknown_field"    a record field whose path does not resolve (detail: why)
//   "duplicate_field"  two fields with values fill the same element/attribute
//   "bad_list"         a [*] field whose value is not a JSON array of scalars
//   "choice_conflict"  values in two branches of one xs:choice
//   "nil_conflict"     xsi:nil on an element that also gets content
//   "invalid_utf8", "invalid_xml_char"  (IllegalCharacters::reject only)
// The detail names the field, never its value.
//
// Thread safety: a constructed XmlRenderer is immutable (its cache of
// resolved field names is guarded); render() and render_into() may be called
// from several threads at once (each call builds its own tree).
#include <libxml/tree.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/xml/schema_paths.hpp"
#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

enum class AttachmentProperty {
  id,           // AttachmentRef::id
  filename,     // AttachmentRef::filename (the device's name: display only)
  media_type,   // AttachmentRef::media_type
  size_bytes,   // AttachmentRef::size_bytes, decimal
  sha256,       // AttachmentRef::sha256
  stored_name,  // RenderExtras::stored_names[i] (omitted when not given)
};

enum class IllegalCharacters {
  replace,  // by U+FFFD, and deliver
  reject,   // the record fails (invalid_xml_char / invalid_utf8)
};

struct XmlLayout {
  std::string root;           // global element: "CommunityReport", "nibrs:Submission", "{uri}Name"
  std::string namespace_uri;  // with an unprefixed root: the global element in this namespace
  std::string prefix;         // prefix of the root's namespace (empty: default namespace, unless `namespaces` maps one)
  Namespaces namespaces;      // prefix -> URI, for paths and for the document's declarations
  // field name -> path; fields not listed use their name as the path.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string attachments_path;  // empty: attachments are not rendered
  // path relative to the attachment element -> property; empty: the defaults above.
  std::vector<std::pair<std::string, AttachmentProperty>> attachment_fields;
  std::string attachment_content_path;    // "": none (see above)
  std::string attachment_reference_path;  // "": none
  IllegalCharacters illegal_characters = IllegalCharacters::replace;
};

struct RenderError {
  std::string code;    // unknown_field, duplicate_field, bad_list, choice_conflict, nil_conflict, invalid_*
  std::string detail;  // names the field, never the value
};

// Per-call values that do not come from the record.
struct RenderExtras {
  std::vector<std::string> stored_names;  // per attachment, same order (xml_drop's copied files)
  std::vector<std::string> attachment_contents;    // per attachment, at attachment_content_path ("": none)
  std::vector<std::string> attachment_references;  // per attachment, at attachment_reference_path ("": none)
};

struct RenderResult {
  DocPtr doc;                        // set on success, lines numbered as in pretty output
  std::optional<RenderError> error;  // set on failure
  std::size_t replaced_characters = 0;  // characters XML cannot hold, replaced by U+FFFD
  explicit operator bool() const { return doc != nullptr; }
};

class XmlRenderer {
 public:
  // Throws std::invalid_argument when the root is not a global element of the
  // set, or a layout path (fields, attachments) does not resolve (the message
  // names the path, why, and the nearest valid paths).
  XmlRenderer(std::shared_ptr<const SchemaSet> schema, XmlLayout layout);
  ~XmlRenderer();
  XmlRenderer(XmlRenderer&&) noexcept;
  XmlRenderer& operator=(XmlRenderer&&) noexcept;

  // A new document whose root element is the record.
  RenderResult render(const core::TargetRecord& record, const RenderExtras& extras = {}) const;

  // Appends the record's root element as the last child of `parent` (e.g. a
  // SOAP Body, or an operation wrapper element) in parent's document,
  // declaring its namespaces on the new element. Returns the new element, or
  // the error (nothing appended then).
  struct IntoResult {
    xmlNode* element = nullptr;
    std::optional<RenderError> error;
    std::size_t replaced_characters = 0;
  };
  IntoResult render_into(xmlNode& parent, const core::TargetRecord& record, const RenderExtras& extras = {}) const;

  // The path a field name stands for (layout.fields applied), resolved.
  PathResolution resolve_field(const std::string& field_name) const;
  // Paths below the root that hold a value, schema order, not through repeated
  // elements (what older layouts could address): for the mapping loader.
  const std::vector<std::string>& allowed_field_paths() const;
  // Field names (from a mapping's target fields) that would fail with
  // "unknown_field": for the mapping loader's diagnostics. Input order kept.
  std::vector<std::string> unknown_fields(const std::vector<std::string>& field_names) const;

  const XmlLayout& layout() const;
  const std::string& namespace_uri() const;  // the root element's namespace
  const ElementDecl& root() const;
  const PathResolver& paths() const;
  const std::shared_ptr<const SchemaSet>& schema() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::xml
