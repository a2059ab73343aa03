#pragma once
// The Source interface: read a batch from a cursor, with no side effects.
// The pipeline moves the cursor (in the same transaction as the ledger and the
// outbox), so a crash never loses or repeats a row.
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
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

// The same status as views, as the write-back passes it to Source::write_statuses:
// a pass of thousands of statuses is held as views into the stored chunks they
// were queued in (strings shared per chunk), not as owned strings each.
struct StatusRef {
  std::string_view submission_id;
  std::string_view state;
  std::string_view reference;  // may be empty
  std::string_view message;
  std::string_view updated_at;

  StatusRef() = default;
  StatusRef(std::string_view id, std::string_view st, std::string_view ref, std::string_view msg,
            std::string_view at)
      : submission_id(id), state(st), reference(ref), message(msg), updated_at(at) {}
  StatusRef(const StatusUpdate& u)  // NOLINT: implicit, a view of it
      : StatusRef(u.submission_id, u.state, u.reference, u.message, u.updated_at) {}
  StatusUpdate owned() const {
    return {std::string(submission_id), std::string(state), std::string(reference), std::string(message),
            std::string(updated_at)};
  }
};

// The source cannot be used now (a back end that is down or throttling); the
// caller waits retry_in() before the next attempt. Any other exception from a
// Source is an error of its own.
class SourceUnavailable : public std::runtime_error {
 public:
  SourceUnavailable(const std::string& what, std::chrono::milliseconds retry_in)
      : std::runtime_error(what), retry_in_(retry_in) {}
  std::chrono::milliseconds retry_in() const { return retry_in_; }

 private:
  std::chrono::milliseconds retry_in_;
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

  // Writes statuses back to the app (idempotent upserts), in order (a later
  // status of a submission over an earlier one). Throws on failure; the
  // caller retries later. The views live for the call only.
  virtual void write_status(std::span<const StatusRef> updates) = 0;
  void write_status(const std::vector<StatusUpdate>& updates) {
    const std::vector<StatusRef> refs(updates.begin(), updates.end());
    write_status(std::span<const StatusRef>(refs));
  }

  // The same with an outcome per status, so that one failing status never
  // holds back or re-sends the others. Throws only when nothing could be
  // attempted (then every status stays queued). The default: write_status,
  // all written or all to retry.
  virtual StatusWriteResult write_statuses(std::span<const StatusRef> updates) {
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

  // The newest version of one submission, or nullopt (`reportbridge preview
  // --submission ID`; an operator tool, not for the delivery path). Throws
  // like poll().
  virtual std::optional<SourceRow> latest(const std::string& submission_id) = 0;

  // Readiness (`/readyz`): nullopt when the source can be read now, else what
  // is wrong (never a secret). Called from the health server's thread while
  // the other threads use the source: an implementation uses nothing they
  // use without a lock, and does not block for long.
  virtual std::optional<std::string> probe() const = 0;

  // Where the source reads from, for logs and messages (a path or URL, never
  // a credential).
  virtual std::string location() const = 0;
};

}  // namespace reportbridge::core
