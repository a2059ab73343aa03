#include "bridge/xml/schema_set.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "bridge/xml/schema_paths.hpp"
#include "bridge/xml/xsd_validator.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge::xml;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const std::string kRms = "urn:police-uk:rms:community-report:1.0";

std::vector<std::string> names(const TypeDef& t) {
  std::vector<std::string> out;
  for (const auto& s : t.slots) out.push_back(s.element ? s.element->name.local : "*");
  return out;
}

const ContentSlot* slot(const TypeDef& t, const std::string& local) {
  for (const auto& s : t.slots)
    if (s.element && s.element->name.local == local) return &s;
  return nullptr;
}

std::vector<std::string> value_paths(const std::shared_ptr<const SchemaSet>& set, const ElementDecl& root,
                                     const Namespaces& ns = {}) {
  PathResolver r(set, root, ns);
  EnumerateOptions o;
  o.include_repeated = false;
  std::vector<std::string> out;
  for (const auto& p : r.enumerate(o)) out.push_back(p.path);
  return out;
}

const char* kXsHeader = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" )";

}  // namespace

TEST_CASE("the RMS schema's structure is read in sequence order") {
  auto set = SchemaSet::load(test::schema_path("rms_community_report.xsd"));
  CHECK(set->target_namespace() == kRms);
  std::vector<std::string> globals;
  for (const auto* e : set->global_elements()) globals.push_back(e->name.local);
  CHECK(globals == std::vector<std::string>{"CommunityReport", "CommunityReportBatch", "CommunityReportAck"});

  const ElementDecl* report = set->element({kRms, "CommunityReport"});
  REQUIRE(report);
  const TypeDef& type = *report->type;
  CHECK(names(type) == std::vector<std::string>{"ExternalReference", "ExternalVersion", "RelatedReference", "Source",
                                                "ReportedAt", "CategoryCode", "Summary", "Narrative", "Occurred",
                                                "Location", "Reporter", "Attachments"});
  // elementFormDefault="qualified": local elements are in the target namespace.
  CHECK(slot(type, "Summary")->element->name.ns == kRms);
  CHECK(slot(type, "ExternalReference")->required);
  CHECK(slot(type, "ExternalReference")->element->type->holds_text());
  CHECK_FALSE(slot(type, "Narrative")->required);
  CHECK_FALSE(slot(type, "Location")->element->type->holds_text());

  const TypeDef& attachments = *slot(type, "Attachments")->element->type;
  const ContentSlot* attachment = slot(attachments, "Attachment");
  REQUIRE(attachment);
  CHECK(attachment->repeated());
  const TypeDef& at = *attachment->element->type;
  REQUIRE(at.attributes.size() == 4);
  CHECK(at.attributes[2].decl->name.local == "sha256");
  CHECK(at.attributes[2].decl->name.ns.empty());  // attributeFormDefault="unqualified"
  CHECK(at.attributes[0].required);
  // The xs:choice of Content / ContentReference: both optional, same choice, other branches.
  const ContentSlot* content = slot(at, "Content");
  const ContentSlot* reference = slot(at, "ContentReference");
  REQUIRE(content);
  REQUIRE(reference);
  CHECK_FALSE(content->required);
  REQUIRE(content->choices.size() == 1);
  CHECK(content->choices[0].choice == reference->choices[0].choice);
  CHECK(content->choices[0].branch != reference->choices[0].branch);

  // Facets are read and merged.
  const TypeDef* ext = slot(type, "ExternalReference")->element->type;
  CHECK(ext->facets.min_length == 1u);
  CHECK(ext->facets.max_length == 64u);
  CHECK(ext->primitive->name.local == "string");
  CHECK(slot(type, "Source")->element->type->facets.enumeration ==
        std::vector<std::string>{"PUBLIC_APP", "WEB", "PHONE"});

  // Element refs resolve to the referenced declaration.
  const ElementDecl* batch = set->element({kRms, "CommunityReportBatch"});
  REQUIRE(batch);
  REQUIRE(batch->type->slots.size() == 1);
  CHECK(batch->type->slots[0].element == report);
  CHECK(batch->type->slots[0].repeated());
}

TEST_CASE("field paths list values and attributes, not repeated content") {
  auto set = SchemaSet::load(test::schema_path("rms_community_report.xsd"));
  const auto paths = value_paths(set, *set->element({kRms, "CommunityReport"}));
  CHECK(paths.front() == "ExternalReference");
  CHECK(std::count(paths.begin(), paths.end(), "Location/Postcode") == 1);
  CHECK(std::count(paths.begin(), paths.end(), "Occurred/OccurredFrom") == 1);
  CHECK(std::count(paths.begin(), paths.end(), "Location") == 0);  // no value of its own
  CHECK(std::none_of(paths.begin(), paths.end(), [](const std::string& p) { return p.rfind("Attachments", 0) == 0; }));
  CHECK(value_paths(set, *set->element({kRms, "CommunityReportBatch"})) == std::vector<std::string>{"@batchKey", "@count"});
}

TEST_CASE("choice, all, groups, extensions and inline types") {
  TempDir dir;
  write_file(dir / "t.xsd", std::string(kXsHeader) + R"(xmlns:t="urn:t" targetNamespace="urn:t">
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
  auto set = SchemaSet::load(dir / "t.xsd");
  const ElementDecl* root = set->element({"urn:t", "Root"});
  REQUIRE(root);
  CHECK(names(*root->type) == std::vector<std::string>{"Id", "A", "B", "Email", "Phone", "Note"});
  CHECK(slot(*root->type, "Id")->element->name.ns.empty());  // elementFormDefault unqualified
  CHECK_FALSE(slot(*root->type, "A")->required);  // inside a choice
  CHECK(slot(*root->type, "Email")->required);
  CHECK(root->type->base == set->type({"urn:t", "Base"}));
  CHECK(root->type->derivation == Derivation::extension);
  CHECK(value_paths(set, *root) == std::vector<std::string>{"@kind", "Id", "A", "B", "Email", "Phone", "Note", "Note/@lang"});
}

TEST_CASE("unreadable and malformed XSDs are reported with file and line") {
  TempDir dir;
  CHECK_THROWS_WITH(SchemaSet::load(dir / "missing.xsd"), Catch::Contains("missing.xsd"));
  write_file(dir / "bad.xsd",
             "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:element name=\"A\">\n</xs:schema>\n");
  // A syntax error with line and column (libxml2's), as check and scaffold print it.
  CHECK_THROWS_WITH(SchemaSet::load(dir / "bad.xsd"),
                    Catch::Contains("bad.xsd:4:13: not well-formed XML: Opening and ending tag mismatch"));
  write_file(dir / "notxsd.xsd", "<root/>");
  CHECK_THROWS_WITH(SchemaSet::load(dir / "notxsd.xsd"), Catch::Contains("not xs:schema"));
  write_file(dir / "dangling.xsd", std::string(kXsHeader) + R"(xmlns:t="urn:t" targetNamespace="urn:t">
  <xs:element name="A" type="t:Missing"/>
</xs:schema>)");
  CHECK_THROWS_WITH(SchemaSet::load(dir / "dangling.xsd"),
                    Catch::Contains("dangling.xsd:3") && Catch::Contains("{urn:t}Missing"));
}

TEST_CASE("include, import, chameleon include, redefine, cycles and diamonds across files") {
  TempDir dir;
  std::filesystem::create_directories(dir / "common");
  // common/types.xsd: no targetNamespace, included as a chameleon by two namespaces.
  write_file(dir / "common/types.xsd", std::string(kXsHeader) + R"(>
  <xs:simpleType name="Code"><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{3}"/></xs:restriction></xs:simpleType>
  <xs:complexType name="Coded"><xs:sequence><xs:element name="Code" type="Code"/></xs:sequence></xs:complexType>
</xs:schema>)");
  // b.xsd imports a.xsd back (cycle), includes the chameleon.
  write_file(dir / "b.xsd", std::string(kXsHeader) + R"(xmlns:b="urn:b" xmlns:a="urn:a" targetNamespace="urn:b"
    elementFormDefault="qualified">
  <xs:include schemaLocation="common/types.xsd"/>
  <xs:import namespace="urn:a" schemaLocation="a.xsd"/>
  <xs:import namespace="urn:c" schemaLocation="c.xsd"/>
  <xs:element name="Person"><xs:complexType><xs:sequence>
    <xs:element name="Name" type="xs:string"/>
    <xs:element name="Kind" type="b:Code"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)");
  // c.xsd reached from a.xsd and b.xsd (diamond).
  write_file(dir / "c.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:c" elementFormDefault="qualified">
  <xs:element name="Note" type="xs:string"/>
</xs:schema>)");
  write_file(dir / "base.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:a" xmlns:a="urn:a">
  <xs:complexType name="Addr"><xs:sequence><xs:element name="Street" type="xs:string"/></xs:sequence></xs:complexType>
</xs:schema>)");
  write_file(dir / "a.xsd", std::string(kXsHeader) + R"(xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"
    targetNamespace="urn:a" elementFormDefault="qualified">
  <xs:include schemaLocation="common/types.xsd"/>
  <xs:import namespace="urn:b" schemaLocation="b.xsd"/>
  <xs:import namespace="urn:c" schemaLocation="./c.xsd"/>
  <xs:redefine schemaLocation="base.xsd">
    <xs:complexType name="Addr"><xs:complexContent><xs:extension base="a:Addr">
      <xs:sequence><xs:element name="Postcode" type="xs:string"/></xs:sequence>
    </xs:extension></xs:complexContent></xs:complexType>
  </xs:redefine>
  <xs:element name="Report"><xs:complexType><xs:sequence>
    <xs:element ref="b:Person"/>
    <xs:element name="Where" type="a:Addr"/>
    <xs:element name="Kind" type="a:Code"/>
    <xs:element ref="c:Note" minOccurs="0"/>
    <xs:element name="Item" type="a:Coded"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)");
  auto set = SchemaSet::load(dir / "a.xsd");
  CHECK(set->documents().size() == 6);  // a, chameleon in a, b, chameleon in b, c, base
  // The chameleon's components exist in both namespaces.
  REQUIRE(set->type({"urn:a", "Code"}));
  REQUIRE(set->type({"urn:b", "Code"}));
  CHECK(set->type({"urn:a", "Code"}) != set->type({"urn:b", "Code"}));
  CHECK(set->type({"", "Code"}) == nullptr);
  // Its own unprefixed reference (type="Code") moved into the includer's namespace.
  const TypeDef* coded = set->type({"urn:a", "Coded"});
  REQUIRE(coded);
  CHECK(coded->slots[0].element->type == set->type({"urn:a", "Code"}));
  CHECK(coded->slots[0].element->name.ns.empty());  // the chameleon document's own (unqualified) form

  const ElementDecl* report = set->element({"urn:a", "Report"});
  REQUIRE(report);
  CHECK(report->type->slots[0].element->name == QName{"urn:b", "Person"});
  CHECK(report->type->slots[3].element->name == QName{"urn:c", "Note"});
  // Redefinition: Addr = original Addr extended with Postcode.
  const TypeDef* addr = set->type({"urn:a", "Addr"});
  REQUIRE(addr);
  CHECK(names(*addr) == std::vector<std::string>{"Street", "Postcode"});

  // libxml2 compiles the same set, and a document using all of it validates.
  XsdValidator validator(set);
  PathResolver r(set, *report, {{"a", "urn:a"}, {"b", "urn:b"}, {"c", "urn:c"}});
  auto person_kind = r.resolve("b:Person/b:Kind");
  REQUIRE(person_kind);
  CHECK(person_kind.path->value_type == set->type({"urn:b", "Code"}));
  CHECK(r.check_value("b:Person/b:Kind", "ABC") == std::nullopt);
  CHECK(r.check_value("b:Person/b:Kind", "abc")->find("pattern") != std::string::npos);
}

TEST_CASE("network schemaLocations are refused with file and line, and never fetched") {
  TempDir dir;
  write_file(dir / "remote.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:r">

  <xs:import namespace="urn:other" schemaLocation="https://schemas.example.org/other.xsd"/>
</xs:schema>)");
  CHECK_THROWS_WITH(SchemaSet::load(dir / "remote.xsd"),
                    Catch::Contains("remote.xsd:4") && Catch::Contains("network location") &&
                        Catch::Contains("https://schemas.example.org/other.xsd"));
  CHECK_THROWS_WITH(XsdValidator(dir / "remote.xsd"), Catch::Contains("network location"));
  // The XML namespace's schema is built in: xml:lang works without fetching xml.xsd.
  write_file(dir / "lang.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:l" elementFormDefault="qualified">
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="http://www.w3.org/2001/xml.xsd"/>
  <xs:element name="Text"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
    <xs:attribute ref="xml:lang"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
</xs:schema>)");
  auto set = SchemaSet::load(dir / "lang.xsd");
  const ElementDecl* text = set->element({"urn:l", "Text"});
  REQUIRE(text);
  REQUIRE(text->type->attributes.size() == 1);
  CHECK(text->type->attributes[0].decl->name == QName{kXmlNamespace, "lang"});
  XsdValidator validator(set);
  const std::string text_doc = "<Text xmlns=\"urn:l\" xml:lang=\"cy\">Helo</Text>";
  DocPtr doc(xmlReadMemory(text_doc.data(), static_cast<int>(text_doc.size()), nullptr, nullptr, 0));
  REQUIRE(doc);
  CHECK(validator.validate(*doc).empty());
}

TEST_CASE("substitution groups, abstract elements and types, nillable, wildcards") {
  TempDir dir;
  write_file(dir / "s.xsd", std::string(kXsHeader) + R"(xmlns:s="urn:s" targetNamespace="urn:s"
    elementFormDefault="qualified">
  <xs:element name="DateRepresentation" abstract="true"/>
  <xs:element name="Date" type="xs:date" substitutionGroup="s:DateRepresentation"/>
  <xs:element name="DateTime" type="xs:dateTime" substitutionGroup="s:DateRepresentation" nillable="true"/>
  <xs:complexType name="PlaceType" abstract="true"><xs:sequence><xs:element name="Name" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType>
  <xs:complexType name="AddressType"><xs:complexContent><xs:extension base="s:PlaceType">
    <xs:sequence><xs:element name="Street" type="xs:string"/></xs:sequence></xs:extension></xs:complexContent></xs:complexType>
  <xs:complexType name="GridType"><xs:complexContent><xs:extension base="s:PlaceType">
    <xs:sequence><xs:element name="Easting" type="xs:int"/></xs:sequence></xs:extension></xs:complexContent></xs:complexType>
  <xs:element name="Event"><xs:complexType><xs:sequence>
    <xs:element ref="s:DateRepresentation" maxOccurs="unbounded"/>
    <xs:element name="Place" type="s:PlaceType" minOccurs="0"/>
    <xs:any namespace="##other" processContents="lax" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)");
  auto set = SchemaSet::load(dir / "s.xsd");
  const ElementDecl* head = set->element({"urn:s", "DateRepresentation"});
  REQUIRE(head);
  CHECK(head->abstract);
  std::vector<std::string> members;
  for (const auto* m : head->substitutes()) members.push_back(m->name.local);
  CHECK(members == std::vector<std::string>{"Date", "DateTime"});
  CHECK(set->element({"urn:s", "DateTime"})->nillable);
  const TypeDef* place = set->type({"urn:s", "PlaceType"});
  REQUIRE(place);
  CHECK(place->abstract);
  std::vector<std::string> derived;
  for (const auto* d : place->all_derived(true)) derived.push_back(d->name.local);
  CHECK(derived == std::vector<std::string>{"AddressType", "GridType"});
  const TypeDef* event = set->element({"urn:s", "Event"})->type;
  REQUIRE(event->slots.size() == 3);
  REQUIRE(event->slots[2].wildcard);
  CHECK(event->slots[2].wildcard->describe() == "##other");
  CHECK(event->slots[2].wildcard->allows("urn:x"));
  CHECK_FALSE(event->slots[2].wildcard->allows("urn:s"));
}

TEST_CASE("simple types: facets, lists, unions and built-in lexical spaces") {
  TempDir dir;
  write_file(dir / "v.xsd", std::string(kXsHeader) + R"(xmlns:v="urn:v" targetNamespace="urn:v">
  <xs:simpleType name="Code"><xs:restriction base="xs:token"><xs:enumeration value="A1"/><xs:enumeration value="B2"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Short"><xs:restriction base="xs:string"><xs:minLength value="2"/><xs:maxLength value="5"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Shorter"><xs:restriction base="v:Short"><xs:maxLength value="3"/><xs:pattern value="[a-z]+"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Age"><xs:restriction base="xs:integer"><xs:minInclusive value="0"/><xs:maxExclusive value="130"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Money"><xs:restriction base="xs:decimal"><xs:totalDigits value="6"/><xs:fractionDigits value="2"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Codes"><xs:list itemType="v:Code"/></xs:simpleType>
  <xs:simpleType name="TwoCodes"><xs:restriction base="v:Codes"><xs:length value="2"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="AgeOrUnknown"><xs:union memberTypes="v:Age"><xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value="unknown"/></xs:restriction></xs:simpleType></xs:union></xs:simpleType>
  <xs:simpleType name="Day"><xs:restriction base="xs:date"><xs:minInclusive value="2000-01-01"/></xs:restriction></xs:simpleType>
</xs:schema>)");
  auto set = SchemaSet::load(dir / "v.xsd");
  const auto check = [&](const char* type, const char* value) { return check_simple_value(*set->type({"urn:v", type}), value); };
  CHECK_FALSE(check("Code", "A1"));
  CHECK_FALSE(check("Code", "  B2 "));  // xs:token collapses
  CHECK(check("Code", "C3")->find("enumerated") != std::string::npos);
  CHECK_FALSE(check("Short", "abcde"));
  CHECK(check("Short", "abcdef")->find("maxLength 5") != std::string::npos);
  CHECK(check("Short", "a")->find("minLength 2") != std::string::npos);
  CHECK(set->type({"urn:v", "Shorter"})->facets.max_length == 3u);
  CHECK(set->type({"urn:v", "Shorter"})->facets.min_length == 2u);  // inherited
  CHECK(check("Shorter", "abcd")->find("maxLength 3") != std::string::npos);
  CHECK(check("Shorter", "AB")->find("pattern") != std::string::npos);
  CHECK_FALSE(check("Age", "129"));
  CHECK(check("Age", "130")->find("maxExclusive 130") != std::string::npos);
  CHECK(check("Age", "-1")->find("minInclusive 0") != std::string::npos);
  CHECK(check("Age", "twelve")->find("xs:integer") != std::string::npos);
  CHECK_FALSE(check("Money", "1234.56"));
  CHECK(check("Money", "123.456")->find("fractionDigits") != std::string::npos);
  CHECK(check("Money", "1234567")->find("totalDigits") != std::string::npos);
  CHECK_FALSE(check("Codes", "A1 B2 A1"));
  CHECK(check("Codes", "A1 Z9")->find("item 2") != std::string::npos);
  CHECK(check("TwoCodes", "A1")->find("items") != std::string::npos);
  CHECK_FALSE(check("AgeOrUnknown", "42"));
  CHECK_FALSE(check("AgeOrUnknown", "unknown"));
  CHECK(check("AgeOrUnknown", "old"));
  CHECK_FALSE(check("Day", "2026-11-27"));
  CHECK(check("Day", "1999-12-31")->find("minInclusive") != std::string::npos);
  CHECK(check("Day", "27/11/2026")->find("xs:date") != std::string::npos);
  // Messages never quote the value.
  CHECK(check("Short", "secret-value")->find("secret") == std::string::npos);
}

TEST_CASE("recursive types load and enumerate without looping") {
  TempDir dir;
  write_file(dir / "r.xsd", std::string(kXsHeader) + R"(xmlns:r="urn:r" targetNamespace="urn:r" elementFormDefault="qualified">
  <xs:complexType name="Node"><xs:sequence>
    <xs:element name="Label" type="xs:string"/>
    <xs:element name="Child" type="r:Node" minOccurs="0"/>
  </xs:sequence></xs:complexType>
  <xs:element name="Tree" type="r:Node"/>
</xs:schema>)");
  auto set = SchemaSet::load(dir / "r.xsd");
  const ElementDecl* tree = set->element({"urn:r", "Tree"});
  REQUIRE(tree);
  PathResolver r(set, *tree, {});
  EnumerateOptions o;
  o.max_depth = 4;
  const auto paths = r.enumerate(o);
  CHECK_FALSE(paths.empty());
  CHECK(paths.size() < 10);
  CHECK(r.resolve("Child/Child/Child/Child/Child/Label"));  // any depth resolves
}

TEST_CASE("schemas embedded in a WSDL import each other by namespace and inherit its declarations") {
  TempDir dir;
  write_file(dir / "common.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:common" elementFormDefault="qualified">
  <xs:simpleType name="Ref"><xs:restriction base="xs:string"><xs:maxLength value="12"/></xs:restriction></xs:simpleType>
</xs:schema>)");
  write_file(dir / "svc.wsdl", R"(<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:m="urn:msg" xmlns:t="urn:types" xmlns:c="urn:common" targetNamespace="urn:svc">
  <wsdl:types>
    <xs:schema targetNamespace="urn:msg" elementFormDefault="qualified">
      <xs:import namespace="urn:types"/>
      <xs:element name="Submit"><xs:complexType><xs:sequence>
        <xs:element name="Record" type="t:Record"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:schema>
    <xs:schema targetNamespace="urn:types" elementFormDefault="qualified">
      <xs:import namespace="urn:common" schemaLocation="common.xsd"/>
      <xs:complexType name="Record"><xs:sequence>
        <xs:element name="Id" type="c:Ref"/>
      </xs:sequence></xs:complexType>
    </xs:schema>
  </wsdl:types>
</wsdl:definitions>)");
  auto set = SchemaSet::load(dir / "svc.wsdl");
  CHECK(set->from_wsdl());
  CHECK(set->target_namespace() == "urn:msg");
  const ElementDecl* submit = set->element({"urn:msg", "Submit"});
  REQUIRE(submit);
  const TypeDef* record = submit->type->slots[0].element->type;
  REQUIRE(record == set->type({"urn:types", "Record"}));
  CHECK(record->slots[0].element->name == QName{"urn:types", "Id"});
  CHECK(record->slots[0].element->type->facets.max_length == 12u);
  CHECK(record->where.file.find("svc.wsdl#schema2") != std::string::npos);

  XsdValidator validator(set);
  const std::string ok = R"(<m:Submit xmlns:m="urn:msg" xmlns:t="urn:types"><m:Record><t:Id>ABC-1</t:Id></m:Record></m:Submit>)";
  const std::string bad = R"(<m:Submit xmlns:m="urn:msg" xmlns:t="urn:types"><m:Record><t:Id>ABCDEFGHIJKLMNOP</t:Id></m:Record></m:Submit>)";
  DocPtr good_doc(xmlReadMemory(ok.data(), static_cast<int>(ok.size()), nullptr, nullptr, 0));
  DocPtr bad_doc(xmlReadMemory(bad.data(), static_cast<int>(bad.size()), nullptr, nullptr, 0));
  CHECK(validator.validate(*good_doc).empty());
  const auto errors = validator.validate(*bad_doc);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("maxLength") != std::string::npos);
}

TEST_CASE("schema compile errors come back in the exception, never on stderr") {
  TempDir dir;
  // Well-formed, loadable by the model, but invalid for libxml2 (a type
  // restricting a type that is not derivable that way).
  write_file(dir / "invalid.xsd", std::string(kXsHeader) + R"(targetNamespace="urn:i" xmlns:i="urn:i">
  <xs:simpleType name="N"><xs:restriction base="xs:int"><xs:maxLength value="3"/></xs:restriction></xs:simpleType>
  <xs:element name="E" type="i:N"/>
</xs:schema>)");
  // Capture stderr while compiling.
  std::fflush(stderr);
  const int saved = dup(2);
  const auto capture = dir / "stderr.txt";
  FILE* f = std::fopen(capture.c_str(), "w");
  REQUIRE(f);
  dup2(fileno(f), 2);
  std::string message;
  try {
    XsdValidator v(dir / "invalid.xsd");
  } catch (const std::exception& e) {
    message = e.what();
  }
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(f);
  CHECK(message.find("invalid.xsd") != std::string::npos);
  CHECK(message.find("maxLength") != std::string::npos);
  CHECK(reportbridge::testing::read_file(capture).empty());
}
