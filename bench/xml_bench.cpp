// Render + XSD validation cost per record (issue 4 target: under 50 us; issue
// 12: under 20 us for a WSDL-derived / multi-file schema set).
// Usage: reportbridge-xml-bench [case|xsd-path] [records]
//   cases: rms (schemas/rms_community_report.xsd, one attachment), cjse (nine
//   files, four namespaces), nibrs (NIEM IEPD, fifteen files), wsdl (the
//   Documentum context registry WSDL: eight imported files, xsi:type), all
//   (default). Run from the source tree.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <ctime>
#include <string>
#include <vector>

#include "bridge/xml/xml_renderer.hpp"
#include "bridge/xml/xsd_validator.hpp"

using namespace reportbridge;

namespace {

core::TargetRecord rms_record(int n) {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + n);
  r.version = 1;
  r.fields = {
      {"ExternalReference", r.submission_id},
      {"ExternalVersion", "1"},
      {"Source", "PUBLIC_APP"},
      {"ReportedAt", "2026-11-27T18:42:10"},
      {"CategoryCode", "ASB01"},
      {"Summary", "Group throwing stones at buses"},
      {"Narrative", "Six or seven teenagers throwing stones at the 18:20 bus on Linthorpe Road. "
                    "They ran towards Albert Park when the driver stopped. Happens most evenings."},
      {"OccurredFrom", "2026-11-27T18:15:00"},
      {"Ongoing", "true"},
      {"LocationDescription", "Linthorpe Road, Middlesbrough"},
      {"Postcode", "TS1 3QY"},
      {"Easting", "449532"},
      {"Northing", "520040"},
      {"ReporterName", "Aisha Khan"},
      {"ReporterEmail", "a.khan@example.org"},
      {"ReporterPhone", "+447700900123"},
      {"PreferredLanguage", "en"},
  };
  r.attachments = {{"b0c4e1d2-0001", "IMG_0042.jpg", "image/jpeg", 734211,
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "2026/11/27/b0c4.jpg"}};
  return r;
}

core::TargetRecord cjse_record(int n) {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + n);
  const std::string d = "ccm:Case/ccm:Defendants/ccm:Defendant[1]/";
  r.fields = {
      {"ccm:DocumentID/cs:DocumentName", "NewCaseMessage"},
      {"ccm:DocumentID/cs:UniqueID", r.submission_id},
      {"ccm:DocumentID/cs:DocumentType", "NCM"},
      {"ccm:DocumentID/cs:TimeStamp", "2026-11-27T18:42:10"},
      {"ccm:Case/ccm:CaseNumber", "T20267001"},
      {"ccm:Case/ccm:Court/cs:CourtHouseType", "Crown Court"},
      {"ccm:Case/ccm:Court/cs:CourtHouseCode", "471"},
      {"ccm:Case/ccm:Court/cs:CourtHouseCode/@CourtHouseShortName", "TEES"},
      {"ccm:Case/ccm:Court/cs:CourtHouseName", "Teesside Crown Court"},
      {d + "cs:PersonalDetails/cs:Name/apd:CitizenNameForename[*]", R"(["Jan", "Piotr"])"},
      {d + "cs:PersonalDetails/cs:Name/apd:CitizenNameSurname", "Kowalski"},
      {d + "cs:PersonalDetails/cs:IsMasked", "no"},
      {d + "cs:PersonalDetails/cs:Address/apd:Line[1]", "12 Linthorpe Road"},
      {d + "cs:PersonalDetails/cs:Address/apd:Line[2]", "Middlesbrough"},
      {d + "cs:PersonalDetails/cs:Address/apd:PostCode", "TS1 3QY"},
      {d + "cs:Charges/cs:Charge[1]/@IndictmentCountNumber", "1"},
      {d + "cs:Charges/cs:Charge[1]/cs:OffenceStatement", "Criminal damage to a bus shelter"},
      {"ccm:Case/ccm:Prosecution/@ProsecutingAuthority", "Crown Prosecution Service"},
  };
  return r;
}

core::TargetRecord nibrs_record(int n) {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + n);
  const std::string rep = "nibrs:Report[1]/";
  r.fields = {
      {rep + "nibrs:ReportHeader/nibrs:NIBRSReportCategoryCode", "GROUP A INCIDENT REPORT"},
      {rep + "nibrs:ReportHeader/nibrs:ReportActionCategoryCode", "I"},
      {rep + "nibrs:ReportHeader/nibrs:ReportDate/nc:YearMonthDate[1]", "2026-11"},
      {rep + "nc:Incident/nc:ActivityIdentification[1]/nc:IdentificationID[1]", "RB-" + std::to_string(n)},
      {rep + "nc:Incident/nc:ActivityDate[1]/nc:DateTime[1]", "2026-11-27T18:15:00"},
      {rep + "j:Offense[1]/@s:id", "Offense1"},
      {rep + "j:Offense[1]/nibrs:OffenseUCRCode[1]", "290"},
      {rep + "j:Offense[1]/j:OffenseAttemptedIndicator[1]", "false"},
      {rep + "nc:Location[1]/j:LocationCategoryCode[1]", "13"},
      {rep + "nc:Person[*]/@s:id", R"(["PersonVictim1", "PersonSubject1"])"},
      {rep + "nc:Person[*]/j:PersonSexCode[1]", R"(["F", "M"])"},
      {rep + "j:Victim[1]/nc:RoleOfPerson[1]/@s:ref", "PersonVictim1"},
      {rep + "j:Victim[1]/j:VictimCategoryCode[1]", "I"},
  };
  return r;
}

core::TargetRecord wsdl_record(int n) {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-" + std::to_string(100000000000 + n);
  const std::string id = "context/ctx:Identities[1][xsi:type=ctx:RepositoryIdentity]/";
  const std::string prof = "context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/";
  r.fields = {
      {"context/@locale", "en_GB"},
      {id + "@userName", "reportbridge"},
      {id + "@repositoryName", "moj_darts"},
      {prof + "@transferMode", "MTOM"},
      {prof + "@allowCachedContentTransfer", "false"},
      {prof + "@allowAsyncContentTransfer", "false"},
      {prof + "@isProcessOLELinks", "false"},
      {"context/ctx:RuntimeProperties/@isInternal", "false"},
      {"host", "node-" + std::to_string(n % 7)},
  };
  return r;
}

struct Case {
  std::string name, schema;
  xml::XmlLayout layout;
  std::function<core::TargetRecord(int)> record;
  double target_us;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  {
    Case c{"rms", "schemas/rms_community_report.xsd", {}, rms_record, 50.0};
    c.layout.root = "CommunityReport";
    c.layout.attachments_path = "Attachments/Attachment";
    out.push_back(c);
  }
  {
    Case c{"cjse", "tests/fixtures/schemas/cjse_caseinfo/CaseInfo.xsd", {}, cjse_record, 20.0};
    c.layout.root = "ccm:NewCaseMessage";
    c.layout.namespaces = {{"ccm", "http://www.hmcs.gov.uk/schemas/crowncourt/msg"},
                           {"cs", "http://www.courtservice.gov.uk/schemas/courtservice"},
                           {"apd", "http://www.govtalk.gov.uk/people/AddressAndPersonalDetails"}};
    out.push_back(c);
  }
  {
    Case c{"nibrs", "tests/fixtures/schemas/nibrs_4_0/xsd/nibrs/4.0/nibrs.xsd", {}, nibrs_record, 20.0};
    c.layout.root = "nibrs:Submission";
    c.layout.namespaces = {{"nibrs", "http://fbi.gov/cjis/nibrs/4.0"},
                           {"nc", "http://release.niem.gov/niem/niem-core/3.0/"},
                           {"j", "http://release.niem.gov/niem/domains/jxdm/5.1/"},
                           {"s", "http://release.niem.gov/niem/structures/3.0/"}};
    out.push_back(c);
  }
  {
    Case c{"wsdl", "tests/fixtures/wsdl/documentum_context_registry/ContextRegistryService.wsdl", {}, wsdl_record,
           20.0};
    c.layout.root = "reg:register";
    c.layout.namespaces = {{"reg", "http://services.rt.fs.documentum.emc.com/"},
                           {"ctx", "http://context.core.datamodel.fs.documentum.emc.com/"},
                           {"prof", "http://profiles.core.datamodel.fs.documentum.emc.com/"}};
    out.push_back(c);
  }
  return out;
}

// This thread's CPU time: unlike wall time, not inflated when other processes
// take the cores (a shared build machine).
double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// p50 of render + validate; -1 on error.
double run(const Case& c, int count) {
  const auto set = xml::SchemaSet::load(c.schema);
  const xml::XmlRenderer renderer(set, c.layout);
  const xml::XsdValidator validator(set);
  std::vector<core::TargetRecord> records;
  for (int i = 0; i < count; ++i) records.push_back(c.record(i));

  std::vector<double> render_us, total_us, cpu_us;
  std::size_t bytes = 0;
  for (int warm = 0; warm < 200; ++warm) {
    xml::RenderResult doc = renderer.render(records[0]);
    if (!doc) {
      std::fprintf(stderr, "%s: %s: %s\n", c.name.c_str(), doc.error->code.c_str(), doc.error->detail.c_str());
      return -1;
    }
    validator.validate(*doc.doc);
  }
  for (const auto& r : records) {
    const double c0 = thread_cpu_us();
    const auto t0 = std::chrono::steady_clock::now();
    xml::RenderResult doc = renderer.render(r);
    const auto t1 = std::chrono::steady_clock::now();
    const auto errors = validator.validate(*doc.doc);
    const auto t2 = std::chrono::steady_clock::now();
    cpu_us.push_back(thread_cpu_us() - c0);
    if (!errors.empty()) {
      std::fprintf(stderr, "%s: unexpected: %s\n", c.name.c_str(), xml::join_errors(errors).c_str());
      return -1;
    }
    render_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    total_us.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
    if (bytes == 0) bytes = xml::to_string(*doc.doc).size();
  }
  const auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
  };
  std::printf("%-5s %6d records, document %5zu bytes, %2zu schema files | render p50 %5.1f us p99 %5.1f us | "
              "render + validate p50 %5.1f us p99 %5.1f us, CPU p50 %5.1f us (target < %.0f us)\n",
              c.name.c_str(), count, bytes, set->documents().size(), pct(render_us, 0.5), pct(render_us, 0.99),
              pct(total_us, 0.5), pct(total_us, 0.99), pct(cpu_us, 0.5), c.target_us);
  return pct(total_us, 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "all";
  const int count = argc > 2 ? std::atoi(argv[2]) : 20000;
  try {
    std::vector<Case> todo;
    for (auto& c : cases())
      if (which == "all" || which == c.name) todo.push_back(c);
    if (todo.empty()) {  // an XSD path: the RMS record against it (the old usage)
      Case c = cases().front();
      c.schema = which;
      todo.push_back(c);
    }
    int status = 0;
    for (const auto& c : todo) {
      const double p50 = run(c, count);
      if (p50 < 0) return 1;
      if (p50 >= c.target_us) status = 2;
    }
    return status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reportbridge-xml-bench: %s\n", e.what());
    return 1;
  }
}
