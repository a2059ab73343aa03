#pragma once
// Renders a core::TargetRecord as an XML element tree with libxml2 (never by
// string concatenation), in the element order the target's XSD declares.
//
// How a record becomes a document (XmlLayout):
// - The root element is `layout.root`, a global element of the XSD, in
//   `namespace_uri` (default: the XSD's targetNamespace) with `prefix` (empty:
//   default namespace, xmlns="..."). Child elements are in that namespace when
//   the XSD has elementFormDefault="qualified", else unqualified.
// - Each record field goes to a path below the root: the path given for it in
//   `layout.fields`; otherwise the field's name taken as a path; otherwise the
//   one element whose local name equals the field's name, when exactly one
//   exists (so a mapping field "Postcode" finds "Location/Postcode" without a
//   layout entry). "Location/Postcode" is the element Postcode inside Location;
//   "@version" is an attribute of the root; "Location/@srid" an attribute of
//   Location. Parent elements are created as
//   needed and only when something below them has a value.
// - Absent fields (nullopt) are omitted; an empty string renders an empty
//   element / attribute.
// - Children are emitted in the XSD's xs:sequence order, whatever order the
//   record or the layout lists them in.
// - Attachments: when `attachments_path` is set ("Attachments/Attachment"),
//   one element per record attachment at that path (the last step must be a
//   repeated element in the XSD), filled per `attachment_fields` (path relative
//   to the attachment element -> property). By default every one of
//   @id @mediaType @sha256 @size FileName StoredFile that the XSD declares on
//   the attachment element. No attachments: the container is omitted.
//
// Rendering errors are returned, not thrown (data path):
//   "unknown_field"    a record field whose path the schema does not have
//   "invalid_utf8"     a value that is not valid UTF-8
//   "invalid_xml_char" a value holding a character XML 1.0 forbids (e.g. U+0001)
//   "duplicate_field"  two fields with values fill the same path
// Attachment properties are free text from devices: characters XML cannot hold
// are replaced by U+FFFD instead.
// The detail names the field, never its value.
//
// Thread safety: a constructed XmlRenderer is immutable; render() and
// render_into() may be called from several threads at once (each call builds
// its own tree).
#include <libxml/tree.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/core/record.hpp"
#include "bridge/xml/schema_shape.hpp"
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

struct XmlLayout {
  std::string root;           // global element of the XSD, e.g. "CommunityReport"
  std::string namespace_uri;  // empty: the XSD's targetNamespace
  std::string prefix;         // empty: default namespace
  // field name -> path; fields not listed use their name as the path.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string attachments_path;  // empty: attachments are not rendered
  // path relative to the attachment element -> property; empty: the defaults above.
  std::vector<std::pair<std::string, AttachmentProperty>> attachment_fields;
};

struct RenderError {
  std::string code;    // unknown_field, invalid_utf8, invalid_xml_char, duplicate_field
  std::string detail;  // names the field, never the value
};

// Per-call values that do not come from the record.
struct RenderExtras {
  std::vector<std::string> stored_names;  // per attachment, same order (xml_drop's copied files)
};

struct RenderResult {
  DocPtr doc;                        // set on success, lines numbered as in pretty output
  std::optional<RenderError> error;  // set on failure
  explicit operator bool() const { return doc != nullptr; }
};

class XmlRenderer {
 public:
  // Throws std::invalid_argument when the root is not a global element of the
  // schema, or a layout path (fields, attachments) is not in the schema.
  XmlRenderer(std::shared_ptr<const SchemaShape> shape, XmlLayout layout);
  ~XmlRenderer();
  XmlRenderer(XmlRenderer&&) noexcept;
  XmlRenderer& operator=(XmlRenderer&&) noexcept;

  // A new document whose root element is the record.
  RenderResult render(const core::TargetRecord& record, const RenderExtras& extras = {}) const;

  // Appends the record's root element as the last child of `parent` (e.g. a
  // SOAP Body) in parent's document, declaring its namespace on the new
  // element. Returns the new element, or the error (nothing appended then).
  struct IntoResult {
    xmlNode* element = nullptr;
    std::optional<RenderError> error;
  };
  IntoResult render_into(xmlNode& parent, const core::TargetRecord& record,
                         const RenderExtras& extras = {}) const;

  // The paths a field may map to (SchemaShape::field_paths of the root).
  const std::vector<std::string>& allowed_field_paths() const;
  // Field names (from a mapping's target fields) that would fail with
  // "unknown_field": for the mapping loader's diagnostics. Input order kept.
  std::vector<std::string> unknown_fields(const std::vector<std::string>& field_names) const;

  const XmlLayout& layout() const;
  const std::string& namespace_uri() const;  // the root element's namespace

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reportbridge::xml
