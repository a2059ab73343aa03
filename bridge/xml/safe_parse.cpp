#include "bridge/xml/safe_parse.hpp"

#include <algorithm>
#include <cctype>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <climits>
#include <set>
#include <stdexcept>

namespace reportbridge::xml {

namespace {

struct ParseState {
  std::vector<XmlError> errors;
  bool doctype = false;
};

void collect_error(void* user, xmlError* error) {
  auto* ctxt = static_cast<xmlParserCtxt*>(user);
  auto* state = static_cast<ParseState*>(ctxt->_private);
  if (!state || !error || state->errors.size() >= 20) return;
  std::string message = error->message ? error->message : "unknown error";
  while (!message.empty() && message.back() == '\n') message.pop_back();
  state->errors.push_back({std::move(message), error->line, error->int2});
}

// SAX internalSubset: called at "<!DOCTYPE name ...", before any markup
// declaration of the internal subset is read. Stop there.
void on_doctype(void* user, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxt*>(user);
  static_cast<ParseState*>(ctxt->_private)->doctype = true;
  xmlStopParser(ctxt);
}

constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                              XML_PARSE_NOCDATA | XML_PARSE_NOBLANKS;

}  // namespace

ParseResult parse_untrusted(std::string_view text, const ParseLimits& limits) {
  init();
  ParseResult result;
  if (text.empty()) {
    result.reason = "empty";
    result.errors.push_back({"empty document", 0, 0});
    return result;
  }
  if (text.size() > limits.max_bytes || text.size() > static_cast<std::size_t>(INT_MAX)) {
    result.reason = "too_large";
    result.errors.push_back({"document has " + std::to_string(text.size()) + " bytes, above the limit of " +
                                 std::to_string(limits.max_bytes),
                             0, 0});
    return result;
  }
  ParseState state;
  xmlParserCtxt* ctxt = xmlNewParserCtxt();
  if (!ctxt) throw std::bad_alloc();
  ctxt->_private = &state;
  ctxt->sax->serror = collect_error;
  ctxt->sax->internalSubset = on_doctype;
  ctxt->sax->externalSubset = on_doctype;
  DocPtr doc(xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()), nullptr, nullptr,
                               kParseOptions));
  const bool well_formed = ctxt->wellFormed != 0;
  xmlFreeParserCtxt(ctxt);

  if (state.doctype || (doc && (doc->intSubset || doc->extSubset))) {
    result.reason = "doctype";
    result.errors.insert(result.errors.begin(), XmlError{"DOCTYPE declarations are not accepted", 0, 0});
    return result;
  }
  if (!doc || !well_formed || !xmlDocGetRootElement(doc.get())) {
    result.reason = "malformed";
    result.errors = std::move(state.errors);
    if (result.errors.empty()) result.errors.push_back({"not well-formed XML", 0, 0});
    return result;
  }
  result.doc = std::move(doc);
  return result;
}

namespace {

void ignore_xpath_error(void*, xmlError*) {}

struct ContextFree {
  void operator()(xmlXPathContext* c) const noexcept { xmlXPathFreeContext(c); }
};
struct ObjectFree {
  void operator()(xmlXPathObject* o) const noexcept { xmlXPathFreeObject(o); }
};
struct CompFree {
  void operator()(xmlXPathCompExpr* c) const noexcept { xmlXPathFreeCompExpr(c); }
};

std::string take(xmlChar* s) {
  if (!s) return {};
  std::string out(reinterpret_cast<const char*>(s));
  xmlFree(s);
  return out;
}

}  // namespace

struct XPathQuery::Impl {
  std::unique_ptr<xmlXPathCompExpr, CompFree> compiled;
};

std::vector<std::string> xpath_prefixes(std::string_view expression) {
  std::vector<std::string> out;
  auto name_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto name_char = [&](char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  };
  std::size_t i = 0;
  const std::size_t n = expression.size();
  while (i < n) {
    const char c = expression[i];
    if (c == '\'' || c == '"') {  // string literal
      const auto close = expression.find(c, i + 1);
      i = close == std::string_view::npos ? n : close + 1;
      continue;
    }
    if (!name_start(c)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && name_char(expression[j])) ++j;
    if (j + 1 < n && expression[j] == ':' && expression[j + 1] != ':') {
      std::string prefix(expression.substr(i, j - i));
      if (std::find(out.begin(), out.end(), prefix) == out.end()) out.push_back(std::move(prefix));
      j += 1;  // the local part is scanned as a name next
    } else if (j + 1 < n && expression[j] == ':' && expression[j + 1] == ':') {
      j += 2;  // an axis
    }
    i = j;
  }
  return out;
}

XPathQuery::XPathQuery(std::string expression, Namespaces namespaces)
    : expression_(std::move(expression)), namespaces_(std::move(namespaces)), impl_(std::make_unique<Impl>()) {
  init();
  std::set<std::string> prefixes;
  for (const auto& [prefix, uri] : namespaces_) {
    if (prefix.empty()) throw std::invalid_argument("XPath namespace prefix is empty");
    if (!prefixes.insert(prefix).second)
      throw std::invalid_argument("XPath namespace prefix '" + prefix + "' given twice");
  }
  // An undeclared prefix would only show at evaluation, as "no value": refuse it now.
  for (const auto& prefix : xpath_prefixes(expression_))
    if (!prefixes.count(prefix)) {
      std::string declared;
      for (const auto& p : prefixes) declared += (declared.empty() ? "" : ", ") + p;
      throw std::invalid_argument("XPath '" + expression_ + "': prefix '" + prefix +
                                  "' is not declared (declared: " + (declared.empty() ? "none" : declared) + ")");
    }
  std::string message;
  std::unique_ptr<xmlXPathContext, ContextFree> ctxt(xmlXPathNewContext(nullptr));
  if (!ctxt) throw std::bad_alloc();
  ctxt->userData = &message;
  ctxt->error = [](void* user, xmlError* error) {
    if (error && error->message && static_cast<std::string*>(user)->empty()) {
      std::string m = error->message;
      while (!m.empty() && m.back() == '\n') m.pop_back();
      *static_cast<std::string*>(user) = m;
    }
  };
  impl_->compiled.reset(xmlXPathCtxtCompile(ctxt.get(), reinterpret_cast<const xmlChar*>(expression_.c_str())));
  if (!impl_->compiled)
    throw std::invalid_argument("invalid XPath '" + expression_ + "'" + (message.empty() ? "" : ": " + message));
}

XPathQuery::~XPathQuery() = default;
XPathQuery::XPathQuery(XPathQuery&&) noexcept = default;
XPathQuery& XPathQuery::operator=(XPathQuery&&) noexcept = default;

std::optional<std::string> XPathQuery::first_string(const xmlDoc& doc) const {
  const xmlNode* root = xmlDocGetRootElement(&doc);
  if (!root) return std::nullopt;
  // The document node itself is the context for absolute and relative paths alike.
  return first_string(*reinterpret_cast<const xmlNode*>(&doc));
}

std::optional<std::string> XPathQuery::first_string(const xmlNode& context) const {
  std::unique_ptr<xmlXPathContext, ContextFree> ctxt(xmlXPathNewContext(context.doc));
  if (!ctxt) throw std::bad_alloc();
  ctxt->error = ignore_xpath_error;  // evaluation errors (unknown prefix...) -> nullopt, not stderr
  ctxt->node = const_cast<xmlNode*>(&context);
  for (const auto& [prefix, uri] : namespaces_)
    if (xmlXPathRegisterNs(ctxt.get(), reinterpret_cast<const xmlChar*>(prefix.c_str()),
                           reinterpret_cast<const xmlChar*>(uri.c_str())) != 0)
      return std::nullopt;
  std::unique_ptr<xmlXPathObject, ObjectFree> obj(xmlXPathCompiledEval(impl_->compiled.get(), ctxt.get()));
  if (!obj) return std::nullopt;
  switch (obj->type) {
    case XPATH_NODESET: {
      xmlNodeSet* set = obj->nodesetval;
      if (!set || set->nodeNr == 0) return std::nullopt;
      xmlXPathNodeSetSort(set);
      return take(xmlXPathCastNodeToString(set->nodeTab[0]));
    }
    case XPATH_STRING:
    case XPATH_NUMBER:
    case XPATH_BOOLEAN:
      return take(xmlXPathCastToString(obj.get()));
    default:
      return std::nullopt;
  }
}

std::optional<std::string> xpath_first_string(const xmlDoc& doc, const std::string& expression,
                                              const Namespaces& namespaces) {
  return XPathQuery(expression, namespaces).first_string(doc);
}

}  // namespace reportbridge::xml
