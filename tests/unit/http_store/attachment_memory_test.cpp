// Memory bound: a large video is downloaded, verified and spooled with a flat
// peak RSS. Size: RB_ATTACHMENT_BENCH_MIB (default 256; the 2 GB is
// RB_ATTACHMENT_BENCH_MIB=2048). Its own executable, so the peak is its own.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/core/sha256.hpp"
#include "tests/support/app_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/http_store/app_store_server.hpp"

using namespace reportbridge;
using namespace reportbridge::testing;
namespace fs = std::filesystem;

namespace {
// A /proc/self/status field in KiB (VmRSS, VmHWM).
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}
}  // namespace

TEST_CASE("a large video streams through with peak RSS under 64 MiB above idle") {
  const char* env = std::getenv("RB_ATTACHMENT_BENCH_MIB");
  const std::uint64_t mib = env ? std::strtoull(env, nullptr, 10) : 256;
  TempDir dir("rbmem");
  const std::string db = (dir / "store.db").string();
  create_app_store(db);
  fs::create_directories(dir / "media");
  // Written and hashed in 1 MiB pieces: the test itself must not hold the video.
  core::Sha256 sha;
  {
    std::FILE* f = std::fopen((dir / "media/v.mp4").c_str(), "wb");
    REQUIRE(f != nullptr);
    std::string chunk(1 << 20, '\0');
    for (std::uint64_t i = 0; i < mib; ++i) {
      for (std::size_t j = 0; j < chunk.size(); j += 4096) chunk[j] = static_cast<char>(i + j);
      if (i == 0) chunk.replace(0, 16, std::string("\0\0\0\x18" "ftypmp42\0\0\0\0", 16));
      sha.update(chunk.data(), chunk.size());
      if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) FAIL("write failed");
    }
    std::fclose(f);
  }
  core::AttachmentRef video{"att-video", "clip.mp4", "video/mp4", mib << 20, sha.hex_digest(), "v.mp4"};
  boost::json::object payload{{"id", test_id(1)},
                              {"attachments", boost::json::array{{{"id", video.id}, {"path", video.path},
                                                                  {"media_type", video.media_type}}}}};
  insert_submission(db, 1, test_id(1), 1, boost::json::serialize(payload));

  ServerOptions o;
  o.db = db;
  o.media_root = (dir / "media").string();
  AppStoreServer server(o, dir.path());
  http_store::HttpStoreConfig cfg;
  cfg.base_url = server.url();
  cfg.spool_dir = dir / "spool";
  cfg.attachment_limits.max_bytes = 4ull << 30;
  http_store::HttpStoreSource src(cfg);
  REQUIRE(src.poll({}, 10).size() == 1);  // idle daemon: connected, libraries loaded

  const long idle_rss = status_kib("VmRSS");
  const auto path = src.attachment_path(video);
  const long peak = status_kib("VmHWM");
  CHECK(fs::file_size(path) == (mib << 20));
  std::cout << "attachment_memory: " << mib << " MiB video, idle RSS " << idle_rss / 1024
            << " MiB, peak " << peak / 1024 << " MiB, above idle " << (peak - idle_rss) / 1024
            << " MiB\n";
  CHECK(peak - idle_rss < 64 * 1024);
}
