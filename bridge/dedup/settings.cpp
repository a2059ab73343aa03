#include "bridge/dedup/settings.hpp"

#include "bridge/mapping/functions/pseudonymiser.hpp"

namespace reportbridge::dedup {
namespace {

using config::KeySpec;
using config::MapSpec;
using config::ValueKind;

const MapSpec kWeightsSpec{
    "dedup weights",
    {{"distance", ValueKind::number, false, "Weight of closeness in space (default 0.15)."},
     {"time", ValueKind::number, false, "Weight of closeness of the incident times (default 0.35)."},
     {"text", ValueKind::number, false, "Weight of summary + description trigram similarity (default 0.15)."},
     {"place", ValueKind::number, false, "Weight of address + postcode trigram similarity (default 0.35)."}}};

const MapSpec kDedupSpec{
    "dedup",
    {{"enabled", ValueKind::boolean, false, "Detect duplicates and related reports (default true)."},
     {"duplicate_window", ValueKind::duration, false,
      "Same content received within this of the first is a duplicate (default 10m)."},
     {"max_distance_m", ValueKind::number, false, "Related reports lie at most this far apart (default 200)."},
     {"time_window", ValueKind::duration, false,
      "Related reports' incident times differ by at most this (default 2h)."},
     {"threshold", ValueKind::number, false, "Score (0..1) a related report must reach (default 0.6)."},
     {"density_step", ValueKind::number, false,
      "Threshold increase per natural log of the candidates that pass the gates (default 0.08)."},
     {"weights", ValueKind::map, false, "Weights of the related score: distance, time, text, place."},
     {"related_categories", ValueKind::map, false,
      "Category -> category or list of categories that may describe one incident (symmetric)."},
     {"related_category_penalty", ValueKind::number, false,
      "Score taken off when the categories are related, not equal (default 0.1)."},
     {"unlinked_categories", ValueKind::scalar_list, false, "Categories never linked (default [police_feedback])."},
     {"retention", ValueKind::duration, false,
      "Fingerprints, related index, verdicts and reporter keys are purged after this (default 30d)."},
     {"reporter_key_file", ValueKind::string, false,
      "HMAC key file for pseudonymous reporter keys (a private secret file, chmod 600, >= 16 bytes). Absent: no reporter keys."}}};

const KeySpec kRelatedPolicyKey{"related", ValueKind::string, false,
                                "Reports related to an earlier one: link (RelatedReference), hold (review) "
                                "or plain (default link).",
                                {"link", "hold", "plain"}};

double get_number(const YAML::Node& map, const std::string& key, double fallback, double min_value,
                  double max_value, const std::string& file, core::Diagnostics& diags) {
  const YAML::Node n = map[key];
  if (!n) return fallback;
  double v = fallback;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    return fallback;  // check_map reported it
  }
  if (!(v >= min_value && v <= max_value)) {
    auto p = config::position_of(file, n);
    diags.error(p.file, p.line, p.column,
                "dedup " + key + " must be between " + std::to_string(min_value) + " and " +
                    std::to_string(max_value),
                "dedup.out_of_range");
    return fallback;
  }
  return v;
}

bool scalar_string(const YAML::Node& n, std::string& out) {
  if (!n.IsScalar()) return false;
  out = n.as<std::string>();
  return !out.empty();
}

}  // namespace

std::optional<RelatedPolicy> parse_related_policy(std::string_view text) {
  if (text == "link") return RelatedPolicy::link;
  if (text == "hold") return RelatedPolicy::hold;
  if (text == "plain") return RelatedPolicy::plain;
  return std::nullopt;
}

std::string_view to_string(RelatedPolicy policy) {
  switch (policy) {
    case RelatedPolicy::link: return "link";
    case RelatedPolicy::hold: return "hold";
    case RelatedPolicy::plain: return "plain";
  }
  return "link";
}

bool check_reporter_key_file(const DedupSettings& s, const YAML::Node& at, const std::string& file,
                             core::Diagnostics& diags) {
  if (s.reporter_key_file.empty()) return true;
  try {
    (void)mapping::functions::Pseudonymiser::from_key_file(s.reporter_key_file);
    return true;
  } catch (const std::exception& e) {
    const auto p = config::position_of(file, at);
    diags.error(p.file, p.line, p.column, std::string("dedup reporter_key_file: ") + e.what(),
                "dedup.bad_key_file");
    return false;
  }
}

const config::MapSpec& dedup_spec() { return kDedupSpec; }
const config::MapSpec& weights_spec() { return kWeightsSpec; }
const config::KeySpec& related_policy_key_spec() { return kRelatedPolicyKey; }

std::optional<DedupSettings> load_dedup_settings(const YAML::Node& node, const std::string& file,
                                                 core::Diagnostics& diags) {
  const std::size_t before = diags.items().size();
  DedupSettings s;
  if (!config::check_map(node, kDedupSpec, file, diags)) return std::nullopt;

  s.enabled = config::get_bool(node, "enabled", s.enabled);
  s.duplicate_window = config::get_duration(node, "duplicate_window", s.duplicate_window);
  s.time_window = config::get_duration(node, "time_window", s.time_window);
  s.retention = config::get_duration(node, "retention", s.retention);
  s.max_distance_m = get_number(node, "max_distance_m", s.max_distance_m, 1, 5000, file, diags);
  s.threshold = get_number(node, "threshold", s.threshold, 0, 1, file, diags);
  s.density_step = get_number(node, "density_step", s.density_step, 0, 1, file, diags);
  s.related_category_penalty =
      get_number(node, "related_category_penalty", s.related_category_penalty, 0, 1, file, diags);
  for (const char* key : {"duplicate_window", "time_window", "retention"}) {
    if (node[key] && config::get_duration(node, key, std::chrono::milliseconds(1)).count() <= 0) {
      auto p = config::position_of(file, node[key]);
      diags.error(p.file, p.line, p.column, std::string("dedup ") + key + " must be longer than 0",
                  "dedup.out_of_range");
    }
  }
  if (auto w = node["weights"]; w && config::check_map(w, kWeightsSpec, file, diags)) {
    s.weights.distance = get_number(w, "distance", s.weights.distance, 0, 1, file, diags);
    s.weights.time = get_number(w, "time", s.weights.time, 0, 1, file, diags);
    s.weights.text = get_number(w, "text", s.weights.text, 0, 1, file, diags);
    s.weights.place = get_number(w, "place", s.weights.place, 0, 1, file, diags);
    const double sum = s.weights.distance + s.weights.time + s.weights.text + s.weights.place;
    if (sum <= 0) {
      auto p = config::position_of(file, w);
      diags.error(p.file, p.line, p.column, "dedup weights must not all be 0", "dedup.out_of_range");
    }
  }
  if (auto rc = node["related_categories"]; rc && rc.IsMap()) {
    s.related_categories.clear();
    for (const auto& kv : rc) {
      std::string from;
      bool ok = scalar_string(kv.first, from);
      std::vector<std::string> to;
      for (const auto& item : config::items_of(kv.second)) {
        std::string t;
        if (scalar_string(item, t)) to.push_back(t);
        else ok = false;
      }
      if (!ok || to.empty()) {
        auto p = config::position_of(file, kv.second);
        diags.error(p.file, p.line, p.column,
                    "dedup related_categories: each category maps to a category or a list of categories",
                    "dedup.bad_relation");
        continue;
      }
      for (auto& t : to) s.related_categories.emplace_back(from, std::move(t));
    }
  }
  if (node["unlinked_categories"]) s.unlinked_categories = config::get_string_list(node, "unlinked_categories");
  s.reporter_key_file = config::get_string(node, "reporter_key_file", "");

  for (std::size_t i = before; i < diags.items().size(); ++i)
    if (diags.items()[i].severity == core::Severity::error) return std::nullopt;
  return s;
}

}  // namespace reportbridge::dedup
