// Render + XSD validation cost per record (issue 4 target: under 50 us).
// Usage: reportbridge-xml-bench [xsd-path] [records]
//   default xsd: schemas/rms_community_report.xsd (run from the source tree)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bridge/xml/xml_renderer.hpp"
#include "bridge/xml/xsd_validator.hpp"

using namespace reportbridge;

namespace {

core::TargetRecord record(int n) {
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

}  // namespace

int main(int argc, char** argv) {
  const std::string xsd = argc > 1 ? argv[1] : "schemas/rms_community_report.xsd";
  const int count = argc > 2 ? std::atoi(argv[2]) : 20000;
  try {
    xml::XmlLayout layout;
    layout.root = "CommunityReport";
    layout.attachments_path = "Attachments/Attachment";
    const auto set = xml::SchemaSet::load(xsd);
    const xml::XmlRenderer renderer(set, layout);
    const xml::XsdValidator validator(set);
    std::vector<core::TargetRecord> records;
    for (int i = 0; i < count; ++i) records.push_back(record(i));

    std::vector<double> render_us, total_us;
    std::size_t bytes = 0;
    for (int warm = 0; warm < 200; ++warm) validator.validate(*renderer.render(records[0]).doc);
    for (const auto& r : records) {
      const auto t0 = std::chrono::steady_clock::now();
      xml::RenderResult doc = renderer.render(r);
      const auto t1 = std::chrono::steady_clock::now();
      const auto errors = validator.validate(*doc.doc);
      const auto t2 = std::chrono::steady_clock::now();
      if (!errors.empty()) {
        std::fprintf(stderr, "unexpected: %s\n", xml::join_errors(errors).c_str());
        return 1;
      }
      render_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      total_us.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
      if (bytes == 0) bytes = xml::to_string(*doc.doc).size();
    }
    const auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
    };
    std::printf("records: %d (document %zu bytes)\n", count, bytes);
    std::printf("render:            p50 %.1f us  p99 %.1f us\n", pct(render_us, 0.5), pct(render_us, 0.99));
    std::printf("render + validate: p50 %.1f us  p99 %.1f us  (target < 50 us)\n", pct(total_us, 0.5),
                pct(total_us, 0.99));
    return pct(total_us, 0.5) < 50.0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reportbridge-xml-bench: %s\n", e.what());
    return 1;
  }
}
