#include "bridge/xml/xsd_validator.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "bridge/xml/safe_parse.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/xml/records.hpp"

using namespace reportbridge::xml;
using reportbridge::testing::read_file;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

// Runs `fn` with fd 2 redirected to a file; returns what was written to it.
template <typename Fn>
std::string captured_stderr(const TempDir& dir, Fn&& fn) {
  const auto path = dir / "stderr.txt";
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  fn();
  ::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  return read_file(path);
}

const char* kSchema = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="Order"><xs:complexType><xs:sequence>
    <xs:element name="Qty" type="xs:positiveInteger"/>
    <xs:element name="When" type="xs:dateTime"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)";

}  // namespace

TEST_CASE("parsed documents are validated with source lines, silently") {
  TempDir dir;
  write_file(dir / "order.xsd", kSchema);
  XsdValidator validator(dir / "order.xsd");
  CHECK(validator.path() == dir / "order.xsd");

  ParseResult good = parse_untrusted("<Order><Qty>3</Qty><When>2026-11-27T18:42:10Z</When></Order>");
  REQUIRE(good);
  CHECK(validator.validate(*good.doc).empty());

  ParseResult bad = parse_untrusted("<Order>\n<Qty>0</Qty>\n<When>yesterday</When>\n</Order>");
  REQUIRE(bad);
  std::vector<XmlError> errors;
  const std::string spam = captured_stderr(dir, [&] { errors = validator.validate(*bad.doc); });
  CHECK(spam.empty());
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].line == 2);
  CHECK(errors[0].message.find("Qty") != std::string::npos);
  CHECK(errors[1].line == 3);
  CHECK(errors[1].message.find("xs:dateTime") != std::string::npos);
  CHECK(join_errors(errors, 1).find("... and 1 more") != std::string::npos);
}

TEST_CASE("broken or unsafe XSD files are refused at construction") {
  TempDir dir;
  CHECK_THROWS_WITH(XsdValidator(dir / "none.xsd"), Catch::Contains("none.xsd"));

  write_file(dir / "notwf.xsd", "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:element>\n");
  CHECK_THROWS_WITH(XsdValidator(dir / "notwf.xsd"), Catch::Contains("line"));

  write_file(dir / "badtype.xsd", R"(<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
<xs:element name="A" type="xs:nonsense"/>
</xs:schema>)");
  std::string spam = captured_stderr(dir, [&] {
    CHECK_THROWS_WITH(XsdValidator(dir / "badtype.xsd"), Catch::Contains("badtype.xsd:2") && Catch::Contains("nonsense"));
  });
  CHECK(spam.empty());

  write_file(dir / "remote.xsd", R"(<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
<xs:import namespace="urn:x" schemaLocation="http://127.0.0.1:9/x.xsd"/>
</xs:schema>)");
  CHECK_THROWS_WITH(XsdValidator(dir / "remote.xsd"), Catch::Contains("remote.xsd:2") && Catch::Contains("network location"));
}

TEST_CASE("validating a single element uses its global declaration") {
  XsdValidator validator(test::schema_path("rms_community_report.xsd"));
  ParseResult ack = parse_untrusted(
      "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
      "<CommunityReportAck xmlns='urn:police-uk:rms:community-report:1.0'>"
      "<RmsReference>CLE-26-004211</RmsReference><ExternalReference>abc</ExternalReference>"
      "<Status>CREATED</Status></CommunityReportAck></s:Body></s:Envelope>");
  REQUIRE(ack);
  xmlNode* body = xmlFirstElementChild(xmlDocGetRootElement(ack.doc.get()));
  xmlNode* payload = xmlFirstElementChild(body);
  CHECK(validator.validate(*payload).empty());
  CHECK_FALSE(validator.validate(*ack.doc).empty());  // the envelope is not in the schema

  xmlNodeSetContent(xmlFirstElementChild(payload), BAD_CAST "CLE-2026-1");
  const auto errors = validator.validate(*payload);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("RmsReference") != std::string::npos);
}
