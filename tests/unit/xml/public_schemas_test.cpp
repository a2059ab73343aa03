// Real public schemas (tests/fixtures/schemas/*/README.md): each set loads
// unmodified, a realistic record renders into a valid, non-empty document
// across its namespaces (repeated elements, attributes, nil, substitution
// groups where the schema has them), and libxml2 validates it - in memory and
// after serialising and parsing it back.
#include <catch2/catch.hpp>

#include <algorithm>

#include "bridge/xml/safe_parse.hpp"
#include "bridge/xml/schema_paths.hpp"
#include "bridge/xml/xml_renderer.hpp"
#include "bridge/xml/xsd_validator.hpp"

using namespace reportbridge;
using namespace reportbridge::xml;

namespace {

std::string fixture(const std::string& path) {
  return std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/fixtures/schemas/" + path;
}

struct Rendered {
  std::string text;
  std::vector<XmlError> errors;          // in-memory validation
  std::vector<XmlError> reparsed_errors; // the serialised text, parsed back
};

Rendered render_and_validate(const std::shared_ptr<const SchemaSet>& set, const XmlLayout& layout,
                             const core::TargetRecord& record) {
  XmlRenderer renderer(set, layout);
  XsdValidator validator(set);
  RenderResult r = renderer.render(record);
  if (!r) FAIL(r.error->code + ": " + r.error->detail);
  Rendered out;
  out.text = to_string(*r.doc);
  out.errors = validator.validate(*r.doc);
  ParseResult parsed = parse_untrusted(out.text);
  REQUIRE(parsed);
  out.reparsed_errors = validator.validate(*parsed.doc);
  return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("PNC juror check (chameleon header include): request and a response with repeated, nil elements") {
  auto set = SchemaSet::load(fixture("pnc_juror/JurorService.xsd"));
  const std::string ns = "http://www.npia.police.uk/juror/schema/v1";
  XmlLayout layout;
  layout.root = "pnc:getPersonDetails";
  layout.namespaces = {{"pnc", ns}};
  core::TargetRecord request;
  request.fields = {
      {"pnc:Header/SequenceNumber", "42"},
      {"pnc:Header/LocalDateTime", "2026112718:42:10"},
      {"pnc:Header/PncTerminal", "VCL00123"},
      {"pnc:Header/PncUserid", "CL123456"},
      {"pnc:Header/PncMode", "TRNG"},
      {"pnc:Header/PncAuthorisation", "40000CL1"},
      {"pnc:Header/PncTranCode", "#LO"},
      {"pnc:Header/Originator", "REPORTBRIDGE"},
      {"pnc:Header/ReasonCode", "2"},
      {"pnc:Header/GatewayID", "CLEVELAND-GW-01"},
      {"pnc:Location", "Middlesbrough"},
      {"pnc:JurorReference", "415000123"},
      {"pnc:SearchName", "KOWALSKI/JAN"},
      {"pnc:SearchDateOfBirth", "12031985"},
      {"pnc:PostCode", "TS13QY"},
  };
  const Rendered req = render_and_validate(set, layout, request);
  CHECK(join_errors(req.errors).empty());
  CHECK(join_errors(req.reparsed_errors).empty());
  // The header's children come from the chameleon document: unqualified.
  CHECK(req.text.find("<pnc:Header>\n    <SequenceNumber>42</SequenceNumber>") != std::string::npos);
  CHECK(req.text.find("<pnc:SearchName>KOWALSKI/JAN</pnc:SearchName>") != std::string::npos);

  layout.root = "pnc:getPersonDetailsResponse";
  core::TargetRecord response;
  response.fields = {
      {"pnc:Header/SequenceNumber", "42"},
      {"pnc:Header/LocalDateTime", "2026112718:42:11"},
      {"pnc:Header/PncTerminal", "VCL00123"},
      {"pnc:Header/PncUserid", "CL123456"},
      {"pnc:Header/PncMode", "TRNG"},
      {"pnc:Header/PncAuthorisation", "40000CL1"},
      {"pnc:Header/PncTranCode", "#LO"},
      {"pnc:Header/Originator", "PNC"},
      {"pnc:Header/ReasonCode", "2"},
      {"pnc:Header/GatewayID", "CLEVELAND-GW-01"},
      {"pnc:NumberMatchesFound", "2"},
      {"pnc:JurorReference", "415000123"},
      {"pnc:Details/pnc:Person[1]/pnc:PncId", "85/123456K"},
      {"pnc:Details/pnc:Person[1]/pnc:Disposals[*]/pnc:DisposalCode", R"(["1002", "3041"])"},
      {"pnc:Details/pnc:Person[1]/pnc:Disposals[*]/pnc:DisposalEffectiveDate", R"(["12062019", "01022021"])"},
      {"pnc:Details/pnc:Person[1]/pnc:OnBail", "false"},
      {"pnc:Details/pnc:Person[2]/pnc:PncId", "91/654321A"},
      {"pnc:Details/pnc:Person[2]/pnc:OnBail/@xsi:nil", "true"},
  };
  const Rendered resp = render_and_validate(set, layout, response);
  CHECK(join_errors(resp.errors).empty());
  CHECK(join_errors(resp.reparsed_errors).empty());
  CHECK(count(resp.text, "<pnc:Person>") == 2);
  CHECK(count(resp.text, "<pnc:Disposals>") == 2);
  CHECK(resp.text.find("<pnc:OnBail xsi:nil=\"true\"/>") != std::string::npos);
}

TEST_CASE("CJSE Crown Court new case message across four namespaces") {
  auto set = SchemaSet::load(fixture("cjse_caseinfo/CaseInfo.xsd"));
  CHECK(set->documents().size() == 9);  // nine files; the chameleon joins one namespace
  XmlLayout layout;
  layout.root = "ccm:NewCaseMessage";
  layout.namespaces = {{"ccm", "http://www.hmcs.gov.uk/schemas/crowncourt/msg"},
                       {"cs", "http://www.courtservice.gov.uk/schemas/courtservice"},
                       {"apd", "http://www.govtalk.gov.uk/people/AddressAndPersonalDetails"}};
  const std::string d1 = "ccm:Case/ccm:Defendants/ccm:Defendant[1]/";
  const std::string d2 = "ccm:Case/ccm:Defendants/ccm:Defendant[2]/";
  core::TargetRecord r;
  r.fields = {
      {"ccm:DocumentID/cs:DocumentName", "NewCaseMessage"},
      {"ccm:DocumentID/cs:UniqueID", "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01"},
      {"ccm:DocumentID/cs:DocumentType", "NCM"},
      {"ccm:DocumentID/cs:TimeStamp", "2026-11-27T18:42:10"},
      {"ccm:Case/ccm:CaseNumber", "T20267001"},
      {"ccm:Case/ccm:Court/cs:CourtHouseType", "Crown Court"},
      {"ccm:Case/ccm:Court/cs:CourtHouseCode", "471"},
      {"ccm:Case/ccm:Court/cs:CourtHouseCode/@CourtHouseShortName", "TEES"},
      {"ccm:Case/ccm:Court/cs:CourtHouseName", "Teesside Crown Court"},
      {"ccm:Case/ccm:CaseArrivedFrom/ccm:OriginatingCourt/cs:CourtHouseType", "Magistrates Court"},
      {"ccm:Case/ccm:CaseArrivedFrom/ccm:OriginatingCourt/cs:CourtHouseCode", "2734"},
      {"ccm:Case/ccm:CaseArrivedFrom/ccm:OriginatingCourt/cs:CourtHouseName", "Teesside Magistrates' Court"},
      {d1 + "cs:PersonalDetails/cs:Name/apd:CitizenNameForename[*]", R"(["Jan", "Piotr"])"},
      {d1 + "cs:PersonalDetails/cs:Name/apd:CitizenNameSurname", "Kowalski"},
      {d1 + "cs:PersonalDetails/cs:IsMasked", "no"},
      {d1 + "cs:PersonalDetails/cs:Sex", "male"},
      {d1 + "cs:PersonalDetails/cs:Address/apd:Line[1]", "12 Linthorpe Road"},
      {d1 + "cs:PersonalDetails/cs:Address/apd:Line[2]", "Middlesbrough"},
      {d1 + "cs:PersonalDetails/cs:Address/apd:PostCode", "TS1 3QY"},
      {d1 + "cs:PNCnumber", "20260004211K"},
      {d1 + "cs:URN", "14CL0042611"},
      {d1 + "cs:Charges/cs:Charge[1]/@IndictmentCountNumber", "1"},
      {d1 + "cs:Charges/cs:Charge[1]/@CJSoffenceCode", "CD71039"},
      {d1 + "cs:Charges/cs:Charge[1]/cs:OffenceStatement", "Criminal damage to a bus shelter"},
      {d1 + "cs:Charges/cs:Charge[1]/cs:OffenceStartDateTime", "2026-11-27T18:15:00"},
      {d1 + "cs:Charges/cs:Charge[2]/@IndictmentCountNumber", "2"},
      {d1 + "cs:Charges/cs:Charge[2]/cs:OffenceStatement", "Throwing missiles at a public service vehicle"},
      {d2 + "cs:PersonalDetails/cs:MaskedName", "Youth A"},
      {d2 + "cs:PersonalDetails/cs:IsMasked", "yes"},
      {"ccm:Case/ccm:Prosecution/@ProsecutingAuthority", "Crown Prosecution Service"},
      {"ccm:Case/ccm:Prosecution/cs:ProsecutingReference", "14CL0042611"},
      {"ccm:Case/ccm:PTIURN", "14CL0042611"},
  };
  const Rendered doc = render_and_validate(set, layout, r);
  CHECK(join_errors(doc.errors).empty());
  CHECK(join_errors(doc.reparsed_errors).empty());
  CHECK(doc.text.find("<ccm:NewCaseMessage xmlns:ccm=\"http://www.hmcs.gov.uk/schemas/crowncourt/msg\"") !=
        std::string::npos);
  CHECK(count(doc.text, "<ccm:Defendant>") == 2);
  CHECK(count(doc.text, "<cs:Charge ") == 2);
  CHECK(doc.text.find("<cs:CourtHouseCode CourtHouseShortName=\"TEES\">471</cs:CourtHouseCode>") != std::string::npos);
  CHECK(doc.text.find("<apd:PostCode>TS1 3QY</apd:PostCode>") != std::string::npos);

  // The contract's facets are known before anything is sent.
  PathResolver paths(set, *set->element({"http://www.hmcs.gov.uk/schemas/crowncourt/msg", "NewCaseMessage"}),
                     layout.namespaces);
  CHECK(paths.check_value(d1 + "cs:PNCnumber", "2026A004211K")->find("pattern") != std::string::npos);
  CHECK(paths.check_value(d1 + "cs:PersonalDetails/cs:IsMasked", "maybe")->find("yes|no") != std::string::npos);
  // Two branches of the CaseArrivedFrom choice are refused.
  core::TargetRecord both = r;
  both.fields.push_back({"ccm:Case/ccm:CaseArrivedFrom/ccm:Section53", "yes"});
  XmlRenderer renderer(set, layout);
  RenderResult conflict = renderer.render(both);
  REQUIRE_FALSE(conflict);
  CHECK(conflict.error->code == "choice_conflict");
}

TEST_CASE("NIBRS 4.0 IEPD (NIEM 3.0: fifteen files, eleven namespaces): a group A incident report") {
  auto set = SchemaSet::load(fixture("nibrs_4_0/xsd/nibrs/4.0/nibrs.xsd"));
  CHECK(set->documents().size() == 15);
  XmlLayout layout;
  layout.root = "nibrs:Submission";
  layout.namespaces = {{"nibrs", "http://fbi.gov/cjis/nibrs/4.0"},
                       {"cjis", "http://fbi.gov/cjis/1.0"},
                       {"nc", "http://release.niem.gov/niem/niem-core/3.0/"},
                       {"j", "http://release.niem.gov/niem/domains/jxdm/5.1/"},
                       {"s", "http://release.niem.gov/niem/structures/3.0/"}};
  const std::string rep = "nibrs:Report[1]/";
  const std::string hdr = rep + "nibrs:ReportHeader/";
  const std::string inc = rep + "nc:Incident/";
  const std::string off = rep + "j:Offense[1]/";
  core::TargetRecord r;
  r.fields = {
      {hdr + "nibrs:NIBRSReportCategoryCode", "GROUP A INCIDENT REPORT"},
      {hdr + "nibrs:ReportActionCategoryCode", "I"},
      // nc:YearMonthDate stands in for the abstract nc:DateRepresentation.
      {hdr + "nibrs:ReportDate/nc:YearMonthDate[1]", "2026-11"},
      {hdr + "nibrs:ReportingAgency[1]/j:OrganizationAugmentation[1]/j:OrganizationORIIdentification[1]/"
             "nc:IdentificationID[1]",
       "WVNDX0100"},
      {inc + "nc:ActivityIdentification[1]/nc:IdentificationID[1]", "RB-2026-000417"},
      {inc + "nc:ActivityDate[1]/nc:DateTime[1]", "2026-11-27T18:15:00"},
      {inc + "cjis:IncidentAugmentation[1]/cjis:IncidentReportDateIndicator[1]", "false"},
      {inc + "j:IncidentAugmentation[1]/j:IncidentExceptionalClearanceCode[1]", "N"},
      // Two offences, each with its s:id; nibrs:OffenseUCRCode is one of two members
      // of j:OffenseDesignation named OffenseUCRCode (the other is j:'s).
      {off + "@s:id", "Offense1"},
      {off + "nibrs:OffenseUCRCode[1]", "290"},
      {off + "j:OffenseAttemptedIndicator[1]", "false"},
      {rep + "j:Offense[2]/@s:id", "Offense2"},
      {rep + "j:Offense[2]/nibrs:OffenseUCRCode[1]", "13B"},
      {rep + "j:Offense[2]/j:OffenseAttemptedIndicator[1]", "true"},
      {rep + "nc:Location[1]/@s:id", "Location1"},
      {rep + "nc:Location[1]/j:LocationCategoryCode[1]", "13"},
      // The victim and the suspect, as a JSON list zipped by position.
      {rep + "nc:Person[*]/@s:id", R"(["PersonVictim1", "PersonSubject1"])"},
      {rep + "nc:Person[*]/j:PersonSexCode[1]", R"(["F", "M"])"},
      {rep + "nc:Person[1]/nc:PersonAgeMeasure[1]/nc:MeasureIntegerValue[1]", "34"},
      {rep + "nc:Person[2]/j:PersonEthnicityCode[1]/@xsi:nil", "true"},
      {rep + "j:Victim[1]/nc:RoleOfPerson[1]/@s:ref", "PersonVictim1"},
      {rep + "j:Victim[1]/j:VictimSequenceNumberText[1]", "1"},
      {rep + "j:Victim[1]/j:VictimCategoryCode[1]", "I"},
      {rep + "j:Subject[1]/nc:RoleOfPerson[1]/@s:ref", "PersonSubject1"},
      {rep + "j:Subject[1]/j:SubjectSequenceNumberText[1]", "1"},
      {rep + "j:OffenseLocationAssociation[1]/j:Offense[1]/@s:ref", "Offense1"},
      {rep + "j:OffenseLocationAssociation[1]/nc:Location[1]/@s:ref", "Location1"},
      {rep + "j:OffenseVictimAssociation[1]/j:Offense[1]/@s:ref", "Offense2"},
      {rep + "j:OffenseVictimAssociation[1]/j:Victim[1]/@s:ref", "PersonVictim1"},
  };
  const Rendered doc = render_and_validate(set, layout, r);
  CHECK(join_errors(doc.errors).empty());
  CHECK(join_errors(doc.reparsed_errors).empty());
  CHECK(doc.text.find("<nibrs:NIBRSReportCategoryCode>GROUP A INCIDENT REPORT</nibrs:NIBRSReportCategoryCode>") !=
        std::string::npos);
  CHECK(doc.text.find("<nc:DateTime>2026-11-27T18:15:00</nc:DateTime>") != std::string::npos);
  CHECK(doc.text.find("<j:Offense s:id=\"Offense2\">") != std::string::npos);
  CHECK(count(doc.text, "<nc:Person ") == 2);
  CHECK(count(doc.text, "<nibrs:OffenseUCRCode>") == 2);
  CHECK(doc.text.find("<j:PersonEthnicityCode xsi:nil=\"true\"/>") != std::string::npos);
  CHECK(doc.text.find("<cjis:IncidentReportDateIndicator>false</cjis:IncidentReportDateIndicator>") !=
        std::string::npos);

  PathResolver paths(set, *set->element({"http://fbi.gov/cjis/nibrs/4.0", "Submission"}), layout.namespaces);
  // The abstract head names its members; the unprefixed member name is ambiguous.
  PathResolution abstract = paths.resolve(off + "j:OffenseDesignation[1]");
  REQUIRE_FALSE(abstract);
  CHECK(abstract.error->kind == PathErrorKind::abstract);
  CHECK(std::find(abstract.error->candidates.begin(), abstract.error->candidates.end(), "nibrs:OffenseUCRCode") !=
        abstract.error->candidates.end());
  PathResolution ambiguous = paths.resolve(off + "OffenseUCRCode[1]");
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error->kind == PathErrorKind::ambiguous);
  // NIEM repeats almost everything: a missing index is named, with the fix.
  PathResolution repeated = paths.resolve(inc + "nc:ActivityIdentification/nc:IdentificationID[1]");
  REQUIRE_FALSE(repeated);
  CHECK(repeated.error->kind == PathErrorKind::repeated);
  // Code lists are checked before anything is sent.
  CHECK(paths.check_value(hdr + "nibrs:NIBRSReportCategoryCode", "GROUP Z REPORT")->find("GROUP A INCIDENT REPORT") !=
        std::string::npos);
  CHECK_FALSE(paths.check_value(off + "nibrs:OffenseUCRCode[1]", "13A").has_value());
  CHECK(paths.check_value(off + "nibrs:OffenseUCRCode[1]", "13Z").has_value());
}
