#include "bridge/mapping/functions/functions.hpp"

namespace reportbridge::mapping::functions {

std::vector<std::string> function_names() {
  return {"bng_easting",   "bng_northing",   "collapse_whitespace", "datetime",
          "lowercase",     "normalise_nfc",  "number",              "phone_e164",
          "phone_national", "postcode",      "pseudonymise",        "regex_extract",
          "regex_replace", "template",       "titlecase",           "trim",
          "truncate",      "uppercase"};
}

}  // namespace reportbridge::mapping::functions
