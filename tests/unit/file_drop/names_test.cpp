// File names the file drops build from untrusted text.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>

#include "bridge/core/sha256.hpp"
#include "bridge/file_drop/names.hpp"

using namespace reportbridge::file_drop;
using reportbridge::core::sha256_hex;

TEST_CASE("safe_file_component keeps safe names and disambiguates altered ones") {
  CHECK(safe_file_component("npt_csv-20261127T184210Z-000042") == "npt_csv-20261127T184210Z-000042");
  CHECK(safe_file_component("v1.2_x-Y") == "v1.2_x-Y");

  const std::string traversal = safe_file_component("../etc/passwd");
  CHECK(traversal == "_._etc_passwd-" + sha256_hex("../etc/passwd").substr(0, 8));

  const std::string hidden = safe_file_component(".hidden");
  CHECK(hidden.front() == '_');
  CHECK(hidden.rfind("_hidden-", 0) == 0);

  CHECK_FALSE(safe_file_component("").empty());
  CHECK(safe_file_component("a/b") != safe_file_component("a_b"));
  CHECK(safe_file_component("a/b") == safe_file_component("a/b"));

  const std::string long_name = safe_file_component(std::string(500, 'x'));
  CHECK(long_name.size() == kMaxFileComponent);
  CHECK(long_name != safe_file_component(std::string(501, 'x')));

  for (const std::string s : {"zoë", "a b", "C:\\x", "..", "/", "\n", "."}) {
    const std::string out = safe_file_component(s);
    INFO(out);
    CHECK(!out.empty());
    CHECK(out.front() != '.');
    CHECK(out.size() <= kMaxFileComponent);
    CHECK(std::all_of(out.begin(), out.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    }));
  }
}

TEST_CASE("attachment extensions come only from the media type") {
  CHECK(extension_for_media_type("image/jpeg") == "jpg");
  CHECK(extension_for_media_type("IMAGE/JPEG; q=1") == "jpg");
  CHECK(extension_for_media_type("image/png") == "png");
  CHECK(extension_for_media_type("image/heic") == "heic");
  CHECK(extension_for_media_type("video/mp4") == "mp4");
  CHECK(extension_for_media_type("video/quicktime") == "mov");
  CHECK(extension_for_media_type("application/x-sh") == "bin");
  CHECK(extension_for_media_type("../../evil") == "bin");
  CHECK(extension_for_media_type("") == "bin");
}
