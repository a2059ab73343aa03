#include <catch2/catch.hpp>

#include "adapters/sinks/soap/soap_classify.hpp"

using namespace reportbridge;
using soap::classify;
using core::DeliveryStatus;

namespace {

net::Response http(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
  net::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.sent = true;
  return r;
}

net::Response failed(net::ErrorKind kind, bool sent) {
  net::Response r;
  r.error = kind;
  r.sent = sent;
  r.error_detail = "x";
  return r;
}

const xml::XPathQuery& ref() {
  static const xml::XPathQuery q("//svc:LegacyReference", {{"svc", "urn:reportbridge:rms:service:1"}});
  return q;
}

std::string env11(const std::string& inner) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>" + inner + "</s:Body></s:Envelope>";
}
std::string env12(const std::string& inner) {
  return "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>" + inner + "</s:Body></s:Envelope>";
}
std::string fault11(const std::string& code) {
  return env11("<s:Fault><faultcode>" + code + "</faultcode><faultstring>why</faultstring></s:Fault>");
}
std::string fault12(const std::string& code) {
  return env12("<s:Fault><s:Code><s:Value>" + code +
               "</s:Value><s:Subcode><s:Value>x:Busy</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">"
               "why</s:Text></s:Reason></s:Fault>");
}
std::string fault12sub(const std::string& code, const std::string& sub) {
  return env12("<s:Fault><s:Code><s:Value>" + code + "</s:Value><s:Subcode><s:Value>" + sub +
               "</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">why</s:Text></s:Reason></s:Fault>");
}
const std::string kOk = env11(
    "<svc:R xmlns:svc=\"urn:reportbridge:rms:service:1\"><svc:LegacyReference>RMS-1</svc:LegacyReference></svc:R>");

struct Row {
  net::Response response;
  DeliveryStatus status;
  std::string code;
  bool in_doubt;
  long retry_after;
};

}  // namespace

TEST_CASE("classification table") {
  const std::vector<Row> rows = {
      {failed(net::ErrorKind::connect, false), DeliveryStatus::retry, "connect_failed", false, 0},
      {failed(net::ErrorKind::tls_verify, false), DeliveryStatus::retry, "tls_verify_failed", false, 0},
      {failed(net::ErrorKind::send, false), DeliveryStatus::retry, "send_failed", false, 0},
      {failed(net::ErrorKind::body_source, false), DeliveryStatus::retry, "attachment_unavailable", false, 0},
      {failed(net::ErrorKind::timeout, true), DeliveryStatus::retry, "timeout", true, 0},
      {failed(net::ErrorKind::reset, true), DeliveryStatus::retry, "connection_reset", true, 0},
      {failed(net::ErrorKind::protocol, true), DeliveryStatus::retry, "protocol_error", true, 0},
      {failed(net::ErrorKind::too_large, true), DeliveryStatus::reject, "bad_response", false, 0},
      {http(200, kOk), DeliveryStatus::delivered, "", false, 0},
      {http(200, env11("<x/>")), DeliveryStatus::reject, "no_reference", false, 0},
      {http(200, "not xml"), DeliveryStatus::reject, "bad_response", false, 0},
      {http(200, "<a><b></a>"), DeliveryStatus::reject, "bad_response", false, 0},
      {http(200, "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>"), DeliveryStatus::reject,
       "bad_response", false, 0},
      {http(500, fault11("soap:Client")), DeliveryStatus::reject, "soap_client_fault", false, 0},
      {http(500, fault11("soap:Client.Authentication")), DeliveryStatus::reject, "soap_client_fault", false, 0},
      {http(500, fault11("soap:Server")), DeliveryStatus::retry, "soap_server_fault", false, 0},
      // #17.2: a refused WS-Security token is an authentication failure, never retried per item
      {http(500, fault11("wsse:FailedAuthentication")), DeliveryStatus::reject, "auth_failed", false, 0},
      {http(500, fault11("wsse:InvalidSecurity")), DeliveryStatus::reject, "auth_failed", false, 0},
      {http(500, fault12sub("env:Sender", "wsse:FailedAuthentication")), DeliveryStatus::reject, "auth_failed", false, 0},
      {http(500, fault11("VersionMismatch")), DeliveryStatus::reject, "soap_client_fault", false, 0},
      {http(400, fault12("env:Sender")), DeliveryStatus::reject, "soap_client_fault", false, 0},
      {http(500, fault12("env:Receiver")), DeliveryStatus::retry, "soap_server_fault", false, 0},
      {http(200, fault11("soap:Client")), DeliveryStatus::reject, "soap_client_fault", false, 0},
      {http(503, fault11("soap:Server"), {{"Retry-After", "4"}}), DeliveryStatus::retry, "soap_server_fault", false, 4},
      {http(500, "oops"), DeliveryStatus::retry, "http_5xx", false, 0},
      {http(502, ""), DeliveryStatus::retry, "http_5xx", false, 0},
      {http(503, "", {{"Retry-After", "30"}}), DeliveryStatus::retry, "http_5xx", false, 30},
      {http(429, "", {{"retry-after", "7"}}), DeliveryStatus::retry, "http_throttled", false, 7},
      {http(408, ""), DeliveryStatus::retry, "http_throttled", false, 0},
      {http(401, ""), DeliveryStatus::reject, "auth_failed", false, 0},
      {http(403, ""), DeliveryStatus::reject, "auth_failed", false, 0},
      {http(400, "bad"), DeliveryStatus::reject, "http_status", false, 0},
      {http(404, ""), DeliveryStatus::reject, "http_status", false, 0},
      {http(302, ""), DeliveryStatus::reject, "http_status", false, 0},
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i << ": " << rows[i].code);
    auto got = classify(rows[i].response, &ref(), false, 1 << 20);
    CHECK(got.outcome.status == rows[i].status);
    CHECK(got.outcome.reason_code == rows[i].code);
    CHECK(got.outcome.in_doubt == rows[i].in_doubt);
    CHECK(got.outcome.retry_after.count() == rows[i].retry_after);
  }
}

TEST_CASE("a delivered response carries the reference, an update may have none") {
  auto got = classify(http(200, kOk), &ref(), false, 1 << 20);
  CHECK(got.outcome.reference == "RMS-1");
  CHECK(got.doc != nullptr);
  got = classify(http(200, env11("<x/>")), &ref(), true, 1 << 20);
  CHECK(got.outcome.status == DeliveryStatus::delivered);
  CHECK(got.outcome.reference.empty());
}

TEST_CASE("fault details name code, subcode and reason, parse limit applies") {
  auto got = classify(http(500, fault12("env:Receiver")), &ref(), false, 1 << 20);
  CHECK(got.outcome.detail.find("Receiver/Busy") != std::string::npos);
  CHECK(got.outcome.detail.find("why") != std::string::npos);
  got = classify(http(200, kOk), &ref(), false, 16);
  CHECK(got.outcome.reason_code == "bad_response");
}
