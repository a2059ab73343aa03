#pragma once
// Parsing of http:// and https:// URLs for the HTTP client.
#include <optional>
#include <string>
#include <string_view>

namespace reportbridge::net {

struct Url {
  bool tls = false;       // https
  std::string host;       // without brackets for IPv6 literals
  std::string port;       // "80" / "443" when absent
  std::string target;     // path and query, "/" when absent
  std::string host_header() const;  // host[:port] as sent in Host:
};

// nullopt for anything but http/https URLs with a host; user-info ("user:pw@")
// is refused so credentials never sit in a URL.
std::optional<Url> parse_url(std::string_view text);

// True when `host` is an IPv4 or IPv6 literal (no SNI is sent for those).
bool is_ip_literal(const std::string& host);

}  // namespace reportbridge::net
