#include "bridge/xml/xml_renderer.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace reportbridge::xml {

namespace {

const xmlChar* x(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }

// One element of the output, in schema order. Slots index the values of one
// render (record fields for the main tree, attachment properties below an
// attachment element); a subtree's slots are the contiguous range [lo, hi).
struct PlanNode {
  std::string name;
  int text_slot = -1;
  std::vector<std::pair<std::string, int>> attributes;
  std::vector<PlanNode> children;
  int lo = 0, hi = 0;
  bool attachment_element = false;  // repeated once per record attachment
  bool leads_to_attachments = false;
};

// Builds the plan for `shape`, numbering slots from `next` and recording "path -> slot".
void build(const ElementShape& shape, const std::string& prefix, int& next,
           std::unordered_map<std::string, int>& paths, const std::string& attachment_path,
           PlanNode& node) {
  node.name = shape.name;
  node.lo = next;
  for (const auto& a : shape.attributes) {
    node.attributes.emplace_back(a.name, next);
    paths.emplace(prefix + "@" + a.name, next++);
  }
  const std::string own = prefix.empty() ? std::string() : prefix.substr(0, prefix.size() - 1);
  if (shape.has_text && !own.empty()) {
    node.text_slot = next;
    paths.emplace(own, next++);
  }
  for (const auto& c : shape.children) {
    const std::string path = prefix + c.name;
    if (c.repeated) {
      if (path != attachment_path) continue;
      PlanNode child;
      int attachment_next = 0;
      std::unordered_map<std::string, int> unused;
      build(c, "", attachment_next, unused, "", child);
      child.attachment_element = true;
      child.leads_to_attachments = true;
      node.children.push_back(std::move(child));
      node.leads_to_attachments = true;
      continue;
    }
    PlanNode child;
    build(c, path + "/", next, paths, attachment_path, child);
    if (child.leads_to_attachments) node.leads_to_attachments = true;
    node.children.push_back(std::move(child));
  }
  node.hi = next;
}

// Slot numbering of an attachment element (relative paths), same scheme as build().
void number_attachment(const ElementShape& shape, const std::string& prefix, int& next,
                       std::unordered_map<std::string, int>& paths) {
  for (const auto& a : shape.attributes) paths.emplace(prefix + "@" + a.name, next++);
  const std::string own = prefix.empty() ? std::string() : prefix.substr(0, prefix.size() - 1);
  if (shape.has_text && !own.empty()) paths.emplace(own, next++);
  for (const auto& c : shape.children)
    if (!c.repeated) number_attachment(c, prefix + c.name + "/", next, paths);
}

const ElementShape* find_path(const ElementShape& root, const std::string& path) {
  const ElementShape* at = &root;
  std::string_view rest = path;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view step = rest.substr(0, slash);
    at = at->child(step);
    if (!at) return nullptr;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return at;
}

// Checks the character at s[i]: returns its length in bytes and sets `error`
// ("invalid_utf8" / "invalid_xml_char") when it is not an XML 1.0 character
// in valid UTF-8 (then the length is 1, to resynchronise).
std::size_t next_char(std::string_view s, std::size_t i, const char*& error) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const std::size_t left = s.size() - i;
  const unsigned char c = *p;
  error = nullptr;
  if (c < 0x80) {
    if (c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) error = "invalid_xml_char";
    return 1;
  }
  std::size_t len;
  char32_t cp;
  if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
  else return error = "invalid_utf8", 1;
  if (left < len) return error = "invalid_utf8", 1;
  for (std::size_t k = 1; k < len; ++k) {
    if ((p[k] & 0xC0) != 0x80) return error = "invalid_utf8", 1;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return error = "invalid_utf8", 1;
  if (cp == 0xFFFE || cp == 0xFFFF) error = "invalid_xml_char";
  return len;
}

// nullptr when `s` is valid UTF-8 made of XML 1.0 characters; else the error code.
const char* check_text(std::string_view s) {
  const char* error = nullptr;
  for (std::size_t i = 0; i < s.size();) {
    i += next_char(s, i, error);
    if (error) return error;
  }
  return nullptr;
}

// `s` with every byte that is not part of an XML 1.0 character replaced by U+FFFD.
std::string sanitize(std::string_view s) {
  std::string out;
  const char* error = nullptr;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = next_char(s, i, error);
    if (error) out += "\xEF\xBF\xBD";
    else out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

struct XmlRenderer::Impl {
  std::shared_ptr<const SchemaShape> shape;
  XmlLayout layout;
  std::string ns_uri;
  bool qualified_children = false;
  PlanNode root;
  int slots = 0;
  std::unordered_map<std::string, int> path_slots;   // schema path -> slot
  std::unordered_map<std::string, int> field_slots;  // layout field name -> slot
  std::unordered_map<std::string, int> leaf_slots;   // element local name -> slot, -1 when ambiguous
  std::vector<std::string> allowed;
  int attachment_slots = 0;
  std::vector<std::pair<int, AttachmentProperty>> attachment_props;

  int slot_of(const std::string& field) const {
    if (auto it = field_slots.find(field); it != field_slots.end()) return it->second;
    if (auto it = path_slots.find(field); it != path_slots.end()) return it->second;
    if (auto it = leaf_slots.find(field); it != leaf_slots.end()) return it->second;
    return -1;
  }

  // Values per slot; error for unknown or invalid fields.
  std::optional<RenderError> collect(const core::TargetRecord& record,
                                     std::vector<const std::string*>& values) const {
    values.assign(static_cast<std::size_t>(slots), nullptr);
    for (const auto& f : record.fields) {
      const int slot = slot_of(f.name);
      if (slot < 0)
        return RenderError{"unknown_field", "field '" + f.name + "' has no place in element '" +
                                                layout.root + "' of the schema"};
      if (!f.value) continue;
      if (values[static_cast<std::size_t>(slot)])
        return RenderError{"duplicate_field", "field '" + f.name + "' fills a path another field already fills"};
      if (const char* bad = check_text(*f.value)) return RenderError{bad, "field '" + f.name + "'"};
      values[static_cast<std::size_t>(slot)] = &*f.value;
    }
    return std::nullopt;
  }

  bool any(const PlanNode& node, const std::vector<const std::string*>& values,
           bool has_attachments) const {
    if (has_attachments && node.leads_to_attachments) return true;
    for (int i = node.lo; i < node.hi; ++i)
      if (values[static_cast<std::size_t>(i)]) return true;
    return false;
  }

  xmlNode* element(xmlDoc* doc, xmlNode* parent, xmlNs* ns, const PlanNode& node) const {
    xmlNode* e = xmlNewDocNode(doc, ns, x(node.name), nullptr);
    if (!e) throw std::bad_alloc();
    if (parent) xmlAddChild(parent, e);
    return e;
  }

  void fill(xmlDoc* doc, xmlNode* e, xmlNs* ns, const PlanNode& node,
            const std::vector<const std::string*>& values, const core::TargetRecord& record,
            const RenderExtras& extras) const {
    for (const auto& [name, slot] : node.attributes)
      if (const std::string* v = values[static_cast<std::size_t>(slot)])
        xmlNewNsProp(e, shape->attributes_qualified() ? ns : nullptr, x(name), x(*v));
    if (node.text_slot >= 0)
      if (const std::string* v = values[static_cast<std::size_t>(node.text_slot)])
        xmlNodeAddContentLen(e, x(*v), static_cast<int>(v->size()));
    xmlNs* child_ns = qualified_children ? ns : nullptr;
    for (const PlanNode& c : node.children) {
      if (c.attachment_element) {
        attachments(doc, e, child_ns, c, record, extras);
        continue;
      }
      if (!any(c, values, !record.attachments.empty())) continue;
      fill(doc, element(doc, e, child_ns, c), child_ns, c, values, record, extras);
    }
  }

  void attachments(xmlDoc* doc, xmlNode* parent, xmlNs* ns, const PlanNode& node,
                   const core::TargetRecord& record, const RenderExtras& extras) const {
    std::vector<std::string> strings(static_cast<std::size_t>(attachment_slots));
    std::vector<const std::string*> values(static_cast<std::size_t>(attachment_slots));
    for (std::size_t i = 0; i < record.attachments.size(); ++i) {
      const core::AttachmentRef& a = record.attachments[i];
      std::fill(values.begin(), values.end(), nullptr);
      for (const auto& [slot, prop] : attachment_props) {
        std::string& s = strings[static_cast<std::size_t>(slot)];
        switch (prop) {
          case AttachmentProperty::id: s = a.id; break;
          case AttachmentProperty::filename: s = a.filename; break;
          case AttachmentProperty::media_type: s = a.media_type; break;
          case AttachmentProperty::size_bytes: s = std::to_string(a.size_bytes); break;
          case AttachmentProperty::sha256: s = a.sha256; break;
          case AttachmentProperty::stored_name:
            if (i >= extras.stored_names.size()) continue;
            s = extras.stored_names[i];
            break;
        }
        // Device file names are free text: never let them break the document.
        if (check_text(s)) s = sanitize(s);
        values[static_cast<std::size_t>(slot)] = &s;
      }
      fill(doc, element(doc, parent, ns, node), ns, node, values, record, extras);
    }
  }

  xmlNode* render_root(xmlDoc* doc, xmlNode* parent, const core::TargetRecord& record,
                       const std::vector<const std::string*>& values, const RenderExtras& extras) const {
    xmlNode* e = xmlNewDocNode(doc, nullptr, x(root.name), nullptr);
    if (!e) throw std::bad_alloc();
    xmlNs* ns = nullptr;
    if (!ns_uri.empty()) {
      ns = xmlNewNs(e, x(ns_uri), layout.prefix.empty() ? nullptr : x(layout.prefix));
      xmlSetNs(e, ns);
    }
    if (parent) xmlAddChild(parent, e);
    else xmlDocSetRootElement(doc, e);
    fill(doc, e, ns, root, values, record, extras);
    return e;
  }
};

XmlRenderer::XmlRenderer(std::shared_ptr<const SchemaShape> shape, XmlLayout layout)
    : impl_(std::make_unique<Impl>()) {
  init();
  Impl& m = *impl_;
  if (!shape) throw std::invalid_argument("XML layout: no schema");
  m.shape = std::move(shape);
  m.layout = std::move(layout);
  const auto invalid = [&](const std::string& what) {
    return std::invalid_argument("XML layout for '" + m.layout.root + "': " + what);
  };
  const ElementShape* root = m.shape->element(m.layout.root);
  if (!root) throw invalid("not a global element of the schema");
  m.ns_uri = m.layout.namespace_uri.empty() ? m.shape->target_namespace() : m.layout.namespace_uri;
  m.qualified_children = m.shape->elements_qualified();
  if (!m.layout.prefix.empty() && m.ns_uri.empty()) throw invalid("a prefix needs a namespace");

  const ElementShape* attachment = nullptr;
  if (!m.layout.attachments_path.empty()) {
    attachment = find_path(*root, m.layout.attachments_path);
    if (!attachment) throw invalid("attachments path '" + m.layout.attachments_path + "' is not in the schema");
    if (!attachment->repeated)
      throw invalid("attachments path '" + m.layout.attachments_path + "' is not a repeated element");
  }
  build(*root, "", m.slots, m.path_slots, m.layout.attachments_path, m.root);
  m.allowed = m.shape->field_paths(m.layout.root);
  for (const auto& [path, slot] : m.path_slots) {
    const auto slash = path.rfind('/');
    const std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    if (leaf.empty() || leaf[0] == '@' || leaf == path) continue;
    const auto [it, inserted] = m.leaf_slots.emplace(leaf, slot);
    if (!inserted) it->second = -1;
  }

  for (const auto& [field, path] : m.layout.fields) {
    const auto it = m.path_slots.find(path);
    if (it == m.path_slots.end()) throw invalid("field '" + field + "': path '" + path + "' is not in the schema");
    if (!m.field_slots.emplace(field, it->second).second) throw invalid("field '" + field + "' listed twice");
  }
  std::set<int> used;
  for (const auto& [field, slot] : m.field_slots)
    if (!used.insert(slot).second) throw invalid("two fields map to the same path");

  if (attachment) {
    std::unordered_map<std::string, int> paths;
    number_attachment(*attachment, "", m.attachment_slots, paths);
    auto props = m.layout.attachment_fields;
    if (props.empty()) {
      const std::pair<const char*, AttachmentProperty> defaults[] = {
          {"@id", AttachmentProperty::id},         {"@mediaType", AttachmentProperty::media_type},
          {"@sha256", AttachmentProperty::sha256}, {"@size", AttachmentProperty::size_bytes},
          {"FileName", AttachmentProperty::filename}, {"StoredFile", AttachmentProperty::stored_name}};
      for (const auto& [path, prop] : defaults)
        if (paths.count(path)) props.emplace_back(path, prop);
    }
    for (const auto& [path, prop] : props) {
      const auto it = paths.find(path);
      if (it == paths.end())
        throw invalid("attachment field '" + path + "' is not in element '" + attachment->name + "'");
      m.attachment_props.emplace_back(it->second, prop);
    }
  }
}

XmlRenderer::~XmlRenderer() = default;
XmlRenderer::XmlRenderer(XmlRenderer&&) noexcept = default;
XmlRenderer& XmlRenderer::operator=(XmlRenderer&&) noexcept = default;

RenderResult XmlRenderer::render(const core::TargetRecord& record, const RenderExtras& extras) const {
  RenderResult result;
  std::vector<const std::string*> values;
  if (auto error = impl_->collect(record, values)) {
    result.error = std::move(error);
    return result;
  }
  DocPtr doc(xmlNewDoc(reinterpret_cast<const xmlChar*>("1.0")));
  if (!doc) throw std::bad_alloc();
  impl_->render_root(doc.get(), nullptr, record, values, extras);
  assign_pretty_line_numbers(*doc);
  result.doc = std::move(doc);
  return result;
}

XmlRenderer::IntoResult XmlRenderer::render_into(xmlNode& parent, const core::TargetRecord& record,
                                                 const RenderExtras& extras) const {
  IntoResult result;
  std::vector<const std::string*> values;
  if (auto error = impl_->collect(record, values)) {
    result.error = std::move(error);
    return result;
  }
  result.element = impl_->render_root(parent.doc, &parent, record, values, extras);
  return result;
}

const std::vector<std::string>& XmlRenderer::allowed_field_paths() const { return impl_->allowed; }

std::vector<std::string> XmlRenderer::unknown_fields(const std::vector<std::string>& field_names) const {
  std::vector<std::string> out;
  for (const auto& f : field_names)
    if (impl_->slot_of(f) < 0) out.push_back(f);
  return out;
}

const XmlLayout& XmlRenderer::layout() const { return impl_->layout; }
const std::string& XmlRenderer::namespace_uri() const { return impl_->ns_uri; }

}  // namespace reportbridge::xml
