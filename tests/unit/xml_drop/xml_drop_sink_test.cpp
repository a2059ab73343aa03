#include "adapters/sinks/xml_drop/xml_drop_sink.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <stdexcept>

#include "bridge/core/sha256.hpp"
#include "bridge/xml/safe_parse.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

namespace fs = std::filesystem;
using namespace reportbridge;
using namespace reportbridge::xml_drop;
using core::DeliveryStatus;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const std::string kPsdNs = "urn:police-uk:psd:complaint:1.0";

struct Fixture {
  TempDir tmp;
  fs::path drop = tmp / "drop";
  fs::path media = tmp / "media";

  Fixture() { fs::create_directories(media); }

  XmlDropConfig config(Mode mode = Mode::per_submission) const {
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

  core::AttachmentLocator locator() const {
    return [root = media](const core::AttachmentRef& a) {
      if (a.path.find("..") != std::string::npos) throw std::runtime_error("unsafe path " + a.path);
      return root / a.path;
    };
  }

  // A real attachment file under the media root.
  core::AttachmentRef attachment(const std::string& id, const std::string& content) const {
    write_file(media / (id + ".jpg"), content);
    return {id, "IMG_" + id + ".jpg", "image/jpeg", content.size(), core::sha256_hex(content), id + ".jpg"};
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

void set(core::DeliveryItem& it, const std::string& name, std::optional<std::string> value) {
  for (auto& f : it.record.fields)
    if (f.name == name) {
      f.value = std::move(value);
      return;
    }
  it.record.fields.push_back({name, std::move(value)});
}

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::recursive_directory_iterator(dir)) ++n;
  return n;
}

bool has_temp_files(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
  return false;
}

std::vector<xml::XmlError> validate_file(const fs::path& file) {
  xml::ParseResult parsed = xml::parse_untrusted(read_file(file));
  REQUIRE(parsed);
  return xml::XsdValidator(xml::test::schema_path("psd_complaint.xsd")).validate(*parsed.doc);
}

}  // namespace

TEST_CASE("per-submission mode publishes one valid document per item") {
  Fixture f;
  auto cfg = f.config();
  cfg.trigger_file = true;
  XmlDropSink sink(cfg, f.locator());
  core::DeliveryBatch batch{1, "20261127T184210Z-3fa9c1-000042", {item(10, "sub-a"), item(11, "sub-b")}};
  const auto out = sink.deliver(batch);
  REQUIRE(out.size() == 2);
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(out[0].reference == "psd_xml-20261127T184210Z-3fa9c1-000042-1.xml");
  CHECK(out[1].reference == "psd_xml-20261127T184210Z-3fa9c1-000042-2.xml");
  for (const auto& o : out) {
    const fs::path file = f.drop / o.reference;
    REQUIRE(fs::is_regular_file(file));
    CHECK(fs::is_regular_file(file.string() + ".done"));
    CHECK(fs::file_size(file.string() + ".done") == 0);
    CHECK(validate_file(file).empty());
  }
  CHECK(read_file(f.drop / out[1].reference).find("<AppReference>sub-b</AppReference>") != std::string::npos);
  CHECK_FALSE(has_temp_files(f.drop));
  CHECK(files_in(f.drop) == 4);
  CHECK(sink.encode_preview(batch.items[0].record) == read_file(f.drop / out[0].reference));
}

TEST_CASE("a re-delivered batch is not published twice") {
  Fixture f;
  for (Mode mode : {Mode::per_submission, Mode::batch}) {
    const fs::path drop = f.drop / (mode == Mode::batch ? "batch" : "single");
    auto cfg = f.config(mode);
    cfg.directory = drop;
    cfg.trigger_file = true;
    XmlDropSink sink(cfg, f.locator());
    auto bad = item(12, "sub-bad");
    set(bad, "IncidentEasting", "north of the river");
    core::DeliveryBatch batch{2, "key-7", {item(10, "sub-a"), bad, item(11, "sub-b")}};
    const auto first = sink.deliver(batch);
    // The consumer marks what it saw; a second publish would overwrite this.
    std::vector<fs::path> documents;
    for (const auto& e : fs::directory_iterator(drop))
      if (e.path().extension() == ".xml") documents.push_back(e.path());
    REQUIRE_FALSE(documents.empty());
    for (const auto& d : documents) write_file(d, "seen by consumer");
    for (const auto& d : documents) fs::remove(d.string() + ".done");

    const auto second = sink.deliver(batch);
    REQUIRE(second.size() == first.size());
    for (std::size_t i = 0; i < first.size(); ++i) {
      CHECK(second[i].status == first[i].status);
      CHECK(second[i].reference == first[i].reference);
      CHECK(second[i].reason_code == first[i].reason_code);
    }
    for (const auto& d : documents) {
      CHECK(read_file(d) == "seen by consumer");
      CHECK(fs::exists(d.string() + ".done"));  // a missing trigger is written
    }
    CHECK_FALSE(has_temp_files(drop));
  }
}

TEST_CASE("a crash between documents: the redelivery writes only the missing ones") {
  Fixture f;
  XmlDropSink sink(f.config(), f.locator());
  auto with_photo = item(11, "sub-b");
  with_photo.record.attachments = {f.attachment("p1", "jpeg bytes")};
  core::DeliveryBatch batch{3, "key-8", {item(10, "sub-a"), with_photo}};
  const auto first = sink.deliver(batch);
  REQUIRE(first[1].status == DeliveryStatus::delivered);
  // As if the bridge died after the first rename: the second document is missing.
  fs::remove(f.drop / first[1].reference);
  write_file(f.drop / first[0].reference, "already consumed");
  write_file(f.drop / ".psd_xml-key-8-2.xml.tmp", "partial");

  const auto second = sink.deliver(batch);
  CHECK(second[1].status == DeliveryStatus::delivered);
  CHECK(read_file(f.drop / first[0].reference) == "already consumed");
  CHECK(read_file(f.drop / first[1].reference).find("<StoredFile>sub-b_v1_1.jpg</StoredFile>") != std::string::npos);
  CHECK(read_file(f.drop / "psd_xml-key-8.attachments" / "sub-b_v1_1.jpg") == "jpeg bytes");
  CHECK_FALSE(has_temp_files(f.drop));
}

TEST_CASE("an invalid document rejects that item only, with libxml2's message and line") {
  Fixture f;
  XmlDropSink sink(f.config(), f.locator());
  auto bad = item(12, "sub-bad");
  set(bad, "ComplainantEmail", "jan.k(at)example.org");
  auto unknown = item(13, "sub-unknown");
  unknown.record.fields.push_back({"ShoeSize", "44"});
  auto missing = item(14, "sub-missing");
  set(missing, "Allegation", std::nullopt);
  core::DeliveryBatch batch{4, "key-9", {item(10, "sub-a"), bad, unknown, missing, item(11, "sub-b")}};
  const auto out = sink.deliver(batch);
  REQUIRE(out.size() == 5);
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(out[4].status == DeliveryStatus::delivered);
  CHECK(out[4].reference == "psd_xml-key-9-5.xml");

  CHECK(out[1].status == DeliveryStatus::reject);
  CHECK(out[1].reason_code == "schema_invalid");
  CHECK(out[1].detail.find("ComplainantEmail") != std::string::npos);
  CHECK(out[1].detail.find("'[value]'") != std::string::npos);
  CHECK(out[1].detail.find("(at)") == std::string::npos);  // no personal data in outcomes
  // The line is the element's line in the item's own document.
  try {
    sink.encode_preview(bad.record);
    FAIL("preview of an invalid record must throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("jan.k(at)example.org") != std::string::npos);  // preview: unredacted
  }
  auto good = bad;
  set(good, "ComplainantEmail", "jan.k@example.org");
  const std::string text = sink.encode_preview(good.record);
  const auto pos = text.find("<ComplainantEmail>");
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
  CHECK(out[1].detail.rfind("line " + std::to_string(line) + ": ", 0) == 0);

  CHECK(out[2].reason_code == "unknown_field");
  CHECK(out[2].detail.find("ShoeSize") != std::string::npos);
  CHECK(out[3].reason_code == "schema_invalid");
  CHECK(out[3].detail.find("Allegation") != std::string::npos);

  CHECK(fs::exists(f.drop / "psd_xml-key-9-1.xml"));
  CHECK_FALSE(fs::exists(f.drop / "psd_xml-key-9-2.xml"));
  CHECK_FALSE(fs::exists(f.drop / "psd_xml-key-9-3.xml"));
  CHECK(files_in(f.drop) == 2);
}

TEST_CASE("batch mode writes one wrapped, valid document") {
  Fixture f;
  XmlDropSink sink(f.config(Mode::batch), f.locator());
  auto bad = item(12, "sub-bad");
  set(bad, "ReceivedAt", "27/11/2026 18:42");
  core::DeliveryBatch batch{5, "key/10", {item(10, "sub-a"), bad, item(11, "sub-b")}};
  const auto out = sink.deliver(batch);
  const std::string file = sink.file_name("key/10");
  CHECK(file.rfind("psd_xml-key_10-", 0) == 0);  // unsafe key sanitised, hash appended
  CHECK(out[0].reference == file + "#1");
  CHECK(out[1].reason_code == "schema_invalid");
  CHECK(out[2].reference == file + "#2");
  const std::string text = read_file(f.drop / file);
  CHECK(text.find("<ComplaintBatch xmlns=\"" + kPsdNs + "\" batchKey=\"key/10\" count=\"2\">") != std::string::npos);
  CHECK(text.find("<Complaint>") != std::string::npos);  // no repeated xmlns on the records
  CHECK(text.find("sub-bad") == std::string::npos);
  CHECK(validate_file(f.drop / file).empty());
  CHECK(files_in(f.drop) == 1);
}

TEST_CASE("every item rejected: nothing is written") {
  Fixture f;
  XmlDropSink sink(f.config(Mode::batch), f.locator());
  auto bad = item(12, "sub-bad");
  set(bad, "Category", "not a code");
  const auto out = sink.deliver({6, "key-11", {bad}});
  CHECK(out[0].reason_code == "schema_invalid");
  CHECK_FALSE(fs::exists(f.drop / sink.file_name("key-11")));
  CHECK(sink.deliver({6, "key-11", {}}).empty());
}

TEST_CASE("attachments are copied and checked, a bad one rejects its record") {
  Fixture f;
  XmlDropSink sink(f.config(Mode::batch), f.locator());
  auto a = item(10, "sub-a");
  a.record.attachments = {f.attachment("p1", "first photo"), f.attachment("p2", "second photo")};
  auto mismatch = item(11, "sub-m");
  mismatch.record.attachments = {f.attachment("p3", "third")};
  mismatch.record.attachments[0].sha256 = std::string(64, '0');
  auto unsafe = item(12, "sub-u");
  unsafe.record.attachments = {f.attachment("p4", "x")};
  unsafe.record.attachments[0].path = "../../etc/passwd";
  auto large = item(13, "sub-l");
  large.record.attachments = {f.attachment("p5", "y")};
  large.record.attachments[0].size_bytes = 60ull << 20;
  const auto out = sink.deliver({7, "key-12", {a, mismatch, unsafe, large}});
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(out[1].reason_code == "attachment_mismatch");
  CHECK(out[2].reason_code == "attachment_unavailable");
  CHECK(out[2].detail.find("passwd") == std::string::npos);
  CHECK(out[3].reason_code == "attachment_too_large");
  const fs::path folder = f.drop / "psd_xml-key-12.attachments";
  CHECK(read_file(folder / "sub-a_v1_1.jpg") == "first photo");
  CHECK(read_file(folder / "sub-a_v1_2.jpg") == "second photo");
  CHECK(files_in(folder) == 2);
  const std::string text = read_file(f.drop / sink.file_name("key-12"));
  CHECK(text.find("<Attachment id=\"p2\" mediaType=\"image/jpeg\" sha256=\"" + core::sha256_hex("second photo") +
                  "\" size=\"12\">") != std::string::npos);
  CHECK(text.find("<StoredFile>sub-a_v1_2.jpg</StoredFile>") != std::string::npos);
  CHECK(validate_file(f.drop / sink.file_name("key-12")).empty());
}

TEST_CASE("an update carries the prior reference as RelatedReference") {
  Fixture f;
  XmlDropSink sink(f.config(), f.locator());
  auto update = item(10, "sub-a");
  update.record.version = 2;
  update.prior_reference = "psd_xml-key-1-1.xml";
  const auto out = sink.deliver({8, "key-13", {update, item(11, "sub-b")}});
  CHECK(read_file(f.drop / out[0].reference).find("<RelatedReference>psd_xml-key-1-1.xml</RelatedReference>") !=
        std::string::npos);
  CHECK(read_file(f.drop / out[1].reference).find("RelatedReference") == std::string::npos);
}

TEST_CASE("I/O failures retry the whole batch and publish nothing") {
  Fixture f;
  write_file(f.tmp / "not_a_dir", "x");
  auto cfg = f.config();
  cfg.directory = f.tmp / "not_a_dir" / "drop";
  XmlDropSink sink(cfg, f.locator());
  const auto out = sink.deliver({9, "key-14", {item(10, "sub-a"), item(11, "sub-b")}});
  REQUIRE(out.size() == 2);
  for (const auto& o : out) {
    CHECK(o.status == DeliveryStatus::retry);
    CHECK(o.reason_code == "io_error");
  }
}

TEST_CASE("configurations that cannot work are refused") {
  Fixture f;
  const auto refuse = [&](auto change, const std::string& message) {
    auto cfg = f.config(Mode::batch);
    change(cfg);
    CHECK_THROWS_WITH(XmlDropSink(cfg, f.locator()), Catch::Contains(message));
  };
  refuse([](XmlDropConfig& c) { c.file_prefix = "../x"; }, "file_prefix");
  refuse([](XmlDropConfig& c) { c.layout.root = "Nope"; }, "not a global element");
  refuse([](XmlDropConfig& c) { c.batch_root = "Complaint"; }, "does not hold repeated");
  refuse([](XmlDropConfig& c) { c.batch_root.clear(); }, "batch_root");
  refuse([](XmlDropConfig& c) { c.xsd = "/nonexistent/x.xsd"; }, "x.xsd");
  refuse([](XmlDropConfig& c) { c.layout.fields = {{"Where", "Incident/Altitude"}}; }, "Incident/Altitude");
  refuse([](XmlDropConfig& c) { c.max_items = 0; }, "max_items");
  CHECK_THROWS_WITH(XmlDropSink(f.config(), nullptr), Catch::Contains("locator"));
  auto no_copy = f.config();
  no_copy.copy_attachments = false;
  XmlDropSink sink(no_copy, nullptr);
  CHECK(sink.batch_policy().max_items == 1000);
  CHECK(sink.attachment_file_names(xml::test::rms_record()).empty());
}

// Issue 15.4: a resident typing control characters (U+000B, U+001B, U+0000 as
// JSON \u0000) or U+FFFE made every XML delivery a permanent dead letter
// (invalid_xml_char), and replay failed the same way. Now they are replaced by
// U+FFFD and the complaint is delivered, in both modes, and again on replay.
TEST_CASE("characters XML cannot hold are replaced by U+FFFD and the item is delivered") {
  for (const Mode mode : {Mode::per_submission, Mode::batch}) {
    Fixture f;
    XmlDropSink sink(f.config(mode), f.locator());
    auto it = item(30, "sub-ctrl");
    const std::string typed = std::string("He shouted \x0B then \x1B[31m and ") + std::string(1, '\0') +
                              " and \xEF\xBF\xBE at the desk";
    set(it, "Allegation", typed);
    set(it, "ComplainantName", std::string("Jan\x01Kowalski"));
    core::DeliveryBatch batch{1, mode == Mode::batch ? "batch-ctrl" : "single-ctrl", {it}};
    const auto out = sink.deliver(batch);
    REQUIRE(out.size() == 1);
    INFO(out[0].reason_code << " " << out[0].detail);
    CHECK(out[0].status == DeliveryStatus::delivered);
    const fs::path file = f.drop / out[0].reference.substr(0, out[0].reference.find('#'));
    const std::string text = read_file(file);
    CHECK(text.find("He shouted \xEF\xBF\xBD then \xEF\xBF\xBD[31m and \xEF\xBF\xBD and \xEF\xBF\xBD at the desk") !=
          std::string::npos);
    CHECK(text.find("Jan\xEF\xBF\xBDKowalski") != std::string::npos);
    CHECK(validate_file(file).empty());
    // The replay path (a new batch key with the same record) delivers too.
    core::DeliveryBatch replay{2, "replay-ctrl", {it}};
    const auto again = sink.deliver(replay);
    REQUIRE(again.size() == 1);
    CHECK(again[0].status == DeliveryStatus::delivered);
    CHECK(sink.encode_preview(it.record).find("\xEF\xBF\xBD") != std::string::npos);
  }
}

// Several instances (#16): no document of a batch whose lease is no longer
// held (an instance paused past it) is renamed into place.
TEST_CASE("a batch whose lease is no longer held publishes no document, in either mode") {
  for (const bool per_submission : {false, true}) {
    Fixture f;
    XmlDropSink sink(f.config(per_submission ? Mode::per_submission : Mode::batch), f.locator());
    core::DeliveryBatch batch{1, "20261205T114500Z-3fa9c1-000007", {item(10, "sub-a"), item(11, "sub-b")}};
    batch.still_held = [] { return false; };
    const auto out = sink.deliver(batch);
    INFO("per submission: " << per_submission);
    REQUIRE(out.size() == 2);
    for (const auto& o : out) CHECK(o.status == DeliveryStatus::retry);
    CHECK(files_in(f.drop) == 0);
    CHECK_FALSE(has_temp_files(f.drop));
  }
}
