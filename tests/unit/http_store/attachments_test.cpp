// Attachments: streaming verification (bridge/attachments) and the HTTP
// source's download into its spool.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/attachments/chunk_reader.hpp"
#include "bridge/attachments/file_name.hpp"
#include "bridge/attachments/media_type.hpp"
#include "bridge/core/sha256.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
using attachments::AttachmentError;
using attachments::ErrorCode;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF", 10) + std::string(200000, 'x');
const std::string kPng = std::string("\x89PNG\r\n\x1A\n\0\0\0\rIHDR", 16) + "rest";
const std::string kMp4 = std::string("\0\0\0\x18" "ftypisom\0\0\0\0", 16) + "mdat";
const std::string kMov = std::string("\0\0\0\x14" "ftypqt  \0\0\0\0", 16) + "moov";
const std::string kHeic = std::string("\0\0\0\x18" "ftypheic\0\0\0\0", 16) + "meta";

core::AttachmentRef ref_for(const std::string& bytes, const std::string& type, const std::string& id = "att-1") {
  return {id, "IMG_0042.jpg", type, bytes.size(), core::sha256_hex(bytes), "x"};
}

// Streams `bytes` through copy_verified from a file; returns what came out.
std::string copy(const std::string& bytes, const core::AttachmentRef& ref, attachments::Limits limits = {}) {
  TempDir dir;
  write_file(dir / "f", bytes);
  attachments::FileChunkReader in(dir / "f");
  std::string out;
  attachments::copy_verified(in, ref, limits, [&](const char* d, std::size_t n) { out.append(d, n); });
  return out;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const AttachmentError& e) {
    return e.code();
  }
  FAIL("no AttachmentError");
  return ErrorCode::unavailable;
}

}  // namespace

TEST_CASE("media types are checked against the leading bytes") {
  using attachments::matches_signature;
  CHECK(matches_signature("image/jpeg", kJpeg.substr(0, 16)));
  CHECK(matches_signature("image/png", kPng.substr(0, 16)));
  CHECK(matches_signature("video/mp4", kMp4.substr(0, 16)));
  CHECK(matches_signature("video/quicktime", kMov.substr(0, 16)));
  CHECK(matches_signature("image/heic", kHeic.substr(0, 16)));
  CHECK(matches_signature("IMAGE/JPEG; q=1", kJpeg.substr(0, 16)));
  CHECK_FALSE(matches_signature("image/png", kJpeg.substr(0, 16)));
  CHECK_FALSE(matches_signature("video/mp4", kHeic.substr(0, 16)));
  CHECK_FALSE(matches_signature("image/heic", kMp4.substr(0, 16)));
  CHECK_FALSE(matches_signature("video/quicktime", kMp4.substr(0, 16)));
  CHECK_FALSE(matches_signature("image/jpeg", "\xFF\xD8"));
  CHECK_FALSE(matches_signature("application/pdf", "%PDF-1.7"));
  CHECK(attachments::is_allowed_media_type("video/quicktime"));
  CHECK_FALSE(attachments::is_allowed_media_type("text/html"));
  CHECK(attachments::extension_for("image/heif") == "heic");
  CHECK(attachments::extension_for("text/html") == "bin");
}

TEST_CASE("copy_verified streams, and rejects every kind of mismatch") {
  CHECK(copy(kJpeg, ref_for(kJpeg, "image/jpeg")) == kJpeg);
  CHECK(copy(kPng, ref_for(kPng, "image/png")) == kPng);

  auto bad_sha = ref_for(kJpeg, "image/jpeg");
  bad_sha.sha256[0] = bad_sha.sha256[0] == 'a' ? 'b' : 'a';
  CHECK(code_of([&] { copy(kJpeg, bad_sha); }) == ErrorCode::sha256_mismatch);
  auto no_sha = ref_for(kJpeg, "image/jpeg");
  no_sha.sha256.clear();
  CHECK(code_of([&] { copy(kJpeg, no_sha); }) == ErrorCode::sha256_mismatch);
  auto upper = ref_for(kJpeg, "image/jpeg");
  for (char& c : upper.sha256) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(copy(kJpeg, upper) == kJpeg);

  CHECK(code_of([&] { copy(kJpeg, ref_for(kJpeg, "image/png")); }) == ErrorCode::media_type_mismatch);
  CHECK(code_of([&] { copy(kJpeg, ref_for(kJpeg, "text/html")); }) == ErrorCode::media_type_not_allowed);
  CHECK(code_of([&] { copy("\xFF\xD8", ref_for("\xFF\xD8", "image/jpeg")); }) == ErrorCode::media_type_mismatch);

  auto short_decl = ref_for(kJpeg, "image/jpeg");
  short_decl.size_bytes = 100;
  CHECK(code_of([&] { copy(kJpeg, short_decl); }) == ErrorCode::size_mismatch);
  auto long_decl = ref_for(kJpeg, "image/jpeg");
  long_decl.size_bytes += 1;
  CHECK(code_of([&] { copy(kJpeg, long_decl); }) == ErrorCode::size_mismatch);

  attachments::Limits small;
  small.max_bytes = 1000;
  CHECK(code_of([&] { copy(kJpeg, ref_for(kJpeg, "image/jpeg"), small); }) == ErrorCode::too_large);
  auto undeclared = ref_for(kJpeg, "image/jpeg");
  undeclared.size_bytes = 0;  // unknown size: the limit still stops the stream
  CHECK(code_of([&] { copy(kJpeg, undeclared, small); }) == ErrorCode::too_large);

  CHECK(code_of([&] { attachments::FileChunkReader("/nonexistent/x"); }) == ErrorCode::unavailable);
  CHECK_FALSE(AttachmentError(ErrorCode::unavailable, "x").permanent());
  CHECK(AttachmentError(ErrorCode::sha256_mismatch, "x").permanent());
}

TEST_CASE("payload file names are display text, never paths") {
  CHECK(attachments::display_name("../../etc/passwd") == "passwd");
  CHECK(attachments::display_name("C:\\Users\\x\\IMG 1.jpg") == "IMG 1.jpg");
  CHECK(attachments::display_name("a\nb\r\x01.jpg") == "ab.jpg");
  CHECK(attachments::display_name("..") == "attachment");
  CHECK(attachments::display_name(".hidden") == "hidden");
  CHECK(attachments::display_name("") == "attachment");
  const std::string long_name = std::string(119, 'a') + "\xC3\xA9" + "tail";  // é across the cut
  CHECK(attachments::display_name(long_name) == std::string(119, 'a'));
  CHECK(attachments::safe_file_name("abc-1_v2", 3, "video/quicktime") == "abc-1_v2_3.mov");
  CHECK(attachments::safe_file_name("../x", 1, "image/png") == "1.png");
  CHECK(http_store::encode_path_segment("../a b/c") == "..%2Fa%20b%2Fc");
  CHECK(http_store::encode_path_segment("..") == "%2E%2E");
}

namespace {

// A store whose row 1 declares the attachments given.
struct AttachmentStore {
  TempDir dir{"rbatt"};
  std::string db = (dir / "store.db").string();
  std::string faults = (dir / "faults.json").string();
  std::string log = (dir / "requests.log").string();

  explicit AttachmentStore(const std::vector<std::pair<core::AttachmentRef, std::string>>& files) {
    create_app_store(db);
    write_file(faults, "{}");
    boost::json::array list;
    for (const auto& [ref, bytes] : files) {
      write_file(dir / "media" / ref.path, bytes);
      list.push_back({{"id", ref.id}, {"media_type", ref.media_type}, {"path", ref.path},
                      {"size_bytes", ref.size_bytes}, {"sha256", ref.sha256}});
    }
    boost::json::object payload{{"id", test_id(1)}, {"attachments", list}};
    insert_submission(db, 1, test_id(1), 1, boost::json::serialize(payload));
  }
  ServerOptions options() const {
    ServerOptions o;
    o.db = db;
    o.media_root = (dir / "media").string();
    o.faults = faults;
    o.request_log = log;
    return o;
  }
  http_store::HttpStoreConfig config(const std::string& url) const {
    http_store::HttpStoreConfig c;
    c.base_url = url;
    c.read_timeout = milliseconds(1500);
    c.spool_dir = dir / "spool";
    return c;
  }
  std::vector<std::string> spool() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "spool", ec)) names.push_back(e.path().filename().string());
    return names;
  }
};

core::AttachmentRef stored(const std::string& id, const std::string& bytes, const std::string& type,
                           const std::string& path) {
  auto r = ref_for(bytes, type, id);
  r.path = path;
  return r;
}

}  // namespace

TEST_CASE("attachments are downloaded over HTTP, verified, and spooled by content hash") {
  const std::string video = kMp4 + std::string(3 << 20, 'v');  // several chunks
  auto photo = stored("att-photo", kJpeg, "image/jpeg", "2026/11/27/p.jpg");
  auto clip = stored("att-video", video, "video/mp4", "2026/11/27/v.mp4");
  AttachmentStore s({{photo, kJpeg}, {clip, video}});
  auto opts = s.options();
  const auto token = s.dir / "token";
  write_secret_file(token, "secret-token");
  opts.token_file = token.string();
  AppStoreServer server(opts, s.dir.path());
  auto cfg = s.config(server.url());
  cfg.token_file = token;
  http_store::HttpStoreSource src(cfg);

  const fs::path p = src.attachment_path(photo);
  CHECK(read_file(p) == kJpeg);
  CHECK(p.filename() == photo.sha256 + ".jpg");  // never the payload's file name
  CHECK(p.parent_path() == fs::path(cfg.spool_dir));
  CHECK(read_file(src.attachment_path(clip)) == video);
  // Already spooled: no second download.
  CHECK(src.attachment_path(photo) == p.string());
  std::string log = read_file(s.log);
  CHECK(std::count(log.begin(), log.end(), '\n') == 2);
  CHECK(s.spool().size() == 2);  // no partial files left
}

TEST_CASE("a downloaded attachment that does not match its declaration is rejected and not kept") {
  auto photo = stored("att-photo", kJpeg, "image/jpeg", "p.jpg");
  auto png_decl = stored("att-png", kJpeg, "image/png", "q.jpg");
  AttachmentStore s({{photo, kJpeg}, {png_decl, kJpeg}});
  AppStoreServer server(s.options(), s.dir.path());
  http_store::HttpStoreSource src(s.config(server.url()));

  auto tampered = photo;
  tampered.sha256 = core::sha256_hex("something else");
  try {
    src.attachment_path(tampered);
    FAIL("mismatch not detected");
  } catch (const AttachmentError& e) {
    CHECK(e.code() == ErrorCode::sha256_mismatch);
    CHECK(e.permanent());
  }
  CHECK(code_of([&] { src.attachment_path(png_decl); }) == ErrorCode::media_type_mismatch);
  auto wrong_size = photo;
  wrong_size.size_bytes = 10;
  CHECK(code_of([&] { src.attachment_path(wrong_size); }) == ErrorCode::size_mismatch);
  auto cfg = s.config(server.url());
  cfg.attachment_limits.max_bytes = 1000;
  auto small_photo = photo;
  small_photo.size_bytes = 0;  // undeclared: Content-Length or the stream stops it
  http_store::HttpStoreSource limited(cfg);
  CHECK(code_of([&] { limited.attachment_path(small_photo); }) == ErrorCode::too_large);
  CHECK(s.spool().empty());  // nothing partial or unverified left behind

  // Unusable references never reach the network.
  auto no_id = photo;
  no_id.id.clear();
  CHECK(code_of([&] { src.attachment_path(no_id); }) == ErrorCode::unusable_reference);
  auto bad_hash = photo;
  bad_hash.sha256 = "../../etc/passwd";
  CHECK(code_of([&] { src.attachment_path(bad_hash); }) == ErrorCode::unusable_reference);
}

TEST_CASE("attachment server errors are transient, ids are never paths") {
  auto photo = stored("att-photo", kJpeg, "image/jpeg", "p.jpg");
  AttachmentStore s({{photo, kJpeg}});
  write_file(s.faults, R"({"fail": [{"prefix": "/v1/attachments", "status": 503, "retry_after": "7", "times": 1}]})");
  AppStoreServer server(s.options(), s.dir.path());
  http_store::HttpStoreSource src(s.config(server.url()));
  try {
    src.attachment_path(photo);
    FAIL("503 not reported");
  } catch (const AttachmentError& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK_FALSE(e.permanent());
    CHECK_THAT(e.what(), Catch::Contains("Retry-After 7"));
  }
  CHECK(read_file(src.attachment_path(photo)) == kJpeg);  // next call succeeds

  auto traversal = photo;
  traversal.id = "../../v1/submissions";
  traversal.sha256 = core::sha256_hex("other");
  CHECK(code_of([&] { src.attachment_path(traversal); }) == ErrorCode::unavailable);  // 404
  CHECK_THAT(read_file(s.log), Catch::Contains("GET /v1/attachments/..%2F..%2Fv1%2Fsubmissions 404"));

  // A server that stalls mid-body fails after read_timeout instead of hanging.
  write_file(s.faults, R"({"body_stall_ms": 4000})");
  auto big = stored("att-big", kJpeg + std::string(1 << 20, 'b'), "image/jpeg", "big.jpg");
  write_file(s.dir / "media/big.jpg", kJpeg + std::string(1 << 20, 'b'));
  // Declared under another row the server scans: add it to the store.
  boost::json::object payload{{"id", test_id(2)},
                              {"attachments", boost::json::array{{{"id", "att-big"}, {"path", "big.jpg"},
                                                                  {"media_type", "image/jpeg"}}}}};
  insert_submission(s.db, 2, test_id(2), 1, boost::json::serialize(payload));
  const auto start = std::chrono::steady_clock::now();
  CHECK(code_of([&] { src.attachment_path(big); }) == ErrorCode::unavailable);
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(3900));
}
