#pragma once
// UK telephone numbers: "+447700900123" <-> "07700 900123".
//
// Limitation: UK only, implemented here because Debian's libphonenumber-dev
// can't be installed next to Boost 1.81 on Debian 12. It checks the shape of a
// number against Ofcom's numbering plan (first digit and length of the
// national significant number, NSN), not whether the range is allocated:
//   NSN starting 2, 3, 5, 7, 8, 9: 10 digits (0800 also 9 digits);
//   NSN starting 1: 10 digits, or 9 for the areas with 5-digit local numbers.
//   04 and 06 are unused: invalid.
// Accepted input: national "0..." or international "+44", "0044", "44"
// prefixes, with spaces, dashes, dots or brackets, and the "+44 (0)..." style
// (a trunk 0 after the country code, bracketed or not, is dropped).
// Errors: "phone.not_uk" (another country code: "+33 ...", "0033 ..."),
// "phone.invalid" (anything else that isn't a well-formed UK number).
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

// "+441642123456".
Result phone_e164(std::string_view text);

// National format, grouped as Ofcom/BT print them:
//   mobiles 07xxx xxxxxx; London etc. 02x xxxx xxxx; 011x/01x1 cities
//   0114 xxx xxxx; other areas 01xxx xxxxxx (01xxx xxxxx for 9-digit NSNs;
//   01xxxx xxxxx for the six-digit codes such as 015394); 03xx xxx xxxx;
//   0800 xxx xxxx; 09xx xxx xxxx; 05x xxxx xxxx.
Result phone_national(std::string_view text);

}  // namespace reportbridge::mapping::functions
