#pragma once
// The Source interface: read a batch from a cursor, with no side effects.
// The pipeline moves the cursor (in the same transaction as the ledger and the
// outbox), so a crash never loses or repeats a row.
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bridge/core/record.hpp"

namespace reportbridge::core {

// A closed range of seq values below the high-water mark that were not seen
// yet. A writer that committed out of seq order fills it later.
struct SeqGap {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t opened_at_ms = 0;  // unix ms when the gap was first noticed
};

struct SourceCursor {
  std::int64_t high_water = 0;  // highest seq seen
  std::vector<SeqGap> gaps;     // seqs below high_water still awaited
};

// A submission's status as written back to the app.
struct StatusUpdate {
  std::string submission_id;
  std::string state;      // received | forwarded | duplicate | needs_review | rejected
  std::string reference;  // may be empty
  std::string message;    // short text for the resident
  std::string updated_at; // RFC 3339 UTC
};

// What became of each status of one write_statuses call.
enum class StatusOutcome {
  written,  // the app has it (or a newer status of the same submission in the call)
  refused,  // the app refused it for good (e.g. unknown submission): not retried
  retry,    // not written: stays queued for a later pass
};

struct StatusWriteResult {
  std::vector<StatusOutcome> outcomes;  // one per update, in order
  std::string error;                    // what the last failure was (for the log)
};

class Source {
 public:
  virtual ~Source() = default;

  virtual const std::string& name() const = 0;

  // Rows with seq > cursor.high_water (at most `limit`, seq order) plus any rows
  // that have appeared inside the cursor's gaps. Throws on I/O errors.
  virtual std::vector<SourceRow> poll(const SourceCursor& cursor, std::size_t limit) = 0;

  // Number of rows after the high-water mark (for `status` and metrics).
  virtual std::int64_t backlog(const SourceCursor& cursor) = 0;

  // Writes statuses back to the app (idempotent upserts). Throws on failure;
  // the caller retries later.
  virtual void write_status(const std::vector<StatusUpdate>& updates) = 0;

  // The same with an outcome per status, so that one failing status never
  // holds back or re-sends the others. Throws only when nothing could be
  // attempted (then every status stays queued). The default: write_status,
  // all written or all to retry.
  virtual StatusWriteResult write_statuses(const std::vector<StatusUpdate>& updates) {
    StatusWriteResult r;
    try {
      write_status(updates);
      r.outcomes.assign(updates.size(), StatusOutcome::written);
    } catch (const std::exception& e) {
      r.outcomes.assign(updates.size(), StatusOutcome::retry);
      r.error = e.what();
    }
    return r;
  }

  // Opens an attachment's bytes for reading (path relative to the media
  // root); returns an absolute local path, or throws if the path is unsafe.
  virtual std::string attachment_path(const AttachmentRef& attachment) const = 0;
};

}  // namespace reportbridge::core
