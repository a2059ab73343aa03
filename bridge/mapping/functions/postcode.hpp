#pragma once
// UK postcodes: validates the format and returns the canonical form, upper
// case with one space before the inward code: " ts13qy " -> "TS1 3QY".
//
// Format rules (Royal Mail / BS 7666): outward code A9, A99, AA9, AA99, A9A or
// AA9A, inward code 9AA, plus the special GIR 0AA. Letters:
//   1st position never Q, V, X;  2nd position (AA..) never I, J, Z;
//   3rd position in A9A only A B C D E F G H J K P S T U W;
//   4th position in AA9A only A B E H M N P R V W X Y;
//   inward letters never C I K M O V.
// This checks the format only, not that the postcode exists (that needs the
// Royal Mail PAF or ONS Postcode Directory). Not covered: BFPO numbers and the
// overseas territories' postcodes (ASCN 1ZZ, BIQQ 1ZZ, ...).
#include <string_view>

#include "bridge/mapping/functions/result.hpp"

namespace reportbridge::mapping::functions {

// Spaces and tabs anywhere are ignored; letters may be any case.
// Error: "postcode.invalid".
Result normalise_postcode(std::string_view text);

}  // namespace reportbridge::mapping::functions
