// libFuzzer: a legacy system's answer. The first byte picks the HTTP status
// (2xx, 4xx, 5xx, 401, 429); the rest is the body, parsed by the hardened
// parser (no DTD, no entities, size cap), searched for a SOAP 1.1/1.2 fault
// and classified into a delivery outcome with the demo's reference XPath.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "adapters/sinks/soap/soap_classify.hpp"
#include "bridge/xml/safe_parse.hpp"

using namespace reportbridge;

namespace {
const xml::XPathQuery& reference() {
  static const xml::XPathQuery q("//svc:CreateCommunityReportResponse/svc:LegacyReference",
                                 {{"svc", "urn:reportbridge:rms:service:1"}});
  return q;
}
const xml::XPathQuery& lookup() {
  static const xml::XPathQuery q("//svc:FindByExternalReferenceResponse[svc:Found='true']/svc:LegacyReference",
                                 {{"svc", "urn:reportbridge:rms:service:1"}});
  return q;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const int kStatus[] = {200, 201, 204, 400, 401, 403, 404, 429, 500, 503, 302, 100};
  net::Response r;
  r.sent = true;
  r.status = kStatus[data[0] % (sizeof kStatus / sizeof kStatus[0])];
  r.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  r.headers.emplace_back("Content-Type", "text/xml; charset=utf-8");
  if (data[0] & 0x80) r.headers.emplace_back("Retry-After", r.body.substr(0, 16));
  auto reading = soap::classify(r, &reference(), false, 1u << 20);
  (void)soap::classify(r, &lookup(), true, 1u << 20);
  if (reading.outcome.status == core::DeliveryStatus::delivered && reading.outcome.reference.empty()) std::abort();
  if (auto parsed = xml::parse_untrusted(r.body, {1u << 20})) {
    (void)soap::find_fault(*parsed.doc);
    (void)reference().first_string(*parsed.doc);
  }
  return 0;
}
