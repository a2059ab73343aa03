#pragma once
// The data that flows through the bridge: a row read from the app's store, and
// the target record a mapping makes of it for one target.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace reportbridge::core {

// One row of the app's `submissions` table (or one HTTP item), as read.
struct SourceRow {
  std::int64_t seq = 0;
  std::string id;
  std::int64_t version = 0;
  std::string received_at;  // RFC 3339 UTC
  std::string payload;      // the submission document, raw JSON text
};

// An attachment the target should receive, as declared by the payload.
// `path` is relative to the source's media root and is never trusted as a
// destination path by a sink.
struct AttachmentRef {
  std::string id;
  std::string filename;    // as the resident's device named it: display only
  std::string media_type;  // e.g. image/jpeg
  std::uint64_t size_bytes = 0;
  std::string sha256;      // lowercase hex, as declared
  std::string path;        // relative to the media root
};

struct RecordField {
  std::string name;                  // target field (CSV column, XML element)
  std::optional<std::string> value;  // nullopt: absent / null
};

// What one mapping produced for one target from one submission version.
// Fields keep the mapping's declared order: sinks render them in that order.
struct TargetRecord {
  std::string submission_id;
  std::int64_t version = 0;
  std::string mapping;  // the mapping's name
  std::string target;   // the target's name
  std::vector<RecordField> fields;
  std::vector<AttachmentRef> attachments;

  const std::optional<std::string>* find(const std::string& field_name) const;
};

// The bridge's external reference of a submission version, "<id>:<version>":
// what a target's lookup finds a record by (mapping source
// bridge.external_reference, SOAP value external_reference).
std::string external_reference(const std::string& submission_id, std::int64_t version);

// Stable serialisation of a TargetRecord (kept in the outbox so a delivery can
// be retried exactly as it was first rendered).
std::string to_json(const TargetRecord& record);
// Returns false and leaves `out` unspecified on malformed input.
bool from_json(const std::string& text, TargetRecord& out);

}  // namespace reportbridge::core
