// check_simple_value(): a lexical value against a simple type of a SchemaSet.
#include <libxml/xmlregexp.h>
#include <libxml/xmlschemastypes.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "bridge/xml/schema_set.hpp"
#include "bridge/xml/xml_document.hpp"

namespace reportbridge::xml {

namespace {

const xmlChar* X(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }

std::string normalise_space(std::string_view v, const std::string& mode) {
  std::string out(v);
  if (mode == "replace" || mode == "collapse")
    for (auto& c : out)
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  if (mode == "collapse") {
    std::string collapsed;
    bool space = false;
    for (char c : out) {
      if (c == ' ') {
        space = !collapsed.empty();
        continue;
      }
      if (space) collapsed += ' ';
      space = false;
      collapsed += c;
    }
    out = std::move(collapsed);
  }
  return out;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> split_items(const std::string& v) {
  std::vector<std::string> items;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && v[i] == ' ') ++i;
    const std::size_t j = v.find(' ', i);
    if (i < v.size()) items.push_back(v.substr(i, j == std::string::npos ? std::string::npos : j - i));
    i = j == std::string::npos ? v.size() : j;
  }
  return items;
}

// Compiled XSD regular expressions, shared (libxml2's xmlRegexpExec is
// re-entrant on a compiled automaton).
struct RegexFree {
  void operator()(xmlRegexp* r) const noexcept { xmlRegFreeRegexp(r); }
};
xmlRegexp* regex(const std::string& pattern) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::unique_ptr<xmlRegexp, RegexFree>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::unique_ptr<xmlRegexp, RegexFree>(xmlRegexpCompile(X(pattern)))).first;
  return it->second.get();
}

struct ValFree {
  void operator()(xmlSchemaVal* v) const noexcept { xmlSchemaFreeValue(v); }
};
using Val = std::unique_ptr<xmlSchemaVal, ValFree>;

xmlSchemaTypePtr predefined(const TypeDef* primitive) {
  if (!primitive) return nullptr;
  return xmlSchemaGetPredefinedType(X(primitive->name.local), X(std::string(kXsNamespace)));
}

bool is_numeric(const TypeDef* primitive) {
  for (const TypeDef* t = primitive; t; t = t->base)
    if (t->name.local == "decimal" || t->name.local == "float" || t->name.local == "double") return true;
  return false;
}

bool is_binary(const TypeDef* primitive, bool& hex) {
  for (const TypeDef* t = primitive; t; t = t->base) {
    if (t->name.local == "hexBinary") return hex = true, true;
    if (t->name.local == "base64Binary") return hex = false, true;
  }
  return false;
}

// Digits of a decimal lexical form: total and after the point (leading and
// trailing zeros not counted, as XSD says).
void digits(const std::string& v, unsigned& total, unsigned& fraction) {
  std::string s = v;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.erase(0, 1);
  const auto dot = s.find('.');
  std::string ip = dot == std::string::npos ? s : s.substr(0, dot);
  std::string fp = dot == std::string::npos ? std::string() : s.substr(dot + 1);
  while (!ip.empty() && ip.front() == '0') ip.erase(0, 1);
  while (!fp.empty() && fp.back() == '0') fp.pop_back();
  fraction = static_cast<unsigned>(fp.size());
  total = static_cast<unsigned>(ip.size() + fp.size());
  if (total == 0) total = 1;
}

std::optional<std::string> check_atomic(const TypeDef& type, const std::string& raw);

std::optional<std::string> check_facets_and_lexical(const TypeDef& type, const std::string& value) {
  const Facets& f = type.facets;
  // Lexical space of the built-in ancestor.
  Val parsed;
  xmlSchemaTypePtr builtin = predefined(type.primitive);
  if (builtin && type.primitive->name.local != "anySimpleType") {
    xmlSchemaVal* v = nullptr;
    const int rc = xmlSchemaValPredefTypeNode(builtin, X(value), &v, nullptr);
    parsed.reset(v);
    if (rc != 0) return "is not a valid " + type.primitive->display();
  }
  if (!f.enumeration.empty()) {
    bool found = false;
    for (const auto& e : f.enumeration)
      if (e == value || normalise_space(e, f.white_space) == value) found = true;
    if (!found) {
      std::string list;
      for (std::size_t i = 0; i < f.enumeration.size() && i < 12; ++i) list += (i ? "|" : "") + f.enumeration[i];
      if (f.enumeration.size() > 12) list += "|...";
      return "is not one of the enumerated values (" + list + ")";
    }
  }
  bool hex = false;
  const bool binary = is_binary(type.primitive, hex);
  std::size_t length = utf8_length(value);
  if (binary) {
    if (hex) length = value.size() / 2;
    else {
      std::size_t chars = 0, pad = 0;
      for (char c : value) {
        if (c == '=') ++pad;
        else if (c != ' ') ++chars;
      }
      length = (chars + pad) / 4 * 3 - pad;
    }
  }
  const bool string_like = !is_numeric(type.primitive);
  if (string_like) {
    if (f.length && length != *f.length)
      return "has length " + std::to_string(length) + ", the type requires exactly " + std::to_string(*f.length);
    if (f.min_length && length < *f.min_length)
      return "is shorter than minLength " + std::to_string(*f.min_length) + " (" + std::to_string(length) + ")";
    if (f.max_length && length > *f.max_length)
      return "is longer than maxLength " + std::to_string(*f.max_length) + " (" + std::to_string(length) + ")";
  }
  for (const auto& step : f.patterns) {
    bool any = false;
    for (const auto& p : step) {
      xmlRegexp* r = regex(p);
      if (!r) return std::nullopt;  // libxml2 cannot compile it; the validator will say so
      if (xmlRegexpExec(r, X(value)) == 1) any = true;
    }
    if (!any) {
      std::string ps;
      for (std::size_t i = 0; i < step.size(); ++i) ps += (i ? " | " : "") + step[i];
      return "does not match the pattern " + ps;
    }
  }
  if (parsed && builtin) {
    const auto bound = [&](const std::optional<std::string>& facet, bool upper, bool inclusive) -> std::optional<std::string> {
      if (!facet) return std::nullopt;
      xmlSchemaVal* b = nullptr;
      if (xmlSchemaValPredefTypeNode(builtin, X(*facet), &b, nullptr) != 0 || !b) {
        if (b) xmlSchemaFreeValue(b);
        return std::nullopt;
      }
      Val limit(b);
      const int cmp = xmlSchemaCompareValues(parsed.get(), limit.get());
      if (cmp == 2 || cmp == -2) return std::nullopt;  // incomparable (e.g. timezones)
      const bool ok = upper ? (inclusive ? cmp <= 0 : cmp < 0) : (inclusive ? cmp >= 0 : cmp > 0);
      if (ok) return std::nullopt;
      return std::string("is ") + (upper ? "above " : "below ") + (inclusive ? (upper ? "maxInclusive " : "minInclusive ")
                                                                             : (upper ? "maxExclusive " : "minExclusive ")) +
             *facet;
    };
    if (auto e = bound(f.min_inclusive, false, true)) return e;
    if (auto e = bound(f.min_exclusive, false, false)) return e;
    if (auto e = bound(f.max_inclusive, true, true)) return e;
    if (auto e = bound(f.max_exclusive, true, false)) return e;
  }
  if ((f.total_digits || f.fraction_digits) && is_numeric(type.primitive)) {
    unsigned total = 0, fraction = 0;
    digits(value, total, fraction);
    if (f.total_digits && total > *f.total_digits)
      return "has " + std::to_string(total) + " digits, more than totalDigits " + std::to_string(*f.total_digits);
    if (f.fraction_digits && fraction > *f.fraction_digits)
      return "has " + std::to_string(fraction) + " fraction digits, more than fractionDigits " +
             std::to_string(*f.fraction_digits);
  }
  return std::nullopt;
}

std::optional<std::string> check_atomic(const TypeDef& type, const std::string& raw) {
  std::string ws = type.facets.white_space;
  if (ws.empty()) ws = type.primitive && type.primitive->name.local == "string" ? "preserve" : "collapse";
  return check_facets_and_lexical(type, normalise_space(raw, ws));
}

std::optional<std::string> check(const TypeDef& type, std::string_view value, int depth) {
  if (depth > 32) return std::nullopt;
  if (!type.simple) {
    if (const TypeDef* t = type.text_type()) return check(*t, value, depth + 1);
    return std::nullopt;
  }
  switch (type.variety) {
    case Variety::atomic:
      return check_atomic(type, std::string(value));
    case Variety::list: {
      const std::string v = normalise_space(value, "collapse");
      const auto items = split_items(v);
      const Facets& f = type.facets;
      if (f.length && items.size() != *f.length)
        return "has " + std::to_string(items.size()) + " items, the list type requires " + std::to_string(*f.length);
      if (f.min_length && items.size() < *f.min_length)
        return "has " + std::to_string(items.size()) + " items, fewer than minLength " + std::to_string(*f.min_length);
      if (f.max_length && items.size() > *f.max_length)
        return "has " + std::to_string(items.size()) + " items, more than maxLength " + std::to_string(*f.max_length);
      if (!f.enumeration.empty()) {
        bool found = false;
        for (const auto& e : f.enumeration) found = found || normalise_space(e, "collapse") == v;
        if (!found) return "is not one of the enumerated values";
      }
      if (type.item_type)
        for (std::size_t i = 0; i < items.size(); ++i)
          if (auto e = check(*type.item_type, items[i], depth + 1))
            return "item " + std::to_string(i + 1) + " " + *e;
      return std::nullopt;
    }
    case Variety::union_: {
      if (!type.facets.enumeration.empty()) {
        bool found = false;
        for (const auto& e : type.facets.enumeration) found = found || e == value;
        if (!found) return "is not one of the enumerated values";
      }
      std::optional<std::string> first;
      for (const TypeDef* m : type.member_types) {
        auto e = check(*m, value, depth + 1);
        if (!e) return std::nullopt;
        if (!first) first = e;
      }
      return "matches none of the union's member types (first: " + first.value_or("?") + ")";
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_simple_value(const TypeDef& type, std::string_view value) {
  init();
  return check(type, value, 0);
}

}  // namespace reportbridge::xml
