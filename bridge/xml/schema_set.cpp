#include "bridge/xml/schema_set.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>

#include "bridge/xml/entity_loader.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Small value types

std::string QName::clark() const { return ns.empty() ? local : "{" + ns + "}" + local; }

std::string SourcePos::to_string() const {
  if (file.empty()) return "(built-in)";
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + (column > 0 ? ":" + std::to_string(column) : "");
}

SchemaError::SchemaError(SourcePos where, const std::string& message)
    : std::runtime_error(where.to_string() + ": " + message), where_(std::move(where)), message_(message) {}

bool Facets::empty() const {
  return enumeration.empty() && !length && !min_length && !max_length && patterns.empty() && !min_inclusive &&
         !max_inclusive && !min_exclusive && !max_exclusive && !total_digits && !fraction_digits;
}

std::string Facets::describe() const {
  std::vector<std::string> parts;
  if (!enumeration.empty()) {
    std::string e = "enumeration: ";
    for (std::size_t i = 0; i < enumeration.size(); ++i) {
      if (i == 12) {
        e += "|... (" + std::to_string(enumeration.size()) + " values)";
        break;
      }
      e += (i ? "|" : "") + enumeration[i];
    }
    parts.push_back(e);
  }
  if (length) parts.push_back("length: " + std::to_string(*length));
  if (min_length) parts.push_back("minLength: " + std::to_string(*min_length));
  if (max_length) parts.push_back("maxLength: " + std::to_string(*max_length));
  for (const auto& step : patterns) {
    std::string p = "pattern: ";
    for (std::size_t i = 0; i < step.size(); ++i) p += (i ? " | " : "") + step[i];
    parts.push_back(p);
  }
  if (min_inclusive) parts.push_back("minInclusive: " + *min_inclusive);
  if (min_exclusive) parts.push_back("minExclusive: " + *min_exclusive);
  if (max_inclusive) parts.push_back("maxInclusive: " + *max_inclusive);
  if (max_exclusive) parts.push_back("maxExclusive: " + *max_exclusive);
  if (total_digits) parts.push_back("totalDigits: " + std::to_string(*total_digits));
  if (fraction_digits) parts.push_back("fractionDigits: " + std::to_string(*fraction_digits));
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

bool Wildcard::allows(std::string_view ns) const {
  if (any_namespace) return true;
  if (other_than) return !ns.empty() && ns != *other_than;
  return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
}

std::string Wildcard::describe() const {
  if (any_namespace) return "##any";
  if (other_than) return "##other";
  std::string out;
  for (const auto& n : namespaces) out += (out.empty() ? "" : " ") + (n.empty() ? std::string("##local") : n);
  return out;
}

const TypeDef* TypeDef::text_type() const {
  if (simple) return this;
  if (content == ContentKind::simple) return value_type;
  return nullptr;
}

bool TypeDef::derives_from(const TypeDef* other) const {
  for (const TypeDef* t = this; t; t = t->base)
    if (t == other) return true;
  return false;
}

std::vector<const TypeDef*> TypeDef::all_derived(bool concrete_only) const {
  std::vector<const TypeDef*> out;
  std::vector<const TypeDef*> todo(derived.rbegin(), derived.rend());
  std::set<const TypeDef*> seen;
  while (!todo.empty()) {
    const TypeDef* t = todo.back();
    todo.pop_back();
    if (!seen.insert(t).second) continue;
    if (!concrete_only || !t->abstract) out.push_back(t);
    for (auto it = t->derived.rbegin(); it != t->derived.rend(); ++it) todo.push_back(*it);
  }
  return out;
}

std::string TypeDef::display(const std::map<std::string, std::string>& prefixes) const {
  if (is_anonymous()) {
    if (base && base != this) {
      const char* how = derivation == Derivation::extension ? "extension" : "restriction";
      if (simple && variety == Variety::list) return "(anonymous list)";
      if (simple && variety == Variety::union_) return "(anonymous union)";
      return std::string("(anonymous, ") + how + " of " + base->display(prefixes) + ")";
    }
    return "(anonymous)";
  }
  if (name.ns == kXsNamespace) return "xs:" + name.local;
  if (auto it = prefixes.find(name.ns); it != prefixes.end() && !it->second.empty())
    return it->second + ":" + name.local;
  return name.clark();
}

std::vector<const ElementDecl*> ElementDecl::substitutes() const {
  std::vector<const ElementDecl*> out;
  std::vector<const ElementDecl*> todo{this};
  std::set<const ElementDecl*> seen;
  while (!todo.empty()) {
    const ElementDecl* e = todo.front();
    todo.erase(todo.begin());
    if (!seen.insert(e).second) continue;
    if (!e->abstract) out.push_back(e);
    for (const ElementDecl* m : e->members) todo.push_back(m);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Built-in types

namespace {

struct Builtins {
  std::deque<TypeDef> store;
  std::map<std::string, const TypeDef*, std::less<>> by_name;

  TypeDef* add(const char* name, const char* base, bool simple = true) {
    TypeDef& t = store.emplace_back();
    t.name = {kXsNamespace, name};
    t.simple = simple;
    t.builtin = true;
    if (base) {
      t.base = by_name.at(base);
      t.derivation = Derivation::restriction;
    }
    t.primitive = simple ? &t : nullptr;
    by_name.emplace(name, &t);
    return &t;
  }

  Builtins() {
    TypeDef* any = add("anyType", nullptr, false);
    any->content = ContentKind::mixed;  // anything: free text or elements (not addressable by path)
    add("anySimpleType", "anyType");
    for (const char* p : {"string", "boolean", "decimal", "float", "double", "duration", "dateTime", "time", "date",
                          "gYearMonth", "gYear", "gMonthDay", "gDay", "gMonth", "hexBinary", "base64Binary",
                          "anyURI", "QName", "NOTATION"})
      add(p, "anySimpleType");
    const std::pair<const char*, const char*> derived[] = {
        {"normalizedString", "string"}, {"token", "normalizedString"}, {"language", "token"},
        {"Name", "token"},              {"NMTOKEN", "token"},          {"NCName", "Name"},
        {"ID", "NCName"},               {"IDREF", "NCName"},           {"ENTITY", "NCName"},
        {"integer", "decimal"},         {"nonPositiveInteger", "integer"},
        {"negativeInteger", "nonPositiveInteger"},
        {"long", "integer"},            {"int", "long"},               {"short", "int"},
        {"byte", "short"},              {"nonNegativeInteger", "integer"},
        {"unsignedLong", "nonNegativeInteger"}, {"unsignedInt", "unsignedLong"},
        {"unsignedShort", "unsignedInt"}, {"unsignedByte", "unsignedShort"},
        {"positiveInteger", "nonNegativeInteger"}};
    for (const auto& [name, base] : derived) add(name, base);
    for (const auto& [name, item] : {std::pair{"NMTOKENS", "NMTOKEN"}, {"IDREFS", "IDREF"}, {"ENTITIES", "ENTITY"}}) {
      TypeDef* t = add(name, "anySimpleType");
      t->variety = Variety::list;
      t->item_type = by_name.at(item);
      t->primitive = nullptr;
    }
    for (auto& t : store)
      if (t.base) const_cast<TypeDef*>(t.base)->derived.push_back(&t);
    // whiteSpace of the built-ins that normalise.
    for (auto& t : store) {
      if (!t.simple) continue;
      if (t.name.local == "string") t.facets.white_space = "preserve";
      else if (t.name.local == "normalizedString") t.facets.white_space = "replace";
      else t.facets.white_space = "collapse";
    }
  }
};

const Builtins& builtins() {
  static const Builtins b;
  return b;
}

}  // namespace

const TypeDef* builtin_type(std::string_view local) {
  const auto& b = builtins();
  auto it = b.by_name.find(local);
  return it == b.by_name.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------
// The loader

namespace {

constexpr const char* kWsdlNamespace = "http://schemas.xmlsoap.org/wsdl/";

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

bool is_xs(const xmlNode* n, const char* local) {
  return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
         std::strcmp(reinterpret_cast<const char*>(n->ns->href), kXsNamespace) == 0 &&
         std::strcmp(reinterpret_cast<const char*>(n->name), local) == 0;
}

bool is_in(const xmlNode* n, const char* ns, const char* local) {
  return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
         std::strcmp(reinterpret_cast<const char*>(n->ns->href), ns) == 0 &&
         std::strcmp(reinterpret_cast<const char*>(n->name), local) == 0;
}

std::optional<std::string> attr_opt(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, X(name));
  if (!v) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string attr(const xmlNode* n, const char* name) { return attr_opt(n, name).value_or(""); }

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int line_of(const xmlNode* n) { return n ? static_cast<int>(xmlGetLineNo(const_cast<xmlNode*>(n))) : 0; }

struct DocFreeShared {
  void operator()(xmlDoc* d) const noexcept { xmlFreeDoc(d); }
};

}  // namespace

struct SchemaSet::Impl {
  struct Doc {
    std::shared_ptr<xmlDoc> xml;
    xmlNode* root = nullptr;
    std::string display;  // for messages
    std::string key;      // identity: canonical path (+ "#N" for embedded), "|tns" for chameleons
    fs::path dir;         // base for relative schemaLocations
    std::string tns;      // effective target namespace
    bool chameleon = false;
    bool qualified_elements = false;
    bool qualified_attributes = false;
  };
  struct Global {
    const xmlNode* node = nullptr;
    Doc* doc = nullptr;
    const xmlNode* original = nullptr;  // redefine: the component it replaces
    Doc* original_doc = nullptr;
  };
  using Key = std::pair<const xmlNode*, const Doc*>;

  SchemaSet& set;
  std::deque<Doc> docs;
  std::map<std::string, Doc*> docs_by_key;
  std::map<std::string, std::shared_ptr<xmlDoc>> parsed;  // canonical path -> document
  std::map<std::string, Doc*> memory_docs;                // synthetic URL -> embedded document
  std::map<QName, Global> g_elements, g_types, g_groups, g_attribute_groups, g_attributes;
  std::set<std::string> declared_namespaces;
  std::vector<std::pair<std::string, SourcePos>> located_imports;  // namespace, where (for messages)

  std::map<Key, TypeDef*> built_types;
  std::set<const TypeDef*> incomplete;
  std::map<Key, ElementDecl*> built_elements;
  std::map<Key, AttributeDecl*> built_attributes;
  std::map<Key, const Particle*> built_groups;
  std::set<Key> building_groups;
  struct AttrGroup {
    std::vector<AttributeUse> uses;
    std::optional<Wildcard> any;
  };
  std::map<Key, AttrGroup> built_attribute_groups;
  std::set<Key> building_attribute_groups;
  // Redefinition being built: references to its own name mean the original.
  std::vector<std::pair<QName, Global>> redefining;

  explicit Impl(SchemaSet& s) : set(s) {}

  [[noreturn]] void fail(const Doc* d, const xmlNode* n, const std::string& message) const {
    throw SchemaError({d ? d->display : std::string(), line_of(n)}, message);
  }
  SourcePos pos(const Doc* d, const xmlNode* n) const { return {d ? d->display : std::string(), line_of(n)}; }

  // --- parsing -------------------------------------------------------------

  std::shared_ptr<xmlDoc> parse_file(const fs::path& path, const std::string& display, const SourcePos& from) {
    const std::string canonical = path.string();
    if (auto it = parsed.find(canonical); it != parsed.end()) return it->second;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      throw SchemaError(from, "cannot read schema '" + display + "': no such file");
    std::vector<XmlError> errors;
    xmlParserCtxt* ctxt = xmlNewParserCtxt();
    if (!ctxt) throw std::bad_alloc();
    ctxt->_private = &errors;
    ctxt->sax->serror = [](void* user, xmlError* error) {
      auto* c = static_cast<xmlParserCtxt*>(user);
      std::string message = error->message ? error->message : "unknown error";
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
      static_cast<std::vector<XmlError>*>(c->_private)->push_back({message, error->line, error->int2});
    };
    xmlDoc* doc = xmlCtxtReadFile(ctxt, path.c_str(), nullptr,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlFreeParserCtxt(ctxt);
    if (!doc) {
      if (errors.empty()) throw SchemaError({display, 0}, "cannot read schema: not XML or unreadable");
      throw SchemaError({display, errors.front().line, errors.front().column}, "not well-formed XML: " + errors.front().message);
    }
    std::shared_ptr<xmlDoc> shared(doc, DocFreeShared{});
    parsed.emplace(canonical, shared);
    return shared;
  }

  static std::string display_of(const fs::path& p) {
    std::error_code ec;
    const fs::path rel = fs::relative(p, fs::current_path(ec), ec);
    if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
    return p.string();
  }

  // A schemaLocation, relative to `base_dir`, as a local path. Network
  // locations are refused (the caller handles the XML namespace first).
  fs::path local_path(const Doc* d, const xmlNode* at, const std::string& location, const fs::path& base_dir) {
    if (detail::is_remote_location(location))
      fail(d, at,
           "schemaLocation '" + location +
               "' is a network location; Reportbridge reads schemas only from local files (never the network): "
               "keep a copy of it beside the schema and point schemaLocation at the copy");
    std::string loc = location;
    if (loc.rfind("file://", 0) == 0) loc = loc.substr(7);
    else if (loc.rfind("file:", 0) == 0) loc = loc.substr(5);
    if (loc.find('%') != std::string::npos) {
      if (char* u = xmlURIUnescapeString(loc.c_str(), 0, nullptr)) {
        loc = u;
        xmlFree(u);
      }
    }
    fs::path p(loc);
    if (p.is_relative()) p = base_dir / p;
    return p.lexically_normal();
  }

  // --- documents -----------------------------------------------------------

  enum class Via { main, include, import, redefine };

  Doc* add_document(std::shared_ptr<xmlDoc> xml, xmlNode* root, const std::string& display, const std::string& id,
                    const fs::path& dir, Via via, const std::string* expected_ns, const SourcePos& from) {
    if (!root || !is_xs(root, "schema"))
      throw SchemaError({display, line_of(root)}, "the root element is not xs:schema");
    const auto declared_tns = attr_opt(root, "targetNamespace");
    std::string tns = declared_tns.value_or("");
    bool chameleon = false;
    if (via == Via::include || via == Via::redefine) {
      if (!declared_tns) {
        chameleon = !expected_ns->empty();
        tns = *expected_ns;
      } else if (tns != *expected_ns) {
        throw SchemaError(from, std::string(via == Via::include ? "xs:include" : "xs:redefine") + " of '" +
                                    display + "': its targetNamespace '" + tns +
                                    "' differs from the including schema's '" + *expected_ns + "'");
      }
    } else if (via == Via::import && expected_ns && tns != *expected_ns) {
      throw SchemaError(from, "xs:import of '" + display + "' for namespace '" + *expected_ns +
                                  "': the document's targetNamespace is '" + tns + "'");
    }
    const std::string key = id + (chameleon ? "|" + tns : std::string());
    if (auto it = docs_by_key.find(key); it != docs_by_key.end()) return nullptr;  // already loaded
    Doc& d = docs.emplace_back();
    d.xml = std::move(xml);
    d.root = root;
    d.display = display;
    d.key = key;
    d.dir = dir;
    d.tns = tns;
    d.chameleon = chameleon;
    d.qualified_elements = attr(root, "elementFormDefault") == "qualified";
    d.qualified_attributes = attr(root, "attributeFormDefault") == "qualified";
    docs_by_key.emplace(key, &d);
    set.documents_.push_back(display + (chameleon ? " (in " + tns + ")" : std::string()));
    declared_namespaces.insert(tns);
    for (xmlNs* ns = root->nsDef; ns; ns = ns->next)
      if (ns->prefix && ns->href)
        set.schema_prefixes_.emplace(reinterpret_cast<const char*>(ns->href), reinterpret_cast<const char*>(ns->prefix));
    process(d);
    return &d;
  }

  Doc* load_file(const fs::path& path, Via via, const std::string* expected_ns, const SourcePos& from) {
    const fs::path canonical = fs::weakly_canonical(path);
    const std::string display = display_of(path);
    // Identity before parsing: a file already in the set is not read again.
    const std::string probe = canonical.string();
    if (via == Via::import || via == Via::main) {
      if (docs_by_key.count(probe)) return nullptr;
    }
    auto xml = parse_file(canonical, display, from);
    return add_document(xml, xmlDocGetRootElement(xml.get()), display, probe, canonical.parent_path(), via,
                        expected_ns, from);
  }

  void register_global(std::map<QName, Global>& table, const char* what, const QName& name, const xmlNode* n,
                       Doc& d, bool redefine) {
    auto [it, inserted] = table.emplace(name, Global{n, &d});
    if (inserted) return;
    if (redefine) {
      it->second = Global{n, &d, it->second.node, it->second.doc};
      return;
    }
    if (it->second.node == n) return;  // the same declaration reached twice
    fail(&d, n,
         std::string("duplicate global ") + what + " '" + name.clark() + "' (also declared at " +
             pos(it->second.doc, it->second.node).to_string() + ")");
  }

  void register_component(Doc& d, const xmlNode* c, bool redefine) {
    const std::string name = attr(c, "name");
    const auto named = [&](const char* what) {
      if (name.empty()) fail(&d, c, std::string("a global ") + what + " needs a name");
      return QName{d.tns, name};
    };
    if (is_xs(c, "element")) register_global(g_elements, "element", named("element"), c, d, redefine);
    else if (is_xs(c, "complexType") || is_xs(c, "simpleType"))
      register_global(g_types, "type", named("type"), c, d, redefine);
    else if (is_xs(c, "group")) register_global(g_groups, "group", named("group"), c, d, redefine);
    else if (is_xs(c, "attributeGroup"))
      register_global(g_attribute_groups, "attributeGroup", named("attributeGroup"), c, d, redefine);
    else if (is_xs(c, "attribute")) register_global(g_attributes, "attribute", named("attribute"), c, d, redefine);
  }

  void process(Doc& d) {
    for (xmlNode* c = d.root->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      if (is_xs(c, "include") || is_xs(c, "redefine")) {
        const bool redefine = is_xs(c, "redefine");
        const std::string loc = attr(c, "schemaLocation");
        if (loc.empty()) fail(&d, c, std::string(redefine ? "xs:redefine" : "xs:include") + " without schemaLocation");
        Doc* included = nullptr;
        if (auto m = memory_docs.find(loc); m != memory_docs.end()) {
          included = nullptr;  // embedded documents are loaded already
        } else {
          included = load_file(local_path(&d, c, loc, d.dir), redefine ? Via::redefine : Via::include, &d.tns, pos(&d, c));
        }
        (void)included;
        if (redefine)
          for (xmlNode* r = c->children; r; r = r->next)
            if (r->type == XML_ELEMENT_NODE && !is_xs(r, "annotation")) register_component(d, r, true);
      } else if (is_xs(c, "import")) {
        const auto ns = attr_opt(c, "namespace");
        const std::string nsv = ns.value_or("");
        if (nsv == d.tns && !d.tns.empty())
          fail(&d, c, "xs:import of the schema's own namespace '" + nsv + "' (use xs:include)");
        const auto loc = attr_opt(c, "schemaLocation");
        if (nsv == kXmlNamespace && (!loc || detail::is_xml_namespace_schema_url(*loc) ||
                                     detail::is_remote_location(*loc))) {
          load_builtin_xml_namespace();
          continue;
        }
        if (!loc) {
          located_imports.emplace_back(nsv, pos(&d, c));
          continue;  // resolved by namespace among the set's documents
        }
        if (memory_docs.count(*loc)) continue;
        load_file(local_path(&d, c, *loc, d.dir), Via::import, &nsv, pos(&d, c));
      } else if (!is_xs(c, "annotation")) {
        register_component(d, c, false);
      }
    }
  }

  void load_builtin_xml_namespace() {
    if (docs_by_key.count("reportbridge:xml.xsd")) return;
    const std::string& text = detail::builtin_xml_namespace_schema();
    xmlDoc* doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), "reportbridge:xml.xsd", nullptr,
                                XML_PARSE_NONET);
    if (!doc) throw std::logic_error("built-in xml.xsd does not parse");
    std::shared_ptr<xmlDoc> shared(doc, DocFreeShared{});
    const std::string ns = kXmlNamespace;
    add_document(shared, xmlDocGetRootElement(doc), "(built-in xml.xsd)", "reportbridge:xml.xsd", {}, Via::import,
                 &ns, {});
  }

  // --- WSDL ----------------------------------------------------------------

  struct Embedded {
    std::shared_ptr<xmlDoc> doc;  // standalone copy of one xs:schema
    std::string url;              // "<wsdl>#schemaN"
    std::string display;
    fs::path dir;
    std::string tns;
  };

  void collect_wsdl(const fs::path& file, std::set<std::string>& seen, std::vector<Embedded>& out,
                    const SourcePos& from) {
    const fs::path canonical = fs::weakly_canonical(file);
    if (!seen.insert(canonical.string()).second) return;
    const std::string display = display_of(file);
    auto xml = parse_file(canonical, display, from);
    xmlNode* root = xmlDocGetRootElement(xml.get());
    if (!is_in(root, kWsdlNamespace, "definitions"))
      throw SchemaError({display, line_of(root)}, "the root element is not wsdl:definitions (WSDL 1.1)");
    Doc holder;
    holder.display = display;
    for (xmlNode* c = root->children; c; c = c->next) {
      if (is_in(c, kWsdlNamespace, "import")) {
        const std::string loc = attr(c, "location");
        if (loc.empty()) continue;
        const fs::path p = local_path(&holder, c, loc, canonical.parent_path());
        if (p.extension() == ".xsd") continue;  // a schema imported as WSDL: loaded through xs:import if used
        collect_wsdl(p, seen, out, pos(&holder, c));
      } else if (is_in(c, kWsdlNamespace, "types")) {
        for (xmlNode* s = c->children; s; s = s->next) {
          if (!is_xs(s, "schema")) continue;
          Embedded e;
          e.url = canonical.string() + "#schema" + std::to_string(out.size() + 1);
          e.display = display + "#schema" + std::to_string(out.size() + 1);
          e.dir = canonical.parent_path();
          e.tns = attr(s, "targetNamespace");
          xmlDoc* copy = xmlNewDoc(X("1.0"));
          if (!copy) throw std::bad_alloc();
          e.doc.reset(copy, DocFreeShared{});
          xmlNode* r = xmlDocCopyNode(s, copy, 1);
          if (!r) throw std::bad_alloc();
          xmlDocSetRootElement(copy, r);
          // Namespace declarations in scope at the xs:schema (wsdl:definitions') go with it.
          if (xmlNs** list = xmlGetNsList(xml.get(), s)) {
            for (xmlNs** p = list; *p; ++p) {
              bool have = false;
              for (xmlNs* d = r->nsDef; d; d = d->next)
                if ((d->prefix == nullptr) == ((*p)->prefix == nullptr) &&
                    (!d->prefix || xmlStrEqual(d->prefix, (*p)->prefix)))
                  have = true;
              if (!have) xmlNewNs(r, (*p)->href, (*p)->prefix);
            }
            xmlFree(list);
          }
          copy->URL = xmlStrdup(X(e.url.c_str()));
          out.push_back(std::move(e));
        }
      }
    }
  }

  static void set_attr(xmlNode* n, const char* name, const std::string& value) {
    xmlSetProp(n, X(name), X(value.c_str()));
  }

  void load_wsdl(const fs::path& file, const std::vector<std::string>& extra = {}) {
    std::set<std::string> seen;
    std::vector<Embedded> embedded;
    collect_wsdl(file, seen, embedded, {});
    const fs::path canonical = fs::weakly_canonical(file);
    for (std::size_t i = 0; i < extra.size(); ++i) {
      Embedded e;
      e.url = canonical.string() + "#synthesised" + std::to_string(i + 1);
      e.display = display_of(file) + " (synthesised for rpc/literal parts)";
      e.dir = canonical.parent_path();
      xmlDoc* d = xmlReadMemory(extra[i].data(), static_cast<int>(extra[i].size()), e.url.c_str(), nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
      if (!d) throw SchemaError({e.display, 0}, "synthesised schema is not XML");
      e.doc.reset(d, DocFreeShared{});
      e.tns = attr(xmlDocGetRootElement(d), "targetNamespace");
      embedded.push_back(std::move(e));
    }
    // First embedded schema per namespace: the target of location-less imports.
    std::map<std::string, const Embedded*> first_of;
    for (const auto& e : embedded) first_of.emplace(e.tns, &e);
    for (auto& e : embedded) {
      xmlNode* root = xmlDocGetRootElement(e.doc.get());
      for (xmlNode* c = root->children; c; c = c->next) {
        if (is_xs(c, "import")) {
          const std::string ns = attr(c, "namespace");
          const auto loc = attr_opt(c, "schemaLocation");
          if (!loc) {
            if (auto it = first_of.find(ns); it != first_of.end()) set_attr(c, "schemaLocation", it->second->url);
          } else if (!detail::is_remote_location(*loc) && fs::path(*loc).is_relative()) {
            set_attr(c, "schemaLocation", (e.dir / *loc).lexically_normal().string());
          }
        } else if (is_xs(c, "include") || is_xs(c, "redefine")) {
          const auto loc = attr_opt(c, "schemaLocation");
          if (loc && !detail::is_remote_location(*loc) && fs::path(*loc).is_relative())
            set_attr(c, "schemaLocation", (e.dir / *loc).lexically_normal().string());
        }
      }
      // The schemas of wsdl:types see each other's components, as WSDL
      // toolkits (JAX-WS, .NET) treat them, even where a block references a
      // sibling namespace without xs:import: libxml2 needs the import.
      {
        std::set<std::string> imported;
        for (xmlNode* c = root->children; c; c = c->next)
          if (is_xs(c, "import")) imported.insert(attr(c, "namespace"));
        xmlNode* first_child = root->children;
        for (const auto& [ns, other] : first_of) {
          if (ns == e.tns || imported.count(ns) || (ns.empty() && e.tns.empty())) continue;
          xmlNode* imp = xmlNewDocNode(e.doc.get(), root->ns, X("import"), nullptr);
          if (!ns.empty()) set_attr(imp, "namespace", ns);
          set_attr(imp, "schemaLocation", other->url);
          if (first_child) xmlAddPrevSibling(first_child, imp);
          else xmlAddChild(root, imp);
        }
      }
      // Several xs:schema blocks with one targetNamespace: the first includes the others.
      if (first_of.at(e.tns) == &e) {
        xmlNode* first_child = root->children;
        for (const auto& other : embedded) {
          if (&other == &e || other.tns != e.tns) continue;
          xmlNode* inc = xmlNewDocNode(e.doc.get(), root->ns, X("include"), nullptr);
          set_attr(inc, "schemaLocation", other.url);
          if (first_child) xmlAddPrevSibling(first_child, inc);
          else xmlAddChild(root, inc);
        }
      }
    }
    for (const auto& e : embedded) {
      xmlChar* mem = nullptr;
      int size = 0;
      xmlDocDumpMemoryEnc(e.doc.get(), &mem, &size, "UTF-8");
      if (!mem) throw std::bad_alloc();
      set.memory_documents_.push_back({e.url, std::string(reinterpret_cast<const char*>(mem), static_cast<std::size_t>(size))});
      xmlFree(mem);
    }
    // The model: every embedded schema as a document of the set.
    std::vector<Doc*> loaded;
    for (auto& e : embedded) {
      // Register first so that includes between embedded schemas are recognised.
      memory_docs.emplace(e.url, nullptr);
    }
    for (auto& e : embedded) {
      const std::string* none = nullptr;
      Doc* d = add_document(e.doc, xmlDocGetRootElement(e.doc.get()), e.display, e.url, e.dir, Via::main, none, {});
      if (d) memory_docs[e.url] = d;
    }
    if (!embedded.empty()) set.target_namespace_ = embedded.front().tns;
    // The validator compiles a driver importing each namespace's first schema.
    std::string driver =
        "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" targetNamespace=\"urn:reportbridge:wsdl-types\">\n";
    for (const auto& [ns, e] : first_of) {
      std::string escaped;
      for (char ch : e->url) {
        if (ch == '&') escaped += "&amp;";
        else if (ch == '"') escaped += "&quot;";
        else if (ch == '<') escaped += "&lt;";
        else escaped += ch;
      }
      driver += ns.empty() ? "  <xs:import schemaLocation=\"" + escaped + "\"/>\n"
                           : "  <xs:import namespace=\"" + ns + "\" schemaLocation=\"" + escaped + "\"/>\n";
    }
    driver += "</xs:schema>\n";
    set.compile_url_ = fs::weakly_canonical(file).string() + "#types";
    set.compile_text_ = driver;
  }

  // --- resolution ------------------------------------------------------------

  QName resolve_qname(const Doc* d, const xmlNode* at, const std::string& raw) const {
    const std::string value = trim(raw);
    const auto colon = value.find(':');
    const std::string prefix = colon == std::string::npos ? std::string() : value.substr(0, colon);
    const std::string local = colon == std::string::npos ? value : value.substr(colon + 1);
    if (local.empty()) fail(d, at, "'" + value + "' is not a QName");
    xmlNs* ns = xmlSearchNs(at->doc, const_cast<xmlNode*>(at), prefix.empty() ? nullptr : X(prefix.c_str()));
    if (!prefix.empty() && !ns) fail(d, at, "prefix '" + prefix + "' of '" + value + "' is not declared");
    QName q{ns && ns->href ? reinterpret_cast<const char*>(ns->href) : "", local};
    if (d->chameleon && q.ns.empty()) q.ns = d->tns;  // chameleon include: no-namespace references move in
    return q;
  }

  [[noreturn]] void not_found(const Doc* d, const xmlNode* at, const char* what, const QName& q) const {
    std::string message = std::string(what) + " '" + q.clark() + "' is not declared in the schema set";
    if (!q.ns.empty() && !declared_namespaces.count(q.ns)) {
      message += ": no schema document of the set has targetNamespace '" + q.ns + "'";
      for (const auto& [ns, where] : located_imports)
        if (ns == q.ns) message += " (imported without schemaLocation at " + where.to_string() + ")";
    }
    fail(d, at, message);
  }

  const Global* redefined_original(const QName& q) const {
    for (auto it = redefining.rbegin(); it != redefining.rend(); ++it)
      if (it->first == q) return &it->second;
    return nullptr;
  }

  struct RedefineGuard {
    Impl& impl;
    bool active;
    RedefineGuard(Impl& i, const QName& q, const Global& g) : impl(i), active(g.original != nullptr) {
      if (active) impl.redefining.emplace_back(q, Global{g.original, g.original_doc});
    }
    ~RedefineGuard() {
      if (active) impl.redefining.pop_back();
    }
  };

  // --- types -----------------------------------------------------------------

  const TypeDef* type_ref(const Doc* d, const xmlNode* at, const QName& q) {
    if (q.ns == kXsNamespace) {
      if (const TypeDef* b = builtin_type(q.local)) return b;
      fail(d, at, "'xs:" + q.local + "' is not an XSD built-in type");
    }
    if (const Global* orig = redefined_original(q)) return build_type(orig->node, orig->doc, q);
    auto it = g_types.find(q);
    if (it == g_types.end()) not_found(d, at, "type", q);
    RedefineGuard guard(*this, q, it->second);
    return build_type(it->second.node, it->second.doc, q);
  }

  TypeDef* build_type(const xmlNode* n, Doc* d, const QName& name) {
    const Key key{n, d};
    if (auto it = built_types.find(key); it != built_types.end()) return it->second;
    TypeDef& t = set.type_store_.emplace_back();
    built_types.emplace(key, &t);
    t.name = name;
    t.where = pos(d, n);
    incomplete.insert(&t);
    if (is_xs(n, "simpleType")) build_simple(t, n, d);
    else build_complex(t, n, d);
    incomplete.erase(&t);
    return &t;
  }

  const TypeDef* complete(const TypeDef* base, const Doc* d, const xmlNode* at) {
    if (incomplete.count(base)) fail(d, at, "circular type derivation through '" + base->name.clark() + "'");
    return base;
  }

  void merge_facets(TypeDef& t, const xmlNode* restriction, const Doc* d) {
    std::vector<std::string> enumeration, patterns;
    for (const xmlNode* f = restriction->children; f; f = f->next) {
      if (f->type != XML_ELEMENT_NODE || !f->ns || !xmlStrEqual(f->ns->href, X(kXsNamespace))) continue;
      const std::string kind = reinterpret_cast<const char*>(f->name);
      const auto value = attr_opt(f, "value");
      if (kind == "annotation" || kind == "simpleType" || kind == "attribute" || kind == "attributeGroup" ||
          kind == "anyAttribute" || kind == "sequence" || kind == "choice" || kind == "all" || kind == "group")
        continue;
      if (!value) fail(d, f, "facet xs:" + kind + " without a value");
      const auto number = [&]() -> std::uint64_t {
        try {
          std::size_t used = 0;
          const auto v = std::stoull(trim(*value), &used);
          if (used != trim(*value).size()) throw std::invalid_argument("x");
          return v;
        } catch (const std::exception&) {
          fail(d, f, "facet xs:" + kind + " value '" + *value + "' is not a non-negative integer");
        }
      };
      if (kind == "enumeration") enumeration.push_back(*value);
      else if (kind == "pattern") patterns.push_back(*value);
      else if (kind == "length") t.facets.length = number();
      else if (kind == "minLength") t.facets.min_length = number();
      else if (kind == "maxLength") t.facets.max_length = number();
      else if (kind == "minInclusive") t.facets.min_inclusive = trim(*value);
      else if (kind == "maxInclusive") t.facets.max_inclusive = trim(*value);
      else if (kind == "minExclusive") t.facets.min_exclusive = trim(*value);
      else if (kind == "maxExclusive") t.facets.max_exclusive = trim(*value);
      else if (kind == "totalDigits") t.facets.total_digits = static_cast<unsigned>(number());
      else if (kind == "fractionDigits") t.facets.fraction_digits = static_cast<unsigned>(number());
      else if (kind == "whiteSpace") t.facets.white_space = trim(*value);
      else fail(d, f, "unknown facet xs:" + kind);
    }
    if (!enumeration.empty()) t.facets.enumeration = std::move(enumeration);
    if (!patterns.empty()) t.facets.patterns.push_back(std::move(patterns));
  }

  // A simpleType element's content (restriction, list, union) into `t`.
  void build_simple(TypeDef& t, const xmlNode* n, Doc* d) {
    t.simple = true;
    t.derivation = Derivation::restriction;
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (is_xs(c, "restriction")) {
        restrict_simple(t, c, d);
        return;
      }
      if (is_xs(c, "list")) {
        t.variety = Variety::list;
        t.base = builtin_type("anySimpleType");
        if (const auto item = attr_opt(c, "itemType")) t.item_type = type_ref(d, c, resolve_qname(d, c, *item));
        for (const xmlNode* s = c->children; s; s = s->next)
          if (is_xs(s, "simpleType")) t.item_type = build_type(s, d, {});
        if (!t.item_type) fail(d, c, "xs:list without an item type");
        t.facets.white_space = "collapse";
        return;
      }
      if (is_xs(c, "union")) {
        t.variety = Variety::union_;
        t.base = builtin_type("anySimpleType");
        for (const auto& m : split_ws(attr(c, "memberTypes"))) t.member_types.push_back(type_ref(d, c, resolve_qname(d, c, m)));
        for (const xmlNode* s = c->children; s; s = s->next)
          if (is_xs(s, "simpleType")) t.member_types.push_back(build_type(s, d, {}));
        if (t.member_types.empty()) fail(d, c, "xs:union without member types");
        return;
      }
    }
    fail(d, n, "xs:simpleType without xs:restriction, xs:list or xs:union");
  }

  // xs:restriction of a simple type (also the value of simpleContent restrictions).
  void restrict_simple(TypeDef& t, const xmlNode* r, Doc* d) {
    const TypeDef* base = nullptr;
    if (const auto b = attr_opt(r, "base")) base = type_ref(d, r, resolve_qname(d, r, *b));
    for (const xmlNode* s = r->children; s; s = s->next)
      if (is_xs(s, "simpleType")) base = build_type(s, d, {});
    if (!base) fail(d, r, "xs:restriction without a base type");
    base = complete(base, d, r);
    if (!base->simple) {
      if (base->content == ContentKind::simple && base->value_type) base = base->value_type;
      else fail(d, r, "simple type restricting complex type '" + base->name.clark() + "'");
    }
    t.base = base;
    t.derivation = Derivation::restriction;
    t.variety = base->variety;
    t.primitive = base->primitive;
    t.item_type = base->item_type;
    t.member_types = base->member_types;
    t.facets = base->facets;
    merge_facets(t, r, d);
  }

  void build_complex(TypeDef& t, const xmlNode* n, Doc* d) {
    t.simple = false;
    t.abstract = attr(n, "abstract") == "true" || attr(n, "abstract") == "1";
    bool mixed = attr(n, "mixed") == "true" || attr(n, "mixed") == "1";
    const Particle* own = nullptr;
    std::vector<AttributeUse> own_attrs;
    std::optional<Wildcard> own_any;
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (is_xs(c, "simpleContent")) {
        simple_content(t, c, d);
        return;
      }
      if (is_xs(c, "complexContent")) {
        if (const auto m = attr_opt(c, "mixed")) mixed = *m == "true" || *m == "1";
        complex_content(t, c, d, mixed);
        return;
      }
      if (is_xs(c, "sequence") || is_xs(c, "choice") || is_xs(c, "all") || is_xs(c, "group"))
        own = store(build_particle(c, d));
    }
    attributes_of(n, d, own_attrs, own_any);
    t.base = builtin_type("anyType");
    t.derivation = Derivation::restriction;
    t.particle = own;
    t.attributes = std::move(own_attrs);
    t.any_attribute = std::move(own_any);
    t.content = mixed ? ContentKind::mixed : (own && !empty_particle(*own) ? ContentKind::element_only : ContentKind::empty);
  }

  static bool empty_particle(const Particle& p) {
    if (p.kind == Particle::Kind::element || p.kind == Particle::Kind::any) return p.max_occurs == 0;
    for (const auto& c : p.children)
      if (!empty_particle(c)) return false;
    return true;
  }

  const Particle* store(Particle p) { return &set.particle_store_.emplace_back(std::move(p)); }

  static void merge_attributes(std::vector<AttributeUse>& into, const std::vector<AttributeUse>& add) {
    for (const auto& a : add) {
      auto it = std::find_if(into.begin(), into.end(), [&](const AttributeUse& u) { return u.decl->name == a.decl->name; });
      if (it != into.end()) *it = a;
      else into.push_back(a);
    }
  }

  void complex_content(TypeDef& t, const xmlNode* cc, Doc* d, bool mixed) {
    for (const xmlNode* c = cc->children; c; c = c->next) {
      const bool ext = is_xs(c, "extension");
      if (!ext && !is_xs(c, "restriction")) continue;
      const auto b = attr_opt(c, "base");
      if (!b) fail(d, c, "complexContent derivation without base");
      const TypeDef* base = complete(type_ref(d, c, resolve_qname(d, c, *b)), d, c);
      if (base->simple) fail(d, c, "complexContent deriving from simple type '" + base->name.clark() + "'");
      t.base = base;
      t.derivation = ext ? Derivation::extension : Derivation::restriction;
      const Particle* own = nullptr;
      for (const xmlNode* p = c->children; p; p = p->next)
        if (is_xs(p, "sequence") || is_xs(p, "choice") || is_xs(p, "all") || is_xs(p, "group"))
          own = store(build_particle(p, d));
      std::vector<AttributeUse> own_attrs;
      std::optional<Wildcard> own_any;
      attributes_of(c, d, own_attrs, own_any);
      if (ext) {
        const bool base_has = base->particle && !empty_particle(*base->particle);
        const bool own_has = own && !empty_particle(*own);
        if (base_has && own_has) {
          Particle seq;
          seq.kind = Particle::Kind::sequence;
          seq.where = pos(d, c);
          seq.children = {*base->particle, *own};
          t.particle = store(std::move(seq));
        } else {
          t.particle = own_has ? own : base->particle;
        }
        t.attributes = base->attributes;
        merge_attributes(t.attributes, own_attrs);
        t.any_attribute = own_any ? own_any : base->any_attribute;
      } else {
        t.particle = own;
        t.attributes = base->attributes;
        merge_attributes(t.attributes, own_attrs);
        t.any_attribute = own_any;
      }
      drop_prohibited(t.attributes);
      const bool has = t.particle && !empty_particle(*t.particle);
      t.content = mixed || (ext && base->content == ContentKind::mixed) ? ContentKind::mixed
                  : has ? ContentKind::element_only
                        : ContentKind::empty;
      return;
    }
    fail(d, cc, "xs:complexContent without xs:extension or xs:restriction");
  }

  void simple_content(TypeDef& t, const xmlNode* sc, Doc* d) {
    t.content = ContentKind::simple;
    for (const xmlNode* c = sc->children; c; c = c->next) {
      const bool ext = is_xs(c, "extension");
      if (!ext && !is_xs(c, "restriction")) continue;
      const auto b = attr_opt(c, "base");
      if (!b) fail(d, c, "simpleContent derivation without base");
      const TypeDef* base = complete(type_ref(d, c, resolve_qname(d, c, *b)), d, c);
      t.base = base;
      t.derivation = ext ? Derivation::extension : Derivation::restriction;
      std::vector<AttributeUse> own_attrs;
      std::optional<Wildcard> own_any;
      attributes_of(c, d, own_attrs, own_any);
      if (!base->simple) {
        t.attributes = base->attributes;
        t.any_attribute = base->any_attribute;
      }
      merge_attributes(t.attributes, own_attrs);
      drop_prohibited(t.attributes);
      if (own_any) t.any_attribute = own_any;
      const TypeDef* value = base->simple ? base : base->value_type;
      if (!value) value = builtin_type("string");  // mixed/empty base: free text
      if (ext) {
        t.value_type = value;
      } else {
        TypeDef& v = set.type_store_.emplace_back();
        v.simple = true;
        v.where = pos(d, c);
        v.base = value;
        v.derivation = Derivation::restriction;
        v.variety = value->variety;
        v.primitive = value->primitive;
        v.item_type = value->item_type;
        v.member_types = value->member_types;
        v.facets = value->facets;
        for (const xmlNode* s = c->children; s; s = s->next)
          if (is_xs(s, "simpleType")) {
            const TypeDef* inner = build_type(s, d, {});
            v.base = inner;
            v.facets = inner->facets;
            v.primitive = inner->primitive;
            v.variety = inner->variety;
          }
        merge_facets(v, c, d);
        t.value_type = &v;
      }
      return;
    }
    fail(d, sc, "xs:simpleContent without xs:extension or xs:restriction");
  }

  // --- attributes ------------------------------------------------------------

  std::optional<Wildcard> wildcard_of(const xmlNode* n, const Doc* d) {
    Wildcard w;
    const std::string ns = trim(attr_opt(n, "namespace").value_or("##any"));
    if (ns == "##any") {
      w.any_namespace = true;
    } else if (ns == "##other") {
      w.any_namespace = false;
      w.other_than = d->tns;
    } else {
      w.any_namespace = false;
      for (const auto& item : split_ws(ns)) {
        if (item == "##targetNamespace") w.namespaces.push_back(d->tns);
        else if (item == "##local") w.namespaces.push_back("");
        else w.namespaces.push_back(item);
      }
    }
    const std::string pc = attr(n, "processContents");
    w.process = pc == "lax" ? Wildcard::Process::lax : pc == "skip" ? Wildcard::Process::skip : Wildcard::Process::strict;
    return w;
  }

  const AttributeDecl* global_attribute(const Doc* d, const xmlNode* at, const QName& q) {
    if (q.ns == kXmlNamespace) load_builtin_xml_namespace();
    auto it = g_attributes.find(q);
    if (it == g_attributes.end()) not_found(d, at, "attribute", q);
    return build_attribute(it->second.node, it->second.doc, true);
  }

  AttributeDecl* build_attribute(const xmlNode* n, Doc* d, bool global) {
    const Key key{n, d};
    if (auto it = built_attributes.find(key); it != built_attributes.end()) return it->second;
    AttributeDecl& a = set.attribute_store_.emplace_back();
    built_attributes.emplace(key, &a);
    a.global = global;
    a.where = pos(d, n);
    const std::string name = attr(n, "name");
    const auto form = attr_opt(n, "form");
    const bool qualified = global || (form ? *form == "qualified" : d->qualified_attributes);
    a.name = {qualified ? d->tns : std::string(), name};
    a.fixed = attr_opt(n, "fixed");
    a.default_value = attr_opt(n, "default");
    if (const auto ty = attr_opt(n, "type")) a.type = type_ref(d, n, resolve_qname(d, n, *ty));
    for (const xmlNode* s = n->children; s; s = s->next)
      if (is_xs(s, "simpleType")) a.type = build_type(s, d, {});
    if (!a.type) a.type = builtin_type("anySimpleType");
    return &a;
  }

  void attributes_of(const xmlNode* parent, Doc* d, std::vector<AttributeUse>& uses, std::optional<Wildcard>& any) {
    for (const xmlNode* c = parent->children; c; c = c->next) {
      if (is_xs(c, "attribute")) {
        AttributeUse use;
        const std::string u = attr(c, "use");
        if (const auto ref = attr_opt(c, "ref")) use.decl = global_attribute(d, c, resolve_qname(d, c, *ref));
        else use.decl = build_attribute(c, d, false);
        use.required = u == "required";
        use.fixed = attr_opt(c, "fixed");
        use.default_value = attr_opt(c, "default");
        if (!use.fixed) use.fixed = use.decl->fixed;
        if (!use.default_value) use.default_value = use.decl->default_value;
        if (u == "prohibited") {
          // Removes an inherited use of that name (a marker that merge_attributes
          // puts in place of the base's use; markers never reach the model).
          auto it = std::find_if(uses.begin(), uses.end(),
                                 [&](const AttributeUse& x) { return x.decl && x.decl->name == use.decl->name; });
          if (it != uses.end()) uses.erase(it);
          prohibited_marker(uses, use.decl->name);
          continue;
        }
        uses.push_back(use);
      } else if (is_xs(c, "attributeGroup")) {
        const auto ref = attr_opt(c, "ref");
        if (!ref) fail(d, c, "local xs:attributeGroup without ref");
        const AttrGroup& g = attribute_group(d, c, resolve_qname(d, c, *ref));
        for (const auto& u : g.uses) uses.push_back(u);
        if (g.any) any = g.any;
      } else if (is_xs(c, "anyAttribute")) {
        any = wildcard_of(c, d);
      }
    }
  }

  // Prohibited attribute names, remembered so that merge_attributes drops the inherited use.
  void prohibited_marker(std::vector<AttributeUse>& uses, const QName& name) {
    AttributeDecl& ghost = set.attribute_store_.emplace_back();
    ghost.name = name;
    AttributeUse u;
    u.decl = &ghost;
    prohibited_.insert(&ghost);
    uses.push_back(u);
  }
  std::set<const AttributeDecl*> prohibited_;

  void drop_prohibited(std::vector<AttributeUse>& uses) const {
    uses.erase(std::remove_if(uses.begin(), uses.end(),
                              [&](const AttributeUse& u) { return !u.decl || prohibited_.count(u.decl); }),
               uses.end());
  }

  const AttrGroup& attribute_group(const Doc* d, const xmlNode* at, const QName& q) {
    const Global* g = redefined_original(q);
    std::optional<RedefineGuard> guard;
    if (!g) {
      auto it = g_attribute_groups.find(q);
      if (it == g_attribute_groups.end()) not_found(d, at, "attributeGroup", q);
      g = &it->second;
      guard.emplace(*this, q, it->second);
    }
    const Key key{g->node, g->doc};
    if (auto it = built_attribute_groups.find(key); it != built_attribute_groups.end()) return it->second;
    if (!building_attribute_groups.insert(key).second) fail(d, at, "circular attributeGroup '" + q.clark() + "'");
    AttrGroup group;
    attributes_of(g->node, g->doc, group.uses, group.any);
    building_attribute_groups.erase(key);
    return built_attribute_groups.emplace(key, std::move(group)).first->second;
  }

  // --- elements and particles ----------------------------------------------

  static int occurs(const Doc* d, const xmlNode* n, const char* which, int fallback, const Impl& self) {
    const auto v = attr_opt(n, which);
    if (!v) return fallback;
    const std::string s = trim(*v);
    if (s == "unbounded") return kUnbounded;
    try {
      std::size_t used = 0;
      const long long x = std::stoll(s, &used);
      if (used != s.size() || x < 0) throw std::invalid_argument("x");
      return x > 1000000 ? 1000000 : static_cast<int>(x);
    } catch (const std::exception&) {
      self.fail(d, n, std::string(which) + " '" + s + "' is not a number or 'unbounded'");
    }
  }

  const ElementDecl* element_ref(const Doc* d, const xmlNode* at, const QName& q) {
    auto it = g_elements.find(q);
    if (it == g_elements.end()) not_found(d, at, "element", q);
    return build_element(it->second.node, it->second.doc, true);
  }

  ElementDecl* build_element(const xmlNode* n, Doc* d, bool global) {
    const Key key{n, d};
    if (auto it = built_elements.find(key); it != built_elements.end()) return it->second;
    ElementDecl& e = set.element_store_.emplace_back();
    built_elements.emplace(key, &e);
    e.global = global;
    e.where = pos(d, n);
    const std::string name = attr(n, "name");
    if (name.empty()) fail(d, n, "xs:element without name or ref");
    const auto form = attr_opt(n, "form");
    const bool qualified = global || (form ? *form == "qualified" : d->qualified_elements);
    e.name = {qualified ? d->tns : std::string(), name};
    e.nillable = attr(n, "nillable") == "true" || attr(n, "nillable") == "1";
    e.abstract = attr(n, "abstract") == "true" || attr(n, "abstract") == "1";
    e.fixed = attr_opt(n, "fixed");
    e.default_value = attr_opt(n, "default");
    if (global) {
      if (const auto sg = attr_opt(n, "substitutionGroup")) {
        const auto heads = split_ws(*sg);
        if (!heads.empty()) e.head = element_ref(d, n, resolve_qname(d, n, heads.front()));
      }
    }
    if (const auto ty = attr_opt(n, "type")) e.type = type_ref(d, n, resolve_qname(d, n, *ty));
    for (const xmlNode* c = n->children; c; c = c->next)
      if (is_xs(c, "complexType") || is_xs(c, "simpleType")) e.type = build_type(c, d, {});
    if (!e.type && e.head) {
      const ElementDecl* h = e.head;
      e.type = h->type;  // may still be null when the head is being built (then anyType below)
    }
    if (!e.type) e.type = builtin_type("anyType");
    return &e;
  }

  Particle build_particle(const xmlNode* n, Doc* d) {
    Particle p;
    p.where = pos(d, n);
    p.min_occurs = occurs(d, n, "minOccurs", 1, *this);
    p.max_occurs = occurs(d, n, "maxOccurs", 1, *this);
    if (is_xs(n, "element")) {
      p.kind = Particle::Kind::element;
      if (const auto ref = attr_opt(n, "ref")) p.element = element_ref(d, n, resolve_qname(d, n, *ref));
      else p.element = build_element(n, d, false);
      return p;
    }
    if (is_xs(n, "any")) {
      p.kind = Particle::Kind::any;
      p.wildcard = wildcard_of(n, d);
      return p;
    }
    if (is_xs(n, "group")) {
      const auto ref = attr_opt(n, "ref");
      if (!ref) fail(d, n, "local xs:group without ref");
      const Particle* g = group(d, n, resolve_qname(d, n, *ref));
      Particle copy = *g;
      copy.min_occurs = p.min_occurs;
      copy.max_occurs = p.max_occurs;
      copy.where = p.where;
      return copy;
    }
    p.kind = is_xs(n, "sequence") ? Particle::Kind::sequence
             : is_xs(n, "choice") ? Particle::Kind::choice
             : is_xs(n, "all")    ? Particle::Kind::all
                                  : (fail(d, n, "unexpected content model element"), Particle::Kind::sequence);
    for (const xmlNode* c = n->children; c; c = c->next)
      if (is_xs(c, "element") || is_xs(c, "any") || is_xs(c, "group") || is_xs(c, "sequence") || is_xs(c, "choice") ||
          is_xs(c, "all"))
        p.children.push_back(build_particle(c, d));
    return p;
  }

  const Particle* group(const Doc* d, const xmlNode* at, const QName& q) {
    const Global* g = redefined_original(q);
    std::optional<RedefineGuard> guard;
    if (!g) {
      auto it = g_groups.find(q);
      if (it == g_groups.end()) not_found(d, at, "group", q);
      g = &it->second;
      guard.emplace(*this, q, it->second);
    }
    const Key key{g->node, g->doc};
    if (auto it = built_groups.find(key); it != built_groups.end()) return it->second;
    if (!building_groups.insert(key).second) fail(d, at, "circular group '" + q.clark() + "'");
    const Particle* model = nullptr;
    for (const xmlNode* c = g->node->children; c; c = c->next)
      if (is_xs(c, "sequence") || is_xs(c, "choice") || is_xs(c, "all")) model = store(build_particle(c, g->doc));
    if (!model) {
      Particle empty;
      empty.kind = Particle::Kind::sequence;
      model = store(std::move(empty));
    }
    building_groups.erase(key);
    built_groups.emplace(key, model);
    return model;
  }

  // --- whole set ---------------------------------------------------------------

  void build_all() {
    for (auto& [q, g] : g_types) {
      RedefineGuard guard(*this, q, g);
      build_type(g.node, g.doc, q);
    }
    for (auto& [q, g] : g_elements) build_element(g.node, g.doc, true);
    for (auto& [q, g] : g_attributes) build_attribute(g.node, g.doc, true);
    for (auto& [q, g] : g_groups) group(g.doc, g.node, q);
    for (auto& [q, g] : g_attribute_groups) attribute_group(g.doc, g.node, q);
    for (auto& [q, g] : g_types) set.types_.emplace(q, built_types.at({g.node, g.doc}));
    for (auto& [q, g] : g_elements) set.elements_.emplace(q, built_elements.at({g.node, g.doc}));
    for (auto& [q, g] : g_attributes) set.attributes_.emplace(q, built_attributes.at({g.node, g.doc}));
    // Elements whose head was still being built when they were: take its type now.
    for (auto& e : set.element_store_)
      if (e.head && e.type == builtin_type("anyType") && e.head->type) e.type = e.head->type;
    for (auto& e : set.element_store_)
      if (e.head) const_cast<ElementDecl*>(e.head)->members.push_back(&e);
    for (auto& t : set.type_store_)
      if (t.base && !t.base->builtin) const_cast<TypeDef*>(t.base)->derived.push_back(&t);
    // Prohibited-use markers never reach the model.
    for (auto& t : set.type_store_) drop_prohibited(t.attributes);
    for (auto& t : set.type_store_)
      if (!t.simple && t.particle) flatten_type(t);
  }

  static int times(int a, int b) {
    if (a == kUnbounded || b == kUnbounded) return (a == 0 || b == 0) ? 0 : kUnbounded;
    const long long p = static_cast<long long>(a) * b;
    return p > 1000000 ? 1000000 : static_cast<int>(p);
  }

  static void flatten(const Particle& p, int min_mult, int max_mult, bool optional_ctx,
                      std::vector<ContentSlot::ChoiceRef>& choices, std::vector<ContentSlot>& out) {
    const int mn = min_mult * p.min_occurs;
    const int mx = times(max_mult, p.max_occurs);
    if (p.kind == Particle::Kind::element || p.kind == Particle::Kind::any) {
      ContentSlot s;
      s.particle = &p;
      s.element = p.element;
      s.wildcard = p.wildcard ? &*p.wildcard : nullptr;
      s.order = static_cast<int>(out.size());
      s.min_occurs = mn;
      s.max_occurs = mx;
      s.required = !optional_ctx && p.min_occurs >= 1;
      s.choices = choices;
      out.push_back(std::move(s));
      return;
    }
    const bool optional_here = optional_ctx || p.min_occurs == 0;
    if (p.kind == Particle::Kind::choice) {
      for (std::size_t i = 0; i < p.children.size(); ++i) {
        choices.push_back({&p, static_cast<int>(i), mx});
        flatten(p.children[i], mn, mx, optional_here || p.children.size() > 1, choices, out);
        choices.pop_back();
      }
      return;
    }
    for (const auto& c : p.children) flatten(c, mn, mx, optional_here, choices, out);
  }

  static void flatten_type(TypeDef& t) {
    std::vector<ContentSlot::ChoiceRef> choices;
    flatten(*t.particle, 1, 1, false, choices, t.slots);
  }
};

SchemaSet::SchemaSet() = default;
SchemaSet::~SchemaSet() = default;

std::shared_ptr<const SchemaSet> SchemaSet::load(const fs::path& file) { return load(file, {}); }

std::shared_ptr<const SchemaSet> SchemaSet::load(const fs::path& file, const std::vector<std::string>& extra) {
  init();
  auto set = std::make_shared<SchemaSet>();
  set->main_file_ = file;
  Impl impl(*set);
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw SchemaError({Impl::display_of(file), 0}, "cannot read schema: no such file");
  // The root decides: xs:schema or wsdl:definitions.
  const fs::path canonical = fs::weakly_canonical(file);
  auto xml = impl.parse_file(canonical, Impl::display_of(file), {});
  xmlNode* root = xmlDocGetRootElement(xml.get());
  if (is_in(root, kWsdlNamespace, "definitions")) {
    set->from_wsdl_ = true;
    impl.load_wsdl(file, extra);
  } else {
    if (!is_xs(root, "schema"))
      throw SchemaError({Impl::display_of(file), line_of(root)},
                        "the root element is not xs:schema (XSD) or wsdl:definitions (WSDL 1.1)");
    impl.load_file(file, Impl::Via::main, nullptr, {});
    set->target_namespace_ = attr(root, "targetNamespace");
    set->compile_url_ = canonical.string();
  }
  impl.build_all();
  return set;
}

std::vector<std::string> SchemaSet::documents() const { return documents_; }

std::vector<std::string> SchemaSet::namespaces() const {
  std::set<std::string> out;
  for (const auto& [q, e] : elements_) out.insert(q.ns);
  for (const auto& [q, t] : types_) out.insert(q.ns);
  for (const auto& [q, a] : attributes_) out.insert(q.ns);
  return {out.begin(), out.end()};
}

const ElementDecl* SchemaSet::element(const QName& name) const {
  auto it = elements_.find(name);
  return it == elements_.end() ? nullptr : it->second;
}

const TypeDef* SchemaSet::type(const QName& name) const {
  if (name.ns == kXsNamespace) return builtin_type(name.local);
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second;
}

const AttributeDecl* SchemaSet::attribute(const QName& name) const {
  auto it = attributes_.find(name);
  return it == attributes_.end() ? nullptr : it->second;
}

std::vector<const ElementDecl*> SchemaSet::global_elements() const {
  std::vector<const ElementDecl*> out;
  for (const auto& [q, e] : elements_) out.push_back(e);
  std::stable_sort(out.begin(), out.end(), [](const ElementDecl* a, const ElementDecl* b) {
    return a->where.file != b->where.file ? a->where.file < b->where.file : a->where.line < b->where.line;
  });
  return out;
}

std::vector<const ElementDecl*> SchemaSet::global_elements(std::string_view local) const {
  std::vector<const ElementDecl*> out;
  for (const auto& [q, e] : elements_)
    if (q.local == local) out.push_back(e);
  return out;
}

}  // namespace reportbridge::xml
