#include <catch2/catch.hpp>

#include "bridge/core/record.hpp"

using namespace reportbridge::core;

TEST_CASE("target record survives a JSON round trip, nulls and order kept") {
  TargetRecord r;
  r.submission_id = "6f1c2b7e";
  r.version = 3;
  r.mapping = "npt";
  r.target = "npt_csv";
  r.fields = {{"B", std::string("zeta \"quoted\" ✓")}, {"A", std::nullopt}, {"C", std::string("")}};
  r.attachments = {{"a1", "IMG.jpg", "image/jpeg", 42, "ab12", "2026/11/a1.jpg"}};
  TargetRecord back;
  REQUIRE(from_json(to_json(r), back));
  REQUIRE(back.submission_id == "6f1c2b7e");
  REQUIRE(back.version == 3);
  REQUIRE(back.fields.size() == 3);
  CHECK(back.fields[0].name == "B");
  CHECK(*back.fields[0].value == "zeta \"quoted\" ✓");
  CHECK_FALSE(back.fields[1].value.has_value());
  CHECK(back.fields[2].value == std::string(""));
  REQUIRE(back.attachments.size() == 1);
  CHECK(back.attachments[0].size_bytes == 42);
  CHECK(back.attachments[0].path == "2026/11/a1.jpg");
  CHECK(back.find("A") != nullptr);
  CHECK(back.find("Z") == nullptr);
}

TEST_CASE("malformed record JSON is refused") {
  TargetRecord out;
  CHECK_FALSE(from_json("{", out));
  CHECK_FALSE(from_json("[]", out));
  CHECK_FALSE(from_json(R"({"version":"x","fields":[]})", out));
}
