#include "bridge/net/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace reportbridge::net {

std::string Url::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + host + "]" : host;
  if ((tls && port != "443") || (!tls && port != "80")) h += ":" + port;
  return h;
}

std::optional<Url> parse_url(std::string_view text) {
  Url url;
  auto lower_prefix = [&](std::string_view p) {
    if (text.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(text[i])) != p[i]) return false;
    return true;
  };
  if (lower_prefix("https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else if (lower_prefix("http://")) {
    text.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = text.find_first_of("/?");
  std::string_view authority = text.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (!url.target.empty() && url.target[0] == '?') url.target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return std::nullopt;
  for (char c : url.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  if (port.empty()) {
    url.port = url.tls ? "443" : "80";
  } else {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    const int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return std::nullopt;
    url.port = std::string(port);
  }
  return url;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace reportbridge::net
