#pragma once
// The RMS of schemas/rms_service.wsdl on spyne (tests/servers/rms_spyne_server.py,
// validating every Report against schemas/rms_community_report.xsd) as a SOAP
// target of the real binary: the server, and the target's lines from its contract.
#include <string>

#include "tests/integration/harness.hpp"
#include "tests/servers/server_process.hpp"

namespace reportbridge::testing {

inline ServerProcess start_rms_spyne() {
  return ServerProcess({python(), server_script("rms_spyne_server.py"), "0", "--xsd",
                        std::string(REPORTBRIDGE_SOURCE_DIR) + "/schemas/rms_community_report.xsd"});
}

// A `targets:` entry named rms_soap for the RMS at `url`, from its WSDL: the
// create, update and lookup operations and the attachments, as config/demo.yaml
// has them. The caller adds its settings (batching, timeouts, retry, writeback).
inline std::string rms_soap_target(const std::string& url) {
  const std::string source = REPORTBRIDGE_SOURCE_DIR;
  return "  - name: rms_soap\n    type: soap\n    url: " + url + "\n"
         "    wsdl: " + source + "/schemas/rms_service.wsdl\n    port: RmsSoap11Port\n"
         "    namespaces: {svc: \"urn:reportbridge:rms:service:1\", rms: \"urn:police-uk:rms:community-report:1.0\"}\n"
         "    create: {operation: CreateCommunityReport, reference: svc:CreateCommunityReportResponse/svc:LegacyReference,\n"
         "             values: {svc:ExternalReference: external_reference}}\n"
         "    update: {operation: UpdateCommunityReport, reference: svc:UpdateCommunityReportResponse/svc:LegacyReference,\n"
         "             values: {svc:LegacyReference: legacy_reference, svc:ExternalReference: external_reference}}\n"
         "    lookup: {operation: FindByExternalReference,\n"
         "             reference: \"svc:FindByExternalReferenceResponse[svc:Found='true']/svc:LegacyReference\",\n"
         "             values: {svc:ExternalReference: external_reference}}\n"
         "    attachments_path: svc:Report/rms:CommunityReport/rms:Attachments/rms:Attachment\n"
         "    attachment_content: rms:Content\n    attachment_content_reference: rms:ContentReference\n";
}

}  // namespace reportbridge::testing
