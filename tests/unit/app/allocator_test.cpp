// The daemon's allocator setting (app::tune_allocator): each loop thread gets
// an arena of its own, so the threads do not wait on each other's malloc and
// free (docs/performance.md, change 12: two arenas for five threads cost ~25 %
// of CPU at 1M rows). Its own executable: mallopt settings are per process.
#include <catch2/catch.hpp>

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "bridge/app/daemon.hpp"

using namespace reportbridge;

namespace {

// The heaps (arenas) glibc's allocator has made so far, by malloc_info.
int arenas_in_use() {
  char* text = nullptr;
  std::size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  REQUIRE(out != nullptr);
  REQUIRE(malloc_info(0, out) == 0);
  std::fclose(out);
  const std::string xml(text, size);
  std::free(text);
  int n = 0;
  for (auto at = xml.find("<heap nr="); at != std::string::npos; at = xml.find("<heap nr=", at + 1)) ++n;
  return n;
}

// Runs `threads` threads that allocate while all are alive.
void allocate_on(int threads) {
  std::latch all_allocated(threads);
  std::latch done(1);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&] {
      std::vector<std::string> held;
      for (int k = 0; k < 64; ++k) held.emplace_back(200, 'x');  // its first malloc picks its arena
      all_allocated.count_down();
      done.wait();
    });
  all_allocated.wait();
  done.count_down();
  for (auto& t : pool) t.join();
}

}  // namespace

TEST_CASE("one arena per loop thread: main and ingest and housekeeping and one per target") {
  CHECK(app::allocator_arenas(1) == 4);
  CHECK(app::allocator_arenas(2) == 5);
  CHECK(app::allocator_arenas(7) == 10);
  CHECK(app::allocator_arenas(0) == 4);  // `check` and tools without targets still run the loops
}

TEST_CASE("with the daemon's setting the loop threads of a two-target config allocate in arenas of their own") {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's allocator replaces glibc's: there are no glibc arenas to count.
  SUCCEED("not under AddressSanitizer");
  return;
#endif
  ::unsetenv("MALLOC_ARENA_MAX");
  app::tune_allocator(2);
  // The four loop threads of a two-target config (ingest, two deliveries,
  // housekeeping) besides this one (main): five arenas, not fewer (with the
  // previous setting of two, two), so no two loops share an arena's lock.
  allocate_on(4);
  CHECK(arenas_in_use() == 5);
  // More threads than that (a SOAP target's calls in flight) share the five.
  allocate_on(8);
  CHECK(arenas_in_use() == 5);
}
