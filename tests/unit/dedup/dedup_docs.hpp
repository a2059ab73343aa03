#pragma once
// Submissions the deduplication tests judge: one report, and the same
// incident seen by another resident.
#include <boost/json.hpp>

#include <cstdint>
#include <string>

#include "bridge/core/record.hpp"

namespace reportbridge::testing {

namespace json = boost::json;
using core::SourceRow;

inline json::value base_doc() {
  return json::parse(R"({
    "id": "a1", "version": 1, "submitted_at": "2026-11-27T18:42:10+00:00",
    "kind": "concern", "category": "anti_social_behaviour",
    "summary": "Group throwing stones at buses",
    "description": "A group of about 6 teenagers are throwing stones at the buses on Linthorpe Road again. One window cracked tonight.",
    "occurred": {"start": "2026-11-27T18:15:00+00:00", "end": null, "ongoing": true},
    "location": {"lat": 54.5742, "lon": -1.2350, "accuracy_m": 15,
                 "address": "Outside the Co-op, Linthorpe Road, Middlesbrough", "postcode": "TS1 3QY"},
    "reporter": {"anonymous": false, "name": "Aisha Khan", "email": "a.khan@example.org",
                 "phone": "+447700900123", "contact_ok": true},
    "attachments": [{"id": "att1", "filename": "IMG_1.jpg", "media_type": "image/jpeg", "size_bytes": 10,
                     "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "path": "2026/11/27/att1.jpg"}],
    "device": {"platform": "ios", "app_version": "1.4.2"},
    "consent": {"share_with_partners": false}
  })");
}

inline SourceRow row_of(const json::value& doc, std::int64_t seq, const std::string& received_at) {
  return SourceRow{seq, std::string(doc.at("id").as_string()), doc.at("version").as_int64(), received_at,
                   json::serialize(doc)};
}

// The same incident seen by another resident: moved ~60 m, other words.
inline json::value reworded(const std::string& id) {
  json::value d = base_doc();
  auto& o = d.as_object();
  o["id"] = id;
  o["summary"] = "Youths on bikes harassing people outside the Co-op";
  o["description"] = "Lads on bikes circling outside the Co-op on Linthorpe Road, shouting at people and "
                     "throwing things at the buses.";
  o["location"].as_object()["lat"] = 54.57465;
  o["location"].as_object()["lon"] = -1.23420;
  o["occurred"].as_object()["start"] = "2026-11-27T18:30:00+00:00";
  o["reporter"] = json::parse(R"({"anonymous": true, "name": null, "email": null, "phone": null})");
  o["attachments"] = json::array();
  return d;
}

}  // namespace reportbridge::testing
