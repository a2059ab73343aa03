#pragma once
// The Guardian RMS intake (tests/servers/legacy_rms_server.py, shape wrapped)
// as a SOAP target of the real binary, and the server's control plane: shared
// by the SOAP tests and the PostgreSQL state tests.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <map>
#include <sstream>
#include <string>

#include "bridge/net/http_client.hpp"
#include "tests/integration/harness.hpp"
#include "tests/servers/server_process.hpp"

namespace reportbridge::testing {

inline const std::string kGuardianWsdl = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/fixtures/wsdl/wrapped/GuardianIntakeService.wsdl";

inline const char* kGuardianMapping = R"Y(mapping: guardian
targets: [guardian, drop]
fields:
  - name: gcr:CommunityReport/SourceSystem
    value: PUBLIC_APP
  - name: gcr:CommunityReport/ReportedDateTime
    from: submitted_at
    transforms:
      - datetime: {format: "%Y-%m-%dT%H:%M:%S"}
    required: true
  - name: gcr:CommunityReport/Classification/CategoryCode
    value: ASB01
  - name: gcr:CommunityReport/Summary
    from: summary
    transforms: [trim, collapse_whitespace]
    default: "(no summary)"
    max_length: 100
  - name: gcr:CommunityReport/Narrative
    from: description
    max_length: 4000
)Y";

inline std::string guardian_target(int port, const std::string& extra = "") {
  return "  - name: guardian\n    type: soap\n    wsdl: " + kGuardianWsdl +
         "\n    url: http://127.0.0.1:" + std::to_string(port) + "/Guardian/IntakeService.svc\n"
         "    namespaces:\n"
         "      svc: http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03\n"
         "      gcr: http://schemas.caldmore.co.uk/guardian/records/community-report/2.1\n"
         "    create:\n"
         "      operation: SubmitCommunityReport\n"
         "      reference: svc:SubmitCommunityReportResponse/svc:RmsReference\n"
         "      values: {gcr:CommunityReport/ExternalReference: external_reference}\n"
         "    update:\n"
         "      operation: UpdateCommunityReport\n"
         "      reference: svc:UpdateCommunityReportResponse/svc:RmsReference\n"
         "      values:\n"
         "        svc:RmsReference: legacy_reference\n"
         "        gcr:CommunityReport/ExternalReference: external_reference\n"
         "    lookup:\n"
         "      operation: FindByExternalReference\n"
         "      reference: //svc:RmsReference\n"
         "      not_found: nil\n"
         "      values: {svc:ExternalReference: external_reference}\n" +
         extra;
}

inline boost::json::value dump(ServerProcess& s) {
  net::HttpClientConfig c;
  c.base_url = s.url("/dump");
  c.max_response_bytes = std::size_t{1} << 30;  // a server's whole history
  net::HttpClient client(c);
  net::Request r;
  r.method = "GET";
  r.target = "/dump";
  auto res = client.send(r);
  INFO(res.error_detail);
  REQUIRE(res.error == net::ErrorKind::none);
  REQUIRE(res.status == 200);
  return boost::json::parse(res.body);
}

inline void control(ServerProcess& s, const std::string& query) {
  net::HttpClientConfig c;
  c.base_url = s.url("/control");
  net::HttpClient client(c);
  net::Request r;
  r.method = "POST";
  r.target = "/control?" + query;
  REQUIRE(client.send(r).status == 200);
}

inline std::map<std::string, std::int64_t> outbox_states(const Installation& inst) {
  // What `reportbridge status` says of the target (the state layout is the
  // store's own business: delivered items are counted, not kept as rows).
  std::map<std::string, std::int64_t> out;
  auto r = run_process({REPORTBRIDGE_BINARY, "status", "--config", inst.config});
  if (r.exit_code != 0) return out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name;
    if (!(words >> name) || name != "guardian") continue;
    std::string key;
    std::int64_t n = 0;
    while (words >> key >> n) out[key] = n;
  }
  return out;
}

}  // namespace reportbridge::testing
