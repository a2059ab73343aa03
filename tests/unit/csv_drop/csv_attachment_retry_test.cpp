// Attachment failures in the file sinks: transient ones are retried (the item
// stays out of the file and goes into a later batch), permanent ones reject
// with the attachment error's code. csv_drop here; xml_drop has its own file.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"
#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/attachments/verifier.hpp"
#include "bridge/core/sha256.hpp"
#include "bridge/file_drop/attachment_copy.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

namespace fs = std::filesystem;
using namespace reportbridge;
using namespace reportbridge::csv_drop;
using reportbridge::file_drop::transfer_attachment;
using attachments::AttachmentError;
using attachments::ErrorCode;
using core::DeliveryStatus;
using core::sha256_hex;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const std::string kVideo = std::string("\0\0\0\x18" "ftypisom\0\0\0\0", 16) + std::string(300000, 'v');

core::TargetRecord make_record(const std::string& id, const std::string& ref,
                               std::vector<core::AttachmentRef> attachments = {}) {
  core::TargetRecord r;
  r.submission_id = id;
  r.version = 1;
  r.mapping = "npt";
  r.target = "npt_csv";
  r.fields = {{"ref", ref}};
  r.attachments = std::move(attachments);
  return r;
}

core::DeliveryBatch make_batch(const std::string& key, std::vector<core::TargetRecord> records) {
  core::DeliveryBatch b;
  b.key = key;
  std::int64_t outbox_id = 100;
  for (auto& r : records) b.items.push_back({++outbox_id, std::move(r)});
  return b;
}

// Every path under `dir`, relative.
std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

// Serves files from `media` but fails the first `failures` calls the way the
// HTTP source does while the app's back end answers 503.
struct FlakyLocator {
  fs::path media;
  int failures = 0;
  int calls = 0;
  core::AttachmentLocator locator() {
    return [this](const core::AttachmentRef& a) -> fs::path {
      ++calls;
      if (calls <= failures)
        throw AttachmentError(ErrorCode::unavailable, "attachment download: HTTP 503 for " + a.path);
      return media / a.path;
    };
  }
};

struct Fixture {
  TempDir tmp{"csvretry"};
  fs::path out = tmp / "out";
  fs::path media = tmp / "media";

  CsvDropConfig config() const {
    CsvDropConfig c;
    c.name = "npt_csv";
    c.directory = out;
    return c;
  }
  core::AttachmentRef add_media(const std::string& rel, const std::string& bytes,
                                const std::string& type = "video/mp4") const {
    write_file(media / rel, bytes);
    return {"att-" + rel, "resident-secret-name.mp4", type, bytes.size(), sha256_hex(bytes), rel};
  }
};

std::size_t count_in(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a transiently unavailable attachment is retried, then delivered exactly once") {
  Fixture f;
  FlakyLocator flaky{f.media, 2};
  CsvDropSink sink(f.config(), {"ref", "attachment_files"}, flaky.locator());
  const auto video = f.add_media("private/2026/clip.mp4", kVideo);

  // First batch: the video's item is left out with retry, the other row publishes.
  auto o1 = sink.deliver(make_batch("k1", {make_record("s1", "R1", {video}), make_record("s2", "R2")}));
  REQUIRE(o1.size() == 2);
  CHECK(o1[0].status == DeliveryStatus::retry);
  CHECK(o1[0].reason_code == "attachment_unavailable");
  CHECK(o1[0].detail.find("private") == std::string::npos);  // never the payload's path
  CHECK(o1[0].detail.find("secret") == std::string::npos);
  CHECK(o1[1].status == DeliveryStatus::delivered);
  CHECK(o1[1].reference == "npt_csv-k1.csv#1");
  CHECK(read_file(f.out / "npt_csv-k1.csv") == "ref,attachment_files\r\nR2,\r\n");
  CHECK(listing(f.out) == std::set<std::string>{"npt_csv-k1.csv"});  // no partial file, no folder

  // The dispatcher hands the retried item over in a new batch: still down.
  auto o2 = sink.deliver(make_batch("k2", {make_record("s1", "R1", {video})}));
  CHECK(o2[0].status == DeliveryStatus::retry);
  CHECK(listing(f.out) == std::set<std::string>{"npt_csv-k1.csv"});

  // The attachment comes through.
  auto o3 = sink.deliver(make_batch("k3", {make_record("s1", "R1", {video})}));
  CHECK(o3[0].status == DeliveryStatus::delivered);
  CHECK(o3[0].reference == "npt_csv-k3.csv#1");
  CHECK(read_file(f.out / "npt_csv-k3.attachments/s1_v1_1.mp4") == kVideo);
  CHECK(listing(f.out) == std::set<std::string>{"npt_csv-k1.csv", "npt_csv-k3.csv", "npt_csv-k3.attachments",
                                                "npt_csv-k3.attachments/s1_v1_1.mp4"});
  std::string all_rows;
  for (const auto& name : {"npt_csv-k1.csv", "npt_csv-k3.csv"}) all_rows += read_file(f.out / name);
  CHECK(count_in(all_rows, "R1,") == 1);
  CHECK(flaky.calls == 3);
}

TEST_CASE("a transient failure on a later attachment removes the item's earlier copies") {
  Fixture f;
  const auto first = f.add_media("a.mp4", kVideo);
  const auto second = f.add_media("b.mp4", kVideo + "2");
  int calls = 0;
  CsvDropSink sink(f.config(), {"ref"}, [&](const core::AttachmentRef& a) -> fs::path {
    if (++calls == 2) throw AttachmentError(ErrorCode::unavailable, "connection reset");
    return f.media / a.path;
  });
  auto o = sink.deliver(make_batch("k", {make_record("s1", "R1", {first, second})}));
  CHECK(o[0].status == DeliveryStatus::retry);
  CHECK(o[0].reason_code == "attachment_unavailable");
  CHECK(listing(f.out).empty());  // first copy removed, nothing published
}

TEST_CASE("I/O errors from the locator are retried, permanent attachment errors reject with their code") {
  Fixture f;
  const auto video = f.add_media("v.mp4", kVideo);
  SECTION("std::system_error -> retry") {
    CsvDropSink sink(f.config(), {"ref"}, [](const core::AttachmentRef& a) -> fs::path {
      throw fs::filesystem_error("spool", fs::path("/spool/" + a.path), std::make_error_code(std::errc::no_space_on_device));
    });
    auto o = sink.deliver(make_batch("k", {make_record("s1", "R1", {video})}));
    CHECK(o[0].status == DeliveryStatus::retry);
    CHECK(o[0].reason_code == "attachment_unavailable");
    CHECK(o[0].detail.find("v.mp4") == std::string::npos);
    CHECK(listing(f.out).empty());
  }
  SECTION("sha256_mismatch -> reject attachment_mismatch") {
    CsvDropSink sink(f.config(), {"ref"}, [](const core::AttachmentRef& a) -> fs::path {
      throw AttachmentError(ErrorCode::sha256_mismatch, "content of " + a.path + " differs");
    });
    auto o = sink.deliver(make_batch("k", {make_record("s1", "R1", {video}), make_record("s2", "R2")}));
    CHECK(o[0].status == DeliveryStatus::reject);
    CHECK(o[0].reason_code == "attachment_mismatch");
    CHECK(o[0].detail.find("v.mp4") == std::string::npos);
    CHECK(o[1].status == DeliveryStatus::delivered);
    CHECK(listing(f.out) == std::set<std::string>{"npt_csv-k.csv"});
  }
  SECTION("media_type_mismatch -> reject attachment_type_mismatch") {
    CsvDropSink sink(f.config(), {"ref"}, [](const core::AttachmentRef&) -> fs::path {
      throw AttachmentError(ErrorCode::media_type_mismatch, "not an mp4");
    });
    auto o = sink.deliver(make_batch("k", {make_record("s1", "R1", {video})}));
    CHECK(o[0].status == DeliveryStatus::reject);
    CHECK(o[0].reason_code == "attachment_type_mismatch");
  }
}

TEST_CASE("transfer_attachment removes a partial destination and keeps a good copy") {
  Fixture f;
  const auto video = f.add_media("v.mp4", kVideo);
  fs::create_directories(f.out);
  const fs::path dest = f.out / "copy.mp4";
  auto bad = video;
  bad.sha256 = sha256_hex("other");
  const auto plain = [&](const core::AttachmentRef& a) { return f.media / a.path; };
  auto outcome = transfer_attachment(plain, {&bad, 1, 1, 1ull << 30, &dest});
  REQUIRE(outcome);
  CHECK(outcome->reason_code == "attachment_mismatch");
  CHECK_FALSE(fs::exists(dest));  // the whole file was written, then discarded
  CHECK_FALSE(transfer_attachment(plain, {&video, 1, 1, 1ull << 30, &dest}));
  CHECK(read_file(dest) == kVideo);
  // Verify only: nothing written.
  fs::remove(dest);
  CHECK_FALSE(transfer_attachment(plain, {&video, 1, 1, 1ull << 30, nullptr}));
  CHECK_FALSE(fs::exists(dest));
}

TEST_CASE("redelivering a published batch keeps a retried item out, and a consumed file's row delivered") {
  Fixture f;
  FlakyLocator flaky{f.media, 1};
  CsvDropSink sink(f.config(), {"ref"}, flaky.locator());
  const auto late = f.add_media("late.mp4", kVideo);
  const auto early = f.add_media("early.mp4", kVideo + "e");
  // Item 2's attachment is fetched first and fails; item 1 has none.
  const auto batch = make_batch("k", {make_record("s0", "R0"), make_record("s1", "R1", {late}),
                                      make_record("s2", "R2", {early})});
  auto first = sink.deliver(batch);
  CHECK(first[0].status == DeliveryStatus::delivered);
  CHECK(first[1].status == DeliveryStatus::retry);
  CHECK(first[2].status == DeliveryStatus::delivered);
  CHECK(read_file(f.out / "npt_csv-k.csv") == "ref\r\nR0\r\nR2\r\n");

  // The bridge died before recording the outcomes; the attachment works now and
  // the consumer has already taken item 3's file away.
  fs::remove(f.out / "npt_csv-k.attachments/s2_v1_1.mp4");
  auto again = sink.deliver(batch);
  CHECK(again[0].reference == first[0].reference);
  CHECK(again[1].status == DeliveryStatus::retry);  // not in the file: must be sent again
  CHECK(again[1].reason_code == "attachment_unavailable");
  CHECK(again[2].status == DeliveryStatus::delivered);  // its row is in the file
  CHECK(again[2].reference == first[2].reference);
  CHECK(read_file(f.out / "npt_csv-k.csv") == "ref\r\nR0\r\nR2\r\n");
}

TEST_CASE("with the real HTTP source, a 503 for the attachment is retried and then delivered") {
  using reportbridge::testing::AppStoreServer;
  using reportbridge::testing::ServerOptions;
  Fixture f;
  const auto video = f.add_media("2026/11/27/v.mp4", kVideo);
  const std::string db = (f.tmp / "store.db").string();
  const std::string faults = (f.tmp / "faults.json").string();
  reportbridge::testing::create_app_store(db);
  boost::json::object payload{
      {"id", reportbridge::testing::test_id(1)},
      {"attachments", boost::json::array{{{"id", video.id}, {"media_type", video.media_type}, {"path", video.path},
                                          {"size_bytes", video.size_bytes}, {"sha256", video.sha256}}}}};
  reportbridge::testing::insert_submission(db, 1, reportbridge::testing::test_id(1), 1,
                                           boost::json::serialize(payload));
  write_file(faults, R"({"fail": [{"prefix": "/v1/attachments", "status": 503, "retry_after": "1", "times": 1}]})");
  ServerOptions opts;
  opts.db = db;
  opts.media_root = f.media.string();
  opts.faults = faults;
  AppStoreServer server(opts, f.tmp.path());

  http_store::HttpStoreConfig hc;
  hc.base_url = server.url();
  hc.read_timeout = std::chrono::milliseconds(3000);
  hc.spool_dir = f.tmp / "spool";
  http_store::HttpStoreSource source(hc);
  CsvDropSink sink(f.config(), {"ref"}, [&](const core::AttachmentRef& a) {
    return fs::path(source.attachment_path(a));
  });

  auto o1 = sink.deliver(make_batch("k1", {make_record("s1", "R1", {video})}));
  CHECK(o1[0].status == DeliveryStatus::retry);
  CHECK(o1[0].reason_code == "attachment_unavailable");
  CHECK(listing(f.out).empty());
  CHECK(listing(hc.spool_dir).empty());  // no partial download kept

  auto o2 = sink.deliver(make_batch("k2", {make_record("s1", "R1", {video})}));
  CHECK(o2[0].status == DeliveryStatus::delivered);
  CHECK(read_file(f.out / "npt_csv-k2.attachments/s1_v1_1.mp4") == kVideo);
  CHECK(read_file(f.out / "npt_csv-k2.csv") == "ref\r\nR1\r\n");
}
