#include "bridge/mapping/functions/postcode.hpp"

#include <string>

namespace reportbridge::mapping::functions {
namespace {

bool letter(char c) { return c >= 'A' && c <= 'Z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool in(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

constexpr std::string_view kNotFirst = "QVX";
constexpr std::string_view kNotSecond = "IJZ";
constexpr std::string_view kThirdA9A = "ABCDEFGHJKPSTUW";
constexpr std::string_view kFourthAA9A = "ABEHMNPRVWXY";
constexpr std::string_view kNotInward = "CIKMOV";

bool valid_outward(std::string_view o) {
  if (o.empty() || !letter(o[0]) || in(o[0], kNotFirst)) return false;
  switch (o.size()) {
    case 2:  // A9
      return digit(o[1]);
    case 3:  // A99, AA9, A9A
      if (digit(o[1]) && digit(o[2])) return true;
      if (letter(o[1]) && !in(o[1], kNotSecond) && digit(o[2])) return true;
      return digit(o[1]) && letter(o[2]) && in(o[2], kThirdA9A);
    case 4:  // AA99, AA9A
      if (!letter(o[1]) || in(o[1], kNotSecond) || !digit(o[2])) return false;
      return digit(o[3]) || (letter(o[3]) && in(o[3], kFourthAA9A));
    default:
      return false;
  }
}

bool valid_inward(std::string_view i) {
  return i.size() == 3 && digit(i[0]) && letter(i[1]) && letter(i[2]) && !in(i[1], kNotInward) &&
         !in(i[2], kNotInward);
}

}  // namespace

Result normalise_postcode(std::string_view text) {
  std::string compact;
  compact.reserve(8);
  for (char c : text) {
    if (c == ' ' || c == '\t') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    compact.push_back(c);
    if (compact.size() > 7) return Result::fail("postcode.invalid");
  }
  if (compact.size() < 5) return Result::fail("postcode.invalid");
  std::string_view all(compact);
  std::string_view outward = all.substr(0, all.size() - 3);
  std::string_view inward = all.substr(all.size() - 3);
  const bool gir = compact == "GIR0AA";
  if (!gir && !(valid_outward(outward) && valid_inward(inward))) return Result::fail("postcode.invalid");
  std::string out(outward);
  out.push_back(' ');
  out += inward;
  return Result::of(std::move(out));
}

}  // namespace reportbridge::mapping::functions
