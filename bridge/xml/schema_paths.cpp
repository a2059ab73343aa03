#include "bridge/xml/schema_paths.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace reportbridge::xml {

const char* to_string(PathErrorKind kind) {
  switch (kind) {
    case PathErrorKind::syntax: return "syntax";
    case PathErrorKind::unknown_prefix: return "unknown_prefix";
    case PathErrorKind::not_in_schema: return "not_in_schema";
    case PathErrorKind::other_namespace: return "other_namespace";
    case PathErrorKind::ambiguous: return "ambiguous";
    case PathErrorKind::repeated: return "repeated";
    case PathErrorKind::not_repeated: return "not_repeated";
    case PathErrorKind::abstract: return "abstract";
    case PathErrorKind::bad_type: return "bad_type";
    case PathErrorKind::no_value: return "no_value";
    case PathErrorKind::not_nillable: return "not_nillable";
    case PathErrorKind::choice_conflict: return "choice_conflict";
  }
  return "?";
}

bool ResolvedPath::each() const {
  return std::any_of(steps.begin(), steps.end(), [](const ResolvedStep& s) { return s.each; });
}

bool ResolvedPath::required() const {
  if (attribute) return attribute_use && attribute_use->required;
  if (steps.empty()) return true;
  const auto& last = steps.back();
  return last.slot && last.slot->required;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0u : 1u)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

struct RawStep {
  bool attribute = false;
  bool has_prefix = false;
  std::string prefix;
  std::string local;
  int index = 0;
  bool each = false;
  std::optional<std::string> xsi_type;  // "p:Type"
  std::string text;                     // as written
};

bool name_char(char c) {
  return !(c == '/' || c == '[' || c == ']' || c == ':' || c == '@' || c == '=' ||
           std::isspace(static_cast<unsigned char>(c)));
}

std::optional<std::vector<RawStep>> parse(std::string_view path, PathError& err) {
  std::vector<RawStep> steps;
  const auto bad = [&](const std::string& why) {
    err.kind = PathErrorKind::syntax;
    err.step = steps.size();
    err.message = "'" + std::string(path) + "' is not a path: " + why;
    return std::nullopt;
  };
  if (path.empty()) return bad("it is empty");
  std::size_t i = 0;
  while (true) {
    RawStep s;
    const std::size_t start = i;
    if (i < path.size() && path[i] == '@') s.attribute = true, ++i;
    std::size_t b = i;
    while (i < path.size() && name_char(path[i])) ++i;
    std::string first(path.substr(b, i - b));
    if (i < path.size() && path[i] == ':') {
      ++i;
      b = i;
      while (i < path.size() && name_char(path[i])) ++i;
      s.has_prefix = true;
      s.prefix = first;
      s.local = std::string(path.substr(b, i - b));
      if (s.prefix.empty()) return bad("empty prefix in step " + std::to_string(steps.size() + 1));
    } else {
      s.local = first;
    }
    if (s.local.empty()) return bad("step " + std::to_string(steps.size() + 1) + " has no name");
    if (s.local == "." || s.local == "..") return bad("'" + s.local + "' is not a step: paths go down from the root element");
    while (i < path.size() && path[i] == '[') {
      const auto close = path.find(']', i);
      if (close == std::string_view::npos) return bad("'[' without ']'");
      std::string pred(path.substr(i + 1, close - i - 1));
      i = close + 1;
      if (s.attribute) return bad("an attribute takes no [...]");
      if (pred == "*") {
        if (s.each) return bad("[*] twice in one step");
        s.each = true;
      } else if (pred.rfind("xsi:type=", 0) == 0) {
        s.xsi_type = pred.substr(9);
        if (s.xsi_type->empty()) return bad("[xsi:type=] names no type");
      } else if (!pred.empty() && std::all_of(pred.begin(), pred.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        if (pred.size() > 6) return bad("index [" + pred + "] is too large");
        s.index = std::stoi(pred);
        if (s.index < 1) return bad("indexes count from 1");
      } else {
        return bad("unknown predicate [" + pred + "] (use [n], [*] or [xsi:type=prefix:Type])");
      }
    }
    if (s.each && s.index) return bad("[n] and [*] in one step");
    s.text = std::string(path.substr(start, i - start));
    steps.push_back(std::move(s));
    if (i == path.size()) break;
    if (path[i] != '/') return bad(std::string("unexpected '") + path[i] + "'");
    ++i;
    if (steps.back().attribute) return bad("an attribute must be the last step");
    if (i == path.size()) return bad("it ends with '/'");
  }
  int each = 0;
  for (const auto& s : steps) each += s.each;
  if (each > 1) return bad("only one [*] per path");
  return steps;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string last_local(const std::string& path) {
  auto slash = path.rfind('/');
  std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
  if (!last.empty() && last[0] == '@') last.erase(0, 1);
  if (auto b = last.find('['); b != std::string::npos) last.erase(b);
  if (auto c = last.find(':'); c != std::string::npos) last.erase(0, c + 1);
  return last;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ", std::size_t max = 12) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) out += (i ? sep : "") + v[i];
  if (v.size() > max) out += std::string(sep) + "... (" + std::to_string(v.size()) + " in all)";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

struct PathResolver::Index {
  std::vector<std::string> paths;
  std::vector<std::string> lowered;
  std::vector<std::string> leaves;  // lowercase last local name
};

PathResolver::PathResolver(std::shared_ptr<const SchemaSet> set, const ElementDecl& root, Namespaces namespaces)
    : set_(std::move(set)), root_(&root), namespaces_(std::move(namespaces)) {
  // Prefixes for namespaces the map does not name: the schema's own, else generated.
  std::set<std::string> used;
  for (const auto& [p, u] : namespaces_) used.insert(p);
  used.insert("xsi");
  used.insert("xml");
  std::set<std::string> all;
  for (const auto& ns : set_->namespaces()) all.insert(ns);
  int n = 1;
  for (const auto& ns : all) {
    if (ns.empty() || ns == root_->name.ns) continue;
    bool mapped = false;
    for (const auto& [p, u] : namespaces_) mapped = mapped || u == ns;
    if (mapped) continue;
    std::string prefix;
    if (auto it = set_->schema_prefixes().find(ns); it != set_->schema_prefixes().end() && !used.count(it->second))
      prefix = it->second;
    while (prefix.empty() || used.count(prefix)) prefix = "ns" + std::to_string(n++);
    used.insert(prefix);
    generated_.emplace_back(ns, prefix);
  }
}

PathResolver::~PathResolver() = default;

std::string PathResolver::prefix_for(const std::string& ns) const {
  if (ns.empty()) return "";
  if (ns == kXsiNamespace) return "xsi:";
  if (ns == kXmlNamespace) return "xml:";
  for (const auto& [p, u] : namespaces_)
    if (u == ns) return p.empty() ? "" : p + ":";
  if (ns == root_->name.ns) return "";
  for (const auto& [u, p] : generated_)
    if (u == ns) return p + ":";
  return "{" + ns + "}";
}

std::string PathResolver::step_name(const QName& name) const { return prefix_for(name.ns) + name.local; }

namespace {

struct Resolver {
  const PathResolver& r;
  const SchemaSet& set;
  const Namespaces& ns_map;

  std::optional<std::string> uri_of(const std::string& prefix) const {
    if (prefix == "xsi") return std::string(kXsiNamespace);
    if (prefix == "xml") return std::string(kXmlNamespace);
    for (const auto& [p, u] : ns_map)
      if (p == prefix) return u;
    return std::nullopt;
  }

  std::string type_name(const TypeDef* t) const {
    if (t->is_anonymous()) return t->display();
    if (t->name.ns == kXsNamespace) return "xs:" + t->name.local;
    return r.step_name(t->name);
  }

  PathError unknown_prefix(const RawStep& s, std::size_t i) const {
    PathError e;
    e.kind = PathErrorKind::unknown_prefix;
    e.step = i;
    std::string hint;
    for (const auto& [uri, p] : set.schema_prefixes())
      if (p == s.prefix) hint = " (the schema uses '" + p + "' for " + uri + ": add `" + p + ": " + uri + "` to the target's namespaces)";
    std::vector<std::string> declared;
    for (const auto& [p, u] : ns_map) declared.push_back(p);
    e.candidates = declared;
    e.message = "prefix '" + s.prefix + "' in '" + s.text + "' is not declared in the target's namespaces" +
                (declared.empty() ? std::string(" (none are declared)") : " (declared: " + join(declared) + ")") + hint;
    return e;
  }

  struct Match {
    const ContentSlot* slot = nullptr;
    const ElementDecl* element = nullptr;
    bool wildcard = false;
  };

  static void members_of(const ElementDecl* head, std::vector<const ElementDecl*>& out) {
    std::vector<const ElementDecl*> todo{head};
    std::set<const ElementDecl*> seen;
    while (!todo.empty()) {
      const ElementDecl* e = todo.front();
      todo.erase(todo.begin());
      if (!seen.insert(e).second) continue;
      out.push_back(e);
      for (const ElementDecl* m : e->members) todo.push_back(m);
    }
  }

  // One element step below an element of type `type`.
  bool element_step(const TypeDef* type, const ElementDecl* parent, const RawStep& s, std::size_t i,
                    ResolvedStep& out, PathError& err) const {
    std::optional<std::string> uri;
    if (s.has_prefix) {
      uri = uri_of(s.prefix);
      if (!uri) return err = unknown_prefix(s, i), false;
    }
    std::vector<Match> matches;
    std::vector<const ElementDecl*> same_local;  // other namespaces
    for (const auto& slot : type->slots) {
      if (!slot.element) continue;
      std::vector<const ElementDecl*> candidates;
      members_of(slot.element, candidates);
      for (const ElementDecl* e : candidates) {
        if (e->name.local != s.local) continue;
        if (uri && e->name.ns != *uri) {
          same_local.push_back(e);
          continue;
        }
        if (std::none_of(matches.begin(), matches.end(), [&](const Match& m) { return m.element == e; }))
          matches.push_back({&slot, e, false});
      }
    }
    if (matches.empty()) {
      for (const auto& slot : type->slots) {
        if (!slot.wildcard) continue;
        const ElementDecl* g = nullptr;
        if (uri) g = set.element({*uri, s.local});
        else if (auto all = set.global_elements(s.local); all.size() == 1) g = all.front();
        if (g && slot.wildcard->allows(g->name.ns)) {
          matches.push_back({&slot, g, true});
          break;
        }
      }
    }
    const std::string where = parent ? "in " + r.step_name(parent->name) : "there";
    if (matches.empty()) {
      if (!same_local.empty()) {
        err.kind = PathErrorKind::other_namespace;
        err.step = i;
        std::vector<std::string> names;
        for (const auto* e : same_local) names.push_back(r.step_name(e->name) + " (" + e->name.ns + ")");
        err.candidates = names;
        err.message = "'" + s.text + "' is in namespace " + *uri + " (prefix '" + s.prefix +
                      "'), but the element " + where + " is " + join(names);
        return false;
      }
      err.kind = PathErrorKind::not_in_schema;
      err.step = i;
      std::vector<std::string> names;
      for (const auto& slot : type->slots)
        if (slot.element) names.push_back(r.step_name(slot.element->name));
      err.candidates = names;
      if (!type->holds_text() || !type->slots.empty())
        err.message = "'" + s.text + "' is not an element " + where +
                      (names.empty() ? std::string(" (it has no child elements)") : " (it has: " + join(names) + ")");
      else
        err.message = "'" + s.text + "' is not an element " + where + ": " +
                      (parent ? r.step_name(parent->name) : std::string("it")) + " holds a value, not elements";
      for (const auto& slot : type->slots)
        if (slot.wildcard) err.message += "; it also accepts any global element allowed by xs:any " + slot.wildcard->describe();
      return false;
    }
    if (!uri) {
      std::set<QName> names;
      for (const auto& m : matches) names.insert(m.element->name);
      if (names.size() > 1) {
        err.kind = PathErrorKind::ambiguous;
        err.step = i;
        for (const auto& q : names) err.candidates.push_back(r.step_name(q) + " (" + q.ns + ")");
        err.message = "'" + s.text + "' " + where + " matches elements in several namespaces: " + join(err.candidates) +
                      "; write it with a prefix";
        return false;
      }
    }
    const Match& m = matches.front();
    if (m.element->abstract) {
      err.kind = PathErrorKind::abstract;
      err.step = i;
      for (const ElementDecl* sub : m.element->substitutes()) err.candidates.push_back(r.step_name(sub->name));
      err.message = "'" + s.text + "' is abstract: write one of its substitution-group members instead" +
                    (err.candidates.empty() ? std::string(" (the schema set declares none)") : ": " + join(err.candidates));
      return false;
    }
    out = ResolvedStep{};
    out.element = m.element;
    out.declared = m.wildcard ? m.element : m.slot->element;
    out.slot = m.slot;
    out.via_wildcard = m.wildcard;
    out.min_occurs = m.slot->min_occurs;
    out.max_occurs = m.slot->max_occurs;
    out.index = s.index;
    out.each = s.each;
    const bool repeated = m.slot->repeated();
    if (repeated && !s.index && !s.each) {
      err.kind = PathErrorKind::repeated;
      err.step = i;
      err.message = "'" + s.text + "' is repeated (maxOccurs " +
                    (m.slot->max_occurs == kUnbounded ? std::string("unbounded") : std::to_string(m.slot->max_occurs)) +
                    "): give an index, " + s.text + "[1], or map a JSON array with " + s.text + "[*]";
      return false;
    }
    if (!repeated && (s.each || s.index > 1)) {
      err.kind = PathErrorKind::not_repeated;
      err.step = i;
      err.message = "'" + s.text + "' occurs at most once there; drop the [" + (s.each ? std::string("*") : std::to_string(s.index)) + "]";
      return false;
    }
    if (repeated && s.index && m.slot->max_occurs != kUnbounded && s.index > m.slot->max_occurs) {
      err.kind = PathErrorKind::not_repeated;
      err.step = i;
      err.message = "'" + s.text + "': index " + std::to_string(s.index) + " is above maxOccurs " +
                    std::to_string(m.slot->max_occurs);
      return false;
    }
    const TypeDef* t = m.element->type;
    if (s.xsi_type) {
      const std::string& raw = *s.xsi_type;
      const auto colon = raw.find(':');
      QName q;
      if (colon == std::string::npos) {
        q = {m.element->name.ns, raw};
      } else {
        const auto u = uri_of(raw.substr(0, colon));
        if (!u) {
          RawStep fake = s;
          fake.prefix = raw.substr(0, colon);
          return err = unknown_prefix(fake, i), false;
        }
        q = {*u, raw.substr(colon + 1)};
      }
      const TypeDef* chosen = set.type(q);
      if (!chosen || !chosen->derives_from(t)) {
        err.kind = PathErrorKind::bad_type;
        err.step = i;
        for (const TypeDef* d : t->all_derived(true)) err.candidates.push_back(type_name(d));
        err.message = "'" + raw + "' is " + (chosen ? "not derived from " + type_name(t) : std::string("not a type of the schema set")) +
                      (err.candidates.empty() ? std::string(" (no type derives from it)") : "; types derived from it: " + join(err.candidates));
        return false;
      }
      if (chosen->abstract) {
        err.kind = PathErrorKind::abstract;
        err.step = i;
        for (const TypeDef* d : chosen->all_derived(true)) err.candidates.push_back(type_name(d));
        err.message = "type '" + raw + "' is abstract; choose a concrete one: " + join(err.candidates);
        return false;
      }
      t = chosen;
      out.xsi_type = chosen;
    } else if (t->abstract) {
      err.kind = PathErrorKind::abstract;
      err.step = i;
      for (const TypeDef* d : t->all_derived(true)) err.candidates.push_back(type_name(d));
      err.message = "'" + s.text + "' has the abstract type " + type_name(t) + ": choose one with " + s.text +
                    "[xsi:type=...]" + (err.candidates.empty() ? std::string() : " among " + join(err.candidates));
      return false;
    }
    out.type = t;
    return true;
  }

  bool attribute_step(const TypeDef* type, const ElementDecl* element, const RawStep& s, std::size_t i,
                      ResolvedPath& out, PathError& err) const {
    std::optional<std::string> uri;
    if (s.has_prefix) {
      uri = uri_of(s.prefix);
      if (!uri) return err = unknown_prefix(s, i), false;
    }
    const std::string owner = r.step_name(element->name);
    if (uri && *uri == kXsiNamespace) {
      if (s.local != "nil") {
        err.kind = PathErrorKind::not_in_schema;
        err.step = i;
        err.message = "'" + s.text + "': only @xsi:nil can be mapped (xsi:type is chosen with [xsi:type=...] on the element)";
        return false;
      }
      if (!element->nillable) {
        err.kind = PathErrorKind::not_nillable;
        err.step = i;
        err.message = owner + " is not nillable: it cannot be sent as xsi:nil; leave it out instead";
        return false;
      }
      out.nil = true;
      return true;
    }
    const AttributeUse* found = nullptr;
    std::vector<const AttributeUse*> same_local;
    if (!type->simple)
      for (const auto& a : type->attributes) {
        if (a.decl->name.local != s.local) continue;
        if (uri && a.decl->name.ns != *uri) {
          same_local.push_back(&a);
          continue;
        }
        if (found) {
          err.kind = PathErrorKind::ambiguous;
          err.step = i;
          err.message = "'" + s.text + "' matches attributes in several namespaces on " + owner + "; write it with a prefix";
          return false;
        }
        found = &a;
      }
    if (found) {
      out.attribute = found->decl;
      out.attribute_use = found;
      out.value_type = found->decl->type;
      return true;
    }
    if (!type->simple && type->any_attribute && uri) {
      if (const AttributeDecl* g = set.attribute({*uri, s.local}); g && type->any_attribute->allows(*uri)) {
        out.attribute = g;
        out.value_type = g->type;
        return true;
      }
    }
    std::vector<std::string> names;
    if (!type->simple)
      for (const auto& a : type->attributes) names.push_back("@" + r.step_name(a.decl->name));
    err.step = i;
    err.candidates = names;
    if (!same_local.empty()) {
      err.kind = PathErrorKind::other_namespace;
      err.message = "attribute '" + s.text + "' of " + owner + " is @" + r.step_name(same_local.front()->decl->name) +
                    " (namespace '" + same_local.front()->decl->name.ns + "')";
      return false;
    }
    err.kind = PathErrorKind::not_in_schema;
    err.message = "'" + s.text + "' is not an attribute of " + owner +
                  (names.empty() ? std::string(" (it has none)") : " (it has: " + join(names) + ")");
    return false;
  }

  bool walk(const TypeDef* type, const ElementDecl* element, const std::vector<RawStep>& steps, ResolvedPath& out,
            PathError& err, bool want_value = true) const {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const RawStep& s = steps[i];
      if (s.attribute) return attribute_step(type, element, s, i, out, err);
      if (type->simple || type->slots.empty()) {
        if (type == builtin_type("anyType")) {
          err.kind = PathErrorKind::not_in_schema;
          err.step = i;
          err.message = "'" + s.text + "': " + r.step_name(element->name) +
                        " is of type xs:anyType; its content is not described by the schema";
          return false;
        }
      }
      ResolvedStep step;
      if (!element_step(type, element, s, i, step, err)) return false;
      out.steps.push_back(step);
      type = step.type;
      element = step.element;
    }
    // An element given a value.
    if (want_value && !type->holds_text() && type->content != ContentKind::empty) {
      err.kind = PathErrorKind::no_value;
      err.step = steps.size() - 1;
      std::vector<std::string> names;
      for (const auto& slot : type->slots)
        if (slot.element) names.push_back(r.step_name(slot.element->name));
      err.candidates = names;
      err.message = "'" + steps.back().text + "' has element content, not a value of its own: map its children (" +
                    join(names) + ")";
      return false;
    }
    out.value_type = type->text_type();
    return true;
  }

  std::string canonical(const ResolvedPath& p) const {
    std::string out;
    for (const auto& s : p.steps) {
      if (!out.empty()) out += '/';
      out += r.step_name(s.element->name);
      if (s.index) out += "[" + std::to_string(s.index) + "]";
      if (s.each) out += "[*]";
      if (s.xsi_type) out += "[xsi:type=" + type_name(s.xsi_type) + "]";
    }
    if (p.nil) out += (out.empty() ? "" : "/") + std::string("@xsi:nil");
    else if (p.attribute) out += (out.empty() ? "" : "/") + std::string("@") + r.step_name(p.attribute->name);
    return out;
  }

  // Elements holding a value named `local` below `type` (not through repeated
  // elements or wildcards): the chains of steps leading to them.
  void find_leaves(const TypeDef* type, const std::string& local, std::vector<ResolvedStep>& chain,
                   std::set<const TypeDef*>& on_path, std::vector<std::vector<ResolvedStep>>& found, int depth) const {
    if (depth > 12 || found.size() > 8 || type->simple) return;
    for (const auto& slot : type->slots) {
      if (!slot.element || slot.repeated()) continue;
      for (const ElementDecl* e : slot.element->substitutes()) {
        if (e->type->abstract) continue;
        ResolvedStep st;
        st.element = e;
        st.declared = slot.element;
        st.slot = &slot;
        st.type = e->type;
        st.min_occurs = slot.min_occurs;
        st.max_occurs = slot.max_occurs;
        chain.push_back(st);
        if (e->name.local == local && (e->type->holds_text() || e->type->content == ContentKind::empty))
          found.push_back(chain);
        if (!e->type->simple && !on_path.count(e->type)) {
          on_path.insert(e->type);
          find_leaves(e->type, local, chain, on_path, found, depth + 1);
          on_path.erase(e->type);
        }
        chain.pop_back();
      }
    }
  }
};

}  // namespace

PathResolution PathResolver::resolve(std::string_view path) const {
  PathResolution res;
  PathError err;
  auto steps = parse(path, err);
  if (!steps) {
    res.error = err;
    return res;
  }
  Resolver rv{*this, *set_, namespaces_};
  ResolvedPath out;
  out.text = std::string(path);
  if (rv.walk(root_->type, root_, *steps, out, err)) {
    out.canonical = rv.canonical(out);
    res.path = std::move(out);
    return res;
  }
  // One unprefixed name alone: the one element of that name below the root.
  const auto& s = steps->front();
  if (steps->size() == 1 && !s.attribute && !s.has_prefix && !s.index && !s.each && !s.xsi_type &&
      err.kind == PathErrorKind::not_in_schema && err.step == 0) {
    std::vector<std::vector<ResolvedStep>> found;
    std::vector<ResolvedStep> chain;
    std::set<const TypeDef*> on_path{root_->type};
    rv.find_leaves(root_->type, s.local, chain, on_path, found, 0);
    std::set<std::vector<const ElementDecl*>> distinct;
    std::vector<std::vector<ResolvedStep>> unique;
    for (auto& f : found) {
      std::vector<const ElementDecl*> key;
      for (auto& st : f) key.push_back(st.element);
      if (distinct.insert(key).second) unique.push_back(f);
    }
    if (unique.size() == 1) {
      ResolvedPath p;
      p.text = std::string(path);
      p.steps = unique.front();
      p.value_type = p.steps.back().type->text_type();
      p.canonical = rv.canonical(p);
      res.path = std::move(p);
      return res;
    }
    if (unique.size() > 1) {
      err.kind = PathErrorKind::ambiguous;
      err.candidates.clear();
      for (auto& f : unique) {
        ResolvedPath p;
        p.steps = f;
        err.candidates.push_back(rv.canonical(p));
      }
      err.message = "'" + s.text + "' is not a child of " + step_name(root_->name) +
                    " and names several elements below it: " + join(err.candidates) + "; write the whole path";
    }
  }
  if (err.kind == PathErrorKind::not_in_schema || err.kind == PathErrorKind::other_namespace ||
      err.kind == PathErrorKind::unknown_prefix)
    err.suggestions = suggest(path);
  res.error = std::move(err);
  return res;
}

PathResolution PathResolver::resolve_element(std::string_view path) const {
  PathResolution res;
  PathError err;
  auto steps = parse(path, err);
  if (steps && steps->back().attribute) {
    err.kind = PathErrorKind::syntax;
    err.step = steps->size() - 1;
    err.message = "'" + std::string(path) + "' names an attribute, not an element";
    steps.reset();
  }
  if (!steps) {
    res.error = err;
    return res;
  }
  Resolver rv{*this, *set_, namespaces_};
  ResolvedPath out;
  out.text = std::string(path);
  if (rv.walk(root_->type, root_, *steps, out, err, false)) {
    out.canonical = rv.canonical(out);
    res.path = std::move(out);
    return res;
  }
  if (err.kind == PathErrorKind::not_in_schema || err.kind == PathErrorKind::other_namespace) err.suggestions = suggest(path);
  res.error = std::move(err);
  return res;
}

PathResolution PathResolver::resolve_below(const TypeDef& context, std::string_view path) const {
  PathResolution res;
  PathError err;
  auto steps = parse(path, err);
  if (!steps) {
    res.error = err;
    return res;
  }
  Resolver rv{*this, *set_, namespaces_};
  ResolvedPath out;
  out.text = std::string(path);
  // The element owning `context` only matters for messages and @xsi:nil.
  static const ElementDecl anonymous = [] {
    ElementDecl e;
    e.name = {"", "(element)"};
    return e;
  }();
  if (rv.walk(&context, &anonymous, *steps, out, err)) {
    out.canonical = rv.canonical(out);
    res.path = std::move(out);
    return res;
  }
  res.error = std::move(err);
  return res;
}

// ---------------------------------------------------------------------------
// Enumeration

namespace {

struct Enumerator {
  const PathResolver& r;
  const EnumerateOptions& o;
  std::vector<PathInfo>& out;
  std::vector<std::pair<const ElementDecl*, const TypeDef*>> stack;

  std::string type_name(const TypeDef* t) const {
    if (!t) return "";
    if (t->is_anonymous()) {
      // Name the nearest named ancestor: "(restriction of xs:string)".
      for (const TypeDef* b = t->base; b; b = b->base)
        if (!b->is_anonymous()) return "restriction of " + type_name(b);
      return "anonymous";
    }
    if (t->name.ns == kXsNamespace) return "xs:" + t->name.local;
    return r.step_name(t->name);
  }

  void attributes(const TypeDef* t, const std::string& prefix, bool required_from_root, int depth) {
    if (!o.include_attributes || t->simple) return;
    for (const auto& a : t->attributes) {
      if (!o.include_optional && !a.required) continue;
      PathInfo p;
      p.kind = PathInfo::Kind::attribute;
      p.path = prefix + "@" + r.step_name(a.decl->name);
      p.required = a.required;
      p.required_from_root = required_from_root && a.required;
      p.min_occurs = a.required ? 1 : 0;
      p.max_occurs = 1;
      p.value_type = a.decl->type;
      p.type = type_name(a.decl->type);
      p.facets = a.decl->type->facets.describe();
      if (a.fixed) p.notes.push_back("fixed value " + *a.fixed);
      p.depth = depth;
      out.push_back(std::move(p));
      if (out.size() >= o.max_paths) return;
    }
  }

  void element(const ElementDecl* e, const ContentSlot& slot, const std::string& parent_path, bool parent_required,
               int depth) {
    if (out.size() >= o.max_paths) return;
    if (slot.repeated() && !o.include_repeated) return;
    if (!slot.required && !o.include_optional) return;
    std::vector<const TypeDef*> types;
    if (e->type->abstract) {
      for (const TypeDef* d : e->type->all_derived(true)) types.push_back(d);
      if (types.size() > 6) types.resize(6);
    } else {
      types.push_back(e->type);
    }
    for (const TypeDef* t : types) {
      std::string step = r.step_name(e->name) + (slot.repeated() ? "[1]" : "");
      if (t != e->type) step += "[xsi:type=" + type_name(t) + "]";
      const std::string path = parent_path + step;
      const bool req_root = parent_required && slot.required;
      const bool recursive = std::any_of(stack.begin(), stack.end(), [&](const auto& p) { return p.second == t && !t->simple; });
      if (t->holds_text() || t->content == ContentKind::empty) {
        PathInfo p;
        p.kind = PathInfo::Kind::element;
        p.path = path;
        p.required = slot.required;
        p.required_from_root = req_root;
        p.min_occurs = slot.min_occurs;
        p.max_occurs = slot.max_occurs;
        p.value_type = t->text_type();
        p.type = p.value_type ? type_name(p.value_type) : (t->content == ContentKind::empty ? "empty" : "text");
        if (p.value_type) p.facets = p.value_type->facets.describe();
        p.nillable = e->nillable;
        p.in_choice = !slot.choices.empty();
        if (e != slot.element) p.notes.push_back("member of substitution group " + r.step_name(slot.element->name));
        if (t != e->type) p.notes.push_back("xsi:type " + type_name(t) + " (the declared type " + type_name(e->type) + " is abstract)");
        if (e->fixed) p.notes.push_back("fixed value " + *e->fixed);
        p.depth = depth;
        out.push_back(std::move(p));
        if (out.size() >= o.max_paths) return;
      } else if (o.include_containers) {
        PathInfo p;
        p.kind = PathInfo::Kind::element;
        p.container = true;
        p.path = path;
        p.required = slot.required;
        p.required_from_root = req_root;
        p.min_occurs = slot.min_occurs;
        p.max_occurs = slot.max_occurs;
        p.type = type_name(t);
        p.nillable = e->nillable;
        p.in_choice = !slot.choices.empty();
        if (e != slot.element) p.notes.push_back("member of substitution group " + r.step_name(slot.element->name));
        if (t != e->type) p.notes.push_back("xsi:type " + type_name(t) + " (the declared type " + type_name(e->type) + " is abstract)");
        p.depth = depth;
        out.push_back(std::move(p));
        if (out.size() >= o.max_paths) return;
      }
      if (t->simple) continue;
      attributes(t, path + "/", req_root, depth + 1);
      if (recursive) {
        if (!out.empty() && out.back().path.rfind(path, 0) == 0) out.back().notes.push_back("recursive type, not expanded further");
        continue;
      }
      if (depth + 1 >= o.max_depth) continue;
      stack.emplace_back(e, t);
      children(t, path + "/", req_root, depth + 1);
      stack.pop_back();
    }
  }

  void children(const TypeDef* t, const std::string& prefix, bool required_from_root, int depth) {
    for (const auto& slot : t->slots) {
      if (out.size() >= o.max_paths) return;
      if (slot.wildcard) {
        PathInfo p;
        p.kind = PathInfo::Kind::wildcard;
        p.path = prefix + "*";
        p.required = slot.required;
        p.required_from_root = required_from_root && slot.required;
        p.min_occurs = slot.min_occurs;
        p.max_occurs = slot.max_occurs;
        p.type = "xs:any";
        p.notes.push_back("any global element of namespace " + slot.wildcard->describe() +
                          " (write its path with its own name and prefix)");
        p.depth = depth;
        out.push_back(std::move(p));
        continue;
      }
      std::vector<const ElementDecl*> elements = slot.element->substitutes();
      if (slot.element->abstract && elements.empty()) continue;
      for (const ElementDecl* e : elements) element(e, slot, prefix, required_from_root, depth);
    }
  }
};

}  // namespace

std::vector<PathInfo> PathResolver::enumerate(const EnumerateOptions& options) const {
  std::vector<PathInfo> out;
  Enumerator en{*this, options, out, {}};
  en.attributes(root_->type, "", true, 0);
  if (!root_->type->simple) {
    en.stack.emplace_back(root_, root_->type);
    en.children(root_->type, "", true, 0);
  }
  return out;
}

const PathResolver::Index& PathResolver::index() const {
  std::call_once(index_once_, [this] {
    auto idx = std::make_unique<Index>();
    EnumerateOptions o;
    o.max_depth = 8;
    for (auto& p : enumerate(o)) {
      if (p.kind == PathInfo::Kind::wildcard) continue;
      idx->lowered.push_back(lower(p.path));
      idx->leaves.push_back(lower(last_local(p.path)));
      idx->paths.push_back(std::move(p.path));
    }
    index_ = std::move(idx);
  });
  return *index_;
}

std::vector<std::string> PathResolver::suggest(std::string_view path, std::size_t max) const {
  const Index& idx = index();
  const std::string want = lower(std::string(path));
  const std::string want_leaf = lower(last_local(std::string(path)));
  const bool prefixed = want.find(':') != std::string::npos;
  std::vector<std::pair<std::size_t, std::size_t>> scored;  // score, index
  for (std::size_t i = 0; i < idx.paths.size(); ++i) {
    std::string cand = idx.lowered[i];
    if (!prefixed) {
      // Compare without prefixes when the user wrote none.
      std::string stripped;
      std::size_t start = 0;
      while (start <= cand.size()) {
        auto slash = cand.find('/', start);
        std::string st = cand.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        const bool at = !st.empty() && st[0] == '@';
        if (at) st.erase(0, 1);
        if (auto c = st.find(':'); c != std::string::npos && st.find('[') > c) st.erase(0, c + 1);
        stripped += (stripped.empty() ? "" : "/") + std::string(at ? "@" : "") + st;
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
      cand = stripped;
    }
    const std::size_t full = edit_distance(want, cand);
    const std::size_t leaf = edit_distance(want_leaf, idx.leaves[i]);
    const std::size_t limit = std::max<std::size_t>(3, want.size() / 3);
    std::size_t score = full;
    bool near_leaf = want_leaf.size() >= 4 && leaf <= (want_leaf.size() >= 8 ? 2u : 1u);
    if (near_leaf) score = std::min(score, leaf * 4 + 1);
    // "Email" for "ComplainantEmail": a leaf holding the typed name (or held by
    // it), ranked by how far its parent is from the typed parent.
    const std::string& cand_leaf = idx.leaves[i];
    if (want_leaf.size() >= 3 && cand_leaf != want_leaf &&
        (cand_leaf.find(want_leaf) != std::string::npos || want_leaf.find(cand_leaf) != std::string::npos)) {
      const auto parent = [](const std::string& p) {
        const auto slash = p.rfind('/');
        return slash == std::string::npos ? std::string() : p.substr(0, slash);
      };
      score = std::min(score, edit_distance(parent(want), parent(cand)) * 2 + 1);
      near_leaf = true;
    }
    if (score <= limit || near_leaf) scored.emplace_back(score, i);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (const auto& [score, i] : scored) {
    if (out.size() >= max) break;
    out.push_back(idx.paths[i]);
  }
  return out;
}

std::optional<std::string> PathResolver::check_value(std::string_view path, std::string_view value) const {
  PathResolution r = resolve(path);
  if (!r) return r.error->message;
  const ResolvedPath& p = *r.path;
  if (p.nil) {
    if (value == "true" || value == "false" || value == "1" || value == "0") return std::nullopt;
    return "@xsi:nil takes true or false";
  }
  std::optional<std::string> fixed;
  if (p.attribute_use && p.attribute_use->fixed) fixed = p.attribute_use->fixed;
  else if (p.attribute && p.attribute->fixed) fixed = p.attribute->fixed;
  else if (!p.attribute && !p.steps.empty() && p.steps.back().element->fixed) fixed = p.steps.back().element->fixed;
  if (fixed && *fixed != value) return "the schema fixes the value to '" + *fixed + "'";
  if (p.each()) return std::nullopt;  // a JSON array: items are checked one by one by the caller
  if (!p.value_type) return std::nullopt;
  return check_simple_value(*p.value_type, value);
}

std::vector<PathError> PathResolver::choice_conflicts(const std::vector<const ResolvedPath*>& paths) const {
  std::vector<PathError> out;
  for (std::size_t a = 0; a < paths.size(); ++a) {
    for (std::size_t b = a + 1; b < paths.size(); ++b) {
      const auto& pa = paths[a]->steps;
      const auto& pb = paths[b]->steps;
      std::size_t i = 0;
      while (i < pa.size() && i < pb.size() && pa[i].element == pb[i].element && pa[i].index == pb[i].index &&
             pa[i].slot == pb[i].slot)
        ++i;
      if (i >= pa.size() || i >= pb.size()) continue;
      const ContentSlot* sa = pa[i].slot;
      const ContentSlot* sb = pb[i].slot;
      if (!sa || !sb || sa == sb) continue;
      for (const auto& ca : sa->choices) {
        for (const auto& cb : sb->choices) {
          if (ca.choice != cb.choice || ca.branch == cb.branch || ca.max_occurs != 1) continue;
          PathError e;
          e.kind = PathErrorKind::choice_conflict;
          e.step = i;
          e.candidates = {paths[a]->canonical, paths[b]->canonical};
          e.message = "'" + paths[a]->text + "' and '" + paths[b]->text +
                      "' fill different branches of one xs:choice (" + ca.choice->where.to_string() +
                      "): a document can hold only one of them";
          out.push_back(std::move(e));
          goto next_pair;
        }
      }
    next_pair:;
    }
  }
  return out;
}

const ElementDecl* find_global_element(const SchemaSet& set, std::string_view name, const Namespaces& namespaces,
                                       const std::string& namespace_uri, std::string* error) {
  const auto fail = [&](const std::string& why) -> const ElementDecl* {
    if (error) *error = why;
    return nullptr;
  };
  std::string n(name);
  if (n.empty()) return fail("no root element given");
  if (n[0] == '{') {
    const auto close = n.find('}');
    if (close == std::string::npos) return fail("'" + n + "' is not a {namespace}name");
    if (const ElementDecl* e = set.element({n.substr(1, close - 1), n.substr(close + 1)})) return e;
    return fail("'" + n + "' is not a global element of the schema set");
  }
  if (const auto colon = n.find(':'); colon != std::string::npos) {
    const std::string prefix = n.substr(0, colon);
    for (const auto& [p, u] : namespaces)
      if (p == prefix) {
        if (const ElementDecl* e = set.element({u, n.substr(colon + 1)})) return e;
        return fail("'" + n + "' is not a global element of the schema set (namespace " + u + ")");
      }
    return fail("prefix '" + prefix + "' of '" + n + "' is not declared in the target's namespaces");
  }
  std::vector<const ElementDecl*> all = set.global_elements(n);
  if (!namespace_uri.empty())
    all.erase(std::remove_if(all.begin(), all.end(), [&](const ElementDecl* e) { return e->name.ns != namespace_uri; }),
              all.end());
  if (all.size() == 1) return all.front();
  if (all.empty()) {
    std::vector<std::string> names;
    for (const ElementDecl* e : set.global_elements()) names.push_back(e->name.local);
    return fail("'" + n + "' is not a global element of the schema" +
                (names.empty() ? std::string() : " (global elements: " + join(names, ", ", 10) + ")"));
  }
  std::vector<std::string> names;
  for (const ElementDecl* e : all) names.push_back(e->name.clark());
  return fail("'" + n + "' names global elements in several namespaces (" + join(names) + "): write it with a prefix");
}

}  // namespace reportbridge::xml
