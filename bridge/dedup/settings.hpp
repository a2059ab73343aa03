#pragma once
// Settings of the deduplicator (the daemon config's `dedup:` section) and the
// per-target policy for related reports.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/config/yaml_spec.hpp"
#include "bridge/core/diagnostics.hpp"

namespace reportbridge::dedup {

// What a target does with a report judged related to an earlier one.
enum class RelatedPolicy {
  link,   // send it with a RelatedReference to the first report's legacy record
  hold,   // hold it for review (needs_review)
  plain,  // send it as if it were unrelated
};

// "link", "hold", "plain"; nullopt for anything else.
std::optional<RelatedPolicy> parse_related_policy(std::string_view text);
std::string_view to_string(RelatedPolicy policy);

// Weights of the related-report score; each term is in [0, 1].
struct ScoreWeights {
  double distance = 0.15;  // 1 - metres / max_distance_m
  double time = 0.35;      // 1 - |incident time difference| / time_window
  double text = 0.15;      // trigram similarity of summary + description
  double place = 0.35;     // trigram similarity of address + postcode
};

struct DedupSettings {
  bool enabled = true;
  // A same-content submission received this long after the first is a duplicate.
  std::chrono::milliseconds duplicate_window{std::chrono::minutes(10)};
  // Related reports: both gates must hold, then the score must reach threshold.
  double max_distance_m = 200;
  std::chrono::milliseconds time_window{std::chrono::hours(2)};
  double threshold = 0.6;
  // Where many earlier reports of the category pass the distance and time
  // gates (a busy street), the best of them is more likely to score high by
  // chance: the threshold rises by density_step * ln(candidates) (nothing with
  // one candidate).
  double density_step = 0.08;
  ScoreWeights weights;
  // Pairs of categories that may describe one incident (symmetric); a pair
  // scores related_category_penalty less than the same category.
  std::vector<std::pair<std::string, std::string>> related_categories{
      {"noise", "anti_social_behaviour"},
      {"vehicle_nuisance", "speeding"},
      {"drugs", "suspicious_activity"},
      {"vandalism", "hate_incident"}};
  double related_category_penalty = 0.1;
  // Categories never linked as related (not incidents at a place).
  std::vector<std::string> unlinked_categories{"police_feedback"};
  // Fingerprints, related-index rows, verdicts and reporter keys older than
  // this (by received time) are purged.
  std::chrono::milliseconds retention{std::chrono::hours(24 * 30)};
  // HMAC key file for reporter keys (chmod 600, >= 16 bytes); empty: no keys.
  std::string reporter_key_file;
};

// Spec of the `dedup:` map and of its `weights:` map (for check and docs).
const config::MapSpec& dedup_spec();
const config::MapSpec& weights_spec();
// The per-target key the lead adds to target specs: `related: link|hold|plain`.
const config::KeySpec& related_policy_key_spec();

// Reads a `dedup:` node (a map) into settings, reporting every problem with
// its position. Returns nullopt when anything was wrong. Missing keys keep the
// defaults. `related_categories` is a map: category -> category or list.
std::optional<DedupSettings> load_dedup_settings(const YAML::Node& node, const std::string& file,
                                                 core::Diagnostics& diags);

// Reads settings.reporter_key_file (a resolved path) as the Deduplicator will,
// under the rule of every secret file, and reports a problem at `at` (the
// reporter_key_file node) as an error [dedup.bad_key_file], so `check` finds
// it (exit 3) instead of the first run. False when the key is unusable.
bool check_reporter_key_file(const DedupSettings& settings, const YAML::Node& at, const std::string& file,
                             core::Diagnostics& diags);

}  // namespace reportbridge::dedup
