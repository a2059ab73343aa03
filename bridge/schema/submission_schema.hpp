#pragma once
// Validation of submission payloads against schemas/submission.schema.json.
//
// The schema file is compiled once into an immutable tree; validate() walks
// that tree, never the schema JSON. Only the JSON Schema keywords the
// submission schema uses are supported (see docs/submission-schema.md); any
// other keyword is a load error, so a schema edit can never be silently
// ignored.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "bridge/core/diagnostics.hpp"

namespace reportbridge::schema {

// One validation failure. Messages are for operators and never echo the
// submitted value (locations, names and text are personal data).
struct SchemaError {
  std::string path;     // JSON pointer into the payload, "" for the document itself
  std::string keyword;  // "type", "required", "enum", ..., "json", "row_mismatch"
  std::string message;  // e.g. "value above maximum 90"

  bool operator==(const SchemaError&) const = default;
};

// "/location/lat: value above maximum 90 [maximum]" ("/" for the document).
std::string to_string(const SchemaError& error);

namespace detail {
struct CompiledSchema;
}

class SubmissionSchema {
 public:
  // Reads and compiles a schema file. Problems (unreadable file, invalid JSON,
  // unsupported keyword, bad keyword value, bad regex) are added to `diags`
  // with codes "schema.*"; nullopt when any error was found.
  static std::optional<SubmissionSchema> load(const std::string& path, core::Diagnostics& diags);
  // Same, from schema text; `file` names it in diagnostics.
  static std::optional<SubmissionSchema> parse(std::string_view text, const std::string& file,
                                               core::Diagnostics& diags);

  // Every failure, in a stable order: schema order, a node's own keywords
  // before its children. Empty when the document is valid.
  std::vector<SchemaError> validate(const boost::json::value& doc) const;

 private:
  explicit SubmissionSchema(std::shared_ptr<const detail::CompiledSchema> compiled);
  std::shared_ptr<const detail::CompiledSchema> compiled_;  // immutable, shared by copies
};

struct PayloadCheck {
  // The memory `doc` lives in: one arena per payload, freed whole after the
  // tree (declared first, so destroyed last). Move it along with `doc`
  // (pipeline::Decision does). A value copy-constructed from the tree uses
  // the same arena: copy into other storage (json::value(v, {})) to keep it
  // longer than this check.
  std::shared_ptr<void> arena;
  std::optional<boost::json::value> doc;  // set whenever the payload parsed as JSON
  std::vector<SchemaError> errors;        // empty: valid

  bool ok() const { return doc.has_value() && errors.empty(); }
};

// The largest payload (one submission version, bytes) the bridge reads: every
// field has a maxLength far below it (the description, 10,000 characters, is
// at most 40,000 bytes), so only a broken or hostile payload reaches it.
inline constexpr std::size_t kMaxPayloadBytes = 1 << 20;

// Parses and validates a raw payload from a store row. A payload over
// kMaxPayloadBytes gives one error {path "", keyword "size"} and is not
// parsed. Invalid JSON gives one
// error {path "", keyword "json"} with the parser's message and byte offset.
// A payload whose id or version differs from the row's gives keyword
// "row_mismatch" (checked only when those fields are otherwise valid).
PayloadCheck check_payload(const SubmissionSchema& schema, std::string_view payload,
                           std::string_view row_id, std::int64_t row_version);

// A short, kind sentence the app can show the resident for a rejected
// payload. Built from fixed phrases only: never contains submitted values.
// Empty when `errors` is empty.
std::string resident_message(const std::vector<SchemaError>& errors);

}  // namespace reportbridge::schema
