#include "bridge/xml/xml_renderer.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace reportbridge::xml {

namespace {

const xmlChar* x(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }

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
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return error = "invalid_utf8", 1;
  if (cp == 0xFFFE || cp == 0xFFFF) error = "invalid_xml_char";
  return len;
}

// nullptr when `s` is valid UTF-8 made of XML 1.0 characters; else the error code.
const char* check_text(std::string_view s) {
  const char* error = nullptr;
  for (std::size_t i = 0; i < s.size();) {
    // ASCII fast path
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80) {
      ++i;
      continue;
    }
    i += next_char(s, i, error);
    if (error) return error;
  }
  return nullptr;
}

// `s` with every byte sequence that is not an XML 1.0 character replaced by U+FFFD.
std::string sanitize(std::string_view s, std::size_t& replaced) {
  std::string out;
  out.reserve(s.size() + 8);
  const char* error = nullptr;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = next_char(s, i, error);
    if (error) {
      out += "\xEF\xBF\xBD";
      ++replaced;
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

struct CompiledField {
  std::optional<ResolvedPath> path;
  std::optional<PathError> error;
};

struct Node {
  const ElementDecl* element = nullptr;
  const ContentSlot* slot = nullptr;
  int order = 0;
  int index = 0;
  const TypeDef* xsi_type = nullptr;
  const std::string* text = nullptr;
  bool nil = false;
  std::vector<std::pair<const AttributeDecl*, const std::string*>> attrs;
  Node* first_child = nullptr;  // children in schema order: by slot order, then index
  Node* next_sibling = nullptr;
  const std::string* field = nullptr;  // a field that wrote below this node
};

}  // namespace

struct XmlRenderer::Impl {
  std::shared_ptr<const SchemaSet> set;
  XmlLayout layout;
  const ElementDecl* root = nullptr;
  std::unique_ptr<PathResolver> paths;
  std::unordered_map<std::string, std::string> field_paths;  // layout.fields
  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::shared_ptr<const CompiledField>> cache;
  std::optional<ResolvedPath> attachment_path;  // last step: [*]
  std::vector<std::pair<ResolvedPath, AttachmentProperty>> attachment_props;
  std::optional<ResolvedPath> attachment_content, attachment_reference;  // below the attachment element
  std::map<std::string, std::string> element_prefix;  // namespace -> prefix ("" = default namespace)
  std::map<std::string, std::string> attribute_prefix;  // namespace -> non-empty prefix
  mutable std::once_flag allowed_once;
  mutable std::vector<std::string> allowed;

  // Cached entries live as long as the renderer (the cache never drops one).
  const CompiledField* cached(const std::string& name) const {
    std::shared_lock lock(cache_mutex);
    auto it = cache.find(name);
    return it == cache.end() ? nullptr : it->second.get();
  }

  std::shared_ptr<const CompiledField> compile(const std::string& name) const {
    {
      std::shared_lock lock(cache_mutex);
      if (auto it = cache.find(name); it != cache.end()) return it->second;
    }
    auto it = field_paths.find(name);
    const std::string& path = it == field_paths.end() ? name : it->second;
    auto compiled = std::make_shared<CompiledField>();
    PathResolution r = paths->resolve(path);
    compiled->path = std::move(r.path);
    compiled->error = std::move(r.error);
    std::unique_lock lock(cache_mutex);
    // Another thread may have compiled the same field meanwhile: its entry is
    // the one in the cache, and the one to use.
    if (auto it = cache.find(name); it != cache.end()) return it->second;
    if (cache.size() < 4096) cache.emplace(name, compiled);
    return compiled;
  }

  std::string prefix_of(const std::string& ns) const {
    if (ns.empty()) return "";
    if (auto it = element_prefix.find(ns); it != element_prefix.end()) return it->second;
    std::string p = paths->prefix_for(ns);
    if (!p.empty() && p.back() == ':') p.pop_back();
    return p;
  }

  std::string attr_prefix_of(const std::string& ns) const {
    if (auto it = attribute_prefix.find(ns); it != attribute_prefix.end()) return it->second;
    return prefix_of(ns);
  }

  // --- one render ---------------------------------------------------------------

  struct Build {
    std::deque<Node> nodes;
    std::deque<std::string> strings;  // sanitized values, list items
    Node* top = nullptr;
    std::size_t replaced = 0;
    std::optional<RenderError> error;
    std::vector<const std::string*> element_namespaces, attribute_namespaces;  // distinct
    std::vector<std::shared_ptr<const CompiledField>> owned;  // compiled past the cache's limit
    bool needs_xsi = false;
  };

  static void note_namespace(std::vector<const std::string*>& seen, const std::string& ns) {
    for (const std::string* s : seen)
      if (*s == ns) return;
    seen.push_back(&ns);
  }

  Node* child(Build& b, Node* parent, const ResolvedStep& step, int index, const std::string* field) const {
    for (Node* c = parent->first_child; c; c = c->next_sibling)
      if (c->element == step.element && c->index == index) {
        if (step.xsi_type && c->xsi_type && c->xsi_type != step.xsi_type) {
          b.error = RenderError{"duplicate_field", "field '" + *field + "' chooses another xsi:type for " +
                                                       paths->step_name(step.element->name) + " than an earlier field"};
          return nullptr;
        }
        if (step.xsi_type) c->xsi_type = step.xsi_type;
        return c;
      }
    Node& n = b.nodes.emplace_back();
    n.element = step.element;
    n.slot = step.slot;
    n.order = step.slot ? step.slot->order : 0;
    n.index = index;
    n.xsi_type = step.xsi_type;
    n.field = field;
    // Inserted at its place in schema order (after equal keys: first come first).
    Node** link = &parent->first_child;
    while (*link && ((*link)->order < n.order || ((*link)->order == n.order && (*link)->index <= n.index)))
      link = &(*link)->next_sibling;
    n.next_sibling = *link;
    *link = &n;
    note_namespace(b.element_namespaces, step.element->name.ns);
    if (step.xsi_type) {
      b.needs_xsi = true;
      note_namespace(b.element_namespaces, step.xsi_type->name.ns);
    }
    return &n;
  }

  // Places one value (or nil) at `path`; `item` is the position for a [*] step.
  void place(Build& b, const ResolvedPath& path, const std::string* field, const std::string* value, int item,
             std::size_t depth_limit = static_cast<std::size_t>(-1)) const {
    Node* at = b.top;
    const std::size_t n = std::min(path.steps.size(), depth_limit);
    for (std::size_t i = 0; i < n && at; ++i) {
      const ResolvedStep& s = path.steps[i];
      const int index = s.each ? item : (s.index ? s.index : 1);
      at = child(b, at, s, index, field);
    }
    if (!at) return;
    if (path.nil) {
      if (*value == "true" || *value == "1") {
        at->nil = true;
        b.needs_xsi = true;
      }
      return;
    }
    if (path.attribute) {
      for (const auto& [decl, v] : at->attrs)
        if (decl == path.attribute) {
          b.error = RenderError{"duplicate_field", "field '" + *field + "' fills a path another field already fills"};
          return;
        }
      at->attrs.emplace_back(path.attribute, value);
      if (!path.attribute->name.ns.empty()) note_namespace(b.attribute_namespaces, path.attribute->name.ns);
      return;
    }
    if (at->text) {
      b.error = RenderError{"duplicate_field", "field '" + *field + "' fills a path another field already fills"};
      return;
    }
    at->text = value;
  }

  // A value as it goes into the document (policy on characters XML cannot hold).
  const std::string* clean(Build& b, const std::string& field, const std::string& value) const {
    const char* bad = check_text(value);
    if (!bad) return &value;
    if (layout.illegal_characters == IllegalCharacters::reject) {
      b.error = RenderError{bad, "field '" + field + "'"};
      return nullptr;
    }
    return &b.strings.emplace_back(sanitize(value, b.replaced));
  }

  void add_field(Build& b, const core::RecordField& f) const {
    const CompiledField* compiled = cached(f.name);
    if (!compiled) {
      auto c = compile(f.name);
      compiled = c.get();
      // Kept alive by the build unless it is the cache's own entry (a full
      // cache keeps none; two threads compiling one field keep the first).
      if (cached(f.name) != compiled) b.owned.push_back(std::move(c));
    }
    if (!compiled->path) {
      b.error = RenderError{"unknown_field", "field '" + f.name + "': " + compiled->error->message};
      return;
    }
    if (!f.value) return;
    const ResolvedPath& path = *compiled->path;
    if (!path.each()) {
      const std::string* v = clean(b, f.name, *f.value);
      if (v) place(b, path, &f.name, v, 1);
      return;
    }
    // [*]: a JSON array of scalars.
    const auto bad_list = [&] {
      b.error = RenderError{"bad_list", "field '" + f.name + "' fills the [*] path '" + path.text +
                                            "': its value must be a JSON array of strings"};
    };
    if (f.value->empty()) return;
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(*f.value, ec);
    if (ec || !parsed.is_array()) return bad_list();
    int item = 0;
    for (const auto& v : parsed.as_array()) {
      ++item;
      std::string text;
      if (v.is_string()) text = std::string(v.as_string().c_str(), v.as_string().size());
      else if (v.is_bool()) text = v.as_bool() ? "true" : "false";
      else if (v.is_int64() || v.is_uint64() || v.is_double()) text = boost::json::serialize(v);
      else if (v.is_null()) continue;
      else return bad_list();
      const std::string& stored = b.strings.emplace_back(std::move(text));
      const std::string* cleaned = clean(b, f.name, stored);
      if (!cleaned) return;
      place(b, path, &f.name, cleaned, item);
      if (b.error) return;
    }
  }

  void add_attachments(Build& b, const core::TargetRecord& record, const RenderExtras& extras) const {
    if (!attachment_path || record.attachments.empty()) return;
    static const std::string attachment_field = "(attachment)";
    for (std::size_t i = 0; i < record.attachments.size(); ++i) {
      const core::AttachmentRef& a = record.attachments[i];
      // The attachment element itself, even when no property has a value.
      place_element(b, *attachment_path, static_cast<int>(i + 1));
      for (const auto& [rel, prop] : attachment_props) {
        std::string s;
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
        std::size_t ignored = 0;
        const std::string* v = &b.strings.emplace_back(check_text(s) ? sanitize(s, ignored) : std::move(s));
        ResolvedPath full = *attachment_path;
        for (const auto& st : rel.steps) full.steps.push_back(st);
        full.attribute = rel.attribute;
        full.attribute_use = rel.attribute_use;
        full.nil = false;
        place(b, full, &attachment_field, v, static_cast<int>(i + 1));
        if (b.error) return;
      }
      auto extra = [&](const std::optional<ResolvedPath>& rel, const std::vector<std::string>& texts) {
        if (!rel || i >= texts.size() || texts[i].empty() || b.error) return;
        std::size_t ignored = 0;
        const std::string* v =
            &b.strings.emplace_back(check_text(texts[i]) ? sanitize(texts[i], ignored) : texts[i]);
        ResolvedPath full = *attachment_path;
        for (const auto& st : rel->steps) full.steps.push_back(st);
        full.attribute = rel->attribute;
        full.attribute_use = rel->attribute_use;
        full.nil = false;
        place(b, full, &attachment_field, v, static_cast<int>(i + 1));
      };
      extra(attachment_content, extras.attachment_contents);
      extra(attachment_reference, extras.attachment_references);
      if (b.error) return;
    }
  }

  void place_element(Build& b, const ResolvedPath& path, int item) const {
    static const std::string attachment_field = "(attachment)";
    Node* at = b.top;
    for (const auto& s : path.steps) {
      at = child(b, at, s, s.each ? item : (s.index ? s.index : 1), &attachment_field);
      if (!at) return;
    }
  }

  // xs:choice branches and nil content, checked once the tree is complete.
  bool check(Build& b, Node* n) const {
    if (n->nil && (n->text || n->first_child)) {
      b.error = RenderError{"nil_conflict", "field '" + (n->field ? *n->field : std::string("?")) + "' sets xsi:nil on " +
                                                paths->step_name(n->element->name) + ", which other fields give content"};
      return false;
    }
    for (const Node* ni = n->first_child; ni; ni = ni->next_sibling) {
      const ContentSlot* si = ni->slot;
      if (!si || si->choices.empty()) continue;
      for (const Node* nj = ni->next_sibling; nj; nj = nj->next_sibling) {
        const ContentSlot* sj = nj->slot;
        if (!sj || sj == si || sj->choices.empty()) continue;
        for (const auto& ci : si->choices)
          for (const auto& cj : sj->choices)
            if (ci.choice == cj.choice && ci.branch != cj.branch && ci.max_occurs == 1) {
              b.error = RenderError{
                  "choice_conflict",
                  "fields '" + (ni->field ? *ni->field : std::string("?")) + "' and '" +
                      (nj->field ? *nj->field : std::string("?")) + "' fill " +
                      paths->step_name(ni->element->name) + " and " +
                      paths->step_name(nj->element->name) + ", alternatives of one xs:choice (" +
                      ci.choice->where.to_string() + ")"};
              return false;
            }
      }
    }
    // Attributes in the order the type declares them (children are kept in
    // schema order as they are added).
    if (n->attrs.size() > 1) {
      const TypeDef* t = n->xsi_type ? n->xsi_type : n->element->type;
      const auto position = [&](const AttributeDecl* d) {
        if (!t->simple)
          for (std::size_t i = 0; i < t->attributes.size(); ++i)
            if (t->attributes[i].decl == d) return i;
        return static_cast<std::size_t>(-1);
      };
      for (std::size_t i = 1; i < n->attrs.size(); ++i)  // insertion sort: few, and stable
        for (std::size_t j = i; j > 0 && position(n->attrs[j].first) < position(n->attrs[j - 1].first); --j)
          std::swap(n->attrs[j], n->attrs[j - 1]);
    }
    for (Node* c = n->first_child; c; c = c->next_sibling)
      if (!check(b, c)) return false;
    return true;
  }

  Build build(const core::TargetRecord& record, const RenderExtras& extras) const {
    Build b;
    Node& top = b.nodes.emplace_back();
    top.element = root;
    b.top = &top;
    note_namespace(b.element_namespaces, root->name.ns);
    for (const auto& f : record.fields) {
      add_field(b, f);
      if (b.error) return b;
    }
    add_attachments(b, record, extras);
    if (!b.error) check(b, b.top);
    return b;
  }

  // --- emission -------------------------------------------------------------------

  struct Emit {
    using NsList = std::vector<std::pair<const std::string*, xmlNs*>>;
    xmlDoc* doc;
    NsList element_ns;    // namespace -> declaration used for elements
    NsList attribute_ns;  // namespace -> prefixed declaration for attributes
    xmlNs* xsi = nullptr;
    static xmlNs* ns_of(const NsList& list, const std::string& ns) {
      for (const auto& [u, d] : list)
        if (*u == ns) return d;
      throw std::logic_error("namespace " + ns + " not declared");
    }
  };

  xmlNode* element(Emit& e, const Node& n, xmlNode* parent, bool default_in_scope) const {
    const std::string& ns = n.element->name.ns;
    xmlNs* declared = ns.empty() ? nullptr : e.ns_of(e.element_ns, ns);
    xmlNode* el = xmlNewDocNode(e.doc, declared, x(n.element->name.local), nullptr);
    if (!el) throw std::bad_alloc();
    if (parent) xmlAddChild(parent, el);
    if (ns.empty() && default_in_scope) {
      xmlNewNs(el, x(std::string()), nullptr);  // xmlns="": an unqualified element under a default namespace
      default_in_scope = false;
    }
    fill(e, n, el, default_in_scope);
    return el;
  }

  void fill(Emit& e, const Node& n, xmlNode* el, bool default_in_scope) const {
    if (n.xsi_type) {
      const std::string p = prefix_of(n.xsi_type->name.ns);
      const std::string value = p.empty() ? n.xsi_type->name.local : p + ":" + n.xsi_type->name.local;
      xmlNewNsProp(el, e.xsi, x("type"), x(value));
    }
    // Attributes and children are in schema order (sorted by check()).
    for (const auto& [decl, value] : n.attrs) {
      xmlNs* ns = decl->name.ns.empty() ? nullptr : e.ns_of(e.attribute_ns, decl->name.ns);
      xmlNewNsProp(el, ns, x(decl->name.local), x(*value));
    }
    if (n.nil) {
      xmlNewNsProp(el, e.xsi, x("nil"), x(std::string("true")));
      return;
    }
    if (n.text) xmlNodeAddContentLen(el, x(*n.text), static_cast<int>(n.text->size()));
    for (const Node* c = n.first_child; c; c = c->next_sibling) element(e, *c, el, default_in_scope);
  }

  xmlNode* emit(xmlDoc* doc, xmlNode* parent, const Build& b) const {
    Emit e{doc, {}, {}, nullptr};
    xmlNode* top = xmlNewDocNode(doc, nullptr, x(root->name.local), nullptr);
    if (!top) throw std::bad_alloc();
    if (parent) xmlAddChild(parent, top);
    else xmlDocSetRootElement(doc, top);
    // Every namespace the document uses, declared once here: the root's first.
    // (element_namespaces starts with the root's; the others sorted for a stable output.)
    std::vector<const std::string*> order(b.element_namespaces.begin(), b.element_namespaces.end());
    std::sort(order.begin() + 1, order.end(), [](const std::string* a, const std::string* c) { return *a < *c; });
    bool uses_default = false;
    for (const std::string* ns : order) {
      if (ns->empty()) continue;
      const std::string p = prefix_of(*ns);
      if (p.empty()) uses_default = true;
      e.element_ns.emplace_back(ns, xmlNewNs(top, x(*ns), p.empty() ? nullptr : x(p)));
    }
    std::vector<const std::string*> attr_order(b.attribute_namespaces.begin(), b.attribute_namespaces.end());
    std::sort(attr_order.begin(), attr_order.end(), [](const std::string* a, const std::string* c) { return *a < *c; });
    for (const std::string* ns : attr_order) {
      auto it = std::find_if(e.element_ns.begin(), e.element_ns.end(), [&](const auto& kv) { return *kv.first == *ns; });
      if (it != e.element_ns.end() && it->second->prefix) {
        e.attribute_ns.emplace_back(ns, it->second);
        continue;
      }
      const std::string p = attr_prefix_of(*ns);
      e.attribute_ns.emplace_back(ns, xmlNewNs(top, x(*ns), x(p)));
    }
    if (b.needs_xsi) e.xsi = xmlNewNs(top, x(std::string(kXsiNamespace)), x(std::string("xsi")));
    if (!root->name.ns.empty()) xmlSetNs(top, e.ns_of(e.element_ns, root->name.ns));
    bool default_in_scope = uses_default;
    if (parent && !uses_default) {
      xmlNs* d = xmlSearchNs(doc, parent, nullptr);
      default_in_scope = d && d->href && *d->href;
    }
    if (root->name.ns.empty() && default_in_scope) {
      xmlNewNs(top, x(std::string()), nullptr);
      default_in_scope = false;
    }
    fill(e, *b.top, top, default_in_scope);
    return top;
  }
};

XmlRenderer::XmlRenderer(std::shared_ptr<const SchemaSet> schema, XmlLayout layout)
    : impl_(std::make_unique<Impl>()) {
  init();
  Impl& m = *impl_;
  if (!schema) throw std::invalid_argument("XML layout: no schema");
  m.set = std::move(schema);
  m.layout = std::move(layout);
  const auto invalid = [&](const std::string& what) {
    return std::invalid_argument("XML layout for '" + m.layout.root + "': " + what);
  };
  std::string why;
  m.root = find_global_element(*m.set, m.layout.root, m.layout.namespaces, m.layout.namespace_uri, &why);
  if (!m.root) throw invalid(why.find("not a global element") != std::string::npos ? why : why + " (not a global element)");
  for (const auto& [p, u] : m.layout.namespaces) {
    if (p == "xsi" || p == "xml") throw invalid("prefix '" + p + "' is reserved");
    if (u.empty()) throw invalid("prefix '" + p + "' has an empty namespace");
  }
  Namespaces ns = m.layout.namespaces;
  if (!m.layout.prefix.empty()) {
    if (m.root->name.ns.empty()) throw invalid("a prefix needs a namespace");
    bool have = false;
    for (const auto& [p, u] : ns) have = have || (p == m.layout.prefix);
    if (!have) ns.insert(ns.begin(), {m.layout.prefix, m.root->name.ns});
  }
  m.paths = std::make_unique<PathResolver>(m.set, *m.root, ns);
  // Output prefixes.
  if (!m.root->name.ns.empty()) m.element_prefix[m.root->name.ns] = m.layout.prefix;
  if (m.layout.prefix.empty())
    for (const auto& [p, u] : m.layout.namespaces)
      if (u == m.root->name.ns) {
        m.element_prefix[u] = p;
        break;
      }
  std::set<std::string> taken;
  for (const auto& [p, u] : ns) taken.insert(p);
  for (const auto& nsuri : m.set->namespaces()) {
    if (nsuri.empty()) continue;
    std::string p = m.prefix_of(nsuri);
    taken.insert(p);
  }
  // Attributes in the root's default namespace need a prefix of their own.
  if (!m.root->name.ns.empty() && m.element_prefix[m.root->name.ns].empty()) {
    std::string p = "tns";
    for (int i = 1; taken.count(p); ++i) p = "tns" + std::to_string(i);
    m.attribute_prefix[m.root->name.ns] = p;
  }
  // Layout fields.
  std::set<std::string> seen_fields;
  std::map<std::string, std::string> canonical_of;
  for (const auto& [field, path] : m.layout.fields) {
    if (!seen_fields.insert(field).second) throw invalid("field '" + field + "' listed twice");
    PathResolution r = m.paths->resolve(path);
    if (!r) {
      std::string message = "field '" + field + "': path '" + path + "': " + r.error->message;
      if (!r.error->suggestions.empty()) {
        message += " (did you mean ";
        for (std::size_t i = 0; i < r.error->suggestions.size(); ++i) message += (i ? ", " : "") + r.error->suggestions[i];
        message += "?)";
      }
      throw invalid(message);
    }
    if (auto [it, inserted] = canonical_of.emplace(r.path->canonical, field); !inserted)
      throw invalid("two fields map to the same path ('" + it->second + "' and '" + field + "' -> " +
                    r.path->canonical + ")");
    m.field_paths.emplace(field, path);
  }
  // Attachments.
  if (!m.layout.attachments_path.empty()) {
    std::string p = m.layout.attachments_path;
    const bool bare = p.back() != ']';
    PathResolution r = m.paths->resolve_element(bare ? p + "[*]" : p);
    if (!r) {
      if (r.error->kind == PathErrorKind::not_repeated &&
          r.error->step == static_cast<std::size_t>(std::count(p.begin(), p.end(), '/')))
        throw invalid("attachments path '" + p + "' is not a repeated element");
      throw invalid("attachments path '" + p + "' is not in the schema: " + r.error->message);
    }
    if (!r.path->steps.back().each) throw invalid("attachments path '" + p + "' must end at a repeated element (write it without [n])");
    m.attachment_path = std::move(r.path);
    const TypeDef& attachment_type = *m.attachment_path->steps.back().type;
    const std::string attachment_name = m.attachment_path->steps.back().element->name.local;
    auto props = m.layout.attachment_fields;
    const bool defaults = props.empty();
    if (defaults)
      props = {{"@id", AttachmentProperty::id},           {"@mediaType", AttachmentProperty::media_type},
               {"@sha256", AttachmentProperty::sha256},   {"@size", AttachmentProperty::size_bytes},
               {"FileName", AttachmentProperty::filename}, {"StoredFile", AttachmentProperty::stored_name}};
    for (const auto& [rel, prop] : props) {
      PathResolution pr = m.paths->resolve_below(attachment_type, rel);
      if (!pr) {
        if (defaults) continue;
        throw invalid("attachment field '" + rel + "' is not in element '" + attachment_name + "': " + pr.error->message);
      }
      m.attachment_props.emplace_back(std::move(*pr.path), prop);
    }
    auto extra = [&](const std::string& rel, const char* what, std::optional<ResolvedPath>& into) {
      if (rel.empty()) return;
      PathResolution pr = m.paths->resolve_below(attachment_type, rel);
      if (!pr)
        throw invalid(std::string(what) + " '" + rel + "' is not in element '" + attachment_name + "': " + pr.error->message);
      for (const auto& [other, prop] : m.attachment_props)
        if (other.canonical == pr.path->canonical)
          throw invalid(std::string(what) + " '" + rel + "' is already written with the attachment's metadata");
      into = std::move(pr.path);
    };
    extra(m.layout.attachment_content_path, "attachment content path", m.attachment_content);
    extra(m.layout.attachment_reference_path, "attachment reference path", m.attachment_reference);
  }
}

XmlRenderer::~XmlRenderer() = default;
XmlRenderer::XmlRenderer(XmlRenderer&&) noexcept = default;
XmlRenderer& XmlRenderer::operator=(XmlRenderer&&) noexcept = default;

RenderResult XmlRenderer::render(const core::TargetRecord& record, const RenderExtras& extras) const {
  RenderResult result;
  Impl::Build b = impl_->build(record, extras);
  if (b.error) {
    result.error = std::move(b.error);
    return result;
  }
  DocPtr doc(xmlNewDoc(reinterpret_cast<const xmlChar*>("1.0")));
  if (!doc) throw std::bad_alloc();
  impl_->emit(doc.get(), nullptr, b);
  assign_pretty_line_numbers(*doc);
  result.doc = std::move(doc);
  result.replaced_characters = b.replaced;
  return result;
}

XmlRenderer::IntoResult XmlRenderer::render_into(xmlNode& parent, const core::TargetRecord& record,
                                                 const RenderExtras& extras) const {
  IntoResult result;
  Impl::Build b = impl_->build(record, extras);
  if (b.error) {
    result.error = std::move(b.error);
    return result;
  }
  result.element = impl_->emit(parent.doc, &parent, b);
  result.replaced_characters = b.replaced;
  return result;
}

PathResolution XmlRenderer::resolve_field(const std::string& field_name) const {
  auto c = impl_->compile(field_name);
  PathResolution r;
  r.path = c->path;
  r.error = c->error;
  return r;
}

const std::vector<std::string>& XmlRenderer::allowed_field_paths() const {
  std::call_once(impl_->allowed_once, [this] {
    EnumerateOptions o;
    o.include_repeated = false;
    for (auto& p : impl_->paths->enumerate(o))
      if (p.kind != PathInfo::Kind::wildcard) impl_->allowed.push_back(std::move(p.path));
  });
  return impl_->allowed;
}

std::vector<std::string> XmlRenderer::unknown_fields(const std::vector<std::string>& field_names) const {
  std::vector<std::string> out;
  for (const auto& f : field_names)
    if (!impl_->compile(f)->path) out.push_back(f);
  return out;
}

const XmlLayout& XmlRenderer::layout() const { return impl_->layout; }
const std::string& XmlRenderer::namespace_uri() const { return impl_->root->name.ns; }
const ElementDecl& XmlRenderer::root() const { return *impl_->root; }
const PathResolver& XmlRenderer::paths() const { return *impl_->paths; }
const std::shared_ptr<const SchemaSet>& XmlRenderer::schema() const { return impl_->set; }

}  // namespace reportbridge::xml
