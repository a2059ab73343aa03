#include <catch2/catch.hpp>

#include "adapters/sinks/soap/secret_file.hpp"
#include "adapters/sinks/soap/soap_envelope.hpp"
#include "bridge/xml/safe_parse.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::soap;

TEST_CASE("PasswordDigest follows the Username Token Profile") {
  // Base64(SHA-1(nonce + created + password)), checked against Python's hashlib for these inputs.
  CHECK(password_digest("abcdefghijklmnop", "2026-11-27T18:42:10Z", "s3cret") == "fsT6x+Xd4EoM3CnUMjSh6JT9DX4=");
  auto t = make_username_token("bridge", "s3cret", true);
  CHECK(t.digest);
  CHECK(t.nonce_base64.size() == 24);
  CHECK(t.created.size() == 20);
  CHECK(t.password_value != "s3cret");
  auto t2 = make_username_token("bridge", "s3cret", true);
  CHECK(t2.nonce_base64 != t.nonce_base64);
  auto text = make_username_token("bridge", "s3cret", false);
  CHECK(text.password_value == "s3cret");
}

TEST_CASE("content types and envelopes per SOAP version") {
  CHECK(content_type(SoapVersion::v11, "Create") == "text/xml; charset=utf-8");
  CHECK(content_type(SoapVersion::v12, "Create") == "application/soap+xml; charset=utf-8; action=\"Create\"");
  CHECK(content_type(SoapVersion::v12, "") == "application/soap+xml; charset=utf-8");

  UsernameToken token{"bridge", "pw<&>", false, "", ""};
  auto env = make_envelope(SoapVersion::v12, &token, "urn:svc", "Op");
  add_child(*env.operation, "ExternalReference", "a:1");
  const std::string text = xml::to_string(*env.doc, xml::Format::compact, true);
  auto parsed = xml::parse_untrusted(text);
  REQUIRE(parsed);
  const xml::Namespaces ns = {{"e", kSoap12Namespace}, {"w", kWsseNamespace}, {"s", "urn:svc"}};
  CHECK(xml::xpath_first_string(*parsed.doc, "/e:Envelope/e:Header/w:Security/w:UsernameToken/w:Password", ns) ==
        "pw<&>");
  CHECK(xml::xpath_first_string(*parsed.doc, "/e:Envelope/e:Header/w:Security/@e:mustUnderstand", ns) == "true");
  CHECK(xml::xpath_first_string(*parsed.doc, "/e:Envelope/e:Body/s:Op/s:ExternalReference", ns) == "a:1");

  auto plain = make_envelope(SoapVersion::v11, nullptr, "urn:svc", "Op");
  const std::string p = xml::to_string(*plain.doc, xml::Format::compact, false);
  CHECK(p.find("Header") == std::string::npos);
  CHECK(p.find(kSoap11Namespace) != std::string::npos);
}

TEST_CASE("secret files") {
  testing::TempDir dir;
  testing::write_secret_file(dir / "pw", "hunter2\n");
  CHECK(read_secret_file(dir / "pw") == "hunter2");
  testing::write_secret_file(dir / "crlf", "a b\r\n");
  CHECK(read_secret_file(dir / "crlf") == "a b");
  testing::write_secret_file(dir / "empty", "\n");
  CHECK_THROWS_AS(read_secret_file(dir / "empty"), std::runtime_error);
  CHECK_THROWS_AS(read_secret_file(dir / "missing"), std::runtime_error);
  testing::write_secret_file(dir / "big", std::string(70000, 'x'));
  CHECK_THROWS_AS(read_secret_file(dir / "big"), std::runtime_error);
  try {
    read_secret_file(dir / "big");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("xxxx") == std::string::npos);  // never the content
  }
  // The rule of every secret file (core::read_secret_file): a password file
  // others can read was accepted before issue #15.
  testing::write_file(dir / "open", "hunter2\n");
  CHECK_THROWS_WITH(read_secret_file(dir / "open"), Catch::Contains("must not be accessible by others"));
  std::filesystem::create_symlink(dir / "open", dir / "link");
  CHECK_THROWS_WITH(read_secret_file(dir / "link"), Catch::Contains("must not be accessible by others"));
  setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  CHECK(credential_path("pw") == dir / "pw");
  CHECK_THROWS_AS(credential_path("../pw"), std::runtime_error);
  unsetenv("CREDENTIALS_DIRECTORY");
  CHECK_THROWS_AS(credential_path("pw"), std::runtime_error);
}
