#include "bridge/xml/schema_shape.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge::xml;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {
std::vector<std::string> names(const ElementShape& e) {
  std::vector<std::string> out;
  for (const auto& c : e.children) out.push_back(c.name);
  return out;
}
}  // namespace

TEST_CASE("the RMS schema's structure is read in sequence order") {
  auto shape = SchemaShape::load(test::schema_path("rms_community_report.xsd"));
  CHECK(shape->target_namespace() == "urn:police-uk:rms:community-report:1.0");
  CHECK(shape->elements_qualified());
  CHECK_FALSE(shape->attributes_qualified());
  CHECK(shape->global_elements() ==
        std::vector<std::string>{"CommunityReport", "CommunityReportBatch", "CommunityReportAck"});

  const ElementShape* report = shape->element("CommunityReport");
  REQUIRE(report);
  CHECK(names(*report) == std::vector<std::string>{"ExternalReference", "ExternalVersion", "RelatedReference",
                                                   "Source", "ReportedAt", "CategoryCode", "Summary",
                                                   "Narrative", "Occurred", "Location", "Reporter",
                                                   "Attachments"});
  CHECK(report->child("ExternalReference")->required);
  CHECK(report->child("ExternalReference")->has_text);
  CHECK_FALSE(report->child("Narrative")->required);
  CHECK_FALSE(report->child("Location")->has_text);

  const ElementShape* attachment = report->child("Attachments")->child("Attachment");
  REQUIRE(attachment);
  CHECK(attachment->repeated);
  CHECK(attachment->has_attribute("sha256"));
  CHECK(attachment->attributes.size() == 4);
  CHECK(attachment->attributes[0].required);

  // Element refs resolve to the referenced declaration.
  const ElementShape* batch = shape->element("CommunityReportBatch");
  REQUIRE(batch);
  REQUIRE(batch->children.size() == 1);
  CHECK(batch->children[0].name == "CommunityReport");
  CHECK(batch->children[0].repeated);
  CHECK(batch->children[0].children.size() == report->children.size());
}

TEST_CASE("field paths list values and attributes, not repeated content") {
  auto shape = SchemaShape::load(test::schema_path("rms_community_report.xsd"));
  const auto paths = shape->field_paths("CommunityReport");
  CHECK(paths.front() == "ExternalReference");
  CHECK(std::count(paths.begin(), paths.end(), "Location/Postcode") == 1);
  CHECK(std::count(paths.begin(), paths.end(), "Occurred/OccurredFrom") == 1);
  CHECK(std::count(paths.begin(), paths.end(), "Location") == 0);  // no value of its own
  CHECK(std::none_of(paths.begin(), paths.end(),
                     [](const std::string& p) { return p.rfind("Attachments", 0) == 0; }));
  CHECK(shape->field_paths("CommunityReportBatch") == std::vector<std::string>{"@batchKey", "@count"});
  CHECK(shape->field_paths("NoSuchElement").empty());
}

TEST_CASE("choice, all, groups, extensions and inline types") {
  TempDir dir;
  write_file(dir / "t.xsd", R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t">
  <xs:group name="Contact"><xs:sequence>
    <xs:element name="Email" type="xs:string"/><xs:element name="Phone" type="xs:string" minOccurs="0"/>
  </xs:sequence></xs:group>
  <xs:complexType name="Base"><xs:sequence><xs:element name="Id" type="xs:int"/></xs:sequence>
    <xs:attribute name="kind" type="xs:string"/></xs:complexType>
  <xs:element name="Root"><xs:complexType><xs:complexContent><xs:extension base="t:Base">
    <xs:sequence>
      <xs:choice><xs:element name="A" type="xs:string"/><xs:element name="B" type="xs:string"/></xs:choice>
      <xs:group ref="t:Contact"/>
      <xs:element name="Note"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute name="lang" type="xs:language"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
    </xs:sequence></xs:extension></xs:complexContent></xs:complexType></xs:element>
</xs:schema>)");
  auto shape = SchemaShape::load(dir / "t.xsd");
  CHECK_FALSE(shape->elements_qualified());
  const ElementShape* root = shape->element("Root");
  REQUIRE(root);
  CHECK(names(*root) == std::vector<std::string>{"Id", "A", "B", "Email", "Phone", "Note"});
  CHECK_FALSE(root->child("A")->required);  // inside a choice
  CHECK(root->child("Email")->required);
  CHECK(shape->field_paths("Root") ==
        std::vector<std::string>{"@kind", "Id", "A", "B", "Email", "Phone", "Note", "Note/@lang"});
}

TEST_CASE("unreadable and malformed XSDs are reported with file and line") {
  TempDir dir;
  CHECK_THROWS_WITH(SchemaShape::load(dir / "missing.xsd"), Catch::Contains("missing.xsd"));
  write_file(dir / "bad.xsd", "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:element name=\"A\">\n</xs:schema>\n");
  CHECK_THROWS_WITH(SchemaShape::load(dir / "bad.xsd"), Catch::Contains("line 4"));
  write_file(dir / "notxsd.xsd", "<root/>");
  CHECK_THROWS_WITH(SchemaShape::load(dir / "notxsd.xsd"), Catch::Contains("not xs:schema"));
}
