#pragma once
// Deterministic generator of realistic app submission stores (the SQLite store
// of shared/contracts/app-store.md): first reports, double-tap duplicates,
// edits (version + 1), malformed payloads, attachment files under a media
// root, and an optional JSON Lines ground truth labelling every row.
//
// Usage:
//   reportbridge::gen::GenOptions o;
//   o.db_path = "/tmp/store.db";          // created with the contract's schema
//   o.count = 10000;                       // rows to add
//   o.seed = 7;                            // same options -> byte-identical rows and files
//   o.truth_path = "/tmp/truth.jsonl";     // {"seq","id","version","label","valid","reason","dup_of","change"}
//   auto stats = reportbridge::gen::generate_store(o);   // throws on bad options or I/O errors
//
//   reportbridge-gen-store --db store.db --count 1000000 --attachment-rate 0 --seed 1
//   reportbridge-gen-store --db store.db --append --count 50 --truth truth.jsonl
//
// Tests that need hand-made rows: make_payload(seed, index) gives one valid
// payload; insert_row() writes a row with an explicit seq (out-of-order commits).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reportbridge::gen {

inline constexpr std::string_view kDefaultNow = "2026-11-27T12:00:00Z";

struct GenOptions {
  std::string db_path;                    // SQLite store, created with the contract's schema if missing
  std::string media_root;                 // attachment files written here (default: <db dir>/media)
  std::int64_t count = 1000;              // rows to add
  std::uint64_t seed = 1;
  std::string now = std::string(kDefaultNow);  // rows fall in the `days` before it
  double days = 30;
  double malformed_rate = 0.01;   // invalid JSON, truncated, missing field, wrong type, lat/lon range, kind, id
  double exact_dup_rate = 0.02;   // same content, new id, seconds/minutes later (double tap)
  double update_rate = 0.05;      // new version (version+1) of an earlier id
  double attachment_rate = 0.2;   // share of valid first reports with 1-3 attachments
  double formula_rate = 0.01;     // summaries/descriptions starting with = + - @
  bool append = false;            // add to an existing store, continuing seq
  std::int64_t batch = 5000;      // rows per transaction
  std::string truth_path;         // optional JSON Lines ground truth (appended to with `append`)
};

struct GenStats {
  std::int64_t rows = 0, first = 0, exact_dup = 0, update = 0, malformed = 0, attachments = 0,
               attachment_bytes = 0;
  std::int64_t first_seq = 0, last_seq = 0;  // seq range written (0, 0 when count is 0)
};

// Fills the store. Throws std::invalid_argument for bad options (including a
// non-empty store without `append`) and std::runtime_error for I/O errors.
GenStats generate_store(const GenOptions& options);

// One-line summary of a run, as the CLI prints it.
std::string summary_line(const GenOptions& options, const GenStats& stats);

// --- helpers for tests -------------------------------------------------------------
struct StoreRow {
  std::int64_t seq = 0;
  std::string id;
  std::int64_t version = 1;
  std::string received_at;  // RFC 3339 UTC
  std::string payload;
};

// Creates the store's tables if missing (parent folders too).
void create_store(const std::string& db_path);
// Inserts one row with an explicit seq, in its own transaction (for tests that
// commit out of order). Creates the store if missing. Throws on a clash.
void insert_row(const std::string& db_path, const StoreRow& row);

// Deterministic version-4 UUID for (seed, index); the generator gives the row
// with seq `index` this id unless it is a malformed row with a mismatched id.
std::string make_uuid(std::uint64_t seed, std::int64_t index);
// One valid payload (no attachments) with id make_uuid(seed, index), version 1.
std::string make_payload(std::uint64_t seed, std::int64_t index);
// The same document under the given id and version.
std::string make_payload(std::uint64_t seed, std::int64_t index, std::string_view id, std::int64_t version);

// The generator's definition of a well-formed payload for row (id, version):
// nothing when valid, else a reason like the truth file's ("invalid_json",
// "missing_field:kind", "wrong_type:location", "out_of_range:lat",
// "unknown_kind", "id_mismatch", "version_mismatch").
std::optional<std::string> check_payload(std::string_view payload, std::string_view id, std::int64_t version);

}  // namespace reportbridge::gen
