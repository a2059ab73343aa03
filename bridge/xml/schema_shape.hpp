#pragma once
// The element structure an XSD declares, read by walking the XSD as an XML
// document with libxml2 (not the compiled schema): for each element, its
// children in xs:sequence order, its attributes, and whether it is required or
// repeated. The renderer uses it to put children in schema order whatever
// order the mapping lists fields in; the mapping loader uses field_paths() to
// report target fields the schema does not have.
//
// Supported XSD constructs: global xs:element (inline or named complexType /
// simpleType, type="prefix:Name"), ref="prefix:Name", xs:sequence, xs:all,
// xs:choice (nested in each other), xs:complexContent and xs:simpleContent
// xs:extension (base content first, then the extension's), xs:attribute
// (name or ref), xs:include of files in the same folder is NOT followed (keep
// target XSDs self-contained). Anything else is ignored.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace reportbridge::xml {

struct AttributeShape {
  std::string name;
  bool required = false;
};

struct ElementShape {
  std::string name;         // local name
  bool required = true;     // minOccurs >= 1 (and not inside an xs:choice)
  bool repeated = false;    // maxOccurs > 1 or unbounded
  bool has_text = false;    // simple type or simple content: holds a value
  std::vector<ElementShape> children;  // in schema order
  std::vector<AttributeShape> attributes;

  const ElementShape* child(std::string_view local_name) const;
  bool has_attribute(std::string_view local_name) const;
};

class SchemaShape {
 public:
  // Throws std::runtime_error naming the file (and libxml2's message and line
  // when the XSD is not well-formed XML).
  static std::shared_ptr<const SchemaShape> load(const std::filesystem::path& xsd);

  const std::string& target_namespace() const { return target_namespace_; }
  bool elements_qualified() const { return elements_qualified_; }      // elementFormDefault
  bool attributes_qualified() const { return attributes_qualified_; }  // attributeFormDefault

  // A global element, or nullptr.
  const ElementShape* element(std::string_view global_name) const;
  std::vector<std::string> global_elements() const;

  // Paths a record field can fill under global element `root`: "@attr" for
  // the root's attributes, "A", "A/B" for elements that hold a value, "A/@attr"
  // for attributes. Nothing below a repeated element (attachments are rendered
  // from the record's attachment list, not from fields). Schema order.
  // Empty when `root` is not a global element.
  std::vector<std::string> field_paths(std::string_view root) const;

 private:
  std::string target_namespace_;
  bool elements_qualified_ = false;
  bool attributes_qualified_ = false;
  std::vector<ElementShape> globals_;
};

}  // namespace reportbridge::xml
