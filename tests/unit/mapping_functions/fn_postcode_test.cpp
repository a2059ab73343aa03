#include "bridge/mapping/functions/postcode.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

TEST_CASE("valid postcodes come back in canonical form") {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      // Cleveland (TS = Teesside)
      {"TS1 3QY", "TS1 3QY"},
      {"ts1 3qy", "TS1 3QY"},
      {"ts13qy", "TS1 3QY"},
      {"  TS24 8AH ", "TS24 8AH"},
      {"TS248AH", "TS24 8AH"},
      {"ts24   8ah", "TS24 8AH"},
      {"T S 2 4 8 A H", "TS24 8AH"},
      {"TS17\t6AJ", "TS17 6AJ"},
      // Every outward pattern
      {"M1 1AE", "M1 1AE"},        // A9
      {"B33 8TH", "B33 8TH"},      // A99
      {"CR2 6XH", "CR2 6XH"},      // AA9
      {"DN55 1PT", "DN55 1PT"},    // AA99
      {"W1A 1AA", "W1A 1AA"},      // A9A
      {"EC1A 1BB", "EC1A 1BB"},    // AA9A
      {"gir0aa", "GIR 0AA"},       // Girobank
      {"SW1P 3BU", "SW1P 3BU"},    // AA9A with P
      {"N1C 4AG", "N1C 4AG"},      // A9A with C
  };
  for (const auto& c : cases) {
    INFO(c.in);
    Result r = normalise_postcode(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
}

TEST_CASE("invalid postcodes fail with postcode.invalid") {
  for (const char* bad : {
           "",            // empty
           "TS1",         // outward only
           "TS1 3Q",      // inward too short
           "TS24 8AHX",   // too long
           "TS124 8AH",   // outward too long
           "TS1 3CY",     // C never in the inward code
           "TS1 3QI",     // I never in the inward code
           "TS1 3KM",     // K, M never in the inward code
           "TS1 3OV",     // O, V never in the inward code
           "TS1 Q3Y",     // inward must be 9AA
           "TS1 33Y",
           "QS1 3QY",     // Q never first
           "VS1 3QY",     // V never first
           "XS1 3QY",     // X never first
           "TI1 3QY",     // I never second
           "TJ1 3QY",     // J never second
           "TZ1 3QY",     // Z never second
           "W1I 1AA",     // A9A: I not allowed third
           "W1L 1AA",     // A9A: L not allowed third
           "EC1C 1BB",    // AA9A: C not allowed fourth
           "EC1D 1BB",    // AA9A: D not allowed fourth
           "1S1 3QY",     // must start with a letter
           "TSA 3QY",     // AAA outward
           "T11A 1AA",    // A99A is not a pattern
           "TS1-3QY",     // punctuation
           "TS1 3QY.",
           "GIR 0AB",
           "\xEF\xBC\xB4S1 3QY",  // full-width T
           "TS1\xC2\xA0" "3QY",   // no-break space is not accepted as a separator
       }) {
    INFO(bad);
    Result r = normalise_postcode(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.error == "postcode.invalid");
  }
}
