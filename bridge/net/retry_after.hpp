#pragma once
// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date.
#include <chrono>
#include <optional>
#include <string_view>

namespace reportbridge::net {

// The delay the header asks for, measured from `now` for an HTTP-date (a date
// in the past gives 0s). nullopt when the value is neither form. Capped at one day.
std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace reportbridge::net
