#include "bridge/mapping/functions/functions.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <string>

using namespace reportbridge::mapping::functions;

TEST_CASE("function_names lists every analyst-facing function once, sorted") {
  const auto names = function_names();
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  for (const char* expected :
       {"trim", "collapse_whitespace", "uppercase", "lowercase", "titlecase", "truncate", "normalise_nfc",
        "regex_replace", "regex_extract", "template", "datetime", "number", "postcode", "phone_e164",
        "phone_national", "bng_easting", "bng_northing", "pseudonymise"}) {
    INFO(expected);
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }
  CHECK(names.size() == 18);
}

// --- micro-benchmark (hidden: run with `functions_test [.bench]`) -----------------

namespace {

template <class F>
double ns_per_call(int n, F&& f) {
  std::size_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) sink += f(i);
  auto t1 = std::chrono::steady_clock::now();
  CHECK(sink > 0);
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

}  // namespace

TEST_CASE("cost per call", "[.bench]") {
  const int n = 200000;
  const char* postcodes[] = {"ts1 3qy", "TS24 8AH", "EC1A1BB", "bad"};
  const char* phones[] = {"+44 (0)7700 900123", "01642 326326", "020 7946 0321", "+33 1 23 45 67 89"};
  const char* instants[] = {"2026-03-29T01:00:00Z", "2026-10-25T00:59:59+01:00", "2026-07-01T12:00:00Z"};
  DateTimeFormat dt({.output_format = "%d/%m/%Y %H:%M"});
  DateTimeFormat dt_local({.input_format = "%d/%m/%Y %H:%M", .output_format = "%FT%TZ", .to_zone = "UTC",
                           .input_zone = "Europe/London"});
  BngFromWgs84 bng;
  Pseudonymiser pseudo(std::string(32, 'k'));

  std::cout << "postcode:          " << ns_per_call(n, [&](int i) {
    return normalise_postcode(postcodes[i % 4]).ok() ? 1u : 2u;
  }) << " ns\n";
  std::cout << "phone_e164:        " << ns_per_call(n, [&](int i) {
    return phone_e164(phones[i % 4]).ok() ? 1u : 2u;
  }) << " ns\n";
  std::cout << "phone_national:    " << ns_per_call(n, [&](int i) {
    return phone_national(phones[i % 4]).ok() ? 1u : 2u;
  }) << " ns\n";
  std::cout << "datetime rfc3339:  " << ns_per_call(n, [&](int i) {
    return dt(instants[i % 3]).value->size();
  }) << " ns\n";
  std::cout << "datetime local:    " << ns_per_call(n / 4, [&](int) {
    return dt_local("25/10/2026 01:30").value->size();
  }) << " ns\n";
  std::cout << "bng:               " << ns_per_call(n, [&](int i) {
    return static_cast<std::size_t>(bng.convert(54.5742 + (i % 100) * 1e-4, -1.2350).value->easting);
  }) << " ns\n";
  std::cout << "pseudonymise email: " << ns_per_call(n / 4, [&](int) {
    return pseudo.pseudonymise("A.Khan@Example.org", "resident-email", ValueKind::email).value->size();
  }) << " ns\n";
  std::cout << "(BNG operation: " << bng.last_operation() << ")\n";
}

#include "bridge/mapping/functions/short_id.hpp"

TEST_CASE("short_id: RFC 4648 base32 of SHA-256, cut to the length") {
  using reportbridge::mapping::functions::ShortId;
  // Python: base64.b32encode(hashlib.sha256(b"abc").digest())
  const std::string full = "XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWWQ";
  CHECK(*ShortId(52)("abc").value == full);
  CHECK(*ShortId(8)("abc").value == full.substr(0, 8));
  CHECK(*ShortId(1)("abc").value == "X");
  CHECK(*ShortId(10)("abd").value != full.substr(0, 10));
  CHECK(ShortId(10)("").value == std::string());
  CHECK_THROWS_AS(ShortId(0), std::invalid_argument);
  CHECK_THROWS_AS(ShortId(53), std::invalid_argument);
}
