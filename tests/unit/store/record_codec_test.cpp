// The outbox's record encoding: what goes in comes out, and damaged bytes are
// refused (never read past their end).
#include <catch2/catch.hpp>

#include "bridge/store/record_codec.hpp"

using namespace reportbridge;
namespace codec = store::codec;

namespace {

core::TargetRecord sample() {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01";
  r.version = 3;
  r.mapping = "npt_community_report";
  r.target = "npt_csv";
  r.fields = {{"Ref", std::string("6f1c2b7e")},
              {"Empty", std::string()},
              {"Absent", std::nullopt},
              {"Text", std::string("Łódź \xF0\x9F\x99\x8F \"quoted\"\r\n") + std::string(300, 'x')},
              {"Binary", std::string("\0\x01\xff", 3)}};
  r.attachments = {{"b0c4", "IMG_0042.jpg", "image/jpeg", 734211, "9f86d0", "2026/11/27/b0c4.jpg"},
                   {"", "", "", 0, "", ""}};
  return r;
}

bool same(const core::TargetRecord& a, const core::TargetRecord& b) {
  if (a.submission_id != b.submission_id || a.version != b.version || a.mapping != b.mapping ||
      a.target != b.target || a.fields.size() != b.fields.size() || a.attachments.size() != b.attachments.size())
    return false;
  for (std::size_t i = 0; i < a.fields.size(); ++i)
    if (a.fields[i].name != b.fields[i].name || a.fields[i].value != b.fields[i].value) return false;
  for (std::size_t i = 0; i < a.attachments.size(); ++i) {
    const auto &x = a.attachments[i], &y = b.attachments[i];
    if (x.id != y.id || x.filename != y.filename || x.media_type != y.media_type || x.size_bytes != y.size_bytes ||
        x.sha256 != y.sha256 || x.path != y.path)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a stand-alone record comes back as it went in, null and empty values apart") {
  const auto r = sample();
  core::TargetRecord back;
  REQUIRE(codec::decode_record(codec::encode_record(r), back));
  CHECK(same(r, back));
  CHECK(back.fields[1].value.has_value());
  CHECK_FALSE(back.fields[2].value.has_value());
}

TEST_CASE("values alone go with the shape's names, and their size is what a claim counts") {
  const auto r = sample();
  std::string values;
  codec::put_values(values, r);
  CHECK(values.size() == codec::values_size(r));
  std::vector<std::string> names;
  for (const auto& f : r.fields) names.push_back(f.name);
  core::TargetRecord back{r.submission_id, r.version, r.mapping, r.target, {}, {}};
  std::string_view in = values;
  REQUIRE(codec::get_values(in, names, back));
  CHECK(in.empty());
  CHECK(same(r, back));
}

TEST_CASE("a cut or damaged encoding is refused, at every length") {
  const std::string whole = codec::encode_record(sample());
  core::TargetRecord out;
  for (std::size_t n = 0; n < whole.size(); ++n) CHECK_FALSE(codec::decode_record(whole.substr(0, n), out));
  CHECK_FALSE(codec::decode_record(whole + "x", out));  // trailing bytes
  CHECK_FALSE(codec::decode_record("{\"submission_id\":\"x\"}", out));  // not this format
  // A length that claims more than there is.
  std::string lying = "R";
  codec::put_varint(lying, 1ull << 40);
  CHECK_FALSE(codec::decode_record(lying, out));
  // A varint that never ends.
  CHECK_FALSE(codec::decode_record(std::string("R") + std::string(20, '\xff'), out));
}
