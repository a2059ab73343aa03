#include <catch2/catch.hpp>

#include "bridge/net/retry_after.hpp"
#include "bridge/net/url.hpp"

using namespace reportbridge::net;

TEST_CASE("parse_url splits scheme, host, port and target") {
  auto u = parse_url("https://rms.example.police.uk/soap/v1?x=1");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "rms.example.police.uk");
  CHECK(u->port == "443");
  CHECK(u->target == "/soap/v1?x=1");
  CHECK(u->host_header() == "rms.example.police.uk");

  u = parse_url("HTTP://127.0.0.1:8080");
  REQUIRE(u);
  CHECK_FALSE(u->tls);
  CHECK(u->port == "8080");
  CHECK(u->target == "/");
  CHECK(u->host_header() == "127.0.0.1:8080");

  u = parse_url("http://[::1]:9000/a");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->host_header() == "[::1]:9000");
}

TEST_CASE("parse_url refuses other schemes, credentials, bad ports and control characters") {
  CHECK_FALSE(parse_url("ftp://x/"));
  CHECK_FALSE(parse_url("https://user:pw@host/"));
  CHECK_FALSE(parse_url("http://host:0/"));
  CHECK_FALSE(parse_url("http://host:70000/"));
  CHECK_FALSE(parse_url("http://host:8a/"));
  CHECK_FALSE(parse_url("http:///path"));
  CHECK_FALSE(parse_url("http://host/a b"));
  CHECK_FALSE(parse_url("http://host/a\r\nX: y"));
}

TEST_CASE("is_ip_literal") {
  CHECK(is_ip_literal("127.0.0.1"));
  CHECK(is_ip_literal("::1"));
  CHECK_FALSE(is_ip_literal("localhost"));
}

TEST_CASE("Retry-After: seconds and HTTP-date") {
  using std::chrono::seconds;
  CHECK(parse_retry_after("120") == seconds{120});
  CHECK(parse_retry_after(" 7 ") == seconds{7});
  CHECK(parse_retry_after("99999999999") == seconds{86400});
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == seconds{60});
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == seconds{0});
  CHECK_FALSE(parse_retry_after("soon"));
  CHECK_FALSE(parse_retry_after(""));
  CHECK_FALSE(parse_retry_after("-5"));
}
