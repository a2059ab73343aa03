#include "bridge/xml/schema_shape.hpp"

#include <libxml/parser.h>

#include <cstring>
#include <map>
#include <stdexcept>

#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

const ElementShape* ElementShape::child(std::string_view local_name) const {
  for (const auto& c : children)
    if (c.name == local_name) return &c;
  return nullptr;
}

bool ElementShape::has_attribute(std::string_view local_name) const {
  for (const auto& a : attributes)
    if (a.name == local_name) return true;
  return false;
}

namespace {

constexpr const char* kXsNamespace = "http://www.w3.org/2001/XMLSchema";
constexpr int kMaxDepth = 32;  // recursive types are cut off here

bool is_xs(const xmlNode* node, const char* local) {
  return node->type == XML_ELEMENT_NODE && node->ns && node->ns->href &&
         std::strcmp(reinterpret_cast<const char*>(node->ns->href), kXsNamespace) == 0 &&
         std::strcmp(reinterpret_cast<const char*>(node->name), local) == 0;
}

std::string attr(const xmlNode* node, const char* name) {
  xmlChar* v = xmlGetNoNsProp(node, reinterpret_cast<const xmlChar*>(name));
  if (!v) return {};
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

std::string local_part(const std::string& qname) {
  const auto colon = qname.find(':');
  return colon == std::string::npos ? qname : qname.substr(colon + 1);
}

// The namespace a QName in an XSD attribute refers to.
std::string qname_namespace(const xmlNode* node, const std::string& qname) {
  const auto colon = qname.find(':');
  const std::string prefix = colon == std::string::npos ? std::string() : qname.substr(0, colon);
  xmlNs* ns = xmlSearchNs(node->doc, const_cast<xmlNode*>(node),
                          prefix.empty() ? nullptr : reinterpret_cast<const xmlChar*>(prefix.c_str()));
  return ns && ns->href ? reinterpret_cast<const char*>(ns->href) : "";
}

class Walker {
 public:
  Walker(const xmlNode* schema, std::string target_namespace)
      : target_namespace_(std::move(target_namespace)) {
    for (const xmlNode* c = schema->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      const std::string name = attr(c, "name");
      if (is_xs(c, "element")) elements_.emplace_back(name, c);
      else if (is_xs(c, "complexType")) complex_types_[name] = c;
      else if (is_xs(c, "group")) groups_[name] = c;
      else if (is_xs(c, "attributeGroup")) attribute_groups_[name] = c;
    }
  }

  std::vector<ElementShape> globals() {
    std::vector<ElementShape> out;
    for (const auto& [name, node] : elements_) out.push_back(element(node, 0, false));
    return out;
  }

 private:
  const xmlNode* in_target(const std::map<std::string, const xmlNode*>& table, const xmlNode* at,
                           const std::string& qname) const {
    if (qname_namespace(at, qname) != target_namespace_) return nullptr;
    const auto it = table.find(local_part(qname));
    return it == table.end() ? nullptr : it->second;
  }

  const xmlNode* global_element(const xmlNode* at, const std::string& qname) const {
    if (qname_namespace(at, qname) != target_namespace_) return nullptr;
    for (const auto& [name, node] : elements_)
      if (name == local_part(qname)) return node;
    return nullptr;
  }

  static void occurs(const xmlNode* node, ElementShape& shape, bool optional_context,
                     bool repeated_context) {
    const std::string min = attr(node, "minOccurs");
    const std::string max = attr(node, "maxOccurs");
    shape.required = !optional_context && (min.empty() || min != "0");
    shape.repeated = repeated_context || max == "unbounded" || (!max.empty() && max != "0" && max != "1");
  }

  ElementShape element(const xmlNode* decl, int depth, bool optional_context,
                       bool repeated_context = false) {
    ElementShape shape;
    const std::string ref = attr(decl, "ref");
    if (!ref.empty()) {
      const xmlNode* target = global_element(decl, ref);
      if (target && depth < kMaxDepth) shape = element(target, depth + 1, false);
      else shape.name = local_part(ref), shape.has_text = true;
      occurs(decl, shape, optional_context, repeated_context);
      return shape;
    }
    shape.name = attr(decl, "name");
    occurs(decl, shape, optional_context, repeated_context);
    if (depth >= kMaxDepth) return shape;
    const std::string type = attr(decl, "type");
    if (!type.empty()) {
      if (const xmlNode* ct = in_target(complex_types_, decl, type)) complex_type(ct, shape, depth + 1);
      else shape.has_text = true;  // built-in or named simple type
      return shape;
    }
    bool typed = false;
    for (const xmlNode* c = decl->children; c; c = c->next) {
      if (is_xs(c, "complexType")) complex_type(c, shape, depth + 1), typed = true;
      else if (is_xs(c, "simpleType")) shape.has_text = true, typed = true;
    }
    if (!typed) shape.has_text = true;  // xs:anyType
    return shape;
  }

  void complex_type(const xmlNode* type, ElementShape& shape, int depth) {
    if (depth >= kMaxDepth) return;
    if (attr(type, "mixed") == "true") shape.has_text = true;
    content(type, shape, depth);
  }

  // Children of a complexType, an extension or a restriction.
  void content(const xmlNode* parent, ElementShape& shape, int depth) {
    for (const xmlNode* c = parent->children; c; c = c->next) {
      if (is_xs(c, "sequence") || is_xs(c, "all") || is_xs(c, "choice")) {
        particle(c, shape, depth, false, false);
      } else if (is_xs(c, "group")) {
        group_ref(c, shape, depth, false, false);
      } else if (is_xs(c, "attribute")) {
        attribute(c, shape);
      } else if (is_xs(c, "attributeGroup")) {
        if (const xmlNode* g = in_target(attribute_groups_, c, attr(c, "ref")); g && depth < kMaxDepth)
          content(g, shape, depth + 1);
      } else if (is_xs(c, "complexContent") || is_xs(c, "simpleContent")) {
        if (is_xs(c, "simpleContent")) shape.has_text = true;
        for (const xmlNode* d = c->children; d; d = d->next) {
          if (!is_xs(d, "extension") && !is_xs(d, "restriction")) continue;
          if (is_xs(d, "extension") && is_xs(c, "complexContent")) {
            if (const xmlNode* base = in_target(complex_types_, d, attr(d, "base")); base && depth < kMaxDepth)
              complex_type(base, shape, depth + 1);
          }
          content(d, shape, depth);
        }
      }
    }
  }

  void particle(const xmlNode* group, ElementShape& shape, int depth, bool optional_context,
                bool repeated_context) {
    ElementShape probe;
    occurs(group, probe, optional_context, repeated_context);
    const bool optional = !probe.required || is_xs(group, "choice");
    const bool repeated = probe.repeated;
    for (const xmlNode* c = group->children; c; c = c->next) {
      if (is_xs(c, "element")) {
        shape.children.push_back(element(c, depth, optional, repeated));
      } else if (is_xs(c, "sequence") || is_xs(c, "all") || is_xs(c, "choice")) {
        if (depth < kMaxDepth) particle(c, shape, depth + 1, optional, repeated);
      } else if (is_xs(c, "group")) {
        group_ref(c, shape, depth, optional, repeated);
      }
    }
  }

  void group_ref(const xmlNode* ref, ElementShape& shape, int depth, bool optional_context,
                 bool repeated_context) {
    const xmlNode* g = in_target(groups_, ref, attr(ref, "ref"));
    if (!g || depth >= kMaxDepth) return;
    ElementShape probe;
    occurs(ref, probe, optional_context, repeated_context);
    for (const xmlNode* c = g->children; c; c = c->next)
      if (is_xs(c, "sequence") || is_xs(c, "all") || is_xs(c, "choice"))
        particle(c, shape, depth + 1, !probe.required, probe.repeated);
  }

  static void attribute(const xmlNode* decl, ElementShape& shape) {
    std::string name = attr(decl, "name");
    if (name.empty()) name = local_part(attr(decl, "ref"));
    if (name.empty() || attr(decl, "use") == "prohibited" || shape.has_attribute(name)) return;
    shape.attributes.push_back({name, attr(decl, "use") == "required"});
  }

  std::string target_namespace_;
  std::vector<std::pair<std::string, const xmlNode*>> elements_;
  std::map<std::string, const xmlNode*> complex_types_, groups_, attribute_groups_;
};

void collect_paths(const ElementShape& shape, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& a : shape.attributes) out.push_back(prefix + "@" + a.name);
  for (const auto& c : shape.children) {
    if (c.repeated) continue;
    const std::string path = prefix + c.name;
    if (c.has_text) out.push_back(path);
    collect_paths(c, path + "/", out);
  }
}

}  // namespace

std::shared_ptr<const SchemaShape> SchemaShape::load(const std::filesystem::path& xsd) {
  init();
  std::vector<XmlError> errors;
  xmlParserCtxt* ctxt = xmlNewParserCtxt();
  if (!ctxt) throw std::bad_alloc();
  ctxt->_private = &errors;
  ctxt->sax->serror = [](void* user, xmlError* error) {
    auto* c = static_cast<xmlParserCtxt*>(user);
    std::string message = error->message ? error->message : "unknown error";
    while (!message.empty() && message.back() == '\n') message.pop_back();
    static_cast<std::vector<XmlError>*>(c->_private)->push_back({message, error->line, error->int2});
  };
  DocPtr doc(xmlCtxtReadFile(ctxt, xsd.c_str(), nullptr,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  xmlFreeParserCtxt(ctxt);
  if (!doc) {
    throw std::runtime_error("cannot read XSD " + xsd.string() +
                             (errors.empty() ? std::string(": not found or unreadable")
                                             : ": " + join_errors(errors)));
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !is_xs(root, "schema"))
    throw std::runtime_error("XSD " + xsd.string() + ": root element is not xs:schema");
  auto shape = std::make_shared<SchemaShape>();
  shape->target_namespace_ = attr(root, "targetNamespace");
  shape->elements_qualified_ = attr(root, "elementFormDefault") == "qualified";
  shape->attributes_qualified_ = attr(root, "attributeFormDefault") == "qualified";
  Walker walker(root, shape->target_namespace_);
  shape->globals_ = walker.globals();
  return shape;
}

const ElementShape* SchemaShape::element(std::string_view global_name) const {
  for (const auto& e : globals_)
    if (e.name == global_name) return &e;
  return nullptr;
}

std::vector<std::string> SchemaShape::global_elements() const {
  std::vector<std::string> out;
  for (const auto& e : globals_) out.push_back(e.name);
  return out;
}

std::vector<std::string> SchemaShape::field_paths(std::string_view root) const {
  std::vector<std::string> out;
  if (const ElementShape* e = element(root)) collect_paths(*e, "", out);
  return out;
}

}  // namespace reportbridge::xml
