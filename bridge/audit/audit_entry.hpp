#pragma once
// One audit entry: a JSON Lines record with a fixed field order, sealed by two
// SHA-256 hashes (docs/audit.md, "Hash chain"):
//
//   line  = U + ,"hash":"<H>"}        U = {"seq":...,"prev":"<P>"  (the unsealed part)
//   H     = sha256(U)                 the entry's own hash
//   P     = sha256(previous line)     exact bytes of the previous line, without "\n";
//                                     kGenesis for the very first entry
//
// Hashes are lowercase hex. The writer and the verifier share this file.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/events.hpp"

namespace reportbridge::audit {

// The `prev` of the first entry of the first file.
inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Entry kinds written by the audit log itself, besides core::EventKind names.
inline constexpr std::string_view kChainResumed = "chain_resumed";

// Longest value kept for `detail` and for the other text fields; longer values
// are cut at a UTF-8 boundary and end with "...".
inline constexpr std::size_t kMaxDetail = 1000;
inline constexpr std::size_t kMaxField = 256;

struct ServiceIdentity {
  std::string name = "reportbridge";
  std::string host;
  std::int64_t pid = 0;
  std::string instance;  // random per start, tells apart two runs with the same pid

  // This process: gethostname(2), getpid(2) and a fresh random instance id.
  static ServiceIdentity current(std::string name);
};

// A submission in a batch entry (docs/audit.md, "Batch entries").
struct EntryItem {
  std::string submission_id;
  std::int64_t version = 0;
  std::string reference;  // after the entry's own `reference` (a common prefix)
  std::string detail;     // empty: the entry's `detail`
};

struct Entry {
  std::int64_t seq = 0;
  std::string time;  // RFC 3339 UTC with milliseconds
  std::int64_t time_ms = 0;
  std::string service;
  std::string host;
  std::int64_t pid = 0;
  std::string instance;
  std::string kind;
  std::string submission_id;
  std::int64_t version = 0;
  std::string mapping;
  std::string rule;
  std::string target;
  std::string reference;
  std::string related_id;
  std::string reason_code;
  std::string detail;
  // A batch entry: the submissions it speaks for (its own submission_id is
  // empty). Empty for an entry about one submission.
  std::vector<EntryItem> items;
  bool batch = false;
  std::string prev;
  std::string hash;

  // One entry per submission of a batch entry, as if each had been written on
  // its own (the item's reference is the entry's reference prefix followed by
  // the item's; an item without a detail takes the entry's). An entry about one
  // submission is returned as it is.
  std::vector<Entry> expand() const;
};

// Everything of an entry but seq and prev: `,"time":...,"detail":"..."`.
// Built outside the writer's lock.
std::string encode_body(std::string_view kind, const core::Event& event, std::int64_t time_ms,
                        const ServiceIdentity& id);

// The same for a batch of events of one kind: the common fields, then
// `,"items":[[submission_id,version,reference,detail],...]` (trailing empty
// strings left out; references after the longest prefix they all share, which
// goes in `reference`).
std::string encode_batch_body(std::string_view kind, const core::EventBatch& batch, std::int64_t time_ms,
                              const ServiceIdentity& id);

// The unsealed part U for `seq`, `body` and `prev`.
std::string unsealed(std::int64_t seq, std::string_view body, std::string_view prev);

struct Sealed {
  std::string line;       // without "\n"
  std::string line_hash;  // sha256(line): the next entry's prev
};

// Appends the own hash to U; computes both hashes in one pass over U.
Sealed seal(std::string unsealed_part);

// The same as `out += seal(unsealed(seq, body, prev)).line`, without copying
// the body twice (a batch entry can be a megabyte); returns the line hash.
std::string seal_into(std::string& out, std::int64_t seq, std::string_view body, std::string_view prev);

// sha256 of a line's exact bytes (without the "\n").
std::string line_hash(std::string_view line);

struct Parsed {
  std::optional<Entry> entry;
  std::string error;  // why the line is not a valid entry (entry is empty then)
};

// Parses a line and checks its own hash. Does not check `prev` (that needs the
// line before).
Parsed parse_entry(std::string_view line);

// "2025-03-01T10:00:00.123Z"
std::string format_time(std::int64_t unix_ms);
// RFC 3339 ("2025-03-01T10:00:00Z", "...00.123+01:00") or a date ("2025-03-01",
// midnight UTC). Without a zone the time is UTC.
std::optional<std::int64_t> parse_time(std::string_view text);

}  // namespace reportbridge::audit
