#include "bridge/wsdl/wsdl.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

#include "bridge/xml/schema_paths.hpp"
#include "bridge/xml/xml_renderer.hpp"
#include "bridge/xml/xsd_validator.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::wsdl;
using reportbridge::testing::TempDir;
using reportbridge::testing::write_file;

namespace {

std::string source(const std::string& name) { return std::string(REPORTBRIDGE_SOURCE_DIR) + "/" + name; }

// A records system offering every shape: wrapped, bare (two body parts and a
// header), rpc/literal, one-way, SOAP 1.1 and 1.2 ports, an HTTP binding and an
// rpc/encoded operation; messages and port type come from an imported WSDL.
const char* kAbstract = R"(<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:rms:svc" xmlns:r="urn:rms:types" targetNamespace="urn:rms:svc">
  <wsdl:types>
    <xs:schema targetNamespace="urn:rms:types" elementFormDefault="qualified">
      <xs:element name="SubmitCommunityReport"><xs:complexType><xs:sequence>
        <xs:element name="CommunityReport" type="r:Report"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="SubmitCommunityReportResponse"><xs:complexType><xs:sequence>
        <xs:element name="RmsReference" type="xs:string"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:complexType name="Report"><xs:sequence><xs:element name="Summary" type="xs:string"/></xs:sequence></xs:complexType>
      <xs:element name="RmsReference" type="xs:string"/>
      <xs:element name="CommunityReport" type="r:Report"/>
      <xs:element name="CallingSystem" type="xs:string"/>
      <xs:element name="Ack" type="xs:string"/>
      <xs:element name="NotFound"><xs:complexType><xs:sequence><xs:element name="Reference" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="SubmitIn"><wsdl:part name="parameters" element="r:SubmitCommunityReport"/></wsdl:message>
  <wsdl:message name="SubmitOut"><wsdl:part name="parameters" element="r:SubmitCommunityReportResponse"/></wsdl:message>
  <wsdl:message name="UpdateIn">
    <wsdl:part name="reference" element="r:RmsReference"/>
    <wsdl:part name="report" element="r:CommunityReport"/>
    <wsdl:part name="caller" element="r:CallingSystem"/>
  </wsdl:message>
  <wsdl:message name="UpdateOut"><wsdl:part name="ack" element="r:Ack"/></wsdl:message>
  <wsdl:message name="LookupIn"><wsdl:part name="externalReference" type="xs:string"/></wsdl:message>
  <wsdl:message name="LookupOut"><wsdl:part name="rmsReference" type="xs:string"/></wsdl:message>
  <wsdl:message name="NotFoundFault"><wsdl:part name="detail" element="r:NotFound"/></wsdl:message>
  <wsdl:message name="PingIn"><wsdl:part name="ack" element="r:Ack"/></wsdl:message>
  <wsdl:portType name="Rms">
    <wsdl:operation name="SubmitCommunityReport"><wsdl:input message="tns:SubmitIn"/><wsdl:output message="tns:SubmitOut"/></wsdl:operation>
    <wsdl:operation name="UpdateCommunityReport"><wsdl:input message="tns:UpdateIn"/><wsdl:output message="tns:UpdateOut"/></wsdl:operation>
    <wsdl:operation name="Lookup"><wsdl:input message="tns:LookupIn"/><wsdl:output message="tns:LookupOut"/>
      <wsdl:fault name="NotFound" message="tns:NotFoundFault"/></wsdl:operation>
    <wsdl:operation name="Ping"><wsdl:input message="tns:PingIn"/></wsdl:operation>
  </wsdl:portType>
</wsdl:definitions>)";

const char* kConcrete = R"(<?xml version="1.0"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
    xmlns:tns="urn:rms:svc" targetNamespace="urn:rms:svc">
  <import namespace="urn:rms:svc" location="abstract/rms-abstract.wsdl"/>
  <binding name="Soap11" type="tns:Rms">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="SubmitCommunityReport">
      <soap:operation soapAction="urn:rms:Submit"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
    <operation name="UpdateCommunityReport">
      <soap:operation soapAction="urn:rms:Update"/>
      <input><soap:body use="literal" parts="reference report"/><soap:header message="tns:UpdateIn" part="caller" use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>
    <operation name="Lookup">
      <soap:operation soapAction="urn:rms:Lookup" style="rpc"/>
      <input><soap:body use="literal" namespace="urn:rms:rpc"/></input>
      <output><soap:body use="literal" namespace="urn:rms:rpc"/></output>
      <fault name="NotFound"><soap:fault name="NotFound" use="literal"/></fault>
    </operation>
    <operation name="Ping"><soap:operation soapAction=""/><input><soap:body use="literal"/></input></operation>
  </binding>
  <binding name="Soap12" type="tns:Rms">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="SubmitCommunityReport">
      <soap12:operation soapAction="urn:rms:Submit"/>
      <input><soap12:body use="literal"/></input><output><soap12:body use="literal"/></output>
    </operation>
    <operation name="Lookup">
      <soap12:operation style="rpc"/>
      <input><soap12:body use="encoded" namespace="urn:rms:rpc" encodingStyle="http://www.w3.org/2003/05/soap-encoding"/></input>
      <output><soap12:body use="encoded" namespace="urn:rms:rpc"/></output>
    </operation>
  </binding>
  <binding name="Http" type="tns:Rms">
    <http:binding verb="POST"/>
    <operation name="Ping"><http:operation location="/ping"/><input/></operation>
  </binding>
  <service name="RecordsService">
    <port name="Soap11Port" binding="tns:Soap11"><soap:address location="https://rms.example.police.uk/intake"/></port>
    <port name="Soap12Port" binding="tns:Soap12"><soap12:address location="https://rms.example.police.uk/intake12"/></port>
    <port name="HttpPort" binding="tns:Http"><http:address location="https://rms.example.police.uk/http"/></port>
  </service>
</definitions>)";

struct Fixture {
  TempDir dir;
  std::shared_ptr<const Wsdl> w;
  Fixture() {
    std::filesystem::create_directories(dir / "abstract");
    write_file(dir / "abstract/rms-abstract.wsdl", kAbstract);
    write_file(dir / "rms.wsdl", kConcrete);
    w = Wsdl::load(dir / "rms.wsdl");
  }
};

}  // namespace

TEST_CASE("a WSDL split over wsdl:import: services, ports, bindings, port types and messages") {
  Fixture f;
  REQUIRE(f.w->services().size() == 1);
  CHECK(f.w->services()[0].ports.size() == 3);
  CHECK(f.w->bindings().size() == 3);
  CHECK(f.w->port_types().size() == 1);
  CHECK(f.w->messages().size() == 8);
  CHECK(f.w->target_namespace() == "urn:rms:svc");
  REQUIRE(f.w->schemas());
  CHECK(f.w->schemas()->element({"urn:rms:types", "SubmitCommunityReport"}));
  const auto ops = f.w->operations("RecordsService", "Soap11Port");
  REQUIRE(ops.size() == 4);
  CHECK(ops[0].name == "SubmitCommunityReport");
}

TEST_CASE("document/literal wrapped: the wrapper element, SOAPAction, endpoint and version") {
  Fixture f;
  const Operation op = f.w->operation("SubmitCommunityReport");  // SOAP 1.1 preferred over the 1.2 port
  CHECK(op.usable());
  CHECK(op.version == SoapVersion::soap11);
  CHECK(op.port == "Soap11Port");
  CHECK(op.soap_action == "urn:rms:Submit");
  CHECK(op.endpoint == "https://rms.example.police.uk/intake");
  CHECK(op.style == OperationStyle::document_wrapped);
  CHECK(op.input_wrapper == QName{"urn:rms:types", "SubmitCommunityReport"});
  CHECK(op.output_wrapper == QName{"urn:rms:types", "SubmitCommunityReportResponse"});
  const Operation v12 = f.w->operation("SubmitCommunityReport", {}, {}, SoapVersion::soap12);
  CHECK(v12.port == "Soap12Port");
  CHECK(v12.endpoint == "https://rms.example.police.uk/intake12");
}

TEST_CASE("document/literal bare with parts= and a SOAP header") {
  Fixture f;
  const Operation op = f.w->operation("UpdateCommunityReport");
  CHECK(op.usable());
  CHECK(op.style == OperationStyle::document_bare);
  REQUIRE(op.input.size() == 2);
  CHECK(op.input[0].element == QName{"urn:rms:types", "RmsReference"});
  CHECK(op.input[1].element == QName{"urn:rms:types", "CommunityReport"});
  REQUIRE(op.input_headers.size() == 1);
  CHECK(op.input_headers[0].element == QName{"urn:rms:types", "CallingSystem"});
  CHECK_FALSE(op.input_wrapper);
}

TEST_CASE("rpc/literal: wrapper in the soap:body namespace, parts as unqualified children, faults") {
  Fixture f;
  const Operation op = f.w->operation("Lookup", "RecordsService", "Soap11Port");
  CHECK(op.usable());
  CHECK(op.style == OperationStyle::rpc_literal);
  CHECK(op.input_wrapper == QName{"urn:rms:rpc", "Lookup"});
  CHECK(op.output_wrapper == QName{"urn:rms:rpc", "LookupResponse"});
  REQUIRE(op.input.size() == 1);
  CHECK(op.input[0].element == QName{"", "externalReference"});
  CHECK(op.input[0].type == QName{xml::kXsNamespace, "string"});
  REQUIRE(op.faults.size() == 1);
  CHECK(op.faults[0].name == "NotFound");
  CHECK(op.faults[0].element == QName{"urn:rms:types", "NotFound"});
}

TEST_CASE("unsupported bindings and SOAP encoding are reported on their operations with file:line") {
  Fixture f;
  const auto v12 = f.w->operations("RecordsService", "Soap12Port");
  const auto lookup = std::find_if(v12.begin(), v12.end(), [](const Operation& o) { return o.name == "Lookup"; });
  REQUIRE(lookup != v12.end());
  CHECK_FALSE(lookup->usable());
  REQUIRE_FALSE(lookup->problems.empty());
  CHECK(lookup->problems[0].find("rms.wsdl:33") != std::string::npos);
  CHECK(lookup->problems[0].find("use=\"encoded\"") != std::string::npos);
  const auto http = f.w->operations("RecordsService", "HttpPort");
  REQUIRE(http.size() == 1);
  CHECK(http[0].problems[0].find("HTTP binding") != std::string::npos);
  CHECK(http[0].problems[0].find("rms.wsdl:37") != std::string::npos);
  // Asking for them names why; one-way operations are fine.
  CHECK_THROWS_WITH(f.w->operation("Lookup", "RecordsService", "Soap12Port"), Catch::Contains("use=\"encoded\""));
  CHECK(f.w->operation("Ping").one_way);
  CHECK_THROWS_WITH(f.w->operation("Delete"), Catch::Contains("not offered") && Catch::Contains("SubmitCommunityReport"));
}

TEST_CASE("message elements missing from wsdl:types and broken files are named with file:line") {
  TempDir dir;
  write_file(dir / "missing.wsdl", R"(<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="urn:m" targetNamespace="urn:m">
  <wsdl:types><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m"/></wsdl:types>
  <wsdl:message name="In"><wsdl:part name="p" element="tns:Nope"/></wsdl:message>
  <wsdl:portType name="P"><wsdl:operation name="Op"><wsdl:input message="tns:In"/></wsdl:operation></wsdl:portType>
  <wsdl:binding name="B" type="tns:P"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Op"><wsdl:input><soap:body use="literal"/></wsdl:input></wsdl:operation></wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="Port" binding="tns:B"><soap:address location="http://x"/></wsdl:port></wsdl:service>
</wsdl:definitions>)");
  auto w = Wsdl::load(dir / "missing.wsdl");
  const auto ops = w->operations();
  REQUIRE(ops.size() == 1);
  REQUIRE(ops[0].problems.size() == 1);
  CHECK(ops[0].problems[0].find("missing.wsdl:5") != std::string::npos);
  CHECK(ops[0].problems[0].find("{urn:m}Nope") != std::string::npos);

  write_file(dir / "remote.wsdl", R"(<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:r">
  <wsdl:import namespace="urn:x" location="https://example.org/x.wsdl"/>
</wsdl:definitions>)");
  CHECK_THROWS_WITH(Wsdl::load(dir / "remote.wsdl"), Catch::Contains("remote.wsdl:3") && Catch::Contains("network location"));
  // A syntax error: file:line:col (the column is libxml2's).
  write_file(dir / "broken.wsdl", "<?xml version=\"1.0\"?>\n<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\">\n"
                                  "  <wsdl:types>\n    <wsdl:message name=\"In\" <wsdl:part/>\n</wsdl:definitions>\n");
  CHECK_THROWS_WITH(Wsdl::load(dir / "broken.wsdl"),
                    Catch::Contains("broken.wsdl:4:29: not well-formed XML: error parsing attribute name"));
  write_file(dir / "notwsdl.wsdl", "<definitions/>");
  CHECK_THROWS_WITH(Wsdl::load(dir / "notwsdl.wsdl"), Catch::Contains("not wsdl:definitions"));
}

TEST_CASE("the project's RMS service WSDL: two ports, three wrapped operations, its schemas validate") {
  auto w = Wsdl::load(source("schemas/rms_service.wsdl"));
  const auto ops = w->operations();
  CHECK(ops.size() == 6);
  for (const auto& op : ops) {
    INFO(op.name);
    CHECK(op.usable());
    CHECK(op.style == OperationStyle::document_wrapped);
  }
  const Operation create = w->operation("CreateCommunityReport");
  CHECK(create.version == SoapVersion::soap11);
  CHECK(create.input_wrapper == QName{"urn:reportbridge:rms:service:1", "CreateCommunityReport"});
  xml::XsdValidator validator(w->schemas());  // the embedded schema compiles
}

namespace {

std::string public_wsdl(const std::string& name) { return source("tests/fixtures/wsdl/" + name); }

// Renders `record` under the operation's input wrapper and validates it against
// the WSDL's schema set (the body the SOAP sink would send).
std::string render_body(const Wsdl& w, const Operation& op, const xml::Namespaces& ns,
                        const core::TargetRecord& record) {
  REQUIRE(op.input_wrapper);
  const std::string root = [&] {
    for (const auto& [prefix, uri] : ns)
      if (uri == op.input_wrapper->ns) return prefix + ":" + op.input_wrapper->local;
    return op.input_wrapper->local;
  }();
  xml::XmlLayout layout;
  layout.root = root;
  layout.namespaces = ns;
  xml::XmlRenderer renderer(w.schemas(), layout);
  xml::RenderResult r = renderer.render(record);
  if (!r) FAIL(r.error->code + ": " + r.error->detail);
  xml::XsdValidator validator(w.schemas());
  CHECK(xml::join_errors(validator.validate(*r.doc)).empty());
  return xml::to_string(*r.doc);
}

}  // namespace

TEST_CASE("public WSDL: the DARTS service (six embedded schemas using each other without imports)") {
  auto w = Wsdl::load(public_wsdl("darts_service/dartsService.wsdl"));
  const std::string tns = "http://com.synapps.mojdarts.service.com";
  REQUIRE(w->services().size() == 1);
  const auto ops = w->operations();
  REQUIRE(ops.size() == 8);
  for (const auto& op : ops) {
    INFO(op.name);
    CHECK(op.usable());
    CHECK(op.style == OperationStyle::document_wrapped);
    CHECK(op.version == SoapVersion::soap11);
    CHECK(op.soap_action.empty());
    CHECK(op.endpoint == "http://192.168.0.65:8070/service/darts/DARTSService");
    CHECK(op.input_wrapper == QName{tns, op.name});
    CHECK(op.output_wrapper == QName{tns, op.name + "Response"});
    REQUIRE(op.faults.size() == 2);
    CHECK(op.faults[0].element == QName{tns, "Exception"});
    CHECK(op.faults[1].element == QName{"http://rt.fs.documentum.emc.com/", "ServiceException"});
  }
  xml::XsdValidator compiles(w->schemas());

  const xml::Namespaces ns = {{"d", tns},
                              {"core", "http://core.datamodel.fs.documentum.emc.com/"},
                              {"prop", "http://properties.core.datamodel.fs.documentum.emc.com/"}};
  // addCase: one unqualified string child carrying an XML document as text.
  core::TargetRecord add_case;
  add_case.fields = {{"document", "<case type=\"1\" id=\"T20267001\"><courthouse>TEESSIDE</courthouse></case>"}};
  const std::string body = render_body(*w, w->operation("addCase"), ns, add_case);
  CHECK(body.find("<d:addCase xmlns:d=\"http://com.synapps.mojdarts.service.com\"") != std::string::npos);
  CHECK(body.find("<document>&lt;case type=\"1\" id=\"T20267001\"&gt;") != std::string::npos);

  // addAudio: a Documentum data package; its properties are of the abstract type
  // prop:Property, so each names its concrete type with xsi:type.
  const std::string obj = "dataPackage/core:DataObjects[1]/";
  core::TargetRecord add_audio;
  add_audio.fields = {
      {"document", "<audio start=\"2026-11-27T10:00:00\" courtroom=\"1\"/>"},
      {"dataPackage/@repositoryName", "moj_darts"},
      {obj + "@type", "moj_darts_audio"},
      {obj + "core:Properties/@isInternal", "false"},
      {obj + "core:Properties/prop:Properties[1][xsi:type=prop:StringProperty]/@name", "channel"},
      {obj + "core:Properties/prop:Properties[1][xsi:type=prop:StringProperty]/@isTransient", "false"},
      {obj + "core:Properties/prop:Properties[1][xsi:type=prop:StringProperty]/prop:Value", "2"},
      {obj + "core:Properties/prop:Properties[2][xsi:type=prop:BooleanProperty]/@name", "hidden"},
      {obj + "core:Properties/prop:Properties[2][xsi:type=prop:BooleanProperty]/@isTransient", "false"},
      {obj + "core:Properties/prop:Properties[2][xsi:type=prop:BooleanProperty]/prop:Value", "false"},
  };
  const std::string audio = render_body(*w, w->operation("addAudio"), ns, add_audio);
  CHECK(audio.find("<prop:Properties xsi:type=\"prop:StringProperty\" name=\"channel\" isTransient=\"false\">") !=
        std::string::npos);
  CHECK(audio.find("xsi:type=\"prop:BooleanProperty\"") != std::string::npos);

  // Without xsi:type the abstract type is named with the concrete ones to choose from.
  xml::PathResolver paths(w->schemas(), *w->schemas()->element({tns, "addAudio"}), ns);
  xml::PathResolution abstract = paths.resolve(obj + "core:Properties/prop:Properties[1]/prop:Value");
  REQUIRE_FALSE(abstract);
  CHECK(abstract.error->kind == xml::PathErrorKind::abstract);
  CHECK(std::find(abstract.error->candidates.begin(), abstract.error->candidates.end(), "prop:StringProperty") !=
        abstract.error->candidates.end());
}

TEST_CASE("public WSDL: the Documentum context registry (types imported from eight local files in a cycle)") {
  auto w = Wsdl::load(public_wsdl("documentum_context_registry/ContextRegistryService.wsdl"));
  const std::string tns = "http://services.rt.fs.documentum.emc.com/";
  const auto ops = w->operations();
  REQUIRE(ops.size() == 3);
  CHECK(ops[0].name == "register");
  CHECK(ops[1].name == "lookup");
  CHECK(ops[2].name == "unregister");
  for (const auto& op : ops) {
    INFO(op.name);
    CHECK(op.usable());
    CHECK(op.style == OperationStyle::document_wrapped);
    CHECK(op.endpoint == "REPLACE_WITH_ACTUAL_URL");
    CHECK(op.faults.empty());
  }
  xml::XsdValidator compiles(w->schemas());

  const xml::Namespaces ns = {{"reg", tns},
                              {"ctx", "http://context.core.datamodel.fs.documentum.emc.com/"},
                              {"prof", "http://profiles.core.datamodel.fs.documentum.emc.com/"},
                              {"prop", "http://properties.core.datamodel.fs.documentum.emc.com/"}};
  core::TargetRecord r;
  r.fields = {
      {"context/@locale", "en_GB"},
      {"context/ctx:Identities[1][xsi:type=ctx:RepositoryIdentity]/@userName", "reportbridge"},
      {"context/ctx:Identities[1][xsi:type=ctx:RepositoryIdentity]/@password", "not-a-real-secret"},
      {"context/ctx:Identities[1][xsi:type=ctx:RepositoryIdentity]/@repositoryName", "moj_darts"},
      {"context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/@transferMode", "MTOM"},
      {"context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/@allowCachedContentTransfer", "false"},
      {"context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/@allowAsyncContentTransfer", "false"},
      {"context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/@isProcessOLELinks", "false"},
      {"context/ctx:RuntimeProperties/@isInternal", "false"},
      {"host", "darts-gateway.example.internal"},
  };
  const std::string body = render_body(*w, w->operation("register"), ns, r);
  CHECK(body.find("<ctx:Identities xsi:type=\"ctx:RepositoryIdentity\" userName=\"reportbridge\"") != std::string::npos);
  CHECK(body.find("<host>darts-gateway.example.internal</host>") != std::string::npos);
  // A facet of a type three imports away is known.
  xml::PathResolver paths(w->schemas(), *w->schemas()->element({tns, "register"}), ns);
  CHECK(paths.check_value("context/ctx:Profiles[1][xsi:type=prof:ContentTransferProfile]/@transferMode", "FTP")
            ->find("BASE64") != std::string::npos);
}
