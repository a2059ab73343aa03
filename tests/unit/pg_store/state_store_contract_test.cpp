// The promises of store::StateStore (bridge/store/state_store.hpp), each test
// run on the SQLite store and on the PostgreSQL store (issue #16): ingest,
// claims and settles, versions in order, in-doubt items, dead letters and
// replays, write-back, duplicates, status.
#include "tests/unit/pg_store/backends.hpp"

#include "tests/support/outbox.hpp"

using namespace reportbridge;

namespace {

core::SourceRow row(const std::string& id, std::int64_t version, std::int64_t seq) {
  return {seq, id, version, "2026-11-27T18:42:11Z", "{}"};
}

void enqueue(store::StateStore& s, const std::string& id, std::int64_t version, std::int64_t seq,
             const std::vector<std::string>& targets, std::int64_t now = 1000,
             std::optional<store::StatusHint> hint = std::nullopt) {
  std::vector<testing::Queued> records;
  for (const auto& t : targets) records.push_back({testing::ref_record(id, version, t), {}});
  testing::queue(s, row(id, version, seq), records, now, std::move(hint));
}

const store::RetryPolicy kRetry{3, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};
const store::WritebackRule kRule{"Passed on.", true};
const auto kRetryOutcome = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "io_error", "disk");

}  // namespace

TEST_CASE("contract: the ledger refuses a second claim of the same version") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  auto tx = s->begin_ingest();
  CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
  CHECK_FALSE(tx->claim_version(row("a", 1, 7), "h", 2));  // replayed under another seq
  CHECK(tx->claim_version(row("b", 1, 2), "h", 3));
  tx->commit();
  CHECK(s->ledger_count() == 2);
}

// will_claim names a batch's rows before their claims (PostgreSQL then asks
// the ledger once and writes the claims with the records): the answers and
// what is recorded are the same as claim by claim.
TEST_CASE("contract: claims named by will_claim refuse what the ledger holds and repeats within the batch") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  {
    auto tx = s->begin_ingest();
    CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
    tx->commit();
  }
  auto tx = s->begin_ingest();
  tx->will_claim({row("a", 1, 1), row("b", 1, 2), row("b", 1, 3), row("c", 1, 4), row("e", 1, 6)});
  CHECK_FALSE(tx->claim_version(row("a", 1, 1), "h", 2));  // in the ledger already
  CHECK(tx->claim_version(row("b", 1, 2), "h", 2));
  CHECK_FALSE(tx->claim_version(row("b", 1, 3), "h", 2));  // the same version again in this batch
  CHECK(tx->claim_version(row("c", 1, 4), "h", 2));
  CHECK(tx->claim_version(row("d", 1, 5), "h", 2));  // not named: asked on its own
  tx->set_outcome(row("c", 1, 4), "rejected");
  CHECK(tx->claim_version(row("e", 1, 6), "h", 2));
  tx->set_outcome(row("e", 1, 6), "unrouted");
  tx->commit();
  CHECK(s->ledger_count() == 5);
  CHECK(b.scalar("SELECT outcome FROM ledger WHERE submission_id = 'b'") == "queued");
  CHECK(b.scalar("SELECT outcome FROM ledger WHERE submission_id = 'c'") == "rejected");
  CHECK(b.scalar("SELECT outcome FROM ledger WHERE submission_id = 'e'") == "unrouted");
  CHECK(b.scalar("SELECT seq FROM ledger WHERE submission_id = 'b'") == "2");
  CHECK(b.scalar("SELECT received_at FROM ledger WHERE submission_id = 'b'") == "2026-11-27T18:42:11Z");
}

TEST_CASE("contract: claims named by will_claim are undone with a savepoint rolled back, and can be made again") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  auto tx = s->begin_ingest();
  tx->will_claim({row("a", 1, 1), row("b", 1, 2), row("c", 1, 3)});
  CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
  tx->begin_savepoint();
  CHECK(tx->claim_version(row("b", 1, 2), "h", 1));
  tx->set_outcome(row("b", 1, 2), "rejected");
  tx->end_savepoint(false);
  CHECK(tx->claim_version(row("b", 1, 2), "h", 1));  // undone: claimed afresh
  tx->begin_savepoint();
  CHECK(tx->claim_version(row("c", 1, 3), "h", 1));
  tx->end_savepoint(true);
  CHECK_FALSE(tx->claim_version(row("c", 1, 3), "h", 1));
  tx->commit();
  CHECK(s->ledger_count() == 3);
  CHECK(b.scalar("SELECT outcome FROM ledger WHERE submission_id = 'b'") == "queued");
}

TEST_CASE("contract: claims named by will_claim and not committed leave nothing behind") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  {
    auto tx = s->begin_ingest();
    tx->will_claim({row("a", 1, 1)});
    CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
  }
  CHECK(s->ledger_count() == 0);
  auto tx = s->begin_ingest();
  tx->will_claim({row("a", 1, 1)});
  CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
  tx->commit();
  CHECK(s->ledger_count() == 1);
}

TEST_CASE("contract: an ingest transaction not committed leaves nothing behind") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  {
    auto tx = s->begin_ingest();
    CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
    tx->save_cursor("app", {5, {}});
    tx->queue_status({"a", "received", "", "m", "t"}, 1);
  }
  CHECK(s->ledger_count() == 0);
  CHECK(s->load_cursor("app").high_water == 0);
  CHECK(s->pending_writeback_count() == 0);
}

TEST_CASE("contract: a savepoint rolled back undoes only what came after it") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  auto tx = s->begin_ingest();
  CHECK(tx->claim_version(row("a", 1, 1), "h", 1));
  tx->begin_savepoint();
  CHECK(tx->claim_version(row("b", 1, 2), "h", 1));
  tx->end_savepoint(false);
  tx->begin_savepoint();
  CHECK(tx->claim_version(row("c", 1, 3), "h", 1));
  tx->end_savepoint(true);
  tx->commit();
  CHECK(s->ledger_count() == 2);
}

TEST_CASE("contract: the cursor with its gaps survives a reopen") {
  FOR_EACH_STATE_BACKEND(b);
  {
    auto s = b.open();
    auto tx = s->begin_ingest();
    tx->save_cursor("app", {42, {{3, 5, 100}, {9, 9, 200}}});
    tx->commit();
  }
  auto s = b.open();
  auto c = s->load_cursor("app");
  CHECK(c.high_water == 42);
  REQUIRE(c.gaps.size() == 2);
  CHECK(c.gaps[0].first == 3);
  CHECK(c.gaps[0].last == 5);
  CHECK(c.gaps[1].opened_at_ms == 200);
  CHECK(s->load_cursor("other").high_water == 0);
  CHECK(s->load_cursor("other").gaps.empty());
}

TEST_CASE("contract: quarantine entries are kept and listed newest first") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  auto tx = s->begin_ingest();
  tx->claim_version(row("q1", 1, 1), "h", 1);
  tx->set_outcome(row("q1", 1, 1), "rejected");
  tx->quarantine({1, "q1", 1, "invalid_payload", "/category", "not in the list", "", 10});
  tx->quarantine({2, "q2", 1, "mapping_failed", "Ref", "required_missing", "m1", 20});
  tx->commit();
  CHECK(s->quarantine_count() == 2);
  auto q = s->quarantined(10);
  REQUIRE(q.size() == 2);
  CHECK(q[0].submission_id == "q2");
  CHECK(q[0].mapping == "m1");
  CHECK(q[1].reason_code == "invalid_payload");
  CHECK(q[1].field == "/category");
}

TEST_CASE("contract: a submission is written back as forwarded only when every target has it") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "sub-1", 1, 1, {"a", "b"});
  auto ba = s->claim_batch("a", 10, 2000);
  REQUIRE(ba);
  REQUIRE(ba->items.size() == 1);
  CHECK(ba->items[0].record.target == "a");
  CHECK(ba->items[0].record.fields.at(0).value == "sub-1");
  s->settle_batch(*ba, {core::DeliveryOutcome::ok("A-1")}, 2000, kRetry, kRule);
  CHECK(s->pending_writebacks(10).empty());  // b has not got it yet
  auto bb = s->claim_batch("b", 10, 2000);
  REQUIRE(bb);
  s->settle_batch(*bb, {core::DeliveryOutcome::ok("B-7")}, 2000, kRetry, kRule);
  auto wb = s->pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.submission_id == "sub-1");
  CHECK(wb[0].update.state == "forwarded");
  CHECK(wb[0].update.message == "Passed on.");
  CHECK((wb[0].update.reference == "A-1, B-7" || wb[0].update.reference == "B-7, A-1"));
  s->mark_writebacks_done({wb[0]});
  CHECK(s->pending_writeback_count() == 0);
  auto counts = s->target_counts();
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].delivered == 1);
  CHECK(counts[1].delivered == 1);
}

TEST_CASE("contract: the message and references follow the targets' config order") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  s->set_writeback_rule("rms", {"Sent to the RMS.", true});
  s->set_writeback_rule("csv", {"Dropped as CSV.", false});
  enqueue(*s, "sub-1", 1, 1, {"csv", "rms"});
  auto csv = s->claim_batch("csv", 10, 2000);
  auto rms = s->claim_batch("rms", 10, 2000);
  REQUIRE(csv);
  REQUIRE(rms);
  s->settle_batch(*csv, {core::DeliveryOutcome::ok("file#1")}, 2000, kRetry, {"Dropped as CSV.", false});
  s->settle_batch(*rms, {core::DeliveryOutcome::ok("RMS-7")}, 2000, kRetry, {"Sent to the RMS.", true});
  auto wb = s->pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.message == "Sent to the RMS.");
  CHECK(wb[0].update.reference == "RMS-7");
}

TEST_CASE("contract: a status hint outranks forwarded") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  // (quotes, backslashes, braces, commas, a newline and non-ASCII survive the round trip)
  const std::string message = "Call 101. \"Quoted\", {braced}, back\\slash,\nnext line, caf\u00e9 NULL";
  enqueue(*s, "sub-1", 1, 1, {"a"}, 1000, store::StatusHint{"needs_review", message});
  auto ba = s->claim_batch("a", 10, 2000);
  REQUIRE(ba);
  s->settle_batch(*ba, {core::DeliveryOutcome::ok("A-1")}, 2000, kRetry, kRule);
  auto wb = s->pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.state == "needs_review");
  CHECK(wb[0].update.message == message);
}

TEST_CASE("contract: claims are stable: open batches are handed back whole after a crash") {
  FOR_EACH_STATE_BACKEND(b);
  std::string key;
  {
    auto s = b.open();
    enqueue(*s, "x", 1, 1, {"a"});
    enqueue(*s, "y", 1, 2, {"a"});
    auto batch = s->claim_batch("a", 10, 5000);
    REQUIRE(batch);
    CHECK(batch->items.size() == 2);
    key = batch->key;
    CHECK(s->claim_batch("a", 10, 5000) == std::nullopt);  // nothing left to claim
  }
  auto s = b.open();
  auto open = s->open_batches("a");
  REQUIRE(open.size() == 1);
  CHECK(open[0].key == key);
  REQUIRE(open[0].items.size() == 2);
  CHECK(open[0].items[0].record.submission_id == "x");
  CHECK(open[0].items[1].record.submission_id == "y");
  for (const auto& item : open[0].items) CHECK(item.in_doubt);
  // Settled once, by the holder of the claim; a second outcome is refused.
  s->settle_batch(open[0], {core::DeliveryOutcome::ok(), core::DeliveryOutcome::ok()}, 6000, kRetry, kRule);
  CHECK(s->open_batches("a").empty());
  CHECK_THROWS_AS(s->settle_batch(open[0], {core::DeliveryOutcome::ok(), core::DeliveryOutcome::ok()}, 6000, kRetry,
                                  kRule),
                  store::LeaseLost);
}

TEST_CASE("contract: retry backs off, reject and exhausted retries become dead letters") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "r", 1, 1, {"a"});
  enqueue(*s, "j", 1, 2, {"a"});
  store::WritebackRule rule{"ok", false};
  auto batch = s->claim_batch("a", 10, 1000);
  REQUIRE(batch);
  s->settle_batch(*batch,
                  {kRetryOutcome,
                   core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "attachment_mismatch", "sha")},
                  1000, kRetry, rule);
  auto counts = s->target_counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].pending == 1);
  CHECK(counts[0].dead == 1);
  CHECK(s->pending_summary("a", 1000, 10).ready == 0);  // backing off
  auto next = s->next_attempt_after("a", 1000);
  REQUIRE(next);
  CHECK(*next > 1000);
  auto wb = s->pending_writebacks(10);
  REQUIRE(wb.size() == 1);
  CHECK(wb[0].update.submission_id == "j");
  CHECK(wb[0].update.state == "received");
  for (int attempt = 2; attempt <= 3; ++attempt) {
    const std::int64_t later = 1'000'000LL * attempt;
    auto again = s->claim_batch("a", 10, later);
    REQUIRE(again);
    CHECK(again->items[0].attempts == attempt - 1);
    s->settle_batch(*again, {kRetryOutcome}, later, kRetry, rule);
  }
  counts = s->target_counts();
  CHECK(counts[0].pending == 0);
  CHECK(counts[0].dead == 2);
  auto dead = s->dead_letters({"a", "r", 0}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].last_error == "retries_exhausted: io_error: disk");
}

TEST_CASE("contract: a deferred outcome is offered again later without counting an attempt") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "d", 1, 1, {"a"});
  auto batch = s->claim_batch("a", 10, 1000);
  REQUIRE(batch);
  auto deferred = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "in_doubt_wait", "settle time");
  deferred.deferred = true;
  deferred.retry_after = std::chrono::seconds(5);
  s->settle_batch(*batch, {deferred}, 1000, kRetry, kRule);
  CHECK(s->claim_batch("a", 10, 5999) == std::nullopt);
  auto again = s->claim_batch("a", 10, 6000);
  REQUIRE(again);
  CHECK(again->items[0].attempts == 0);
}

TEST_CASE("contract: pending summary counts due items up to the batch size, with the oldest's age") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  for (int i = 0; i < 5; ++i) enqueue(*s, "s" + std::to_string(i), 1, i + 1, {"a"}, 1000 + i);
  auto p = s->pending_summary("a", 2000, 3);
  CHECK(p.ready == 3);
  CHECK(p.oldest_enqueued_ms == 1000);
  CHECK(s->pending_summary("b", 2000, 3).ready == 0);
  CHECK(s->pending_summary("b", 2000, 3).oldest_enqueued_ms == 0);
}

TEST_CASE("contract: a later version waits for the earlier one, then goes as an update of its reference") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "sub-1", 1, 1, {"rms"});
  enqueue(*s, "sub-1", 2, 2, {"rms"});
  enqueue(*s, "sub-2", 1, 3, {"rms"});
  auto first = s->claim_batch("rms", 10, 2000);
  REQUIRE(first);
  REQUIRE(first->items.size() == 2);
  CHECK(first->items[0].record.version == 1);
  CHECK(first->items[0].prior_reference.empty());
  CHECK(first->items[1].record.submission_id == "sub-2");
  CHECK(s->claim_batch("rms", 10, 2000) == std::nullopt);
  s->settle_batch(*first, {core::DeliveryOutcome::ok("RMS-100"), core::DeliveryOutcome::ok("RMS-200")}, 2000, kRetry,
                  kRule);
  auto second = s->claim_batch("rms", 10, 2000);
  REQUIRE(second);
  REQUIRE(second->items.size() == 1);
  CHECK(second->items[0].record.version == 2);
  CHECK(second->items[0].prior_reference == "RMS-100");
  CHECK_FALSE(second->items[0].in_doubt);
}

TEST_CASE("contract: items that failed after sending stay in doubt") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "sub-1", 1, 1, {"rms"});
  enqueue(*s, "sub-2", 1, 2, {"rms"});
  auto batch = s->claim_batch("rms", 10, 2000);
  REQUIRE(batch);
  auto dropped = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "connection_lost", "after send");
  dropped.in_doubt = true;
  auto refused = core::DeliveryOutcome::fail(core::DeliveryStatus::retry, "connect_refused", "before send");
  s->settle_batch(*batch, {dropped, refused}, 2000, kRetry, kRule);
  auto again = s->claim_batch("rms", 10, 10'000'000);
  REQUIRE(again);
  REQUIRE(again->items.size() == 2);
  CHECK(again->items[0].in_doubt);
  CHECK_FALSE(again->items[1].in_doubt);
  CHECK(again->items[0].attempts == 1);
}

TEST_CASE("contract: dead letters are listed and replayed for their own target only") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "sub-1", 1, 1, {"rms", "npt"});
  auto rms = s->claim_batch("rms", 10, 2000);
  auto npt = s->claim_batch("npt", 10, 2000);
  REQUIRE(rms);
  REQUIRE(npt);
  s->settle_batch(*rms, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "soap_client_fault", "bad code")},
                  2000, kRetry, kRule);
  s->settle_batch(*npt, {core::DeliveryOutcome::ok()}, 2000, kRetry, kRule);
  auto dead = s->dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].target == "rms");
  CHECK(dead[0].last_error == "soap_client_fault: bad code");
  CHECK(dead[0].replayable);
  CHECK(s->dead_letters({"npt", "", 0}, 10).empty());

  s->request_replay({"", "sub-1", 0}, "operator test", 3000);
  auto done = s->carry_out_replays(3000);
  REQUIRE(done.size() == 1);
  CHECK(done[0].requested_by == "operator test");
  REQUIRE(done[0].replayed.size() == 1);
  CHECK(done[0].replayed[0].target == "rms");
  CHECK(s->carry_out_replays(3001).empty());  // a request is carried out once

  CHECK(s->claim_batch("npt", 10, 4000) == std::nullopt);
  auto again = s->claim_batch("rms", 10, 4000);
  REQUIRE(again);
  REQUIRE(again->items.size() == 1);
  CHECK(again->items[0].attempts == 0);
  s->settle_batch(*again, {core::DeliveryOutcome::ok("RMS-9")}, 4000, kRetry, kRule);
  CHECK(s->dead_letters({}, 10).empty());
  for (const auto& c : s->target_counts()) CHECK(c.delivered == 1);
}

TEST_CASE("contract: a record held for review is a dead letter from the start, released by a replay") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  testing::queue(*s, row("h", 1, 1), {{testing::ref_record("h", 1, "rms"), "related_hold: review"}}, 1000);
  CHECK(s->claim_batch("rms", 10, 2000) == std::nullopt);
  auto dead = s->dead_letters({}, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].last_error == "related_hold: review");
  CHECK(s->replay({"rms", "", 0}, 3000).size() == 1);
  auto batch = s->claim_batch("rms", 10, 3000);
  REQUIRE(batch);
  CHECK(batch->items[0].record.submission_id == "h");
}

TEST_CASE("contract: retention erases the record copies of old dead letters, which then cannot be replayed") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "old", 1, 1, {"rms"});
  auto b1 = s->claim_batch("rms", 10, 1000);
  REQUIRE(b1);
  s->settle_batch(*b1, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "x", "y")}, 1000, kRetry, kRule);
  enqueue(*s, "new", 1, 2, {"rms"});
  auto b2 = s->claim_batch("rms", 10, 9000);
  REQUIRE(b2);
  s->settle_batch(*b2, {core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "x", "y")}, 9000, kRetry, kRule);
  auto erased = s->purge_dead_records(5000);
  REQUIRE(erased.size() == 1);
  CHECK(erased[0].submission_id == "old");
  CHECK(s->purge_dead_records(5000).empty());
  auto dead = s->dead_letters({}, 10);
  REQUIRE(dead.size() == 2);
  CHECK_FALSE(dead[0].replayable);
  CHECK(dead[1].replayable);
  CHECK(s->replay({"", "old", 0}, 10000).empty());
  CHECK(s->replay({"", "new", 0}, 10000).size() == 1);
}

TEST_CASE("contract: circuit state is saved and read back by another connection") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  s->save_target_health({"rms", "open", 5, 100, 30100, "http_503: unavailable"}, 100);
  s->save_target_health({"rms", "closed", 0, 0, 0, ""}, 200);
  s->save_target_health({"psd", "open", 7, 100, 500, "io_error: disk full"}, 200);
  auto other = b.open();
  auto h = other->target_health();
  REQUIRE(h.size() == 2);
  CHECK(h[0].target == "psd");
  CHECK(h[0].consecutive_failures == 7);
  CHECK(h[0].retry_at_ms == 500);
  CHECK(h[1].circuit == "closed");
}

TEST_CASE("contract: backlog counts pending and in-flight items per target with the oldest's time") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "a", 1, 1, {"rms"});
  enqueue(*s, "b", 1, 2, {"rms"});
  auto batch = s->claim_batch("rms", 1, 2000);
  REQUIRE(batch);
  auto backlog = s->backlog({"rms", "npt"});
  REQUIRE(backlog.size() == 2);
  CHECK(backlog[0].pending == 2);
  CHECK(backlog[0].oldest_enqueued_ms == 1000);
  CHECK(backlog[1].pending == 0);
  CHECK(backlog[1].oldest_enqueued_ms == 0);
  auto counts = s->target_counts();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].in_flight == 1);
  CHECK(counts[0].pending == 1);
}

TEST_CASE("contract: references are found by target, and only kept for targets that read them back") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "sub-1", 1, 1, {"csv", "rms"});
  auto csv = s->claim_batch("csv", 10, 2000);
  auto rms = s->claim_batch("rms", 10, 2000);
  REQUIRE(csv);
  REQUIRE(rms);
  s->settle_batch(*csv, {core::DeliveryOutcome::ok("csv-file#1")}, 2000, kRetry, {"Passed on.", false, false});
  s->settle_batch(*rms, {core::DeliveryOutcome::ok("RMS-7")}, 2100, kRetry, kRule);
  CHECK(s->reference_for("sub-1", "rms") == "RMS-7");
  CHECK(s->reference_for("sub-1", "csv").empty());
  CHECK(s->reference_for("sub-1") == "RMS-7");
  CHECK(s->reference_for("sub-2").empty());
}

TEST_CASE("contract: a claim is bounded by the memory its decoded records take, the rest follows in order") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  for (int i = 0; i < 40; ++i) {
    core::TargetRecord r = testing::ref_record("sub-" + std::to_string(i), 1, "csv");
    for (int f = 0; f < 200; ++f) r.fields.push_back({"AFieldNameLongerThanSixteen" + std::to_string(f), "x"});
    testing::queue(*s, {i + 1, r.submission_id, 1, "2026-11-27T18:42:11Z", "{}"}, {{r, {}}}, 1000);
  }
  std::size_t total = 0;
  std::int64_t last = 0;
  while (auto next = s->claim_batch("csv", store::ClaimLimits{1000, 64u << 10}, 2000)) {
    CHECK(next->items.size() >= 1);
    CHECK(next->items.size() <= 6);
    CHECK(next->items.front().outbox_id > last);
    last = next->items.back().outbox_id;
    total += next->items.size();
    s->settle_batch(*next, std::vector<core::DeliveryOutcome>(next->items.size(), core::DeliveryOutcome::ok("R")),
                    2000, kRetry, kRule);
  }
  CHECK(total == 40);
}

TEST_CASE("contract: write-back goes in queue order, a status the app refused waits on its own") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  {
    auto tx = s->begin_ingest();
    tx->queue_status({"s1", "rejected", "", "bad", "t1"}, 1);
    tx->queue_status({"s2", "received", "", "ok", "t1"}, 1);
    tx->commit();
  }
  enqueue(*s, "s3", 1, 3, {"a"}, 5000);
  auto batch = s->claim_batch("a", 10, 6000);
  REQUIRE(batch);
  s->settle_batch(*batch, {core::DeliveryOutcome::ok("A-3")}, 6000, kRetry, kRule);
  auto wb = s->pending_writebacks(10, 7000);
  REQUIRE(wb.size() == 3);
  CHECK(wb[0].update.submission_id == "s1");
  CHECK(wb[1].update.submission_id == "s2");
  CHECK(wb[2].update.submission_id == "s3");
  CHECK(wb[2].update.reference == "A-3");
  // s2 refused: it waits until 20000, the others are done.
  s->finish_writebacks({wb[0], wb[2]}, {{wb[1], 20000}});
  CHECK(s->pending_writeback_count() == 1);
  CHECK(s->pending_writebacks(10, 19999).empty());
  auto later = s->pending_writebacks(10, 20000);
  REQUIRE(later.size() == 1);
  CHECK(later[0].update.submission_id == "s2");
  CHECK(later[0].attempts == 1);
  s->mark_writebacks_done(later);
  CHECK(s->pending_writeback_count() == 0);
}

TEST_CASE("contract: a duplicate gets the kept report's reference once it has one") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  s->set_writeback_rule("rms", kRule);
  enqueue(*s, "kept", 1, 1, {"rms"});
  {
    auto tx = s->begin_ingest();
    REQUIRE(tx->claim_version(row("dup", 1, 2), "h", 1000));
    tx->set_outcome(row("dup", 1, 2), "duplicate");
    tx->link_duplicate("dup", 1, "kept", "Already reported.", 1000);
    CHECK(tx->kept_for("dup") == std::optional<std::string>("kept"));
    CHECK(tx->kept_for("kept") == std::nullopt);
    tx->commit();
  }
  CHECK(s->fill_duplicate_references(1500) == 0);  // no reference yet
  auto batch = s->claim_batch("rms", 10, 2000);
  REQUIRE(batch);
  s->settle_batch(*batch, {core::DeliveryOutcome::ok("RMS-1")}, 2000, kRetry, kRule);
  auto wb = s->pending_writebacks(10);
  REQUIRE(wb.size() == 2);
  CHECK(wb[0].update.submission_id == "kept");
  CHECK(wb[1].update.submission_id == "dup");
  CHECK(wb[1].update.state == "duplicate");
  CHECK(wb[1].update.reference == "RMS-1");
  CHECK(wb[1].update.message == "Already reported.");
  CHECK(s->fill_duplicate_references(3000) == 0);  // filled once
}

TEST_CASE("contract: a copy not yet sent can be withdrawn, one already claimed cannot") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  enqueue(*s, "later-copy", 1, 1, {"a", "b"});
  enqueue(*s, "claimed", 1, 2, {"a"});
  enqueue(*s, "edited", 1, 3, {"a"});
  enqueue(*s, "edited", 2, 4, {"a"});
  {
    auto tx = s->begin_ingest();
    tx->begin_savepoint();
    CHECK(tx->withdraw_unsent("later-copy"));
    tx->end_savepoint(true);
    CHECK_FALSE(tx->withdraw_unsent("edited"));  // a version 2 is queued
    CHECK_FALSE(tx->withdraw_unsent("nothing"));
    tx->commit();
  }
  auto batch = s->claim_batch("a", 10, 2000);
  REQUIRE(batch);
  REQUIRE(batch->items.size() == 2);  // claimed and edited v1 (v2 waits); the withdrawn copy is skipped
  CHECK(batch->items[0].record.submission_id == "claimed");
  CHECK(s->claim_batch("b", 10, 2000) == std::nullopt);
  {
    auto tx = s->begin_ingest();
    CHECK_FALSE(tx->withdraw_unsent("claimed"));
    tx->commit();
  }
}

TEST_CASE("contract: a status waiting for its retry never overwrites a newer status of its submission") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  {
    auto tx = s->begin_ingest();
    tx->queue_status({"sub-1", "received", "", "v1", "2026-11-27T18:42:11Z"}, 1);
    tx->queue_status({"sub-2", "received", "", "other", "2026-11-27T18:42:11Z"}, 1);
    tx->commit();
  }
  const std::int64_t t0 = store::now_ms();
  auto first = s->pending_writebacks(10, t0);
  REQUIRE(first.size() == 2);
  std::vector<std::pair<store::WritebackItem, std::int64_t>> later;
  for (auto& w : first) later.emplace_back(w, t0 + 10'000);
  s->finish_writebacks({}, later);  // the app was away: both wait 10 s
  CHECK(s->pending_writebacks(10, t0).empty());
  {
    auto tx = s->begin_ingest();
    tx->queue_status({"sub-1", "needs_review", "", "v2", "2026-11-27T18:43:11Z"}, 2);
    tx->commit();
  }
  auto second = s->pending_writebacks(10, t0 + 1);
  REQUIRE(second.size() == 1);
  CHECK(second[0].update.message == "v2");
  s->mark_writebacks_done(second);
  // v1's retry comes due: superseded by v2, dropped; sub-2's is kept.
  auto due = s->pending_writebacks(10, t0 + 20'000);
  REQUIRE(due.size() == 1);
  CHECK(due[0].update.submission_id == "sub-2");
  CHECK(s->pending_writeback_count() == 1);
}

TEST_CASE("contract: an older status failing in the same pass as a newer one is not written after it") {
  FOR_EACH_STATE_BACKEND(b);
  auto s = b.open();
  for (const char* v : {"v1", "v2"}) {
    auto tx = s->begin_ingest();
    tx->queue_status({"sub-1", "received", "", v, "2026-11-27T18:42:11Z"}, v[1] - '0');
    tx->commit();
  }
  const std::int64_t t0 = store::now_ms();
  auto both = s->pending_writebacks(10, t0);
  REQUIRE(both.size() == 2);
  CHECK(both[0].update.message == "v1");  // oldest first
  s->finish_writebacks({both[1]}, {{both[0], t0 + 1000}});
  CHECK(s->pending_writebacks(10, t0 + 5000).empty());
  CHECK(s->pending_writeback_count() == 0);
}
