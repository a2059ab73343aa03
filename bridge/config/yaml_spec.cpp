#include "bridge/config/yaml_spec.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "bridge/core/bounded_read.hpp"
#include "bridge/core/untrusted_text.hpp"

namespace reportbridge::config {

Position position_of(const std::string& file, const YAML::Node& node) {
  auto m = node.Mark();
  if (m.line < 0) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};
}

namespace {

const char* kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::string: return "a string";
    case ValueKind::integer: return "an integer";
    case ValueKind::number: return "a number";
    case ValueKind::boolean: return "true or false";
    case ValueKind::duration: return "a duration such as 500ms, 5s, 10m or 1h";
    case ValueKind::size: return "a size such as 512, 64KiB or 50MiB";
    case ValueKind::list: return "a list";
    case ValueKind::map: return "a map";
    case ValueKind::scalar_or_list: return "a value or a list of values";
    case ValueKind::any: return "a value";
    case ValueKind::scalar_list: return "a list of values";
    case ValueKind::item_or_list: return "a value, a map or a list of them";
  }
  return "a value";
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  return std::all_of(s.begin() + static_cast<long>(i), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool is_number(const std::string& s) {
  try {
    std::size_t used = 0;
    (void)std::stod(s, &used);
    return used == s.size();
  } catch (...) {
    return false;
  }
}

bool kind_matches(const YAML::Node& v, ValueKind kind) {
  switch (kind) {
    case ValueKind::any: return true;
    case ValueKind::list: return v.IsSequence();
    case ValueKind::map: return v.IsMap();
    case ValueKind::scalar_or_list: return v.IsScalar() || v.IsSequence();
    case ValueKind::scalar_list: return v.IsSequence();
    case ValueKind::item_or_list: return v.IsScalar() || v.IsMap() || v.IsSequence();
    default: break;
  }
  if (!v.IsScalar()) return false;
  const std::string& s = v.Scalar();
  switch (kind) {
    case ValueKind::string: return true;
    case ValueKind::integer: return is_integer(s);
    case ValueKind::number: return is_number(s);
    case ValueKind::boolean: return s == "true" || s == "false";
    case ValueKind::duration: return parse_duration(s).has_value();
    case ValueKind::size: return parse_size(s).has_value();
    default: return false;
  }
}

}  // namespace

bool check_map(const YAML::Node& node, const MapSpec& spec, const std::string& file,
               core::Diagnostics& diags) {
  auto pos = position_of(file, node);
  if (!node.IsMap()) {
    diags.error(pos.file, pos.line, pos.column, spec.what + " must be a map of keys to values",
                "yaml.expected_map");
    return false;
  }
  bool ok = true;
  std::vector<std::string> known;
  for (const auto& k : spec.keys) known.push_back(k.key);
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("(a ") + (kv.first.IsMap() ? "map" : "list") + ")";
    auto kp = position_of(file, kv.first);
    auto it = std::find_if(spec.keys.begin(), spec.keys.end(),
                           [&](const KeySpec& k) { return k.key == key; });
    if (it == spec.keys.end()) {
      diags.error(kp.file, kp.line, kp.column,
                  // Quoted as a short excerpt: a file listed by mistake (a
                  // password file) must not have its lines echoed.
                  core::with_suggestion("unknown key '" + core::excerpt(key) + "' in " + spec.what, key, known),
                  "yaml.unknown_key");
      ok = false;
      continue;
    }
    auto vp = position_of(file, kv.second);
    if (kv.second.IsNull()) {
      if (it->required) {
        diags.error(vp.file, vp.line > 0 ? vp.line : kp.line, vp.line > 0 ? vp.column : kp.column,
                    "'" + key + "' must not be empty: expected " + kind_name(it->kind),
                    "yaml.wrong_type");
        ok = false;
      }
      continue;
    }
    if (!kind_matches(kv.second, it->kind)) {
      diags.error(vp.file, vp.line, vp.column,
                  "'" + key + "' must be " + kind_name(it->kind), "yaml.wrong_type");
      ok = false;
      continue;
    }
    if ((it->kind == ValueKind::scalar_list || it->kind == ValueKind::scalar_or_list) &&
        !check_scalar_items(kv.second, key, file, diags)) {
      ok = false;
      continue;
    }
    if (it->kind == ValueKind::item_or_list && kv.second.IsSequence()) {
      for (const auto& item : kv.second) {
        if (!item.IsSequence()) continue;
        auto ip = position_of(file, item);
        diags.error(ip.file, ip.line, ip.column,
                    "'" + key + "' must list values or maps, not a nested list", "yaml.not_a_value");
        ok = false;
      }
      if (!ok) continue;
    }
    if (!it->one_of.empty() && kv.second.IsScalar() &&
        std::find(it->one_of.begin(), it->one_of.end(), kv.second.Scalar()) == it->one_of.end()) {
      std::string msg = "'" + key + "' must be one of";
      for (std::size_t i = 0; i < it->one_of.size(); ++i)
        msg += (i ? ", " : " ") + it->one_of[i];
      std::string near = core::closest_match(kv.second.Scalar(), it->one_of);
      if (!near.empty()) msg += "; did you mean '" + near + "'?";
      diags.error(vp.file, vp.line, vp.column, msg, "yaml.bad_value");
      ok = false;
    }
  }
  for (const auto& k : spec.keys) {
    if (k.required && !node[k.key]) {
      diags.error(pos.file, pos.line, pos.column,
                  spec.what + " is missing required key '" + k.key + "'", "yaml.missing_key");
      ok = false;
    }
  }
  return ok;
}

std::optional<YAML::Node> load_yaml_file(const std::string& path, core::Diagnostics& diags) {
  // Config and mapping files are a few KiB: a cap keeps a wrong file (a log,
  // a dump, /dev/zero) from taking the memory of the machine.
  const core::BoundedRead file = core::read_bounded(path, core::kMaxConfigFileBytes);
  if (file.too_large) {
    diags.error(path, 0, 0,
                "file is larger than " + core::size_text(core::kMaxConfigFileBytes) +
                    ", the limit for a config or mapping file (is the right file named?)",
                "file.too_large");
    return std::nullopt;
  }
  if (!file.content) {
    diags.error(path, 0, 0, "cannot open file: " + file.error, "file.unreadable");
    return std::nullopt;
  }
  try {
    return YAML::Load(*file.content);
  } catch (const YAML::Exception& e) {
    diags.error(path, e.mark.line + 1, e.mark.column + 1, "YAML syntax: " + e.msg, "yaml.syntax");
    return std::nullopt;
  }
}

std::string get_string(const YAML::Node& map, const std::string& key, const std::string& fallback) {
  auto v = map[key];
  if (!v || !v.IsScalar()) return fallback;
  return v.Scalar();
}

bool get_bool(const YAML::Node& map, const std::string& key, bool fallback) {
  auto v = map[key];
  if (!v || !v.IsScalar()) return fallback;
  if (v.Scalar() == "true") return true;
  if (v.Scalar() == "false") return false;
  return fallback;
}

std::int64_t get_int(const YAML::Node& map, const std::string& key, std::int64_t fallback,
                     const std::string& file, core::Diagnostics& diags, std::int64_t min_value) {
  auto v = map[key];
  if (!v || !v.IsScalar() || !is_integer(v.Scalar())) return fallback;
  std::int64_t n = std::stoll(v.Scalar());
  if (n < min_value) {
    auto p = position_of(file, v);
    diags.error(p.file, p.line, p.column,
                "'" + key + "' must be at least " + std::to_string(min_value), "yaml.bad_value");
    return fallback;
  }
  return n;
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return std::nullopt;
  std::int64_t n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60'000);
  if (unit == "h") return std::chrono::milliseconds(n * 3'600'000);
  if (unit == "d") return std::chrono::milliseconds(n * 86'400'000);
  return std::nullopt;
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 15) return std::nullopt;
  std::uint64_t n = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit.empty() || unit == "B") return n;
  if (unit == "KiB") return n << 10;
  if (unit == "MiB") return n << 20;
  if (unit == "GiB") return n << 30;
  return std::nullopt;
}

std::chrono::milliseconds get_duration(const YAML::Node& map, const std::string& key,
                                       std::chrono::milliseconds fallback) {
  auto v = map[key];
  if (!v || !v.IsScalar()) return fallback;
  return parse_duration(v.Scalar()).value_or(fallback);
}

std::uint64_t get_size(const YAML::Node& map, const std::string& key, std::uint64_t fallback) {
  auto v = map[key];
  if (!v || !v.IsScalar()) return fallback;
  return parse_size(v.Scalar()).value_or(fallback);
}

std::vector<YAML::Node> items_of(const YAML::Node& node) {
  std::vector<YAML::Node> items;
  if (!node) return items;
  if (node.IsSequence())
    for (const auto& item : node) items.push_back(item);
  else
    items.push_back(node);
  return items;
}

bool check_scalar_items(const YAML::Node& node, const std::string& what, const std::string& file,
                        core::Diagnostics& diags) {
  if (!node || !node.IsSequence()) return true;
  bool ok = true;
  for (const auto& item : node) {
    if (item.IsScalar()) continue;
    auto ip = position_of(file, item);
    if (ip.line == 0) ip = position_of(file, node);  // an empty item has no mark of its own
    const char* found = item.IsSequence() ? "a nested list" : item.IsMap() ? "a map" : "an empty item";
    diags.error(ip.file, ip.line, ip.column,
                "'" + what + "' must list single values: found " + found + " (write [a, b], not [[a, b]])",
                "yaml.not_a_value");
    ok = false;
  }
  return ok;
}

std::vector<std::string> get_string_list(const YAML::Node& map, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& item : items_of(map[key]))
    if (item.IsScalar()) out.push_back(item.Scalar());
  return out;
}

}  // namespace reportbridge::config
