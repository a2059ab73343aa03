#include "adapters/sinks/soap/wsdl_soap_sink.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "adapters/sinks/soap/secret_file.hpp"
#include "adapters/sinks/soap/soap_attachments.hpp"
#include "adapters/sinks/soap/soap_classify.hpp"
#include "bridge/net/url.hpp"
#include "bridge/xml/field_check.hpp"
#include "bridge/xml/xsd_validator.hpp"

namespace reportbridge::soap {

namespace {

using core::DeliveryOutcome;
using core::DeliveryStatus;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kHeaderStep = "soap:Header/";

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

DeliveryOutcome reject(const std::string& code, std::string detail) {
  return DeliveryOutcome::fail(DeliveryStatus::reject, code, std::move(detail));
}

SoapVersion version_of(wsdl::SoapVersion v) {
  return v == wsdl::SoapVersion::soap12 ? SoapVersion::v12 : SoapVersion::v11;
}

// The shortest text an XSD regular expression (a common subset: literals,
// escapes, classes, groups with alternatives, quantifiers) matches, taking the
// first alternative and the first character of each class; nullopt for what it
// cannot read.
class PatternSample {
 public:
  explicit PatternSample(std::string_view p) : p_(p) {}
  std::optional<std::string> run() {
    std::string out;
    if (!alternatives(out) || i_ != p_.size()) return std::nullopt;
    return out;
  }

 private:
  std::string_view p_;
  std::size_t i_ = 0;
  int depth_ = 0;

  bool alternatives(std::string& out) {
    std::string first;
    if (!sequence(first)) return false;
    while (i_ < p_.size() && p_[i_] == '|') {
      ++i_;
      std::string ignored;
      if (!sequence(ignored)) return false;
    }
    out += first;
    return true;
  }
  bool sequence(std::string& out) {
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      std::string atom_text;
      if (!atom(atom_text)) return false;
      std::size_t times = 1;
      if (i_ < p_.size()) {
        const char q = p_[i_];
        if (q == '?' || q == '*') {
          times = 0;
          ++i_;
        } else if (q == '+') {
          ++i_;
        } else if (q == '{') {
          const auto close = p_.find('}', i_);
          if (close == std::string_view::npos) return false;
          const std::string n(p_.substr(i_ + 1, close - i_ - 1));
          try {
            times = std::stoul(n.substr(0, n.find(',')));
          } catch (...) {
            return false;
          }
          if (times > 256) return false;
          i_ = close + 1;
        }
      }
      for (std::size_t k = 0; k < times; ++k) out += atom_text;
    }
    return true;
  }
  static char escape_char(char e) {
    switch (e) {
      case 'd': return '0';
      case 'w': case 'i': case 'c': case 'D': case 'S': case 'W': case 'I': case 'C': return 'a';
      case 's': return ' ';
      case 'n': return '\n';
      case 't': return '\t';
      default: return e;
    }
  }
  bool atom(std::string& out) {
    const char c = p_[i_];
    if (c == '(') {
      if (++depth_ > 32) return false;
      ++i_;
      if (!alternatives(out) || i_ >= p_.size() || p_[i_] != ')') return false;
      ++i_;
      --depth_;
      return true;
    }
    if (c == '[') {
      const std::size_t start = ++i_;
      const bool negated = i_ < p_.size() && p_[i_] == '^';
      if (negated) ++i_;
      int nesting = 1;
      std::optional<char> first;
      while (i_ < p_.size() && nesting > 0) {
        if (p_[i_] == '\\' && i_ + 1 < p_.size()) {
          if (!first) first = escape_char(p_[i_ + 1]);
          i_ += 2;
          continue;
        }
        if (p_[i_] == '[') ++nesting;
        if (p_[i_] == ']') --nesting;
        if (nesting > 0 && !first && !(p_[i_] == '-' && i_ > start)) first = p_[i_];
        ++i_;
      }
      if (nesting != 0 || !first) return false;
      if (negated) {  // a character the class does not list
        const std::string_view listed = p_.substr(start, i_ - start);
        for (char k : std::string_view("x0X_")) 
          if (listed.find(k) == std::string_view::npos) {
            out += k;
            return true;
          }
        return false;
      }
      out += *first;
      return true;
    }
    if (c == '\\') {
      if (i_ + 1 >= p_.size()) return false;
      const char e = p_[i_ + 1];
      i_ += 2;
      if ((e == 'p' || e == 'P') && i_ < p_.size() && p_[i_] == '{') {
        const auto close = p_.find('}', i_);
        if (close == std::string_view::npos) return false;
        i_ = close + 1;
        out += 'a';
        return true;
      }
      out += escape_char(e);
      return true;
    }
    if (c == '.') {
      ++i_;
      out += 'a';
      return true;
    }
    if (c == '?' || c == '*' || c == '+' || c == '{' || c == ']' || c == '}') return false;
    ++i_;
    out += c;
    return true;
  }
};

// A made-up value of simple type `t` for check's sample request and for the
// reference in a preview's update: the first enumeration value, else a text
// the (most derived) pattern matches, else a value of the built-in type with
// the length facets met. Facets across derivation steps may still disagree.
std::string sample_value(const xml::TypeDef* t) {
  if (!t) return "x";
  if (!t->facets.enumeration.empty()) return t->facets.enumeration.front();
  for (const xml::TypeDef* at = t; at; at = at->base)
    if (!at->facets.patterns.empty() && !at->facets.patterns.back().empty())
      if (auto v = PatternSample(at->facets.patterns.back().front()).run()) return *v;
  if (t->item_type) return sample_value(t->item_type);
  if (!t->member_types.empty()) return sample_value(t->member_types.front());
  std::string p;
  for (const xml::TypeDef* at = t; at; at = at->base)
    if (at->builtin) {
      p = at->name.local;
      break;
    }
  if (p == "dateTime") return "2026-01-01T00:00:00";
  if (p == "date") return "2026-01-01";
  if (p == "time") return "00:00:00";
  if (p == "boolean") return "true";
  if (p == "gYear") return "2026";
  if (p == "duration") return "PT1H";
  if (p == "base64Binary") return "AAAA";
  if (p == "hexBinary") return "00";
  if (p == "anyURI") return "urn:x";
  if (p.find("nteger") != std::string::npos || p == "decimal" || p == "int" || p == "long" || p == "short" ||
      p == "byte" || p.rfind("unsigned", 0) == 0 || p == "float" || p == "double")
    return "1";
  std::string v = "x";
  if (t->facets.min_length && *t->facets.min_length > 1) v.assign(static_cast<std::size_t>(std::min<std::uint64_t>(*t->facets.min_length, 64)), 'x');
  if (t->facets.length) v.assign(static_cast<std::size_t>(std::min<std::uint64_t>(*t->facets.length, 64)), 'x');
  return v;
}

// Text for an element the sink writes itself (simple-typed parts): characters
// XML 1.0 cannot hold and invalid UTF-8 become U+FFFD, as the renderer does.
std::string xml_text(const std::string& in, std::size_t& replaced) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len != 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      ok = (cc >> 6) == 2;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok) {
      const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
      ok = cp >= min && (cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF));
    }
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += kReplacement;
      ++replaced;
      i += len == 0 || i + len > in.size() ? 1 : len;
    }
  }
  return out;
}

// Errors about the request's structure (not about a made-up value).
bool structural(const std::string& m) {
  return m.find("This element is not expected") != std::string::npos ||
         m.find("Missing child element") != std::string::npos ||
         m.find("is required but missing") != std::string::npos ||
         m.find("is not allowed") != std::string::npos;
}

}  // namespace

namespace {
std::string joined(const std::vector<std::pair<std::string, std::string>>& problems) {
  std::string all;
  for (const auto& [role, m] : problems) all += (all.empty() ? "" : "; ") + (role.empty() ? m : role + ": " + m);
  return all;
}
}  // namespace

ContractError::ContractError(std::vector<std::pair<std::string, std::string>> p)
    : std::invalid_argument(joined(p)), problems(std::move(p)) {}

std::optional<BridgeValue> bridge_value(const std::string& name) {
  for (auto v : {BridgeValue::external_reference, BridgeValue::submission_id, BridgeValue::version,
                 BridgeValue::legacy_reference, BridgeValue::attachment_count, BridgeValue::request_id})
    if (name == to_string(v)) return v;
  return std::nullopt;
}

const char* to_string(BridgeValue v) {
  switch (v) {
    case BridgeValue::external_reference: return "external_reference";
    case BridgeValue::submission_id: return "submission_id";
    case BridgeValue::version: return "version";
    case BridgeValue::legacy_reference: return "legacy_reference";
    case BridgeValue::attachment_count: return "attachment_count";
    case BridgeValue::request_id: return "request_id";
  }
  return "?";
}

struct WsdlSoapSink::Impl {
  // One element of an operation's input: a body part or a header part.
  struct Part {
    xml::QName element;
    bool header = false;
    std::string label;  // as a path step: "p:Local"
    const xml::ElementDecl* decl = nullptr;
    std::shared_ptr<const xml::XmlRenderer> renderer;  // null: simple-typed element (text only)
  };
  struct Route {
    std::size_t part = 0;
    std::string path;  // below the part's element; empty: the element's own text
  };
  struct Op {
    const char* role = "";
    WsdlOperationConfig cfg;
    wsdl::Operation op;
    std::vector<Part> parts;
    std::optional<xml::XPathQuery> reference;
    std::vector<std::pair<Route, BridgeValue>> values;
    std::vector<std::pair<Route, std::string>> constants;
    bool record_fields = true;  // create/update: every record field; lookup: only cfg.fields
    bool offered() const { return !cfg.operation.empty(); }
  };

  WsdlSoapConfig cfg;
  core::AttachmentLocator locator;
  std::shared_ptr<const wsdl::Wsdl> contract;
  std::shared_ptr<const xml::SchemaSet> schemas;
  std::unique_ptr<xml::XsdValidator> validator;
  xml::Namespaces ns;  // cfg.namespaces + soap
  Op create, update, lookup;
  std::string endpoint;
  net::Url url;
  std::string password, authorization;
  std::unique_ptr<net::HttpClient> client;
  std::unique_ptr<SoapDriver> driver;
  std::optional<xml::XPathQuery> existing_reference;  // create.on_existing_reference
  InlineMarkers markers;  // inline attachment content in a rendered request
  OperationSections mapping_ops;  // mapping -> operation -> (field, path)
  core::DeferredFields deferred;  // mapping -> fields `from: bridge.legacy_reference`

  // The deferred field `field` of `mapping`, or null.
  const core::DeferredField* deferred_field(const std::string& mapping, const std::string& field) const {
    auto m = deferred.find(mapping);
    if (m == deferred.end()) return nullptr;
    for (const auto& d : m->second)
      if (d.field == field) return &d;
    return nullptr;
  }
  // True when the update carries the legacy reference (a value or a mapping field).
  bool update_has_reference() const {
    for (const auto& [r, v] : update.values)
      if (v == BridgeValue::legacy_reference) return true;
    for (const auto& [mapping, fields] : deferred)
      for (const auto& d : fields)
        if (field_path(update, d.field, mapping)) return true;
    return false;
  }

  Impl(WsdlSoapConfig c, core::AttachmentLocator l) : cfg(std::move(c)), locator(std::move(l)) {
    contract = wsdl::Wsdl::load(cfg.wsdl);
    schemas = contract->schemas();
    validator = std::make_unique<xml::XsdValidator>(schemas);
    ns = cfg.namespaces;
    if (cfg.create.operation.empty()) throw std::invalid_argument("create: an operation is required");
    create.role = "create";
    update.role = "update";
    lookup.role = "lookup";
    lookup.record_fields = false;
    Problems problems;
    compile(create, cfg.create, problems);
    if (!cfg.update.operation.empty()) compile(update, cfg.update, problems);
    if (!cfg.lookup.operation.empty()) compile(lookup, cfg.lookup, problems);
    // The SOAP version of the port decides the "soap" prefix of XPaths.
    if (std::none_of(ns.begin(), ns.end(), [](const auto& p) { return p.first == "soap"; }))
      ns.emplace_back("soap", envelope_namespace(version_of(
                                  create.op.version)));
    for (Op* o : {&create, &update, &lookup}) {
      if (o->cfg.operation.empty() || o->cfg.reference.empty()) continue;
      try {
        o->reference.emplace(o->cfg.reference, ns);
      } catch (const std::invalid_argument& e) {
        problems.emplace_back(o->role, std::string("reference: ") + e.what());
      }
    }
    if (!cfg.create.on_existing_fault.empty()) {
      if (!cfg.create.on_existing_reference.empty()) {
        try {
          existing_reference.emplace(cfg.create.on_existing_reference, ns);
        } catch (const std::invalid_argument& e) {
          problems.emplace_back("create", std::string("on_existing: reference: ") + e.what());
        }
      } else if (cfg.lookup.operation.empty()) {
        problems.emplace_back("create", "on_existing: give a reference XPath into the fault, or a lookup operation");
      }
    }
    if (lookup.offered() && lookup.cfg.reference.empty()) problems.emplace_back("lookup", "a reference XPath is required");
    if (!problems.empty()) throw ContractError(std::move(problems));

    endpoint = cfg.url.empty() ? create.op.endpoint : cfg.url;
    auto parsed = net::parse_url(endpoint);
    if (!parsed)
      throw std::invalid_argument(cfg.url.empty() ? "the port's soap:address '" + endpoint +
                                                        "' is not an http(s) URL; set url"
                                                  : "url is not an http(s) URL without credentials");
    url = *parsed;
    if ((cfg.basic_auth || cfg.wsse != WsseMode::none) && (cfg.username.empty() || cfg.password_file.empty()))
      throw std::invalid_argument("basic auth / WS-Security need a username and a password file");
    if (cfg.basic_auth || cfg.wsse != WsseMode::none) password = read_secret_file(cfg.password_file);
    if (cfg.basic_auth) authorization = "Basic " + base64(cfg.username + ":" + password);
    driver = std::make_unique<SoapDriver>(
        cfg.name, cfg.in_doubt,
        cfg.settle_time ? *cfg.settle_time
                        : std::chrono::duration_cast<std::chrono::milliseconds>(cfg.http.total_timeout +
                                                                                cfg.http.read_timeout));
    net::HttpClientConfig http = cfg.http;
    http.base_url = endpoint;
    client = std::make_unique<net::HttpClient>(std::move(http));
  }

  std::string step_label(const xml::QName& q) const {
    for (const auto& [p, u] : ns)
      if (u == q.ns) return p + ":" + q.local;
    return q.clark();
  }

  using Problems = std::vector<std::pair<std::string, std::string>>;

  void compile(Op& o, const WsdlOperationConfig& oc, Problems& problems) {
    o.cfg = oc;
    try {
      o.op = contract->operation(oc.operation, cfg.service, cfg.port);
    } catch (const std::invalid_argument& e) {
      problems.emplace_back(o.role, e.what());
      return;
    }
    if (!o.op.usable()) {
      std::string why;
      for (const auto& p : o.op.problems) why += (why.empty() ? "" : "; ") + p;
      problems.emplace_back(o.role, "operation " + oc.operation + " cannot be used: " + why);
      return;
    }
    if (o.op.style == wsdl::OperationStyle::rpc_literal && !o.op.input_wrapper) {
      problems.emplace_back(o.role, "operation " + oc.operation + " is rpc/literal without a wrapper element");
      return;
    }
    auto add = [&](const wsdl::MessageElement& m, bool header) {
      Part p;
      p.element = m.element;
      p.header = header;
      p.label = step_label(m.element);
      // rpc parts: the no-namespace declaration the WSDL model synthesises per part name.
      p.decl = schemas->element(m.element);
      if (!p.decl) {
        problems.emplace_back(o.role, "part " + m.part + " (" + m.element.clark() +
                                          "): no global declaration in the WSDL's schemas" +
                                          (m.type ? " (an rpc part name used with two types)" : ""));
        return;
      }
      if (!p.decl->type || !p.decl->type->simple) {
        xml::XmlLayout layout;
        layout.root = m.element.clark();
        layout.namespaces = cfg.namespaces;
        p.renderer = std::make_shared<const xml::XmlRenderer>(schemas, std::move(layout));
      }
      o.parts.push_back(std::move(p));
    };
    for (const auto& m : o.op.input) add(m, false);
    for (const auto& m : o.op.input_headers) add(m, true);
    // Attachments: a body path, rendered by the part's renderer.
    if (!cfg.attachments_path.empty() && o.record_fields) {
      std::string why;
      auto r = route(o, cfg.attachments_path, &why);
      if (!r || o.parts[r->part].header || !o.parts[r->part].renderer) {
        problems.emplace_back(o.role, "attachments_path '" + cfg.attachments_path + "': " +
                                           (why.empty() ? "not in a body element" : why));
      } else {
        auto& part = o.parts[r->part];
        xml::XmlLayout layout = part.renderer->layout();
        layout.attachments_path = r->path;
        layout.attachment_content_path = cfg.attachment_content;
        layout.attachment_reference_path = cfg.attachment_content_reference;
        try {
          part.renderer = std::make_shared<const xml::XmlRenderer>(schemas, std::move(layout));
          // Inline content must be base64 in the contract.
          if (!cfg.attachment_content.empty()) {
            auto res = part.renderer->resolve_field(r->path + "[1]/" + cfg.attachment_content);
            bool base64 = false;
            for (const xml::TypeDef* t = res ? res.path->value_type : nullptr; t; t = t->base)
              if (t->builtin && t->name.local == "base64Binary") base64 = true;
            if (res && !base64)
              problems.emplace_back(o.role, "attachment_content '" + cfg.attachment_content +
                                                "': not of type xs:base64Binary in the contract");
          }
        } catch (const std::invalid_argument& e) {
          problems.emplace_back(o.role, std::string("attachments_path: ") + e.what());
        }
      }
    }
    if (cfg.attachments_path.empty() && &o == &create &&
        (!cfg.attachment_content.empty() || !cfg.attachment_content_reference.empty()))
      problems.emplace_back("", "attachment_content / attachment_content_reference need attachments_path");
    for (const auto& [path, value] : oc.values) {
      if (value == BridgeValue::legacy_reference && &o != &update)
        problems.emplace_back(o.role, "values: legacy_reference exists only for update");
      std::string why;
      auto r = route(o, path, &why);
      if (r) why = check_route(o, *r);
      if (!why.empty()) {
        problems.emplace_back(o.role, "values: '" + path + "': " + why);
        continue;
      }
      o.values.emplace_back(*r, value);
    }
    for (const auto& [path, text] : oc.constants) {
      std::string why;
      auto r = route(o, path, &why);
      if (r) why = check_route(o, *r);
      if (!why.empty()) {
        problems.emplace_back(o.role, "values: '" + path + "': " + why);
        continue;
      }
      o.constants.emplace_back(*r, text);
    }
    for (const auto& [field, path] : oc.fields) {
      if (path.empty()) continue;  // the field is not sent in this operation
      std::string why;
      auto r = route(o, path, &why);
      if (r) why = check_route(o, *r);
      if (!why.empty()) problems.emplace_back(o.role, "fields: " + field + " -> '" + path + "': " + why);
    }
  }

  // Which input element a path goes to, and the path below it.
  std::optional<Route> route(const Op& o, std::string_view path, std::string* why) const {
    bool header = false;
    if (path.substr(0, kHeaderStep.size()) == kHeaderStep) {
      header = true;
      path.remove_prefix(kHeaderStep.size());
    }
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < o.parts.size(); ++i)
      if (o.parts[i].header == header) candidates.push_back(i);
    if (candidates.empty()) {
      *why = std::string("operation ") + o.cfg.operation + " has no " + (header ? "SOAP header" : "body") +
             " element";
      return std::nullopt;
    }
    if (!header && candidates.size() == 1) {
      const auto& p = o.parts[candidates[0]];
      // A simple-typed body element (its text is the value): "" or its own name.
      if (!p.renderer && (path == p.label || path == p.element.clark() || path == p.element.local))
        return Route{candidates[0], ""};
      return Route{candidates[0], std::string(path)};
    }
    // The first step names the element.
    std::size_t slash = path.find('/');
    if (path.substr(0, 1) == "{") {
      const auto close = path.find('}');
      slash = close == std::string_view::npos ? std::string_view::npos : path.find('/', close);
    }
    const std::string step(path.substr(0, slash));
    const std::string rest(slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1));
    std::vector<std::size_t> matches;
    for (std::size_t i : candidates) {
      const auto& p = o.parts[i];
      if (step == p.label || step == p.element.clark() || step == p.element.local) matches.push_back(i);
      else {
        const auto colon = step.find(':');
        if (colon != std::string::npos && step.substr(colon + 1) == p.element.local)
          for (const auto& [pre, uri] : ns)
            if (pre == step.substr(0, colon) && uri == p.element.ns) matches.push_back(i);
      }
    }
    if (matches.size() == 1) return Route{matches[0], rest};
    std::string names;
    for (std::size_t i : candidates) names += (names.empty() ? "" : ", ") + o.parts[i].label;
    *why = std::string(header ? "the header element" : "the body element") + " '" + step +
           (matches.empty() ? "' is not one of this operation's: " : "' is ambiguous among: ") + names +
           (header ? " (write soap:Header/<element>/...)" : "");
    return std::nullopt;
  }

  // "" when the route resolves in its element; else why.
  std::string check_route(const Op& o, const Route& r) const {
    const auto& part = o.parts[r.part];
    if (!part.renderer) return r.path.empty() ? "" : part.label + " holds text only (write the path up to it)";
    if (r.path.empty()) return part.label + " has element content: name a path inside it";
    auto res = part.renderer->resolve_field(r.path);
    return res ? "" : xml::describe(*res.error);
  }

  // The path a record field takes in this operation, or nullopt when it is not
  // sent: the mapping's operations: section, then the operation's fields.
  std::optional<std::string> field_path(const Op& o, const std::string& field, const std::string& mapping = {}) const {
    if (!mapping.empty())
      if (auto m = mapping_ops.find(mapping); m != mapping_ops.end())
        if (auto r = m->second.find(o.role); r != m->second.end())
          for (const auto& [name, path] : r->second)
            if (name == field) return path.empty() ? std::nullopt : std::optional<std::string>(path);
    for (const auto& [name, path] : o.cfg.fields)
      if (name == field) return path.empty() ? std::nullopt : std::optional<std::string>(path);  // "": not sent
    if (!o.record_fields) return std::nullopt;
    return field;
  }

  std::string value_of(BridgeValue v, const core::DeliveryItem& item) const {
    switch (v) {
      case BridgeValue::external_reference: return external_reference(item.record);
      case BridgeValue::submission_id: return item.record.submission_id;
      case BridgeValue::version: return std::to_string(item.record.version);
      case BridgeValue::legacy_reference: return item.prior_reference;
      case BridgeValue::attachment_count: return std::to_string(item.record.attachments.size());
      case BridgeValue::request_id: {  // random (version 4) UUID
        unsigned char b[16];
        if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for request_id");
        b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
        b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
        char out[37];
        std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                      b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return out;
      }
    }
    return {};
  }

  std::optional<UsernameToken> token(bool preview) const {
    if (cfg.wsse == WsseMode::none) return std::nullopt;
    const bool digest = cfg.wsse == WsseMode::digest;
    if (preview)
      return UsernameToken{cfg.username, "[redacted]", digest, digest ? "[nonce]" : "", digest ? "[created]" : ""};
    return make_username_token(cfg.username, password, digest);
  }

  struct Built {
    std::optional<DeliveryOutcome> error;
    std::string text;
    // Inline attachment content: the file and its size per marker in `text`, in order.
    std::vector<std::pair<std::filesystem::path, std::uint64_t>> inline_files;
    std::uint64_t wire_bytes = 0;  // the request body's size as sent (compact, content encoded)
  };

  // build(), with attachments inlined only while the request stays within
  // max_request_bytes: the last inline ones go by reference until it fits; a
  // request still too large is rejected request_too_large (never sent).
  Built build_within_limit(const Op& o, const core::DeliveryItem& item, bool preview) const {
    Built b = build(o, item, preview);
    if (!cfg.max_request_bytes || b.error) return b;
    std::size_t inline_count = b.inline_files.size();
    while (b.wire_bytes > cfg.max_request_bytes && inline_count > 0) {
      b = build(o, item, preview, nullptr, --inline_count);
      if (b.error) return b;
    }
    if (b.wire_bytes > cfg.max_request_bytes)
      b.error = reject("request_too_large", std::string(o.role) + " request is " + std::to_string(b.wire_bytes) +
                                                " bytes, more than max_request_size (" +
                                                std::to_string(cfg.max_request_bytes) + ")");
    return b;
  }

  // Renders and validates one request of `o` for `item`.
  Built build(const Op& o, const core::DeliveryItem& item, bool preview,
              std::vector<xml::XmlError>* raw_errors = nullptr,
              std::size_t max_inline = std::numeric_limits<std::size_t>::max()) const {
    Built b;
    const auto& rec = item.record;
    std::vector<core::TargetRecord> subs(o.parts.size());
    for (auto& s : subs) {
      s.submission_id = rec.submission_id;
      s.version = rec.version;
      s.mapping = rec.mapping;
      s.target = rec.target;
    }
    std::vector<std::optional<std::string>> texts(o.parts.size());
    std::vector<bool> any(o.parts.size(), false);
    auto put = [&](const Route& r, std::optional<std::string> value, const std::string& what) -> bool {
      if (!o.parts[r.part].renderer) {
        if (!r.path.empty()) {
          b.error = reject("unknown_field", what + ": " + o.parts[r.part].label + " holds text only");
          return false;
        }
        if (value) texts[r.part] = std::move(value);
      } else {
        subs[r.part].fields.push_back({r.path, std::move(value)});
      }
      any[r.part] = true;
      return true;
    };
    for (const auto& f : rec.fields) {
      const auto path = field_path(o, f.name, rec.mapping);
      if (!path) continue;
      std::string why;
      auto r = route(o, *path, &why);
      if (!r) {
        b.error = reject("unknown_field", "field " + f.name + ": " + why);
        return b;
      }
      std::optional<std::string> value = f.value;
      // `from: bridge.legacy_reference`: the update's reference, through the field's rules.
      if (&o == &update)
        if (const auto* d = deferred_field(rec.mapping, f.name)) {
          auto v = d->resolve(rec, item.prior_reference);
          if (!v.error.empty()) {
            b.error = reject("mapping_failed", "update field " + f.name + ": " + v.error);
            return b;
          }
          value = std::move(v.value);
        }
      if (!put(*r, std::move(value), "field " + f.name)) return b;
    }
    for (const auto& [r, v] : o.values)
      if (!put(r, value_of(v, item), std::string("value ") + to_string(v))) return b;
    for (const auto& [r, text] : o.constants)
      if (!put(r, text, "a constant")) return b;
    // Attachments go with the part that renders them: metadata, and the
    // content inline (a marker now, the streamed file when sending) or by reference.
    std::vector<xml::RenderExtras> extras(o.parts.size());
    std::vector<std::string> placeholders;
    for (std::size_t i = 0; i < o.parts.size(); ++i)
      if (o.parts[i].renderer && !o.parts[i].renderer->layout().attachments_path.empty()) {
        subs[i].attachments = rec.attachments;
        any[i] = any[i] || !rec.attachments.empty();
        for (const auto& a : rec.attachments) {
          std::string content, reference;
          if (!cfg.attachment_content.empty() && a.size_bytes <= cfg.max_inline_bytes &&
              b.inline_files.size() < max_inline) {
            std::filesystem::path file;
            if (!preview)
              if (auto bad = resolve_inline_attachment(locator, a, file)) {
                b.error = std::move(bad);
                return b;
              }
            content = markers.marker(b.inline_files.size());
            b.inline_files.emplace_back(std::move(file), a.size_bytes);
            placeholders.push_back("(base64 of attachment " + a.id + ", " + std::to_string(a.size_bytes) +
                                   " bytes)");
          } else if (!cfg.attachment_content_reference.empty()) {
            reference = attachment_reference_text(cfg.attachment_reference, a, rec.submission_id);
          } else if (!cfg.attachment_content.empty()) {
            b.error = reject("attachment_too_large", "attachment " + a.id + " is larger than max_inline_attachment_size "
                                                     "or does not fit in max_request_size, and the target has no "
                                                     "attachment_content_reference");
            return b;
          }
          extras[i].attachment_contents.push_back(std::move(content));
          extras[i].attachment_references.push_back(std::move(reference));
        }
      }

    const auto tok = token(preview);
    const bool headers = std::any_of(o.parts.begin(), o.parts.end(), [&](const Part& p) {
      return p.header && any[static_cast<std::size_t>(&p - o.parts.data())];
    });
    EnvelopeFrame env = make_frame(version_of(o.op.version), tok ? &*tok : nullptr, headers);
    std::vector<xmlNode*> elements;
    std::size_t replaced = 0;
    xmlNode* body_parent = env.body;
    if (o.op.style == wsdl::OperationStyle::rpc_literal) {  // <ns:Operation> holding the parts, unqualified
      const auto& w = *o.op.input_wrapper;
      body_parent = xmlNewChild(env.body, nullptr, X(w.local.c_str()), nullptr);
      if (!w.ns.empty()) xmlSetNs(body_parent, xmlNewNs(body_parent, X(w.ns.c_str()), X("rpc")));
    }
    for (std::size_t i = 0; i < o.parts.size(); ++i) {
      const auto& p = o.parts[i];
      xmlNode* parent = p.header ? env.header : body_parent;
      if (p.header && !any[i]) continue;  // an unfilled header is not sent (check reports required ones)
      if (!p.renderer) {
        // (xmlNewChild would give a namespace-less element its parent's namespace)
        xmlNode* e = xmlAddChild(parent, xmlNewDocNode(env.doc.get(), nullptr, X(p.element.local.c_str()), nullptr));
        if (!p.element.ns.empty()) xmlSetNs(e, xmlNewNs(e, X(p.element.ns.c_str()), X("ns")));
        if (texts[i]) xmlNodeAddContent(e, X(xml_text(*texts[i], replaced).c_str()));
        elements.push_back(e);
        continue;
      }
      auto r = p.renderer->render_into(*parent, subs[i], extras[i]);
      if (r.error) {
        b.error = reject(r.error->code, p.label + ": " + r.error->detail);
        return b;
      }
      replaced += r.replaced_characters;
      elements.push_back(r.element);
    }
    if (replaced && !preview)
      spdlog::info("soap target {}: {} character(s) XML cannot hold replaced by U+FFFD", cfg.name, replaced);
    std::vector<xml::XmlError> errors;
    for (xmlNode* e : elements) {
      auto errs = validator->validate(*e);
      errors.insert(errors.end(), errs.begin(), errs.end());
    }
    if (!errors.empty()) {
      xml::assign_pretty_line_numbers(*env.doc);
      std::vector<xml::XmlError> numbered;
      for (xmlNode* e : elements) {
        auto errs = validator->validate(*e);
        numbered.insert(numbered.end(), errs.begin(), errs.end());
      }
      if (raw_errors) *raw_errors = numbered.empty() ? errors : numbered;
      b.error = reject("schema_invalid", std::string(o.role) + " request: " +
                                             xml::join_errors(xml::redact_values(numbered.empty() ? errors : numbered)));
      if (preview) b.text = with_placeholders(xml::to_string(*env.doc, xml::Format::pretty, true), placeholders);
      return b;
    }
    b.text = xml::to_string(*env.doc, preview ? xml::Format::pretty : xml::Format::compact, true);
    if (cfg.max_request_bytes) {
      b.wire_bytes = preview ? xml::to_string(*env.doc, xml::Format::compact, true).size() : b.text.size();
      for (std::size_t k = 0; k < b.inline_files.size(); ++k)
        b.wire_bytes += (b.inline_files[k].second + 2) / 3 * 4 - markers.marker(k).size();
    }
    if (preview) b.text = with_placeholders(std::move(b.text), placeholders);
    return b;
  }

  std::string with_placeholders(std::string text, const std::vector<std::string>& placeholders) const {
    for (std::size_t k = 0; k < placeholders.size(); ++k) {
      const std::string m = markers.marker(k);
      if (const auto at = text.find(m); at != std::string::npos) text.replace(at, m.size(), placeholders[k]);
    }
    return text;
  }

  // The request of a built call; false when a content marker went missing.
  bool request_for(const Op& o, Built&& b, net::Request& req) const {
    if (b.inline_files.empty()) {  // the common case: one literal body, moved
      req = request_for(o, std::move(b.text));
      return true;
    }
    std::vector<net::BodyPart> parts;
    if (!markers.split(b.text, b.inline_files, parts)) return false;
    req = request_for(o, std::string());
    req.body = std::move(parts);
    return true;
  }

  net::Request request_for(const Op& o, std::string body) const {
    net::Request req;
    req.target = url.target;
    const auto v = version_of(o.op.version);
    req.headers.emplace_back("Content-Type", content_type(v, o.op.soap_action));
    if (v == SoapVersion::v11) req.headers.emplace_back("SOAPAction", "\"" + o.op.soap_action + "\"");
    if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
    req.body.push_back(net::BodyPart::literal(std::move(body)));
    return req;
  }

  static const xmlNode* body_of(const xmlDoc& doc) {
    const xmlNode* env = xmlDocGetRootElement(&doc);
    if (!env) return nullptr;
    for (const xmlNode* c = env->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE && std::string_view(reinterpret_cast<const char*>(c->name)) == "Body")
        return c;
    return nullptr;
  }

  // create.on_existing: the create's answer is the fault by which the target
  // refuses a second record with the same external reference. Delivered with
  // the existing record's reference from the fault (empty: ask the lookup).
  std::optional<DeliveryOutcome> existing(const net::Response& resp) const {
    if (cfg.create.on_existing_fault.empty() || resp.error != net::ErrorKind::none ||
        resp.body.find('<') == std::string::npos)
      return std::nullopt;
    auto parsed = xml::parse_untrusted(resp.body, xml::ParseLimits{static_cast<std::size_t>(cfg.http.max_response_bytes)});
    if (!parsed) return std::nullopt;
    auto fault = find_fault(*parsed.doc);
    if (!fault || !fault->is(cfg.create.on_existing_fault)) return std::nullopt;
    if (!existing_reference) return DeliveryOutcome::ok();
    const xmlNode* body = body_of(*parsed.doc);
    std::string ref = body ? existing_reference->first_string(*body).value_or("") : "";
    if (ref.empty() && !lookup.offered())
      return reject("no_reference", "the create was refused as a duplicate (" + cfg.create.on_existing_fault +
                                        ") with no reference at " + existing_reference->expression() +
                                        "; the target holds the record");
    return DeliveryOutcome::ok(std::move(ref));
  }

  // The answer of `o`: delivered with the reference (empty for a lookup: not
  // found), or the failure.
  DeliveryOutcome read(const Op& o, const net::Response& resp, bool reference_optional) const {
    const std::size_t max_bytes = static_cast<std::size_t>(cfg.http.max_response_bytes);
    if (&o == &lookup && o.cfg.not_found == NotFound::fault && resp.error == net::ErrorKind::none &&
        resp.body.find('<') != std::string::npos) {
      auto parsed = xml::parse_untrusted(resp.body, xml::ParseLimits{max_bytes});
      if (parsed)
        if (auto fault = find_fault(*parsed.doc); fault && fault->is(o.cfg.not_found_fault))
          return DeliveryOutcome::ok();
    }
    auto reading = classify(resp, nullptr, true, max_bytes);
    if (reading.outcome.status != DeliveryStatus::delivered) return std::move(reading.outcome);
    const xmlNode* body = reading.doc ? body_of(*reading.doc) : nullptr;
    if (!body) return reject("bad_response", "no soap:Body in the HTTP " + std::to_string(resp.status) +
                                                 " response; the target may hold the record");
    if (cfg.validate_response) {
      std::vector<xml::XmlError> errors;
      const bool rpc = o.op.style == wsdl::OperationStyle::rpc_literal;
      for (const xmlNode* c = body->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (rpc) {  // the parts inside the response wrapper
          for (const xmlNode* part = c->children; part; part = part->next)
            if (part->type == XML_ELEMENT_NODE) {
              auto errs = validator->validate(*part);
              errors.insert(errors.end(), errs.begin(), errs.end());
            }
          continue;
        }
        auto errs = validator->validate(*c);
        errors.insert(errors.end(), errs.begin(), errs.end());
      }
      if (!errors.empty())
        return reject("bad_response", std::string(o.role) + " response does not match the output schema (" +
                                          xml::join_errors(xml::redact_values(errors), 2) +
                                          "); the target may hold the record (validate_response: false skips this check)");
    }
    std::string ref = o.reference ? o.reference->first_string(*body).value_or("") : "";
    if (ref.empty() && o.reference && !reference_optional)
      return reject("no_reference", "no reference at " + o.reference->expression() + " in the " + o.role +
                                        " response; the target may hold the record");
    return DeliveryOutcome::ok(std::move(ref));
  }

  // The calls of this form, for the shared driver (soap_driver.hpp).
  struct Calls : SoapCalls {
    const Impl& impl;
    explicit Calls(const Impl& i) : impl(i) {}
    bool offers_lookup() const override { return impl.lookup.offered(); }
    bool offers_update() const override { return impl.update.offered(); }
    Built lookup_request(const core::DeliveryItem& item) override {
      Impl::Built b = impl.build(impl.lookup, item, false);
      if (b.error) {
        b.error->detail = "lookup: " + b.error->detail;
        return std::move(*b.error);
      }
      return impl.request_for(impl.lookup, std::move(b.text));
    }
    DeliveryOutcome read_lookup(const net::Response& r) override { return impl.read(impl.lookup, r, true); }
    Built call_request(const core::DeliveryItem& item, bool update) override {
      const Op& o = update ? impl.update : impl.create;
      Impl::Built b = impl.build_within_limit(o, item, false);
      if (b.error) return std::move(*b.error);
      net::Request req;
      if (!impl.request_for(o, std::move(b), req))
        return reject("render_error", "an attachment's content marker is missing from the request");
      return req;
    }
    DeliveryOutcome read_call(const net::Response& r, bool update) override {
      return impl.read(update ? impl.update : impl.create, r, update);
    }
    bool create_refuses_duplicates() const override { return !impl.cfg.create.on_existing_fault.empty(); }
    std::optional<DeliveryOutcome> existing(const net::Response& r) override { return impl.existing(r); }
  };

  std::vector<DeliveryOutcome> deliver(const core::DeliveryBatch& batch) {
    Calls calls(*this);
    return driver->deliver(batch, calls, *client);
  }

  void deliver_each(const core::DeliveryBatch& batch, const core::Sink::OutcomeReport& report) {
    Calls calls(*this);
    driver->deliver_each(batch, calls, *client, report);
  }

  // The type of the element or attribute `r` puts a value in (null: unknown).
  const xml::TypeDef* type_at(const Op& o, const Route& r) const {
    const auto& part = o.parts[r.part];
    if (!part.renderer) return part.decl ? part.decl->type : nullptr;
    auto res = part.renderer->resolve_field(r.path);
    return res ? res.path->value_type : nullptr;
  }

  // A made-up legacy reference that fits the type of the element the update
  // puts it in (a value legacy_reference, or a mapping field from it).
  std::string sample_reference() const {
    for (const auto& [r, v] : update.values)
      if (v == BridgeValue::legacy_reference) return sample_value(type_at(update, r));
    std::string why;
    for (const auto& [mapping, fields] : deferred)
      for (const auto& d : fields)
        if (const auto path = field_path(update, d.field, mapping))
          if (auto r = route(update, *path, &why)) return sample_value(type_at(update, *r));
    return "SAMPLE";
  }

  std::string preview(const Op& o, const core::TargetRecord& record, const std::string& prior = {}) const {
    core::DeliveryItem item;
    item.record = record;
    if (&o == &update) item.prior_reference = prior.empty() ? sample_reference() : prior;
    Built b = build_within_limit(o, item, true);
    if (b.error) {
      std::string text = b.error->reason_code + ": " + b.error->detail;
      if (!b.text.empty()) text += "\n" + b.text;
      throw std::runtime_error(text);
    }
    return b.text;
  }
};

WsdlSoapSink::WsdlSoapSink(WsdlSoapConfig config, core::AttachmentLocator locator)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(locator))) {}
WsdlSoapSink::~WsdlSoapSink() = default;

const std::string& WsdlSoapSink::name() const { return impl_->cfg.name; }
core::BatchPolicy WsdlSoapSink::batch_policy() const { return impl_->cfg.batch; }
void WsdlSoapSink::set_locator(core::AttachmentLocator locator) { impl_->locator = std::move(locator); }
void WsdlSoapSink::set_mapping_operations(OperationSections sections) { impl_->mapping_ops = std::move(sections); }
void WsdlSoapSink::set_deferred_fields(core::DeferredFields fields) { impl_->deferred = std::move(fields); }

std::optional<std::string> WsdlSoapSink::check_operation_path(const std::string& operation,
                                                              const std::string& path) const {
  const Impl::Op* o = operation == "create"   ? &impl_->create
                      : operation == "update" ? &impl_->update
                      : operation == "lookup" ? &impl_->lookup
                                              : nullptr;
  if (!o) return "not an operation (create, update, lookup)";
  if (!o->offered()) return "the target has no " + operation + " operation";
  std::string why;
  auto r = impl_->route(*o, path, &why);
  if (r) why = impl_->check_route(*o, *r);
  if (why.empty()) return std::nullopt;
  return "(" + o->op.name + ") " + why;
}
const WsdlSoapConfig& WsdlSoapSink::config() const { return impl_->cfg; }

void WsdlSoapSink::share_limits(const core::FleetLimitsFactory& make) {
  const auto& h = impl_->cfg.http;
  impl_->client->share_limits(make(h.rate_per_second, h.burst, h.max_connections));
}
std::chrono::milliseconds WsdlSoapSink::settle_time() const { return impl_->driver->settle_time(); }
std::uint64_t WsdlSoapSink::connections_opened() const { return impl_->client->connections_opened(); }

std::string WsdlSoapSink::encode_preview(const core::TargetRecord& record) const {
  impl_->preview(impl_->create, record);  // throws the reject of a record the create would refuse
  return preview_all(record);
}

std::string WsdlSoapSink::encode_preview_with_reference(const core::TargetRecord& record,
                                                        const std::string& prior_reference) const {
  impl_->preview(impl_->create, record);  // throws the reject of a record the create would refuse
  return preview_all(record, prior_reference);
}

std::string WsdlSoapSink::preview_all(const core::TargetRecord& record, const std::string& prior_reference) const {
  std::string out;
  for (const Impl::Op* o : {&impl_->create, &impl_->update, &impl_->lookup}) {
    if (!o->offered()) continue;
    out += std::string("== ") + o->role + ": " + o->op.name + " (SOAP " +
           (o->op.version == wsdl::SoapVersion::soap12 ? "1.2" : "1.1") + ", SOAPAction \"" + o->op.soap_action +
           "\", " + wsdl::to_string(o->op.style) + ")\n";
    if (o == &impl_->update && impl_->update_has_reference())
      out += prior_reference.empty()
                 ? "   (legacy reference: '" + impl_->sample_reference() +
                       "', a made-up value of its type: no reference is stored for this submission; "
                       "preview --reference REF shows a real one)\n"
                 : "   (legacy reference: the stored or given one)\n";
    try {
      out += impl_->preview(*o, record, prior_reference);
    } catch (const std::exception& e) {
      out += std::string("REJECTED ") + e.what() + "\n";
    }
  }
  return out;
}

void WsdlSoapSink::deliver_each(const core::DeliveryBatch& batch, const OutcomeReport& report) {
  impl_->deliver_each(batch, report);
}

std::vector<core::DeliveryOutcome> WsdlSoapSink::deliver(const core::DeliveryBatch& batch) {
  return impl_->deliver(batch);
}

std::optional<std::string> WsdlSoapSink::check_field(const std::string& field_name) const {
  for (const Impl::Op* o : {&impl_->create, &impl_->update}) {
    if (!o->offered()) continue;
    const auto path = impl_->field_path(*o, field_name);
    if (!path) continue;
    std::string why;
    auto r = impl_->route(*o, *path, &why);
    if (r) why = impl_->check_route(*o, *r);
    if (!why.empty()) return std::string(o->role) + " (" + o->op.name + "): " + why;
  }
  return std::nullopt;
}

void WsdlSoapSink::check_contract(const std::vector<std::string>& field_names, const std::string& file, int line,
                                  int column, core::Diagnostics& diags, const std::string& mapping) const {
  const auto& I = *impl_;
  const std::string who =
      "target '" + I.cfg.name + "'" + (mapping.empty() ? "" : " (with mapping '" + mapping + "')") + ": ";
  // The lookup finds a record by what it sends: a value, or a field the
  // target's `fields` or the mapping's operations: section gives it.
  if (I.lookup.offered() && I.lookup.values.empty() && I.lookup.constants.empty() &&
      std::none_of(field_names.begin(), field_names.end(),
                   [&](const std::string& f) { return I.field_path(I.lookup, f, mapping).has_value(); }))
    diags.error(file, line, column,
                who + "lookup: give the lookup request at least one value (e.g. values: {<path>: "
                      "external_reference}, or a mapping field from bridge.external_reference under its "
                      "operations: lookup)",
                "config.bad_target");
  for (const Impl::Op* o : {&I.create, &I.update, &I.lookup}) {
    if (!o->offered()) continue;
    // Canonical paths filled, per part.
    std::vector<std::set<std::string>> filled(o->parts.size());
    std::vector<bool> text_filled(o->parts.size(), false);
    auto mark = [&](const std::string& path) {
      std::string why;
      auto r = I.route(*o, path, &why);
      if (!r) return;
      const auto& part = o->parts[r->part];
      if (!part.renderer) {
        text_filled[r->part] = true;
        return;
      }
      auto res = part.renderer->resolve_field(r->path);
      if (!res) return;
      // Every ancestor element is written too.
      const std::string& c = res.path->canonical;
      filled[r->part].insert(c);
      for (std::size_t at = c.find('/'); at != std::string::npos; at = c.find('/', at + 1))
        filled[r->part].insert(c.substr(0, at));
    };
    for (const auto& f : field_names)
      if (auto p = I.field_path(*o, f, mapping)) mark(*p);
    for (const auto& [path, value] : o->cfg.values) mark(path);
    for (const auto& [path, value] : o->cfg.constants) mark(path);
    if (!I.cfg.attachments_path.empty() && o->record_fields) mark(I.cfg.attachments_path);
    auto strip = [](std::string p) {  // "A[1]/B" -> "A/B"
      for (auto at = p.find("[1]"); at != std::string::npos; at = p.find("[1]")) p.erase(at, 3);
      return p;
    };
    for (std::size_t i = 0; i < o->parts.size(); ++i) {
      const auto& part = o->parts[i];
      const std::string where = std::string(o->role) + " (" + o->op.name + "), " +
                                (part.header ? "SOAP header " : "") + part.label;
      if (!part.renderer) {
        if (!text_filled[i])
          diags.error(file, line, column,
                      who + where + " is required and nothing fills it (values: {" +
                          (part.header ? std::string(kHeaderStep) : "") + part.label + ": ...})",
                      "config.soap_unfilled");
        continue;
      }
      if (part.header && filled[i].empty()) {
        diags.error(file, line, column,
                    who + where + ": the operation declares this header and nothing fills it", "config.soap_unfilled");
        continue;
      }
      xml::EnumerateOptions eo;
      eo.include_optional = false;
      eo.include_containers = true;
      std::vector<std::string> missing;
      for (const auto& info : part.renderer->paths().enumerate(eo)) {
        if (!info.required_from_root || info.in_choice) continue;
        const std::string p = strip(info.path);
        bool ok = false;
        for (const auto& f : filled[i])
          if (strip(f) == p || strip(f).rfind(p + "/", 0) == 0) ok = true;
        // An element with content is filled when anything below it is.
        if (!ok) missing.push_back(p);
      }
      // Report the outermost missing ones.
      std::vector<std::string> outer;
      for (const auto& m : missing)
        if (std::none_of(missing.begin(), missing.end(),
                         [&](const std::string& o2) { return m != o2 && m.rfind(o2 + "/", 0) == 0; }))
          outer.push_back(m);
      if (!outer.empty()) {
        std::string list;
        for (const auto& m : outer) list += (list.empty() ? "" : ", ") + m;
        diags.error(file, line, column, who + where + ": required and never filled: " + list,
                    "config.soap_unfilled");
      }
    }
    // A sample request: every field and value filled with a made-up value of its
    // type, rendered and validated; structural errors (an element the content
    // model does not expect there, a required child missing under an element the
    // mapping writes, a required attribute) mean no submission can produce a valid
    // request.
    core::DeliveryItem sample;
    sample.record.submission_id = "00000000-0000-4000-8000-000000000000";
    sample.record.version = 1;
    sample.record.mapping = mapping;  // its operations: section places the fields, as when sending
    sample.prior_reference = "SAMPLE";
    for (const auto& f : field_names) {
      const auto p = I.field_path(*o, f, mapping);
      if (!p) continue;
      std::string why;
      auto r = I.route(*o, *p, &why);
      if (!r) continue;
      const auto& part = o->parts[r->part];
      const xml::TypeDef* type = part.decl ? part.decl->type : nullptr;
      if (part.renderer) {
        auto res = part.renderer->resolve_field(r->path);
        if (!res) continue;
        type = res.path->value_type;
        if (res.path->nil) {
          sample.record.fields.push_back({f, "true"});
          continue;
        }
        if (res.path->each()) {
          sample.record.fields.push_back({f, "[\"" + sample_value(type) + "\"]"});
          continue;
        }
      }
      sample.record.fields.push_back({f, sample_value(type)});
    }
    std::vector<xml::XmlError> errors;
    const auto built = I.build(*o, sample, true, &errors);
    std::string list;
    if (built.error && built.error->reason_code != "schema_invalid")  // choice_conflict, duplicate_field, ...
      list = built.error->reason_code + ": " + built.error->detail;
    for (const auto& e : errors)
      if (structural(e.message)) list += (list.empty() ? "" : "; ") + e.message;
    if (!list.empty())
      diags.error(file, line, column,
                  who + std::string(o->role) + " (" + o->op.name +
                      "): a sample request from these fields does not fit the contract: " + list,
                  "config.soap_sample_invalid");
  }
}

}  // namespace reportbridge::soap
