// The file drops' shared publishing protocol (bridge/file_drop), on a real
// folder: what is on disk after a publish, a failure part-way, and a redelivery.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "bridge/attachments/verifier.hpp"
#include "bridge/core/sha256.hpp"
#include "bridge/file_drop/file_drop.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;
namespace fs = std::filesystem;

namespace {

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

struct Fixture {
  TempDir tmp{"filedrop"};
  fs::path out = tmp / "out";
  fs::path media = tmp / "media";
  int unavailable = 0;  // locator calls that fail transiently first

  file_drop::FileDrop drop(bool trigger = true) {
    return file_drop::FileDrop({"t", out, "t", trigger, true, 1u << 20},
                               [this](const core::AttachmentRef& a) -> fs::path {
                                 if (unavailable > 0) {
                                   --unavailable;
                                   throw attachments::AttachmentError(attachments::ErrorCode::unavailable, "503");
                                 }
                                 return media / a.path;
                               },
                               "test target");
  }
  core::AttachmentRef photo(const std::string& rel, const std::string& bytes) const {
    write_file(media / rel, bytes);
    return {"id-" + rel, "resident.jpg", "image/jpeg", bytes.size(), core::sha256_hex(bytes), rel};
  }
  core::DeliveryBatch batch(std::vector<std::vector<core::AttachmentRef>> attachments) const {
    core::DeliveryBatch b;
    b.key = "K1";
    int n = 0;
    for (auto& a : attachments) {
      core::DeliveryItem item;
      item.outbox_id = ++n;
      item.record.submission_id = "s" + std::to_string(n);
      item.record.version = 1;
      item.record.attachments = std::move(a);
      b.items.push_back(std::move(item));
    }
    return b;
  }
};

}  // namespace

TEST_CASE("file drop: attachments go out before the document, and a trigger file after it") {
  Fixture f;
  auto drop = f.drop();
  const auto batch = f.batch({{f.photo("a.jpg", "AAA")}, {}});
  auto items = drop.items(batch);
  CHECK(items[0].attachment_names == std::vector<std::string>{"s1_v1_1.jpg"});
  const auto files = drop.files(batch.key, {"t-K1.txt"});
  drop.ensure_directory();
  drop.publish(files, items, {}, [&] {
    // The attachments are already in place when the document is written.
    CHECK(fs::exists(f.out / "t-K1.attachments/s1_v1_1.jpg"));
    CHECK_FALSE(fs::exists(f.out / ".t-K1.attachments.tmp"));
    drop.publish_document(files, 0, "doc");
  });
  CHECK(listing(f.out) ==
        std::set<std::string>{"t-K1.txt", "t-K1.txt.done", "t-K1.attachments", "t-K1.attachments/s1_v1_1.jpg"});
  CHECK(read_file(f.out / "t-K1.attachments/s1_v1_1.jpg") == "AAA");
}

TEST_CASE("file drop: a failure before any document leaves nothing, after one, the attachments stay") {
  Fixture f;
  auto drop = f.drop(false);
  const auto batch = f.batch({{f.photo("a.jpg", "AAA")}, {f.photo("b.jpg", "BBB")}});
  const auto files = drop.files(batch.key, {"t-K1-1.txt", "t-K1-2.txt"});
  drop.ensure_directory();

  auto items = drop.items(batch);
  CHECK_THROWS_AS(drop.publish(files, items, {}, [] { throw std::runtime_error("disk full"); }), std::runtime_error);
  CHECK(listing(f.out).empty());  // staged and published attachments removed: nothing refers to them

  items = drop.items(batch);
  CHECK_THROWS_AS(drop.publish(files, items, {},
                               [&] {
                                 drop.publish_document(files, 0, "first");
                                 throw std::runtime_error("disk full");
                               }),
                  std::runtime_error);
  // The first document refers to the attachments: they stay for the redelivery.
  CHECK(listing(f.out) == std::set<std::string>{"t-K1-1.txt", "t-K1.attachments", "t-K1.attachments/s1_v1_1.jpg",
                                                "t-K1.attachments/s2_v1_1.jpg"});
  CHECK(files.exists(0));
  CHECK_FALSE(files.exists(1));
}

TEST_CASE("file drop: an item whose attachment is unavailable is left out, and nothing of it is copied") {
  Fixture f;
  auto drop = f.drop(false);
  const auto batch = f.batch({{f.photo("a.jpg", "AAA"), f.photo("b.jpg", "BBB")}, {f.photo("c.jpg", "CCC")}});
  auto items = drop.items(batch);
  const auto files = drop.files(batch.key, {"t-K1.txt"});
  drop.ensure_directory();
  f.unavailable = 0;
  // The first item's second attachment fails transiently.
  int calls = 0;
  file_drop::FileDrop flaky({"t", f.out, "t", false, true, 1u << 20},
                            [&](const core::AttachmentRef& a) -> fs::path {
                              if (++calls == 2) throw attachments::AttachmentError(attachments::ErrorCode::unavailable, "503");
                              return f.media / a.path;
                            },
                            "test target");
  flaky.publish(files, items, {}, [&] { flaky.publish_document(files, 0, "doc"); });
  REQUIRE(items[0].reject);
  CHECK(items[0].reject->status == core::DeliveryStatus::retry);
  CHECK(items[0].reject->reason_code == "attachment_unavailable");
  CHECK_FALSE(items[1].reject);
  CHECK(listing(f.out) == std::set<std::string>{"t-K1.txt", "t-K1.attachments", "t-K1.attachments/s2_v1_1.jpg"});
}

TEST_CASE("file drop: redelivery recomputes outcomes from the folder and completes what is missing") {
  Fixture f;
  auto drop = f.drop(true);
  const auto batch = f.batch({{f.photo("a.jpg", "AAA")}, {f.photo("b.jpg", "BBB")}, {f.photo("c.jpg", "CCC")}});
  const auto files = drop.files(batch.key, {"t-K1.txt"});
  drop.ensure_directory();
  // As a crash left it: the document and the copies of items 1 and 3 published,
  // item 2 left out, no trigger file, a stale temp file.
  write_file(files.file(0), "doc");
  write_file(f.out / "t-K1.attachments/s1_v1_1.jpg", "AAA");
  write_file(f.out / "t-K1.attachments/s3_v1_1.jpg", "CCC");
  write_file(files.tmp(0), "partial");
  // The consumer has since taken item 3's copy; its record is in the document.
  fs::remove(f.out / "t-K1.attachments/s3_v1_1.jpg");

  auto items = drop.items(batch);
  for (auto& item : items) item.published = true;
  drop.remove_temp_files(files);
  drop.recheck_published(files, items, [](const file_drop::DropItem& it) {
    return it.item->record.submission_id == "s3";
  });
  drop.write_missing_triggers(files);
  CHECK_FALSE(items[0].reject);  // its copy is there
  REQUIRE(items[1].reject);      // left out then: sent in a later batch
  CHECK(items[1].reject->status == core::DeliveryStatus::retry);
  CHECK(items[1].reject->detail.find("left out of t-K1.txt") != std::string::npos);
  CHECK_FALSE(items[2].reject);  // in the document: delivered
  CHECK(listing(f.out) == std::set<std::string>{"t-K1.txt", "t-K1.txt.done", "t-K1.attachments",
                                                "t-K1.attachments/s1_v1_1.jpg"});
  CHECK(read_file(files.file(0)) == "doc");  // never rewritten

  // Documents still to write (one per item): their missing copies are added.
  auto per_item = drop.items(batch);
  per_item[0].published = true;
  drop.complete_attachments(files, per_item);
  CHECK(listing(f.out / "t-K1.attachments") ==
        std::set<std::string>{"s1_v1_1.jpg", "s2_v1_1.jpg", "s3_v1_1.jpg"});
  CHECK(read_file(f.out / "t-K1.attachments/s2_v1_1.jpg") == "BBB");
}

TEST_CASE("file drop: unsafe settings are refused with the target named") {
  Fixture f;
  auto locator = [](const core::AttachmentRef&) { return fs::path(); };
  CHECK_THROWS_WITH(file_drop::FileDrop({"t", f.out, "../x", false, true, 1}, locator, "csv_drop target"),
                    Catch::Contains("csv_drop target 't': file_prefix '../x'"));
  CHECK_THROWS_WITH(file_drop::FileDrop({"t", f.out, "t", false, true, 1}, nullptr, "xml_drop target"),
                    Catch::Contains("copy_attachments needs an attachment locator"));
  CHECK_THROWS_WITH(file_drop::FileDrop({"t", "", "t", false, true, 1}, locator, "xml_drop target"),
                    Catch::Contains("directory is empty"));
}
