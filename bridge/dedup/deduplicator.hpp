#pragma once
// Deduplication and cross-referencing of submissions, kept in the bridge's
// state database (tables dedup_*, through store::DedupTables: SQLite or the
// PostgreSQL a fleet shares), for the ingest step to call inside its own
// transaction:
//
//   duplicate  the same content (normalised fingerprint) under a new id,
//              received within duplicate_window of the first: not sent again;
//   related    another report of the same incident: same or related category,
//              within max_distance_m and time_window (incident times), and a
//              combined score (distance, time, text and place trigram
//              similarity) >= threshold; of_id is the first report;
//   update     (id, version > 1): an edit, never a duplicate of anything;
//   original   anything else.
//
// Every verdict carries the earlier submission, the score, the rule and an
// explanation without personal data. Reporter keys are keyed HMACs of the
// normalised email or phone; the database holds only keyed hashes.
//
// Lookups of submissions arriving in order are answered from an in-memory
// mirror of the newest rows (bridge/dedup/recent_index.hpp); the tables answer
// older windows. The mirror is rebuilt when the tables' generation moves: after
// a rollback, and on PostgreSQL when another instance ingested meanwhile.
//
// Not thread-safe: one instance per connection, used by one thread.
#include <boost/json/value.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/core/record.hpp"
#include "bridge/dedup/settings.hpp"
#include "bridge/store/dedup_tables.hpp"
#include "bridge/store/sqlite.hpp"

namespace reportbridge::dedup {

struct Verdict {
  enum class Kind { original, duplicate, related, update };
  Kind kind = Kind::original;
  // duplicate/related: the earlier (first) submission; update: the edited id;
  // original: empty.
  std::string of_id;
  // duplicate 1; related: the combined score; original: the best related
  // score that fell short (0 when there was no candidate); update 0.
  double score = 0;
  // duplicate.fingerprint, related.same_category, related.related_category,
  // update.new_version, original.no_match, original.not_checked (no object
  // or dedup disabled).
  std::string rule;
  std::string explanation;  // for preview and the audit detail; no personal data
  std::optional<std::string> reporter_key;  // "rk-..." when keys are configured and the doc has contact
  bool replayed = false;  // (id, version) was judged before: this is the stored verdict
  // duplicate (rule duplicate.fingerprint_sent_first): of_id was received
  // after this one but ingested first. The ingest step withdraws of_id when it
  // has not left yet and calls supersede(); otherwise this one stays linked.
  bool received_before_of = false;
};

// What supersede() changed: this submission's new verdict, and the later
// copy's (now a duplicate of this one).
struct Superseded {
  Verdict verdict;
  std::string later_id;
  Verdict later_verdict;
};

std::string_view to_string(Verdict::Kind kind);

class Deduplicator {
 public:
  // On a SQLite connection: creates the dedup_* tables if missing (no
  // transaction of its own). Throws std::invalid_argument for a bad reporter
  // key file, store::SqliteError on database errors.
  Deduplicator(store::Database& db, DedupSettings settings);
  // On a state store's tables (StateStore::open_dedup_tables); throws
  // std::invalid_argument when `tables` is null.
  Deduplicator(std::unique_ptr<store::DedupTables> tables, DedupSettings settings);
  ~Deduplicator();
  Deduplicator(const Deduplicator&) = delete;
  Deduplicator& operator=(const Deduplicator&) = delete;

  // Judges one submission version and records what later ones are compared
  // with. Call inside the ingest transaction, once per (id, version): a second
  // call for the same (id, version) returns the stored verdict (replayed).
  // `doc` is the parsed payload; row.id, row.version and row.received_at are used.
  Verdict check_and_record(const boost::json::value& doc, const core::SourceRow& row);

  // After check_and_record judged `row` a duplicate of a copy received later
  // but ingested first (received_before_of), and the ingest step withdrew that
  // copy before it left: the later copy leaves the indexes and becomes a
  // duplicate of this one (rule duplicate.fingerprint, withdrawn), and this
  // one is judged again without it (original or related) and recorded.
  // Related reports that hung on the later copy now hang on this one. Runs in
  // a savepoint of the caller's transaction: nullopt (and nothing changed)
  // when this one would still be a duplicate, or `row` is not the row just
  // judged that way.
  std::optional<Superseded> supersede(const boost::json::value& doc, const core::SourceRow& row);

  // Drops the in-memory window (it is rebuilt from the tables on next use):
  // for a caller that rolled back to a savepoint of its own.
  void reload_window();

  // The same judgement without recording anything (for `preview`).
  Verdict check(const boost::json::value& doc, const core::SourceRow& row) const;

  // The verdict recorded for (id, version), if any (for the audit trail).
  std::optional<Verdict> recorded_verdict(std::string_view id, std::int64_t version) const;

  // Deletes fingerprints, related-index rows, verdicts and reporter keys
  // received (or, for reporter keys, last seen) before now_ms - retention.
  // Returns the number of rows deleted. Runs in a transaction of its own.
  std::size_t purge(std::int64_t now_ms);

  // The pseudonymous reporter key ("rk-" + 32 hex) of the doc's reporter: the
  // one already recorded for their email or phone, else derived from the
  // email (or the phone when there is no usable email). nullopt when reporter
  // keys are not configured or the doc has no usable email or phone.
  std::optional<std::string> reporter_key(const boost::json::value& doc) const;

  const DedupSettings& settings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Unix milliseconds of an RFC 3339 date-time ("2026-11-27T18:42:10+00:00",
// fractions and Z allowed); nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace reportbridge::dedup
