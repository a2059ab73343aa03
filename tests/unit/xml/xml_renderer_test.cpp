#include "bridge/xml/xml_renderer.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "bridge/xml/safe_parse.hpp"
#include "bridge/xml/xsd_validator.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge;
using namespace reportbridge::xml;

namespace {

const std::string kRmsNs = "urn:police-uk:rms:community-report:1.0";

XmlRenderer rms_renderer(XmlLayout layout = {}) {
  if (layout.root.empty()) layout.root = "CommunityReport";
  if (layout.attachments_path.empty()) layout.attachments_path = "Attachments/Attachment";
  return XmlRenderer(SchemaSet::load(test::schema_path("rms_community_report.xsd")), std::move(layout));
}

// 1-based line of the first occurrence of `needle`.
int line_of(const std::string& text, const std::string& needle) {
  const auto pos = text.find(needle);
  REQUIRE(pos != std::string::npos);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

void set(core::TargetRecord& r, const std::string& name, std::optional<std::string> value) {
  for (auto& f : r.fields)
    if (f.name == name) {
      f.value = std::move(value);
      return;
    }
  r.fields.push_back({name, std::move(value)});
}

}  // namespace

TEST_CASE("a realistic RMS record renders in schema order and validates") {
  const XmlRenderer renderer = rms_renderer();
  RenderResult result = renderer.render(test::rms_record());
  REQUIRE(result);
  const std::string text = to_string(*result.doc);

  CHECK(text.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CommunityReport xmlns=\"" + kRmsNs + "\">", 0) == 0);
  // Schema order, not the record's order.
  const char* order[] = {"<ExternalReference>", "<ExternalVersion>", "<Source>", "<ReportedAt>", "<CategoryCode>",
                         "<Summary>", "<Narrative>", "<Occurred>", "<OccurredFrom>", "<Ongoing>", "<Location>",
                         "<LocationDescription>", "<Postcode>", "<Easting>", "<Northing>", "<Reporter>",
                         "<Attachments>", "<Attachment "};
  std::size_t last = 0;
  for (const char* tag : order) {
    const auto pos = text.find(tag);
    INFO(tag);
    REQUIRE(pos != std::string::npos);
    CHECK(pos > last);
    last = pos;
  }
  CHECK(text.find("OccurredTo") == std::string::npos);        // nullopt omitted
  CHECK(text.find("RelatedReference") == std::string::npos);  // not in the record
  // Escaped by libxml2, not concatenated.
  CHECK(text.find("&lt;aged ~15&gt; &amp; throwing") != std::string::npos);
  CHECK(text.find("<Attachment id=\"b0c4e1d2-0001\" mediaType=\"image/jpeg\" sha256=\"9f86d081") != std::string::npos);
  CHECK(text.find("size=\"734211\"><FileName>IMG_0042.jpg</FileName>") == std::string::npos);  // pretty: own line
  CHECK(text.find("<FileName>IMG_0042.jpg</FileName>") != std::string::npos);
  CHECK(text.find("StoredFile") == std::string::npos);  // no stored names given

  XsdValidator validator(test::schema_path("rms_community_report.xsd"));
  const auto errors = validator.validate(*result.doc);
  CHECK(join_errors(errors).empty());

  // Round trip: the rendered text parses and reads back.
  ParseResult parsed = parse_untrusted(text);
  REQUIRE(parsed);
  CHECK(xpath_first_string(*parsed.doc, "/r:CommunityReport/r:Location/r:Easting", {{"r", kRmsNs}}) == "449532");
  CHECK(validator.validate(*parsed.doc).empty());
}

TEST_CASE("compact output, stored names, attachments without the container when none") {
  const XmlRenderer renderer = rms_renderer();
  auto record = test::rms_record();
  record.attachments.push_back(test::photo("b0c4e1d2-0002"));
  RenderExtras extras;
  extras.stored_names = {"6f1c_v2_1.jpg", "6f1c_v2_2.jpg"};
  RenderResult result = renderer.render(record, extras);
  REQUIRE(result);
  const std::string compact = to_string(*result.doc, Format::compact, false);
  CHECK(compact.find(">\n") == std::string::npos);  // the Narrative's own newline stays
  CHECK(compact.rfind("<CommunityReport", 0) == 0);
  CHECK(compact.find("<FileName>IMG_0042.jpg</FileName><StoredFile>6f1c_v2_2.jpg</StoredFile></Attachment></Attachments>") !=
        std::string::npos);

  record.attachments.clear();
  RenderResult none = renderer.render(record);
  REQUIRE(none);
  CHECK(to_string(*none.doc).find("Attachments") == std::string::npos);
}

TEST_CASE("attachment file names that XML cannot hold are made safe") {
  const XmlRenderer renderer = rms_renderer();
  auto record = test::rms_record();
  record.attachments[0].filename = std::string("IMG\x01_\xff.jpg");
  RenderResult result = renderer.render(record);
  REQUIRE(result);
  CHECK(to_string(*result.doc).find("<FileName>IMG\xEF\xBF\xBD_\xEF\xBF\xBD.jpg</FileName>") != std::string::npos);
}

TEST_CASE("prefix, explicit paths and attributes") {
  XmlLayout layout;
  layout.prefix = "rms";
  layout.fields = {{"Where", "Location/LocationDescription"}, {"Ref", "ExternalReference"}};
  const XmlRenderer renderer = rms_renderer(layout);
  core::TargetRecord r;
  r.fields = {{"Where", "High St"}, {"Ref", "abc"}, {"Summary", "s"}};
  RenderResult result = renderer.render(r);
  REQUIRE(result);
  const std::string text = to_string(*result.doc, Format::compact, false);
  CHECK(text == "<rms:CommunityReport xmlns:rms=\"" + kRmsNs +
                    "\"><rms:ExternalReference>abc</rms:ExternalReference><rms:Summary>s</rms:Summary>"
                    "<rms:Location><rms:LocationDescription>High St</rms:LocationDescription></rms:Location>"
                    "</rms:CommunityReport>");
  CHECK(renderer.unknown_fields({"Where", "Ref", "Postcode", "Location/Easting", "Nope", "Attachment"}) ==
        std::vector<std::string>{"Nope", "Attachment"});

  XmlLayout batch;
  batch.root = "CommunityReportBatch";
  XmlRenderer batch_renderer(SchemaSet::load(test::schema_path("rms_community_report.xsd")), batch);
  core::TargetRecord b;
  b.fields = {{"@batchKey", "k1"}, {"@count", "3"}};
  RenderResult br = batch_renderer.render(b);
  REQUIRE(br);
  CHECK(to_string(*br.doc, Format::compact, false) ==
        "<CommunityReportBatch xmlns=\"" + kRmsNs + "\" batchKey=\"k1\" count=\"3\"/>");
  CHECK(batch_renderer.allowed_field_paths() == std::vector<std::string>{"@batchKey", "@count"});
}

TEST_CASE("render errors name the field, never the value") {
  const XmlRenderer renderer = rms_renderer();
  auto record = test::rms_record();
  record.fields.push_back({"ShoeSize", "44"});
  RenderResult r1 = renderer.render(record);
  REQUIRE_FALSE(r1);
  CHECK(r1.error->code == "unknown_field");
  CHECK(r1.error->detail.find("ShoeSize") != std::string::npos);

  // With the reject policy, characters XML cannot hold fail the record.
  XmlLayout strict_layout;
  strict_layout.illegal_characters = IllegalCharacters::reject;
  const XmlRenderer strict = rms_renderer(strict_layout);
  record = test::rms_record();
  set(record, "Narrative", std::string("bad \xC3\x28 utf8"));
  RenderResult r2 = strict.render(record);
  REQUIRE_FALSE(r2);
  CHECK(r2.error->code == "invalid_utf8");
  CHECK(r2.error->detail == "field 'Narrative'");

  record = test::rms_record();
  set(record, "Summary", std::string("bell \x07 char"));
  RenderResult r3 = strict.render(record);
  REQUIRE_FALSE(r3);
  CHECK(r3.error->code == "invalid_xml_char");

  record = test::rms_record();
  record.fields.push_back({"Location/Postcode", "TS1 1AA"});
  RenderResult r4 = renderer.render(record);
  REQUIRE_FALSE(r4);
  CHECK(r4.error->code == "duplicate_field");
}

TEST_CASE("layouts that do not fit the schema are refused at construction") {
  auto shape = SchemaSet::load(test::schema_path("rms_community_report.xsd"));
  CHECK_THROWS_AS(XmlRenderer(shape, XmlLayout{"NoRoot"}), std::invalid_argument);
  CHECK_THROWS_WITH(XmlRenderer(shape, XmlLayout{"NoRoot"}), Catch::Contains("not a global element"));
  XmlLayout bad_field{"CommunityReport"};
  bad_field.fields = {{"X", "Location/Altitude"}};
  CHECK_THROWS_WITH(XmlRenderer(shape, bad_field), Catch::Contains("Location/Altitude"));
  XmlLayout not_repeated{"CommunityReport"};
  not_repeated.attachments_path = "Location";
  CHECK_THROWS_WITH(XmlRenderer(shape, not_repeated), Catch::Contains("not a repeated element"));
  XmlLayout bad_attachment_field{"CommunityReport"};
  bad_attachment_field.attachments_path = "Attachments/Attachment";
  bad_attachment_field.attachment_fields = {{"@checksum", AttachmentProperty::sha256}};
  CHECK_THROWS_WITH(XmlRenderer(shape, bad_attachment_field), Catch::Contains("@checksum"));
  XmlLayout twice{"CommunityReport"};
  twice.fields = {{"A", "Summary"}, {"B", "Summary"}};
  CHECK_THROWS_AS(XmlRenderer(shape, twice), std::invalid_argument);
  CHECK_THROWS_AS(XmlRenderer(nullptr, XmlLayout{"CommunityReport"}), std::invalid_argument);
}

TEST_CASE("invalid records are reported with libxml2's message and the line of the pretty document") {
  const XmlRenderer renderer = rms_renderer();
  XsdValidator validator(test::schema_path("rms_community_report.xsd"));

  SECTION("bad type") {
    auto record = test::rms_record();
    set(record, "Easting", "449532.5");
    RenderResult result = renderer.render(record);
    REQUIRE(result);
    const auto errors = validator.validate(*result.doc);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("Easting") != std::string::npos);
    CHECK(errors[0].message.find("'449532.5' is not a valid value") != std::string::npos);
    const std::string text = to_string(*result.doc);
    CHECK(errors[0].line == line_of(text, "<Easting>"));
    CHECK(errors[0].line > line_of(text, "They ran towards"));  // newline in text counted
  }
  SECTION("missing required element") {
    auto record = test::rms_record();
    set(record, "CategoryCode", std::nullopt);
    RenderResult result = renderer.render(record);
    REQUIRE(result);
    const auto errors = validator.validate(*result.doc);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors[0].message.find("Summary") != std::string::npos);
    CHECK(errors[0].message.find("CategoryCode") != std::string::npos);
    CHECK(errors[0].line == line_of(to_string(*result.doc), "<Summary>"));
    CHECK(errors[0].to_string().rfind("line " + std::to_string(errors[0].line) + ": ", 0) == 0);
  }
}

TEST_CASE("render_into appends under a foreign parent with its own namespace") {
  const XmlRenderer renderer = rms_renderer();
  DocPtr doc(xmlNewDoc(BAD_CAST "1.0"));
  xmlNode* envelope = xmlNewDocNode(doc.get(), nullptr, BAD_CAST "Envelope", nullptr);
  xmlNs* soap = xmlNewNs(envelope, BAD_CAST "http://schemas.xmlsoap.org/soap/envelope/", BAD_CAST "soap");
  xmlSetNs(envelope, soap);
  xmlDocSetRootElement(doc.get(), envelope);
  xmlNode* body = xmlNewChild(envelope, soap, BAD_CAST "Body", nullptr);

  auto into = renderer.render_into(*body, test::rms_record());
  REQUIRE(into.element);
  CHECK(into.element->parent == body);
  const std::string text = to_string(*doc, Format::compact, false);
  CHECK(text.find("<soap:Body><CommunityReport xmlns=\"" + kRmsNs + "\"><ExternalReference>") != std::string::npos);

  XsdValidator validator(test::schema_path("rms_community_report.xsd"));
  CHECK(validator.validate(*into.element).empty());

  auto record = test::rms_record();
  record.fields.push_back({"Bogus", "1"});
  auto failed = renderer.render_into(*body, record);
  CHECK_FALSE(failed.element);
  CHECK(failed.error->code == "unknown_field");
  CHECK(xmlChildElementCount(body) == 1);  // nothing appended
}

TEST_CASE("a PSD complaint renders nested groups from flat field names and validates") {
  XmlLayout layout{"Complaint"};
  layout.attachments_path = "Attachments/Attachment";
  XmlRenderer renderer(SchemaSet::load(test::schema_path("psd_complaint.xsd")), layout);
  XsdValidator validator(test::schema_path("psd_complaint.xsd"));
  auto record = test::psd_record();
  record.attachments = {test::photo()};
  RenderResult result = renderer.render(record);
  REQUIRE(result);
  const std::string text = to_string(*result.doc);
  CHECK(text.find("<Complainant>\n    <Anonymous>false</Anonymous>\n    <ComplainantName>Jan Kowalski") !=
        std::string::npos);
  CHECK(text.find("Łódź — 北京 — مرحبا") != std::string::npos);
  CHECK(join_errors(validator.validate(*result.doc)).empty());

  set(record, "ReceivedAt", "27/11/2026 18:42");  // not an xs:dateTime
  RenderResult bad = renderer.render(record);
  REQUIRE(bad);
  const auto errors = validator.validate(*bad.doc);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("xs:dateTime") != std::string::npos);
  CHECK(errors[0].line == line_of(to_string(*bad.doc), "<ReceivedAt>"));
}

TEST_CASE("one renderer and one validator serve several threads") {
  const XmlRenderer renderer = rms_renderer();
  const XsdValidator validator(test::schema_path("rms_community_report.xsd"));
  std::atomic<int> valid{0}, invalid{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto record = test::rms_record();
        if ((i + t) % 2) set(record, "Northing", "north");
        RenderResult r = renderer.render(record);
        (validator.validate(*r.doc).empty() ? valid : invalid)++;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(valid == 400);
  CHECK(invalid == 400);
}

// ---------------------------------------------------------------------------
// Multi-namespace documents

namespace {

const char* kIncidentXsd = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:nc="urn:nc" xmlns:j="urn:j"
    targetNamespace="urn:j" elementFormDefault="qualified" attributeFormDefault="unqualified">
  <xs:import namespace="urn:nc" schemaLocation="nc.xsd"/>
  <xs:complexType name="ArrestType"><xs:sequence>
    <xs:element ref="nc:ActivityDateRepresentation" minOccurs="0"/>
    <xs:element name="ArrestCharge" type="xs:string" maxOccurs="unbounded"/>
    <xs:element name="Officer" type="xs:string" minOccurs="0" nillable="true"/>
  </xs:sequence><xs:attribute ref="nc:id"/></xs:complexType>
  <xs:complexType name="ReportType"><xs:sequence>
    <xs:element ref="nc:Incident"/>
    <xs:element name="Arrest" type="j:ArrestType" minOccurs="0" maxOccurs="unbounded"/>
    <xs:element name="Location" type="nc:LocationType" minOccurs="0"/>
    <xs:choice minOccurs="0">
      <xs:element name="Summary" type="xs:string"/>
      <xs:element name="Withheld" type="xs:boolean"/>
    </xs:choice>
    <xs:element name="Local" form="unqualified" type="xs:string" minOccurs="0"/>
  </xs:sequence><xs:attribute name="version" type="xs:string"/></xs:complexType>
  <xs:element name="Report" type="j:ReportType"/>
</xs:schema>)";

const char* kNcXsd = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:nc="urn:nc" targetNamespace="urn:nc"
    elementFormDefault="qualified">
  <xs:attribute name="id" type="xs:ID"/>
  <xs:element name="ActivityDateRepresentation" abstract="true"/>
  <xs:element name="ActivityDate" type="xs:date" substitutionGroup="nc:ActivityDateRepresentation"/>
  <xs:element name="ActivityDateTime" type="xs:dateTime" substitutionGroup="nc:ActivityDateRepresentation"/>
  <xs:complexType name="IncidentType"><xs:sequence>
    <xs:element name="IncidentText" type="xs:string"/>
    <xs:element ref="nc:ActivityDateRepresentation" minOccurs="0"/>
  </xs:sequence></xs:complexType>
  <xs:element name="Incident" type="nc:IncidentType"/>
  <xs:complexType name="LocationType" abstract="true"><xs:sequence>
    <xs:element name="LocationName" type="xs:string" minOccurs="0"/>
  </xs:sequence></xs:complexType>
  <xs:complexType name="AddressType"><xs:complexContent><xs:extension base="nc:LocationType">
    <xs:sequence><xs:element name="Postcode" type="xs:string"/></xs:sequence>
  </xs:extension></xs:complexContent></xs:complexType>
</xs:schema>)";

struct IncidentSchema {
  reportbridge::testing::TempDir dir;
  std::shared_ptr<const SchemaSet> set;
  IncidentSchema() {
    reportbridge::testing::write_file(dir / "j.xsd", kIncidentXsd);
    reportbridge::testing::write_file(dir / "nc.xsd", kNcXsd);
    set = SchemaSet::load(dir / "j.xsd");
  }
};

XmlLayout incident_layout() {
  XmlLayout layout;
  layout.root = "j:Report";
  layout.namespaces = {{"j", "urn:j"}, {"nc", "urn:nc"}};
  return layout;
}

}  // namespace

TEST_CASE("a multi-namespace record: prefixes from the map, repeated elements, substitution, xsi:type, nil") {
  IncidentSchema s;
  XmlRenderer renderer(s.set, incident_layout());
  XsdValidator validator(s.set);
  core::TargetRecord r;
  r.fields = {
      {"j:Arrest[2]/j:ArrestCharge[1]", "Theft"},
      {"nc:Incident/nc:IncidentText", "Stones thrown at a bus"},
      {"nc:Incident/nc:ActivityDateTime", "2026-11-27T18:15:00"},
      {"j:Arrest[1]/j:ArrestCharge[*]", R"(["Criminal damage", "Assault"])"},
      {"j:Arrest[1]/@nc:id", "A1"},
      {"j:Arrest[1]/nc:ActivityDate", "2026-11-28"},
      {"j:Arrest[1]/j:Officer/@xsi:nil", "true"},
      {"j:Location[xsi:type=nc:AddressType]/nc:Postcode", "TS1 3QY"},
      {"@version", "4.0"},
      {"j:Summary", std::nullopt},
      {"Local", "unqualified"},
  };
  RenderResult result = renderer.render(r);
  if (!result) FAIL(result.error->code + ": " + result.error->detail);
  const std::string text = to_string(*result.doc, Format::compact, false);
  CHECK(text ==
        "<j:Report xmlns:j=\"urn:j\" xmlns:nc=\"urn:nc\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
        "version=\"4.0\">"
        "<nc:Incident><nc:IncidentText>Stones thrown at a bus</nc:IncidentText>"
        "<nc:ActivityDateTime>2026-11-27T18:15:00</nc:ActivityDateTime></nc:Incident>"
        "<j:Arrest nc:id=\"A1\"><nc:ActivityDate>2026-11-28</nc:ActivityDate>"
        "<j:ArrestCharge>Criminal damage</j:ArrestCharge><j:ArrestCharge>Assault</j:ArrestCharge>"
        "<j:Officer xsi:nil=\"true\"/></j:Arrest>"
        "<j:Arrest><j:ArrestCharge>Theft</j:ArrestCharge></j:Arrest>"
        "<j:Location xsi:type=\"nc:AddressType\"><nc:Postcode>TS1 3QY</nc:Postcode></j:Location>"
        "<Local>unqualified</Local></j:Report>");
  CHECK(join_errors(validator.validate(*result.doc)).empty());
  // The serialised text is valid too (namespaces declared where they must be).
  ParseResult parsed = parse_untrusted(to_string(*result.doc));
  REQUIRE(parsed);
  CHECK(join_errors(validator.validate(*parsed.doc)).empty());
}

TEST_CASE("an unqualified element under a default namespace gets xmlns=\"\"") {
  IncidentSchema s;
  XmlLayout layout;
  layout.root = "Report";  // no map: the root's namespace becomes the default namespace
  XmlRenderer renderer(s.set, layout);
  core::TargetRecord r;
  r.fields = {{"Incident/IncidentText", "x"}, {"Local", "y"}};
  RenderResult result = renderer.render(r);
  REQUIRE(result);
  const std::string text = to_string(*result.doc, Format::compact, false);
  CHECK(text.find("<Report xmlns=\"urn:j\"") == 0);
  CHECK(text.find("<Local xmlns=\"\">y</Local>") != std::string::npos);
  ParseResult parsed = parse_untrusted(text);
  REQUIRE(parsed);
  CHECK(join_errors(XsdValidator(s.set).validate(*parsed.doc)).empty());
}

TEST_CASE("choice conflicts, nil conflicts and bad lists are rejected with the fields named") {
  IncidentSchema s;
  XmlRenderer renderer(s.set, incident_layout());
  core::TargetRecord r;
  r.fields = {{"nc:Incident/nc:IncidentText", "x"}, {"j:Summary", "s"}, {"j:Withheld", "true"}};
  RenderResult conflict = renderer.render(r);
  REQUIRE_FALSE(conflict);
  CHECK(conflict.error->code == "choice_conflict");
  CHECK(conflict.error->detail.find("'j:Summary' and 'j:Withheld'") != std::string::npos);
  // Only one branch with a value: fine.
  r.fields[2].value = std::nullopt;
  CHECK(renderer.render(r));

  core::TargetRecord nil;
  nil.fields = {{"nc:Incident/nc:IncidentText", "x"}, {"j:Arrest[1]/j:Officer/@xsi:nil", "true"},
                {"j:Arrest[1]/j:Officer", "PC 123"}, {"j:Arrest[1]/j:ArrestCharge[1]", "c"}};
  RenderResult nil_conflict = renderer.render(nil);
  REQUIRE_FALSE(nil_conflict);
  CHECK(nil_conflict.error->code == "nil_conflict");
  nil.fields[1].value = "false";  // "false": no nil
  CHECK(renderer.render(nil));

  core::TargetRecord list;
  list.fields = {{"nc:Incident/nc:IncidentText", "x"}, {"j:Arrest[1]/j:ArrestCharge[*]", "Theft;Assault"}};
  RenderResult bad = renderer.render(list);
  REQUIRE_FALSE(bad);
  CHECK(bad.error->code == "bad_list");
  CHECK(bad.error->detail.find("Theft") == std::string::npos);

  core::TargetRecord unknown;
  unknown.fields = {{"j:Arrest/j:ArrestCharge[1]", "x"}};
  RenderResult repeated = renderer.render(unknown);
  REQUIRE_FALSE(repeated);
  CHECK(repeated.error->code == "unknown_field");
  CHECK(repeated.error->detail.find("repeated") != std::string::npos);
}

TEST_CASE("characters XML cannot hold are replaced by U+FFFD and counted") {
  const XmlRenderer renderer = rms_renderer();
  auto record = test::rms_record();
  set(record, "Narrative", std::string("tab\tok, VT \x0B, ESC \x1B, NUL ") + std::string(1, '\0') + ", FFFE \xEF\xBF\xBE, bad \xC3\x28");
  RenderResult result = renderer.render(record);
  REQUIRE(result);
  CHECK(result.replaced_characters == 5);
  const std::string text = to_string(*result.doc);
  CHECK(text.find("tab\tok, VT \xEF\xBF\xBD, ESC \xEF\xBF\xBD, NUL \xEF\xBF\xBD, FFFE \xEF\xBF\xBD, bad \xEF\xBF\xBD(") !=
        std::string::npos);
  XsdValidator validator(test::schema_path("rms_community_report.xsd"));
  CHECK(validator.validate(*result.doc).empty());
  ParseResult parsed = parse_untrusted(text);
  CHECK(parsed);
}

TEST_CASE("layout paths that do not resolve name why and the nearest valid paths") {
  IncidentSchema s;
  XmlLayout layout = incident_layout();
  layout.fields = {{"Where", "j:Locaton[xsi:type=nc:AddressType]/nc:Postcode"}};
  CHECK_THROWS_WITH(XmlRenderer(s.set, layout), Catch::Contains("Where") && Catch::Contains("j:Locaton") &&
                                                    Catch::Contains("did you mean j:Location"));
  layout.fields = {{"Date", "nc:Incident/nc:ActivityDateRepresentation"}};
  CHECK_THROWS_WITH(XmlRenderer(s.set, layout), Catch::Contains("abstract") && Catch::Contains("nc:ActivityDate"));
}
