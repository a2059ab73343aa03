#include "bridge/mapping/functions/phone.hpp"

#include <array>
#include <optional>
#include <string>

namespace reportbridge::mapping::functions {
namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// Outcome of parsing: the NSN (national number without the trunk 0), or an error code.
struct Parsed {
  std::string nsn;
  const char* error = nullptr;
};

bool valid_nsn(const std::string& nsn) {
  const std::size_t n = nsn.size();
  switch (nsn.empty() ? '\0' : nsn[0]) {
    case '1':
      return n == 9 || n == 10;
    case '8':
      return n == 10 || (n == 9 && nsn.compare(0, 3, "800") == 0);
    case '2':
    case '3':
    case '5':
    case '7':
    case '9':
      return n == 10;
    default:
      return false;
  }
}

Parsed parse(std::string_view text) {
  // Keep digits and one leading '+'; drop separators; refuse anything else.
  std::string s;
  bool plus = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (digit(c)) {
      s.push_back(c);
      if (s.size() > 20) return {{}, "phone.invalid"};
    } else if (c == '+' && s.empty() && !plus) {
      plus = true;
    } else if (c == '(' && text.substr(i, 3) == "(0)" && (plus || !s.empty())) {
      i += 2;  // "+44 (0)1642 ...": the bracketed trunk 0 is not dialled
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '\t') {
      return {{}, "phone.invalid"};
    }
  }
  std::string nsn;
  if (plus || s.rfind("00", 0) == 0) {
    std::string international = plus ? s : s.substr(2);
    if (international.empty()) return {{}, "phone.invalid"};
    if (international.rfind("44", 0) != 0) {
      // A plausible international number (E.164 allows up to 15 digits).
      const bool plausible = international[0] != '0' && international.size() >= 7 &&
                             international.size() <= 15;
      return {{}, plausible ? "phone.not_uk" : "phone.invalid"};
    }
    nsn = international.substr(2);
    if (nsn.rfind('0', 0) == 0) nsn.erase(0, 1);  // "+44 01642 ...": a stray trunk 0
  } else if (s.rfind("44", 0) == 0 && (s.size() == 11 || s.size() == 12)) {
    nsn = s.substr(2);  // national numbers never start 44, so this is the country code
  } else if (s.rfind('0', 0) == 0) {
    nsn = s.substr(1);
  } else {
    return {{}, "phone.invalid"};
  }
  if (!valid_nsn(nsn)) return {{}, "phone.invalid"};
  return {std::move(nsn), nullptr};
}

// Six-digit area codes (0 + 5 digits after the "1..." prefix) whose local
// numbers are shorter; written 01xxxx xxxxx / 016977 xxxx.
constexpr std::array<std::string_view, 12> kSixDigitAreas = {
    "13873", "15242", "15394", "15395", "15396", "16973",
    "16974", "16977", "17683", "17684", "17687", "19467"};

std::string group(std::string_view nsn, std::initializer_list<std::size_t> sizes) {
  std::string out = "0";
  std::size_t pos = 0;
  for (std::size_t n : sizes) {
    if (pos > 0) out.push_back(' ');
    out += nsn.substr(pos, n);
    pos += n;
  }
  return out;
}

std::string national(const std::string& nsn) {
  const std::size_t n = nsn.size();
  switch (nsn[0]) {
    case '7':
      return group(nsn, {4, 6});
    case '2':
    case '5':
      return group(nsn, {2, 4, 4});
    case '3':
    case '9':
      return group(nsn, {3, 3, 4});
    case '8':
      return n == 9 ? group(nsn, {3, 6}) : group(nsn, {3, 3, 4});
    default:  // '1'
      break;
  }
  // 011x and 01x1: big cities with 3-digit area codes after the 1.
  if (n == 10 && (nsn[1] == '1' || nsn[2] == '1')) return group(nsn, {3, 3, 4});
  for (std::string_view area : kSixDigitAreas) {
    if (nsn.compare(0, area.size(), area) == 0) return group(nsn, {5, n - 5});
  }
  return group(nsn, {4, n - 4});
}

}  // namespace

Result phone_e164(std::string_view text) {
  Parsed p = parse(text);
  if (p.error) return Result::fail(p.error);
  return Result::of("+44" + p.nsn);
}

Result phone_national(std::string_view text) {
  Parsed p = parse(text);
  if (p.error) return Result::fail(p.error);
  return Result::of(national(p.nsn));
}

}  // namespace reportbridge::mapping::functions
