#include "bridge/mapping/functions/number_format.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace reportbridge::mapping::functions;

TEST_CASE("number rounds half away from zero on the decimal digits") {
  struct Case {
    unsigned decimals;
    std::string thousands, in, out;
  };
  const std::vector<Case> cases = {
      {2, "", "2.675", "2.68"},  // 2.675 is 2.67499999... as a double
      {2, "", "-2.675", "-2.68"},
      {2, "", "1.005", "1.01"},
      {0, "", "0.5", "1"},
      {0, "", "-0.5", "-1"},
      {0, "", "1.4999", "1"},
      {0, "", "2.5", "3"},
      {1, "", "0.05", "0.1"},
      {2, "", "9.995", "10.00"},
      {0, "", "999.5", "1000"},
      {2, "", "-0.001", "0.00"},  // rounds to zero: no minus sign
      {3, "", "7", "7.000"},
      {2, "", "+3.1", "3.10"},
      {2, "", " 12.3 ", "12.30"},
      {2, "", ".5", "0.50"},
      {2, "", "5.", "5.00"},
      {2, "", "007.10", "7.10"},
      {2, ",", "1234567.891", "1,234,567.89"},
      {0, ",", "999999.5", "1,000,000"},
      {0, ",", "123", "123"},
      {0, ",", "-1234", "-1,234"},
      {2, " ", "1234.5", "1 234.50"},
      {2, "", "1.5e3", "1500.00"},
      {2, "", "1234E-3", "1.23"},
      {2, "", "5e-3", "0.01"},
      {2, "", "4e-3", "0.00"},
      {20, "", "0.1", "0.10000000000000000000"},
      {0, "", "123456789012345678901234567890.5", "123456789012345678901234567891"},
  };
  for (const auto& c : cases) {
    INFO(c.in << " to " << c.decimals << " decimals");
    Result r = NumberFormat(c.decimals, c.thousands)(c.in);
    REQUIRE(r.ok());
    CHECK(*r.value == c.out);
  }
  CHECK(*NumberFormat(2, ".", ",")("1234567.891").value == "1.234.567,89");
}

TEST_CASE("number rejects text that is not a plain decimal number") {
  NumberFormat f(2);
  for (const char* bad : {"", " ", "abc", "1,234.5", "1 234", "--1", "+-1", "1.2.3", ".", "-", "e5",
                          "1e", "1e+", "0x10", "NaN", "inf", "1.5kg", "\xC2\xA3" "5", "\xD9\xA1"}) {
    INFO("input: " << bad);
    CHECK(f(bad).error == "number.invalid");
  }
  CHECK(f("1e301").error == "number.out_of_range");
  CHECK(f("1e-99999").error == "number.out_of_range");
  CHECK(f(std::string(301, '9')).error == "number.out_of_range");
  CHECK(f("1e299").ok());
}

TEST_CASE("number refuses impossible options") {
  CHECK_THROWS_AS(NumberFormat(21), std::invalid_argument);
  CHECK_THROWS_AS(NumberFormat(2, "-"), std::invalid_argument);
  CHECK_THROWS_AS(NumberFormat(2, "1"), std::invalid_argument);
  CHECK_THROWS_AS(NumberFormat(2, ",", ""), std::invalid_argument);
  CHECK_THROWS_AS(NumberFormat(2, ",", "+"), std::invalid_argument);
  CHECK_NOTHROW(NumberFormat(20, "\xE2\x80\xAF"));  // narrow no-break space
}
