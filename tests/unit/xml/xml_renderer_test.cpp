#include "bridge/xml/xml_renderer.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "bridge/xml/safe_parse.hpp"
#include "bridge/xml/xsd_validator.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge;
using namespace reportbridge::xml;

namespace {

const std::string kRmsNs = "urn:police-uk:rms:community-report:1.0";

XmlRenderer rms_renderer(XmlLayout layout = {}) {
  if (layout.root.empty()) layout.root = "CommunityReport";
  if (layout.attachments_path.empty()) layout.attachments_path = "Attachments/Attachment";
  return XmlRenderer(SchemaShape::load(test::schema_path("rms_community_report.xsd")), std::move(layout));
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
  XmlRenderer batch_renderer(SchemaShape::load(test::schema_path("rms_community_report.xsd")), batch);
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

  record = test::rms_record();
  set(record, "Narrative", std::string("bad \xC3\x28 utf8"));
  RenderResult r2 = renderer.render(record);
  REQUIRE_FALSE(r2);
  CHECK(r2.error->code == "invalid_utf8");
  CHECK(r2.error->detail == "field 'Narrative'");

  record = test::rms_record();
  set(record, "Summary", std::string("bell \x07 char"));
  RenderResult r3 = renderer.render(record);
  REQUIRE_FALSE(r3);
  CHECK(r3.error->code == "invalid_xml_char");

  record = test::rms_record();
  record.fields.push_back({"Location/Postcode", "TS1 1AA"});
  RenderResult r4 = renderer.render(record);
  REQUIRE_FALSE(r4);
  CHECK(r4.error->code == "duplicate_field");
}

TEST_CASE("layouts that do not fit the schema are refused at construction") {
  auto shape = SchemaShape::load(test::schema_path("rms_community_report.xsd"));
  CHECK_THROWS_AS(XmlRenderer(shape, XmlLayout{"NoRoot"}), std::invalid_argument);
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
  XmlRenderer renderer(SchemaShape::load(test::schema_path("psd_complaint.xsd")), layout);
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
