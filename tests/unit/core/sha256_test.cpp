#include "bridge/core/sha256.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

using reportbridge::core::Sha256;
using reportbridge::core::sha256_hex;

// FIPS 180-2 test vectors.
TEST_CASE("sha256_hex gives the standard digests, call after call") {
  for (int round = 0; round < 3; ++round) {  // the per-thread context is reused
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST_CASE("sha256_hex agrees with the incremental Sha256") {
  const std::string text = "{\"id\":\"x\",\"version\":1,\"description\":\"caf\xC3\xA9\"}";
  Sha256 sha;
  sha.update(text.data(), 10);
  sha.update(text.data() + 10, text.size() - 10);
  CHECK(sha.hex_digest() == sha256_hex(text));
}

TEST_CASE("sha256_hex gives the same digests on several threads at once") {
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&results, t] {
      std::string last;
      for (int i = 0; i < 2000; ++i) last = sha256_hex("abc");
      results[t] = last;
    });
  for (auto& th : threads) th.join();
  for (const auto& r : results) CHECK(r == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The audit chain hashes a line's head once and forks the digest: a copy
// continues from the state so far, independently of the original.
TEST_CASE("a copy of Sha256 continues from the state so far, on its own") {
  Sha256 head;
  head.update(std::string_view("ab"));
  Sha256 fork = head;
  head.update(std::string_view("c"));
  fork.update(std::string_view("cdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
  CHECK(head.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(fork.hex_digest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 whole;
  whole.update(std::string(1000000, 'a'));
  const auto raw = whole.digest();
  std::string hex;
  reportbridge::core::append_hex(hex, raw);
  CHECK(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
