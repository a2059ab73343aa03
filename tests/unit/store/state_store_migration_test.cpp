// Schema version 3 -> 4 on a state database written by the bridge before the
// outbox kept its records per batch (main at 5fd1c87, tests/fixtures/state):
// 120 submissions to a CSV drop (npt_csv, all delivered), a Windows-1252 CSV
// drop (psd_csv, 12 dead letters: unencodable), and a SOAP target (rms_soap)
// that was unreachable (75 retries pending, 10 items in a batch left open by a
// SIGKILL), 35 statuses not written back yet and two status hints. Everything
// in flight must go on exactly as it would have.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "bridge/store/sqlite_state_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::TempDir;

namespace {

const store::RetryPolicy kRetry{20, std::chrono::milliseconds(10), std::chrono::milliseconds(10)};
const store::WritebackRule kNpt{"Passed to the neighbourhood team.", false, false};
const store::WritebackRule kPsd{"Passed to Professional Standards.", false, false};
const store::WritebackRule kRms{"Passed to the RMS.", true, true};

const std::string kHinted = "1c18c4f8-0a62-461d-b9bd-d11cf79f88a7";  // v1 in the open batch, v2 pending, a hint

struct Migrated {
  TempDir dir;
  std::string path = (dir / "state.db").string();
  std::unique_ptr<store::SqliteStateStore> s;
  Migrated() {
    std::filesystem::copy_file(REPORTBRIDGE_SOURCE_DIR "/tests/fixtures/state/v3-main-5fd1c87.db", path);
    s = std::make_unique<store::SqliteStateStore>(path);
    s->set_writeback_rule("npt_csv", kNpt);
    s->set_writeback_rule("psd_csv", kPsd);
    s->set_writeback_rule("rms_soap", kRms);
  }
};

const store::TargetCounts& counts_of(const std::vector<store::TargetCounts>& all, const std::string& target) {
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.target == target; });
  REQUIRE(it != all.end());
  return *it;
}

const store::WritebackItem* status_of(const std::vector<store::WritebackItem>& all, const std::string& id,
                                      std::int64_t version) {
  for (const auto& w : all)
    if (w.update.submission_id == id && w.version == version) return &w;
  return nullptr;
}

}  // namespace

TEST_CASE("a schema 3 database from main is migrated (through 4) with its counts, dead letters, statuses and open batch") {
  Migrated m;
  auto& s = *m.s;
  auto v = s.db().prepare("SELECT value FROM meta WHERE key = 'schema_version'");
  REQUIRE(v.step());
  CHECK(v.text(0) == "5");

  const auto counts = s.target_counts();
  CHECK(counts_of(counts, "npt_csv").delivered == 85);
  CHECK(counts_of(counts, "npt_csv").pending == 0);
  CHECK(counts_of(counts, "psd_csv").delivered == 19);
  CHECK(counts_of(counts, "psd_csv").dead == 12);
  CHECK(counts_of(counts, "rms_soap").pending == 75);
  CHECK(counts_of(counts, "rms_soap").in_flight == 10);

  const auto dead = s.dead_letters({"psd_csv", "", 0}, 100);
  REQUIRE(dead.size() == 12);
  for (const auto& d : dead) {
    CHECK(d.replayable);
    CHECK(d.last_error.rfind("unencodable", 0) == 0);
  }

  // The statuses still queued, in their order.
  CHECK(s.pending_writeback_count() == 35);
  const auto queued = s.pending_writebacks(1000);
  REQUIRE(queued.size() == 35);
  CHECK(queued.front().update.submission_id == "0c2a7f34-79ea-40c8-b22a-baf858713728");
  CHECK(queued.front().update.state == "rejected");

  // The batch a SIGKILL left open comes back whole: same key, items, order; in doubt.
  auto open = s.open_batches("rms_soap");
  REQUIRE(open.size() == 1);
  const auto& batch = open[0];
  CHECK(batch.key == "20261204T162354Z-28c69e-000009");
  REQUIRE(batch.items.size() == 10);
  CHECK(batch.items[0].outbox_id == 2);
  CHECK(batch.items[0].record.submission_id == kHinted);
  CHECK(batch.items[0].record.target == "rms_soap");
  CHECK_FALSE(batch.items[0].record.fields.empty());
  for (const auto& item : batch.items) CHECK(item.in_doubt);
}

TEST_CASE("after the migration, versions keep their order, hints and every target's part in the status") {
  Migrated m;
  auto& s = *m.s;
  s.mark_writebacks_done(s.pending_writebacks(1000));  // the 35 queued before
  auto open = s.open_batches("rms_soap");
  REQUIRE(open.size() == 1);

  // Retries due: the later version of the hinted submission waits while its
  // first version is still in the open batch.
  auto claimed = s.claim_batch("rms_soap", 100, 1);
  REQUIRE(claimed);
  for (const auto& item : claimed->items) CHECK_FALSE(item.record.submission_id == kHinted);
  CHECK(std::any_of(claimed->items.begin(), claimed->items.end(),
                    [](const auto& i) { return i.outbox_id == 26; }));

  // The open batch is delivered: each version was already at npt_csv, so its
  // status is written now: npt's message, the RMS reference; the hint wins.
  std::vector<core::DeliveryOutcome> ok;
  for (const auto& item : open[0].items) ok.push_back(core::DeliveryOutcome::ok("RMS-" + std::to_string(item.outbox_id)));
  s.settle_batch(open[0], ok, 5000, kRetry, kRms);
  auto statuses = s.pending_writebacks(1000);
  CHECK(statuses.size() == 10);
  const auto* hinted = status_of(statuses, kHinted, 1);
  REQUIRE(hinted);
  CHECK(hinted->update.state == "needs_review");
  CHECK(hinted->update.message == "Call 999 in an emergency.");
  CHECK(hinted->update.reference == "RMS-2");
  const auto* plain = status_of(statuses, open[0].items[1].record.submission_id, 1);
  REQUIRE(plain);
  CHECK(plain->update.state == "forwarded");
  CHECK(plain->update.message == kNpt.message);
  CHECK(plain->update.reference == "RMS-" + std::to_string(open[0].items[1].outbox_id));
  s.mark_writebacks_done(statuses);

  // Now the later version goes, as an update of the record the RMS made.
  std::vector<core::DeliveryOutcome> failed(claimed->items.size(),
                                            core::DeliveryOutcome::fail(core::DeliveryStatus::reject, "x", "y"));
  s.settle_batch(*claimed, failed, 6000, kRetry, kRms);
  auto next = s.claim_batch("rms_soap", 100, 10'000'000'000'000);
  REQUIRE(next);
  auto v2 = std::find_if(next->items.begin(), next->items.end(),
                         [](const auto& i) { return i.record.submission_id == kHinted && i.record.version == 2; });
  REQUIRE(v2 != next->items.end());
  CHECK(v2->prior_reference == "RMS-2");
  CHECK_FALSE(v2->in_doubt);

  // The other hinted submission was among the rejected: dead at the RMS but
  // delivered to npt_csv, so forwarded, and its hint still wins.
  statuses = s.pending_writebacks(1000);
  const auto* other = status_of(statuses, "6996018a-df09-40da-97d8-3c7ea1badb1d", 1);
  REQUIRE(other);
  CHECK(other->update.state == "needs_review");
  CHECK(other->update.message == "Call 999 in an emergency, 101 otherwise.");
}
