#include "bridge/xml/schema_paths.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge::xml;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

// Two namespaces: urn:j (the root's) and urn:nc, with a repeated element, a
// substitution group with an abstract head, an abstract type with two
// derived types, a choice, a nillable element, an attribute in another
// namespace, and the same local name (Name) in both namespaces.
struct Fixture {
  TempDir dir;
  std::shared_ptr<const SchemaSet> set;
  std::unique_ptr<PathResolver> r;
  Fixture() {
    write_file(dir / "nc.xsd", R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:nc="urn:nc" targetNamespace="urn:nc" elementFormDefault="qualified">
  <xs:attribute name="id" type="xs:ID"/>
  <xs:element name="DateRepresentation" abstract="true"/>
  <xs:element name="Date" type="xs:date" substitutionGroup="nc:DateRepresentation"/>
  <xs:element name="DateTime" type="xs:dateTime" substitutionGroup="nc:DateRepresentation"/>
  <xs:element name="Name" type="xs:string"/>
  <xs:complexType name="PlaceType" abstract="true"><xs:sequence><xs:element ref="nc:Name" minOccurs="0"/></xs:sequence></xs:complexType>
  <xs:complexType name="AddressType"><xs:complexContent><xs:extension base="nc:PlaceType">
    <xs:sequence><xs:element name="Postcode">
      <xs:simpleType><xs:restriction base="xs:string"><xs:maxLength value="8"/><xs:pattern value="[A-Z0-9 ]+"/></xs:restriction></xs:simpleType>
    </xs:element></xs:sequence></xs:extension></xs:complexContent></xs:complexType>
  <xs:complexType name="GridType"><xs:complexContent><xs:extension base="nc:PlaceType">
    <xs:sequence><xs:element name="Easting" type="xs:int"/></xs:sequence></xs:extension></xs:complexContent></xs:complexType>
</xs:schema>)");
    write_file(dir / "j.xsd", R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:nc="urn:nc" xmlns:j="urn:j" targetNamespace="urn:j"
    elementFormDefault="qualified">
  <xs:import namespace="urn:nc" schemaLocation="nc.xsd"/>
  <xs:simpleType name="Level"><xs:restriction base="xs:string">
    <xs:enumeration value="LOW"/><xs:enumeration value="HIGH"/></xs:restriction></xs:simpleType>
  <xs:element name="Report"><xs:complexType><xs:sequence>
    <xs:element name="Name" type="xs:string"/>
    <xs:element ref="nc:Name" minOccurs="0"/>
    <xs:element name="Arrest" minOccurs="0" maxOccurs="3"><xs:complexType><xs:sequence>
      <xs:element ref="nc:DateRepresentation"/>
      <xs:element name="Charge" type="xs:string" maxOccurs="unbounded"/>
    </xs:sequence><xs:attribute ref="nc:id"/></xs:complexType></xs:element>
    <xs:element name="Place" type="nc:PlaceType" minOccurs="0"/>
    <xs:element name="Officer" type="xs:string" nillable="true" minOccurs="0"/>
    <xs:choice>
      <xs:element name="Level" type="j:Level"/>
      <xs:element name="Score" type="xs:int"/>
    </xs:choice>
    <xs:element name="Summary" type="xs:string" fixed="REPORT" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)");
    set = SchemaSet::load(dir / "j.xsd");
    r = std::make_unique<PathResolver>(set, *set->element({"urn:j", "Report"}),
                                       Namespaces{{"j", "urn:j"}, {"nc", "urn:nc"}});
  }
  PathError error(const std::string& path) const {
    auto res = r->resolve(path);
    if (res) FAIL("'" + path + "' resolved to " + res.path->canonical);
    return *res.error;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("paths resolve to the particle chain with element, type, occurs and namespace") {
  Fixture f;
  auto p = f.r->resolve("j:Arrest[2]/nc:DateTime");
  REQUIRE(p);
  REQUIRE(p.path->steps.size() == 2);
  CHECK(p.path->steps[0].element->name == QName{"urn:j", "Arrest"});
  CHECK(p.path->steps[0].index == 2);
  CHECK(p.path->steps[0].max_occurs == 3);
  CHECK(p.path->steps[1].element->name == QName{"urn:nc", "DateTime"});
  CHECK(p.path->steps[1].declared->name == QName{"urn:nc", "DateRepresentation"});
  CHECK(p.path->value_type->name.local == "dateTime");
  CHECK(p.path->canonical == "j:Arrest[2]/nc:DateTime");
  CHECK(p.path->required());

  auto attr = f.r->resolve("j:Arrest[1]/@nc:id");
  REQUIRE(attr);
  CHECK(attr.path->attribute->name == QName{"urn:nc", "id"});
  CHECK_FALSE(attr.path->required());

  auto typed = f.r->resolve("j:Place[xsi:type=nc:AddressType]/nc:Postcode");
  REQUIRE(typed);
  CHECK(typed.path->steps[0].xsi_type == f.set->type({"urn:nc", "AddressType"}));
  CHECK(typed.path->value_type->facets.max_length == 8u);

  auto nil = f.r->resolve("j:Officer/@xsi:nil");
  REQUIRE(nil);
  CHECK(nil.path->nil);

  auto each = f.r->resolve("j:Arrest[1]/j:Charge[*]");
  REQUIRE(each);
  CHECK(each.path->each());

  // Unprefixed steps match by local name when only one element has it.
  auto bare = f.r->resolve("Arrest[1]/Charge[1]");
  REQUIRE(bare);
  CHECK(bare.path->canonical == "j:Arrest[1]/j:Charge[1]");
  // One unprefixed name alone: the one element below the root with that name.
  auto leaf = f.r->resolve("Officer");
  REQUIRE(leaf);
  CHECK(leaf.path->canonical == "j:Officer");
}

TEST_CASE("each kind of path error says why, with candidates and suggestions") {
  Fixture f;
  SECTION("not in the schema, with the nearest valid paths") {
    auto e = f.error("j:Arest[1]/j:Charge[1]");
    CHECK(e.kind == PathErrorKind::not_in_schema);
    CHECK(e.step == 0);
    CHECK(e.message.find("'j:Arest[1]'") != std::string::npos);
    CHECK(contains(e.suggestions, "j:Arrest[1]/j:Charge[1]"));
  }
  SECTION("a part of the name finds the element whose name holds it") {
    auto set = SchemaSet::load(std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/psd_complaint.xsd");
    PathResolver r(set, *set->element({"urn:police-uk:psd:complaint:1.0", "Complaint"}),
                   {{"psd", "urn:police-uk:psd:complaint:1.0"}});
    auto res = r.resolve("psd:Complainant/psd:Email");
    REQUIRE_FALSE(res);
    REQUIRE_FALSE(res.error->suggestions.empty());
    CHECK(res.error->suggestions.front() == "psd:Complainant/psd:ComplainantEmail");
  }
  SECTION("other namespace: you wrote j, the element is in nc") {
    auto e = f.error("j:Arrest[1]/j:DateTime");
    CHECK(e.kind == PathErrorKind::other_namespace);
    CHECK(e.message.find("urn:j") != std::string::npos);
    CHECK(e.message.find("nc:DateTime") != std::string::npos);
  }
  SECTION("ambiguous unprefixed name") {
    auto e = f.error("Name");
    CHECK(e.kind == PathErrorKind::ambiguous);
    CHECK(e.candidates.size() == 2);
  }
  SECTION("repeated element without an index") {
    auto e = f.error("j:Arrest/j:Charge[1]");
    CHECK(e.kind == PathErrorKind::repeated);
    CHECK(e.message.find("[1]") != std::string::npos);
    CHECK(e.message.find("[*]") != std::string::npos);
  }
  SECTION("index above maxOccurs, or on an element that occurs once") {
    CHECK(f.error("j:Arrest[4]/j:Charge[1]").kind == PathErrorKind::not_repeated);
    CHECK(f.error("j:Officer[2]").kind == PathErrorKind::not_repeated);
  }
  SECTION("abstract element: the members are named") {
    auto e = f.error("j:Arrest[1]/nc:DateRepresentation");
    CHECK(e.kind == PathErrorKind::abstract);
    CHECK(e.candidates == std::vector<std::string>{"nc:Date", "nc:DateTime"});
  }
  SECTION("abstract type: the derived types are named") {
    auto e = f.error("j:Place/nc:Name");
    CHECK(e.kind == PathErrorKind::abstract);
    CHECK(e.candidates == std::vector<std::string>{"nc:AddressType", "nc:GridType"});
    CHECK(e.message.find("[xsi:type=") != std::string::npos);
  }
  SECTION("xsi:type that does not derive") {
    auto e = f.error("j:Place[xsi:type=j:Level]/nc:Name");
    CHECK(e.kind == PathErrorKind::bad_type);
    CHECK(contains(e.candidates, "nc:GridType"));
  }
  SECTION("unknown prefix, with the schema's own prefix as a hint") {
    Fixture g;
    PathResolver bare(g.set, *g.set->element({"urn:j", "Report"}), {});
    auto res = bare.resolve("nc:Name");
    REQUIRE_FALSE(res);
    CHECK(res.error->kind == PathErrorKind::unknown_prefix);
    CHECK(res.error->message.find("nc: urn:nc") != std::string::npos);
  }
  SECTION("no value of its own, not nillable, syntax") {
    CHECK(f.error("j:Arrest[1]").kind == PathErrorKind::no_value);
    CHECK(f.error("j:Name/@xsi:nil").kind == PathErrorKind::not_nillable);
    CHECK(f.error("j:Arrest[0]/j:Charge[1]").kind == PathErrorKind::syntax);
    CHECK(f.error("@nc:id/j:Name").kind == PathErrorKind::syntax);
    CHECK(f.error("j:Arrest[1]/j:Charge[*]/../x").kind == PathErrorKind::syntax);
  }
}

TEST_CASE("choice conflicts between paths are found") {
  Fixture f;
  auto a = f.r->resolve("j:Level");
  auto b = f.r->resolve("j:Score");
  auto c = f.r->resolve("j:Name");
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  const auto conflicts = f.r->choice_conflicts({&*a.path, &*b.path, &*c.path});
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0].kind == PathErrorKind::choice_conflict);
  CHECK(conflicts[0].message.find("'j:Level' and 'j:Score'") != std::string::npos);
}

TEST_CASE("enumeration lists every fillable path with required flags, types, facets and cardinality") {
  Fixture f;
  const auto paths = f.r->enumerate();
  const auto find = [&](const std::string& p) -> const PathInfo* {
    for (const auto& i : paths)
      if (i.path == p) return &i;
    return nullptr;
  };
  const PathInfo* name = find("j:Name");
  REQUIRE(name);
  CHECK(name->required);
  CHECK(name->required_from_root);
  CHECK(name->type == "xs:string");
  const PathInfo* charge = find("j:Arrest[1]/j:Charge[1]");
  REQUIRE(charge);
  CHECK(charge->required);              // whenever an Arrest is written
  CHECK_FALSE(charge->required_from_root);
  CHECK(charge->max_occurs == kUnbounded);
  REQUIRE(find("j:Arrest[1]/nc:Date"));  // members of the substitution group, not the abstract head
  CHECK(find("j:Arrest[1]/nc:DateRepresentation") == nullptr);
  REQUIRE(find("j:Arrest[1]/@nc:id"));
  const PathInfo* postcode = find("j:Place[xsi:type=nc:AddressType]/nc:Postcode");
  REQUIRE(postcode);
  CHECK(postcode->facets.find("maxLength: 8") != std::string::npos);
  const PathInfo* level = find("j:Level");
  REQUIRE(level);
  CHECK(level->in_choice);
  CHECK_FALSE(level->required);
  CHECK(level->facets == "enumeration: LOW|HIGH");
}

TEST_CASE("values are checked against the facets, the lexical space and fixed values") {
  Fixture f;
  CHECK_FALSE(f.r->check_value("j:Level", "HIGH"));
  CHECK(f.r->check_value("j:Level", "MEDIUM")->find("LOW|HIGH") != std::string::npos);
  CHECK(f.r->check_value("j:Place[xsi:type=nc:AddressType]/nc:Postcode", "TS1 3QYXX")->find("maxLength 8") !=
        std::string::npos);
  CHECK(f.r->check_value("j:Arrest[1]/nc:Date", "yesterday")->find("xs:date") != std::string::npos);
  CHECK(f.r->check_value("j:Summary", "OTHER")->find("fixes the value") != std::string::npos);
  CHECK_FALSE(f.r->check_value("j:Summary", "REPORT"));
  CHECK(f.r->check_value("j:Nope", "x")->find("not an element") != std::string::npos);
}

TEST_CASE("root elements are found by local name, prefix or {namespace}") {
  Fixture f;
  std::string why;
  CHECK(find_global_element(*f.set, "Report", {}, "", &why) == f.set->element({"urn:j", "Report"}));
  CHECK(find_global_element(*f.set, "j:Report", {{"j", "urn:j"}}, "", &why));
  CHECK(find_global_element(*f.set, "{urn:nc}Name", {}, "", &why));
  CHECK(find_global_element(*f.set, "Name", {}, "", &why) == f.set->element({"urn:nc", "Name"}));  // j:Name is local
  CHECK(find_global_element(*f.set, "Name", {}, "urn:j", &why) == nullptr);
  CHECK(find_global_element(*f.set, "Nope", {}, "", &why) == nullptr);
  CHECK(why.find("global elements:") != std::string::npos);
  CHECK(edit_distance("kitten", "sitting") == 3);
}
