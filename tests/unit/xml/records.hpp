#pragma once
// Realistic target records for the RMS and PSD schemas, shared by the xml tests.
#include <string>

#include "bridge/core/record.hpp"

namespace reportbridge::xml::test {

inline std::string schema_path(const std::string& name) {
  return std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/" + name;
}

inline core::AttachmentRef photo(std::string id = "b0c4e1d2-0001") {
  return {std::move(id), "IMG_0042.jpg", "image/jpeg", 734211,
          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "2026/11/27/b0c4.jpg"};
}

// Fields deliberately not in schema order: the renderer must reorder them.
inline core::TargetRecord rms_record() {
  core::TargetRecord r;
  r.submission_id = "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01";
  r.version = 2;
  r.mapping = "rms_community_report";
  r.target = "rms";
  r.fields = {
      {"Postcode", "TS1 3QY"},
      {"Summary", "Group throwing stones at buses"},
      {"ExternalReference", "6f1c2b7e-3c1a-4d7e-9a77-1d2f0b6c9e01"},
      {"CategoryCode", "ASB01"},
      {"Narrative", "Six or seven teenagers <aged ~15> & throwing stones at the 18:20 bus.\nThey ran towards the park."},
      {"ReportedAt", "2026-11-27T18:42:10"},
      {"OccurredFrom", "2026-11-27T18:15:00"},
      {"OccurredTo", std::nullopt},
      {"Ongoing", "true"},
      {"Easting", "449532"},
      {"Northing", "520040"},
      {"LocationDescription", "Linthorpe Road, Middlesbrough"},
      {"ExternalVersion", "2"},
      {"ReporterName", "Aisha Khan"},
      {"ReporterEmail", "a.khan@example.org"},
      {"ReporterPhone", "+447700900123"},
      {"PreferredLanguage", "ur"},
      {"Source", "PUBLIC_APP"},
  };
  r.attachments = {photo()};
  return r;
}

inline core::TargetRecord psd_record() {
  core::TargetRecord r;
  r.submission_id = "a1b2c3d4-0000-4000-8000-000000000042";
  r.version = 1;
  r.mapping = "psd_complaint";
  r.target = "psd";
  r.fields = {
      {"Complainant/Anonymous", "false"},
      {"AppReference", "a1b2c3d4-0000-4000-8000-000000000042"},
      {"Version", "1"},
      {"ReceivedAt", "2026-11-27T18:42:10+00:00"},
      {"Title", "Complaint: officer was rude at the front desk"},
      {"Category", "FEEDBACK"},
      {"Allegation", "Ceisiais am help ond cefais fy anwybyddu. Łódź — 北京 — مرحبا"},
      {"IncidentDate", "2026-11-26T10:05:00+00:00"},
      {"IncidentPlace", "Middlesbrough police station front desk"},
      {"IncidentPostcode", "TS1 2AP"},
      {"IncidentEasting", "449821"},
      {"IncidentNorthing", "520391"},
      {"ComplainantName", "Jan Kowalski"},
      {"ComplainantEmail", "jan.k@example.org"},
  };
  return r;
}

}  // namespace reportbridge::xml::test
