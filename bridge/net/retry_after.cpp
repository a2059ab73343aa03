#include "bridge/net/retry_after.hpp"

#include <ctime>
#include <string>

namespace reportbridge::net {

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  constexpr std::chrono::seconds kCap{86400};
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    if (value.size() > 9) return kCap;
    const auto s = std::chrono::seconds{std::stol(std::string(value))};
    return s > kCap ? kCap : s;
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (the only form senders must use).
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (when <= now) return std::chrono::seconds{0};
  const auto d = std::chrono::ceil<std::chrono::seconds>(when - now);
  return d > kCap ? kCap : d;
}

}  // namespace reportbridge::net
