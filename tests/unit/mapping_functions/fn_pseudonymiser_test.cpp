#include "bridge/mapping/functions/pseudonymiser.hpp"

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

using namespace reportbridge::mapping::functions;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";

void chmod_or_fail(const std::filesystem::path& p, mode_t mode) { REQUIRE(::chmod(p.c_str(), mode) == 0); }

}  // namespace

TEST_CASE("HMAC-SHA256 primitive matches RFC 4231") {
  // Test case 2.
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 1.
  CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST_CASE("tokens are HMAC(key, purpose 0x1F normalised value), 32 hex characters") {
  Pseudonymiser p(kKey);
  // Expected values computed with Python's hmac module.
  CHECK(*p.pseudonymise(" A.Khan@Example.ORG ", "resident-email", ValueKind::email).value ==
        "5513f6e39c6d1e0072c16e5d7b63a1c0");
  CHECK(*p.pseudonymise("07700 900123", "resident-phone", ValueKind::phone).value ==
        "bc5ed87e7dfac470ba9054ba5384d665");
  CHECK(*p.pseudonymise("+44 (0)7700-900123", "resident-phone", ValueKind::phone).value ==
        "bc5ed87e7dfac470ba9054ba5384d665");
  // Text: trimmed and NFC, so a decomposed "ë" gives the same token.
  CHECK(*p.pseudonymise("  Zoe\xCC\x88", "free-text").value == "4d564c326e93fc82e0a63efac0c707a6");
  CHECK(*p.pseudonymise("Zo\xC3\xAB", "free-text").value == "4d564c326e93fc82e0a63efac0c707a6");
  // Raw: no normalisation at all.
  CHECK(*p.pseudonymise("Zo\xC3\xAB", "free-text", ValueKind::raw).value == "4d564c326e93fc82e0a63efac0c707a6");
  CHECK(*p.pseudonymise(" Zo\xC3\xAB", "free-text", ValueKind::raw).value != "4d564c326e93fc82e0a63efac0c707a6");
}

TEST_CASE("purposes and keys separate tokens") {
  Pseudonymiser p(kKey);
  Pseudonymiser other(std::string(kKey.rbegin(), kKey.rend()));
  std::set<std::string> tokens;
  for (const char* purpose : {"resident-email", "witness-email", "export-2026"}) {
    Result r = p.pseudonymise("a.khan@example.org", purpose, ValueKind::email);
    REQUIRE(r.ok());
    CHECK(r.value->size() == 32);
    CHECK(r.value->find_first_not_of("0123456789abcdef") == std::string::npos);
    tokens.insert(*r.value);
  }
  CHECK(tokens.size() == 3);
  CHECK(*p.pseudonymise("x", "a").value != *other.pseudonymise("x", "a").value);
  // The separator keeps (purpose, value) pairs apart: "ab"+"c" vs "a"+"bc".
  CHECK(*p.pseudonymise("c", "ab").value != *p.pseudonymise("bc", "a").value);
  // Stable: same inputs, same token, from a copy too.
  Pseudonymiser copy = p;
  CHECK(*copy.pseudonymise("x", "a").value == *p.pseudonymise("x", "a").value);
}

TEST_CASE("pseudonymise failure paths") {
  Pseudonymiser p(kKey);
  CHECK(p.pseudonymise("x", "").error == "pseudonymise.invalid_purpose");
  CHECK(p.pseudonymise("x", "a\x1f" "b").error == "pseudonymise.invalid_purpose");
  CHECK(p.pseudonymise("   ", "notes").error == "pseudonymise.empty");
  CHECK(p.pseudonymise("", "notes", ValueKind::raw).error == "pseudonymise.empty");
  CHECK(p.pseudonymise("not an email", "e", ValueKind::email).error == "email.invalid");
  CHECK(p.pseudonymise("+33 1 23 45 67 89", "t", ValueKind::phone).error == "phone.not_uk");
  CHECK(p.pseudonymise("12", "t", ValueKind::phone).error == "phone.invalid");
  CHECK(p.pseudonymise("\xFF", "t").error == "text.invalid_utf8");
  CHECK_THROWS_WITH(Pseudonymiser("short"), Catch::Contains("at least 16 bytes"));
}

TEST_CASE("email and phone normalisation helpers") {
  struct Case {
    std::string in, out;
  };
  for (const Case& c : std::vector<Case>{{" A.Khan@Example.ORG\t", "a.khan@example.org"},
                                         {"\xC3\x89LO\xC3\x8F" "SE@EXAMPLE.FR", "\xC3\xA9lo\xC3\xAFse@example.fr"},
                                         {"x@y", "x@y"}}) {
    INFO(c.in);
    CHECK(*normalise_email(c.in).value == c.out);
  }
  for (const char* bad : {"", "a.khan", "@example.org", "a.khan@", "a@b@c", "  @  "}) {
    INFO(bad);
    CHECK(normalise_email(bad).error == "email.invalid");
  }
  CHECK(normalise_email("\xFF@x").error == "text.invalid_utf8");
  CHECK(*normalise_phone("07700 900123").value == "+447700900123");
  CHECK(normalise_phone("nope").error == "phone.invalid");
}

TEST_CASE("key files: private regular files only") {
  TempDir dir;
  const auto key = dir / "pseudonym.key";
  write_file(key, kKey);

  SECTION("mode 0600 and 0400 are accepted and the bytes are the key") {
    for (mode_t mode : {0600, 0400}) {
      chmod_or_fail(key, mode);
      Pseudonymiser from_file = Pseudonymiser::from_key_file(key);
      CHECK(*from_file.pseudonymise("x", "a").value == *Pseudonymiser(kKey).pseudonymise("x", "a").value);
    }
  }
  SECTION("a trailing newline is part of the key") {
    write_file(key, kKey + "\n");
    chmod_or_fail(key, 0600);
    CHECK(*Pseudonymiser::from_key_file(key).pseudonymise("x", "a").value !=
          *Pseudonymiser(kKey).pseudonymise("x", "a").value);
  }
  SECTION("world access, group write, or group read by another group is refused") {
    for (mode_t mode : {0604, 0644, 0660, 0620, 0602, 0610, 0670}) {
      INFO("mode " << std::oct << mode);
      chmod_or_fail(key, mode);
      CHECK_THROWS_WITH(Pseudonymiser::from_key_file(key),
                        Catch::Contains("must not be accessible by others") && Catch::Contains("chmod 600"));
    }
    // 0640 only with the service's own group (root:reportbridge 0640).
    chmod_or_fail(key, 0640);
    REQUIRE(::chown(key.c_str(), static_cast<uid_t>(-1), ::getegid()) == 0);
    CHECK_NOTHROW(Pseudonymiser::from_key_file(key));
    const gid_t other = ::getegid() == 65534 ? 0 : 65534;
    if (::chown(key.c_str(), static_cast<uid_t>(-1), other) == 0) {  // possible as root
      CHECK_THROWS_WITH(Pseudonymiser::from_key_file(key), Catch::Contains("nor by a group other than the service's"));
    }
  }
  SECTION("owned by another account is refused") {
    chmod_or_fail(key, 0600);
    if (::geteuid() == 0 && ::chown(key.c_str(), 65534, static_cast<gid_t>(-1)) == 0) {
      CHECK_THROWS_WITH(Pseudonymiser::from_key_file(key), Catch::Contains("must be owned by the service's user or by root"));
    }
  }
  SECTION("missing, empty, short, a directory, a FIFO") {
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(dir / "absent.key"), Catch::Contains("No such file"));
    const auto empty = dir / "empty.key";
    write_file(empty, "");
    chmod_or_fail(empty, 0600);
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(empty), Catch::Contains("is empty"));
    const auto short_key = dir / "short.key";
    write_file(short_key, "Jefe");
    chmod_or_fail(short_key, 0600);
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(short_key), Catch::Contains("shorter than 16 bytes"));
    const auto sub = dir / "keys";
    std::filesystem::create_directory(sub);
    chmod_or_fail(sub, 0700);
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(sub), Catch::Contains("not a regular file"));
    const auto fifo = dir / "fifo.key";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(fifo), Catch::Contains("not a regular file"));
  }
  SECTION("a symlink is judged by its target (Kubernetes secrets and credential dirs use them)") {
    const auto link = dir / "link.key";
    std::filesystem::create_symlink(key, link);
    chmod_or_fail(key, 0600);
    CHECK_NOTHROW(Pseudonymiser::from_key_file(link));
    chmod_or_fail(key, 0644);
    CHECK_THROWS_WITH(Pseudonymiser::from_key_file(link), Catch::Contains("must not be accessible"));
  }
  SECTION("the error message never contains the key") {
    chmod_or_fail(key, 0644);
    try {
      Pseudonymiser::from_key_file(key);
      FAIL("accepted a world-readable key");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(kKey) == std::string::npos);
    }
  }
}
