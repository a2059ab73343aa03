#include "bridge/mapping/functions/phone.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

// Numbers are from Ofcom's ranges reserved for drama (07700 900xxx,
// 01632 960xxx, 020 7946 0xxx, 0113 496 0xxx, 0808 157 0xxx, 0909 879 0xxx,
// 03069 990xxx) where such a range exists.
TEST_CASE("UK numbers in any common spelling give E.164 and national forms") {
  struct Case {
    std::string in, e164, national;
  };
  const std::vector<Case> cases = {
      {"07700 900123", "+447700900123", "07700 900123"},
      {"07700900123", "+447700900123", "07700 900123"},
      {"+447700900123", "+447700900123", "07700 900123"},
      {"+44 7700 900123", "+447700900123", "07700 900123"},
      {"+44 (0)7700 900123", "+447700900123", "07700 900123"},
      {"+44 07700 900123", "+447700900123", "07700 900123"},
      {"0044 7700 900123", "+447700900123", "07700 900123"},
      {"00447700900123", "+447700900123", "07700 900123"},
      {"447700900123", "+447700900123", "07700 900123"},
      {"07700-900-123", "+447700900123", "07700 900123"},
      {"(07700) 900.123", "+447700900123", "07700 900123"},
      {"020 7946 0321", "+442079460321", "020 7946 0321"},
      {"(020) 7946-0321", "+442079460321", "020 7946 0321"},
      {"01632 960123", "+441632960123", "01632 960123"},
      {"01642 326326", "+441642326326", "01642 326326"},  // 01642: the Middlesbrough area code
      {"+44 1642 326326", "+441642326326", "01642 326326"},
      {"0113 496 0123", "+441134960123", "0113 496 0123"},
      {"01614960123", "+441614960123", "0161 496 0123"},
      {"01204 12345", "+44120412345", "01204 12345"},  // 9-digit NSN area
      {"016977 1234", "+44169771234", "016977 1234"},
      {"015394 12345", "+441539412345", "015394 12345"},
      {"0300 123 1234", "+443001231234", "0300 123 1234"},
      {"03069 990123", "+443069990123", "0306 999 0123"},
      {"0800 157 0123", "+448001570123", "0800 157 0123"},
      {"0808 157 0123", "+448081570123", "0808 157 0123"},
      {"0800 123456", "+44800123456", "0800 123456"},
      {"0909 879 0123", "+449098790123", "0909 879 0123"},
      {"056 1234 5678", "+445612345678", "056 1234 5678"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    Result e = phone_e164(c.in);
    REQUIRE(e.ok());
    CHECK(*e.value == c.e164);
    Result n = phone_national(c.in);
    REQUIRE(n.ok());
    CHECK(*n.value == c.national);
    // Round trip: the national form parses back to the same number.
    CHECK(*phone_e164(*n.value).value == c.e164);
  }
}

TEST_CASE("numbers from other countries fail with phone.not_uk") {
  for (const char* other : {"+33 1 23 45 67 89", "0033 1 23 45 67 89", "+1 202 555 0143", "+353 1 234 5678",
                            "+61 2 9374 4000"}) {
    INFO(other);
    CHECK(phone_e164(other).error == "phone.not_uk");
    CHECK(phone_national(other).error == "phone.not_uk");
  }
}

TEST_CASE("anything else fails with phone.invalid") {
  for (const char* bad : {
           "",
           "not a number",
           "07700 90012",     // 9 digits for a mobile
           "07700 9001234",   // 11 digits for a mobile
           "020 7946 032",    // too short
           "01642 3263261",   // 11-digit NSN
           "01642 3263",      // 8-digit NSN
           "0400 123 4567",   // 04 unused
           "0600 123 4567",   // 06 unused
           "0808 157 012",    // 9 digits only for 0800
           "7700900123",      // no trunk 0 and no country code
           "+44",
           "+",
           "+0 123 4567",
           "+12",
           "07700 900123 ext 4",
           "07700+900123",
           "++447700900123",
           "07700 900123#",
           "+44 (1)7700 900123",
           "\xEF\xBC\x90\xEF\xBC\x97",  // full-width digits
           "0123456789012345678901234",
       }) {
    INFO(bad);
    CHECK(phone_e164(bad).error == "phone.invalid");
    CHECK(phone_national(bad).error == "phone.invalid");
  }
}
