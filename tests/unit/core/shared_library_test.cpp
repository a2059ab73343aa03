// Libraries loaded on first use (core/shared_library.hpp): PROJ only when a
// mapping uses `bng`, libpq only when a PostgreSQL state connects. Each
// TEST_CASE runs in a process of its own (catch_discover_tests), so "not
// loaded yet" is checked in a fresh process; it fails if either library is
// linked again (the executable links the mapping and PostgreSQL components).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "bridge/core/diagnostics.hpp"
#include "bridge/core/shared_library.hpp"
#include "bridge/mapping/functions/bng.hpp"
#include "bridge/mapping/mapping.hpp"
#include "bridge/pg_store/pg.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;

namespace {

std::optional<mapping::MappingSet> load(const reportbridge::testing::TempDir& dir, const std::string& yaml,
                                        core::Diagnostics& d) {
  const auto file = (dir / "m.yaml").string();
  reportbridge::testing::write_file(file, yaml);
  return mapping::MappingSet::load({file}, std::vector<std::string>{"rms"}, d);
}

}  // namespace

TEST_CASE("PROJ is loaded when a mapping first uses bng, not before") {
  REQUIRE_FALSE(core::SharedLibrary::loaded(REPORTBRIDGE_PROJ_SONAME));

  reportbridge::testing::TempDir dir;
  core::Diagnostics d;
  auto plain = load(dir, "mapping: plain\ntargets: [rms]\nfields:\n  - name: Summary\n    from: description\n", d);
  INFO(d.to_string());
  REQUIRE(plain);
  CHECK_FALSE(core::SharedLibrary::loaded(REPORTBRIDGE_PROJ_SONAME));

  auto grid = load(dir,
                   "mapping: grid\ntargets: [rms]\nfields:\n  - name: Easting\n    bng: easting\n"
                   "  - name: Northing\n    bng: northing\n",
                   d);
  INFO(d.to_string());
  REQUIRE(grid);
  CHECK(core::SharedLibrary::loaded(REPORTBRIDGE_PROJ_SONAME));

  // And PROJ works through the looked-up functions: Ordnance Survey's test
  // point TP09 (London), within the few metres fn_bng_test allows.
  mapping::functions::BngFromWgs84 bng;
  const auto r = bng.convert_with_proj(51.48936564950, -0.11992557180);
  REQUIRE(r.ok());
  CHECK(std::llabs(r.value->easting - 530625) <= 5);
  CHECK(std::llabs(r.value->northing - 178388) <= 5);
}

TEST_CASE("libpq is loaded when a PostgreSQL connection is first tried, not before") {
  REQUIRE_FALSE(core::SharedLibrary::loaded(REPORTBRIDGE_LIBPQ_SONAME));
  // Port 1 on the loopback: refused at once; the error is libpq's own.
  CHECK_THROWS_AS(pg::Connection("host=127.0.0.1 port=1 connect_timeout=2 dbname=x user=x", ""),
                  pg::ConnectionLost);
  CHECK(core::SharedLibrary::loaded(REPORTBRIDGE_LIBPQ_SONAME));
}

TEST_CASE("a library that cannot be loaded, or lacks a function, is a clear error") {
  try {
    core::SharedLibrary lib("libreportbridge-missing.so.7", "the test's own need");
    FAIL("loaded a library that does not exist");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    CHECK(what.find("libreportbridge-missing.so.7 (the test's own need) cannot be loaded") != std::string::npos);
    CHECK(what.find("install the package") != std::string::npos);
  }
  core::SharedLibrary libm("libm.so.6", "maths");
  double (*cosine)(double) = nullptr;
  libm.bind(cosine, "cos");
  CHECK(cosine(0.0) == 1.0);
  try {
    libm.symbol("reportbridge_no_such_function");
    FAIL("found a function that does not exist");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("libm.so.6 (maths) has no symbol reportbridge_no_such_function") !=
          std::string::npos);
  }
  CHECK(core::SharedLibrary::loaded("libm.so.6"));
  CHECK_FALSE(core::SharedLibrary::loaded("libreportbridge-missing.so.7"));
}
