#include "bridge/dedup/settings.hpp"

#include <catch2/catch.hpp>

namespace {

using reportbridge::dedup::load_dedup_settings;
using reportbridge::dedup::parse_related_policy;
using reportbridge::dedup::RelatedPolicy;

}  // namespace

TEST_CASE("a dedup section loads with every key", "[dedup]") {
  auto node = YAML::Load(R"(
enabled: true
duplicate_window: 5m
max_distance_m: 150
time_window: 90m
threshold: 0.55
density_step: 0.1
weights: {distance: 0.2, time: 0.3, text: 0.2, place: 0.3}
related_categories:
  noise: anti_social_behaviour
  drugs: [suspicious_activity, other]
related_category_penalty: 0.05
unlinked_categories: [police_feedback, other]
retention: 7d
reporter_key_file: /etc/reportbridge/dedup.key
)");
  reportbridge::core::Diagnostics diags;
  auto s = load_dedup_settings(node, "c.yaml", diags);
  INFO(diags.to_string());
  REQUIRE(s);
  CHECK(s->duplicate_window == std::chrono::minutes(5));
  CHECK(s->max_distance_m == 150);
  CHECK(s->time_window == std::chrono::minutes(90));
  CHECK(s->threshold == Approx(0.55));
  CHECK(s->density_step == Approx(0.1));
  CHECK(s->weights.place == Approx(0.3));
  CHECK(s->related_categories.size() == 3);
  CHECK(s->related_category_penalty == Approx(0.05));
  CHECK(s->unlinked_categories.size() == 2);
  CHECK(s->retention == std::chrono::hours(24 * 7));
  CHECK(s->reporter_key_file == "/etc/reportbridge/dedup.key");
}

TEST_CASE("defaults apply to missing keys", "[dedup]") {
  reportbridge::core::Diagnostics diags;
  auto s = load_dedup_settings(YAML::Load("{}"), "c.yaml", diags);
  REQUIRE(s);
  CHECK(s->max_distance_m == 200);
  CHECK(s->threshold == Approx(0.6));
  CHECK(s->density_step == Approx(0.08));
  CHECK(s->related_categories.size() == 4);
  CHECK(s->reporter_key_file.empty());
}

TEST_CASE("bad dedup settings are reported with their position", "[dedup]") {
  auto check_fails = [](const std::string& yaml, const std::string& code) {
    reportbridge::core::Diagnostics diags;
    auto s = load_dedup_settings(YAML::Load(yaml), "c.yaml", diags);
    INFO(yaml << "\n" << diags.to_string());
    CHECK_FALSE(s);
    CHECK(diags.to_string().find(code) != std::string::npos);
  };
  check_fails("threshold: 1.5", "dedup.out_of_range");
  check_fails("density_step: -0.1", "dedup.out_of_range");
  check_fails("max_distance_m: 0", "dedup.out_of_range");
  check_fails("weights: {distance: 0, time: 0, text: 0, place: 0}", "dedup.out_of_range");
  check_fails("retention: 0s", "dedup.out_of_range");
  check_fails("related_categories: {noise: {a: b}}", "dedup.bad_relation");
  check_fails("treshold: 0.5", "yaml.unknown_key");
  check_fails("weights: {speed: 1}", "yaml.unknown_key");
  check_fails("threshold: high", "c.yaml:1:");
}

TEST_CASE("related policies parse", "[dedup]") {
  CHECK(parse_related_policy("link") == RelatedPolicy::link);
  CHECK(parse_related_policy("hold") == RelatedPolicy::hold);
  CHECK(parse_related_policy("plain") == RelatedPolicy::plain);
  CHECK_FALSE(parse_related_policy("Link"));
  CHECK_FALSE(parse_related_policy(""));
  CHECK(reportbridge::dedup::to_string(RelatedPolicy::hold) == "hold");
  CHECK(reportbridge::dedup::related_policy_key_spec().one_of.size() == 3);
}
