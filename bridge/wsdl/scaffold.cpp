#include "bridge/wsdl/scaffold.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

#include "bridge/xml/schema_paths.hpp"

namespace reportbridge::wsdl {

namespace {

using xml::Namespaces;
using xml::PathInfo;
using xml::QName;

std::string normalize(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string snake_case(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isupper(c)) {
      const bool prev_lower = i > 0 && (std::islower(static_cast<unsigned char>(s[i - 1])) ||
                                        std::isdigit(static_cast<unsigned char>(s[i - 1])));
      const bool next_lower = i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1]));
      const bool prev_upper = i > 0 && std::isupper(static_cast<unsigned char>(s[i - 1]));
      if (!out.empty() && out.back() != '_' && (prev_lower || (prev_upper && next_lower))) out += '_';
      out += static_cast<char>(std::tolower(c));
    } else if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "xml_target" : out;
}

bool is_ncname(std::string_view p) {
  if (p.empty() || !(std::isalpha(static_cast<unsigned char>(p[0])) || p[0] == '_')) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// A double-quoted YAML scalar.
std::string yaml_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// The local name of a path's last step: "a:B[2]/@c:d" -> "d".
std::string leaf_local(std::string_view path) {
  std::string_view s = path;
  if (auto slash = s.rfind('/'); slash != std::string_view::npos) s = s.substr(slash + 1);
  if (!s.empty() && s[0] == '@') s = s.substr(1);
  if (auto br = s.find('['); br != std::string_view::npos) s = s.substr(0, br);
  if (auto colon = s.find(':'); colon != std::string_view::npos) s = s.substr(colon + 1);
  return std::string(s);
}

// Prefix -> URI for every target namespace of the set: the caller's, then the
// schema documents' own, else ns1, ns2, ...
Namespaces assign_prefixes(const xml::SchemaSet& set, const Namespaces& preferred) {
  Namespaces ns = preferred;
  auto prefix_taken = [&](const std::string& p) {
    return std::any_of(ns.begin(), ns.end(), [&](const auto& kv) { return kv.first == p; });
  };
  auto uri_known = [&](const std::string& u) {
    return std::any_of(ns.begin(), ns.end(), [&](const auto& kv) { return kv.second == u; });
  };
  static const std::set<std::string> reserved = {"xml", "xmlns", "xsi", "xs", "xsd", "wsdl", "soap", "soap12", "soapenv"};
  int next = 1;
  for (const std::string& uri : set.namespaces()) {
    if (uri.empty() || uri == xml::kXsNamespace || uri == xml::kXsiNamespace || uri == xml::kXmlNamespace ||
        uri_known(uri))
      continue;
    std::string prefix;
    auto it = set.schema_prefixes().find(uri);
    if (it != set.schema_prefixes().end() && is_ncname(it->second) && !reserved.count(it->second) &&
        !prefix_taken(it->second) && it->second.rfind("xml", 0) != 0)
      prefix = it->second;
    while (prefix.empty() || prefix_taken(prefix)) prefix = "ns" + std::to_string(next++);
    ns.emplace_back(prefix, uri);
  }
  return ns;
}

std::string cardinality(const PathInfo& p) {
  if (p.kind == PathInfo::Kind::attribute) return p.required ? "attribute, required" : "attribute";
  const std::string max = p.max_occurs == xml::kUnbounded ? "unbounded" : std::to_string(p.max_occurs);
  std::string out = "occurs " + std::to_string(p.min_occurs) + ".." + max;
  if (p.max_occurs == xml::kUnbounded || p.max_occurs > 1) out += " (repeats: [2], ... or a JSON list with [*])";
  return out;
}

std::string shorten(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "...";
}

std::string describe(const PathInfo& p) {
  std::vector<std::string> parts;
  parts.push_back(p.required_from_root ? "required" : p.required ? "required when its parent is written" : "optional");
  if (!p.type.empty()) parts.push_back(p.type);
  if (!p.facets.empty()) parts.push_back(shorten(p.facets, 160));
  parts.push_back(cardinality(p));
  if (p.nillable) parts.push_back("nillable (@xsi:nil: \"true\")");
  if (p.in_choice) parts.push_back("xs:choice: fill one branch only");
  for (const auto& n : p.notes) parts.push_back(n);
  // Repeated ancestors: the path picks their first occurrence.
  std::string_view rest = p.path;
  std::vector<std::string> repeated;
  for (std::size_t slash; (slash = rest.find('/')) != std::string_view::npos; rest = rest.substr(slash + 1)) {
    std::string_view step = rest.substr(0, slash);
    if (auto br = step.find("[1]"); br != std::string_view::npos) repeated.emplace_back(step.substr(0, br));
  }
  if (!repeated.empty()) {
    std::string names;
    for (const auto& r : repeated) names += (names.empty() ? "" : ", ") + r;
    parts.push_back("inside repeated " + names + " (the first; [2], ... for more)");
  }
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : " · ") + s;
  return out;
}

// Normalized target leaf names -> the submission path they obviously hold.
const std::vector<std::pair<std::vector<std::string>, std::string>>& synonyms() {
  static const std::vector<std::pair<std::vector<std::string>, std::string>> table = {
      {{"appreference", "externalreference", "submissionid", "submissionreference", "appid"}, "id"},
      {{"version", "submissionversion"}, "version"},
      {{"submittedat", "submitted", "receivedat", "received", "datereceived", "receiveddatetime", "reporteddatetime",
        "reportdatetime", "submissiondate", "submissiondatetime"},
       "submitted_at"},
      {{"kind", "reportkind", "submissionkind"}, "kind"},
      {{"category", "categorycode", "reportcategory"}, "category"},
      {{"summary", "title"}, "summary"},
      {{"description", "details", "narrative", "allegation", "fulldescription", "incidentdescription"}, "description"},
      {{"occurredat", "incidentdate", "incidentdatetime", "occurrencedate", "occurredstart", "startdatetime",
        "offencestartdatetime", "offensestartdatetime", "datetimefrom"},
       "occurred.start"},
      {{"occurredend", "enddatetime", "offenceenddatetime", "offenseenddatetime", "datetimeto"}, "occurred.end"},
      {{"ongoing", "isongoing"}, "occurred.ongoing"},
      {{"latitude", "lat"}, "location.lat"},
      {{"longitude", "lon", "long"}, "location.lon"},
      {{"postcode", "postalcode", "zipcode", "zip", "incidentpostcode", "locationpostcode"}, "location.postcode"},
      {{"address", "addresstext", "fulladdress", "locationaddress"}, "location.address"},
      {{"email", "emailaddress", "contactemail", "reporteremail", "complainantemail"}, "reporter.email"},
      {{"phone", "telephone", "telephonenumber", "phonenumber", "contactphone", "reporterphone", "complainantphone"}, "reporter.phone"},
      {{"reportername", "complainantname", "contactname", "fullname", "informantname"}, "reporter.name"},
      {{"anonymous", "isanonymous"}, "reporter.anonymous"},
      {{"contactok", "contactconsent", "maycontact"}, "reporter.contact_ok"},
      {{"preferredlanguage", "language"}, "reporter.preferred_language"},
  };
  return table;
}

}  // namespace

std::string guess_submission_path(const std::string& leaf_local_name, const std::vector<std::string>& submission_paths) {
  const std::string leaf = normalize(leaf_local_name);
  if (leaf.empty() || submission_paths.empty()) return "";
  auto known = [&](const std::string& p) {
    return std::find(submission_paths.begin(), submission_paths.end(), p) != submission_paths.end();
  };
  for (const auto& [names, path] : synonyms())
    if (std::find(names.begin(), names.end(), leaf) != names.end()) return known(path) ? path : "";
  // Otherwise the one scalar submission path whose last name is the same word
  // (lists, attachments[*].x, are never guessed).
  static const std::set<std::string> generic = {"name", "type", "code", "value", "text", "date", "time",
                                                "datetime", "id", "status", "number", "start", "end"};
  if (generic.count(leaf)) return "";
  std::string found;
  for (const auto& p : submission_paths) {
    if (p.find('[') != std::string::npos) continue;
    const auto dot = p.rfind('.');
    if (normalize(dot == std::string::npos ? p : p.substr(dot + 1)) != leaf) continue;
    if (!found.empty()) return "";  // two candidates: not obvious
    found = p;
  }
  return found;
}

namespace {

Scaffold build(const std::shared_ptr<const xml::SchemaSet>& set, const xml::ElementDecl& root,
               const ScaffoldOptions& options) {
  Scaffold out;
  const Namespaces all = assign_prefixes(*set, options.namespaces);
  xml::PathResolver paths(set, root, all);
  xml::EnumerateOptions eo;
  eo.max_depth = options.max_depth;
  eo.include_containers = true;
  const std::vector<PathInfo> infos = paths.enumerate(eo);

  std::vector<const PathInfo*> required, optional, wildcards, containers;
  for (const PathInfo& p : infos) {
    if (p.kind == PathInfo::Kind::wildcard) {
      wildcards.push_back(&p);
      continue;
    }
    if (p.container) {  // its leaves are listed
      if (p.required_from_root) containers.push_back(&p);
      continue;
    }
    (p.required_from_root ? required : optional).push_back(&p);
  }
  // A required element with nothing required inside is written only when one of
  // its children has a value: say so.
  for (const PathInfo* c : containers) {
    const std::string below = c->path + "/";
    const bool filled = std::any_of(required.begin(), required.end(),
                                    [&](const PathInfo* r) { return r->path.rfind(below, 0) == 0; });
    if (!filled)
      out.notes.push_back("required element " + c->path + " (" + c->type +
                          ") has nothing required inside: fill at least one of its children");
  }
  auto field = [&](const PathInfo& p) {
    ScaffoldField f;
    f.path = p.path;
    f.required = p.required_from_root;
    // Nothing inside a repeated element is guessed: one submission value does not fill a list.
    if (p.path.find('[') == std::string::npos)
      f.from = guess_submission_path(leaf_local(p.path), options.submission_paths);
    f.comment = describe(p);
    return f;
  };
  // Optional elements before optional attributes (NIEM puts s:id/s:ref on every
  // element), each in schema order.
  std::stable_partition(optional.begin(), optional.end(),
                        [](const PathInfo* p) { return p->kind == PathInfo::Kind::element; });
  for (const PathInfo* p : required) out.fields.push_back(field(*p));
  for (const PathInfo* p : optional) {
    if (out.fields.size() - required.size() >= options.max_optional) {
      ++out.optional_left_out;
      continue;
    }
    out.fields.push_back(field(*p));
  }

  // The prefixes the output uses.
  const std::string root_prefix = paths.prefix_for(root.name.ns);
  out.root = root_prefix + root.name.local;
  auto mentions = [](const std::string& text, const std::string& needle) {
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
      if (pos == 0 || std::string_view("/@[= (").find(text[pos - 1]) != std::string_view::npos) return true;
    return false;
  };
  auto used = [&](const std::string& prefix) {
    const std::string needle = prefix + ":";
    if (root_prefix == needle) return true;
    return std::any_of(out.fields.begin(), out.fields.end(), [&](const ScaffoldField& f) {
      return mentions(f.path, needle) || mentions(f.comment, needle);
    });
  };
  for (const auto& [prefix, uri] : all)
    if (used(prefix)) out.namespaces.emplace_back(prefix, uri);

  const std::string name = options.mapping_name.empty() ? snake_case(root.name.local) : options.mapping_name;
  const std::string target = options.target_name.empty() ? name : options.target_name;

  std::string y;
  y += "# Starter mapping for " + out.root + (root.name.ns.empty() ? "" : " {" + root.name.ns + "}") + ",\n";
  y += "# generated from " + (options.schema_path.empty() ? set->main_file().string() : options.schema_path) + ".\n";
  y += "# Required paths are active: give each a `from:` (or `value:`/`template:`) where it says FILL_IN.\n";
  y += "# Optional paths are commented out: uncomment the ones you fill. Repeated elements are\n";
  y += "# written [1]; add [2], ... or map a JSON list with [*]. Paths and prefixes: see\n";
  y += "# mappings/README.md, \"Addressing XML elements\"; the prefixes are the target's `namespaces:`.\n";
  y += "mapping: " + name + "\n";
  y += "description: " + yaml_quoted("FILL_IN: what this mapping sends to " + target) + "\n";
  y += "targets: " + target + "\n";
  y += "# when:\n#   kind: [concern]\n";
  y += "fields:\n";
  for (const auto& n : out.notes) y += "  # NOTE: " + n + "\n";
  if (!wildcards.empty()) {
    for (const PathInfo* w : wildcards)
      y += "  # xs:any at " + (w->path.empty() ? out.root : w->path) + " (" + describe(*w) +
           "): not filled from mapping paths\n";
  }
  for (const ScaffoldField& f : out.fields) {
    const std::string c = f.required ? "" : "# ";
    y += "  # " + f.comment + "\n";
    y += "  " + c + "- name: " + yaml_quoted(f.path) + "\n";
    if (!f.from.empty())
      y += "  " + c + "  from: " + f.from + "\n";
    else
      y += "  " + c + "  from: FILL_IN\n";
    if (f.required) y += "    required: true\n";
  }
  if (out.optional_left_out)
    y += "  # ... and " + std::to_string(out.optional_left_out) +
         " more optional paths (raise max_optional, or lower the depth, to list them)\n";
  out.mapping_yaml = std::move(y);
  return out;
}

std::string namespaces_yaml(const Namespaces& ns, const std::string& indent) {
  if (ns.empty()) return "";
  std::string y = indent + "namespaces:\n";
  for (const auto& [p, u] : ns) y += indent + "  " + p + ": " + yaml_quoted(u) + "\n";
  return y;
}

}  // namespace

Scaffold scaffold_document(const std::shared_ptr<const xml::SchemaSet>& set, const QName& root,
                           const ScaffoldOptions& options) {
  const xml::ElementDecl* e = set->element(root);
  if (!e) throw std::invalid_argument("no global element " + root.clark() + " in " + set->main_file().string());
  Scaffold out = build(set, *e, options);
  const std::string name = options.mapping_name.empty() ? snake_case(root.local) : options.mapping_name;
  const std::string target = options.target_name.empty() ? name : options.target_name;
  std::string y = "targets:\n";
  y += "  - name: " + target + "\n";
  y += "    type: xml_drop\n";
  y += "    directory: " + yaml_quoted("FILL_IN/drop/" + target) + "\n";
  y += "    xsd: " + yaml_quoted(options.schema_path.empty() ? set->main_file().string() : options.schema_path) + "\n";
  y += "    root: " + yaml_quoted(out.root) + "\n";
  y += namespaces_yaml(out.namespaces, "    ");
  out.target_yaml = std::move(y);
  return out;
}

Scaffold scaffold_operation(const Wsdl& wsdl, const Operation& op, const ScaffoldOptions& options) {
  if (!op.usable()) {
    std::string why;
    for (const auto& p : op.problems) why += (why.empty() ? "" : "; ") + p;
    throw std::invalid_argument("operation " + op.name + " cannot be used: " + why);
  }
  std::optional<QName> body;
  std::vector<std::string> notes;
  switch (op.style) {
    case OperationStyle::document_wrapped:
      body = op.input_wrapper;
      break;
    case OperationStyle::document_bare:
      if (!op.input.empty()) body = op.input.front().element;
      for (std::size_t i = 1; i < op.input.size(); ++i)
        notes.push_back("body part " + op.input[i].part + " (" + op.input[i].element.clark() + ") is not scaffolded");
      break;
    case OperationStyle::rpc_literal:
      throw std::invalid_argument("operation " + op.name +
                                  " is rpc/literal: its parts are typed, not elements; scaffold their types' paths by hand");
  }
  if (!body) throw std::invalid_argument("operation " + op.name + " has no body element");
  for (const auto& h : op.input_headers) notes.push_back("SOAP header part " + h.part + " (" + h.element.clark() + ")");
  ScaffoldOptions o = options;
  if (o.mapping_name.empty()) o.mapping_name = snake_case(op.name);
  if (o.schema_path.empty()) o.schema_path = wsdl.file().string();
  Scaffold out = scaffold_document(wsdl.schemas(), *body, o);
  out.notes.insert(out.notes.end(), notes.begin(), notes.end());

  const std::string target = o.target_name.empty() ? o.mapping_name : o.target_name;
  auto qname = [&](const QName& q) {
    for (const auto& [p, u] : out.namespaces)
      if (u == q.ns) return p + ":" + q.local;
    return q.clark();
  };
  std::string y = "targets:\n";
  y += "  - name: " + target + "\n";
  y += "    # Operation " + op.name + " of " + op.service + "/" + op.port + ": " +
       (op.style == OperationStyle::document_wrapped ? "document/literal wrapped" : "document/literal bare") +
       ", SOAP " + (op.version == SoapVersion::soap12 ? "1.2" : "1.1") + ", SOAPAction " + yaml_quoted(op.soap_action) +
       ";\n    # body element " + out.root +
       (op.output_wrapper ? ", response " + qname(*op.output_wrapper)
                          : op.output.empty() ? std::string(op.one_way ? ", one-way" : "")
                                              : ", response " + qname(op.output.front().element));
  std::string faults;
  for (const auto& f : op.faults) faults += (faults.empty() ? "" : ", ") + (f.element ? qname(*f.element) : f.name);
  if (!faults.empty()) y += ", faults " + faults;
  y += ".\n";
  for (const auto& n : notes) y += "    # " + n + "\n";
  y += "    type: soap\n";
  y += "    wsdl: " + yaml_quoted(o.schema_path) + "\n";
  y += "    service: " + yaml_quoted(op.service) + "\n";
  y += "    port: " + yaml_quoted(op.port) + "\n";
  y += "    # url: overrides the port's address " + yaml_quoted(op.endpoint) + "\n";
  y += namespaces_yaml(out.namespaces, "    ");
  y += "    create:\n";
  y += "      operation: " + op.name + "\n";
  y += "      reference: FILL_IN  # XPath of the legacy reference in the answer (context: soap:Body)\n";
  y += "      # values: {<path of the external reference>: external_reference}\n";
  out.target_yaml = std::move(y);
  return out;
}

}  // namespace reportbridge::wsdl
