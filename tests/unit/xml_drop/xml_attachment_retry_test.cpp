// xml_drop: a transiently unavailable attachment is retried (its item left out
// and delivered in a later batch), a permanent attachment error rejects with
// its code.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>

#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"
#include "bridge/attachments/verifier.hpp"
#include "bridge/core/sha256.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

namespace fs = std::filesystem;
using namespace reportbridge;
using namespace reportbridge::xml_drop;
using attachments::AttachmentError;
using attachments::ErrorCode;
using core::DeliveryStatus;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

struct Fixture {
  TempDir tmp{"xmlretry"};
  fs::path drop = tmp / "drop";
  fs::path media = tmp / "media";
  int failures = 0;  // the first calls throw AttachmentError(unavailable)
  int calls = 0;

  XmlDropConfig config(Mode mode) const {
    XmlDropConfig c;
    c.name = "psd_xml";
    c.directory = drop;
    c.mode = mode;
    c.xsd = xml::test::schema_path("psd_complaint.xsd");
    c.layout.root = "Complaint";
    c.layout.attachments_path = "Attachments/Attachment";
    c.batch_root = "ComplaintBatch";
    return c;
  }
  core::AttachmentLocator locator() {
    return [this](const core::AttachmentRef& a) -> fs::path {
      if (++calls <= failures)
        throw AttachmentError(ErrorCode::unavailable, "HTTP 503 while fetching " + a.path);
      return media / a.path;
    };
  }
  core::AttachmentRef attachment(const std::string& id, const std::string& content) const {
    write_file(media / "private" / (id + ".jpg"), content);
    return {id, "IMG_" + id + ".jpg", "image/jpeg", content.size(), core::sha256_hex(content),
            "private/" + id + ".jpg"};
  }
};

core::DeliveryItem item(std::int64_t outbox_id, const std::string& id) {
  core::DeliveryItem it;
  it.outbox_id = outbox_id;
  it.record = xml::test::psd_record();
  it.record.submission_id = id;
  for (auto& f : it.record.fields)
    if (f.name == "AppReference") f.value = id;
  return it;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

}  // namespace

TEST_CASE("xml_drop: a 503 for an attachment retries its item, the next batch delivers it once") {
  for (Mode mode : {Mode::per_submission, Mode::batch}) {
    INFO((mode == Mode::batch ? "batch" : "per_submission"));
    Fixture f;
    f.failures = 1;
    XmlDropSink sink(f.config(mode), f.locator());
    auto a = item(10, "sub-a");
    a.record.attachments = {f.attachment("p1", "first photo")};
    const auto first = sink.deliver({1, "k1", {a, item(11, "sub-b")}});
    REQUIRE(first.size() == 2);
    CHECK(first[0].status == DeliveryStatus::retry);
    CHECK(first[0].reason_code == "attachment_unavailable");
    CHECK(first[0].detail.find("private") == std::string::npos);
    CHECK(first[1].status == DeliveryStatus::delivered);
    // Only sub-b's document: no attachment folder, no partial or temp file.
    const std::string doc_b = mode == Mode::batch ? sink.file_name("k1") : sink.file_name("k1", 1);
    CHECK(listing(f.drop) == std::set<std::string>{doc_b});
    CHECK(read_file(f.drop / doc_b).find("sub-a") == std::string::npos);

    const auto second = sink.deliver({2, "k2", {a}});
    CHECK(second[0].status == DeliveryStatus::delivered);
    const std::string doc_a = sink.file_name("k2");
    CHECK(read_file(f.drop / "psd_xml-k2.attachments" / "sub-a_v1_1.jpg") == "first photo");
    CHECK(listing(f.drop) == std::set<std::string>{doc_b, doc_a, "psd_xml-k2.attachments",
                                                   "psd_xml-k2.attachments/sub-a_v1_1.jpg"});
    CHECK(read_file(f.drop / doc_a).find("sub-a") != std::string::npos);
  }
}

TEST_CASE("xml_drop: a permanent attachment error rejects with its code, without the path") {
  Fixture f;
  XmlDropSink sink(f.config(Mode::batch), [](const core::AttachmentRef& a) -> fs::path {
    throw AttachmentError(ErrorCode::sha256_mismatch, "content of " + a.path + " differs");
  });
  auto a = item(10, "sub-a");
  a.record.attachments = {f.attachment("p1", "first photo")};
  const auto out = sink.deliver({1, "k", {a}});
  CHECK(out[0].status == DeliveryStatus::reject);
  CHECK(out[0].reason_code == "attachment_mismatch");
  CHECK(out[0].detail.find("private") == std::string::npos);
  CHECK(listing(f.drop).empty());
}

TEST_CASE("xml_drop: redelivering a published batch keeps the retried item retrying") {
  Fixture f;
  f.failures = 1;
  XmlDropSink sink(f.config(Mode::batch), f.locator());
  auto a = item(10, "sub-a");
  a.record.attachments = {f.attachment("p1", "first photo")};
  const core::DeliveryBatch batch{1, "k", {a, item(11, "sub-b")}};
  const auto first = sink.deliver(batch);
  CHECK(first[0].status == DeliveryStatus::retry);
  // The bridge died before recording the outcomes; the attachment works now,
  // but the published document does not hold sub-a.
  const auto again = sink.deliver(batch);
  CHECK(again[0].status == DeliveryStatus::retry);
  CHECK(again[0].reason_code == "attachment_unavailable");
  CHECK(again[1].status == DeliveryStatus::delivered);
  CHECK(again[1].reference == first[1].reference);
  CHECK(read_file(f.drop / sink.file_name("k")).find("sub-a") == std::string::npos);
}
