#include "bridge/schema/submission_schema.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

#include "bridge/core/bounded_read.hpp"
#include <boost/json/serialize.hpp>

#include "bridge/schema/date_time.hpp"

namespace reportbridge::schema {

namespace json = boost::json;

namespace detail {

// JSON Schema type bits; a number with no fractional part is also an integer.
enum TypeBit : std::uint8_t {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kInteger = 32,
  kString = 64,
};

struct Property {
  std::string name;
  std::size_t node = 0;
};

struct Required {
  std::string name;
  std::string message;  // "missing required property 'name'"
};

// One compiled subschema. Every message is built here, once, so validation
// only allocates when it reports an error.
struct Node {
  std::uint8_t types = 0;  // 0: any type
  std::string type_message;

  bool has_const = false;
  json::value const_value;
  std::string const_message;

  bool has_enum = false;
  json::array enum_values;
  std::string enum_message;

  std::optional<std::size_t> min_length, max_length;
  std::string min_length_message, max_length_message;

  std::unique_ptr<re2::RE2> pattern;
  std::string pattern_message;

  bool date_time = false;

  std::optional<double> minimum, maximum;
  std::string minimum_message, maximum_message;

  std::vector<Required> required;
  std::vector<Property> properties;  // schema order
  bool additional_properties = true;

  std::optional<std::size_t> items;
};

struct CompiledSchema {
  std::vector<Node> nodes;  // nodes[0] is the root
};

}  // namespace detail

namespace {

using detail::CompiledSchema;
using detail::Node;

constexpr std::string_view kRequiredPrefix = "missing required property '";

const char* type_name(std::uint8_t bit) {
  switch (bit) {
    case detail::kNull: return "null";
    case detail::kBoolean: return "boolean";
    case detail::kObject: return "object";
    case detail::kArray: return "array";
    case detail::kNumber: return "number";
    case detail::kInteger: return "integer";
    default: return "string";
  }
}

bool is_integral(double d) { return std::isfinite(d) && std::trunc(d) == d; }

std::uint8_t type_bits(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return detail::kNull;
    case json::kind::bool_: return detail::kBoolean;
    case json::kind::object: return detail::kObject;
    case json::kind::array: return detail::kArray;
    case json::kind::string: return detail::kString;
    case json::kind::int64:
    case json::kind::uint64: return detail::kNumber | detail::kInteger;
    case json::kind::double_:
      return detail::kNumber | (is_integral(v.get_double()) ? detail::kInteger : 0);
  }
  return 0;
}

const char* got_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::object: return "object";
    case json::kind::array: return "array";
    case json::kind::string: return "string";
    default: return "number";
  }
}

double as_double(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64: return static_cast<double>(v.get_int64());
    case json::kind::uint64: return static_cast<double>(v.get_uint64());
    default: return v.get_double();
  }
}

// JSON Schema equality: numbers compare by value (1 == 1.0).
bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) return as_double(a) == as_double(b);
    return a == b;
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), json_equal);
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& m : x) {
      auto it = y.find(m.key());
      if (it == y.end() || !json_equal(m.value(), it->value())) return false;
    }
    return true;
  }
  return a == b;
}

// Counts UTF-8 code points (the parser has already rejected invalid UTF-8).
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string format_number(double d) {
  if (is_integral(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::string join_alternatives(const std::vector<std::string>& items, const char* last_sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? last_sep : ", ";
    out += items[i];
  }
  return out;
}

std::string characters(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " character" : " characters");
}

// --- compiling ---------------------------------------------------------------

class Compiler {
 public:
  Compiler(const std::string& file, core::Diagnostics& diags) : file_(file), diags_(diags) {}

  std::size_t compile(const json::value& schema, const std::string& at) {
    std::size_t index = out_.nodes.size();
    out_.nodes.emplace_back();
    if (!schema.is_object()) {
      error(at, "a schema must be a JSON object", "schema.bad_value");
      return index;
    }
    Node node;
    const auto& obj = schema.get_object();
    for (const auto& member : obj) {
      std::string key(member.key());
      const json::value& v = member.value();
      std::string here = at + "/" + escape(key);
      if (key == "$schema" || key == "$id" || key == "title" || key == "description" ||
          key == "$comment") {
        if (!v.is_string()) error(here, "'" + key + "' must be a string", "schema.bad_value");
      } else if (key == "examples" || key == "default") {
        // Annotations: no effect on validation.
      } else if (key == "type") {
        compile_type(node, v, here);
      } else if (key == "required") {
        compile_required(node, v, here);
      } else if (key == "properties") {
        if (!v.is_object()) {
          error(here, "'properties' must be an object", "schema.bad_value");
          continue;
        }
        for (const auto& p : v.get_object()) {
          std::size_t child = compile(p.value(), here + "/" + escape(std::string(p.key())));
          node.properties.push_back({std::string(p.key()), child});
        }
      } else if (key == "additionalProperties") {
        if (!v.is_bool()) {
          error(here, "only true or false is supported for 'additionalProperties'",
                "schema.unsupported_keyword");
          continue;
        }
        node.additional_properties = v.get_bool();
      } else if (key == "items") {
        node.items = compile(v, here);
      } else if (key == "enum") {
        if (!v.is_array() || v.get_array().empty()) {
          error(here, "'enum' must be a non-empty array", "schema.bad_value");
          continue;
        }
        node.has_enum = true;
        node.enum_values = v.get_array();
        std::vector<std::string> names;
        for (const auto& e : node.enum_values) {
          if (e.is_string()) names.emplace_back(e.get_string());
          else if (e.is_double()) names.push_back(format_number(e.get_double()));
          else names.push_back(json::serialize(e));
        }
        node.enum_message = "not one of " + join_alternatives(names, ", ");
      } else if (key == "const") {
        node.has_const = true;
        node.const_value = v;
        node.const_message = "not the required value " + json::serialize(v);
      } else if (key == "minimum" || key == "maximum") {
        if (!v.is_number()) {
          error(here, "'" + key + "' must be a number", "schema.bad_value");
          continue;
        }
        double limit = as_double(v);
        if (key == "minimum") {
          node.minimum = limit;
          node.minimum_message = "value below minimum " + format_number(limit);
        } else {
          node.maximum = limit;
          node.maximum_message = "value above maximum " + format_number(limit);
        }
      } else if (key == "minLength" || key == "maxLength") {
        std::optional<std::size_t> n = non_negative_integer(v);
        if (!n) {
          error(here, "'" + key + "' must be a non-negative integer", "schema.bad_value");
          continue;
        }
        if (key == "minLength") {
          node.min_length = n;
          node.min_length_message = "shorter than the minimum of " + characters(*n);
        } else {
          node.max_length = n;
          node.max_length_message = "longer than the maximum of " + characters(*n);
        }
      } else if (key == "pattern") {
        compile_pattern(node, v, here);
      } else if (key == "format") {
        if (!v.is_string()) {
          error(here, "'format' must be a string", "schema.bad_value");
        } else if (v.get_string() != "date-time") {
          error(here, "unsupported format '" + std::string(v.get_string()) +
                          "' (supported: date-time)", "schema.unsupported_format");
        } else {
          node.date_time = true;
        }
      } else {
        std::string message = "unsupported keyword '" + key + "'";
        std::string near = core::closest_match(key, supported_keywords());
        if (!near.empty()) message += " (did you mean '" + near + "'?)";
        error(here, message, "schema.unsupported_keyword");
      }
    }
    if (node.minimum && node.maximum && *node.minimum > *node.maximum) {
      error(at, "'minimum' is greater than 'maximum'", "schema.bad_value");
    }
    if (node.min_length && node.max_length && *node.min_length > *node.max_length) {
      error(at, "'minLength' is greater than 'maxLength'", "schema.bad_value");
    }
    out_.nodes[index] = std::move(node);
    return index;
  }

  CompiledSchema take() { return std::move(out_); }

 private:
  static const std::vector<std::string>& supported_keywords() {
    static const std::vector<std::string> kKeywords = {
        "$schema", "$id",      "$comment",  "title",     "description", "examples",
        "default", "type",     "required",  "properties", "additionalProperties",
        "items",   "enum",     "const",     "minimum",   "maximum",     "minLength",
        "maxLength", "pattern", "format"};
    return kKeywords;
  }

  static std::string escape(const std::string& key) {
    std::string out;
    for (char c : key) {
      if (c == '~') out += "~0";
      else if (c == '/') out += "~1";
      else out += c;
    }
    return out;
  }

  static std::optional<std::size_t> non_negative_integer(const json::value& v) {
    if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::size_t>(v.get_int64());
    if (v.is_uint64()) return static_cast<std::size_t>(v.get_uint64());
    if (v.is_double() && is_integral(v.get_double()) && v.get_double() >= 0 &&
        v.get_double() < 1e15) {
      return static_cast<std::size_t>(v.get_double());
    }
    return std::nullopt;
  }

  void compile_type(Node& node, const json::value& v, const std::string& here) {
    std::vector<const json::value*> names;
    if (v.is_string()) {
      names.push_back(&v);
    } else if (v.is_array() && !v.get_array().empty()) {
      for (const auto& n : v.get_array()) names.push_back(&n);
    } else {
      error(here, "'type' must be a type name or a non-empty array of them", "schema.bad_value");
      return;
    }
    std::vector<std::string> listed;
    for (const json::value* n : names) {
      std::uint8_t bit = 0;
      for (std::uint8_t b = detail::kNull; b != 0 && b <= detail::kString; b <<= 1) {
        if (n->is_string() && n->get_string() == type_name(b)) bit = b;
      }
      if (bit == 0) {
        error(here, "unknown type " + json::serialize(*n), "schema.bad_value");
        continue;
      }
      if (node.types & bit) {
        error(here, "type '" + std::string(type_name(bit)) + "' is listed twice",
              "schema.bad_value");
        continue;
      }
      node.types |= bit;
      listed.emplace_back(type_name(bit));
    }
    node.type_message = "expected " + join_alternatives(listed, " or ");
  }

  void compile_required(Node& node, const json::value& v, const std::string& here) {
    if (!v.is_array()) {
      error(here, "'required' must be an array of property names", "schema.bad_value");
      return;
    }
    for (const auto& n : v.get_array()) {
      if (!n.is_string()) {
        error(here, "'required' must be an array of property names", "schema.bad_value");
        continue;
      }
      std::string name(n.get_string());
      bool duplicate = std::any_of(node.required.begin(), node.required.end(),
                                   [&](const detail::Required& r) { return r.name == name; });
      if (duplicate) {
        error(here, "'" + name + "' is listed twice", "schema.bad_value");
        continue;
      }
      node.required.push_back({name, std::string(kRequiredPrefix) + name + "'"});
    }
  }

  void compile_pattern(Node& node, const json::value& v, const std::string& here) {
    if (!v.is_string()) {
      error(here, "'pattern' must be a string", "schema.bad_value");
      return;
    }
    std::string text(v.get_string());
    re2::RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<re2::RE2>(text, options);
    if (!re->ok()) {
      error(here, "pattern does not compile (RE2 syntax): " + re->error(), "schema.bad_pattern");
      return;
    }
    node.pattern = std::move(re);
    node.pattern_message = "does not match pattern " + text;
  }

  void error(const std::string& at, const std::string& message, const char* code) {
    diags_.error(file_, 0, 0, (at.empty() ? "/" : at) + ": " + message, code);
  }

  const std::string& file_;
  core::Diagnostics& diags_;
  CompiledSchema out_;
};

// --- validating --------------------------------------------------------------

// A path segment on the call stack: paths are only built when reporting.
struct PathFrame {
  const PathFrame* parent = nullptr;
  std::string_view key;
  std::size_t index = 0;
  bool is_index = false;
};

void append_pointer(std::string& out, const PathFrame* f) {
  if (f == nullptr) return;
  append_pointer(out, f->parent);
  out += '/';
  if (f->is_index) {
    out += std::to_string(f->index);
    return;
  }
  for (char c : f->key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
}

class Validator {
 public:
  Validator(const CompiledSchema& schema, std::vector<SchemaError>& out)
      : schema_(schema), out_(out) {}

  void check(std::size_t index, const json::value& v, const PathFrame* at) {
    const Node& n = schema_.nodes[index];
    std::uint8_t bits = type_bits(v);
    if (n.types != 0 && (bits & n.types) == 0) {
      report(at, "type", n.type_message + ", got " + got_name(v));
      return;  // the other keywords would only repeat the same problem
    }
    if (n.has_const && !json_equal(v, n.const_value)) report(at, "const", n.const_message);
    if (n.has_enum && !in_enum(n, v)) report(at, "enum", n.enum_message);

    switch (v.kind()) {
      case json::kind::string: check_string(n, v.get_string(), at); break;
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_: check_number(n, v, at); break;
      case json::kind::object: check_object(n, v.get_object(), at); break;
      case json::kind::array: check_array(n, v.get_array(), at); break;
      default: break;
    }
  }

 private:
  static bool in_enum(const Node& n, const json::value& v) {
    for (const auto& e : n.enum_values) {
      if (json_equal(v, e)) return true;
    }
    return false;
  }

  void check_string(const Node& n, const json::string& s, const PathFrame* at) {
    std::string_view text(s.data(), s.size());
    if (n.min_length || n.max_length) {
      // A code point takes 1 to 4 bytes: count only when the byte size can't decide.
      std::size_t bytes = text.size();
      bool need_count = (n.min_length && bytes >= *n.min_length && bytes / 4 < *n.min_length) ||
                        (n.max_length && bytes > *n.max_length);
      std::size_t length = need_count ? code_points(text) : bytes;
      if (n.min_length && length < *n.min_length) {
        report(at, "minLength", n.min_length_message);
      }
      if (n.max_length && length > *n.max_length) {
        report(at, "maxLength", n.max_length_message);
      }
    }
    if (n.pattern && !re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()),
                                             *n.pattern)) {
      report(at, "pattern", n.pattern_message);
    }
    if (n.date_time) {
      switch (check_date_time(text)) {
        case DateTimeCheck::ok: break;
        case DateTimeCheck::malformed:
          report(at, "format",
                 "not an RFC 3339 date-time (expected YYYY-MM-DDTHH:MM:SS with Z or ±HH:MM)");
          break;
        case DateTimeCheck::no_offset:
          report(at, "format", "date-time has no time zone offset (Z or ±HH:MM)");
          break;
        case DateTimeCheck::out_of_range:
          report(at, "format", "date-time is not a real date or time (a field is out of range)");
          break;
      }
    }
  }

  void check_number(const Node& n, const json::value& v, const PathFrame* at) {
    double d = as_double(v);
    if (!std::isfinite(d)) {
      report(at, "type", "number too large to represent");
      return;
    }
    if (n.minimum && d < *n.minimum) report(at, "minimum", n.minimum_message);
    if (n.maximum && d > *n.maximum) report(at, "maximum", n.maximum_message);
  }

  void check_object(const Node& n, const json::object& obj, const PathFrame* at) {
    for (const auto& r : n.required) {
      if (!obj.contains(r.name)) report(at, "required", r.message);
    }
    for (const auto& p : n.properties) {
      auto it = obj.find(p.name);
      if (it == obj.end()) continue;
      PathFrame child{at, p.name, 0, false};
      check(p.node, it->value(), &child);
    }
    if (!n.additional_properties) {
      for (const auto& m : obj) {
        bool known = std::any_of(n.properties.begin(), n.properties.end(),
                                 [&](const detail::Property& p) { return p.name == m.key(); });
        if (!known) {
          PathFrame child{at, m.key(), 0, false};
          report(&child, "additionalProperties", "property not allowed");
        }
      }
    }
  }

  void check_array(const Node& n, const json::array& arr, const PathFrame* at) {
    if (!n.items) return;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      PathFrame child{at, {}, i, true};
      check(*n.items, arr[i], &child);
    }
  }

  void report(const PathFrame* at, const char* keyword, std::string message) {
    SchemaError e;
    append_pointer(e.path, at);
    e.keyword = keyword;
    e.message = std::move(message);
    out_.push_back(std::move(e));
  }

  const CompiledSchema& schema_;
  std::vector<SchemaError>& out_;
};

bool has_error_at(const std::vector<SchemaError>& errors, std::string_view path) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const SchemaError& e) { return e.path == path; });
}

// `v` is known to be an integer (int64, uint64 or a whole double).
bool same_integer(const json::value& v, std::int64_t n) {
  if (v.is_int64()) return v.get_int64() == n;
  if (v.is_uint64()) return n >= 0 && v.get_uint64() == static_cast<std::uint64_t>(n);
  return v.get_double() == static_cast<double>(n);
}

// 1-based line and column of a byte offset, for schema parse errors.
std::pair<int, int> line_column(std::string_view text, std::size_t offset) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

std::string to_string(const SchemaError& error) {
  return (error.path.empty() ? "/" : error.path) + ": " + error.message + " [" + error.keyword +
         "]";
}

SubmissionSchema::SubmissionSchema(std::shared_ptr<const detail::CompiledSchema> compiled)
    : compiled_(std::move(compiled)) {}

std::optional<SubmissionSchema> SubmissionSchema::load(const std::string& path,
                                                       core::Diagnostics& diags) {
  const core::BoundedRead file = core::read_bounded(path, core::kMaxSchemaFileBytes);
  if (file.too_large) {
    diags.error(path, 0, 0, "the schema file is larger than " + core::size_text(core::kMaxSchemaFileBytes),
                "schema.too_large");
    return std::nullopt;
  }
  if (!file.content) {
    diags.error(path, 0, 0, "cannot read the schema file", "schema.io_error");
    return std::nullopt;
  }
  return parse(*file.content, path, diags);
}

std::optional<SubmissionSchema> SubmissionSchema::parse(std::string_view text,
                                                        const std::string& file,
                                                        core::Diagnostics& diags) {
  json::parser parser;
  boost::system::error_code ec;
  std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (ec) {
    auto [line, column] = line_column(text, consumed);
    diags.error(file, line, column, "schema is not valid JSON: " + ec.message(),
                "schema.invalid_json");
    return std::nullopt;
  }
  json::value root = parser.release();
  core::Diagnostics local;
  Compiler compiler(file, local);
  compiler.compile(root, "");
  bool failed = local.has_errors();
  diags.append(local);
  if (failed) return std::nullopt;
  return SubmissionSchema(std::make_shared<const CompiledSchema>(compiler.take()));
}

std::vector<SchemaError> SubmissionSchema::validate(const json::value& doc) const {
  std::vector<SchemaError> errors;
  Validator(*compiled_, errors).check(0, doc, nullptr);
  return errors;
}

PayloadCheck check_payload(const SubmissionSchema& schema, std::string_view payload,
                           std::string_view row_id, std::int64_t row_version) {
  PayloadCheck result;
  // Before parsing: a 50 MB payload is refused without building its tree.
  if (payload.size() > kMaxPayloadBytes) {
    result.errors.push_back({"", "size",
                             "payload larger than " + std::to_string(kMaxPayloadBytes) + " bytes (" +
                                 core::size_text(kMaxPayloadBytes) + "), the limit for one submission"});
    return result;
  }
  // One parser per thread, its scratch stack reused; the tree goes to a
  // monotonic arena of its own (a first block sized from the payload, more
  // blocks only when the tree outgrows it) instead of a heap block per
  // string, object and array. The arena is not a shared resource, so the tree's values hold
  // a plain pointer to it (no reference counting) and freeing the tree does
  // not walk it. Parsing and freeing the tree were ~9 % of the bridge's CPU
  // (docs/performance.md, change 7).
  struct Arena {
    explicit Arena(std::size_t n) : block(new unsigned char[n]), resource(block.get(), n) {}
    std::unique_ptr<unsigned char[]> block;
    json::monotonic_resource resource;
  };
  auto arena = std::make_shared<Arena>(payload.size() * 2 + 512);
  thread_local json::parser parser;
  parser.reset(json::storage_ptr(&arena->resource));
  boost::system::error_code ec;
  std::size_t consumed = parser.write(payload.data(), payload.size(), ec);
  if (ec) {
    parser.reset();  // drop the partial tree while its arena is alive
    result.errors.push_back(
        {"", "json", "invalid JSON at byte " + std::to_string(consumed) + ": " + ec.message()});
    return result;
  }
  result.arena = std::shared_ptr<void>(arena, &arena->resource);
  result.doc = parser.release();
  parser.reset();  // the parser holds no reference to this tree's arena
  result.errors = schema.validate(*result.doc);

  if (const json::object* obj = result.doc->if_object()) {
    auto id = obj->find("id");
    if (id != obj->end() && id->value().is_string() && !has_error_at(result.errors, "/id") &&
        id->value().get_string() != row_id) {
      result.errors.push_back({"/id", "row_mismatch", "does not match the store row's id"});
    }
    auto version = obj->find("version");
    if (version != obj->end() && !has_error_at(result.errors, "/version") &&
        (type_bits(version->value()) & detail::kInteger) != 0 &&
        !same_integer(version->value(), row_version)) {
      result.errors.push_back(
          {"/version", "row_mismatch", "does not match the store row's version"});
    }
  }
  return result;
}

}  // namespace reportbridge::schema
