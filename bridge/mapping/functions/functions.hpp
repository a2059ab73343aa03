#pragma once
// The mapping value functions, in one include, and the names analysts use for
// them in mapping files. Each function takes UTF-8 text and returns a Result
// (value or a stable error code). Anything costly (regexes, templates, zones,
// PROJ, keys) is compiled once in an object built when the mapping loads;
// constructors throw std::invalid_argument with a message for the analyst.
#include <string>
#include <vector>

#include "bridge/mapping/functions/bng.hpp"
#include "bridge/mapping/functions/date_time_format.hpp"
#include "bridge/mapping/functions/number_format.hpp"
#include "bridge/mapping/functions/phone.hpp"
#include "bridge/mapping/functions/postcode.hpp"
#include "bridge/mapping/functions/pseudonymiser.hpp"
#include "bridge/mapping/functions/regex.hpp"
#include "bridge/mapping/functions/result.hpp"
#include "bridge/mapping/functions/template.hpp"
#include "bridge/mapping/functions/text.hpp"

namespace reportbridge::mapping::functions {

// Analyst-facing names, sorted, unique:
//   trim, collapse_whitespace, uppercase, lowercase, titlecase, truncate,
//   normalise_nfc -> text.hpp;  regex_replace, regex_extract -> regex.hpp;
//   template -> template.hpp;  datetime -> date_time_format.hpp;
//   number -> number_format.hpp;  postcode -> postcode.hpp;
//   phone_e164, phone_national -> phone.hpp;  bng_easting, bng_northing -> bng.hpp;
//   pseudonymise -> pseudonymiser.hpp.
std::vector<std::string> function_names();

}  // namespace reportbridge::mapping::functions
