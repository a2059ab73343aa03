#pragma once
// How the outbox keeps target records: a compact binary encoding, written once
// at ingest and read once by the delivery that claims it (no JSON text to
// build and parse back, no field names repeated per record).
//
// Building blocks: unsigned LEB128 varints and length-prefixed byte strings.
//
//   values(record)   the record's field values in its field order (each: varint
//                    0 = no value, else 1 + byte length, then the bytes),
//                    then its attachments (varint count; per attachment: id,
//                    filename, media_type, varint size_bytes, sha256, path).
//                    The field names are not in it: they belong to the shape.
//   shape            the mapping, the target and the field names every record
//                    of that mapping for that target has, in order.
//   record           a stand-alone record: format byte 'R', submission_id,
//                    varint version, shape (mapping, target, names), values.
//                    Kept for items that need their own copy (retries, dead
//                    letters, items waiting for an earlier version).
//
// Decoders never trust their input: every length is checked against what is
// left, and a malformed encoding returns false (the caller dead-letters the
// item as record_unreadable).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/record.hpp"

namespace reportbridge::store::codec {

void put_varint(std::string& out, std::uint64_t value);
void put_bytes(std::string& out, std::string_view bytes);
// Reads from the front of `in`, advancing it; false when `in` is too short or malformed.
bool get_varint(std::string_view& in, std::uint64_t& value);
bool get_bytes(std::string_view& in, std::string_view& bytes);
bool get_string(std::string_view& in, std::string& out);

// The values of `record` (fields in its order, then attachments), appended to `out`.
void put_values(std::string& out, const core::TargetRecord& record);
// Reads values written by put_values for a record whose fields are `names`
// (in order), into out.fields and out.attachments.
bool get_values(std::string_view& in, const std::vector<std::string>& names, core::TargetRecord& out);

// A stand-alone record.
std::string encode_record(const core::TargetRecord& record);
// The same from a shape and values already encoded by put_values (no decoding).
std::string encode_record(std::string_view submission_id, std::int64_t version, std::string_view mapping,
                          std::string_view target, const std::vector<std::string>& names, std::string_view values);
bool decode_record(std::string_view in, core::TargetRecord& out);

// Size of the encoded values of `record` (what a claim's byte budget counts).
std::size_t values_size(const core::TargetRecord& record);

}  // namespace reportbridge::store::codec
