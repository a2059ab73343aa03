#include "bridge/wsdl/wsdl.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>

#include "bridge/xml/xml_document.hpp"

namespace reportbridge::wsdl {

namespace fs = std::filesystem;

const char* to_string(SoapVersion v) { return v == SoapVersion::soap11 ? "SOAP 1.1" : "SOAP 1.2"; }

const char* to_string(OperationStyle s) {
  switch (s) {
    case OperationStyle::document_wrapped: return "document/literal wrapped";
    case OperationStyle::document_bare: return "document/literal bare";
    case OperationStyle::rpc_literal: return "rpc/literal";
  }
  return "?";
}

const Part* Message::part(std::string_view n) const {
  for (const auto& p : parts)
    if (p.name == n) return &p;
  return nullptr;
}

namespace {

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

bool in_ns(const xmlNode* n, const char* ns, const char* local) {
  return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
         std::strcmp(reinterpret_cast<const char*>(n->ns->href), ns) == 0 &&
         (!local || std::strcmp(reinterpret_cast<const char*>(n->name), local) == 0);
}
bool is_wsdl(const xmlNode* n, const char* local) { return in_ns(n, kWsdlNamespace, local); }
bool is_soap(const xmlNode* n, const char* local) {
  return in_ns(n, kSoap11BindingNamespace, local) || in_ns(n, kSoap12BindingNamespace, local);
}

std::optional<std::string> attr_opt(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, X(name));
  if (!v) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}
std::string attr(const xmlNode* n, const char* name) { return attr_opt(n, name).value_or(""); }

int line_of(const xmlNode* n) { return static_cast<int>(xmlGetLineNo(const_cast<xmlNode*>(n))); }

std::string display_of(const fs::path& p) {
  std::error_code ec;
  const fs::path rel = fs::relative(p, fs::current_path(ec), ec);
  if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return p.string();
}

bool remote(const std::string& location) {
  const auto colon = location.find(':');
  if (colon == std::string::npos || colon < 2) return false;
  const auto slash = location.find('/');
  if (slash != std::string::npos && slash < colon) return false;
  std::string scheme = location.substr(0, colon);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme != "file";
}



}  // namespace

struct Wsdl::Impl {
  Wsdl& w;
  std::vector<xml::DocPtr> docs;
  std::set<std::string> seen;

  explicit Impl(Wsdl& wsdl) : w(wsdl) {}

  xml::DocPtr parse(const fs::path& path, const std::string& display, const SourcePos& from) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw xml::SchemaError(from, "cannot read WSDL '" + display + "': no such file");
    std::vector<xml::XmlError> errors;
    xmlParserCtxt* ctxt = xmlNewParserCtxt();
    if (!ctxt) throw std::bad_alloc();
    ctxt->_private = &errors;
    ctxt->sax->serror = [](void* user, xmlError* error) {
      auto* c = static_cast<xmlParserCtxt*>(user);
      std::string message = error->message ? error->message : "unknown error";
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
      static_cast<std::vector<xml::XmlError>*>(c->_private)->push_back({message, error->line, error->int2});
    };
    xml::DocPtr doc(xmlCtxtReadFile(ctxt, path.c_str(), nullptr,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    xmlFreeParserCtxt(ctxt);
    if (!doc) {
      if (errors.empty()) throw xml::SchemaError({display, 0}, "cannot read WSDL: not XML or unreadable");
      throw xml::SchemaError({display, errors.front().line, errors.front().column}, "not well-formed XML: " + errors.front().message);
    }
    return doc;
  }

  struct Ctx {
    std::string display;
    std::string tns;
  };

  QName qname(const Ctx& c, const xmlNode* at, const std::string& raw) const {
    const auto colon = raw.find(':');
    const std::string prefix = colon == std::string::npos ? std::string() : raw.substr(0, colon);
    const std::string local = colon == std::string::npos ? raw : raw.substr(colon + 1);
    xmlNs* ns = xmlSearchNs(at->doc, const_cast<xmlNode*>(at), prefix.empty() ? nullptr : X(prefix.c_str()));
    if (!prefix.empty() && !ns)
      throw xml::SchemaError({c.display, line_of(at)}, "prefix '" + prefix + "' of '" + raw + "' is not declared");
    std::string uri = ns && ns->href ? reinterpret_cast<const char*>(ns->href) : "";
    // An unprefixed reference under a default namespace that is WSDL's own
    // (common in generated files) names a component of this document.
    if (prefix.empty() && (uri.empty() || uri == kWsdlNamespace)) uri = c.tns;
    return {uri, local};
  }

  void load(const fs::path& file, const SourcePos& from) {
    const fs::path canonical = fs::weakly_canonical(file);
    if (!seen.insert(canonical.string()).second) return;
    const std::string display = display_of(file);
    xml::DocPtr doc = parse(canonical, display, from);
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!is_wsdl(root, "definitions"))
      throw xml::SchemaError({display, root ? line_of(root) : 0}, "the root element is not wsdl:definitions (WSDL 1.1)");
    Ctx c{display, attr(root, "targetNamespace")};
    if (w.target_namespace_.empty() && docs.empty()) w.target_namespace_ = c.tns;
    for (xmlNode* n = root->children; n; n = n->next) {
      if (n->type != XML_ELEMENT_NODE) continue;
      if (is_wsdl(n, "import")) {
        const std::string loc = attr(n, "location");
        if (loc.empty()) continue;
        if (remote(loc))
          throw xml::SchemaError({display, line_of(n)},
                                 "wsdl:import location '" + loc +
                                     "' is a network location; keep a copy beside the WSDL and point location at it");
        fs::path p(loc);
        if (p.is_relative()) p = canonical.parent_path() / p;
        if (p.extension() == ".xsd") continue;  // schemas: read by the schema set
        load(p.lexically_normal(), {display, line_of(n)});
      } else if (is_wsdl(n, "message")) {
        message(c, n);
      } else if (is_wsdl(n, "portType")) {
        port_type(c, n);
      } else if (is_wsdl(n, "binding")) {
        binding(c, n);
      } else if (is_wsdl(n, "service")) {
        service(c, n);
      }
    }
    docs.push_back(std::move(doc));
  }

  void message(const Ctx& c, const xmlNode* n) {
    Message m;
    m.name = {c.tns, attr(n, "name")};
    m.where = {c.display, line_of(n)};
    for (const xmlNode* p = n->children; p; p = p->next) {
      if (!is_wsdl(p, "part")) continue;
      Part part;
      part.name = attr(p, "name");
      part.where = {c.display, line_of(p)};
      if (const auto e = attr_opt(p, "element")) part.element = qname(c, p, *e);
      if (const auto t = attr_opt(p, "type")) part.type = qname(c, p, *t);
      m.parts.push_back(std::move(part));
    }
    w.messages_.push_back(std::move(m));
  }

  void port_type(const Ctx& c, const xmlNode* n) {
    PortType pt;
    pt.name = {c.tns, attr(n, "name")};
    pt.where = {c.display, line_of(n)};
    for (const xmlNode* o = n->children; o; o = o->next) {
      if (!is_wsdl(o, "operation")) continue;
      PortTypeOperation op;
      op.name = attr(o, "name");
      op.where = {c.display, line_of(o)};
      for (const xmlNode* io = o->children; io; io = io->next) {
        if (is_wsdl(io, "input")) op.input = qname(c, io, attr(io, "message"));
        else if (is_wsdl(io, "output")) op.output = qname(c, io, attr(io, "message"));
        else if (is_wsdl(io, "fault")) op.faults.emplace_back(attr(io, "name"), qname(c, io, attr(io, "message")));
      }
      pt.operations.push_back(std::move(op));
    }
    w.port_types_.push_back(std::move(pt));
  }

  SoapBody body(const Ctx& c, const xmlNode* io, std::vector<SoapHeader>& headers) const {
    SoapBody b;
    for (const xmlNode* e = io->children; e; e = e->next) {
      if (is_soap(e, "body")) {
        b.present = true;
        b.where = {c.display, line_of(e)};
        b.use = attr_opt(e, "use").value_or("literal");
        b.ns = attr(e, "namespace");
        if (const auto parts = attr_opt(e, "parts")) {
          std::vector<std::string> list;
          std::string cur;
          for (char ch : *parts + " ") {
            if (ch == ' ' || ch == '\t' || ch == '\n') {
              if (!cur.empty()) list.push_back(cur);
              cur.clear();
            } else {
              cur += ch;
            }
          }
          b.parts = std::move(list);
        }
      } else if (is_soap(e, "header")) {
        SoapHeader h;
        h.message = qname(c, e, attr(e, "message"));
        h.part = attr(e, "part");
        h.use = attr_opt(e, "use").value_or("literal");
        h.where = {c.display, line_of(e)};
        headers.push_back(std::move(h));
      }
    }
    return b;
  }

  void binding(const Ctx& c, const xmlNode* n) {
    Binding b;
    b.name = {c.tns, attr(n, "name")};
    b.port_type = qname(c, n, attr(n, "type"));
    b.where = {c.display, line_of(n)};
    for (const xmlNode* e = n->children; e; e = e->next) {
      if (in_ns(e, kSoap11BindingNamespace, "binding") || in_ns(e, kSoap12BindingNamespace, "binding")) {
        b.kind = in_ns(e, kSoap11BindingNamespace, nullptr) ? Binding::Kind::soap11 : Binding::Kind::soap12;
        b.style = attr(e, "style") == "rpc" ? Style::rpc : Style::document;
        b.transport = attr(e, "transport");
      } else if (in_ns(e, kHttpBindingNamespace, "binding")) {
        b.kind = Binding::Kind::http;
      } else if (is_wsdl(e, "operation")) {
        BindingOperation op;
        op.name = attr(e, "name");
        op.where = {c.display, line_of(e)};
        for (const xmlNode* x = e->children; x; x = x->next) {
          if (is_soap(x, "operation")) {
            op.soap_action = attr_opt(x, "soapAction");
            if (const auto st = attr_opt(x, "style")) op.style = *st == "rpc" ? Style::rpc : Style::document;
          } else if (is_wsdl(x, "input")) {
            op.input = body(c, x, op.input_headers);
          } else if (is_wsdl(x, "output")) {
            op.output = body(c, x, op.output_headers);
          } else if (is_wsdl(x, "fault")) {
            std::string use = "literal";
            for (const xmlNode* f = x->children; f; f = f->next)
              if (is_soap(f, "fault")) use = attr_opt(f, "use").value_or("literal");
            op.faults.emplace_back(attr(x, "name"), use);
          }
        }
        b.operations.push_back(std::move(op));
      }
    }
    w.bindings_.push_back(std::move(b));
  }

  void service(const Ctx& c, const xmlNode* n) {
    Service s;
    s.name = {c.tns, attr(n, "name")};
    s.where = {c.display, line_of(n)};
    for (const xmlNode* p = n->children; p; p = p->next) {
      if (!is_wsdl(p, "port")) continue;
      Port port;
      port.name = attr(p, "name");
      port.binding = qname(c, p, attr(p, "binding"));
      port.where = {c.display, line_of(p)};
      for (const xmlNode* a = p->children; a; a = a->next)
        if (is_soap(a, "address") || in_ns(a, kHttpBindingNamespace, "address")) port.address = attr(a, "location");
      s.ports.push_back(std::move(port));
    }
    w.services_.push_back(std::move(s));
  }
};

std::shared_ptr<const Wsdl> Wsdl::load(const fs::path& file) {
  xml::init();
  auto w = std::make_shared<Wsdl>();
  w->file_ = file;
  Impl impl(*w);
  impl.load(file, {});
  // rpc/literal parts are typed (type=), written as unqualified elements named
  // after the part: a no-namespace global declaration per part name lets the
  // renderer and the validator treat them like any element (a name used with
  // two different types is left out).
  std::map<std::string, QName> parts;
  std::set<std::string> conflicting;
  for (const auto& b : w->bindings_) {
    const PortType* pt = w->port_type(b.port_type);
    if (!pt) continue;
    for (const auto& bop : b.operations) {
      if (bop.style.value_or(b.style) != Style::rpc || bop.input.use != "literal") continue;
      for (const auto& op : pt->operations) {
        if (op.name != bop.name) continue;
        for (const auto& m : {op.input, op.output}) {
          const Message* msg = m ? w->message(*m) : nullptr;
          if (!msg) continue;
          for (const auto& part : msg->parts) {
            if (!part.type) continue;
            auto [it, fresh] = parts.emplace(part.name, *part.type);
            if (!fresh && !(it->second == *part.type)) conflicting.insert(part.name);
          }
        }
      }
    }
  }
  std::vector<std::string> extra;
  if (!parts.empty()) {
    std::map<std::string, std::string> prefix_of;  // namespace -> prefix
    std::string decls, imports;
    for (const auto& [name, type] : parts) {
      if (conflicting.count(name) || name.empty()) continue;
      std::string prefix = "xs";
      if (type.ns != "http://www.w3.org/2001/XMLSchema") {
        auto [it, fresh] = prefix_of.emplace(type.ns, "t" + std::to_string(prefix_of.size() + 1));
        if (fresh) imports += "  <xs:import namespace=\"" + type.ns + "\"/>\n";
        prefix = it->second;
      }
      decls += "  <xs:element name=\"" + name + "\" type=\"" + prefix + ":" + type.local + "\"/>\n";
    }
    std::string text = "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"";
    for (const auto& [ns, prefix] : prefix_of) text += " xmlns:" + prefix + "=\"" + ns + "\"";
    text += ">\n" + imports + decls + "</xs:schema>\n";
    if (!decls.empty()) extra.push_back(std::move(text));
  }
  w->schemas_ = xml::SchemaSet::load(file, extra);
  return w;
}

const Message* Wsdl::message(const QName& name) const {
  for (const auto& m : messages_)
    if (m.name == name) return &m;
  return nullptr;
}
const Binding* Wsdl::binding(const QName& name) const {
  for (const auto& b : bindings_)
    if (b.name == name) return &b;
  return nullptr;
}
const PortType* Wsdl::port_type(const QName& name) const {
  for (const auto& p : port_types_)
    if (p.name == name) return &p;
  return nullptr;
}

Operation Wsdl::derive(const Service& service, const Port& port, const Binding* b, const BindingOperation* bop,
                       const std::string& op_name) const {
  Operation op;
  op.service = service.name.local;
  op.port = port.name;
  op.name = op_name;
  op.endpoint = port.address;
  op.where = bop ? bop->where : port.where;
  const auto problem = [&](const SourcePos& where, const std::string& why) { op.problems.push_back(where.to_string() + ": " + why); };
  if (!b) {
    problem(port.where, "port '" + port.name + "' names binding '" + port.binding.clark() + "', which the WSDL does not define");
    return op;
  }
  switch (b->kind) {
    case Binding::Kind::soap11: op.version = SoapVersion::soap11; break;
    case Binding::Kind::soap12: op.version = SoapVersion::soap12; break;
    case Binding::Kind::http:
      problem(b->where, "binding '" + b->name.local + "' is an HTTP binding (http:binding); only SOAP 1.1 and 1.2 bindings are supported");
      return op;
    case Binding::Kind::other:
      problem(b->where, "binding '" + b->name.local + "' has no soap:binding or soap12:binding; only SOAP 1.1 and 1.2 bindings are supported");
      return op;
  }
  if (!b->transport.empty() && b->transport != kSoapHttpTransport)
    problem(b->where, "transport '" + b->transport + "' is not supported (only SOAP over HTTP, " + kSoapHttpTransport + ")");
  if (!bop) return op;
  op.soap_action = bop->soap_action.value_or("");
  const Style style = bop->style.value_or(b->style);
  const PortType* pt = port_type(b->port_type);
  if (!pt) {
    problem(b->where, "binding '" + b->name.local + "' names portType '" + b->port_type.clark() + "', which the WSDL does not define");
    return op;
  }
  const PortTypeOperation* pto = nullptr;
  for (const auto& o : pt->operations)
    if (o.name == op_name) pto = &o;
  if (!pto) {
    problem(bop->where, "operation '" + op_name + "' is not in portType '" + pt->name.local + "'");
    return op;
  }
  const auto& set = schemas_;
  const auto element_known = [&](const QName& q) { return set && set->element(q) != nullptr; };

  // The body and header elements of one direction.
  const auto direction = [&](const std::optional<QName>& message_name, const SoapBody& body,
                             const std::vector<SoapHeader>& headers, std::vector<MessageElement>& out,
                             std::vector<MessageElement>& out_headers, std::optional<QName>& wrapper, bool input) {
    const char* dir = input ? "input" : "output";
    if (!message_name) return;
    const Message* m = message(*message_name);
    if (!m) {
      problem(pto->where, std::string(dir) + " message '" + message_name->clark() + "' is not defined");
      return;
    }
    if (body.present && body.use == "encoded") {
      problem(body.where, std::string("soap:body use=\"encoded\" (SOAP encoding) is not supported; only use=\"literal\""));
      return;
    }
    for (const auto& h : headers) {
      if (h.use == "encoded") {
        problem(h.where, "soap:header use=\"encoded\" (SOAP encoding) is not supported; only use=\"literal\"");
        continue;
      }
      const Message* hm = message(h.message);
      const Part* hp = hm ? hm->part(h.part) : nullptr;
      if (!hp) {
        problem(h.where, "soap:header names part '" + h.part + "' of message '" + h.message.clark() + "', which does not exist");
        continue;
      }
      if (!hp->element) {
        problem(hp->where, "header part '" + hp->name + "' has no element= (a header must be an element)");
        continue;
      }
      if (!element_known(*hp->element))
        problem(hp->where, "header element '" + hp->element->clark() + "' is not declared in wsdl:types");
      out_headers.push_back({hp->name, *hp->element, std::nullopt});
    }
    std::vector<const Part*> parts;
    for (const auto& p : m->parts) {
      if (body.parts) {
        if (std::find(body.parts->begin(), body.parts->end(), p.name) == body.parts->end()) continue;
      } else {
        // Parts bound to a header of this message are not in the body.
        bool header = false;
        for (const auto& h : headers) header = header || (h.message == m->name && h.part == p.name);
        if (header) continue;
      }
      parts.push_back(&p);
    }
    if (style == Style::rpc) {
      wrapper = QName{body.ns.empty() ? target_namespace_ : body.ns, input ? op_name : op_name + "Response"};
      for (const Part* p : parts) {
        if (p->element) {
          if (!element_known(*p->element))
            problem(p->where, "part '" + p->name + "' element '" + p->element->clark() + "' is not declared in wsdl:types");
          out.push_back({p->name, *p->element, std::nullopt});
        } else if (p->type) {
          out.push_back({p->name, {"", p->name}, p->type});
          if (set && !set->type(*p->type))
            problem(p->where, "part '" + p->name + "' type '" + p->type->clark() + "' is not declared in wsdl:types");
        }
      }
      return;
    }
    for (const Part* p : parts) {
      if (!p->element) {
        problem(p->where, "part '" + p->name + "' of a document-style operation uses type= instead of element= (that is rpc style)");
        continue;
      }
      if (!element_known(*p->element))
        problem(p->where, "part '" + p->name + "' element '" + p->element->clark() + "' is not declared in wsdl:types");
      out.push_back({p->name, *p->element, std::nullopt});
    }
  };
  direction(pto->input, bop->input, bop->input_headers, op.input, op.input_headers, op.input_wrapper, true);
  direction(pto->output, bop->output, bop->output_headers, op.output, op.output_headers, op.output_wrapper, false);
  op.one_way = !pto->output;
  for (const auto& [fname, fmsg] : pto->faults) {
    Fault f;
    f.name = fname;
    if (const Message* m = message(fmsg); m && !m->parts.empty() && m->parts.front().element) f.element = m->parts.front().element;
    op.faults.push_back(std::move(f));
  }
  for (const auto& [fname, use] : bop->faults)
    if (use == "encoded") problem(bop->where, "fault '" + fname + "' uses SOAP encoding (use=\"encoded\"); only literal is supported");

  if (style == Style::rpc) {
    op.style = OperationStyle::rpc_literal;
    return op;
  }
  // Wrapped: one body element, named like the operation, a sequence of elements, no attributes.
  op.style = OperationStyle::document_bare;
  if (op.input.size() == 1 && op.input.front().element.local == op_name && set) {
    const xml::ElementDecl* e = set->element(op.input.front().element);
    const xml::TypeDef* t = e ? e->type : nullptr;
    const bool sequence = t && !t->simple && t->attributes.empty() &&
                          (!t->particle || t->particle->kind == xml::Particle::Kind::sequence) &&
                          std::all_of(t->slots.begin(), t->slots.end(), [](const xml::ContentSlot& s) { return s.element != nullptr; });
    if (sequence) {
      op.style = OperationStyle::document_wrapped;
      op.input_wrapper = op.input.front().element;
      if (op.output.size() == 1) op.output_wrapper = op.output.front().element;
    }
  }
  return op;
}

std::vector<Operation> Wsdl::operations() const { return operations({}, {}); }

std::vector<Operation> Wsdl::operations(std::string_view service, std::string_view port) const {
  std::vector<Operation> out;
  for (const auto& s : services_) {
    if (!service.empty() && s.name.local != service) continue;
    for (const auto& p : s.ports) {
      if (!port.empty() && p.name != port) continue;
      const Binding* b = binding(p.binding);
      if (!b) {
        out.push_back(derive(s, p, nullptr, nullptr, ""));
        continue;
      }
      if (b->kind != Binding::Kind::soap11 && b->kind != Binding::Kind::soap12) {
        for (const auto& bop : b->operations) out.push_back(derive(s, p, b, nullptr, bop.name));
        continue;
      }
      for (const auto& bop : b->operations) out.push_back(derive(s, p, b, &bop, bop.name));
    }
  }
  return out;
}

Operation Wsdl::operation(std::string_view name, std::string_view service, std::string_view port,
                          std::optional<SoapVersion> version) const {
  std::vector<Operation> all = operations(service, port);
  std::vector<Operation> named;
  std::set<std::string> names;
  for (auto& o : all) {
    names.insert(o.name);
    if (o.name == name) named.push_back(std::move(o));
  }
  const auto list = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& n : s) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  const std::string where = service.empty() ? std::string() : " in service '" + std::string(service) + "'" +
                                                                  (port.empty() ? std::string() : " port '" + std::string(port) + "'");
  if (named.empty())
    throw std::invalid_argument("operation '" + std::string(name) + "' is not offered" + where +
                                (names.empty() ? std::string(" (no operations)") : " (operations: " + list(names) + ")"));
  std::vector<Operation> usable;
  for (auto& o : named)
    if (o.usable() && (!version || o.version == *version)) usable.push_back(o);
  if (usable.empty()) {
    std::string why;
    for (const auto& o : named)
      for (const auto& p : o.problems) why += (why.empty() ? "" : "; ") + p;
    if (why.empty()) why = "no port offers it in the SOAP version asked for";
    throw std::invalid_argument("operation '" + std::string(name) + "' cannot be used: " + why);
  }
  if (usable.size() > 1 && !version) {
    std::vector<Operation> v11;
    for (auto& o : usable)
      if (o.version == SoapVersion::soap11) v11.push_back(o);
    std::set<std::string> services;
    for (const auto& o : usable) services.insert(o.service);
    if (v11.size() == 1 && services.size() == 1) return v11.front();
  }
  if (usable.size() > 1) {
    std::set<std::string> ports;
    for (const auto& o : usable) ports.insert(o.service + "/" + o.port + " (" + to_string(o.version) + ")");
    throw std::invalid_argument("operation '" + std::string(name) + "' is offered by several ports: " + list(ports) +
                                "; name the service and port");
  }
  return usable.front();
}

}  // namespace reportbridge::wsdl
